//! The dashboard: `app` runs the terminal and its loop over the hub; the rest is pure
//! (view state, key → action mapping, one render file per panel).

pub mod adopt;
pub mod app;
pub mod render;
pub mod view;

pub use render::{RecordView, Screen, render};
pub use view::{AckForm, AckStep, Action, Overlay, Request, SortKey, View, key_to_action};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// The action for a key in the view's current mode: while help is shown any key
/// closes it (Ctrl-C still quits); while typing a filter or in the ack form, keys
/// are text; while "remove this ack?" is asked, `y` removes it and any other key
/// keeps it.
pub fn action_for(key: KeyEvent, view: &View) -> Option<Action> {
    match view.overlay {
        Overlay::Ack(_) => return view::form_key_to_action(key),
        Overlay::Unack { .. } => return view::confirm_key_to_action(key),
        Overlay::Adopt(_) => return adopt::key_to_action(key),
        _ => {}
    }
    if view.overlay == Overlay::Help && key.kind != KeyEventKind::Release {
        let ctrl_c =
            key.modifiers.contains(KeyModifiers::CONTROL) && key.code == KeyCode::Char('c');
        return Some(if ctrl_c {
            Action::Quit
        } else {
            Action::ToggleHelp
        });
    }
    key_to_action(key, view.editing_filter)
}

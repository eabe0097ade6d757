//! The dashboard: `app` runs the terminal and its loop over the hub; the rest is pure
//! (view state, key → action mapping, one render file per panel).

pub mod app;
pub mod render;
pub mod view;

pub use render::{RecordView, Screen, render};
pub use view::{Action, Overlay, SortKey, View, key_to_action};

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

/// The action for a key in the view's current mode: while help is shown any key
/// closes it (Ctrl-C still quits); while typing a filter, keys are text.
pub fn action_for(key: KeyEvent, view: &View) -> Option<Action> {
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

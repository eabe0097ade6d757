//! Dashboard view state (selection, sort, filter, overlays, the ack form) and the
//! key → action mapping. Pure: no terminal here, so every key can be unit-tested.

use std::cmp::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::model::ack::{self, Ack, Target};
use crate::model::{NodeKey, Transition};
use crate::present::{quiet, severity};
use crate::state::{AckRefusal, NodeView, Snapshot};

/// Table order, cycled with `s`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum SortKey {
    /// Unhealthy first (worst first), then pending, then synced; by name within.
    #[default]
    Status,
    Name,
    Group,
    /// Slowest first.
    Latency,
}

impl SortKey {
    pub fn next(self) -> SortKey {
        match self {
            SortKey::Status => SortKey::Name,
            SortKey::Name => SortKey::Group,
            SortKey::Group => SortKey::Latency,
            SortKey::Latency => SortKey::Status,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            SortKey::Status => "status",
            SortKey::Name => "name",
            SortKey::Group => "group",
            SortKey::Latency => "latency",
        }
    }
}

/// What the main pane lists.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Page {
    #[default]
    Nodes,
    /// Open push connections (the multi-client server view).
    Connections,
}

/// What is drawn over the table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Overlay {
    #[default]
    None,
    Help,
    Detail(NodeKey),
    /// `a`: the acknowledgement form; keys are its input.
    Ack(AckForm),
    /// `A`: "remove this ack?"; `y` removes it, any other key keeps it.
    Unack {
        /// The node `A` was pressed on.
        node: NodeKey,
        /// The ack that covers it: its own, or its group's.
        ack: Arc<Ack>,
    },
    /// `n` / `N`: "add this unlisted sender (all of them) to the fleet file?";
    /// the loop in `app` answers its keys (see `ui::adopt`).
    Adopt(crate::ui::adopt::AdoptPrompt),
}

/// The acknowledgement form, one question at a time: what (when the node's
/// group can be acknowledged too), why, for how long.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckForm {
    /// The node `a` was pressed on.
    pub node: NodeKey,
    /// Whether the node itself can be acknowledged (it is unhealthy).
    pub node_ok: bool,
    /// The node's sync group, when it can be acknowledged as a whole.
    pub group: Option<String>,
    pub step: AckStep,
    /// What is acknowledged, once chosen.
    pub target: Target,
    pub reason: String,
    /// As typed; empty means [`ack::DEFAULT_FOR`].
    pub duration: String,
    /// Why the last Enter was refused (no reason, not a duration); typing clears it.
    pub error: Option<String>,
}

/// The ack form's question.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckStep {
    /// This node (`n`, Enter) or its whole group (`g`)?
    Target,
    Reason,
    Duration,
}

/// How a duration left empty reads in the form: [`ack::DEFAULT_FOR`].
pub const DEFAULT_FOR_TEXT: &str = "24h";
/// The longest duration text the form takes.
const DURATION_MAX: usize = 40;

/// What the view asks the loop to send to the hub (through its
/// [`crate::hub::AckDesk`]); the loop adds who asks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    Ack {
        target: Target,
        reason: String,
        lasts: Duration,
    },
    Unack {
        target: Target,
    },
}

/// A user intent. Keys become actions; [`View::apply`] and the event loop carry
/// them out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Quit,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    CycleSort,
    StartFilter,
    FilterChar(char),
    FilterBackspace,
    FilterDone,
    /// Esc: close an overlay, else clear the filter, else quit.
    Back,
    ToggleProblems,
    Repoll,
    RepollAll,
    ToggleDetail,
    ToggleBell,
    ToggleHelp,
    ToggleConnections,
    /// Re-read the config file.
    Reload,
    /// `a`: acknowledge the selected node (or its group): opens the form.
    StartAck,
    /// `A`: remove the ack that covers the selected node, after a confirmation.
    StartUnack,
    /// A character typed into the ack form.
    Type(char),
    /// Backspace in the ack form.
    Erase,
    /// Enter in the ack form: the next question, or send.
    Submit,
    /// `y` in the "remove this ack?" question.
    Confirm,
    /// `n`: add the newest unlisted sender to the fleet file, after a `y`.
    Adopt,
    /// `N`: add every unlisted sender to the fleet file, after a `y`.
    AdoptAll,
}

/// Maps a key press to an action, given whether the filter is being typed.
pub fn key_to_action(key: KeyEvent, editing_filter: bool) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    if ctrl && matches!(key.code, KeyCode::Char('c') | KeyCode::Char('C')) {
        return Some(Action::Quit);
    }
    if editing_filter {
        return match key.code {
            KeyCode::Esc => Some(Action::Back),
            KeyCode::Enter => Some(Action::FilterDone),
            KeyCode::Backspace => Some(Action::FilterBackspace),
            KeyCode::Up => Some(Action::Up),
            KeyCode::Down => Some(Action::Down),
            KeyCode::Char(c) if !ctrl => Some(Action::FilterChar(c)),
            _ => None,
        };
    }
    Some(match key.code {
        KeyCode::Char('q') => Action::Quit,
        KeyCode::Esc => Action::Back,
        KeyCode::Up | KeyCode::Char('k') => Action::Up,
        KeyCode::Down | KeyCode::Char('j') => Action::Down,
        KeyCode::PageUp => Action::PageUp,
        KeyCode::PageDown => Action::PageDown,
        KeyCode::Home | KeyCode::Char('g') => Action::Home,
        KeyCode::End | KeyCode::Char('G') => Action::End,
        KeyCode::Char('s') => Action::CycleSort,
        KeyCode::Char('/') => Action::StartFilter,
        KeyCode::Char('p') => Action::ToggleProblems,
        KeyCode::Char('r') => Action::Repoll,
        KeyCode::Char('R') => Action::RepollAll,
        KeyCode::Enter => Action::ToggleDetail,
        KeyCode::Char('b') => Action::ToggleBell,
        KeyCode::Char('?') | KeyCode::F(1) => Action::ToggleHelp,
        KeyCode::Char('c') => Action::ToggleConnections,
        KeyCode::Char('L') => Action::Reload,
        KeyCode::Char('a') => Action::StartAck,
        KeyCode::Char('A') => Action::StartUnack,
        KeyCode::Char('n') => Action::Adopt,
        KeyCode::Char('N') => Action::AdoptAll,
        _ => return None,
    })
}

/// Maps a key press while the ack form is open: text, Backspace, Enter, Esc.
/// Control characters cannot be typed (a reason is shown on terminals and pages).
pub fn form_key_to_action(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    match key.code {
        KeyCode::Char('c' | 'C') if ctrl => Some(Action::Quit),
        KeyCode::Esc => Some(Action::Back),
        KeyCode::Enter => Some(Action::Submit),
        KeyCode::Backspace => Some(Action::Erase),
        KeyCode::Char(c) if !ctrl && !c.is_control() => Some(Action::Type(c)),
        _ => None,
    }
}

/// Maps a key press while "remove this ack?" is asked: `y` removes, any other
/// key keeps it (Ctrl-C still quits).
pub fn confirm_key_to_action(key: KeyEvent) -> Option<Action> {
    if key.kind == KeyEventKind::Release {
        return None;
    }
    let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
    Some(match key.code {
        KeyCode::Char('c' | 'C') if ctrl => Action::Quit,
        KeyCode::Char('y' | 'Y') if !ctrl => Action::Confirm,
        _ => Action::Back,
    })
}

/// Whether a transition rings the terminal bell: a node that was synced turns
/// unhealthy, and it is not in a maintenance window.
pub fn rings_bell(t: &Transition, snap: &Snapshot) -> bool {
    t.is_new_problem()
        && snap
            .node(t.node.as_str())
            .is_none_or(|n| n.maintenance.is_none())
}

/// Everything about the dashboard that is not fleet state.
#[derive(Clone, Debug)]
pub struct View {
    pub sort: SortKey,
    pub filter: String,
    pub editing_filter: bool,
    pub problems_only: bool,
    pub overlay: Overlay,
    pub page: Page,
    /// First connection drawn on the connections page.
    pub conn_offset: usize,
    /// A one-off message for the footer (a reload's result); cleared by the next key.
    pub notice: Option<Notice>,
    pub bell: bool,
    /// Rows shown, in order: positions in the snapshot's node list after filter and
    /// sort, and the same rows' keys.
    pub order: Vec<usize>,
    keys: Vec<NodeKey>,
    /// Index into `order` of the selected row.
    pub selected: usize,
    /// First row drawn (scroll position).
    pub offset: usize,
    /// Rows the table showed at the last draw; PgUp/PgDn move by this.
    pub page_rows: usize,
    /// The order must be recomputed before the next draw.
    pub order_dirty: bool,
    /// The node the user moved to, so the selection follows it when the order
    /// changes; `None` pins the selection to its row.
    selected_id: Option<NodeKey>,
    /// An ack or unack the user confirmed, for the loop to send.
    request: Option<Request>,
}

/// A one-off message for the footer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Notice {
    /// A reload took effect: what it did.
    Reloaded(String),
    /// Something the user asked for failed: why.
    Failed(String),
    /// Worth knowing once, such as where the status page is served.
    Info(String),
    /// Something the user asked for was done: what.
    Done(String),
}

impl View {
    pub fn new(bell: bool) -> View {
        View {
            sort: SortKey::default(),
            filter: String::new(),
            editing_filter: false,
            problems_only: false,
            overlay: Overlay::None,
            page: Page::Nodes,
            conn_offset: 0,
            notice: None,
            bell,
            order: Vec::new(),
            keys: Vec::new(),
            selected: 0,
            offset: 0,
            page_rows: 10,
            order_dirty: true,
            selected_id: None,
            request: None,
        }
    }

    /// The selected row's position in the snapshot's node list.
    pub fn selected_node(&self) -> Option<usize> {
        self.order.get(self.selected).copied()
    }

    pub fn selected_key(&self) -> Option<&NodeKey> {
        self.keys.get(self.selected)
    }

    /// The ack or unack the user confirmed, once.
    pub fn take_request(&mut self) -> Option<Request> {
        self.request.take()
    }

    /// Applies an action that may need the fleet's state (`a` and `A` look at
    /// the node first); every other action goes to [`View::apply`].
    pub fn handle(&mut self, action: Action, snap: &Snapshot) -> bool {
        match action {
            Action::StartAck => {
                self.notice = None;
                self.start_ack(snap);
                true
            }
            Action::StartUnack => {
                self.notice = None;
                self.start_unack(snap);
                true
            }
            _ => self.apply(action),
        }
    }

    /// The node `a` and `A` act on: the detail popup's, else the selected one.
    fn acted_on<'s>(&self, snap: &'s Snapshot) -> Option<&'s NodeView> {
        if self.page != Page::Nodes {
            return None;
        }
        let key = match &self.overlay {
            Overlay::Detail(key) => Some(key),
            _ => self.selected_key(),
        }?;
        snap.node(key.as_str())
    }

    /// `a`: opens the ack form on the node, or says why it cannot be
    /// acknowledged (healthy, in maintenance) before anything is typed.
    pub fn start_ack(&mut self, snap: &Snapshot) {
        let Some(n) = self.acted_on(snap) else {
            return;
        };
        let me = Target::Node(n.name().to_owned());
        if let Some(w) = &n.maintenance {
            self.notice = Some(Notice::Failed(
                AckRefusal::InMaintenance(me, w.to_string()).to_string(),
            ));
            return;
        }
        let node_ok = n.status.is_problem();
        // The whole group can be acknowledged while it is unhealthy (a group
        // with no Master may have every member synced).
        let group = n
            .group()
            .and_then(|g| snap.group(g))
            .filter(|g| g.health.is_unhealthy() && g.maintenance.is_none())
            .map(|g| g.name.to_string());
        let (step, target) = match (&group, node_ok) {
            (None, false) => {
                self.notice = Some(Notice::Failed(AckRefusal::Healthy(me).to_string()));
                return;
            }
            (None, true) => (AckStep::Reason, me),
            (Some(_), _) => (AckStep::Target, me),
        };
        self.overlay = Overlay::Ack(AckForm {
            node: n.key.clone(),
            node_ok,
            group,
            step,
            target,
            reason: String::new(),
            duration: String::new(),
            error: None,
        });
    }

    /// `A`: asks whether to remove the ack that covers the node, or says it has none.
    pub fn start_unack(&mut self, snap: &Snapshot) {
        let Some(n) = self.acted_on(snap) else {
            return;
        };
        match &n.ack {
            Some(a) => {
                self.overlay = Overlay::Unack {
                    node: n.key.clone(),
                    ack: a.clone(),
                }
            }
            None => {
                let me = Target::Node(n.name().to_owned());
                self.notice = Some(Notice::Failed(AckRefusal::NotAcked(me).to_string()));
            }
        }
    }

    /// A key in the ack form or the unack question.
    fn form(&mut self, action: Action) {
        if let Overlay::Unack { ack, .. } = &self.overlay {
            if action == Action::Confirm {
                let target = ack.target.clone();
                self.notice = Some(Notice::Info(format!(
                    "removing the ack of {}…",
                    quiet::target(&target)
                )));
                self.request = Some(Request::Unack { target });
            }
            self.overlay = Overlay::None;
            return;
        }
        let Overlay::Ack(f) = &mut self.overlay else {
            return;
        };
        match (f.step, action) {
            (AckStep::Target, Action::Type('n' | 'N') | Action::Submit) if f.node_ok => {
                f.target = Target::Node(f.node.as_str().to_owned());
                f.step = AckStep::Reason;
            }
            (AckStep::Target, Action::Type('g' | 'G') | Action::Submit) => {
                if let Some(g) = &f.group {
                    f.target = Target::Group(g.clone());
                    f.step = AckStep::Reason;
                }
            }
            (AckStep::Reason, Action::Type(c)) => {
                if f.reason.chars().count() < ack::MAX_REASON {
                    f.reason.push(c);
                }
                f.error = None;
            }
            (AckStep::Duration, Action::Type(c)) => {
                if f.duration.chars().count() < DURATION_MAX {
                    f.duration.push(c);
                }
                f.error = None;
            }
            (AckStep::Reason, Action::Erase) => {
                f.reason.pop();
                f.error = None;
            }
            (AckStep::Duration, Action::Erase) => {
                f.duration.pop();
                f.error = None;
            }
            (AckStep::Reason, Action::Submit) => {
                match ack::clean_text(&f.reason, ack::MAX_REASON, "the reason") {
                    Ok(r) if r.is_empty() => f.error = Some(
                        "say why, for the people who watch the fleet (what is done, who is on it)"
                            .into(),
                    ),
                    Ok(r) => {
                        f.reason = r;
                        f.step = AckStep::Duration;
                        f.error = None;
                    }
                    Err(e) => f.error = Some(e),
                }
            }
            (AckStep::Duration, Action::Submit) => {
                let text = f.duration.trim();
                let lasts = if text.is_empty() {
                    Ok(ack::DEFAULT_FOR)
                } else {
                    crate::cli::parse_ack_for(text).map(|d| d.duration)
                };
                match lasts {
                    Ok(lasts) => {
                        let target = f.target.clone();
                        self.notice = Some(Notice::Info(format!(
                            "acknowledging {} for {}…",
                            quiet::target(&target),
                            humantime::format_duration(lasts)
                        )));
                        self.request = Some(Request::Ack {
                            target,
                            reason: f.reason.clone(),
                            lasts,
                        });
                        self.overlay = Overlay::None;
                    }
                    Err(e) => {
                        f.error = Some(format!(
                            "{:?}: {e}",
                            crate::protocol::text::escape_str(text)
                        ))
                    }
                }
            }
            _ => {}
        }
    }

    /// Applies a navigation or view action. Returns false for `Quit`; actions that
    /// need the pollers (re-poll) are left to the caller and return true here.
    pub fn apply(&mut self, action: Action) -> bool {
        if action != Action::Reload {
            self.notice = None;
        }
        if matches!(self.overlay, Overlay::Ack(_) | Overlay::Unack { .. }) {
            // The form's own keys; Esc (and any key but `y` in the question)
            // closes it below, Ctrl-C quits.
            match action {
                Action::Type(_) | Action::Erase | Action::Submit | Action::Confirm => {
                    self.form(action);
                    return true;
                }
                Action::Back => {
                    self.notice = Some(Notice::Info(match &self.overlay {
                        Overlay::Unack { ack, .. } => {
                            format!("the ack of {} stays", quiet::target(&ack.target))
                        }
                        _ => "not acknowledged".into(),
                    }));
                    self.overlay = Overlay::None;
                    return true;
                }
                Action::Quit => return false,
                _ => {}
            }
        }
        let last = self.order.len().saturating_sub(1);
        if self.page == Page::Connections {
            // Movement scrolls the connection list; its length is clamped at draw time.
            let page = self.page_rows.max(1);
            match action {
                Action::Up => self.conn_offset = self.conn_offset.saturating_sub(1),
                Action::Down => self.conn_offset += 1,
                Action::PageUp => self.conn_offset = self.conn_offset.saturating_sub(page),
                Action::PageDown => self.conn_offset += page,
                Action::Home => self.conn_offset = 0,
                Action::End => self.conn_offset = usize::MAX,
                _ => {}
            }
        }
        match action {
            _ if self.page == Page::Connections
                && matches!(
                    action,
                    Action::Up
                        | Action::Down
                        | Action::PageUp
                        | Action::PageDown
                        | Action::Home
                        | Action::End
                ) => {}
            Action::ToggleConnections => {
                self.page = match self.page {
                    Page::Nodes => Page::Connections,
                    Page::Connections => Page::Nodes,
                };
                self.overlay = Overlay::None;
            }
            Action::Quit => return false,
            Action::Up => self.selected = self.selected.saturating_sub(1),
            Action::Down => self.selected = (self.selected + 1).min(last),
            Action::PageUp => self.selected = self.selected.saturating_sub(self.page_rows.max(1)),
            Action::PageDown => self.selected = (self.selected + self.page_rows.max(1)).min(last),
            Action::Home => self.selected = 0,
            Action::End => self.selected = last,
            Action::CycleSort => {
                self.sort = self.sort.next();
                self.order_dirty = true;
            }
            Action::StartFilter => {
                self.editing_filter = true;
                self.overlay = Overlay::None;
            }
            Action::FilterChar(c) => {
                self.filter.push(c);
                self.order_dirty = true;
            }
            Action::FilterBackspace => {
                self.filter.pop();
                self.order_dirty = true;
            }
            Action::FilterDone => self.editing_filter = false,
            Action::Back => {
                if self.overlay != Overlay::None {
                    self.overlay = Overlay::None;
                } else if self.page == Page::Connections {
                    self.page = Page::Nodes;
                } else if self.editing_filter || !self.filter.is_empty() {
                    self.editing_filter = false;
                    self.filter.clear();
                    self.order_dirty = true;
                } else {
                    return false;
                }
            }
            Action::ToggleProblems => {
                self.problems_only = !self.problems_only;
                self.order_dirty = true;
            }
            Action::ToggleDetail => {
                self.overlay = match (&self.overlay, self.selected_key()) {
                    (Overlay::Detail(_), _) | (_, None) => Overlay::None,
                    (_, Some(key)) => Overlay::Detail(key.clone()),
                };
            }
            Action::ToggleBell => self.bell = !self.bell,
            Action::ToggleHelp => {
                self.overlay = if self.overlay == Overlay::Help {
                    Overlay::None
                } else {
                    Overlay::Help
                };
            }
            Action::Repoll | Action::RepollAll | Action::Reload => {}
            // With the snapshot: [`View::handle`]. The form's keys do nothing
            // while it is closed.
            Action::StartAck
            | Action::StartUnack
            | Action::Type(_)
            | Action::Erase
            | Action::Submit
            | Action::Confirm => {}
            // The fleet file is the loop's: `app` carries these out.
            Action::Adopt | Action::AdoptAll => {}
        }
        // After the user moves, the selection follows that node when the order
        // changes. Until then (and after Home) it stays on the top row, so the worst
        // problems stay in view as they rise.
        match action {
            Action::Home => self.selected_id = None,
            Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::End => {
                self.selected_id = self.selected_key().cloned();
            }
            _ => {}
        }
        true
    }

    /// Node ids changed under the view: start from the top with no popup.
    pub fn after_reload(&mut self) {
        self.overlay = Overlay::None;
        self.selected = 0;
        self.offset = 0;
        self.selected_id = None;
        self.order_dirty = true;
    }

    /// Recomputes the visible order (filter, problems-only, sort) if anything changed.
    /// The selection stays on the same node when it is still shown.
    pub fn refresh_order(&mut self, snap: &Snapshot) {
        if !self.order_dirty {
            return;
        }
        self.order_dirty = false;
        let needle = self.filter.to_lowercase();
        self.order.clear();
        self.order.extend(
            snap.nodes
                .iter()
                .enumerate()
                .filter(|(_, n)| !self.problems_only || n.status.is_problem())
                .filter(|(_, n)| needle.is_empty() || matches_filter(n, &needle))
                .map(|(id, _)| id),
        );
        let sort = self.sort;
        self.order
            .sort_by(|a, b| compare(&snap.nodes[*a], &snap.nodes[*b], sort));
        self.keys.clear();
        self.keys
            .extend(self.order.iter().map(|i| snap.nodes[*i].key.clone()));
        self.selected = self
            .selected_id
            .as_ref()
            .and_then(|id| self.keys.iter().position(|k| k == id))
            .unwrap_or_else(|| self.selected.min(self.order.len().saturating_sub(1)));
    }

    /// Moves the scroll position the least needed to show the selected row in a
    /// table of `height` rows.
    pub fn scroll_into_view(&mut self, height: usize) {
        self.page_rows = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if height > 0 && self.selected >= self.offset + height {
            self.offset = self.selected + 1 - height;
        }
        let max_offset = self.order.len().saturating_sub(height);
        self.offset = self.offset.min(max_offset);
    }
}

fn matches_filter(n: &NodeView, needle: &str) -> bool {
    let hit = |s: &str| s.to_lowercase().contains(needle);
    hit(n.name())
        || hit(&n.config.host)
        || n.group().is_some_and(hit)
        || hit(n.status.as_str())
        || n.error().is_some_and(|e| hit(&e))
}

fn compare(a: &NodeView, b: &NodeView, sort: SortKey) -> Ordering {
    let by_name = || a.name().cmp(b.name());
    match sort {
        SortKey::Status => severity(a.status)
            .cmp(&severity(b.status))
            .then_with(by_name),
        SortKey::Name => by_name(),
        SortKey::Group => match (a.group(), b.group()) {
            (Some(x), Some(y)) => x.cmp(y),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then_with(by_name),
        // Slowest first; nodes with no latency (no answer) after those with one.
        SortKey::Latency => match (a.latency(), b.latency()) {
            (Some(x), Some(y)) => y.cmp(&x),
            (Some(_), None) => Ordering::Less,
            (None, Some(_)) => Ordering::Greater,
            (None, None) => Ordering::Equal,
        }
        .then_with(by_name),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::{IoFailure, Observation, Outcome, Unreachable};
    use crate::protocol::Reply;
    use crate::state::Fleet;
    use std::time::{Duration, SystemTime};

    fn fleet() -> Snapshot {
        fleet_state().snapshot(SystemTime::UNIX_EPOCH + Duration::from_secs(1))
    }

    /// `d` (group g1) unreachable; `a`, `b`, `c` synced.
    fn fleet_state() -> Fleet {
        let mut text = String::new();
        for (name, group) in [("c", "g2"), ("a", "g1"), ("d", "g1"), ("b", "g2")] {
            text.push_str(&format!(
                "[[node]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\ngroup = \"{group}\"\n"
            ));
        }
        let cfg = Config::parse(&text, "t.toml").expect("config");
        let mut f = Fleet::new(&cfg, SystemTime::UNIX_EPOCH);
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1);
        let ok = |ms| Observation {
            at,
            outcome: Outcome::Reply(Reply::Synced),
            latency: Some(Duration::from_millis(ms)),
        };
        f.apply("c", ok(5), true);
        f.apply("a", ok(1), true);
        f.apply(
            "d",
            Observation {
                at,
                outcome: Outcome::Unreachable(Unreachable::Connect(IoFailure::kind(
                    std::io::ErrorKind::ConnectionRefused,
                ))),
                latency: None,
            },
            false,
        );
        f.apply("b", ok(9), true);
        f
    }

    fn names(v: &View, f: &Snapshot) -> Vec<String> {
        v.order
            .iter()
            .map(|id| f.nodes[*id].name().to_owned())
            .collect()
    }

    #[test]
    fn default_sort_puts_problems_first_then_cycles() {
        let f = fleet();
        let mut v = View::new(true);
        v.refresh_order(&f);
        assert_eq!(names(&v, &f), ["d", "a", "b", "c"]);
        v.apply(Action::CycleSort);
        v.refresh_order(&f);
        assert_eq!(v.sort, SortKey::Name);
        assert_eq!(names(&v, &f), ["a", "b", "c", "d"]);
        v.apply(Action::CycleSort);
        v.refresh_order(&f);
        assert_eq!(names(&v, &f), ["a", "d", "b", "c"]);
        v.apply(Action::CycleSort);
        v.refresh_order(&f);
        assert_eq!(v.sort, SortKey::Latency);
        assert_eq!(names(&v, &f), ["b", "c", "a", "d"]);
        v.apply(Action::CycleSort);
        assert_eq!(v.sort, SortKey::Status);
    }

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn keys_map_to_actions() {
        use KeyCode::*;
        let cases = [
            (Char('q'), Action::Quit),
            (Esc, Action::Back),
            (Up, Action::Up),
            (Char('k'), Action::Up),
            (Down, Action::Down),
            (Char('j'), Action::Down),
            (PageUp, Action::PageUp),
            (PageDown, Action::PageDown),
            (Home, Action::Home),
            (End, Action::End),
            (Char('s'), Action::CycleSort),
            (Char('/'), Action::StartFilter),
            (Char('p'), Action::ToggleProblems),
            (Char('r'), Action::Repoll),
            (Char('R'), Action::RepollAll),
            (Enter, Action::ToggleDetail),
            (Char('b'), Action::ToggleBell),
            (Char('?'), Action::ToggleHelp),
            (Char('c'), Action::ToggleConnections),
            (Char('L'), Action::Reload),
            (Char('a'), Action::StartAck),
            (Char('A'), Action::StartUnack),
        ];
        for (code, want) in cases {
            assert_eq!(key_to_action(key(code), false), Some(want), "{code:?}");
        }
        assert_eq!(key_to_action(key(Char('x')), false), None);
        let ctrl_c = KeyEvent::new(Char('c'), KeyModifiers::CONTROL);
        assert_eq!(key_to_action(ctrl_c, false), Some(Action::Quit));
        assert_eq!(key_to_action(ctrl_c, true), Some(Action::Quit));
        // While typing a filter, letters are text, not commands.
        assert_eq!(
            key_to_action(key(Char('q')), true),
            Some(Action::FilterChar('q'))
        );
        assert_eq!(
            key_to_action(key(Char('R')), true),
            Some(Action::FilterChar('R'))
        );
        assert_eq!(
            key_to_action(key(Backspace), true),
            Some(Action::FilterBackspace)
        );
        assert_eq!(key_to_action(key(Enter), true), Some(Action::FilterDone));
        assert_eq!(key_to_action(key(Esc), true), Some(Action::Back));
    }

    #[test]
    fn escape_closes_overlay_then_clears_filter_then_quits() {
        let f = fleet();
        let mut v = View::new(true);
        v.refresh_order(&f);
        v.apply(Action::StartFilter);
        v.apply(Action::FilterChar('g'));
        v.apply(Action::FilterChar('2'));
        v.apply(Action::FilterDone);
        v.apply(Action::ToggleHelp);
        assert_eq!(v.overlay, Overlay::Help);
        assert!(v.apply(Action::Back));
        assert_eq!(v.overlay, Overlay::None);
        assert_eq!(v.filter, "g2");
        assert!(v.apply(Action::Back));
        assert_eq!(v.filter, "");
        assert!(!v.apply(Action::Back), "a third Esc quits");
    }

    #[test]
    fn filter_matches_name_group_status_and_error_case_insensitively() {
        let f = fleet();
        let mut v = View::new(true);
        let mut filtered = |text: &str| {
            v.filter = text.into();
            v.order_dirty = true;
            v.refresh_order(&f);
            names(&v, &f)
        };
        assert_eq!(filtered("G2"), ["b", "c"]);
        assert_eq!(filtered("REFUSED"), ["d"]);
        assert_eq!(filtered("unreach"), ["d"]);
        assert!(filtered("nothing-matches").is_empty());
    }

    #[test]
    fn problems_only_and_selection_movement() {
        let f = fleet();
        let mut v = View::new(true);
        v.refresh_order(&f);
        v.apply(Action::End);
        assert_eq!(v.selected, 3);
        v.apply(Action::Down);
        assert_eq!(v.selected, 3, "stops at the last row");
        v.apply(Action::Home);
        assert_eq!(v.selected, 0);
        v.apply(Action::Up);
        assert_eq!(v.selected, 0);
        v.page_rows = 2;
        v.apply(Action::PageDown);
        assert_eq!(v.selected, 2);
        // The selection follows a node the user moved to when the order changes.
        let followed = v.selected_node();
        v.apply(Action::CycleSort);
        v.refresh_order(&f);
        assert_eq!(v.selected_node(), followed);
        v.apply(Action::ToggleProblems);
        v.refresh_order(&f);
        assert_eq!(names(&v, &f), ["d"]);
        assert_eq!(v.selected, 0);
        v.apply(Action::ToggleDetail);
        assert_eq!(v.overlay, Overlay::Detail("d".into()));
        v.apply(Action::ToggleDetail);
        assert_eq!(v.overlay, Overlay::None);
        assert!(v.bell);
        v.apply(Action::ToggleBell);
        assert!(!v.bell);
    }

    #[test]
    fn scrolling_keeps_selection_visible() {
        let mut v = View::new(true);
        v.order = (0..100).collect();
        v.selected = 50;
        v.scroll_into_view(10);
        assert_eq!(v.offset, 41);
        v.selected = 45;
        v.scroll_into_view(10);
        assert_eq!(v.offset, 41, "no movement while the selection is visible");
        v.selected = 3;
        v.scroll_into_view(10);
        assert_eq!(v.offset, 3);
    }

    /// Presses `code` as the dashboard does: the mode's key map, then the view.
    fn press(v: &mut View, snap: &Snapshot, code: KeyCode) -> bool {
        match crate::ui::action_for(key(code), v) {
            Some(a) => v.handle(a, snap),
            None => true,
        }
    }

    fn type_text(v: &mut View, snap: &Snapshot, text: &str) {
        for c in text.chars() {
            press(v, snap, KeyCode::Char(c));
        }
    }

    fn step(v: &View) -> Option<AckStep> {
        match &v.overlay {
            Overlay::Ack(f) => Some(f.step),
            _ => None,
        }
    }

    fn at_secs(s: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(s)
    }

    #[test]
    fn ack_flow_asks_what_why_and_how_long_then_sends() {
        let snap = fleet();
        let mut v = View::new(true);
        v.refresh_order(&snap);
        assert_eq!(v.selected_key().map(NodeKey::as_str), Some("d"));
        press(&mut v, &snap, KeyCode::Char('a'));
        // d is in g1, which is unhealthy through d: this node, or the group?
        assert_eq!(step(&v), Some(AckStep::Target));
        press(&mut v, &snap, KeyCode::Char('n'));
        assert_eq!(step(&v), Some(AckStep::Reason));
        // Keys are text now: `q` does not quit, `a` does not start over.
        type_text(&mut v, &snap, "re-imaging, back at 4pm (q)");
        press(&mut v, &snap, KeyCode::Backspace);
        press(&mut v, &snap, KeyCode::Enter);
        assert_eq!(step(&v), Some(AckStep::Duration));
        assert_eq!(v.take_request(), None);
        type_text(&mut v, &snap, "2h");
        assert!(press(&mut v, &snap, KeyCode::Enter));
        assert_eq!(v.overlay, Overlay::None);
        assert_eq!(
            v.take_request(),
            Some(Request::Ack {
                target: Target::Node("d".into()),
                reason: "re-imaging, back at 4pm (q".into(),
                lasts: Duration::from_secs(2 * 3600),
            })
        );
        assert_eq!(v.take_request(), None, "sent once");
        assert!(matches!(&v.notice, Some(Notice::Info(t)) if t.contains("acknowledging d for 2h")));
    }

    #[test]
    fn the_group_can_be_acknowledged_and_the_duration_defaults_to_24h() {
        let snap = fleet();
        let mut v = View::new(true);
        v.refresh_order(&snap);
        press(&mut v, &snap, KeyCode::Char('a'));
        press(&mut v, &snap, KeyCode::Char('x'));
        assert_eq!(step(&v), Some(AckStep::Target), "only n, g, Enter answer");
        press(&mut v, &snap, KeyCode::Char('g'));
        type_text(&mut v, &snap, "  cabling  ");
        press(&mut v, &snap, KeyCode::Enter);
        press(&mut v, &snap, KeyCode::Enter);
        assert_eq!(
            v.take_request(),
            Some(Request::Ack {
                target: Target::Group("g1".into()),
                reason: "cabling".into(),
                lasts: ack::DEFAULT_FOR,
            })
        );
        assert_eq!(
            crate::cli::parse_ack_for(DEFAULT_FOR_TEXT).map(|d| d.duration),
            Ok(ack::DEFAULT_FOR),
            "the default as shown is the default used"
        );
    }

    #[test]
    fn esc_cancels_the_ack_at_every_step() {
        let snap = fleet();
        for steps in 0..3 {
            let mut v = View::new(true);
            v.refresh_order(&snap);
            press(&mut v, &snap, KeyCode::Char('a'));
            if steps > 0 {
                press(&mut v, &snap, KeyCode::Char('n'));
                type_text(&mut v, &snap, "why");
            }
            if steps > 1 {
                press(&mut v, &snap, KeyCode::Enter);
                type_text(&mut v, &snap, "2h");
            }
            assert!(step(&v).is_some());
            assert!(press(&mut v, &snap, KeyCode::Esc), "Esc does not quit");
            assert_eq!(v.overlay, Overlay::None, "after {steps} steps");
            assert_eq!(v.take_request(), None);
            assert_eq!(v.notice, Some(Notice::Info("not acknowledged".into())));
        }
        // Ctrl-C still quits from the form.
        let mut v = View::new(true);
        v.refresh_order(&snap);
        press(&mut v, &snap, KeyCode::Char('a'));
        let ctrl_c = KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert_eq!(crate::ui::action_for(ctrl_c, &v), Some(Action::Quit));
    }

    #[test]
    fn an_invalid_duration_or_an_empty_reason_asks_again() {
        let snap = fleet();
        let mut v = View::new(true);
        v.refresh_order(&snap);
        press(&mut v, &snap, KeyCode::Char('a'));
        press(&mut v, &snap, KeyCode::Enter);
        type_text(&mut v, &snap, "   ");
        press(&mut v, &snap, KeyCode::Enter);
        assert_eq!(step(&v), Some(AckStep::Reason));
        let Overlay::Ack(f) = &v.overlay else {
            panic!()
        };
        assert!(
            f.error.as_deref().is_some_and(|e| e.contains("say why")),
            "{f:?}"
        );
        type_text(&mut v, &snap, "x");
        let Overlay::Ack(f) = &v.overlay else {
            panic!()
        };
        assert_eq!(f.error, None, "typing clears the complaint");
        press(&mut v, &snap, KeyCode::Enter);
        for bad in ["2x", "0s", "31d", "soon"] {
            type_text(&mut v, &snap, bad);
            press(&mut v, &snap, KeyCode::Enter);
            assert_eq!(step(&v), Some(AckStep::Duration), "{bad}");
            let Overlay::Ack(f) = &v.overlay else {
                panic!()
            };
            let e = f.error.as_deref().unwrap_or_default();
            assert!(e.starts_with(&format!("{bad:?}: ")), "{bad}: {e}");
            assert_eq!(v.take_request(), None, "{bad}");
            for _ in bad.chars() {
                press(&mut v, &snap, KeyCode::Backspace);
            }
        }
        type_text(&mut v, &snap, "90m");
        press(&mut v, &snap, KeyCode::Enter);
        assert!(matches!(
            v.take_request(),
            Some(Request::Ack { lasts, .. }) if lasts == Duration::from_secs(5400)
        ));
    }

    #[test]
    fn the_reason_is_plain_text_of_at_most_500_characters() {
        use KeyCode::*;
        for code in [Char('\u{1b}'), Char('\u{7}'), Char('\n'), Tab, Left, F(2)] {
            assert_eq!(form_key_to_action(key(code)), None, "{code:?}");
        }
        let ctrl_u = KeyEvent::new(Char('u'), KeyModifiers::CONTROL);
        assert_eq!(form_key_to_action(ctrl_u), None);
        assert_eq!(form_key_to_action(key(Char('é'))), Some(Action::Type('é')));
        let snap = fleet();
        let mut v = View::new(true);
        v.refresh_order(&snap);
        press(&mut v, &snap, Char('a'));
        press(&mut v, &snap, Enter);
        type_text(&mut v, &snap, &"한".repeat(ack::MAX_REASON + 20));
        let Overlay::Ack(f) = &v.overlay else {
            panic!()
        };
        assert_eq!(f.reason.chars().count(), ack::MAX_REASON);
    }

    #[test]
    fn a_healthy_node_offers_only_its_unhealthy_group_or_nothing() {
        let snap = fleet();
        let mut v = View::new(true);
        v.refresh_order(&snap);
        // Status order: d, a, b, c. `a` is synced, in g1 (unhealthy through d).
        press(&mut v, &snap, KeyCode::Down);
        press(&mut v, &snap, KeyCode::Char('a'));
        let Overlay::Ack(f) = &v.overlay else {
            panic!("{:?}", v.overlay)
        };
        assert!(!f.node_ok);
        assert_eq!(f.group.as_deref(), Some("g1"));
        press(&mut v, &snap, KeyCode::Char('n'));
        assert_eq!(step(&v), Some(AckStep::Target));
        press(&mut v, &snap, KeyCode::Enter);
        let Overlay::Ack(f) = &v.overlay else {
            panic!()
        };
        assert_eq!(
            (f.step, &f.target),
            (AckStep::Reason, &Target::Group("g1".into()))
        );
        press(&mut v, &snap, KeyCode::Esc);
        // `b` is synced, in g2 (healthy): nothing to acknowledge, said at once.
        press(&mut v, &snap, KeyCode::Down);
        press(&mut v, &snap, KeyCode::Char('a'));
        assert_eq!(v.overlay, Overlay::None);
        assert_eq!(
            v.notice,
            Some(Notice::Failed(
                "b is healthy; there is nothing to acknowledge".into()
            ))
        );
    }

    #[test]
    fn unack_asks_first_and_names_the_ack_that_covers_the_node() {
        let mut f = fleet_state();
        let req = |target| crate::state::AckRequest {
            id: "t1".into(),
            target,
            by: "alice".into(),
            reason: "cabling".into(),
            lasts: Duration::from_secs(3600),
        };
        f.ack(req(Target::Group("g1".into())), at_secs(2))
            .expect("ack");
        let snap = f.snapshot(at_secs(3));
        let mut v = View::new(true);
        v.refresh_order(&snap);
        // `d` is covered by g1's ack: `A` offers to remove that one.
        press(&mut v, &snap, KeyCode::Char('A'));
        let Overlay::Unack { node, ack } = &v.overlay else {
            panic!("{:?}", v.overlay)
        };
        assert_eq!(
            (node.as_str(), &ack.target),
            ("d", &Target::Group("g1".into()))
        );
        // Any key but `y` keeps it.
        press(&mut v, &snap, KeyCode::Char('n'));
        assert_eq!(v.overlay, Overlay::None);
        assert_eq!(v.take_request(), None);
        assert_eq!(v.notice, Some(Notice::Info("the ack of @g1 stays".into())));
        press(&mut v, &snap, KeyCode::Char('A'));
        press(&mut v, &snap, KeyCode::Char('y'));
        assert_eq!(v.overlay, Overlay::None);
        assert_eq!(
            v.take_request(),
            Some(Request::Unack {
                target: Target::Group("g1".into())
            })
        );
        // `a` (synced) is not covered: it has no ack to remove.
        press(&mut v, &snap, KeyCode::Down);
        press(&mut v, &snap, KeyCode::Char('A'));
        assert_eq!(v.overlay, Overlay::None);
        assert_eq!(
            v.notice,
            Some(Notice::Failed("a is not acknowledged".into()))
        );
    }

    #[test]
    fn a_node_in_maintenance_needs_no_ack_and_rings_no_bell() {
        let mut f = fleet_state();
        f.set_maintenance(
            |name, _| (name == "d").then(|| "reboots".into()),
            |_| None,
            at_secs(2),
        );
        let snap = f.snapshot(at_secs(3));
        let mut v = View::new(true);
        v.refresh_order(&snap);
        press(&mut v, &snap, KeyCode::Char('a'));
        assert_eq!(v.overlay, Overlay::None);
        assert!(
            matches!(&v.notice, Some(Notice::Failed(t)) if t.contains("maintenance window \"reboots\"")),
            "{:?}",
            v.notice
        );
        let t = |node: &str| Transition {
            at: at_secs(3),
            node: NodeKey::new(node),
            group: None,
            from: crate::model::Status::Synced,
            to: crate::model::Status::Free,
            outcome: Outcome::Reply(Reply::Free),
        };
        assert!(!rings_bell(&t("d"), &snap));
        assert!(rings_bell(&t("a"), &snap));
        let back = Transition {
            from: crate::model::Status::Free,
            to: crate::model::Status::Synced,
            ..t("a")
        };
        assert!(!rings_bell(&back, &snap), "getting better rings nothing");
    }
}

//! Dashboard view state (selection, sort, filter, overlays) and the key → action
//! mapping. Pure: no terminal here, so every key can be unit-tested.

use std::cmp::Ordering;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use crate::model::NodeKey;
use crate::present::severity;
use crate::state::{NodeView, Snapshot};

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
        _ => return None,
    })
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
        }
    }

    /// The selected row's position in the snapshot's node list.
    pub fn selected_node(&self) -> Option<usize> {
        self.order.get(self.selected).copied()
    }

    pub fn selected_key(&self) -> Option<&NodeKey> {
        self.keys.get(self.selected)
    }

    /// Applies a navigation or view action. Returns false for `Quit`; actions that
    /// need the pollers (re-poll) are left to the caller and return true here.
    pub fn apply(&mut self, action: Action) -> bool {
        if action != Action::Reload {
            self.notice = None;
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
        f.snapshot(at)
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
}

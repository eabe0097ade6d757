//! Drawing the dashboard: a pure function of fleet state, view state and the clock.
//! Only the rows on screen are built, so a frame costs the same for 24 or 10,000 nodes.

mod ack;
mod adopt;
mod connections;
mod detail;
mod events;
mod footer;
mod header;
mod help;
mod table;
mod unlisted;

use std::time::SystemTime;

use jiff::tz::TimeZone;
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::widgets::Paragraph;

use crate::model::{Observation, Status};
use crate::present::{self, Tone, format_age};
use crate::state::Snapshot;
use crate::store::query::NodeRecord;
use crate::ui::view::{Overlay, Page, View};

pub use help::HELP;

/// What the detail popup can say about a node's stored history.
#[derive(Clone, Copy, Debug)]
pub enum RecordView<'a> {
    /// No history file (`--no-history`, `[history] enabled = false`).
    Off,
    Loading,
    Ready(&'a NodeRecord),
    Failed(&'a str),
}

/// Everything a frame is drawn from.
pub struct Screen<'a> {
    pub snap: &'a Snapshot,
    /// The detail popup's node's recent results, oldest first (asked of the hub).
    pub history: &'a [Observation],
    /// The detail popup's node's record from the history file.
    pub record: RecordView<'a>,
    pub view: &'a View,
    /// Name of the fleet file, for the header.
    pub source: &'a str,
    pub now: SystemTime,
    /// Zone used for clock times (the system zone in the dashboard, UTC in tests).
    pub tz: TimeZone,
    /// False with `NO_COLOR`: symbols, words and bold/reverse carry the meaning.
    pub color: bool,
}

/// The screen regions, shared by drawing and by scrolling (which needs the height).
pub struct Areas {
    pub header: Rect,
    pub table: Rect,
    pub unlisted: Rect,
    pub events: Rect,
    pub footer: Rect,
}

/// Unlisted senders shown at most, below the table.
const UNLISTED_ROWS: usize = 3;

pub fn areas(area: Rect, snap: &Snapshot) -> Areas {
    // The events pane shrinks first on short terminals; the table keeps 5 rows.
    let events_height = if area.height >= 30 {
        9
    } else if area.height >= 20 {
        6
    } else {
        0
    };
    let header_height = if snap.groups.is_empty() { 2 } else { 3 };
    let unlisted_height = if snap.unlisted.is_empty() || area.height < 20 {
        0
    } else {
        snap.unlisted.len().min(UNLISTED_ROWS) as u16 + 1
    };
    let [header, table, unlisted, events, footer] = Layout::vertical([
        Constraint::Length(header_height),
        Constraint::Min(5),
        Constraint::Length(unlisted_height),
        Constraint::Length(events_height),
        Constraint::Length(1),
    ])
    .areas(area);
    Areas {
        header,
        table,
        unlisted,
        events,
        footer,
    }
}

/// Data rows the table has room for (its first line is the column header).
pub fn table_rows(area: Rect, snap: &Snapshot) -> usize {
    areas(area, snap).table.height.saturating_sub(1) as usize
}

pub fn render(frame: &mut Frame, s: &Screen) {
    let a = areas(frame.area(), s.snap);
    header::draw(frame, a.header, s);
    match s.view.page {
        Page::Nodes => table::draw(frame, a.table, s),
        Page::Connections => connections::draw(frame, a.table, s),
    }
    if a.unlisted.height > 0 {
        unlisted::draw(frame, a.unlisted, s);
    }
    if a.events.height > 0 {
        events::draw(frame, a.events, s);
    }
    footer::draw(frame, a.footer, s);
    match &s.view.overlay {
        Overlay::None => {}
        Overlay::Help => help::draw(frame, s),
        Overlay::Detail(key) => {
            if let Some(node) = s.snap.node(key.as_str()) {
                detail::draw(frame, node, s);
            }
        }
        Overlay::Ack(form) => ack::draw_form(frame, form, s),
        Overlay::Unack { node, ack } => ack::draw_unack(frame, node.as_str(), ack, s),
        Overlay::Adopt(prompt) => adopt::draw(frame, prompt, s),
    }
}

impl Screen<'_> {
    /// A foreground colour, or plain text under `NO_COLOR`.
    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::new().fg(c)
        } else {
            Style::new()
        }
    }

    fn status_style(&self, st: Status) -> Style {
        self.tone_style(present::tone(st))
    }

    fn tone_style(&self, t: Tone) -> Style {
        let style = self.fg(tone_color(t));
        match t {
            Tone::Warn | Tone::Bad => style.add_modifier(Modifier::BOLD),
            Tone::Good | Tone::Muted => style,
        }
    }

    fn clock(&self, t: SystemTime) -> String {
        self.tz
            .to_datetime(present::timestamp(t))
            .strftime("%H:%M:%S")
            .to_string()
    }

    /// `12-01 22:14`: incidents can be days old.
    fn date_clock(&self, t: SystemTime) -> String {
        self.tz
            .to_datetime(present::timestamp(t))
            .strftime("%m-%d %H:%M")
            .to_string()
    }

    fn age(&self, t: SystemTime) -> String {
        format_age(self.now.duration_since(t).unwrap_or_default())
    }
}

/// The dashboard's colour for a tone (text, or the verdict badge's background).
fn tone_color(t: Tone) -> Color {
    match t {
        Tone::Good => Color::Green,
        Tone::Warn => Color::Yellow,
        Tone::Muted => Color::DarkGray,
        Tone::Bad => Color::Red,
    }
}

/// A grey line under a table's header saying why the table is empty.
fn empty_notice(frame: &mut Frame, area: Rect, msg: &str, s: &Screen) {
    let r = Rect {
        y: area.y + 2,
        height: 1,
        ..area
    };
    frame.render_widget(
        Paragraph::new(format!(" {msg}")).style(s.fg(Color::DarkGray)),
        r,
    );
}

/// A rectangle of at most `w`×`h`, centred in `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

//! The help overlay: every key and what it does, in a centred box that any key
//! closes (Ctrl-C still quits).

use ratatui::Frame;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph};

use super::{Screen, centered};

/// The keys, as the help overlay lists them.
pub const HELP: &[(&str, &str)] = &[
    (
        "q  Esc  Ctrl-C",
        "quit (Esc first closes popups and filters)",
    ),
    ("↑ ↓  j k", "move the selection"),
    ("PgUp PgDn Home End", "move by a page / to the ends"),
    ("s", "cycle the sort: status, name, group, latency"),
    ("/", "filter by text (Enter keeps it, Esc clears it)"),
    ("p", "show problems only"),
    ("r", "re-poll the selected node now"),
    ("R", "re-poll all nodes now"),
    ("Enter", "details of the selected node"),
    ("a", "acknowledge the selected node or its group"),
    ("A", "remove the ack of the selected node (y confirms)"),
    ("n  N", "add the unlisted sender / all to the fleet file"),
    ("c", "open push connections / back to the nodes"),
    ("L", "reload the config file (bad files are rejected)"),
    ("b", "toggle the bell on transitions to unhealthy"),
    (
        "↯ (in STATUS)",
        "flapping: many status changes in a short time",
    ),
    ("✓  ⚒ (in STATUS)", "acknowledged / in a maintenance window"),
    ("?", "this help"),
];

pub(super) fn draw(frame: &mut Frame, s: &Screen) {
    let area = centered(frame.area(), 72, HELP.len() as u16 + 4);
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(" Keys ")
        .border_style(s.fg(Color::Cyan));
    let key = Style::new().add_modifier(Modifier::BOLD);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(k, what)| {
            Line::from(vec![
                Span::styled(format!(" {k:<20}"), key),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::from(Span::styled(
        " any key closes this help",
        s.fg(Color::DarkGray),
    )));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

//! The adopt question: which sender (or how many) would be added to which fleet
//! file, under what name, and the keys that answer it.

use ratatui::Frame;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use super::Screen;
use super::ack::{WIDTH, popup};
use crate::protocol::text;
use crate::ui::adopt::AdoptPrompt;

pub(super) fn draw(frame: &mut Frame, p: &AdoptPrompt, s: &Screen) {
    let key = Style::new().add_modifier(Modifier::BOLD);
    let dim = s.fg(Color::DarkGray);
    let file = text::escape_str(s.source);
    let nodes = p.nodes();
    let mut lines = Vec::new();
    for n in nodes.iter().take(6) {
        lines.push(Line::from(vec![
            Span::styled(format!("{} ", n.host), s.fg(Color::Yellow)),
            Span::raw(format!("as {} (push)", n.name)),
        ]));
    }
    if nodes.len() > 6 {
        lines.push(Line::styled(format!("… and {} more", nodes.len() - 6), dim));
    }
    lines.push(Line::styled(
        "a name already used gets -2; a sender already listed is left out",
        dim,
    ));
    lines.push(Line::raw(""));
    let mut answer = vec![
        Span::styled("y ", key),
        Span::raw(format!("adds to {file} and reloads")),
    ];
    if p.chosen.is_some() && p.senders.len() > 1 {
        answer.push(Span::styled(" · ↑↓ ", key));
        answer.push(Span::raw("another sender"));
    }
    answer.push(Span::styled(" · any other key: no", dim));
    lines.push(Line::from(answer));
    let title = match p.chosen {
        Some(_) => " Add this sender to the fleet file? ".to_owned(),
        None => format!(" Add all {} unlisted senders? ", p.senders.len()),
    };
    let width = frame.area().width.min(WIDTH);
    popup(frame, title, lines, width, s);
}

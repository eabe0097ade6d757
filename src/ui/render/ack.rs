//! The ack overlays: the form `a` opens (what, why, for how long), and the
//! question `A` asks before an ack is removed.

use ratatui::Frame;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Padding, Paragraph, Wrap};

use super::{Screen, centered};
use crate::model::Target;
use crate::model::ack::{self, Ack, MAX_REASON};
use crate::present::width::fit_tail;
use crate::present::{self, quiet, status_word};
use crate::protocol::text;
use crate::ui::view::{AckForm, AckStep, DEFAULT_FOR_TEXT};

/// The overlays' width, at most.
pub(super) const WIDTH: u16 = 76;

/// The ack form at its current question.
pub(super) fn draw_form(frame: &mut Frame, f: &AckForm, s: &Screen) {
    let key = Style::new().add_modifier(Modifier::BOLD);
    let dim = s.fg(Color::DarkGray);
    let width = frame.area().width.min(WIDTH);
    // Inside the border and its padding.
    let room = width.saturating_sub(4) as usize;
    let mut lines = vec![about(f, s)];
    match f.step {
        AckStep::Target => {
            lines.push(Line::raw(""));
            lines.push(Line::raw("Acknowledge what?"));
            let node = present::name(f.node.as_str());
            if f.node_ok {
                lines.push(Line::from(vec![
                    Span::styled("  n ", key),
                    Span::raw(format!(" this node, {node}")),
                ]));
            } else {
                lines.push(Line::from(Span::styled(
                    format!("    {node} is healthy: only its group can be acknowledged"),
                    dim,
                )));
            }
            if let Some(g) = &f.group {
                lines.push(Line::from(vec![
                    Span::styled("  g ", key),
                    Span::raw(format!(
                        " the whole group {}",
                        quiet::target(&Target::Group(g.clone()))
                    )),
                ]));
            }
            lines.push(Line::raw(""));
            let enter = if f.node_ok { "this node" } else { "the group" };
            lines.push(hints(&[("Enter", enter), ("Esc", "cancels")], dim));
        }
        AckStep::Reason => {
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::styled("Why? ", key),
                Span::styled("what is being done, who is on it", dim),
            ]));
            lines.push(input(&f.reason, "", room, s));
            let count = f.reason.chars().count();
            lines.push(Line::from(Span::styled(
                format!("{:>room$}", format!("{count}/{MAX_REASON}")),
                if count >= MAX_REASON {
                    s.fg(Color::Yellow)
                } else {
                    dim
                },
            )));
            lines.extend(error(f, s));
            lines.push(hints(
                &[
                    ("Enter", "next"),
                    ("Backspace", "erases"),
                    ("Esc", "cancels"),
                ],
                dim,
            ));
        }
        AckStep::Duration => {
            lines.push(Line::from(vec![
                Span::styled("reason ", dim),
                Span::raw(text::escape_str(&f.reason)),
            ]));
            lines.push(Line::raw(""));
            lines.push(Line::from(vec![
                Span::styled("For how long? ", key),
                Span::styled(
                    format!(
                        "e.g. 30m, 2h, 3d; at most {}",
                        humantime::format_duration(ack::MAX_FOR)
                    ),
                    dim,
                ),
            ]));
            lines.push(input(&f.duration, DEFAULT_FOR_TEXT, room, s));
            lines.extend(error(f, s));
            lines.push(hints(&[("Enter", "acknowledges"), ("Esc", "cancels")], dim));
        }
    }
    let title = format!(" Acknowledge {} ", quiet::target(&f.target));
    popup(frame, title, lines, width, s);
}

/// "Remove this ack?", with what it is.
pub(super) fn draw_unack(frame: &mut Frame, node: &str, a: &Ack, s: &Screen) {
    let key = Style::new().add_modifier(Modifier::BOLD);
    let dim = s.fg(Color::DarkGray);
    let me = Target::Node(node.to_owned());
    let mut lines = Vec::new();
    if a.target != me {
        lines.push(Line::raw(format!(
            "{} is covered by its group's ack.",
            present::name(node)
        )));
    }
    lines.push(Line::from(Span::styled(
        format!("{} {}", quiet::ACK_MARK, quiet::ack_line_in(a, &s.tz)),
        s.fg(Color::Cyan),
    )));
    lines.push(Line::raw(""));
    lines.push(Line::from(vec![
        Span::styled("y ", key),
        Span::raw(format!("removes the ack of {}", quiet::target(&a.target))),
        Span::styled(" · any other key keeps it", dim),
    ]));
    let width = frame.area().width.min(WIDTH);
    popup(
        frame,
        " Remove the acknowledgement? ".into(),
        lines,
        width,
        s,
    );
}

/// What is being acknowledged and how it stands: `wall-03  ✖ free since
/// 10:30:40`, or the group's health.
fn about<'a>(f: &AckForm, s: &Screen) -> Line<'a> {
    let dim = s.fg(Color::DarkGray);
    match &f.target {
        Target::Group(g) if f.step != AckStep::Target => {
            let health = s
                .snap
                .group(g)
                .and_then(|g| present::group_health(&g.health))
                .unwrap_or_default();
            Line::from(vec![
                Span::raw(format!("{}  ", quiet::target(&f.target))),
                Span::styled(health, s.status_style(crate::model::Status::Free)),
            ])
        }
        _ => match s.snap.node(f.node.as_str()) {
            Some(n) => Line::from(vec![
                Span::raw(format!("{}  ", present::name(n.name()))),
                Span::styled(status_word(n.status), s.status_style(n.status)),
                Span::styled(
                    format!(" since {} ({})", s.clock(n.since), s.age(n.since)),
                    dim,
                ),
            ]),
            None => Line::raw(present::name(f.node.as_str())),
        },
    }
}

/// `> text▏`, the end of the text when it is longer than the line; `placeholder`
/// greyed while nothing is typed.
fn input<'a>(value: &str, placeholder: &str, room: usize, s: &Screen) -> Line<'a> {
    let key = Style::new().add_modifier(Modifier::BOLD);
    let mut spans = vec![Span::styled("> ", key)];
    if value.is_empty() {
        spans.push(Span::styled("▏", key));
        if !placeholder.is_empty() {
            spans.push(Span::styled(
                format!("{placeholder} (Enter keeps it)"),
                s.fg(Color::DarkGray),
            ));
        }
        return Line::from(spans);
    }
    // Room for the prompt (2) and the cursor (1).
    let fits = room.saturating_sub(3).max(1);
    // Cut after escaping, in terminal columns, keeping the end being typed: a
    // reason in Hangul takes two columns a character.
    let shown = text::escape_str(value);
    spans.push(Span::raw(fit_tail(&shown, fits).into_owned()));
    spans.push(Span::styled("▏", key));
    Line::from(spans)
}

/// The form's refusal, when the last Enter was refused.
fn error<'a>(f: &AckForm, s: &Screen) -> Option<Line<'a>> {
    f.error.as_ref().map(|e| {
        Line::from(Span::styled(
            format!("✖ {}", text::escape_str(e)),
            s.fg(Color::Red).add_modifier(Modifier::BOLD),
        ))
    })
}

/// `Enter next · Esc cancels`
fn hints<'a>(pairs: &[(&str, &str)], dim: Style) -> Line<'a> {
    let key = Style::new().add_modifier(Modifier::BOLD);
    let mut spans = Vec::new();
    for (i, (k, what)) in pairs.iter().enumerate() {
        if i > 0 {
            spans.push(Span::styled(" · ", dim));
        }
        spans.push(Span::styled(k.to_string(), key));
        spans.push(Span::styled(format!(" {what}"), dim));
    }
    Line::from(spans)
}

/// A bordered box of `lines` (wrapped) in the middle of the screen.
pub(super) fn popup(frame: &mut Frame, title: String, lines: Vec<Line>, width: u16, s: &Screen) {
    // Inside the border and a column of padding either side.
    let inner = width.saturating_sub(4).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let area = centered(frame.area(), width, rows as u16 + 2);
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .title(title)
        .border_style(s.fg(Color::Cyan))
        .padding(Padding::horizontal(1));
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

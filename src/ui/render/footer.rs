//! The footer line: a notice when there is one (a reload's or an ack's answer), a history store that cannot
//! write, a notification channel that cannot deliver, the filter being typed, or
//! as many key hints as fit, most important first.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::Screen;
use crate::present::Tone;
use crate::protocol::text;
use crate::ui::view::Notice;

/// Key hints, most important first: whole hints that do not fit are left off.
const HINTS: &[(&str, &str)] = &[
    ("q", "quit"),
    ("?", "help"),
    ("Enter", "detail"),
    ("a", "ack"),
    ("/", "filter"),
    ("p", "problems"),
    ("s", "sort"),
    ("r/R", "re-poll"),
    ("c", "conns"),
    ("b", "bell"),
    ("↑↓", "move"),
];

/// Shown only while there are unlisted senders to add.
const ADOPT_HINT: (&str, &str) = ("n/N", "add unlisted");

pub(super) fn draw(frame: &mut Frame, area: Rect, s: &Screen) {
    let key = Style::new().add_modifier(Modifier::BOLD);
    let line = if let Some(notice) = &s.view.notice {
        let (text, tone) = match notice {
            Notice::Reloaded(t) => (t, Tone::Good),
            Notice::Failed(t) => (t, Tone::Bad),
            Notice::Info(t) => (t, Tone::Muted),
            Notice::Done(t) => (t, Tone::Good),
        };
        Line::from(Span::styled(
            format!(" {}", text::escape_str(text)),
            s.tone_style(tone),
        ))
    } else if let Some(problem) = s.snap.history.as_ref().and_then(|h| h.problem.as_ref()) {
        // A store that cannot write is said until it can again; monitoring goes on.
        Line::from(Span::styled(
            format!(" ⚠ {}", text::escape_str(problem)),
            s.tone_style(Tone::Bad),
        ))
    } else if let Some(c) = s.snap.notify.iter().find(|c| c.problem.is_some()) {
        // A channel that cannot deliver is said until it delivers again.
        let problem = c.problem.as_deref().unwrap_or_default();
        Line::from(Span::styled(
            format!(
                " ⚠ notify {} ({} waiting): {}",
                text::escape_str(&c.name),
                c.queue_depth,
                text::escape_str(problem),
            ),
            s.tone_style(Tone::Bad),
        ))
    } else if s.view.editing_filter {
        Line::from(vec![
            Span::styled(" filter: ", key),
            Span::raw(text::escape_str(&s.view.filter)),
            Span::styled("▏", key),
            Span::styled("   Enter keep · Esc clear", s.fg(Color::DarkGray)),
        ])
    } else {
        let mut spans = vec![Span::raw(" ")];
        let mut used = 1usize;
        // With unlisted senders in view, how to add them comes right after ack.
        let adopt = (!s.snap.unlisted.is_empty()).then_some(&ADOPT_HINT);
        let (first, rest) = HINTS.split_at(4.min(HINTS.len()));
        for (k, what) in first.iter().chain(adopt).chain(rest) {
            let len = k.chars().count() + what.len() + 3;
            if used + len > area.width as usize + 2 {
                break;
            }
            used += len;
            spans.push(Span::styled(*k, key));
            spans.push(Span::raw(format!(" {what}  ")));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}

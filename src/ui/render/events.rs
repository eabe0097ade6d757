//! The recent-transitions pane: newest first, one line per status change, with
//! the outcome that caused it.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::Screen;
use crate::model::Transition;
use crate::present;

pub(super) fn draw(frame: &mut Frame, area: Rect, s: &Screen) {
    let block = Block::new()
        .borders(Borders::TOP)
        .title(" Recent transitions ")
        .border_style(s.fg(Color::DarkGray));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let lines: Vec<Line> = s
        .snap
        .events
        .iter()
        .take(inner.height as usize)
        .map(|t| event_line(t, s))
        .collect();
    if lines.is_empty() {
        let p = Paragraph::new(" no transitions yet").style(s.fg(Color::DarkGray));
        frame.render_widget(p, inner);
    } else {
        frame.render_widget(Paragraph::new(lines), inner);
    }
}

/// `10:30:50 stage-02 synced → timeout  no reply within 5s`: the log's transition line,
/// with each status in its own colour.
fn event_line<'a>(t: &Transition, s: &Screen) -> Line<'a> {
    Line::from(vec![
        Span::styled(format!(" {} ", s.clock(t.at)), s.fg(Color::DarkGray)),
        Span::styled(
            present::name(t.node.as_str()),
            Style::new().add_modifier(Modifier::BOLD),
        ),
        Span::raw(" "),
        Span::styled(t.from.as_str(), s.status_style(t.from)),
        Span::raw(" → "),
        Span::styled(t.to.as_str(), s.status_style(t.to)),
        Span::styled(format!("  {}", t.outcome), s.fg(Color::DarkGray)),
    ])
}

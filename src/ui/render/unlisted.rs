//! The unlisted-senders strip below the table: push senders that match no node,
//! newest first. They are shown so they can be added, and never counted in the verdict.

use std::net::IpAddr;

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};

use super::{Screen, UNLISTED_ROWS};
use crate::present;
use crate::protocol::ReportedIp;
use crate::ui::view::Overlay;

pub(super) fn draw(frame: &mut Frame, area: Rect, s: &Screen) {
    let total = s.snap.unlisted.len();
    let title = if total > UNLISTED_ROWS {
        format!(" Unlisted senders ({total}, newest {UNLISTED_ROWS}) ")
    } else {
        format!(" Unlisted senders ({total}) ")
    };
    let block = Block::new()
        .borders(Borders::TOP)
        .title(title)
        .border_style(s.fg(Color::Yellow));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let mut newest: Vec<_> = s.snap.unlisted.iter().collect();
    newest.sort_by_key(|u| std::cmp::Reverse(u.last_seen));
    // The sender `n` would add is shown reversed while it is asked.
    let chosen = match &s.view.overlay {
        Overlay::Adopt(p) => p.highlighted(),
        _ => None,
    };
    let lines: Vec<Line> = newest
        .into_iter()
        .take(inner.height as usize)
        .map(|u| {
            let role = present::role_code_of(u.role(), u.code);
            let ip = match u.reported_ip {
                ReportedIp::V4(ip) => IpAddr::V4(ip),
                ReportedIp::Unknown => u.peer.ip().to_canonical(),
            };
            let style = if chosen == Some(ip) {
                Style::new().add_modifier(Modifier::REVERSED)
            } else {
                Style::new()
            };
            Line::from(vec![
                Span::raw(format!(" {:<16} ", u.reported_ip.to_string())),
                Span::styled(
                    format!("{:<14}", present::status_word(u.status)),
                    s.status_style(u.status),
                ),
                Span::raw(format!(" {role:<16} peer {}  ", u.peer)),
                Span::styled(
                    format!("last seen {}", s.clock(u.last_seen)),
                    s.fg(Color::DarkGray),
                ),
            ])
            .style(style)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

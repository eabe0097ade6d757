//! The connections page: every open push connection, like the multi-client
//! server's client list, in place of the node table.

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Row, Table};

use super::{Screen, empty_notice};
use crate::config::Mode;
use crate::present;
use crate::present::width::fit;

/// Terminal columns of the NODE column; a longer name is cut with `…`.
const NODE_COLS: u16 = 14;

pub(super) fn draw(frame: &mut Frame, area: Rect, s: &Screen) {
    let conns = &s.snap.connections;
    let height = area.height.saturating_sub(1) as usize;
    let offset = s.view.conn_offset.min(conns.len().saturating_sub(height));
    let rows = conns.iter().skip(offset).take(height).map(|c| {
        let node = match &c.node {
            Some(k) => Cell::from(fit(&present::name(k.as_str()), NODE_COLS as usize).into_owned()),
            None => Cell::from("unlisted"),
        };
        Row::new(vec![
            Cell::from(c.peer.to_string()),
            Cell::from(s.clock(c.opened_at)),
            Cell::from(c.lines.to_string()),
            Cell::from(c.invalid_lines.to_string()),
            node,
            Cell::from(c.last_line_text()),
        ])
    });
    let header = Row::new(["PEER", "CONNECTED", "LINES", "INVALID", "NODE", "LAST LINE"])
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let widths = [
        Constraint::Length(21),
        Constraint::Length(9),
        Constraint::Length(6),
        Constraint::Length(7),
        Constraint::Length(NODE_COLS),
        Constraint::Fill(1),
    ];
    frame.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        area,
    );
    if conns.is_empty() && area.height > 2 {
        let msg = if s.snap.nodes.iter().any(|n| n.mode() == Mode::Push) {
            "no push connections open (c returns to the nodes)"
        } else {
            "no push connections: no [listen] in the config (c returns to the nodes)"
        };
        empty_notice(frame, area, msg, s);
    }
}

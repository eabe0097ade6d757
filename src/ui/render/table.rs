//! The nodes page: one row per visible node, columns sized to what is on screen
//! and dropped by rank when the terminal is narrow.

use std::borrow::Cow;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::widgets::{Cell, Row, Table};

use super::{Screen, empty_notice};
use crate::present::width::{fit, width};
use crate::present::{self, FLAPPING, Tone, quiet};
use crate::state::NodeView;

/// Table columns, in display order, with how readily they are dropped.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Col {
    Status,
    Name,
    Address,
    Group,
    Role,
    Latency,
    Since,
    Reply,
    Error,
}

impl Col {
    const ALL: [Col; 9] = [
        Col::Status,
        Col::Name,
        Col::Address,
        Col::Group,
        Col::Role,
        Col::Latency,
        Col::Since,
        Col::Reply,
        Col::Error,
    ];

    fn title(self) -> &'static str {
        match self {
            Col::Status => "STATUS",
            Col::Name => "NAME",
            Col::Address => "ADDRESS",
            Col::Group => "GROUP",
            Col::Role => "ROLE/CODE",
            Col::Latency => "LATENCY",
            Col::Since => "SINCE",
            Col::Reply => "LAST REPLY",
            Col::Error => "ERROR",
        }
    }

    /// Higher goes first when the terminal is narrow.
    fn drop_rank(self) -> u8 {
        match self {
            Col::Status | Col::Name | Col::Error => 0,
            Col::Role => 1,
            Col::Latency => 2,
            Col::Since => 3,
            Col::Group => 4,
            Col::Address => 5,
            Col::Reply => 6,
        }
    }

    /// This column's text for a node; empty cells borrow instead of allocating.
    fn text(self, n: &NodeView, s: &Screen) -> Cow<'static, str> {
        let text = match self {
            Col::Status => status_text(n),
            Col::Name => present::name(n.name()),
            Col::Address => n.config.address(),
            Col::Group => match n.group() {
                Some(g) => present::name(g),
                None => return Cow::Borrowed(""),
            },
            Col::Role => present::role_code(n),
            Col::Latency => match n.latency() {
                Some(l) => present::format_latency(l),
                None => return Cow::Borrowed(""),
            },
            Col::Since => s.age(n.since),
            Col::Reply => present::reply_text(n),
            Col::Error => match n.error() {
                Some(e) => e,
                None => return Cow::Borrowed(""),
            },
        };
        Cow::Owned(text)
    }
}

/// `✖ free ↯ ✓`: the status, then ↯ when flapping, ⚒ in a maintenance window,
/// ✓ when acknowledged (its own ack or its group's).
fn status_text(n: &NodeView) -> String {
    let mut text = present::status_word(n.status);
    if n.flapping {
        text.push(' ');
        text.push_str(FLAPPING);
    }
    if n.maintenance.is_some() {
        text.push(' ');
        text.push_str(quiet::MAINTENANCE_MARK);
    } else if n.ack.is_some() {
        text.push(' ');
        text.push_str(quiet::ACK_MARK);
    }
    text
}

/// The least room the error column is given before others are dropped.
const ERROR_MIN: u16 = 16;
/// The most room any other column takes.
const COL_MAX: u16 = 24;

pub(super) fn draw(frame: &mut Frame, area: Rect, s: &Screen) {
    let view = s.view;
    let height = area.height.saturating_sub(1) as usize;
    let end = (view.offset + height).min(view.order.len());
    let ids = &view.order[view.offset.min(end)..end];
    let visible: Vec<&NodeView> = ids.iter().filter_map(|i| s.snap.nodes.get(*i)).collect();
    // Cells of the visible rows only; column widths fit what is on screen.
    let cells: Vec<[Cow<'static, str>; Col::ALL.len()]> = visible
        .iter()
        .map(|n| Col::ALL.map(|c| c.text(n, s)))
        .collect();
    let mut widths: Vec<u16> = Col::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| {
            // Terminal columns, not characters: `서버-01` is five characters, seven columns.
            let content = cells.iter().map(|r| width(&r[i])).max().unwrap_or(0);
            let w = content.max(c.title().len()) as u16;
            match c {
                Col::Error => ERROR_MIN,
                _ => w.min(COL_MAX),
            }
        })
        .collect();
    let mut shown: Vec<bool> = vec![true; Col::ALL.len()];
    let total = |shown: &[bool], widths: &[u16]| -> u16 {
        let n = shown.iter().filter(|x| **x).count() as u16;
        shown
            .iter()
            .zip(widths)
            .filter(|(s, _)| **s)
            .map(|(_, w)| *w)
            .sum::<u16>()
            + n.saturating_sub(1)
    };
    while total(&shown, &widths) > area.width {
        let drop = Col::ALL
            .iter()
            .enumerate()
            .filter(|(i, c)| shown[*i] && c.drop_rank() > 0)
            .max_by_key(|(_, c)| c.drop_rank())
            .map(|(i, _)| i);
        match drop {
            Some(i) => shown[i] = false,
            None => break,
        }
    }
    // The error column takes whatever is left.
    let error_idx = Col::ALL.len() - 1;
    widths[error_idx] = 0;
    let rest = area.width.saturating_sub(total(&shown, &widths));
    widths[error_idx] = rest.max(ERROR_MIN.min(area.width));

    let cols: Vec<usize> = (0..Col::ALL.len()).filter(|i| shown[*i]).collect();
    let header = Row::new(cols.iter().map(|i| Cell::from(Col::ALL[*i].title())))
        .style(Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED));
    let rows = visible
        .iter()
        .zip(&cells)
        .enumerate()
        .map(|(i, (n, row_cells))| {
            let selected = view.offset + i == view.selected;
            // A node in maintenance is dimmed, its status grey: it alarms nobody.
            let quiet = n.maintenance.is_some();
            let row = Row::new(cols.iter().map(|ci| {
                let mut cell = Cell::from(fit(&row_cells[*ci], widths[*ci] as usize));
                if Col::ALL[*ci] == Col::Status {
                    cell = cell.style(if quiet {
                        s.tone_style(Tone::Muted)
                    } else {
                        s.status_style(n.status)
                    });
                }
                cell
            }));
            let mut style = Style::new();
            if quiet {
                style = style.add_modifier(Modifier::DIM);
            }
            if selected {
                style = style.add_modifier(Modifier::REVERSED);
            }
            row.style(style)
        });
    let constraints = cols.iter().map(|i| Constraint::Length(widths[*i]));
    let table = Table::new(rows, constraints)
        .header(header)
        .column_spacing(1);
    frame.render_widget(table, area);
    if view.order.is_empty() && area.height > 2 {
        let msg = if s.snap.nodes.is_empty() {
            "no nodes"
        } else if view.problems_only && view.filter.is_empty() {
            "no problems: every node is synced or pending"
        } else {
            "no nodes match the filter (Esc clears it)"
        };
        empty_notice(frame, area, msg, s);
    }
}

//! Drawing the dashboard: a pure function of fleet state, view state and the clock.
//! Only the rows on screen are built, so a frame costs the same for 24 or 10,000 nodes.

use std::time::SystemTime;

use chrono::{DateTime, FixedOffset};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table, Wrap};

use crate::config::Mode;
use crate::model::{GroupHealth, Observation, Status, Transition, Verdict};
use crate::present::{self, FLAPPING, Tone, format_age, format_latency, role_code, status_word};
use crate::protocol::text;
use crate::state::{NodeView, Snapshot};
use crate::ui::view::{Notice, Overlay, Page, View};

/// Everything a frame is drawn from.
pub struct Screen<'a> {
    pub snap: &'a Snapshot,
    /// The detail popup's node's recent results, oldest first (asked of the hub).
    pub history: &'a [Observation],
    pub view: &'a View,
    /// Name of the fleet file, for the header.
    pub source: &'a str,
    pub now: SystemTime,
    /// Offset used for clock times (local time in the dashboard, UTC in tests).
    pub tz: FixedOffset,
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
    header(frame, a.header, s);
    match s.view.page {
        Page::Nodes => table(frame, a.table, s),
        Page::Connections => connections(frame, a.table, s),
    }
    if a.unlisted.height > 0 {
        unlisted(frame, a.unlisted, s);
    }
    if a.events.height > 0 {
        events(frame, a.events, s);
    }
    footer(frame, a.footer, s);
    match &s.view.overlay {
        Overlay::None => {}
        Overlay::Help => help(frame, s),
        Overlay::Detail(key) => {
            if let Some(node) = s.snap.node(key.as_str()) {
                detail(frame, node, s);
            }
        }
    }
}

impl Screen<'_> {
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
        match t {
            Tone::Good => self.fg(Color::Green),
            Tone::Warn => self.fg(Color::Yellow).add_modifier(Modifier::BOLD),
            Tone::Muted => self.fg(Color::DarkGray),
            Tone::Bad => self.fg(Color::Red).add_modifier(Modifier::BOLD),
        }
    }

    fn clock(&self, t: SystemTime) -> String {
        DateTime::<chrono::Utc>::from(t)
            .with_timezone(&self.tz)
            .format("%H:%M:%S")
            .to_string()
    }

    fn age(&self, t: SystemTime) -> String {
        format_age(self.now.duration_since(t).unwrap_or_default())
    }
}

fn header(frame: &mut Frame, area: Rect, s: &Screen) {
    let verdict = s.snap.verdict;
    let counts = &s.snap.counts;
    // Before any answer "OK" would be a claim nothing supports yet.
    let waiting =
        verdict == Verdict::Ok && counts.get(Status::Pending) > 0 && counts.healthy() == 0;
    let verdict_style = if s.color {
        let bg = match verdict {
            _ if waiting => Color::DarkGray,
            Verdict::Ok => Color::Green,
            Verdict::Warning => Color::Yellow,
            Verdict::Critical | Verdict::Unknown => Color::Red,
        };
        Style::new()
            .bg(bg)
            .fg(Color::Black)
            .add_modifier(Modifier::BOLD)
    } else {
        Style::new().add_modifier(Modifier::BOLD | Modifier::REVERSED)
    };
    let clock = s.clock(s.now);
    let title = format!(" SyncGuard fleet · {}", text::escape_str(s.source));
    let verdict_text = if waiting {
        " WAITING ".to_owned()
    } else {
        format!(" {verdict} ")
    };
    let used = title.chars().count() + verdict_text.chars().count() + clock.chars().count() + 2;
    let gap = (area.width as usize).saturating_sub(used);
    let line1 = Line::from(vec![
        Span::styled(title, Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" ".repeat(gap)),
        Span::styled(verdict_text, verdict_style),
        Span::raw(" "),
        Span::raw(clock),
    ]);
    let mut spans = vec![Span::raw(format!(" {} nodes", counts.total()))];
    for (st, n) in counts.nonzero() {
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(format!("{n} {st}"), s.status_style(st)));
    }
    // View flags on the right, most important first; those that do not fit are left off.
    let mut flags = Vec::new();
    if !s.view.filter.is_empty() && !s.view.editing_filter {
        flags.push(format!("filter: {}", text::escape_str(&s.view.filter)));
    }
    if s.view.problems_only {
        flags.push("problems only".into());
    }
    if !s.view.bell {
        flags.push("bell off".into());
    }
    flags.push(format!("sort: {}", s.view.sort.as_str()));
    let left_len: usize = spans.iter().map(|sp| sp.content.chars().count()).sum();
    let room = (area.width as usize).saturating_sub(left_len + 2);
    let mut right = String::new();
    for f in flags {
        let extra = if right.is_empty() {
            f.chars().count()
        } else {
            f.chars().count() + 3
        };
        if right.chars().count() + extra > room {
            continue;
        }
        if !right.is_empty() {
            right.push_str(" · ");
        }
        right.push_str(&f);
    }
    if !right.is_empty() {
        let gap = (area.width as usize).saturating_sub(left_len + right.chars().count() + 1);
        spans.push(Span::raw(" ".repeat(gap)));
        spans.push(Span::styled(right, s.fg(Color::DarkGray)));
    }
    let mut lines = vec![line1, Line::from(spans)];
    if !&s.snap.groups.is_empty() {
        lines.push(groups_line(s));
    }
    frame.render_widget(Paragraph::new(lines), area);
}

/// ` groups 2/4 healthy · ✖ wall-A no master · ✖ stage-C 1 of 8 members unhealthy`
fn groups_line<'a>(s: &Screen) -> Line<'a> {
    let groups = &s.snap.groups;
    let healthy = groups
        .iter()
        .filter(|g| g.health == GroupHealth::Healthy)
        .count();
    let mut spans = vec![Span::raw(format!(
        " groups {healthy}/{} healthy",
        groups.len()
    ))];
    for g in groups {
        let (mark, detail, style) = match &g.health {
            GroupHealth::Healthy => continue,
            GroupHealth::Pending => ("…", String::new(), s.status_style(Status::Pending)),
            GroupHealth::Unhealthy(_) => {
                ("✖", present::group_problem_short(&g.health), s.status_style(Status::Free))
            }
        };
        spans.push(Span::raw(" · "));
        spans.push(Span::styled(
            format!("{mark} {}{detail}", text::escape_str(&g.name)),
            style,
        ));
    }
    Line::from(spans)
}

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
}

/// The least room the error column is given before others are dropped.
const ERROR_MIN: u16 = 16;

/// Marks a flapping node next to its status word.

fn cell_text(col: Col, n: &NodeView, flapping: bool, s: &Screen) -> String {
    match col {
        Col::Status if flapping => format!("{} {FLAPPING}", status_word(n.status)),
        Col::Status => status_word(n.status),
        Col::Name => text::escape_str(n.name()),
        Col::Address => n.config.address(),
        Col::Group => n.group().map(text::escape_str).unwrap_or_default(),
        Col::Role => role_code(n),
        Col::Latency => n.latency().map(format_latency).unwrap_or_default(),
        Col::Since => s.age(n.since),
        Col::Reply => n.reply().map(|r| r.to_string()).unwrap_or_default(),
        Col::Error => n.error().unwrap_or_default(),
    }
}

fn table(frame: &mut Frame, area: Rect, s: &Screen) {
    let view = s.view;
    let height = area.height.saturating_sub(1) as usize;
    let end = (view.offset + height).min(view.order.len());
    let ids = &view.order[view.offset.min(end)..end];
    let visible: Vec<&NodeView> = ids.iter().filter_map(|i| s.snap.nodes.get(*i)).collect();
    // Cells of the visible rows only; column widths fit what is on screen.
    let cells: Vec<Vec<String>> = visible
        .iter()
        .map(|n| {
            let flapping = n.flapping;
            Col::ALL
                .iter()
                .map(|c| cell_text(*c, n, flapping, s))
                .collect()
        })
        .collect();
    let mut widths: Vec<u16> = Col::ALL
        .iter()
        .enumerate()
        .map(|(i, c)| {
            let content = cells
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0);
            let w = content.max(c.title().len()) as u16;
            match c {
                Col::Name => w.min(24),
                Col::Error => ERROR_MIN,
                _ => w.min(24),
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
        .zip(cells)
        .enumerate()
        .map(|(i, (n, row_cells))| {
            let selected = view.offset + i == view.selected;
            let row = Row::new(cols.iter().map(|ci| {
                let mut cell = Cell::from(fit(&row_cells[*ci], widths[*ci] as usize));
                if Col::ALL[*ci] == Col::Status {
                    cell = cell.style(s.status_style(n.status));
                }
                cell
            }));
            if selected {
                row.style(Style::new().add_modifier(Modifier::REVERSED))
            } else {
                row
            }
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

/// Cuts text to `width` characters, marking the cut with `…`.
fn fit(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Senders that are not in the node list: shown, never counted in the verdict.
fn unlisted(frame: &mut Frame, area: Rect, s: &Screen) {
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
    let lines: Vec<Line> = newest
        .into_iter()
        .take(inner.height as usize)
        .map(|u| {
            let role = match (u.role(), u.code) {
                (Some(r), Some(c)) => format!("{r} (state{c})"),
                _ => String::new(),
            };
            Line::from(vec![
                Span::raw(format!(" {:<16} ", u.reported_ip.to_string())),
                Span::styled(
                    format!("{:<14}", status_word(u.status)),
                    s.status_style(u.status),
                ),
                Span::raw(format!(" {role:<16} peer {}  ", u.peer)),
                Span::styled(
                    format!("last seen {}", s.clock(u.last_seen)),
                    s.fg(Color::DarkGray),
                ),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

/// The connections page: every open push connection, like the multi-client
/// server's client list.
fn connections(frame: &mut Frame, area: Rect, s: &Screen) {
    let conns = &s.snap.connections;
    let height = area.height.saturating_sub(1) as usize;
    let offset = s.view.conn_offset.min(conns.len().saturating_sub(height));
    let rows = conns.iter().skip(offset).take(height).map(|c| {
        let node = c
            .node
            .as_ref()
            .map(|k| present::name(k.as_str()))
            .unwrap_or_else(|| "unlisted".into());
        Row::new(vec![
            Cell::from(c.peer.to_string()),
            Cell::from(s.clock(c.opened_at)),
            Cell::from(c.lines.to_string()),
            Cell::from(c.invalid_lines.to_string()),
            Cell::from(node),
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
        Constraint::Length(14),
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

fn events(frame: &mut Frame, area: Rect, s: &Screen) {
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

fn event_line<'a>(t: &Transition, s: &Screen) -> Line<'a> {
    let name = present::name(t.node.as_str());
    Line::from(vec![
        Span::styled(format!(" {} ", s.clock(t.at)), s.fg(Color::DarkGray)),
        Span::styled(name, Style::new().add_modifier(Modifier::BOLD)),
        Span::raw(" "),
        Span::styled(t.from.as_str(), s.status_style(t.from)),
        Span::raw(" → "),
        Span::styled(t.to.as_str(), s.status_style(t.to)),
        Span::styled(format!("  {}", t.outcome), s.fg(Color::DarkGray)),
    ])
}

fn footer(frame: &mut Frame, area: Rect, s: &Screen) {
    let key = Style::new().add_modifier(Modifier::BOLD);
    let line = if let Some(notice) = &s.view.notice {
        let (text, tone) = match notice {
            Notice::Reloaded(t) => (t, Tone::Good),
            Notice::Failed(t) => (t, Tone::Bad),
        };
        Line::from(Span::styled(
            format!(" {}", text::escape_str(text)),
            s.tone_style(tone),
        ))
    } else if s.view.editing_filter {
        Line::from(vec![
            Span::styled(" filter: ", key),
            Span::raw(text::escape_str(&s.view.filter)),
            Span::styled("▏", key),
            Span::styled("   Enter keep · Esc clear", s.fg(Color::DarkGray)),
        ])
    } else {
        // Most important first: whole hints that do not fit are left off.
        let hints: &[(&str, &str)] = &[
            ("q", "quit"),
            ("?", "help"),
            ("Enter", "detail"),
            ("/", "filter"),
            ("p", "problems"),
            ("s", "sort"),
            ("r/R", "re-poll"),
            ("c", "conns"),
            ("b", "bell"),
            ("↑↓", "move"),
        ];
        let mut spans = vec![Span::raw(" ")];
        let mut used = 1usize;
        for (k, what) in hints {
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
    ("c", "open push connections / back to the nodes"),
    ("L", "reload the config file (bad files are rejected)"),
    ("b", "toggle the bell on transitions to unhealthy"),
    (
        "↯ (in STATUS)",
        "flapping: many status changes in a short time",
    ),
    ("?", "this help"),
];

fn help(frame: &mut Frame, s: &Screen) {
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

fn detail(frame: &mut Frame, n: &NodeView, s: &Screen) {
    let block = Block::bordered()
        .title(format!(" {} ", text::escape_str(n.name())))
        .border_style(s.fg(Color::Cyan));
    let dim = s.fg(Color::DarkGray);
    let role = role_code(n);
    let mut head = vec![
        Span::styled(status_word(n.status), s.status_style(n.status)),
        Span::raw(format!(" since {} ({})", s.clock(n.since), s.age(n.since))),
    ];
    if !role.is_empty() {
        head.insert(1, Span::raw(format!("  {role}")));
    }
    let last_reply = n
        .last_reply_at
        .map(|t| format!("{} ({} ago)", s.clock(t), s.age(t)))
        .unwrap_or_else(|| "never".into());
    let reported = n
        .reported_ip()
        .map(|ip| ip.to_string())
        .unwrap_or_else(|| "-".into());
    let mut lines = vec![
        Line::from(head),
        Line::from(vec![
            Span::styled("address ", dim),
            Span::raw(n.config.address()),
            Span::styled("   group ", dim),
            Span::raw(
                n.group()
                    .map(text::escape_str)
                    .unwrap_or_else(|| "-".into()),
            ),
            Span::styled("   connection ", dim),
            Span::raw(if n.connected { "open" } else { "closed" }),
        ]),
        Line::from(vec![
            Span::styled("reported IP ", dim),
            Span::raw(reported),
            Span::styled("   last reply ", dim),
            Span::raw(last_reply),
        ]),
        Line::from(vec![
            Span::styled(
                format!(
                    "flaps ({}) ",
                    humantime::format_duration(s.snap.flap_window)
                ),
                dim,
            ),
            Span::raw(n.flaps.to_string()),
            Span::styled("   transitions ", dim),
            Span::raw(n.transitions.to_string()),
        ]),
    ];
    if n.mode() == Mode::Poll {
        if let Some(line) = lines.last_mut() {
            line.spans.push(Span::styled("   poll every ", dim));
            line.spans.push(Span::raw(format!(
                "{}–{}, timeout {}",
                humantime::format_duration(n.config.interval),
                humantime::format_duration(n.config.max_interval),
                humantime::format_duration(n.config.timeout)
            )));
        }
    }
    if n.mode() == Mode::Push {
        let peer = n
            .peer
            .map(|p| p.to_string())
            .unwrap_or_else(|| "none yet".into());
        let mut push = vec![
            Span::styled("push · peer ", dim),
            Span::raw(peer),
            Span::styled(
                format!(
                    "   stale after {}",
                    humantime::format_duration(n.config.stale_after)
                ),
                dim,
            ),
        ];
        if n.peer_differs() {
            push.push(Span::styled(
                "   differs from the reported IP (NAT or several NICs)",
                s.fg(Color::Yellow),
            ));
        }
        lines.push(Line::from(push));
        let conflict = &n.conflicting_peers;
        if let Some(note) = present::silent_connects_note(n) {
            lines.push(Line::from(Span::styled(note, s.status_style(Status::Free))));
        }
        if !conflict.is_empty() {
            let list: Vec<String> = conflict.iter().map(|p| p.to_string()).collect();
            lines.push(Line::from(Span::styled(
                format!(
                    "conflict: several peers claim this node: {}",
                    list.join(", ")
                ),
                s.status_style(Status::Free),
            )));
        }
    }
    if let Some(err) = n.error() {
        lines.push(Line::from(vec![
            Span::styled("error ", dim),
            Span::styled(err, s.status_style(n.status)),
        ]));
    }
    lines.push(Line::from(Span::styled(
        format!(
            " {:<9} {:<14} {:>8}  {}",
            "TIME", "STATUS", "LATENCY", "REPLY / ERROR"
        ),
        Style::new().add_modifier(Modifier::BOLD | Modifier::UNDERLINED),
    )));
    for o in s.history.iter().rev() {
        let st = o.outcome.status();
        let what = match o.outcome.reply() {
            Some(r) => r.to_string(),
            None => o.outcome.to_string(),
        };
        lines.push(Line::from(vec![
            Span::raw(format!(" {:<9} ", s.clock(o.at))),
            Span::styled(format!("{:<14}", status_word(st)), s.status_style(st)),
            Span::raw(format!(
                " {:>8}  ",
                o.latency.map(format_latency).unwrap_or_default()
            )),
            Span::raw(what),
        ]));
    }
    if s.history.is_empty() {
        lines.push(Line::from(Span::styled(" not polled yet", dim)));
    }
    lines.push(Line::from(Span::styled(" Enter or Esc closes", dim)));
    let area = centered(frame.area(), 100, lines.len() as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

//! The detail popup for one node: status, its maintenance window or the ack that
//! covers it (who, when, until, why), address, group, connection, flaps, push
//! peer notes, its record from the history file (in-lock shares, last
//! incidents), and its recent results newest first.

use ratatui::Frame;
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Clear, Paragraph, Wrap};

use super::{RecordView, Screen, centered};
use crate::config::Mode;
use crate::model::{Status, Target};
use crate::present::{self, format_latency, quiet, status_word};
use crate::state::NodeView;

pub(super) fn draw(frame: &mut Frame, n: &NodeView, s: &Screen) {
    let block = Block::bordered()
        .title(format!(" {} ", present::name(n.name())))
        .border_style(s.fg(Color::Cyan));
    let dim = s.fg(Color::DarkGray);
    let role = present::role_code(n);
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
    let mut lines = vec![Line::from(head)];
    quiet_lines(&mut lines, n, s);
    lines.extend([
        Line::from(vec![
            Span::styled("address ", dim),
            Span::raw(n.config.address()),
            Span::styled("   group ", dim),
            Span::raw(n.group().map_or_else(|| "-".into(), present::name)),
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
    ]);
    if n.mode() == Mode::Poll
        && let Some(line) = lines.last_mut()
    {
        line.spans.push(Span::styled("   poll every ", dim));
        line.spans.push(Span::raw(format!(
            "{}–{}, timeout {}",
            humantime::format_duration(n.config.interval),
            humantime::format_duration(n.config.max_interval),
            humantime::format_duration(n.config.timeout)
        )));
    }
    if n.mode() == Mode::Push {
        push_lines(&mut lines, n, s);
    }
    if let Some(err) = n.error() {
        lines.push(Line::from(vec![
            Span::styled("error ", dim),
            Span::styled(err, s.status_style(n.status)),
        ]));
    }
    record_lines(&mut lines, s);
    history_lines(&mut lines, s);
    // What `a` and `A` would do here.
    let hint = if n.ack.is_some() {
        " Enter or Esc closes · A removes the ack"
    } else if n.maintenance.is_none() && n.status.is_problem() {
        " Enter or Esc closes · a acknowledges"
    } else {
        " Enter or Esc closes"
    };
    lines.push(Line::from(Span::styled(hint, dim)));
    // Long lines (an ack's reason, an error) wrap: count the rows they take.
    let inner = frame.area().width.min(100).saturating_sub(2).max(1) as usize;
    let rows: usize = lines.iter().map(|l| l.width().max(1).div_ceil(inner)).sum();
    let area = centered(frame.area(), 100, rows as u16 + 2);
    frame.render_widget(Clear, area);
    frame.render_widget(
        Paragraph::new(lines)
            .block(block)
            .wrap(Wrap { trim: false }),
        area,
    );
}

/// `⚒ maintenance: weekly-reboots`, and `✓ acknowledged by alice: re-imaging (at
/// …, until …)` (naming the group when its ack covers the node).
fn quiet_lines(lines: &mut Vec<Line>, n: &NodeView, s: &Screen) {
    if let Some(w) = &n.maintenance {
        lines.push(Line::from(Span::styled(
            format!("{} {}", quiet::MAINTENANCE_MARK, quiet::in_window(w)),
            s.fg(Color::DarkGray).add_modifier(Modifier::BOLD),
        )));
    }
    if let Some(a) = &n.ack {
        let me = Target::Node(n.name().to_owned());
        lines.push(Line::from(Span::styled(
            format!("{} {}", quiet::ACK_MARK, quiet::covered_line(&me, a, &s.tz)),
            s.fg(Color::Cyan),
        )));
    }
}

/// Push nodes: the TCP peer, the stale limit, and what is odd about the sender.
fn push_lines(lines: &mut Vec<Line>, n: &NodeView, s: &Screen) {
    let dim = s.fg(Color::DarkGray);
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
    if let Some(note) = present::silent_connects_note(n) {
        lines.push(Line::from(Span::styled(note, s.status_style(Status::Free))));
    }
    let conflict = &n.conflicting_peers;
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

/// From the history file: the in-lock share over 24 h, 7 d and 30 d (of the
/// time it was monitored) and the last incidents.
fn record_lines(lines: &mut Vec<Line>, s: &Screen) {
    let dim = s.fg(Color::DarkGray);
    let r = match s.record {
        RecordView::Off => {
            lines.push(Line::from(Span::styled("history off", dim)));
            return;
        }
        RecordView::Loading => {
            lines.push(Line::from(Span::styled("history: reading…", dim)));
            return;
        }
        RecordView::Failed(e) => {
            lines.push(Line::from(Span::styled(
                format!("history: {e}"),
                s.fg(Color::Yellow),
            )));
            return;
        }
        RecordView::Ready(r) => r,
    };
    let mut shares = vec![Span::styled("in lock", dim)];
    for (span, sh) in &r.shares {
        let p = present::in_lock_percent(sh);
        shares.push(Span::styled(format!("   {span} "), dim));
        shares.push(Span::raw(p));
    }
    lines.push(Line::from(shares));
    if r.incidents.is_empty() {
        lines.push(Line::from(Span::styled("no incidents in 30d", dim)));
        return;
    }
    let now = crate::store::ms(s.now);
    for i in &r.incidents {
        let length = present::short_duration(i.duration(now));
        let first = present::incident_cause(i.first_reply.as_deref(), i.first_error.as_deref());
        lines.push(Line::from(vec![
            Span::styled("incident ", dim),
            Span::raw(format!(
                "{} {length:>7} {:<4} ",
                s.date_clock(crate::store::read::time(i.start)),
                if i.end.is_none() { "open" } else { "" },
            )),
            Span::styled(i.statuses.join(","), s.fg(Color::Red)),
            Span::styled(format!("  {first}"), dim),
        ]));
    }
}

/// The node's recent results under a column header, newest first.
fn history_lines(lines: &mut Vec<Line>, s: &Screen) {
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
        lines.push(Line::from(Span::styled(
            " not polled yet",
            s.fg(Color::DarkGray),
        )));
    }
}

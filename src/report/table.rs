//! The `--once` table for people: nodes, sync groups and unlisted senders, aligned,
//! with the status column coloured only when stdout is a terminal.

use std::fmt::Write;
use std::time::SystemTime;

use crate::model::{Ack, GroupHealth, Status, Target};
use crate::present::width::{self, fit};
use crate::present::{self, Tone, quiet};
use crate::state::Snapshot;

/// The header of the maintenance and acknowledgement column, shown only when
/// some node or group is in maintenance or acknowledged.
const QUIET_HEAD: &str = "MAINT/ACK";

/// The most terminal columns a node or group name takes; a longer one is cut
/// with `…` so one long name does not push every other column off the screen.
pub const NAME_MAX: usize = 32;

/// A node or group name, escaped, cut to [`NAME_MAX`] columns.
fn name_cell(name: &str) -> String {
    fit(&present::name(name), NAME_MAX).into_owned()
}

/// The plain-text table. `color` adds ANSI colour to the status column and verdict.
pub fn table(snap: &Snapshot, color: bool) -> String {
    let mut out = String::new();
    let now = snap.taken_at;
    let node_quiet = snap
        .nodes
        .iter()
        .any(|n| n.maintenance.is_some() || n.ack.is_some());
    let rows: Vec<(Vec<String>, Status)> = snap
        .nodes
        .iter()
        .map(|n| {
            let mut cells = vec![
                name_cell(n.name()),
                n.config.address(),
                n.group().map(name_cell).unwrap_or_else(|| "-".into()),
                present::status_word(n.status),
                present::role_code(n),
                n.latency()
                    .map(present::format_latency)
                    .unwrap_or_else(|| "-".into()),
                n.error().unwrap_or_default(),
            ];
            if node_quiet {
                let me = Target::Node(n.name().to_owned());
                cells.insert(
                    4,
                    quiet_cell(&me, n.maintenance.as_deref(), n.ack.as_deref(), now),
                );
            }
            (cells, n.status)
        })
        .collect();
    let mut head = vec![
        "NAME",
        "ADDRESS",
        "GROUP",
        "STATUS",
        "ROLE/CODE",
        "LATENCY",
        "ERROR",
    ];
    if node_quiet {
        head.insert(4, QUIET_HEAD);
    }
    push_table(&mut out, &head, &rows, 3, color);

    if !snap.groups.is_empty() {
        out.push('\n');
        let group_quiet = snap
            .groups
            .iter()
            .any(|g| g.maintenance.is_some() || g.ack.is_some());
        let rows: Vec<(Vec<String>, Status)> = snap
            .groups
            .iter()
            .map(|g| {
                let (word, st, problem) = match &g.health {
                    GroupHealth::Healthy => ("✔ healthy", Status::Synced, String::new()),
                    GroupHealth::Pending => ("… pending", Status::Pending, String::new()),
                    GroupHealth::Unhealthy(_) => (
                        "✖ unhealthy",
                        Status::Free,
                        present::group_health(&g.health).unwrap_or_default(),
                    ),
                };
                let masters = if g.has_roles {
                    g.masters.to_string()
                } else {
                    "-".into()
                };
                let mut cells = vec![
                    name_cell(&g.name),
                    word.into(),
                    masters,
                    g.members.len().to_string(),
                    problem,
                ];
                if group_quiet {
                    let me = Target::Group(g.name.to_string());
                    cells.insert(
                        2,
                        quiet_cell(&me, g.maintenance.as_deref(), g.ack.as_deref(), now),
                    );
                }
                (cells, st)
            })
            .collect();
        let mut head = vec!["SYNC GROUP", "HEALTH", "MASTERS", "MEMBERS", "PROBLEM"];
        if group_quiet {
            head.insert(2, QUIET_HEAD);
        }
        push_table(&mut out, &head, &rows, 1, color);
    }

    if !snap.unlisted.is_empty() {
        out.push('\n');
        let rows: Vec<(Vec<String>, Status)> = snap
            .unlisted
            .iter()
            .map(|u| {
                let cells = vec![
                    u.reported_ip.to_string(),
                    u.peer.to_string(),
                    present::status_word(u.status),
                    present::role_code_of(u.role(), u.code),
                    u.lines.to_string(),
                ];
                (cells, u.status)
            })
            .collect();
        push_table(
            &mut out,
            &["UNLISTED SENDER", "PEER", "STATUS", "ROLE/CODE", "LINES"],
            &rows,
            2,
            color,
        );
    }

    let verdict = snap.verdict;
    let verdict_text = if color {
        format!(
            "\x1b[1;{}m{verdict}\x1b[0m",
            ansi(present::verdict_tone(verdict))
        )
    } else {
        verdict.to_string()
    };
    let mut summary = present::summary_line(&snap.counts);
    let maintenance = snap.in_maintenance();
    if maintenance > 0 {
        let _ = write!(
            summary,
            " · {} {maintenance} in maintenance",
            quiet::MAINTENANCE_MARK
        );
    }
    let acked = snap.acknowledged();
    if acked > 0 {
        let _ = write!(summary, " · {} {acked} acknowledged", quiet::ACK_MARK);
    }
    let _ = writeln!(out, "\n{summary} — {verdict_text}");
    out
}

/// The maintenance and acknowledgement cell: `⚒ weekly-reboots`, or `✓ ack
/// alice (api) 1h 59m left`, with the group named when its ack covers a member
/// (`✓ @wall-B: ack …`); empty when neither.
fn quiet_cell(me: &Target, window: Option<&str>, ack: Option<&Ack>, now: SystemTime) -> String {
    if let Some(w) = window {
        return format!("{} {}", quiet::MAINTENANCE_MARK, present::name(w));
    }
    match ack {
        Some(a) if a.target == *me => format!("{} {}", quiet::ACK_MARK, quiet::ack_short(a, now)),
        Some(a) => format!(
            "{} {}: {}",
            quiet::ACK_MARK,
            quiet::target(&a.target),
            quiet::ack_short(a, now)
        ),
        None => String::new(),
    }
}

/// Appends an aligned table; the cell at `paint_col` is coloured by its row status.
/// Columns are as wide as their widest cell in terminal columns, so a name in
/// Hangul or kana (two columns a character) keeps the columns after it in line.
fn push_table(
    out: &mut String,
    head: &[&str],
    rows: &[(Vec<String>, Status)],
    paint_col: usize,
    color: bool,
) {
    let mut widths: Vec<usize> = head.iter().map(|h| width::width(h)).collect();
    for (cells, _) in rows {
        for (w, cell) in widths.iter_mut().zip(cells) {
            *w = (*w).max(width::width(cell));
        }
    }
    let head: Vec<String> = head.iter().map(|h| h.to_string()).collect();
    push_row(out, &head, &widths, None);
    for (cells, st) in rows {
        let paint = color.then(|| (paint_col, ansi(present::tone(*st))));
        push_row(out, cells, &widths, paint);
    }
}

fn push_row(out: &mut String, cells: &[String], widths: &[usize], paint: Option<(usize, &str)>) {
    let mut line = String::new();
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        // Measured on the text alone: the colour codes added below take no column.
        let pad = w.saturating_sub(width::width(cell));
        match paint {
            Some((col, code)) if col == i => {
                let _ = write!(line, "\x1b[{code}m{cell}\x1b[0m");
            }
            _ => line.push_str(cell),
        }
        if i + 1 < cells.len() {
            line.extend(std::iter::repeat_n(' ', pad + 2));
        }
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

/// The ANSI colour of a tone.
fn ansi(t: Tone) -> &'static str {
    match t {
        Tone::Good => "32",
        Tone::Warn => "33",
        Tone::Bad => "1;31",
        Tone::Muted => "90",
    }
}

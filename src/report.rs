//! `--once` output: a table for people, JSON for scripts and one Nagios line for
//! alerting. All three read the same [`Fleet`] and agree on the verdict.

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use serde::Serialize;

use crate::fleet::{Fleet, NodeState};
use crate::group::GroupHealth;
use crate::status::{Status, Verdict};
use crate::text;

/// How `--once` prints its result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Nagios,
}

/// One line such as `12 nodes · 10 synced · 1 free · 1 timeout`.
pub fn summary_line(fleet: &Fleet) -> String {
    let counts = fleet.counts();
    let mut out = format!("{} nodes", counts.total());
    for (status, n) in counts.nonzero() {
        let _ = write!(out, " · {n} {status}");
    }
    out
}

/// Latency as people read it: `0.4ms`, `12ms`, `1.20s`.
pub fn format_latency(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// `Master (state2)`, `Error (state0)`, or empty for `Synced`/`Free` replies.
pub fn role_code(node: &NodeState) -> String {
    match (node.role(), node.code()) {
        (Some(role), Some(code)) => format!("{role} (state{code})"),
        _ => String::new(),
    }
}

fn reply_text(node: &NodeState) -> String {
    node.reply().map(|r| r.to_string()).unwrap_or_default()
}

/// The plain-text table. `color` adds ANSI colour to the status column and verdict.
pub fn table(fleet: &Fleet, color: bool) -> String {
    let mut out = String::new();
    let rows: Vec<(Vec<String>, Status)> = fleet
        .nodes
        .iter()
        .map(|n| {
            let cells = vec![
                text::escape_str(n.name()),
                n.config.address(),
                n.group()
                    .map(text::escape_str)
                    .unwrap_or_else(|| "-".into()),
                format!("{} {}", symbol(n.status), n.status),
                role_code(n),
                n.latency()
                    .map(format_latency)
                    .unwrap_or_else(|| "-".into()),
                n.error().unwrap_or_default(),
            ];
            (cells, n.status)
        })
        .collect();
    let head = [
        "NAME",
        "ADDRESS",
        "GROUP",
        "STATUS",
        "ROLE/CODE",
        "LATENCY",
        "ERROR",
    ];
    push_table(&mut out, &head, &rows, 3, color);

    if !fleet.groups().is_empty() {
        out.push('\n');
        let rows: Vec<(Vec<String>, Status)> = fleet
            .groups()
            .iter()
            .map(|g| {
                let (word, st, problem) = match &g.health {
                    GroupHealth::Healthy => ("✔ healthy", Status::Synced, String::new()),
                    GroupHealth::Pending => ("… pending", Status::Pending, String::new()),
                    GroupHealth::Unhealthy(p) => ("✖ unhealthy", Status::Free, p.clone()),
                };
                let masters = if g.has_roles {
                    g.masters.to_string()
                } else {
                    "-".into()
                };
                let cells = vec![
                    text::escape_str(&g.name),
                    word.into(),
                    masters,
                    g.members.len().to_string(),
                    problem,
                ];
                (cells, st)
            })
            .collect();
        push_table(
            &mut out,
            &["SYNC GROUP", "HEALTH", "MASTERS", "MEMBERS", "PROBLEM"],
            &rows,
            1,
            color,
        );
    }

    if !fleet.unlisted.is_empty() {
        out.push('\n');
        let rows: Vec<(Vec<String>, Status)> = fleet
            .unlisted
            .values()
            .map(|u| {
                let cells = vec![
                    u.reported_ip.to_string(),
                    u.peer.to_string(),
                    format!("{} {}", symbol(u.status), u.status),
                    match (u.role(), u.code) {
                        (Some(r), Some(c)) => format!("{r} (state{c})"),
                        _ => String::new(),
                    },
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

    let verdict = fleet.verdict();
    let verdict_text = if color {
        format!("\x1b[1;{}m{verdict}\x1b[0m", verdict_color(verdict))
    } else {
        verdict.to_string()
    };
    let _ = writeln!(out, "\n{} — {verdict_text}", summary_line(fleet));
    out
}

/// Appends an aligned table; the cell at `paint_col` is coloured by its row status.
fn push_table(
    out: &mut String,
    head: &[&str],
    rows: &[(Vec<String>, Status)],
    paint_col: usize,
    color: bool,
) {
    let mut widths: Vec<usize> = head.iter().map(|h| h.chars().count()).collect();
    for (cells, _) in rows {
        for (w, cell) in widths.iter_mut().zip(cells) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let head: Vec<String> = head.iter().map(|h| h.to_string()).collect();
    push_row(out, &head, &widths, None);
    for (cells, st) in rows {
        let paint = color.then(|| (paint_col, status_color(*st)));
        push_row(out, cells, &widths, paint);
    }
}

fn push_row(out: &mut String, cells: &[String], widths: &[usize], paint: Option<(usize, &str)>) {
    let mut line = String::new();
    for (i, (cell, w)) in cells.iter().zip(widths).enumerate() {
        let pad = w.saturating_sub(cell.chars().count());
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

/// A symbol per status, so the table reads without colour.
pub fn symbol(s: Status) -> &'static str {
    match s {
        Status::Synced => "✔",
        Status::Pending => "…",
        Status::Free => "✖",
        _ => "▲",
    }
}

fn status_color(s: Status) -> &'static str {
    match s {
        Status::Synced => "32",
        Status::Pending => "90",
        _ => "1;31",
    }
}

fn verdict_color(v: Verdict) -> &'static str {
    match v {
        Verdict::Ok => "32",
        Verdict::Warning => "33",
        Verdict::Critical | Verdict::Unknown => "31",
    }
}

#[derive(Serialize)]
struct JsonReport<'a> {
    checked_at: String,
    exit_code: u8,
    verdict: Verdict,
    summary: JsonSummary,
    nodes: Vec<JsonNode<'a>>,
    groups: Vec<JsonGroup<'a>>,
    unlisted: Vec<JsonUnlisted>,
}

#[derive(Serialize)]
struct JsonGroup<'a> {
    name: &'a str,
    healthy: bool,
    masters: usize,
    members: usize,
    problem: Option<String>,
}

#[derive(Serialize)]
struct JsonUnlisted {
    reported_ip: String,
    peer: String,
    status: Status,
    code: Option<u8>,
    role: Option<crate::status::Role>,
    last_seen: String,
}

#[derive(Serialize)]
struct JsonSummary {
    total: usize,
    healthy: usize,
    unhealthy: usize,
    by_status: serde_json::Map<String, serde_json::Value>,
}

#[derive(Serialize)]
struct JsonNode<'a> {
    name: &'a str,
    address: String,
    group: &'a str,
    status: Status,
    healthy: bool,
    reply: String,
    code: Option<u8>,
    role: Option<crate::status::Role>,
    reported_ip: Option<String>,
    latency_ms: Option<f64>,
    error: Option<String>,
    /// Push nodes: more than one peer claimed this node's IP recently.
    conflict: bool,
}

/// The JSON document: one object, keys fixed (see the README). Text from the network
/// is escaped like everywhere else, so a reply cannot smuggle control bytes into a
/// script's terminal.
pub fn json(fleet: &Fleet, checked_at: SystemTime) -> String {
    let counts = fleet.counts();
    let mut by_status = serde_json::Map::new();
    for s in Status::ALL {
        by_status.insert(s.as_str().into(), counts.get(s).into());
    }
    let verdict = fleet.verdict();
    let report = JsonReport {
        checked_at: rfc3339(checked_at),
        exit_code: verdict.exit_code(),
        verdict,
        summary: JsonSummary {
            total: counts.total(),
            healthy: counts.healthy(),
            unhealthy: counts.total() - counts.healthy(),
            by_status,
        },
        nodes: fleet
            .nodes
            .iter()
            .map(|n| JsonNode {
                name: n.name(),
                address: n.config.address(),
                group: n.group().unwrap_or(""),
                status: n.status,
                healthy: n.status.is_healthy(),
                reply: reply_text(n),
                code: n.code(),
                role: n.role(),
                reported_ip: n.reported_ip().map(|ip| ip.to_string()),
                latency_ms: n.latency().map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
                error: n.error(),
                conflict: !n
                    .conflicting_peers(checked_at, fleet.conflict_window())
                    .is_empty(),
            })
            .collect(),
        groups: fleet
            .groups()
            .iter()
            .map(|g| JsonGroup {
                name: &g.name,
                healthy: g.health == GroupHealth::Healthy,
                masters: g.masters,
                members: g.members.len(),
                problem: match &g.health {
                    GroupHealth::Healthy => None,
                    GroupHealth::Pending => Some("not every member has reported".into()),
                    GroupHealth::Unhealthy(p) => Some(p.clone()),
                },
            })
            .collect(),
        unlisted: fleet
            .unlisted
            .values()
            .map(|u| JsonUnlisted {
                reported_ip: u.reported_ip.to_string(),
                peer: u.peer.to_string(),
                status: u.status,
                code: u.code,
                role: u.role(),
                last_seen: rfc3339(u.last_seen),
            })
            .collect(),
    };
    // Serialising plain structs and maps cannot fail.
    serde_json::to_string_pretty(&report).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// How many unhealthy nodes the Nagios line names before it says "and N more".
const NAGIOS_NAMES: usize = 10;

/// `SYNCGUARD CRITICAL - 2 of 12 unhealthy: wall-03 free, ... | synced=10 ...`
pub fn nagios(fleet: &Fleet) -> String {
    let counts = fleet.counts();
    let verdict = fleet.verdict();
    let bad: Vec<&NodeState> = fleet
        .nodes
        .iter()
        .filter(|n| !n.status.is_healthy())
        .collect();
    // Unhealthy members are already named; a group adds news only about its master.
    let bad_groups: Vec<String> = fleet
        .groups()
        .iter()
        .filter(|g| matches!(g.health, GroupHealth::Unhealthy(_)) && g.has_roles && g.masters != 1)
        .map(|g| {
            let what = if g.masters == 0 {
                "no master".to_owned()
            } else {
                format!("{} masters", g.masters)
            };
            format!(
                "group {} {what}",
                text::escape_str(&g.name).replace('|', "/")
            )
        })
        .collect();
    let mut out = format!("SYNCGUARD {verdict} - ");
    if bad.is_empty() && !bad_groups.is_empty() {
        let _ = write!(
            out,
            "{}/{} nodes synced; ",
            counts.healthy(),
            counts.total()
        );
    } else if bad.is_empty() {
        let _ = write!(out, "{}/{} nodes synced", counts.healthy(), counts.total());
    } else {
        let _ = write!(out, "{} of {} nodes unhealthy: ", bad.len(), counts.total());
        let named: Vec<String> = bad
            .iter()
            .take(NAGIOS_NAMES)
            .map(|n| {
                // `|` starts perfdata in Nagios; keep it out of names.
                let name = text::escape_str(n.name()).replace('|', "/");
                match n.status {
                    Status::Free => match n.reply() {
                        Some(r) => format!("{name} free ({r})"),
                        None => format!("{name} free"),
                    },
                    s => format!("{name} {s}"),
                }
            })
            .collect();
        out.push_str(&named.join(", "));
        if bad.len() > NAGIOS_NAMES {
            let _ = write!(out, " and {} more", bad.len() - NAGIOS_NAMES);
        }
    }
    if !bad_groups.is_empty() {
        if !bad.is_empty() {
            out.push_str("; ");
        }
        out.push_str(&bad_groups.join("; "));
    }
    out.push_str(" |");
    for s in Status::ALL {
        let _ = write!(
            out,
            " {}={};;;0;{}",
            s.as_str(),
            counts.get(s),
            counts.total()
        );
    }
    let max_latency = fleet
        .nodes
        .iter()
        .filter_map(NodeState::latency)
        .max()
        .unwrap_or_default();
    let _ = write!(out, " latency_max={:.6}s;;;0", max_latency.as_secs_f64());
    out
}

//! `history` and `uptime` output: a table readable at 80 columns, JSON for
//! scripts (see docs/history.md), and CSV that is safe to open in a spreadsheet.

use std::fmt::Write as _;

use serde::Serialize;

use crate::present;
use crate::protocol::text::escape_str;
use crate::store::acks::AckRecord;
use crate::store::outbox::Stored;
use crate::store::query::{HistoryAnswer, SubjectIncident, UptimeAnswer, UptimeEntry, Window};
use crate::store::read::time;
use crate::store::timeline::Gap;

/// Times in JSON and CSV: UTC, milliseconds, like every other JSON output.
fn stamp(ms: i64) -> String {
    present::rfc3339(time(ms))
}

fn seconds(ms: i64) -> f64 {
    ms as f64 / 1000.0
}

use present::percent as pct;

// ---- history ----

#[derive(Serialize)]
struct JsonHistory {
    from: String,
    to: String,
    incidents: Vec<JsonIncident>,
    monitor_gaps: Vec<JsonGap>,
    notifications: Vec<JsonNotification>,
    acks: Vec<JsonAck>,
}

/// One ack given or ended. Texts as given (JSON escapes what it must).
#[derive(Serialize)]
struct JsonAck {
    at: String,
    /// `NAME`, or `@GROUP`.
    target: String,
    /// `ack`, or why it ended: `recovered`, `expired`, `unack`, `worse`,
    /// `gone`, `replaced`.
    event: String,
    /// Who gave it; for `unack`, who removed it.
    by: String,
    reason: String,
    /// When it was to run out.
    until: String,
    ack_id: String,
}

impl JsonAck {
    fn new(a: &AckRecord) -> JsonAck {
        JsonAck {
            at: stamp(a.at),
            target: a.target.clone(),
            event: a.event.clone(),
            by: a.by.clone(),
            reason: a.reason.clone(),
            until: stamp(a.until),
            ack_id: a.ack_id.clone(),
        }
    }
}

#[derive(Serialize)]
struct JsonNotification {
    id: String,
    channel: String,
    created: String,
    kind: &'static str,
    title: String,
    /// `pending`, `delivered` or `given_up`.
    state: &'static str,
    attempts: u32,
    /// When it was delivered or given up.
    done: Option<String>,
    last_error: Option<String>,
    /// The nodes and groups it names.
    subjects: Vec<String>,
}

impl JsonNotification {
    fn new(s: &Stored) -> JsonNotification {
        let n = &s.notification;
        JsonNotification {
            id: n.id.clone(),
            channel: n.channel.clone(),
            created: stamp(n.created_ms),
            kind: n.kind.as_str(),
            title: n.title.clone(),
            state: s.state.as_str(),
            attempts: s.attempts,
            done: s.done_ms.map(stamp),
            last_error: s.last_error.clone(),
            subjects: n.items.iter().map(|i| i.name.clone()).collect(),
        }
    }
}

#[derive(Serialize)]
struct JsonIncident {
    node: Option<String>,
    group: Option<String>,
    start: String,
    end: Option<String>,
    duration_s: f64,
    statuses: Vec<&'static str>,
    first_reply: Option<String>,
    first_error: Option<String>,
    open: bool,
}

impl JsonIncident {
    fn new(i: &SubjectIncident, until: i64) -> JsonIncident {
        let inc = &i.incident;
        JsonIncident {
            node: i.node.clone(),
            group: i.group.clone(),
            start: stamp(inc.start),
            end: inc.end.map(stamp),
            duration_s: seconds(inc.duration(until)),
            statuses: inc.statuses.clone(),
            first_reply: inc.first_reply.clone(),
            first_error: inc.first_error.clone(),
            open: inc.end.is_none(),
        }
    }
}

#[derive(Serialize)]
struct JsonGap {
    start: String,
    end: Option<String>,
    duration_s: f64,
    /// `crash` (the monitor died: last heartbeat to next start) or `stop`.
    after: &'static str,
}

impl JsonGap {
    fn new(g: &Gap, until: i64) -> JsonGap {
        JsonGap {
            start: stamp(g.start),
            end: g.end.map(stamp),
            duration_s: seconds(g.duration(until)),
            after: gap_cause(g),
        }
    }
}

fn gap_cause(g: &Gap) -> &'static str {
    if g.after_crash { "crash" } else { "stop" }
}

/// The ack log on its own (`history`'s `acks`, for a listing of acks only).
#[derive(Serialize)]
struct JsonAcks {
    from: String,
    to: String,
    acks: Vec<JsonAck>,
}

/// The acks given and ended in a window, as JSON: the `acks` of
/// [`history_json`] with the window.
pub fn acks_json(window: &Window, acks: &[AckRecord]) -> String {
    to_json(&JsonAcks {
        from: stamp(window.from),
        to: stamp(window.to),
        acks: acks.iter().map(JsonAck::new).collect(),
    })
}

/// The acks given and ended in a window, as the table `history` shows them.
pub fn acks_table(window: &Window, acks: &[AckRecord]) -> String {
    let mut out = format!(
        "Acknowledgements {}: {} event{}\n",
        window_line(window),
        acks.len(),
        if acks.len() == 1 { "" } else { "s" }
    );
    ack_lines(&mut out, acks, false);
    out
}

pub fn history_json(a: &HistoryAnswer) -> String {
    let until = a.window.to;
    let doc = JsonHistory {
        from: stamp(a.window.from),
        to: stamp(a.window.to),
        incidents: a
            .incidents
            .iter()
            .map(|i| JsonIncident::new(i, until))
            .collect(),
        monitor_gaps: a.gaps.iter().map(|g| JsonGap::new(g, until)).collect(),
        notifications: a.notifications.iter().map(JsonNotification::new).collect(),
        acks: a.acks.iter().map(JsonAck::new).collect(),
    };
    to_json(&doc)
}

fn to_json(doc: &impl Serialize) -> String {
    serde_json::to_string_pretty(doc).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")) + "\n"
}

/// A node, or a group as `@name` (the same mark the dashboard uses for groups).
fn subject_name(i: &SubjectIncident) -> String {
    match (&i.node, &i.group) {
        (Some(n), _) => present::name(n),
        (None, Some(g)) => format!("@{}", present::name(g)),
        (None, None) => String::new(),
    }
}

/// Cuts `s` to `width` terminal columns, marking the cut.
fn fit(s: &str, width: usize) -> String {
    present::width::fit(s, width).into_owned()
}

/// Cuts `s` to `width` terminal columns and pads it to exactly that: a name in
/// Hangul or kana takes two columns a character, which `{:<N}` does not know.
fn pad(s: &str, width: usize) -> String {
    present::width::pad(s, width)
}

fn window_line(w: &Window) -> String {
    format!(
        "{} → {}",
        present::local_time(time(w.from)),
        present::local_time(time(w.to))
    )
}

pub fn history_table(a: &HistoryAnswer) -> String {
    let until = a.window.to;
    let mut out = format!(
        "Incidents {}: {} incident{}, {} gap{}\n",
        window_line(&a.window),
        a.incidents.len(),
        if a.incidents.len() == 1 { "" } else { "s" },
        a.gaps.len(),
        if a.gaps.len() == 1 { "" } else { "s" },
    );
    if !a.incidents.is_empty() {
        let _ = writeln!(
            out,
            "{:<19}  {:<9}  {:<16}  {:<12}  DETAIL",
            "START (LOCAL TIME)", "DURATION", "NODE / @GROUP", "STATUSES"
        );
    }
    for i in &a.incidents {
        let inc = &i.incident;
        let duration = present::short_duration(inc.duration(until));
        let duration = if inc.end.is_none() {
            format!("{duration}+")
        } else {
            duration
        };
        let detail = match (&inc.first_reply, &inc.first_error) {
            (Some(r), _) => format!("reply \"{r}\""),
            (None, Some(e)) => e.clone(),
            (None, None) => String::new(),
        };
        let _ = writeln!(
            out,
            "{:<19}  {:<9}  {}  {:<12}  {}",
            present::local_time(time(inc.start)),
            duration,
            pad(&subject_name(i), 16),
            fit(&inc.statuses.join(","), 12),
            fit(&detail, 80 - 65),
        );
    }
    if !a.gaps.is_empty() {
        out.push_str("Monitor gaps (no monitor running)\n");
        for g in &a.gaps {
            let _ = writeln!(
                out,
                "{:<19}  {:<9}  {}",
                present::local_time(time(g.start)),
                present::short_duration(g.duration(until)) + if g.end.is_none() { "+" } else { "" },
                if g.after_crash {
                    "after a crash: last heartbeat to the next start"
                } else {
                    "after a clean stop"
                }
            );
        }
    }
    if !a.notifications.is_empty() {
        out.push_str("Notifications\n");
        for s in &a.notifications {
            let n = &s.notification;
            let _ = writeln!(
                out,
                "{:<19}  {}  {:<9}  {}",
                present::local_time(time(n.created_ms)),
                pad(&n.channel, 10),
                s.state.as_str(),
                fit(&n.title, 80 - 45),
            );
        }
    }
    ack_lines(&mut out, &a.acks, true);
    if a.incidents.iter().any(|i| i.incident.end.is_none())
        || a.gaps.iter().any(|g| g.end.is_none())
    {
        out.push_str("+ still open\n");
    }
    out
}

/// The ack log: a line per ack given or ended (`UNTIL` for a given one), and
/// its reason under it, escaped (it came from a person, over the network).
fn ack_lines(out: &mut String, acks: &[AckRecord], titled: bool) {
    if acks.is_empty() {
        return;
    }
    if titled {
        out.push_str("Acknowledgements\n");
    }
    let _ = writeln!(
        out,
        "{:<19}  {:<9}  {:<14}  {:<10}  UNTIL",
        "TIME (LOCAL TIME)", "EVENT", "NODE / @GROUP", "BY"
    );
    for a in acks {
        let until = if a.event == "ack" {
            present::local_time(time(a.until))
        } else {
            String::new()
        };
        let line = format!(
            "{:<19}  {:<9}  {}  {}  {}",
            present::local_time(time(a.at)),
            fit(&a.event, 9),
            pad(&escape_str(&a.target), 14),
            pad(&escape_str(&a.by), 10),
            until,
        );
        let _ = writeln!(out, "{}", line.trim_end());
        if !a.reason.is_empty() {
            let _ = writeln!(out, "    \"{}\"", fit(&escape_str(&a.reason), 80 - 6));
        }
    }
}

pub fn history_csv(a: &HistoryAnswer) -> String {
    let until = a.window.to;
    let mut w = csv_writer();
    let _ = w.write_record([
        "kind",
        "node",
        "group",
        "start",
        "end",
        "duration_s",
        "statuses",
        "first_reply",
        "first_error",
        "open",
    ]);
    for i in &a.incidents {
        let inc = &i.incident;
        let _ = w.write_record(
            [
                "incident".to_owned(),
                i.node.clone().unwrap_or_default(),
                i.group.clone().unwrap_or_default(),
                stamp(inc.start),
                inc.end.map(stamp).unwrap_or_default(),
                seconds(inc.duration(until)).to_string(),
                inc.statuses.join(","),
                inc.first_reply.clone().unwrap_or_default(),
                inc.first_error.clone().unwrap_or_default(),
                inc.end.is_none().to_string(),
            ]
            .map(|c| safe_cell(&c)),
        );
    }
    for g in &a.gaps {
        let _ = w.write_record(
            [
                format!("gap_after_{}", gap_cause(g)),
                String::new(),
                String::new(),
                stamp(g.start),
                g.end.map(stamp).unwrap_or_default(),
                seconds(g.duration(until)).to_string(),
                String::new(),
                String::new(),
                String::new(),
                g.end.is_none().to_string(),
            ]
            .map(|c| safe_cell(&c)),
        );
    }
    csv_text(w)
}

// ---- uptime ----

#[derive(Serialize)]
struct JsonUptime {
    from: String,
    to: String,
    nodes: Vec<JsonShare>,
    groups: Vec<JsonShare>,
    fleet: JsonShare,
}

/// Who an uptime entry is about: a node (with its group, `null` for none), a
/// group, or the fleet (no name).
#[derive(Serialize)]
#[serde(untagged)]
enum Who {
    Node { node: String, group: Option<String> },
    Group { group: String },
    Fleet {},
}

#[derive(Serialize)]
struct JsonShare {
    #[serde(flatten)]
    who: Who,
    in_lock_pct: Option<f64>,
    out_of_lock_pct: Option<f64>,
    unknown_pct: Option<f64>,
    maintenance_pct: Option<f64>,
    monitored_pct: Option<f64>,
    observed_pct: Option<f64>,
    incidents: usize,
    longest_s: Option<f64>,
    mttr_s: Option<f64>,
}

enum Kind {
    Node,
    Group,
    Fleet,
}

impl JsonShare {
    /// `fleet_monitored`: when any monitor ran, the `monitored_pct` of every entry.
    fn new(e: &UptimeEntry, kind: Kind, window: &Window, fleet_monitored: i64) -> JsonShare {
        let m = e.shares.monitored();
        let who = match kind {
            Kind::Node => Who::Node {
                node: e.name.clone(),
                group: e.group.clone(),
            },
            Kind::Group => Who::Group {
                group: e.name.clone(),
            },
            Kind::Fleet => Who::Fleet {},
        };
        JsonShare {
            who,
            in_lock_pct: pct(e.shares.in_lock, m),
            out_of_lock_pct: pct(e.shares.out_of_lock, m),
            unknown_pct: pct(e.shares.unknown, m),
            maintenance_pct: maintenance_pct(e),
            monitored_pct: pct(fleet_monitored, window.len()),
            observed_pct: pct(e.monitored, window.len()),
            incidents: e.incidents.count,
            longest_s: e.incidents.longest.map(seconds),
            mttr_s: e.incidents.mttr.map(seconds),
        }
    }
}

pub fn uptime_json(a: &UptimeAnswer) -> String {
    let w = &a.window;
    let doc = JsonUptime {
        from: stamp(w.from),
        to: stamp(w.to),
        nodes: a
            .nodes
            .iter()
            .map(|e| JsonShare::new(e, Kind::Node, w, a.fleet.monitored))
            .collect(),
        groups: a
            .groups
            .iter()
            .map(|e| JsonShare::new(e, Kind::Group, w, a.fleet.monitored))
            .collect(),
        fleet: JsonShare::new(&a.fleet, Kind::Fleet, w, a.fleet.monitored),
    };
    to_json(&doc)
}

/// The share of an entry's monitored time spent in maintenance windows (of the
/// node-time, for the fleet); `None` when it was never monitored.
fn maintenance_pct(e: &UptimeEntry) -> Option<f64> {
    pct(e.maintenance, e.shares.monitored() + e.maintenance)
}

fn pct_text(p: Option<f64>) -> String {
    p.map_or_else(|| "-".to_owned(), |p| format!("{p:.3}"))
}

pub fn uptime_table(a: &UptimeAnswer) -> String {
    let w = &a.window;
    let mut out = format!(
        "Uptime {}: monitored {}%\n",
        window_line(w),
        pct_text(pct(a.fleet.monitored, w.len()))
    );
    // Eight-character columns (`100.000`, `123d 04h`) so MAINT% fits in 80.
    let _ = writeln!(
        out,
        "{:<16} {:>7} {:>7} {:>7} {:>7} {:>7} {:>5} {:>8} {:>8}",
        "NODE / @GROUP",
        "INLOCK%",
        "OUT%",
        "UNKN%",
        "MAINT%",
        "OBSERV%",
        "INCID",
        "LONGEST",
        "MTTR"
    );
    let line = |out: &mut String, name: String, e: &UptimeEntry| {
        let m = e.shares.monitored();
        let dur = |d: Option<i64>| d.map_or_else(|| "-".to_owned(), present::short_duration);
        let _ = writeln!(
            out,
            "{} {:>7} {:>7} {:>7} {:>7} {:>7} {:>5} {:>8} {:>8}",
            pad(&name, 16),
            pct_text(pct(e.shares.in_lock, m)),
            pct_text(pct(e.shares.out_of_lock, m)),
            pct_text(pct(e.shares.unknown, m)),
            pct_text(maintenance_pct(e)),
            pct_text(pct(e.monitored, w.len())),
            e.incidents.count,
            dur(e.incidents.longest),
            dur(e.incidents.mttr),
        );
    };
    line(&mut out, "fleet (all)".into(), &a.fleet);
    for g in &a.groups {
        line(&mut out, format!("@{}", present::name(&g.name)), g);
    }
    for n in &a.nodes {
        line(&mut out, present::name(&n.name), n);
    }
    out
}

pub fn uptime_csv(a: &UptimeAnswer) -> String {
    let w = &a.window;
    let mut out = csv_writer();
    let _ = out.write_record([
        "kind",
        "name",
        "group",
        "in_lock_pct",
        "out_of_lock_pct",
        "unknown_pct",
        "maintenance_pct",
        "monitored_pct",
        "observed_pct",
        "incidents",
        "longest_s",
        "mttr_s",
    ]);
    let num = |v: Option<f64>| v.map(|v| v.to_string()).unwrap_or_default();
    let mut row = |kind: &str, e: &UptimeEntry| {
        let m = e.shares.monitored();
        let _ = out.write_record(
            [
                kind.to_owned(),
                e.name.clone(),
                e.group.clone().unwrap_or_default(),
                num(pct(e.shares.in_lock, m)),
                num(pct(e.shares.out_of_lock, m)),
                num(pct(e.shares.unknown, m)),
                num(maintenance_pct(e)),
                num(pct(a.fleet.monitored, w.len())),
                num(pct(e.monitored, w.len())),
                e.incidents.count.to_string(),
                num(e.incidents.longest.map(seconds)),
                num(e.incidents.mttr.map(seconds)),
            ]
            .map(|c| safe_cell(&c)),
        );
    };
    row("fleet", &a.fleet);
    for g in &a.groups {
        row("group", g);
    }
    for n in &a.nodes {
        row("node", n);
    }
    csv_text(out)
}

// ---- CSV ----

fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new())
}

fn csv_text(w: csv::Writer<Vec<u8>>) -> String {
    match w.into_inner() {
        Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
        Err(e) => format!("error writing CSV: {e}\n"),
    }
}

/// A spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a formula
/// (and some treat a leading tab or carriage return the same): such a cell gets
/// a leading apostrophe, so a node name or a reply from the network stays text.
pub fn safe_cell(s: &str) -> String {
    match s.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{s}"),
        _ => s.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::timeline::{Incident, IncidentStats, Shares};

    const M: i64 = 60_000;
    const T0: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

    fn answer() -> HistoryAnswer {
        HistoryAnswer {
            window: Window {
                from: T0,
                to: T0 + 300 * M,
            },
            incidents: vec![
                SubjectIncident {
                    node: Some("=HYPERLINK(\"http://x\")".into()),
                    group: Some("wall-A".into()),
                    incident: Incident {
                        start: T0 + 40 * M,
                        end: Some(T0 + 150 * M),
                        statuses: vec!["free", "timeout"],
                        first_row: 0,
                        first_reply: Some("Free".into()),
                        first_error: None,
                    },
                },
                SubjectIncident {
                    node: None,
                    group: Some("wall-A".into()),
                    incident: Incident {
                        start: T0 + 190 * M,
                        end: None,
                        statuses: vec!["no_master"],
                        first_row: 0,
                        first_reply: None,
                        first_error: Some("no master".into()),
                    },
                },
            ],
            gaps: vec![Gap {
                start: T0 + 100 * M,
                end: Some(T0 + 130 * M),
                after_crash: true,
            }],
            notifications: Vec::new(),
            acks: vec![
                AckRecord {
                    at: T0 + 50 * M,
                    ack_id: "k1".into(),
                    target: "@wall-A".into(),
                    event: "ack".into(),
                    by: "ops (ana)".into(),
                    reason: "re-imaging \u{1b}[31m wall A".into(),
                    until: T0 + 170 * M,
                },
                AckRecord {
                    at: T0 + 150 * M,
                    ack_id: "k1".into(),
                    target: "@wall-A".into(),
                    event: "recovered".into(),
                    by: "ops (ana)".into(),
                    reason: "re-imaging \u{1b}[31m wall A".into(),
                    until: T0 + 170 * M,
                },
            ],
        }
    }

    #[test]
    fn history_json_has_the_documented_keys() {
        let v: serde_json::Value =
            serde_json::from_str(&history_json(&answer())).expect("valid JSON");
        assert_eq!(v["from"], "2025-12-01T00:00:00.000Z");
        let i = &v["incidents"][0];
        assert_eq!(i["start"], "2025-12-01T00:40:00.000Z");
        assert_eq!(i["end"], "2025-12-01T02:30:00.000Z");
        assert_eq!(i["duration_s"], 6600.0);
        assert_eq!(i["statuses"], serde_json::json!(["free", "timeout"]));
        assert_eq!(i["first_reply"], "Free");
        assert_eq!(i["open"], false);
        let g = &v["incidents"][1];
        assert_eq!(g["node"], serde_json::Value::Null);
        assert_eq!(g["group"], "wall-A");
        assert_eq!(g["first_error"], "no master");
        assert_eq!(g["end"], serde_json::Value::Null);
        assert_eq!(g["open"], true);
        assert_eq!(g["duration_s"], 110.0 * 60.0);
        let gap = &v["monitor_gaps"][0];
        assert_eq!(gap["duration_s"], 1800.0);
        assert_eq!(gap["after"], "crash");
    }

    #[test]
    fn acks_are_listed_raw_in_json_and_escaped_in_the_table() {
        let a = answer();
        let v: serde_json::Value = serde_json::from_str(&history_json(&a)).expect("valid JSON");
        let given = &v["acks"][0];
        assert_eq!(given["at"], "2025-12-01T00:50:00.000Z");
        assert_eq!(given["target"], "@wall-A");
        assert_eq!(given["event"], "ack");
        assert_eq!(given["by"], "ops (ana)");
        assert_eq!(given["reason"], "re-imaging \u{1b}[31m wall A");
        assert_eq!(given["until"], "2025-12-01T02:50:00.000Z");
        assert_eq!(given["ack_id"], "k1");
        assert_eq!(v["acks"][1]["event"], "recovered");
        let t = history_table(&a);
        assert!(t.contains("Acknowledgements"), "{t}");
        assert!(
            !t.contains('\u{1b}'),
            "a raw escape reached the terminal: {t}"
        );
        assert!(
            t.contains(&escape_str("re-imaging \u{1b}[31m wall A")),
            "{t}"
        );
        let lines: Vec<&str> = t.lines().filter(|l| l.contains("@wall-A")).collect();
        assert!(lines.iter().any(|l| l.contains(" ack ")), "{t}");
        assert!(lines.iter().any(|l| l.contains("recovered")), "{t}");
        // On their own: the same lines under the window.
        let only = acks_table(&a.window, &a.acks);
        assert!(only.starts_with("Acknowledgements "), "{only}");
        assert!(only.contains("2 events"), "{only}");
        for line in only.lines().chain(t.lines()) {
            assert!(line.chars().count() <= 80, "{line}");
        }
        let v: serde_json::Value =
            serde_json::from_str(&acks_json(&a.window, &a.acks)).expect("valid JSON");
        assert_eq!(v["acks"][1]["event"], "recovered");
        assert_eq!(v["from"], "2025-12-01T00:00:00.000Z");
    }

    #[test]
    fn history_table_fits_80_columns() {
        let t = history_table(&answer());
        for line in t.lines() {
            assert!(line.chars().count() <= 80, "{} wide: {line}", line.len());
        }
        assert!(t.contains("@wall-A"), "{t}");
        assert!(t.contains("after a crash"), "{t}");
    }

    #[test]
    fn csv_cells_that_a_spreadsheet_would_run_are_neutralised() {
        let csv = history_csv(&answer());
        assert!(csv.contains("'=HYPERLINK"), "{csv}");
        assert!(!csv.contains(",=HYPERLINK"), "{csv}");
        for s in ["=1+1", "+1", "-1", "@SUM(A1)", "\tx"] {
            assert!(safe_cell(s).starts_with('\''), "{s}");
        }
        assert_eq!(safe_cell("wall-01"), "wall-01");
    }

    #[test]
    fn uptime_shares_are_of_monitored_time() {
        let e = UptimeEntry {
            name: "wall-01".into(),
            group: None,
            shares: Shares {
                in_lock: 117 * M,
                out_of_lock: 40 * M,
                unknown: 49 * M,
            },
            maintenance: 0,
            monitored: 206 * M,
            incidents: IncidentStats::default(),
        };
        let a = UptimeAnswer {
            window: Window {
                from: T0,
                to: T0 + 300 * M,
            },
            nodes: vec![e.clone()],
            groups: vec![],
            fleet: UptimeEntry {
                name: "fleet".into(),
                monitored: 210 * M,
                ..e
            },
        };
        let v: serde_json::Value = serde_json::from_str(&uptime_json(&a)).expect("valid JSON");
        let n = &v["nodes"][0];
        assert_eq!(n["node"], "wall-01");
        assert_eq!(n["in_lock_pct"], 56.796);
        assert_eq!(n["out_of_lock_pct"], 19.417);
        assert_eq!(n["unknown_pct"], 23.786);
        // Monitors ran 70% of the window; this node's status was known 68.667%.
        assert_eq!(n["monitored_pct"], 70.0);
        assert_eq!(n["observed_pct"], 68.667);
        assert_eq!(v["fleet"]["monitored_pct"], 70.0);
        assert_eq!(n["mttr_s"], serde_json::Value::Null);
        assert_eq!(n["maintenance_pct"], 0.0);
        for line in uptime_table(&a).lines() {
            assert!(line.chars().count() <= 80, "{line}");
        }
    }

    #[test]
    fn maintenance_is_a_share_of_the_monitored_time_and_the_rest_add_to_100() {
        // 206 minutes monitored: 50 in maintenance, the 156 outside it in lock,
        // out of lock and unknown.
        let e = UptimeEntry {
            name: "wall-01".into(),
            group: Some("wall-A".into()),
            shares: Shares {
                in_lock: 100 * M,
                out_of_lock: 40 * M,
                unknown: 16 * M,
            },
            maintenance: 50 * M,
            monitored: 206 * M,
            incidents: IncidentStats::default(),
        };
        // Always in maintenance: no share outside it to speak of.
        let quiet = UptimeEntry {
            name: "wall-02".into(),
            shares: Shares::default(),
            maintenance: 206 * M,
            ..e.clone()
        };
        let a = UptimeAnswer {
            window: Window {
                from: T0,
                to: T0 + 300 * M,
            },
            nodes: vec![e.clone(), quiet.clone()],
            groups: vec![],
            fleet: UptimeEntry {
                name: "fleet".into(),
                group: None,
                shares: e.shares,
                maintenance: e.maintenance + quiet.maintenance,
                monitored: 210 * M,
                incidents: IncidentStats::default(),
            },
        };
        let v: serde_json::Value = serde_json::from_str(&uptime_json(&a)).expect("valid JSON");
        let n = &v["nodes"][0];
        assert_eq!(n["maintenance_pct"], 24.272); // 50 / 206
        assert_eq!(n["in_lock_pct"], 64.103); // 100 / 156
        assert_eq!(n["out_of_lock_pct"], 25.641);
        assert_eq!(n["unknown_pct"], 10.256);
        assert_eq!(n["observed_pct"], 68.667, "maintenance is observed time");
        let q = &v["nodes"][1];
        assert_eq!(q["maintenance_pct"], 100.0);
        assert_eq!(q["in_lock_pct"], serde_json::Value::Null);
        // The fleet: node-time, 256 of 412 minutes in maintenance.
        assert_eq!(v["fleet"]["maintenance_pct"], 62.136);
        let csv = uptime_csv(&a);
        assert!(
            csv.starts_with(
                "kind,name,group,in_lock_pct,out_of_lock_pct,unknown_pct,maintenance_pct,"
            ),
            "{csv}"
        );
        assert!(
            csv.contains("node,wall-01,wall-A,64.103,25.641,10.256,24.272,"),
            "{csv}"
        );
        let table = uptime_table(&a);
        assert!(table.contains("MAINT%"), "{table}");
        assert!(table.contains(" 24.272 "), "{table}");
        for line in table.lines() {
            assert!(line.chars().count() <= 80, "{line}");
        }
    }

    #[test]
    fn names_in_hangul_keep_the_history_columns_in_line() {
        use crate::present::width::width;
        let mut a = answer();
        a.incidents[0].node = Some("서버-01".into());
        a.incidents[1].node = Some("렌더링-서버실-노드-06".into());
        a.acks[0].target = "@벽-A".into();
        let t = history_table(&a);
        // Each STATUSES cell starts where its header does, whatever the name.
        let col = |line: &str, at: &str| line.find(at).map(|i| width(&line[..i]));
        let head = t.lines().find(|l| l.contains("STATUSES")).expect("header");
        let want = col(head, "STATUSES");
        for statuses in ["free,timeout", "no_master"] {
            let row = t.lines().find(|l| l.contains(statuses)).expect("a row");
            assert_eq!(col(row, statuses), want, "{t}");
        }
        assert!(t.contains("렌더링-서버실-…"), "cut to 16 columns: {t}");
        // The ack table's BY column, after a target in Hangul.
        let head = t.lines().find(|l| l.contains("EVENT")).expect("ack header");
        let row = t.lines().find(|l| l.contains("@벽-A")).expect("ack row");
        assert_eq!(col(row, "ops (ana)"), col(head, "BY"), "{t}");
    }
}

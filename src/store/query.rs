//! The `history` and `uptime` answers, computed from a history file: which
//! subjects, which window, then `timeline`'s rules per subject.

use rusqlite::Connection;

use super::acks::AckRecord;
use super::read::{self, Rows, Spans, Subject};
use super::timeline::{self, Gap, Incident, IncidentStats, Run, Shares};
use crate::model::Target;

/// The window asked about, in Unix milliseconds; `to` is never after `now`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    pub from: i64,
    pub to: i64,
}

impl Window {
    pub fn len(&self) -> i64 {
        (self.to - self.from).max(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The window a question names (the CLI's flags, the API's parameters): `to`
    /// (default and at most `now`), and `from`, or `since` before `to`, or
    /// `default_span` before `to`. An empty window is an error that says so.
    pub fn resolve(
        from: Option<std::time::SystemTime>,
        to: Option<std::time::SystemTime>,
        since: Option<std::time::Duration>,
        default_span: std::time::Duration,
        now: i64,
    ) -> Result<Window, String> {
        let to = to.map(super::ms).unwrap_or(now).min(now);
        let from = match from {
            Some(t) => super::ms(t),
            None => to - since.unwrap_or(default_span).as_millis() as i64,
        };
        if from >= to {
            return Err(format!(
                "the window is empty: from {} is not before to {}",
                crate::present::rfc3339(read::time(from)),
                crate::present::rfc3339(read::time(to))
            ));
        }
        Ok(Window { from, to })
    }
}

/// The window `history` looks at unless told otherwise.
pub const HISTORY_SPAN: std::time::Duration = std::time::Duration::from_secs(24 * 3600);
/// And `uptime`.
pub const UPTIME_SPAN: std::time::Duration = std::time::Duration::from_secs(30 * 24 * 3600);

/// Which nodes and groups: none named means all of them.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub nodes: Vec<String>,
    pub groups: Vec<String>,
}

/// Why a question cannot be answered.
#[derive(Debug, thiserror::Error)]
pub enum QueryError {
    #[error("no node named \"{0}\" in the history file")]
    UnknownNode(String),
    #[error("no sync group named \"{0}\" in the history file")]
    UnknownGroup(String),
    #[error("reading the history file: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("reading the notifications: {0}")]
    Outbox(String),
}

/// One incident of a node (`node` set) or a sync group (`node` none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubjectIncident {
    pub node: Option<String>,
    pub group: Option<String>,
    pub incident: Incident,
}

/// `history`: the incidents and monitor gaps overlapping a window.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryAnswer {
    pub window: Window,
    /// Oldest first.
    pub incidents: Vec<SubjectIncident>,
    pub gaps: Vec<Gap>,
    /// Notifications made in the window, oldest first: about the chosen nodes
    /// and groups when a filter is given.
    pub notifications: Vec<super::outbox::Stored>,
    /// Acks given and ended in the window, oldest first: of the chosen nodes
    /// and groups when a filter is given.
    pub acks: Vec<AckRecord>,
}

/// One line of `uptime`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UptimeEntry {
    pub name: String,
    pub group: Option<String>,
    /// The monitored time outside maintenance windows, by share.
    pub shares: Shares,
    /// Milliseconds of monitored time inside a maintenance window (for the
    /// fleet, node-time: the nodes' added up).
    pub maintenance: i64,
    /// Milliseconds of the window this entry was monitored: for a node or group,
    /// its own monitored time (maintenance included); for the fleet, the time
    /// any monitor ran.
    pub monitored: i64,
    pub incidents: IncidentStats,
}

/// `uptime`: per node, per group, and the fleet (the selected nodes together).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UptimeAnswer {
    pub window: Window,
    pub nodes: Vec<UptimeEntry>,
    pub groups: Vec<UptimeEntry>,
    pub fleet: UptimeEntry,
}

struct Selection {
    nodes: Vec<Subject>,
    groups: Vec<Subject>,
}

impl Selection {
    /// Whether an ack's target is among the chosen nodes and groups.
    fn has(&self, target: &Target) -> bool {
        match target {
            Target::Node(n) => self.nodes.iter().any(|s| &s.name == n),
            Target::Group(g) => self.groups.iter().any(|s| &s.name == g),
        }
    }
}

fn select(conn: &Connection, filter: &Filter) -> Result<Selection, QueryError> {
    let all_nodes = read::subjects(conn, "node")?;
    let all_groups = read::subjects(conn, "group")?;
    for n in &filter.nodes {
        if !all_nodes.iter().any(|s| &s.name == n) {
            return Err(QueryError::UnknownNode(n.clone()));
        }
    }
    for g in &filter.groups {
        if !all_groups.iter().any(|s| &s.name == g) {
            return Err(QueryError::UnknownGroup(g.clone()));
        }
    }
    if filter.nodes.is_empty() && filter.groups.is_empty() {
        return Ok(Selection {
            nodes: all_nodes,
            groups: all_groups,
        });
    }
    // A group brings its members (by the group of their latest row).
    let nodes = all_nodes
        .into_iter()
        .filter(|s| {
            filter.nodes.contains(&s.name)
                || s.group.as_ref().is_some_and(|g| filter.groups.contains(g))
        })
        .collect();
    let groups = all_groups
        .into_iter()
        .filter(|s| filter.groups.contains(&s.name))
        .collect();
    Ok(Selection { nodes, groups })
}

/// The incidents and gaps of `[window.from, window.to)`, as of `now`.
pub fn history(
    conn: &Connection,
    window: Window,
    filter: &Filter,
    now: i64,
) -> Result<HistoryAnswer, QueryError> {
    // One read transaction: every statement sees the same snapshot of the file,
    // though a monitor writes on.
    let tx = conn.unchecked_transaction()?;
    let conn: &Connection = &tx;
    let sel = select(conn, filter)?;
    let runs = read::runs(conn, now)?;
    let mut rows = Rows::new(conn)?;
    let mut incidents = Vec::new();
    let kinds = [(&sel.nodes, true), (&sel.groups, false)];
    for (subjects, is_node) in kinds {
        for s in subjects {
            for incident in timeline::incidents(&rows.of(s.id, window.from, window.to)?, &runs) {
                if incident.overlaps(window.from, window.to) {
                    incidents.push(SubjectIncident {
                        node: is_node.then(|| s.name.clone()),
                        group: if is_node {
                            s.group.clone()
                        } else {
                            Some(s.name.clone())
                        },
                        incident,
                    });
                }
            }
        }
    }
    for i in &mut incidents {
        let (reply, error) = read::detail(conn, i.incident.first_row)?;
        i.incident.first_reply = reply;
        i.incident.first_error = error;
    }
    incidents.sort_by(|a, b| {
        (a.incident.start, &a.group, &a.node).cmp(&(b.incident.start, &b.group, &b.node))
    });
    let mut notifications =
        super::outbox::read_window(conn, window.from, window.to).map_err(QueryError::Outbox)?;
    if !filter.nodes.is_empty() || !filter.groups.is_empty() {
        notifications.retain(|n| {
            n.notification.items.iter().any(|i| {
                let group = match i.kind {
                    crate::model::notification::SubjectKind::Node => i.group.as_ref(),
                    crate::model::notification::SubjectKind::Group => Some(&i.name),
                };
                (i.kind == crate::model::notification::SubjectKind::Node
                    && filter.nodes.contains(&i.name))
                    || group.is_some_and(|g| filter.groups.contains(g))
            })
        });
    }
    let acks = acks_in(conn, &sel, window, filter)?;
    Ok(HistoryAnswer {
        window,
        incidents,
        gaps: timeline::gaps(&runs, window.from, window.to),
        notifications,
        acks,
    })
}

/// The acks given and ended in `[window.from, window.to)`, oldest first, of the
/// chosen nodes and groups (a group brings its members' acks along).
pub fn acks(
    conn: &Connection,
    window: Window,
    filter: &Filter,
) -> Result<Vec<AckRecord>, QueryError> {
    let tx = conn.unchecked_transaction()?;
    let conn: &Connection = &tx;
    let sel = select(conn, filter)?;
    acks_in(conn, &sel, window, filter)
}

fn acks_in(
    conn: &Connection,
    sel: &Selection,
    window: Window,
    filter: &Filter,
) -> Result<Vec<AckRecord>, QueryError> {
    let mut acks = super::acks::events(conn, window.from, window.to)?;
    if !filter.nodes.is_empty() || !filter.groups.is_empty() {
        acks.retain(|a| a.target().is_some_and(|t| sel.has(&t)));
    }
    Ok(acks)
}

/// Uptime over `[window.from, window.to)`, as of `now`.
pub fn uptime(
    conn: &Connection,
    window: Window,
    filter: &Filter,
    now: i64,
) -> Result<UptimeAnswer, QueryError> {
    // One read transaction: every statement sees the same snapshot of the file,
    // though a monitor writes on.
    let tx = conn.unchecked_transaction()?;
    let conn: &Connection = &tx;
    let sel = select(conn, filter)?;
    let runs = read::runs(conn, now)?;
    let mut rows = Rows::new(conn)?;
    let mut spans = Spans::new(conn)?;
    let until = window.to.min(now);
    let mut entry = |s: &Subject, group: Option<String>| -> Result<UptimeEntry, QueryError> {
        let r = rows.of(s.id, window.from, window.to)?;
        let quiet = spans.of(s.id, window.from, window.to, &runs)?;
        let (shares, maintenance) =
            timeline::shares_outside(&r, &runs, &quiet, window.from, window.to);
        let mut stats = IncidentStats::default();
        for i in timeline::incidents(&r, &runs) {
            if i.overlaps(window.from, window.to) {
                stats.add(&i, until);
            }
        }
        Ok(UptimeEntry {
            name: s.name.clone(),
            group,
            monitored: shares.monitored() + maintenance,
            shares,
            maintenance,
            incidents: stats,
        })
    };
    let nodes = sel
        .nodes
        .iter()
        .map(|s| entry(s, s.group.clone()))
        .collect::<Result<Vec<_>, _>>()?;
    let groups = sel
        .groups
        .iter()
        .map(|s| entry(s, None))
        .collect::<Result<Vec<_>, _>>()?;
    let mut fleet = UptimeEntry {
        name: "fleet".into(),
        group: None,
        shares: Shares::default(),
        maintenance: 0,
        monitored: timeline::monitored(&runs, window.from, window.to),
        incidents: IncidentStats::default(),
    };
    for n in &nodes {
        fleet.shares.add(&n.shares);
        fleet.maintenance += n.maintenance;
        fleet.incidents.merge(&n.incidents);
    }
    Ok(UptimeAnswer {
        window,
        nodes,
        groups,
        fleet,
    })
}

/// What the dashboard's detail popup shows of a node's history.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct NodeRecord {
    /// (span, its shares) for the last 24 h, 7 d and 30 d; time in a
    /// maintenance window left out, as in `uptime`.
    pub shares: Vec<(&'static str, Shares)>,
    /// The last incidents within 30 d, newest first.
    pub incidents: Vec<Incident>,
}

/// Incidents the detail popup lists at most.
const RECORD_INCIDENTS: usize = 5;

/// One node's shares over 24 h, 7 d and 30 d and its last incidents, as of `now`.
pub fn node_record(conn: &Connection, name: &str, now: i64) -> Result<NodeRecord, QueryError> {
    // One read transaction: every statement sees the same snapshot of the file,
    // though a monitor writes on.
    let tx = conn.unchecked_transaction()?;
    let conn: &Connection = &tx;
    const DAY: i64 = 86_400_000;
    let Some(id) = read::subject_id(conn, "node", name)? else {
        return Ok(NodeRecord::default());
    };
    let runs: Vec<Run> = read::runs(conn, now)?;
    let mut rows = Rows::new(conn)?;
    let mut spans = Spans::new(conn)?;
    let mut shares = Vec::new();
    for (label, span) in [("24h", DAY), ("7d", 7 * DAY), ("30d", 30 * DAY)] {
        let from = now - span;
        let quiet = spans.of(id, from, now, &runs)?;
        let (s, _) = timeline::shares_outside(&rows.of(id, from, now)?, &runs, &quiet, from, now);
        shares.push((label, s));
    }
    let from = now - 30 * DAY;
    let mut incidents: Vec<Incident> = timeline::incidents(&rows.of(id, from, now)?, &runs)
        .into_iter()
        .filter(|i| i.overlaps(from, now))
        .collect();
    incidents.reverse();
    incidents.truncate(RECORD_INCIDENTS);
    for i in &mut incidents {
        (i.first_reply, i.first_error) = read::detail(conn, i.first_row)?;
    }
    Ok(NodeRecord { shares, incidents })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    const M: i64 = 60_000;

    /// The scripted timeline of `timeline`'s tests, in a real file: runs 1 (0–100,
    /// crashed), 2 (130–200, stopped), 3 (260–, running at 300); node `n` synced
    /// 1, free 40, timeout 70, timeout 131 (after the crash), synced 150, free 190,
    /// synced 262; node `m` only ever synced from 5; group `g` (n's) no master at
    /// 45, healthy at 150.
    fn scripted() -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().expect("tempdir");
        let conn = super::super::schema::open_for_writing(&dir.path().join("h.db")).expect("db");
        conn.execute_batch(&format!(
            "INSERT INTO run (id, started_ms, heartbeat_ms, stopped_ms, version) VALUES
               (1, 0, {a}, NULL, 't'), (2, {b}, {c}, {c}, 't'), (3, {d}, {e}, NULL, 't');
             INSERT INTO subject (id, kind, name) VALUES
               (1, 'node', 'n'), (2, 'node', 'm'), (3, 'group', 'g');",
            a = 100 * M,
            b = 130 * M,
            c = 200 * M,
            d = 260 * M,
            e = 300 * M - 5_000,
        ))
        .expect("runs");
        let rows: [(i64, i64, i64, Option<i64>, &str); 10] = [
            (1, 1, 1, Some(3), "synced"),
            (5, 2, 1, None, "synced"),
            (40, 1, 1, Some(3), "free"),
            (45, 3, 1, Some(3), "no_master"),
            (70, 1, 1, Some(3), "timeout"),
            (131, 1, 2, Some(3), "timeout"),
            (150, 1, 2, Some(3), "synced"),
            (150, 3, 2, Some(3), "healthy"),
            (190, 1, 2, Some(3), "free"),
            (262, 1, 3, Some(3), "synced"),
        ];
        for (at, subject, run, grp, status) in rows {
            conn.execute(
                "INSERT INTO transition (at_ms, subject, grp, run, status, error) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    at * M,
                    subject,
                    grp,
                    run,
                    status,
                    format!("{status} at {at}")
                ],
            )
            .expect("row");
        }
        (dir, conn)
    }

    fn window(from: i64, to: i64) -> Window {
        Window {
            from: from * M,
            to: to * M,
        }
    }

    #[test]
    fn uptime_from_the_file_matches_the_hand_computed_timeline() {
        let (_dir, conn) = scripted();
        let u = uptime(&conn, window(0, 300), &Filter::default(), 300 * M).expect("uptime");
        let n = u.nodes.iter().find(|e| e.name == "n").expect("n");
        assert_eq!(
            n.shares,
            Shares {
                in_lock: 117 * M,
                out_of_lock: 40 * M,
                unknown: 49 * M,
            }
        );
        assert_eq!(n.group.as_deref(), Some("g"));
        assert_eq!(n.incidents.count, 2);
        assert_eq!(n.incidents.longest, Some(110 * M));
        // m: synced from 5 to the crash at 100; never heard from again.
        let m = u.nodes.iter().find(|e| e.name == "m").expect("m");
        assert_eq!(m.shares.in_lock, 95 * M);
        assert_eq!(m.shares.monitored(), 95 * M);
        // g: no master 45–100 (run 1 dies), not monitored again before its
        // healthy row at 150, then healthy until run 2 stops at 200.
        let g = &u.groups[0];
        assert_eq!(g.shares.out_of_lock, 55 * M);
        assert_eq!(g.shares.in_lock, 50 * M);
        assert_eq!(g.incidents.count, 1);
        // The fleet: both nodes, and monitors ran 100 + 70 + 40 minutes.
        assert_eq!(u.fleet.shares.in_lock, (117 + 95) * M);
        assert_eq!(u.fleet.monitored, 210 * M);
        assert_eq!(u.fleet.incidents.count, 2);
    }

    #[test]
    fn an_incident_is_the_same_whatever_window_finds_it() {
        let (_dir, conn) = scripted();
        let all = history(&conn, window(0, 300), &Filter::default(), 300 * M).expect("all");
        assert_eq!(all.incidents.len(), 3, "{:?}", all.incidents);
        assert_eq!(all.gaps.len(), 2);
        for (from, to) in [
            (0, 50),
            (60, 140),
            (100, 135),
            (140, 300),
            (195, 199),
            (0, 45),
        ] {
            let w = window(from, to);
            let part = history(&conn, w, &Filter::default(), 300 * M).expect("part");
            let expected: Vec<&SubjectIncident> = all
                .incidents
                .iter()
                .filter(|i| i.incident.overlaps(w.from, w.to))
                .collect();
            let got: Vec<&SubjectIncident> = part.incidents.iter().collect();
            assert_eq!(got, expected, "window {from}–{to}");
        }
    }

    #[test]
    fn maintenance_from_the_file_is_cut_at_its_run_and_left_out_of_the_shares() {
        let (_dir, conn) = scripted();
        // n: 30–50 in run 1; 90 on, left open by run 1's crash (so until 100);
        // 280 on, open in the running run 3 (so until now, 300).
        conn.execute_batch(&format!(
            "INSERT INTO maintenance (subject, window, start_ms, end_ms, run) VALUES
               (1, 'w', {a}, {b}, 1), (1, 'w', {c}, NULL, 1), (1, 'w', {d}, NULL, 3);",
            a = 30 * M,
            b = 50 * M,
            c = 90 * M,
            d = 280 * M,
        ))
        .expect("spans");
        let u = uptime(&conn, window(0, 300), &Filter::default(), 300 * M).expect("uptime");
        let n = u.nodes.iter().find(|e| e.name == "n").expect("n");
        assert_eq!(n.maintenance, (20 + 10 + 20) * M);
        assert_eq!(
            n.shares,
            Shares {
                in_lock: (117 - 10 - 20) * M,
                out_of_lock: (40 - 10) * M,
                unknown: (49 - 10) * M,
            }
        );
        // Monitored time is the same with or without maintenance.
        assert_eq!(n.monitored, 206 * M);
        assert_eq!(u.fleet.maintenance, 50 * M);
        // The window's edges cut the spans: 40–95 holds 40–50 and 90–95.
        let part = uptime(&conn, window(40, 95), &Filter::default(), 300 * M).expect("part");
        let n = part.nodes.iter().find(|e| e.name == "n").expect("n");
        assert_eq!(n.maintenance, 15 * M);
        // The popup leaves maintenance out too.
        let r = node_record(&conn, "n", 300 * M).expect("record");
        assert_eq!(r.shares[0].1.in_lock, (117 - 10 - 20) * M);
    }

    #[test]
    fn acks_are_listed_in_the_window_and_filtered_by_node_and_group() {
        let (_dir, conn) = scripted();
        conn.execute_batch(&format!(
            "INSERT INTO ack_event (ack_id, target, event, by, reason, at_ms, until_ms, baseline)
             VALUES ('k1', 'n', 'ack', 'ops', 'cable', {a}, {u}, '{{}}'),
                    ('k2', '@g', 'ack', 'ops', '', {b}, {u}, '{{}}'),
                    ('k3', 'm', 'ack', 'ops', '', {b}, {u}, '{{}}'),
                    ('k1', 'n', 'recovered', 'ops', 'cable', {c}, {u}, '{{}}');",
            a = 45 * M,
            b = 46 * M,
            c = 150 * M,
            u = 400 * M,
        ))
        .expect("acks");
        let all = history(&conn, window(0, 300), &Filter::default(), 300 * M).expect("all");
        let ids: Vec<(&str, &str)> = all
            .acks
            .iter()
            .map(|a| (a.ack_id.as_str(), a.event.as_str()))
            .collect();
        assert_eq!(
            ids,
            vec![
                ("k1", "ack"),
                ("k2", "ack"),
                ("k3", "ack"),
                ("k1", "recovered")
            ]
        );
        let part = history(&conn, window(100, 300), &Filter::default(), 300 * M).expect("part");
        assert_eq!(part.acks.len(), 1);
        // @g brings its member n along, not m.
        let only_g = Filter {
            groups: vec!["g".into()],
            ..Filter::default()
        };
        let g = history(&conn, window(0, 300), &only_g, 300 * M).expect("g");
        let targets: Vec<&str> = g.acks.iter().map(|a| a.target.as_str()).collect();
        assert_eq!(targets, vec!["n", "@g", "n"]);
        // The listing on its own says the same.
        assert_eq!(acks(&conn, window(0, 300), &only_g).expect("acks"), g.acks);
    }

    #[test]
    fn a_version_3_file_reads_without_acks_or_maintenance() {
        let (_dir, conn) = scripted();
        conn.execute_batch("DROP TABLE ack_event; DROP TABLE ack_active; DROP TABLE maintenance;")
            .expect("v3");
        let h = history(&conn, window(0, 300), &Filter::default(), 300 * M).expect("history");
        assert!(h.acks.is_empty());
        let u = uptime(&conn, window(0, 300), &Filter::default(), 300 * M).expect("uptime");
        assert!(u.nodes.iter().all(|n| n.maintenance == 0));
        assert!(
            super::super::acks::in_force(&conn)
                .expect("acks")
                .is_empty()
        );
    }

    #[test]
    fn a_group_brings_its_members_and_unknown_names_are_refused() {
        let (_dir, conn) = scripted();
        let only_g = Filter {
            groups: vec!["g".into()],
            ..Filter::default()
        };
        let u = uptime(&conn, window(0, 300), &only_g, 300 * M).expect("uptime");
        let names: Vec<&str> = u.nodes.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, vec!["n"]);
        assert_eq!(u.groups.len(), 1);
        let e = history(
            &conn,
            window(0, 300),
            &Filter {
                nodes: vec!["x".into()],
                ..Filter::default()
            },
            300 * M,
        )
        .expect_err("unknown node");
        assert!(
            matches!(e, QueryError::UnknownNode(ref n) if n == "x"),
            "{e}"
        );
    }
}

//! Reading the history file: the runs, the subjects and their rows, with the
//! queries shaped for the `(subject, at_ms)` index. What the rows mean is
//! `timeline`'s business; this module only fetches.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use rusqlite::{Connection, OptionalExtension, params};

use super::timeline::{Row, Run, RunEnd, Span};
use super::writer::HEARTBEAT;
use crate::model::{NodeKey, Outcome, Status, Transition};

/// A run whose last heartbeat is younger than this is taken to be running.
const ALIVE: i64 = 3 * HEARTBEAT.as_millis() as i64;

/// The statuses that end an incident (`timeline::ends_incident`), for the index
/// walks below.
const HEALTHY: &str = "('synced', 'healthy', 'removed')";

/// A node or group in the file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subject {
    pub id: i64,
    pub name: String,
    /// The group of a node's latest row.
    pub group: Option<String>,
}

/// Every run, sorted by id (which is also start order), with its end as the file
/// knows it at `now`.
pub fn runs(conn: &Connection, now: i64) -> rusqlite::Result<Vec<Run>> {
    let mut stmt =
        conn.prepare("SELECT id, started_ms, heartbeat_ms, stopped_ms FROM run ORDER BY id")?;
    let mut out: Vec<Run> = stmt
        .query_map([], |r| {
            let stopped: Option<i64> = r.get(3)?;
            let heartbeat: i64 = r.get(2)?;
            Ok(Run {
                id: r.get(0)?,
                start: r.get(1)?,
                end: stopped.unwrap_or(heartbeat),
                ended: if stopped.is_some() {
                    RunEnd::Stopped
                } else {
                    RunEnd::Crashed
                },
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    // Only the last run can still be running: a newer start means the old one died.
    if let Some(last) = out.last_mut()
        && last.ended == RunEnd::Crashed
        && now - last.end < ALIVE
    {
        last.ended = RunEnd::Running;
        last.end = last.end.max(now);
    }
    Ok(out)
}

/// The nodes (`kind = "node"`) or groups in the file, by name.
pub fn subjects(conn: &Connection, kind: &str) -> rusqlite::Result<Vec<Subject>> {
    let mut stmt = conn.prepare(
        "SELECT s.id, s.name, \
           (SELECT g.name FROM transition t LEFT JOIN subject g ON g.id = t.grp \
            WHERE t.subject = s.id ORDER BY t.at_ms DESC LIMIT 1) \
         FROM subject s WHERE s.kind = ?1 ORDER BY s.name",
    )?;
    stmt.query_map([kind], |r| {
        Ok(Subject {
            id: r.get(0)?,
            name: r.get(1)?,
            group: if kind == "group" { None } else { r.get(2)? },
        })
    })?
    .collect()
}

/// Prepared statements for [`Rows::of`], reused across subjects.
pub struct Rows<'c> {
    healthy_before: rusqlite::Statement<'c>,
    row_before: rusqlite::Statement<'c>,
    range: rusqlite::Statement<'c>,
    healthy_after: rusqlite::Statement<'c>,
}

impl<'c> Rows<'c> {
    pub fn new(conn: &'c Connection) -> rusqlite::Result<Rows<'c>> {
        Ok(Rows {
            healthy_before: conn.prepare(&format!(
                "SELECT at_ms FROM transition WHERE subject = ?1 AND at_ms < ?2 \
                 AND status IN {HEALTHY} ORDER BY at_ms DESC LIMIT 1"
            ))?,
            row_before: conn.prepare(
                "SELECT at_ms FROM transition WHERE subject = ?1 AND at_ms < ?2 \
                 ORDER BY at_ms DESC LIMIT 1",
            )?,
            // Only what the (subject, at_ms, status, run) index holds: read from
            // the index alone.
            // Ordered by time only, which the index gives for free; ties (rare)
            // are put in rowid order in Rust, not by a sort in SQLite.
            range: conn.prepare(
                "SELECT at_ms, run, status, rowid FROM transition \
                 WHERE subject = ?1 AND at_ms >= ?2 AND at_ms < ?3 ORDER BY at_ms",
            )?,
            healthy_after: conn.prepare(&format!(
                "SELECT at_ms FROM transition WHERE subject = ?1 \
                 AND at_ms >= ?2 AND status IN {HEALTHY} ORDER BY at_ms LIMIT 1"
            ))?,
        })
    }

    /// A subject's rows for the window `[from, to)`: those inside it, the ones
    /// before it back to the last healthy row (so the status at `from` and the
    /// start of an incident already under way are known), and those after it up
    /// to the healthy row that ends an incident still open at `to`.
    pub fn of(&mut self, subject: i64, from: i64, to: i64) -> rusqlite::Result<Vec<Row>> {
        let healthy: Option<i64> = self
            .healthy_before
            .query_row(params![subject, from], |r| r.get(0))
            .optional()?;
        let lower = match healthy {
            Some(at) => at,
            None => match self
                .row_before
                .query_row(params![subject, from], |r| r.get::<_, i64>(0))
                .optional()?
            {
                // Unhealthy since its first row: the incident started there.
                Some(_) => i64::MIN,
                None => from,
            },
        };
        let mut rows: Vec<Row> = self
            .range
            .query_map(params![subject, lower, to], row)?
            .collect::<rusqlite::Result<_>>()?;
        // An incident still open at `to`: the rows up to the healthy one that ends
        // it (the statuses on the way decide where it ends, see `timeline`).
        if rows
            .last()
            .is_some_and(|r| !super::timeline::ends_incident(r.status))
            && let Some(end) = self
                .healthy_after
                .query_row(params![subject, to], |r| r.get::<_, i64>(0))
                .optional()?
        {
            let after = self.range.query_map(params![subject, to, end + 1], row)?;
            for r in after {
                rows.push(r?);
            }
        }
        // Nearly sorted already: a cheap pass.
        rows.sort_by_key(|r| (r.at, r.id));
        Ok(rows)
    }
}

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok(Row {
        at: r.get(0)?,
        run: r.get(1)?,
        status: super::timeline::word(r.get_ref(2)?.as_str()?),
        id: r.get(3)?,
    })
}

/// Whether the file has a table: a file of an older schema (read, never
/// migrated, by `history` and `uptime`) lacks the newer ones.
pub fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = ?1",
        [name],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
}

/// A prepared statement for [`Spans::of`], reused across subjects; nothing to
/// read in a file from before maintenance windows (schema version 3).
pub struct Spans<'c> {
    overlapping: Option<rusqlite::Statement<'c>>,
}

impl<'c> Spans<'c> {
    pub fn new(conn: &'c Connection) -> rusqlite::Result<Spans<'c>> {
        let overlapping = if has_table(conn, "maintenance")? {
            Some(conn.prepare(
                "SELECT start_ms, end_ms, run FROM maintenance WHERE subject = ?1 \
                 AND start_ms < ?3 AND (end_ms IS NULL OR end_ms > ?2) ORDER BY start_ms",
            )?)
        } else {
            None
        };
        Ok(Spans { overlapping })
    }

    /// A subject's maintenance spans that overlap `[from, to)`, each cut at the
    /// end of the run that saw it begin: a span still open in the file either
    /// lasts (its run is running: until now) or was left open by a crash, and
    /// then nobody knows past the run's last heartbeat. `runs` sorted by id.
    pub fn of(
        &mut self,
        subject: i64,
        from: i64,
        to: i64,
        runs: &[Run],
    ) -> rusqlite::Result<Vec<Span>> {
        let Some(stmt) = &mut self.overlapping else {
            return Ok(Vec::new());
        };
        let rows = stmt.query_map(params![subject, from, to], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (start, end, run) = row?;
            let run_end = runs
                .binary_search_by_key(&run, |r| r.id)
                .map(|k| runs[k].end)
                // A run the file does not have: known only to its start.
                .unwrap_or(start);
            let end = end.unwrap_or(run_end).min(run_end);
            if end > start {
                out.push(Span { start, end });
            }
        }
        Ok(out)
    }
}

/// The reply and error of one row (an incident's first), by rowid.
pub fn detail(conn: &Connection, id: i64) -> rusqlite::Result<(Option<String>, Option<String>)> {
    conn.prepare_cached("SELECT reply, error FROM transition WHERE rowid = ?1")?
        .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()
        .map(Option::unwrap_or_default)
}

/// Each node's last recorded status and since when it has held: the time of the
/// first of the trailing rows in that status (a restart records the same status
/// again at its first result).
pub fn last_statuses(
    conn: &Connection,
) -> rusqlite::Result<HashMap<String, (Status, std::time::SystemTime)>> {
    // Each is a short walk of the (subject, at_ms, status, run) index.
    let mut stmt = conn.prepare(
        "SELECT s.id, s.name, (SELECT status FROM transition WHERE subject = s.id \
           ORDER BY at_ms DESC LIMIT 1) FROM subject s WHERE s.kind = 'node'",
    )?;
    let mut changed = conn.prepare(
        "SELECT at_ms FROM transition WHERE subject = ?1 AND status <> ?2 \
         ORDER BY at_ms DESC LIMIT 1",
    )?;
    let mut first_after = conn.prepare(
        "SELECT at_ms FROM transition WHERE subject = ?1 AND at_ms > ?2 \
         ORDER BY at_ms LIMIT 1",
    )?;
    let last: Vec<(i64, String, Option<String>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut out = HashMap::with_capacity(last.len());
    for (subject, name, word) in last {
        let Some(status) = word.as_deref().and_then(Status::parse) else {
            continue;
        };
        let before: i64 = changed
            .query_row(params![subject, word], |r| r.get(0))
            .optional()?
            .unwrap_or(i64::MIN);
        let since: Option<i64> = first_after
            .query_row(params![subject, before], |r| r.get(0))
            .optional()?;
        if let Some(since) = since {
            out.insert(name, (status, time(since)));
        }
    }
    Ok(out)
}

/// The newest `limit` node transitions, newest first, for the dashboard's events
/// pane after a restart. Rows that only repeat the status before them (a
/// restart's first result) are not transitions and are left out, and so is a
/// first result that is healthy (not news).
pub fn recent(conn: &Connection, limit: usize) -> rusqlite::Result<Vec<Transition>> {
    // Newest rows first by rowid (which follows time), a page at a time: never a
    // sort of the whole table. Repeats are skipped, so look further, but not
    // forever: a restart of a large fleet records a repeat per node.
    const PAGE: i64 = 1_000;
    const LOOK_AT_MOST: usize = 50_000;
    let mut stmt = conn.prepare(
        "SELECT t.id, t.at_ms, s.name, g.name, t.status, t.reply, t.error, \
           (SELECT p.status FROM transition p WHERE p.subject = t.subject \
              AND (p.at_ms < t.at_ms OR (p.at_ms = t.at_ms AND p.rowid < t.id)) \
            ORDER BY p.at_ms DESC, p.rowid DESC LIMIT 1) \
         FROM (SELECT rowid AS id, * FROM transition WHERE rowid < ?1 \
               ORDER BY rowid DESC LIMIT ?2) t \
         JOIN subject s ON s.id = t.subject LEFT JOIN subject g ON g.id = t.grp \
         WHERE s.kind = 'node' ORDER BY t.id DESC",
    )?;
    let mut out = Vec::new();
    let mut cursor = i64::MAX;
    let mut looked = 0;
    while out.len() < limit && looked < LOOK_AT_MOST {
        let page: Vec<_> = stmt
            .query_map(params![cursor, PAGE], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, Option<String>>(7)?,
                ))
            })?
            .collect::<rusqlite::Result<_>>()?;
        // The page's lowest rowid, group rows included, so the next page follows.
        let lowest: Option<i64> = conn.query_row(
            "SELECT min(id) FROM (SELECT rowid AS id FROM transition WHERE rowid < ?1 \
                 ORDER BY rowid DESC LIMIT ?2)",
            params![cursor, PAGE],
            |r| r.get(0),
        )?;
        let Some(lowest) = lowest else {
            break;
        };
        cursor = lowest;
        looked += PAGE as usize;
        for (_, at, node, group, to, reply, error, from) in page {
            let (Some(to), from) = (Status::parse(&to), from.as_deref().and_then(Status::parse))
            else {
                continue;
            };
            if from == Some(to) || (from.is_none() && to.is_healthy()) {
                continue;
            }
            let text = match reply {
                Some(reply) => format!("reply \"{reply}\""),
                None => error.unwrap_or_default(),
            };
            out.push(Transition {
                at: time(at),
                node: NodeKey::new(&node),
                group: group.as_deref().map(Arc::from),
                from: from.unwrap_or(Status::Pending),
                to,
                outcome: Outcome::Recorded {
                    status: to,
                    text: text.into_boxed_str(),
                },
            });
            if out.len() == limit {
                break;
            }
        }
    }
    Ok(out)
}

/// The subject id of a node or group by name.
pub fn subject_id(conn: &Connection, kind: &str, name: &str) -> rusqlite::Result<Option<i64>> {
    conn.query_row(
        "SELECT id FROM subject WHERE kind = ?1 AND name = ?2",
        params![kind, name],
        |r| r.get(0),
    )
    .optional()
}

/// Unix milliseconds back to a time (before 1970 too).
pub fn time(ms: i64) -> std::time::SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    }
    .unwrap_or(UNIX_EPOCH)
}

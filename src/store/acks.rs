//! Acknowledgements and maintenance spans in the history file: the writer's
//! statements (called inside its batched transaction), what a restart and
//! `--once` read back, and the log `history` lists.
//!
//! An ack's baseline (what was acknowledged) is stored as JSON, so the
//! `sqlite3` shell shows it as text and a later version can add to it:
//! `{"kind":"node","status":"free"}` or `{"kind":"group","status":"members_free",
//! "members":[{"node":"wall-03","status":"free"}]}` (a group status `null`:
//! members out of lock while the group's own status was not yet known).

use std::path::Path;
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, params};
use serde::{Deserialize, Serialize};

use super::read::{self, time};
use super::schema;
use super::writer::ms;
use crate::model::{Ack, AckEvent, Baseline, GroupStatus, NodeKey, Status, Target};

/// How long `--once` waits for a file another program has locked: it has a
/// fleet to check, and the acks are a courtesy.
const PEEK_WAIT: Duration = Duration::from_millis(250);

/// Rows of the side tables pruned per statement, as for transitions.
const PRUNE_BATCH: i64 = 5_000;

#[derive(Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
enum BaselineJson {
    Node {
        status: String,
    },
    Group {
        status: Option<String>,
        #[serde(default)]
        members: Vec<MemberJson>,
    },
}

#[derive(Serialize, Deserialize)]
struct MemberJson {
    node: String,
    status: String,
}

const GROUP_STATUSES: [GroupStatus; 5] = [
    GroupStatus::Healthy,
    GroupStatus::NoMaster,
    GroupStatus::MultipleMasters,
    GroupStatus::MembersFree,
    GroupStatus::MembersUnknown,
];

fn group_status(word: &str) -> Option<GroupStatus> {
    GROUP_STATUSES.into_iter().find(|g| g.as_str() == word)
}

/// The baseline as stored.
pub fn baseline_json(b: &Baseline) -> String {
    let doc = match b {
        Baseline::Node(s) => BaselineJson::Node {
            status: s.as_str().to_owned(),
        },
        Baseline::Group { status, members } => BaselineJson::Group {
            status: status.map(|s| s.as_str().to_owned()),
            members: members
                .iter()
                .map(|(k, s)| MemberJson {
                    node: k.as_str().to_owned(),
                    status: s.as_str().to_owned(),
                })
                .collect(),
        },
    };
    // Plain strings and lists: serialising cannot fail.
    serde_json::to_string(&doc).unwrap_or_default()
}

/// The baseline read back; `None` for text this version cannot read (a status
/// word it does not know, or not JSON at all).
pub fn parse_baseline(text: &str) -> Option<Baseline> {
    match serde_json::from_str::<BaselineJson>(text).ok()? {
        BaselineJson::Node { status } => Status::parse(&status).map(Baseline::Node),
        BaselineJson::Group { status, members } => {
            let status = match status {
                Some(word) => Some(group_status(&word)?),
                None => None,
            };
            let members = members
                .into_iter()
                .map(|m| Some((NodeKey::new(&m.node), Status::parse(&m.status)?)))
                .collect::<Option<Vec<_>>>()?;
            Some(Baseline::Group { status, members })
        }
    }
}

// ---- writing (inside the writer's transaction) ----

/// Logs an ack given or ended, and keeps `ack_active` to what is in force: a
/// new ack takes its target's place (the one it replaces, if any, goes); an
/// ended one goes by id, so an end that arrives after its replacement removes
/// nothing else.
pub(super) fn write_event(tx: &Connection, e: &AckEvent) -> rusqlite::Result<()> {
    let (ack, event, by, at) = match e {
        AckEvent::Added(a) => (a, "ack", a.by.as_str(), a.at),
        AckEvent::Ended { ack, why, by, at } => {
            (ack, why.as_str(), by.as_deref().unwrap_or(&ack.by), *at)
        }
    };
    let baseline = baseline_json(&ack.baseline);
    tx.prepare_cached(
        "INSERT INTO ack_event (ack_id, target, event, by, reason, at_ms, until_ms, baseline) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        ack.id,
        ack.target.to_string(),
        event,
        by,
        ack.reason,
        ms(at),
        ms(ack.until),
        baseline
    ])?;
    match e {
        AckEvent::Added(a) => insert_active(tx, a, &baseline),
        AckEvent::Ended { ack, .. } => tx
            .prepare_cached("DELETE FROM ack_active WHERE ack_id = ?1")?
            .execute([&ack.id])
            .map(drop),
    }
}

/// An ack in force, in its target's place.
fn insert_active(tx: &Connection, a: &Ack, baseline: &str) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT OR REPLACE INTO ack_active (ack_id, target, by, reason, at_ms, until_ms, baseline) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        a.id,
        a.target.to_string(),
        a.by,
        a.reason,
        ms(a.at),
        ms(a.until),
        baseline
    ])
    .map(drop)
}

/// Makes `ack_active` exactly `acks`: a new file (the old one was deleted)
/// learns what this monitor holds in force.
pub(super) fn replace_active<'a>(
    tx: &Connection,
    acks: impl Iterator<Item = &'a Ack>,
) -> rusqlite::Result<()> {
    tx.execute("DELETE FROM ack_active", [])?;
    for a in acks {
        insert_active(tx, a, &baseline_json(&a.baseline))?;
    }
    Ok(())
}

/// A node or group entered `window` (its span before, if any, ends: one window
/// can follow another) or left maintenance (`None`) at `at`.
pub(super) fn write_maintenance(
    tx: &Connection,
    subject: i64,
    window: Option<&str>,
    at: i64,
    run: i64,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE maintenance SET end_ms = max(?2, start_ms) WHERE subject = ?1 AND end_ms IS NULL",
    )?
    .execute(params![subject, at])?;
    if let Some(window) = window {
        tx.prepare_cached(
            "INSERT INTO maintenance (subject, window, start_ms, run) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![subject, window, at, run])?;
    }
    Ok(())
}

/// Ends the spans earlier runs left open (a crash, or a stop that could not
/// write) when their run ended: what happened while no monitor ran is unknown,
/// and the new run says again, at its start, which windows are in force.
/// Called before the new run is recorded, so every open span is an old one.
pub(super) fn close_stale_spans(tx: &Connection) -> rusqlite::Result<usize> {
    tx.execute(
        "UPDATE maintenance SET end_ms = max(start_ms, coalesce(\
           (SELECT coalesce(r.stopped_ms, r.heartbeat_ms) FROM run r WHERE r.id = maintenance.run), \
           start_ms)) \
         WHERE end_ms IS NULL",
        [],
    )
}

/// On a clean stop: this run's open spans end now.
pub(super) fn close_spans_of_run(tx: &Connection, run: i64, at: i64) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "UPDATE maintenance SET end_ms = max(?2, start_ms) WHERE run = ?1 AND end_ms IS NULL",
    )?
    .execute(params![run, at])
    .map(drop)
}

/// Deletes the ack log rows and the ended maintenance spans older than `cut`
/// among the oldest [`PRUNE_BATCH`] of each (rowid follows time), in one short
/// statement each: a pass an hour takes far more than people and windows make.
/// The acks in force and the spans still open are kept, however old.
pub(super) fn prune(conn: &Connection, cut: i64) -> rusqlite::Result<()> {
    conn.execute(
        "DELETE FROM ack_event WHERE id IN \
         (SELECT id FROM ack_event ORDER BY id LIMIT ?2) AND at_ms < ?1",
        params![cut, PRUNE_BATCH],
    )?;
    conn.execute(
        "DELETE FROM maintenance WHERE rowid IN \
         (SELECT rowid FROM maintenance ORDER BY rowid LIMIT ?2) AND end_ms < ?1",
        params![cut, PRUNE_BATCH],
    )?;
    Ok(())
}

// ---- reading ----

/// Every ack in `ack_active`, expired ones too (the hub ends those, as
/// `expired`, at their time). A row this version cannot read is skipped, with
/// a warning: the others still hold. A file without the table has none.
pub(super) fn in_force(conn: &Connection) -> rusqlite::Result<Vec<Ack>> {
    if !read::has_table(conn, "ack_active")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT ack_id, target, by, reason, at_ms, until_ms, baseline FROM ack_active \
         ORDER BY at_ms",
    )?;
    let rows = stmt.query_map([], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, String>(2)?,
            r.get::<_, String>(3)?,
            r.get::<_, i64>(4)?,
            r.get::<_, i64>(5)?,
            r.get::<_, String>(6)?,
        ))
    })?;
    let mut out = Vec::new();
    for row in rows {
        let (id, target, by, reason, at, until, baseline) = match row {
            Ok(row) => row,
            Err(e) => {
                tracing::warn!("history: skipping an acknowledgement that cannot be read ({e})");
                continue;
            }
        };
        let (Ok(target), Some(baseline)) = (Target::parse(&target), parse_baseline(&baseline))
        else {
            tracing::warn!(
                "history: skipping acknowledgement {id}: its target {target:?} or baseline \
                 {baseline:?} cannot be read"
            );
            continue;
        };
        out.push(Ack {
            id,
            target,
            by,
            reason,
            at: time(at),
            until: time(until),
            baseline,
        });
    }
    Ok(out)
}

/// The acks in force now in the history file at `path`, read without writing
/// (`--once`): opened read-only, beside a monitor that writes it or not. No
/// file, a file busy or locked, an older one without acks, a newer or foreign
/// one: no acks, and a line in the log at debug level, never an error.
pub fn active_acks(path: &Path) -> Vec<Ack> {
    active_acks_at(path, SystemTime::now())
}

/// [`active_acks`] as of `now`.
pub fn active_acks_at(path: &Path, now: SystemTime) -> Vec<Ack> {
    let conn = match schema::open_for_reading_within(path, PEEK_WAIT) {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!("no acknowledgements from the history file: {e}");
            return Vec::new();
        }
    };
    // One read transaction: the acks as of one commit of the writer.
    let found = conn.unchecked_transaction().and_then(|tx| in_force(&tx));
    match found {
        Ok(acks) => acks.into_iter().filter(|a| a.until > now).collect(),
        Err(e) => {
            tracing::debug!(
                "no acknowledgements from the history file {}: {e}",
                path.display()
            );
            Vec::new()
        }
    }
}

/// One line of the ack log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckRecord {
    pub at: i64,
    pub ack_id: String,
    /// `NAME` or `@GROUP`, as stored.
    pub target: String,
    /// `ack`, or why it ended (`AckEnd::as_str`).
    pub event: String,
    /// Who gave it; for `unack`, who removed it.
    pub by: String,
    pub reason: String,
    pub until: i64,
}

impl AckRecord {
    /// The target, `None` for text that names none.
    pub fn target(&self) -> Option<Target> {
        Target::parse(&self.target).ok()
    }
}

/// The ack log of `[from, to)`, oldest first; empty in a file without one.
pub fn events(conn: &Connection, from: i64, to: i64) -> rusqlite::Result<Vec<AckRecord>> {
    if !read::has_table(conn, "ack_event")? {
        return Ok(Vec::new());
    }
    let mut stmt = conn.prepare(
        "SELECT at_ms, ack_id, target, event, by, reason, until_ms FROM ack_event \
         WHERE at_ms >= ?1 AND at_ms < ?2 ORDER BY at_ms, id",
    )?;
    stmt.query_map(params![from, to], |r| {
        Ok(AckRecord {
            at: r.get(0)?,
            ack_id: r.get(1)?,
            target: r.get(2)?,
            event: r.get(3)?,
            by: r.get(4)?,
            reason: r.get(5)?,
            until: r.get(6)?,
        })
    })?
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_read_back_as_written() {
        let node = Baseline::Node(Status::Timeout);
        let text = baseline_json(&node);
        assert_eq!(text, r#"{"kind":"node","status":"timeout"}"#);
        assert_eq!(parse_baseline(&text), Some(node));
        for status in [None, Some(GroupStatus::NoMaster)] {
            let group = Baseline::Group {
                status,
                members: vec![
                    (NodeKey::new("a"), Status::Free),
                    (NodeKey::new("b"), Status::Stale),
                ],
            };
            assert_eq!(parse_baseline(&baseline_json(&group)), Some(group));
        }
    }

    #[test]
    fn a_row_that_cannot_be_read_is_skipped_and_the_others_hold() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let conn = schema::open_for_writing(&path).expect("open");
        conn.execute_batch(
            r#"INSERT INTO ack_active (ack_id, target, by, reason, at_ms, until_ms, baseline)
               VALUES ('k1', 'wall-01', 'ops', 'cable', 1000, 9000000000000,
                       '{"kind":"node","status":"free"}'),
                      ('k2', '@wall-B', 'ops', '', 1000, 9000000000000, 'not json'),
                      ('k3', '@', 'ops', '', 1000, 9000000000000,
                       '{"kind":"node","status":"free"}'),
                      ('k4', 'wall-02', 'ops', '', 1000, 2000,
                       '{"kind":"node","status":"timeout"}');"#,
        )
        .expect("rows");
        let ids: Vec<String> = in_force(&conn)
            .expect("acks")
            .into_iter()
            .map(|a| a.id)
            .collect();
        assert_eq!(ids, vec!["k1".to_owned(), "k4".to_owned()]);
        drop(conn);
        // `--once` leaves out the one that ran out.
        let once = active_acks(&path);
        assert_eq!(once.len(), 1);
        assert_eq!(once[0].target, Target::Node("wall-01".into()));
        assert_eq!(once[0].reason, "cable");
        assert_eq!(once[0].until, time(9_000_000_000_000));
    }

    #[test]
    fn a_baseline_this_version_cannot_read_is_none() {
        for text in [
            "",
            "free",
            r#"{"kind":"node","status":"exploded"}"#,
            r#"{"kind":"rack","status":"free"}"#,
            r#"{"kind":"group","status":"on_fire","members":[]}"#,
            r#"{"kind":"group","status":null,"members":[{"node":"a","status":"?"}]}"#,
        ] {
            assert_eq!(parse_baseline(text), None, "{text}");
        }
        // Fields a later version adds are ignored.
        assert_eq!(
            parse_baseline(r#"{"kind":"node","status":"free","why":"x"}"#),
            Some(Baseline::Node(Status::Free))
        );
    }
}

//! The outbox: every notification is stored before it is sent, and marked when a
//! receiver took it or when it was given up. After a restart the pending ones are
//! sent again, with the same id, so a receiver that keys on the id sees each one
//! once. It lives in the history file (its own connection; SQLite serialises it
//! with the history writer), or in memory when history is off.
//!
//! Calls block on the disk: the notifier makes them from the blocking pool.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::schema;
use crate::model::notification::{Item, Notification, SubjectKind};

/// What a notification's life ended as, or that it has not.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum State {
    Pending,
    Delivered,
    GivenUp,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Pending => "pending",
            State::Delivered => "delivered",
            State::GivenUp => "given_up",
        }
    }

    fn parse(s: &str) -> State {
        match s {
            "delivered" => State::Delivered,
            "given_up" => State::GivenUp,
            _ => State::Pending,
        }
    }
}

/// A stored notification and how its delivery went so far.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub notification: Notification,
    pub attempts: u32,
    pub state: State,
    pub done_ms: Option<i64>,
    pub last_error: Option<String>,
}

#[derive(Debug)]
enum Backend {
    Sqlite(Connection),
    Memory {
        rows: Vec<Stored>,
        active: HashMap<(String, SubjectKind, String), Item>,
    },
}

/// Where notifications wait.
#[derive(Debug)]
pub struct Outbox {
    backend: Mutex<Backend>,
    path: Option<PathBuf>,
}

/// Delivered and given-up notifications kept in memory (history off), newest.
const MEMORY_DONE: usize = 1000;

fn kind_str(k: SubjectKind) -> &'static str {
    match k {
        SubjectKind::Node => "node",
        SubjectKind::Group => "group",
    }
}

impl Outbox {
    /// The outbox in a history file (created or migrated as the writer does).
    /// Finished notifications older than `retention` are removed.
    pub fn open(path: &Path, retention: Duration) -> Result<Outbox, String> {
        let conn = schema::open_for_writing(path).map_err(|e| e.to_string())?;
        let outbox = Outbox {
            backend: Mutex::new(Backend::Sqlite(conn)),
            path: Some(path.to_path_buf()),
        };
        let cut = crate::store::ms(std::time::SystemTime::now())
            .saturating_sub(retention.as_millis() as i64);
        outbox
            .prune(cut)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        Ok(outbox)
    }

    /// An outbox that lasts as long as the process: history is off.
    pub fn memory() -> Outbox {
        Outbox {
            backend: Mutex::new(Backend::Memory {
                rows: Vec::new(),
                active: HashMap::new(),
            }),
            path: None,
        }
    }

    /// The file it is in; `None` in memory.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    fn with<T>(&self, f: impl FnOnce(&mut Backend) -> Result<T, String>) -> Result<T, String> {
        let mut guard = self
            .backend
            .lock()
            .map_err(|_| "outbox lock poisoned".to_owned())?;
        f(&mut guard)
    }

    /// Stores what one closed window decided for `channel`, in one transaction:
    /// its notification as pending (when there is one), and the changes to what
    /// the channel has been told is unhealthy (firing items become active,
    /// recovered ones stop being), which are kept even when nothing is sent.
    pub fn put(
        &self,
        channel: &str,
        n: Option<&Notification>,
        changes: &[Item],
    ) -> Result<(), String> {
        self.put_all(&[Window {
            channel,
            notification: n,
            changes,
        }])
    }

    /// [`Outbox::put`] for the windows of every channel that closed at once, in
    /// one transaction: a storm's windows are one commit, not one per channel.
    pub fn put_all(&self, windows: &[Window<'_>]) -> Result<(), String> {
        self.with(|b| match b {
            Backend::Sqlite(conn) => {
                let tx = conn.transaction().map_err(|e| e.to_string())?;
                for w in windows {
                    store_window(&tx, w).map_err(|e| e.to_string())?;
                }
                tx.commit().map_err(|e| e.to_string())
            }
            Backend::Memory { rows, active } => {
                for w in windows {
                    for i in w.changes {
                        let key = (w.channel.to_owned(), i.kind, i.name.clone());
                        if i.firing {
                            active.insert(key, i.clone());
                        } else {
                            active.remove(&key);
                        }
                    }
                    if let Some(n) = w.notification {
                        rows.push(Stored {
                            notification: n.clone(),
                            attempts: 0,
                            state: State::Pending,
                            done_ms: None,
                            last_error: None,
                        });
                    }
                }
                Ok(())
            }
        })
    }

    /// Removes delivered and given-up notifications finished before `cut_ms`.
    pub fn prune(&self, cut_ms: i64) -> Result<usize, String> {
        self.with(|b| match b {
            Backend::Sqlite(conn) => conn
                .execute(
                    "DELETE FROM notification WHERE state != 'pending' AND done_ms < ?1",
                    [cut_ms],
                )
                .map_err(|e| e.to_string()),
            Backend::Memory { .. } => Ok(0),
        })
    }

    /// Every pending notification, oldest first.
    pub fn pending(&self) -> Result<Vec<Stored>, String> {
        self.with(|b| match b {
            Backend::Sqlite(conn) => {
                read_rows(conn, "WHERE state = 'pending' ORDER BY seq", params![])
            }
            Backend::Memory { rows, .. } => Ok(rows
                .iter()
                .filter(|r| r.state == State::Pending)
                .cloned()
                .collect()),
        })
    }

    /// What each channel was last told is unhealthy.
    pub fn active(&self) -> Result<HashMap<String, Vec<Item>>, String> {
        self.with(|b| {
            let mut out: HashMap<String, Vec<Item>> = HashMap::new();
            match b {
                Backend::Sqlite(conn) => {
                    let mut stmt = conn
                        .prepare(
                            "SELECT channel, item FROM notify_active ORDER BY channel, kind, name",
                        )
                        .map_err(|e| e.to_string())?;
                    let rows = stmt
                        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
                        .map_err(|e| e.to_string())?;
                    for row in rows {
                        let (channel, item) = row.map_err(|e| e.to_string())?;
                        // A row this version cannot read is skipped: at worst a
                        // recovery goes unannounced, which beats not starting.
                        if let Ok(item) = serde_json::from_str::<Item>(&item) {
                            out.entry(channel).or_default().push(item);
                        }
                    }
                }
                Backend::Memory { active, .. } => {
                    for ((channel, ..), item) in active.iter() {
                        out.entry(channel.clone()).or_default().push(item.clone());
                    }
                }
            }
            Ok(out)
        })
    }

    /// A delivery attempt ended: `state` Delivered or GivenUp finish it; Pending
    /// counts a failed attempt.
    pub fn mark(
        &self,
        id: &str,
        state: State,
        attempts: u32,
        at_ms: i64,
        error: Option<&str>,
    ) -> Result<(), String> {
        self.with(|b| match b {
            Backend::Sqlite(conn) => conn
                .execute(
                    "UPDATE notification SET state = ?2, attempts = ?3, \
                     done_ms = CASE WHEN ?2 = 'pending' THEN NULL ELSE ?4 END, \
                     last_error = coalesce(?5, last_error) WHERE id = ?1",
                    params![id, state.as_str(), attempts, at_ms, error],
                )
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Backend::Memory { rows, .. } => {
                if let Some(r) = rows.iter_mut().find(|r| r.notification.id == id) {
                    r.state = state;
                    r.attempts = attempts;
                    r.done_ms = (state != State::Pending).then_some(at_ms);
                    if let Some(e) = error {
                        r.last_error = Some(e.to_owned());
                    }
                }
                // Finished rows beyond the newest MEMORY_DONE are forgotten.
                let done = rows.iter().filter(|r| r.state != State::Pending).count();
                if done > MEMORY_DONE {
                    let mut extra = done - MEMORY_DONE;
                    rows.retain(|r| {
                        if extra > 0 && r.state != State::Pending {
                            extra -= 1;
                            false
                        } else {
                            true
                        }
                    });
                }
                Ok(())
            }
        })
    }

    /// One stored notification by id.
    pub fn get(&self, id: &str) -> Result<Option<Stored>, String> {
        self.with(|b| match b {
            Backend::Sqlite(conn) => {
                read_rows(conn, "WHERE id = ?1", params![id]).map(|mut v| v.pop())
            }
            Backend::Memory { rows, .. } => {
                Ok(rows.iter().find(|r| r.notification.id == id).cloned())
            }
        })
    }
}

/// One closed window of one channel, as [`Outbox::put_all`] stores it.
pub struct Window<'a> {
    pub channel: &'a str,
    pub notification: Option<&'a Notification>,
    pub changes: &'a [Item],
}

/// Writes one window inside the caller's transaction. The statements are cached:
/// a storm changes 10,000 rows of `notify_active` per channel.
fn store_window(tx: &rusqlite::Transaction<'_>, w: &Window<'_>) -> rusqlite::Result<()> {
    if let Some(n) = w.notification {
        let body = serde_json::to_string(n)
            .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
        tx.prepare_cached(
            "INSERT OR IGNORE INTO notification \
             (id, channel, created_ms, kind, title, body, state) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending')",
        )?
        .execute(params![
            n.id,
            n.channel,
            n.created_ms,
            n.kind.as_str(),
            n.title,
            body
        ])?;
    }
    let mut upsert = tx.prepare_cached(
        "INSERT OR REPLACE INTO notify_active (channel, kind, name, item) VALUES (?1, ?2, ?3, ?4)",
    )?;
    let mut delete = tx.prepare_cached(
        "DELETE FROM notify_active WHERE channel = ?1 AND kind = ?2 AND name = ?3",
    )?;
    for i in w.changes {
        if i.firing {
            let item = serde_json::to_string(i)
                .map_err(|e| rusqlite::Error::ToSqlConversionFailure(Box::new(e)))?;
            upsert.execute(params![w.channel, kind_str(i.kind), i.name, item])?;
        } else {
            delete.execute(params![w.channel, kind_str(i.kind), i.name])?;
        }
    }
    Ok(())
}

/// Notifications in a history file made within `[from_ms, to_ms)`, oldest first,
/// for `history`.
pub fn read_window(conn: &Connection, from_ms: i64, to_ms: i64) -> Result<Vec<Stored>, String> {
    let exists: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name = 'notification'",
            [],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| e.to_string())?;
    if exists.is_none() {
        return Ok(Vec::new());
    }
    read_rows(
        conn,
        "WHERE created_ms >= ?1 AND created_ms < ?2 ORDER BY seq",
        params![from_ms, to_ms],
    )
}

fn read_rows(
    conn: &Connection,
    tail: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Vec<Stored>, String> {
    let sql = format!("SELECT body, attempts, state, done_ms, last_error FROM notification {tail}");
    let mut stmt = conn.prepare(&sql).map_err(|e| e.to_string())?;
    let rows = stmt
        .query_map(args, |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })
        .map_err(|e| e.to_string())?;
    let mut out = Vec::new();
    for row in rows {
        let (body, attempts, state, done_ms, last_error) = row.map_err(|e| e.to_string())?;
        // A body this version cannot read is skipped, not fatal to the rest.
        let Ok(notification) = serde_json::from_str::<Notification>(&body) else {
            continue;
        };
        out.push(Stored {
            notification,
            attempts: attempts.clamp(0, u32::MAX as i64) as u32,
            state: State::parse(&state),
            done_ms,
            last_error,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::notification::Kind;

    fn item(name: &str, firing: bool) -> Item {
        Item {
            kind: SubjectKind::Node,
            name: name.into(),
            group: None,
            status: if firing { "free" } else { "synced" }.into(),
            firing,
            since_ms: 1,
            started_ms: 1,
            detail: String::new(),
            was: None,
        }
    }

    fn note(id: &str, items: Vec<Item>) -> Notification {
        Notification {
            id: id.into(),
            channel: "c".into(),
            created_ms: 1000,
            kind: Kind::Firing,
            title: "t".into(),
            items,
            page_url: None,
        }
    }

    fn exercise(o: &Outbox) {
        let a = note("a", vec![item("n1", true), item("n2", true)]);
        o.put("c", Some(&a), &a.items).expect("put");
        let b = note("b", vec![item("n1", false)]);
        o.put("c", Some(&b), &b.items).expect("put");
        // A change nothing was sent for is remembered too.
        o.put("c", None, &[item("n3", true)]).expect("put");
        o.put("c", None, &[item("n3", false)]).expect("put");
        let active = o.active().expect("active");
        assert_eq!(active["c"].len(), 1);
        assert_eq!(active["c"][0].name, "n2");
        let pending = o.pending().expect("pending");
        assert_eq!(
            pending
                .iter()
                .map(|p| p.notification.id.as_str())
                .collect::<Vec<_>>(),
            ["a", "b"]
        );
        o.mark("a", State::Pending, 1, 2000, Some("503"))
            .expect("mark");
        o.mark("a", State::Delivered, 2, 3000, None).expect("mark");
        let a = o.get("a").expect("get").expect("a");
        assert_eq!(
            (a.state, a.attempts, a.done_ms),
            (State::Delivered, 2, Some(3000))
        );
        assert_eq!(a.last_error.as_deref(), Some("503"));
        assert_eq!(o.pending().expect("pending").len(), 1);
    }

    #[test]
    fn memory_and_file_outboxes_behave_alike() {
        exercise(&Outbox::memory());
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        exercise(&Outbox::open(&path, Duration::from_secs(3600)).expect("open"));
        // What was pending is still pending after a reopen.
        let again = Outbox::open(&path, Duration::from_secs(3600)).expect("reopen");
        assert_eq!(again.pending().expect("pending")[0].notification.id, "b");
        assert_eq!(again.active().expect("active")["c"][0].name, "n2");
    }
}

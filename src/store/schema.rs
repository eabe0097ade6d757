//! The history database's schema, its version, and opening a file safely.
//!
//! Plain tables meant to be read with the `sqlite3` shell too (docs/history.md has
//! them). The version is `PRAGMA user_version`; a file from a newer version of the
//! monitor is refused, never rewritten.
//!
//! Transitions, not samples: a node that stays in lock for a year is one row.
//! Times are Unix milliseconds (UTC) in INTEGER columns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

/// The schema this build writes and reads.
pub const VERSION: i64 = 4;
/// `PRAGMA application_id`: "SGFH", so a stray SQLite file is not taken for ours.
pub const APPLICATION_ID: i64 = 0x5347_4648;

/// Version 1. Migrations from older versions go in [`MIGRATIONS`], in order.
const SCHEMA_V1: &str = "
CREATE TABLE subject (
    id   INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('node', 'group')),
    name TEXT NOT NULL,
    UNIQUE (kind, name)
);
CREATE TABLE run (
    id           INTEGER PRIMARY KEY,
    started_ms   INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    stopped_ms   INTEGER,
    version      TEXT NOT NULL
);
CREATE TABLE transition (
    at_ms   INTEGER NOT NULL,
    subject INTEGER NOT NULL REFERENCES subject (id),
    grp     INTEGER REFERENCES subject (id),
    run     INTEGER NOT NULL REFERENCES run (id),
    status  TEXT NOT NULL,
    role    TEXT,
    code    INTEGER,
    reply   TEXT,
    error   TEXT
);
CREATE INDEX transition_by_subject ON transition (subject, at_ms);
";

/// Version 2: the per-subject index also holds each row's status and run, so a
/// window's shares are read from the index alone, never from the table (which
/// holds the reply and error texts, and is in time order, not subject order);
/// and the file says whose it is.
const SCHEMA_V2: &str = "
DROP INDEX transition_by_subject;
CREATE INDEX transition_by_subject ON transition (subject, at_ms, status, run);
PRAGMA application_id = 1397179976;
";

/// Version 3: the notification outbox. A notification is written here before it
/// is sent and marked when the receiver took it (or when it was given up), so a
/// restart resumes what was pending. `notify_active` is what each channel was
/// last told is unhealthy, so a recovery after a restart is still announced.
const SCHEMA_V3: &str = "
CREATE TABLE notification (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    channel    TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'given_up')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    done_ms    INTEGER,
    last_error TEXT
);
CREATE INDEX notification_by_state ON notification (state, channel, seq);
CREATE TABLE notify_active (
    channel TEXT NOT NULL,
    kind    TEXT NOT NULL,
    name    TEXT NOT NULL,
    item    TEXT NOT NULL,
    PRIMARY KEY (channel, kind, name)
) WITHOUT ROWID;
";

/// Version 4: acknowledgements and maintenance windows.
/// - `ack_event` is the log of every ack given and ended (`event` is `ack`, or
///   why it ended: `recovered`, `expired`, `unack`, `worse`, `gone`,
///   `replaced`); `by` is who gave it, or for `unack` who removed it.
/// - `ack_active` is the acks in force, one per target (`NAME` or `@GROUP`): a
///   restart and `--once` read them back. Written in the same transaction as the
///   log, so the two never disagree.
/// - `maintenance` is each node's and group's time in a maintenance window:
///   `end_ms` is `NULL` while it lasts. `run` is the run that saw it begin: a
///   span that run left open (a crash) ended, as far as anyone knows, when the
///   run did.
const SCHEMA_V4: &str = "
CREATE TABLE ack_event (
    id       INTEGER PRIMARY KEY,
    ack_id   TEXT NOT NULL,
    target   TEXT NOT NULL,
    event    TEXT NOT NULL,
    by       TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at_ms    INTEGER NOT NULL,
    until_ms INTEGER NOT NULL,
    baseline TEXT NOT NULL
);
CREATE INDEX ack_event_by_time ON ack_event (at_ms);
CREATE TABLE ack_active (
    ack_id   TEXT PRIMARY KEY,
    target   TEXT NOT NULL UNIQUE,
    by       TEXT NOT NULL,
    reason   TEXT NOT NULL,
    at_ms    INTEGER NOT NULL,
    until_ms INTEGER NOT NULL,
    baseline TEXT NOT NULL
);
CREATE TABLE maintenance (
    subject  INTEGER NOT NULL REFERENCES subject (id),
    window   TEXT NOT NULL,
    start_ms INTEGER NOT NULL,
    end_ms   INTEGER,
    run      INTEGER NOT NULL REFERENCES run (id)
);
CREATE INDEX maintenance_by_subject ON maintenance (subject, start_ms);
";

/// `MIGRATIONS[i]` takes a database from version `i` to `i + 1`; version 0 is an
/// empty file.
const MIGRATIONS: &[&str] = &[SCHEMA_V1, SCHEMA_V2, SCHEMA_V3, SCHEMA_V4];

/// Why a history file cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path}: history database not found")]
    Missing { path: String },
    #[error(
        "{path}: history database has schema version {found}, newer than this syncguard-fleet \
         understands ({VERSION}); use a newer syncguard-fleet, or another file with --history PATH"
    )]
    Newer { path: String, found: i64 },
    #[error("{path}: not a syncguard-fleet history database ({why})")]
    NotOurs { path: String, why: String },
    #[error("{path}: cannot open the history database: {why}")]
    Sqlite { path: String, why: String },
}

fn sqlite(path: &Path, e: rusqlite::Error) -> OpenError {
    let path = path.display().to_string();
    match &e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            OpenError::NotOurs {
                path,
                why: "the file is not an SQLite database".into(),
            }
        }
        _ => OpenError::Sqlite {
            path,
            why: e.to_string(),
        },
    }
}

/// How long a connection waits for another's lock before it gives up.
const WAIT: Duration = Duration::from_secs(5);

/// Settings for every connection: readers wait for a writer's commit instead of
/// failing at once.
fn configure(conn: &Connection, path: &Path, wait: Duration) -> Result<(), OpenError> {
    conn.busy_timeout(wait).map_err(|e| sqlite(path, e))
}

/// The version in the file, after checking it is a database at all (SQLite reads
/// the header lazily, so a file of random bytes fails here, not at open).
fn version(conn: &Connection, path: &Path) -> Result<i64, OpenError> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| sqlite(path, e))
}

/// Opens (creating if needed) the database a monitor writes: WAL, the schema
/// migrated to [`VERSION`]. A newer or foreign file is refused and left untouched.
pub fn open_for_writing(path: &Path) -> Result<Connection, OpenError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| OpenError::Sqlite {
            path: path.display().to_string(),
            why: format!("cannot create {}: {e}", dir.display()),
        })?;
    }
    let conn = Connection::open(path).map_err(|e| sqlite(path, e))?;
    configure(&conn, path, WAIT)?;
    let found = version(&conn, path)?;
    if found > VERSION {
        return Err(OpenError::Newer {
            path: path.display().to_string(),
            found,
        });
    }
    if found == 0 && has_tables(&conn, path)? {
        return Err(OpenError::NotOurs {
            path: path.display().to_string(),
            why: "it has tables but no syncguard-fleet schema version".into(),
        });
    }
    check_ours(&conn, path, found)?;
    // WAL: readers (`history`, `uptime`) never block the writer, and a crash loses
    // at most the transaction being written.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| sqlite(path, e))?;
    conn.pragma_update(None, "synchronous", "NORMAL")
        .map_err(|e| sqlite(path, e))?;
    // The writer appends; it rereads almost nothing, so a small page cache does:
    // the 2 MiB default would sit in the monitor's memory for no gain.
    conn.pragma_update(None, "cache_size", -256)
        .map_err(|e| sqlite(path, e))?;
    migrate(&conn, found).map_err(|e| sqlite(path, e))?;
    Ok(conn)
}

/// Opens an existing database for reading; a missing file is an error and is not
/// created. A file no monitor has open (no `-wal` beside it) is opened immutable,
/// so a reader leaves no `-wal` or `-shm` file behind (which, made by root, could
/// lock the service's user out) and needs no write access to the directory.
pub fn open_for_reading(path: &Path) -> Result<Connection, OpenError> {
    open_for_reading_within(path, WAIT)
}

/// [`open_for_reading`], waiting at most `wait` for a lock another program
/// holds: a quick look (`--once` reading the acks) does not wait as long as a
/// question asked of the history does.
pub fn open_for_reading_within(path: &Path, wait: Duration) -> Result<Connection, OpenError> {
    if !path.exists() {
        return Err(OpenError::Missing {
            path: path.display().to_string(),
        });
    }
    let wal = PathBuf::from(format!("{}-wal", path.display()));
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = match immutable_uri(path).filter(|_| !wal.exists()) {
        Some(uri) => Connection::open_with_flags(uri, flags | OpenFlags::SQLITE_OPEN_URI),
        None => Connection::open_with_flags(path, flags),
    }
    .map_err(|e| sqlite(path, e))?;
    configure(&conn, path, wait)?;
    match version(&conn, path)? {
        0 => Err(OpenError::NotOurs {
            path: path.display().to_string(),
            why: "no syncguard-fleet schema version".into(),
        }),
        found if found > VERSION => Err(OpenError::Newer {
            path: path.display().to_string(),
            found,
        }),
        found => {
            check_ours(&conn, path, found)?;
            Ok(conn)
        }
    }
}

/// `file:/abs/path?immutable=1`, with the characters a URI reserves escaped;
/// `None` for a path that is not UTF-8 (opened the ordinary way).
fn immutable_uri(path: &Path) -> Option<String> {
    let abs = std::path::absolute(path).ok()?;
    let text = abs.to_str()?.replace('\\', "/");
    let mut uri = String::from("file:");
    // Windows: file:/C:/dir/history.db
    if !text.starts_with('/') {
        uri.push('/');
    }
    for c in text.chars() {
        match c {
            '%' => uri.push_str("%25"),
            '?' => uri.push_str("%3f"),
            '#' => uri.push_str("%23"),
            c => uri.push(c),
        }
    }
    uri.push_str("?immutable=1");
    Some(uri)
}

/// A file with a schema version must also be ours: version 2 on says so in
/// `application_id`; a version 1 file (which did not) must have our tables.
fn check_ours(conn: &Connection, path: &Path, found: i64) -> Result<(), OpenError> {
    if found == 0 {
        return Ok(());
    }
    let id: i64 = conn
        .query_row("PRAGMA application_id", [], |r| r.get(0))
        .map_err(|e| sqlite(path, e))?;
    let ours = id == APPLICATION_ID
        || (id == 0
            && found == 1
            && conn
                .query_row(
                    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' \
                     AND name IN ('subject', 'run', 'transition')",
                    [],
                    |r| r.get::<_, i64>(0),
                )
                .map_err(|e| sqlite(path, e))?
                == 3);
    if ours {
        Ok(())
    } else {
        Err(OpenError::NotOurs {
            path: path.display().to_string(),
            why: format!("application id {id:#x}, schema version {found}"),
        })
    }
}

fn has_tables(conn: &Connection, path: &Path) -> Result<bool, OpenError> {
    conn.query_row(
        "SELECT count(*) FROM sqlite_schema WHERE type = 'table'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|n| n > 0)
    .map_err(|e| sqlite(path, e))
}

/// Applies every migration after `from`, each in its own transaction with the
/// version bump, so a crash mid-way leaves a consistent older version.
fn migrate(conn: &Connection, from: i64) -> rusqlite::Result<()> {
    for (i, step) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        let to = i as i64 + 1;
        conn.execute_batch("BEGIN IMMEDIATE")?;
        // The writer and the outbox open the same file at start, each on its
        // own connection: the other may have migrated since the version was
        // read. The write lock is ours now, so look again.
        let step = match conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)) {
            Ok(now) if now >= to => "COMMIT;".to_owned(),
            Ok(_) => format!("{step} PRAGMA user_version = {to}; COMMIT;"),
            Err(e) => {
                let _ = conn.execute_batch("ROLLBACK");
                return Err(e);
            }
        };
        if let Err(e) = conn.execute_batch(&step) {
            let _ = conn.execute_batch("ROLLBACK");
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_file_gets_the_schema_and_opens_again() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("sub/history.db");
        let conn = open_for_writing(&path).expect("create");
        assert_eq!(version(&conn, &path).expect("version"), VERSION);
        let mode: String = conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .expect("mode");
        assert_eq!(mode, "wal");
        drop(conn);
        open_for_writing(&path).expect("reopen");
        open_for_reading(&path).expect("read");
    }

    #[test]
    fn newer_foreign_corrupt_and_missing_files_are_refused_untouched() {
        let dir = tempfile::tempdir().expect("tempdir");
        let newer = dir.path().join("newer.db");
        Connection::open(&newer)
            .and_then(|c| c.execute_batch("PRAGMA user_version = 99;"))
            .expect("newer");
        let before = std::fs::read(&newer).expect("read");
        let e = open_for_writing(&newer).expect_err("newer").to_string();
        assert!(e.contains("schema version 99, newer than"), "{e}");
        assert_eq!(std::fs::read(&newer).expect("read"), before, "rewritten");

        // Another program's file that happens to set a version we know.
        let versioned = dir.path().join("versioned.db");
        Connection::open(&versioned)
            .and_then(|c| c.execute_batch("CREATE TABLE t (x); PRAGMA user_version = 2;"))
            .expect("versioned");
        for e in [
            open_for_writing(&versioned)
                .expect_err("foreign")
                .to_string(),
            open_for_reading(&versioned)
                .expect_err("foreign")
                .to_string(),
        ] {
            assert!(e.contains("not a syncguard-fleet history database"), "{e}");
        }

        let foreign = dir.path().join("foreign.db");
        Connection::open(&foreign)
            .and_then(|c| c.execute_batch("CREATE TABLE t (x);"))
            .expect("foreign");
        let e = open_for_writing(&foreign).expect_err("foreign").to_string();
        assert!(e.contains("not a syncguard-fleet history database"), "{e}");

        let corrupt = dir.path().join("corrupt.db");
        let junk: Vec<u8> = (0..8192u32)
            .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
            .collect();
        std::fs::write(&corrupt, &junk).expect("write");
        for e in [
            open_for_writing(&corrupt).expect_err("corrupt").to_string(),
            open_for_reading(&corrupt).expect_err("corrupt").to_string(),
        ] {
            assert!(e.contains("not an SQLite database"), "{e}");
        }
        assert_eq!(
            std::fs::read(&corrupt).expect("read"),
            junk,
            "corrupt file changed"
        );

        let missing = dir.path().join("missing.db");
        let e = open_for_reading(&missing).expect_err("missing").to_string();
        assert!(e.contains("history database not found"), "{e}");
        assert!(!missing.exists(), "a reader created the file");
    }
}

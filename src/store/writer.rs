//! The one writer of a history database: a thread of its own, fed by a bounded
//! channel from the hub, so polling and listening never wait on the disk.
//!
//! It writes what arrives in batches (one transaction each), stamps a heartbeat on
//! its run every [`HEARTBEAT`] so a crash shows later as a monitor gap, and marks
//! the run stopped on a clean stop. When a write fails (disk full, read-only file,
//! locked, deleted) it keeps what it has, says so once a minute, and retries: the
//! monitor goes on. Only when even its backlog is full are records dropped, and
//! counted.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, params};

use super::schema::{self, OpenError};
use crate::model::Transition;

/// How often the running monitor's run row is stamped.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// Records the hub may queue before the writer takes them: a storm of 10,000
/// nodes changing at once fits.
const QUEUE: usize = 16_384;
/// Records kept while the disk refuses them; past this the oldest are dropped.
const BACKLOG: usize = 100_000;
/// Records written per transaction at most.
const BATCH: usize = 8_192;
/// A failed write is tried again after this long.
const RETRY: Duration = Duration::from_secs(5);

/// Why the store could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(
        "{path}: history database is in use by another monitor{holder}; give this one its own file with --history PATH, or --no-history"
    )]
    Locked { path: String, holder: String },
    #[error("{path}: {why}")]
    Io { path: String, why: String },
}

/// What the writer has done, read by the snapshot (and so by `/metrics` and the
/// dashboard).
#[derive(Debug, Default)]
pub struct HistoryStats {
    pub written: AtomicU64,
    pub dropped: AtomicU64,
    /// The current write problem, cleared by the next successful write.
    pub problem: Mutex<Option<String>>,
}

impl HistoryStats {
    pub fn problem(&self) -> Option<String> {
        self.problem.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn set_problem(&self, p: Option<String>) {
        if let Ok(mut slot) = self.problem.lock() {
            *slot = p;
        }
    }
}

enum Msg {
    Transition(Box<Transition>),
    Stop,
}

/// The hub's handle on the writer.
pub struct History {
    tx: SyncSender<Msg>,
    stats: Arc<HistoryStats>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
}

impl History {
    /// Takes the file's lock, opens (or creates) the database and starts the
    /// writer with a new run.
    pub fn start(path: &Path) -> Result<History, StartError> {
        let lock = take_lock(path)?;
        let conn = schema::open_for_writing(path)?;
        let now = ms(SystemTime::now());
        conn.execute(
            "INSERT INTO run (started_ms, heartbeat_ms, version) VALUES (?1, ?1, ?2)",
            params![now, env!("CARGO_PKG_VERSION")],
        )
        .map_err(|e| StartError::Io {
            path: path.display().to_string(),
            why: format!("cannot record the start: {e}"),
        })?;
        let run = conn.last_insert_rowid();
        let (tx, rx) = mpsc::sync_channel(QUEUE);
        let stats = Arc::new(HistoryStats::default());
        let mut writer = Writer {
            conn,
            run,
            nodes: HashMap::new(),
            groups: HashMap::new(),
            backlog: VecDeque::new(),
            stats: stats.clone(),
            last_warning: None,
            _lock: lock,
        };
        let thread = std::thread::Builder::new()
            .name("history".into())
            .spawn(move || writer.run(&rx))
            .map_err(|e| StartError::Io {
                path: path.display().to_string(),
                why: format!("cannot start the writer: {e}"),
            })?;
        Ok(History {
            tx,
            stats,
            thread: Some(thread),
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> Arc<HistoryStats> {
        self.stats.clone()
    }

    /// Queues a shown transition; never blocks. A full queue drops it, counted.
    pub fn record(&self, t: &Transition) {
        match self.tx.try_send(Msg::Transition(Box::new(t.clone()))) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Writes what is queued, marks the run stopped, and waits for the writer.
    pub fn stop(mut self) {
        self.finish();
    }

    fn finish(&mut self) {
        if let Some(thread) = self.thread.take() {
            let _ = self.tx.send(Msg::Stop);
            let _ = thread.join();
        }
    }
}

impl std::fmt::Debug for History {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("History").field("path", &self.path).finish()
    }
}

impl Drop for History {
    fn drop(&mut self) {
        self.finish();
    }
}

/// Unix milliseconds.
pub fn ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// One writer per file: an OS lock on `<file>.lock`, which dies with the process
/// (so a crash never leaves it held). The holder's pid is written into it for the
/// message the next one gets.
fn take_lock(path: &Path) -> Result<File, StartError> {
    let lock_path = PathBuf::from(format!("{}.lock", path.display()));
    let io = |why: String| StartError::Io {
        path: lock_path.display().to_string(),
        why,
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| io(format!("cannot create {}: {e}", dir.display())))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&lock_path)
        .map_err(|e| io(format!("cannot open the lock file: {e}")))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            return Err(StartError::Locked {
                path: path.display().to_string(),
                holder: if holder.is_empty() {
                    String::new()
                } else {
                    format!(" ({holder})")
                },
            });
        }
        Err(std::fs::TryLockError::Error(e)) => return Err(io(format!("cannot lock: {e}"))),
    }
    let _ = file.set_len(0);
    let _ = write!(file, "pid {}", std::process::id());
    Ok(file)
}

struct Writer {
    conn: Connection,
    run: i64,
    /// Node and group ids by name, so a transition costs no lookup query. Keyed by
    /// the names the fleet already shares (reference counts, not copies).
    nodes: HashMap<Arc<str>, i64>,
    groups: HashMap<Arc<str>, i64>,
    backlog: VecDeque<Box<Transition>>,
    stats: Arc<HistoryStats>,
    last_warning: Option<Instant>,
    _lock: File,
}

impl Writer {
    fn run(&mut self, rx: &mpsc::Receiver<Msg>) {
        let mut next_beat = Instant::now() + HEARTBEAT;
        let mut retry_at: Option<Instant> = None;
        loop {
            let wake = retry_at.map_or(next_beat, |r| r.min(next_beat));
            let stop = match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(Msg::Transition(t)) => {
                    self.keep(t);
                    let mut stop = false;
                    while self.backlog.len() < BATCH {
                        match rx.try_recv() {
                            Ok(Msg::Transition(t)) => self.keep(t),
                            Ok(Msg::Stop) => {
                                stop = true;
                                break;
                            }
                            Err(_) => break,
                        }
                    }
                    stop
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => true,
                Err(RecvTimeoutError::Timeout) => false,
            };
            let now = Instant::now();
            let beat = now >= next_beat;
            // After a failure, wait for the retry time unless stopping.
            if retry_at.is_some_and(|r| now < r) && !stop {
                continue;
            }
            if self.backlog.is_empty() && !beat && !stop {
                continue;
            }
            match self.flush(stop) {
                Ok(()) => {
                    retry_at = None;
                    if beat {
                        next_beat = now + HEARTBEAT;
                    }
                }
                Err(e) => {
                    self.failed(&e);
                    retry_at = Some(now + RETRY);
                    if beat {
                        next_beat = now + HEARTBEAT;
                    }
                }
            }
            if stop {
                if !self.backlog.is_empty() {
                    // The last chance to write has failed: what is left is lost,
                    // and said so, never silently.
                    let lost = self.backlog.len() as u64;
                    self.stats.dropped.fetch_add(lost, Ordering::Relaxed);
                    tracing::error!("history: {lost} records could not be written before the stop");
                }
                return;
            }
        }
    }

    fn keep(&mut self, t: Box<Transition>) {
        if self.backlog.len() >= BACKLOG {
            self.backlog.pop_front();
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.backlog.push_back(t);
    }

    fn failed(&mut self, e: &rusqlite::Error) {
        let msg = format!(
            "history: cannot write ({e}); {} records waiting, retrying every {}s",
            self.backlog.len(),
            RETRY.as_secs()
        );
        if self
            .last_warning
            .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
        {
            self.last_warning = Some(Instant::now());
            tracing::warn!("{msg}");
        }
        self.stats.set_problem(Some(msg));
    }

    /// Writes the backlog (in batches) and the heartbeat; on a clean stop, marks
    /// the run stopped. What was committed leaves the backlog.
    fn flush(&mut self, stop: bool) -> rusqlite::Result<()> {
        let result = self.write_backlog(stop);
        if result.is_err() {
            // Ids cached inside a transaction that did not commit may not exist.
            self.nodes.clear();
            self.groups.clear();
        }
        result
    }

    fn write_backlog(&mut self, stop: bool) -> rusqlite::Result<()> {
        loop {
            let n = self.backlog.len().min(BATCH);
            let now = ms(SystemTime::now());
            let tx = self.conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO transition (at_ms, subject, grp, run, status, role, code, reply, error) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for t in self.backlog.iter().take(n) {
                    let subject = subject_id(&tx, &mut self.nodes, "node", t.node.shared())?;
                    let grp = match &t.group {
                        Some(g) => Some(subject_id(&tx, &mut self.groups, "group", g)?),
                        None => None,
                    };
                    let reply = t.reply();
                    insert.execute(params![
                        ms(t.at),
                        subject,
                        grp,
                        self.run,
                        t.to.as_str(),
                        t.role().map(|r| r.to_string()),
                        reply.and_then(|r| r.code()),
                        reply.map(|r| r.to_string()),
                        t.outcome.error(),
                    ])?;
                }
            }
            let last = stop && n == self.backlog.len();
            if last {
                tx.execute(
                    "UPDATE run SET heartbeat_ms = ?1, stopped_ms = ?1 WHERE id = ?2",
                    params![now, self.run],
                )?;
            } else {
                tx.execute(
                    "UPDATE run SET heartbeat_ms = ?1 WHERE id = ?2",
                    params![now, self.run],
                )?;
            }
            tx.commit()?;
            self.backlog.drain(..n);
            self.stats.written.fetch_add(n as u64, Ordering::Relaxed);
            self.stats.set_problem(None);
            if self.backlog.is_empty() {
                return Ok(());
            }
        }
    }
}

/// The id of a node or group, inserted on first sight.
fn subject_id(
    conn: &Connection,
    cache: &mut HashMap<Arc<str>, i64>,
    kind: &'static str,
    name: &Arc<str>,
) -> rusqlite::Result<i64> {
    if let Some(id) = cache.get(name) {
        return Ok(*id);
    }
    conn.execute(
        "INSERT OR IGNORE INTO subject (kind, name) VALUES (?1, ?2)",
        params![kind, &**name],
    )?;
    let id = conn.query_row(
        "SELECT id FROM subject WHERE kind = ?1 AND name = ?2",
        params![kind, &**name],
        |r| r.get(0),
    )?;
    cache.insert(name.clone(), id);
    Ok(id)
}

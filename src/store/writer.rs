//! The one writer of a history database: a thread of its own, fed by a bounded
//! channel from the hub, so polling and listening never wait on the disk.
//!
//! It writes what arrives in batches (one transaction each), stamps a heartbeat on
//! its run every [`HEARTBEAT`] so a crash shows later as a monitor gap, and marks
//! the run stopped on a clean stop. When a write fails (disk full, read-only file,
//! locked) it keeps what it has, says so once a minute, and retries: the monitor
//! goes on. A file deleted under it is noticed at the next heartbeat and started
//! anew. Only when even its backlog is full are records dropped, and counted.
//! Rows older than the retention are pruned in small batches between writes.
//!
//! Acks and maintenance spans go in the same transactions as the transitions, so
//! a kill -9 loses at most the open batch of each, and `ack_active` always
//! agrees with the ack log.

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
use super::{acks, read};
use crate::model::{Ack, AckEvent, GroupTransition, Status, Target, Transition};
use crate::present;

/// How often the running monitor's run row is stamped.
pub const HEARTBEAT: Duration = Duration::from_secs(10);
/// Records the hub may queue before the writer takes them: a storm of 10,000
/// nodes changing at once fits.
const QUEUE: usize = 16_384;
/// Records kept while the disk refuses them; past this the oldest are dropped.
const BACKLOG: usize = 100_000;
/// Records written per transaction at most.
const BATCH: usize = 8_192;
/// A failed write is tried again after this long (tests: at once, nearly).
const RETRY: Duration = Duration::from_millis(if cfg!(test) { 100 } else { 5_000 });
/// How often the run is stamped (tests: often, but less often than a retry, as
/// in production).
const BEAT: Duration = if cfg!(test) {
    Duration::from_millis(300)
} else {
    HEARTBEAT
};
/// How often old rows are pruned (and once at start).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);
/// Rows looked at per pruning transaction: short, so records never wait long.
const PRUNE_BATCH: i64 = 5_000;

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
    /// Set when the writer started a new file (the old one was deleted): the hub
    /// records every node's and group's current status into it again.
    resync: std::sync::atomic::AtomicBool,
    /// The writer's wake-ups, for the test that its retry loop does not spin.
    #[cfg(test)]
    wakes: AtomicU64,
}

impl HistoryStats {
    /// Whether a new file wants every current status again (once).
    pub fn take_resync(&self) -> bool {
        self.resync.swap(false, Ordering::Relaxed)
    }

    pub fn problem(&self) -> Option<String> {
        self.problem.lock().map(|p| p.clone()).unwrap_or_default()
    }

    fn set_problem(&self, p: Option<String>) {
        if let Ok(mut slot) = self.problem.lock() {
            *slot = p;
        }
    }
}

/// One thing to write.
enum Record {
    Node(Box<Transition>),
    Group(Box<GroupTransition>),
    /// A node (`group: false`) or group taken out of the config by a reload: its
    /// time after this is not monitored, and an incident it was in ends here.
    Removed {
        at: SystemTime,
        name: Arc<str>,
        group: bool,
    },
    /// An ack given or ended.
    Ack(Box<AckEvent>),
    /// A node or group entered (`window`) or left a maintenance window.
    Maintenance {
        target: Target,
        window: Option<Arc<str>>,
        at: SystemTime,
    },
}

enum Msg {
    Record(Record),
    Stop,
    /// Runs on the writer's connection: tests shrink `max_page_count` to fill the
    /// "disk".
    #[cfg(test)]
    Tweak(Box<dyn FnOnce(&Connection) + Send>),
}

/// What the file said before this start: each node's last status and since when
/// it has been in it, and the last transitions for the events pane.
#[derive(Debug, Default)]
pub struct Resume {
    pub statuses: HashMap<String, (Status, SystemTime)>,
    pub recent: Vec<Transition>,
    /// The acks in force when the monitor stopped.
    pub acks: Vec<Ack>,
}

/// The hub's handle on the writer.
pub struct History {
    tx: SyncSender<Msg>,
    stats: Arc<HistoryStats>,
    thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
    resume: Mutex<Option<Resume>>,
}

impl History {
    /// Takes the file's lock, opens (or creates) the database and starts the
    /// writer with a new run. A file this version must not touch (newer, foreign,
    /// corrupt) is refused; any other trouble opening it (read-only, disk full) is
    /// reported as the writer's problem, and the writer keeps trying.
    pub fn start(path: &Path, retention: Duration) -> Result<History, StartError> {
        let lock = take_lock(path)?;
        let started = ms(SystemTime::now());
        let stats = Arc::new(HistoryStats::default());
        let mut writer = Writer {
            path: path.to_path_buf(),
            conn: None,
            identity: None,
            run: 0,
            started,
            retention,
            nodes: HashMap::new(),
            groups: HashMap::new(),
            backlog: VecDeque::new(),
            stats: stats.clone(),
            last_warning: None,
            prune_cursor: None,
            next_prune: Instant::now(),
            held: Held::default(),
            _lock: lock,
        };
        let resume = match writer.open() {
            Ok(resume) => {
                // The hub takes these acks over: they are in force until it
                // says otherwise.
                writer.held.acks = resume
                    .acks
                    .iter()
                    .map(|a| (a.target.clone(), a.clone()))
                    .collect();
                resume
            }
            Err(OpenFailed::Refused(e)) => return Err(StartError::Open(e)),
            Err(OpenFailed::Retry(why)) => {
                writer.failed(&why);
                Resume::default()
            }
        };
        let (tx, rx) = mpsc::sync_channel(QUEUE);
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
            resume: Mutex::new(Some(resume)),
        })
    }

    /// The statuses recorded before this start, once (the hub takes them).
    pub fn take_resume(&self) -> Resume {
        self.resume
            .lock()
            .ok()
            .and_then(|mut r| r.take())
            .unwrap_or_default()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn stats(&self) -> Arc<HistoryStats> {
        self.stats.clone()
    }

    /// Queues a shown transition; never blocks. A full queue drops it, counted.
    pub fn record(&self, t: &Transition) {
        self.send(Record::Node(Box::new(t.clone())));
    }

    /// Queues a sync group's change of recorded status, the same way.
    pub fn record_group(&self, t: GroupTransition) {
        self.send(Record::Group(Box::new(t)));
    }

    /// Queues the removal of a node (`group: false`) or sync group from the config.
    pub fn record_removed(&self, name: Arc<str>, group: bool, at: SystemTime) {
        self.send(Record::Removed { at, name, group });
    }

    /// Queues an ack given or ended: the log of acks, and the acks in force
    /// that a restart and `--once` read back.
    pub fn record_ack(&self, e: &AckEvent) {
        self.send(Record::Ack(Box::new(e.clone())));
    }

    /// Queues a node's or group's entry into (`window`) or exit from a
    /// maintenance window: the time `uptime` reports as `maintenance_pct`.
    pub fn record_maintenance(&self, target: &Target, window: Option<Arc<str>>, at: SystemTime) {
        self.send(Record::Maintenance {
            target: target.clone(),
            window,
            at,
        });
    }

    /// Whether the writer started a new file and wants every current status
    /// recorded again (once).
    pub fn take_resync(&self) -> bool {
        self.stats.take_resync()
    }

    fn send(&self, r: Record) {
        match self.tx.try_send(Msg::Record(r)) {
            Ok(()) => {}
            Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) => {
                self.stats.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    #[cfg(test)]
    fn tweak(&self, f: impl FnOnce(&Connection) + Send + 'static) {
        let _ = self.tx.send(Msg::Tweak(Box::new(f)));
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

/// Why the file could not be opened for writing.
enum OpenFailed {
    /// Never to be touched by this version: stop the start.
    Refused(OpenError),
    /// Maybe better later (read-only, disk full, a directory missing): retry.
    Retry(String),
}

struct Writer {
    path: PathBuf,
    /// `None` until the file opens (and again after it was deleted).
    conn: Option<Connection>,
    /// The identity of the file `conn` has open, to notice it deleted or replaced.
    identity: Option<(u64, u64)>,
    run: i64,
    /// When this monitor started: the run's start, even if the file opens later.
    started: i64,
    retention: Duration,
    /// Node and group ids by name, so a transition costs no lookup query. Keyed by
    /// the names the fleet already shares (reference counts, not copies).
    nodes: HashMap<Arc<str>, i64>,
    groups: HashMap<Arc<str>, i64>,
    backlog: VecDeque<Record>,
    stats: Arc<HistoryStats>,
    last_warning: Option<Instant>,
    /// Where pruning goes on (a rowid), while a pass is under way.
    prune_cursor: Option<i64>,
    next_prune: Instant,
    /// What is in force as far as the file was told (committed).
    held: Held,
    _lock: File,
}

/// The acks in force and each node's and group's maintenance window, as this
/// writer has committed them: a new file (the old one deleted under the
/// monitor) is told them again, as it is told every current status.
#[derive(Default)]
struct Held {
    acks: HashMap<Target, Ack>,
    windows: HashMap<Target, Arc<str>>,
}

impl Held {
    fn apply(&mut self, r: &Record) {
        match r {
            Record::Ack(e) => match &**e {
                AckEvent::Added(a) => {
                    self.acks.insert(a.target.clone(), (**a).clone());
                }
                AckEvent::Ended { ack, .. } => {
                    if self.acks.get(&ack.target).is_some_and(|a| a.id == ack.id) {
                        self.acks.remove(&ack.target);
                    }
                }
            },
            Record::Maintenance { target, window, .. } => match window {
                Some(w) => {
                    self.windows.insert(target.clone(), w.clone());
                }
                None => {
                    self.windows.remove(target);
                }
            },
            Record::Removed { name, group, .. } => {
                self.windows.remove(&target_of(name, *group));
            }
            Record::Node(_) | Record::Group(_) => {}
        }
    }
}

fn target_of(name: &str, group: bool) -> Target {
    if group {
        Target::Group(name.to_owned())
    } else {
        Target::Node(name.to_owned())
    }
}

impl Writer {
    /// Opens the file and starts this monitor's run in it; reads what each node
    /// was doing before, and the acks in force.
    fn open(&mut self) -> Result<Resume, OpenFailed> {
        let mut conn = schema::open_for_writing(&self.path).map_err(|e| match e {
            e @ (OpenError::Newer { .. } | OpenError::NotOurs { .. }) => OpenFailed::Refused(e),
            e => OpenFailed::Retry(e.to_string()),
        })?;
        // What was before is a convenience: a file that cannot say it still
        // takes new records.
        let resume = Resume {
            statuses: read::last_statuses(&conn).unwrap_or_default(),
            recent: read::recent(&conn, crate::state::EVENTS_LEN).unwrap_or_default(),
            acks: acks::in_force(&conn).unwrap_or_else(|e| {
                tracing::warn!("history: cannot read the acknowledgements in force ({e})");
                Vec::new()
            }),
        };
        // A writer that had a file before lost it (deleted or replaced): the new
        // one is told what this monitor holds in force.
        let reopen = self.run != 0;
        self.nodes.clear();
        self.groups.clear();
        let begun = self.begin_run(&mut conn, reopen);
        if begun.is_err() {
            // Ids cached inside a transaction that did not commit may not exist.
            self.nodes.clear();
            self.groups.clear();
        }
        self.run = begun.map_err(|e| OpenFailed::Retry(format!("cannot record the start: {e}")))?;
        self.conn = Some(conn);
        self.identity = crate::platform::files::identity(&self.path);
        Ok(resume)
    }

    /// In one transaction: ends the maintenance spans earlier runs left open,
    /// records this run, and (`reopen`) writes what this monitor holds in force.
    fn begin_run(&mut self, conn: &mut Connection, reopen: bool) -> rusqlite::Result<i64> {
        let tx = conn.transaction()?;
        acks::close_stale_spans(&tx)?;
        tx.execute(
            "INSERT INTO run (started_ms, heartbeat_ms, version) VALUES (?1, ?2, ?3)",
            params![
                self.started,
                ms(SystemTime::now()),
                env!("CARGO_PKG_VERSION")
            ],
        )?;
        let run = tx.last_insert_rowid();
        if reopen {
            acks::replace_active(&tx, self.held.acks.values())?;
            for (target, window) in &self.held.windows {
                let subject = target_id(&tx, &mut self.nodes, &mut self.groups, target)?;
                acks::write_maintenance(&tx, subject, Some(window), self.started, run)?;
            }
        }
        tx.commit()?;
        Ok(run)
    }

    fn run(&mut self, rx: &mpsc::Receiver<Msg>) {
        let mut next_beat = Instant::now() + BEAT;
        let mut retry_at: Option<Instant> = None;
        loop {
            #[cfg(test)]
            self.stats.wakes.fetch_add(1, Ordering::Relaxed);
            let mut wake = retry_at.map_or(next_beat, |r| r.min(next_beat));
            if self.prune_cursor.is_some() && retry_at.is_none() {
                // A pruning pass is under way: take what arrived, then go on.
                wake = Instant::now();
            }
            let stop = match rx.recv_timeout(wake.saturating_duration_since(Instant::now())) {
                Ok(Msg::Record(r)) => {
                    self.keep(r);
                    let mut stop = false;
                    while self.backlog.len() < BATCH {
                        match rx.try_recv() {
                            Ok(Msg::Record(r)) => self.keep(r),
                            Ok(Msg::Stop) => {
                                stop = true;
                                break;
                            }
                            #[cfg(test)]
                            Ok(Msg::Tweak(f)) => self.tweak(f),
                            Err(_) => break,
                        }
                    }
                    stop
                }
                #[cfg(test)]
                Ok(Msg::Tweak(f)) => {
                    self.tweak(f);
                    false
                }
                Ok(Msg::Stop) | Err(RecvTimeoutError::Disconnected) => true,
                Err(RecvTimeoutError::Timeout) => false,
            };
            let now = Instant::now();
            let beat = now >= next_beat;
            if beat {
                next_beat = now + BEAT;
            }
            // After a failure, wait for the retry time unless stopping.
            if retry_at.is_some_and(|r| now < r) && !stop {
                continue;
            }
            // A retry that is due is tried even with nothing queued (a failed
            // heartbeat): leaving it set would make every wait zero, a busy loop.
            if !self.backlog.is_empty() || beat || stop || self.conn.is_none() || retry_at.is_some()
            {
                match self.flush(stop) {
                    Ok(()) => retry_at = None,
                    Err(e) => {
                        self.failed(&e);
                        retry_at = Some(now + RETRY);
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
            if retry_at.is_none() {
                self.prune_step(now);
            }
        }
    }

    #[cfg(test)]
    fn tweak(&mut self, f: Box<dyn FnOnce(&Connection) + Send>) {
        if let Some(conn) = &self.conn {
            f(conn);
        }
    }

    fn keep(&mut self, r: Record) {
        if self.backlog.len() >= BACKLOG {
            self.backlog.pop_front();
            self.stats.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.backlog.push_back(r);
    }

    fn failed(&mut self, why: &dyn std::fmt::Display) {
        let msg = format!(
            "history: cannot write {} ({why}); {} records waiting, retrying every {}s",
            self.path.display(),
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

    /// A file deleted (or replaced) under a running writer would take every later
    /// write with it, unseen: the open handle writes on into the unlinked file.
    /// Checked before every write; the write then goes to a new file, with a new
    /// run, and the hub is asked to record every current status into it.
    fn notice_deleted(&mut self) {
        if self.conn.is_some() && crate::platform::files::identity(&self.path) != self.identity {
            tracing::warn!(
                "history: {} was deleted or replaced; starting a new file",
                self.path.display()
            );
            self.conn = None;
            // The new file's run starts now: the time before is not in it.
            self.started = ms(SystemTime::now());
            self.stats.resync.store(true, Ordering::Relaxed);
        }
    }

    /// Writes the backlog (in batches) and the heartbeat; on a clean stop, marks
    /// the run stopped. What was committed leaves the backlog.
    fn flush(&mut self, stop: bool) -> Result<(), String> {
        self.notice_deleted();
        if self.conn.is_none() {
            match self.open() {
                Ok(_) => {}
                Err(OpenFailed::Retry(why)) => return Err(why),
                Err(OpenFailed::Refused(e)) => return Err(e.to_string()),
            }
        }
        let result = self.write_backlog(stop);
        if result.is_err() {
            // Ids cached inside a transaction that did not commit may not exist.
            self.nodes.clear();
            self.groups.clear();
        }
        result.map_err(|e| e.to_string())
    }

    fn write_backlog(&mut self, stop: bool) -> rusqlite::Result<()> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(());
        };
        loop {
            let n = self.backlog.len().min(BATCH);
            let now = ms(SystemTime::now());
            let tx = conn.transaction()?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT INTO transition (at_ms, subject, grp, run, status, role, code, reply, error) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                )?;
                for r in self.backlog.iter().take(n) {
                    match r {
                        Record::Node(t) => {
                            let subject =
                                subject_id(&tx, &mut self.nodes, "node", t.node.shared())?;
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
                        Record::Removed { at, name, group } => {
                            let (cache, kind) = if *group {
                                (&mut self.groups, "group")
                            } else {
                                (&mut self.nodes, "node")
                            };
                            let subject = subject_id(&tx, cache, kind, name)?;
                            insert.execute(params![
                                ms(*at),
                                subject,
                                None::<i64>,
                                self.run,
                                "removed",
                                None::<String>,
                                None::<i64>,
                                None::<String>,
                                Some("removed from the config"),
                            ])?;
                            // No longer watched: no longer in maintenance either.
                            acks::write_maintenance(&tx, subject, None, ms(*at), self.run)?;
                        }
                        Record::Ack(e) => acks::write_event(&tx, e)?,
                        Record::Maintenance { target, window, at } => {
                            let subject =
                                target_id(&tx, &mut self.nodes, &mut self.groups, target)?;
                            acks::write_maintenance(
                                &tx,
                                subject,
                                window.as_deref(),
                                ms(*at),
                                self.run,
                            )?;
                        }
                        Record::Group(g) => {
                            let subject = subject_id(&tx, &mut self.groups, "group", &g.group)?;
                            insert.execute(params![
                                ms(g.at),
                                subject,
                                subject,
                                self.run,
                                g.status.as_str(),
                                None::<String>,
                                None::<i64>,
                                None::<String>,
                                present::group_health(&g.health),
                            ])?;
                        }
                    }
                }
            }
            let last = stop && n == self.backlog.len();
            if last {
                tx.execute(
                    "UPDATE run SET heartbeat_ms = ?1, stopped_ms = ?1 WHERE id = ?2",
                    params![now, self.run],
                )?;
                // The windows in force end with the watching; the next start
                // says again which are.
                acks::close_spans_of_run(&tx, self.run, now)?;
            } else {
                tx.execute(
                    "UPDATE run SET heartbeat_ms = ?1 WHERE id = ?2",
                    params![now, self.run],
                )?;
            }
            tx.commit()?;
            for r in self.backlog.iter().take(n) {
                self.held.apply(r);
            }
            self.backlog.drain(..n);
            self.stats.written.fetch_add(n as u64, Ordering::Relaxed);
            self.stats.set_problem(None);
            if self.backlog.is_empty() {
                return Ok(());
            }
        }
    }

    /// One short pruning transaction, when a pass is due or under way. A row older
    /// than the retention goes only if a later row of the same subject is also
    /// older: the last status before the cut stays, so what each node was doing at
    /// the start of any window still kept is known.
    fn prune_step(&mut self, now: Instant) {
        if self.retention.is_zero() {
            return;
        }
        let cursor = match self.prune_cursor {
            Some(c) => c,
            None if now >= self.next_prune => 0,
            None => return,
        };
        let Some(conn) = &self.conn else {
            return;
        };
        let cut = ms(SystemTime::now()) - self.retention.as_millis() as i64;
        match prune_batch(conn, cursor, cut) {
            Ok(Some(next)) => self.prune_cursor = Some(next),
            Ok(None) => {
                self.prune_cursor = None;
                self.next_prune = now + PRUNE_EVERY;
                if let Err(e) = acks::prune(conn, cut) {
                    tracing::warn!(
                        "history: pruning old acknowledgements and maintenance spans failed ({e}); \
                         trying again later"
                    );
                }
            }
            Err(e) => {
                tracing::warn!("history: pruning old rows failed ({e}); trying again later");
                self.prune_cursor = None;
                self.next_prune = now + PRUNE_EVERY;
            }
        }
    }
}

/// Deletes what may go among the next [`PRUNE_BATCH`] rows after `cursor` (by
/// rowid, which follows time); the cursor to go on from, or `None` when every row
/// looked at is newer than the cut (so the rest is too) or there are none.
fn prune_batch(conn: &Connection, cursor: i64, cut: i64) -> rusqlite::Result<Option<i64>> {
    let (last, all_newer): (Option<i64>, bool) = conn.query_row(
        "SELECT max(rowid), coalesce(min(at_ms) >= ?3, 1) FROM \
         (SELECT rowid, at_ms FROM transition WHERE rowid > ?1 ORDER BY rowid LIMIT ?2)",
        params![cursor, PRUNE_BATCH, cut],
        |r| Ok((r.get(0)?, r.get::<_, i64>(1)? != 0)),
    )?;
    let Some(last) = last else {
        return Ok(None);
    };
    conn.execute(
        "DELETE FROM transition WHERE rowid IN (\
           SELECT t.rowid FROM transition t \
           WHERE t.rowid > ?1 AND t.rowid <= ?2 AND t.at_ms < ?3 \
             AND EXISTS (SELECT 1 FROM transition n WHERE n.subject = t.subject \
                         AND n.at_ms > t.at_ms AND n.at_ms < ?3))",
        params![cursor, last, cut],
    )?;
    Ok((!all_newer).then_some(last))
}

/// The subject id of a window's target (a node or a group), inserted on first
/// sight; `nodes` and `groups` are the writer's caches.
fn target_id(
    conn: &Connection,
    nodes: &mut HashMap<Arc<str>, i64>,
    groups: &mut HashMap<Arc<str>, i64>,
    target: &Target,
) -> rusqlite::Result<i64> {
    let name: Arc<str> = Arc::from(target.name());
    match target {
        Target::Node(_) => subject_id(conn, nodes, "node", &name),
        Target::Group(_) => subject_id(conn, groups, "group", &name),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{GroupHealth, GroupProblem, GroupStatus, NodeKey, Outcome};

    fn transition(node: &str, to: Status, at_ms: u64) -> Transition {
        Transition {
            at: UNIX_EPOCH + Duration::from_millis(at_ms),
            node: NodeKey::new(node),
            group: Some(Arc::from("wall")),
            from: Status::Synced,
            to,
            outcome: Outcome::Stale {
                silent_for: Duration::from_secs(30),
            },
        }
    }

    fn wait_for(what: &str, f: impl Fn() -> bool) {
        let until = Instant::now() + Duration::from_secs(10);
        while !f() {
            assert!(Instant::now() < until, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn count(path: &Path, sql: &str) -> i64 {
        let conn = schema::open_for_reading(path).expect("read");
        conn.query_row(sql, [], |r| r.get(0)).expect("count")
    }

    #[test]
    fn a_full_disk_keeps_the_records_and_writes_them_when_there_is_room() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let h = History::start(&path, Duration::ZERO).expect("start");
        let stats = h.stats();
        // The "disk" is full: the file may not grow by a single page.
        h.tweak(|c| {
            let pages: i64 = c
                .query_row("PRAGMA page_count", [], |r| r.get(0))
                .expect("pages");
            c.pragma_update(None, "max_page_count", pages)
                .expect("max_page_count");
        });
        for i in 0..2_000 {
            h.record(&transition(&format!("node-{i}"), Status::Stale, 1_000 + i));
        }
        wait_for("the full-disk problem", || {
            stats.problem().is_some_and(|p| p.contains("full"))
        });
        assert_eq!(stats.written.load(Ordering::Relaxed), 0);
        assert_eq!(
            stats.dropped.load(Ordering::Relaxed),
            0,
            "kept, not dropped"
        );
        // Room again: the retry writes everything, in order, and clears the problem.
        h.tweak(|c| {
            c.pragma_update(None, "max_page_count", 1_000_000_i64)
                .expect("max_page_count");
        });
        wait_for("the backlog written", || {
            stats.written.load(Ordering::Relaxed) == 2_000
        });
        wait_for("the problem cleared", || stats.problem().is_none());
        h.stop();
        assert_eq!(count(&path, "SELECT count(*) FROM transition"), 2_000);
        assert_eq!(
            count(
                &path,
                "SELECT count(*) FROM run WHERE stopped_ms IS NOT NULL"
            ),
            1
        );
    }

    #[test]
    fn a_deleted_file_is_noticed_and_started_anew() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let h = History::start(&path, Duration::ZERO).expect("start");
        let stats = h.stats();
        h.record(&transition("a", Status::Free, 1_000));
        wait_for("the first write", || {
            stats.written.load(Ordering::Relaxed) == 1
        });
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        wait_for("a new file", || path.exists());
        assert!(h.take_resync(), "the hub is asked for every current status");
        assert!(!h.take_resync(), "once");
        h.record(&transition("b", Status::Timeout, 2_000));
        wait_for("the second write", || {
            stats.written.load(Ordering::Relaxed) == 2
        });
        h.stop();
        // The new file has the schema, a run, and what came after the deletion.
        assert_eq!(count(&path, "SELECT count(*) FROM transition"), 1);
        assert_eq!(count(&path, "SELECT count(*) FROM run"), 1);
    }

    #[test]
    fn a_write_that_keeps_failing_is_retried_not_spun() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let h = History::start(&path, Duration::ZERO).expect("start");
        let stats = h.stats();
        // Every write now fails at once, the heartbeat's too, with nothing queued.
        h.tweak(|c| c.pragma_update(None, "query_only", 1).expect("query_only"));
        wait_for("the failure", || stats.problem().is_some());
        let before = stats.wakes.load(Ordering::Relaxed);
        std::thread::sleep(Duration::from_secs(1));
        let wakes = stats.wakes.load(Ordering::Relaxed) - before;
        // A wake-up per retry (100 ms here) or heartbeat, not a busy loop.
        assert!(wakes <= 40, "{wakes} wake-ups in one second");
        h.tweak(|c| c.pragma_update(None, "query_only", 0).expect("query_only"));
        wait_for("the problem cleared", || stats.problem().is_none());
        h.stop();
    }

    #[test]
    fn a_node_taken_out_of_the_config_is_recorded_as_removed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let h = History::start(&path, Duration::ZERO).expect("start");
        h.record(&transition("gone", Status::Free, 1_000));
        h.record_removed(
            Arc::from("gone"),
            false,
            UNIX_EPOCH + Duration::from_secs(2),
        );
        h.record_removed(Arc::from("wall"), true, UNIX_EPOCH + Duration::from_secs(2));
        h.stop();
        assert_eq!(
            count(
                &path,
                "SELECT count(*) FROM transition t JOIN subject s ON s.id = t.subject \
                 WHERE t.status = 'removed' AND t.at_ms = 2000 \
                 AND ((s.kind = 'node' AND s.name = 'gone') OR (s.kind = 'group' AND s.name = 'wall'))"
            ),
            2
        );
    }

    #[test]
    fn groups_are_recorded_with_their_problem_in_words() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let h = History::start(&path, Duration::ZERO).expect("start");
        h.record_group(GroupTransition {
            at: UNIX_EPOCH + Duration::from_millis(5_000),
            group: Arc::from("wall-A"),
            status: GroupStatus::NoMaster,
            health: GroupHealth::Unhealthy(vec![GroupProblem::NoMaster]),
        });
        h.stop();
        let conn = schema::open_for_reading(&path).expect("read");
        let row: (String, String, String, Option<String>) = conn
            .query_row(
                "SELECT s.kind, s.name, t.status, t.error FROM transition t \
                 JOIN subject s ON s.id = t.subject",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .expect("row");
        assert_eq!(
            row,
            (
                "group".into(),
                "wall-A".into(),
                "no_master".into(),
                Some("no master".into())
            )
        );
    }

    #[test]
    fn a_restart_resumes_each_node_from_its_recorded_status_and_since() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let h = History::start(&path, Duration::ZERO).expect("start");
        assert!(
            h.take_resume().statuses.is_empty(),
            "a new file has nothing to resume"
        );
        h.record(&transition("a", Status::Synced, 1_000));
        h.record(&transition("a", Status::Free, 2_000));
        h.record(&transition("b", Status::Synced, 1_500));
        h.stop();
        // The second run's first result repeats `free`: still free since 2 s.
        let h = History::start(&path, Duration::ZERO).expect("restart");
        let resume = h.take_resume().statuses;
        assert_eq!(
            resume.get("a"),
            Some(&(Status::Free, UNIX_EPOCH + Duration::from_millis(2_000)))
        );
        h.record(&transition("a", Status::Free, 9_000));
        h.stop();
        let h = History::start(&path, Duration::ZERO).expect("restart");
        let Resume {
            statuses, recent, ..
        } = h.take_resume();
        assert_eq!(
            statuses.get("a"),
            Some(&(Status::Free, UNIX_EPOCH + Duration::from_millis(2_000)))
        );
        // The events pane: a went free (b's healthy first result and a's repeat
        // are not news).
        let lines: Vec<String> = recent.iter().map(present::transition_line).collect();
        assert_eq!(lines, vec!["a synced -> free (no line for 30s)"]);
        assert_eq!(
            statuses.get("b"),
            Some(&(Status::Synced, UNIX_EPOCH + Duration::from_millis(1_500)))
        );
        h.stop();
    }

    fn ack(id: &str, target: &str, until_s: u64) -> Arc<Ack> {
        Arc::new(Ack {
            id: id.into(),
            target: Target::parse(target).expect("target"),
            by: "ops".into(),
            reason: format!("looking at {target}"),
            at: UNIX_EPOCH + Duration::from_secs(1),
            until: UNIX_EPOCH + Duration::from_secs(until_s),
            baseline: crate::model::Baseline::Node(Status::Free),
        })
    }

    fn ended(a: &Arc<Ack>, why: crate::model::AckEnd, at_s: u64) -> AckEvent {
        AckEvent::Ended {
            ack: a.clone(),
            why,
            by: None,
            at: UNIX_EPOCH + Duration::from_secs(at_s),
        }
    }

    #[test]
    fn acks_in_force_follow_the_log_and_come_back_at_a_restart() {
        use crate::model::AckEnd;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let h = History::start(&path, Duration::ZERO).expect("start");
        let (a, b, b2) = (
            ack("a1", "a", 100),
            ack("b1", "@g", 100),
            ack("b2", "@g", 200),
        );
        h.record_ack(&AckEvent::Added(a.clone()));
        h.record_ack(&AckEvent::Added(b.clone()));
        // A new ack of @g replaces the first; its end may come after it.
        h.record_ack(&AckEvent::Added(b2.clone()));
        h.record_ack(&ended(&b, AckEnd::Replaced, 5));
        h.record_ack(&ended(&a, AckEnd::Recovered, 6));
        h.stop();
        assert_eq!(count(&path, "SELECT count(*) FROM ack_event"), 5);
        assert_eq!(
            count(
                &path,
                "SELECT count(*) FROM ack_event WHERE event = 'replaced' AND ack_id = 'b1' \
                 AND target = '@g' AND at_ms = 5000 AND until_ms = 100000"
            ),
            1
        );
        let h = History::start(&path, Duration::ZERO).expect("restart");
        let acks = h.take_resume().acks;
        assert_eq!(acks, vec![(*b2).clone()]);
        h.record_ack(&AckEvent::Ended {
            ack: b2.clone(),
            why: AckEnd::Removed,
            by: Some("night shift".into()),
            at: UNIX_EPOCH + Duration::from_secs(7),
        });
        h.stop();
        assert_eq!(count(&path, "SELECT count(*) FROM ack_active"), 0);
        assert_eq!(
            count(
                &path,
                "SELECT count(*) FROM ack_event WHERE event = 'unack' AND by = 'night shift'"
            ),
            1
        );
        let h = History::start(&path, Duration::ZERO).expect("restart");
        assert!(h.take_resume().acks.is_empty());
        h.stop();
    }

    /// (subject name, window, start, end) of every span, in order.
    fn spans(path: &Path) -> Vec<(String, String, i64, Option<i64>)> {
        let conn = schema::open_for_reading(path).expect("read");
        conn.prepare(
            "SELECT s.name, m.window, m.start_ms, m.end_ms FROM maintenance m \
             JOIN subject s ON s.id = m.subject ORDER BY m.rowid",
        )
        .and_then(|mut q| {
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                .collect::<rusqlite::Result<_>>()
        })
        .expect("spans")
    }

    #[test]
    fn maintenance_spans_open_close_follow_each_other_and_end_at_a_stop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let h = History::start(&path, Duration::ZERO).expect("start");
        let at = |s: u64| UNIX_EPOCH + Duration::from_secs(s);
        let (node, group) = (Target::Node("a".into()), Target::Group("g".into()));
        h.record_maintenance(&node, Some(Arc::from("nightly")), at(10));
        h.record_maintenance(&node, None, at(20));
        // One window straight after another: the first ends where the next begins.
        h.record_maintenance(&group, Some(Arc::from("w1")), at(30));
        h.record_maintenance(&group, Some(Arc::from("w2")), at(40));
        // Taken out of the config while in maintenance: the span ends there.
        h.record_maintenance(&node, Some(Arc::from("nightly")), at(50));
        h.record_removed(Arc::from("a"), false, at(60));
        h.stop();
        let stopped = count(&path, "SELECT stopped_ms FROM run");
        assert_eq!(
            spans(&path),
            vec![
                ("a".into(), "nightly".into(), 10_000, Some(20_000)),
                ("g".into(), "w1".into(), 30_000, Some(40_000)),
                ("g".into(), "w2".into(), 40_000, Some(stopped)),
                ("a".into(), "nightly".into(), 50_000, Some(60_000)),
            ]
        );
    }

    #[test]
    fn a_span_a_crash_left_open_ends_with_the_run_that_opened_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let h = History::start(&path, Duration::ZERO).expect("start");
        h.record_maintenance(
            &Target::Node("a".into()),
            Some(Arc::from("nightly")),
            UNIX_EPOCH + Duration::from_secs(10),
        );
        h.stop();
        // Make it look like a crash: no clean stop, the span still open.
        {
            let conn = schema::open_for_writing(&path).expect("open");
            conn.execute_batch(
                "UPDATE run SET stopped_ms = NULL, heartbeat_ms = 99000; \
                 UPDATE maintenance SET end_ms = NULL;",
            )
            .expect("crash");
        }
        let h = History::start(&path, Duration::ZERO).expect("restart");
        h.stop();
        assert_eq!(
            spans(&path),
            vec![("a".into(), "nightly".into(), 10_000, Some(99_000))]
        );
    }

    #[test]
    fn a_new_file_is_told_the_acks_and_windows_in_force() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        // An ack from the run before, resumed by the hub.
        let h = History::start(&path, Duration::ZERO).expect("start");
        let old = ack("old", "b", 4_000_000_000);
        h.record_ack(&AckEvent::Added(old.clone()));
        h.stop();
        let h = History::start(&path, Duration::ZERO).expect("restart");
        assert_eq!(h.take_resume().acks.len(), 1);
        let stats = h.stats();
        let a = ack("a1", "a", 4_000_000_000);
        h.record_ack(&AckEvent::Added(a.clone()));
        h.record_maintenance(
            &Target::Group("g".into()),
            Some(Arc::from("nightly")),
            UNIX_EPOCH + Duration::from_secs(10),
        );
        wait_for("the writes", || stats.written.load(Ordering::Relaxed) == 2);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
        wait_for("a new file", || path.exists());
        h.stop();
        let conn = schema::open_for_reading(&path).expect("read");
        let mut active: Vec<String> = conn
            .prepare("SELECT ack_id FROM ack_active")
            .and_then(|mut q| q.query_map([], |r| r.get(0))?.collect())
            .expect("active");
        active.sort();
        assert_eq!(active, vec!["a1".to_owned(), "old".to_owned()]);
        let (started, stopped): (i64, i64) = conn
            .query_row("SELECT started_ms, stopped_ms FROM run", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .expect("run");
        assert_eq!(
            spans(&path),
            vec![("g".into(), "nightly".into(), started, Some(stopped))]
        );
    }

    #[test]
    fn pruning_keeps_the_last_row_before_the_cut() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("h.db");
        let conn = schema::open_for_writing(&path).expect("open");
        conn.execute_batch(
            "INSERT INTO run (id, started_ms, heartbeat_ms, version) VALUES (1, 0, 0, 't');
             INSERT INTO subject (id, kind, name) VALUES (1, 'node', 'a'), (2, 'node', 'b');",
        )
        .expect("setup");
        // a: three old rows; b: one old row and one new one (early, out of time
        // order); 12,000 old rows of `a` more, so pruning takes several batches.
        let mut at = 0;
        for (subject, t) in [(1, 10), (1, 20), (1, 30), (2, 10), (2, 2_000_000)]
            .into_iter()
            .chain((0..12_000).map(|i| (1, 1_000 + i)))
        {
            at += 1;
            conn.execute(
                "INSERT INTO transition (at_ms, subject, run, status) VALUES (?1, ?2, 1, 'free')",
                params![t, subject],
            )
            .expect("insert");
        }
        assert_eq!(at, 12_005);
        let mut cursor = 0;
        let mut batches = 0;
        while let Some(next) = prune_batch(&conn, cursor, 500_000).expect("prune") {
            cursor = next;
            batches += 1;
        }
        assert!(batches >= 2, "{batches} batches");
        let left: Vec<(i64, i64)> = conn
            .prepare("SELECT subject, at_ms FROM transition ORDER BY subject, at_ms")
            .and_then(|mut q| {
                q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()
            })
            .expect("rows");
        // a keeps its newest row before the cut; b keeps 10 (its last before the
        // cut) and the new one.
        assert_eq!(left, vec![(1, 12_999), (2, 10), (2, 2_000_000)]);
    }
}

//! The hub: the one task that owns the fleet state. It applies the engine's results
//! and the drivers' commands, and publishes what changed: a broadcast of shown
//! transitions (display consumers may lag, then catch up from the snapshot), a
//! `watch` of an `Arc<Snapshot>`, and a bounded queue per consumer that must lose
//! nothing (alert hooks now). Polling never waits for a consumer.

use std::collections::HashSet;
use std::future::Future;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::config::Config;
use crate::engine::{Engine, Schedule};
use crate::hooks::{self, HookJob, HookRules};
use crate::model::{
    Ack, AckEnd, AckEvent, CloseReason, Input, ListenEvent, NodeKey, Observation, Target,
    Transition,
};
use crate::notify::{self, NotifyHandle};
use crate::present;
use crate::state::fleet::Progress;
use crate::state::maintenance::Windows;
use crate::state::{
    AckRefusal, AckRequest, Fleet, HistoryStatus, QuietEvent, ReloadDiff, Snapshot,
};
use crate::store::History;

/// Shown transitions buffered per display subscriber before it lags.
const EVENTS: usize = 1024;
/// Hook jobs queued before new ones are dropped (counted and logged).
const HOOK_QUEUE: usize = 1024;
/// Inputs applied per wake-up before commands and timers get a turn.
const BATCH: usize = 4096;
/// Senders remembered for "warn once per sender"; past this, warnings repeat.
const WARNED_CAP: usize = 4096;

/// What a driver can ask of the hub.
#[derive(Debug)]
pub enum Command {
    /// Poll one node now.
    Repoll(NodeKey),
    RepollAll,
    /// Re-read the config file; the answer says what changed or why it was refused.
    Reload(oneshot::Sender<Result<Reloaded, String>>),
    /// A node's recent raw results, oldest first.
    History(NodeKey, oneshot::Sender<Vec<Observation>>),
    /// A snapshot taken now (also published), for consumers that read rarely: a
    /// `/metrics` scrape, a `watch` that fell behind.
    Snapshot(oneshot::Sender<Arc<Snapshot>>),
    /// `--once`: mark push nodes that never reported `stale` and answer with the
    /// final snapshot.
    Finish(oneshot::Sender<Arc<Snapshot>>),
    /// Acknowledge an unhealthy node or group.
    Ack(AckRequest, oneshot::Sender<Result<Arc<Ack>, AckRefusal>>),
    /// Remove an ack; `by` says who.
    Unack {
        target: Target,
        by: String,
        reply: oneshot::Sender<Result<Arc<Ack>, AckRefusal>>,
    },
}

/// Where the dashboard and the API give and remove acks: through the hub, the
/// one owner, like every other change.
#[derive(Clone, Debug)]
pub struct AckDesk {
    commands: mpsc::Sender<Command>,
}

/// Why an ack did not happen.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    #[error(transparent)]
    Refused(#[from] AckRefusal),
    #[error("the monitor stopped")]
    Stopped,
}

impl AckDesk {
    /// Acknowledges `target` for `lasts` (see [`crate::model::ack`]).
    pub async fn ack(
        &self,
        target: Target,
        by: String,
        reason: String,
        lasts: Duration,
    ) -> Result<Arc<Ack>, AckError> {
        let req = AckRequest {
            id: new_ack_id(),
            target,
            by,
            reason,
            lasts,
        };
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Ack(req, tx))
            .await
            .map_err(|_| AckError::Stopped)?;
        Ok(rx.await.map_err(|_| AckError::Stopped)??)
    }

    /// Removes the ack of `target`.
    pub async fn unack(&self, target: Target, by: String) -> Result<Arc<Ack>, AckError> {
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Unack {
                target,
                by,
                reply: tx,
            })
            .await
            .map_err(|_| AckError::Stopped)?;
        Ok(rx.await.map_err(|_| AckError::Stopped)??)
    }
}

/// A short id, unique enough to name an ack in the store and in an
/// Alertmanager silence's comment.
fn new_ack_id() -> String {
    format!("{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff)
}

/// A reload that took effect.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reloaded {
    pub path: PathBuf,
    pub diff: ReloadDiff,
    pub receiver_restarted: bool,
}

impl std::fmt::Display for Reloaded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&present::reload_summary(
            &self.path,
            &self.diff,
            self.receiver_restarted,
        ))
    }
}

/// How the hub runs.
#[derive(Clone, Debug)]
pub struct HubOptions {
    pub schedule: Schedule,
    /// Where the config came from, for reloads; `None` for the built-in demo.
    pub config_path: Option<PathBuf>,
    /// Snapshots are published at most this often when something changed (the
    /// dashboard's frame rate); `None`: only when asked ([`Command::Snapshot`]), for
    /// drivers that draw nothing, so a 10,000-node fleet is not copied for nobody.
    pub snapshot_every: Option<Duration>,
    /// The history store to write, already started; `None`: history is off
    /// (`--once`, `--no-history`, `[history] enabled = false`).
    pub history: Option<Arc<History>>,
    /// Where shown transitions go to become notifications; `None`: no
    /// `[[notify]]` channels.
    pub notify: Option<NotifyHandle>,
    /// Acks in force from elsewhere (`--once` reads them from the store); the
    /// history store's own are added to these.
    pub acks: Vec<Ack>,
    /// Acknowledged nodes and groups do not count towards the verdict.
    pub ignore_acked: bool,
}

/// What the hub counted, for the summary on the way out.
#[derive(Clone, Copy, Debug, Default)]
pub struct HubReport {
    pub inputs: u64,
    pub hook_jobs_dropped: u64,
}

/// The drivers' side of a running hub.
pub struct HubHandle {
    pub commands: mpsc::Sender<Command>,
    pub snapshots: watch::Receiver<Arc<Snapshot>>,
    /// Nodes still without a result; updated after every batch of inputs, cheaply.
    pub progress: watch::Receiver<Progress>,
    events: broadcast::Sender<Transition>,
    last_result: Arc<AtomicI64>,
    pub task: JoinHandle<HubReport>,
}

/// Whether the hub still runs, and when it last applied a result: `/healthz`.
#[derive(Clone, Debug)]
pub struct Liveness {
    commands: mpsc::Sender<Command>,
    last_result: Arc<AtomicI64>,
}

impl Liveness {
    /// The hub task has not ended (its command queue is open).
    pub fn running(&self) -> bool {
        !self.commands.is_closed()
    }

    /// When the engine's last result or push event was applied; `None` before
    /// the first.
    pub fn last_result(&self) -> Option<SystemTime> {
        match self.last_result.load(Ordering::Relaxed) {
            0 => None,
            ms => Some(SystemTime::UNIX_EPOCH + Duration::from_millis(ms as u64)),
        }
    }
}

impl HubHandle {
    /// A new subscription to shown transitions.
    pub fn subscribe(&self) -> broadcast::Receiver<Transition> {
        self.events.subscribe()
    }

    /// The latest published snapshot (as old as the hub's publishing cadence).
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshots.borrow().clone()
    }

    /// A snapshot taken now; the latest published one if the hub has stopped.
    pub async fn fresh_snapshot(&self) -> Arc<Snapshot> {
        self.source().fresh().await
    }

    /// Asks the hub to re-read the config file (SIGHUP, `L`, a changed file): what
    /// changed, or why the new file was refused and the old one kept.
    pub async fn reload(&self) -> Result<Reloaded, String> {
        const STOPPED: &str = "the monitor stopped";
        let (tx, rx) = oneshot::channel();
        self.commands
            .send(Command::Reload(tx))
            .await
            .map_err(|_| STOPPED.to_owned())?;
        rx.await.map_err(|_| STOPPED.to_owned())?
    }

    /// Where a consumer that reads now and then (a scrape) gets its snapshots.
    pub fn source(&self) -> SnapshotSource {
        SnapshotSource {
            commands: Some(self.commands.clone()),
            latest: self.snapshots.clone(),
        }
    }

    /// Where acks are given and removed.
    pub fn acks(&self) -> AckDesk {
        AckDesk {
            commands: self.commands.clone(),
        }
    }

    pub fn liveness(&self) -> Liveness {
        Liveness {
            commands: self.commands.clone(),
            last_result: self.last_result.clone(),
        }
    }

    /// Stops the hub (the shutdown future must resolve too) and waits for its report.
    pub async fn join(self) -> HubReport {
        drop(self.commands);
        self.task.await.unwrap_or_default()
    }
}

/// The owner.
pub struct Hub {
    fleet: Fleet,
    engine: Engine,
    config: Config,
    options: HubOptions,
    commands: mpsc::Receiver<Command>,
    events: broadcast::Sender<Transition>,
    snapshots: watch::Sender<Arc<Snapshot>>,
    progress: watch::Sender<Progress>,
    hooks: HookRules,
    hook_jobs: Option<mpsc::Sender<HookJob>>,
    warned_unlisted: HashSet<IpAddr>,
    report: HubReport,
    dirty: bool,
    last_hook_warning: Option<std::time::Instant>,
    last_result: Arc<AtomicI64>,
    /// The channels' state as last published.
    notify_seen: Vec<crate::model::notification::ChannelStatus>,
    /// `[[maintenance]]` windows, compiled.
    windows: Windows,
    /// The same, as written, for the snapshots.
    window_list: Arc<[crate::config::MaintenanceWindow]>,
    /// When a window next starts or ends, or an ack runs out: worked out when
    /// they change, never from "now" at each wake-up, or a busy loop would
    /// step past a boundary that had just passed and never act on it.
    next_quiet: Option<SystemTime>,
}

impl Hub {
    /// Starts the engine and the hub task; `shutdown` stops the hub when it resolves.
    pub async fn start(
        config: &Config,
        options: HubOptions,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<HubHandle> {
        let engine = Engine::start(config, options.schedule).await?;
        let mut fleet = Fleet::new(config, SystemTime::now());
        if options.history.is_some() || options.notify.is_some() {
            fleet.track_group_changes();
        }
        fleet.set_ignore_acked(options.ignore_acked);
        let mut acks = options.acks.clone();
        if let Some(h) = &options.history {
            let before = h.take_resume();
            fleet.resume(&before.statuses);
            fleet.seed_events(before.recent);
            acks.extend(before.acks);
        }
        let windows = Windows::new(&config.maintenance);
        let now = SystemTime::now();
        fleet.resume_acks(acks, now);
        set_maintenance(&mut fleet, &windows, now);
        // A driver that draws gets the whole fleet at once; one that only asks now and
        // then starts with an empty snapshot rather than keep a copy nobody reads.
        let first = match options.snapshot_every {
            Some(_) => fleet.snapshot(SystemTime::now()),
            None => Snapshot::empty(fleet.started()),
        };
        let (snap_tx, snap_rx) = watch::channel(Arc::new(first));
        let (progress_tx, progress_rx) = watch::channel(fleet.pending());
        let (events, _) = broadcast::channel(EVENTS);
        let (cmd_tx, cmd_rx) = mpsc::channel(64);
        let last_result = Arc::new(AtomicI64::new(0));
        // With a notifier, hook runs go through its queue and are counted as
        // its `alert` channel; without one (`--once`), through the hub's own.
        let hook_jobs = (options.notify.is_none() && !config.alerts.is_empty()).then(|| {
            let (tx, rx) = mpsc::channel(HOOK_QUEUE);
            tokio::spawn(hooks::run_jobs(rx, hooks::uncounted()));
            tx
        });
        let mut hub = Hub {
            fleet,
            engine,
            config: config.clone(),
            options,
            commands: cmd_rx,
            events: events.clone(),
            snapshots: snap_tx,
            progress: progress_tx,
            hooks: HookRules::new(config.alerts.clone()).in_shard(config.shard),
            hook_jobs,
            warned_unlisted: HashSet::new(),
            report: HubReport::default(),
            dirty: false,
            last_hook_warning: None,
            last_result: last_result.clone(),
            notify_seen: Vec::new(),
            windows,
            window_list: config.maintenance.clone().into(),
            next_quiet: None,
        };
        hub.take_quiet();
        hub.plan_quiet(now);
        let task = tokio::spawn(hub.run(shutdown));
        Ok(HubHandle {
            commands: cmd_tx,
            snapshots: snap_rx,
            progress: progress_rx,
            events,
            last_result,
            task,
        })
    }

    async fn run(mut self, shutdown: impl Future<Output = ()>) -> HubReport {
        tokio::pin!(shutdown);
        let mut refusals = tokio::time::interval(Duration::from_secs(1));
        refusals.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut next_publish = Instant::now();
        // One timer for the next push node to go stale, moved only when that moment
        // changes: a fresh timer per wake-up would cost a timer-wheel insert and
        // removal for every batch of results.
        let stale = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(stale);
        let mut stale_armed: Option<SystemTime> = None;
        // One timer for the next maintenance boundary or ack expiry, likewise.
        let quiet = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(quiet);
        let mut quiet_armed: Option<SystemTime> = None;
        loop {
            let next_quiet = self.next_quiet;
            if next_quiet != quiet_armed {
                quiet_armed = next_quiet;
                if let Some(at) = next_quiet {
                    let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
                    quiet.as_mut().reset(Instant::now() + wait);
                }
            }
            let next_stale = self.fleet.next_stale_at();
            if next_stale != stale_armed {
                stale_armed = next_stale;
                if let Some(at) = next_stale {
                    let wait = at.duration_since(SystemTime::now()).unwrap_or_default();
                    stale.as_mut().reset(Instant::now() + wait);
                }
            }
            tokio::select! {
                () = &mut shutdown => break,
                cmd = self.commands.recv() => match cmd {
                    Some(cmd) => self.command(cmd).await,
                    None => break,
                },
                Some(input) = self.engine.next() => {
                    self.apply(input);
                    // Drain what is already queued: a burst is one wake-up, one publish.
                    for _ in 1..BATCH {
                        match self.engine.try_next() {
                            Some(input) => self.apply(input),
                            None => break,
                        }
                    }
                    self.record_group_changes();
                    self.take_quiet();
                    self.last_result.store(crate::store::ms(SystemTime::now()), Ordering::Relaxed);
                    let pending = self.fleet.pending();
                    self.progress.send_if_modified(|p| std::mem::replace(p, pending) != pending);
                }
                () = &mut quiet, if quiet_armed.is_some() => {
                    quiet_armed = None;
                    self.requiet(SystemTime::now());
                }
                () = &mut stale, if stale_armed.is_some() => {
                    // Re-armed at the top of the loop from what is due next.
                    stale_armed = None;
                    for t in self.fleet.check_stale(SystemTime::now()) {
                        self.publish_transition(t);
                    }
                    self.record_group_changes();
                    self.take_quiet();
                }
                _ = refusals.tick() => {
                    // Counted by the receiver with atomics; copied in once a second.
                    if let Some(r) = self.engine.refusals() {
                        self.dirty |= self.fleet.set_refusals(r);
                    }
                    self.resync_history();
                    // The timer runs on the monotonic clock; a wall clock that
                    // jumped (NTP, a suspended VM) is caught here.
                    let now = SystemTime::now();
                    if self.next_quiet.is_some_and(|t| t <= now) {
                        self.requiet(now);
                    }
                    // A channel that starts or stops failing is news for the
                    // displays even when no node changes.
                    if let Some(n) = &self.options.notify {
                        let now = n.status();
                        if now != self.notify_seen {
                            self.notify_seen = now;
                            self.dirty = true;
                        }
                    }
                }
                () = tokio::time::sleep_until(next_publish), if self.dirty && self.options.snapshot_every.is_some() => {
                    self.publish_snapshot();
                    next_publish = Instant::now() + self.options.snapshot_every.unwrap_or_default();
                }
            }
        }
        if let Some(r) = self.engine.refusals() {
            self.fleet.set_refusals(r);
        }
        self.publish_snapshot();
        self.report
    }

    fn take_snapshot(&self) -> Arc<Snapshot> {
        let mut snap = self.fleet.snapshot(SystemTime::now());
        snap.hook_runs_dropped = self.report.hook_jobs_dropped;
        snap.windows = self.window_list.clone();
        snap.shard = self.config.shard;
        if let Some(n) = &self.options.notify {
            snap.notify = n.status();
            snap.notify_dropped = n.dropped();
        }
        snap.history = self.options.history.as_ref().map(|h| {
            let stats = h.stats();
            HistoryStatus {
                path: h.path().to_path_buf(),
                written: stats.written.load(std::sync::atomic::Ordering::Relaxed),
                dropped: stats.dropped.load(std::sync::atomic::Ordering::Relaxed),
                problem: stats.problem(),
            }
        });
        Arc::new(snap)
    }

    fn publish_snapshot(&mut self) {
        self.dirty = false;
        self.snapshots.send_replace(self.take_snapshot());
    }

    /// Logs a shown transition and broadcasts it (no subscriber is fine).
    fn publish_transition(&mut self, t: Transition) {
        present::log_transition(&t);
        if let Some(h) = &self.options.history {
            h.record(&t);
        }
        // A node in maintenance is recorded and shown, but tells nobody.
        let quiet = self
            .fleet
            .node(t.node.as_str())
            .is_some_and(|n| n.view.maintenance.is_some());
        if let Some(n) = &self.options.notify
            && !quiet
        {
            n.send(notify::Input::Node(t.clone()));
        }
        if !quiet {
            self.hook_result(&t.node, t.to);
        }
        let _ = self.events.send(t);
        self.dirty = true;
    }

    /// A new history file (the old one was deleted) gets every node's and group's
    /// current status, as first results of its run: otherwise a node that does
    /// not change would be missing from it.
    fn resync_history(&mut self) {
        let Some(h) = &self.options.history else {
            return;
        };
        if !h.take_resync() {
            return;
        }
        let now = SystemTime::now();
        for t in self.fleet.current(now) {
            h.record(&t);
        }
        for g in self.fleet.current_groups(now) {
            h.record_group(g);
        }
    }

    /// Hands the sync groups' status changes to the history store and the
    /// notifier.
    fn record_group_changes(&mut self) {
        if self.options.history.is_none() && self.options.notify.is_none() {
            return;
        }
        for g in self.fleet.take_group_changes() {
            let quiet = self
                .fleet
                .groups()
                .iter()
                .any(|x| x.name == g.group && x.maintenance.is_some());
            if let Some(n) = &self.options.notify
                && !quiet
            {
                n.send(notify::Input::Group(g.clone()));
            }
            if let Some(h) = &self.options.history {
                h.record_group(g);
            }
        }
    }

    /// Counts one raw result for the alert hooks and queues what fires.
    fn hook_result(&mut self, key: &NodeKey, raw: crate::model::Status) {
        if self.hook_jobs.is_none() && self.options.notify.is_none() {
            return;
        }
        let Some(node) = self.fleet.node(key.as_str()) else {
            return;
        };
        // A node in a maintenance window runs no `[[alert]]` program either.
        if node.view.maintenance.is_some() {
            return;
        }
        for job in self.hooks.on_result(&node.view, raw) {
            let queued = match (&self.options.notify, &self.hook_jobs) {
                (Some(n), _) => n.send(notify::Input::Hook(job)),
                (None, Some(tx)) => tx.try_send(job).is_ok(),
                (None, None) => false,
            };
            if !queued {
                self.report.hook_jobs_dropped += 1;
                if self
                    .last_hook_warning
                    .is_none_or(|t| t.elapsed() >= Duration::from_secs(60))
                {
                    self.last_hook_warning = Some(std::time::Instant::now());
                    tracing::warn!(
                        "alert hook queue full ({HOOK_QUEUE}); {} hook runs dropped so far",
                        self.report.hook_jobs_dropped
                    );
                }
            }
        }
    }

    fn apply(&mut self, input: Input) {
        self.report.inputs += 1;
        self.dirty = true;
        if let Input::Listen(ListenEvent::Closed { peer, reason, .. }) = &input {
            match reason {
                CloseReason::Unlisted(ip) => self.warn_unlisted(*ip, *peer),
                CloseReason::Abuse(why) => {
                    tracing::warn!("closed push connection from {peer}: {why}")
                }
                _ => {}
            }
        }
        let applied = self.fleet.apply_input(input);
        if let Some(key) = &applied.conflict {
            self.log_conflict(key, SystemTime::now());
        }
        match (applied.transition, applied.node, applied.raw) {
            (Some(t), _, _) => self.publish_transition(t),
            (None, Some(key), Some(raw)) => self.hook_result(&key, raw),
            _ => {}
        }
    }

    fn warn_unlisted(&mut self, ip: IpAddr, peer: std::net::SocketAddr) {
        if self.warned_unlisted.len() >= WARNED_CAP {
            self.warned_unlisted.clear();
        }
        if self.warned_unlisted.insert(ip) {
            tracing::warn!(
                "closed connection from unlisted sender {ip} (peer {peer}); allow_unlisted = false"
            );
        }
    }

    fn log_conflict(&self, key: &NodeKey, at: SystemTime) {
        let Some(n) = self.fleet.node(key.as_str()) else {
            return;
        };
        let peers = n.conflicting_peers(at, self.fleet.conflict_window());
        let list: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
        tracing::warn!(
            "conflict: {} is claimed by several peers ({}); anyone who can reach the port can claim a node's IP",
            present::name(key.as_str()),
            list.join(", ")
        );
    }

    async fn command(&mut self, cmd: Command) {
        match cmd {
            Command::Repoll(key) => self.engine.poll_now(key.as_str()),
            Command::RepollAll => self.engine.poll_all_now(),
            Command::Reload(reply) => {
                let result = self.reload().await;
                match &result {
                    Ok(r) => tracing::info!("{r}"),
                    Err(e) => tracing::error!("{e}"),
                }
                let _ = reply.send(result);
            }
            Command::History(key, reply) => {
                let history = self
                    .fleet
                    .node(key.as_str())
                    .map(|n| n.history.iter().cloned().collect())
                    .unwrap_or_default();
                let _ = reply.send(history);
            }
            Command::Snapshot(reply) => {
                let snap = self.take_snapshot();
                if self.options.snapshot_every.is_some() {
                    self.dirty = false;
                    self.snapshots.send_replace(snap.clone());
                }
                // Otherwise not kept: a scrape's copy is freed once it is rendered.
                let _ = reply.send(snap);
            }
            Command::Finish(reply) => {
                for t in self.fleet.mark_unheard_stale(SystemTime::now()) {
                    self.publish_transition(t);
                }
                if let Some(r) = self.engine.refusals() {
                    self.fleet.set_refusals(r);
                }
                self.publish_snapshot();
                let _ = reply.send(self.snapshots.borrow().clone());
            }
            Command::Ack(req, reply) => {
                let result = self.fleet.ack(req, SystemTime::now());
                self.after_quiet_command(result, reply);
            }
            Command::Unack { target, by, reply } => {
                let result = self.fleet.unack(&target, &by, SystemTime::now());
                self.after_quiet_command(result, reply);
            }
        }
    }

    fn after_quiet_command(
        &mut self,
        result: Result<Arc<Ack>, AckRefusal>,
        reply: oneshot::Sender<Result<Arc<Ack>, AckRefusal>>,
    ) {
        self.record_group_changes();
        self.take_quiet();
        if self.options.snapshot_every.is_some() {
            self.publish_snapshot();
        }
        let _ = reply.send(result);
    }

    /// Works out when maintenance next starts or ends after `now`, or an ack
    /// runs out.
    fn plan_quiet(&mut self, now: SystemTime) {
        let window = jiff::Timestamp::try_from(now)
            .ok()
            .and_then(|at| self.windows.next_change(at))
            .map(SystemTime::from);
        self.next_quiet = match (window, self.fleet.next_ack_expiry()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
    }

    /// Ends the acks that ran out and moves nodes in and out of maintenance.
    fn requiet(&mut self, now: SystemTime) {
        self.fleet.expire_acks(now);
        set_maintenance(&mut self.fleet, &self.windows, now);
        self.record_group_changes();
        self.take_quiet();
        self.plan_quiet(now);
    }

    /// Hands maintenance and ack changes to the log, the store and the notifier.
    fn take_quiet(&mut self) {
        let events = self.fleet.take_quiet_events();
        if events.is_empty() {
            return;
        }
        self.dirty = true;
        // Acks were given, removed or ended: the next expiry may have moved.
        self.plan_quiet(SystemTime::now());
        for e in events {
            match e {
                QuietEvent::Ack(a) => {
                    tracing::info!("{}", present::quiet::ack_event(&a));
                    if let Some(h) = &self.options.history {
                        h.record_ack(&a);
                    }
                    if let Some(n) = &self.options.notify {
                        let worse = match &a {
                            AckEvent::Ended {
                                ack,
                                why: AckEnd::Worse,
                                at,
                                ..
                            } => self.current(&ack.target, *at),
                            _ => None,
                        };
                        n.send(notify::Input::Ack(a));
                        if let Some(w) = worse {
                            n.send(notify::Input::Worse(w));
                        }
                    }
                }
                QuietEvent::Maintenance {
                    target,
                    window,
                    was,
                    at,
                } => {
                    tracing::info!(
                        "{}",
                        present::quiet::maintenance_change(
                            &target,
                            window.as_deref(),
                            was.as_deref()
                        )
                    );
                    if let Some(h) = &self.options.history {
                        h.record_maintenance(&target, window.clone(), at);
                    }
                    if let Some(n) = &self.options.notify {
                        let left = window.is_none();
                        n.send(notify::Input::Maintenance {
                            target: target.clone(),
                            window,
                            at,
                        });
                        // Still unhealthy when the window ends: a new incident.
                        if left {
                            match self.current(&target, at) {
                                Some(notify::Worse::Node(t)) => {
                                    n.send(notify::Input::Node(t));
                                }
                                Some(notify::Worse::Group(g)) => {
                                    n.send(notify::Input::Group(g));
                                }
                                None => {}
                            }
                        }
                    }
                }
                QuietEvent::Covered { target, acked } => {
                    if let Some(n) = &self.options.notify {
                        n.send(notify::Input::Covered { target, acked });
                    }
                }
                QuietEvent::Worse(target) => {
                    if let Some(n) = &self.options.notify
                        && let Some(w) = self.current(&target, SystemTime::now())
                    {
                        n.send(notify::Input::Worse(w));
                    }
                }
            }
        }
    }

    /// A node's or group's current unhealthy state as a change from nothing: what
    /// the notifier is told when it left maintenance or got worse than acked.
    fn current(&self, target: &Target, at: SystemTime) -> Option<notify::Worse> {
        match target {
            Target::Node(name) => {
                let node = self.fleet.node(name)?;
                let last = node.view.last.as_ref()?;
                node.view.status.is_problem().then(|| {
                    notify::Worse::Node(Transition {
                        at,
                        node: node.view.key.clone(),
                        group: node.view.group.clone(),
                        from: crate::model::Status::Pending,
                        to: node.view.status,
                        outcome: last.outcome.clone(),
                    })
                })
            }
            Target::Group(name) => {
                let g = self
                    .fleet
                    .groups()
                    .iter()
                    .find(|g| &*g.name == name.as_str())?;
                let status = g.status?;
                g.health.is_unhealthy().then(|| {
                    notify::Worse::Group(crate::model::GroupTransition {
                        at,
                        group: g.name.clone(),
                        status,
                        health: g.health.clone(),
                    })
                })
            }
        }
    }

    /// Re-reads the config file. Added nodes start, removed nodes stop, changed
    /// nodes restart; unchanged nodes keep their state, history and connection. An
    /// invalid file is refused and the running config stays in force.
    async fn reload(&mut self) -> Result<Reloaded, String> {
        let Some(path) = self.options.config_path.clone() else {
            return Err("the demo's config is built in; there is nothing to reload".into());
        };
        // The same part of the fleet as before: a reload never widens a filtered
        // or sharded monitor.
        let new = Config::load(&path)
            .map_err(|e| e.to_string())
            .and_then(|c| self.config.selection.apply(c).map_err(|e| e.to_string()))
            .map_err(|e| format!("reload rejected, old config kept: {e}"))?;
        let now = SystemTime::now();
        let old = std::mem::replace(&mut self.fleet, Fleet::new(&new, now));
        let before =
            (self.options.history.is_some() || self.options.notify.is_some()).then(|| old.names());
        let (fleet, diff) = old.reconcile(&new, now);
        self.fleet = fleet;
        if let Some((nodes, groups)) = before {
            // What left the config is not watched any more, from now on; a
            // channel told it was unhealthy is told it is gone.
            let (now_nodes, now_groups) = self.fleet.names();
            let gone = nodes
                .difference(&now_nodes)
                .map(|n| (n, false))
                .chain(groups.difference(&now_groups).map(|g| (g, true)));
            for (name, group) in gone {
                if let Some(h) = &self.options.history {
                    h.record_removed(name.clone(), group, now);
                }
                if let Some(n) = &self.options.notify {
                    n.send(notify::Input::Removed {
                        group,
                        name: name.clone(),
                        at: now,
                    });
                }
            }
        }
        let receiver_restarted = match self.engine.reload(&self.config, &new).await {
            Ok(restarted) => restarted,
            Err(e) => {
                // The receiver was replaced either way: its connections are gone.
                tracing::error!("{e:#}");
                true
            }
        };
        if receiver_restarted {
            self.fleet.receiver_restarted();
        }
        let rules = std::mem::take(&mut self.hooks);
        let fleet = &self.fleet;
        self.hooks = rules
            .reload(new.alerts.clone(), |k| fleet.node(k).is_some())
            .in_shard(new.shard);

        if self.hook_jobs.is_none() && self.options.notify.is_none() && !new.alerts.is_empty() {
            let (tx, rx) = mpsc::channel(HOOK_QUEUE);
            tokio::spawn(hooks::run_jobs(rx, hooks::uncounted()));
            self.hook_jobs = Some(tx);
        }
        if new.notify != self.config.notify || new.heartbeat != self.config.heartbeat {
            // The channels' queues, windows and workers are built at start.
            tracing::warn!(
                "reload: [[notify]] and [heartbeat] changes take effect at the next start"
            );
        }
        self.windows = Windows::new(&new.maintenance);
        self.window_list = new.maintenance.clone().into();
        self.config = new;
        set_maintenance(&mut self.fleet, &self.windows, now);
        self.record_group_changes();
        self.take_quiet();
        self.plan_quiet(now);
        if self.options.snapshot_every.is_some() {
            self.publish_snapshot();
        }
        Ok(Reloaded {
            path,
            diff,
            receiver_restarted,
        })
    }
}

/// Puts nodes and groups in the maintenance windows in force at `now`.
fn set_maintenance(fleet: &mut Fleet, windows: &Windows, now: SystemTime) {
    let Ok(at) = jiff::Timestamp::try_from(now) else {
        return;
    };
    // Which windows are in force is decided once; each node is then a glob
    // match against those few.
    let in_force = windows.at(at);
    fleet.set_maintenance(
        |name, group| in_force.node(name, group).map(Arc::from),
        |group| in_force.group(group).map(Arc::from),
        now,
    );
}

/// Snapshots for a consumer that reads now and then: taken fresh by the hub on
/// request, or the latest published one when there is no hub to ask.
#[derive(Clone, Debug)]
pub struct SnapshotSource {
    commands: Option<mpsc::Sender<Command>>,
    latest: watch::Receiver<Arc<Snapshot>>,
}

impl SnapshotSource {
    /// Only what is published on `latest` (no hub to ask).
    pub fn published(latest: watch::Receiver<Arc<Snapshot>>) -> SnapshotSource {
        SnapshotSource {
            commands: None,
            latest,
        }
    }

    /// A snapshot taken now; the latest published one if the hub has stopped.
    pub async fn fresh(&self) -> Arc<Snapshot> {
        if let Some(commands) = &self.commands {
            let (tx, rx) = oneshot::channel();
            if commands.send(Command::Snapshot(tx)).await.is_ok()
                && let Ok(snap) = rx.await
            {
                return snap;
            }
        }
        // Clone the Arc out at once: holding the borrow would block the hub's send.
        Arc::clone(&self.latest.borrow())
    }
}

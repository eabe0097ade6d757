//! Notifications: shown transitions from the hub (after flap damping), through one
//! router, to each `[[notify]]` channel's queue, stored in the outbox before they
//! are sent.
//!
//! ```text
//! hub ──bounded queue──▶ router task ──▶ outbox (history file or memory)
//!                          │ windows, filters, reminders
//!                          └──▶ one worker per channel ──▶ receiver
//! ```
//!
//! The router and the message formats are pure ([`router`], [`message`]); the
//! tasks here and in [`worker`] do the IO. Acks also become Alertmanager
//! silences ([`silence`]), made by a task of their own per channel.

pub mod deliver;
pub mod heartbeat;
mod lane;
pub mod message;
pub mod router;
pub mod silence;
pub mod stats;
pub mod test_send;
pub mod worker;

/// The notification values live in the model (the outbox in the store reads
/// them too); this is their name here.
pub use crate::model::notification;
pub use test_send::send_test;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::config::{ChannelKind, Config, NotifyChannel};
use crate::hooks::{self, HookJob};
use crate::model::{AckEvent, GroupStatus, GroupTransition, Status, Target, Transition};
use crate::present;
use crate::store::ms;
use crate::store::outbox::{Outbox, State, Stored, Window};
use notification::SubjectKind;
use router::{Change, Router};
use stats::{ChannelStats, ChannelStatus};
use worker::{Work, Worker};

/// Changes the hub may queue before the router takes them: a storm of 10,000
/// nodes and their groups fits several times.
const INBOX: usize = 65_536;
/// Notifications queued per worker; the router waits when one is full.
const WORK_QUEUE: usize = 1024;

/// What the hub hands the notifier.
#[derive(Debug)]
pub enum Input {
    Node(Transition),
    Group(GroupTransition),
    /// An `[[alert]]` program run: the hub decides when hooks fire (they count raw
    /// results, `after` of them); the notifier runs them and counts the runs.
    Hook(HookJob),
    /// A node (or group) taken out of the config by a reload.
    Removed {
        group: bool,
        name: Arc<str>,
        at: SystemTime,
    },
    /// An ack given or ended (Alertmanager silences follow acks).
    Ack(crate::model::AckEvent),
    /// A node or group entered a maintenance window (`window`), or left one.
    /// What was firing resolves as `maintenance`; after leaving, the hub sends
    /// the node's or group's current state as a change of its own.
    Maintenance {
        target: crate::model::Target,
        window: Option<Arc<str>>,
        at: SystemTime,
    },
    /// An acknowledged node or group got worse than what was acknowledged: an
    /// alarm again, even though the channel was told it is unhealthy.
    Worse(Worse),
    /// Whether an ack covers a node or group changed: no reminders while it does.
    Covered {
        target: crate::model::Target,
        acked: bool,
    },
}

/// What got worse: a node's transition or a group's, as the hub published it.
#[derive(Clone, Debug)]
pub enum Worse {
    Node(Transition),
    Group(GroupTransition),
}

/// The hub's side: where to send, and what to show.
#[derive(Clone, Debug)]
pub struct NotifyHandle {
    inbox: mpsc::Sender<Input>,
    stats: Arc<Vec<Arc<ChannelStats>>>,
    dropped: Arc<AtomicU64>,
}

impl NotifyHandle {
    /// Queues one change; never waits. A full queue (the router far behind) drops
    /// it, counts it and says so; the answer says whether it was queued.
    pub fn send(&self, input: Input) -> bool {
        if self.inbox.try_send(input).is_ok() {
            return true;
        }
        let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
        if n == 1 || n.is_power_of_two() {
            tracing::error!("notify: queue full ({INBOX}); {n} change(s) dropped so far");
        }
        false
    }

    /// Changes dropped because the router's queue was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Every channel's state now.
    pub fn status(&self) -> Vec<ChannelStatus> {
        self.stats.iter().map(|s| s.status()).collect()
    }
}

/// The running notifier.
pub struct Notifier {
    pub handle: NotifyHandle,
    task: JoinHandle<()>,
    workers: Vec<JoinHandle<()>>,
    heartbeat: Option<JoinHandle<()>>,
    /// The thread all of it runs on; ended after the join.
    lane: lane::Lane,
}

impl Notifier {
    /// Starts the router and one worker per channel; `None` when nothing is
    /// configured. `history`: the history file to keep the outbox in (with its
    /// retention), or `None` for an outbox in memory.
    pub async fn start(
        config: &Config,
        history: Option<(&Path, Duration)>,
        page_url: Option<String>,
    ) -> anyhow::Result<Option<Notifier>> {
        if config.notify.is_empty() && config.alerts.is_empty() && config.heartbeat.is_none() {
            return Ok(None);
        }
        let lane = lane::Lane::start("notify")?;
        let heartbeat = config
            .heartbeat
            .as_ref()
            .map(|h| lane.spawn(heartbeat::run(h.clone())));
        if config.notify.is_empty() && config.alerts.is_empty() {
            return Ok(heartbeat.map(|hb| Notifier {
                handle: idle_handle(),
                task: lane.spawn(async {}),
                workers: Vec::new(),
                heartbeat: Some(hb),
                lane,
            }));
        }
        let outbox = Arc::new(match config.notify.is_empty() {
            // Hooks only: program runs are not stored (a run may have done its
            // work before failing; it is not repeated).
            true => Outbox::memory(),
            false => open_outbox(history).await,
        });
        let names: Vec<&str> = config.notify.iter().map(|c| c.name.as_str()).collect();
        match outbox.path() {
            _ if names.is_empty() => {}
            Some(p) => tracing::info!(
                "notify: {} channel(s) ({}); outbox in {}",
                names.len(),
                names.join(", "),
                p.display()
            ),
            None => tracing::warn!(
                "notify: {} channel(s) ({}); the outbox is in memory because history is off: notifications not yet delivered are lost if the monitor stops",
                names.len(),
                names.join(", ")
            ),
        }
        let (pending, active) = {
            let o = outbox.clone();
            tokio::task::spawn_blocking(move || (o.pending(), o.active()))
                .await
                .unwrap_or_else(|e| (Err(e.to_string()), Err(String::new())))
        };
        let pending = pending.unwrap_or_else(|e| {
            tracing::error!("notify: cannot read the pending notifications: {e}");
            Vec::new()
        });
        let active = active.unwrap_or_default();
        let mut workers = HashMap::new();
        let mut silencers = HashMap::new();
        let mut worker_tasks = Vec::new();
        let mut all_stats = Vec::new();
        for c in &config.notify {
            let stats = Arc::new(ChannelStats::new(&c.name, c.kind.as_str()));
            // The shard of the config at start, like the channels themselves: an
            // alert's labels are its identity, so its resolve must carry the
            // shard it fired with.
            let sender = deliver::Sender::new(c)
                .map_err(|e| anyhow::anyhow!("notify {}: {e}", c.name))?
                .with_shard(config.shard);
            if c.kind == ChannelKind::Alertmanager {
                // Its own task: a silence waiting on a dead Alertmanager holds
                // up neither notifications nor the router.
                let (tx, rx) = mpsc::channel(silence::QUEUE);
                let silencer = silence::Silencer {
                    sender: deliver::Sender::new(c)
                        .map_err(|e| anyhow::anyhow!("notify {}: {e}", c.name))?,
                    stats: stats.clone(),
                };
                worker_tasks.push(lane.spawn(silencer.run(rx)));
                silencers.insert(c.name.clone(), tx);
            }
            let (tx, rx) = mpsc::channel(WORK_QUEUE + pending.len());
            let worker = Worker {
                sender,
                outbox: outbox.clone(),
                stats: stats.clone(),
                page_url: page_url.clone(),
            };
            worker_tasks.push(lane.spawn(worker.run(rx)));
            workers.insert(c.name.clone(), tx);
            all_stats.push(stats);
        }
        let mut resumed: HashMap<String, usize> = HashMap::new();
        for p in pending {
            let name = p.notification.channel.clone();
            match workers.get(&name) {
                Some(tx) => {
                    *resumed.entry(name.clone()).or_default() += 1;
                    let _ = tx.try_send(Work::Send(p));
                }
                None => tracing::warn!(
                    "notify: {} \"{}\" is for channel {name:?}, which is no longer configured; it stays in the outbox",
                    p.notification.id,
                    p.notification.title
                ),
            }
        }
        for (name, n) in resumed {
            tracing::info!("notify {name}: resuming {n} pending notification(s) from the outbox");
        }
        let mut router = Router::new(
            &config.notify,
            group_sizes(config),
            active,
            page_url,
            ms(SystemTime::now()),
        );
        router.know_nodes(config.nodes.iter().map(|n| {
            (
                present::name(&n.name),
                n.group.as_deref().map(present::name),
            )
        }));
        for c in config
            .notify
            .iter()
            .filter(|c| c.kind == ChannelKind::Alertmanager)
        {
            if let Some(tx) = workers.get(&c.name) {
                let _ = tx.try_send(Work::Active(router.active(&c.name)));
            }
        }
        // The `[[alert]]` programs, counted as one more channel.
        let hook_stats = Arc::new(ChannelStats::new(HOOKS, "program"));
        if !config.alerts.is_empty() {
            all_stats.push(hook_stats.clone());
        }
        let (inbox, rx) = mpsc::channel(INBOX);
        let channels = Channels {
            workers,
            silencers,
            alertmanagers: alertmanagers(&config.notify),
            hooks: None,
            hook_stats,
            stats: all_stats
                .iter()
                .map(|s| (s.name.clone(), s.clone()))
                .collect(),
        };
        let retention = history.map_or(crate::config::RETENTION, |(_, r)| r);
        let task = lane.spawn(route(router, outbox, channels, rx, retention));
        Ok(Some(Notifier {
            handle: NotifyHandle {
                inbox,
                stats: Arc::new(all_stats),
                dropped: Arc::new(AtomicU64::new(0)),
            },
            task,
            workers: worker_tasks,
            heartbeat,
            lane,
        }))
    }

    /// Waits for the router to flush its windows into the outbox and the workers
    /// to stop (the hub must have stopped, closing the queue).
    pub async fn join(self) {
        drop(self.handle);
        if let Some(hb) = self.heartbeat {
            hb.abort();
        }
        let _ = tokio::time::timeout(Duration::from_secs(10), self.task).await;
        // The router has ended and dropped the workers' queues: each tries what
        // is due for a moment, then stops.
        let stopping = futures::future::join_all(self.workers);
        let _ = tokio::time::timeout(worker::STOP_GRACE + Duration::from_secs(2), stopping).await;
        drop(self.lane);
    }
}

fn idle_handle() -> NotifyHandle {
    let (inbox, _) = mpsc::channel(1);
    NotifyHandle {
        inbox,
        stats: Arc::new(Vec::new()),
        dropped: Arc::new(AtomicU64::new(0)),
    }
}

fn alertmanagers(channels: &[NotifyChannel]) -> Vec<String> {
    channels
        .iter()
        .filter(|c| c.kind == ChannelKind::Alertmanager)
        .map(|c| c.name.clone())
        .collect()
}

async fn open_outbox(history: Option<(&Path, Duration)>) -> Outbox {
    let Some((path, retention)) = history else {
        return Outbox::memory();
    };
    let path = path.to_path_buf();
    let opened = tokio::task::spawn_blocking(move || Outbox::open(&path, retention)).await;
    match opened.map_err(|e| e.to_string()) {
        Ok(Ok(o)) => o,
        Ok(Err(e)) | Err(e) => {
            tracing::error!(
                "notify: cannot keep the outbox in the history file ({e}); it is in memory: notifications not yet delivered are lost if the monitor stops"
            );
            Outbox::memory()
        }
    }
}

/// Nodes per group, for "3 of 8 nodes".
fn group_sizes(config: &Config) -> HashMap<String, usize> {
    let mut sizes = HashMap::new();
    for n in &config.nodes {
        if let Some(g) = &n.group {
            *sizes.entry(present::name(g)).or_insert(0) += 1;
        }
    }
    sizes
}

/// A node's shown change as the router sees it.
pub fn node_change(t: &Transition) -> Change {
    let unhealthy = match t.to {
        Status::Pending => None,
        s => Some(s.is_problem()),
    };
    Change {
        kind: SubjectKind::Node,
        name: present::name(t.node.as_str()),
        group: t.group.as_deref().map(present::name),
        unhealthy,
        status: t.to.as_str().to_owned(),
        at_ms: ms(t.at),
        detail: t.outcome.to_string(),
    }
}

/// A group's change: only a wrong number of Masters is the group's own alarm
/// (its members' problems are their own notifications).
pub fn group_change(g: &GroupTransition) -> Change {
    let unhealthy = match g.status {
        GroupStatus::NoMaster | GroupStatus::MultipleMasters => Some(true),
        _ => Some(false),
    };
    Change {
        kind: SubjectKind::Group,
        name: present::name(&g.group),
        group: None,
        unhealthy,
        status: g.status.as_str().to_owned(),
        at_ms: ms(g.at),
        detail: present::group_health(&g.health).unwrap_or_default(),
    }
}

/// The name the `[[alert]]` programs are counted under.
pub const HOOKS: &str = "alert";

/// Hook runs queued before new ones are dropped (counted as given up).
const HOOK_QUEUE: usize = 1024;

/// Where the router hands its work.
struct Channels {
    workers: HashMap<String, mpsc::Sender<Work>>,
    /// Alertmanager channels' silence tasks, by channel name.
    silencers: HashMap<String, mpsc::Sender<silence::Job>>,
    alertmanagers: Vec<String>,
    /// The hook runner, started at the first run.
    hooks: Option<mpsc::Sender<HookJob>>,
    hook_stats: Arc<ChannelStats>,
    /// Each channel's counters, by name (a dropped silence counts as failed).
    stats: HashMap<String, Arc<ChannelStats>>,
}

/// The router's key for an ack's or a window's target: names as messages print
/// them, like every change's.
fn subject(target: &Target) -> (SubjectKind, String) {
    match target {
        Target::Node(n) => (SubjectKind::Node, present::name(n)),
        Target::Group(g) => (SubjectKind::Group, present::name(g)),
    }
}

impl Channels {
    /// Hands an ack's silence to the Alertmanager channels it concerns: a new
    /// ack to those whose filters want its node or group, an ended one to every
    /// Alertmanager channel (finding none costs one request, and a silence made
    /// under other filters, before a reload or a restart, still ends). Never
    /// waits: a full queue drops the job, counted as a failure of the channel.
    fn silence(&self, router: &Router, event: AckEvent) {
        let (op, ack) = match event {
            AckEvent::Added(ack) => (silence::Op::Create, ack),
            AckEvent::Ended { ack, .. } => (silence::Op::Expire, ack),
        };
        let (kind, value) = subject(&ack.target);
        let label = match kind {
            SubjectKind::Node => "node",
            SubjectKind::Group => "group",
        };
        let names = match op {
            silence::Op::Create => router.silence_channels(kind, &value),
            silence::Op::Expire => self.alertmanagers.clone(),
        };
        for name in names {
            let Some(tx) = self.silencers.get(&name) else {
                continue;
            };
            let job = silence::Job {
                op,
                ack: ack.clone(),
                label,
                value: value.clone(),
            };
            if tx.try_send(job).is_err()
                && let Some(stats) = self.stats.get(&name)
            {
                stats.count(&stats.failed);
                tracing::warn!(
                    "notify {name}: too many silences waiting ({}); the one for ack {} of {} is dropped",
                    silence::QUEUE,
                    ack.id,
                    ack.target
                );
            }
        }
    }

    /// Alertmanager workers re-send the active alerts: after a subject entered
    /// maintenance, they get the set without it at once.
    fn refresh_active(&self, router: &Router) {
        for name in &self.alertmanagers {
            if let Some(tx) = self.workers.get(name) {
                // A full queue: the next window that closes sends the set.
                let _ = tx.try_send(Work::Active(router.active(name)));
            }
        }
    }

    fn hook(&mut self, job: HookJob) {
        let stats = self.hook_stats.clone();
        let tx = self.hooks.get_or_insert_with(|| {
            let (tx, rx) = mpsc::channel(HOOK_QUEUE);
            let on_done: hooks::OnDone = Arc::new(move |_, outcome| match outcome {
                Ok(()) => {
                    stats.count(&stats.delivered);
                    stats.set_problem(None);
                }
                Err(why) => {
                    stats.count(&stats.failed);
                    stats.set_problem(Some(why));
                }
            });
            tokio::spawn(hooks::run_jobs(rx, on_done));
            tx
        });
        if tx.try_send(job).is_err() {
            let n = self.hook_stats.given_up.fetch_add(1, Ordering::Relaxed) + 1;
            if n == 1 || n.is_power_of_two() {
                tracing::warn!("alert hooks: queue full ({HOOK_QUEUE}); {n} run(s) dropped so far");
            }
        }
    }
}

/// The router task: takes changes, closes windows when due, stores what they
/// make and hands it to the channel's worker.
async fn route(
    mut router: Router,
    outbox: Arc<Outbox>,
    mut channels: Channels,
    mut inbox: mpsc::Receiver<Input>,
    retention: Duration,
) {
    let mut buf = Vec::with_capacity(256);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    prune.tick().await;
    loop {
        let due = router.next_due_ms();
        let wait = due.map(|d| {
            let now = ms(SystemTime::now());
            tokio::time::Instant::now() + Duration::from_millis((d - now).max(0) as u64)
        });
        tokio::select! {
            // Changes first: a recovery already queued must reach its window
            // before the window closes, or the blip it cancels is sent.
            biased;
            n = inbox.recv_many(&mut buf, 4096) => {
                if n == 0 {
                    break;
                }
                let mut quieted = false;
                for input in buf.drain(..) {
                    let change = match input {
                        Input::Node(t) => node_change(&t),
                        Input::Group(g) => group_change(&g),
                        Input::Removed { group, name, at } => {
                            let kind = if group { SubjectKind::Group } else { SubjectKind::Node };
                            router.remove(kind, &present::name(&name), ms(at));
                            continue;
                        }
                        Input::Hook(job) => {
                            channels.hook(job);
                            continue;
                        }
                        Input::Ack(event) => {
                            channels.silence(&router, event);
                            continue;
                        }
                        Input::Maintenance { target, window, at } => {
                            let (kind, name) = subject(&target);
                            let window = window.as_deref().map(present::name);
                            router.maintenance(kind, &name, window.as_deref(), ms(at));
                            quieted |= window.is_some();
                            continue;
                        }
                        Input::Covered { target, acked } => {
                            let (kind, name) = subject(&target);
                            router.covered(kind, &name, acked);
                            continue;
                        }
                        Input::Worse(w) => {
                            let change = match w {
                                Worse::Node(t) => node_change(&t),
                                Worse::Group(g) => group_change(&g),
                            };
                            router.worse(&change);
                            continue;
                        }
                    };
                    router.change(&change);
                }
                if quieted {
                    channels.refresh_active(&router);
                }
            }
            () = async {
                if let Some(at) = wait {
                    tokio::time::sleep_until(at).await;
                }
            }, if wait.is_some() => {
                let out = router.tick(ms(SystemTime::now()), false, new_id);
                dispatch(out, &router, &outbox, &channels).await;
            }
            _ = prune.tick() => {
                let cut = ms(SystemTime::now()).saturating_sub(retention.as_millis() as i64);
                let o = outbox.clone();
                if let Ok(Err(e)) = tokio::task::spawn_blocking(move || o.prune(cut)).await {
                    tracing::warn!("notify: pruning old notifications failed: {e}");
                }
            }
        }
    }
    // The hub stopped: what is in an open window is stored now, not lost.
    let out = router.tick(ms(SystemTime::now()), true, new_id);
    dispatch(out, &router, &outbox, &channels).await;
}

/// Finished notifications older than the history's retention are removed this
/// often (and at start).
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// Stores what closed windows decided, then hands each notification to its
/// channel's worker; Alertmanager workers get their new active set, which they
/// re-send every minute.
async fn dispatch(out: router::Output, router: &Router, outbox: &Arc<Outbox>, channels: &Channels) {
    if out.closed.is_empty() {
        return;
    }
    let changed: std::collections::HashSet<String> = out
        .closed
        .iter()
        .filter(|c| !c.changes.is_empty())
        .map(|c| c.channel.clone())
        .collect();
    // Every channel's window in one transaction, on the disk thread, and back:
    // a storm's notifications (10,000 items each) are not copied for it.
    let o = outbox.clone();
    let stored = tokio::task::spawn_blocking(move || {
        let windows: Vec<Window<'_>> = out
            .closed
            .iter()
            .map(|c| Window {
                channel: &c.channel,
                notification: c.notification.as_ref(),
                changes: &c.changes,
            })
            .collect();
        let result = o.put_all(&windows);
        (result, out.closed)
    })
    .await;
    let closed = match stored {
        Ok((Ok(()), closed)) => closed,
        Ok((Err(e), closed)) => {
            tracing::error!(
                "notify: could not store in the outbox ({e}); sending anyway, but a restart will not know of it"
            );
            closed
        }
        Err(e) => {
            tracing::error!("notify: storing failed ({e}); these windows are lost");
            Vec::new()
        }
    };
    for n in closed.into_iter().filter_map(|c| c.notification) {
        tracing::info!(
            "notify {}: {} {} \"{}\"",
            n.channel,
            n.kind.as_str(),
            n.id,
            n.title
        );
        if let Some(tx) = channels.workers.get(&n.channel) {
            let _ = tx
                .send(Work::Send(Stored {
                    notification: n,
                    attempts: 0,
                    state: State::Pending,
                    done_ms: None,
                    last_error: None,
                }))
                .await;
        }
    }
    for name in channels
        .alertmanagers
        .iter()
        .filter(|n| changed.contains(*n))
    {
        if let Some(tx) = channels.workers.get(name) {
            let _ = tx.send(Work::Active(router.active(name))).await;
        }
    }
}

/// A notification id: 128 random bits, so two monitors or two runs never reuse one.
pub fn new_id() -> String {
    format!("{:032x}", rand::random::<u128>())
}

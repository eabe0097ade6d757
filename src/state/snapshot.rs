//! An immutable copy of the fleet as every display shows it. The hub publishes one
//! behind an `Arc` through a `watch` channel; the dashboard, `--once`, `/metrics` and
//! (later) the web page read it without touching the owner's state.

use std::time::{Duration, SystemTime};

use crate::config::Mode;
use crate::model::{ListenStats, Status, StatusCounts, Transition, UnreachablePolicy, Verdict};

use super::group::SyncGroup;
use super::latency::LatencyHistogram;
use super::node::NodeView;
use super::push::{ConnInfo, UnlistedSender};

#[derive(Clone, Debug)]
pub struct Snapshot {
    pub taken_at: SystemTime,
    /// When watching began.
    pub started: SystemTime,
    pub policy: UnreachablePolicy,
    pub verdict: Verdict,
    pub counts: StatusCounts,
    /// Every node, in config order.
    pub nodes: Vec<NodeView>,
    pub groups: Vec<SyncGroup>,
    /// Recent transitions, newest first.
    pub events: Vec<Transition>,
    /// Open push connections, oldest id first.
    pub connections: Vec<ConnInfo>,
    pub unlisted: Vec<UnlistedSender>,
    pub listen: ListenStats,
    /// A `[listen]` table is configured.
    pub has_listener: bool,
    /// Fleet-wide reply latency of poll nodes.
    pub latency: LatencyHistogram,
    pub flap_window: Duration,
    /// Alert-hook runs dropped because their queue was full (set by the hub).
    pub hook_runs_dropped: u64,
    /// The history store, when it is on (set by the hub).
    pub history: Option<HistoryStatus>,
    /// Each `[[notify]]` channel's deliveries (set by the hub).
    pub notify: Vec<crate::model::notification::ChannelStatus>,
    /// Changes the notifier's queue had no room for (set by the hub).
    pub notify_dropped: u64,
    /// The `[[maintenance]]` windows of the config in force (set by the hub, so
    /// a reload shows at once).
    pub windows: std::sync::Arc<[crate::config::MaintenanceWindow]>,
    /// The shard this instance watches, if sharded (set by the hub from the
    /// config in force): a label on every metric.
    pub shard: Option<crate::model::Shard>,
}

/// What the history store has done, as of the snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HistoryStatus {
    pub path: std::path::PathBuf,
    pub written: u64,
    /// Records lost: the queue or the write backlog was full.
    pub dropped: u64,
    /// The current write problem (disk full, read-only, …), until a write succeeds.
    pub problem: Option<String>,
}

impl Snapshot {
    /// A snapshot of no nodes, for a hub that publishes only when asked.
    pub fn empty(started: SystemTime) -> Snapshot {
        Snapshot {
            taken_at: started,
            started,
            policy: UnreachablePolicy::default(),
            verdict: Verdict::Ok,
            counts: StatusCounts::default(),
            nodes: Vec::new(),
            groups: Vec::new(),
            events: Vec::new(),
            connections: Vec::new(),
            unlisted: Vec::new(),
            listen: ListenStats::default(),
            has_listener: false,
            latency: LatencyHistogram::default(),
            flap_window: Duration::ZERO,
            hook_runs_dropped: 0,
            history: None,
            notify: Vec::new(),
            notify_dropped: 0,
            windows: std::sync::Arc::new([]),
            shard: None,
        }
    }

    pub fn node(&self, key: &str) -> Option<&NodeView> {
        self.nodes.iter().find(|n| n.name() == key)
    }

    pub fn group(&self, name: &str) -> Option<&SyncGroup> {
        self.groups.iter().find(|g| &*g.name == name)
    }

    /// Poll nodes without a result yet (what `--once` waits for).
    pub fn unanswered_polls(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.mode() == Mode::Poll && n.last.is_none())
            .count()
    }

    /// Push nodes that have not reported yet.
    pub fn unheard_push(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.mode() == Mode::Push && n.status == Status::Pending)
            .count()
    }

    /// Nodes in a maintenance window.
    pub fn in_maintenance(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.maintenance.is_some())
            .count()
    }

    /// Unhealthy nodes covered by an acknowledgement (and not in maintenance).
    pub fn acknowledged(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.ack.is_some() && n.maintenance.is_none())
            .count()
    }

    /// Unhealthy nodes and groups nobody has acknowledged or put in maintenance:
    /// what the page's alarm rings for.
    pub fn alarming(&self) -> usize {
        let nodes: std::collections::HashSet<&str> = self
            .nodes
            .iter()
            .filter(|n| n.is_alarming())
            .map(NodeView::name)
            .collect();
        // A group whose only problem is members that are all acknowledged or in
        // maintenance has nothing left to ring for.
        let groups = self
            .groups
            .iter()
            .filter(|g| {
                g.is_alarming()
                    && (g.health.has_master_problem()
                        || g.members.iter().any(|k| nodes.contains(k.as_str())))
            })
            .count();
        nodes.len() + groups
    }

    /// Push nodes: (configured, heard at least once).
    pub fn push_heard(&self) -> (usize, usize) {
        self.nodes
            .iter()
            .filter(|n| n.mode() == Mode::Push)
            .fold((0, 0), |(t, h), n| {
                (t + 1, h + usize::from(n.last_line_at.is_some()))
            })
    }
}

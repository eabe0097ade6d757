//! Fleet state: applies poll results and pushed lines, keeps per-node status, sync
//! groups, push connections and the recent transitions, and hands out snapshots. No
//! IO, no locks, time injected: the hub owns it and nothing else mutates it.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, BinaryHeap, HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::{Config, Mode};
use crate::model::{
    CloseReason, ConnId, GroupStatus, GroupTransition, Input, ListenEvent, NodeKey, Observation,
    Outcome, Refusals, Status, StatusCounts, Transition, UnreachablePolicy, Verdict,
};
use crate::protocol::{InvalidLine, PushLine, ReportedIp};

use super::group::{self, SyncGroup};
use super::latency::LatencyHistogram;
use super::node::NodeState;
use super::push::PushState;
use super::snapshot::Snapshot;

mod quiet;
pub use quiet::{AckRefusal, AckRequest, QuietEvent};

/// Transitions kept for the events pane; the full history goes to the log.
pub const EVENTS_LEN: usize = 200;
/// A push node that has never sent is not called `stale` before this long after it
/// appeared: after a monitor restart, a V3 sender in backoff takes up to ~31 s to
/// come back.
pub const PUSH_STARTUP_GRACE: Duration = Duration::from_secs(35);

/// What a reload kept and changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReloadDiff {
    pub nodes: usize,
    /// Same name, same settings: state and history kept.
    pub kept: usize,
    /// New or changed nodes (start pending).
    pub started: usize,
    /// Removed or changed nodes (state dropped).
    pub dropped: usize,
}

/// What one input did.
#[derive(Debug, Default)]
pub struct LineApplied {
    /// The node it was for (none: a connection event or an unlisted sender).
    pub node: Option<NodeKey>,
    /// That result's own status, before flap damping.
    pub raw: Option<Status>,
    /// The shown status changed.
    pub transition: Option<Transition>,
    /// The line made a new conflict: two peers claim this node.
    pub conflict: Option<NodeKey>,
}

/// The whole fleet. Every result goes through [`Fleet::apply`] or the push methods.
#[derive(Clone, Debug)]
pub struct Fleet {
    nodes: Vec<NodeState>,
    index: HashMap<NodeKey, usize>,
    policy: UnreachablePolicy,
    /// When watching began.
    started: SystemTime,
    counts: StatusCounts,
    events: VecDeque<Transition>,
    groups: Vec<SyncGroup>,
    /// Index into `groups` per node.
    node_group: Vec<Option<usize>>,
    push: PushState,
    has_listener: bool,
    /// Push node by the IP it writes, for attribution.
    push_ips: HashMap<IpAddr, usize>,
    /// Push nodes of the file that `--node`/`--group` left out: their lines are
    /// dropped, not shown as unlisted senders (they are listed, just not here).
    set_aside: std::collections::HashSet<IpAddr>,
    /// Groups watched only in part (`--node`): their members are judged alone.
    partial_groups: BTreeSet<String>,
    /// When each push node goes stale unless it is heard: (deadline, node), one entry
    /// per push node that is not stale. Re-armed lazily when an entry comes due.
    stale_at: BinaryHeap<Reverse<(SystemTime, usize)>>,
    armed: Vec<bool>,
    /// How long two peers for one node must overlap to count as a conflict.
    conflict_window: Duration,
    flap_threshold: usize,
    flap_window: Duration,
    latency: LatencyHistogram,
    /// Pending nodes per mode (poll, push), kept as results arrive.
    pending: [usize; 2],
    /// Group status changes not yet taken by the hub, collected only when someone
    /// takes them ([`Fleet::track_group_changes`]).
    group_changes: Vec<GroupTransition>,
    track_groups: bool,
    /// During a reload: each old group's recorded status, so rebuilding the
    /// groups does not record a change that did not happen.
    previous_groups: HashMap<Arc<str>, GroupStatus>,
    /// Acknowledgements in force, by what they acknowledge.
    acks: BTreeMap<crate::model::Target, Arc<crate::model::Ack>>,
    /// Acknowledged nodes and groups are left out of the verdict (`--ignore-acked`).
    ignore_acked: bool,
    /// Maintenance and ack changes not yet taken by the hub.
    quiet_events: Vec<QuietEvent>,
}

/// Nodes still without a result, by mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    pub poll: usize,
    pub push: usize,
}

fn mode_slot(mode: Mode) -> usize {
    match mode {
        Mode::Poll => 0,
        Mode::Push => 1,
    }
}

impl Fleet {
    pub fn new(config: &Config, now: SystemTime) -> Fleet {
        let histograms = config.per_node_histograms;
        let nodes: Vec<NodeState> = config
            .nodes
            .iter()
            .map(|n| NodeState::new(Arc::clone(n), now, histograms))
            .collect();
        let mut fleet = Fleet {
            index: HashMap::new(),
            policy: config.defaults.unreachable,
            started: now,
            counts: StatusCounts::default(),
            events: VecDeque::new(),
            groups: Vec::new(),
            node_group: Vec::new(),
            push: PushState::default(),
            has_listener: config.listen.is_some(),
            push_ips: HashMap::new(),
            set_aside: config
                .set_aside
                .iter()
                .map(|ip| ip.to_canonical())
                .collect(),
            partial_groups: config.partial_groups.clone(),
            stale_at: BinaryHeap::new(),
            armed: Vec::new(),
            conflict_window: config
                .listen
                .as_ref()
                .map(|l| l.stale_after)
                .unwrap_or(Duration::from_secs(30)),
            flap_threshold: config.flap_threshold,
            flap_window: config.flap_window,
            latency: LatencyHistogram::default(),
            pending: [0; 2],
            group_changes: Vec::new(),
            track_groups: false,
            previous_groups: HashMap::new(),
            acks: BTreeMap::new(),
            ignore_acked: false,
            quiet_events: Vec::new(),
            nodes,
        };
        fleet.reindex(now);
        fleet
    }

    /// Rebuilds everything derived from the node list: index, counts, groups, push
    /// directory and stale deadlines.
    fn reindex(&mut self, now: SystemTime) {
        self.index = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.view.key.clone(), i))
            .collect();
        self.counts = StatusCounts::default();
        self.pending = [0; 2];
        for n in &self.nodes {
            self.counts.add(n.view.status);
            if n.view.status == Status::Pending {
                self.pending[mode_slot(n.view.mode())] += 1;
            }
        }
        let mut by_name: BTreeMap<Arc<str>, Vec<usize>> = BTreeMap::new();
        for (i, n) in self.nodes.iter().enumerate() {
            if let Some(g) = &n.view.group
                && !self.partial_groups.contains(&**g)
            {
                by_name.entry(g.clone()).or_default().push(i);
            }
        }
        self.node_group = vec![None; self.nodes.len()];
        self.groups = Vec::with_capacity(by_name.len());
        for (gi, (name, members)) in by_name.into_iter().enumerate() {
            let status = self.previous_groups.get(&name).copied();
            for m in &members {
                self.node_group[*m] = Some(gi);
            }
            self.groups.push(SyncGroup {
                name,
                members: members
                    .iter()
                    .map(|m| self.nodes[*m].view.key.clone())
                    .collect(),
                masters: 0,
                has_roles: false,
                health: Default::default(),
                status,
                maintenance: None,
                ack: None,
            });
        }
        for gi in 0..self.groups.len() {
            self.refresh_group(gi, now);
        }
        self.push_ips = self
            .nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.view.mode() == Mode::Push)
            .filter_map(|(i, n)| {
                let ip = n.view.config.host.parse::<IpAddr>().ok()?;
                Some((ip.to_canonical(), i))
            })
            .collect();
        self.stale_at.clear();
        self.armed = vec![false; self.nodes.len()];
        for i in 0..self.nodes.len() {
            if self.nodes[i].view.mode() == Mode::Push && self.nodes[i].view.status != Status::Stale
            {
                self.arm(i);
            }
        }
    }

    /// The fleet for a reloaded config. Nodes whose config did not change (same
    /// name, same settings) keep their state and history; changed and added nodes
    /// start pending; removed nodes are gone.
    pub fn reconcile(mut self, config: &Config, now: SystemTime) -> (Fleet, ReloadDiff) {
        let mut new = Fleet::new(config, now);
        new.started = self.started;
        new.track_groups = self.track_groups;
        let mut old: HashMap<NodeKey, NodeState> = self
            .nodes
            .drain(..)
            .map(|n| (n.view.key.clone(), n))
            .collect();
        let old_count = old.len();
        let mut kept = 0;
        for slot in new.nodes.iter_mut() {
            let Some(prev) = old.remove(&slot.view.key) else {
                continue;
            };
            if *prev.view.config == *slot.view.config {
                *slot = prev;
                kept += 1;
            } else {
                // A changed node starts over, but what it was in and who
                // covered it stay, so what changes in them is said.
                slot.view.maintenance = prev.view.maintenance;
                slot.view.ack = prev.view.ack;
            }
        }
        new.events = std::mem::take(&mut self.events)
            .into_iter()
            .filter(|t| new.index.contains_key(&t.node))
            .collect();
        new.push = std::mem::take(&mut self.push);
        let index = &new.index;
        new.push.retain_nodes(|k| index.contains_key(k));
        new.latency = std::mem::take(&mut self.latency);
        // Groups are rebuilt; a group whose status stays the same is no change.
        new.previous_groups = self
            .groups
            .iter()
            .filter_map(|g| Some((g.name.clone(), g.status?)))
            .collect();
        new.reindex(now);
        // A sender the new file lists (added with `discover --append` or the
        // dashboard's adopt key) is a node now, not an unlisted sender; its
        // next line goes to the node.
        let listed = &new.push_ips;
        new.push
            .unlisted
            .retain(|ip, _| !listed.contains_key(&ip.to_canonical()));
        new.previous_groups.clear();
        for g in &mut new.groups {
            if let Some(prev) = self.groups.iter().find(|p| p.name == g.name) {
                g.maintenance = prev.maintenance.clone();
                g.ack = prev.ack.clone();
            }
        }
        new.carry_acks(&mut self, now);
        let diff = ReloadDiff {
            nodes: new.nodes.len(),
            kept,
            started: new.nodes.len() - kept,
            dropped: old_count - kept,
        };
        (new, diff)
    }

    /// Applies one input from the engine and says what it did: which node it was for
    /// and its raw status (for the hooks), the shown change, a new conflict.
    pub fn apply_input(&mut self, input: Input) -> LineApplied {
        match input {
            Input::Poll(r) => {
                let raw = r.obs.outcome.status();
                let transition = self.apply(r.node.as_str(), r.obs, r.connected);
                LineApplied {
                    raw: Some(raw),
                    node: Some(r.node),
                    transition,
                    conflict: None,
                }
            }
            Input::Listen(ListenEvent::Opened { conn, peer, at }) => {
                self.conn_opened(conn, peer, at);
                LineApplied::default()
            }
            Input::Listen(ListenEvent::Line {
                conn,
                peer,
                at,
                line,
                count,
            }) => self.push_lines(conn, peer, at, line, count),
            Input::Listen(ListenEvent::Closed { conn, peer, reason }) => {
                self.conn_closed(conn, peer, &reason);
                LineApplied::default()
            }
        }
    }

    /// Records a result for the node `key`. Returns the transition when the shown
    /// status changed. A result for a node no longer configured is dropped.
    pub fn apply(&mut self, key: &str, obs: Observation, connected: bool) -> Option<Transition> {
        let i = *self.index.get(key)?;
        self.apply_at(i, obs, connected)
    }

    fn apply_at(&mut self, i: usize, obs: Observation, connected: bool) -> Option<Transition> {
        let node = &mut self.nodes[i];
        let obs_at = obs.at;
        let to = obs.outcome.status();
        let from = node.view.status;
        let role_before = node.view.role();
        node.view.connected = connected;
        if obs.outcome.reply().is_some() {
            node.view.last_reply_at = Some(obs.at);
            if let Some(latency) = obs.latency {
                self.latency.observe(latency);
                if let Some(h) = node.view.latency_histogram.as_mut() {
                    h.observe(latency);
                }
            }
        }
        node.remember(&obs);
        // A change within one side (unhealthy to another unhealthy status) is shown
        // at once; crossing sides takes `confirm_*` results in a row.
        let needed = if to.is_healthy() {
            node.view.config.confirm_healthy
        } else {
            node.view.config.confirm_unhealthy
        };
        let crossed = node.damper.feed(to.is_healthy(), needed);
        let shown = to != from && (crossed || to.is_healthy() == from.is_healthy());
        if !shown {
            // While damping holds a change back, the group keeps judging the node by
            // what is shown; a one-result blip of a Master is not "no master".
            let role_changed = {
                node.view.last = Some(obs);
                node.view.role() != role_before
            };
            if role_changed && !node.damper.is_holding() {
                self.refresh_group_of(i, obs_at);
            }
            return None;
        }
        let at = obs.at;
        let t = Transition {
            at,
            node: node.view.key.clone(),
            group: node.view.group.clone(),
            from,
            to,
            outcome: obs.outcome.clone(),
        };
        node.view.last = Some(obs);
        node.view.status = to;
        // After a restart, a first result that matches the status recorded before
        // continues that period: the same "since", and no news for the events pane.
        let continued = match node.resume.take() {
            Some((status, since)) if from == Status::Pending && status == to => Some(since),
            _ => None,
        };
        node.view.since = continued.unwrap_or(at);
        if from != Status::Pending {
            node.note_transition(at);
        }
        self.counts.remove(from);
        self.counts.add(to);
        if from == Status::Pending {
            let slot = &mut self.pending[mode_slot(node.view.mode())];
            *slot = slot.saturating_sub(1);
        }
        // The first answer of a healthy node is not news; a first answer that is bad is,
        // unless it only confirms what was recorded before a restart.
        if (from != Status::Pending || to.is_problem()) && continued.is_none() {
            if self.events.len() == EVENTS_LEN {
                self.events.pop_front();
            }
            self.events.push_back(t.clone());
        }
        self.node_changed(i, at);
        self.refresh_group_of(i, at);
        Some(t)
    }

    fn refresh_group_of(&mut self, i: usize, at: SystemTime) {
        if let Some(Some(gi)) = self.node_group.get(i) {
            self.refresh_group(*gi, at);
        }
    }

    /// Re-applies the group rule; a change of the group's recorded status is queued
    /// for [`Fleet::take_group_changes`].
    fn refresh_group(&mut self, gi: usize, at: SystemTime) {
        let counted = self.counted_members(gi);
        let nodes = &self.nodes;
        let members: Vec<group::Member> = counted
            .members
            .iter()
            .map(|i| &nodes[*i].view)
            .map(|n| group::Member {
                key: &n.key,
                status: n.status,
                role: n.role(),
            })
            .collect();
        let any_free = members.iter().any(|m| m.status == Status::Free);
        let (masters, has_roles, health) =
            group::evaluate_without(&members, counted.master_left_out);
        let status = GroupStatus::of(&health, any_free);
        let g = &mut self.groups[gi];
        g.masters = masters;
        g.has_roles = has_roles;
        if let Some(s) = status
            && g.status != status
            && self.track_groups
        {
            self.group_changes.push(GroupTransition {
                at,
                group: g.name.clone(),
                status: s,
                health: health.clone(),
            });
        }
        g.health = health;
        g.status = status;
        self.group_changed(gi, at, counted.left_out);
    }

    /// The names of the nodes and of the sync groups.
    pub fn names(&self) -> (BTreeSet<Arc<str>>, BTreeSet<Arc<str>>) {
        (
            self.nodes
                .iter()
                .map(|n| n.view.key.shared().clone())
                .collect(),
            self.groups.iter().map(|g| g.name.clone()).collect(),
        )
    }

    /// Every node's current status as a transition to itself at `at` (nodes still
    /// pending have none), for a history file that must start over.
    pub fn current(&self, at: SystemTime) -> Vec<Transition> {
        self.nodes
            .iter()
            .filter(|n| n.view.status != Status::Pending)
            .filter_map(|n| {
                let last = n.view.last.as_ref()?;
                Some(Transition {
                    at,
                    node: n.view.key.clone(),
                    group: n.view.group.clone(),
                    from: n.view.status,
                    to: n.view.status,
                    outcome: last.outcome.clone(),
                })
            })
            .collect()
    }

    /// Every sync group's current recorded status at `at`, likewise.
    pub fn current_groups(&self, at: SystemTime) -> Vec<GroupTransition> {
        self.groups
            .iter()
            .filter_map(|g| {
                Some(GroupTransition {
                    at,
                    group: g.name.clone(),
                    status: g.status?,
                    health: g.health.clone(),
                })
            })
            .collect()
    }

    /// Collect sync-group status changes for [`Fleet::take_group_changes`] (the
    /// history store records them); off by default, so nobody's buffer grows.
    pub fn track_group_changes(&mut self) {
        self.track_groups = true;
    }

    /// Sync-group status changes since the last call, oldest first (for history).
    pub fn take_group_changes(&mut self) -> Vec<GroupTransition> {
        std::mem::take(&mut self.group_changes)
    }

    /// Fills the events pane with transitions recorded before a restart (newest
    /// first, as the history file lists them), for nodes still configured.
    pub fn seed_events(&mut self, recent: Vec<Transition>) {
        let index = &self.index;
        let mut events: VecDeque<Transition> = recent
            .into_iter()
            .rev()
            .filter(|t| index.contains_key(&t.node))
            .collect();
        events.extend(self.events.drain(..));
        while events.len() > EVENTS_LEN {
            events.pop_front();
        }
        self.events = events;
    }

    /// Gives each node its status recorded before a restart: a first result in the
    /// same status keeps that status's "since" (see `apply_at`).
    pub fn resume(&mut self, recorded: &HashMap<String, (Status, SystemTime)>) {
        for n in &mut self.nodes {
            if n.view.status == Status::Pending {
                n.resume = recorded.get(n.view.name()).copied();
            }
        }
    }

    // ---- push ----

    fn push_node_for(&self, ip: IpAddr) -> Option<usize> {
        self.push_ips.get(&ip.to_canonical()).copied()
    }

    /// The push node a line from `conn` belongs to: by the IP inside it, by the peer
    /// address for `unknown_state<d>`; an invalid line belongs to whoever this
    /// connection spoke for before, else to the node whose IP the peer has.
    fn line_target(
        &self,
        conn: ConnId,
        peer: SocketAddr,
        line: &Result<PushLine, InvalidLine>,
    ) -> Option<usize> {
        match line {
            Ok(l) => match l.reported {
                ReportedIp::V4(ip) => self.push_node_for(IpAddr::V4(ip)),
                ReportedIp::Unknown => self.push_node_for(peer.ip()),
            },
            Err(_) => self
                .push
                .node_of(conn)
                .and_then(|k| self.index.get(k).copied())
                .or_else(|| self.push_node_for(peer.ip())),
        }
    }

    /// A push connection was accepted.
    pub fn conn_opened(&mut self, conn: ConnId, peer: SocketAddr, at: SystemTime) {
        self.push.opened(conn, peer, at);
    }

    /// A push connection ended. A connection that closed without a single line is
    /// counted against the node whose address it came from (the V3 sender's "external
    /// send" bug looks like that).
    pub fn conn_closed(&mut self, conn: ConnId, peer: SocketAddr, reason: &CloseReason) {
        self.push.stats.count_close(reason);
        let Some((info, last)) = self.push.closed(conn) else {
            return;
        };
        if last && let Some(i) = info.node.as_ref().and_then(|k| self.index.get(k)) {
            self.nodes[*i].view.connected = false;
        }
        if info.lines == 0
            && matches!(reason, CloseReason::Peer | CloseReason::Error(_))
            && let Some(i) = self.push_node_for(peer.ip())
        {
            let v = &mut self.nodes[i].view;
            v.silent_connects = v.silent_connects.saturating_add(1);
        }
    }

    /// The receiver's counts of connections refused at accept; true when they changed.
    pub fn set_refusals(&mut self, r: Refusals) -> bool {
        let before = self.push.stats;
        self.push.stats.set_refusals(r);
        before != self.push.stats
    }

    /// The receiver restarted: its connections are gone (senders reconnect).
    pub fn receiver_restarted(&mut self) {
        self.push.receiver_restarted();
        for n in &mut self.nodes {
            if n.view.mode() == Mode::Push {
                n.view.connected = false;
            }
        }
    }

    /// `count` identical lines from one read of push connection `conn`. Attributes
    /// them and updates the node (or the unlisted list) and the connection.
    pub fn push_lines(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        at: SystemTime,
        line: Result<PushLine, InvalidLine>,
        count: u32,
    ) -> LineApplied {
        let target = self.line_target(conn, peer, &line);
        let key = target.map(|i| &self.nodes[i].view.key);
        self.push.count_lines(conn, at, &line, count, key);
        let Some(i) = target else {
            if let Ok(l) = line {
                let ip = match l.reported {
                    ReportedIp::V4(ip) => IpAddr::V4(ip),
                    ReportedIp::Unknown => peer.ip().to_canonical(),
                };
                if !self.set_aside.contains(&ip) {
                    self.push.note_unlisted(l, peer, at, count);
                }
            }
            return LineApplied::default();
        };
        let window = self.conflict_window;
        let node = &mut self.nodes[i];
        node.view.last_line_at = Some(at);
        node.view.peer = Some(peer);
        node.view.silent_connects = 0;
        let conflict = node
            .note_peer(peer.ip().to_canonical(), at, window)
            .then(|| node.view.key.clone());
        if !self.armed[i] {
            self.arm(i);
        }
        let outcome = match line {
            Ok(l) => Outcome::Reply(l.reply()),
            Err(e) => Outcome::InvalidLine(e),
        };
        let raw = outcome.status();
        let obs = Observation {
            at,
            outcome,
            latency: None,
        };
        LineApplied {
            raw: Some(raw),
            node: Some(self.nodes[i].view.key.clone()),
            transition: self.apply_at(i, obs, true),
            conflict,
        }
    }

    // ---- staleness ----

    /// When push node `i` goes stale if nothing more is heard.
    fn stale_deadline(&self, i: usize) -> SystemTime {
        let v = &self.nodes[i].view;
        match v.last_line_at {
            Some(heard) => heard + v.config.stale_after,
            // Never heard since it appeared (start-up, or the reload that added it).
            None => v.since + v.config.stale_after.max(PUSH_STARTUP_GRACE),
        }
    }

    fn arm(&mut self, i: usize) {
        self.armed[i] = true;
        let at = self.stale_deadline(i);
        self.stale_at.push(Reverse((at, i)));
    }

    /// The next moment a push node may go stale, for the hub's timer.
    pub fn next_stale_at(&self) -> Option<SystemTime> {
        self.stale_at.peek().map(|Reverse((at, _))| *at)
    }

    /// Marks push nodes `stale` whose deadline has passed. Exact: a node goes stale
    /// at `stale_after` after its last line, not on the next tick.
    pub fn check_stale(&mut self, now: SystemTime) -> Vec<Transition> {
        let mut out = Vec::new();
        while let Some(&Reverse((at, i))) = self.stale_at.peek() {
            if at > now {
                break;
            }
            self.stale_at.pop();
            let due = self.stale_deadline(i);
            if due > now {
                // Heard since the entry was made: wait for the new deadline.
                self.stale_at.push(Reverse((due, i)));
                continue;
            }
            self.armed[i] = false;
            let v = &self.nodes[i].view;
            let heard = v.last_line_at.unwrap_or(v.since);
            let silent_for = now.duration_since(heard).unwrap_or_default();
            let obs = Observation {
                at: now,
                outcome: Outcome::Stale {
                    silent_for: Duration::from_secs(silent_for.as_secs()),
                },
                latency: None,
            };
            let connected = v.connected;
            out.extend(self.apply_at(i, obs, connected));
        }
        out
    }

    /// For `--once`: every push node that has not sent a line yet is `stale`.
    pub fn mark_unheard_stale(&mut self, now: SystemTime) -> Vec<Transition> {
        let silent_for = now.duration_since(self.started).unwrap_or_default();
        let mut out = Vec::new();
        for i in 0..self.nodes.len() {
            let v = &self.nodes[i].view;
            if v.mode() != Mode::Push || v.status != Status::Pending {
                continue;
            }
            let obs = Observation {
                at: now,
                outcome: Outcome::Stale {
                    silent_for: Duration::from_secs(silent_for.as_secs()),
                },
                latency: None,
            };
            out.extend(self.apply_at(i, obs, false));
        }
        out
    }

    // ---- reading ----

    pub fn counts(&self) -> &StatusCounts {
        &self.counts
    }

    /// Nodes with no shown result yet: (poll, push). `--once` waits for these.
    pub fn pending(&self) -> Progress {
        Progress {
            poll: self.pending[0],
            push: self.pending[1],
        }
    }

    pub fn policy(&self) -> UnreachablePolicy {
        self.policy
    }

    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// The overall verdict: the status rule, raised to CRITICAL by a sync group
    /// without exactly one Master. Nodes and groups in maintenance (and, with
    /// `--ignore-acked`, acknowledged ones) do not count. Unhealthy members are graded by the node rules
    /// (and the `unreachable` policy); a group adds only what no node shows.
    pub fn verdict(&self) -> Verdict {
        self.quiet_verdict()
    }

    /// Every node, in config order.
    pub fn nodes(&self) -> &[NodeState] {
        &self.nodes
    }

    pub fn node(&self, key: &str) -> Option<&NodeState> {
        self.index.get(key).map(|i| &self.nodes[*i])
    }

    pub fn groups(&self) -> &[SyncGroup] {
        &self.groups
    }

    pub fn push(&self) -> &PushState {
        &self.push
    }

    /// Recent transitions, newest first.
    pub fn events(&self) -> impl Iterator<Item = &Transition> {
        self.events.iter().rev()
    }

    pub fn conflict_window(&self) -> Duration {
        self.conflict_window
    }

    /// Whether a node changed status more than `flap_threshold` times within
    /// `flap_window` before `now`.
    pub fn is_flapping(&self, key: &str, now: SystemTime) -> bool {
        self.node(key)
            .is_some_and(|n| n.flap_count(now, self.flap_window) > self.flap_threshold)
    }

    /// An immutable copy of what every display shows, taken at `now`.
    pub fn snapshot(&self, now: SystemTime) -> Snapshot {
        let nodes = self
            .nodes
            .iter()
            .map(|n| {
                let mut v = n.view.clone();
                v.flaps = n.flap_count(now, self.flap_window);
                v.flapping = v.flaps > self.flap_threshold;
                if v.mode() == Mode::Push {
                    v.conflicting_peers = n.conflicting_peers(now, self.conflict_window);
                }
                v
            })
            .collect();
        Snapshot {
            taken_at: now,
            started: self.started,
            policy: self.policy,
            verdict: self.verdict(),
            counts: self.counts,
            nodes,
            groups: self.groups.clone(),
            events: self.events.iter().rev().cloned().collect(),
            connections: self.push.connections.values().cloned().collect(),
            unlisted: self.push.unlisted.values().cloned().collect(),
            listen: self.push.stats,
            has_listener: self.has_listener,
            latency: self.latency.clone(),
            flap_window: self.flap_window,
            hook_runs_dropped: 0,
            history: None,
            notify: Vec::new(),
            notify_dropped: 0,
            windows: Arc::new([]),
            shard: None,
        }
    }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TimeoutPhase;
    use crate::protocol::Reply;
    use crate::state::HISTORY_LEN;

    fn fleet(n: usize) -> Fleet {
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!(
                "[[node]]\nname = \"n{i}\"\nhost = \"127.0.0.1\"\n"
            ));
        }
        let cfg = Config::parse(&text, "t.toml").expect("config");
        Fleet::new(&cfg, SystemTime::UNIX_EPOCH)
    }

    fn obs(secs: u64, outcome: Outcome) -> Observation {
        Observation {
            at: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            outcome,
            latency: Some(Duration::from_millis(3)),
        }
    }

    #[test]
    fn a_restart_keeps_since_when_the_first_result_matches_the_record() {
        let mut f = fleet(2);
        let before = SystemTime::UNIX_EPOCH + Duration::from_secs(5);
        let recorded = HashMap::from([
            ("n0".to_owned(), (Status::Free, before)),
            ("n1".to_owned(), (Status::Free, before)),
        ]);
        f.resume(&recorded);
        // Still pending until a result says so: nothing is claimed unchecked.
        assert_eq!(f.node("n0").map(|n| n.view.status), Some(Status::Pending));
        let free = || Outcome::Reply(Reply::Free);
        let t = f.apply("n0", obs(100, free()), true).expect("shown");
        assert_eq!((t.from, t.to), (Status::Pending, Status::Free));
        assert_eq!(f.node("n0").map(|n| n.view.since), Some(before));
        // A different status starts a new period.
        f.apply("n1", obs(100, Outcome::Reply(Reply::Synced)), true);
        assert_eq!(
            f.node("n1").map(|n| n.view.since),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(100))
        );
        // The confirmation is not news for the events pane; the change is not
        // news either (a healthy first answer).
        assert_eq!(f.events().count(), 0);
        // Only the first result resumes: later periods start when they start.
        f.apply("n0", obs(110, Outcome::Reply(Reply::Synced)), true);
        f.apply("n0", obs(111, Outcome::Reply(Reply::Synced)), true);
        f.apply("n0", obs(120, free()), true);
        assert_eq!(
            f.node("n0").map(|n| n.view.since),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(120))
        );
    }

    #[test]
    fn apply_tracks_status_counts_and_transitions() {
        let mut f = fleet(2);
        assert_eq!(f.counts().get(Status::Pending), 2);
        let t = f.apply("n0", obs(1, Outcome::Reply(Reply::Synced)), true);
        assert_eq!(
            t.map(|t| (t.from, t.to)),
            Some((Status::Pending, Status::Synced))
        );
        // A healthy first answer is not an event.
        assert_eq!(f.events().count(), 0);
        assert!(
            f.apply("n0", obs(2, Outcome::Reply(Reply::Synced)), true)
                .is_none()
        );
        let t = f
            .apply("n0", obs(3, Outcome::Reply(Reply::Free)), true)
            .expect("transition");
        assert_eq!((t.from, t.to), (Status::Synced, Status::Free));
        assert_eq!(t.outcome.to_string(), "reply \"Free\"");
        assert_eq!(
            f.nodes()[0].view.since,
            SystemTime::UNIX_EPOCH + Duration::from_secs(3)
        );
        assert_eq!(f.nodes()[0].view.transitions, 1);
        assert_eq!(f.counts().get(Status::Free), 1);
        assert_eq!(f.counts().get(Status::Pending), 1);
        assert_eq!(f.verdict(), Verdict::Critical);
        let ev: Vec<_> = f
            .events()
            .map(|e| (e.node.as_str(), e.from, e.to))
            .collect();
        assert_eq!(ev, vec![("n0", Status::Synced, Status::Free)]);
    }

    #[test]
    fn flap_damping_needs_consecutive_results_but_keeps_raw_history() {
        let cfg = Config::parse(
            "[defaults]\nconfirm_unhealthy = 3\nconfirm_healthy = 2\n[[node]]\nname = \"n\"\nhost = \"h\"\n",
            "t.toml",
        )
        .expect("config");
        let mut f = Fleet::new(&cfg, SystemTime::UNIX_EPOCH);
        let ok = || Outcome::Reply(Reply::Synced);
        let bad = || Outcome::Reply(Reply::Free);
        // The first answer is shown at once.
        assert!(f.apply("n", obs(1, ok()), true).is_some());
        // Two bad results, then a good one: the count starts again.
        assert!(f.apply("n", obs(2, bad()), true).is_none());
        assert!(f.apply("n", obs(3, bad()), true).is_none());
        assert!(f.apply("n", obs(4, ok()), true).is_none());
        assert!(f.apply("n", obs(5, bad()), true).is_none());
        assert!(f.apply("n", obs(6, bad()), true).is_none());
        assert_eq!(f.nodes()[0].view.status, Status::Synced);
        let t = f
            .apply("n", obs(7, bad()), true)
            .expect("third bad result in a row");
        assert_eq!((t.from, t.to), (Status::Synced, Status::Free));
        // Unhealthy to another unhealthy status is shown at once.
        let timeout = Outcome::Timeout {
            phase: TimeoutPhase::Reply,
            after: Duration::from_secs(5),
        };
        assert!(f.apply("n", obs(8, timeout), false).is_some());
        // Two good results to recover.
        assert!(f.apply("n", obs(9, ok()), true).is_none());
        assert!(f.apply("n", obs(10, ok()), true).is_some());
        // Every raw result is in the history.
        assert_eq!(f.nodes()[0].history.len(), 10);
        assert_eq!(f.nodes()[0].view.transitions, 3);
    }

    #[test]
    fn flapping_is_more_than_the_threshold_within_the_window() {
        let cfg = Config::parse(
            "[dashboard]\nflap_threshold = 2\nflap_window = \"1m\"\n[[node]]\nname = \"n\"\nhost = \"h\"\n",
            "t.toml",
        )
        .expect("config");
        let mut f = Fleet::new(&cfg, SystemTime::UNIX_EPOCH);
        f.apply("n", obs(0, Outcome::Reply(Reply::Synced)), true);
        for i in 1..=3 {
            let o = if i % 2 == 1 {
                Reply::Free
            } else {
                Reply::Synced
            };
            f.apply("n", obs(i * 10, Outcome::Reply(o)), true);
        }
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert!(f.is_flapping("n", at(35)), "3 transitions in a minute > 2");
        assert!(!f.is_flapping("n", at(85)), "only one left in the window");
    }

    #[test]
    fn reconcile_keeps_unchanged_nodes_and_their_history() {
        let before = Config::parse(
            "[[node]]\nname = \"a\"\nhost = \"h1\"\n[[node]]\nname = \"b\"\nhost = \"h2\"\n[[node]]\nname = \"c\"\nhost = \"h3\"\n",
            "t.toml",
        )
        .expect("config");
        let mut f = Fleet::new(&before, SystemTime::UNIX_EPOCH);
        f.apply("a", obs(1, Outcome::Reply(Reply::Synced)), true);
        f.apply("a", obs(2, Outcome::Reply(Reply::Free)), true);
        f.apply("b", obs(1, Outcome::Reply(Reply::Synced)), true);
        f.apply("c", obs(1, Outcome::Reply(Reply::Free)), true);
        // b changes port, c is removed, d is added, a moves to the end unchanged.
        let after = Config::parse(
            "[[node]]\nname = \"d\"\nhost = \"h4\"\n[[node]]\nname = \"b\"\nhost = \"h2\"\nport = 9\n[[node]]\nname = \"a\"\nhost = \"h1\"\n",
            "t.toml",
        )
        .expect("config");
        let (g, diff) = f.reconcile(&after, SystemTime::UNIX_EPOCH + Duration::from_secs(3));
        assert_eq!(
            diff,
            ReloadDiff {
                nodes: 3,
                kept: 1,
                started: 2,
                dropped: 2
            }
        );
        let n = g.nodes();
        assert_eq!(n[2].view.name(), "a");
        assert_eq!(n[2].view.status, Status::Free);
        assert_eq!(n[2].history.len(), 2, "history kept");
        assert_eq!(n[1].view.status, Status::Pending, "changed node restarts");
        assert_eq!(n[0].view.status, Status::Pending);
        assert_eq!(g.counts().get(Status::Free), 1);
        assert_eq!(g.counts().get(Status::Pending), 2);
        // Events of kept nodes follow them; those of removed nodes are gone.
        let ev: Vec<_> = g.events().map(|t| (t.node.as_str(), t.to)).collect();
        assert_eq!(ev, vec![("a", Status::Free)]);
    }

    #[test]
    fn history_is_bounded_and_newest_last() {
        let mut f = fleet(1);
        for i in 0..50 {
            f.apply("n0", obs(i, Outcome::Reply(Reply::Synced)), true);
        }
        let h = &f.nodes()[0].history;
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(
            h.back().map(|o| o.at),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(49))
        );
    }

    #[test]
    fn flap_count_only_counts_the_window() {
        let mut f = fleet(1);
        f.apply("n0", obs(0, Outcome::Reply(Reply::Synced)), true);
        for i in 1..=6 {
            let o = if i % 2 == 1 {
                Reply::Free
            } else {
                Reply::Synced
            };
            f.apply("n0", obs(i * 60, Outcome::Reply(o)), true);
        }
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(6 * 60);
        assert_eq!(f.nodes()[0].flap_count(now, Duration::from_secs(600)), 6);
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(6 * 60 + 9 * 60 + 30);
        // Transitions at 1..=6 minutes; the window reaches back to 5.5 minutes.
        assert_eq!(f.nodes()[0].flap_count(later, Duration::from_secs(600)), 1);
    }

    #[test]
    fn connections_without_a_line_are_named_until_the_node_speaks() {
        let cfg = Config::parse(
            "[listen]\nbind = [\"127.0.0.1:0\"]\n[[node]]\nname = \"p\"\nhost = \"10.0.0.5\"\nmode = \"push\"\n",
            "t.toml",
        )
        .expect("config");
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(100);
        let mut f = Fleet::new(&cfg, t0);
        let peer: SocketAddr = "10.0.0.5:4000".parse().expect("peer");
        for conn in 1..=2 {
            f.conn_opened(conn, peer, t0);
            f.conn_closed(conn, peer, &CloseReason::Peer);
        }
        assert!(
            !f.snapshot(t0).nodes[0].connects_silently(),
            "two is not yet a pattern"
        );
        f.conn_opened(3, peer, t0);
        f.conn_closed(3, peer, &CloseReason::Peer);
        let snap = f.snapshot(t0);
        assert_eq!(snap.nodes[0].silent_connects, 3);
        let note = crate::present::silent_connects_note(&snap.nodes[0]).expect("note");
        assert!(note.contains("restart SyncGuard on the node"), "{note}");
        // A connection from elsewhere, or one that sent a line, does not count.
        let other: SocketAddr = "10.0.0.9:4000".parse().expect("peer");
        f.conn_opened(4, other, t0);
        f.conn_closed(4, other, &CloseReason::Peer);
        assert_eq!(f.snapshot(t0).nodes[0].silent_connects, 3);
        f.conn_opened(5, peer, t0);
        let line = Ok(PushLine {
            reported: ReportedIp::V4(std::net::Ipv4Addr::new(10, 0, 0, 5)),
            code: 1,
        });
        f.push_lines(5, peer, t0, line, 1);
        assert_eq!(
            f.snapshot(t0).nodes[0].silent_connects,
            0,
            "a line clears it"
        );
    }

    #[test]
    fn a_listed_node_left_out_by_the_selection_is_not_unlisted() {
        let t0 = SystemTime::UNIX_EPOCH;
        let config = Config::parse(
            "[[node]]\nname = \"a\"\nhost = \"10.0.0.5\"\nmode = \"push\"\ngroup = \"A\"\n\
             [[node]]\nname = \"b\"\nhost = \"10.0.0.6\"\nmode = \"push\"\ngroup = \"B\"\n",
            "t.toml",
        )
        .expect("config");
        let config = crate::config::Selection {
            groups: vec!["A".into()],
            ..Default::default()
        }
        .apply(config)
        .expect("selection");
        let mut f = Fleet::new(&config, t0);
        let peer: SocketAddr = "10.0.0.6:4000".parse().expect("peer");
        f.conn_opened(1, peer, t0);
        let line = Ok(PushLine {
            reported: ReportedIp::V4(std::net::Ipv4Addr::new(10, 0, 0, 6)),
            code: 1,
        });
        f.push_lines(1, peer, t0, line, 1);
        let snap = f.snapshot(t0);
        assert!(
            snap.unlisted.is_empty(),
            "b is listed, only not watched here"
        );
        assert_eq!(snap.nodes.len(), 1);
    }

    #[test]
    fn a_sender_listed_by_a_reload_leaves_the_unlisted_list() {
        let t0 = SystemTime::UNIX_EPOCH;
        let before = Config::parse(
            "[[node]]\nname = \"p\"\nhost = \"10.0.0.5\"\nmode = \"push\"\n",
            "t.toml",
        )
        .expect("config");
        let mut f = Fleet::new(&before, t0);
        let peer: SocketAddr = "10.0.0.6:4000".parse().expect("peer");
        f.conn_opened(1, peer, t0);
        let line = || {
            Ok(PushLine {
                reported: ReportedIp::V4(std::net::Ipv4Addr::new(10, 0, 0, 6)),
                code: 1,
            })
        };
        f.push_lines(1, peer, t0, line(), 1);
        assert_eq!(f.snapshot(t0).unlisted.len(), 1);
        let after = Config::parse(
            "[[node]]\nname = \"p\"\nhost = \"10.0.0.5\"\nmode = \"push\"\n\
             [[node]]\nname = \"q\"\nhost = \"10.0.0.6\"\nmode = \"push\"\n",
            "t.toml",
        )
        .expect("config");
        let (mut g, _) = f.reconcile(&after, t0);
        assert!(
            g.snapshot(t0).unlisted.is_empty(),
            "still unlisted after the reload"
        );
        // Its next line, on the same connection, is the new node's.
        g.push_lines(1, peer, t0, line(), 1);
        let snap = g.snapshot(t0);
        assert!(snap.unlisted.is_empty());
        assert_ne!(snap.nodes[1].status, Status::Pending, "the line reached q");
    }
}

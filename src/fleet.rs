//! Fleet state: one owner applies poll results and pushed lines and keeps per-node
//! status, history, sync groups, push connections and the recent transitions. No IO
//! and no locks; the dashboard and reports read it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::{Config, Mode, NodeConfig};
use crate::group::{self, GroupHealth, SyncGroup};
use crate::protocol::{InvalidLine, InvalidReply, PushLine, Reply, ReportedIp};
use crate::status::{Role, Status, StatusCounts, UnreachablePolicy, Verdict};
use crate::text;

/// Index of a node in [`Fleet::nodes`] (config order).
pub type NodeId = usize;

/// Results kept per node for the detail view.
pub const HISTORY_LEN: usize = 20;
/// Transitions kept for the events pane; the full history goes to the log.
pub const EVENTS_LEN: usize = 200;
/// Transition times kept per node for the flap count.
const FLAP_MEMORY: usize = 32;
/// Unlisted senders remembered at most; beyond that they are only counted.
pub const UNLISTED_CAP: usize = 1024;
/// Distinct peers remembered per push node, for conflict detection.
const PEERS_MEMORY: usize = 4;

/// Identifies one accepted push connection.
pub type ConnId = u64;

/// Which part of an exchange ran out of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Waiting for one of the `max_connecting` slots.
    Queue,
    Connect,
    Reply,
}

/// What one exchange with a node produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Reply(Reply),
    /// The connection failed; the text says how (already free of control bytes).
    Unreachable(String),
    Timeout {
        phase: TimeoutPhase,
        after: Duration,
    },
    Invalid(InvalidReply),
    /// A push node sent a line that is not a SyncGuard line.
    InvalidLine(InvalidLine),
    /// A push node has sent nothing for this long.
    Stale {
        silent_for: Duration,
    },
}

impl Outcome {
    pub fn status(&self) -> Status {
        match self {
            Outcome::Reply(r) => r.status(),
            Outcome::Unreachable(_) => Status::Unreachable,
            Outcome::Timeout { .. } => Status::Timeout,
            Outcome::Invalid(_) | Outcome::InvalidLine(_) => Status::Invalid,
            Outcome::Stale { .. } => Status::Stale,
        }
    }

    pub fn reply(&self) -> Option<&Reply> {
        match self {
            Outcome::Reply(r) => Some(r),
            _ => None,
        }
    }

    /// The error text for anything but a valid reply.
    pub fn error(&self) -> Option<String> {
        match self {
            Outcome::Reply(_) => None,
            _ => Some(self.to_string()),
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Outcome::Reply(r) => write!(f, "reply \"{r}\""),
            Outcome::Unreachable(why) => f.write_str(why),
            Outcome::Timeout { phase, after } => {
                let after = humantime::format_duration(*after);
                match phase {
                    TimeoutPhase::Queue => write!(
                        f,
                        "no connection slot within {after} (raise max_connecting)"
                    ),
                    TimeoutPhase::Connect => write!(f, "connect timed out after {after}"),
                    TimeoutPhase::Reply => write!(f, "no reply within {after}"),
                }
            }
            Outcome::Invalid(why) => write!(f, "{why}"),
            Outcome::InvalidLine(why) => write!(f, "{why}"),
            Outcome::Stale { silent_for } => {
                write!(f, "no line for {}", humantime::format_duration(*silent_for))
            }
        }
    }
}

/// One result, as kept in a node's history.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub at: SystemTime,
    pub outcome: Outcome,
    /// Time from the start of the exchange to the complete reply.
    pub latency: Option<Duration>,
}

/// A change of a node's status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub at: SystemTime,
    pub node: NodeId,
    pub from: Status,
    pub to: Status,
    /// The reply or error that caused it.
    pub cause: String,
    /// The valid reply that caused it, if it was one.
    pub reply: Option<Reply>,
}

/// Everything known about one node.
#[derive(Clone, Debug)]
pub struct NodeState {
    pub config: Arc<NodeConfig>,
    pub status: Status,
    /// When the node entered its current status (start-up for `pending`).
    pub since: SystemTime,
    pub last: Option<Observation>,
    /// When the node last gave a valid reply.
    pub last_reply_at: Option<SystemTime>,
    /// The most recent results, newest last, at most [`HISTORY_LEN`].
    pub history: VecDeque<Observation>,
    /// Whether the poller holds an open connection to the node.
    pub connected: bool,
    pub transitions: u64,
    recent_transitions: VecDeque<SystemTime>,
    /// Push nodes: when the last line (valid or not) arrived.
    pub last_line_at: Option<SystemTime>,
    /// Push nodes: the TCP peer of the last line, which may differ from the IP the
    /// node writes (NAT, several NICs).
    pub peer: Option<SocketAddr>,
    /// Push nodes: peers that sent lines for this node and when they last did.
    peers: Vec<(IpAddr, SystemTime)>,
    /// Flap damping: results so far that point the other way (healthy or not)
    /// than the shown status, and which way.
    pending_change: Option<(bool, u32)>,
}

impl NodeState {
    fn new(config: Arc<NodeConfig>, now: SystemTime) -> Self {
        NodeState {
            config,
            status: Status::Pending,
            since: now,
            last: None,
            last_reply_at: None,
            history: VecDeque::new(),
            connected: false,
            transitions: 0,
            recent_transitions: VecDeque::new(),
            last_line_at: None,
            peer: None,
            peers: Vec::new(),
            pending_change: None,
        }
    }

    /// Flap damping: whether a result with status `raw` changes the shown status.
    /// Crossing between healthy and unhealthy takes `confirm_unhealthy` or
    /// `confirm_healthy` consecutive results; the first answer, and a change from
    /// one unhealthy status to another, apply at once.
    fn confirm(&mut self, raw: Status) -> bool {
        if raw == self.status {
            self.pending_change = None;
            return false;
        }
        let to_healthy = raw.is_healthy();
        if self.status == Status::Pending || to_healthy == self.status.is_healthy() {
            self.pending_change = None;
            return true;
        }
        let needed = if to_healthy {
            self.config.confirm_healthy
        } else {
            self.config.confirm_unhealthy
        };
        let count = match self.pending_change {
            Some((way, n)) if way == to_healthy => n + 1,
            _ => 1,
        };
        if count >= needed {
            self.pending_change = None;
            true
        } else {
            self.pending_change = Some((to_healthy, count));
            false
        }
    }

    pub fn mode(&self) -> Mode {
        self.config.mode
    }

    /// Push nodes: the reported IP differs from the TCP peer (shown, still accepted).
    pub fn peer_differs(&self) -> bool {
        match (self.reported_ip(), self.peer) {
            (Some(ReportedIp::V4(ip)), Some(peer)) => IpAddr::V4(ip) != peer.ip().to_canonical(),
            _ => false,
        }
    }

    /// Push nodes: other peers that claimed this node's IP within `window` of `now`.
    /// More than one means two machines say they are this node.
    pub fn conflicting_peers(&self, now: SystemTime, window: Duration) -> Vec<IpAddr> {
        let recent: Vec<IpAddr> = self
            .peers
            .iter()
            .filter(|(_, t)| now.duration_since(*t).map(|d| d <= window).unwrap_or(true))
            .map(|(ip, _)| *ip)
            .collect();
        if recent.len() > 1 { recent } else { Vec::new() }
    }

    /// True when a second peer showed up for this node; returns whether this is new.
    fn note_peer(&mut self, peer: IpAddr, at: SystemTime, window: Duration) -> bool {
        let before = self.conflicting_peers(at, window).len() > 1;
        match self.peers.iter_mut().find(|(ip, _)| *ip == peer) {
            Some(entry) => entry.1 = at,
            None => {
                if self.peers.len() == PEERS_MEMORY {
                    // Forget the peer heard from longest ago.
                    if let Some(oldest) = self
                        .peers
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, (_, t))| *t)
                        .map(|(i, _)| i)
                    {
                        self.peers.swap_remove(oldest);
                    }
                }
                self.peers.push((peer, at));
            }
        }
        !before && self.conflicting_peers(at, window).len() > 1
    }

    pub fn name(&self) -> &str {
        &self.config.name
    }

    pub fn group(&self) -> Option<&str> {
        self.config.group.as_deref()
    }

    pub fn reply(&self) -> Option<&Reply> {
        self.last.as_ref().and_then(|o| o.outcome.reply())
    }

    pub fn role(&self) -> Option<Role> {
        self.reply().and_then(Reply::role)
    }

    pub fn code(&self) -> Option<u8> {
        self.reply().and_then(Reply::code)
    }

    pub fn reported_ip(&self) -> Option<ReportedIp> {
        self.reply().and_then(Reply::reported_ip)
    }

    pub fn latency(&self) -> Option<Duration> {
        self.last.as_ref().and_then(|o| o.latency)
    }

    pub fn error(&self) -> Option<String> {
        self.last.as_ref().and_then(|o| o.outcome.error())
    }

    /// Status changes within `window` before `now`.
    pub fn flap_count(&self, now: SystemTime, window: Duration) -> usize {
        self.recent_transitions
            .iter()
            .filter(|t| now.duration_since(**t).map(|d| d <= window).unwrap_or(true))
            .count()
    }
}

/// The whole fleet. Owned by one task; every result goes through [`Fleet::apply`].
#[derive(Clone, Debug)]
pub struct Fleet {
    pub nodes: Vec<NodeState>,
    pub policy: UnreachablePolicy,
    /// When watching began: a push node that never sent a line is silent since then.
    pub started: SystemTime,
    counts: StatusCounts,
    events: VecDeque<Transition>,
    groups: Vec<SyncGroup>,
    /// Index into `groups` per node.
    node_group: Vec<Option<usize>>,
    /// Open push connections, by id.
    pub connections: BTreeMap<ConnId, ConnInfo>,
    /// Senders not in the node list, by the IP they report (or their peer IP).
    pub unlisted: BTreeMap<IpAddr, UnlistedSender>,
    pub listen_stats: ListenStats,
    /// Push node ids by the IP they write, for attribution.
    push_ips: HashMap<IpAddr, NodeId>,
    /// How long two peers for one node must overlap to count as a conflict.
    conflict_window: Duration,
    /// More transitions than this within `flap_window` mark a node as flapping.
    pub flap_threshold: usize,
    pub flap_window: Duration,
}

/// One open push connection, for the connections view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    pub peer: SocketAddr,
    pub opened_at: SystemTime,
    pub lines: u64,
    pub invalid_lines: u32,
    /// The last line (valid, or why it was not); shown escaped.
    pub last_line: Option<Result<PushLine, InvalidLine>>,
    pub last_line_at: Option<SystemTime>,
    /// The node its last line was attributed to.
    pub node: Option<NodeId>,
}

impl ConnInfo {
    /// The last line as shown in the connections view.
    pub fn last_line_text(&self) -> String {
        match &self.last_line {
            None => String::new(),
            Some(Ok(l)) => l.reply().to_string(),
            Some(Err(e)) => e.to_string(),
        }
    }
}

/// A sender whose lines match no push node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnlistedSender {
    pub reported_ip: ReportedIp,
    pub peer: SocketAddr,
    pub status: Status,
    pub code: Option<u8>,
    pub last_seen: SystemTime,
    pub lines: u64,
}

impl UnlistedSender {
    pub fn role(&self) -> Option<Role> {
        self.code.map(Role::from_code)
    }
}

/// Counters of the push receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenStats {
    pub accepted: u64,
    pub lines: u64,
    pub invalid_lines: u64,
    /// Closed at once: over `max_connections`.
    pub rejected_full: u64,
    /// Closed: unlisted sender with `allow_unlisted = false`.
    pub rejected_unlisted: u64,
    /// Closed: peer outside `allow_from`.
    pub rejected_address: u64,
    /// Closed for abuse: too many invalid lines, an overlong line, or idle.
    pub closed_abuse: u64,
    /// Unlisted senders not remembered because [`UNLISTED_CAP`] was reached.
    pub unlisted_dropped: u64,
}

/// Why the receiver closed a connection. (Connections refused at accept are only
/// counted: see [`crate::listen::Refusals`].)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed it.
    Peer,
    /// An unlisted sender while `allow_unlisted = false`.
    Unlisted(IpAddr),
    /// Abuse: invalid lines, an overlong line, or no complete line for too long.
    Abuse(String),
    /// A read error (reset and the like).
    Error(String),
    /// The monitor is stopping.
    Shutdown,
}

impl Fleet {
    pub fn new(config: &Config, now: SystemTime) -> Fleet {
        let nodes: Vec<NodeState> = config
            .nodes
            .iter()
            .map(|n| NodeState::new(Arc::new(n.clone()), now))
            .collect();
        let mut counts = StatusCounts::default();
        for _ in &nodes {
            counts.add(Status::Pending);
        }
        let mut by_name: BTreeMap<&str, Vec<NodeId>> = BTreeMap::new();
        for (id, n) in config.nodes.iter().enumerate() {
            if let Some(g) = &n.group {
                by_name.entry(g.as_str()).or_default().push(id);
            }
        }
        let mut node_group = vec![None; nodes.len()];
        let groups: Vec<SyncGroup> = by_name
            .into_iter()
            .enumerate()
            .map(|(gi, (name, members))| {
                for m in &members {
                    node_group[*m] = Some(gi);
                }
                SyncGroup {
                    name: name.to_owned(),
                    members,
                    masters: 0,
                    has_roles: false,
                    health: GroupHealth::Pending,
                }
            })
            .collect();
        let push_ips = config.push_directory();
        Fleet {
            nodes,
            policy: config.defaults.unreachable,
            started: now,
            counts,
            events: VecDeque::new(),
            groups,
            node_group,
            connections: BTreeMap::new(),
            unlisted: BTreeMap::new(),
            listen_stats: ListenStats::default(),
            push_ips,
            flap_threshold: config.flap_threshold,
            flap_window: config.flap_window,
            conflict_window: config
                .listen
                .as_ref()
                .map(|l| l.stale_after)
                .unwrap_or(Duration::from_secs(30)),
        }
    }

    /// The fleet for a reloaded config. Nodes whose config did not change (same
    /// name, same settings) keep their state and history; changed and added nodes
    /// start pending; removed nodes are gone. Returns the new fleet and, per new
    /// node id, the old id of a kept node.
    pub fn reconcile(self, config: &Config, now: SystemTime) -> (Fleet, Vec<Option<NodeId>>) {
        let mut new = Fleet::new(config, now);
        new.started = self.started;
        let old_ids: HashMap<&str, NodeId> = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.name(), i))
            .collect();
        let mut kept = vec![None; config.nodes.len()];
        for (new_id, cfg) in config.nodes.iter().enumerate() {
            if let Some(&old_id) = old_ids.get(cfg.name.as_str()) {
                if *self.nodes[old_id].config == *cfg {
                    kept[new_id] = Some(old_id);
                }
            }
        }
        let mut old_to_new = vec![None; self.nodes.len()];
        for (new_id, old) in kept.iter().enumerate() {
            if let Some(old) = old {
                old_to_new[*old] = Some(new_id);
            }
        }
        let Fleet {
            nodes,
            events,
            connections,
            unlisted,
            listen_stats,
            ..
        } = self;
        let mut counts = StatusCounts::default();
        for (old_id, state) in nodes.into_iter().enumerate() {
            if let Some(new_id) = old_to_new[old_id] {
                new.nodes[new_id] = state;
            }
        }
        for n in &new.nodes {
            counts.add(n.status);
        }
        new.counts = counts;
        new.events = events
            .into_iter()
            .filter_map(|mut t| {
                t.node = old_to_new.get(t.node).copied().flatten()?;
                Some(t)
            })
            .collect();
        new.connections = connections
            .into_iter()
            .map(|(id, mut c)| {
                c.node = c.node.and_then(|n| old_to_new.get(n).copied().flatten());
                (id, c)
            })
            .collect();
        new.unlisted = unlisted;
        new.listen_stats = listen_stats;
        for gi in 0..new.groups.len() {
            if let Some(first) = new.groups[gi].members.first().copied() {
                new.refresh_group(first);
            }
        }
        (new, kept)
    }

    /// The push node that writes `ip` in its lines.
    pub fn push_node_for(&self, ip: IpAddr) -> Option<NodeId> {
        self.push_ips.get(&ip.to_canonical()).copied()
    }

    /// The push node a line belongs to: by the IP inside it, or by the peer
    /// address for `unknown_state<d>`.
    pub fn attribute(&self, reported: ReportedIp, peer: SocketAddr) -> Option<NodeId> {
        match reported {
            ReportedIp::V4(ip) => self.push_node_for(IpAddr::V4(ip)),
            ReportedIp::Unknown => self.push_node_for(peer.ip()),
        }
    }

    /// How long two peers for one push node must overlap to count as a conflict.
    pub fn conflict_window(&self) -> Duration {
        self.conflict_window
    }

    pub fn groups(&self) -> &[SyncGroup] {
        &self.groups
    }

    fn refresh_group(&mut self, id: NodeId) {
        let Some(Some(gi)) = self.node_group.get(id) else {
            return;
        };
        let gi = *gi;
        let members: Vec<group::Member> = self.groups[gi]
            .members
            .iter()
            .map(|m| {
                let n = &self.nodes[*m];
                group::Member {
                    name: n.name(),
                    status: n.status,
                    role: n.role(),
                }
            })
            .collect();
        let (masters, has_roles, health) = group::evaluate(&members);
        let g = &mut self.groups[gi];
        g.masters = masters;
        g.has_roles = has_roles;
        g.health = health;
    }

    /// The push node a line from `conn` belongs to, if any.
    pub fn line_target(
        &self,
        conn: ConnId,
        peer: SocketAddr,
        line: &Result<PushLine, InvalidLine>,
    ) -> Option<NodeId> {
        match line {
            Ok(l) => self.attribute(l.reported, peer),
            // An invalid line belongs to whoever this connection spoke for before,
            // else to the node whose IP the peer has.
            Err(_) => self
                .connections
                .get(&conn)
                .and_then(|c| c.node)
                .or_else(|| self.push_node_for(peer.ip())),
        }
    }

    /// A push connection was accepted.
    pub fn conn_opened(&mut self, conn: ConnId, peer: SocketAddr, at: SystemTime) {
        self.listen_stats.accepted += 1;
        self.connections.insert(
            conn,
            ConnInfo {
                peer,
                opened_at: at,
                lines: 0,
                invalid_lines: 0,
                last_line: None,
                last_line_at: None,
                node: None,
            },
        );
    }

    /// A push connection ended. Returns the node it fed, if that node now has no
    /// open connection left.
    pub fn conn_closed(&mut self, conn: ConnId, reason: &CloseReason) -> Option<NodeId> {
        self.count_close(reason);
        let info = self.connections.remove(&conn)?;
        let node = info.node?;
        let still_open = self.connections.values().any(|c| c.node == Some(node));
        if still_open {
            return None;
        }
        if let Some(n) = self.nodes.get_mut(node) {
            n.connected = false;
        }
        Some(node)
    }

    /// The receiver's counts of connections refused at accept.
    pub fn set_refusals(&mut self, r: crate::listen::Refusals) {
        self.listen_stats.rejected_full = r.full;
        self.listen_stats.rejected_address = r.not_allowed;
    }

    /// Counts a connection closed for `reason`.
    fn count_close(&mut self, reason: &CloseReason) {
        match reason {
            CloseReason::Unlisted(_) => self.listen_stats.rejected_unlisted += 1,
            CloseReason::Abuse(_) => self.listen_stats.closed_abuse += 1,
            CloseReason::Peer | CloseReason::Error(_) | CloseReason::Shutdown => {}
        }
    }

    /// One line from push connection `conn`. Attributes it, updates the node (or the
    /// unlisted list) and the connection, and returns the node's transition if any.
    /// The second value is true when the line made a new conflict (two peers
    /// claiming one node).
    pub fn push_line(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        at: SystemTime,
        line: Result<PushLine, InvalidLine>,
    ) -> (Option<Transition>, bool) {
        self.push_lines(conn, peer, at, line, 1)
    }

    /// [`Fleet::push_line`] for `count` identical lines from one read.
    pub fn push_lines(
        &mut self,
        conn: ConnId,
        peer: SocketAddr,
        at: SystemTime,
        line: Result<PushLine, InvalidLine>,
        count: u32,
    ) -> (Option<Transition>, bool) {
        self.listen_stats.lines += u64::from(count);
        let node = self.line_target(conn, peer, &line);
        if let Some(c) = self.connections.get_mut(&conn) {
            c.lines += u64::from(count);
            c.last_line_at = Some(at);
            // Kept as parsed, not as text: no allocation per line.
            c.last_line = Some(line.clone());
            if line.is_err() {
                c.invalid_lines = c.invalid_lines.saturating_add(count);
            }
            if node.is_some() {
                c.node = node;
            }
        }
        if line.is_err() {
            self.listen_stats.invalid_lines += u64::from(count);
        }
        let Some(id) = node else {
            if let Ok(l) = line {
                self.note_unlisted(l, peer, at, count);
            }
            return (None, false);
        };
        let window = self.conflict_window;
        let new_conflict = match self.nodes.get_mut(id) {
            Some(n) => {
                n.last_line_at = Some(at);
                n.peer = Some(peer);
                n.note_peer(peer.ip().to_canonical(), at, window)
            }
            None => false,
        };
        let outcome = match line {
            Ok(l) => Outcome::Reply(l.reply()),
            Err(e) => Outcome::InvalidLine(e),
        };
        let obs = Observation {
            at,
            outcome,
            latency: None,
        };
        (self.apply(id, obs, true), new_conflict)
    }

    fn note_unlisted(&mut self, line: PushLine, peer: SocketAddr, at: SystemTime, count: u32) {
        let key = match line.reported {
            ReportedIp::V4(ip) => IpAddr::V4(ip),
            ReportedIp::Unknown => peer.ip().to_canonical(),
        };
        let status = line.reply().status();
        if let Some(u) = self.unlisted.get_mut(&key) {
            u.peer = peer;
            u.status = status;
            u.code = Some(line.code);
            u.last_seen = at;
            u.lines += u64::from(count);
            return;
        }
        if self.unlisted.len() >= UNLISTED_CAP {
            self.listen_stats.unlisted_dropped += 1;
            return;
        }
        self.unlisted.insert(
            key,
            UnlistedSender {
                reported_ip: line.reported,
                peer,
                status,
                code: Some(line.code),
                last_seen: at,
                lines: u64::from(count),
            },
        );
    }

    /// For `--once`: every push node that has not sent a line yet is `stale`.
    pub fn mark_unheard_stale(&mut self, now: SystemTime) {
        for id in 0..self.nodes.len() {
            let n = &self.nodes[id];
            if n.mode() != Mode::Push || n.status != Status::Pending {
                continue;
            }
            let silent_for = now.duration_since(self.started).unwrap_or_default();
            let obs = Observation {
                at: now,
                outcome: Outcome::Stale {
                    silent_for: Duration::from_secs(silent_for.as_secs()),
                },
                latency: None,
            };
            self.apply(id, obs, false);
        }
    }

    /// Marks push nodes `stale` that have sent nothing for their `stale_after`
    /// (counted from start-up for a node that never sent). Returns the transitions.
    pub fn check_stale(&mut self, now: SystemTime) -> Vec<Transition> {
        let mut out = Vec::new();
        for id in 0..self.nodes.len() {
            let n = &self.nodes[id];
            if n.mode() != Mode::Push || n.status == Status::Stale {
                continue;
            }
            // A node that never sent counts its silence from when it appeared:
            // start-up, or the reload that added it.
            let heard = n.last_line_at.unwrap_or(n.since);
            let silent_for = now.duration_since(heard).unwrap_or_default();
            if silent_for < n.config.stale_after {
                continue;
            }
            let obs = Observation {
                at: now,
                outcome: Outcome::Stale {
                    silent_for: Duration::from_secs(silent_for.as_secs()),
                },
                latency: None,
            };
            let connected = n.connected;
            if let Some(t) = self.apply(id, obs, connected) {
                out.push(t);
            }
        }
        out
    }

    /// Records a result. Returns the transition when the status changed.
    pub fn apply(&mut self, id: NodeId, obs: Observation, connected: bool) -> Option<Transition> {
        let node = self.nodes.get_mut(id)?;
        let to = obs.outcome.status();
        let from = node.status;
        let role_before = node.role();
        node.connected = connected;
        if obs.outcome.reply().is_some() {
            node.last_reply_at = Some(obs.at);
        }
        let at = obs.at;
        if node.history.len() == HISTORY_LEN {
            node.history.pop_front();
        }
        node.history.push_back(obs.clone());
        node.last = Some(obs);
        let shown_changes = node.confirm(to);
        let transition = shown_changes.then(|| Transition {
            at,
            node: id,
            from,
            to,
            cause: node
                .last
                .as_ref()
                .map(|o| o.outcome.to_string())
                .unwrap_or_default(),
            reply: node.reply().copied(),
        });
        let role_changed = node.role() != role_before;
        if transition.is_none() {
            // While damping holds a change back, the group keeps judging the node
            // by what is shown; a one-result blip of a Master is not "no master".
            if role_changed && node.pending_change.is_none() {
                self.refresh_group(id);
            }
            return None;
        }
        let t = transition?;
        node.status = to;
        node.since = t.at;
        self.counts.remove(from);
        self.counts.add(to);
        if from != Status::Pending {
            node.transitions += 1;
            if node.recent_transitions.len() == FLAP_MEMORY {
                node.recent_transitions.pop_front();
            }
            node.recent_transitions.push_back(t.at);
        }
        // The first answer of a healthy node is not news; a first answer that is bad is.
        if from != Status::Pending || to.is_problem() {
            if self.events.len() == EVENTS_LEN {
                self.events.pop_front();
            }
            self.events.push_back(t.clone());
        }
        self.refresh_group(id);
        Some(t)
    }

    pub fn counts(&self) -> &StatusCounts {
        &self.counts
    }

    /// The overall verdict: the status rule, raised to CRITICAL by a sync group
    /// without exactly one Master.
    pub fn verdict(&self) -> Verdict {
        let v = Verdict::for_counts(&self.counts, self.policy);
        // Unhealthy members are graded by the node rules (and the `unreachable`
        // policy); a group adds only what no single node shows: a wrong master count.
        let bad_group = self.groups.iter().any(|g| {
            matches!(g.health, GroupHealth::Unhealthy(_)) && g.has_roles && g.masters != 1
        });
        if bad_group {
            v.max(Verdict::Critical)
        } else {
            v
        }
    }

    /// Whether a node changed status more than `flap_threshold` times within
    /// `flap_window` before `now`.
    pub fn is_flapping(&self, id: NodeId, now: SystemTime) -> bool {
        self.node(id)
            .is_some_and(|n| n.flap_count(now, self.flap_window) > self.flap_threshold)
    }

    /// The node's name, escaped for display.
    pub fn display_name(&self, id: NodeId) -> String {
        self.node(id)
            .map(|n| text::escape_str(n.name()))
            .unwrap_or_default()
    }

    /// Recent transitions, newest first.
    pub fn events(&self) -> impl Iterator<Item = &Transition> {
        self.events.iter().rev()
    }

    pub fn node(&self, id: NodeId) -> Option<&NodeState> {
        self.nodes.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn apply_tracks_status_counts_and_transitions() {
        let mut f = fleet(2);
        assert_eq!(f.counts().get(Status::Pending), 2);
        let t = f.apply(0, obs(1, Outcome::Reply(Reply::Synced)), true);
        assert_eq!(
            t.map(|t| (t.from, t.to)),
            Some((Status::Pending, Status::Synced))
        );
        // A healthy first answer is not an event.
        assert_eq!(f.events().count(), 0);
        assert!(
            f.apply(0, obs(2, Outcome::Reply(Reply::Synced)), true)
                .is_none()
        );
        let t = f
            .apply(0, obs(3, Outcome::Reply(Reply::Free)), true)
            .expect("transition");
        assert_eq!((t.from, t.to), (Status::Synced, Status::Free));
        assert_eq!(t.cause, "reply \"Free\"");
        assert_eq!(
            f.nodes[0].since,
            SystemTime::UNIX_EPOCH + Duration::from_secs(3)
        );
        assert_eq!(f.nodes[0].transitions, 1);
        assert_eq!(f.counts().get(Status::Free), 1);
        assert_eq!(f.counts().get(Status::Pending), 1);
        assert_eq!(f.verdict(), Verdict::Critical);
        let ev: Vec<_> = f.events().map(|e| (e.node, e.from, e.to)).collect();
        assert_eq!(ev, vec![(0, Status::Synced, Status::Free)]);
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
        assert!(f.apply(0, obs(1, ok()), true).is_some());
        // Two bad results, then a good one: the count starts again.
        assert!(f.apply(0, obs(2, bad()), true).is_none());
        assert!(f.apply(0, obs(3, bad()), true).is_none());
        assert!(f.apply(0, obs(4, ok()), true).is_none());
        assert!(f.apply(0, obs(5, bad()), true).is_none());
        assert!(f.apply(0, obs(6, bad()), true).is_none());
        assert_eq!(f.nodes[0].status, Status::Synced);
        let t = f
            .apply(0, obs(7, bad()), true)
            .expect("third bad result in a row");
        assert_eq!((t.from, t.to), (Status::Synced, Status::Free));
        // Unhealthy to another unhealthy status is shown at once.
        let timeout = Outcome::Timeout {
            phase: TimeoutPhase::Reply,
            after: Duration::from_secs(5),
        };
        assert!(f.apply(0, obs(8, timeout), false).is_some());
        // Two good results to recover.
        assert!(f.apply(0, obs(9, ok()), true).is_none());
        assert!(f.apply(0, obs(10, ok()), true).is_some());
        // Every raw result is in the history.
        assert_eq!(f.nodes[0].history.len(), 10);
        assert_eq!(f.nodes[0].transitions, 3);
    }

    #[test]
    fn flapping_is_more_than_the_threshold_within_the_window() {
        let cfg = Config::parse(
            "[dashboard]\nflap_threshold = 2\nflap_window = \"1m\"\n[[node]]\nname = \"n\"\nhost = \"h\"\n",
            "t.toml",
        )
        .expect("config");
        let mut f = Fleet::new(&cfg, SystemTime::UNIX_EPOCH);
        f.apply(0, obs(0, Outcome::Reply(Reply::Synced)), true);
        for i in 1..=3 {
            let o = if i % 2 == 1 {
                Reply::Free
            } else {
                Reply::Synced
            };
            f.apply(0, obs(i * 10, Outcome::Reply(o)), true);
        }
        let at = |s| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        assert!(f.is_flapping(0, at(35)), "3 transitions in a minute > 2");
        assert!(!f.is_flapping(0, at(85)), "only one left in the window");
    }

    #[test]
    fn reconcile_keeps_unchanged_nodes_and_their_history() {
        let before = Config::parse(
            "[[node]]\nname = \"a\"\nhost = \"h1\"\n[[node]]\nname = \"b\"\nhost = \"h2\"\n[[node]]\nname = \"c\"\nhost = \"h3\"\n",
            "t.toml",
        )
        .expect("config");
        let mut f = Fleet::new(&before, SystemTime::UNIX_EPOCH);
        f.apply(0, obs(1, Outcome::Reply(Reply::Synced)), true);
        f.apply(0, obs(2, Outcome::Reply(Reply::Free)), true);
        f.apply(1, obs(1, Outcome::Reply(Reply::Synced)), true);
        f.apply(2, obs(1, Outcome::Reply(Reply::Free)), true);
        // b changes port, c is removed, d is added, a moves to the end unchanged.
        let after = Config::parse(
            "[[node]]\nname = \"d\"\nhost = \"h4\"\n[[node]]\nname = \"b\"\nhost = \"h2\"\nport = 9\n[[node]]\nname = \"a\"\nhost = \"h1\"\n",
            "t.toml",
        )
        .expect("config");
        let (g, kept) = f.reconcile(&after, SystemTime::UNIX_EPOCH + Duration::from_secs(3));
        assert_eq!(kept, vec![None, None, Some(0)]);
        assert_eq!(g.nodes[2].name(), "a");
        assert_eq!(g.nodes[2].status, Status::Free);
        assert_eq!(g.nodes[2].history.len(), 2, "history kept");
        assert_eq!(g.nodes[1].status, Status::Pending, "changed node restarts");
        assert_eq!(g.nodes[0].status, Status::Pending);
        assert_eq!(g.counts().get(Status::Free), 1);
        assert_eq!(g.counts().get(Status::Pending), 2);
        // Events of kept nodes follow them; those of removed nodes are gone.
        let ev: Vec<_> = g.events().map(|t| (t.node, t.to)).collect();
        assert_eq!(ev, vec![(2, Status::Free)]);
    }

    #[test]
    fn history_is_bounded_and_newest_last() {
        let mut f = fleet(1);
        for i in 0..50 {
            f.apply(0, obs(i, Outcome::Reply(Reply::Synced)), true);
        }
        let h = &f.nodes[0].history;
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(
            h.back().map(|o| o.at),
            Some(SystemTime::UNIX_EPOCH + Duration::from_secs(49))
        );
    }

    #[test]
    fn flap_count_only_counts_the_window() {
        let mut f = fleet(1);
        f.apply(0, obs(0, Outcome::Reply(Reply::Synced)), true);
        for i in 1..=6 {
            let o = if i % 2 == 1 {
                Reply::Free
            } else {
                Reply::Synced
            };
            f.apply(0, obs(i * 60, Outcome::Reply(o)), true);
        }
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(6 * 60);
        assert_eq!(f.nodes[0].flap_count(now, Duration::from_secs(600)), 6);
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(6 * 60 + 9 * 60 + 30);
        // Transitions at 1..=6 minutes; the window reaches back to 5.5 minutes.
        assert_eq!(f.nodes[0].flap_count(later, Duration::from_secs(600)), 1);
    }

    #[test]
    fn error_text_for_each_outcome() {
        let t = Outcome::Timeout {
            phase: TimeoutPhase::Reply,
            after: Duration::from_secs(5),
        };
        assert_eq!(t.error().as_deref(), Some("no reply within 5s"));
        assert_eq!(t.status(), Status::Timeout);
        let u = Outcome::Unreachable("connection refused".into());
        assert_eq!(u.status(), Status::Unreachable);
        assert_eq!(Outcome::Reply(Reply::Synced).error(), None);
    }
}

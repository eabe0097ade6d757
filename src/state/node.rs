//! One node's state: what is shown ([`NodeView`], which snapshots copy) and what only
//! the owner needs (recent results, the damper, flap times, peers).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::{Mode, NodeConfig};
use crate::model::{NodeKey, Observation, Role, Status};
use crate::protocol::{Reply, ReportedIp};

use super::damping::Damper;
use super::latency::LatencyHistogram;

/// Results kept per node for the detail view.
pub const HISTORY_LEN: usize = 20;
/// Transition times kept per node for the flap count.
const FLAP_MEMORY: usize = 32;
/// Distinct peers remembered per push node, for conflict detection.
const PEERS_MEMORY: usize = 4;

/// What is shown of a node: the row of the table, the JSON node, the metrics series.
#[derive(Clone, Debug)]
pub struct NodeView {
    pub key: NodeKey,
    pub config: Arc<NodeConfig>,
    pub group: Option<Arc<str>>,
    pub status: Status,
    /// When the node entered its current status (start-up for `pending`).
    pub since: SystemTime,
    pub last: Option<Observation>,
    /// When the node last gave a valid reply.
    pub last_reply_at: Option<SystemTime>,
    /// Whether the poller holds an open connection (push: a connection is open).
    pub connected: bool,
    pub transitions: u64,
    /// Push nodes: when the last line (valid or not) arrived.
    pub last_line_at: Option<SystemTime>,
    /// Push nodes: the TCP peer of the last line, which may differ from the IP the
    /// node writes (NAT, several NICs).
    pub peer: Option<SocketAddr>,
    /// Push nodes: connections from this node's address that closed without a line
    /// since its last line (the V3 sender's "external send" bug).
    pub silent_connects: u32,
    /// Set when a snapshot is taken: changed status more than `flap_threshold` times
    /// within `flap_window`.
    pub flapping: bool,
    /// Set when a snapshot is taken: status changes within `flap_window`.
    pub flaps: usize,
    /// Set when a snapshot is taken: peers that claimed this node's IP lately, when
    /// more than one did.
    pub conflicting_peers: Vec<IpAddr>,
    /// `[metrics] per_node_histograms`: this node's latency histogram.
    pub latency_histogram: Option<Box<LatencyHistogram>>,
    /// The `[[maintenance]]` window the node is in now, by name.
    pub maintenance: Option<Arc<str>>,
    /// The acknowledgement that covers the node now: its own, or its group's.
    pub ack: Option<Arc<crate::model::Ack>>,
}

/// How many silent connections in a row name the sender bug.
pub const SILENT_CONNECTS_NOTE: u32 = 3;

impl NodeView {
    pub fn name(&self) -> &str {
        self.key.as_str()
    }

    pub fn group(&self) -> Option<&str> {
        self.group.as_deref()
    }

    pub fn mode(&self) -> Mode {
        self.config.mode
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

    /// Push nodes: the reported IP differs from the TCP peer (shown, still accepted).
    pub fn peer_differs(&self) -> bool {
        match (self.reported_ip(), self.peer) {
            (Some(ReportedIp::V4(ip)), Some(peer)) => IpAddr::V4(ip) != peer.ip().to_canonical(),
            _ => false,
        }
    }

    /// A push node whose sender keeps connecting and closing without a line.
    pub fn connects_silently(&self) -> bool {
        self.silent_connects >= SILENT_CONNECTS_NOTE
    }
    /// Unhealthy, and nobody has said they know: what should ring an alarm.
    pub fn is_alarming(&self) -> bool {
        self.status.is_problem() && self.maintenance.is_none() && self.ack.is_none()
    }
}

/// Everything the owner knows about one node.
#[derive(Clone, Debug)]
pub struct NodeState {
    pub view: NodeView,
    /// The most recent results, newest last, at most [`HISTORY_LEN`].
    pub history: VecDeque<Observation>,
    pub(super) damper: Damper,
    recent_transitions: VecDeque<SystemTime>,
    /// Push nodes: peers that sent lines for this node and when they last did.
    peers: Vec<(IpAddr, SystemTime)>,
    /// The status and "since" recorded before a restart, until the first result.
    pub(super) resume: Option<(Status, SystemTime)>,
}

impl NodeState {
    pub fn new(config: Arc<NodeConfig>, now: SystemTime, histogram: bool) -> Self {
        NodeState {
            view: NodeView {
                key: NodeKey::new(&config.name),
                group: config.group.as_deref().map(Arc::from),
                config,
                status: Status::Pending,
                since: now,
                last: None,
                last_reply_at: None,
                connected: false,
                transitions: 0,
                last_line_at: None,
                peer: None,
                silent_connects: 0,
                flapping: false,
                flaps: 0,
                conflicting_peers: Vec::new(),
                latency_histogram: histogram.then(Box::default),
                maintenance: None,
                ack: None,
            },
            history: VecDeque::with_capacity(HISTORY_LEN),
            damper: Damper::unset(),
            recent_transitions: VecDeque::new(),
            peers: Vec::new(),
            resume: None,
        }
    }

    /// Keeps one raw result; the oldest falls out.
    pub(super) fn remember(&mut self, obs: &Observation) {
        if self.history.len() == HISTORY_LEN {
            self.history.pop_front();
        }
        self.history.push_back(obs.clone());
    }

    pub(super) fn note_transition(&mut self, at: SystemTime) {
        self.view.transitions += 1;
        if self.recent_transitions.len() == FLAP_MEMORY {
            self.recent_transitions.pop_front();
        }
        self.recent_transitions.push_back(at);
    }

    /// Status changes within `window` before `now`.
    pub fn flap_count(&self, now: SystemTime, window: Duration) -> usize {
        self.recent_transitions
            .iter()
            .filter(|t| now.duration_since(**t).map(|d| d <= window).unwrap_or(true))
            .count()
    }

    /// Push nodes: other peers that claimed this node's IP within `window` of `now`.
    /// More than one means two machines say they are this node.
    pub fn conflicting_peers(&self, now: SystemTime, window: Duration) -> Vec<IpAddr> {
        let recent = self
            .peers
            .iter()
            .filter(|(_, t)| now.duration_since(*t).map(|d| d <= window).unwrap_or(true));
        if recent.clone().count() > 1 {
            recent.map(|(ip, _)| *ip).collect()
        } else {
            Vec::new()
        }
    }

    /// Records the peer of a line; true when this makes a new conflict.
    pub(super) fn note_peer(&mut self, peer: IpAddr, at: SystemTime, window: Duration) -> bool {
        // The usual case, a node heard from its one known address, on every line.
        if let [(only, seen)] = self.peers.as_mut_slice()
            && *only == peer
        {
            *seen = at;
            return false;
        }
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
}

//! Fleet state: one owner applies poll results and keeps per-node status, history and
//! the recent transitions. No IO and no locks; the dashboard and reports read it.

use std::collections::VecDeque;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::config::{Config, NodeConfig};
use crate::protocol::{InvalidReply, Reply, ReportedIp};
use crate::status::{Role, Status, StatusCounts, UnreachablePolicy, Verdict};

/// Index of a node in [`Fleet::nodes`] (config order).
pub type NodeId = usize;

/// Results kept per node for the detail view.
pub const HISTORY_LEN: usize = 20;
/// Transitions kept for the events pane; the full history goes to the log.
pub const EVENTS_LEN: usize = 200;
/// Window over which transitions count towards the flap count.
pub const FLAP_WINDOW: Duration = Duration::from_secs(10 * 60);
/// Transition times kept per node for the flap count.
const FLAP_MEMORY: usize = 32;

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
}

impl Outcome {
    pub fn status(&self) -> Status {
        match self {
            Outcome::Reply(r) => r.status(),
            Outcome::Unreachable(_) => Status::Unreachable,
            Outcome::Timeout { .. } => Status::Timeout,
            Outcome::Invalid(_) => Status::Invalid,
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
        }
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

    /// Status changes within [`FLAP_WINDOW`] before `now`.
    pub fn flap_count(&self, now: SystemTime) -> usize {
        self.recent_transitions
            .iter()
            .filter(|t| {
                now.duration_since(**t)
                    .map(|d| d <= FLAP_WINDOW)
                    .unwrap_or(true)
            })
            .count()
    }
}

/// The whole fleet. Owned by one task; every result goes through [`Fleet::apply`].
#[derive(Clone, Debug)]
pub struct Fleet {
    pub nodes: Vec<NodeState>,
    pub policy: UnreachablePolicy,
    counts: StatusCounts,
    events: VecDeque<Transition>,
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
        Fleet {
            nodes,
            policy: config.defaults.unreachable,
            counts,
            events: VecDeque::new(),
        }
    }

    /// Records a result. Returns the transition when the status changed.
    pub fn apply(&mut self, id: NodeId, obs: Observation, connected: bool) -> Option<Transition> {
        let node = self.nodes.get_mut(id)?;
        let to = obs.outcome.status();
        let from = node.status;
        node.connected = connected;
        if obs.outcome.reply().is_some() {
            node.last_reply_at = Some(obs.at);
        }
        let transition = (from != to).then(|| Transition {
            at: obs.at,
            node: id,
            from,
            to,
            cause: obs.outcome.to_string(),
        });
        if node.history.len() == HISTORY_LEN {
            node.history.pop_front();
        }
        node.history.push_back(obs.clone());
        node.last = Some(obs);
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
        Some(t)
    }

    pub fn counts(&self) -> &StatusCounts {
        &self.counts
    }

    pub fn verdict(&self) -> Verdict {
        Verdict::for_counts(&self.counts, self.policy)
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
        assert_eq!(f.nodes[0].flap_count(now), 6);
        let later = SystemTime::UNIX_EPOCH + Duration::from_secs(6 * 60 + 9 * 60 + 30);
        // Transitions at 1..=6 minutes; the window reaches back to 5.5 minutes.
        assert_eq!(f.nodes[0].flap_count(later), 1);
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

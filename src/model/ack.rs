//! Acknowledgements: "I know, stop telling me". An ack silences people about a
//! node or a whole sync group; it never makes anything healthy. It ends when what
//! it covers is healthy again, when its time runs out, when someone removes it, or
//! when the problem gets worse than what was acknowledged (which is news again).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::{GroupStatus, NodeKey, Status};

/// How long an ack lasts when nobody says.
pub const DEFAULT_FOR: Duration = Duration::from_secs(24 * 3600);
/// The longest an ack may be asked for: past this, a maintenance window is the
/// tool, and a forgotten ack does not hide a wall for a year.
pub const MAX_FOR: Duration = Duration::from_secs(30 * 24 * 3600);
/// The longest reason, in characters.
pub const MAX_REASON: usize = 500;
/// The longest "by", in characters.
pub const MAX_BY: usize = 100;

/// What is acknowledged: a node by name, or a sync group (`@wall-B`).
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Target {
    Node(String),
    Group(String),
}

impl Target {
    /// `NAME` is a node, `@NAME` a sync group.
    pub fn parse(text: &str) -> Result<Target, String> {
        let text = text.trim();
        match text.strip_prefix('@') {
            Some("") => Err("a group needs a name after '@'".into()),
            Some(g) => Ok(Target::Group(g.to_owned())),
            None if text.is_empty() => Err("name a node, or a group as @GROUP".into()),
            None => Ok(Target::Node(text.to_owned())),
        }
    }

    pub fn name(&self) -> &str {
        match self {
            Target::Node(n) | Target::Group(n) => n,
        }
    }

    pub fn is_group(&self) -> bool {
        matches!(self, Target::Group(_))
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Node(n) => f.write_str(n),
            Target::Group(g) => write!(f, "@{g}"),
        }
    }
}

/// One acknowledgement in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ack {
    /// A short unique id: names the ack in the store and in Alertmanager silences.
    pub id: String,
    pub target: Target,
    /// Who: the API token's name (with the user the client named), or the OS user
    /// at the dashboard.
    pub by: String,
    pub reason: String,
    pub at: SystemTime,
    pub until: SystemTime,
    /// What was acknowledged, so something worse is news again.
    pub baseline: Baseline,
}

/// The problem an ack was given for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Baseline {
    /// A node's status when acknowledged.
    Node(Status),
    /// A group's status when acknowledged, and each member that was unhealthy
    /// then, with its status: those members are covered too, as long as they
    /// get no worse.
    Group {
        status: Option<GroupStatus>,
        members: Vec<(NodeKey, Status)>,
    },
}

impl Ack {
    /// Whether this ack covers a node in `status`: its own ack, or its group's
    /// when the node was unhealthy at the time and is no worse now.
    pub fn covers(&self, node: &NodeKey, status: Status) -> bool {
        match &self.baseline {
            Baseline::Node(acked) => status.is_problem() && severity(status) <= severity(*acked),
            Baseline::Group { members, .. } => {
                status.is_problem()
                    && members
                        .iter()
                        .any(|(k, s)| k == node && severity(status) <= severity(*s))
            }
        }
    }
}

/// Why an ack ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AckEnd {
    /// What it covered is healthy again.
    Recovered,
    /// Its time ran out.
    Expired,
    /// Someone removed it.
    Removed,
    /// The status got worse than what was acknowledged.
    Worse,
    /// The node or group left the config.
    Gone,
    /// A new ack for the same target replaced it.
    Replaced,
}

impl AckEnd {
    pub fn as_str(self) -> &'static str {
        match self {
            AckEnd::Recovered => "recovered",
            AckEnd::Expired => "expired",
            AckEnd::Removed => "unack",
            AckEnd::Worse => "worse",
            AckEnd::Gone => "gone",
            AckEnd::Replaced => "replaced",
        }
    }

    pub fn parse(word: &str) -> Option<AckEnd> {
        [
            AckEnd::Recovered,
            AckEnd::Expired,
            AckEnd::Removed,
            AckEnd::Worse,
            AckEnd::Gone,
            AckEnd::Replaced,
        ]
        .into_iter()
        .find(|e| e.as_str() == word)
    }
}

/// What the owner reports when acks change: for the store, the notifier and the log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AckEvent {
    Added(Arc<Ack>),
    Ended {
        ack: Arc<Ack>,
        why: AckEnd,
        /// Who removed it (`Removed` only).
        by: Option<String>,
        at: SystemTime,
    },
}

/// How bad a node status is, for "worse than acknowledged": a node that stops
/// answering is bad, one that answers out of lock is worse (the picture tears).
pub fn severity(status: Status) -> u8 {
    match status {
        Status::Synced | Status::Pending => 0,
        Status::Unreachable | Status::Timeout | Status::Invalid | Status::Stale => 1,
        Status::Free => 2,
    }
}

/// How bad a group status is, likewise; a wrong Master count is what no single
/// member shows, so it ranks above members out of lock.
pub fn group_severity(status: Option<GroupStatus>) -> u8 {
    match status {
        None | Some(GroupStatus::Healthy) => 0,
        Some(GroupStatus::MembersUnknown) => 1,
        Some(GroupStatus::MembersFree) => 2,
        Some(GroupStatus::NoMaster) | Some(GroupStatus::MultipleMasters) => 3,
    }
}

/// Checks a reason or a "by": at most `max` characters and no control
/// characters (a reason is shown in a terminal, a page and a log). Surrounding
/// blanks are dropped.
pub fn clean_text(text: &str, max: usize, what: &str) -> Result<String, String> {
    let text = text.trim();
    let len = text.chars().count();
    if len > max {
        return Err(format!("{what} is {len} characters long; at most {max}"));
    }
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(format!(
            "{what} contains a control character ({}); use plain text on one line",
            c.escape_unicode()
        ));
    }
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_and_print() {
        assert_eq!(Target::parse("wall-01"), Ok(Target::Node("wall-01".into())));
        assert_eq!(Target::parse("@wall-B"), Ok(Target::Group("wall-B".into())));
        assert_eq!(Target::parse("@wall-B").unwrap().to_string(), "@wall-B");
        assert!(Target::parse("@").is_err());
        assert!(Target::parse("  ").is_err());
    }

    #[test]
    fn free_is_worse_than_timeout() {
        assert!(severity(Status::Free) > severity(Status::Timeout));
        assert_eq!(severity(Status::Timeout), severity(Status::Unreachable));
        let ack = Ack {
            id: "a1".into(),
            target: Target::Node("n".into()),
            by: "op".into(),
            reason: String::new(),
            at: SystemTime::UNIX_EPOCH,
            until: SystemTime::UNIX_EPOCH,
            baseline: Baseline::Node(Status::Timeout),
        };
        let n = NodeKey::new("n");
        assert!(ack.covers(&n, Status::Timeout));
        assert!(ack.covers(&n, Status::Unreachable));
        assert!(!ack.covers(&n, Status::Free));
        assert!(!ack.covers(&n, Status::Synced));
    }

    #[test]
    fn a_group_ack_covers_the_members_that_were_bad() {
        let ack = Ack {
            id: "a2".into(),
            target: Target::Group("g".into()),
            by: "op".into(),
            reason: String::new(),
            at: SystemTime::UNIX_EPOCH,
            until: SystemTime::UNIX_EPOCH,
            baseline: Baseline::Group {
                status: Some(GroupStatus::MembersFree),
                members: vec![(NodeKey::new("a"), Status::Free)],
            },
        };
        assert!(ack.covers(&NodeKey::new("a"), Status::Timeout));
        assert!(!ack.covers(&NodeKey::new("b"), Status::Timeout));
    }

    #[test]
    fn reasons_are_checked() {
        assert_eq!(
            clean_text("  re-imaging ", 500, "reason"),
            Ok("re-imaging".into())
        );
        assert!(clean_text(&"x".repeat(501), 500, "reason").is_err());
        assert_eq!(
            clean_text(&"한".repeat(500), 500, "reason").map(|s| s.chars().count()),
            Ok(500)
        );
        let e = clean_text("a\u{1b}[31mb", 500, "reason").unwrap_err();
        assert!(e.contains("control character"), "{e}");
        assert!(clean_text("a\nb", 500, "reason").is_err());
    }
}

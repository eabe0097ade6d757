//! The vocabulary of node health: statuses and the overall verdict with its Nagios
//! exit code. Shared by every output (dashboard, table, JSON, Nagios, metrics).

use std::fmt;

use serde::Serialize;

use crate::protocol::Reply;

/// What the monitor currently knows about a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Replied `Synced`, `state1` (Slave) or `state2` (Master).
    Synced,
    /// Replied `Free`, `state0` (Error) or `state3`–`9` (unknown role).
    Free,
    /// The connection failed: refused, DNS, no route.
    Unreachable,
    /// No complete reply (or no connection) within the deadline.
    Timeout,
    /// Replied with something that is not a SyncGuard token.
    Invalid,
    /// A push node that has been silent for longer than `stale_after`.
    Stale,
    /// Not checked yet.
    Pending,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Synced,
        Status::Free,
        Status::Unreachable,
        Status::Timeout,
        Status::Invalid,
        Status::Stale,
        Status::Pending,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Synced => "synced",
            Status::Free => "free",
            Status::Unreachable => "unreachable",
            Status::Timeout => "timeout",
            Status::Invalid => "invalid",
            Status::Stale => "stale",
            Status::Pending => "pending",
        }
    }

    /// The status named by its word (`as_str`), as read back from the history store.
    pub fn parse(word: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|s| s.as_str() == word)
    }

    /// The status a valid reply stands for.
    pub fn of_reply(reply: &Reply) -> Status {
        if reply.is_healthy() {
            Status::Synced
        } else {
            Status::Free
        }
    }

    /// Index into per-status arrays such as [`StatusCounts`].
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn is_healthy(self) -> bool {
        self == Status::Synced
    }

    /// Unhealthy because the monitor could not get a good answer, rather than
    /// because the node said it is out of lock. Graded by the `unreachable` policy.
    pub fn is_no_answer(self) -> bool {
        matches!(
            self,
            Status::Unreachable | Status::Timeout | Status::Invalid | Status::Stale
        )
    }

    /// Known bad: anything that is neither healthy nor still pending.
    pub fn is_problem(self) -> bool {
        !matches!(self, Status::Synced | Status::Pending)
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Count of nodes in each status.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatusCounts([usize; Status::ALL.len()]);

impl StatusCounts {
    pub fn get(&self, s: Status) -> usize {
        self.0[s.index()]
    }

    pub fn add(&mut self, s: Status) {
        self.0[s.index()] += 1;
    }

    pub fn remove(&mut self, s: Status) {
        self.0[s.index()] = self.0[s.index()].saturating_sub(1);
    }

    pub fn total(&self) -> usize {
        self.0.iter().sum()
    }

    pub fn healthy(&self) -> usize {
        self.get(Status::Synced)
    }

    /// Nodes known to be bad (pending nodes are neither healthy nor unhealthy).
    pub fn problems(&self) -> usize {
        Status::ALL
            .iter()
            .filter(|s| s.is_problem())
            .map(|s| self.get(*s))
            .sum()
    }

    /// `(status, count)` for every status with at least one node, in display order.
    pub fn nonzero(&self) -> impl Iterator<Item = (Status, usize)> + '_ {
        Status::ALL
            .iter()
            .map(|s| (*s, self.get(*s)))
            .filter(|(_, n)| *n > 0)
    }
}

/// How unreachable / timeout / invalid / stale nodes are graded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum UnreachablePolicy {
    #[default]
    Critical,
    Warning,
}

/// The overall answer, in Nagios terms. The discriminant is the exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Verdict {
    Ok = 0,
    Warning = 1,
    Critical = 2,
    Unknown = 3,
}

impl Verdict {
    pub fn exit_code(self) -> u8 {
        self as u8
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "OK",
            Verdict::Warning => "WARNING",
            Verdict::Critical => "CRITICAL",
            Verdict::Unknown => "UNKNOWN",
        }
    }

    /// The verdict for a fleet: `free` is always critical; no-answer statuses are
    /// critical or warning by policy; pending nodes alone do not raise it.
    pub fn for_counts(counts: &StatusCounts, policy: UnreachablePolicy) -> Verdict {
        if counts.get(Status::Free) > 0 {
            return Verdict::Critical;
        }
        let no_answer: usize = Status::ALL
            .iter()
            .filter(|s| s.is_no_answer())
            .map(|s| counts.get(*s))
            .sum();
        match (no_answer, policy) {
            (0, _) => Verdict::Ok,
            (_, UnreachablePolicy::Critical) => Verdict::Critical,
            (_, UnreachablePolicy::Warning) => Verdict::Warning,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(list: &[(Status, usize)]) -> StatusCounts {
        let mut c = StatusCounts::default();
        for (s, n) in list {
            for _ in 0..*n {
                c.add(*s);
            }
        }
        c
    }

    #[test]
    fn verdict_follows_exit_code_table() {
        use Status::*;
        use UnreachablePolicy as P;
        assert_eq!(
            Verdict::for_counts(&counts(&[(Synced, 3)]), P::Critical),
            Verdict::Ok
        );
        assert_eq!(
            Verdict::for_counts(&counts(&[(Synced, 3), (Free, 1)]), P::Warning),
            Verdict::Critical
        );
        for s in [Unreachable, Timeout, Invalid, Stale] {
            let c = counts(&[(Synced, 3), (s, 1)]);
            assert_eq!(Verdict::for_counts(&c, P::Critical), Verdict::Critical);
            assert_eq!(Verdict::for_counts(&c, P::Warning), Verdict::Warning);
        }
        assert_eq!(
            Verdict::for_counts(&counts(&[(Timeout, 1), (Free, 1)]), P::Warning),
            Verdict::Critical
        );
        assert_eq!(
            Verdict::for_counts(&counts(&[(Synced, 1), (Pending, 2)]), P::Critical),
            Verdict::Ok
        );
        assert_eq!(Verdict::Critical.exit_code(), 2);
        assert_eq!(Verdict::Unknown.exit_code(), 3);
    }

    #[test]
    fn counts_track_problems() {
        let mut c = counts(&[(Status::Synced, 2), (Status::Pending, 1), (Status::Free, 1)]);
        assert_eq!(c.total(), 4);
        assert_eq!(c.problems(), 1);
        c.remove(Status::Free);
        c.add(Status::Synced);
        assert_eq!(c.healthy(), 3);
        assert_eq!(
            c.nonzero().collect::<Vec<_>>(),
            vec![(Status::Synced, 3), (Status::Pending, 1)]
        );
    }
}

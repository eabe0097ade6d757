//! What can be wrong with a sync group, as values rather than text: the outputs word
//! them (see `present`), the verdict and the metrics test them.

use std::sync::Arc;
use std::time::SystemTime;

use serde::Serialize;

use super::NodeKey;

/// One thing wrong with a sync group.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum GroupProblem {
    /// Members report roles, and none of the healthy ones is Master.
    NoMaster,
    /// More than one healthy Master, named.
    MultipleMasters { masters: Vec<NodeKey> },
    /// Some members are not healthy.
    UnhealthyMembers { unhealthy: usize, total: usize },
}

impl GroupProblem {
    /// A wrong Master count: the one problem no single node's status shows.
    pub fn is_master_count(&self) -> bool {
        matches!(
            self,
            GroupProblem::NoMaster | GroupProblem::MultipleMasters { .. }
        )
    }
}

/// The health of one sync group.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum GroupHealth {
    /// Some member has not answered yet.
    #[default]
    Pending,
    Healthy,
    Unhealthy(Vec<GroupProblem>),
}

impl GroupHealth {
    pub fn is_unhealthy(&self) -> bool {
        matches!(self, GroupHealth::Unhealthy(_))
    }

    pub fn problems(&self) -> &[GroupProblem] {
        match self {
            GroupHealth::Unhealthy(p) => p,
            _ => &[],
        }
    }

    /// A wrong number of Masters: raises the verdict to CRITICAL.
    pub fn has_master_problem(&self) -> bool {
        self.problems().iter().any(GroupProblem::is_master_count)
    }

    pub fn as_str(&self) -> &'static str {
        match self {
            GroupHealth::Pending => "pending",
            GroupHealth::Healthy => "healthy",
            GroupHealth::Unhealthy(_) => "unhealthy",
        }
    }
}

/// A sync group's state in one word, as the history store records it: what its
/// incidents list and what its uptime is counted from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum GroupStatus {
    Healthy,
    NoMaster,
    MultipleMasters,
    /// Some member is `free` (out of lock).
    MembersFree,
    /// Some member gives no answer (unreachable, timeout, invalid, stale), none is free.
    MembersUnknown,
}

impl GroupStatus {
    /// The word for a group's health; `None` while it is pending. A wrong Master
    /// count comes first: it is what no single member shows.
    pub fn of(health: &GroupHealth, any_member_free: bool) -> Option<GroupStatus> {
        match health {
            GroupHealth::Pending => None,
            GroupHealth::Healthy => Some(GroupStatus::Healthy),
            GroupHealth::Unhealthy(problems) => {
                Some(if problems.contains(&GroupProblem::NoMaster) {
                    GroupStatus::NoMaster
                } else if problems.iter().any(GroupProblem::is_master_count) {
                    GroupStatus::MultipleMasters
                } else if any_member_free {
                    GroupStatus::MembersFree
                } else {
                    GroupStatus::MembersUnknown
                })
            }
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            GroupStatus::Healthy => "healthy",
            GroupStatus::NoMaster => "no_master",
            GroupStatus::MultipleMasters => "multiple_masters",
            GroupStatus::MembersFree => "members_free",
            GroupStatus::MembersUnknown => "members_unknown",
        }
    }
}

/// A sync group's recorded status changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupTransition {
    pub at: SystemTime,
    pub group: Arc<str>,
    pub status: GroupStatus,
    /// The health behind it, worded by `present` for the record.
    pub health: GroupHealth,
}

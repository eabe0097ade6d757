//! What can be wrong with a sync group, as values rather than text: the outputs word
//! them (see `present`), the verdict and the metrics test them.

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

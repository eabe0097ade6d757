//! A shown change of a node's status (after flap damping): what the hub broadcasts to
//! the dashboard, `watch`, the log and the hooks. It carries values, not text; the
//! words are made once, by `present`, where it is shown.

use std::sync::Arc;
use std::time::SystemTime;

use crate::protocol::{Reply, Role};

use super::{NodeKey, Outcome, Status};

/// A change of a node's shown status.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transition {
    pub at: SystemTime,
    pub node: NodeKey,
    pub group: Option<Arc<str>>,
    pub from: Status,
    pub to: Status,
    /// The result that caused it.
    pub outcome: Outcome,
}

impl Transition {
    /// The valid reply that caused it, if it was one.
    pub fn reply(&self) -> Option<&Reply> {
        self.outcome.reply()
    }

    pub fn role(&self) -> Option<Role> {
        self.reply().and_then(Reply::role)
    }

    /// A healthy node went bad: what rings the bell.
    pub fn is_new_problem(&self) -> bool {
        self.from == Status::Synced && self.to.is_problem()
    }
}

/// What the hub broadcasts to display consumers.
pub type FleetEvent = Transition;

//! The model: the vocabulary every other layer speaks (node keys, statuses, results,
//! transitions, group problems, listener counters, notifications, acknowledgements). It imports nothing in the crate
//! but the pure protocol decoder, whose reply types an observation carries.

pub mod ack;
pub mod event;
pub mod group;
pub mod input;
pub mod key;
pub mod listen;
pub mod notification;
pub mod outcome;
pub mod shard;
pub mod status;

pub use crate::protocol::Role;
pub use ack::{Ack, AckEnd, AckEvent, Baseline, Target};
pub use event::{FleetEvent, Transition};
pub use group::{GroupHealth, GroupProblem, GroupStatus, GroupTransition};
pub use input::{Input, ListenEvent, PollResult};
pub use key::NodeKey;
pub use listen::{CloseReason, ConnId, ListenStats, Refusals};
pub use outcome::{IoFailure, Observation, Outcome, TimeoutPhase, Unreachable};
pub use shard::Shard;
pub use status::{Status, StatusCounts, UnreachablePolicy, Verdict};

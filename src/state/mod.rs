//! The fleet state, pure and time-injected: nodes, sync groups, push connections and
//! flap damping. The hub owns the one [`Fleet`]; everyone else reads [`Snapshot`]s.

pub mod damping;
pub mod fleet;
pub mod group;
pub mod latency;
pub mod maintenance;
pub mod node;
pub mod push;
pub mod snapshot;

pub use damping::Damper;
pub use fleet::{
    AckRefusal, AckRequest, EVENTS_LEN, Fleet, LineApplied, PUSH_STARTUP_GRACE, QuietEvent,
    ReloadDiff,
};
pub use group::SyncGroup;
pub use latency::{LATENCY_BUCKETS, LatencyHistogram};
pub use node::{HISTORY_LEN, NodeState, NodeView};
pub use push::{ConnInfo, UNLISTED_CAP, UnlistedSender};
pub use snapshot::{HistoryStatus, Snapshot};

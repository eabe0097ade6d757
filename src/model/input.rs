//! What the engine hands the hub: a poll result or a push receiver event. Defined
//! here, below both, so the engine and the state share them without importing each
//! other.

use std::net::SocketAddr;
use std::time::SystemTime;

use crate::protocol::{InvalidLine, PushLine};

use super::{CloseReason, ConnId, NodeKey, Observation};

/// One result for the fleet's owner.
#[derive(Debug)]
pub struct PollResult {
    pub node: NodeKey,
    /// Which poller sent it: a result from a poller a reload replaced is dropped.
    pub generation: u64,
    pub obs: Observation,
    /// Whether the poller kept the connection open afterwards.
    pub connected: bool,
}

/// What the receiver tells the fleet's owner.
#[derive(Debug)]
pub enum ListenEvent {
    Opened {
        conn: ConnId,
        peer: SocketAddr,
        at: SystemTime,
    },
    Line {
        conn: ConnId,
        peer: SocketAddr,
        at: SystemTime,
        line: Result<PushLine, InvalidLine>,
        /// How many lines this stands for (repeats within one read are merged).
        count: u32,
    },
    Closed {
        conn: ConnId,
        peer: SocketAddr,
        reason: CloseReason,
    },
}

/// One thing that happened out there.
#[derive(Debug)]
pub enum Input {
    Poll(PollResult),
    Listen(ListenEvent),
}

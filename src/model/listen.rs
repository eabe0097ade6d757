//! The push receiver's vocabulary: connection ids, why a connection closed, and the
//! receiver's counters. Shared by the listen engine (which produces them) and the
//! state (which keeps them), so neither imports the other.

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use super::IoFailure;

/// Identifies one accepted push connection.
pub type ConnId = u64;

/// Why the receiver closed a connection for abuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Abuse {
    /// This many invalid lines.
    InvalidLines(u32),
    /// More than this many bytes without a newline.
    Overlong(usize),
    /// No complete line for this long.
    Idle(Duration),
}

impl fmt::Display for Abuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Abuse::InvalidLines(n) => write!(f, "{n} invalid lines"),
            Abuse::Overlong(n) => write!(f, "more than {n} bytes without a newline"),
            Abuse::Idle(d) => write!(f, "no complete line for {}", humantime::format_duration(*d)),
        }
    }
}

/// Why the receiver closed a connection. (Connections refused at accept are only
/// counted: see [`Refusals`].)
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    /// The peer closed it.
    Peer,
    /// An unlisted sender while `allow_unlisted = false`.
    Unlisted(IpAddr),
    Abuse(Abuse),
    /// A read error (reset and the like).
    Error(IoFailure),
    /// The monitor is stopping.
    Shutdown,
}

/// Connections closed at accept, before they became connections. Counted with
/// atomics rather than sent as events, so a flood cannot fill the channel.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Refusals {
    /// Over `max_connections`.
    pub full: u64,
    /// From outside `allow_from`.
    pub not_allowed: u64,
}

/// Counters of the push receiver.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ListenStats {
    pub accepted: u64,
    pub lines: u64,
    pub invalid_lines: u64,
    /// Closed at once: over `max_connections`.
    pub rejected_full: u64,
    /// Closed: unlisted sender with `allow_unlisted = false`.
    pub rejected_unlisted: u64,
    /// Closed: peer outside `allow_from`.
    pub rejected_address: u64,
    /// Closed for abuse: too many invalid lines, an overlong line, or idle.
    pub closed_abuse: u64,
    /// Unlisted senders not remembered because the cap was reached.
    pub unlisted_dropped: u64,
}

impl ListenStats {
    /// Takes the receiver's counts of connections refused at accept.
    pub fn set_refusals(&mut self, r: Refusals) {
        self.rejected_full = r.full;
        self.rejected_address = r.not_allowed;
    }

    /// Counts a connection closed for `reason`.
    pub fn count_close(&mut self, reason: &CloseReason) {
        match reason {
            CloseReason::Unlisted(_) => self.rejected_unlisted += 1,
            CloseReason::Abuse(_) => self.closed_abuse += 1,
            CloseReason::Peer | CloseReason::Error(_) | CloseReason::Shutdown => {}
        }
    }

    pub fn refused(&self) -> u64 {
        self.rejected_full + self.rejected_unlisted + self.rejected_address
    }
}

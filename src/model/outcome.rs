//! What one exchange with a node produced, typed: a reply, or why there was none. The
//! words for each case live in the `Display` impls, so every output says it the same way.

use std::fmt;
use std::io;
use std::time::{Duration, SystemTime};

use crate::protocol::text;
use crate::protocol::{InvalidLine, InvalidReply, Reply};

use super::Status;

/// Which part of an exchange ran out of time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeoutPhase {
    /// Waiting for one of the `max_connecting` slots.
    Queue,
    Connect,
    Reply,
}

/// A socket error, kept as its kind (for code) with the system's words only where the
/// kind alone says too little.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IoFailure {
    pub kind: io::ErrorKind,
    /// The system's message for kinds without words of our own, already escaped.
    other: Option<Box<str>>,
}

impl IoFailure {
    pub fn kind(kind: io::ErrorKind) -> IoFailure {
        IoFailure { kind, other: None }
    }

    /// A failure that is not the system's: the text is ours (escaped here anyway).
    pub fn other(text: &str) -> IoFailure {
        IoFailure {
            kind: io::ErrorKind::Other,
            other: Some(text::escape_str(text).into_boxed_str()),
        }
    }
}

impl From<&io::Error> for IoFailure {
    fn from(e: &io::Error) -> IoFailure {
        let other = known_words(e.kind()).is_none().then(|| {
            let s = e.to_string();
            let s = s.split(" (os error").next().unwrap_or(&s);
            text::escape_str(s).into_boxed_str()
        });
        IoFailure {
            kind: e.kind(),
            other,
        }
    }
}

fn known_words(kind: io::ErrorKind) -> Option<&'static str> {
    use io::ErrorKind::*;
    Some(match kind {
        ConnectionRefused => "connection refused",
        ConnectionReset => "connection reset by peer",
        ConnectionAborted => "connection aborted",
        BrokenPipe => "connection closed by peer",
        HostUnreachable => "no route to host",
        NetworkUnreachable => "network unreachable",
        AddrNotAvailable => "address not available (out of local ports?)",
        TimedOut => "timed out",
        _ => return None,
    })
}

impl fmt::Display for IoFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (known_words(self.kind), &self.other) {
            (Some(words), _) => f.write_str(words),
            (None, Some(other)) => f.write_str(other),
            (None, None) => write!(f, "{}", self.kind),
        }
    }
}

/// Why a node could not be reached.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Unreachable {
    /// The TCP connect failed.
    Connect(IoFailure),
    /// The host name did not resolve (`None`: it resolved to no address).
    Dns {
        host: Box<str>,
        cause: Option<IoFailure>,
    },
    /// The request could not be written, or the connection broke before a reply byte.
    Lost(IoFailure),
    /// The connection broke in the middle of a reply.
    MidReply(IoFailure),
    /// The peer closed the connection without a reply.
    ClosedWithoutReply,
    /// The monitor is stopping.
    ShuttingDown,
}

impl fmt::Display for Unreachable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unreachable::Connect(e) | Unreachable::Lost(e) => write!(f, "{e}"),
            Unreachable::Dns {
                host,
                cause: Some(e),
            } => write!(f, "DNS lookup of {} failed: {e}", text::escape_str(host)),
            Unreachable::Dns { host, cause: None } => {
                write!(
                    f,
                    "DNS lookup of {} found no address",
                    text::escape_str(host)
                )
            }
            Unreachable::MidReply(e) => write!(f, "{e} mid-reply"),
            Unreachable::ClosedWithoutReply => f.write_str("connection closed without a reply"),
            Unreachable::ShuttingDown => f.write_str("shutting down"),
        }
    }
}

/// What one exchange with a node produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Reply(Reply),
    Unreachable(Unreachable),
    Timeout {
        phase: TimeoutPhase,
        after: Duration,
    },
    Invalid(InvalidReply),
    /// A push node sent a line that is not a SyncGuard line.
    InvalidLine(InvalidLine),
    /// A push node has sent nothing for this long.
    Stale {
        silent_for: Duration,
    },
    /// A result read back from the history file (the events pane after a
    /// restart): only its status and its words were kept.
    Recorded {
        status: Status,
        text: Box<str>,
    },
}

impl Outcome {
    pub fn status(&self) -> Status {
        match self {
            Outcome::Reply(r) => Status::of_reply(r),
            Outcome::Unreachable(_) => Status::Unreachable,
            Outcome::Timeout { .. } => Status::Timeout,
            Outcome::Invalid(_) | Outcome::InvalidLine(_) => Status::Invalid,
            Outcome::Stale { .. } => Status::Stale,
            Outcome::Recorded { status, .. } => *status,
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
            Outcome::Unreachable(why) => write!(f, "{why}"),
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
            Outcome::InvalidLine(why) => write!(f, "{why}"),
            Outcome::Stale { silent_for } => {
                write!(f, "no line for {}", humantime::format_duration(*silent_for))
            }
            Outcome::Recorded { text, .. } => f.write_str(text),
        }
    }
}

/// One result, as kept in a node's recent results.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Observation {
    pub at: SystemTime,
    pub outcome: Outcome,
    /// Time from the start of the exchange to the complete reply.
    pub latency: Option<Duration>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_text_for_each_outcome() {
        let t = Outcome::Timeout {
            phase: TimeoutPhase::Reply,
            after: Duration::from_secs(5),
        };
        assert_eq!(t.error().as_deref(), Some("no reply within 5s"));
        assert_eq!(t.status(), Status::Timeout);
        let u = Outcome::Unreachable(Unreachable::Connect(IoFailure::kind(
            io::ErrorKind::ConnectionRefused,
        )));
        assert_eq!(u.status(), Status::Unreachable);
        assert_eq!(u.error().as_deref(), Some("connection refused"));
        assert_eq!(Outcome::Reply(Reply::Synced).error(), None);
    }

    #[test]
    fn io_failures_keep_their_kind_and_words() {
        let e = io::Error::other("weird \x1b[31m thing");
        let f = IoFailure::from(&e);
        assert_eq!(f.kind, io::ErrorKind::Other);
        assert!(!f.to_string().contains('\x1b'), "escaped: {f}");
        let mid = Unreachable::MidReply(IoFailure::kind(io::ErrorKind::ConnectionReset));
        assert_eq!(mid.to_string(), "connection reset by peer mid-reply");
        let dns = Unreachable::Dns {
            host: "no.such".into(),
            cause: None,
        };
        assert_eq!(dns.to_string(), "DNS lookup of no.such found no address");
    }
}

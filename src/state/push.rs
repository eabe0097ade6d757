//! The push side of the fleet state: open connections, unlisted senders and the
//! receiver's counters. Pure: the hub feeds it the listen engine's events.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use crate::model::{ConnId, ListenStats, NodeKey, Role, Status};
use crate::protocol::{InvalidLine, PushLine, ReportedIp};

/// Unlisted senders remembered at most; beyond that they are only counted.
pub const UNLISTED_CAP: usize = 1024;

/// One open push connection, for the connections view.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnInfo {
    pub id: ConnId,
    pub peer: SocketAddr,
    pub opened_at: SystemTime,
    pub lines: u64,
    pub invalid_lines: u32,
    /// The last line (valid, or why it was not); kept parsed, shown escaped.
    pub last_line: Option<Result<PushLine, InvalidLine>>,
    pub last_line_at: Option<SystemTime>,
    /// The node its last line was attributed to.
    pub node: Option<NodeKey>,
}

impl ConnInfo {
    /// The last line as shown in the connections view.
    pub fn last_line_text(&self) -> String {
        match &self.last_line {
            None => String::new(),
            Some(Ok(l)) => l.reply().to_string(),
            Some(Err(e)) => e.to_string(),
        }
    }
}

/// A sender whose lines match no push node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnlistedSender {
    pub reported_ip: ReportedIp,
    pub peer: SocketAddr,
    pub status: Status,
    pub code: Option<u8>,
    pub last_seen: SystemTime,
    pub lines: u64,
}

impl UnlistedSender {
    pub fn role(&self) -> Option<Role> {
        self.code.map(Role::from_code)
    }
}

/// Connections, unlisted senders and counters.
#[derive(Clone, Debug, Default)]
pub struct PushState {
    pub connections: BTreeMap<ConnId, ConnInfo>,
    /// Open connections per attributed node, so a close need not scan them all.
    open_per_node: HashMap<NodeKey, u32>,
    /// Senders not in the node list, by the IP they report (or their peer IP).
    pub unlisted: BTreeMap<IpAddr, UnlistedSender>,
    pub stats: ListenStats,
}

impl PushState {
    pub fn opened(&mut self, conn: ConnId, peer: SocketAddr, at: SystemTime) {
        self.stats.accepted += 1;
        self.connections.insert(
            conn,
            ConnInfo {
                id: conn,
                peer,
                opened_at: at,
                lines: 0,
                invalid_lines: 0,
                last_line: None,
                last_line_at: None,
                node: None,
            },
        );
    }

    /// Removes a closed connection. Returns it, and whether its node has no open
    /// connection left.
    pub fn closed(&mut self, conn: ConnId) -> Option<(ConnInfo, bool)> {
        let info = self.connections.remove(&conn)?;
        let last = match &info.node {
            Some(key) => self.release(key),
            None => false,
        };
        Some((info, last))
    }

    fn release(&mut self, key: &NodeKey) -> bool {
        match self.open_per_node.get_mut(key) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => {
                self.open_per_node.remove(key);
                true
            }
            None => true,
        }
    }

    /// Counts lines on a connection and notes which node they were for.
    pub fn count_lines(
        &mut self,
        conn: ConnId,
        at: SystemTime,
        line: &Result<PushLine, InvalidLine>,
        count: u32,
        node: Option<&NodeKey>,
    ) {
        self.stats.lines += u64::from(count);
        if line.is_err() {
            self.stats.invalid_lines += u64::from(count);
        }
        let Some(c) = self.connections.get_mut(&conn) else {
            return;
        };
        c.lines += u64::from(count);
        c.last_line_at = Some(at);
        c.last_line = Some(line.clone());
        if line.is_err() {
            c.invalid_lines = c.invalid_lines.saturating_add(count);
        }
        if let Some(key) = node
            && c.node.as_ref() != Some(key)
        {
            let previous = c.node.replace(key.clone());
            *self.open_per_node.entry(key.clone()).or_default() += 1;
            if let Some(p) = previous {
                self.release(&p);
            }
        }
    }

    /// The node an earlier line on this connection was for.
    pub fn node_of(&self, conn: ConnId) -> Option<&NodeKey> {
        self.connections.get(&conn).and_then(|c| c.node.as_ref())
    }

    /// Remembers a sender that is not in the node list (bounded).
    pub fn note_unlisted(&mut self, line: PushLine, peer: SocketAddr, at: SystemTime, count: u32) {
        let key = match line.reported {
            ReportedIp::V4(ip) => IpAddr::V4(ip),
            ReportedIp::Unknown => peer.ip().to_canonical(),
        };
        let status = Status::of_reply(&line.reply());
        if let Some(u) = self.unlisted.get_mut(&key) {
            u.peer = peer;
            u.status = status;
            u.code = Some(line.code);
            u.last_seen = at;
            u.lines += u64::from(count);
            return;
        }
        if self.unlisted.len() >= UNLISTED_CAP {
            self.stats.unlisted_dropped += 1;
            return;
        }
        self.unlisted.insert(
            key,
            UnlistedSender {
                reported_ip: line.reported,
                peer,
                status,
                code: Some(line.code),
                last_seen: at,
                lines: u64::from(count),
            },
        );
    }

    /// After a reload: connections keep their node only if it still exists.
    pub fn retain_nodes(&mut self, exists: impl Fn(&NodeKey) -> bool) {
        for c in self.connections.values_mut() {
            if c.node.as_ref().is_some_and(|k| !exists(k)) {
                c.node = None;
            }
        }
        self.open_per_node.retain(|k, _| exists(k));
    }

    /// The receiver restarted: its connections are gone (senders reconnect).
    pub fn receiver_restarted(&mut self) {
        self.connections.clear();
        self.open_per_node.clear();
    }
}

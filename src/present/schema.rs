//! The one serde schema for a node, a group, an unlisted sender and an event: used by
//! `--once --format json`, `watch --events json` and (later) the web API, so a script
//! that reads one reads them all. "No group" is `null` everywhere.

use std::time::SystemTime;

use serde::Serialize;

use crate::model::{Role, Status, Transition};
use crate::state::{NodeView, SyncGroup, UnlistedSender};

use super::{group_health, reply_text, rfc3339, silent_connects_note};

/// One node as every JSON output shows it.
#[derive(Serialize)]
pub struct JsonNode<'a> {
    pub name: &'a str,
    pub address: String,
    pub group: Option<&'a str>,
    pub status: Status,
    pub healthy: bool,
    /// When the node entered its current status.
    pub since: String,
    pub reply: String,
    pub code: Option<u8>,
    pub role: Option<Role>,
    pub reported_ip: Option<String>,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
    /// Push nodes: more than one peer claimed this node's IP recently.
    pub conflict: bool,
    /// Push nodes: connections that closed without a line since the last line.
    pub silent_connects: u32,
    /// Advice when something about the node needs a person (e.g. the sender bug).
    pub note: Option<String>,
    /// The maintenance window the node is in, by name.
    pub maintenance: Option<&'a str>,
    /// The acknowledgement covering the node (its own or its group's).
    pub ack: Option<JsonAck<'a>>,
}

/// An acknowledgement: who, why, since and until when.
#[derive(Serialize)]
pub struct JsonAck<'a> {
    /// `NODE` or `@GROUP`: what was acknowledged.
    pub target: String,
    pub by: &'a str,
    pub reason: &'a str,
    pub at: String,
    pub until: String,
}

impl<'a> JsonAck<'a> {
    pub fn new(a: &'a crate::model::Ack) -> JsonAck<'a> {
        JsonAck {
            target: a.target.to_string(),
            by: &a.by,
            reason: &a.reason,
            at: rfc3339(a.at),
            until: rfc3339(a.until),
        }
    }
}

impl<'a> JsonNode<'a> {
    pub fn new(n: &'a NodeView) -> JsonNode<'a> {
        JsonNode {
            name: n.name(),
            address: n.config.address(),
            group: n.group(),
            status: n.status,
            healthy: n.status.is_healthy(),
            since: rfc3339(n.since),
            reply: reply_text(n),
            code: n.code(),
            role: n.role(),
            reported_ip: n.reported_ip().map(|ip| ip.to_string()),
            latency_ms: n.latency().map(|d| (d.as_secs_f64() * 1e6).round() / 1e3),
            error: n.error(),
            conflict: !n.conflicting_peers.is_empty(),
            silent_connects: n.silent_connects,
            note: silent_connects_note(n),
            maintenance: n.maintenance.as_deref(),
            ack: n.ack.as_deref().map(JsonAck::new),
        }
    }
}

/// One sync group.
#[derive(Serialize)]
pub struct JsonGroup<'a> {
    pub name: &'a str,
    pub healthy: bool,
    pub masters: usize,
    pub members: usize,
    pub problem: Option<String>,
    /// The maintenance window the group is in as a whole, by name.
    pub maintenance: Option<&'a str>,
    /// The acknowledgement of the group as a whole.
    pub ack: Option<JsonAck<'a>>,
}

impl<'a> JsonGroup<'a> {
    pub fn new(g: &'a SyncGroup) -> JsonGroup<'a> {
        JsonGroup {
            name: &g.name,
            healthy: g.health == crate::model::GroupHealth::Healthy,
            masters: g.masters,
            members: g.members.len(),
            problem: group_health(&g.health),
            maintenance: g.maintenance.as_deref(),
            ack: g.ack.as_deref().map(JsonAck::new),
        }
    }
}

/// A sender not in the node list.
#[derive(Serialize)]
pub struct JsonUnlisted {
    pub reported_ip: String,
    pub peer: String,
    pub status: Status,
    pub code: Option<u8>,
    pub role: Option<Role>,
    pub last_seen: String,
}

impl JsonUnlisted {
    pub fn new(u: &UnlistedSender) -> JsonUnlisted {
        JsonUnlisted {
            reported_ip: u.reported_ip.to_string(),
            peer: u.peer.to_string(),
            status: u.status,
            code: u.code,
            role: u.role(),
            last_seen: rfc3339(u.last_seen),
        }
    }
}

/// One shown transition.
#[derive(Serialize)]
pub struct JsonEvent<'a> {
    pub time: String,
    pub node: &'a str,
    pub group: Option<&'a str>,
    pub previous: Status,
    pub status: Status,
    /// From the transition itself: the node may have changed again since.
    pub role: Option<Role>,
    pub reply: Option<String>,
    pub error: Option<String>,
}

impl<'a> JsonEvent<'a> {
    pub fn new(t: &'a Transition) -> JsonEvent<'a> {
        JsonEvent {
            time: rfc3339(t.at),
            node: t.node.as_str(),
            group: t.group.as_deref(),
            previous: t.from,
            status: t.to,
            role: t.role(),
            reply: t.reply().map(|r| r.to_string()),
            error: t.outcome.error(),
        }
    }
}

/// Serialises one value on one line; plain structs cannot fail, but say so if they do.
pub fn to_line<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// The time a document was made, in the JSON time format.
pub fn checked_at(t: SystemTime) -> String {
    rfc3339(t)
}

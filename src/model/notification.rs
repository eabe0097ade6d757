//! A notification as it is stored in the outbox and rendered for each channel:
//! values, not channel text. One notification is one window of one channel: a
//! storm of 200 nodes is one notification with 200 items.

use serde::{Deserialize, Serialize};

/// Items listed by name in a message; the rest are counted.
pub const LISTED: usize = 20;

/// What a notification says overall.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Something became unhealthy (items may also carry recoveries).
    Firing,
    /// Everything in it recovered.
    Resolved,
    /// `repeat_interval`: these are still unhealthy.
    Reminder,
    /// `notify test`.
    Test,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Firing => "firing",
            Kind::Resolved => "resolved",
            Kind::Reminder => "reminder",
            Kind::Test => "test",
        }
    }
}

/// What an item is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SubjectKind {
    Node,
    /// A sync group with a wrong number of Masters (`SyncGuardGroupMasters`).
    Group,
}

/// One node or group in a notification.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Item {
    pub kind: SubjectKind,
    /// The node's or the group's name (escaped text, safe to print).
    pub name: String,
    /// A node's group; `None` for a group item and for a node in no group.
    pub group: Option<String>,
    /// The status word: a node's (`timeout`, `free`, `synced`, …) or a group's
    /// (`no_master`, `multiple_masters`, `healthy`).
    pub status: String,
    /// Unhealthy now (true) or recovered (false).
    pub firing: bool,
    /// When it entered the state this item reports (Unix ms): Alertmanager's
    /// `startsAt` for a firing item, `endsAt` for a recovered one.
    pub since_ms: i64,
    /// For a firing item: when the problem began (the same as `since_ms`); for a
    /// recovered one: when the problem it ends began.
    pub started_ms: i64,
    /// The reply or error behind it, escaped; may be empty.
    pub detail: String,
    /// A recovered item: the status the channel was told while it was unhealthy,
    /// so Alertmanager gets the same labels to resolve.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<String>,
}

/// One notification for one channel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notification {
    /// Unique for ever (random, 128 bits, hex): the receiver's idempotency key.
    pub id: String,
    pub channel: String,
    /// Unix ms.
    pub created_ms: i64,
    pub kind: Kind,
    /// One line that states the verdict, e.g.
    /// `wall-B: 200 of 200 nodes unhealthy (timeout ×198, free ×2)`.
    pub title: String,
    /// Every item, firing first, then recovered; each in name order. Messages list
    /// the first [`LISTED`] and count the rest; Alertmanager gets all of them.
    pub items: Vec<Item>,
    /// The status page's base URL (`http://host:port/`) when it is on.
    pub page_url: Option<String>,
}

impl Item {
    /// A recovered item for a subject a reload took out of the config.
    pub fn is_removed(&self) -> bool {
        !self.firing && self.status == REMOVED
    }

    /// A resolved item for a subject that entered a maintenance window: not
    /// healthy, only no longer anyone's problem.
    pub fn is_maintenance(&self) -> bool {
        !self.firing && self.status == MAINTENANCE
    }

    /// A real recovery: the subject is healthy again (not removed, not in
    /// maintenance).
    pub fn is_recovery(&self) -> bool {
        !self.firing && !self.is_removed() && !self.is_maintenance()
    }
}

/// The status of an item whose subject a reload took out of the config.
pub const REMOVED: &str = "removed";

/// The status of an item whose subject entered a maintenance window. No node or
/// group status has this word, so it cannot be mistaken for one.
pub const MAINTENANCE: &str = "maintenance";

impl Notification {
    pub fn firing(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| i.firing)
    }

    pub fn recovered(&self) -> impl Iterator<Item = &Item> {
        self.items.iter().filter(|i| !i.firing)
    }
}

/// A channel's state as a snapshot carries it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChannelStatus {
    pub name: String,
    pub kind: &'static str,
    pub delivered: u64,
    pub failed: u64,
    pub given_up: u64,
    pub queue_depth: u64,
    pub oldest_pending_ms: Option<i64>,
    pub problem: Option<String>,
}

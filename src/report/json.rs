//! The `--once` JSON document: one object, keys fixed (see docs/outputs.md). Nodes,
//! groups and unlisted senders use the shared schema of `present::schema`.

use std::time::SystemTime;

use serde::Serialize;

use crate::model::{Status, Verdict};
use crate::present::schema::{JsonGroup, JsonNode, JsonUnlisted, checked_at};
use crate::state::Snapshot;

#[derive(Serialize)]
struct JsonReport<'a> {
    checked_at: String,
    exit_code: u8,
    verdict: Verdict,
    /// `"2/4"` on a sharded instance only: whose share of the fleet this is.
    #[serde(skip_serializing_if = "Option::is_none")]
    shard: Option<String>,
    summary: JsonSummary,
    nodes: Vec<JsonNode<'a>>,
    groups: Vec<JsonGroup<'a>>,
    unlisted: Vec<JsonUnlisted>,
}

#[derive(Serialize)]
struct JsonSummary {
    total: usize,
    healthy: usize,
    unhealthy: usize,
    by_status: serde_json::Map<String, serde_json::Value>,
}

/// The whole document. Text from the network is escaped like everywhere else, so a
/// reply cannot smuggle control bytes into a script's terminal.
pub fn json(snap: &Snapshot, at: SystemTime) -> String {
    document(snap, at, true)
}

/// The same document on one line (an event-stream `data:` field).
pub fn json_line(snap: &Snapshot, at: SystemTime) -> String {
    document(snap, at, false)
}

fn document(snap: &Snapshot, at: SystemTime, pretty: bool) -> String {
    let counts = &snap.counts;
    let mut by_status = serde_json::Map::new();
    for s in Status::ALL {
        by_status.insert(s.as_str().into(), counts.get(s).into());
    }
    let report = JsonReport {
        checked_at: checked_at(at),
        exit_code: snap.verdict.exit_code(),
        verdict: snap.verdict,
        shard: snap.shard.map(|s| s.label()),
        summary: JsonSummary {
            total: counts.total(),
            healthy: counts.healthy(),
            unhealthy: counts.total() - counts.healthy(),
            by_status,
        },
        nodes: snap.nodes.iter().map(JsonNode::new).collect(),
        groups: snap.groups.iter().map(JsonGroup::new).collect(),
        unlisted: snap.unlisted.iter().map(JsonUnlisted::new).collect(),
    };
    let text = if pretty {
        serde_json::to_string_pretty(&report)
    } else {
        serde_json::to_string(&report)
    };
    text.unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

//! What the web page shows, computed once from a snapshot: the verdict headline and
//! one tile per sync group. Pure; the templates and the event stream's `summary`
//! event both read it, so the page and its live updates cannot disagree.

use serde::Serialize;

use crate::model::{Ack, GroupHealth, Status, Target, Verdict};
use crate::present::{self, quiet, schema::checked_at};
use crate::state::{NodeView, Snapshot, SyncGroup};

/// What a row or a tile shows about maintenance and acknowledgements, worded
/// here: the page's script only places it. At most one of `maintenance`,
/// `acked` and `ack` is set.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct Quiet {
    /// The maintenance window it is in, by name (`data-maintenance`).
    pub maintenance: Option<String>,
    /// What the ack covering it acknowledged, `NAME` or `@GROUP` (`data-acked`,
    /// and what its unack button removes).
    pub acked: Option<String>,
    /// Unhealthy and nobody acknowledged it: what its acknowledge button
    /// acknowledges (`button[data-ack]`).
    pub ack: Option<String>,
    /// `⚒`, `✓` or empty.
    pub mark: &'static str,
    /// The window, or who acknowledged it, when, until when and why.
    pub text: String,
}

impl Quiet {
    pub fn node(n: &NodeView) -> Quiet {
        Quiet::of(
            Target::Node(n.name().to_owned()),
            n.maintenance.as_deref(),
            n.ack.as_deref(),
            n.is_alarming(),
        )
    }

    pub fn group(g: &SyncGroup) -> Quiet {
        Quiet::of(
            Target::Group(g.name.to_string()),
            g.maintenance.as_deref(),
            g.ack.as_deref(),
            g.is_alarming(),
        )
    }

    fn of(me: Target, window: Option<&str>, ack: Option<&Ack>, alarming: bool) -> Quiet {
        if let Some(w) = window {
            return Quiet {
                maintenance: Some(w.to_owned()),
                mark: quiet::MAINTENANCE_MARK,
                text: quiet::in_window(w),
                ..Quiet::default()
            };
        }
        if let Some(a) = ack {
            // A member covered by its group's ack says whose ack it is.
            let text = match a.target == me {
                true => quiet::ack_line(a),
                false => format!("{}: {}", quiet::target(&a.target), quiet::ack_line(a)),
            };
            return Quiet {
                acked: Some(a.target.to_string()),
                mark: quiet::ACK_MARK,
                text,
                ..Quiet::default()
            };
        }
        Quiet {
            ack: alarming.then(|| me.to_string()),
            ..Quiet::default()
        }
    }
}

/// One sync group (or the nodes in none) as a tile.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Tile {
    /// `None`: the nodes that belong to no group.
    pub group: Option<String>,
    /// The worst status among the members: the tile's colour.
    pub status: Status,
    /// `healthy`, `unhealthy` or `pending`: the sync-group rule, which can fail
    /// with every member synced (no master, two masters).
    pub health: &'static str,
    pub members: usize,
    pub in_lock: usize,
    /// The group's problem in words, if any.
    pub problem: Option<String>,
    /// Which members are out: `wall-a-05, wall-a-06 +3 more`, or empty. On a
    /// wall, the name is what the person walking over needs.
    pub down: String,
    /// Its place on the wall, worst first (0 is the worst).
    pub rank: usize,
    /// The group's own maintenance window or ack (none for `no group`).
    pub quiet: Quiet,
}

impl Tile {
    /// The label people read: the group, or `no group`.
    pub fn label(&self) -> String {
        self.group
            .as_deref()
            .map_or_else(|| "no group".to_owned(), present::name)
    }

    fn rank_key(&self) -> (u8, u8) {
        let health = match self.health {
            "unhealthy" => 0,
            "pending" => 1,
            _ => 2,
        };
        (present::severity(self.status), health)
    }
}

/// Tiles in config order; [`worst_first`] sorts them for the wall.
pub fn tiles(snap: &Snapshot) -> Vec<Tile> {
    // Members by group in one pass: looking each member up by name would be a
    // scan of the fleet per member, quadratic in a 10,000-node fleet.
    let mut by_group: std::collections::HashMap<&str, Vec<&NodeView>> =
        std::collections::HashMap::with_capacity(snap.groups.len());
    for n in &snap.nodes {
        if let Some(g) = n.group() {
            by_group.entry(g).or_default().push(n);
        }
    }
    let mut out: Vec<Tile> = snap
        .groups
        .iter()
        .map(|g| {
            let members: Vec<&NodeView> = by_group.remove(&*g.name).unwrap_or_default();
            let (status, in_lock) = worst(members.iter().copied());
            Tile {
                group: Some(g.name.to_string()),
                status,
                health: match &g.health {
                    GroupHealth::Healthy => "healthy",
                    GroupHealth::Pending => "pending",
                    GroupHealth::Unhealthy(_) => "unhealthy",
                },
                members: g.members.len(),
                in_lock,
                problem: present::group_health(&g.health),
                down: down(&members),
                rank: 0,
                quiet: Quiet::group(g),
            }
        })
        .collect();
    // What is left are groups watched only in part (`--node`), with no group
    // rule: a tile each, judged like the nodes in no group, in the order the
    // fleet lists them (a group's tile is taken at its first member).
    if !by_group.is_empty() {
        for n in &snap.nodes {
            if let Some(g) = n.group()
                && let Some(members) = by_group.remove(g)
            {
                out.push(loose_tile(Some(g.to_owned()), &members));
            }
        }
    }
    let loose: Vec<&NodeView> = snap.nodes.iter().filter(|n| n.group.is_none()).collect();
    if !loose.is_empty() {
        out.push(loose_tile(None, &loose));
    }
    let mut order: Vec<usize> = (0..out.len()).collect();
    order.sort_by(|&a, &b| compare(&out[a], &out[b]));
    for (rank, i) in order.into_iter().enumerate() {
        out[i].rank = rank;
    }
    out
}

/// A tile of nodes judged each on its own: those in no group, or the members
/// of a group watched only in part.
fn loose_tile(group: Option<String>, members: &[&NodeView]) -> Tile {
    let (status, in_lock) = worst(members.iter().copied());
    let unhealthy = members.iter().filter(|n| n.status.is_problem()).count();
    Tile {
        group,
        status,
        health: if unhealthy > 0 {
            "unhealthy"
        } else if in_lock < members.len() {
            "pending"
        } else {
            "healthy"
        },
        members: members.len(),
        in_lock,
        problem: (unhealthy > 0)
            .then(|| format!("{unhealthy} of {} nodes unhealthy", members.len())),
        down: down(members),
        rank: 0,
        quiet: Quiet::default(),
    }
}

fn compare(a: &Tile, b: &Tile) -> std::cmp::Ordering {
    a.rank_key()
        .cmp(&b.rank_key())
        .then_with(|| a.group.cmp(&b.group))
}

/// Worst first: by the worst member's status, then unhealthy before pending
/// before healthy, then by name.
pub fn worst_first(tiles: &mut [Tile]) {
    tiles.sort_by_key(|t| t.rank);
}

/// Members shown by name on a tile at most.
const DOWN_NAMES: usize = 3;

fn down(members: &[&NodeView]) -> String {
    let out: Vec<&str> = members
        .iter()
        .filter(|n| n.status.is_problem())
        .map(|n| n.name())
        .collect();
    let mut text: Vec<String> = out
        .iter()
        .take(DOWN_NAMES)
        .map(|n| present::name(n))
        .collect();
    if out.len() > DOWN_NAMES {
        text.push(format!("+{} more", out.len() - DOWN_NAMES));
    }
    text.join(", ")
}

fn worst<'a>(members: impl Iterator<Item = &'a NodeView>) -> (Status, usize) {
    members.fold((Status::Synced, 0), |(w, ok), n| {
        let w = if present::severity(n.status) < present::severity(w) {
            n.status
        } else {
            w
        };
        (w, ok + usize::from(n.status.is_healthy()))
    })
}

/// `CRITICAL · 3 of 28 nodes unhealthy · 1 group unhealthy · 2 acknowledged ·
/// 4 in maintenance`.
pub fn headline(snap: &Snapshot) -> String {
    let total = snap.counts.total();
    let unhealthy = unhealthy_nodes(snap);
    let mut out = snap.verdict.as_str().to_owned();
    if unhealthy == 0 {
        out.push_str(&format!(" · all {total} nodes"));
        if snap.counts.get(Status::Pending) > 0 {
            out.push_str(&format!(
                " · {} waiting for a first result",
                snap.counts.get(Status::Pending)
            ));
        }
    } else {
        out.push_str(&format!(" · {unhealthy} of {total} nodes unhealthy"));
    }
    let bad_groups = snap
        .groups
        .iter()
        .filter(|g| matches!(g.health, GroupHealth::Unhealthy(_)))
        .count();
    match bad_groups {
        0 => {}
        1 => out.push_str(" · 1 group unhealthy"),
        n => out.push_str(&format!(" · {n} groups unhealthy")),
    }
    match snap.acknowledged() {
        0 => {}
        n => out.push_str(&format!(" · {n} acknowledged")),
    }
    match snap.in_maintenance() {
        0 => {}
        n => out.push_str(&format!(" · {n} in maintenance")),
    }
    out
}

/// One node's row as text, exactly as the page shows it: the server renders the
/// table from these, and the `summary` event carries them for changed nodes, so
/// the page's script formats nothing itself.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cells {
    pub node: String,
    pub group: Option<String>,
    pub status: Status,
    /// `✖ free`.
    pub status_word: String,
    /// `Master (state2)`, or empty.
    pub role: String,
    pub since: String,
    /// `0.4ms`, or empty.
    pub latency: String,
    /// For sorting by latency: microseconds, or -1 without one.
    pub latency_us: i64,
    /// The valid reply as text, or empty.
    pub reply: String,
    pub error: String,
    pub flapping: bool,
    pub quiet: Quiet,
}

impl Cells {
    pub fn new(n: &NodeView) -> Cells {
        Cells {
            node: n.name().to_owned(),
            group: n.group().map(str::to_owned),
            status: n.status,
            status_word: present::status_word(n.status),
            role: present::role_code(n),
            since: present::rfc3339(n.since),
            latency: n.latency().map(present::format_latency).unwrap_or_default(),
            latency_us: n
                .latency()
                .map_or(-1, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX)),
            reply: present::reply_text(n),
            error: n.error().unwrap_or_default(),
            flapping: n.flapping,
            quiet: Quiet::node(n),
        }
    }
}

/// Rows a `summary` carries at most; past that (a storm) the page keeps the
/// statuses from the transitions and the other cells until it is reloaded.
pub const SUMMARY_ROWS: usize = 2000;

/// The `summary` event: the verdict, counts, tiles and the changed nodes' rows,
/// for the page to patch after a batch of transitions.
#[derive(Serialize)]
pub struct Summary {
    pub checked_at: String,
    pub verdict: Verdict,
    pub headline: String,
    pub counts: String,
    pub total: usize,
    /// Nodes in a problem status (not pending).
    pub unhealthy: usize,
    /// Unhealthy nodes and groups nobody acknowledged and not in maintenance:
    /// what the alarm sounds for.
    pub alarming: usize,
    pub tiles: Vec<Tile>,
    pub rows: Vec<Cells>,
    /// More nodes changed than [`SUMMARY_ROWS`].
    pub rows_truncated: bool,
}

impl Summary {
    /// `changed`: the nodes whose rows to include (`None`: every node).
    pub fn new(snap: &Snapshot, changed: Option<&std::collections::HashSet<String>>) -> Summary {
        let total = snap.counts.total();
        let mut rows: Vec<Cells> = snap
            .nodes
            .iter()
            .filter(|n| changed.is_none_or(|c| c.contains(n.name())))
            .take(SUMMARY_ROWS + 1)
            .map(Cells::new)
            .collect();
        let rows_truncated = changed.is_some() && rows.len() > SUMMARY_ROWS;
        if changed.is_some() {
            rows.truncate(SUMMARY_ROWS);
        }
        Summary {
            checked_at: checked_at(snap.taken_at),
            verdict: snap.verdict,
            headline: headline(snap),
            counts: present::summary_line(&snap.counts),
            total,
            unhealthy: unhealthy_nodes(snap),
            alarming: snap.alarming(),
            tiles: tiles(snap),
            rows,
            rows_truncated,
        }
    }
}

/// Nodes in a problem status (pending is not one).
pub fn unhealthy_nodes(snap: &Snapshot) -> usize {
    let total = snap.counts.total();
    total - snap.counts.healthy() - snap.counts.get(Status::Pending)
}

/// The status words and symbols, for the page's script: it shows what the server
/// says a status looks like instead of keeping a copy of the rule.
pub fn status_words() -> String {
    let mut map = serde_json::Map::new();
    for s in Status::ALL {
        map.insert(
            s.as_str().into(),
            serde_json::json!({ "symbol": present::symbol(s), "severity": present::severity(s) }),
        );
    }
    serde_json::Value::Object(map).to_string()
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use super::*;
    use crate::config::Config;
    use crate::state::Fleet;

    fn snap(text: &str) -> Snapshot {
        let config = Config::parse(text, "t").expect("valid");
        Fleet::new(&config, SystemTime::now()).snapshot(SystemTime::now())
    }

    #[test]
    fn a_pending_fleet_has_pending_tiles_and_an_ok_headline() {
        let s = snap(
            "[[node]]\nname=\"a\"\nhost=\"h\"\ngroup=\"g\"\n[[node]]\nname=\"b\"\nhost=\"h\"\n",
        );
        let t = tiles(&s);
        assert_eq!(t.len(), 2);
        assert_eq!(t[0].group.as_deref(), Some("g"));
        assert_eq!((t[0].status, t[0].health), (Status::Pending, "pending"));
        assert_eq!((t[1].group.as_deref(), t[1].members), (None, 1));
        assert_eq!(t[1].label(), "no group");
        assert_eq!(
            headline(&s),
            "OK · all 2 nodes · 2 waiting for a first result"
        );
        let words: serde_json::Value = serde_json::from_str(&status_words()).expect("json");
        assert_eq!(words["free"]["symbol"], "✖");
        assert_eq!(words["synced"]["severity"], 6);
    }

    #[test]
    fn a_group_watched_in_part_has_its_own_tile_and_no_group_rule() {
        let text = "[[node]]\nname=\"m\"\nhost=\"h\"\ngroup=\"g\"\n\
                    [[node]]\nname=\"s\"\nhost=\"h\"\ngroup=\"g\"\n\
                    [[node]]\nname=\"x\"\nhost=\"h\"\n";
        let config = crate::config::Selection {
            nodes: vec!["s".into(), "x".into()],
            ..Default::default()
        }
        .apply(Config::parse(text, "t").expect("valid"))
        .expect("selected");
        let s = Fleet::new(&config, SystemTime::now()).snapshot(SystemTime::now());
        assert!(s.groups.is_empty(), "no group rule for half a group");
        let t = tiles(&s);
        let seen: Vec<_> = t.iter().map(|t| (t.label(), t.members)).collect();
        assert_eq!(seen, [("g".to_owned(), 1), ("no group".to_owned(), 1)]);
    }
}

//! Which part of the fleet this run watches: `--node`/`--group` filters (one
//! Nagios service per wall from one fleet file) and the shard (one of N
//! instances sharing one file). Applied to a validated [`Config`] at start and
//! after every reload, so a reload never widens a filtered or sharded monitor.
//!
//! A sync group is never split: in a sharded run a grouped node is placed by its
//! group's name, so the group rule (exactly one Master) sees every member. A
//! node's own `shard = K` overrides the hash; a push node must have one, because
//! only the instance its `ServerIP` names ever hears from it.

use std::collections::HashMap;
use std::sync::Arc;

use super::{Config, Mode, NodeConfig};
use crate::model::Shard;
use crate::model::shard::shard_of;

/// The part of the fleet to watch. The default keeps every node (and the
/// file's `[shard]`, if any).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selection {
    /// `--shard K/N`: overrides the file's `[shard]`.
    pub shard: Option<Shard>,
    /// `--node GLOB` (repeatable): nodes by name.
    pub nodes: Vec<String>,
    /// `--group GLOB` (repeatable): the members of matching sync groups.
    pub groups: Vec<String>,
}

/// Why a selection cannot be applied. Exit 3.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SelectionError {
    #[error("--{flag} {glob:?}: invalid glob: {reason}")]
    BadGlob {
        flag: &'static str,
        glob: String,
        reason: String,
    },
    #[error("--{flag} {glob:?} matches no {what} in {file}{detail}")]
    NoMatch {
        flag: &'static str,
        glob: String,
        what: &'static str,
        file: String,
        /// ` (shard 2/4)` when the shard left it out, and `; did you mean
        /// "wall-A"?` when a name is near.
        detail: String,
    },
    #[error(
        "{file}: push node {node:?} has no shard key; with sharding on, give each push node \
         `shard = K`, the instance its ServerIP names (push nodes report to one instance only)"
    )]
    PushUnpinned { file: String, node: String },
    #[error("{file}: node {node:?} has shard = {pin}, but there are only {count} shards")]
    PinOutOfRange {
        file: String,
        node: String,
        pin: u32,
        count: u32,
    },
    #[error(
        "{file}: sync group {group:?} would be split across shards {a} and {b}; pin its \
         members to one shard (a group's rule needs every member on one instance)"
    )]
    SplitGroup {
        file: String,
        group: String,
        a: u32,
        b: u32,
    },
}

impl Selection {
    /// The shard in force for `config`: `--shard`, else the file's `[shard]`.
    pub fn shard_for(&self, config: &Config) -> Option<Shard> {
        self.shard.or(config.shard)
    }

    /// `config` narrowed to this selection. Every glob must match a node (in the
    /// shard). A shard may be left with no nodes.
    pub fn apply(&self, mut config: Config) -> Result<Config, SelectionError> {
        let shard = self.shard_for(&config);
        config.shard = shard;
        config.selection = self.clone();
        if let Some(shard) = shard {
            let keep: Vec<bool> = {
                let owners = owners(&config, shard.count)?;
                config
                    .nodes
                    .iter()
                    .map(|n| owners.get(n.name.as_str()) == Some(&shard.index))
                    .collect()
            };
            let mut keep = keep.into_iter();
            // A shard may be empty (a few large walls over many instances): its
            // instance still runs and reports itself, so a missing instance is
            // told apart from an idle one. `--once` refuses to check nothing.
            config.nodes.retain(|_| keep.next().unwrap_or(false));
        }
        if self.nodes.is_empty() && self.groups.is_empty() {
            return Ok(config);
        }
        let within = shard.map(|s| format!(" (shard {s})")).unwrap_or_default();
        let by_name = matchers("node", &self.nodes)?;
        let by_group = matchers("group", &self.groups)?;
        let mut used_name = vec![false; by_name.len()];
        let mut used_group = vec![false; by_group.len()];
        let mut keep = Vec::with_capacity(config.nodes.len());
        for n in &config.nodes {
            let mut hit = false;
            for (i, m) in by_name.iter().enumerate() {
                if m.is_match(&n.name) {
                    used_name[i] = true;
                    hit = true;
                }
            }
            if let Some(g) = &n.group {
                for (i, m) in by_group.iter().enumerate() {
                    if m.is_match(g) {
                        used_group[i] = true;
                        hit = true;
                    }
                }
            }
            if hit {
                keep.push(Arc::clone(n));
            }
        }
        let unmatched =
            |flag: &'static str, what: &'static str, globs: &[String], used: &[bool]| {
                globs.iter().zip(used).find(|(_, u)| !**u).map(|(g, _)| {
                    let candidates: Vec<&str> = match what {
                        "node" => config.nodes.iter().map(|n| n.name.as_str()).collect(),
                        _ => {
                            let mut v: Vec<&str> = config
                                .nodes
                                .iter()
                                .filter_map(|n| n.group.as_deref())
                                .collect();
                            v.sort_unstable();
                            v.dedup();
                            v
                        }
                    };
                    let hint = super::values::closest(g, candidates)
                        .map(|c| format!("; did you mean {c:?}?"))
                        .unwrap_or_default();
                    SelectionError::NoMatch {
                        flag,
                        glob: g.clone(),
                        what,
                        file: config.source.clone(),
                        detail: format!("{within}{hint}"),
                    }
                })
            };
        if let Some(e) = unmatched("node", "node", &self.nodes, &used_name)
            .or_else(|| unmatched("group", "sync group", &self.groups, &used_group))
        {
            return Err(e);
        }
        // The file's push nodes left out are not "unlisted" when they push here.
        let kept: std::collections::HashSet<&str> = keep.iter().map(|n| n.name.as_str()).collect();
        config.set_aside = config
            .nodes
            .iter()
            .filter(|n| n.mode == Mode::Push && !kept.contains(n.name.as_str()))
            .filter_map(|n| n.host.parse().ok())
            .collect();
        // A group is judged on all its members (exactly one Master): a node
        // chosen without the rest of its group is checked on its own. It keeps
        // the group's name, so windows and notification routes by group still
        // match it; the fleet skips the group rule for these groups.
        let mut whole: HashMap<&str, (usize, usize)> = HashMap::new();
        for n in &config.nodes {
            if let Some(g) = n.group.as_deref() {
                whole.entry(g).or_default().0 += 1;
            }
        }
        for n in &keep {
            if let Some(g) = n.group.as_deref() {
                whole.entry(g).or_default().1 += 1;
            }
        }
        config.partial_groups = whole
            .into_iter()
            .filter(|(_, (all, kept))| 0 < *kept && kept < all)
            .map(|(g, _)| g.to_owned())
            .collect();
        config.nodes = keep;
        Ok(config)
    }
}

fn matchers(
    flag: &'static str,
    globs: &[String],
) -> Result<Vec<globset::GlobMatcher>, SelectionError> {
    globs
        .iter()
        .map(|g| {
            globset::Glob::new(g)
                .map(|g| g.compile_matcher())
                .map_err(|e| SelectionError::BadGlob {
                    flag,
                    glob: g.clone(),
                    reason: e.kind().to_string(),
                })
        })
        .collect()
}

/// The shard (1..=count) of every node, by name. A grouped node goes with its
/// group: its members' pin if one has one, else the hash of the group's name.
fn owners(config: &Config, count: u32) -> Result<HashMap<&str, u32>, SelectionError> {
    let source = || config.source.clone();
    let mut group_pin: HashMap<&str, (u32, &str)> = HashMap::new();
    for n in &config.nodes {
        let Some(pin) = n.shard else {
            if n.mode == Mode::Push {
                return Err(SelectionError::PushUnpinned {
                    file: source(),
                    node: n.name.clone(),
                });
            }
            continue;
        };
        if pin == 0 || pin > count {
            return Err(SelectionError::PinOutOfRange {
                file: source(),
                node: n.name.clone(),
                pin,
                count,
            });
        }
        if let Some(g) = n.group.as_deref()
            && let Some((other, _)) = group_pin.insert(g, (pin, &n.name))
            && other != pin
        {
            return Err(SelectionError::SplitGroup {
                file: source(),
                group: g.to_owned(),
                a: other.min(pin),
                b: other.max(pin),
            });
        }
    }
    Ok(config
        .nodes
        .iter()
        .map(|n| (n.name.as_str(), owner(n, count, &group_pin)))
        .collect())
}

fn owner(n: &NodeConfig, count: u32, group_pin: &HashMap<&str, (u32, &str)>) -> u32 {
    if let Some(pin) = n.shard {
        return pin;
    }
    match n.group.as_deref() {
        Some(g) => group_pin
            .get(g)
            .map_or_else(|| shard_of(g, count), |(pin, _)| *pin),
        None => shard_of(&n.name, count),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn fleet(nodes: &[(&str, Option<&str>, bool, Option<u32>)]) -> Config {
        let mut text = String::new();
        for (i, (name, group, push, pin)) in nodes.iter().enumerate() {
            text.push_str(&format!(
                "[[node]]\nname = {name:?}\nhost = \"10.0.{}.{}\"\n",
                i / 200,
                i % 200 + 1
            ));
            if let Some(g) = group {
                text.push_str(&format!("group = {g:?}\n"));
            }
            if *push {
                text.push_str("mode = \"push\"\n");
            }
            let _ = pin;
        }
        let mut c = Config::parse(&text, "fleet.toml").expect("valid");
        // Pins are set directly: this tests the selection, not the key's parser.
        for (n, (_, _, _, pin)) in c.nodes.iter_mut().zip(nodes) {
            Arc::make_mut(n).shard = *pin;
        }
        c
    }

    fn names(c: &Config) -> Vec<&str> {
        c.nodes.iter().map(|n| n.name.as_str()).collect()
    }

    #[test]
    fn filters_take_globs_union_and_refuse_no_match() {
        let c = fleet(&[
            ("wall-a-01", Some("wall-A"), false, None),
            ("wall-a-02", Some("wall-A"), false, None),
            ("wall-b-01", Some("wall-B"), false, None),
            ("led-01", None, false, None),
        ]);
        let sel = |nodes: &[&str], groups: &[&str]| Selection {
            shard: None,
            nodes: nodes.iter().map(|s| s.to_string()).collect(),
            groups: groups.iter().map(|s| s.to_string()).collect(),
        };
        let got = sel(&[], &["wall-A"]).apply(c.clone()).expect("ok");
        assert_eq!(names(&got), ["wall-a-01", "wall-a-02"]);
        let got = sel(&["led-*"], &["wall-?"]).apply(c.clone()).expect("ok");
        assert_eq!(
            names(&got),
            ["wall-a-01", "wall-a-02", "wall-b-01", "led-01"]
        );
        let e = sel(&[], &["wall-C"]).apply(c.clone()).expect_err("none");
        assert_eq!(
            e.to_string(),
            "--group \"wall-C\" matches no sync group in fleet.toml; did you mean \"wall-A\"?"
        );
        let e = sel(&["wall-a-01", "nope-*"], &[])
            .apply(c.clone())
            .expect_err("none");
        assert_eq!(
            e.to_string(),
            "--node \"nope-*\" matches no node in fleet.toml"
        );
        let e = sel(&["[x"], &[]).apply(c).expect_err("bad glob");
        assert!(
            e.to_string().starts_with("--node \"[x\": invalid glob"),
            "{e}"
        );
    }

    #[test]
    fn a_node_chosen_without_its_group_is_checked_on_its_own() {
        let c = fleet(&[
            ("m", Some("wall"), false, None),
            ("s", Some("wall"), false, None),
            ("x", Some("other"), false, None),
        ]);
        let sel = |nodes: &[&str]| Selection {
            nodes: nodes.iter().map(|s| s.to_string()).collect(),
            ..Selection::default()
        };
        // Only the Slave: it keeps its group's name, but the group is partial,
        // so no "no Master" for a healthy wall.
        let got = sel(&["s"]).apply(c.clone()).expect("ok");
        assert_eq!(got.nodes[0].group.as_deref(), Some("wall"));
        assert_eq!(Vec::from_iter(&got.partial_groups), ["wall"]);
        // The whole group: the group rule applies.
        let got = sel(&["m", "s"]).apply(c).expect("ok");
        assert!(got.nodes.iter().all(|n| n.group.as_deref() == Some("wall")));
        assert!(got.partial_groups.is_empty());
    }

    #[test]
    fn push_nodes_left_out_are_set_aside_not_unlisted() {
        let c = fleet(&[
            ("a", Some("A"), true, None),
            ("b", Some("B"), true, None),
            ("poll", None, false, None),
        ]);
        let got = Selection {
            groups: vec!["A".into()],
            ..Selection::default()
        }
        .apply(c)
        .expect("ok");
        assert_eq!(names(&got), ["a"]);
        // b's IP (the second node's host in `fleet`).
        assert_eq!(
            got.set_aside,
            ["10.0.0.2".parse::<std::net::IpAddr>().expect("ip")]
        );
    }

    #[test]
    fn push_nodes_need_a_pin_and_groups_stay_whole() {
        let two = Shard::new(1, 2).expect("shard");
        let sel = Selection {
            shard: Some(two),
            ..Selection::default()
        };
        let c = fleet(&[("a", None, false, None), ("p", None, true, None)]);
        let e = sel.apply(c).expect_err("unpinned push");
        assert!(matches!(e, SelectionError::PushUnpinned { .. }), "{e}");
        let c = fleet(&[("a", None, false, Some(3))]);
        let e = sel.apply(c).expect_err("pin > count");
        assert!(e.to_string().contains("only 2 shards"), "{e}");
        let c = fleet(&[
            ("a", Some("g"), false, Some(1)),
            ("b", Some("g"), false, Some(2)),
        ]);
        let e = sel.apply(c).expect_err("split group");
        assert!(e.to_string().contains("split across shards 1 and 2"), "{e}");
        // One pinned member carries the whole group.
        let c = fleet(&[
            ("a", Some("g"), true, Some(2)),
            ("b", Some("g"), false, None),
            ("c", None, false, Some(1)),
        ]);
        let got = Selection {
            shard: Some(Shard::new(2, 2).expect("shard")),
            ..Selection::default()
        }
        .apply(c)
        .expect("ok");
        assert_eq!(names(&got), ["a", "b"]);
    }

    proptest! {
        /// Shards 1..N of any fleet (names, groups, pins) partition it: every
        /// node is in exactly one shard, and no group is split.
        #[test]
        fn shards_partition_any_fleet(
            raw in proptest::collection::vec(
                (proptest::option::of(0u8..6), proptest::option::of(1u32..=5)), 1..120),
            count in 1u32..=5,
        ) {
            let names: Vec<String> = (0..raw.len()).map(|i| format!("node-{i:03}")).collect();
            let groups: Vec<Option<String>> =
                raw.iter().map(|(g, _)| g.map(|g| format!("group-{g}"))).collect();
            // Pins within range; within a group, every pinned member agrees.
            let mut group_pin: HashMap<String, u32> = HashMap::new();
            let pins: Vec<Option<u32>> = raw.iter().zip(&groups).map(|((_, p), g)| {
                let p = p.map(|p| (p - 1) % count + 1);
                match (p, g) {
                    (Some(p), Some(g)) => Some(*group_pin.entry(g.clone()).or_insert(p)),
                    (p, _) => p,
                }
            }).collect();
            let spec: Vec<(&str, Option<&str>, bool, Option<u32>)> = names.iter().enumerate()
                .map(|(i, n)| (n.as_str(), groups[i].as_deref(), false, pins[i]))
                .collect();
            let c = fleet(&spec);
            let mut seen: HashMap<String, u32> = HashMap::new();
            let mut group_shard: HashMap<String, u32> = HashMap::new();
            for k in 1..=count {
                let sel = Selection { shard: Some(Shard::new(k, count).expect("shard")), ..Selection::default() };
                match sel.apply(c.clone()) {
                    Ok(part) => for n in &part.nodes {
                        *seen.entry(n.name.clone()).or_default() += 1;
                        if let Some(g) = &n.group {
                            let first = *group_shard.entry(g.clone()).or_insert(k);
                            prop_assert_eq!(first, k, "group {} split", g);
                        }
                    },
                    Err(e) => return Err(TestCaseError::fail(e.to_string())),
                }
            }
            prop_assert_eq!(seen.len(), c.nodes.len());
            prop_assert!(seen.values().all(|v| *v == 1));
        }
    }
}

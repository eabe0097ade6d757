//! Sharding end to end with the real binary: `--shard K/N` splits one fleet file
//! between N runs so that every node is watched by exactly one, a sync group stays
//! whole, bad shards and unpinned push nodes are refused (exit 3), and a sharded
//! `watch` labels its metrics and its status with the shard. Simulated nodes run
//! in this process on 127.0.0.1.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::Value;
use syncguard_fleet::model::shard::shard_of;

use common::bin::{Proc, assert_code, bin, once};
use common::lab::Lab;
use common::net::{free_port, http_get};

const FAST: &str = "timeout = \"1s\"";
const SHARDS: u32 = 3;

/// The names of the nodes in a `--once --format json` document.
fn names(doc: &Value) -> BTreeSet<String> {
    doc["nodes"]
        .as_array()
        .expect("nodes is an array")
        .iter()
        .map(|n| n["name"].as_str().expect("a name").to_owned())
        .collect()
}

/// 12 synced and 3 free ungrouped nodes, and a sync group `wall` of 3 synced
/// members. The free nodes are the first three names that hash to shard 1, so
/// shard 1 is CRITICAL and the others are OK, whatever the split of the rest.
struct Fleet {
    lab: Lab,
    all: BTreeSet<String>,
    free: BTreeSet<String>,
    wall: BTreeSet<String>,
}

fn fleet() -> Fleet {
    let loose: Vec<String> = (1..=15).map(|i| format!("render-{i:02}")).collect();
    let free: BTreeSet<String> = loose
        .iter()
        .filter(|n| shard_of(n, SHARDS) == 1)
        .take(3)
        .cloned()
        .collect();
    assert_eq!(free.len(), 3, "three of 15 names hash to shard 1");
    let wall: BTreeSet<String> = (1..=3).map(|i| format!("wall-{i}")).collect();
    let mut spec: Vec<(&str, &str, Option<&str>)> = loose
        .iter()
        .map(|n| {
            let b = if free.contains(n) { "free" } else { "synced" };
            (n.as_str(), b, None)
        })
        .collect();
    spec.extend(wall.iter().map(|n| (n.as_str(), "synced", Some("wall"))));
    let lab = Lab::new(&spec);
    let all = loose.iter().chain(&wall).cloned().collect();
    Fleet {
        lab,
        all,
        free,
        wall,
    }
}

#[test]
fn every_node_is_in_exactly_one_shard() {
    let f = fleet();
    let file = f.lab.fleet("f.toml", FAST);
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let mut codes = Vec::new();
    for k in 1..=SHARDS {
        let r = once(
            &file,
            &["--shard", &format!("{k}/{SHARDS}"), "--format", "json"],
        );
        let doc: Value = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("shard {k}: {e}\n{}\n{}", r.stdout, r.stderr));
        let mine = names(&doc);
        assert!(!mine.is_empty(), "shard {k} is empty");
        assert_eq!(
            doc["shard"],
            format!("{k}/{SHARDS}"),
            "the document names its shard"
        );
        for n in &mine {
            if let Some(other) = seen.insert(n.clone(), k) {
                panic!("{n} is in shards {other} and {k}");
            }
            // Ungrouped nodes go by their own name's hash.
            if !f.wall.contains(n) {
                assert_eq!(shard_of(n, SHARDS), k, "{n} placed by its name");
            }
        }
        // CRITICAL exactly where a free node is watched.
        let has_free = mine.iter().any(|n| f.free.contains(n));
        let want = if has_free { 2 } else { 0 };
        assert_code(&r, want);
        codes.push(r.code);
    }
    let union: BTreeSet<String> = seen.keys().cloned().collect();
    assert_eq!(union, f.all, "the shards together are the fleet");
    assert_eq!(codes[0], 2, "the free nodes are in shard 1");
    assert!(codes[1..].iter().all(|c| *c == 0), "{codes:?}");
    // The group stays whole, in the shard its name hashes to.
    let wall_shard = shard_of("wall", SHARDS);
    for n in &f.wall {
        assert_eq!(seen[n], wall_shard, "{n} is with its group");
    }
}

#[test]
fn a_shard_that_does_not_exist_is_refused() {
    let f = fleet();
    let file = f.lab.fleet("f.toml", FAST);
    for (bad, want) in [
        ("4/3", "shard 4 of 3 does not exist"),
        ("0/3", "shard 0 of 3 does not exist"),
        ("3", "expected K/N"),
    ] {
        let r = once(&file, &["--shard", bad]);
        assert_code(&r, 3);
        assert!(r.stderr.contains(want), "--shard {bad}: {}", r.stderr);
        assert!(r.stdout.is_empty(), "--shard {bad}: {}", r.stdout);
    }
}

#[test]
fn a_push_node_must_be_pinned_to_a_shard() {
    let lab = Lab::new(&[("a", "synced", None), ("b", "synced", None)]);
    let poll = lab.nodes_toml(&["a", "b"]);
    let listen = "[listen]\nbind = [\"127.0.0.1:0\"]\n";
    let push = "[[node]]\nname = \"led\"\nhost = \"10.0.0.7\"\nmode = \"push\"\n";
    let file = lab.write("push.toml", &format!("{listen}\n{poll}\n{push}"));
    let r = once(&file, &["--shard", "1/2"]);
    assert_code(&r, 3);
    assert!(
        r.stderr.contains("push node \"led\" has no shard key"),
        "{}",
        r.stderr
    );
    // Without sharding the same file is fine (led has not pushed yet: pending).
    let r = once(&file, &["--format", "json"]);
    assert_ne!(r.code, 3, "{}", r.stderr);

    // Pinned, it is in its shard only, and a poll node takes its place elsewhere.
    let pinned = lab.write(
        "pinned.toml",
        &format!("{listen}\n{poll}\n{push}shard = 2\n"),
    );
    let r = once(&pinned, &["--shard", "1/2", "--format", "json"]);
    let doc: Value =
        serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stderr));
    assert!(!names(&doc).contains("led"), "{doc}");
}

/// `watch --shard 2/3 --http`: every sample on /metrics carries `shard="2/3"`,
/// `syncguard_shard_count` is 3, and the status document names the shard.
#[test]
fn a_sharded_watch_labels_its_metrics() {
    let f = fleet();
    let file = f.lab.fleet("f.toml", FAST);
    let port = free_port();
    let proc = Proc::spawn(
        bin()
            .arg("--config")
            .arg(&file)
            .args(["--http", &format!("127.0.0.1:{port}")])
            .args(["watch", "--shard", "2/3"]),
    );
    let mut body = String::new();
    let ready = common::wait_until(Duration::from_secs(15), || {
        match http_get(port, "/metrics") {
            // Every node of the shard has answered (none is pending).
            Some(r) if r.starts_with("HTTP/1.1 200") && r.contains("syncguard_node_status{") => {
                body = r;
                !body
                    .lines()
                    .any(|l| l.starts_with("syncguard_node_status{") && l.contains("\"pending\""))
            }
            _ => false,
        }
    });
    assert!(
        ready,
        "no /metrics on port {port}\n{body}\nstderr:\n{}",
        proc.stderr()
    );
    let (_, text) = body.split_once("\r\n\r\n").expect("headers, then the body");
    let samples: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert!(samples.len() > 10, "{text}");
    for line in &samples {
        assert!(line.contains(r#"shard="2/3""#), "no shard label: {line}");
    }
    assert!(
        samples
            .iter()
            .any(|l| l.starts_with("syncguard_shard_count{") && l.ends_with(" 3")),
        "{text}"
    );
    // Only this shard's nodes are exposed.
    for line in samples
        .iter()
        .filter(|l| l.starts_with("syncguard_node_status{"))
    {
        let node = line
            .split("node=\"")
            .nth(1)
            .and_then(|r| r.split('"').next())
            .expect("a node label");
        let placed_by = if f.wall.contains(node) { "wall" } else { node };
        assert_eq!(shard_of(placed_by, SHARDS), 2, "{line}");
    }

    let status = http_get(port, "/api/v1/status").expect("status answers");
    let (_, json) = status
        .split_once("\r\n\r\n")
        .expect("headers, then the body");
    let doc: Value = serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: {json}"));
    assert_eq!(doc["shard"], "2/3", "{doc}");
    proc.stop();
}

/// examples/prometheus/fleet.toml, the file prometheus.yml's three instances
/// share: each `--shard K/3` has nodes, together they are the file, the push
/// wall is pinned to shard 3 and the poll wall stays whole.
#[test]
fn the_example_fleet_splits_into_three_shards() {
    use syncguard_fleet::config::{Config, Selection};
    use syncguard_fleet::model::Shard;
    let path =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus/fleet.toml");
    let whole = Config::load(&path).expect("the example is valid");
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    for k in 1..=SHARDS {
        let part = Selection {
            shard: Some(Shard::new(k, SHARDS).expect("shard")),
            ..Selection::default()
        }
        .apply(whole.clone())
        .unwrap_or_else(|e| panic!("shard {k}: {e}"));
        assert_eq!(part.shard.map(|s| s.label()), Some(format!("{k}/{SHARDS}")));
        for n in &part.nodes {
            assert!(seen.insert(n.name.clone(), k).is_none(), "{} twice", n.name);
        }
    }
    let all: BTreeSet<String> = whole.nodes.iter().map(|n| n.name.clone()).collect();
    assert_eq!(seen.keys().cloned().collect::<BTreeSet<_>>(), all);
    for n in &whole.nodes {
        match n.group.as_deref() {
            Some("wall-B") => assert_eq!(seen[&n.name], 3, "{} is pinned", n.name),
            Some(g) => assert_eq!(seen[&n.name], shard_of(g, SHARDS), "{}", n.name),
            None => assert_eq!(seen[&n.name], shard_of(&n.name, SHARDS), "{}", n.name),
        }
    }
}

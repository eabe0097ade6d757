//! Tests of `/metrics`: the exposition of a real fleet's snapshot (values, series per
//! node, a real parser, odd names) and the HTTP server on loopback.

use std::io::Write as _;
use std::net::{Ipv4Addr, SocketAddr};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::render;
use crate::config::Config;
use crate::model::{Observation, Outcome, Status, TimeoutPhase};
use crate::protocol::{PushLine, Reply, ReportedIp};
use crate::state::{Fleet, LATENCY_BUCKETS, Snapshot};

const CONFIG: &str = r#"
[listen]
bind = ["127.0.0.1:0"]
[[node]]
name = "wall-01"
host = "127.0.0.1"
group = "wall"
[[node]]
name = "wall-02"
host = "127.0.0.2"
group = "wall"
[[node]]
name = "desk"
host = "127.0.0.3"
[[node]]
name = "tv"
host = "127.0.0.4"
group = "tv"
[[node]]
name = "led-01"
host = "10.0.0.7"
mode = "push"
group = "led"
[[node]]
name = "led-02"
host = "10.0.0.8"
mode = "push"
group = "led"
[[node]]
name = "spare"
host = "127.0.0.5"
group = "cold"
"#;

fn at(secs: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(secs)
}

fn state(ip: [u8; 4], code: u8) -> Outcome {
    Outcome::Reply(Reply::State {
        reported: ReportedIp::V4(Ipv4Addr::from(ip)),
        code,
    })
}

fn timeout() -> Outcome {
    Outcome::Timeout {
        phase: TimeoutPhase::Reply,
        after: Duration::from_secs(5),
    }
}

/// Applies a poll result as the hub does; a valid reply took `ms` milliseconds.
fn poll(fleet: &mut Fleet, node: &str, secs: u64, outcome: Outcome, ms: u64) {
    let latency = outcome.reply().map(|_| Duration::from_millis(ms));
    let obs = Observation {
        at: at(secs),
        outcome,
        latency,
    };
    fleet.apply(node, obs, true);
}

/// The fleet of [`CONFIG`] after a few results: wall-01 Master (a 3 ms, then a 40 ms
/// reply), wall-02 Slave after a timeout in between, desk Free, tv timed out,
/// led-01/02 pushed Master and Slave, spare still pending, and one unlisted sender.
fn scenario(text: &str) -> Fleet {
    let cfg = Config::parse(text, "t.toml").expect("config");
    let mut fleet = Fleet::new(&cfg, at(0));
    poll(&mut fleet, "wall-01", 1, state([127, 0, 0, 1], 2), 3);
    poll(&mut fleet, "wall-01", 2, state([127, 0, 0, 1], 2), 40);
    poll(&mut fleet, "wall-02", 1, state([127, 0, 0, 2], 1), 3);
    poll(&mut fleet, "wall-02", 2, timeout(), 0);
    poll(&mut fleet, "wall-02", 3, state([127, 0, 0, 2], 1), 3);
    poll(&mut fleet, "desk", 1, Outcome::Reply(Reply::Free), 3);
    poll(&mut fleet, "tv", 1, timeout(), 0);
    let peer = SocketAddr::from(([10, 0, 0, 7], 40000));
    fleet.conn_opened(1, peer, at(1));
    for (ip, code) in [([10, 0, 0, 7], 2), ([10, 0, 0, 8], 1), ([10, 9, 9, 9], 1)] {
        let line = PushLine {
            reported: ReportedIp::V4(Ipv4Addr::from(ip)),
            code,
        };
        fleet.push_lines(1, peer, at(4), Ok(line), 1);
    }
    fleet
}

fn rendered(fleet: &Fleet, taken: u64, now: u64) -> String {
    render(&Arc::new(fleet.snapshot(at(taken))), at(now)).expect("render")
}

/// The value of the one sample named `name` whose labels contain every string in
/// `labels`; panics unless exactly one matches.
fn sample(text: &str, name: &str, labels: &[&str]) -> f64 {
    let found: Vec<f64> = samples(text, name, labels);
    assert_eq!(
        found.len(),
        1,
        "{name} with {labels:?}: {} samples\n{text}",
        found.len()
    );
    found[0]
}

fn samples(text: &str, name: &str, labels: &[&str]) -> Vec<f64> {
    series(text)
        .filter(|(n, rest, _)| *n == name && labels.iter().all(|want| rest.contains(want)))
        .map(|(_, _, value)| value.parse::<f64>().expect("numeric value"))
        .collect()
}

/// Every sample line as (name, labels, value).
fn series(text: &str) -> impl Iterator<Item = (&str, &str, &str)> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            // The value follows the last space; label values may hold spaces.
            let (series, value) = l.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, ""));
            Some((n, rest, value))
        })
}

#[test]
fn renders_the_fleet_state() {
    let fleet = scenario(CONFIG);
    // The snapshot is older than the scrape: the seconds-since gauges count to the
    // scrape.
    let text = rendered(&fleet, 50, 100);
    assert!(text.ends_with("# EOF\n"), "{text}");

    let desk = r#"node="desk""#;
    let wall01 = r#"node="wall-01""#;
    let wall02 = r#"node="wall-02""#;
    let led01 = r#"node="led-01""#;
    let tv = r#"node="tv""#;
    let spare = r#"node="spare""#;
    let healthy = "syncguard_node_healthy";
    assert_eq!(sample(&text, healthy, &[desk]), 0.0);
    assert_eq!(sample(&text, healthy, &[wall01]), 1.0);
    assert_eq!(sample(&text, healthy, &[led01]), 1.0);
    assert_eq!(sample(&text, healthy, &[tv]), 0.0);

    // One status series per node, for its current status only, with the node's
    // group.
    let status = "syncguard_node_status";
    let labelled = |labels: &str| sample(&text, status, &[labels]);
    // No group, no role: no empty labels either.
    assert_eq!(labelled(r#"node="desk",status="free"}"#), 1.0);
    assert_eq!(
        labelled(r#"node="wall-01",group="wall",status="synced""#),
        1.0
    );
    assert_eq!(
        labelled(r#"node="led-01",group="led",status="synced""#),
        1.0
    );
    for n in &fleet.snapshot(at(50)).nodes {
        let node = format!("node=\"{}\",", n.name());
        let mine = format!("status=\"{}\"", n.status.as_str());
        assert_eq!(samples(&text, status, &[&node]), [1.0], "{node}");
        assert_eq!(sample(&text, status, &[&node, &mine]), 1.0);
    }
    assert_eq!(sample(&text, status, &[desk, r#"status="free""#]), 1.0);
    assert_eq!(sample(&text, status, &[tv, r#"status="timeout""#]), 1.0);
    assert_eq!(sample(&text, status, &[spare, r#"status="pending""#]), 1.0);
    assert!(samples(&text, status, &[desk, r#"status="synced""#]).is_empty());

    // The role of the last reply is a label of the status series.
    let role = |node: &str, role: &str| {
        sample(
            &text,
            status,
            &[&format!("node=\"{node}\","), &format!("role=\"{role}\"")],
        )
    };
    assert_eq!(role("wall-01", "Master"), 1.0);
    assert_eq!(role("wall-02", "Slave"), 1.0);
    assert_eq!(role("led-01", "Master"), 1.0);
    assert_eq!(role("led-02", "Slave"), 1.0);
    let no_role = |node: &str| {
        let mine = format!("{status}{{node=\"{node}\",");
        let line = text.lines().find(|l| l.starts_with(&mine));
        line.is_some_and(|l| !l.contains("role="))
    };
    assert!(no_role("desk"), "Free carries no role");
    assert!(no_role("tv"), "no reply");
    assert!(no_role("spare"), "no reply");
    assert!(text.lines().all(|l| !l.starts_with("syncguard_node_role")));

    let since = "syncguard_node_reply_age_seconds";
    assert_eq!(sample(&text, since, &[desk]), 99.0);
    assert_eq!(sample(&text, since, &[wall01]), 98.0);
    assert_eq!(sample(&text, since, &[wall02]), 97.0);
    assert_eq!(sample(&text, since, &[led01]), 96.0);
    assert!(samples(&text, since, &[tv]).is_empty(), "never replied");
    assert!(samples(&text, since, &[spare]).is_empty());

    let last = "syncguard_node_latency_seconds";
    assert_eq!(sample(&text, last, &[wall01]), 0.04);
    assert_eq!(sample(&text, last, &[wall02]), 0.003);
    assert_eq!(sample(&text, last, &[desk]), 0.003);
    assert!(
        samples(&text, last, &[tv]).is_empty(),
        "last result no reply"
    );
    assert!(
        samples(&text, last, &[led01]).is_empty(),
        "push lines are not timed"
    );

    let transitions = "syncguard_node_transitions_total";
    assert_eq!(sample(&text, transitions, &[wall02]), 2.0);
    assert_eq!(sample(&text, transitions, &[wall01]), 0.0);

    // Off by default: no per-node histogram at all.
    assert!(
        !text.contains("syncguard_node_reply_latency_seconds"),
        "{text}"
    );

    // The fleet-wide histogram: 3, 40, 3, 3 and 3 ms.
    let lat = "syncguard_reply_latency_seconds";
    assert_eq!(sample(&text, &format!("{lat}_count"), &[]), 5.0);
    let sum = sample(&text, &format!("{lat}_sum"), &[]);
    assert!((sum - 0.052).abs() < 1e-9, "{sum}");
    let bucket = format!("{lat}_bucket");
    assert_eq!(sample(&text, &bucket, &[r#"le="0.0025""#]), 0.0);
    assert_eq!(sample(&text, &bucket, &[r#"le="0.005""#]), 4.0);
    assert_eq!(sample(&text, &bucket, &[r#"le="0.025""#]), 4.0);
    assert_eq!(sample(&text, &bucket, &[r#"le="0.05""#]), 5.0);
    assert_eq!(sample(&text, &bucket, &[r#"le="+Inf""#]), 5.0);
    assert_eq!(
        samples(&text, &bucket, &[]).len(),
        LATENCY_BUCKETS.len() + 1
    );

    let group = |name: &str, g: &str| sample(&text, name, &[&format!("group=\"{g}\"")]);
    assert_eq!(group("syncguard_group_healthy", "wall"), 1.0);
    assert_eq!(group("syncguard_group_healthy", "led"), 1.0);
    assert_eq!(group("syncguard_group_healthy", "tv"), 0.0);
    assert_eq!(group("syncguard_group_healthy", "cold"), 0.0, "pending");
    assert_eq!(group("syncguard_group_masters", "wall"), 1.0);
    assert_eq!(group("syncguard_group_masters", "led"), 1.0);
    // A group without roles has no Master to count: no series.
    assert!(
        samples(&text, "syncguard_group_masters", &[r#"group="tv""#]).is_empty(),
        "{text}"
    );

    let nodes = |s: &str| sample(&text, "syncguard_nodes", &[&format!("status=\"{s}\"")]);
    assert_eq!(nodes("synced"), 4.0);
    assert_eq!(nodes("free"), 1.0);
    assert_eq!(nodes("timeout"), 1.0);
    assert_eq!(nodes("pending"), 1.0);
    assert_eq!(nodes("stale"), 0.0);
    assert_eq!(
        samples(&text, "syncguard_nodes", &[]).len(),
        Status::ALL.len()
    );
    assert_eq!(sample(&text, "syncguard_verdict", &[]), 2.0, "desk is Free");

    assert_eq!(sample(&text, "syncguard_push_connections", &[]), 1.0);
    assert_eq!(sample(&text, "syncguard_push_accepted_total", &[]), 1.0);
    assert_eq!(sample(&text, "syncguard_push_lines_total", &[]), 3.0);
    assert_eq!(
        sample(&text, "syncguard_push_invalid_lines_total", &[]),
        0.0
    );
    assert_eq!(sample(&text, "syncguard_unlisted_senders", &[]), 1.0);
    let refused = "syncguard_push_refused_total";
    assert_eq!(samples(&text, refused, &[]), [0.0, 0.0, 0.0]);
    assert_eq!(sample(&text, refused, &[r#"reason="full""#]), 0.0);
    let version = format!("version=\"{}\"", env!("CARGO_PKG_VERSION"));
    assert_eq!(sample(&text, "syncguard_build_info", &[&version]), 1.0);

    // Gauges follow the state.
    let mut fleet = fleet;
    poll(&mut fleet, "desk", 150, state([127, 0, 0, 3], 1), 1);
    let text = rendered(&fleet, 150, 200);
    assert_eq!(sample(&text, healthy, &[desk]), 1.0);
    assert_eq!(sample(&text, status, &[desk, r#"status="synced""#]), 1.0);
    assert_eq!(sample(&text, since, &[desk]), 50.0);
    assert_eq!(sample(&text, last, &[desk]), 0.001);
    assert_eq!(sample(&text, transitions, &[desk]), 1.0);
    assert_eq!(sample(&text, &format!("{lat}_count"), &[]), 6.0);
    assert_eq!(sample(&text, "syncguard_verdict", &[]), 2.0, "tv timed out");
}

#[test]
fn without_a_listener_there_are_no_push_metrics() {
    // Push nodes imply a receiver, so poll nodes only.
    let cfg =
        Config::parse("[[node]]\nname = \"a\"\nhost = \"127.0.0.1\"\n", "t.toml").expect("config");
    assert!(cfg.listen.is_none());
    let text = rendered(&Fleet::new(&cfg, at(0)), 0, 1);
    assert!(text.contains("syncguard_nodes{"), "{text}");
    assert!(!text.contains("syncguard_push"), "{text}");
    assert!(!text.contains("syncguard_unlisted"), "{text}");
}

#[test]
fn per_node_histograms_when_asked_for() {
    let text = format!("[metrics]\nper_node_histograms = true\n{CONFIG}");
    let fleet = scenario(&text);
    let text = rendered(&fleet, 10, 10);
    let lat = "syncguard_node_reply_latency_seconds";
    let wall01 = r#"node="wall-01""#;
    assert_eq!(sample(&text, &format!("{lat}_count"), &[wall01]), 2.0);
    let sum = sample(&text, &format!("{lat}_sum"), &[wall01]);
    assert!((sum - 0.043).abs() < 1e-9, "{sum}");
    let bucket = format!("{lat}_bucket");
    assert_eq!(sample(&text, &bucket, &[wall01, r#"le="0.0025""#]), 0.0);
    assert_eq!(sample(&text, &bucket, &[wall01, r#"le="0.005""#]), 1.0);
    assert_eq!(sample(&text, &bucket, &[wall01, r#"le="0.05""#]), 2.0);
    assert_eq!(sample(&text, &bucket, &[wall01, r#"le="+Inf""#]), 2.0);
    assert_eq!(
        samples(&text, &bucket, &[wall01]).len(),
        LATENCY_BUCKETS.len() + 1
    );
    assert_eq!(
        sample(&text, &format!("{lat}_count"), &[r#"node="desk""#]),
        1.0
    );
    assert_eq!(
        sample(&text, &format!("{lat}_count"), &[r#"node="tv""#]),
        0.0
    );
    // The fleet-wide one is there as well.
    assert_eq!(
        sample(&text, "syncguard_reply_latency_seconds_count", &[]),
        5.0
    );
}

/// A fleet of `n` poll nodes in groups of 8 that all answered Master or Slave, as
/// a large healthy installation looks most of the time.
fn large_fleet(n: usize) -> Arc<Snapshot> {
    let mut text = String::with_capacity(n * 80);
    for i in 0..n {
        text.push_str(&format!(
            "[[node]]\nname = \"node-{i:05}\"\nhost = \"10.{}.{}.{}\"\ngroup = \"g{}\"\n",
            i / 65536,
            (i / 256) % 256,
            i % 256,
            i / 8
        ));
    }
    let cfg = Config::parse(&text, "large.toml").expect("config");
    let mut fleet = Fleet::new(&cfg, at(0));
    for (i, node) in cfg.nodes.iter().enumerate() {
        let code = if i % 8 == 0 { 2 } else { 1 };
        let outcome = state([10, 0, 0, 1], code);
        let latency = Duration::from_micros(200 + (i as u64 % 700));
        let obs = Observation {
            at: at(1) + Duration::from_micros(i as u64 * 379),
            outcome,
            latency: Some(latency),
        };
        fleet.apply(&node.name, obs, true);
    }
    Arc::new(fleet.snapshot(at(10)))
}

/// Series carrying a `node` label, per node.
fn series_per_node(text: &str, nodes: usize) -> f64 {
    let per_node = series(text)
        .filter(|(_, labels, _)| labels.starts_with("node=\""))
        .count();
    per_node as f64 / nodes as f64
}

#[test]
fn five_series_per_node_by_default() {
    let nodes = 1000;
    let snap = large_fleet(nodes);
    let text = render(&snap, at(12)).expect("render");
    let per_node = series_per_node(&text, nodes);
    assert_eq!(per_node, 5.0, "series per node");
    // Everything else is a few dozen series, whatever the fleet's size.
    let all = series(&text).count();
    let groups = nodes / 8;
    assert!(all - 5 * nodes <= 3 * groups + 40, "{all} series");
}

/// Runs `script` with the exposition on stdin and returns what it prints as JSON.
/// The interpreter is `SYNCGUARD_TEST_PYTHON` (.ci/run's virtual environment),
/// else `python3`. Without `prometheus_client` the check fails under CI, and
/// elsewhere prints one `SKIPPED:` line (past the harness's capture, for .ci/run to
/// count) and returns `None`.
fn python(test: &str, text: &str, script: &str) -> Option<serde_json::Value> {
    let python = std::env::var_os("SYNCGUARD_TEST_PYTHON")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into());
    let probe = Command::new(&python)
        .args(["-c", "import prometheus_client"])
        .output();
    if !probe.is_ok_and(|o| o.status.success()) {
        let why = "python prometheus_client not installed";
        let ci = std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0");
        assert!(
            !ci,
            "{test}: {why}; under CI this must run (.ci/run installs it)"
        );
        let _ = writeln!(std::io::stderr(), "SKIPPED: {test} ({why})");
        return None;
    }
    let mut child = Command::new(&python)
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("python runs");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write exposition");
    let out = child.wait_with_output().expect("python finishes");
    assert!(
        out.status.success(),
        "the parser rejected the exposition: {}\n{text}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(serde_json::from_slice(&out.stdout).expect("JSON from python"))
}

/// Both of prometheus_client's parsers: the OpenMetrics one (strict, for the format
/// we announce) and the classic text one.
const PARSE: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families as classic
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
text = sys.stdin.read()
out = {"families": {}, "samples": [], "classic": [], "nodes": [], "classic_nodes": []}
for f in om(text):
    out["families"][f.name] = f.type
    for s in f.samples:
        out["samples"].append(s.name)
        if s.name == "syncguard_node_status":
            out["nodes"].append([s.labels["node"], s.labels.get("group", "")])
for f in classic(text):
    for s in f.samples:
        out["classic"].append(s.name)
        if s.name == "syncguard_node_status":
            out["classic_nodes"].append([s.labels["node"], s.labels.get("group", "")])
print(json.dumps(out))
"#;

/// Every family the exposition can have, with its type; the per-node histogram only
/// with `per_node_histograms`, the push families only with `[listen]`.
const FAMILIES: [(&str, &str); 25] = [
    ("syncguard_node_healthy", "gauge"),
    ("syncguard_node_maintenance", "gauge"),
    ("syncguard_node_acknowledged", "gauge"),
    ("syncguard_nodes_in_maintenance", "gauge"),
    ("syncguard_nodes_acknowledged", "gauge"),
    ("syncguard_node_status", "gauge"),
    ("syncguard_node_reply_age_seconds", "gauge"),
    ("syncguard_node_transitions", "counter"),
    ("syncguard_node_latency_seconds", "gauge"),
    ("syncguard_node_reply_latency_seconds", "histogram"),
    ("syncguard_group_healthy", "gauge"),
    ("syncguard_group_masters", "gauge"),
    ("syncguard_nodes", "gauge"),
    ("syncguard_verdict", "gauge"),
    ("syncguard_hook_runs_dropped", "counter"),
    ("syncguard_reply_latency_seconds", "histogram"),
    ("syncguard_push_connections", "gauge"),
    ("syncguard_unlisted_senders", "gauge"),
    ("syncguard_push_accepted", "counter"),
    ("syncguard_push_lines", "counter"),
    ("syncguard_push_invalid_lines", "counter"),
    ("syncguard_push_closed_abuse", "counter"),
    ("syncguard_unlisted_dropped", "counter"),
    ("syncguard_push_refused", "counter"),
    ("syncguard_build_info", "gauge"),
];

#[test]
fn a_real_parser_accepts_the_exposition() {
    let text = format!("[metrics]\nper_node_histograms = true\n{CONFIG}");
    let mut fleet = scenario(&text);
    quiet(&mut fleet, 99);
    let text = rendered(&fleet, 100, 100);
    let Some(parsed) = python(
        "metrics::tests::a_real_parser_accepts_the_exposition",
        &text,
        PARSE,
    ) else {
        return;
    };
    let families = &parsed["families"];
    for (name, kind) in FAMILIES {
        assert_eq!(families[name], kind, "family {name} in {families}");
    }
    assert_eq!(
        families.as_object().map(|f| f.len()),
        Some(FAMILIES.len()),
        "{families}"
    );
    for key in ["samples", "classic"] {
        let names: Vec<&str> = parsed[key]
            .as_array()
            .expect("sample names")
            .iter()
            .filter_map(|v| v.as_str())
            .collect();
        for (family, kind) in FAMILIES {
            let wanted: &[&str] = match kind {
                "counter" => &["_total"],
                "histogram" => &["_bucket", "_count", "_sum"],
                _ => &[""],
            };
            for suffix in wanted {
                let name = format!("{family}{suffix}");
                assert!(
                    names.contains(&name.as_str()),
                    "{key} parser: no {name} sample"
                );
            }
        }
    }
}

#[test]
fn odd_node_names_survive_the_round_trip() {
    // TOML escapes: a quote, a backslash, combining and zero-width characters, and
    // (the config allows it) a newline.
    let cfg = Config::parse(
        r#"
[[node]]
name = "wall \"7\" \\ 東京 🎬 e\u0301\u200B end"
host = "127.0.0.1"
group = "g\"1\\"
[[node]]
name = "two\nlines"
host = "127.0.0.2"
"#,
        "t.toml",
    )
    .expect("config");
    let odd = "wall \"7\" \\ 東京 🎬 e\u{301}\u{200b} end";
    let two = "two\nlines";
    assert_eq!(cfg.nodes[0].name, odd);
    assert_eq!(cfg.nodes[1].name, two);
    let text = rendered(&Fleet::new(&cfg, at(0)), 1, 1);
    assert!(
        text.contains(
            "syncguard_node_status{node=\"wall \\\"7\\\" \\\\ 東京 🎬 e\u{301}\u{200b} end\",\
             group=\"g\\\"1\\\\\",status=\"pending\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("syncguard_node_status{node=\"two\\nlines\",status=\"pending\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("syncguard_node_healthy{node=\"two\\nlines\"} 0\n"),
        "{text}"
    );
    let Some(parsed) = python(
        "metrics::tests::odd_node_names_survive_the_round_trip",
        &text,
        PARSE,
    ) else {
        return;
    };
    let expected = serde_json::json!([[odd, "g\"1\\"], [two, ""]]);
    assert_eq!(parsed["nodes"], expected);
    assert_eq!(parsed["classic_nodes"], expected);
}

/// A raw HTTP/1.1 request on loopback; returns status, head (lower case) and body.
async fn request(addr: SocketAddr, method: &str, path: &str) -> (u16, String, String) {
    let exchange = async {
        let mut s = TcpStream::connect(addr).await.expect("connect");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes()).await.expect("send request");
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.expect("read response");
        buf
    };
    let buf = tokio::time::timeout(Duration::from_secs(20), exchange)
        .await
        .expect("response within 20 s");
    let text = String::from_utf8(buf).expect("UTF-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    (status, head.to_ascii_lowercase(), body.to_owned())
}

// A current-thread runtime, as the long-running modes use.
#[tokio::test]
async fn serves_the_latest_snapshot() {
    let fleet = scenario(CONFIG);
    let (tx, rx) = watch::channel(Arc::new(fleet.snapshot(at(5))));
    let listener = TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
    let addr = listener.local_addr().expect("address");
    let web = crate::http::Web::new(
        crate::hub::SnapshotSource::published(rx),
        None,
        Default::default(),
    );
    let server = tokio::spawn(crate::http::serve(listener, web));

    let (status, head, body) = request(addr, "GET", "/metrics").await;
    assert_eq!(status, 200, "{head}");
    assert!(
        head.contains(
            "content-type: application/openmetrics-text; version=1.0.0; charset=utf-8\r\n"
        ),
        "{head}"
    );
    assert!(body.ends_with("# EOF\n"), "{body}");
    let desk = r#"node="desk""#;
    assert_eq!(sample(&body, "syncguard_node_healthy", &[desk]), 0.0);

    // A newer snapshot is what the next scrape shows.
    let mut fleet = fleet;
    poll(&mut fleet, "desk", 6, state([127, 0, 0, 3], 1), 1);
    tx.send_replace(Arc::new(fleet.snapshot(at(6))));
    let (status, _, body) = request(addr, "GET", "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(sample(&body, "syncguard_node_healthy", &[desk]), 1.0);

    for path in ["/other", "/metrics/"] {
        let (status, _, _) = request(addr, "GET", path).await;
        assert_eq!(status, 404, "{path}");
    }
    let (status, head, _) = request(addr, "POST", "/metrics").await;
    assert_eq!(status, 405);
    assert!(head.contains("\r\nallow: get,head\r\n"), "{head}");
    server.abort();
}

/// The history store's counters appear only while it is on, and its health gauge
/// follows its write problem.
#[test]
fn history_families_follow_the_store() {
    let fleet = scenario(CONFIG);
    let off = rendered(&fleet, 50, 100);
    assert!(!off.contains("syncguard_history_"), "{off}");
    let mut snap = fleet.snapshot(at(50));
    snap.history = Some(crate::state::HistoryStatus {
        path: "h.db".into(),
        written: 12,
        dropped: 3,
        problem: Some("disk full".into()),
    });
    let text = render(&Arc::new(snap), at(100)).expect("render");
    assert_eq!(sample(&text, "syncguard_history_written_total", &[]), 12.0);
    assert_eq!(sample(&text, "syncguard_history_dropped_total", &[]), 3.0);
    assert_eq!(sample(&text, "syncguard_history_write_ok", &[]), 0.0);
}

#[test]
fn maintenance_and_acks_are_sparse_series() {
    let mut fleet = scenario(CONFIG);
    let before = rendered(&fleet, 5, 5);
    assert!(samples(&before, "syncguard_node_maintenance", &[]).is_empty());
    assert_eq!(sample(&before, "syncguard_nodes_acknowledged", &[]), 0.0);
    quiet(&mut fleet, 5);
    let text = rendered(&fleet, 6, 6);
    assert_eq!(
        samples(&text, "syncguard_node_maintenance", &[]),
        vec![1.0],
        "one series, for the node in the window"
    );
    assert_eq!(
        sample(&text, "syncguard_node_maintenance", &["node=\"tv\""]),
        1.0
    );
    assert_eq!(
        sample(&text, "syncguard_node_acknowledged", &["node=\"desk\""]),
        1.0
    );
    assert_eq!(sample(&text, "syncguard_nodes_in_maintenance", &[]), 1.0);
    assert_eq!(sample(&text, "syncguard_nodes_acknowledged", &[]), 1.0);
}

/// Puts `tv` in a maintenance window and acknowledges `desk`.
fn quiet(fleet: &mut Fleet, secs: u64) {
    fleet.set_maintenance(
        |name, _| (name == "tv").then(|| Arc::from("rehearsal")),
        |_| None,
        at(secs),
    );
    fleet
        .ack(
            crate::state::AckRequest {
                id: "a1".into(),
                target: crate::model::Target::Node("desk".into()),
                by: "op".into(),
                reason: "on it".into(),
                lasts: Duration::from_secs(3600),
            },
            at(secs),
        )
        .expect("ack");
}

/// The fleet of [`CONFIG`] with every family there is (per-node histograms, the
/// push receiver, maintenance and acks, history, a notify channel), as of `secs`.
fn every_family(shard: Option<crate::model::Shard>) -> String {
    let text = format!("[metrics]\nper_node_histograms = true\n{CONFIG}");
    let mut fleet = scenario(&text);
    quiet(&mut fleet, 99);
    let mut snap = fleet.snapshot(at(100));
    snap.history = Some(crate::state::HistoryStatus::default());
    snap.notify = vec![crate::notify::stats::ChannelStats::new("ops", "webhook").status()];
    snap.shard = shard;
    render(&Arc::new(snap), at(100)).expect("render")
}

#[test]
fn a_sharded_instance_labels_every_sample() {
    let shard = crate::model::Shard::new(2, 4).expect("shard");
    let text = every_family(Some(shard));
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .collect();
    assert!(lines.len() > 100, "{text}");
    for line in &lines {
        let (_, labels, _) = series(line).next().expect("a sample line");
        assert!(labels.contains(r#"shard="2/4""#), "no shard label: {line}");
        assert_eq!(labels.matches("shard=").count(), 1, "{line}");
    }
    // Every family of the unsharded exposition is there, plus the count.
    let families = |t: &str| -> std::collections::BTreeSet<String> {
        t.lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .filter_map(|l| l.split(' ').next())
            .map(str::to_owned)
            .collect()
    };
    let unsharded = every_family(None);
    let mut want = families(&unsharded);
    want.insert("syncguard_shard_count".into());
    assert_eq!(families(&text), want);
    assert_eq!(
        sample(&text, "syncguard_shard_count", &[r#"shard="2/4""#]),
        4.0
    );
}

#[test]
fn an_unsharded_instance_has_no_shard_label() {
    let text = every_family(None);
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        assert!(!line.contains("shard"), "{line}");
    }
    assert!(!text.contains("syncguard_shard_count"), "{text}");
}

#[test]
fn a_real_parser_reads_the_shard_label() {
    let shard = crate::model::Shard::new(3, 3).expect("shard");
    let text = every_family(Some(shard));
    let Some(parsed) = python(
        "metrics::tests::a_real_parser_reads_the_shard_label",
        &text,
        r#"
import json, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families as om
shards = set()
count = 0
for f in om(sys.stdin.read()):
    for s in f.samples:
        count += 1
        shards.add(s.labels.get("shard"))
print(json.dumps({"shards": sorted(str(s) for s in shards), "samples": count}))
"#,
    ) else {
        return;
    };
    assert_eq!(parsed["shards"], serde_json::json!(["3/3"]), "{parsed}");
    assert!(parsed["samples"].as_u64() > Some(100), "{parsed}");
}

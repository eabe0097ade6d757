//! Per-wall checks and `config check`/`config show`, through the binary:
//! `--once --group/--node` is one Nagios service per wall from one fleet file,
//! `watch` and reloads keep to the selection, and a filter that matches nothing
//! is UNKNOWN. Simulated nodes run on 127.0.0.1 in this process.

#![cfg(unix)]

mod common;

use std::time::Duration;

use serde_json::Value;

use rustix::process::Signal;

use common::bin::{LIMIT, Proc, assert_code, bin, json_events, once, run, watch};
use common::lab::Lab;

const FAST: &str = "timeout = \"1s\"";

/// Two walls and a loose node: wall-A healthy, wall-B with a free member.
fn walls() -> Lab {
    Lab::new(&[
        ("a-01", "state2", Some("wall-A")),
        ("a-02", "state1", Some("wall-A")),
        ("b-01", "state2", Some("wall-B")),
        ("b-02", "free", Some("wall-B")),
        ("solo", "synced", None),
    ])
}

fn node_names(json: &str) -> Vec<String> {
    let doc: Value = serde_json::from_str(json).expect("json");
    doc["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["name"].as_str().expect("name").to_owned())
        .collect()
}

#[test]
fn one_nagios_service_per_wall() {
    let lab = walls();
    let fleet = lab.fleet("fleet.toml", FAST);
    let a = once(&fleet, &["--group", "wall-A", "--format", "nagios"]);
    assert_code(&a, 0);
    assert!(
        a.stdout.starts_with("SYNCGUARD OK - 2/2 nodes synced"),
        "{}",
        a.stdout
    );
    let b = once(&fleet, &["--group", "wall-B", "--format", "nagios"]);
    assert_code(&b, 2);
    assert!(b.stdout.contains("b-02"), "{}", b.stdout);
    assert!(!b.stdout.contains("a-0"), "{}", b.stdout);
    // The whole fleet is CRITICAL, as before.
    assert_code(&once(&fleet, &[]), 2);
}

#[test]
fn filters_take_globs_and_repeat() {
    let lab = walls();
    let fleet = lab.fleet("fleet.toml", FAST);
    let r = once(
        &fleet,
        &["--node", "a-*", "--node", "solo", "--format", "json"],
    );
    assert_code(&r, 0);
    assert_eq!(node_names(&r.stdout), ["a-01", "a-02", "solo"]);
    let r = once(
        &fleet,
        &["--group", "wall-?", "--node", "solo", "--format", "json"],
    );
    assert_code(&r, 2);
    assert_eq!(node_names(&r.stdout).len(), 5);
}

#[test]
fn one_node_of_a_healthy_wall_is_ok() {
    let lab = walls();
    let fleet = lab.fleet("fleet.toml", FAST);
    // a-02 is wall-A's Slave: alone it is not "a wall without a Master".
    let r = once(&fleet, &["--node", "a-02", "--format", "nagios"]);
    assert_code(&r, 0);
    let r = once(&fleet, &["--node", "b-02", "--format", "nagios"]);
    assert_code(&r, 2);
}

#[test]
fn a_node_checked_alone_keeps_its_group_for_windows_and_output() {
    let lab = walls();
    let fleet = lab.fleet("fleet.toml", FAST);
    let mut text = std::fs::read_to_string(&fleet).expect("read");
    text.push_str(
        "\n[[maintenance]]\nname = \"rewiring\"\ngroups = [\"wall-B\"]\n\
         start = \"2020-01-01T00:00:00Z\"\nend = \"2099-01-01T00:00:00Z\"\n",
    );
    std::fs::write(&fleet, text).expect("write");
    // b-02 is free, but its wall is in a window, which covers it by group even
    // when it is checked without the rest of the wall: not CRITICAL.
    let r = once(&fleet, &["--node", "b-02", "--format", "json"]);
    assert_code(&r, 0);
    let doc: Value = serde_json::from_str(&r.stdout).expect("json");
    let node = &doc["nodes"][0];
    assert_eq!(
        (&node["name"], &node["group"], &node["maintenance"]),
        (
            &Value::from("b-02"),
            &Value::from("wall-B"),
            &Value::from("rewiring")
        ),
        "{}",
        r.stdout
    );
    // Half a wall has no group rule to judge.
    assert_eq!(doc["groups"], Value::Array(Vec::new()), "{}", r.stdout);
}

#[test]
fn a_filter_matching_nothing_is_unknown() {
    let lab = walls();
    let fleet = lab.fleet("fleet.toml", FAST);
    let r = once(&fleet, &["--group", "wall-C", "--format", "nagios"]);
    assert_code(&r, 3);
    assert!(
        r.stderr
            .contains("--group \"wall-C\" matches no sync group in"),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("did you mean \"wall-A\"?"),
        "{}",
        r.stderr
    );
    // One good filter does not hide a bad one.
    let r = once(&fleet, &["--node", "a-01", "--node", "zz-*"]);
    assert_code(&r, 3);
    assert!(
        r.stderr.contains("--node \"zz-*\" matches no node"),
        "{}",
        r.stderr
    );
    let r = once(&fleet, &["--node", "[oops"]);
    assert_code(&r, 3);
    assert!(r.stderr.contains("invalid glob"), "{}", r.stderr);
}

#[test]
fn watch_keeps_to_its_wall_across_a_reload() {
    let lab = walls();
    let fleet = lab.fleet("fleet.toml", FAST);
    // After the subcommand, as `watch --help` shows it.
    let w = Proc::spawn(
        bin()
            .arg("--config")
            .arg(&fleet)
            .args(["watch", "--events", "json", "--group", "wall-B"]),
    );
    w.wait_for(LIMIT, "b-02 free", |out, _| out.contains("\"b-02\""));
    // A reload of the same file keeps the selection.
    w.signal(Signal::HUP);
    w.wait_for(LIMIT, "the reload", |_, err| err.contains("reload"));
    std::thread::sleep(Duration::from_millis(1500));
    let (stdout, stderr) = w.stop();
    let events = json_events(&stdout);
    assert!(!events.is_empty(), "{stdout}");
    for e in &events {
        let text = e.to_string();
        for outside in ["a-01", "a-02", "solo", "wall-A"] {
            assert!(!text.contains(outside), "event outside wall-B: {e}");
        }
    }
    assert!(!stderr.contains("reload rejected"), "{stderr}");
}

#[test]
fn a_selection_before_watch_counts_too() {
    let lab = walls();
    let fleet = lab.fleet("fleet.toml", FAST);
    let w = watch(&fleet, &["--node", "b-02"]);
    w.wait_for(LIMIT, "b-02 free", |out, _| out.contains("\"b-02\""));
    let (stdout, _) = w.stop();
    assert!(!stdout.contains("\"b-01\""), "{stdout}");
}

#[test]
fn config_check_summarises_and_touches_nothing() {
    let lab = walls();
    let fleet = lab.fleet("fleet.toml", FAST);
    // The nodes are stopped first: a check must not need them.
    drop(lab.sim);
    let r = run(bin().arg("--config").arg(&fleet).args(["config", "check"]));
    assert_code(&r, 0);
    assert!(r.stdout.contains(": ok (the file is valid"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("nodes      5 (5 poll, 0 push) in 2 sync groups"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("wall-A (2), wall-B (2)"), "{}", r.stdout);
    assert!(r.stdout.lines().count() <= 20, "one screen:\n{}", r.stdout);
    let r = run(bin()
        .arg("--config")
        .arg(&fleet)
        .args(["--group", "wall-B", "config", "check"]));
    assert_code(&r, 0);
    assert!(r.stdout.contains("nodes      2 (2 poll"), "{}", r.stdout);
    assert!(
        r.stdout.contains("selected   --group \"wall-B\""),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("watching   b-01, b-02\n"), "{}", r.stdout);
    // Half a wall: named, and said to be judged node by node.
    let r = run(bin()
        .arg("--config")
        .arg(&fleet)
        .args(["--node", "b-02", "config", "check"]));
    assert_code(&r, 0);
    assert!(
        r.stdout
            .contains("groups     wall-B (1 of 2, each judged alone)\n"),
        "{}",
        r.stdout
    );
}

#[test]
fn config_check_fails_with_the_place() {
    let dir = common::bin::private_dir();
    let bad = dir.join("bad.toml");
    std::fs::write(
        &bad,
        "[[node]]\nname = \"a\"\nhost = \"10.0.0.1\"\ninterval = \"soon\"\n",
    )
    .expect("write");
    let r = run(bin().arg("--config").arg(&bad).args(["config", "check"]));
    assert_code(&r, 3);
    assert!(r.stdout.is_empty(), "{}", r.stdout);
    assert!(r.stderr.contains("bad.toml:4:"), "{}", r.stderr);
    assert!(r.stderr.contains("node[0].interval"), "{}", r.stderr);
}

#[test]
fn config_show_loads_back_to_the_same_fleet() {
    let lab = walls();
    let fleet = lab.fleet("fleet.toml", FAST);
    let r = run(bin().arg("--config").arg(&fleet).args(["config", "show"]));
    assert_code(&r, 0);
    assert!(r.stdout.contains("[defaults]"), "{}", r.stdout);
    assert!(r.stdout.contains("timeout = \"1s\""), "{}", r.stdout);
    let again = lab.write("again.toml", &r.stdout);
    let a = syncguard_fleet::config::Config::load(&fleet).expect("original");
    let b = syncguard_fleet::config::Config::load(&again).expect("shown");
    assert_eq!(a.nodes, b.nodes);
    assert_eq!(a.defaults, b.defaults);
}

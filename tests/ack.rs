//! `ack` and `unack` against a real `watch` on loopback: what they print and
//! exit with in every case, the ack in `/api/v1/status` and in `--once` (read
//! from the history file), acks kept across a restart, running out, and ending
//! when the node recovers or gets worse.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;

use common::bin::{Proc, Run, assert_code, bin, run};
use common::lab::Lab;
use common::net::{free_port, http_get};
use common::wait_until;

const LIMIT: Duration = Duration::from_secs(15);
const FAST: &str = "[defaults]\ninterval = \"300ms\"\nmax_interval = \"500ms\"\ntimeout = \"1s\"\nbackoff = \"1s\"\n";
/// The variable the monitor reads its token from (`[http] token_env`).
const TOKEN_VAR: &str = "SG_ACK_TEST_TOKEN";
const TOKEN: &str = "ack-test-token-7d3e9b21c4";

/// A fleet file: FAST polling, `[http]` on `port` (with the token unless
/// `token` is false), the history in `history`, and `nodes`.
fn fleet(lab: &Lab, port: u16, token: bool, nodes: &str) -> PathBuf {
    let token = match token {
        true => format!("token_env = \"{TOKEN_VAR}\"\n"),
        false => String::new(),
    };
    lab.write(
        "fleet.toml",
        &format!(
            "{FAST}[http]\nbind = \"127.0.0.1:{port}\"\n{token}[history]\npath = \"{}\"\n{nodes}",
            lab.path("history.db").display()
        ),
    )
}

/// `watch` on `config`, with the monitor's token in its environment.
fn watch(config: &Path) -> Proc {
    Proc::spawn(
        bin()
            .env(TOKEN_VAR, TOKEN)
            .arg("--config")
            .arg(config)
            .arg("watch"),
    )
}

/// The binary as an operator runs it: user alice, no token unless given.
fn client(config: &Path) -> Command {
    let mut c = bin();
    c.env_remove("SYNCGUARD_TOKEN")
        .env_remove("USERNAME")
        .env("USER", "alice")
        .arg("--config")
        .arg(config);
    c
}

/// `ack`/`unack ARGS` with `$SYNCGUARD_TOKEN` set to `token` (unset: `None`).
fn act(config: &Path, token: Option<&str>, args: &[&str]) -> Run {
    let mut c = client(config);
    if let Some(t) = token {
        c.env("SYNCGUARD_TOKEN", t);
    }
    run(c.args(args))
}

/// `/api/v1/status`, or `Null` while nothing answers.
fn status(port: u16) -> Value {
    http_get(port, "/api/v1/status")
        .and_then(|r| r.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()))
        .and_then(|b| serde_json::from_str(&b).ok())
        .unwrap_or(Value::Null)
}

fn node<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["name"] == name))
        .unwrap_or(&Value::Null)
}

/// Waits until node `name` in the served status satisfies `done`; fails with
/// the last document and the monitor's stderr.
fn wait_node(port: u16, child: &Proc, name: &str, what: &str, done: impl Fn(&Value) -> bool) {
    let mut last = Value::Null;
    let held = wait_until(LIMIT, || {
        last = status(port);
        done(node(&last, name))
    });
    assert!(
        held,
        "not within {LIMIT:?}: {what}\nlast status: {last}\nstderr:\n{}",
        child.stderr()
    );
}

/// The one line a failed `ack`/`unack` prints, checked for the words it must have.
fn refused(r: &Run, words: &[&str]) {
    assert_code(r, 3);
    assert_eq!(r.stdout, "", "nothing on stdout when refused");
    assert_eq!(r.stderr.lines().count(), 1, "one line: {:?}", r.stderr);
    for w in words {
        assert!(r.stderr.contains(w), "{w:?} missing from: {}", r.stderr);
    }
    assert!(
        !r.stderr.contains(TOKEN),
        "the token is printed: {}",
        r.stderr
    );
}

/// `--once --format FORMAT` on the monitor's fleet file (the history file
/// the monitor writes is where its acks come from).
fn once(config: &Path, extra: &[&str]) -> Run {
    run(bin().arg("--once").arg("--config").arg(config).args(extra))
}

fn once_json(config: &Path, extra: &[&str]) -> (Run, Value) {
    let r = once(config, &[&["--format", "json"], extra].concat());
    let doc = serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout));
    (r, doc)
}

/// `watch` (see [`fleet`] for `token` and `nodes`) on a free port, once it
/// serves wall-03 as `status`: the port, the fleet file and the monitor.
fn watching(lab: &Lab, token: bool, nodes: &str, status: &str) -> (u16, PathBuf, Proc) {
    let port = free_port();
    let config = fleet(lab, port, token, nodes);
    let child = watch(&config);
    wait_node(port, &child, "wall-03", &format!("wall-03 {status}"), |n| {
        n["status"] == status
    });
    (port, config, child)
}

/// `ack wall-03 ARGS` with the monitor's token, which must succeed.
fn ack_wall_03(config: &Path, args: &[&str]) -> Run {
    let r = act(config, Some(TOKEN), &[&["ack", "wall-03"], args].concat());
    assert_code(&r, 0);
    r
}

#[test]
fn ack_and_unack_through_the_running_monitor() {
    let lab = Lab::new(&[("wall-01", "synced", None), ("wall-03", "free", None)]);
    let nodes = lab.nodes_toml(&["wall-01", "wall-03"]);
    let (port, config, child) = watching(&lab, true, &nodes, "free");
    wait_node(port, &child, "wall-01", "wall-01 synced", |n| {
        n["status"] == "synced"
    });

    // Refusals: each says why, and nothing changes.
    let r = act(
        &config,
        Some("not-the-token"),
        &["ack", "wall-03", "--reason", "x"],
    );
    refused(&r, &["wrong", "$SYNCGUARD_TOKEN"]);
    let r = act(&config, None, &["ack", "wall-03", "--reason", "x"]);
    refused(&r, &["needs a token", "$SYNCGUARD_TOKEN", "--token-file"]);
    let r = act(&config, Some(TOKEN), &["ack", "wall-99", "--reason", "x"]);
    refused(&r, &["no node named \"wall-99\""]);
    let r = act(&config, Some(TOKEN), &["ack", "@wall-Z", "--reason", "x"]);
    refused(&r, &["no sync group named \"wall-Z\""]);
    let r = act(&config, Some(TOKEN), &["ack", "wall-01", "--reason", "x"]);
    refused(&r, &["wall-01 is healthy"]);
    let r = act(&config, Some(TOKEN), &["unack", "wall-03"]);
    refused(&r, &["wall-03 is not acknowledged"]);
    assert!(node(&status(port), "wall-03")["ack"].is_null());

    let r = ack_wall_03(&config, &["--for", "2h", "--reason", "re-imaging"]);
    assert_eq!(r.stdout.lines().count(), 1, "{:?}", r.stdout);
    assert!(
        r.stdout.starts_with("acknowledged wall-03 until ")
            && r.stdout.ends_with(" (by alice (api)): re-imaging\n"),
        "{:?}",
        r.stdout
    );
    assert_eq!(r.stderr, "");

    // The served status has it, with its end two hours from now.
    let doc = status(port);
    let ack = &node(&doc, "wall-03")["ack"];
    assert_eq!(ack["target"], "wall-03", "{doc}");
    assert_eq!(ack["by"], "alice (api)");
    assert_eq!(ack["reason"], "re-imaging");
    let until: jiff::Timestamp = ack["until"]
        .as_str()
        .expect("until")
        .parse()
        .expect("RFC 3339");
    let left = until.duration_since(jiff::Timestamp::now()).as_secs();
    assert!((7100..=7200).contains(&left), "until {until}");
    assert!(node(&doc, "wall-01")["ack"].is_null());

    // `--once` reads it from the history file: it still counts, unless
    // --ignore-acked.
    let mut seen = None;
    let held = wait_until(LIMIT, || {
        let (r, doc) = once_json(&config, &[]);
        let acked = !node(&doc, "wall-03")["ack"].is_null();
        seen = Some((r, doc));
        acked
    });
    let (r, doc) = seen.expect("--once ran");
    assert!(held, "--once never saw the ack: {}", r.stdout);
    assert_code(&r, 2);
    assert_eq!(node(&doc, "wall-03")["ack"]["by"], "alice (api)");
    let (r, doc) = once_json(&config, &["--ignore-acked"]);
    assert_code(&r, 0);
    assert_eq!(doc["verdict"], "OK");
    let r = once(&config, &["--format", "nagios"]);
    assert_code(&r, 2);
    let text = r.stdout.split(" | ").next().unwrap_or_default();
    assert_eq!(
        text,
        "SYNCGUARD CRITICAL - 1 of 2 nodes unhealthy: wall-03 free (Free); 1 acknowledged"
    );
    let r = once(&config, &["--format", "nagios", "--ignore-acked"]);
    assert_code(&r, 0);
    assert!(
        r.stdout
            .starts_with("SYNCGUARD OK - 1/2 nodes synced; 1 acknowledged | "),
        "{}",
        r.stdout
    );
    let r = once(&config, &[]);
    assert!(r.stdout.contains("MAINT/ACK"), "{}", r.stdout);
    assert!(
        r.stdout.contains("✓ ack alice (api) 1h 59m left"),
        "{}",
        r.stdout
    );
    // `--no-history`: no acks read either.
    let (r, doc) = once_json(&config, &["--no-history", "--ignore-acked"]);
    assert_code(&r, 2);
    assert!(node(&doc, "wall-03")["ack"].is_null());

    // unack, with the token from a file this time.
    let token_file = lab.write("token", &format!("{TOKEN}\n"));
    let r = run(client(&config)
        .args(["unack", "wall-03", "--token-file"])
        .arg(&token_file));
    assert_code(&r, 0);
    assert_eq!(
        r.stdout,
        "unacknowledged wall-03 (was acknowledged by alice (api): re-imaging)\n"
    );
    assert!(node(&status(port), "wall-03")["ack"].is_null());
    let wrong = lab.write("wrong-token", "nope-nope-nope\n");
    let r = run(client(&config)
        .args(["unack", "wall-03", "--token-file"])
        .arg(&wrong));
    refused(&r, &["wrong", &wrong.display().to_string()]);
    let held = wait_until(LIMIT, || {
        node(&once_json(&config, &[]).1, "wall-03")["ack"].is_null()
    });
    assert!(held, "--once still sees the removed ack");
    child.stop();
}

#[test]
fn acks_survive_a_restart_of_watch() {
    let lab = Lab::new(&[("wall-03", "free", None)]);
    let (port, config, child) = watching(&lab, true, &lab.nodes_toml(&["wall-03"]), "free");
    ack_wall_03(&config, &["--for", "2h", "--reason", "cable"]);
    child.stop();

    let child = watch(&config);
    wait_node(
        port,
        &child,
        "wall-03",
        "the ack back after a restart",
        |n| {
            n["status"] == "free"
                && n["ack"]["by"] == "alice (api)"
                && n["ack"]["reason"] == "cable"
        },
    );
    child.stop();
}

#[test]
fn a_short_ack_runs_out() {
    let lab = Lab::new(&[("wall-03", "free", None)]);
    let (port, config, child) = watching(&lab, true, &lab.nodes_toml(&["wall-03"]), "free");
    ack_wall_03(&config, &["--for", "3s", "--reason", "brief"]);
    let given = Instant::now();
    assert!(!node(&status(port), "wall-03")["ack"].is_null());
    wait_node(port, &child, "wall-03", "the ack ran out", |n| {
        n["ack"].is_null()
    });
    let took = given.elapsed();
    assert!(
        took >= Duration::from_millis(2500),
        "ran out after {took:?}"
    );
    assert!(took < Duration::from_secs(8), "ran out after {took:?}");
    assert_eq!(node(&status(port), "wall-03")["status"], "free");
    child.stop();
}

#[test]
fn an_ack_ends_when_the_node_recovers() {
    let lab = Lab::new(&[]);
    let fake = lab.fake(Some("Free"));
    let (port, config, child) = watching(&lab, true, &fake.node_toml("wall-03", ""), "free");
    ack_wall_03(&config, &["--reason", "swap"]);

    fake.set_reply(Some("Synced"));
    wait_node(port, &child, "wall-03", "recovered, ack gone", |n| {
        n["status"] == "synced" && n["ack"].is_null()
    });
    // Out of lock again: news again, not still acknowledged.
    fake.set_reply(Some("Free"));
    wait_node(port, &child, "wall-03", "free again", |n| {
        n["status"] == "free"
    });
    assert!(node(&status(port), "wall-03")["ack"].is_null());
    child.stop();
}

#[test]
fn an_ack_ends_when_the_status_gets_worse() {
    let lab = Lab::new(&[]);
    // Reads the request and never answers: timeout.
    let fake = lab.fake(None);
    let (port, config, child) = watching(&lab, true, &fake.node_toml("wall-03", ""), "timeout");
    ack_wall_03(&config, &["--reason", "switch reboot"]);
    assert_eq!(
        node(&status(port), "wall-03")["ack"]["reason"],
        "switch reboot"
    );

    // It answers again, out of lock: worse than what was acknowledged.
    fake.set_reply(Some("Free"));
    wait_node(
        port,
        &child,
        "wall-03",
        "free and no longer acknowledged",
        |n| n["status"] == "free" && n["ack"].is_null(),
    );
    let (r, doc) = once_json(&config, &["--ignore-acked"]);
    assert_code(&r, 2);
    assert!(node(&doc, "wall-03")["ack"].is_null(), "{doc}");
    child.stop();
}

#[test]
fn a_monitor_without_a_token_takes_no_acks() {
    let lab = Lab::new(&[("wall-03", "free", None)]);
    let (port, config, child) = watching(&lab, false, &lab.nodes_toml(&["wall-03"]), "free");
    let r = act(&config, Some(TOKEN), &["ack", "wall-03", "--reason", "x"]);
    refused(&r, &["no token configured", "token_env"]);
    assert!(node(&status(port), "wall-03")["ack"].is_null());
    child.stop();
}

#[test]
fn no_monitor_to_reach_exits_3() {
    let lab = Lab::new(&[("wall-03", "free", None)]);
    let port = free_port();
    // Nothing serves the configured bind.
    let config = fleet(&lab, port, true, &lab.nodes_toml(&["wall-03"]));
    let url = format!("http://127.0.0.1:{port}");
    for args in [
        &["ack", "wall-03", "--reason", "x"][..],
        &["unack", "wall-03"][..],
    ] {
        let r = act(&config, Some(TOKEN), args);
        refused(&r, &["no monitor reachable", &url, "--url"]);
    }
    // --url wins over the fleet file.
    let other = free_port();
    let r = act(
        &config,
        Some(TOKEN),
        &[
            "ack",
            "wall-03",
            "--reason",
            "x",
            "--url",
            &format!("127.0.0.1:{other}"),
        ],
    );
    refused(&r, &[&format!("http://127.0.0.1:{other}")]);

    // No [http] bind and no --url: nowhere to go.
    let plain = lab.write("plain.toml", &lab.nodes_toml(&["wall-03"]));
    let r = act(&plain, Some(TOKEN), &["ack", "wall-03", "--reason", "x"]);
    refused(&r, &["no [http] bind", "--url"]);
    // Usage errors are exit 3 too.
    let r = act(
        &config,
        Some(TOKEN),
        &["ack", "wall-03", "--for", "0s", "--reason", "x"],
    );
    assert_code(&r, 3);
    let r = act(&config, Some(TOKEN), &["ack", "wall-03"]);
    assert_code(&r, 3);
    assert!(r.stderr.contains("--reason"), "{}", r.stderr);
}

//! Shutdown and log safety with the real binary: interrupted `--once` exits 3 within
//! a second; `watch` exits cleanly on SIGTERM and SIGINT; nothing from the network
//! reaches the log or stdout raw.

mod common;

use std::time::Duration;

use rustix::process::Signal;

use common::bin::{Proc, bin, json_events};
use common::lab::Lab;

/// Generous: these wait for a first poll on a busy machine.
const LIMIT: Duration = Duration::from_secs(15);

/// The binary on `config` with `args`, its output collected as it comes.
fn spawn(args: &[&str], config: &std::path::Path) -> Proc {
    Proc::spawn(bin().arg("--config").arg(config).args(args))
}

fn by_name(sig: &str) -> Signal {
    match sig {
        "INT" => Signal::INT,
        "TERM" => Signal::TERM,
        other => panic!("no signal {other}"),
    }
}

#[test]
fn interrupted_once_exits_3_within_a_second() {
    let lab = Lab::new(&[("ok", "synced", None)]);
    // A silent node that counts connections: once the check has connected to it,
    // the signal handlers are in place and the check is waiting on the node.
    let silent = lab.fake(None);
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[defaults]\ntimeout = \"10s\"\n{}{}",
            silent.node_toml("silent", ""),
            lab.nodes_toml(&["ok"])
        ),
    );
    for sig in ["INT", "TERM"] {
        let before = silent.accepted();
        let child = spawn(&["--once"], &config);
        let waiting = common::wait_until(LIMIT, || silent.accepted() > before);
        assert!(waiting, "--once never connected to the silent node");
        child.signal(by_name(sig));
        let f = child.finish(Duration::from_secs(5));
        let (code, stdout, stderr, took) = (f.code, f.stdout, f.stderr, f.took);
        assert_eq!(code, Some(3), "SIG{sig}: {stderr}");
        assert!(stderr.contains("interrupted"), "SIG{sig}: {stderr}");
        assert!(
            stdout.is_empty(),
            "an interrupted check prints no verdict: {stdout}"
        );
        assert!(
            took < Duration::from_secs(1),
            "SIG{sig}: exit took {took:?}"
        );
    }
}

#[test]
fn watch_exits_cleanly_on_sigterm_and_sigint() {
    let lab = Lab::new(&[("ok", "synced", None), ("bad", "free", None)]);
    let config = lab.fleet("fleet.toml", "");
    for sig in ["TERM", "INT"] {
        let child = spawn(&["watch", "--events", "json"], &config);
        child.wait_for(LIMIT, "the event for bad", |out, _| {
            json_events(out).iter().any(|e| e["node"] == "bad")
        });
        child.signal(by_name(sig));
        let f = child.finish(Duration::from_secs(5));
        let (code, stdout, stderr, took) = (f.code, f.stdout, f.stderr, f.took);
        assert_eq!(code, Some(0), "SIG{sig}: {stderr}");
        assert!(
            took < Duration::from_secs(1),
            "SIG{sig}: exit took {took:?}"
        );
        assert!(stderr.contains("watched 2 nodes"), "{stderr}");
        let events = json_events(&stdout);
        let bad = events
            .iter()
            .find(|e| e["node"] == "bad")
            .expect("event for bad");
        assert_eq!(
            (bad["previous"].as_str(), bad["status"].as_str()),
            (Some("pending"), Some("free"))
        );
        assert_eq!(bad["reply"], "Free");
        let keys: Vec<&str> = bad
            .as_object()
            .expect("object")
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "time", "node", "group", "previous", "status", "role", "reply", "error"
            ]
        );
    }
}

#[test]
fn network_text_never_reaches_the_log_or_stdout_raw() {
    let lab = Lab::new(&[("evil", "escape", None), ("ok", "synced", None)]);
    let config = lab.fleet("fleet.toml", "");
    let log = lab.path("watch.log");
    let child = spawn(
        &["watch", "--log-file", log.to_str().expect("utf-8 path")],
        &config,
    );
    let transition = "evil pending -> invalid";
    child.wait_for(
        LIMIT,
        "evil's transition on stdout and in the log",
        |out, _| {
            out.contains(transition)
                && std::fs::read_to_string(&log).is_ok_and(|l| l.contains(transition))
        },
    );
    child.signal(Signal::TERM);
    let f = child.finish(Duration::from_secs(5));
    let (code, stdout) = (f.code, f.stdout);
    assert_eq!(code, Some(0));
    let logged = std::fs::read(&log).expect("log written");
    for (what, bytes) in [("log", logged.as_slice()), ("stdout", stdout.as_bytes())] {
        let raw = bytes
            .iter()
            .filter(|b| matches!(b, 0x1b | 0x07 | 0x08 | 0x9b))
            .count();
        assert_eq!(
            raw,
            0,
            "{what} holds raw control bytes: {}",
            String::from_utf8_lossy(bytes)
        );
        let text = String::from_utf8_lossy(bytes);
        assert!(
            text.contains(r"evil pending -> invalid (invalid reply "),
            "{what}: {text}"
        );
        assert!(
            text.contains(r"\x1b[2J\x1b[H\x1b]0;owned\x07Synced\x08"),
            "{what}: {text}"
        );
    }
}

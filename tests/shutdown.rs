//! Shutdown and log safety with the real binary: interrupted `--once` exits 3 within
//! a second; `watch` exits cleanly on SIGTERM and SIGINT; nothing from the network
//! reaches the log or stdout raw.

use std::net::{IpAddr, Ipv4Addr};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use syncguard_fleet::sim::{Behaviour, Sim, SimSpec};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime")
}

/// Starts simulated nodes on loopback and writes their fleet file.
fn sim_fleet(
    rt: &tokio::runtime::Runtime,
    dir: &Path,
    nodes: &[(&str, Behaviour)],
    defaults: &str,
) -> (Sim, std::path::PathBuf) {
    let specs = nodes
        .iter()
        .map(|(name, b)| SimSpec {
            name: (*name).into(),
            group: None,
            behaviour: *b,
        })
        .collect();
    let sim = rt
        .block_on(Sim::start(
            specs,
            IpAddr::V4(Ipv4Addr::LOCALHOST),
            Duration::from_secs(3600),
        ))
        .expect("sim");
    let path = dir.join("fleet.toml");
    std::fs::write(&path, sim.fleet_toml(defaults)).expect("write fleet");
    (sim, path)
}

fn spawn(args: &[&str], config: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_syncguard-fleet"))
        .arg("--config")
        .arg(config)
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn")
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

/// Waits for the child at most `limit`; returns (exit code, stdout, stderr, took).
fn finish(mut child: Child, limit: Duration) -> (Option<i32>, String, String, Duration) {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            let out = child.wait_with_output().expect("output");
            return (
                status.code(),
                String::from_utf8_lossy(&out.stdout).into_owned(),
                String::from_utf8_lossy(&out.stderr).into_owned(),
                start.elapsed(),
            );
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            panic!("still running after {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn interrupted_once_exits_3_within_a_second() {
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_sim, config) = sim_fleet(
        &rt,
        dir.path(),
        &[("silent", Behaviour::Silent), ("ok", Behaviour::Synced)],
        "timeout = \"10s\"",
    );
    for sig in ["INT", "TERM"] {
        let child = spawn(&["--once"], &config);
        std::thread::sleep(Duration::from_millis(700));
        signal(&child, sig);
        let (code, stdout, stderr, took) = finish(child, Duration::from_secs(5));
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
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_sim, config) = sim_fleet(
        &rt,
        dir.path(),
        &[("ok", Behaviour::Synced), ("bad", Behaviour::Free)],
        "",
    );
    for sig in ["TERM", "INT"] {
        let child = spawn(&["watch", "--events", "json"], &config);
        std::thread::sleep(Duration::from_millis(1800));
        signal(&child, sig);
        let (code, stdout, stderr, took) = finish(child, Duration::from_secs(5));
        assert_eq!(code, Some(0), "SIG{sig}: {stderr}");
        assert!(
            took < Duration::from_secs(1),
            "SIG{sig}: exit took {took:?}"
        );
        assert!(stderr.contains("watched 2 nodes"), "{stderr}");
        let events: Vec<serde_json::Value> = stdout
            .lines()
            .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
            .collect();
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
    let rt = runtime();
    let dir = tempfile::tempdir().expect("tempdir");
    let (_sim, config) = sim_fleet(
        &rt,
        dir.path(),
        &[("evil", Behaviour::Escape), ("ok", Behaviour::Synced)],
        "",
    );
    let log = dir.path().join("watch.log");
    let child = spawn(
        &["watch", "--log-file", log.to_str().expect("utf-8 path")],
        &config,
    );
    std::thread::sleep(Duration::from_millis(1800));
    signal(&child, "TERM");
    let (code, stdout, _, _) = finish(child, Duration::from_secs(5));
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

//! The service features with the real binary: `watch` with Prometheus metrics
//! (checked with a real parser), alert hooks recording their environment, and a
//! reload on SIGHUP that adds and removes nodes without losing the others' state.

use std::io::{Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream};
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

fn start_sim(rt: &tokio::runtime::Runtime, nodes: &[(&str, Behaviour)], flap: Duration) -> Sim {
    let specs = nodes
        .iter()
        .map(|(name, b)| SimSpec {
            name: (*name).into(),
            group: None,
            behaviour: *b,
        })
        .collect();
    rt.block_on(Sim::start(specs, IpAddr::V4(Ipv4Addr::LOCALHOST), flap))
        .expect("sim")
}

/// `[[node]]` tables for some of the sim's nodes, by name.
fn nodes_toml(sim: &Sim, names: &[&str]) -> String {
    let mut out = String::new();
    for n in sim
        .nodes
        .iter()
        .filter(|n| names.contains(&n.spec.name.as_str()))
    {
        out.push_str(&format!(
            "[[node]]\nname = \"{}\"\nhost = \"127.0.0.1\"\nport = {}\n",
            n.spec.name,
            n.addr.port()
        ));
    }
    out
}

fn watch(config: &Path, extra: &[&str]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_syncguard-fleet"))
        .arg("--config")
        .arg(config)
        .args(extra)
        .arg("watch")
        .args(["--events", "json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn watch")
}

fn signal(child: &Child, sig: &str) {
    let ok = Command::new("kill")
        .args([&format!("-{sig}"), &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(ok.success());
}

fn stop(child: Child) -> (String, String) {
    signal(&child, "TERM");
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(0));
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn http_get(port: u16, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    Some(body)
}

fn have_python_parser() -> bool {
    Command::new("python3")
        .args(["-c", "import prometheus_client.openmetrics.parser"])
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn metrics_endpoint_serves_the_fleet_and_parses() {
    let rt = runtime();
    let sim = start_sim(
        &rt,
        &[("ok", Behaviour::State(2)), ("bad", Behaviour::Free)],
        Duration::from_secs(3600),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("fleet.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\ninterval = \"500ms\"\nmax_interval = \"1s\"\n{}",
            nodes_toml(&sim, &["ok", "bad"])
        ),
    )
    .expect("write");
    let port = free_port();
    let child = watch(&config, &["--metrics", &format!("127.0.0.1:{port}")]);
    let start = Instant::now();
    let mut response = String::new();
    while start.elapsed() < Duration::from_secs(10) {
        if let Some(r) = http_get(port, "/metrics") {
            if r.contains("syncguard_node_healthy{node=\"bad\"")
                && r.contains("syncguard_nodes{status=\"synced\"} 1")
                && r.contains("syncguard_nodes{status=\"free\"} 1")
            {
                response = r;
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    let not_found = http_get(port, "/nope").unwrap_or_default();
    let _ = stop(child);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(not_found.starts_with("HTTP/1.1 404"), "{not_found}");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    for want in [
        "syncguard_node_healthy{node=\"ok\",group=\"\",mode=\"poll\"} 1",
        "syncguard_node_healthy{node=\"bad\",group=\"\",mode=\"poll\"} 0",
        "syncguard_node_status{node=\"bad\",group=\"\",mode=\"poll\",status=\"free\"} 1",
        "syncguard_node_role_code{node=\"ok\",group=\"\",mode=\"poll\"} 2",
        "syncguard_nodes{status=\"free\"} 1",
        "syncguard_build_info{version=\"",
    ] {
        assert!(body.contains(want), "missing {want:?} in:\n{body}");
    }
    if !have_python_parser() {
        // .ci/run installs it, so CI always runs this half.
        eprintln!("skipping the parser check: python3 -m pip install prometheus_client");
        return;
    }
    let mut py = Command::new("python3")
        .args([
            "-c",
            "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
             names = sorted(f.name for f in p(sys.stdin.read()))\nprint('\\n'.join(names))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    py.stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("feed parser");
    let out = py.wait_with_output().expect("parser");
    assert!(
        out.status.success(),
        "the Prometheus parser rejected the exposition"
    );
    let names = String::from_utf8_lossy(&out.stdout);
    for family in [
        "syncguard_node_healthy",
        "syncguard_node_reply_latency_seconds",
        "syncguard_nodes",
        "syncguard_build_info",
    ] {
        assert!(
            names.lines().any(|l| l == family),
            "{family} not parsed: {names}"
        );
    }
}

#[test]
fn alert_hook_fires_once_per_confirmed_change_with_its_environment() {
    let rt = runtime();
    let sim = start_sim(
        &rt,
        &[("flap", Behaviour::Flap), ("ok", Behaviour::Synced)],
        Duration::from_secs(2),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().join("hooks");
    std::fs::create_dir(&out_dir).expect("mkdir");
    let script = dir.path().join("record.sh");
    // Records the SYNCGUARD_* environment it was given, one file per run.
    std::fs::write(
        &script,
        "env | grep '^SYNCGUARD_' | sort > \"$1/$(date +%s%N).env\"\n",
    )
    .expect("script");
    let config = dir.path().join("fleet.toml");
    std::fs::write(
        &config,
        format!(
            "[defaults]\ninterval = \"200ms\"\nmax_interval = \"300ms\"\n\
             [[alert]]\ncommand = [\"/bin/sh\", \"{}\", \"{}\"]\non = [\"unhealthy\", \"recovered\"]\nafter = 2\n{}",
            script.display(),
            out_dir.display(),
            nodes_toml(&sim, &["flap", "ok"])
        ),
    )
    .expect("write");
    let child = watch(&config, &[]);
    // The flap node is Synced for 2 s, Free for 2 s, then Synced again.
    std::thread::sleep(Duration::from_millis(5200));
    let _ = stop(child);
    let mut runs: Vec<_> = std::fs::read_dir(&out_dir)
        .expect("hook output")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    runs.sort();
    let envs: Vec<String> = runs
        .iter()
        .map(|p| std::fs::read_to_string(p).expect("env file"))
        .collect();
    assert_eq!(envs.len(), 2, "one run per confirmed change: {envs:#?}");
    assert!(
        envs[0].contains("SYNCGUARD_EVENT=unhealthy\n"),
        "{}",
        envs[0]
    );
    assert!(envs[0].contains("SYNCGUARD_NODE=flap\n"), "{}", envs[0]);
    assert!(envs[0].contains("SYNCGUARD_STATUS=free\n"), "{}", envs[0]);
    assert!(
        envs[0].contains("SYNCGUARD_PREVIOUS=synced\n"),
        "{}",
        envs[0]
    );
    assert!(envs[0].contains("SYNCGUARD_REPLY=Free\n"), "{}", envs[0]);
    for key in ["SYNCGUARD_GROUP=", "SYNCGUARD_ROLE=", "SYNCGUARD_ERROR="] {
        assert!(envs[0].contains(key), "{key} missing: {}", envs[0]);
    }
    assert!(
        envs[1].contains("SYNCGUARD_EVENT=recovered\n"),
        "{}",
        envs[1]
    );
    assert!(envs[1].contains("SYNCGUARD_STATUS=synced\n"), "{}", envs[1]);
    assert!(envs[1].contains("SYNCGUARD_PREVIOUS=free\n"), "{}", envs[1]);
}

#[test]
fn sighup_reload_adds_and_removes_nodes_and_keeps_the_others() {
    let rt = runtime();
    let sim = start_sim(
        &rt,
        &[
            ("a", Behaviour::Synced),
            ("b", Behaviour::Free),
            ("c", Behaviour::State(1)),
        ],
        Duration::from_secs(3600),
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("fleet.toml");
    let timing = "[defaults]\ninterval = \"300ms\"\nmax_interval = \"400ms\"\n";
    std::fs::write(
        &config,
        format!("{timing}{}", nodes_toml(&sim, &["a", "b"])),
    )
    .expect("write");
    let child = watch(&config, &[]);
    std::thread::sleep(Duration::from_millis(1500));
    // Remove b, add c; a is unchanged.
    std::fs::write(
        &config,
        format!("{timing}{}", nodes_toml(&sim, &["a", "c"])),
    )
    .expect("rewrite");
    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(1500));
    // A broken file is rejected and the running config stays.
    std::fs::write(&config, "[[node]]\nname = \"x\"\n").expect("break");
    signal(&child, "HUP");
    std::thread::sleep(Duration::from_millis(800));
    let (stdout, stderr) = stop(child);
    let events: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect();
    let of = |node: &str| -> Vec<(String, String)> {
        events
            .iter()
            .filter(|e| e["node"] == node)
            .map(|e| {
                (
                    e["previous"].as_str().unwrap_or("").to_owned(),
                    e["status"].as_str().unwrap_or("").to_owned(),
                )
            })
            .collect()
    };
    // a kept its state: it went pending -> synced once, not again after the reload.
    assert_eq!(
        of("a"),
        vec![("pending".to_owned(), "synced".to_owned())],
        "{stdout}"
    );
    assert_eq!(of("b"), vec![("pending".to_owned(), "free".to_owned())]);
    assert_eq!(
        of("c"),
        vec![("pending".to_owned(), "synced".to_owned())],
        "c started after the reload"
    );
    assert!(
        stderr.contains("reloaded") && stderr.contains("1 kept"),
        "{stderr}"
    );
    assert!(
        stderr.contains("reload rejected, old config kept"),
        "{stderr}"
    );
    assert!(stderr.contains("node[0].host: missing"), "{stderr}");
    assert!(
        stderr.contains("watched 2 nodes"),
        "the reloaded config stayed in force: {stderr}"
    );
}

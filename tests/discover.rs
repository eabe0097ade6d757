//! `discover` end to end: the real binary listens on loopback, simulated SyncGuard
//! V3 senders (`sim --push`, the real binary too) push to it, and what it prints
//! and appends is checked.

mod common;

use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::bin::{Finished, Proc, bin};
use syncguard_fleet::config::Config;

/// A port that was free a moment ago on 127.0.0.1.
fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    l.local_addr().expect("addr").port()
}

/// Starts `discover --listen 127.0.0.1:PORT --for SECS extra...` and waits until
/// it listens; a port taken in between is tried again with another.
fn start_discover(secs: u32, extra: &[&str]) -> (Proc, SocketAddr) {
    start_discover_after(&[], secs, extra)
}

/// As [`start_discover`], with `before` ahead of the subcommand (`--shard 2/2`).
fn start_discover_after(before: &[&str], secs: u32, extra: &[&str]) -> (Proc, SocketAddr) {
    for _ in 0..5 {
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().expect("addr");
        let p = Proc::spawn(
            bin()
                .args(before)
                .arg("discover")
                .args(["--listen", &addr.to_string()])
                .args(["--for", &format!("{secs}s")])
                .args(extra),
        );
        let listening = common::wait_until(Duration::from_secs(10), || {
            p.stderr().contains("listening on") || p.stderr().contains("cannot listen")
        });
        if listening && p.stderr().contains("listening on") {
            return (p, addr);
        }
    }
    panic!("discover could not listen on a free loopback port");
}

/// `sim --push ADDR --nodes N --interval 200ms extra...`.
fn sim(addr: SocketAddr, nodes: usize, extra: &[&str]) -> Proc {
    Proc::spawn(
        bin()
            .arg("sim")
            .args(["--push", &addr.to_string()])
            .args(["--nodes", &nodes.to_string()])
            .args(["--interval", "200ms"])
            .args(extra),
    )
}

/// One `discover` run of `secs` seconds with `nodes` simulated senders.
fn discover(nodes: usize, secs: u32, extra: &[&str], sim_extra: &[&str]) -> Finished {
    let (d, addr) = start_discover(secs, extra);
    let s = sim(addr, nodes, sim_extra);
    let f = d.finish(Duration::from_secs(u64::from(secs) + 20));
    drop(s);
    f
}

fn ok(f: &Finished) {
    assert_eq!(
        f.code,
        Some(0),
        "exit code\nstdout:\n{}\nstderr:\n{}",
        f.stdout,
        f.stderr
    );
}

/// The `host` of every `[[node]]` in `toml`, in order.
fn hosts(toml: &str) -> Vec<String> {
    let cfg = Config::parse(toml, "stdout").expect("the output is a valid fleet file");
    cfg.nodes.iter().map(|n| n.host.clone()).collect()
}

fn no_config(dir: &Path) -> String {
    dir.join("absent.toml").display().to_string()
}

#[test]
fn four_senders_become_four_push_entries() {
    let dir = tempfile::tempdir().expect("dir");
    let f = discover(4, 3, &["--config", &no_config(dir.path())], &[]);
    ok(&f);
    assert_eq!(f.stdout.matches("[[node]]").count(), 4, "{}", f.stdout);
    assert_eq!(
        hosts(&f.stdout),
        ["10.200.0.1", "10.200.0.2", "10.200.0.3", "10.200.0.4"]
    );
    let cfg = Config::parse(&f.stdout, "stdout").expect("valid");
    for n in &cfg.nodes {
        assert_eq!(n.mode.as_str(), "push");
        assert_eq!(n.name, format!("node-{}", n.host.replace('.', "-")));
        assert_eq!(n.group, None);
    }
    // The comment above each entry: the state it said last, and the peer.
    assert!(
        f.stdout
            .contains("# last heard 10.200.0.1_state2 (Master) from 127.0.0.1:"),
        "{}",
        f.stdout
    );
    assert!(
        f.stderr
            .contains("heard 4 senders (0 already listed) in 3s"),
        "{}",
        f.stderr
    );
}

#[test]
fn a_group_is_written_and_unknown_senders_get_their_peer_address() {
    let dir = tempfile::tempdir().expect("dir");
    let f = discover(
        2,
        3,
        &["--config", &no_config(dir.path()), "--group", "wall A"],
        &["--unknown-every", "2"],
    );
    ok(&f);
    let cfg = Config::parse(&f.stdout, "stdout").expect("valid");
    let hosts: Vec<&str> = cfg.nodes.iter().map(|n| n.host.as_str()).collect();
    assert_eq!(hosts, ["10.200.0.1", "127.0.0.1"], "{}", f.stdout);
    assert!(
        cfg.nodes
            .iter()
            .all(|n| n.group.as_deref() == Some("wall A"))
    );
    assert!(
        f.stdout
            .contains("it writes `unknown` for its IP, so host is its peer address"),
        "{}",
        f.stdout
    );
}

#[test]
fn senders_already_listed_are_skipped() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("fleet.toml");
    // 10.200.0.2 is listed as a push node, 10.200.0.3 only as its IPv4-mapped form.
    std::fs::write(
        &path,
        "[[node]]\nname = \"b\"\nhost = \"10.200.0.2\"\nmode = \"push\"\n\n\
         [[node]]\nname = \"c\"\nhost = \"::ffff:10.200.0.3\"\nmode = \"push\"\n\n\
         [[node]]\nname = \"node-10-200-0-1\"\nhost = \"127.0.0.1\"\n",
    )
    .expect("write");
    let f = discover(4, 3, &["--config", path.to_str().expect("utf-8")], &[]);
    ok(&f);
    assert_eq!(
        hosts(&f.stdout),
        ["10.200.0.1", "10.200.0.4"],
        "{}",
        f.stdout
    );
    // The poll node has the name 10.200.0.1 would get: it gets a suffix.
    assert!(
        f.stdout.contains("name = \"node-10-200-0-1-2\""),
        "{}",
        f.stdout
    );
    assert!(f.stderr.contains("(2 already listed)"), "{}", f.stderr);
}

const FLEET: &str = "\
# Stage left wall.
[defaults]
timeout = \"3s\"   # slow switches

# The poll nodes.
[[node]]
name = \"wall-01\"
host = \"127.0.0.1\"
port = 1
";

#[test]
fn append_keeps_the_file_and_a_second_run_adds_nothing() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("fleet.toml");
    std::fs::write(&path, FLEET).expect("write");
    let p = path.to_str().expect("utf-8");
    let f = discover(4, 3, &["--append", p], &[]);
    ok(&f);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.starts_with(FLEET), "comments and layout kept:\n{text}");
    let cfg = Config::load(&path).expect("the appended file loads");
    let push: Vec<&str> = cfg.push_nodes().map(|(_, n)| n.host.as_str()).collect();
    assert_eq!(
        push,
        ["10.200.0.1", "10.200.0.2", "10.200.0.3", "10.200.0.4"]
    );
    assert!(
        f.stderr.contains(&format!("added 4 nodes to {p}")),
        "{}",
        f.stderr
    );
    // --listen is not 0.0.0.0:8080 and the file has no [listen]: a hint.
    assert!(f.stderr.contains("has no [listen]"), "{}", f.stderr);

    let again = discover(4, 3, &["--append", p], &[]);
    ok(&again);
    assert_eq!(again.stdout, "", "nothing new is printed");
    assert!(
        again.stderr.contains("(4 already listed)"),
        "{}",
        again.stderr
    );
    assert_eq!(
        std::fs::read_to_string(&path).expect("read"),
        text,
        "a second run adds nothing"
    );
}

#[test]
fn append_refuses_a_file_that_does_not_load() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("fleet.toml");
    let broken = "[[node]]\nname = \"a\"\nhost = \"10.0.0.1\"\ntimeout = \"soon\"\n";
    std::fs::write(&path, broken).expect("write");
    let f = common::bin::run(bin().args([
        "discover",
        "--listen",
        "127.0.0.1:0",
        "--for",
        "1s",
        "--append",
        path.to_str().expect("utf-8"),
    ]));
    assert_eq!(f.code, 3, "{}", f.stderr);
    assert!(
        f.stderr.contains("timeout"),
        "names the problem: {}",
        f.stderr
    );
    assert_eq!(std::fs::read_to_string(&path).expect("read"), broken);
}

#[test]
fn resolve_names_by_reverse_dns_or_falls_back_to_the_ip() {
    let dir = tempfile::tempdir().expect("dir");
    let f = discover(
        2,
        3,
        &["--config", &no_config(dir.path()), "--resolve"],
        &["--ip-base", "127.0.0.1"],
    );
    ok(&f);
    let cfg = Config::parse(&f.stdout, "stdout").expect("valid");
    let hosts: Vec<&str> = cfg.nodes.iter().map(|n| n.host.as_str()).collect();
    assert_eq!(hosts, ["127.0.0.1", "127.0.0.2"]);
    // What the resolver says about loopback depends on the machine: a name
    // without dots, or the name from the IP.
    for n in &cfg.nodes {
        let from_ip = format!("node-{}", n.host.replace('.', "-"));
        assert!(
            n.name == from_ip || (!n.name.is_empty() && !n.name.contains('.')),
            "{}: {}",
            n.host,
            n.name
        );
    }
}

#[test]
fn garbage_senders_are_ignored_and_counted() {
    let dir = tempfile::tempdir().expect("dir");
    let (d, addr) = start_discover(3, &["--config", &no_config(dir.path())]);
    let s = sim(addr, 2, &[]);
    let mut junk = Vec::new();
    for payload in [
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n".to_vec(),
        vec![0xff; 4096],
        b"10.9.9.9_stateX\r\nNotSynced\r\n".to_vec(),
    ] {
        let mut c = TcpStream::connect(addr).expect("connect");
        // The receiver may close first; what it did is checked below.
        let _ = c.write_all(&payload);
        junk.push(c);
    }
    let f = d.finish(Duration::from_secs(20));
    drop((s, junk));
    ok(&f);
    assert_eq!(
        hosts(&f.stdout),
        ["10.200.0.1", "10.200.0.2"],
        "{}",
        f.stdout
    );
    assert!(f.stderr.contains("ignored "), "{}", f.stderr);
    assert!(
        f.stderr.contains("3 connections sent nothing valid"),
        "{}",
        f.stderr
    );
}

#[test]
fn nobody_heard_is_fine_and_says_where_to_point_the_nodes() {
    let dir = tempfile::tempdir().expect("dir");
    let (d, addr) = start_discover(1, &["--config", &no_config(dir.path())]);
    let f = d.finish(Duration::from_secs(15));
    ok(&f);
    assert_eq!(f.stdout, "");
    assert!(f.stderr.contains("heard 0 senders"), "{}", f.stderr);
    assert!(
        f.stderr.contains(&format!("ServerPort at {}", addr.port())),
        "{}",
        f.stderr
    );
}

#[test]
fn interrupted_early_still_prints_what_was_heard() {
    let dir = tempfile::tempdir().expect("dir");
    let (d, addr) = start_discover(120, &["--config", &no_config(dir.path())]);
    let s = sim(addr, 2, &[]);
    d.wait_for(Duration::from_secs(10), "both senders heard", |_, err| {
        err.contains("heard 10.200.0.1 ") && err.contains("heard 10.200.0.2 ")
    });
    d.signal(rustix::process::Signal::INT);
    let f = d.finish(Duration::from_secs(10));
    drop(s);
    ok(&f);
    assert!(f.took < Duration::from_secs(10));
    assert_eq!(hosts(&f.stdout), ["10.200.0.1", "10.200.0.2"]);
}

#[test]
fn an_empty_group_is_refused() {
    let f = common::bin::run(bin().args(["discover", "--for", "1s", "--group", " "]));
    assert_eq!(f.code, 3);
    assert!(
        f.stderr.contains("--group must not be empty"),
        "{}",
        f.stderr
    );
}

const SHARDED: &str = "\
# Shard 1 of 2.
[shard]
index = 1
count = 2

[[node]]
name = \"wall-01\"
host = \"127.0.0.1\"
port = 1
";

/// `discover --append` into `SHARDED` with `before` ahead of the subcommand; the
/// file's text after, and the run.
fn discover_into_sharded(before: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, Finished) {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("fleet.toml");
    std::fs::write(&path, SHARDED).expect("write");
    let (d, addr) = start_discover_after(before, 3, &["--append", path.to_str().expect("utf-8")]);
    let s = sim(addr, 2, &[]);
    let f = d.finish(Duration::from_secs(25));
    drop(s);
    ok(&f);
    (dir, path, f)
}

fn config_check(before: &[&str], path: &Path) -> common::bin::Run {
    common::bin::run(bin().args(before).args([
        "-c",
        path.to_str().expect("utf-8"),
        "config",
        "check",
    ]))
}

#[test]
fn append_to_a_sharded_file_pins_the_new_nodes_to_its_shard() {
    let (_dir, path, f) = discover_into_sharded(&[]);
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.starts_with(SHARDED), "{text}");
    let cfg = Config::load(&path).expect("loads");
    let push: Vec<(&str, Option<u32>)> = cfg
        .push_nodes()
        .map(|(_, n)| (n.host.as_str(), n.shard))
        .collect();
    assert_eq!(push, [("10.200.0.1", Some(1)), ("10.200.0.2", Some(1))]);
    // Printed the same way.
    assert_eq!(f.stdout.matches("shard = 1\n").count(), 2, "{}", f.stdout);
    assert!(!f.stderr.contains("hint: some nodes"), "{}", f.stderr);
    let check = config_check(&[], &path);
    assert_eq!(check.code, 0, "{}\n{}", check.stdout, check.stderr);
}

#[test]
fn append_with_a_shard_on_the_command_line_pins_to_it() {
    let (_dir, path, f) = discover_into_sharded(&["--shard", "2/2"]);
    let cfg = Config::load(&path).expect("loads");
    let pins: Vec<Option<u32>> = cfg.push_nodes().map(|(_, n)| n.shard).collect();
    assert_eq!(pins, [Some(2), Some(2)], "{}", f.stdout);
    // The instance for shard 2 takes the new nodes; the file's own shard 1 the rest.
    for before in [&[][..], &["--shard", "2/2"][..]] {
        let check = config_check(before, &path);
        assert_eq!(
            check.code, 0,
            "{before:?}: {}\n{}",
            check.stdout, check.stderr
        );
    }
}

#[test]
fn pinned_nodes_in_an_unsharded_file_get_a_hint() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("fleet.toml");
    std::fs::write(&path, format!("{FLEET}shard = 1\n")).expect("write");
    let f = discover(2, 3, &["--append", path.to_str().expect("utf-8")], &[]);
    ok(&f);
    assert!(f.stderr.contains("hint: some nodes of"), "{}", f.stderr);
    assert!(f.stderr.contains("--shard K/N"), "{}", f.stderr);
    assert!(!f.stdout.contains("shard ="), "{}", f.stdout);
}

#[test]
fn a_file_a_shard_would_refuse_is_left_alone() {
    // An unpinned push node: no instance of a sharded fleet loads this file, so
    // nothing is added to it.
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("fleet.toml");
    let before =
        format!("{SHARDED}\n[[node]]\nname = \"p\"\nhost = \"10.9.9.9\"\nmode = \"push\"\n");
    std::fs::write(&path, &before).expect("write");
    let (d, addr) = start_discover(3, &["--append", path.to_str().expect("utf-8")]);
    let s = sim(addr, 1, &[]);
    let f = d.finish(Duration::from_secs(25));
    drop(s);
    assert_eq!(f.code, Some(3), "{}", f.stderr);
    assert!(f.stderr.contains("not changed"), "{}", f.stderr);
    assert!(f.stderr.contains("\"p\" has no shard key"), "{}", f.stderr);
    assert_eq!(std::fs::read_to_string(&path).expect("read"), before);
}

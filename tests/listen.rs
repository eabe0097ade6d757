//! Listen (push) mode against real loopback connections: attribution, limits,
//! unlisted senders, and what `--once` reports for push nodes and sync groups.

mod common;

use std::net::{Ipv4Addr, SocketAddr};
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

use syncguard_fleet::config::Config;
use syncguard_fleet::model::{Role, Status, Verdict};
use syncguard_fleet::sim::{self, PushPlan};
use syncguard_fleet::state::Fleet;

use common::harness::{Harness, push_config};
use common::net::closed_within;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_senders_are_all_attributed_and_no_line_is_lost() {
    let plan = PushPlan {
        count: 250,
        base: Ipv4Addr::new(10, 50, 0, 1),
        group_size: 10,
        error_every: Some(25),
        flap_every: None,
        unknown_every: None,
    };
    let text = plan.fleet_toml(
        "127.0.0.1:0".parse().expect("addr"),
        Duration::from_secs(30),
    );
    let config = Config::parse(&text, "plan.toml").expect("plan config");
    let mut h = Harness::start(&config).await;
    let (senders, stats) = sim::start_push_senders(
        h.addr(),
        &plan,
        Duration::from_millis(200),
        Duration::from_secs(60),
        Duration::from_millis(500),
    );
    let all_heard = h
        .pump_until(Duration::from_secs(10), |f| {
            f.nodes()
                .iter()
                .map(|n| &n.view)
                .all(|n| n.status != Status::Pending)
        })
        .await;
    assert!(all_heard, "not every sender was heard");
    h.pump_for(Duration::from_secs(1)).await;
    assert_eq!(
        h.fleet.push().connections.len(),
        250,
        "one persistent connection each"
    );
    for (i, (n, s)) in h
        .fleet
        .nodes()
        .iter()
        .map(|n| &n.view)
        .zip(plan.senders())
        .enumerate()
    {
        assert_eq!(
            n.reported_ip().map(|ip| ip.to_string()),
            Some(s.ip.to_string()),
            "node {i}"
        );
        let (status, role) = if (i + 1) % 25 == 0 {
            (Status::Free, Role::Error)
        } else if i % 10 == 0 {
            (Status::Synced, Role::Master)
        } else {
            (Status::Synced, Role::Slave)
        };
        assert_eq!(
            (n.status, n.role()),
            (status, Some(role)),
            "node {}",
            n.name()
        );
        assert!(n.peer.is_some_and(|p| p.ip().is_loopback()));
        assert!(n.connected);
    }
    assert!(h.fleet.push().unlisted.is_empty());
    // Stop the senders, drain what is in flight, and compare sent with counted.
    drop(senders);
    h.pump_until(Duration::from_secs(5), |f| f.push().connections.is_empty())
        .await;
    h.pump_for(Duration::from_millis(200)).await;
    let sent = stats.lines_sent.load(Ordering::Relaxed);
    assert!(sent >= 250 * 4, "sent only {sent}");
    assert_eq!(
        h.fleet.push().stats.lines,
        sent,
        "lines lost between senders and monitor"
    );
    assert_eq!(h.fleet.push().stats.invalid_lines, 0);
}

#[tokio::test]
async fn framing_split_duplicate_unknown_and_silent_connections() {
    let config = push_config(
        "",
        &[
            ("a", "10.0.0.1", None),
            ("b", "10.0.0.2", None),
            ("local", "127.0.0.1", None),
        ],
    );
    let mut h = Harness::start(&config).await;
    let mut s = TcpStream::connect(h.addr()).await.expect("connect");
    // Several lines in one write, duplicates included, and one line split over writes.
    s.write_all(b"10.0.0.1_state2\r\n10.0.0.1_state2\r\n10.0.0.2_sta")
        .await
        .expect("w");
    s.flush().await.expect("flush");
    tokio::time::sleep(Duration::from_millis(50)).await;
    s.write_all(b"te7\n").await.expect("w");
    // `unknown` is attributed by the peer address, 127.0.0.1.
    s.write_all(b"unknown_state1\r\n").await.expect("w");
    // A connection that opens and closes without a byte.
    drop(TcpStream::connect(h.addr()).await.expect("connect"));
    let ok = h
        .pump_until(Duration::from_secs(5), |f| {
            f.nodes()
                .iter()
                .map(|n| &n.view)
                .all(|n| n.status != Status::Pending)
        })
        .await;
    assert!(ok);
    let n = h.fleet.nodes();
    assert_eq!(
        (n[0].view.status, n[0].view.role()),
        (Status::Synced, Some(Role::Master))
    );
    // Duplicates in one read are one update that counts both lines.
    assert_eq!(
        n[0].history.len(),
        1,
        "duplicates in one read are one update"
    );
    assert!(h.fleet.push().stats.lines >= 4, "every line is counted");
    assert_eq!(
        (n[1].view.status, n[1].view.role(), n[1].view.code()),
        (Status::Free, Some(Role::Unknown), Some(7))
    );
    assert_eq!(
        (n[2].view.status, n[2].view.role()),
        (Status::Synced, Some(Role::Slave))
    );
    h.pump_until(Duration::from_secs(2), |f| f.push().connections.len() == 1)
        .await;
    assert_eq!(
        h.fleet.push().connections.len(),
        1,
        "the silent connection is gone, the other stays"
    );
    assert_eq!(h.fleet.push().stats.invalid_lines, 0);
    // Old-style senders: one connection per line.
    for _ in 0..5 {
        let mut s = TcpStream::connect(h.addr()).await.expect("connect");
        s.write_all(b"10.0.0.2_state1\r\n").await.expect("w");
    }
    let ok = h
        .pump_until(Duration::from_secs(5), |f| {
            f.nodes()[1].view.status == Status::Synced
                && f.push().stats.accepted == 7
                && f.push().connections.len() == 1
        })
        .await;
    assert!(ok, "per-line senders: {:?}", h.fleet.nodes()[1].view.status);
    assert_eq!(h.fleet.push().stats.accepted, 7);
}

#[tokio::test]
async fn unlisted_senders_are_shown_when_allowed_and_do_not_change_the_verdict() {
    let config = push_config("allow_unlisted = true", &[("a", "10.0.0.1", None)]);
    let mut h = Harness::start(&config).await;
    let mut listed = TcpStream::connect(h.addr()).await.expect("connect");
    listed.write_all(b"10.0.0.1_state2\r\n").await.expect("w");
    let mut stranger = TcpStream::connect(h.addr()).await.expect("connect");
    stranger.write_all(b"10.9.9.9_state0\r\n").await.expect("w");
    h.pump_until(Duration::from_secs(5), |f| {
        !f.push().unlisted.is_empty() && f.nodes()[0].view.status == Status::Synced
    })
    .await;
    let u = h
        .fleet
        .push()
        .unlisted
        .values()
        .next()
        .expect("unlisted sender");
    assert_eq!(u.reported_ip.to_string(), "10.9.9.9");
    assert_eq!((u.status, u.role()), (Status::Free, Some(Role::Error)));
    assert!(u.peer.ip().is_loopback());
    assert_eq!(
        h.fleet.verdict(),
        Verdict::Ok,
        "unlisted senders do not change the verdict"
    );
    // The stranger's connection stays open.
    stranger
        .write_all(b"10.9.9.9_state1\r\n")
        .await
        .expect("still open");
    h.pump_for(Duration::from_millis(200)).await;
    assert_eq!(
        h.fleet.push().unlisted.values().next().map(|u| u.lines),
        Some(2)
    );
}

#[tokio::test]
async fn unlisted_senders_are_closed_when_not_allowed() {
    let config = push_config("allow_unlisted = false", &[("a", "10.0.0.1", None)]);
    let mut h = Harness::start(&config).await;
    let mut listed = TcpStream::connect(h.addr()).await.expect("connect");
    listed.write_all(b"10.0.0.1_state2\r\n").await.expect("w");
    let mut stranger = TcpStream::connect(h.addr()).await.expect("connect");
    stranger.write_all(b"10.9.9.9_state2\r\n").await.expect("w");
    let pump = h.pump_for(Duration::from_millis(500));
    let (closed, ()) = tokio::join!(closed_within(&mut stranger, Duration::from_secs(3)), pump);
    assert!(closed, "unlisted sender was not closed");
    assert!(h.fleet.push().unlisted.is_empty());
    assert_eq!(h.fleet.push().stats.rejected_unlisted, 1);
    assert_eq!(h.fleet.nodes()[0].view.status, Status::Synced);
    assert_eq!(
        h.fleet.push().connections.len(),
        1,
        "the listed sender stays connected"
    );
}

#[tokio::test]
async fn overlong_line_and_garbage_close_only_that_connection() {
    let config = push_config("", &[("a", "10.0.0.1", None), ("local", "127.0.0.1", None)]);
    let mut h = Harness::start(&config).await;
    let mut good = TcpStream::connect(h.addr()).await.expect("connect");
    good.write_all(b"10.0.0.1_state2\r\n").await.expect("w");
    // 300 bytes with no newline: invalid, and closed.
    let mut long = TcpStream::connect(h.addr()).await.expect("connect");
    long.write_all(&[b'7'; 300]).await.expect("w");
    // 16 invalid lines: closed.
    let mut junk = TcpStream::connect(h.addr()).await.expect("connect");
    for _ in 0..20 {
        let _ = junk.write_all(b"\x1b[2Jgarbage\r\n").await;
    }
    let pump = h.pump_for(Duration::from_millis(800));
    let (long_closed, junk_closed, ()) = tokio::join!(
        closed_within(&mut long, Duration::from_secs(3)),
        closed_within(&mut junk, Duration::from_secs(3)),
        pump
    );
    assert!(long_closed && junk_closed);
    assert_eq!(h.fleet.push().stats.closed_abuse, 2);
    assert!(h.fleet.push().stats.invalid_lines >= 17);
    // The junk came from 127.0.0.1, which is push node `local`: it is invalid now,
    // with the escaped text, and the good node is untouched.
    let local = &h.fleet.nodes()[1].view;
    assert_eq!(local.status, Status::Invalid);
    let err = local.error().expect("error text");
    assert!(!err.contains('\x1b') && err.contains("\\x1b[2J"), "{err}");
    assert_eq!(h.fleet.nodes()[0].view.status, Status::Synced);
    good.write_all(b"10.0.0.1_state1\r\n")
        .await
        .expect("good connection still open");
    h.pump_for(Duration::from_millis(200)).await;
    assert_eq!(h.fleet.nodes()[0].view.role(), Some(Role::Slave));
}

#[tokio::test]
async fn connections_beyond_the_limit_are_refused_and_others_unaffected() {
    let config = push_config("max_connections = 5", &[("a", "10.0.0.1", None)]);
    let mut h = Harness::start(&config).await;
    let mut kept = Vec::new();
    for _ in 0..5 {
        kept.push(TcpStream::connect(h.addr()).await.expect("connect"));
    }
    h.pump_until(Duration::from_secs(3), |f| f.push().connections.len() == 5)
        .await;
    let mut extra = Vec::new();
    for _ in 0..5 {
        extra.push(TcpStream::connect(h.addr()).await.expect("connect"));
    }
    for s in &mut extra {
        assert!(
            closed_within(s, Duration::from_secs(2)).await,
            "extra connection not refused"
        );
    }
    h.pump_for(Duration::from_millis(200)).await;
    assert_eq!(h.fleet.push().stats.rejected_full, 5);
    kept[0]
        .write_all(b"10.0.0.1_state2\r\n")
        .await
        .expect("existing connection works");
    let ok = h
        .pump_until(Duration::from_secs(3), |f| {
            f.nodes()[0].view.status == Status::Synced
        })
        .await;
    assert!(ok);
    assert_eq!(h.fleet.push().connections.len(), 5);
}

#[tokio::test(start_paused = true)]
async fn idle_connection_is_closed_after_twice_stale_after() {
    let config = push_config("stale_after = \"10s\"", &[("a", "10.0.0.1", None)]);
    let mut h = Harness::start(&config).await;
    let mut idle = TcpStream::connect(h.addr()).await.expect("connect");
    let start = tokio::time::Instant::now();
    let watch = async {
        let closed = closed_within(&mut idle, Duration::from_secs(25)).await;
        (closed, start.elapsed())
    };
    let ((closed, took), ()) = tokio::join!(watch, h.pump_for(Duration::from_secs(25)));
    assert!(closed, "not closed within 25s");
    assert!(
        took >= Duration::from_secs(20) && took < Duration::from_secs(21),
        "closed after {took:?}"
    );
    assert_eq!(h.fleet.push().stats.closed_abuse, 1);
}

#[test]
fn push_node_goes_stale_after_stale_after() {
    let config = push_config(
        "stale_after = \"30s\"",
        &[("a", "10.0.0.1", None), ("b", "10.0.0.2", None)],
    );
    let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    let at = |s: u64| t0 + Duration::from_secs(s);
    let mut f = Fleet::new(&config, t0);
    let peer: SocketAddr = "10.0.0.1:5000".parse().expect("peer");
    f.conn_opened(1, peer, at(0));
    let line = Ok(syncguard_fleet::protocol::PushLine {
        reported: syncguard_fleet::protocol::ReportedIp::V4(Ipv4Addr::new(10, 0, 0, 1)),
        code: 1,
    });
    f.push_lines(1, peer, at(10), line.clone(), 1);
    assert!(f.check_stale(at(20)).is_empty());
    // b never sent anything: not stale before the start-up grace (35 s, longer than
    // stale_after), then at once; a exactly 30 s after its line.
    assert_eq!(f.next_stale_at(), Some(at(35)));
    assert!(f.check_stale(at(34)).is_empty());
    let t = f.check_stale(at(35));
    assert_eq!(
        t.iter()
            .map(|t| (t.node.as_str(), t.to))
            .collect::<Vec<_>>(),
        vec![("b", Status::Stale)]
    );
    assert_eq!(f.next_stale_at(), Some(at(40)));
    assert!(f.check_stale(at(39)).is_empty());
    let t = f.check_stale(at(40));
    assert_eq!(
        t.iter()
            .map(|t| (t.node.as_str(), t.from, t.to))
            .collect::<Vec<_>>(),
        vec![("a", Status::Synced, Status::Stale)]
    );
    assert_eq!(
        f.nodes()[0].view.error().as_deref(),
        Some("no line for 30s")
    );
    // Stale is unhealthy and graded like unreachable.
    assert_eq!(f.verdict(), Verdict::Critical);
    // A new line recovers it.
    let t = f
        .push_lines(1, peer, at(45), line, 1)
        .transition
        .expect("transition");
    assert_eq!((t.from, t.to), (Status::Stale, Status::Synced));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_reports_push_nodes_groups_and_unlisted() {
    // One poll node (simulated) and four push senders in one group; one push node
    // never reports; one sender is unlisted; the group has two masters.
    let poll = sim::Sim::start(
        vec![sim::SimSpec {
            name: "poll-1".into(),
            group: Some("wall".into()),
            behaviour: sim::Behaviour::State(2),
        }],
        "127.0.0.1".parse().expect("ip"),
        Duration::from_secs(60),
    )
    .await
    .expect("sim");
    let probe = std::net::TcpListener::bind("127.0.0.1:0").expect("probe");
    let listen_addr = probe.local_addr().expect("addr");
    drop(probe);
    let mut text = poll.fleet_toml("timeout = \"2s\"");
    text.push_str(&format!("[listen]\nbind = [\"{listen_addr}\"]\n"));
    for (name, ip) in [
        ("p-1", "10.7.0.1"),
        ("p-2", "10.7.0.2"),
        ("p-3", "10.7.0.3"),
        ("p-silent", "10.7.0.9"),
    ] {
        text.push_str(&format!(
            "[[node]]\nname = \"{name}\"\nhost = \"{ip}\"\nmode = \"push\"\ngroup = \"led\"\n"
        ));
    }
    let config = Config::parse(&text, "mixed.toml").expect("config");
    let stats = std::sync::Arc::new(sim::PushStats::default());
    let mut senders = tokio::task::JoinSet::new();
    for (last, behaviour) in [
        (1u8, sim::PushBehaviour::Code(2)),
        (2, sim::PushBehaviour::Code(2)),
        (3, sim::PushBehaviour::Code(1)),
        (77, sim::PushBehaviour::Code(1)),
    ] {
        senders.spawn(sim::run_push_sender(
            listen_addr,
            sim::PushSender {
                ip: Ipv4Addr::new(10, 7, 0, last),
                behaviour,
                unknown_ip: false,
            },
            Duration::from_millis(200),
            Duration::from_secs(60),
            Duration::from_millis(100),
            stats.clone(),
        ));
    }
    let started = std::time::Instant::now();
    let fleet = syncguard_fleet::once::check(&config, Duration::from_secs(2))
        .await
        .expect("check");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "took {:?}",
        started.elapsed()
    );
    let json: serde_json::Value =
        serde_json::from_str(&syncguard_fleet::report::json(&fleet, SystemTime::now()))
            .expect("json");
    let status_of = |name: &str| {
        json["nodes"]
            .as_array()
            .and_then(|a| a.iter().find(|n| n["name"] == name))
            .map(|n| n["status"].as_str().unwrap_or_default().to_owned())
    };
    assert_eq!(status_of("poll-1").as_deref(), Some("synced"));
    assert_eq!(status_of("p-1").as_deref(), Some("synced"));
    assert_eq!(status_of("p-3").as_deref(), Some("synced"));
    assert_eq!(status_of("p-silent").as_deref(), Some("stale"));
    let led = json["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "led"))
        .expect("led group");
    assert_eq!(led["healthy"], false);
    assert_eq!(led["masters"], 2);
    assert_eq!(led["members"], 4);
    assert!(
        led["problem"]
            .as_str()
            .is_some_and(|p| p.contains("multiple masters (p-1, p-2)")),
        "{led}"
    );
    let wall = json["groups"]
        .as_array()
        .and_then(|g| g.iter().find(|g| g["name"] == "wall"))
        .expect("wall group");
    assert_eq!(
        (wall["healthy"].clone(), wall["problem"].clone()),
        (serde_json::json!(true), serde_json::Value::Null)
    );
    let unlisted = json["unlisted"].as_array().expect("unlisted");
    assert_eq!(unlisted.len(), 1);
    let keys: Vec<&str> = unlisted[0]
        .as_object()
        .expect("object")
        .keys()
        .map(|k| k.as_str())
        .collect();
    assert_eq!(
        keys,
        ["reported_ip", "peer", "status", "code", "role", "last_seen"]
    );
    assert_eq!(unlisted[0]["reported_ip"], "10.7.0.77");
    assert_eq!(json["verdict"], "CRITICAL");
    assert_eq!(json["exit_code"], 2);
}

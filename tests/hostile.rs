//! Hostile nodes and faults: each test fails if its protection is removed. Poll
//! faults keep the other nodes on schedule; listen-mode abuse is closed and counted
//! without disturbing well-behaved senders; restarts recover; fds and memory stay
//! flat under connection churn. Loopback only, every load bounded.

mod common;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use syncguard_fleet::config::Config;
use syncguard_fleet::engine::poll::{self, Pollers};
use syncguard_fleet::engine::timetable::{Timetable, Wake};
use syncguard_fleet::model::Input;
use syncguard_fleet::model::PollResult;
use syncguard_fleet::model::Status;
use syncguard_fleet::protocol::{PushLine, ReportedIp};
use syncguard_fleet::sim::{Sim, SimSpec};
use syncguard_fleet::state::Fleet;

use common::harness::{Harness, push_config};
use common::lab::specs;
use common::net::{FakeNode, closed_within};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const FLAP: Duration = Duration::from_secs(3600);

/// Every poll fault next to one healthy node: the healthy node is polled on time
/// throughout, and each fault gets its own status.
#[tokio::test(start_paused = true)]
async fn one_misbehaving_node_never_delays_the_others() {
    let specs: Vec<SimSpec> = specs(&[
        ("healthy", "synced", None),
        ("rst", "rst", None),
        ("deaf", "deaf", None),
        ("flood", "flood", None),
        ("drip", "drip", None),
        ("silent", "silent", None),
        ("escape", "escape", None),
        ("refused", "refused", None),
    ]);
    let sim = Sim::start(specs, LOCAL, FLAP).await.expect("sim");
    let text = sim.fleet_toml(
        "interval = \"1s\"\nmax_interval = \"1500ms\"\ntimeout = \"2s\"\nbackoff = \"5s\"",
    );
    let config = Config::parse(&text, "faults.toml").expect("config");
    let (tx, mut rx) = mpsc::channel(1024);
    let pollers = Pollers::start(&config, tx);
    let start = Instant::now();
    let mut healthy_at = Vec::new();
    let mut fleet = Fleet::new(&config, SystemTime::now());
    while start.elapsed() < Duration::from_secs(30) {
        let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await else {
            break;
        };
        if r.node.as_str() == "healthy" {
            healthy_at.push(start.elapsed());
        }
        fleet.apply_input(Input::Poll(r));
    }
    drop(pollers);
    // Polled every 1–1.5 s for 30 s: about 20 results, and never a gap longer than
    // the longest wait plus a little.
    assert!(
        healthy_at.len() >= 18,
        "healthy node polled only {} times",
        healthy_at.len()
    );
    for pair in healthy_at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap <= Duration::from_millis(1700),
            "healthy node waited {gap:?} between polls"
        );
    }
    let status = |name: &str| {
        let n = fleet
            .nodes()
            .iter()
            .map(|n| &n.view)
            .find(|n| n.name() == name)
            .expect("node");
        (n.status, n.error().unwrap_or_default())
    };
    assert_eq!(status("healthy").0, Status::Synced);
    // Reset after half a reply: the connection broke, which is `unreachable`.
    assert_eq!(status("rst").0, Status::Unreachable, "{:?}", status("rst"));
    assert!(status("rst").1.contains("reset"), "{:?}", status("rst"));
    assert_eq!(
        status("deaf"),
        (Status::Timeout, "no reply within 2s".into())
    );
    assert_eq!(
        status("silent"),
        (Status::Timeout, "no reply within 2s".into())
    );
    assert_eq!(
        status("drip"),
        (Status::Timeout, "no reply within 2s".into())
    );
    assert_eq!(status("flood").0, Status::Invalid);
    assert_eq!(
        status("refused"),
        (Status::Unreachable, "connection refused".into())
    );
    let (st, err) = status("escape");
    assert_eq!(st, Status::Invalid);
    assert!(
        !err.chars().any(|c| c.is_control()) && err.contains("\\x1b[2J"),
        "{err}"
    );
}

/// A node whose listener goes away and comes back on the same port is synced again
/// within `backoff` + `max_interval`.
#[tokio::test(start_paused = true)]
async fn restarted_node_recovers_within_backoff_plus_interval() {
    let server = FakeNode::start(Some("Synced")).await;
    let addr = server.addr;
    let text = format!(
        "[defaults]\ninterval = \"1s\"\nmax_interval = \"2s\"\ntimeout = \"1s\"\nbackoff = \"5s\"\n\
         [[node]]\nname = \"n\"\nhost = \"127.0.0.1\"\nport = {}\n",
        addr.port()
    );
    let config = Config::parse(&text, "restart.toml").expect("config");
    let (tx, mut rx) = mpsc::channel(64);
    let timetable = Timetable::new();
    let clock = tokio::spawn(timetable.clone().run());
    let task = tokio::spawn(poll::run_poller(
        poll::Poller {
            key: "n".into(),
            generation: 0,
            node: Arc::clone(&config.nodes[0]),
            tx,
            wake: Wake::new(),
            timetable,
            permits: Arc::new(Semaphore::new(4)),
        },
        Duration::ZERO,
    ));
    let first = next(&mut rx).await;
    assert_eq!(first.obs.outcome.status(), Status::Synced);
    // The node goes away: listener and its connections.
    server.stop().await;
    let down = loop {
        let r = next(&mut rx).await;
        if r.obs.outcome.status() != Status::Synced {
            break r;
        }
    };
    assert_eq!(
        down.obs.outcome.status(),
        Status::Unreachable,
        "{:?}",
        down.obs.outcome
    );
    let down_at = Instant::now();
    // It comes back on the same port a second later.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let server = FakeNode::bind(addr, Some("Synced"), usize::MAX).await;
    let up = loop {
        let r = next(&mut rx).await;
        if r.obs.outcome.status() == Status::Synced {
            break down_at.elapsed();
        }
    };
    task.abort();
    clock.abort();
    drop(server);
    assert!(
        up <= Duration::from_secs(5 + 2) + Duration::from_millis(200),
        "recovered after {up:?}"
    );
}

async fn next(rx: &mut mpsc::Receiver<PollResult>) -> PollResult {
    tokio::time::timeout(Duration::from_secs(60), rx.recv())
        .await
        .expect("a result within 60 s")
        .expect("poller alive")
}

/// A receiver for push nodes `p0`, `p1`, … at `push_ips`, with `listen` keys
/// added to `[listen]`.
async fn receiver(listen: &str, push_ips: &[&str]) -> Harness {
    let nodes: Vec<(String, &str)> = push_ips
        .iter()
        .enumerate()
        .map(|(i, ip)| (format!("p{i}"), *ip))
        .collect();
    let nodes: Vec<(&str, &str, Option<&str>)> = nodes
        .iter()
        .map(|(n, ip)| (n.as_str(), *ip, None))
        .collect();
    Harness::start(&push_config(listen, &nodes)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_connections_beyond_the_limit_are_refused_and_counted() {
    let mut r = receiver("max_connections = 50", &["10.0.0.1"]).await;
    let mut kept = Vec::new();
    for _ in 0..50 {
        kept.push(TcpStream::connect(r.addr()).await.expect("connect"));
    }
    r.pump_for(Duration::from_millis(300)).await;
    assert_eq!(r.fleet.push().connections.len(), 50);
    // 5,000 more, in waves of 500 so the test's own descriptors stay bounded.
    for _ in 0..10 {
        let mut wave = Vec::with_capacity(500);
        for _ in 0..500 {
            wave.push(TcpStream::connect(r.addr()).await.expect("connect"));
        }
        for s in &mut wave {
            assert!(
                closed_within(s, Duration::from_secs(5)).await,
                "extra connection left open"
            );
        }
    }
    r.pump_for(Duration::from_millis(200)).await;
    assert_eq!(r.fleet.push().stats.rejected_full, 5000);
    assert_eq!(
        r.fleet.push().connections.len(),
        50,
        "existing connections unaffected"
    );
    kept[7]
        .write_all(b"10.0.0.1_state2\r\n")
        .await
        .expect("write");
    r.pump_for(Duration::from_millis(300)).await;
    assert_eq!(r.fleet.nodes()[0].view.status, Status::Synced);
}

/// Up to 64 MiB without a newline on one connection and binary junk on another:
/// both are cut off, the good sender is untouched, and the process's memory grows
/// by far less than the flood (a receiver buffering the line would grow by it all).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabyte_line_and_binary_junk_are_cut_off_and_memory_stays_bounded() {
    const TEST: &str =
        "hostile::megabyte_line_and_binary_junk_are_cut_off_and_memory_stays_bounded";
    if !common::skip::require(
        TEST,
        common::skip::have_proc(),
        "no /proc to read memory from",
    ) {
        return;
    }
    const FLOOD: usize = 64 * 1024 * 1024;
    let mut r = receiver("", &["10.0.0.1"]).await;
    let mut good = TcpStream::connect(r.addr()).await.expect("connect");
    let mut big = TcpStream::connect(r.addr()).await.expect("connect");
    let mut junk = TcpStream::connect(r.addr()).await.expect("connect");
    let rss_before = common::rss_kb().expect("RSS");
    let writer = tokio::spawn(async move {
        // One line that never ends; the receiver closes long before the end.
        let chunk = vec![b'9'; 64 * 1024];
        let mut sent = 0;
        while sent < FLOOD {
            if big.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len();
        }
        (big, sent)
    });
    let mut bytes = Vec::with_capacity(4096);
    let mut x: u32 = 0x9e37_79b9;
    for _ in 0..4096 {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        bytes.push(x as u8);
    }
    let _ = junk.write_all(&bytes).await;
    good.write_all(b"10.0.0.1_state1\r\n").await.expect("write");
    r.pump_for(Duration::from_millis(800)).await;
    let (mut big, sent) = writer.await.expect("writer");
    assert!(
        closed_within(&mut big, Duration::from_secs(3)).await,
        "endless line not cut off"
    );
    assert!(
        closed_within(&mut junk, Duration::from_secs(3)).await,
        "binary junk not cut off"
    );
    r.pump_for(Duration::from_millis(200)).await;
    let rss_after = common::rss_kb().expect("RSS");
    assert!(
        sent < FLOOD,
        "the receiver took all {sent} bytes of one line without closing"
    );
    // Bounded: a little for the connections and the test's own buffers, nowhere
    // near the 64 MiB a buffered line would take.
    assert!(
        rss_after <= rss_before + 16 * 1024,
        "RSS grew from {rss_before} kB to {rss_after} kB under a 64 MiB line"
    );
    assert_eq!(r.fleet.push().stats.closed_abuse, 2);
    assert_eq!(r.fleet.push().connections.len(), 1);
    assert_eq!(r.fleet.nodes()[0].view.status, Status::Synced);
    // The last line shown for any connection is bounded and escaped.
    for c in r.fleet.push().connections.values() {
        let l = c.last_line_text();
        assert!(
            l.chars().count() < 120 && !l.chars().any(|c| c.is_control()),
            "{l:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn one_byte_a_minute_is_closed_after_twice_stale_after() {
    let mut r = receiver("stale_after = \"30s\"", &["10.0.0.1"]).await;
    let mut slow = TcpStream::connect(r.addr()).await.expect("connect");
    let start = Instant::now();
    let dripper = async {
        // A byte a minute never makes a line: bytes alone do not keep it open.
        for b in b"10.0.0.1_state2\r\n" {
            if slow.write_all(&[*b]).await.is_err() {
                break;
            }
            tokio::time::sleep(Duration::from_secs(60)).await;
        }
        start.elapsed()
    };
    let (_, ()) = tokio::join!(dripper, r.pump_for(Duration::from_secs(120)));
    assert_eq!(r.fleet.push().stats.closed_abuse, 1);
    assert!(r.fleet.push().connections.is_empty());
    assert_eq!(
        r.fleet.nodes()[0].view.status,
        Status::Pending,
        "no line ever completed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_from_closes_peers_outside_the_networks() {
    let mut r = receiver(
        "allow_from = [\"10.0.0.0/8\", \"192.168.0.0/16\"]",
        &["10.0.0.1"],
    )
    .await;
    let mut s = TcpStream::connect(r.addr()).await.expect("connect");
    let _ = s.write_all(b"10.0.0.1_state2\r\n").await;
    assert!(
        closed_within(&mut s, Duration::from_secs(3)).await,
        "peer outside allow_from kept"
    );
    r.pump_for(Duration::from_millis(200)).await;
    assert_eq!(r.fleet.push().stats.rejected_address, 1);
    assert_eq!(
        r.fleet.nodes()[0].view.status,
        Status::Pending,
        "its line was never read"
    );
    assert_eq!(r.fleet.push().stats.accepted, 0);
    // Loopback allowed explicitly: accepted.
    let mut r = receiver("allow_from = [\"127.0.0.0/8\"]", &["10.0.0.1"]).await;
    let mut s = TcpStream::connect(r.addr()).await.expect("connect");
    s.write_all(b"10.0.0.1_state2\r\n").await.expect("write");
    r.pump_for(Duration::from_millis(300)).await;
    assert_eq!(r.fleet.nodes()[0].view.status, Status::Synced);
    assert_eq!(r.fleet.push().stats.rejected_address, 0);
}

#[test]
fn two_peers_claiming_one_ip_are_flagged_in_json() {
    let text = "[listen]\nbind = [\"127.0.0.1:0\"]\nstale_after = \"30s\"\n\
                [[node]]\nname = \"led\"\nhost = \"10.1.0.3\"\nmode = \"push\"\n\
                [[node]]\nname = \"other\"\nhost = \"10.1.0.4\"\nmode = \"push\"\n";
    let config = Config::parse(text, "c.toml").expect("config");
    let t0 = SystemTime::now();
    let mut f = Fleet::new(&config, t0);
    let line = |last| {
        Ok(PushLine {
            reported: ReportedIp::V4(Ipv4Addr::new(10, 1, 0, last)),
            code: 1,
        })
    };
    let a: SocketAddr = "10.1.0.3:5000".parse().expect("a");
    let b: SocketAddr = "10.9.9.9:6000".parse().expect("b");
    f.conn_opened(1, a, t0);
    f.conn_opened(2, b, t0);
    let new1 = f.push_lines(1, a, t0, line(3), 1).conflict.is_some();
    let new2 = f.push_lines(2, b, t0, line(3), 1).conflict.is_some();
    let new3 = f.push_lines(2, b, t0, line(3), 1).conflict.is_some();
    assert!(!new1 && new2 && !new3, "the conflict is new once");
    f.push_lines(1, a, t0, line(4), 1);
    let json: serde_json::Value =
        serde_json::from_str(&syncguard_fleet::report::json(&f.snapshot(t0), t0)).expect("json");
    let conflict = |name: &str| {
        json["nodes"]
            .as_array()
            .and_then(|a| a.iter().find(|n| n["name"] == name))
            .map(|n| n["conflict"].clone())
    };
    assert_eq!(conflict("led"), Some(serde_json::json!(true)));
    assert_eq!(conflict("other"), Some(serde_json::json!(false)));
    // Once the second peer has been silent for stale_after, the flag clears.
    let later = t0 + Duration::from_secs(40);
    f.push_lines(1, a, later, line(3), 1);
    let json: serde_json::Value =
        serde_json::from_str(&syncguard_fleet::report::json(&f.snapshot(later), later))
            .expect("json");
    let led = json["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == "led"))
        .cloned();
    assert_eq!(
        led.map(|n| n["conflict"].clone()),
        Some(serde_json::json!(false))
    );
}

//! Integration tests of `syncguard_fleet::poll` against the simulator on loopback.
//!
//! Every node lives on 127.0.0.1 or ::1 on a port chosen by the system. Nothing here
//! connects anywhere else; the DNS test resolves a name in the reserved `.invalid`
//! TLD, which can never produce an address to connect to.

mod common;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, mpsc};
use tokio::time::Instant;

use syncguard_fleet::config::{Config, NodeConfig};
use syncguard_fleet::engine::poll::{self, Link};
use syncguard_fleet::engine::timetable::{Timetable, Wake};
use syncguard_fleet::model::PollResult;
use syncguard_fleet::model::{Input, Outcome, TimeoutPhase};
use syncguard_fleet::protocol::{Reply, ReportedIp};
use syncguard_fleet::sim::{self, Sim, SimSpec};
use syncguard_fleet::state::{Fleet, NodeView};

use common::net::FakeNode;
use syncguard_fleet::model::{Role, Status};

const V4: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const V6: IpAddr = IpAddr::V6(Ipv6Addr::LOCALHOST);
/// Long enough that no flap node ever changes state during a test.
const FLAP: Duration = Duration::from_secs(3600);

/// Specs named after their behaviour (`synced`, `state2`, ...).
fn specs(behaviours: &[&str]) -> Vec<SimSpec> {
    let named: Vec<(&str, &str, Option<&str>)> =
        behaviours.iter().map(|b| (*b, *b, None)).collect();
    common::lab::specs(&named)
}

async fn start_sim(behaviours: &[&str], ip: IpAddr) -> Sim {
    Sim::start(specs(behaviours), ip, FLAP)
        .await
        .expect("start simulator on loopback")
}

fn config_for(sim: &Sim, defaults: &str) -> Config {
    Config::parse(&sim.fleet_toml(defaults), "sim.toml").expect("simulator config is valid")
}

/// `check_once` and apply the results as `--once` does.
async fn check_fleet(config: &Config) -> Fleet {
    let started = SystemTime::now();
    let (tx, mut rx) = mpsc::channel(64);
    let task = poll::check_once(config, tx);
    let mut fleet = Fleet::new(config, started);
    let mut results = 0;
    while let Some(r) = rx.recv().await {
        results += 1;
        fleet.apply_input(Input::Poll(r));
    }
    task.await.expect("check_once task");
    assert_eq!(results, config.nodes.len(), "one result per node");
    fleet
}

fn node<'f>(fleet: &'f Fleet, name: &str) -> &'f NodeView {
    &fleet
        .node(name)
        .unwrap_or_else(|| panic!("no node named {name}"))
        .view
}

/// (name, status, code, role, error) of one node; error `None` means no error.
type Want = (
    &'static str,
    Status,
    Option<u8>,
    Option<Role>,
    Option<&'static str>,
);

const ALL_BEHAVIOURS: &[&str] = &[
    "synced", "free", "state0", "state1", "state2", "state3", "split", "slow", "silent", "close",
    "garbage", "refused", "rst", "flood", "drip", "deaf", "escape", "http",
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_once_classifies_every_behaviour() {
    let sim = start_sim(ALL_BEHAVIOURS, V4).await;
    let config = config_for(&sim, "timeout = \"2s\"");
    let began = std::time::Instant::now();
    let fleet = check_fleet(&config).await;
    let took = began.elapsed();
    // Silent, drip and deaf nodes all run into the 2 s deadline concurrently.
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(3500),
        "check_once took {took:?}"
    );

    let here = ReportedIp::V4(Ipv4Addr::LOCALHOST);
    let exact: &[Want] = &[
        ("synced", Status::Synced, None, None, None),
        ("free", Status::Free, None, None, None),
        ("state0", Status::Free, Some(0), Some(Role::Error), None),
        ("state1", Status::Synced, Some(1), Some(Role::Slave), None),
        ("state2", Status::Synced, Some(2), Some(Role::Master), None),
        ("state3", Status::Free, Some(3), Some(Role::Unknown), None),
        ("split", Status::Synced, None, None, None),
        ("slow", Status::Synced, None, None, None),
        ("close", Status::Synced, None, None, None),
        (
            "silent",
            Status::Timeout,
            None,
            None,
            Some("no reply within 2s"),
        ),
        (
            "drip",
            Status::Timeout,
            None,
            None,
            Some("no reply within 2s"),
        ),
        (
            "deaf",
            Status::Timeout,
            None,
            None,
            Some("no reply within 2s"),
        ),
        (
            "garbage",
            Status::Invalid,
            None,
            None,
            Some("invalid reply \"NotSynced\""),
        ),
        (
            "refused",
            Status::Unreachable,
            None,
            None,
            Some("connection refused"),
        ),
        (
            "http",
            Status::Invalid,
            None,
            None,
            Some("invalid reply \"HTTP/1.1 400 Bad Request\""),
        ),
        (
            "escape",
            Status::Invalid,
            None,
            None,
            Some(
                r#"invalid reply "\x1b[2J\x1b[H\x1b]0;owned\x07Synced\x08\x08\x08\x08\x08\x08Free""#,
            ),
        ),
    ];
    for (name, status, code, role, error) in exact {
        let n = node(&fleet, name);
        assert_eq!(n.status, *status, "{name}: status ({:?})", n.error());
        assert_eq!(n.code(), *code, "{name}: code");
        assert_eq!(n.role(), *role, "{name}: role");
        assert_eq!(n.error().as_deref(), *error, "{name}: error");
        // A latency only comes with a valid reply.
        assert_eq!(n.latency().is_some(), error.is_none(), "{name}: latency");
        if code.is_some() {
            assert_eq!(n.reported_ip(), Some(here), "{name}: reported ip");
        } else {
            assert_eq!(n.reported_ip(), None, "{name}: reported ip");
        }
    }
    // The replies themselves, for the nodes that gave one.
    assert_eq!(node(&fleet, "synced").reply(), Some(&Reply::Synced));
    assert_eq!(node(&fleet, "free").reply(), Some(&Reply::Free));
    assert_eq!(node(&fleet, "split").reply(), Some(&Reply::Synced));
    assert_eq!(
        node(&fleet, "state2").reply(),
        Some(&Reply::State {
            reported: here,
            code: 2
        })
    );

    // Split arrives one byte per 50 ms: the last byte comes 250 ms in, so a reply
    // decoded any earlier would have been accepted from a partial token.
    let split = node(&fleet, "split").latency().expect("split latency");
    assert!(
        split >= Duration::from_millis(240),
        "split latency {split:?}"
    );
    let slow = node(&fleet, "slow").latency().expect("slow latency");
    assert!(slow >= Duration::from_millis(950), "slow latency {slow:?}");

    // Reset half-way through a token: unreachable, never a reply.
    let rst = node(&fleet, "rst");
    assert_eq!(rst.status, Status::Unreachable, "rst: {:?}", rst.error());
    let rst_err = rst.error().expect("rst error");
    assert!(
        rst_err.starts_with("connection reset by peer"),
        "rst: {rst_err}"
    );
    assert_eq!(rst.reply(), None);

    // The simulator floods `A` bytes: no token starts with `A`, so the very first
    // read already settles it, with a preview cut at 48 characters.
    let flood = node(&fleet, "flood");
    assert_eq!(flood.status, Status::Invalid, "flood: {:?}", flood.error());
    assert_eq!(
        flood.error().as_deref(),
        Some(format!("invalid reply \"{}…\"", "A".repeat(48)).as_str())
    );

    // Nothing from the network reaches the error text raw.
    for n in fleet.nodes().iter().map(|n| &n.view) {
        if let Some(e) = n.error() {
            assert!(
                !e.chars().any(|c| c.is_control()),
                "{}: control character in {e:?}",
                n.name()
            );
        }
    }
    let esc = node(&fleet, "escape").error().expect("escape error");
    assert!(!esc.contains('\x1b') && !esc.contains('\x07'), "{esc:?}");
    assert!(esc.contains(r"\x1b"), "{esc}");

    // Counts and verdict agree with the per-node statuses.
    let counts = fleet.counts();
    assert_eq!(counts.get(Status::Synced), 6);
    assert_eq!(counts.get(Status::Free), 3);
    assert_eq!(counts.get(Status::Timeout), 3);
    assert_eq!(counts.get(Status::Invalid), 4);
    assert_eq!(counts.get(Status::Unreachable), 2);
    assert_eq!(counts.get(Status::Pending), 0);
    assert_eq!(counts.total(), ALL_BEHAVIOURS.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_nodes_time_out_together_not_one_after_another() {
    let five = sim::parse_specs(&["silent=5".to_owned()]).expect("specs");
    let sim = Sim::start(five, V4, FLAP).await.expect("start simulator");
    let config = config_for(&sim, "timeout = \"1s\"");
    let began = std::time::Instant::now();
    let (tx, mut rx) = mpsc::channel(16);
    let task = poll::check_once(&config, tx);
    let mut results = Vec::new();
    while let Some(r) = rx.recv().await {
        results.push(r);
    }
    task.await.expect("check_once task");
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(950),
        "returned early: {took:?}"
    );
    assert!(
        took < Duration::from_millis(2500),
        "check_once took {took:?}; five 1 s timeouts must overlap"
    );
    assert_eq!(results.len(), 5);
    let mut names: Vec<&str> = results.iter().map(|r| r.node.as_str()).collect();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), 5, "one result per node");
    for r in &results {
        // Phase `Reply`: the connection was made; a silent node is not a dead one.
        assert_eq!(
            r.obs.outcome,
            Outcome::Timeout {
                phase: TimeoutPhase::Reply,
                after: Duration::from_secs(1)
            }
        );
        assert_eq!(r.obs.latency, None);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_keeps_its_connection_to_a_synced_node() {
    let sim = start_sim(&["synced"], V4).await;
    let config = config_for(&sim, "timeout = \"2s\"");
    let permits = Semaphore::new(4);
    let mut link = Link::new();
    assert!(!link.is_connected());
    for i in 0..3 {
        let ex = link.exchange(&config.nodes[0], &permits).await;
        assert_eq!(ex.outcome, Outcome::Reply(Reply::Synced), "poll {i}");
        assert!(!ex.connect_failed, "poll {i}");
        assert!(ex.latency.is_some(), "poll {i}");
        assert!(link.is_connected(), "poll {i}: connection dropped");
    }
}

/// A node that answers `Synced` to `GET_STATUS` and counts connections, to prove
/// the link really reuses one (the simulator does not count). After `answers`
/// replies on one connection it closes that connection at the next request, without
/// a reply: an idle connection the node dropped just as the poll arrived.
async fn counting_server(answers: usize) -> FakeNode {
    FakeNode::bind((V4, 0).into(), Some("Synced\r\n"), answers).await
}

fn node_at(addr: SocketAddr, extra: &str) -> Arc<NodeConfig> {
    let text = format!(
        "[[node]]\nname = \"n\"\nhost = \"{}\"\nport = {}\ntimeout = \"2s\"\n{extra}",
        addr.ip(),
        addr.port()
    );
    Config::parse(&text, "t.toml")
        .expect("valid config")
        .nodes
        .remove(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_opens_exactly_one_connection_for_many_polls() {
    let server = counting_server(usize::MAX).await;
    let node = node_at(server.addr, "");
    let permits = Semaphore::new(4);
    let mut link = Link::new();
    for i in 0..5 {
        let ex = link.exchange(&node, &permits).await;
        assert_eq!(ex.outcome, Outcome::Reply(Reply::Synced), "poll {i}");
        assert!(link.is_connected());
    }
    assert_eq!(server.accepted(), 1, "connections opened");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn link_reconnects_without_penalty_after_the_node_closes() {
    let sim = start_sim(&["close"], V4).await;
    let config = config_for(&sim, "timeout = \"2s\"");
    let permits = Semaphore::new(4);
    let mut link = Link::new();
    for i in 0..3 {
        let ex = link.exchange(&config.nodes[0], &permits).await;
        assert_eq!(ex.outcome, Outcome::Reply(Reply::Synced), "poll {i}");
        assert!(!ex.connect_failed, "poll {i}");
        assert!(ex.latency.is_some(), "poll {i}");
        // Give the FIN time to arrive on some rounds only, so both paths are covered:
        // the close noticed before the next poll, and noticed during it.
        if i == 0 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reused_connection_closed_at_the_request_is_retried_once() {
    // One reply per connection: every poll after the first finds its kept
    // connection closed only once the request is on the wire.
    let server = counting_server(1).await;
    let node = node_at(server.addr, "");
    let permits = Semaphore::new(4);
    let mut link = Link::new();
    for i in 0..3 {
        let ex = link.exchange(&node, &permits).await;
        assert_eq!(ex.outcome, Outcome::Reply(Reply::Synced), "poll {i}");
        assert!(!ex.connect_failed, "poll {i}");
        assert!(link.is_connected(), "poll {i}");
    }
    assert_eq!(server.accepted(), 3, "one fresh connection per poll");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whitespace_flood_is_cut_at_the_reply_cap() {
    // Whitespace may precede a token, so only the byte cap can stop this one.
    let listener = TcpListener::bind((V4, 0)).await.expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    let server = tokio::spawn(async move {
        if let Ok((mut stream, _)) = listener.accept().await {
            let mut buf = [0u8; 64];
            let _ = stream.read(&mut buf).await;
            let _ = stream.write_all(&[b' '; 64 * 1024]).await;
            tokio::time::sleep(Duration::from_secs(5)).await;
        }
    });
    let node = node_at(addr, "");
    let permits = Semaphore::new(1);
    let mut link = Link::new();
    let ex = link.exchange(&node, &permits).await;
    let Outcome::Invalid(why) = &ex.outcome else {
        panic!("expected invalid, got {:?}", ex.outcome);
    };
    let text = why.to_string();
    assert!(text.starts_with("reply exceeds 256 bytes"), "{text}");
    assert!(!link.is_connected());
    server.abort();
}

/// Paused time auto-advances only when every task is idle; loopback delivers data
/// within the syscall that sends it, so the sim and the link make progress in step.
#[tokio::test(start_paused = true)]
async fn drip_is_stopped_by_one_deadline_for_the_whole_exchange() {
    let sim = start_sim(&["drip"], V4).await;
    let config = config_for(&sim, "timeout = \"3s\"");
    let permits = Semaphore::new(1);
    let mut link = Link::new();
    let t0 = Instant::now();
    let ex = link.exchange(&config.nodes[0], &permits).await;
    let took = t0.elapsed();
    assert_eq!(
        ex.outcome,
        Outcome::Timeout {
            phase: TimeoutPhase::Reply,
            after: Duration::from_secs(3)
        }
    );
    // One byte a second would keep a per-read timeout alive for 16 s.
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_millis(3500),
        "deadline hit after {took:?}"
    );
    assert_eq!(ex.latency, None);
    assert!(
        !ex.connect_failed,
        "connected fine; no backoff for a slow reply"
    );
    assert!(!link.is_connected(), "a half-read reply must not be reused");
}

/// Runs one poller for `window` of (paused) time; returns the first wait it was
/// given and each result with the time it arrived, counted from the start.
async fn run_for(
    node: Arc<NodeConfig>,
    window: Duration,
    wake: Arc<Wake>,
) -> (Duration, Vec<(Duration, PollResult)>) {
    let (tx, mut rx) = mpsc::channel(16);
    let first = poll::jitter(Duration::ZERO, Duration::from_secs(1));
    assert!(first <= Duration::from_secs(1));
    let start = Instant::now();
    let timetable = Timetable::new();
    let clock = tokio::spawn(timetable.clone().run());
    let task = tokio::spawn(poll::run_poller(
        poll::Poller {
            key: node.name.as_str().into(),
            generation: 0,
            node,
            tx,
            wake,
            timetable,
            permits: Arc::new(Semaphore::new(4)),
        },
        first,
    ));
    let deadline = start + window;
    let mut got = Vec::new();
    while got.len() < 1000 {
        match tokio::time::timeout_at(deadline, rx.recv()).await {
            Ok(Some(r)) => got.push((start.elapsed(), r)),
            Ok(None) | Err(_) => break,
        }
    }
    task.abort();
    clock.abort();
    (first, got)
}

const TIMING: &str =
    "interval = \"1s\"\nmax_interval = \"2s\"\nbackoff = \"30s\"\ntimeout = \"2s\"";

#[tokio::test(start_paused = true)]
async fn refused_node_is_retried_once_per_backoff() {
    let sim = start_sim(&["refused"], V4).await;
    let config = config_for(&sim, TIMING);
    let (first, got) = run_for(
        config.nodes[0].clone(),
        Duration::from_secs(100),
        Wake::new(),
    )
    .await;
    // First poll at `first` (≤ 1 s), then one every 30 s: 4 within 100 s.
    assert_eq!(
        got.len(),
        4,
        "{:?}",
        got.iter().map(|(t, _)| t).collect::<Vec<_>>()
    );
    let (t_first, _) = &got[0];
    assert!(
        *t_first >= first && *t_first < first + Duration::from_millis(100),
        "first poll at {t_first:?}, wait was {first:?}"
    );
    for (t, r) in &got {
        assert_eq!(r.node.as_str(), "refused");
        assert_eq!(r.obs.outcome.status(), Status::Unreachable, "at {t:?}");
        assert_eq!(r.obs.outcome.error().as_deref(), Some("connection refused"));
        assert!(!r.connected);
    }
    for pair in got.windows(2) {
        let gap = pair[1].0 - pair[0].0;
        assert!(
            gap >= Duration::from_secs(30) && gap < Duration::from_secs(31),
            "gap {gap:?}: one attempt per 30 s backoff"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn healthy_node_is_polled_between_interval_and_max_interval() {
    let sim = start_sim(&["synced"], V4).await;
    let config = config_for(&sim, TIMING);
    let (first, got) = run_for(
        config.nodes[0].clone(),
        Duration::from_secs(100),
        Wake::new(),
    )
    .await;
    // Gaps of 1–2 s over 100 s: between 50 and 100 polls.
    assert!(
        (49..=101).contains(&got.len()),
        "{} polls in 100 s",
        got.len()
    );
    let (t_first, _) = &got[0];
    assert!(
        *t_first >= first && *t_first < first + Duration::from_millis(100),
        "first poll at {t_first:?}, wait was {first:?}"
    );
    for (t, r) in &got {
        assert_eq!(r.obs.outcome, Outcome::Reply(Reply::Synced), "at {t:?}");
        assert!(r.connected, "connection kept at {t:?}");
    }
    let gaps: Vec<Duration> = got.windows(2).map(|p| p[1].0 - p[0].0).collect();
    for gap in &gaps {
        assert!(
            *gap >= Duration::from_secs(1) && *gap <= Duration::from_millis(2100),
            "gap {gap:?} outside [1s, 2s]"
        );
    }
    // Jitter, not a fixed period: the gaps must not all be the same.
    let (lo, hi) = (
        gaps.iter().min().copied().unwrap_or_default(),
        gaps.iter().max().copied().unwrap_or_default(),
    );
    assert!(hi - lo > Duration::from_millis(200), "gaps {lo:?}..{hi:?}");
}

#[tokio::test(start_paused = true)]
async fn wake_cuts_a_backoff_short() {
    let sim = start_sim(&["refused"], V4).await;
    let config = config_for(&sim, TIMING);
    let wake = Wake::new();
    let waker = wake.clone();
    // Wake the poller 5 s in, well inside its first 30 s backoff.
    let nudge = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        waker.now();
    });
    let (_, got) = run_for(config.nodes[0].clone(), Duration::from_secs(20), wake).await;
    nudge.abort();
    let times: Vec<Duration> = got.iter().map(|(t, _)| *t).collect();
    assert_eq!(times.len(), 2, "{times:?}");
    assert!(
        times[1] >= Duration::from_secs(5) && times[1] < Duration::from_millis(5100),
        "woken poll at {:?}",
        times[1]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback_node_is_synced() {
    let sim = match Sim::start(specs(&["synced"]), V6, FLAP).await {
        Ok(sim) => sim,
        Err(e) => {
            // The machine has no IPv6 loopback: nothing to test, and said so.
            common::skip::report_skip(
                "poll::ipv6_loopback_node_is_synced",
                &format!("cannot listen on ::1: {e}"),
            );
            return;
        }
    };
    let config = config_for(&sim, "timeout = \"2s\"");
    assert_eq!(config.nodes[0].host, "::1");
    assert!(config.nodes[0].address().starts_with("[::1]:"));
    let fleet = check_fleet(&config).await;
    let n = node(&fleet, "synced");
    assert_eq!(n.status, Status::Synced, "{:?}", n.error());
    assert_eq!(n.reply(), Some(&Reply::Synced));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unresolvable_name_is_unreachable_and_backs_off() {
    let config = Config::parse(
        "[[node]]\nname = \"dns\"\nhost = \"node.invalid\"\ntimeout = \"3s\"\n",
        "t.toml",
    )
    .expect("valid config");
    let permits = Semaphore::new(1);
    let mut link = Link::new();
    let ex = link.exchange(&config.nodes[0], &permits).await;
    assert_eq!(ex.outcome.status(), Status::Unreachable, "{:?}", ex.outcome);
    let err = ex.outcome.error().expect("error text");
    assert!(
        err.starts_with("DNS lookup of node.invalid failed"),
        "{err}"
    );
    assert!(
        ex.connect_failed,
        "a failed lookup must trigger the backoff"
    );
    assert!(!link.is_connected());

    let fleet = check_fleet(&config).await;
    assert_eq!(fleet.nodes()[0].view.status, Status::Unreachable);
}

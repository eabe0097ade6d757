//! Hostile nodes and faults: each test fails if its protection is removed. Poll
//! faults keep the other nodes on schedule; listen-mode abuse is closed and counted
//! without disturbing well-behaved senders; restarts recover; fds and memory stay
//! flat under connection churn. Loopback only, every load bounded.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::time::Instant;

use syncguard_fleet::config::Config;
use syncguard_fleet::state::Fleet;
use syncguard_fleet::engine::Listener;
use syncguard_fleet::model::ListenEvent;
use syncguard_fleet::model::Input;
use syncguard_fleet::engine::poll::{self, Pollers};
use syncguard_fleet::model::PollResult;
use syncguard_fleet::protocol::{PushLine, ReportedIp};
use syncguard_fleet::sim::{Behaviour, Sim, SimSpec};
use syncguard_fleet::model::Status;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const FLAP: Duration = Duration::from_secs(3600);

fn spec(name: &str, behaviour: Behaviour) -> SimSpec {
    SimSpec {
        name: name.into(),
        group: None,
        behaviour,
    }
}

/// Every poll fault next to one healthy node: the healthy node is polled on time
/// throughout, and each fault gets its own status.
#[tokio::test(start_paused = true)]
async fn one_misbehaving_node_never_delays_the_others() {
    let faults = [
        ("rst", Behaviour::Rst),
        ("deaf", Behaviour::Deaf),
        ("flood", Behaviour::Flood),
        ("drip", Behaviour::Drip),
        ("silent", Behaviour::Silent),
        ("escape", Behaviour::Escape),
        ("refused", Behaviour::Refused),
    ];
    let mut specs = vec![spec("healthy", Behaviour::Synced)];
    specs.extend(faults.iter().map(|(n, b)| spec(n, *b)));
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
    let mut log = LogOnce::default();
    while start.elapsed() < Duration::from_secs(30) {
        let Ok(Some(r)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await else {
            break;
        };
        if r.node == 0 {
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
        let n = fleet.nodes.iter().find(|n| n.name() == name).expect("node");
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
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(serve_synced(listener));
    let text = format!(
        "[defaults]\ninterval = \"1s\"\nmax_interval = \"2s\"\ntimeout = \"1s\"\nbackoff = \"5s\"\n\
         [[node]]\nname = \"n\"\nhost = \"127.0.0.1\"\nport = {}\n",
        addr.port()
    );
    let config = Config::parse(&text, "restart.toml").expect("config");
    let (tx, mut rx) = mpsc::channel(64);
    let task = tokio::spawn(poll::run_poller(
        0,
        Arc::new(config.nodes()[0].view.clone()),
        tx,
        Arc::new(Notify::new()),
        Arc::new(Semaphore::new(4)),
        Duration::ZERO,
    ));
    let first = next(&mut rx).await;
    assert_eq!(first.obs.outcome.status(), Status::Synced);
    // The node goes away: listener and its connections.
    server.abort();
    let _ = server.await;
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
    let listener = TcpListener::bind(addr)
        .await
        .expect("re-bind the same port");
    let server = tokio::spawn(serve_synced(listener));
    let up = loop {
        let r = next(&mut rx).await;
        if r.obs.outcome.status() == Status::Synced {
            break down_at.elapsed();
        }
    };
    task.abort();
    server.abort();
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

/// A minimal SyncGuard node: answers every request with `Synced`.
async fn serve_synced(listener: TcpListener) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            Ok((mut s, _)) = listener.accept() => {
                conns.spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = s.read(&mut buf).await {
                        if n == 0 || s.write_all(b"Synced").await.is_err() {
                            break;
                        }
                    }
                });
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

struct Receiver {
    fleet: Fleet,
    rx: mpsc::Receiver<ListenEvent>,
    listener: Listener,
    log: LogOnce,
}

impl Receiver {
    async fn start(listen: &str, push_ips: &[&str]) -> Receiver {
        let mut text = format!("[listen]\nbind = [\"127.0.0.1:0\"]\n{listen}\n");
        for (i, ip) in push_ips.iter().enumerate() {
            text.push_str(&format!(
                "[[node]]\nname = \"p{i}\"\nhost = \"{ip}\"\nmode = \"push\"\n"
            ));
        }
        if push_ips.is_empty() {
            text.push_str("[[node]]\nname = \"poll\"\nhost = \"127.0.0.1\"\n");
        }
        let config = Config::parse(&text, "listen.toml").expect("config");
        let (tx, rx) = mpsc::channel(8192);
        let listen = config.listen.clone().expect("listen");
        let listener = Listener::start(&config, &listen, tx)
            .await
            .expect("listener");
        Receiver {
            fleet: Fleet::new(&config, SystemTime::now()),
            rx,
            listener,
            log: LogOnce::default(),
        }
    }

    fn addr(&self) -> SocketAddr {
        self.listener.local_addrs[0]
    }

    async fn pump(&mut self, d: Duration) {
        let deadline = Instant::now() + d;
        while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, self.rx.recv()).await {
            self.fleet.apply_input(Input::Listen(ev));
        }
        self.fleet.set_refusals(self.listener.refusals());
    }
}

async fn closed_within(s: &mut TcpStream, limit: Duration) -> bool {
    let mut buf = [0u8; 256];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_connections_beyond_the_limit_are_refused_and_counted() {
    let mut r = Receiver::start("max_connections = 50", &["10.0.0.1"]).await;
    let mut kept = Vec::new();
    for _ in 0..50 {
        kept.push(TcpStream::connect(r.addr()).await.expect("connect"));
    }
    r.pump(Duration::from_millis(300)).await;
    assert_eq!(r.fleet.connections.len(), 50);
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
    r.pump(Duration::from_millis(200)).await;
    assert_eq!(r.fleet.listen_stats.rejected_full, 5000);
    assert_eq!(
        r.fleet.connections.len(),
        50,
        "existing connections unaffected"
    );
    kept[7]
        .write_all(b"10.0.0.1_state2\r\n")
        .await
        .expect("write");
    r.pump(Duration::from_millis(300)).await;
    assert_eq!(r.fleet.nodes()[0].view.status, Status::Synced);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn megabyte_line_and_binary_junk_are_cut_off_and_memory_stays_bounded() {
    let mut r = Receiver::start("", &["10.0.0.1"]).await;
    let mut good = TcpStream::connect(r.addr()).await.expect("connect");
    let mut big = TcpStream::connect(r.addr()).await.expect("connect");
    let mut junk = TcpStream::connect(r.addr()).await.expect("connect");
    let writer = tokio::spawn(async move {
        // 1 MiB without a newline; the receiver closes long before the end.
        let chunk = vec![b'9'; 64 * 1024];
        for _ in 0..16 {
            if big.write_all(&chunk).await.is_err() {
                break;
            }
        }
        big
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
    r.pump(Duration::from_millis(800)).await;
    let mut big = writer.await.expect("writer");
    assert!(
        closed_within(&mut big, Duration::from_secs(3)).await,
        "1 MiB line not cut off"
    );
    assert!(
        closed_within(&mut junk, Duration::from_secs(3)).await,
        "binary junk not cut off"
    );
    r.pump(Duration::from_millis(200)).await;
    assert_eq!(r.fleet.listen_stats.closed_abuse, 2);
    assert_eq!(r.fleet.connections.len(), 1);
    assert_eq!(r.fleet.nodes()[0].view.status, Status::Synced);
    // The last line shown for any connection is bounded and escaped.
    for c in r.fleet.connections.values() {
        let l = c.last_line_text();
        assert!(
            l.chars().count() < 120 && !l.chars().any(|c| c.is_control()),
            "{l:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn one_byte_a_minute_is_closed_after_twice_stale_after() {
    let mut r = Receiver::start("stale_after = \"30s\"", &["10.0.0.1"]).await;
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
    let (_, ()) = tokio::join!(dripper, r.pump(Duration::from_secs(120)));
    assert_eq!(r.fleet.listen_stats.closed_abuse, 1);
    assert!(r.fleet.connections.is_empty());
    assert_eq!(
        r.fleet.nodes()[0].view.status,
        Status::Pending,
        "no line ever completed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn allow_from_closes_peers_outside_the_networks() {
    let mut r = Receiver::start(
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
    r.pump(Duration::from_millis(200)).await;
    assert_eq!(r.fleet.listen_stats.rejected_address, 1);
    assert_eq!(
        r.fleet.nodes()[0].view.status,
        Status::Pending,
        "its line was never read"
    );
    assert_eq!(r.fleet.listen_stats.accepted, 0);
    // Loopback allowed explicitly: accepted.
    let mut r = Receiver::start("allow_from = [\"127.0.0.0/8\"]", &["10.0.0.1"]).await;
    let mut s = TcpStream::connect(r.addr()).await.expect("connect");
    s.write_all(b"10.0.0.1_state2\r\n").await.expect("write");
    r.pump(Duration::from_millis(300)).await;
    assert_eq!(r.fleet.nodes()[0].view.status, Status::Synced);
    assert_eq!(r.fleet.listen_stats.rejected_address, 0);
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
    let (_, new1) = f.push_line(1, a, t0, line(3));
    let (_, new2) = f.push_line(2, b, t0, line(3));
    let (_, new3) = f.push_line(2, b, t0, line(3));
    assert!(!new1 && new2 && !new3, "the conflict is new once");
    f.push_line(1, a, t0, line(4));
    let json: serde_json::Value =
        serde_json::from_str(&syncguard_fleet::report::json(&f, t0)).expect("json");
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
    f.push_line(1, a, later, line(3));
    let json: serde_json::Value =
        serde_json::from_str(&syncguard_fleet::report::json(&f, later)).expect("json");
    let led = json["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == "led"))
        .cloned();
    assert_eq!(
        led.map(|n| n["conflict"].clone()),
        Some(serde_json::json!(false))
    );
}

//! Soak: 500 nodes that close after every reply and 500 old-style push senders,
//! cycled many times; open descriptors and RSS must stay flat. In a test binary of
//! its own, because it counts the whole process's descriptors.

mod common;

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::time::Instant;

use syncguard_fleet::config::Config;
use syncguard_fleet::engine::{Engine, Schedule};
use syncguard_fleet::model::Input;
use syncguard_fleet::sim::{Behaviour, Sim, SimSpec};
use syncguard_fleet::state::Fleet;

use common::{open_fds, rss_kb, skip};
use syncguard_fleet::model::Status;

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
const FLAP: Duration = Duration::from_secs(3600);

/// 500 nodes that close after every reply, polled fast, and 500 old-style push
/// senders that connect once per line: `cycles` rounds each. Open descriptors and
/// RSS must come back to where they were after the first rounds. Both are measured
/// while the monitor still runs: dropping it first would free what it leaked.
async fn churn(cycles: usize) -> (usize, usize, u64, u64) {
    let specs: Vec<SimSpec> = (0..500)
        .map(|i| SimSpec {
            name: format!("c{i}"),
            group: None,
            behaviour: Behaviour::Close,
        })
        .collect();
    let sim = Sim::start(specs, LOCAL, FLAP).await.expect("sim");
    let mut text = sim.fleet_toml(
        "interval = \"10ms\"\nmax_interval = \"20ms\"\ntimeout = \"2s\"\nbackoff = \"100ms\"",
    );
    text.push_str("[listen]\nbind = [\"127.0.0.1:0\"]\n");
    for i in 0..500u32 {
        text.push_str(&format!(
            "[[node]]\nname = \"p{i}\"\nhost = \"10.2.{}.{}\"\nmode = \"push\"\n",
            i / 250,
            i % 250 + 1
        ));
    }
    let config = Config::parse(&text, "soak.toml").expect("config");
    let mut monitor = Engine::start(&config, Schedule::Continuous)
        .await
        .expect("monitor");
    let target = monitor.listen_addrs()[0];
    let mut fleet = Fleet::new(&config, SystemTime::now());
    let mut base = None;
    let per_round = 500;
    for round in 0..cycles {
        // One old-style line from each push sender.
        let senders: Vec<_> = (0..500u32)
            .map(|i| {
                tokio::spawn(async move {
                    if let Ok(mut s) = TcpStream::connect(target).await {
                        let line = format!("10.2.{}.{}_state1\r\n", i / 250, i % 250 + 1);
                        let _ = s.write_all(line.as_bytes()).await;
                    }
                })
            })
            .collect();
        for s in senders {
            let _ = s.await;
        }
        // Take about one poll per node.
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while got < per_round {
            match tokio::time::timeout_at(deadline, monitor.next()).await {
                Ok(Some(input)) => {
                    if matches!(input, Input::Poll(_)) {
                        got += 1;
                    }
                    fleet.apply_input(input);
                }
                _ => break,
            }
        }
        if round == 2 {
            base = Some(measure());
        }
    }
    // Let the last connections finish closing: keep applying what comes until the
    // descriptors are back near the baseline, or a generous deadline passes (a
    // leak never comes back, so it still fails below).
    let (fd0, rss0) = base.expect("baseline taken");
    let settle = Instant::now() + Duration::from_secs(10);
    loop {
        let slice = (Instant::now() + Duration::from_millis(100)).min(settle);
        while let Ok(Some(input)) = tokio::time::timeout_at(slice, monitor.next()).await {
            fleet.apply_input(input);
        }
        if measure().0 <= fd0 + 50 || Instant::now() >= settle {
            break;
        }
    }
    assert!(
        fleet
            .nodes()
            .iter()
            .all(|n| n.view.status == Status::Synced),
        "every node synced through the churn"
    );
    let (fd1, rss1) = measure();
    drop(monitor);
    (fd0, fd1, rss0, rss1)
}

fn measure() -> (usize, u64) {
    (
        open_fds().expect("/proc/self/fd"),
        rss_kb().expect("/proc/self/status"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn soak_short_fds_and_memory_stay_flat() {
    if !skip::require(
        "soak::soak_short_fds_and_memory_stay_flat",
        skip::have_proc(),
        "no /proc to count descriptors and memory",
    ) {
        return;
    }
    let (fd0, fd1, rss0, rss1) = churn(8).await;
    // Descriptors: the same give or take the connections in flight at the moment.
    assert!(fd1 <= fd0 + 50, "fds grew from {fd0} to {fd1}");
    assert!(
        rss1 <= rss0 + 8 * 1024,
        "RSS grew from {rss0} kB to {rss1} kB"
    );
}

/// The long version: a few thousand cycles per node. `cargo test -- --ignored`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn soak_long_fds_and_memory_stay_flat() {
    if !skip::require(
        "soak::soak_long_fds_and_memory_stay_flat",
        skip::have_proc(),
        "no /proc to count descriptors and memory",
    ) {
        return;
    }
    let (fd0, fd1, rss0, rss1) = churn(2000).await;
    eprintln!("fds {fd0} -> {fd1}, RSS {rss0} kB -> {rss1} kB");
    assert!(fd1 <= fd0 + 50, "fds grew from {fd0} to {fd1}");
    assert!(
        rss1 <= rss0 + 8 * 1024,
        "RSS grew from {rss0} kB to {rss1} kB"
    );
}

//! The hub against simulated nodes on loopback: a subscriber that stops reading
//! neither delays polling nor loses the state (it catches up from the snapshot), and
//! the one-shot path gets exactly one result per node.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, SystemTime};

use tokio::sync::broadcast::error::TryRecvError;

use syncguard_fleet::config::Config;
use syncguard_fleet::engine::Schedule;
use syncguard_fleet::hub::{Hub, HubOptions};
use syncguard_fleet::sim::{self, Sim};

const LOCAL: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

async fn flapping_fleet(count: usize, flap: Duration) -> (Sim, Config) {
    let specs = sim::parse_specs(&[format!("flap={count}")]).expect("specs");
    let sim = Sim::start(specs, LOCAL, flap)
        .await
        .expect("sim on loopback");
    let text = sim.fleet_toml("interval = \"100ms\"\nmax_interval = \"150ms\"\ntimeout = \"1s\"");
    let config = Config::parse(&text, "hub.toml").expect("config");
    (sim, config)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_subscriber_does_not_delay_polling_and_catches_up_from_the_snapshot() {
    let (_sim, config) = flapping_fleet(100, Duration::from_millis(150)).await;
    let options = HubOptions {
        schedule: Schedule::Continuous,
        config_path: None,
        snapshot_every: Some(Duration::from_millis(50)),
        history: None,
        notify: None,
        acks: Vec::new(),
        ignore_acked: false,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let hub = Hub::start(&config, options, async {
        let _ = stopped.await;
    })
    .await
    .expect("hub");
    // Subscribed, and never read while the fleet flaps: it must fall behind.
    let mut stuck = hub.subscribe();
    let mut reader = hub.subscribe();
    let mut read = 0usize;
    let until = tokio::time::Instant::now() + Duration::from_secs(8);
    while tokio::time::Instant::now() < until {
        match tokio::time::timeout(Duration::from_millis(200), reader.recv()).await {
            Ok(Ok(_)) => read += 1,
            Ok(Err(e)) => panic!("the reading subscriber failed: {e}"),
            Err(_) => {}
        }
    }
    assert!(
        read > 1024,
        "100 nodes flapping for 8 s give more transitions ({read}) than the buffer holds"
    );
    // Polling went on at its pace: every node was heard within the last second.
    let snap = hub.snapshot();
    let now = SystemTime::now();
    for n in &snap.nodes {
        let last = n.last.as_ref().map(|o| o.at).expect("every node polled");
        let age = now.duration_since(last).unwrap_or_default();
        assert!(
            age < Duration::from_secs(1),
            "{} last polled {age:?} ago while a subscriber was stuck",
            n.name()
        );
    }
    // The stuck subscriber is told it lagged, not given stale data as if current.
    match stuck.try_recv() {
        Err(TryRecvError::Lagged(missed)) => assert!(missed > 0),
        other => panic!("expected a lag, got {other:?}"),
    }
    // Catching up: drop the backlog, take the snapshot (every node's current
    // status), and the events read from here on follow it.
    let mut stuck = stuck.resubscribe();
    let caught_up = hub.snapshot();
    assert_eq!(caught_up.nodes.len(), 100);
    assert_eq!(caught_up.counts.total(), 100);
    let next = tokio::time::timeout(Duration::from_secs(2), stuck.recv())
        .await
        .expect("events flow again after the lag")
        .expect("an event");
    assert!(next.at >= caught_up.taken_at - Duration::from_millis(500));
    let _ = stop.send(());
    let report = hub.join().await;
    // Polled every 100–150 ms on a 100 ms grid: about five results per node and
    // second; a hub held up by the stuck subscriber would fall far below two.
    assert!(
        report.inputs > 100 * 8 * 2,
        "{} results in 8 s",
        report.inputs
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn once_check_is_a_peer_over_the_hub() {
    let specs =
        sim::parse_specs(&["synced=5".into(), "free=2".into(), "refused".into()]).expect("specs");
    let sim = Sim::start(specs, LOCAL, Duration::from_secs(60))
        .await
        .expect("sim");
    let config = Config::parse(&sim.fleet_toml("timeout = \"1s\""), "once.toml").expect("config");
    let snap = syncguard_fleet::once::check(&config, Duration::from_secs(1))
        .await
        .expect("check");
    assert_eq!(snap.counts.total(), 8);
    assert_eq!(snap.counts.get(syncguard_fleet::model::Status::Synced), 5);
    assert_eq!(snap.counts.get(syncguard_fleet::model::Status::Free), 2);
    assert_eq!(
        snap.counts.get(syncguard_fleet::model::Status::Unreachable),
        1
    );
    assert_eq!(snap.verdict, syncguard_fleet::model::Verdict::Critical);
}

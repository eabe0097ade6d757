//! Cost of applying one result to the state of a 10,000-node fleet, and of taking
//! the snapshot the hub publishes.

mod common;

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::{Duration, SystemTime};

use common::{fleet_config, node_name};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use syncguard_fleet::model::{Observation, Outcome};
use syncguard_fleet::protocol::{Reply, ReportedIp};
use syncguard_fleet::state::Fleet;

fn state(code: u8) -> Outcome {
    Outcome::Reply(Reply::State {
        reported: ReportedIp::V4(Ipv4Addr::new(10, 0, 0, 1)),
        code,
    })
}

fn apply(c: &mut Criterion) {
    let config = fleet_config(10_000);
    let t0 = SystemTime::now();
    let mut fleet = Fleet::new(&config, t0);
    let names: Vec<String> = (0..10_000).map(node_name).collect();
    for (i, name) in names.iter().enumerate() {
        fleet.apply(
            name,
            Observation {
                at: t0,
                outcome: state(if i % 16 == 0 { 2 } else { 1 }),
                latency: None,
            },
            true,
        );
    }
    let mut g = c.benchmark_group("fleet_apply_10k");
    // The common case: the same answer again (history, counts, no transition).
    let mut i = 0usize;
    g.bench_function("unchanged", |b| {
        b.iter(|| {
            i = (i + 1) % 10_000;
            let code = if i.is_multiple_of(16) { 2 } else { 1 };
            let obs = Observation {
                at: t0,
                outcome: state(code),
                latency: Some(Duration::from_micros(300)),
            };
            black_box(fleet.apply(black_box(&names[i]), obs, true))
        })
    });
    // A transition and back: events, group rule, counts.
    g.bench_function("transition", |b| {
        b.iter_batched(
            || Observation {
                at: t0,
                outcome: state(0),
                latency: None,
            },
            |obs| {
                let t = fleet.apply(&names[5], obs, true);
                let back = Observation {
                    at: t0,
                    outcome: state(1),
                    latency: None,
                };
                black_box((t, fleet.apply(&names[5], back, true)))
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();
    // What the hub pays per published snapshot (at most one per 100 ms with the
    // dashboard, one per second in `watch`).
    c.bench_function("snapshot_10k", |b| b.iter(|| black_box(fleet.snapshot(t0))));
}

criterion_group!(benches, apply);
criterion_main!(benches);

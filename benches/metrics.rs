//! Rendering `/metrics` for a 10,000-node fleet from one snapshot, as a scrape does.

mod common;

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::{fleet_config, node_name};
use criterion::{Criterion, criterion_group, criterion_main};
use syncguard_fleet::model::{Observation, Outcome};
use syncguard_fleet::protocol::{Reply, ReportedIp};
use syncguard_fleet::state::Fleet;

fn render(c: &mut Criterion) {
    let config = fleet_config(10_000);
    let t0 = SystemTime::now();
    let mut fleet = Fleet::new(&config, t0);
    for i in 0..10_000 {
        let outcome = Outcome::Reply(Reply::State {
            reported: ReportedIp::V4(Ipv4Addr::new(10, 0, 0, 1)),
            code: if i % 16 == 0 { 2 } else { 1 },
        });
        let obs = Observation {
            at: t0,
            outcome,
            latency: Some(Duration::from_micros(300 + i as u64 % 700)),
        };
        fleet.apply(&node_name(i), obs, true);
    }
    let snap = Arc::new(fleet.snapshot(t0));
    let now = t0 + Duration::from_secs(5);
    c.bench_function("metrics_render_10k", |b| {
        b.iter(|| black_box(syncguard_fleet::metrics::render(&snap, now)))
    });
}

criterion_group!(benches, render);
criterion_main!(benches);

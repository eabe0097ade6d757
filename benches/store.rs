//! The history store under a storm: 10,000 nodes changing at once, from the first
//! `record` to the last row committed on disk (the writer stopped), on a fresh file
//! each time. The target is 50,000 transitions a second: this storm within 0.2 s.
//!
//! Before the timing it also measures the file's size per transition (the target is
//! at most 100 bytes, indexes included): 20 storms of 10,000 nodes, 200,000 rows,
//! written to `target/criterion/store/bytes_per_transition` for scripts/bench.sh.

// Shared with the other benches; this one needs only the node names.
#[allow(dead_code)]
mod common;

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use common::node_name;
use criterion::{BatchSize, Criterion, criterion_group};
use syncguard_fleet::model::{NodeKey, Outcome, Status, Transition};
use syncguard_fleet::protocol::{Reply, ReportedIp};
use syncguard_fleet::store::History;

/// One shown transition per node, as a storm makes them: every node of a group of
/// 16 going from `synced` to `free`.
pub fn storm(n: usize, at: SystemTime) -> Vec<Transition> {
    (0..n)
        .map(|i| Transition {
            at: at + Duration::from_millis(i as u64 / 100),
            node: NodeKey::new(&node_name(i)),
            group: Some(Arc::from(format!("g{}", i / 16).as_str())),
            from: Status::Synced,
            to: Status::Free,
            outcome: Outcome::Reply(Reply::State {
                reported: ReportedIp::V4(Ipv4Addr::new(
                    10,
                    (i / 256 % 256) as u8,
                    0,
                    (i % 256) as u8,
                )),
                code: 0,
            }),
        })
        .collect()
}

fn store(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    let transitions = storm(10_000, SystemTime::now());
    let mut k = 0;
    let mut group = c.benchmark_group("store");
    group.sample_size(20);
    group.bench_function("storm_10k_to_disk", |b| {
        b.iter_batched(
            || {
                k += 1;
                dir.path().join(format!("h{k}.db"))
            },
            |path| {
                let h = History::start(&path, syncguard_fleet::config::RETENTION).expect("start");
                for t in &transitions {
                    h.record(t);
                }
                let stats = h.stats();
                h.stop();
                assert_eq!(stats.dropped.load(std::sync::atomic::Ordering::Relaxed), 0);
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

/// Bytes on disk per stored transition, over 200,000 of them.
fn bytes_per_transition() -> f64 {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("size.db");
    let start = SystemTime::now();
    let rounds = 20;
    for round in 0..rounds {
        // One writer run per storm, as restarts would make; the queue takes one
        // storm at a time.
        let h = History::start(&path, syncguard_fleet::config::RETENTION).expect("start");
        for t in storm(10_000, start + Duration::from_secs(round * 60)) {
            h.record(&t);
        }
        h.stop();
    }
    // Stopped: the write-ahead log is folded into the file and removed.
    let bytes: u64 = ["", "-wal"]
        .iter()
        .filter_map(|s| std::fs::metadata(format!("{}{s}", path.display())).ok())
        .map(|m| m.len())
        .sum();
    bytes as f64 / (rounds as f64 * 10_000.0)
}

criterion_group!(benches, store);

fn main() {
    let per = bytes_per_transition();
    println!("store: {per:.1} bytes per transition on disk");
    let out = std::path::Path::new("target/criterion/store");
    if std::fs::create_dir_all(out).is_ok() {
        let _ = std::fs::write(out.join("bytes_per_transition"), format!("{per:.1}\n"));
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}

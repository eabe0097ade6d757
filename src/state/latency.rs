//! Reply latency as a cumulative histogram: one for the whole fleet, and one per node
//! when `[metrics] per_node_histograms` asks for it. Plain counters, so a snapshot
//! copies it without locks.

use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds (SyncGuard answers on a LAN in
/// well under a millisecond; the deadline is seconds).
pub const LATENCY_BUCKETS: [f64; 13] = [
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

#[derive(Clone, Debug, Default, PartialEq)]
pub struct LatencyHistogram {
    /// Observations at or below each bound (not cumulative; the exposition sums).
    pub buckets: [u64; LATENCY_BUCKETS.len()],
    /// Observations above the last bound.
    pub over: u64,
    pub count: u64,
    pub sum_seconds: f64,
}

impl LatencyHistogram {
    pub fn observe(&mut self, latency: Duration) {
        let s = latency.as_secs_f64();
        match LATENCY_BUCKETS.iter().position(|b| s <= *b) {
            Some(i) => self.buckets[i] += 1,
            None => self.over += 1,
        }
        self.count += 1;
        self.sum_seconds += s;
    }
}

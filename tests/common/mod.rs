//! What the integration tests share: launching the binary, simulated and fake nodes
//! on loopback, signals, tmux, waiting for conditions, and skipping loudly.

// Every test binary compiles this module but uses only part of it, so unused items
// here are expected and not worth a warning in each binary.
#![allow(dead_code)]

pub mod bin;
pub mod browser;
pub mod harness;
pub mod lab;
pub mod net;
pub mod receiver;
pub mod skip;
pub mod tmux;

use std::time::{Duration, Instant};

/// Checks `condition` every 50 ms until it holds or `limit` has passed; returns
/// whether it held. Tests wait for what they need this way instead of sleeping.
pub fn wait_until(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    loop {
        if condition() {
            return true;
        }
        if start.elapsed() > limit {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A small multi-thread runtime for the simulated nodes of a synchronous test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// This process's resident memory in kB, from /proc/self/status.
pub fn rss_kb() -> Option<u64> {
    std::fs::read_to_string("/proc/self/status")
        .ok()?
        .lines()
        .find(|l| l.starts_with("VmRSS:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// This process's open descriptors, from /proc/self/fd.
pub fn open_fds() -> Option<usize> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count())
}

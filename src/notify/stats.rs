//! What each channel has done, counted by its worker and read by the snapshot
//! (so by `/metrics` and the dashboard) without asking any task.

use std::sync::Mutex;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

pub use crate::model::notification::ChannelStatus;

/// One channel's counters.
#[derive(Debug, Default)]
pub struct ChannelStats {
    pub name: String,
    pub kind: &'static str,
    pub delivered: AtomicU64,
    /// Attempts that failed and will be retried.
    pub failed: AtomicU64,
    pub given_up: AtomicU64,
    /// Notifications waiting (stored, not yet delivered or given up).
    pub queue_depth: AtomicU64,
    /// When the oldest waiting one was made (Unix ms); 0 when none waits.
    pub oldest_pending_ms: AtomicI64,
    /// The last failure while it lasts; cleared by the next delivery.
    problem: Mutex<Option<String>>,
}

impl ChannelStats {
    pub fn new(name: &str, kind: &'static str) -> ChannelStats {
        ChannelStats {
            name: name.to_owned(),
            kind,
            ..ChannelStats::default()
        }
    }

    pub fn problem(&self) -> Option<String> {
        self.problem.lock().map(|p| p.clone()).unwrap_or_default()
    }

    pub fn set_problem(&self, p: Option<String>) {
        if let Ok(mut slot) = self.problem.lock() {
            *slot = p;
        }
    }

    pub fn count(&self, c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }
}

impl ChannelStats {
    pub fn status(&self) -> ChannelStatus {
        let oldest = self.oldest_pending_ms.load(Ordering::Relaxed);
        ChannelStatus {
            name: self.name.clone(),
            kind: self.kind,
            delivered: self.delivered.load(Ordering::Relaxed),
            failed: self.failed.load(Ordering::Relaxed),
            given_up: self.given_up.load(Ordering::Relaxed),
            queue_depth: self.queue_depth.load(Ordering::Relaxed),
            oldest_pending_ms: (oldest > 0).then_some(oldest),
            problem: self.problem(),
        }
    }
}

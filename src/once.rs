//! `--once`: check every poll node once and, for push nodes, listen until each has
//! reported or the wait is over. Returns the fleet state for the reports.

use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::config::Config;
use crate::fleet::{Fleet, Observation};
use crate::listen::Listener;
use crate::monitor::{self, Input, LogOnce};
use crate::poll;
use crate::status::Status;

/// Runs the one-shot check. Poll nodes get one connection attempt each, all at once;
/// push nodes that have not reported by `wait` are `stale`.
pub async fn check(config: &Config, wait: Duration) -> anyhow::Result<Fleet> {
    let started = SystemTime::now();
    let mut fleet = Fleet::new(config, started);
    let mut log_once = LogOnce::default();
    let (tx, mut rx) = mpsc::channel(8192);
    let listener = match &config.listen {
        Some(l) => Some(Listener::start(config, l, tx).await?),
        None => {
            drop(tx);
            None
        }
    };
    let polls = poll::check_once(config);
    tokio::pin!(polls);
    let mut polls_done = false;
    let deadline = tokio::time::sleep(wait);
    tokio::pin!(deadline);
    let push_pending = |f: &Fleet| {
        f.nodes
            .iter()
            .any(|n| n.mode() == crate::config::Mode::Push && n.status == Status::Pending)
    };
    loop {
        if polls_done && !push_pending(&fleet) {
            break;
        }
        tokio::select! {
            results = &mut polls, if !polls_done => {
                for (id, ex, at) in results {
                    let obs = Observation { at, outcome: ex.outcome, latency: ex.latency };
                    fleet.apply(id, obs, false);
                }
                polls_done = true;
            }
            Some(ev) = rx.recv() => {
                monitor::apply(&mut fleet, Input::Listen(ev), &mut log_once);
            }
            // Push nodes get `wait`; poll nodes are bounded by their own timeouts.
            _ = &mut deadline, if polls_done => break,
        }
    }
    if let Some(l) = &listener {
        fleet.set_refusals(l.refusals());
    }
    drop(listener);
    let now = SystemTime::now();
    fleet.mark_unheard_stale(now);
    Ok(fleet)
}

//! `--once`: a peer of the dashboard and `watch` over the hub. Every poll node is
//! checked once; push nodes get until `wait` to report; then the final snapshot.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::config::Config;
use crate::engine::Schedule;
use crate::hub::{Command, Hub, HubOptions};
use crate::model::Ack;
use crate::state::Snapshot;

/// What `--once` knows besides the config: maintenance windows come from the
/// config itself; acks are recorded by the monitor that writes the history file.
#[derive(Clone, Debug, Default)]
pub struct OnceOptions {
    /// The acks in force (read from the history file, never written).
    pub acks: Vec<Ack>,
    /// `--ignore-acked`: acknowledged nodes and groups leave the verdict.
    pub ignore_acked: bool,
}

/// Runs the one-shot check, without acks, and returns the final snapshot.
pub async fn check(config: &Config, wait: Duration) -> anyhow::Result<Arc<Snapshot>> {
    check_with(config, wait, OnceOptions::default()).await
}

/// Runs the one-shot check with the acks in `once`, and returns the final snapshot.
pub async fn check_with(
    config: &Config,
    wait: Duration,
    once: OnceOptions,
) -> anyhow::Result<Arc<Snapshot>> {
    let (stop, stopped) = oneshot::channel::<()>();
    let options = HubOptions {
        // `--once` never writes history.
        history: None,
        notify: None,
        schedule: Schedule::Once,
        config_path: None,
        // Reports read only the final snapshot, taken on request.
        snapshot_every: None,
        acks: once.acks,
        ignore_acked: once.ignore_acked,
    };
    let hub = Hub::start(config, options, async {
        let _ = stopped.await;
    })
    .await?;
    // Push nodes get `wait` from the start; poll nodes are bounded by their timeouts.
    let push_deadline = Instant::now() + wait;
    let mut progress = hub.progress.clone();
    loop {
        let p = *progress.borrow_and_update();
        if p.poll == 0 && p.push == 0 {
            break;
        }
        tokio::select! {
            changed = progress.changed() => if changed.is_err() { break },
            () = tokio::time::sleep_until(push_deadline), if p.poll == 0 => break,
        }
    }
    let (tx, rx) = oneshot::channel();
    hub.commands
        .send(Command::Finish(tx))
        .await
        .map_err(|_| anyhow::anyhow!("the monitor stopped before the check finished"))?;
    let snapshot = rx
        .await
        .map_err(|_| anyhow::anyhow!("the monitor stopped before the check finished"))?;
    let _ = stop.send(());
    hub.join().await;
    Ok(snapshot)
}

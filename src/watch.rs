//! `watch`: the headless monitor for systemd and containers. A peer of the dashboard
//! over the hub: one line per shown transition on stdout; SIGHUP (and, with
//! `--watch-config`, a change of the file) reloads.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::sync::{broadcast, oneshot};

use crate::config::Config;
use crate::engine::Schedule;
use crate::hub::HubOptions;
use crate::model::{NodeKey, Status, Transition};
use crate::platform::{Signal, Signals};
use crate::present::{self, schema};
use crate::reload;
use crate::service::Service;
use crate::state::Snapshot;

/// How transitions are written to stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EventFormat {
    /// `[2026-06-26 10:30:05] [WARN] wall-07 synced -> free (reply "Free")`
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// One transition as a stdout line (without the newline).
pub fn event_line(t: &Transition, format: EventFormat) -> String {
    match format {
        EventFormat::Text => {
            let level = if t.to.is_problem() { "WARN" } else { "INFO" };
            format!(
                "[{}] [{level}] {}",
                present::local_time(t.at),
                present::transition_line(t)
            )
        }
        EventFormat::Json => schema::to_line(&schema::JsonEvent::new(t)),
    }
}

/// How `watch` runs.
#[derive(Clone, Debug, Default)]
pub struct WatchOptions {
    pub events: EventFormat,
    /// The HTTP server, when one is asked for.
    pub http: Option<crate::http::HttpPlan>,
    /// `--watch-config`: reload when the file changes (also `[reload] watch`).
    pub watch_config: bool,
    /// Listen for the process's signals (a console run); a Windows service is
    /// stopped by its service manager through `stop` instead.
    pub signals: bool,
    /// The history store to write, already started; `None`: off.
    pub history: Option<Arc<crate::store::History>>,
}

/// Runs until SIGTERM or SIGINT (Ctrl-C, Ctrl-Break, console close on Windows), or
/// until `stop` resolves; prints a summary to stderr on the way out.
pub async fn run(
    config: &Config,
    config_path: Option<std::path::PathBuf>,
    options: WatchOptions,
    stop_when: impl std::future::Future<Output = ()>,
) -> anyhow::Result<()> {
    let format = options.events;
    let mut signals = match options.signals {
        true => Some(Signals::new().context("installing signal handlers")?),
        false => None,
    };
    let mut watcher = reload::start(
        options.watch_config || config.watch_config,
        config_path.as_deref(),
    );
    tokio::pin!(stop_when);
    let (stop, stopped) = oneshot::channel::<()>();
    let hub_options = HubOptions {
        schedule: Schedule::Continuous,
        config_path: config_path.clone(),
        snapshot_every: None,
        history: options.history.clone(),
        notify: None,
        acks: Vec::new(),
        ignore_acked: false,
    };
    let service = Service::start(config, hub_options, options.http, async {
        let _ = stopped.await;
    })
    .await?;
    let hub = &service.hub;
    if let Some(url) = &service.url {
        // stdout carries only transitions.
        eprintln!("status page: {url}");
    }
    let mut events = hub.subscribe();
    let started = std::time::Instant::now();
    tracing::info!(
        "watching {} nodes from {}",
        config.nodes.len(),
        config.source
    );
    // What each node was last reported as, so a lag can be caught up from a snapshot.
    let mut shown: HashMap<NodeKey, Status> = HashMap::new();
    let mut out = std::io::stdout().lock();
    loop {
        let mut lines = Vec::new();
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(t) => {
                    shown.insert(t.node.clone(), t.to);
                    lines.push(event_line(&t, format));
                    while let Ok(t) = events.try_recv() {
                        shown.insert(t.node.clone(), t.to);
                        lines.push(event_line(&t, format));
                        if lines.len() > 1024 { break; }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Skip the backlog and print what changed since, from the snapshot.
                    tracing::warn!("stdout fell {missed} transitions behind; catching up from the current state");
                    events = events.resubscribe();
                    lines.extend(catch_up(&*hub.fresh_snapshot().await, &mut shown, format));
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            sig = next_signal(&mut signals) => match sig {
                Signal::Shutdown => break,
                // A daemon's SIGHUP: re-read the config; a bad file keeps the old one.
                Signal::Hangup => report_reload(hub.reload().await),
            },
            // The same, when the file changed (--watch-config).
            () = reload::next_change(&mut watcher) => report_reload(hub.reload().await),
            () = &mut stop_when => break,
        }
        for line in &lines {
            if writeln!(out, "{line}").is_err() {
                // stdout is gone (the reader exited): nothing left to report to.
                let _ = stop.send(());
                return Ok(());
            }
        }
        if !lines.is_empty() {
            let _ = out.flush();
        }
    }
    let _ = stop.send(());
    let snapshots = hub.snapshots.clone();
    let hub_report = service.join().await;
    let last = snapshots.borrow().clone();
    eprintln!("{}", summary(&last, hub_report.inputs, started.elapsed()));
    Ok(())
}

/// The next signal, or never when signals are not listened for.
async fn next_signal(signals: &mut Option<Signals>) -> Signal {
    match signals {
        Some(s) => s.next().await,
        None => std::future::pending().await,
    }
}

/// A reload's outcome, on stderr (stdout carries only transitions), and in the log
/// file when there is one (the stderr log shows warnings only, so no line twice).
fn report_reload(outcome: Result<crate::hub::Reloaded, String>) {
    let line = match outcome {
        Ok(r) => r.to_string(),
        Err(e) => e,
    };
    tracing::info!("{line}");
    eprintln!("{line}");
}

/// Lines for every node whose status differs from what was last printed for it.
fn catch_up(
    snap: &Snapshot,
    shown: &mut HashMap<NodeKey, Status>,
    format: EventFormat,
) -> Vec<String> {
    let mut out = Vec::new();
    for n in &snap.nodes {
        let before = shown.get(&n.key).copied().unwrap_or(Status::Pending);
        if before == n.status {
            continue;
        }
        shown.insert(n.key.clone(), n.status);
        if let Some(last) = &n.last {
            let t = Transition {
                at: n.since,
                node: n.key.clone(),
                group: n.group.clone(),
                from: before,
                to: n.status,
                outcome: last.outcome.clone(),
            };
            out.push(event_line(&t, format));
        }
    }
    out
}

/// The line printed to stderr on the way out.
fn summary(snap: &Arc<Snapshot>, inputs: u64, ran: Duration) -> String {
    let s = &snap.listen;
    let (push_total, push_heard) = snap.push_heard();
    let dropped = match snap.hook_runs_dropped {
        0 => String::new(),
        n => format!("; {n} alert-hook runs dropped (queue full)"),
    };
    format!(
        "watched {} nodes for {}: {inputs} inputs, {} push lines ({} invalid), push nodes heard {push_heard}/{push_total}, \
         {} unlisted senders, {} push connections accepted, {} refused{dropped}",
        snap.nodes.len(),
        humantime::format_duration(Duration::from_secs(ran.as_secs())),
        s.lines,
        s.invalid_lines,
        snap.unlisted.len(),
        s.accepted,
        s.refused(),
    )
}

//! `watch`: the headless monitor for systemd and containers. Same pollers and
//! receiver as the dashboard; one line per status transition on stdout.

use std::io::Write;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use serde::Serialize;
use tokio::signal::unix::{SignalKind, signal};

use crate::config::Config;
use crate::fleet::{Fleet, Transition};
use crate::owner::Owner;
use crate::status::Role;
use crate::text;

/// How transitions are written to stdout.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EventFormat {
    /// `[2026-06-26 10:30:05] [WARN] wall-07 synced -> free (reply "Free")`
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Serialize)]
struct JsonEvent<'a> {
    time: String,
    node: &'a str,
    group: Option<&'a str>,
    previous: &'a str,
    status: &'a str,
    role: Option<Role>,
    reply: Option<String>,
    error: Option<String>,
}

/// One transition as a stdout line (without the newline).
pub fn event_line(fleet: &Fleet, t: &Transition, format: EventFormat) -> String {
    let Some(n) = fleet.node(t.node) else {
        return String::new();
    };
    match format {
        EventFormat::Text => {
            let level = if t.to.is_problem() { "WARN" } else { "INFO" };
            let time = chrono::DateTime::<chrono::Local>::from(t.at).format("%Y-%m-%d %H:%M:%S");
            format!(
                "[{time}] [{level}] {} {} -> {} ({})",
                text::escape_str(n.name()),
                t.from,
                t.to,
                t.cause
            )
        }
        EventFormat::Json => {
            let ev = JsonEvent {
                time: chrono::DateTime::<chrono::Utc>::from(t.at)
                    .to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
                node: n.name(),
                group: n.group(),
                previous: t.from.as_str(),
                status: t.to.as_str(),
                // From the transition itself: the node may have changed again since,
                // within the same batch.
                role: t.reply.and_then(|r| r.role()),
                reply: t.reply.map(|r| r.to_string()),
                error: t.reply.is_none().then(|| t.cause.clone()),
            };
            serde_json::to_string(&ev).unwrap_or_default()
        }
    }
}

/// Runs until SIGTERM, SIGINT or SIGHUP-less end of input; prints a summary to
/// stderr on the way out.
pub async fn run(
    config: &Config,
    config_path: Option<std::path::PathBuf>,
    format: EventFormat,
    metrics: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    let mut owner = Owner::start(config, config_path, metrics).await?;
    let mut sighup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut sigterm = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let started = std::time::Instant::now();
    let mut results = 0u64;
    tracing::info!(
        "watching {} nodes from {}",
        owner.fleet.nodes.len(),
        config.source
    );
    let mut out = std::io::stdout().lock();
    loop {
        let mut transitions = Vec::new();
        tokio::select! {
            Some(input) = owner.next() => {
                results += 1;
                transitions.extend(owner.apply(input));
                // Drain what is queued before writing, so a burst is one flush.
                while let Some(input) = owner.try_next() {
                    results += 1;
                    transitions.extend(owner.apply(input));
                    if transitions.len() > 1024 { break; }
                }
            }
            _ = tick.tick() => {
                transitions.extend(owner.tick(SystemTime::now()));
            }
            _ = sighup.recv() => {
                // A daemon's SIGHUP: re-read the config; a bad file keeps the old one.
                match owner.reload().await {
                    Ok(summary) => eprintln!("{summary}"),
                    Err(e) => {
                        tracing::error!("{e:#}");
                        eprintln!("{e:#}");
                    }
                }
            }
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
        }
        for t in &transitions {
            let line = event_line(&owner.fleet, t, format);
            if writeln!(out, "{line}").is_err() {
                // stdout is gone (the reader exited): nothing left to report to.
                return Ok(());
            }
        }
        if !transitions.is_empty() {
            let _ = out.flush();
        }
    }
    owner.tick(SystemTime::now());
    let fleet = &owner.fleet;
    let s = &fleet.listen_stats;
    let push_nodes = fleet
        .nodes
        .iter()
        .filter(|n| n.mode() == crate::config::Mode::Push);
    let (push_total, push_heard) = push_nodes.fold((0, 0), |(t, h), n| {
        (t + 1, h + usize::from(n.last_line_at.is_some()))
    });
    eprintln!(
        "watched {} nodes for {}: {results} inputs, {} push lines ({} invalid), push nodes heard {push_heard}/{push_total}, \
         {} unlisted senders, {} push connections accepted, {} refused",
        fleet.nodes.len(),
        humantime::format_duration(Duration::from_secs(started.elapsed().as_secs())),
        s.lines,
        s.invalid_lines,
        fleet.unlisted.len(),
        s.accepted,
        s.rejected_full + s.rejected_unlisted + s.rejected_address,
    );
    Ok(())
}

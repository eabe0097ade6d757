//! The owner of the fleet state in the long-running modes (dashboard and `watch`):
//! the monitor's inputs, logging, alert hooks and metrics scrapes all go through
//! here, on one task, so no state is shared and nothing needs a lock.

use std::time::SystemTime;

use anyhow::Context;
use tokio::sync::mpsc;

use crate::config::Config;
use crate::fleet::{Fleet, Transition};
use crate::hooks::Hooks;
use crate::logging;
use crate::metrics::{self, Metrics, Scrape};
use crate::monitor::{self, Input, LogOnce, Monitor};

/// Fleet state plus everything that feeds on it.
pub struct Owner {
    pub fleet: Fleet,
    pub monitor: Monitor,
    config: Config,
    /// Where the config came from, for reloads; `None` for the built-in demo.
    config_path: Option<std::path::PathBuf>,
    log: LogOnce,
    hooks: Hooks,
    metrics: Option<(Metrics, mpsc::Receiver<Scrape>, tokio::task::JoinHandle<()>)>,
}

impl Owner {
    /// Starts pollers, receiver and (with `metrics`) the `/metrics` endpoint.
    pub async fn start(
        config: &Config,
        config_path: Option<std::path::PathBuf>,
        metrics_bind: Option<std::net::SocketAddr>,
    ) -> anyhow::Result<Owner> {
        let monitor = Monitor::start(config).await?;
        let fleet = Fleet::new(config, SystemTime::now());
        let metrics = match metrics_bind.or(config.metrics) {
            None => None,
            Some(addr) => {
                let listener = tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot serve metrics on {addr}"))?;
                tracing::info!(
                    "serving Prometheus metrics on http://{}/metrics",
                    listener.local_addr()?
                );
                let (tx, rx) = mpsc::channel(16);
                let server = tokio::spawn(metrics::serve(listener, tx));
                Some((Metrics::new(&fleet), rx, server))
            }
        };
        Ok(Owner {
            fleet,
            monitor,
            config: config.clone(),
            config_path,
            log: LogOnce::default(),
            hooks: Hooks::new(config.alerts.clone()),
            metrics,
        })
    }

    /// The next input. Metrics scrapes are answered here while waiting.
    pub async fn next(&mut self) -> Option<Input> {
        loop {
            let scrape = async {
                match &mut self.metrics {
                    Some((_, rx, _)) => rx.recv().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                input = self.monitor.next() => return input,
                Some(s) = scrape => {
                    if let Some((m, _, _)) = &mut self.metrics {
                        s.answer(m.render(&self.fleet, SystemTime::now()));
                    }
                }
            }
        }
    }

    /// An input already queued, without waiting.
    pub fn try_next(&mut self) -> Option<Input> {
        self.monitor.try_next()
    }

    /// Applies one input: state, log, hooks, metrics. Returns the shown-status change.
    pub fn apply(&mut self, input: Input) -> Option<Transition> {
        let a = monitor::apply(&mut self.fleet, input, &mut self.log);
        if let (Some(node), Some(raw)) = (a.node, a.raw) {
            if !self.hooks.is_empty() {
                self.hooks.handle(&self.fleet, node, raw);
            }
            if let (Some((m, _, _)), Some(latency)) = (&mut self.metrics, a.latency) {
                m.observe_latency(&self.fleet, node, latency);
            }
        }
        a.transition
    }

    /// Re-reads the config file. Added nodes start, removed nodes stop, changed
    /// nodes restart; unchanged nodes keep their state, history and connection. An
    /// invalid file is an error and the running config stays in force.
    pub async fn reload(&mut self) -> anyhow::Result<String> {
        let Some(path) = self.config_path.clone() else {
            anyhow::bail!("the demo's config is built in; there is nothing to reload");
        };
        let new = Config::load(&path)
            .map_err(|e| anyhow::anyhow!("reload rejected, old config kept: {e}"))?;
        let now = SystemTime::now();
        let old_fleet = std::mem::replace(&mut self.fleet, Fleet::new(&new, now));
        let old_count = old_fleet.nodes.len();
        let (fleet, kept) = old_fleet.reconcile(&new, now);
        self.fleet = fleet;
        let listener = self.monitor.reload(&self.config, &new, &kept).await;
        let kept_count = kept.iter().flatten().count();
        let restarted = match listener {
            Ok(r) => r,
            Err(e) => {
                // The receiver was replaced either way: its connections are gone.
                tracing::error!("{e:#}");
                true
            }
        };
        if restarted {
            // The old receiver's connections closed with it; senders reconnect.
            self.fleet.connections.clear();
        }
        let hooks = std::mem::replace(&mut self.hooks, Hooks::new(Vec::new()));
        self.hooks = hooks.reload(new.alerts.clone(), &kept);
        if let Some((m, _, _)) = &mut self.metrics {
            m.reload(&self.fleet, &kept);
        }
        self.config = new;
        let summary = format!(
            "reloaded {}: {} nodes, {kept_count} kept, {} new or changed, {} removed or changed{}",
            path.display(),
            self.fleet.nodes.len(),
            self.fleet.nodes.len() - kept_count,
            old_count - kept_count,
            if restarted {
                "; receiver restarted"
            } else {
                ""
            }
        );
        tracing::info!("{summary}");
        Ok(summary)
    }

    /// Once a second: receiver counters and push nodes gone stale.
    pub fn tick(&mut self, now: SystemTime) -> Vec<Transition> {
        self.monitor.sync_counters(&mut self.fleet);
        let stale = self.fleet.check_stale(now);
        for t in &stale {
            logging::transition(&self.fleet, t);
            if !self.hooks.is_empty() {
                self.hooks.handle(&self.fleet, t.node, t.to);
            }
        }
        stale
    }
}

impl Drop for Owner {
    fn drop(&mut self) {
        if let Some((_, _, server)) = &self.metrics {
            server.abort();
        }
    }
}

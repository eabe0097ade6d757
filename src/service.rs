//! The skeleton every long-running driver shares: start the hub (with its engine) and,
//! when asked, the `/metrics` endpoint reading the hub's snapshots. The dashboard and
//! `watch` differ only in what they do with the hub's output.

use std::future::Future;
use std::net::SocketAddr;

use anyhow::Context;

use crate::config::Config;
use crate::hub::{Hub, HubHandle, HubOptions};

/// A running hub and what serves from it.
pub struct Service {
    pub hub: HubHandle,
    metrics: Option<tokio::task::JoinHandle<()>>,
}

impl Service {
    /// Starts the hub; with `metrics` (the CLI flag, else `[metrics] bind`) also the
    /// Prometheus endpoint.
    pub async fn start(
        config: &Config,
        options: HubOptions,
        metrics: Option<SocketAddr>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Service> {
        let bind = metrics.or(config.metrics);
        // Bind first: a taken port is an error before anything starts.
        let listener = match bind {
            Some(addr) => Some(
                tokio::net::TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("cannot serve metrics on {addr}"))?,
            ),
            None => None,
        };
        let hub = Hub::start(config, options, shutdown).await?;
        let metrics = match listener {
            Some(listener) => {
                tracing::info!(
                    "serving Prometheus metrics on http://{}/metrics",
                    listener.local_addr()?
                );
                Some(tokio::spawn(crate::metrics::serve(listener, hub.source())))
            }
            None => None,
        };
        Ok(Service { hub, metrics })
    }

    /// Stops serving and waits for the hub (whose shutdown future must resolve).
    pub async fn join(mut self) -> crate::hub::HubReport {
        if let Some(m) = self.metrics.take() {
            m.abort();
        }
        self.hub.join().await
    }
}

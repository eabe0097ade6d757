//! The skeleton every long-running driver shares: start the hub (with its engine) and,
//! when asked, the HTTP server reading the hub's snapshots and transitions. The
//! dashboard and `watch` differ only in what they do with the hub's output.

use std::future::Future;

use crate::config::Config;
use crate::http::{self, HttpPlan, Web};
use crate::hub::{Hub, HubHandle, HubOptions};
use crate::notify::Notifier;

/// A running hub and what serves from it.
pub struct Service {
    pub hub: HubHandle,
    http: Option<tokio::task::JoinHandle<()>>,
    notifier: Option<Notifier>,
    /// The page's address, when serving: `http://127.0.0.1:8088/`.
    pub url: Option<String>,
}

impl Service {
    /// Starts the hub and, with a plan, the HTTP server (bound first: a taken
    /// port is an error before anything starts).
    pub async fn start(
        config: &Config,
        mut options: HubOptions,
        http: Option<HttpPlan>,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<Service> {
        let listener = match &http {
            Some(plan) => Some(http::bind(plan).await?),
            None => None,
        };
        let history = options.history.as_ref().map(|h| h.path().to_path_buf());
        let bound = match &listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        };
        // Notifications link to the page; the outbox lives in the history file.
        let notifier = Notifier::start(
            config,
            history.as_deref().map(|p| (p, config.history.retention)),
            bound.map(link_url),
        )
        .await?;
        options.notify = notifier
            .as_ref()
            .filter(|_| !config.notify.is_empty() || !config.alerts.is_empty())
            .map(|n| n.handle.clone());
        let hub = Hub::start(config, options, shutdown).await?;
        let (http, url) = match (listener, http) {
            (Some(listener), Some(plan)) => {
                let url = bound.map(|a| format!("http://{a}/")).unwrap_or_default();
                tracing::info!("serving the status page on {url} (metrics on {url}metrics)");
                let mut settings = plan.settings;
                settings.history = history;
                let web = Web::for_hub(&hub, settings);
                (Some(tokio::spawn(http::serve(listener, web))), Some(url))
            }
            _ => (None, None),
        };
        Ok(Service {
            hub,
            http,
            notifier,
            url,
        })
    }

    /// Stops serving and waits for the hub (whose shutdown future must resolve).
    pub async fn join(mut self) -> crate::hub::HubReport {
        if let Some(m) = self.http.take() {
            m.abort();
        }
        let report = self.hub.join().await;
        // The hub has stopped and closed the notifier's queue: its open windows
        // go to the outbox now.
        if let Some(n) = self.notifier.take() {
            n.join().await;
        }
        report
    }
}

/// The page's address as links in notifications give it: a server bound to
/// every interface (`0.0.0.0`, `::`) is named by this host's name, which a
/// reader elsewhere can reach, not by the address it listens on.
fn link_url(addr: std::net::SocketAddr) -> String {
    match crate::platform::hostname().filter(|_| addr.ip().is_unspecified()) {
        Some(host) => format!("http://{host}:{}/", addr.port()),
        None => format!("http://{addr}/"),
    }
}

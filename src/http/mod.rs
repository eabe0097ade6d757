//! The one HTTP server: the status page (`/`, `/node/{name}`, `/wall`), the JSON
//! API (`/api/v1/*`, with the event stream and acknowledgements), `/metrics` and
//! `/healthz`, on one axum router. Every handler reads the hub's snapshots or the
//! event ring; none touches the fleet state (acks go to the hub as commands).

pub mod ack;
pub mod api;
pub mod auth;
pub mod events;
pub mod feed;
pub mod pages;
pub mod view;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::routing::{delete, get, post};
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinSet;
use tower_http::compression::{CompressionLayer, CompressionLevel};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::{RequestBodyTimeoutLayer, TimeoutLayer};
use tower_http::trace::TraceLayer;

use crate::hub::{AckDesk, HubHandle, SnapshotSource};
use auth::Token;
use feed::EventFeed;

/// A client that has not sent its request head within this is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// A write the client does not take within this ends its connection: a stalled
/// event-stream reader is dropped, never buffered for.
const WRITE_TIMEOUT: Duration = Duration::from_secs(20);
/// A request's body must arrive within this, and no handler may take longer
/// (the longest is an uptime question over a large history file).
const BODY_TIMEOUT: Duration = Duration::from_secs(10);
const HANDLER_TIMEOUT: Duration = Duration::from_secs(60);
/// Request bodies are small (only acks take one, and those at most
/// [`ack::BODY_LIMIT`]).
const BODY_LIMIT: usize = 64 << 10;
/// Connections beyond the event streams: page loads, API calls, scrapes.
const SPARE_CONNECTIONS: usize = 64;

/// The Content-Security-Policy of every answer: nothing but our own files runs,
/// loads or is framed by anyone else.
pub const CSP: &str =
    "default-src 'self'; frame-ancestors 'self'; base-uri 'none'; form-action 'self'";

/// The server's settings, from `[http]` and the command line.
#[derive(Clone, Debug, Default)]
pub struct WebSettings {
    pub token: Option<Token>,
    pub protect_read: bool,
    pub max_streams: usize,
    /// The history file, read for `/node/{name}` and the history API.
    pub history: Option<PathBuf>,
    /// The config's name, for the page title.
    pub source: String,
    /// Who acks given with the token are by (`[http] token_name`; empty: `api`).
    pub token_name: String,
}

/// What every handler shares.
#[derive(Clone)]
pub struct Web {
    inner: Arc<WebInner>,
}

pub struct WebInner {
    pub snapshots: SnapshotSource,
    pub feed: Arc<EventFeed>,
    /// Moves when the feed fell behind the hub: every stream resyncs.
    pub lagged: watch::Sender<u64>,
    pub streams: Arc<Semaphore>,
    pub max_streams: usize,
    pub token: Option<Token>,
    pub protect_read: bool,
    pub history: Option<PathBuf>,
    pub source: String,
    pub token_name: String,
    /// Where acks go: the hub's desk (`None` without a hub: the ack routes answer 503).
    pub acks: Option<AckDesk>,
    /// Woken when an ack was given or removed here: the feed looks for
    /// maintenance and ack changes at once rather than at its next round.
    pub quiet_changed: Arc<tokio::sync::Notify>,
    pub started: std::time::Instant,
    liveness: Option<crate::hub::Liveness>,
    /// The last `snapshot` event rendered, by sequence number; the lock is held
    /// while one is made, so streams resyncing together wait for one render.
    snapshot_event: tokio::sync::Mutex<Option<(u64, std::time::Instant, bytes::Bytes)>>,
    /// The last snapshot the pages and the API read, and when: requests within
    /// [`SNAPSHOT_REUSE`] share it rather than each asking the hub for a copy of
    /// the fleet (a reloading wall or a scripted loop cannot keep the owner busy).
    snapshot: tokio::sync::Mutex<Option<Fresh>>,
    /// History questions answered at once at most; more get 503.
    pub questions: Arc<Semaphore>,
}

/// A snapshot for the pages and the API, with the id of the newest event it is
/// sure to include: a page resumes its stream from there.
#[derive(Clone)]
pub struct Fresh {
    pub snap: Arc<crate::state::Snapshot>,
    pub event_id: feed::EventId,
    taken: std::time::Instant,
}

/// How long a snapshot taken for one request serves the next ones.
const SNAPSHOT_REUSE: Duration = Duration::from_millis(250);
/// History and uptime questions running at once.
const QUESTIONS: usize = 2;

impl std::ops::Deref for Web {
    type Target = WebInner;
    fn deref(&self) -> &WebInner {
        &self.inner
    }
}

impl Web {
    /// For a running hub: the feed task follows its transitions.
    pub fn for_hub(hub: &HubHandle, settings: WebSettings) -> Web {
        let web = Web::new(hub.source(), Some(hub.liveness()), settings).with_acks(hub.acks());
        tokio::spawn(feed::run(
            web.feed.clone(),
            hub.subscribe(),
            hub.source(),
            web.lagged.clone(),
            feed::QuietWatch {
                changed: web.quiet_changed.clone(),
                streams: web.streams.clone(),
                max_streams: web.max_streams,
            },
        ));
        web
    }

    /// Takes acks to `desk` (the hub's). Only before the server is started.
    pub fn with_acks(self, desk: AckDesk) -> Web {
        let mut inner = Arc::try_unwrap(self.inner).unwrap_or_else(|_| {
            unreachable!("with_acks is called on a new Web, before anything shares it")
        });
        inner.acks = Some(desk);
        Web {
            inner: Arc::new(inner),
        }
    }

    /// From snapshots alone (no transitions, no liveness): for tests.
    pub fn new(
        snapshots: SnapshotSource,
        liveness: Option<crate::hub::Liveness>,
        settings: WebSettings,
    ) -> Web {
        let max_streams = match settings.max_streams {
            0 => crate::config::MAX_STREAMS,
            n => n,
        };
        Web {
            inner: Arc::new(WebInner {
                snapshots,
                feed: Arc::new(EventFeed::new()),
                lagged: watch::channel(0).0,
                streams: Arc::new(Semaphore::new(max_streams)),
                max_streams,
                token: settings.token,
                protect_read: settings.protect_read,
                history: settings.history,
                source: settings.source,
                token_name: match settings.token_name.trim() {
                    "" => crate::config::HttpConfig::default().token_name,
                    t => t.to_owned(),
                },
                acks: None,
                quiet_changed: Arc::new(tokio::sync::Notify::new()),
                started: std::time::Instant::now(),
                liveness,
                snapshot_event: tokio::sync::Mutex::new(None),
                snapshot: tokio::sync::Mutex::new(None),
                questions: Arc::new(Semaphore::new(QUESTIONS)),
            }),
        }
    }

    /// The engine is running (always, without a hub to ask).
    pub fn running(&self) -> bool {
        self.liveness.as_ref().is_none_or(|l| l.running())
    }

    pub fn last_result(&self) -> Option<SystemTime> {
        self.liveness.as_ref().and_then(|l| l.last_result())
    }

    /// A snapshot for a page or an API answer: the one taken for an earlier
    /// request if it is younger than [`SNAPSHOT_REUSE`], else a new one.
    pub async fn snapshot(&self) -> Fresh {
        let mut cached = self.snapshot.lock().await;
        if let Some(f) = &*cached
            && f.taken.elapsed() < SNAPSHOT_REUSE
        {
            return f.clone();
        }
        // The id first: an event published while the snapshot is taken is then
        // sent again on the stream (harmless), never missed.
        let event_id = self.feed.latest();
        let fresh = Fresh {
            snap: self.snapshots.fresh().await,
            event_id,
            taken: std::time::Instant::now(),
        };
        *cached = Some(fresh.clone());
        fresh
    }

    /// Forgets the shared snapshot: after an ack, the next page or API answer
    /// shows it.
    pub async fn forget_snapshot(&self) {
        *self.snapshot.lock().await = None;
    }
}

/// Every route, with the security headers, limits and tracing.
pub fn router(web: Web) -> Router {
    Router::new()
        .route("/", get(pages::fleet))
        .route("/wall", get(pages::wall))
        .route("/node/{name}", get(pages::node))
        .route("/assets/app.js", get(pages::script))
        .route("/assets/app.css", get(pages::style))
        .route("/api/v1/status", get(api::status))
        .route("/api/v1/events", get(events::events))
        .route("/api/v1/history", get(api::history))
        .route("/api/v1/uptime", get(api::uptime))
        .route("/api/v1/ack", post(ack::ack))
        .route("/api/v1/ack/{target}", delete(ack::unack))
        .route("/metrics", get(api::metrics))
        .route("/healthz", get(api::healthz))
        .fallback(pages::not_found)
        .layer(axum::middleware::from_fn_with_state(web.clone(), auth::check))
        .layer(CompressionLayer::new().quality(CompressionLevel::Fastest))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            HANDLER_TIMEOUT,
        ))
        .layer(RequestBodyTimeoutLayer::new(BODY_TIMEOUT))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT))
        // The limit layer's own 413 is text: every error here is JSON.
        .layer(axum::middleware::map_response(api::json_errors))
        .layer(header_layer(header::CONTENT_SECURITY_POLICY, CSP))
        .layer(header_layer(header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .layer(header_layer(header::REFERRER_POLICY, "no-referrer"))
        .layer(
            // The path only: a query may carry `?token=`, which must never be logged.
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    tracing::debug_span!("http", method = %req.method(), path = %req.uri().path())
                })
                .on_request(|req: &Request, _: &tracing::Span| {
                    tracing::debug!("http: {} {}", req.method(), req.uri().path());
                }),
        )
        .with_state(web)
}

fn header_layer(name: HeaderName, value: &'static str) -> SetResponseHeaderLayer<HeaderValue> {
    SetResponseHeaderLayer::if_not_present(name, HeaderValue::from_static(value))
}

/// Serves the router on `listener` until dropped or aborted (which ends its
/// connections too). Connections are capped at `max_streams` plus a spare few;
/// each has a header deadline and a write deadline.
pub async fn serve(listener: TcpListener, web: Web) {
    let cap = web.max_streams + SPARE_CONNECTIONS;
    let app = router(web);
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            // Reap finished connections so the set does not grow.
            Some(_) = conns.join_next() => continue,
        };
        // And any that finished meanwhile, so they do not count against the cap.
        while conns.try_join_next().is_some() {}
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!("http: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if conns.len() >= cap {
            tracing::debug!("http: {cap} connections open, closing a new one");
            continue;
        }
        let _ = stream.set_nodelay(true);
        let mut io = tokio_io_timeout::TimeoutStream::new(stream);
        io.set_write_timeout(Some(WRITE_TIMEOUT));
        let service = TowerToHyperService::new(app.clone());
        conns.spawn(async move {
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(Box::pin(io)), service);
            if let Err(e) = conn.await {
                tracing::debug!("http: connection ended: {e}");
            }
        });
    }
}

/// Where and how to serve, decided before anything starts.
#[derive(Clone, Debug)]
pub struct HttpPlan {
    pub bind: SocketAddr,
    /// `demo`: when the port is taken, the next free one above it.
    pub next_free: bool,
    pub settings: WebSettings,
}

/// The demo's address.
pub const DEMO_BIND: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8088);

/// The server a long-running mode starts, if any: `--http`, else the deprecated
/// `--metrics`, else `[http] bind` (or its alias `[metrics] bind`), else the
/// demo's default. Reads the token (a missing one is an error now, not an open
/// server later) and warns about what deserves it.
pub fn plan(
    config: &crate::config::Config,
    http_flag: Option<SocketAddr>,
    metrics_flag: Option<SocketAddr>,
    demo: bool,
) -> anyhow::Result<Option<HttpPlan>> {
    let warn = |msg: &str| {
        eprintln!("warning: {msg}");
        tracing::warn!("{msg}");
    };
    if metrics_flag.is_some() {
        warn(
            "--metrics is deprecated: use --http (one server serves the page, the API and /metrics)",
        );
    }
    if config.http.bind_from_metrics && http_flag.is_none() && metrics_flag.is_none() {
        warn(
            "[metrics] bind is deprecated: use [http] bind (one server serves the page, the API and /metrics)",
        );
    }
    let (bind, next_free) = match http_flag.or(metrics_flag).or(config.http.bind) {
        Some(b) => (b, false),
        None if demo => (DEMO_BIND, true),
        None => return Ok(None),
    };
    let token = config.http.token.as_ref().map(Token::load).transpose()?;
    if token.is_none() && !bind.ip().is_loopback() {
        warn(&format!(
            "serving http on {bind}, reachable from other machines, without a token: set [http] token_env or token_file"
        ));
    }
    Ok(Some(HttpPlan {
        bind,
        next_free,
        settings: WebSettings {
            token,
            protect_read: config.http.protect_read,
            max_streams: config.http.max_streams,
            history: None,
            source: config.source.clone(),
            token_name: config.http.token_name.clone(),
        },
    }))
}

/// Binds the plan's address (or, for the demo, the next free port above it).
pub async fn bind(plan: &HttpPlan) -> anyhow::Result<TcpListener> {
    use anyhow::Context;
    let tries = if plan.next_free { 20 } else { 1 };
    let mut addr = plan.bind;
    let mut last = None;
    for _ in 0..tries {
        match TcpListener::bind(addr).await {
            Ok(l) => return Ok(l),
            Err(e) => last = Some(e),
        }
        addr.set_port(addr.port().saturating_add(1));
    }
    Err(last.map_or_else(|| anyhow::anyhow!("no address"), anyhow::Error::from))
        .with_context(|| format!("cannot serve http on {}", plan.bind))
}

#[cfg(test)]
mod tests;

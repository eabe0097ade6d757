//! A tiny HTTP/1 server for `GET /metrics`. Each scrape renders the hub's latest
//! snapshot on a blocking thread, so neither the hub nor a current-thread runtime waits.

use std::convert::Infallible;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::task::JoinSet;

use crate::hub::SnapshotSource;

use super::exposition;

/// The content type of [`exposition::render`]'s output. prometheus-client encodes
/// only the OpenMetrics 1.0 text format (counters as `<name>_total`, a final `# EOF`),
/// and Prometheus picks its parser by this header, so it must announce OpenMetrics
/// rather than the classic `text/plain; version=0.0.4`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Open scrape connections at most; Prometheus needs one or two, anything beyond
/// that is closed at once rather than allowed to pile up tasks.
const MAX_CONNECTIONS: usize = 64;

/// A client that has not sent its request head within this is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `GET /metrics` on `listener`, each answer rendered from a snapshot taken
/// for it (the hub builds one per scrape rather than on a timer) as [`CONTENT_TYPE`] (503 should rendering fail). Any other path is
/// 404, another method on `/metrics` 405. Runs until dropped or aborted, which also
/// ends its open connections.
pub async fn serve(listener: TcpListener, snapshots: SnapshotSource) {
    // Connection tasks live in the set, so dropping `serve` aborts them as well.
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            // Reap finished connections so the set does not grow.
            Some(_) = conns.join_next() => continue,
        };
        let stream = match accepted {
            Ok((stream, _peer)) => stream,
            Err(e) => {
                // Usually out of file descriptors: back off instead of spinning.
                tracing::warn!("metrics: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if conns.len() >= MAX_CONNECTIONS {
            tracing::debug!("metrics: {MAX_CONNECTIONS} connections open, closing a new one");
            continue;
        }
        let snapshots = snapshots.clone();
        conns.spawn(async move {
            let service = service_fn(move |req| respond(req, snapshots.clone()));
            let conn = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!("metrics: connection ended: {e}");
            }
        });
    }
}

async fn respond(
    req: Request<Incoming>,
    snapshots: SnapshotSource,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if req.uri().path() != "/metrics" {
        return Ok(plain(
            StatusCode::NOT_FOUND,
            "not found: metrics are at /metrics\n",
        ));
    }
    if req.method() != Method::GET {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET"));
        return Ok(r);
    }
    let snap = snapshots.fresh().await;
    // Rendering 10,000 nodes takes milliseconds of CPU; on a blocking thread it delays
    // neither the hub nor the other tasks of a current-thread runtime.
    let rendered =
        tokio::task::spawn_blocking(move || exposition::render(&snap, SystemTime::now())).await;
    Ok(match rendered {
        Ok(Ok(body)) => {
            let mut r = Response::new(Full::new(Bytes::from(body)));
            r.headers_mut()
                .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
            r
        }
        Ok(Err(e)) => {
            tracing::error!("metrics: encoding failed: {e}");
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the metrics could not be rendered\n",
            )
        }
        Err(e) => {
            // The render panicked, or the runtime is shutting down.
            tracing::error!("metrics: rendering did not finish: {e}");
            plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "the metrics could not be rendered\n",
            )
        }
    })
}

fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

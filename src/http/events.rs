//! `GET /api/v1/events`: Server-Sent Events. Each open stream is a cursor into the
//! shared ring ([`super::feed`]); a client that asks for an id the ring no longer
//! holds (or one from an earlier run) gets a `snapshot` event, then live events.
//! Memory per stream is a cursor: a stalled reader falls behind in the ring, and
//! the connection's write deadline drops it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::body::Body;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use bytes::{Bytes, BytesMut};
use tokio::sync::{OwnedSemaphorePermit, watch};

use super::Web;
use super::feed::{EventFeed, EventId, Since, frame};

/// A `ping` event this often, so a page notices a dead stream within seconds
/// even when nothing changes (comments would not reach its script).
const PING: Duration = Duration::from_secs(1);
/// What the browser waits before it reconnects on its own (the page's script
/// does its own backoff; this is for other clients).
const RETRY_MS: u32 = 2000;

#[derive(serde::Deserialize)]
pub struct EventsQuery {
    /// The id to resume after, for clients that cannot set `Last-Event-ID`.
    since: Option<String>,
}

pub async fn events(
    State(web): State<Web>,
    headers: HeaderMap,
    Query(q): Query<EventsQuery>,
) -> Response {
    let Ok(permit) = web.streams.clone().try_acquire_owned() else {
        let mut r = super::api::error(
            StatusCode::SERVICE_UNAVAILABLE,
            &format!(
                "too many event streams open (max_streams = {}); try again later",
                web.max_streams
            ),
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
        return r;
    };
    let asked = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or(q.since);
    let feed = web.feed.clone();
    let cursor = match asked.as_deref() {
        // No id: live from now on.
        None | Some("") => Cursor::At(feed.latest().seq),
        Some(s) => match EventId::parse(s) {
            Some(id) if id.run == feed.run => Cursor::At(id.seq),
            _ => Cursor::Snapshot,
        },
    };
    let stream = EventStream {
        feed: feed.clone(),
        web: web.clone(),
        cursor,
        wake: feed.subscribe(),
        lagged: web.lagged.subscribe(),
        first: true,
        _permit: permit,
    };
    let body = Body::from_stream(futures::stream::unfold(stream, |mut s| async move {
        let chunk = s.next().await?;
        Some((Ok::<Bytes, std::convert::Infallible>(chunk), s))
    }));
    let mut r = Response::new(body);
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/event-stream"),
    );
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // For a reverse proxy (nginx buffers responses unless told not to).
    h.insert("x-accel-buffering", HeaderValue::from_static("no"));
    r
}

enum Cursor {
    /// The last sequence number this client has.
    At(u64),
    /// Resync first.
    Snapshot,
}

struct EventStream {
    feed: Arc<EventFeed>,
    web: Web,
    cursor: Cursor,
    wake: watch::Receiver<u64>,
    lagged: watch::Receiver<u64>,
    first: bool,
    /// Held while the stream is open: the count against `max_streams`.
    _permit: OwnedSemaphorePermit,
}

impl EventStream {
    /// The next chunk to write: frames, a snapshot, or a ping. `None` ends the
    /// stream (the monitor is stopping).
    async fn next(&mut self) -> Option<Bytes> {
        if std::mem::take(&mut self.first) {
            // The retry hint, and a first frame so the client knows it is connected.
            let mut out = BytesMut::new();
            out.extend_from_slice(format!("retry: {RETRY_MS}\n\n").as_bytes());
            if let Some(chunk) = self.pending().await {
                out.extend_from_slice(&chunk);
            } else {
                frame(&mut out, None, "ping", "{}");
            }
            return Some(out.freeze());
        }
        let ping = tokio::time::sleep(PING);
        tokio::pin!(ping);
        loop {
            if let Some(chunk) = self.pending().await {
                return Some(chunk);
            }
            tokio::select! {
                changed = self.wake.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                }
                changed = self.lagged.changed() => {
                    if changed.is_err() {
                        return None;
                    }
                    self.cursor = Cursor::Snapshot;
                }
                () = &mut ping => {
                    // The monitor stopped (its owner task ended): end the stream,
                    // so the page says the connection is lost instead of showing
                    // a frozen fleet as live.
                    if !self.web.running() {
                        return None;
                    }
                    let mut out = BytesMut::new();
                    frame(&mut out, None, "ping", "{}");
                    return Some(out.freeze());
                }
            }
        }
    }

    /// What is waiting for this client, if anything.
    async fn pending(&mut self) -> Option<Bytes> {
        loop {
            match self.cursor {
                Cursor::Snapshot => {
                    let (seq, chunk) = self.web.snapshot_event().await;
                    self.cursor = Cursor::At(seq);
                    // Mark seen what was written while the snapshot was taken.
                    self.wake.borrow_and_update();
                    return Some(chunk);
                }
                Cursor::At(after) => {
                    self.wake.borrow_and_update();
                    match self.feed.since(after) {
                        Since::Gone => self.cursor = Cursor::Snapshot,
                        Since::Frames(batch, last) => {
                            self.cursor = Cursor::At(last);
                            return batch;
                        }
                    }
                }
            }
        }
    }
}

impl Web {
    /// A `snapshot` event: the whole status document, with the id of the newest
    /// event it includes. Rendered once per id and shared by every stream that
    /// needs it, so a hundred pages resyncing after a storm cost one render.
    pub(super) async fn snapshot_event(&self) -> (u64, Bytes) {
        let mut cache = self.snapshot_event.lock().await;
        let seq = self.feed.latest().seq;
        if let Some((s, at, body)) = &*cache
            && *s == seq
            && at.elapsed() < Duration::from_secs(1)
        {
            return (seq, body.clone());
        }
        let snap = self.snapshots.fresh().await;
        let windows = snap.windows.clone();
        let id = EventId {
            run: self.feed.run,
            seq,
        };
        let rendered = tokio::task::spawn_blocking(move || {
            // The document, then every row as the page shows it.
            let doc = super::api::status_document(&snap, &windows, SystemTime::now(), false);
            let mut out = BytesMut::new();
            frame(&mut out, Some(id), "snapshot", &doc);
            let summary = crate::present::schema::to_line(&super::view::Summary::new(&snap, None));
            frame(&mut out, None, "summary", &summary);
            out.freeze()
        })
        .await;
        match rendered {
            Ok(body) => {
                *cache = Some((seq, std::time::Instant::now(), body.clone()));
                (seq, body)
            }
            Err(e) => {
                // Not cached: the next stream that needs one tries again.
                tracing::error!("web: the snapshot event could not be rendered: {e}");
                let mut out = BytesMut::new();
                frame(&mut out, None, "error", "{\"error\":\"snapshot failed\"}");
                (seq, out.freeze())
            }
        }
    }
}

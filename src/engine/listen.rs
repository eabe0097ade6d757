//! Listen (push) mode: SyncGuard V3 nodes connect to us and write one
//! `<ip>_state<d>\r\n` line per tick. Many connections at once on every bind address;
//! one slow, silent or abusive connection never delays another. We never write.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::{Config, ListenConfig};
use crate::model::listen::Abuse;
use crate::model::{CloseReason, ConnId, IoFailure, ListenEvent, Refusals};
use crate::protocol::{InvalidLine, LineReader, PushLine, ReportedIp};

/// A connection is closed after this many invalid lines.
pub const MAX_INVALID_LINES: u32 = 16;

/// What every connection task shares.
struct Shared {
    directory: HashMap<IpAddr, usize>,
    allow_unlisted: bool,
    listen: ListenConfig,
    idle_limit: Duration,
    max_connections: usize,
    open: AtomicUsize,
    next_conn: AtomicU64,
    refused_full: AtomicU64,
    refused_not_allowed: AtomicU64,
    tx: mpsc::Sender<ListenEvent>,
}

/// The running receiver. Dropping it closes the listeners and every connection.
pub struct Listener {
    /// The addresses actually bound (port 0 resolved).
    pub local_addrs: Vec<SocketAddr>,
    shared: Arc<Shared>,
    tasks: JoinSet<()>,
}

impl Listener {
    /// Binds every address in `[listen]` and starts accepting.
    pub async fn start(
        config: &Config,
        listen: &ListenConfig,
        tx: mpsc::Sender<ListenEvent>,
    ) -> anyhow::Result<Listener> {
        let shared = Arc::new(Shared {
            directory: config.push_directory(),
            allow_unlisted: listen.allow_unlisted,
            listen: listen.clone(),
            // Twice the longest silence any push node is allowed, so a node set to
            // send every minute is not cut off as idle.
            idle_limit: config
                .push_nodes()
                .map(|(_, n)| n.stale_after)
                .chain([listen.stale_after])
                .max()
                .unwrap_or(listen.stale_after)
                .saturating_mul(2),
            max_connections: listen.max_connections,
            open: AtomicUsize::new(0),
            next_conn: AtomicU64::new(1),
            refused_full: AtomicU64::new(0),
            refused_not_allowed: AtomicU64::new(0),
            tx,
        });
        let mut tasks = JoinSet::new();
        let mut local_addrs = Vec::with_capacity(listen.bind.len());
        for addr in &listen.bind {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("cannot listen on {addr} (listen.bind)"))?;
            let local = listener.local_addr().context("listener address")?;
            tracing::info!("listening for SyncGuard pushes on {local}");
            local_addrs.push(local);
            tasks.spawn(accept_loop(listener, shared.clone()));
        }
        Ok(Listener {
            local_addrs,
            shared,
            tasks,
        })
    }

    /// Stops accepting and waits until every listening socket is closed, so the
    /// same address can be bound again at once (a reload).
    pub async fn shutdown(mut self) {
        self.tasks.shutdown().await;
    }

    /// Connections refused at accept so far.
    pub fn refusals(&self) -> Refusals {
        Refusals {
            full: self.shared.refused_full.load(Ordering::Relaxed),
            not_allowed: self.shared.refused_not_allowed.load(Ordering::Relaxed),
        }
    }
}

/// Decrements the open-connection count however the connection task ends.
struct OpenSlot(Arc<Shared>);

impl Drop for OpenSlot {
    fn drop(&mut self) {
        self.0.open.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn accept_loop(listener: TcpListener, shared: Arc<Shared>) {
    let mut conns = JoinSet::new();
    let mut refused_since_warning = 0u64;
    let mut last_warning: Option<Instant> = None;
    let mut denied_since_warning = 0u64;
    let mut last_denied_warning: Option<Instant> = None;
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            // Reap finished connections so the set stays the size of what is open.
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let (stream, peer) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: the accept queue waits; do not spin.
                tracing::warn!(
                    "accepting a push connection failed: {}",
                    IoFailure::from(&e)
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if !shared.listen.allows(peer.ip()) {
            drop(stream);
            denied_since_warning += 1;
            if last_denied_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!(
                    "closed {denied_since_warning} push connection(s) from outside listen.allow_from, latest from {peer}"
                );
                denied_since_warning = 0;
                last_denied_warning = Some(Instant::now());
            }
            shared.refused_not_allowed.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        if shared.open.load(Ordering::Relaxed) >= shared.max_connections {
            drop(stream);
            refused_since_warning += 1;
            // One warning per ten seconds, with the count, however hard the flood.
            if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                tracing::warn!(
                    "max_connections ({}) reached: refused {refused_since_warning} push connection(s), latest from {peer}",
                    shared.max_connections
                );
                refused_since_warning = 0;
                last_warning = Some(Instant::now());
            }
            shared.refused_full.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        shared.open.fetch_add(1, Ordering::Relaxed);
        let slot = OpenSlot(shared.clone());
        let conn = shared.next_conn.fetch_add(1, Ordering::Relaxed);
        conns.spawn(serve(stream, peer, conn, slot));
    }
}

/// Reads one push connection until it closes, misbehaves or goes quiet.
async fn serve(mut stream: TcpStream, peer: SocketAddr, conn: ConnId, slot: OpenSlot) {
    let shared = &slot.0;
    let tx = &shared.tx;
    if tx
        .send(ListenEvent::Opened {
            conn,
            peer,
            at: SystemTime::now(),
        })
        .await
        .is_err()
    {
        return;
    }
    let reason = read_lines(&mut stream, peer, conn, shared).await;
    if let CloseReason::Abuse(why) = &reason {
        tracing::warn!("closed push connection from {peer}: {why}");
    }
    let _ = tx.send(ListenEvent::Closed { conn, peer, reason }).await;
}

async fn read_lines(
    stream: &mut TcpStream,
    peer: SocketAddr,
    conn: ConnId,
    shared: &Shared,
) -> CloseReason {
    let mut reader = LineReader::new();
    let mut buf = [0u8; 512];
    let mut lines: Vec<Result<PushLine, InvalidLine>> = Vec::new();
    let mut latest: Vec<(Result<PushLine, InvalidLine>, u32)> = Vec::new();
    let mut invalid = 0u32;
    // The idle timer is armed once and moved only when it fires early: resetting
    // it on every line would cost a timer-wheel removal and insert per line.
    let mut last_line = Instant::now();
    let idle = tokio::time::sleep_until(last_line + shared.idle_limit);
    tokio::pin!(idle);
    loop {
        let read = tokio::select! {
            biased;
            read = stream.read(&mut buf) => read,
            () = &mut idle => {
                let due = last_line + shared.idle_limit;
                if Instant::now() >= due {
                    return CloseReason::Abuse(Abuse::Idle(shared.idle_limit));
                }
                idle.as_mut().reset(due);
                continue;
            }
        };
        let n = match read {
            Ok(0) => return CloseReason::Peer,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return CloseReason::Error(IoFailure::from(&e)),
        };
        let overflow = reader.feed(&buf[..n], |l| lines.push(l));
        if !lines.is_empty() {
            last_line = Instant::now();
        }
        let at = SystemTime::now();
        // Everything one read delivered becomes at most one event per sender IP
        // (its latest line, with how many it stands for) plus one for invalid
        // lines: a peer writing lines as fast as it can costs the owner one update
        // per read, not one per line, and duplicates cost nothing extra.
        for line in lines.drain(..) {
            match &line {
                Err(_) => invalid += 1,
                Ok(l) if !shared.allow_unlisted => {
                    let ip = match l.reported {
                        ReportedIp::V4(ip) => IpAddr::V4(ip),
                        ReportedIp::Unknown => peer.ip(),
                    };
                    if !shared.directory.contains_key(&ip.to_canonical()) {
                        return CloseReason::Unlisted(ip);
                    }
                }
                Ok(_) => {}
            }
            let same = |prev: &Result<PushLine, InvalidLine>| match (prev, &line) {
                (Ok(a), Ok(b)) => a.reported == b.reported,
                (Err(_), Err(_)) => true,
                _ => false,
            };
            match latest.iter().position(|(prev, _)| same(prev)) {
                Some(i) => {
                    // Keep the order in which the kinds last appeared.
                    let (_, count) = latest.remove(i);
                    latest.push((line, count + 1));
                }
                None => latest.push((line, 1)),
            }
        }
        for (line, count) in latest.drain(..) {
            let ev = ListenEvent::Line {
                conn,
                peer,
                at,
                line,
                count,
            };
            if shared.tx.send(ev).await.is_err() {
                return CloseReason::Shutdown;
            }
        }
        if let Err(overflow) = overflow {
            let _ = shared
                .tx
                .send(ListenEvent::Line {
                    conn,
                    peer,
                    at,
                    line: Err(overflow.0),
                    count: 1,
                })
                .await;
            return CloseReason::Abuse(Abuse::Overlong(crate::protocol::MAX_LINE_BYTES));
        }
        if invalid >= MAX_INVALID_LINES {
            return CloseReason::Abuse(Abuse::InvalidLines(invalid));
        }
    }
}

//! Poll mode: one task per node sends the request and reads one reply, under one
//! deadline for the whole exchange. Results go over a channel to the fleet's owner.
//!
//! The connection is kept and reused; a peer that closed it after its last reply is
//! reconnected at the next poll with no penalty. After a failed connection the task
//! waits `backoff` so a dead node is not hammered.

use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::{Config, NodeConfig};
use crate::fleet::{NodeId, Observation, Outcome, TimeoutPhase};
use crate::protocol::{Decode, ReplyDecoder};
use crate::text;

/// One result for the fleet's owner.
#[derive(Debug)]
pub struct PollResult {
    pub node: NodeId,
    pub obs: Observation,
    /// Whether the poller kept the connection open afterwards.
    pub connected: bool,
}

/// The result of one exchange, before it is stamped for the fleet.
#[derive(Debug)]
pub struct Exchange {
    pub outcome: Outcome,
    pub latency: Option<Duration>,
    /// The connection could not be made: the next try waits `backoff`.
    pub connect_failed: bool,
}

/// How an exchange failed before the deadline.
enum Failure {
    Connect(String),
    /// The connection broke before a single reply byte; worth one fresh retry when
    /// the connection was a reused one.
    ClosedBeforeReply(String),
    Broken(String),
    Invalid(crate::protocol::InvalidReply),
}

/// Per-poller state that lives across polls: the connection and the reply buffer.
#[derive(Default)]
pub struct Link {
    conn: Option<TcpStream>,
    decoder: ReplyDecoder,
    read_buf: Vec<u8>,
}

impl Link {
    pub fn new() -> Self {
        Link {
            conn: None,
            decoder: ReplyDecoder::new(),
            // Replies are at most MAX_REPLY_BYTES; a bigger read buys nothing.
            read_buf: vec![0; crate::protocol::MAX_REPLY_BYTES],
        }
    }

    pub fn is_connected(&self) -> bool {
        self.conn.is_some()
    }

    /// One request/reply exchange, bounded as a whole by `node.timeout`. `permits`
    /// bounds connection attempts in flight across the fleet.
    pub async fn exchange(&mut self, node: &NodeConfig, permits: &Semaphore) -> Exchange {
        self.exchange_until(node, permits, Instant::now() + node.timeout)
            .await
    }

    /// [`Link::exchange`] with the deadline fixed by the caller: `--once` fixes it
    /// when it starts the check, so however long a big fleet takes to get every task
    /// running, the whole check ends at `timeout`.
    pub async fn exchange_until(
        &mut self,
        node: &NodeConfig,
        permits: &Semaphore,
        deadline: Instant,
    ) -> Exchange {
        let start = Instant::now();
        let mut phase = TimeoutPhase::Reply;
        let result = tokio::time::timeout_at(deadline, self.talk(node, permits, &mut phase)).await;
        let latency = start.elapsed();
        match result {
            Ok(Ok(reply)) => Exchange {
                outcome: Outcome::Reply(reply),
                latency: Some(latency),
                connect_failed: false,
            },
            Ok(Err(failure)) => {
                self.conn = None;
                let (outcome, connect_failed) = match failure {
                    Failure::Connect(why) => (Outcome::Unreachable(why), true),
                    Failure::ClosedBeforeReply(why) | Failure::Broken(why) => {
                        (Outcome::Unreachable(why), false)
                    }
                    Failure::Invalid(why) => (Outcome::Invalid(why), false),
                };
                Exchange {
                    outcome,
                    latency: None,
                    connect_failed,
                }
            }
            Err(_elapsed) => {
                // A half-read reply must not leak into the next exchange.
                self.conn = None;
                Exchange {
                    outcome: Outcome::Timeout {
                        phase,
                        after: node.timeout,
                    },
                    latency: None,
                    connect_failed: phase != TimeoutPhase::Reply,
                }
            }
        }
    }

    async fn talk(
        &mut self,
        node: &NodeConfig,
        permits: &Semaphore,
        phase: &mut TimeoutPhase,
    ) -> Result<crate::protocol::Reply, Failure> {
        let mut retried = false;
        loop {
            let reused = match self.conn.as_ref() {
                Some(s) if peer_closed(s) => {
                    // Closed after its last reply (the guide's own client does this):
                    // normal, not a failure.
                    self.conn = None;
                    false
                }
                Some(_) => true,
                None => false,
            };
            if self.conn.is_none() {
                *phase = TimeoutPhase::Queue;
                let _permit = permits
                    .acquire()
                    .await
                    .map_err(|_| Failure::Connect("shutting down".into()))?;
                *phase = TimeoutPhase::Connect;
                let stream = connect(node).await.map_err(Failure::Connect)?;
                // Replies are tiny; do not let Nagle hold the request back.
                let _ = stream.set_nodelay(true);
                self.conn = Some(stream);
            }
            *phase = TimeoutPhase::Reply;
            let Some(stream) = self.conn.as_mut() else {
                continue;
            };
            self.decoder.reset();
            match request_reply(stream, &node.request, &mut self.decoder, &mut self.read_buf).await
            {
                Err(Failure::ClosedBeforeReply(_)) if reused && !retried => {
                    retried = true;
                    self.conn = None;
                }
                other => return other,
            }
        }
    }
}

/// True when a kept connection has been closed by the peer, or holds unread bytes
/// other than stray terminators (which would be mistaken for the next reply).
/// Non-blocking.
fn peer_closed(stream: &TcpStream) -> bool {
    let mut scratch = [0u8; 64];
    // Bounded: a peer streaming whitespace must not hold the poller here (no await,
    // so no deadline could interrupt it). Past the bound, start a fresh connection.
    for _ in 0..4 {
        match stream.try_read(&mut scratch) {
            Ok(0) => return true,
            // The `\n` of a CRLF that arrived after the reply was decoded: harmless.
            Ok(n)
                if scratch[..n]
                    .iter()
                    .all(|b| matches!(b, b'\r' | b'\n' | b'\0' | b' ')) =>
            {
                continue;
            }
            // Unsolicited bytes: start fresh rather than guess where a reply begins.
            Ok(_) => return true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => return true,
        }
    }
    true
}

async fn connect(node: &NodeConfig) -> Result<TcpStream, String> {
    // An IP literal needs no resolver round trip (and no allocation).
    if let Ok(ip) = node.host.parse::<std::net::IpAddr>() {
        return TcpStream::connect((ip, node.port))
            .await
            .map_err(|e| describe(&e));
    }
    let addrs: Vec<_> = tokio::net::lookup_host((node.host.as_str(), node.port))
        .await
        .map_err(|e| {
            format!(
                "DNS lookup of {} failed: {}",
                text::escape_str(&node.host),
                describe(&e)
            )
        })?
        .collect();
    if addrs.is_empty() {
        return Err(format!(
            "DNS lookup of {} found no address",
            text::escape_str(&node.host)
        ));
    }
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last
        .map(|e| describe(&e))
        .unwrap_or_else(|| "connect failed".into()))
}

async fn request_reply(
    stream: &mut TcpStream,
    request: &[u8],
    decoder: &mut ReplyDecoder,
    buf: &mut [u8],
) -> Result<crate::protocol::Reply, Failure> {
    if let Err(e) = stream.write_all(request).await {
        return Err(Failure::ClosedBeforeReply(describe(&e)));
    }
    loop {
        let n = match stream.read(buf).await {
            Ok(n) => n,
            Err(e) if decoder.is_blank() => return Err(Failure::ClosedBeforeReply(describe(&e))),
            Err(e) => return Err(Failure::Broken(format!("{} mid-reply", describe(&e)))),
        };
        if n == 0 {
            return Err(match decoder.at_eof() {
                None => Failure::ClosedBeforeReply("connection closed without a reply".into()),
                Some(why) => Failure::Invalid(why),
            });
        }
        match decoder.feed(&buf[..n]) {
            Decode::Incomplete => {}
            Decode::Complete { reply, .. } => return Ok(reply),
            Decode::Invalid(why) => return Err(Failure::Invalid(why)),
        }
    }
}

/// Short, lower-case descriptions of socket errors, as an on-call reader expects.
pub fn describe(e: &io::Error) -> String {
    use io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        ConnectionReset => "connection reset by peer".into(),
        ConnectionAborted => "connection aborted".into(),
        BrokenPipe => "connection closed by peer".into(),
        HostUnreachable => "no route to host".into(),
        NetworkUnreachable => "network unreachable".into(),
        AddrNotAvailable => "address not available (out of local ports?)".into(),
        TimedOut => "timed out".into(),
        _ => {
            let s = e.to_string();
            // Drop the "(os error N)" tail; it means nothing to the reader.
            let s = s.split(" (os error").next().unwrap_or(&s);
            text::escape_str(s)
        }
    }
}

/// Poll times are rounded up to this grid, so the pollers that fall due in the same
/// slot wake together: one timer wake-up serves many nodes instead of one each.
/// The spread over the interval is unchanged at this resolution.
pub const POLL_TICK: Duration = Duration::from_millis(100);

/// `t` rounded up to the next [`POLL_TICK`] boundary (counted from a fixed epoch).
pub fn on_tick(t: Instant) -> Instant {
    static EPOCH: std::sync::OnceLock<Instant> = std::sync::OnceLock::new();
    let epoch = *EPOCH.get_or_init(Instant::now);
    let since = t.saturating_duration_since(epoch).as_nanos();
    let tick = POLL_TICK.as_nanos();
    let rounded = since.div_ceil(tick) * tick;
    epoch + Duration::from_nanos(u64::try_from(rounded).unwrap_or(u64::MAX))
}

/// A uniformly random wait in `[min, max]`, so a large fleet spreads its polls
/// evenly instead of firing in waves.
pub fn jitter(min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    rand::rng().random_range(min..=max)
}

/// Handles to running pollers: wake one or all for an immediate poll, and swap
/// pollers on a config reload. Dropping it stops every poller.
pub struct Pollers {
    /// Each poller's slot by node id; `None` for push nodes. Results carry the slot,
    /// not the node id, so a reload can renumber nodes without confusing results
    /// already in flight.
    slots: Vec<Option<u64>>,
    /// Node id by slot, for the results.
    nodes: std::collections::HashMap<u64, NodeId>,
    running:
        std::collections::HashMap<u64, (tokio::task::AbortHandle, Arc<Notify>, Arc<NodeConfig>)>,
    next_slot: u64,
    permits: Arc<Semaphore>,
    tx: mpsc::Sender<PollResult>,
    tasks: JoinSet<()>,
}

impl Pollers {
    /// Starts one task per node. Each first poll happens within about a second of
    /// start, spread so the fleet does not connect all at once.
    pub fn start(config: &Config, tx: mpsc::Sender<PollResult>) -> Pollers {
        let mut p = Pollers {
            slots: vec![None; config.nodes.len()],
            nodes: Default::default(),
            running: Default::default(),
            next_slot: 0,
            permits: Arc::new(Semaphore::new(config.defaults.max_connecting)),
            tx,
            tasks: JoinSet::new(),
        };
        for (id, node) in config.poll_nodes() {
            p.spawn(id, Arc::new(node.clone()));
        }
        p
    }

    fn spawn(&mut self, id: NodeId, node: Arc<NodeConfig>) {
        let slot = self.next_slot;
        self.next_slot += 1;
        let notify = Arc::new(Notify::new());
        let first = jitter(Duration::ZERO, Duration::from_secs(1));
        let handle = self.tasks.spawn(run_poller(
            slot as NodeId,
            node.clone(),
            self.tx.clone(),
            notify.clone(),
            self.permits.clone(),
            first,
        ));
        self.slots[id] = Some(slot);
        self.nodes.insert(slot, id);
        self.running.insert(slot, (handle, notify, node));
    }

    /// The node a result is for, or `None` for a poller that was stopped by a
    /// reload after it sent the result.
    pub fn node_of(&self, r: &PollResult) -> Option<NodeId> {
        self.nodes.get(&(r.node as u64)).copied()
    }

    /// Applies a new config: pollers of nodes whose config is unchanged keep running
    /// (and their connection); removed and changed nodes are stopped; added and
    /// changed nodes get new pollers. `kept[new_id]` is the old id of a kept node.
    pub fn reload(&mut self, config: &Config, kept: &[Option<NodeId>]) {
        let old_slots = std::mem::replace(&mut self.slots, vec![None; config.nodes.len()]);
        self.nodes.clear();
        let mut keep = std::collections::HashSet::new();
        for (new_id, node) in config.poll_nodes() {
            let reuse = kept
                .get(new_id)
                .copied()
                .flatten()
                .and_then(|old| old_slots.get(old).copied().flatten())
                .filter(|slot| self.running.get(slot).is_some_and(|(_, _, c)| **c == *node));
            if let Some(slot) = reuse {
                self.slots[new_id] = Some(slot);
                self.nodes.insert(slot, new_id);
                keep.insert(slot);
            }
        }
        self.running.retain(|slot, (handle, _, _)| {
            let stay = keep.contains(slot);
            if !stay {
                handle.abort();
            }
            stay
        });
        for (new_id, node) in config.poll_nodes() {
            if self.slots[new_id].is_none() {
                self.spawn(new_id, Arc::new(node.clone()));
            }
        }
    }

    /// Polls one node now (its wait, even a backoff, is cut short).
    pub fn poll_now(&self, id: NodeId) {
        if let Some(Some(slot)) = self.slots.get(id) {
            if let Some((_, n, _)) = self.running.get(slot) {
                n.notify_one();
            }
        }
    }

    pub fn poll_all_now(&self) {
        for (_, n, _) in self.running.values() {
            n.notify_one();
        }
    }
}

/// The life of one poller: wait, exchange, report, repeat. Ends when the fleet's
/// owner is gone.
pub async fn run_poller(
    id: NodeId,
    node: Arc<NodeConfig>,
    tx: mpsc::Sender<PollResult>,
    wake: Arc<Notify>,
    permits: Arc<Semaphore>,
    first_wait: Duration,
) {
    let mut link = Link::new();
    let mut wait = first_wait;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(on_tick(Instant::now() + wait)) => {}
            _ = wake.notified() => {}
        }
        let ex = link.exchange(&node, &permits).await;
        wait = if ex.connect_failed {
            node.backoff
        } else {
            jitter(node.interval, node.max_interval)
        };
        let result = PollResult {
            node: id,
            obs: Observation {
                at: SystemTime::now(),
                outcome: ex.outcome,
                latency: ex.latency,
            },
            connected: link.is_connected(),
        };
        if tx.send(result).await.is_err() {
            return;
        }
    }
}

/// Checks every node once, concurrently: one connection attempt each, no backoff.
/// Finishes within the longest node timeout (plus scheduling), whatever the size.
pub async fn check_once(config: &Config) -> Vec<(NodeId, Exchange, SystemTime)> {
    let permits = Arc::new(Semaphore::new(config.defaults.max_connecting));
    let handles: Vec<_> = config
        .poll_nodes()
        .map(|(id, node)| {
            let node = Arc::new(node.clone());
            let permits = permits.clone();
            let deadline = Instant::now() + node.timeout;
            let handle = tokio::spawn(async move {
                let mut link = Link::new();
                let ex = link.exchange_until(&node, &permits, deadline).await;
                (ex, SystemTime::now())
            });
            (id, handle)
        })
        .collect();
    let mut out = Vec::with_capacity(handles.len());
    for (id, handle) in handles {
        // All run concurrently; awaiting in order only collects them.
        let (ex, at) = handle.await.unwrap_or_else(|e| {
            // Never leave a node out (or silently pending) because its task died.
            let ex = Exchange {
                outcome: Outcome::Unreachable(format!("internal error: {e}")),
                latency: None,
                connect_failed: false,
            };
            (ex, SystemTime::now())
        });
        out.push((id, ex, at));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_in_range_and_spreads() {
        let min = Duration::from_secs(5);
        let max = Duration::from_secs(10);
        let mut buckets = [0usize; 5];
        for _ in 0..10_000 {
            let j = jitter(min, max);
            assert!(j >= min && j <= max);
            let b = ((j - min).as_secs_f64() / 1.0).floor() as usize;
            buckets[b.min(4)] += 1;
        }
        // Uniform: each one-second bucket holds about 2,000 of 10,000.
        for b in buckets {
            assert!((1_600..=2_400).contains(&b), "{buckets:?}");
        }
        assert_eq!(jitter(max, min), max);
    }

    #[test]
    fn describe_is_short() {
        let e = io::Error::from(io::ErrorKind::ConnectionRefused);
        assert_eq!(describe(&e), "connection refused");
        let e = io::Error::other("weird\x1b[2J thing");
        assert_eq!(describe(&e), "weird\\x1b[2J thing");
    }
}

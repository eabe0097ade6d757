//! Poll mode: one task per node sends the request and reads one reply, under one
//! deadline for the whole exchange. Results go over a channel to the fleet's owner.
//!
//! The connection is kept and reused; a peer that closed it after its last reply is
//! reconnected at the next poll with no penalty. After a failed connection the task
//! waits `backoff` so a dead node is not hammered.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Semaphore, mpsc};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::config::{Config, NodeConfig};
use crate::model::{
    IoFailure, NodeKey, Observation, Outcome, PollResult, TimeoutPhase, Unreachable,
};
use crate::protocol::{Decode, ReplyDecoder};

use super::timetable::{Timetable, Wake};

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
    Connect(Unreachable),
    /// The connection broke before a single reply byte; worth one fresh retry when
    /// the connection was a reused one.
    ClosedBeforeReply(Unreachable),
    Broken(Unreachable),
    Invalid(crate::protocol::InvalidReply),
}

/// Per-poller state that lives across polls: the connection and the decoder. The
/// read buffer lives in the exchange, so an idle poller holds no buffer.
#[derive(Default)]
pub struct Link {
    conn: Option<TcpStream>,
    decoder: ReplyDecoder,
}

impl Link {
    pub fn new() -> Self {
        Link {
            conn: None,
            decoder: ReplyDecoder::new(),
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
                    .map_err(|_| Failure::Connect(Unreachable::ShuttingDown))?;
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
            // Replies are at most MAX_REPLY_BYTES; a bigger read buys nothing.
            let mut buf = [0u8; crate::protocol::MAX_REPLY_BYTES];
            match request_reply(stream, &node.request, &mut self.decoder, &mut buf).await {
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

async fn connect(node: &NodeConfig) -> Result<TcpStream, Unreachable> {
    let connect_failed = |e: io::Error| Unreachable::Connect(IoFailure::from(&e));
    if let Ok(ip) = node.host.parse::<std::net::IpAddr>() {
        return TcpStream::connect((ip, node.port))
            .await
            .map_err(connect_failed);
    }
    let dns = |cause| Unreachable::Dns {
        host: node.host.as_str().into(),
        cause,
    };
    let addrs: Vec<_> = tokio::net::lookup_host((node.host.as_str(), node.port))
        .await
        .map_err(|e| dns(Some(IoFailure::from(&e))))?
        .collect();
    let mut last = None;
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(e),
        }
    }
    Err(last.map(connect_failed).unwrap_or_else(|| dns(None)))
}

async fn request_reply(
    stream: &mut TcpStream,
    request: &[u8],
    decoder: &mut ReplyDecoder,
    buf: &mut [u8],
) -> Result<crate::protocol::Reply, Failure> {
    if let Err(e) = stream.write_all(request).await {
        return Err(Failure::ClosedBeforeReply(Unreachable::Lost(
            IoFailure::from(&e),
        )));
    }
    loop {
        let n = match stream.read(buf).await {
            Ok(n) => n,
            Err(e) if decoder.is_blank() => {
                return Err(Failure::ClosedBeforeReply(Unreachable::Lost(
                    IoFailure::from(&e),
                )));
            }
            Err(e) => return Err(Failure::Broken(Unreachable::MidReply(IoFailure::from(&e)))),
        };
        if n == 0 {
            return Err(match decoder.at_eof() {
                None => Failure::ClosedBeforeReply(Unreachable::ClosedWithoutReply),
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

/// A uniformly random wait in `[min, max]`, so a large fleet spreads its polls
/// evenly instead of firing in waves.
pub fn jitter(min: Duration, max: Duration) -> Duration {
    if max <= min {
        return min;
    }
    rand::rng().random_range(min..=max)
}

/// One running poller.
struct Running {
    generation: u64,
    handle: tokio::task::AbortHandle,
    wake: Arc<Wake>,
    config: Arc<NodeConfig>,
}

/// Handles to running pollers, keyed by node: wake one or all for an immediate poll,
/// and swap pollers on a config reload. Dropping it stops every poller.
pub struct Pollers {
    running: HashMap<NodeKey, Running>,
    next_generation: u64,
    permits: Arc<Semaphore>,
    timetable: Timetable,
    tx: mpsc::Sender<PollResult>,
    tasks: JoinSet<()>,
}

impl Pollers {
    /// Starts one poller per poll node; first polls are spread over a second.
    pub fn start(config: &Config, tx: mpsc::Sender<PollResult>) -> Pollers {
        let mut p = Pollers {
            running: HashMap::new(),
            next_generation: 0,
            permits: Arc::new(Semaphore::new(config.defaults.max_connecting)),
            timetable: Timetable::new(),
            tx,
            tasks: JoinSet::new(),
        };
        p.tasks.spawn(p.timetable.clone().run());
        for (_, node) in config.poll_nodes() {
            p.spawn(Arc::clone(node));
        }
        p
    }

    fn spawn(&mut self, node: Arc<NodeConfig>) {
        let generation = self.next_generation;
        self.next_generation += 1;
        let key = NodeKey::new(&node.name);
        let wake = Wake::new();
        let first = jitter(Duration::ZERO, Duration::from_secs(1));
        let handle = self.tasks.spawn(run_poller(
            Poller {
                key: key.clone(),
                generation,
                node: node.clone(),
                tx: self.tx.clone(),
                wake: wake.clone(),
                timetable: self.timetable.clone(),
                permits: self.permits.clone(),
            },
            first,
        ));
        self.running.insert(
            key,
            Running {
                generation,
                handle,
                wake,
                config: node,
            },
        );
    }

    /// Whether a result comes from the node's current poller (not one a reload
    /// replaced after it sent the result).
    pub fn is_current(&self, r: &PollResult) -> bool {
        self.running
            .get(&r.node)
            .is_some_and(|p| p.generation == r.generation)
    }

    /// Applies a reloaded config: pollers of unchanged nodes keep running (and keep
    /// their connection), changed nodes restart, removed nodes stop, new ones start.
    pub fn reload(&mut self, config: &Config) {
        let wanted: HashMap<&str, &Arc<NodeConfig>> = config
            .poll_nodes()
            .map(|(_, n)| (n.name.as_str(), n))
            .collect();
        self.running.retain(|key, p| {
            let stay = wanted.get(key.as_str()).is_some_and(|n| **n == p.config);
            if !stay {
                p.handle.abort();
            }
            stay
        });
        for (name, node) in wanted {
            if !self.running.contains_key(name) {
                self.spawn(Arc::clone(node));
            }
        }
    }

    /// Polls one node now instead of at its next turn.
    pub fn poll_now(&self, key: &str) {
        if let Some(p) = self.running.get(key) {
            p.wake.now();
        }
    }

    pub fn poll_all_now(&self) {
        for p in self.running.values() {
            p.wake.now();
        }
    }
}

/// What one poller task needs.
pub struct Poller {
    pub key: NodeKey,
    pub generation: u64,
    pub node: Arc<NodeConfig>,
    pub tx: mpsc::Sender<PollResult>,
    /// Woken when its time comes, or at once for a repoll.
    pub wake: Arc<Wake>,
    /// Where the poller books its next poll.
    pub timetable: Timetable,
    /// Bounds connection attempts in flight across the fleet.
    pub permits: Arc<Semaphore>,
}

/// Polls one node until the result channel closes: wait (interval with jitter, or
/// backoff after a failed connection), exchange, send.
pub async fn run_poller(p: Poller, first_wait: Duration) {
    let mut link = Link::new();
    let mut wait = first_wait;
    loop {
        p.timetable.book(Instant::now() + wait, &p.wake);
        p.wake.wait().await;
        // Boxed: the exchange's state (connect, deadline, buffer) is about 600 bytes
        // and needed only while it runs; 10,000 idle pollers would otherwise each
        // carry it between polls. One allocation per poll is noise next to the
        // system calls.
        let ex = Box::pin(link.exchange(&p.node, &p.permits)).await;
        wait = if ex.connect_failed {
            p.node.backoff
        } else {
            jitter(p.node.interval, p.node.max_interval)
        };
        let result = PollResult {
            node: p.key.clone(),
            generation: p.generation,
            obs: Observation {
                at: SystemTime::now(),
                outcome: ex.outcome,
                latency: ex.latency,
            },
            connected: link.is_connected(),
        };
        if p.tx.send(result).await.is_err() {
            return;
        }
    }
}

/// Checks every poll node once, concurrently: one connection attempt each, no
/// backoff, each deadline fixed now, so however long a big fleet takes to get every
/// task running, the whole check ends at `timeout`. Every node gets exactly one
/// result on `tx`, even one whose task died. Results carry generation 0.
pub fn check_once(config: &Config, tx: mpsc::Sender<PollResult>) -> tokio::task::JoinHandle<()> {
    let permits = Arc::new(Semaphore::new(config.defaults.max_connecting));
    let mut tasks = JoinSet::new();
    let mut keys = HashMap::new();
    for (_, node) in config.poll_nodes() {
        let node = Arc::clone(node);
        let permits = permits.clone();
        let deadline = Instant::now() + node.timeout;
        let key = NodeKey::new(&node.name);
        let handle = tasks.spawn(async move {
            let mut link = Link::new();
            let ex = link.exchange_until(&node, &permits, deadline).await;
            (ex, link.is_connected())
        });
        keys.insert(handle.id(), key);
    }
    tokio::spawn(async move {
        while let Some(joined) = tasks.join_next_with_id().await {
            let (id, (ex, connected)) = match joined {
                Ok((id, done)) => (id, done),
                Err(e) => {
                    // Never leave a node out (or silently pending) because its task died.
                    let ex = Exchange {
                        outcome: Outcome::Unreachable(Unreachable::Lost(IoFailure::other(
                            &format!("internal error: {e}"),
                        ))),
                        latency: None,
                        connect_failed: false,
                    };
                    (e.id(), (ex, false))
                }
            };
            let Some(node) = keys.remove(&id) else {
                continue;
            };
            let result = PollResult {
                node,
                generation: 0,
                obs: Observation {
                    at: SystemTime::now(),
                    outcome: ex.outcome,
                    latency: ex.latency,
                },
                connected,
            };
            if tx.send(result).await.is_err() {
                return;
            }
        }
    })
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
}

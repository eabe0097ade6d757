//! Fake SyncGuard nodes on this machine, each with a named behaviour: healthy, out of
//! lock, and every way a real node or network misbehaves. Used by `demo`, `sim` and
//! the tests, so the monitor can be seen and checked without hardware.

use std::fmt;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;

/// How a simulated node answers `GET_STATUS`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Behaviour {
    /// `Synced`
    Synced,
    /// `Free`
    Free,
    /// `<ip>_state<d>`; 0 Error, 1 Slave, 2 Master, 3–9 unknown.
    State(u8),
    /// `Synced`, one byte at a time with 50 ms gaps.
    Split,
    /// `Synced` after one second (inside the default timeout).
    Slow,
    /// Reads requests, never answers.
    Silent,
    /// `Synced\r\n`, then closes the connection (as the guide's example client expects).
    Close,
    /// `NotSynced`: close to a token, but not one.
    Garbage,
    /// Nothing listens on the port.
    Refused,
    /// Alternates `Synced` and `Free` every flap period.
    Flap,
    /// Sends half a reply, then resets the connection (RST).
    Rst,
    /// Answers with 1 MiB of bytes.
    Flood,
    /// A valid token, one byte per second: never finishes inside a normal timeout.
    Drip,
    /// Accepts and never reads.
    Deaf,
    /// A reply full of terminal control sequences.
    Escape,
    /// An HTTP error page, as from a web server on the wrong port.
    Http,
}

impl Behaviour {
    pub const NAMES: &'static [&'static str] = &[
        "synced", "free", "state0", "state1", "state2", "state3", "split", "slow", "silent",
        "close", "garbage", "refused", "flap", "rst", "flood", "drip", "deaf", "escape", "http",
    ];
}

impl fmt::Display for Behaviour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            Behaviour::Synced => "synced",
            Behaviour::Free => "free",
            Behaviour::State(d) => return write!(f, "state{d}"),
            Behaviour::Split => "split",
            Behaviour::Slow => "slow",
            Behaviour::Silent => "silent",
            Behaviour::Close => "close",
            Behaviour::Garbage => "garbage",
            Behaviour::Refused => "refused",
            Behaviour::Flap => "flap",
            Behaviour::Rst => "rst",
            Behaviour::Flood => "flood",
            Behaviour::Drip => "drip",
            Behaviour::Deaf => "deaf",
            Behaviour::Escape => "escape",
            Behaviour::Http => "http",
        };
        f.write_str(s)
    }
}

impl FromStr for Behaviour {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(match s {
            "synced" => Behaviour::Synced,
            "free" => Behaviour::Free,
            "split" => Behaviour::Split,
            "slow" => Behaviour::Slow,
            "silent" => Behaviour::Silent,
            "close" => Behaviour::Close,
            "garbage" => Behaviour::Garbage,
            "refused" => Behaviour::Refused,
            "flap" => Behaviour::Flap,
            "rst" => Behaviour::Rst,
            "flood" => Behaviour::Flood,
            "drip" => Behaviour::Drip,
            "deaf" => Behaviour::Deaf,
            "escape" => Behaviour::Escape,
            "http" => Behaviour::Http,
            other => match other
                .strip_prefix("state")
                .and_then(|d| d.parse::<u8>().ok())
            {
                Some(d) if d <= 9 => Behaviour::State(d),
                _ => {
                    return Err(format!(
                        "unknown behaviour {other:?}; one of: {} (or state0..state9)",
                        Behaviour::NAMES.join(", ")
                    ));
                }
            },
        })
    }
}

/// What to simulate for one node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimSpec {
    pub name: String,
    pub group: Option<String>,
    pub behaviour: Behaviour,
}

/// Parses `BEHAVIOUR` or `BEHAVIOUR=COUNT` arguments into node specs named
/// `<behaviour>-<n>`.
pub fn parse_specs(args: &[String]) -> Result<Vec<SimSpec>, String> {
    let mut specs = Vec::new();
    for arg in args {
        let (name, count) = match arg.split_once('=') {
            Some((b, n)) => (
                b,
                n.parse::<usize>()
                    .map_err(|_| format!("{arg:?}: count must be a whole number"))?,
            ),
            None => (arg.as_str(), 1),
        };
        let behaviour: Behaviour = name.parse()?;
        for i in 0..count {
            specs.push(SimSpec {
                name: format!("{behaviour}-{:02}", i + 1),
                group: None,
                behaviour,
            });
        }
    }
    Ok(specs)
}

/// One running simulated node.
#[derive(Clone, Debug)]
pub struct SimNode {
    pub spec: SimSpec,
    pub addr: SocketAddr,
}

/// A running simulated fleet. Dropping it stops every node.
pub struct Sim {
    pub nodes: Vec<SimNode>,
    _tasks: JoinSet<()>,
}

impl Sim {
    /// Starts one listener per spec on `ip`, port chosen by the system.
    pub async fn start(specs: Vec<SimSpec>, ip: IpAddr, flap_period: Duration) -> io::Result<Sim> {
        let started = Instant::now();
        let mut tasks = JoinSet::new();
        let mut slots: Vec<Option<SimNode>> = Vec::with_capacity(specs.len());
        let mut refused = Vec::new();
        for spec in specs {
            if spec.behaviour == Behaviour::Refused {
                refused.push((slots.len(), spec));
                slots.push(None);
                continue;
            }
            let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
            let addr = listener.local_addr()?;
            let behaviour = spec.behaviour;
            tasks.spawn(accept_loop(
                listener,
                move |_, _| Some(behaviour),
                flap_period,
                started,
            ));
            slots.push(Some(SimNode { spec, addr }));
        }
        // Refused ports are taken last: bind, note the port, close. Every other sim port
        // is still held, so none of them can be handed out again for these.
        for (slot, spec) in refused {
            let listener = TcpListener::bind(SocketAddr::new(ip, 0)).await?;
            let addr = listener.local_addr()?;
            drop(listener);
            slots[slot] = Some(SimNode { spec, addr });
        }
        let nodes = slots.into_iter().flatten().collect();
        Ok(Sim {
            nodes,
            _tasks: tasks,
        })
    }

    /// Like [`Sim::start`], but every node shares one port: node `i` answers on its
    /// own loopback address `127.1.x.y`, and one wildcard listener tells them apart
    /// by the address the monitor dialled. A node then costs one descriptor (its
    /// connection) instead of two, which lets 10,000 nodes fit under a hard limit of
    /// 20,000 open files. Connections from anywhere but loopback are dropped unread.
    pub async fn start_shared_port(specs: Vec<SimSpec>, flap_period: Duration) -> io::Result<Sim> {
        let started = Instant::now();
        // One listener takes every node's connections: give it the deepest accept
        // queue the system allows, or a burst of connects overflows it and the
        // dropped SYNs come back a second later.
        let socket = tokio::net::TcpSocket::new_v4()?;
        socket.set_reuseaddr(true)?;
        socket.bind(SocketAddr::from((std::net::Ipv4Addr::UNSPECIFIED, 0)))?;
        let listener = socket.listen(65_535)?;
        let port = listener.local_addr()?.port();
        let mut nodes = Vec::with_capacity(specs.len());
        let mut by_ip = std::collections::HashMap::with_capacity(specs.len());
        let closed_port = {
            let probe = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0)).await?;
            probe.local_addr()?.port()
        };
        for (i, spec) in specs.into_iter().enumerate() {
            let n = i as u32 + 1;
            let ip = std::net::Ipv4Addr::new(127, 1 + (n >> 16) as u8, (n >> 8) as u8, n as u8);
            let addr = if spec.behaviour == Behaviour::Refused {
                SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, closed_port))
            } else {
                by_ip.insert(IpAddr::V4(ip), spec.behaviour);
                SocketAddr::from((ip, port))
            };
            nodes.push(SimNode { spec, addr });
        }
        let mut tasks = JoinSet::new();
        // The address the monitor dialled says which node it wants. Anything not
        // from loopback is dropped unread.
        let pick = move |stream: &TcpStream, peer: SocketAddr| {
            if !peer.ip().is_loopback() {
                return None;
            }
            let local = stream.local_addr().ok()?.ip();
            by_ip.get(&local).copied()
        };
        tasks.spawn(accept_loop(listener, pick, flap_period, started));
        Ok(Sim {
            nodes,
            _tasks: tasks,
        })
    }

    /// A `fleet.toml` that points at these nodes. `defaults` is placed in the
    /// `[defaults]` table as is (e.g. `timeout = "2s"`).
    pub fn fleet_toml(&self, defaults: &str) -> String {
        let mut out = String::from(
            "# Written by `syncguard-fleet sim`: simulated SyncGuard nodes on this machine.\n",
        );
        if !defaults.trim().is_empty() {
            out.push_str("[defaults]\n");
            out.push_str(defaults.trim());
            out.push_str("\n\n");
        }
        for n in &self.nodes {
            out.push_str("[[node]]\n");
            out.push_str(&format!("name = {:?}\n", n.spec.name));
            out.push_str(&format!("host = {:?}\n", n.addr.ip().to_string()));
            out.push_str(&format!("port = {}\n", n.addr.port()));
            if let Some(g) = &n.spec.group {
                out.push_str(&format!("group = {g:?}\n"));
            }
            out.push_str(&format!("# behaviour: {}\n\n", n.spec.behaviour));
        }
        out
    }
}

/// Accepts connections and serves each with the behaviour `pick` chooses for it;
/// `None` drops the connection unread.
async fn accept_loop<F>(listener: TcpListener, pick: F, flap_period: Duration, started: Instant)
where
    F: Fn(&TcpStream, SocketAddr) -> Option<Behaviour> + Send + 'static,
{
    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    if let Some(b) = pick(&stream, peer) {
                        conns.spawn(serve(stream, b, flap_period, started));
                    }
                }
                // Out of descriptors, say: back off briefly instead of spinning.
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            },
            // Reap finished connections so the set does not grow.
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

const REQUEST: &[u8] = b"GET_STATUS";
/// How long a deaf or silent connection is held before the sim gives up on it.
const HOLD: Duration = Duration::from_secs(600);

async fn serve(
    mut stream: TcpStream,
    behaviour: Behaviour,
    flap_period: Duration,
    started: Instant,
) {
    let _ = stream.set_nodelay(true);
    if behaviour == Behaviour::Deaf {
        tokio::time::sleep(HOLD).await;
        return;
    }
    let me = stream.local_addr().map(|a| a.ip()).ok();
    let mut pending: Vec<u8> = Vec::with_capacity(64);
    let mut buf = [0u8; 256];
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(pos) = pending.windows(REQUEST.len()).position(|w| w == REQUEST) {
            pending.drain(..pos + REQUEST.len());
            match answer(&mut stream, behaviour, flap_period, started, me).await {
                Ok(true) => {}
                Ok(false) | Err(_) => return,
            }
        }
        // Requests are small; anything else is noise and must not pile up.
        if pending.len() > 1024 {
            pending.clear();
        }
    }
}

/// Answers one request. `Ok(false)` ends the connection.
async fn answer(
    stream: &mut TcpStream,
    behaviour: Behaviour,
    flap_period: Duration,
    started: Instant,
    me: Option<IpAddr>,
) -> io::Result<bool> {
    let ip = match me {
        Some(IpAddr::V4(v4)) => v4.to_string(),
        _ => "unknown".into(),
    };
    match behaviour {
        Behaviour::Synced => stream.write_all(b"Synced").await?,
        Behaviour::Free => stream.write_all(b"Free\r\n").await?,
        Behaviour::State(d) => {
            stream
                .write_all(format!("{ip}_state{d}\r\n").as_bytes())
                .await?
        }
        Behaviour::Split => {
            for b in b"Synced\r\n" {
                stream.write_all(&[*b]).await?;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
        Behaviour::Slow => {
            tokio::time::sleep(Duration::from_secs(1)).await;
            stream.write_all(b"Synced").await?;
        }
        Behaviour::Silent => {}
        Behaviour::Close => {
            stream.write_all(b"Synced\r\n").await?;
            return Ok(false);
        }
        Behaviour::Garbage => stream.write_all(b"NotSynced\r\n").await?,
        Behaviour::Refused => return Ok(false),
        Behaviour::Flap => {
            let phase = started.elapsed().as_millis() / flap_period.as_millis().max(1);
            let reply: &[u8] = if phase.is_multiple_of(2) {
                b"Synced"
            } else {
                b"Free"
            };
            stream.write_all(reply).await?;
        }
        Behaviour::Rst => {
            stream.write_all(b"Syn").await?;
            // Linger 0 makes close send RST instead of FIN.
            let _ = stream.set_zero_linger();
            return Ok(false);
        }
        Behaviour::Flood => {
            let chunk = [b'A'; 16 * 1024];
            for _ in 0..64 {
                stream.write_all(&chunk).await?;
            }
        }
        Behaviour::Drip => {
            let token = format!("{ip}_state1");
            for b in token.as_bytes() {
                stream.write_all(&[*b]).await?;
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
        Behaviour::Deaf => {}
        Behaviour::Escape => {
            stream
                .write_all(b"\x1b[2J\x1b[H\x1b]0;owned\x07Synced\x08\x08\x08\x08\x08\x08Free\r\n")
                .await?
        }
        Behaviour::Http => {
            stream
                .write_all(
                    b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                )
                .await?;
            return Ok(false);
        }
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaviours_round_trip_through_their_names() {
        for name in Behaviour::NAMES {
            let b: Behaviour = name.parse().expect("known");
            assert_eq!(b.to_string(), *name);
        }
        assert!("state10".parse::<Behaviour>().is_err());
        assert!("bogus".parse::<Behaviour>().is_err());
    }

    #[test]
    fn specs_expand_counts() {
        let s = parse_specs(&["synced=3".into(), "free".into()]).expect("specs");
        let names: Vec<_> = s.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["synced-01", "synced-02", "synced-03", "free-01"]);
        assert!(parse_specs(&["synced=x".into()]).is_err());
    }
}

/// The state a simulated SyncGuard V3 sender reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushBehaviour {
    /// Always this state code.
    Code(u8),
    /// Alternates between two codes every flap period.
    Flap(u8, u8),
}

impl PushBehaviour {
    /// The state digit at `since` after the sender started.
    fn code_at(self, since: Duration, flap_period: Duration) -> u8 {
        match self {
            PushBehaviour::Code(c) => c,
            PushBehaviour::Flap(a, b) => {
                if (since.as_millis() / flap_period.as_millis().max(1)).is_multiple_of(2) {
                    a
                } else {
                    b
                }
            }
        }
    }
}

/// One simulated V3 sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushSender {
    /// The IP it writes into its lines.
    pub ip: std::net::Ipv4Addr,
    pub behaviour: PushBehaviour,
    /// Writes `unknown` in place of its IP, as a node that cannot find its own
    /// address does; the digit is still its real state.
    pub unknown_ip: bool,
}

impl PushSender {
    /// What its lines start with: its IP, or `unknown`.
    fn host(&self) -> String {
        if self.unknown_ip {
            "unknown".to_owned()
        } else {
            self.ip.to_string()
        }
    }
}

/// Counters shared by all senders of one run, so a test or benchmark can compare
/// what was sent with what the monitor counted.
#[derive(Debug, Default)]
pub struct PushStats {
    /// Lines whose every byte the kernel accepted; a line dropped while
    /// disconnected, or cut short by a failed write, is not counted.
    pub lines_sent: std::sync::atomic::AtomicU64,
    pub connects: std::sync::atomic::AtomicU64,
    pub connect_failures: std::sync::atomic::AtomicU64,
}

/// How the simulated fleet of senders is laid out.
#[derive(Clone, Debug)]
pub struct PushPlan {
    pub count: usize,
    /// Message IPs are `base`, `base + 1`, ...
    pub base: std::net::Ipv4Addr,
    /// Senders per sync group; the first of each group is Master, the rest Slaves.
    pub group_size: usize,
    /// Every k-th sender reports state0 (Error) instead.
    pub error_every: Option<usize>,
    /// Every k-th sender flaps between Slave and Error.
    pub flap_every: Option<usize>,
    /// Every k-th sender writes `unknown` in place of its IP, with its real digit.
    pub unknown_every: Option<usize>,
}

impl PushPlan {
    pub fn senders(&self) -> Vec<PushSender> {
        let base = u32::from(self.base);
        (0..self.count)
            .map(|i| {
                let nth = |k: Option<usize>| k.is_some_and(|k| k > 0 && (i + 1) % k == 0);
                let behaviour = if nth(self.flap_every) {
                    PushBehaviour::Flap(1, 0)
                } else if nth(self.error_every) {
                    PushBehaviour::Code(0)
                } else if i % self.group_size.max(1) == 0 {
                    PushBehaviour::Code(2)
                } else {
                    PushBehaviour::Code(1)
                };
                PushSender {
                    ip: std::net::Ipv4Addr::from(base.wrapping_add(i as u32)),
                    behaviour,
                    unknown_ip: nth(self.unknown_every),
                }
            })
            .collect()
    }

    /// A `fleet.toml` with a `[listen]` table on `bind` and one push node per sender.
    pub fn fleet_toml(&self, bind: SocketAddr, stale_after: Duration) -> String {
        let mut out = String::from(
            "# Written by `syncguard-fleet sim --push`: simulated SyncGuard V3 senders.\n",
        );
        // Room for every sender, twice over (old-style senders reconnect per line).
        let max_connections = (self.count * 2).max(4096);
        out.push_str(&format!(
            "[listen]\nbind = [\"{bind}\"]\nstale_after = \"{}\"\nmax_connections = {max_connections}\n\n",
            humantime::format_duration(stale_after)
        ));
        for (i, s) in self.senders().iter().enumerate() {
            out.push_str(&format!(
                "[[node]]\nname = \"push-{:05}\"\nhost = \"{}\"\nmode = \"push\"\ngroup = \"push-group-{:03}\"\n\n",
                i + 1,
                s.ip,
                i / self.group_size.max(1) + 1
            ));
        }
        out
    }
}

/// Reconnect delays of the real V3 sender: 2, 4, 8, 16, then 30 s. It checks them
/// only on its ticks; see [`run_push_sender`].
pub const PUSH_BACKOFF: [Duration; 5] = [
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
    Duration::from_secs(30),
];

/// The tick-counted part of a sender, apart from its socket: how many copies of
/// the line a tick writes, and on which ticks it may try to connect.
#[derive(Debug)]
struct TickPlan {
    /// Whole ticks skipped after each failed attempt, one per [`PUSH_BACKOFF`] step.
    backoff_ticks: [u64; 5],
    failures: usize,
    /// Ticks still to skip before the next connect attempt.
    skip: u64,
    last_code: Option<u8>,
}

impl TickPlan {
    fn new(interval: Duration, backoff: [Duration; 5]) -> TickPlan {
        // The real sender tries again on the first tick at which the backoff has
        // passed since the failure. The failure comes a moment after its own tick,
        // so every tick up to and including the backoff's last whole one is too
        // early: 2 s at 1 s ticks gives the attempt 3 s later, 2 s at 5 s ticks 5 s.
        let tick = interval.as_nanos().max(1);
        let backoff_ticks = backoff.map(|b| u64::try_from(b.as_nanos() / tick).unwrap_or(u64::MAX));
        TickPlan {
            backoff_ticks,
            failures: 0,
            skip: 0,
            last_code: None,
        }
    }

    /// Copies of the line this tick writes: two on the first tick and on a change
    /// of state since the last tick, else one. Counted whether or not the line
    /// reaches anyone: a change noticed while disconnected is not written later.
    fn copies(&mut self, code: u8) -> usize {
        let copies = if self.last_code == Some(code) { 1 } else { 2 };
        self.last_code = Some(code);
        copies
    }

    /// Whether this tick may try to connect. A tick that may not counts down the
    /// backoff.
    fn may_connect(&mut self) -> bool {
        if self.skip == 0 {
            return true;
        }
        self.skip -= 1;
        false
    }

    fn connected(&mut self) {
        self.failures = 0;
        self.skip = 0;
    }

    fn connect_failed(&mut self) {
        self.skip = self.backoff_ticks[self.failures.min(self.backoff_ticks.len() - 1)];
        self.failures += 1;
    }
}

/// The timing of one sender: its tick, its wait before it starts sending, and the
/// backoff steps (the real [`PUSH_BACKOFF`] except in tests).
#[derive(Clone, Copy, Debug)]
struct SenderTiming {
    interval: Duration,
    first_wait: Duration,
    backoff: [Duration; 5],
}

/// Runs one V3 sender until dropped, as the shipped sender behaves. It starts
/// sending after `first_wait`; everything then happens on ticks of `interval`:
///
/// - the first tick (one interval after the start) connects and writes the line
///   twice; every later tick writes it once (the heartbeat), twice on a change;
/// - one persistent connection; a close by the monitor is noticed at the next
///   tick, which reconnects at once;
/// - a failed connect is retried after [`PUSH_BACKOFF`], checked only on ticks, so
///   at 1 s ticks the gaps are 3, 5, 9, 17 and 31 s;
/// - lines of ticks without a connection are dropped.
///
/// It never reads what the monitor might write, as the real sender does not.
pub async fn run_push_sender(
    target: SocketAddr,
    sender: PushSender,
    interval: Duration,
    flap_period: Duration,
    first_wait: Duration,
    stats: std::sync::Arc<PushStats>,
) {
    let timing = SenderTiming {
        interval,
        first_wait,
        backoff: PUSH_BACKOFF,
    };
    run_sender(target, sender, timing, flap_period, &stats).await
}

async fn run_sender(
    target: SocketAddr,
    sender: PushSender,
    timing: SenderTiming,
    flap_period: Duration,
    stats: &PushStats,
) {
    use std::io::Write as _;
    use std::sync::atomic::Ordering::Relaxed;
    let started = Instant::now();
    tokio::time::sleep(timing.first_wait).await;
    let interval = timing.interval.max(Duration::from_millis(1));
    let mut ticks = tokio::time::interval_at(Instant::now() + interval, interval);
    // A timer: a tick held up by a slow connect is skipped, not made up for.
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut plan = TickPlan::new(interval, timing.backoff);
    let host = sender.host();
    let mut conn: Option<TcpStream> = None;
    let mut out: Vec<u8> = Vec::with_capacity(2 * (host.len() + 10));
    loop {
        let at = ticks.tick().await;
        // The state as of the tick's own time, so a late wake-up reports the same.
        let code = sender
            .behaviour
            .code_at(at.saturating_duration_since(started), flap_period);
        let copies = plan.copies(code);
        if conn.as_ref().is_some_and(peer_closed) {
            conn = None;
        }
        // Two tries: when a write fails, the sender reconnects at once and writes
        // this tick's lines on the new connection.
        for _ in 0..2 {
            if conn.is_none() {
                if !plan.may_connect() {
                    break;
                }
                match TcpStream::connect(target).await {
                    Ok(s) => {
                        stats.connects.fetch_add(1, Relaxed);
                        plan.connected();
                        let _ = s.set_nodelay(true);
                        conn = Some(s);
                    }
                    Err(_) => {
                        stats.connect_failures.fetch_add(1, Relaxed);
                        plan.connect_failed();
                        break;
                    }
                }
            }
            let Some(stream) = conn.as_mut() else { break };
            out.clear();
            for _ in 0..copies {
                // Writing into a Vec cannot fail.
                let _ = write!(out, "{host}_state{code}\r\n");
            }
            if write_lines(stream, &out, out.len() / copies, stats).await {
                break;
            }
            conn = None;
        }
    }
}

/// Whether the monitor has closed the connection. The real sender learns this
/// when a write fails, but on Linux the first write after the peer's close is
/// still accepted (and lost), so the sim looks for the close at the same moment,
/// just before writing. The monitor never writes, so anything readable is the
/// close; this costs no system call while nothing arrived.
fn peer_closed(stream: &TcpStream) -> bool {
    let mut buf = [0u8; 256];
    // Bounded: a peer that keeps writing is drained a little per tick.
    for _ in 0..16 {
        match stream.try_read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
            Err(_) => return true,
        }
    }
    false
}

/// Writes `buf`, whole lines of `line_len` bytes, counting each line once all of
/// its bytes are written. Whether all of `buf` was written.
async fn write_lines(
    stream: &mut TcpStream,
    buf: &[u8],
    line_len: usize,
    stats: &PushStats,
) -> bool {
    let line_len = line_len.max(1);
    let mut done = 0;
    while done < buf.len() {
        match stream.write(&buf[done..]).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => {
                let lines = (done + n) / line_len - done / line_len;
                done += n;
                stats
                    .lines_sent
                    .fetch_add(lines as u64, std::sync::atomic::Ordering::Relaxed);
            }
        }
    }
    true
}

/// Starts every sender of `plan` against `target`, each starting to send at a
/// random moment within `spread` (its first lines one interval later). Dropping
/// the returned set stops them.
pub fn start_push_senders(
    target: SocketAddr,
    plan: &PushPlan,
    interval: Duration,
    flap_period: Duration,
    spread: Duration,
) -> (JoinSet<()>, std::sync::Arc<PushStats>) {
    let stats = std::sync::Arc::new(PushStats::default());
    let mut tasks = JoinSet::new();
    for s in plan.senders() {
        let first = crate::engine::poll::jitter(Duration::ZERO, spread);
        tasks.spawn(run_push_sender(
            target,
            s,
            interval,
            flap_period,
            first,
            stats.clone(),
        ));
    }
    (tasks, stats)
}

#[cfg(test)]
mod push_tests {
    use std::net::Ipv4Addr;
    use std::sync::Arc;
    use std::sync::atomic::Ordering::Relaxed;

    use super::*;

    /// The ticks (counted from 0) on which a sender whose every connect fails tries.
    fn attempt_ticks(interval: Duration, ticks: u64) -> Vec<u64> {
        let mut plan = TickPlan::new(interval, PUSH_BACKOFF);
        let mut at = Vec::new();
        for tick in 0..ticks {
            if plan.may_connect() {
                at.push(tick);
                plan.connect_failed();
            }
        }
        at
    }

    fn gaps(at: &[u64]) -> Vec<u64> {
        at.windows(2).map(|w| w[1] - w[0]).collect()
    }

    #[test]
    fn failed_connects_back_off_in_whole_ticks() {
        // 2, 4, 8, 16, 30 s checked on 1 s ticks: 3, 5, 9, 17, 31 s, then capped.
        let at = attempt_ticks(Duration::from_secs(1), 130);
        assert_eq!(gaps(&at), [3, 5, 9, 17, 31, 31, 31]);
        // On 5 s ticks a 2 s or 4 s backoff is the next tick.
        let at = attempt_ticks(Duration::from_secs(5), 30);
        assert_eq!(gaps(&at), [1, 1, 2, 4, 7, 7, 7]);
    }

    #[test]
    fn a_connect_starts_the_backoff_again() {
        let mut plan = TickPlan::new(Duration::from_secs(1), PUSH_BACKOFF);
        for _ in 0..3 {
            assert!(plan.may_connect());
            plan.connect_failed();
            while !plan.may_connect() {}
        }
        plan.connected();
        // Connected: a drop noticed on a tick is followed by an attempt at once.
        assert!(plan.may_connect());
        plan.connect_failed();
        let skipped = std::iter::from_fn(|| (!plan.may_connect()).then_some(())).count();
        assert_eq!(
            skipped, 2,
            "back to the first step: the attempt 3 ticks later"
        );
    }

    #[test]
    fn two_copies_on_the_first_tick_and_on_each_change() {
        let mut plan = TickPlan::new(Duration::from_secs(1), PUSH_BACKOFF);
        let copies: Vec<usize> = [2, 2, 2, 1, 1, 0, 0, 0]
            .into_iter()
            .map(|c| plan.copies(c))
            .collect();
        assert_eq!(copies, [2, 1, 1, 2, 1, 2, 1, 1]);
    }

    #[test]
    fn unknown_senders_keep_their_real_digit() {
        let plan = PushPlan {
            count: 8,
            base: Ipv4Addr::new(10, 9, 0, 1),
            group_size: 3,
            error_every: Some(5),
            flap_every: None,
            unknown_every: Some(4),
        };
        let s = plan.senders();
        // Sender 4 (index 3) opens its group (Master), sender 8 (index 7) is a Slave.
        assert!(s[3].unknown_ip && s[7].unknown_ip);
        assert_eq!(s.iter().filter(|s| s.unknown_ip).count(), 2);
        assert_eq!(
            (s[3].behaviour, s[7].behaviour),
            (PushBehaviour::Code(2), PushBehaviour::Code(1))
        );
        assert_eq!(s[3].host(), "unknown");
        assert_eq!(s[4].behaviour, PushBehaviour::Code(0));
    }

    const LINE_WAIT: Duration = Duration::from_secs(3);

    async fn listener() -> TcpListener {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .await
            .expect("bind loopback")
    }

    /// Reads from `stream` until `want` lines have arrived (or a generous deadline),
    /// each with the moment its bytes were read.
    async fn read_lines(stream: &mut TcpStream, want: usize) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + LINE_WAIT;
        let mut lines = Vec::new();
        let mut pending = Vec::new();
        let mut buf = [0u8; 1024];
        while lines.len() < want {
            let n = match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => n,
                _ => break,
            };
            let at = Instant::now();
            pending.extend_from_slice(&buf[..n]);
            while let Some(end) = pending.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&pending[..end]).into_owned();
                pending.drain(..end + 2);
                lines.push((at, line));
            }
        }
        lines
    }

    fn spawn_sender(
        target: SocketAddr,
        sender: PushSender,
        timing: SenderTiming,
        flap_period: Duration,
    ) -> (tokio::task::JoinHandle<()>, Arc<PushStats>) {
        let stats = Arc::new(PushStats::default());
        let s = stats.clone();
        let task = tokio::spawn(async move {
            run_sender(target, sender, timing, flap_period, &s).await;
        });
        (task, stats)
    }

    #[tokio::test]
    async fn sender_writes_twice_first_and_on_a_change_and_once_per_tick_otherwise() {
        let listener = listener().await;
        let tick = Duration::from_millis(200);
        let started = Instant::now();
        let (task, stats) = spawn_sender(
            listener.local_addr().expect("addr"),
            PushSender {
                ip: Ipv4Addr::new(10, 1, 0, 7),
                behaviour: PushBehaviour::Flap(2, 1),
                unknown_ip: false,
            },
            SenderTiming {
                interval: tick,
                first_wait: Duration::ZERO,
                backoff: PUSH_BACKOFF,
            },
            // Ticks at 200..800 ms say 2, at 1000..1600 ms 1, from 1800 ms 2 again.
            Duration::from_millis(860),
        );
        let (mut stream, _) = tokio::time::timeout(LINE_WAIT, listener.accept())
            .await
            .expect("the sender connects")
            .expect("accept");
        let connected = started.elapsed();
        assert!(
            connected >= tick - Duration::from_millis(20),
            "connected after {connected:?}, before its first tick"
        );
        // Ticks 0..=9: 2 + 3 + 2 + 3 + 2 + 1 lines.
        let lines = read_lines(&mut stream, 13).await;
        task.abort();
        let first = lines.first().map(|l| l.0).expect("lines");
        let mut per_tick: Vec<Vec<&str>> = vec![Vec::new(); 10];
        for (at, line) in &lines {
            // Writes come on the tick grid; the nearest tick absorbs scheduling delay.
            let t = (at.duration_since(first).as_secs_f64() / tick.as_secs_f64()).round() as usize;
            per_tick
                .get_mut(t)
                .unwrap_or_else(|| panic!("line at tick {t}: {lines:?}"))
                .push(line);
        }
        let (two, one) = ("10.1.0.7_state2", "10.1.0.7_state1");
        let want: Vec<Vec<&str>> = vec![
            vec![two, two],
            vec![two],
            vec![two],
            vec![two],
            vec![one, one],
            vec![one],
            vec![one],
            vec![one],
            vec![two, two],
            vec![two],
        ];
        assert_eq!(per_tick, want, "lines by tick: {lines:?}");
        assert_eq!(stats.connects.load(Relaxed), 1);
    }

    #[tokio::test]
    async fn sender_notices_a_close_at_its_next_tick_and_backs_off_in_ticks() {
        let tick = Duration::from_millis(100);
        // The real steps scaled down: 200, 400 ms (2 and 4 ticks, so attempts 3 and
        // 5 ticks apart).
        let backoff = PUSH_BACKOFF.map(|d| d / 10);
        let first = listener().await;
        let addr = first.local_addr().expect("addr");
        let (task, stats) = spawn_sender(
            addr,
            PushSender {
                ip: Ipv4Addr::new(10, 1, 0, 8),
                behaviour: PushBehaviour::Code(1),
                unknown_ip: false,
            },
            SenderTiming {
                interval: tick,
                first_wait: Duration::ZERO,
                backoff,
            },
            Duration::from_secs(60),
        );
        let (mut old, _) = tokio::time::timeout(LINE_WAIT, first.accept())
            .await
            .expect("the sender connects")
            .expect("accept");
        // Two lines on the first tick, one on the second; then close right away,
        // so the sender's next tick is about one interval off.
        let before = read_lines(&mut old, 3).await;
        assert_eq!(before.len(), 3, "{before:?}");
        let closed = Instant::now();
        drop(old);
        drop(first);

        let failure = |n: u64| {
            let stats = stats.clone();
            async move {
                let deadline = Instant::now() + LINE_WAIT;
                while stats.connect_failures.load(Relaxed) < n && Instant::now() < deadline {
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                assert_eq!(stats.connect_failures.load(Relaxed), n, "failed attempts");
                Instant::now()
            }
        };
        let f1 = failure(1).await;
        let noticed = f1.duration_since(closed);
        assert!(
            noticed >= Duration::from_millis(50) && noticed <= Duration::from_millis(170),
            "the close was noticed {noticed:?} after it, not at the next tick"
        );
        let f2 = failure(2).await;
        // Reopen on the same port: the third attempt finds it.
        let again = TcpListener::bind(addr).await.expect("rebind the same port");
        let (mut new, _) = tokio::time::timeout(LINE_WAIT, again.accept())
            .await
            .expect("the sender reconnects")
            .expect("accept");
        let back = Instant::now();
        let in_ticks = |d: Duration| (d.as_secs_f64() / tick.as_secs_f64()).round() as u64;
        assert_eq!(
            (in_ticks(f2 - f1), in_ticks(back - f2)),
            (3, 5),
            "attempts {:?} and {:?} apart",
            f2 - f1,
            back - f2
        );
        assert_eq!(stats.connect_failures.load(Relaxed), 2);
        // Same state as before the drop: one line per tick on the new connection.
        let after = read_lines(&mut new, 2).await;
        assert_eq!(after.len(), 2, "{after:?}");
        assert!(
            after[1].0.duration_since(after[0].0) >= tick / 2,
            "two lines in one tick after a reconnect: {after:?}"
        );
        task.abort();
        let _ = task.await;
        // Everything counted as sent arrived; the dropped ticks were not counted.
        let mut rest = Vec::new();
        let _ = tokio::time::timeout(LINE_WAIT, new.read_to_end(&mut rest)).await;
        let tail = rest.windows(2).filter(|w| w == b"\r\n").count() as u64;
        assert_eq!(
            stats.lines_sent.load(Relaxed),
            before.len() as u64 + after.len() as u64 + tail
        );
        assert_eq!(stats.connects.load(Relaxed), 2);
    }

    #[tokio::test]
    async fn unknown_senders_write_their_real_digit() {
        let listener = listener().await;
        let plan = PushPlan {
            count: 8,
            base: Ipv4Addr::new(10, 9, 0, 1),
            group_size: 3,
            error_every: Some(5),
            flap_every: None,
            unknown_every: Some(4),
        };
        let (_senders, _stats) = start_push_senders(
            listener.local_addr().expect("addr"),
            &plan,
            Duration::from_millis(100),
            Duration::from_secs(60),
            Duration::ZERO,
        );
        let mut first_lines = Vec::new();
        for _ in 0..plan.count {
            let (mut s, _) = tokio::time::timeout(LINE_WAIT, listener.accept())
                .await
                .expect("every sender connects")
                .expect("accept");
            let lines = read_lines(&mut s, 1).await;
            first_lines.push(lines.first().map(|l| l.1.clone()).expect("a line"));
        }
        first_lines.sort();
        assert_eq!(
            first_lines,
            [
                "10.9.0.1_state2",
                "10.9.0.2_state1",
                "10.9.0.3_state1",
                "10.9.0.5_state0",
                "10.9.0.6_state1",
                "10.9.0.7_state2",
                "unknown_state1",
                "unknown_state2",
            ]
        );
    }
}

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
            let reply: &[u8] = if phase % 2 == 0 { b"Synced" } else { b"Free" };
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

/// What a simulated SyncGuard V3 sender writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PushBehaviour {
    /// Always this state code.
    Code(u8),
    /// Alternates between two codes every flap period.
    Flap(u8, u8),
    /// Writes `unknown_state0` (the node could not find its own IP).
    Unknown,
}

/// One simulated V3 sender.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PushSender {
    /// The IP it writes into its lines.
    pub ip: std::net::Ipv4Addr,
    pub behaviour: PushBehaviour,
}

/// Counters shared by all senders of one run, so a test or benchmark can compare
/// what was sent with what the monitor counted.
#[derive(Debug, Default)]
pub struct PushStats {
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
    /// Every k-th sender writes `unknown_state0`.
    pub unknown_every: Option<usize>,
}

impl PushPlan {
    pub fn senders(&self) -> Vec<PushSender> {
        let base = u32::from(self.base);
        (0..self.count)
            .map(|i| {
                let nth = |k: Option<usize>| k.is_some_and(|k| k > 0 && (i + 1) % k == 0);
                let behaviour = if nth(self.unknown_every) {
                    PushBehaviour::Unknown
                } else if nth(self.flap_every) {
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

/// Reconnect delays of the real V3 sender: 2, 4, 8, 16, then 30 s.
pub const PUSH_BACKOFF: [Duration; 5] = [
    Duration::from_secs(2),
    Duration::from_secs(4),
    Duration::from_secs(8),
    Duration::from_secs(16),
    Duration::from_secs(30),
];

/// Runs one V3 sender until dropped: one persistent connection, one CRLF line per
/// `interval`, an extra identical line on each change, and the real backoff after
/// a failure. It never reads, as the real sender does not.
pub async fn run_push_sender(
    target: SocketAddr,
    sender: PushSender,
    interval: Duration,
    flap_period: Duration,
    first_wait: Duration,
    stats: std::sync::Arc<PushStats>,
) {
    use std::sync::atomic::Ordering::Relaxed;
    let started = Instant::now();
    let code_now = || match sender.behaviour {
        PushBehaviour::Code(c) => c,
        PushBehaviour::Unknown => 0,
        PushBehaviour::Flap(a, b) => {
            if (started.elapsed().as_millis() / flap_period.as_millis().max(1)) % 2 == 0 {
                a
            } else {
                b
            }
        }
    };
    let host = match sender.behaviour {
        PushBehaviour::Unknown => "unknown".to_owned(),
        _ => sender.ip.to_string(),
    };
    tokio::time::sleep(first_wait).await;
    let mut failures = 0usize;
    let mut last_code: Option<u8> = None;
    loop {
        let mut stream = match TcpStream::connect(target).await {
            Ok(s) => {
                stats.connects.fetch_add(1, Relaxed);
                failures = 0;
                s
            }
            Err(_) => {
                stats.connect_failures.fetch_add(1, Relaxed);
                let wait = PUSH_BACKOFF[failures.min(PUSH_BACKOFF.len() - 1)];
                failures += 1;
                tokio::time::sleep(wait).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let mut tick = tokio::time::interval(interval);
        loop {
            tick.tick().await;
            let code = code_now();
            let line = format!("{host}_state{code}\r\n");
            // On a change the real sender writes the line twice.
            let copies = if last_code.is_some_and(|c| c != code) {
                2
            } else {
                1
            };
            last_code = Some(code);
            let mut ok = true;
            for _ in 0..copies {
                if stream.write_all(line.as_bytes()).await.is_err() {
                    ok = false;
                    break;
                }
                stats.lines_sent.fetch_add(1, Relaxed);
            }
            if !ok {
                break;
            }
        }
        let wait = PUSH_BACKOFF[failures.min(PUSH_BACKOFF.len() - 1)];
        failures += 1;
        tokio::time::sleep(wait).await;
    }
}

/// Starts every sender of `plan` against `target`, first connects spread over
/// `spread`. Dropping the returned set stops them.
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

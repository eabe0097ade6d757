//! The tokio floor for continuous polling: the same socket work as
//! `scripts/floor/poll_floor.c`, written as the plainest tokio program (one
//! current-thread runtime, one task and one timer per node), with no state,
//! decoding or publishing. `scripts/bench.sh` runs it beside the C floor so the
//! monitor's cost can be split into what the runtime costs and what the
//! monitor adds on top.
//!
//!   cargo run --release --example poll_floor_tokio -- ADDR_FILE SECONDS
//!
//! ADDR_FILE has one "IPV4 PORT" per line. It prints one summary line in the
//! C floor's format and exits.

use std::cell::Cell;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;

const SLOT: Duration = Duration::from_millis(100);

#[derive(Default)]
struct Counts {
    polls: Cell<u64>,
    replies: Cell<u64>,
    replied_nodes: Cell<u64>,
    connects: Cell<u64>,
    connect_failures: Cell<u64>,
    closes: Cell<u64>,
}

fn bump(c: &Cell<u64>) {
    c.set(c.get() + 1);
}

/// xorshift64: the spread of poll times only needs to be even.
struct Rng(u64);

impl Rng {
    fn uniform(&mut self, lo: u64, hi: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        lo + self.0 % (hi - lo + 1)
    }
}

/// `at` rounded up to the 100 ms grid counted from `start`, as the floors and
/// the monitor round their poll times.
fn on_grid(start: Instant, at: Instant) -> Instant {
    let ms = at.saturating_duration_since(start).as_millis() as u64;
    start + SLOT * ms.div_ceil(SLOT.as_millis() as u64) as u32
}

async fn node(addr: SocketAddr, start: Instant, end: Instant, seed: u64, counts: Rc<Counts>) {
    let mut rng = Rng(seed | 1);
    let mut stream: Option<TcpStream> = None;
    let mut replied = false;
    let mut buf = [0u8; 256];
    let mut due = on_grid(start, start + Duration::from_millis(rng.uniform(0, 1000)));
    while due < end {
        tokio::time::sleep_until(due).await;
        if stream.is_none() {
            match TcpStream::connect(addr).await {
                Ok(s) => {
                    let _ = s.set_nodelay(true);
                    bump(&counts.connects);
                    stream = Some(s);
                }
                Err(_) => bump(&counts.connect_failures),
            }
        }
        if let Some(s) = stream.as_mut() {
            let ok = s.write_all(b"GET_STATUS").await.is_ok() && {
                bump(&counts.polls);
                matches!(s.read(&mut buf).await, Ok(n) if n > 0)
            };
            if ok {
                bump(&counts.replies);
                if !replied {
                    replied = true;
                    bump(&counts.replied_nodes);
                }
            } else {
                bump(&counts.closes);
                stream = None;
            }
        }
        due = on_grid(start, due + Duration::from_millis(rng.uniform(5000, 10000)));
    }
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(file), Some(secs)) = (args.get(1), args.get(2).and_then(|s| s.parse::<u64>().ok()))
    else {
        eprintln!("usage: poll_floor_tokio ADDR_FILE SECONDS");
        return std::process::ExitCode::from(3);
    };
    let text = match std::fs::read_to_string(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("poll_floor_tokio: {file}: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let addrs: Vec<SocketAddr> = text
        .lines()
        .filter_map(|l| {
            let (ip, port) = l.split_once(' ')?;
            format!("{ip}:{}", port.trim()).parse().ok()
        })
        .collect();
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("poll_floor_tokio: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let counts = Rc::new(Counts::default());
    let local = tokio::task::LocalSet::new();
    let n = addrs.len();
    local.block_on(&rt, async {
        let start = Instant::now();
        let end = start + Duration::from_secs(secs);
        let seed = std::process::id() as u64 ^ 0x9E37_79B9_7F4A_7C15;
        let tasks: Vec<_> = addrs
            .into_iter()
            .enumerate()
            .map(|(i, a)| {
                let seed = seed.wrapping_mul(i as u64 + 1);
                tokio::task::spawn_local(node(a, start, end, seed, counts.clone()))
            })
            .collect();
        for t in tasks {
            let _ = t.await;
        }
    });
    println!(
        "nodes={n} polls={} replies={} replied_nodes={} connects={} connect_failures={} closed={}",
        counts.polls.get(),
        counts.replies.get(),
        counts.replied_nodes.get(),
        counts.connects.get(),
        counts.connect_failures.get(),
        counts.closes.get()
    );
    std::process::ExitCode::SUCCESS
}

//! The tokio floor for listen mode: the same socket work as
//! `scripts/floor/listen_floor.c` (accept the senders, count lines and bytes, never
//! write), written as the plainest tokio program: one current-thread runtime, one
//! task and one read buffer per connection, no decoding, state or publishing.
//! `scripts/bench.sh` runs it beside the C floor, so the monitor's cost can be
//! split into what the runtime costs and what the monitor adds on top.
//!
//!   cargo run --release --example listen_floor_tokio -- PORT SECONDS
//!
//! It prints one summary line in the C floor's format and exits.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use tokio::io::AsyncReadExt;
use tokio::net::TcpListener;

#[derive(Default)]
struct Counts {
    accepted: Cell<u64>,
    open: Cell<u64>,
    peak_open: Cell<u64>,
    closed: Cell<u64>,
    lines: Cell<u64>,
    bytes: Cell<u64>,
}

fn main() -> std::process::ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let (Some(port), Some(secs)) = (
        args.get(1).and_then(|s| s.parse::<u16>().ok()),
        args.get(2).and_then(|s| s.parse::<u64>().ok()),
    ) else {
        eprintln!("usage: listen_floor_tokio PORT SECONDS");
        return std::process::ExitCode::from(3);
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("listen_floor_tokio: {e}");
            return std::process::ExitCode::from(1);
        }
    };
    let counts = Rc::new(Counts::default());
    let local = tokio::task::LocalSet::new();
    let result = local.block_on(&rt, async {
        let listener = TcpListener::bind(("127.0.0.1", port)).await?;
        let accept = async {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else {
                    continue;
                };
                let c = counts.clone();
                c.accepted.set(c.accepted.get() + 1);
                c.open.set(c.open.get() + 1);
                c.peak_open.set(c.peak_open.get().max(c.open.get()));
                tokio::task::spawn_local(async move {
                    let mut buf = vec![0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buf).await {
                        c.bytes.set(c.bytes.get() + n as u64);
                        let lf = buf[..n].iter().filter(|&&b| b == b'\n').count();
                        c.lines.set(c.lines.get() + lf as u64);
                    }
                    c.open.set(c.open.get() - 1);
                    c.closed.set(c.closed.get() + 1);
                });
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(secs), accept).await;
        std::io::Result::Ok(())
    });
    if let Err(e) = result {
        eprintln!("listen_floor_tokio: listen: {e}");
        return std::process::ExitCode::from(1);
    }
    println!(
        "accepted={} peak_open={} refused=0 closed={} lines={} bytes={}",
        counts.accepted.get(),
        counts.peak_open.get(),
        counts.closed.get(),
        counts.lines.get(),
        counts.bytes.get()
    );
    std::process::ExitCode::SUCCESS
}

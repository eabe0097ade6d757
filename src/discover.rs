//! `discover`: listen for SyncGuard V3 senders and turn each one heard into a
//! `[[node]]` push entry.
//!
//! The lines are read as the monitor reads them (`protocol::LineReader`), with
//! the same limits: a line is at most `MAX_LINE_BYTES`, a connection that sends
//! `MAX_INVALID_LINES` bad lines or an overlong one is closed, and at most
//! `max_connections` (the `[listen]` default) are open at once. Senders are
//! remembered by the IP they write, up to [`MAX_SENDERS`]; everything is dropped
//! when the time is up. The entries go to stdout, progress and the summary to
//! stderr, so `discover > new.toml` keeps only TOML.
//!
//! In a sharded fleet (`--shard K/N`, or the file's `[shard]`) every push node
//! needs `shard = K`, or every instance refuses the file; the senders push to
//! the address discover listened on, which is shard K's, so they get `shard = K`.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::cli::DiscoverArgs;
use crate::config::append::{self, Known, NewNode};
use crate::config::{Config, ConfigError, ListenConfig};
use crate::engine::listen::MAX_INVALID_LINES;
use crate::model::Shard;
use crate::protocol::{LineReader, PushLine, ReportedIp, Role};

/// The most senders remembered; more are counted, not kept.
pub const MAX_SENDERS: usize = 10_000;
/// How long one reverse DNS lookup may take (`--resolve`).
pub const RESOLVE_TIMEOUT: Duration = Duration::from_secs(2);
/// How long all the lookups may take together, however many senders.
pub const RESOLVE_BUDGET: Duration = Duration::from_secs(10);
/// Lookups in flight at once.
const RESOLVE_AT_ONCE: usize = 32;
/// New senders named on stderr as they are heard; after that only the summary.
const ANNOUNCE: usize = 20;

/// One sender heard.
#[derive(Clone, Debug)]
struct Sender {
    /// The IP it writes, or its peer address when it writes `unknown`.
    ip: IpAddr,
    /// It writes `unknown`: `ip` is the peer address.
    unknown: bool,
    peer: SocketAddr,
    last: PushLine,
    lines: u64,
}

/// What the connections found, shared by their tasks.
#[derive(Default)]
struct Heard {
    senders: BTreeMap<IpAddr, Sender>,
    /// Senders not kept: [`MAX_SENDERS`] reached.
    dropped: u64,
    /// Connections closed without one valid line that sent something invalid.
    garbage: u64,
    invalid_lines: u64,
    connections: u64,
    refused_full: u64,
    announced: usize,
}

/// Runs `discover`. `config_path` is the fleet file whose nodes are skipped when
/// there is no `--append` (the usual `--config` or search); a missing one is fine.
/// `shard` is `--shard K/N` (before the subcommand): the new nodes are pinned to
/// it, or else to the fleet file's `[shard]`.
pub async fn run(
    args: &DiscoverArgs,
    config_path: Option<&Path>,
    shard: Option<Shard>,
) -> anyhow::Result<()> {
    if let Some(g) = &args.group
        && g.trim().is_empty()
    {
        anyhow::bail!("--group must not be empty (leave it out instead)");
    }
    let fleet_path = args.append.as_deref().or(config_path);
    let Existing {
        mut known,
        has_listen,
        shard: file_shard,
    } = match fleet_path {
        Some(p) => existing(p, args.append.is_some())?,
        None => Existing::default(),
    };
    let shard = shard.or(file_shard);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr().unwrap_or(args.listen);
    eprintln!(
        "listening on {local} for {}; Ctrl-C to stop early",
        humantime::format_duration(args.lasts)
    );
    let started = Instant::now();
    let heard = Arc::new(Mutex::new(Heard::default()));
    tokio::select! {
        () = accept(listener, heard.clone()) => {}
        () = tokio::time::sleep(args.lasts) => {}
        () = crate::platform::shutdown() => eprintln!("interrupted; what was heard so far:"),
    }
    // `accept` and its connections are dropped with the select: every socket is
    // closed here.
    let elapsed = started.elapsed();
    let mut heard = std::mem::take(&mut *heard.lock().unwrap_or_else(|e| e.into_inner()));
    let senders: Vec<Sender> = std::mem::take(&mut heard.senders).into_values().collect();
    let listed = senders.iter().filter(|s| known.has_ip(s.ip)).count();
    let new: Vec<&Sender> = senders.iter().filter(|s| !known.has_ip(s.ip)).collect();
    let took =
        humantime::format_duration(Duration::from_secs(elapsed.as_secs_f64().round() as u64));
    eprintln!(
        "heard {} sender{} ({listed} already listed) in {took}",
        senders.len(),
        plural(senders.len())
    );
    for line in heard_summary(&heard) {
        eprintln!("{line}");
    }
    if senders.is_empty() {
        eprintln!(
            "nobody was heard: point the nodes' ServerIP at this machine and ServerPort at {} \
             (with EnableExternalSend on), and check the firewall",
            local.port()
        );
    }
    let names = if args.resolve {
        resolve_names(&new).await
    } else {
        vec![None; new.len()]
    };
    let mut nodes = Vec::with_capacity(new.len());
    for (s, dns) in new.iter().zip(names) {
        let base = dns.unwrap_or_else(|| append::ip_name(s.ip));
        known.claim_ip(s.ip);
        nodes.push(NewNode {
            name: known.claim(&base),
            host: s.ip,
            group: args.group.clone(),
            shard: shard.map(|s| s.index),
            comment: Some(comment(s)),
        });
    }
    if nodes.is_empty() {
        if let Some(path) = &args.append
            && !senders.is_empty()
        {
            eprintln!("nothing new to add to {}", path.display());
        }
        return Ok(());
    }
    let entries = append::render_nodes(&nodes);
    // The entries must load as a fleet file of their own: names, group, hosts.
    Config::parse(&entries, "the new entries")
        .map_err(|e| anyhow::anyhow!("the entries would not be valid: {e}"))?;
    let mut out = std::io::stdout().lock();
    match out
        .write_all(entries.trim_start().as_bytes())
        .and_then(|()| out.flush())
    {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
            return Err(e).context("writing to stdout");
        }
        _ => {}
    }
    drop(out);
    if shard.is_none() && known.pinned {
        eprintln!(
            "hint: some nodes of {} have a `shard` key, but the file has no [shard] and \
             --shard was not given, so the new push nodes have none; a sharded instance \
             refuses a push node without one: run again as `syncguard-fleet --shard K/N \
             discover ...`, K being the instance the nodes push to, or add `shard = K` to \
             each",
            fleet_path.map_or_else(|| "the fleet file".to_owned(), |p| p.display().to_string())
        );
    }
    if let Some(path) = &args.append {
        let done = tokio::task::spawn_blocking({
            let path = path.clone();
            move || append::append_to_file(&path, &nodes, shard)
        })
        .await
        .context("appending")?
        .map_err(anyhow::Error::msg)?;
        eprintln!(
            "{} {} node{} to {}",
            if done.created { "wrote" } else { "added" },
            done.added.len(),
            plural(done.added.len()),
            path.display()
        );
        let default_listen = ListenConfig::default().bind;
        if !has_listen && !default_listen.contains(&args.listen) {
            eprintln!(
                "hint: {} has no [listen], so the monitor listens on {}; add\n  [listen]\n  bind = [\"{}\"]\nto receive these nodes where they were heard",
                path.display(),
                default_listen
                    .first()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                args.listen
            );
        }
    }
    Ok(())
}

/// What the fleet file already has.
#[derive(Default)]
struct Existing {
    known: Known,
    has_listen: bool,
    /// Its `[shard]`.
    shard: Option<Shard>,
}

/// The names and push IPs of the fleet file, whether it has `[listen]`, and its
/// `[shard]`. A missing file has none; a file that does not load is an error for
/// `--append` (unless it only lacks nodes), and only a warning otherwise.
fn existing(path: &Path, appending: bool) -> anyhow::Result<Existing> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Existing::default()),
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", path.display())),
    };
    let has_listen = text
        .parse::<toml_edit::DocumentMut>()
        .is_ok_and(|d| d.contains_key("listen"));
    let with = |known: Known, shard: Option<Shard>| Existing {
        known,
        has_listen,
        shard,
    };
    match Config::load(path) {
        Ok(c) => Ok(with(Known::of_config(&c), c.shard)),
        Err(e) => match Known::of_text(&text) {
            // A file with no node yet (only `[listen]` and `[shard]`, say) is a
            // fine start.
            Ok(k) if appending && k.names.is_empty() => Ok(with(k, append::shard_of_text(&text))),
            _ if appending => Err(anyhow::anyhow!(
                "{e}\n(fix the file first: --append adds only to a fleet file that loads)"
            )),
            Ok(k) => {
                warn_unloadable(&e);
                Ok(with(k, append::shard_of_text(&text)))
            }
            Err(_) => {
                warn_unloadable(&e);
                Ok(with(Known::default(), None))
            }
        },
    }
}

fn warn_unloadable(e: &ConfigError) {
    eprintln!("warning: the fleet file does not load, so its nodes may be printed again: {e}");
}

/// Accepts until dropped. Over `max_connections` open, new ones are closed at once.
async fn accept(listener: TcpListener, heard: Arc<Mutex<Heard>>) {
    let max = ListenConfig::default().max_connections;
    let mut conns = JoinSet::new();
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            Some(_) = conns.join_next(), if !conns.is_empty() => continue,
        };
        let Ok((stream, peer)) = accepted else {
            // EMFILE and the like: wait rather than spin.
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let mut h = heard.lock().unwrap_or_else(|e| e.into_inner());
        if conns.len() >= max {
            h.refused_full += 1;
            continue;
        }
        h.connections += 1;
        drop(h);
        conns.spawn(serve(stream, peer, heard.clone()));
    }
}

/// Reads one connection's lines until it closes or misbehaves. Never writes: a
/// SyncGuard sender never reads.
async fn serve(mut stream: TcpStream, peer: SocketAddr, heard: Arc<Mutex<Heard>>) {
    let mut reader = LineReader::new();
    let mut buf = [0u8; 512];
    let mut lines = Vec::new();
    let (mut valid, mut invalid) = (0u64, 0u64);
    // Counted as garbage while it has sent something invalid and nothing valid;
    // counted at once, because the connection may be open until the end, when its
    // task is dropped without running on.
    let mut counted = false;
    loop {
        let n = match stream.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let overflow = reader.feed(&buf[..n], |l| lines.push(l));
        let mut h = heard.lock().unwrap_or_else(|e| e.into_inner());
        for line in lines.drain(..) {
            match line {
                Ok(l) => {
                    valid += 1;
                    record(&mut h, l, peer);
                }
                Err(_) => {
                    invalid += 1;
                    h.invalid_lines += 1;
                }
            }
        }
        if overflow.is_err() {
            h.invalid_lines += 1;
            invalid += 1;
        }
        let garbage = valid == 0 && invalid > 0;
        if garbage != counted {
            if garbage {
                h.garbage += 1;
            } else {
                h.garbage -= 1;
            }
            counted = garbage;
        }
        if overflow.is_err() || invalid >= u64::from(MAX_INVALID_LINES) {
            break;
        }
    }
}

fn record(h: &mut Heard, line: PushLine, peer: SocketAddr) {
    let (ip, unknown) = match line.reported {
        ReportedIp::V4(ip) => (IpAddr::V4(ip), false),
        ReportedIp::Unknown => (peer.ip().to_canonical(), true),
    };
    if let Some(s) = h.senders.get_mut(&ip) {
        s.last = line;
        s.peer = peer;
        s.lines += 1;
        return;
    }
    if h.senders.len() >= MAX_SENDERS {
        h.dropped += 1;
        return;
    }
    if h.announced < ANNOUNCE {
        h.announced += 1;
        let from = if unknown {
            format!("{peer} (it writes `unknown`)")
        } else {
            peer.to_string()
        };
        eprintln!("heard {ip} ({}) from {from}", Role::from_code(line.code));
    }
    h.senders.insert(
        ip,
        Sender {
            ip,
            unknown,
            peer,
            last: line,
            lines: 1,
        },
    );
}

/// The comment above a node's entry: what it said last, and from where.
fn comment(s: &Sender) -> String {
    let role = Role::from_code(s.last.code);
    let said = format!("{}_state{}", s.last.reported, s.last.code);
    if s.unknown {
        format!(
            "last heard {said} ({role}) from {}; it writes `unknown` for its IP, so host is its peer address",
            s.peer
        )
    } else {
        format!("last heard {said} ({role}) from {}", s.peer)
    }
}

/// Reverse DNS names (first label) for the senders, in order; `None` where the
/// lookup failed or took too long. Each lookup is bounded by [`RESOLVE_TIMEOUT`]
/// and all of them by [`RESOLVE_BUDGET`]. The lookups block (getnameinfo), so
/// they run on the blocking pool; one stuck in the resolver is left behind.
async fn resolve_names(senders: &[&Sender]) -> Vec<Option<String>> {
    let deadline = Instant::now() + RESOLVE_BUDGET;
    let ips: Vec<IpAddr> = senders.iter().map(|s| s.ip).collect();
    let mut fallback = 0usize;
    let names: Vec<Option<String>> = futures::stream::iter(ips)
        .map(|ip| async move {
            let wait = RESOLVE_TIMEOUT.min(deadline.saturating_duration_since(Instant::now()));
            let lookup = tokio::task::spawn_blocking(move || dns_lookup::lookup_addr(&ip));
            match tokio::time::timeout(wait, lookup).await {
                Ok(Ok(Ok(name))) => append::dns_name(&name),
                _ => None,
            }
        })
        .buffered(RESOLVE_AT_ONCE)
        .collect()
        .await;
    for n in &names {
        if n.is_none() {
            fallback += 1;
        }
    }
    if fallback > 0 {
        eprintln!(
            "{fallback} of {} name{} from the IP: no reverse DNS name within {}",
            names.len(),
            plural(names.len()),
            humantime::format_duration(RESOLVE_TIMEOUT)
        );
    }
    names
}

/// The counts worth a line on stderr, if any.
fn heard_summary(h: &Heard) -> Vec<String> {
    let (dropped, garbage, invalid, refused) =
        (h.dropped, h.garbage, h.invalid_lines, h.refused_full);
    let mut out = Vec::new();
    if invalid > 0 {
        out.push(format!(
            "ignored {invalid} invalid line{} ({garbage} connection{} sent nothing valid)",
            plural(invalid as usize),
            plural(garbage as usize)
        ));
    }
    if dropped > 0 {
        out.push(format!(
            "{dropped} more sender{} not kept: the limit is {MAX_SENDERS}",
            plural(dropped as usize)
        ));
    }
    if refused > 0 {
        out.push(format!(
            "{refused} connection{} refused: too many open at once",
            plural(refused as usize)
        ));
    }
    out
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

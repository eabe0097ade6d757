//! The running monitor: pollers and the push receiver feeding one owner of the fleet
//! state. The dashboard and `--once` both drive it; applying an input and logging
//! what changed happens here, once, for both.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use crate::config::Config;
use crate::fleet::{CloseReason, Fleet, NodeId, Transition};
use crate::listen::{ListenEvent, Listener};
use crate::logging;
use crate::poll::{PollResult, Pollers};
use crate::status::Status;

/// Queued inputs before producers wait; bounds memory under a flood.
const CHANNEL: usize = 8192;
/// Senders remembered for "warn once per sender"; past this, warnings repeat.
const WARNED_CAP: usize = 4096;

/// One thing that happened out there.
#[derive(Debug)]
pub enum Input {
    Poll(PollResult),
    Listen(ListenEvent),
}

/// Pollers and receiver for one config. Dropping it stops them all.
pub struct Monitor {
    pub pollers: Pollers,
    pub listener: Option<Listener>,
    poll_rx: mpsc::Receiver<PollResult>,
    listen_rx: mpsc::Receiver<ListenEvent>,
}

impl Monitor {
    /// Starts a poller per poll node and, if configured, the push receiver.
    pub async fn start(config: &Config) -> anyhow::Result<Monitor> {
        let (poll_tx, poll_rx) = mpsc::channel(CHANNEL);
        let (listen_tx, listen_rx) = mpsc::channel(CHANNEL);
        let listener = match &config.listen {
            Some(l) => Some(Listener::start(config, l, listen_tx).await?),
            None => None,
        };
        let pollers = Pollers::start(config, poll_tx);
        Ok(Monitor {
            pollers,
            listener,
            poll_rx,
            listen_rx,
        })
    }

    /// The next input; `None` only when every producer has stopped.
    pub async fn next(&mut self) -> Option<Input> {
        loop {
            tokio::select! {
                Some(r) = self.poll_rx.recv() => {
                    if let Some(r) = self.to_node(r) {
                        return Some(Input::Poll(r));
                    }
                }
                Some(e) = self.listen_rx.recv() => return Some(Input::Listen(e)),
                else => return None,
            }
        }
    }

    /// Turns a result's poller slot into its node id; `None` for a poller a reload
    /// stopped after it sent the result.
    fn to_node(&self, mut r: PollResult) -> Option<PollResult> {
        r.node = self.pollers.node_of(&r)?;
        Some(r)
    }

    /// Applies a reloaded config: see [`Pollers::reload`]. The receiver restarts
    /// when `[listen]` or the set of push nodes changed; returns whether it did (its
    /// connections are then gone).
    pub async fn reload(
        &mut self,
        old: &Config,
        new: &Config,
        kept: &[Option<usize>],
    ) -> anyhow::Result<bool> {
        self.pollers.reload(new, kept);
        let ips = |c: &Config| {
            c.push_directory()
                .into_keys()
                .collect::<std::collections::BTreeSet<_>>()
        };
        if old.listen == new.listen && ips(old) == ips(new) {
            return Ok(false);
        }
        // The old listener must let go of its port before the new one binds it.
        if let Some(old) = self.listener.take() {
            old.shutdown().await;
        }
        let (tx, rx) = mpsc::channel(CHANNEL);
        self.listen_rx = rx;
        if let Some(l) = &new.listen {
            match Listener::start(new, l, tx.clone()).await {
                Ok(listener) => self.listener = Some(listener),
                Err(e) => {
                    // Keep listening as before rather than not at all.
                    if let Some(l) = &old.listen {
                        self.listener = Listener::start(old, l, tx).await.ok();
                    }
                    return Err(e.context("the new [listen] could not start; kept the old one"));
                }
            }
        }
        Ok(true)
    }

    /// Copies the receiver's refusal counters into the fleet's listen stats.
    pub fn sync_counters(&self, fleet: &mut Fleet) {
        if let Some(l) = &self.listener {
            fleet.set_refusals(l.refusals());
        }
    }

    /// An input already queued, without waiting.
    pub fn try_next(&mut self) -> Option<Input> {
        while let Ok(r) = self.poll_rx.try_recv() {
            if let Some(r) = self.to_node(r) {
                return Some(Input::Poll(r));
            }
        }
        self.listen_rx.try_recv().ok().map(Input::Listen)
    }
}

/// Remembers what was already logged, so noisy senders are logged once.
#[derive(Debug, Default)]
pub struct LogOnce {
    unlisted: HashSet<IpAddr>,
}

/// What applying one input did.
#[derive(Debug, Default)]
pub struct Applied {
    /// The node the input was a result for (none for connection events and
    /// unlisted senders).
    pub node: Option<NodeId>,
    /// The raw status of that result, before flap damping.
    pub raw: Option<Status>,
    /// Latency of a valid poll reply.
    pub latency: Option<Duration>,
    /// The shown status changed.
    pub transition: Option<Transition>,
}

/// Applies one input to the fleet, logs transitions and listener trouble, and
/// says what it did.
pub fn apply(fleet: &mut Fleet, input: Input, log: &mut LogOnce) -> Applied {
    let applied = match input {
        Input::Poll(r) => {
            let raw = r.obs.outcome.status();
            let latency = r.obs.outcome.reply().and(r.obs.latency);
            Applied {
                node: Some(r.node),
                raw: Some(raw),
                latency,
                transition: fleet.apply(r.node, r.obs, r.connected),
            }
        }
        Input::Listen(ev) => apply_listen(fleet, ev, log),
    };
    if let Some(t) = &applied.transition {
        logging::transition(fleet, t);
    }
    applied
}

fn apply_listen(fleet: &mut Fleet, ev: ListenEvent, log: &mut LogOnce) -> Applied {
    match ev {
        ListenEvent::Opened { conn, peer, at } => {
            fleet.conn_opened(conn, peer, at);
            Applied::default()
        }
        ListenEvent::Line {
            conn,
            peer,
            at,
            line,
            count,
        } => {
            let node = fleet.line_target(conn, peer, &line);
            let raw = match &line {
                Ok(l) => l.reply().status(),
                Err(_) => Status::Invalid,
            };
            let (transition, new_conflict) = fleet.push_lines(conn, peer, at, line, count);
            if new_conflict {
                log_conflict(fleet, peer, at);
            }
            Applied {
                node,
                raw: node.map(|_| raw),
                latency: None,
                transition,
            }
        }
        ListenEvent::Closed { conn, peer, reason } => {
            if let CloseReason::Unlisted(ip) = &reason {
                warn_unlisted(log, *ip, peer);
            }
            fleet.conn_closed(conn, &reason);
            Applied::default()
        }
    }
}

fn warn_unlisted(log: &mut LogOnce, ip: IpAddr, peer: SocketAddr) {
    if log.unlisted.len() >= WARNED_CAP {
        log.unlisted.clear();
    }
    if log.unlisted.insert(ip) {
        tracing::warn!(
            "closed connection from unlisted sender {ip} (peer {peer}); allow_unlisted = false"
        );
    }
}

fn log_conflict(fleet: &Fleet, peer: SocketAddr, at: SystemTime) {
    let window = fleet.conflict_window();
    for n in &fleet.nodes {
        let peers = n.conflicting_peers(at, window);
        if peers.len() > 1 && peers.contains(&peer.ip().to_canonical()) {
            let list: Vec<String> = peers.iter().map(|p| p.to_string()).collect();
            tracing::warn!(
                "conflict: {} is claimed by several peers ({}); anyone who can reach the port can claim a node's IP",
                crate::text::escape_str(n.name()),
                list.join(", ")
            );
        }
    }
}

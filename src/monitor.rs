//! The running monitor: pollers and the push receiver feeding one owner of the fleet
//! state. The dashboard and `--once` both drive it; applying an input and logging
//! what changed happens here, once, for both.

use std::collections::HashSet;
use std::net::{IpAddr, SocketAddr};
use std::time::SystemTime;

use tokio::sync::mpsc;

use crate::config::Config;
use crate::fleet::{CloseReason, Fleet, Transition};
use crate::listen::{ListenEvent, Listener};
use crate::logging;
use crate::poll::{PollResult, Pollers};

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
        tokio::select! {
            Some(r) = self.poll_rx.recv() => Some(Input::Poll(r)),
            Some(e) = self.listen_rx.recv() => Some(Input::Listen(e)),
            else => None,
        }
    }

    /// Copies the receiver's refusal counters into the fleet's listen stats.
    pub fn sync_counters(&self, fleet: &mut Fleet) {
        if let Some(l) = &self.listener {
            fleet.set_refusals(l.refusals());
        }
    }

    /// An input already queued, without waiting.
    pub fn try_next(&mut self) -> Option<Input> {
        if let Ok(r) = self.poll_rx.try_recv() {
            return Some(Input::Poll(r));
        }
        self.listen_rx.try_recv().ok().map(Input::Listen)
    }
}

/// Remembers what was already logged, so noisy senders are logged once.
#[derive(Debug, Default)]
pub struct LogOnce {
    unlisted: HashSet<IpAddr>,
}

/// Applies one input to the fleet, logs transitions and listener trouble, and
/// returns the transition it caused, if any.
pub fn apply(fleet: &mut Fleet, input: Input, log: &mut LogOnce) -> Option<Transition> {
    let t = match input {
        Input::Poll(r) => fleet.apply(r.node, r.obs, r.connected),
        Input::Listen(ev) => apply_listen(fleet, ev, log),
    };
    if let Some(t) = &t {
        logging::transition(fleet, t);
    }
    t
}

fn apply_listen(fleet: &mut Fleet, ev: ListenEvent, log: &mut LogOnce) -> Option<Transition> {
    match ev {
        ListenEvent::Opened { conn, peer, at } => {
            fleet.conn_opened(conn, peer, at);
            None
        }
        ListenEvent::Line {
            conn,
            peer,
            at,
            line,
        } => {
            let (t, new_conflict) = fleet.push_line(conn, peer, at, line);
            if new_conflict {
                log_conflict(fleet, peer, at);
            }
            t
        }
        ListenEvent::Closed { conn, peer, reason } => {
            if let CloseReason::Unlisted(ip) = &reason {
                warn_unlisted(log, *ip, peer);
            }
            fleet.conn_closed(conn, &reason);
            None
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

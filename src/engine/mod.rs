//! The engine: IO with the nodes. Pollers (one task per poll node) and the push
//! receiver send their results to the hub over bounded channels. It imports the
//! model, never the state.

pub mod listen;
pub mod poll;
pub mod timetable;

use std::collections::BTreeSet;
use std::net::SocketAddr;

use tokio::sync::mpsc;

use crate::config::Config;
use crate::model::{Input, ListenEvent, PollResult, Refusals};

pub use listen::Listener;
pub use poll::Pollers;

/// Queued results before producers wait; bounds memory under a flood.
const CHANNEL: usize = 8192;

/// How the pollers run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Schedule {
    /// Forever, every `interval`..`max_interval`.
    Continuous,
    /// One exchange per node (`--once`).
    Once,
}

/// Pollers and receiver for one config. Dropping it stops them all.
pub struct Engine {
    pollers: Option<Pollers>,
    once: Option<tokio::task::JoinHandle<()>>,
    listener: Option<Listener>,
    poll_rx: mpsc::Receiver<PollResult>,
    listen_rx: mpsc::Receiver<ListenEvent>,
}

impl Engine {
    /// Starts the push receiver (if configured) and the pollers.
    pub async fn start(config: &Config, schedule: Schedule) -> anyhow::Result<Engine> {
        let (poll_tx, poll_rx) = mpsc::channel(CHANNEL);
        let (listen_tx, listen_rx) = mpsc::channel(CHANNEL);
        let listener = match &config.listen {
            Some(l) => Some(Listener::start(config, l, listen_tx).await?),
            None => None,
        };
        let (pollers, once) = match schedule {
            Schedule::Continuous => (Some(Pollers::start(config, poll_tx)), None),
            Schedule::Once => (None, Some(poll::check_once(config, poll_tx))),
        };
        Ok(Engine {
            pollers,
            once,
            listener,
            poll_rx,
            listen_rx,
        })
    }

    /// The addresses the receiver listens on.
    pub fn listen_addrs(&self) -> &[SocketAddr] {
        self.listener
            .as_ref()
            .map(|l| l.local_addrs.as_slice())
            .unwrap_or_default()
    }

    /// The next input; `None` only when every producer has stopped.
    pub async fn next(&mut self) -> Option<Input> {
        loop {
            tokio::select! {
                Some(r) = self.poll_rx.recv() => {
                    if self.is_current(&r) {
                        return Some(Input::Poll(r));
                    }
                }
                Some(e) = self.listen_rx.recv() => return Some(Input::Listen(e)),
                else => return None,
            }
        }
    }

    /// An input already queued, without waiting.
    pub fn try_next(&mut self) -> Option<Input> {
        while let Ok(r) = self.poll_rx.try_recv() {
            if self.is_current(&r) {
                return Some(Input::Poll(r));
            }
        }
        self.listen_rx.try_recv().ok().map(Input::Listen)
    }

    fn is_current(&self, r: &PollResult) -> bool {
        self.pollers.as_ref().is_none_or(|p| p.is_current(r))
    }

    pub fn poll_now(&self, key: &str) {
        if let Some(p) = &self.pollers {
            p.poll_now(key);
        }
    }

    pub fn poll_all_now(&self) {
        if let Some(p) = &self.pollers {
            p.poll_all_now();
        }
    }

    /// The receiver's counts of connections refused at accept.
    pub fn refusals(&self) -> Option<Refusals> {
        self.listener.as_ref().map(Listener::refusals)
    }

    /// Applies a reloaded config: see [`Pollers::reload`]. The receiver restarts
    /// when `[listen]` or the set of push nodes changed; returns whether it did (its
    /// connections are then gone).
    pub async fn reload(&mut self, old: &Config, new: &Config) -> anyhow::Result<bool> {
        if let Some(p) = &mut self.pollers {
            p.reload(new);
        }
        let ips = |c: &Config| c.push_directory().into_keys().collect::<BTreeSet<_>>();
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
}

impl Drop for Engine {
    fn drop(&mut self) {
        if let Some(once) = &self.once {
            once.abort();
        }
    }
}

//! The push receiver driven in-process through the library: a listener, the fleet
//! state its events build, and pumps that apply events until a condition holds.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;

use syncguard_fleet::config::Config;
use syncguard_fleet::engine::Listener;
use syncguard_fleet::model::{Input, ListenEvent};
use syncguard_fleet::state::Fleet;

pub struct Harness {
    pub fleet: Fleet,
    pub rx: mpsc::Receiver<ListenEvent>,
    pub listener: Listener,
}

/// A config listening on 127.0.0.1 (port chosen by the system) with `extra_listen`
/// keys in `[listen]` and push nodes (name, ip, group).
pub fn push_config(extra_listen: &str, nodes: &[(&str, &str, Option<&str>)]) -> Config {
    let mut text = format!("[listen]\nbind = [\"127.0.0.1:0\"]\n{extra_listen}\n");
    for (name, ip, group) in nodes {
        text.push_str(&format!(
            "[[node]]\nname = \"{name}\"\nhost = \"{ip}\"\nmode = \"push\"\n"
        ));
        if let Some(g) = group {
            text.push_str(&format!("group = \"{g}\"\n"));
        }
    }
    Config::parse(&text, "push.toml").expect("push config")
}

impl Harness {
    pub async fn start(config: &Config) -> Harness {
        let (tx, rx) = mpsc::channel(8192);
        let listen = config.listen.clone().expect("config has [listen]");
        let listener = Listener::start(config, &listen, tx).await.expect("listen");
        Harness {
            fleet: Fleet::new(config, SystemTime::now()),
            rx,
            listener,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        self.listener.local_addrs[0]
    }

    /// Applies events until `done` holds or `limit` passes; returns whether it held.
    /// The listener's refusal counters are copied into the fleet on the way out.
    pub async fn pump_until(&mut self, limit: Duration, done: impl Fn(&Fleet) -> bool) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        let held = loop {
            if done(&self.fleet) {
                break true;
            }
            match tokio::time::timeout_at(deadline, self.rx.recv()).await {
                Ok(Some(ev)) => {
                    self.fleet.apply_input(Input::Listen(ev));
                }
                _ => break done(&self.fleet),
            }
        };
        self.fleet.set_refusals(self.listener.refusals());
        held
    }

    /// Applies every event that arrives within `d`.
    pub async fn pump_for(&mut self, d: Duration) {
        self.pump_until(d, |_| false).await;
    }
}

//! The embedded demo fleet: 24 simulated poll nodes in 3 groups plus 4 SyncGuard V3
//! push senders, with one of each common failure, so a newcomer sees a realistic
//! dashboard with one command and no hardware.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinSet;

use crate::config::{Config, ConfigError};
use crate::sim::{self, Behaviour, PushBehaviour, PushSender, PushStats, Sim, SimSpec};

/// How the demo config is named in the header and in messages.
pub const LABEL: &str = "demo (embedded)";
/// The flapping node changes state this often.
pub const FLAP_PERIOD: Duration = Duration::from_secs(20);

/// Timing for the demo: livelier than the field defaults, same rules.
const DEFAULTS: &str = r#"
interval = "2s"
max_interval = "4s"
timeout = "2s"
backoff = "10s"
"#;

/// The poll nodes: mostly healthy, one free, one silent, one refusing, one flapping.
pub fn specs() -> Vec<SimSpec> {
    let mut specs = Vec::with_capacity(24);
    let mut add = |group: &str, prefix: &str, behaviours: [Behaviour; 8]| {
        for (i, behaviour) in behaviours.into_iter().enumerate() {
            specs.push(SimSpec {
                name: format!("{prefix}-{:02}", i + 1),
                group: Some(group.to_owned()),
                behaviour,
            });
        }
    };
    use Behaviour::*;
    let (m, s) = (State(2), State(1));
    add("wall-A", "wall-a", [m, s, s, s, State(0), s, s, s]);
    add(
        "wall-B",
        "wall-b",
        [Synced, Synced, Synced, Flap, Synced, Synced, Silent, Split],
    );
    add("stage-C", "stage-c", [m, s, Slow, s, s, Refused, s, s]);
    specs
}

/// The push senders: an LED stage of four V3 nodes (one Master), and one sender that
/// is in no node list, to show the unlisted section.
fn push_senders() -> Vec<(Option<&'static str>, PushSender)> {
    let sender = |last: u8, behaviour| PushSender {
        ip: Ipv4Addr::new(10, 200, 0, last),
        behaviour,
        unknown_ip: false,
    };
    vec![
        (Some("led-d-01"), sender(1, PushBehaviour::Code(2))),
        (Some("led-d-02"), sender(2, PushBehaviour::Code(1))),
        (Some("led-d-03"), sender(3, PushBehaviour::Code(1))),
        (Some("led-d-04"), sender(4, PushBehaviour::Code(1))),
        (None, sender(99, PushBehaviour::Code(1))),
    ]
}

/// A running demo: simulated nodes, push senders and the config that watches them.
pub struct Demo {
    pub sim: Sim,
    pub config: Config,
    pub push_stats: Arc<PushStats>,
    _push: JoinSet<()>,
}

/// Starts the demo nodes on loopback and returns them with the matching config.
pub async fn start() -> anyhow::Result<Demo> {
    let sim = Sim::start(specs(), IpAddr::V4(Ipv4Addr::LOCALHOST), FLAP_PERIOD).await?;
    // A free loopback port for the receiver. Senders that arrive before it listens
    // retry after 2 s, as real ones do.
    let probe = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    let listen_addr: SocketAddr = probe.local_addr()?;
    drop(probe);
    let config = config_for(&sim, listen_addr)?;
    let stats = Arc::new(PushStats::default());
    let mut push = JoinSet::new();
    for (_, s) in push_senders() {
        push.spawn(sim::run_push_sender(
            listen_addr,
            s,
            Duration::from_secs(1),
            FLAP_PERIOD,
            Duration::from_millis(300),
            stats.clone(),
        ));
    }
    Ok(Demo {
        sim,
        config,
        push_stats: stats,
        _push: push,
    })
}

fn config_for(sim: &Sim, listen: SocketAddr) -> Result<Config, ConfigError> {
    let mut text = sim.fleet_toml(DEFAULTS);
    text.push_str(&format!(
        "[listen]\nbind = [\"{listen}\"]\nstale_after = \"10s\"\n\n"
    ));
    for (name, s) in push_senders() {
        if let Some(name) = name {
            text.push_str(&format!(
                "[[node]]\nname = \"{name}\"\nhost = \"{}\"\nmode = \"push\"\ngroup = \"led-D\"\n\n",
                s.ip
            ));
        }
    }
    Config::parse(&text, LABEL)
}

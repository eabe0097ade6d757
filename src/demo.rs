//! The embedded demo fleet: 24 simulated nodes in 3 groups with one of each common
//! failure, so a newcomer sees a realistic dashboard with one command and no hardware.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use crate::config::{Config, ConfigError};
use crate::sim::{Behaviour, Sim, SimSpec};

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

/// The demo fleet: mostly healthy, one free, one silent, one refusing, one flapping.
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

/// Starts the demo nodes on loopback and returns them with the matching config.
pub async fn start() -> anyhow::Result<(Sim, Config)> {
    let sim = Sim::start(specs(), IpAddr::V4(Ipv4Addr::LOCALHOST), FLAP_PERIOD).await?;
    let config = config_for(&sim)?;
    Ok((sim, config))
}

fn config_for(sim: &Sim) -> Result<Config, ConfigError> {
    Config::parse(&sim.fleet_toml(DEFAULTS), LABEL)
}

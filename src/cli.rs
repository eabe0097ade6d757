//! Command-line interface (clap derive). Exit codes are part of the interface and are
//! documented in `--help`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::config;
use crate::report::Format;

const EXIT_CODES: &str = "\
Exit codes (Nagios convention, for --once):
  0  OK        every node is healthy (Synced, Slave or Master)
  1  WARNING   only unreachable/timeout/invalid/stale nodes, with unreachable = \"warning\"
  2  CRITICAL  a node is free (out of lock), a sync group without exactly one Master,
               or unreachable/timeout/invalid/stale by default
  3  UNKNOWN   config or usage error, or interrupted
Nodes in a [[maintenance]] window never raise the verdict; acknowledged nodes
still do, unless --ignore-acked. `ack` and `unack` exit 0 when done, 3 when not.";

/// Watch NVIDIA Quadro Sync health across a fleet of SyncGuard nodes.
#[derive(Debug, Parser)]
#[command(
    name = "syncguard-fleet",
    version,
    after_help = "Run `syncguard-fleet demo` to see the dashboard on a simulated fleet.",
    after_long_help = EXIT_CODES,
    long_about = "Watch NVIDIA Quadro Sync health across a fleet of SyncGuard nodes.\n\n\
        With no subcommand, opens a live dashboard of the nodes in the fleet file. With --once, \
        checks every node once, prints a table, JSON or a Nagios line, and exits with a Nagios \
        exit code."
)]
pub struct Cli {
    /// Fleet file [default: ./fleet.toml, else fleet.toml in the user's, then the
    /// system's config directory]
    #[arg(short, long, value_name = "PATH", env = config::ENV_VAR, global = true)]
    pub config: Option<PathBuf>,

    /// Check every node once, print the result and exit with its code
    #[arg(long, global = true)]
    pub once: bool,

    /// Output of --once (table, json, nagios), history and uptime (table, json, csv)
    #[arg(long, value_enum, default_value_t, global = true)]
    pub format: Format,

    /// With --once: how long to wait for every push node to report
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = humantime::parse_duration, global = true)]
    pub wait: Duration,

    /// With --once: acknowledged nodes and groups leave the verdict and their
    /// groups' health, as nodes in maintenance do (by default an ack still counts)
    #[arg(long, global = true)]
    pub ignore_acked: bool,

    /// Serve the status page, the JSON API and /metrics on ADDR, in watch, the
    /// dashboard and demo; overrides `[http] bind`
    #[arg(long, value_name = "ADDR", global = true)]
    pub http: Option<std::net::SocketAddr>,

    /// Deprecated: the same as --http
    #[arg(long, value_name = "ADDR", global = true, conflicts_with = "http")]
    pub metrics: Option<std::net::SocketAddr>,

    /// Reload the fleet file when it changes, on every platform (also
    /// `[reload] watch = true`); SIGHUP and the dashboard's L work either way
    #[arg(long, global = true)]
    pub watch_config: bool,

    /// Write history to this SQLite file, in watch, the dashboard and demo;
    /// overrides `[history] path`
    #[arg(
        long,
        value_name = "PATH",
        global = true,
        conflicts_with = "no_history"
    )]
    pub history: Option<PathBuf>,

    /// Write no history (overrides `[history] enabled`)
    #[arg(long, global = true)]
    pub no_history: bool,

    /// Write the log here (the dashboard logs to a file by default)
    #[arg(long, value_name = "PATH", global = true)]
    pub log_file: Option<PathBuf>,

    #[command(flatten)]
    pub select: SelectArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The part of the fleet to watch: for `--once` and the dashboard before the
/// subcommand, and for `watch` after it.
#[derive(Clone, Debug, Default, Args)]
#[command(next_help_heading = "Part of the fleet")]
pub struct SelectArgs {
    /// Only nodes whose name matches GLOB (repeatable; with --group, either matches)
    #[arg(long = "node", value_name = "GLOB")]
    pub nodes: Vec<String>,

    /// Only the members of sync groups matching GLOB (repeatable)
    #[arg(long = "group", value_name = "GLOB")]
    pub groups: Vec<String>,

    /// Only shard K of N: this instance's share of a fleet split across N
    /// (overrides `[shard]`; docs/sharding.md)
    #[arg(long, value_name = "K/N", value_parser = crate::model::Shard::parse)]
    pub shard: Option<crate::model::Shard>,
}

impl SelectArgs {
    /// Both: `syncguard-fleet --group A watch --group B` watches A and B, and
    /// a `--shard` after the subcommand wins.
    pub fn and(&self, other: &SelectArgs) -> SelectArgs {
        SelectArgs {
            nodes: self.nodes.iter().chain(&other.nodes).cloned().collect(),
            groups: self.groups.iter().chain(&other.groups).cloned().collect(),
            shard: other.shard.or(self.shard),
        }
    }

    pub fn selection(&self) -> config::Selection {
        config::Selection {
            shard: self.shard,
            nodes: self.nodes.clone(),
            groups: self.groups.clone(),
        }
    }
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run against an embedded simulated fleet of 28 nodes, 24 polled and 4 pushing (no set-up, no hardware)
    Demo,
    /// Run simulated SyncGuard nodes on this machine until interrupted
    Sim(Box<SimArgs>),
    /// Watch headless (systemd, containers): one line per status transition on stdout
    Watch(WatchArgs),
    /// Incidents and monitor gaps from the history file (default: the last 24h)
    #[command(after_help = "Definitions and the JSON document: docs/history.md.")]
    History(QueryArgs),
    /// In-lock, out-of-lock and unknown shares of time per node, sync group and
    /// the fleet, from the history file (default: the last 30d)
    #[command(after_help = "Definitions and the JSON document: docs/history.md.")]
    Uptime(QueryArgs),
    /// Run `watch` as a Windows service: install, uninstall, start, stop
    #[command(after_help = "Windows only. On Linux, use the systemd unit in \
        examples/syncguard-fleet.service (see docs/operations.md).")]
    Service(ServiceArgs),
    /// Notification channels: `notify test` sends a test through each
    #[command(after_help = "Channels and their settings: docs/notify.md.")]
    Notify(NotifyArgs),
    /// Acknowledge an unhealthy node (NAME) or sync group (@GROUP) in the running
    /// monitor (`watch` or the dashboard, with `[http] bind` and a token)
    #[command(after_help = ACK_HELP)]
    Ack(AckArgs),
    /// Remove the acknowledgement of a node (NAME) or sync group (@GROUP) in the
    /// running monitor
    #[command(after_help = ACK_HELP)]
    Unack(UnackArgs),
    /// Check the fleet file without touching the network (`config check`), or
    /// print it as the monitor reads it (`config show`)
    #[command(after_help = "Exit 0 when the file is valid, 3 when not (with file:line:col).")]
    Config(ConfigArgs),
    /// Listen for SyncGuard V3 nodes pushing their state and print a [[node]]
    /// entry for each one heard (or add them to the fleet file with --append)
    #[command(after_help = DISCOVER_HELP)]
    Discover(DiscoverArgs),
    /// Print a shell completion script (bash, zsh, fish, powershell)
    #[command(after_help = COMPLETIONS_HELP)]
    Completions(CompletionsArgs),
    /// Print the manual page (roff) to stdout
    #[command(after_help = "Read it with: syncguard-fleet manpage | man -l -")]
    Manpage,
}

const DISCOVER_HELP: &str = "\
Senders already in the fleet file (by IP) are skipped, so running it twice adds
nothing twice. Point the nodes' ServerIP/ServerPort at --listen first. Exit 0 when
done (also when nobody was heard), 3 on an error.";

const COMPLETIONS_HELP: &str = "\
Install, for example:
  bash:       syncguard-fleet completions bash > ~/.local/share/bash-completion/completions/syncguard-fleet
  zsh:        syncguard-fleet completions zsh > ~/.zfunc/_syncguard-fleet
  fish:       syncguard-fleet completions fish > ~/.config/fish/completions/syncguard-fleet.fish
  powershell: syncguard-fleet completions powershell >> $PROFILE";

#[derive(Debug, Args)]
pub struct ConfigArgs {
    #[command(subcommand)]
    pub action: ConfigAction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Subcommand)]
pub enum ConfigAction {
    /// Validate the fleet file and print a one-screen summary (exit 0 or 3)
    Check,
    /// Print the effective configuration as TOML: ranges and node lists
    /// expanded, defaults filled in
    Show,
}

/// `discover`: where to listen, for how long, and what to do with what is heard.
#[derive(Debug, Args)]
pub struct DiscoverArgs {
    /// Address to listen on, where the nodes' ServerIP:ServerPort point
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8080")]
    pub listen: std::net::SocketAddr,

    /// How long to listen
    #[arg(long = "for", value_name = "DURATION", default_value = "30s", value_parser = parse_span)]
    pub lasts: Duration,

    /// Name each node by its reverse DNS name (else by its IP)
    #[arg(long)]
    pub resolve: bool,

    /// Add the new nodes to this fleet file, keeping its comments and layout
    #[arg(long, value_name = "PATH")]
    pub append: Option<PathBuf>,

    /// The sync group for the new nodes
    #[arg(long, value_name = "NAME")]
    pub group: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

const ACK_HELP: &str = "\
The monitor is found at --url, else at the [http] bind of the fleet file (0.0.0.0 and
:: become 127.0.0.1 and ::1). The token is the first line of --token-file, else
$SYNCGUARD_TOKEN: the token the monitor reads from its [http] token_env or token_file.
Exit 0 when done, 3 when not (with one line saying why).";

/// `ack NODE|@GROUP`: what to acknowledge, for how long and why.
#[derive(Debug, Args)]
pub struct AckArgs {
    /// A node by name, or a sync group as @GROUP
    #[arg(value_name = "NODE|@GROUP", value_parser = parse_target)]
    pub target: crate::model::ack::Target,

    /// How long the ack lasts (2h, 90m, 3d; at most 30d) [default: 24h]
    #[arg(long = "for", value_name = "DURATION", value_parser = parse_ack_for)]
    pub lasts: Option<AckFor>,

    /// Why (required): shown with the node wherever it is shown
    #[arg(long, value_name = "TEXT")]
    pub reason: String,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// `unack NODE|@GROUP`.
#[derive(Debug, Args)]
pub struct UnackArgs {
    /// A node by name, or a sync group as @GROUP
    #[arg(value_name = "NODE|@GROUP", value_parser = parse_target)]
    pub target: crate::model::ack::Target,

    #[command(flatten)]
    pub remote: RemoteArgs,
}

/// Where the running monitor is and how to prove who may change it.
#[derive(Debug, Args)]
pub struct RemoteArgs {
    /// The monitor's address, http://HOST:PORT [default: the fleet file's [http] bind]
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Read the token from the first line of FILE [default: $SYNCGUARD_TOKEN]
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,
}

/// An ack's length as given (sent as written) and as understood.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AckFor {
    pub text: String,
    pub duration: Duration,
}

/// `NAME` or `@GROUP`.
pub fn parse_target(s: &str) -> Result<crate::model::ack::Target, String> {
    crate::model::ack::Target::parse(s)
}

/// A duration of more than zero and at most [`crate::model::ack::MAX_FOR`].
pub fn parse_ack_for(s: &str) -> Result<AckFor, String> {
    let max = crate::model::ack::MAX_FOR;
    match humantime::parse_duration(s.trim()) {
        Ok(d) if d.is_zero() => Err("must be more than zero".into()),
        Ok(d) if d > max => Err(format!(
            "must be at most {}d (for longer, plan a [[maintenance]] window)",
            max.as_secs() / 86_400
        )),
        Ok(d) => Ok(AckFor {
            text: s.trim().to_owned(),
            duration: d,
        }),
        Err(e) => Err(format!("{e} (expected a duration such as 2h, 90m, 3d)")),
    }
}

#[derive(Debug, Args)]
pub struct NotifyArgs {
    #[command(subcommand)]
    pub action: NotifyAction,
}

#[derive(Clone, Debug, PartialEq, Eq, Subcommand)]
pub enum NotifyAction {
    /// Send a test notification through each [[notify]] channel now, print one
    /// line per channel, and exit 0 only if every one was delivered (1 if not)
    Test {
        /// Only this channel
        #[arg(long, value_name = "NAME")]
        channel: Option<String>,
    },
}

#[derive(Debug, Args)]
pub struct ServiceArgs {
    #[command(subcommand)]
    pub action: ServiceAction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Subcommand)]
pub enum ServiceAction {
    /// Register the service (needs an Administrator shell); it starts with Windows.
    /// The service runs `watch` on --config (made absolute; default: the search)
    Install,
    /// Stop the service if it runs, and remove it
    Uninstall,
    /// Start the installed service
    Start,
    /// Stop the running service
    Stop,
    /// What the service manager runs; not for a console
    #[command(hide = true)]
    Run,
}

/// The questions `history` and `uptime` ask of the history file.
#[derive(Debug, Args)]
pub struct QueryArgs {
    /// The history file [default: `--history`, else `[history] path` of the fleet
    /// file, else the platform's state directory]
    #[arg(long, value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// How far back from now: 90m, 24h, 7d, 30d
    #[arg(long, value_name = "DURATION", value_parser = parse_span, conflicts_with = "from")]
    pub since: Option<Duration>,

    /// Start of the window, RFC 3339: 2026-11-30T18:00:00+01:00 or …Z
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub from: Option<std::time::SystemTime>,

    /// End of the window, RFC 3339 [default: now]
    #[arg(long, value_name = "TIME", value_parser = parse_time)]
    pub to: Option<std::time::SystemTime>,

    /// Only this node (repeatable)
    #[arg(long = "node", value_name = "NAME")]
    pub nodes: Vec<String>,

    /// Only this sync group and its members (repeatable)
    #[arg(long = "group", value_name = "NAME")]
    pub groups: Vec<String>,
}

/// A window length: humantime (`24h`, `30d`), more than zero.
pub fn parse_span(s: &str) -> Result<Duration, String> {
    match humantime::parse_duration(s) {
        Ok(d) if d.is_zero() => Err("must be more than zero".into()),
        // A century back is before any history file; more would overflow a clock.
        // (humantime's year is 365.25 days.)
        Ok(d) if d > Duration::from_secs(100 * 31_557_600) => {
            Err("must be at most 100 years".into())
        }
        Ok(d) => Ok(d),
        Err(e) => Err(format!("{e} (expected a duration such as 24h, 7d, 30d)")),
    }
}

/// An RFC 3339 time with an offset or `Z`.
pub fn parse_time(s: &str) -> Result<std::time::SystemTime, String> {
    s.parse::<jiff::Timestamp>()
        .map(std::time::SystemTime::from)
        .map_err(|e| format!("{e} (expected RFC 3339, such as 2026-11-30T18:00:00+01:00)"))
}

#[derive(Debug, Args)]
pub struct WatchArgs {
    /// Transition lines as text or as one JSON object per line
    #[arg(long, value_enum, default_value_t)]
    pub events: crate::watch::EventFormat,

    #[command(flatten)]
    pub select: SelectArgs,
}

#[derive(Debug, Args)]
pub struct SimArgs {
    /// Nodes to start: a behaviour, optionally with a count (synced=20 free silent ...).
    /// Behaviours: synced free state0..state9 split slow silent close garbage refused
    /// flap rst flood drip deaf escape http. Default: one of each main behaviour.
    #[arg(value_name = "BEHAVIOUR[=COUNT]")]
    pub nodes: Vec<String>,

    /// Address to listen on
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: IpAddr,

    /// Write a fleet.toml for these nodes to PATH
    #[arg(long, value_name = "PATH")]
    pub write_config: Option<PathBuf>,

    /// Serve every node on one port, each on its own 127.1.x.y address: one open
    /// file per node instead of two, for fleets of many thousands
    #[arg(long)]
    pub shared_port: bool,

    /// How often `flap` nodes switch state
    #[arg(long, default_value = "20s", value_parser = humantime::parse_duration)]
    pub flap_period: Duration,

    /// Act as SyncGuard V3 senders pushing to this monitor address instead
    #[arg(long, value_name = "HOST:PORT", help_heading = "Push senders (--push)")]
    pub push: Option<std::net::SocketAddr>,

    /// Number of senders
    #[arg(
        long = "nodes",
        default_value_t = 10,
        help_heading = "Push senders (--push)"
    )]
    pub count: usize,

    /// Seconds between lines (TransmissionInterval)
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration, help_heading = "Push senders (--push)")]
    pub interval: Duration,

    /// IP the first sender writes in its lines; the others count up from it
    #[arg(
        long,
        default_value = "10.200.0.1",
        help_heading = "Push senders (--push)"
    )]
    pub ip_base: std::net::Ipv4Addr,

    /// Senders per sync group (the first of each is Master)
    #[arg(long, default_value_t = 8, help_heading = "Push senders (--push)")]
    pub group_size: usize,

    /// Every K-th sender reports state0 (Error)
    #[arg(long, value_name = "K", help_heading = "Push senders (--push)")]
    pub error_every: Option<usize>,

    /// Every K-th sender flaps between Slave and Error every --flap-period
    #[arg(long, value_name = "K", help_heading = "Push senders (--push)")]
    pub flap_every: Option<usize>,

    /// Every K-th sender writes `unknown` in place of its IP (unknown_state<d>, with
    /// its real state digit)
    #[arg(long, value_name = "K", help_heading = "Push senders (--push)")]
    pub unknown_every: Option<usize>,
}

impl Cli {
    /// The config path: --config, else $SYNCGUARD_FLEET_CONFIG, else the first of
    /// ./fleet.toml, the user's and the system's config directory that exists.
    pub fn config_path(&self) -> PathBuf {
        self.config
            .clone()
            .unwrap_or_else(crate::platform::paths::find_config)
    }

    /// Loads the config and narrows it to `select` (`--node`, `--group`,
    /// `--shard`).
    pub fn load_selected(&self, select: &SelectArgs) -> anyhow::Result<config::Config> {
        Ok(select.selection().apply(self.load_config()?)?)
    }

    /// Loads the config; when it was searched for and none was found, the error
    /// lists every place searched.
    pub fn load_config(&self) -> anyhow::Result<config::Config> {
        let path = self.config_path();
        match config::Config::load(&path) {
            Err(config::ConfigError::Read { cause, .. })
                if self.config.is_none() && cause.kind() == std::io::ErrorKind::NotFound =>
            {
                let searched: Vec<String> = crate::platform::paths::config_candidates()
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect();
                anyhow::bail!(
                    "no config file found (looked for {}); choose a file with --config PATH or {}, \
                     or try `syncguard-fleet demo`",
                    searched.join(", "),
                    config::ENV_VAR
                )
            }
            other => Ok(other?),
        }
    }
}

//! `fleet.toml` → one validated [`Config`]. Every error names the file, the
//! line:column and the key, because the person reading it is fixing a file at 3 a.m.
//!
//! serde reads the text into the `raw` types; one validator per table (`defaults`,
//! `listen`, `node`, `metrics`, `http`, `alert`, `notify` with `[heartbeat]`,
//! `dashboard`, `reload`, `history`, `maintenance`) turns them into the types
//! below, `values` checks what tables share, and `error` turns spans into
//! positions.
//!
//! The secrets of `[[notify]]` and `[heartbeat]` (`*_env`, `*_file`) are read while
//! validating, so an unset variable or a missing file is an error at its line
//! when the file is loaded or reloaded, not a failed notification at 3 a.m.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use crate::model::UnreachablePolicy;

mod alert;
pub mod append;
mod dashboard;
mod defaults;
mod error;
mod history;
mod http;
mod listen;
mod maintenance;
mod metrics;
mod node;
mod nodes_file;
mod notify;
mod range;
mod raw;
mod reload;
mod select;
mod shard;
mod show;
mod values;

pub use error::ConfigError;
use error::Cx;
pub use history::{HistoryConfig, RETENTION};
pub use http::{HttpConfig, MAX_STREAMS, TokenSource};
pub use maintenance::{MAX_MAINTENANCE, MaintenanceWindow, WindowTime};
pub use notify::{
    ChannelKind, EmailConfig, GIVE_UP_AFTER, GROUP_WAIT, HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT,
    HeartbeatConfig, NOTIFY_TIMEOUT, NotifyChannel, Secret, SmtpTls, redact_url,
};
use raw::RawFile;
pub use select::{Selection, SelectionError};
pub use show::{duration_text, show};

/// Default for `[dashboard] flap_threshold`: more transitions than this in the window
/// mark a node as flapping.
pub const FLAP_THRESHOLD: usize = 4;
/// Default for `[dashboard] flap_window`.
pub const FLAP_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The longest duration any setting may have.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Environment variable that names the config file (as `--config` does); without
/// either, the platform's places are searched (`platform::paths::find_config`).
pub const ENV_VAR: &str = "SYNCGUARD_FLEET_CONFIG";

/// Settings every node inherits unless it overrides them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Defaults {
    pub port: u16,
    pub interval: Duration,
    pub max_interval: Duration,
    pub timeout: Duration,
    pub backoff: Duration,
    pub request: Arc<[u8]>,
    pub unreachable: UnreachablePolicy,
    /// Connection attempts allowed in flight at once across the fleet.
    pub max_connecting: usize,
    /// Consecutive unhealthy results before a healthy node is shown unhealthy.
    pub confirm_unhealthy: u32,
    /// Consecutive healthy results before an unhealthy node is shown healthy.
    pub confirm_healthy: u32,
}

impl Default for Defaults {
    fn default() -> Self {
        Defaults {
            port: 8080,
            interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            backoff: Duration::from_secs(30),
            request: Arc::from(&b"GET_STATUS"[..]),
            unreachable: UnreachablePolicy::Critical,
            max_connecting: 1024,
            confirm_unhealthy: 1,
            confirm_healthy: 1,
        }
    }
}

/// How a node reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// The monitor connects and asks `GET_STATUS`.
    #[default]
    Poll,
    /// The node connects to the monitor and pushes `<ip>_state<d>` lines (SyncGuard V3).
    Push,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Poll => "poll",
            Mode::Push => "push",
        }
    }
}

/// One SyncGuard node.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NodeConfig {
    pub name: String,
    /// Poll nodes: where to connect. Push nodes: the IP the node writes in its lines.
    pub host: String,
    pub port: u16,
    pub group: Option<String>,
    pub mode: Mode,
    pub interval: Duration,
    pub max_interval: Duration,
    pub timeout: Duration,
    pub backoff: Duration,
    pub request: Arc<[u8]>,
    /// Push nodes: silence after which the node is `stale`.
    pub stale_after: Duration,
    pub confirm_unhealthy: u32,
    pub confirm_healthy: u32,
    /// `shard = K`: the instance that watches this node, whatever its name
    /// hashes to. Push nodes need it to be sharded (they report to the instance
    /// their `ServerIP` names).
    pub shard: Option<u32>,
}

impl NodeConfig {
    /// Poll nodes: `host:port`, with brackets around an IPv6 literal. Push nodes:
    /// the IP they report, marked as pushed.
    pub fn address(&self) -> String {
        if self.mode == Mode::Push {
            return format!("{} (push)", self.host);
        }
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

/// The validated fleet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// How the file is named in messages and in the dashboard header.
    pub source: String,
    pub defaults: Defaults,
    /// Shared: the fleet state, the pollers and a reloaded config point at the same
    /// settings rather than each keeping a copy of 10,000 nodes.
    pub nodes: Vec<Arc<NodeConfig>>,
    /// Ring the terminal bell when a node turns unhealthy.
    pub bell: bool,
    /// The push receiver; present when `[listen]` is given or any node is a push node.
    pub listen: Option<ListenConfig>,
    /// `[http]`: the status page, API and `/metrics` (with `[metrics] bind`, its
    /// deprecated alias, folded in).
    pub http: HttpConfig,
    /// `[metrics] per_node_histograms`: a latency histogram per node, not only
    /// the fleet-wide one.
    pub per_node_histograms: bool,
    /// `[[alert]]` hooks.
    pub alerts: Vec<AlertHook>,
    /// A node with more than this many transitions within `flap_window` is marked
    /// as flapping.
    pub flap_threshold: usize,
    pub flap_window: Duration,
    /// `[reload] watch`: reload when the file changes (as `--watch-config` does).
    /// Read at start; a reload does not start or stop the watching.
    pub watch_config: bool,
    /// `[history]`: the history store.
    pub history: HistoryConfig,
    /// `[[notify]]` channels, in file order.
    pub notify: Vec<NotifyChannel>,
    /// `[heartbeat]`: the dead-man's switch, if configured.
    pub heartbeat: Option<HeartbeatConfig>,
    /// `[[maintenance]]` windows, in file order: when listed nodes and groups are
    /// under planned work (one-off or weekly). Empty: none.
    pub maintenance: Vec<MaintenanceWindow>,
    /// `[shard]` (or `--shard`, which overrides it): this instance watches only
    /// its share of the fleet. `None`: every node. The nodes are already narrowed
    /// to the shard by [`Selection::apply`].
    pub shard: Option<crate::model::Shard>,
    /// The `--node`/`--group`/`--shard` selection applied to this config; a
    /// reload applies it again.
    pub selection: Selection,
    /// The IPs of push nodes the file lists but `--node`/`--group` left out:
    /// their senders are not "unlisted".
    pub set_aside: Vec<IpAddr>,
    /// Sync groups that `--node`/`--group` chose only some members of. Their
    /// members keep the group's name (shown, and matched by notification routes
    /// and maintenance windows) but are judged each on its own: the group rule
    /// (exactly one Master, all in lock) needs every member, so it is not applied.
    pub partial_groups: BTreeSet<String>,
}

/// Which changes an alert hook runs for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AlertOn {
    /// A node became unhealthy.
    Unhealthy,
    /// An unhealthy node became healthy again.
    Recovered,
}

impl AlertOn {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertOn::Unhealthy => "unhealthy",
            AlertOn::Recovered => "recovered",
        }
    }
}

/// `[[alert]]`: a program run (never through a shell) when a node changes health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AlertHook {
    /// Program and arguments.
    pub command: Vec<String>,
    pub on: Vec<AlertOn>,
    /// Consecutive results in the new state before the hook fires.
    pub after: u32,
    /// The hook is killed after this long.
    pub timeout: Duration,
}

/// `[listen]`: where SyncGuard V3 nodes connect to push their state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListenConfig {
    pub bind: Vec<SocketAddr>,
    pub stale_after: Duration,
    /// Show senders that are not in the node list (true) or close them (false).
    pub allow_unlisted: bool,
    pub max_connections: usize,
    /// Peer networks allowed to connect; empty allows every peer.
    pub allow_from: Vec<ipnet::IpNet>,
}

impl ListenConfig {
    /// Whether a peer may connect, by `allow_from`.
    pub fn allows(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.allow_from.is_empty() || self.allow_from.iter().any(|net| net.contains(&peer))
    }
}

impl Default for ListenConfig {
    fn default() -> Self {
        ListenConfig {
            bind: vec![SocketAddr::from(([0, 0, 0, 0], 8080))],
            stale_after: Duration::from_secs(30),
            allow_unlisted: true,
            max_connections: 4096,
            allow_from: Vec::new(),
        }
    }
}

impl Config {
    pub fn poll_nodes(&self) -> impl Iterator<Item = (usize, &Arc<NodeConfig>)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.mode == Mode::Poll)
    }

    pub fn push_nodes(&self) -> impl Iterator<Item = (usize, &Arc<NodeConfig>)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.mode == Mode::Push)
    }

    /// Push node ids by the IP they write into their lines, in canonical form so an
    /// IPv4-mapped peer on a `[::]` socket matches its IPv4 node.
    pub fn push_directory(&self) -> std::collections::HashMap<IpAddr, usize> {
        self.push_nodes()
            .filter_map(|(id, n)| {
                n.host
                    .parse::<IpAddr>()
                    .ok()
                    .map(|ip| (ip.to_canonical(), id))
            })
            .collect()
    }
}

impl Config {
    /// Reads and validates a config file.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let label = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|cause| ConfigError::Read {
            path: label.clone(),
            cause,
        })?;
        let text = String::from_utf8(bytes).map_err(|e| {
            let b = e.as_bytes();
            let hint = if b.starts_with(&[0xff, 0xfe]) || b.starts_with(&[0xfe, 0xff]) {
                " (it looks like UTF-16; save it as UTF-8)"
            } else {
                ""
            };
            ConfigError::NotUtf8 {
                path: label.clone(),
                hint,
            }
        })?;
        Config::from_text_at(&text, path)
    }

    /// Validates `text` as if it were the contents of the file at `path`: named
    /// by it in errors, with relative paths resolved beside it. `path` is taken as
    /// given, a symlink included, so this is exactly what [`Config::load`] of that
    /// path would see; `discover --append` checks a new version this way before it
    /// replaces the file.
    pub fn from_text_at(text: &str, path: &Path) -> Result<Config, ConfigError> {
        let label = path.display().to_string();
        // A relative store path means "beside the fleet file", wherever the monitor
        // was started from.
        // So is a relative token file, and so are the `*_file` secrets of
        // `[[notify]]` and `[heartbeat]`. Those are read during validation (an
        // unreadable one is an error at its line), so the directory goes in;
        // the store and the token are only opened later and are joined here.
        let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
        let mut config = Config::parse_in(text, &label, dir)?;
        if let Some(p) = config.history.path.as_mut().filter(|p| p.is_relative())
            && let Some(dir) = dir
        {
            *p = dir.join(&*p);
        }
        if let Some(TokenSource::File(p)) = config.http.token.as_mut()
            && p.is_relative()
            && let Some(dir) = dir
        {
            *p = dir.join(&*p);
        }
        Ok(config)
    }

    /// Validates config text; `label` names it in errors. There is no file, so
    /// relative `*_file` secret paths and `nodes_file` are read from the working
    /// directory.
    pub fn parse(text: &str, label: &str) -> Result<Config, ConfigError> {
        Config::parse_in(text, label, None)
    }

    /// `dir`: where relative `*_file` secret paths and `nodes_file` are (the config file's
    /// directory); `None` is the working directory. A parameter rather than a
    /// field of `Cx`: only the secret readers need it.
    fn parse_in(text: &str, label: &str, dir: Option<&Path>) -> Result<Config, ConfigError> {
        // A UTF-8 byte-order mark is harmless; TOML parsers reject it.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let cx = Cx { text, label };
        let raw: RawFile = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
        cx.validate(raw, dir)
    }
}

impl Cx<'_> {
    /// One validator per table, in this order, so that of several mistakes the
    /// same one is reported first every time.
    fn validate(&self, raw: RawFile, dir: Option<&Path>) -> Result<Config, ConfigError> {
        let defaults = self.defaults(raw.defaults.as_ref())?;
        let listen = self.listen(raw.listen.as_ref())?;
        let stale_after = listen
            .as_ref()
            .map_or(ListenConfig::default().stale_after, |l| l.stale_after);
        let shard = self.shard(raw.shard.as_ref())?;
        // `nodes_file` rows come after the tables and go through the same checks.
        let file = self.nodes_file(raw.nodes_file.as_ref(), dir)?;
        let rows = match &file {
            Some(f) => f.rows()?,
            None => Vec::new(),
        };
        let nodes = self.nodes(
            &raw.node,
            &rows,
            file.as_ref().map(|f| f.label.as_str()),
            &defaults,
            stale_after,
            shard,
        )?;
        // A push node needs the receiver even when `[listen]` is left out.
        let listen = listen.or_else(|| {
            nodes
                .iter()
                .any(|n| n.mode == Mode::Push)
                .then(ListenConfig::default)
        });
        let metrics = self.metrics(raw.metrics.as_ref())?;
        let http = self.http(raw.http.as_ref(), metrics.bind)?;
        let alerts = self.alerts(&raw.alert)?;
        // After the nodes: a channel's globs must each match a node or a group.
        let notify = self.notify(&raw.notify, &nodes, dir)?;
        let heartbeat = self.heartbeat(raw.heartbeat.as_ref(), dir)?;
        let dashboard = self.dashboard(raw.dashboard.as_ref())?;
        let watch_config = self.reload(raw.reload.as_ref())?;
        let history = self.history(raw.history.as_ref())?;
        // After the nodes: a window's globs must each match a node or a group.
        let maintenance = self.maintenance(&raw.maintenance, &nodes)?;
        Ok(Config {
            source: self.label.to_owned(),
            defaults,
            nodes: nodes.into_iter().map(Arc::new).collect(),
            bell: dashboard.bell,
            listen,
            http,
            per_node_histograms: metrics.per_node_histograms,
            alerts,
            flap_threshold: dashboard.flap_threshold,
            flap_window: dashboard.flap_window,
            watch_config,
            history,
            notify,
            heartbeat,
            maintenance,
            shard,
            selection: Selection::default(),
            set_aside: Vec::new(),
            partial_groups: BTreeSet::new(),
        })
    }
}

/// One valid node, for tests that add a table to it.
#[cfg(test)]
const ONE: &str = "[[node]]\nname = \"wall-01\"\nhost = \"192.168.0.201\"\n";

/// Parses `text` as `fleet.toml`, with errors as their message.
#[cfg(test)]
fn parse(text: &str) -> Result<Config, String> {
    Config::parse(text, "fleet.toml").map_err(|e| e.to_string())
}

/// Each text must fail with a message that starts with its expected prefix.
#[cfg(test)]
fn assert_errors(cases: &[(&str, &str)]) {
    for (text, want) in cases {
        let got = parse(text).expect_err(text);
        assert!(
            got.starts_with(want),
            "for {text:?}\n got: {got}\nwant: {want}"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_file_and_utf16_are_clear() {
        let dir = tempfile::tempdir().expect("tempdir");
        let missing = dir.path().join("nope.toml");
        let e = Config::load(&missing).expect_err("missing").to_string();
        assert!(e.contains("nope.toml: cannot read config"), "{e}");
        let utf16 = dir.path().join("u16.toml");
        let mut bytes = vec![0xff, 0xfe];
        for u in "[[node]]\n".encode_utf16() {
            bytes.extend_from_slice(&u.to_le_bytes());
        }
        std::fs::write(&utf16, bytes).expect("write");
        let e = Config::load(&utf16).expect_err("utf16").to_string();
        assert!(e.contains("looks like UTF-16"), "{e}");
    }
}

//! `fleet.toml` → one validated [`Config`]. Every error names the file, the
//! line:column and the key, because the person reading it is fixing a file at 3 a.m.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::status::UnreachablePolicy;

/// Default for `[dashboard] flap_threshold`: more transitions than this in the window
/// mark a node as flapping.
pub const FLAP_THRESHOLD: usize = 4;
/// Default for `[dashboard] flap_window`.
pub const FLAP_WINDOW: Duration = Duration::from_secs(10 * 60);

/// The longest duration any setting may have.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);

/// Where the config is looked for when neither `--config` nor the environment says.
pub const DEFAULT_PATH: &str = "fleet.toml";
/// Environment variable that overrides [`DEFAULT_PATH`].
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
    pub nodes: Vec<NodeConfig>,
    /// Ring the terminal bell when a node turns unhealthy.
    pub bell: bool,
    /// The push receiver; present when `[listen]` is given or any node is a push node.
    pub listen: Option<ListenConfig>,
    /// `[metrics] bind`: where to serve `/metrics`.
    pub metrics: Option<SocketAddr>,
    /// `[[alert]]` hooks.
    pub alerts: Vec<AlertHook>,
    /// A node with more than this many transitions within `flap_window` is marked
    /// as flapping.
    pub flap_threshold: usize,
    pub flap_window: Duration,
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
    pub fn poll_nodes(&self) -> impl Iterator<Item = (usize, &NodeConfig)> {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.mode == Mode::Poll)
    }

    pub fn push_nodes(&self) -> impl Iterator<Item = (usize, &NodeConfig)> {
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

/// A config that could not be used. Printed as is; exit code 3.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    // The io error is part of the message, not a `source`: printed with its cause
    // chain it would otherwise appear twice.
    #[error("{path}: cannot read config: {cause} (choose a file with --config PATH or {ENV_VAR})")]
    Read { path: String, cause: std::io::Error },
    #[error("{path}: config is not UTF-8 text{hint}")]
    NotUtf8 { path: String, hint: &'static str },
    #[error("{path}:{line}:{column}: {key}: {message}")]
    Invalid {
        path: String,
        line: usize,
        column: usize,
        key: String,
        message: String,
    },
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
        Config::parse(&text, &label)
    }

    /// Validates config text; `label` names it in errors.
    pub fn parse(text: &str, label: &str) -> Result<Config, ConfigError> {
        // A UTF-8 byte-order mark is harmless; TOML parsers reject it.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let cx = Cx { text, label };
        let raw: RawFile = toml::from_str(text).map_err(|e| cx.toml_error(&e))?;
        cx.validate(raw)
    }
}

/// The default config path: the environment variable, else `./fleet.toml`.
pub fn default_path() -> PathBuf {
    std::env::var_os(ENV_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_PATH))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    defaults: Option<RawDefaults>,
    #[serde(default)]
    node: Vec<Spanned<RawNode>>,
    dashboard: Option<RawDashboard>,
    listen: Option<RawListen>,
    metrics: Option<RawMetrics>,
    #[serde(default)]
    alert: Vec<Spanned<RawAlert>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawListen {
    bind: Option<Vec<Spanned<String>>>,
    stale_after: Option<Spanned<String>>,
    allow_unlisted: Option<bool>,
    max_connections: Option<Spanned<i64>>,
    allow_from: Option<Vec<Spanned<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    port: Option<Spanned<i64>>,
    interval: Option<Spanned<String>>,
    max_interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    backoff: Option<Spanned<String>>,
    request: Option<Spanned<String>>,
    unreachable: Option<Spanned<String>>,
    max_connecting: Option<Spanned<i64>>,
    confirm_unhealthy: Option<Spanned<i64>>,
    confirm_healthy: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawNode {
    name: Option<Spanned<String>>,
    host: Option<Spanned<String>>,
    port: Option<Spanned<i64>>,
    group: Option<Spanned<String>>,
    interval: Option<Spanned<String>>,
    max_interval: Option<Spanned<String>>,
    timeout: Option<Spanned<String>>,
    backoff: Option<Spanned<String>>,
    request: Option<Spanned<String>>,
    mode: Option<Spanned<String>>,
    stale_after: Option<Spanned<String>>,
    confirm_unhealthy: Option<Spanned<i64>>,
    confirm_healthy: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDashboard {
    bell: Option<bool>,
    flap_threshold: Option<Spanned<i64>>,
    flap_window: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    bind: Spanned<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAlert {
    command: Spanned<Vec<String>>,
    on: Option<Spanned<Vec<String>>>,
    after: Option<Spanned<i64>>,
    timeout: Option<Spanned<String>>,
}

/// The text being validated, for turning byte spans into messages.
struct Cx<'a> {
    text: &'a str,
    label: &'a str,
}

impl Cx<'_> {
    fn err(
        &self,
        span: Range<usize>,
        key: impl fmt::Display,
        message: impl fmt::Display,
    ) -> ConfigError {
        let (line, column) = line_col(self.text, span.start);
        ConfigError::Invalid {
            path: self.label.to_owned(),
            line,
            column,
            key: key.to_string(),
            message: message.to_string(),
        }
    }

    fn toml_error(&self, e: &toml::de::Error) -> ConfigError {
        let span = e.span().unwrap_or(0..0);
        let key = key_path_at(self.text, span.start);
        // toml's message may span lines (it can quote the source); keep one line.
        let message = e.message().trim().replace('\n', " ");
        self.err(span, key, message)
    }

    fn validate(&self, raw: RawFile) -> Result<Config, ConfigError> {
        let base = Defaults::default();
        let d = raw.defaults.unwrap_or(RawDefaults {
            port: None,
            interval: None,
            max_interval: None,
            timeout: None,
            backoff: None,
            request: None,
            unreachable: None,
            max_connecting: None,
            confirm_unhealthy: None,
            confirm_healthy: None,
        });
        let defaults = Defaults {
            port: self.port(&d.port, "defaults.port", base.port)?,
            interval: self.duration(&d.interval, "defaults.interval", base.interval)?,
            max_interval: self.duration(
                &d.max_interval,
                "defaults.max_interval",
                base.max_interval,
            )?,
            timeout: self.duration(&d.timeout, "defaults.timeout", base.timeout)?,
            backoff: self.duration(&d.backoff, "defaults.backoff", base.backoff)?,
            request: self.request(&d.request, "defaults.request", &base.request)?,
            unreachable: match &d.unreachable {
                None => base.unreachable,
                Some(v) => match v.get_ref().as_str() {
                    "critical" => UnreachablePolicy::Critical,
                    "warning" => UnreachablePolicy::Warning,
                    other => {
                        return Err(self.err(
                            v.span(),
                            "defaults.unreachable",
                            format!("expected \"critical\" or \"warning\", got {other:?}"),
                        ));
                    }
                },
            },
            max_connecting: match &d.max_connecting {
                None => base.max_connecting,
                Some(v) if (1..=65_536).contains(v.get_ref()) => *v.get_ref() as usize,
                Some(v) => {
                    return Err(self.err(
                        v.span(),
                        "defaults.max_connecting",
                        format!("must be between 1 and 65536, got {}", v.get_ref()),
                    ));
                }
            },
            confirm_unhealthy: self.count(
                &d.confirm_unhealthy,
                "defaults.confirm_unhealthy",
                base.confirm_unhealthy,
            )?,
            confirm_healthy: self.count(
                &d.confirm_healthy,
                "defaults.confirm_healthy",
                base.confirm_healthy,
            )?,
        };
        if defaults.interval > defaults.max_interval {
            let span = d
                .interval
                .as_ref()
                .or(d.max_interval.as_ref())
                .map(|s| s.span())
                .unwrap_or(0..0);
            return Err(self.interval_order(
                span,
                "defaults",
                &defaults.interval,
                &defaults.max_interval,
            ));
        }

        let listen_defaults = ListenConfig::default();
        let mut listen = match &raw.listen {
            None => None,
            Some(l) => Some(ListenConfig {
                bind: match &l.bind {
                    None => listen_defaults.bind.clone(),
                    Some(list) if list.is_empty() => {
                        let span = self.find_key("listen", "bind");
                        return Err(self.err(
                            span,
                            "listen.bind",
                            "must list at least one address, e.g. [\"0.0.0.0:8080\"]",
                        ));
                    }
                    Some(list) => {
                        let mut out = Vec::with_capacity(list.len());
                        for (i, b) in list.iter().enumerate() {
                            let addr: SocketAddr = b.get_ref().trim().parse().map_err(|_| {
                                self.err(
                                    b.span(),
                                    format!("listen.bind[{i}]"),
                                    format!(
                                        "invalid bind address {:?}: expected IP:PORT, e.g. \"0.0.0.0:8080\" or \"[::]:8080\"",
                                        b.get_ref()
                                    ),
                                )
                            })?;
                            out.push(addr);
                        }
                        out
                    }
                },
                stale_after: self.duration(
                    &l.stale_after,
                    "listen.stale_after",
                    listen_defaults.stale_after,
                )?,
                allow_unlisted: l.allow_unlisted.unwrap_or(listen_defaults.allow_unlisted),
                max_connections: match &l.max_connections {
                    None => listen_defaults.max_connections,
                    Some(v) if (1..=1_000_000).contains(v.get_ref()) => *v.get_ref() as usize,
                    Some(v) => {
                        return Err(self.err(
                            v.span(),
                            "listen.max_connections",
                            format!("must be between 1 and 1000000, got {}", v.get_ref()),
                        ));
                    }
                },
                allow_from: match &l.allow_from {
                    None => Vec::new(),
                    Some(list) => {
                        let mut nets = Vec::with_capacity(list.len());
                        for (i, n) in list.iter().enumerate() {
                            let text = n.get_ref().trim();
                            // A bare address means just that host.
                            let net = text
                                .parse::<ipnet::IpNet>()
                                .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
                                .map_err(|_| {
                                    self.err(
                                        n.span(),
                                        format!("listen.allow_from[{i}]"),
                                        format!(
                                            "invalid network {:?}: expected CIDR like \"10.0.0.0/8\" or an IP address",
                                            n.get_ref()
                                        ),
                                    )
                                })?;
                            nets.push(net);
                        }
                        nets
                    }
                },
            }),
        };
        let stale_default = listen
            .as_ref()
            .map(|l| l.stale_after)
            .unwrap_or(listen_defaults.stale_after);
        let mut push_ips: std::collections::HashMap<IpAddr, usize> = Default::default();

        if raw.node.is_empty() {
            let end = self.text.len();
            return Err(self.err(
                end..end,
                "node",
                "no nodes: add at least one [[node]] table with name and host",
            ));
        }
        let mut nodes: Vec<NodeConfig> = Vec::with_capacity(raw.node.len());
        let mut seen = std::collections::HashMap::with_capacity(raw.node.len());
        for (i, spanned) in raw.node.iter().enumerate() {
            let at = spanned.span();
            let n = spanned.get_ref();
            let key = |k: &str| format!("node[{i}].{k}");
            let name = self.required_text(&n.name, at.clone(), &key("name"))?;
            if let Some(first) = seen.insert(name.get_ref().clone(), i) {
                let (first_line, _) = line_col(self.text, raw.node[first].span().start);
                return Err(self.err(
                    name.span(),
                    key("name"),
                    format!(
                        "duplicate name {:?} (first used by node[{first}] at line {first_line})",
                        name.get_ref()
                    ),
                ));
            }
            let host = self.required_text(&n.host, at.clone(), &key("host"))?;
            if host
                .get_ref()
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
            {
                return Err(self.err(
                    host.span(),
                    key("host"),
                    format!("{:?} is not a host name or IP address", host.get_ref()),
                ));
            }
            let group = match &n.group {
                None => None,
                Some(g) if g.get_ref().trim().is_empty() => {
                    return Err(self.err(
                        g.span(),
                        key("group"),
                        "must not be empty (leave it out instead)",
                    ));
                }
                Some(g) => Some(g.get_ref().clone()),
            };
            let mode = match &n.mode {
                None => Mode::Poll,
                Some(m) => match m.get_ref().as_str() {
                    "poll" => Mode::Poll,
                    "push" => Mode::Push,
                    other => {
                        return Err(self.err(
                            m.span(),
                            key("mode"),
                            format!("expected \"poll\" or \"push\", got {other:?}"),
                        ));
                    }
                },
            };
            let host_text = host
                .get_ref()
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            if mode == Mode::Push {
                // A pushed line names its sender only by the IP inside it.
                let Ok(ip) = host_text.parse::<IpAddr>() else {
                    return Err(self.err(
                        host.span(),
                        key("host"),
                        format!(
                            "push nodes are matched by the IP they write in their lines, so host must be an IP address, got {:?}",
                            host.get_ref()
                        ),
                    ));
                };
                if let Some(first) = push_ips.insert(ip.to_canonical(), i) {
                    return Err(self.err(
                        host.span(),
                        key("host"),
                        format!("{ip} is already the host of push node node[{first}]; their lines could not be told apart"),
                    ));
                }
            } else if let Some(st) = &n.stale_after {
                return Err(self.err(
                    st.span(),
                    key("stale_after"),
                    "only push nodes go stale; add mode = \"push\" or remove it",
                ));
            }
            let node = NodeConfig {
                name: name.get_ref().clone(),
                host: host_text,
                port: self.port(&n.port, &key("port"), defaults.port)?,
                group,
                mode,
                stale_after: self.duration(&n.stale_after, &key("stale_after"), stale_default)?,
                confirm_unhealthy: self.count(
                    &n.confirm_unhealthy,
                    &key("confirm_unhealthy"),
                    defaults.confirm_unhealthy,
                )?,
                confirm_healthy: self.count(
                    &n.confirm_healthy,
                    &key("confirm_healthy"),
                    defaults.confirm_healthy,
                )?,
                interval: self.duration(&n.interval, &key("interval"), defaults.interval)?,
                max_interval: self.duration(
                    &n.max_interval,
                    &key("max_interval"),
                    defaults.max_interval,
                )?,
                timeout: self.duration(&n.timeout, &key("timeout"), defaults.timeout)?,
                backoff: self.duration(&n.backoff, &key("backoff"), defaults.backoff)?,
                request: self.request(&n.request, &key("request"), &defaults.request)?,
            };
            if node.interval > node.max_interval {
                let span = n
                    .interval
                    .as_ref()
                    .or(n.max_interval.as_ref())
                    .map(|s| s.span())
                    .unwrap_or(at.clone());
                return Err(self.interval_order(
                    span,
                    &format!("node[{i}]"),
                    &node.interval,
                    &node.max_interval,
                ));
            }
            nodes.push(node);
        }
        if listen.is_none() && nodes.iter().any(|n| n.mode == Mode::Push) {
            listen = Some(listen_defaults);
        }
        let metrics = match &raw.metrics {
            None => None,
            Some(m) => Some(m.bind.get_ref().trim().parse::<SocketAddr>().map_err(|_| {
                self.err(
                    m.bind.span(),
                    "metrics.bind",
                    format!(
                        "invalid address {:?}: expected IP:PORT, e.g. \"127.0.0.1:9108\"",
                        m.bind.get_ref()
                    ),
                )
            })?),
        };
        let mut alerts = Vec::with_capacity(raw.alert.len());
        for (i, a) in raw.alert.iter().enumerate() {
            alerts.push(self.alert(i, a)?);
        }
        let (flap_threshold, flap_window) = match &raw.dashboard {
            None => (FLAP_THRESHOLD, FLAP_WINDOW),
            Some(d) => (
                self.count(
                    &d.flap_threshold,
                    "dashboard.flap_threshold",
                    FLAP_THRESHOLD as u32,
                )? as usize,
                self.duration(&d.flap_window, "dashboard.flap_window", FLAP_WINDOW)?,
            ),
        };
        Ok(Config {
            source: self.label.to_owned(),
            defaults,
            nodes,
            bell: raw.dashboard.as_ref().and_then(|d| d.bell).unwrap_or(true),
            listen,
            metrics,
            alerts,
            flap_threshold,
            flap_window,
        })
    }

    /// Where `key` stands inside `[table]`, for errors about a value serde already
    /// accepted. Falls back to the table header, or the start of the file.
    fn find_key(&self, table: &str, key: &str) -> Range<usize> {
        let header = format!("[{table}]");
        let start = self.text.find(&header).unwrap_or(0);
        let pos = self.text[start..]
            .find(key)
            .map(|p| start + p)
            .unwrap_or(start);
        pos..pos
    }

    /// A whole number of results, at least 1.
    fn count(&self, v: &Option<Spanned<i64>>, key: &str, default: u32) -> Result<u32, ConfigError> {
        match v {
            None => Ok(default),
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(c) if (1..=1000).contains(&c) => Ok(c),
                _ => Err(self.err(
                    n.span(),
                    key,
                    format!("must be between 1 and 1000, got {}", n.get_ref()),
                )),
            },
        }
    }

    fn alert(&self, i: usize, a: &Spanned<RawAlert>) -> Result<AlertHook, ConfigError> {
        let a = a.get_ref();
        let key = |k: &str| format!("alert[{i}].{k}");
        let command = a.command.get_ref().clone();
        if command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(self.err(
                a.command.span(),
                key("command"),
                "must name a program, e.g. [\"/usr/local/bin/notify\", \"--team\", \"wall\"]",
            ));
        }
        let on = match &a.on {
            None => vec![AlertOn::Unhealthy, AlertOn::Recovered],
            Some(list) => {
                let mut on = Vec::new();
                for v in list.get_ref() {
                    on.push(match v.as_str() {
                        "unhealthy" => AlertOn::Unhealthy,
                        "recovered" => AlertOn::Recovered,
                        other => {
                            return Err(self.err(
                                list.span(),
                                key("on"),
                                format!("unknown event {other:?}; use \"unhealthy\" and/or \"recovered\""),
                            ));
                        }
                    });
                }
                if on.is_empty() {
                    return Err(self.err(list.span(), key("on"), "must list at least one event"));
                }
                on
            }
        };
        Ok(AlertHook {
            command,
            on,
            after: self.count(&a.after, &key("after"), 1)?,
            timeout: self.duration(&a.timeout, &key("timeout"), Duration::from_secs(10))?,
        })
    }

    fn interval_order(
        &self,
        span: Range<usize>,
        table: &str,
        interval: &Duration,
        max: &Duration,
    ) -> ConfigError {
        self.err(
            span,
            format!("{table}.interval"),
            format!(
                "interval ({}) is longer than max_interval ({}); polls wait a random time between the two",
                humantime::format_duration(*interval),
                humantime::format_duration(*max)
            ),
        )
    }

    fn required_text<'r>(
        &self,
        v: &'r Option<Spanned<String>>,
        table: Range<usize>,
        key: &str,
    ) -> Result<&'r Spanned<String>, ConfigError> {
        match v {
            None => Err(self.err(table, key, "missing (required)")),
            Some(s) if s.get_ref().trim().is_empty() => {
                Err(self.err(s.span(), key, "must not be empty"))
            }
            Some(s) => Ok(s),
        }
    }

    fn port(&self, v: &Option<Spanned<i64>>, key: &str, default: u16) -> Result<u16, ConfigError> {
        match v {
            None => Ok(default),
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(port) if port != 0 => Ok(port),
                _ => Err(self.err(
                    p.span(),
                    key,
                    format!("port must be between 1 and 65535, got {}", p.get_ref()),
                )),
            },
        }
    }

    fn duration(
        &self,
        v: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        let Some(s) = v else { return Ok(default) };
        // humantime would read "5 sec" as five seconds; a number cut off from its unit
        // is more often a typo ("5 0s"), so the unit must follow the number directly.
        let raw = s.get_ref();
        let detached = raw
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_digit() && w[1].is_ascii_whitespace());
        if detached
            || raw
                .trim()
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_digit())
        {
            return Err(self.err(
                s.span(),
                key,
                format!("invalid duration {raw:?}: write the unit right after the number (examples: \"500ms\", \"5s\", \"1m 30s\")"),
            ));
        }
        match humantime::parse_duration(raw) {
            Ok(d) if d.is_zero() => Err(self.err(s.span(), key, "must be longer than zero")),
            // Far beyond any sensible setting, and small enough that adding it to a
            // clock reading can never overflow.
            Ok(d) if d > MAX_DURATION => Err(self.err(s.span(), key, "must be at most 1 year")),
            Ok(d) => Ok(d),
            Err(e) => Err(self.err(
                s.span(),
                key,
                format!(
                    "invalid duration {:?}: {e} (examples: \"500ms\", \"5s\", \"1m 30s\")",
                    s.get_ref()
                ),
            )),
        }
    }

    fn request(
        &self,
        v: &Option<Spanned<String>>,
        key: &str,
        default: &Arc<[u8]>,
    ) -> Result<Arc<[u8]>, ConfigError> {
        let Some(s) = v else {
            return Ok(default.clone());
        };
        let bytes = unescape(s.get_ref()).map_err(|m| self.err(s.span(), key, m))?;
        if bytes.is_empty() {
            return Err(self.err(s.span(), key, "must not be empty"));
        }
        Ok(Arc::from(bytes))
    }
}

/// Turns `\r`, `\n`, `\0` and `\\` written literally (as in a TOML literal string
/// `'GET_STATUS\r\n'`) into bytes. Basic strings already arrive unescaped by TOML.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('0') => out.push(0),
            Some('\\') => out.push(b'\\'),
            Some(other) => {
                return Err(format!(
                    "unknown escape \\{other} (allowed: \\r \\n \\0 \\\\)"
                ));
            }
            None => return Err("ends with a lone backslash".into()),
        }
    }
    Ok(out)
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

/// Best-effort dotted key path (`node[2].port`) for a byte offset, for errors that
/// come from the TOML parser itself. Covers headers and `key = value` lines.
fn key_path_at(text: &str, offset: usize) -> String {
    let offset = offset.min(text.len());
    let mut table = String::new();
    let mut array_counts: std::collections::HashMap<String, usize> = Default::default();
    let mut pos = 0usize;
    for line in text.split_inclusive('\n') {
        let line_end = pos + line.len();
        let trimmed = line.trim();
        if let Some(name) = trimmed
            .strip_prefix("[[")
            .and_then(|r| r.split("]]").next())
        {
            let name = name.trim().to_owned();
            let n = array_counts.entry(name.clone()).or_insert(0);
            table = format!("{name}[{n}]");
            *n += 1;
        } else if let Some(name) = trimmed.strip_prefix('[').and_then(|r| r.split(']').next()) {
            table = name.trim().to_owned();
        }
        if offset < line_end || line_end == text.len() {
            let is_header = trimmed.starts_with('[');
            let key = if is_header {
                None
            } else {
                trimmed
                    .split_once('=')
                    .map(|(k, _)| k.trim().trim_matches('"').trim_matches('\'').to_owned())
                    .filter(|k| !k.is_empty())
            };
            return match (table.is_empty(), key) {
                (true, Some(k)) => k,
                (false, Some(k)) => format!("{table}.{k}"),
                (true, None) => "(top level)".into(),
                (false, None) => table,
            };
        }
        pos = line_end;
    }
    "(top level)".into()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, String> {
        Config::parse(text, "fleet.toml").map_err(|e| e.to_string())
    }

    const ONE: &str = "[[node]]\nname = \"wall-01\"\nhost = \"192.168.0.201\"\n";

    #[test]
    fn defaults_apply_when_absent() {
        let c = parse(ONE).expect("valid");
        let n = &c.nodes[0];
        assert_eq!(n.port, 8080);
        assert_eq!(n.interval, Duration::from_secs(5));
        assert_eq!(n.max_interval, Duration::from_secs(10));
        assert_eq!(n.timeout, Duration::from_secs(5));
        assert_eq!(n.backoff, Duration::from_secs(30));
        assert_eq!(&*n.request, b"GET_STATUS");
        assert_eq!(c.defaults.unreachable, UnreachablePolicy::Critical);
        assert_eq!(n.address(), "192.168.0.201:8080");
        assert!(c.bell);
    }

    #[test]
    fn node_overrides_defaults() {
        let c = parse(
            "[defaults]\nport = 9000\ninterval = \"1s\"\nmax_interval = \"2s\"\nrequest = 'GET_STATUS\\r\\n'\nunreachable = \"warning\"\n\
             [[node]]\nname = \"a\"\nhost = \"::1\"\nport = 7000\ngroup = \"g\"\ntimeout = \"250ms\"\n\
             [[node]]\nname = \"b\"\nhost = \"b.example\"\n",
        )
        .expect("valid");
        assert_eq!(c.nodes[0].port, 7000);
        assert_eq!(c.nodes[0].address(), "[::1]:7000");
        assert_eq!(c.nodes[0].timeout, Duration::from_millis(250));
        assert_eq!(c.nodes[0].group.as_deref(), Some("g"));
        assert_eq!(c.nodes[1].port, 9000);
        assert_eq!(c.nodes[1].interval, Duration::from_secs(1));
        assert_eq!(&*c.nodes[1].request, b"GET_STATUS\r\n");
        assert_eq!(c.defaults.unreachable, UnreachablePolicy::Warning);
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let cases: &[(&str, &str)] = &[
            (
                "[defaults]\nintervall = \"5s\"\n[[node]]\nname=\"a\"\nhost=\"h\"\n",
                "fleet.toml:2:1: defaults.intervall: unknown field `intervall`",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\n[[node]]\nname = \"b\"\nhost = \"h\"\nprot = 1\n",
                "fleet.toml:7:1: node[1].prot: unknown field `prot`",
            ),
            (
                "[[node]]\nname = \"a\"\n",
                "fleet.toml:1:1: node[0].host: missing (required)",
            ),
            (
                "[[node]]\nhost = \"h\"\n",
                "fleet.toml:1:1: node[0].name: missing (required)",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\n[[node]]\nname = \"a\"\nhost = \"i\"\n",
                "fleet.toml:5:8: node[1].name: duplicate name \"a\" (first used by node[0] at line 1)",
            ),
            (
                "[defaults]\ntimeout = \"5 sec\"\n[[node]]\nname=\"a\"\nhost=\"h\"\n",
                "fleet.toml:2:11: defaults.timeout: invalid duration \"5 sec\"",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nport = 0\n",
                "fleet.toml:4:8: node[0].port: port must be between 1 and 65535, got 0",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nport = 70000\n",
                "fleet.toml:4:8: node[0].port: port must be between 1 and 65535, got 70000",
            ),
            (
                "[defaults]\ninterval = \"20s\"\n[[node]]\nname=\"a\"\nhost=\"h\"\n",
                "fleet.toml:2:12: defaults.interval: interval (20s) is longer than max_interval (10s)",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\nmax_interval = \"1s\"\n",
                "fleet.toml:4:16: node[0].interval: interval (5s) is longer than max_interval (1s)",
            ),
            (
                "[defaults]\nport = 9000\n",
                "fleet.toml:3:1: node: no nodes",
            ),
            ("", "fleet.toml:1:1: node: no nodes"),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nport = \"80\"\n",
                "fleet.toml:4:8: node[0].port: invalid type: string \"80\", expected i64",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\n[defaults]\nunreachable = \"maybe\"\n",
                "fleet.toml:5:15: defaults.unreachable: expected \"critical\" or \"warning\"",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nrequest = 'X\\q'\n",
                "fleet.toml:4:11: node[0].request: unknown escape \\q",
            ),
            ("[[node]\nname = \"a\"\n", "fleet.toml:1:"),
        ];
        for (text, want) in cases {
            let got = parse(text).expect_err(text);
            assert!(
                got.starts_with(want),
                "for {text:?}\n got: {got}\nwant: {want}"
            );
        }
    }

    #[test]
    fn listen_section_and_push_nodes() {
        let c = parse(
            "[listen]\nbind = [\"127.0.0.1:9000\", \"[::1]:9001\"]\nstale_after = \"20s\"\nallow_unlisted = false\nmax_connections = 10\n\
             [[node]]\nname = \"p\"\nhost = \"10.0.0.7\"\nmode = \"push\"\nstale_after = \"90s\"\n\
             [[node]]\nname = \"q\"\nhost = \"10.0.0.8\"\nmode = \"push\"\n\
             [[node]]\nname = \"r\"\nhost = \"render-r.example\"\n",
        )
        .expect("valid");
        let l = c.listen.as_ref().expect("listen");
        assert_eq!(l.bind.len(), 2);
        assert_eq!(l.stale_after, Duration::from_secs(20));
        assert!(!l.allow_unlisted);
        assert_eq!(l.max_connections, 10);
        assert_eq!(c.nodes[0].mode, Mode::Push);
        assert_eq!(c.nodes[0].stale_after, Duration::from_secs(90));
        assert_eq!(c.nodes[1].stale_after, Duration::from_secs(20));
        assert_eq!(c.nodes[2].mode, Mode::Poll);
        assert_eq!(c.push_directory().len(), 2);
        // A push node alone turns the receiver on with its defaults.
        let c =
            parse("[[node]]\nname = \"p\"\nhost = \"10.0.0.7\"\nmode = \"push\"\n").expect("valid");
        assert_eq!(c.listen, Some(ListenConfig::default()));
        // Poll only: no receiver.
        assert_eq!(parse(ONE).expect("valid").listen, None);
    }

    #[test]
    fn listen_errors_name_the_key() {
        let cases: &[(&str, &str)] = &[
            (
                "[[node]]\nname = \"p\"\nhost = \"render-07.example\"\nmode = \"push\"\n",
                "fleet.toml:3:8: node[0].host: push nodes are matched by the IP they write in their lines",
            ),
            (
                "[listen]\nbind = [\"0.0.0.0\"]\n[[node]]\nname = \"a\"\nhost = \"h\"\n",
                "fleet.toml:2:9: listen.bind[0]: invalid bind address \"0.0.0.0\"",
            ),
            (
                "[listen]\nbind = []\n[[node]]\nname = \"a\"\nhost = \"h\"\n",
                "fleet.toml:2:1: listen.bind: must list at least one address",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nmode = \"pull\"\n",
                "fleet.toml:4:8: node[0].mode: expected \"poll\" or \"push\", got \"pull\"",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nstale_after = \"5s\"\n",
                "fleet.toml:4:15: node[0].stale_after: only push nodes go stale",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"10.0.0.1\"\nmode = \"push\"\n[[node]]\nname = \"b\"\nhost = \"10.0.0.1\"\nmode = \"push\"\n",
                "fleet.toml:7:8: node[1].host: 10.0.0.1 is already the host of push node node[0]",
            ),
            (
                "[listen]\nmax_connections = 0\n[[node]]\nname = \"a\"\nhost = \"h\"\n",
                "fleet.toml:2:19: listen.max_connections: must be between 1 and 1000000, got 0",
            ),
            (
                "[listen]\nport = 1\n[[node]]\nname = \"a\"\nhost = \"h\"\n",
                "fleet.toml:2:1: listen.port: unknown field `port`",
            ),
        ];
        for (text, want) in cases {
            let got = parse(text).expect_err(text);
            assert!(
                got.starts_with(want),
                "for {text:?}\n got: {got}\nwant: {want}"
            );
        }
    }

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

    #[test]
    fn key_path_locator() {
        let t = "[defaults]\nport = 1\n[[node]]\nname = \"a\"\n[[node]]\nport = 2\n";
        assert_eq!(
            key_path_at(t, t.find("port = 1").unwrap_or(0)),
            "defaults.port"
        );
        assert_eq!(key_path_at(t, t.rfind("port").unwrap_or(0)), "node[1].port");
        assert_eq!(line_col(t, t.rfind("port").unwrap_or(0)), (6, 1));
    }
}

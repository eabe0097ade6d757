//! `[[notify]]` channels and `[heartbeat]`: where notifications go, which nodes and
//! groups they are about, how storms are batched and how long delivery is tried.
//! Secrets are read here, from `*_env` or `*_file` keys, never from the file
//! itself, so a missing variable is an error at its line; they are kept in
//! [`Secret`], which never prints.

use std::collections::HashMap;
use std::fmt;
use std::io::Read;
use std::net::Ipv6Addr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigError, Cx};
use super::raw::{RawHeartbeat, RawNotify};
use super::values::fleet_names;
use super::{AlertOn, NodeConfig};

/// What a channel speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// JSON in the Alertmanager webhook format (version 4), plus our `id`.
    Webhook,
    /// Slack incoming webhook (Mattermost and Rocket.Chat accept it too).
    Slack,
    /// A POST to an ntfy topic URL.
    Ntfy,
    /// `POST /api/v2/alerts` to every Alertmanager of a cluster.
    Alertmanager,
    /// SMTP through lettre.
    Email,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Webhook => "webhook",
            ChannelKind::Slack => "slack",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Alertmanager => "alertmanager",
            ChannelKind::Email => "email",
        }
    }

    pub const ALL: [ChannelKind; 5] = [
        ChannelKind::Webhook,
        ChannelKind::Slack,
        ChannelKind::Ntfy,
        ChannelKind::Alertmanager,
        ChannelKind::Email,
    ];
}

/// A secret read from the environment or a file at load time. Its `Debug` is
/// `<redacted>`, so a config printed in a log or a test failure never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

/// How the email channel talks to its SMTP server.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain connection upgraded with STARTTLS (required). Port 587 by default.
    Starttls,
    /// TLS from the first byte ("SMTPS"). Port 465 by default.
    Tls,
    /// No encryption: for a local relay only. Port 25 by default.
    None,
}

/// `type = "email"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmailConfig {
    pub host: String,
    pub port: u16,
    pub tls: SmtpTls,
    /// `From:` mailbox, e.g. `SyncGuard <syncguard@example.com>`.
    pub from: String,
    /// `To:` mailboxes, at least one.
    pub to: Vec<String>,
    pub username: Option<String>,
    /// `password_env` / `password_file`.
    pub password: Option<Secret>,
}

/// One `[[notify]]` table, validated. `Debug` is written out below: URLs from
/// `url_env`/`url_file` are shown as [`redact_url`] does.
#[derive(Clone, PartialEq, Eq)]
pub struct NotifyChannel {
    /// Unique among channels; names the channel in logs, metrics and the outbox.
    pub name: String,
    pub kind: ChannelKind,
    /// Where to send (every type but email): absolute http(s) URLs, no inline
    /// password. Alertmanager URLs are base URLs (`/api/v2/alerts` is appended).
    pub urls: Vec<url::Url>,
    /// The URLs came from `url_env`/`url_file` (a Slack webhook URL is itself the
    /// secret): logs show their scheme and host only.
    pub urls_secret: bool,
    /// Node-name globs; empty: every node.
    pub nodes: Vec<String>,
    /// Group-name globs; empty: every group (and nodes in no group).
    pub groups: Vec<String>,
    pub on: Vec<AlertOn>,
    /// Transitions within this window go out as one notification.
    pub group_wait: Duration,
    /// Remind while still unhealthy; `None`: never (the default).
    pub repeat_interval: Option<Duration>,
    /// Stop retrying a notification this long after it was made.
    pub give_up_after: Duration,
    /// Per request (connect, send, answer).
    pub timeout: Duration,
    /// Webhook: `secret_env`/`secret_file`, signs the body (HMAC-SHA256).
    pub secret: Option<Secret>,
    /// Webhook, ntfy, alertmanager: `token_env`/`token_file`, sent as
    /// `Authorization: Bearer …`.
    pub token: Option<Secret>,
    /// ntfy: the priority for unhealthy notifications, 1–5 (default 4, "high").
    pub priority: Option<u8>,
    /// Alertmanager: also send the always-firing `SyncGuardMonitorWatchdog` alert.
    pub watchdog: bool,
    /// `type = "email"` only.
    pub email: Option<EmailConfig>,
}

impl NotifyChannel {
    /// Whether logs must not show the URLs' paths: given by `url_env`/`url_file`,
    /// or a Slack webhook (its path is its key) or an ntfy topic (whoever knows
    /// it can read and post).
    pub fn url_is_secret(&self) -> bool {
        self.urls_secret || matches!(self.kind, ChannelKind::Slack | ChannelKind::Ntfy)
    }
}

/// Defaults of a `[[notify]]` table.
pub const GROUP_WAIT: Duration = Duration::from_secs(10);
pub const GIVE_UP_AFTER: Duration = Duration::from_secs(3600);
pub const NOTIFY_TIMEOUT: Duration = Duration::from_secs(10);

/// Defaults of `[heartbeat]`.
pub const HEARTBEAT_INTERVAL: Duration = Duration::from_secs(60);
pub const HEARTBEAT_TIMEOUT: Duration = Duration::from_secs(10);

/// `[heartbeat]`: a dead-man's switch, pinged while the monitor runs. `Debug`
/// hides a URL from `url_env`/`url_file`, as for [`NotifyChannel`].
#[derive(Clone, PartialEq, Eq)]
pub struct HeartbeatConfig {
    pub url: url::Url,
    /// The URL came from `url_env`/`url_file`.
    pub url_secret: bool,
    /// Default 1 minute.
    pub interval: Duration,
    /// Per ping; default 10 s.
    pub timeout: Duration,
}

/// Types that send to URLs (all but email).
const URL_KINDS: &[ChannelKind] = &[
    ChannelKind::Webhook,
    ChannelKind::Slack,
    ChannelKind::Ntfy,
    ChannelKind::Alertmanager,
];
/// Types that send a bearer token (Slack's URL is its own credential).
const TOKEN_KINDS: &[ChannelKind] = &[
    ChannelKind::Webhook,
    ChannelKind::Ntfy,
    ChannelKind::Alertmanager,
];
/// Reminders more often than this are noise that trains people to ignore them.
const MIN_REPEAT: Duration = Duration::from_secs(60);
/// A request still unanswered after this is a dead endpoint; the retries until
/// `give_up_after` are the place to wait longer, not one request.
const MAX_TIMEOUT: (Duration, &str) = (Duration::from_secs(300), "5m");
/// Pinging more often than this only loads the heartbeat service.
const MIN_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(1);
/// ntfy's "high": it vibrates the phone, which a broken wall deserves.
const NTFY_PRIORITY: u8 = 4;
/// How much of a secret file is read. A secret is one short line; a path that
/// names a log or a device by mistake must not be read whole (or for ever).
const SECRET_FILE_LIMIT: u64 = 64 * 1024;

/// A URL as logs and `Debug` may show it: scheme, host and port. The path and
/// query of a URL from `url_env`/`url_file` are the credential (a Slack webhook,
/// an ntfy topic), and any user name or password is left out too.
pub fn redact_url(url: &url::Url) -> String {
    let host = url.host_str().unwrap_or("");
    match url.port() {
        Some(port) => format!("{}://{host}:{port}/<redacted>", url.scheme()),
        None => format!("{}://{host}/<redacted>", url.scheme()),
    }
}

/// The URLs of a channel for `Debug`: as they are, or redacted when secret.
struct ShownUrls<'a>(&'a [url::Url], bool);

impl fmt::Debug for ShownUrls<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ShownUrls(urls, secret) = *self;
        if !secret {
            return fmt::Debug::fmt(urls, f);
        }
        f.debug_list().entries(urls.iter().map(redact_url)).finish()
    }
}

impl fmt::Debug for NotifyChannel {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Destructured so that a new field does not compile until it is shown
        // here too (and its secrecy thought about).
        let NotifyChannel {
            name,
            kind,
            urls,
            urls_secret,
            nodes,
            groups,
            on,
            group_wait,
            repeat_interval,
            give_up_after,
            timeout,
            secret,
            token,
            priority,
            watchdog,
            email,
        } = self;
        f.debug_struct("NotifyChannel")
            .field("name", name)
            .field("kind", kind)
            .field("urls", &ShownUrls(urls, *urls_secret))
            .field("urls_secret", urls_secret)
            .field("nodes", nodes)
            .field("groups", groups)
            .field("on", on)
            .field("group_wait", group_wait)
            .field("repeat_interval", repeat_interval)
            .field("give_up_after", give_up_after)
            .field("timeout", timeout)
            .field("secret", secret)
            .field("token", token)
            .field("priority", priority)
            .field("watchdog", watchdog)
            .field("email", email)
            .finish()
    }
}

impl fmt::Debug for HeartbeatConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let HeartbeatConfig {
            url,
            url_secret,
            interval,
            timeout,
        } = self;
        f.debug_struct("HeartbeatConfig")
            .field("url", &ShownUrls(std::slice::from_ref(url), *url_secret))
            .field("url_secret", url_secret)
            .field("interval", interval)
            .field("timeout", timeout)
            .finish()
    }
}

/// What the channels' filters are checked against.
struct Fleet<'a> {
    nodes: Vec<&'a str>,
    groups: Vec<&'a str>,
    /// Where relative `*_file` paths are; `None`: the working directory.
    dir: Option<&'a Path>,
}

/// The keys that name a channel's URL; exactly one is given.
struct UrlKeys<'r> {
    url: &'r Option<Spanned<String>>,
    /// `None` for `[heartbeat]`, which pings one URL.
    urls: Option<&'r Option<Spanned<Vec<Spanned<String>>>>>,
    url_env: &'r Option<Spanned<String>>,
    url_file: &'r Option<Spanned<String>>,
}

/// A secret as read, with what messages about it may say instead of its value.
struct ReadSecret {
    value: String,
    span: Range<usize>,
    key: String,
    /// `environment variable NAME` or the file's path.
    origin: String,
}

/// Why a URL cannot be used.
enum UrlFault {
    Invalid(url::ParseError),
    Scheme,
    NoHost,
    Password,
    /// An Alertmanager URL that already ends in the path we add.
    ApiPath,
}

impl UrlFault {
    /// For a URL written in the file: showing it helps and reveals nothing new,
    /// except a password, which is not repeated into logs. A URL with an `@`
    /// may have one (even when it does not parse), so it is named, not quoted:
    /// the line and column find it.
    fn inline(&self, text: &str) -> String {
        let (quoted, the_url) = if text.contains('@') {
            (String::new(), "the URL".to_owned())
        } else {
            (format!(" {text:?}"), format!("{text:?}"))
        };
        match self {
            UrlFault::Invalid(e) => format!("invalid URL{quoted}: {e}"),
            UrlFault::Scheme => format!("{the_url} is not an http:// or https:// URL"),
            UrlFault::NoHost => format!("{the_url} has no host"),
            UrlFault::Password => {
                "the URL has a password in it: put the secret in url_env or url_file, not in the file"
                    .to_owned()
            }
            UrlFault::ApiPath => format!(
                "{text:?} ends in /api/v2/alerts: give the Alertmanager's base URL (the path is added)"
            ),
        }
    }

    /// For a URL read from a secret: named by where it came from, never shown.
    fn secret(&self, origin: &str) -> String {
        match self {
            UrlFault::Invalid(e) => format!("{origin} does not hold a valid URL: {e}"),
            UrlFault::Scheme => format!("{origin} does not hold an http:// or https:// URL"),
            UrlFault::NoHost => format!("the URL in {origin} has no host"),
            UrlFault::Password => format!(
                "the URL in {origin} has a password in it; give a URL without user:password"
            ),
            UrlFault::ApiPath => format!(
                "the URL in {origin} ends in /api/v2/alerts: give the Alertmanager's base URL (the path is added)"
            ),
        }
    }
}

/// A URL a channel can send to. A password in it is refused wherever the URL
/// came from: in the file it would be a secret in plain sight, and from a secret
/// it would be one more credential for every log line to be careful with.
fn check_url(text: &str, kind: Option<ChannelKind>) -> Result<url::Url, UrlFault> {
    let url = url::Url::parse(text).map_err(UrlFault::Invalid)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlFault::Scheme);
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(UrlFault::NoHost);
    }
    if url.password().is_some() {
        return Err(UrlFault::Password);
    }
    if kind == Some(ChannelKind::Alertmanager)
        && url.path().trim_end_matches('/').ends_with("/api/v2/alerts")
    {
        return Err(UrlFault::ApiPath);
    }
    Ok(url)
}

/// `"webhook"`, `"webhook" or "slack"`, `"webhook", "slack" or "ntfy"`; without
/// the quotes when `quoted` is false.
fn one_of(kinds: &[ChannelKind], quoted: bool) -> String {
    let words: Vec<String> = kinds
        .iter()
        .map(|k| {
            if quoted {
                format!("{:?}", k.as_str())
            } else {
                k.as_str().to_owned()
            }
        })
        .collect();
    match words.split_last() {
        None => String::new(),
        Some((last, [])) => last.clone(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
    }
}

/// A type-specific key of `[[notify]]`: its name, where its value is (when
/// given) and the types it belongs to.
type KeyUse = (&'static str, Option<Range<usize>>, &'static [ChannelKind]);

fn span_of<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
    v.as_ref().map(Spanned::span)
}

/// `"0s"`, `"0ms"`: a zero written with its unit. Anything else (a bare `"0"`,
/// `"0 s"`) goes on to the usual duration check, which explains the unit rule.
fn written_zero(raw: &str) -> bool {
    let t = raw.trim();
    !t.contains(char::is_whitespace)
        && t.ends_with(|c: char| c.is_ascii_alphabetic())
        && humantime::parse_duration(t).is_ok_and(|d| d.is_zero())
}

/// The first line of a secret file, trimmed. A byte-order mark (Notepad writes
/// one) is dropped: sent along, it would make the secret wrong in a way no one
/// can see. Messages name the path, never the content.
fn first_line(path: &Path) -> Result<String, String> {
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("cannot read {shown}: {e}"))?;
    let mut bytes = Vec::new();
    file.take(SECRET_FILE_LIMIT)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("cannot read {shown}: {e}"))?;
    let line = match bytes.iter().position(|&b| b == b'\n') {
        Some(end) => &bytes[..end],
        None if bytes.len() as u64 >= SECRET_FILE_LIMIT => {
            return Err(format!(
                "the first line of {shown} is longer than 64 KiB; is this the right file?"
            ));
        }
        None => &bytes[..],
    };
    let line = std::str::from_utf8(line).map_err(|_| format!("{shown} is not UTF-8 text"))?;
    let line = line.trim_start_matches('\u{feff}').trim();
    if line.is_empty() {
        return Err(format!(
            "the first line of {shown} is empty; it must hold the secret"
        ));
    }
    Ok(line.to_owned())
}

impl Cx<'_> {
    /// All `[[notify]]` tables. `nodes` are the validated nodes, which every
    /// filter glob must match some of; `dir` is where relative `*_file` paths are.
    pub(super) fn notify(
        &self,
        raw: &[Spanned<RawNotify>],
        nodes: &[NodeConfig],
        dir: Option<&Path>,
    ) -> Result<Vec<NotifyChannel>, ConfigError> {
        if raw.is_empty() {
            return Ok(Vec::new());
        }
        let (nodes, groups) = fleet_names(nodes);
        let fleet = Fleet { nodes, groups, dir };
        let mut names = HashMap::with_capacity(raw.len());
        raw.iter()
            .enumerate()
            .map(|(i, n)| self.channel(i, n, &fleet, &mut names))
            .collect()
    }

    /// `names`: channel names already used, with the index and table start of
    /// the channel that has each.
    fn channel(
        &self,
        i: usize,
        spanned: &Spanned<RawNotify>,
        fleet: &Fleet<'_>,
        names: &mut HashMap<String, (usize, usize)>,
    ) -> Result<NotifyChannel, ConfigError> {
        let at = spanned.span();
        let n = spanned.get_ref();
        let prefix = format!("notify[{i}]");
        let key = |k: &str| format!("{prefix}.{k}");

        let name = self.unique_name(&n.name, at.clone(), "notify", i, names)?;
        let kind = self.channel_kind(&n.kind, at.clone(), &key("type"))?;
        self.keys_apply(n, kind, &prefix)?;

        let (urls, urls_secret) = if kind == ChannelKind::Email {
            (Vec::new(), false)
        } else {
            let keys = UrlKeys {
                url: &n.url,
                urls: Some(&n.urls),
                url_env: &n.url_env,
                url_file: &n.url_file,
            };
            self.urls(&keys, at.clone(), &prefix, Some(kind), fleet.dir)?
        };
        let nodes = self.filter(&n.nodes, &key("nodes"), "node", &fleet.nodes)?;
        let groups = self.filter(&n.groups, &key("groups"), "group", &fleet.groups)?;
        let on = match &n.on {
            None => vec![AlertOn::Unhealthy, AlertOn::Recovered],
            Some(list) => self.alert_on(list, &key("on"))?,
        };
        let group_wait = match &n.group_wait {
            Some(s) if written_zero(s.get_ref()) => Duration::ZERO,
            v => self.duration(v, &key("group_wait"), GROUP_WAIT)?,
        };
        let repeat_interval = match &n.repeat_interval {
            None => None,
            Some(s) => {
                let d = self.duration(&n.repeat_interval, &key("repeat_interval"), MIN_REPEAT)?;
                if d < MIN_REPEAT {
                    return Err(self.err(
                        s.span(),
                        key("repeat_interval"),
                        "must be at least 1m (leave it out for no reminders)",
                    ));
                }
                Some(d)
            }
        };
        let give_up_after =
            self.duration(&n.give_up_after, &key("give_up_after"), GIVE_UP_AFTER)?;
        let timeout =
            self.duration_at_most(&n.timeout, &key("timeout"), NOTIFY_TIMEOUT, MAX_TIMEOUT)?;
        let secret = self.secret(&n.secret_env, &n.secret_file, &prefix, "secret", fleet.dir)?;
        let token = self.secret(&n.token_env, &n.token_file, &prefix, "token", fleet.dir)?;
        let priority = match kind {
            ChannelKind::Ntfy => Some(self.priority(&n.priority, &key("priority"))?),
            _ => None,
        };
        let email = match kind {
            ChannelKind::Email => Some(self.email(n, at, &prefix, fleet.dir)?),
            _ => None,
        };
        Ok(NotifyChannel {
            name: name.get_ref().clone(),
            kind,
            urls,
            urls_secret,
            nodes,
            groups,
            on,
            group_wait,
            repeat_interval,
            give_up_after,
            timeout,
            secret: secret.map(|s| Secret(s.value)),
            token: token.map(|s| Secret(s.value)),
            priority,
            watchdog: n.watchdog.as_ref().is_some_and(|w| *w.get_ref()),
            email,
        })
    }

    fn channel_kind(
        &self,
        v: &Option<Spanned<String>>,
        table: Range<usize>,
        key: &str,
    ) -> Result<ChannelKind, ConfigError> {
        let Some(t) = v else {
            return Err(self.err(
                table,
                key,
                format!(
                    "missing (required): use {}",
                    one_of(&ChannelKind::ALL, false)
                ),
            ));
        };
        ChannelKind::ALL
            .into_iter()
            .find(|k| k.as_str() == t.get_ref())
            .ok_or_else(|| {
                self.err(
                    t.span(),
                    key,
                    format!(
                        "unknown type {:?}; use {}",
                        t.get_ref(),
                        one_of(&ChannelKind::ALL, false)
                    ),
                )
            })
    }

    /// A key of another type is a mistake worth naming (`priority` on a Slack
    /// channel would silently do nothing). Of several, the first in the file.
    fn keys_apply(
        &self,
        n: &RawNotify,
        kind: ChannelKind,
        prefix: &str,
    ) -> Result<(), ConfigError> {
        use ChannelKind::{Alertmanager, Email, Ntfy, Webhook};
        let keys: [KeyUse; 17] = [
            ("url", span_of(&n.url), URL_KINDS),
            ("urls", span_of(&n.urls), URL_KINDS),
            ("url_env", span_of(&n.url_env), URL_KINDS),
            ("url_file", span_of(&n.url_file), URL_KINDS),
            ("secret_env", span_of(&n.secret_env), &[Webhook]),
            ("secret_file", span_of(&n.secret_file), &[Webhook]),
            ("token_env", span_of(&n.token_env), TOKEN_KINDS),
            ("token_file", span_of(&n.token_file), TOKEN_KINDS),
            ("priority", span_of(&n.priority), &[Ntfy]),
            ("watchdog", span_of(&n.watchdog), &[Alertmanager]),
            ("smtp", span_of(&n.smtp), &[Email]),
            ("tls", span_of(&n.tls), &[Email]),
            ("from", span_of(&n.from), &[Email]),
            ("to", span_of(&n.to), &[Email]),
            ("username", span_of(&n.username), &[Email]),
            ("password_env", span_of(&n.password_env), &[Email]),
            ("password_file", span_of(&n.password_file), &[Email]),
        ];
        let misplaced = keys
            .into_iter()
            .filter_map(|(k, span, kinds)| {
                span.filter(|_| !kinds.contains(&kind))
                    .map(|s| (k, s, kinds))
            })
            .min_by_key(|(_, s, _)| s.start);
        match misplaced {
            None => Ok(()),
            Some((k, span, kinds)) => Err(self.err(
                span,
                format!("{prefix}.{k}"),
                format!(
                    "applies only to type = {} (this channel is type = {:?})",
                    one_of(kinds, true),
                    kind.as_str()
                ),
            )),
        }
    }

    /// Exactly one of `url`, `urls`, `url_env`, `url_file`; the second given is
    /// the error, as it is the one to remove more often than not.
    fn urls(
        &self,
        keys: &UrlKeys<'_>,
        table: Range<usize>,
        prefix: &str,
        kind: Option<ChannelKind>,
        dir: Option<&Path>,
    ) -> Result<(Vec<url::Url>, bool), ConfigError> {
        let list = keys.urls.and_then(|u| u.as_ref());
        let mut given: Vec<(&str, Range<usize>)> = [
            ("url", span_of(keys.url)),
            ("urls", list.map(Spanned::span)),
            ("url_env", span_of(keys.url_env)),
            ("url_file", span_of(keys.url_file)),
        ]
        .into_iter()
        .filter_map(|(k, s)| s.map(|s| (k, s)))
        .collect();
        given.sort_by_key(|(_, s)| s.start);
        let choices = if keys.urls.is_some() {
            "url, urls, url_env or url_file"
        } else {
            "url, url_env or url_file"
        };
        match given.as_slice() {
            [] => {
                return Err(self.err(
                    table,
                    format!("{prefix}.url"),
                    format!("missing (required): give {choices}"),
                ));
            }
            [_] => {}
            [(first, first_span), (second, span), ..] => {
                return Err(self.err(
                    span.clone(),
                    format!("{prefix}.{second}"),
                    format!(
                        "give only one of {choices} ({first} is already given at line {})",
                        self.line_of(first_span.start)
                    ),
                ));
            }
        }
        if let Some(u) = keys.url {
            let url = check_url(u.get_ref(), kind)
                .map_err(|f| self.err(u.span(), format!("{prefix}.url"), f.inline(u.get_ref())))?;
            return Ok((vec![url], false));
        }
        if let Some(list) = list {
            return self.url_list(list, prefix, kind).map(|urls| (urls, false));
        }
        let Some(read) = self.secret(keys.url_env, keys.url_file, prefix, "url", dir)? else {
            // Unreachable after the count above; an error rather than a panic.
            return Err(self.err(
                table,
                format!("{prefix}.url"),
                format!("missing (required): give {choices}"),
            ));
        };
        let url = check_url(&read.value, kind)
            .map_err(|f| self.err(read.span.clone(), &read.key, f.secret(&read.origin)))?;
        Ok((vec![url], true))
    }

    fn url_list(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        prefix: &str,
        kind: Option<ChannelKind>,
    ) -> Result<Vec<url::Url>, ConfigError> {
        if list.get_ref().is_empty() {
            return Err(self.err(
                list.span(),
                format!("{prefix}.urls"),
                "must list at least one URL",
            ));
        }
        let mut urls: Vec<url::Url> = Vec::with_capacity(list.get_ref().len());
        for (j, u) in list.get_ref().iter().enumerate() {
            let key = format!("{prefix}.urls[{j}]");
            let url = check_url(u.get_ref(), kind)
                .map_err(|f| self.err(u.span(), &key, f.inline(u.get_ref())))?;
            // Sent twice, every notification would arrive twice.
            if let Some(first) = urls.iter().position(|seen| *seen == url) {
                return Err(self.err(
                    u.span(),
                    key,
                    format!("{:?} is already urls[{first}]", u.get_ref()),
                ));
            }
            urls.push(url);
        }
        Ok(urls)
    }

    /// `*_env` or `*_file` for the secret `stem` (`token`, `password`, …). Read
    /// now, so that a missing one is an error at its line on load and reload.
    fn secret(
        &self,
        env: &Option<Spanned<String>>,
        file: &Option<Spanned<String>>,
        prefix: &str,
        stem: &str,
        dir: Option<&Path>,
    ) -> Result<Option<ReadSecret>, ConfigError> {
        match (env, file) {
            (None, None) => Ok(None),
            (Some(_), Some(f)) => Err(self.err(
                f.span(),
                format!("{prefix}.{stem}_file"),
                format!("give {stem}_env or {stem}_file, not both"),
            )),
            (Some(e), None) => self
                .env_secret(e, format!("{prefix}.{stem}_env"), stem)
                .map(Some),
            (None, Some(f)) => self
                .file_secret(f, format!("{prefix}.{stem}_file"), dir)
                .map(Some),
        }
    }

    fn env_secret(
        &self,
        e: &Spanned<String>,
        key: String,
        stem: &str,
    ) -> Result<ReadSecret, ConfigError> {
        let name = e.get_ref().trim();
        if name.is_empty() || name.contains('=') || name.contains('\0') {
            return Err(self.err(
                e.span(),
                key,
                format!(
                    "must name an environment variable, e.g. \"SYNCGUARD_{}\"",
                    stem.to_ascii_uppercase()
                ),
            ));
        }
        // Trimmed as a file's line is: a newline left by `$(cat file)` or a
        // secrets manager is never part of the secret.
        let value = match std::env::var(name) {
            Ok(v) if v.trim().is_empty() => {
                return Err(self.err(
                    e.span(),
                    key,
                    format!("environment variable {name} is empty"),
                ));
            }
            Ok(v) => v.trim().to_owned(),
            Err(std::env::VarError::NotPresent) => {
                return Err(self.err(
                    e.span(),
                    key,
                    format!("environment variable {name} is not set"),
                ));
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                return Err(self.err(
                    e.span(),
                    key,
                    format!("environment variable {name} is not UTF-8 text"),
                ));
            }
        };
        Ok(ReadSecret {
            value,
            span: e.span(),
            key,
            origin: format!("environment variable {name}"),
        })
    }

    fn file_secret(
        &self,
        f: &Spanned<String>,
        key: String,
        dir: Option<&Path>,
    ) -> Result<ReadSecret, ConfigError> {
        if f.get_ref().trim().is_empty() {
            return Err(self.err(f.span(), key, "must not be empty"));
        }
        let path = Path::new(f.get_ref());
        let path: PathBuf = match dir {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path.to_owned(),
        };
        let value = first_line(&path).map_err(|m| self.err(f.span(), &key, m))?;
        Ok(ReadSecret {
            value,
            span: f.span(),
            key,
            origin: path.display().to_string(),
        })
    }

    /// Node or group globs. Each must match something now: a typo in a filter
    /// would otherwise silence the channel without a word.
    fn filter(
        &self,
        v: &Option<Spanned<Vec<Spanned<String>>>>,
        key: &str,
        what: &str,
        names: &[&str],
    ) -> Result<Vec<String>, ConfigError> {
        let Some(list) = v else {
            return Ok(Vec::new());
        };
        if list.get_ref().is_empty() {
            return Err(self.err(
                list.span(),
                key,
                format!("must list at least one glob (leave it out for every {what})"),
            ));
        }
        self.globs(list.get_ref(), key, what, names)
    }

    /// The words and messages of `[[alert]] on` (whose parser is private to
    /// `alert.rs`), so the two read alike.
    fn priority(&self, v: &Option<Spanned<i64>>, key: &str) -> Result<u8, ConfigError> {
        let Some(p) = v else {
            return Ok(NTFY_PRIORITY);
        };
        match u8::try_from(*p.get_ref()) {
            Ok(n) if (1..=5).contains(&n) => Ok(n),
            _ => Err(self.err(
                p.span(),
                key,
                format!(
                    "must be between 1 and 5 (ntfy's min to max), got {}",
                    p.get_ref()
                ),
            )),
        }
    }

    fn email(
        &self,
        n: &RawNotify,
        table: Range<usize>,
        prefix: &str,
        dir: Option<&Path>,
    ) -> Result<EmailConfig, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let tls = match &n.tls {
            None => SmtpTls::Starttls,
            Some(t) => match t.get_ref().as_str() {
                "starttls" => SmtpTls::Starttls,
                "tls" => SmtpTls::Tls,
                "none" => SmtpTls::None,
                other => {
                    return Err(self.err(
                        t.span(),
                        key("tls"),
                        format!("expected \"starttls\", \"tls\" or \"none\", got {other:?}"),
                    ));
                }
            },
        };
        let default_port = match tls {
            SmtpTls::Starttls => 587,
            SmtpTls::Tls => 465,
            SmtpTls::None => 25,
        };
        let smtp = self.required_text(&n.smtp, table.clone(), &key("smtp"))?;
        let (host, port) = self.smtp_server(smtp, &key("smtp"), default_port)?;
        let from = self.required_text(&n.from, table.clone(), &key("from"))?;
        let from = self.mailbox(from, &key("from"))?;
        let to = match &n.to {
            None => {
                return Err(self.err(
                    table,
                    key("to"),
                    "missing (required): at least one address, e.g. [\"oncall@example.com\"]",
                ));
            }
            Some(list) if list.get_ref().is_empty() => {
                return Err(self.err(list.span(), key("to"), "must list at least one address"));
            }
            Some(list) => list
                .get_ref()
                .iter()
                .enumerate()
                .map(|(j, m)| self.mailbox(m, &format!("{prefix}.to[{j}]")))
                .collect::<Result<Vec<_>, _>>()?,
        };
        let username = match &n.username {
            Some(u) if u.get_ref().trim().is_empty() => {
                return Err(self.err(
                    u.span(),
                    key("username"),
                    "must not be empty (leave it out instead)",
                ));
            }
            u => u.as_ref(),
        };
        let password = self.secret(&n.password_env, &n.password_file, prefix, "password", dir)?;
        // SMTP AUTH needs both; with one alone every mail would fail at the server.
        match (username, &password) {
            (Some(u), None) => {
                return Err(self.err(
                    u.span(),
                    key("username"),
                    "needs password_env or password_file",
                ));
            }
            (None, Some(p)) => {
                return Err(self.err(p.span.clone(), &p.key, "needs username"));
            }
            _ => {}
        }
        Ok(EmailConfig {
            host,
            port,
            tls,
            from,
            to,
            username: username.map(|u| u.get_ref().trim().to_owned()),
            password: password.map(|p| Secret(p.value)),
        })
    }

    /// `host`, `host:port`, `[v6]` or `[v6]:port`; the host without brackets.
    fn smtp_server(
        &self,
        v: &Spanned<String>,
        key: &str,
        default_port: u16,
    ) -> Result<(String, u16), ConfigError> {
        let text = v.get_ref().trim();
        let bad = |why: &str| {
            self.err(
                v.span(),
                key,
                format!(
                    "invalid SMTP server {:?}: {why} (e.g. \"mail.example.com\", \"mail.example.com:587\", \"[2001:db8::25]:25\")",
                    v.get_ref()
                ),
            )
        };
        if text.contains("://") {
            return Err(bad("write host or host:port, not a URL"));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let Some((ip, after)) = rest.split_once(']') else {
                return Err(bad("no ] after the IPv6 address"));
            };
            if ip.parse::<Ipv6Addr>().is_err() {
                return Err(bad("not an IPv6 address between the brackets"));
            }
            match after {
                "" => (ip, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (ip, Some(port)),
                    None => return Err(bad("expected :port after ]")),
                },
            }
        } else {
            match text.split_once(':') {
                None => (text, None),
                Some((host, port)) if !port.contains(':') => (host, Some(port)),
                Some(_) => return Err(bad("an IPv6 address needs brackets")),
            }
        };
        if host.is_empty()
            || host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control() || matches!(c, '/' | '@'))
        {
            return Err(bad("not a host name or IP address"));
        }
        let port = match port {
            None => default_port,
            Some(p) => match p.parse::<u16>() {
                Ok(port) if port != 0 => port,
                _ => {
                    return Err(self.err(
                        v.span(),
                        key,
                        format!("port must be between 1 and 65535, got {p:?}"),
                    ));
                }
            },
        };
        Ok((host.to_owned(), port))
    }

    /// A mailbox as the email channel will send it. Control characters are
    /// refused first, with their own message: in a header they start a new one.
    fn mailbox(&self, v: &Spanned<String>, key: &str) -> Result<String, ConfigError> {
        let text = v.get_ref();
        if text.chars().any(char::is_control) {
            return Err(self.err(v.span(), key, "must not contain control characters"));
        }
        // lettre's own parser, so an address it would refuse at send time is
        // refused now, at the line that has it.
        if !text.contains('@') || text.trim().parse::<lettre::message::Mailbox>().is_err() {
            return Err(self.err(
                v.span(),
                key,
                format!(
                    "{text:?} is not an email address (e.g. \"oncall@example.com\" or \"SyncGuard <syncguard@example.com>\")"
                ),
            ));
        }
        Ok(text.trim().to_owned())
    }

    /// `[heartbeat]`: `None` when the table is left out.
    pub(super) fn heartbeat(
        &self,
        raw: Option<&Spanned<RawHeartbeat>>,
        dir: Option<&Path>,
    ) -> Result<Option<HeartbeatConfig>, ConfigError> {
        let Some(table) = raw else {
            return Ok(None);
        };
        let h = table.get_ref();
        let keys = UrlKeys {
            url: &h.url,
            urls: None,
            url_env: &h.url_env,
            url_file: &h.url_file,
        };
        let (urls, url_secret) = self.urls(&keys, table.span(), "heartbeat", None, dir)?;
        let Some(url) = urls.into_iter().next() else {
            // `urls` gives one URL or an error; an error rather than a panic.
            return Err(self.err(
                table.span(),
                "heartbeat.url",
                "missing (required): give url, url_env or url_file",
            ));
        };
        let interval = self.duration(&h.interval, "heartbeat.interval", HEARTBEAT_INTERVAL)?;
        if let Some(s) = &h.interval
            && interval < MIN_HEARTBEAT_INTERVAL
        {
            return Err(self.err(s.span(), "heartbeat.interval", "must be at least 1s"));
        }
        Ok(Some(HeartbeatConfig {
            url,
            url_secret,
            interval,
            timeout: self.duration(&h.timeout, "heartbeat.timeout", HEARTBEAT_TIMEOUT)?,
        }))
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;
    use std::time::Duration;

    use super::super::{AlertOn, Config, ONE, assert_errors, parse};
    use super::*;

    /// Set in every environment the tests run in, and not a URL.
    const SET: &str = "PATH";
    /// Surely set nowhere; each test that needs one has its own name.
    const UNSET: &str = "SYNCGUARD_TEST_NOTIFY_SURELY_UNSET_7f3a";

    /// `ONE` and one `[[notify]]` table, whose keys start on line 5.
    fn channel(body: &str) -> String {
        format!("{ONE}[[notify]]\n{body}")
    }

    /// Writes `content` to `name` in `dir`; the path as a TOML literal string
    /// (no escapes, so a Windows path is kept as it is).
    fn secret_file(dir: &Path, name: &str, content: &str) -> String {
        let path = dir.join(name);
        std::fs::write(&path, content).expect("write secret");
        format!("'{}'", path.display())
    }

    fn path_value() -> String {
        std::env::var(SET).expect("PATH is set").trim().to_owned()
    }

    #[test]
    fn no_tables_no_channels() {
        let c = parse(ONE).expect("valid");
        assert!(c.notify.is_empty());
        assert_eq!(c.heartbeat, None);
    }

    #[test]
    fn webhook_parses_with_its_defaults() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = secret_file(dir.path(), "hook.secret", "\u{feff}hook-s3cret \r\nnext\n");
        let c = parse(&channel(&format!(
            "name = \"hook\"\ntype = \"webhook\"\nurl = \"https://hooks.example.com/sg\"\n\
             secret_file = {secret}\ntoken_env = \"{SET}\"\n"
        )))
        .expect("valid");
        let n = &c.notify[0];
        assert_eq!((n.name.as_str(), n.kind), ("hook", ChannelKind::Webhook));
        assert_eq!(n.urls.len(), 1);
        assert_eq!(n.urls[0].as_str(), "https://hooks.example.com/sg");
        assert!(!n.urls_secret);
        assert!(n.nodes.is_empty() && n.groups.is_empty());
        assert_eq!(n.on, [AlertOn::Unhealthy, AlertOn::Recovered]);
        assert_eq!(n.group_wait, GROUP_WAIT);
        assert_eq!(n.repeat_interval, None);
        assert_eq!(n.give_up_after, GIVE_UP_AFTER);
        assert_eq!(n.timeout, NOTIFY_TIMEOUT);
        // The first line, without the byte-order mark, the spaces and the CR.
        assert_eq!(n.secret.as_ref().map(Secret::expose), Some("hook-s3cret"));
        assert_eq!(
            n.token.as_ref().map(Secret::expose),
            Some(path_value().as_str())
        );
        assert_eq!((n.priority, n.watchdog, &n.email), (None, false, &None));
    }

    #[test]
    fn slack_url_from_a_file_is_secret() {
        let dir = tempfile::tempdir().expect("tempdir");
        let url = secret_file(
            dir.path(),
            "slack.url",
            "https://hooks.slack.com/services/T0/B0/XYZZYSECRET\n",
        );
        let c = parse(&channel(&format!(
            "name = \"chat\"\ntype = \"slack\"\nurl_file = {url}\n"
        )))
        .expect("valid");
        let n = &c.notify[0];
        assert_eq!(n.kind, ChannelKind::Slack);
        assert!(n.urls_secret);
        assert_eq!(
            n.urls[0].as_str(),
            "https://hooks.slack.com/services/T0/B0/XYZZYSECRET"
        );
        assert_eq!(
            (n.secret.as_ref(), n.token.as_ref(), n.priority),
            (None, None, None)
        );
        let debug = format!("{c:?}");
        assert!(!debug.contains("XYZZYSECRET"), "{debug}");
        assert!(
            debug.contains("https://hooks.slack.com/<redacted>"),
            "{debug}"
        );
    }

    #[test]
    fn ntfy_parses_with_its_default_priority() {
        let dir = tempfile::tempdir().expect("tempdir");
        let token = secret_file(dir.path(), "ntfy.token", "tk_abc\n");
        let c = parse(&channel(&format!(
            "name = \"phone\"\ntype = \"ntfy\"\nurl = \"https://ntfy.example.com/wall\"\ntoken_file = {token}\n\
             [[notify]]\nname = \"quiet\"\ntype = \"ntfy\"\nurl = \"http://ntfy.lan:8080/wall\"\npriority = 2\n\
             on = [\"recovered\"]\n"
        )))
        .expect("valid");
        assert_eq!(c.notify[0].kind, ChannelKind::Ntfy);
        assert_eq!(c.notify[0].priority, Some(4));
        assert_eq!(
            c.notify[0].token.as_ref().map(Secret::expose),
            Some("tk_abc")
        );
        assert_eq!(c.notify[1].priority, Some(2));
        assert_eq!(c.notify[1].on, [AlertOn::Recovered]);
    }

    #[test]
    fn alertmanager_parses_with_filters_and_timings() {
        let c = parse(
            "[[node]]\nname = \"wall-01\"\nhost = \"10.0.0.1\"\ngroup = \"wall-a\"\n\
             [[node]]\nname = \"render-01\"\nhost = \"10.0.0.2\"\n\
             [[notify]]\nname = \"oncall\"\ntype = \"alertmanager\"\n\
             urls = [\"http://am-1:9093\", \"http://am-2:9093/\"]\n\
             groups = [\"wall-*\"]\nnodes = [\"render-*\", \"wall-0?\"]\non = [\"unhealthy\"]\n\
             group_wait = \"0s\"\nrepeat_interval = \"4h\"\ngive_up_after = \"2h\"\ntimeout = \"5m\"\n\
             watchdog = true\n",
        )
        .expect("valid");
        let n = &c.notify[0];
        assert_eq!(n.kind, ChannelKind::Alertmanager);
        let urls: Vec<&str> = n.urls.iter().map(url::Url::as_str).collect();
        assert_eq!(urls, ["http://am-1:9093/", "http://am-2:9093/"]);
        assert_eq!(n.groups, ["wall-*"]);
        assert_eq!(n.nodes, ["render-*", "wall-0?"]);
        assert_eq!(n.on, [AlertOn::Unhealthy]);
        assert_eq!(n.group_wait, Duration::ZERO);
        assert_eq!(n.repeat_interval, Some(Duration::from_secs(4 * 3600)));
        assert_eq!(n.give_up_after, Duration::from_secs(2 * 3600));
        assert_eq!(n.timeout, Duration::from_secs(300));
        assert!(n.watchdog);
        assert_eq!((n.priority, n.token.as_ref()), (None, None));
    }

    #[test]
    fn email_parses_with_port_by_tls() {
        let dir = tempfile::tempdir().expect("tempdir");
        let password = secret_file(dir.path(), "smtp.pw", "pw-H0rse\n");
        let c = parse(&channel(&format!(
            "name = \"mail\"\ntype = \"email\"\nsmtp = \"mail.example.com\"\n\
             from = \"SyncGuard <syncguard@example.com>\"\nto = [\"oncall@example.com\", \"Ops <ops@example.com>\"]\n\
             username = \"syncguard\"\npassword_file = {password}\n\
             [[notify]]\nname = \"smtps\"\ntype = \"email\"\nsmtp = \"mail.example.com\"\ntls = \"tls\"\n\
             from = \"a@example.com\"\nto = [\"b@example.com\"]\n\
             [[notify]]\nname = \"relay\"\ntype = \"email\"\nsmtp = \"[::1]\"\ntls = \"none\"\n\
             from = \"a@example.com\"\nto = [\"b@example.com\"]\n\
             [[notify]]\nname = \"submission\"\ntype = \"email\"\nsmtp = \"10.0.0.25:2525\"\n\
             from = \"a@example.com\"\nto = [\"b@example.com\"]\n"
        )))
        .expect("valid");
        let n = &c.notify[0];
        assert_eq!(n.kind, ChannelKind::Email);
        assert!(n.urls.is_empty() && !n.urls_secret);
        let e = n.email.as_ref().expect("email");
        assert_eq!(
            (e.host.as_str(), e.port, e.tls),
            ("mail.example.com", 587, SmtpTls::Starttls)
        );
        assert_eq!(e.from, "SyncGuard <syncguard@example.com>");
        assert_eq!(e.to, ["oncall@example.com", "Ops <ops@example.com>"]);
        assert_eq!(e.username.as_deref(), Some("syncguard"));
        assert_eq!(e.password.as_ref().map(Secret::expose), Some("pw-H0rse"));
        let ports: Vec<(&str, u16, SmtpTls)> = c.notify[1..]
            .iter()
            .filter_map(|n| n.email.as_ref())
            .map(|e| (e.host.as_str(), e.port, e.tls))
            .collect();
        assert_eq!(
            ports,
            [
                ("mail.example.com", 465, SmtpTls::Tls),
                ("::1", 25, SmtpTls::None),
                ("10.0.0.25", 2525, SmtpTls::Starttls),
            ]
        );
        assert!(
            c.notify[1]
                .email
                .as_ref()
                .is_some_and(|e| e.password.is_none())
        );
    }

    #[test]
    fn heartbeat_parses_with_its_defaults() {
        let c = parse(&format!(
            "{ONE}[heartbeat]\nurl = \"https://hc-ping.com/uuid\"\n"
        ))
        .expect("valid");
        let h = c.heartbeat.expect("heartbeat");
        assert_eq!(h.url.as_str(), "https://hc-ping.com/uuid");
        assert!(!h.url_secret);
        assert_eq!(
            (h.interval, h.timeout),
            (HEARTBEAT_INTERVAL, HEARTBEAT_TIMEOUT)
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let url = secret_file(dir.path(), "hc.url", "https://hc-ping.com/PINGSECRET\n");
        let c = parse(&format!(
            "{ONE}[heartbeat]\nurl_file = {url}\ninterval = \"30s\"\ntimeout = \"3s\"\n"
        ))
        .expect("valid");
        let h = c.heartbeat.as_ref().expect("heartbeat");
        assert!(h.url_secret);
        assert_eq!(h.interval, Duration::from_secs(30));
        assert_eq!(h.timeout, Duration::from_secs(3));
        let debug = format!("{c:?}");
        assert!(!debug.contains("PINGSECRET"), "{debug}");
    }

    #[test]
    fn relative_secret_files_are_beside_the_config() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("hook.secret"), "beside\n").expect("write");
        let text = channel(
            "name = \"hook\"\ntype = \"webhook\"\nurl = \"http://h.example/x\"\nsecret_file = \"hook.secret\"\n",
        );
        let path = dir.path().join("fleet.toml");
        std::fs::write(&path, &text).expect("write");
        let c = Config::load(&path).expect("valid");
        assert_eq!(
            c.notify[0].secret.as_ref().map(Secret::expose),
            Some("beside")
        );
        // Without a file, the working directory (which has no such file).
        let e = parse(&text).expect_err("relative to the working directory");
        assert!(
            e.starts_with("fleet.toml:8:15: notify[0].secret_file: cannot read hook.secret: "),
            "{e}"
        );
    }

    #[test]
    fn secrets_never_appear_in_debug_or_errors() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = secret_file(dir.path(), "s", "SECRET-ONE\n");
        let token = secret_file(dir.path(), "t", "SECRET-TWO\n");
        let password = secret_file(dir.path(), "p", "SECRET-THREE\n");
        let url = secret_file(dir.path(), "u", "https://ntfy.example.com/SECRET-FIVE\n");
        let c = parse(&channel(&format!(
            "name = \"a\"\ntype = \"webhook\"\nurl = \"http://h.example/\"\nsecret_file = {secret}\ntoken_file = {token}\n\
             [[notify]]\nname = \"b\"\ntype = \"email\"\nsmtp = \"m.example\"\nfrom = \"a@example.com\"\n\
             to = [\"b@example.com\"]\nusername = \"u\"\npassword_file = {password}\n\
             [[notify]]\nname = \"c\"\ntype = \"ntfy\"\nurl_file = {url}\n\
             [heartbeat]\nurl_file = {url}\n"
        )))
        .expect("valid");
        let debug = format!("{c:?}");
        for s in ["SECRET-ONE", "SECRET-TWO", "SECRET-THREE", "SECRET-FIVE"] {
            assert!(!debug.contains(s), "{s} in {debug}");
        }
        assert!(
            debug.contains("https://ntfy.example.com/<redacted>"),
            "{debug}"
        );
        let path = path_value();
        // Each read value is wrong in a way that would tempt a message to quote it.
        for (content, key) in [
            ("ftp://SECRET-SIX@h.example/", "url_file"),
            ("https://u:SECRET-FOUR@h.example/", "url_file"),
            ("SECRET SEVEN is not a URL", "url_file"),
            ("mailto:SECRET-EIGHT@example.com", "url_file"),
            ("http://h.example/SECRET-NINE/api/v2/alerts", "url_file"),
        ] {
            let file = secret_file(dir.path(), "bad", content);
            let e = parse(&channel(&format!(
                "name = \"a\"\ntype = \"alertmanager\"\n{key} = {file}\n"
            )))
            .expect_err(content);
            assert!(
                e.starts_with("fleet.toml:7:12: notify[0].url_file: "),
                "{e}"
            );
            assert!(!e.contains("SECRET"), "{e}");
        }
        let e = parse(&channel(&format!(
            "name = \"a\"\ntype = \"slack\"\nurl_env = \"{SET}\"\n"
        )))
        .expect_err("PATH is not a URL");
        assert!(
            e.starts_with(&format!(
                "fleet.toml:7:11: notify[0].url_env: environment variable {SET} does not hold a valid URL"
            )),
            "{e}"
        );
        assert!(!e.contains(&path), "{e}");
    }

    #[test]
    fn channel_errors_name_the_key() {
        let c = channel;
        assert_errors(&[
            (
                &c("type = \"slack\"\nurl = \"http://h.example/\"\n"),
                "fleet.toml:4:1: notify[0].name: missing (required)",
            ),
            (
                &c("name = \" \"\n"),
                "fleet.toml:5:8: notify[0].name: must not be empty",
            ),
            (
                &c("name = \"a\\tb\"\n"),
                "fleet.toml:5:8: notify[0].name: must not contain control characters",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"slack\"\nurl = \"http://h.example/\"\n\
                    [[notify]]\nname = \"a\"\ntype = \"slack\"\nurl = \"http://h.example/\"\n",
                ),
                "fleet.toml:9:8: notify[1].name: duplicate name \"a\" (first used by notify[0] at line 4)",
            ),
            (
                &c("name = \"a\"\n"),
                "fleet.toml:4:1: notify[0].type: missing (required): use webhook, slack, ntfy, alertmanager or email",
            ),
            (
                &c("name = \"a\"\ntype = \"pager\"\n"),
                "fleet.toml:6:8: notify[0].type: unknown type \"pager\"; use webhook, slack, ntfy, alertmanager or email",
            ),
            (
                &c("name = \"a\"\ntype = \"webhook\"\n"),
                "fleet.toml:4:1: notify[0].url: missing (required): give url, urls, url_env or url_file",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"webhook\"\nurl = \"http://h.example/\"\nurl_env = \"X\"\n",
                ),
                "fleet.toml:8:11: notify[0].url_env: give only one of url, urls, url_env or url_file (url is already given at line 7)",
            ),
            (
                &c("name = \"a\"\ntype = \"webhook\"\nurls = []\n"),
                "fleet.toml:7:8: notify[0].urls: must list at least one URL",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"webhook\"\nurls = [\"http://a.example/\", \"not a url\"]\n",
                ),
                "fleet.toml:7:30: notify[0].urls[1]: invalid URL \"not a url\": relative URL without a base",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"alertmanager\"\nurls = [\"http://am:9093\", \"http://am:9093/\"]\n",
                ),
                "fleet.toml:7:27: notify[0].urls[1]: \"http://am:9093/\" is already urls[0]",
            ),
            (
                &c("name = \"a\"\ntype = \"webhook\"\nurl = \"ftp://h.example/\"\n"),
                "fleet.toml:7:7: notify[0].url: \"ftp://h.example/\" is not an http:// or https:// URL",
            ),
            (
                &c("name = \"a\"\ntype = \"webhook\"\nurl = \"http://\"\n"),
                "fleet.toml:7:7: notify[0].url: invalid URL \"http://\": empty host",
            ),
            (
                &c("name = \"a\"\ntype = \"webhook\"\nurl = \"http://user:hunter2@h.example/\"\n"),
                "fleet.toml:7:7: notify[0].url: the URL has a password in it: put the secret in url_env or url_file, not in the file",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"webhook\"\nurl = \"http://u:hunter2@h.example:99999/\"\n",
                ),
                "fleet.toml:7:7: notify[0].url: invalid URL: invalid port number",
            ),
            (
                &c("name = \"a\"\ntype = \"webhook\"\nurl = \"mailto:ops@example.com\"\n"),
                "fleet.toml:7:7: notify[0].url: the URL is not an http:// or https:// URL",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"alertmanager\"\nurl = \"http://am:9093/api/v2/alerts\"\n",
                ),
                "fleet.toml:7:7: notify[0].url: \"http://am:9093/api/v2/alerts\" ends in /api/v2/alerts: give the Alertmanager's base URL",
            ),
            (
                &c(&format!(
                    "name = \"a\"\ntype = \"slack\"\nurl_env = \"{UNSET}\"\n"
                )),
                &format!(
                    "fleet.toml:7:11: notify[0].url_env: environment variable {UNSET} is not set"
                ),
            ),
            (
                &c("name = \"a\"\ntype = \"slack\"\nurl_env = \"A=B\"\n"),
                "fleet.toml:7:11: notify[0].url_env: must name an environment variable, e.g. \"SYNCGUARD_URL\"",
            ),
            (
                &c("name = \"a\"\ntype = \"slack\"\nurl_file = \"\"\n"),
                "fleet.toml:7:12: notify[0].url_file: must not be empty",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"ntfy\"\nurl = \"http://h.example/t\"\nsecret_env = \"S\"\n",
                ),
                "fleet.toml:8:14: notify[0].secret_env: applies only to type = \"webhook\" (this channel is type = \"ntfy\")",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"webhook\"\nurl = \"http://h.example/\"\nsmtp = \"m\"\nwatchdog = true\n",
                ),
                "fleet.toml:8:8: notify[0].smtp: applies only to type = \"email\" (this channel is type = \"webhook\")",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"webhook\"\nurl = \"http://h.example/\"\nwatchdog = true\n",
                ),
                "fleet.toml:8:12: notify[0].watchdog: applies only to type = \"alertmanager\" (this channel is type = \"webhook\")",
            ),
            (
                &c("name = \"a\"\ntype = \"slack\"\npriority = 3\nurl = \"http://h.example/\"\n"),
                "fleet.toml:7:12: notify[0].priority: applies only to type = \"ntfy\" (this channel is type = \"slack\")",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"slack\"\nurl = \"http://h.example/\"\ntoken_env = \"T\"\n",
                ),
                "fleet.toml:8:13: notify[0].token_env: applies only to type = \"webhook\", \"ntfy\" or \"alertmanager\" (this channel is type = \"slack\")",
            ),
            (
                &c("name = \"a\"\ntype = \"email\"\nurl = \"http://h.example/\"\n"),
                "fleet.toml:7:7: notify[0].url: applies only to type = \"webhook\", \"slack\", \"ntfy\" or \"alertmanager\" (this channel is type = \"email\")",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"webhook\"\nurl = \"http://h.example/\"\nsecret_env = \"S\"\nsecret_file = \"f\"\n",
                ),
                "fleet.toml:9:15: notify[0].secret_file: give secret_env or secret_file, not both",
            ),
            (
                &c(&format!(
                    "name = \"a\"\ntype = \"ntfy\"\nurl = \"http://h.example/t\"\ntoken_env = \"{UNSET}_T\"\n"
                )),
                &format!(
                    "fleet.toml:8:13: notify[0].token_env: environment variable {UNSET}_T is not set"
                ),
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"ntfy\"\nurl = \"http://h.example/t\"\ntoken_file = \"/nonexistent/syncguard/token\"\n",
                ),
                "fleet.toml:8:14: notify[0].token_file: cannot read /nonexistent/syncguard/token: ",
            ),
            (
                &c("name = \"a\"\ntype = \"ntfy\"\nurl = \"http://h.example/t\"\npriority = 6\n"),
                "fleet.toml:8:12: notify[0].priority: must be between 1 and 5 (ntfy's min to max), got 6",
            ),
            (
                &c(
                    "name = \"a\"\ntype = \"slack\"\nurl = \"http://h.example/\"\non = [\"down\"]\n",
                ),
                "fleet.toml:8:6: notify[0].on: unknown event \"down\"; use \"unhealthy\" and/or \"recovered\"",
            ),
            (
                &c("name = \"a\"\ntype = \"slack\"\nurl = \"http://h.example/\"\non = []\n"),
                "fleet.toml:8:6: notify[0].on: must list at least one event",
            ),
        ]);
    }

    #[test]
    fn timing_errors_name_the_key() {
        let c = |rest: &str| {
            channel(&format!(
                "name = \"a\"\ntype = \"slack\"\nurl = \"http://h.example/\"\n{rest}"
            ))
        };
        assert_errors(&[
            (
                &c("group_wait = \"0\"\n"),
                "fleet.toml:8:14: notify[0].group_wait: invalid duration \"0\": write the unit right after the number",
            ),
            (
                &c("group_wait = \"0 s\"\n"),
                "fleet.toml:8:14: notify[0].group_wait: invalid duration \"0 s\"",
            ),
            (
                &c("repeat_interval = \"30s\"\n"),
                "fleet.toml:8:19: notify[0].repeat_interval: must be at least 1m (leave it out for no reminders)",
            ),
            (
                &c("repeat_interval = \"0s\"\n"),
                "fleet.toml:8:19: notify[0].repeat_interval: must be longer than zero",
            ),
            (
                &c("give_up_after = \"0s\"\n"),
                "fleet.toml:8:17: notify[0].give_up_after: must be longer than zero",
            ),
            (
                &c("timeout = \"0s\"\n"),
                "fleet.toml:8:11: notify[0].timeout: must be longer than zero",
            ),
            (
                &c("timeout = \"5m 1s\"\n"),
                "fleet.toml:8:11: notify[0].timeout: must be at most 5m",
            ),
        ]);
    }

    #[test]
    fn filters_must_match_something() {
        let fleet = "[[node]]\nname = \"wall-01\"\nhost = \"10.0.0.1\"\ngroup = \"wall-a\"\n\
                     [[notify]]\nname = \"a\"\ntype = \"slack\"\nurl = \"http://h.example/\"\n";
        let ungrouped = channel("name = \"a\"\ntype = \"slack\"\nurl = \"http://h.example/\"\n");
        assert_errors(&[
            (
                &format!("{fleet}nodes = [\"wall-*\", \"render-*\"]\n"),
                "fleet.toml:9:20: notify[0].nodes[1]: glob \"render-*\" matches no node",
            ),
            (
                &format!("{fleet}nodes = [\"wall-[\"]\n"),
                "fleet.toml:9:10: notify[0].nodes[0]: invalid glob \"wall-[\": unclosed character class",
            ),
            (
                &format!("{fleet}nodes = []\n"),
                "fleet.toml:9:9: notify[0].nodes: must list at least one glob (leave it out for every node)",
            ),
            (
                &format!("{fleet}groups = [\"Wall-*\"]\n"),
                "fleet.toml:9:11: notify[0].groups[0]: glob \"Wall-*\" matches no group",
            ),
            (
                &format!("{ungrouped}groups = [\"*\"]\n"),
                "fleet.toml:8:11: notify[0].groups[0]: glob \"*\" matches no group (no node has a group)",
            ),
        ]);
    }

    #[test]
    fn email_errors_name_the_key() {
        let c = |rest: &str| {
            channel(&format!(
                "name = \"m\"\ntype = \"email\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\"]\n{rest}"
            ))
        };
        assert_errors(&[
            (&c(""), "fleet.toml:4:1: notify[0].smtp: missing (required)"),
            (
                &channel(
                    "name = \"m\"\ntype = \"email\"\nsmtp = \"m.example\"\nto = [\"b@example.com\"]\n",
                ),
                "fleet.toml:4:1: notify[0].from: missing (required)",
            ),
            (
                &channel(
                    "name = \"m\"\ntype = \"email\"\nsmtp = \"m.example\"\nfrom = \"a@example.com\"\n",
                ),
                "fleet.toml:4:1: notify[0].to: missing (required): at least one address",
            ),
            (
                &c("smtp = \"m.example:0\"\n"),
                "fleet.toml:9:8: notify[0].smtp: port must be between 1 and 65535, got \"0\"",
            ),
            (
                &c("smtp = \"m.example:70000\"\n"),
                "fleet.toml:9:8: notify[0].smtp: port must be between 1 and 65535, got \"70000\"",
            ),
            (
                &c("smtp = \"2001:db8::25\"\n"),
                "fleet.toml:9:8: notify[0].smtp: invalid SMTP server \"2001:db8::25\": an IPv6 address needs brackets",
            ),
            (
                &c("smtp = \"[2001:db8::zz]:25\"\n"),
                "fleet.toml:9:8: notify[0].smtp: invalid SMTP server \"[2001:db8::zz]:25\": not an IPv6 address between the brackets",
            ),
            (
                &c("smtp = \"smtp://m.example\"\n"),
                "fleet.toml:9:8: notify[0].smtp: invalid SMTP server \"smtp://m.example\": write host or host:port, not a URL",
            ),
            (
                &c("smtp = \"m.example\"\ntls = \"ssl\"\n"),
                "fleet.toml:10:7: notify[0].tls: expected \"starttls\", \"tls\" or \"none\", got \"ssl\"",
            ),
            (
                &channel(
                    "name = \"m\"\ntype = \"email\"\nsmtp = \"m.example\"\nfrom = \"syncguard\"\nto = [\"b@example.com\"]\n",
                ),
                "fleet.toml:8:8: notify[0].from: \"syncguard\" is not an email address",
            ),
            (
                &channel(
                    "name = \"m\"\ntype = \"email\"\nsmtp = \"m.example\"\nfrom = \"a@example.com\"\nto = []\n",
                ),
                "fleet.toml:9:6: notify[0].to: must list at least one address",
            ),
            (
                &channel(
                    "name = \"m\"\ntype = \"email\"\nsmtp = \"m.example\"\nfrom = \"a@example.com\"\nto = [\"b@example.com\", \"ops\"]\n",
                ),
                "fleet.toml:9:24: notify[0].to[1]: \"ops\" is not an email address",
            ),
            (
                &channel(
                    "name = \"m\"\ntype = \"email\"\nsmtp = \"m.example\"\nfrom = \"a@example.com\\r\\nBcc: x@evil.example\"\nto = [\"b@example.com\"]\n",
                ),
                "fleet.toml:8:8: notify[0].from: must not contain control characters",
            ),
            (
                &c(&format!("smtp = \"m.example\"\npassword_env = \"{SET}\"\n")),
                "fleet.toml:10:16: notify[0].password_env: needs username",
            ),
            (
                &c("smtp = \"m.example\"\nusername = \"u\"\n"),
                "fleet.toml:10:12: notify[0].username: needs password_env or password_file",
            ),
            (
                &c(&format!(
                    "smtp = \"m.example\"\nusername = \"u\"\npassword_env = \"{UNSET}_P\"\n"
                )),
                &format!(
                    "fleet.toml:11:16: notify[0].password_env: environment variable {UNSET}_P is not set"
                ),
            ),
        ]);
    }

    #[test]
    fn secret_file_errors_name_the_key() {
        let dir = tempfile::tempdir().expect("tempdir");
        let empty = secret_file(dir.path(), "empty", "\n\nsecond line\n");
        let long = secret_file(dir.path(), "long", &"x".repeat(70_000));
        let bad = |file: &str| {
            parse(&channel(&format!(
                "name = \"a\"\ntype = \"webhook\"\nurl = \"http://h.example/\"\nsecret_file = {file}\n"
            )))
            .expect_err(file)
        };
        let e = bad(&empty);
        assert!(
            e.starts_with("fleet.toml:8:15: notify[0].secret_file: the first line of "),
            "{e}"
        );
        assert!(e.ends_with(" is empty; it must hold the secret"), "{e}");
        let e = bad(&long);
        assert!(e.contains("is longer than 64 KiB"), "{e}");
        let e = bad(&format!("'{}'", dir.path().display()));
        assert!(
            e.starts_with("fleet.toml:8:15: notify[0].secret_file: cannot read "),
            "{e}"
        );
    }

    #[test]
    fn heartbeat_errors_name_the_key() {
        assert_errors(&[
            (
                &format!("{ONE}[heartbeat]\ninterval = \"1m\"\n"),
                "fleet.toml:4:1: heartbeat.url: missing (required): give url, url_env or url_file",
            ),
            (
                &format!("{ONE}[heartbeat]\nurl = \"https://hc.example/a\"\nurl_file = \"f\"\n"),
                "fleet.toml:6:12: heartbeat.url_file: give only one of url, url_env or url_file (url is already given at line 5)",
            ),
            (
                &format!("{ONE}[heartbeat]\nurl = \"https://u:p@hc.example/a\"\n"),
                "fleet.toml:5:7: heartbeat.url: the URL has a password in it: put the secret in url_env or url_file",
            ),
            (
                &format!("{ONE}[heartbeat]\nurl = \"hc.example/a\"\n"),
                "fleet.toml:5:7: heartbeat.url: invalid URL \"hc.example/a\": relative URL without a base",
            ),
            (
                &format!("{ONE}[heartbeat]\nurl_env = \"{UNSET}_H\"\n"),
                &format!(
                    "fleet.toml:5:11: heartbeat.url_env: environment variable {UNSET}_H is not set"
                ),
            ),
            (
                &format!(
                    "{ONE}[heartbeat]\nurl = \"https://hc.example/a\"\ninterval = \"500ms\"\n"
                ),
                "fleet.toml:6:12: heartbeat.interval: must be at least 1s",
            ),
            (
                &format!("{ONE}[heartbeat]\nurl = \"https://hc.example/a\"\ntimeout = \"0s\"\n"),
                "fleet.toml:6:11: heartbeat.timeout: must be longer than zero",
            ),
            (
                &format!("{ONE}[heartbeat]\nurl = \"https://hc.example/a\"\nurls = [\"x\"]\n"),
                "fleet.toml:6:1: heartbeat.urls: unknown field `urls`",
            ),
            (
                &format!(
                    "{ONE}[[notify]]\nname = \"a\"\ntype = \"slack\"\nurl = \"http://h.example/\"\nchannel = \"#ops\"\n"
                ),
                "fleet.toml:8:1: notify[0].channel: unknown field `channel`",
            ),
        ]);
    }
}

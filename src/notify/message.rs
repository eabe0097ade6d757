//! What each channel sends for a [`Notification`]: pure functions from the
//! notification, the channel and the current time to HTTP requests or an email.
//! No IO, no clock: the sender passes `now_ms`, so every byte is testable.
//!
//! Presentation rules live in one place each: [`item_line`] words an item for
//! Slack, ntfy and email; [`alert`] builds the labels and annotations that
//! Alertmanager and the webhook share; [`header_value`] makes any text safe for an
//! HTTP header.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::notification::{Item, Kind, LISTED, Notification, SubjectKind};
use crate::config::{ChannelKind, NotifyChannel};
use crate::model::Shard;
use crate::present;

/// One HTTP request to make.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRequest {
    pub url: url::Url,
    pub headers: Vec<(&'static str, String)>,
    pub body: Vec<u8>,
}

/// Requests end up in logs and test failures: a Slack URL's path and the bearer
/// token are secrets, so `Debug` shows the origin only and redacts the headers
/// that carry (or derive from) a secret.
impl std::fmt::Debug for HttpRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, &str)> = self
            .headers
            .iter()
            .map(|(k, v)| match *k {
                "Authorization" | "X-Syncguard-Signature" => (*k, "<redacted>"),
                _ => (*k, v.as_str()),
            })
            .collect();
        f.debug_struct("HttpRequest")
            .field("url", &self.url.origin().ascii_serialization())
            .field("headers", &headers)
            .field("body_len", &self.body.len())
            .finish()
    }
}

/// One email to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email {
    pub subject: String,
    pub body: String,
    pub message_id: String,
}

/// What one notification becomes for its channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outgoing {
    Http(Vec<HttpRequest>),
    Email(Email),
}

/// Active alerts are re-sent this often, and a firing alert's endsAt is now + ENDS_AFTER.
pub const RESEND: Duration = Duration::from_secs(60);
/// Four re-sends may be lost before Alertmanager resolves an alert on its own, yet
/// an alert of a monitor that died resolves within minutes rather than never.
pub const ENDS_AFTER: Duration = Duration::from_secs(4 * RESEND.as_secs());

/// Emails are read in full and have no length limit worth the name; this only keeps
/// a 5000-node storm from becoming a megabyte of mail.
const EMAIL_LISTED: usize = 200;
/// HTTP header values longer than this are cut: ntfy and proxies reject huge headers.
const HEADER_MAX: usize = 250;
/// A node's reply or error is cut to this many characters in messages: it is
/// context, and an odd node must not be able to flood a chat.
const DETAIL_MAX: usize = 300;

/// How Alertmanager writes "no end" in its webhook (Go's zero `time.Time`).
const NO_END: &str = "0001-01-01T00:00:00Z";

const NODE_ALERT: &str = "SyncGuardNodeUnhealthy";
const GROUP_ALERT: &str = "SyncGuardGroupMasters";
const WATCHDOG_ALERT: &str = "SyncGuardMonitorWatchdog";
const TEST_ALERT: &str = "SyncGuardTest";

/// What `channel` sends for `n` at `now_ms` (Unix ms), from the instance
/// watching `shard` (if the fleet is sharded): see [`shard_title`] and
/// [`with_shard`] for what the shard adds. Unsharded, nothing is added.
pub fn render(
    channel: &NotifyChannel,
    n: &Notification,
    shard: Option<Shard>,
    now_ms: i64,
) -> Outgoing {
    match channel.kind {
        ChannelKind::Alertmanager => Outgoing::Http(alertmanager(channel, n, shard, now_ms)),
        ChannelKind::Webhook => Outgoing::Http(webhook(channel, n, shard, now_ms)),
        ChannelKind::Slack => Outgoing::Http(slack(channel, n, shard)),
        ChannelKind::Ntfy => Outgoing::Http(ntfy(channel, n, shard)),
        ChannelKind::Email => Outgoing::Email(email(n, shard)),
    }
}

/// The notification's title, with ` [shard 2/4]` at its end when sharded: the
/// one place the text formats (Slack, ntfy, email, the webhook's `title`) learn
/// which instance speaks, so on-call knows whose log and status page to open.
pub fn shard_title(n: &Notification, shard: Option<Shard>) -> Cow<'_, str> {
    match shard {
        Some(s) => Cow::Owned(format!("{} [shard {s}]", n.title)),
        None => Cow::Borrowed(&n.title),
    }
}

/// `alerts` with the label `shard` (`2/4`) when sharded. Every alert gets it, the
/// watchdog too: N instances' watchdogs are then N alerts, where without it
/// Alertmanager would merge them into one and a dead instance's silence would
/// go unnoticed. Node and group alerts cannot collide anyway (a node is in one
/// shard only); the label routes and groups them by instance. Silences need not
/// name it.
fn with_shard(mut alerts: Vec<Alert>, shard: Option<Shard>) -> Vec<Alert> {
    if let Some(s) = shard {
        for a in &mut alerts {
            a.labels.insert("shard", s.label());
        }
    }
    alerts
}

/// Alertmanager: the periodic re-send of every still-firing item (and the watchdog
/// alert when `channel.watchdog`), one request per URL. Nothing to say: no requests.
pub fn alertmanager_refresh(
    channel: &NotifyChannel,
    active: &[Item],
    page_url: Option<&str>,
    shard: Option<Shard>,
    now_ms: i64,
) -> Vec<HttpRequest> {
    let mut alerts: Vec<Alert> = active
        .iter()
        .filter(|i| i.firing)
        .map(|i| alert(i, page_url, now_ms))
        .collect();
    if channel.watchdog {
        alerts.push(watchdog_alert(now_ms));
    }
    if alerts.is_empty() {
        return Vec::new();
    }
    let alerts = with_shard(alerts, shard);
    // No notification behind a refresh; the time names this round of re-sends.
    let key = format!("refresh-{now_ms}");
    alertmanager_requests(channel, &alerts, &key)
}

/// The plain-text lines shared by Slack, ntfy and email: title, then at most
/// [`LISTED`] item lines, then "… and N more".
pub fn text_body(n: &Notification, shard: Option<Shard>) -> String {
    let mut out = one_line(&shard_title(n, shard));
    let items = item_lines(
        n,
        LISTED,
        Stamp::TimeOfDay {
            reference_ms: n.created_ms,
        },
    );
    if !items.is_empty() {
        out.push('\n');
        out.push_str(&items);
    }
    out
}

// ---------------------------------------------------------------------------
// Item wording (Slack, ntfy, email, and Alertmanager's description)

/// How an item's time is written.
#[derive(Clone, Copy)]
enum Stamp {
    /// `13:02:11 UTC`, with the date only when it is not the day of `reference_ms`:
    /// chat lines stay short, yet a reminder days later is not ambiguous.
    TimeOfDay { reference_ms: i64 },
    /// `2024-05-01 13:02:11 UTC`: email and Alertmanager, read out of context.
    Full,
}

/// Up to `max` item lines, then how many were left out; empty without items.
fn item_lines(n: &Notification, max: usize, stamp: Stamp) -> String {
    let mut lines: Vec<String> = n
        .items
        .iter()
        .take(max)
        .map(|i| match n.kind {
            // `notify test` carries a stand-in item: only its detail says anything
            // (a status line would read "test again after 0s").
            Kind::Test => clip(&i.detail, DETAIL_MAX),
            _ => item_line(i, stamp),
        })
        .filter(|line| !line.is_empty())
        .collect();
    let more = n.items.len().saturating_sub(max);
    if more > 0 {
        lines.push(format!("… and {more} more"));
    }
    lines.join("\n")
}

/// One item as a line: `✗ wall-07 (wall-A): timeout since 13:02:11 UTC — <detail>`,
/// `✓ wall-07 (wall-A): synced again after 4m 12s`, `✗ group wall-B: no Master since …`,
/// `– wall-07 (wall-A): in maintenance since … (maintenance window nightly; it was timeout)`.
fn item_line(item: &Item, stamp: Stamp) -> String {
    // A node in maintenance is not healthy: no check mark for it.
    let mark = match (item.firing, item.is_maintenance()) {
        (true, _) => "✗",
        (false, true) => "–",
        (false, false) => "✓",
    };
    let subject = match (item.kind, &item.group) {
        (SubjectKind::Group, _) => format!("group {}", item.name),
        (SubjectKind::Node, Some(group)) => format!("{} ({group})", item.name),
        (SubjectKind::Node, None) => item.name.clone(),
    };
    format!("{mark} {subject}: {}", state_text(item, stamp))
}

/// The item's state without its subject: what the line says after the colon, and
/// Alertmanager's `description`.
fn state_text(item: &Item, stamp: Stamp) -> String {
    let state = state_words(item);
    if item.is_removed() {
        // Its detail says the same; it is not repeated.
        return format!(
            "removed from the config (it was {})",
            item.was.as_deref().unwrap_or("unhealthy")
        );
    }
    if item.is_maintenance() {
        // The detail names the window.
        let detail = clip(&item.detail, DETAIL_MAX);
        let window = if detail.is_empty() {
            String::new()
        } else {
            format!("{detail}; ")
        };
        return format!(
            "in maintenance since {} ({window}it was {})",
            time_text(item.since_ms, stamp),
            item.was.as_deref().unwrap_or("unhealthy")
        );
    }
    let mut out = if item.firing {
        let mut s = format!("{state} since {}", time_text(item.since_ms, stamp));
        // It replaces an alarm the channel had: say what it was.
        if let Some(was) = &item.was {
            let _ = write!(s, " (worse than {was})");
        }
        s
    } else {
        let after = present::format_age(Duration::from_millis(
            u64::try_from(item.since_ms.saturating_sub(item.started_ms)).unwrap_or(0),
        ));
        match stamp {
            Stamp::TimeOfDay { .. } => format!("{state} again after {after}"),
            Stamp::Full => format!(
                "{state} again after {after} (at {})",
                time_text(item.since_ms, stamp)
            ),
        }
    };
    let detail = clip(&item.detail, DETAIL_MAX);
    if !detail.is_empty() {
        let _ = write!(out, " — {detail}");
    }
    out
}

/// The status in words: a node's status word as it is (`timeout`), a group's
/// status (`no_master`) as people say it.
fn state_words(item: &Item) -> String {
    match item.kind {
        SubjectKind::Node => item.status.clone(),
        SubjectKind::Group => crate::present::group_status_words(&item.status),
    }
}

/// Alertmanager's one-line `summary`: `wall-07 is timeout`, `wall-B has no Master`,
/// and `… again` once recovered.
fn summary(item: &Item) -> String {
    if item.is_removed() {
        return format!("{} was removed from the config", item.name);
    }
    if item.is_maintenance() {
        return format!("{} is in maintenance", item.name);
    }
    let again = if item.firing { "" } else { " again" };
    let verb = match item.kind {
        SubjectKind::Node => "is",
        SubjectKind::Group => "has",
    };
    format!("{} {verb} {}{again}", item.name, state_words(item))
}

fn time_text(ms: i64, stamp: Stamp) -> String {
    let t = utc_datetime(ms);
    match stamp {
        Stamp::TimeOfDay { reference_ms } if t.date() == utc_datetime(reference_ms).date() => {
            t.strftime("%H:%M:%S UTC").to_string()
        }
        _ => t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string(),
    }
}

/// Unix ms as a UTC calendar date and time.
fn utc_datetime(ms: i64) -> jiff::civil::DateTime {
    jiff::tz::Offset::UTC.to_datetime(present::timestamp(system_time(ms)))
}

/// Unix ms as a `SystemTime`, so [`present`]'s clamped conversions apply.
fn system_time(ms: i64) -> SystemTime {
    let d = Duration::from_millis(ms.unsigned_abs());
    let t = if ms >= 0 {
        UNIX_EPOCH.checked_add(d)
    } else {
        UNIX_EPOCH.checked_sub(d)
    };
    t.unwrap_or(UNIX_EPOCH)
}

/// RFC 3339 UTC with milliseconds, the time format of every JSON output.
fn rfc3339(ms: i64) -> String {
    present::rfc3339(system_time(ms))
}

/// At most `max` characters, `…` marking a cut.
fn clip(s: &str, max: usize) -> String {
    match s.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &s[..cut]),
        None => s.to_owned(),
    }
}

// ---------------------------------------------------------------------------
// Alerts (Alertmanager and webhook)

/// One alert, before it is written in either format.
struct Alert {
    firing: bool,
    /// Sorted, which the fingerprint relies on. No `instance`: two monitors that
    /// watch the same nodes (a redundant pair) produce the same alert, and
    /// Alertmanager deduplicates them. Labels are the alert's identity, so a
    /// recovered item carries the `status` it fired with (`Item::was`), not
    /// `synced`: otherwise the resolve would name a different alert.
    labels: BTreeMap<&'static str, String>,
    annotations: Map<String, Value>,
    starts_ms: i64,
    /// Firing: when Alertmanager should resolve it unless re-sent; resolved: when it
    /// ended.
    ends_ms: i64,
    generator_url: Option<String>,
}

/// The alert for one item. Firing items end at `now + ENDS_AFTER` (re-sent every
/// [`RESEND`] while active); recovered ones at their recovery time.
fn alert(item: &Item, page_url: Option<&str>, now_ms: i64) -> Alert {
    let mut labels = BTreeMap::new();
    match item.kind {
        SubjectKind::Node => {
            labels.insert("alertname", NODE_ALERT.to_owned());
            labels.insert("node", item.name.clone());
            if let Some(group) = &item.group {
                labels.insert("group", group.clone());
            }
        }
        SubjectKind::Group => {
            labels.insert("alertname", GROUP_ALERT.to_owned());
            labels.insert("group", item.name.clone());
        }
    }
    let status = match (&item.was, item.firing) {
        (Some(was), false) => was.clone(),
        _ => item.status.clone(),
    };
    labels.insert("status", status);
    labels.insert("severity", "critical".to_owned());
    let mut annotations = Map::new();
    annotations.insert("summary".into(), summary(item).into());
    annotations.insert("description".into(), state_text(item, Stamp::Full).into());
    let generator_url = page_url.map(|base| {
        let base = with_slash(base);
        match item.kind {
            SubjectKind::Node => format!(
                "{base}node/{}",
                utf8_percent_encode(&item.name, NON_ALPHANUMERIC)
            ),
            SubjectKind::Group => format!("{base}wall"),
        }
    });
    Alert {
        firing: item.firing,
        labels,
        annotations,
        starts_ms: item.started_ms,
        ends_ms: if item.firing {
            expiry(now_ms)
        } else {
            item.since_ms
        },
        generator_url,
    }
}

/// The always-firing alert that proves the monitor and its path to Alertmanager
/// work (a dead-man's switch routed to a heartbeat receiver).
fn watchdog_alert(now_ms: i64) -> Alert {
    let mut labels = BTreeMap::new();
    labels.insert("alertname", WATCHDOG_ALERT.to_owned());
    labels.insert("severity", "none".to_owned());
    let mut annotations = Map::new();
    annotations.insert(
        "summary".into(),
        "syncguard-fleet is running; this alert always fires".into(),
    );
    Alert {
        firing: true,
        labels,
        annotations,
        starts_ms: now_ms,
        ends_ms: expiry(now_ms),
        generator_url: None,
    }
}

/// `notify test`: resolved at once (started a second ago, ended now), so it shows
/// the route works without lingering as an active alert.
fn test_alert(n: &Notification, now_ms: i64) -> Alert {
    let mut labels = BTreeMap::new();
    labels.insert("alertname", TEST_ALERT.to_owned());
    labels.insert("severity", "none".to_owned());
    let mut annotations = Map::new();
    annotations.insert("summary".into(), "syncguard-fleet test notification".into());
    annotations.insert("description".into(), n.title.clone().into());
    Alert {
        firing: false,
        labels,
        annotations,
        starts_ms: now_ms.saturating_sub(1000),
        ends_ms: now_ms,
        generator_url: n.page_url.clone(),
    }
}

/// The alerts of a notification: one per item (all of them), or the test alert.
/// A firing item that replaces an alarm of another status (`was`: it got worse)
/// also resolves the alert of that status, whose labels differ.
fn alerts(n: &Notification, shard: Option<Shard>, now_ms: i64) -> Vec<Alert> {
    with_shard(unsharded_alerts(n, now_ms), shard)
}

fn unsharded_alerts(n: &Notification, now_ms: i64) -> Vec<Alert> {
    if n.kind == Kind::Test {
        return vec![test_alert(n, now_ms)];
    }
    let mut out = Vec::with_capacity(n.items.len());
    for i in &n.items {
        out.push(alert(i, n.page_url.as_deref(), now_ms));
        if i.firing
            && let Some(was) = &i.was
            && *was != i.status
        {
            out.push(replaced_alert(i, was, n.page_url.as_deref(), now_ms));
        }
    }
    out
}

/// The alert a worse status replaces, resolved when the new one starts: the
/// labels it fired with, so Alertmanager ends that very alert.
fn replaced_alert(item: &Item, was: &str, page_url: Option<&str>, now_ms: i64) -> Alert {
    let old = Item {
        firing: false,
        was: Some(was.to_owned()),
        ..item.clone()
    };
    let mut a = alert(&old, page_url, now_ms);
    let verb = match item.kind {
        SubjectKind::Node => "is",
        SubjectKind::Group => "has",
    };
    a.annotations.insert(
        "summary".into(),
        format!("{} {verb} {} now", item.name, state_words(item)).into(),
    );
    a.annotations.insert(
        "description".into(),
        format!(
            "replaced by {} since {}",
            state_words(item),
            time_text(item.since_ms, Stamp::Full)
        )
        .into(),
    );
    a.starts_ms = item.since_ms;
    a
}

fn expiry(now_ms: i64) -> i64 {
    now_ms.saturating_add(i64::try_from(ENDS_AFTER.as_millis()).unwrap_or(i64::MAX))
}

fn with_slash(base: &str) -> String {
    if base.ends_with('/') {
        base.to_owned()
    } else {
        format!("{base}/")
    }
}

/// 16 hex characters of SHA-256 over the sorted labels as `k=v\n`: the same labels
/// give the same fingerprint in every message and from every monitor.
fn fingerprint(labels: &BTreeMap<&'static str, String>) -> String {
    let mut hasher = Sha256::new();
    for (k, v) in labels {
        hasher.update(k.as_bytes());
        hasher.update(b"=");
        hasher.update(v.as_bytes());
        hasher.update(b"\n");
    }
    let mut out = hex(&hasher.finalize());
    out.truncate(16);
    out
}

// ---------------------------------------------------------------------------
// Alertmanager

fn alertmanager(
    channel: &NotifyChannel,
    n: &Notification,
    shard: Option<Shard>,
    now_ms: i64,
) -> Vec<HttpRequest> {
    alertmanager_requests(channel, &alerts(n, shard, now_ms), &n.id)
}

/// `POST <base>/api/v2/alerts` to every Alertmanager of the cluster (they do not
/// forward alerts to each other), with the same body.
fn alertmanager_requests(channel: &NotifyChannel, alerts: &[Alert], key: &str) -> Vec<HttpRequest> {
    let body: Vec<Value> = alerts
        .iter()
        .map(|a| {
            let mut v = Map::new();
            v.insert("labels".into(), json!(a.labels));
            v.insert("annotations".into(), Value::Object(a.annotations.clone()));
            v.insert("startsAt".into(), rfc3339(a.starts_ms).into());
            v.insert("endsAt".into(), rfc3339(a.ends_ms).into());
            if let Some(url) = &a.generator_url {
                v.insert("generatorURL".into(), url.clone().into());
            }
            Value::Object(v)
        })
        .collect();
    let body = serde_json::to_vec(&body).unwrap_or_default();
    channel
        .urls
        .iter()
        .map(|base| HttpRequest {
            url: alerts_url(base),
            headers: headers(channel, "application/json", key),
            body: body.clone(),
        })
        .collect()
}

/// `<base>/api/v2/alerts`, keeping a path prefix (`http://h/am/` →
/// `http://h/am/api/v2/alerts`) whether or not the base ends with `/`.
fn alerts_url(base: &url::Url) -> url::Url {
    let mut url = base.clone();
    let path = format!("{}/api/v2/alerts", base.path().trim_end_matches('/'));
    url.set_path(&path);
    url.set_fragment(None);
    url
}

// ---------------------------------------------------------------------------
// Webhook

/// The Alertmanager webhook format (version 4), so receivers written for
/// Alertmanager work unchanged, plus our `id` and `title`, and `shard` (`"2/4"`)
/// only when the fleet is sharded (absent, not null, otherwise: an unsharded body
/// stays as it was).
fn webhook(
    channel: &NotifyChannel,
    n: &Notification,
    shard: Option<Shard>,
    now_ms: i64,
) -> Vec<HttpRequest> {
    let alerts = alerts(n, shard, now_ms);
    let status = if alerts.iter().any(|a| a.firing) {
        "firing"
    } else {
        "resolved"
    };
    let common_labels = common(alerts.iter().map(|a| {
        a.labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::from(v.clone())))
            .collect::<Map<_, _>>()
    }));
    let common_annotations = common(alerts.iter().map(|a| a.annotations.clone()));
    let alerts: Vec<Value> = alerts
        .iter()
        .map(|a| {
            json!({
                "status": if a.firing { "firing" } else { "resolved" },
                "labels": a.labels,
                "annotations": a.annotations,
                "startsAt": rfc3339(a.starts_ms),
                // Alertmanager writes the zero time for an alert that has not ended.
                "endsAt": if a.firing { NO_END.to_owned() } else { rfc3339(a.ends_ms) },
                "generatorURL": a.generator_url.clone().unwrap_or_default(),
                "fingerprint": fingerprint(&a.labels),
            })
        })
        .collect();
    let mut body = json!({
        "version": "4",
        "groupKey": format!("{{}}:{{syncguard/{}}}", channel.name),
        "truncatedAlerts": 0,
        "status": status,
        "receiver": channel.name,
        "groupLabels": {},
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": n.page_url.clone().unwrap_or_default(),
        "alerts": alerts,
        "id": n.id,
        "title": shard_title(n, shard),
    });
    if let (Some(s), Some(members)) = (shard, body.as_object_mut()) {
        members.insert("shard".into(), s.label().into());
    }
    let body = serde_json::to_vec(&body).unwrap_or_default();
    let mut requests = http_each(channel, "application/json", &n.id, &body);
    // Signed over the exact bytes sent, so the receiver checks before parsing.
    if let Some(secret) = &channel.secret
        && let Some(mac) = hmac_sha256_hex(secret.expose().as_bytes(), &body)
    {
        for r in &mut requests {
            r.headers
                .push(("X-Syncguard-Signature", format!("sha256={mac}")));
        }
    }
    requests
}

/// The entries every map shares (same key, same value), as Alertmanager's
/// `commonLabels`/`commonAnnotations`; empty when there are no maps.
fn common(mut maps: impl Iterator<Item = Map<String, Value>>) -> Map<String, Value> {
    let Some(mut shared) = maps.next() else {
        return Map::new();
    };
    for m in maps {
        shared.retain(|k, v| m.get(k) == Some(v));
    }
    shared
}

/// Lower-case hex HMAC-SHA256 of `data` with `key`. HMAC takes keys of any length,
/// so `None` cannot happen; it is there so that no input can make this panic.
fn hmac_sha256_hex(key: &[u8], data: &[u8]) -> Option<String> {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).ok()?;
    mac.update(data);
    Some(hex(&mac.finalize().into_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

// ---------------------------------------------------------------------------
// Slack

/// `{"text": …}`: the incoming-webhook format Slack, Mattermost and Rocket.Chat
/// all accept.
fn slack(channel: &NotifyChannel, n: &Notification, shard: Option<Shard>) -> Vec<HttpRequest> {
    let mut text = slack_escape(&text_body(n, shard));
    if let Some(url) = &n.page_url {
        let _ = write!(text, "\n<{}|status page>", slack_link_url(url));
    }
    let body = serde_json::to_vec(&json!({ "text": text })).unwrap_or_default();
    http_each(channel, "application/json", &n.id, &body)
}

/// Slack reads `<…>` as links and mentions (`<!channel>`) and `&` as an entity:
/// names and details are text and must stay text.
fn slack_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// The URL inside `<url|label>`: `|` and `>` would end it early, so they (and
/// anything else that is not a URL character) are percent-encoded.
fn slack_link_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for c in url.chars() {
        match c {
            '|' | '<' | '>' | '&' => {
                let _ = write!(out, "%{:02X}", c as u32);
            }
            c if c.is_whitespace() || c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

// ---------------------------------------------------------------------------
// ntfy

fn ntfy(channel: &NotifyChannel, n: &Notification, shard: Option<Shard>) -> Vec<HttpRequest> {
    let (priority, tags) = match n.kind {
        Kind::Firing => (channel.priority.unwrap_or(4), "rotating_light"),
        Kind::Reminder => (channel.priority.unwrap_or(4), "warning"),
        // Resolved by a maintenance window, not by a recovery: no check mark.
        Kind::Resolved if only_maintenance(n) => (3, "wrench"),
        Kind::Resolved => (3, "white_check_mark"),
        Kind::Test => (3, "test_tube"),
    };
    // ntfy knows 1 (min) to 5 (max); the validator checks, this only keeps a bad
    // value from being refused by the server.
    let priority = priority.clamp(1, 5);
    let body = text_body(n, shard).into_bytes();
    let mut requests = http_each(channel, "text/plain; charset=utf-8", &n.id, &body);
    for r in &mut requests {
        r.headers
            .push(("Title", encoded_word(&shard_title(n, shard), HEADER_MAX)));
        r.headers.push(("Priority", priority.to_string()));
        r.headers.push(("Tags", tags.to_owned()));
        if let Some(url) = &n.page_url {
            r.headers.push(("Click", header_value(url, HEADER_MAX)));
        }
    }
    requests
}

// ---------------------------------------------------------------------------
// Email

/// A resolved notification with no real recovery in it, only subjects that
/// entered maintenance (and perhaps some removed from the config).
fn only_maintenance(n: &Notification) -> bool {
    n.items.iter().any(Item::is_maintenance) && !n.items.iter().any(Item::is_recovery)
}

fn email(n: &Notification, shard: Option<Shard>) -> Email {
    let word = match n.kind {
        Kind::Firing => "CRITICAL",
        Kind::Reminder => "REMINDER",
        // "RECOVERED: wall-03 in maintenance" would say what is not so.
        Kind::Resolved if !n.items.iter().any(Item::is_recovery) => "RESOLVED",
        Kind::Resolved => "RECOVERED",
        Kind::Test => "TEST",
    };
    let title = shard_title(n, shard);
    let subject = one_line(&format!("[syncguard] {word}: {title}"));
    let mut body = one_line(&title);
    body.push_str("\n\n");
    let items = item_lines(n, EMAIL_LISTED, Stamp::Full);
    if !items.is_empty() {
        body.push_str(&items);
        body.push_str("\n\n");
    }
    if let Some(url) = &n.page_url {
        let _ = writeln!(body, "Status page: {url}");
    }
    let _ = writeln!(body, "Notification id: {}", n.id);
    // The id is ours (hex), but a Message-ID that is not an atom breaks threading.
    let local: String =
        n.id.chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))
            .collect();
    Email {
        subject,
        body,
        message_id: format!("<{local}@syncguard-fleet>"),
    }
}

/// Text on one line (a subject, a title heading a message): every control
/// character (CR and LF above all, which would start a new mail header) becomes a
/// space, runs of spaces become one.
fn one_line(s: &str) -> String {
    let replaced: String = s
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    replaced.split_whitespace().collect::<Vec<_>>().join(" ")
}

// ---------------------------------------------------------------------------
// HTTP plumbing

/// Any text as an HTTP header value: visible ASCII and space only (everything else,
/// CR and LF included, becomes `?`), at most `max` characters, trimmed.
fn header_value(s: &str, max: usize) -> String {
    let safe: String = s
        .chars()
        .take(max)
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    safe.trim().to_owned()
}

/// Text for a header that may carry UTF-8: plain when it is visible ASCII, else an
/// RFC 2047 encoded word (`=?UTF-8?B?…?=`), which ntfy (2.4 and later) decodes, so
/// `×` and names in any script survive. Control characters become spaces first.
fn encoded_word(s: &str, max: usize) -> String {
    use base64::Engine as _;
    let text: String = one_line(s).chars().take(max).collect();
    if text.chars().all(|c| c == ' ' || c.is_ascii_graphic()) {
        return text;
    }
    format!(
        "=?UTF-8?B?{}?=",
        base64::engine::general_purpose::STANDARD.encode(text.as_bytes())
    )
}

/// The headers of every request: type, idempotency key and the bearer token.
fn headers(
    channel: &NotifyChannel,
    content_type: &'static str,
    key: &str,
) -> Vec<(&'static str, String)> {
    let mut h = vec![
        ("Content-Type", content_type.to_owned()),
        ("Idempotency-Key", header_value(key, HEADER_MAX)),
    ];
    if let Some(token) = &channel.token {
        // Not cut: a token (a JWT, say) can be longer than a text header.
        h.push((
            "Authorization",
            format!("Bearer {}", header_value(token.expose(), usize::MAX)),
        ));
    }
    h
}

/// The same request to every URL of the channel.
fn http_each(
    channel: &NotifyChannel,
    content_type: &'static str,
    key: &str,
    body: &[u8],
) -> Vec<HttpRequest> {
    let headers = headers(channel, content_type, key);
    channel
        .urls
        .iter()
        .map(|url| HttpRequest {
            url: url.clone(),
            headers: headers.clone(),
            body: body.to_vec(),
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::config::{GIVE_UP_AFTER, GROUP_WAIT, NOTIFY_TIMEOUT, Secret};

    /// 2024-05-01 13:02:11 UTC.
    const NOW: i64 = 1_714_568_531_000;

    /// A channel `ops` of `kind` to `urls`, with the defaults and no filters,
    /// token or secret (the silence tests use it too).
    pub(crate) fn channel(kind: ChannelKind, urls: &[&str]) -> NotifyChannel {
        NotifyChannel {
            name: "ops".into(),
            kind,
            urls: urls.iter().map(|u| url::Url::parse(u).unwrap()).collect(),
            urls_secret: false,
            nodes: Vec::new(),
            groups: Vec::new(),
            on: Vec::new(),
            group_wait: GROUP_WAIT,
            repeat_interval: None,
            give_up_after: GIVE_UP_AFTER,
            timeout: NOTIFY_TIMEOUT,
            secret: None,
            token: None,
            priority: None,
            watchdog: false,
            email: None,
        }
    }

    /// A recovered node was `timeout` when it fired.
    fn node(name: &str, group: Option<&str>, status: &str, firing: bool) -> Item {
        Item {
            kind: SubjectKind::Node,
            name: name.into(),
            group: group.map(Into::into),
            status: status.into(),
            firing,
            since_ms: if firing { NOW - 60_000 } else { NOW - 5_000 },
            started_ms: if firing { NOW - 60_000 } else { NOW - 257_000 },
            detail: if firing {
                "no reply within 2s".into()
            } else {
                String::new()
            },
            was: (!firing).then(|| "timeout".into()),
        }
    }

    fn group_item(name: &str) -> Item {
        Item {
            kind: SubjectKind::Group,
            name: name.into(),
            group: None,
            status: "no_master".into(),
            firing: true,
            since_ms: NOW - 30_000,
            started_ms: NOW - 30_000,
            detail: String::new(),
            was: None,
        }
    }

    /// 2 firing + 1 recovered.
    fn small() -> Notification {
        Notification {
            id: "0123456789abcdef0123456789abcdef".into(),
            channel: "ops".into(),
            created_ms: NOW,
            kind: Kind::Firing,
            title: "wall-A: 2 of 8 nodes unhealthy".into(),
            items: vec![
                node("wall-07", Some("wall-A"), "timeout", true),
                node("wall 08", None, "free", true),
                node("wall-09", Some("wall-A"), "synced", false),
            ],
            page_url: Some("http://mon:8080/".into()),
        }
    }

    /// What `notify test` makes: one stand-in item.
    fn test_notification() -> Notification {
        let n = small();
        Notification {
            page_url: n.page_url,
            ..super::super::test_send::notification(&n.channel, "mon", n.id, NOW)
        }
    }

    /// 25 firing.
    fn storm() -> Notification {
        Notification {
            items: (1..=25)
                .map(|i| node(&format!("wall-{i:02}"), Some("wall-A"), "timeout", true))
                .collect(),
            title: "wall-A: 25 of 25 nodes unhealthy (timeout ×25)".into(),
            ..small()
        }
    }

    fn http(o: Outgoing) -> Vec<HttpRequest> {
        match o {
            Outgoing::Http(r) => r,
            Outgoing::Email(e) => panic!("expected HTTP, got {e:?}"),
        }
    }

    fn json_body(r: &HttpRequest) -> Value {
        serde_json::from_slice(&r.body).unwrap()
    }

    fn header<'a>(r: &'a HttpRequest, name: &str) -> Option<&'a str> {
        r.headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn alertmanager_alerts() {
        let ch = channel(ChannelKind::Alertmanager, &["http://am1:9093/"]);
        let reqs = http(render(&ch, &small(), None, NOW));
        assert_eq!(reqs.len(), 1);
        let body = json_body(&reqs[0]);
        let alerts = body.as_array().unwrap();
        assert_eq!(alerts.len(), 3);

        assert_eq!(
            alerts[0]["labels"],
            json!({"alertname": "SyncGuardNodeUnhealthy", "group": "wall-A",
                   "node": "wall-07", "severity": "critical", "status": "timeout"})
        );
        // No group known: no group label.
        assert_eq!(
            alerts[1]["labels"],
            json!({"alertname": "SyncGuardNodeUnhealthy", "node": "wall 08", "severity": "critical", "status": "free"})
        );
        for a in alerts {
            assert!(a["labels"].get("instance").is_none());
        }
        assert_eq!(alerts[0]["annotations"]["summary"], "wall-07 is timeout");
        assert_eq!(
            alerts[0]["annotations"]["description"],
            "timeout since 2024-05-01 13:01:11 UTC — no reply within 2s"
        );
        // Firing: from the start, until now + ENDS_AFTER (4 minutes).
        assert_eq!(alerts[0]["startsAt"], "2024-05-01T13:01:11.000Z");
        assert_eq!(alerts[0]["endsAt"], "2024-05-01T13:06:11.000Z");
        assert_eq!(alerts[0]["generatorURL"], "http://mon:8080/node/wall%2D07");
        assert_eq!(alerts[1]["generatorURL"], "http://mon:8080/node/wall%2008");
        // Recovered: ends at the recovery time, same labels as when it fired.
        assert_eq!(
            alerts[2]["labels"],
            json!({"alertname": "SyncGuardNodeUnhealthy", "group": "wall-A",
                   "node": "wall-09", "severity": "critical", "status": "timeout"})
        );
        assert_eq!(alerts[2]["startsAt"], "2024-05-01T12:57:54.000Z");
        assert_eq!(alerts[2]["endsAt"], "2024-05-01T13:02:06.000Z");
        assert_eq!(
            alerts[2]["annotations"]["summary"],
            "wall-09 is synced again"
        );

        assert_eq!(reqs[0].url.as_str(), "http://am1:9093/api/v2/alerts");
        assert_eq!(header(&reqs[0], "Content-Type"), Some("application/json"));
        assert_eq!(
            header(&reqs[0], "Idempotency-Key"),
            Some("0123456789abcdef0123456789abcdef")
        );
        assert_eq!(header(&reqs[0], "Authorization"), None);
    }

    #[test]
    fn alertmanager_group_alert_and_no_page() {
        let ch = channel(ChannelKind::Alertmanager, &["http://am1:9093"]);
        let n = Notification {
            items: vec![group_item("wall-B")],
            page_url: None,
            ..small()
        };
        let body = json_body(&http(render(&ch, &n, None, NOW))[0]);
        let a = &body[0];
        assert_eq!(
            a["labels"],
            json!({"alertname": "SyncGuardGroupMasters", "group": "wall-B", "severity": "critical", "status": "no_master"})
        );
        assert_eq!(a["annotations"]["summary"], "wall-B has no Master");
        assert!(a.get("generatorURL").is_none());

        let with_page = Notification {
            page_url: Some("http://mon:8080".into()),
            ..n
        };
        let body = json_body(&http(render(&ch, &with_page, None, NOW))[0]);
        assert_eq!(body[0]["generatorURL"], "http://mon:8080/wall");
    }

    #[test]
    fn alertmanager_sends_every_item_to_every_url() {
        let urls = [
            "http://am1:9093",
            "http://am2:9093/",
            "https://h/am",
            "https://h/am/",
            "http://h/am/?x=1",
        ];
        let mut ch = channel(ChannelKind::Alertmanager, &urls);
        ch.token = Some(Secret::new("s3cret"));
        let reqs = http(render(&ch, &storm(), None, NOW));
        let got: Vec<&str> = reqs.iter().map(|r| r.url.as_str()).collect();
        assert_eq!(
            got,
            [
                "http://am1:9093/api/v2/alerts",
                "http://am2:9093/api/v2/alerts",
                "https://h/am/api/v2/alerts",
                "https://h/am/api/v2/alerts",
                "http://h/am/api/v2/alerts?x=1",
            ]
        );
        for r in &reqs {
            assert_eq!(json_body(r).as_array().unwrap().len(), 25);
            assert_eq!(header(r, "Authorization"), Some("Bearer s3cret"));
            assert_eq!(r.body, reqs[0].body);
        }
        // The token never shows in a debug print.
        assert!(!format!("{reqs:?}").contains("s3cret"));
    }

    #[test]
    fn alertmanager_refresh_resends_firing_and_watchdog() {
        let mut ch = channel(
            ChannelKind::Alertmanager,
            &["http://am1:9093", "http://am2:9093"],
        );
        let n = small();
        let reqs = alertmanager_refresh(&ch, &n.items, None, None, NOW);
        assert_eq!(reqs.len(), 2);
        let body = json_body(&reqs[0]);
        // The recovered item is not re-sent.
        assert_eq!(body.as_array().unwrap().len(), 2);
        assert_eq!(body[0]["endsAt"], "2024-05-01T13:06:11.000Z");
        assert_eq!(
            header(&reqs[0], "Idempotency-Key"),
            Some("refresh-1714568531000")
        );

        assert!(alertmanager_refresh(&ch, &[], None, None, NOW).is_empty());

        ch.watchdog = true;
        let reqs = alertmanager_refresh(&ch, &[], None, None, NOW);
        assert_eq!(reqs.len(), 2);
        let body = json_body(&reqs[0]);
        assert_eq!(
            body,
            json!([{
                "labels": {"alertname": "SyncGuardMonitorWatchdog", "severity": "none"},
                "annotations": {"summary": "syncguard-fleet is running; this alert always fires"},
                "startsAt": "2024-05-01T13:02:11.000Z",
                "endsAt": "2024-05-01T13:06:11.000Z",
            }])
        );
        let reqs = alertmanager_refresh(&ch, &n.items, Some("http://mon/"), None, NOW);
        let body = json_body(&reqs[0]);
        assert_eq!(body.as_array().unwrap().len(), 3);
        assert_eq!(body[0]["generatorURL"], "http://mon/node/wall%2D07");
    }

    #[test]
    fn alertmanager_test_alert_is_resolved_at_once() {
        let ch = channel(ChannelKind::Alertmanager, &["http://am1:9093"]);
        let n = test_notification();
        let body = json_body(&http(render(&ch, &n, None, NOW))[0]);
        assert_eq!(body.as_array().unwrap().len(), 1);
        assert_eq!(
            body[0]["labels"],
            json!({"alertname": "SyncGuardTest", "severity": "none"})
        );
        assert_eq!(body[0]["startsAt"], "2024-05-01T13:02:10.000Z");
        assert_eq!(body[0]["endsAt"], "2024-05-01T13:02:11.000Z");
    }

    #[test]
    fn webhook_v4() {
        let ch = channel(ChannelKind::Webhook, &["http://hook/a", "http://hook/b"]);
        let reqs = http(render(&ch, &small(), None, NOW));
        assert_eq!(reqs.len(), 2);
        assert_eq!(reqs[0].url.as_str(), "http://hook/a");
        assert_eq!(reqs[1].body, reqs[0].body);
        assert_eq!(header(&reqs[0], "X-Syncguard-Signature"), None);
        let body = json_body(&reqs[0]);
        insta::assert_snapshot!(serde_json::to_string_pretty(&body).unwrap());
    }

    #[test]
    fn webhook_resolved_and_common_labels() {
        let ch = channel(ChannelKind::Webhook, &["http://hook/"]);
        let n = Notification {
            kind: Kind::Resolved,
            items: vec![
                node("wall-09", Some("wall-A"), "synced", false),
                node("wall-10", Some("wall-A"), "synced", false),
            ],
            ..small()
        };
        let body = json_body(&http(render(&ch, &n, None, NOW))[0]);
        assert_eq!(body["status"], "resolved");
        assert_eq!(
            body["commonLabels"],
            json!({"alertname": "SyncGuardNodeUnhealthy", "group": "wall-A", "severity": "critical", "status": "timeout"})
        );
        assert_eq!(body["alerts"][0]["status"], "resolved");
        assert_eq!(body["alerts"][0]["endsAt"], "2024-05-01T13:02:06.000Z");
    }

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            hmac_sha256_hex(b"Jefe", b"what do ya want for nothing?").unwrap(),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn webhook_signature_covers_the_exact_body() {
        let mut ch = channel(ChannelKind::Webhook, &["http://hook/"]);
        ch.secret = Some(Secret::new("Jefe"));
        let reqs = http(render(&ch, &small(), None, NOW));
        let r = &reqs[0];
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"Jefe").unwrap();
        mac.update(&r.body);
        let expected = format!("sha256={}", hex(&mac.finalize().into_bytes()));
        assert_eq!(header(r, "X-Syncguard-Signature"), Some(expected.as_str()));
        assert!(!format!("{r:?}").contains(&expected));
    }

    #[test]
    fn fingerprint_is_stable_and_per_node() {
        let fp = |item: &Item| fingerprint(&alert(item, None, NOW).labels);
        let firing = node("wall-07", Some("wall-A"), "timeout", true);
        let recovered = node("wall-07", Some("wall-A"), "synced", false);
        let free = node("wall-07", Some("wall-A"), "free", true);
        let other = node("wall-08", Some("wall-A"), "timeout", true);
        assert_eq!(fp(&firing).len(), 16);
        assert!(fp(&firing).chars().all(|c| c.is_ascii_hexdigit()));
        assert_eq!(fp(&firing), fp(&firing.clone()));
        // Its recovery (which carries the status it fired with) is the same alert.
        assert_eq!(fp(&firing), fp(&recovered));
        // Another status is another alert, as Alertmanager sees it too.
        assert_ne!(fp(&firing), fp(&free));
        assert_ne!(fp(&firing), fp(&other));
        // A recovered item from before `was` existed falls back to its own status.
        let mut old = recovered.clone();
        old.was = None;
        assert_eq!(alert(&old, None, NOW).labels["status"], "synced");
        // Pinned: a receiver may have stored it.
        assert_eq!(
            fp(&firing),
            &hex(&Sha256::digest(
                b"alertname=SyncGuardNodeUnhealthy\ngroup=wall-A\nnode=wall-07\nseverity=critical\nstatus=timeout\n"
            ))[..16]
        );
    }

    #[test]
    fn slack_escapes_and_links() {
        let ch = channel(
            ChannelKind::Slack,
            &["https://hooks.slack.com/services/T/B/X"],
        );
        let mut n = small();
        n.items[0].name = "<!channel>".into();
        n.items[0].detail = "a & b <http://evil|click>".into();
        n.page_url = Some("http://mon:8080/?a=1|2".into());
        let reqs = http(render(&ch, &n, None, NOW));
        assert_eq!(reqs.len(), 1);
        let text = json_body(&reqs[0])["text"].as_str().unwrap().to_owned();
        assert!(text.contains("✗ &lt;!channel&gt; (wall-A): timeout since 13:01:11 UTC"));
        assert!(text.contains("a &amp; b &lt;http://evil|click&gt;"));
        assert!(!text.contains("<!channel>"));
        assert!(text.ends_with("\n<http://mon:8080/?a=1%7C2|status page>"));
        assert!(!format!("{reqs:?}").contains("services"));
    }

    #[test]
    fn ntfy_headers_are_ascii() {
        let mut ch = channel(ChannelKind::Ntfy, &["https://ntfy.sh/walls"]);
        ch.priority = Some(5);
        let mut n = small();
        n.title = "café\r\nX-Evil: 1".into();
        let r = &http(render(&ch, &n, None, NOW))[0];
        // UTF-8 goes as an RFC 2047 word; CR/LF never reach the header.
        let title = header(r, "Title").unwrap();
        let b64 = title
            .strip_prefix("=?UTF-8?B?")
            .and_then(|t| t.strip_suffix("?="))
            .unwrap();
        use base64::Engine as _;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(String::from_utf8(decoded).unwrap(), "café X-Evil: 1");
        assert_eq!(header(r, "Priority"), Some("5"));
        assert_eq!(header(r, "Tags"), Some("rotating_light"));
        assert_eq!(header(r, "Click"), Some("http://mon:8080/"));
        assert_eq!(header(r, "Content-Type"), Some("text/plain; charset=utf-8"));
        for (_, v) in &r.headers {
            assert!(v.chars().all(|c| c == ' ' || c.is_ascii_graphic()), "{v:?}");
        }
        assert_eq!(
            String::from_utf8(r.body.clone()).unwrap(),
            text_body(&n, None)
        );

        n.title = "x".repeat(1000);
        n.kind = Kind::Resolved;
        let r = &http(render(&ch, &n, None, NOW))[0];
        assert_eq!(header(r, "Title").unwrap().len(), HEADER_MAX);
        assert_eq!(header(r, "Priority"), Some("3"));
        assert_eq!(header(r, "Tags"), Some("white_check_mark"));
        n.kind = Kind::Reminder;
        ch.priority = None;
        let r = &http(render(&ch, &n, None, NOW))[0];
        assert_eq!(header(r, "Priority"), Some("4"));
        assert_eq!(header(r, "Tags"), Some("warning"));
    }

    #[test]
    fn email_subject_body_and_id() {
        let ch = channel(ChannelKind::Email, &[]);
        let mut n = small();
        n.title = "wall-A:\r\n2 of 8\tdown".into();
        let Outgoing::Email(e) = render(&ch, &n, None, NOW) else {
            panic!("expected an email")
        };
        assert_eq!(e.subject, "[syncguard] CRITICAL: wall-A: 2 of 8 down");
        assert_eq!(
            e.message_id,
            "<0123456789abcdef0123456789abcdef@syncguard-fleet>"
        );
        insta::assert_snapshot!(e.body);

        for (kind, word) in [
            (Kind::Reminder, "REMINDER"),
            (Kind::Resolved, "RECOVERED"),
            (Kind::Test, "TEST"),
        ] {
            let n = Notification { kind, ..small() };
            let Outgoing::Email(e) = render(&ch, &n, None, NOW) else {
                panic!("expected an email")
            };
            assert_eq!(
                e.subject,
                format!("[syncguard] {word}: wall-A: 2 of 8 nodes unhealthy")
            );
        }
    }

    #[test]
    fn test_message() {
        let n = test_notification();
        assert_eq!(
            text_body(&n, None),
            "test notification from syncguard-fleet on mon\nsent by `syncguard-fleet notify test`"
        );
        let Outgoing::Email(e) = render(&channel(ChannelKind::Email, &[]), &n, None, NOW) else {
            panic!("expected an email")
        };
        assert_eq!(
            e.body,
            "test notification from syncguard-fleet on mon\n\n\
             sent by `syncguard-fleet notify test`\n\n\
             Status page: http://mon:8080/\n\
             Notification id: 0123456789abcdef0123456789abcdef\n"
        );
        let r = &http(render(
            &channel(ChannelKind::Ntfy, &["https://ntfy.sh/t"]),
            &n,
            None,
            NOW,
        ))[0];
        assert_eq!(header(r, "Priority"), Some("3"));
        assert_eq!(header(r, "Tags"), Some("test_tube"));
        let body = json_body(
            &http(render(
                &channel(ChannelKind::Webhook, &["http://h/"]),
                &n,
                None,
                NOW,
            ))[0],
        );
        assert_eq!(body["status"], "resolved");
        assert_eq!(body["alerts"][0]["labels"]["alertname"], "SyncGuardTest");
    }

    #[test]
    fn email_lists_up_to_200() {
        let ch = channel(ChannelKind::Email, &[]);
        let n = Notification {
            items: (0..205)
                .map(|i| node(&format!("n{i:03}"), None, "timeout", true))
                .collect(),
            ..small()
        };
        let Outgoing::Email(e) = render(&ch, &n, None, NOW) else {
            panic!("expected an email")
        };
        assert_eq!(e.body.matches("✗ n").count(), 200);
        assert!(e.body.contains("\n… and 5 more\n"));
    }

    #[test]
    fn text_body_lists_20() {
        let text = text_body(&storm(), None);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + LISTED + 1);
        assert_eq!(lines[0], "wall-A: 25 of 25 nodes unhealthy (timeout ×25)");
        assert_eq!(
            lines[1],
            "✗ wall-01 (wall-A): timeout since 13:01:11 UTC — no reply within 2s"
        );
        assert_eq!(lines[21], "… and 5 more");
    }

    #[test]
    fn item_lines() {
        let short = Stamp::TimeOfDay { reference_ms: NOW };
        let n = small();
        assert_eq!(
            item_line(&n.items[1], short),
            "✗ wall 08: free since 13:01:11 UTC — no reply within 2s"
        );
        assert_eq!(
            item_line(&n.items[2], short),
            "✓ wall-09 (wall-A): synced again after 4m 12s"
        );
        assert_eq!(
            item_line(&n.items[2], Stamp::Full),
            "✓ wall-09 (wall-A): synced again after 4m 12s (at 2024-05-01 13:02:06 UTC)"
        );
        assert_eq!(
            item_line(&group_item("wall-B"), short),
            "✗ group wall-B: no Master since 13:01:41 UTC"
        );
        // A day earlier: the date is written.
        let mut old = n.items[0].clone();
        old.since_ms -= 86_400_000;
        assert_eq!(
            item_line(&old, short),
            "✗ wall-07 (wall-A): timeout since 2024-04-30 13:01:11 UTC — no reply within 2s"
        );
        // A long detail is cut.
        old.detail = "x".repeat(1000);
        assert!(item_line(&old, short).ends_with(&format!("{}…", "x".repeat(DETAIL_MAX))));
    }

    #[test]
    fn odd_times_do_not_panic() {
        let mut item = node("a", None, "timeout", true);
        item.since_ms = i64::MIN;
        item.started_ms = i64::MAX;
        let _ = item_line(&item, Stamp::Full);
        item.firing = false;
        let _ = item_line(
            &item,
            Stamp::TimeOfDay {
                reference_ms: i64::MAX,
            },
        );
        let _ = alert(&item, Some("x"), i64::MAX);
    }

    /// `wall-07` entered maintenance window `nightly`, 5 s ago; it was `timeout`.
    fn in_maintenance() -> Notification {
        let mut item = node("wall-07", Some("wall-A"), "maintenance", false);
        item.detail = "maintenance window nightly".into();
        Notification {
            kind: Kind::Resolved,
            title: "wall-07 in maintenance".into(),
            items: vec![item],
            ..small()
        }
    }

    #[test]
    fn maintenance_reads_as_maintenance_everywhere() {
        let n = in_maintenance();
        let line = "– wall-07 (wall-A): in maintenance since 13:02:06 UTC (maintenance window nightly; it was timeout)";
        assert_eq!(
            text_body(&n, None),
            format!("wall-07 in maintenance\n{line}")
        );

        // Alertmanager: the alert it fired with resolves.
        let am = channel(ChannelKind::Alertmanager, &["http://am1:9093"]);
        let body = json_body(&http(render(&am, &n, None, NOW))[0]);
        assert_eq!(body[0]["labels"]["status"], "timeout");
        assert_eq!(body[0]["endsAt"], "2024-05-01T13:02:06.000Z");
        assert_eq!(
            body[0]["annotations"]["summary"],
            "wall-07 is in maintenance"
        );
        assert_eq!(
            body[0]["annotations"]["description"],
            "in maintenance since 2024-05-01 13:02:06 UTC (maintenance window nightly; it was timeout)"
        );

        // Webhook: resolved, with the title.
        let wh = channel(ChannelKind::Webhook, &["http://hook/"]);
        let body = json_body(&http(render(&wh, &n, None, NOW))[0]);
        assert_eq!(body["status"], "resolved");
        assert_eq!(body["title"], "wall-07 in maintenance");
        assert_eq!(body["alerts"][0]["labels"]["status"], "timeout");

        // Slack: the same text.
        let sl = channel(
            ChannelKind::Slack,
            &["https://hooks.slack.com/services/T/B/X"],
        );
        let text = json_body(&http(render(&sl, &n, None, NOW))[0])["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            text.starts_with(&format!("wall-07 in maintenance\n{line}")),
            "{text}"
        );

        // ntfy: no check mark.
        let nt = channel(ChannelKind::Ntfy, &["https://ntfy.sh/t"]);
        let r = &http(render(&nt, &n, None, NOW))[0];
        assert_eq!(header(r, "Title"), Some("wall-07 in maintenance"));
        assert_eq!(header(r, "Tags"), Some("wrench"));
        assert_eq!(header(r, "Priority"), Some("3"));

        // Email: resolved, not "recovered".
        let Outgoing::Email(e) = render(&channel(ChannelKind::Email, &[]), &n, None, NOW) else {
            panic!("expected an email")
        };
        assert_eq!(e.subject, "[syncguard] RESOLVED: wall-07 in maintenance");
        assert!(
            e.body
                .contains("– wall-07 (wall-A): in maintenance since 2024-05-01 13:02:06 UTC")
        );

        // With a real recovery in it, a recovery it is.
        let mut mixed = in_maintenance();
        mixed
            .items
            .push(node("wall-09", Some("wall-A"), "synced", false));
        let Outgoing::Email(e) = render(&channel(ChannelKind::Email, &[]), &mixed, None, NOW)
        else {
            panic!("expected an email")
        };
        assert!(e.subject.starts_with("[syncguard] RECOVERED: "));
        let r = &http(render(&nt, &mixed, None, NOW))[0];
        assert_eq!(header(r, "Tags"), Some("white_check_mark"));
    }

    #[test]
    fn worse_resolves_the_old_alert_and_fires_the_new() {
        let mut item = node("wall-07", Some("wall-A"), "free", true);
        item.was = Some("timeout".into());
        let n = Notification {
            title: "wall-07 unhealthy: free".into(),
            items: vec![item],
            ..small()
        };
        let am = channel(ChannelKind::Alertmanager, &["http://am1:9093"]);
        let body = json_body(&http(render(&am, &n, None, NOW))[0]);
        let alerts = body.as_array().unwrap();
        assert_eq!(alerts.len(), 2);
        assert_eq!(alerts[0]["labels"]["status"], "free");
        assert_eq!(alerts[0]["endsAt"], "2024-05-01T13:06:11.000Z");
        assert_eq!(alerts[1]["labels"]["status"], "timeout");
        assert_eq!(alerts[1]["labels"]["node"], "wall-07");
        assert_eq!(
            alerts[1]["endsAt"], "2024-05-01T13:01:11.000Z",
            "ended when the new one began"
        );
        assert_eq!(alerts[1]["annotations"]["summary"], "wall-07 is free now");
        assert_eq!(
            alerts[1]["annotations"]["description"],
            "replaced by free since 2024-05-01 13:01:11 UTC"
        );
        let wh = channel(ChannelKind::Webhook, &["http://hook/"]);
        let body = json_body(&http(render(&wh, &n, None, NOW))[0]);
        assert_eq!(body["status"], "firing");
        assert_eq!(body["alerts"][1]["status"], "resolved");
        assert_eq!(
            text_body(&n, None),
            "wall-07 unhealthy: free\n✗ wall-07 (wall-A): free since 13:01:11 UTC (worse than timeout) — no reply within 2s"
        );
        // The re-sends name only what fires now.
        let reqs = alertmanager_refresh(&am, &n.items, None, None, NOW);
        assert_eq!(json_body(&reqs[0]).as_array().unwrap().len(), 1);
    }

    fn two_of_four() -> Option<Shard> {
        Some(Shard::new(2, 4).expect("shard"))
    }

    #[test]
    fn sharded_alerts_carry_the_shard_label() {
        let ch = channel(ChannelKind::Alertmanager, &["http://am1:9093"]);
        let n = small();
        let plain = json_body(&http(render(&ch, &n, None, NOW))[0]);
        let body = json_body(&http(render(&ch, &n, two_of_four(), NOW))[0]);
        let (plain, alerts) = (plain.as_array().unwrap(), body.as_array().unwrap());
        assert_eq!(alerts.len(), plain.len());
        for (a, p) in alerts.iter().zip(plain) {
            assert_eq!(a["labels"]["shard"], "2/4", "{a}");
            assert!(p["labels"].get("shard").is_none(), "{p}");
            // Otherwise the same alert: the shard only adds a label.
            let mut labels = a["labels"].as_object().unwrap().clone();
            labels.remove("shard");
            assert_eq!(Value::Object(labels), p["labels"]);
            assert_eq!(a["annotations"], p["annotations"]);
        }
        // The re-sends and the watchdog too: each instance's watchdog is its own alert.
        let mut ch = ch;
        ch.watchdog = true;
        let reqs = alertmanager_refresh(&ch, &n.items, None, two_of_four(), NOW);
        let refreshed = json_body(&reqs[0]);
        let refreshed = refreshed.as_array().unwrap();
        assert!(
            refreshed
                .iter()
                .any(|a| a["labels"]["alertname"] == WATCHDOG_ALERT)
        );
        for a in refreshed {
            assert_eq!(a["labels"]["shard"], "2/4", "{a}");
        }
        // A worse status resolves the alert it replaces with the same shard label.
        let mut worse = small();
        worse.items[0].was = Some("timeout".into());
        worse.items[0].status = "free".into();
        let body = json_body(&http(render(&ch, &worse, two_of_four(), NOW))[0]);
        let all = body.as_array().unwrap();
        assert!(all.len() > n.items.len(), "a replaced alert is resolved");
        assert!(all.iter().all(|a| a["labels"]["shard"] == "2/4"), "{body}");
    }

    #[test]
    fn sharded_webhook_has_a_shard_member_and_label() {
        let ch = channel(ChannelKind::Webhook, &["http://hook/"]);
        let n = small();
        let body = json_body(&http(render(&ch, &n, two_of_four(), NOW))[0]);
        assert_eq!(body["shard"], "2/4");
        assert_eq!(body["commonLabels"]["shard"], "2/4");
        assert_eq!(body["title"], "wall-A: 2 of 8 nodes unhealthy [shard 2/4]");
        for a in body["alerts"].as_array().unwrap() {
            assert_eq!(a["labels"]["shard"], "2/4", "{a}");
        }
        // Unsharded: no member at all (not null), and the title as it was.
        let plain = json_body(&http(render(&ch, &n, None, NOW))[0]);
        assert!(plain.get("shard").is_none(), "{plain}");
        assert_eq!(plain["title"], n.title);
        // The fingerprint follows the labels: a sharded alert is another alert.
        assert_ne!(
            body["alerts"][0]["fingerprint"],
            plain["alerts"][0]["fingerprint"]
        );
    }

    #[test]
    fn sharded_text_formats_name_the_shard() {
        let n = small();
        let first_line = |t: &str| t.lines().next().unwrap_or("").to_owned();
        assert_eq!(
            first_line(&text_body(&n, two_of_four())),
            "wall-A: 2 of 8 nodes unhealthy [shard 2/4]"
        );
        // Only the title changes.
        let sharded = text_body(&n, two_of_four());
        let plain = text_body(&n, None);
        assert_eq!(
            sharded.lines().skip(1).collect::<Vec<_>>(),
            plain.lines().skip(1).collect::<Vec<_>>()
        );

        let sl = channel(ChannelKind::Slack, &["https://hooks.slack.test/x"]);
        let text = json_body(&http(render(&sl, &n, two_of_four(), NOW))[0])["text"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(
            text.starts_with("wall-A: 2 of 8 nodes unhealthy [shard 2/4]\n"),
            "{text}"
        );

        let nt = channel(ChannelKind::Ntfy, &["https://ntfy.sh/t"]);
        let r = &http(render(&nt, &n, two_of_four(), NOW))[0];
        assert_eq!(
            header(r, "Title"),
            Some("wall-A: 2 of 8 nodes unhealthy [shard 2/4]")
        );
        assert!(
            String::from_utf8_lossy(&r.body)
                .starts_with("wall-A: 2 of 8 nodes unhealthy [shard 2/4]\n")
        );

        let Outgoing::Email(e) = render(&channel(ChannelKind::Email, &[]), &n, two_of_four(), NOW)
        else {
            panic!("expected an email")
        };
        assert_eq!(
            e.subject,
            "[syncguard] CRITICAL: wall-A: 2 of 8 nodes unhealthy [shard 2/4]"
        );
        assert!(
            e.body
                .starts_with("wall-A: 2 of 8 nodes unhealthy [shard 2/4]\n\n"),
            "{}",
            e.body
        );
    }
}

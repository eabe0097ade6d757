//! Alertmanager silences that follow acks. An ack given for a node (or a sync
//! group) becomes a silence in every Alertmanager of each `alertmanager` channel
//! that hears of it; the ack's end expires it.
//!
//! Nothing is stored about a silence: the monitor finds its own statelessly by
//! the ack's id in the silence's comment (`… (syncguard ack <id>)`), so an ack
//! that ends after a restart still expires the silence made before it, and two
//! monitors that silence the same ack do not need to know of each other. A
//! silence ends by itself at its `endsAt`, which is the ack's `until`: when the
//! monitor is not there to expire it, it lasts no longer than the ack would
//! have.
//!
//! The requests are pure values built here; [`Silencer`] makes them, on the
//! notifier's own runtime, one ack after the other per channel, so a silence is
//! never expired before it was made.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use reqwest::Method;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::deliver::{Failure, Sender, redact};
use super::message::HttpRequest;
use super::stats::ChannelStats;
use crate::config::NotifyChannel;
use crate::model::Ack;

/// Tries per request before the silence counts as failed.
const ATTEMPTS: u32 = 4;
/// Wait before the second try, doubled for each further one (1 s, 2 s, 4 s).
const BACKOFF: Duration = Duration::from_secs(1);
/// The longest `Retry-After` waited for: a silence late by more is as good as
/// failed, and the next ack must not wait behind it.
const RETRY_AFTER_MAX: Duration = Duration::from_secs(30);
/// The most of a silence list read: the list is filtered to one node or group.
const LIST_MAX: usize = 4 << 20;
/// Silence jobs queued per channel before new ones are dropped (and counted as
/// failed): acks come from people, a few a minute at most.
pub const QUEUE: usize = 256;

/// Make or expire the silence of one ack.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Create,
    Expire,
}

/// One silence to make or expire in every Alertmanager of one channel.
#[derive(Clone, Debug)]
pub struct Job {
    pub op: Op,
    pub ack: Arc<Ack>,
    /// The alert label that names what the ack covers: `node` or `group`.
    pub label: &'static str,
    /// Its value, as the alerts carry it (escaped text).
    pub value: String,
}

/// One HTTP request with its method.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: Method,
    pub request: HttpRequest,
}

/// What names a silence as the one of ack `id`, in its comment.
pub fn tag(id: &str) -> String {
    format!("syncguard ack {id}")
}

/// Whether `comment` carries the tag of ack `id` (and not of a longer id that
/// starts with it).
fn tagged(comment: &str, id: &str) -> bool {
    let tag = tag(id);
    comment.match_indices(&tag).any(|(at, _)| {
        comment[at + tag.len()..]
            .chars()
            .next()
            .is_none_or(|c| !c.is_alphanumeric())
    })
}

/// `POST <base>/api/v2/silences`: a silence of the alerts whose `label` is
/// `value`, from now until the ack's `until`.
pub fn create(channel: &NotifyChannel, base: &url::Url, job: &Job, now: SystemTime) -> Call {
    let ack = &job.ack;
    let reason = ack.reason.trim();
    let reason = if reason.is_empty() {
        "acknowledged"
    } else {
        reason
    };
    // Alertmanager refuses a silence without a creator.
    let by = if ack.by.trim().is_empty() {
        "syncguard-fleet"
    } else {
        ack.by.as_str()
    };
    let body = json!({
        "matchers": [{
            "name": job.label,
            "value": job.value,
            "isRegex": false,
            "isEqual": true,
        }],
        "startsAt": crate::present::rfc3339(ack.at.max(now)),
        "endsAt": crate::present::rfc3339(ack.until),
        "createdBy": by,
        "comment": format!("{reason} ({})", tag(&ack.id)),
    });
    let mut headers = auth(channel);
    headers.push(("Content-Type", "application/json".to_owned()));
    Call {
        method: Method::POST,
        request: HttpRequest {
            url: api_url(base, "silences"),
            headers,
            body: serde_json::to_vec(&body).unwrap_or_default(),
        },
    }
}

/// `GET <base>/api/v2/silences?filter=<label>="<value>"`; without the filter
/// when `filtered` is false (for a name Alertmanager's matcher parser refuses:
/// the answer is checked here either way).
pub fn list(
    channel: &NotifyChannel,
    base: &url::Url,
    label: &str,
    value: &str,
    filtered: bool,
) -> Call {
    let mut url = api_url(base, "silences");
    if filtered {
        url.query_pairs_mut()
            .append_pair("filter", &format!("{label}=\"{}\"", quote(value)));
    }
    Call {
        method: Method::GET,
        request: HttpRequest {
            url,
            headers: auth(channel),
            body: Vec::new(),
        },
    }
}

/// `DELETE <base>/api/v2/silence/<id>`: Alertmanager expires it (it stays in
/// its list as `expired` until its retention ends).
pub fn expire(channel: &NotifyChannel, base: &url::Url, silence_id: &str) -> Call {
    let mut url = api_url(base, "silence");
    if let Ok(mut path) = url.path_segments_mut() {
        path.push(silence_id);
    }
    Call {
        method: Method::DELETE,
        request: HttpRequest {
            url,
            headers: auth(channel),
            body: Vec::new(),
        },
    }
}

/// The ids of the silences in `body` (Alertmanager's silence list) that are the
/// ack's and still in force (active, or pending: not begun yet): tagged with its
/// id and matching `label="value"` exactly.
pub fn ours(body: &[u8], ack_id: &str, label: &str, value: &str) -> Result<Vec<String>, String> {
    let list: Vec<Value> = serde_json::from_slice(body)
        .map_err(|e| format!("the silence list is not what Alertmanager sends: {e}"))?;
    Ok(list
        .iter()
        .filter(|s| matches!(s["status"]["state"].as_str(), Some("active" | "pending")))
        .filter(|s| s["comment"].as_str().is_some_and(|c| tagged(c, ack_id)))
        .filter(|s| {
            s["matchers"].as_array().is_some_and(|ms| {
                ms.iter().any(|m| {
                    m["name"] == label
                        && m["value"] == value
                        && m["isRegex"] != true
                        && m["isEqual"] != false
                })
            })
        })
        .filter_map(|s| s["id"].as_str().map(str::to_owned))
        .collect())
}

/// The silence id in Alertmanager's answer to a new silence.
fn created_id(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    v["silenceID"].as_str().map(str::to_owned)
}

/// `<base>/api/v2/<path>`, keeping a path prefix and the base's query, as the
/// alerts' URL does.
fn api_url(base: &url::Url, path: &str) -> url::Url {
    let mut url = base.clone();
    url.set_path(&format!(
        "{}/api/v2/{path}",
        base.path().trim_end_matches('/')
    ));
    url.set_fragment(None);
    url
}

/// A label value inside the double quotes of a matcher.
fn quote(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out
}

/// The bearer token, as every request to the channel carries it.
fn auth(channel: &NotifyChannel) -> Vec<(&'static str, String)> {
    channel
        .token
        .iter()
        .map(|t| ("Authorization", format!("Bearer {}", t.expose())))
        .collect()
}

/// Makes and expires one channel's silences.
pub struct Silencer {
    pub sender: Sender,
    pub stats: Arc<ChannelStats>,
}

impl Silencer {
    /// Takes jobs until the router stops; each is done in every Alertmanager of
    /// the channel at once before the next begins.
    pub async fn run(self, mut jobs: mpsc::Receiver<Job>) {
        while let Some(job) = jobs.recv().await {
            self.one(&job).await;
        }
    }

    async fn one(&self, job: &Job) {
        let channel = self.sender.channel();
        let now = SystemTime::now();
        let what = format!("{}=\"{}\" (ack {})", job.label, job.value, job.ack.id);
        if job.op == Op::Create && job.ack.until <= now {
            // Alertmanager refuses an end in the past; the ack is over anyway.
            return;
        }
        let secret = channel.url_is_secret();
        let each = channel.urls.iter().map(|base| async move {
            let where_ = redact(base, secret);
            (where_, self.with_retries(job, base).await)
        });
        for (where_, result) in futures::future::join_all(each).await {
            match (job.op, result) {
                (Op::Create, Ok(ids)) => tracing::info!(
                    "notify {}: silenced {what} until {} in {where_} (silence {})",
                    self.stats.name,
                    crate::present::rfc3339(job.ack.until),
                    ids.join(", ")
                ),
                (Op::Expire, Ok(ids)) if ids.is_empty() => tracing::info!(
                    "notify {}: no silence of {what} in force in {where_}",
                    self.stats.name
                ),
                (Op::Expire, Ok(ids)) => tracing::info!(
                    "notify {}: expired the silence of {what} in {where_} (silence {})",
                    self.stats.name,
                    ids.join(", ")
                ),
                (op, Err(f)) => {
                    let doing = match op {
                        Op::Create => "could not silence",
                        Op::Expire => "could not expire the silence of",
                    };
                    let why = format!("{doing} {what} in {where_}: {}", f.why());
                    tracing::warn!("notify {}: {why}", self.stats.name);
                    self.stats.count(&self.stats.failed);
                    self.stats.set_problem(Some(why));
                }
            }
        }
    }

    /// The job in one Alertmanager, tried again after a failure that may pass.
    async fn with_retries(&self, job: &Job, base: &url::Url) -> Result<Vec<String>, Failure> {
        let mut wait = BACKOFF;
        let mut attempt = 1;
        loop {
            match self.attempt(job, base).await {
                Ok(ids) => return Ok(ids),
                Err(Failure::Retry { after, .. }) if attempt < ATTEMPTS => {
                    tokio::time::sleep(after.unwrap_or(wait).min(RETRY_AFTER_MAX)).await;
                    wait = wait.saturating_mul(2);
                    attempt += 1;
                }
                Err(f) => return Err(f),
            }
        }
    }

    /// One try: the new silence's id, or the ids of the silences expired.
    async fn attempt(&self, job: &Job, base: &url::Url) -> Result<Vec<String>, Failure> {
        let channel = self.sender.channel();
        match job.op {
            Op::Create => {
                let call = create(channel, base, job, SystemTime::now());
                let body = self.sender.call(call, LIST_MAX).await?;
                Ok(vec![created_id(&body).unwrap_or_else(|| "?".to_owned())])
            }
            Op::Expire => {
                let filtered = list(channel, base, job.label, &job.value, true);
                let body = match self.sender.call(filtered, LIST_MAX).await {
                    // A 400: the filter was refused; the whole list, checked here.
                    Err(Failure::Permanent(_)) => {
                        let all = list(channel, base, job.label, &job.value, false);
                        self.sender.call(all, LIST_MAX).await?
                    }
                    other => other?,
                };
                let ids =
                    ours(&body, &job.ack.id, job.label, &job.value).map_err(Failure::Permanent)?;
                for id in &ids {
                    match self.sender.call(expire(channel, base, id), LIST_MAX).await {
                        // Gone meanwhile (a second monitor, or someone by hand).
                        Err(Failure::Permanent(why)) if why.starts_with("HTTP 404") => {}
                        Ok(_) => {}
                        Err(f) => return Err(f),
                    }
                }
                Ok(ids)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{ChannelKind, Secret};
    use crate::model::Status;
    use crate::model::ack::{Baseline, Target};

    /// 2024-05-01 13:02:11 UTC.
    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1_714_568_531 + secs)
    }

    fn channel(urls: &[&str]) -> NotifyChannel {
        NotifyChannel {
            name: "oncall".into(),
            token: Some(Secret::new("s3cret")),
            ..crate::notify::message::tests::channel(ChannelKind::Alertmanager, urls)
        }
    }

    fn job(op: Op) -> Job {
        Job {
            op,
            ack: Arc::new(Ack {
                id: "0a1b2c3d4e5f".into(),
                target: Target::Node("wall-03".into()),
                by: "api:ops (ana)".into(),
                reason: "re-imaging".into(),
                at: at(0),
                until: at(7200),
                baseline: Baseline::Node(Status::Timeout),
            }),
            label: "node",
            value: "wall-03".into(),
        }
    }

    fn header<'a>(c: &'a Call, name: &str) -> Option<&'a str> {
        c.request
            .headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn a_silence_names_the_node_the_ack_and_its_end() {
        let ch = channel(&["http://am:9093/prefix/?x=1"]);
        let base = &ch.urls[0];
        let c = create(&ch, base, &job(Op::Create), at(1));
        assert_eq!(c.method, Method::POST);
        assert_eq!(
            c.request.url.as_str(),
            "http://am:9093/prefix/api/v2/silences?x=1"
        );
        assert_eq!(header(&c, "Authorization"), Some("Bearer s3cret"));
        assert_eq!(header(&c, "Content-Type"), Some("application/json"));
        let body: Value = serde_json::from_slice(&c.request.body).unwrap();
        assert_eq!(
            body,
            json!({
                "matchers": [{"name": "node", "value": "wall-03", "isRegex": false, "isEqual": true}],
                "startsAt": "2024-05-01T13:02:12.000Z",
                "endsAt": "2024-05-01T15:02:11.000Z",
                "createdBy": "api:ops (ana)",
                "comment": "re-imaging (syncguard ack 0a1b2c3d4e5f)",
            })
        );
        // No reason, no name: Alertmanager still gets a comment and a creator.
        let mut j = job(Op::Create);
        if let Some(a) = Arc::get_mut(&mut j.ack) {
            a.reason.clear();
            a.by.clear();
        }
        let body: Value =
            serde_json::from_slice(&create(&ch, base, &j, at(0)).request.body).unwrap();
        assert_eq!(body["comment"], "acknowledged (syncguard ack 0a1b2c3d4e5f)");
        assert_eq!(body["createdBy"], "syncguard-fleet");
    }

    #[test]
    fn the_list_is_filtered_by_the_label_and_quoted() {
        let ch = channel(&["http://am:9093"]);
        let c = list(&ch, &ch.urls[0], "group", "wall \"B\"\\", true);
        assert_eq!(c.method, Method::GET);
        let filter: Vec<(String, String)> = c.request.url.query_pairs().into_owned().collect();
        assert_eq!(
            filter,
            [(
                "filter".to_owned(),
                "group=\"wall \\\"B\\\"\\\\\"".to_owned()
            )]
        );
        assert_eq!(c.request.url.path(), "/api/v2/silences");
        assert!(c.request.body.is_empty());
        let c = list(&ch, &ch.urls[0], "group", "x", false);
        assert_eq!(c.request.url.query(), None);
        let c = expire(&ch, &ch.urls[0], "a/b c");
        assert_eq!(c.method, Method::DELETE);
        assert_eq!(
            c.request.url.as_str(),
            "http://am:9093/api/v2/silence/a%2Fb%20c"
        );
        assert_eq!(header(&c, "Authorization"), Some("Bearer s3cret"));
        assert!(!format!("{c:?}").contains("s3cret"));
    }

    #[test]
    fn only_the_acks_own_silences_in_force_are_ours() {
        let silence = |id: &str, state: &str, comment: &str, name: &str, value: &str| {
            json!({
                "id": id,
                "status": {"state": state},
                "comment": comment,
                "createdBy": "x",
                "matchers": [{"name": name, "value": value, "isRegex": false, "isEqual": true}],
                "startsAt": "2024-05-01T13:02:11.000Z",
                "endsAt": "2024-05-01T15:02:11.000Z",
                "updatedAt": "2024-05-01T13:02:11.000Z",
            })
        };
        let list = json!([
            silence(
                "s1",
                "active",
                "re-imaging (syncguard ack 0a1b2c3d4e5f)",
                "node",
                "wall-03"
            ),
            silence(
                "s2",
                "expired",
                "re-imaging (syncguard ack 0a1b2c3d4e5f)",
                "node",
                "wall-03"
            ),
            silence(
                "s3",
                "active",
                "other (syncguard ack 0a1b2c3d4e5f0)",
                "node",
                "wall-03"
            ),
            silence("s4", "active", "by hand", "node", "wall-03"),
            silence(
                "s5",
                "pending",
                "(syncguard ack 0a1b2c3d4e5f)",
                "node",
                "wall-03"
            ),
            silence(
                "s6",
                "active",
                "(syncguard ack 0a1b2c3d4e5f)",
                "node",
                "wall-030"
            ),
            silence(
                "s7",
                "active",
                "(syncguard ack 0a1b2c3d4e5f)",
                "group",
                "wall-03"
            ),
        ]);
        let body = serde_json::to_vec(&list).unwrap();
        assert_eq!(
            ours(&body, "0a1b2c3d4e5f", "node", "wall-03").unwrap(),
            ["s1", "s5"]
        );
        assert!(ours(b"<html>", "x", "node", "n").is_err());
        assert_eq!(ours(b"[]", "x", "node", "n").unwrap(), Vec::<String>::new());
        assert_eq!(
            created_id(br#"{"silenceID":"abc"}"#).as_deref(),
            Some("abc")
        );
    }
}

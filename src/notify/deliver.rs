//! Sending one notification through one channel, and what a failure means: try
//! again (when, if the receiver said) or never. HTTP through reqwest (rustls, so
//! no OpenSSL on any platform), email through lettre.
//!
//! Every request has the channel's timeout from connect to the last byte of the
//! answer, at most 3 redirects, and reads at most [`ERROR_BODY`] bytes of an
//! error answer: a receiver that hangs, loops or streams for ever costs one
//! timeout, never a stuck channel.

use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use super::message::{self, Email, HttpRequest, Outgoing};
use super::notification::{Item, Notification};
use crate::config::{ChannelKind, NotifyChannel, SmtpTls};
use crate::model::Shard;

/// Bytes of an error answer quoted in the log.
const ERROR_BODY: usize = 256;
/// The longest an Alertmanager request may take.
const AM_TIMEOUT: Duration = Duration::from_secs(30);
/// Redirects followed before a request fails.
const REDIRECTS: usize = 3;

/// Why an attempt failed, and whether another could succeed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Worth another try; `after`: the receiver's `Retry-After`.
    Retry {
        after: Option<Duration>,
        why: String,
    },
    /// The receiver refused it for good (a 4xx other than 408 and 429, a
    /// permanent SMTP error): retrying would only repeat the refusal.
    Permanent(String),
}

impl Failure {
    pub fn why(&self) -> &str {
        match self {
            Failure::Retry { why, .. } | Failure::Permanent(why) => why,
        }
    }
}

/// A URL as it may appear in a log: no userinfo, no query; only scheme and host
/// when the whole URL is a secret (a Slack webhook's path is its key).
pub fn redact(url: &url::Url, secret: bool) -> String {
    let host = url.host_str().unwrap_or("?");
    let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
    if secret {
        return crate::config::redact_url(url);
    }
    let query = if url.query().is_some() { "?…" } else { "" };
    format!("{}://{host}{port}{}{query}", url.scheme(), url.path())
}

/// A notification taken: what the receivers answered, and for Alertmanager the
/// members that did not take it (yet).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    pub answer: String,
    pub missed: Vec<String>,
}

/// What a channel sends with.
pub struct Sender {
    channel: NotifyChannel,
    /// The shard this instance watches: a label and a title suffix on what it
    /// sends (see [`message::render`]).
    shard: Option<Shard>,
    client: reqwest::Client,
    mailer: Option<AsyncSmtpTransport<Tokio1Executor>>,
}

impl Sender {
    pub fn new(channel: &NotifyChannel) -> Result<Sender, String> {
        // Alertmanager's firing alerts must be re-sent before their `endsAt`
        // (4 minutes): a request may not take more than a fraction of that.
        let timeout = match channel.kind {
            ChannelKind::Alertmanager => channel.timeout.min(AM_TIMEOUT),
            _ => channel.timeout,
        };
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .redirect(reqwest::redirect::Policy::limited(REDIRECTS))
            .user_agent(concat!("syncguard-fleet/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("cannot make the HTTP client: {e}"))?;
        let mailer = match (&channel.kind, &channel.email) {
            (ChannelKind::Email, Some(e)) => Some(mailer(e, channel.timeout)?),
            _ => None,
        };
        Ok(Sender {
            channel: channel.clone(),
            shard: None,
            client,
            mailer,
        })
    }

    pub fn channel(&self) -> &NotifyChannel {
        &self.channel
    }

    /// The same sender, speaking for `shard` (`None`: an unsharded instance).
    pub fn with_shard(mut self, shard: Option<Shard>) -> Sender {
        self.shard = shard;
        self
    }

    /// One attempt at `n`. `done[i]` marks URLs that already took it (a retry goes
    /// only to the others); the result is `Ok` once it counts as delivered: every
    /// URL took it, or for Alertmanager any one (see `send_http`).
    pub async fn send(
        &self,
        n: &Notification,
        now_ms: i64,
        done: &mut Vec<bool>,
    ) -> Result<Delivered, Failure> {
        // Rendered here, on the notifier's own thread (see `lane`): a storm's
        // 10,000 alerts delay other channels a little, never a poll.
        let outgoing = message::render(&self.channel, n, self.shard, now_ms);
        match outgoing {
            Outgoing::Http(requests) => self.send_http(requests, done).await,
            Outgoing::Email(email) => self.send_email(email).await,
        }
    }

    /// Alertmanager's periodic re-send of the firing alerts (and the watchdog):
    /// not stored, since the next one a minute later does the same.
    pub async fn refresh(
        &self,
        active: &[Item],
        page_url: Option<&str>,
        now_ms: i64,
    ) -> Result<Delivered, Failure> {
        let requests =
            message::alertmanager_refresh(&self.channel, active, page_url, self.shard, now_ms);
        let mut done = Vec::new();
        self.send_http(requests, &mut done).await
    }

    async fn send_http(
        &self,
        requests: Vec<HttpRequest>,
        done: &mut Vec<bool>,
    ) -> Result<Delivered, Failure> {
        done.resize(requests.len(), false);
        let secret = self.channel.url_is_secret();
        // Every receiver at once: one that hangs costs its own timeout, not the
        // others' turn.
        let attempts = requests
            .into_iter()
            .enumerate()
            .filter(|(i, _)| !done[*i])
            .map(|(i, req)| async move {
                let where_ = redact(&req.url, secret);
                (i, where_, self.post(req).await)
            });
        let mut answers = Vec::new();
        let mut missed = Vec::new();
        let mut worst: Option<Failure> = None;
        for (i, where_, result) in futures::future::join_all(attempts).await {
            match result {
                Ok(status) => {
                    done[i] = true;
                    answers.push(format!("{status} from {where_}"));
                }
                Err(f) => {
                    missed.push(format!("{where_}: {}", f.why()));
                    let f = match f {
                        Failure::Retry { after, why } => Failure::Retry {
                            after,
                            why: format!("{where_}: {why}"),
                        },
                        Failure::Permanent(why) => Failure::Permanent(format!("{where_}: {why}")),
                    };
                    // A permanent refusal outranks a passing one; of two
                    // waits, the longer.
                    worst = match (worst, f) {
                        (Some(Failure::Permanent(w)), _) => Some(Failure::Permanent(w)),
                        (
                            Some(Failure::Retry { after: a, .. }),
                            Failure::Retry { after: b, why },
                        ) => Some(Failure::Retry {
                            after: a.max(b),
                            why,
                        }),
                        (_, f) => Some(f),
                    };
                }
            }
        }
        // Alertmanager: one member of a cluster taking it is enough for now;
        // the others get the firing alerts with the next re-send, a minute
        // later, and a resolve they missed ends by itself at its `endsAt`.
        let delivered = if self.channel.kind == ChannelKind::Alertmanager {
            done.iter().any(|d| *d)
        } else {
            done.iter().all(|d| *d)
        };
        match (delivered, worst) {
            (true, _) => Ok(Delivered {
                answer: answers.join(", "),
                missed,
            }),
            (false, Some(f)) => Err(f),
            (false, None) => Err(Failure::Permanent("nothing to send to".into())),
        }
    }

    async fn post(&self, req: HttpRequest) -> Result<u16, Failure> {
        let mut builder = self.client.post(req.url);
        for (name, value) in req.headers {
            builder = builder.header(name, value);
        }
        let resp = builder
            .body(req.body)
            .send()
            .await
            .map_err(|e| Failure::Retry {
                after: None,
                why: describe(&e),
            })?;
        let status = resp.status();
        if status.is_success() {
            // The body is not read: a receiver that streams for ever is not waited for.
            return Ok(status.as_u16());
        }
        Err(refusal(resp).await)
    }

    /// One request of any method (Alertmanager's silences), with the channel's
    /// timeout; the answer's body when it is a 2xx, read up to `read_max` bytes
    /// (a longer one fails: it is not the answer expected).
    pub async fn call(
        &self,
        call: super::silence::Call,
        read_max: usize,
    ) -> Result<Vec<u8>, Failure> {
        let req = call.request;
        let mut builder = self.client.request(call.method, req.url);
        for (name, value) in req.headers {
            builder = builder.header(name, value);
        }
        if !req.body.is_empty() {
            builder = builder.body(req.body);
        }
        let mut resp = builder.send().await.map_err(|e| Failure::Retry {
            after: None,
            why: describe(&e),
        })?;
        if !resp.status().is_success() {
            return Err(refusal(resp).await);
        }
        let mut body = Vec::new();
        loop {
            match resp.chunk().await {
                Ok(Some(chunk)) if body.len() + chunk.len() > read_max => {
                    return Err(Failure::Permanent(format!(
                        "the answer is longer than {read_max} bytes"
                    )));
                }
                Ok(Some(chunk)) => body.extend_from_slice(&chunk),
                Ok(None) => return Ok(body),
                Err(e) => {
                    return Err(Failure::Retry {
                        after: None,
                        why: describe(&e),
                    });
                }
            }
        }
    }

    async fn send_email(&self, email: Email) -> Result<Delivered, Failure> {
        let (Some(mailer), Some(cfg)) = (&self.mailer, &self.channel.email) else {
            return Err(Failure::Permanent("no SMTP settings".into()));
        };
        let message = build_email(cfg, email).map_err(Failure::Permanent)?;
        match mailer.send(message).await {
            Ok(resp) => Ok(Delivered {
                answer: format!("SMTP {}", resp.code()),
                missed: Vec::new(),
            }),
            Err(e) if e.is_permanent() => Err(Failure::Permanent(chain(&e))),
            Err(e) => Err(Failure::Retry {
                after: None,
                why: chain(&e),
            }),
        }
    }
}

/// What an answer other than 2xx means: try again (after what the receiver
/// asked, for a 429 or 503) or never (any other 4xx but 408 and 429).
async fn refusal(resp: reqwest::Response) -> Failure {
    let status = resp.status();
    let after = resp
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(retry_after);
    let snippet = read_some(resp).await;
    let why = if snippet.is_empty() {
        format!("HTTP {}", status.as_u16())
    } else {
        format!("HTTP {}: {snippet}", status.as_u16())
    };
    let code = status.as_u16();
    if status.is_client_error() && code != 408 && code != 429 {
        Failure::Permanent(why)
    } else {
        Failure::Retry {
            // Only 429 and 503 are defined to carry it; elsewhere it is ignored.
            after: after.filter(|_| code == 429 || code == 503),
            why,
        }
    }
}

fn mailer(
    e: &crate::config::EmailConfig,
    timeout: Duration,
) -> Result<AsyncSmtpTransport<Tokio1Executor>, String> {
    let builder = match e.tls {
        SmtpTls::Starttls => AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&e.host)
            .map_err(|err| format!("smtp {}: {err}", e.host))?,
        SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&e.host)
            .map_err(|err| format!("smtp {}: {err}", e.host))?,
        SmtpTls::None => AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&e.host),
    };
    let mut builder = builder.port(e.port).timeout(Some(timeout));
    if let Some(user) = &e.username {
        let password = e
            .password
            .as_ref()
            .map(|p| p.expose().to_owned())
            .unwrap_or_default();
        builder = builder.credentials(Credentials::new(user.clone(), password));
    }
    Ok(builder.build())
}

fn build_email(cfg: &crate::config::EmailConfig, email: Email) -> Result<Message, String> {
    let from = cfg
        .from
        .parse()
        .map_err(|e| format!("from {:?}: {e}", cfg.from))?;
    let mut b = Message::builder()
        .from(from)
        .subject(email.subject)
        .message_id(Some(email.message_id))
        .header(ContentType::TEXT_PLAIN);
    for to in &cfg.to {
        b = b.to(to.parse().map_err(|e| format!("to {to:?}: {e}"))?);
    }
    b.body(email.body).map_err(|e| e.to_string())
}

/// `Retry-After` as seconds or an HTTP date, capped at a day.
pub fn retry_after(v: &str) -> Option<Duration> {
    let v = v.trim();
    let d = match v.parse::<u64>() {
        Ok(s) => Duration::from_secs(s),
        Err(_) => {
            let at = jiff::fmt::rfc2822::DateTimeParser::new()
                .parse_timestamp(v)
                .ok()?;
            let secs = at.as_second() - jiff::Timestamp::now().as_second();
            Duration::from_secs(secs.max(0) as u64)
        }
    };
    Some(d.min(Duration::from_secs(86_400)))
}

/// Up to [`ERROR_BODY`] bytes of an answer, as one line of text.
async fn read_some(mut resp: reqwest::Response) -> String {
    let mut buf = Vec::new();
    while buf.len() < ERROR_BODY {
        match resp.chunk().await {
            Ok(Some(chunk)) => buf.extend_from_slice(&chunk),
            _ => break,
        }
    }
    buf.truncate(ERROR_BODY);
    crate::protocol::text::escape(&buf, ERROR_BODY)
}

/// A reqwest error without its URL (which may hold a secret), with its causes.
fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "cannot connect"
    } else if e.is_redirect() {
        "too many redirects"
    } else {
        "request failed"
    };
    // The innermost cause says what happened ("Connection refused (os error
    // 111)"); the layers between are hyper's and reqwest's wrappers.
    let mut root: Option<&dyn std::error::Error> = None;
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        root = Some(s);
        source = s.source();
    }
    match root {
        Some(r) => format!("{kind}: {r}"),
        None => kind.to_owned(),
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_userinfo_query_and_secret_paths() {
        let u =
            url::Url::parse("https://user:pw@hooks.example.com:8443/services/T0/B0/XYZ?token=abc")
                .expect("url");
        assert_eq!(
            redact(&u, false),
            "https://hooks.example.com:8443/services/T0/B0/XYZ?…"
        );
        assert_eq!(
            redact(&u, true),
            "https://hooks.example.com:8443/<redacted>"
        );
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(retry_after("120"), Some(Duration::from_secs(120)));
        assert_eq!(retry_after("99999999"), Some(Duration::from_secs(86_400)));
        assert_eq!(
            retry_after("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(Duration::ZERO)
        );
        assert_eq!(retry_after("soon"), None);
    }
}

//! `ack` and `unack`: ask the running monitor (`watch` or the dashboard, serving
//! `[http]`) to acknowledge a node or sync group, or to remove its ack, through
//! `POST /api/v1/ack` and `DELETE /api/v1/ack/{target}`. The monitor owns the
//! acks (it records them in its history file); this is only its client.
//!
//! Every way it can go wrong is one line that says what to do, and the token is
//! never printed: not in a message, not in a URL.

use std::path::Path;
use std::time::{Duration, SystemTime};

use anyhow::{Context, anyhow, bail};
use reqwest::StatusCode;
use serde_json::Value;
use url::Url;

use crate::cli::{AckFor, RemoteArgs};
use crate::config::Config;
use crate::model::ack::Target;
use crate::present;

/// Where the token comes from when `--token-file` is not given.
pub const TOKEN_ENV: &str = "SYNCGUARD_TOKEN";
/// The longest the monitor gets to answer (and to accept the connection).
pub const TIMEOUT: Duration = Duration::from_secs(5);
/// The most of an answer read: an ack's JSON is a few hundred bytes.
const MAX_BODY: usize = 64 * 1024;
/// The longest `user` the monitor takes, in characters.
const MAX_USER: usize = 60;
/// The most of the monitor's own error text repeated in a message.
const MAX_ERROR_TEXT: usize = 300;

/// A token, held only in memory. `Debug` does not show it.
struct Token {
    secret: String,
    /// `$SYNCGUARD_TOKEN` or the file, for messages.
    from: String,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Token(from {})", self.from)
    }
}

/// The running monitor, as the client reaches it.
#[derive(Debug)]
pub struct Remote {
    /// The base URL, e.g. `http://127.0.0.1:8088/`.
    base: Url,
    token: Option<Token>,
    /// The OS user, sent as `user` (the monitor adds its token's name).
    user: Option<String>,
    client: reqwest::Client,
}

impl Remote {
    /// The monitor at `--url`, else at the `[http] bind` of the fleet file that
    /// `config` loads (called only without `--url`); `config_path` names that
    /// file in messages. The token is read from `--token-file`, else
    /// `$SYNCGUARD_TOKEN`.
    pub fn new(
        args: &RemoteArgs,
        config_path: &Path,
        config: impl FnOnce() -> anyhow::Result<Config>,
    ) -> anyhow::Result<Remote> {
        let base = match &args.url {
            Some(u) => parse_url(u)?,
            None => {
                let config = config().map_err(|e| {
                    anyhow!("cannot tell where the monitor is: {e:#}; give --url http://HOST:PORT")
                })?;
                url_of_bind(config.http.bind, config_path)?
            }
        };
        let token = load_token(args.token_file.as_deref())?;
        let mut builder = reqwest::Client::builder()
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            // A redirect could carry the token elsewhere; the API never sends one.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("syncguard-fleet/", env!("CARGO_PKG_VERSION")));
        if is_loopback(&base) {
            // A proxy from the environment has no business with this machine.
            builder = builder.no_proxy();
        }
        let client = builder
            .build()
            .map_err(|e| anyhow!("cannot make the HTTP client: {e}"))?;
        Ok(Remote {
            base,
            token,
            user: os_user(),
            client,
        })
    }

    /// The monitor's address as shown in messages: `http://127.0.0.1:8088`.
    pub fn shown_url(&self) -> String {
        self.base.as_str().trim_end_matches('/').to_owned()
    }

    /// `POST /api/v1/ack`; the line to print when the monitor took it.
    pub async fn ack(
        &self,
        target: &Target,
        lasts: Option<&AckFor>,
        reason: &str,
    ) -> anyhow::Result<String> {
        if reason.trim().is_empty() {
            bail!(
                "say why with --reason TEXT: the people who watch the fleet see it with the node"
            );
        }
        let mut body = serde_json::Map::new();
        body.insert("target".into(), target.to_string().into());
        body.insert("reason".into(), reason.into());
        if let Some(f) = lasts {
            body.insert("for".into(), f.text.clone().into());
        }
        if let Some(u) = &self.user {
            body.insert("user".into(), u.clone().into());
        }
        let url = self.endpoint(None);
        let answer = self
            .send(self.client.post(url), Value::Object(body), target)
            .await?;
        let ack = answer
            .get("ack")
            .filter(|a| a.is_object())
            .unwrap_or(&answer);
        Ok(acknowledged_line(target, ack))
    }

    /// `DELETE /api/v1/ack/{target}`; the line to print when the ack is gone.
    pub async fn unack(&self, target: &Target) -> anyhow::Result<String> {
        let mut body = serde_json::Map::new();
        if let Some(u) = &self.user {
            body.insert("user".into(), u.clone().into());
        }
        let url = self.endpoint(Some(target));
        let answer = self
            .send(self.client.delete(url), Value::Object(body), target)
            .await?;
        let ack = answer
            .get("ack")
            .filter(|a| a.is_object())
            .unwrap_or(&answer);
        Ok(unacknowledged_line(target, ack))
    }

    /// `/api/v1/ack`, or `/api/v1/ack/{target}` (the target percent-encoded),
    /// under the base URL's path.
    fn endpoint(&self, target: Option<&Target>) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1", "ack"]);
            if let Some(t) = target {
                path.push(&t.to_string());
            }
        }
        url
    }

    /// Sends one request and returns the JSON of a 2xx answer, or the one-line
    /// error for anything else.
    async fn send(
        &self,
        request: reqwest::RequestBuilder,
        body: Value,
        target: &Target,
    ) -> anyhow::Result<Value> {
        let mut request = request.json(&body);
        if let Some(t) = &self.token {
            request = request.bearer_auth(&t.secret);
        }
        let shown = self.shown_url();
        let mut response = request.send().await.map_err(|e| unreachable(&shown, &e))?;
        let status = response.status();
        let mut bytes = Vec::new();
        loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    bytes.extend_from_slice(&chunk);
                    if bytes.len() > MAX_BODY {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) if status.is_success() => {
                    return Err(anyhow!(
                        "the monitor at {shown} broke off its answer: {}",
                        innermost(&e)
                    ));
                }
                // The status is what matters for an error.
                Err(_) => break,
            }
        }
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if status.is_success() {
            return Ok(json.unwrap_or(Value::Null));
        }
        let said = json
            .as_ref()
            .and_then(|j| j.get("error"))
            .and_then(Value::as_str)
            .map(said);
        Err(anyhow!(self.refusal(status, said, target)))
    }

    /// The one line for a refusal: what went wrong and what to do about it.
    fn refusal(&self, status: StatusCode, said: Option<String>, target: &Target) -> String {
        let url = self.shown_url();
        let token_hint = "the token of the monitor's [http] token_env or token_file";
        let wrong_token = |from: &str| {
            format!(
                "the monitor at {url} refused the token from {from}: it is wrong; use {token_hint}"
            )
        };
        match status {
            StatusCode::UNAUTHORIZED => match &self.token {
                Some(t) => wrong_token(&t.from),
                None => format!(
                    "the monitor at {url} needs a token: set ${TOKEN_ENV} or pass --token-file FILE \
                     ({token_hint})"
                ),
            },
            StatusCode::FORBIDDEN => match (&self.token, &said) {
                // A monitor that says the token is wrong, with 403.
                (Some(t), Some(s)) if s.contains("wrong") => wrong_token(&t.from),
                _ => format!(
                    "the monitor at {url} takes no acks: it has no token configured \
                     (set [http] token_env or token_file in its fleet file and restart it)"
                ),
            },
            // The ack routes say which name they do not know; any other 404
            // (the server's catch-all, another program) means the URL is wrong.
            StatusCode::NOT_FOUND => match (said.filter(|s| s.starts_with("no ")), target) {
                (Some(_), Target::Node(n)) => {
                    format!("no node named {} in the monitor at {url}", quoted(n))
                }
                (Some(_), Target::Group(g)) => {
                    format!("no sync group named {} in the monitor at {url}", quoted(g))
                }
                (None, _) => format!(
                    "the monitor at {url} has no ack API (404 for /api/v1/ack): is it an older \
                     syncguard-fleet, or is --url pointing at something else?"
                ),
            },
            StatusCode::CONFLICT => match said {
                Some(s) => s,
                None => format!(
                    "the monitor at {url} refused: {} (409)",
                    present::quiet::target(target)
                ),
            },
            StatusCode::BAD_REQUEST => match said {
                Some(s) => format!("the monitor at {url} refused the request: {s}"),
                None => format!("the monitor at {url} refused the request (400)"),
            },
            StatusCode::SERVICE_UNAVAILABLE => {
                format!("the monitor at {url} is stopping; try again once it runs")
            }
            other => match said {
                Some(s) => format!("the monitor at {url} answered {other}: {s}"),
                None => format!("the monitor at {url} answered {other}"),
            },
        }
    }
}

/// `--url`: `http://HOST:PORT` (or `HOST:PORT`, taken as http), or https.
fn parse_url(text: &str) -> anyhow::Result<Url> {
    let text = text.trim();
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("http://{text}")
    };
    let url = Url::parse(&with_scheme)
        .map_err(|e| anyhow!("--url {}: {e} (expected http://HOST:PORT)", said(text)))?;
    if !matches!(url.scheme(), "http" | "https") {
        bail!(
            "--url {}: the monitor speaks http or https, not {}",
            said(text),
            url.scheme()
        );
    }
    if url.host().is_none() {
        bail!("--url {}: no host (expected http://HOST:PORT)", said(text));
    }
    if !url.username().is_empty() || url.password().is_some() {
        bail!(
            "--url must not carry a user or password; the token comes from --token-file or ${TOKEN_ENV}"
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!(
            "--url {}: no query or fragment, please (expected http://HOST:PORT)",
            said(text)
        );
    }
    Ok(url)
}

/// The URL of a monitor that binds `bind`: an unspecified address (`0.0.0.0`,
/// `::`) is reached on loopback of the same family.
fn url_of_bind(bind: Option<std::net::SocketAddr>, config_path: &Path) -> anyhow::Result<Url> {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
    let Some(bind) = bind else {
        bail!(
            "{} has no [http] bind, so it does not say where the monitor serves; give --url http://HOST:PORT",
            config_path.display()
        );
    };
    if bind.port() == 0 {
        bail!(
            "the [http] bind in {} is {bind}, a port chosen when the monitor starts; give --url http://HOST:PORT",
            config_path.display()
        );
    }
    let ip = match bind.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    let addr = SocketAddr::new(ip, bind.port());
    Url::parse(&format!("http://{addr}/")).context("the [http] bind as a URL")
}

fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// The token: the first line of `--token-file`, else `$SYNCGUARD_TOKEN`; `None`
/// when neither gives one (the monitor then says whether it needs one).
fn load_token(file: Option<&Path>) -> anyhow::Result<Option<Token>> {
    let (raw, from) = match file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow!("cannot read the token file {}: {e}", path.display()))?;
            (text, path.display().to_string())
        }
        None => match std::env::var_os(TOKEN_ENV) {
            None => return Ok(None),
            Some(v) => match v.into_string() {
                Ok(s) => (s, format!("${TOKEN_ENV}")),
                Err(_) => bail!("${TOKEN_ENV} is not valid UTF-8 text"),
            },
        },
    };
    let secret = raw.lines().next().unwrap_or("").trim().to_owned();
    if secret.is_empty() {
        if file.is_some() {
            bail!("the token file {from} is empty");
        }
        // An empty variable is an unset one.
        return Ok(None);
    }
    // What can travel in a header; the monitor's own tokens are narrower still.
    if !secret.bytes().all(|b| b.is_ascii_graphic()) {
        bail!("the token from {from} must be printable ASCII without spaces");
    }
    Ok(Some(Token { secret, from }))
}

/// The OS user: `$USER`, else `$USERNAME` (Windows). One the monitor would
/// refuse as a `user` (parentheses, control characters, too long) is left out:
/// the ack is then by the token's name alone.
fn os_user() -> Option<String> {
    ["USER", "USERNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|u| u.trim().to_owned())
        .find(|u| !u.is_empty())
        .filter(|u| {
            u.chars().count() <= MAX_USER
                && !u.chars().any(|c| c.is_control() || c == '(' || c == ')')
        })
}

/// Text from the monitor, made safe for a terminal and kept short.
fn said(text: &str) -> String {
    let escaped = crate::protocol::text::escape_str(text);
    if escaped.chars().count() > MAX_ERROR_TEXT {
        let cut: String = escaped.chars().take(MAX_ERROR_TEXT).collect();
        format!("{cut}…")
    } else {
        escaped
    }
}

/// A name in double quotes, escaped.
fn quoted(name: &str) -> String {
    format!("\"{}\"", present::name(name))
}

/// The message for a monitor that could not be reached.
fn unreachable(url: &str, e: &reqwest::Error) -> anyhow::Error {
    if e.is_timeout() {
        return anyhow!(
            "no answer from {url} within {}s: is a syncguard-fleet monitor serving there? \
             Give its address with --url http://HOST:PORT",
            TIMEOUT.as_secs()
        );
    }
    let why = innermost(e);
    anyhow!(
        "no monitor reachable at {url} ({why}): is `syncguard-fleet watch` (or the dashboard) running \
         with [http] bind? Give its address with --url http://HOST:PORT"
    )
}

/// The deepest cause of an error ("connection refused"), which says more than
/// reqwest's "error sending request".
fn innermost(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cause: &(dyn std::error::Error + 'static) = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if let Some(io) = cause.downcast_ref::<std::io::Error>() {
        use std::io::ErrorKind::*;
        let word = match io.kind() {
            ConnectionRefused => Some("connection refused"),
            ConnectionReset => Some("connection reset"),
            ConnectionAborted => Some("connection aborted"),
            TimedOut => Some("timed out"),
            HostUnreachable => Some("host unreachable"),
            NetworkUnreachable => Some("network unreachable"),
            AddrNotAvailable => Some("address not available"),
            _ => None,
        };
        if let Some(w) = word {
            return w.to_owned();
        }
    }
    said(&cause.to_string())
}

/// A time from the API (RFC 3339) in local time, as every display shows it.
fn local(v: Option<&Value>) -> Option<String> {
    let t: jiff::Timestamp = v?.as_str()?.parse().ok()?;
    Some(present::local_time(SystemTime::from(t)))
}

/// `acknowledged wall-03 until 2026-12-01 20:00:00 (by alice (api)): re-imaging`
fn acknowledged_line(target: &Target, ack: &Value) -> String {
    let mut line = format!("acknowledged {}", present::quiet::target(target));
    if let Some(until) = local(ack.get("until")) {
        line.push_str(&format!(" until {until}"));
    }
    if let Some(by) = ack.get("by").and_then(Value::as_str) {
        line.push_str(&format!(" (by {})", said(by)));
    }
    if let Some(reason) = ack
        .get("reason")
        .and_then(Value::as_str)
        .filter(|r| !r.is_empty())
    {
        line.push_str(&format!(": {}", said(reason)));
    }
    line
}

/// `unacknowledged wall-03 (was acknowledged by alice (api): re-imaging)`
fn unacknowledged_line(target: &Target, ack: &Value) -> String {
    let mut line = format!("unacknowledged {}", present::quiet::target(target));
    if let Some(by) = ack.get("by").and_then(Value::as_str) {
        line.push_str(&format!(" (was acknowledged by {}", said(by)));
        if let Some(reason) = ack
            .get("reason")
            .and_then(Value::as_str)
            .filter(|r| !r.is_empty())
        {
            line.push_str(&format!(": {}", said(reason)));
        }
        line.push(')');
    }
    line
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_from_flags_and_binds() {
        assert_eq!(
            parse_url("127.0.0.1:8088").unwrap().as_str(),
            "http://127.0.0.1:8088/"
        );
        assert_eq!(
            parse_url("https://mon.example:443/sg/").unwrap().as_str(),
            "https://mon.example/sg/"
        );
        assert!(parse_url("ftp://x").is_err());
        let e = parse_url("http://u:secret@h:1").unwrap_err().to_string();
        assert!(!e.contains("secret"), "{e}");
        let p = Path::new("fleet.toml");
        let v4 = url_of_bind(Some("0.0.0.0:8088".parse().unwrap()), p).unwrap();
        assert_eq!(v4.as_str(), "http://127.0.0.1:8088/");
        let v6 = url_of_bind(Some("[::]:8088".parse().unwrap()), p).unwrap();
        assert_eq!(v6.as_str(), "http://[::1]:8088/");
        let e = url_of_bind(None, p).unwrap_err().to_string();
        assert!(e.contains("no [http] bind") && e.contains("--url"), "{e}");
        let e = url_of_bind(Some("127.0.0.1:0".parse().unwrap()), p)
            .unwrap_err()
            .to_string();
        assert!(e.contains("--url"), "{e}");
    }

    #[test]
    fn endpoints_encode_the_target() {
        let r = Remote {
            base: parse_url("http://h:1/sg").unwrap(),
            token: None,
            user: None,
            client: reqwest::Client::new(),
        };
        assert_eq!(r.endpoint(None).as_str(), "http://h:1/sg/api/v1/ack");
        assert_eq!(
            r.endpoint(Some(&Target::Node("wall 01/x".into()))).as_str(),
            "http://h:1/sg/api/v1/ack/wall%2001%2Fx"
        );
        assert_eq!(
            r.endpoint(Some(&Target::Group("wall-B".into()))).as_str(),
            "http://h:1/sg/api/v1/ack/@wall-B"
        );
    }

    #[test]
    fn a_404_names_the_node_only_when_the_ack_route_said_so() {
        let r = Remote {
            base: parse_url("http://h:1/").unwrap(),
            token: None,
            user: None,
            client: reqwest::Client::new(),
        };
        let node = Target::Node("wall-99".into());
        let said = |s: &str| Some(s.to_owned());
        let unknown = r.refusal(
            StatusCode::NOT_FOUND,
            said("no node named \"wall-99\""),
            &node,
        );
        assert!(
            unknown.starts_with("no node named \"wall-99\""),
            "{unknown}"
        );
        // The server's catch-all for a path it does not serve (a wrong --url).
        let elsewhere = r.refusal(
            StatusCode::NOT_FOUND,
            said("not found: the routes are /"),
            &node,
        );
        assert!(elsewhere.contains("has no ack API"), "{elsewhere}");
        let bare = r.refusal(StatusCode::NOT_FOUND, None, &node);
        assert!(bare.contains("has no ack API"), "{bare}");
    }

    #[test]
    fn the_token_file_is_read_and_never_shown() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t");
        std::fs::write(&p, "  s3cret-token-of-some-length \nsecond line\n").unwrap();
        let t = load_token(Some(&p)).unwrap().unwrap();
        assert_eq!(t.secret, "s3cret-token-of-some-length");
        assert!(!format!("{t:?}").contains("s3cret"));
        std::fs::write(&p, "\n").unwrap();
        let e = load_token(Some(&p)).unwrap_err().to_string();
        assert!(e.contains("is empty"), "{e}");
        std::fs::write(&p, "has space\n").unwrap();
        let e = load_token(Some(&p)).unwrap_err().to_string();
        assert!(!e.contains("has space"), "{e}");
    }

    #[test]
    fn lines_say_who_until_and_why() {
        let ack = serde_json::json!({
            "target": "wall-03", "by": "alice (api)", "reason": "re-imaging\u{1b}[2J",
            "at": "2026-12-01T18:00:00Z", "until": "2026-12-01T20:00:00Z"
        });
        let t = Target::Node("wall-03".into());
        let line = acknowledged_line(&t, &ack);
        assert!(
            line.starts_with("acknowledged wall-03 until 2026-12-0"),
            "{line}"
        );
        assert!(line.contains(" (by alice (api)): re-imaging"), "{line}");
        assert!(!line.chars().any(char::is_control), "{line:?}");
        assert_eq!(
            unacknowledged_line(&Target::Group("g".into()), &ack),
            "unacknowledged @g (was acknowledged by alice (api): re-imaging\\x1b[2J)"
        );
    }
}

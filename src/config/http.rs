//! `[http]`: the one HTTP server (status page, JSON API, event stream, `/metrics`),
//! its bearer token and limits. `[metrics] bind` is its deprecated alias.

use std::net::SocketAddr;
use std::path::PathBuf;

use toml::Spanned;

use super::error::{ConfigError, Cx};
use super::raw::RawHttp;

/// Event streams open at once unless `max_streams` says otherwise.
pub const MAX_STREAMS: usize = 256;
/// More streams than this is a typo, not a plan: each is a task and a socket.
const MAX_STREAMS_LIMIT: i64 = 65_536;
/// Who an ack given with the token is by, unless `token_name` says otherwise.
pub const TOKEN_NAME: &str = "api";
/// The longest `token_name`, in characters: it goes into every ack's "by".
pub const MAX_TOKEN_NAME: usize = 32;

/// Where the bearer token comes from. It is read when the server starts, never
/// stored in the config, so a config printed or compared never carries it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TokenSource {
    /// `token_env`: the name of an environment variable.
    Env(String),
    /// `token_file`: a file whose first line is the token (relative to the
    /// config file's directory).
    File(PathBuf),
}

/// The validated `[http]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpConfig {
    /// `None`: no server (unless `--http` or `demo`).
    pub bind: Option<SocketAddr>,
    /// The bind came from the deprecated `[metrics] bind`.
    pub bind_from_metrics: bool,
    pub token: Option<TokenSource>,
    /// The token is required for reading too, not only for changes.
    pub protect_read: bool,
    pub max_streams: usize,
    /// Who acks given with the token are by (`alice (api)` with a user).
    pub token_name: String,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            bind: None,
            bind_from_metrics: false,
            token: None,
            protect_read: false,
            max_streams: MAX_STREAMS,
            token_name: TOKEN_NAME.to_owned(),
        }
    }
}

impl Cx<'_> {
    /// `[http]`, with `[metrics] bind` (already parsed) as the alias it replaces.
    pub(super) fn http(
        &self,
        raw: Option<&Spanned<RawHttp>>,
        metrics_bind: Option<(SocketAddr, std::ops::Range<usize>)>,
    ) -> Result<HttpConfig, ConfigError> {
        let mut config = HttpConfig::default();
        if let Some(table) = raw {
            let h = table.get_ref();
            config.bind = match &h.bind {
                None => None,
                Some(b) => Some(self.socket_addr(b, "http.bind", "127.0.0.1:8088")?),
            };
            config.token = match (&h.token_env, &h.token_file) {
                (Some(_), Some(f)) => {
                    return Err(self.err(
                        f.span(),
                        "http.token_file",
                        "give token_env or token_file, not both",
                    ));
                }
                (Some(e), None) => {
                    let name = e.get_ref().trim();
                    if name.is_empty() || name.contains('=') || name.contains('\0') {
                        return Err(self.err(
                            e.span(),
                            "http.token_env",
                            "must name an environment variable, e.g. \"SYNCGUARD_TOKEN\"",
                        ));
                    }
                    Some(TokenSource::Env(name.to_owned()))
                }
                (None, Some(f)) => {
                    if f.get_ref().trim().is_empty() {
                        return Err(self.err(f.span(), "http.token_file", "must not be empty"));
                    }
                    Some(TokenSource::File(PathBuf::from(f.get_ref())))
                }
                (None, None) => None,
            };
            config.protect_read = h.protect_read.unwrap_or(false);
            if config.protect_read && config.token.is_none() {
                return Err(self.err(
                    table.span(),
                    "http.protect_read",
                    "needs a token: set token_env or token_file",
                ));
            }
            if let Some(m) = &h.max_streams {
                let n = *m.get_ref();
                if !(1..=MAX_STREAMS_LIMIT).contains(&n) {
                    return Err(self.err(
                        m.span(),
                        "http.max_streams",
                        format!("must be between 1 and {MAX_STREAMS_LIMIT}, got {n}"),
                    ));
                }
                config.max_streams = n as usize;
            }
            if let Some(t) = &h.token_name {
                config.token_name = self.token_name(t)?;
            }
        }
        if let Some((addr, span)) = metrics_bind {
            match config.bind {
                Some(b) if b != addr => {
                    return Err(self.err(
                        span,
                        "metrics.bind",
                        format!(
                            "{addr} differs from http.bind {b}: one server serves /metrics; \
                             remove metrics.bind (it is deprecated)"
                        ),
                    ));
                }
                Some(_) => {}
                None => {
                    config.bind = Some(addr);
                    config.bind_from_metrics = true;
                }
            }
        }
        Ok(config)
    }

    /// `token_name`: a short name on one line, shown as who gave an ack.
    fn token_name(&self, value: &Spanned<String>) -> Result<String, ConfigError> {
        let name = value.get_ref().trim();
        let len = name.chars().count();
        let bad = if name.is_empty() {
            Some("must not be empty".to_owned())
        } else if len > MAX_TOKEN_NAME {
            Some(format!(
                "is {len} characters long; at most {MAX_TOKEN_NAME}"
            ))
        } else if name
            .chars()
            .any(|c| c.is_control() || matches!(c, '(' | ')'))
        {
            Some("must be plain text on one line, without parentheses (acks show it as \"user (name)\")".to_owned())
        } else {
            None
        };
        match bad {
            Some(why) => Err(self.err(value.span(), "http.token_name", why)),
            None => Ok(name.to_owned()),
        }
    }

    /// `IP:PORT`, or an error that shows an example.
    pub(super) fn socket_addr(
        &self,
        value: &Spanned<String>,
        key: &str,
        example: &str,
    ) -> Result<SocketAddr, ConfigError> {
        value.get_ref().trim().parse::<SocketAddr>().map_err(|_| {
            self.err(
                value.span(),
                key,
                format!(
                    "invalid address {:?}: expected IP:PORT, e.g. \"{example}\"",
                    value.get_ref()
                ),
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::super::{ONE, assert_errors, parse};
    use super::{MAX_STREAMS, TOKEN_NAME, TokenSource};

    #[test]
    fn http_parses_with_defaults() {
        let c = parse(ONE).expect("valid");
        assert_eq!(c.http, super::HttpConfig::default());
        let c = parse(&format!(
            "{ONE}[http]\nbind = \"127.0.0.1:8088\"\ntoken_env = \"SG_TOKEN\"\nprotect_read = true\nmax_streams = 10\n"
        ))
        .expect("valid");
        assert_eq!(c.http.bind, Some(SocketAddr::from(([127, 0, 0, 1], 8088))));
        assert_eq!(c.http.token, Some(TokenSource::Env("SG_TOKEN".into())));
        assert!(c.http.protect_read && !c.http.bind_from_metrics);
        assert_eq!(c.http.max_streams, 10);
        let c = parse(&format!("{ONE}[http]\ntoken_file = \"token.txt\"\n")).expect("valid");
        assert_eq!(c.http.token, Some(TokenSource::File("token.txt".into())));
        assert_eq!((c.http.bind, c.http.max_streams), (None, MAX_STREAMS));
        assert_eq!(c.http.token_name, TOKEN_NAME);
        let c = parse(&format!("{ONE}[http]\ntoken_name = \" ops-desk \"\n")).expect("valid");
        assert_eq!(c.http.token_name, "ops-desk");
    }

    #[test]
    fn metrics_bind_is_an_alias_for_http_bind() {
        let c = parse(&format!("{ONE}[metrics]\nbind = \"127.0.0.1:9108\"\n")).expect("valid");
        assert_eq!(c.http.bind, Some(SocketAddr::from(([127, 0, 0, 1], 9108))));
        assert!(c.http.bind_from_metrics);
        // The same address twice is fine; the new key wins the deprecation warning.
        let c = parse(&format!(
            "{ONE}[metrics]\nbind = \"127.0.0.1:9108\"\n[http]\nbind = \"127.0.0.1:9108\"\n"
        ))
        .expect("valid");
        assert!(!c.http.bind_from_metrics);
    }

    #[test]
    fn http_errors_name_the_key() {
        assert_errors(&[
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[http]\nbind=\"localhost\"\n",
                "fleet.toml:5:6: http.bind: invalid address \"localhost\": expected IP:PORT",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[http]\ntoken_env=\"A\"\ntoken_file=\"f\"\n",
                "fleet.toml:6:12: http.token_file: give token_env or token_file, not both",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[http]\ntoken_env=\"\"\n",
                "fleet.toml:5:11: http.token_env: must name an environment variable",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[http]\nprotect_read=true\n",
                "fleet.toml:4:1: http.protect_read: needs a token",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[http]\nmax_streams=0\n",
                "fleet.toml:5:13: http.max_streams: must be between 1 and 65536, got 0",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[http]\ntoken_name=\" \"\n",
                "fleet.toml:5:12: http.token_name: must not be empty",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[http]\ntoken_name=\"a\\u001bb\"\n",
                "fleet.toml:5:12: http.token_name: must be plain text on one line",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[http]\ntoken_name=\"(x)\"\n",
                "fleet.toml:5:12: http.token_name: must be plain text on one line",
            ),
            (
                &format!(
                    "[[node]]\nname=\"a\"\nhost=\"h\"\n[http]\ntoken_name=\"{}\"\n",
                    "x".repeat(33)
                ),
                "fleet.toml:5:12: http.token_name: is 33 characters long; at most 32",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[http]\ntoken=\"x\"\n",
                "fleet.toml:5:1: http.token: unknown field `token`",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[metrics]\nbind=\"127.0.0.1:1\"\n[http]\nbind=\"127.0.0.1:2\"\n",
                "fleet.toml:5:6: metrics.bind: 127.0.0.1:1 differs from http.bind 127.0.0.1:2",
            ),
        ]);
    }
}

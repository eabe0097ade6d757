//! The bearer token: read once at start from `token_env` or `token_file`, compared
//! in constant time, never logged. A browser, which cannot set a header on a page
//! load or an event stream, presents it once as `?token=` and keeps a cookie.
//!
//! Acks are stricter than the other routes: they need a token to be configured at
//! all (403 without one), and a missing or wrong one is 401 (`error="invalid_token"`
//! for a wrong one), as RFC 6750 has it; [`for_acks`] checks them in the handler.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use subtle::ConstantTimeEq;

use super::Web;
use super::api::error;
use crate::config::TokenSource;

/// The cookie a browser keeps the token in (HttpOnly, SameSite=Strict).
pub const COOKIE: &str = "syncguard_token";

/// A token, held only in memory. `Debug` does not show it.
#[derive(Clone)]
pub struct Token(std::sync::Arc<str>);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(…)")
    }
}

impl Token {
    /// Reads the token where the config says it is; a missing or empty one is an
    /// error at start, not an open server.
    pub fn load(source: &TokenSource) -> anyhow::Result<Token> {
        let raw = match source {
            TokenSource::Env(var) => std::env::var(var).map_err(|e| {
                anyhow::anyhow!("http.token_env: environment variable {var} is not usable: {e}")
            })?,
            TokenSource::File(path) => std::fs::read_to_string(path).map_err(|e| {
                anyhow::anyhow!("http.token_file: cannot read {}: {e}", path.display())
            })?,
        };
        // A file's trailing newline is not part of the token.
        let token = raw.lines().next().unwrap_or("").trim();
        if token.is_empty() {
            anyhow::bail!("http: the token is empty (from {})", describe(source));
        }
        if token.len() < 16 {
            tracing::warn!(
                "http: the token from {} is shorter than 16 characters; a longer one is harder to guess",
                describe(source)
            );
        }
        // A cookie value's characters (RFC 6265): printable ASCII without
        // spaces, quotes, commas, semicolons or backslashes.
        if !token
            .bytes()
            .all(|b| b.is_ascii_graphic() && !matches!(b, b'"' | b',' | b';' | b'\\'))
        {
            anyhow::bail!(
                "http: the token from {} must be printable ASCII without spaces, quotes, commas, semicolons or backslashes (it travels in a header and a cookie)",
                describe(source)
            );
        }
        Ok(Token(token.into()))
    }

    pub fn from_text(text: &str) -> Token {
        Token(text.into())
    }

    fn matches(&self, presented: &str) -> bool {
        // Equal lengths are required by ct_eq; the length itself is not secret.
        self.0.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

fn describe(source: &TokenSource) -> String {
    match source {
        TokenSource::Env(var) => format!("${var}"),
        TokenSource::File(p) => p.display().to_string(),
    }
}

/// What the request presented.
enum Presented<'a> {
    None,
    Some(&'a str),
}

fn presented(headers: &HeaderMap) -> Presented<'_> {
    if let Some(v) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        && let Some(t) = v
            .strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    {
        return Presented::Some(t.trim());
    }
    for cookies in headers.get_all(header::COOKIE) {
        let Ok(cookies) = cookies.to_str() else {
            continue;
        };
        for c in cookies.split(';') {
            if let Some((name, value)) = c.trim().split_once('=')
                && name == COOKIE
            {
                return Presented::Some(value);
            }
        }
    }
    Presented::None
}

/// Whether a request needs the token: anything that changes state always; reads
/// with `protect_read`. `/healthz` is for load balancers and never needs it. The
/// ack routes check it themselves ([`for_acks`]).
fn needs_token(web: &Web, method: &Method, path: &str) -> bool {
    if path == "/healthz" || path.starts_with("/assets/") || is_ack_route(method, path) {
        return false;
    }
    let reads = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    !reads || web.protect_read
}

/// A `GET` with `?token=`: a browser signing in.
fn asks_to_sign_in(req: &Request) -> bool {
    req.method() == Method::GET
        && req
            .uri()
            .query()
            .is_some_and(|q| form_urlencoded::parse(q.as_bytes()).any(|(k, _)| k == "token"))
}

/// `POST /api/v1/ack` and `DELETE /api/v1/ack/{target}`, exactly.
fn is_ack_route(method: &Method, path: &str) -> bool {
    match *method {
        Method::POST => path == "/api/v1/ack",
        Method::DELETE => path
            .strip_prefix("/api/v1/ack/")
            .is_some_and(|t| !t.is_empty() && !t.contains('/')),
        _ => false,
    }
}

/// Whether the page was asked for with the token: its ack buttons then work.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SignIn {
    /// No token is configured: no acks from the web.
    Off,
    /// A token is configured and this request did not present it.
    SignedOut,
    /// It did (header or cookie).
    SignedIn,
}

impl SignIn {
    /// `off`, `signed-out`, `on`: the page's `body[data-acks]`.
    pub fn as_str(self) -> &'static str {
        match self {
            SignIn::Off => "off",
            SignIn::SignedOut => "signed-out",
            SignIn::SignedIn => "on",
        }
    }
}

pub fn sign_in(web: &Web, headers: &HeaderMap) -> SignIn {
    let Some(token) = &web.token else {
        return SignIn::Off;
    };
    match presented(headers) {
        Presented::Some(t) if token.matches(t) => SignIn::SignedIn,
        _ => SignIn::SignedOut,
    }
}

/// The ack routes' check: 403 when no token is configured (acks are never open
/// to anyone who can reach the port), 401 for a missing or wrong token.
#[allow(clippy::result_large_err)] // the answer itself, as axum's extractors do
pub fn for_acks(web: &Web, headers: &HeaderMap) -> Result<(), Response> {
    let Some(token) = &web.token else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "acks need [http] token_env or token_file: without a token nobody may give or remove one over HTTP",
        ));
    };
    let (message, challenge) = match presented(headers) {
        Presented::Some(t) if token.matches(t) => return Ok(()),
        Presented::Some(_) => (
            "the token is wrong",
            r#"Bearer error="invalid_token", error_description="the token is wrong""#,
        ),
        Presented::None => (
            "a token is required: send Authorization: Bearer <token>, or open the page once with ?token=<token>",
            "Bearer",
        ),
    };
    let mut r = error(StatusCode::UNAUTHORIZED, message);
    r.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static(challenge),
    );
    Err(r)
}

/// The middleware: 401 without a token, 403 with a wrong one. A page opened with
/// `?token=` gets the cookie and a redirect to the same page without it, so the
/// token does not stay in the address bar, the history or a bookmark; also when
/// reads are open (the cookie is what lets the page's ack buttons work).
pub async fn check(State(web): State<Web>, req: Request, next: Next) -> Response {
    let Some(token) = web.token.clone() else {
        return next.run(req).await;
    };
    let path = req.uri().path();
    let signs_in = path != "/healthz" && !path.starts_with("/assets/");
    if !signs_in || (!needs_token(&web, req.method(), path) && !asks_to_sign_in(&req)) {
        return next.run(req).await;
    }
    if req.method() == Method::GET
        && let Some(query) = req.uri().query()
        && let Some(given) = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "token")
            .map(|(_, v)| v.into_owned())
    {
        if !token.matches(&given) {
            return error(StatusCode::FORBIDDEN, "the token is wrong");
        }
        let rest: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "token"))
            .finish();
        // One leading slash: `//host` would send the browser to another site.
        let path = format!("/{}", req.uri().path().trim_start_matches('/'));
        let location = match rest.is_empty() {
            true => path,
            false => format!("{path}?{rest}"),
        };
        let mut r = StatusCode::SEE_OTHER.into_response();
        let h = r.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&location) {
            h.insert(header::LOCATION, v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!(
            "{COOKIE}={given}; Path=/; HttpOnly; SameSite=Strict"
        )) {
            h.insert(header::SET_COOKIE, v);
        }
        return r;
    }
    match presented(req.headers()) {
        Presented::Some(t) if token.matches(t) => next.run(req).await,
        Presented::Some(_) => error(StatusCode::FORBIDDEN, "the token is wrong"),
        Presented::None => {
            let mut r = error(
                StatusCode::UNAUTHORIZED,
                "a token is required: send Authorization: Bearer <token>, or open the page once with ?token=<token>",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            r
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_two_ack_routes_check_their_own_token() {
        assert!(is_ack_route(&Method::POST, "/api/v1/ack"));
        assert!(is_ack_route(&Method::DELETE, "/api/v1/ack/wall-03"));
        assert!(is_ack_route(&Method::DELETE, "/api/v1/ack/%40wall-B"));
        for (m, p) in [
            (Method::GET, "/api/v1/ack"),
            (Method::POST, "/api/v1/ack/x"),
            (Method::DELETE, "/api/v1/ack/"),
            (Method::DELETE, "/api/v1/ack/a/b"),
            (Method::DELETE, "/api/v1/ack"),
            (Method::PUT, "/api/v1/ack"),
            (Method::POST, "/api/v1/acks"),
        ] {
            assert!(!is_ack_route(&m, p), "{m} {p}");
        }
    }

    #[test]
    fn tokens_compare_and_hide() {
        let t = Token::from_text("correct-horse-battery");
        assert!(t.matches("correct-horse-battery"));
        assert!(!t.matches("correct-horse-batterx"));
        assert!(!t.matches("correct"));
        assert!(!t.matches(""));
        assert_eq!(format!("{t:?}"), "Token(…)");
    }

    #[test]
    fn the_token_file_is_read_and_checked() {
        let dir = tempfile::tempdir().expect("tempdir");
        let p = dir.path().join("t");
        std::fs::write(&p, "s3cret-token-of-some-length\n").expect("write");
        let t = Token::load(&TokenSource::File(p.clone())).expect("loads");
        assert!(t.matches("s3cret-token-of-some-length"));
        std::fs::write(&p, "\n").expect("write");
        let e = Token::load(&TokenSource::File(p.clone())).expect_err("empty");
        assert!(e.to_string().contains("the token is empty"), "{e}");
        for bad in ["has space", "semi;colon", "quo\"te"] {
            std::fs::write(&p, format!("{bad}\n")).expect("write");
            let e = Token::load(&TokenSource::File(p.clone())).expect_err(bad);
            assert!(e.to_string().contains("printable ASCII"), "{e}");
        }
        let e = Token::load(&TokenSource::File(dir.path().join("missing"))).expect_err("missing");
        assert!(e.to_string().contains("cannot read"), "{e}");
        let e = Token::load(&TokenSource::Env("SYNCGUARD_TEST_SURELY_UNSET".into()))
            .expect_err("unset");
        assert!(e.to_string().contains("SYNCGUARD_TEST_SURELY_UNSET"), "{e}");
    }
}

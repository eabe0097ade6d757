//! Acknowledgements over HTTP: `POST /api/v1/ack` gives one, `DELETE
//! /api/v1/ack/{target}` removes one, both through the hub (the one owner) and
//! both behind the bearer token ([`super::auth::for_acks`]). Also what
//! `/api/v1/status` adds to the `--once` document: the acks in force, the
//! maintenance windows, and how many problems nobody has acknowledged.

use std::time::{Duration, SystemTime};

use axum::body::{Body, Bytes};
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use percent_encoding::{NON_ALPHANUMERIC, utf8_percent_encode};
use serde::{Deserialize, Serialize};

use super::Web;
use super::api::{error, json};
use crate::config::MaintenanceWindow;
use crate::hub::AckError;
use crate::model::ack::{self, Ack, AckEnd, AckEvent, Target};
use crate::present::quiet;
use crate::present::rfc3339;
use crate::present::schema::{JsonAck, to_line};
use crate::state::{AckRefusal, Snapshot};

/// An ack's request body at most: a reason of 500 characters, in any script,
/// fits many times over.
pub const BODY_LIMIT: usize = 8 << 10;
/// The longest `user`, in characters: `by` is `user (token_name)`, at most
/// [`ack::MAX_BY`].
pub const MAX_USER: usize = 60;

/// `POST /api/v1/ack`'s body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct AckBody {
    /// `NODE`, or `@GROUP`.
    target: String,
    reason: String,
    /// A humantime duration (`2h`, `1d 12h`); [`ack::DEFAULT_FOR`] without one.
    #[serde(rename = "for")]
    lasts: Option<String>,
    /// Who is at the keyboard, when the token is shared by a desk.
    user: Option<String>,
}

/// `DELETE /api/v1/ack/{target}`'s optional body.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UnackBody {
    user: Option<String>,
}

/// An ack as the API answers it: the schema's ack with its id.
#[derive(Serialize)]
pub struct AckDoc<'a> {
    pub id: &'a str,
    #[serde(flatten)]
    pub ack: JsonAck<'a>,
}

impl<'a> AckDoc<'a> {
    pub fn new(a: &'a Ack) -> AckDoc<'a> {
        AckDoc {
            id: &a.id,
            ack: JsonAck::new(a),
        }
    }
}

/// The answer to an ack or unack: the ack, and the line people read about it
/// (the page shows it as it is).
#[derive(Serialize)]
struct Answer<'a> {
    #[serde(flatten)]
    ack: AckDoc<'a>,
    text: String,
}

pub async fn ack(State(web): State<Web>, headers: HeaderMap, body: Body) -> Response {
    if let Err(r) = super::auth::for_acks(&web, &headers) {
        return r;
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        return error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the ack as JSON with Content-Type: application/json",
        );
    }
    let bytes = match read_body(&headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req: AckBody = match serde_json::from_slice(&bytes) {
        Ok(r) => r,
        Err(e) => {
            return error(
                StatusCode::BAD_REQUEST,
                &format!(
                    "the body is not an ack: {e} (expected {{\"target\": \"NODE\" or \"@GROUP\", \"reason\": \"...\", \"for\": \"2h\", \"user\": \"...\"}})"
                ),
            );
        }
    };
    let asked = match Asked::new(&req, &web.token_name) {
        Ok(a) => a,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let Some(desk) = &web.acks else {
        return no_desk();
    };
    match desk
        .ack(asked.target, asked.by, asked.reason, asked.lasts)
        .await
    {
        Ok(a) => {
            changed(&web).await;
            let text = quiet::ack_event(&AckEvent::Added(a.clone()));
            let mut r = answer(StatusCode::CREATED, &a, text);
            let location = format!(
                "/api/v1/ack/{}",
                utf8_percent_encode(&a.target.to_string(), NON_ALPHANUMERIC)
            );
            if let Ok(v) = HeaderValue::from_str(&location) {
                r.headers_mut().insert(header::LOCATION, v);
            }
            r
        }
        Err(e) => refused(&e),
    }
}

pub async fn unack(
    State(web): State<Web>,
    headers: HeaderMap,
    target: Result<Path<String>, PathRejection>,
    body: Body,
) -> Response {
    if let Err(r) = super::auth::for_acks(&web, &headers) {
        return r;
    }
    let target = match target {
        Ok(Path(t)) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("the target: {e}")),
    };
    let target = match Target::parse(&target) {
        Ok(t) => t,
        Err(e) => return error(StatusCode::BAD_REQUEST, &format!("the target: {e}")),
    };
    let bytes = match read_body(&headers, body).await {
        Ok(b) => b,
        Err(r) => return r,
    };
    let req: UnackBody = if bytes.iter().all(u8::is_ascii_whitespace) {
        UnackBody::default()
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(r) => r,
            Err(e) => {
                return error(
                    StatusCode::BAD_REQUEST,
                    &format!(
                        "the body is not an unack: {e} (expected nothing, or {{\"user\": \"...\"}})"
                    ),
                );
            }
        }
    };
    let by = match by(req.user.as_deref(), &web.token_name) {
        Ok(b) => b,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let Some(desk) = &web.acks else {
        return no_desk();
    };
    match desk.unack(target, by.clone()).await {
        Ok(a) => {
            changed(&web).await;
            let text = quiet::ack_event(&AckEvent::Ended {
                ack: a.clone(),
                why: AckEnd::Removed,
                by: Some(by),
                at: SystemTime::now(),
            });
            answer(StatusCode::OK, &a, text)
        }
        Err(e) => refused(&e),
    }
}

/// An ack request, checked.
struct Asked {
    target: Target,
    by: String,
    reason: String,
    lasts: Duration,
}

impl Asked {
    fn new(req: &AckBody, token_name: &str) -> Result<Asked, String> {
        let target = Target::parse(&req.target).map_err(|e| format!("target: {e}"))?;
        let reason = ack::clean_text(&req.reason, ack::MAX_REASON, "the reason")?;
        if reason.is_empty() {
            return Err(
                "the reason is empty: say why, for the people who watch the fleet".to_owned(),
            );
        }
        let lasts = match req.lasts.as_deref().map(str::trim) {
            None | Some("") => ack::DEFAULT_FOR,
            Some(text) => humantime::parse_duration(text).map_err(|e| {
                format!("for: {e} (a duration such as \"30m\", \"2h\" or \"1d 12h\")")
            })?,
        };
        if lasts.is_zero() || lasts > ack::MAX_FOR {
            return Err(format!(
                "for: an ack lasts more than 0s and at most {} (longer: a [[maintenance]] window)",
                humantime::format_duration(ack::MAX_FOR)
            ));
        }
        Ok(Asked {
            target,
            by: by(req.user.as_deref(), token_name)?,
            reason,
            lasts,
        })
    }
}

/// Who an ack is by: the token's name, after the user when one is named.
fn by(user: Option<&str>, token_name: &str) -> Result<String, String> {
    let user = ack::clean_text(user.unwrap_or(""), MAX_USER, "user")?;
    if user.contains(['(', ')']) {
        return Err("user: without parentheses (the ack shows \"user (token)\")".to_owned());
    }
    Ok(match user.is_empty() {
        true => token_name.to_owned(),
        false => format!("{user} ({token_name})"),
    })
}

/// The body, at most [`BODY_LIMIT`] bytes: 413 past it.
async fn read_body(headers: &HeaderMap, body: Body) -> Result<Bytes, Response> {
    let too_large = || {
        error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!("the body is larger than {} KiB", BODY_LIMIT >> 10),
        )
    };
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > BODY_LIMIT as u64) {
        return Err(too_large());
    }
    axum::body::to_bytes(body, BODY_LIMIT).await.map_err(|e| {
        if is_length_limit(&e) {
            too_large()
        } else {
            error(
                StatusCode::BAD_REQUEST,
                &format!("the body could not be read: {e}"),
            )
        }
    })
}

fn is_length_limit(e: &axum::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = cause {
        if c.is::<http_body_util::LengthLimitError>() {
            return true;
        }
        cause = c.source();
    }
    false
}

/// After an ack or unack: the next page shows it, and open pages hear of it now.
async fn changed(web: &Web) {
    web.forget_snapshot().await;
    web.quiet_changed.notify_one();
}

/// The ack, and `text`: the log's line about it, for the page to show.
fn answer(code: StatusCode, a: &Ack, text: String) -> Response {
    json(
        code,
        to_line(&Answer {
            ack: AckDoc::new(a),
            text,
        }) + "\n",
    )
}

fn no_desk() -> Response {
    error(
        StatusCode::SERVICE_UNAVAILABLE,
        "this server has no monitor to take acks",
    )
}

/// A refusal as a status code: unknown 404, nothing to do 409, bad input 400,
/// a stopped monitor 503.
fn refused(e: &AckError) -> Response {
    let code = match e {
        AckError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
        AckError::Refused(r) => match r {
            AckRefusal::UnknownNode(_) | AckRefusal::UnknownGroup(_) => StatusCode::NOT_FOUND,
            AckRefusal::Healthy(_) | AckRefusal::InMaintenance(..) | AckRefusal::NotAcked(_) => {
                StatusCode::CONFLICT
            }
            AckRefusal::Invalid(_) => StatusCode::BAD_REQUEST,
        },
    };
    error(code, &e.to_string())
}

/// What `/api/v1/status` has besides the `--once` document.
#[derive(Serialize)]
pub struct StatusExtras<'a> {
    /// Unhealthy nodes and groups nobody acknowledged and not in maintenance.
    pub alarming: usize,
    /// Every ack in force (a group's once, however many members it covers).
    pub acks: Vec<AckDoc<'a>>,
    pub maintenance: Vec<WindowDoc<'a>>,
}

/// One `[[maintenance]]` window, and whether it is in force.
#[derive(Serialize)]
pub struct WindowDoc<'a> {
    pub name: &'a str,
    pub nodes: &'a [String],
    pub groups: &'a [String],
    pub active: bool,
    /// The end of the occurrence in force.
    pub until: Option<String>,
    /// The next start (after the one in force, if any).
    pub next_start: Option<String>,
    pub schedule: String,
}

impl<'a> StatusExtras<'a> {
    pub fn new(
        snap: &'a Snapshot,
        windows: &'a [MaintenanceWindow],
        at: SystemTime,
    ) -> StatusExtras<'a> {
        let mut seen = std::collections::HashSet::new();
        let mut acks: Vec<&Ack> = snap
            .groups
            .iter()
            .filter_map(|g| g.ack.as_deref())
            .chain(snap.nodes.iter().filter_map(|n| n.ack.as_deref()))
            .filter(|a| seen.insert(a.id.as_str()))
            .collect();
        acks.sort_by(|a, b| a.target.cmp(&b.target));
        let now = jiff::Timestamp::try_from(at).ok();
        let time = |t: jiff::Timestamp| rfc3339(SystemTime::from(t));
        let maintenance = windows
            .iter()
            .map(|w| {
                let active = now.and_then(|n| w.active_at(n));
                let next_start = match (now, active) {
                    // The end of a window in force is no start (touching
                    // occurrences are one): the next change after it is.
                    (_, Some((_, end))) => w.next_change(end),
                    (Some(n), None) => w.next_change(n),
                    (None, None) => None,
                };
                WindowDoc {
                    name: &w.name,
                    nodes: &w.nodes,
                    groups: &w.groups,
                    active: active.is_some(),
                    until: active.map(|(_, end)| time(end)),
                    next_start: next_start.map(time),
                    schedule: quiet::window_schedule(&w.when),
                }
            })
            .collect();
        StatusExtras {
            alarming: snap.alarming(),
            acks: acks.into_iter().map(AckDoc::new).collect(),
            maintenance,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(target: &str, reason: &str, lasts: Option<&str>, user: Option<&str>) -> AckBody {
        AckBody {
            target: target.into(),
            reason: reason.into(),
            lasts: lasts.map(Into::into),
            user: user.map(Into::into),
        }
    }

    #[test]
    fn requests_are_checked_before_the_hub_sees_them() {
        let a = Asked::new(
            &body("@wall-B", " re-imaging ", Some("2h"), Some("alice")),
            "api",
        )
        .expect("valid");
        assert_eq!(a.target, Target::Group("wall-B".into()));
        assert_eq!(
            (a.by.as_str(), a.reason.as_str(), a.lasts),
            ("alice (api)", "re-imaging", Duration::from_secs(7200))
        );
        let a = Asked::new(&body("wall-03", "x", None, None), "desk").expect("valid");
        assert_eq!((a.by.as_str(), a.lasts), ("desk", ack::DEFAULT_FOR));
        for (b, want) in [
            (body("", "x", None, None), "target: "),
            (body("@", "x", None, None), "target: "),
            (body("n", "", None, None), "the reason is empty"),
            (
                body("n", &"x".repeat(501), None, None),
                "the reason is 501 characters",
            ),
            (
                body("n", "a\u{1b}[2Jb", None, None),
                "the reason contains a control",
            ),
            (
                body("n", "a\nb", None, None),
                "the reason contains a control",
            ),
            (body("n", "x", Some("soon"), None), "for: "),
            (body("n", "x", Some("0s"), None), "for: an ack lasts"),
            (body("n", "x", Some("31d"), None), "for: an ack lasts"),
            (
                body("n", "x", None, Some("a(b)")),
                "user: without parentheses",
            ),
            (
                body("n", "x", None, Some(&"u".repeat(61))),
                "user is 61 characters",
            ),
        ] {
            let e = Asked::new(&b, "api").err().unwrap_or_default();
            assert!(e.starts_with(want), "{b:?}: {e}");
        }
    }
}

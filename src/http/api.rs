//! The JSON API and the machine endpoints: `/api/v1/status` (the `--once` JSON
//! document), `/api/v1/history` and `/api/v1/uptime` (the commands' JSON, with
//! their flags as query parameters), `/metrics` and `/healthz`.

use std::time::{Duration, SystemTime};

use axum::extract::{Query, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::Web;
use crate::config::MaintenanceWindow;
use crate::state::Snapshot;
use crate::store::{query as q, schema};

/// `--once --format json`'s document for a snapshot, with what the web adds at
/// its end: `alarming`, `acks` and the `maintenance` windows (pretty for people
/// who curl it; one line for the event stream).
pub fn status_document(
    snap: &Snapshot,
    windows: &[MaintenanceWindow],
    at: SystemTime,
    pretty: bool,
) -> String {
    let doc = match pretty {
        true => crate::report::json(snap, at),
        false => crate::report::json_line(snap, at),
    };
    let extras = super::ack::StatusExtras::new(snap, windows, at);
    let doc = append_members(doc, &extras, pretty);
    match pretty {
        true => doc + "\n",
        false => doc,
    }
}

/// `doc` (a JSON object) with the members of `extra` (one too) added at its end,
/// without parsing `doc` again: the document of 10,000 nodes is megabytes.
fn append_members(doc: String, extra: &impl serde::Serialize, pretty: bool) -> String {
    let members = match pretty {
        true => serde_json::to_string_pretty(extra),
        false => serde_json::to_string(extra),
    };
    let (Some(end), Ok(members)) = (doc.rfind('}'), members) else {
        return doc;
    };
    let inner = members
        .trim()
        .strip_prefix('{')
        .and_then(|m| m.strip_suffix('}'))
        .unwrap_or("")
        .trim_end();
    let head = doc[..end].trim_end();
    if inner.trim().is_empty() {
        return doc;
    }
    // An empty object gets no comma before the first member.
    let comma = if head.ends_with('{') { "" } else { "," };
    let close = if pretty { "\n}" } else { "}" };
    format!("{head}{comma}{inner}{close}")
}

/// Errors answered by a layer rather than a handler (a body over the limit)
/// are JSON too, like every other error.
pub async fn json_errors(r: Response) -> Response {
    let is_json = r
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if r.status() == StatusCode::PAYLOAD_TOO_LARGE && !is_json {
        return error(
            StatusCode::PAYLOAD_TOO_LARGE,
            &format!(
                "the request body is larger than {} KiB",
                super::BODY_LIMIT >> 10
            ),
        );
    }
    r
}

/// The header with the id of the newest event a status document includes: the
/// page's script ignores a document older than the events it already applied.
pub const EVENT_ID_HEADER: &str = "x-syncguard-event-id";

/// `?pretty`: indented, for a person with curl. Without it, one line: the same
/// document in half the bytes and time (10,000 nodes), for scripts and pages.
#[derive(serde::Deserialize)]
pub struct StatusQuery {
    pretty: Option<String>,
}

pub async fn status(State(web): State<Web>, Query(q): Query<StatusQuery>) -> Response {
    let fresh = web.snapshot().await;
    let snap = fresh.snap;
    let pretty = q.pretty.is_some();
    let windows = snap.windows.clone();
    // 10,000 nodes serialise in milliseconds: off the runtime's thread all the same.
    match tokio::task::spawn_blocking(move || {
        status_document(&snap, &windows, SystemTime::now(), pretty)
    })
    .await
    {
        Ok(doc) => {
            let mut r = json(StatusCode::OK, doc);
            if let Ok(v) = HeaderValue::from_str(&fresh.event_id.to_string()) {
                r.headers_mut().insert(EVENT_ID_HEADER, v);
            }
            r
        }
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the status could not be rendered: {e}"),
        ),
    }
}

/// `/healthz`: 200 while the monitor's engine runs, with the age of its last
/// result; 503 once it has stopped.
pub async fn healthz(State(web): State<Web>) -> Response {
    let running = web.running();
    let age = web
        .last_result()
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .map(|d| (d.as_secs_f64() * 1000.0).round() / 1000.0);
    let doc = serde_json::json!({
        "status": if running { "ok" } else { "stopped" },
        "last_result_age_s": age,
        "uptime_s": web.started.elapsed().as_secs(),
    });
    let code = if running {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(code, doc.to_string() + "\n")
}

/// `/metrics`: the Prometheus exposition of a snapshot taken for this scrape.
pub async fn metrics(State(web): State<Web>) -> Response {
    let snap = web.snapshots.fresh().await;
    let rendered = tokio::task::spawn_blocking(move || {
        crate::metrics::exposition::render(&snap, SystemTime::now())
    })
    .await;
    match rendered {
        Ok(Ok(body)) => {
            let mut r = body.into_response();
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(crate::metrics::CONTENT_TYPE),
            );
            r
        }
        Ok(Err(e)) => {
            tracing::error!("metrics: encoding failed: {e}");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the metrics could not be rendered\n",
            )
        }
        Err(e) => {
            tracing::error!("metrics: rendering did not finish: {e}");
            text(
                StatusCode::SERVICE_UNAVAILABLE,
                "the metrics could not be rendered\n",
            )
        }
    }
}

#[derive(Clone, Copy)]
enum Question {
    History,
    Uptime,
}

pub async fn history(State(web): State<Web>, RawQuery(query): RawQuery) -> Response {
    answer(web, query, Question::History).await
}

pub async fn uptime(State(web): State<Web>, RawQuery(query): RawQuery) -> Response {
    answer(web, query, Question::Uptime).await
}

/// The parameters of `history` and `uptime`, as the CLI names them.
#[derive(Default)]
struct QueryParams {
    since: Option<Duration>,
    from: Option<SystemTime>,
    to: Option<SystemTime>,
    filter: q::Filter,
}

fn parse_params(query: Option<&str>) -> Result<QueryParams, String> {
    let mut p = QueryParams::default();
    for (key, value) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        let bad = |e: String| format!("{key}: {e}");
        match &*key {
            "since" => p.since = Some(crate::cli::parse_span(&value).map_err(bad)?),
            "from" => p.from = Some(crate::cli::parse_time(&value).map_err(bad)?),
            "to" => p.to = Some(crate::cli::parse_time(&value).map_err(bad)?),
            "node" => p.filter.nodes.push(value.into_owned()),
            "group" => p.filter.groups.push(value.into_owned()),
            other => {
                return Err(format!(
                    "unknown parameter {other:?}: expected since, from, to, node, group"
                ));
            }
        }
    }
    if p.since.is_some() && p.from.is_some() {
        return Err("give since or from, not both".into());
    }
    Ok(p)
}

async fn answer(web: Web, query: Option<String>, question: Question) -> Response {
    let params = match parse_params(query.as_deref()) {
        Ok(p) => p,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    let Some(path) = web.history.clone() else {
        return error(
            StatusCode::NOT_FOUND,
            "history is off in this monitor ([history] enabled = false, or --no-history)",
        );
    };
    let now = crate::store::ms(SystemTime::now());
    let span = match question {
        Question::History => q::HISTORY_SPAN,
        Question::Uptime => q::UPTIME_SPAN,
    };
    let window = match q::Window::resolve(params.from, params.to, params.since, span, now) {
        Ok(w) => w,
        Err(e) => return error(StatusCode::BAD_REQUEST, &e),
    };
    // A question over a large file is seconds of CPU and memory: a few at once.
    let Ok(permit) = web.questions.clone().try_acquire_owned() else {
        let mut r = error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the history file is busy answering other questions; try again in a moment",
        );
        r.headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from_static("2"));
        return r;
    };
    let filter = params.filter;
    // The permit goes with the work: a handler timed out still holds it until
    // the read it started is done.
    let done = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        read(&path, question, window, &filter, now)
    })
    .await
    .unwrap_or_else(|e| Err((StatusCode::INTERNAL_SERVER_ERROR, e.to_string())));
    match done {
        Ok(doc) => json(StatusCode::OK, doc),
        Err((code, e)) => error(code, &e),
    }
}

fn read(
    path: &std::path::Path,
    question: Question,
    window: q::Window,
    filter: &q::Filter,
    now: i64,
) -> Result<String, (StatusCode, String)> {
    let unavailable = |e: String| (StatusCode::SERVICE_UNAVAILABLE, e);
    let conn = schema::open_for_reading(path).map_err(|e| unavailable(e.to_string()))?;
    let asked = |e: q::QueryError| match e {
        q::QueryError::UnknownNode(_) | q::QueryError::UnknownGroup(_) => {
            (StatusCode::NOT_FOUND, e.to_string())
        }
        q::QueryError::Sqlite(_) | q::QueryError::Outbox(_) => unavailable(e.to_string()),
    };
    Ok(match question {
        Question::History => crate::report::history::history_json(
            &q::history(&conn, window, filter, now).map_err(asked)?,
        ),
        Question::Uptime => crate::report::history::uptime_json(
            &q::uptime(&conn, window, filter, now).map_err(asked)?,
        ),
    })
}

pub fn json(code: StatusCode, body: String) -> Response {
    let mut r = (code, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

/// `{"error": "..."}` with a status: what went wrong, for a script to print.
pub fn error(code: StatusCode, message: &str) -> Response {
    json(
        code,
        serde_json::json!({ "error": message }).to_string() + "\n",
    )
}

pub fn text(code: StatusCode, body: &'static str) -> Response {
    let mut r = (code, body).into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::parse_params;

    #[test]
    fn members_are_appended_to_both_forms() {
        let extra = serde_json::json!({"b": [1], "c": null});
        let one = super::append_members("{\"a\":1}".into(), &extra, false);
        assert_eq!(one, r#"{"a":1,"b":[1],"c":null}"#);
        let pretty =
            serde_json::to_string_pretty(&serde_json::json!({"a": {"x": 1}})).expect("json");
        let both = super::append_members(pretty, &extra, true);
        let parsed: serde_json::Value = serde_json::from_str(&both).expect(&both);
        assert_eq!(
            parsed,
            serde_json::json!({"a": {"x": 1}, "b": [1], "c": null})
        );
        assert!(
            both.ends_with("\n}") && both.contains("\n  \"b\": [\n    1\n  ]"),
            "{both}"
        );
        let empty = super::append_members("{}".into(), &extra, false);
        assert_eq!(empty, r#"{"b":[1],"c":null}"#);
    }

    #[test]
    fn params_parse_like_the_flags() {
        let p = parse_params(Some("since=7d&node=a&node=b%20c&group=g")).expect("valid");
        assert_eq!(p.since, Some(std::time::Duration::from_secs(7 * 86_400)));
        assert_eq!(p.filter.nodes, ["a", "b c"]);
        assert_eq!(p.filter.groups, ["g"]);
        assert!(parse_params(None).is_ok());
        for (q, want) in [
            ("since=0s", "since: must be more than zero"),
            ("from=yesterday", "from: "),
            ("since=1d&from=2026-01-01T00:00:00Z", "give since or from"),
            ("limit=5", "unknown parameter \"limit\""),
        ] {
            let e = parse_params(Some(q)).err().unwrap_or_default();
            assert!(e.starts_with(want), "{q}: {e}");
        }
    }
}

//! The router in-process, through `tower::ServiceExt::oneshot`: security headers,
//! the token rules, status codes and escaping. Streams and real browsers are in
//! `tests/web*.rs`.

use std::sync::Arc;
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use tokio::sync::watch;
use tower::ServiceExt;

use super::auth::Token;
use super::{Web, WebSettings, router};
use crate::config::Config;
use crate::hub::SnapshotSource;
use crate::state::Fleet;

const FLEET: &str = "[[node]]\nname = \"wall-01\"\nhost = \"192.168.0.201\"\ngroup = \"wall-A\"\n\
    [[node]]\nname = \"<script>alert(1)</script>\"\nhost = \"192.168.0.202\"\ngroup = \"wall-A\"\n";

fn web(settings: WebSettings) -> Web {
    let config = Config::parse(FLEET, "t").expect("valid");
    let snap = Fleet::new(&config, SystemTime::now()).snapshot(SystemTime::now());
    let (_tx, rx) = watch::channel(Arc::new(snap));
    Web::new(SnapshotSource::published(rx), None, settings)
}

async fn get(
    web: &Web,
    uri: &str,
    auth: Option<&str>,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::get(uri);
    if let Some(a) = auth {
        req = req.header(header::AUTHORIZATION, a);
    }
    let resp = router(web.clone())
        .oneshot(req.body(Body::empty()).expect("request"))
        .await
        .expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 24).await.expect("body");
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

#[tokio::test]
async fn pages_carry_the_security_headers_and_escape_names() {
    let w = web(WebSettings::default());
    for path in ["/", "/wall", "/api/v1/status", "/healthz", "/nope"] {
        let (_, h, _) = get(&w, path, None).await;
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], super::CSP, "{path}");
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert_eq!(h[header::REFERRER_POLICY], "no-referrer", "{path}");
    }
    let (status, h, page) = get(&w, "/", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(h[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    // The only script is our own file: nothing inline.
    assert_eq!(page.matches("<script").count(), 1, "{page}");
    assert!(page.contains(r#"<script src="/assets/app.js" defer></script>"#));
    assert!(page.contains(r#"id="verdict" data-verdict="OK""#), "{page}");
    assert!(
        page.contains(r#"data-node="wall-01" data-status="pending""#),
        "{page}"
    );
    assert!(page.contains(r#"<noscript><meta http-equiv="refresh" content="10"></noscript>"#));
    let (status, _, page) = get(&w, "/node/%3Cscript%3Ealert(1)%3C%2Fscript%3E", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("history off"), "{page}");
    assert!(!page.contains("<script>alert"), "{page}");
    let (status, _, _) = get(&w, "/node/nobody", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _, body) = get(&w, "/api/v1/history", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body.contains("history is off"), "{body}");
    let (status, _, body) = get(&w, "/api/v1/uptime?since=nope", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
}

#[tokio::test]
async fn the_token_guards_reads_when_asked() {
    let token = "0123456789abcdef-token";
    let w = web(WebSettings {
        token: Some(Token::from_text(token)),
        protect_read: true,
        ..WebSettings::default()
    });
    let (status, h, _) = get(&w, "/api/v1/status", None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
    let (status, _, _) = get(&w, "/api/v1/status", Some("Bearer wrong-token")).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, body) = get(&w, "/api/v1/status", Some(&format!("Bearer {token}"))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // Health checks and the page's own files need no token.
    for path in ["/healthz", "/assets/app.js", "/assets/app.css"] {
        let (status, _, _) = get(&w, path, None).await;
        assert_eq!(status, StatusCode::OK, "{path}");
    }
    // A browser: ?token= once, then the cookie; the token leaves the address.
    let (status, h, _) = get(&w, &format!("/wall?token={token}&x=1"), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(h[header::LOCATION], "/wall?x=1");
    let cookie = h[header::SET_COOKIE].to_str().expect("ascii");
    assert!(
        cookie.starts_with(&format!("syncguard_token={token};")),
        "{cookie}"
    );
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let (status, _, _) = get(&w, "/wall?token=nope", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let resp = router(w.clone())
        .oneshot(
            Request::get("/")
                .header(header::COOKIE, format!("a=b; syncguard_token={token}"))
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::OK);
    // Without protect_read, reads are open and changes still need the token.
    let open = web(WebSettings {
        token: Some(Token::from_text(token)),
        ..WebSettings::default()
    });
    let (status, _, _) = get(&open, "/api/v1/status", None).await;
    assert_eq!(status, StatusCode::OK);
    // A browser signs in all the same (its ack buttons need the cookie).
    let (status, h, _) = get(&open, &format!("/?token={token}"), None).await;
    assert_eq!(status, StatusCode::SEE_OTHER);
    assert_eq!(h[header::LOCATION], "/");
    assert!(h.contains_key(header::SET_COOKIE));
    let (status, _, _) = get(&open, "/?token=nope", None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get(&open, "/healthz?token=nope", None).await;
    assert_eq!(status, StatusCode::OK);
    let resp = router(open)
        .oneshot(
            Request::post("/api/v1/status")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("infallible");
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn healthz_turns_503_when_the_engine_stops() {
    use crate::engine::Schedule;
    use crate::hub::{Hub, HubOptions};
    // A node on a port nothing listens on: refused at once, on loopback.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    let config = Config::parse(
        &format!("[[node]]\nname = \"a\"\nhost = \"127.0.0.1\"\nport = {port}\n"),
        "t",
    )
    .expect("valid");
    let options = HubOptions {
        schedule: Schedule::Continuous,
        config_path: None,
        snapshot_every: None,
        history: None,
        notify: None,
        acks: Vec::new(),
        ignore_acked: false,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let hub = Hub::start(&config, options, async {
        let _ = stopped.await;
    })
    .await
    .expect("hub");
    let w = Web::new(hub.source(), Some(hub.liveness()), WebSettings::default());
    let mut body = String::new();
    for _ in 0..100 {
        let (status, _, b) = get(&w, "/healthz", None).await;
        assert_eq!(status, StatusCode::OK, "{b}");
        body = b;
        if !body.contains("\"last_result_age_s\":null") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let doc: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(doc["status"], "ok");
    assert!(doc["last_result_age_s"].as_f64().is_some(), "{doc}");
    let _ = stop.send(());
    let _ = hub.task.await;
    let (status, _, body) = get(&w, "/healthz", None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert!(body.contains("\"status\":\"stopped\""), "{body}");
}

/// A client that opens a stream and stops reading is dropped once a write has
/// waited for it longer than the write deadline; its place is given back and
/// nothing is buffered for it meanwhile beyond the shared ring.
#[tokio::test]
async fn a_stalled_stream_reader_is_dropped() {
    use tokio::io::AsyncWriteExt;
    let w = web(WebSettings {
        max_streams: 4,
        ..WebSettings::default()
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let server = tokio::spawn(super::serve(listener, w.clone()));
    // A small receive window, and never a read.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut client = socket.connect(addr).await.expect("connect");
    client
        .write_all(b"GET /api/v1/events HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("request");
    let opened = async {
        while w.streams.available_permits() == 4 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(std::time::Duration::from_secs(5), opened)
        .await
        .expect("the stream opened");
    // Far more than any socket buffers hold: 64 MiB of events, in batches.
    let text = "x".repeat(4000);
    let feed = w.feed.clone();
    let pushed = tokio::spawn(async move {
        for _ in 0..16 {
            let batch: Vec<&str> = vec![text.as_str(); 1024];
            feed.push_for_test(&batch);
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        }
    });
    let dropped = async {
        while w.streams.available_permits() < 4 {
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(super::WRITE_TIMEOUT * 2, dropped)
        .await
        .expect("the stalled stream was dropped within twice the write deadline");
    let _ = pushed.await;
    server.abort();
    drop(client);
}

// ---- acknowledgements, with a real hub over simulated nodes ----

const TOKEN: &str = "0123456789abcdef-ack-token";

/// A hub over simulated nodes: `ok-01` synced and `wall-03` free in `wall-A`,
/// `maint-01` free in `wall-M` and in two maintenance windows; and its server.
struct AckLab {
    _sim: crate::sim::Sim,
    hub: crate::hub::HubHandle,
    web: Web,
    _stop: tokio::sync::oneshot::Sender<()>,
}

async fn ack_lab(token: Option<&str>) -> AckLab {
    use crate::engine::Schedule;
    use crate::hub::{Hub, HubOptions};
    use crate::sim::{Sim, SimSpec};
    let spec = |name: &str, behaviour: &str, group: &str| SimSpec {
        name: name.into(),
        group: Some(group.into()),
        behaviour: behaviour.parse().expect("behaviour"),
    };
    let sim = Sim::start(
        vec![
            spec("ok-01", "synced", "wall-A"),
            spec("wall-03", "free", "wall-A"),
            spec("maint-01", "free", "wall-M"),
        ],
        std::net::Ipv4Addr::LOCALHOST.into(),
        std::time::Duration::from_secs(3600),
    )
    .await
    .expect("sim");
    let text = sim.fleet_toml(
        "interval = \"200ms\"\nmax_interval = \"500ms\"\ntimeout = \"1s\"\nbackoff = \"1s\"",
    ) + "\n[[maintenance]]\nname = \"rehearsal\"\nnodes = [\"maint-*\"]\n\
         start = \"2020-01-01T00:00:00Z\"\nend = \"2099-01-01T00:00:00Z\"\n\
         [[maintenance]]\nname = \"weekly-reboots\"\ngroups = [\"wall-M\"]\n\
         every = [\"sun\"]\nat = \"03:00\"\nduration = \"1h\"\ntimezone = \"Europe/Berlin\"\n";
    let config = Config::parse(&text, "fleet.toml").expect("valid");
    let options = HubOptions {
        schedule: Schedule::Continuous,
        config_path: None,
        snapshot_every: None,
        history: None,
        notify: None,
        acks: Vec::new(),
        ignore_acked: false,
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let hub = Hub::start(&config, options, async {
        let _ = stopped.await;
    })
    .await
    .expect("hub");
    let settings = WebSettings {
        token: token.map(Token::from_text),
        source: "fleet.toml".into(),
        ..WebSettings::default()
    };
    let web = Web::for_hub(&hub, settings);
    // Every node's first result.
    let mut ready = false;
    for _ in 0..200 {
        let snap = hub.fresh_snapshot().await;
        let status = |n: &str| snap.node(n).map(|v| v.status);
        if status("ok-01") == Some(crate::model::Status::Synced)
            && status("wall-03") == Some(crate::model::Status::Free)
            && status("maint-01") == Some(crate::model::Status::Free)
        {
            ready = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ready, "the simulated nodes did not settle");
    AckLab {
        _sim: sim,
        hub,
        web,
        _stop: stop,
    }
}

/// One request: status, headers and body (as JSON when it is JSON).
async fn call(
    web: &Web,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    // As a client sends it.
    if !body.is_empty() {
        req = req.header(header::CONTENT_LENGTH, body.len());
    }
    let resp = router(web.clone())
        .oneshot(req.body(Body::from(body.to_owned())).expect("request"))
        .await
        .expect("infallible");
    let (parts, body) = resp.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 24).await.expect("body");
    (
        parts.status,
        parts.headers,
        String::from_utf8_lossy(&bytes).into_owned(),
    )
}

const JSON: (&str, &str) = ("content-type", "application/json");

fn bearer(token: &str) -> (&'static str, String) {
    ("authorization", format!("Bearer {token}"))
}

/// `POST /api/v1/ack` with the token.
async fn post_ack(web: &Web, body: &str) -> (StatusCode, serde_json::Value) {
    let (k, v) = bearer(TOKEN);
    let (status, _, text) = call(web, "POST", "/api/v1/ack", &[JSON, (k, &v)], body).await;
    let doc = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, doc)
}

async fn status_doc(web: &Web) -> serde_json::Value {
    let (status, _, body) = get(web, "/api/v1/status", None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    serde_json::from_str(&body).expect("status JSON")
}

fn node<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["nodes"]
        .as_array()
        .and_then(|a| a.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("no node {name} in {doc}"))
}

fn group<'a>(doc: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    doc["groups"]
        .as_array()
        .and_then(|a| a.iter().find(|g| g["name"] == name))
        .unwrap_or_else(|| panic!("no group {name} in {doc}"))
}

#[tokio::test]
async fn acks_are_given_shown_and_removed_over_the_api() {
    let lab = ack_lab(Some(TOKEN)).await;
    let w = &lab.web;
    let before = status_doc(w).await;
    // wall-03 and its group wall-A ring; maint-01 is in maintenance.
    assert_eq!(before["alarming"], 2, "{before}");
    assert_eq!(before["acks"], serde_json::json!([]));
    assert!(node(&before, "wall-03")["ack"].is_null());
    assert_eq!(node(&before, "maint-01")["maintenance"], "rehearsal");

    let (status, a) = post_ack(
        w,
        r#"{"target": "wall-03", "reason": "re-imaging", "for": "2h", "user": "alice"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    assert_eq!(a["target"], "wall-03");
    assert_eq!(a["by"], "alice (api)");
    assert_eq!(a["reason"], "re-imaging");
    let id = a["id"].as_str().expect("an id").to_owned();
    let at: jiff::Timestamp = a["at"].as_str().expect("at").parse().expect("RFC 3339");
    let until: jiff::Timestamp = a["until"]
        .as_str()
        .expect("until")
        .parse()
        .expect("RFC 3339");
    assert_eq!(until.duration_since(at).as_secs(), 7200, "{a}");
    assert!(
        a["text"]
            .as_str()
            .is_some_and(|t| t.contains("wall-03 acknowledged by alice (api): re-imaging")),
        "{a}"
    );

    let doc = status_doc(w).await;
    let acked = &node(&doc, "wall-03")["ack"];
    assert_eq!(
        (&acked["target"], &acked["by"], &acked["reason"]),
        (
            &serde_json::json!("wall-03"),
            &serde_json::json!("alice (api)"),
            &serde_json::json!("re-imaging")
        ),
        "{doc}"
    );
    assert_eq!(doc["acks"].as_array().map(Vec::len), Some(1), "{doc}");
    assert_eq!(doc["acks"][0]["id"], id.as_str());
    // Nothing rings: its group's only problem is the member now acknowledged.
    assert_eq!(doc["alarming"], 0, "{doc}");

    // The group as a whole, by a script without a user.
    let (status, g) = post_ack(w, r#"{"target": "@wall-A", "reason": "rewiring"}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{g}");
    assert_eq!((&g["target"], &g["by"]), (&"@wall-A".into(), &"api".into()));
    let doc = status_doc(w).await;
    assert_eq!(group(&doc, "wall-A")["ack"]["by"], "api", "{doc}");
    assert_eq!(doc["acks"].as_array().map(Vec::len), Some(2), "{doc}");
    assert_eq!(doc["alarming"], 0, "{doc}");

    // The page: the acked row, its unack button, the maintenance row without a
    // button, and nothing left ringing.
    let (_, _, page) = get(w, "/", Some(&format!("Bearer {TOKEN}"))).await;
    assert!(page.contains(r#"data-acks="on""#), "{page}");
    assert!(page.contains(r#"data-alarming="0""#), "{page}");
    assert!(
        page.contains(
            r#"data-node="wall-03" data-status="free" data-group="wall-A" data-acked="wall-03""#
        ),
        "{page}"
    );
    assert!(page.contains(r#"data-unack="wall-03""#), "{page}");
    assert!(page.contains(r#"data-unack="@wall-A""#), "{page}");
    assert!(
        page.contains("acknowledged by alice (api): re-imaging"),
        "{page}"
    );
    assert!(
        page.contains(r#"data-node="maint-01" data-status="free" data-group="wall-M" data-maintenance="rehearsal""#),
        "{page}"
    );
    assert!(page.contains("maintenance: rehearsal"), "{page}");
    assert!(!page.contains(r#"data-ack="maint-01""#), "{page}");
    assert!(!page.contains(r#"data-ack="wall-03""#), "{page}");

    // Removed, by someone named; once only.
    let (k, v) = bearer(TOKEN);
    let (status, _, body) = call(
        w,
        "DELETE",
        "/api/v1/ack/%40wall-A",
        &[JSON, (k, &v)],
        r#"{"user": "bob"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let removed: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(removed["target"], "@wall-A");
    assert!(
        removed["text"]
            .as_str()
            .is_some_and(|t| t.contains("removed by bob (api)")),
        "{removed}"
    );
    let (status, _, body) = call(w, "DELETE", "/api/v1/ack/%40wall-A", &[(k, &v)], "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(body.contains("not acknowledged"), "{body}");
    let (status, _, body) = call(w, "DELETE", "/api/v1/ack/wall-03", &[(k, &v)], "").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let doc = status_doc(w).await;
    assert_eq!(doc["acks"], serde_json::json!([]), "{doc}");
    assert_eq!(doc["alarming"], 2, "{doc}");
    let (_, _, page) = get(w, "/", Some(&format!("Bearer {TOKEN}"))).await;
    assert!(page.contains(r#"data-ack="wall-03""#), "{page}");
    assert!(page.contains(r#"data-ack="@wall-A""#), "{page}");
}

#[tokio::test]
async fn acks_need_the_right_token_and_change_nothing_without_it() {
    let lab = ack_lab(Some(TOKEN)).await;
    let w = &lab.web;
    let body = r#"{"target": "wall-03", "reason": "x"}"#;
    // Missing: 401 with the challenge.
    let (status, h, text) = call(w, "POST", "/api/v1/ack", &[JSON], body).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert_eq!(h[header::WWW_AUTHENTICATE], "Bearer");
    assert!(text.starts_with("{\"error\":"), "{text}");
    // Wrong, in the header or the cookie: 401, invalid_token.
    for (k, v) in [
        ("authorization", "Bearer wrong-token".to_owned()),
        ("cookie", "syncguard_token=wrong-token".to_owned()),
    ] {
        let (status, h, text) = call(w, "POST", "/api/v1/ack", &[JSON, (k, &v)], body).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{k}: {text}");
        let challenge = h[header::WWW_AUTHENTICATE].to_str().expect("ascii");
        assert!(
            challenge.starts_with(r#"Bearer error="invalid_token""#),
            "{challenge}"
        );
        assert!(text.contains("the token is wrong"), "{text}");
        let (status, _, _) = call(w, "DELETE", "/api/v1/ack/wall-03", &[(k, &v)], "").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let doc = status_doc(w).await;
    assert_eq!(doc["acks"], serde_json::json!([]), "an ack was made: {doc}");
    assert!(node(&doc, "wall-03")["ack"].is_null(), "{doc}");
    // The cookie a page gets from ?token= works for the API.
    let cookie = format!("syncguard_token={TOKEN}");
    let (status, _, text) =
        call(w, "POST", "/api/v1/ack", &[JSON, ("cookie", &cookie)], body).await;
    assert_eq!(status, StatusCode::CREATED, "{text}");
    // A page loaded without the token shows the buttons signed out; with it, on.
    let (_, _, page) = get(w, "/", None).await;
    assert!(page.contains(r#"data-acks="signed-out""#), "{page}");
    assert!(page.contains(r#"id="ack-signin""#), "{page}");
    assert!(page.contains(r#"data-ack="@wall-A""#), "{page}");
    let (_, _, page) = get(w, "/node/wall-03", Some(&format!("Bearer {TOKEN}"))).await;
    assert!(page.contains(r#"data-acks="on""#), "{page}");
    assert!(page.contains(r#"data-unack="wall-03""#), "{page}");
}

#[tokio::test]
async fn without_a_token_configured_acks_are_refused_with_403() {
    let lab = ack_lab(None).await;
    let w = &lab.web;
    let (k, v) = bearer(TOKEN);
    let (status, _, text) = call(
        w,
        "POST",
        "/api/v1/ack",
        &[JSON, (k, &v)],
        r#"{"target": "wall-03", "reason": "x"}"#,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert!(
        text.contains("acks need [http] token_env or token_file"),
        "{text}"
    );
    let (status, _, text) = call(w, "DELETE", "/api/v1/ack/wall-03", &[], "").await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{text}");
    assert_eq!(status_doc(w).await["acks"], serde_json::json!([]));
    // No buttons on a page that cannot use them.
    let (_, _, page) = get(w, "/", None).await;
    assert!(page.contains(r#"data-acks="off""#), "{page}");
    assert!(!page.contains("data-ack="), "{page}");
    assert!(!page.contains("ack-dialog"), "{page}");
}

#[tokio::test]
async fn ack_refusals_map_to_status_codes() {
    let lab = ack_lab(Some(TOKEN)).await;
    let w = &lab.web;
    let long = "x".repeat(501);
    let cases: Vec<(String, StatusCode, &str)> = vec![
        (
            r#"{"target": "nobody", "reason": "x"}"#.into(),
            StatusCode::NOT_FOUND,
            "no node named \"nobody\"",
        ),
        (
            r#"{"target": "@nowhere", "reason": "x"}"#.into(),
            StatusCode::NOT_FOUND,
            "no sync group named \"nowhere\"",
        ),
        (
            r#"{"target": "ok-01", "reason": "x"}"#.into(),
            StatusCode::CONFLICT,
            "ok-01 is healthy",
        ),
        (
            r#"{"target": "maint-01", "reason": "x"}"#.into(),
            StatusCode::CONFLICT,
            "in maintenance window \"rehearsal\"",
        ),
        (
            format!(r#"{{"target": "wall-03", "reason": "{long}"}}"#),
            StatusCode::BAD_REQUEST,
            "the reason is 501 characters long; at most 500",
        ),
        (
            r#"{"target": "wall-03", "reason": "a\u001b[2Jb"}"#.into(),
            StatusCode::BAD_REQUEST,
            "control character",
        ),
        (
            r#"{"target": "wall-03", "reason": "two\nlines"}"#.into(),
            StatusCode::BAD_REQUEST,
            "control character",
        ),
        (
            r#"{"target": "wall-03", "reason": "x", "for": "a while"}"#.into(),
            StatusCode::BAD_REQUEST,
            "for: ",
        ),
        (
            r#"{"target": "wall-03", "reason": "x", "for": "90d"}"#.into(),
            StatusCode::BAD_REQUEST,
            "at most 30days",
        ),
        (
            r#"{"target": "wall-03"}"#.into(),
            StatusCode::BAD_REQUEST,
            "missing field `reason`",
        ),
        (
            r#"{"target": "wall-03", "reason": "x", "duration": "2h"}"#.into(),
            StatusCode::BAD_REQUEST,
            "unknown field `duration`",
        ),
        (
            "{not json".into(),
            StatusCode::BAD_REQUEST,
            "the body is not an ack",
        ),
        (
            format!(
                r#"{{"target": "wall-03", "reason": "{}"}}"#,
                "x".repeat(9000)
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 8 KiB",
        ),
        (
            format!(
                r#"{{"target": "wall-03", "reason": "{}"}}"#,
                "x".repeat(70_000)
            ),
            StatusCode::PAYLOAD_TOO_LARGE,
            "larger than 64 KiB",
        ),
    ];
    for (body, want, says) in &cases {
        let (status, doc) = post_ack(w, body).await;
        assert_eq!(status, *want, "{}: {doc}", &body[..body.len().min(80)]);
        let e = doc["error"].as_str().unwrap_or_default();
        assert!(e.contains(says), "{}: {e}", &body[..body.len().min(80)]);
    }
    // Not JSON: 415.
    let (k, v) = bearer(TOKEN);
    let (status, _, text) = call(
        w,
        "POST",
        "/api/v1/ack",
        &[
            (k, &v),
            ("content-type", "application/x-www-form-urlencoded"),
        ],
        "target=wall-03&reason=x",
    )
    .await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{text}");
    let (status, _, text) = call(w, "DELETE", "/api/v1/ack/nobody", &[(k, &v)], "").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{text}");
    let (status, _, text) = call(w, "DELETE", "/api/v1/ack/ok-01", &[(k, &v)], "").await;
    assert_eq!(status, StatusCode::CONFLICT, "{text}");
    assert!(text.contains("ok-01 is not acknowledged"), "{text}");
    let (status, _, text) = call(w, "DELETE", "/api/v1/ack/%40", &[(k, &v)], "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{text}");
    // Nothing was acknowledged by any of them.
    let doc = status_doc(w).await;
    assert_eq!(doc["acks"], serde_json::json!([]), "{doc}");
    // A stopped monitor: 503.
    let AckLab {
        hub,
        web,
        _stop: stop,
        _sim: sim,
    } = lab;
    drop(stop);
    let _ = hub.task.await;
    let (status, doc) = post_ack(&web, r#"{"target": "wall-03", "reason": "x"}"#).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{doc}");
    drop(sim);
}

#[tokio::test]
async fn a_hostile_reason_shows_as_text() {
    let lab = ack_lab(Some(TOKEN)).await;
    let w = &lab.web;
    let hostile = r#"<script>alert(1)</script><img src=x onerror=alert(2)> & \"quoted\""#;
    let (status, doc) = post_ack(
        w,
        &format!(r#"{{"target": "wall-03", "reason": "{hostile}", "user": "<b>eve</b>"}}"#),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{doc}");
    for path in ["/", "/node/wall-03"] {
        let (_, _, page) = get(w, path, Some(&format!("Bearer {TOKEN}"))).await;
        assert!(!page.contains("<script>alert"), "{path}: {page}");
        assert!(!page.contains("<img"), "{path}: {page}");
        assert!(!page.contains("<b>eve"), "{path}: {page}");
        assert!(
            page.contains(
                "&lt;script&gt;alert(1)&lt;/script&gt;&lt;img src=x onerror=alert(2)&gt; &amp; "
            ),
            "{path}: {page}"
        );
        assert!(
            page.contains("&lt;b&gt;eve&lt;/b&gt; (api)"),
            "{path}: {page}"
        );
        assert_eq!(page.matches("<script").count(), 1, "{path}: {page}");
    }
}

#[tokio::test]
async fn the_status_lists_the_windows_and_pages_hear_of_acks() {
    let lab = ack_lab(Some(TOKEN)).await;
    let w = &lab.web;
    let doc = status_doc(w).await;
    let windows = doc["maintenance"].as_array().expect("maintenance list");
    assert_eq!(windows.len(), 2, "{doc}");
    let once = &windows[0];
    assert_eq!(once["name"], "rehearsal");
    assert_eq!(once["nodes"], serde_json::json!(["maint-*"]));
    assert_eq!(once["groups"], serde_json::json!([]));
    assert_eq!(once["active"], true);
    assert_eq!(once["until"], "2099-01-01T00:00:00.000Z");
    assert!(once["next_start"].is_null(), "{once}");
    assert_eq!(
        once["schedule"],
        "once 2020-01-01T00:00:00Z → 2099-01-01T00:00:00Z"
    );
    let weekly = &windows[1];
    assert_eq!(weekly["name"], "weekly-reboots");
    assert_eq!(weekly["groups"], serde_json::json!(["wall-M"]));
    assert_eq!(weekly["schedule"], "every sun 03:00 for 1h (Europe/Berlin)");
    assert!(weekly["next_start"].is_string(), "{weekly}");
    assert_eq!(
        weekly["active"].as_bool(),
        Some(weekly["until"].is_string())
    );
    // Pretty, the same document.
    let (_, _, pretty) = get(w, "/api/v1/status?pretty", None).await;
    let again: serde_json::Value = serde_json::from_str(&pretty).expect("pretty JSON");
    assert_eq!(again["maintenance"], doc["maintenance"]);

    // An ack changes no status: the feed still tells open pages, with the row.
    // (After the summary of the first results.)
    tokio::time::sleep(std::time::Duration::from_millis(400)).await;
    let from = w.feed.latest().seq;
    let (status, a) = post_ack(w, r#"{"target": "wall-03", "reason": "on it"}"#).await;
    assert_eq!(status, StatusCode::CREATED, "{a}");
    let mut told = String::new();
    for _ in 0..100 {
        if let super::feed::Since::Frames(Some(frames), _) = w.feed.since(from) {
            told = String::from_utf8_lossy(&frames).into_owned();
            if told.contains("event: summary") {
                break;
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(told.contains("event: summary"), "no summary: {told:?}");
    assert!(told.contains(r#""acked":"wall-03""#), "{told}");
    // The group's only problem is the acknowledged member: nothing rings.
    assert!(told.contains(r#""alarming":0"#), "{told}");
    assert!(
        !told.contains(r#""node":"ok-01""#),
        "an unchanged row: {told}"
    );
}

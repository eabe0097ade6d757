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

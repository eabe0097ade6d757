//! The HTTP server with the real binary on loopback: every route, the status
//! document against `--once`, the event stream's order and resume, the stream
//! limit, the token, and the deprecated `--metrics` alias. The pages in a real
//! browser are in `web_browser.rs`.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use common::bin::{Proc, once, watch};
use common::lab::Lab;
use common::net::{free_port, http_get};
use common::wait_until;

const LIMIT: Duration = Duration::from_secs(15);
const FAST: &str = "[defaults]\ninterval = \"300ms\"\nmax_interval = \"500ms\"\ntimeout = \"1s\"\nbackoff = \"1s\"\n";

/// Sends the request `raw`: status code, lower-cased head and body of the
/// answer, or `None` while nothing listens on `port`.
fn exchange(port: u16, raw: &str) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(raw.as_bytes()).expect("write");
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let code = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Some((code, head.to_ascii_lowercase(), body.to_owned()))
}

/// Status code, lower-cased head and body of a GET with extra header lines.
fn get(port: u16, path: &str, headers: &str) -> (u16, String, String) {
    let raw =
        format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n{headers}\r\n");
    // Nothing listening (yet) is status 0, for the callers that wait.
    exchange(port, &raw).unwrap_or((0, String::new(), String::new()))
}

fn json_body(port: u16, path: &str) -> serde_json::Value {
    let (code, head, body) = get(port, path, "");
    assert_eq!(code, 200, "{path}: {head}\n{body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("{path}: {e}: {body}"))
}

/// Waits for the monitor to serve and for every node to have a first result.
fn settled(port: u16, child: &Proc) -> serde_json::Value {
    let mut doc = serde_json::Value::Null;
    let ok = wait_until(LIMIT, || {
        let Some(r) = http_get(port, "/api/v1/status") else {
            return false;
        };
        let Some(body) = r.split("\r\n\r\n").nth(1) else {
            return false;
        };
        doc = serde_json::from_str(body).unwrap_or_default();
        doc["summary"]["by_status"]["pending"] == 0 && doc["summary"]["total"].as_u64() > Some(0)
    });
    assert!(ok, "not settled: {doc}\n{}", child.stderr());
    doc
}

/// The parts of a status document that are the same whoever took it: times and
/// latencies differ between two checks of the same fleet. The web's own keys
/// (`alarming`, `acks`, `maintenance`) are not in `--once`'s document.
fn comparable(mut doc: serde_json::Value) -> serde_json::Value {
    doc["checked_at"] = serde_json::Value::Null;
    if let Some(o) = doc.as_object_mut() {
        for key in ["alarming", "acks", "maintenance"] {
            o.remove(key);
        }
    }
    if let Some(nodes) = doc["nodes"].as_array_mut() {
        for n in nodes {
            n["since"] = serde_json::Value::Null;
            n["latency_ms"] = serde_json::Value::Null;
        }
    }
    doc
}

#[test]
fn every_route_answers_and_the_status_is_the_once_document() {
    let lab = Lab::new(&[
        ("master", "state2", Some("g")),
        ("slave", "state1", Some("g")),
        ("free", "free", Some("g")),
        ("gone", "refused", None),
    ]);
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}{}{}{}{}",
            lab.node_toml("master", "group = \"g\""),
            lab.node_toml("slave", "group = \"g\""),
            lab.node_toml("free", "group = \"g\""),
            lab.node_toml("gone", "")
        ),
    );
    let history = lab.path("history.db");
    let port = free_port();
    let child = watch(
        &config,
        &[
            "--http",
            &format!("127.0.0.1:{port}"),
            "--history",
            history.to_str().expect("utf-8 path"),
        ],
    );
    let served = settled(port, &child);
    // What the web adds: two nodes and their group are unhealthy, nobody acked.
    assert_eq!(
        (&served["alarming"], &served["acks"], &served["maintenance"]),
        (
            &serde_json::json!(3),
            &serde_json::json!([]),
            &serde_json::json!([])
        ),
        "{served}"
    );
    let served = comparable(served);
    let checked = once(&config, &["--format", "json", "--no-history"]);
    let once_doc: serde_json::Value = serde_json::from_str(&checked.stdout).expect("--once JSON");
    assert_eq!(served, comparable(once_doc));
    // `since` is there for every node, as a time.
    let doc = json_body(port, "/api/v1/status");
    for n in doc["nodes"].as_array().expect("nodes") {
        assert!(n["since"].as_str().is_some_and(|s| s.ends_with('Z')), "{n}");
    }

    let (code, head, page) = get(port, "/", "");
    assert_eq!(code, 200, "{head}");
    assert!(
        head.contains("content-security-policy: default-src 'self'"),
        "{head}"
    );
    assert!(head.contains("x-content-type-options: nosniff"), "{head}");
    assert!(head.contains("referrer-policy: no-referrer"), "{head}");
    assert!(
        page.contains(r#"id="verdict" data-verdict="CRITICAL""#),
        "{page}"
    );
    for (node, status) in [
        ("master", "synced"),
        ("free", "free"),
        ("gone", "unreachable"),
    ] {
        assert!(
            page.contains(&format!(r#"data-node="{node}" data-status="{status}""#)),
            "{node} {status}: {page}"
        );
    }
    let (code, _, wall) = get(port, "/wall", "");
    assert_eq!(code, 200);
    assert!(
        wall.contains(r#"data-group="g" data-status="free""#),
        "{wall}"
    );
    let (code, _, node) = get(port, "/node/free", "");
    assert_eq!(code, 200);
    assert!(
        node.contains(r#"data-node="free" data-status="free""#),
        "{node}"
    );
    assert!(
        node.contains("In lock"),
        "the record from the history file: {node}"
    );
    assert_eq!(get(port, "/node/nobody", "").0, 404);
    assert_eq!(get(port, "/no/such/route", "").0, 404);

    let (code, head, metrics) = get(port, "/metrics", "");
    assert_eq!(code, 200);
    assert!(
        head.contains("content-type: application/openmetrics-text"),
        "{head}"
    );
    assert!(
        metrics.contains("syncguard_node_healthy{node=\"free\"} 0"),
        "{metrics}"
    );
    let health = json_body(port, "/healthz");
    assert_eq!(health["status"], "ok");
    assert!(
        health["last_result_age_s"]
            .as_f64()
            .is_some_and(|a| a < 5.0),
        "{health}"
    );

    // The history API: the commands' JSON, their flags as parameters.
    let ok = wait_until(LIMIT, || {
        let (code, _, body) = get(port, "/api/v1/uptime?since=1h&node=free", "");
        code == 200 && body.contains("\"free\"")
    });
    assert!(ok, "uptime for a recorded node");
    let h = json_body(port, "/api/v1/history?since=1h&group=g");
    assert!(h["incidents"].is_array(), "{h}");
    let (code, _, body) = get(port, "/api/v1/uptime?node=nobody", "");
    assert_eq!(code, 404, "{body}");
    assert!(body.contains("no node named"), "{body}");
    for bad in [
        "since=0s",
        "from=yesterday",
        "limit=3",
        "since=1h&from=2026-01-01T00:00:00Z",
    ] {
        let (code, _, body) = get(port, &format!("/api/v1/history?{bad}"), "");
        assert_eq!(code, 400, "{bad}: {body}");
        assert!(body.contains("\"error\""), "{bad}: {body}");
    }
    let _ = child.stop();
}

/// One server-sent event.
#[derive(Debug, Clone, PartialEq)]
struct Sse {
    id: Option<String>,
    event: String,
    data: String,
}

/// An open event stream, read frame by frame.
struct Stream {
    reader: BufReader<TcpStream>,
}

impl Stream {
    fn open(port: u16, headers: &str) -> Result<Stream, (u16, String)> {
        Stream::open_at(port, "/api/v1/events", headers)
    }

    fn open_at(port: u16, path: &str, headers: &str) -> Result<Stream, (u16, String)> {
        let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        s.set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        write!(s, "GET {path} HTTP/1.1\r\nHost: localhost\r\n{headers}\r\n").expect("write");
        let mut reader = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        let code: u16 = head
            .split(' ')
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        if code != 200 {
            return Err((code, head));
        }
        assert!(head.contains("content-type: text/event-stream"), "{head}");
        assert!(head.contains("transfer-encoding: chunked"), "{head}");
        Ok(Stream { reader })
    }

    /// The next event (chunked framing removed), or `None` on timeout or close.
    fn next(&mut self) -> Option<Sse> {
        let mut ev = Sse {
            id: None,
            event: "message".into(),
            data: String::new(),
        };
        let mut any = false;
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let line = line.trim_end_matches(['\r', '\n']);
            // Chunk-size lines are hex digits alone; frames' lines have a colon.
            if line.is_empty() {
                if any {
                    return Some(ev);
                }
                continue;
            }
            match line.split_once(": ") {
                Some(("id", v)) => ev.id = Some(v.to_owned()),
                Some(("event", v)) => ev.event = v.to_owned(),
                Some(("data", v)) => ev.data = v.to_owned(),
                Some(("retry", _)) => {}
                _ => continue,
            }
            if !line.starts_with("retry") {
                any = true;
            }
        }
    }

    /// The next event of `kind`, skipping others, within `limit`.
    fn next_of(&mut self, kind: &str, limit: Duration) -> Option<Sse> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            match self.next() {
                Some(e) if e.event == kind => return Some(e),
                Some(_) => {}
                None => return None,
            }
        }
        None
    }
}

fn flapping_monitor(lab: &Lab, extra_toml: &str) -> (Proc, u16) {
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}{extra_toml}{}{}",
            lab.node_toml("flap", "group = \"g\""),
            lab.node_toml("ok", "group = \"g\"")
        ),
    );
    let port = free_port();
    let child = watch(
        &config,
        &["--http", &format!("127.0.0.1:{port}"), "--no-history"],
    );
    settled(port, &child);
    (child, port)
}

#[test]
fn events_arrive_in_order_and_a_reconnect_resumes() {
    let lab = Lab::with_flap(
        &[("flap", "flap", Some("g")), ("ok", "synced", Some("g"))],
        Duration::from_millis(700),
    );
    let (child, port) = flapping_monitor(&lab, "");
    let mut stream = Stream::open(port, "").expect("stream");
    let mut seen = Vec::new();
    while seen.len() < 5 {
        let e = stream
            .next_of("transition", LIMIT)
            .unwrap_or_else(|| panic!("5 transitions: got {seen:?}\n{}", child.stderr()));
        seen.push(e);
    }
    // The same JSON as `watch --events json`, one per transition, in order.
    let mut before: Option<String> = None;
    let mut last_seq = 0u64;
    for e in &seen {
        let v: serde_json::Value = serde_json::from_str(&e.data).expect("JSON");
        let keys: Vec<&str> = v
            .as_object()
            .expect("object")
            .keys()
            .map(|k| k.as_str())
            .collect();
        assert_eq!(
            keys,
            [
                "time", "node", "group", "previous", "status", "role", "reply", "error"
            ]
        );
        assert_eq!(v["node"], "flap");
        if let Some(b) = &before {
            assert_eq!(v["previous"].as_str(), Some(b.as_str()), "{seen:?}");
        }
        before = v["status"].as_str().map(str::to_owned);
        let id = e.id.as_deref().expect("every transition has an id");
        let seq: u64 = id
            .rsplit('-')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("run-seq");
        assert!(seq > last_seq, "ids increase: {seen:?}");
        last_seq = seq;
    }
    // Resume after the second: the third comes next, the very same event.
    let resume = seen[1].id.clone().expect("id");
    let mut again = Stream::open(port, &format!("Last-Event-ID: {resume}\r\n")).expect("stream");
    let first = again.next_of("transition", LIMIT).expect("resumed");
    assert_eq!(first, seen[2]);
    // The same through `?since=`, for clients that cannot set the header.
    let mut again =
        Stream::open_at(port, &format!("/api/v1/events?since={resume}"), "").expect("stream");
    assert_eq!(again.next_of("transition", LIMIT).as_ref(), Some(&seen[2]));
    // An id of another run (a restarted monitor) or junk: a snapshot first.
    for stale in ["1-1", "junk"] {
        let mut s = Stream::open(port, &format!("Last-Event-ID: {stale}\r\n")).expect("stream");
        let first = s.next().expect("an event");
        assert_eq!(first.event, "snapshot", "{stale}: {first:?}");
        let doc: serde_json::Value = serde_json::from_str(&first.data).expect("JSON");
        assert_eq!(doc["summary"]["total"], 2, "{doc}");
        assert!(first.id.is_some());
        // Then the page's rows, formatted by the server.
        let rows = s.next().expect("summary");
        assert_eq!(rows.event, "summary", "{rows:?}");
    }
    // A summary follows transitions: verdict, tiles and the changed rows.
    let summary = stream.next_of("summary", LIMIT).expect("summary");
    let v: serde_json::Value = serde_json::from_str(&summary.data).expect("JSON");
    assert_eq!(v["tiles"][0]["group"], "g", "{v}");
    assert!(
        v["rows"]
            .as_array()
            .is_some_and(|r| r.iter().any(|r| r["node"] == "flap")),
        "{v}"
    );
    let _ = child.stop();
}

#[test]
fn streams_beyond_max_streams_get_503_and_a_closed_one_frees_its_place() {
    let lab = Lab::with_flap(
        &[("flap", "flap", None), ("ok", "synced", None)],
        Duration::from_secs(60),
    );
    let (child, port) = flapping_monitor(&lab, "[http]\nmax_streams = 2\n");
    let a = Stream::open(port, "").expect("first");
    let _b = Stream::open(port, "").expect("second");
    match Stream::open(port, "") {
        Err((code, head)) => {
            assert_eq!(code, 503, "{head}");
            assert!(head.contains("retry-after: 10"), "{head}");
        }
        Ok(_) => panic!("a third stream was accepted"),
    }
    // Other routes still answer while the streams are full.
    assert_eq!(get(port, "/healthz", "").0, 200);
    drop(a);
    let reopened = wait_until(LIMIT, || Stream::open(port, "").is_ok());
    assert!(reopened, "a closed stream gives its place back");
    let _ = child.stop();
}

/// `watch` on `config` serving on `port`, without history, with the token in
/// its environment (`(variable, token)`) and a debug log in `log`.
fn watch_logged(config: &Path, (var, token): (&str, &str), port: u16, log: &Path) -> Proc {
    Proc::spawn(
        common::bin::bin()
            .env(var, token)
            .env("RUST_LOG", "debug")
            .arg("--config")
            .arg(config)
            .args([
                "--http",
                &format!("127.0.0.1:{port}"),
                "--no-history",
                "--log-file",
            ])
            .arg(log)
            .arg("watch"),
    )
}

#[test]
fn the_token_protects_reads_and_never_reaches_the_log() {
    let token = "web-test-token-5f1c2a9e";
    let lab = Lab::new(&[("ok", "synced", None)]);
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}[http]\ntoken_env = \"SG_WEB_TEST_TOKEN\"\nprotect_read = true\n{}",
            lab.nodes_toml(&["ok"])
        ),
    );
    let port = free_port();
    let log = lab.path("monitor.log");
    let child = watch_logged(&config, ("SG_WEB_TEST_TOKEN", token), port, &log);
    assert!(
        wait_until(LIMIT, || get(port, "/healthz", "").0 == 200),
        "{}",
        child.stderr()
    );
    let bearer = format!("Authorization: Bearer {token}\r\n");
    assert_eq!(get(port, "/api/v1/status", "").0, 401);
    assert_eq!(get(port, "/", "Authorization: Bearer nope\r\n").0, 403);
    assert_eq!(get(port, "/metrics", "").0, 401);
    assert_eq!(get(port, "/api/v1/status", &bearer).0, 200);
    assert_eq!(get(port, "/metrics", &bearer).0, 200);
    let (code, head, _) = get(port, &format!("/wall?token={token}"), "");
    assert_eq!(code, 303, "{head}");
    assert!(head.contains("location: /wall\r\n"), "{head}");
    let cookie = format!("Cookie: syncguard_token={token}\r\n");
    assert_eq!(get(port, "/wall", &cookie).0, 200);
    assert_eq!(Stream::open(port, "").err().map(|e| e.0), Some(401));
    assert!(Stream::open(port, &bearer).is_ok());
    let (_, stderr) = child.stop();
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.contains("/wall"),
        "requests are logged at debug: {logged}"
    );
    assert!(
        !logged.contains(token),
        "the token is in the log:\n{logged}"
    );
    assert!(!stderr.contains(token), "the token is on stderr:\n{stderr}");
}

#[test]
fn a_missing_token_stops_the_start_and_an_open_bind_warns() {
    let lab = Lab::new(&[("ok", "synced", None)]);
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[http]\ntoken_env = \"SG_SURELY_UNSET_TOKEN\"\n{}",
            lab.nodes_toml(&["ok"])
        ),
    );
    let port = free_port();
    let run = common::bin::run(common::bin::bin().arg("--config").arg(&config).args([
        "--http",
        &format!("127.0.0.1:{port}"),
        "--no-history",
        "watch",
    ]));
    common::bin::assert_code(&run, 3);
    assert!(
        run.stderr.contains("SG_SURELY_UNSET_TOKEN"),
        "{}",
        run.stderr
    );
    // No token and an address other machines can reach: a warning.
    let open = lab.write("open.toml", &lab.nodes_toml(&["ok"]));
    let child = watch(&open, &["--http", "0.0.0.0:0", "--no-history"]);
    let ok = wait_until(LIMIT, || child.stderr().contains("without a token"));
    let (_, stderr) = child.stop();
    assert!(ok, "{stderr}");
}

#[test]
fn the_metrics_flag_still_serves_with_a_deprecation_warning() {
    let lab = Lab::new(&[("ok", "synced", None)]);
    let config = lab.write("fleet.toml", &format!("{FAST}{}", lab.nodes_toml(&["ok"])));
    let port = free_port();
    let child = watch(
        &config,
        &["--metrics", &format!("127.0.0.1:{port}"), "--no-history"],
    );
    let served = wait_until(LIMIT, || {
        http_get(port, "/metrics")
            .is_some_and(|r| r.contains("syncguard_node_healthy{node=\"ok\"} 1"))
    });
    let (_, stderr) = child.stop();
    assert!(served, "{stderr}");
    assert!(
        stderr.contains("--metrics is deprecated: use --http"),
        "{stderr}"
    );
}

/// The id a page was rendered with (`data-event-id`).
fn page_event_id(port: u16) -> String {
    let (code, _, page) = get(port, "/", "");
    assert_eq!(code, 200);
    page.split("data-event-id=\"")
        .nth(1)
        .and_then(|r| r.split('"').next())
        .expect("data-event-id")
        .to_owned()
}

/// A page whose stream was down while things changed resumes with the summaries
/// too (verdict, tiles), not only the transitions: they are made whether or not
/// anyone listens.
#[test]
fn a_page_that_was_away_gets_the_summaries_it_missed() {
    let lab = Lab::with_flap(
        &[("flap", "flap", Some("g")), ("ok", "synced", Some("g"))],
        Duration::from_millis(500),
    );
    let (child, port) = flapping_monitor(&lab, "");
    let rendered = page_event_id(port);
    // Nobody listens while the node flaps a few times.
    std::thread::sleep(Duration::from_millis(2500));
    let now = page_event_id(port);
    let seq = |id: &str| -> u64 {
        id.rsplit('-')
            .next()
            .and_then(|s| s.parse().ok())
            .expect("run-seq")
    };
    assert!(
        seq(&now) > seq(&rendered),
        "no events meanwhile: {rendered} {now}"
    );
    let mut stream =
        Stream::open_at(port, &format!("/api/v1/events?since={rendered}"), "").expect("stream");
    let mut kinds = Vec::new();
    loop {
        let e = stream.next().expect("the missed events");
        if e.event == "ping" {
            continue;
        }
        let id = e.id.clone().expect("id");
        assert!(
            seq(&id) > seq(&rendered),
            "resumed after the page's id: {id}"
        );
        kinds.push(e.event);
        if seq(&id) >= seq(&now) {
            break;
        }
    }
    assert!(kinds.iter().any(|k| k == "transition"), "{kinds:?}");
    assert!(kinds.iter().any(|k| k == "summary"), "{kinds:?}");
    assert!(!kinds.iter().any(|k| k == "snapshot"), "{kinds:?}");
    let _ = child.stop();
}

/// Status code, lower-cased head and body of any request.
fn request(
    port: u16,
    method: &str,
    path: &str,
    headers: &str,
    body: &str,
) -> (u16, String, String) {
    let raw = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Length: {}\r\n{headers}\r\n{body}",
        body.len()
    );
    exchange(port, &raw).expect("connect")
}

/// The real binary: `[http] token_name`, an ack and an unack over HTTP, the
/// maintenance windows of the config file in the status, the ack in the log,
/// and the token in neither.
#[test]
fn acks_over_http_reach_the_monitor_and_its_log() {
    let token = "web-ack-token-8d2e41b7";
    let lab = Lab::new(&[
        ("ok", "synced", Some("wall-A")),
        ("bad", "free", Some("wall-A")),
        ("quiet", "free", None),
    ]);
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}[http]\ntoken_env = \"SG_WEB_ACK_TOKEN\"\ntoken_name = \"ops-desk\"\n{}{}{}\
             [[maintenance]]\nname = \"rehearsal\"\nnodes = [\"quiet\"]\n\
             start = \"2020-01-01T00:00:00Z\"\nend = \"2099-01-01T00:00:00Z\"\n",
            lab.node_toml("ok", "group = \"wall-A\""),
            lab.node_toml("bad", "group = \"wall-A\""),
            lab.node_toml("quiet", ""),
        ),
    );
    let port = free_port();
    let log = lab.path("monitor.log");
    let child = watch_logged(&config, ("SG_WEB_ACK_TOKEN", token), port, &log);
    let doc = settled(port, &child);
    assert_eq!(doc["alarming"], 2, "bad and wall-A: {doc}");
    let windows = doc["maintenance"].as_array().expect("windows");
    assert_eq!(windows.len(), 1, "{doc}");
    assert_eq!(
        (&windows[0]["name"], &windows[0]["active"]),
        (&serde_json::json!("rehearsal"), &serde_json::json!(true))
    );
    let quiet = doc["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == "quiet"))
        .expect("quiet");
    assert_eq!(quiet["maintenance"], "rehearsal", "{doc}");

    let json = "Content-Type: application/json\r\n";
    let ack =
        r#"{"target": "bad", "reason": "swapping the sync card", "for": "90m", "user": "alice"}"#;
    let (code, head, body) = request(port, "POST", "/api/v1/ack", json, ack);
    assert_eq!(code, 401, "{body}");
    assert!(head.contains("www-authenticate: bearer\r\n"), "{head}");
    let wrong = format!("{json}Authorization: Bearer wrong\r\n");
    let (code, head, body) = request(port, "POST", "/api/v1/ack", &wrong, ack);
    assert_eq!(code, 401, "{body}");
    assert!(head.contains("error=\"invalid_token\""), "{head}");
    let auth = format!("{json}Authorization: Bearer {token}\r\n");
    let (code, head, body) = request(port, "POST", "/api/v1/ack", &auth, ack);
    assert_eq!(code, 201, "{head}\n{body}");
    assert!(head.contains("location: /api/v1/ack/bad\r\n"), "{head}");
    let a: serde_json::Value = serde_json::from_str(&body).expect("ack JSON");
    assert_eq!(a["by"], "alice (ops-desk)", "{a}");
    let doc = json_body(port, "/api/v1/status");
    // `bad` was its group's only problem: nothing rings any more.
    assert_eq!(doc["alarming"], 0, "{doc}");
    assert_eq!(doc["acks"][0]["id"], a["id"], "{doc}");
    assert_eq!(doc["acks"][0]["reason"], "swapping the sync card");
    let (code, _, page) = get(port, "/", &format!("Authorization: Bearer {token}\r\n"));
    assert_eq!(code, 200);
    assert!(page.contains(r#"data-acked="bad""#), "{page}");
    assert!(page.contains(r#"data-alarming="0""#), "{page}");

    let (code, _, body) = request(
        port,
        "DELETE",
        "/api/v1/ack/bad",
        &auth,
        r#"{"user": "bob"}"#,
    );
    assert_eq!(code, 200, "{body}");
    let doc = json_body(port, "/api/v1/status");
    assert_eq!(
        (&doc["alarming"], &doc["acks"]),
        (&2.into(), &serde_json::json!([]))
    );

    let (_, stderr) = child.stop();
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.contains("ack: bad acknowledged by alice (ops-desk): swapping the sync card"),
        "the ack is logged: {logged}"
    );
    assert!(
        logged.contains("ack: bad no longer acknowledged: removed by bob (ops-desk)"),
        "the unack is logged: {logged}"
    );
    assert!(!logged.contains(token), "the token is in the log");
    assert!(!stderr.contains(token), "the token is on stderr");
}

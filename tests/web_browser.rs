//! The status page in a real browser: headless Chromium through WebDriver
//! (tests/common/browser.rs) against `watch --http` on loopback. Each test starts
//! its own monitor, nodes and browser, and checks the page's documented DOM
//! contract: `data-node`/`data-status` on every node, `#verdict[data-verdict]`,
//! live updates without a reload, node text shown as text and never run, the
//! `#stream-lost` banner and `body[data-stream]`, the alarm, the page without
//! JavaScript, `/wall` fitting one 1920x1080 screen, and acknowledging a node
//! from the page (`button[data-ack]`, `#verdict[data-alarming]`).
//!
//! Without chromium and chromedriver every test reports `SKIPPED:` (and fails
//! under CI, where .ci/run installs them).

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::process::Signal;
use serde_json::Value;

use common::bin::{Proc, watch};
use common::browser::{self, Browser, Options};
use common::lab::Lab;
use common::net::{free_port, http_get};
use common::wait_until;

/// Fast polls, so that the first results and every change come within a second.
const DEFAULT_KEYS: &str =
    "interval = \"500ms\"\nmax_interval = \"1s\"\ntimeout = \"1s\"\nbackoff = \"1s\"\n";
/// Generous: a monitor's first results, a browser's start, a page load, on a
/// busy machine.
const SETTLE: Duration = Duration::from_secs(20);
/// What the page promises: a node's change, or a lost stream, shows within 5 s.
const PROMISE: Duration = Duration::from_secs(5);
/// The statuses a page may show.
const STATUSES: [&str; 7] = [
    "synced",
    "free",
    "unreachable",
    "timeout",
    "invalid",
    "stale",
    "pending",
];

fn config(lab: &Lab, nodes: &str) -> std::path::PathBuf {
    lab.write(
        "fleet.toml",
        &format!("[defaults]\n{DEFAULT_KEYS}\n{nodes}"),
    )
}

/// `watch --http 127.0.0.1:PORT --no-history` with its page, API and stream.
struct Monitor {
    proc: Proc,
    port: u16,
}

impl Monitor {
    fn start(config: &Path) -> Monitor {
        Monitor::on(config, free_port())
    }

    /// On `port` (a restart on the port a page already follows).
    fn on(config: &Path, port: u16) -> Monitor {
        let proc = watch(
            config,
            &["--http", &format!("127.0.0.1:{port}"), "--no-history"],
        );
        let m = Monitor { proc, port };
        let up = wait_until(SETTLE, || m.status().is_some());
        assert!(
            up,
            "no /api/v1/status on 127.0.0.1:{port} within {SETTLE:?}\nstderr:\n{}",
            m.proc.stderr()
        );
        m
    }

    fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// The status document, when the server answers with one.
    fn status(&self) -> Option<Value> {
        let r = http_get(self.port, "/api/v1/status")?;
        if !r.starts_with("HTTP/1.1 200") {
            return None;
        }
        serde_json::from_str(r.split_once("\r\n\r\n")?.1).ok()
    }

    /// The status document once every node has a result and `done` holds for it.
    fn settled(&self, what: &str, done: impl Fn(&BTreeMap<String, String>) -> bool) -> Value {
        let mut last = None;
        let ok = wait_until(SETTLE, || {
            last = self.status();
            last.as_ref().is_some_and(|doc| {
                let s = statuses(doc);
                !s.is_empty() && !s.values().any(|v| v == "pending") && done(&s)
            })
        });
        let doc = last.unwrap_or(Value::Null);
        assert!(
            ok,
            "not settled within {SETTLE:?}: {what}\n{:?}\nstderr:\n{}",
            statuses(&doc),
            self.proc.stderr()
        );
        doc
    }
}

/// node name -> status, from a status document.
fn statuses(doc: &Value) -> BTreeMap<String, String> {
    doc["nodes"]
        .as_array()
        .map(|nodes| {
            nodes
                .iter()
                .map(|n| {
                    (
                        n["name"].as_str().unwrap_or("").to_owned(),
                        n["status"].as_str().unwrap_or("").to_owned(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// A browser on `path` of `m`; with JavaScript, once the page's event stream is up.
fn open(m: &Monitor, options: &Options, path: &str) -> Browser {
    let b = Browser::start(options);
    b.goto(&m.url(path));
    if options.javascript {
        b.expect(
            SETTLE,
            "document.body.getAttribute('data-stream') === 'up'",
            "the page's event stream is up",
            "document.body.getAttribute('data-stream')",
        );
    }
    b
}

/// (data-node, data-status) of every row of the node table, in page order.
fn rows(b: &Browser) -> Vec<(String, String)> {
    let v = b.js(
        "return Array.from(document.querySelectorAll('#node-table tbody tr'))
            .map(tr => [tr.getAttribute('data-node'), tr.getAttribute('data-status')]);",
    );
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("rows {v}: {e}"))
}

/// The rows as a map, failing on a node listed twice or a row without a name.
fn row_map(b: &Browser) -> BTreeMap<String, String> {
    let list = rows(b);
    let map: BTreeMap<String, String> = list.iter().cloned().collect();
    assert_eq!(map.len(), list.len(), "a node listed twice: {list:?}");
    map
}

/// Every row has the documented cells in order, a status word its status cell
/// shows, and its name in the name cell. Returns the rows that do not.
const BAD_ROWS: &str =
    "return Array.from(document.querySelectorAll('#node-table tbody tr')).filter(tr => {
    const cells = Array.from(tr.cells).map(td => td.className).join(' ');
    const name = tr.querySelector('td.name a');
    const status = tr.querySelector('td.status');
    return cells !== 'name group status role since latency error ack quiet'
        || !name || name.textContent !== tr.getAttribute('data-node')
        || !status || !status.textContent.includes(tr.getAttribute('data-status'));
}).map(tr => tr.outerHTML);";

fn verdict(b: &Browser) -> Value {
    b.js(
        "const v = document.querySelector('#verdict'); return v && v.getAttribute('data-verdict');",
    )
}

/// (a) The page lists every node with the status the API reports, server
/// rendered and after the script has taken over.
#[test]
fn every_node_shows_the_status_the_api_reports() {
    if !browser::available("web_browser::every_node_shows_the_status_the_api_reports") {
        return;
    }
    let lab = Lab::new(&[
        ("synced", "synced", Some("stage-a")),
        ("master", "state2", Some("stage-a")),
        ("slave", "state1", Some("stage-a")),
        ("error", "state0", Some("stage-b")),
        ("free", "free", Some("stage-b")),
        ("garbage", "garbage", None),
        ("http", "http", None),
        ("refused", "refused", Some("stage-c")),
        ("silent", "silent", Some("stage-c")),
        ("wall 01", "synced", None),
    ]);
    let m = Monitor::start(&lab.fleet("fleet.toml", DEFAULT_KEYS));
    let doc = m.settled("a result for every node", |s| s.len() == 10);
    let api = statuses(&doc);
    // The comparison means something only with a mix of statuses.
    let seen: BTreeSet<&str> = api.values().map(String::as_str).collect();
    for want in ["synced", "free", "unreachable", "timeout", "invalid"] {
        assert!(seen.contains(want), "no {want} node: {api:?}");
    }

    let b = Browser::start(&Options::default());
    b.goto(&m.url("/"));
    // As the server rendered it (the script may not have patched anything yet).
    assert_eq!(row_map(&b), api, "server-rendered rows against the API");
    assert_eq!(verdict(&b), doc["verdict"], "verdict");
    b.expect(
        SETTLE,
        "document.body.getAttribute('data-stream') === 'up'",
        "the event stream is up",
        "document.body.getAttribute('data-stream')",
    );
    // Once live: a ping or two later, still the same.
    std::thread::sleep(Duration::from_millis(2500));
    let live = row_map(&b);
    let now = statuses(&m.status().expect("status document"));
    assert_eq!(live, now, "live rows against the API");
    assert_eq!(now, api, "the fleet changed while settled");
    for (node, status) in &live {
        assert!(STATUSES.contains(&status.as_str()), "{node}: {status}");
    }
    assert_eq!(b.js(BAD_ROWS), Value::Array(Vec::new()), "malformed rows");
    assert_eq!(verdict(&b), doc["verdict"], "verdict once live");
    // Every element with data-node carries a known status.
    let odd = b.js(&format!(
        "const known = {}; return Array.from(document.querySelectorAll('[data-node]'))
            .filter(el => !known.includes(el.getAttribute('data-status'))).map(el => el.outerHTML);",
        serde_json::to_string(&STATUSES).expect("json")
    ));
    assert_eq!(
        odd,
        Value::Array(Vec::new()),
        "elements without a known status"
    );
    // A clean stop while a page holds an event stream open.
    let _ = m.proc.stop();
}

/// (b) A node that stops being healthy flips on the open page within 5 s, by the
/// event stream: the page is not reloaded (a marker set in it survives).
#[test]
fn a_node_that_dies_flips_on_the_page_without_a_reload() {
    if !browser::available("web_browser::a_node_that_dies_flips_on_the_page_without_a_reload") {
        return;
    }
    let lab = Lab::new(&[("steady", "synced", Some("stage"))]);
    let loses_lock = lab.fake(Some("Synced"));
    let goes_away = lab.fake(Some("Synced"));
    let cfg = config(
        &lab,
        &format!(
            "{}{}{}",
            lab.node_toml("steady", "group = \"stage\""),
            loses_lock.node_toml("loses-lock", "group = \"stage\""),
            goes_away.node_toml("goes-away", "")
        ),
    );
    let m = Monitor::start(&cfg);
    m.settled("every node synced", |s| {
        s.len() == 3 && s.values().all(|v| v == "synced")
    });
    let b = open(&m, &Options::default(), "/");
    assert_eq!(verdict(&b), "OK");
    b.js("window.__marker = 42; return null;");

    let start = Instant::now();
    loses_lock.set_reply(Some("Free\r\n"));
    lab.rt.block_on(goes_away.stop());
    let flipped = b.wait_for(
        PROMISE,
        "document.querySelector('tr[data-node=\"loses-lock\"]').getAttribute('data-status') === 'free'
         && document.querySelector('tr[data-node=\"goes-away\"]').getAttribute('data-status') === 'unreachable'",
    );
    let took = start.elapsed();
    assert!(
        flipped,
        "not flipped within {PROMISE:?}: page {:?}, API {:?}",
        rows(&b),
        m.status().map(|d| statuses(&d))
    );
    assert!(
        took <= PROMISE + Duration::from_millis(500),
        "took {took:?}"
    );
    assert_eq!(b.js("return window.__marker;"), 42, "the page was reloaded");
    let page = row_map(&b);
    assert_eq!(page.get("steady").map(String::as_str), Some("synced"));
    assert_eq!(b.js(BAD_ROWS), Value::Array(Vec::new()), "malformed rows");
    b.expect(
        PROMISE,
        "document.querySelector('#verdict').getAttribute('data-verdict') === 'CRITICAL'",
        "the verdict follows",
        "document.querySelector('#verdict').outerHTML",
    );
    // The group's tile follows too.
    b.expect(
        PROMISE,
        "document.querySelector('#groups a.tile[data-group=\"stage\"]').getAttribute('data-status') === 'free'",
        "the group tile follows",
        "document.querySelector('#groups').outerHTML",
    );
    let _ = m.proc.stop();
}

const SCRIPT_REPLY: &str = "<script>window.pwned=1</script>\r\n";
const ONERROR_REPLY: &str = "<img src=x onerror=\"window.pwned=2\">\r\n";

/// The `.error` text of `node`'s row.
fn error_text(b: &Browser, node: &str) -> String {
    let v = b.js(&format!(
        "const tr = document.querySelector('tr[data-node=\"{node}\"]');
         return tr ? tr.querySelector('td.error').textContent : null;"
    ));
    v.as_str()
        .unwrap_or_else(|| panic!("no row for {node}: {v}"))
        .to_owned()
}

/// Nothing the page shows became markup: no element but the page's own.
const INJECTED: &str = "return [typeof window.pwned,
    document.querySelectorAll('main script, main img, header script, header img').length];";

/// (c) Replies with a `<script>` element and an `onerror=` attribute run nothing
/// and show as text: rendered by the server, and patched in live by the script.
#[test]
fn hostile_replies_show_as_text_and_run_nothing() {
    if !browser::available("web_browser::hostile_replies_show_as_text_and_run_nothing") {
        return;
    }
    let lab = Lab::new(&[]);
    let script = lab.fake(Some(SCRIPT_REPLY));
    let onerror = lab.fake(Some(ONERROR_REPLY));
    let script_live = lab.fake(Some("Synced"));
    let onerror_live = lab.fake(Some("Synced"));
    let cfg = config(
        &lab,
        &format!(
            "{}{}{}{}",
            script.node_toml("script", "group = \"<b>g</b>\""),
            onerror.node_toml("onerror", ""),
            script_live.node_toml("script-live", ""),
            onerror_live.node_toml("onerror-live", "")
        ),
    );
    let m = Monitor::start(&cfg);
    let doc = m.settled("the hostile nodes invalid, the others synced", |s| {
        s.len() == 4 && s["script"] == "invalid" && s["onerror"] == "invalid"
    });
    let api_errors: BTreeMap<&str, &str> = doc["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| {
            (
                n["name"].as_str().unwrap_or(""),
                n["error"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert!(api_errors["script"].contains("<script>"), "{api_errors:?}");
    assert!(api_errors["onerror"].contains("onerror="), "{api_errors:?}");

    // Server rendered.
    let b = open(&m, &Options::default(), "/");
    assert!(error_text(&b, "script").contains("<script>window.pwned=1</script>"));
    assert!(error_text(&b, "onerror").contains("<img src=x onerror="));
    assert_eq!(
        b.js("return document.querySelector('a.tile[data-group=\"<b>g</b>\"] .tile-name').textContent;"),
        "<b>g</b>",
        "a group name is text too"
    );

    // Patched in by the script from the event stream.
    script_live.set_reply(Some(SCRIPT_REPLY));
    onerror_live.set_reply(Some(ONERROR_REPLY));
    b.expect(
        SETTLE,
        "document.querySelector('tr[data-node=\"script-live\"]').getAttribute('data-status') === 'invalid'
         && document.querySelector('tr[data-node=\"onerror-live\"]').getAttribute('data-status') === 'invalid'",
        "the live nodes turn invalid on the page",
        "document.querySelector('#node-table').outerHTML",
    );
    assert!(error_text(&b, "script-live").contains("<script>window.pwned=1</script>"));
    assert!(error_text(&b, "onerror-live").contains("onerror="));
    // An image that fails to load errors at once; give it a moment anyway.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        b.js(INJECTED),
        serde_json::json!(["undefined", 0]),
        "fleet page"
    );

    // The node page shows the reply and the error as text too.
    b.goto(&m.url("/node/onerror"));
    std::thread::sleep(Duration::from_millis(500));
    let detail = b.js("return document.querySelector('table.detail').textContent;");
    assert!(
        detail.as_str().is_some_and(|t| t.contains("onerror=")),
        "{detail}"
    );
    assert_eq!(
        b.js(INJECTED),
        serde_json::json!(["undefined", 0]),
        "node page"
    );
    let _ = m.proc.stop();
}

/// (d) When the monitor dies, the banner shows within 5 s and `data-stream` says
/// `lost`; when it is back, the page reconnects by itself, hides the banner and
/// resyncs what changed meanwhile, without a reload.
#[test]
fn the_banner_shows_when_the_stream_is_lost_and_the_page_recovers() {
    if !browser::available(
        "web_browser::the_banner_shows_when_the_stream_is_lost_and_the_page_recovers",
    ) {
        return;
    }
    let lab = Lab::new(&[("steady", "synced", None)]);
    let node = lab.fake(Some("Synced"));
    let cfg = config(
        &lab,
        &format!(
            "{}{}",
            lab.node_toml("steady", ""),
            node.node_toml("changes", "")
        ),
    );
    let m = Monitor::start(&cfg);
    m.settled("both synced", |s| {
        s.len() == 2 && s.values().all(|v| v == "synced")
    });
    let b = open(&m, &Options::default(), "/");
    assert!(!b.displayed("#stream-lost"), "banner shown while connected");
    b.js("window.__marker = 42; return null;");

    let port = m.port;
    m.proc.signal(Signal::KILL);
    let start = Instant::now();
    let lost = b.wait_for(
        PROMISE,
        "document.body.getAttribute('data-stream') === 'lost'
         && !document.querySelector('#stream-lost').hidden",
    );
    let took = start.elapsed();
    assert!(
        lost,
        "no lost banner within {PROMISE:?}: data-stream={}",
        b.js("return document.body.getAttribute('data-stream');")
    );
    assert!(b.displayed("#stream-lost"), "banner not displayed");
    assert!(
        took <= PROMISE + Duration::from_millis(500),
        "took {took:?}"
    );
    let _ = m.proc.finish(Duration::from_secs(5));

    // Back, with a change the page missed while the monitor was down.
    node.set_reply(Some("Free\r\n"));
    let m = Monitor::on(&cfg, port);
    // The script retries after 1 s, 2 s, 4 s, 8 s: within 15 s of the loss.
    b.expect(
        SETTLE,
        "document.body.getAttribute('data-stream') === 'up'
         && document.querySelector('#stream-lost').hidden
         && document.querySelector('tr[data-node=\"changes\"]').getAttribute('data-status') === 'free'",
        "reconnected and resynced",
        "[document.body.getAttribute('data-stream'), document.querySelector('#node-table').outerHTML]",
    );
    assert!(!b.displayed("#stream-lost"), "banner still displayed");
    assert_eq!(b.js("return window.__marker;"), 42, "the page was reloaded");
    let _ = m.proc.stop();
}

/// (d, continued) A stream that goes quiet without closing (the monitor frozen,
/// a dead network) counts as lost after 5 s without a frame (the server pings
/// every second), not before; the page recovers when frames come again.
#[test]
fn a_silent_stream_counts_as_lost() {
    if !browser::available("web_browser::a_silent_stream_counts_as_lost") {
        return;
    }
    let lab = Lab::new(&[("steady", "synced", None)]);
    let m = Monitor::start(&lab.fleet("fleet.toml", DEFAULT_KEYS));
    m.settled("synced", |s| s.len() == 1);
    let b = open(&m, &Options::default(), "/");
    b.js("window.__marker = 42; return null;");

    m.proc.signal(Signal::STOP);
    let start = Instant::now();
    // Pings come every second: 2 s without one is not yet lost (3.5 s of silence
    // counts), 5 s after the stop is.
    std::thread::sleep(Duration::from_millis(2000));
    let early = b.js("return document.body.getAttribute('data-stream');");
    let lost = b.wait_for(
        Duration::from_secs(4),
        "document.body.getAttribute('data-stream') === 'lost'
         && !document.querySelector('#stream-lost').hidden",
    );
    let took = start.elapsed();
    m.proc.signal(Signal::CONT);
    assert_eq!(early, "up", "lost after 2 s of silence");
    assert!(
        lost && took <= Duration::from_millis(5000),
        "the banner was not up within 5 s of the monitor going silent (lost: {lost}, {took:?})"
    );
    assert!(b.displayed("#stream-lost"), "banner not displayed");

    b.expect(
        SETTLE,
        "document.body.getAttribute('data-stream') === 'up'
         && document.querySelector('#stream-lost').hidden",
        "reconnected once the monitor runs again",
        "document.body.getAttribute('data-stream')",
    );
    assert_eq!(b.js("return window.__marker;"), 42, "the page was reloaded");
    let _ = m.proc.stop();
}

/// (e) Without JavaScript the page is complete: every node's row and status, the
/// verdict, the tiles, and the refresh that keeps it current.
#[test]
fn the_page_is_complete_without_javascript() {
    if !browser::available("web_browser::the_page_is_complete_without_javascript") {
        return;
    }
    let lab = Lab::new(&[
        ("synced", "synced", Some("stage")),
        ("free", "free", Some("stage")),
        ("refused", "refused", None),
        ("garbage", "garbage", None),
    ]);
    let m = Monitor::start(&lab.fleet("fleet.toml", DEFAULT_KEYS));
    let doc = m.settled("a result for every node", |s| s.len() == 4);
    let api = statuses(&doc);
    let options = Options {
        javascript: false,
        ..Options::default()
    };
    let b = open(&m, &options, "/");
    // The page's script really did not run: it marks the body and shows the alarm.
    assert_eq!(
        b.js("return [document.body.hasAttribute('data-stream'), document.querySelector('#alarm').hidden];"),
        serde_json::json!([false, true]),
        "the page's script ran"
    );
    assert_eq!(row_map(&b), api, "rows against the API");
    assert_eq!(b.js(BAD_ROWS), Value::Array(Vec::new()), "malformed rows");
    assert_eq!(verdict(&b), doc["verdict"], "verdict");
    assert_eq!(verdict(&b), "CRITICAL");
    let headline = b.js("return document.querySelector('#verdict').textContent;");
    assert!(
        headline.as_str().is_some_and(|h| h.contains("CRITICAL")),
        "{headline}"
    );
    assert!(
        !b.displayed("#stream-lost"),
        "the lost banner shows without a stream"
    );
    // Scripting off, <noscript> in the head is markup: the refresh is real.
    assert_eq!(
        b.js("const m = document.querySelector('meta[http-equiv=\"refresh\"]'); return m && m.content;"),
        "10"
    );
    assert_eq!(
        b.js("return document.querySelector('#groups a.tile[data-group=\"stage\"]').getAttribute('data-status');"),
        "free"
    );
    // The node page and the wall too.
    b.goto(&m.url("/node/free"));
    assert_eq!(
        b.js("return document.querySelector('table.detail[data-node=\"free\"]').getAttribute('data-status');"),
        "free"
    );
    b.goto(&m.url("/wall"));
    assert_eq!(
        b.js("return Array.from(document.querySelectorAll('#groups.wall a.tile')).map(t => t.getAttribute('data-status')).sort();"),
        serde_json::json!(["free", "unreachable"]),
        "wall tiles: the group and the ungrouped nodes"
    );
    let _ = m.proc.stop();
}

/// (f) The alarm: armed with a node unhealthy it sounds (autoplay allowed, its
/// audio context runs and beeps); silenced, it stops.
#[test]
fn the_alarm_sounds_when_armed_and_silences() {
    if !browser::available("web_browser::the_alarm_sounds_when_armed_and_silences") {
        return;
    }
    let lab = Lab::new(&[("ok", "synced", None), ("bad", "free", None)]);
    let m = Monitor::start(&lab.fleet("fleet.toml", DEFAULT_KEYS));
    m.settled("both polled", |s| s.len() == 2);
    let options = Options {
        autoplay: true,
        ..Options::default()
    };
    let b = open(&m, &options, "/");
    assert!(
        b.displayed("#alarm"),
        "the alarm is shown once the script runs"
    );
    assert_eq!(
        b.js("return document.querySelector('#alarm').getAttribute('data-alarm');"),
        "off"
    );
    assert!(!b.displayed("#alarm-silence"), "silence shown while off");
    // Count the contexts and tones the page makes.
    b.js("window.__tones = 0; window.__contexts = [];
          const AC = window.AudioContext;
          window.AudioContext = function (...a) {
              const c = new AC(...a);
              const osc = c.createOscillator.bind(c);
              c.createOscillator = () => { window.__tones++; return osc(); };
              window.__contexts.push(c);
              return c;
          };
          return null;");

    b.click("#alarm-arm");
    b.expect(
        PROMISE,
        "document.querySelector('#alarm').getAttribute('data-alarm') === 'sounding'",
        "the alarm sounds",
        "document.querySelector('#alarm').outerHTML",
    );
    assert!(
        b.displayed("#alarm-silence"),
        "no silence button while sounding"
    );
    b.expect(
        PROMISE,
        "window.__contexts.length === 1 && window.__contexts[0].state === 'running' && window.__tones >= 2",
        "tones from a running audio context",
        "[window.__contexts.map(c => c.state), window.__tones]",
    );

    b.click("#alarm-silence");
    b.expect(
        PROMISE,
        "document.querySelector('#alarm').getAttribute('data-alarm') === 'silenced'",
        "the alarm is silenced",
        "document.querySelector('#alarm').outerHTML",
    );
    assert!(
        !b.displayed("#alarm-silence"),
        "silence shown once silenced"
    );
    let tones = b.js("return window.__tones;");
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(b.js("return window.__tones;"), tones, "tones after silence");
    let _ = m.proc.stop();
}

/// (g) `/wall` with 50 groups at 1920x1080: every tile, with its name and status,
/// inside the viewport, and nothing to scroll.
#[test]
fn the_wall_fits_fifty_groups_on_one_screen() {
    if !browser::available("web_browser::the_wall_fits_fifty_groups_on_one_screen") {
        return;
    }
    let names: Vec<(String, String)> = (1..=50)
        .map(|i| (format!("render-{i:02}"), format!("stage {i:02}")))
        .collect();
    let specs: Vec<(&str, &str, Option<&str>)> = names
        .iter()
        .enumerate()
        .map(|(i, (n, g))| {
            // Mostly closed ports (unreachable), some healthy.
            let b = if i % 5 == 0 { "synced" } else { "refused" };
            (n.as_str(), b, Some(g.as_str()))
        })
        .collect();
    let lab = Lab::new(&specs);
    let m = Monitor::start(&lab.fleet("fleet.toml", DEFAULT_KEYS));
    m.settled("a result for every node", |s| s.len() == 50);
    let b = open(&m, &Options::default(), "/wall");
    assert_eq!(
        b.js("return [innerWidth, innerHeight];"),
        serde_json::json!([1920, 1080])
    );
    let tiles = b.js("return Array.from(document.querySelectorAll('#groups.wall a.tile[data-group][data-status]'))
        .map(t => t.getAttribute('data-group')).sort();");
    let want: Vec<&str> = names.iter().map(|(_, g)| g.as_str()).collect();
    assert_eq!(tiles, serde_json::json!(want), "one tile per group");
    let outside = b.js(
        "const W = innerWidth, H = innerHeight;
         const inside = (r, o) => r.width > 0 && r.height > 0 && r.left >= o.left - 0.5
             && r.top >= o.top - 0.5 && r.right <= o.right + 0.5 && r.bottom <= o.bottom + 0.5;
         const screen = {left: 0, top: 0, right: W, bottom: H};
         return Array.from(document.querySelectorAll('#groups.wall a.tile')).filter(t => {
             const r = t.getBoundingClientRect();
             if (!inside(r, screen)) return true;
             return ['.tile-name', '.tile-status'].some(s => !inside(t.querySelector(s).getBoundingClientRect(), r));
         }).map(t => [t.getAttribute('data-group'), JSON.stringify(t.getBoundingClientRect())]);",
    );
    assert_eq!(
        outside,
        Value::Array(Vec::new()),
        "tiles not within the screen"
    );
    let scroll = b.js(
        "const d = document.documentElement;
         return [d.scrollWidth, d.scrollHeight, document.body.scrollWidth, document.body.scrollHeight];",
    );
    let fits = scroll.as_array().is_some_and(|a| {
        a.iter().enumerate().all(|(i, v)| {
            v.as_u64()
                .is_some_and(|v| v <= if i % 2 == 0 { 1920 } else { 1080 })
        })
    });
    assert!(
        fits,
        "the wall scrolls: [scrollWidth, scrollHeight] of html and body = {scroll}"
    );
    let _ = m.proc.stop();
}

const ACK_TOKEN: &str = "browser-ack-token-3c9f0e12";

/// The `.ack` cell of `node`'s row, as text.
const ACK_CELL: &str = "(n => { const tr = document.querySelector(`tr[data-node=\"${n}\"]`);
    return tr ? tr.querySelector('td.ack').textContent : null; })";

/// (h) Acknowledging from the page: opened once with `?token=`, the unhealthy
/// node's acknowledge button opens the form; sent, the row shows who and why
/// (as text), nothing is left alarming and the alarm stops, all from the event
/// stream without a reload; unack brings the button and the alarm back. A node
/// in maintenance shows its window and no button. A page opened without the
/// token says how to sign in instead.
#[test]
fn a_node_is_acknowledged_from_the_page_and_the_alarm_stops() {
    if !browser::available("web_browser::a_node_is_acknowledged_from_the_page_and_the_alarm_stops")
    {
        return;
    }
    let lab = Lab::new(&[
        ("ok", "synced", None),
        ("bad", "free", None),
        ("quiet", "free", None),
    ]);
    lab.write("token.txt", &format!("{ACK_TOKEN}\n"));
    let cfg = config(
        &lab,
        &format!(
            "[http]\ntoken_file = \"token.txt\"\n{}\
             [[maintenance]]\nname = \"rehearsal\"\nnodes = [\"quiet\"]\n\
             start = \"2020-01-01T00:00:00Z\"\nend = \"2099-01-01T00:00:00Z\"\n",
            lab.nodes_toml(&["ok", "bad", "quiet"])
        ),
    );
    let m = Monitor::start(&cfg);
    m.settled("bad free, quiet in maintenance", |s| {
        s.len() == 3 && s["bad"] == "free" && s["quiet"] == "free"
    });
    let options = Options {
        autoplay: true,
        ..Options::default()
    };
    let b = Browser::start(&options);
    b.goto(&m.url(&format!("/?token={ACK_TOKEN}")));
    b.expect(
        SETTLE,
        "document.body.getAttribute('data-stream') === 'up'",
        "the page's event stream is up",
        "document.body.getAttribute('data-stream')",
    );
    assert_eq!(
        b.js(
            "return [location.pathname + location.search, document.body.getAttribute('data-acks')];"
        ),
        serde_json::json!(["/", "on"]),
        "signed in, the token out of the address"
    );
    assert_eq!(
        b.js("return document.querySelector('#verdict').getAttribute('data-alarming');"),
        "1"
    );
    // The node in maintenance: its window, no button.
    assert_eq!(
        b.js(
            "const tr = document.querySelector('tr[data-node=\"quiet\"]');
              return [tr.getAttribute('data-maintenance'), tr.querySelector('td.ack').textContent,
                      tr.querySelectorAll('button').length];"
        ),
        serde_json::json!(["rehearsal", "⚒ maintenance: rehearsal", 0])
    );
    b.js("window.__marker = 42; return null;");
    b.click("#alarm-arm");
    b.expect(
        PROMISE,
        "document.querySelector('#alarm').getAttribute('data-alarm') === 'sounding'",
        "the alarm sounds for the unacknowledged node",
        "document.querySelector('#alarm').outerHTML",
    );

    assert!(
        b.displayed("button[data-ack=\"bad\"]"),
        "no acknowledge button"
    );
    b.click("button[data-ack=\"bad\"]");
    b.expect(
        PROMISE,
        "document.querySelector('#ack-dialog').open
         && document.querySelector('#ack-target').textContent === 'bad'",
        "the form opens for the node",
        "document.querySelector('#ack-dialog').outerHTML",
    );
    b.js("document.querySelector('#ack-reason').value = '<img src=x onerror=\"window.pwned=3\"> swapping the card';
          document.querySelector('#ack-for').value = '2h';
          document.querySelector('#ack-user').value = 'alice';
          return null;");
    b.click("#ack-submit");
    b.expect(
        PROMISE,
        "document.querySelector('tr[data-node=\"bad\"]').getAttribute('data-acked') === 'bad'
         && document.querySelector('#verdict').getAttribute('data-alarming') === '0'",
        "the row shows the ack and nothing is alarming",
        "[document.querySelector('tr[data-node=\"bad\"]').outerHTML, document.querySelector('#verdict').outerHTML, document.querySelector('#ack-result').textContent]",
    );
    let cell = b.js(&format!("return {ACK_CELL}('bad');"));
    let cell = cell.as_str().unwrap_or_default();
    assert!(
        cell.starts_with("✓ acknowledged by alice (api): <img src=x onerror=\"window.pwned=3\"> swapping the card (at "),
        "{cell}"
    );
    assert!(
        !b.js("return document.querySelector('#ack-dialog').open;")
            .as_bool()
            .unwrap_or(true)
    );
    let said = b.js("const r = document.querySelector('#ack-result'); return [r.hidden, r.getAttribute('data-result'), r.textContent];");
    assert_eq!(
        (&said[0], &said[1]),
        (&Value::Bool(false), &Value::from("ok")),
        "{said}"
    );
    assert!(
        said[2]
            .as_str()
            .is_some_and(|t| t.contains("bad acknowledged by alice (api)")),
        "{said}"
    );
    b.expect(
        PROMISE,
        "document.querySelector('#alarm').getAttribute('data-alarm') === 'armed'",
        "the alarm stops once everything is acknowledged",
        "document.querySelector('#alarm').outerHTML",
    );
    assert_eq!(
        b.js(INJECTED),
        serde_json::json!(["undefined", 0]),
        "the reason ran"
    );
    assert_eq!(b.js("return window.__marker;"), 42, "the page was reloaded");
    let api = m.status().expect("status");
    assert_eq!(api["alarming"], 0, "{api}");
    assert_eq!(api["acks"][0]["by"], "alice (api)", "{api}");

    // Unack: the button, the ack gone, the alarm back.
    b.click("tr[data-node=\"bad\"] button[data-unack=\"bad\"]");
    b.expect(
        PROMISE,
        "!document.querySelector('tr[data-node=\"bad\"]').hasAttribute('data-acked')
         && document.querySelector('tr[data-node=\"bad\"] button[data-ack=\"bad\"]') !== null
         && document.querySelector('#verdict').getAttribute('data-alarming') === '1'
         && document.querySelector('#alarm').getAttribute('data-alarm') === 'sounding'",
        "unacknowledged: the button and the alarm are back",
        "[document.querySelector('tr[data-node=\"bad\"]').outerHTML, document.querySelector('#alarm').outerHTML, document.querySelector('#ack-result').textContent]",
    );
    assert!(
        b.js("return document.querySelector('#ack-result').textContent;")
            .as_str()
            .is_some_and(|t| t.contains("no longer acknowledged: removed by alice (api)")),
        "the answer to the unack"
    );
    drop(b);

    // Without the token the buttons are there, and say how to sign in.
    let b = open(&m, &Options::default(), "/");
    assert_eq!(
        b.js("return document.body.getAttribute('data-acks');"),
        "signed-out"
    );
    b.click("button[data-ack=\"bad\"]");
    b.expect(
        PROMISE,
        "!document.querySelector('#ack-result').hidden
         && document.querySelector('#ack-result').textContent.includes('?token=')",
        "the page says how to sign in",
        "document.querySelector('#ack-result').outerHTML",
    );
    assert!(
        !b.js("return document.querySelector('#ack-dialog').open;")
            .as_bool()
            .unwrap_or(true)
    );
    assert_eq!(m.status().expect("status")["acks"], serde_json::json!([]));
    let _ = m.proc.stop();
}

/// (i) Maintenance changes no status, so no transition tells the page; it still
/// learns within seconds that a window started (the feed compares maintenance
/// and acks while pages listen): the row gets its window, and nothing is left
/// alarming, without a reload.
#[test]
fn a_window_that_starts_shows_on_the_open_page() {
    if !browser::available("web_browser::a_window_that_starts_shows_on_the_open_page") {
        return;
    }
    let lab = Lab::new(&[("later", "free", None)]);
    let lead = Duration::from_secs(8);
    let start = jiff::Timestamp::now() + lead;
    let window = format!(
        "[[maintenance]]\nname = \"soon\"\nnodes = [\"later\"]\nstart = \"{}\"\nend = \"{}\"\n",
        start.round(jiff::Unit::Second).expect("round"),
        (start + Duration::from_secs(3600))
            .round(jiff::Unit::Second)
            .expect("round"),
    );
    let cfg = config(&lab, &format!("{}{window}", lab.nodes_toml(&["later"])));
    let m = Monitor::start(&cfg);
    m.settled("later free", |s| {
        s.get("later").is_some_and(|v| v == "free")
    });
    let b = open(&m, &Options::default(), "/");
    b.js("window.__marker = 42; return null;");
    let before = b.js("const tr = document.querySelector('tr[data-node=\"later\"]');
        return [tr.hasAttribute('data-maintenance'), document.querySelector('#verdict').getAttribute('data-alarming')];");
    b.expect(
        lead + PROMISE,
        "document.querySelector('tr[data-node=\"later\"]').getAttribute('data-maintenance') === 'soon'
         && document.querySelector('tr[data-node=\"later\"] td.ack').textContent === '⚒ maintenance: soon'
         && document.querySelector('#verdict').getAttribute('data-alarming') === '0'",
        "the window shows on the open page",
        "[document.querySelector('tr[data-node=\"later\"]').outerHTML, document.querySelector('#verdict').outerHTML]",
    );
    assert_eq!(b.js("return window.__marker;"), 42, "the page was reloaded");
    if before != serde_json::json!([false, "1"]) {
        // The monitor took longer to start than the lead: the page was
        // rendered with the window already in force.
        common::skip::report_skip(
            "web_browser::a_window_that_starts_shows_on_the_open_page (live part)",
            &format!("the window had started before the page opened: {before}"),
        );
    }
    let _ = m.proc.stop();
}

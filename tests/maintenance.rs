//! Maintenance windows with the real binary on loopback: a reload that adds a
//! window over an unhealthy node quiets it (its alarm resolves as `maintenance`,
//! the verdict drops, the status JSON names the window), and a reload that
//! removes the window makes the still-unhealthy node alarm again, as a new
//! incident. Schedules themselves (weekly, DST) are unit-tested in
//! `state::maintenance`; `--once` with windows is in `ack.rs`.

#![cfg(unix)]

mod common;

use std::time::Duration;

use serde_json::Value;

use common::bin::{Proc, watch_with_history};
use common::lab::Lab;
use common::net::{free_port, http_get};
use common::receiver::{Answer, Receiver, Request};
use common::wait_until;

const LIMIT: Duration = Duration::from_secs(20);
const FAST: &str = "[defaults]\ninterval = \"300ms\"\nmax_interval = \"500ms\"\ntimeout = \"1s\"\nbackoff = \"1s\"\n";

/// A one-off window from an hour ago to an hour ahead, over `nodes`.
fn window_now(name: &str, nodes: &str) -> String {
    let now = jiff::Timestamp::now();
    let hour = jiff::SignedDuration::from_hours(1);
    format!(
        "\n[[maintenance]]\nname = \"{name}\"\nnodes = [{nodes}]\nstart = \"{}\"\nend = \"{}\"\n",
        now - hour,
        now + hour
    )
}

fn status(port: u16) -> Option<Value> {
    let r = http_get(port, "/api/v1/status")?;
    serde_json::from_str(r.split("\r\n\r\n").nth(1)?).ok()
}

/// Waits until `check` holds for the status document; fails with the last one.
fn wait_status(port: u16, child: &Proc, what: &str, check: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    let ok = wait_until(LIMIT, || {
        last = status(port).unwrap_or_default();
        check(&last)
    });
    assert!(
        ok,
        "not within {LIMIT:?}: {what}\n{last:#}\n{}",
        child.stderr()
    );
    last
}

fn node<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["name"] == name))
        .unwrap_or(&Value::Null)
}

/// Webhook bodies so far, as JSON.
fn bodies(requests: &[Request]) -> Vec<Value> {
    requests.iter().map(Request::json).collect()
}

#[test]
fn a_window_added_and_removed_by_reload() {
    let lab = Lab::new(&[]);
    let rx = Receiver::start(lab.rt.handle(), Answer::Status(200));
    let bad = lab.fake(Some("Free"));
    let good = lab.fake(Some("Synced"));
    let port = free_port();
    let base = format!(
        "{FAST}[http]\nbind = \"127.0.0.1:{port}\"\n{}{}\
         [[notify]]\nname = \"hook\"\ntype = \"webhook\"\nurl = \"{}\"\ngroup_wait = \"1s\"\n",
        bad.node_toml("wall-b-03", ""),
        good.node_toml("wall-b-04", ""),
        rx.url("/hook")
    );
    let config = lab.write("fleet.toml", &base);
    let child = watch_with_history(&config, &lab.path("history.db"));
    let doc = wait_status(port, &child, "wall-b-03 free", |d| {
        node(d, "wall-b-03")["status"] == "free"
    });
    assert_eq!(
        node(&doc, "wall-b-03")["maintenance"],
        Value::Null,
        "{doc:#}"
    );
    rx.wait_for(LIMIT, "the alarm", |r| !r.is_empty());

    // A reload adds a window over the bad node: it is quiet and named.
    std::fs::write(
        &config,
        format!("{base}{}", window_now("rehearsal", "\"wall-b-03\"")),
    )
    .expect("rewrite the config");
    child.signal(rustix::process::Signal::HUP);
    let doc = wait_status(port, &child, "wall-b-03 in maintenance", |d| {
        node(d, "wall-b-03")["maintenance"] == "rehearsal"
    });
    assert_eq!(
        node(&doc, "wall-b-04")["maintenance"],
        Value::Null,
        "{doc:#}"
    );
    assert_eq!(
        doc["verdict"], "OK",
        "a node in maintenance does not count: {doc:#}"
    );
    // The window itself is listed, in force, as soon as the reload took effect.
    assert_eq!(doc["maintenance"][0]["name"], "rehearsal", "{doc:#}");
    assert_eq!(doc["maintenance"][0]["active"], true, "{doc:#}");
    // Its transitions are still recorded and shown: the status stays `free`.
    assert_eq!(node(&doc, "wall-b-03")["status"], "free", "{doc:#}");
    let got = rx.wait_for(LIMIT, "the alarm resolved by maintenance", |r| r.len() >= 2);
    let resolved = &bodies(&got)[1];
    assert_eq!(resolved["status"], "resolved", "{resolved:#}");
    assert_eq!(
        resolved["alerts"][0]["labels"]["node"], "wall-b-03",
        "{resolved:#}"
    );

    // Quiet while it lasts: nothing more is sent.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(rx.requests().len(), 2, "sent during maintenance");

    // A reload removes the window: still free, so a new incident.
    std::fs::write(&config, &base).expect("rewrite the config");
    child.signal(rustix::process::Signal::HUP);
    let doc = wait_status(port, &child, "wall-b-03 out of maintenance", |d| {
        node(d, "wall-b-03")["maintenance"] == Value::Null
    });
    assert_ne!(doc["verdict"], "OK", "{doc:#}");
    assert_eq!(doc["maintenance"], serde_json::json!([]), "{doc:#}");
    let got = rx.wait_for(LIMIT, "a new alarm after the window", |r| r.len() >= 3);
    let again = &bodies(&got)[2];
    assert_eq!(again["status"], "firing", "{again:#}");
    assert_eq!(
        again["alerts"][0]["labels"]["node"], "wall-b-03",
        "{again:#}"
    );
    assert_eq!(again["alerts"][0]["labels"]["status"], "free", "{again:#}");
    let _ = child.stop();
}

/// A window that starts and ends while results keep the monitor busy (300
/// nodes polled every 100 ms): both boundaries take effect. A timer worked out
/// again from "now" at every wake-up would step past each boundary.
#[test]
fn a_window_starts_and_ends_on_a_busy_monitor() {
    let mut nodes: Vec<(String, &str)> = (0..300)
        .map(|i| (format!("busy-{i:03}"), "synced"))
        .collect();
    nodes.push(("wall-b-03".to_owned(), "free"));
    let specs: Vec<(&str, &str, Option<&str>)> =
        nodes.iter().map(|(n, b)| (n.as_str(), *b, None)).collect();
    let lab = Lab::new(&specs);
    let port = free_port();
    let now = jiff::Timestamp::now();
    let start = now + jiff::SignedDuration::from_secs(6);
    let end = now + jiff::SignedDuration::from_secs(12);
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[http]\nbind = \"127.0.0.1:{port}\"\n{}\
             [[maintenance]]\nname = \"soon\"\nnodes = [\"wall-b-03\"]\nstart = \"{start}\"\nend = \"{end}\"\n",
            lab.sim
                .fleet_toml("interval = \"100ms\"\nmax_interval = \"100ms\"\ntimeout = \"1s\"")
        ),
    );
    let child = watch_with_history(&config, &lab.path("history.db"));
    wait_status(port, &child, "wall-b-03 free, before the window", |d| {
        node(d, "wall-b-03")["status"] == "free"
            && node(d, "wall-b-03")["maintenance"] == Value::Null
    });
    wait_status(port, &child, "the window started", |d| {
        node(d, "wall-b-03")["maintenance"] == "soon"
    });
    wait_status(port, &child, "the window ended", |d| {
        node(d, "wall-b-03")["maintenance"] == Value::Null && d["verdict"] != "OK"
    });
    let _ = child.stop();
}

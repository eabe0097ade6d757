//! Notifications with the real binary on loopback: the webhook (signed, in the
//! Alertmanager v4 format) against a local receiver that is down for the first
//! 30 s while the monitor restarts, Slack and ntfy payloads, email through a real
//! SMTP server (aiosmtpd), a storm of 200 nodes in one message per channel,
//! `notify test`, bad channel settings at start, receivers that hang or answer
//! garbage, and what `/metrics` and `history` say about deliveries. Real
//! Alertmanager is in `notify_alertmanager.rs`.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;

use common::bin::{Proc, assert_code, bin, json_events, run, transitions_of};
use common::lab::Lab;
use common::net::{FakeNode, free_port, http_get};
use common::receiver::{Answer, Receiver, Request, Reserved};
use common::{skip, wait_until};

/// Generous: these wait for a few polls and a group_wait on a busy machine.
const LIMIT: Duration = Duration::from_secs(15);
const FAST: &str = "[defaults]\ninterval = \"300ms\"\nmax_interval = \"500ms\"\ntimeout = \"1s\"\nbackoff = \"1s\"\n";
const SECRET_VAR: &str = "SYNCGUARD_TEST_HOOK_SECRET";
const SECRET: &str = "s3cret, shared with the receiver";
const TOKEN_VAR: &str = "SYNCGUARD_TEST_TOKEN";
const TOKEN: &str = "tok-123.abc";
/// Alertmanager's "not ended" in its webhook.
const NO_END: &str = "0001-01-01T00:00:00Z";

/// A `[[notify]]` table with a 1 s window; `target` is its `url = …` line (or
/// the SMTP keys), `extra` more keys.
fn channel(name: &str, kind: &str, target: &str, extra: &str) -> String {
    format!(
        "\n[[notify]]\nname = \"{name}\"\ntype = \"{kind}\"\n{target}\ngroup_wait = \"1s\"\n{extra}\n"
    )
}

/// The webhook channel `hook` to `target`, signed with the test secret (what
/// `checked_webhook` verifies), with `extra` keys.
fn signed_hook(target: &str, extra: &str) -> String {
    channel(
        "hook",
        "webhook",
        &url(target),
        &format!("secret_env = \"{SECRET_VAR}\"\n{extra}"),
    )
}

/// `url = "<url>"`.
fn url(u: &str) -> String {
    format!("url = \"{u}\"")
}

/// Nodes `a` and `b` of sync group `wall`, answering `replies`, and a fleet file
/// for them with the `[[notify]]` tables `channels`.
fn wall_of_two(lab: &Lab, replies: (&str, &str), channels: &str) -> (FakeNode, FakeNode, PathBuf) {
    let a = lab.fake(Some(replies.0));
    let b = lab.fake(Some(replies.1));
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}{}{}{channels}",
            a.node_toml("a", "group = \"wall\""),
            b.node_toml("b", "group = \"wall\"")
        ),
    );
    (a, b, config)
}

/// `watch --events json` on `config`, its history in `db`, with `extra` flags and
/// the secrets the channels read from the environment.
fn monitor(config: &Path, db: &Path, extra: &[&str]) -> Proc {
    Proc::spawn(
        bin()
            .env(SECRET_VAR, SECRET)
            .env(TOKEN_VAR, TOKEN)
            .arg("--config")
            .arg(config)
            .arg("--history")
            .arg(db)
            .args(extra)
            .args(["watch", "--events", "json"]),
    )
}

/// Waits until the last shown status of `node` is `status`.
fn wait_shown(p: &Proc, node: &str, status: &str) {
    p.wait_for(LIMIT, &format!("{node} shown {status}"), |out, _| {
        transitions_of(&json_events(out), node)
            .last()
            .is_some_and(|(_, s)| s == status)
    });
}

/// `history --format json` on `db`: its `notifications`; `None` while the file
/// cannot be read yet.
fn try_notifications(db: &Path) -> Option<Vec<Value>> {
    let r = run(bin()
        .arg("history")
        .arg("--db")
        .arg(db)
        .args(["--since", "1h", "--format", "json"]));
    if r.code != 0 {
        return None;
    }
    let doc: Value = serde_json::from_str(&r.stdout).ok()?;
    doc["notifications"].as_array().cloned()
}

fn notifications(db: &Path) -> Vec<Value> {
    try_notifications(db).unwrap_or_else(|| panic!("history --format json on {}", db.display()))
}

/// Waits until the outbox in `db` holds `n` notifications; returns them.
fn wait_stored(db: &Path, n: usize) -> Vec<Value> {
    let mut seen = Vec::new();
    let held = wait_until(LIMIT, || {
        seen = try_notifications(db).unwrap_or_default();
        seen.len() >= n
    });
    assert!(
        held,
        "{n} notifications never stored; the outbox has {seen:#?}"
    );
    seen
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no string {key:?} in {v}"))
}

/// `sha256=<hex>` of `body` with `key`, as the receiver computes it.
fn signature(key: &str, body: &[u8]) -> String {
    let mut mac =
        <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(key.as_bytes()).expect("any key length");
    mac.update(body);
    let hex: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("sha256={hex}")
}

/// A webhook request as the receiver must check it: signed over the exact
/// bytes, keyed by the notification's id; its JSON body.
fn checked_webhook(r: &Request) -> Value {
    assert_eq!(r.method, "POST");
    assert_eq!(
        r.header("x-syncguard-signature"),
        Some(signature(SECRET, &r.body).as_str()),
        "signature of {}",
        r.text()
    );
    let body = r.json();
    assert_eq!(
        r.header("idempotency-key"),
        Some(str_of(&body, "id")),
        "Idempotency-Key against the body's id"
    );
    assert!(
        r.header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        r.headers
    );
    body
}

/// The body of the metrics page, once it answers.
fn metrics(port: u16) -> String {
    let mut body = String::new();
    let ok = wait_until(LIMIT, || {
        let Some(r) = http_get(port, "/metrics") else {
            return false;
        };
        let ok = r.starts_with("HTTP/1.1 200");
        body = r
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default();
        ok
    });
    assert!(ok, "/metrics does not answer: {body}");
    body
}

/// The value of one series (`name{labels}`) in an exposition.
fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines().find_map(|l| {
        l.strip_prefix(series)?
            .strip_prefix(' ')?
            .split_whitespace()
            .next()?
            .parse()
            .ok()
    })
}

/// Waits until `series` is at least `min` on the metrics page; returns the page.
fn wait_sample(port: u16, series: &str, min: f64) -> String {
    let mut text = String::new();
    let held = wait_until(LIMIT, || {
        text = metrics(port);
        sample(&text, series).is_some_and(|v| v >= min)
    });
    assert!(held, "{series} never reached {min}:\n{text}");
    text
}

#[test]
fn webhook_is_signed_v4_json_counted_in_metrics_and_recorded_as_delivered() {
    let lab = Lab::new(&[]);
    let rx = Receiver::start(lab.rt.handle(), Answer::Status(200));
    let (_a, b, config) = wall_of_two(
        &lab,
        ("Synced", "Free"),
        &signed_hook(&rx.url("/hook"), &format!("token_env = \"{TOKEN_VAR}\"")),
    );
    let db = lab.path("history.db");
    let port = free_port();
    let child = monitor(&config, &db, &["--http", &format!("127.0.0.1:{port}")]);

    // Unhealthy at its first result: one firing notification.
    let got = rx.wait_for(LIMIT, "the firing webhook", |r| !r.is_empty());
    let firing = &got[0];
    assert_eq!(firing.path, "/hook");
    assert_eq!(
        firing.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    let body = checked_webhook(firing);
    assert_eq!(body["version"], "4", "{body:#}");
    assert_eq!(body["status"], "firing", "{body:#}");
    assert_eq!(body["title"], "b unhealthy: free", "{body:#}");
    assert!(
        body["groupKey"].as_str().is_some_and(|k| !k.is_empty()),
        "{body:#}"
    );
    let alerts = body["alerts"].as_array().expect("alerts");
    assert_eq!(alerts.len(), 1, "only b: {body:#}");
    let alert = &alerts[0];
    assert_eq!(alert["status"], "firing");
    assert_eq!(
        alert["labels"],
        serde_json::json!({
            "alertname": "SyncGuardNodeUnhealthy",
            "group": "wall",
            "node": "b",
            "severity": "critical",
            "status": "free",
        }),
        "no instance label, so two monitors give one alert"
    );
    assert_eq!(alert["annotations"]["summary"], "b is free", "{alert:#}");
    assert!(
        alert["startsAt"].as_str().is_some_and(|t| t.ends_with('Z')),
        "{alert:#}"
    );
    assert_eq!(alert["endsAt"], NO_END, "{alert:#}");
    let fingerprint = str_of(alert, "fingerprint").to_owned();
    assert!(
        fingerprint.len() == 16 && fingerprint.chars().all(|c| c.is_ascii_hexdigit()),
        "{fingerprint}"
    );

    // /metrics: the three families, with the channel label.
    let text = wait_sample(
        port,
        "syncguard_notifications_total{channel=\"hook\",result=\"delivered\"}",
        1.0,
    );
    for (series, want) in [
        (
            "syncguard_notifications_total{channel=\"hook\",result=\"delivered\"}",
            1.0,
        ),
        (
            "syncguard_notifications_total{channel=\"hook\",result=\"failed\"}",
            0.0,
        ),
        (
            "syncguard_notifications_total{channel=\"hook\",result=\"given_up\"}",
            0.0,
        ),
        ("syncguard_notify_queue_depth{channel=\"hook\"}", 0.0),
        (
            "syncguard_notify_oldest_pending_seconds{channel=\"hook\"}",
            0.0,
        ),
    ] {
        assert_eq!(sample(&text, series), Some(want), "{series} in:\n{text}");
    }

    // Recovery: the same alert, resolved.
    b.set_reply(Some("Synced"));
    let got = rx.wait_for(LIMIT, "the resolved webhook", |r| r.len() >= 2);
    let body = checked_webhook(&got[1]);
    assert_eq!(body["status"], "resolved", "{body:#}");
    assert_eq!(body["title"], "b recovered", "{body:#}");
    let alert = &body["alerts"][0];
    assert_eq!(alert["status"], "resolved", "{body:#}");
    assert_eq!(alert["labels"]["node"], "b");
    assert_eq!(
        alert["labels"]["status"], "free",
        "the status it fired with: the same alert"
    );
    assert_eq!(alert["fingerprint"], fingerprint.as_str(), "same alert");
    assert_eq!(
        alert["annotations"]["summary"], "b is synced again",
        "{alert:#}"
    );
    assert!(
        alert["endsAt"]
            .as_str()
            .is_some_and(|t| t != NO_END && t.ends_with('Z')),
        "{alert:#}"
    );
    wait_sample(
        port,
        "syncguard_notifications_total{channel=\"hook\",result=\"delivered\"}",
        2.0,
    );
    let (stdout, stderr) = child.stop();
    assert_eq!(
        rx.requests().len(),
        2,
        "{}",
        common::receiver::describe(&rx.requests())
    );

    // The outbox, as `history` shows it: both delivered, first try.
    let stored = notifications(&db);
    assert_eq!(stored.len(), 2, "{stored:#?}\n{stdout}\n{stderr}");
    let sent: BTreeSet<String> = got
        .iter()
        .map(|r| str_of(&r.json(), "id").to_owned())
        .collect();
    let kept: BTreeSet<String> = stored.iter().map(|n| str_of(n, "id").to_owned()).collect();
    assert_eq!(sent, kept, "the ids sent are the ids stored");
    let mut kinds = Vec::new();
    for n in &stored {
        assert_eq!(n["channel"], "hook", "{n:#}");
        assert_eq!(n["state"], "delivered", "{n:#}");
        assert_eq!(n["attempts"], 1, "{n:#}");
        assert!(n["done"].as_str().is_some(), "{n:#}");
        assert!(n["created"].as_str().is_some(), "{n:#}");
        assert!(n["last_error"].is_null(), "{n:#}");
        assert_eq!(n["subjects"], serde_json::json!(["b"]), "{n:#}");
        kinds.push(str_of(n, "kind").to_owned());
    }
    kinds.sort();
    assert_eq!(kinds, ["firing", "resolved"], "{stored:#?}");
}

/// The receiver listens only 30 s after the monitor starts. Meanwhile b goes bad
/// and recovers, a goes bad, the monitor is stopped (SIGTERM) and started again
/// on the same history file, and a recovers. Every notification then arrives
/// once, in order, signed, with the id it was stored under.
#[test]
fn a_receiver_down_for_30s_and_a_restart_lose_nothing_and_repeat_nothing() {
    let lab = Lab::new(&[]);
    let port = Reserved::new();
    let (a, b, config) = wall_of_two(
        &lab,
        ("Synced", "Synced"),
        &signed_hook(&port.url("/hook"), ""),
    );
    let db = lab.path("history.db");
    let started = Instant::now();
    let first = monitor(&config, &db, &[]);
    wait_shown(&first, "a", "synced");
    wait_shown(&first, "b", "synced");
    b.set_reply(Some("Free"));
    wait_shown(&first, "b", "free");
    wait_stored(&db, 1);
    b.set_reply(Some("Synced"));
    wait_shown(&first, "b", "synced");
    wait_stored(&db, 2);
    a.set_reply(Some("Free"));
    wait_shown(&first, "a", "free");
    // Its window may still be open: stopping stores it rather than losing it.
    let (out1, err1) = first.stop();
    let stored = notifications(&db);
    assert_eq!(stored.len(), 3, "{stored:#?}\n{out1}\n{err1}");
    assert!(
        stored.iter().all(|n| n["state"] == "pending"),
        "nothing can be delivered yet: {stored:#?}"
    );

    let second = monitor(&config, &db, &[]);
    a.set_reply(Some("Synced"));
    wait_shown(&second, "a", "synced");
    let stored = wait_stored(&db, 4);
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "the machine is too slow for this test: the outage ended before the last change ({:?})",
        started.elapsed()
    );
    assert!(
        stored.iter().all(|n| n["state"] == "pending"),
        "{stored:#?}"
    );

    // The receiver comes up 30 s after the first start.
    let up_at = started + Duration::from_secs(30);
    wait_until(Duration::from_secs(35), || Instant::now() >= up_at);
    let rx = port.listen(lab.rt.handle(), Answer::Status(200));
    // Backoff doubles to 32 s by then; the next try may be that far off.
    rx.wait_for(Duration::from_secs(100), "all 4 notifications", |r| {
        r.iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter_map(|b| b["id"].as_str().map(str::to_owned))
            .collect::<BTreeSet<_>>()
            .len()
            >= 4
    });
    let mut stored = Vec::new();
    let all_delivered = wait_until(LIMIT, || {
        stored = notifications(&db);
        stored.iter().all(|n| n["state"] == "delivered")
    });
    let (out2, err2) = second.stop();
    assert!(all_delivered, "{stored:#?}\n{out2}\n{err2}");

    let got = rx.requests();
    let listing = common::receiver::describe(&got);
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut titles = Vec::new();
    for r in &got {
        assert_eq!(r.path, "/hook");
        let body = checked_webhook(r);
        *seen.entry(str_of(&body, "id").to_owned()).or_default() += 1;
        titles.push(str_of(&body, "title").to_owned());
    }
    assert!(
        seen.values().all(|&n| n == 1),
        "a notification arrived twice:\n{listing}"
    );
    assert_eq!(got.len(), 4, "{listing}");
    assert_eq!(
        titles,
        [
            "b unhealthy: free",
            "b recovered",
            "a unhealthy: free",
            "a recovered"
        ],
        "in the order they were made\n{listing}"
    );
    // The outbox: the same ids, in the same order, all delivered; the first
    // ones after failed tries.
    let mut stored = stored;
    stored.sort_by(|x, y| str_of(x, "created").cmp(str_of(y, "created")));
    let stored_ids: Vec<&str> = stored.iter().map(|n| str_of(n, "id")).collect();
    let sent_ids: Vec<String> = got
        .iter()
        .map(|r| str_of(&r.json(), "id").to_owned())
        .collect();
    assert_eq!(stored_ids, sent_ids, "{stored:#?}");
    assert!(
        stored[0]["attempts"].as_u64().is_some_and(|n| n > 1),
        "{:#}",
        stored[0]
    );
}

#[test]
fn slack_and_ntfy_payloads_escape_and_carry_their_headers() {
    let lab = Lab::new(&[]);
    let odd = lab.fake(Some("Free"));
    let fine = lab.fake(Some("Synced"));
    let rx = Receiver::start(lab.rt.handle(), Answer::Status(200));
    let name = "wall <7> & co";
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}{}{}{}{}",
            odd.node_toml(name, "group = \"wall\""),
            fine.node_toml("fine", "group = \"wall\""),
            channel("chat", "slack", &url(&rx.url("/slack")), ""),
            channel(
                "phone",
                "ntfy",
                &url(&rx.url("/ntfy/syncguard")),
                &format!("priority = 5\ntoken_env = \"{TOKEN_VAR}\""),
            )
        ),
    );
    let child = monitor(&config, &lab.path("history.db"), &[]);
    let both = |r: &[Request]| {
        r.iter().filter(|r| r.path == "/slack").count() >= 1
            && r.iter().filter(|r| r.path == "/ntfy/syncguard").count() >= 1
    };
    rx.wait_for(LIMIT, "slack and ntfy", both);

    let slack = &rx.requests_to("/slack")[0];
    assert_eq!(slack.method, "POST");
    assert!(
        slack
            .header("content-type")
            .is_some_and(|c| c.starts_with("application/json")),
        "{:?}",
        slack.headers
    );
    let text = str_of(&slack.json(), "text").to_owned();
    assert_eq!(
        text.lines().next(),
        Some("wall &lt;7&gt; &amp; co unhealthy: free"),
        "{text}"
    );
    assert!(
        text.contains("✗ wall &lt;7&gt; &amp; co (wall): free since "),
        "{text}"
    );
    assert!(
        !text.contains('<') && !text.contains("& "),
        "unescaped: {text}"
    );
    assert!(
        !text.contains("fine"),
        "healthy nodes are not listed: {text}"
    );

    let ntfy = &rx.requests_to("/ntfy/syncguard")[0];
    assert_eq!(ntfy.method, "POST");
    assert_eq!(ntfy.header("title"), Some("wall <7> & co unhealthy: free"));
    assert_eq!(ntfy.header("priority"), Some("5"));
    assert_eq!(ntfy.header("tags"), Some("rotating_light"));
    assert_eq!(
        ntfy.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert!(
        ntfy.header("idempotency-key")
            .is_some_and(|k| !k.is_empty())
    );
    let body = ntfy.text();
    assert_eq!(
        body.lines().next(),
        Some("wall <7> & co unhealthy: free"),
        "{body}"
    );
    assert!(
        body.contains("✗ wall <7> & co (wall): free since "),
        "{body}"
    );

    odd.set_reply(Some("Synced"));
    rx.wait_for(LIMIT, "the recoveries", |r| {
        r.iter().filter(|r| r.path == "/slack").count() >= 2
            && r.iter().filter(|r| r.path == "/ntfy/syncguard").count() >= 2
    });
    let _ = child.stop();
    let slack = &rx.requests_to("/slack")[1];
    let text = str_of(&slack.json(), "text").to_owned();
    assert_eq!(
        text.lines().next(),
        Some("wall &lt;7&gt; &amp; co recovered"),
        "{text}"
    );
    assert!(text.contains("synced again after"), "{text}");
    let ntfy = &rx.requests_to("/ntfy/syncguard")[1];
    assert_eq!(ntfy.header("title"), Some("wall <7> & co recovered"));
    assert_eq!(ntfy.header("priority"), Some("3"));
    assert_eq!(ntfy.header("tags"), Some("white_check_mark"));
    assert!(
        ntfy.text().contains("synced again after"),
        "{}",
        ntfy.text()
    );
    assert_eq!(
        rx.requests().len(),
        4,
        "{}",
        common::receiver::describe(&rx.requests())
    );
}

/// An SMTP server in Python (aiosmtpd) that prints one JSON line per message,
/// decoded, after a `LISTENING <port>` line.
const SMTP_SERVER: &str = r#"
import asyncio, json
from email import message_from_bytes, policy
from aiosmtpd.smtp import SMTP

class Handler:
    async def handle_DATA(self, server, session, envelope):
        m = message_from_bytes(envelope.original_content or envelope.content, policy=policy.default)
        part = m.get_body(preferencelist=("plain",))
        print(json.dumps({
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "subject": str(m["subject"]),
            "from": str(m["from"]),
            "to": str(m["to"]),
            "message_id": str(m["message-id"]),
            "content_type": m.get_content_type(),
            "body": part.get_content() if part is not None else "",
        }), flush=True)
        return "250 OK"

async def main():
    loop = asyncio.get_running_loop()
    server = await loop.create_server(lambda: SMTP(Handler()), "127.0.0.1", 0)
    print("LISTENING", server.sockets[0].getsockname()[1], flush=True)
    await asyncio.Event().wait()

asyncio.run(main())
"#;

/// The messages the SMTP server printed so far.
fn mails(server: &Proc) -> Vec<Value> {
    server
        .stdout()
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).expect("one JSON line per message"))
        .collect()
}

#[test]
fn email_reaches_a_real_smtp_server_with_subject_body_and_message_id() {
    const TEST: &str = "email_reaches_a_real_smtp_server_with_subject_body_and_message_id";
    if !skip::require(
        TEST,
        skip::have_python_module("aiosmtpd"),
        "Python aiosmtpd not installed; .ci/run puts it in target/ci-venv",
    ) {
        return;
    }
    let lab = Lab::new(&[]);
    let script = lab.write("smtp_server.py", SMTP_SERVER);
    let server = Proc::spawn(Command::new(skip::python()).arg("-u").arg(&script));
    server.wait_for(LIMIT, "the SMTP server listening", |out, _| {
        out.contains("LISTENING ")
    });
    let smtp_port: u16 = server
        .stdout()
        .lines()
        .find_map(|l| l.strip_prefix("LISTENING ")?.trim().parse().ok())
        .expect("port");
    let smtp = format!(
        "smtp = \"127.0.0.1:{smtp_port}\"\ntls = \"none\"\nfrom = \"SyncGuard <syncguard@example.com>\"\nto = [\"oncall@example.com\", \"lead@example.com\"]"
    );
    let (_a, b, config) = wall_of_two(
        &lab,
        ("Synced", "Free"),
        &channel("mail", "email", &smtp, ""),
    );
    let db = lab.path("history.db");
    let child = monitor(&config, &db, &[]);
    let wait_mails = |n: usize| {
        server.wait_for(LIMIT, &format!("{n} email(s)"), |out, _| {
            out.lines().filter(|l| l.starts_with('{')).count() >= n
        });
        mails(&server)
    };
    let got = wait_mails(1);
    let mail = &got[0];
    assert_eq!(
        mail["subject"], "[syncguard] CRITICAL: b unhealthy: free",
        "{mail:#}"
    );
    assert_eq!(mail["mail_from"], "syncguard@example.com", "{mail:#}");
    assert_eq!(
        mail["rcpt_tos"],
        serde_json::json!(["oncall@example.com", "lead@example.com"]),
        "{mail:#}"
    );
    assert!(
        str_of(mail, "from").contains("syncguard@example.com"),
        "{mail:#}"
    );
    assert_eq!(mail["content_type"], "text/plain", "{mail:#}");
    let body = str_of(mail, "body");
    assert_eq!(body.lines().next(), Some("b unhealthy: free"), "{body}");
    assert!(
        body.contains("✗ b (wall): free since 20"),
        "full date: {body}"
    );
    assert!(!body.contains("✗ a"), "{body}");

    b.set_reply(Some("Synced"));
    let got = wait_mails(2);
    let mail = &got[1];
    assert_eq!(
        mail["subject"], "[syncguard] RECOVERED: b recovered",
        "{mail:#}"
    );
    assert!(
        str_of(mail, "body").contains("✓ b (wall): synced again after"),
        "{mail:#}"
    );
    let _ = child.stop();

    // Each mail names the notification it is: body and Message-ID.
    let stored = notifications(&db);
    assert_eq!(stored.len(), 2, "{stored:#?}");
    for (mail, n) in got.iter().zip(&stored) {
        let id = str_of(n, "id");
        assert_eq!(n["state"], "delivered", "{n:#}");
        assert_eq!(
            mail["message_id"],
            format!("<{id}@syncguard-fleet>"),
            "{mail:#}"
        );
        assert!(
            str_of(mail, "body").contains(&format!("Notification id: {id}")),
            "{mail:#}"
        );
    }

    // `notify test` through the same server.
    let r = run(bin()
        .arg("--config")
        .arg(&config)
        .args(["notify", "test", "--channel", "mail"]));
    assert_code(&r, 0);
    assert!(r.stdout.starts_with("mail: ok (email"), "{}", r.stdout);
    let got = wait_mails(3);
    assert!(
        str_of(&got[2], "subject")
            .starts_with("[syncguard] TEST: test notification from syncguard-fleet on "),
        "{:#}",
        got[2]
    );
}

/// 200 nodes unreachable at once: one message per channel, naming all 200.
#[test]
fn a_storm_of_200_nodes_is_one_message_per_channel() {
    let specs: Vec<(String, &str, Option<&str>)> = (1..=200)
        .map(|i| (format!("n{i:03}"), "refused", Some("wall-B")))
        .collect();
    let specs: Vec<(&str, &str, Option<&str>)> =
        specs.iter().map(|(n, b, g)| (n.as_str(), *b, *g)).collect();
    let lab = Lab::new(&specs);
    let rx = Receiver::start(lab.rt.handle(), Answer::Status(200));
    let window = "group_wait = \"5s\"";
    let fleet = lab
        .sim
        .fleet_toml("interval = \"500ms\"\nmax_interval = \"1s\"\ntimeout = \"1s\"");
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{fleet}\n[[notify]]\nname = \"hook\"\ntype = \"webhook\"\n{}\n{window}\n\n[[notify]]\nname = \"chat\"\ntype = \"slack\"\n{}\n{window}\n",
            url(&rx.url("/hook")),
            url(&rx.url("/slack")),
        ),
    );
    let db = lab.path("history.db");
    let child = monitor(&config, &db, &[]);
    rx.wait_for(Duration::from_secs(30), "a message on each channel", |r| {
        r.iter().any(|r| r.path == "/hook") && r.iter().any(|r| r.path == "/slack")
    });
    // Stopping closes any window still open: a second message would be sent now.
    let (_, stderr) = child.stop();
    let got = rx.requests();
    let listing = common::receiver::describe(&got);
    let hooks = rx.requests_to("/hook");
    let chats = rx.requests_to("/slack");
    assert_eq!((hooks.len(), chats.len()), (1, 1), "{listing}\n{stderr}");
    // And no other was made (one made at the stop might not have been sent).
    let stored = notifications(&db);
    let channels: Vec<&str> = stored.iter().map(|n| str_of(n, "channel")).collect();
    assert_eq!(channels.len(), 2, "{stored:#?}");
    assert!(
        channels.contains(&"hook") && channels.contains(&"chat"),
        "{stored:#?}"
    );

    let title = "wall-B: 200 of 200 nodes unhealthy (unreachable ×200)";
    let body = hooks[0].json();
    assert_eq!(body["title"], title, "{body:#}");
    let nodes: BTreeSet<&str> = body["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a["labels"]["node"].as_str())
        .collect();
    assert_eq!(nodes.len(), 200, "every node is an alert");
    let text = str_of(&chats[0].json(), "text").to_owned();
    assert_eq!(text.lines().next(), Some(title), "{text}");
    assert!(text.contains("… and 180 more"), "{text}");
}

#[test]
fn notify_test_reports_each_channel_and_its_exit_code() {
    let rt = common::runtime();
    let good = Receiver::start(rt.handle(), Answer::Status(200));
    let bad = Receiver::start(rt.handle(), Answer::Status(500));
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::lab::write(
        dir.path(),
        "fleet.toml",
        &format!(
            "[[node]]\nname = \"n\"\nhost = \"127.0.0.1\"\nport = 9\ngroup = \"wall\"\n{}{}",
            channel("good", "webhook", &url(&good.url("/hook")), ""),
            channel("bad", "slack", &url(&bad.url("/slack")), "")
        ),
    );
    let notify_test = |extra: &[&str]| {
        run(bin()
            .arg("--config")
            .arg(&config)
            .args(["notify", "test"])
            .args(extra))
    };

    let r = notify_test(&[]);
    assert_code(&r, 1);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stdout);
    assert!(
        lines[0].starts_with("good: ok (webhook, 200"),
        "{}",
        r.stdout
    );
    assert!(
        lines[1].starts_with("bad: FAILED (slack): ") && lines[1].contains("HTTP 500"),
        "{}",
        r.stdout
    );
    let test = good.requests_to("/hook");
    assert_eq!(test.len(), 1);
    let body = test[0].json();
    assert!(
        str_of(&body, "title").starts_with("test notification from syncguard-fleet on "),
        "{body:#}"
    );
    assert_eq!(
        body["alerts"][0]["labels"]["alertname"], "SyncGuardTest",
        "{body:#}"
    );
    assert_eq!(test[0].header("idempotency-key"), Some(str_of(&body, "id")));
    assert_eq!(bad.requests_to("/slack").len(), 1, "one try, no retries");

    let r = notify_test(&["--channel", "good"]);
    assert_code(&r, 0);
    assert_eq!(r.stdout.lines().count(), 1, "{}", r.stdout);
    assert!(r.stdout.starts_with("good: ok (webhook"), "{}", r.stdout);
    assert_eq!(good.requests().len(), 2);
    assert_eq!(bad.requests().len(), 1, "only the channel asked for");

    let r = notify_test(&["--channel", "bad"]);
    assert_code(&r, 1);
    assert!(r.stdout.starts_with("bad: FAILED (slack)"), "{}", r.stdout);

    let r = notify_test(&["--channel", "nope"]);
    assert_code(&r, 3);
    assert!(r.stderr.contains("\"nope\""), "{}", r.stderr);
}

/// `fleet.toml:LINE:COL: KEY` for the first place `needle` is in `text`.
fn place(text: &str, needle: &str, key: &str) -> String {
    let (line, col) = text
        .lines()
        .enumerate()
        .find_map(|(i, l)| l.find(needle).map(|c| (i + 1, c + 1)))
        .unwrap_or_else(|| panic!("{needle:?} not in {text}"));
    format!("fleet.toml:{line}:{col}: {key}")
}

#[test]
fn bad_channel_settings_stop_the_start_with_exit_3_and_the_place() {
    let node = "[[node]]\nname = \"n\"\nhost = \"127.0.0.1\"\nport = 9\n";
    let hook = "url = \"http://127.0.0.1:9/hook\"";
    let unset = "SYNCGUARD_TEST_NEVER_SET";
    let unset_quoted = format!("\"{unset}\"");
    let cases = [
        (
            channel("x", "pager", hook, ""),
            "\"pager\"",
            "notify[0].type",
            "unknown type \"pager\"",
        ),
        (
            channel("x", "webhook", "url = \"http//127.0.0.1:9/hook\"", ""),
            "\"http//",
            "notify[0].url",
            "invalid URL",
        ),
        (
            channel("x", "webhook", hook, &format!("secret_env = \"{unset}\"")),
            unset_quoted.as_str(),
            "notify[0].secret_env",
            "environment variable SYNCGUARD_TEST_NEVER_SET is not set",
        ),
        (
            channel("x", "webhook", hook, "nodes = [\"zz*\"]"),
            "\"zz*\"",
            "notify[0].nodes[0]",
            "glob \"zz*\" matches no node",
        ),
        (
            channel("x", "webhook", hook, "groups = [\"wall-*\"]"),
            "\"wall-*\"",
            "notify[0].groups[0]",
            "matches no group",
        ),
    ];
    let dir = tempfile::tempdir().expect("tempdir");
    for (table, needle, key, why) in &cases {
        let text = format!("{node}{table}");
        let config = common::lab::write(dir.path(), "fleet.toml", &text);
        let want = place(&text, needle, key);
        for args in [&["watch"][..], &["notify", "test"][..]] {
            let r = run(bin()
                .env_remove(unset)
                .arg("--config")
                .arg(&config)
                .arg("--no-history")
                .args(args));
            assert_code(&r, 3);
            assert!(
                r.stderr.contains(&want) && r.stderr.contains(why),
                "{args:?}: want {want:?} and {why:?} in:\n{}\nconfig:\n{text}",
                r.stderr
            );
        }
    }
}

/// One channel's receiver hangs, another's answers garbage: the third still
/// delivers, nodes are still watched and `/metrics` still answers, counting the
/// failures; the monitor still stops cleanly.
#[test]
fn a_hanging_or_garbage_receiver_does_not_stop_monitoring_or_other_channels() {
    let lab = Lab::new(&[]);
    let hang = Receiver::start(lab.rt.handle(), Answer::Hang);
    let junk = Receiver::start(lab.rt.handle(), Answer::Garbage);
    let good = Receiver::start(lab.rt.handle(), Answer::Status(200));
    let short = "timeout = \"1s\"";
    let (_a, b, config) = wall_of_two(
        &lab,
        ("Synced", "Synced"),
        &[
            channel("stuck", "webhook", &url(&hang.url("/hook")), short),
            channel("junk", "slack", &url(&junk.url("/slack")), short),
            channel("good", "webhook", &url(&good.url("/hook")), ""),
        ]
        .concat(),
    );
    let port = free_port();
    let child = monitor(
        &config,
        &lab.path("history.db"),
        &["--http", &format!("127.0.0.1:{port}")],
    );
    wait_shown(&child, "b", "synced");
    b.set_reply(Some("Free"));
    good.wait_for(LIMIT, "the firing notification", |r| !r.is_empty());
    assert!(
        wait_until(LIMIT, || hang.connections() >= 1 && junk.connections() >= 1),
        "both bad receivers were tried"
    );

    // Monitoring goes on while the two channels retry.
    b.set_reply(Some("Synced"));
    wait_shown(&child, "b", "synced");
    let got = good.wait_for(LIMIT, "the recovery", |r| r.len() >= 2);
    assert_eq!(got[1].json()["title"], "b recovered");
    let asked = Instant::now();
    let text = wait_sample(
        port,
        "syncguard_notifications_total{channel=\"stuck\",result=\"failed\"}",
        1.0,
    );
    assert!(asked.elapsed() < LIMIT);
    let text = if sample(
        &text,
        "syncguard_notifications_total{channel=\"junk\",result=\"failed\"}",
    )
    .is_some_and(|v| v >= 1.0)
    {
        text
    } else {
        wait_sample(
            port,
            "syncguard_notifications_total{channel=\"junk\",result=\"failed\"}",
            1.0,
        )
    };
    for ch in ["stuck", "junk"] {
        let depth = sample(
            &text,
            &format!("syncguard_notify_queue_depth{{channel=\"{ch}\"}}"),
        );
        assert!(depth.is_some_and(|d| d >= 1.0), "{ch} queue: {text}");
        let age = sample(
            &text,
            &format!("syncguard_notify_oldest_pending_seconds{{channel=\"{ch}\"}}"),
        );
        assert!(age.is_some_and(|s| s > 0.0), "{ch} oldest pending: {text}");
        assert_eq!(
            sample(
                &text,
                &format!("syncguard_notifications_total{{channel=\"{ch}\",result=\"delivered\"}}")
            ),
            Some(0.0),
            "{text}"
        );
    }
    assert_eq!(
        sample(
            &text,
            "syncguard_notifications_total{channel=\"good\",result=\"delivered\"}"
        ),
        Some(2.0),
        "{text}"
    );
    let (_, stderr) = child.stop();
    assert!(
        stderr.contains("stuck"),
        "the failures are logged: {stderr}"
    );
}

/// Waits until the status API on `port` shows every node with a result.
fn wait_results(port: u16, child: &Proc) {
    let heard = wait_until(LIMIT, || {
        http_get(port, "/api/v1/status")
            .and_then(|r| r.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()))
            .and_then(|b| serde_json::from_str::<Value>(&b).ok())
            .is_some_and(|doc| doc["summary"]["by_status"]["pending"] == 0)
    });
    assert!(heard, "no first results: {}", child.stderr());
}

/// b is announced unhealthy, the monitor restarts, b is still unhealthy: not
/// announced again; then b recovers: that is announced.
#[test]
fn after_a_restart_a_node_still_unhealthy_is_not_announced_again_and_its_recovery_is() {
    let lab = Lab::new(&[]);
    let rx = Receiver::start(lab.rt.handle(), Answer::Status(200));
    let (_a, b, config) = wall_of_two(
        &lab,
        ("Synced", "Free"),
        &channel("hook", "webhook", &url(&rx.url("/hook")), ""),
    );
    let db = lab.path("history.db");
    let first = monitor(&config, &db, &[]);
    rx.wait_for(LIMIT, "the firing webhook", |r| !r.is_empty());
    let _ = first.stop();
    let port = free_port();
    let second = monitor(&config, &db, &["--http", &format!("127.0.0.1:{port}")]);
    wait_results(port, &second);
    b.set_reply(Some("Synced"));
    // A repeated alarm would be queued before the recovery, or (made within the
    // window) would cancel it: either way the order below shows it.
    let got = rx.wait_for(
        LIMIT,
        "the recovery (none: the restart re-announced b?)",
        |r| r.len() >= 2,
    );
    let _ = second.stop();
    let titles: Vec<String> = rx
        .requests()
        .iter()
        .map(|r| str_of(&r.json(), "title").to_owned())
        .collect();
    assert_eq!(
        titles,
        ["b unhealthy: free", "b recovered"],
        "{}",
        common::receiver::describe(&got)
    );
}

#[test]
fn heartbeat_pings_its_url_every_interval() {
    let lab = Lab::new(&[]);
    let rx = Receiver::start(lab.rt.handle(), Answer::Status(200));
    let (_a, _b, config) = wall_of_two(
        &lab,
        ("Synced", "Synced"),
        &format!(
            "\n[heartbeat]\nurl = \"{}\"\ninterval = \"1s\"\n",
            rx.url("/ping/abc?from=syncguard")
        ),
    );
    let child = monitor(&config, &lab.path("history.db"), &[]);
    let got = rx.wait_for(LIMIT, "three pings", |r| r.len() >= 3);
    let _ = child.stop();
    for r in &got {
        assert_eq!(
            (r.method.as_str(), r.path.as_str()),
            ("GET", "/ping/abc?from=syncguard")
        );
    }
    for pair in got.windows(2) {
        let gap = pair[1].at - pair[0].at;
        assert!(gap >= Duration::from_millis(800), "pinged {gap:?} apart");
    }
}

/// A 400 is a refusal for good: one try, given up. A 503 with `Retry-After: 3`
/// is tried again 3 s later (not after the first 1 s of backoff), until taken.
#[test]
fn a_4xx_is_given_up_at_once_and_a_503_waits_as_retry_after_asks() {
    let lab = Lab::new(&[]);
    let refuse = Receiver::start(lab.rt.handle(), Answer::Status(400));
    let busy = Receiver::start(lab.rt.handle(), Answer::Busy(3));
    let (_a, _b, config) = wall_of_two(
        &lab,
        ("Synced", "Free"),
        &[
            channel("refused", "webhook", &url(&refuse.url("/hook")), ""),
            channel("busy", "slack", &url(&busy.url("/slack")), ""),
        ]
        .concat(),
    );
    let db = lab.path("history.db");
    let port = free_port();
    let child = monitor(&config, &db, &["--http", &format!("127.0.0.1:{port}")]);
    let tries = busy.wait_for(LIMIT, "two tries", |r| r.len() >= 2);
    busy.set_answer(Answer::Status(200));
    let gap = tries[1].at - tries[0].at;
    assert!(
        gap >= Duration::from_millis(2900),
        "Retry-After: 3, yet tried again after {gap:?}"
    );
    busy.wait_for(LIMIT, "the delivery", |r| r.len() >= 3);
    wait_sample(
        port,
        "syncguard_notifications_total{channel=\"busy\",result=\"delivered\"}",
        1.0,
    );
    let text = wait_sample(
        port,
        "syncguard_notifications_total{channel=\"refused\",result=\"given_up\"}",
        1.0,
    );
    assert_eq!(
        sample(&text, "syncguard_notify_queue_depth{channel=\"refused\"}"),
        Some(0.0),
        "{text}"
    );
    let (_, stderr) = child.stop();
    // Over 6 s since its one try: a retry would have come after 1 s.
    assert_eq!(refuse.requests().len(), 1, "a 400 is not retried");
    assert_eq!(busy.requests().len(), 3);
    let stored = notifications(&db);
    let of = |ch: &str| {
        stored
            .iter()
            .find(|n| n["channel"] == ch)
            .unwrap_or_else(|| panic!("no {ch} notification: {stored:#?}"))
    };
    let refused = of("refused");
    assert_eq!(refused["state"], "given_up", "{refused:#}");
    assert_eq!(refused["attempts"], 1, "{refused:#}");
    assert!(
        refused["last_error"]
            .as_str()
            .is_some_and(|e| e.contains("HTTP 400")),
        "{refused:#}"
    );
    let delivered = of("busy");
    assert_eq!(delivered["state"], "delivered", "{delivered:#}");
    assert_eq!(delivered["attempts"], 3, "{delivered:#}");
    assert!(
        stderr.contains("refused"),
        "the refusal is logged: {stderr}"
    );
}

/// `[[alert]]` programs go through the same pipeline: their runs are counted as
/// the `alert` channel, and a failing one is its problem, like any channel's.
#[cfg(unix)]
#[test]
fn alert_hook_runs_are_counted_as_a_channel() {
    let lab = Lab::new(&[]);
    let marker = lab.path("ran");
    let hooks = format!(
        "\n[[alert]]\ncommand = [\"/bin/sh\", \"-c\", \"echo $SYNCGUARD_NODE >> {}\"]\n\
         [[alert]]\ncommand = [\"/bin/sh\", \"-c\", \"exit 3\"]\n",
        marker.display()
    );
    let (_a, _b, config) = wall_of_two(&lab, ("Synced", "Free"), &hooks);
    let port = free_port();
    let child = monitor(
        &config,
        &lab.path("history.db"),
        &["--http", &format!("127.0.0.1:{port}")],
    );
    let text = wait_sample(
        port,
        "syncguard_notifications_total{channel=\"alert\",result=\"failed\"}",
        1.0,
    );
    assert_eq!(
        sample(
            &text,
            "syncguard_notifications_total{channel=\"alert\",result=\"delivered\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert!(
        wait_until(LIMIT, || std::fs::read_to_string(&marker)
            .is_ok_and(|s| s == "b\n")),
        "the first hook did not run once for b"
    );
    let _ = child.stop();
}

/// A node taken out of the config by a reload, after its channel was told it is
/// unhealthy, is resolved as `removed`: its alert does not fire for ever.
#[cfg(unix)]
#[test]
fn a_node_removed_by_reload_is_resolved() {
    let lab = Lab::new(&[]);
    let rx = Receiver::start(lab.rt.handle(), Answer::Status(200));
    let hook = signed_hook(&rx.url("/hook"), "");
    let (a, b, config) = wall_of_two(&lab, ("Synced", "Free"), &hook);
    let child = monitor(&config, &lab.path("history.db"), &[]);
    rx.wait_for(LIMIT, "b's alarm", |r| !r.is_empty());
    // The same file without b.
    std::fs::write(
        &config,
        format!("{FAST}{}{hook}", a.node_toml("a", "group = \"wall\"")),
    )
    .expect("rewrite the config");
    child.signal(rustix::process::Signal::HUP);
    let got = rx.wait_for(LIMIT, "b resolved", |r| r.len() >= 2);
    let _ = child.stop();
    drop(b);
    let body = checked_webhook(&got[1]);
    assert_eq!(body["status"], "resolved", "{body:#}");
    assert_eq!(body["title"], "b removed from the config", "{body:#}");
    let alert = &body["alerts"][0];
    // The labels of the alarm, so the receiver resolves that very alert.
    assert_eq!(alert["labels"]["node"], "b", "{body:#}");
    assert_eq!(alert["labels"]["status"], "free", "{body:#}");
    assert_eq!(alert["status"], "resolved", "{body:#}");
}

/// Alertmanager: a notification taken by one member of two counts as delivered
/// (the other gets the firing alerts with the next re-send), but `notify test`
/// fails and names the member that did not take it.
#[test]
fn notify_test_fails_when_one_alertmanager_of_two_is_down() {
    let rt = common::runtime();
    let up = Receiver::start(rt.handle(), Answer::Status(200));
    let down = Reserved::new();
    let dir = tempfile::tempdir().expect("tempdir");
    let config = common::lab::write(
        dir.path(),
        "fleet.toml",
        &format!(
            "[[node]]\nname = \"a\"\nhost = \"192.168.0.201\"\n\
             [[notify]]\nname = \"am\"\ntype = \"alertmanager\"\nurls = [\"{}\", \"{}\"]\ntimeout = \"2s\"\n",
            up.url("/"),
            down.url("/")
        ),
    );
    let r = run(bin().arg("--config").arg(&config).args(["notify", "test"]));
    assert_code(&r, 1);
    assert!(
        r.stdout.starts_with("am: FAILED (alertmanager)"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("not taken by"), "{}", r.stdout);
    assert!(
        r.stdout.contains(&down.url("/api/v2/alerts")),
        "{}",
        r.stdout
    );
    assert_eq!(up.requests_to("/api/v2/alerts").len(), 1);
}

/// An acknowledged node that gets worse than acknowledged (`timeout`, then
/// `free`: out of lock) is alarmed again with its new status, although the
/// channel was told it is unhealthy: the webhook gets the new alert firing and
/// the old one (its labels) resolved.
#[cfg(unix)]
#[test]
fn worse_than_acknowledged_is_an_alarm_again() {
    let lab = Lab::new(&[]);
    let rx = Receiver::start(lab.rt.handle(), Answer::Status(200));
    // Never answers: `timeout`.
    let b = lab.fake(None);
    let port = free_port();
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}[http]\nbind = \"127.0.0.1:{port}\"\ntoken_env = \"{TOKEN_VAR}\"\n{}{}",
            b.node_toml("b", "group = \"wall\""),
            signed_hook(&rx.url("/hook"), "")
        ),
    );
    let child = monitor(&config, &lab.path("history.db"), &[]);
    let got = rx.wait_for(LIMIT, "b's alarm", |r| !r.is_empty());
    let first = checked_webhook(&got[0]);
    assert_eq!(
        first["alerts"][0]["labels"]["status"], "timeout",
        "{first:#}"
    );

    let (status, answer) = lab.rt.block_on(async {
        let resp = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{port}/api/v1/ack"))
            .header("Authorization", format!("Bearer {TOKEN}"))
            .json(&serde_json::json!({"target": "b", "reason": "cable", "for": "1h"}))
            .send()
            .await
            .expect("POST /api/v1/ack");
        (
            resp.status().as_u16(),
            resp.text().await.unwrap_or_default(),
        )
    });
    assert_eq!(status, 201, "{answer}");

    b.set_reply(Some("Free"));
    wait_shown(&child, "b", "free");
    let got = rx.wait_for(LIMIT, "the alarm again", |r| r.len() >= 2);
    let _ = child.stop();
    let body = checked_webhook(&got[1]);
    assert_eq!(body["status"], "firing", "{body:#}");
    assert_eq!(body["title"], "b unhealthy: free", "{body:#}");
    let alerts: Vec<(&str, &str)> = body["alerts"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    (
                        x["labels"]["status"].as_str().unwrap_or(""),
                        x["status"].as_str().unwrap_or(""),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(
        alerts,
        [("free", "firing"), ("timeout", "resolved")],
        "{body:#}"
    );
    assert_eq!(
        got.len(),
        2,
        "one alarm, nothing else: {:#?}",
        got.iter().map(Request::json).collect::<Vec<_>>()
    );
}

/// A sharded monitor (`--shard 1/1`: the whole fleet, but sharded) says so in
/// every format: the webhook's `shard` member and alert labels, and the title
/// the text formats start with.
#[test]
fn a_sharded_monitor_names_its_shard_in_webhook_and_slack() {
    let lab = Lab::new(&[]);
    let rx = Receiver::start(lab.rt.handle(), Answer::Status(200));
    let (_a, _b, config) = wall_of_two(
        &lab,
        ("Synced", "Free"),
        &format!(
            "{}{}",
            signed_hook(&rx.url("/hook"), ""),
            channel("chat", "slack", &url(&rx.url("/slack")), "")
        ),
    );
    let child = monitor(&config, &lab.path("history.db"), &["--shard", "1/1"]);
    let both =
        |r: &[Request]| r.iter().any(|r| r.path == "/hook") && r.iter().any(|r| r.path == "/slack");
    rx.wait_for(LIMIT, "webhook and slack", both);
    let body = checked_webhook(&rx.requests_to("/hook")[0]);
    assert_eq!(body["shard"], "1/1", "{body:#}");
    assert_eq!(body["title"], "b unhealthy: free [shard 1/1]", "{body:#}");
    let alerts = body["alerts"].as_array().expect("alerts");
    assert!(!alerts.is_empty(), "{body:#}");
    for a in alerts {
        assert_eq!(a["labels"]["shard"], "1/1", "{a:#}");
    }
    let text = str_of(&rx.requests_to("/slack")[0].json(), "text").to_owned();
    assert_eq!(
        text.lines().next(),
        Some("b unhealthy: free [shard 1/1]"),
        "{text}"
    );
    let _ = child.stop();
}

//! The `alertmanager` channel against a real Alertmanager (Debian's
//! `prometheus-alertmanager`) on loopback: alerts for unhealthy nodes with their
//! labels, none for healthy ones, one alert for two monitors of the same nodes,
//! the watchdog, and the alert resolved when the node recovers; an ack given over
//! the HTTP API becomes a silence of the node's alert, expired when the ack is
//! removed or the node recovers.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::bin::{Proc, bin, json_events, transitions_of, watch_with_history};
use common::lab::Lab;
use common::net::free_port;
use common::{skip, wait_until};

const LIMIT: Duration = Duration::from_secs(20);
const FAST: &str = "[defaults]\ninterval = \"300ms\"\nmax_interval = \"500ms\"\ntimeout = \"1s\"\nbackoff = \"1s\"\n";
const BINARY: &str = "prometheus-alertmanager";

fn have_alertmanager() -> bool {
    Command::new(BINARY)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// True when Alertmanager is there; else fails under CI or reports the skip.
fn alertmanager_for(test: &str) -> bool {
    skip::require(
        test,
        have_alertmanager(),
        "prometheus-alertmanager not installed",
    )
}

/// A real Alertmanager on 127.0.0.1 with its gossip cluster off and its data in
/// `dir`; stopped when dropped.
struct Alertmanager {
    port: u16,
    proc: Proc,
}

impl Alertmanager {
    fn start(lab: &Lab) -> Alertmanager {
        let config = lab.write(
            "am.yml",
            "route: {receiver: \"null\"}\nreceivers: [{name: \"null\"}]\n",
        );
        let port = free_port();
        let proc = Proc::spawn(
            Command::new(BINARY)
                .arg(format!("--config.file={}", config.display()))
                .arg(format!("--storage.path={}", lab.path("am-data").display()))
                .arg(format!("--web.listen-address=127.0.0.1:{port}"))
                .arg("--cluster.listen-address="),
        );
        let am = Alertmanager { port, proc };
        let ready = wait_until(LIMIT, || {
            common::net::http_get(port, "/-/ready").is_some_and(|r| r.starts_with("HTTP/1.1 200"))
        });
        assert!(ready, "Alertmanager not ready:\n{}", am.proc.stderr());
        am
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// `GET /api/v2/alerts<query>` as JSON (Alertmanager may answer chunked, so
    /// through a real HTTP client).
    fn alerts(&self, lab: &Lab, query: &str) -> Vec<Value> {
        self.get(lab, &format!("/api/v2/alerts{query}"))
    }

    /// `GET /api/v2/silences`: every silence, expired ones too.
    fn silences(&self, lab: &Lab) -> Vec<Value> {
        self.get(lab, "/api/v2/silences")
    }

    fn get(&self, lab: &Lab, path: &str) -> Vec<Value> {
        let url = format!("{}{path}", self.url());
        let body = lab
            .rt
            .block_on(async { reqwest::get(&url).await?.error_for_status()?.text().await })
            .unwrap_or_else(|e| panic!("GET {url}: {e}\n{}", self.proc.stderr()));
        serde_json::from_str::<Vec<Value>>(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    }
}

/// The alerts named `alertname`.
fn named<'a>(alerts: &'a [Value], alertname: &str) -> Vec<&'a Value> {
    alerts
        .iter()
        .filter(|a| a["labels"]["alertname"] == alertname)
        .collect()
}

/// Waits until every monitor has recorded a delivered notification of `kind` in
/// its outbox (`history --format json`).
fn wait_delivered(dbs: &[&Path], kind: &str) {
    let mut last = String::new();
    let held = wait_until(LIMIT, || {
        dbs.iter().all(|db| {
            let r = common::bin::run(
                bin()
                    .arg("history")
                    .arg("--db")
                    .arg(db)
                    .args(["--since", "1h", "--format", "json"]),
            );
            last = r.stdout.clone();
            let doc: Value = serde_json::from_str(&r.stdout).unwrap_or_default();
            doc["notifications"].as_array().is_some_and(|ns| {
                ns.iter()
                    .any(|n| n["kind"] == kind && n["state"] == "delivered")
            })
        })
    });
    assert!(
        held,
        "no delivered {kind} notification in every outbox; last:\n{last}"
    );
}

#[test]
fn alertmanager_gets_one_alert_per_unhealthy_node_from_two_monitors_and_resolves_it() {
    const TEST: &str =
        "alertmanager_gets_one_alert_per_unhealthy_node_from_two_monitors_and_resolves_it";
    if !alertmanager_for(TEST) {
        return;
    }
    let lab = Lab::new(&[]);
    let am = Alertmanager::start(&lab);
    let fine = lab.fake(Some("Synced"));
    let bad = lab.fake(Some("Free"));
    let loner = lab.fake(Some("Synced"));
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}{}{}{}\n[[notify]]\nname = \"oncall\"\ntype = \"alertmanager\"\nurls = [\"{}\"]\ngroup_wait = \"1s\"\nwatchdog = true\n",
            fine.node_toml("fine", "group = \"wall\""),
            bad.node_toml("bad", "group = \"wall\""),
            loner.node_toml("loner", ""),
            am.url(),
        ),
    );
    let (db1, db2) = (lab.path("one.db"), lab.path("two.db"));
    let one = watch_with_history(&config, &db1);
    let two = watch_with_history(&config, &db2);
    wait_delivered(&[&db1, &db2], "firing");

    let mut alerts = Vec::new();
    let held = wait_until(LIMIT, || {
        alerts = am.alerts(&lab, "?active=true");
        !named(&alerts, "SyncGuardNodeUnhealthy").is_empty()
            && !named(&alerts, "SyncGuardMonitorWatchdog").is_empty()
    });
    assert!(held, "alerts: {alerts:#?}");
    let nodes = named(&alerts, "SyncGuardNodeUnhealthy");
    assert_eq!(nodes.len(), 1, "one alert for two monitors: {alerts:#?}");
    let alert = nodes[0];
    assert_eq!(
        alert["labels"],
        serde_json::json!({
            "alertname": "SyncGuardNodeUnhealthy",
            "node": "bad",
            "group": "wall",
            "severity": "critical",
            "status": "free",
        }),
        "{alert:#}"
    );
    assert!(alert["labels"].get("instance").is_none(), "{alert:#}");
    assert_eq!(alert["annotations"]["summary"], "bad is free", "{alert:#}");
    assert_eq!(alert["status"]["state"], "active", "{alert:#}");
    for healthy in ["fine", "loner"] {
        assert!(
            !alerts.iter().any(|a| a["labels"]["node"] == healthy),
            "no alert for healthy {healthy}: {alerts:#?}"
        );
    }
    assert!(
        named(&alerts, "SyncGuardGroupMasters").is_empty(),
        "{alerts:#?}"
    );
    let watchdog = named(&alerts, "SyncGuardMonitorWatchdog");
    assert_eq!(
        watchdog.len(),
        1,
        "one watchdog for two monitors: {alerts:#?}"
    );
    assert_eq!(watchdog[0]["labels"]["severity"], "none");

    // Recovery: both monitors resolve it; it leaves the active alerts.
    bad.set_reply(Some("Synced"));
    for m in [&one, &two] {
        m.wait_for(LIMIT, "bad shown synced", |out, _| {
            transitions_of(&json_events(out), "bad")
                .last()
                .is_some_and(|(_, s)| s == "synced")
        });
    }
    wait_delivered(&[&db1, &db2], "resolved");
    let held = wait_until(LIMIT, || {
        alerts = am.alerts(&lab, "?active=true");
        named(&alerts, "SyncGuardNodeUnhealthy").is_empty()
    });
    assert!(held, "still active after the recovery: {alerts:#?}");
    let all = am.alerts(&lab, "");
    assert!(
        named(&all, "SyncGuardNodeUnhealthy")
            .iter()
            .all(|a| a["status"]["state"] != "active"),
        "{all:#?}"
    );
    assert_eq!(
        named(&all, "SyncGuardMonitorWatchdog").len(),
        1,
        "the watchdog still fires: {all:#?}"
    );
    let _ = one.stop();
    let _ = two.stop();
}

const TOKEN_VAR: &str = "SG_AM_SILENCE_TEST_TOKEN";
const TOKEN: &str = "silence-test-token";

/// A request to the monitor's API with the token: (status, JSON body).
fn api(lab: &Lab, method: reqwest::Method, url: &str, body: Option<Value>) -> (u16, Value) {
    lab.rt.block_on(async {
        let client = reqwest::Client::new();
        let mut req = client
            .request(method, url)
            .header("Authorization", format!("Bearer {TOKEN}"));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.unwrap_or_else(|e| panic!("{url}: {e}"));
        let status = resp.status().as_u16();
        let text = resp.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    })
}

/// The silences of ack `id` (by the tag in their comment).
fn silences_of<'a>(silences: &'a [Value], id: &str) -> Vec<&'a Value> {
    let tag = format!("syncguard ack {id}");
    silences
        .iter()
        .filter(|s| s["comment"].as_str().is_some_and(|c| c.contains(&tag)))
        .collect()
}

/// Waits until the ack's one silence is in `state`; returns it.
fn wait_silence(lab: &Lab, am: &Alertmanager, mon: &Proc, id: &str, state: &str) -> Value {
    let mut all = Vec::new();
    let held = wait_until(LIMIT, || {
        all = am.silences(lab);
        let ours = silences_of(&all, id);
        ours.len() == 1 && ours[0]["status"]["state"] == state
    });
    assert!(
        held,
        "no {state} silence of ack {id}: {all:#?}\nmonitor:\n{}",
        mon.stderr()
    );
    silences_of(&all, id)[0].clone()
}

/// Acknowledges `target` over the API; the ack's id and who it is by.
fn ack(lab: &Lab, port: u16, target: &str) -> (String, String) {
    let (status, body) = api(
        lab,
        reqwest::Method::POST,
        &format!("http://127.0.0.1:{port}/api/v1/ack"),
        Some(serde_json::json!({"target": target, "reason": "re-imaging", "for": "2h"})),
    );
    assert_eq!(status, 201, "{body:#}");
    let id = body["id"].as_str().expect("the ack's id").to_owned();
    let by = body["by"].as_str().expect("who").to_owned();
    (id, by)
}

#[test]
fn an_ack_silences_the_node_in_alertmanager_until_it_ends() {
    const TEST: &str = "an_ack_silences_the_node_in_alertmanager_until_it_ends";
    if !alertmanager_for(TEST) {
        return;
    }
    let lab = Lab::new(&[]);
    let am = Alertmanager::start(&lab);
    let bad = lab.fake(Some("Free"));
    let fine = lab.fake(Some("Synced"));
    let port = free_port();
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}[http]\nbind = \"127.0.0.1:{port}\"\ntoken_env = \"{TOKEN_VAR}\"\n{}{}\n\
             [[notify]]\nname = \"oncall\"\ntype = \"alertmanager\"\nurls = [\"{}\"]\ngroup_wait = \"1s\"\n",
            bad.node_toml("wall-03", "group = \"wall\""),
            fine.node_toml("wall-04", "group = \"wall\""),
            am.url(),
        ),
    );
    let db = lab.path("one.db");
    let log = lab.path("monitor.log");
    let mon = Proc::spawn(
        bin()
            .env(TOKEN_VAR, TOKEN)
            .arg("--config")
            .arg(&config)
            .arg("--history")
            .arg(&db)
            .arg("--log-file")
            .arg(&log)
            .args(["watch", "--events", "json"]),
    );
    wait_delivered(&[&db], "firing");
    let alert_state = |lab: &Lab| -> Value {
        am.alerts(lab, "")
            .into_iter()
            .find(|a| a["labels"]["node"] == "wall-03")
            .map(|a| a["status"].clone())
            .unwrap_or_default()
    };
    assert!(
        wait_until(LIMIT, || alert_state(&lab)["state"] == "active"),
        "no active alert for wall-03: {:#?}",
        am.alerts(&lab, "")
    );

    // The ack: a silence of the node's alerts, for as long as the ack lasts.
    let (id, by) = ack(&lab, port, "wall-03");
    let silence = wait_silence(&lab, &am, &mon, &id, "active");
    assert_eq!(
        silence["matchers"],
        serde_json::json!([{"name": "node", "value": "wall-03", "isRegex": false, "isEqual": true}]),
        "{silence:#}"
    );
    assert_eq!(silence["createdBy"], by.as_str(), "{silence:#}");
    assert_eq!(
        silence["comment"],
        format!("re-imaging (syncguard ack {id})"),
        "{silence:#}"
    );
    let ends = silence["endsAt"]
        .as_str()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .expect("endsAt");
    let left = ends.duration_since(jiff::Timestamp::now());
    assert!(
        left > jiff::SignedDuration::from_mins(115) && left <= jiff::SignedDuration::from_mins(120),
        "ends when the ack does, in 2h: {silence:#}"
    );
    // Alertmanager applies it: the alert is suppressed by that silence.
    let sid = silence["id"].as_str().expect("silence id").to_owned();
    assert!(
        wait_until(LIMIT, || {
            let st = alert_state(&lab);
            st["state"] == "suppressed"
                && st["silencedBy"]
                    .as_array()
                    .is_some_and(|s| s.iter().any(|x| x == sid.as_str()))
        }),
        "the alert is not silenced: {:#}",
        alert_state(&lab)
    );

    // The ack removed: the silence is expired, the alert active again.
    let (status, body) = api(
        &lab,
        reqwest::Method::DELETE,
        &format!("http://127.0.0.1:{port}/api/v1/ack/wall-03"),
        None,
    );
    assert_eq!(status, 200, "{body:#}");
    wait_silence(&lab, &am, &mon, &id, "expired");
    assert!(
        wait_until(LIMIT, || alert_state(&lab)["state"] == "active"),
        "{:#}",
        alert_state(&lab)
    );

    // Acknowledged again, then the node recovers: that ack ends, and so does
    // its silence.
    let (id2, _) = ack(&lab, port, "wall-03");
    assert_ne!(id2, id);
    wait_silence(&lab, &am, &mon, &id2, "active");
    bad.set_reply(Some("Synced"));
    wait_silence(&lab, &am, &mon, &id2, "expired");
    let _ = mon.stop();
    // Info lines go to the log file (stderr has warnings only).
    let logged = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        logged.contains(&format!(
            "notify oncall: silenced node=\"wall-03\" (ack {id})"
        )),
        "{logged}"
    );
    assert!(
        logged.contains(&format!(
            "notify oncall: expired the silence of node=\"wall-03\" (ack {id2})"
        )),
        "{logged}"
    );
    assert!(
        !logged.contains("could not silence") && !logged.contains("could not expire"),
        "{logged}"
    );
}

/// Two shards of one fleet file, each with its own monitor (`--shard K/2`): the
/// node alert carries the shard that watches the node, and each monitor's
/// watchdog is an alert of its own (one per shard), so a dead shard's watchdog
/// is missed rather than covered by the other's.
#[test]
fn sharded_monitors_label_their_alerts_and_keep_a_watchdog_each() {
    const TEST: &str = "sharded_monitors_label_their_alerts_and_keep_a_watchdog_each";
    if !alertmanager_for(TEST) {
        return;
    }
    use syncguard_fleet::model::shard::shard_of;
    let in_shard = |k: u32| {
        (0..100)
            .map(|i| format!("node-{i}"))
            .find(|n| shard_of(n, 2) == k)
            .expect("a name in the shard")
    };
    let (bad_name, fine_name) = (in_shard(1), in_shard(2));
    let lab = Lab::new(&[]);
    let am = Alertmanager::start(&lab);
    let bad = lab.fake(Some("Free"));
    let fine = lab.fake(Some("Synced"));
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}{}{}\n[[notify]]\nname = \"oncall\"\ntype = \"alertmanager\"\nurls = [\"{}\"]\ngroup_wait = \"1s\"\nwatchdog = true\n",
            bad.node_toml(&bad_name, ""),
            fine.node_toml(&fine_name, ""),
            am.url(),
        ),
    );
    let (db1, db2) = (lab.path("one.db"), lab.path("two.db"));
    let monitor = |db: &Path, shard: &str| {
        common::bin::watch(
            &config,
            &["--history", db.to_str().expect("UTF-8"), "--shard", shard],
        )
    };
    let one = monitor(&db1, "1/2");
    let two = monitor(&db2, "2/2");
    wait_delivered(&[&db1], "firing");

    let mut alerts = Vec::new();
    let held = wait_until(LIMIT, || {
        alerts = am.alerts(&lab, "?active=true");
        !named(&alerts, "SyncGuardNodeUnhealthy").is_empty()
            && named(&alerts, "SyncGuardMonitorWatchdog").len() == 2
    });
    assert!(held, "alerts: {alerts:#?}");
    let nodes = named(&alerts, "SyncGuardNodeUnhealthy");
    assert_eq!(nodes.len(), 1, "{alerts:#?}");
    assert_eq!(nodes[0]["labels"]["node"], bad_name.as_str());
    assert_eq!(nodes[0]["labels"]["shard"], "1/2", "{:#}", nodes[0]);
    let mut watchdogs: Vec<&str> = named(&alerts, "SyncGuardMonitorWatchdog")
        .iter()
        .filter_map(|a| a["labels"]["shard"].as_str())
        .collect();
    watchdogs.sort_unstable();
    assert_eq!(watchdogs, ["1/2", "2/2"], "{alerts:#?}");
    let _ = one.stop();
    let _ = two.stop();
}

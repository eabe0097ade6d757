//! The `alertmanager` channel against a real Alertmanager (Debian's
//! `prometheus-alertmanager`) on loopback: alerts for unhealthy nodes with their
//! labels, none for healthy ones, one alert for two monitors of the same nodes,
//! the watchdog, and the alert resolved when the node recovers.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use serde_json::Value;

use common::bin::{Proc, bin, json_events, transitions_of};
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
        let url = format!("{}/api/v2/alerts{query}", self.url());
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

/// A monitor of `config` with its own history file `db`.
fn monitor(config: &Path, db: &Path) -> Proc {
    Proc::spawn(
        bin()
            .arg("--config")
            .arg(config)
            .arg("--history")
            .arg(db)
            .args(["watch", "--events", "json"]),
    )
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
    if !skip::require(
        TEST,
        have_alertmanager(),
        "prometheus-alertmanager not installed",
    ) {
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
    let one = monitor(&config, &db1);
    let two = monitor(&config, &db2);
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

//! Acknowledgements and maintenance windows in the history store, on real SQLite
//! files: a version 3 file migrated in place, the acks in force across restarts
//! and a kill -9, `active_acks` (what `--once` reads) on every kind of file,
//! maintenance spans ended by a crash, and `uptime`'s `maintenance_pct`.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags};

use syncguard_fleet::model::{
    Ack, AckEnd, AckEvent, Baseline, GroupStatus, NodeKey, Outcome, Status, Target, Transition,
};
use syncguard_fleet::store::query::{self, Filter, Window};
use syncguard_fleet::store::{History, active_acks, ms, schema};

const LIMIT: Duration = Duration::from_secs(15);
const MIN: i64 = 60_000;

fn wait_until(what: &str, mut f: impl FnMut() -> bool) {
    let until = Instant::now() + LIMIT;
    while !f() {
        assert!(Instant::now() < until, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open the store")
}

fn count(path: &Path, sql: &str) -> i64 {
    read_only(path)
        .query_row(sql, [], |r| r.get(0))
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
}

fn time(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(ms as u64)
}

fn ack(id: &str, target: &str, at: SystemTime, lasts: Duration) -> Arc<Ack> {
    let target = Target::parse(target).expect("target");
    let baseline = match &target {
        Target::Node(_) => Baseline::Node(Status::Free),
        Target::Group(_) => Baseline::Group {
            status: Some(GroupStatus::MembersFree),
            members: vec![(NodeKey::new("wall-03"), Status::Free)],
        },
    };
    Arc::new(Ack {
        id: id.into(),
        target,
        by: "ops (ana)".into(),
        reason: format!("re-imaging {id}"),
        at,
        until: at + lasts,
        baseline,
    })
}

fn ended(a: &Arc<Ack>, why: AckEnd, at: SystemTime) -> AckEvent {
    AckEvent::Ended {
        ack: a.clone(),
        why,
        by: None,
        at,
    }
}

fn transition(node: &str, to: Status, at: SystemTime) -> Transition {
    Transition {
        at,
        node: NodeKey::new(node),
        group: None,
        from: Status::Pending,
        to,
        outcome: Outcome::Stale {
            silent_for: Duration::from_secs(30),
        },
    }
}

/// The schema of version 3, as that version wrote it.
const V3: &str = "
CREATE TABLE subject (
    id   INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('node', 'group')),
    name TEXT NOT NULL,
    UNIQUE (kind, name)
);
CREATE TABLE run (
    id           INTEGER PRIMARY KEY,
    started_ms   INTEGER NOT NULL,
    heartbeat_ms INTEGER NOT NULL,
    stopped_ms   INTEGER,
    version      TEXT NOT NULL
);
CREATE TABLE transition (
    at_ms   INTEGER NOT NULL,
    subject INTEGER NOT NULL REFERENCES subject (id),
    grp     INTEGER REFERENCES subject (id),
    run     INTEGER NOT NULL REFERENCES run (id),
    status  TEXT NOT NULL,
    role    TEXT,
    code    INTEGER,
    reply   TEXT,
    error   TEXT
);
CREATE INDEX transition_by_subject ON transition (subject, at_ms, status, run);
CREATE TABLE notification (
    seq        INTEGER PRIMARY KEY,
    id         TEXT NOT NULL UNIQUE,
    channel    TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    kind       TEXT NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    state      TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'given_up')),
    attempts   INTEGER NOT NULL DEFAULT 0,
    done_ms    INTEGER,
    last_error TEXT
);
CREATE INDEX notification_by_state ON notification (state, channel, seq);
CREATE TABLE notify_active (
    channel TEXT NOT NULL,
    kind    TEXT NOT NULL,
    name    TEXT NOT NULL,
    item    TEXT NOT NULL,
    PRIMARY KEY (channel, kind, name)
) WITHOUT ROWID;
PRAGMA application_id = 1397179976;
PRAGMA user_version = 3;
";

/// A version 3 file with two runs, node `a` free then synced, and a delivered
/// notification; the monitor that wrote it stopped cleanly at 100 minutes.
fn v3_file(dir: &Path) -> PathBuf {
    let path = dir.join("v3.db");
    let conn = Connection::open(&path).expect("create");
    conn.execute_batch(V3).expect("v3 schema");
    conn.execute_batch(&format!(
        "PRAGMA journal_mode = WAL;
         INSERT INTO run (id, started_ms, heartbeat_ms, stopped_ms, version)
           VALUES (1, 0, {m40}, NULL, '0.0.9'), (2, {m50}, {m100}, {m100}, '0.0.9');
         INSERT INTO subject (id, kind, name) VALUES (1, 'node', 'a');
         INSERT INTO transition (at_ms, subject, run, status, reply)
           VALUES (0, 1, 1, 'free', 'Free'), ({m60}, 1, 2, 'synced', 'Master');
         INSERT INTO notification (id, channel, created_ms, kind, title, body, state, done_ms)
           VALUES ('n1', 'ops', 5, 'firing', 'a is free', '{{}}', 'delivered', 6);
         INSERT INTO notify_active (channel, kind, name, item) VALUES ('ops', 'node', 'a', '{{}}');",
        m40 = 40 * MIN,
        m50 = 50 * MIN,
        m60 = 60 * MIN,
        m100 = 100 * MIN,
    ))
    .expect("v3 rows");
    drop(conn);
    path
}

#[test]
fn a_version_3_file_is_migrated_in_place_and_keeps_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = v3_file(dir.path());
    // Read before the migration: no acks, no maintenance, and nothing written.
    let before = std::fs::read(&path).expect("read");
    assert!(active_acks(&path).is_empty());
    let conn = schema::open_for_reading(&path).expect("read v3");
    let u = query::uptime(
        &conn,
        Window {
            from: 0,
            to: 100 * MIN,
        },
        &Filter::default(),
        200 * MIN,
    )
    .expect("uptime of a v3 file");
    assert_eq!(u.nodes[0].maintenance, 0);
    drop(conn);
    assert_eq!(
        std::fs::read(&path).expect("read"),
        before,
        "a reader wrote"
    );

    let h = History::start(&path, Duration::ZERO).expect("start on v3");
    let resume = h.take_resume();
    assert_eq!(
        resume.statuses.get("a"),
        Some(&(Status::Synced, time(60 * MIN)))
    );
    assert!(resume.acks.is_empty());
    let now = SystemTime::now();
    h.record_ack(&AckEvent::Added(ack(
        "k1",
        "a",
        now,
        Duration::from_secs(3600),
    )));
    h.stop();
    assert_eq!(count(&path, "PRAGMA user_version"), 4);
    assert_eq!(count(&path, "SELECT count(*) FROM run"), 3);
    assert_eq!(count(&path, "SELECT count(*) FROM transition"), 2);
    assert_eq!(count(&path, "SELECT count(*) FROM notification"), 1);
    assert_eq!(count(&path, "SELECT count(*) FROM notify_active"), 1);
    assert_eq!(count(&path, "SELECT count(*) FROM ack_active"), 1);
    let ok: String = read_only(&path)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(ok, "ok");
    assert_eq!(active_acks(&path).len(), 1);
}

#[test]
fn acks_given_and_ended_leave_a_log_and_nothing_in_force() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.db");
    let h = History::start(&path, Duration::ZERO).expect("start");
    let now = SystemTime::now();
    let a = ack("k1", "wall-01", now, Duration::from_secs(3600));
    let g = ack("k2", "@wall-B", now, Duration::from_secs(3600));
    h.record_ack(&AckEvent::Added(a.clone()));
    h.record_ack(&AckEvent::Added(g.clone()));
    h.record_ack(&ended(&a, AckEnd::Worse, now + Duration::from_secs(5)));
    h.record_ack(&AckEvent::Ended {
        ack: g.clone(),
        why: AckEnd::Removed,
        by: Some("night shift".into()),
        at: now + Duration::from_secs(6),
    });
    h.stop();
    assert_eq!(count(&path, "SELECT count(*) FROM ack_active"), 0);
    let conn = read_only(&path);
    let log: Vec<(String, String, String, String, String)> = conn
        .prepare("SELECT ack_id, target, event, by, baseline FROM ack_event ORDER BY id")
        .and_then(|mut q| {
            q.query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })?
            .collect()
        })
        .expect("log");
    let short: Vec<(&str, &str, &str, &str)> = log
        .iter()
        .map(|(i, t, e, b, _)| (i.as_str(), t.as_str(), e.as_str(), b.as_str()))
        .collect();
    assert_eq!(
        short,
        vec![
            ("k1", "wall-01", "ack", "ops (ana)"),
            ("k2", "@wall-B", "ack", "ops (ana)"),
            ("k1", "wall-01", "worse", "ops (ana)"),
            ("k2", "@wall-B", "unack", "night shift"),
        ]
    );
    assert_eq!(
        log[1].4,
        r#"{"kind":"group","status":"members_free","members":[{"node":"wall-03","status":"free"}]}"#
    );
    assert!(active_acks(&path).is_empty());
}

#[test]
fn the_acks_in_force_come_back_after_a_restart_expired_ones_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.db");
    let now = SystemTime::now();
    let long = ack("k1", "wall-01", now, Duration::from_secs(3600));
    // Ran out while nobody watched: the hub ends it, as `expired`, at its time.
    let short = ack(
        "k2",
        "@wall-B",
        now - Duration::from_secs(60),
        Duration::from_secs(30),
    );
    let h = History::start(&path, Duration::ZERO).expect("start");
    h.record_ack(&AckEvent::Added(long.clone()));
    h.record_ack(&AckEvent::Added(short.clone()));
    h.stop();
    let h = History::start(&path, Duration::ZERO).expect("restart");
    let mut back = h.take_resume().acks;
    back.sort_by(|a, b| a.id.cmp(&b.id));
    // Times come back to the millisecond.
    let to_ms = |a: &Ack| Ack {
        at: time(ms(a.at)),
        until: time(ms(a.until)),
        ..a.clone()
    };
    assert_eq!(back, vec![to_ms(&long), to_ms(&short)]);
    // `--once` sees only the one still in force.
    let once: Vec<String> = active_acks(&path).into_iter().map(|a| a.id).collect();
    assert_eq!(once, vec!["k1".to_owned()]);
    h.record_ack(&ended(&short, AckEnd::Expired, short.until));
    h.stop();
    let h = History::start(&path, Duration::ZERO).expect("restart");
    let back: Vec<String> = h.take_resume().acks.into_iter().map(|a| a.id).collect();
    assert_eq!(back, vec!["k1".to_owned()]);
    h.stop();
}

#[test]
fn active_acks_is_empty_for_missing_newer_foreign_and_busy_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.db");
    assert!(active_acks(&missing).is_empty());
    assert!(!missing.exists(), "a reader created the file");

    let newer = dir.path().join("newer.db");
    Connection::open(&newer)
        .and_then(|c| c.execute_batch("PRAGMA user_version = 99;"))
        .expect("newer");
    let before = std::fs::read(&newer).expect("read");
    assert!(active_acks(&newer).is_empty());
    assert_eq!(std::fs::read(&newer).expect("read"), before);

    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![0x5a; 4096]).expect("junk");
    assert!(active_acks(&junk).is_empty());

    // A file another program holds an exclusive lock on (rollback journal, so
    // readers are shut out): given up on quickly, not waited for.
    let busy = dir.path().join("busy.db");
    let h = History::start(&busy, Duration::ZERO).expect("start");
    h.record_ack(&AckEvent::Added(ack(
        "k1",
        "a",
        SystemTime::now(),
        Duration::from_secs(3600),
    )));
    h.stop();
    let locker = Connection::open(&busy).expect("open");
    locker
        .execute_batch("PRAGMA journal_mode = DELETE; BEGIN EXCLUSIVE;")
        .expect("lock");
    // Its -wal file gone with WAL mode; one beside it makes the reader honour
    // locks (a file no monitor has open is read immutable, locks ignored).
    std::fs::write(format!("{}-wal", busy.display()), b"").expect("wal");
    let started = Instant::now();
    let found = active_acks(&busy);
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "waited {:?}",
        started.elapsed()
    );
    assert!(found.is_empty(), "{found:?}");
    locker.execute_batch("COMMIT;").expect("unlock");
    // The lock was all that stood in the way.
    assert_eq!(active_acks(&busy).len(), 1);
}

#[test]
fn active_acks_reads_a_file_a_live_monitor_writes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.db");
    let h = History::start(&path, Duration::ZERO).expect("start");
    let now = SystemTime::now();
    for i in 0..50 {
        let a = ack(
            &format!("k{i}"),
            &format!("n{i}"),
            now,
            Duration::from_secs(3600),
        );
        h.record_ack(&AckEvent::Added(a.clone()));
        if i % 2 == 0 {
            h.record_ack(&ended(&a, AckEnd::Recovered, now));
        }
        h.record(&transition(&format!("n{i}"), Status::Free, now));
    }
    wait_until("the acks in force", || active_acks(&path).len() == 25);
    // The reader leaves the writer writing.
    let a = ack("late", "late", now, Duration::from_secs(3600));
    h.record_ack(&AckEvent::Added(a));
    wait_until("the late ack", || {
        active_acks(&path).iter().any(|a| a.id == "late")
    });
    h.stop();
    assert_eq!(count(&path, "SELECT count(*) FROM ack_active"), 26);
}

/// The writer the kill -9 test starts and kills: acks given and ended, windows
/// entered and left, and transitions, as fast as the queue takes them.
#[test]
#[ignore = "run by kill_9_while_acks_are_written, in a process of its own"]
fn ack_writer_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return;
    };
    let h = History::start(Path::new(&path), Duration::ZERO).expect("start");
    let now = SystemTime::now();
    for n in 0..10 {
        h.record_maintenance(
            &Target::Node(format!("node-{n}")),
            Some(Arc::from("nightly")),
            now,
        );
    }
    for i in 0u64.. {
        let at = SystemTime::now();
        let target = format!("node-{}", i % 20);
        let a = ack(&format!("k{i}"), &target, at, Duration::from_secs(3600));
        h.record_ack(&AckEvent::Added(a.clone()));
        if i % 3 == 0 {
            h.record_ack(&ended(&a, AckEnd::Recovered, at));
        }
        if i % 7 == 0 {
            let window = (i % 14 == 0).then(|| Arc::from("nightly"));
            h.record_maintenance(&Target::Group(format!("g{}", i % 5)), window, at);
        }
        h.record(&transition(&target, Status::Free, at));
        std::thread::sleep(Duration::from_micros(200));
    }
}

const CHILD_ENV: &str = "SYNCGUARD_TEST_ACK_WRITER";

/// target → ack id, replaying the log: what `ack_active` must hold.
fn replay(path: &Path) -> Vec<(String, String)> {
    let conn = read_only(path);
    let log: Vec<(String, String, String)> = conn
        .prepare("SELECT ack_id, target, event FROM ack_event ORDER BY id")
        .and_then(|mut q| {
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .expect("log");
    let mut held = std::collections::BTreeMap::new();
    for (id, target, event) in log {
        if event == "ack" {
            held.insert(target, id);
        } else if held.get(&target) == Some(&id) {
            held.remove(&target);
        }
    }
    held.into_iter().collect()
}

fn active(path: &Path) -> Vec<(String, String)> {
    read_only(path)
        .prepare("SELECT target, ack_id FROM ack_active ORDER BY target")
        .and_then(|mut q| q.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?.collect())
        .expect("active")
}

/// kill -9 while acks are written: the file is whole, `ack_active` is what the
/// log says is in force, the acks come back at the next start, and the
/// maintenance spans left open end at the killed run's last heartbeat.
#[test]
fn kill_9_while_acks_are_written() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("h.db");
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args(["ack_writer_child", "--exact", "--ignored", "--nocapture"])
        .env(CHILD_ENV, &path)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the writer");
    let mut seen = 0;
    let started = Instant::now();
    while seen < 1_000 {
        assert!(started.elapsed() < LIMIT, "only {seen} ack events written");
        std::thread::sleep(Duration::from_millis(50));
        if path.exists() {
            seen = Connection::open_with_flags(&path, OpenFlags::SQLITE_OPEN_READ_ONLY)
                .and_then(|c| c.query_row("SELECT count(*) FROM ack_event", [], |r| r.get(0)))
                .unwrap_or(0);
        }
    }
    child.kill().expect("kill -9");
    let _ = child.wait();

    let ok: String = read_only(&path)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(ok, "ok");
    let in_force = replay(&path);
    assert!(!in_force.is_empty());
    assert_eq!(active(&path), in_force, "ack_active disagrees with the log");
    assert_eq!(
        count(&path, "SELECT count(*) FROM run WHERE stopped_ms IS NULL"),
        1
    );
    assert!(
        count(
            &path,
            "SELECT count(*) FROM maintenance WHERE end_ms IS NULL"
        ) > 0
    );
    let heartbeat = count(&path, "SELECT heartbeat_ms FROM run");
    // Read without writing, beside nobody: what is in force.
    let mut once: Vec<(String, String)> = active_acks(&path)
        .into_iter()
        .map(|a| (a.target.to_string(), a.id))
        .collect();
    once.sort();
    assert_eq!(once, in_force);

    // The next start takes the file, resumes the acks and ends the open spans
    // where the killed run was last known alive.
    let h = History::start(&path, Duration::ZERO).expect("restart");
    let mut back: Vec<(String, String)> = h
        .take_resume()
        .acks
        .into_iter()
        .map(|a| (a.target.to_string(), a.id))
        .collect();
    back.sort();
    assert_eq!(back, in_force);
    h.stop();
    assert_eq!(
        count(
            &path,
            "SELECT count(*) FROM maintenance WHERE end_ms IS NULL"
        ),
        0
    );
    assert_eq!(
        count(
            &path,
            &format!("SELECT count(*) FROM maintenance WHERE run = 1 AND end_ms > {heartbeat}")
        ),
        0,
        "a span outlived its run"
    );
    assert!(
        count(
            &path,
            &format!("SELECT count(*) FROM maintenance WHERE end_ms = {heartbeat}")
        ) >= 10
    );
}

/// `uptime` with a maintenance window: an hour of node `a` (synced, free 20–40
/// minutes, synced) in maintenance 10–30, and node `b` synced throughout; the
/// monitor stops after the hour.
fn maintenance_file(dir: &Path) -> (PathBuf, i64) {
    let path = dir.join("h.db");
    let base = ms(SystemTime::now()) - 120 * MIN;
    let at = |m: i64| time(base + m * MIN);
    let h = History::start(&path, Duration::ZERO).expect("start");
    h.record(&transition("a", Status::Synced, at(0)));
    h.record(&transition("b", Status::Synced, at(0)));
    h.record_maintenance(
        &Target::Node("a".into()),
        Some(Arc::from("nightly")),
        at(10),
    );
    h.record(&transition("a", Status::Free, at(20)));
    h.record_maintenance(&Target::Node("a".into()), None, at(30));
    h.record(&transition("a", Status::Synced, at(40)));
    let k = ack("k1", "a", at(25), Duration::from_secs(3600));
    h.record_ack(&AckEvent::Added(k.clone()));
    h.record_ack(&ended(&k, AckEnd::Recovered, at(40)));
    h.stop();
    (path, base)
}

#[test]
fn uptime_takes_maintenance_out_of_the_shares() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, base) = maintenance_file(dir.path());
    let conn = schema::open_for_reading(&path).expect("read");
    let window = Window {
        from: base,
        to: base + 60 * MIN,
    };
    let u =
        query::uptime(&conn, window, &Filter::default(), ms(SystemTime::now())).expect("uptime");
    let a = u.nodes.iter().find(|e| e.name == "a").expect("a");
    // Synced 0–10 and 40–60, free 30–40 outside; 10–30 in maintenance.
    assert_eq!(a.maintenance, 20 * MIN);
    assert_eq!(a.shares.in_lock, 30 * MIN);
    assert_eq!(a.shares.out_of_lock, 10 * MIN);
    assert_eq!(a.monitored, 60 * MIN);
    assert_eq!(u.fleet.maintenance, 20 * MIN);
    assert_eq!(u.fleet.shares.monitored(), 100 * MIN);
    // The incident is still an incident: maintenance quiets people, not facts.
    assert_eq!(a.incidents.count, 1);
}

#[test]
fn the_cli_lists_acks_and_reports_maintenance_pct() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, base) = maintenance_file(dir.path());
    let from = |m: i64| syncguard_fleet::present::rfc3339(time(base + m * MIN));
    let cli = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_syncguard-fleet"))
            .args(args)
            .arg("--db")
            .arg(&path)
            .args(["--from", &from(0), "--to", &from(60)])
            .output()
            .expect("run");
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let json: serde_json::Value =
        serde_json::from_str(&cli(&["uptime", "--format", "json"])).expect("JSON");
    let a = json["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|e| e["node"] == "a"))
        .expect("a");
    assert_eq!(a["maintenance_pct"], 33.333, "{a}");
    assert_eq!(a["in_lock_pct"], 75.0, "{a}");
    assert_eq!(a["out_of_lock_pct"], 25.0, "{a}");
    assert_eq!(json["fleet"]["maintenance_pct"], 16.667, "{json}");
    let table = cli(&["uptime"]);
    assert!(
        table.contains("MAINT%") && table.contains("33.333"),
        "{table}"
    );
    let csv = cli(&["uptime", "--format", "csv"]);
    assert!(csv.contains(",maintenance_pct,"), "{csv}");

    let json: serde_json::Value =
        serde_json::from_str(&cli(&["history", "--format", "json"])).expect("JSON");
    let events: Vec<&str> = json["acks"]
        .as_array()
        .expect("acks")
        .iter()
        .filter_map(|a| a["event"].as_str())
        .collect();
    assert_eq!(events, vec!["ack", "recovered"], "{json}");
    assert_eq!(json["acks"][0]["target"], "a");
    assert_eq!(json["acks"][0]["reason"], "re-imaging k1");
    let table = cli(&["history", "--node", "a"]);
    assert!(table.contains("Acknowledgements"), "{table}");
    assert!(table.contains("\"re-imaging k1\""), "{table}");
    let other = cli(&["history", "--node", "b", "--format", "json"]);
    let other: serde_json::Value = serde_json::from_str(&other).expect("JSON");
    assert_eq!(other["acks"], serde_json::json!([]), "another node's acks");
}

#[test]
fn a_v3_and_a_v4_file_agree_on_uptime_without_maintenance() {
    // The same timeline with no windows gives the same numbers as before.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = v3_file(dir.path());
    let window = Window {
        from: 0,
        to: 100 * MIN,
    };
    let ask = |p: &Path| {
        let conn = schema::open_for_reading(p).expect("read");
        query::uptime(&conn, window, &Filter::default(), 200 * MIN).expect("uptime")
    };
    let before = ask(&path);
    drop(schema::open_for_writing(&path).expect("migrate"));
    let after = ask(&path);
    assert_eq!(before, after);
    let conn = read_only(&path);
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .expect("version");
    assert_eq!(version, 4);
}

/// `watch` with a one-off window over node `a` records it, and `uptime` says
/// `a` spent all its monitored time in maintenance and `b` none.
#[test]
fn watch_records_a_maintenance_window_and_uptime_reports_it() {
    use common::bin::{json_events, transitions_of, watch};
    let lab = common::lab::Lab::new(&[("a", "synced", None), ("b", "free", None)]);
    let stamp = |t: SystemTime| syncguard_fleet::present::rfc3339(t);
    let now = SystemTime::now();
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[defaults]\ninterval = \"300ms\"\nmax_interval = \"400ms\"\n{}\n\
             [[maintenance]]\nname = \"rehearsal\"\nnodes = [\"a\"]\n\
             start = \"{}\"\nend = \"{}\"\n",
            lab.nodes_toml(&["a", "b"]),
            stamp(now - Duration::from_secs(3600)),
            stamp(now + Duration::from_secs(3600)),
        ),
    );
    let db = lab.path("history.db");
    let child = watch(&config, &["--history", db.to_str().expect("utf-8 path")]);
    child.wait_for(LIMIT, "every first result", |out, _| {
        let ev = json_events(out);
        ["a", "b"]
            .iter()
            .all(|n| !transitions_of(&ev, n).is_empty())
    });
    std::thread::sleep(Duration::from_millis(1000));
    let _ = child.stop();
    let stopped = count(&db, "SELECT stopped_ms FROM run");
    let conn = read_only(&db);
    let spans: Vec<(String, String, Option<i64>)> = conn
        .prepare(
            "SELECT s.name, m.window, m.end_ms FROM maintenance m \
             JOIN subject s ON s.id = m.subject",
        )
        .and_then(|mut q| {
            q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect()
        })
        .expect("spans");
    assert_eq!(
        spans,
        vec![("a".to_owned(), "rehearsal".to_owned(), Some(stopped))]
    );
    let out = Command::new(env!("CARGO_BIN_EXE_syncguard-fleet"))
        .args(["uptime", "--since", "1h", "--format", "json", "--db"])
        .arg(&db)
        .output()
        .expect("uptime");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let u: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let node = |name: &str| {
        u["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|e| e["node"] == name))
            .unwrap_or_else(|| panic!("no {name} in {u:#}"))
            .clone()
    };
    let (a, b) = (node("a"), node("b"));
    assert_eq!(a["maintenance_pct"], 100.0, "{a}");
    assert_eq!(a["in_lock_pct"], serde_json::Value::Null, "{a}");
    assert_eq!(b["maintenance_pct"], 0.0, "{b}");
    assert_eq!(b["out_of_lock_pct"], 100.0, "{b}");
}

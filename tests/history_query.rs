//! `history` and `uptime` with the real binary on files a real `watch` wrote:
//! restart continuity across a kill -9, readers beside a writer, sync-group
//! incidents, retention at start, a read-only file, and every bad input.

mod common;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rusqlite::Connection;
use rustix::process::Signal;

use common::bin::{Run, assert_code, bin, json_events, run, transitions_of, watch};
use common::lab::Lab;
use common::wait_until;

const LIMIT: Duration = Duration::from_secs(15);
const FAST: &str = "[defaults]\ninterval = \"300ms\"\nmax_interval = \"400ms\"\n";

/// `history`/`uptime` on `db` with `args`, as JSON, exit 0.
fn query(command: &str, db: &Path, args: &[&str]) -> serde_json::Value {
    let r = run(bin()
        .arg(command)
        .arg("--db")
        .arg(db)
        .args(["--format", "json"])
        .args(args));
    assert_code(&r, 0);
    serde_json::from_str(&r.stdout).unwrap_or_else(|e| panic!("{e}: {}", r.stdout))
}

/// `watch --history DB` (with `extra` flags) on `config`, once every node in
/// `nodes` has had its first result.
fn watch_heard(config: &Path, db: &Path, nodes: &[&str]) -> common::bin::Proc {
    let child = watch(config, &["--history", db.to_str().expect("utf-8 path")]);
    child.wait_for(LIMIT, "every first result", |out, _| {
        let ev = json_events(out);
        nodes.iter().all(|n| !transitions_of(&ev, n).is_empty())
    });
    child
}

/// A lab with node `a` in lock and `b` out of lock, its fleet file (polled
/// fast) and the history file's path.
fn synced_a_free_b() -> (Lab, std::path::PathBuf, std::path::PathBuf) {
    let lab = Lab::new(&[("a", "synced", None), ("b", "free", None)]);
    let config = lab.write(
        "fleet.toml",
        &format!("{FAST}{}", lab.nodes_toml(&["a", "b"])),
    );
    let db = lab.path("history.db");
    (lab, config, db)
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn ms_of(rfc3339: &serde_json::Value) -> i64 {
    let s = rfc3339.as_str().expect("a time");
    s.parse::<jiff::Timestamp>()
        .expect("RFC 3339")
        .as_millisecond()
}

/// A node free before a kill -9 and after the restart has one incident, not two;
/// the crash is a monitor gap; the healthy node is 100% in lock of its monitored
/// time, and the time between the crash and the restart is not monitored.
#[test]
fn a_restart_continues_the_incident_and_the_crash_is_a_gap() {
    let (_lab, config, db) = synced_a_free_b();
    let child = watch_heard(&config, &db, &["a", "b"]);
    // Let a heartbeat or two land, then die without a word.
    std::thread::sleep(Duration::from_millis(1500));
    child.signal(Signal::KILL);
    let _ = child.finish(LIMIT);
    let killed_at = now_ms();
    std::thread::sleep(Duration::from_millis(1500));
    let _ = watch_heard(&config, &db, &["a", "b"]).stop();

    let h = query("history", &db, &["--since", "1h"]);
    let incidents = h["incidents"].as_array().expect("incidents");
    assert_eq!(incidents.len(), 1, "one incident for b: {h:#}");
    let b = &incidents[0];
    assert_eq!(b["node"], "b");
    assert_eq!(b["statuses"], serde_json::json!(["free"]));
    assert_eq!(b["first_reply"], "Free");
    let start = ms_of(&b["start"]);
    assert!(
        start < killed_at,
        "the incident began before the crash: {b}"
    );
    let gaps = h["monitor_gaps"].as_array().expect("gaps");
    // The crash, and the time since the clean stop (no monitor runs now).
    assert_eq!(gaps.len(), 2, "{h:#}");
    assert_eq!(gaps[0]["after"], "crash");
    let (gap_from, gap_to) = (ms_of(&gaps[0]["start"]), ms_of(&gaps[0]["end"]));
    assert!(gap_from <= killed_at && gap_to >= killed_at, "{h:#}");
    assert!(gap_to - gap_from >= 1500, "the gap covers the pause: {h:#}");
    assert_eq!(gaps[1]["after"], "stop");
    assert_eq!(gaps[1]["end"], serde_json::Value::Null);
    // Still free when the second monitor stopped, and nobody watches it since:
    // known until that stop, not "open" for ever.
    assert_eq!(b["open"], false, "{b}");
    assert_eq!(b["end"], gaps[1]["start"], "{h:#}");
    assert!(
        ms_of(&b["end"]) - start >= 3000,
        "one incident across the crash: {b}"
    );

    let u = query("uptime", &db, &["--since", "1h"]);
    let node = |name: &str| {
        u["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|e| e["node"] == name))
            .unwrap_or_else(|| panic!("no {name} in {u:#}"))
            .clone()
    };
    let a = node("a");
    assert_eq!(a["in_lock_pct"], 100.0, "{a}");
    assert_eq!(a["incidents"], 0);
    let b = node("b");
    assert_eq!(b["out_of_lock_pct"], 100.0, "{b}");
    assert_eq!(b["incidents"], 1);
    assert!(b["mttr_s"].as_f64().is_some_and(|s| s >= 3.0), "{b}");
    // Monitors ran a few seconds of the hour; b's status was known for less
    // (pending at each start and the gap are not monitored time).
    let fleet_monitored = u["fleet"]["monitored_pct"].as_f64().expect("pct");
    let b_observed = b["observed_pct"].as_f64().expect("pct");
    assert!(fleet_monitored > 0.0 && fleet_monitored < 1.0, "{u:#}");
    assert_eq!(b["monitored_pct"].as_f64(), Some(fleet_monitored), "{u:#}");
    assert!(b_observed > 0.0 && b_observed < fleet_monitored, "{u:#}");
}

/// A node taken out of the config by a reload is no longer watched: its incident
/// ends at the reload and its time after it is not monitored.
#[test]
fn a_node_removed_by_a_reload_stops_being_counted() {
    let (lab, config, db) = synced_a_free_b();
    let child = watch_heard(&config, &db, &["a", "b"]);
    lab.write("fleet.toml", &format!("{FAST}{}", lab.nodes_toml(&["a"])));
    child.signal(Signal::HUP);
    let removed = || -> i64 {
        Connection::open(&db)
            .and_then(|c| {
                c.query_row(
                    "SELECT count(*) FROM transition t JOIN subject s ON s.id = t.subject \
                     WHERE s.name = 'b' AND t.status = 'removed'",
                    [],
                    |r| r.get(0),
                )
            })
            .unwrap_or(0)
    };
    assert!(
        wait_until(LIMIT, || removed() == 1),
        "no removal recorded\n{}",
        child.stderr()
    );
    std::thread::sleep(Duration::from_millis(1500));
    let h = query("history", &db, &["--node", "b"]);
    let b = &h["incidents"][0];
    assert_eq!(b["open"], false, "{h:#}");
    let u = query(
        "uptime",
        &db,
        &["--since", "5m", "--node", "a", "--node", "b"],
    );
    let observed = |name: &str| {
        u["nodes"]
            .as_array()
            .and_then(|n| n.iter().find(|e| e["node"] == name))
            .and_then(|e| e["observed_pct"].as_f64())
            .unwrap_or_else(|| panic!("no {name} in {u:#}"))
    };
    assert!(observed("b") < observed("a"), "{u:#}");
    let _ = child.stop();
}

/// A sync group that loses its Master is recorded as a group incident with the
/// problem in words.
#[test]
fn a_group_without_a_master_is_a_group_incident() {
    let lab = Lab::new(&[
        ("m", "state1", Some("wall-A")),
        ("s", "state1", Some("wall-A")),
    ]);
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}{}{}",
            lab.node_toml("m", "group = \"wall-A\""),
            lab.node_toml("s", "group = \"wall-A\"")
        ),
    );
    let db = lab.path("history.db");
    let _ = watch_heard(&config, &db, &["m", "s"]).stop();
    let h = query("history", &db, &["--group", "wall-A"]);
    let incidents = h["incidents"].as_array().expect("incidents");
    assert_eq!(incidents.len(), 1, "{h:#}");
    let g = &incidents[0];
    assert_eq!(g["node"], serde_json::Value::Null);
    assert_eq!(g["group"], "wall-A");
    assert_eq!(g["statuses"], serde_json::json!(["no_master"]));
    assert_eq!(g["first_error"], "no master");
    let u = query("uptime", &db, &["--group", "wall-A"]);
    assert_eq!(u["groups"][0]["group"], "wall-A");
    assert_eq!(u["groups"][0]["out_of_lock_pct"], 100.0, "{u:#}");
    // The members are both in lock: a Slave is healthy on its own.
    assert_eq!(u["nodes"].as_array().map(Vec::len), Some(2), "{u:#}");
    assert_eq!(u["nodes"][0]["in_lock_pct"], 100.0, "{u:#}");
}

/// `history` and `uptime` answer while a monitor writes a storm into the file.
#[test]
fn readers_answer_while_a_monitor_writes() {
    let lab = Lab::with_flap(
        &[
            ("f1", "flap", None),
            ("f2", "flap", None),
            ("f3", "flap", None),
            ("f4", "flap", None),
        ],
        Duration::from_millis(200),
    );
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[defaults]\ninterval = \"100ms\"\nmax_interval = \"150ms\"\n{}",
            lab.nodes_toml(&["f1", "f2", "f3", "f4"])
        ),
    );
    let db = lab.path("history.db");
    let child = watch_heard(&config, &db, &["f1", "f2", "f3", "f4"]);
    // Recorded within a second of being printed.
    std::thread::sleep(Duration::from_millis(1000));
    let mut last = 0;
    for _ in 0..5 {
        let h = query("history", &db, &["--since", "10m"]);
        let n = h["incidents"].as_array().map_or(0, Vec::len);
        assert!(n >= last, "incidents went from {last} to {n}");
        last = n;
        let u = query("uptime", &db, &["--since", "10m", "--node", "f1"]);
        assert_eq!(u["nodes"].as_array().map(Vec::len), Some(1), "{u:#}");
        std::thread::sleep(Duration::from_millis(300));
    }
    assert!(last > 0, "no incident seen while flapping");
    let _ = child.stop();
}

/// Rows older than `[history] retention` are pruned when the monitor starts,
/// except each node's last row before the cut (its status at the window start).
#[test]
fn retention_prunes_old_rows_but_keeps_the_last_status() {
    let lab = Lab::new(&[("a", "synced", None)]);
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}[history]\npath = \"history.db\"\nretention = \"1d\"\n{}",
            lab.nodes_toml(&["a"])
        ),
    );
    let db = lab.path("history.db");
    let child = watch(&config, &[]);
    child.wait_for(LIMIT, "a's first result", |out, _| {
        !transitions_of(&json_events(out), "a").is_empty()
    });
    let _ = child.stop();
    let day = 86_400_000;
    let old = now_ms() - 10 * day;
    // What a monitor wrote long ago: a flapped 10 days ago, and once 3 days ago.
    {
        let c = Connection::open(&db).expect("open");
        let sql = format!(
            "INSERT INTO run (id, started_ms, heartbeat_ms, stopped_ms, version) \
               VALUES (100, {old}, {old} + 1000000, {old} + 1000000, 'old');
             WITH RECURSIVE k(value) AS (SELECT 0 UNION ALL SELECT value + 1 FROM k WHERE value < 99)
             INSERT INTO transition (at_ms, subject, run, status, reply)
               SELECT {old} + value * 1000, (SELECT id FROM subject WHERE name = 'a'), 100,
                      CASE value % 2 WHEN 0 THEN 'free' ELSE 'synced' END, 'old'
               FROM k;
             INSERT INTO transition (at_ms, subject, run, status, reply)
               VALUES ({old} + 7 * {day}, (SELECT id FROM subject WHERE name = 'a'), 100, 'free', 'last old');"
        );
        c.execute_batch(&sql).expect("old rows");
    }
    let count = |sql: &str| -> i64 {
        Connection::open(&db)
            .and_then(|c| c.query_row(sql, [], |r| r.get(0)))
            .expect("count")
    };
    assert_eq!(
        count("SELECT count(*) FROM transition WHERE reply LIKE '%old'"),
        101
    );
    let child = watch(&config, &[]);
    assert!(
        wait_until(LIMIT, || count(
            "SELECT count(*) FROM transition WHERE reply LIKE '%old'"
        ) == 1),
        "old rows not pruned\n{}",
        child.stderr()
    );
    let _ = child.stop();
    assert_eq!(
        count("SELECT count(*) FROM transition WHERE reply = 'last old'"),
        1,
        "the last status before the cut is kept"
    );
}

/// A file the monitor may not write: it warns, keeps watching, and once the file
/// is writable again, writes what it kept.
#[cfg(unix)]
#[test]
fn a_read_only_file_warns_keeps_watching_and_catches_up() {
    use std::os::unix::fs::PermissionsExt;
    let (lab, config, _) = synced_a_free_b();
    let dir = lab.path("ro");
    std::fs::create_dir(&dir).expect("dir");
    let db = dir.join("history.db");
    // A valid history file, then read-only (and its directory, so SQLite cannot
    // make its WAL files either). Root writes whatever the mode says, so as root
    // the monitor runs as nobody.
    let _ = watch_heard(&config, &db, &["a", "b"]).stop();
    // The monitor must be able to take the lock: writable by anyone.
    let lock = dir.join("history.db.lock");
    std::fs::set_permissions(&lock, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let root = rustix::process::geteuid().is_root();
    if root {
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        for p in [lab.dir.path(), &dir] {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        }
    } else {
        std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o444)).expect("chmod");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o555)).expect("chmod");
    }
    let before: i64 = Connection::open(&db)
        .and_then(|c| c.query_row("SELECT count(*) FROM transition", [], |r| r.get(0)))
        .expect("count");
    let mut cmd = if root {
        // A copy of the binary in the lab (0755), which nobody can run wherever
        // the build directory is.
        let copy = lab.path("syncguard-fleet");
        std::fs::copy(common::bin::BIN, &copy).expect("copy the binary");
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(&copy);
        c.env("XDG_STATE_HOME", "/tmp").env("NO_COLOR", "1");
        c
    } else {
        bin()
    };
    cmd.arg("--config")
        .arg(&config)
        .args(["--history", db.to_str().expect("utf-8 path")])
        .args(["watch", "--events", "json"]);
    let child = common::bin::Proc::spawn(&mut cmd);
    child.wait_for(LIMIT, "a warning and monitoring anyway", |out, err| {
        err.contains("history: cannot write") && json_events(out).len() >= 2
    });
    // Writable again: the records kept are written at the next retry.
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o666)).expect("chmod");
    let count = || -> i64 {
        Connection::open(&db)
            .and_then(|c| c.query_row("SELECT count(*) FROM transition", [], |r| r.get(0)))
            .unwrap_or(0)
    };
    assert!(
        wait_until(Duration::from_secs(20), || count() >= before + 2),
        "the kept records were not written\n{}",
        child.stderr()
    );
    let _ = child.stop();
}

fn assert_refused(r: &Run, says: &str) {
    assert_code(r, 3);
    assert!(r.stderr.contains(says), "wanted {says:?} in:\n{}", r.stderr);
}

#[test]
fn bad_files_and_bad_windows_exit_3_and_touch_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = dir.path().join("missing.db");
    for command in ["history", "uptime"] {
        let r = run(bin().arg(command).arg("--db").arg(&missing));
        assert_refused(&r, "history database not found");
        assert!(!missing.exists(), "{command} created the file");
    }
    let corrupt = dir.path().join("corrupt.db");
    let junk: Vec<u8> = (0..16_384u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(&corrupt, &junk).expect("write");
    for command in ["history", "uptime"] {
        let r = run(bin().arg(command).arg("--db").arg(&corrupt));
        assert_refused(&r, "not an SQLite database");
    }
    assert_eq!(std::fs::read(&corrupt).expect("read"), junk, "file changed");
    assert!(!dir.path().join("corrupt.db-wal").exists());

    // A real (empty) history file for the window errors.
    let lab = Lab::new(&[("a", "synced", None)]);
    let config = lab.write("fleet.toml", &format!("{FAST}{}", lab.nodes_toml(&["a"])));
    let db = lab.path("history.db");
    let _ = watch_heard(&config, &db, &["a"]).stop();
    for (args, says) in [
        (vec!["--since", "5x"], "5x"),
        (vec!["--since", "0s"], "more than zero"),
        (vec!["--from", "yesterday"], "yesterday"),
        (
            vec!["--from", "2026-13-01T00:00:00Z"],
            "2026-13-01T00:00:00Z",
        ),
        (
            vec![
                "--from",
                "2026-11-30T10:00:00Z",
                "--to",
                "2026-11-30T09:00:00Z",
            ],
            "is not before to ",
        ),
        (vec!["--node", "nobody"], "no node named \"nobody\""),
        (vec!["--group", "wall-Z"], "no sync group named \"wall-Z\""),
        (vec!["--format", "nagios"], "--format nagios is for --once"),
    ] {
        let r = run(bin().arg("history").arg("--db").arg(&db).args(&args));
        assert_refused(&r, says);
    }
    let r = run(bin().arg("history").arg("--db").arg(&db).args([
        "--from",
        "2026-11-30T10:00:00Z",
        "--to",
        "soon",
    ]));
    assert_refused(&r, "soon");
    // Without --db it reads the file the fleet file's monitor writes.
    let with_path = lab.write(
        "with-path.toml",
        &format!(
            "{FAST}[history]\npath = \"history.db\"\n{}",
            lab.nodes_toml(&["a"])
        ),
    );
    let r = run(bin()
        .arg("--config")
        .arg(&with_path)
        .args(["uptime", "--format", "csv"]));
    assert_code(&r, 0);
    assert!(
        r.stdout.starts_with("kind,name,group,in_lock_pct"),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains("\r\nnode,a,,100,0,0,"), "{}", r.stdout);
}

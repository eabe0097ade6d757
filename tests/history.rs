//! The history store with the real binary and real SQLite files: what `watch`
//! records, a clean stop against a kill -9, one writer per file, and the runs that
//! never write.

mod common;

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use rustix::process::Signal;

use common::bin::{assert_code, bin, json_events, run, transitions_of, watch};
use common::lab::Lab;
use common::wait_until;

const LIMIT: Duration = Duration::from_secs(15);
const FAST: &str = "[defaults]\ninterval = \"300ms\"\nmax_interval = \"400ms\"\n";

fn read_only(path: &Path) -> Connection {
    Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY).expect("open the store")
}

/// (node, status, reply, error) of every recorded transition, in order.
fn recorded(path: &Path) -> Vec<(String, String, Option<String>, Option<String>)> {
    let db = read_only(path);
    let mut q = db
        .prepare(
            "SELECT s.name, t.status, t.reply, t.error FROM transition t \
             JOIN subject s ON s.id = t.subject ORDER BY t.rowid",
        )
        .expect("query");
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

/// (started, heartbeat, stopped) of every run, oldest first.
fn runs(path: &Path) -> Vec<(i64, i64, Option<i64>)> {
    let db = read_only(path);
    let mut q = db
        .prepare("SELECT started_ms, heartbeat_ms, stopped_ms FROM run ORDER BY id")
        .expect("query");
    q.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
}

/// A simulator process with `n` nodes flapping every `period`, and a fleet file
/// that polls them every `interval` (to 1.5 times that); the simulator stops when
/// the returned process is dropped.
fn flapping_fleet(
    lab: &Lab,
    n: usize,
    period: &str,
    interval: &str,
) -> (common::bin::Proc, std::path::PathBuf) {
    let sim_config = lab.path("sim.toml");
    let sim = common::bin::Proc::spawn(
        bin()
            .args([
                "sim",
                &format!("flap={n}"),
                "--flap-period",
                period,
                "--write-config",
            ])
            .arg(&sim_config),
    );
    let last = format!("flap-{n:02}");
    assert!(
        wait_until(LIMIT, || std::fs::read_to_string(&sim_config)
            .is_ok_and(|t| t.contains(&last))),
        "the simulator wrote no config"
    );
    let nodes = std::fs::read_to_string(&sim_config).expect("sim config");
    let every = humantime::parse_duration(interval).expect("interval");
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[defaults]\ninterval = \"{interval}\"\nmax_interval = \"{}ms\"\n{nodes}",
            every.as_millis() * 3 / 2
        ),
    );
    (sim, config)
}

#[test]
fn watch_records_shown_transitions_and_a_clean_stop() {
    let lab = Lab::new(&[("a", "synced", None), ("b", "free", None)]);
    let config = lab.write(
        "fleet.toml",
        &format!("{FAST}{}", lab.nodes_toml(&["a", "b"])),
    );
    let db = lab.path("history.db");
    let child = watch(&config, &["--history", db.to_str().expect("utf-8 path")]);
    child.wait_for(LIMIT, "both first results", |out, _| {
        let ev = json_events(out);
        !transitions_of(&ev, "a").is_empty() && !transitions_of(&ev, "b").is_empty()
    });
    let (stdout, _) = child.stop();
    let mut rows = recorded(&db);
    rows.sort();
    assert_eq!(
        rows,
        vec![
            ("a".into(), "synced".into(), Some("Synced".into()), None),
            ("b".into(), "free".into(), Some("Free".into()), None),
        ],
        "printed: {stdout}"
    );
    let r = runs(&db);
    assert_eq!(r.len(), 1, "{r:?}");
    let (started, beat, stopped) = r[0];
    assert!(stopped.is_some_and(|s| s >= started && s == beat), "{r:?}");
    // The lock file is left, unlocked; the database is whole.
    let ok: String = read_only(&db)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(ok, "ok");
}

/// kill -9 while nodes flap: the file stays whole, what a reader saw committed is
/// still there, the run shows no clean stop (a gap from its last heartbeat), and a
/// restart adds a run and goes on writing.
#[test]
fn kill_9_in_a_storm_keeps_every_committed_transition() {
    let lab = Lab::new(&[]);
    let (sim, config) = flapping_fleet(&lab, 40, "300ms", "100ms");
    let db = lab.path("history.db");
    let db_arg = db.to_str().expect("utf-8 path");
    let child = watch(&config, &["--history", db_arg]);
    let mut seen = 0usize;
    assert!(
        wait_until(LIMIT, || {
            seen = if db.exists() { recorded(&db).len() } else { 0 };
            seen >= 200
        }),
        "only {seen} transitions recorded"
    );
    // What a reader sees now is committed; the kill comes in the middle of more.
    let committed = recorded(&db);
    child.signal(Signal::KILL);
    let _ = child.finish(LIMIT);
    let after = recorded(&db);
    assert!(
        after.len() >= committed.len(),
        "{} < {}",
        after.len(),
        committed.len()
    );
    assert_eq!(
        &after[..committed.len()],
        &committed[..],
        "committed rows changed"
    );
    let ok: String = read_only(&db)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(ok, "ok");
    let r = runs(&db);
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].2, None, "a killed run has no clean stop: {r:?}");

    // A restart takes the file (the lock died with the process) and writes on.
    let child = watch(&config, &["--history", db_arg]);
    let before = after.len();
    assert!(
        wait_until(LIMIT, || recorded(&db).len() >= before + 40),
        "the restarted monitor does not write"
    );
    let _ = child.stop();
    drop(sim);
    let r = runs(&db);
    assert_eq!(r.len(), 2, "{r:?}");
    let (gap_from, gap_to) = (r[0].1, r[1].0);
    assert!(
        gap_from <= gap_to,
        "the gap runs from the last heartbeat to the restart: {r:?}"
    );
    assert!(r[1].2.is_some(), "the second run stopped cleanly: {r:?}");
}

#[test]
fn a_second_watch_on_the_same_file_exits_3_naming_the_first() {
    let lab = Lab::new(&[("a", "synced", None)]);
    let config = lab.write("fleet.toml", &format!("{FAST}{}", lab.nodes_toml(&["a"])));
    let db = lab.path("history.db");
    let db_arg = db.to_str().expect("utf-8 path");
    let first = watch(&config, &["--history", db_arg]);
    first.wait_for(LIMIT, "a's first result", |out, _| {
        !transitions_of(&json_events(out), "a").is_empty()
    });
    let second = run(bin()
        .arg("--config")
        .arg(&config)
        .args(["--history", db_arg, "watch"]));
    assert_code(&second, 3);
    assert!(
        second
            .stderr
            .contains("history database is in use by another monitor")
            && second.stderr.contains(&format!("pid {}", first.pid())),
        "{}",
        second.stderr
    );
    let _ = first.stop();
}

#[test]
fn once_and_no_history_write_nothing_and_a_newer_file_is_refused_untouched() {
    let lab = Lab::new(&[("a", "synced", None)]);
    let config = lab.write("fleet.toml", &format!("{FAST}{}", lab.nodes_toml(&["a"])));
    let db = lab.path("history.db");
    let db_arg = db.to_str().expect("utf-8 path");
    // --once never writes, even when told where.
    let r = run(bin()
        .arg("--config")
        .arg(&config)
        .args(["--history", db_arg, "--once"]));
    assert_code(&r, 0);
    assert!(!db.exists(), "--once created the store");
    // --no-history, and [history] enabled = false.
    let off = lab.write(
        "off.toml",
        &format!(
            "{FAST}[history]\nenabled = false\npath = \"history.db\"\n{}",
            lab.nodes_toml(&["a"])
        ),
    );
    for (cfg, extra) in [(&config, vec!["--no-history"]), (&off, vec![])] {
        let child = watch(cfg, &extra);
        child.wait_for(LIMIT, "a's first result", |out, _| {
            !transitions_of(&json_events(out), "a").is_empty()
        });
        let _ = child.stop();
    }
    assert!(!db.exists(), "history was written while off");

    // A file from a newer version: refused with its version, not rewritten.
    Connection::open(&db)
        .and_then(|c| c.execute_batch("PRAGMA user_version = 7;"))
        .expect("newer file");
    let before = std::fs::read(&db).expect("read");
    let r = run(bin()
        .arg("--config")
        .arg(&config)
        .args(["--history", db_arg, "watch"]));
    assert_code(&r, 3);
    assert!(
        r.stderr.contains("schema version 7, newer than"),
        "{}",
        r.stderr
    );
    assert_eq!(
        std::fs::read(&db).expect("read"),
        before,
        "the newer file changed"
    );
}

/// `[history] path` relative to the fleet file, wherever the monitor starts.
#[test]
fn a_relative_history_path_is_beside_the_fleet_file() {
    let lab = Lab::new(&[("a", "synced", None)]);
    let config = lab.write(
        "fleet.toml",
        &format!(
            "{FAST}[history]\npath = \"data/h.db\"\n{}",
            lab.nodes_toml(&["a"])
        ),
    );
    let elsewhere = tempfile::tempdir().expect("tempdir");
    let child = common::bin::Proc::spawn(
        bin()
            .current_dir(elsewhere.path())
            .arg("--config")
            .arg(&config)
            .args(["watch", "--events", "json"]),
    );
    child.wait_for(LIMIT, "a's first result", |out, _| {
        !transitions_of(&json_events(out), "a").is_empty()
    });
    let _ = child.stop();
    let db = lab.path("data/h.db");
    assert_eq!(recorded(&db).len(), 1);
    assert!(!elsewhere.path().join("data").exists());
}

/// Another connection holds the file's write lock longer than the writer waits:
/// writes fail, `/metrics` and the log say so, monitoring goes on, and when the
/// lock is released the backlog is written with nothing dropped.
#[test]
fn a_locked_file_delays_writes_but_loses_nothing() {
    use common::net::{free_port, http_get};
    let lab = Lab::new(&[]);
    let (sim, config) = flapping_fleet(&lab, 10, "500ms", "200ms");
    let db = lab.path("history.db");
    let port = free_port();
    let child = watch(
        &config,
        &[
            "--history",
            db.to_str().expect("utf-8 path"),
            "--metrics",
            &format!("127.0.0.1:{port}"),
        ],
    );
    let metric = |name: &str| -> Option<f64> {
        let body = http_get(port, "/metrics")?;
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
    };
    assert!(
        wait_until(LIMIT, || metric("syncguard_history_written_total")
            .is_some_and(|n| n >= 10.0)),
        "nothing written"
    );
    // Hold the write lock past the writer's 5 s wait.
    let blocker = Connection::open(&db).expect("open");
    blocker.execute_batch("BEGIN EXCLUSIVE;").expect("lock");
    assert!(
        wait_until(Duration::from_secs(20), || metric(
            "syncguard_history_write_ok"
        ) == Some(0.0)),
        "a failing write is not reported"
    );
    let printed = json_events(&child.stdout()).len();
    assert!(
        wait_until(LIMIT, || json_events(&child.stdout()).len() >= printed + 5),
        "monitoring stopped while the store could not write"
    );
    blocker.execute_batch("ROLLBACK;").expect("unlock");
    assert!(
        wait_until(Duration::from_secs(20), || metric(
            "syncguard_history_write_ok"
        ) == Some(1.0)),
        "writes did not resume"
    );
    let dropped = metric("syncguard_history_dropped_total");
    let (stdout, stderr) = child.stop();
    drop(sim);
    assert_eq!(dropped, Some(0.0));
    assert!(stderr.contains("history: cannot write"), "{stderr}");
    // Every transition printed is in the store, in order.
    let printed: Vec<(String, String)> = json_events(&stdout)
        .iter()
        .map(|e| {
            (
                e["node"].as_str().unwrap_or_default().to_owned(),
                e["status"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect();
    let stored: Vec<(String, String)> = recorded(&db)
        .into_iter()
        .map(|(node, status, _, _)| (node, status))
        .collect();
    assert_eq!(stored, printed);
}

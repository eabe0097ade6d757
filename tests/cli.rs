//! End-to-end tests of the `syncguard-fleet` binary: exit codes, output formats,
//! config errors and the demo. Simulated nodes run in this process on 127.0.0.1;
//! the binary connects only to them.

mod common;

use std::path::Path;
use std::time::Duration;

use serde_json::Value;
use syncguard_fleet::config::ENV_VAR;

use common::bin::{LIMIT, assert_code, bin, once, read_to_string, run, wait_bounded};
use common::lab::{Lab, write};

const FAST: &str = "timeout = \"1s\"";
const FAST_WARN: &str = "timeout = \"1s\"\nunreachable = \"warning\"";

#[test]
fn all_synced_exits_0() {
    let lab = Lab::new(&[
        ("a", "synced", None),
        ("b", "state1", None),
        ("c", "state2", None),
    ]);
    let r = once(&lab.fleet("f.toml", FAST), &[]);
    assert_code(&r, 0);
    assert!(r.stdout.contains("3 nodes · 3 synced — OK"), "{}", r.stdout);
    assert!(r.stderr.is_empty(), "{}", r.stderr);
}

#[test]
fn free_node_exits_2() {
    let lab = Lab::new(&[("a", "synced", None), ("b", "free", None)]);
    let r = once(&lab.fleet("f.toml", FAST), &[]);
    assert_code(&r, 2);
    assert!(r.stdout.contains("CRITICAL"), "{}", r.stdout);
}

#[test]
fn free_node_exits_2_even_under_warning_policy() {
    let lab = Lab::new(&[("a", "synced", None), ("b", "free", None)]);
    let r = once(&lab.fleet("f.toml", FAST_WARN), &[]);
    assert_code(&r, 2);
}

#[test]
fn timeout_exits_2_by_default() {
    let lab = Lab::new(&[("a", "synced", None), ("b", "silent", None)]);
    let r = once(&lab.fleet("f.toml", FAST), &[]);
    assert_code(&r, 2);
    assert!(r.stdout.contains("no reply within 1s"), "{}", r.stdout);
    assert!(r.took < Duration::from_secs(5), "took {:?}", r.took);
}

#[test]
fn timeout_exits_1_under_warning_policy() {
    let lab = Lab::new(&[("a", "synced", None), ("b", "silent", None)]);
    let r = once(&lab.fleet("f.toml", FAST_WARN), &[]);
    assert_code(&r, 1);
    assert!(r.stdout.contains("WARNING"), "{}", r.stdout);
}

#[test]
fn free_and_timeout_exit_2_under_warning_policy() {
    let lab = Lab::new(&[
        ("a", "synced", None),
        ("b", "free", None),
        ("c", "silent", None),
    ]);
    let r = once(&lab.fleet("f.toml", FAST_WARN), &[]);
    assert_code(&r, 2);
}

fn keys(v: &Value) -> Vec<&str> {
    let mut k: Vec<&str> = v
        .as_object()
        .expect("a JSON object")
        .keys()
        .map(String::as_str)
        .collect();
    k.sort_unstable();
    k
}

fn sorted<'a>(list: &[&'a str]) -> Vec<&'a str> {
    let mut v = list.to_vec();
    v.sort_unstable();
    v
}

#[test]
fn json_report_has_fixed_keys_and_right_values() {
    let lab = Lab::new(&[
        ("ok", "synced", Some("wall-A")),
        ("out", "free", Some("wall-A")),
        ("master", "state2", Some("wall-B")),
        ("broken", "state0", None),
        ("mute", "silent", None),
        ("gone", "refused", None),
        ("junk", "garbage", None),
    ]);
    let before = jiff::Timestamp::now();
    let r = once(&lab.fleet("f.toml", FAST), &["--format", "json"]);
    assert_code(&r, 2);
    let doc: Value = serde_json::from_str(&r.stdout).expect("stdout is one JSON document");

    // The five documented keys, plus `groups` and `unlisted` (sync groups and push
    // senders in no node list), which the listen-mode work added.
    assert_eq!(
        keys(&doc),
        sorted(&[
            "checked_at",
            "exit_code",
            "verdict",
            "summary",
            "nodes",
            "groups",
            "unlisted"
        ])
    );
    assert_eq!(
        doc["unlisted"],
        Value::Array(Vec::new()),
        "no push senders here"
    );
    assert_eq!(doc["exit_code"], Value::from(r.code));
    assert_eq!(doc["verdict"], "CRITICAL");
    let checked_at = doc["checked_at"].as_str().expect("checked_at is a string");
    let checked_at: jiff::Timestamp = checked_at.parse().expect("RFC 3339 time");
    let skew = checked_at.duration_since(before).as_secs();
    assert!((-5..=30).contains(&skew), "checked_at {checked_at}");

    let summary = &doc["summary"];
    assert_eq!(
        keys(summary),
        sorted(&["total", "healthy", "unhealthy", "by_status"])
    );
    assert_eq!(summary["total"], 7);
    assert_eq!(summary["healthy"], 2);
    assert_eq!(summary["unhealthy"], 5);
    let by_status = &summary["by_status"];
    for (status, n) in [
        ("synced", 2),
        ("free", 2),
        ("unreachable", 1),
        ("timeout", 1),
        ("invalid", 1),
        ("stale", 0),
        ("pending", 0),
    ] {
        assert_eq!(by_status[status], n, "by_status.{status}");
    }
    assert_eq!(keys(by_status).len(), 7);

    let nodes = doc["nodes"].as_array().expect("nodes is an array");
    let names: Vec<&str> = nodes.iter().filter_map(|n| n["name"].as_str()).collect();
    assert_eq!(
        names,
        ["ok", "out", "master", "broken", "mute", "gone", "junk"],
        "config order"
    );
    const NODE_KEYS: [&str; 17] = [
        "name",
        "address",
        "group",
        "status",
        "healthy",
        "reply",
        "code",
        "role",
        "reported_ip",
        "latency_ms",
        "error",
        "conflict",
        "since",
        "silent_connects",
        "note",
        "maintenance",
        "ack",
    ];
    const NULLABLE: [&str; 9] = [
        "group",
        "code",
        "role",
        "reported_ip",
        "latency_ms",
        "error",
        "note",
        "maintenance",
        "ack",
    ];
    for n in nodes {
        let name = n["name"].as_str().unwrap_or("?");
        assert_eq!(keys(n), sorted(&NODE_KEYS), "{name}");
        for k in NODE_KEYS {
            if !NULLABLE.contains(&k) {
                assert!(!n[k].is_null(), "{name}.{k} is null");
            }
        }
        assert_eq!(n["address"], lab.addr(name).to_string(), "{name}.address");
        // A latency exactly when there is no error.
        assert_eq!(n["latency_ms"].is_number(), n["error"].is_null(), "{name}");
        let healthy = n["status"] == "synced";
        assert_eq!(n["healthy"], healthy, "{name}.healthy");
        // No windows and no history file here.
        assert!(n["maintenance"].is_null() && n["ack"].is_null(), "{name}");
    }
    let by_name = |name: &str| {
        nodes
            .iter()
            .find(|n| n["name"] == name)
            .unwrap_or_else(|| panic!("node {name} in JSON"))
    };
    let expect = |name: &str, status: &str, reply: &str, error: Value| {
        let n = by_name(name);
        assert_eq!(n["status"], status, "{name}.status");
        assert_eq!(n["reply"], reply, "{name}.reply");
        assert_eq!(n["error"], error, "{name}.error");
    };
    expect("ok", "synced", "Synced", Value::Null);
    expect("out", "free", "Free", Value::Null);
    expect("master", "synced", "127.0.0.1_state2", Value::Null);
    expect("broken", "free", "127.0.0.1_state0", Value::Null);
    expect("mute", "timeout", "", "no reply within 1s".into());
    expect("gone", "unreachable", "", "connection refused".into());
    expect("junk", "invalid", "", "invalid reply \"NotSynced\"".into());

    assert_eq!(by_name("ok")["group"], "wall-A");
    assert_eq!(by_name("master")["group"], "wall-B");
    // No group is `null`, as in every JSON output.
    assert_eq!(by_name("broken")["group"], Value::Null);
    for name in ["ok", "out", "mute", "gone", "junk"] {
        let n = by_name(name);
        assert!(n["code"].is_null() && n["role"].is_null(), "{name}");
        assert!(n["reported_ip"].is_null(), "{name}");
    }
    let master = by_name("master");
    assert_eq!(master["code"], 2);
    assert_eq!(master["role"], "Master");
    assert_eq!(master["reported_ip"], "127.0.0.1");
    let broken = by_name("broken");
    assert_eq!(broken["code"], 0);
    assert_eq!(broken["role"], "Error");
    assert_eq!(broken["reported_ip"], "127.0.0.1");
    let latency = by_name("ok")["latency_ms"].as_f64().expect("a number");
    assert!((0.0..1000.0).contains(&latency), "latency {latency}");

    // Groups: wall-A has a free member; wall-B is its one Master.
    let groups = doc["groups"].as_array().expect("groups is an array");
    assert_eq!(groups.len(), 2, "{groups:?}");
    let group = |name: &str| {
        groups
            .iter()
            .find(|g| g["name"] == name)
            .unwrap_or_else(|| panic!("group {name} in JSON"))
    };
    assert_eq!(group("wall-A")["healthy"], false);
    assert_eq!(group("wall-A")["members"], 2);
    assert_eq!(group("wall-A")["problem"], "1 of 2 members unhealthy");
    assert_eq!(group("wall-B")["healthy"], true);
    assert_eq!(group("wall-B")["masters"], 1);
    assert_eq!(group("wall-B")["problem"], Value::Null);
    for g in groups {
        assert_eq!(
            keys(g),
            sorted(&[
                "name",
                "healthy",
                "masters",
                "members",
                "problem",
                "maintenance",
                "ack"
            ])
        );
        assert!(g["maintenance"].is_null() && g["ack"].is_null(), "{g}");
    }
}

#[test]
fn json_exit_code_field_follows_the_warning_policy() {
    let lab = Lab::new(&[("ok", "synced", None), ("gone", "refused", None)]);
    let r = once(&lab.fleet("f.toml", FAST_WARN), &["--format", "json"]);
    assert_code(&r, 1);
    let doc: Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(doc["exit_code"], 1);
    assert_eq!(doc["verdict"], "WARNING");
}

#[test]
fn nagios_is_one_line_with_names_and_perfdata() {
    let lab = Lab::new(&[
        ("wall-01", "synced", None),
        ("wall-02", "synced", None),
        ("wall-03", "free", None),
        ("wall-04", "silent", None),
    ]);
    let r = once(&lab.fleet("f.toml", FAST), &["--format", "nagios"]);
    assert_code(&r, 2);
    assert_eq!(r.stdout.lines().count(), 1, "{:?}", r.stdout);
    assert!(r.stdout.ends_with('\n'));
    let line = r.stdout.trim_end();
    let (text, perf) = line.split_once(" | ").expect("perfdata after ` | `");
    assert_eq!(
        text,
        "SYNCGUARD CRITICAL - 2 of 4 nodes unhealthy: wall-03 free (Free), wall-04 timeout"
    );
    let want = "synced=2;;;0;4 free=1;;;0;4 unreachable=0;;;0;4 timeout=1;;;0;4 \
                invalid=0;;;0;4 stale=0;;;0;4 pending=0;;;0;4 latency_max=";
    assert!(perf.starts_with(want), "perfdata: {perf}");
    let latency = perf[want.len()..]
        .strip_suffix("s;;;0 acknowledged=0;;;0;4 maintenance=0;;;0;4")
        .expect("latency_max in seconds, then the acknowledged and maintenance counts");
    let latency: f64 = latency.parse().expect("latency_max is a number");
    assert!(latency > 0.0 && latency < 1.0, "latency_max {latency}");
}

#[test]
fn nagios_ok_line_when_all_synced() {
    let lab = Lab::new(&[("a", "synced", None), ("b", "state1", None)]);
    let r = once(&lab.fleet("f.toml", FAST), &["--format", "nagios"]);
    assert_code(&r, 0);
    assert_eq!(r.stdout.lines().count(), 1);
    assert!(
        r.stdout
            .starts_with("SYNCGUARD OK - 2/2 nodes synced | synced=2;;;0;2 "),
        "{}",
        r.stdout
    );
}

/// `--help` says WARNING (1) when only unreachable/timeout/invalid nodes are bad and
/// `unreachable = "warning"`. Putting such a node in a `group` must not change that:
/// the group has no role information, so it adds nothing the node did not say.
#[test]
fn group_membership_does_not_override_the_warning_policy() {
    let lab = Lab::new(&[("a", "synced", Some("wall")), ("b", "silent", Some("wall"))]);
    let r = once(&lab.fleet("f.toml", FAST_WARN), &["--format", "json"]);
    let doc: Value = serde_json::from_str(&r.stdout).expect("JSON");
    assert_eq!(doc["summary"]["by_status"]["timeout"], 1);
    assert_eq!(doc["verdict"], "WARNING", "{}", r.stdout);
    assert_code(&r, 1);
}

/// (file text, what must follow the path in the message)
const BAD_CONFIGS: &[(&str, &str)] = &[
    (
        "[defaults]\nintervall = \"5s\"\n[[node]]\nname=\"a\"\nhost=\"h\"\n",
        ":2:1: defaults.intervall: unknown field `intervall`",
    ),
    (
        "[[node]]\nname = \"a\"\n",
        ":1:1: node[0].host: missing (required)",
    ),
    (
        "[[node]]\nname = \"a\"\nhost = \"h\"\n[[node]]\nname = \"a\"\nhost = \"i\"\n",
        ":5:8: node[1].name: duplicate name \"a\" (first used by node[0] at line 1)",
    ),
    (
        "[defaults]\ntimeout = \"5 sec\"\n[[node]]\nname=\"a\"\nhost=\"h\"\n",
        ":2:11: defaults.timeout: invalid duration \"5 sec\"",
    ),
    (
        "[[node]]\nname = \"a\"\nhost = \"h\"\nport = 0\n",
        ":4:8: node[0].port: port must be between 1 and 65535, got 0",
    ),
    (
        "[[node]]\nname = \"a\"\nhost = \"h\"\nport = 70000\n",
        ":4:8: node[0].port: port must be between 1 and 65535, got 70000",
    ),
    (
        "[defaults]\ninterval = \"20s\"\n[[node]]\nname=\"a\"\nhost=\"h\"\n",
        ":2:12: defaults.interval: interval (20s) is longer than max_interval (10s)",
    ),
    (
        "[[node]]\nname=\"a\"\nhost=\"h\"\ninterval = \"3s\"\nmax_interval = \"2s\"\n",
        ":4:12: node[0].interval: interval (3s) is longer than max_interval (2s)",
    ),
    ("[defaults]\nport = 9000\n", ":3:1: node: no nodes"),
];

#[test]
fn config_errors_exit_3_with_one_located_message() {
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, (text, want)) in BAD_CONFIGS.iter().enumerate() {
        let path = write(dir.path(), &format!("bad{i}.toml"), text);
        let r = once(&path, &[]);
        assert_code(&r, 3);
        assert_eq!(r.stdout, "", "nothing on stdout for {text:?}");
        let msg = r.stderr.trim_end();
        assert_eq!(msg.lines().count(), 1, "one message for {text:?}: {msg}");
        let located = format!("{}{want}", path.display());
        assert!(
            msg.contains(&located),
            "for {text:?}\n got: {msg}\nwant: {located}"
        );
    }
}

#[test]
fn missing_config_file_exits_3() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("nope.toml");
    let r = once(&path, &[]);
    assert_code(&r, 3);
    let msg = r.stderr.trim_end();
    assert_eq!(msg.lines().count(), 1, "{msg}");
    assert!(
        msg.contains(&format!("{}: cannot read config", path.display())),
        "{msg}"
    );
}

#[test]
fn env_var_selects_the_config_and_the_flag_overrides_it() {
    let lab = Lab::new(&[("a", "synced", None)]);
    let good = lab.fleet("good.toml", FAST);
    let bad = write(lab.dir.path(), "bad.toml", "[[node]]\nname = \"a\"\n");

    let r = run(bin().arg("--once").env(ENV_VAR, &good));
    assert_code(&r, 0);
    assert!(r.stdout.contains("1 synced"), "{}", r.stdout);

    let r = run(bin().arg("--once").env(ENV_VAR, &bad));
    assert_code(&r, 3);
    assert!(
        r.stderr
            .contains(&format!("{}:1:1: node[0].host", bad.display())),
        "{}",
        r.stderr
    );

    let r = run(bin()
        .arg("--once")
        .arg("--config")
        .arg(&good)
        .env(ENV_VAR, &bad));
    assert_code(&r, 0);

    let r = run(bin()
        .arg("--once")
        .arg("--config")
        .arg(&bad)
        .env(ENV_VAR, &good));
    assert_code(&r, 3);
}

#[test]
fn usage_errors_exit_3() {
    let r = run(bin().arg("--once").arg("--no-such-flag"));
    assert_code(&r, 3);
    assert!(r.stderr.contains("--no-such-flag"), "{}", r.stderr);
    assert_eq!(r.stdout, "");

    let r = run(bin().args(["--once", "--format", "xml"]));
    assert_code(&r, 3);
    assert!(r.stderr.contains("xml"), "{}", r.stderr);
}

#[test]
fn help_exits_0_and_documents_exit_codes() {
    let r = run(bin().arg("--help"));
    assert_code(&r, 0);
    for word in ["Exit codes", "CRITICAL", "WARNING", "UNKNOWN", "--once"] {
        assert!(
            r.stdout.contains(word),
            "--help lacks {word}:\n{}",
            r.stdout
        );
    }
}

#[test]
fn demo_once_shows_every_kind_of_problem() {
    let r = run(bin().args(["demo", "--once"]));
    assert_code(&r, 2);
    assert!(r.took < Duration::from_secs(5), "demo took {:?}", r.took);
    for want in [
        "wall-a-05",
        "free",
        "timeout",
        "unreachable",
        "connection refused",
        "Master (state2)",
    ] {
        assert!(
            r.stdout.contains(want),
            "demo table lacks {want}:\n{}",
            r.stdout
        );
    }
    let row = |name: &str| {
        r.stdout
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("no row for {name}:\n{}", r.stdout))
            .to_owned()
    };
    assert!(row("wall-a-05").contains("free"), "{}", row("wall-a-05"));
    assert!(row("wall-a-05").contains("Error (state0)"));
    assert!(row("wall-b-07").contains("timeout"), "{}", row("wall-b-07"));
    assert!(row("stage-c-06").contains("connection refused"));
    assert!(row("wall-a-01").contains("synced"));
    let summary = r
        .stdout
        .lines()
        .rev()
        .find(|l| l.contains(" nodes · "))
        .unwrap_or_else(|| panic!("no summary line:\n{}", r.stdout));
    for want in ["1 free", "1 unreachable", "1 timeout", "— CRITICAL"] {
        assert!(summary.contains(want), "summary lacks {want}: {summary}");
    }
}

#[test]
fn closed_stdout_is_not_a_panic() {
    let lab = Lab::new(&[("a", "synced", None), ("b", "state2", None)]);
    let good = lab.fleet("f.toml", FAST);
    for format in ["table", "json", "nagios"] {
        let mut child = bin()
            .arg("--once")
            .arg("--config")
            .arg(&good)
            .args(["--format", format])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn syncguard-fleet");
        // Close the read end before the binary writes anything.
        drop(child.stdout.take());
        let err = child.stderr.take().expect("stderr piped");
        let err = std::thread::spawn(move || read_to_string(err));
        let status = wait_bounded(&mut child, LIMIT);
        let stderr = err.join().expect("stderr reader");
        assert!(!stderr.contains("panicked"), "{format}: {stderr}");
        assert_eq!(status.code(), Some(0), "{format}: {stderr}");
    }
}

/// 40 nodes through 4 connection slots: every node still gets its own real answer
/// within one check, none is cut off waiting for a slot.
#[test]
fn fleet_larger_than_max_connecting_gets_every_status() {
    let mut nodes = Vec::new();
    let names: Vec<(String, &str, &str)> = (0..40)
        .map(|i| {
            let (behaviour, status) = match i % 4 {
                0 => ("free", "free"),
                1 => ("state2", "synced"),
                2 => ("state0", "free"),
                _ => ("synced", "synced"),
            };
            (format!("n{i:02}"), behaviour, status)
        })
        .collect();
    for (name, behaviour, _) in &names {
        nodes.push((name.as_str(), *behaviour, None));
    }
    let lab = Lab::new(&nodes);
    let config = lab.fleet("f.toml", "timeout = \"3s\"\nmax_connecting = 4");
    let r = once(&config, &["--format", "json"]);
    assert_code(&r, 2);
    let doc: Value = serde_json::from_str(&r.stdout).expect("stdout is one JSON document");
    let listed = doc["nodes"].as_array().expect("nodes");
    assert_eq!(listed.len(), 40);
    for (name, behaviour, status) in &names {
        let n = listed
            .iter()
            .find(|n| n["name"] == name.as_str())
            .unwrap_or_else(|| panic!("{name} in JSON"));
        assert_eq!(n["status"], *status, "{name} ({behaviour}): {n}");
        assert_eq!(n["error"], Value::Null, "{name}: {n}");
        assert!(n["latency_ms"].is_number(), "{name}: {n}");
        let code = behaviour
            .strip_prefix("state")
            .map(|d| d.parse::<u8>().expect("digit"));
        assert_eq!(
            n["code"],
            code.map_or(Value::Null, Value::from),
            "{name}: {n}"
        );
    }
    assert_eq!(doc["summary"]["by_status"]["synced"], 20);
    assert_eq!(doc["summary"]["by_status"]["free"], 20);
}

/// Without `--config` or the variable, the config is searched for: the working
/// directory, then the user's config directory (XDG), then the system's. Found in
/// the user's directory, it is used; found nowhere, the error lists every place.
#[test]
fn config_is_searched_in_the_platform_places() {
    let lab = Lab::new(&[("a", "synced", None)]);
    let text = std::fs::read_to_string(lab.fleet("f.toml", FAST)).expect("fleet");
    let home = tempfile::tempdir().expect("tempdir");
    let cwd = tempfile::tempdir().expect("tempdir");
    let search = |config_home: &std::path::Path| {
        run(bin()
            .arg("--once")
            .arg("--format")
            .arg("json")
            .current_dir(cwd.path())
            .env("XDG_CONFIG_HOME", config_home))
    };
    // Nowhere yet (unless this machine has a system-wide file, which would be used).
    let system = std::path::Path::new("/etc/syncguard-fleet/fleet.toml");
    let packaged = std::path::Path::new("/etc/syncguard/fleet.toml");
    if !system.exists() && !packaged.exists() {
        let r = search(home.path());
        assert_code(&r, 3);
        for want in [
            "no config file found (looked for fleet.toml, ".to_owned(),
            format!(
                "{}",
                home.path().join("syncguard-fleet/fleet.toml").display()
            ),
            system.display().to_string(),
            packaged.display().to_string(),
            "--config PATH or SYNCGUARD_FLEET_CONFIG".to_owned(),
        ] {
            assert!(r.stderr.contains(&want), "missing {want:?} in {}", r.stderr);
        }
    }
    // In the user's config directory.
    std::fs::create_dir(home.path().join("syncguard-fleet")).expect("mkdir");
    write(&home.path().join("syncguard-fleet"), "fleet.toml", &text);
    let r = search(home.path());
    assert_code(&r, 0);
    assert!(r.stdout.contains("\"name\": \"a\""), "{}", r.stdout);
    // The working directory's file comes first.
    write(cwd.path(), "fleet.toml", "[[node]]\nname = \"x\"\n");
    let r = search(home.path());
    assert_code(&r, 3);
    assert!(
        r.stderr.contains("fleet.toml:1:1: node[0].host: missing"),
        "{}",
        r.stderr
    );
}

/// `service` is for Windows; elsewhere it says so, points to systemd, and exits 3.
#[cfg(not(windows))]
#[test]
fn service_outside_windows_points_to_systemd() {
    for action in ["install", "uninstall", "start", "stop"] {
        let r = run(bin().args(["service", action]));
        assert_code(&r, 3);
        assert!(
            r.stderr.contains("works only on Windows")
                && r.stderr.contains("examples/syncguard-fleet.service"),
            "{action}: {}",
            r.stderr
        );
    }
}

/// A moment `hours` from now, RFC 3339 with `Z`, to the second.
fn hours_from_now(hours: i64) -> String {
    (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(hours))
        .round(jiff::Unit::Second)
        .expect("round to the second")
        .to_string()
}

/// A one-off `[[maintenance]]` table from `from` to `to` hours from now, for
/// `targets` (`nodes = [...]` or `groups = [...]`).
fn window(name: &str, targets: &str, from: i64, to: i64) -> String {
    format!(
        "\n[[maintenance]]\nname = \"{name}\"\n{targets}\nstart = \"{}\"\nend = \"{}\"\n",
        hours_from_now(from),
        hours_from_now(to)
    )
}

/// The lab's fleet file with `extra` after it.
fn fleet_with(lab: &Lab, file: &str, extra: &str) -> std::path::PathBuf {
    let text = std::fs::read_to_string(lab.fleet(file, FAST)).expect("fleet file");
    lab.write(file, &format!("{text}{extra}"))
}

/// `--once --format nagios EXTRA` on `cfg`, which must exit with `code`: the
/// line's text and perfdata.
fn nagios(cfg: &Path, extra: &[&str], code: i32) -> (String, String) {
    let r = once(cfg, &[&["--format", "nagios"], extra].concat());
    assert_code(&r, code);
    nagios_parts(&r)
}

/// `--once --format json EXTRA` on `cfg`, which must exit with `code`: the document.
fn json(cfg: &Path, extra: &[&str], code: i32) -> Value {
    let r = once(cfg, &[&["--format", "json"], extra].concat());
    assert_code(&r, code);
    serde_json::from_str(&r.stdout).expect("JSON")
}

/// The Nagios line's text and perfdata.
fn nagios_parts(r: &common::bin::Run) -> (String, String) {
    assert_eq!(r.stdout.lines().count(), 1, "{:?}", r.stdout);
    let (text, perf) = r
        .stdout
        .trim_end()
        .split_once(" | ")
        .expect("perfdata after ` | `");
    (text.to_owned(), perf.to_owned())
}

fn json_node<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["name"] == name))
        .unwrap_or_else(|| panic!("node {name} in {doc}"))
}

fn json_group<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["groups"]
        .as_array()
        .and_then(|gs| gs.iter().find(|g| g["name"] == name))
        .unwrap_or_else(|| panic!("group {name} in {doc}"))
}

#[test]
fn a_maintenance_window_keeps_a_node_out_of_the_verdict() {
    let lab = Lab::new(&[("ok", "synced", None), ("out", "free", None)]);

    let bare = fleet_with(&lab, "bare.toml", "");
    assert_code(&once(&bare, &[]), 2);

    let now = fleet_with(
        &lab,
        "now.toml",
        &window("re-imaging", "nodes = [\"out\"]", -1, 1),
    );
    let doc = json(&now, &[], 0);
    assert_eq!(doc["verdict"], "OK");
    assert_eq!(json_node(&doc, "out")["maintenance"], "re-imaging");
    assert_eq!(
        json_node(&doc, "out")["status"],
        "free",
        "still shown as it is"
    );
    assert!(json_node(&doc, "out")["ack"].is_null());
    assert!(json_node(&doc, "ok")["maintenance"].is_null());
    let (text, perf) = nagios(&now, &[], 0);
    assert_eq!(text, "SYNCGUARD OK - 1/2 nodes synced; 1 in maintenance");
    assert!(
        perf.starts_with("synced=1;;;0;2 free=1;;;0;2 ")
            && perf.ends_with("s;;;0 acknowledged=0;;;0;2 maintenance=1;;;0;2"),
        "{perf}"
    );
    let r = once(&now, &[]);
    assert_code(&r, 0);
    assert!(r.stdout.contains("MAINT/ACK"), "{}", r.stdout);
    assert!(r.stdout.contains("⚒ re-imaging"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("2 nodes · 1 synced · 1 free · ⚒ 1 in maintenance — OK"),
        "{}",
        r.stdout
    );
    // Without windows the table has no such column.
    assert!(!once(&bare, &[]).stdout.contains("MAINT/ACK"));

    for (file, from, to) in [("past.toml", -3, -2), ("future.toml", 2, 3)] {
        let cfg = fleet_with(
            &lab,
            file,
            &window("re-imaging", "nodes = [\"out\"]", from, to),
        );
        let doc = json(&cfg, &[], 2);
        assert!(json_node(&doc, "out")["maintenance"].is_null(), "{file}");
        let r = once(&cfg, &["--format", "nagios"]);
        assert_eq!(
            nagios_parts(&r).0,
            "SYNCGUARD CRITICAL - 1 of 2 nodes unhealthy: out free (Free)",
            "{file}"
        );
    }
}

#[test]
fn a_group_whose_only_bad_member_is_in_maintenance_is_healthy() {
    let lab = Lab::new(&[
        ("m", "state2", Some("wall-A")),
        ("s", "state1", Some("wall-A")),
        ("bad", "state0", Some("wall-A")),
    ]);
    let bare = fleet_with(&lab, "bare.toml", "");
    let doc = json(&bare, &[], 2);
    assert_eq!(json_group(&doc, "wall-A")["healthy"], false);

    let cfg = fleet_with(&lab, "f.toml", &window("swap", "nodes = [\"bad\"]", -1, 1));
    let doc = json(&cfg, &[], 0);
    let g = json_group(&doc, "wall-A");
    assert_eq!(g["healthy"], true, "{g}");
    assert_eq!(g["problem"], Value::Null, "{g}");
    assert!(
        g["maintenance"].is_null(),
        "only a member is in the window: {g}"
    );
    assert_eq!(json_node(&doc, "bad")["maintenance"], "swap");
    assert_eq!(
        nagios(&cfg, &[], 0).0,
        "SYNCGUARD OK - 2/3 nodes synced; 1 in maintenance"
    );

    // The whole group in a window: the group and every member say so.
    let cfg = fleet_with(
        &lab,
        "g.toml",
        &window("rehearsal", "groups = [\"wall-A\"]", -1, 1),
    );
    let doc = json(&cfg, &[], 0);
    assert_eq!(json_group(&doc, "wall-A")["maintenance"], "rehearsal");
    for n in ["m", "s", "bad"] {
        assert_eq!(json_node(&doc, n)["maintenance"], "rehearsal", "{n}");
    }
    let r = once(&cfg, &["--format", "nagios"]);
    assert_eq!(
        nagios_parts(&r).0,
        "SYNCGUARD OK - 2/3 nodes synced; 3 in maintenance"
    );
    let r = once(&cfg, &[]);
    assert!(
        r.stdout.contains("SYNC GROUP  HEALTH     MAINT/ACK"),
        "{}",
        r.stdout
    );
}

/// The lab's `history.db` with `acks` in it, written as a monitor would have
/// (the writer stops before this returns).
fn history_with(lab: &Lab, acks: Vec<syncguard_fleet::model::Ack>) -> std::path::PathBuf {
    use syncguard_fleet::model::AckEvent;
    let path = lab.path("history.db");
    let history = syncguard_fleet::store::History::start(&path, Duration::from_secs(3600))
        .expect("start the history writer");
    for a in acks {
        history.record_ack(&AckEvent::Added(std::sync::Arc::new(a)));
    }
    // Dropping it writes what is queued and stops the writer.
    drop(history);
    path
}

/// The `[history]` table for the file at `path`.
fn history_toml(path: &Path) -> String {
    format!("\n[history]\npath = \"{}\"\n", path.display())
}

fn an_ack(
    target: syncguard_fleet::model::Target,
    baseline: syncguard_fleet::model::Baseline,
) -> syncguard_fleet::model::Ack {
    let now = std::time::SystemTime::now();
    syncguard_fleet::model::Ack {
        id: format!("t{}", target.name()),
        target,
        by: "alice (api)".into(),
        reason: "re-imaging".into(),
        at: now - Duration::from_secs(60),
        until: now + Duration::from_secs(7200),
        baseline,
    }
}

#[test]
fn acks_in_the_history_file_count_unless_ignored() {
    use syncguard_fleet::model::{Baseline, GroupStatus, NodeKey, Status, Target};
    let lab = Lab::new(&[
        ("wall-01", "synced", None),
        ("wall-02", "free", None),
        ("wall-03", "free", None),
        ("wall-04", "silent", None),
        ("b-01", "synced", Some("wall-B")),
        ("b-02", "free", Some("wall-B")),
    ]);
    let history = history_with(
        &lab,
        vec![
            an_ack(Target::Node("wall-03".into()), Baseline::Node(Status::Free)),
            an_ack(
                Target::Group("wall-B".into()),
                Baseline::Group {
                    status: Some(GroupStatus::MembersFree),
                    members: vec![(NodeKey::new("b-02"), Status::Free)],
                },
            ),
        ],
    );
    let extra = format!(
        "{}{}",
        history_toml(&history),
        window("re-imaging", "nodes = [\"wall-02\"]", -1, 1)
    );
    let cfg = fleet_with(&lab, "f.toml", &extra);

    // Acks still count: named among the unhealthy, and counted.
    let (text, perf) = nagios(&cfg, &[], 2);
    assert_eq!(
        text,
        "SYNCGUARD CRITICAL - 3 of 6 nodes unhealthy: wall-03 free (Free), wall-04 timeout, \
         b-02 free (Free); 2 acknowledged, 1 in maintenance"
    );
    assert!(
        perf.ends_with("s;;;0 acknowledged=2;;;0;6 maintenance=1;;;0;6"),
        "{perf}"
    );
    // --ignore-acked: a node's own ack is only counted (a group's ack with
    // --ignore-acked: see a_group_ack_counts_as_handled_with_ignore_acked).
    let r = once(&cfg, &["--format", "nagios", "--ignore-acked"]);
    assert_code(&r, 2);
    assert!(
        nagios_parts(&r).0.starts_with("SYNCGUARD CRITICAL - ")
            && !nagios_parts(&r).0.contains("wall-03"),
        "{}",
        r.stdout
    );

    let doc = json(&cfg, &[], 2);
    let ack = &json_node(&doc, "wall-03")["ack"];
    assert_eq!(ack["target"], "wall-03", "{doc}");
    assert_eq!(ack["by"], "alice (api)");
    assert_eq!(ack["reason"], "re-imaging");
    assert_eq!(json_node(&doc, "b-02")["ack"]["target"], "@wall-B");
    assert_eq!(json_group(&doc, "wall-B")["ack"]["target"], "@wall-B");
    assert!(
        json_node(&doc, "b-01")["ack"].is_null(),
        "healthy: not covered"
    );
    assert!(json_node(&doc, "wall-02")["ack"].is_null());
    assert_eq!(json_node(&doc, "wall-02")["maintenance"], "re-imaging");
    let r = once(&cfg, &[]);
    for want in [
        "✓ ack alice (api) 1h 59m left",
        "✓ @wall-B: ack alice (api) 1h 59m left",
        "⚒ re-imaging",
        "· ⚒ 1 in maintenance · ✓ 2 acknowledged — CRITICAL",
    ] {
        assert!(r.stdout.contains(want), "{want}:\n{}", r.stdout);
    }

    // --no-history, or history off: no acks read.
    for extra in [
        &["--no-history"][..],
        &["--history", "/nonexistent/h.db"][..],
    ] {
        let r = once(&cfg, &[&["--format", "nagios"], extra].concat());
        assert_code(&r, 2);
        assert!(
            nagios_parts(&r).1.contains("acknowledged=0;"),
            "{extra:?}: {}",
            r.stdout
        );
        assert!(r.stderr.is_empty(), "{extra:?}: {}", r.stderr);
    }
}

#[test]
fn an_acked_node_alone_exits_2_and_0_when_ignored() {
    use syncguard_fleet::model::{Baseline, Status, Target};
    let lab = Lab::new(&[("wall-01", "synced", None), ("wall-03", "free", None)]);
    let history = history_with(
        &lab,
        vec![an_ack(
            Target::Node("wall-03".into()),
            Baseline::Node(Status::Free),
        )],
    );
    let cfg = fleet_with(&lab, "f.toml", &history_toml(&history));
    assert_eq!(
        nagios(&cfg, &[], 2).0,
        "SYNCGUARD CRITICAL - 1 of 2 nodes unhealthy: wall-03 free (Free); 1 acknowledged"
    );
    assert_eq!(
        nagios(&cfg, &["--ignore-acked"], 0).0,
        "SYNCGUARD OK - 1/2 nodes synced; 1 acknowledged"
    );
    // A history file that is off in the config is not read.
    let off = fleet_with(
        &lab,
        "off.toml",
        &format!(
            "\n[history]\nenabled = false\npath = \"{}\"\n",
            history.display()
        ),
    );
    assert_code(&once(&off, &["--ignore-acked"]), 2);
}

/// A group's ack covers the members that were bad when it was given; with
/// --ignore-acked they leave the verdict and the group's health, as a node's
/// own ack does.
#[test]
fn a_group_ack_counts_as_handled_with_ignore_acked() {
    use syncguard_fleet::model::{Baseline, GroupStatus, NodeKey, Status, Target};
    let lab = Lab::new(&[
        ("b-01", "synced", Some("wall-B")),
        ("b-02", "free", Some("wall-B")),
    ]);
    let history = history_with(
        &lab,
        vec![an_ack(
            Target::Group("wall-B".into()),
            Baseline::Group {
                status: Some(GroupStatus::MembersFree),
                members: vec![(NodeKey::new("b-02"), Status::Free)],
            },
        )],
    );
    let cfg = fleet_with(&lab, "f.toml", &history_toml(&history));
    assert_eq!(
        nagios(&cfg, &[], 2).0,
        "SYNCGUARD CRITICAL - 1 of 2 nodes unhealthy: b-02 free (Free); 1 acknowledged"
    );
    let doc = json(&cfg, &["--ignore-acked"], 0);
    assert_eq!(json_node(&doc, "b-02")["ack"]["target"], "@wall-B", "{doc}");
    assert_eq!(
        json_group(&doc, "wall-B")["ack"]["target"],
        "@wall-B",
        "{doc}"
    );
    assert_eq!(json_group(&doc, "wall-B")["healthy"], true, "{doc}");
    assert_eq!(
        nagios(&cfg, &["--ignore-acked"], 0).0,
        "SYNCGUARD OK - 1/2 nodes synced; 1 acknowledged"
    );
}

/// The terminal column where `needle` starts in `line` (a wide character counts
/// two), or where the first of several possible needles does.
fn display_col(line: &str, needles: &[&str]) -> usize {
    let at = needles
        .iter()
        .filter_map(|n| line.find(n))
        .min()
        .unwrap_or_else(|| panic!("none of {needles:?} in {line:?}"));
    unicode_width::UnicodeWidthStr::width(&line[..at])
}

#[test]
fn once_table_lines_up_names_in_any_script() {
    let names = ["서버-01", "レンダー-02", "渲染-03", "wall-🎥-04", "wall-05"];
    let lab = Lab::new(&[
        (names[0], "state2", Some("벽-A")),
        (names[1], "state1", Some("벽-A")),
        (names[2], "free", Some("벽-A")),
        (names[3], "state1", Some("벽-A")),
        (names[4], "synced", None),
    ]);
    let r = once(&lab.fleet("f.toml", FAST), &["--format", "table"]);
    assert_code(&r, 2);
    let out = &r.stdout;
    let mut tables = out.split("\n\n");
    let nodes: Vec<&str> = tables.next().expect("the node table").lines().collect();
    assert_eq!(nodes.len(), 1 + names.len(), "{out}");
    // Every row's STATUS cell starts where the header's does, and so does its
    // LATENCY cell (each node has one, in milliseconds).
    let status = display_col(nodes[0], &["STATUS"]);
    let latency = display_col(nodes[0], &["LATENCY"]);
    for row in &nodes[1..] {
        assert_eq!(display_col(row, &["✔ ", "✖ "]), status, "{out}");
        let ms = row.find("ms").expect("a latency");
        let word = row[..ms].rfind(' ').map_or(0, |sp| sp + 1);
        assert_eq!(
            unicode_width::UnicodeWidthStr::width(&row[..word]),
            latency,
            "{out}"
        );
    }
    for name in names {
        assert!(
            nodes
                .iter()
                .any(|row| row.starts_with(&format!("{name}  "))),
            "{name} whole in\n{out}"
        );
    }
    // The group table: `벽-A` is four columns, padded to the header's ten.
    let groups: Vec<&str> = tables.next().expect("the group table").lines().collect();
    assert_eq!(groups.len(), 2, "{out}");
    assert_eq!(
        display_col(groups[1], &["✖ unhealthy"]),
        display_col(groups[0], &["HEALTH"]),
        "{out}"
    );
    assert!(groups[1].starts_with("벽-A        ✖ unhealthy"), "{out}");
}

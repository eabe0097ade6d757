//! Starts the real binary's dashboard in tmux, reads the screen as a person would,
//! presses `q`, and checks the process exited and left a clean shell.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::bin::BIN;
use common::lab::Lab;
use common::skip;
use common::tmux::{Tmux, colour_codes};

/// True when tmux is there; else fails under CI or reports the skip.
fn tmux_for(test: &str) -> bool {
    skip::require(
        &format!("tui_smoke::{test}"),
        skip::have_tmux(),
        "tmux not installed",
    )
}

/// The dashboard on `config` in `tmux`, with `env` (`NAME=value ...`) set and its
/// log in the lab's `dash.log`.
fn start_dashboard(tmux: &Tmux, lab: &Lab, env: &str, config: &Path) {
    tmux.start(&format!(
        "env {env} '{BIN}' --config '{}' --log-file '{}'",
        config.display(),
        lab.path("dash.log").display()
    ));
}

/// A lab with `alpha` synced and `bravo` free, and its fleet file polling every
/// 300–400 ms.
fn alpha_synced_bravo_free() -> (Lab, PathBuf) {
    let lab = Lab::new(&[("alpha", "synced", None), ("bravo", "free", None)]);
    let fleet = lab.write(
        "fleet.toml",
        &format!(
            "[defaults]\ninterval = \"300ms\"\nmax_interval = \"400ms\"\n{}",
            lab.nodes_toml(&["alpha", "bravo"])
        ),
    );
    (lab, fleet)
}

/// The table row of node `name` on `screen`, not its transition in the events pane.
fn row(screen: &str, name: &str) -> String {
    screen
        .lines()
        .find(|l| l.contains(name) && !l.contains(" → "))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn dashboard_shows_fleet_and_quits_cleanly() {
    if !tmux_for("dashboard_shows_fleet_and_quits_cleanly") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("smoke.log");
    let tmux = Tmux::new("smoke");
    tmux.start(&format!(
        "'{BIN}' demo --log-file '{}'; echo EXITED:$?; sleep 30",
        log.display()
    ));

    let screen = tmux.wait_for(
        &[
            "wall-a-05",
            "free",
            "unreachable",
            "timeout",
            "Master (state2)",
            "connection refused",
        ],
        Duration::from_secs(20),
    );
    for needle in [
        "SyncGuard fleet",
        "28 nodes",
        "led-d-01",
        "Unlisted senders",
        "CRITICAL",
        "✖ free",
        "wall-a-05",
        "Error (state0)",
        "▲ unreachable",
        "stage-c-06",
        "connection refused",
        "▲ timeout",
        "wall-b-07",
        "no reply within 2s",
        "✔ synced",
        "Master (state2)",
        "Recent transitions",
    ] {
        assert!(
            screen.contains(needle),
            "{needle:?} not on screen:\n{screen}"
        );
    }
    // Problems sort first: the free node is above every synced one.
    let pos = |s: &str| screen.find(s).expect("on screen");
    assert!(pos("wall-a-05") < pos("✔ synced"), "{screen}");

    // The demo serves its status page (8088, or the next free port) and says where.
    let url = screen
        .split("status page: http://127.0.0.1:")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .and_then(|port| port.trim().parse::<u16>().ok())
        .unwrap_or_else(|| panic!("no status page address on screen:\n{screen}"));
    assert!((8088..8108).contains(&url), "{url}");
    let status = common::net::http_get(url, "/api/v1/status").unwrap_or_default();
    assert!(status.starts_with("HTTP/1.1 200"), "{status}");
    assert!(status.contains("\"total\":28"), "{status}");

    // Help overlay opens and closes.
    tmux.keys("?");
    let help = tmux.wait_for(&["re-poll all nodes now"], Duration::from_secs(5));
    assert!(help.contains("re-poll all nodes now"), "{help}");
    tmux.keys("?");
    let closed = tmux.wait_for(&["Recent transitions"], Duration::from_secs(5));
    assert!(!closed.contains("re-poll all nodes now"), "{closed}");

    tmux.keys("q");
    let after = tmux.wait_for(&["EXITED:"], Duration::from_secs(5));
    assert!(after.contains("EXITED:0"), "did not exit cleanly:\n{after}");
    // The alternate screen is gone: the dashboard is no longer shown.
    assert!(!after.contains("Recent transitions"), "{after}");
    assert!(after.contains("log: "), "{after}");
    assert!(after.contains("status page: http://127.0.0.1:"), "{after}");
    assert!(Path::new(&log).exists());
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(
        logged.contains("[WARN] wall-a-05 pending -> free (reply \"127.0.0.1_state0\")"),
        "{logged}"
    );
}

#[test]
fn sigterm_sighup_and_sigint_restore_the_terminal() {
    if !tmux_for("sigterm_sighup_and_sigint_restore_the_terminal") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    for (signal, sig) in [
        ("TERM", rustix::process::Signal::TERM),
        ("HUP", rustix::process::Signal::HUP),
        ("INT", rustix::process::Signal::INT),
    ] {
        let tmux = Tmux::new(&format!("sig-{signal}"));
        let log = dir.path().join(format!("{signal}.log"));
        let pid = tmux.start_child(&format!("'{BIN}' demo --log-file '{}'", log.display()));
        let screen = tmux.wait_for(
            &["wall-a-05", "Recent transitions"],
            Duration::from_secs(20),
        );
        assert!(screen.contains("Recent transitions"), "{screen}");
        let started = Instant::now();
        common::bin::signal(pid, sig);
        // A clean exit is status 0; death by the signal would be 128 + its number.
        let after = tmux.wait_for(&["EXITED:"], Duration::from_secs(5));
        assert!(
            after.contains("EXITED:0"),
            "SIG{signal}: did not exit cleanly:\n{after}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "SIG{signal} took {:?}",
            started.elapsed()
        );
        assert!(
            !after.contains("Recent transitions"),
            "SIG{signal} left the dashboard on screen:\n{after}"
        );
    }
}

#[test]
fn node_that_drops_out_of_lock_rises_to_the_top() {
    if !tmux_for("node_that_drops_out_of_lock_rises_to_the_top") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = dir.path().join("fleet.toml");
    // A separate simulator process, as a user would run it.
    let mut sim = Command::new(BIN)
        .args([
            "sim",
            "synced=6",
            "flap",
            "--flap-period",
            "4s",
            "--write-config",
        ])
        .arg(&fleet)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start sim");
    // The file is written whole once every node listens; `wrote` follows it.
    common::wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&fleet).is_ok_and(|t| t.contains("flap-01"))
    });
    let text = std::fs::read_to_string(&fleet).expect("sim wrote the fleet file");
    let text = text.replacen(
        "[[node]]",
        "[defaults]\ninterval = \"500ms\"\nmax_interval = \"1s\"\ntimeout = \"1s\"\n\n[[node]]",
        1,
    );
    std::fs::write(&fleet, text).expect("rewrite fleet");
    let tmux = Tmux::new("flap");
    let log = dir.path().join("flap.log");
    tmux.start(&format!(
        "'{BIN}' --config '{}' --log-file '{}'",
        fleet.display(),
        log.display()
    ));
    // The flap node turns free within one flap period plus one poll interval.
    let screen = tmux.wait_for(&["synced → free"], Duration::from_secs(15));
    let _ = sim.kill();
    let _ = sim.wait();
    assert!(
        screen.contains("flap-01 synced → free"),
        "no transition shown:\n{screen}"
    );
    let lines: Vec<&str> = screen.lines().collect();
    let first_row = lines.get(3).copied().unwrap_or_default();
    assert!(
        first_row.contains("flap-01") && first_row.contains("free"),
        "free node is not the first row:\n{screen}"
    );
}

/// The dashboard on a real terminal (tmux) with `env`; returns the screen with its
/// escape sequences once the demo fleet is drawn.
fn demo_screen_with_escapes(label: &str, env: &str) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let tmux = Tmux::new(label);
    tmux.start(&format!(
        "{env} '{BIN}' demo --log-file '{}'; sleep 30",
        dir.path().join("demo.log").display()
    ));
    let screen = tmux.wait_for(
        &["wall-a-05", "✖ free", "Recent transitions"],
        Duration::from_secs(20),
    );
    assert!(screen.contains("Recent transitions"), "{screen}");
    tmux.screen_with_escapes()
}

/// `NO_COLOR` on a real terminal: no colour at all, while the same screen without
/// it is coloured. Bold and reverse still carry the meaning.
#[test]
fn no_color_removes_every_colour_on_a_real_terminal() {
    if !tmux_for("no_color_removes_every_colour_on_a_real_terminal") {
        return;
    }
    let coloured = demo_screen_with_escapes("color", "env -u NO_COLOR");
    assert!(
        !colour_codes(&coloured).is_empty(),
        "no colour without NO_COLOR:\n{coloured}"
    );
    let plain = demo_screen_with_escapes("nocolor", "env NO_COLOR=1");
    let found = colour_codes(&plain);
    assert!(
        found.is_empty(),
        "colours {found:?} with NO_COLOR:\n{plain}"
    );
    assert!(
        plain.contains("✖ free") && plain.contains("wall-a-05"),
        "{plain}"
    );
}

/// A node flapping faster than `[dashboard] flap_threshold` allows is marked ↯ in
/// its row; a steady node is not.
#[test]
fn flapping_node_is_marked_on_the_dashboard() {
    if !tmux_for("flapping_node_is_marked_on_the_dashboard") {
        return;
    }
    let lab = Lab::with_flap(
        &[("flappy", "flap", None), ("steady", "synced", None)],
        Duration::from_millis(700),
    );
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[defaults]\ninterval = \"100ms\"\nmax_interval = \"150ms\"\n\
             [dashboard]\nflap_threshold = 2\nflap_window = \"1m\"\n{}",
            lab.nodes_toml(&["flappy", "steady"])
        ),
    );
    let tmux = Tmux::new("flapmark");
    start_dashboard(&tmux, &lab, "NO_COLOR=1", &config);
    let marked = common::wait_until(Duration::from_secs(20), || {
        row(&tmux.screen(), "flappy").contains("↯")
    });
    let screen = tmux.screen();
    assert!(marked, "no ↯ on the flapping node's row:\n{screen}");
    assert!(
        row(&screen, "steady").contains("synced") && !row(&screen, "steady").contains("↯"),
        "{screen}"
    );
}

/// The dashboard with `--watch-config`: a saved file is reloaded on its own and
/// the footer says so; `L` still reloads by hand.
#[test]
fn dashboard_reloads_a_saved_file_and_on_l() {
    if !tmux_for("dashboard_reloads_a_saved_file_and_on_l") {
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = dir.path().join("fleet.toml");
    // Closed ports on loopback: the nodes show as unreachable, which is enough.
    let node = |name: &str| {
        format!(
            "[[node]]\nname = \"{name}\"\nhost = \"127.0.0.1\"\nport = {}\n",
            common::net::free_port()
        )
    };
    let alpha = node("alpha-01");
    std::fs::write(&fleet, &alpha).expect("write fleet");
    let tmux = Tmux::new("watchcfg");
    tmux.start(&format!(
        "'{BIN}' --watch-config --config '{}' --log-file '{}'",
        fleet.display(),
        dir.path().join("dash.log").display()
    ));
    let screen = tmux.wait_for(&["alpha-01", "unreachable"], Duration::from_secs(15));
    assert!(screen.contains("unreachable"), "{screen}");
    let tmp = dir.path().join(".fleet.toml.swp");
    std::fs::write(&tmp, format!("{alpha}{}", node("beta-02"))).expect("write");
    std::fs::rename(&tmp, &fleet).expect("save");
    let screen = tmux.wait_for(
        &["beta-02", "2 nodes, 1 kept, 1 new or changed"],
        Duration::from_secs(15),
    );
    for want in ["alpha-01", "beta-02", "2 nodes, 1 kept, 1 new or changed"] {
        assert!(
            screen.contains(want),
            "no {want:?} after the save:\n{screen}"
        );
    }
    tmux.keys("L");
    let screen = tmux.wait_for(
        &["2 nodes, 2 kept, 0 new or changed"],
        Duration::from_secs(15),
    );
    assert!(
        screen.contains("2 nodes, 2 kept, 0 new or changed"),
        "no reload on L:\n{screen}"
    );
    tmux.keys("q");
}

/// After a restart on the same history file, the dashboard continues where the
/// last monitor stopped: a node still free keeps its "since", the events pane
/// starts with the recorded transitions, and the detail popup shows the node's
/// in-lock shares and its open incident.
#[test]
fn dashboard_after_a_restart_keeps_since_and_shows_the_record() {
    if !tmux_for("dashboard_after_a_restart_keeps_since_and_shows_the_record") {
        return;
    }
    let (lab, fleet) = alpha_synced_bravo_free();
    let db = lab.path("history.db");
    let first = common::bin::watch(&fleet, &["--history", db.to_str().expect("utf-8 path")]);
    first.wait_for(Duration::from_secs(15), "bravo's first result", |out, _| {
        out.contains("\"bravo\"")
    });
    std::thread::sleep(Duration::from_secs(6));
    let _ = first.stop();

    let tmux = Tmux::new("resume");
    let dashboard_started = Instant::now();
    tmux.start(&format!(
        "'{BIN}' --config '{}' --history '{}' --log-file '{}'",
        fleet.display(),
        db.display(),
        lab.path("dash.log").display()
    ));
    let screen = tmux.wait_for(&["bravo", "✖ free"], Duration::from_secs(15));
    // The transition the first monitor saw, from the file: the new monitor's
    // first result only confirms it.
    assert_eq!(
        screen.matches("bravo pending → free").count(),
        1,
        "{screen}"
    );
    // Filter to the problem (rather than trust which row is selected while the
    // table may still be reordering on a loaded machine) and open its detail.
    tmux.keys("/");
    tmux.keys("bravo");
    tmux.keys("Enter");
    tmux.wait_for(&["filter: bravo"], Duration::from_secs(5));
    tmux.keys("Enter");
    let detail = tmux.wait_for(&["in lock", " open "], Duration::from_secs(15));
    let dashboard_age = dashboard_started.elapsed();
    let since_line = detail
        .lines()
        .find(|l| l.contains("free since"))
        .unwrap_or_else(|| panic!("no since line:\n{detail}"));
    // `free since 10:30:50 (7s)`: at least as old as the first monitor's run.
    let age = since_line
        .split('(')
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|a| humantime::parse_duration(a).ok())
        .unwrap_or_else(|| panic!("no age in {since_line:?}"));
    // bravo went free at least 6 s before this dashboard started; a "since"
    // from this dashboard's own first result would be younger than it is. (3 s
    // for whole seconds and the once-a-second refresh.)
    assert!(
        age + Duration::from_secs(3) >= dashboard_age + Duration::from_secs(6),
        "since did not survive the restart: {since_line} after {dashboard_age:?}\n{detail}"
    );
    assert!(detail.contains("24h 0.00%"), "{detail}");
    assert!(
        detail
            .lines()
            .any(|l| l.contains("incident") && l.contains(" open ") && l.contains("free")),
        "{detail}"
    );
    tmux.keys("Escape");
    tmux.keys("q");
}

/// Closing the terminal window (tmux kills the session: SIGHUP, then the pty is
/// gone) still stops the dashboard cleanly: the history file records a clean
/// stop, not a crash, although nothing can be printed any more.
#[test]
fn a_closed_terminal_window_is_a_clean_stop() {
    if !tmux_for("a_closed_terminal_window_is_a_clean_stop") {
        return;
    }
    let lab = Lab::new(&[("alpha", "synced", None)]);
    let fleet = lab.write("fleet.toml", &lab.nodes_toml(&["alpha"]));
    let db = lab.path("history.db");
    let log = lab.path("dash.log");
    let tmux = Tmux::new("hangup");
    tmux.start(&format!(
        "'{BIN}' --config '{}' --history '{}' --log-file '{}'",
        fleet.display(),
        db.display(),
        log.display()
    ));
    let screen = tmux.wait_for(&["alpha", "✔ synced"], Duration::from_secs(15));
    assert!(screen.contains("✔ synced"), "{screen}");
    tmux.run(&["kill-session", "-t", "smoke"]);
    let closed = common::wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(&log).is_ok_and(|l| l.contains("dashboard closed"))
    });
    assert!(
        closed,
        "no clean stop:\n{}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );
    let stopped: Option<i64> = rusqlite::Connection::open(&db)
        .and_then(|c| c.query_row("SELECT stopped_ms FROM run", [], |r| r.get(0)))
        .expect("the run");
    assert!(stopped.is_some(), "the run is recorded as a crash");
}

/// `a` on an unhealthy node: a reason, Enter, `2h`, Enter; the row shows ✓ and
/// the detail popup who acknowledged it and why. `A` then `y` removes the ack.
#[test]
fn a_node_is_acknowledged_and_unacknowledged_from_the_dashboard() {
    if !tmux_for("a_node_is_acknowledged_and_unacknowledged_from_the_dashboard") {
        return;
    }
    let (lab, fleet) = alpha_synced_bravo_free();
    let tmux = Tmux::new("ack");
    start_dashboard(&tmux, &lab, "USER=smoke-op NO_COLOR=1", &fleet);
    let screen = tmux.wait_for(&["✖ free", "✔ synced"], Duration::from_secs(15));
    assert!(row(&screen, "bravo").contains("✖ free"), "{screen}");
    // Problems sort first and the selection stays on the top row: bravo.
    tmux.keys("a");
    let form = tmux.wait_for(&["Acknowledge bravo", "Why?"], Duration::from_secs(5));
    assert!(form.contains("Why?"), "no ack form:\n{form}");
    // Keys are text in the form: `q` does not quit.
    tmux.run(&["send-keys", "-t", "smoke", "-l", "re-imaging, q by smoke"]);
    tmux.wait_for(&["re-imaging, q by smoke"], Duration::from_secs(5));
    tmux.keys("Enter");
    let asked = tmux.wait_for(&["For how long?"], Duration::from_secs(5));
    assert!(asked.contains("24h (Enter keeps it)"), "{asked}");
    tmux.keys("2h");
    tmux.keys("Enter");
    let acked = common::wait_until(Duration::from_secs(10), || {
        row(&tmux.screen(), "bravo").contains("✓")
    });
    let screen = tmux.screen();
    assert!(acked, "no ✓ on bravo's row:\n{screen}");
    assert!(
        screen.contains("ack: bravo acknowledged by smoke-op: re-imaging, q by smoke"),
        "no answer in the footer:\n{screen}"
    );
    assert!(screen.contains("✓ 1 acknowledged"), "{screen}");
    assert!(!row(&screen, "alpha").contains("✓"), "{screen}");
    // The detail popup says who, why and until when.
    tmux.keys("Enter");
    let detail = tmux.wait_for(&["free since"], Duration::from_secs(5));
    let line = detail
        .lines()
        .find(|l| l.contains("✓ acknowledged by smoke-op: re-imaging, q by smoke"))
        .unwrap_or_else(|| panic!("no ack line in the detail:\n{detail}"));
    assert!(
        line.contains("(at ") && detail.contains("until "),
        "{detail}"
    );
    assert!(detail.contains("A removes the ack"), "{detail}");
    tmux.keys("Escape");

    // `A` asks first; `y` removes it.
    tmux.keys("A");
    let ask = tmux.wait_for(&["Remove the acknowledgement?"], Duration::from_secs(5));
    assert!(ask.contains("y removes the ack of bravo"), "{ask}");
    tmux.keys("y");
    let removed = common::wait_until(Duration::from_secs(10), || {
        let s = tmux.screen();
        !row(&s, "bravo").contains("✓") && s.contains("no longer acknowledged")
    });
    let screen = tmux.screen();
    assert!(removed, "the ack stayed:\n{screen}");
    assert!(
        screen.contains("ack: bravo no longer acknowledged: removed by smoke-op"),
        "{screen}"
    );
    assert!(row(&screen, "bravo").contains("✖ free"), "{screen}");
    let logged = std::fs::read_to_string(lab.path("dash.log")).unwrap_or_default();
    assert!(
        logged.contains("ack: bravo acknowledged by smoke-op: re-imaging, q by smoke"),
        "{logged}"
    );
    tmux.keys("q");
}

#[test]
fn unlisted_senders_are_added_to_the_fleet_file_with_n_and_shift_n() {
    if !tmux_for("unlisted_senders_are_added_to_the_fleet_file_with_n_and_shift_n") {
        return;
    }
    use syncguard_fleet::config::Config;
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = dir.path().join("fleet.toml");
    let port = common::net::free_port();
    // 10.200.0.1 is listed; the simulator's 10.200.0.2 and .3 are not.
    let text = format!(
        "# The LED wall.\n[listen]\nbind = [\"127.0.0.1:{port}\"]\n\n\
         [[node]]\nname = \"led-01\"\nhost = \"10.200.0.1\"\nmode = \"push\"\n"
    );
    std::fs::write(&fleet, &text).expect("write fleet");
    let tmux = Tmux::new("adopt");
    tmux.start(&format!(
        "env NO_COLOR=1 '{BIN}' --config '{}' --log-file '{}'",
        fleet.display(),
        dir.path().join("dash.log").display()
    ));
    tmux.wait_for(&["led-01"], Duration::from_secs(15));
    let _senders = common::bin::Proc::spawn(common::bin::bin().args([
        "sim",
        "--push",
        &format!("127.0.0.1:{port}"),
        "--nodes",
        "3",
        "--interval",
        "200ms",
    ]));
    let screen = tmux.wait_for(
        &["Unlisted senders (2)", "10.200.0.2", "10.200.0.3"],
        Duration::from_secs(15),
    );
    assert!(
        screen.contains("n/N add unlisted"),
        "footer hint:\n{screen}"
    );
    // `n` asks about one sender; any key but `y` adds nothing.
    tmux.keys("n");
    let ask = tmux.wait_for(
        &["Add this sender to the fleet file?"],
        Duration::from_secs(5),
    );
    assert!(ask.contains("y adds to"), "{ask}");
    tmux.keys("x");
    tmux.wait_for(&["nothing added"], Duration::from_secs(5));
    assert_eq!(std::fs::read_to_string(&fleet).expect("read"), text);
    tmux.keys("n");
    tmux.wait_for(
        &["Add this sender to the fleet file?"],
        Duration::from_secs(5),
    );
    tmux.keys("y");
    let done = tmux.wait_for(&["added 1 node to", "reloaded"], Duration::from_secs(10));
    assert!(done.contains("; reloaded"), "{done}");
    // `N` adds the rest.
    tmux.keys("N");
    let ask = tmux.wait_for(&["Add all"], Duration::from_secs(5));
    assert!(ask.contains("unlisted senders?"), "{ask}");
    tmux.keys("y");
    let both = common::wait_until(Duration::from_secs(10), || {
        Config::load(&fleet).is_ok_and(|c| c.push_nodes().count() == 3)
    });
    let after = std::fs::read_to_string(&fleet).expect("read");
    assert!(both, "not both added:\n{after}\n{}", tmux.screen());
    assert!(
        after.starts_with(&text),
        "the file was kept as it was:\n{after}"
    );
    for want in ["node-10-200-0-2", "node-10-200-0-3"] {
        assert!(after.contains(want), "{after}");
    }
    let screen = tmux.wait_for(&["10.200.0.2 (push)"], Duration::from_secs(10));
    assert!(screen.contains("node-10-200-0-2"), "{screen}");
    // Adopted senders are nodes now, no longer unlisted.
    let gone = common::wait_until(Duration::from_secs(10), || {
        !tmux.screen().contains("Unlisted senders")
    });
    assert!(gone, "still listed as unlisted:\n{}", tmux.screen());
    tmux.keys("q");
}

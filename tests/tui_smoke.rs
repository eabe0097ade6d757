//! Starts the real binary's dashboard in tmux, reads the screen as a person would,
//! presses `q`, and checks the process exited and left a clean shell.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

struct Tmux {
    socket: String,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", "smoke"])
    }

    /// Waits (bounded) until every needle is on screen; returns the last screen.
    fn wait_for(&self, needles: &[&str], limit: Duration) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if needles.iter().all(|n| screen.contains(n)) || start.elapsed() > limit {
                return screen;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["-L", &self.socket, "kill-server"])
            .output();
    }
}

fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn dashboard_shows_fleet_and_quits_cleanly() {
    if !have_tmux() {
        // .ci/run installs tmux, so in CI this test always runs.
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("smoke.log");
    let bin = env!("CARGO_BIN_EXE_syncguard-fleet");
    let tmux = Tmux {
        socket: format!("sgf-smoke-{}", std::process::id()),
    };
    let cmd = format!(
        "'{bin}' demo --log-file '{}'; echo EXITED:$?; sleep 30",
        log.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "smoke",
        "-x",
        "100",
        "-y",
        "30",
        &cmd,
    ]);

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

    // Help overlay opens and closes.
    tmux.run(&["send-keys", "-t", "smoke", "?"]);
    let help = tmux.wait_for(&["re-poll all nodes now"], Duration::from_secs(5));
    assert!(help.contains("re-poll all nodes now"), "{help}");
    tmux.run(&["send-keys", "-t", "smoke", "?"]);
    let closed = tmux.wait_for(&["Recent transitions"], Duration::from_secs(5));
    assert!(!closed.contains("re-poll all nodes now"), "{closed}");

    tmux.run(&["send-keys", "-t", "smoke", "q"]);
    let after = tmux.wait_for(&["EXITED:"], Duration::from_secs(5));
    assert!(after.contains("EXITED:0"), "did not exit cleanly:\n{after}");
    // The alternate screen is gone: the dashboard is no longer shown.
    assert!(!after.contains("Recent transitions"), "{after}");
    assert!(after.contains("log: "), "{after}");
    assert!(Path::new(&log).exists());
    let logged = std::fs::read_to_string(&log).expect("log");
    assert!(
        logged.contains("[WARN] wall-a-05 pending -> free (reply \"127.0.0.1_state0\")"),
        "{logged}"
    );
}

/// Runs `args` under a shell in the pane, which prints the exit status when it
/// ends (tmux itself can be slow to reap a pane's process). Returns the pid of the
/// program, the shell's child.
fn start_child(tmux: &Tmux, args: &str) -> u32 {
    let cmd = format!("{args}; echo EXITED:$?; sleep 30");
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "smoke",
        "-x",
        "100",
        "-y",
        "30",
        &cmd,
    ]);
    let shell: u32 = tmux
        .run(&["display-message", "-p", "-t", "smoke", "#{pane_pid}"])
        .trim()
        .parse()
        .expect("pane pid");
    let start = Instant::now();
    loop {
        let out = Command::new("pgrep")
            .args(["-P", &shell.to_string()])
            .output()
            .expect("pgrep");
        let first = String::from_utf8_lossy(&out.stdout)
            .lines()
            .next()
            .and_then(|l| l.trim().parse().ok());
        if let Some(pid) = first {
            return pid;
        }
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "program did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn sigterm_sighup_and_sigint_restore_the_terminal() {
    if !have_tmux() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_syncguard-fleet");
    let dir = tempfile::tempdir().expect("tempdir");
    for signal in ["TERM", "HUP", "INT"] {
        let tmux = Tmux {
            socket: format!("sgf-sig-{signal}-{}", std::process::id()),
        };
        let log = dir.path().join(format!("{signal}.log"));
        let pid = start_child(
            &tmux,
            &format!("'{bin}' demo --log-file '{}'", log.display()),
        );
        let screen = tmux.wait_for(
            &["wall-a-05", "Recent transitions"],
            Duration::from_secs(20),
        );
        assert!(screen.contains("Recent transitions"), "{screen}");
        let started = Instant::now();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &pid.to_string()])
            .status()
            .expect("kill");
        assert!(ok.success());
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
    if !have_tmux() {
        eprintln!("skipping: tmux is not installed");
        return;
    }
    let bin = env!("CARGO_BIN_EXE_syncguard-fleet");
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = dir.path().join("fleet.toml");
    // A separate simulator process, as a user would run it.
    let mut sim = Command::new(bin)
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
    let start = Instant::now();
    while !fleet.exists() && start.elapsed() < Duration::from_secs(10) {
        std::thread::sleep(Duration::from_millis(50));
    }
    let text = std::fs::read_to_string(&fleet).expect("sim wrote the fleet file");
    let text = text.replacen(
        "[[node]]",
        "[defaults]\ninterval = \"500ms\"\nmax_interval = \"1s\"\ntimeout = \"1s\"\n\n[[node]]",
        1,
    );
    std::fs::write(&fleet, text).expect("rewrite fleet");
    let tmux = Tmux {
        socket: format!("sgf-flap-{}", std::process::id()),
    };
    let log = dir.path().join("flap.log");
    let cmd = format!(
        "'{bin}' --config '{}' --log-file '{}'",
        fleet.display(),
        log.display()
    );
    tmux.run(&[
        "new-session",
        "-d",
        "-s",
        "smoke",
        "-x",
        "100",
        "-y",
        "30",
        &cmd,
    ]);
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

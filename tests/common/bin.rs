//! The `syncguard-fleet` binary under test: a clean command, bounded runs, running
//! processes whose output is collected as it comes, and signals.

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

pub const BIN: &str = env!("CARGO_BIN_EXE_syncguard-fleet");
/// No run of the binary to completion may take longer than this.
pub const LIMIT: Duration = Duration::from_secs(20);

/// The binary with a clean environment for what it reads.
pub fn bin() -> Command {
    let mut c = Command::new(BIN);
    c.env_remove(syncguard_fleet::config::ENV_VAR)
        // Every run gets a state directory of its own: the default history file
        // (and log) of parallel tests never meet, nor the user's.
        .env("XDG_STATE_HOME", private_dir())
        .env_remove("RUST_LOG")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null());
    c
}

/// A new directory that lives until the test process ends.
pub fn private_dir() -> std::path::PathBuf {
    tempfile::tempdir().expect("tempdir").keep()
}

/// What a finished run printed, and how it ended.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub took: Duration,
}

/// Runs `cmd` to completion, killing it (and failing the test) after `LIMIT`.
pub fn run(cmd: &mut Command) -> Run {
    let f = Proc::spawn(cmd).finish(LIMIT);
    let code = f.code.unwrap_or_else(|| {
        panic!(
            "killed by a signal\nstdout:\n{}\nstderr:\n{}",
            f.stdout, f.stderr
        )
    });
    Run {
        code,
        stdout: f.stdout,
        stderr: f.stderr,
        took: f.took,
    }
}

/// `--once --config CONFIG EXTRA...`, run to completion.
pub fn once(config: &Path, extra: &[&str]) -> Run {
    run(bin().arg("--once").arg("--config").arg(config).args(extra))
}

/// Fails with everything the binary printed, so a wrong code explains itself.
pub fn assert_code(r: &Run, want: i32) {
    assert_eq!(
        r.code, want,
        "exit code\nstdout:\n{}\nstderr:\n{}",
        r.stdout, r.stderr
    );
}

pub fn read_to_string(mut r: impl Read) -> String {
    let mut bytes = Vec::new();
    // A read error leaves what was read; the assertions then say what is missing.
    let _ = r.read_to_end(&mut bytes);
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Waits for `child` at most `limit`, killing it and failing the test after that.
pub fn wait_bounded(child: &mut Child, limit: Duration) -> ExitStatus {
    let started = Instant::now();
    loop {
        match child.try_wait().expect("wait for syncguard-fleet") {
            Some(status) => return status,
            None if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("syncguard-fleet still running after {limit:?}");
            }
            None => thread::sleep(Duration::from_millis(10)),
        }
    }
}

/// Sends `sig` to process `pid`.
pub fn signal(pid: u32, sig: Signal) {
    let pid = i32::try_from(pid)
        .ok()
        .and_then(Pid::from_raw)
        .expect("a valid pid");
    rustix::process::kill_process(pid, sig).expect("send signal");
}

/// `watch --events json` on `config`, with `extra` flags before the subcommand.
pub fn watch(config: &Path, extra: &[&str]) -> Proc {
    Proc::spawn(
        bin()
            .arg("--config")
            .arg(config)
            .args(extra)
            .arg("watch")
            .args(["--events", "json"]),
    )
}

/// [`watch`] on `config` with its own history file `db`.
pub fn watch_with_history(config: &Path, db: &Path) -> Proc {
    watch(config, &["--history", db.to_str().expect("a UTF-8 path")])
}

/// How a [`Proc`] ended.
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    /// From the call to `finish` to the exit.
    pub took: Duration,
}

/// A running binary whose stdout and stderr are read as they come, so a test can
/// wait for what it prints. Killed if dropped while running.
pub struct Proc {
    child: Option<Child>,
    out: Arc<Mutex<String>>,
    err: Arc<Mutex<String>>,
    readers: Vec<thread::JoinHandle<()>>,
}

fn collect(
    mut from: impl Read + Send + 'static,
    into: Arc<Mutex<String>>,
) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let mut buf = [0u8; 8192];
        while let Ok(n) = from.read(&mut buf) {
            if n == 0 {
                break;
            }
            let text = String::from_utf8_lossy(&buf[..n]);
            into.lock()
                .unwrap_or_else(|e| e.into_inner())
                .push_str(&text);
        }
    })
}

impl Proc {
    pub fn spawn(cmd: &mut Command) -> Proc {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn syncguard-fleet");
        let out = Arc::new(Mutex::new(String::new()));
        let err = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            collect(child.stdout.take().expect("stdout piped"), out.clone()),
            collect(child.stderr.take().expect("stderr piped"), err.clone()),
        ];
        Proc {
            child: Some(child),
            out,
            err,
            readers,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().map(Child::id).expect("running")
    }

    pub fn signal(&self, sig: Signal) {
        signal(self.pid(), sig);
    }

    /// stdout so far.
    pub fn stdout(&self) -> String {
        self.out.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// stderr so far.
    pub fn stderr(&self) -> String {
        self.err.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits until `done(stdout, stderr)` holds, failing the test with `what` and
    /// the output after `limit`.
    pub fn wait_for(&self, limit: Duration, what: &str, done: impl Fn(&str, &str) -> bool) {
        let held = super::wait_until(limit, || done(&self.stdout(), &self.stderr()));
        assert!(
            held,
            "not within {limit:?}: {what}\nstdout:\n{}\nstderr:\n{}",
            self.stdout(),
            self.stderr()
        );
    }

    /// Waits for the exit at most `limit` (failing the test after that) and returns
    /// everything printed.
    pub fn finish(mut self, limit: Duration) -> Finished {
        let start = Instant::now();
        let mut child = self.child.take().expect("running");
        let status = wait_bounded(&mut child, limit);
        let took = start.elapsed();
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Finished {
            code: status.code(),
            stdout: self.stdout(),
            stderr: self.stderr(),
            took,
        }
    }

    /// SIGTERM, a clean exit (status 0) within 5 s, and (stdout, stderr).
    pub fn stop(self) -> (String, String) {
        self.signal(Signal::TERM);
        let f = self.finish(Duration::from_secs(5));
        assert_eq!(f.code, Some(0), "exit after SIGTERM\nstderr:\n{}", f.stderr);
        (f.stdout, f.stderr)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The JSON events `watch --events json` printed, one per complete line (a line
/// still being written is left for the next look).
pub fn json_events(stdout: &str) -> Vec<serde_json::Value> {
    stdout
        .split_inclusive('\n')
        .filter(|l| l.ends_with('\n'))
        .map(|l| serde_json::from_str(l).expect("one JSON object per line"))
        .collect()
}

/// (previous, status) of every event for `node`, in order.
pub fn transitions_of(events: &[serde_json::Value], node: &str) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e["node"] == node)
        .map(|e| {
            (
                e["previous"].as_str().unwrap_or("").to_owned(),
                e["status"].as_str().unwrap_or("").to_owned(),
            )
        })
        .collect()
}

//! The dashboard on a real terminal: a private tmux server per test, a pane to run
//! the binary in, and the screen read back as text (optionally with its escapes).

use std::process::Command;
use std::time::{Duration, Instant};

/// A tmux server of its own (`-L socket`), killed on drop.
pub struct Tmux {
    socket: String,
}

/// The pane's session name.
const SESSION: &str = "smoke";

impl Tmux {
    /// A server named after `label` and this process, so parallel tests never meet.
    pub fn new(label: &str) -> Tmux {
        Tmux {
            socket: format!("sgf-{label}-{}", std::process::id()),
        }
    }

    pub fn run(&self, args: &[&str]) -> String {
        let out = Command::new("tmux")
            .arg("-L")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Runs the shell command `cmd` in a new 100×30 pane.
    pub fn start(&self, cmd: &str) {
        // A state directory of its own, so the dashboard's default history file
        // is this test's alone.
        let state = format!("XDG_STATE_HOME={}", super::bin::private_dir().display());
        self.run(&[
            "new-session",
            "-d",
            "-e",
            &state,
            "-s",
            SESSION,
            "-x",
            "100",
            "-y",
            "30",
            cmd,
        ]);
    }

    /// Runs `args` under a shell in the pane, which prints the exit status when it
    /// ends (tmux itself can be slow to reap a pane's process). Returns the pid of
    /// the program, the shell's child.
    pub fn start_child(&self, args: &str) -> u32 {
        self.start(&format!("{args}; echo EXITED:$?; sleep 30"));
        let shell: u32 = self
            .run(&["display-message", "-p", "-t", SESSION, "#{pane_pid}"])
            .trim()
            .parse()
            .expect("pane pid");
        let mut pid = None;
        let started = super::wait_until(Duration::from_secs(10), || {
            let out = Command::new("pgrep")
                .args(["-P", &shell.to_string()])
                .output()
                .expect("pgrep");
            pid = String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .and_then(|l| l.trim().parse().ok());
            pid.is_some()
        });
        assert!(started, "program did not start");
        pid.expect("pid")
    }

    pub fn keys(&self, keys: &str) {
        self.run(&["send-keys", "-t", SESSION, keys]);
    }

    /// The screen as text.
    pub fn screen(&self) -> String {
        self.run(&["capture-pane", "-p", "-t", SESSION])
    }

    /// The screen with its colours and attributes as escape sequences.
    pub fn screen_with_escapes(&self) -> String {
        self.run(&["capture-pane", "-p", "-e", "-t", SESSION])
    }

    /// Waits (bounded) until every needle is on screen; returns the last screen.
    pub fn wait_for(&self, needles: &[&str], limit: Duration) -> String {
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

/// The colour parameters of the SGR sequences (`ESC [ … m`) in `text`: foreground
/// and background colours, basic, bright, 256 or true colour. Resets to the
/// default colour (39, 49) and attributes such as bold are not colours.
pub fn colour_codes(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find("\x1b[") {
        rest = &rest[at + 2..];
        let end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ';' || c == ':'))
            .unwrap_or(rest.len());
        let (params, after) = rest.split_at(end);
        rest = after;
        if !after.starts_with('m') {
            continue;
        }
        let mut it = params.split(';');
        while let Some(p) = it.next() {
            let head = p.split(':').next().unwrap_or("");
            let Ok(n) = head.parse::<u16>() else {
                continue;
            };
            match n {
                30..=37 | 40..=47 | 90..=97 | 100..=107 => found.push(p.to_owned()),
                38 | 48 if p.contains(':') => found.push(p.to_owned()),
                38 | 48 => {
                    // 38;5;N or 38;2;R;G;B: the rest of the colour belongs to it.
                    let kind = it.next().unwrap_or("");
                    let extra = match kind {
                        "5" => 1,
                        "2" => 3,
                        _ => 0,
                    };
                    let tail: Vec<&str> = it.by_ref().take(extra).collect();
                    found.push(format!("{p};{kind};{}", tail.join(";")));
                }
                _ => {}
            }
        }
    }
    found
}

//! Missing tools: a loud failure under CI, else one `SKIPPED: <test> (<reason>)`
//! line on the real stderr, which .ci/run counts. Never a silent pass.

use std::ffi::OsString;
use std::io::Write;
use std::process::Command;

/// Whether we run under CI (`CI` set, and not to `false` or `0`).
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Prints `SKIPPED: <test> (<why>)` past the test harness's output capture, so the
/// line reaches the log of a passing test run.
pub fn report_skip(test: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "SKIPPED: {test} ({why})");
}

/// True when the test can go on. When `available` is false: fails under CI, where
/// .ci/run installs every tool, and otherwise reports the skip and returns false.
pub fn require(test: &str, available: bool, why: &str) -> bool {
    if available {
        return true;
    }
    assert!(
        !in_ci(),
        "{test}: {why}; under CI this must run (.ci/run installs the test tools)"
    );
    report_skip(test, why);
    false
}

/// The Python interpreter for parser checks: `SYNCGUARD_TEST_PYTHON` (the virtual
/// environment .ci/run makes), else `python3`.
pub fn python() -> OsString {
    std::env::var_os("SYNCGUARD_TEST_PYTHON")
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| "python3".into())
}

/// Whether `python()` can import `module`.
pub fn have_python_module(module: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {module}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Whether /proc gives this process's descriptors and memory.
pub fn have_proc() -> bool {
    super::open_fds().is_some() && super::rss_kb().is_some()
}

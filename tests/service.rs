//! The service features with the real binary: `watch` with Prometheus metrics
//! (checked with a real parser), alert hooks, flap damping, and reloads on SIGHUP
//! that add, remove and change nodes or move the receiver.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use rustix::process::Signal;

use common::bin::{json_events, transitions_of, watch};
use common::lab::Lab;
use common::net::{free_port, http_get, std_closed_within};
use common::{skip, wait_until};

/// Generous: these wait for a handful of polls on a busy machine.
const LIMIT: Duration = Duration::from_secs(15);

#[test]
fn metrics_endpoint_serves_the_fleet_and_parses() {
    let lab = Lab::new(&[("ok", "state2", None), ("bad", "free", None)]);
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[defaults]\ninterval = \"500ms\"\nmax_interval = \"1s\"\n{}",
            lab.nodes_toml(&["ok", "bad"])
        ),
    );
    let port = free_port();
    let child = watch(&config, &["--http", &format!("127.0.0.1:{port}")]);
    let mut response = String::new();
    wait_until(Duration::from_secs(10), || {
        if let Some(r) = http_get(port, "/metrics")
            && r.contains("syncguard_node_healthy{node=\"bad\"")
            && r.contains("syncguard_nodes{status=\"synced\"} 1")
            && r.contains("syncguard_nodes{status=\"free\"} 1")
        {
            response = r;
            return true;
        }
        false
    });
    let not_found = http_get(port, "/nope").unwrap_or_default();
    let _ = child.stop();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(not_found.starts_with("HTTP/1.1 404"), "{not_found}");
    let body = response.split("\r\n\r\n").nth(1).unwrap_or_default();
    for want in [
        "syncguard_node_healthy{node=\"ok\"} 1",
        "syncguard_node_healthy{node=\"bad\"} 0",
        "syncguard_node_status{node=\"bad\",status=\"free\"} 1",
        "syncguard_node_status{node=\"ok\",status=\"synced\",role=\"Master\"} 1",
        "syncguard_nodes{status=\"free\"} 1",
        "syncguard_build_info{version=\"",
    ] {
        assert!(body.contains(want), "missing {want:?} in:\n{body}");
    }
    if !skip::require(
        "service::metrics_endpoint_serves_the_fleet_and_parses",
        skip::have_python_module("prometheus_client.openmetrics.parser"),
        "python prometheus_client not installed",
    ) {
        return;
    }
    let mut py = Command::new(skip::python())
        .args([
            "-c",
            "import sys\nfrom prometheus_client.openmetrics.parser import text_string_to_metric_families as p\n\
             names = sorted(f.name for f in p(sys.stdin.read()))\nprint('\\n'.join(names))",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python");
    py.stdin
        .take()
        .expect("stdin")
        .write_all(body.as_bytes())
        .expect("feed parser");
    let out = py.wait_with_output().expect("parser");
    assert!(
        out.status.success(),
        "the Prometheus parser rejected the exposition"
    );
    let names = String::from_utf8_lossy(&out.stdout);
    for family in [
        "syncguard_node_healthy",
        "syncguard_reply_latency_seconds",
        "syncguard_nodes",
        "syncguard_build_info",
    ] {
        assert!(
            names.lines().any(|l| l == family),
            "{family} not parsed: {names}"
        );
    }
}

/// `[metrics] bind` in the file, the deprecated alias of `[http] bind`, still
/// serves /metrics, with a warning that says what to use instead.
#[test]
fn metrics_bind_from_the_file_is_served() {
    let lab = Lab::new(&[("ok", "synced", None), ("bad", "free", None)]);
    let port = free_port();
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[defaults]\ninterval = \"300ms\"\nmax_interval = \"500ms\"\n\
             [metrics]\nbind = \"127.0.0.1:{port}\"\n{}",
            lab.nodes_toml(&["ok", "bad"])
        ),
    );
    let child = watch(&config, &[]);
    let mut response = String::new();
    let served = wait_until(LIMIT, || {
        response = http_get(port, "/metrics").unwrap_or_default();
        response.contains("syncguard_nodes{status=\"synced\"} 1")
            && response.contains("syncguard_nodes{status=\"free\"} 1")
    });
    let (_, stderr) = child.stop();
    assert!(
        served,
        "no fleet on /metrics at 127.0.0.1:{port}:\n{response}\n{stderr}"
    );
    assert!(
        stderr.contains("[metrics] bind is deprecated: use [http] bind"),
        "{stderr}"
    );
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(
        response.contains("syncguard_node_healthy{node=\"ok\""),
        "{response}"
    );
}

/// Runs recorded by the hook script, oldest first: one file of SYNCGUARD_* lines each.
fn hook_runs(dir: &std::path::Path) -> Vec<String> {
    let mut runs: Vec<_> = std::fs::read_dir(dir)
        .expect("hook output")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "env"))
        .collect();
    runs.sort();
    runs.iter()
        .map(|p| std::fs::read_to_string(p).expect("env file"))
        .collect()
}

#[test]
fn alert_hook_fires_once_per_confirmed_change_with_its_environment() {
    let lab = Lab::with_flap(
        &[("flap", "flap", None), ("ok", "synced", None)],
        Duration::from_secs(2),
    );
    let out_dir = lab.path("hooks");
    std::fs::create_dir(&out_dir).expect("mkdir");
    // Records the SYNCGUARD_* environment it was given, one file per run; the file
    // appears complete (renamed into place), so a reader never sees half of it.
    let script = lab.write(
        "record.sh",
        "f=\"$1/$(date +%s%N)\"; env | grep '^SYNCGUARD_' | sort > \"$f.tmp\" && mv \"$f.tmp\" \"$f.env\"\n",
    );
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[defaults]\ninterval = \"200ms\"\nmax_interval = \"300ms\"\n\
             [[alert]]\ncommand = [\"/bin/sh\", \"{}\", \"{}\"]\non = [\"unhealthy\", \"recovered\"]\nafter = 2\n{}",
            script.display(),
            out_dir.display(),
            lab.nodes_toml(&["flap", "ok"])
        ),
    );
    let child = watch(&config, &[]);
    // The flap node is Synced for 2 s, Free for 2 s, then Synced again: wait for the
    // recovery's run, then for the next drop out of lock, by which time any extra
    // run for the first two changes would have happened.
    let recovered = wait_until(LIMIT, || {
        hook_runs(&out_dir)
            .iter()
            .any(|e| e.contains("SYNCGUARD_EVENT=recovered\n"))
    });
    child.wait_for(LIMIT, "flap drops out of lock a second time", |out, _| {
        transitions_of(&json_events(out), "flap")
            .iter()
            .filter(|(_, to)| to == "free")
            .count()
            >= 2
    });
    let _ = child.stop();
    let envs = hook_runs(&out_dir);
    assert!(recovered, "no recovered run: {envs:#?}");
    // One run per confirmed change. The next drop out of lock may have fired its
    // own `unhealthy` by now; nothing else may follow.
    assert!(
        envs.len() == 2 || (envs.len() == 3 && envs[2].contains("SYNCGUARD_EVENT=unhealthy\n")),
        "one run per confirmed change: {envs:#?}"
    );
    assert!(
        envs[0].contains("SYNCGUARD_EVENT=unhealthy\n"),
        "{}",
        envs[0]
    );
    assert!(envs[0].contains("SYNCGUARD_NODE=flap\n"), "{}", envs[0]);
    assert!(envs[0].contains("SYNCGUARD_STATUS=free\n"), "{}", envs[0]);
    assert!(
        envs[0].contains("SYNCGUARD_PREVIOUS=synced\n"),
        "{}",
        envs[0]
    );
    assert!(envs[0].contains("SYNCGUARD_REPLY=Free\n"), "{}", envs[0]);
    for key in ["SYNCGUARD_GROUP=", "SYNCGUARD_ROLE=", "SYNCGUARD_ERROR="] {
        assert!(envs[0].contains(key), "{key} missing: {}", envs[0]);
    }
    assert!(
        envs[1].contains("SYNCGUARD_EVENT=recovered\n"),
        "{}",
        envs[1]
    );
    assert!(envs[1].contains("SYNCGUARD_STATUS=synced\n"), "{}", envs[1]);
    assert!(envs[1].contains("SYNCGUARD_PREVIOUS=free\n"), "{}", envs[1]);
}

/// A hook that exits 3 is reported on watch's stderr with that exit status.
#[test]
fn failing_hook_is_logged_with_its_exit_status() {
    let lab = Lab::new(&[("bad", "free", None)]);
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[defaults]\ninterval = \"300ms\"\nmax_interval = \"500ms\"\n\
             [[alert]]\ncommand = [\"/bin/sh\", \"-c\", \"exit 3\"]\non = [\"unhealthy\"]\n{}",
            lab.nodes_toml(&["bad"])
        ),
    );
    let child = watch(&config, &[]);
    child.wait_for(LIMIT, "the hook's failure on stderr", |_, err| {
        err.contains("failed")
    });
    let (stdout, stderr) = child.stop();
    let line = stderr
        .lines()
        .find(|l| l.contains("alert hook") && l.contains("failed"))
        .unwrap_or_else(|| panic!("no failure line:\n{stderr}"));
    assert!(line.contains("[WARN]"), "{line}");
    assert!(line.contains("bad unhealthy"), "{line}");
    assert!(line.contains("exit status: 3"), "{line}");
    assert_eq!(
        transitions_of(&json_events(&stdout), "bad"),
        [("pending".to_owned(), "free".to_owned())]
    );
}

/// Two nodes flapping alike: the undamped one shows every change, the one with
/// `confirm_unhealthy`/`confirm_healthy` longer than a flap shows only its first
/// answer.
#[test]
fn flap_damping_holds_back_changes_in_watch() {
    let lab = Lab::with_flap(
        &[("raw", "flap", None), ("damped", "flap", None)],
        Duration::from_secs(1),
    );
    // 30 results at 100–150 ms take 3 s or more: longer than one 1 s flap.
    let config = lab.write(
        "fleet.toml",
        &format!(
            "[defaults]\ninterval = \"100ms\"\nmax_interval = \"150ms\"\n{}{}",
            lab.node_toml("raw", ""),
            lab.node_toml("damped", "confirm_unhealthy = 30\nconfirm_healthy = 30")
        ),
    );
    let child = watch(&config, &[]);
    child.wait_for(LIMIT, "the undamped node changes three times", |out, _| {
        transitions_of(&json_events(out), "raw").len() >= 4
    });
    let (stdout, _) = child.stop();
    let events = json_events(&stdout);
    let raw = transitions_of(&events, "raw");
    assert!(
        raw.iter().any(|(f, t)| f == "synced" && t == "free")
            && raw.iter().any(|(f, t)| f == "free" && t == "synced"),
        "{raw:?}"
    );
    let damped = transitions_of(&events, "damped");
    assert_eq!(damped.len(), 1, "damped node changed: {damped:?}\n{stdout}");
    assert_eq!(damped[0].0, "pending", "{damped:?}");
}

/// How a test asks `watch` to reload.
#[derive(Clone, Copy, Debug)]
enum Trigger {
    Sighup,
    /// `--watch-config`: the file is saved, nothing else.
    SavedFile,
}

/// Writes the config, then makes `watch` reload it the way `trigger` says.
fn change_config(lab: &Lab, child: &common::bin::Proc, trigger: Trigger, text: &str) {
    match trigger {
        Trigger::Sighup => {
            lab.write("fleet.toml", text);
            child.signal(Signal::HUP);
        }
        // Saved as editors save: a new file renamed over the old one.
        Trigger::SavedFile => {
            let tmp = lab.write(".fleet.toml.tmp", text);
            std::fs::rename(&tmp, lab.path("fleet.toml")).expect("rename over the config");
        }
    }
}

/// A reload adds and removes nodes and keeps the others with their state; a broken
/// file is rejected and the running config stays in force.
fn reload_adds_removes_and_rejects(trigger: Trigger) {
    let lab = Lab::new(&[("b", "free", None), ("c", "state1", None)]);
    // `a` counts its polls, so the test can wait for it to be polled again.
    let a = lab.fake(Some("Synced"));
    let timing = "[defaults]\ninterval = \"300ms\"\nmax_interval = \"400ms\"\n";
    let config = lab.write(
        "fleet.toml",
        &format!("{timing}{}{}", a.node_toml("a", ""), lab.nodes_toml(&["b"])),
    );
    let flags: &[&str] = match trigger {
        Trigger::Sighup => &[],
        Trigger::SavedFile => &["--watch-config"],
    };
    let child = watch(&config, flags);
    child.wait_for(LIMIT, "first answers of a and b", |out, _| {
        let ev = json_events(out);
        !transitions_of(&ev, "a").is_empty() && !transitions_of(&ev, "b").is_empty()
    });
    // Remove b, add c; a is unchanged.
    let text = format!("{timing}{}{}", a.node_toml("a", ""), lab.nodes_toml(&["c"]));
    change_config(&lab, &child, trigger, &text);
    child.wait_for(LIMIT, "the reload", |_, err| err.contains("reloaded"));
    let polled = a.requests();
    child.wait_for(
        LIMIT,
        "c's first answer and two more polls of a",
        |out, _| !transitions_of(&json_events(out), "c").is_empty() && a.requests() >= polled + 2,
    );
    // A broken file is rejected and the running config stays.
    change_config(&lab, &child, trigger, "[[node]]\nname = \"x\"\n");
    child.wait_for(LIMIT, "the rejected reload", |_, err| {
        err.contains("reload rejected")
    });
    let polled = a.requests();
    let still = wait_until(LIMIT, || a.requests() >= polled + 2);
    assert!(
        still,
        "{trigger:?}: a is no longer polled after the rejected reload"
    );
    let (stdout, stderr) = child.stop();
    let events = json_events(&stdout);
    // a kept its state: it went pending -> synced once, not again after the reload.
    assert_eq!(
        transitions_of(&events, "a"),
        vec![("pending".to_owned(), "synced".to_owned())],
        "{trigger:?}: {stdout}"
    );
    assert_eq!(
        transitions_of(&events, "b"),
        vec![("pending".to_owned(), "free".to_owned())]
    );
    assert_eq!(
        transitions_of(&events, "c"),
        vec![("pending".to_owned(), "synced".to_owned())],
        "c started after the reload"
    );
    assert_eq!(
        stderr.matches("reloaded").count(),
        1,
        "{trigger:?}: {stderr}"
    );
    assert!(stderr.contains("1 kept"), "{stderr}");
    assert!(
        stderr.contains("reload rejected, old config kept"),
        "{stderr}"
    );
    assert!(stderr.contains("node[0].host: missing"), "{stderr}");
    assert!(
        stderr.contains("watched 2 nodes"),
        "the reloaded config stayed in force: {stderr}"
    );
}

#[test]
fn sighup_reload_adds_and_removes_nodes_and_keeps_the_others() {
    reload_adds_removes_and_rejects(Trigger::Sighup);
}

/// `--watch-config`: the same, with no signal: the saved file alone reloads.
#[test]
fn watch_config_reloads_a_saved_file_the_same_way() {
    reload_adds_removes_and_rejects(Trigger::SavedFile);
}

/// A reload that moves a node to another port: the new address is polled, the old
/// one no more, and the node shows what the new one answers.
#[test]
fn sighup_reload_moves_a_node_to_its_new_port() {
    let lab = Lab::new(&[]);
    let old = lab.fake(Some("Synced"));
    let new = lab.fake(Some("Free"));
    let timing = "[defaults]\ninterval = \"200ms\"\nmax_interval = \"300ms\"\n";
    let config = lab.write("fleet.toml", &format!("{timing}{}", old.node_toml("n", "")));
    let child = watch(&config, &[]);
    child.wait_for(LIMIT, "n synced on the old port", |out, _| {
        transitions_of(&json_events(out), "n")
            .iter()
            .any(|(_, to)| to == "synced")
    });
    lab.write("fleet.toml", &format!("{timing}{}", new.node_toml("n", "")));
    child.signal(Signal::HUP);
    child.wait_for(
        LIMIT,
        "the reload and n free on the new port",
        |out, err| {
            err.contains("reloaded")
                && transitions_of(&json_events(out), "n")
                    .last()
                    .is_some_and(|(_, to)| to == "free")
        },
    );
    let old_polls = old.requests();
    let polled = wait_until(LIMIT, || new.requests() >= 3);
    assert!(polled, "the new port is not polled");
    assert_eq!(old.requests(), old_polls, "the old port is still polled");
    let (stdout, stderr) = child.stop();
    assert!(
        stderr.contains("0 kept"),
        "n changed, so it restarted: {stderr}"
    );
    let n = transitions_of(&json_events(&stdout), "n");
    assert_eq!(
        n.first().map(|(_, to)| to.as_str()),
        Some("synced"),
        "{n:?}"
    );
    assert_eq!(n.last().map(|(_, to)| to.as_str()), Some("free"), "{n:?}");
}

/// A reload that changes `[listen] bind` restarts the receiver: connections to the
/// old address are closed and refused, and senders on the new one are heard.
#[test]
fn sighup_reload_moves_the_receiver() {
    let lab = Lab::new(&[]);
    let (first, second) = (free_port(), free_port());
    let text = |port: u16| {
        format!(
            "[listen]\nbind = [\"127.0.0.1:{port}\"]\n\
             [[node]]\nname = \"led\"\nhost = \"10.9.0.1\"\nmode = \"push\"\n"
        )
    };
    let config = lab.write("fleet.toml", &text(first));
    let child = watch(&config, &[]);
    let connect = |port: u16| {
        let mut s = None;
        wait_until(LIMIT, || {
            s = std::net::TcpStream::connect(("127.0.0.1", port)).ok();
            s.is_some()
        });
        s.unwrap_or_else(|| panic!("nothing listens on {port}"))
    };
    let mut old = connect(first);
    old.write_all(b"10.9.0.1_state1\r\n").expect("write");
    child.wait_for(LIMIT, "led heard on the first address", |out, _| {
        !transitions_of(&json_events(out), "led").is_empty()
    });
    lab.write("fleet.toml", &text(second));
    child.signal(Signal::HUP);
    child.wait_for(LIMIT, "the receiver restarted", |_, err| {
        err.contains("receiver restarted")
    });
    assert!(
        std_closed_within(&mut old, Duration::from_secs(5)),
        "the old receiver's connection is still open"
    );
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", first)).is_err(),
        "the old address still accepts"
    );
    let mut new = connect(second);
    new.write_all(b"10.9.0.1_state0\r\n").expect("write");
    child.wait_for(LIMIT, "led heard on the new address", |out, _| {
        transitions_of(&json_events(out), "led")
            .last()
            .is_some_and(|(_, to)| to == "free")
    });
    let (stdout, _) = child.stop();
    assert_eq!(
        transitions_of(&json_events(&stdout), "led"),
        [
            ("pending".to_owned(), "synced".to_owned()),
            ("synced".to_owned(), "free".to_owned())
        ],
        "the node kept its state across the receiver's restart"
    );
}

/// `[reload] watch = true` turns the watching on from the file; without it (and
/// without the flag) a changed file waits for SIGHUP.
#[test]
fn reload_watch_from_the_file_and_nothing_without_it() {
    let lab = Lab::new(&[("b", "free", None)]);
    let a = lab.fake(Some("Synced"));
    let timing = "[defaults]\ninterval = \"300ms\"\nmax_interval = \"400ms\"\n";
    for watched in [true, false] {
        let table = if watched {
            "[reload]\nwatch = true\n"
        } else {
            ""
        };
        let config = lab.write(
            "fleet.toml",
            &format!("{timing}{table}{}", a.node_toml("a", "")),
        );
        let child = watch(&config, &[]);
        child.wait_for(LIMIT, "a's first answer", |out, _| {
            !transitions_of(&json_events(out), "a").is_empty()
        });
        let text = format!(
            "{timing}{table}{}{}",
            a.node_toml("a", ""),
            lab.nodes_toml(&["b"])
        );
        change_config(&lab, &child, Trigger::SavedFile, &text);
        if watched {
            child.wait_for(LIMIT, "the reload from the file", |out, err| {
                err.contains("reloaded") && !transitions_of(&json_events(out), "b").is_empty()
            });
        } else {
            // Long enough for a watcher's debounce many times over: a is polled
            // several times, and no reload happens on its own.
            let polled = a.requests();
            assert!(wait_until(LIMIT, || a.requests() >= polled + 6));
            child.signal(Signal::HUP);
            child.wait_for(LIMIT, "the reload on SIGHUP", |_, err| {
                err.contains("reloaded")
            });
        }
        let (_, stderr) = child.stop();
        assert_eq!(
            stderr.matches("reloaded").count(),
            1,
            "watched={watched}: {stderr}"
        );
    }
}

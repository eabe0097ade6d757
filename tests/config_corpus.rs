//! Every broken config in tests/fixtures/bad/ must exit 3 with one clear message:
//! `NAME.toml` is paired with `NAME.expected`, the text that must follow the path.

use std::path::Path;
use std::process::Command;

#[test]
fn every_bad_config_exits_3_with_its_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/bad");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures dir")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "toml"))
        .collect();
    files.sort();
    assert!(files.len() >= 20, "only {} bad configs", files.len());
    let mut failures = Vec::new();
    for file in &files {
        let expected_path = file.with_extension("expected");
        let expected = std::fs::read_to_string(&expected_path)
            .unwrap_or_else(|_| panic!("{} has no .expected file", file.display()));
        let expected = expected.trim_end_matches('\n');
        let out = Command::new(env!("CARGO_BIN_EXE_syncguard-fleet"))
            .args(["--once", "--config"])
            .arg(file)
            .env_remove("RUST_LOG")
            .output()
            .expect("run binary");
        let stderr = String::from_utf8_lossy(&out.stderr);
        let want = format!("syncguard-fleet: {}{expected}", file.display());
        let problems = [
            (out.status.code() != Some(3)).then(|| format!("exit {:?}, not 3", out.status.code())),
            (!out.stdout.is_empty()).then(|| "wrote to stdout".to_owned()),
            stderr.contains("panicked").then(|| "panicked".to_owned()),
            (stderr.trim_end().lines().count() != 1).then(|| "not exactly one line".to_owned()),
            (!stderr.starts_with(&want)).then(|| format!("message does not start with {want:?}")),
        ];
        let problems: Vec<String> = problems.into_iter().flatten().collect();
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n  stderr: {}",
                file.display(),
                problems.join("; "),
                stderr.trim_end()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} configs wrong:\n{}",
        failures.len(),
        files.len(),
        failures.join("\n")
    );
}

/// The commented example shipped at the top level must stay valid (parsed only:
/// nothing connects to its placeholder addresses).
#[test]
fn example_fleet_toml_is_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("fleet.toml");
    let config = syncguard_fleet::config::Config::load(&path).expect("fleet.toml is valid");
    assert_eq!(config.nodes.len(), 6);
    assert_eq!(config.defaults.max_connecting, 1024);
    assert_eq!(config.flap_threshold, 4);
    assert!(config.listen.is_none() && config.http.bind.is_none() && config.alerts.is_empty());
}

/// The sharded example fleet of examples/prometheus/ is a valid config too (how
/// its three shards split it: tests/shard.rs).
#[test]
fn example_shard_configs_are_valid() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/prometheus/fleet.toml");
    let config =
        syncguard_fleet::config::Config::load(&path).expect("the sharded example is valid");
    assert!(config.http.bind.is_some(), "it serves metrics");
}

//! `{A..B}` ranges and `nodes_file`: a 200-node fleet from a dozen lines loads
//! with exactly the names, hosts, ports and groups it spells out, and the binary
//! reports a bad range or a bad CSV cell at its file, line and column (exit 3).
//! Nothing here connects anywhere: only `Config::load` and `config check` run.

mod common;

use std::path::Path;

use common::bin::{assert_code, bin, run};
use syncguard_fleet::config::{Config, Mode};

const FLEET: &str = r#"nodes_file = "nodes.csv"
[defaults]
port = 9000
[[node]]
name = "wall-a-{01..64}"
host = "192.168.0.{1..64}"
group = "wall-A"
[[node]]
name = "wall-b-{01..64}"
host = "192.168.1.{101..164}"
port = "{8001..8064}"
group = "wall-B"
"#;

const NODES_CSV: &str = "name,host,port,group,mode\n\
                         wall-c-{001..064},10.0.2.{64..1},,wall-C,\n\
                         spare-{1..8},10.9.0.{1..8},7000,,push\n";

fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write fixture");
}

#[test]
fn two_hundred_nodes_from_a_dozen_lines() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "fleet.toml", FLEET);
    write(dir.path(), "nodes.csv", NODES_CSV);
    let config = Config::load(&dir.path().join("fleet.toml")).expect("valid fleet");

    let mut want: Vec<(String, String, u16, Option<String>, Mode)> = Vec::new();
    for k in 1..=64u16 {
        want.push((
            format!("wall-a-{k:02}"),
            format!("192.168.0.{k}"),
            9000,
            Some("wall-A".into()),
            Mode::Poll,
        ));
    }
    for k in 1..=64u16 {
        want.push((
            format!("wall-b-{k:02}"),
            format!("192.168.1.{}", 100 + k),
            8000 + k,
            Some("wall-B".into()),
            Mode::Poll,
        ));
    }
    for k in 1..=64u16 {
        want.push((
            format!("wall-c-{k:03}"),
            format!("10.0.2.{}", 65 - k),
            9000,
            Some("wall-C".into()),
            Mode::Poll,
        ));
    }
    for k in 1..=8u16 {
        want.push((
            format!("spare-{k}"),
            format!("10.9.0.{k}"),
            7000,
            None,
            Mode::Push,
        ));
    }
    let got: Vec<_> = config
        .nodes
        .iter()
        .map(|n| {
            (
                n.name.clone(),
                n.host.clone(),
                n.port,
                n.group.clone(),
                n.mode,
            )
        })
        .collect();
    assert_eq!(got.len(), 200);
    assert_eq!(got, want);
    assert_eq!(config.push_directory().len(), 8);
}

#[test]
fn a_reload_reads_the_nodes_file_again() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fleet = dir.path().join("fleet.toml");
    write(dir.path(), "fleet.toml", "nodes_file = \"nodes.csv\"\n");
    write(dir.path(), "nodes.csv", "name,host\nn{1..3},h{1..3}\n");
    assert_eq!(Config::load(&fleet).expect("valid").nodes.len(), 3);
    write(dir.path(), "nodes.csv", "name,host\nn{1..5},h{1..5}\n");
    assert_eq!(Config::load(&fleet).expect("valid").nodes.len(), 5);
}

/// `syncguard-fleet -c fleet.toml config check`, run in `dir`.
fn check(dir: &Path) -> common::bin::Run {
    run(bin()
        .current_dir(dir)
        .args(["-c", "fleet.toml", "config", "check"]))
}

#[test]
fn config_check_accepts_ranges_and_names_a_bad_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "fleet.toml",
        "[[node]]\nname = \"wall-a-{01..32}\"\nhost = \"192.168.0.{201..232}\"\ngroup = \"wall-A\"\n",
    );
    let r = check(dir.path());
    assert_code(&r, 0);

    write(
        dir.path(),
        "fleet.toml",
        "[[node]]\nname = \"wall-a-{01..32}\"\nhost = \"192.168.0.{201..231}\"\n",
    );
    let r = check(dir.path());
    assert_code(&r, 3);
    assert!(
        r.stderr.contains(
            "fleet.toml:3:8: node[0].host: range {201..231} gives 31 values but name's range {01..32} gives 32"
        ),
        "{}",
        r.stderr
    );

    write(
        dir.path(),
        "fleet.toml",
        "[[node]]\nname = \"wall-a-{01..60}\"\nhost = \"192.168.0.{201..260}\"\n",
    );
    let r = check(dir.path());
    assert_code(&r, 3);
    assert!(
        r.stderr.contains(
            "fleet.toml:3:8: node[0].host: range {201..260} gives 192.168.0.256, which is not a valid IP address"
        ),
        "{}",
        r.stderr
    );
}

#[test]
fn a_bad_csv_cell_is_named_by_line_and_column() {
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "fleet.toml", "nodes_file = \"nodes.csv\"\n");
    write(
        dir.path(),
        "nodes.csv",
        "name,host,group\nwall-01,192.168.0.1,wall\nwall-02,192.168 .0.2,wall\n",
    );
    let r = check(dir.path());
    assert_code(&r, 3);
    assert!(
        r.stderr
            .contains("nodes.csv:3:2: host: \"192.168 .0.2\" is not a host name or IP address"),
        "{}",
        r.stderr
    );
    assert!(r.stdout.is_empty(), "{}", r.stdout);

    // A missing file is an error at the key in the fleet file.
    std::fs::remove_file(dir.path().join("nodes.csv")).expect("remove");
    let r = check(dir.path());
    assert_code(&r, 3);
    assert!(
        r.stderr
            .contains("fleet.toml:1:14: nodes_file: cannot read nodes.csv: "),
        "{}",
        r.stderr
    );
}

/// An inventory export of 10,000 nodes, one row each (no ranges), with the
/// extra columns such exports carry, loads in full and in order. The time
/// taken is printed (`--nocapture`), not asserted: machines differ.
#[test]
fn ten_thousand_rows_load_in_order() {
    const ROWS: u32 = 10_000;
    let mut csv = String::from("name,host,port,group,mode,rack,serial,notes\n");
    for k in 0..ROWS {
        let mode = if k % 2 == 0 { "push" } else { "" };
        csv.push_str(&format!(
            "render-{k:05},10.{}.{}.{},,wall-{},{mode},R{:03},SN{k:08},\"row {k}, spare\"\n",
            k / 65536 + 10,
            k / 256 % 256,
            k % 256,
            k / 100,
            k / 40
        ));
    }
    let dir = tempfile::tempdir().expect("tempdir");
    write(dir.path(), "fleet.toml", "nodes_file = \"nodes.csv\"\n");
    write(dir.path(), "nodes.csv", &csv);
    let started = std::time::Instant::now();
    let config = Config::load(&dir.path().join("fleet.toml")).expect("valid fleet");
    eprintln!(
        "Config::load of {ROWS} rows ({} bytes): {:?}",
        csv.len(),
        started.elapsed()
    );
    assert_eq!(config.nodes.len(), ROWS as usize);
    let last = &config.nodes[ROWS as usize - 1];
    assert_eq!(
        (
            last.name.as_str(),
            last.host.as_str(),
            last.group.as_deref(),
            last.mode
        ),
        ("render-09999", "10.10.39.15", Some("wall-99"), Mode::Poll)
    );
    assert_eq!(config.push_directory().len(), ROWS as usize / 2);
}

//! A lab for black-box tests: simulated nodes on 127.0.0.1 served by a runtime in
//! the test process, fake nodes, and a directory for fleet files.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use syncguard_fleet::sim::{Behaviour, Sim, SimSpec};

use super::net::FakeNode;

/// Fields drop in order: nodes, runtime, files.
pub struct Lab {
    pub sim: Sim,
    pub rt: tokio::runtime::Runtime,
    pub dir: tempfile::TempDir,
}

/// Specs from (name, behaviour, group); behaviours as `sim` spells them.
pub fn specs(nodes: &[(&str, &str, Option<&str>)]) -> Vec<SimSpec> {
    nodes
        .iter()
        .map(|(name, b, group)| SimSpec {
            name: (*name).to_owned(),
            group: group.map(str::to_owned),
            behaviour: b.parse::<Behaviour>().expect("known behaviour"),
        })
        .collect()
}

impl Lab {
    /// `nodes`: (name, behaviour, group). Flap nodes never change state.
    pub fn new(nodes: &[(&str, &str, Option<&str>)]) -> Lab {
        Lab::with_flap(nodes, Duration::from_secs(3600))
    }

    /// Like [`Lab::new`], with `flap` nodes switching every `flap_period`.
    pub fn with_flap(nodes: &[(&str, &str, Option<&str>)], flap_period: Duration) -> Lab {
        let rt = super::runtime();
        let sim = rt
            .block_on(Sim::start(
                specs(nodes),
                IpAddr::V4(Ipv4Addr::LOCALHOST),
                flap_period,
            ))
            .expect("start simulator");
        Lab {
            sim,
            rt,
            dir: tempfile::tempdir().expect("tempdir"),
        }
    }

    /// Writes a fleet file for every simulated node.
    pub fn fleet(&self, file: &str, defaults: &str) -> PathBuf {
        write(self.dir.path(), file, &self.sim.fleet_toml(defaults))
    }

    /// Writes `text` to `file` in the lab's directory.
    pub fn write(&self, file: &str, text: &str) -> PathBuf {
        write(self.dir.path(), file, text)
    }

    pub fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    pub fn addr(&self, name: &str) -> SocketAddr {
        self.sim
            .nodes
            .iter()
            .find(|n| n.spec.name == name)
            .map(|n| n.addr)
            .unwrap_or_else(|| panic!("no sim node {name}"))
    }

    /// A `[[node]]` table for simulated node `name`, with `extra` keys.
    pub fn node_toml(&self, name: &str, extra: &str) -> String {
        let addr = self.addr(name);
        format!(
            "[[node]]\nname = \"{name}\"\nhost = \"{}\"\nport = {}\n{extra}\n",
            addr.ip(),
            addr.port()
        )
    }

    /// `[[node]]` tables for some of the simulated nodes, by name.
    pub fn nodes_toml(&self, names: &[&str]) -> String {
        names.iter().map(|n| self.node_toml(n, "")).collect()
    }

    /// A fake node served by the lab's runtime.
    pub fn fake(&self, reply: Option<&str>) -> FakeNode {
        self.rt.block_on(FakeNode::start(reply))
    }
}

pub fn write(dir: &Path, file: &str, text: &str) -> PathBuf {
    let path = dir.join(file);
    std::fs::write(&path, text).expect("write fleet file");
    path
}

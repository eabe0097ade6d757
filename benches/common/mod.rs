//! Shared by the benches: a synthetic fleet config of `n` poll nodes in groups of 16.

use syncguard_fleet::config::Config;

pub fn fleet_config(n: usize) -> Config {
    let mut text = String::with_capacity(n * 80);
    for i in 0..n {
        text.push_str(&format!(
            "[[node]]\nname = \"node-{i:05}\"\nhost = \"10.{}.{}.{}\"\ngroup = \"g{}\"\n",
            i / 65536,
            (i / 256) % 256,
            i % 256,
            i / 16
        ));
    }
    Config::parse(&text, "bench.toml").expect("bench config")
}

/// The name `fleet_config` gives node `i`.
pub fn node_name(i: usize) -> String {
    format!("node-{i:05}")
}

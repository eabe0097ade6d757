//! `config show`: the effective configuration as TOML.

use super::Config;

/// The effective configuration of `config`, as TOML.
pub fn show(config: &Config) -> String {
    format!("# {}\n", config.source)
}

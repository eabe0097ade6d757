//! `config check`: a one-screen summary of a valid fleet file.

use crate::config::Config;

/// The summary of `config` (narrowed from `whole` by the selection).
pub fn summary(whole: &Config, config: &Config) -> String {
    let _ = whole;
    format!("{}: ok, {} nodes\n", config.source, config.nodes.len())
}

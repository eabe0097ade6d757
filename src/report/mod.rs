//! `--once` output: a table for people, JSON for scripts and one Nagios line for
//! alerting. All three read the same snapshot and agree on the verdict. The
//! `history` and `uptime` outputs are in [`history`].

pub mod config;
pub mod history;
mod json;
mod nagios;
mod table;

pub use json::{json, json_line};
pub use nagios::nagios;
pub use table::table;

/// How `--once`, `history` and `uptime` print their result.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    #[default]
    Table,
    Json,
    Nagios,
    /// For `history` and `uptime`
    Csv,
}

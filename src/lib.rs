//! syncguard-fleet: a central monitor for NVIDIA Quadro Sync health reported by
//! SyncGuard nodes, with a live dashboard and a one-shot check for alerting.
//!
//! # Layout
//!
//! - [`protocol`]: pure decoders for poll replies and push lines (no IO).
//! - [`status`]: statuses, roles and the verdict / exit code.
//! - [`config`]: `fleet.toml` → validated [`config::Config`].
//! - [`fleet`]: fleet state, owned by one task (no IO, no locks).
//! - [`poll`]: one task per node; deadline, reuse, backoff.
//! - [`listen`]: the push receiver for SyncGuard V3 nodes.
//! - [`monitor`]: pollers + receiver feeding the one owner of the fleet state.
//! - [`metrics`]: Prometheus exposition of the fleet state.
//! - [`group`]: the sync-group rule (exactly one Master).
//! - [`hooks`]: `[[alert]]` programs run on unhealthy / recovered.
//! - [`report`]: `--once` output (table, JSON, Nagios).
//! - [`sim`] and [`demo`]: simulated nodes for the demo and the tests.
//! - [`text`]: escaping of untrusted text before display.
//! - [`ui`]: dashboard view state, keys and rendering (pure); [`tui`]: its terminal
//!   and event loop.
//! - [`logging`]: log file set-up in SyncGuard's line style.
//! - [`watch`]: headless mode, one line per transition on stdout.
//! - [`once`]: the one-shot check behind `--once`.
//! - [`owner`]: the one task that owns the fleet state in the long-running modes.

pub mod cli;
pub mod config;
pub mod demo;
pub mod fleet;
pub mod group;
pub mod hooks;
pub mod limits;
pub mod listen;
pub mod logging;
pub mod metrics;
pub mod monitor;
pub mod once;
pub mod owner;
pub mod poll;
pub mod protocol;
pub mod report;
pub mod sim;
pub mod status;
pub mod text;
pub mod tui;
pub mod ui;
pub mod watch;

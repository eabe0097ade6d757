//! syncguard-fleet: a central monitor for NVIDIA Quadro Sync health reported by
//! SyncGuard nodes, with a live dashboard, a one-shot check and a headless service.
//!
//! # Layout (see docs/architecture.md)
//!
//! - [`model`]: node keys, statuses, results, transitions, group problems; imports
//!   only [`protocol`].
//! - [`protocol`]: pure decoders for poll replies and push lines, and the escaping
//!   of wire text (no IO).
//! - [`config`]: `fleet.toml` → validated [`config::Config`].
//! - [`engine`]: IO with the nodes: pollers and the push receiver.
//! - [`state`]: fleet state, sync groups, push connections, flap damping (pure).
//! - [`hub`]: the one owner task; publishes transitions and snapshots.
//! - [`present`]: how statuses, roles, groups and transitions are said; one schema.
//! - [`report`]: `--once` output (table, JSON, Nagios).
//! - [`ui`]: the dashboard (terminal loop in `ui::app`; pure view, keys, render).
//! - [`watch`]: headless mode; [`once`]: the one-shot check; [`ack_client`]: the
//!   `ack` and `unack` commands, a client of the running monitor's API.
//! - [`http`]: the status page, the JSON API, the event stream, `/metrics`.
//! - [`metrics`]: Prometheus exposition from the snapshot.
//! - [`hooks`]: `[[alert]]` programs, fed by their own queue.
//! - [`platform`]: signals and file limits.
//! - [`sim`] and [`demo`]: simulated nodes for the demo and the tests.
//! - [`logging`]: log set-up in SyncGuard's line style.

pub mod ack_client;
pub mod cli;
pub mod config;
pub mod demo;
pub mod discover;
pub mod engine;
pub mod hooks;
pub mod http;
pub mod hub;
pub mod logging;
pub mod manual;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod once;
pub mod platform;
pub mod present;
pub mod protocol;
pub mod reload;
pub mod report;
pub mod service;
pub mod sim;
pub mod state;
pub mod store;
pub mod system_service;
pub mod ui;
pub mod watch;

//! The history store: every shown transition, and every run of the monitor with
//! its heartbeat, in an embedded SQLite file (WAL). One writer thread per file,
//! fed by a bounded queue from the hub; readers open the file read-only.

pub mod schema;
mod writer;

pub use writer::{HEARTBEAT, History, HistoryStats, StartError, ms};

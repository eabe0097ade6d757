//! The history store: every shown transition of every node and sync group, every
//! run of the monitor with its heartbeat, the acknowledgements and maintenance
//! spans, and the notification outbox, in an embedded SQLite file (WAL).
//! One writer thread per file, fed by a bounded queue from the hub; readers
//! (`history`, `uptime`, the dashboard's detail) open the file read-only.

pub mod acks;
pub mod outbox;
pub mod query;
pub mod read;
pub mod schema;
pub mod timeline;
mod writer;

pub use acks::active_acks;
pub use writer::{HEARTBEAT, History, HistoryStats, Resume, StartError, ms};

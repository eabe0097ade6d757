//! What differs between platforms, in one place: shutdown and reload signals, the
//! open-file limit, default paths, file identity and allocator settings. Everything else in the
//! crate is neutral.

pub mod files;
mod host;
pub mod limits;
pub mod memory;
pub mod paths;
pub mod priority;
mod signals;

pub use host::hostname;
pub use signals::{Signal, Signals, shutdown};

//! What differs between platforms, in one place: shutdown and reload signals, the
//! open-file limit and default paths. Everything else in the crate is neutral.

pub mod limits;
pub mod paths;
mod signals;

pub use signals::{Signal, Signals, shutdown};

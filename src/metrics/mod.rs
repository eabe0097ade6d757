//! Prometheus metrics: the hub's latest snapshot rendered as OpenMetrics text, served
//! on `/metrics` by a small HTTP server of its own, off the hub's task.

mod exposition;
mod server;

pub use exposition::render;
pub use server::{CONTENT_TYPE, serve};

#[cfg(test)]
mod tests;

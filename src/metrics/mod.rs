//! Prometheus metrics: the hub's latest snapshot rendered as OpenMetrics text, served
//! on `/metrics` by the HTTP server ([`crate::http`]), off the hub's task.

pub mod exposition;

pub use exposition::render;

/// The content type of [`exposition::render`]'s output. prometheus-client encodes
/// only the OpenMetrics 1.0 text format (counters as `<name>_total`, a final `# EOF`),
/// and Prometheus picks its parser by this header, so it must announce OpenMetrics
/// rather than the classic `text/plain; version=0.0.4`.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[cfg(test)]
mod tests;

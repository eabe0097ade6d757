//! Logging set-up. The dashboard owns the screen, so tracing goes to a file, in
//! SyncGuard's own line style: `[2026-06-26 10:30:05] [WARN] message`.

use std::fmt;
use std::path::Path;

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `[YYYY-MM-DD HH:MM:SS] [LEVEL] message`, local time.
struct SyncGuardStyle;

impl<S, N> FormatEvent<S, N> for SyncGuardStyle
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let now = jiff::Zoned::now().strftime("%Y-%m-%d %H:%M:%S");
        write!(w, "[{now}] [{}] ", event.metadata().level())?;
        ctx.field_format().format_fields(w.by_ref(), event)?;
        writeln!(w)
    }
}

/// Keeps the background log writer alive; dropping it flushes the file.
pub struct LogGuard(#[allow(dead_code)] tracing_appender::non_blocking::WorkerGuard);

/// Sends tracing to `path` (appending). `RUST_LOG` overrides the default `info`.
pub fn to_file(path: &Path) -> anyhow::Result<LogGuard> {
    use anyhow::Context;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .with_context(|| format!("cannot create log directory {}", dir.display()))?;
    }
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("cannot open log file {}", path.display()))?;
    let (writer, guard) = tracing_appender::non_blocking(file);
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer)
        .with_ansi(false)
        .event_format(SyncGuardStyle)
        .try_init()
        .map_err(|e| anyhow::anyhow!("cannot set up logging: {e}"))?;
    Ok(LogGuard(guard))
}

/// Sends tracing to stderr (for `sim`); quiet unless `RUST_LOG` says otherwise.
pub fn to_stderr(default: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .event_format(SyncGuardStyle)
        .try_init();
}

/// Log target of transition lines, so `watch` can keep them off stderr (they are
/// already its stdout).
pub const TRANSITIONS: &str = "transitions";

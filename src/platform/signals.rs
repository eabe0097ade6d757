//! Signals as values: a shutdown future that every loop takes, and a stream that also
//! says "reload" where the platform has a reload signal (SIGHUP on Unix).

/// What a signal asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT, SIGTERM (Ctrl-C): stop cleanly.
    Shutdown,
    /// SIGHUP: a daemon re-reads its config; the dashboard's terminal is gone.
    Hangup,
}

/// The process's signals, installed once per driver.
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
}

impl Signals {
    #[cfg(unix)]
    pub fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{SignalKind, signal};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            hup: signal(SignalKind::hangup())?,
            int: signal(SignalKind::interrupt())?,
        })
    }

    #[cfg(not(unix))]
    pub fn new() -> std::io::Result<Signals> {
        Ok(Signals {})
    }

    /// The next signal.
    #[cfg(unix)]
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.term.recv() => Signal::Shutdown,
            _ = self.int.recv() => Signal::Shutdown,
            _ = self.hup.recv() => Signal::Hangup,
        }
    }

    #[cfg(not(unix))]
    pub async fn next(&mut self) -> Signal {
        let _ = tokio::signal::ctrl_c().await;
        Signal::Shutdown
    }
}

/// Resolves on the first shutdown signal (or Ctrl-C if signals cannot be installed).
pub async fn shutdown() {
    match Signals::new() {
        Ok(mut s) => while s.next().await != Signal::Shutdown {},
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

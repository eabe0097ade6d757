//! Signals as values: a shutdown future that every loop takes, and a stream that also
//! says "reload" where the platform has a reload signal (SIGHUP on Unix).
//!
//! - Unix: SIGINT and SIGTERM stop, SIGHUP asks for a reload.
//! - Windows: Ctrl-C, Ctrl-Break and closing the console window stop. There is no
//!   reload signal; `--watch-config` and the dashboard's `L` reload there.

/// What a signal asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Signal {
    /// SIGINT, SIGTERM; Ctrl-C, Ctrl-Break, console close: stop cleanly.
    Shutdown,
    /// SIGHUP (Unix only): a daemon re-reads its config; the dashboard's terminal is
    /// gone.
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
    #[cfg(windows)]
    ctrl_c: tokio::signal::windows::CtrlC,
    #[cfg(windows)]
    ctrl_break: tokio::signal::windows::CtrlBreak,
    #[cfg(windows)]
    close: tokio::signal::windows::CtrlClose,
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

    #[cfg(windows)]
    pub fn new() -> std::io::Result<Signals> {
        use tokio::signal::windows;
        Ok(Signals {
            ctrl_c: windows::ctrl_c()?,
            ctrl_break: windows::ctrl_break()?,
            close: windows::ctrl_close()?,
        })
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

    /// The next signal. Windows gives a closing console a few seconds, which is
    /// enough for the clean stop that follows.
    #[cfg(windows)]
    pub async fn next(&mut self) -> Signal {
        tokio::select! {
            _ = self.ctrl_c.recv() => Signal::Shutdown,
            _ = self.ctrl_break.recv() => Signal::Shutdown,
            _ = self.close.recv() => Signal::Shutdown,
        }
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

//! This machine's name, for links and messages that must say which monitor spoke.

/// The host name from the environment or `/etc/hostname`; `None` when nothing
/// says (the caller picks its own fallback).
pub fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .or_else(|| {
            std::fs::read_to_string("/etc/hostname")
                .ok()
                .map(|s| s.trim().to_owned())
        })
        .filter(|h| !h.is_empty())
}

//! Default paths. Unix follows the XDG base directories; the config search and the
//! Windows locations come with the Windows port.

use std::path::{Path, PathBuf};

/// The default log file: `$XDG_STATE_HOME/syncguard-fleet/syncguard-fleet.log`, else
/// `~/.local/state/...`, else next to the config file.
pub fn default_log_path(config_path: Option<&Path>) -> PathBuf {
    const FILE: &str = "syncguard-fleet.log";
    let state_home = std::env::var_os("XDG_STATE_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| {
            std::env::var_os("HOME")
                .filter(|v| !v.is_empty())
                .map(|h| PathBuf::from(h).join(".local").join("state"))
        });
    match state_home {
        Some(dir) => dir.join("syncguard-fleet").join(FILE),
        None => config_path
            .and_then(Path::parent)
            .map(|p| p.join(FILE))
            .unwrap_or_else(|| PathBuf::from(FILE)),
    }
}

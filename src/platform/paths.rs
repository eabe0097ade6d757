//! Default paths, per platform, through the `directories` crate so each platform's
//! conventions come from one maintained place:
//!
//! | what | Linux (XDG) | Windows |
//! |---|---|---|
//! | user config | `$XDG_CONFIG_HOME/syncguard-fleet/` (`~/.config/…`) | `%APPDATA%\syncguard-fleet\config\` |
//! | system config | `/etc/syncguard-fleet/`, then `/etc/syncguard/` (the `.deb`'s) | `%ProgramData%\syncguard-fleet\` |
//! | state (log, history.db) | `$XDG_STATE_HOME/syncguard-fleet/` (`~/.local/state/…`) | `%LOCALAPPDATA%\syncguard-fleet\data\` |
//! | service data (log) | `/var/lib/syncguard-fleet/` (the unit's `StateDirectory`) | `%ProgramData%\syncguard-fleet\` |
//!
//! docs/paths.md is the user's copy of this table.

use std::path::{Path, PathBuf};

use directories::ProjectDirs;

/// The directory name under every base directory.
pub const APP: &str = "syncguard-fleet";
/// The config file's name in every searched directory.
pub const CONFIG_FILE: &str = "fleet.toml";
const LOG_FILE: &str = "syncguard-fleet.log";

fn project() -> Option<ProjectDirs> {
    ProjectDirs::from("", "", APP)
}

/// The user's config directory.
pub fn user_config_dir() -> Option<PathBuf> {
    project().map(|p| p.config_dir().to_path_buf())
}

/// The machine-wide config directory, where a service's config lives.
pub fn system_config_dir() -> PathBuf {
    #[cfg(windows)]
    {
        program_data().join(APP)
    }
    #[cfg(not(windows))]
    {
        PathBuf::from("/etc").join(APP)
    }
}

/// Where a per-user run keeps its log (and, later, its history): the XDG state
/// directory on Linux, the local (non-roaming) app data on Windows.
pub fn state_dir() -> Option<PathBuf> {
    project().map(|p| {
        p.state_dir()
            .unwrap_or_else(|| p.data_local_dir())
            .to_path_buf()
    })
}

/// Where the Windows service keeps its log: machine-wide, because the service runs
/// as LocalSystem, whose own profile nobody looks in.
pub fn service_data_dir() -> PathBuf {
    #[cfg(windows)]
    {
        program_data().join(APP)
    }
    #[cfg(not(windows))]
    {
        PathBuf::from("/var/lib").join(APP)
    }
}

#[cfg(windows)]
fn program_data() -> PathBuf {
    std::env::var_os("ProgramData")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"))
}

/// The places searched for the config when neither `--config` nor the environment
/// variable names one, in order: the working directory, the user's config
/// directory, the system's.
pub fn config_candidates() -> Vec<PathBuf> {
    let mut out = vec![PathBuf::from(CONFIG_FILE)];
    out.extend(user_config_dir().map(|d| d.join(CONFIG_FILE)));
    out.push(system_config_dir().join(CONFIG_FILE));
    // Where the .deb puts its conffile, so `syncguard-fleet --once` on a
    // packaged host finds the service's fleet without --config.
    #[cfg(target_os = "linux")]
    out.push(PathBuf::from("/etc/syncguard").join(CONFIG_FILE));
    out
}

/// The first candidate that exists, else the first (so the error names
/// `fleet.toml` and lists where else it looked).
pub fn find_config() -> PathBuf {
    let candidates = config_candidates();
    candidates
        .iter()
        .find(|p| p.is_file())
        .unwrap_or(&candidates[0])
        .clone()
}

/// The default log file: in the state directory, else next to the config file.
pub fn default_log_path(config_path: Option<&Path>) -> PathBuf {
    in_state_dir(LOG_FILE, config_path)
}

/// `file` in the state directory, else beside the config file, else here.
fn in_state_dir(file: &str, config_path: Option<&Path>) -> PathBuf {
    match state_dir() {
        Some(dir) => dir.join(file),
        None => config_path
            .and_then(Path::parent)
            .map(|p| p.join(file))
            .unwrap_or_else(|| PathBuf::from(file)),
    }
}

/// The default history database: in the state directory, else beside the config
/// file. (The Windows service keeps its own in its data directory.)
pub fn history_path(config_path: Option<&Path>) -> PathBuf {
    in_state_dir("history.db", config_path)
}

/// The Windows service's log file.
pub fn service_log_path() -> PathBuf {
    service_data_dir().join(LOG_FILE)
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    // One test changes the environment, so the others that read it are in the same
    // function: tests run on parallel threads.
    #[test]
    fn xdg_directories_are_honoured() {
        let dir = tempfile::tempdir().expect("tempdir");
        let config_home = dir.path().join("config");
        let state_home = dir.path().join("state");
        // SAFETY: no other test in this crate reads these variables.
        unsafe {
            std::env::set_var("XDG_CONFIG_HOME", &config_home);
            std::env::set_var("XDG_STATE_HOME", &state_home);
        }
        assert_eq!(user_config_dir(), Some(config_home.join(APP)));
        assert_eq!(
            default_log_path(None),
            state_home.join(APP).join("syncguard-fleet.log")
        );
        assert_eq!(
            config_candidates(),
            vec![
                PathBuf::from("fleet.toml"),
                config_home.join(APP).join("fleet.toml"),
                PathBuf::from("/etc/syncguard-fleet/fleet.toml"),
                PathBuf::from("/etc/syncguard/fleet.toml"),
            ]
        );
    }
}

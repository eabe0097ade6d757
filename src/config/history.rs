//! `[history]`: where the history store lives, how long it keeps transitions, and
//! whether it is on. `--history PATH` and `--no-history` override it.

use std::path::PathBuf;
use std::time::Duration;

use super::error::{ConfigError, Cx};
use super::raw::RawHistory;

/// Transitions older than this are pruned unless `retention` says otherwise.
pub const RETENTION: Duration = Duration::from_secs(400 * 24 * 3600);
/// The longest retention: a century is "keep everything" in practice, and small
/// enough that subtracting it from a clock reading cannot overflow.
const MAX_RETENTION: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The validated `[history]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryConfig {
    pub enabled: bool,
    /// `None`: the platform's state directory (`platform::paths::history_path`).
    /// A relative path is relative to the config file's directory.
    pub path: Option<PathBuf>,
    pub retention: Duration,
}

impl Default for HistoryConfig {
    fn default() -> Self {
        HistoryConfig {
            enabled: true,
            path: None,
            retention: RETENTION,
        }
    }
}

impl Cx<'_> {
    pub(super) fn history(&self, raw: Option<&RawHistory>) -> Result<HistoryConfig, ConfigError> {
        let Some(h) = raw else {
            return Ok(HistoryConfig::default());
        };
        let path = match &h.path {
            Some(p) if p.get_ref().trim().is_empty() => {
                return Err(self.err(p.span(), "history.path", "must not be empty"));
            }
            Some(p) => Some(PathBuf::from(p.get_ref())),
            None => None,
        };
        Ok(HistoryConfig {
            enabled: h.enabled.unwrap_or(true),
            path,
            retention: self.duration_at_most(
                &h.retention,
                "history.retention",
                RETENTION,
                (MAX_RETENTION, "100 years"),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{ONE, assert_errors, parse};
    use super::*;

    #[test]
    fn history_settings_and_their_defaults() {
        assert_eq!(parse(ONE).expect("valid").history, HistoryConfig::default());
        let c = parse(&format!(
            "{ONE}[history]\npath = \"/var/lib/syncguard/history.db\"\nretention = \"30d\"\nenabled = false\n"
        ))
        .expect("valid");
        assert_eq!(
            c.history,
            HistoryConfig {
                enabled: false,
                path: Some(PathBuf::from("/var/lib/syncguard/history.db")),
                retention: Duration::from_secs(30 * 24 * 3600),
            }
        );
    }

    #[test]
    fn history_errors_name_the_key() {
        assert_errors(&[
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[history]\nretention = \"200y\"\n",
                "fleet.toml:5:13: history.retention: must be at most 100 years",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[history]\npath = \"\"\n",
                "fleet.toml:5:8: history.path: must not be empty",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[history]\nenabled = 1\n",
                "fleet.toml:5:11: history.enabled: invalid type: integer `1`, expected a boolean",
            ),
        ]);
    }
}

//! `[reload]`: how a running monitor notices a new config. SIGHUP and the
//! dashboard's `L` always work; `watch = true` (or `--watch-config`) also reloads
//! when the file changes, on every platform.

use super::error::{ConfigError, Cx};
use super::raw::RawReload;

impl Cx<'_> {
    /// Whether to watch the config file. The table has one key so far; serde has
    /// already refused unknown ones and a non-boolean value.
    pub(super) fn reload(&self, raw: Option<&RawReload>) -> Result<bool, ConfigError> {
        Ok(raw.and_then(|r| r.watch).unwrap_or(false))
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ONE, assert_errors, parse};

    #[test]
    fn watch_is_off_unless_asked_for() {
        assert!(!parse(ONE).expect("valid").watch_config);
        let c = parse(&format!("{ONE}[reload]\nwatch = true\n")).expect("valid");
        assert!(c.watch_config);
    }

    #[test]
    fn reload_errors_name_the_key() {
        assert_errors(&[
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[reload]\nwatch = \"yes\"\n",
                "fleet.toml:5:9: reload.watch: invalid type: string \"yes\", expected a boolean",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[reload]\nwatch_it = true\n",
                "fleet.toml:5:1: reload.watch_it: unknown field `watch_it`, expected `watch`",
            ),
        ]);
    }
}

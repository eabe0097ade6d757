//! `[dashboard]`: the terminal bell and flap marking. The flap settings also damp
//! what `watch` and the log show, so they apply without a dashboard too.

use std::time::Duration;

use super::error::{ConfigError, Cx};
use super::raw::RawDashboard;
use super::{FLAP_THRESHOLD, FLAP_WINDOW};

/// The validated `[dashboard]` table, spread into [`super::Config`].
pub(super) struct Dashboard {
    pub(super) bell: bool,
    pub(super) flap_threshold: usize,
    pub(super) flap_window: Duration,
}

impl Cx<'_> {
    pub(super) fn dashboard(&self, raw: Option<&RawDashboard>) -> Result<Dashboard, ConfigError> {
        let Some(d) = raw else {
            return Ok(Dashboard {
                bell: true,
                flap_threshold: FLAP_THRESHOLD,
                flap_window: FLAP_WINDOW,
            });
        };
        Ok(Dashboard {
            bell: d.bell.unwrap_or(true),
            flap_threshold: self.count(
                &d.flap_threshold,
                "dashboard.flap_threshold",
                FLAP_THRESHOLD as u32,
            )? as usize,
            flap_window: self.duration(&d.flap_window, "dashboard.flap_window", FLAP_WINDOW)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{FLAP_THRESHOLD, FLAP_WINDOW, ONE, assert_errors, parse};

    #[test]
    fn dashboard_settings_and_their_defaults() {
        let c = parse(ONE).expect("valid");
        assert!(c.bell);
        assert_eq!(
            (c.flap_threshold, c.flap_window),
            (FLAP_THRESHOLD, FLAP_WINDOW)
        );
        let c = parse(&format!(
            "{ONE}[dashboard]\nbell = false\nflap_threshold = 7\nflap_window = \"2m\"\n"
        ))
        .expect("valid");
        assert!(!c.bell);
        assert_eq!(c.flap_threshold, 7);
        assert_eq!(c.flap_window, Duration::from_secs(120));
    }

    #[test]
    fn dashboard_errors_name_the_key() {
        assert_errors(&[
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[dashboard]\nflap_threshold=0\n",
                "fleet.toml:5:16: dashboard.flap_threshold: must be between 1 and 1000, got 0",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[dashboard]\nbell = \"yes\"\n",
                "fleet.toml:5:8: dashboard.bell: invalid type: string \"yes\", expected a boolean",
            ),
        ]);
    }
}

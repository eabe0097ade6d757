//! `[defaults]`: the settings every node inherits unless it overrides them.
//! An absent table gives [`Defaults::default`].

use toml::Spanned;

use super::Defaults;
use super::error::{ConfigError, Cx};
use super::raw::RawDefaults;
use crate::model::UnreachablePolicy;

impl Cx<'_> {
    pub(super) fn defaults(&self, raw: Option<&RawDefaults>) -> Result<Defaults, ConfigError> {
        let empty = RawDefaults::default();
        let d = raw.unwrap_or(&empty);
        let base = Defaults::default();
        let defaults = Defaults {
            port: self.port(&d.port, "defaults.port", base.port)?,
            interval: self.duration(&d.interval, "defaults.interval", base.interval)?,
            max_interval: self.duration(
                &d.max_interval,
                "defaults.max_interval",
                base.max_interval,
            )?,
            timeout: self.duration(&d.timeout, "defaults.timeout", base.timeout)?,
            backoff: self.duration(&d.backoff, "defaults.backoff", base.backoff)?,
            request: self.request(&d.request, "defaults.request", &base.request)?,
            unreachable: self.unreachable(&d.unreachable, base.unreachable)?,
            max_connecting: self.size(
                &d.max_connecting,
                "defaults.max_connecting",
                base.max_connecting,
                65_536,
            )?,
            confirm_unhealthy: self.count(
                &d.confirm_unhealthy,
                "defaults.confirm_unhealthy",
                base.confirm_unhealthy,
            )?,
            confirm_healthy: self.count(
                &d.confirm_healthy,
                "defaults.confirm_healthy",
                base.confirm_healthy,
            )?,
        };
        if defaults.interval > defaults.max_interval {
            let span = d
                .interval
                .as_ref()
                .or(d.max_interval.as_ref())
                .map(|s| s.span())
                .unwrap_or(0..0);
            return Err(self.interval_order(
                span,
                "defaults",
                &defaults.interval,
                &defaults.max_interval,
            ));
        }
        Ok(defaults)
    }

    fn unreachable(
        &self,
        v: &Option<Spanned<String>>,
        default: UnreachablePolicy,
    ) -> Result<UnreachablePolicy, ConfigError> {
        let Some(v) = v else { return Ok(default) };
        match v.get_ref().as_str() {
            "critical" => Ok(UnreachablePolicy::Critical),
            "warning" => Ok(UnreachablePolicy::Warning),
            other => Err(self.err(
                v.span(),
                "defaults.unreachable",
                format!("expected \"critical\" or \"warning\", got {other:?}"),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{ONE, assert_errors, parse};
    use crate::model::UnreachablePolicy;

    #[test]
    fn defaults_apply_when_absent() {
        let c = parse(ONE).expect("valid");
        let n = &c.nodes[0];
        assert_eq!(n.port, 8080);
        assert_eq!(n.interval, Duration::from_secs(5));
        assert_eq!(n.max_interval, Duration::from_secs(10));
        assert_eq!(n.timeout, Duration::from_secs(5));
        assert_eq!(n.backoff, Duration::from_secs(30));
        assert_eq!(&*n.request, b"GET_STATUS");
        assert_eq!(c.defaults.unreachable, UnreachablePolicy::Critical);
        assert_eq!(n.address(), "192.168.0.201:8080");
        assert!(c.bell);
    }

    #[test]
    fn defaults_errors_name_file_line_and_key() {
        assert_errors(&[
            (
                "[defaults]\nintervall = \"5s\"\n[[node]]\nname=\"a\"\nhost=\"h\"\n",
                "fleet.toml:2:1: defaults.intervall: unknown field `intervall`",
            ),
            (
                "[defaults]\ninterval = \"20s\"\n[[node]]\nname=\"a\"\nhost=\"h\"\n",
                "fleet.toml:2:12: defaults.interval: interval (20s) is longer than max_interval (10s)",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\n[defaults]\nunreachable = \"maybe\"\n",
                "fleet.toml:5:15: defaults.unreachable: expected \"critical\" or \"warning\"",
            ),
        ]);
    }
}

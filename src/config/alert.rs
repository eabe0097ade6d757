//! `[[alert]]`: programs run (never through a shell) when a node turns unhealthy or
//! recovers, each with the events it wants, a damping count and a timeout.

use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigError, Cx};
use super::raw::RawAlert;
use super::{AlertHook, AlertOn};

impl Cx<'_> {
    pub(super) fn alerts(&self, raw: &[Spanned<RawAlert>]) -> Result<Vec<AlertHook>, ConfigError> {
        raw.iter()
            .enumerate()
            .map(|(i, a)| self.alert(i, a.get_ref()))
            .collect()
    }

    fn alert(&self, i: usize, a: &RawAlert) -> Result<AlertHook, ConfigError> {
        let key = |k: &str| format!("alert[{i}].{k}");
        let command = a.command.get_ref().clone();
        if command.first().is_none_or(|p| p.trim().is_empty()) {
            return Err(self.err(
                a.command.span(),
                key("command"),
                "must name a program, e.g. [\"/usr/local/bin/notify\", \"--team\", \"wall\"]",
            ));
        }
        let on = match &a.on {
            None => vec![AlertOn::Unhealthy, AlertOn::Recovered],
            Some(list) => self.alert_on(list, &key("on"))?,
        };
        Ok(AlertHook {
            command,
            on,
            after: self.count(&a.after, &key("after"), 1)?,
            timeout: self.duration(&a.timeout, &key("timeout"), Duration::from_secs(10))?,
        })
    }

    /// `on = ["unhealthy", "recovered"]`, for `[[alert]]` and `[[notify]]`.
    pub(super) fn alert_on(
        &self,
        list: &Spanned<Vec<String>>,
        key: &str,
    ) -> Result<Vec<AlertOn>, ConfigError> {
        let mut on = Vec::new();
        for v in list.get_ref() {
            on.push(match v.as_str() {
                "unhealthy" => AlertOn::Unhealthy,
                "recovered" => AlertOn::Recovered,
                other => {
                    return Err(self.err(
                        list.span(),
                        key,
                        format!("unknown event {other:?}; use \"unhealthy\" and/or \"recovered\""),
                    ));
                }
            });
        }
        if on.is_empty() {
            return Err(self.err(list.span(), key, "must list at least one event"));
        }
        Ok(on)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{AlertOn, ONE, assert_errors, parse};

    #[test]
    fn alert_hooks_parse_with_their_defaults() {
        let c = parse(&format!(
            "{ONE}[[alert]]\ncommand = [\"/bin/notify\", \"--team\"]\n\
             [[alert]]\ncommand = [\"/bin/page\"]\non = [\"recovered\"]\nafter = 3\ntimeout = \"2s\"\n"
        ))
        .expect("valid");
        assert_eq!(c.alerts.len(), 2);
        assert_eq!(c.alerts[0].command, ["/bin/notify", "--team"]);
        assert_eq!(c.alerts[0].on, [AlertOn::Unhealthy, AlertOn::Recovered]);
        assert_eq!(c.alerts[0].after, 1);
        assert_eq!(c.alerts[0].timeout, Duration::from_secs(10));
        assert_eq!(c.alerts[1].on, [AlertOn::Recovered]);
        assert_eq!(c.alerts[1].after, 3);
        assert_eq!(c.alerts[1].timeout, Duration::from_secs(2));
    }

    #[test]
    fn alert_errors_name_the_key() {
        assert_errors(&[
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[[alert]]\ncommand=[]\n",
                "fleet.toml:5:9: alert[0].command: must name a program",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[[alert]]\ncommand=[\"x\"]\non=[\"boom\"]\n",
                "fleet.toml:6:4: alert[0].on: unknown event \"boom\"",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[[alert]]\ncommand=[\"x\"]\non=[]\n",
                "fleet.toml:6:4: alert[0].on: must list at least one event",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[[alert]]\ncommand=[\"x\"]\nafter=0\n",
                "fleet.toml:6:7: alert[0].after: must be between 1 and 1000, got 0",
            ),
        ]);
    }
}

//! `[metrics]`: whether each node gets its own latency histogram, which multiplies
//! the series; and `bind`, the deprecated alias of `[http] bind`.

use std::net::SocketAddr;

use toml::Spanned;

use super::error::{ConfigError, Cx};
use super::raw::RawMetrics;

/// The validated `[metrics]` table, spread into [`super::Config`].
#[derive(Default)]
pub(super) struct Metrics {
    /// With its span, for the error when it disagrees with `[http] bind`.
    pub(super) bind: Option<(SocketAddr, std::ops::Range<usize>)>,
    pub(super) per_node_histograms: bool,
}

impl Cx<'_> {
    pub(super) fn metrics(
        &self,
        raw: Option<&Spanned<RawMetrics>>,
    ) -> Result<Metrics, ConfigError> {
        let Some(table) = raw else {
            return Ok(Metrics::default());
        };
        let m = table.get_ref();
        if m.bind.is_none() && m.per_node_histograms.is_none() {
            // An empty table most likely lost its bind: say so rather than serve nothing.
            return Err(self.err(table.span(), "metrics", "missing field `bind`"));
        }
        let bind = match &m.bind {
            None => None,
            Some(b) => Some((
                self.socket_addr(b, "metrics.bind", "127.0.0.1:9108")?,
                b.span(),
            )),
        };
        Ok(Metrics {
            bind,
            per_node_histograms: m.per_node_histograms.unwrap_or(false),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::super::{ONE, assert_errors, parse};

    #[test]
    fn per_node_histograms_parses_and_defaults_to_off() {
        let c = parse(ONE).expect("valid");
        assert_eq!((c.http.bind, c.per_node_histograms), (None, false));
        let c = parse(&format!("{ONE}[metrics]\nbind = \"127.0.0.1:9108\"\n")).expect("valid");
        assert_eq!(c.http.bind, Some(SocketAddr::from(([127, 0, 0, 1], 9108))));
        assert!(!c.per_node_histograms);
        for (value, want) in [("true", true), ("false", false)] {
            let text = format!(
                "{ONE}[metrics]\nbind = \"127.0.0.1:9108\"\nper_node_histograms = {value}\n"
            );
            let c = parse(&text).expect("valid");
            assert_eq!(c.per_node_histograms, want, "{text}");
            assert!(c.http.bind.is_some());
        }
        // The bind may come from --metrics instead.
        let c = parse(&format!("{ONE}[metrics]\nper_node_histograms = true\n")).expect("valid");
        assert_eq!((c.http.bind, c.per_node_histograms), (None, true));
    }

    #[test]
    fn metrics_errors_name_the_key() {
        assert_errors(&[
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[metrics]\nbind=\"nope\"\n",
                "fleet.toml:5:6: metrics.bind: invalid address \"nope\": expected IP:PORT",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[metrics]\nper_node_histograms = 1\n",
                "fleet.toml:5:23: metrics.per_node_histograms: invalid type: integer `1`, expected a boolean",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[metrics]\n",
                "fleet.toml:4:1: metrics: missing field `bind`",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[metrics]\nhistograms = true\n",
                "fleet.toml:5:1: metrics.histograms: unknown field `histograms`",
            ),
        ]);
    }
}

//! The file as serde reads it: every table rejects unknown keys, and values keep
//! their byte spans so the validators can name the line of a bad one.

use serde::Deserialize;
use toml::Spanned;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub(super) defaults: Option<RawDefaults>,
    #[serde(default)]
    pub(super) node: Vec<Spanned<RawNode>>,
    pub(super) dashboard: Option<RawDashboard>,
    pub(super) listen: Option<RawListen>,
    pub(super) metrics: Option<Spanned<RawMetrics>>,
    pub(super) http: Option<Spanned<RawHttp>>,
    #[serde(default)]
    pub(super) alert: Vec<Spanned<RawAlert>>,
    pub(super) reload: Option<RawReload>,
    pub(super) history: Option<RawHistory>,
    #[serde(default)]
    pub(super) notify: Vec<Spanned<RawNotify>>,
    pub(super) heartbeat: Option<Spanned<RawHeartbeat>>,
    #[serde(default)]
    pub(super) maintenance: Vec<Spanned<RawMaintenance>>,
    pub(super) nodes_file: Option<Spanned<String>>,
    pub(super) shard: Option<Spanned<RawShard>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawShard {
    pub(super) index: Option<Spanned<i64>>,
    pub(super) count: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHistory {
    pub(super) path: Option<Spanned<String>>,
    pub(super) retention: Option<Spanned<String>>,
    pub(super) enabled: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawReload {
    pub(super) watch: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawListen {
    pub(super) bind: Option<Vec<Spanned<String>>>,
    pub(super) stale_after: Option<Spanned<String>>,
    pub(super) allow_unlisted: Option<bool>,
    pub(super) max_connections: Option<Spanned<i64>>,
    pub(super) allow_from: Option<Vec<Spanned<String>>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub(super) port: Option<Spanned<i64>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) max_interval: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) backoff: Option<Spanned<String>>,
    pub(super) request: Option<Spanned<String>>,
    pub(super) unreachable: Option<Spanned<String>>,
    pub(super) max_connecting: Option<Spanned<i64>>,
    pub(super) confirm_unhealthy: Option<Spanned<i64>>,
    pub(super) confirm_healthy: Option<Spanned<i64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNode {
    pub(super) name: Option<Spanned<String>>,
    pub(super) host: Option<Spanned<String>>,
    pub(super) port: Option<Spanned<RawPort>>,
    pub(super) group: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) max_interval: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) backoff: Option<Spanned<String>>,
    pub(super) request: Option<Spanned<String>>,
    pub(super) mode: Option<Spanned<String>>,
    pub(super) stale_after: Option<Spanned<String>>,
    pub(super) confirm_unhealthy: Option<Spanned<i64>>,
    pub(super) confirm_healthy: Option<Spanned<i64>>,
    pub(super) shard: Option<Spanned<i64>>,
}

/// A node's `port`: a number, or a string that holds a range
/// (`"{8080..8111}"`). The validator refuses a string without a range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum RawPort {
    Number(i64),
    Text(String),
}

impl<'de> Deserialize<'de> for RawPort {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = RawPort;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a port number or a range such as \"{8080..8111}\"")
            }

            fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<RawPort, E> {
                Ok(RawPort::Number(v))
            }

            fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<RawPort, E> {
                Ok(RawPort::Number(i64::try_from(v).unwrap_or(i64::MAX)))
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawPort, E> {
                Ok(RawPort::Text(v.to_owned()))
            }
        }
        d.deserialize_any(Visitor)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDashboard {
    pub(super) bell: Option<bool>,
    pub(super) flap_threshold: Option<Spanned<i64>>,
    pub(super) flap_window: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMetrics {
    // Optional so that `per_node_histograms` can go with a bind given by `--metrics`;
    // a table with neither key is refused by the validator as serde used to.
    pub(super) bind: Option<Spanned<String>>,
    pub(super) per_node_histograms: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHttp {
    pub(super) bind: Option<Spanned<String>>,
    pub(super) token_env: Option<Spanned<String>>,
    pub(super) token_file: Option<Spanned<String>>,
    pub(super) protect_read: Option<bool>,
    pub(super) max_streams: Option<Spanned<i64>>,
    pub(super) token_name: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAlert {
    pub(super) command: Spanned<Vec<String>>,
    pub(super) on: Option<Spanned<Vec<String>>>,
    pub(super) after: Option<Spanned<i64>>,
    pub(super) timeout: Option<Spanned<String>>,
}

/// One `[[notify]]` table. Every key of every type is here, so that a key of
/// another type is refused by the validator with the type it belongs to rather
/// than by serde as unknown. List elements keep their own spans so an error can
/// point at the one bad URL or glob.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawNotify {
    pub(super) name: Option<Spanned<String>>,
    #[serde(rename = "type")]
    pub(super) kind: Option<Spanned<String>>,
    pub(super) url: Option<Spanned<String>>,
    pub(super) urls: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) url_env: Option<Spanned<String>>,
    pub(super) url_file: Option<Spanned<String>>,
    pub(super) groups: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) nodes: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) on: Option<Spanned<Vec<String>>>,
    pub(super) group_wait: Option<Spanned<String>>,
    pub(super) repeat_interval: Option<Spanned<String>>,
    pub(super) give_up_after: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
    pub(super) secret_env: Option<Spanned<String>>,
    pub(super) secret_file: Option<Spanned<String>>,
    pub(super) token_env: Option<Spanned<String>>,
    pub(super) token_file: Option<Spanned<String>>,
    pub(super) priority: Option<Spanned<i64>>,
    pub(super) watchdog: Option<Spanned<bool>>,
    pub(super) smtp: Option<Spanned<String>>,
    pub(super) tls: Option<Spanned<String>>,
    pub(super) from: Option<Spanned<String>>,
    pub(super) to: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) username: Option<Spanned<String>>,
    pub(super) password_env: Option<Spanned<String>>,
    pub(super) password_file: Option<Spanned<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHeartbeat {
    pub(super) url: Option<Spanned<String>>,
    pub(super) url_env: Option<Spanned<String>>,
    pub(super) url_file: Option<Spanned<String>>,
    pub(super) interval: Option<Spanned<String>>,
    pub(super) timeout: Option<Spanned<String>>,
}

/// One `[[maintenance]]` table. Both forms' keys are here (one-off: `start`,
/// `end`; weekly: `every`, `at`, `duration`, `timezone`) so that mixing them is
/// refused by the validator with the form each key belongs to.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMaintenance {
    pub(super) name: Option<Spanned<String>>,
    pub(super) nodes: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) groups: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) start: Option<Spanned<RawWhen>>,
    pub(super) end: Option<Spanned<RawWhen>>,
    pub(super) every: Option<Spanned<Vec<Spanned<String>>>>,
    pub(super) at: Option<Spanned<RawWhen>>,
    pub(super) duration: Option<Spanned<String>>,
    pub(super) timezone: Option<Spanned<String>>,
}

/// A time of day or a moment, written as a string (`"03:00"`) or as a bare TOML
/// date-time (`start = 2026-12-01T18:00:00+01:00`, `at = 03:00`), which people
/// write as readily and TOML would otherwise refuse as "not a string". Kept as
/// text: the validator parses both the same way, so a TOML local date-time (no
/// offset) gets the same message as the string.
pub(super) struct RawWhen {
    pub(super) text: String,
    /// Written as a TOML date-time rather than a string.
    pub(super) toml: bool,
}

impl<'de> Deserialize<'de> for RawWhen {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = RawWhen;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a string or a TOML date-time")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<RawWhen, E> {
                Ok(RawWhen {
                    text: v.to_owned(),
                    toml: false,
                })
            }

            // toml hands a date-time over as a one-entry map.
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawWhen, A::Error> {
                let d = toml::value::Datetime::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(RawWhen {
                    text: d.to_string(),
                    toml: true,
                })
            }
        }
        d.deserialize_any(Visitor)
    }
}

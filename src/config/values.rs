//! Checks for the kinds of value several tables share (ports, durations, counts,
//! request bytes, required text), so a duration reads the same in every table.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::MAX_DURATION;
use super::error::{ConfigError, Cx};

impl Cx<'_> {
    /// A whole number of results, at least 1.
    pub(super) fn count(
        &self,
        v: &Option<Spanned<i64>>,
        key: &str,
        default: u32,
    ) -> Result<u32, ConfigError> {
        match v {
            None => Ok(default),
            Some(n) => match u32::try_from(*n.get_ref()) {
                Ok(c) if (1..=1000).contains(&c) => Ok(c),
                _ => Err(self.err(
                    n.span(),
                    key,
                    format!("must be between 1 and 1000, got {}", n.get_ref()),
                )),
            },
        }
    }

    /// A size such as a connection limit: a whole number in `1..=max`.
    pub(super) fn size(
        &self,
        v: &Option<Spanned<i64>>,
        key: &str,
        default: usize,
        max: i64,
    ) -> Result<usize, ConfigError> {
        match v {
            None => Ok(default),
            Some(v) if (1..=max).contains(v.get_ref()) => Ok(*v.get_ref() as usize),
            Some(v) => Err(self.err(
                v.span(),
                key,
                format!("must be between 1 and {max}, got {}", v.get_ref()),
            )),
        }
    }

    pub(super) fn interval_order(
        &self,
        span: Range<usize>,
        table: &str,
        interval: &Duration,
        max: &Duration,
    ) -> ConfigError {
        self.err(
            span,
            format!("{table}.interval"),
            format!(
                "interval ({}) is longer than max_interval ({}); polls wait a random time between the two",
                humantime::format_duration(*interval),
                humantime::format_duration(*max)
            ),
        )
    }

    pub(super) fn required_text<'r>(
        &self,
        v: &'r Option<Spanned<String>>,
        table: Range<usize>,
        key: &str,
    ) -> Result<&'r Spanned<String>, ConfigError> {
        match v {
            None => Err(self.err(table, key, "missing (required)")),
            Some(s) if s.get_ref().trim().is_empty() => {
                Err(self.err(s.span(), key, "must not be empty"))
            }
            Some(s) => Ok(s),
        }
    }

    pub(super) fn port(
        &self,
        v: &Option<Spanned<i64>>,
        key: &str,
        default: u16,
    ) -> Result<u16, ConfigError> {
        match v {
            None => Ok(default),
            Some(p) => match u16::try_from(*p.get_ref()) {
                Ok(port) if port != 0 => Ok(port),
                _ => Err(self.err(
                    p.span(),
                    key,
                    format!("port must be between 1 and 65535, got {}", p.get_ref()),
                )),
            },
        }
    }

    pub(super) fn duration(
        &self,
        v: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
    ) -> Result<Duration, ConfigError> {
        // Far beyond any sensible setting, and small enough that adding it to a
        // clock reading can never overflow.
        self.duration_at_most(v, key, default, (MAX_DURATION, "1 year"))
    }

    /// A duration with its own upper bound (a retention may run to years).
    pub(super) fn duration_at_most(
        &self,
        v: &Option<Spanned<String>>,
        key: &str,
        default: Duration,
        (max, max_text): (Duration, &str),
    ) -> Result<Duration, ConfigError> {
        let Some(s) = v else { return Ok(default) };
        // humantime would read "5 sec" as five seconds; a number cut off from its unit
        // is more often a typo ("5 0s"), so the unit must follow the number directly.
        let raw = s.get_ref();
        let detached = raw
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_digit() && w[1].is_ascii_whitespace());
        if detached
            || raw
                .trim()
                .chars()
                .last()
                .is_some_and(|c| c.is_ascii_digit())
        {
            return Err(self.err(
                s.span(),
                key,
                format!("invalid duration {raw:?}: write the unit right after the number (examples: \"500ms\", \"5s\", \"1m 30s\")"),
            ));
        }
        match humantime::parse_duration(raw) {
            Ok(d) if d.is_zero() => Err(self.err(s.span(), key, "must be longer than zero")),
            Ok(d) if d > max => Err(self.err(s.span(), key, format!("must be at most {max_text}"))),
            Ok(d) => Ok(d),
            Err(e) => Err(self.err(
                s.span(),
                key,
                format!(
                    "invalid duration {:?}: {e} (examples: \"500ms\", \"5s\", \"1m 30s\")",
                    s.get_ref()
                ),
            )),
        }
    }

    pub(super) fn request(
        &self,
        v: &Option<Spanned<String>>,
        key: &str,
        default: &Arc<[u8]>,
    ) -> Result<Arc<[u8]>, ConfigError> {
        let Some(s) = v else {
            return Ok(default.clone());
        };
        let bytes = unescape(s.get_ref()).map_err(|m| self.err(s.span(), key, m))?;
        if bytes.is_empty() {
            return Err(self.err(s.span(), key, "must not be empty"));
        }
        Ok(Arc::from(bytes))
    }
}

/// Turns `\r`, `\n`, `\0` and `\\` written literally (as in a TOML literal string
/// `'GET_STATUS\r\n'`) into bytes. Basic strings already arrive unescaped by TOML.
fn unescape(s: &str) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            let mut b = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut b).as_bytes());
            continue;
        }
        match chars.next() {
            Some('r') => out.push(b'\r'),
            Some('n') => out.push(b'\n'),
            Some('0') => out.push(0),
            Some('\\') => out.push(b'\\'),
            Some(other) => {
                return Err(format!(
                    "unknown escape \\{other} (allowed: \\r \\n \\0 \\\\)"
                ));
            }
            None => return Err("ends with a lone backslash".into()),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::assert_errors;

    #[test]
    fn value_errors_name_file_line_and_key() {
        assert_errors(&[
            (
                "[defaults]\ntimeout = \"5 sec\"\n[[node]]\nname=\"a\"\nhost=\"h\"\n",
                "fleet.toml:2:11: defaults.timeout: invalid duration \"5 sec\"",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nport = 0\n",
                "fleet.toml:4:8: node[0].port: port must be between 1 and 65535, got 0",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nport = 70000\n",
                "fleet.toml:4:8: node[0].port: port must be between 1 and 65535, got 70000",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nrequest = 'X\\q'\n",
                "fleet.toml:4:11: node[0].request: unknown escape \\q",
            ),
        ]);
    }
}

//! Checks for the kinds of value several tables share (ports, durations, counts,
//! request bytes, required text), so a duration reads the same in every table.

use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigError, Cx};
use super::{MAX_DURATION, NodeConfig};

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

    /// The `name` of the `i`th table of an array (`notify[i]`, `maintenance[i]`):
    /// required, one line of text, and not used by an earlier table; `names`
    /// remembers each name's table and where it starts.
    pub(super) fn unique_name<'r>(
        &self,
        v: &'r Option<Spanned<String>>,
        table: Range<usize>,
        array: &str,
        i: usize,
        names: &mut std::collections::HashMap<String, (usize, usize)>,
    ) -> Result<&'r Spanned<String>, ConfigError> {
        let key = format!("{array}[{i}].name");
        let name = self.required_text(v, table.clone(), &key)?;
        if name.get_ref().chars().any(char::is_control) {
            return Err(self.err(name.span(), &key, "must not contain control characters"));
        }
        if let Some((first, first_start)) = names.insert(name.get_ref().clone(), (i, table.start)) {
            return Err(self.err(
                name.span(),
                &key,
                format!(
                    "duplicate name {:?} (first used by {array}[{first}] at line {})",
                    name.get_ref(),
                    self.line_of(first_start)
                ),
            ));
        }
        Ok(name)
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

/// Node names in file order and the groups they are in (sorted, each once):
/// what the `nodes` and `groups` globs of `[[notify]]` and `[[maintenance]]`
/// are checked against.
pub(super) fn fleet_names(nodes: &[NodeConfig]) -> (Vec<&str>, Vec<&str>) {
    let mut groups: Vec<&str> = nodes.iter().filter_map(|n| n.group.as_deref()).collect();
    groups.sort_unstable();
    groups.dedup();
    (nodes.iter().map(|n| n.name.as_str()).collect(), groups)
}

impl Cx<'_> {
    /// The globs of a `nodes` or `groups` list (`key`, naming a `what`). Each
    /// must compile and match one of `names` now: a typo would otherwise make
    /// the list silently match nothing. A plain name (no glob characters) that
    /// matches nothing is answered with the closest of `names`, when one is near.
    pub(super) fn globs(
        &self,
        list: &[Spanned<String>],
        key: &str,
        what: &str,
        names: &[&str],
    ) -> Result<Vec<String>, ConfigError> {
        let mut globs = Vec::with_capacity(list.len());
        for (j, g) in list.iter().enumerate() {
            let key = format!("{key}[{j}]");
            let text = g.get_ref();
            let matcher = globset::Glob::new(text)
                .map_err(|e| {
                    self.err(
                        g.span(),
                        &key,
                        format!("invalid glob {text:?}: {}", e.kind()),
                    )
                })?
                .compile_matcher();
            if !names.iter().any(|n| matcher.is_match(n)) {
                let plain = !text.contains(['*', '?', '[', ']', '{', '}', '\\']);
                let message = if names.is_empty() {
                    format!("{text:?} matches no {what} (no node has a {what})")
                } else if !plain {
                    format!("{text:?} matches no {what}")
                } else if let Some(near) = closest(text, names.iter().copied()) {
                    format!("{text:?} matches no {what}; did you mean {near:?}?")
                } else {
                    format!("{text:?} matches no {what}")
                };
                let message = if plain {
                    message
                } else {
                    format!("glob {message}")
                };
                return Err(self.err(g.span(), key, message));
            }
            globs.push(text.clone());
        }
        Ok(globs)
    }
}

/// The candidate closest to `word`, case ignored, when near enough to be the
/// one meant: at most a third of `word`'s characters (at least one) to add,
/// drop, change or swap. Of equally near ones, the first.
pub(super) fn closest<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word: Vec<char> = word.chars().flat_map(char::to_lowercase).collect();
    let limit = (word.len() / 3).max(1);
    let mut best: Option<(usize, &str)> = None;
    let mut other = Vec::new();
    for c in candidates {
        other.clear();
        other.extend(c.chars().flat_map(char::to_lowercase));
        // Lengths alone may already rule it out.
        if other.len().abs_diff(word.len()) > limit {
            continue;
        }
        let d = edit_distance(&word, &other);
        if d <= limit && best.is_none_or(|(b, _)| d < b) {
            best = Some((d, c));
        }
    }
    best.map(|(_, c)| c)
}

/// Edits (insert, delete, substitute, swap two neighbours) from `a` to `b`:
/// the optimal string alignment distance.
fn edit_distance(a: &[char], b: &[char]) -> usize {
    // Three rows of the table: two back (for swaps), one back, this one.
    let mut before: Vec<usize> = vec![0; b.len() + 1];
    let mut last: Vec<usize> = (0..=b.len()).collect();
    let mut row: Vec<usize> = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        row[0] = i;
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (last[j] + 1).min(row[j - 1] + 1).min(last[j - 1] + cost);
            if i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(before[j - 2] + 1);
            }
            row[j] = d;
        }
        std::mem::swap(&mut before, &mut last);
        std::mem::swap(&mut last, &mut row);
    }
    last[b.len()]
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
    use super::{closest, edit_distance};

    #[test]
    fn edit_distance_counts_edits_and_swaps() {
        let d = |a: &str, b: &str| {
            let a: Vec<char> = a.chars().collect();
            let b: Vec<char> = b.chars().collect();
            edit_distance(&a, &b)
        };
        assert_eq!(d("", ""), 0);
        assert_eq!(d("abc", ""), 3);
        assert_eq!(d("", "ab"), 2);
        assert_eq!(d("wall-b-3", "wall-b-03"), 1);
        assert_eq!(d("Eruope", "Europe"), 1);
        assert_eq!(d("kitten", "sitting"), 3);
    }

    #[test]
    fn closest_only_when_near() {
        let names = ["wall-b-03", "wall-b-04", "stage-c"];
        assert_eq!(closest("wall-b-3", names), Some("wall-b-03"));
        assert_eq!(closest("WALL-B-04", names), Some("wall-b-04"));
        assert_eq!(closest("stage-x", names), Some("stage-c"));
        assert_eq!(closest("render-01", names), None);
        assert_eq!(closest("x", ["y", "xyz"]), Some("y"));
    }

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

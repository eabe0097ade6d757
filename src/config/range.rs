//! `{A..B}` ranges in a node's `name`, `host` and `port`, so a wall of 32 servers
//! is one table instead of 32. A value holds at most one range; every range of a
//! table (or `nodes.csv` row) is expanded in lockstep, and a value without one
//! is repeated.
//!
//! A range counts up when A < B and down when A > B. When A is written with a
//! leading zero (`{01..32}`), every value is zero-padded to A's width, as a shell
//! does; otherwise numbers are written plainly. Braces without `..` inside are
//! ordinary text, so a name such as `wall{left}` keeps working.

use std::fmt;

/// The most values one range may give: a fleet is thousands of nodes, and a
/// typo such as `{1..100000}` should be refused, not expanded.
pub(super) const MAX_VALUES: u64 = 10_000;

/// A value as written: text around at most one range.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Ranged<'a> {
    before: &'a str,
    range: Option<Steps<'a>>,
    after: &'a str,
}

/// The numbers of one range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Steps<'a> {
    /// The range as written, braces included, for messages.
    written: &'a str,
    first: u64,
    last: u64,
    /// Zero-pad every value to this many digits (0: no padding).
    width: usize,
}

impl<'a> Ranged<'a> {
    /// Splits `text` around its range, if it has one. Refuses two ranges, a
    /// malformed one (`{1..}`, `{a..b}`) and one of more than [`MAX_VALUES`].
    pub(super) fn parse(text: &'a str) -> Result<Ranged<'a>, String> {
        let mut found: Option<(usize, usize)> = None;
        let mut from = 0;
        while let Some(open) = text[from..].find('{').map(|p| from + p) {
            let Some(close) = text[open..].find('}').map(|p| open + p) else {
                if text[open..].contains("..") {
                    return Err(format!(
                        "malformed range in {text:?}: the {{ has no closing }} (write {{A..B}}, such as {{01..32}})"
                    ));
                }
                break;
            };
            if text[open + 1..close].contains("..") {
                if let Some((a, b)) = found {
                    return Err(format!(
                        "{text:?} has two ranges ({} and {}); a value may hold one range",
                        &text[a..=b],
                        &text[open..=close]
                    ));
                }
                found = Some((open, close));
            }
            from = close + 1;
        }
        let Some((open, close)) = found else {
            return Ok(Ranged {
                before: text,
                range: None,
                after: "",
            });
        };
        Ok(Ranged {
            before: &text[..open],
            range: Some(Steps::parse(&text[open..=close])?),
            after: &text[close + 1..],
        })
    }

    /// Whether the value holds a range.
    pub(super) fn is_range(&self) -> bool {
        self.range.is_some()
    }

    /// How many values it gives: 1 without a range.
    pub(super) fn len(&self) -> usize {
        self.range.map_or(1, |r| r.len() as usize)
    }

    /// The range as written (`{01..32}`), or the whole value without one.
    pub(super) fn written(&self) -> &'a str {
        self.range.map_or(self.before, |r| r.written)
    }

    /// Value `i` (0-based, below [`Ranged::len`]); a value without a range is
    /// the same for every `i`.
    pub(super) fn get(&self, i: usize) -> String {
        match self.range {
            None => self.before.to_owned(),
            Some(r) => format!("{}{}{}", self.before, r.nth(i as u64), self.after),
        }
    }
}

impl<'a> Steps<'a> {
    fn parse(written: &'a str) -> Result<Steps<'a>, String> {
        let malformed = || {
            format!(
                "malformed range {written:?}: write {{A..B}} with whole numbers A and B, such as {{01..32}}"
            )
        };
        let inner = &written[1..written.len() - 1];
        let (a, b) = inner.split_once("..").ok_or_else(malformed)?;
        let number = |t: &str| -> Result<u64, String> {
            if t.is_empty() || !t.bytes().all(|c| c.is_ascii_digit()) {
                return Err(malformed());
            }
            t.parse::<u64>()
                .ok()
                .filter(|n| *n < 1_000_000_000_000)
                .ok_or_else(|| format!("range {written:?}: {t} is too large a number"))
        };
        let (first, last) = (number(a)?, number(b)?);
        let steps = Steps {
            written,
            first,
            last,
            width: if a.len() > 1 && a.starts_with('0') {
                a.len()
            } else {
                0
            },
        };
        if steps.len() > MAX_VALUES {
            return Err(format!(
                "range {written:?} gives {} values; at most {MAX_VALUES} are allowed in one table",
                steps.len()
            ));
        }
        Ok(steps)
    }

    fn len(&self) -> u64 {
        self.first.abs_diff(self.last) + 1
    }

    fn nth(&self, i: u64) -> Padded {
        let n = if self.first <= self.last {
            self.first + i
        } else {
            self.first - i
        };
        Padded(n, self.width)
    }
}

/// A number zero-padded to a width.
struct Padded(u64, usize);

impl fmt::Display for Padded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.0, width = self.1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(text: &str) -> Vec<String> {
        let r = Ranged::parse(text).expect(text);
        (0..r.len()).map(|i| r.get(i)).collect()
    }

    #[test]
    fn expansion_pads_like_its_first_number() {
        let names = all("wall-a-{01..32}");
        assert_eq!(names.len(), 32);
        assert_eq!(names[0], "wall-a-01");
        assert_eq!(names[8], "wall-a-09");
        assert_eq!(names[31], "wall-a-32");
        assert_eq!(all("n{1..3}x"), ["n1x", "n2x", "n3x"]);
        assert_eq!(all("{8..11}"), ["8", "9", "10", "11"]);
        assert_eq!(all("{098..101}"), ["098", "099", "100", "101"]);
        // Only A decides the width.
        assert_eq!(all("{1..010}").first().map(String::as_str), Some("1"));
    }

    #[test]
    fn a_range_may_count_down_and_a_single_value_is_a_range() {
        assert_eq!(all("h{3..1}"), ["h3", "h2", "h1"]);
        assert_eq!(all("h{10..08}"), ["h10", "h9", "h8"]);
        assert_eq!(all("h{010..008}"), ["h010", "h009", "h008"]);
        assert_eq!(all("h{5..5}"), ["h5"]);
    }

    #[test]
    fn text_without_a_range_is_one_value() {
        for text in ["wall-01", "wall{left}", "a{b}c{d}", "x}{", "1.2.3.4"] {
            let r = Ranged::parse(text).expect(text);
            assert!(!r.is_range(), "{text}");
            assert_eq!(r.len(), 1);
            assert_eq!(r.get(0), text);
            assert_eq!(r.get(5), text);
        }
    }

    #[test]
    fn bad_ranges_are_refused_with_their_text() {
        for (text, want) in [
            (
                "a{1..}",
                "malformed range \"{1..}\": write {A..B} with whole numbers A and B, such as {01..32}",
            ),
            (
                "a{..3}",
                "malformed range \"{..3}\": write {A..B} with whole numbers A and B, such as {01..32}",
            ),
            (
                "a{x..3}",
                "malformed range \"{x..3}\": write {A..B} with whole numbers A and B, such as {01..32}",
            ),
            (
                "a{1...3}",
                "malformed range \"{1...3}\": write {A..B} with whole numbers A and B, such as {01..32}",
            ),
            (
                "a{-1..3}",
                "malformed range \"{-1..3}\": write {A..B} with whole numbers A and B, such as {01..32}",
            ),
            (
                "a{1..3",
                "malformed range in \"a{1..3\": the { has no closing } (write {A..B}, such as {01..32})",
            ),
            (
                "r{1..2}-{3..4}",
                "\"r{1..2}-{3..4}\" has two ranges ({1..2} and {3..4}); a value may hold one range",
            ),
            (
                "n{1..10001}",
                "range \"{1..10001}\" gives 10001 values; at most 10000 are allowed in one table",
            ),
            (
                "n{1..99999999999999999999}",
                "range \"{1..99999999999999999999}\": 99999999999999999999 is too large a number",
            ),
        ] {
            assert_eq!(Ranged::parse(text).expect_err(text), want, "{text}");
        }
        assert_eq!(
            Ranged::parse("n{1..10000}").map(|r| r.len()),
            Ok(10_000),
            "the cap itself is allowed"
        );
    }
}

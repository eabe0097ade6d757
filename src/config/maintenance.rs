//! `[[maintenance]]`: planned windows in which some nodes and sync groups are
//! expected to be out of sync or down (a rehearsal, the weekly reboots), so the
//! people watching the fleet can tell planned work from a fault.
//!
//! A window is either one-off (`start`, `end`: RFC 3339 moments with an offset)
//! or weekly (`every` listed weekday at `at` local time in `timezone`, lasting
//! `duration`). Without `timezone` a weekly window follows the system's time zone
//! (shown as `local`); with one (an IANA name) it stays right across DST changes
//! wherever the monitor runs. `nodes` and `groups` are globs, checked here as
//! `[[notify]]` checks its own: each must match something now.
//!
//! This module only validates; `state::maintenance` says which window is in force
//! at a given moment.

use std::collections::HashMap;
use std::ops::Range;
use std::time::Duration;

use jiff::Timestamp;
use jiff::civil::{Time, Weekday};
use jiff::tz::TimeZone;
use toml::Spanned;

use super::NodeConfig;
use super::error::{ConfigError, Cx};
use super::raw::{RawMaintenance, RawWhen};
use super::values::{closest, fleet_names};

/// The longest a weekly window's `duration` may be: one occurrence a week can
/// then last until the next.
pub const MAX_MAINTENANCE: Duration = Duration::from_secs(7 * 24 * 3600);

/// One `[[maintenance]]` table, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MaintenanceWindow {
    /// Unique among windows; names the window wherever a node is shown in it.
    pub name: String,
    /// Node-name globs (globset, as `[[notify]] nodes = […]` uses); empty: none
    /// by name.
    pub nodes: Vec<String>,
    /// Group-name globs; every member of a matching group is in the window, and
    /// the group itself. At least one of `nodes` and `groups` is given.
    pub groups: Vec<String>,
    pub when: WindowTime,
}

/// When a window is in force.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WindowTime {
    /// From `start` (included) to `end` (excluded, after `start`).
    Once { start: Timestamp, end: Timestamp },
    /// On each of `days` at `at` local time in `zone`, for `duration` of elapsed
    /// time (so it may run past midnight). A start that does not exist that day
    /// (DST's spring-forward gap) moves forward by the gap; one that happens
    /// twice (fall back) is the earlier.
    Weekly {
        /// In the order written, each once, never empty.
        days: Vec<Weekday>,
        at: Time,
        /// Longer than zero, at most [`MAX_MAINTENANCE`].
        duration: Duration,
        /// `timezone`, or the system's time zone when it is left out.
        zone: TimeZone,
        /// The zone's IANA name, or `local` for the system's time zone.
        zone_name: String,
    },
}

/// The words `every` accepts (case ignored), with the day each means.
const WEEKDAYS: [(&str, &str, Weekday); 7] = [
    ("mon", "monday", Weekday::Monday),
    ("tue", "tuesday", Weekday::Tuesday),
    ("wed", "wednesday", Weekday::Wednesday),
    ("thu", "thursday", Weekday::Thursday),
    ("fri", "friday", Weekday::Friday),
    ("sat", "saturday", Weekday::Saturday),
    ("sun", "sunday", Weekday::Sunday),
];

const WEEKDAY_WORDS: &str = "mon, tue, wed, thu, fri, sat or sun, or the day's full English name";

/// What both forms of window need, for messages about a missing or misplaced key.
const FORMS: &str =
    "a window is either one-off (start, end) or weekly (every, at, duration, timezone)";

/// The example of a moment in messages.
const MOMENT_EXAMPLE: &str = "\"2026-12-01T18:00:00+01:00\"";

fn span_of<T>(v: &Option<Spanned<T>>) -> Option<Range<usize>> {
    v.as_ref().map(Spanned::span)
}

impl Cx<'_> {
    /// All `[[maintenance]]` tables, in file order. `nodes` are the validated
    /// nodes, which every node and group glob must match some of.
    pub(super) fn maintenance(
        &self,
        raw: &[Spanned<RawMaintenance>],
        nodes: &[NodeConfig],
    ) -> Result<Vec<MaintenanceWindow>, ConfigError> {
        if raw.is_empty() {
            return Ok(Vec::new());
        }
        let (nodes, groups) = fleet_names(nodes);
        let mut names = HashMap::with_capacity(raw.len());
        raw.iter()
            .enumerate()
            .map(|(i, m)| self.window(i, m, (&nodes, &groups), &mut names))
            .collect()
    }

    /// `names`: window names already used, with the index and table start of
    /// the window that has each.
    fn window(
        &self,
        i: usize,
        spanned: &Spanned<RawMaintenance>,
        (nodes, groups): (&[&str], &[&str]),
        names: &mut HashMap<String, (usize, usize)>,
    ) -> Result<MaintenanceWindow, ConfigError> {
        let at = spanned.span();
        let m = spanned.get_ref();
        let prefix = format!("maintenance[{i}]");
        let key = |k: &str| format!("{prefix}.{k}");

        let name = self.unique_name(&m.name, at.clone(), "maintenance", i, names)?;

        if m.nodes.is_none() && m.groups.is_none() {
            return Err(self.err(
                at,
                key("nodes"),
                "missing (required): give nodes, groups or both (the node and group names or globs the window covers)",
            ));
        }
        let covered = |v: &Option<Spanned<Vec<Spanned<String>>>>,
                       k: &str,
                       what: &str,
                       all: &[&str],
                       other: &str| {
            let Some(list) = v else {
                return Ok(Vec::new());
            };
            if list.get_ref().is_empty() {
                return Err(self.err(
                    list.span(),
                    key(k),
                    format!("must list at least one {what} name or glob (leave it out to cover {other} only)"),
                ));
            }
            self.globs(list.get_ref(), &key(k), what, all)
        };
        let node_globs = covered(&m.nodes, "nodes", "node", nodes, "groups")?;
        let group_globs = covered(&m.groups, "groups", "group", groups, "nodes")?;

        let when = self.window_time(m, at, &prefix)?;
        Ok(MaintenanceWindow {
            name: name.get_ref().clone(),
            nodes: node_globs,
            groups: group_globs,
            when,
        })
    }

    /// Which form the table is, by its keys, and that form's values.
    fn window_time(
        &self,
        m: &RawMaintenance,
        table: Range<usize>,
        prefix: &str,
    ) -> Result<WindowTime, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let first = |keys: &[(&'static str, Option<Range<usize>>)]| {
            keys.iter()
                .filter_map(|(k, s)| s.clone().map(|s| (*k, s)))
                .min_by_key(|(_, s)| s.start)
        };
        let once = first(&[("start", span_of(&m.start)), ("end", span_of(&m.end))]);
        let weekly = first(&[
            ("every", span_of(&m.every)),
            ("at", span_of(&m.at)),
            ("duration", span_of(&m.duration)),
            ("timezone", span_of(&m.timezone)),
        ]);
        match (once, weekly) {
            (None, None) => Err(self.err(
                table,
                key("start"),
                "missing (required): give start and end for a one-off window, or every, at and duration for a weekly one",
            )),
            // The form is set by whichever key comes first; the first key of
            // the other form is the mistake.
            (Some((o, o_span)), Some((w, w_span))) => {
                let (form, by, by_span, bad, bad_span) = if o_span.start < w_span.start {
                    ("one-off", o, o_span, w, w_span)
                } else {
                    ("weekly", w, w_span, o, o_span)
                };
                Err(self.err(
                    bad_span,
                    key(bad),
                    format!(
                        "a {form} window ({by} at line {}) takes no {bad}; {FORMS}",
                        self.line_of(by_span.start)
                    ),
                ))
            }
            (Some(_), None) => self.once(m, table, prefix),
            (None, Some(_)) => self.weekly(m, table, prefix),
        }
    }

    fn once(
        &self,
        m: &RawMaintenance,
        table: Range<usize>,
        prefix: &str,
    ) -> Result<WindowTime, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let needed = |k: &str| {
            self.err(
                table.clone(),
                key(k),
                "missing (required): a one-off window needs start and end",
            )
        };
        let start_raw = m.start.as_ref().ok_or_else(|| needed("start"))?;
        let end_raw = m.end.as_ref().ok_or_else(|| needed("end"))?;
        let start = self.moment(start_raw, &key("start"))?;
        let end = self.moment(end_raw, &key("end"))?;
        if end <= start {
            return Err(self.err(
                end_raw.span(),
                key("end"),
                format!(
                    "{:?} is not after start {:?} (line {})",
                    end_raw.get_ref().text,
                    start_raw.get_ref().text,
                    self.line_of(start_raw.span().start)
                ),
            ));
        }
        Ok(WindowTime::Once { start, end })
    }

    /// An RFC 3339 moment: a date, a time and an offset (or `Z`).
    fn moment(&self, v: &Spanned<RawWhen>, key: &str) -> Result<Timestamp, ConfigError> {
        let text = &v.get_ref().text;
        text.parse::<Timestamp>().map_err(|_| {
            // A civil date and time parse; only the offset is missing.
            let civil = text.contains(':') && text.parse::<jiff::civil::DateTime>().is_ok();
            let message = if civil {
                format!("{text:?} has no UTC offset; add one, e.g. {MOMENT_EXAMPLE} (or Z for UTC)")
            } else {
                format!(
                    "invalid time {text:?}: expected RFC 3339 with an offset, e.g. {MOMENT_EXAMPLE}"
                )
            };
            self.err(v.span(), key, message)
        })
    }

    fn weekly(
        &self,
        m: &RawMaintenance,
        table: Range<usize>,
        prefix: &str,
    ) -> Result<WindowTime, ConfigError> {
        let key = |k: &str| format!("{prefix}.{k}");
        let missing = |k: &str| {
            self.err(
                table.clone(),
                key(k),
                "missing (required): a weekly window needs every, at and duration (timezone is optional)",
            )
        };
        let every = m.every.as_ref().ok_or_else(|| missing("every"))?;
        let at = m.at.as_ref().ok_or_else(|| missing("at"))?;
        if m.duration.is_none() {
            return Err(missing("duration"));
        }
        let days = self.weekdays(every, &key("every"))?;
        let at = self.time_of_day(at, &key("at"))?;
        let duration = self.duration_at_most(
            &m.duration,
            &key("duration"),
            Duration::ZERO,
            (MAX_MAINTENANCE, "7d"),
        )?;
        let (zone, zone_name) = match &m.timezone {
            None => (TimeZone::system(), "local".to_owned()),
            Some(z) => self.zone(z, &key("timezone"))?,
        };
        Ok(WindowTime::Weekly {
            days,
            at,
            duration,
            zone,
            zone_name,
        })
    }

    fn weekdays(
        &self,
        list: &Spanned<Vec<Spanned<String>>>,
        key: &str,
    ) -> Result<Vec<Weekday>, ConfigError> {
        if list.get_ref().is_empty() {
            return Err(self.err(
                list.span(),
                key,
                format!("must list at least one weekday: {WEEKDAY_WORDS}"),
            ));
        }
        let mut days: Vec<Weekday> = Vec::with_capacity(list.get_ref().len());
        for (j, word) in list.get_ref().iter().enumerate() {
            let text = word.get_ref();
            let day = WEEKDAYS
                .iter()
                .find(|(short, long, _)| {
                    text.eq_ignore_ascii_case(short) || text.eq_ignore_ascii_case(long)
                })
                .map(|(_, _, d)| *d)
                .ok_or_else(|| {
                    self.err(
                        word.span(),
                        format!("{key}[{j}]"),
                        format!("unknown weekday {text:?}; use {WEEKDAY_WORDS}"),
                    )
                })?;
            if let Some(k) = days.iter().position(|d| *d == day) {
                return Err(self.err(
                    word.span(),
                    format!("{key}[{j}]"),
                    format!("{text:?} is already every[{k}]"),
                ));
            }
            days.push(day);
        }
        Ok(days)
    }

    /// `HH:MM`, 24-hour. Written as a TOML time (`at = 03:00:00`), whole
    /// minutes with seconds are taken too.
    fn time_of_day(&self, v: &Spanned<RawWhen>, key: &str) -> Result<Time, ConfigError> {
        let RawWhen { text, toml } = v.get_ref();
        let hm = match text.strip_suffix(":00") {
            Some(hm) if *toml && hm.len() == 5 => hm,
            _ => text.as_str(),
        };
        hh_mm(hm).ok_or_else(|| {
            self.err(
                v.span(),
                key,
                format!("invalid time {text:?}: expected HH:MM, 24-hour, e.g. 03:00"),
            )
        })
    }

    /// An IANA time zone name, from the database built into the binary.
    fn zone(&self, v: &Spanned<String>, key: &str) -> Result<(TimeZone, String), ConfigError> {
        let name = v.get_ref();
        if name.trim().is_empty() {
            return Err(self.err(
                v.span(),
                key,
                "must not be empty (leave it out for the system's time zone)",
            ));
        }
        match TimeZone::get(name) {
            Ok(zone) => {
                let shown = zone.iana_name().unwrap_or(name).to_owned();
                Ok((zone, shown))
            }
            Err(_) => Err(self.err(
                v.span(),
                key,
                format!("unknown time zone {name:?}; {}", zone_hint(name)),
            )),
        }
    }
}

/// `HH:MM`: two digits each, 00:00 to 23:59.
fn hh_mm(text: &str) -> Option<Time> {
    let (h, m) = text.split_once(':')?;
    let two = |s: &str| {
        (s.len() == 2 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse::<i8>().ok())
            .flatten()
    };
    Time::new(two(h)?, two(m)?, 0, 0).ok()
}

/// The closest IANA name to a zone that is not one, or how to write one.
fn zone_hint(name: &str) -> String {
    // Only `Area/City` names are offered: an abbreviation ("PST", "CEST") is
    // not a zone, and the legacy names a letter away from one ("EST", "CET")
    // would be wrong answers to it.
    let all: Vec<String> = jiff::tz::db()
        .available()
        .map(|n| n.to_string())
        .filter(|n| n.contains('/'))
        .collect();
    let all = || all.iter().map(String::as_str);
    // "Berlin" for "Europe/Berlin": the city alone.
    let city = name.trim().replace(' ', "_");
    let near = if name.contains('/') {
        closest(name, all())
    } else {
        all().find(|z| {
            z.rsplit('/')
                .next()
                .is_some_and(|c| c.eq_ignore_ascii_case(&city))
        })
    };
    match near {
        Some(z) => format!("did you mean {z:?}?"),
        None => "use an IANA name such as Europe/Berlin".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    /// Two nodes in two groups, then one `[[maintenance]]` table whose keys
    /// start on line 10.
    fn window(body: &str) -> String {
        format!(
            "[[node]]\nname = \"wall-b-03\"\nhost = \"10.0.0.3\"\ngroup = \"wall-B\"\n\
             [[node]]\nname = \"stage-c-01\"\nhost = \"10.0.0.4\"\ngroup = \"stage-C\"\n\
             [[maintenance]]\n{body}"
        )
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    /// Each text fails with exactly its message.
    fn assert_exact(cases: &[(&str, &str)]) {
        for (text, want) in cases {
            let got = parse(text).expect_err(text);
            assert_eq!(&got, want, "for {text:?}");
        }
    }

    #[test]
    fn no_tables_no_windows() {
        let c = parse(super::super::ONE).expect("valid");
        assert!(c.maintenance.is_empty());
    }

    #[test]
    fn both_forms_parse_in_file_order() {
        let text = window(
            "name = \"rehearsal\"\nnodes = [\"wall-b-03\"]\n\
             start = \"2026-12-01T18:00:00+01:00\"\nend = \"2026-12-01T23:00:00Z\"\n\
             [[maintenance]]\nname = \"weekly-reboots\"\ngroups = [\"stage-*\"]\n\
             every = [\"sun\", \"Wednesday\"]\nat = \"03:00\"\nduration = \"1h 30m\"\n\
             timezone = \"europe/berlin\"\n\
             [[maintenance]]\nname = \"local\"\nnodes = [\"*\"]\ngroups = [\"wall-B\"]\n\
             every = [\"SAT\"]\nat = 23:30\nduration = \"2h\"\n\
             [[maintenance]]\nname = \"bare\"\nnodes = [\"stage-c-01\"]\n\
             start = 2026-12-01T18:00:00+01:00\nend = 2026-12-02T06:00:00+01:00\n",
        );
        let c = parse(&text).expect("valid");
        let names: Vec<&str> = c.maintenance.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(names, ["rehearsal", "weekly-reboots", "local", "bare"]);
        let [rehearsal, weekly, local, bare] = &c.maintenance[..] else {
            panic!("four windows");
        };
        assert_eq!(rehearsal.nodes, ["wall-b-03"]);
        assert!(rehearsal.groups.is_empty());
        assert_eq!(
            rehearsal.when,
            WindowTime::Once {
                start: ts("2026-12-01T17:00:00Z"),
                end: ts("2026-12-01T23:00:00Z"),
            }
        );
        assert!(weekly.nodes.is_empty());
        assert_eq!(weekly.groups, ["stage-*"]);
        let WindowTime::Weekly {
            days,
            at,
            duration,
            zone,
            zone_name,
        } = &weekly.when
        else {
            panic!("weekly: {:?}", weekly.when);
        };
        assert_eq!(days, &[Weekday::Sunday, Weekday::Wednesday]);
        assert_eq!(*at, Time::constant(3, 0, 0, 0));
        assert_eq!(*duration, Duration::from_secs(90 * 60));
        assert_eq!(zone_name, "Europe/Berlin");
        assert_eq!(zone, &TimeZone::get("Europe/Berlin").expect("zone"));
        let WindowTime::Weekly {
            days,
            at,
            zone,
            zone_name,
            ..
        } = &local.when
        else {
            panic!("weekly: {:?}", local.when);
        };
        assert_eq!(days, &[Weekday::Saturday]);
        assert_eq!(*at, Time::constant(23, 30, 0, 0));
        assert_eq!(zone_name, "local");
        assert_eq!(zone, &TimeZone::system());
        assert_eq!(
            bare.when,
            WindowTime::Once {
                start: ts("2026-12-01T17:00:00Z"),
                end: ts("2026-12-02T05:00:00Z"),
            }
        );
        // Equal configs compare equal (the reload diff relies on it).
        assert_eq!(parse(&text).expect("valid"), c);
    }

    #[test]
    fn names_and_coverage_errors() {
        let once = "start = \"2026-12-01T18:00:00+01:00\"\nend = \"2026-12-01T23:00:00+01:00\"\n";
        assert_exact(&[
            (
                &window(&format!("nodes = [\"wall-b-03\"]\n{once}")),
                "fleet.toml:9:1: maintenance[0].name: missing (required)",
            ),
            (
                &window(&format!("name = \"\"\nnodes = [\"wall-b-03\"]\n{once}")),
                "fleet.toml:10:8: maintenance[0].name: must not be empty",
            ),
            (
                &window(&format!(
                    "name = \"a\"\nnodes = [\"wall-b-03\"]\n{once}\
                     [[maintenance]]\nname = \"a\"\nnodes = [\"wall-b-03\"]\n{once}"
                )),
                "fleet.toml:15:8: maintenance[1].name: duplicate name \"a\" (first used by maintenance[0] at line 9)",
            ),
            (
                &window(&format!("name = \"a\"\n{once}")),
                "fleet.toml:9:1: maintenance[0].nodes: missing (required): give nodes, groups or both (the node and group names or globs the window covers)",
            ),
            (
                &window(&format!("name = \"a\"\nnodes = []\n{once}")),
                "fleet.toml:11:9: maintenance[0].nodes: must list at least one node name or glob (leave it out to cover groups only)",
            ),
            (
                &window(&format!("name = \"a\"\ngroups = []\n{once}")),
                "fleet.toml:11:10: maintenance[0].groups: must list at least one group name or glob (leave it out to cover nodes only)",
            ),
            (
                &window(&format!("name = \"a\"\nnodes = [\"wall-b-3\"]\n{once}")),
                "fleet.toml:11:10: maintenance[0].nodes[0]: \"wall-b-3\" matches no node; did you mean \"wall-b-03\"?",
            ),
            (
                &window(&format!(
                    "name = \"a\"\nnodes = [\"wall-b-03\", \"render-01\"]\n{once}"
                )),
                "fleet.toml:11:23: maintenance[0].nodes[1]: \"render-01\" matches no node",
            ),
            (
                &window(&format!("name = \"a\"\ngroups = [\"stage-c\"]\n{once}")),
                "fleet.toml:11:11: maintenance[0].groups[0]: \"stage-c\" matches no group; did you mean \"stage-C\"?",
            ),
            (
                &window(&format!("name = \"a\"\ngroups = [\"render-*\"]\n{once}")),
                "fleet.toml:11:11: maintenance[0].groups[0]: glob \"render-*\" matches no group",
            ),
            (
                &window(&format!("name = \"a\"\nnodes = [\"wall-[\"]\n{once}")),
                "fleet.toml:11:10: maintenance[0].nodes[0]: invalid glob \"wall-[\": unclosed character class; missing ']'",
            ),
            (
                &window("name = \"a\"\nnodes = [\"wall-b-03\"]\nwhen = \"now\"\n"),
                "fleet.toml:12:1: maintenance[0].when: unknown field `when`, expected one of `name`, `nodes`, `groups`, `start`, `end`, `every`, `at`, `duration`, `timezone`",
            ),
        ]);
    }

    #[test]
    fn form_errors() {
        let head = "name = \"a\"\nnodes = [\"wall-b-03\"]\n";
        let c = |rest: &str| window(&format!("{head}{rest}"));
        assert_exact(&[
            (
                &c(""),
                "fleet.toml:9:1: maintenance[0].start: missing (required): give start and end for a one-off window, or every, at and duration for a weekly one",
            ),
            (
                &c("start = \"2026-12-01T18:00:00+01:00\"\n"),
                "fleet.toml:9:1: maintenance[0].end: missing (required): a one-off window needs start and end",
            ),
            (
                &c("end = \"2026-12-01T18:00:00+01:00\"\n"),
                "fleet.toml:9:1: maintenance[0].start: missing (required): a one-off window needs start and end",
            ),
            (
                &c(
                    "start = \"2026-12-01T18:00:00+01:00\"\nend = \"2026-12-01T23:00:00+01:00\"\nevery = [\"sun\"]\n",
                ),
                "fleet.toml:14:9: maintenance[0].every: a one-off window (start at line 12) takes no every; a window is either one-off (start, end) or weekly (every, at, duration, timezone)",
            ),
            (
                &c(
                    "timezone = \"Europe/Berlin\"\nevery = [\"sun\"]\nat = \"03:00\"\nduration = \"1h\"\nend = \"2026-12-01T23:00:00+01:00\"\n",
                ),
                "fleet.toml:16:7: maintenance[0].end: a weekly window (timezone at line 12) takes no end; a window is either one-off (start, end) or weekly (every, at, duration, timezone)",
            ),
            (
                &c("timezone = \"Europe/Berlin\"\n"),
                "fleet.toml:9:1: maintenance[0].every: missing (required): a weekly window needs every, at and duration (timezone is optional)",
            ),
            (
                &c("every = [\"sun\"]\nduration = \"1h\"\n"),
                "fleet.toml:9:1: maintenance[0].at: missing (required): a weekly window needs every, at and duration (timezone is optional)",
            ),
            (
                &c("every = [\"sun\"]\nat = \"03:00\"\n"),
                "fleet.toml:9:1: maintenance[0].duration: missing (required): a weekly window needs every, at and duration (timezone is optional)",
            ),
        ]);
    }

    #[test]
    fn one_off_errors() {
        let head = "name = \"a\"\nnodes = [\"wall-b-03\"]\n";
        let c = |start: &str, end: &str| window(&format!("{head}start = {start}\nend = {end}\n"));
        let good = "\"2026-12-01T18:00:00+01:00\"";
        assert_exact(&[
            (
                &c(good, "\"2026-12-01T17:00:00Z\""),
                "fleet.toml:13:7: maintenance[0].end: \"2026-12-01T17:00:00Z\" is not after start \"2026-12-01T18:00:00+01:00\" (line 12)",
            ),
            (
                &c(good, "\"2026-12-01T16:00:00Z\""),
                "fleet.toml:13:7: maintenance[0].end: \"2026-12-01T16:00:00Z\" is not after start \"2026-12-01T18:00:00+01:00\" (line 12)",
            ),
            (
                &c("\"2026-12-01T18:00:00\"", good),
                "fleet.toml:12:9: maintenance[0].start: \"2026-12-01T18:00:00\" has no UTC offset; add one, e.g. \"2026-12-01T18:00:00+01:00\" (or Z for UTC)",
            ),
            (
                &c(good, "2026-12-01T23:00:00"),
                "fleet.toml:13:7: maintenance[0].end: \"2026-12-01T23:00:00\" has no UTC offset; add one, e.g. \"2026-12-01T18:00:00+01:00\" (or Z for UTC)",
            ),
            (
                &c("\"1 Dec 2026 18:00 CET\"", good),
                "fleet.toml:12:9: maintenance[0].start: invalid time \"1 Dec 2026 18:00 CET\": expected RFC 3339 with an offset, e.g. \"2026-12-01T18:00:00+01:00\"",
            ),
            (
                &c("\"2026-12-01\"", good),
                "fleet.toml:12:9: maintenance[0].start: invalid time \"2026-12-01\": expected RFC 3339 with an offset, e.g. \"2026-12-01T18:00:00+01:00\"",
            ),
            (
                &c("\"2026-13-01T18:00:00+01:00\"", good),
                "fleet.toml:12:9: maintenance[0].start: invalid time \"2026-13-01T18:00:00+01:00\": expected RFC 3339 with an offset, e.g. \"2026-12-01T18:00:00+01:00\"",
            ),
            (
                &c("18", good),
                "fleet.toml:12:9: maintenance[0].start: invalid type: integer `18`, expected a string or a TOML date-time",
            ),
        ]);
    }

    #[test]
    fn weekly_errors() {
        let head = "name = \"a\"\ngroups = [\"stage-C\"]\n";
        let c = |every: &str, at: &str, duration: &str, zone: &str| {
            window(&format!(
                "{head}every = {every}\nat = {at}\nduration = {duration}\ntimezone = {zone}\n"
            ))
        };
        let (every, at, duration, zone) = ("[\"sun\"]", "\"03:00\"", "\"1h\"", "\"Europe/Berlin\"");
        assert_exact(&[
            (
                &c("[]", at, duration, zone),
                "fleet.toml:12:9: maintenance[0].every: must list at least one weekday: mon, tue, wed, thu, fri, sat or sun, or the day's full English name",
            ),
            (
                &c("[\"sun\", \"sonday\"]", at, duration, zone),
                "fleet.toml:12:17: maintenance[0].every[1]: unknown weekday \"sonday\"; use mon, tue, wed, thu, fri, sat or sun, or the day's full English name",
            ),
            (
                &c("[\"sun\", \"Sunday\"]", at, duration, zone),
                "fleet.toml:12:17: maintenance[0].every[1]: \"Sunday\" is already every[0]",
            ),
            (
                &c(every, "\"3:00\"", duration, zone),
                "fleet.toml:13:6: maintenance[0].at: invalid time \"3:00\": expected HH:MM, 24-hour, e.g. 03:00",
            ),
            (
                &c(every, "\"24:00\"", duration, zone),
                "fleet.toml:13:6: maintenance[0].at: invalid time \"24:00\": expected HH:MM, 24-hour, e.g. 03:00",
            ),
            (
                &c(every, "\"03:00:00\"", duration, zone),
                "fleet.toml:13:6: maintenance[0].at: invalid time \"03:00:00\": expected HH:MM, 24-hour, e.g. 03:00",
            ),
            (
                &c(every, "03:00:30", duration, zone),
                "fleet.toml:13:6: maintenance[0].at: invalid time \"03:00:30\": expected HH:MM, 24-hour, e.g. 03:00",
            ),
            (
                &c(every, "\"3pm\"", duration, zone),
                "fleet.toml:13:6: maintenance[0].at: invalid time \"3pm\": expected HH:MM, 24-hour, e.g. 03:00",
            ),
            (
                &c(every, at, "\"0s\"", zone),
                "fleet.toml:14:12: maintenance[0].duration: must be longer than zero",
            ),
            (
                &c(every, at, "\"7d 1s\"", zone),
                "fleet.toml:14:12: maintenance[0].duration: must be at most 7d",
            ),
            (
                &c(every, at, "\"1 h\"", zone),
                "fleet.toml:14:12: maintenance[0].duration: invalid duration \"1 h\": write the unit right after the number (examples: \"500ms\", \"5s\", \"1m 30s\")",
            ),
            (
                &c(every, at, duration, "\"Europe/Berln\""),
                "fleet.toml:15:12: maintenance[0].timezone: unknown time zone \"Europe/Berln\"; did you mean \"Europe/Berlin\"?",
            ),
            (
                &c(every, at, duration, "\"Berlin\""),
                "fleet.toml:15:12: maintenance[0].timezone: unknown time zone \"Berlin\"; did you mean \"Europe/Berlin\"?",
            ),
            (
                &c(every, at, duration, "\"Mars/Olympus_Mons\""),
                "fleet.toml:15:12: maintenance[0].timezone: unknown time zone \"Mars/Olympus_Mons\"; use an IANA name such as Europe/Berlin",
            ),
            (
                &c(every, at, duration, "\"PST\""),
                "fleet.toml:15:12: maintenance[0].timezone: unknown time zone \"PST\"; use an IANA name such as Europe/Berlin",
            ),
            (
                &c(every, at, duration, "\"new york\""),
                "fleet.toml:15:12: maintenance[0].timezone: unknown time zone \"new york\"; did you mean \"America/New_York\"?",
            ),
            (
                &c(every, at, duration, "\"\""),
                "fleet.toml:15:12: maintenance[0].timezone: must not be empty (leave it out for the system's time zone)",
            ),
        ]);
        // A week exactly is allowed.
        parse(&c(every, at, "\"7d\"", zone)).expect("7d is allowed");
    }
}

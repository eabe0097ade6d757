//! Which `[[maintenance]]` windows are in force at a given moment, and when that
//! next changes: pure, no IO, the time passed in, like the rest of `state`.
//!
//! The monitor's owner task asks at most once a second and at each window
//! boundary, for fleets of 10,000 nodes. So [`Windows`] compiles every window's
//! globs once, and [`Windows::at`] works out which windows are in force once per
//! moment ([`InForce`]); asking about each node is then a glob match against the
//! windows in force only.
//!
//! Weekly windows: an occurrence starts on each listed weekday at `at` local time
//! in the window's zone and lasts `duration` of elapsed time, so it may run past
//! midnight into the next day. A start that does not exist that day (the spring
//! DST gap) moves forward by the gap; one that happens twice (fall back) is the
//! earlier. Occurrences that overlap or touch count as one: a window is in force
//! from the first start to the last end, and changes only at those two moments.

use std::time::Duration;

use globset::{Glob, GlobSet, GlobSetBuilder};
use jiff::civil::{Date, Time, Weekday};
use jiff::tz::TimeZone;
use jiff::{Timestamp, ToSpan};

use crate::config::{MaintenanceWindow, WindowTime};

/// How many days past today weekly occurrences are looked for: the next start
/// is at most a week (and a DST hour) away. Occurrences that follow each other
/// without a break for longer than this (a window that never ends) are reported
/// as ending with the last one looked at, at least a week ahead.
const LOOK_AHEAD_DAYS: i64 = 8;

impl MaintenanceWindow {
    /// The occurrence in force at `now`: (start, end) with start <= now < end.
    pub fn active_at(&self, now: Timestamp) -> Option<(Timestamp, Timestamp)> {
        evaluate(&self.when, now).active
    }

    /// The first moment strictly after `now` at which the window starts or ends;
    /// None when it never will again.
    pub fn next_change(&self, now: Timestamp) -> Option<Timestamp> {
        evaluate(&self.when, now).next_change
    }

    /// Whether the window covers a node with this name in this group: its name
    /// matches `nodes`, or its group matches `groups`. Compiles the globs on
    /// each call; for many nodes, use [`Windows`].
    pub fn covers_node(&self, name: &str, group: Option<&str>) -> bool {
        Matcher::new(self).node(name, group)
    }

    /// Whether it covers a sync group as a whole: the group matches `groups`.
    /// (A node glob covers the nodes it matches, never their group.)
    pub fn covers_group(&self, group: &str) -> bool {
        Matcher::new(self).group(group)
    }
}

/// What a window's time says about one moment.
struct Evaluation {
    /// The occurrence in force.
    active: Option<(Timestamp, Timestamp)>,
    /// The first start or end after the moment.
    next_change: Option<Timestamp>,
}

fn evaluate(when: &WindowTime, now: Timestamp) -> Evaluation {
    let spans = match when {
        WindowTime::Once { start, end } => vec![(*start, *end)],
        WindowTime::Weekly {
            days,
            at,
            duration,
            zone,
            ..
        } => weekly_spans(days, *at, *duration, zone, now),
    };
    Evaluation {
        active: spans.iter().copied().find(|(s, e)| *s <= now && now < *e),
        next_change: spans.iter().flat_map(|(s, e)| [*s, *e]).find(|t| *t > now),
    }
}

/// The occurrences that start on a local date from the day before
/// `now − duration` (any occurrence still in force started after then; the
/// extra day covers a fall-back fold at midnight) to [`LOOK_AHEAD_DAYS`] after
/// today, in order, those that overlap or touch merged into one.
fn weekly_spans(
    days: &[Weekday],
    at: Time,
    duration: Duration,
    zone: &TimeZone,
    now: Timestamp,
) -> Vec<(Timestamp, Timestamp)> {
    let back = now.checked_sub(duration).unwrap_or(Timestamp::MIN);
    let local_date = |t: Timestamp| zone.to_datetime(t).date();
    let first = local_date(back).yesterday().unwrap_or(Date::MIN);
    let last = local_date(now)
        .checked_add(LOOK_AHEAD_DAYS.days())
        .unwrap_or(Date::MAX);
    let mut spans: Vec<(Timestamp, Timestamp)> = Vec::with_capacity(4);
    let mut date = first;
    while date <= last {
        if days.contains(&date.weekday())
            && let Ok(start) = zone
                .to_ambiguous_timestamp(date.to_datetime(at))
                .compatible()
        {
            let end = start.checked_add(duration).unwrap_or(Timestamp::MAX);
            match spans.last_mut() {
                Some(prev) if start <= prev.1 => prev.1 = prev.1.max(end),
                _ => spans.push((start, end)),
            }
        }
        match date.tomorrow() {
            Ok(next) => date = next,
            Err(_) => break,
        }
    }
    spans
}

/// A window's globs, compiled. An empty list matches nothing.
#[derive(Clone, Debug)]
struct Matcher {
    nodes: GlobSet,
    groups: GlobSet,
}

impl Matcher {
    fn new(w: &MaintenanceWindow) -> Matcher {
        // The validator compiled every glob; one that fails here cannot happen,
        // and is then left out rather than match everything.
        let set = |globs: &[String]| {
            let mut b = GlobSetBuilder::new();
            for g in globs {
                if let Ok(g) = Glob::new(g) {
                    b.add(g);
                }
            }
            b.build().unwrap_or_else(|_| GlobSet::empty())
        };
        Matcher {
            nodes: set(&w.nodes),
            groups: set(&w.groups),
        }
    }

    fn node(&self, name: &str, group: Option<&str>) -> bool {
        self.nodes.is_match(name) || group.is_some_and(|g| self.groups.is_match(g))
    }

    fn group(&self, group: &str) -> bool {
        self.groups.is_match(group)
    }
}

#[derive(Clone, Debug)]
struct Compiled {
    window: MaintenanceWindow,
    matcher: Matcher,
}

/// A config's `[[maintenance]]` windows, globs compiled, in file order. Build it
/// again when the config is reloaded.
#[derive(Clone, Debug, Default)]
pub struct Windows {
    windows: Vec<Compiled>,
}

impl Windows {
    pub fn new(windows: &[MaintenanceWindow]) -> Windows {
        Windows {
            windows: windows
                .iter()
                .map(|w| Compiled {
                    window: w.clone(),
                    matcher: Matcher::new(w),
                })
                .collect(),
        }
    }

    /// No windows configured.
    pub fn is_empty(&self) -> bool {
        self.windows.is_empty()
    }

    /// Which windows are in force at `now`, and when that next changes: worked
    /// out once, to ask about any number of nodes and groups.
    pub fn at(&self, now: Timestamp) -> InForce<'_> {
        let mut active = Vec::new();
        let mut next_change: Option<Timestamp> = None;
        for c in &self.windows {
            let e = evaluate(&c.window.when, now);
            if let Some((start, end)) = e.active {
                active.push(Occurrence {
                    window: c,
                    start,
                    end,
                });
            }
            next_change = earliest(next_change, e.next_change);
        }
        InForce {
            active,
            next_change,
        }
    }

    /// The window (by name, the first in file order) covering a node with this
    /// name in this group at `now`. For many nodes, call [`Windows::at`] once.
    pub fn node(&self, name: &str, group: Option<&str>, now: Timestamp) -> Option<&str> {
        self.at(now).node(name, group)
    }

    /// The window (by name, the first in file order) covering a sync group as
    /// a whole at `now`.
    pub fn group(&self, group: &str, now: Timestamp) -> Option<&str> {
        self.at(now).group(group)
    }

    /// The first moment strictly after `now` at which any window starts or ends;
    /// None when none ever will again.
    pub fn next_change(&self, now: Timestamp) -> Option<Timestamp> {
        self.windows
            .iter()
            .map(|c| evaluate(&c.window.when, now).next_change)
            .fold(None, earliest)
    }
}

fn earliest(a: Option<Timestamp>, b: Option<Timestamp>) -> Option<Timestamp> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

/// One window in force, with the occurrence it is in.
#[derive(Clone, Copy, Debug)]
struct Occurrence<'w> {
    window: &'w Compiled,
    start: Timestamp,
    end: Timestamp,
}

/// The windows in force at one moment ([`Windows::at`]).
#[derive(Clone, Debug)]
pub struct InForce<'w> {
    /// In file order.
    active: Vec<Occurrence<'w>>,
    next_change: Option<Timestamp>,
}

impl<'w> InForce<'w> {
    /// No window is in force: no node or group is covered.
    pub fn is_empty(&self) -> bool {
        self.active.is_empty()
    }

    /// The window (by name, the first in file order) covering a node with this
    /// name in this group.
    pub fn node(&self, name: &str, group: Option<&str>) -> Option<&'w str> {
        self.active
            .iter()
            .find(|o| o.window.matcher.node(name, group))
            .map(|o| o.window.window.name.as_str())
    }

    /// The window (by name, the first in file order) covering a sync group as a
    /// whole.
    pub fn group(&self, group: &str) -> Option<&'w str> {
        self.active
            .iter()
            .find(|o| o.window.matcher.group(group))
            .map(|o| o.window.window.name.as_str())
    }

    /// The windows in force, in file order: name, and start and end of the
    /// occurrence in force.
    pub fn windows(&self) -> impl Iterator<Item = (&'w str, Timestamp, Timestamp)> + '_ {
        self.active
            .iter()
            .map(|o| (o.window.window.name.as_str(), o.start, o.end))
    }

    /// The first moment after this one at which any window starts or ends.
    pub fn next_change(&self) -> Option<Timestamp> {
        self.next_change
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().expect("timestamp")
    }

    fn hours(h: u64) -> Duration {
        Duration::from_secs(h * 3600)
    }

    fn once(name: &str, start: &str, end: &str) -> MaintenanceWindow {
        MaintenanceWindow {
            name: name.into(),
            nodes: vec!["*".into()],
            groups: Vec::new(),
            when: WindowTime::Once {
                start: ts(start),
                end: ts(end),
            },
        }
    }

    fn weekly(days: &[Weekday], at: &str, duration: Duration, zone: &str) -> MaintenanceWindow {
        let (h, m) = at.split_once(':').expect("HH:MM");
        MaintenanceWindow {
            name: "weekly".into(),
            nodes: vec!["*".into()],
            groups: Vec::new(),
            when: WindowTime::Weekly {
                days: days.to_vec(),
                at: Time::new(h.parse().expect("h"), m.parse().expect("m"), 0, 0).expect("time"),
                duration,
                zone: TimeZone::get(zone).expect("zone"),
                zone_name: zone.into(),
            },
        }
    }

    /// `(now, in force, next change)`, in RFC 3339.
    type Case<'a> = (&'a str, Option<(&'a str, &'a str)>, Option<&'a str>);

    /// Each case checked against `w`.
    fn check(w: &MaintenanceWindow, cases: &[Case<'_>]) {
        for (now, active, next) in cases {
            let now = ts(now);
            assert_eq!(
                w.active_at(now),
                active.map(|(s, e)| (ts(s), ts(e))),
                "active_at {now}"
            );
            assert_eq!(w.next_change(now), next.map(ts), "next_change {now}");
        }
    }

    #[test]
    fn once_before_inside_after_with_end_excluded() {
        let w = once(
            "a",
            "2026-12-01T18:00:00+01:00",
            "2026-12-01T23:00:00+01:00",
        );
        let span = Some(("2026-12-01T17:00:00Z", "2026-12-01T22:00:00Z"));
        check(
            &w,
            &[
                ("2026-12-01T16:59:59Z", None, Some("2026-12-01T17:00:00Z")),
                ("2026-12-01T17:00:00Z", span, Some("2026-12-01T22:00:00Z")),
                (
                    "2026-12-01T21:59:59.999Z",
                    span,
                    Some("2026-12-01T22:00:00Z"),
                ),
                ("2026-12-01T22:00:00Z", None, None),
                ("2027-01-01T00:00:00Z", None, None),
            ],
        );
    }

    #[test]
    fn weekly_on_an_ordinary_week() {
        // Sunday 2026-06-07, 03:00 CEST = 01:00Z.
        let w = weekly(&[Weekday::Sunday], "03:00", hours(1), "Europe/Berlin");
        let span = Some(("2026-06-07T01:00:00Z", "2026-06-07T02:00:00Z"));
        check(
            &w,
            &[
                // The Sunday before ended a week ago.
                ("2026-06-03T12:00:00Z", None, Some("2026-06-07T01:00:00Z")),
                ("2026-06-07T00:59:59Z", None, Some("2026-06-07T01:00:00Z")),
                ("2026-06-07T01:00:00Z", span, Some("2026-06-07T02:00:00Z")),
                ("2026-06-07T01:30:00Z", span, Some("2026-06-07T02:00:00Z")),
                ("2026-06-07T02:00:00Z", None, Some("2026-06-14T01:00:00Z")),
                // Right after the start, as seen from Saturday evening UTC.
                ("2026-06-13T23:00:00Z", None, Some("2026-06-14T01:00:00Z")),
            ],
        );
        // In winter the same local time is an hour later in UTC.
        check(
            &w,
            &[(
                "2026-12-06T02:30:00Z",
                Some(("2026-12-06T02:00:00Z", "2026-12-06T03:00:00Z")),
                Some("2026-12-06T03:00:00Z"),
            )],
        );
    }

    #[test]
    fn weekly_across_the_spring_change_in_berlin() {
        // 2026-03-29: 02:00 CET becomes 03:00 CEST. 01:30 CET = 00:30Z; two
        // hours of elapsed time end at 02:30Z, which is 04:30 CEST.
        let w = weekly(&[Weekday::Sunday], "01:30", hours(2), "Europe/Berlin");
        let span = Some(("2026-03-29T00:30:00Z", "2026-03-29T02:30:00Z"));
        check(
            &w,
            &[
                ("2026-03-29T00:29:59Z", None, Some("2026-03-29T00:30:00Z")),
                ("2026-03-29T00:30:00Z", span, Some("2026-03-29T02:30:00Z")),
                ("2026-03-29T02:29:59Z", span, Some("2026-03-29T02:30:00Z")),
                // The next Sunday is in summer time: 01:30 CEST = 23:30Z Saturday.
                ("2026-03-29T02:30:00Z", None, Some("2026-04-04T23:30:00Z")),
            ],
        );
        let (_, end) = w.active_at(ts("2026-03-29T01:00:00Z")).expect("in force");
        assert_eq!(
            end.to_zoned(TimeZone::get("Europe/Berlin").expect("zone"))
                .datetime()
                .to_string(),
            "2026-03-29T04:30:00"
        );
    }

    #[test]
    fn a_start_in_the_spring_gap_moves_forward_by_the_gap() {
        // 02:30 does not exist in Berlin on 2026-03-29: it is 03:30 CEST = 01:30Z.
        let w = weekly(&[Weekday::Sunday], "02:30", hours(1), "Europe/Berlin");
        check(
            &w,
            &[
                ("2026-03-29T01:00:00Z", None, Some("2026-03-29T01:30:00Z")),
                (
                    "2026-03-29T01:30:00Z",
                    Some(("2026-03-29T01:30:00Z", "2026-03-29T02:30:00Z")),
                    Some("2026-03-29T02:30:00Z"),
                ),
            ],
        );
        // New York, 2026-03-08: 02:30 is 03:30 EDT = 07:30Z.
        let w = weekly(&[Weekday::Sunday], "02:30", hours(1), "America/New_York");
        check(
            &w,
            &[("2026-03-08T07:00:00Z", None, Some("2026-03-08T07:30:00Z"))],
        );
    }

    #[test]
    fn weekly_across_the_fall_change_in_berlin() {
        // 2026-10-25: 03:00 CEST becomes 02:00 CET; 02:30 happens twice and the
        // first (CEST, 00:30Z) is taken. One hour: to 01:30Z (02:30 CET).
        let w = weekly(&[Weekday::Sunday], "02:30", hours(1), "Europe/Berlin");
        let span = Some(("2026-10-25T00:30:00Z", "2026-10-25T01:30:00Z"));
        check(
            &w,
            &[
                ("2026-10-25T00:00:00Z", None, Some("2026-10-25T00:30:00Z")),
                ("2026-10-25T01:29:00Z", span, Some("2026-10-25T01:30:00Z")),
                // The second 02:30 (CET) starts nothing.
                ("2026-10-25T01:30:00Z", None, Some("2026-11-01T01:30:00Z")),
            ],
        );
        // 01:30 CEST = 23:30Z Saturday; two hours end at 01:30Z, 02:30 CET.
        let w = weekly(&[Weekday::Sunday], "01:30", hours(2), "Europe/Berlin");
        check(
            &w,
            &[(
                "2026-10-25T01:00:00Z",
                Some(("2026-10-24T23:30:00Z", "2026-10-25T01:30:00Z")),
                Some("2026-10-25T01:30:00Z"),
            )],
        );
    }

    #[test]
    fn weekly_across_the_changes_in_new_york() {
        // 2026-03-08: 01:30 EST = 06:30Z; two hours end at 08:30Z (04:30 EDT).
        let w = weekly(&[Weekday::Sunday], "01:30", hours(2), "America/New_York");
        check(
            &w,
            &[
                ("2026-03-08T06:00:00Z", None, Some("2026-03-08T06:30:00Z")),
                (
                    "2026-03-08T08:00:00Z",
                    Some(("2026-03-08T06:30:00Z", "2026-03-08T08:30:00Z")),
                    Some("2026-03-08T08:30:00Z"),
                ),
                // Next Sunday, 01:30 EDT = 05:30Z.
                ("2026-03-08T08:30:00Z", None, Some("2026-03-15T05:30:00Z")),
            ],
        );
        // 2026-11-01: 02:00 EDT becomes 01:00 EST; 01:30 happens twice and the
        // first (EDT, 05:30Z) is taken. One hour: to 06:30Z, 01:30 EST.
        let w = weekly(&[Weekday::Sunday], "01:30", hours(1), "America/New_York");
        check(
            &w,
            &[
                ("2026-11-01T05:00:00Z", None, Some("2026-11-01T05:30:00Z")),
                (
                    "2026-11-01T06:15:00Z",
                    Some(("2026-11-01T05:30:00Z", "2026-11-01T06:30:00Z")),
                    Some("2026-11-01T06:30:00Z"),
                ),
                // Next Sunday, 01:30 EST = 06:30Z.
                ("2026-11-01T06:30:00Z", None, Some("2026-11-08T06:30:00Z")),
            ],
        );
    }

    #[test]
    fn a_window_over_midnight_is_found_the_next_day() {
        // Saturday 23:00 UTC for three hours: to Sunday 02:00.
        let w = weekly(&[Weekday::Saturday], "23:00", hours(3), "UTC");
        let span = Some(("2026-06-06T23:00:00Z", "2026-06-07T02:00:00Z"));
        check(
            &w,
            &[
                ("2026-06-06T22:00:00Z", None, Some("2026-06-06T23:00:00Z")),
                ("2026-06-07T00:00:00Z", span, Some("2026-06-07T02:00:00Z")),
                ("2026-06-07T01:59:59Z", span, Some("2026-06-07T02:00:00Z")),
                ("2026-06-07T02:00:00Z", None, Some("2026-06-13T23:00:00Z")),
            ],
        );
        // Six days long, found from five days after it started.
        let w = weekly(&[Weekday::Monday], "12:00", hours(6 * 24), "UTC");
        check(
            &w,
            &[(
                "2026-06-13T12:00:00Z",
                Some(("2026-06-08T12:00:00Z", "2026-06-14T12:00:00Z")),
                Some("2026-06-14T12:00:00Z"),
            )],
        );
    }

    #[test]
    fn occurrences_that_overlap_or_touch_are_one() {
        // Saturday and Sunday 22:00 for 30h: Saturday 22:00 to Tuesday 04:00.
        let w = weekly(
            &[Weekday::Saturday, Weekday::Sunday],
            "22:00",
            hours(30),
            "UTC",
        );
        let span = Some(("2026-06-06T22:00:00Z", "2026-06-09T04:00:00Z"));
        check(
            &w,
            &[
                ("2026-06-07T23:00:00Z", span, Some("2026-06-09T04:00:00Z")),
                ("2026-06-08T12:00:00Z", span, Some("2026-06-09T04:00:00Z")),
                ("2026-06-09T04:00:00Z", None, Some("2026-06-13T22:00:00Z")),
            ],
        );
        // A whole week every week never ends: in force, until at least a week on.
        let w = weekly(&[Weekday::Sunday], "00:00", hours(7 * 24), "UTC");
        let now = ts("2026-06-10T00:00:00Z");
        let (start, end) = w.active_at(now).expect("always in force");
        assert!(
            start <= now && end >= ts("2026-06-17T00:00:00Z"),
            "{start} {end}"
        );
        assert_eq!(w.next_change(now), Some(end));
    }

    #[test]
    fn covers_nodes_by_glob_and_by_group() {
        let mut w = once("a", "2026-12-01T18:00:00Z", "2026-12-01T19:00:00Z");
        w.nodes = vec!["wall-b-0[1-3]".into(), "render-x".into()];
        w.groups = vec!["stage-*".into()];
        assert!(w.covers_node("wall-b-02", None));
        assert!(w.covers_node("render-x", Some("other")));
        assert!(!w.covers_node("wall-b-04", None));
        assert!(!w.covers_node("wall-b-04", Some("wall-B")));
        // A group window covers its members, whatever their names.
        assert!(w.covers_node("anything", Some("stage-C")));
        assert!(!w.covers_node("anything", None));
        assert!(w.covers_group("stage-C"));
        // A node glob covers nodes, not the group they are in.
        assert!(!w.covers_group("wall-B"));
        w.nodes.clear();
        assert!(!w.covers_node("wall-b-02", None));
    }

    #[test]
    fn windows_name_the_first_in_force_in_file_order() {
        let mut rehearsal = once(
            "rehearsal",
            "2026-12-01T18:00:00+01:00",
            "2026-12-01T23:00:00+01:00",
        );
        rehearsal.nodes = vec!["wall-b-03".into()];
        let mut wall = once("wall", "2026-12-01T17:30:00Z", "2026-12-01T20:00:00Z");
        wall.nodes.clear();
        wall.groups = vec!["wall-*".into()];
        let mut weekly = weekly(&[Weekday::Tuesday], "19:00", hours(1), "UTC");
        weekly.name = "weekly".into();
        let windows = Windows::new(&[rehearsal, wall, weekly]);
        assert!(!windows.is_empty());
        assert!(Windows::new(&[]).is_empty());

        let before = ts("2026-12-01T16:00:00Z");
        let f = windows.at(before);
        assert!(f.is_empty());
        assert_eq!(f.node("wall-b-03", Some("wall-B")), None);
        assert_eq!(f.next_change(), Some(ts("2026-12-01T17:00:00Z")));
        assert_eq!(windows.next_change(before), f.next_change());

        let t = ts("2026-12-01T17:45:00Z");
        let f = windows.at(t);
        assert_eq!(f.node("wall-b-03", Some("wall-B")), Some("rehearsal"));
        assert_eq!(f.node("wall-b-04", Some("wall-B")), Some("wall"));
        assert_eq!(f.node("stage-c-01", Some("stage-C")), None);
        assert_eq!(f.group("wall-B"), Some("wall"));
        assert_eq!(f.group("stage-C"), None);
        assert_eq!(f.next_change(), Some(ts("2026-12-01T19:00:00Z")));
        let names: Vec<&str> = f.windows().map(|(n, _, _)| n).collect();
        assert_eq!(names, ["rehearsal", "wall"]);
        assert_eq!(
            windows.node("wall-b-03", Some("wall-B"), t),
            Some("rehearsal")
        );
        assert_eq!(windows.group("wall-B", t), Some("wall"));

        // The weekly window covers every node: first in file order still wins.
        let t = ts("2026-12-01T19:30:00Z");
        assert_eq!(windows.node("wall-b-03", None, t), Some("rehearsal"));
        assert_eq!(
            windows.node("stage-c-01", Some("stage-C"), t),
            Some("weekly")
        );
        assert_eq!(windows.group("stage-C", t), None);
        assert_eq!(windows.next_change(t), Some(ts("2026-12-01T20:00:00Z")));

        // After the one-offs only the weekly one changes again.
        let t = ts("2026-12-02T00:00:00Z");
        assert_eq!(windows.next_change(t), Some(ts("2026-12-08T19:00:00Z")));
    }
}

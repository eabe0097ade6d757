//! How maintenance and acknowledgements are said: the log lines, the marker and
//! the "who, when, why" every display shows. One place, so the dashboard, the
//! page, `watch` and the log agree.

use std::time::SystemTime;

use crate::model::ack::{Ack, AckEnd, AckEvent, Target};

/// The marker before a node or group in maintenance.
pub const MAINTENANCE_MARK: &str = "⚒";
/// The marker before an acknowledged node or group.
pub const ACK_MARK: &str = "✓";

/// A target as shown: node names and group names escaped like every name.
pub fn target(t: &Target) -> String {
    match t {
        Target::Node(n) => super::name(n),
        Target::Group(g) => format!("@{}", super::name(g)),
    }
}

/// `acknowledged by ops: re-imaging (until 2026-12-01 18:00:00)`, the reason
/// escaped like every text from outside.
pub fn ack_line(a: &Ack) -> String {
    ack_line_in(a, &jiff::tz::TimeZone::system())
}

/// [`ack_line`] with its times in `tz` (the dashboard's zone; UTC in its tests).
pub fn ack_line_in(a: &Ack, tz: &jiff::tz::TimeZone) -> String {
    let reason = if a.reason.is_empty() {
        String::new()
    } else {
        format!(": {}", crate::protocol::text::escape_str(&a.reason))
    };
    // As `super::local_time` writes it, in `tz`.
    let time = |t| {
        tz.to_datetime(super::timestamp(t))
            .strftime("%Y-%m-%d %H:%M:%S")
            .to_string()
    };
    format!(
        "acknowledged by {}{reason} (at {}, until {})",
        crate::protocol::text::escape_str(&a.by),
        time(a.at),
        time(a.until)
    )
}

/// [`ack_line_in`] for the ack that covers `me`: a member covered by its
/// group's ack names the group (`@wall-B: acknowledged by …`).
pub fn covered_line(me: &Target, a: &Ack, tz: &jiff::tz::TimeZone) -> String {
    if a.target == *me {
        ack_line_in(a, tz)
    } else {
        format!("{}: {}", target(&a.target), ack_line_in(a, tz))
    }
}

/// The short form for narrow places: `ack ops 2h 05m left`.
pub fn ack_short(a: &Ack, now: SystemTime) -> String {
    let left = a.until.duration_since(now).unwrap_or_default();
    format!(
        "ack {} {} left",
        crate::protocol::text::escape_str(&a.by),
        super::short_duration(left.as_millis() as i64)
    )
}

/// Why an ack ended, in words.
pub fn ack_end(why: AckEnd) -> &'static str {
    match why {
        AckEnd::Recovered => "healthy again",
        AckEnd::Expired => "its time ran out",
        AckEnd::Removed => "removed",
        AckEnd::Worse => "the status got worse",
        AckEnd::Gone => "no longer in the config",
        AckEnd::Replaced => "replaced by a new ack",
    }
}

/// The log line for an ack given or ended.
pub fn ack_event(e: &AckEvent) -> String {
    match e {
        AckEvent::Added(a) => format!("ack: {} {}", target(&a.target), ack_line(a)),
        AckEvent::Ended { ack, why, by, .. } => match by {
            Some(by) => format!(
                "ack: {} no longer acknowledged: {} by {}",
                target(&ack.target),
                ack_end(*why),
                crate::protocol::text::escape_str(by)
            ),
            None => format!(
                "ack: {} no longer acknowledged: {}",
                target(&ack.target),
                ack_end(*why)
            ),
        },
    }
}

/// A node or group in a maintenance window, in a few words: `maintenance:
/// weekly-reboots`.
pub fn in_window(window: &str) -> String {
    format!("maintenance: {}", super::name(window))
}

/// When a maintenance window is in force, in one line: `every sun 03:00 for 1h
/// (Europe/Berlin)` or `once 2026-12-01T17:00:00Z → 2026-12-01T22:00:00Z`.
pub fn window_schedule(when: &crate::config::WindowTime) -> String {
    use crate::config::WindowTime;
    match when {
        WindowTime::Once { start, end } => format!("once {start} → {end}"),
        WindowTime::Weekly {
            days,
            at,
            duration,
            zone_name,
            ..
        } => {
            let days: Vec<String> = days
                .iter()
                .map(|d| format!("{d:?}").to_lowercase().chars().take(3).collect())
                .collect();
            format!(
                "every {} {} for {} ({})",
                days.join(","),
                at.strftime("%H:%M"),
                humantime::format_duration(*duration),
                super::name(zone_name)
            )
        }
    }
}

/// The log line for a node or group entering or leaving maintenance.
pub fn maintenance_change(t: &Target, window: Option<&str>, was: Option<&str>) -> String {
    match (window, was) {
        (Some(w), _) => format!("maintenance: {} in window {:?}", target(t), super::name(w)),
        (None, Some(w)) => format!(
            "maintenance: {} out of window {:?}",
            target(t),
            super::name(w)
        ),
        (None, None) => format!("maintenance: {} out of maintenance", target(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Status;
    use crate::model::ack::Baseline;

    #[test]
    fn window_schedules_read_as_one_line() {
        use crate::config::WindowTime;
        let once = WindowTime::Once {
            start: "2026-12-01T18:00:00+01:00".parse().expect("ts"),
            end: "2026-12-01T23:00:00+01:00".parse().expect("ts"),
        };
        assert_eq!(
            window_schedule(&once),
            "once 2026-12-01T17:00:00Z → 2026-12-01T22:00:00Z"
        );
        let weekly = WindowTime::Weekly {
            days: vec![
                jiff::civil::Weekday::Sunday,
                jiff::civil::Weekday::Wednesday,
            ],
            at: jiff::civil::time(3, 0, 0, 0),
            duration: std::time::Duration::from_secs(5400),
            zone: jiff::tz::TimeZone::UTC,
            zone_name: "Europe/Berlin".into(),
        };
        assert_eq!(
            window_schedule(&weekly),
            "every sun,wed 03:00 for 1h 30m (Europe/Berlin)"
        );
    }

    #[test]
    fn hostile_reasons_are_escaped() {
        let a = Ack {
            id: "1".into(),
            target: Target::Node("wall\u{1b}[2J".into()),
            by: "op".into(),
            reason: "a\u{7}b".into(),
            at: SystemTime::UNIX_EPOCH,
            until: SystemTime::UNIX_EPOCH,
            baseline: Baseline::Node(Status::Free),
        };
        let line = ack_event(&AckEvent::Added(a.into()));
        assert!(!line.chars().any(|c| c.is_control()), "{line:?}");
    }
}

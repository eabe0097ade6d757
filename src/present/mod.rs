//! One place for how things are said and shown: the symbol, tone and severity of a
//! status, the role/code text, group problems, the transition line, latencies and
//! ages. The dashboard, the reports, `watch`, hooks and the log all call these.

pub mod quiet;
pub mod schema;
pub mod width;

use std::fmt::Write;
use std::time::{Duration, SystemTime};

use crate::model::{GroupHealth, GroupProblem, Status, Transition, Verdict};
use crate::protocol::text;
use crate::state::{NodeView, ReloadDiff};

/// How a status or verdict should look; each output maps it to its own colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Good,
    Warn,
    Bad,
    Muted,
}

/// A symbol per status, so every output reads without colour.
pub fn symbol(s: Status) -> &'static str {
    match s {
        Status::Synced => "✔",
        Status::Pending => "…",
        Status::Free => "✖",
        _ => "▲",
    }
}

/// Symbol and word: `✖ free`.
pub fn status_word(s: Status) -> String {
    format!("{} {}", symbol(s), s)
}

pub fn tone(s: Status) -> Tone {
    match s {
        Status::Synced => Tone::Good,
        Status::Pending => Tone::Muted,
        _ => Tone::Bad,
    }
}

pub fn verdict_tone(v: Verdict) -> Tone {
    match v {
        Verdict::Ok => Tone::Good,
        Verdict::Warning => Tone::Warn,
        Verdict::Critical | Verdict::Unknown => Tone::Bad,
    }
}

/// How bad a status is, worst first: the dashboard's default order.
pub fn severity(s: Status) -> u8 {
    match s {
        Status::Free => 0,
        Status::Unreachable => 1,
        Status::Timeout => 2,
        Status::Invalid => 3,
        Status::Stale => 4,
        Status::Pending => 5,
        Status::Synced => 6,
    }
}

/// The mark shown beside a flapping node.
pub const FLAPPING: &str = "↯";

/// `Master (state2)`, `Error (state0)`, or empty for `Synced`/`Free` replies.
pub fn role_code(node: &NodeView) -> String {
    role_code_of(node.role(), node.code())
}

/// The valid reply as text, or empty.
pub fn reply_text(node: &NodeView) -> String {
    node.reply().map(|r| r.to_string()).unwrap_or_default()
}

/// A node name (or any configured text) made safe to show.
pub fn name(s: &str) -> String {
    text::escape_str(s)
}

/// Advice for a push node whose sender connects and closes without writing.
pub fn silent_connects_note(node: &NodeView) -> Option<String> {
    node.connects_silently().then(|| {
        format!(
            "connects but sends nothing ({} connections without a line); restart SyncGuard on the node",
            node.silent_connects
        )
    })
}

/// One group problem in words: `no master`, `multiple masters (a, b)`,
/// `1 of 8 members unhealthy`.
pub fn group_problem(p: &GroupProblem) -> String {
    match p {
        GroupProblem::NoMaster => "no master".to_owned(),
        GroupProblem::MultipleMasters { masters } => {
            let names: Vec<String> = masters.iter().map(|m| name(m.as_str())).collect();
            format!("multiple masters ({})", names.join(", "))
        }
        GroupProblem::UnhealthyMembers { unhealthy, total } => {
            format!("{unhealthy} of {total} members unhealthy")
        }
    }
}

/// A group's state in words: `None` when healthy.
pub fn group_health(h: &GroupHealth) -> Option<String> {
    match h {
        GroupHealth::Healthy => None,
        GroupHealth::Pending => Some("not every member has reported".into()),
        GroupHealth::Unhealthy(p) => {
            Some(p.iter().map(group_problem).collect::<Vec<_>>().join("; "))
        }
    }
}

/// The short form for narrow places: ` no master`, ` 2 masters`, ` 1/8 unhealthy`.
pub fn group_problem_short(h: &GroupHealth) -> String {
    let mut out = String::new();
    for p in h.problems() {
        match p {
            GroupProblem::NoMaster => out.push_str(" no master"),
            GroupProblem::MultipleMasters { masters } => {
                let _ = write!(out, " {} masters", masters.len());
            }
            GroupProblem::UnhealthyMembers { unhealthy, total } => {
                let _ = write!(out, " {unhealthy}/{total} unhealthy");
            }
        }
    }
    out
}

/// A sync group's recorded status (`GroupStatus::as_str`) in a notification's
/// words: `no Master`, `more than one Master`, `one Master` (healthy).
pub fn group_status_words(status: &str) -> String {
    match status {
        "no_master" => "no Master".to_owned(),
        "multiple_masters" => "more than one Master".to_owned(),
        "healthy" => "one Master".to_owned(),
        other => other.replace('_', " "),
    }
}

/// The transition line of the log and `watch --events text`:
/// `wall-07 synced -> free (reply "Free")`.
pub fn transition_line(t: &Transition) -> String {
    format!(
        "{} {} -> {} ({})",
        name(t.node.as_str()),
        t.from,
        t.to,
        t.outcome
    )
}

/// Logs one transition: turning unhealthy is a warning, recovering is information.
pub fn log_transition(t: &Transition) {
    if t.to.is_problem() {
        tracing::warn!(target: crate::logging::TRANSITIONS, "{}", transition_line(t));
    } else {
        tracing::info!(target: crate::logging::TRANSITIONS, "{}", transition_line(t));
    }
}

/// Latency as people read it: `0.4ms`, `12ms`, `1.20s`.
pub fn format_latency(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1000.0;
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else if ms < 1000.0 {
        format!("{ms:.0}ms")
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// `3m 12s`: humantime, cut to whole seconds.
pub fn format_age(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// A length in at most two units, for narrow columns: `45s`, `4m 12s`, `3h 05m`,
/// `12d 03h`.
pub fn short_duration(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m {:02}s", s / 60, s % 60),
        3600..86_400 => format!("{}h {:02}m", s / 3600, s % 3600 / 60),
        _ => format!("{}d {:02}h", s / 86_400, s % 86_400 / 3600),
    }
}

/// The in-lock share of the monitored time, `99.52%`, or `-` when nothing was
/// monitored.
pub fn in_lock_percent(shares: &crate::store::timeline::Shares) -> String {
    percent(shares.in_lock, shares.monitored())
        .map_or_else(|| "-".to_owned(), |p| format!("{p:.2}%"))
}

/// What an incident began with: `reply "Free"`, or the error, or nothing.
pub fn incident_cause(reply: Option<&str>, error: Option<&str>) -> String {
    match (reply, error) {
        (Some(reply), _) => format!("reply \"{reply}\""),
        (None, Some(e)) => e.to_owned(),
        (None, None) => String::new(),
    }
}

/// `part` of `whole` in percent, to three decimals; `None` when `whole` is zero
/// (nothing to share, which is not 0%).
pub fn percent(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| (part as f64 * 100_000.0 / whole as f64).round() / 1000.0)
}

/// A time as an instant, to the millisecond, clamped to the range a calendar date
/// can show: a time read from a file can be anything, and jiff's own conversion
/// refuses times out of its range.
pub fn timestamp(t: SystemTime) -> jiff::Timestamp {
    let ms = match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_millis()).map_or(i64::MIN, |m| -m),
    };
    jiff::Timestamp::from_millisecond(ms).unwrap_or(if ms < 0 {
        jiff::Timestamp::MIN
    } else {
        jiff::Timestamp::MAX
    })
}

/// UTC, milliseconds: the time format of every JSON output.
pub fn rfc3339(t: SystemTime) -> String {
    // The precision fixes three decimals, even for a whole second.
    format!("{:.3}", timestamp(t))
}

/// Local wall-clock time as the log and `watch` print it.
pub fn local_time(t: SystemTime) -> String {
    jiff::tz::TimeZone::system()
        .to_datetime(timestamp(t))
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string()
}

/// One line such as `12 nodes · 10 synced · 1 free · 1 timeout`.
pub fn summary_line(counts: &crate::model::StatusCounts) -> String {
    let mut out = format!("{} nodes", counts.total());
    for (status, n) in counts.nonzero() {
        let _ = write!(out, " · {n} {status}");
    }
    out
}

/// What a reload did, in one line.
pub fn reload_summary(
    path: &std::path::Path,
    diff: &ReloadDiff,
    receiver_restarted: bool,
) -> String {
    format!(
        "reloaded {}: {} nodes, {} kept, {} new or changed, {} removed or changed{}",
        path.display(),
        diff.nodes,
        diff.kept,
        diff.started,
        diff.dropped,
        if receiver_restarted {
            "; receiver restarted"
        } else {
            ""
        }
    )
}

/// `Master (state2)` from a role and code, or empty.
pub fn role_code_of(role: Option<crate::model::Role>, code: Option<u8>) -> String {
    match (role, code) {
        (Some(role), Some(code)) => format!("{role} (state{code})"),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    #[test]
    fn json_times_have_milliseconds_and_z() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00.000Z");
        let t = UNIX_EPOCH + Duration::from_nanos(1_733_094_000_123_999_999);
        assert_eq!(rfc3339(t), "2024-12-01T23:00:00.123Z");
        // Before 1970 the millisecond is cut toward 1970, as it always was.
        assert_eq!(
            rfc3339(UNIX_EPOCH - Duration::from_micros(1500)),
            "1969-12-31T23:59:59.999Z"
        );
    }

    #[test]
    fn times_out_of_range_are_clamped() {
        let far = UNIX_EPOCH + Duration::from_secs(1 << 40);
        assert_eq!(timestamp(far), jiff::Timestamp::MAX);
        let early = UNIX_EPOCH - Duration::from_secs(1 << 40);
        assert_eq!(timestamp(early), jiff::Timestamp::MIN);
        for t in [far, early] {
            let _ = (rfc3339(t), local_time(t));
        }
    }
}

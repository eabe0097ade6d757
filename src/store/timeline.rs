//! What a stored timeline means: incidents, monitor gaps and the shares of time in
//! and out of lock. Pure (no database, no clock): the rows and runs come in, with
//! times as Unix milliseconds, and every rule is tested against hand-computed
//! timelines below.
//!
//! The rules, as the README states them:
//! - A subject's status holds from its row until its next row, but only while the
//!   run that recorded it was running: when a monitor stops or dies, the subject is
//!   not monitored again until its first result in a later run (time `pending` and
//!   monitor gaps are not monitored time).
//! - An incident is a maximal stretch of rows that are not healthy, through any
//!   number of statuses and across monitor gaps; it ends at the next healthy row,
//!   or, when that row comes only after a gap, when the monitor that last saw the
//!   subject unhealthy stopped.

/// How a run of the monitor ended, as far as the file knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunEnd {
    /// Marked stopped: a clean stop.
    Stopped,
    /// Neither stopped nor beating any more: killed, crashed, or the power went.
    Crashed,
    /// Still beating: a monitor is writing this file now.
    Running,
}

/// One run of a monitor: from its start to its clean stop, its last heartbeat, or
/// (while running) now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Run {
    pub id: i64,
    pub start: i64,
    pub end: i64,
    pub ended: RunEnd,
}

/// One stored status change of a node or group: what the index holds, so a
/// window is read without touching the table. The reply and error texts are
/// fetched by `id` only for the rows that start an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Row {
    pub at: i64,
    pub run: i64,
    pub status: &'static str,
    /// The row's rowid.
    pub id: i64,
}

/// Every status word a row can hold, node and group: a row's status is one of
/// these, so reading a window allocates nothing per row.
const WORDS: [&str; 13] = [
    "synced",
    "free",
    "unreachable",
    "timeout",
    "invalid",
    "stale",
    "healthy",
    "no_master",
    "multiple_masters",
    "members_free",
    "members_unknown",
    "removed",
    "unknown",
];

/// The status word as stored, shared; a word this version does not know (a
/// newer monitor's) is `unknown`.
pub fn word(status: &str) -> &'static str {
    WORDS
        .iter()
        .find(|w| **w == status)
        .copied()
        .unwrap_or("unknown")
}

/// Which share of time a status counts toward.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Class {
    InLock,
    OutOfLock,
    Unknown,
    /// `removed`: taken out of the config; no longer watched at all.
    NotMonitored,
}

/// Node statuses and group statuses (`GroupStatus` words) by share: in lock is
/// `synced` (a group: `healthy`); out of lock is `free` (a group: a wrong Master
/// count or a free member); `removed` (from the config, at a reload) is not
/// monitored; anything else is unknown.
pub fn class(status: &str) -> Class {
    match status {
        "synced" | "healthy" => Class::InLock,
        "free" | "no_master" | "multiple_masters" | "members_free" => Class::OutOfLock,
        "removed" => Class::NotMonitored,
        _ => Class::Unknown,
    }
}

/// Ends an incident: healthy again, or no longer watched at all.
pub fn ends_incident(status: &str) -> bool {
    matches!(class(status), Class::InLock | Class::NotMonitored)
}

/// A maximal period in which a subject was not healthy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Incident {
    pub start: i64,
    /// `None` while it lasts: the monitor watching it still sees it unhealthy.
    pub end: Option<i64>,
    /// The statuses it went through, each once, in order of first appearance.
    pub statuses: Vec<&'static str>,
    /// The row it started with (its rowid), whose reply and error are
    /// [`first_reply`](Self::first_reply) and [`first_error`](Self::first_error)
    /// once fetched.
    pub first_row: i64,
    pub first_reply: Option<String>,
    pub first_error: Option<String>,
}

impl Incident {
    /// Its length, an open one counted until `until`.
    pub fn duration(&self, until: i64) -> i64 {
        (self.end.unwrap_or(until) - self.start).max(0)
    }

    pub fn overlaps(&self, from: i64, to: i64) -> bool {
        self.start < to && self.end.is_none_or(|e| e > from)
    }
}

/// The incidents in a subject's rows (oldest first). `runs` sorted by id.
///
/// Across a monitor gap an incident goes on when the subject is still unhealthy
/// at its first result after the restart. When that first result is healthy, it
/// recovered at some unknown time in the gap: the incident ends when the last
/// monitor to see it unhealthy stopped or died, so no incident claims time that
/// nobody watched.
pub fn incidents(rows: &[Row], runs: &[Run]) -> Vec<Incident> {
    let mut out: Vec<Incident> = Vec::new();
    let mut open: Option<Incident> = None;
    let mut prev: Option<&Row> = None;
    for row in rows {
        let class = class(row.status);
        match (&mut open, class) {
            (Some(_), Class::InLock | Class::NotMonitored) => {
                if let Some(mut i) = open.take() {
                    let end = match prev {
                        // Taken out of the config: over when it was.
                        Some(_) if class == Class::NotMonitored => row.at,
                        Some(p) if p.run != row.run => run_end(runs, p).min(row.at),
                        _ => row.at,
                    };
                    i.end = Some(end.max(i.start));
                    out.push(i);
                }
            }
            (Some(i), _) => {
                if !i.statuses.contains(&row.status) {
                    i.statuses.push(row.status);
                }
            }
            (None, Class::OutOfLock | Class::Unknown) => {
                open = Some(Incident {
                    start: row.at,
                    end: None,
                    statuses: vec![row.status],
                    first_row: row.id,
                    first_reply: None,
                    first_error: None,
                });
            }
            (None, _) => {}
        }
        prev = Some(row);
    }
    // Still unhealthy at the last row: open while a monitor still watches it;
    // if the run that saw it last is over, it is known only until then.
    if let (Some(mut i), Some(last)) = (open, prev) {
        let watched = runs
            .binary_search_by_key(&last.run, |r| r.id)
            .is_ok_and(|k| runs[k].ended == RunEnd::Running);
        if !watched {
            i.end = Some(run_end(runs, last).max(i.start));
        }
        out.push(i);
    }
    out
}

/// When the run that recorded `row` ended; a run the file no longer has (pruned)
/// ended, as far as anyone knows, at the row.
fn run_end(runs: &[Run], row: &Row) -> i64 {
    runs.binary_search_by_key(&row.run, |r| r.id)
        .map(|k| runs[k].end)
        .unwrap_or(row.at)
}

/// Time in each share, in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Shares {
    pub in_lock: i64,
    pub out_of_lock: i64,
    pub unknown: i64,
}

impl Shares {
    pub fn monitored(&self) -> i64 {
        self.in_lock + self.out_of_lock + self.unknown
    }

    pub fn add(&mut self, other: &Shares) {
        self.in_lock += other.in_lock;
        self.out_of_lock += other.out_of_lock;
        self.unknown += other.unknown;
    }

    fn add_class(&mut self, class: Class, ms: i64) {
        match class {
            Class::InLock => self.in_lock += ms,
            Class::OutOfLock => self.out_of_lock += ms,
            Class::Unknown => self.unknown += ms,
            Class::NotMonitored => {}
        }
    }
}

/// A subject's time in `[from, to)` by share. `rows` must include the last row
/// before `from` (if any) and be sorted by time; `runs` sorted by id.
pub fn shares(rows: &[Row], runs: &[Run], from: i64, to: i64) -> Shares {
    shares_outside(rows, runs, &[], from, to).0
}

/// A stretch of time a subject spent in a maintenance window, `[start, end)`,
/// already cut at the end of the run that saw it (nobody knows what came after).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Span {
    pub start: i64,
    pub end: i64,
}

/// A subject's time in `[from, to)` by share, like [`shares`], with the time
/// inside `maintenance` taken out of the shares and returned on its own (the
/// second value, in milliseconds).
///
/// Maintenance time is monitored time: only the part of a span in which the
/// subject's status was known counts, so a span over a monitor gap or a pending
/// start adds nothing there, and the shares plus the maintenance time are the
/// subject's whole monitored time. Spans may come in any order and overlap.
pub fn shares_outside(
    rows: &[Row],
    runs: &[Run],
    maintenance: &[Span],
    from: i64,
    to: i64,
) -> (Shares, i64) {
    let spans = merged(maintenance);
    let mut out = Shares::default();
    let mut inside = 0;
    for (i, row) in rows.iter().enumerate() {
        let next = rows.get(i + 1).map_or(to, |n| n.at);
        let start = row.at.max(from);
        let end = next.min(run_end(runs, row)).min(to);
        if end <= start {
            continue;
        }
        let class = class(row.status);
        // Time not monitored (a `removed` row) is not maintenance either.
        let quiet = if class == Class::NotMonitored {
            0
        } else {
            overlap(&spans, start, end)
        };
        inside += quiet;
        out.add_class(class, end - start - quiet);
    }
    (out, inside)
}

/// The spans sorted and with overlaps joined, so no time counts twice.
fn merged(spans: &[Span]) -> Vec<Span> {
    let mut sorted: Vec<Span> = spans.iter().filter(|s| s.end > s.start).copied().collect();
    sorted.sort_by_key(|s| s.start);
    let mut out: Vec<Span> = Vec::with_capacity(sorted.len());
    for s in sorted {
        match out.last_mut() {
            Some(last) if s.start <= last.end => last.end = last.end.max(s.end),
            _ => out.push(s),
        }
    }
    out
}

/// Milliseconds of `[start, end)` inside `spans` (sorted, disjoint).
fn overlap(spans: &[Span], start: i64, end: i64) -> i64 {
    let first = spans.partition_point(|s| s.end <= start);
    spans[first..]
        .iter()
        .take_while(|s| s.start < end)
        .map(|s| (s.end.min(end) - s.start.max(start)).max(0))
        .sum()
}

/// A time when no monitor was running.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    pub start: i64,
    /// `None`: no monitor has run since.
    pub end: Option<i64>,
    /// The run before it died rather than stopped.
    pub after_crash: bool,
}

impl Gap {
    pub fn duration(&self, until: i64) -> i64 {
        (self.end.unwrap_or(until) - self.start).max(0)
    }
}

/// The monitor gaps that overlap `[from, to)`: between runs, and after the last
/// run when it is not running. `runs` sorted by start.
pub fn gaps(runs: &[Run], from: i64, to: i64) -> Vec<Gap> {
    let mut out = Vec::new();
    for (i, run) in runs.iter().enumerate() {
        if run.ended == RunEnd::Running {
            continue;
        }
        let next = runs.get(i + 1).map(|n| n.start);
        if next.is_some_and(|n| n <= run.end) {
            continue;
        }
        let gap = Gap {
            start: run.end,
            end: next,
            after_crash: run.ended == RunEnd::Crashed,
        };
        if gap.start < to && gap.end.is_none_or(|e| e > from) {
            out.push(gap);
        }
    }
    out
}

/// Milliseconds of `[from, to)` during which a monitor was running.
pub fn monitored(runs: &[Run], from: i64, to: i64) -> i64 {
    runs.iter()
        .map(|r| (r.end.min(to) - r.start.max(from)).max(0))
        .sum()
}

/// Counts over the incidents of one subject (or many) that overlap a window.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct IncidentStats {
    pub count: usize,
    pub longest: Option<i64>,
    /// Mean time to recovery: the mean length of the incidents that ended.
    pub mttr: Option<i64>,
    closed: i64,
    closed_total: i64,
}

impl IncidentStats {
    pub fn add(&mut self, i: &Incident, until: i64) {
        let d = i.duration(until);
        self.count += 1;
        self.longest = Some(self.longest.map_or(d, |l| l.max(d)));
        if i.end.is_some() {
            self.closed += 1;
            self.closed_total += d;
            self.mttr = Some(self.closed_total / self.closed);
        }
    }

    pub fn merge(&mut self, o: &IncidentStats) {
        self.count += o.count;
        self.longest = match (self.longest, o.longest) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
        self.closed += o.closed;
        self.closed_total += o.closed_total;
        self.mttr = (self.closed > 0).then(|| self.closed_total / self.closed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const M: i64 = 60_000;

    fn row(at_min: i64, run: i64, status: &str) -> Row {
        Row {
            at: at_min * M,
            run,
            status: word(status),
            id: at_min,
        }
    }

    fn run(id: i64, start_min: i64, end_min: i64, ended: RunEnd) -> Run {
        Run {
            id,
            start: start_min * M,
            end: end_min * M,
            ended,
        }
    }

    /// The scripted timeline, in minutes:
    /// - run 1 from 0 to 100, then it crashes (last heartbeat 100);
    /// - run 2 from 130 to 200, stopped cleanly; run 3 from 260, running (now 300).
    /// - the node: synced at 1, free at 40, timeout at 70 (so an incident from 40),
    ///   then after the crash its first result in run 2 at 131 is timeout again
    ///   (the same incident, across the gap), synced at 150, free at 190, and its
    ///   first result in run 3 at 262 is synced.
    fn script() -> (Vec<Run>, Vec<Row>) {
        let runs = vec![
            run(1, 0, 100, RunEnd::Crashed),
            run(2, 130, 200, RunEnd::Stopped),
            run(3, 260, 300, RunEnd::Running),
        ];
        let rows = vec![
            row(1, 1, "synced"),
            row(40, 1, "free"),
            row(70, 1, "timeout"),
            row(131, 2, "timeout"),
            row(150, 2, "synced"),
            row(190, 2, "free"),
            row(262, 3, "synced"),
        ];
        (runs, rows)
    }

    #[test]
    fn shares_count_only_monitored_time_of_each_run() {
        let (runs, rows) = script();
        let s = shares(&rows, &runs, 0, 300 * M);
        // In lock: 1→40 (39) + 150→190 (40) + 262→300 (38) = 117 minutes.
        // Out of lock: 40→70 (30) + 190→200 (10, run 2 ends) = 40.
        // Unknown: 70→100 (30, run 1 dies) + 131→150 (19) = 49.
        // Not monitored: 0→1, 100→131, 200→262 (pending and gaps).
        assert_eq!(
            s,
            Shares {
                in_lock: 117 * M,
                out_of_lock: 40 * M,
                unknown: 49 * M,
            }
        );
        assert_eq!(s.monitored(), 206 * M);
        // Monitors ran 100 + 70 + 40 = 210 minutes of the 300.
        assert_eq!(monitored(&runs, 0, 300 * M), 210 * M);
    }

    #[test]
    fn a_window_clips_the_shares() {
        let (runs, rows) = script();
        // From 60 to 160: the row at 40 (free) holds from 60 to 70.
        let from = rows.iter().rposition(|r| r.at < 60 * M).unwrap_or(0);
        let s = shares(&rows[from..], &runs, 60 * M, 160 * M);
        assert_eq!(
            s,
            Shares {
                in_lock: 10 * M,
                out_of_lock: 10 * M,
                unknown: 49 * M,
            }
        );
        assert_eq!(monitored(&runs, 60 * M, 160 * M), 70 * M);
    }

    #[test]
    fn an_incident_spans_a_gap_and_merges_statuses() {
        let (runs, rows) = script();
        let found = incidents(&rows, &runs);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].start, 40 * M);
        assert_eq!(found[0].end, Some(150 * M));
        assert_eq!(found[0].statuses, vec!["free", "timeout"]);
        assert_eq!(found[0].first_row, 40, "the row it started with");
        assert_eq!(found[0].duration(300 * M), 110 * M);
        // Free when run 2 stopped at 200, synced at run 3's first result: it
        // recovered somewhere in the gap, and the incident ends at 200.
        assert_eq!(found[1].start, 190 * M);
        assert_eq!(found[1].end, Some(200 * M));
        let mut stats = IncidentStats::default();
        for i in &found {
            stats.add(i, 300 * M);
        }
        assert_eq!(stats.count, 2);
        assert_eq!(stats.longest, Some(110 * M));
        assert_eq!(stats.mttr, Some((110 + 10) * M / 2));
    }

    #[test]
    fn an_incident_nobody_watches_any_more_ends_when_the_watching_did() {
        // Free when its monitor stopped at 30, never restarted: known until 30.
        let rows = vec![row(0, 1, "synced"), row(10, 1, "free")];
        let found = incidents(&rows, &[run(1, 0, 30, RunEnd::Stopped)]);
        assert_eq!(found[0].end, Some(30 * M));
        // Taken out of the config at 20 while the monitor runs on.
        let rows = vec![row(0, 1, "free"), row(20, 1, "removed")];
        let runs = [run(1, 0, 60, RunEnd::Running)];
        let found = incidents(&rows, &runs);
        assert_eq!(found[0].end, Some(20 * M));
        // ... and it is not monitored after that.
        assert_eq!(shares(&rows, &runs, 0, 60 * M).monitored(), 20 * M);
        assert_eq!(word("a status from the future"), "unknown");
    }

    #[test]
    fn an_open_incident_lasts_until_now() {
        let rows = vec![row(0, 1, "synced"), row(10, 1, "stale")];
        let found = incidents(&rows, &[run(1, 0, 25, RunEnd::Running)]);
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].end, None);
        assert_eq!(found[0].duration(25 * M), 15 * M);
        assert!(found[0].overlaps(20 * M, 30 * M));
        let mut stats = IncidentStats::default();
        stats.add(&found[0], 25 * M);
        assert_eq!((stats.longest, stats.mttr), (Some(15 * M), None));
    }

    #[test]
    fn gaps_follow_crashes_and_stops_and_clip_to_the_window() {
        let (runs, _) = script();
        let all = gaps(&runs, 0, 300 * M);
        assert_eq!(
            all,
            vec![
                Gap {
                    start: 100 * M,
                    end: Some(130 * M),
                    after_crash: true
                },
                Gap {
                    start: 200 * M,
                    end: Some(260 * M),
                    after_crash: false
                },
            ]
        );
        assert_eq!(gaps(&runs, 140 * M, 190 * M), vec![]);
        // Nothing running at the end: the gap is open.
        let stopped = vec![run(1, 0, 10, RunEnd::Crashed)];
        assert_eq!(
            gaps(&stopped, 0, 20 * M),
            vec![Gap {
                start: 10 * M,
                end: None,
                after_crash: true
            }]
        );
    }

    fn span(start_min: i64, end_min: i64) -> Span {
        Span {
            start: start_min * M,
            end: end_min * M,
        }
    }

    #[test]
    fn maintenance_is_taken_out_of_the_shares_it_overlaps() {
        let (runs, rows) = script();
        // 30–50 covers synced (30–40) and the start of the free incident (40–50);
        // 90–140 covers timeout until run 1 dies (90–100), the gap (nothing) and
        // the timeout after the restart (131–140); 280–400 runs past the window.
        let spans = [span(90, 140), span(30, 50), span(280, 400)];
        let (s, maintenance) = shares_outside(&rows, &runs, &spans, 0, 300 * M);
        assert_eq!(
            s,
            Shares {
                in_lock: (117 - 10 - 20) * M,
                out_of_lock: (40 - 10) * M,
                unknown: (49 - 10 - 9) * M,
            }
        );
        assert_eq!(maintenance, (20 + 10 + 9 + 20) * M);
        // The shares and the maintenance time are the whole monitored time.
        assert_eq!(s.monitored() + maintenance, 206 * M);
        // Without spans, the same as `shares`.
        assert_eq!(
            shares_outside(&rows, &runs, &[], 0, 300 * M),
            (shares(&rows, &runs, 0, 300 * M), 0)
        );
    }

    #[test]
    fn maintenance_is_cut_at_the_window_edges_and_counted_once() {
        let (runs, rows) = script();
        // The window 60–160 begins inside one span and ends inside another, and
        // two spans overlap (counted once): 50–65 and 55–75 are 60–75 in the
        // window; 155–170 is 155–160.
        let spans = [span(50, 65), span(55, 75), span(155, 170)];
        let from = rows.iter().rposition(|r| r.at < 60 * M).unwrap_or(0);
        let (s, maintenance) = shares_outside(&rows[from..], &runs, &spans, 60 * M, 160 * M);
        // Free 60–70 and timeout 70–75 are in maintenance; synced 155–160 too.
        assert_eq!(maintenance, (10 + 5 + 5) * M);
        assert_eq!(
            s,
            Shares {
                in_lock: 5 * M,
                out_of_lock: 0,
                unknown: (49 - 5) * M,
            }
        );
        // A span wholly outside the window, or empty, adds nothing.
        let (_, none) = shares_outside(&rows, &runs, &[span(0, 0), span(400, 500)], 0, 300 * M);
        assert_eq!(none, 0);
    }

    #[test]
    fn a_node_removed_in_maintenance_is_not_in_maintenance_after() {
        let rows = vec![row(0, 1, "synced"), row(20, 1, "removed")];
        let runs = [run(1, 0, 60, RunEnd::Running)];
        let (s, maintenance) = shares_outside(&rows, &runs, &[span(10, 60)], 0, 60 * M);
        assert_eq!((s.in_lock, maintenance), (10 * M, 10 * M));
    }

    #[test]
    fn group_words_fall_into_the_same_shares() {
        assert_eq!(class("healthy"), Class::InLock);
        assert_eq!(class("no_master"), Class::OutOfLock);
        assert_eq!(class("multiple_masters"), Class::OutOfLock);
        assert_eq!(class("members_free"), Class::OutOfLock);
        assert_eq!(class("members_unknown"), Class::Unknown);
        assert_eq!(class("stale"), Class::Unknown);
    }
}

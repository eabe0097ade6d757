//! The event stream's memory: every shown transition, serialised once as an SSE
//! frame with an id, kept in a bounded ring that every open stream reads from.
//! A storm is a few batches (one write each per client), not a write per event.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use tokio::sync::{broadcast, watch};

use crate::hub::SnapshotSource;
use crate::model::Transition;
use crate::present::schema::{JsonEvent, to_line};

use super::view::Summary;

/// Events kept for a reconnect to resume from.
const RING_EVENTS: usize = 10_000;
/// And bytes: a ring of long error texts stays small.
const RING_BYTES: usize = 8 << 20;
/// Transitions serialised into one batch at most.
const BATCH: usize = 2048;
/// The `summary` event follows a batch of transitions after this long, so a storm
/// gets a few summaries, not one per batch.
const SUMMARY_DELAY: Duration = Duration::from_millis(250);
/// While a page listens, maintenance and acks are compared this often: they
/// change no status, so no transition says they did (a window that starts, an
/// ack that runs out or is given at the dashboard). Acks given over HTTP are
/// looked for at once.
const QUIET_CHECK: Duration = Duration::from_secs(2);

/// An event id: this monitor's run and a sequence number, `1733040000123-42`. A
/// browser that reconnects to a restarted monitor presents the old run's id and
/// gets a snapshot instead of a wrong resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventId {
    pub run: u64,
    pub seq: u64,
}

impl std::fmt::Display for EventId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}", self.run, self.seq)
    }
}

impl EventId {
    /// Parses what a client sends back; anything else is `None`.
    pub fn parse(s: &str) -> Option<EventId> {
        let (run, seq) = s.trim().split_once('-')?;
        Some(EventId {
            run: run.parse().ok()?,
            seq: seq.parse().ok()?,
        })
    }
}

/// Frames serialised together: one write per client.
struct Batch {
    /// The sequence number of the first frame.
    first: u64,
    body: Bytes,
    /// Where each frame ends in `body`.
    ends: Vec<usize>,
}

impl Batch {
    fn last(&self) -> u64 {
        self.first + self.ends.len() as u64 - 1
    }
}

#[derive(Default)]
struct Ring {
    batches: VecDeque<Batch>,
    events: usize,
    bytes: usize,
    /// The last sequence number given out.
    seq: u64,
}

/// What a stream at `after` gets next.
pub enum Since {
    /// The next batch's frames after it (a shared buffer, no copy), and the
    /// sequence number of its last frame; `None` when there is nothing new. One
    /// batch at a time: a stream behind by the whole ring holds one batch, not
    /// a copy of the ring.
    Frames(Option<Bytes>, u64),
    /// It fell out of the ring (or never was in it): resync from a snapshot.
    Gone,
}

/// The ring, shared by the feeding task and every open stream.
pub struct EventFeed {
    pub run: u64,
    ring: Mutex<Ring>,
    latest: watch::Sender<u64>,
}

impl EventFeed {
    pub fn new() -> EventFeed {
        let run = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as u64);
        EventFeed {
            run,
            ring: Mutex::new(Ring::default()),
            latest: watch::channel(0).0,
        }
    }

    /// The id of the newest event: where a page rendered now resumes.
    pub fn latest(&self) -> EventId {
        EventId {
            run: self.run,
            seq: *self.latest.borrow(),
        }
    }

    /// Woken whenever frames are added.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.latest.subscribe()
    }

    /// Appends frames built by `frame(id)` for each item, as one batch.
    fn push<T>(&self, items: &[T], event: &str, data: impl Fn(&T) -> String) {
        if items.is_empty() {
            return;
        }
        let mut ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        let first = ring.seq + 1;
        let mut body = BytesMut::new();
        let mut ends = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let id = EventId {
                run: self.run,
                seq: first + i as u64,
            };
            frame(&mut body, Some(id), event, &data(item));
            ends.push(body.len());
        }
        ring.seq = first + items.len() as u64 - 1;
        ring.events += items.len();
        ring.bytes += body.len();
        ring.batches.push_back(Batch {
            first,
            body: body.freeze(),
            ends,
        });
        while ring.events > RING_EVENTS || ring.bytes > RING_BYTES {
            let Some(old) = ring.batches.pop_front() else {
                break;
            };
            ring.events -= old.ends.len();
            ring.bytes -= old.body.len();
        }
        let seq = ring.seq;
        drop(ring);
        self.latest.send_replace(seq);
    }

    /// Raw frames, for tests that need volume.
    #[cfg(test)]
    pub fn push_for_test(&self, data: &[&str]) {
        self.push(data, "test", |d| (*d).to_owned());
    }

    /// Shown transitions, as `transition` events with the `watch --events json` line.
    pub fn transitions(&self, ts: &[Transition]) {
        self.push(ts, "transition", |t| to_line(&JsonEvent::new(t)));
    }

    /// The verdict, counts and tiles, after transitions.
    pub fn summary(&self, s: &Summary) {
        self.push(std::slice::from_ref(s), "summary", to_line);
    }

    /// Everything after `after` (a sequence number of this run).
    pub fn since(&self, after: u64) -> Since {
        let ring = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if after > ring.seq {
            return Since::Gone;
        }
        if after == ring.seq {
            return Since::Frames(None, after);
        }
        let Some(oldest) = ring.batches.front().map(|b| b.first) else {
            return Since::Gone;
        };
        if after + 1 < oldest {
            return Since::Gone;
        }
        match ring.batches.iter().find(|b| b.last() > after) {
            Some(b) if b.first > after => Since::Frames(Some(b.body.clone()), b.last()),
            Some(b) => {
                // Resume inside the batch: skip the frames already seen.
                let skip = (after - b.first) as usize;
                Since::Frames(Some(b.body.slice(b.ends[skip]..)), b.last())
            }
            None => Since::Frames(None, ring.seq),
        }
    }
}

impl Default for EventFeed {
    fn default() -> Self {
        EventFeed::new()
    }
}

/// One SSE frame. `data` is one JSON line (no newlines), so one `data:` field.
pub fn frame(out: &mut BytesMut, id: Option<EventId>, event: &str, data: &str) {
    use std::fmt::Write;
    if let Some(id) = id {
        let _ = writeln!(out, "id: {id}");
    }
    let _ = write!(out, "event: {event}\ndata: {data}\n\n");
}

/// What tells the feed to look for maintenance and ack changes.
pub struct QuietWatch {
    /// Woken after an ack or unack over HTTP.
    pub changed: std::sync::Arc<tokio::sync::Notify>,
    /// The streams' places: all free means nobody listens, and nothing is looked for.
    pub streams: std::sync::Arc<tokio::sync::Semaphore>,
    pub max_streams: usize,
}

/// One node's or group's name, maintenance window and ack id.
type Quiet = (
    std::sync::Arc<str>,
    Option<std::sync::Arc<str>>,
    Option<String>,
);

/// Each node's and group's maintenance window and ack, in snapshot order: what
/// the page shows that no transition announces.
#[derive(PartialEq, Eq)]
struct QuietState {
    nodes: Vec<Quiet>,
    groups: Vec<Quiet>,
}

impl QuietState {
    fn of(snap: &crate::state::Snapshot) -> QuietState {
        QuietState {
            nodes: snap
                .nodes
                .iter()
                .map(|n| {
                    (
                        n.key.shared().clone(),
                        n.maintenance.clone(),
                        n.ack.as_ref().map(|a| a.id.clone()),
                    )
                })
                .collect(),
            groups: snap
                .groups
                .iter()
                .map(|g| {
                    (
                        g.name.clone(),
                        g.maintenance.clone(),
                        g.ack.as_ref().map(|a| a.id.clone()),
                    )
                })
                .collect(),
        }
    }

    /// The nodes whose rows differ from `before`; `None`: every row (the fleet
    /// itself changed, a reload).
    fn changed_since(&self, before: &QuietState) -> Option<std::collections::HashSet<String>> {
        if self.nodes.len() != before.nodes.len()
            || self
                .nodes
                .iter()
                .zip(&before.nodes)
                .any(|(a, b)| a.0 != b.0)
        {
            return None;
        }
        Some(
            self.nodes
                .iter()
                .zip(&before.nodes)
                .filter(|(a, b)| a != b)
                .map(|(a, _)| a.0.to_string())
                .collect(),
        )
    }
}

/// Feeds the ring from the hub's transitions until the hub stops. A summary
/// follows each quiet moment; when this task falls behind the hub, the streams
/// are told to resync from a snapshot (`lagged` moves). While a page listens,
/// a summary also follows each change of maintenance or acks.
pub async fn run(
    feed: std::sync::Arc<EventFeed>,
    mut events: broadcast::Receiver<Transition>,
    snapshots: SnapshotSource,
    lagged: watch::Sender<u64>,
    quiet: QuietWatch,
) {
    let summary_timer = tokio::time::sleep(Duration::ZERO);
    tokio::pin!(summary_timer);
    let mut summary_due = false;
    // The nodes changed since the last summary: their rows go with it.
    let mut changed = std::collections::HashSet::new();
    // What the last summary showed of maintenance and acks.
    let mut shown = QuietState::of(&*snapshots.fresh().await);
    let mut quiet_check = tokio::time::interval(QUIET_CHECK);
    quiet_check.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            ev = events.recv() => match ev {
                Ok(t) => {
                    let mut batch = vec![t];
                    while batch.len() < BATCH {
                        match events.try_recv() {
                            Ok(t) => batch.push(t),
                            Err(_) => break,
                        }
                    }
                    feed.transitions(&batch);
                    if changed.len() <= super::view::SUMMARY_ROWS {
                        changed.extend(batch.iter().map(|t| t.node.as_str().to_owned()));
                    }
                    if !summary_due {
                        summary_due = true;
                        summary_timer.as_mut().reset(tokio::time::Instant::now() + SUMMARY_DELAY);
                    }
                }
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    tracing::warn!("web: the event stream fell {missed} transitions behind; open pages resync");
                    events = events.resubscribe();
                    lagged.send_modify(|n| *n += 1);
                }
                Err(broadcast::error::RecvError::Closed) => break,
            },
            () = &mut summary_timer, if summary_due => {
                summary_due = false;
                // Nobody listening: no snapshot to take for them.
                // Made whether or not a page listens now: one that reconnects
                // later resumes from the ring and needs the tiles and verdict
                // that went with the transitions it missed.
                let mut names = std::mem::take(&mut changed);
                let snap = snapshots.fresh().await;
                // Rows whose maintenance or ack changed meanwhile go too.
                let now = QuietState::of(&snap);
                let all = match now.changed_since(&shown) {
                    Some(quiet_rows) => {
                        names.extend(quiet_rows);
                        false
                    }
                    None => true,
                };
                shown = now;
                feed.summary(&Summary::new(&snap, (!all).then_some(&names)));
            }
            () = quiet.changed.notified() => {
                shown = quiet_summary(&feed, &snapshots, shown).await;
            }
            _ = quiet_check.tick() => {
                // Nobody listens: nothing to tell. `shown` stays as it was, so a
                // page that connects later is told what changed meanwhile.
                if quiet.streams.available_permits() < quiet.max_streams {
                    shown = quiet_summary(&feed, &snapshots, shown).await;
                }
            }
        }
    }
}

/// A summary with the rows whose maintenance or ack changed since `shown`, if
/// any did; what is shown now.
async fn quiet_summary(
    feed: &EventFeed,
    snapshots: &SnapshotSource,
    shown: QuietState,
) -> QuietState {
    let snap = snapshots.fresh().await;
    let now = QuietState::of(&snap);
    if now != shown {
        let rows = now.changed_since(&shown);
        feed.summary(&Summary::new(&snap, rows.as_ref()));
    }
    now
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(frames: &[Bytes]) -> String {
        frames
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn resumes_inside_and_across_batches_and_forgets_the_oldest() {
        let feed = EventFeed::new();
        feed.push(&[1, 2, 3], "n", |n| n.to_string());
        feed.push(&[4], "n", |n| n.to_string());
        let run = feed.run;
        assert_eq!(feed.latest(), EventId { run, seq: 4 });
        // Inside the first batch: its rest, one batch at a time.
        let Since::Frames(Some(f), last) = feed.since(1) else {
            panic!("gone")
        };
        assert_eq!(last, 3);
        assert_eq!(
            text(&[f]),
            format!("id: {run}-2\nevent: n\ndata: 2\n\nid: {run}-3\nevent: n\ndata: 3\n\n")
        );
        let Since::Frames(Some(f), last) = feed.since(3) else {
            panic!("gone")
        };
        assert_eq!(
            (text(&[f]), last),
            (format!("id: {run}-4\nevent: n\ndata: 4\n\n"), 4)
        );
        let Since::Frames(Some(f), _) = feed.since(0) else {
            panic!("gone")
        };
        assert!(text(&[f]).starts_with(&format!("id: {run}-1\n")));
        let Since::Frames(f, _) = feed.since(4) else {
            panic!("gone")
        };
        assert!(f.is_none());
        assert!(matches!(feed.since(5), Since::Gone), "from the future");
        for chunk in (0..RING_EVENTS).collect::<Vec<_>>().chunks(1000) {
            feed.push(chunk, "n", |n| n.to_string());
        }
        assert!(matches!(feed.since(0), Since::Gone), "fell out of the ring");
        let Since::Frames(f, last) = feed.since(4 + 1000) else {
            panic!("a recent id is still there")
        };
        assert_eq!((f.map(|b| b.is_empty()), last), (Some(false), 4 + 2000));
    }

    #[test]
    fn ids_round_trip_and_junk_is_refused() {
        let id = EventId { run: 17, seq: 42 };
        assert_eq!(EventId::parse(&id.to_string()), Some(id));
        for junk in [
            "",
            "17",
            "a-1",
            "1-",
            "-1",
            "1-2-3",
            "99999999999999999999999-1",
        ] {
            assert_eq!(EventId::parse(junk), None, "{junk:?}");
        }
    }
}

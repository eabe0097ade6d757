//! When each poller is due. Poll times sit on a grid of [`POLL_TICK`]; one task keeps
//! a slot per grid point and wakes every poller due in it, so 10,000 pollers cost
//! one timer per slot instead of a timer each. A timer each meant a timer-wheel entry
//! per poll, inside the poller's own memory, moved down the wheel's levels as its
//! moment came closer: the largest single cost of an idle-looking fleet.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Poll times are rounded up to this grid, so the pollers that fall due in the same
/// slot wake together. The spread over the interval is unchanged at this resolution.
pub const POLL_TICK: Duration = Duration::from_millis(100);

/// How a poller is woken: by its slot coming due, or at once (a repoll).
#[derive(Debug, Default)]
pub struct Wake {
    notify: Notify,
    /// Which booking is current: a repoll makes the booked slot obsolete, and its
    /// firing later must not poll again.
    booking: AtomicU64,
}

impl Wake {
    pub fn new() -> Arc<Wake> {
        Arc::new(Wake::default())
    }

    /// Wakes the poller now, or, if it is busy, as soon as it waits again.
    pub fn now(&self) {
        self.notify.notify_one();
    }

    /// Until the booked slot comes due or [`Wake::now`] is called.
    pub async fn wait(&self) {
        self.notify.notified().await;
    }
}

/// The slots, shared by the pollers (which book) and [`Timetable::run`] (which
/// wakes). Cloning shares it.
#[derive(Clone, Debug)]
pub struct Timetable {
    inner: Arc<Inner>,
}

/// A poller and the number of its booking.
type Booking = (Arc<Wake>, u64);

#[derive(Debug)]
struct Inner {
    /// The grid's origin: when the timetable was made.
    grid: Grid,
    slots: Mutex<BTreeMap<u64, Vec<Booking>>>,
    /// A slot was booked before the one [`Timetable::run`] is waiting for.
    earlier: Notify,
}

impl Default for Timetable {
    fn default() -> Self {
        Timetable::new()
    }
}

impl Timetable {
    pub fn new() -> Timetable {
        Timetable {
            inner: Arc::new(Inner {
                grid: Grid(Instant::now()),
                slots: Mutex::default(),
                earlier: Notify::new(),
            }),
        }
    }

    /// Books `wake` for the first grid point at or after `at`, replacing its earlier
    /// booking.
    pub fn book(&self, at: Instant, wake: &Arc<Wake>) {
        let slot = self.inner.grid.slot_at_or_after(at);
        let booking = wake.booking.fetch_add(1, Ordering::Relaxed) + 1;
        let mut slots = self
            .inner
            .slots
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let first = slots.first_key_value().map(|(s, _)| *s);
        slots
            .entry(slot)
            .or_default()
            .push((Arc::clone(wake), booking));
        drop(slots);
        if first.is_none_or(|f| slot < f) {
            self.inner.earlier.notify_one();
        }
    }

    /// Wakes the pollers of each slot as it comes due, until dropped (the pollers'
    /// owner runs it beside them).
    pub async fn run(self) {
        loop {
            let first = {
                let slots = self
                    .inner
                    .slots
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                slots.first_key_value().map(|(s, _)| *s)
            };
            match first {
                Some(slot) => tokio::select! {
                    () = tokio::time::sleep_until(self.inner.grid.instant_of(slot)) => {}
                    () = self.inner.earlier.notified() => continue,
                },
                None => {
                    self.inner.earlier.notified().await;
                    continue;
                }
            }
            let due = {
                let mut slots = self
                    .inner
                    .slots
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                let later =
                    slots.split_off(&(self.inner.grid.slot_at_or_before(Instant::now()) + 1));
                std::mem::replace(&mut *slots, later)
            };
            for (wake, booking) in due.into_values().flatten() {
                if wake.booking.load(Ordering::Relaxed) == booking {
                    wake.now();
                }
            }
        }
    }
}

/// Slots of [`POLL_TICK`] counted from an origin.
#[derive(Clone, Copy, Debug)]
struct Grid(Instant);

impl Grid {
    fn ticks(self, t: Instant) -> (u128, u128) {
        let since = t.saturating_duration_since(self.0).as_nanos();
        let tick = POLL_TICK.as_nanos();
        (since / tick, since % tick)
    }

    fn slot_at_or_after(self, t: Instant) -> u64 {
        let (whole, rest) = self.ticks(t);
        u64::try_from(whole + u128::from(rest > 0)).unwrap_or(u64::MAX)
    }

    fn slot_at_or_before(self, t: Instant) -> u64 {
        u64::try_from(self.ticks(t).0).unwrap_or(u64::MAX)
    }

    fn instant_of(self, slot: u64) -> Instant {
        let nanos = u128::from(slot) * POLL_TICK.as_nanos();
        self.0 + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_round_to_the_grid() {
        let origin = Instant::now();
        let grid = Grid(origin);
        let t = origin + Duration::from_millis(1234);
        assert_eq!(grid.slot_at_or_after(t), 13);
        assert_eq!(grid.slot_at_or_before(t), 12);
        assert_eq!(grid.instant_of(13), origin + Duration::from_millis(1300));
        let on = origin + Duration::from_millis(1200);
        assert_eq!(grid.slot_at_or_after(on), 12);
        assert_eq!(grid.slot_at_or_before(on), 12);
        assert_eq!(grid.slot_at_or_after(origin - Duration::from_secs(1)), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn wakes_on_the_grid_and_skips_replaced_bookings() {
        let table = Timetable::new();
        let runner = tokio::spawn(table.clone().run());
        let wake = Wake::new();
        let start = Instant::now();
        table.book(start + Duration::from_secs(5), &wake);
        // Replaced before it is due: the first booking must not wake it.
        table.book(start + Duration::from_secs(7), &wake);
        wake.wait().await;
        let woke = start.elapsed();
        assert!(
            woke >= Duration::from_secs(7) && woke < Duration::from_millis(7100),
            "woke after {woke:?}"
        );
        // A later, then an earlier booking of another poller: the earlier one wakes
        // first, though the runner was already waiting for the later.
        let other = Wake::new();
        let t = Instant::now();
        table.book(t + Duration::from_secs(10), &wake);
        table.book(t + Duration::from_secs(1), &other);
        other.wait().await;
        let woke = t.elapsed();
        assert!(
            woke >= Duration::from_secs(1) && woke < Duration::from_millis(1100),
            "woke after {woke:?}"
        );
        runner.abort();
    }
}

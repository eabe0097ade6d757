//! Flap damping, once: a change between healthy and unhealthy is shown only after
//! enough consecutive results point the same way. The dashboard's `confirm_*` and an
//! alert hook's `after` are two uses of this one type.

/// Which way the shown side is, and the run of results pointing the other way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Damper {
    /// `Some(true)`: shown healthy. `None`: nothing shown yet, so the first result
    /// is shown at once.
    side: Option<bool>,
    /// Consecutive results on the other side so far, and which side.
    streak: Option<(bool, u32)>,
}

impl Damper {
    /// Nothing shown yet: the first result counts at once.
    pub const fn unset() -> Damper {
        Damper {
            side: None,
            streak: None,
        }
    }

    /// Starts as if `healthy` had been shown (a hook assumes a node starts healthy,
    /// so a node bad from the start fires once, and a good one never).
    pub const fn starting(healthy: bool) -> Damper {
        Damper {
            side: Some(healthy),
            streak: None,
        }
    }

    /// Counts one result; true when the shown side turns to `healthy`. `needed` is
    /// how many consecutive results that takes (1: at once).
    pub fn feed(&mut self, healthy: bool, needed: u32) -> bool {
        match self.side {
            None => {
                self.side = Some(healthy);
                self.streak = None;
                true
            }
            Some(side) if side == healthy => {
                self.streak = None;
                false
            }
            Some(_) => {
                let count = match self.streak {
                    Some((way, n)) if way == healthy => n.saturating_add(1),
                    _ => 1,
                };
                if count >= needed {
                    self.side = Some(healthy);
                    self.streak = None;
                    true
                } else {
                    self.streak = Some((healthy, count));
                    false
                }
            }
        }
    }

    /// A change is being held back.
    pub fn is_holding(&self) -> bool {
        self.streak.is_some()
    }

    /// Forget the shown side: the next result counts at once.
    pub fn reset(&mut self) {
        *self = Damper::unset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_result_is_shown_at_once() {
        let mut d = Damper::unset();
        assert!(d.feed(false, 3));
        assert!(!d.feed(false, 3));
    }

    #[test]
    fn a_change_needs_consecutive_results_and_a_blip_restarts_the_count() {
        let mut d = Damper::starting(true);
        assert!(!d.feed(false, 3));
        assert!(!d.feed(false, 3));
        assert!(d.is_holding());
        assert!(!d.feed(true, 3), "a good result ends the run");
        assert!(!d.is_holding());
        assert!(!d.feed(false, 3));
        assert!(!d.feed(false, 3));
        assert!(d.feed(false, 3), "third in a row");
        assert!(d.feed(true, 1), "needed = 1 flips at once");
    }
}

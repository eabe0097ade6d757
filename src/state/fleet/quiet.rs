//! The quiet parts of the fleet state: maintenance windows and acknowledgements.
//!
//! Both quiet people, not the facts: transitions are still recorded and shown.
//! A node in maintenance is left out of the verdict, of its sync group's health
//! and of notifications. An acknowledged node still counts (an ack does not make
//! a node healthy) unless acks are taken as handled (`--ignore-acked`); it sends
//! no reminders. What changed is queued as [`QuietEvent`]s for the hub, which
//! hands them to the store, the notifier and the log.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::model::ack::{self, Ack, AckEnd, AckEvent, Baseline, Target};
use crate::model::{GroupStatus, StatusCounts, Verdict};

use super::Fleet;

/// What changed in the quiet state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QuietEvent {
    Ack(AckEvent),
    /// A node or group entered a maintenance window (`window`) or left one
    /// (`window` is `None`, `was` names it).
    Maintenance {
        target: Target,
        window: Option<Arc<str>>,
        was: Option<Arc<str>>,
        at: SystemTime,
    },
    /// Whether some ack covers a node or group changed: reminders stop or resume.
    Covered {
        target: Target,
        acked: bool,
    },
    /// A node a group's ack covered got worse than it was when acknowledged,
    /// while that ack holds: news again. (A node's own ack that ends because of
    /// this says so in its `Ended` event.)
    Worse(Target),
}

/// The members of a group that count for its health, and what was left out.
pub(super) struct Counted {
    pub(super) members: Vec<usize>,
    /// Some member is in maintenance (or acknowledged, with `--ignore-acked`).
    pub(super) left_out: bool,
    /// A member left out was the Master, or its role is not known: then a
    /// missing Master among the rest is not a problem.
    pub(super) master_left_out: bool,
}

/// An ack someone asks for.
#[derive(Clone, Debug)]
pub struct AckRequest {
    pub id: String,
    pub target: Target,
    pub by: String,
    pub reason: String,
    pub lasts: Duration,
}

/// Why an ack or unack was refused; each maps to an HTTP status.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum AckRefusal {
    #[error("no node named {0:?}")]
    UnknownNode(String),
    #[error("no sync group named {0:?}")]
    UnknownGroup(String),
    #[error("{0} is healthy; there is nothing to acknowledge")]
    Healthy(Target),
    #[error("{0} is in maintenance window {1:?}; it needs no acknowledgement")]
    InMaintenance(Target, String),
    #[error("{0} is not acknowledged")]
    NotAcked(Target),
    #[error("{0}")]
    Invalid(String),
}

impl Fleet {
    /// Acks count as handled: acknowledged nodes and groups leave the verdict and
    /// their groups' health, as nodes in maintenance do (`--once --ignore-acked`).
    pub fn set_ignore_acked(&mut self, ignore: bool) {
        self.ignore_acked = ignore;
        for gi in 0..self.groups.len() {
            self.refresh_group(gi, self.started);
        }
    }

    /// What changed in maintenance and acks since the last call, oldest first.
    pub fn take_quiet_events(&mut self) -> Vec<QuietEvent> {
        std::mem::take(&mut self.quiet_events)
    }

    /// The acks in force, by target.
    pub fn acks(&self) -> impl Iterator<Item = &Arc<Ack>> {
        self.acks.values()
    }

    /// Whether node `i` is left out of the verdict and its group's health.
    pub(super) fn excluded(&self, i: usize) -> bool {
        let v = &self.nodes[i].view;
        v.maintenance.is_some() || (self.ignore_acked && v.ack.is_some())
    }

    /// The verdict over the nodes and groups that count.
    pub(super) fn quiet_verdict(&self) -> Verdict {
        let quiet = self.nodes.iter().any(|n| n.view.maintenance.is_some())
            || (self.ignore_acked && !self.acks.is_empty());
        let counts = if quiet {
            let mut c = StatusCounts::default();
            for (i, n) in self.nodes.iter().enumerate() {
                if !self.excluded(i) {
                    c.add(n.view.status);
                }
            }
            c
        } else {
            self.counts
        };
        let v = Verdict::for_counts(&counts, self.policy);
        if self
            .groups
            .iter()
            .any(|g| !g.is_excluded(self.ignore_acked) && g.health.has_master_problem())
        {
            v.max(Verdict::Critical)
        } else {
            v
        }
    }

    // ---- maintenance ----

    /// Puts each node and group in the window `node_window`/`group_window` names
    /// for it now (or none). Changes are queued; groups are re-judged.
    pub fn set_maintenance(
        &mut self,
        node_window: impl Fn(&str, Option<&str>) -> Option<Arc<str>>,
        group_window: impl Fn(&str) -> Option<Arc<str>>,
        at: SystemTime,
    ) {
        let mut changed = false;
        for i in 0..self.nodes.len() {
            let v = &self.nodes[i].view;
            let now = node_window(v.name(), v.group());
            if now == v.maintenance {
                continue;
            }
            changed = true;
            let target = Target::Node(v.name().to_owned());
            let was = std::mem::replace(&mut self.nodes[i].view.maintenance, now.clone());
            self.quiet_events.push(QuietEvent::Maintenance {
                target,
                window: now,
                was,
                at,
            });
        }
        for gi in 0..self.groups.len() {
            let g = &mut self.groups[gi];
            let now = group_window(&g.name);
            if now == g.maintenance {
                continue;
            }
            changed = true;
            let was = std::mem::replace(&mut g.maintenance, now.clone());
            self.quiet_events.push(QuietEvent::Maintenance {
                target: Target::Group(g.name.to_string()),
                window: now,
                was,
                at,
            });
        }
        if changed {
            for gi in 0..self.groups.len() {
                self.refresh_group(gi, at);
            }
        }
    }

    // ---- acknowledgements ----

    /// Acknowledges an unhealthy node or group. A new ack for the same target
    /// replaces the old one.
    pub fn ack(&mut self, req: AckRequest, now: SystemTime) -> Result<Arc<Ack>, AckRefusal> {
        let reason = ack::clean_text(&req.reason, ack::MAX_REASON, "the reason")
            .map_err(AckRefusal::Invalid)?;
        let by = ack::clean_text(&req.by, ack::MAX_BY, "the name").map_err(AckRefusal::Invalid)?;
        if req.lasts.is_zero() || req.lasts > ack::MAX_FOR {
            return Err(AckRefusal::Invalid(format!(
                "an ack lasts more than 0s and at most {}",
                humantime::format_duration(ack::MAX_FOR)
            )));
        }
        let baseline = match &req.target {
            Target::Node(name) => {
                let i = *self
                    .index
                    .get(name.as_str())
                    .ok_or_else(|| AckRefusal::UnknownNode(name.clone()))?;
                let v = &self.nodes[i].view;
                if let Some(w) = &v.maintenance {
                    return Err(AckRefusal::InMaintenance(req.target.clone(), w.to_string()));
                }
                if !v.status.is_problem() {
                    return Err(AckRefusal::Healthy(req.target.clone()));
                }
                Baseline::Node(v.status)
            }
            Target::Group(name) => {
                let g = self
                    .groups
                    .iter()
                    .find(|g| &*g.name == name.as_str())
                    .ok_or_else(|| AckRefusal::UnknownGroup(name.clone()))?;
                if let Some(w) = &g.maintenance {
                    return Err(AckRefusal::InMaintenance(req.target.clone(), w.to_string()));
                }
                if !g.health.is_unhealthy() {
                    return Err(AckRefusal::Healthy(req.target.clone()));
                }
                let members = g
                    .members
                    .iter()
                    .filter_map(|k| self.index.get(k).map(|i| &self.nodes[*i].view))
                    .filter(|v| v.status.is_problem())
                    .map(|v| (v.key.clone(), v.status))
                    .collect();
                Baseline::Group {
                    status: g.status,
                    members,
                }
            }
        };
        let ack = Arc::new(Ack {
            id: req.id,
            target: req.target.clone(),
            by,
            reason,
            at: now,
            until: now + req.lasts,
            baseline,
        });
        if let Some(old) = self.acks.remove(&req.target) {
            self.ended(old, AckEnd::Replaced, None, now);
        }
        self.acks.insert(req.target.clone(), ack.clone());
        self.quiet_events
            .push(QuietEvent::Ack(AckEvent::Added(ack.clone())));
        self.cover_target(&req.target, now);
        Ok(ack)
    }

    /// Removes the ack of a node or group.
    pub fn unack(
        &mut self,
        target: &Target,
        by: &str,
        now: SystemTime,
    ) -> Result<Arc<Ack>, AckRefusal> {
        if !self.has_target(target) {
            return Err(match target {
                Target::Node(n) => AckRefusal::UnknownNode(n.clone()),
                Target::Group(g) => AckRefusal::UnknownGroup(g.clone()),
            });
        }
        let ack = self
            .acks
            .remove(target)
            .ok_or_else(|| AckRefusal::NotAcked(target.clone()))?;
        self.ended(ack.clone(), AckEnd::Removed, Some(by.to_owned()), now);
        self.cover_target(target, now);
        Ok(ack)
    }

    /// Acks recorded before a restart, for targets still configured and not run
    /// out. They cover again once their nodes report.
    pub fn resume_acks(&mut self, acks: Vec<Ack>, now: SystemTime) {
        for a in acks {
            if a.until <= now || !self.has_target(&a.target) {
                let why = if a.until <= now {
                    AckEnd::Expired
                } else {
                    AckEnd::Gone
                };
                let at = if why == AckEnd::Expired { a.until } else { now };
                self.ended(Arc::new(a), why, None, at);
                continue;
            }
            let target = a.target.clone();
            self.acks.insert(target.clone(), Arc::new(a));
            self.cover_target(&target, now);
        }
    }

    /// When the next ack runs out.
    pub fn next_ack_expiry(&self) -> Option<SystemTime> {
        self.acks.values().map(|a| a.until).min()
    }

    /// Ends the acks whose time has run out.
    pub fn expire_acks(&mut self, now: SystemTime) {
        let due: Vec<Target> = self
            .acks
            .values()
            .filter(|a| a.until <= now)
            .map(|a| a.target.clone())
            .collect();
        for t in due {
            if let Some(a) = self.acks.remove(&t) {
                let at = a.until;
                self.ended(a, AckEnd::Expired, None, at);
                self.cover_target(&t, now);
            }
        }
    }

    /// After a reload: acks of nodes and groups no longer configured end, the
    /// others cover the rebuilt nodes and groups again.
    pub(super) fn carry_acks(&mut self, old: &mut Fleet, now: SystemTime) {
        self.ignore_acked = old.ignore_acked;
        let acks = std::mem::take(&mut old.acks);
        for (target, a) in acks {
            if self.has_target(&target) {
                self.acks.insert(target.clone(), a);
                self.cover_target(&target, now);
            } else {
                self.ended(a, AckEnd::Gone, None, now);
            }
        }
        self.quiet_events.append(&mut old.quiet_events);
    }

    fn has_target(&self, target: &Target) -> bool {
        match target {
            Target::Node(n) => self.index.contains_key(n.as_str()),
            Target::Group(g) => self.groups.iter().any(|x| &*x.name == g.as_str()),
        }
    }

    fn ended(&mut self, ack: Arc<Ack>, why: AckEnd, by: Option<String>, at: SystemTime) {
        self.quiet_events
            .push(QuietEvent::Ack(AckEvent::Ended { ack, why, by, at }));
    }

    /// Re-sets who is covered after the acks of `target` changed.
    fn cover_target(&mut self, target: &Target, now: SystemTime) {
        match target {
            Target::Node(n) => {
                if let Some(i) = self.index.get(n.as_str()).copied() {
                    self.cover_node(i);
                    self.refresh_group_of(i, now);
                }
            }
            Target::Group(g) => {
                let Some(gi) = self.groups.iter().position(|x| &*x.name == g.as_str()) else {
                    return;
                };
                let members: Vec<usize> = self.groups[gi]
                    .members
                    .iter()
                    .filter_map(|k| self.index.get(k).copied())
                    .collect();
                for i in members {
                    self.cover_node(i);
                }
                self.refresh_group(gi, now);
            }
        }
    }

    /// Sets which ack covers node `i` now, queueing a change.
    fn cover_node(&mut self, i: usize) {
        let v = &self.nodes[i].view;
        // Uncovered while the ack that covered it holds: it got worse.
        let lost = |now: &Option<Arc<Ack>>| {
            v.ack.as_ref().is_some_and(|b| {
                now.is_none()
                    && v.status.is_problem()
                    && self.acks.get(&b.target).is_some_and(|a| a.id == b.id)
            })
        };
        let own = self.acks.get(&Target::Node(v.name().to_owned()));
        let by_group = v
            .group
            .as_ref()
            .and_then(|g| self.acks.get(&Target::Group(g.to_string())));
        let now = own
            .filter(|a| a.covers(&v.key, v.status))
            .or(by_group.filter(|a| a.covers(&v.key, v.status)))
            .cloned();
        let worse = lost(&now);
        if now.is_some() != v.ack.is_some() {
            let target = Target::Node(v.name().to_owned());
            self.quiet_events.push(QuietEvent::Covered {
                target: target.clone(),
                acked: now.is_some(),
            });
            if worse {
                self.quiet_events.push(QuietEvent::Worse(target));
            }
        }
        self.nodes[i].view.ack = now;
    }

    /// Node `i`'s shown status changed: its ack ends when it is healthy again or
    /// worse than acknowledged; then who covers it is set again.
    pub(super) fn node_changed(&mut self, i: usize, at: SystemTime) {
        if self.acks.is_empty() && self.nodes[i].view.ack.is_none() {
            return;
        }
        let v = &self.nodes[i].view;
        let status = v.status;
        let target = Target::Node(v.name().to_owned());
        if let Some(a) = self.acks.get(&target) {
            let why = match a.baseline {
                _ if status.is_healthy() => Some(AckEnd::Recovered),
                Baseline::Node(b) if ack::severity(status) > ack::severity(b) => {
                    Some(AckEnd::Worse)
                }
                _ => None,
            };
            if let Some(why) = why
                && let Some(a) = self.acks.remove(&target)
            {
                self.ended(a, why, None, at);
            }
        }
        self.cover_node(i);
    }

    /// Group `gi` was judged again: its ack ends when it is healthy again or
    /// worse than acknowledged.
    /// `left_out`: some members did not count, so the group's status cannot
    /// say it recovered.
    pub(super) fn group_changed(&mut self, gi: usize, at: SystemTime, left_out: bool) {
        if self.acks.is_empty() && self.groups[gi].ack.is_none() {
            return;
        }
        let g = &self.groups[gi];
        let target = Target::Group(g.name.to_string());
        let status = g.status;
        // With acks taken as handled, the group is judged without the members
        // its own ack covers, so its status cannot say it recovered.
        let judge = !self.ignore_acked && !left_out;
        let end = self
            .acks
            .get(&target)
            .filter(|_| judge)
            .and_then(|a| match &a.baseline {
                _ if status == Some(GroupStatus::Healthy) => Some(AckEnd::Recovered),
                Baseline::Group { status: b, .. }
                    if ack::group_severity(status) > ack::group_severity(*b) =>
                {
                    Some(AckEnd::Worse)
                }
                _ => None,
            });
        if let Some(why) = end
            && let Some(a) = self.acks.remove(&target)
        {
            self.ended(a, why, None, at);
            let members: Vec<usize> = self.groups[gi]
                .members
                .iter()
                .filter_map(|k| self.index.get(k).copied())
                .collect();
            for i in members {
                self.cover_node(i);
            }
        }
        let now = self.acks.get(&target).cloned();
        if now.is_some() != self.groups[gi].ack.is_some() {
            self.quiet_events.push(QuietEvent::Covered {
                target,
                acked: now.is_some(),
            });
        }
        self.groups[gi].ack = now;
    }

    /// Members of group `gi` that count for its health.
    pub(super) fn counted_members(&self, gi: usize) -> Counted {
        let mut c = Counted {
            members: Vec::with_capacity(self.groups[gi].members.len()),
            left_out: false,
            master_left_out: false,
        };
        for k in &self.groups[gi].members {
            if let Some(i) = self.index.get(k).copied() {
                if self.excluded(i) {
                    c.left_out = true;
                    let role = self.nodes[i].view.role();
                    c.master_left_out |= role.is_none() || role == Some(crate::model::Role::Master);
                } else {
                    c.members.push(i);
                }
            }
        }
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::model::{Observation, Outcome, Status, TimeoutPhase};
    use crate::protocol::Reply;

    const T0: SystemTime = SystemTime::UNIX_EPOCH;

    fn at(secs: u64) -> SystemTime {
        T0 + Duration::from_secs(secs)
    }

    /// `n` nodes `n0…`; `grouped` of them in group `g`.
    fn fleet(n: usize, grouped: usize) -> Fleet {
        let mut text = String::new();
        for i in 0..n {
            text.push_str(&format!(
                "[[node]]\nname = \"n{i}\"\nhost = \"127.0.0.1\"\n"
            ));
            if i < grouped {
                text.push_str("group = \"g\"\n");
            }
        }
        let cfg = Config::parse(&text, "t.toml").expect("config");
        Fleet::new(&cfg, T0)
    }

    fn set(f: &mut Fleet, node: &str, secs: u64, outcome: Outcome) {
        let obs = Observation {
            at: at(secs),
            outcome,
            latency: None,
        };
        f.apply(node, obs, true);
    }

    fn synced() -> Outcome {
        Outcome::Reply(Reply::Synced)
    }

    fn free() -> Outcome {
        Outcome::Reply(Reply::Free)
    }

    fn timeout() -> Outcome {
        Outcome::Timeout {
            phase: TimeoutPhase::Reply,
            after: Duration::from_secs(5),
        }
    }

    fn req(target: Target, secs: u64) -> AckRequest {
        AckRequest {
            id: format!("id-{target}"),
            target,
            by: "op".into(),
            reason: "re-imaging".into(),
            lasts: Duration::from_secs(secs),
        }
    }

    fn node(name: &str) -> Target {
        Target::Node(name.into())
    }

    fn ended(f: &mut Fleet) -> Vec<AckEnd> {
        f.take_quiet_events()
            .into_iter()
            .filter_map(|e| match e {
                QuietEvent::Ack(AckEvent::Ended { why, .. }) => Some(why),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn an_ack_needs_an_unhealthy_known_node_and_clean_text() {
        let mut f = fleet(2, 0);
        set(&mut f, "n0", 1, synced());
        set(&mut f, "n1", 1, free());
        assert_eq!(
            f.ack(req(node("n0"), 60), at(2)),
            Err(AckRefusal::Healthy(node("n0")))
        );
        assert_eq!(
            f.ack(req(node("nx"), 60), at(2)),
            Err(AckRefusal::UnknownNode("nx".into()))
        );
        let mut long = req(node("n1"), 60);
        long.reason = "x".repeat(501);
        assert!(matches!(f.ack(long, at(2)), Err(AckRefusal::Invalid(_))));
        let mut hostile = req(node("n1"), 60);
        hostile.reason = "a\u{1b}[2Jb".into();
        assert!(matches!(f.ack(hostile, at(2)), Err(AckRefusal::Invalid(_))));
        assert!(f.acks().next().is_none(), "a refused ack changes nothing");
        let a = f.ack(req(node("n1"), 60), at(2)).expect("ack");
        assert_eq!(a.until, at(62));
        assert_eq!(f.node("n1").and_then(|n| n.view.ack.clone()), Some(a));
    }

    #[test]
    fn acks_still_count_unless_ignored() {
        let mut f = fleet(1, 0);
        set(&mut f, "n0", 1, free());
        f.ack(req(node("n0"), 60), at(2)).expect("ack");
        assert_eq!(f.verdict(), Verdict::Critical);
        f.set_ignore_acked(true);
        assert_eq!(f.verdict(), Verdict::Ok);
    }

    #[test]
    fn an_ack_ends_on_recovery_on_worse_and_on_time() {
        let mut f = fleet(3, 0);
        for n in ["n0", "n1", "n2"] {
            set(&mut f, n, 1, timeout());
            f.ack(req(node(n), 60), at(2)).expect("ack");
        }
        f.take_quiet_events();
        // Another no-answer status is no worse: still acknowledged.
        set(
            &mut f,
            "n0",
            3,
            Outcome::Unreachable(crate::model::Unreachable::Connect(
                crate::model::IoFailure::kind(std::io::ErrorKind::ConnectionRefused),
            )),
        );
        assert!(ended(&mut f).is_empty());
        set(&mut f, "n0", 4, synced());
        assert_eq!(ended(&mut f), vec![AckEnd::Recovered]);
        set(&mut f, "n1", 4, free());
        assert_eq!(ended(&mut f), vec![AckEnd::Worse]);
        assert!(f.node("n1").is_some_and(|n| n.view.ack.is_none()));
        assert_eq!(f.next_ack_expiry(), Some(at(62)));
        f.expire_acks(at(61));
        assert!(ended(&mut f).is_empty());
        f.expire_acks(at(62));
        assert_eq!(ended(&mut f), vec![AckEnd::Expired]);
        assert!(f.acks().next().is_none());
    }

    #[test]
    fn a_group_ack_covers_its_bad_members_until_one_gets_worse() {
        let mut f = fleet(3, 3);
        set(&mut f, "n0", 1, timeout());
        set(&mut f, "n1", 1, synced());
        set(&mut f, "n2", 1, synced());
        let a = f
            .ack(req(Target::Group("g".into()), 600), at(2))
            .expect("ack");
        assert_eq!(
            f.node("n0").and_then(|n| n.view.ack.clone()),
            Some(a.clone())
        );
        assert_eq!(f.groups()[0].ack, Some(a));
        // A member that was fine is news when it goes bad.
        set(&mut f, "n1", 3, timeout());
        assert!(f.node("n1").is_some_and(|n| n.view.ack.is_none()));
        // The group recovers: the ack ends.
        f.take_quiet_events();
        set(&mut f, "n0", 4, synced());
        set(&mut f, "n1", 4, synced());
        assert_eq!(ended(&mut f), vec![AckEnd::Recovered]);
        assert!(f.groups()[0].ack.is_none());
    }

    #[test]
    fn a_group_ack_is_handled_with_ignore_acked() {
        let mut f = fleet(2, 2);
        f.set_ignore_acked(true);
        let a = Ack {
            id: "g1".into(),
            target: Target::Group("g".into()),
            by: "op".into(),
            reason: String::new(),
            at: at(0),
            until: at(600),
            baseline: Baseline::Group {
                status: Some(GroupStatus::MembersFree),
                members: vec![(crate::model::NodeKey::new("n0"), Status::Free)],
            },
        };
        f.resume_acks(vec![a], at(1));
        set(&mut f, "n0", 2, free());
        set(&mut f, "n1", 2, synced());
        assert!(f.groups()[0].ack.is_some(), "the group ack holds");
        assert!(ended(&mut f).is_empty());
        assert_eq!(f.verdict(), Verdict::Ok);
        f.set_ignore_acked(false);
        assert_eq!(f.verdict(), Verdict::Critical);
    }

    #[test]
    fn maintenance_leaves_the_verdict_and_the_group() {
        let mut f = fleet(3, 2);
        set(&mut f, "n0", 1, free());
        set(&mut f, "n1", 1, synced());
        set(&mut f, "n2", 1, synced());
        assert_eq!(f.verdict(), Verdict::Critical);
        assert!(f.groups()[0].health.is_unhealthy());
        f.set_maintenance(
            |name, _| (name == "n0").then(|| Arc::from("rehearsal")),
            |_| None,
            at(2),
        );
        assert_eq!(f.verdict(), Verdict::Ok);
        assert!(!f.groups()[0].health.is_unhealthy());
        let events = f.take_quiet_events();
        assert!(events.contains(&QuietEvent::Maintenance {
            target: node("n0"),
            window: Some(Arc::from("rehearsal")),
            was: None,
            at: at(2),
        }));
        assert_eq!(
            f.ack(req(node("n0"), 60), at(3)),
            Err(AckRefusal::InMaintenance(node("n0"), "rehearsal".into()))
        );
        f.set_maintenance(|_, _| None, |_| None, at(4));
        assert_eq!(f.verdict(), Verdict::Critical);
        let events = f.take_quiet_events();
        assert!(events.iter().any(|e| matches!(e,
            QuietEvent::Maintenance { window: None, was: Some(w), .. } if &**w == "rehearsal")));
    }

    #[test]
    fn a_master_in_maintenance_is_not_no_master() {
        let mut f = fleet(2, 2);
        set(
            &mut f,
            "n0",
            1,
            Outcome::Reply(Reply::State {
                reported: crate::protocol::ReportedIp::Unknown,
                code: 2,
            }),
        );
        set(
            &mut f,
            "n1",
            1,
            Outcome::Reply(Reply::State {
                reported: crate::protocol::ReportedIp::Unknown,
                code: 1,
            }),
        );
        assert!(!f.groups()[0].health.is_unhealthy());
        f.set_maintenance(
            |name, _| (name == "n0").then(|| Arc::from("w")),
            |_| None,
            at(2),
        );
        set(&mut f, "n0", 3, free());
        assert!(
            !f.groups()[0].health.is_unhealthy(),
            "{:?}",
            f.groups()[0].health
        );
        assert_eq!(f.verdict(), Verdict::Ok);
    }

    fn slave() -> Outcome {
        Outcome::Reply(Reply::State {
            reported: crate::protocol::ReportedIp::Unknown,
            code: 1,
        })
    }

    #[test]
    fn a_slave_in_maintenance_does_not_hide_a_missing_master() {
        let mut f = fleet(3, 3);
        for n in ["n0", "n1", "n2"] {
            set(&mut f, n, 1, slave());
        }
        assert_eq!(f.verdict(), Verdict::Critical, "no master");
        f.set_maintenance(
            |name, _| (name == "n2").then(|| Arc::from("w")),
            |_| None,
            at(2),
        );
        assert_eq!(f.verdict(), Verdict::Critical, "still no master");
    }

    #[test]
    fn a_group_ack_holds_while_its_bad_member_is_in_maintenance() {
        let mut f = fleet(2, 2);
        set(&mut f, "n0", 1, free());
        set(&mut f, "n1", 1, synced());
        f.ack(req(Target::Group("g".into()), 600), at(2))
            .expect("ack");
        f.take_quiet_events();
        f.set_maintenance(
            |name, _| (name == "n0").then(|| Arc::from("w")),
            |_| None,
            at(3),
        );
        assert!(ended(&mut f).is_empty(), "not recovered: n0 is still free");
        assert!(f.groups()[0].ack.is_some());
    }

    #[test]
    fn a_member_worse_than_its_group_ack_is_news() {
        let mut f = fleet(2, 2);
        set(&mut f, "n0", 1, timeout());
        set(&mut f, "n1", 1, synced());
        f.ack(req(Target::Group("g".into()), 600), at(2))
            .expect("ack");
        f.take_quiet_events();
        set(&mut f, "n0", 3, free());
        let events = f.take_quiet_events();
        assert!(
            events.contains(&QuietEvent::Worse(node("n0"))),
            "{events:?}"
        );
        // Out of lock where it gave no answer: the group got worse too.
        assert!(events.iter().any(|e| matches!(e,
            QuietEvent::Ack(AckEvent::Ended { why: AckEnd::Worse, ack, .. }) if ack.target.is_group())));
        // Un-acking a group is no news about its members' status.
        let mut f = fleet(2, 2);
        set(&mut f, "n0", 1, timeout());
        set(&mut f, "n1", 1, synced());
        f.ack(req(Target::Group("g".into()), 600), at(2))
            .expect("ack");
        f.take_quiet_events();
        f.unack(&Target::Group("g".into()), "op", at(5))
            .expect("unack");
        let events = f.take_quiet_events();
        assert!(
            !events.iter().any(|e| matches!(e, QuietEvent::Worse(_))),
            "{events:?}"
        );
    }

    #[test]
    fn a_reload_keeps_what_changed_nodes_and_groups_were_in() {
        let mut f = fleet(2, 2);
        set(&mut f, "n0", 1, free());
        f.set_maintenance(|_, _| Some(Arc::from("w")), |_| Some(Arc::from("w")), at(2));
        f.take_quiet_events();
        // n0's port changes: it starts over, but it was and is in the window.
        let cfg = Config::parse(
            "[[node]]\nname = \"n0\"\nhost = \"127.0.0.1\"\nport = 9\ngroup = \"g\"\n\
             [[node]]\nname = \"n1\"\nhost = \"127.0.0.1\"\ngroup = \"g\"\n",
            "t.toml",
        )
        .expect("config");
        let (mut g, _) = f.reconcile(&cfg, at(3));
        g.set_maintenance(|_, _| Some(Arc::from("w")), |_| Some(Arc::from("w")), at(3));
        assert_eq!(g.take_quiet_events(), vec![], "nothing entered or left");
        // The window removed by the same reload: both the node and the group leave.
        g.set_maintenance(|_, _| None, |_| None, at(4));
        let left = g
            .take_quiet_events()
            .into_iter()
            .filter(|e| matches!(e, QuietEvent::Maintenance { window: None, .. }))
            .count();
        assert_eq!(left, 3, "n0, n1 and @g left the window");
    }

    #[test]
    fn acks_survive_a_reload_and_a_restart() {
        let mut f = fleet(2, 0);
        set(&mut f, "n0", 1, free());
        let a = f.ack(req(node("n0"), 60), at(2)).expect("ack");
        let cfg = Config::parse("[[node]]\nname = \"n0\"\nhost = \"127.0.0.1\"\n", "t.toml")
            .expect("config");
        let (mut g, _) = f.reconcile(&cfg, at(3));
        assert_eq!(
            g.node("n0").and_then(|n| n.view.ack.clone()),
            Some(a.clone())
        );
        // After a restart the ack is read back: it covers once the node reports.
        let mut h = fleet(2, 0);
        let stale = Ack {
            id: "old".into(),
            until: at(1),
            ..(*a).clone()
        };
        h.resume_acks(vec![(*a).clone(), stale], at(3));
        assert_eq!(ended(&mut h), vec![AckEnd::Expired]);
        set(&mut h, "n0", 4, free());
        assert!(h.node("n0").is_some_and(|n| n.view.ack.is_some()));
        g.take_quiet_events();
    }
}

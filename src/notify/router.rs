//! The router: shown transitions in, notifications out. Pure and time-injected;
//! the notifier task feeds it and writes what it returns to the outbox.
//!
//! Per channel it keeps two things:
//! - `active`: the subjects the channel has been told are unhealthy (restored from
//!   the outbox at start, so a recovery after a restart is still announced and a
//!   node still bad after it is not announced twice);
//! - one open window (`group_wait`): everything that changed since it opened goes
//!   out as one notification when it closes. A subject that recovers inside the
//!   window it went bad in is dropped from it: a blip pages nobody.
//!
//! And for every channel alike, the quiet state the hub reports: the subjects in
//! a maintenance window (nothing is said of them; what was said resolves as
//! `maintenance`) and those an ack covers (no reminders).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use globset::{Glob, GlobSet, GlobSetBuilder};

use super::notification::{Item, Kind, MAINTENANCE, Notification, REMOVED, SubjectKind};
use crate::config::{AlertOn, ChannelKind, NotifyChannel};

/// A subject as the router keys it.
pub type SubjectKey = (SubjectKind, String);

/// One change the router is told of: a node's or a group's health.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    pub kind: SubjectKind,
    pub name: String,
    /// The node's group (node changes only).
    pub group: Option<String>,
    /// Unhealthy now; `None` for a change that says nothing about health (a node's
    /// first result that is pending, a group that is pending again).
    pub unhealthy: Option<bool>,
    /// The status word it is in now.
    pub status: String,
    pub at_ms: i64,
    pub detail: String,
}

/// Which nodes and groups a channel is about.
#[derive(Debug)]
struct Filter {
    nodes: Option<GlobSet>,
    groups: Option<GlobSet>,
}

impl Filter {
    fn new(c: &NotifyChannel) -> Filter {
        // The globs were compiled once by the config validator; one that fails
        // here cannot happen, and is then ignored rather than match everything.
        let set = |globs: &[String]| -> Option<GlobSet> {
            if globs.is_empty() {
                return None;
            }
            let mut b = GlobSetBuilder::new();
            for g in globs {
                if let Ok(g) = Glob::new(g) {
                    b.add(g);
                }
            }
            Some(b.build().unwrap_or_else(|_| GlobSet::empty()))
        };
        Filter {
            nodes: set(&c.nodes),
            groups: set(&c.groups),
        }
    }

    fn wants(&self, change: &Change) -> bool {
        self.wants_subject(change.kind, &change.name, change.group.as_deref())
    }

    /// `group`: a node's group (ignored for a group).
    fn wants_subject(&self, kind: SubjectKind, name: &str, group: Option<&str>) -> bool {
        let group = match kind {
            SubjectKind::Node => {
                if let Some(nodes) = &self.nodes
                    && !nodes.is_match(name)
                {
                    return false;
                }
                group
            }
            // A group is about its own name; a node filter does not exclude it.
            SubjectKind::Group => Some(name),
        };
        match (&self.groups, group) {
            (None, _) => true,
            (Some(g), Some(name)) => g.is_match(name),
            (Some(_), None) => false,
        }
    }
}

/// The window being collected.
#[derive(Debug)]
struct Window {
    due_ms: i64,
    items: BTreeMap<SubjectKey, Item>,
}

#[derive(Debug)]
struct ChannelState {
    config: Arc<NotifyChannel>,
    filter: Filter,
    active: BTreeMap<SubjectKey, Item>,
    window: Option<Window>,
    next_reminder_ms: Option<i64>,
}

impl ChannelState {
    /// Puts an item in the open window, opening one (closing `group_wait` after
    /// `at_ms`) when none is; an item already there for the subject is replaced.
    fn queue(&mut self, key: SubjectKey, item: Item, at_ms: i64) {
        let wait = self.config.group_wait.as_millis() as i64;
        self.window
            .get_or_insert_with(|| Window {
                due_ms: at_ms.saturating_add(wait),
                items: BTreeMap::new(),
            })
            .items
            .insert(key, item);
    }
}

/// What a closed window decided for one channel: the notification to store and
/// send (none when `on` filtered everything out), and every change to what the
/// channel has been told is unhealthy, which is stored with it in one
/// transaction even when nothing is sent, so a restart remembers it.
#[derive(Debug)]
pub struct Closed {
    pub channel: String,
    pub notification: Option<Notification>,
    /// Firing items become active; recovered ones stop being.
    pub changes: Vec<Item>,
}

/// What a tick decided.
#[derive(Debug, Default)]
pub struct Output {
    pub closed: Vec<Closed>,
}

impl Output {
    pub fn notifications(&self) -> impl Iterator<Item = &Notification> {
        self.closed.iter().filter_map(|c| c.notification.as_ref())
    }
}

/// Every channel's state.
#[derive(Debug)]
pub struct Router {
    channels: Vec<ChannelState>,
    /// Nodes per group, for "200 of 200 nodes".
    group_sizes: HashMap<String, usize>,
    page_url: Option<String>,
    /// Subjects in a maintenance window: nothing is said of them, and they are in
    /// no reminder and no Alertmanager re-send.
    maintenance: HashSet<SubjectKey>,
    /// Subjects an ack covers: in no reminder.
    covered: HashSet<SubjectKey>,
    /// Each node's group as last seen (the config at start, then its changes):
    /// a channel's group filter decides whether an ack of the node is silenced
    /// in its Alertmanager.
    node_groups: HashMap<String, Option<String>>,
}

impl Router {
    /// `active`: what each channel (by name) was last told is unhealthy. A
    /// channel that still has unhealthy subjects gets its next reminder one
    /// `repeat_interval` after `now_ms`.
    pub fn new(
        channels: &[NotifyChannel],
        group_sizes: HashMap<String, usize>,
        mut active: HashMap<String, Vec<Item>>,
        page_url: Option<String>,
        now_ms: i64,
    ) -> Router {
        let channels = channels
            .iter()
            .map(|c| {
                let active: BTreeMap<SubjectKey, Item> = active
                    .remove(&c.name)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|i| ((i.kind, i.name.clone()), i))
                    .collect();
                let next_reminder_ms = c
                    .repeat_interval
                    .filter(|_| !active.is_empty())
                    .map(|r| now_ms.saturating_add(r.as_millis() as i64));
                ChannelState {
                    filter: Filter::new(c),
                    active,
                    config: Arc::new(c.clone()),
                    window: None,
                    next_reminder_ms,
                }
            })
            .collect();
        Router {
            channels,
            group_sizes,
            page_url,
            maintenance: HashSet::new(),
            covered: HashSet::new(),
            node_groups: HashMap::new(),
        }
    }

    /// Tells the router each node's group (names as messages print them), for
    /// the filters that choose who silences an ack.
    pub fn know_nodes(&mut self, nodes: impl IntoIterator<Item = (String, Option<String>)>) {
        self.node_groups.extend(nodes);
    }

    /// The channels' still-unhealthy subjects, for Alertmanager's re-sends;
    /// subjects in maintenance are left out, so their alerts are not kept alive.
    pub fn active(&self, channel: &str) -> Vec<Item> {
        self.channels
            .iter()
            .find(|c| c.config.name == channel)
            .map(|c| {
                c.active
                    .iter()
                    .filter(|(k, _)| !self.maintenance.contains(*k))
                    .map(|(_, i)| i.clone())
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The Alertmanager channels whose filters want this node or group: where an
    /// ack of it becomes a silence.
    pub fn silence_channels(&self, kind: SubjectKind, name: &str) -> Vec<String> {
        let group = match kind {
            SubjectKind::Node => self.node_groups.get(name).and_then(|g| g.as_deref()),
            SubjectKind::Group => None,
        };
        self.channels
            .iter()
            .filter(|c| c.config.kind == ChannelKind::Alertmanager)
            .filter(|c| c.filter.wants_subject(kind, name, group))
            .map(|c| c.config.name.clone())
            .collect()
    }

    /// Remembers a node's group (for silences) and keys the change; `None` for
    /// a subject in maintenance: the hub sends nothing for one, and a change
    /// that comes anyway (queued just before) is not news either.
    fn take_in(&mut self, change: &Change) -> Option<SubjectKey> {
        if change.kind == SubjectKind::Node {
            self.node_groups
                .insert(change.name.clone(), change.group.clone());
        }
        let key: SubjectKey = (change.kind, change.name.clone());
        (!self.maintenance.contains(&key)).then_some(key)
    }

    /// Takes one change into every channel it concerns.
    pub fn change(&mut self, change: &Change) {
        let Some(key) = self.take_in(change) else {
            return;
        };
        let Some(unhealthy) = change.unhealthy else {
            return;
        };
        for ch in &mut self.channels {
            if !ch.filter.wants(change) {
                continue;
            }
            let was_active = ch.active.get(&key);
            let pending = ch.window.as_ref().and_then(|w| w.items.get(&key));
            // What the channel has been told, or will be told when the window
            // closes: the pending item wins over the active set.
            let told_unhealthy = match pending {
                Some(item) => item.firing,
                None => was_active.is_some(),
            };
            if told_unhealthy == unhealthy {
                continue;
            }
            // A recovery names what the channel was told: the group and status
            // the alarm carried, so it resolves that very alert.
            let (started_ms, was, group) = match (unhealthy, was_active) {
                (false, Some(a)) => (a.started_ms, Some(a.status.clone()), a.group.clone()),
                _ => (change.at_ms, None, change.group.clone()),
            };
            if pending.is_some() {
                if let Some(w) = &mut ch.window {
                    w.items.remove(&key);
                }
                // It changed back within the window: nothing to say after all,
                // unless what was pending replaced an alarm the channel had
                // (a worse status): then the recovery resolves that alarm.
                if was_active.is_some() == unhealthy {
                    continue;
                }
            }
            let item = Item {
                kind: change.kind,
                name: change.name.clone(),
                group,
                status: change.status.clone(),
                firing: unhealthy,
                since_ms: change.at_ms,
                started_ms,
                detail: change.detail.clone(),
                was,
            };
            ch.queue(key.clone(), item, change.at_ms);
        }
    }

    /// An acknowledged subject got worse than what was acknowledged: an alarm
    /// with its new status, through the window like any other, even for a
    /// channel that has it as unhealthy already (the new item replaces the
    /// active one; `was` names the status it replaces, so Alertmanager resolves
    /// the old alert and fires the new one).
    pub fn worse(&mut self, change: &Change) {
        if change.unhealthy != Some(true) {
            // Nothing to alarm about (a group whose Master count is right): an
            // ordinary change.
            self.change(change);
            return;
        }
        let Some(key) = self.take_in(change) else {
            return;
        };
        for ch in &mut self.channels {
            if !ch.filter.wants(change) {
                continue;
            }
            let was = ch
                .active
                .get(&key)
                .map(|a| a.status.clone())
                .filter(|s| *s != change.status);
            let item = Item {
                kind: change.kind,
                name: change.name.clone(),
                group: change.group.clone(),
                status: change.status.clone(),
                firing: true,
                since_ms: change.at_ms,
                // A new alert (its labels differ), so it starts now.
                started_ms: change.at_ms,
                detail: change.detail.clone(),
                was,
            };
            // Whatever was pending for it (an alarm not sent yet) gives way.
            ch.queue(key.clone(), item, change.at_ms);
        }
    }

    /// A node or group entered a maintenance window (`window`: its name, as
    /// messages print it) or left one (`None`). Entering: a channel told it is
    /// unhealthy is told it is in maintenance, which resolves its alarm; what
    /// was pending for it gives way. While in, nothing is said of it. Leaving
    /// says nothing: the hub follows with the subject's current state as a
    /// change from `pending`, which the channel (no longer holding it as
    /// unhealthy) hears as a new incident.
    pub fn maintenance(&mut self, kind: SubjectKind, name: &str, window: Option<&str>, at_ms: i64) {
        let key: SubjectKey = (kind, name.to_owned());
        let Some(window) = window else {
            self.maintenance.remove(&key);
            return;
        };
        if !self.maintenance.insert(key.clone()) {
            // Only the window changed (one window ran into the next).
            return;
        }
        self.resolve(
            &key,
            MAINTENANCE,
            &format!("maintenance window {window}"),
            at_ms,
        );
    }

    /// Whether an ack covers this node or group now: a covered subject is left
    /// out of reminders (Alertmanager's re-sends go on: its silence quiets them
    /// there, and the alert must not end while the problem lasts).
    pub fn covered(&mut self, kind: SubjectKind, name: &str, acked: bool) {
        let key: SubjectKey = (kind, name.to_owned());
        if acked {
            self.covered.insert(key);
        } else {
            self.covered.remove(&key);
        }
    }

    /// When [`Router::tick`] has work next (a window closes, a reminder is due).
    pub fn next_due_ms(&self) -> Option<i64> {
        self.channels
            .iter()
            .flat_map(|c| [c.window.as_ref().map(|w| w.due_ms), c.next_reminder_ms])
            .flatten()
            .min()
    }

    /// A node or group taken out of the config by a reload: a channel told it was
    /// unhealthy is told it is gone (`removed`), which resolves its alert; one not
    /// told forgets it.
    pub fn remove(&mut self, kind: SubjectKind, name: &str, at_ms: i64) {
        let key: SubjectKey = (kind, name.to_owned());
        self.maintenance.remove(&key);
        self.covered.remove(&key);
        if kind == SubjectKind::Node {
            self.node_groups.remove(name);
        }
        self.resolve(&key, REMOVED, "removed from the config", at_ms);
    }

    /// Resolves a subject with `status` (`removed`, `maintenance`) in every
    /// channel told it is unhealthy; whatever was waiting for it in a window (an
    /// alarm not sent yet, or a recovery) gives way.
    fn resolve(&mut self, key: &SubjectKey, status: &str, detail: &str, at_ms: i64) {
        for ch in &mut self.channels {
            if let Some(w) = ch.window.as_mut() {
                w.items.remove(key);
            }
            let Some(a) = ch.active.get(key) else {
                continue;
            };
            let item = Item {
                kind: key.0,
                name: key.1.clone(),
                group: a.group.clone(),
                status: status.to_owned(),
                firing: false,
                since_ms: at_ms,
                started_ms: a.started_ms,
                detail: detail.to_owned(),
                was: Some(a.status.clone()),
            };
            ch.queue(key.clone(), item, at_ms);
        }
    }

    /// Closes the windows that are due and makes the reminders that are due.
    /// `flush`: close every window now (the monitor is stopping).
    pub fn tick(&mut self, now_ms: i64, flush: bool, mut new_id: impl FnMut() -> String) -> Output {
        let mut out = Output::default();
        for ch in &mut self.channels {
            if ch
                .window
                .as_ref()
                .is_some_and(|w| flush || w.due_ms <= now_ms)
                && let Some(w) = ch.window.take()
            {
                let mut changes = Vec::with_capacity(w.items.len());
                let mut wanted = Vec::new();
                for (key, item) in w.items {
                    if ch.config.on.contains(&event(&item)) {
                        wanted.push(item.clone());
                    }
                    if item.firing {
                        // What a firing item replaced was said once, in its
                        // own notification; reminders and re-sends only name
                        // what fires now.
                        let item = Item { was: None, ..item };
                        ch.active.insert(key, item.clone());
                        changes.push(item);
                    } else {
                        ch.active.remove(&key);
                        changes.push(item);
                    }
                }
                let notification = (!wanted.is_empty()).then(|| {
                    make(
                        &ch.config.name,
                        new_id(),
                        now_ms,
                        None,
                        wanted,
                        &self.group_sizes,
                        self.page_url.clone(),
                    )
                });
                out.closed.push(Closed {
                    channel: ch.config.name.clone(),
                    notification,
                    changes,
                });
                ch.next_reminder_ms = match (ch.config.repeat_interval, ch.active.is_empty()) {
                    (Some(r), false) => ch
                        .next_reminder_ms
                        .or(Some(now_ms.saturating_add(r.as_millis() as i64))),
                    _ => None,
                };
            }
            if !flush
                && let (Some(due), Some(repeat)) = (ch.next_reminder_ms, ch.config.repeat_interval)
                && due <= now_ms
            {
                ch.next_reminder_ms = Some(now_ms.saturating_add(repeat.as_millis() as i64));
                // Acknowledged and maintenance subjects are somebody's already:
                // a reminder names the rest, and with none left there is none.
                let still: Vec<Item> = ch
                    .active
                    .iter()
                    .filter(|(k, _)| !self.covered.contains(*k) && !self.maintenance.contains(*k))
                    .map(|(_, i)| i.clone())
                    .collect();
                if !still.is_empty() && ch.config.on.contains(&AlertOn::Unhealthy) {
                    out.closed.push(Closed {
                        channel: ch.config.name.clone(),
                        notification: Some(make(
                            &ch.config.name,
                            new_id(),
                            now_ms,
                            Some(Kind::Reminder),
                            still,
                            &self.group_sizes,
                            self.page_url.clone(),
                        )),
                        changes: Vec::new(),
                    });
                }
            }
        }
        out
    }
}

fn event(i: &Item) -> AlertOn {
    if i.firing {
        AlertOn::Unhealthy
    } else {
        AlertOn::Recovered
    }
}

/// A notification from a window's items: firing first, each part in name order.
fn make(
    channel: &str,
    id: String,
    now_ms: i64,
    kind: Option<Kind>,
    mut items: Vec<Item>,
    sizes: &HashMap<String, usize>,
    page_url: Option<String>,
) -> Notification {
    items.sort_by(|a, b| (!a.firing, a.kind, &a.name).cmp(&(!b.firing, b.kind, &b.name)));
    let kind = kind.unwrap_or(if items.iter().any(|i| i.firing) {
        Kind::Firing
    } else {
        Kind::Resolved
    });
    let mut title = title(&items, sizes);
    if kind == Kind::Reminder {
        title = format!("still unhealthy: {title}");
    }
    Notification {
        id,
        channel: channel.to_owned(),
        created_ms: now_ms,
        kind,
        title,
        items,
        page_url,
    }
}

/// The one line that states a notification's verdict:
/// `wall-B: 200 of 200 nodes unhealthy (timeout ×198, free ×2)`.
pub fn title(items: &[Item], sizes: &HashMap<String, usize>) -> String {
    let firing_nodes: Vec<&Item> = items
        .iter()
        .filter(|i| i.firing && i.kind == SubjectKind::Node)
        .collect();
    let firing_groups: Vec<&Item> = items
        .iter()
        .filter(|i| i.firing && i.kind == SubjectKind::Group)
        .collect();
    let recovered: Vec<&Item> = items.iter().filter(|i| i.is_recovery()).collect();
    let maintenance: Vec<&Item> = items.iter().filter(|i| i.is_maintenance()).collect();
    let removed: Vec<&Item> = items.iter().filter(|i| i.is_removed()).collect();
    let mut parts = Vec::new();
    if !firing_nodes.is_empty() {
        parts.push(nodes_phrase(&firing_nodes, sizes, "unhealthy", true));
    }
    match firing_groups.as_slice() {
        [] => {}
        [g] => parts.push(format!(
            "{}: {}",
            g.name,
            crate::present::group_status_words(&g.status)
        )),
        many => parts.push(format!("{} groups with a wrong Master count", many.len())),
    }
    for (list, verb) in [
        (recovered, "recovered"),
        (maintenance, "in maintenance"),
        (removed, "removed from the config"),
    ] {
        if list.is_empty() {
            continue;
        }
        if parts.is_empty() {
            parts.push(nodes_phrase(&list, sizes, verb, false));
        } else {
            parts.push(format!("{} {verb}", list.len()));
        }
    }
    parts.join("; ")
}

/// `wall-07 unhealthy: timeout`, `wall-B: 3 of 8 nodes unhealthy (timeout ×2,
/// free ×1)`, `12 nodes unhealthy in 3 groups (…)`.
fn nodes_phrase(
    items: &[&Item],
    sizes: &HashMap<String, usize>,
    verb: &str,
    with_statuses: bool,
) -> String {
    if let [one] = items {
        let what = match one.kind {
            SubjectKind::Node => one.name.clone(),
            SubjectKind::Group => format!("group {}", one.name),
        };
        return if with_statuses {
            format!("{what} {verb}: {}", one.status)
        } else {
            format!("{what} {verb}")
        };
    }
    let statuses = if with_statuses {
        let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
        for i in items {
            *counts.entry(i.status.as_str()).or_default() += 1;
        }
        let mut counts: Vec<(&str, usize)> = counts.into_iter().collect();
        counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
        let list: Vec<String> = counts.iter().map(|(s, n)| format!("{s} ×{n}")).collect();
        format!(" ({})", list.join(", "))
    } else {
        String::new()
    };
    let mut groups: Vec<Option<&str>> = items.iter().map(|i| i.group.as_deref()).collect();
    groups.sort_unstable();
    groups.dedup();
    let n = items.len();
    match groups.as_slice() {
        [Some(g)] => match sizes.get(*g) {
            Some(size) => format!("{g}: {n} of {size} nodes {verb}{statuses}"),
            None => format!("{g}: {n} nodes {verb}{statuses}"),
        },
        [None] => format!("{n} nodes {verb}{statuses}"),
        many => {
            let named = many.iter().filter(|g| g.is_some()).count();
            format!("{n} nodes {verb} in {named} groups{statuses}")
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::config::{ChannelKind, NotifyChannel};

    fn channel(name: &str, wait_s: u64) -> NotifyChannel {
        NotifyChannel {
            name: name.into(),
            kind: ChannelKind::Webhook,
            urls: vec![],
            urls_secret: false,
            nodes: vec![],
            groups: vec![],
            on: vec![AlertOn::Unhealthy, AlertOn::Recovered],
            group_wait: Duration::from_secs(wait_s),
            repeat_interval: None,
            give_up_after: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            secret: None,
            token: None,
            priority: None,
            watchdog: false,
            email: None,
        }
    }

    /// `channel(name, wait_s)` with a reminder every `every_s` seconds.
    fn reminding(name: &str, wait_s: u64, every_s: u64) -> NotifyChannel {
        NotifyChannel {
            repeat_interval: Some(Duration::from_secs(every_s)),
            ..channel(name, wait_s)
        }
    }

    fn node(name: &str, group: &str, status: &str, at_s: i64) -> Change {
        Change {
            kind: SubjectKind::Node,
            name: name.into(),
            group: (!group.is_empty()).then(|| group.to_owned()),
            unhealthy: Some(status != "synced"),
            status: status.into(),
            at_ms: at_s * 1000,
            detail: String::new(),
        }
    }

    /// Group `name` turned unhealthy with no Master at `at_s`.
    fn no_master(name: &str, at_s: i64) -> Change {
        Change {
            kind: SubjectKind::Group,
            name: name.into(),
            group: None,
            unhealthy: Some(true),
            status: "no_master".into(),
            at_ms: at_s * 1000,
            detail: String::new(),
        }
    }

    fn ids() -> impl FnMut() -> String {
        let mut n = 0;
        move || {
            n += 1;
            format!("id{n}")
        }
    }

    fn sent(o: Output) -> Vec<Notification> {
        o.closed
            .into_iter()
            .filter_map(|c| c.notification)
            .collect()
    }

    fn router(channels: &[NotifyChannel]) -> Router {
        let sizes = HashMap::from([("wall-B".to_owned(), 200), ("wall-A".to_owned(), 8)]);
        Router::new(channels, sizes, HashMap::new(), None, 0)
    }

    #[test]
    fn a_storm_is_one_notification_per_window() {
        let mut r = router(&[channel("a", 10), channel("b", 10)]);
        for i in 0..200 {
            let status = if i < 198 { "timeout" } else { "free" };
            r.change(&node(&format!("n{i:03}"), "wall-B", status, 100));
        }
        assert_eq!(r.next_due_ms(), Some(110_000));
        assert!(sent(r.tick(109_999, false, ids())).is_empty());
        let out = sent(r.tick(110_000, false, ids()));
        assert_eq!(out.len(), 2, "one per channel");
        assert_eq!(
            out[0].title,
            "wall-B: 200 of 200 nodes unhealthy (timeout ×198, free ×2)"
        );
        assert_eq!(out[0].items.len(), 200);
        assert_eq!(out[0].kind, Kind::Firing);
        assert!(sent(r.tick(200_000, false, ids())).is_empty());
    }

    #[test]
    fn a_recovery_within_the_window_cancels_the_alert() {
        let mut r = router(&[channel("a", 10)]);
        r.change(&node("n1", "", "free", 0));
        r.change(&node("n1", "", "synced", 5));
        assert!(sent(r.tick(20_000, false, ids())).is_empty());
        // Nothing was said, so nothing recovers either.
        r.change(&node("n1", "", "free", 30));
        r.change(&node("n1", "", "timeout", 31));
        let out = sent(r.tick(45_000, false, ids()));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].title, "n1 unhealthy: free");
        r.change(&node("n1", "", "synced", 100));
        let out = sent(r.tick(200_000, false, ids()));
        assert_eq!(out[0].kind, Kind::Resolved);
        assert_eq!(out[0].title, "n1 recovered");
        assert_eq!(out[0].items[0].started_ms, 30_000);
        assert_eq!(out[0].items[0].since_ms, 100_000);
    }

    #[test]
    fn filters_and_events_choose_what_a_channel_hears() {
        let mut only_a = channel("only-a", 0);
        only_a.groups = vec!["wall-A".into()];
        only_a.on = vec![AlertOn::Recovered];
        let mut r = router(&[only_a]);
        r.change(&node("x", "wall-B", "free", 0));
        r.change(&node("y", "wall-A", "free", 0));
        r.change(&node("z", "", "free", 0));
        // Unhealthy is not wanted: nothing goes out, but `y` is known to be bad.
        assert!(sent(r.tick(0, false, ids())).is_empty());
        r.change(&node("y", "wall-A", "synced", 1));
        r.change(&node("x", "wall-B", "synced", 1));
        let out = sent(r.tick(1000, false, ids()));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].title, "y recovered");
    }

    #[test]
    fn restored_active_subjects_recover_and_are_not_announced_again() {
        let item = Item {
            kind: SubjectKind::Node,
            name: "n1".into(),
            group: None,
            status: "free".into(),
            firing: true,
            since_ms: 5,
            started_ms: 5,
            detail: String::new(),
            was: None,
        };
        let active = HashMap::from([("a".to_owned(), vec![item])]);
        let mut r = Router::new(&[channel("a", 0)], HashMap::new(), active, None, 0);
        r.change(&node("n1", "", "timeout", 10));
        assert!(sent(r.tick(10_000, false, ids())).is_empty());
        r.change(&node("n1", "", "synced", 20));
        let out = sent(r.tick(20_000, false, ids()));
        assert_eq!(out[0].items[0].started_ms, 5, "the incident began before");
        assert_eq!(out[0].items[0].was.as_deref(), Some("free"));
    }

    #[test]
    fn reminders_repeat_while_unhealthy() {
        let mut r = router(&[reminding("a", 0, 3600)]);
        r.change(&node("n1", "wall-A", "free", 0));
        assert_eq!(sent(r.tick(0, false, ids())).len(), 1);
        assert_eq!(r.next_due_ms(), Some(3_600_000));
        let out = sent(r.tick(3_600_000, false, ids()));
        assert_eq!(out[0].kind, Kind::Reminder);
        assert_eq!(out[0].title, "still unhealthy: n1 unhealthy: free");
        r.change(&node("n1", "wall-A", "synced", 4000));
        assert_eq!(
            sent(r.tick(4_000_000, false, ids()))[0].kind,
            Kind::Resolved
        );
        assert_eq!(r.next_due_ms(), None);
    }

    #[test]
    fn titles_for_mixed_windows() {
        let mut r = router(&[channel("a", 10)]);
        r.change(&node("a1", "wall-A", "free", 0));
        r.change(&node("b1", "wall-B", "timeout", 0));
        r.change(&node("c1", "", "timeout", 0));
        r.change(&no_master("wall-A", 0));
        let out = sent(r.tick(10_000, false, ids()));
        assert_eq!(
            out[0].title,
            "3 nodes unhealthy in 2 groups (timeout ×2, free ×1); wall-A: no Master"
        );
    }

    #[test]
    fn flush_closes_every_window() {
        let mut r = router(&[channel("a", 600)]);
        r.change(&node("n1", "", "free", 0));
        assert_eq!(sent(r.tick(1000, true, ids())).len(), 1);
    }

    #[test]
    fn filtered_changes_are_still_remembered_and_reminders_survive_a_restart() {
        let mut c = channel("a", 0);
        c.on = vec![AlertOn::Unhealthy];
        c.repeat_interval = Some(Duration::from_secs(60));
        let mut r = router(std::slice::from_ref(&c));
        r.change(&node("n1", "", "free", 0));
        r.change(&node("n2", "", "free", 0));
        let out = r.tick(0, false, ids());
        assert_eq!(out.closed[0].changes.len(), 2);
        r.change(&node("n1", "", "synced", 1));
        let out = r.tick(1000, false, ids());
        // Nothing is sent (recoveries are not wanted), but the change is kept.
        assert!(out.closed[0].notification.is_none());
        assert_eq!(out.closed[0].changes.len(), 1);
        assert_eq!(r.active("a").len(), 1);
        // A restart with n2 still active schedules the next reminder.
        let active = HashMap::from([("a".to_owned(), r.active("a"))]);
        let r2 = Router::new(&[c], HashMap::new(), active, None, 5_000);
        assert_eq!(r2.next_due_ms(), Some(65_000));
    }

    #[test]
    fn a_removed_node_resolves_what_was_said_of_it() {
        let mut r = router(&[channel("a", 0)]);
        r.change(&node("n1", "wall-A", "timeout", 0));
        r.change(&node("n2", "wall-A", "timeout", 0));
        let _ = r.tick(0, false, ids());
        r.remove(SubjectKind::Node, "n1", 5_000);
        r.remove(SubjectKind::Node, "never-told", 5_000);
        let out = sent(r.tick(5_000, false, ids()));
        assert_eq!(out.len(), 1);
        let item = &out[0].items[0];
        assert_eq!(
            (item.name.as_str(), item.status.as_str(), item.firing),
            ("n1", "removed", false)
        );
        assert_eq!(item.was.as_deref(), Some("timeout"));
        assert_eq!(out[0].title, "n1 removed from the config");
        assert_eq!(item.group.as_deref(), Some("wall-A"));
        assert_eq!(r.active("a").len(), 1);
    }

    fn am_channel(name: &str, wait_s: u64) -> NotifyChannel {
        NotifyChannel {
            kind: ChannelKind::Alertmanager,
            ..channel(name, wait_s)
        }
    }

    fn items(n: &Notification) -> Vec<(&str, &str, bool, Option<&str>)> {
        items_of(&n.items)
    }

    #[test]
    fn maintenance_resolves_what_was_said_and_nothing_while_in() {
        let mut r = router(&[reminding("a", 10, 60)]);
        r.change(&node("n1", "wall-A", "timeout", 0));
        r.change(&node("n2", "wall-A", "timeout", 0));
        assert_eq!(sent(r.tick(10_000, false, ids())).len(), 1);

        r.maintenance(SubjectKind::Node, "n1", Some("nightly"), 20_000);
        // Out of Alertmanager's re-sends at once, before the window closes.
        assert_eq!(r.active("a").len(), 1);
        // A change queued before the hub knew is no news either.
        r.change(&node("n1", "wall-A", "synced", 21));
        let out = sent(r.tick(30_000, false, ids()));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, Kind::Resolved);
        assert_eq!(out[0].title, "n1 in maintenance");
        assert_eq!(
            items(&out[0]),
            [("n1", "maintenance", false, Some("timeout"))]
        );
        let item = &out[0].items[0];
        assert!(item.is_maintenance() && !item.is_recovery());
        assert_eq!(item.group.as_deref(), Some("wall-A"));
        assert_eq!((item.started_ms, item.since_ms), (0, 20_000));
        assert_eq!(item.detail, "maintenance window nightly");
        assert_eq!(r.active("a").len(), 1);

        // While in: nothing of it, and the reminder names only n2.
        r.change(&node("n1", "wall-A", "free", 40));
        let out = sent(r.tick(70_000, false, ids()));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, Kind::Reminder);
        assert_eq!(items(&out[0]), [("n2", "timeout", true, None)]);
    }

    #[test]
    fn maintenance_makes_a_pending_alarm_give_way() {
        let mut r = router(&[channel("a", 10)]);
        r.change(&node("n1", "", "timeout", 0));
        r.maintenance(SubjectKind::Node, "n1", Some("w"), 5_000);
        // Never told: nothing to resolve, and the alarm is never sent.
        assert!(sent(r.tick(20_000, false, ids())).is_empty());
        // A group too: a wrong Master count resolves as in maintenance.
        r.change(&no_master("wall-B", 30));
        assert_eq!(sent(r.tick(40_000, false, ids())).len(), 1);
        r.maintenance(SubjectKind::Group, "wall-B", Some("w"), 50_000);
        let out = sent(r.tick(60_000, false, ids()));
        assert_eq!(out[0].title, "group wall-B in maintenance");
        assert_eq!(
            items(&out[0]),
            [("wall-B", "maintenance", false, Some("no_master"))]
        );
    }

    #[test]
    fn leaving_maintenance_unhealthy_is_a_new_incident() {
        let mut r = router(&[channel("a", 0)]);
        r.change(&node("n1", "wall-A", "timeout", 0));
        let _ = r.tick(0, false, ids());
        r.maintenance(SubjectKind::Node, "n1", Some("w"), 10_000);
        let _ = r.tick(10_000, false, ids());
        assert!(r.active("a").is_empty());
        // Left, still bad: the hub sends its state as a change from pending.
        r.maintenance(SubjectKind::Node, "n1", None, 100_000);
        r.change(&node("n1", "wall-A", "free", 100));
        let out = sent(r.tick(100_000, false, ids()));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, Kind::Firing);
        assert_eq!(out[0].title, "n1 unhealthy: free");
        assert_eq!(out[0].items[0].started_ms, 100_000, "a new incident");
        assert_eq!(out[0].items[0].was, None);
        // And it recovers as usual.
        r.change(&node("n1", "wall-A", "synced", 110));
        let out = sent(r.tick(110_000, false, ids()));
        assert_eq!(out[0].title, "n1 recovered");
        // Left healthy: the hub sends nothing, and nothing is said.
        r.maintenance(SubjectKind::Node, "n1", Some("w"), 120_000);
        r.maintenance(SubjectKind::Node, "n1", None, 130_000);
        assert!(sent(r.tick(200_000, false, ids())).is_empty());
    }

    #[test]
    fn covered_subjects_get_no_reminders_until_uncovered() {
        let mut r = router(&[reminding("a", 0, 60)]);
        r.change(&node("n1", "", "timeout", 0));
        r.change(&node("n2", "", "timeout", 0));
        let _ = r.tick(0, false, ids());
        r.covered(SubjectKind::Node, "n1", true);
        let out = sent(r.tick(60_000, false, ids()));
        assert_eq!(items(&out[0]), [("n2", "timeout", true, None)]);
        assert_eq!(out[0].title, "still unhealthy: n2 unhealthy: timeout");
        // Alertmanager's re-sends keep both: the silence quiets n1 there.
        assert_eq!(r.active("a").len(), 2);
        // Nothing left to remind of: no reminder, but the next is still due.
        r.covered(SubjectKind::Node, "n2", true);
        assert!(sent(r.tick(120_000, false, ids())).is_empty());
        assert_eq!(r.next_due_ms(), Some(180_000));
        // The ack ended, still unhealthy: reminders resume.
        r.covered(SubjectKind::Node, "n1", false);
        let out = sent(r.tick(180_000, false, ids()));
        assert_eq!(items(&out[0]), [("n1", "timeout", true, None)]);
    }

    #[test]
    fn worse_than_acknowledged_alarms_again() {
        let mut r = router(&[channel("a", 10)]);
        r.change(&node("n1", "wall-A", "timeout", 0));
        let _ = r.tick(10_000, false, ids());
        r.covered(SubjectKind::Node, "n1", true);
        // timeout -> free: between two unhealthy statuses, no news by itself ...
        r.change(&node("n1", "wall-A", "free", 100));
        assert_eq!(r.next_due_ms(), None);
        // ... but worse than acknowledged is.
        r.worse(&node("n1", "wall-A", "free", 100));
        r.covered(SubjectKind::Node, "n1", false);
        assert!(sent(r.tick(109_999, false, ids())).is_empty(), "group_wait");
        let out = sent(r.tick(110_000, false, ids()));
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].kind, Kind::Firing);
        assert_eq!(out[0].title, "n1 unhealthy: free");
        assert_eq!(items(&out[0]), [("n1", "free", true, Some("timeout"))]);
        assert_eq!(out[0].items[0].started_ms, 100_000);
        // The active item is replaced; it no longer names what it replaced.
        let active = r.active("a");
        assert_eq!(items_of(&active), [("n1", "free", true, None)]);
        // Its recovery resolves the new alarm.
        r.change(&node("n1", "wall-A", "synced", 200));
        let out = sent(r.tick(300_000, false, ids()));
        assert_eq!(items(&out[0]), [("n1", "synced", false, Some("free"))]);
    }

    #[test]
    fn a_recovery_within_the_window_of_a_worse_alarm_resolves_the_old_one() {
        let mut r = router(&[channel("a", 10)]);
        r.change(&node("n1", "", "timeout", 0));
        let _ = r.tick(10_000, false, ids());
        r.worse(&node("n1", "", "free", 100));
        r.change(&node("n1", "", "synced", 105));
        let out = sent(r.tick(110_000, false, ids()));
        assert_eq!(items(&out[0]), [("n1", "synced", false, Some("timeout"))]);
        assert!(r.active("a").is_empty());
        // Worse for a subject the channel was never told of: a plain alarm.
        r.worse(&node("n2", "", "free", 200));
        let out = sent(r.tick(300_000, false, ids()));
        assert_eq!(items(&out[0]), [("n2", "free", true, None)]);
    }

    #[test]
    fn silences_go_to_the_alertmanager_channels_whose_filters_want_it() {
        let mut walls = am_channel("walls", 0);
        walls.groups = vec!["wall-*".into()];
        let mut r = router(&[am_channel("all", 0), walls, channel("hook", 0)]);
        r.know_nodes([
            ("w1".to_owned(), Some("wall-A".to_owned())),
            ("x1".to_owned(), None),
        ]);
        assert_eq!(
            r.silence_channels(SubjectKind::Node, "w1"),
            ["all", "walls"]
        );
        assert_eq!(r.silence_channels(SubjectKind::Node, "x1"), ["all"]);
        assert_eq!(
            r.silence_channels(SubjectKind::Group, "wall-B"),
            ["all", "walls"]
        );
        // A node's group as its changes say.
        r.change(&node("y1", "wall-C", "timeout", 0));
        assert_eq!(
            r.silence_channels(SubjectKind::Node, "y1"),
            ["all", "walls"]
        );
    }

    fn items_of(items: &[Item]) -> Vec<(&str, &str, bool, Option<&str>)> {
        items
            .iter()
            .map(|i| {
                (
                    i.name.as_str(),
                    i.status.as_str(),
                    i.firing,
                    i.was.as_deref(),
                )
            })
            .collect()
    }
}

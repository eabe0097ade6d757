//! Alert hooks: `[[alert]]` programs run when a node turns unhealthy or recovers,
//! after `after` consecutive results. Never through a shell; one at a time per node;
//! killed after their timeout; failures logged with the exit status.

use std::collections::HashMap;
use std::process::Stdio;

use tokio::sync::mpsc;

use crate::config::{AlertHook, AlertOn};
use crate::fleet::{Fleet, NodeId};
use crate::status::Status;
use crate::text;

/// Events queued per node and hook while one runs; more are dropped with a warning.
const QUEUE: usize = 8;

/// One hook invocation: what the program sees in its environment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HookEvent {
    pub event: AlertOn,
    pub node: String,
    pub group: String,
    pub status: Status,
    pub previous: Status,
    pub role: String,
    pub reply: String,
    pub error: String,
}

impl HookEvent {
    /// The environment passed to the hook. Every value is escaped text, so nothing
    /// a node sends can carry control bytes into the program.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("SYNCGUARD_EVENT", self.event.as_str().to_owned()),
            ("SYNCGUARD_NODE", self.node.clone()),
            ("SYNCGUARD_GROUP", self.group.clone()),
            ("SYNCGUARD_STATUS", self.status.as_str().to_owned()),
            ("SYNCGUARD_PREVIOUS", self.previous.as_str().to_owned()),
            ("SYNCGUARD_ROLE", self.role.clone()),
            ("SYNCGUARD_REPLY", self.reply.clone()),
            ("SYNCGUARD_ERROR", self.error.clone()),
        ]
    }
}

/// Per node and hook: how long the current run of results has pointed one way.
#[derive(Clone, Copy, Debug)]
struct Streak {
    healthy: bool,
    count: u32,
    /// The way the hook last fired for (`true` healthy). Starts healthy, so a node
    /// that is bad from the start fires `unhealthy` and one good from the start
    /// fires nothing.
    fired_healthy: bool,
    /// The last status before the current run began, for SYNCGUARD_PREVIOUS.
    previous: Status,
    last: Status,
}

/// Decides when hooks fire (pure) and hands runs to per-node workers (IO).
pub struct Hooks {
    hooks: Vec<AlertHook>,
    streaks: HashMap<(usize, NodeId), Streak>,
    /// One worker per node runs every hook's events for it in order: never two
    /// hook programs at once for the same node.
    workers: HashMap<NodeId, mpsc::Sender<(AlertHook, HookEvent)>>,
    /// When a "busy" warning was last logged, so a flood logs one per minute.
    last_busy_warning: Option<std::time::Instant>,
}

impl Hooks {
    pub fn new(hooks: Vec<AlertHook>) -> Hooks {
        Hooks {
            hooks,
            streaks: HashMap::new(),
            workers: HashMap::new(),
            last_busy_warning: None,
        }
    }

    /// The hooks for a reloaded config. With the same `[[alert]]` list, the streaks
    /// and workers of kept nodes move to their new ids, so a reload does not fire
    /// again for nodes that are still unhealthy. `kept[new_id]` is the old id.
    pub fn reload(mut self, alerts: Vec<AlertHook>, kept: &[Option<NodeId>]) -> Hooks {
        if alerts != self.hooks {
            return Hooks::new(alerts);
        }
        let mut old_to_new = HashMap::new();
        for (new_id, old) in kept.iter().enumerate() {
            if let Some(old) = old {
                old_to_new.insert(*old, new_id);
            }
        }
        let streaks = self
            .streaks
            .drain()
            .filter_map(|((h, old), s)| old_to_new.get(&old).map(|new| ((h, *new), s)))
            .collect();
        let workers = self
            .workers
            .drain()
            .filter_map(|(old, w)| old_to_new.get(&old).map(|new| (*new, w)))
            .collect();
        Hooks {
            hooks: alerts,
            streaks,
            workers,
            last_busy_warning: self.last_busy_warning,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Counts one raw result of `node` and returns the hook runs it triggers, as
    /// (hook index, event). Pure, so the firing rules are testable without processes.
    pub fn on_result(
        &mut self,
        fleet: &Fleet,
        node: NodeId,
        raw: Status,
    ) -> Vec<(usize, HookEvent)> {
        let mut out = Vec::new();
        if raw == Status::Pending {
            return out;
        }
        let healthy = raw.is_healthy();
        for (i, hook) in self.hooks.iter().enumerate() {
            let s = self.streaks.entry((i, node)).or_insert(Streak {
                healthy: true,
                count: 0,
                fired_healthy: true,
                previous: Status::Pending,
                last: Status::Pending,
            });
            if s.healthy == healthy {
                s.count = s.count.saturating_add(1);
            } else {
                s.previous = s.last;
                s.healthy = healthy;
                s.count = 1;
            }
            // A stale node sends nothing more to count: silence is its confirmation.
            if raw == Status::Stale {
                s.count = u32::MAX;
            }
            s.last = raw;
            // Flap damping applies to alerts too: wait for the node's own confirm
            // count when it is longer than the hook's.
            let confirm = fleet
                .node(node)
                .map(|n| {
                    if healthy {
                        n.config.confirm_healthy
                    } else {
                        n.config.confirm_unhealthy
                    }
                })
                .unwrap_or(1);
            if s.count < hook.after.max(confirm) || s.fired_healthy == healthy {
                continue;
            }
            s.fired_healthy = healthy;
            let event = if healthy {
                AlertOn::Recovered
            } else {
                AlertOn::Unhealthy
            };
            if !hook.on.contains(&event) {
                continue;
            }
            if let Some(n) = fleet.node(node) {
                out.push((
                    i,
                    HookEvent {
                        event,
                        node: text::escape_str(n.name()),
                        group: n.group().map(text::escape_str).unwrap_or_default(),
                        status: raw,
                        previous: s.previous,
                        role: n.role().map(|r| r.as_str().to_owned()).unwrap_or_default(),
                        reply: n.reply().map(|r| r.to_string()).unwrap_or_default(),
                        error: n.error().unwrap_or_default(),
                    },
                ));
            }
        }
        out
    }

    /// Counts a result and starts the hooks it triggers. Must run inside a tokio
    /// runtime.
    pub fn handle(&mut self, fleet: &Fleet, node: NodeId, raw: Status) {
        for (i, event) in self.on_result(fleet, node, raw) {
            self.run(i, node, event);
        }
    }

    fn run(&mut self, hook: usize, node: NodeId, event: HookEvent) {
        let Some(cfg) = self.hooks.get(hook).cloned() else {
            return;
        };
        let tx = self.workers.entry(node).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(worker(rx));
            tx
        });
        if tx.try_send((cfg, event.clone())).is_err()
            && self
                .last_busy_warning
                .is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60))
        {
            self.last_busy_warning = Some(std::time::Instant::now());
            tracing::warn!(
                "alert hooks for {} are busy ({QUEUE} queued); dropped the {} event (one warning per minute)",
                event.node,
                event.event.as_str()
            );
        }
    }
}

async fn worker(mut rx: mpsc::Receiver<(AlertHook, HookEvent)>) {
    while let Some((hook, event)) = rx.recv().await {
        run_once(&hook, &event).await;
    }
}

/// Runs the hook program once, bounded by its timeout, and logs the outcome.
pub async fn run_once(hook: &AlertHook, event: &HookEvent) -> Option<std::process::ExitStatus> {
    let (program, args) = hook.command.split_first()?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .envs(event.env())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(
                "alert hook {program:?} for {} could not start: {e}",
                event.node
            );
            return None;
        }
    };
    match tokio::time::timeout(hook.timeout, child.wait()).await {
        Ok(Ok(status)) if status.success() => {
            tracing::info!(
                "alert hook {program:?} ran for {} {}",
                event.node,
                event.event.as_str()
            );
            Some(status)
        }
        Ok(Ok(status)) => {
            tracing::warn!(
                "alert hook {program:?} for {} {} failed: {status}",
                event.node,
                event.event.as_str()
            );
            Some(status)
        }
        Ok(Err(e)) => {
            tracing::warn!("alert hook {program:?} for {}: {e}", event.node);
            None
        }
        Err(_) => {
            let _ = child.kill().await;
            tracing::warn!(
                "alert hook {program:?} for {} timed out after {}; killed",
                event.node,
                humantime::format_duration(hook.timeout)
            );
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::time::SystemTime;

    fn fleet_and_hooks(after: u32, on: &str) -> (Fleet, Hooks) {
        let text = format!(
            "[[alert]]\ncommand = [\"/bin/true\"]\non = {on}\nafter = {after}\n\
             [[node]]\nname = \"wall-07\"\nhost = \"h\"\ngroup = \"wall-A\"\n"
        );
        let cfg = Config::parse(&text, "t.toml").expect("config");
        (
            Fleet::new(&cfg, SystemTime::UNIX_EPOCH),
            Hooks::new(cfg.alerts.clone()),
        )
    }

    fn events(h: &mut Hooks, f: &Fleet, raws: &[Status]) -> Vec<(AlertOn, Status, Status)> {
        raws.iter()
            .flat_map(|r| h.on_result(f, 0, *r))
            .map(|(_, e)| (e.event, e.previous, e.status))
            .collect()
    }

    #[test]
    fn fires_once_per_confirmed_change() {
        use Status::*;
        let (f, mut h) = fleet_and_hooks(2, "[\"unhealthy\", \"recovered\"]");
        let got = events(
            &mut h,
            &f,
            &[
                Synced, Synced, Free, Synced, Free, Timeout, Timeout, Free, Synced, Synced, Synced,
            ],
        );
        // Free then Synced: one bad result is not enough. Free, Timeout: two in a row
        // fire `unhealthy` once; then two good results fire `recovered` once.
        assert_eq!(
            got,
            vec![
                (AlertOn::Unhealthy, Synced, Timeout),
                (AlertOn::Recovered, Free, Synced)
            ]
        );
    }

    #[test]
    fn bad_from_the_start_fires_and_good_from_the_start_does_not() {
        use Status::*;
        let (f, mut h) = fleet_and_hooks(1, "[\"unhealthy\", \"recovered\"]");
        assert_eq!(events(&mut h, &f, &[Synced, Synced]), vec![]);
        let (f, mut h) = fleet_and_hooks(1, "[\"unhealthy\", \"recovered\"]");
        assert_eq!(
            events(&mut h, &f, &[Unreachable]),
            vec![(AlertOn::Unhealthy, Pending, Unreachable)]
        );
    }

    #[test]
    fn only_the_listed_events_fire() {
        use Status::*;
        let (f, mut h) = fleet_and_hooks(1, "[\"recovered\"]");
        assert_eq!(
            events(&mut h, &f, &[Free, Synced]),
            vec![(AlertOn::Recovered, Free, Synced)]
        );
    }

    #[test]
    fn environment_names_every_field() {
        let e = HookEvent {
            event: AlertOn::Unhealthy,
            node: "wall-07".into(),
            group: "wall-A".into(),
            status: Status::Free,
            previous: Status::Synced,
            role: "Error".into(),
            reply: "10.0.0.7_state0".into(),
            error: String::new(),
        };
        let env: HashMap<_, _> = e.env().into_iter().collect();
        assert_eq!(env["SYNCGUARD_NODE"], "wall-07");
        assert_eq!(env["SYNCGUARD_STATUS"], "free");
        assert_eq!(env["SYNCGUARD_PREVIOUS"], "synced");
        assert_eq!(env["SYNCGUARD_EVENT"], "unhealthy");
        assert_eq!(env.len(), 8);
    }

    fn hook(command: &[&str], timeout_ms: u64) -> AlertHook {
        AlertHook {
            command: command.iter().map(|s| s.to_string()).collect(),
            on: vec![AlertOn::Unhealthy, AlertOn::Recovered],
            after: 1,
            timeout: std::time::Duration::from_millis(timeout_ms),
        }
    }

    fn event() -> HookEvent {
        HookEvent {
            event: AlertOn::Unhealthy,
            node: "n".into(),
            group: String::new(),
            status: Status::Free,
            previous: Status::Synced,
            role: String::new(),
            reply: "Free".into(),
            error: String::new(),
        }
    }

    #[tokio::test]
    async fn a_hook_that_hangs_is_killed_at_its_timeout() {
        let start = std::time::Instant::now();
        let got = run_once(&hook(&["/bin/sleep", "5"], 200), &event()).await;
        assert_eq!(got, None);
        assert!(
            start.elapsed() < std::time::Duration::from_secs(2),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_failing_hook_reports_its_status_and_a_missing_one_does_not_panic() {
        let got = run_once(&hook(&["/bin/sh", "-c", "exit 7"], 2000), &event()).await;
        assert_eq!(got.and_then(|s| s.code()), Some(7));
        assert_eq!(
            run_once(&hook(&["/nonexistent/hook"], 2000), &event()).await,
            None
        );
    }

    #[tokio::test]
    async fn network_text_is_an_argument_never_shell_code() {
        // A reply crafted as shell code reaches the program as plain environment.
        let dir = tempfile::tempdir().expect("tempdir");
        let out = dir.path().join("reply");
        let script = format!("printf '%s' \"$SYNCGUARD_REPLY\" > {}", out.display());
        let mut e = event();
        e.reply = "$(touch /tmp/owned); `id`".into();
        let got = run_once(&hook(&["/bin/sh", "-c", &script], 2000), &e).await;
        assert_eq!(got.and_then(|s| s.code()), Some(0));
        assert_eq!(
            std::fs::read_to_string(&out).expect("written"),
            "$(touch /tmp/owned); `id`"
        );
    }

    #[tokio::test]
    async fn at_most_one_run_per_node_at_a_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let log = dir.path().join("log");
        // Each run appends "start" and, 300 ms later, "end": overlapping runs would
        // interleave two starts.
        let script = format!(
            "echo start >> {0}; sleep 0.3; echo end >> {0}",
            log.display()
        );
        let text = format!(
            "[[alert]]\ncommand = [\"/bin/sh\", \"-c\", {script:?}]\n[[node]]\nname = \"n\"\nhost = \"h\"\n"
        );
        let cfg = Config::parse(&text, "t.toml").expect("config");
        let fleet = Fleet::new(&cfg, SystemTime::UNIX_EPOCH);
        let mut hooks = Hooks::new(cfg.alerts.clone());
        // Unhealthy, recovered, unhealthy: three runs, queued one after another.
        hooks.handle(&fleet, 0, Status::Free);
        hooks.handle(&fleet, 0, Status::Synced);
        hooks.handle(&fleet, 0, Status::Free);
        tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
        let lines = std::fs::read_to_string(&log).expect("log");
        assert_eq!(lines, "start\nend\nstart\nend\nstart\nend\n");
    }
}

//! Alert hooks: `[[alert]]` programs run when a node turns unhealthy or recovers,
//! after `after` consecutive results. Never through a shell; one at a time per node;
//! killed after their timeout; failures logged with the exit status. The rules are
//! pure and run in the hub; the programs run in their own task.

use std::collections::HashMap;
use std::process::Stdio;

use tokio::sync::mpsc;

use crate::config::{AlertHook, AlertOn};
use crate::model::{NodeKey, Status};
use crate::protocol::text;
use crate::state::{Damper, NodeView};

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
    /// `2/4` on a sharded instance, else empty (as `group` for a node in none).
    pub shard: String,
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
            ("SYNCGUARD_SHARD", self.shard.clone()),
        ]
    }
}

/// Per node and hook: the damper that decides when it fires, and the statuses the
/// environment reports.
#[derive(Clone, Copy, Debug)]
struct Streak {
    /// Starts healthy, so a node that is bad from the start fires `unhealthy` and one
    /// good from the start fires nothing.
    damper: Damper,
    /// The last status before the current run began, for SYNCGUARD_PREVIOUS.
    previous: Status,
    last: Status,
}

/// When hooks fire: pure, run by the hub for every raw result (hooks count results,
/// not shown changes, so `after` can be longer than the node's own damping).
#[derive(Debug, Default)]
pub struct HookRules {
    hooks: Vec<AlertHook>,
    streaks: HashMap<(usize, NodeKey), Streak>,
    /// The shard of the config in force, for SYNCGUARD_SHARD.
    shard: Option<crate::model::Shard>,
}

impl HookRules {
    pub fn new(hooks: Vec<AlertHook>) -> HookRules {
        HookRules {
            hooks,
            streaks: HashMap::new(),
            shard: None,
        }
    }

    /// The rules for a reloaded config. With the same `[[alert]]` list the streaks
    /// stay (keyed by node name, so nothing is re-keyed) and a reload does not fire
    /// again for nodes that are still unhealthy.
    pub fn reload(mut self, alerts: Vec<AlertHook>, exists: impl Fn(&str) -> bool) -> HookRules {
        if alerts != self.hooks {
            return HookRules::new(alerts);
        }
        self.streaks.retain(|(_, key), _| exists(key.as_str()));
        self
    }

    /// The same rules, telling their programs they run in `shard`.
    pub fn in_shard(mut self, shard: Option<crate::model::Shard>) -> HookRules {
        self.shard = shard;
        self
    }

    pub fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// Counts one raw result of `node` and returns the hook runs it triggers.
    pub fn on_result(&mut self, node: &NodeView, raw: Status) -> Vec<HookJob> {
        let mut out = Vec::new();
        if raw == Status::Pending {
            return out;
        }
        let healthy = raw.is_healthy();
        for (i, hook) in self.hooks.iter().enumerate() {
            let s = self.streaks.entry((i, node.key.clone())).or_insert(Streak {
                damper: Damper::starting(true),
                previous: Status::Pending,
                last: Status::Pending,
            });
            if s.last.is_healthy() != healthy || s.last == Status::Pending {
                s.previous = s.last;
            }
            s.last = raw;
            // The node's own confirm count applies to alerts too, when it is longer;
            // a stale node sends nothing more to count: silence is its confirmation.
            let confirm = if healthy {
                node.config.confirm_healthy
            } else {
                node.config.confirm_unhealthy
            };
            let needed = if raw == Status::Stale {
                1
            } else {
                hook.after.max(confirm)
            };
            if !s.damper.feed(healthy, needed) {
                continue;
            }
            let event = if healthy {
                AlertOn::Recovered
            } else {
                AlertOn::Unhealthy
            };
            if !hook.on.contains(&event) {
                continue;
            }
            out.push(HookJob {
                hook: hook.clone(),
                node: node.key.clone(),
                event: HookEvent {
                    event,
                    node: text::escape_str(node.name()),
                    group: node.group().map(text::escape_str).unwrap_or_default(),
                    status: raw,
                    previous: s.previous,
                    role: node
                        .role()
                        .map(|r| r.as_str().to_owned())
                        .unwrap_or_default(),
                    reply: node.reply().map(|r| r.to_string()).unwrap_or_default(),
                    error: node.error().unwrap_or_default(),
                    shard: self.shard.map(|s| s.label()).unwrap_or_default(),
                },
            });
        }
        out
    }
}

/// One hook program to run.
#[derive(Clone, Debug)]
pub struct HookJob {
    pub hook: AlertHook,
    pub node: NodeKey,
    pub event: HookEvent,
}

/// Told how each run ended: `Ok` when the program exited 0, else why not. The
/// notifier counts runs with it, like any channel's deliveries.
pub type OnDone = std::sync::Arc<dyn Fn(&HookJob, Result<(), String>) + Send + Sync>;

/// Runs hook jobs: one worker per node runs every hook's jobs for it in order, never
/// two hook programs at once for the same node. Fed by a bounded queue (from the
/// notifier's router, or the hub's own when nothing notifies), so a slow hook never
/// delays polling.
pub async fn run_jobs(mut jobs: mpsc::Receiver<HookJob>, on_done: OnDone) {
    let mut workers: HashMap<NodeKey, mpsc::Sender<HookJob>> = HashMap::new();
    let mut last_busy_warning: Option<std::time::Instant> = None;
    while let Some(job) = jobs.recv().await {
        let tx = workers.entry(job.node.clone()).or_insert_with(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(worker(rx, on_done.clone()));
            tx
        });
        if let Err(e) = tx.try_send(job) {
            let job = match e {
                mpsc::error::TrySendError::Full(j) | mpsc::error::TrySendError::Closed(j) => j,
            };
            if last_busy_warning.is_none_or(|t| t.elapsed() >= std::time::Duration::from_secs(60)) {
                last_busy_warning = Some(std::time::Instant::now());
                tracing::warn!(
                    "alert hooks for {} are busy ({QUEUE} queued); dropped the {} event (one warning per minute)",
                    job.event.node,
                    job.event.event.as_str()
                );
            }
        }
    }
}

async fn worker(mut rx: mpsc::Receiver<HookJob>, on_done: OnDone) {
    while let Some(job) = rx.recv().await {
        let program = job.hook.command.first().cloned().unwrap_or_default();
        let outcome = match run_once(&job.hook, &job.event).await {
            Some(status) if status.success() => Ok(()),
            Some(status) => Err(format!("{program:?} for {}: {status}", job.event.node)),
            None => Err(format!(
                "{program:?} for {} did not run to the end (could not start, or timed out)",
                job.event.node
            )),
        };
        on_done(&job, outcome);
    }
}

/// For runs nobody counts.
pub fn uncounted() -> OnDone {
    std::sync::Arc::new(|_, _| {})
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
    use crate::state::Fleet;
    use std::time::SystemTime;

    fn fleet_and_hooks(after: u32, on: &str) -> (Fleet, HookRules) {
        let text = format!(
            "[[alert]]\ncommand = [\"/bin/true\"]\non = {on}\nafter = {after}\n\
             [[node]]\nname = \"wall-07\"\nhost = \"h\"\ngroup = \"wall-A\"\n"
        );
        let cfg = Config::parse(&text, "t.toml").expect("config");
        (
            Fleet::new(&cfg, SystemTime::UNIX_EPOCH),
            HookRules::new(cfg.alerts.clone()),
        )
    }

    fn events(h: &mut HookRules, f: &Fleet, raws: &[Status]) -> Vec<(AlertOn, Status, Status)> {
        let node = &f.nodes()[0].view;
        raws.iter()
            .flat_map(|r| h.on_result(node, *r))
            .map(|j| (j.event.event, j.event.previous, j.event.status))
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
            shard: "2/4".into(),
        };
        let env: HashMap<_, _> = e.env().into_iter().collect();
        assert_eq!(env["SYNCGUARD_SHARD"], "2/4");
        assert_eq!(env["SYNCGUARD_NODE"], "wall-07");
        assert_eq!(env["SYNCGUARD_STATUS"], "free");
        assert_eq!(env["SYNCGUARD_PREVIOUS"], "synced");
        assert_eq!(env["SYNCGUARD_EVENT"], "unhealthy");
        assert_eq!(env.len(), 9);
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
            shard: String::new(),
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
        let node = &fleet.nodes()[0].view;
        let mut rules = HookRules::new(cfg.alerts.clone());
        let (tx, rx) = mpsc::channel(16);
        tokio::spawn(run_jobs(rx, uncounted()));
        // Unhealthy, recovered, unhealthy: three runs, queued one after another.
        for raw in [Status::Free, Status::Synced, Status::Free] {
            for job in rules.on_result(node, raw) {
                tx.send(job).await.expect("runner alive");
            }
        }
        let want = "start\nend\nstart\nend\nstart\nend\n";
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut lines = String::new();
        while std::time::Instant::now() < deadline {
            lines = std::fs::read_to_string(&log).unwrap_or_default();
            if lines.len() >= want.len() {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(lines, want);
    }
}

//! The dashboard's IO half: terminal set-up and restore, and the loop that draws the
//! hub's snapshots and turns keys into commands. A peer of `watch` and `--once`.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio::time::Instant;

use crate::config::Config;
use crate::config::append::{Appended, NewNode};
use crate::engine::Schedule;
use crate::hub::{Command, HubHandle, HubOptions};
use crate::model::{AckEnd, AckEvent, NodeKey, Observation};
use crate::platform::Signals;
use crate::present::quiet;
use crate::reload::{self, ConfigWatcher};
use crate::service::Service;
use crate::state::Snapshot;
use crate::store::History;
use crate::ui::adopt::{self, AdoptPrompt};
use crate::ui::view::{Notice, Request};
use crate::ui::{self, Action, Overlay, RecordView, Screen, SortKey, View, view};

/// Redraws are capped at this rate however fast results arrive.
const FRAME_INTERVAL: Duration = Duration::from_millis(100);
/// The clock and "since" columns move once a second even when nothing happens.
const TICK: Duration = Duration::from_secs(1);
/// How often the detail popup rereads its node's record from the history file.
const RECORD_EVERY: Duration = Duration::from_secs(10);

/// A node's record from the history file, or why there is none.
type Record = Result<crate::store::query::NodeRecord, String>;

/// Runs the dashboard until the user quits or a signal arrives.
pub async fn run(
    config: &Config,
    config_path: Option<std::path::PathBuf>,
    http: Option<crate::http::HttpPlan>,
    watch_config: bool,
    history: Option<Arc<History>>,
) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the dashboard needs a terminal; use --once for scripts and cron");
    }
    let signals = Signals::new().context("installing signal handlers")?;
    let watcher = reload::start(watch_config || config.watch_config, config_path.as_deref());
    let (stop, stopped) = oneshot::channel::<()>();
    let db = history.as_ref().map(|h| h.path().to_path_buf());
    // The fleet file the adopt keys write to (none in the demo).
    let fleet_file = config_path.clone();
    let options = HubOptions {
        history,
        notify: None,
        schedule: Schedule::Continuous,
        config_path,
        snapshot_every: Some(FRAME_INTERVAL),
        acks: Vec::new(),
        ignore_acked: false,
    };
    let service = Service::start(config, options, http, async {
        let _ = stopped.await;
    })
    .await?;
    let hub = &service.hub;
    tracing::info!(
        "watching {} nodes from {}",
        config.nodes.len(),
        config.source
    );
    if let Some(url) = &service.url {
        // Before the terminal switches screens, so it stays in the scrollback too.
        eprintln!("status page: {url}");
    }
    // try_init installs a panic hook that restores the terminal before the panic
    // message is printed, so the message lands on the normal screen.
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let mut dashboard = Dashboard::new(config, hub, db);
    dashboard.fleet_file = fleet_file;
    if let Some(url) = &service.url {
        dashboard.view.notice = Some(Notice::Info(format!("status page: {url}")));
    }
    let result = dashboard.run(&mut terminal, hub, signals, watcher).await;
    // Stop monitoring first (the history file gets its clean stop), then give the
    // terminal back. A terminal that has gone (SIGHUP, a closed window) cannot be
    // restored, nor told so: ratatui's own messages would go to a dead stderr,
    // and printing there panics.
    let _ = stop.send(());
    service.join().await;
    let restored = ratatui::try_restore().and_then(|()| terminal.show_cursor());
    if let Err(e) = restored {
        tracing::info!("the terminal is gone ({e}); not restoring it");
        std::mem::forget(terminal);
    }
    tracing::info!("dashboard closed");
    result
}

/// Who acks from this dashboard: the OS user (`USER`, `USERNAME` on Windows),
/// else `dashboard`.
fn os_user() -> String {
    ["USER", "USERNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .map(|u| u.trim().to_owned())
        .find(|u| !u.is_empty())
        .unwrap_or_else(|| "dashboard".to_owned())
}

fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// The dashboard's state between frames.
struct Dashboard {
    view: View,
    snap: Arc<Snapshot>,
    source: String,
    /// The detail popup's node and its recent results (asked of the hub).
    history: (Option<NodeKey>, Vec<Observation>),
    pending_history: Option<oneshot::Receiver<Vec<Observation>>>,
    /// The history file, read (never written) for the detail popup.
    db: Option<PathBuf>,
    /// The detail popup's node's record from the history file, and when it was read.
    record: (Option<NodeKey>, Option<Record>, Option<Instant>),
    pending_record: Option<oneshot::Receiver<Record>>,
    color: bool,
    /// The system zone, so clock times follow a DST change while the dashboard runs.
    tz: jiff::tz::TimeZone,
    /// The hub's answers to acks and unacks, for the footer: sent from tasks of
    /// their own, so a busy hub never holds the keys up.
    answers: (
        mpsc::UnboundedSender<Notice>,
        mpsc::UnboundedReceiver<Notice>,
    ),
    /// Who gives and removes acks here: the OS user.
    user: String,
    /// The fleet file `n`/`N` add unlisted senders to; `None` in the demo.
    fleet_file: Option<PathBuf>,
    /// The adopt write in progress (off the loop): what it did, or why not.
    pending_adopt: Option<oneshot::Receiver<Result<Appended, String>>>,
}

impl Dashboard {
    fn new(config: &Config, hub: &HubHandle, db: Option<PathBuf>) -> Dashboard {
        Dashboard {
            view: View::new(config.bell),
            snap: hub.snapshot(),
            source: config.source.clone(),
            history: (None, Vec::new()),
            pending_history: None,
            db,
            record: (None, None, None),
            pending_record: None,
            color: color_enabled(),
            tz: jiff::tz::TimeZone::system(),
            answers: mpsc::unbounded_channel(),
            user: os_user(),
            fleet_file: None,
            pending_adopt: None,
        }
    }

    async fn run(
        mut self,
        terminal: &mut DefaultTerminal,
        hub: &HubHandle,
        mut signals: Signals,
        mut watcher: Option<ConfigWatcher>,
    ) -> anyhow::Result<()> {
        let mut keys = EventStream::new();
        let mut events = hub.subscribe();
        let mut snapshots = hub.snapshots.clone();
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut dirty = true;
        let mut next_frame = Instant::now();
        loop {
            tokio::select! {
                maybe = keys.next() => match maybe {
                    Some(Ok(Event::Key(key))) => {
                        let Some(action) = ui::action_for(key, &self.view) else { continue };
                        if !self.act(action, hub).await {
                            return Ok(());
                        }
                        dirty = true;
                    }
                    Some(Ok(Event::Resize(..))) => dirty = true,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e).context("reading terminal events"),
                    None => return Ok(()),
                },
                ev = events.recv() => {
                    // A node in a maintenance window changes silently.
                    let mut ring = false;
                    match ev {
                        Ok(t) => ring = view::rings_bell(&t, &self.snap),
                        // Missed some: skip the backlog; the snapshot has the state.
                        Err(broadcast::error::RecvError::Lagged(_)) => events = events.resubscribe(),
                        Err(broadcast::error::RecvError::Closed) => return Ok(()),
                    }
                    // One ring per batch: once it rings, the rest need no
                    // look-up (a storm of 10,000 would be 10,000 searches).
                    while let Ok(t) = events.try_recv() {
                        ring = ring || view::rings_bell(&t, &self.snap);
                    }
                    self.view.order_dirty = true;
                    if ring && self.view.bell {
                        let out = terminal.backend_mut();
                        let _ = out.write_all(b"\x07").and_then(|()| out.flush());
                    }
                }
                changed = snapshots.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    let snap = snapshots.borrow_and_update().clone();
                    if snap.nodes.len() != self.snap.nodes.len() || self.view.sort == SortKey::Latency {
                        self.view.order_dirty = true;
                    }
                    self.snap = snap;
                    dirty = true;
                }
                Ok(history) = recv_opt(&mut self.pending_history) => {
                    self.pending_history = None;
                    self.history.1 = history;
                    dirty = true;
                }
                Ok(record) = recv_opt(&mut self.pending_record) => {
                    self.pending_record = None;
                    self.record.1 = Some(record);
                    dirty = true;
                }
                Ok(done) = recv_opt(&mut self.pending_adopt) => {
                    self.pending_adopt = None;
                    self.adopted(done, hub).await;
                    dirty = true;
                }
                Some(notice) = self.answers.1.recv() => {
                    self.view.notice = Some(notice);
                    dirty = true;
                }
                _ = tick.tick() => {
                    self.ask_history(hub).await;
                    dirty = true;
                }
                _ = tokio::time::sleep_until(next_frame), if dirty => {
                    self.draw(terminal)?;
                    dirty = false;
                    next_frame = Instant::now() + FRAME_INTERVAL;
                }
                // SIGHUP too: the terminal has gone. Reload is the `L` key, or a
                // changed file with --watch-config.
                _ = signals.next() => return Ok(()),
                () = reload::next_change(&mut watcher) => {
                    self.reload(hub).await;
                    dirty = true;
                }
            }
        }
    }

    /// Carries out one action; false to quit.
    async fn act(&mut self, action: Action, hub: &HubHandle) -> bool {
        if let Overlay::Adopt(prompt) = &mut self.view.overlay {
            match action {
                Action::Up | Action::Down => prompt.step(action == Action::Up),
                Action::Confirm => {
                    let nodes = prompt.nodes();
                    self.view.overlay = Overlay::None;
                    self.adopt(nodes);
                }
                Action::Quit => return false,
                _ => {
                    self.view.overlay = Overlay::None;
                    self.view.notice = Some(Notice::Info("nothing added".into()));
                }
            }
            return true;
        }
        match action {
            Action::Adopt | Action::AdoptAll => {
                self.view.notice = None;
                if self.pending_adopt.is_some() {
                    self.view.notice = Some(Notice::Info("still adding the last ones…".into()));
                    return true;
                }
                match AdoptPrompt::ask(
                    &self.snap,
                    action == Action::AdoptAll,
                    self.fleet_file.as_deref(),
                ) {
                    Ok(p) => self.view.overlay = Overlay::Adopt(p),
                    Err(why) => self.view.notice = Some(Notice::Failed(why)),
                }
                return true;
            }
            Action::Repoll => {
                if let Some(key) = self.view.selected_key() {
                    let _ = hub.commands.send(Command::Repoll(key.clone())).await;
                }
            }
            Action::RepollAll => {
                let _ = hub.commands.send(Command::RepollAll).await;
            }
            Action::Reload => self.reload(hub).await,
            _ => {}
        }
        let keep = self.view.handle(action, &self.snap);
        if let Some(request) = self.view.take_request() {
            self.send(request, hub);
        }
        self.ask_history(hub).await;
        keep
    }

    /// Sends an ack or unack to the hub off the loop; the answer (what was done,
    /// or why not) comes back for the footer.
    fn send(&self, request: Request, hub: &HubHandle) {
        let desk = hub.acks();
        let by = self.user.clone();
        let answers = self.answers.0.clone();
        tokio::spawn(async move {
            let notice = match request {
                Request::Ack {
                    target,
                    reason,
                    lasts,
                } => match desk.ack(target, by, reason, lasts).await {
                    Ok(ack) => Notice::Done(quiet::ack_event(&AckEvent::Added(ack))),
                    Err(e) => Notice::Failed(format!("not acknowledged: {e}")),
                },
                Request::Unack { target } => match desk.unack(target, by.clone()).await {
                    Ok(ack) => Notice::Done(quiet::ack_event(&AckEvent::Ended {
                        ack,
                        why: AckEnd::Removed,
                        by: Some(by),
                        at: SystemTime::now(),
                    })),
                    Err(e) => Notice::Failed(format!("ack not removed: {e}")),
                },
            };
            let _ = answers.send(notice);
        });
    }

    /// Writes `nodes` into the fleet file off the loop (a slow disk must not
    /// freeze the keys); [`Dashboard::adopted`] takes the answer.
    fn adopt(&mut self, nodes: Vec<NewNode>) {
        let Some(path) = self.fleet_file.clone() else {
            return;
        };
        self.view.notice = Some(Notice::Info(format!(
            "adding {} to {}…",
            nodes.len(),
            path.display()
        )));
        let (tx, rx) = oneshot::channel();
        self.pending_adopt = Some(rx);
        // The shard in force: the write is checked as this instance will load it.
        let shard = self.snap.shard;
        tokio::task::spawn_blocking(move || {
            let _ = tx.send(crate::config::append::append_to_file(&path, &nodes, shard));
        });
    }

    /// The adopt write's answer: on success the config is reloaded (as `L`
    /// does), and the footer says both.
    async fn adopted(&mut self, done: Result<Appended, String>, hub: &HubHandle) {
        let file = self
            .fleet_file
            .as_deref()
            .map(|p| p.display().to_string())
            .unwrap_or_default();
        let done = match done {
            Ok(d) => d,
            Err(e) => {
                self.view.notice = Some(Notice::Failed(format!("nothing added: {e}")));
                return;
            }
        };
        let reload = if done.added.is_empty() {
            Ok(String::new())
        } else {
            let r = hub.reload().await.map(|r| r.to_string());
            self.view.after_reload();
            r
        };
        let (good, text) = adopt::outcome(
            done.added.len(),
            done.already,
            &file,
            reload.as_deref().map_err(String::as_str),
        );
        self.view.notice = Some(if good {
            Notice::Done(text)
        } else {
            Notice::Failed(text)
        });
    }

    /// Re-reads the config (`L`, or the file changed) and says how it went.
    async fn reload(&mut self, hub: &HubHandle) {
        self.view.notice = Some(match hub.reload().await {
            Ok(r) => Notice::Reloaded(r.to_string()),
            Err(e) => Notice::Failed(e),
        });
        self.view.after_reload();
    }

    /// While the detail popup is open, keep its node's recent results current.
    async fn ask_history(&mut self, hub: &HubHandle) {
        let Overlay::Detail(key) = &self.view.overlay else {
            self.history = (None, Vec::new());
            return;
        };
        let key = key.clone();
        if self.history.0.as_ref() != Some(&key) {
            self.history = (Some(key.clone()), Vec::new());
        }
        self.ask_record(key.clone());
        let (tx, rx) = oneshot::channel();
        if hub
            .commands
            .try_send(Command::History(key.clone(), tx))
            .is_ok()
        {
            self.pending_history = Some(rx);
        }
    }

    /// The detail popup's node's record from the history file: read off the
    /// loop (a slow or locked disk must not freeze the screen), again every
    /// [`RECORD_EVERY`] while the popup stays open.
    fn ask_record(&mut self, key: NodeKey) {
        let Some(db) = self.db.clone() else {
            return;
        };
        let fresh = self.record.0.as_ref() == Some(&key)
            && self.record.2.is_some_and(|t| t.elapsed() < RECORD_EVERY);
        if fresh || self.pending_record.is_some() {
            return;
        }
        if self.record.0.as_ref() != Some(&key) {
            self.record = (Some(key.clone()), None, None);
        }
        self.record.2 = Some(Instant::now());
        let (tx, rx) = oneshot::channel();
        self.pending_record = Some(rx);
        tokio::task::spawn_blocking(move || {
            let now = crate::store::ms(SystemTime::now());
            let record = crate::store::schema::open_for_reading(&db)
                .map_err(|e| e.to_string())
                .and_then(|conn| {
                    crate::store::query::node_record(&conn, key.as_str(), now)
                        .map_err(|e| e.to_string())
                });
            let _ = tx.send(record);
        });
    }

    fn draw(&mut self, terminal: &mut DefaultTerminal) -> anyhow::Result<()> {
        let snap = self.snap.clone();
        terminal
            .draw(|frame| {
                self.view.refresh_order(&snap);
                self.view
                    .scroll_into_view(ui::render::table_rows(frame.area(), &snap));
                let screen = Screen {
                    snap: &snap,
                    history: &self.history.1,
                    record: match (&self.db, &self.record.1) {
                        (None, _) => RecordView::Off,
                        (Some(_), None) => RecordView::Loading,
                        (Some(_), Some(Ok(r))) => RecordView::Ready(r),
                        (Some(_), Some(Err(e))) => RecordView::Failed(e),
                    },
                    view: &self.view,
                    source: &self.source,
                    now: SystemTime::now(),
                    tz: self.tz.clone(),
                    color: self.color,
                };
                ui::render(frame, &screen);
            })
            .context("drawing the dashboard")?;
        Ok(())
    }
}

async fn recv_opt<T>(rx: &mut Option<oneshot::Receiver<T>>) -> Result<T, ()> {
    match rx {
        Some(rx) => rx.await.map_err(|_| ()),
        None => std::future::pending().await,
    }
}

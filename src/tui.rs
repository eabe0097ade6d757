//! The dashboard's IO half: terminal set-up and restore, and the one event loop that
//! owns the fleet state (terminal events, poll results, ticks and signals).

use std::io::{IsTerminal, Write};
use std::time::{Duration, SystemTime};

use anyhow::Context;
use crossterm::event::{Event, EventStream};
use futures::StreamExt;
use ratatui::DefaultTerminal;
use tokio::signal::unix::{SignalKind, signal};
use tokio::time::Instant;

use crate::config::Config;
use crate::monitor::Input;
use crate::owner::Owner;
use crate::status::Status;
use crate::ui::{self, Action, Screen, SortKey, View};

/// Redraws are capped at this rate however fast results arrive.
const FRAME_INTERVAL: Duration = Duration::from_millis(100);
/// The clock and "since" columns move once a second even when nothing happens.
const TICK: Duration = Duration::from_secs(1);
/// Results applied per wake-up before the loop looks at keys again.
const RESULT_BATCH: usize = 4096;

/// Runs the dashboard until the user quits or a signal arrives.
pub async fn run(
    config: &Config,
    config_path: Option<std::path::PathBuf>,
    metrics: Option<std::net::SocketAddr>,
) -> anyhow::Result<()> {
    if !std::io::stdout().is_terminal() {
        anyhow::bail!("the dashboard needs a terminal; use --once for scripts and cron");
    }
    let owner = Owner::start(config, config_path, metrics).await?;
    tracing::info!(
        "watching {} nodes from {}",
        owner.fleet.nodes.len(),
        config.source
    );
    // try_init installs a panic hook that restores the terminal before the panic
    // message is printed, so the message lands on the normal screen.
    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let result = event_loop(&mut terminal, config, owner).await;
    ratatui::restore();
    tracing::info!("dashboard closed");
    result
}

fn local_offset() -> chrono::FixedOffset {
    *chrono::Local::now().offset()
}

fn color_enabled() -> bool {
    std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

async fn event_loop(
    terminal: &mut DefaultTerminal,
    config: &Config,
    mut owner: Owner,
) -> anyhow::Result<()> {
    let mut view = View::new(config.bell);
    let mut events = EventStream::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut sigterm = signal(SignalKind::terminate()).context("SIGTERM handler")?;
    let mut sighup = signal(SignalKind::hangup()).context("SIGHUP handler")?;
    let mut sigint = signal(SignalKind::interrupt()).context("SIGINT handler")?;
    let color = color_enabled();
    let tz = local_offset();
    let mut dirty = true;
    let mut next_frame = Instant::now();
    loop {
        tokio::select! {
            maybe = events.next() => match maybe {
                Some(Ok(Event::Key(key))) => {
                    let Some(action) = ui::action_for(key, &view) else { continue };
                    match action {
                        Action::Repoll => {
                            if let Some(id) = view.selected_node() {
                                owner.monitor.pollers.poll_now(id);
                            }
                        }
                        Action::RepollAll => owner.monitor.pollers.poll_all_now(),
                        Action::Reload => {
                            view.notice = Some(match owner.reload().await {
                                Ok(summary) => summary,
                                Err(e) => format!("{e:#}"),
                            });
                            view.after_reload();
                        },
                        _ => {}
                    }
                    if !view.apply(action) {
                        return Ok(());
                    }
                    dirty = true;
                }
                Some(Ok(Event::Resize(..))) => dirty = true,
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e).context("reading terminal events"),
                None => return Ok(()),
            },
            Some(first) = owner.next() => {
                let mut ring = apply(&mut owner, &mut view, first);
                // Drain what is already queued, so a burst costs one redraw.
                for _ in 1..RESULT_BATCH {
                    match owner.try_next() {
                        Some(input) => ring |= apply(&mut owner, &mut view, input),
                        None => break,
                    }
                }
                if ring && view.bell {
                    let out = terminal.backend_mut();
                    let _ = out.write_all(b"\x07").and_then(|()| out.flush());
                }
                dirty = true;
            }
            _ = tick.tick() => {
                let stale = owner.tick(SystemTime::now());
                if !stale.is_empty() {
                    view.order_dirty = true;
                    if view.bell && stale.iter().any(|t| t.from == Status::Synced) {
                        let out = terminal.backend_mut();
                        let _ = out.write_all(b"\x07").and_then(|()| out.flush());
                    }
                }
                dirty = true;
            }
            _ = tokio::time::sleep_until(next_frame), if dirty => {
                terminal
                    .draw(|frame| {
                        let fleet = &owner.fleet;
                        view.refresh_order(fleet);
                        view.scroll_into_view(ui::render::table_rows(frame.area(), fleet));
                        let screen = Screen {
                            fleet,
                            view: &view,
                            source: &config.source,
                            now: SystemTime::now(),
                            tz,
                            color,
                        };
                        ui::render(frame, &screen);
                    })
                    .context("drawing the dashboard")?;
                dirty = false;
                next_frame = Instant::now() + FRAME_INTERVAL;
            }
            _ = sigterm.recv() => return Ok(()),
            _ = sighup.recv() => return Ok(()),
            _ = sigint.recv() => return Ok(()),
        }
    }
}

/// Applies one input; true when it should ring the bell (a healthy node turned bad).
fn apply(owner: &mut Owner, view: &mut View, input: Input) -> bool {
    let Some(t) = owner.apply(input) else {
        if view.sort == SortKey::Latency {
            view.order_dirty = true;
        }
        return false;
    };
    view.order_dirty = true;
    t.from == Status::Synced && t.to.is_problem()
}

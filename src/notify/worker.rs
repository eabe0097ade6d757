//! One channel's delivery: its notifications in order, one at a time, each tried
//! until a receiver takes it or `give_up_after` passes. Backoff doubles from 1 s
//! to 5 minutes, or waits as long as a 429/503 `Retry-After` asks. A channel that
//! fails waits on its own: the others and the monitoring go on.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use tokio::sync::mpsc;
use tokio::time::Instant;

use super::deliver::{Failure, Sender};
use super::notification::Item;
use super::stats::ChannelStats;
use crate::config::ChannelKind;
use crate::store::ms;
use crate::store::outbox::{Outbox, State, Stored};

/// First retry after this; doubled per failure up to [`BACKOFF_MAX`].
const BACKOFF_MIN: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(300);
/// When the monitor stops, what is due is tried for at most this long; the rest
/// waits in the outbox for the next start.
pub const STOP_GRACE: Duration = Duration::from_secs(3);

/// What the router hands a worker.
#[derive(Debug)]
pub enum Work {
    /// A stored notification to deliver.
    Send(Stored),
    /// Alertmanager: the firing items to re-send every minute.
    Active(Vec<Item>),
}

struct Waiting {
    stored: Stored,
    next: Instant,
    /// URLs that took it already.
    done: Vec<bool>,
}

pub struct Worker {
    pub sender: Sender,
    pub outbox: Arc<Outbox>,
    pub stats: Arc<ChannelStats>,
    pub page_url: Option<String>,
}

impl Worker {
    pub async fn run(self, mut work: mpsc::Receiver<Work>) {
        let mut queue: VecDeque<Waiting> = VecDeque::new();
        let mut active: Vec<Item> = Vec::new();
        let am = self.sender.channel().kind == ChannelKind::Alertmanager;
        let mut refresh = tokio::time::interval(super::message::RESEND);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut last_refresh_error: Option<std::time::Instant> = None;
        loop {
            self.publish(&queue);
            let head_at = queue.front().map(|w| w.next);
            tokio::select! {
                // New work first: a newer active set must replace the old one
                // before a re-send, or a resolved alert is posted as firing.
                biased;
                w = work.recv() => match w {
                    Some(Work::Send(stored)) => queue.push_back(Waiting {
                        stored,
                        next: Instant::now(),
                        done: Vec::new(),
                    }),
                    Some(Work::Active(items)) => active = items,
                    None => break,
                },
                () = sleep_until(head_at), if head_at.is_some() => {
                    if let Some(mut w) = queue.pop_front()
                        && !self.attempt(&mut w).await
                    {
                        queue.push_front(w);
                    }
                }
                _ = refresh.tick(), if am && (!active.is_empty() || self.sender.channel().watchdog) => {
                    let now = ms(SystemTime::now());
                    if let Err(f) = self.sender.refresh(&active, self.page_url.as_deref(), now).await
                        && last_refresh_error.is_none_or(|t| t.elapsed() >= Duration::from_secs(600))
                    {
                        last_refresh_error = Some(std::time::Instant::now());
                        tracing::warn!(
                            "notify {}: re-sending the active alerts failed: {} (next try in a minute; one warning per 10 minutes)",
                            self.stats.name,
                            f.why()
                        );
                    }
                }
            }
        }
        // Stopping: one last try at what is due, briefly.
        let deadline = Instant::now() + STOP_GRACE;
        while let Some(mut w) = queue.pop_front() {
            if Instant::now() >= deadline || w.next > Instant::now() {
                queue.push_front(w);
                break;
            }
            match tokio::time::timeout_at(deadline, self.attempt(&mut w)).await {
                Ok(true) => {}
                _ => {
                    queue.push_front(w);
                    break;
                }
            }
        }
        if !queue.is_empty() && self.outbox.path().is_some() {
            tracing::info!(
                "notify {}: {} notification(s) wait in the outbox for the next start",
                self.stats.name,
                queue.len()
            );
        } else if !queue.is_empty() {
            tracing::warn!(
                "notify {}: {} notification(s) not delivered are lost (history is off, so the outbox is in memory)",
                self.stats.name,
                queue.len()
            );
        }
        self.publish(&queue);
    }

    fn publish(&self, queue: &VecDeque<Waiting>) {
        self.stats
            .queue_depth
            .store(queue.len() as u64, Ordering::Relaxed);
        let oldest = queue
            .front()
            .map_or(0, |w| w.stored.notification.created_ms.max(1));
        self.stats
            .oldest_pending_ms
            .store(oldest, Ordering::Relaxed);
    }

    /// One attempt; true when the notification is finished (delivered or given up).
    async fn attempt(&self, w: &mut Waiting) -> bool {
        let n = &w.stored.notification;
        let now = ms(SystemTime::now());
        let result = self.sender.send(n, now, &mut w.done).await;
        w.stored.attempts += 1;
        let attempts = w.stored.attempts;
        let now = ms(SystemTime::now());
        match result {
            Ok(delivered) => {
                self.stats.count(&self.stats.delivered);
                let answer = delivered.answer;
                if delivered.missed.is_empty() {
                    self.stats.set_problem(None);
                } else {
                    // Delivered, but a member of the cluster did not take it:
                    // said, so a dead Alertmanager does not go unnoticed.
                    let missed = delivered.missed.join("; ");
                    tracing::warn!(
                        "notify {}: {} not taken by {missed} (the others took it)",
                        self.stats.name,
                        n.id
                    );
                    self.stats
                        .set_problem(Some(format!("not taken by {missed}")));
                }
                tracing::info!(
                    "notify {}: delivered {} \"{}\" ({answer}{})",
                    self.stats.name,
                    n.id,
                    n.title,
                    if attempts > 1 {
                        format!(", attempt {attempts}")
                    } else {
                        String::new()
                    }
                );
                self.store(&n.id, State::Delivered, attempts, now, None)
                    .await;
                true
            }
            Err(Failure::Permanent(why)) => {
                self.give_up(n, attempts, now, &format!("refused: {why}"))
                    .await;
                true
            }
            Err(Failure::Retry { after, why }) => {
                let give_up_at = n
                    .created_ms
                    .saturating_add(self.sender.channel().give_up_after.as_millis() as i64);
                if now >= give_up_at {
                    self.give_up(n, attempts, now, &why).await;
                    return true;
                }
                // Counted only when another try follows; the last is `given_up`.
                self.stats.count(&self.stats.failed);
                let backoff = BACKOFF_MIN
                    .saturating_mul(1u32 << (attempts - 1).min(16))
                    .min(BACKOFF_MAX);
                let wait = after.unwrap_or(backoff).max(BACKOFF_MIN);
                // Never sleep past the moment to give up: one last try then.
                let wait = wait.min(Duration::from_millis((give_up_at - now).max(0) as u64));
                w.next = Instant::now() + wait;
                self.stats.set_problem(Some(why.clone()));
                tracing::warn!(
                    "notify {}: {} \"{}\" not delivered (attempt {attempts}): {why}; next try in {}",
                    self.stats.name,
                    n.id,
                    n.title,
                    humantime::format_duration(Duration::from_secs(wait.as_secs().max(1)))
                );
                self.store(&n.id, State::Pending, attempts, now, Some(&why))
                    .await;
                false
            }
        }
    }

    async fn give_up(
        &self,
        n: &super::notification::Notification,
        attempts: u32,
        now: i64,
        why: &str,
    ) {
        self.stats.count(&self.stats.given_up);
        self.stats.set_problem(Some(why.to_owned()));
        tracing::error!(
            "notify {}: gave up on {} \"{}\" after {attempts} attempt(s): {why}",
            self.stats.name,
            n.id,
            n.title
        );
        self.store(&n.id, State::GivenUp, attempts, now, Some(why))
            .await;
    }

    async fn store(&self, id: &str, state: State, attempts: u32, now: i64, why: Option<&str>) {
        let outbox = self.outbox.clone();
        let id = id.to_owned();
        let why = why.map(str::to_owned);
        let result = tokio::task::spawn_blocking(move || {
            outbox.mark(&id, state, attempts, now, why.as_deref())
        })
        .await;
        if let Ok(Err(e)) | Err(e) = result.map_err(|e| e.to_string()) {
            tracing::warn!(
                "notify {}: could not record the delivery state in the outbox: {e}",
                self.stats.name
            );
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    if let Some(at) = at {
        tokio::time::sleep_until(at).await;
    }
}

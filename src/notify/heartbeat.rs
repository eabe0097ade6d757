//! `[heartbeat]`: a dead-man's switch. While the monitor runs it pings a URL
//! (healthchecks.io style) every interval; when the pings stop, something else
//! raises the alarm that this monitor cannot raise about itself.

use std::time::Duration;

use crate::config::HeartbeatConfig;

use super::deliver::redact;

/// Pings until the task is aborted. Failures are logged, at most once per 10
/// minutes while they last, and the recovery once.
pub async fn run(h: HeartbeatConfig) {
    let client = match reqwest::Client::builder()
        .timeout(h.timeout)
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("syncguard-fleet/", env!("CARGO_PKG_VERSION")))
        .build()
    {
        Ok(c) => c,
        Err(e) => {
            tracing::error!("heartbeat: cannot make the HTTP client: {e}; no heartbeat");
            return;
        }
    };
    let shown = redact(&h.url, h.url_secret);
    tracing::info!(
        "heartbeat: pinging {shown} every {}",
        humantime::format_duration(h.interval)
    );
    let mut tick = tokio::time::interval(h.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing_since: Option<std::time::Instant> = None;
    let mut last_warning: Option<std::time::Instant> = None;
    loop {
        tick.tick().await;
        let result = match client.get(h.url.clone()).send().await {
            Ok(r) if r.status().is_success() => Ok(()),
            Ok(r) => Err(format!("HTTP {}", r.status().as_u16())),
            Err(e) => Err(if e.is_timeout() {
                "timed out".to_owned()
            } else {
                // Without the URL, which may be the secret.
                e.without_url().to_string()
            }),
        };
        match result {
            Ok(()) => {
                if failing_since.take().is_some() {
                    tracing::info!("heartbeat: {shown} answers again");
                }
            }
            Err(why) => {
                failing_since.get_or_insert_with(std::time::Instant::now);
                if last_warning.is_none_or(|t| t.elapsed() >= Duration::from_secs(600)) {
                    last_warning = Some(std::time::Instant::now());
                    tracing::warn!(
                        "heartbeat: ping to {shown} failed: {why} (one warning per 10 minutes)"
                    );
                }
            }
        }
    }
}

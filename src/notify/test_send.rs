//! `syncguard-fleet notify test`: one test notification through each channel,
//! now, past the outbox, so a new channel can be checked before it matters.

use std::time::SystemTime;

use super::notification::{Item, Kind, Notification, SubjectKind};
use super::{deliver, new_id};
use crate::config::{Config, NotifyChannel};
use crate::present;
use crate::store::ms;

/// The test notification for `channel`, sent from `host`: one stand-in item.
pub fn notification(channel: &str, host: &str, id: String, now_ms: i64) -> Notification {
    Notification {
        id,
        channel: channel.to_owned(),
        created_ms: now_ms,
        kind: Kind::Test,
        title: format!("test notification from syncguard-fleet on {host}"),
        items: vec![Item {
            kind: SubjectKind::Node,
            name: "test".into(),
            group: None,
            status: "test".into(),
            firing: false,
            since_ms: now_ms,
            started_ms: now_ms,
            detail: "sent by `syncguard-fleet notify test`".into(),
            was: None,
        }],
        page_url: None,
    }
}

/// `notify test`: one test notification through each channel (or the one named),
/// now, bypassing the outbox. One line per channel; true if all succeeded.
pub async fn send_test(
    config: &Config,
    only: Option<&str>,
    out: &mut impl std::io::Write,
) -> anyhow::Result<bool> {
    let channels: Vec<&NotifyChannel> = config
        .notify
        .iter()
        .filter(|c| only.is_none_or(|o| o == c.name))
        .collect();
    if channels.is_empty() {
        anyhow::bail!(match only {
            Some(name) => format!("no [[notify]] channel named {name:?} in {}", config.source),
            None => format!("{} has no [[notify]] channels", config.source),
        });
    }
    let host =
        present::name(&crate::platform::hostname().unwrap_or_else(|| "this host".to_owned()));
    let mut all_ok = true;
    for c in channels {
        let now = ms(SystemTime::now());
        let n = notification(&c.name, &host, new_id(), now);
        let started = std::time::Instant::now();
        let result = match deliver::Sender::new(c).map(|s| s.with_shard(config.shard)) {
            // A test passes only when every receiver took it, Alertmanager's too.
            Ok(s) => match s.send(&n, now, &mut Vec::new()).await {
                Ok(d) if d.missed.is_empty() => Ok(d.answer),
                Ok(d) => Err(format!(
                    "{}; not taken by {}",
                    d.answer,
                    d.missed.join("; ")
                )),
                Err(f) => Err(f.why().to_owned()),
            },
            Err(e) => Err(e),
        };
        let took = present::format_latency(started.elapsed());
        match result {
            Ok(answer) => writeln!(
                out,
                "{}: ok ({}, {answer}, {took})",
                c.name,
                c.kind.as_str()
            )?,
            Err(why) => {
                all_ok = false;
                writeln!(out, "{}: FAILED ({}): {why}", c.name, c.kind.as_str())?;
            }
        }
    }
    Ok(all_ok)
}

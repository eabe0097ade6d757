//! `config check`: a one-screen summary of a fleet file that loaded, like
//! `nginx -t`. Nothing is contacted; the summary says what the monitor would
//! watch, where it would listen and serve, and where it would write and send.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

use crate::config::{Config, TokenSource};

/// At most this many names on one line; the rest are counted.
const LIST: usize = 6;

/// The summary of `config`, narrowed from `whole` by `--node`/`--group`/
/// `--shard` (the same config when there is no selection). `config_path` is
/// where the file is, for the default history place.
pub fn summary(whole: &Config, config: &Config, config_path: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{}: ok (the file is valid; nothing was contacted)",
        config.source
    );
    let mut line = |key: &str, text: String| {
        let _ = writeln!(out, "  {key:<10} {text}");
    };

    let poll = config.poll_nodes().count();
    let push = config.push_nodes().count();
    let mut groups: BTreeMap<&str, usize> = BTreeMap::new();
    for n in &config.nodes {
        if let Some(g) = &n.group {
            *groups.entry(g.as_str()).or_default() += 1;
        }
    }
    line(
        "nodes",
        format!(
            "{} ({poll} poll, {push} push) in {} sync group{}",
            config.nodes.len(),
            groups.len(),
            plural(groups.len())
        ),
    );
    if let Some(shard) = config.shard {
        line(
            "shard",
            format!(
                "{shard}: {} of the file's {} nodes (docs/sharding.md)",
                config.nodes.len(),
                whole.nodes.len()
            ),
        );
    }
    let sel = &config.selection;
    if !sel.nodes.is_empty() || !sel.groups.is_empty() {
        let flags: Vec<String> = sel
            .nodes
            .iter()
            .map(|g| format!("--node {g:?}"))
            .chain(sel.groups.iter().map(|g| format!("--group {g:?}")))
            .collect();
        line("selected", flags.join(" "));
    }
    if config.shard.is_some() || !sel.nodes.is_empty() || !sel.groups.is_empty() {
        line(
            "watching",
            listing(config.nodes.iter().map(|n| n.name.clone())),
        );
    }
    if !groups.is_empty() {
        // A group chosen in part has no group rule here: say so beside it.
        let of_whole = |g: &str| {
            whole
                .nodes
                .iter()
                .filter(|n| n.group.as_deref() == Some(g))
                .count()
        };
        line(
            "groups",
            listing(groups.iter().map(|(g, n)| {
                if config.partial_groups.contains(*g) {
                    format!("{g} ({n} of {}, each judged alone)", of_whole(g))
                } else {
                    format!("{g} ({n})")
                }
            })),
        );
    }
    if poll > 0 {
        let d = &config.defaults;
        line(
            "poll",
            format!(
                "every {} (backing off to {}), timeout {}, port {} unless a node says",
                human(d.interval),
                human(d.max_interval),
                human(d.timeout),
                d.port
            ),
        );
    }
    line(
        "listen",
        match &config.listen {
            Some(l) => format!(
                "{} (stale after {}; unlisted senders {}; up to {} connections{})",
                l.bind
                    .iter()
                    .map(|a| a.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
                human(l.stale_after),
                if l.allow_unlisted { "shown" } else { "closed" },
                l.max_connections,
                if l.allow_from.is_empty() {
                    String::new()
                } else {
                    format!("; from {} network(s) only", l.allow_from.len())
                }
            ),
            None => "off (no [listen] and no push nodes)".into(),
        },
    );
    let h = &config.http;
    line(
        "http",
        match h.bind {
            Some(bind) => format!(
                "{bind}: status page, API, /metrics; {}",
                match &h.token {
                    // The token is read when the server starts, not when the
                    // file is loaded: say here if it would be missing.
                    Some(TokenSource::Env(v)) => format!(
                        "token from ${v}{}",
                        if std::env::var(v).is_ok_and(|t| !t.trim().is_empty()) {
                            ""
                        } else {
                            " (not set in this environment)"
                        }
                    ),
                    Some(TokenSource::File(p)) => format!(
                        "token from {}{}",
                        p.display(),
                        if std::fs::metadata(p).is_ok_and(|m| m.is_file()) {
                            ""
                        } else {
                            " (no such file here)"
                        }
                    ),
                    None => "no token (acknowledging from the page and API is off)".into(),
                }
            ),
            None => "off (no [http] bind; --http ADDR turns it on)".into(),
        },
    );
    let hist = &config.history;
    line(
        "history",
        if hist.enabled {
            let path = hist
                .path
                .clone()
                .unwrap_or_else(|| crate::platform::paths::history_path(Some(config_path)));
            format!("{}, kept {}", path.display(), human(hist.retention))
        } else {
            "off ([history] enabled = false)".into()
        },
    );
    line(
        "notify",
        if config.notify.is_empty() {
            "no channels".into()
        } else {
            counted(
                "channel",
                config
                    .notify
                    .iter()
                    .map(|c| format!("{} ({})", c.name, c.kind.as_str())),
            )
        },
    );
    if let Some(hb) = &config.heartbeat {
        line("heartbeat", format!("every {}", human(hb.interval)));
    }
    if !config.alerts.is_empty() {
        line(
            "alerts",
            counted(
                "[[alert]] program",
                config
                    .alerts
                    .iter()
                    .map(|a| a.command.first().cloned().unwrap_or_default()),
            ),
        );
    }
    line(
        "windows",
        if config.maintenance.is_empty() {
            "no maintenance windows".into()
        } else {
            listing(config.maintenance.iter().map(|w| {
                format!(
                    "{} ({})",
                    w.name,
                    crate::present::quiet::window_schedule(&w.when)
                )
            }))
        },
    );
    // The whole file's: in a shard, the push nodes may all be another's.
    if config.listen.is_some() && whole.push_nodes().next().is_none() && poll > 0 {
        line(
            "note",
            "[listen] is on but no node is a push node: every sender will be unlisted".into(),
        );
    }
    out
}

/// `2 channels: a (webhook), b (email)`: how many, then [`listing`].
fn counted(noun: &str, items: impl ExactSizeIterator<Item = String>) -> String {
    let n = items.len();
    format!("{n} {noun}{}: {}", plural(n), listing(items))
}

/// Up to [`LIST`] items, then how many more.
fn listing(items: impl Iterator<Item = String>) -> String {
    let items: Vec<String> = items.collect();
    let mut text = items
        .iter()
        .take(LIST)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > LIST {
        let _ = write!(text, ", … and {} more", items.len() - LIST);
    }
    text
}

fn human(d: std::time::Duration) -> String {
    crate::config::duration_text(d)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_names_every_part() {
        let text = "[listen]\nbind = [\"127.0.0.1:9100\"]\n\
            [http]\nbind = \"127.0.0.1:9184\"\ntoken_env = \"SG_TOKEN_FOR_TEST_UNSET\"\n\
            [history]\nenabled = false\n\
            [[notify]]\nname = \"oncall\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/h\"\n\
            [[maintenance]]\nname = \"nightly\"\ngroups = [\"wall-A\"]\nevery = [\"mon\"]\nat = \"03:00\"\nduration = \"1h\"\ntimezone = \"UTC\"\n\
            [[node]]\nname = \"a-1\"\nhost = \"10.0.0.1\"\ngroup = \"wall-A\"\n\
            [[node]]\nname = \"a-2\"\nhost = \"10.0.0.2\"\ngroup = \"wall-A\"\n\
            [[node]]\nname = \"p-1\"\nhost = \"10.0.1.1\"\nmode = \"push\"\n";
        let config = Config::parse(text, "fleet.toml").expect("valid");
        let out = summary(&config, &config, Path::new("fleet.toml"));
        insta::assert_snapshot!(out);
    }
}

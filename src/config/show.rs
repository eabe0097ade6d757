//! `config show`: the configuration the monitor runs with, as TOML. Ranges and
//! `nodes_file` rows are expanded, every default is written out, and each node
//! carries its own settings, so the answer to "what does the monitor think
//! wall-a-07's timeout is?" is one search away.
//!
//! The output is itself a valid fleet file that loads to the same nodes and
//! settings, with one exception: secrets. Tokens, webhook secrets, passwords
//! and URLs from `url_env`/`url_file` are never printed; a comment marks where
//! one is set, and the key must be added back to use the output as a file.

use std::time::Duration;

use toml_edit::{Array, ArrayOfTables, DocumentMut, Item, Table, value};

use super::{
    AlertHook, ChannelKind, Config, HeartbeatConfig, MaintenanceWindow, Mode, NodeConfig,
    NotifyChannel, SmtpTls, TokenSource, WindowTime,
};

/// The effective configuration of `config`, as TOML; `config_path` is where
/// the file is, for the default history place.
pub fn show(config: &Config, config_path: Option<&std::path::Path>) -> String {
    let mut doc = DocumentMut::new();
    let mut head = format!(
        "# The effective configuration of {} (syncguard-fleet {}):\n\
         # ranges and node lists expanded, defaults filled in. Secrets are not shown.\n",
        config.source,
        env!("CARGO_PKG_VERSION")
    );
    let sel = &config.selection;
    if !sel.nodes.is_empty() || !sel.groups.is_empty() {
        head.push_str(&format!(
            "# Only the nodes selected by{}{}.\n",
            sel.nodes
                .iter()
                .map(|g| format!(" --node {g:?}"))
                .collect::<String>(),
            sel.groups
                .iter()
                .map(|g| format!(" --group {g:?}"))
                .collect::<String>()
        ));
    }
    doc.decor_mut().set_prefix(head + "\n");

    let d = &config.defaults;
    let mut t = Table::new();
    t["port"] = value(i64::from(d.port));
    t["interval"] = duration(d.interval);
    t["max_interval"] = duration(d.max_interval);
    t["timeout"] = duration(d.timeout);
    t["backoff"] = duration(d.backoff);
    t["request"] = request(&d.request);
    t["unreachable"] = value(match d.unreachable {
        crate::model::UnreachablePolicy::Critical => "critical",
        crate::model::UnreachablePolicy::Warning => "warning",
    });
    t["max_connecting"] = value(d.max_connecting as i64);
    t["confirm_unhealthy"] = value(i64::from(d.confirm_unhealthy));
    t["confirm_healthy"] = value(i64::from(d.confirm_healthy));
    doc["defaults"] = Item::Table(t);

    if let Some(shard) = config.shard {
        let mut t = Table::new();
        t["index"] = value(i64::from(shard.index));
        t["count"] = value(i64::from(shard.count));
        doc["shard"] = Item::Table(t);
    }

    if let Some(l) = &config.listen {
        let mut t = Table::new();
        t["bind"] = strings(l.bind.iter().map(|a| a.to_string()));
        t["stale_after"] = duration(l.stale_after);
        t["allow_unlisted"] = value(l.allow_unlisted);
        t["max_connections"] = value(l.max_connections as i64);
        t["allow_from"] = strings(l.allow_from.iter().map(|n| n.to_string()));
        doc["listen"] = Item::Table(t);
    }

    let h = &config.http;
    let mut t = Table::new();
    if let Some(bind) = h.bind {
        t["bind"] = value(bind.to_string());
    }
    match &h.token {
        Some(TokenSource::Env(name)) => t["token_env"] = value(name.as_str()),
        Some(TokenSource::File(path)) => t["token_file"] = value(path.display().to_string()),
        None => {}
    }
    t["protect_read"] = value(h.protect_read);
    t["max_streams"] = value(h.max_streams as i64);
    t["token_name"] = value(h.token_name.as_str());
    doc["http"] = Item::Table(t);

    let mut t = Table::new();
    t["per_node_histograms"] = value(config.per_node_histograms);
    doc["metrics"] = Item::Table(t);

    let mut t = Table::new();
    t["bell"] = value(config.bell);
    t["flap_threshold"] = value(config.flap_threshold as i64);
    t["flap_window"] = duration(config.flap_window);
    doc["dashboard"] = Item::Table(t);

    let mut t = Table::new();
    t["watch"] = value(config.watch_config);
    doc["reload"] = Item::Table(t);

    let hist = &config.history;
    let mut t = Table::new();
    t["enabled"] = value(hist.enabled);
    match &hist.path {
        Some(p) => t["path"] = value(p.display().to_string()),
        None => t.decor_mut().set_suffix(format!(
            "\n# path: the platform's state directory ({})",
            crate::platform::paths::history_path(config_path).display()
        )),
    }
    t["retention"] = duration(hist.retention);
    doc["history"] = Item::Table(t);

    if let Some(hb) = &config.heartbeat {
        doc["heartbeat"] = Item::Table(heartbeat(hb));
    }
    doc["alert"] = Item::ArrayOfTables(config.alerts.iter().map(alert).collect());
    doc["notify"] = Item::ArrayOfTables(config.notify.iter().map(channel).collect());
    doc["maintenance"] = Item::ArrayOfTables(config.maintenance.iter().map(window).collect());
    let mut nodes = ArrayOfTables::new();
    for n in &config.nodes {
        nodes.push(node(n));
    }
    doc["node"] = Item::ArrayOfTables(nodes);
    // Empty arrays of tables print nothing; drop them so no stray key is left.
    for key in ["alert", "notify", "maintenance"] {
        if doc[key].as_array_of_tables().is_some_and(|a| a.is_empty()) {
            doc.remove(key);
        }
    }
    doc.to_string()
}

fn node(n: &NodeConfig) -> Table {
    let mut t = Table::new();
    t["name"] = value(n.name.as_str());
    t["host"] = value(n.host.as_str());
    if n.mode == Mode::Poll {
        t["port"] = value(i64::from(n.port));
    }
    if let Some(g) = &n.group {
        t["group"] = value(g.as_str());
    }
    t["mode"] = value(n.mode.as_str());
    if let Some(k) = n.shard {
        t["shard"] = value(i64::from(k));
    }
    match n.mode {
        Mode::Poll => {
            t["interval"] = duration(n.interval);
            t["max_interval"] = duration(n.max_interval);
            t["timeout"] = duration(n.timeout);
            t["backoff"] = duration(n.backoff);
            t["request"] = request(&n.request);
        }
        Mode::Push => t["stale_after"] = duration(n.stale_after),
    }
    t["confirm_unhealthy"] = value(i64::from(n.confirm_unhealthy));
    t["confirm_healthy"] = value(i64::from(n.confirm_healthy));
    t
}

fn alert(a: &AlertHook) -> Table {
    let mut t = Table::new();
    t["command"] = strings(a.command.iter().cloned());
    t["on"] = strings(a.on.iter().map(|o| o.as_str().to_owned()));
    t["after"] = value(i64::from(a.after));
    t["timeout"] = duration(a.timeout);
    t
}

fn channel(c: &NotifyChannel) -> Table {
    let mut t = Table::new();
    t["name"] = value(c.name.as_str());
    t["type"] = value(c.kind.as_str());
    let mut secrets = Vec::new();
    if c.kind != ChannelKind::Email {
        if c.urls_secret {
            secrets.push("url_env or url_file");
        } else if c.urls.len() == 1 {
            t["url"] = value(c.urls[0].as_str());
        } else {
            t["urls"] = strings(c.urls.iter().map(|u| u.to_string()));
        }
    }
    if !c.nodes.is_empty() {
        t["nodes"] = strings(c.nodes.iter().cloned());
    }
    if !c.groups.is_empty() {
        t["groups"] = strings(c.groups.iter().cloned());
    }
    t["on"] = strings(c.on.iter().map(|o| o.as_str().to_owned()));
    t["group_wait"] = duration(c.group_wait);
    if let Some(r) = c.repeat_interval {
        t["repeat_interval"] = duration(r);
    }
    t["give_up_after"] = duration(c.give_up_after);
    t["timeout"] = duration(c.timeout);
    if let Some(p) = c.priority {
        t["priority"] = value(i64::from(p));
    }
    if c.kind == ChannelKind::Alertmanager {
        t["watchdog"] = value(c.watchdog);
    }
    if c.secret.is_some() {
        secrets.push("secret_env or secret_file");
    }
    if c.token.is_some() {
        secrets.push("token_env or token_file");
    }
    if let Some(e) = &c.email {
        let host = if e.host.contains(':') {
            format!("[{}]", e.host)
        } else {
            e.host.clone()
        };
        t["smtp"] = value(format!("{host}:{}", e.port));
        t["tls"] = value(match e.tls {
            SmtpTls::Starttls => "starttls",
            SmtpTls::Tls => "tls",
            SmtpTls::None => "none",
        });
        t["from"] = value(e.from.as_str());
        t["to"] = strings(e.to.iter().cloned());
        if let Some(u) = &e.username {
            t["username"] = value(u.as_str());
        }
        if e.password.is_some() {
            secrets.push("password_env or password_file");
        }
    }
    secret_note(&mut t, &secrets);
    t
}

fn heartbeat(hb: &HeartbeatConfig) -> Table {
    let mut t = Table::new();
    if hb.url_secret {
        secret_note(&mut t, &["url_env or url_file"]);
    } else {
        t["url"] = value(hb.url.as_str());
    }
    t["interval"] = duration(hb.interval);
    t["timeout"] = duration(hb.timeout);
    t
}

fn window(w: &MaintenanceWindow) -> Table {
    let mut t = Table::new();
    t["name"] = value(w.name.as_str());
    if !w.nodes.is_empty() {
        t["nodes"] = strings(w.nodes.iter().cloned());
    }
    if !w.groups.is_empty() {
        t["groups"] = strings(w.groups.iter().cloned());
    }
    match &w.when {
        WindowTime::Once { start, end } => {
            t["start"] = value(start.to_string());
            t["end"] = value(end.to_string());
        }
        WindowTime::Weekly {
            days,
            at,
            duration: length,
            zone_name,
            ..
        } => {
            t["every"] = strings(days.iter().map(|d| weekday(*d).to_owned()));
            t["at"] = value(format!("{:02}:{:02}", at.hour(), at.minute()));
            t["duration"] = duration(*length);
            if zone_name != "local" {
                t["timezone"] = value(zone_name.as_str());
            }
        }
    }
    t
}

fn weekday(d: jiff::civil::Weekday) -> &'static str {
    use jiff::civil::Weekday::*;
    match d {
        Monday => "mon",
        Tuesday => "tue",
        Wednesday => "wed",
        Thursday => "thu",
        Friday => "fri",
        Saturday => "sat",
        Sunday => "sun",
    }
}

/// A comment after the table's keys saying which secrets are set.
fn secret_note(t: &mut Table, secrets: &[&str]) {
    if !secrets.is_empty() {
        let lines: String = secrets
            .iter()
            .map(|s| format!("\n# set but not shown: {s}"))
            .collect();
        t.decor_mut().set_suffix(lines);
    }
}

fn duration(d: Duration) -> Item {
    value(duration_text(d))
}

/// A duration as a person writes it in the file and the config reads it back:
/// `400d`, `36h`, `90m`, `5s`, else humantime's `1h 30m 5s`. (humantime alone
/// writes 400 days as "1year 1month 4days 7h 26m 24s", in its 365.25-day years.)
pub fn duration_text(d: Duration) -> String {
    let secs = d.as_secs();
    if d.subsec_nanos() == 0 && secs > 0 {
        for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] {
            if secs.is_multiple_of(size) {
                return format!("{}{unit}", secs / size);
            }
        }
    }
    humantime::format_duration(d).to_string()
}

/// Request bytes as the config writes them: a literal backslash is doubled,
/// because the config reads `\r`, `\n`, `\0` and `\\` as escapes.
fn request(bytes: &[u8]) -> Item {
    value(String::from_utf8_lossy(bytes).replace('\\', "\\\\"))
}

fn strings(items: impl IntoIterator<Item = String>) -> Item {
    value(items.into_iter().collect::<Array>())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
[defaults]
port = 9000
timeout = "3s"
request = 'GET_STATUS\r\n'

[listen]
bind = ["127.0.0.1:9100"]
stale_after = "20s"

[http]
bind = "127.0.0.1:9184"
token_env = "SG_TOKEN"

[history]
path = "/var/lib/syncguard/history.db"
retention = "30d"

[[alert]]
command = ["/usr/bin/logger", "sync"]

[[notify]]
name = "oncall"
type = "webhook"
url = "http://127.0.0.1:9/hook"
groups = ["wall-*"]
repeat_interval = "1h"

[[maintenance]]
name = "nightly"
groups = ["wall-A"]
every = ["mon", "fri"]
at = "03:00"
duration = "1h 30m"
timezone = "Europe/Berlin"

[[node]]
name = "wall-a-01"
host = "192.168.0.201"
group = "wall-A"
interval = "2s"
max_interval = "4s"

[[node]]
name = "led-01"
host = "10.0.0.7"
mode = "push"
"#;

    #[test]
    fn the_output_loads_to_the_same_configuration() {
        let config = Config::parse(FULL, "fleet.toml").expect("valid");
        let text = show(&config, None);
        let again = Config::parse(&text, "fleet.toml").expect(&text);
        assert_eq!(again.nodes, config.nodes);
        assert_eq!(again.defaults, config.defaults);
        assert_eq!(again.listen, config.listen);
        assert_eq!(again.http, config.http);
        assert_eq!(again.history, config.history);
        assert_eq!(again.alerts, config.alerts);
        assert_eq!(again.notify, config.notify);
        assert_eq!(again.maintenance, config.maintenance);
        assert_eq!(
            (again.bell, again.flap_threshold, again.flap_window),
            (config.bell, config.flap_threshold, config.flap_window)
        );
        // Defaults a node inherited are written on the node.
        assert!(text.contains("name = \"wall-a-01\""), "{text}");
        assert!(text.contains("timeout = \"3s\""), "{text}");
        assert!(text.contains("every = [\"mon\", \"fri\"]"), "{text}");
    }

    #[test]
    fn durations_read_as_written() {
        for (secs, text) in [
            (400 * 86_400, "400d"),
            (36 * 3_600, "36h"),
            (90 * 60, "90m"),
            (5, "5s"),
            (3_605, "1h 5s"),
        ] {
            let d = Duration::from_secs(secs);
            assert_eq!(duration_text(d), text);
            assert_eq!(humantime::parse_duration(text).ok(), Some(d));
        }
        assert_eq!(duration_text(Duration::from_millis(1500)), "1s 500ms");
    }

    #[test]
    fn secrets_are_never_printed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "s3cr3t-value\n").expect("write");
        let text = format!(
            "[[notify]]\nname = \"hook\"\ntype = \"webhook\"\nurl_file = {:?}\nsecret_file = {:?}\n\
             [[node]]\nname = \"a\"\nhost = \"10.0.0.1\"\n",
            secret.display().to_string(),
            secret.display().to_string()
        );
        std::fs::write(&secret, "http://127.0.0.1:9/very-secret-path\n").expect("write");
        let config = Config::parse(&text, "fleet.toml").expect("valid");
        let out = show(&config, None);
        assert!(!out.contains("very-secret-path"), "{out}");
        assert!(
            out.contains("# set but not shown: url_env or url_file"),
            "{out}"
        );
        assert!(
            out.contains("# set but not shown: secret_env or secret_file"),
            "{out}"
        );
    }
}

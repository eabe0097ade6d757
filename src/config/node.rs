//! `[[node]]`: one table per SyncGuard node, or per `{A..B}` range of them, and
//! the rows of `nodes_file`, all inheriting from `[defaults]`. Names must be
//! unique, and so must the IPs of push nodes, which is all their lines carry.
//!
//! A table and a CSV row are first reduced to the same [`Written`] form (what a
//! row can hold: name, host, port, group, mode, shard), so both go through the
//! same checks and report at their own place: `fleet.toml:LINE:COL: node[i].key`
//! or `nodes.csv:LINE:COLUMN: key`.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::fmt;
use std::net::IpAddr;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigError, Cx};
use super::range::Ranged;
use super::raw::{RawNode, RawPort};
use super::{Defaults, Mode, NodeConfig};
use crate::model::Shard;
use crate::model::shard::MAX_SHARDS;

/// Where a node was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Origin<'a> {
    /// `[[node]]` table `index`, which starts at byte `start` of the fleet file.
    Table { index: usize, start: usize },
    /// Line `line` (1-based) of the nodes file `file`.
    Row { file: &'a str, line: usize },
}

impl Origin<'_> {
    /// The key a message names: `node[3].host` in the fleet file, the column
    /// name (`host`) in the nodes file, whose position already says the row.
    fn key(&self, field: &str) -> String {
        match self {
            Origin::Table { index, .. } => format!("node[{index}].{field}"),
            Origin::Row { .. } => field.to_owned(),
        }
    }

    fn noun(&self) -> &'static str {
        match self {
            Origin::Table { .. } => "table",
            Origin::Row { .. } => "row",
        }
    }
}

/// Where a value was written, for its message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) enum Place<'a> {
    /// A byte span of the fleet file.
    Toml(Range<usize>),
    /// A cell of the nodes file: 1-based line and column.
    Cell {
        file: &'a str,
        line: usize,
        column: usize,
    },
}

/// A value and where it was written.
#[derive(Clone, Debug)]
pub(super) struct At<'a, T> {
    pub(super) value: T,
    pub(super) place: Place<'a>,
}

/// What a `[[node]]` table and a nodes file row can both hold. A table's other
/// keys (intervals, request, ...) are read from the table itself; a row takes
/// them from `[defaults]`.
pub(super) struct Written<'a> {
    pub(super) origin: Origin<'a>,
    /// Where a missing required value is reported.
    pub(super) place: Place<'a>,
    pub(super) name: Option<At<'a, String>>,
    pub(super) host: Option<At<'a, String>>,
    pub(super) port: Option<At<'a, RawPort>>,
    pub(super) group: Option<At<'a, String>>,
    pub(super) mode: Option<At<'a, String>>,
    pub(super) shard: Option<At<'a, i64>>,
}

impl Written<'static> {
    fn table(index: usize, t: &Spanned<RawNode>) -> Self {
        let n = t.get_ref();
        fn at<T: Clone>(v: &Option<Spanned<T>>) -> Option<At<'static, T>> {
            v.as_ref().map(|s| At {
                value: s.get_ref().clone(),
                place: Place::Toml(s.span()),
            })
        }
        Written {
            origin: Origin::Table {
                index,
                start: t.span().start,
            },
            place: Place::Toml(t.span()),
            name: at(&n.name),
            host: at(&n.host),
            port: at(&n.port),
            group: at(&n.group),
            mode: at(&n.mode),
            shard: at(&n.shard),
        }
    }
}

/// The settings only a table can override; every node of a table (or of the
/// nodes file) shares one.
struct Settings {
    interval: Duration,
    max_interval: Duration,
    timeout: Duration,
    backoff: Duration,
    request: Arc<[u8]>,
    stale_after: Duration,
    confirm_unhealthy: u32,
    confirm_healthy: u32,
}

impl Settings {
    fn inherited(d: &Defaults, stale_after: Duration) -> Self {
        Settings {
            interval: d.interval,
            max_interval: d.max_interval,
            timeout: d.timeout,
            backoff: d.backoff,
            request: d.request.clone(),
            stale_after,
            confirm_unhealthy: d.confirm_unhealthy,
            confirm_healthy: d.confirm_healthy,
        }
    }
}

/// What earlier nodes already claimed: names and push IPs, each with where the
/// node that has it was written.
#[derive(Default)]
struct Claimed<'a> {
    names: HashMap<String, Origin<'a>>,
    push_ips: HashMap<IpAddr, (Origin<'a>, String)>,
}

/// A table's or row's port: one for every node, or one per value of a range.
enum Ports<'a> {
    Fixed(u16),
    Ranged(Ranged<'a>),
}

/// The most nodes one fleet file may give (tables, ranges and CSV rows
/// together): ten times the 10,000 one instance is measured with
/// (BENCHMARKS.md), and a bound on what a typo in a range or a runaway
/// spreadsheet can make the monitor allocate.
pub const MAX_NODES: usize = 100_000;

impl Cx<'_> {
    /// All nodes: the `[[node]]` tables, then the nodes file's `rows`, in order.
    /// `stale_after` is what push nodes inherit from `[listen]`; `shard` is the
    /// file's `[shard]`, which bounds a node's `shard` key. `file` names the
    /// nodes file, if there is one.
    pub(super) fn nodes<'a>(
        &self,
        raw: &[Spanned<RawNode>],
        rows: &[Written<'a>],
        file: Option<&str>,
        defaults: &Defaults,
        stale_after: Duration,
        shard: Option<Shard>,
    ) -> Result<Vec<NodeConfig>, ConfigError> {
        if raw.is_empty() && rows.is_empty() {
            let end = self.text.len();
            let or_row = file
                .map(|f| format!(" or a row to {f}"))
                .unwrap_or_default();
            return Err(self.err(
                end..end,
                "node",
                format!("no nodes: add at least one [[node]] table with name and host{or_row}"),
            ));
        }
        let mut claimed = Claimed::default();
        let mut nodes = Vec::with_capacity(raw.len() + rows.len());
        for (i, t) in raw.iter().enumerate() {
            let w = Written::table(i, t);
            let mode = self.mode(&w)?;
            let settings = self.table_settings(i, t, defaults, stale_after, mode)?;
            self.expand(
                &w,
                mode,
                &settings,
                defaults.port,
                shard,
                &mut claimed,
                &mut nodes,
            )?;
        }
        let settings = Settings::inherited(defaults, stale_after);
        for w in rows {
            let mode = self.mode(w)?;
            self.expand(
                w,
                mode,
                &settings,
                defaults.port,
                shard,
                &mut claimed,
                &mut nodes,
            )?;
        }
        Ok(nodes)
    }

    /// A message at a place in the fleet file or the nodes file.
    fn fail(&self, place: &Place<'_>, key: String, message: impl fmt::Display) -> ConfigError {
        match place {
            Place::Toml(span) => self.err(span.clone(), key, message),
            Place::Cell { file, line, column } => ConfigError::Invalid {
                path: (*file).to_owned(),
                line: *line,
                column: *column,
                key,
                message: message.to_string(),
            },
        }
    }

    /// How a message names the node that was first: `node[0] at line 1`,
    /// `nodes.csv line 3`.
    fn describe(&self, origin: Origin<'_>) -> String {
        match origin {
            Origin::Table { index, start } => {
                format!("node[{index}] at line {}", self.line_of(start))
            }
            Origin::Row { file, line } => format!("{file} line {line}"),
        }
    }

    fn table_settings(
        &self,
        i: usize,
        t: &Spanned<RawNode>,
        defaults: &Defaults,
        stale_default: Duration,
        mode: Mode,
    ) -> Result<Settings, ConfigError> {
        let n = t.get_ref();
        let key = |k: &str| format!("node[{i}].{k}");
        if mode == Mode::Poll {
            self.poll_never_stale(&n.stale_after, &key("stale_after"))?;
        }
        let s = Settings {
            stale_after: self.duration(&n.stale_after, &key("stale_after"), stale_default)?,
            confirm_unhealthy: self.count(
                &n.confirm_unhealthy,
                &key("confirm_unhealthy"),
                defaults.confirm_unhealthy,
            )?,
            confirm_healthy: self.count(
                &n.confirm_healthy,
                &key("confirm_healthy"),
                defaults.confirm_healthy,
            )?,
            interval: self.duration(&n.interval, &key("interval"), defaults.interval)?,
            max_interval: self.duration(
                &n.max_interval,
                &key("max_interval"),
                defaults.max_interval,
            )?,
            timeout: self.duration(&n.timeout, &key("timeout"), defaults.timeout)?,
            backoff: self.duration(&n.backoff, &key("backoff"), defaults.backoff)?,
            request: self.request(&n.request, &key("request"), &defaults.request)?,
        };
        if s.interval > s.max_interval {
            let span = n
                .interval
                .as_ref()
                .or(n.max_interval.as_ref())
                .map(|s| s.span())
                .unwrap_or_else(|| t.span());
            return Err(self.interval_order(
                span,
                &format!("node[{i}]"),
                &s.interval,
                &s.max_interval,
            ));
        }
        Ok(s)
    }

    /// The nodes one table or row stands for: one, or one per value of its
    /// ranges, which all have the same length and are expanded together.
    // Each argument is a different piece of context (settings, defaults,
    // `[shard]`, the claims so far, the output); bundling them would only rename them.
    #[allow(clippy::too_many_arguments)]
    fn expand<'a>(
        &self,
        w: &Written<'a>,
        mode: Mode,
        s: &Settings,
        default_port: u16,
        shard: Option<Shard>,
        claimed: &mut Claimed<'a>,
        out: &mut Vec<NodeConfig>,
    ) -> Result<(), ConfigError> {
        let name = self.required(w, &w.name, "name")?;
        let host = self.required(w, &w.host, "host")?;
        if host
            .value
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(self.fail(
                &host.place,
                w.origin.key("host"),
                format!("{:?} is not a host name or IP address", host.value),
            ));
        }
        let group = self.group(w)?;
        let pin = self.pin(w, shard)?;
        let names = self.ranged(w, name, "name")?;
        let hosts = self.ranged(w, host, "host")?;
        let ports = self.ports(w, default_port)?;
        let count = self.lockstep(w, &names, &hosts, &ports)?;
        if out.len() + count > MAX_NODES {
            return Err(self.fail(
                &name.place,
                w.origin.key("name"),
                format!(
                    "this makes more than {MAX_NODES} nodes in one fleet; split the fleet \
                     across instances (docs/sharding.md) or files"
                ),
            ));
        }
        for k in 0..count {
            let name_k = names.get(k);
            self.claim_name(w, &name.place, &name_k, claimed)?;
            let host_k = hosts.get(k);
            let host_text = host_k
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            if hosts.is_range() && looks_like_ip(&host_text) && host_text.parse::<IpAddr>().is_err()
            {
                return Err(self.fail(
                    &host.place,
                    w.origin.key("host"),
                    format!(
                        "range {} gives {host_k}, which is not a valid IP address",
                        hosts.written()
                    ),
                ));
            }
            if mode == Mode::Push {
                self.claim_push_ip(w, &host.place, &host_text, &name_k, claimed)?;
            }
            let port = match &ports {
                Ports::Fixed(p) => *p,
                Ports::Ranged(r) => self.ranged_port(w, r, k)?,
            };
            out.push(NodeConfig {
                name: name_k,
                host: host_text,
                port,
                group: group.clone(),
                mode,
                interval: s.interval,
                max_interval: s.max_interval,
                timeout: s.timeout,
                backoff: s.backoff,
                request: s.request.clone(),
                stale_after: s.stale_after,
                confirm_unhealthy: s.confirm_unhealthy,
                confirm_healthy: s.confirm_healthy,
                shard: pin,
            });
        }
        Ok(())
    }

    fn required<'v, 'a>(
        &self,
        w: &Written<'a>,
        v: &'v Option<At<'a, String>>,
        field: &str,
    ) -> Result<&'v At<'a, String>, ConfigError> {
        match v {
            None => Err(self.fail(&w.place, w.origin.key(field), "missing (required)")),
            Some(a) if a.value.trim().is_empty() => {
                Err(self.fail(&a.place, w.origin.key(field), "must not be empty"))
            }
            Some(a) => Ok(a),
        }
    }

    fn ranged<'v>(
        &self,
        w: &Written<'_>,
        v: &'v At<'_, String>,
        field: &str,
    ) -> Result<Ranged<'v>, ConfigError> {
        Ranged::parse(&v.value).map_err(|m| self.fail(&v.place, w.origin.key(field), m))
    }

    /// The number of nodes: the common length of the ranges, or 1 without any.
    fn lockstep(
        &self,
        w: &Written<'_>,
        names: &Ranged<'_>,
        hosts: &Ranged<'_>,
        ports: &Ports<'_>,
    ) -> Result<usize, ConfigError> {
        let port = match (ports, &w.port) {
            (Ports::Ranged(r), Some(p)) => Some(("port", r, &p.place)),
            _ => None,
        };
        let fields = [
            w.name.as_ref().map(|n| ("name", names, &n.place)),
            w.host.as_ref().map(|h| ("host", hosts, &h.place)),
            port,
        ];
        let mut first: Option<(&str, &Ranged<'_>)> = None;
        for (field, r, place) in fields
            .into_iter()
            .flatten()
            .filter(|(_, r, _)| r.is_range())
        {
            match first {
                None => first = Some((field, r)),
                Some((f0, r0)) if r0.len() != r.len() => {
                    return Err(self.fail(
                        place,
                        w.origin.key(field),
                        format!(
                            "range {} gives {} values but {f0}'s range {} gives {}; the ranges of one {} are expanded together, so they must give as many values",
                            r.written(),
                            r.len(),
                            r0.written(),
                            r0.len(),
                            w.origin.noun()
                        ),
                    ));
                }
                Some(_) => {}
            }
        }
        Ok(first.map_or(1, |(_, r)| r.len()))
    }

    fn ports<'v>(&self, w: &'v Written<'_>, default: u16) -> Result<Ports<'v>, ConfigError> {
        let Some(p) = &w.port else {
            return Ok(Ports::Fixed(default));
        };
        let key = || w.origin.key("port");
        let out_of_range =
            |v: &dyn fmt::Display| format!("port must be between 1 and 65535, got {v}");
        match &p.value {
            RawPort::Number(n) => match u16::try_from(*n) {
                Ok(port) if port != 0 => Ok(Ports::Fixed(port)),
                _ => Err(self.fail(&p.place, key(), out_of_range(n))),
            },
            RawPort::Text(t) => {
                let r = Ranged::parse(t).map_err(|m| self.fail(&p.place, key(), m))?;
                if r.is_range() {
                    return Ok(Ports::Ranged(r));
                }
                let t = t.trim();
                match (w.origin, t.parse::<i64>()) {
                    // A CSV cell is always text.
                    (Origin::Row { .. }, Ok(n)) => match u16::try_from(n) {
                        Ok(port) if port != 0 => Ok(Ports::Fixed(port)),
                        _ => Err(self.fail(&p.place, key(), out_of_range(&n))),
                    },
                    (Origin::Row { .. }, Err(_)) => Err(self.fail(
                        &p.place,
                        key(),
                        format!("{t:?} is not a port: write a number such as 8080, or a range such as {{8080..8111}}"),
                    )),
                    (Origin::Table { .. }, Ok(_)) => Err(self.fail(
                        &p.place,
                        key(),
                        format!("{t:?} is a string: write port = {t} without quotes (a string is only for a range, such as \"{{8080..8111}}\")"),
                    )),
                    (Origin::Table { .. }, Err(_)) => Err(self.fail(
                        &p.place,
                        key(),
                        format!("{t:?} is not a port: write a number such as port = 8080, or a range such as port = \"{{8080..8111}}\""),
                    )),
                }
            }
        }
    }

    fn ranged_port(&self, w: &Written<'_>, r: &Ranged<'_>, k: usize) -> Result<u16, ConfigError> {
        let value = r.get(k);
        match value.parse::<u16>() {
            Ok(port) if port != 0 => Ok(port),
            _ => {
                let place = w.port.as_ref().map_or(&w.place, |p| &p.place);
                Err(self.fail(
                    place,
                    w.origin.key("port"),
                    format!(
                        "range {} gives port {value}, but a port is a number from 1 to 65535",
                        r.written()
                    ),
                ))
            }
        }
    }

    /// `shard = K`: at least 1, and at most `[shard] count` when the file has one
    /// (a `--shard` with another count is checked by the selection).
    fn pin(&self, w: &Written<'_>, shard: Option<Shard>) -> Result<Option<u32>, ConfigError> {
        let Some(p) = &w.shard else { return Ok(None) };
        let k = p.value;
        let fail = |m: String| Err(self.fail(&p.place, w.origin.key("shard"), m));
        if k < 1 {
            return fail(format!(
                "must be at least 1 (shards are numbered from 1), got {k}"
            ));
        }
        if let Some(s) = shard
            && k > i64::from(s.count)
        {
            return fail(format!(
                "shard {k} does not exist: [shard] count is {n}, so shards are numbered 1 to {n}",
                n = s.count
            ));
        }
        match u32::try_from(k) {
            Ok(k) if k <= MAX_SHARDS => Ok(Some(k)),
            _ => fail(format!(
                "must be at most {MAX_SHARDS} (the most shards a fleet can have), got {k}"
            )),
        }
    }

    /// A name used before: by another table or row, or by an earlier value of
    /// this one's ranges (a name without a range beside a host with one).
    fn claim_name<'a>(
        &self,
        w: &Written<'a>,
        place: &Place<'_>,
        name: &str,
        claimed: &mut Claimed<'a>,
    ) -> Result<(), ConfigError> {
        let first = match claimed.names.entry(name.to_owned()) {
            Entry::Vacant(e) => {
                e.insert(w.origin);
                return Ok(());
            }
            Entry::Occupied(e) => *e.get(),
        };
        let message = if first == w.origin {
            format!(
                "duplicate name {name:?}: this {}'s ranges give it more than once (put a range in name too)",
                w.origin.noun()
            )
        } else {
            format!(
                "duplicate name {name:?} (first used by {})",
                self.describe(first)
            )
        };
        Err(self.fail(place, w.origin.key("name"), message))
    }

    fn group(&self, w: &Written<'_>) -> Result<Option<String>, ConfigError> {
        match &w.group {
            None => Ok(None),
            Some(g) if g.value.trim().is_empty() => Err(self.fail(
                &g.place,
                w.origin.key("group"),
                "must not be empty (leave it out instead)",
            )),
            Some(g) => Ok(Some(g.value.clone())),
        }
    }

    fn mode(&self, w: &Written<'_>) -> Result<Mode, ConfigError> {
        let Some(m) = &w.mode else {
            return Ok(Mode::Poll);
        };
        match m.value.as_str() {
            "poll" => Ok(Mode::Poll),
            "push" => Ok(Mode::Push),
            other => Err(self.fail(
                &m.place,
                w.origin.key("mode"),
                format!("expected \"poll\" or \"push\", got {other:?}"),
            )),
        }
    }

    /// A pushed line names its sender only by the IP inside it, so a push node's
    /// host must be an IP that no other push node has.
    fn claim_push_ip<'a>(
        &self,
        w: &Written<'a>,
        place: &Place<'_>,
        host: &str,
        name: &str,
        claimed: &mut Claimed<'a>,
    ) -> Result<(), ConfigError> {
        let key = w.origin.key("host");
        let Ok(ip) = host.parse::<IpAddr>() else {
            return Err(self.fail(
                place,
                key,
                format!(
                    "push nodes are matched by the IP they write in their lines, so host must be an IP address, got {host:?}"
                ),
            ));
        };
        let (first, first_name) = match claimed.push_ips.entry(ip.to_canonical()) {
            Entry::Vacant(e) => {
                e.insert((w.origin, name.to_owned()));
                return Ok(());
            }
            Entry::Occupied(e) => e.get().clone(),
        };
        let who = match first {
            Origin::Table { index, .. } => format!("node[{index}] ({first_name:?})"),
            Origin::Row { file, line } => format!("{first_name:?} ({file} line {line})"),
        };
        Err(self.fail(
            place,
            key,
            format!(
                "{ip} is already the host of push node {who}; their lines could not be told apart"
            ),
        ))
    }

    fn poll_never_stale(&self, v: &Option<Spanned<String>>, key: &str) -> Result<(), ConfigError> {
        match v {
            None => Ok(()),
            Some(st) => Err(self.err(
                st.span(),
                key,
                "only push nodes go stale; add mode = \"push\" or remove it",
            )),
        }
    }
}

/// Whether a host is written as an IP address (a dotted quad or IPv6) rather
/// than a name, so a range that takes it out of bounds is an error, not a
/// host name that would only fail to resolve.
fn looks_like_ip(host: &str) -> bool {
    host.contains(':')
        || (host.contains('.') && host.bytes().all(|b| b.is_ascii_digit() || b == b'.'))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{assert_errors, parse};
    use crate::model::UnreachablePolicy;

    #[test]
    fn a_fleet_of_more_than_max_nodes_is_refused_where_it_overflows() {
        let text: String = (0..11)
            .map(|t| {
                format!("[[node]]\nname = \"t{t}-{{1..10000}}\"\nhost = \"h{t}-{{1..10000}}\"\n")
            })
            .collect();
        let e = parse(&text).expect_err("too many");
        assert!(e.starts_with("fleet.toml:32:8: node[10].name:"), "{e}");
        assert!(e.contains("more than 100000 nodes"), "{e}");
    }

    #[test]
    fn node_overrides_defaults() {
        let c = parse(
            "[defaults]\nport = 9000\ninterval = \"1s\"\nmax_interval = \"2s\"\nrequest = 'GET_STATUS\\r\\n'\nunreachable = \"warning\"\n\
             [[node]]\nname = \"a\"\nhost = \"::1\"\nport = 7000\ngroup = \"g\"\ntimeout = \"250ms\"\n\
             [[node]]\nname = \"b\"\nhost = \"b.example\"\n",
        )
        .expect("valid");
        assert_eq!(c.nodes[0].port, 7000);
        assert_eq!(c.nodes[0].address(), "[::1]:7000");
        assert_eq!(c.nodes[0].timeout, Duration::from_millis(250));
        assert_eq!(c.nodes[0].group.as_deref(), Some("g"));
        assert_eq!(c.nodes[1].port, 9000);
        assert_eq!(c.nodes[1].interval, Duration::from_secs(1));
        assert_eq!(&*c.nodes[1].request, b"GET_STATUS\r\n");
        assert_eq!(c.defaults.unreachable, UnreachablePolicy::Warning);
    }

    #[test]
    fn node_errors_name_file_line_and_key() {
        assert_errors(&[
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\n[[node]]\nname = \"b\"\nhost = \"h\"\nprot = 1\n",
                "fleet.toml:7:1: node[1].prot: unknown field `prot`",
            ),
            (
                "[[node]]\nname = \"a\"\n",
                "fleet.toml:1:1: node[0].host: missing (required)",
            ),
            (
                "[[node]]\nhost = \"h\"\n",
                "fleet.toml:1:1: node[0].name: missing (required)",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\n[[node]]\nname = \"a\"\nhost = \"i\"\n",
                "fleet.toml:5:8: node[1].name: duplicate name \"a\" (first used by node[0] at line 1)",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\nmax_interval = \"1s\"\n",
                "fleet.toml:4:16: node[0].interval: interval (5s) is longer than max_interval (1s)",
            ),
            (
                "[defaults]\nport = 9000\n",
                "fleet.toml:3:1: node: no nodes",
            ),
            ("", "fleet.toml:1:1: node: no nodes"),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nport = \"80\"\n",
                "fleet.toml:4:8: node[0].port: \"80\" is a string: write port = 80 without quotes (a string is only for a range, such as \"{8080..8111}\")",
            ),
        ]);
    }

    /// Each text must fail with exactly this message.
    fn assert_exact(cases: &[(&str, &str)]) {
        for (text, want) in cases {
            let got = parse(text).expect_err(text);
            assert_eq!(&got, want, "for {text:?}");
        }
    }

    fn summary(c: &super::super::Config) -> Vec<(String, String, u16, Option<String>)> {
        c.nodes
            .iter()
            .map(|n| (n.name.clone(), n.host.clone(), n.port, n.group.clone()))
            .collect()
    }

    #[test]
    fn a_ranged_table_is_a_wall_of_nodes() {
        let c = parse(
            "[defaults]\nport = 9000\ntimeout = \"2s\"\n\
             [[node]]\nname = \"wall-a-{01..32}\"\nhost = \"192.168.0.{201..232}\"\ngroup = \"wall-A\"\ninterval = \"1s\"\n",
        )
        .expect("valid");
        assert_eq!(c.nodes.len(), 32);
        let nodes = summary(&c);
        assert_eq!(
            nodes[0],
            (
                "wall-a-01".into(),
                "192.168.0.201".into(),
                9000,
                Some("wall-A".into())
            )
        );
        assert_eq!(nodes[8].0, "wall-a-09");
        assert_eq!(nodes[8].1, "192.168.0.209");
        assert_eq!(
            nodes[31],
            (
                "wall-a-32".into(),
                "192.168.0.232".into(),
                9000,
                Some("wall-A".into())
            )
        );
        // The table's own settings go to every node it stands for.
        assert!(c.nodes.iter().all(|n| n.interval == Duration::from_secs(1)
            && n.timeout == Duration::from_secs(2)
            && n.shard.is_none()));
    }

    #[test]
    fn ranges_go_in_lockstep_and_fields_without_one_repeat() {
        let c = parse(
            "[[node]]\nname = \"sim-{1..3}\"\nhost = \"127.0.0.1\"\nport = \"{8082..8080}\"\nmode = \"poll\"\nshard = 2\n\
             [[node]]\nname = \"solo\"\nhost = \"h{7..7}.example\"\nport = 81\n",
        )
        .expect("valid");
        assert_eq!(
            summary(&c),
            [
                ("sim-1".into(), "127.0.0.1".into(), 8082, None),
                ("sim-2".into(), "127.0.0.1".into(), 8081, None),
                ("sim-3".into(), "127.0.0.1".into(), 8080, None),
                ("solo".into(), "h7.example".into(), 81, None),
            ]
        );
        assert_eq!(c.nodes[0].shard, Some(2));
        assert_eq!(c.nodes[2].shard, Some(2));
        // Push nodes from a range each get their own IP.
        let c = parse(
            "[[node]]\nname = \"p{1..4}\"\nhost = \"10.0.0.{1..4}\"\nmode = \"push\"\nshard = 1\n",
        )
        .expect("valid");
        assert_eq!(c.push_directory().len(), 4);
        assert!(c.listen.is_some());
    }

    #[test]
    fn range_errors_name_the_table_and_the_bad_value() {
        assert_exact(&[
            (
                "[[node]]\nname = \"a{1..3}\"\nhost = \"10.0.0.{1..2}\"\n",
                "fleet.toml:3:8: node[0].host: range {1..2} gives 2 values but name's range {1..3} gives 3; the ranges of one table are expanded together, so they must give as many values",
            ),
            (
                "[[node]]\nname = \"a{1..3}\"\nhost = \"h\"\nport = \"{80..81}\"\n",
                "fleet.toml:4:8: node[0].port: range {80..81} gives 2 values but name's range {1..3} gives 3; the ranges of one table are expanded together, so they must give as many values",
            ),
            (
                "[[node]]\nname = \"w{250..260}\"\nhost = \"192.168.0.{250..260}\"\n",
                "fleet.toml:3:8: node[0].host: range {250..260} gives 192.168.0.256, which is not a valid IP address",
            ),
            (
                "[[node]]\nname = \"w{1..3}\"\nhost = \"fd00::{fffe..ffff}\"\n",
                "fleet.toml:3:8: node[0].host: malformed range \"{fffe..ffff}\": write {A..B} with whole numbers A and B, such as {01..32}",
            ),
            (
                "[[node]]\nname = \"w{1..11}\"\nhost = \"h\"\nport = \"{65530..65540}\"\n",
                "fleet.toml:4:8: node[0].port: range {65530..65540} gives port 65536, but a port is a number from 1 to 65535",
            ),
            (
                "[[node]]\nname = \"w{1..2}\"\nhost = \"h\"\nport = \"{0..1}\"\n",
                "fleet.toml:4:8: node[0].port: range {0..1} gives port 0, but a port is a number from 1 to 65535",
            ),
            (
                "[[node]]\nname = \"w{1..2}-{1..2}\"\nhost = \"h\"\n",
                "fleet.toml:2:8: node[0].name: \"w{1..2}-{1..2}\" has two ranges ({1..2} and {1..2}); a value may hold one range",
            ),
            (
                "[[node]]\nname = \"w{1..}\"\nhost = \"h\"\n",
                "fleet.toml:2:8: node[0].name: malformed range \"{1..}\": write {A..B} with whole numbers A and B, such as {01..32}",
            ),
            (
                "[[node]]\nname = \"w{1..20000}\"\nhost = \"h\"\n",
                "fleet.toml:2:8: node[0].name: range \"{1..20000}\" gives 20000 values; at most 10000 are allowed in one table",
            ),
            (
                "[[node]]\nname = \"wall-03\"\nhost = \"h\"\n[[node]]\nname = \"wall-{01..05}\"\nhost = \"10.0.0.{1..5}\"\n",
                "fleet.toml:5:8: node[1].name: duplicate name \"wall-03\" (first used by node[0] at line 1)",
            ),
            (
                "[[node]]\nname = \"wall\"\nhost = \"10.0.0.{1..5}\"\n",
                "fleet.toml:2:8: node[0].name: duplicate name \"wall\": this table's ranges give it more than once (put a range in name too)",
            ),
            (
                "[[node]]\nname = \"p\"\nhost = \"10.0.0.3\"\nmode = \"push\"\n[[node]]\nname = \"q{1..5}\"\nhost = \"10.0.0.{1..5}\"\nmode = \"push\"\n",
                "fleet.toml:7:8: node[1].host: 10.0.0.3 is already the host of push node node[0] (\"p\"); their lines could not be told apart",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nport = \"http\"\n",
                "fleet.toml:4:8: node[0].port: \"http\" is not a port: write a number such as port = 8080, or a range such as port = \"{8080..8111}\"",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nport = 70000\n",
                "fleet.toml:4:8: node[0].port: port must be between 1 and 65535, got 70000",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nport = true\n",
                "fleet.toml:4:8: node[0].port: invalid type: boolean `true`, expected a port number or a range such as \"{8080..8111}\"",
            ),
        ]);
    }

    #[test]
    fn node_shard_key_errors() {
        assert_exact(&[
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nshard = 0\n",
                "fleet.toml:4:9: node[0].shard: must be at least 1 (shards are numbered from 1), got 0",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nshard = 3\n[shard]\nindex = 1\ncount = 2\n",
                "fleet.toml:4:9: node[0].shard: shard 3 does not exist: [shard] count is 2, so shards are numbered 1 to 2",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nshard = 5000\n",
                "fleet.toml:4:9: node[0].shard: must be at most 1024 (the most shards a fleet can have), got 5000",
            ),
        ]);
        let c = parse(
            "[[node]]\nname = \"a\"\nhost = \"h\"\nshard = 2\n[shard]\nindex = 1\ncount = 2\n",
        )
        .expect("valid");
        assert_eq!(c.nodes[0].shard, Some(2));
        assert_eq!(c.nodes.len(), 1, "the parser does not filter by shard");
    }
}

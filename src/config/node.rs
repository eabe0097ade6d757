//! `[[node]]`: one table per SyncGuard node, inheriting from `[defaults]`. Names
//! must be unique, and so must the IPs of push nodes, which is all their lines carry.

use std::collections::HashMap;
use std::net::IpAddr;
use std::ops::Range;
use std::time::Duration;

use toml::Spanned;

use super::error::{ConfigError, Cx};
use super::raw::RawNode;
use super::{Defaults, Mode, NodeConfig};

/// What earlier nodes already claimed: names (with where their table starts) and
/// push IPs, each with the index of the node that has it.
#[derive(Default)]
struct Claimed {
    names: HashMap<String, (usize, usize)>,
    push_ips: HashMap<IpAddr, usize>,
}

impl Cx<'_> {
    /// All nodes; `stale_after` is what push nodes inherit from `[listen]`.
    pub(super) fn nodes(
        &self,
        raw: &[Spanned<RawNode>],
        defaults: &Defaults,
        stale_after: Duration,
    ) -> Result<Vec<NodeConfig>, ConfigError> {
        if raw.is_empty() {
            let end = self.text.len();
            return Err(self.err(
                end..end,
                "node",
                "no nodes: add at least one [[node]] table with name and host",
            ));
        }
        let mut claimed = Claimed::with_capacity(raw.len());
        raw.iter()
            .enumerate()
            .map(|(i, n)| self.node(i, n, defaults, stale_after, &mut claimed))
            .collect()
    }

    fn node(
        &self,
        i: usize,
        spanned: &Spanned<RawNode>,
        defaults: &Defaults,
        stale_default: Duration,
        claimed: &mut Claimed,
    ) -> Result<NodeConfig, ConfigError> {
        let at = spanned.span();
        let n = spanned.get_ref();
        let key = |k: &str| format!("node[{i}].{k}");
        let name = self.required_text(&n.name, at.clone(), &key("name"))?;
        self.claim_name(i, name, at.start, claimed)?;
        let host = self.host(&n.host, at.clone(), &key("host"))?;
        let group = self.group(&n.group, &key("group"))?;
        let mode = self.mode(&n.mode, &key("mode"))?;
        let host_text = host
            .get_ref()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        match mode {
            Mode::Push => self.claim_push_ip(i, host, &host_text, claimed)?,
            Mode::Poll => self.poll_never_stale(&n.stale_after, &key("stale_after"))?,
        }
        let node = NodeConfig {
            name: name.get_ref().clone(),
            host: host_text,
            port: self.port(&n.port, &key("port"), defaults.port)?,
            group,
            mode,
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
            // Read with ranges, CSV rows and `[shard]`.
            shard: None,
        };
        if node.interval > node.max_interval {
            let span = n
                .interval
                .as_ref()
                .or(n.max_interval.as_ref())
                .map(|s| s.span())
                .unwrap_or(at);
            return Err(self.interval_order(
                span,
                &format!("node[{i}]"),
                &node.interval,
                &node.max_interval,
            ));
        }
        Ok(node)
    }

    /// `table_start` is where node `i`'s table begins, named by a later duplicate.
    fn claim_name(
        &self,
        i: usize,
        name: &Spanned<String>,
        table_start: usize,
        claimed: &mut Claimed,
    ) -> Result<(), ConfigError> {
        let Some((first, first_start)) = claimed
            .names
            .insert(name.get_ref().clone(), (i, table_start))
        else {
            return Ok(());
        };
        Err(self.err(
            name.span(),
            format!("node[{i}].name"),
            format!(
                "duplicate name {:?} (first used by node[{first}] at line {})",
                name.get_ref(),
                self.line_of(first_start)
            ),
        ))
    }

    fn host<'r>(
        &self,
        v: &'r Option<Spanned<String>>,
        table: Range<usize>,
        key: &str,
    ) -> Result<&'r Spanned<String>, ConfigError> {
        let host = self.required_text(v, table, key)?;
        if host
            .get_ref()
            .chars()
            .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(self.err(
                host.span(),
                key,
                format!("{:?} is not a host name or IP address", host.get_ref()),
            ));
        }
        Ok(host)
    }

    fn group(&self, v: &Option<Spanned<String>>, key: &str) -> Result<Option<String>, ConfigError> {
        match v {
            None => Ok(None),
            Some(g) if g.get_ref().trim().is_empty() => {
                Err(self.err(g.span(), key, "must not be empty (leave it out instead)"))
            }
            Some(g) => Ok(Some(g.get_ref().clone())),
        }
    }

    fn mode(&self, v: &Option<Spanned<String>>, key: &str) -> Result<Mode, ConfigError> {
        let Some(m) = v else { return Ok(Mode::Poll) };
        match m.get_ref().as_str() {
            "poll" => Ok(Mode::Poll),
            "push" => Ok(Mode::Push),
            other => Err(self.err(
                m.span(),
                key,
                format!("expected \"poll\" or \"push\", got {other:?}"),
            )),
        }
    }

    /// A pushed line names its sender only by the IP inside it, so a push node's
    /// host must be an IP that no other push node has.
    fn claim_push_ip(
        &self,
        i: usize,
        host: &Spanned<String>,
        host_text: &str,
        claimed: &mut Claimed,
    ) -> Result<(), ConfigError> {
        let key = format!("node[{i}].host");
        let Ok(ip) = host_text.parse::<IpAddr>() else {
            return Err(self.err(
                host.span(),
                key,
                format!(
                    "push nodes are matched by the IP they write in their lines, so host must be an IP address, got {:?}",
                    host.get_ref()
                ),
            ));
        };
        match claimed.push_ips.insert(ip.to_canonical(), i) {
            None => Ok(()),
            Some(first) => Err(self.err(
                host.span(),
                key,
                format!("{ip} is already the host of push node node[{first}]; their lines could not be told apart"),
            )),
        }
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

impl Claimed {
    fn with_capacity(nodes: usize) -> Self {
        Claimed {
            names: HashMap::with_capacity(nodes),
            push_ips: HashMap::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{assert_errors, parse};
    use crate::model::UnreachablePolicy;

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
                "fleet.toml:4:8: node[0].port: invalid type: string \"80\", expected i64",
            ),
        ]);
    }
}

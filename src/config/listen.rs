//! `[listen]`: where SyncGuard V3 nodes connect to push their state. Without the
//! table there is no receiver, unless a push node needs one (then the defaults apply).

use std::net::{IpAddr, SocketAddr};

use toml::Spanned;

use super::ListenConfig;
use super::error::{ConfigError, Cx};
use super::raw::RawListen;

impl Cx<'_> {
    pub(super) fn listen(
        &self,
        raw: Option<&RawListen>,
    ) -> Result<Option<ListenConfig>, ConfigError> {
        let Some(l) = raw else { return Ok(None) };
        let defaults = ListenConfig::default();
        Ok(Some(ListenConfig {
            bind: match &l.bind {
                None => defaults.bind,
                Some(list) => self.binds(list)?,
            },
            stale_after: self.duration(
                &l.stale_after,
                "listen.stale_after",
                defaults.stale_after,
            )?,
            allow_unlisted: l.allow_unlisted.unwrap_or(defaults.allow_unlisted),
            max_connections: self.size(
                &l.max_connections,
                "listen.max_connections",
                defaults.max_connections,
                1_000_000,
            )?,
            allow_from: match &l.allow_from {
                None => Vec::new(),
                Some(list) => self.allow_from(list)?,
            },
        }))
    }

    fn binds(&self, list: &[Spanned<String>]) -> Result<Vec<SocketAddr>, ConfigError> {
        if list.is_empty() {
            let span = self.find_key("listen", "bind");
            return Err(self.err(
                span,
                "listen.bind",
                "must list at least one address, e.g. [\"0.0.0.0:8080\"]",
            ));
        }
        let mut out = Vec::with_capacity(list.len());
        for (i, b) in list.iter().enumerate() {
            let addr: SocketAddr = b.get_ref().trim().parse().map_err(|_| {
                self.err(
                    b.span(),
                    format!("listen.bind[{i}]"),
                    format!(
                        "invalid bind address {:?}: expected IP:PORT, e.g. \"0.0.0.0:8080\" or \"[::]:8080\"",
                        b.get_ref()
                    ),
                )
            })?;
            out.push(addr);
        }
        Ok(out)
    }

    fn allow_from(&self, list: &[Spanned<String>]) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        let mut nets = Vec::with_capacity(list.len());
        for (i, n) in list.iter().enumerate() {
            let text = n.get_ref().trim();
            // A bare address means just that host.
            let net = text
                .parse::<ipnet::IpNet>()
                .or_else(|_| text.parse::<IpAddr>().map(ipnet::IpNet::from))
                .map_err(|_| {
                    self.err(
                        n.span(),
                        format!("listen.allow_from[{i}]"),
                        format!(
                            "invalid network {:?}: expected CIDR like \"10.0.0.0/8\" or an IP address",
                            n.get_ref()
                        ),
                    )
                })?;
            nets.push(net);
        }
        Ok(nets)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::super::{ListenConfig, Mode, ONE, assert_errors, parse};

    #[test]
    fn listen_section_and_push_nodes() {
        let c = parse(
            "[listen]\nbind = [\"127.0.0.1:9000\", \"[::1]:9001\"]\nstale_after = \"20s\"\nallow_unlisted = false\nmax_connections = 10\n\
             [[node]]\nname = \"p\"\nhost = \"10.0.0.7\"\nmode = \"push\"\nstale_after = \"90s\"\n\
             [[node]]\nname = \"q\"\nhost = \"10.0.0.8\"\nmode = \"push\"\n\
             [[node]]\nname = \"r\"\nhost = \"render-r.example\"\n",
        )
        .expect("valid");
        let l = c.listen.as_ref().expect("listen");
        assert_eq!(l.bind.len(), 2);
        assert_eq!(l.stale_after, Duration::from_secs(20));
        assert!(!l.allow_unlisted);
        assert_eq!(l.max_connections, 10);
        assert_eq!(c.nodes[0].mode, Mode::Push);
        assert_eq!(c.nodes[0].stale_after, Duration::from_secs(90));
        assert_eq!(c.nodes[1].stale_after, Duration::from_secs(20));
        assert_eq!(c.nodes[2].mode, Mode::Poll);
        assert_eq!(c.push_directory().len(), 2);
        // A push node alone turns the receiver on with its defaults.
        let c =
            parse("[[node]]\nname = \"p\"\nhost = \"10.0.0.7\"\nmode = \"push\"\n").expect("valid");
        assert_eq!(c.listen, Some(ListenConfig::default()));
        // Poll only: no receiver.
        assert_eq!(parse(ONE).expect("valid").listen, None);
    }

    #[test]
    fn listen_errors_name_the_key() {
        assert_errors(&[
            (
                "[[node]]\nname = \"p\"\nhost = \"render-07.example\"\nmode = \"push\"\n",
                "fleet.toml:3:8: node[0].host: push nodes are matched by the IP they write in their lines",
            ),
            (
                "[listen]\nbind = [\"0.0.0.0\"]\n[[node]]\nname = \"a\"\nhost = \"h\"\n",
                "fleet.toml:2:9: listen.bind[0]: invalid bind address \"0.0.0.0\"",
            ),
            (
                "[listen]\nbind = []\n[[node]]\nname = \"a\"\nhost = \"h\"\n",
                "fleet.toml:2:1: listen.bind: must list at least one address",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nmode = \"pull\"\n",
                "fleet.toml:4:8: node[0].mode: expected \"poll\" or \"push\", got \"pull\"",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"h\"\nstale_after = \"5s\"\n",
                "fleet.toml:4:15: node[0].stale_after: only push nodes go stale",
            ),
            (
                "[[node]]\nname = \"a\"\nhost = \"10.0.0.1\"\nmode = \"push\"\n[[node]]\nname = \"b\"\nhost = \"10.0.0.1\"\nmode = \"push\"\n",
                "fleet.toml:7:8: node[1].host: 10.0.0.1 is already the host of push node node[0]",
            ),
            (
                "[listen]\nmax_connections = 0\n[[node]]\nname = \"a\"\nhost = \"h\"\n",
                "fleet.toml:2:19: listen.max_connections: must be between 1 and 1000000, got 0",
            ),
            (
                "[listen]\nport = 1\n[[node]]\nname = \"a\"\nhost = \"h\"\n",
                "fleet.toml:2:1: listen.port: unknown field `port`",
            ),
        ]);
    }
}

//! Open-file limit: a large fleet needs one descriptor per poll node and per push
//! connection. On Unix, raise the soft limit to the hard one, and say so when still
//! short. Windows has no per-process limit on sockets to raise, so the step is
//! skipped there.

#[cfg(unix)]
use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};

use crate::config::Config;

/// Descriptors the process needs besides sockets (stdio, the log, the runtime).
const BASE: u64 = 64;

/// Descriptors a config needs at most.
pub fn needed(config: &Config) -> u64 {
    let poll = config.poll_nodes().count() as u64;
    let push = config
        .listen
        .as_ref()
        .map(|l| l.max_connections as u64 + l.bind.len() as u64)
        .unwrap_or(0);
    poll + push + BASE
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit. Returns the limit now in
/// force, or `None` when it is unlimited or cannot be read.
#[cfg(unix)]
pub fn raise_nofile() -> Option<u64> {
    let limit = getrlimit(Resource::Nofile);
    let hard = limit.maximum;
    if limit.current != hard {
        let _ = setrlimit(
            Resource::Nofile,
            Rlimit {
                current: hard,
                maximum: hard,
            },
        );
    }
    getrlimit(Resource::Nofile).current
}

/// Nothing to raise: Windows sockets are not counted against a descriptor limit.
#[cfg(not(unix))]
pub fn raise_nofile() -> Option<u64> {
    None
}

/// The warning to print when `limit` is below what `config` needs.
pub fn shortfall_warning(config: &Config, limit: Option<u64>) -> Option<String> {
    let limit = limit?;
    let need = needed(config);
    (limit < need).then(|| {
        format!(
            "warning: this fleet may need {need} open files ({} poll nodes, up to {} push connections) \
             but the limit is {limit}; raise it with `ulimit -n {need}` (or LimitNOFILE={need} in a systemd unit)",
            config.poll_nodes().count(),
            config.listen.as_ref().map(|l| l.max_connections).unwrap_or(0)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warns_only_when_short() {
        let mut text = String::from("[listen]\nmax_connections = 100\n");
        for i in 0..50 {
            text.push_str(&format!(
                "[[node]]\nname = \"n{i}\"\nhost = \"127.0.0.1\"\n"
            ));
        }
        let c = Config::parse(&text, "t").expect("config");
        assert_eq!(needed(&c), 50 + 101 + BASE);
        assert!(shortfall_warning(&c, Some(10_000)).is_none());
        assert!(shortfall_warning(&c, None).is_none());
        let w = shortfall_warning(&c, Some(100)).expect("warning");
        assert!(w.contains("ulimit -n 215"), "{w}");
        assert!(w.contains("50 poll nodes"), "{w}");
    }

    #[cfg(unix)]
    #[test]
    fn raising_never_lowers_the_limit() {
        let before = getrlimit(Resource::Nofile).current;
        let after = raise_nofile();
        match (before, after) {
            (Some(b), Some(a)) => assert!(a >= b),
            (None, after) => assert_eq!(after, None),
            (Some(_), None) => {}
        }
        assert_eq!(after, getrlimit(Resource::Nofile).maximum);
    }
}

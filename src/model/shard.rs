//! Sharding: which of N instances watches a node. Poll nodes are split by a
//! stable hash of their name, so every instance can read one shared `fleet.toml`
//! and the split never depends on the order of the file, the platform, the Rust
//! version or the process. Push nodes go where their `ServerIP` points, which
//! only an explicit `shard = K` can say. A node in a sync group is placed by its
//! group's name, so a wall is never split (`config::select` applies the rule).
//!
//! The hash is 64-bit FNV-1a over the name's UTF-8 bytes (offset basis
//! 0xcbf29ce484222325, prime 0x100000001b3); shard = hash mod N, plus 1. It is
//! written out here rather than taken from `std::hash`, whose `DefaultHasher` is
//! explicitly allowed to change between Rust releases.

use std::fmt;

/// The most instances a fleet can be split across.
pub const MAX_SHARDS: u32 = 1024;

/// Shard `index` of `count` (1-based: shards 1..=count).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

impl Shard {
    /// A shard, checked: 1 ≤ index ≤ count ≤ [`MAX_SHARDS`].
    pub fn new(index: u32, count: u32) -> Result<Shard, String> {
        if count == 0 || count > MAX_SHARDS {
            return Err(format!(
                "the shard count must be from 1 to {MAX_SHARDS}, not {count}"
            ));
        }
        if index == 0 || index > count {
            return Err(format!(
                "shard {index} of {count} does not exist: shards are numbered 1 to {count}"
            ));
        }
        Ok(Shard { index, count })
    }

    /// `K/N`, as `--shard` takes it.
    pub fn parse(s: &str) -> Result<Shard, String> {
        let (k, n) = s
            .trim()
            .split_once('/')
            .ok_or_else(|| format!("expected K/N, such as 2/4, not {s:?}"))?;
        let num = |t: &str, what: &str| {
            t.trim()
                .parse::<u32>()
                .map_err(|_| format!("expected K/N, such as 2/4: {what} {t:?} is not a number"))
        };
        Shard::new(num(k, "K")?, num(n, "N")?)
    }

    /// The label value on metrics and notifications: `2/4`.
    pub fn label(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for Shard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// 64-bit FNV-1a of `bytes`.
pub fn fnv1a64(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The shard (1..=count) a node named `name` falls in; `count` ≥ 1.
pub fn shard_of(name: &str, count: u32) -> u32 {
    let count = count.max(1);
    (fnv1a64(name.as_bytes()) % u64::from(count)) as u32 + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_is_the_documented_one() {
        // Published FNV-1a 64 test vectors: the split must never drift.
        assert_eq!(fnv1a64(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a64(b"a"), 0xaf63_dc4c_8601_ec8c);
        assert_eq!(fnv1a64(b"foobar"), 0x8594_4171_f739_67e8);
        // Fixed values, worked out by hand from the definition: a change of
        // the hash would move nodes between running instances.
        assert_eq!(fnv1a64(b"wall-A"), 0x3554_6bc7_eaf5_a56b);
        assert_eq!(shard_of("wall-A", 4), 4);
        assert_eq!(shard_of("wall-A", 3), 1);
        assert_eq!(shard_of("render-07", 3), 1);
        assert_eq!(shard_of("wall-a-01", 4), 2);
        assert_eq!(shard_of("anything", 1), 1);
    }

    #[test]
    fn parse_and_refusals() {
        assert_eq!(Shard::parse("2/4"), Ok(Shard { index: 2, count: 4 }));
        assert_eq!(Shard::parse(" 1 / 1 "), Ok(Shard { index: 1, count: 1 }));
        for (bad, want) in [
            ("0/4", "shard 0 of 4 does not exist"),
            ("5/4", "shard 5 of 4 does not exist"),
            ("1/0", "the shard count must be from 1"),
            ("2", "expected K/N"),
            ("a/4", "K \"a\" is not a number"),
            ("1/99999", "the shard count must be from 1"),
        ] {
            let e = Shard::parse(bad).expect_err(bad);
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}

//! `[shard]`: this instance is shard `index` of `count`, so several monitors can
//! share one `fleet.toml` and each watch its part (`--shard K/N` overrides it).
//! The nodes are not narrowed here: the selection does that after validation,
//! so a `--shard` on the command line sees the whole fleet. A node's own
//! `shard = K` is checked against `count` in `node`.

use std::ops::Range;

use toml::Spanned;

use super::error::{ConfigError, Cx};
use super::raw::RawShard;
use crate::model::Shard;
use crate::model::shard::MAX_SHARDS;

impl Cx<'_> {
    pub(super) fn shard(
        &self,
        raw: Option<&Spanned<RawShard>>,
    ) -> Result<Option<Shard>, ConfigError> {
        let Some(table) = raw else { return Ok(None) };
        let s = table.get_ref();
        let index = self.shard_number(&s.index, table.span(), "shard.index")?;
        let count = self.shard_number(&s.count, table.span(), "shard.count")?;
        Shard::new(*index.get_ref(), *count.get_ref())
            .map(Some)
            .map_err(|message| {
                // `Shard::new` checks the count first; the message is about
                // whichever of the two it found wrong.
                if (1..=MAX_SHARDS).contains(count.get_ref()) {
                    self.err(index.span(), "shard.index", message)
                } else {
                    self.err(count.span(), "shard.count", message)
                }
            })
    }

    /// `index` or `count`: required, and a whole number `Shard::new` can judge.
    fn shard_number(
        &self,
        v: &Option<Spanned<i64>>,
        table: Range<usize>,
        key: &str,
    ) -> Result<Spanned<u32>, ConfigError> {
        let Some(n) = v else {
            return Err(self.err(
                table,
                key,
                "missing (required: [shard] needs both index and count)",
            ));
        };
        match u32::try_from(*n.get_ref()) {
            Ok(k) => Ok(Spanned::new(n.span(), k)),
            Err(_) => Err(self.err(
                n.span(),
                key,
                format!("must be from 1 to {MAX_SHARDS}, got {}", n.get_ref()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::{ONE, assert_errors, parse};
    use super::*;

    #[test]
    fn shard_table_is_read_and_nodes_are_not_filtered_here() {
        assert_eq!(parse(ONE).expect("valid").shard, None);
        let c = parse(&format!(
            "{ONE}[[node]]\nname = \"b\"\nhost = \"h\"\n[shard]\nindex = 2\ncount = 4\n"
        ))
        .expect("valid");
        assert_eq!(c.shard, Some(Shard { index: 2, count: 4 }));
        assert_eq!(c.nodes.len(), 2);
    }

    #[test]
    fn shard_errors_name_the_key() {
        assert_errors(&[
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[shard]\ncount = 4\n",
                "fleet.toml:4:1: shard.index: missing (required: [shard] needs both index and count)",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[shard]\nindex = 1\n",
                "fleet.toml:4:1: shard.count: missing (required: [shard] needs both index and count)",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[shard]\nindex = 5\ncount = 4\n",
                "fleet.toml:5:9: shard.index: shard 5 of 4 does not exist: shards are numbered 1 to 4",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[shard]\nindex = 0\ncount = 4\n",
                "fleet.toml:5:9: shard.index: shard 0 of 4 does not exist: shards are numbered 1 to 4",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[shard]\nindex = 1\ncount = 0\n",
                "fleet.toml:6:9: shard.count: the shard count must be from 1 to 1024, not 0",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[shard]\nindex = 1\ncount = 2000\n",
                "fleet.toml:6:9: shard.count: the shard count must be from 1 to 1024, not 2000",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[shard]\nindex = -1\ncount = 2\n",
                "fleet.toml:5:9: shard.index: must be from 1 to 1024, got -1",
            ),
            (
                "[[node]]\nname=\"a\"\nhost=\"h\"\n[shard]\nindex = 1\ncount = 2\nsize = 3\n",
                "fleet.toml:7:1: shard.size: unknown field `size`",
            ),
        ]);
    }
}

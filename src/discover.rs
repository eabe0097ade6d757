//! `discover`: listen for SyncGuard V3 senders and turn each one heard into a
//! `[[node]]` push entry.

use crate::cli::DiscoverArgs;

/// Runs `discover` and prints (or appends) what was heard.
pub async fn run(args: &DiscoverArgs) -> anyhow::Result<()> {
    let _ = args;
    anyhow::bail!("discover is not built yet")
}

//! Which file a path names: to notice a file deleted or replaced under an open
//! handle.

use std::path::Path;

/// The identity of the file at `path` now (device and inode); `None` if there is
/// none. On Windows an open file can be neither deleted nor replaced, so whether
/// the path exists says enough there.
#[cfg(unix)]
pub fn identity(path: &Path) -> Option<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().map(|m| (m.dev(), m.ino()))
}

#[cfg(not(unix))]
pub fn identity(path: &Path) -> Option<(u64, u64)> {
    path.exists().then_some((0, 0))
}

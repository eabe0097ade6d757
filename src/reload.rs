//! Reload without signals: `--watch-config` (or `[reload] watch = true`) watches the
//! config file and says when its content changed, on every platform (inotify,
//! ReadDirectoryChangesW, FSEvents through `notify`).
//!
//! The directory is watched, not the file. Editors save by writing a new file and
//! renaming it over the old one, and a Kubernetes ConfigMap is updated by swapping
//! a symlinked directory beside the file; a watch on the file itself would lose
//! track after the first such save. Any event in the directory starts a short
//! debounce; when it is quiet, the file is read and compared with what was seen
//! last, so unrelated files, swap files and our own reads trigger nothing.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// How long the directory must be quiet before the file is read: long enough for
/// an editor's write-and-rename or a ConfigMap's swap to finish.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Watches one config file for changes of its content.
pub struct ConfigWatcher {
    // Kept alive for as long as the watching should go on; dropping it stops it.
    _watcher: notify::RecommendedWatcher,
    events: mpsc::Receiver<()>,
    path: PathBuf,
    /// The content last seen (`None`: the file could not be read).
    last: Option<Vec<u8>>,
    /// When the latest event of a burst came; `None` when none is pending.
    quiet_from: Option<Instant>,
}

impl ConfigWatcher {
    /// Starts watching `path`'s directory.
    pub fn new(path: &Path) -> anyhow::Result<ConfigWatcher> {
        // One slot is enough: a pending wake-up already means "look again".
        let (tx, events) = mpsc::channel(1);
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
                // Reads (ours included) change nothing.
                Ok(ev) if matches!(ev.kind, EventKind::Access(_)) => {}
                Ok(_) => {
                    let _ = tx.try_send(());
                }
                Err(e) => tracing::warn!("watching the config file: {e}"),
            })
            .context("cannot watch the config file")?;
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        watcher
            .watch(&dir, RecursiveMode::NonRecursive)
            .with_context(|| format!("cannot watch {} for changes", dir.display()))?;
        Ok(ConfigWatcher {
            _watcher: watcher,
            events,
            path: path.to_path_buf(),
            last: std::fs::read(path).ok(),
            quiet_from: None,
        })
    }

    /// Resolves when the file's content differs from the last seen (a deleted or
    /// unreadable file counts as a change, so the reload's error is shown).
    ///
    /// Cancel-safe: a driver's `select!` drops this future whenever another branch
    /// wins (the dashboard does ten times a second), so the debounce lives in the
    /// watcher, not in the future, and every await is on a cancel-safe receive.
    pub async fn changed(&mut self) {
        loop {
            match self.quiet_from {
                None => match self.events.recv().await {
                    Some(()) => self.quiet_from = Some(Instant::now()),
                    // The watcher's thread is gone: no more changes will be seen.
                    None => return std::future::pending().await,
                },
                Some(since) => {
                    match tokio::time::timeout_at(since + DEBOUNCE, self.events.recv()).await {
                        // More events: the directory is not quiet yet.
                        Ok(Some(())) => self.quiet_from = Some(Instant::now()),
                        Ok(None) => return std::future::pending().await,
                        Err(_) => {
                            self.quiet_from = None;
                            let now = std::fs::read(&self.path).ok();
                            if now != self.last {
                                self.last = now;
                                return;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The next change of an optional watcher; never, without one.
pub async fn next_change(watcher: &mut Option<ConfigWatcher>) {
    match watcher {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// The watcher a driver should run: when asked for (flag or config) and there is
/// a file to watch. A watcher that cannot start is a warning, not a stop: SIGHUP
/// and `L` still reload.
pub fn start(asked: bool, path: Option<&Path>) -> Option<ConfigWatcher> {
    let path = path.filter(|_| asked)?;
    match ConfigWatcher::new(path) {
        Ok(w) => {
            tracing::info!(
                "reloading {} when it changes (--watch-config)",
                path.display()
            );
            Some(w)
        }
        Err(e) => {
            tracing::warn!("{e:#}; reload with SIGHUP or the dashboard's L instead");
            eprintln!("warning: {e:#}; reload with SIGHUP or the dashboard's L instead");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
    }

    #[test]
    fn a_new_content_is_seen_and_a_touch_is_not() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fleet.toml");
        std::fs::write(&path, "a = 1\n").expect("write");
        runtime().block_on(async {
            let mut w = ConfigWatcher::new(&path).expect("watcher");
            // Another file in the directory, and the same content written again:
            // nothing to reload.
            std::fs::write(dir.path().join("other.txt"), "x").expect("write");
            std::fs::write(&path, "a = 1\n").expect("write");
            let quiet = tokio::time::timeout(Duration::from_secs(2), w.changed()).await;
            assert!(quiet.is_err(), "an unchanged file was reported as changed");
            // Saved the way editors save: a new file renamed over the old one.
            let tmp = dir.path().join(".fleet.toml.tmp");
            std::fs::write(&tmp, "a = 2\n").expect("write");
            std::fs::rename(&tmp, &path).expect("rename");
            tokio::time::timeout(Duration::from_secs(10), w.changed())
                .await
                .expect("the renamed-over file was not seen");
            // And written in place, after the rename.
            std::fs::write(&path, "a = 3\n").expect("write");
            tokio::time::timeout(Duration::from_secs(10), w.changed())
                .await
                .expect("the second change was not seen");
        });
    }

    /// A Kubernetes ConfigMap volume: `fleet.toml` is a symlink into `..data`, itself
    /// a symlink to a timestamped directory; an update writes a new directory and
    /// renames a new `..data` link over the old one. The file itself is never
    /// written, so only a directory watch sees it.
    #[cfg(unix)]
    #[test]
    fn a_configmap_style_symlink_swap_is_seen() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().expect("tempdir");
        let d = dir.path();
        std::fs::create_dir(d.join("..2026_12_01_a")).expect("mkdir");
        std::fs::write(d.join("..2026_12_01_a/fleet.toml"), "a = 1\n").expect("write");
        symlink("..2026_12_01_a", d.join("..data")).expect("symlink");
        symlink("..data/fleet.toml", d.join("fleet.toml")).expect("symlink");
        runtime().block_on(async {
            let mut w = ConfigWatcher::new(&d.join("fleet.toml")).expect("watcher");
            std::fs::create_dir(d.join("..2026_12_01_b")).expect("mkdir");
            std::fs::write(d.join("..2026_12_01_b/fleet.toml"), "a = 2\n").expect("write");
            symlink("..2026_12_01_b", d.join("..data_tmp")).expect("symlink");
            std::fs::rename(d.join("..data_tmp"), d.join("..data")).expect("swap");
            tokio::time::timeout(Duration::from_secs(10), w.changed())
                .await
                .expect("the swapped ConfigMap was not seen");
        });
    }

    /// A driver that wakes often drops `changed()` mid-debounce again and again;
    /// the change must still come through.
    #[test]
    fn a_change_survives_a_busy_select() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("fleet.toml");
        std::fs::write(&path, "a = 1\n").expect("write");
        runtime().block_on(async {
            let mut w = ConfigWatcher::new(&path).expect("watcher");
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            std::fs::write(&path, "a = 2\n").expect("write");
            let deadline = Instant::now() + Duration::from_secs(10);
            let mut ticks = 0u32;
            loop {
                tokio::select! {
                    () = w.changed() => break,
                    _ = tick.tick() => ticks += 1,
                }
                assert!(Instant::now() < deadline, "the change was lost");
            }
            // The debounce spanned many cancelled polls.
            assert!(ticks > 5, "{ticks}");
        });
    }
}

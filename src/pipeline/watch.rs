//! Change notification for the drift re-check: the kernel says when a
//! watched path of the working tree (`[project] watch`, directories
//! included), the baseline file or a ref the drift depends on (`main`,
//! `origin/<main>`, the tags, `packed-refs`) changes, instead of waiting for
//! a timer.
//!
//! [`Watch`] uses `notify`'s native watcher (inotify on Linux) and falls
//! back to its poll watcher (a scan every [`Watch::POLL_INTERVAL`] of the
//! times and contents of the watched files) where the
//! native one cannot be had (no inotify, its instance or watch limit
//! reached). A path that does not exist yet is watched through its nearest
//! existing ancestor and armed itself once it appears. Access events (a file
//! opened or read, by the drift check itself for one) are ignored; a burst
//! of changes (a checkout, a fetch writing several refs) is one wake-up.
use std::path::{Path, PathBuf};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use notify::event::{AccessKind, AccessMode, EventKind};
use notify::{PollWatcher, RecommendedWatcher, RecursiveMode, Watcher};

use super::config::Config;

#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error("the file watcher could not be started for {path}: {source}")]
    Start {
        path: String,
        #[source]
        source: notify::Error,
    },
}

/// Which of `notify`'s watchers is in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// The kernel's notifications (inotify on Linux).
    Native,
    /// A scan of the watched paths every [`Watch::POLL_INTERVAL`].
    Poll,
}

/// What [`Watch::wait`] saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// A watched path changed (a burst counts once).
    Changed,
    /// Nothing changed within the timeout.
    Timeout,
    /// The watcher stopped; the caller should poll instead.
    Closed,
}

/// One path of interest and where it is watched from now.
struct Interest {
    path: PathBuf,
    /// The path actually watched: `path` itself (a directory, recursively),
    /// its parent (a file: a rename over it is seen too), or the nearest
    /// existing ancestor while it does not exist.
    anchor: Option<PathBuf>,
}

/// The paths a drift check depends on: the watched files and directories
/// and the baseline file in the working tree at `root`, and in the git
/// directory `common` the main branch, `origin/<main>`, the tags and
/// `packed-refs`.
pub fn drift_paths(root: &Path, common: &Path, cfg: &Config) -> Vec<PathBuf> {
    let main = &cfg.project.main_branch;
    let mut paths: Vec<PathBuf> = cfg.project.watch.iter().map(|w| root.join(w)).collect();
    paths.push(root.join(&cfg.baseline.file));
    paths.push(common.join("refs/heads").join(main));
    paths.push(common.join("refs/remotes/origin").join(main));
    paths.push(common.join("packed-refs"));
    paths.push(common.join("refs/tags"));
    paths
}

/// A running watcher over a set of paths (see the module documentation).
pub struct Watch {
    watcher: Box<dyn Watcher + Send>,
    backend: Backend,
    events: Receiver<notify::Result<notify::Event>>,
    interests: Vec<Interest>,
}

impl Watch {
    /// How often the poll watcher scans.
    pub const POLL_INTERVAL: Duration = Duration::from_millis(400);
    /// A burst ends after this long without a further change...
    pub const QUIET: Duration = Duration::from_millis(60);
    /// ...or, when changes keep coming, this long after its first one.
    pub const LONGEST: Duration = Duration::from_millis(250);

    /// Watches `paths` with the native watcher, or the poll watcher where the
    /// native one cannot be created or cannot watch them.
    pub fn start(paths: &[PathBuf]) -> Result<Watch, WatchError> {
        match Watch::start_with(Backend::Native, paths) {
            Ok(w) => Ok(w),
            Err(_) => Watch::start_with(Backend::Poll, paths),
        }
    }

    /// Watches `paths` with the given backend.
    pub fn start_with(backend: Backend, paths: &[PathBuf]) -> Result<Watch, WatchError> {
        let (tx, events) = mpsc::channel();
        let err = |e: notify::Error| WatchError::Start {
            path: paths
                .first()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
            source: e,
        };
        let watcher: Box<dyn Watcher + Send> = match backend {
            Backend::Native => Box::new(
                RecommendedWatcher::new(tx, notify::Config::default().with_follow_symlinks(false))
                    .map_err(err)?,
            ),
            Backend::Poll => Box::new(
                PollWatcher::new(
                    tx,
                    // Its times are whole seconds: a change within the
                    // second of the last scan is told by the content.
                    notify::Config::default()
                        .with_poll_interval(Watch::POLL_INTERVAL)
                        .with_compare_contents(true)
                        .with_follow_symlinks(false),
                )
                .map_err(err)?,
            ),
        };
        let mut w = Watch {
            watcher,
            backend,
            events,
            interests: paths
                .iter()
                .map(|p| Interest {
                    path: p.clone(),
                    anchor: None,
                })
                .collect(),
        };
        w.arm()?;
        Ok(w)
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    /// Watches each path from where it should be watched now (see
    /// [`Interest::anchor`]); a path whose anchor has not changed is left
    /// as it is.
    fn arm(&mut self) -> Result<(), WatchError> {
        let wanted: Vec<(PathBuf, RecursiveMode)> =
            self.interests.iter().map(|i| anchor_of(&i.path)).collect();
        let recursive: Vec<&PathBuf> = wanted
            .iter()
            .filter(|(_, m)| matches!(m, RecursiveMode::Recursive))
            .map(|(a, _)| a)
            .collect();
        for (i, (anchor, mode)) in self.interests.iter_mut().zip(&wanted) {
            if i.anchor.as_ref() == Some(anchor) {
                continue;
            }
            // A plain watch of a directory already watched recursively (the
            // baseline file's folder, itself a watched directory) would
            // take its recursion away: it is covered already.
            if matches!(mode, RecursiveMode::NonRecursive)
                && recursive.iter().any(|r| anchor.starts_with(r))
            {
                i.anchor = Some(anchor.clone());
                continue;
            }
            match self.watcher.watch(anchor, *mode) {
                Ok(()) => i.anchor = Some(anchor.clone()),
                // Gone between the look and the watch: armed on the next
                // change around it.
                Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) => i.anchor = None,
                Err(e) => {
                    return Err(WatchError::Start {
                        path: anchor.display().to_string(),
                        source: e,
                    })
                }
            }
        }
        Ok(())
    }

    /// Whether `event` can change what the paths hold.
    fn relevant(&self, event: &notify::Result<notify::Event>) -> bool {
        let Ok(event) = event else {
            // An error (a queue overflow, a watch lost): look again.
            return true;
        };
        if event.need_rescan() {
            return true;
        }
        if let EventKind::Access(a) = event.kind {
            if a != AccessKind::Close(AccessMode::Write) {
                return false;
            }
        }
        event.paths.iter().any(|p| {
            self.interests.iter().any(|i| {
                // Inside a watched directory, but not in a git directory
                // under it (a watched `.`): git's own writes are not the
                // working tree's.
                (p.starts_with(&i.path) && !in_git_dir(p.strip_prefix(&i.path).unwrap_or(p)))
                    // A directory on the way to it appeared or went.
                    || i.path.starts_with(p)
            })
        })
    }

    /// Waits up to `timeout` for a change to one of the paths; a burst of
    /// changes returns once, when it has been quiet for [`Watch::QUIET`]
    /// (at most [`Watch::LONGEST`] after its first change). Paths that
    /// appeared are armed before it returns.
    pub fn wait(&mut self, timeout: Duration) -> Wake {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(e) if self.relevant(&e) => break,
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => return Wake::Timeout,
                Err(RecvTimeoutError::Disconnected) => return Wake::Closed,
            }
        }
        let first = Instant::now();
        loop {
            let until_longest = Watch::LONGEST.saturating_sub(first.elapsed());
            if until_longest.is_zero() {
                break;
            }
            match self.events.recv_timeout(Watch::QUIET.min(until_longest)) {
                Ok(_) => {}
                Err(RecvTimeoutError::Timeout) => break,
                Err(RecvTimeoutError::Disconnected) => break,
            }
        }
        // A directory that appeared is watched from now on; what happened in
        // it before is read by the check the caller makes next.
        let _ = self.arm();
        Wake::Changed
    }
}

fn in_git_dir(rel: &Path) -> bool {
    rel.components().any(|c| c.as_os_str() == ".git")
}

/// Waits up to `timeout` on `watch` for a change (`true`); without one, or
/// once it has stopped (then it is dropped), sleeps `timeout` and says
/// `false`, so that a caller that polls as well goes on polling.
pub fn wait_or_sleep(watch: &mut Option<Watch>, timeout: Duration) -> bool {
    match watch.as_mut().map(|w| w.wait(timeout)) {
        Some(Wake::Changed) => true,
        Some(Wake::Timeout) => false,
        Some(Wake::Closed) | None => {
            *watch = None;
            std::thread::sleep(timeout);
            false
        }
    }
}

/// Where `path` is watched from: an existing directory itself, recursively;
/// an existing file through its parent (so that a rename over it, as
/// editors and git save, is seen); a missing path through its nearest
/// existing ancestor.
fn anchor_of(path: &Path) -> (PathBuf, RecursiveMode) {
    if path.is_dir() {
        return (path.to_path_buf(), RecursiveMode::Recursive);
    }
    let mut p = path.parent();
    while let Some(dir) = p {
        if dir.is_dir() {
            return (dir.to_path_buf(), RecursiveMode::NonRecursive);
        }
        p = dir.parent();
    }
    (PathBuf::from("/"), RecursiveMode::NonRecursive)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed_within_a_second(w: &mut Watch, change: impl FnOnce()) -> Duration {
        // Drain what arming produced.
        while w.wait(Duration::from_millis(100)) == Wake::Changed {}
        let t = Instant::now();
        change();
        assert_eq!(w.wait(Duration::from_secs(3)), Wake::Changed);
        let took = t.elapsed();
        assert!(
            took < Duration::from_secs(1),
            "{:?} took {took:?}",
            w.backend()
        );
        took
    }

    fn each_backend(test: impl Fn(Backend)) {
        for b in [Backend::Native, Backend::Poll] {
            test(b);
        }
    }

    #[test]
    fn a_file_changed_deep_in_a_watched_directory_wakes_it() {
        each_backend(|b| {
            let d = tempfile::tempdir().unwrap();
            let dir = d.path().join("site");
            std::fs::create_dir_all(dir.join("a/b")).unwrap();
            std::fs::write(dir.join("a/b/page.html"), "one\n").unwrap();
            let mut w = Watch::start_with(b, std::slice::from_ref(&dir)).unwrap();
            assert_eq!(w.backend(), b);
            changed_within_a_second(&mut w, || {
                std::fs::write(dir.join("a/b/page.html"), "two, longer\n").unwrap()
            });
        });
    }

    #[test]
    fn a_directory_that_appears_later_is_watched_inside() {
        each_backend(|b| {
            let d = tempfile::tempdir().unwrap();
            let dir = d.path().join("later/site");
            let mut w = Watch::start_with(b, std::slice::from_ref(&dir)).unwrap();
            changed_within_a_second(&mut w, || std::fs::create_dir_all(dir.join("sub")).unwrap());
            // Anything that landed while it was being armed is settled.
            while w.wait(Duration::from_millis(600)) == Wake::Changed {}
            changed_within_a_second(&mut w, || {
                std::fs::write(dir.join("sub/new.html"), "new\n").unwrap()
            });
        });
    }

    #[test]
    fn a_file_replaced_by_a_rename_wakes_it_and_its_siblings_do_not() {
        let d = tempfile::tempdir().unwrap();
        let file = d.path().join("ref");
        std::fs::write(&file, "a\n").unwrap();
        let mut w = Watch::start_with(Backend::Native, std::slice::from_ref(&file)).unwrap();
        while w.wait(Duration::from_millis(100)) == Wake::Changed {}
        std::fs::write(d.path().join("ref.lock"), "b\n").unwrap();
        assert_eq!(
            w.wait(Duration::from_millis(300)),
            Wake::Timeout,
            "a sibling"
        );
        changed_within_a_second(&mut w, || {
            std::fs::rename(d.path().join("ref.lock"), &file).unwrap()
        });
    }

    #[test]
    fn a_file_inside_a_watched_directory_keeps_the_directory_recursive() {
        each_backend(|b| {
            let d = tempfile::tempdir().unwrap();
            let dir = d.path().join("deployment");
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(dir.join("baseline.env"), "A=1\n").unwrap();
            let paths = [dir.clone(), dir.join("baseline.env")];
            let mut w = Watch::start_with(b, &paths).unwrap();
            changed_within_a_second(&mut w, || std::fs::create_dir(dir.join("new")).unwrap());
            while w.wait(Duration::from_millis(600)) == Wake::Changed {}
            changed_within_a_second(&mut w, || {
                std::fs::write(dir.join("new/page.html"), "new\n").unwrap()
            });
        });
    }

    #[test]
    fn reading_a_watched_file_is_not_a_change() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("site");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("page.html"), "one\n").unwrap();
        let mut w = Watch::start_with(Backend::Native, std::slice::from_ref(&dir)).unwrap();
        while w.wait(Duration::from_millis(100)) == Wake::Changed {}
        assert_eq!(
            std::fs::read_to_string(dir.join("page.html")).unwrap(),
            "one\n"
        );
        assert_eq!(w.wait(Duration::from_millis(300)), Wake::Timeout);
    }

    #[test]
    fn a_watched_root_ignores_its_git_directory() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().to_path_buf();
        std::fs::create_dir_all(root.join(".git/refs")).unwrap();
        let mut w = Watch::start_with(Backend::Native, std::slice::from_ref(&root)).unwrap();
        while w.wait(Duration::from_millis(100)) == Wake::Changed {}
        std::fs::write(root.join(".git/index.lock"), "x\n").unwrap();
        std::fs::write(root.join(".git/refs/x"), "x\n").unwrap();
        assert_eq!(w.wait(Duration::from_millis(300)), Wake::Timeout);
        changed_within_a_second(&mut w, || {
            std::fs::write(root.join("page.html"), "x\n").unwrap()
        });
    }

    #[test]
    fn without_a_watcher_it_sleeps() {
        let t = Instant::now();
        assert!(!wait_or_sleep(&mut None, Duration::from_millis(50)));
        assert!(t.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn a_burst_of_changes_is_one_wake_up() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().join("refs");
        std::fs::create_dir_all(&dir).unwrap();
        let mut w = Watch::start_with(Backend::Native, std::slice::from_ref(&dir)).unwrap();
        while w.wait(Duration::from_millis(100)) == Wake::Changed {}
        for n in 0..20 {
            std::fs::write(dir.join(format!("r{n}")), "x\n").unwrap();
        }
        assert_eq!(w.wait(Duration::from_secs(1)), Wake::Changed);
        assert_eq!(w.wait(Duration::from_millis(300)), Wake::Timeout);
    }
}

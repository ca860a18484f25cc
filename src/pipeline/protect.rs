//! Safety rails (SPEC §7): the directories guardrail replaces or empties
//! (`[live] publish_dir`, restore targets) may never be a directory whose loss
//! destroys data, and a backup may not unpack to more than it may hold.
//!
//! Paths are judged after resolving symbolic links (a path that does not
//! exist yet by its nearest existing ancestor, the rest normalised without
//! touching the disk), so neither `..` nor a link can smuggle a protected
//! directory in.
use std::path::{Component, Path, PathBuf};

use super::config::{self, Config};

/// The directories of a repository that guardrail keeps clear of (the
/// repository type implements it, so this module does not depend on it).
pub trait RepoDirs {
    /// The working tree.
    fn root(&self) -> &Path;
    /// The git directory.
    fn git_dir(&self) -> &Path;
    /// The common git directory (of a worktree's main repository).
    fn common_dir(&self) -> &Path;
    /// guardrail's state directory.
    fn state_dir(&self) -> &Path;
}

/// A directory guardrail would destroy by replacing `key`'s directory.
#[derive(Debug, thiserror::Error)]
#[error("{key} {dir} {relation} {what} {protected}, which guardrail would destroy when it replaces that directory; choose a directory of its own")]
pub struct GuardError {
    pub key: String,
    pub dir: String,
    /// `is`, `contains`, `lies inside`.
    pub relation: &'static str,
    pub what: &'static str,
    pub protected: String,
}

/// The directories a replaced directory must keep clear of.
#[derive(Debug, Clone)]
pub struct Protected {
    /// (what, canonical path, whether lying inside it is forbidden too).
    dirs: Vec<(&'static str, PathBuf, bool)>,
}

impl Protected {
    /// `$HOME` and `/`: never replaced, never contained.
    pub fn system() -> Protected {
        let mut dirs = Vec::new();
        if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
            dirs.push(("$HOME", real_path(Path::new(&home)), false));
        }
        dirs.push(("the root directory", PathBuf::from("/"), false));
        Protected { dirs }
    }

    /// The repository's working tree, its git directory (and the common
    /// one of a worktree), `backups_dir`, the state directory, `$HOME`, `/`.
    pub fn of_repo(repo: &impl RepoDirs, cfg: &Config) -> Protected {
        Protected::for_paths(
            repo.root(),
            repo.git_dir(),
            repo.common_dir(),
            repo.state_dir(),
            &config::resolve(repo.root(), &cfg.project.backups_dir),
        )
    }

    /// [`Protected::of_repo`] from the paths themselves.
    pub fn for_paths(
        root: &Path,
        git_dir: &Path,
        common_dir: &Path,
        state: &Path,
        backups: &Path,
    ) -> Protected {
        let mut dirs = vec![
            ("the repository's working tree", real_path(root), true),
            ("the git directory", real_path(git_dir), true),
            ("the git directory", real_path(common_dir), true),
            ("backups_dir", real_path(backups), true),
            ("the state directory", real_path(state), true),
        ];
        dirs.extend(Protected::system().dirs);
        Protected { dirs }
    }

    /// Refuses `dir` (named by `key` in the message) when it is, contains or
    /// lies inside a protected directory.
    pub fn check(&self, key: &str, dir: &Path) -> Result<(), GuardError> {
        let real = real_path(dir);
        let refuse = |relation, what: &'static str, p: &Path| GuardError {
            key: key.to_string(),
            dir: dir.display().to_string(),
            relation,
            what,
            protected: p.display().to_string(),
        };
        // "is" names the directory best; then the first in order.
        if let Some((what, p, _)) = self.dirs.iter().find(|(_, p, _)| *p == real) {
            return Err(refuse("is", what, p));
        }
        for (what, p, inside_forbidden) in &self.dirs {
            if p.starts_with(&real) {
                return Err(refuse("contains", what, p));
            }
            if *inside_forbidden && real.starts_with(p) {
                return Err(refuse("lies inside", what, p));
            }
        }
        Ok(())
    }
}

/// Checks `[live] publish_dir` (if set) against the repository's protected
/// directories: when the configuration is loaded and again just before the
/// built-in publish swaps it.
pub fn check_publish_dir(repo: &impl RepoDirs, cfg: &Config) -> Result<(), GuardError> {
    let publish = cfg.live.publish_dir.trim();
    if publish.is_empty() {
        return Ok(());
    }
    Protected::of_repo(repo, cfg)
        .check("[live] publish_dir", &config::resolve(repo.root(), publish))
}

/// `p` with symbolic links resolved: the nearest existing ancestor is
/// canonicalised and the rest appended, `.` dropped and `..` applied.
pub fn real_path(p: &Path) -> PathBuf {
    let abs = if p.is_absolute() {
        p.to_path_buf()
    } else {
        std::env::current_dir()
            .unwrap_or_else(|_| PathBuf::from("/"))
            .join(p)
    };
    let mut base = lexical(&abs);
    let mut rest: Vec<std::ffi::OsString> = Vec::new();
    loop {
        if let Ok(c) = base.canonicalize() {
            base = c;
            break;
        }
        match (base.file_name(), base.parent()) {
            (Some(name), Some(parent)) => {
                rest.push(name.to_os_string());
                base = parent.to_path_buf();
            }
            _ => break,
        }
    }
    for name in rest.iter().rev() {
        base.push(name);
    }
    base
}

fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(n) => out.push(n),
            _ => {}
        }
    }
    out
}

/// The file system statistics of the one holding `path` (`statvfs`).
pub fn fs_stats(path: &Path) -> std::io::Result<libc::statvfs> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs on a NUL-terminated path into a zeroed struct.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st)
}

/// Bytes an unprivileged writer may still use on the file system holding
/// `path`.
pub fn available_space(path: &Path) -> std::io::Result<u64> {
    let st = fs_stats(path)?;
    Ok((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_path_resolves_links_and_dots() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("repo")).unwrap();
        std::os::unix::fs::symlink(root.join("repo"), root.join("link")).unwrap();
        assert_eq!(real_path(&root.join("link")), root.join("repo"));
        assert_eq!(real_path(&root.join("link/new/../x")), root.join("repo/x"));
        assert_eq!(real_path(&root.join("missing/../repo")), root.join("repo"));
    }

    #[test]
    fn protected_relations() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        let repo = root.join("sandbox/mosaic");
        std::fs::create_dir_all(repo.join(".git/guardrail")).unwrap();
        let p = Protected::for_paths(
            &repo,
            &repo.join(".git"),
            &repo.join(".git"),
            &repo.join(".git/guardrail"),
            &repo.join("backups"),
        );
        assert!(p.check("k", &root.join("sandbox/production/site")).is_ok());
        assert_eq!(p.check("k", &repo).unwrap_err().relation, "is");
        assert_eq!(
            p.check("k", &root.join("sandbox")).unwrap_err().relation,
            "contains"
        );
        assert_eq!(
            p.check("k", &repo.join("site")).unwrap_err().relation,
            "lies inside"
        );
        assert!(p.check("k", Path::new("/")).is_err());
    }
}

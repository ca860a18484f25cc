//! Checkouts for scripts to run in (SPEC §5, `[playbook] checkout`).
//!
//! `worktree`: a git worktree under `<state>/worktrees/<slug>`, detached at
//! the commit, reused and reset (forced checkout, untracked files removed)
//! between runs, and removed when its branch is gone. `in-place`: the
//! repository's own working tree, refused when dirty; the previous branch is
//! put back when the checkout is dropped.
//!
//! Worktrees are made with the git command line: git2's worktree support does
//! not reset or clean, and git is on every deploy box anyway (tags are pushed
//! with it too).
use std::path::{Path, PathBuf};
use std::process::Command;

use super::config::Checkout as Mode;
use super::repo::{HeadState, Repo};

#[derive(Debug, thiserror::Error)]
pub enum CheckoutError {
    #[error("the working tree at {path} has uncommitted changes ({files}); commit or stash them, or use checkout = \"worktree\"")]
    Dirty { path: String, files: String },
    #[error("git {args} failed in {dir}: {stderr}")]
    Git {
        args: String,
        dir: String,
        stderr: String,
    },
    #[error("could not run git: {0}")]
    Spawn(#[from] std::io::Error),
    #[error("git: {0}")]
    Git2(#[from] git2::Error),
}

impl CheckoutError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

/// A tree checked out at one commit. In-place checkouts put the previous
/// HEAD back when dropped.
#[derive(Debug)]
pub struct Checkout {
    pub path: PathBuf,
    pub commit: String,
    restore: Option<(PathBuf, String)>,
}

impl Checkout {
    /// Puts `paths` back as committed at the checkout's commit: tracked
    /// files forced back, untracked files under them removed (ignored files
    /// are kept). For a rollback that copied a restored bundle over an
    /// in-place checkout, so the working tree is left as it was found.
    pub fn reset_paths(&self, paths: &[String]) -> Result<(), CheckoutError> {
        if paths.is_empty() {
            return Ok(());
        }
        let mut args = vec!["checkout", "--quiet", "--force", self.commit.as_str(), "--"];
        args.extend(paths.iter().map(String::as_str));
        git(&self.path, &args)?;
        let mut args = vec!["clean", "-fdq", "--"];
        args.extend(paths.iter().map(String::as_str));
        git(&self.path, &args)?;
        Ok(())
    }
}

impl Drop for Checkout {
    fn drop(&mut self) {
        if let Some((dir, prev)) = self.restore.take() {
            let _ = git(&dir, &["checkout", "--quiet", &prev]);
        }
    }
}

/// Runs git in `dir` with the user's configuration but no prompts.
fn git(dir: &Path, args: &[&str]) -> Result<String, CheckoutError> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(CheckoutError::Git {
            args: args.join(" "),
            dir: dir.display().to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The directory name for a branch or tag: `/` becomes `-`.
pub fn slug(name: &str) -> String {
    name.replace('/', "-")
}

/// Paths with uncommitted changes in the repository's working tree
/// (untracked files count; ignored files do not).
pub fn dirty_files(repo: &Repo) -> Result<Vec<String>, CheckoutError> {
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).include_ignored(false);
    let st = repo.git.statuses(Some(&mut opts))?;
    Ok(st
        .iter()
        .filter_map(|e| e.path().map(str::to_string))
        .collect())
}

/// Checks out `commit` for a run named `name` (a branch or tag).
pub fn prepare(
    repo: &Repo,
    mode: Mode,
    name: &str,
    commit: &str,
) -> Result<Checkout, CheckoutError> {
    match mode {
        Mode::Worktree => worktree(repo, name, commit),
        Mode::InPlace => in_place(repo, commit),
    }
}

fn worktree(repo: &Repo, name: &str, commit: &str) -> Result<Checkout, CheckoutError> {
    worktree_in(repo, "worktrees", name, commit)
}

/// A worktree of its own for writing a handoff package on a branch that is
/// not checked out anywhere: `<state>/handoff-worktrees/<slug>`, detached at
/// `commit` (so the branch stays free to be checked out elsewhere), reset
/// and cleaned like the gate's worktrees. Kept apart from those so that a
/// gate run never cleans away a package written but not yet committed.
pub fn handoff_worktree(
    repo: &Repo,
    branch: &str,
    commit: &str,
) -> Result<Checkout, CheckoutError> {
    worktree_in(repo, "handoff-worktrees", branch, commit)
}

fn worktree_in(
    repo: &Repo,
    dir: &str,
    name: &str,
    commit: &str,
) -> Result<Checkout, CheckoutError> {
    let base = repo.state.path.join(dir);
    std::fs::create_dir_all(&base)?;
    let path = base.join(slug(name));
    let registered = path.join(".git").exists();
    if registered {
        git(
            &path,
            &["checkout", "--quiet", "--force", "--detach", commit],
        )?;
        git(&path, &["clean", "-ffdxq"])?;
    } else {
        if path.exists() {
            std::fs::remove_dir_all(&path)?;
        }
        git(&repo.root, &["worktree", "prune"])?;
        let p = path.display().to_string();
        git(
            &repo.root,
            &[
                "worktree", "add", "--quiet", "--force", "--detach", &p, commit,
            ],
        )?;
    }
    Ok(Checkout {
        path,
        commit: commit.to_string(),
        restore: None,
    })
}

fn in_place(repo: &Repo, commit: &str) -> Result<Checkout, CheckoutError> {
    let dirty = dirty_files(repo)?;
    if !dirty.is_empty() {
        let mut files = dirty.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
        if dirty.len() > 3 {
            files.push_str(&format!(" and {} more", dirty.len() - 3));
        }
        return Err(CheckoutError::Dirty {
            path: repo.root.display().to_string(),
            files,
        });
    }
    let prev = match repo.head_state() {
        HeadState::Branch { name } => name,
        HeadState::Detached { commit } => commit,
        HeadState::Unborn => String::new(),
    };
    git(&repo.root, &["checkout", "--quiet", "--detach", commit])?;
    Ok(Checkout {
        path: repo.root.clone(),
        commit: commit.to_string(),
        restore: (!prev.is_empty()).then(|| (repo.root.clone(), prev)),
    })
}

/// Removes worktrees whose branch is gone; returns their names.
pub fn prune(repo: &Repo, live_names: &[String]) -> Result<Vec<String>, CheckoutError> {
    let base = repo.state.path.join("worktrees");
    let Ok(rd) = std::fs::read_dir(&base) else {
        return Ok(Vec::new());
    };
    let keep: Vec<String> = live_names.iter().map(|n| slug(n)).collect();
    let mut removed = Vec::new();
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if keep.contains(&name) {
            continue;
        }
        let p = e.path().display().to_string();
        if git(&repo.root, &["worktree", "remove", "--force", &p]).is_err() {
            std::fs::remove_dir_all(e.path())?;
        }
        removed.push(name);
    }
    git(&repo.root, &["worktree", "prune"])?;
    Ok(removed)
}

//! The repository model (SPEC §1–2) read with git2: the main branch, feature
//! branches (local and remote-tracking, merged by name), prod tags, the golden
//! build, and who the user is.
//!
//! Reading is split in two so the console's first frame never waits for a
//! full walk: [`Repo::branch_refs`] lists names straight from the refs, and
//! [`Repo::branch_details`] fills in subject, author and ahead/behind later.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use git2::{BranchType, Oid, Repository};
use serde::Serialize;

use super::config::{self, Config, ConfigError};
pub use super::main_index::MainIndex;
use super::state::StateDir;

#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error("{0} is not inside a git repository")]
    NotARepo(String),
    #[error("{0} is a bare repository; guardrail needs a working tree")]
    Bare(String),
    #[error("unknown branch `{0}`")]
    UnknownBranch(String),
    #[error("unknown prod tag `{0}`")]
    UnknownTag(String),
    #[error("the main branch `{0}` does not exist in this repository")]
    NoMainBranch(String),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Guard(#[from] super::protect::GuardError),
}

impl RepoError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

/// Authority as committed (see [`Repo::config`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authority {
    pub default_branch: String,
    pub main_branch: String,
    pub release_managers: Vec<String>,
    pub drill_token: String,
}

/// An open repository with its configuration and state directory.
pub struct Repo {
    pub git: Repository,
    pub root: PathBuf,
    pub state: StateDir,
}

/// Where HEAD points.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum HeadState {
    Branch {
        name: String,
    },
    Detached {
        commit: String,
    },
    /// A repository with no commits yet.
    Unborn,
}

/// A feature branch as named by its refs: enough for the first frame.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BranchRef {
    pub name: String,
    /// The head chosen: the newer of the local and remote-tracking heads
    /// once details are read; the local one until then.
    pub head: String,
    /// Where it exists: `local` and/or remote names such as `origin`.
    pub sources: Vec<String>,
    /// Every (source, head) pair, to pick the newer head.
    #[serde(skip)]
    pub heads: Vec<(String, Oid)>,
}

/// A feature branch with the details read from its head commit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BranchInfo {
    pub name: String,
    pub head: String,
    pub sources: Vec<String>,
    pub subject: String,
    pub author: String,
    /// Commit time, seconds since the epoch (UTC).
    pub time: i64,
    /// Commits on the branch not on main, and on main not on the branch
    /// (`None` when there is no main branch).
    pub ahead: Option<usize>,
    pub behind: Option<usize>,
}

/// A production tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProdTag {
    pub name: String,
    pub date: NaiveDate,
    /// 1 for `prod-YYYY-MM-DD`, N for `prod-YYYY-MM-DD.N`.
    pub n: u32,
    pub commit: String,
    pub annotated: bool,
    /// The annotated tag's message (checkpoints live there).
    #[serde(skip)]
    pub message: Option<String>,
    pub backup: bool,
    pub backup_path: String,
}

/// Who is at the keyboard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct User {
    pub name: String,
    pub release_manager: bool,
}

pub use super::tags::{next_free_tag, parse_prod_tag};

/// The login name: `SUDO_USER` under sudo, else `USER`, `LOGNAME`, the
/// password database.
pub fn login_name() -> String {
    for var in ["SUDO_USER", "USER", "LOGNAME"] {
        if let Ok(v) = std::env::var(var) {
            if !v.is_empty() {
                return v;
            }
        }
    }
    // SAFETY: getpwuid returns a pointer into static storage or null; we copy
    // the name out immediately and do not keep the pointer.
    unsafe {
        let pw = libc::getpwuid(libc::geteuid());
        if !pw.is_null() && !(*pw).pw_name.is_null() {
            return std::ffi::CStr::from_ptr((*pw).pw_name)
                .to_string_lossy()
                .into_owned();
        }
    }
    "unknown".into()
}

impl Repo {
    /// Finds the repository containing `path`.
    pub fn open(path: &Path) -> Result<Repo, RepoError> {
        let git = Repository::discover(path)
            .map_err(|_| RepoError::NotARepo(path.display().to_string()))?;
        let root = git
            .workdir()
            .ok_or_else(|| RepoError::Bare(path.display().to_string()))?
            .to_path_buf();
        let state = StateDir::for_common_dir(git.commondir());
        Ok(Repo { git, root, state })
    }

    /// A second handle on the same repository (git2 handles are not shared
    /// between threads).
    pub fn reopen(&self) -> Result<Repo, RepoError> {
        Repo::open(&self.root)
    }

    /// The configuration: defaults < the working tree's `guardrail.toml`,
    /// except `[project] main_branch`, which comes from the file as committed
    /// on the repository's default branch ([`Repo::default_branch`]), and
    /// `release_managers` and the drill token, which come from the file as
    /// committed on that main branch. A working-tree value of those keys
    /// that differs is ignored with a warning (`cfg.warnings`). A
    /// `[live] publish_dir` that would destroy the repository, its backups,
    /// its state, `$HOME` or `/` is refused ([`super::protect`]).
    pub fn config(&self) -> Result<Config, RepoError> {
        let mut cfg = Config::load(&self.root)?;
        let authority = self.committed_authority()?;
        let local = std::fs::read_to_string(self.root.join(config::FILE_NAME))
            .ok()
            .and_then(|t| t.parse::<toml::Table>().ok())
            .unwrap_or_default();
        let set = |table: &str, key: &str| {
            local
                .get(table)
                .and_then(|t| t.as_table())
                .is_some_and(|t| t.contains_key(key))
        };
        if set("project", "main_branch") && cfg.project.main_branch != authority.main_branch {
            cfg.warnings.push(format!(
                "guardrail.toml: [project] main_branch = \"{}\" in the working tree is ignored; the main branch is `{}`, as committed on the default branch `{}`",
                cfg.project.main_branch, authority.main_branch, authority.default_branch
            ));
        }
        if set("authority", "release_managers")
            && cfg.authority.release_managers != authority.release_managers
        {
            cfg.warnings.push(format!(
                "guardrail.toml: [authority] release_managers in the working tree is ignored; the release managers are those committed on `{}`",
                authority.main_branch
            ));
        }
        cfg.project.main_branch = authority.main_branch;
        cfg.authority.release_managers = authority.release_managers;
        cfg.drill.token = authority.drill_token;
        super::protect::check_publish_dir(self, &cfg)?;
        Ok(cfg)
    }

    /// The repository's default branch: the remote's HEAD (`origin` first),
    /// else `init.defaultBranch`, else `main` — the first of these that
    /// exists (`main` when none does).
    pub fn default_branch(&self) -> String {
        let mut candidates = Vec::new();
        // `refs/remotes/<remote>/HEAD`, origin's first.
        let mut heads: Vec<(String, String)> = Vec::new();
        if let Ok(refs) = self.git.references_glob("refs/remotes/*/HEAD") {
            for r in refs.flatten() {
                let (Some(name), Some(target)) = (r.name(), r.symbolic_target()) else {
                    continue;
                };
                let remote = name
                    .trim_start_matches("refs/remotes/")
                    .trim_end_matches("/HEAD")
                    .to_string();
                if let Some(branch) = target.strip_prefix(&format!("refs/remotes/{remote}/")) {
                    heads.push((remote, branch.to_string()));
                }
            }
        }
        heads.sort_by_key(|(r, _)| r != "origin");
        candidates.extend(heads.into_iter().map(|(_, b)| b));
        if let Ok(name) = self
            .git
            .config()
            .and_then(|c| c.get_string("init.defaultBranch"))
        {
            if !name.trim().is_empty() {
                candidates.push(name.trim().to_string());
            }
        }
        candidates
            .into_iter()
            .find(|b| self.main_head(b).is_some())
            .unwrap_or_else(|| "main".into())
    }

    /// The configuration as committed on `branch` (local, else
    /// `origin/<branch>`); `None` when the branch or the file is missing.
    fn committed_config(&self, branch: &str) -> Result<Option<Config>, RepoError> {
        let Some(oid) = self.main_head(branch) else {
            return Ok(None);
        };
        let tree = self.git.find_commit(oid)?.tree()?;
        let Ok(entry) = tree.get_path(Path::new(config::FILE_NAME)) else {
            return Ok(None);
        };
        let blob = self.git.find_blob(entry.id())?;
        let text = String::from_utf8_lossy(blob.content());
        let file = format!("{}:{} (on {branch})", branch, config::FILE_NAME);
        Ok(Some(Config::from_str_unvalidated(&text, &file)?))
    }

    /// Who may deploy, read only from committed files (see [`Repo::config`]).
    pub fn committed_authority(&self) -> Result<Authority, RepoError> {
        let default_branch = self.default_branch();
        let main_branch = match self.committed_config(&default_branch)? {
            Some(c) => c.project.main_branch,
            None => Config::defaults().project.main_branch,
        };
        let on_main = if main_branch == default_branch {
            self.committed_config(&default_branch)?
        } else {
            self.committed_config(&main_branch)?
        };
        let (release_managers, drill_token) = match on_main {
            Some(c) => (c.authority.release_managers, c.drill.token),
            None => (Config::defaults().authority.release_managers, String::new()),
        };
        Ok(Authority {
            default_branch,
            main_branch,
            release_managers,
            drill_token,
        })
    }

    /// A drill sandbox: the token `guardrail drill` wrote into the state
    /// directory equals the one in the configuration committed on the main
    /// branch. A file anyone can create proves nothing on its own.
    pub fn is_drill(&self) -> bool {
        let Some(state_token) = self.state.drill_token() else {
            return false;
        };
        self.committed_authority()
            .is_ok_and(|a| !a.drill_token.is_empty() && a.drill_token == state_token)
    }

    /// `release_managers` from `guardrail.toml` on the main branch (the
    /// built-in default if main has no such file or there is no main).
    pub fn release_managers(&self, main: &str) -> Result<Vec<String>, RepoError> {
        Ok(match self.committed_config(main)? {
            Some(c) => c.authority.release_managers,
            None => Config::defaults().authority.release_managers,
        })
    }

    pub fn user(&self, cfg: &Config) -> User {
        let name = login_name();
        let release_manager = cfg.authority.release_managers.contains(&name);
        User {
            name,
            release_manager,
        }
    }

    pub fn head_state(&self) -> HeadState {
        match self.git.head() {
            Ok(h) if h.is_branch() => HeadState::Branch {
                name: h.shorthand().unwrap_or("?").to_string(),
            },
            Ok(h) => HeadState::Detached {
                commit: h.target().map(|o| o.to_string()).unwrap_or_default(),
            },
            Err(_) => HeadState::Unborn,
        }
    }

    /// The main branch's head: the local branch, else `origin/<main>`.
    pub fn main_head(&self, main: &str) -> Option<Oid> {
        self.git
            .find_branch(main, BranchType::Local)
            .ok()
            .and_then(|b| b.get().target())
            .or_else(|| {
                self.git
                    .find_branch(&format!("origin/{main}"), BranchType::Remote)
                    .ok()
                    .and_then(|b| b.get().target())
            })
    }

    /// The main branch's history, indexed for ahead/behind of every branch
    /// (`None` without a main branch): read from the state directory's cache
    /// and brought up to date with main's new commits, or built by walking
    /// main when there is no cache ([`MainIndex::open`]).
    pub fn main_index(&self, main: &str) -> Result<Option<MainIndex>, RepoError> {
        self.main_index_paced(main, &mut || {})
    }

    /// [`Repo::main_index`] for a background reader: `pause` is called every
    /// thousand commits and may wait, so the walk gives way to more
    /// urgent work.
    pub fn main_index_paced(
        &self,
        main: &str,
        pause: &mut dyn FnMut(),
    ) -> Result<Option<MainIndex>, RepoError> {
        match self.main_head(main) {
            Some(tip) => Ok(Some(MainIndex::open(
                &self.git,
                tip,
                &self.state.path,
                pause,
            )?)),
            None => Ok(None),
        }
    }

    /// Feature branches straight from the refs: local and remote-tracking,
    /// merged by name, main and `*/HEAD` left out. Sorted by name.
    ///
    /// The ref files are read directly ([`read_branch_refs`]): libgit2
    /// stats each loose ref twice and checks `packed-refs` per ref, which
    /// on 10,000 loose branches made the console's first frame wait. Where
    /// the files are not plain (a ref that does not parse), libgit2 reads
    /// them, as [`Repo::branch_refs_libgit2`].
    pub fn branch_refs(&self, main: &str) -> Result<Vec<BranchRef>, RepoError> {
        match read_branch_refs(self.git.commondir()) {
            Some(refs) => Ok(merge_branch_refs(
                main,
                refs.into_iter().map(|(n, o)| Ok((n, Some(o)))),
            )?),
            None => self.branch_refs_libgit2(main),
        }
    }

    /// Feature branches by name alone, for the console's first frame: the
    /// names from a walk of the directories `refs/heads/` and
    /// `refs/remotes/` plus `packed-refs` (one read), without opening a
    /// loose ref file (10,000 of them on a large repository; a file that
    /// cannot be read does not hold the others up). Listed, merged and
    /// sorted as [`Repo::branch_refs`]; a branch's `heads` are filled only
    /// when every one of its refs is packed, else left empty (and `head`
    /// empty) for [`Repo::branch_details`] to read. A loose ref that turns
    /// out to be symbolic is listed here although [`Repo::branch_refs`]
    /// leaves it out ([`Repo::read_heads`] finds it no head: the console
    /// then drops its row). Where the walk meets something it cannot list (a
    /// reftable repository), [`Repo::branch_refs`] reads them.
    pub fn branch_names(&self, main: &str) -> Result<Vec<BranchRef>, RepoError> {
        match list_branch_ref_names(self.git.commondir()) {
            Some(refs) => Ok(merge_branch_names(main, refs)),
            None => self.branch_refs(main),
        }
    }

    /// The heads of a branch [`Repo::branch_names`] listed without reading
    /// them: each source's ref, read with a non-blocking open (a FIFO or
    /// other special file is skipped, never waited on), a packed or unusual
    /// one by libgit2; a symbolic ref, and a ref file libgit2 finds
    /// corrupted, are left out, as [`Repo::branch_refs`] does. No heads at
    /// all: the name is not a branch.
    pub fn read_heads(&self, b: &BranchRef) -> Result<Vec<(String, Oid)>, RepoError> {
        if !b.heads.is_empty() {
            return Ok(b.heads.clone());
        }
        let mut heads = Vec::new();
        for source in &b.sources {
            let full = if source == "local" {
                format!("refs/heads/{}", b.name)
            } else {
                format!("refs/remotes/{source}/{}", b.name)
            };
            let target = match read_loose_ref(self.git.commondir(), &full) {
                LooseRef::Direct(oid) => Some(oid),
                LooseRef::Symbolic | LooseRef::Special => None,
                LooseRef::Other => match self.git.find_reference(&full) {
                    Ok(r) => r.target(),
                    Err(e) if e.code() == git2::ErrorCode::NotFound => None,
                    // "corrupted loose reference file": libgit2's own
                    // listing skips it.
                    Err(e) if e.class() == git2::ErrorClass::Reference => None,
                    Err(e) => return Err(e.into()),
                },
            };
            if let Some(oid) = target {
                heads.push((source.clone(), oid));
            }
        }
        Ok(heads)
    }

    /// [`Repo::branch_refs`] read by libgit2.
    pub fn branch_refs_libgit2(&self, main: &str) -> Result<Vec<BranchRef>, RepoError> {
        // Branch refs only: not the tags (2,000 files read for nothing on a
        // large repository).
        let heads = self.git.references_glob("refs/heads/*")?;
        let remotes = self.git.references_glob("refs/remotes/*")?;
        merge_branch_refs(
            main,
            heads.chain(remotes).map(|r| {
                let r = r?;
                Ok((r.name().unwrap_or("").to_string(), r.target()))
            }),
        )
    }
}

/// (full ref name, target) pairs, heads then remotes, merged by branch name.
fn merge_branch_refs(
    main: &str,
    refs: impl Iterator<Item = Result<(String, Option<Oid>), git2::Error>>,
) -> Result<Vec<BranchRef>, RepoError> {
    let mut by_name: BTreeMap<String, BranchRef> = BTreeMap::new();
    for r in refs {
        let (full, target) = r?;
        let Some((source, name)) = branch_of_ref(&full) else {
            continue;
        };
        if name == main {
            continue;
        }
        let (source, name) = (source.to_string(), name.to_string());
        let Some(oid) = target else { continue };
        let e = by_name.entry(name.clone()).or_insert_with(|| BranchRef {
            name,
            head: oid.to_string(),
            sources: Vec::new(),
            heads: Vec::new(),
        });
        if source == "local" {
            e.head = oid.to_string();
            e.sources.insert(0, source.clone());
            e.heads.insert(0, (source, oid));
        } else {
            e.sources.push(source.clone());
            e.heads.push((source, oid));
        }
    }
    Ok(by_name.into_values().collect())
}

impl Repo {
    /// Subject, author, time and ahead/behind of one branch; the newer of its
    /// heads wins (by commit time).
    pub fn branch_details(
        &self,
        b: &BranchRef,
        main: Option<&MainIndex>,
    ) -> Result<BranchInfo, RepoError> {
        let mut best: Option<git2::Commit> = None;
        for (_, oid) in &self.read_heads(b)? {
            let c = self.git.find_commit(*oid)?;
            if best
                .as_ref()
                .is_none_or(|cur| c.time().seconds() > cur.time().seconds())
            {
                best = Some(c);
            }
        }
        let c = best.ok_or_else(|| RepoError::UnknownBranch(b.name.clone()))?;
        let (ahead, behind) = match main {
            Some(m) => {
                let (a, bh) = m.ahead_behind(&self.git, c.id())?;
                (Some(a), Some(bh))
            }
            None => (None, None),
        };
        let subject = c.summary().unwrap_or("").to_string();
        let author = c.author().name().unwrap_or("").to_string();
        Ok(BranchInfo {
            name: b.name.clone(),
            head: c.id().to_string(),
            sources: b.sources.clone(),
            subject,
            author,
            time: c.time().seconds(),
            ahead,
            behind,
        })
    }

    /// Every feature branch with its details.
    pub fn branches(&self, main: &str) -> Result<Vec<BranchInfo>, RepoError> {
        Ok(self.branches_with_index(main)?.0)
    }

    /// [`Repo::branches`] and the index of main that counted ahead/behind
    /// (`None` without a main branch), which says how much was walked.
    pub fn branches_with_index(
        &self,
        main: &str,
    ) -> Result<(Vec<BranchInfo>, Option<MainIndex>), RepoError> {
        let m = self.main_index(main)?;
        let list = self
            .branch_refs(main)?
            .iter()
            .map(|b| self.branch_details(b, m.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok((list, m))
    }

    /// The branch named `name` without ahead/behind (no walk of main): what
    /// the gate, the playbook and a handoff need, at a fraction of the cost
    /// on a long history.
    pub fn find_branch_head(&self, cfg: &Config, name: &str) -> Result<BranchInfo, RepoError> {
        let r = self
            .branch_ref(&cfg.project.main_branch, name)?
            .ok_or_else(|| RepoError::UnknownBranch(name.to_string()))?;
        self.branch_details(&r, None)
    }

    /// One branch's refs, as [`Repo::branch_refs`] would list it, looked up
    /// by name (`refs/heads/<name>` and `refs/remotes/*/<name>`) instead of
    /// gathering every branch of the repository.
    pub fn branch_ref(&self, main: &str, name: &str) -> Result<Option<BranchRef>, RepoError> {
        if name == main || name == "HEAD" || name.is_empty() || name.contains(GLOB_CHARS) {
            return Ok(None);
        }
        let mut heads: Vec<(String, Oid)> = Vec::new();
        match self.git.find_reference(&format!("refs/heads/{name}")) {
            Ok(r) => heads.extend(r.target().map(|oid| ("local".to_string(), oid))),
            Err(e)
                if matches!(
                    e.code(),
                    git2::ErrorCode::NotFound | git2::ErrorCode::InvalidSpec
                ) => {}
            Err(e) => return Err(e.into()),
        }
        for r in self
            .git
            .references_glob(&format!("refs/remotes/*/{name}"))?
        {
            let r = r?;
            // `*` may span a slash: `origin/team/x` is not `x` of `origin/team`.
            let Some((remote, n)) = r.name().and_then(branch_of_ref) else {
                continue;
            };
            if n != name {
                continue;
            }
            if let Some(oid) = r.target() {
                heads.push((remote.to_string(), oid));
            }
        }
        let Some(first) = heads.first() else {
            return Ok(None);
        };
        Ok(Some(BranchRef {
            name: name.to_string(),
            head: first.1.to_string(),
            sources: heads.iter().map(|(s, _)| s.clone()).collect(),
            heads,
        }))
    }

    /// The branch named `name` (local or remote-tracking).
    pub fn find_branch(&self, cfg: &Config, name: &str) -> Result<BranchInfo, RepoError> {
        let main = &cfg.project.main_branch;
        let r = self
            .branch_ref(main, name)?
            .ok_or_else(|| RepoError::UnknownBranch(name.to_string()))?;
        let m = self.main_index(main)?;
        self.branch_details(&r, m.as_ref())
    }

    /// [`Repo::find_branch`], the main branch included (ahead and behind
    /// 0): for reading a branch (`check`, `snapshot`), not for releasing it.
    pub fn find_any_branch(&self, cfg: &Config, name: &str) -> Result<BranchInfo, RepoError> {
        let main = &cfg.project.main_branch;
        if name != main {
            return self.find_branch(cfg, name);
        }
        let oid = self
            .main_head(main)
            .ok_or_else(|| RepoError::UnknownBranch(name.to_string()))?;
        let c = self.git.find_commit(oid)?;
        let local = self.git.find_branch(main, BranchType::Local).is_ok();
        let author = c.author().name().unwrap_or("").to_string();
        Ok(BranchInfo {
            name: main.clone(),
            head: oid.to_string(),
            sources: vec![if local { "local" } else { "origin" }.to_string()],
            subject: c.summary().unwrap_or("").to_string(),
            author,
            time: c.time().seconds(),
            ahead: Some(0),
            behind: Some(0),
        })
    }

    /// Prod tags, lightweight and annotated, oldest first (date, then `.N`).
    pub fn prod_tags(&self, cfg: &Config) -> Result<Vec<ProdTag>, RepoError> {
        let prefix = &cfg.project.tag_prefix;
        let mut tags = Vec::new();
        let glob = format!("refs/tags/{prefix}*");
        for r in self.git.references_glob(&glob)? {
            let r = r?;
            let Some(name) = r.name().and_then(|n| n.strip_prefix("refs/tags/")) else {
                continue;
            };
            let Some((date, n)) = parse_prod_tag(prefix, name) else {
                continue;
            };
            let name = name.to_string();
            let target = r
                .target()
                .ok_or_else(|| RepoError::UnknownTag(name.clone()))?;
            let (commit, annotated, message) = self.peel_tag(target)?;
            let path = cfg.backup_path(&self.root, &name);
            tags.push(ProdTag {
                backup: path.is_file(),
                backup_path: path.display().to_string(),
                name,
                date,
                n,
                commit: commit.to_string(),
                annotated,
                message,
            });
        }
        tags.sort_by_key(|t| (t.date, t.n));
        Ok(tags)
    }

    /// The commit a tag ref points at (an annotated tag is peeled), whether
    /// it is annotated, and its message.
    fn peel_tag(&self, target: Oid) -> Result<(Oid, bool, Option<String>), RepoError> {
        Ok(match self.git.find_tag(target) {
            Ok(t) => {
                // A tag of a commit names it: no need to read the commit.
                let c = if t.target_type() == Some(git2::ObjectType::Commit) {
                    t.target_id()
                } else {
                    t.target()?.peel_to_commit()?.id()
                };
                (c, true, t.message().map(str::to_string))
            }
            Err(_) => (target, false, None),
        })
    }

    /// The newest prod tag among `names` (tag names, as [`Repo::tag_names`]
    /// gives them) and its commit, the same one [`Repo::prod_tags`] ends
    /// with, without reading every other tag.
    pub fn newest_prod_tag(
        &self,
        cfg: &Config,
        names: &[String],
    ) -> Result<Option<(String, Oid)>, RepoError> {
        let prefix = &cfg.project.tag_prefix;
        let mut candidates: Vec<_> = names
            .iter()
            .filter_map(|n| parse_prod_tag(prefix, n).map(|k| (k, n)))
            .collect();
        candidates.sort_by_key(|c| std::cmp::Reverse(c.0));
        // Newest first, skipping what is no tag, as libgit2's listing (and
        // so `prod_tags`) does and git says "ignoring broken ref": a loose
        // file that is not a plain file (a FIFO would block the read), an
        // empty or garbled one, a ref to nothing.
        let common = self.git.commondir().to_path_buf();
        for (_, name) in candidates {
            let refname = format!("refs/tags/{name}");
            if let Ok(meta) = std::fs::symlink_metadata(common.join(&refname)) {
                if !meta.is_file() {
                    continue;
                }
            }
            let target = match self.git.find_reference(&refname) {
                Ok(r) => r.target(),
                Err(e) if e.class() == git2::ErrorClass::Reference => None,
                Err(e) => return Err(e.into()),
            };
            if let Some(target) = target {
                return Ok(Some((name.clone(), self.peel_tag(target)?.0)));
            }
        }
        Ok(None)
    }

    /// The next free prod tag of `date` ([`next_free_tag`]), reading only
    /// that day's tags rather than every tag of the repository.
    pub fn next_free_tag(&self, prefix: &str, date: NaiveDate) -> Result<String, RepoError> {
        if prefix.contains(GLOB_CHARS) {
            return Ok(next_free_tag(prefix, date, &self.tag_names()?));
        }
        let day = super::tags::prod_tag_name(prefix, date, 1);
        let mut names = Vec::new();
        for r in self.git.references_glob(&format!("refs/tags/{day}*"))? {
            let r = r?;
            if let Some(n) = r.name().and_then(|n| n.strip_prefix("refs/tags/")) {
                names.push(n.to_string());
            }
        }
        Ok(next_free_tag(prefix, date, &names))
    }

    /// Names of every tag (for "does this tag exist"). Read from
    /// `refs/tags/` alone: libgit2's `git_tag_list` reads every ref of the
    /// repository (10,000 branch files on a large one) to keep the tags.
    /// Names only, so from the directory entries and `packed-refs`, no tag
    /// file opened ([`list_tag_names`]); libgit2 lists them where that
    /// cannot.
    pub fn tag_names(&self) -> Result<Vec<String>, RepoError> {
        if let Some(names) = list_tag_names(self.git.commondir()) {
            return Ok(names);
        }
        let mut names = Vec::new();
        for r in self.git.references_glob("refs/tags/*")? {
            let r = r?;
            if let Some(n) = r.name().and_then(|n| n.strip_prefix("refs/tags/")) {
                names.push(n.to_string());
            }
        }
        Ok(names)
    }
}

/// The branch refs of the files backend, read without libgit2: loose refs
/// under `refs/heads/` and `refs/remotes/` (sorted by name, as libgit2 lists
/// them), then the entries of `packed-refs` that no loose ref shadows, sorted
/// by name; heads first, then remotes. A symbolic ref has no
/// target. `None` when anything is not plain (a ref file that is not an
/// object id or `ref: `, a name git would refuse, a reftable repository):
/// the caller lets libgit2 read them.
pub fn read_branch_refs(common_dir: &Path) -> Option<Vec<(String, Oid)>> {
    if common_dir.join("reftable").exists() {
        return None;
    }
    let packed = match std::fs::read(common_dir.join("packed-refs")) {
        Ok(b) => parse_packed_refs(&b)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(_) => return None,
    };
    let mut out = Vec::new();
    for kind in ["refs/heads", "refs/remotes"] {
        let mut loose: Vec<(String, Option<Oid>)> = Vec::new();
        read_loose(common_dir, kind, &mut loose)?;
        loose.sort_by(|a, b| a.0.cmp(&b.0));
        let shadowed: std::collections::HashSet<&str> =
            loose.iter().map(|(n, _)| n.as_str()).collect();
        let mut from_packed: Vec<(String, Oid)> = packed
            .iter()
            .filter(|(n, _)| {
                n.strip_prefix(kind).is_some_and(|r| r.starts_with('/'))
                    && !shadowed.contains(n.as_str())
            })
            .cloned()
            .collect();
        from_packed.sort_by(|a, b| a.0.cmp(&b.0));
        out.extend(loose.into_iter().filter_map(|(n, o)| Some((n, o?))));
        out.extend(from_packed);
    }
    Some(out)
}

/// Loose refs under `common_dir/dir`, recursively; a symbolic ref as `None`.
fn read_loose(common_dir: &Path, dir: &str, out: &mut Vec<(String, Option<Oid>)>) -> Option<()> {
    let rd = match std::fs::read_dir(common_dir.join(dir)) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(()),
        Err(_) => return None,
    };
    for e in rd {
        let e = e.ok()?;
        let name = e.file_name().into_string().ok()?;
        let full = format!("{dir}/{name}");
        let ty = e.file_type().ok()?;
        if ty.is_dir() {
            read_loose(common_dir, &full, out)?;
            continue;
        }
        if name.ends_with(".lock") {
            continue;
        }
        if !ty.is_file() || !git2::Reference::is_valid_name(&full) {
            return None;
        }
        // One read (open, read, close): a ref file is one line; one that
        // does not end in a newline within the buffer is left to libgit2.
        let mut buf = [0u8; 256];
        let n = std::io::Read::read(&mut std::fs::File::open(e.path()).ok()?, &mut buf).ok()?;
        if n == 0 || n == buf.len() || buf[n - 1] != b'\n' {
            return None;
        }
        let text = std::str::from_utf8(&buf[..n]).ok()?.trim_end();
        if text.starts_with("ref: ") {
            out.push((full, None));
        } else if text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
            out.push((full, Some(Oid::from_str(text).ok()?)));
        } else {
            return None;
        }
    }
    Some(())
}

/// Branch ref names of the files backend without reading a loose ref:
/// (full name, `None`) for each loose ref under `refs/heads/` and
/// `refs/remotes/`, in directory order, then (full name, `Some(id)`) for
/// each entry of `packed-refs` no loose ref shadows. `None` when the names
/// cannot be listed this way (a reftable repository, an unreadable
/// directory or `packed-refs`).
pub fn list_branch_ref_names(common_dir: &Path) -> Option<Vec<(String, Option<Oid>)>> {
    if common_dir.join("reftable").exists() {
        return None;
    }
    let packed = match std::fs::read(common_dir.join("packed-refs")) {
        Ok(b) => parse_packed_refs(&b)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(_) => return None,
    };
    let mut loose: Vec<String> = Vec::new();
    for kind in ["refs/heads", "refs/remotes"] {
        list_loose(common_dir, kind, &mut loose)?;
    }
    let mut out: Vec<(String, Option<Oid>)> = Vec::with_capacity(loose.len());
    if packed.is_empty() {
        out.extend(loose.into_iter().map(|n| (n, None)));
        return Some(out);
    }
    let shadowed: std::collections::HashSet<&str> = loose.iter().map(String::as_str).collect();
    let from_packed: Vec<(String, Option<Oid>)> = packed
        .iter()
        .filter(|(n, _)| {
            (n.starts_with("refs/heads/") || n.starts_with("refs/remotes/"))
                && !shadowed.contains(n.as_str())
        })
        .map(|(n, o)| (n.clone(), Some(*o)))
        .collect();
    out.extend(loose.into_iter().map(|n| (n, None)));
    out.extend(from_packed);
    Some(out)
}

/// Tag names (without `refs/tags/`) of the files backend: loose tag refs
/// from the directory entries alone, then the entries of `packed-refs` no
/// loose one shadows. `None` as [`list_branch_ref_names`].
pub fn list_tag_names(common_dir: &Path) -> Option<Vec<String>> {
    if common_dir.join("reftable").exists() {
        return None;
    }
    let packed = match std::fs::read(common_dir.join("packed-refs")) {
        Ok(b) => parse_packed_refs(&b)?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
        Err(_) => return None,
    };
    let mut loose = Vec::new();
    list_loose(common_dir, "refs/tags", &mut loose)?;
    let shadowed: std::collections::HashSet<&str> = loose.iter().map(String::as_str).collect();
    let from_packed: Vec<String> = packed
        .iter()
        .filter(|(n, _)| n.starts_with("refs/tags/") && !shadowed.contains(n.as_str()))
        .map(|(n, _)| n["refs/tags/".len()..].to_string())
        .collect();
    let mut names: Vec<String> = loose
        .iter()
        .map(|n| n["refs/tags/".len()..].to_string())
        .collect();
    names.extend(from_packed);
    Some(names)
}

/// Names of the loose refs under `common_dir/dir`, recursively, from the
/// directory entries alone (no file is opened or stat'ed); names git would
/// refuse and `.lock` files are left out.
fn list_loose(common_dir: &Path, dir: &str, out: &mut Vec<String>) -> Option<()> {
    let rd = match std::fs::read_dir(common_dir.join(dir)) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Some(()),
        Err(_) => return None,
    };
    for e in rd {
        let e = e.ok()?;
        let name = e.file_name();
        let Some(name) = name.to_str() else {
            continue;
        };
        let mut full = String::with_capacity(dir.len() + 1 + name.len());
        full.push_str(dir);
        full.push('/');
        full.push_str(name);
        if e.file_type().ok()?.is_dir() {
            list_loose(common_dir, &full, out)?;
        } else if !name.ends_with(".lock") && git2::Reference::is_valid_name(&full) {
            out.push(full);
        }
    }
    Some(())
}

/// (full ref name, packed target) pairs of [`list_branch_ref_names`],
/// merged by branch name and ordered as [`Repo::branch_refs`] gives them
/// (by name; a branch's local ref first, then its remote-tracking refs,
/// loose before packed, each by full name); heads filled only when every
/// ref of the branch is packed. One sort, no map: 10,000 names take a few
/// milliseconds.
fn merge_branch_names(main: &str, refs: Vec<(String, Option<Oid>)>) -> Vec<BranchRef> {
    // (branch name, source, ref's order within the branch, target)
    type Keyed<'a> = (&'a str, &'a str, (bool, bool, &'a str), Option<Oid>);
    let mut keyed: Vec<Keyed> = refs
        .iter()
        .filter_map(|(full, target)| {
            let (source, name) = branch_of_ref(full)?;
            let order = (source != "local", target.is_some(), full.as_str());
            (name != main).then_some((name, source, order, *target))
        })
        .collect();
    keyed.sort_unstable_by(|a, b| a.0.cmp(b.0).then_with(|| a.2.cmp(&b.2)));
    let mut out: Vec<BranchRef> = Vec::with_capacity(keyed.len());
    let mut all_packed = true;
    let finish = |b: &mut BranchRef, all_packed: bool| {
        if all_packed {
            b.head = b.heads.first().map(|h| h.1.to_string()).unwrap_or_default();
        } else {
            b.heads.clear();
        }
    };
    for (name, source, _, target) in keyed {
        if out.last().is_none_or(|b| b.name != name) {
            if let Some(b) = out.last_mut() {
                finish(b, all_packed);
            }
            all_packed = true;
            out.push(BranchRef {
                name: name.to_string(),
                head: String::new(),
                sources: Vec::new(),
                heads: Vec::new(),
            });
        }
        let b = out.last_mut().expect("pushed above");
        b.sources.push(source.to_string());
        match target {
            Some(oid) if all_packed => b.heads.push((source.to_string(), oid)),
            _ => all_packed = false,
        }
    }
    if let Some(b) = out.last_mut() {
        finish(b, all_packed);
    }
    out
}

/// What a loose ref file holds, as [`read_loose_ref`] found it.
enum LooseRef {
    Direct(Oid),
    Symbolic,
    /// Not a plain file (a FIFO, a device, a directory): not read.
    Special,
    /// Missing (packed, perhaps) or not in the plain form: for libgit2.
    Other,
}

/// Reads one loose ref file, opened without blocking (a FIFO's open and
/// read would wait for a writer) and read only if it is a plain file.
fn read_loose_ref(common_dir: &Path, full: &str) -> LooseRef {
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;
    let Ok(mut f) = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(common_dir.join(full))
    else {
        return LooseRef::Other;
    };
    match f.metadata() {
        Ok(m) if m.is_file() => {}
        Ok(_) => return LooseRef::Special,
        Err(_) => return LooseRef::Other,
    }
    let mut buf = [0u8; 256];
    let Ok(n) = f.read(&mut buf) else {
        return LooseRef::Other;
    };
    if n == 0 || n == buf.len() || buf[n - 1] != b'\n' {
        return LooseRef::Other;
    }
    let Ok(text) = std::str::from_utf8(&buf[..n]) else {
        return LooseRef::Other;
    };
    let text = text.trim_end();
    if text.starts_with("ref: ") {
        LooseRef::Symbolic
    } else if text.len() == 40 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        Oid::from_str(text).map_or(LooseRef::Other, LooseRef::Direct)
    } else {
        LooseRef::Other
    }
}

/// `packed-refs`: `<id> <name>` lines; `#` header and `^` peeled lines
/// skipped.
fn parse_packed_refs(bytes: &[u8]) -> Option<Vec<(String, Oid)>> {
    let text = std::str::from_utf8(bytes).ok()?;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') || line.starts_with('^') || line.is_empty() {
            continue;
        }
        let (id, name) = line.split_once(' ')?;
        if id.len() != 40 {
            return None;
        }
        out.push((name.to_string(), Oid::from_str(id).ok()?));
    }
    Some(out)
}

/// Characters a ref glob treats specially. Git refuses them in ref names, so
/// a name holding one names no ref; it must not reach a glob either.
const GLOB_CHARS: [char; 4] = ['*', '?', '[', '\\'];

/// (source, branch) of a branch ref: `refs/heads/x` is (`local`, `x`),
/// `refs/remotes/origin/x` is (`origin`, `x`); `None` for other refs and for
/// a remote's `HEAD`.
fn branch_of_ref(full: &str) -> Option<(&str, &str)> {
    if let Some(n) = full.strip_prefix("refs/heads/") {
        return Some(("local", n));
    }
    let (remote, n) = full.strip_prefix("refs/remotes/")?.split_once('/')?;
    (n != "HEAD").then_some((remote, n))
}

/// libgit2 settings that bound the memory of a process reading a large
/// repository: pack files are mapped in 1 MiB windows, at most 8 MiB at
/// once, instead of whole (a mapped pack counts in the resident size); trees
/// are not kept in libgit2's object cache, since guardrail reads each tree
/// once per question. Measured on the 50,000-commit bench repository:
/// `status --json` peaks ~30 MB lower and runs no slower.
///
/// # Safety
/// libgit2's global options: call before other threads use libgit2.
pub unsafe fn limit_git_memory() {
    // SAFETY: the caller guarantees no other thread uses libgit2 yet.
    unsafe {
        let _ = git2::opts::set_mwindow_size(1 << 20);
        let _ = git2::opts::set_mwindow_mapped_limit(8 << 20);
        let _ = git2::opts::set_cache_object_limit(git2::ObjectType::Tree, 0);
        // libgit2 hashes every object it reads to check its id (6% of
        // `status` on the 10,000-branch repository); git does not when it
        // reads, the pack's own checksums cover corruption, and `git fsck`
        // is the check of a repository's integrity.
        git2::opts::strict_hash_verification(false);
    }
}

/// For a one-shot command that reads every branch (`status`): pack files
/// mapped up to 64 MiB at once instead of 8 (still in 1 MiB windows). On the
/// 10,000-branch bench repository (a 30 MB pack) the 30,000 scattered
/// commits and trees `status` reads made libgit2 unmap and map windows
/// ~2,000 times under the 8 MiB limit; the console keeps that limit, since
/// mapped pages count in its resident size for as long as it runs.
///
/// # Safety
/// As [`limit_git_memory`].
pub unsafe fn widen_git_windows_for_one_shot() {
    // SAFETY: as above.
    unsafe {
        let _ = git2::opts::set_mwindow_mapped_limit(64 << 20);
    }
}

/// For the console: no commits in libgit2's object cache either. Its
/// background readers read each branch's commits once, so a cache only
/// holds memory (~20 MB on the bench repository) for the console's
/// lifetime; one-shot commands keep it, where a second walk of main reuses
/// it.
///
/// # Safety
/// As [`limit_git_memory`].
pub unsafe fn limit_git_commit_cache() {
    // SAFETY: as above.
    unsafe {
        let _ = git2::opts::set_cache_object_limit(git2::ObjectType::Commit, 0);
    }
}
impl super::protect::RepoDirs for Repo {
    fn root(&self) -> &Path {
        &self.root
    }
    fn git_dir(&self) -> &Path {
        self.git.path()
    }
    fn common_dir(&self) -> &Path {
        self.git.commondir()
    }
    fn state_dir(&self) -> &Path {
        &self.state.path
    }
}

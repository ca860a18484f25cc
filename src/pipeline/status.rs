//! `guardrail status`: one read of everything a release manager looks at
//! first — branches with their package state, prod tags with backups,
//! golden build, live, user.
use serde::Serialize;

use super::config::Config;
use super::lock::{FreezeInfo, LockInfo, LockStatus};
use super::main_index::IndexReport;
use super::package::{self, Context, HashCheck};
use super::repo::{BranchInfo, HeadState, ProdTag, Repo, RepoError, User};
use super::state::LiveRecord;
use crate::pipeline::common::column_sha;

/// A feature branch with its package state.
#[derive(Debug, Clone, Serialize)]
pub struct BranchStatus {
    #[serde(flatten)]
    pub info: BranchInfo,
    /// `ready`, `incomplete`, `stale`, `failed` or `none`; `error` when the
    /// package could not be read (a warning says why).
    pub package: String,
}

/// The document `guardrail status --json` prints (fields in the README).
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub project: String,
    pub root: String,
    pub main_branch: String,
    /// Head of the main branch, `null` when it does not exist.
    pub main_head: Option<String>,
    pub head: HeadState,
    pub user: User,
    pub golden: Option<String>,
    pub live: Option<LiveRecord>,
    /// The deploy lock and the manual freeze.
    pub lock: LockView,
    /// Watched files and baseline against the golden build (`null` when it
    /// could not be checked; see `warnings`).
    pub drift: Option<DriftView>,
    pub branches: Vec<BranchStatus>,
    /// How the branches' ahead/behind were counted: main's index from the
    /// cache in the state directory or from a walk, and how many commits
    /// were walked (`null` without a main branch).
    pub ahead_behind: Option<IndexReport>,
    pub prod_tags: Vec<ProdTag>,
    /// Things worth knowing that are not errors (no main branch, empty repository…).
    pub warnings: Vec<String>,
}

/// Drift as `status` shows it (`guardrail drift` has the details).
#[derive(Debug, Clone, Serialize)]
pub struct DriftView {
    pub drift: bool,
    pub summary: String,
    pub files: Vec<String>,
    pub baseline_changed: bool,
}

/// The deploy lock as `status` shows it.
#[derive(Debug, Clone, Serialize)]
pub struct LockView {
    pub free: bool,
    pub held: Option<LockInfo>,
    pub frozen: Option<FreezeInfo>,
}

impl From<LockStatus> for LockView {
    fn from(s: LockStatus) -> LockView {
        LockView {
            free: s.is_free(),
            held: s.held,
            frozen: s.frozen,
        }
    }
}

/// Reads the status; `hash_ok` judges audit records (see
/// [`super::audit::entry_hash_ok`]).
pub fn status(repo: &Repo, cfg: &Config, hash_ok: HashCheck) -> Result<Status, RepoError> {
    let main = &cfg.project.main_branch;
    let main_head = repo.main_head(main);
    let head = repo.head_state();
    let mut warnings = Vec::new();
    if head == HeadState::Unborn {
        warnings.push("the repository has no commits yet".to_string());
    }
    if main_head.is_none() && head != HeadState::Unborn {
        warnings.push(format!(
            "the main branch `{main}` does not exist: ahead/behind is not shown"
        ));
    }
    let ctx = match Context::load(repo, cfg) {
        Ok(c) => Some(c),
        Err(e) => {
            warnings.push(format!("package states are not shown: {e}"));
            None
        }
    };
    if let Some(c) = &ctx {
        warnings.extend(c.warnings.iter().cloned());
    }
    // Working-tree values of authority keys that were ignored.
    warnings.extend(cfg.warnings.iter().cloned());
    let (branches, index) = repo.branches_with_index(main)?;
    let branches = branches
        .into_iter()
        .map(|info| {
            let package = match &ctx {
                None => "error".to_string(),
                Some(c) => match package::state_only(repo, cfg, &info, c, hash_ok) {
                    Ok(state) => state.as_str().to_string(),
                    Err(e) => {
                        warnings.push(format!("the package of {} cannot be read: {e}", info.name));
                        "error".to_string()
                    }
                },
            };
            BranchStatus { info, package }
        })
        .collect();
    let prod_tags = repo.prod_tags(cfg)?;
    let live = repo.state.read_live().unwrap_or_else(|e| {
        warnings.push(e.to_string());
        None
    });
    Ok(Status {
        project: cfg.project.name.clone(),
        root: repo
            .root
            .display()
            .to_string()
            .trim_end_matches('/')
            .to_string(),
        main_branch: main.clone(),
        main_head: main_head.map(|o| o.to_string()),
        head,
        user: repo.user(cfg),
        golden: prod_tags.last().map(|t| t.name.clone()),
        live,
        lock: super::team::lock_status(&repo.state.path).into(),
        drift: match super::drift::check_with_tags(repo, cfg, false, &prod_tags) {
            Ok(d) => Some(DriftView {
                drift: d.drift,
                summary: super::drift::summary(&d),
                files: d
                    .committed
                    .iter()
                    .chain(d.working.iter())
                    .map(|f| f.path.clone())
                    .collect(),
                baseline_changed: !d.baseline_changes.is_empty(),
            }),
            Err(e) => {
                warnings.push(format!("drift could not be checked: {e}"));
                None
            }
        },
        branches,
        ahead_behind: index.map(|i| i.report()),
        prod_tags,
        warnings,
    })
}

/// The human form of [`Status`].
pub fn render_text(st: &Status) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "{} — {}", st.project, st.root);
    let role = if st.user.release_manager {
        "release manager"
    } else {
        "viewer"
    };
    let _ = writeln!(s, "you: {} ({role})", st.user.name);
    let _ = writeln!(
        s,
        "golden build: {}",
        st.golden.as_deref().unwrap_or("none (no prod tag yet)")
    );
    match &st.live {
        Some(l) => {
            let _ = writeln!(
                s,
                "live: {} {} (BUILD_ID {}, {:?}, {} by {} at {})",
                l.tag.as_deref().unwrap_or("untagged"),
                column_sha(&l.commit),
                l.build_id,
                l.health,
                l.action,
                l.actor,
                l.time
            );
            if let Some(why) = &l.failure {
                let _ = writeln!(s, "live is unknown: {why}");
            }
        }
        None => {
            let _ = writeln!(s, "live: nothing recorded on this box");
        }
    }
    let lock = LockStatus {
        held: st.lock.held.clone(),
        frozen: st.lock.frozen.clone(),
    };
    let _ = writeln!(s, "deploy lock: {lock}");
    if let Some(d) = &st.drift {
        let _ = writeln!(s, "drift: {}", d.summary);
    }
    for w in &st.warnings {
        let _ = writeln!(s, "warning: {w}");
    }
    let _ = writeln!(s, "\nbranches ({}):", st.branches.len());
    for bs in &st.branches {
        let b = &bs.info;
        let ab = match (b.ahead, b.behind) {
            (Some(a), Some(bh)) => format!("+{a} -{bh}"),
            _ => "".into(),
        };
        let _ = writeln!(
            s,
            "  {:<32} {} {:>9}  {:<12}  {}  ({}, {})",
            middle_ellipsis(&b.name, 32),
            column_sha(&b.head),
            ab,
            badge(&bs.package),
            b.subject,
            b.author,
            b.sources.join("+")
        );
    }
    let _ = writeln!(s, "\nprod tags ({}):", st.prod_tags.len());
    let bad: &[String] = st.live.as_ref().map_or(&[], |l| &l.bad_tags);
    for t in st.prod_tags.iter().rev() {
        let _ = writeln!(
            s,
            "  {:<22} {}  {}  {}{}",
            t.name,
            column_sha(&t.commit),
            if t.annotated {
                "annotated  "
            } else {
                "lightweight"
            },
            if t.backup { "backup ✓ " } else { "no backup" },
            if bad.contains(&t.name) {
                "  ✗ bad: failed live verification"
            } else {
                ""
            }
        );
    }
    s
}

/// `s` cut to `width` characters with `…` in the middle, so that both the
/// start (`claude/…`) and the end (an agent's id) of a long branch name stay.
pub fn middle_ellipsis(s: &str, width: usize) -> String {
    let n = s.chars().count();
    if n <= width || width == 0 {
        return s.to_string();
    }
    if width == 1 {
        return "…".into();
    }
    let keep = width - 1;
    let head = keep.div_ceil(2);
    let tail = keep - head;
    let start: String = s.chars().take(head).collect();
    let end: String = s.chars().skip(n - tail).collect();
    format!("{start}…{end}")
}

/// The package state as a text badge, e.g. `[ready]`.
fn badge(state: &str) -> String {
    format!("[{state}]")
}

//! The assessment of one branch's handoff package (SPEC §4): everything the
//! review screen, `guardrail check`, `guardrail snapshot` and `guardrail
//! status` show about a branch, read straight from git objects (no checkout).
//!
//! [`Context::load`] reads what is shared by every branch once (tag names,
//! the golden build, the legacy `.ai-agents/handoff_*.json` manifests, the
//! hashes in this box's audit log), so that judging thousands of branches
//! does not re-read them. [`assess`] then gathers, for one branch head: the
//! package files under `.handoff/<slug>/`, freshness against the commit the
//! gate ran on, the console's own baseline check of the head's tree, the
//! evidence requirements, the fallback tag and bundle, the audit entry, and
//! the diff of the watched files from the golden build to the head; and runs
//! the checklist of [`super`] over them.
//!
//! Whether an audit entry's own hash recomputes is the audit chain's rule
//! (SPEC §8); the caller supplies it as a [`HashCheck`] (the command line
//! passes [`crate::pipeline::audit::entry_hash_ok`]).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::path::Path;

use git2::Oid;
use serde::{Serialize, Serializer};

use super::{
    self as handoff, checklist, legacy_by_branch, legacy_checklist, package_state,
    read_package_within, tree_equal_ignoring_handoff, Capped, ChecklistInputs, ChecklistItem,
    HandoffError, HandoffManifest, ItemState, LegacyManifest, PackageState, MAX_MANIFEST,
};
use crate::pipeline::baseline::{self, BaselineError, BaselineReport, DiffStatus, FileDiff};
use crate::pipeline::common::short_sha;
use crate::pipeline::config::{self, Config};
use crate::pipeline::evidence::{self, MediaKind, Requirement};
use crate::pipeline::repo::{BranchInfo, Repo, RepoError};

/// Something that stopped an assessment: git objects that cannot be read.
/// What is wrong *in* a package is never an error; it is a checklist line.
#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Handoff(#[from] HandoffError),
    /// The baseline file cannot be read or parsed (only [`snapshot`] fails
    /// on this; [`assess`] turns it into a checklist line).
    #[error(transparent)]
    Baseline(#[from] BaselineError),
    #[error("cannot read {what}: {message}")]
    Git { what: String, message: String },
    /// An evidence file too large to read.
    #[error("{0}")]
    TooLarge(String),
}

impl PackageError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

fn git_err(what: impl Into<String>) -> impl FnOnce(git2::Error) -> PackageError {
    let what = what.into();
    move |e| PackageError::Git {
        what,
        message: e.message().to_string(),
    }
}

/// Whether an audit record's own `hash` recomputes (the audit chain's rule).
pub type HashCheck = fn(&str) -> bool;

// ---------------------------------------------------------------------------
// Audit record hash

/// The `hash` field of an audit record, if it has one.
fn record_hash(json: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(json).ok()?;
    v.get("hash")?.as_str().map(str::to_string)
}

// ---------------------------------------------------------------------------
// Context

/// What every branch's assessment shares, read once.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// Every tag name (for "does the proposed tag exist").
    pub tag_names: Vec<String>,
    /// The golden build: the newest prod tag and its commit.
    pub golden: Option<(String, Oid)>,
    /// Legacy manifests by the branch they name: (file, manifest), oldest
    /// file name first.
    pub legacy: BTreeMap<String, Vec<(String, LegacyManifest)>>,
    /// The `hash` of every record in this box's audit log; `None` when the
    /// log exists but cannot be read.
    pub audit_hashes: Option<HashSet<String>>,
    /// Legacy manifests that cannot be read, by the branch their text
    /// names (found without parsing): the warning in plain words.
    pub legacy_invalid: BTreeMap<String, Vec<String>>,
    /// Release managers' acknowledgements of guard changes, by branch.
    pub guard_acks: HashMap<String, Vec<super::guard::Ack>>,
    /// Things that could not be read but do not stop anything (a legacy
    /// manifest that is not valid JSON, an unreadable audit log).
    pub warnings: Vec<String>,
}

/// The value of the first `"branch": "…"` in a text that may not be JSON.
fn branch_named_in(text: &str) -> Option<String> {
    let i = text.find("\"branch\"")?;
    let rest = text[i + 8..].trim_start().strip_prefix(':')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    let end = rest.find('"')?;
    Some(rest[..end].to_string()).filter(|b| !b.is_empty())
}

/// Where legacy manifests live.
pub const LEGACY_DIR: &str = ".ai-agents";

fn is_legacy_name(name: &str) -> bool {
    name.starts_with("handoff_") && name.ends_with(".json")
}

impl Context {
    /// Reads tags, the golden build, legacy manifests (from the main
    /// branch's tree and the working tree; the committed file wins when
    /// both have the same name) and the audit log's hashes.
    pub fn load(repo: &Repo, cfg: &Config) -> Result<Context, PackageError> {
        let mut warnings = Vec::new();
        let mut tag_names = repo.tag_names()?;
        tag_names.sort();
        // Only the newest prod tag is read, not all of them.
        let golden = repo.newest_prod_tag(cfg, &tag_names)?;

        // Legacy manifests: main's tree first, then the working tree.
        let mut texts: BTreeMap<String, (String, Capped<Vec<u8>>)> = BTreeMap::new();
        let main = &cfg.project.main_branch;
        if let Some(oid) = repo.main_head(main) {
            let tree = repo
                .git
                .find_commit(oid)
                .and_then(|c| c.tree())
                .map_err(git_err(format!("the tree of {main}")))?;
            if let Ok(entry) = tree.get_path(Path::new(LEGACY_DIR)) {
                let odb = repo
                    .git
                    .odb()
                    .map_err(git_err(format!("{LEGACY_DIR} on {main}")))?;
                if let Ok(dir) = repo.git.find_tree(entry.id()) {
                    for e in dir.iter() {
                        let Some(name) = e.name().filter(|n| is_legacy_name(n)) else {
                            continue;
                        };
                        if e.kind() != Some(git2::ObjectType::Blob) {
                            continue;
                        }
                        let source = format!("{LEGACY_DIR}/{name} (on {main})");
                        // Sized by its object header first: one over
                        // MAX_MANIFEST is explained, never read.
                        let bytes = handoff::read_blob_within(
                            &repo.git,
                            &odb,
                            e.id(),
                            MAX_MANIFEST,
                            <[u8]>::to_vec,
                        )
                        .map_err(git_err(format!("{LEGACY_DIR}/{name} on {main}")))?;
                        texts.insert(name.to_string(), (source, bytes));
                    }
                }
            }
        }
        if let Ok(rd) = std::fs::read_dir(repo.root.join(LEGACY_DIR)) {
            for e in rd.flatten() {
                let name = e.file_name().to_string_lossy().into_owned();
                if !is_legacy_name(&name) || texts.contains_key(&name) {
                    continue;
                }
                match handoff::read_file_within(&e.path(), MAX_MANIFEST) {
                    Ok(bytes) => {
                        texts.insert(name.clone(), (format!("{LEGACY_DIR}/{name}"), bytes));
                    }
                    Err(err) => warnings.push(format!("cannot read {LEGACY_DIR}/{name}: {err}")),
                }
            }
        }
        let mut manifests = Vec::new();
        let mut legacy_invalid: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (name, (source, bytes)) in texts {
            let bytes = match bytes {
                Capped::Read(b) => b,
                Capped::TooLarge(size) => {
                    // Explained like an invalid manifest; it names no branch
                    // anyone read, so it is a warning only.
                    let e = HandoffError::TooLarge { file: source, size };
                    warnings.push(e.to_string());
                    continue;
                }
            };
            let text = String::from_utf8_lossy(&bytes);
            match LegacyManifest::parse(&text, &source) {
                Ok(m) => manifests.push((format!("{LEGACY_DIR}/{name}"), m)),
                Err(e) => {
                    if let Some(b) = branch_named_in(&text) {
                        legacy_invalid.entry(b).or_default().push(e.to_string());
                    }
                    warnings.push(e.to_string());
                }
            }
        }
        let legacy = legacy_by_branch(&manifests);

        let log = repo.state.path.join("audit.jsonl");
        let mut guard_acks = HashMap::new();
        let audit_hashes = match std::fs::read(&log) {
            Ok(bytes) => {
                let text = String::from_utf8_lossy(&bytes);
                guard_acks = super::guard::acks_from_log(&text);
                Some(text.lines().filter_map(record_hash).collect())
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(HashSet::new()),
            Err(e) => {
                warnings.push(format!("cannot read {}: {e}", log.display()));
                None
            }
        };
        Ok(Context {
            tag_names,
            golden,
            legacy,
            audit_hashes,
            legacy_invalid,
            guard_acks,
            warnings,
        })
    }

    fn tag_exists(&self, tag: &str) -> bool {
        self.tag_names.iter().any(|t| t == tag)
    }
}

// ---------------------------------------------------------------------------
// Assessment

/// A legacy manifest of a branch with what it can prove.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LegacyView<'a> {
    pub file: &'a str,
    pub state: PackageState,
    pub manifest: &'a LegacyManifest,
    pub items: &'a [ChecklistItem],
}

/// Everything known about one branch's package.
#[derive(Debug, Clone, Serialize)]
pub struct Assessment {
    pub branch: String,
    pub head: String,
    pub state: PackageState,
    /// `.handoff/<slug>` on the branch, whether or not it exists.
    pub package_dir: String,
    /// Whether the branch head carries `.handoff/<slug>/`.
    pub has_package: bool,
    /// The checklist (SPEC §4): five items when there is a package, the
    /// newest legacy manifest's items when there is only that, else empty.
    pub items: Vec<ChecklistItem>,
    pub manifest: Option<HandoffManifest>,
    /// Legacy manifests naming this branch, oldest first, each with its
    /// checklist.
    #[serde(serialize_with = "ser_legacy")]
    pub legacy: Vec<(String, LegacyManifest, Vec<ChecklistItem>)>,
    #[serde(skip)]
    pub gate_log: Option<Vec<u8>>,
    pub snapshot_md: Option<String>,
    /// The console's own baseline check of the head's tree.
    #[serde(serialize_with = "ser_baseline")]
    pub baseline: Option<BaselineReport>,
    /// Why the baseline check could not run (file missing or unparsable).
    #[serde(serialize_with = "ser_opt_display")]
    pub baseline_error: Option<BaselineError>,
    /// Watched files, golden build → branch head (empty without a golden build).
    #[serde(serialize_with = "ser_diffs")]
    pub diffs: Vec<FileDiff>,
    /// The golden build's tag.
    pub golden: Option<String>,
    /// Evidence files under `evidence/` with their first bytes.
    #[serde(serialize_with = "ser_evidence")]
    pub evidence: Vec<(String, Vec<u8>)>,
    /// Guarded files the branch changes relative to main: path → blob id
    /// on the branch (or `deleted`).
    pub guard_changes: BTreeMap<String, String>,
    /// A release manager acknowledged exactly these changes.
    pub guard_acknowledged: bool,
    /// Legacy manifests naming this branch that cannot be read, in plain
    /// words (file, line, what is wrong).
    pub legacy_warnings: Vec<String>,
    /// The patch of the guard files, main → head (when there are changes).
    #[serde(skip)]
    pub guard_diff: Option<String>,
}

impl Assessment {
    /// Whether the branch may be deployed.
    pub fn ready(&self) -> bool {
        self.state == PackageState::Ready
    }

    /// The branch changes its own guardrail and no release manager has
    /// acknowledged these changes yet.
    pub fn guard_pending(&self) -> bool {
        !self.guard_changes.is_empty() && !self.guard_acknowledged
    }

    /// The legacy manifests with their states, for display.
    pub fn legacy_views(&self) -> Vec<LegacyView<'_>> {
        self.legacy
            .iter()
            .map(|(file, m, items)| LegacyView {
                file,
                state: legacy_state(items),
                manifest: m,
                items,
            })
            .collect()
    }

    /// The item with `key` (`gate`, `snapshot`, `visual`, `fallback`, `audit`).
    pub fn item(&self, key: &str) -> Option<&ChecklistItem> {
        self.items.iter().find(|i| i.key == key)
    }

    /// What to do when files of the package are not on the branch (most
    /// often a `.gitignore` kept `gate.log` or `evidence/` out of a plain
    /// `git add`): `None` when nothing is missing.
    pub fn missing_files_advice(&self) -> Option<String> {
        if !self.has_package {
            return None;
        }
        let missing = self.items.iter().any(|i| {
            i.state == ItemState::Missing
                && i.reason
                    .as_deref()
                    .is_some_and(|r| r.contains("is missing from"))
        }) || self
            .item("visual")
            .is_some_and(|i| !i.passes() && self.evidence.is_empty());
        missing.then(|| {
            format!(
                "files of the package are not in the branch's commit (a .gitignore that \
                 ignores *.log or evidence/ keeps them out of a plain git add): run \
                 `guardrail handoff --branch {b} --commit` again, or `git add -f {d}` on the \
                 branch and commit",
                b = self.branch,
                d = self.package_dir
            )
        })
    }
}

/// What `guardrail check --json` prints.
#[derive(Debug, Serialize)]
pub struct CheckReport<'a> {
    pub branch: &'a str,
    pub head: &'a str,
    pub state: PackageState,
    pub package_dir: &'a str,
    pub has_package: bool,
    pub items: &'a [ChecklistItem],
    pub legacy: Vec<LegacyView<'a>>,
    /// Legacy manifests naming the branch that cannot be read.
    pub legacy_warnings: &'a [String],
    /// What to do when files of the package are missing from the branch.
    pub advice: Option<String>,
}

impl<'a> From<&'a Assessment> for CheckReport<'a> {
    fn from(a: &'a Assessment) -> Self {
        CheckReport {
            branch: &a.branch,
            head: &a.head,
            state: a.state,
            package_dir: &a.package_dir,
            has_package: a.has_package,
            items: &a.items,
            legacy: a.legacy_views(),
            advice: a.missing_files_advice(),
            legacy_warnings: &a.legacy_warnings,
        }
    }
}

/// A legacy manifest's state from its checklist: its gate line fails only
/// when the commit it names is no longer the branch head (stale).
fn legacy_state(items: &[ChecklistItem]) -> PackageState {
    let stale = items
        .iter()
        .any(|i| i.key == "gate" && i.state == ItemState::Fail);
    package_state(items, None, stale.then_some(false))
}

/// Whether a legacy manifest's `latest_backup` is present on disk. The
/// protocol writes `/backups/x.zip` meaning the repository's `backups/`; a
/// bare name is looked for in the backups directory, with `.zip` added when
/// it has no extension (a tag name).
fn legacy_backup_exists(repo: &Repo, cfg: &Config, m: &LegacyManifest) -> bool {
    let Some(b) = m
        .latest_backup
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    else {
        return false;
    };
    let backups = config::resolve(&repo.root, &cfg.project.backups_dir);
    let mut candidates = vec![config::resolve(&repo.root, b)];
    if let Some(rel) = b.strip_prefix('/') {
        candidates.push(repo.root.join(rel));
    }
    if !b.contains('/') {
        candidates.push(backups.join(b));
        if !b.contains('.') || handoff::parse_prod_tag(&cfg.project.tag_prefix, b).is_some() {
            candidates.push(backups.join(format!("{b}.zip")));
        }
    }
    candidates.iter().any(|p| p.is_file())
}

fn requirements(cfg: &Config) -> Vec<Requirement> {
    cfg.evidence
        .require
        .iter()
        .map(|r| Requirement {
            name: r.name.clone(),
            glob: r.glob.clone(),
            min: r.min as usize,
        })
        .collect()
}

/// The baseline check of `tree` and the watched-file diff from the golden
/// build, shared by [`assess`] and [`snapshot`].
fn baseline_and_diffs(
    repo: &Repo,
    cfg: &Config,
    tree: &git2::Tree,
    ctx: &Context,
) -> Result<(Result<BaselineReport, BaselineError>, Vec<FileDiff>), PackageError> {
    let report = baseline::check_tree(&repo.git, tree, &cfg.baseline.file, &cfg.baseline.files);
    let diffs = match &ctx.golden {
        Some((tag, oid)) => {
            let golden = repo
                .git
                .find_commit(*oid)
                .and_then(|c| c.tree())
                .map_err(git_err(format!("the tree of {tag}")))?;
            baseline::diff_watched(&repo.git, &golden, tree, &cfg.project.watch).map_err(
                git_err(format!("the diff of the watched files against {tag}")),
            )?
        }
        None => Vec::new(),
    };
    Ok((report, diffs))
}

fn head_commit<'r>(
    repo: &'r Repo,
    branch: &str,
    head: Oid,
) -> Result<git2::Commit<'r>, PackageError> {
    repo.git
        .find_commit(head)
        .map_err(git_err(format!("the head commit of {branch}")))
}

/// The commit a manifest names: a full or abbreviated (≥ 7) hex sha, never
/// a ref name or revision expression (`HEAD` would judge the wrong code).
fn gate_commit<'r>(repo: &'r Repo, sha: &str) -> Option<git2::Commit<'r>> {
    let sha = sha.trim();
    if sha.len() < 7 || sha.len() > 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    repo.git.find_commit_by_prefix(sha).ok()
}

/// Assesses `branch`'s package at its head. `hash_ok` judges whether an
/// audit record's own hash recomputes (pass [`crate::pipeline::audit::entry_hash_ok`]).
pub fn assess(
    repo: &Repo,
    cfg: &Config,
    branch: &BranchInfo,
    ctx: &Context,
    hash_ok: HashCheck,
) -> Result<Assessment, PackageError> {
    let head =
        Oid::from_str(&branch.head).map_err(git_err(format!("the head of {}", branch.name)))?;
    assess_head(repo, cfg, &branch.name, head, ctx, hash_ok)
}

/// Only the package state: a branch with neither a `.handoff/` package nor
/// a legacy manifest is `none` without reading anything else (most branches
/// of a large repository), otherwise the full assessment decides.
pub fn state_only(
    repo: &Repo,
    cfg: &Config,
    branch: &BranchInfo,
    ctx: &Context,
    hash_ok: HashCheck,
) -> Result<PackageState, PackageError> {
    let head =
        Oid::from_str(&branch.head).map_err(git_err(format!("the head of {}", branch.name)))?;
    if !ctx.legacy.contains_key(&branch.name) {
        let commit = head_commit(repo, &branch.name, head)?;
        let tree = commit
            .tree()
            .map_err(git_err(format!("the tree of {}", branch.name)))?;
        if tree
            .get_path(std::path::Path::new(&handoff::package_dir(&branch.name)))
            .is_err()
        {
            return Ok(PackageState::None);
        }
    }
    Ok(assess(repo, cfg, branch, ctx, hash_ok)?.state)
}

/// [`assess`] for a branch known only by name and head commit (e.g. from
/// [`crate::pipeline::repo::BranchRef`], before its details are read).
pub fn assess_head(
    repo: &Repo,
    cfg: &Config,
    branch: &str,
    head: Oid,
    ctx: &Context,
    hash_ok: HashCheck,
) -> Result<Assessment, PackageError> {
    let commit = head_commit(repo, branch, head)?;
    let head_hex = head.to_string();
    let tree = commit
        .tree()
        .map_err(git_err(format!("the tree of {branch}")))?;
    let (baseline_result, diffs) = baseline_and_diffs(repo, cfg, &tree, ctx)?;

    let legacy: Vec<(String, LegacyManifest, Vec<ChecklistItem>)> = ctx
        .legacy
        .get(branch)
        .map(|list| {
            list.iter()
                .map(|(file, m)| {
                    let items = legacy_checklist(m, &head_hex, legacy_backup_exists(repo, cfg, m));
                    (file.clone(), m.clone(), items)
                })
                .collect()
        })
        .unwrap_or_default();

    let files = read_package_within(&repo.git, &commit, branch, cfg.evidence.max_file.0)?;
    let (baseline, baseline_error) = match baseline_result {
        Ok(r) => (Some(r), None),
        Err(e) => (None, Some(e)),
    };
    let mut a = Assessment {
        branch: branch.to_string(),
        head: head_hex.clone(),
        state: PackageState::None,
        package_dir: handoff::package_dir(branch),
        has_package: files.is_some(),
        items: Vec::new(),
        manifest: None,
        legacy,
        gate_log: None,
        snapshot_md: None,
        baseline,
        baseline_error,
        diffs,
        golden: ctx.golden.as_ref().map(|(t, _)| t.clone()),
        evidence: Vec::new(),
        guard_changes: BTreeMap::new(),
        guard_acknowledged: false,
        guard_diff: None,
        legacy_warnings: ctx.legacy_invalid.get(branch).cloned().unwrap_or_default(),
    };

    let Some(files) = files else {
        if let Some((_, _, items)) = a.legacy.last() {
            a.state = legacy_state(items);
            a.items = items.clone();
        }
        return Ok(a);
    };

    let manifest = files
        .manifest_text
        .as_deref()
        .and_then(|t| HandoffManifest::parse(t, "handoff.toml").ok());
    let fresh = match &manifest {
        Some(m) => match gate_commit(repo, &m.commit) {
            Some(gated) => Some(
                tree_equal_ignoring_handoff(&repo.git, &gated, &commit).map_err(git_err(
                    format!("the diff of {branch} against its gate commit"),
                ))?,
            ),
            None => None,
        },
        None => None,
    };
    let baseline_within = Some(match (&a.baseline, &a.baseline_error) {
        (Some(r), _) => Ok(r.within()),
        (None, Some(e)) => Err(e.to_string()),
        (None, None) => Err("the baseline was not checked".to_string()),
    });
    let reqs = requirements(cfg);
    let tag_exists = |t: &str| ctx.tag_exists(t);
    let bundle_exists = |p: &str| config::resolve(&repo.root, p).exists();
    let audit_hash_ok = |t: &str| hash_ok(t);
    let audit_in_local_log = match (&ctx.audit_hashes, files.audit_json.as_deref()) {
        (Some(set), Some(text)) => record_hash(text).map(|h| set.contains(&h)),
        _ => None,
    };
    let items = checklist(&ChecklistInputs {
        files: &files,
        manifest: manifest.as_ref(),
        fresh: fresh.clone(),
        baseline_within,
        baseline_report: a.baseline.as_ref(),
        requirements: &reqs,
        tag_exists: &tag_exists,
        tag_prefix: &cfg.project.tag_prefix,
        backups_dir: &cfg.project.backups_dir,
        bundle_exists: &bundle_exists,
        audit_hash_ok: &audit_hash_ok,
        audit_in_local_log,
    });
    let mut items = items;
    let mut state = package_state(
        &items,
        manifest.as_ref().map(|m| m.gate.result),
        fresh.map(|(f, _)| f),
    );
    // The guard line: a branch changing its own guardrail is not ready
    // until a release manager acknowledged exactly these changes.
    let changed = super::guard::changes(repo, cfg, &commit).map_err(git_err(format!(
        "the guarded files of {branch} against main"
    )))?;
    let ack = super::guard::matching(ctx.guard_acks.get(branch), &changed);
    items.push(super::guard::item(&changed, ack));
    a.guard_acknowledged = ack.is_some();
    if !changed.is_empty() {
        a.guard_diff = Some(super::guard::diff_text(repo, cfg, &head_hex));
    }
    a.guard_changes = changed;
    if a.guard_pending() && state == PackageState::Ready {
        state = PackageState::Incomplete;
    }
    a.state = state;
    a.items = items;
    a.manifest = manifest;
    a.gate_log = files.gate_log;
    a.snapshot_md = files.snapshot_md;
    a.evidence = files.evidence;
    Ok(a)
}

// ---------------------------------------------------------------------------
// Snapshot

/// `guardrail snapshot`: the baseline check of a branch head's tree and the
/// watched-file diff against the golden build.
#[derive(Debug, Clone, Serialize)]
pub struct Snapshot {
    pub branch: String,
    pub head: String,
    pub golden: Option<GoldenRef>,
    #[serde(serialize_with = "ser_report")]
    pub baseline: BaselineReport,
    /// Every metric within tolerance.
    pub within: bool,
    /// Why the branch is outside without metrics: its baseline file is
    /// missing (`None` otherwise).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub baseline_error: Option<String>,
    #[serde(serialize_with = "ser_diffs")]
    pub diffs: Vec<FileDiff>,
}

/// The golden build a snapshot compares with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GoldenRef {
    pub tag: String,
    pub commit: String,
}

/// The snapshot of `branch`'s head. A baseline file that is missing or
/// cannot be parsed is an error ([`PackageError::Baseline`]).
pub fn snapshot(
    repo: &Repo,
    cfg: &Config,
    branch: &BranchInfo,
    ctx: &Context,
) -> Result<Snapshot, PackageError> {
    let head =
        Oid::from_str(&branch.head).map_err(git_err(format!("the head of {}", branch.name)))?;
    let commit = head_commit(repo, &branch.name, head)?;
    let tree = commit
        .tree()
        .map_err(git_err(format!("the tree of {}", branch.name)))?;
    let (report, diffs) = baseline_and_diffs(repo, cfg, &tree, ctx)?;
    // A branch without the baseline file is outside, with the reason and
    // the diff; a baseline that cannot be parsed is bad input.
    let (report, baseline_error) = match report {
        Ok(r) => (r, None),
        Err(e @ BaselineError::Missing { .. }) => (
            BaselineReport {
                baseline_path: cfg.baseline.file.clone(),
                checks: Vec::new(),
            },
            Some(e.to_string()),
        ),
        Err(e) => return Err(e.into()),
    };
    Ok(Snapshot {
        branch: branch.name.clone(),
        head: branch.head.clone(),
        golden: ctx.golden.as_ref().map(|(t, o)| GoldenRef {
            tag: t.clone(),
            commit: o.to_string(),
        }),
        within: baseline_error.is_none() && report.within(),
        baseline: report,
        baseline_error,
        diffs,
    })
}

// ---------------------------------------------------------------------------
// JSON shapes

#[derive(Serialize)]
struct MetricJson<'a> {
    name: &'a str,
    file: Option<&'a str>,
    expected: u64,
    tolerance: u64,
    actual: Option<u64>,
    within: bool,
    reason: Option<&'a str>,
}

#[derive(Serialize)]
struct ReportJson<'a> {
    file: &'a str,
    within: bool,
    metrics: Vec<MetricJson<'a>>,
}

fn report_json(r: &BaselineReport) -> ReportJson<'_> {
    ReportJson {
        file: &r.baseline_path,
        within: r.within(),
        metrics: r
            .checks
            .iter()
            .map(|c| MetricJson {
                name: &c.metric.name,
                file: c.file.as_deref(),
                expected: c.metric.expected,
                tolerance: c.metric.tolerance,
                actual: c.actual,
                within: c.within,
                reason: c.reason.as_deref(),
            })
            .collect(),
    }
}

fn ser_report<S: Serializer>(r: &BaselineReport, s: S) -> Result<S::Ok, S::Error> {
    report_json(r).serialize(s)
}

fn ser_baseline<S: Serializer>(r: &Option<BaselineReport>, s: S) -> Result<S::Ok, S::Error> {
    r.as_ref().map(report_json).serialize(s)
}

fn ser_opt_display<S: Serializer, T: std::fmt::Display>(
    v: &Option<T>,
    s: S,
) -> Result<S::Ok, S::Error> {
    v.as_ref().map(|e| e.to_string()).serialize(s)
}

#[derive(Serialize)]
struct DiffJson<'a> {
    path: &'a str,
    status: &'static str,
    added: usize,
    removed: usize,
    patch: &'a str,
}

fn ser_diffs<S: Serializer>(d: &[FileDiff], s: S) -> Result<S::Ok, S::Error> {
    d.iter()
        .map(|d| DiffJson {
            path: &d.path,
            status: d.status.as_str(),
            added: d.added,
            removed: d.removed,
            patch: &d.patch,
        })
        .collect::<Vec<_>>()
        .serialize(s)
}

#[derive(Serialize)]
struct EvidenceJson<'a> {
    file: &'a str,
    /// `png`, `jpeg`, `gif`, `webp`, `mp4`, `webm`, `mov`, or `null` when
    /// the bytes are no known media.
    kind: Option<&'static str>,
}

/// A media kind as a JSON value: the usual file extension.
fn kind_key(k: MediaKind) -> &'static str {
    match k {
        MediaKind::Png => "png",
        MediaKind::Jpeg => "jpeg",
        MediaKind::Gif => "gif",
        MediaKind::Webp => "webp",
        MediaKind::Mp4 => "mp4",
        MediaKind::Webm => "webm",
        MediaKind::Mov => "mov",
    }
}

fn ser_evidence<S: Serializer>(e: &[(String, Vec<u8>)], s: S) -> Result<S::Ok, S::Error> {
    e.iter()
        .map(|(file, bytes)| EvidenceJson {
            file,
            kind: evidence::sniff(bytes).map(kind_key),
        })
        .collect::<Vec<_>>()
        .serialize(s)
}

fn ser_legacy<S: Serializer>(
    l: &[(String, LegacyManifest, Vec<ChecklistItem>)],
    s: S,
) -> Result<S::Ok, S::Error> {
    l.iter()
        .map(|(file, manifest, items)| LegacyView {
            file,
            state: legacy_state(items),
            manifest,
            items,
        })
        .collect::<Vec<_>>()
        .serialize(s)
}

// ---------------------------------------------------------------------------
// Text

fn mark(state: ItemState) -> &'static str {
    match state {
        ItemState::Ok => "✅",
        ItemState::Warn => "⚠️",
        ItemState::Missing | ItemState::Fail => "❌",
    }
}

fn item_lines(s: &mut String, items: &[ChecklistItem], indent: &str) {
    for i in items {
        match &i.reason {
            Some(r) if i.state != ItemState::Ok => {
                let _ = writeln!(s, "{indent}{} {:<8} {r}", mark(i.state), i.key);
            }
            _ => {
                let _ = writeln!(s, "{indent}{} {}", mark(i.state), i.key);
            }
        }
    }
}

/// The human form of `guardrail check`: the five checklist lines (each with
/// its reason when not ✅), then the legacy manifests, then the state.
pub fn render_check_text(a: &Assessment) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} at {}", a.branch, short_sha(&a.head));
    if a.has_package {
        let _ = writeln!(s, "package {}/", a.package_dir);
        item_lines(&mut s, &a.items, "  ");
        if let Some(advice) = a.missing_files_advice() {
            let _ = writeln!(s, "what to do: {advice}");
        }
    } else {
        let _ = writeln!(
            s,
            "no handoff package: {}/ is not on the branch",
            a.package_dir
        );
    }
    for v in a.legacy_views() {
        let mut what = Vec::new();
        if let Some(t) = &v.manifest.timestamp {
            what.push(format!("written {t}"));
        }
        if let Some(c) = &v.manifest.commit {
            what.push(format!("commit {}", short_sha(c)));
        }
        let what = if what.is_empty() {
            String::new()
        } else {
            format!(" ({})", what.join(", "))
        };
        let _ = writeln!(s, "legacy manifest {}{what}: {}", v.file, v.state.as_str());
        item_lines(&mut s, v.items, "  ");
    }
    for w in &a.legacy_warnings {
        let _ = writeln!(s, "⚠️ legacy manifest {w}");
    }
    let _ = writeln!(s, "package state: {}", a.state.as_str());
    s
}

/// The human form of `guardrail snapshot`: each metric, each watched file
/// with its counts, then the patches; `paint` styles each patch line (the
/// command line colours them on a terminal).
pub fn render_snapshot_text(snap: &Snapshot, paint: &dyn Fn(&str) -> String) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "{} at {}", snap.branch, short_sha(&snap.head));
    let verdict = if snap.within {
        "within tolerance"
    } else {
        "OUTSIDE tolerance"
    };
    let _ = writeln!(s, "baseline {}: {verdict}", snap.baseline.baseline_path);
    if let Some(e) = &snap.baseline_error {
        let _ = writeln!(s, "  ❌ {e}");
    } else if snap.baseline.checks.is_empty() {
        let _ = writeln!(s, "  (no _LINE_COUNT metrics)");
    }
    for c in &snap.baseline.checks {
        let file = c.file.as_deref().unwrap_or("(no file)");
        let actual = c.actual.map_or_else(|| "—".to_string(), |n| n.to_string());
        let _ = write!(
            s,
            "  {} {:<12} {file}: {actual} lines, expected {} ± {}",
            if c.within { "✅" } else { "❌" },
            c.metric.name,
            c.metric.expected,
            c.metric.tolerance
        );
        match (&c.reason, c.within) {
            (Some(r), false) => {
                let _ = writeln!(s, " — {r}");
            }
            _ => s.push('\n'),
        }
    }
    match &snap.golden {
        None => {
            let _ = writeln!(
                s,
                "watched files: no golden build (no prod tag yet), so no diff"
            );
        }
        Some(g) => {
            let _ = writeln!(
                s,
                "watched files against the golden build {} ({}):",
                g.tag,
                short_sha(&g.commit)
            );
            if snap.diffs.is_empty() {
                let _ = writeln!(s, "  (no watched files configured)");
            }
            for d in &snap.diffs {
                match d.status {
                    DiffStatus::Unchanged | DiffStatus::Absent => {
                        let _ = writeln!(s, "  {:<9} {}", d.status.as_str(), d.path);
                    }
                    _ => {
                        let _ = writeln!(
                            s,
                            "  {:<9} {}  +{} −{}",
                            d.status.as_str(),
                            d.path,
                            d.added,
                            d.removed
                        );
                    }
                }
            }
            for d in snap.diffs.iter().filter(|d| !d.patch.is_empty()) {
                let _ = writeln!(s, "\n--- {} ({}) ---", d.path, d.status.as_str());
                for l in d.patch.lines() {
                    s.push_str(&paint(l));
                    s.push('\n');
                }
            }
        }
    }
    s
}

/// The whole bytes of one evidence file of `branch`'s package at `head`.
pub fn evidence_file(
    repo: &Repo,
    branch: &str,
    head: Oid,
    name: &str,
    max: config::Size,
) -> Result<Vec<u8>, PackageError> {
    let commit = head_commit(repo, branch, head)?;
    let tree = commit
        .tree()
        .map_err(git_err(format!("the tree of {branch}")))?;
    let path = format!("{}/evidence/{name}", handoff::package_dir(branch));
    let entry = tree
        .get_path(std::path::Path::new(&path))
        .map_err(git_err(path.clone()))?;
    // Sized by its object header first: a blob over `[evidence] max_file`
    // (`max`, as configured) is never read.
    let odb = repo.git.odb().map_err(git_err(path.clone()))?;
    match handoff::read_blob_within(&repo.git, &odb, entry.id(), max.0, <[u8]>::to_vec)
        .map_err(git_err(path.clone()))?
    {
        Capped::Read(bytes) => Ok(bytes),
        Capped::TooLarge(t) => Err(PackageError::TooLarge(format!(
            "the evidence file {path} is {} bytes, more than [evidence] max_file ({max})",
            t.bytes
        ))),
    }
}

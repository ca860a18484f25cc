//! Making a handoff package (`guardrail handoff`, SPEC §4 and §6): the gate
//! and the snapshot run on a branch head, and `.handoff/<slug>/` is written
//! for that commit — `handoff.toml`, `gate.log`, `snapshot.md`,
//! `audit.json` and `evidence/`.
//!
//! Where the package is written:
//!
//! - When the branch is checked out in a working tree of the repository (the
//!   main one or a linked `git worktree`), into that working tree, where the
//!   agent sees it (`git status` shows it until it is committed). Nothing else
//!   in that working tree is touched; with `--commit` only `.handoff/<slug>/`
//!   is committed (`git commit -- <dir>`), whatever else is staged.
//! - Otherwise into a worktree of its own, `<state>/handoff-worktrees/<slug>`,
//!   detached at the gated commit so that the branch stays free to be checked
//!   out elsewhere. With `--commit` the package is committed there and the
//!   branch moved to that commit by `git update-ref <new> <old>`: a
//!   fast-forward that fails if the branch moved meanwhile. The user's working
//!   tree and current branch are never touched.
//!
//! Commits go through the git command line, so the user's identity, hooks and
//! signing settings apply. History is never rewritten and nothing is pushed.
//!
//! The new package is built in a staging directory beside the old one and
//! swapped in whole. A package of another commit is replaced and the result
//! says so ([`MadePackage::replaced`]); its evidence is not carried over (it
//! showed other code). Refreshing the package of the same commit keeps its
//! evidence unless `--evidence` is given.
//!
//! Evidence files are checked before the gate runs: every file must be an
//! image or a video by its first bytes ([`crate::pipeline::evidence::sniff`]); the first
//! that is not stops everything, named in the error, before anything is run
//! or written. Hidden files (`.DS_Store`, `.gitkeep`) are skipped, with a note.
use std::path::{Path, PathBuf};
use std::process::Command;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::package::{self, PackageError};
use super::read::{human_size, read_file_within, Capped, MAX_GATE_LOG};
use super::{
    bundle_path, package_dir, parse_prod_tag, sha256_hex, slug, tree_equal_ignoring_handoff,
    GateResult, GateSection, HandoffManifest, SnapshotSection,
};
use crate::pipeline::baseline;
use crate::pipeline::checkout::{self, CheckoutError};
use crate::pipeline::common::short_sha;
use crate::pipeline::config::{self, Config};
use crate::pipeline::evidence::{self, describe_content, expected_kind_for_name};
use crate::pipeline::gate::{self, GateError, GateReport, Verdict};
use crate::pipeline::repo::{next_free_tag, BranchInfo, HeadState, Repo, RepoError};
use crate::pipeline::runner::{Answers, RunEvent, RunHandle};

/// What `guardrail handoff` was asked to do.
#[derive(Debug, Clone)]
pub struct MakeOptions {
    /// The feature branch; default: the branch checked out in the repository.
    pub branch: Option<String>,
    /// The proposed prod tag; default: the next free one of today (UTC).
    pub tag: Option<String>,
    /// A directory of screenshots and screencasts to put in `evidence/`.
    pub evidence: Option<PathBuf>,
    /// Commit the package on the branch.
    pub commit: bool,
    /// `summary` in `handoff.toml`; default: the head commit's subject.
    pub summary: Option<String>,
    /// Answers for the gate's prompts.
    pub answers: Answers,
}

/// Where the package was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// The working tree that has the branch checked out.
    WorkingTree,
    /// guardrail's own worktree of the branch (the branch is not checked out).
    Worktree,
}

/// A package written.
#[derive(Debug, Clone, Serialize)]
pub struct MadePackage {
    pub branch: String,
    /// The commit the gate ran on.
    pub commit: String,
    /// The package directory written (absolute).
    pub dir: String,
    /// `.handoff/<slug>`, relative to the root of the tree.
    pub package_dir: String,
    /// The root of the working tree or worktree the package is in.
    pub worktree: String,
    pub location: Location,
    pub verdict: Verdict,
    pub proposed_tag: String,
    pub proposed_bundle: String,
    /// The commit of the package this one replaced (another commit's).
    pub replaced: Option<String>,
    /// A package of the same commit was there and is now refreshed.
    pub refreshed: bool,
    /// The commit that added the package to the branch (`--commit`).
    pub committed: Option<String>,
    /// The package's files, relative to its directory, sorted.
    pub files: Vec<String>,
    /// The baseline within tolerance (`None`: it could not be checked).
    pub snapshot_within: Option<bool>,
    /// Things the user should know (skipped files, evidence not carried over …).
    pub notes: Vec<String>,
    /// The gate run.
    pub gate: GateReport,
}

/// Why no package was made.
#[derive(Debug, thiserror::Error)]
pub enum MakeError {
    /// Bad input: no branch to act on, a bad tag, bad evidence. Exit 2.
    #[error("{0}")]
    BadInput(String),
    #[error(transparent)]
    Repo(#[from] RepoError),
    /// The snapshot could not be read from git.
    #[error(transparent)]
    Package(#[from] PackageError),
    /// The gate could not run (script missing, checkout failed …).
    #[error(transparent)]
    Gate(#[from] GateError),
    /// The gate was ended by a timeout or a cancel: nothing was written.
    #[error("the gate on {branch} was ended ({why}), so no package was written; see {log}")]
    GateEnded {
        branch: String,
        why: String,
        log: String,
    },
    /// Writing or committing the package failed.
    #[error("{0}")]
    Write(String),
    /// Another handoff of the same branch is running. Exit 3.
    #[error("{0}")]
    Busy(String),
}

impl MakeError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

impl MakeError {
    /// Whether the fault is in what was asked (exit 2) rather than in a step
    /// that could not run (exit 4).
    pub fn is_bad_input(&self) -> bool {
        matches!(
            self,
            MakeError::BadInput(_) | MakeError::Repo(_) | MakeError::Package(_)
        )
    }
}

impl From<CheckoutError> for MakeError {
    fn from(e: CheckoutError) -> Self {
        MakeError::Write(e.to_string())
    }
}

fn io_err(what: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> MakeError {
    move |e| MakeError::Write(format!("cannot write {what}: {e}"))
}

/// [`make_with`] without a start callback.
pub fn make(
    repo: &Repo,
    cfg: &Config,
    opts: MakeOptions,
    on_event: impl FnMut(RunEvent) + Send + 'static,
) -> Result<MadePackage, MakeError> {
    make_with(repo, cfg, opts, |_, _| {}, on_event)
}

/// Runs the gate and the snapshot on the branch head and writes (and with
/// `opts.commit` commits) its package. `on_start` gets the gate's handle
/// (answers, cancel) once the script runs; `on_event` sees its output live.
/// A failing gate still writes the package, with result FAIL.
pub fn make_with(
    repo: &Repo,
    cfg: &Config,
    opts: MakeOptions,
    on_start: impl FnOnce(RunHandle, &Path),
    on_event: impl FnMut(RunEvent) + Send + 'static,
) -> Result<MadePackage, MakeError> {
    let mut notes = Vec::new();

    // 1. What to act on, all checked before anything runs.
    let branch = resolve_branch(repo, cfg, opts.branch.as_deref())?;
    let _one_at_a_time = lock_branch(repo, &branch.name)?;
    let tag = proposed_tag(repo, cfg, opts.tag.as_deref())?;
    let bundle = bundle_path(&cfg.project.backups_dir, &tag);
    if config::resolve(&repo.root, &bundle).exists() {
        notes.push(format!(
            "{bundle} already exists: the fallback item will fail until it is moved away"
        ));
    }
    let evidence = match &opts.evidence {
        Some(dir) => {
            let files = collect_evidence(dir, &mut notes)?;
            check_evidence_sizes(&files, cfg.evidence.max_file)?;
            Some(files)
        }
        None => None,
    };
    let target = plan_target(repo, &branch, opts.commit)?;

    // 2. The snapshot of the same commit (read from git objects).
    let (snapshot_md, snapshot_within) = snapshot_text(repo, cfg, &branch, &mut notes)?;

    // 3. The gate, on the same commit.
    let report = gate::run_proposing(
        repo,
        cfg,
        &branch,
        Some(&tag),
        opts.answers.clone(),
        on_start,
        on_event,
    )?;
    let (result, log, log_sha) = gate_evidence(&branch, &report, &mut notes)?;

    // 4. Where to write, and what was there.
    let (root, location, _keep) = package_root(repo, cfg, &target, &branch, &report, &mut notes)?;
    let rel = package_dir(&branch.name);
    let dir = root.join(&rel);
    let (replaced, refreshed) = earlier_package(repo, &dir, &report.commit, &mut notes);

    // 5. The package, staged beside the old one and swapped in whole.
    let created = DateTime::from_timestamp(Utc::now().timestamp(), 0).unwrap_or_else(Utc::now);
    let manifest = HandoffManifest {
        branch: branch.name.clone(),
        commit: report.commit.clone(),
        created,
        author: repo.user(cfg).name,
        proposed_tag: tag.clone(),
        proposed_bundle: bundle.clone(),
        summary: opts
            .summary
            .clone()
            .unwrap_or_else(|| branch.subject.clone()),
        gate: GateSection {
            result,
            exit_code: report.exit_code.unwrap_or(-1),
            log: "gate.log".into(),
            sha256: log_sha,
        },
        snapshot: SnapshotSection::default(),
    };
    let parent = dir.parent().unwrap_or(&root).to_path_buf();
    std::fs::create_dir_all(&parent).map_err(io_err(parent.display()))?;
    let salt = getrandom::u32().unwrap_or_else(|_| Utc::now().timestamp_subsec_nanos());
    let tag_id = format!("{}-{}", std::process::id(), salt % 0x10000);
    let staging = parent.join(format!(".{}.new-{tag_id}", slug(&branch.name)));
    let result_of = write_staged(
        &Staged {
            staging: &staging,
            dir: &dir,
            rel: &rel,
            manifest: &manifest,
            log: &log,
            snapshot_md: &snapshot_md,
            report: &report,
            evidence: evidence.as_deref(),
            refreshed,
            replaced: replaced.is_some(),
        },
        &mut notes,
    );
    if let Err(e) = result_of {
        let _ = std::fs::remove_dir_all(&staging);
        return Err(e);
    }
    if list_files(&staging.join("evidence")).is_empty() {
        notes.push(format!("{rel}/evidence/ holds no files"));
    }
    swap_in(&staging, &dir, &tag_id)?;
    let files = list_files(&dir);

    // 6. Commit.
    let committed = if opts.commit {
        Some(commit_package(
            &target,
            &root,
            &branch.name,
            &rel,
            &report.commit,
            result,
        )?)
    } else {
        None
    };

    Ok(MadePackage {
        branch: branch.name.clone(),
        commit: report.commit.clone(),
        dir: dir.display().to_string(),
        package_dir: rel,
        worktree: root.display().to_string(),
        location,
        verdict: report.verdict,
        proposed_tag: tag,
        proposed_bundle: bundle,
        replaced,
        refreshed,
        committed,
        files,
        snapshot_within,
        notes,
        gate: report,
    })
}

/// Phase 2: the snapshot of the branch head (read from git objects) as
/// Markdown, and whether every metric is within tolerance (`None`: the
/// baseline could not be checked, which is a note, not an error).
fn snapshot_text(
    repo: &Repo,
    cfg: &Config,
    branch: &BranchInfo,
    notes: &mut Vec<String>,
) -> Result<(String, Option<bool>), MakeError> {
    let ctx = package::Context::load(repo, cfg)?;
    Ok(match package::snapshot(repo, cfg, branch, &ctx) {
        Ok(s) => (
            baseline::render_snapshot_md(
                &s.baseline,
                &s.diffs,
                s.golden.as_ref().map(|g| g.tag.as_str()),
                &branch.name,
                &branch.head,
            ),
            Some(s.within),
        ),
        Err(PackageError::Baseline(e)) => {
            notes.push(format!("the baseline could not be checked: {e}"));
            (
                format!(
                    "# Baseline snapshot: {}\n\n- **Branch:** `{}`\n- **Commit:** `{}`\n\n\
                 The baseline could not be checked: {e}\n",
                    branch.name, branch.name, branch.head
                ),
                None,
            )
        }
        Err(e) => return Err(e.into()),
    })
}

/// Phase 3 (after the gate ran): its result for the manifest, and its log
/// with the log's hash, checked against what the gate recorded. A gate that
/// timed out or was cancelled makes no package.
fn gate_evidence(
    branch: &BranchInfo,
    report: &GateReport,
    notes: &mut Vec<String>,
) -> Result<(GateResult, Vec<u8>, String), MakeError> {
    let result = match report.verdict {
        Verdict::Pass => GateResult::Pass,
        Verdict::Fail => GateResult::Fail,
        Verdict::TimedOut | Verdict::Cancelled => {
            let why = if report.notes.is_empty() {
                report.verdict.as_str().to_lowercase()
            } else {
                report
                    .notes
                    .iter()
                    .map(|n| n.trim_start_matches("guardrail: "))
                    .collect::<Vec<_>>()
                    .join("; ")
            };
            return Err(MakeError::GateEnded {
                branch: branch.name.clone(),
                why,
                log: report.log.clone(),
            });
        }
    };
    // A package whose gate log is over what `check` reads back could never
    // be ready: say so now instead of writing it.
    let cannot = |e: std::io::Error| {
        MakeError::Write(format!("cannot read the gate log {}: {e}", report.log))
    };
    let log = match read_file_within(Path::new(&report.log), MAX_GATE_LOG).map_err(cannot)? {
        Capped::Read(log) => log,
        Capped::TooLarge(t) => {
            return Err(MakeError::Write(format!(
                "the gate log {} is {}, more than the {} guardrail reads back from a package, so no package was written; make the gate print less",
                report.log,
                human_size(t.bytes),
                human_size(MAX_GATE_LOG)
            )))
        }
    };
    let log_sha = sha256_hex(&log);
    if log_sha != report.log_sha256 {
        return Err(MakeError::Write(format!(
            "the gate log {} changed after the gate recorded it (sha256 {} recorded, {} now)",
            report.log,
            short_sha(&report.log_sha256),
            short_sha(&log_sha)
        )));
    }
    if report.exit_code.is_none() && result == GateResult::Fail {
        notes.push("the gate ended without an exit code (killed by a signal)".into());
    }
    Ok((result, log, log_sha))
}

/// Phase 4: the directory the package goes into (the working tree, or
/// guardrail's worktree on the gated commit), checking that a checked-out
/// branch did not move while the gate ran.
fn package_root(
    repo: &Repo,
    cfg: &Config,
    target: &Target,
    branch: &BranchInfo,
    report: &GateReport,
    notes: &mut Vec<String>,
) -> Result<(PathBuf, Location, Option<checkout::Checkout>), MakeError> {
    let (root, location, _keep) = match target {
        Target::WorkingTree { path, .. } => (path.clone(), Location::WorkingTree, None),
        Target::Worktree { .. } => {
            let co = checkout::handoff_worktree(repo, &branch.name, &report.commit)?;
            (co.path.clone(), Location::Worktree, Some(co))
        }
    };
    // The branch must still be where the gate ran.
    if let Target::WorkingTree { path, .. } = target {
        let now = worktree_head(path)?;
        if now != report.commit {
            return Err(MakeError::Write(format!(
                "{} moved to {} in {} while the gate ran on {}; run guardrail handoff again",
                branch.name,
                short_sha(&now),
                path.display(),
                short_sha(&report.commit)
            )));
        }
        if let Ok(dirty) = dirty_outside_handoff(path, &cfg.project.protocol_audit_log) {
            if !dirty.is_empty() {
                notes.push(format!(
                    "{} has uncommitted changes ({}); the gate ran on the committed head {}",
                    path.display(),
                    crate::pipeline::common::list_some(&dirty, 3),
                    short_sha(&report.commit)
                ));
            }
        }
    }
    Ok((root, location, _keep))
}

/// Phase 4: the package already in `dir`: the commit of one it replaces
/// (other code), or whether it is refreshed (the same code).
fn earlier_package(
    repo: &Repo,
    dir: &Path,
    commit: &str,
    notes: &mut Vec<String>,
) -> (Option<String>, bool) {
    let old = std::fs::read_to_string(dir.join("handoff.toml")).ok();
    let old_commit = old.as_deref().map(|t| {
        HandoffManifest::parse(t, "handoff.toml")
            .map(|m| m.commit)
            .unwrap_or_default()
    });
    match old_commit {
        None => (None, false),
        Some(c) if c.is_empty() => (Some("unknown (unreadable handoff.toml)".to_string()), false),
        Some(c) if c == commit => (None, true),
        // The package commit itself, or any commit of the same code.
        Some(c) if same_code(repo, &c, commit) => {
            notes.push(format!(
                "the earlier package was made on {}, which has the same code as {}",
                short_sha(&c),
                short_sha(commit)
            ));
            (None, true)
        }
        Some(c) => (Some(c), false),
    }
}

/// What phase 5 writes into the staging directory.
struct Staged<'a> {
    staging: &'a Path,
    dir: &'a Path,
    rel: &'a str,
    manifest: &'a HandoffManifest,
    log: &'a [u8],
    snapshot_md: &'a str,
    report: &'a GateReport,
    evidence: Option<&'a [(String, PathBuf)]>,
    refreshed: bool,
    replaced: bool,
}

/// Phase 5: the package's files (manifest, gate log, snapshot, audit line,
/// evidence) written into the staging directory.
fn write_staged(st: &Staged<'_>, notes: &mut Vec<String>) -> Result<(), MakeError> {
    let Staged {
        staging,
        dir,
        rel,
        manifest,
        log,
        snapshot_md,
        report,
        evidence,
        refreshed,
        replaced,
    } = *st;
    std::fs::create_dir_all(staging).map_err(io_err(staging.display()))?;
    let put = |name: &str, bytes: &[u8]| -> Result<(), MakeError> {
        let p = staging.join(name);
        std::fs::write(&p, bytes).map_err(io_err(format!("{rel}/{name}")))
    };
    put("handoff.toml", manifest.render().as_bytes())?;
    put("gate.log", log)?;
    put("snapshot.md", snapshot_md.as_bytes())?;
    put("audit.json", report.audit.to_line().as_bytes())?;
    let ev_dir = staging.join("evidence");
    match evidence {
        Some(files) => {
            for (name, src) in files {
                let dst = ev_dir.join(name);
                if let Some(p) = dst.parent() {
                    std::fs::create_dir_all(p).map_err(io_err(p.display()))?;
                }
                std::fs::copy(src, &dst).map_err(io_err(format!("{rel}/evidence/{name}")))?;
            }
        }
        None if refreshed && dir.join("evidence").is_dir() => {
            copy_tree(&dir.join("evidence"), &ev_dir)?;
            notes.push("kept the evidence of the package being refreshed".into());
        }
        None => {
            if replaced && dir.join("evidence").is_dir() {
                notes.push(
                    "the evidence of the replaced package showed other code and is not \
                     carried over; pass --evidence DIR"
                        .into(),
                );
            }
        }
    }
    Ok(())
}

/// The branch asked for, or the one checked out.
fn resolve_branch(repo: &Repo, cfg: &Config, name: Option<&str>) -> Result<BranchInfo, MakeError> {
    let main = &cfg.project.main_branch;
    let name = match name {
        Some(n) => n.to_string(),
        None => match repo.head_state() {
            HeadState::Branch { name } => name,
            HeadState::Detached { commit } => {
                return Err(MakeError::BadInput(format!(
                    "HEAD is detached at {} in {}; name the branch with --branch",
                    short_sha(&commit),
                    repo.root.display()
                )))
            }
            HeadState::Unborn => {
                return Err(MakeError::BadInput(format!(
                    "{} has no commits yet; name the branch with --branch",
                    repo.root.display()
                )))
            }
        },
    };
    if &name == main {
        return Err(MakeError::BadInput(format!(
            "`{name}` is the main branch; a handoff package is made on a feature branch (--branch B)"
        )));
    }
    Ok(repo.find_branch_head(cfg, &name)?)
}

/// One handoff of a branch at a time, across processes: an exclusive lock
/// on `<state>/handoff-<slug>.lock`, held (the file returned) until the
/// package is written and committed; the lock goes with the process.
fn lock_branch(repo: &Repo, branch: &str) -> Result<std::fs::File, MakeError> {
    repo.state
        .ensure()
        .map_err(|e| MakeError::Write(e.to_string()))?;
    let path = repo
        .state
        .path
        .join(format!("handoff-{}.lock", super::slug(branch)));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| MakeError::Write(format!("{}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(_) => Err(MakeError::Busy(format!(
            "another handoff of {branch} is running (it holds {}); wait for it to finish",
            path.display()
        ))),
    }
}

/// `--tag`, checked, or the next free prod tag of today (UTC).
fn proposed_tag(repo: &Repo, cfg: &Config, tag: Option<&str>) -> Result<String, MakeError> {
    let prefix = &cfg.project.tag_prefix;
    let tags = repo.tag_names()?;
    let Some(t) = tag.map(str::trim) else {
        return Ok(next_free_tag(prefix, Utc::now().date_naive(), &tags));
    };
    let Some((date, _)) = parse_prod_tag(prefix, t) else {
        return Err(MakeError::BadInput(format!(
            "--tag {t} is not a prod tag such as {prefix}YYYY-MM-DD or {prefix}YYYY-MM-DD.N (N ≥ 2)"
        )));
    };
    if tags.iter().any(|x| x == t) {
        return Err(MakeError::BadInput(format!(
            "tag {t} already exists; the next free tag of that day is {}",
            next_free_tag(prefix, date, &tags)
        )));
    }
    Ok(t.to_string())
}

/// Evidence files under `dir` (relative name, source path), sorted; the
/// first that is not an image or video is an error naming it.
fn collect_evidence(
    dir: &Path,
    notes: &mut Vec<String>,
) -> Result<Vec<(String, PathBuf)>, MakeError> {
    let meta = std::fs::metadata(dir).map_err(|e| {
        MakeError::BadInput(format!(
            "the evidence directory {} cannot be read: {e}",
            dir.display()
        ))
    })?;
    if !meta.is_dir() {
        return Err(MakeError::BadInput(format!(
            "--evidence {} is not a directory",
            dir.display()
        )));
    }
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    walk(dir, "", &mut out, &mut skipped)?;
    out.sort();
    for (name, path) in &out {
        let head = read_head(path).map_err(|e| {
            MakeError::BadInput(format!(
                "the evidence file {} cannot be read: {e}",
                path.display()
            ))
        })?;
        if evidence::sniff(&head).is_none() {
            let what = describe_content(&head);
            let why = match expected_kind_for_name(name) {
                Some(k) => format!("is not really {} {} ({what})", article(k.noun()), k.noun()),
                None => format!("is not an image or video ({what})"),
            };
            return Err(MakeError::BadInput(format!(
                "the evidence file {} {why}; evidence/ takes only screenshots (png, jpg, webp, gif) \
                 and screencasts (mp4, webm, mov)",
                path.display()
            )));
        }
    }
    if !skipped.is_empty() {
        notes.push(format!(
            "skipped hidden files in {}: {}",
            dir.display(),
            crate::pipeline::common::list_some(&skipped, 3)
        ));
    }
    Ok(out)
}

/// Refuses an evidence file larger than `[evidence] max_file`, before
/// anything is copied.
fn check_evidence_sizes(files: &[(String, PathBuf)], max: config::Size) -> Result<(), MakeError> {
    for (_, path) in files {
        let len = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
        if len > max.0 {
            return Err(MakeError::BadInput(format!(
                "the evidence file {} is {len} bytes, more than [evidence] max_file ({max}); \
                 record a shorter screencast or raise max_file",
                path.display()
            )));
        }
    }
    Ok(())
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

fn walk(
    dir: &Path,
    prefix: &str,
    out: &mut Vec<(String, PathBuf)>,
    skipped: &mut Vec<String>,
) -> Result<(), MakeError> {
    let rd = std::fs::read_dir(dir).map_err(|e| {
        MakeError::BadInput(format!(
            "the evidence directory {} cannot be read: {e}",
            dir.display()
        ))
    })?;
    for e in rd.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let rel = format!("{prefix}{name}");
        if name.starts_with('.') {
            skipped.push(rel);
            continue;
        }
        let path = e.path();
        let meta = std::fs::metadata(&path).map_err(|err| {
            MakeError::BadInput(format!(
                "the evidence file {} cannot be read: {err}",
                path.display()
            ))
        })?;
        if meta.is_dir() {
            walk(&path, &format!("{rel}/"), out, skipped)?;
        } else if meta.is_file() {
            out.push((rel, path));
        } else {
            return Err(MakeError::BadInput(format!(
                "the evidence entry {} is not a regular file",
                path.display()
            )));
        }
    }
    Ok(())
}

fn read_head(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut f = std::fs::File::open(path)?;
    let mut buf = vec![0; 64];
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    buf.truncate(n);
    Ok(buf)
}

// ---------------------------------------------------------------------------
// Where the package goes

/// Where to write, decided before the gate runs.
#[derive(Debug, Clone)]
enum Target {
    /// The branch is checked out in this working tree.
    WorkingTree { path: PathBuf },
    /// Not checked out: guardrail's worktree; `local` is the local branch's
    /// head (`None`: there is none yet, only a remote-tracking branch).
    Worktree { local: Option<String> },
}

fn plan_target(repo: &Repo, branch: &BranchInfo, commit: bool) -> Result<Target, MakeError> {
    let local = repo
        .git
        .find_branch(&branch.name, git2::BranchType::Local)
        .ok()
        .and_then(|b| b.get().target())
        .map(|o| o.to_string());
    if let Some(path) = checked_out_at(&repo.root, &branch.name)? {
        let at = local.clone().unwrap_or_default();
        if at != branch.head {
            return Err(MakeError::BadInput(format!(
                "{} is checked out in {} at {}, but its newest head is {} (from {}); \
                 bring the working tree up to date first",
                branch.name,
                path.display(),
                short_sha(&at),
                short_sha(&branch.head),
                branch.sources.join(", ")
            )));
        }
        return Ok(Target::WorkingTree { path });
    }
    if commit {
        if let Some(l) = &local {
            if *l != branch.head && !is_ancestor(repo, l, &branch.head) {
                return Err(MakeError::BadInput(format!(
                    "the local branch {} ({}) is not an ancestor of its newest head {}; \
                     committing the package would not be a fast-forward",
                    branch.name,
                    short_sha(l),
                    short_sha(&branch.head)
                )));
            }
        }
    }
    Ok(Target::Worktree { local })
}

/// Whether two commits have the same tree, ignoring `.handoff/`.
fn same_code(repo: &Repo, a: &str, b: &str) -> bool {
    let find = |s: &str| {
        git2::Oid::from_str(s)
            .ok()
            .and_then(|o| repo.git.find_commit(o).ok())
    };
    match (find(a), find(b)) {
        (Some(a), Some(b)) => tree_equal_ignoring_handoff(&repo.git, &a, &b)
            .map(|(eq, _)| eq)
            .unwrap_or(false),
        _ => false,
    }
}

fn is_ancestor(repo: &Repo, ancestor: &str, of: &str) -> bool {
    match (git2::Oid::from_str(ancestor), git2::Oid::from_str(of)) {
        (Ok(a), Ok(b)) => repo.git.graph_descendant_of(b, a).unwrap_or(false),
        _ => false,
    }
}

/// The working tree (main or linked) that has `refs/heads/<branch>` checked
/// out, if any.
fn checked_out_at(root: &Path, branch: &str) -> Result<Option<PathBuf>, MakeError> {
    let out = git(root, &["worktree", "list", "--porcelain"], &[])?;
    let want = format!("branch refs/heads/{branch}");
    let mut path: Option<PathBuf> = None;
    let mut hit = false;
    let mut prunable = false;
    for line in out.lines().chain(std::iter::once("")) {
        if line.is_empty() {
            if hit && !prunable {
                if let Some(p) = path.take().filter(|p| p.is_dir()) {
                    return Ok(Some(p));
                }
            }
            path = None;
            hit = false;
            prunable = false;
        } else if let Some(p) = line.strip_prefix("worktree ") {
            path = Some(PathBuf::from(p));
        } else if line == want {
            hit = true;
        } else if line.starts_with("prunable") {
            prunable = true;
        }
    }
    Ok(None)
}

fn worktree_head(path: &Path) -> Result<String, MakeError> {
    Ok(git(path, &["rev-parse", "--verify", "HEAD"], &[])?
        .trim()
        .to_string())
}

/// Uncommitted changes in the working tree at `path`, outside `.handoff/`
/// and other than the protocol audit log (which the gate itself appends to).
fn dirty_outside_handoff(path: &Path, protocol_log: &str) -> Result<Vec<String>, git2::Error> {
    let protocol_log = protocol_log.trim_start_matches("./");
    let r = git2::Repository::open(path)?;
    let mut opts = git2::StatusOptions::new();
    opts.include_untracked(true).include_ignored(false);
    let st = r.statuses(Some(&mut opts))?;
    Ok(st
        .iter()
        .filter_map(|e| e.path().map(str::to_string))
        .filter(|p| !p.starts_with(".handoff/") && p != protocol_log)
        .collect())
}

/// Replaces `dir` by `staging` (the old one moved aside, then removed).
fn swap_in(staging: &Path, dir: &Path, tag_id: &str) -> Result<(), MakeError> {
    let parent = dir.parent().unwrap_or(Path::new("."));
    let base = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let aside = parent.join(format!(".{base}.old-{tag_id}"));
    let had_old = dir.exists();
    if had_old {
        std::fs::rename(dir, &aside).map_err(|e| {
            let _ = std::fs::remove_dir_all(staging);
            MakeError::Write(format!(
                "cannot move the old package {} aside: {e}",
                dir.display()
            ))
        })?;
    }
    if let Err(e) = std::fs::rename(staging, dir) {
        if had_old {
            let _ = std::fs::rename(&aside, dir);
        }
        let _ = std::fs::remove_dir_all(staging);
        return Err(MakeError::Write(format!(
            "cannot put the package in place at {}: {e}",
            dir.display()
        )));
    }
    if had_old {
        let _ = std::fs::remove_dir_all(&aside);
    }
    Ok(())
}

fn copy_tree(from: &Path, to: &Path) -> Result<(), MakeError> {
    std::fs::create_dir_all(to).map_err(io_err(to.display()))?;
    let rd = std::fs::read_dir(from).map_err(io_err(from.display()))?;
    for e in rd.flatten() {
        let (src, dst) = (e.path(), to.join(e.file_name()));
        if src.is_dir() {
            copy_tree(&src, &dst)?;
        } else {
            std::fs::copy(&src, &dst).map_err(io_err(dst.display()))?;
        }
    }
    Ok(())
}

/// Files under `dir`, relative, sorted.
fn list_files(dir: &Path) -> Vec<String> {
    fn go(d: &Path, prefix: &str, out: &mut Vec<String>) {
        if let Ok(rd) = std::fs::read_dir(d) {
            for e in rd.flatten() {
                let name = format!("{prefix}{}", e.file_name().to_string_lossy());
                if e.path().is_dir() {
                    go(&e.path(), &format!("{name}/"), out);
                } else {
                    out.push(name);
                }
            }
        }
    }
    let mut out = Vec::new();
    go(dir, "", &mut out);
    out.sort();
    out
}

// ---------------------------------------------------------------------------
// Committing

/// The commit message of a package commit.
pub fn commit_message(branch: &str, result: GateResult, commit: &str) -> String {
    format!(
        "Handoff package for {branch} (gate {} on {})",
        result.as_str(),
        short_sha(commit)
    )
}

/// Commits `.handoff/<slug>/` (only that) and returns the new commit.
fn commit_package(
    target: &Target,
    root: &Path,
    branch: &str,
    rel: &str,
    gated: &str,
    result: GateResult,
) -> Result<String, MakeError> {
    let msg = commit_message(branch, result, gated);
    let ident = identity_args(root);
    let ident: Vec<&str> = ident.iter().map(String::as_str).collect();
    // With force: `.handoff/` is guardrail's own directory, and repositories
    // often ignore `*.log` and `evidence/`, which would leave the gate log
    // and the screenshots out of the commit.
    git(root, &["add", "-A", "-f", "--", rel], &[])?;
    let mut args = ident.clone();
    args.extend(["commit", "--quiet", "-m", &msg, "--", rel]);
    git(root, &args, &[])?;
    let new = worktree_head(root)?;
    check_committed(root, &new, rel)?;
    match target {
        Target::WorkingTree { .. } => {
            let parent = git(root, &["rev-parse", "--verify", "HEAD^"], &[])?;
            if parent.trim() != gated {
                return Err(MakeError::Write(format!(
                    "the package commit {} on {branch} does not follow the gated commit {}",
                    short_sha(&new),
                    short_sha(gated)
                )));
            }
        }
        Target::Worktree { local } => {
            let refname = format!("refs/heads/{branch}");
            let old = local.clone().unwrap_or_else(|| "0".repeat(40));
            let reason = format!("guardrail handoff: {msg}");
            git(
                root,
                &["update-ref", "-m", &reason, &refname, &new, &old],
                &[],
            )
            .map_err(|e| {
                MakeError::Write(format!(
                    "{branch} moved while its package was made, so the package commit {} \
                         was not put on it ({e})",
                    short_sha(&new)
                ))
            })?;
        }
    }
    Ok(new)
}

/// Every file written under `rel` is in commit `new`, byte for byte; a file
/// left out (ignored, filtered, a hook) is an error naming it.
fn check_committed(root: &Path, new: &str, rel: &str) -> Result<(), MakeError> {
    let listed = git(root, &["ls-tree", "-r", "--name-only", new, "--", rel], &[])?;
    let in_commit: std::collections::BTreeSet<&str> = listed.lines().collect();
    let mut missing = Vec::new();
    for f in list_files(&root.join(rel)) {
        let path = format!("{rel}/{f}");
        if !in_commit.contains(path.as_str()) {
            missing.push(path);
            continue;
        }
        let blob = git(root, &["rev-parse", &format!("{new}:{path}")], &[])?;
        let disk = git(root, &["hash-object", "--", &path], &[])?;
        if blob.trim() != disk.trim() {
            missing.push(format!("{path} (committed with other content)"));
        }
    }
    if missing.is_empty() {
        return Ok(());
    }
    Err(MakeError::Write(format!(
        "the package commit {} left out {} of the files written: {}",
        short_sha(new),
        missing.len(),
        crate::pipeline::common::list_some(&missing, 5)
    )))
}

/// `-c user.name=… -c user.email=…` when git has no identity configured (a
/// deploy box often has none), so that the commit does not fail for it.
fn identity_args(dir: &Path) -> Vec<String> {
    if git(dir, &["var", "GIT_COMMITTER_IDENT"], &[]).is_ok()
        && git(dir, &["var", "GIT_AUTHOR_IDENT"], &[]).is_ok()
    {
        return Vec::new();
    }
    let user = crate::pipeline::repo::login_name();
    vec![
        "-c".into(),
        format!("user.name={user}"),
        "-c".into(),
        format!("user.email={user}@localhost"),
    ]
}

fn git(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Result<String, MakeError> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .envs(env.iter().copied())
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| MakeError::Write(format!("could not run git: {e}")))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let why = if stderr.trim().is_empty() {
            stdout.trim().to_string()
        } else {
            stderr.trim().to_string()
        };
        return Err(MakeError::Write(format!(
            "git {} failed in {}: {}",
            args.join(" "),
            dir.display(),
            why.replace('\n', "; ")
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";

    #[test]
    fn commit_message_names_branch_result_and_short_commit() {
        assert_eq!(
            commit_message("feature/x", GateResult::Pass, "0123456789abcdef"),
            "Handoff package for feature/x (gate PASS on 0123456)"
        );
    }

    #[test]
    fn evidence_is_checked_by_its_bytes() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("b.png"), PNG).unwrap();
        std::fs::write(d.path().join("sub/a.png"), PNG).unwrap();
        std::fs::write(d.path().join(".DS_Store"), "x").unwrap();
        let mut notes = Vec::new();
        let got = collect_evidence(d.path(), &mut notes).unwrap();
        let names: Vec<_> = got.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b.png", "sub/a.png"]);
        assert!(notes[0].contains(".DS_Store"), "{notes:?}");

        std::fs::write(d.path().join("sub/fake.png"), "hello\n").unwrap();
        let e = collect_evidence(d.path(), &mut notes).unwrap_err();
        assert!(e.is_bad_input());
        let msg = e.to_string();
        assert!(msg.contains("sub/fake.png"), "{msg}");
        assert!(
            msg.contains("is not really an image (looks like text)"),
            "{msg}"
        );

        let e = collect_evidence(&d.path().join("b.png"), &mut notes).unwrap_err();
        assert!(e.to_string().contains("is not a directory"), "{e}");
    }
}

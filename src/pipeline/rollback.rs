//! Rollback (protocol §5, SPEC §7): redeploy an earlier (or, rolling
//! forward, a later) prod tag, verify live, log it everywhere.
//!
//! Two calls, so that a person sees what will happen before it happens:
//!
//! - [`plan`] picks the target ([`default_target`] unless named), decides
//!   where its files come from — `backups/<tag>.zip` when present and it
//!   checks out (every entry against `MANIFEST.sha256`; a zip made by hand
//!   without a manifest on its zip checksums), else the tag's git tree (no
//!   rebuild) — and lists the files that will change in production. A
//!   backup that does not check out is never used: the plan says why (which
//!   files differ, which entry is unsafe) and falls back to the tag's tree
//!   only when the caller explicitly allows it; otherwise it is refused
//!   ([`RollbackError::BadBackup`], recorded).
//! - [`rollback`] carries the plan out: authority (a release manager, or
//!   anyone in a drill), refusals recorded before any lock; the deploy lock;
//!   the bundle restored into a fresh temporary directory under the state
//!   directory (every file checked again while restoring); a new BUILD_ID
//!   `<short sha of the tag's commit>-<now>` stamped in; deployed; verified
//!   live with the tag's baseline and the restored files' content hashes
//!   (the check "serves the tagged build"), so healthy means serving exactly
//!   the tagged build, BUILD_ID aside; then recorded in the live record, the
//!   audit chain and the protocol audit log, the rollout log and a release
//!   log entry.
//!
//! # How the bundle is deployed
//!
//! Kept simple on purpose. When the tag's tree holds the deploy script, the
//! verify script, or `[scripts] rollback` is configured, the tag is checked
//! out (`[playbook] checkout`) and the restored `archive` paths are copied
//! over the checkout's, so the scripts see the tag's own files with the new
//! BUILD_ID (`GUARDRAIL_BUNDLE_DIR` / `NETLIFY_DEPLOY_DIR` point there); an
//! in-place checkout gets those paths reset afterwards. Otherwise no checkout
//! is made and the built-in publish copies the restored bundle to
//! `[live] publish_dir`.
//!
//! The legacy rollback script (`[scripts] rollback`) runs only when
//! configured non-empty: then it replaces the deploy step, run in the tag's
//! checkout with the SPEC §5 environment, `GUARDRAIL_ACTION=rollback`,
//! `GUARDRAIL_TAG` and its first argument the target. Nothing here resets
//! or force-pushes anything.
//!
//! A verification that fails leaves the target in the live record's
//! `bad_tags`, so the next default target skips it: a second rollback never
//! lands on a build already seen broken. A later rollback to it that
//! verifies takes it off the list.
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use git2::{ObjectType, Oid, TreeWalkMode, TreeWalkResult};
use serde::Serialize;
use serde_json::{json, Value};

use super::alerts;
use super::audit::NewEntry;
use super::audit::Record;
use super::backup::{self, BackupCheck, BackupError};
use super::checkout;
use super::config::{self, Config};
pub use super::deploy::default_target;
use super::deploy::{self, is_bad, is_live, pick_default, Event, Step, StepState};
use super::jobs::Job;
use super::lock::DeployLock;
use super::lock::{LockError, LockInfo};
use super::record::record;
use super::record::RecordError;
use super::release::{self, ReleaseKind, ReleaseLogEntry, RolloutEntry, RolloutSource};
use super::repo::{ProdTag, Repo};
use super::runner::Answers;
use super::scripts::{self, ScriptContext};
use super::state::{LiveHealth, LiveRecord};
use super::verify::{CheckState, Expect, VerifyOptions, VerifyReport};
use super::{Refused, StepFailed};
use crate::pipeline::common::column_sha;
use tempfile::TempDir;

#[derive(Debug, thiserror::Error)]
pub enum RollbackError {
    /// A guardrail said no (not a release manager, lock held or frozen, not
    /// confirmed): exit 3. Recorded.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// The target's backup does not check out and deploying from the tag's
    /// tree was not asked for: exit 3. Recorded.
    #[error("the backup {path} of {tag} is refused ({why}); nothing was deployed — deploy from the tag's git tree instead only if you choose to (--from-tree)")]
    BadBackup {
        tag: String,
        path: String,
        why: String,
    },
    /// The plan recomputed under the lock differs from the one confirmed
    /// (what changed, in words): nothing ran; ask again (headless: exit 3).
    /// Recorded.
    #[error("the rollback plan changed before the lock was taken ({changes}); nothing was run: look at the new plan and confirm again")]
    PlanChanged { changes: String, plan: Box<Plan> },
    /// A step could not run: exit 4.
    #[error(transparent)]
    Step(#[from] StepFailed),
    /// Not a prod tag of this repository: exit 2.
    #[error("`{0}` is not a prod tag of this repository")]
    UnknownTag(String),
    /// No tag to roll back to: exit 2.
    #[error("there is no prod tag to roll back to ({0})")]
    NoTarget(String),
    /// `[live] url` is empty, so nothing could be verified: exit 2.
    #[error("[live] url is not set in guardrail.toml, so a rollback could not be verified; nothing was deployed")]
    NoUrl,
    #[error("{0}")]
    Other(String),
}

impl RollbackError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

fn other(e: impl std::fmt::Display) -> RollbackError {
    RollbackError::Other(e.to_string())
}

/// Where the target's files come from.
#[derive(Debug, Clone)]
pub enum PlanSource {
    /// `backups/<tag>.zip`, checked ([`BackupCheck::is_ok`]).
    Backup {
        path: PathBuf,
        size: u64,
        check: BackupCheck,
    },
    /// The tag's git tree (the `archive` paths), no rebuild.
    Tree { commit: String },
}

impl PlanSource {
    /// One line: `backup backups/x.zip (2.1 KB, manifest ✅ (3 files))`.
    pub fn describe(&self) -> String {
        match self {
            PlanSource::Backup { path, size, check } => format!(
                "backup {} ({}, {})",
                path.display(),
                human_size(*size),
                check.summary()
            ),
            PlanSource::Tree { commit } => {
                format!("the tag's git tree at {} (no rebuild)", column_sha(commit))
            }
        }
    }

    pub fn rollout_source(&self) -> RolloutSource {
        match self {
            PlanSource::Backup { path, check, .. } => RolloutSource::Backup {
                path: path.display().to_string(),
                manifest: check.manifest.is_some(),
            },
            PlanSource::Tree { .. } => RolloutSource::TagTree,
        }
    }
}

/// How one file differs between production and the target.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// In the target, not in production.
    Added,
    /// In production, not in the target.
    Removed,
    /// In both, with different content (BUILD_ID aside).
    Changed,
}

impl Change {
    pub fn sign(self) -> char {
        match self {
            Change::Added => '+',
            Change::Removed => '-',
            Change::Changed => '~',
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileChange {
    /// With the bundle directory as its top folder (`mosaic_ui/index.html`).
    pub path: String,
    pub change: Change,
}

/// What a rollback will do (see [`plan`]).
#[derive(Debug, Clone)]
pub struct Plan {
    pub target: ProdTag,
    pub source: PlanSource,
    /// The live record as read when planning.
    pub live: Option<LiveRecord>,
    /// Files of the bundle that production serves differently from the
    /// target, sorted by path (content compared with the BUILD_ID aside).
    pub diff: Vec<FileChange>,
    /// What `diff` compared the target with (`the publish directory …`,
    /// `the tree of the live commit …`); `None` when production is unknown.
    pub diff_base: Option<String>,
    /// Why the target's backup is not used (manifest mismatch naming the
    /// files, an unsafe entry, not a zip …).
    pub refused_backup: Option<String>,
    /// Where the rollback will be recorded.
    pub will_log: Vec<String>,
    /// The target is newer than the live tag.
    pub roll_forward: bool,
    /// Things worth knowing (an unreadable live record, the target is live).
    pub notes: Vec<String>,
}

impl Plan {
    /// The plan as one JSON object.
    pub fn to_json(&self) -> Value {
        let source = match &self.source {
            PlanSource::Backup { path, size, check } => json!({
                "kind": "backup",
                "path": path.display().to_string(),
                "size": size,
                "files": check.files.len(),
                "manifest": check.manifest.is_some(),
                "check": check.summary(),
            }),
            PlanSource::Tree { commit } => json!({"kind": "tree", "commit": commit}),
        };
        json!({
            "target": self.target,
            "source": source,
            "live": self.live,
            "diff": self.diff,
            "diff_base": self.diff_base,
            "refused_backup": self.refused_backup,
            "will_log": self.will_log,
            "roll_forward": self.roll_forward,
            "notes": self.notes,
        })
    }

    /// The plan as text, one fact a line.
    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let t = &self.target;
        let verb = if self.roll_forward {
            "Roll forward"
        } else {
            "Rollback"
        };
        s.push_str(&format!(
            "{verb} plan\n  target:  {} (commit {})\n",
            t.name,
            column_sha(&t.commit)
        ));
        let live = match &self.live {
            Some(l) => format!(
                "{} (BUILD_ID {}, health {})",
                l.tag
                    .clone()
                    .unwrap_or_else(|| format!("untagged build {}", column_sha(&l.commit))),
                l.build_id,
                health_word(l.health)
            ),
            None => "nothing recorded on this box".into(),
        };
        s.push_str(&format!("  live:    {live}\n"));
        if let Some(why) = &self.refused_backup {
            s.push_str(&format!("  backup:  ❌ refused: {why}\n"));
        }
        s.push_str(&format!("  source:  {}\n", self.source.describe()));
        match &self.diff_base {
            None => s.push_str("  changes: unknown (nothing known about what production serves)\n"),
            Some(base) if self.diff.is_empty() => {
                s.push_str(&format!("  changes: none against {base}\n"))
            }
            Some(base) => {
                s.push_str(&format!(
                    "  changes: {} against {base}\n",
                    plural(self.diff.len(), "file")
                ));
                for c in &self.diff {
                    s.push_str(&format!("    {} {}\n", c.change.sign(), c.path));
                }
            }
        }
        for n in &self.notes {
            s.push_str(&format!("  note:    {n}\n"));
        }
        s.push_str("  records: ");
        s.push_str(&self.will_log.join("\n           "));
        s.push('\n');
        s
    }
}

/// How a rollback ended (verified or not).
#[derive(Debug, Clone, Serialize)]
pub struct RollbackOutcome {
    pub target: String,
    pub commit: String,
    /// What production served before (a tag, or an untagged build).
    pub from: Option<String>,
    pub source: String,
    pub build_id: String,
    /// How it was deployed (or why the deploy reported a failure).
    pub deployed: String,
    pub deploy_ok: bool,
    /// Every live check ✅.
    pub verified: bool,
    pub verify: VerifyReport,
    /// From the call of [`rollback`] to all checks ✅.
    pub seconds_to_verified: Option<f64>,
    /// From the call to the end (logs written).
    pub seconds: f64,
    pub release_log: Option<String>,
    pub rollout_log: String,
    pub audit_seq: Option<u64>,
    /// Things that went wrong after the deploy (a log that could not be
    /// written) and other remarks.
    pub notes: Vec<String>,
}

/// The title a rollback gives each playbook step it reports.
pub fn step_title(step: Step) -> &'static str {
    match step {
        Step::Checkout => "Restore the bundle",
        Step::Deploy => "Deploy",
        Step::Verify => "Verify live",
        Step::Release => "Record",
        Step::Evidence => "Check authority",
        Step::Gate => "Gate",
    }
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        format!("1 {word}")
    } else {
        format!("{n} {word}s")
    }
}

fn health_word(h: LiveHealth) -> &'static str {
    match h {
        LiveHealth::Ok => "ok",
        LiveHealth::Failed => "failed",
        LiveHealth::Unverified => "unverified",
        LiveHealth::Unknown => "unknown",
    }
}

fn human_size(n: u64) -> String {
    if n < 1024 {
        format!("{n} B")
    } else if n < 1024 * 1024 {
        format!("{:.1} KB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MB", n as f64 / (1024.0 * 1024.0))
    }
}

/// The [`backup::content_hash`] of every blob under `dir` in `commit`'s
/// tree, keyed `dir/<path>`. Symbolic links are left out.
fn tree_files(repo: &Repo, commit: &str, dir: &str) -> Result<BTreeMap<String, String>, String> {
    let mut out = BTreeMap::new();
    let dir = dir.trim_matches('/');
    let oid = Oid::from_str(commit).map_err(|e| e.to_string())?;
    let tree = repo
        .git
        .find_commit(oid)
        .and_then(|c| c.tree())
        .map_err(|e| e.to_string())?;
    let Ok(entry) = tree.get_path(Path::new(dir)) else {
        return Ok(out);
    };
    let Ok(sub) = repo.git.find_tree(entry.id()) else {
        return Ok(out);
    };
    sub.walk(TreeWalkMode::PreOrder, |root, e| {
        if e.kind() == Some(ObjectType::Blob) && e.filemode() != 0o120000 {
            if let Ok(blob) = repo.git.find_blob(e.id()) {
                let name = e.name().unwrap_or_default();
                out.insert(
                    format!("{dir}/{root}{name}"),
                    backup::content_hash(blob.content()),
                );
            }
        }
        TreeWalkResult::Ok
    })
    .map_err(|e| e.to_string())?;
    Ok(out)
}

/// Whether `path` exists in `commit`'s tree.
fn tree_has(repo: &Repo, commit: &str, path: &str) -> bool {
    let path = path.trim();
    if path.is_empty() || Path::new(path).is_absolute() {
        return false;
    }
    Oid::from_str(commit)
        .and_then(|o| repo.git.find_commit(o))
        .and_then(|c| c.tree())
        .map(|t| t.get_path(Path::new(path)).is_ok())
        .unwrap_or(false)
}

/// `a/./b//c` → `a/b/c`.
fn norm(name: &str) -> String {
    name.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// The [`backup::content_hash`] of every zip entry under `dir/`.
fn zip_files(path: &Path, dir: &str) -> Result<BTreeMap<String, String>, String> {
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut z = zip::ZipArchive::new(std::io::BufReader::new(f)).map_err(|e| e.to_string())?;
    let prefix = format!("{}/", dir.trim_matches('/'));
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).map_err(|e| e.to_string())?;
        if e.is_dir() {
            continue;
        }
        let name = norm(e.name());
        if !name.starts_with(&prefix) {
            continue;
        }
        let mut buf = Vec::with_capacity(e.size() as usize);
        e.read_to_end(&mut buf).map_err(|e| e.to_string())?;
        out.insert(name, backup::content_hash(&buf));
    }
    Ok(out)
}

fn diff_maps(
    prod: &BTreeMap<String, String>,
    target: &BTreeMap<String, String>,
) -> Vec<FileChange> {
    let mut out = Vec::new();
    for (p, h) in target {
        match prod.get(p) {
            None => out.push(FileChange {
                path: p.clone(),
                change: Change::Added,
            }),
            Some(ph) if ph != h => out.push(FileChange {
                path: p.clone(),
                change: Change::Changed,
            }),
            _ => {}
        }
    }
    for p in prod.keys().filter(|p| !target.contains_key(*p)) {
        out.push(FileChange {
            path: p.clone(),
            change: Change::Removed,
        });
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out
}

/// Why a checked backup cannot be used, if it cannot.
fn backup_problem(check: &BackupCheck, bundle_dir: &str) -> Option<String> {
    if !check.is_ok() {
        return Some(check.summary());
    }
    let prefix = format!("{}/", bundle_dir.trim_matches('/'));
    if !check.files.iter().any(|f| f.starts_with(&prefix)) {
        return Some(format!("it holds no file under {prefix}"));
    }
    None
}

/// Plans a rollback to `target` (default: [`default_target`]). A backup
/// that does not check out is not used: with `allow_tree_fallback` the plan
/// deploys from the tag's tree and says why in `refused_backup`; without,
/// [`RollbackError::BadBackup`] (recorded in the audit chain). The console,
/// which asks the person before falling back, plans with `true` and shows
/// `refused_backup`.
pub fn plan(
    repo: &Repo,
    cfg: &Config,
    target: Option<&str>,
    allow_tree_fallback: bool,
) -> Result<Plan, RollbackError> {
    let mut notes = Vec::new();
    let live = match repo.state.read_live() {
        Ok(l) => l,
        Err(e) => {
            notes.push(format!(
                "the live record could not be read ({e}); it will be replaced"
            ));
            None
        }
    };
    let tags = repo.prod_tags(cfg).map_err(other)?;
    let target = pick_target(&tags, target, live.as_ref(), &mut notes)?;
    let roll_forward = live
        .as_ref()
        .and_then(|l| l.tag.as_ref())
        .and_then(|lt| tags.iter().position(|t| t.name == *lt))
        .zip(tags.iter().position(|t| t.name == target.name))
        .is_some_and(|(l, t)| t > l);
    let (source, refused_backup) = plan_source(repo, cfg, &target, allow_tree_fallback)?;
    let (diff, diff_base) = plan_diff(repo, cfg, live.as_ref(), &source, &mut notes);
    let will_log = plan_records(repo, cfg, &target);
    Ok(Plan {
        target,
        source,
        live,
        diff,
        diff_base,
        refused_backup,
        will_log,
        roll_forward,
        notes,
    })
}

/// Planning, the target: the prod tag named, or [`pick_default`]; notes
/// when it is live already or was marked bad.
fn pick_target(
    tags: &[ProdTag],
    name: Option<&str>,
    live: Option<&LiveRecord>,
    notes: &mut Vec<String>,
) -> Result<ProdTag, RollbackError> {
    let target = match name {
        Some(name) => tags
            .iter()
            .find(|t| t.name == name)
            .cloned()
            .ok_or_else(|| RollbackError::UnknownTag(name.to_string()))?,
        None => pick_default(tags, live).ok_or_else(|| {
            RollbackError::NoTarget(if tags.is_empty() {
                "there are no prod tags".into()
            } else {
                "every prod tag is live or marked bad; name one to roll back to it anyway".into()
            })
        })?,
    };
    if is_live(&target, live) {
        notes.push(format!(
            "{} is what production serves now: this redeploys it",
            target.name
        ));
    }
    if is_bad(&target, live) {
        notes.push(format!(
            "{} failed verification before (bad_tags)",
            target.name
        ));
    }
    Ok(target)
}

/// Planning, the source: the target's backup when present and it checks
/// out, else the tag's tree. A backup that does not check out is refused
/// (recorded, [`RollbackError::BadBackup`]) unless `allow_tree_fallback`;
/// then the second value says why it is not used.
fn plan_source(
    repo: &Repo,
    cfg: &Config,
    target: &ProdTag,
    allow_tree_fallback: bool,
) -> Result<(PlanSource, Option<String>), RollbackError> {
    let bundle_dir = cfg.project.bundle_dir.trim_matches('/').to_string();
    let path = cfg.backup_path(&repo.root, &target.name);
    let mut refused_backup = None;
    let mut source = None;
    if path.is_file() {
        match backup::inspect_within(&path, cfg.backup.max_unpacked.0, &repo.state.path) {
            Ok(check) => match backup_problem(&check, &bundle_dir) {
                None => {
                    source = Some(PlanSource::Backup {
                        size: check.size,
                        path: path.clone(),
                        check,
                    })
                }
                Some(why) => refused_backup = Some(why),
            },
            Err(e) => refused_backup = Some(e.to_string()),
        }
    }
    if let (Some(why), false) = (&refused_backup, allow_tree_fallback) {
        let user = repo.user(cfg);
        let _ = record(
            repo,
            cfg,
            NewEntry::new(&user.name, "rollback", &target.name, "REFUSED").with_details(json!({
                "backup": path.display().to_string(),
                "why": format!("the backup is refused: {why}"),
            })),
        );
        alerts::refused(
            repo,
            cfg,
            "rollback",
            &target.name,
            &format!("the backup is refused: {why}"),
        );
        return Err(RollbackError::BadBackup {
            tag: target.name.clone(),
            path: path.display().to_string(),
            why: why.clone(),
        });
    }
    let source = source.unwrap_or_else(|| PlanSource::Tree {
        commit: target.commit.clone(),
    });
    Ok((source, refused_backup))
}

/// Planning, the diff: what production serves (the publish directory, else
/// the live commit's tree) against what the target holds, and what it was
/// compared with; nothing when production is unknown.
fn plan_diff(
    repo: &Repo,
    cfg: &Config,
    live: Option<&LiveRecord>,
    source: &PlanSource,
    notes: &mut Vec<String>,
) -> (Vec<FileChange>, Option<String>) {
    let bundle_dir = cfg.project.bundle_dir.trim_matches('/').to_string();
    let publish_dir = cfg.live.publish_dir.trim();
    // A publish directory that would destroy data is never listed (its
    // backups or repository files are no "changes"); the publish refuses it.
    let prod = if !publish_dir.is_empty() && super::protect::check_publish_dir(repo, cfg).is_ok() {
        let dir = config::resolve(&repo.root, publish_dir);
        Some((
            format!("the publish directory {}", dir.display()),
            backup::bundle_manifest(&dir, &bundle_dir),
        ))
    } else if let Some(l) = live {
        tree_files(repo, &l.commit, &bundle_dir).ok().map(|m| {
            (
                format!("the tree of the live commit {}", column_sha(&l.commit)),
                m,
            )
        })
    } else {
        None
    };
    let target_files = match source {
        PlanSource::Backup { path, .. } => zip_files(path, &bundle_dir),
        PlanSource::Tree { commit } => tree_files(repo, commit, &bundle_dir),
    };
    match (prod, target_files) {
        (Some((base, p)), Ok(t)) => (diff_maps(&p, &t), Some(base)),
        (_, Err(e)) => {
            notes.push(format!("the target's files could not be listed: {e}"));
            (Vec::new(), None)
        }
        (None, Ok(_)) => (Vec::new(), None),
    }
}

/// Planning, the records: where a rollback to `target` will be logged.
fn plan_records(repo: &Repo, cfg: &Config, target: &ProdTag) -> Vec<String> {
    let rel_log = cfg.project.release_log_dir.trim_end_matches('/');
    vec![
        format!("audit chain: rollback {} OK/FAILED", target.name),
        format!(
            "protocol audit log: {}",
            config::resolve(&repo.root, &cfg.project.protocol_audit_log).display()
        ),
        format!(
            "rollout log: {}",
            config::resolve(&repo.root, &cfg.project.rollout_log).display()
        ),
        format!(
            "release log: {}/{}.md",
            config::resolve(&repo.root, rel_log).display(),
            release::release_log_stem(
                cfg,
                &ReleaseLogEntry {
                    kind: ReleaseKind::Rollback {
                        from: None,
                        reason: String::new(),
                        seconds_to_verified: 0.0,
                    },
                    time: Utc::now(),
                    initiated_by: String::new(),
                    branch: None,
                    commit: target.commit.clone(),
                    tag: target.name.clone(),
                    backup: None,
                    build_id: String::new(),
                    gate: None,
                    checks: Vec::new(),
                }
            )
        ),
        format!(
            "live record: {} with health ok, or failed (then {} goes on bad_tags)",
            target.name, target.name
        ),
    ]
}

/// [`plan`] again for the same target, as confirmed: the tag's tree
/// allowed only when the confirmed plan already fell back to it.
pub fn plan_again(repo: &Repo, cfg: &Config, confirmed: &Plan) -> Result<Plan, RollbackError> {
    let fallback =
        confirmed.refused_backup.is_some() || matches!(confirmed.source, PlanSource::Tree { .. });
    plan(repo, cfg, Some(&confirmed.target.name), fallback)
}

/// What differs between the plan that was confirmed and the plan now, in
/// words (empty when nothing that matters changed): the target's commit,
/// what is live, where the files come from, the files that change.
pub fn plan_changes(confirmed: &Plan, now: &Plan) -> Vec<String> {
    let mut out = Vec::new();
    if confirmed.target.commit != now.target.commit {
        out.push(format!(
            "{} now points at {} instead of {}",
            now.target.name,
            column_sha(&now.target.commit),
            column_sha(&confirmed.target.commit)
        ));
    }
    let live_of = |l: &Option<LiveRecord>| {
        l.as_ref().map(|l| {
            (
                l.tag.clone(),
                l.commit.clone(),
                l.build_id.clone(),
                l.health,
            )
        })
    };
    if live_of(&confirmed.live) != live_of(&now.live) {
        let words = |l: &Option<LiveRecord>| match l {
            Some(l) => format!(
                "{} (BUILD_ID {}, {})",
                l.tag
                    .clone()
                    .unwrap_or_else(|| format!("untagged build {}", column_sha(&l.commit))),
                l.build_id,
                health_word(l.health)
            ),
            None => "nothing recorded".into(),
        };
        out.push(format!(
            "live was {}, is now {}",
            words(&confirmed.live),
            words(&now.live)
        ));
    }
    if confirmed.source.describe() != now.source.describe() {
        out.push(format!(
            "the source was {}, is now {}",
            confirmed.source.describe(),
            now.source.describe()
        ));
    }
    if confirmed.diff != now.diff || confirmed.diff_base != now.diff_base {
        out.push(format!(
            "the files that change were {}, are now {}",
            plural(confirmed.diff.len(), "file"),
            plural(now.diff.len(), "file")
        ));
    }
    out
}

/// What production served before, in words.
fn from_of(live: Option<&LiveRecord>) -> Option<String> {
    live.map(|l| match &l.tag {
        Some(t) => t.clone(),
        None => format!("untagged build {} ({})", column_sha(&l.commit), l.build_id),
    })
}

/// Copies `src` (a file or a directory) to `dst`, replacing what is there.
fn replace_path(src: &Path, dst: &Path) -> std::io::Result<()> {
    if src.is_dir() {
        deploy::copy_publish(src, dst)
    } else {
        if dst.is_dir() {
            std::fs::remove_dir_all(dst)?;
        }
        if let Some(p) = dst.parent() {
            std::fs::create_dir_all(p)?;
        }
        std::fs::copy(src, dst).map(|_| ())
    }
}

/// Carries out `plan` (see the module docs). `answers` go to the deploy
/// (or rollback) script; the verify script runs with stdin closed. Returns the outcome,
/// verified or not; an error means nothing was verified (refused, or a
/// step could not run).
///
/// The phases, in order (each a method of `Run`):
///
/// - before the lock, guardrails, then the deploy lock (`lock`); under it,
///   orphans ended and the plan made again (`confirm_under_lock`);
/// - 1, restore: the work directory (`work_dir`), the bytes (`restore`), the
///   checkout they are copied into (`stage`), the new BUILD_ID (`stamp`);
/// - 2, deploy (`deploy`), then the live record says unverified (`published`);
/// - 3, verify live (`verify`), then the working tree put back (`put_tree_back`);
/// - 4, record: tags marked, rollout and release logs, audit, alert (`record`).
pub fn rollback(
    repo: &Repo,
    cfg: &Config,
    plan: &Plan,
    reason: &str,
    answers: Answers,
    ev: &mut (dyn FnMut(Event) + Send),
) -> Result<RollbackOutcome, RollbackError> {
    let started = Instant::now();
    let user = repo.user(cfg);
    let run = Run::new(repo, cfg, plan, reason, started, &user.name);
    let _lock = run.lock(user.release_manager)?;
    run.confirm_under_lock(ev)?;
    let mut job = Job::create(&repo.state.path, "rollback", &run.tag, &run.actor)
        .map_err(|e| run.fail(format!("the job journal could not be created: {e}")))?;
    let job_log = |name: &str| job.dir.join(format!("{name}.log"));
    let (deploy_log, verify_log) = (job_log("deploy"), job_log("verify"));

    // 1. Restore the bundle into a fresh directory.
    ev(Event::Step(Step::Checkout, StepState::Running));
    let work = run.work_dir(&mut job, ev)?;
    let restored = run.restore(work.path(), &mut job, ev)?;
    let staged = run.stage(&restored, &mut job, ev)?;
    let build = run.stamp(&restored, &staged, &mut job, ev)?;

    // 2. Deploy.
    ev(Event::Step(Step::Deploy, StepState::Running));
    let deployed = run.deploy(&staged, &build, answers, deploy_log, &mut job, ev)?;
    let mut notes = Vec::new();
    let deployed = run.published(deployed, &build, &mut notes, ev);

    // 3. Verify live: healthy means serving exactly the tagged build.
    ev(Event::Step(Step::Verify, StepState::Running));
    let verdict = run.verify(
        &staged,
        &build,
        deployed.ok,
        restored.manifest,
        verify_log,
        ev,
    );
    run.put_tree_back(staged, &mut notes);

    // 4. Record it everywhere.
    ev(Event::Step(Step::Release, StepState::Running));
    let recorded = run.record(&build, &deployed, &verdict, &mut notes, &mut job, ev);
    drop(work);
    Ok(run.outcome(build, deployed, verdict, recorded, notes))
}

/// What every phase of one [`rollback`] shares: who rolls back to what,
/// from what, and how a refusal or a failure is recorded.
struct Run<'a> {
    repo: &'a Repo,
    cfg: &'a Config,
    plan: &'a Plan,
    reason: &'a str,
    started: Instant,
    actor: String,
    drill: bool,
    tag: String,
    commit: String,
    /// The live record now, not as planned: it may have changed meanwhile.
    live_now: Option<LiveRecord>,
    from: Option<String>,
    source: RolloutSource,
    /// `[scripts] rollback`, trimmed; empty when not configured.
    rollback_script: String,
}

/// The bundle restored into the work directory (phase 1).
struct Restored {
    /// `<work>/bundle`: the restored `archive` paths.
    dir: PathBuf,
    info: backup::RestoreInfo,
    /// `[project] bundle_dir` without slashes around it.
    bundle_rel: String,
    /// What production must serve: every restored bundle file, by content.
    manifest: BTreeMap<String, String>,
}

/// Where the deploy runs from (phase 1): the tag's checkout with the
/// restored files copied over, or the restored files alone.
struct Staged {
    co: Option<checkout::Checkout>,
    /// The checkout is the repository's own working tree.
    in_place: bool,
    /// `[project] archive` paths without slashes around them.
    archive: Vec<String>,
    root: PathBuf,
}

impl Staged {
    /// Puts the `archive` paths of an in-place checkout back as committed.
    fn reset(&self) -> Result<(), checkout::CheckoutError> {
        match (self.in_place, &self.co) {
            (true, Some(c)) => c.reset_paths(&self.archive),
            _ => Ok(()),
        }
    }
}

/// The build being deployed: its BUILD_ID and its bundle directory.
struct Build {
    id: String,
    bundle: PathBuf,
}

/// How the deploy ended (phase 2).
struct Deployed {
    ok: bool,
    /// How it was deployed, or why the deploy failed.
    text: String,
    /// Set when the publish failed: production is unknown.
    failure: Option<String>,
}

/// What verification found (phase 3).
struct Verdict {
    report: VerifyReport,
    /// Every live check ✅ (whether or not the deploy succeeded).
    verified: bool,
    seconds_to_verdict: f64,
    seconds_to_verified: Option<f64>,
    failing: Vec<String>,
    /// `all ✅ (n checks)` or `❌ <failing checks>`.
    verification: String,
}

/// Where the rollback was recorded (phase 4).
struct Recorded {
    rollout_path: PathBuf,
    release_log: Option<String>,
    audit_seq: Option<u64>,
}

/// Reports `step` failed and returns why.
fn step_failed(step: Step, why: String, ev: &mut (dyn FnMut(Event) + Send)) -> String {
    ev(Event::Step(step, StepState::Failed(why.clone())));
    why
}

impl<'a> Run<'a> {
    fn new(
        repo: &'a Repo,
        cfg: &'a Config,
        plan: &'a Plan,
        reason: &'a str,
        started: Instant,
        actor: &str,
    ) -> Run<'a> {
        let live_now = repo.state.read_live().ok().flatten().or(plan.live.clone());
        Run {
            repo,
            cfg,
            plan,
            reason,
            started,
            actor: actor.to_string(),
            drill: repo.is_drill(),
            tag: plan.target.name.clone(),
            commit: plan.target.commit.clone(),
            from: from_of(live_now.as_ref()),
            live_now,
            source: plan.source.rollout_source(),
            rollback_script: cfg.scripts.rollback.trim().to_string(),
        }
    }

    /// Appends a `rollback` entry with `result` to the audit chain.
    fn audit(&self, result: &str, details: Value) -> Result<Record, RecordError> {
        record(
            self.repo,
            self.cfg,
            NewEntry::new(&self.actor, "rollback", &self.tag, result).with_details(details),
        )
    }

    /// Records a refusal (audit chain and alert) and returns it.
    fn refuse(&self, why: String) -> RollbackError {
        let _ = self.audit(
            "REFUSED",
            json!({ "from": self.from, "to": self.tag, "reason": self.reason, "why": why }),
        );
        alerts::refused(self.repo, self.cfg, "rollback", &self.tag, &why);
        RollbackError::Refused(Refused(why))
    }

    /// Records a step that could not run and returns it.
    fn fail(&self, why: String) -> RollbackError {
        let _ = self.audit(
            "FAILED",
            json!({ "from": self.from, "to": self.tag, "reason": self.reason, "why": why }),
        );
        RollbackError::Step(StepFailed(why))
    }

    /// [`Run::fail`], with the job journal ended `FAILED` first.
    fn job_failed(&self, job: &mut Job, why: String) -> RollbackError {
        let _ = job.finish("FAILED", &why);
        self.fail(why)
    }

    /// Guardrails, then the lock: a release manager (or a drill), a live
    /// URL to verify against, and the deploy lock. Refusals are recorded.
    fn lock(&self, release_manager: bool) -> Result<DeployLock, RollbackError> {
        if !release_manager && !self.drill {
            return Err(self.refuse(format!(
                "{} is not a release manager (release_managers in guardrail.toml on the main branch)",
                self.actor
            )));
        }
        if self.cfg.live.url.trim().is_empty() {
            return Err(RollbackError::NoUrl);
        }
        let info = LockInfo::new(&self.actor, "rollback", &self.tag);
        match deploy::take_lock(self.repo, self.cfg, info) {
            Ok(l) => Ok(l),
            Err(e @ (LockError::Held(_) | LockError::Frozen(_) | LockError::Team(_))) => {
                Err(self.refuse(e.to_string()))
            }
            Err(e) => Err(other(e)),
        }
    }

    /// Under the lock: end orphans, so no dead job's script may publish
    /// after us; then plan again, now that nothing else can change
    /// production: what was confirmed must still be what will happen.
    fn confirm_under_lock(&self, ev: &mut (dyn FnMut(Event) + Send)) -> Result<(), RollbackError> {
        if let Err(StepFailed(why)) = deploy::end_dead_jobs(self.repo, self.cfg, ev) {
            return Err(self.fail(why));
        }
        let fresh = plan_again(self.repo, self.cfg, self.plan)?;
        let changed = plan_changes(self.plan, &fresh);
        if !changed.is_empty() {
            let e = RollbackError::PlanChanged {
                changes: changed.join("; "),
                plan: Box::new(fresh),
            };
            let _ = self.refuse(e.to_string());
            return Err(e);
        }
        Ok(())
    }

    /// Phase 1a, the work directory: fresh, under the state directory, named
    /// `rollback-<pid>-…` so that a later start removes it if this process dies.
    /// Without one the job ends `FAILED` (not left running, to be taken for
    /// aborted by the next start).
    fn work_dir(
        &self,
        job: &mut Job,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Result<TempDir, RollbackError> {
        let state = &self.repo.state.path;
        tempfile::Builder::new()
            .prefix(&format!("rollback-{}-", std::process::id()))
            .tempdir_in(state)
            .map_err(|e| {
                let why = format!("no temporary directory in {}: {e}", state.display());
                self.job_failed(job, step_failed(Step::Checkout, why, ev))
            })
    }

    /// Phase 1b, restore the bytes: the backup (every file checked against
    /// its manifest or zip checksums) or the tag's tree, into `<work>/bundle`.
    /// A backup that does not check out is refused ([`RollbackError::BadBackup`]).
    fn restore(
        &self,
        work: &Path,
        job: &mut Job,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Result<Restored, RollbackError> {
        let cfg = self.cfg;
        let dir = work.join("bundle");
        let restore = match &self.plan.source {
            PlanSource::Backup { path, .. } => {
                backup::restore_within(path, &dir, cfg.backup.max_unpacked.0)
            }
            PlanSource::Tree { commit } => Oid::from_str(commit)
                .map_err(BackupError::Git)
                .and_then(|oid| {
                    backup::restore_from_tree(self.repo, oid, &cfg.project.archive, &dir)
                }),
        };
        let info = match restore {
            Ok(i) => i,
            Err(
                e @ (BackupError::ManifestMismatch { .. }
                | BackupError::CrcFailed { .. }
                | BackupError::UnsafeEntry { .. }
                | BackupError::Corrupt { .. }
                | BackupError::BadManifest { .. }
                | BackupError::TooLarge { .. }),
            ) => {
                let why = step_failed(Step::Checkout, e.to_string(), ev);
                let _ = self.refuse(why.clone());
                let _ = job.finish("REFUSED", &why);
                return Err(RollbackError::BadBackup {
                    tag: self.tag.clone(),
                    path: match &self.plan.source {
                        PlanSource::Backup { path, .. } => path.display().to_string(),
                        PlanSource::Tree { .. } => String::new(),
                    },
                    why,
                });
            }
            Err(e) => {
                let why = step_failed(Step::Checkout, format!("the restore failed: {e}"), ev);
                return Err(self.job_failed(job, why));
            }
        };
        let bundle_rel = cfg.project.bundle_dir.trim_matches('/').to_string();
        let restored_bundle = dir.join(&bundle_rel);
        if !restored_bundle.is_dir() {
            let why = step_failed(
                Step::Checkout,
                format!("the restored files hold no {bundle_rel}/ to publish"),
                ev,
            );
            return Err(self.job_failed(job, why));
        }
        let manifest = backup::bundle_manifest(&restored_bundle, "");
        Ok(Restored {
            dir,
            info,
            bundle_rel,
            manifest,
        })
    }

    /// Phase 1c, stage: the tag's checkout, only when a script of the tag's
    /// tree needs one, with the restored `archive` paths copied over its own;
    /// otherwise the restored files alone. A dirty in-place checkout is refused.
    fn stage(
        &self,
        restored: &Restored,
        job: &mut Job,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Result<Staged, RollbackError> {
        let (repo, cfg, tag, commit) = (self.repo, self.cfg, &self.tag, &self.commit);
        let needs_checkout = !self.rollback_script.is_empty()
            || tree_has(repo, commit, &cfg.scripts.deploy)
            || tree_has(repo, commit, &cfg.scripts.verify);
        let co = if needs_checkout {
            match checkout::prepare(repo, cfg.playbook.checkout, tag, commit) {
                Ok(co) => Some(co),
                Err(e @ checkout::CheckoutError::Dirty { .. }) => {
                    let why = step_failed(Step::Checkout, e.to_string(), ev);
                    let _ = job.finish("REFUSED", &why);
                    return Err(self.refuse(why));
                }
                Err(e) => {
                    let why = step_failed(Step::Checkout, format!("checking out {tag}: {e}"), ev);
                    return Err(self.job_failed(job, why));
                }
            }
        } else {
            None
        };
        let in_place = co.as_ref().is_some_and(|c| c.path == repo.root);
        let archive: Vec<String> = cfg
            .project
            .archive
            .iter()
            .map(|p| p.trim_matches('/').to_string())
            .filter(|p| !p.is_empty())
            .collect();
        let root = match &co {
            Some(c) => {
                for p in &archive {
                    let src = restored.dir.join(p);
                    if src.exists() {
                        if let Err(e) = replace_path(&src, &c.path.join(p)) {
                            let why = step_failed(
                                Step::Checkout,
                                format!("copying the restored {p} into the checkout: {e}"),
                                ev,
                            );
                            if in_place {
                                let _ = c.reset_paths(&archive);
                            }
                            return Err(self.job_failed(job, why));
                        }
                    }
                }
                c.path.clone()
            }
            None => restored.dir.clone(),
        };
        Ok(Staged {
            co,
            in_place,
            archive,
            root,
        })
    }

    /// Phase 1d, stamp: a new BUILD_ID `<short sha>-<now>` into the staged
    /// bundle; then the restore step is reported done.
    fn stamp(
        &self,
        restored: &Restored,
        staged: &Staged,
        job: &mut Job,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Result<Build, RollbackError> {
        let bundle = config::resolve(&staged.root, &restored.bundle_rel);
        let build_id = scripts::build_id(&self.commit, Utc::now());
        if let Err(e) = super::buildid::stamp_files(&bundle, &self.cfg.live.stamp, &build_id) {
            let why = step_failed(
                Step::Checkout,
                format!(
                    "could not stamp the BUILD_ID into {}: {e}",
                    bundle.display()
                ),
                ev,
            );
            let _ = staged.reset();
            return Err(self.job_failed(job, why));
        }
        ev(Event::Step(
            Step::Checkout,
            StepState::Done(format!(
                "{} restored from {} and checked {}; BUILD_ID {build_id}",
                plural(restored.info.files, "file"),
                self.plan.source.rollout_source(),
                match restored.info.verified {
                    backup::Verified::Manifest => "against MANIFEST.sha256",
                    backup::Verified::ZipChecksums => "on its zip checksums (no manifest)",
                    backup::Verified::GitTree => "against the tag's tree",
                }
            )),
        ));
        Ok(Build {
            id: build_id,
            bundle,
        })
    }

    /// The SPEC §5 environment of a script run for `action`.
    fn script_context(&self, action: &str, build: &Build) -> ScriptContext {
        ScriptContext {
            action: action.into(),
            branch: String::new(),
            commit: self.commit.clone(),
            tag: self.tag.clone(),
            build_id: build.id.clone(),
            bundle_dir: build.bundle.clone(),
            drill: self.drill,
            deploy_url: self.cfg.live.url.clone(),
            actor: self.actor.clone(),
        }
    }

    /// Phase 2a, deploy: the built-in publish (or the deploy script), or the
    /// legacy rollback script when configured. The outer error means nothing
    /// was deployed (the rollback script is not in the tag's tree); the inner
    /// result is how the deploy itself ended.
    fn deploy(
        &self,
        staged: &Staged,
        build: &Build,
        answers: Answers,
        log: PathBuf,
        job: &mut Job,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Result<Result<String, String>, RollbackError> {
        let (cfg, tag, script) = (self.cfg, &self.tag, &self.rollback_script);
        if !script.is_empty() && !config::resolve(&staged.root, script).exists() {
            let why = step_failed(
                Step::Deploy,
                format!(
                    "the rollback script {script} is not in {tag}'s tree; nothing was deployed"
                ),
                ev,
            );
            let _ = staged.reset();
            return Err(self.job_failed(job, why));
        }
        let script_name = if script.is_empty() {
            cfg.scripts.deploy.clone()
        } else {
            script.clone()
        };
        // The script's process group and start time go into the journal, so a
        // later run can end it if this process dies.
        let mut note_script = |e: Event| {
            if let Event::Script(h) = &e {
                let _ = job.set_script(h.pid(), &script_name);
            }
            ev(e)
        };
        let ctx = self.script_context("rollback", build);
        Ok(if script.is_empty() {
            deploy::publish_with_answers(
                self.repo,
                cfg,
                &staged.root,
                &ctx,
                answers,
                log,
                &mut note_script,
            )
        } else {
            let mut spec = scripts::spec(cfg, script, &staged.root, &ctx, answers, log);
            spec.args = vec![tag.clone()];
            match deploy::run_script(spec, &mut note_script) {
                Ok(o) if o.success() => Ok(format!("{script} {tag}: {o}")),
                Ok(o) => Err(format!("{script} {tag}: {o}")),
                Err(e) => Err(e.to_string()),
            }
        })
    }

    /// The live record of this rollback, written now. A publish that failed
    /// leaves production unknown: said so, never the target as live.
    fn live_record(
        &self,
        build: &Build,
        failure: &Option<String>,
        health: LiveHealth,
        bad: Vec<String>,
    ) -> LiveRecord {
        LiveRecord {
            tag: failure.is_none().then(|| self.tag.clone()),
            commit: self.commit.clone(),
            build_id: build.id.clone(),
            branch: None,
            action: "rollback".into(),
            actor: self.actor.clone(),
            time: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            health: if failure.is_some() {
                LiveHealth::Unknown
            } else {
                health
            },
            bad_tags: bad,
            failure: failure.clone(),
        }
    }

    /// The live record's `bad_tags` before this rollback.
    fn bad_before(&self) -> Vec<String> {
        self.live_now
            .as_ref()
            .map(|l| l.bad_tags.clone())
            .unwrap_or_default()
    }

    /// Phase 2b, published: production now serves this build, verified or
    /// not, and the live record says so (unverified); then the deploy step is
    /// reported. A failed publish leaves the target unmarked (it was never
    /// published, so it never failed verification).
    fn published(
        &self,
        deployed: Result<String, String>,
        build: &Build,
        notes: &mut Vec<String>,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Deployed {
        let ok = deployed.is_ok();
        let text = match &deployed {
            Ok(s) => s.clone(),
            Err(e) => format!("the deploy failed: {e}"),
        };
        let failure = deployed.as_ref().err().map(|e| {
            format!(
                "rollback to {} (BUILD_ID {}) failed at deploy: {e}",
                self.tag, build.id
            )
        });
        let rec = self.live_record(build, &failure, LiveHealth::Unverified, self.bad_before());
        if let Err(e) = self.repo.state.write_live(&rec) {
            notes.push(format!("the live record could not be written: {e}"));
        }
        ev(Event::Step(
            Step::Deploy,
            if ok {
                StepState::Done(text.clone())
            } else {
                // Nothing released; verification runs once, to show what
                // production serves.
                StepState::Failed(text.clone())
            },
        ));
        Deployed { ok, text, failure }
    }

    /// Phase 3a, verify live with the tag's baseline, the BUILD_ID and the
    /// restored files' content hashes; after a failed deploy, one attempt
    /// per check. The verify step is reported.
    fn verify(
        &self,
        staged: &Staged,
        build: &Build,
        deploy_ok: bool,
        manifest: BTreeMap<String, String>,
        log: PathBuf,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Verdict {
        let expect = Expect {
            build_id: Some(build.id.clone()),
            baseline: deploy::package_baseline(self.repo, self.cfg, &self.commit),
            manifest: Some(manifest),
        };
        let vctx = self.script_context("verify", build);
        let mut opts = VerifyOptions::from_config(&self.cfg.live);
        if !deploy_ok {
            // Nothing new is on its way: one attempt per check.
            opts.deadline = std::time::Duration::ZERO;
        }
        let report: VerifyReport =
            deploy::run_verify_with(self.cfg, &staged.root, &vctx, expect, opts, log, ev);
        let verified = report.ok;
        let seconds_to_verdict = self.started.elapsed().as_secs_f64();
        let seconds_to_verified = (verified && deploy_ok).then_some(seconds_to_verdict);
        let failing: Vec<String> = report
            .failures()
            .map(|c| format!("{}: {}", c.name, c.last_error.clone().unwrap_or_default()))
            .collect();
        let verification = if verified {
            let warned = report
                .checks
                .iter()
                .filter(|c| c.state == CheckState::Warn)
                .count();
            if warned > 0 {
                format!(
                    "all ✅ ({} checks, {warned} with a warning)",
                    report.checks.len()
                )
            } else {
                format!("all ✅ ({} checks)", report.checks.len())
            }
        } else {
            format!("❌ {}", failing.join("; "))
        };
        ev(Event::Step(
            Step::Verify,
            if verified {
                StepState::Done(verification.clone())
            } else {
                StepState::Failed(verification.clone())
            },
        ));
        Verdict {
            report,
            verified,
            seconds_to_verdict,
            seconds_to_verified,
            failing,
            verification,
        }
    }

    /// Phase 3b: an in-place checkout gets its `archive` paths put back as
    /// committed, and the checkout is let go (its previous HEAD back).
    fn put_tree_back(&self, staged: Staged, notes: &mut Vec<String>) {
        if let Err(e) = staged.reset() {
            notes.push(format!("the working tree could not be reset: {e}"));
        }
        drop(staged);
    }

    /// Phase 4, record it everywhere: the tags marked in the live record
    /// (bad when verification failed, good again when it passed), the rollout
    /// log, the release log (when something was published), the audit chain
    /// and the alert; the job ends and the record step is reported.
    fn record(
        &self,
        build: &Build,
        deployed: &Deployed,
        verdict: &Verdict,
        notes: &mut Vec<String>,
        job: &mut Job,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Recorded {
        let tag = &self.tag;
        self.mark_tags(build, deployed, verdict.verified, notes);
        let now = Utc::now();
        let rollout_path = self.write_rollout_log(now, deployed, verdict, notes);
        let release_log = if !deployed.ok {
            // Nothing was released.
            None
        } else {
            self.write_release_log(now, build, verdict, notes)
        };
        let verified = verdict.verified && deployed.ok;
        let result = if verified { "OK" } else { "FAILED" };
        let audit_seq = match self.audit(
            result,
            json!({
                "from": self.from,
                "to": tag,
                "commit": self.commit,
                "reason": self.reason,
                "source": self.source.to_string(),
                "backup_refused": self.plan.refused_backup,
                "build_id": build.id,
                "deployed": deployed.text,
                "failing": verdict.failing,
                "why": deployed.failure,
                "seconds": verdict.seconds_to_verified,
                "release_log": release_log,
            }),
        ) {
            Ok(r) => Some(r.seq),
            Err(e) => {
                notes.push(format!("the audit chain could not be appended to: {e}"));
                None
            }
        };
        alerts::rollback(
            self.repo,
            self.cfg,
            tag,
            self.from.as_deref(),
            self.reason,
            &verdict.report,
            &verdict.failing,
        );
        let summary = if let Some(f) = &deployed.failure {
            format!("{f}; production state unknown; {tag} is not marked bad")
        } else if verified {
            format!(
                "rolled back to {tag}: verified in {}s",
                super::common::seconds(verdict.seconds_to_verified.unwrap_or_default())
            )
        } else {
            format!(
                "rolled back to {tag}: verification FAILED ({})",
                verdict.verification
            )
        };
        let _ = job.finish(if verified { "VERIFIED" } else { "FAILED" }, &summary);
        ev(Event::Step(
            Step::Release,
            StepState::Done(format!(
                "audit {result}{}; rollout log {}; release log {}",
                audit_seq.map(|s| format!(" #{s}")).unwrap_or_default(),
                rollout_path.display(),
                release_log.as_deref().unwrap_or("not written")
            )),
        ));
        Recorded {
            rollout_path,
            release_log,
            audit_seq,
        }
    }

    /// Phase 4a, mark tags: the live record with its health, the target
    /// taken off `bad_tags` when verified, put on it when not (a deploy that
    /// failed proves neither).
    fn mark_tags(
        &self,
        build: &Build,
        deployed: &Deployed,
        verified: bool,
        notes: &mut Vec<String>,
    ) {
        let mut bad = self.bad_before();
        if !deployed.ok {
            // Not published: neither proved good nor bad.
        } else if verified {
            bad.retain(|t| *t != self.tag);
        } else if !bad.contains(&self.tag) {
            bad.push(self.tag.clone());
        }
        let health = if verified {
            LiveHealth::Ok
        } else {
            LiveHealth::Failed
        };
        let rec = self.live_record(build, &deployed.failure, health, bad);
        if let Err(e) = self.repo.state.write_live(&rec) {
            notes.push(format!("the live record could not be written: {e}"));
        }
    }

    /// Phase 4b: one entry in the rollout log; returns the log's path.
    fn write_rollout_log(
        &self,
        now: chrono::DateTime<Utc>,
        deployed: &Deployed,
        verdict: &Verdict,
        notes: &mut Vec<String>,
    ) -> PathBuf {
        let rollout_path = config::resolve(&self.repo.root, &self.cfg.project.rollout_log);
        if let Err(e) = release::append_rollout_log(
            self.repo,
            self.cfg,
            &RolloutEntry {
                time: now,
                actor: self.actor.clone(),
                reason: self.reason.to_string(),
                from: self.from.clone(),
                to: self.tag.clone(),
                source: self.source.clone(),
                verified: verdict.verified && deployed.ok,
                verification: match &deployed.failure {
                    Some(f) => format!("not verified: {f}"),
                    None => verdict.verification.clone(),
                },
                seconds_to_verified: verdict.seconds_to_verified,
            },
        ) {
            notes.push(format!("the rollout log could not be written: {e}"));
        }
        rollout_path
    }

    /// Phase 4c: a release log entry for what was published; its path.
    fn write_release_log(
        &self,
        now: chrono::DateTime<Utc>,
        build: &Build,
        verdict: &Verdict,
        notes: &mut Vec<String>,
    ) -> Option<String> {
        match release::write_release_log(
            self.repo,
            self.cfg,
            &ReleaseLogEntry {
                kind: ReleaseKind::Rollback {
                    from: self.from.clone(),
                    reason: self.reason.to_string(),
                    // Not verified: the time to the failed verdict (the entry says ❌).
                    seconds_to_verified: verdict.seconds_to_verdict,
                },
                time: now,
                initiated_by: self.actor.clone(),
                branch: None,
                commit: self.commit.clone(),
                tag: self.tag.clone(),
                backup: Some(self.source.to_string()),
                build_id: build.id.clone(),
                gate: None,
                checks: verdict.report.log_lines(),
            },
        ) {
            Ok(p) => Some(p.display().to_string()),
            Err(e) => {
                notes.push(format!("the release log could not be written: {e}"));
                None
            }
        }
    }

    /// The outcome returned to the caller, once the work directory is gone.
    fn outcome(
        &self,
        build: Build,
        deployed: Deployed,
        verdict: Verdict,
        recorded: Recorded,
        notes: Vec<String>,
    ) -> RollbackOutcome {
        RollbackOutcome {
            target: self.tag.clone(),
            commit: self.commit.clone(),
            from: self.from.clone(),
            source: self.source.to_string(),
            build_id: build.id,
            deployed: deployed.text,
            deploy_ok: deployed.ok,
            verified: verdict.verified && deployed.ok,
            verify: verdict.report,
            seconds_to_verified: verdict.seconds_to_verified,
            seconds: self.started.elapsed().as_secs_f64(),
            release_log: recorded.release_log,
            rollout_log: recorded.rollout_path.display().to_string(),
            audit_seq: recorded.audit_seq,
            notes,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str, commit: &str) -> ProdTag {
        ProdTag {
            name: name.into(),
            date: chrono::NaiveDate::from_ymd_opt(2025, 11, 13).unwrap(),
            n: 1,
            commit: commit.into(),
            annotated: false,
            message: None,
            backup: false,
            backup_path: String::new(),
        }
    }

    fn live(tag: Option<&str>, commit: &str, bad: &[&str]) -> LiveRecord {
        LiveRecord {
            tag: tag.map(str::to_string),
            commit: commit.into(),
            build_id: "x".into(),
            branch: None,
            action: "deploy".into(),
            actor: "t".into(),
            time: String::new(),
            health: LiveHealth::Ok,
            bad_tags: bad.iter().map(|s| s.to_string()).collect(),
            failure: None,
        }
    }

    #[test]
    fn default_target_skips_live_and_bad() {
        let tags = vec![tag("a", "1"), tag("b", "2"), tag("c", "3")];
        assert_eq!(pick_default(&tags, None).unwrap().name, "c");
        let l = live(Some("c"), "3", &[]);
        assert_eq!(pick_default(&tags, Some(&l)).unwrap().name, "b");
        let l = live(Some("c"), "3", &["b"]);
        assert_eq!(pick_default(&tags, Some(&l)).unwrap().name, "a");
        // No tag in the live record: by commit.
        let l = live(None, "3", &[]);
        assert_eq!(pick_default(&tags, Some(&l)).unwrap().name, "b");
        let l = live(None, "9", &[]);
        assert_eq!(pick_default(&tags, Some(&l)).unwrap().name, "c");
        let l = live(Some("a"), "1", &["b", "c"]);
        assert!(pick_default(&tags, Some(&l)).is_none());
    }

    #[test]
    fn no_work_directory_ends_the_job_failed() {
        let tmp = tempfile::tempdir().unwrap();
        git2::Repository::init(tmp.path().join("repo")).unwrap();
        let mut repo = Repo::open(&tmp.path().join("repo")).unwrap();
        // A state directory that cannot hold the work directory.
        repo.state.path = tmp.path().join("missing/state");
        let cfg = Config::default();
        let plan = Plan {
            target: tag("prod-1", "0123456789abcdef0123456789abcdef01234567"),
            source: PlanSource::Tree {
                commit: "0123456789abcdef0123456789abcdef01234567".into(),
            },
            live: None,
            diff: Vec::new(),
            diff_base: None,
            refused_backup: None,
            will_log: Vec::new(),
            roll_forward: false,
            notes: Vec::new(),
        };
        let run = Run::new(&repo, &cfg, &plan, "test", Instant::now(), "ann");
        let jobs = tmp.path().join("jobs-state");
        let mut job = Job::create(&jobs, "rollback", "prod-1", "ann").unwrap();
        let mut events = Vec::new();
        let r = run.work_dir(&mut job, &mut |e| events.push(format!("{e:?}")));
        assert!(
            matches!(&r, Err(RollbackError::Step(StepFailed(why))) if why.contains("no temporary directory")),
            "{:?}",
            r.err()
        );
        assert!(events.iter().any(|e| e.contains("Failed")), "{events:?}");
        // The journal on disk says how it ended, so the next start does not
        // take it for aborted.
        let listed = super::super::jobs::list(&jobs);
        assert_eq!(listed[0].state, super::super::jobs::JobState::Done);
        assert_eq!(listed[0].result.as_deref(), Some("FAILED"));
    }

    #[test]
    fn diff_lists_added_removed_changed() {
        let prod: BTreeMap<String, String> = [("u/a", "1"), ("u/b", "2"), ("u/c", "3")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let target: BTreeMap<String, String> = [("u/a", "1"), ("u/b", "9"), ("u/d", "4")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let d = diff_maps(&prod, &target);
        assert_eq!(
            d,
            vec![
                FileChange {
                    path: "u/b".into(),
                    change: Change::Changed
                },
                FileChange {
                    path: "u/c".into(),
                    change: Change::Removed
                },
                FileChange {
                    path: "u/d".into(),
                    change: Change::Added
                },
            ]
        );
    }
}

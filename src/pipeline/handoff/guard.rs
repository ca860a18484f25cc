//! The guard line of the checklist (SPEC §4): a branch that changes its own
//! guardrail — the gate, verify, deploy or prepare script, the baseline
//! file, `guardrail.toml` — relative to main is not ready until a release
//! manager acknowledges exactly those changes. The acknowledgement is an
//! audit entry (`guard-accept`) carrying each file's git blob id on the
//! branch (or `deleted`); a later change to any of them needs a new one.
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use serde_json::json;

use super::{ChecklistItem, ItemState};
use crate::pipeline::audit::NewEntry;
use crate::pipeline::config::Config;
use crate::pipeline::record::{record, RecordError};
use crate::pipeline::repo::{BranchInfo, Repo};

/// The audit action of an acknowledgement.
pub const ACTION: &str = "guard-accept";

/// What the value of a deleted file is recorded as.
pub const DELETED: &str = "deleted";

/// The files that guard a release, as configured (empty names left out).
pub fn guarded_paths(cfg: &Config) -> Vec<String> {
    let mut v: Vec<String> = [
        cfg.scripts.gate.as_str(),
        cfg.scripts.verify.as_str(),
        cfg.scripts.deploy.as_str(),
        cfg.scripts.prepare.as_str(),
        cfg.baseline.file.as_str(),
        "guardrail.toml",
    ]
    .iter()
    .map(|s| s.trim().trim_start_matches("./").to_string())
    .filter(|s| !s.is_empty() && !Path::new(s).is_absolute())
    .collect();
    v.sort();
    v.dedup();
    v
}

fn blob_at(tree: &git2::Tree, path: &str) -> Option<String> {
    tree.get_path(Path::new(path))
        .ok()
        .map(|e| e.id().to_string())
}

/// The guarded files that differ between main's head and `head`: path →
/// the branch's blob id (or [`DELETED`]). Empty for main itself or
/// without a main branch.
pub fn changes(
    repo: &Repo,
    cfg: &Config,
    head: &git2::Commit,
) -> Result<BTreeMap<String, String>, git2::Error> {
    let mut out = BTreeMap::new();
    let Some(main) = repo.main_head(&cfg.project.main_branch) else {
        return Ok(out);
    };
    if main == head.id() {
        return Ok(out);
    }
    let main_tree = repo.git.find_commit(main)?.tree()?;
    let tree = head.tree()?;
    for p in guarded_paths(cfg) {
        let (a, b) = (blob_at(&main_tree, &p), blob_at(&tree, &p));
        if a != b {
            out.insert(p, b.unwrap_or_else(|| DELETED.to_string()));
        }
    }
    Ok(out)
}

/// One acknowledgement read from the audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ack {
    pub actor: String,
    pub time: String,
    pub files: BTreeMap<String, String>,
}

/// Acknowledgements by branch, from the audit chain's lines.
pub fn acks_from_log(text: &str) -> HashMap<String, Vec<Ack>> {
    let mut out: HashMap<String, Vec<Ack>> = HashMap::new();
    for line in text.lines() {
        if !line.contains(ACTION) {
            continue;
        }
        let Ok(v) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        if v["action"] != ACTION || v["result"] != "OK" {
            continue;
        }
        let Some(branch) = v["target"].as_str() else {
            continue;
        };
        let files = v["details"]["files"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                    .collect()
            })
            .unwrap_or_default();
        out.entry(branch.to_string()).or_default().push(Ack {
            actor: v["actor"].as_str().unwrap_or("?").to_string(),
            time: v["time"].as_str().unwrap_or("?").to_string(),
            files,
        });
    }
    out
}

/// The newest acknowledgement of exactly `changed`, if any.
pub fn matching<'a>(
    acks: Option<&'a Vec<Ack>>,
    changed: &BTreeMap<String, String>,
) -> Option<&'a Ack> {
    acks?.iter().rev().find(|a| &a.files == changed)
}

/// The checklist's guard line.
pub fn item(changed: &BTreeMap<String, String>, ack: Option<&Ack>) -> ChecklistItem {
    if changed.is_empty() {
        return ChecklistItem {
            key: "guard",
            state: ItemState::Ok,
            reason: None,
            detail: vec!["the branch changes none of the files that guard a release".into()],
        };
    }
    let files: Vec<&str> = changed.keys().map(String::as_str).collect();
    let mut detail: Vec<String> = changed.iter().map(|(p, h)| format!("{p}: {h}")).collect();
    let reason = match ack {
        Some(a) => {
            detail.push(format!("acknowledged by {} at {}", a.actor, a.time));
            format!(
                "this branch changes {} (acknowledged by {})",
                files.join(", "),
                a.actor
            )
        }
        None => {
            detail.push(
                "a release manager must acknowledge these changes: y in the review screen \
                 (v shows the diff), or `guardrail deploy <branch> --accept-guard-changes`"
                    .into(),
            );
            format!(
                "this branch changes {}; no release manager has acknowledged it",
                files.join(", ")
            )
        }
    };
    ChecklistItem {
        key: "guard",
        state: ItemState::Warn,
        reason: Some(reason),
        detail,
    }
}

/// Why an unacknowledged guard change stops the release, in one sentence.
pub fn refusal(branch: &str, changed: &BTreeMap<String, String>) -> String {
    format!(
        "{branch} changes {} relative to main, which guard its own release; a release manager \
         must acknowledge it first (y in the review screen, or deploy --accept-guard-changes)",
        changed.keys().cloned().collect::<Vec<_>>().join(", ")
    )
}

/// Records `actor`'s acknowledgement of `branch`'s guard changes (with the
/// files' blob ids) in the audit chain. `Ok(None)` when there is nothing
/// to acknowledge.
pub fn accept(
    repo: &Repo,
    cfg: &Config,
    branch: &BranchInfo,
    actor: &str,
) -> Result<Option<BTreeMap<String, String>>, GuardError> {
    let head = git2::Oid::from_str(&branch.head)
        .and_then(|o| repo.git.find_commit(o))
        .map_err(|e| GuardError::Git(format!("the head of {}: {}", branch.name, e.message())))?;
    let changed = changes(repo, cfg, &head).map_err(|e| {
        GuardError::Git(format!(
            "the diff of {} against main: {}",
            branch.name,
            e.message()
        ))
    })?;
    if changed.is_empty() {
        return Ok(None);
    }
    record(
        repo,
        cfg,
        NewEntry::new(actor, ACTION, &branch.name, "OK").with_details(json!({
            "commit": branch.head,
            "files": changed,
        })),
    )?;
    Ok(Some(changed))
}

/// The patch of the guarded files, main → `head` (`git diff`).
pub fn diff_text(repo: &Repo, cfg: &Config, head: &str) -> String {
    let Some(main) = repo.main_head(&cfg.project.main_branch) else {
        return String::new();
    };
    let mut args = vec![
        "diff".to_string(),
        "--no-color".into(),
        "--no-ext-diff".into(),
        main.to_string(),
        head.to_string(),
        "--".into(),
    ];
    args.extend(guarded_paths(cfg));
    std::process::Command::new("git")
        .current_dir(&repo.root)
        .args(&args)
        .stdin(std::process::Stdio::null())
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
        .unwrap_or_default()
}

#[derive(Debug, thiserror::Error)]
pub enum GuardError {
    #[error("cannot read {0}")]
    Git(String),
    #[error(transparent)]
    Record(#[from] RecordError),
}

impl GuardError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

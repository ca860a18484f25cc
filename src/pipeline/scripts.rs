//! The script contract (SPEC §5): which script an action runs, and the
//! environment it gets besides the user's.
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};

use super::config::Config;
use super::runner::{Answers, RunSpec};

/// BUILD_ID = `<short sha>-<UTC yyyymmddThhmmssZ>` (SPEC §7).
pub fn build_id(commit: &str, at: DateTime<Utc>) -> String {
    format!(
        "{}-{}",
        &commit[..commit.len().min(7)],
        at.format("%Y%m%dT%H%M%SZ")
    )
}

/// What a script is told about the action it serves.
#[derive(Debug, Clone)]
pub struct ScriptContext {
    /// gate, snapshot, deploy, verify, rollback.
    pub action: String,
    pub branch: String,
    pub commit: String,
    /// Proposed (gate, deploy) or target (rollback) prod tag.
    pub tag: String,
    pub build_id: String,
    /// Absolute path of the bundle directory in the checkout.
    pub bundle_dir: PathBuf,
    pub drill: bool,
    pub deploy_url: String,
    pub actor: String,
}

impl ScriptContext {
    /// The variables of SPEC §5.
    pub fn env(&self) -> Vec<(String, String)> {
        let bundle = self.bundle_dir.display().to_string();
        vec![
            ("GUARDRAIL".into(), "1".into()),
            ("GUARDRAIL_ACTION".into(), self.action.clone()),
            ("GUARDRAIL_BRANCH".into(), self.branch.clone()),
            ("GUARDRAIL_COMMIT".into(), self.commit.clone()),
            ("GUARDRAIL_TAG".into(), self.tag.clone()),
            ("GUARDRAIL_BUILD_ID".into(), self.build_id.clone()),
            ("GUARDRAIL_BUNDLE_DIR".into(), bundle.clone()),
            (
                "GUARDRAIL_DRILL".into(),
                if self.drill { "1" } else { "0" }.into(),
            ),
            // The real scripts (`inject_build_id.js`) read `BUILD_ID`.
            ("BUILD_ID".into(), self.build_id.clone()),
            ("DEPLOY_URL".into(), self.deploy_url.clone()),
            ("DEPLOY_ACTOR".into(), self.actor.clone()),
            ("NETLIFY_DEPLOY_DIR".into(), bundle),
        ]
    }
}

/// A run of `script` (relative to the checkout root) for `ctx`, with the
/// configured timeouts.
pub fn spec(
    cfg: &Config,
    script: &str,
    checkout_root: &Path,
    ctx: &ScriptContext,
    answers: Answers,
    log_path: PathBuf,
) -> RunSpec {
    let mut s = RunSpec::new(Path::new(script), checkout_root, log_path);
    s.env = ctx.env();
    if !cfg.scripts.allow_push {
        s.env.extend(super::script_effects::refuse_push_env());
    }
    s.answers = answers;
    s.timeout = cfg.scripts.timeout.nonzero();
    s.idle_timeout = cfg.scripts.idle_timeout.nonzero();
    s.grace = cfg.scripts.grace.0;
    s
}

/// Answers for a headless run: `--answers FILE` (one per line) then each
/// `--answer`; none means stdin closed.
pub fn headless_answers(file: Option<&Path>, answers: &[String]) -> std::io::Result<Answers> {
    let mut v: Vec<String> = Vec::new();
    if let Some(f) = file {
        let text = std::fs::read_to_string(f)?;
        v.extend(text.lines().map(|l| l.trim_end_matches('\r').to_string()));
    }
    v.extend(answers.iter().cloned());
    Ok(if v.is_empty() {
        Answers::Closed
    } else {
        Answers::Scripted(v)
    })
}

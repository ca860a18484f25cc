//! The verify script of a checkout beside the HTTP checks: preparing its
//! SPEC §5 environment and running it as one more check.
use super::*;

/// The verify script of a checkout, ready to run (or known to be absent).
#[derive(Debug, Clone)]
pub struct VerifyScript {
    /// As configured, relative to the checkout root.
    pub script: String,
    /// `None`: the script does not exist there (skipped).
    pub spec: Option<RunSpec>,
}

/// The configured verify script in `checkout_root` with the SPEC §5
/// environment of `ctx` (whose `action` should be `verify`), its full output
/// going to `log_path`. For deploy and rollback as well as `guardrail verify`.
pub fn prepare_script(
    cfg: &Config,
    checkout_root: &Path,
    ctx: &ScriptContext,
    answers: Answers,
    log_path: PathBuf,
) -> VerifyScript {
    let rel = cfg.scripts.verify.trim();
    let exists = script_exists(cfg, checkout_root);
    VerifyScript {
        script: rel.to_string(),
        spec: exists.then(|| scripts::spec(cfg, rel, checkout_root, ctx, answers, log_path)),
    }
}

/// Whether the configured verify script exists in `checkout_root` (a
/// dangling symlink counts: running it then fails, which is a ❌).
pub fn script_exists(cfg: &Config, checkout_root: &Path) -> bool {
    let rel = cfg.scripts.verify.trim();
    !rel.is_empty()
        && config::resolve(checkout_root, rel)
            .symlink_metadata()
            .is_ok()
}

pub(super) fn run_script<F: FnMut(&CheckStatus)>(
    i: usize,
    spec: RunSpec,
    script: &str,
    board: &Board<F>,
) -> ScriptResult {
    board.update(i, |s| {
        s.state = CheckState::Running;
        s.attempts = 1;
    });
    let log = spec.log_path.display().to_string();
    let t0 = Instant::now();
    let (result, error) = match runner::run(spec, |_| {}) {
        Ok(o) => {
            let passed = o.success();
            let summary = o.to_string();
            (
                ScriptResult {
                    script: script.to_string(),
                    skipped: false,
                    passed,
                    exit_code: o.exit_code,
                    duration_ms: ms(o.duration),
                    summary: summary.clone(),
                    log: Some(log.clone()),
                },
                (!passed).then(|| format!("{summary}; output in {log}")),
            )
        }
        Err(e) => (
            ScriptResult {
                script: script.to_string(),
                skipped: false,
                passed: false,
                exit_code: None,
                duration_ms: ms(t0.elapsed()),
                summary: e.to_string(),
                log: None,
            },
            Some(e.to_string()),
        ),
    };
    board.update(i, |s| {
        s.latency_ms = Some(result.duration_ms);
        match &error {
            None => {
                s.state = CheckState::Ok;
                s.detail = Some(result.summary.clone());
            }
            Some(e) => {
                s.state = CheckState::Fail;
                s.last_error = Some(e.clone());
            }
        }
    });
    result
}

//! `guardrail verify`: running the checks, recording the result in the
//! audit chain and a job, and setting the live record's health.
use super::*;

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Bad input (exit 2).
    #[error("[live] url is not set in guardrail.toml: set it, or pass --url")]
    NoUrl,
    /// Bad input (exit 2).
    #[error("the live URL is not usable: {0}")]
    BadUrl(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Job(#[from] JobError),
}

impl VerifyError {
    /// The exit code a command ends with on this error (SPEC §6).
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        match self {
            VerifyError::NoUrl | VerifyError::BadUrl(_) | VerifyError::State(_) => exit::BAD_INPUT,
            _ => exit::STEP_FAILED,
        }
    }
}

/// The baseline metrics as committed at `commit` (`None` if unreadable).
pub(super) fn baseline_at(repo: &Repo, cfg: &Config, commit: &str) -> Option<Vec<Metric>> {
    let oid = git2::Oid::from_str(commit).ok()?;
    let tree = repo.git.find_commit(oid).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(&cfg.baseline.file)).ok()?;
    let blob = repo.git.find_blob(entry.id()).ok()?;
    baseline::parse_bytes(blob.content(), &cfg.baseline.file)
        .ok()?
        .metrics()
        .ok()
}

pub(super) fn same_url(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}

/// `guardrail verify`: runs the checks against `url_override` or
/// `[live] url`, and the verify script of the working tree if it exists;
/// records the result in the audit chain (`verify`, `OK`/`FAILED`); and sets
/// the live record's health when the live record still describes what was
/// verified (same BUILD_ID, the configured URL).
///
/// Defaults taken from the live record when `expect` leaves them out: the
/// BUILD_ID, and the baseline metrics as committed at the live commit.
///
/// `on_recorded` gets the report and the expected BUILD_ID once the result
/// is in the audit chain: the caller fires its alert there
/// ([`crate::pipeline::alerts::live_verify`]), so verification knows nothing of alerts.
pub fn verify_and_record(
    repo: &Repo,
    cfg: &Config,
    url_override: Option<&str>,
    mut expect: Expect,
    answers: Answers,
    on_update: impl FnMut(&CheckStatus) + Send,
    on_recorded: impl FnOnce(&VerifyReport, Option<&str>),
) -> Result<VerifyReport, VerifyError> {
    let url = url_override.unwrap_or(&cfg.live.url).trim().to_string();
    if url.is_empty() {
        return Err(VerifyError::NoUrl);
    }
    let parsed = parse_url(&url).map_err(VerifyError::BadUrl)?;
    // The job's target names the site: host, and port when not the default.
    let site = match parsed.port() {
        Some(p) => format!("{}-{p}", parsed.host_str().unwrap_or("live")),
        None => parsed.host_str().unwrap_or("live").to_string(),
    };
    let user = repo.user(cfg);
    let live = repo.state.read_live()?;
    if expect.build_id.is_none() {
        expect.build_id = live.as_ref().map(|l| l.build_id.clone());
    }
    if expect.baseline.is_none() {
        expect.baseline = live
            .as_ref()
            .and_then(|l| baseline_at(repo, cfg, &l.commit));
    }

    let mut job = None;
    let script = if script_exists(cfg, &repo.root) {
        repo.state.ensure()?;
        let j = Job::create(&repo.state.path, "verify", &site, &user.name)?;
        let head = repo
            .git
            .head()
            .ok()
            .and_then(|h| h.target())
            .map(|o| o.to_string())
            .unwrap_or_default();
        let ctx = ScriptContext {
            action: "verify".into(),
            branch: live
                .as_ref()
                .and_then(|l| l.branch.clone())
                .unwrap_or_default(),
            commit: live.as_ref().map(|l| l.commit.clone()).unwrap_or(head),
            tag: live
                .as_ref()
                .and_then(|l| l.tag.clone())
                .unwrap_or_default(),
            build_id: expect.build_id.clone().unwrap_or_default(),
            bundle_dir: config::resolve(&repo.root, &cfg.project.bundle_dir),
            drill: repo.is_drill(),
            deploy_url: url.clone(),
            actor: user.name.clone(),
        };
        let s = prepare_script(cfg, &repo.root, &ctx, answers, j.log_path());
        job = Some(j);
        Some(s)
    } else {
        Some(VerifyScript {
            script: cfg.scripts.verify.trim().to_string(),
            spec: None,
        })
    };

    let opts = VerifyOptions::from_config(&cfg.live);
    let mut report = run_with_script(&url, &cfg.live.check, &expect, opts, script, on_update);
    let result = if report.ok { "OK" } else { "FAILED" };

    let failed: Map<String, Value> = report
        .failures()
        .map(|c| {
            (
                c.name.clone(),
                Value::String(c.last_error.clone().unwrap_or_default()),
            )
        })
        .collect();
    let warned: Map<String, Value> = report
        .checks
        .iter()
        .filter(|c| c.state == CheckState::Warn)
        .map(|c| {
            (
                c.name.clone(),
                Value::String(c.detail.clone().unwrap_or_default()),
            )
        })
        .collect();
    let mut details = json!({
        "url": report.url,
        "checks": report.checks.len(),
        "duration_ms": report.duration_ms,
    });
    if let Some(b) = &expect.build_id {
        details["build_id"] = json!(b);
    }
    if !failed.is_empty() {
        details["failed"] = Value::Object(failed);
    }
    if !warned.is_empty() {
        details["warnings"] = Value::Object(warned);
    }
    if let Some(j) = &job {
        details["job"] = json!(j.record.id);
    }
    if let Some(s) = report.script.as_ref().filter(|s| s.skipped) {
        details["script"] = json!(format!("{} not in the repository, skipped", s.script));
    }
    let rec = record(
        repo,
        cfg,
        NewEntry::new(&user.name, "verify", &url, result).with_details(details),
    )?;
    report.audit_seq = Some(rec.seq);
    on_recorded(&report, expect.build_id.as_deref());
    if let Some(mut j) = job {
        let summary = match &report.script {
            Some(s) => format!("live checks {result}; verify script {}", s.summary),
            None => format!("live checks {result}"),
        };
        j.finish(result, &summary)?;
    }

    // The live record's health, if it still describes what was verified.
    if url_override.is_none_or(|u| same_url(u, &cfg.live.url)) {
        if let Some(mut rec) = repo.state.read_live()? {
            // After a failed deploy nobody knows which build is served.
            // Only a passing check that saw the record's BUILD_ID on the
            // page ends that: failing checks say nothing about a build that
            // may never have been published, and content-only checks pass
            // against the old site just as well.
            let build_seen = cfg.live.check.iter().filter(|c| c.build_id).any(|c| {
                report
                    .checks
                    .iter()
                    .any(|s| s.name == c.name && s.state == CheckState::Ok)
            });
            let still_unknown = rec.health == LiveHealth::Unknown && !(report.ok && build_seen);
            if expect.build_id.as_deref() == Some(rec.build_id.as_str()) && !still_unknown {
                rec.health = if report.ok {
                    LiveHealth::Ok
                } else {
                    LiveHealth::Failed
                };
                if report.ok {
                    rec.failure = None;
                }
                repo.state.write_live(&rec)?;
            }
        }
    }
    Ok(report)
}

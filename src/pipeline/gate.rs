//! The gate (protocol §3–4): the project's deploy gate script run on a
//! branch head in a checkout, as a job, its every run recorded in the audit
//! chain with result, commit, actor and the sha256 of its log.
use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use super::audit::{NewEntry, Record};
use super::checkout::{self, CheckoutError};
use super::config::{self, Config};
use super::jobs::{Job, JobError};
use super::record::{record, RecordError};
use super::repo::{BranchInfo, Repo};
use super::runner::{self, Answers, Outcome, RunError, RunEvent, RunHandle};
use super::scripts::{self, ScriptContext};

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Checkout(#[from] CheckoutError),
    /// The script could not start (missing, not executable …).
    #[error(transparent)]
    Script(#[from] RunError),
    #[error(transparent)]
    Job(#[from] JobError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Repo(#[from] super::repo::RepoError),
    /// `[scripts] prepare` failed or could not run; the gate did not run.
    #[error("{0}")]
    Prepare(String),
}

impl GateError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

/// How a gate run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Verdict {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
    /// Ended by the runner: timeout, idle watchdog, cancel.
    #[serde(rename = "TIMEOUT")]
    TimedOut,
    #[serde(rename = "CANCELLED")]
    Cancelled,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Pass => "PASS",
            Verdict::Fail => "FAIL",
            Verdict::TimedOut => "TIMEOUT",
            Verdict::Cancelled => "CANCELLED",
        }
    }
    pub fn of(o: &Outcome) -> Verdict {
        if o.cancelled {
            Verdict::Cancelled
        } else if o.timed_out || o.idle_killed {
            Verdict::TimedOut
        } else if o.success() {
            Verdict::Pass
        } else {
            Verdict::Fail
        }
    }
}

/// The result of one gate run.
#[derive(Debug, Clone, Serialize)]
pub struct GateReport {
    pub branch: String,
    pub commit: String,
    pub verdict: Verdict,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    pub job: String,
    pub log: String,
    pub log_sha256: String,
    pub proposed_tag: String,
    /// The audit record of this run (SPEC §4 `audit.json`).
    #[serde(skip)]
    pub audit: Record,
    pub audit_seq: u64,
    /// The runner's own notes (timeouts, warnings).
    pub notes: Vec<String>,
    /// The gate's own failure line (its last `❌` line), when it did not pass.
    pub failure_line: Option<String>,
    /// What the prepare script and the gate did to the checkout (commits,
    /// changes left), one sentence each.
    pub effects: Vec<String>,
}

/// Runs the gate on `branch`'s head. `on_start` gets the handle (answers,
/// cancel) once the script runs; `on_event` sees its output live.
pub fn run(
    repo: &Repo,
    cfg: &Config,
    branch: &BranchInfo,
    answers: Answers,
    on_start: impl FnOnce(RunHandle, &std::path::Path),
    on_event: impl FnMut(RunEvent) + Send + 'static,
) -> Result<GateReport, GateError> {
    run_proposing(repo, cfg, branch, None, answers, on_start, on_event)
}

/// [`run`] with the prod tag the script is told about (`GUARDRAIL_TAG`)
/// given by the caller (`guardrail handoff --tag`); `None` proposes the
/// next free tag of today.
pub fn run_proposing(
    repo: &Repo,
    cfg: &Config,
    branch: &BranchInfo,
    tag: Option<&str>,
    answers: Answers,
    on_start: impl FnOnce(RunHandle, &std::path::Path),
    on_event: impl FnMut(RunEvent) + Send + 'static,
) -> Result<GateReport, GateError> {
    let user = repo.user(cfg);
    let co = checkout::prepare(repo, cfg.playbook.checkout, &branch.name, &branch.head)?;
    repo.state.ensure().map_err(RecordError::from)?;
    let mut job = Job::create(&repo.state.path, "gate", &branch.name, &user.name)?;
    let now = Utc::now();
    let proposed_tag = match tag {
        Some(t) => t.to_string(),
        None => repo.next_free_tag(&cfg.project.tag_prefix, now.date_naive())?,
    };
    let ctx = ScriptContext {
        action: "gate".into(),
        branch: branch.name.clone(),
        commit: branch.head.clone(),
        tag: proposed_tag.clone(),
        build_id: scripts::build_id(&branch.head, now),
        bundle_dir: config::resolve(&co.path, &cfg.project.bundle_dir),
        drill: repo.is_drill(),
        deploy_url: cfg.live.url.clone(),
        actor: user.name.clone(),
    };
    let interactive = answers == Answers::Interactive;
    let on_event = std::sync::Arc::new(std::sync::Mutex::new(on_event));
    let mut effects = Vec::new();
    if !cfg.scripts.prepare.trim().is_empty() {
        let sink = on_event.clone();
        let sent = move |ev: RunEvent| {
            if let Ok(mut f) = sink.lock() {
                f(ev)
            }
        };
        match run_prepare(cfg, &co.path, &ctx, &job.dir, sent) {
            Ok(mut notes) => effects.append(&mut notes),
            Err(e) => {
                let _ = job.finish("ERROR", &e);
                record(
                    repo,
                    cfg,
                    NewEntry::new(&user.name, "gate", &branch.name, "ERROR").with_details(json!({
                        "commit": branch.head,
                        "error": e,
                        "job": job.record.id,
                    })),
                )?;
                return Err(GateError::Prepare(e));
            }
        }
    }
    let before = super::script_effects::before(&co.path);
    let spec = scripts::spec(
        cfg,
        &cfg.scripts.gate,
        &co.path,
        &ctx,
        answers,
        job.log_path(),
    );
    // Attachers see the prompt the script waits at.
    let job_dir = job.dir.clone();
    let sink = on_event;
    let on_event = move |ev: RunEvent| {
        if let Ok(mut f) = sink.lock() {
            f(ev)
        }
    };
    // Whether a prompt file is there to clear: output streaming in costs no
    // file system call per chunk.
    let mut prompt_shown = false;
    let on_event = move |ev: RunEvent| {
        match &ev {
            RunEvent::Prompt(p) => {
                super::attach::set_prompt(&job_dir, Some(p));
                prompt_shown = true;
            }
            RunEvent::Output(o) if prompt_shown && o.contains('\n') => {
                super::attach::set_prompt(&job_dir, None);
                prompt_shown = false;
            }
            RunEvent::Finished(_) if prompt_shown => {
                super::attach::set_prompt(&job_dir, None);
                prompt_shown = false;
            }
            _ => {}
        }
        on_event(ev)
    };
    let (handle, join) = match runner::spawn(spec, on_event) {
        Ok(x) => x,
        Err(e) => {
            let _ = job.finish("ERROR", &e.to_string());
            record(
                repo,
                cfg,
                NewEntry::new(&user.name, "gate", &branch.name, "ERROR").with_details(json!({
                    "commit": branch.head,
                    "error": e.to_string(),
                    "job": job.record.id,
                })),
            )?;
            return Err(e.into());
        }
    };
    let _port = if interactive {
        super::attach::AnswerPort::open(&job.dir, handle.clone()).ok()
    } else {
        None
    };
    let _ = job.set_script(handle.pid(), &cfg.scripts.gate);
    on_start(handle, &job.log_path());
    let outcome = join.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    effects.extend(super::script_effects::after(
        &co.path,
        &cfg.scripts.gate,
        &before,
    ));
    drop(co);
    let verdict = Verdict::of(&outcome);
    let failure_line = if verdict == Verdict::Pass {
        None
    } else {
        std::fs::read(job.log_path())
            .ok()
            .and_then(|log| super::script_effects::failure_line(&log))
    };
    let audit = record(
        repo,
        cfg,
        NewEntry::new(&user.name, "gate", &branch.name, verdict.as_str()).with_details(json!({
            "commit": branch.head,
            "gate_log_sha256": outcome.log_sha256,
            "exit_code": outcome.exit_code,
            "duration_ms": outcome.duration.as_millis() as u64,
            "job": job.record.id,
            "failure_line": failure_line,
            "effects": effects,
        })),
    )?;
    job.finish(verdict.as_str(), &outcome.to_string())?;
    Ok(GateReport {
        branch: branch.name.clone(),
        commit: branch.head.clone(),
        verdict,
        exit_code: outcome.exit_code,
        duration_ms: outcome.duration.as_millis() as u64,
        job: job.record.id.clone(),
        log: job.log_path().display().to_string(),
        log_sha256: outcome.log_sha256.clone(),
        proposed_tag,
        audit_seq: audit.seq,
        audit,
        notes: outcome.notes.clone(),
        failure_line,
        effects,
    })
}

/// Runs `[scripts] prepare` in the checkout `co` (same contract as the
/// gate: its environment, its output streamed, pushes refused), logging to
/// `prepare.log` in the job directory. Returns what it did to the checkout;
/// an error sentence when it is missing, cannot start or fails.
fn run_prepare(
    cfg: &Config,
    co: &std::path::Path,
    gate_ctx: &ScriptContext,
    job_dir: &std::path::Path,
    on_event: impl FnMut(RunEvent) + Send + 'static,
) -> Result<Vec<String>, String> {
    let script = cfg.scripts.prepare.trim();
    let mut ctx = gate_ctx.clone();
    ctx.action = "prepare".into();
    let log = job_dir.join("prepare.log");
    let before = super::script_effects::before(co);
    let spec = scripts::spec(cfg, script, co, &ctx, Answers::Closed, log.clone());
    let (_handle, join) = runner::spawn(spec, on_event)
        .map_err(|e| format!("the prepare script could not run, so the gate did not: {e}"))?;
    let outcome = join.join().unwrap_or_else(|p| std::panic::resume_unwind(p));
    let effects = super::script_effects::after(co, script, &before);
    if outcome.success() {
        return Ok(effects);
    }
    let bytes = std::fs::read(&log).unwrap_or_default();
    let why = if super::script_effects::push_was_refused(&bytes) {
        super::script_effects::refused_push_sentence(script)
    } else {
        match super::script_effects::failure_line(&bytes) {
            Some(l) => format!("{script} ended ({outcome}): {l}"),
            None => format!("{script} ended ({outcome})"),
        }
    };
    Err(format!(
        "the prepare script failed, so the gate did not run: {why}"
    ))
}

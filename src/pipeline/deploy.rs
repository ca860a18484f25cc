//! Deploying and verifying a build, as both the release playbook and the
//! rollback do it: the events they report, the step vocabulary, publishing
//! (deploy script or built-in copy), running a script with its events,
//! live verification with events, and which prod tag a rollback goes to by
//! default. Neither `playbook` nor `rollback` is imported here, so both can
//! use it without a cycle.
use std::path::{Path, PathBuf};

use serde::Serialize;

use super::config::{self, Config};
use super::repo::{ProdTag, Repo};
use super::runner::{self, Answers, RunEvent, RunHandle};
use super::scripts::{self, ScriptContext};
use super::state::{LiveHealth, LiveRecord};
use super::verify::{self, CheckStatus, Expect, VerifyOptions, VerifyReport};
use super::StepFailed;

/// The steps, in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Step {
    Evidence,
    Checkout,
    Gate,
    Deploy,
    Verify,
    Release,
}

impl Step {
    pub const ALL: [Step; 6] = [
        Step::Evidence,
        Step::Checkout,
        Step::Gate,
        Step::Deploy,
        Step::Verify,
        Step::Release,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Step::Evidence => "Verify evidence",
            Step::Checkout => "Check out",
            Step::Gate => "Re-run the gate",
            Step::Deploy => "Deploy",
            Step::Verify => "Verify live",
            Step::Release => "Tag, archive, log",
        }
    }

    /// What the step does and why, in the protocol's words.
    pub fn why(self) -> &'static str {
        match self {
            Step::Evidence => "Verify evidence from the agent package (gate log, snapshot, video). If an agent cannot supply gate evidence or fallback details, the work stays in branch state.",
            Step::Checkout => "Checkout release branch: the branch head goes into a clean checkout, and the deploy lock is taken so no one else deploys meanwhile.",
            Step::Gate => "Re-run ./scripts/run_deploy_gate.sh on the checkout: PASS is required before any deploy.",
            Step::Deploy => "Execute the deploy script (or publish the bundle) with a new BUILD_ID; the backup of this build is written first.",
            Step::Verify => "If ./scripts/verify_live_deployment.sh or any live check reports ❌, stop and roll back immediately.",
            Step::Release => "On success: create the new prod tag, archive the deploy artefact to backups/, append the release entry to deploy_logs/ with gate output and BUILD_ID.",
        }
    }
}

/// Where a step stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", content = "note", rename_all = "lowercase")]
pub enum StepState {
    Waiting,
    Running,
    Done(String),
    Failed(String),
}

/// What the playbook reports while it runs.
#[derive(Debug, Clone)]
pub enum Event {
    Step(Step, StepState),
    /// A script's output (gate, deploy, verify script).
    Output(String),
    Prompt(String),
    /// The running script's handle (answers, cancel).
    Script(RunHandle),
    Check(CheckStatus),
}

/// The deploy lock for a deploy or rollback (SPEC §7, §10): this box's
/// kernel lock and, in team mode, the team lock; a takeover of an expired
/// team lock is recorded in the audit chain.
pub fn take_lock(
    repo: &Repo,
    cfg: &Config,
    info: super::lock::LockInfo,
) -> Result<super::lock::DeployLock, super::lock::LockError> {
    let (lock, takeover) = super::team::acquire(repo, cfg, info)?;
    if let Some(entry) = takeover {
        let _ = super::record::record(repo, cfg, entry);
    }
    Ok(lock)
}

/// Ends what dead jobs left (their scripts' process groups, their
/// temporary files) and says so as output; an error when a dead job's
/// processes could not be ended (they could still publish). Called with the
/// deploy lock held, before anything is changed.
pub fn end_dead_jobs(
    repo: &Repo,
    cfg: &Config,
    ev: &mut (dyn FnMut(Event) + Send),
) -> Result<(), StepFailed> {
    let (_, notes) = super::jobs::clean_up_dead_jobs(repo, cfg);
    for n in notes {
        ev(Event::Output(format!("guardrail: {n}\n")));
    }
    let left = super::jobs::any_leftover_processes(&repo.state.path);
    if let Some((j, pids)) = left.first() {
        let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
        return Err(StepFailed(format!(
            "processes {} of the dead job {} ({} of {}) are still running and could still publish; nothing was run",
            pids.join(", "),
            j.id,
            j.kind,
            j.target
        )));
    }
    Ok(())
}

/// Forwards runner events as playbook events.
pub(super) fn forward(tx: std::sync::mpsc::Sender<Event>) -> impl FnMut(RunEvent) + Send + 'static {
    move |e| {
        let _ = tx.send(match e {
            RunEvent::Output(s) => Event::Output(s),
            RunEvent::Prompt(p) => Event::Prompt(p),
            RunEvent::Finished(o) => Event::Output(format!("guardrail: script ended: {o}\n")),
        });
    }
}

/// Publishes the checkout: the deploy script when the checkout has it,
/// else the built-in copy of `bundle_dir` to `[live] publish_dir`.
pub fn publish(
    repo: &Repo,
    cfg: &Config,
    co: &Path,
    ctx: &ScriptContext,
    log: PathBuf,
    ev: &mut (dyn FnMut(Event) + Send),
) -> Result<String, String> {
    publish_with_answers(repo, cfg, co, ctx, Answers::Closed, log, ev)
}

/// Runs a script to its end, passing its output, prompts and handle (for
/// answers and cancel) on as events.
pub fn run_script(
    spec: runner::RunSpec,
    ev: &mut (dyn FnMut(Event) + Send),
) -> Result<runner::Outcome, runner::RunError> {
    let (tx, rx) = std::sync::mpsc::channel::<Event>();
    let tx2 = tx.clone();
    let (handle, join) = runner::spawn(spec, forward(tx))?;
    let _ = tx2.send(Event::Script(handle));
    drop(tx2);
    for e in rx {
        ev(e);
    }
    Ok(join.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
}

/// [`publish`] with answers for the deploy script's prompts.
pub fn publish_with_answers(
    repo: &Repo,
    cfg: &Config,
    co: &Path,
    ctx: &ScriptContext,
    answers: Answers,
    log: PathBuf,
    ev: &mut (dyn FnMut(Event) + Send),
) -> Result<String, String> {
    let script = cfg.scripts.deploy.trim();
    if !script.is_empty() && config::resolve(co, script).exists() {
        let before = super::script_effects::before(co);
        let spec = scripts::spec(cfg, script, co, ctx, answers, log.clone());
        let outcome = run_script(spec, ev);
        return super::script_effects::deploy_result(script, co, &before, &log, outcome);
    }
    let target = cfg.live.publish_dir.trim();
    if target.is_empty() {
        return Err(format!(
            "there is no deploy script ({script}) in the checkout and no [live] publish_dir to copy {} to",
            cfg.project.bundle_dir
        ));
    }
    let target = config::resolve(&repo.root, target);
    // Checked again just before the swap: a link may have moved meanwhile.
    super::protect::check_publish_dir(repo, cfg).map_err(|e| e.to_string())?;
    copy_publish(&ctx.bundle_dir, &target)
        .map_err(|e| format!("publishing to {} failed: {e}", target.display()))?;
    ev(Event::Output(format!(
        "guardrail: published {} to {}\n",
        ctx.bundle_dir.display(),
        target.display()
    )));
    Ok(format!(
        "published {} to {}",
        cfg.project.bundle_dir,
        target.display()
    ))
}

/// Replaces `target` with a copy of `src`: copied next to it, then swapped
/// in with renames, so the site never serves a half-copied tree.
pub fn copy_publish(src: &Path, target: &Path) -> std::io::Result<()> {
    super::protect::Protected::system()
        .check("the directory to replace", target)
        .map_err(std::io::Error::other)?;
    let parent = target.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "site".into());
    let staging = parent.join(format!(".{name}.incoming-{}", std::process::id()));
    let old = parent.join(format!(".{name}.old-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&staging);
    copy_tree(src, &staging)?;
    let had = target.exists();
    if had {
        std::fs::rename(target, &old)?;
    }
    std::fs::rename(&staging, target)?;
    if had {
        let _ = std::fs::remove_dir_all(&old);
    }
    Ok(())
}

fn copy_tree(src: &Path, dst: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dst)?;
    for e in std::fs::read_dir(src)? {
        let e = e?;
        let to = dst.join(e.file_name());
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_tree(&e.path(), &to)?;
        } else if ft.is_file() {
            std::fs::copy(e.path(), &to)?;
        }
    }
    Ok(())
}

/// The baseline metrics committed at `commit`, for the line-count checks.
pub fn package_baseline(
    repo: &Repo,
    cfg: &Config,
    commit: &str,
) -> Option<Vec<super::baseline::Metric>> {
    let oid = git2::Oid::from_str(commit).ok()?;
    let tree = repo.git.find_commit(oid).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(&cfg.baseline.file)).ok()?;
    let blob = repo.git.find_blob(entry.id()).ok()?;
    super::baseline::parse_bytes(blob.content(), &cfg.baseline.file)
        .ok()?
        .metrics()
        .ok()
}

/// Live checks plus the checkout's verify script, reported as events.
pub fn run_verify(
    _repo: &Repo,
    cfg: &Config,
    co: &Path,
    ctx: &ScriptContext,
    expect: Expect,
    log: PathBuf,
    ev: &mut (dyn FnMut(Event) + Send),
) -> VerifyReport {
    let opts = VerifyOptions::from_config(&cfg.live);
    run_verify_with(cfg, co, ctx, expect, opts, log, ev)
}

/// [`run_verify`] with its deadlines given (zero: one attempt per check,
/// after a deploy that failed).
pub fn run_verify_with(
    cfg: &Config,
    co: &Path,
    ctx: &ScriptContext,
    expect: Expect,
    opts: VerifyOptions,
    log: PathBuf,
    ev: &mut (dyn FnMut(Event) + Send),
) -> VerifyReport {
    let script = verify::prepare_script(cfg, co, ctx, Answers::Closed, log);
    let (tx, rx) = std::sync::mpsc::channel::<CheckStatus>();
    std::thread::scope(|s| {
        let h = s.spawn(move || {
            verify::run_with_script(
                &cfg.live.url,
                &cfg.live.check,
                &expect,
                opts,
                Some(script),
                move |c| {
                    let _ = tx.send(c.clone());
                },
            )
        });
        for c in rx {
            ev(Event::Check(c));
        }
        h.join().unwrap_or_else(|p| std::panic::resume_unwind(p))
    })
}

// ---------------------------------------------------------------------------
// The default rollback target

pub(super) fn is_live(t: &ProdTag, live: Option<&LiveRecord>) -> bool {
    match live {
        None => false,
        // A deploy failed part-way: nothing is known to be live.
        Some(l) if l.health == LiveHealth::Unknown => false,
        Some(l) => match &l.tag {
            Some(name) => *name == t.name,
            None => l.commit == t.commit,
        },
    }
}

pub(super) fn is_bad(t: &ProdTag, live: Option<&LiveRecord>) -> bool {
    live.is_some_and(|l| l.bad_tags.contains(&t.name))
}

pub(super) fn pick_default(tags: &[ProdTag], live: Option<&LiveRecord>) -> Option<ProdTag> {
    tags.iter()
        .rev()
        .find(|t| !is_live(t, live) && !is_bad(t, live))
        .cloned()
}

/// The default rollback target: the newest prod tag that is not live (by
/// tag name, or by commit when the live record has no tag) and not in
/// `live.bad_tags`.
pub fn default_target(repo: &Repo, cfg: &Config, live: Option<&LiveRecord>) -> Option<ProdTag> {
    let tags = repo.prod_tags(cfg).ok()?;
    pick_default(&tags, live)
}

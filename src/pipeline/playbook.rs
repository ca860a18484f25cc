//! The release playbook (protocol §4, SPEC §7) as explicit steps: verify
//! evidence → check out → re-run the gate → deploy → verify live → tag,
//! archive, log. The console runs one step per Enter; `guardrail deploy`
//! runs them all. Both go through [`Playbook::run_next`].
//!
//! Refusals (not a release manager, lock held or frozen, package not ready,
//! gate not passing) are recorded before any lock is taken or anything
//! changes. The deploy lock is held from the checkout to the end. The new
//! build's backup is written under a staging name *before* the deploy, so a
//! full disk stops the release before anything is published; it becomes
//! `backups/<tag>.zip` only when live verification passed. A failed
//! verification tags nothing and keeps no backup.
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::Utc;
use serde::Serialize;
use serde_json::json;

use super::alerts;
use super::audit::{entry_hash_ok, NewEntry};
use super::backup::{self, BackupInfo, Source};
use super::checkout::{self, Checkout};
use super::config::{self, Config, OnFailure};
use super::gate::{self, GateReport, Verdict};
use super::handoff::package::{self, Context};
use super::handoff::PackageState;
use super::jobs::Job;
use super::lock::{DeployLock, LockError, LockInfo};
use super::record::record;
use super::release::{self, GateEvidence, ReleaseKind, ReleaseLogEntry, ReleaseMessage};
use super::repo::{next_free_tag, BranchInfo, Repo};
use super::runner::Answers;
use super::scripts::{self, ScriptContext};
use super::state::{LiveHealth, LiveRecord};
use super::verify::{Expect, VerifyOptions, VerifyReport};
use super::{Refused, StepFailed};

use super::deploy::forward;
pub use super::deploy::{
    copy_publish, end_dead_jobs, package_baseline, publish, publish_with_answers, run_script,
    run_verify, run_verify_with, Event, Step, StepState,
};

#[derive(Debug, thiserror::Error)]
pub enum PlaybookError {
    /// A guardrail said no: exit 3.
    #[error(transparent)]
    Refused(#[from] Refused),
    /// A step could not run: exit 4.
    #[error(transparent)]
    Step(#[from] StepFailed),
    #[error("unknown branch `{0}`")]
    UnknownBranch(String),
    #[error("{0}")]
    Other(String),
}

impl PlaybookError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

fn other(e: impl std::fmt::Display) -> PlaybookError {
    PlaybookError::Other(e.to_string())
}

/// How the playbook ended.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    pub branch: String,
    pub commit: String,
    pub build_id: Option<String>,
    /// Released: verified live, tagged, archived, logged.
    pub released: bool,
    pub tag: Option<String>,
    pub backup: Option<String>,
    pub release_log: Option<String>,
    pub verify: Option<VerifyReport>,
    /// Live verification failed and `rollback_on_failure = "ask"`: offer it.
    pub offer_rollback: bool,
    /// `rollback_on_failure = "auto"`: roll back to this tag now.
    pub auto_rollback: Option<String>,
    /// The deploy (or publish) failed: `deploy of <build> failed at deploy:
    /// <why>`. Nothing was released; what production serves is unknown
    /// (exit 4).
    pub deploy_failed: Option<String>,
    pub notes: Vec<String>,
}

/// A release in progress.
pub struct Playbook {
    cfg: Config,
    pub branch: BranchInfo,
    pub actor: String,
    pub steps: Vec<(Step, StepState)>,
    answers: Option<Answers>,
    checkout: Option<Checkout>,
    lock: Option<DeployLock>,
    job: Option<Job>,
    gate: Option<GateReport>,
    build_id: Option<String>,
    staged: Option<BackupInfo>,
    tag: Option<String>,
    verify: Option<VerifyReport>,
    /// Set when the deploy step failed: the live record's `failure`.
    deploy_failed: Option<String>,
    started: Instant,
    pub outcome: Option<Outcome>,
}

impl Playbook {
    /// A playbook for `branch`; nothing runs yet.
    pub fn new(
        repo: &Repo,
        cfg: &Config,
        branch: &str,
        answers: Answers,
    ) -> Result<Playbook, PlaybookError> {
        let b = repo
            .find_branch_head(cfg, branch)
            .map_err(|_| PlaybookError::UnknownBranch(branch.to_string()))?;
        Ok(Playbook {
            cfg: cfg.clone(),
            actor: repo.user(cfg).name,
            branch: b,
            steps: Step::ALL.iter().map(|s| (*s, StepState::Waiting)).collect(),
            answers: Some(answers),
            checkout: None,
            lock: None,
            job: None,
            gate: None,
            build_id: None,
            staged: None,
            tag: None,
            verify: None,
            deploy_failed: None,
            started: Instant::now(),
            outcome: None,
        })
    }

    /// The next step to run, `None` when the playbook has ended.
    pub fn next_step(&self) -> Option<Step> {
        if self.outcome.is_some() {
            return None;
        }
        self.steps
            .iter()
            .find(|(_, st)| matches!(st, StepState::Waiting))
            .map(|(s, _)| *s)
    }

    fn set(&mut self, step: Step, st: StepState, ev: &mut (dyn FnMut(Event) + Send)) {
        if let Some(slot) = self.steps.iter_mut().find(|(s, _)| *s == step) {
            slot.1 = st.clone();
        }
        ev(Event::Step(step, st));
    }

    /// Runs every step to the end (`guardrail deploy --yes`).
    pub fn run_all(
        &mut self,
        repo: &Repo,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Result<Outcome, PlaybookError> {
        while self.next_step().is_some() {
            self.run_next(repo, ev)?;
        }
        Ok(self
            .outcome
            .clone()
            .expect("a finished playbook has an outcome"))
    }

    /// Runs the next step. A refusal or a step that could not run ends the
    /// playbook with an error (recorded); a failed verification ends it
    /// with an outcome that is not released.
    pub fn run_next(
        &mut self,
        repo: &Repo,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Result<(), PlaybookError> {
        let Some(step) = self.next_step() else {
            return Ok(());
        };
        self.set(step, StepState::Running, ev);
        let r = match step {
            Step::Evidence => self.evidence(repo),
            Step::Checkout => self.do_checkout(repo, ev),
            Step::Gate => self.do_gate(repo, ev),
            Step::Deploy => self.deploy(repo, ev),
            Step::Verify => self.do_verify(repo, ev),
            Step::Release => self.release(repo),
        };
        match r {
            Ok(note) => {
                let verification_failed =
                    step == Step::Verify && self.outcome.as_ref().is_some_and(|o| !o.released);
                if step == Step::Deploy && self.deploy_failed.is_some() {
                    self.set(step, StepState::Failed(note), ev);
                } else if step == Step::Verify && self.deploy_failed.is_some() {
                    let ok = self.verify.as_ref().is_some_and(|r| r.ok);
                    self.set(
                        step,
                        if ok {
                            StepState::Done(note)
                        } else {
                            StepState::Failed(note)
                        },
                        ev,
                    );
                    self.set(
                        Step::Release,
                        StepState::Failed("not released: the deploy failed".into()),
                        ev,
                    );
                } else if verification_failed {
                    self.set(step, StepState::Failed(note), ev);
                    self.set(
                        Step::Release,
                        StepState::Failed("not released: live verification failed".into()),
                        ev,
                    );
                } else {
                    self.set(step, StepState::Done(note), ev);
                }
                Ok(())
            }
            Err(e) => {
                self.set(step, StepState::Failed(e.to_string()), ev);
                self.finish_failed();
                Err(e)
            }
        }
    }

    fn finish_failed(&mut self) {
        if let Some(s) = self.staged.take() {
            let _ = std::fs::remove_file(&s.path);
        }
        if let Some(j) = self.job.as_mut() {
            let _ = j.finish("FAILED", "the playbook stopped");
        }
        self.lock = None;
        self.checkout = None;
        if self.outcome.is_none() {
            self.outcome = Some(self.outcome_base());
        }
    }

    /// Ends a started playbook that waits between its steps, on the user's
    /// word: recorded in the audit chain as `ABANDONED` with the steps done,
    /// its journal finished, the staged backup removed, the lock and the
    /// checkout freed. Returns the one-line summary.
    pub fn abandon(&mut self, repo: &Repo) -> String {
        let done: Vec<&str> = self
            .steps
            .iter()
            .filter(|(_, st)| matches!(st, StepState::Done(_)))
            .map(|(s, _)| s.title())
            .collect();
        let next = self.next_step().map(Step::title).unwrap_or("none");
        let summary = format!(
            "abandoned before “{next}” ({} done)",
            if done.is_empty() {
                "no step".to_string()
            } else {
                done.join(", ")
            }
        );
        let _ = record(
            repo,
            &self.cfg,
            NewEntry::new(&self.actor, "deploy", &self.branch.name, "ABANDONED")
                .with_details(json!({ "commit": self.branch.head, "done": done, "next": next })),
        );
        if let Some(j) = self.job.as_mut() {
            let _ = j.finish("ABANDONED", &summary);
        }
        self.job = None;
        self.finish_failed();
        summary
    }

    fn outcome_base(&self) -> Outcome {
        Outcome {
            branch: self.branch.name.clone(),
            commit: self.branch.head.clone(),
            build_id: self.build_id.clone(),
            released: false,
            tag: None,
            backup: None,
            release_log: None,
            verify: self.verify.clone(),
            offer_rollback: false,
            auto_rollback: None,
            deploy_failed: self.deploy_failed.clone(),
            notes: Vec::new(),
        }
    }

    fn refuse(&self, repo: &Repo, why: String) -> PlaybookError {
        let _ = record(
            repo,
            &self.cfg,
            NewEntry::new(&self.actor, "deploy", &self.branch.name, "REFUSED").with_details(
                json!({
                    "commit": self.branch.head,
                    "why": why,
                }),
            ),
        );
        alerts::refused(repo, &self.cfg, "deploy", &self.branch.name, &why);
        PlaybookError::Refused(Refused(why))
    }

    /// Step 1: authority, locks, and the package's evidence.
    fn evidence(&mut self, repo: &Repo) -> Result<String, PlaybookError> {
        let drill = repo.is_drill();
        let user = repo.user(&self.cfg);
        if !user.release_manager && !drill {
            return Err(self.refuse(
                repo,
                format!("{} is not a release manager (release_managers in guardrail.toml on the main branch)", user.name),
            ));
        }
        let st = super::team::lock_status(&repo.state.path);
        if let Some(h) = st.held {
            return Err(self.refuse(repo, format!("the deploy lock is held by {h}")));
        }
        if let Some(z) = st.frozen.filter(|z| z.owner != user.name) {
            return Err(self.refuse(repo, format!("deploys are frozen by {z}")));
        }
        let ctx = Context::load(repo, &self.cfg).map_err(other)?;
        let a =
            package::assess(repo, &self.cfg, &self.branch, &ctx, entry_hash_ok).map_err(other)?;
        if a.state != PackageState::Ready {
            let mut reasons: Vec<String> = a
                .items
                .iter()
                .filter(|i| !i.passes())
                .map(|i| format!("{}: {}", i.key, i.reason.clone().unwrap_or_default()))
                .collect();
            if a.guard_pending() {
                reasons.push(format!(
                    "guard: {}",
                    super::handoff::guard::refusal(&self.branch.name, &a.guard_changes)
                ));
            }
            let why = if reasons.is_empty() {
                format!(
                    "the package of {} is {}",
                    self.branch.name,
                    a.state.as_str()
                )
            } else {
                format!(
                    "the package of {} is {} ({})",
                    self.branch.name,
                    a.state.as_str(),
                    reasons.join("; ")
                )
            };
            return Err(self.refuse(repo, why));
        }
        // The proposed tag, if still free; else the next free one today.
        let tags = repo.tag_names().map_err(other)?;
        let proposed = a
            .manifest
            .as_ref()
            .map(|m| m.proposed_tag.clone())
            .unwrap_or_default();
        self.tag = Some(if !proposed.is_empty() && !tags.contains(&proposed) {
            proposed
        } else {
            next_free_tag(&self.cfg.project.tag_prefix, Utc::now().date_naive(), &tags)
        });
        Ok(format!(
            "package ready; will release as {}",
            self.tag.as_deref().unwrap_or("?")
        ))
    }

    /// Step 2: the deploy lock, then a clean checkout of the branch head.
    fn do_checkout(
        &mut self,
        repo: &Repo,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Result<String, PlaybookError> {
        let info = LockInfo::new(&self.actor, "deploy", &self.branch.name);
        match super::deploy::take_lock(repo, &self.cfg, info) {
            Ok(l) => self.lock = Some(l),
            Err(e @ (LockError::Held(_) | LockError::Frozen(_) | LockError::Team(_))) => {
                return Err(self.refuse(repo, e.to_string()))
            }
            Err(e) => return Err(other(e)),
        }
        // Under the lock: a dead job's script must not publish after us.
        end_dead_jobs(repo, &self.cfg, ev).map_err(PlaybookError::Step)?;
        let job = Job::create(&repo.state.path, "deploy", &self.branch.name, &self.actor)
            .map_err(other)?;
        self.job = Some(job);
        let co = checkout::prepare(
            repo,
            self.cfg.playbook.checkout,
            &self.branch.name,
            &self.branch.head,
        )
        .map_err(|e| match e {
            checkout::CheckoutError::Dirty { .. } => PlaybookError::Refused(Refused(e.to_string())),
            other => PlaybookError::Step(StepFailed(other.to_string())),
        })?;
        let where_ = co.path.display().to_string();
        self.checkout = Some(co);
        Ok(format!(
            "{} at {} in {where_}",
            self.branch.name,
            &self.branch.head[..8.min(self.branch.head.len())]
        ))
    }

    /// Step 3: the gate again, on this box.
    fn do_gate(
        &mut self,
        repo: &Repo,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Result<String, PlaybookError> {
        let answers = self.answers.clone().unwrap_or(Answers::Closed);
        let (tx, rx) = std::sync::mpsc::channel::<Event>();
        let tx2 = tx.clone();
        // git2 handles stay on this thread; the events are passed on from
        // another one as they come.
        let report = std::thread::scope(|s| {
            s.spawn(move || {
                for e in rx {
                    ev(e);
                }
            });
            gate::run(
                repo,
                &self.cfg,
                &self.branch,
                answers,
                move |handle, _| {
                    let _ = tx2.send(Event::Script(handle));
                },
                forward(tx),
            )
        });
        let report = match report {
            Ok(r) => r,
            Err(
                e @ (gate::GateError::Script(_)
                | gate::GateError::Checkout(_)
                | gate::GateError::Prepare(_)),
            ) => return Err(PlaybookError::Step(StepFailed(e.to_string()))),
            Err(e) => return Err(other(e)),
        };
        let verdict = report.verdict;
        let mut summary = format!("gate {} (audit #{})", verdict.as_str(), report.audit_seq);
        if let Some(l) = &report.failure_line {
            summary.push_str(&format!(": {l}"));
        }
        for e in &report.effects {
            summary.push_str(&format!("; {e}"));
        }
        self.gate = Some(report);
        match verdict {
            Verdict::Pass => Ok(summary),
            Verdict::Fail => Err(self.refuse(
                repo,
                format!("the gate did not pass on {}: {summary}", self.branch.name),
            )),
            Verdict::TimedOut | Verdict::Cancelled => Err(PlaybookError::Step(StepFailed(
                format!("the gate was ended before it finished: {summary}"),
            ))),
        }
    }

    fn context(&self, action: &str, co: &Path) -> ScriptContext {
        ScriptContext {
            action: action.into(),
            branch: self.branch.name.clone(),
            commit: self.branch.head.clone(),
            tag: self.tag.clone().unwrap_or_default(),
            build_id: self.build_id.clone().unwrap_or_default(),
            bundle_dir: config::resolve(co, &self.cfg.project.bundle_dir),
            drill: false,
            deploy_url: self.cfg.live.url.clone(),
            actor: self.actor.clone(),
        }
    }

    /// Step 4: stamp the BUILD_ID, stage the backup, deploy.
    fn deploy(
        &mut self,
        repo: &Repo,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Result<String, PlaybookError> {
        let co = self.checkout.as_ref().expect("checked out").path.clone();
        let build_id = scripts::build_id(&self.branch.head, Utc::now());
        self.build_id = Some(build_id.clone());
        let bundle = config::resolve(&co, &self.cfg.project.bundle_dir);
        super::buildid::stamp_files(&bundle, &self.cfg.live.stamp, &build_id).map_err(|e| {
            PlaybookError::Step(StepFailed(format!(
                "could not stamp the BUILD_ID into {}: {e}",
                bundle.display()
            )))
        })?;
        let tag = self.tag.clone().expect("evidence step chose a tag");
        let staging = format!("pending-{tag}-{}", std::process::id());
        let staged = backup::write_backup(repo, &self.cfg, &staging, Source::Dir(co.clone()))
            .map_err(|e| {
                PlaybookError::Step(StepFailed(format!(
                    "the backup could not be written, so nothing was deployed: {e}"
                )))
            })?;
        self.staged = Some(staged);
        let mut ctx = self.context("deploy", &co);
        ctx.drill = repo.is_drill();
        let log = self.job_log("deploy");
        let script = self.cfg.scripts.deploy.clone();
        let job = &mut self.job;
        // The deploy script's process group and start time go into the
        // journal, so that a later run can end it if this process dies.
        let mut note_script = |e: Event| {
            if let (Event::Script(h), Some(j)) = (&e, job.as_mut()) {
                let _ = j.set_script(h.pid(), &script);
            }
            ev(e)
        };
        let result = publish(repo, &self.cfg, &co, &ctx, log, &mut note_script);
        let _ = record(
            repo,
            &self.cfg,
            NewEntry::new(
                &self.actor,
                "deploy",
                &self.branch.name,
                if result.is_ok() { "OK" } else { "FAILED" },
            )
            .with_details(json!({
                "commit": self.branch.head,
                "build_id": build_id,
                "how": result.clone().unwrap_or_else(|e| e),
            })),
        );
        // Published: production now serves this build, not yet verified.
        // Failed: nobody knows what it serves (half-published, or the old
        // build): the record says which build failed where, never that
        // either build is live.
        let failure = result
            .as_ref()
            .err()
            .map(|e| format!("deploy of {build_id} failed at deploy: {e}"));
        let _ = repo.state.write_live(&LiveRecord {
            tag: None,
            commit: self.branch.head.clone(),
            build_id: build_id.clone(),
            branch: Some(self.branch.name.clone()),
            action: "deploy".into(),
            actor: self.actor.clone(),
            time: Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            health: if failure.is_some() {
                LiveHealth::Unknown
            } else {
                LiveHealth::Unverified
            },
            bad_tags: repo
                .state
                .read_live()
                .ok()
                .flatten()
                .map(|l| l.bad_tags)
                .unwrap_or_default(),
            failure: failure.clone(),
        });
        match result {
            Ok(how) => Ok(format!("BUILD_ID {build_id}: {how}")),
            Err(e) => {
                // Nothing after this releases. Verification still runs once,
                // to show what production serves and offer the rollback.
                self.deploy_failed = failure;
                Ok(format!("BUILD_ID {build_id}: the deploy failed: {e}"))
            }
        }
    }

    fn job_log(&self, name: &str) -> PathBuf {
        match &self.job {
            Some(j) => j.dir.join(format!("{name}.log")),
            None => std::env::temp_dir().join(format!("guardrail-{name}.log")),
        }
    }

    /// Step 5: every live check and the verify script.
    fn do_verify(
        &mut self,
        repo: &Repo,
        ev: &mut (dyn FnMut(Event) + Send),
    ) -> Result<String, PlaybookError> {
        let co = self.checkout.as_ref().expect("checked out").path.clone();
        let expect = Expect {
            build_id: self.build_id.clone(),
            baseline: package_baseline(repo, &self.cfg, &self.branch.head),
            manifest: None,
        };
        let mut opts = VerifyOptions::from_config(&self.cfg.live);
        if self.deploy_failed.is_some() {
            // Nothing new is on its way: one attempt per check, no waiting
            // out the deadline.
            opts.deadline = std::time::Duration::ZERO;
        }
        let report = run_verify_with(
            &self.cfg,
            &co,
            &self.context("verify", &co),
            expect,
            opts,
            self.job_log("verify"),
            ev,
        );
        let ok = report.ok;
        let failing: Vec<String> = report
            .failures()
            .map(|c| format!("{}: {}", c.name, c.last_error.clone().unwrap_or_default()))
            .collect();
        let _ = record(
            repo,
            &self.cfg,
            NewEntry::new(
                &self.actor,
                "verify",
                &self.branch.name,
                if ok { "OK" } else { "FAILED" },
            )
            .with_details(json!({
                "url": report.url,
                "build_id": self.build_id,
                "failing": failing,
            })),
        );
        self.verify = Some(report.clone());
        if let Some(failure) = self.deploy_failed.clone() {
            return Ok(self.after_failed_deploy(repo, &report, &failing, failure));
        }
        if ok {
            // Verified, not released yet: the record says so, so that a
            // release step that cannot write (full disk) leaves it true.
            if let Ok(Some(mut live)) = repo.state.read_live() {
                if live.build_id.as_str() == self.build_id.as_deref().unwrap_or_default() {
                    live.health = LiveHealth::Ok;
                    live.failure = None;
                    let _ = repo.state.write_live(&live);
                }
            }
            return Ok(format!("all {} checks passed", report.checks.len()));
        }
        // Stop: tag nothing, keep no backup, mark production failed. The
        // build has no tag, so nothing is added to `bad_tags` (that list is
        // for prod tags whose rollback failed verification).
        let live = match repo.state.read_live() {
            Ok(Some(mut live)) => {
                live.health = LiveHealth::Failed;
                let _ = repo.state.write_live(&live);
                Some(live)
            }
            _ => None,
        };
        let mut out = self.outcome_base();
        out.notes
            .push(format!("live verification failed: {}", failing.join("; ")));
        match self.cfg.playbook.rollback_on_failure {
            OnFailure::Ask => out.offer_rollback = true,
            OnFailure::Auto => {
                // The same target `guardrail rollback` picks: the newest prod
                // tag that is not live and not marked bad.
                out.auto_rollback =
                    super::deploy::default_target(repo, &self.cfg, live.as_ref()).map(|t| t.name)
            }
            OnFailure::Never => {}
        }
        let _ = record(
            repo,
            &self.cfg,
            NewEntry::new(&self.actor, "release", &self.branch.name, "FAILED").with_details(
                json!({
                    "commit": self.branch.head,
                    "build_id": self.build_id,
                    "why": "live verification failed",
                }),
            ),
        );
        alerts::verification_failed(
            repo,
            &self.cfg,
            "deploy",
            &self.branch.name,
            &report,
            &failing,
        );
        self.outcome = Some(out);
        self.finish_failed();
        Ok(format!(
            "❌ {} failed: {}",
            failing.len(),
            failing.join("; ")
        ))
    }

    /// The end of a playbook whose deploy failed, after the one round of
    /// live checks: nothing is released, the live record stays `unknown`,
    /// the rollback is offered (or, `auto`, made).
    fn after_failed_deploy(
        &mut self,
        repo: &Repo,
        report: &VerifyReport,
        failing: &[String],
        failure: String,
    ) -> String {
        let live = repo.state.read_live().ok().flatten();
        let mut out = self.outcome_base();
        out.notes
            .push(format!("{failure}; production state unknown"));
        match self.cfg.playbook.rollback_on_failure {
            OnFailure::Ask => out.offer_rollback = true,
            OnFailure::Auto => {
                out.auto_rollback =
                    super::deploy::default_target(repo, &self.cfg, live.as_ref()).map(|t| t.name)
            }
            OnFailure::Never => {}
        }
        self.outcome = Some(out);
        self.finish_failed();
        if report.ok {
            format!(
                "all {} checks passed, but the deploy failed: production state unknown",
                report.checks.len()
            )
        } else {
            format!(
                "what production serves: ❌ {} failed: {}",
                failing.len(),
                failing.join("; ")
            )
        }
    }

    /// Step 6: tag, archive, log, live record.
    fn release(&mut self, repo: &Repo) -> Result<String, PlaybookError> {
        let mut notes = Vec::new();
        let head = git2::Oid::from_str(&self.branch.head).map_err(other)?;
        let gate = self.gate.clone().expect("gate ran");
        let build_id = self.build_id.clone().expect("deployed");
        let mut tag = self.tag.clone().expect("tag chosen");
        let msg = ReleaseMessage {
            branch: self.branch.name.clone(),
            build_id: build_id.clone(),
            released_by: self.actor.clone(),
            gate_audit_hash: gate.audit.hash.clone(),
        };
        // A tag that appeared meanwhile is never moved: take the next .N.
        let checkpoint = loop {
            match release::create_release_tag(repo, &self.cfg, &tag, head, msg.clone()) {
                Ok(c) => break c,
                Err(release::ReleaseError::TagExists(t)) => {
                    let next = repo
                        .next_free_tag(&self.cfg.project.tag_prefix, Utc::now().date_naive())
                        .map_err(other)?;
                    notes.push(format!(
                        "{t} already existed and was left alone; released as {next}"
                    ));
                    let _ = record(
                        repo,
                        &self.cfg,
                        NewEntry::new(&self.actor, "tag", &t, "EXISTS")
                            .with_details(json!({ "used": next })),
                    );
                    tag = next;
                }
                Err(e) => {
                    let why = format!(
                        "verified live but not released, {e}; nothing was tagged or archived"
                    );
                    let _ = record(
                        repo,
                        &self.cfg,
                        NewEntry::new(&self.actor, "release", &self.branch.name, "FAILED")
                            .with_details(json!({
                                "commit": self.branch.head,
                                "build_id": build_id,
                                "why": why,
                            })),
                    );
                    return Err(PlaybookError::Step(StepFailed(why)));
                }
            }
        };
        let staged = self.staged.take().expect("backup staged");
        let info = match backup::promote(repo, &self.cfg, &staged, &tag) {
            Ok(i) => i,
            Err(e) => {
                let _ = std::fs::remove_file(&staged.path);
                return Err(other(e));
            }
        };
        let log_tail = release::read_log_tail(Path::new(&gate.log), release::GATE_LOG_LINES)
            .unwrap_or_default();
        let checks = self
            .verify
            .as_ref()
            .map(VerifyReport::log_lines)
            .unwrap_or_default();
        let now = Utc::now();
        let log_path = release::write_release_log(
            repo,
            &self.cfg,
            &ReleaseLogEntry {
                kind: ReleaseKind::Deploy,
                time: now,
                initiated_by: self.actor.clone(),
                branch: Some(self.branch.name.clone()),
                commit: self.branch.head.clone(),
                tag: tag.clone(),
                backup: Some(info.path.display().to_string()),
                build_id: build_id.clone(),
                gate: Some(GateEvidence {
                    verdict: gate.verdict.as_str().into(),
                    audit_seq: Some(gate.audit_seq),
                    audit_hash: Some(gate.audit.hash.clone()),
                    log_sha256: Some(gate.log_sha256.clone()),
                    log_tail,
                }),
                checks,
            },
        )
        .map_err(other)?;
        let prev = repo.state.read_live().ok().flatten();
        repo.state
            .write_live(&LiveRecord {
                tag: Some(tag.clone()),
                commit: self.branch.head.clone(),
                build_id: build_id.clone(),
                branch: Some(self.branch.name.clone()),
                action: "deploy".into(),
                actor: self.actor.clone(),
                time: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                health: LiveHealth::Ok,
                bad_tags: prev.map(|l| l.bad_tags).unwrap_or_default(),
                failure: None,
            })
            .map_err(other)?;
        record(
            repo,
            &self.cfg,
            NewEntry::new(&self.actor, "release", &self.branch.name, "OK").with_details(json!({
                "tag": tag,
                "commit": self.branch.head,
                "build_id": build_id,
                "backup": info.path.display().to_string(),
                "manifest_sha256": info.manifest_sha256,
                "release_log": log_path.display().to_string(),
                "checkpoint": checkpoint.map(|c| c.to_string()),
                "seconds": self.started.elapsed().as_secs_f64(),
            })),
        )
        .map_err(other)?;
        if self.cfg.playbook.push_tags {
            match release::push_tag(repo, &tag) {
                Ok(()) => notes.push(format!("pushed {tag} to origin")),
                Err(e) => notes.push(format!("{tag} was not pushed: {e}")),
            }
        }
        if let Some(j) = self.job.as_mut() {
            let _ = j.finish("RELEASED", &format!("released {tag}"));
        }
        let mut out = self.outcome_base();
        out.released = true;
        out.tag = Some(tag.clone());
        out.backup = Some(info.path.display().to_string());
        out.release_log = Some(log_path.display().to_string());
        out.notes = notes;
        self.outcome = Some(out);
        self.lock = None;
        self.checkout = None;
        Ok(format!(
            "released {tag}; backup {}; log {}",
            info.path.display(),
            log_path.display()
        ))
    }
}

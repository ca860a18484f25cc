//! The playbook pane's state: the steps of a release with their results,
//! the live checks as they come in, and why a step may not run. The steps
//! themselves run in a worker that owns the pipeline's `Playbook`; the
//! script output goes to the log pane's `JobView`.
use crate::pipeline::playbook::{Outcome, Step, StepState};
use crate::pipeline::rollback::RollbackOutcome;
use crate::pipeline::verify::CheckStatus;

/// What the console asks the playbook worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayCmd {
    Next,
    All,
    /// End a started playbook waiting between steps: recorded as
    /// abandoned, its lock and checkout freed.
    Abandon,
}

#[derive(Debug, Clone)]
pub struct PlaybookView {
    /// The branch released, or for a rollback the target tag.
    pub branch: String,
    /// A rollback rather than a release.
    pub rollback: Option<Box<RollbackOutcomeView>>,
    pub steps: Vec<(Step, StepState)>,
    pub checks: Vec<CheckStatus>,
    /// A step is running now.
    pub busy: bool,
    /// Run the remaining steps one after another.
    pub auto: bool,
    pub outcome: Option<Outcome>,
    /// Why the playbook stopped (refused, a step could not run).
    pub error: Option<String>,
    /// Known before anything runs: why a step will be refused.
    pub blockers: Vec<String>,
}

impl PlaybookView {
    pub fn new(branch: String, blockers: Vec<String>) -> PlaybookView {
        PlaybookView {
            branch,
            rollback: None,
            steps: Step::ALL.iter().map(|s| (*s, StepState::Waiting)).collect(),
            checks: Vec::new(),
            busy: false,
            auto: false,
            outcome: None,
            error: None,
            blockers,
        }
    }

    /// The step Enter runs next.
    pub fn next_step(&self) -> Option<Step> {
        if self.ended() {
            return None;
        }
        self.steps
            .iter()
            .find(|(_, st)| matches!(st, StepState::Waiting | StepState::Running))
            .map(|(s, _)| *s)
    }

    pub fn ended(&self) -> bool {
        self.outcome.is_some()
            || self.error.is_some()
            || self.rollback.as_ref().is_some_and(|r| r.outcome.is_some())
    }

    pub fn set_step(&mut self, step: Step, st: StepState) {
        if let Some(slot) = self.steps.iter_mut().find(|(s, _)| *s == step) {
            slot.1 = st;
        }
    }

    pub fn set_check(&mut self, c: CheckStatus) {
        match self.checks.iter_mut().find(|x| x.name == c.name) {
            Some(slot) => *slot = c,
            None => self.checks.push(c),
        }
    }

    /// Live verification failed and the configuration says to ask.
    pub fn offers_rollback(&self) -> bool {
        self.outcome.as_ref().is_some_and(|o| o.offer_rollback)
    }
}

/// A rollback shown in the playbook screen: its target and, once ended, how
/// it went.
#[derive(Debug, Clone)]
pub struct RollbackOutcomeView {
    pub target: String,
    pub reason: String,
    pub outcome: Option<RollbackOutcome>,
}

impl PlaybookView {
    /// A rollback to `target`, running as soon as it is shown.
    pub fn for_rollback(target: String, reason: String) -> PlaybookView {
        let mut v = PlaybookView::new(target.clone(), Vec::new());
        v.steps = [Step::Checkout, Step::Deploy, Step::Verify, Step::Release]
            .iter()
            .map(|s| (*s, StepState::Waiting))
            .collect();
        v.busy = true;
        v.rollback = Some(Box::new(RollbackOutcomeView {
            target,
            reason,
            outcome: None,
        }));
        v
    }

    /// The title of a step as this kind of run calls it.
    pub fn title(&self, step: Step) -> &'static str {
        if self.rollback.is_some() {
            crate::pipeline::rollback::step_title(step)
        } else {
            step.title()
        }
    }
}

// The playbook screen: its keys, what the worker reports, and why a step
// will be refused.
use super::job::{JobEnd, JobView};
use super::keys::Action;
use super::state::{App, BranchRow, PlayMsg, Request, Screen};
use crate::pipeline::handoff::PackageState;

impl App {
    pub(super) fn on_play(&mut self, m: PlayMsg) {
        use crate::pipeline::playbook::Event;
        self.dirty = true;
        let (Some(pb), Some(job)) = (self.playbook.as_mut(), self.job.as_mut()) else {
            return;
        };
        match m {
            PlayMsg::Event(Event::Step(step, st)) => {
                if step == crate::pipeline::playbook::Step::Deploy && pb.rollback.is_none() {
                    self.seen.deployed = Some(pb.branch.clone());
                }
                if matches!(st, crate::pipeline::playbook::StepState::Running) {
                    job.log.push(&format!("\n── {} ──\n", pb.title(step)));
                }
                pb.set_step(step, st);
            }
            PlayMsg::Event(Event::Output(s)) => {
                job.on_event(crate::pipeline::runner::RunEvent::Output(s))
            }
            PlayMsg::Event(Event::Prompt(p)) => {
                job.on_event(crate::pipeline::runner::RunEvent::Prompt(p));
                // The user quit while the step ran: a script that now asks
                // would wait for nobody; it is cancelled (and recorded).
                if self.quit_when_idle && !self.detached {
                    if let Some(h) = &job.handle {
                        h.cancel();
                    }
                }
            }
            PlayMsg::Event(Event::Script(h)) => job.handle = Some(h),
            PlayMsg::Event(Event::Check(c)) => pb.set_check(c),
            PlayMsg::Idle => {
                pb.busy = false;
                job.prompt = None;
                job.input_focus = false;
                if pb.auto && pb.next_step().is_some() {
                    // `a`: it goes on to its end, quitting or not.
                    pb.busy = true;
                    self.requests.push(Request::Play(PlayCmd::Next));
                } else if self.quit_when_idle {
                    // Quitting: the playbook does not wait unrecorded.
                    pb.busy = true;
                    self.requests.push(Request::Play(PlayCmd::Abandon));
                }
            }
            PlayMsg::RollbackEnded(result, live) => {
                pb.busy = false;
                let (ok, summary) = match &*result {
                    Ok(o) if o.verified => (
                        true,
                        format!(
                            "production serves {} again, verified in {}s",
                            o.target,
                            crate::pipeline::common::seconds(o.seconds_to_verified.unwrap_or(o.seconds))
                        ),
                    ),
                    Ok(o) if !o.deploy_ok => (
                        false,
                        format!(
                            "the rollback to {} failed at deploy: what production serves is unknown",
                            o.target
                        ),
                    ),
                    Ok(o) => (
                        false,
                        format!("rolled back to {} but verification failed", o.target),
                    ),
                    Err(e) => (false, e.clone()),
                };
                match *result {
                    Ok(o) => {
                        if let Some(r) = pb.rollback.as_mut() {
                            r.outcome = Some(o);
                        }
                    }
                    Err(e) => pb.error = Some(e),
                }
                self.seen.rollback_verified |= ok;
                job.finished(JobEnd {
                    ok,
                    summary: summary.clone(),
                });
                self.message = Some(format!("rollback: {summary}"));
                if let Some(l) = live {
                    self.live = Some(*l);
                }
                self.refresh_requested = true;
                self.requests.push(Request::ReadState);
                if self.quit_when_idle {
                    self.quit = true;
                }
            }
            PlayMsg::Ended(result, live) => {
                let result = *result;
                let live = live.map(|l| *l);
                pb.busy = false;
                pb.auto = false;
                let summary = match &result {
                    Ok(o) if o.released => {
                        format!("released {}", o.tag.clone().unwrap_or_default())
                    }
                    Ok(o) => o.notes.join("; "),
                    Err(e) => e.clone(),
                };
                let ok = result.as_ref().is_ok_and(|o| o.released);
                if result.as_ref().is_ok_and(|o| !o.released) {
                    self.seen.verification_failed = true;
                }
                match result {
                    Ok(o) => pb.outcome = Some(o),
                    Err(e) => pb.error = Some(e),
                }
                job.finished(JobEnd {
                    ok,
                    summary: summary.clone(),
                });
                self.message = Some(format!("deploy {}: {summary}", pb.branch));
                if live.is_some() {
                    self.live = live;
                }
                self.refresh_requested = true;
                self.requests.push(Request::ReadState);
                if self.quit_when_idle {
                    self.quit = true;
                }
            }
        }
    }

    /// Why the playbook of the selected branch will be refused, as far as
    /// the console knows (the pipeline decides, and records).
    pub(super) fn blockers(&self, row: &BranchRow) -> Vec<String> {
        let mut v = Vec::new();
        if !self.user.release_manager {
            v.push(format!(
                "{} is not a release manager (release_managers on the main branch)",
                self.user.name
            ));
        }
        match row.package {
            Some(PackageState::Ready) => {}
            Some(s) => v.push(format!(
                "the package is {} (Enter on the branch explains)",
                s.as_str()
            )),
            None => {}
        }
        if let Some(h) = &self.lock.held {
            v.push(format!("the deploy lock is held by {h}"));
        }
        if let Some(z) = self
            .lock
            .frozen
            .as_ref()
            .filter(|z| z.owner != self.user.name)
        {
            v.push(format!("deploys are frozen by {z}"));
        }
        v
    }

    /// What a key that starts another job says while a started playbook
    /// waits between its steps.
    pub(super) fn waiting_playbook_note(&self, key: &str) -> String {
        let name = self
            .playbook
            .as_ref()
            .map(|p| p.branch.clone())
            .unwrap_or_default();
        format!("the deploy of {name} waits between its steps: L returns to it, x there abandons it (recorded), then {key}")
    }

    /// Opens (or returns to) the playbook of the selected branch. An open
    /// playbook that has not started a step gives way to another branch's.
    pub(super) fn open_playbook(&mut self) {
        let selected = self.selected_branch().map(|b| b.r.name.clone());
        if let Some(pb) = self.playbook.as_ref().filter(|p| !p.ended()) {
            let name = pb.branch.clone();
            let same = selected.as_deref() == Some(name.as_str());
            if same || !self.playbook_unstarted() {
                if !same {
                    self.message = Some(if self.playbook_waiting() {
                        self.waiting_playbook_note("d")
                    } else {
                        format!("the playbook of {name} is running: it comes first")
                    });
                }
                self.screen = Screen::Playbook;
                return;
            }
            self.close_unstarted_playbook();
        }
        if self.job_running() {
            self.message = Some("a job is running (L shows it)".into());
            return;
        }
        let Some(row) = self.selected_branch() else {
            return;
        };
        let branch = row.r.name.clone();
        let blockers = self.blockers(row);
        self.playbook = Some(PlaybookView::new(branch.clone(), blockers));
        let mut view = JobView::new(format!("deploy {branch}"));
        view.follow = true;
        self.job = Some(view);
        self.message = None;
        self.requests.push(Request::Playbook { branch });
        self.screen = Screen::Playbook;
    }

    /// Keys of the playbook screen; false when not the screen's own.
    pub(super) fn playbook_act(&mut self, a: Action) -> bool {
        let Some(pb) = self.playbook.as_mut() else {
            return false;
        };
        match a {
            Action::RunStep | Action::RunAll => {
                if pb.busy {
                    self.message = Some("a step is running".into());
                } else if pb.next_step().is_none() {
                    self.message = Some("the playbook has ended".into());
                } else {
                    pb.busy = true;
                    pb.auto = a == Action::RunAll;
                    self.requests.push(Request::Play(PlayCmd::Next));
                    if let Some(job) = self.job.as_mut() {
                        job.follow = true;
                    }
                }
                true
            }
            Action::Up | Action::Down => {
                if let Some(job) = self.job.as_mut() {
                    job.scroll(if a == Action::Up { -1 } else { 1 });
                }
                true
            }
            Action::Follow => {
                if let Some(job) = self.job.as_mut() {
                    job.to_end();
                }
                true
            }
            Action::Answer => {
                if let Some(job) = self.job.as_mut() {
                    if job.awaits_answer() {
                        job.input_focus = true;
                    }
                }
                true
            }
            Action::CancelJob => {
                let started = pb.rollback.is_none()
                    && !pb.busy
                    && !pb.ended()
                    && pb.steps.iter().any(|(_, st)| {
                        !matches!(st, crate::pipeline::playbook::StepState::Waiting)
                    });
                if started {
                    // Waiting between steps: abandon it (asks first).
                    self.open(super::modal::Modal::ConfirmAbandon);
                } else if pb.busy && self.job.as_ref().is_some_and(|j| j.handle.is_some()) {
                    self.open(super::modal::Modal::ConfirmCancel);
                }
                true
            }
            _ => false,
        }
    }
}

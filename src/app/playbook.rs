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

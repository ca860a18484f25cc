//! The playbook pane's state: the steps of a release with their results,
//! the live checks as they come in, and why a step may not run. The steps
//! themselves run in a worker that owns the pipeline's `Playbook`; the
//! script output goes to the log pane's `JobView`.
use crate::pipeline::playbook::{Outcome, Step, StepState};
use crate::pipeline::verify::CheckStatus;

/// What the console asks the playbook worker to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlayCmd {
    Next,
    All,
}

#[derive(Debug, Clone)]
pub struct PlaybookView {
    pub branch: String,
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
        self.outcome.is_some() || self.error.is_some()
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

//! The drill's coach: six numbered steps a first-time release manager walks
//! in the sandbox, each ticked when the user actually does it, with the key
//! to press, and at the end the time from the failed verification to the
//! verified restore. The app calls [`Coach::observe`] after every change;
//! the coach only reads the app's state.
use std::path::PathBuf;
use std::time::Instant;

/// What the drill told the console about its sandbox.
#[derive(Debug, Clone)]
pub struct DrillInfo {
    pub ready_branch: String,
    pub bad_branch: String,
    pub golden: String,
    pub url: String,
    /// Where the drill report is written.
    pub report: PathBuf,
}

/// The steps, their hints.
pub const STEPS: [(&str, &str); 6] = [
    ("Review a ready package", "select {ready} and press Enter"),
    (
        "Run the playbook on the bad branch",
        "select {bad}, press d, then a (answer yes to the gate)",
    ),
    (
        "Watch live verification fail",
        "the auth modal check turns ❌",
    ),
    ("Roll back with one key", "press R, then y"),
    ("See every check ✅", "the rollback verifies production"),
    ("Read the rollout log and the audit chain", "press A"),
];

#[derive(Debug, Clone)]
pub struct Coach {
    pub info: DrillInfo,
    pub done: [bool; 6],
    pub failed_at: Option<Instant>,
    pub restored_at: Option<Instant>,
    /// The report was asked to be written (once).
    pub reported: bool,
}

/// What the coach watches, taken from the app each time.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    /// A ready package reviewed: its branch.
    pub reviewed_ready: Option<String>,
    /// The branch whose playbook reached its deploy step.
    pub deployed: Option<String>,
    /// The last playbook's verification failed.
    pub verification_failed: bool,
    /// A rollback restored production and verified it. Only this ticks the
    /// rollback step: a rollback refused under the lock (the plan went
    /// stale) or one that failed rolled nothing back.
    pub rollback_verified: bool,
    /// The records screen was opened.
    pub records_read: bool,
}

impl Coach {
    pub fn new(info: DrillInfo) -> Coach {
        Coach {
            info,
            done: [false; 6],
            failed_at: None,
            restored_at: None,
            reported: false,
        }
    }

    /// The step to do next: the first one not done after the last one
    /// done, so a step skipped on the way is not asked for again (it can
    /// still be done, and is ticked when it is). None once the last step is
    /// done.
    pub fn current(&self) -> Option<usize> {
        if self.finished() {
            return None;
        }
        let after = self.done.iter().rposition(|d| *d).map_or(0, |i| i + 1);
        (after..STEPS.len())
            .find(|&i| !self.done[i])
            .or_else(|| self.done.iter().position(|d| !d))
    }

    /// The drill is over once its last step is done, whatever was skipped.
    pub fn finished(&self) -> bool {
        self.done[STEPS.len() - 1]
    }

    /// The steps not done (indices), once the drill is over: skipped.
    pub fn skipped(&self) -> Vec<usize> {
        (0..STEPS.len()).filter(|&i| !self.done[i]).collect()
    }

    pub fn hint(&self, i: usize) -> String {
        STEPS[i]
            .1
            .replace("{ready}", &self.info.ready_branch)
            .replace("{bad}", &self.info.bad_branch)
    }

    /// Ticks what the user has done, in any order: a step waits for an
    /// earlier one only where it is about the same event (the failure is
    /// the bad branch's deploy, the rollback counts once it is a verified
    /// restore, the records are read after it). Returns true when a step
    /// was ticked now.
    pub fn observe(&mut self, s: &Seen) -> bool {
        let before = self.done;
        if s.reviewed_ready.is_some() {
            self.done[0] = true;
        }
        if s.deployed.as_deref() == Some(self.info.bad_branch.as_str()) {
            self.done[1] = true;
        }
        if self.done[1] && s.verification_failed && !self.done[2] {
            self.done[2] = true;
            self.failed_at = Some(Instant::now());
        }
        if s.rollback_verified {
            self.done[3] = true;
        }
        if self.done[3] && s.rollback_verified && !self.done[4] {
            self.done[4] = true;
            self.restored_at = Some(Instant::now());
        }
        if self.done[4] && s.records_read {
            self.done[5] = true;
        }
        before != self.done
    }

    /// Seconds from the failed verification to the verified restore.
    pub fn seconds_to_restore(&self) -> Option<f64> {
        Some(
            self.restored_at?
                .duration_since(self.failed_at?)
                .as_secs_f64(),
        )
    }

    /// The drill report (Markdown) once every step is done.
    pub fn report(&self, user: &str) -> String {
        let mut s = String::from("# Rollback drill report\n\n");
        let skipped = self.skipped();
        let result = if !self.finished() {
            "not finished".to_string()
        } else if skipped.is_empty() {
            "PASSED ✅".to_string()
        } else {
            format!(
                "PASSED ✅ — {} of {} steps done; skipped: {}",
                STEPS.len() - skipped.len(),
                STEPS.len(),
                skipped
                    .iter()
                    .map(|&i| format!("{}. {}", i + 1, STEPS[i].0))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        s.push_str(&format!("- **Result:** {result}\n"));
        s.push_str(&format!("- **Release manager:** {user}\n"));
        s.push_str(&format!("- **Production:** {}\n", self.info.url));
        if let Some(t) = self.seconds_to_restore() {
            s.push_str(&format!(
                "- **From the failed verification to the verified restore:** {} s\n",
                crate::pipeline::common::seconds(t)
            ));
        }
        s.push_str("\n## Steps\n\n");
        for (i, (title, _)) in STEPS.iter().enumerate() {
            let mark = match (self.done[i], self.finished()) {
                (true, _) => "✅",
                (false, true) => "⏭ skipped:",
                (false, false) => "·",
            };
            s.push_str(&format!("{}. {mark} {title}\n", i + 1));
        }
        s
    }
}

// What the coach sees of the app.
use super::review::Assessed;
use super::state::{App, Request, Screen};
use crate::pipeline::handoff::PackageState;

impl App {
    /// What the coach sees of the user's progress, and the report at the end.
    pub(super) fn coach_observe(&mut self) {
        if self.coach.is_none() {
            return;
        }
        if self.screen == Screen::Review {
            if let Some(Assessed::Ready(a)) = self.selected_assessment() {
                if a.state == PackageState::Ready {
                    self.seen.reviewed_ready = Some(a.branch.clone());
                }
            }
        }
        let user = self.user.name.clone();
        let Some(coach) = self.coach.as_mut() else {
            return;
        };
        if coach.observe(&self.seen) {
            self.dirty = true;
        }
        // The records are read for the restore: a look before it is not
        // the last step.
        if !coach.done[4] {
            self.seen.records_read = false;
        }
        if coach.finished() && !coach.reported {
            coach.reported = true;
            self.requests.push(Request::WriteReport {
                path: coach.info.report.clone(),
                text: coach.report(&user),
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn coach() -> Coach {
        Coach::new(DrillInfo {
            ready_branch: "ready".into(),
            bad_branch: "bad".into(),
            golden: "prod-1".into(),
            url: "http://127.0.0.1:1".into(),
            report: PathBuf::from("DRILL_REPORT.md"),
        })
    }

    #[test]
    fn a_skipped_first_step_is_not_asked_for_after_the_later_ones() {
        let mut c = coach();
        assert_eq!(c.current(), Some(0));
        let mut s = Seen {
            deployed: Some("bad".into()),
            verification_failed: true,
            ..Seen::default()
        };
        c.observe(&s);
        assert_eq!(c.current(), Some(3));
        s.rollback_verified = true;
        c.observe(&s);
        assert_eq!(c.current(), Some(5));
        s.records_read = true;
        c.observe(&s);
        assert!(c.finished());
        assert_eq!(c.skipped(), vec![0]);
        let r = c.report("alice");
        assert!(r.contains("skipped: 1. Review a ready package"), "{r}");
    }

    #[test]
    fn the_records_count_only_after_the_restore() {
        let mut c = coach();
        c.observe(&Seen {
            records_read: true,
            ..Seen::default()
        });
        assert!(!c.finished());
        assert_eq!(c.current(), Some(0));
    }
}

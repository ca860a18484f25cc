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
    /// A rollback was confirmed.
    pub rollback_started: bool,
    /// The rollback verified production.
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

    /// The first step not done yet.
    pub fn current(&self) -> Option<usize> {
        self.done.iter().position(|d| !d)
    }

    pub fn finished(&self) -> bool {
        self.current().is_none()
    }

    pub fn hint(&self, i: usize) -> String {
        STEPS[i]
            .1
            .replace("{ready}", &self.info.ready_branch)
            .replace("{bad}", &self.info.bad_branch)
    }

    /// Ticks what the user has done, in order. Returns true when a step
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
        if self.done[2] && s.rollback_started {
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
        s.push_str(&format!(
            "- **Result:** {}\n",
            if self.finished() {
                "PASSED ✅"
            } else {
                "not finished"
            }
        ));
        s.push_str(&format!("- **Release manager:** {user}\n"));
        s.push_str(&format!("- **Production:** {}\n", self.info.url));
        if let Some(t) = self.seconds_to_restore() {
            s.push_str(&format!(
                "- **From the failed verification to the verified restore:** {t:.1} s\n"
            ));
        }
        s.push_str("\n## Steps\n\n");
        for (i, (title, _)) in STEPS.iter().enumerate() {
            s.push_str(&format!(
                "{}. {} {title}\n",
                i + 1,
                if self.done[i] { "✅" } else { "·" }
            ));
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
        if coach.finished() && !coach.reported {
            coach.reported = true;
            self.requests.push(Request::WriteReport {
                path: coach.info.report.clone(),
                text: coach.report(&user),
            });
        }
    }
}

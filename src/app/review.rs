//! The review screen's state: which pane has the keyboard, how far each is
//! scrolled, which checklist item is selected and whether it is explained.
//! Assessments arrive from a worker and are kept by branch.
use std::collections::HashMap;
use std::sync::Arc;

use crate::pipeline::evidence::Thumbnail;
use crate::pipeline::handoff::package::Assessment;

/// The review screen's panes, left to right.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReviewPane {
    Branches,
    Gate,
    Snapshot,
    Checklist,
}

impl ReviewPane {
    pub const ALL: [ReviewPane; 4] = [
        ReviewPane::Branches,
        ReviewPane::Gate,
        ReviewPane::Snapshot,
        ReviewPane::Checklist,
    ];
    pub const RIGHT: [ReviewPane; 3] = [
        ReviewPane::Gate,
        ReviewPane::Snapshot,
        ReviewPane::Checklist,
    ];
    pub fn title(self) -> &'static str {
        match self {
            ReviewPane::Branches => "Branches",
            ReviewPane::Gate => "Gate log",
            ReviewPane::Snapshot => "Snapshot",
            ReviewPane::Checklist => "Evidence",
        }
    }
}

/// What is known about a branch's package.
#[derive(Debug, Clone)]
pub enum Assessed {
    Pending,
    Ready(Arc<Assessment>),
    Failed(String),
}

#[derive(Debug)]
pub struct Review {
    pub focus: ReviewPane,
    /// The right-hand pane shown when they fold into tabs.
    pub tab: ReviewPane,
    pub gate_scroll: u16,
    pub snapshot_scroll: u16,
    pub item: usize,
    pub explain: bool,
    /// Assessments by branch name (each knows the head it judged).
    pub assessed: HashMap<String, Assessed>,
    /// The selected evidence file's preview: (branch, file, picture or why not).
    pub preview: Option<(String, String, Result<Thumbnail, String>)>,
    /// How the preview draws its picture: half blocks or an image protocol.
    pub images: crate::views::image::Pictures,
}

impl Default for Review {
    fn default() -> Review {
        Review {
            focus: ReviewPane::Branches,
            tab: ReviewPane::Checklist,
            gate_scroll: 0,
            snapshot_scroll: 0,
            item: 0,
            explain: false,
            assessed: HashMap::new(),
            preview: None,
            images: crate::views::image::Pictures::halfblocks(),
        }
    }
}

impl Review {
    /// The assessment of `branch` at `head`, if it is current.
    pub fn get(&self, branch: &str, head: &str) -> Option<&Assessed> {
        match self.assessed.get(branch)? {
            Assessed::Ready(a) if a.head != head => None,
            other => Some(other),
        }
    }

    /// Moves focus by one pane (folded: the branch list and the tab).
    pub fn cycle(&mut self, forward: bool, folded: bool) {
        let order: Vec<ReviewPane> = if folded {
            vec![
                ReviewPane::Branches,
                ReviewPane::Gate,
                ReviewPane::Snapshot,
                ReviewPane::Checklist,
            ]
        } else {
            ReviewPane::ALL.to_vec()
        };
        let i = order.iter().position(|p| *p == self.focus).unwrap_or(0);
        let n = order.len();
        let j = if forward {
            (i + 1) % n
        } else {
            (i + n - 1) % n
        };
        self.focus = order[j];
        if self.focus != ReviewPane::Branches {
            self.tab = self.focus;
        }
    }

    /// A new branch is selected: panes start at the top.
    pub fn reset_panes(&mut self) {
        self.gate_scroll = 0;
        self.snapshot_scroll = 0;
        self.item = 0;
        self.explain = false;
    }

    pub fn scroll(&mut self, delta: i32, items: usize) {
        let apply = |v: &mut u16| *v = (*v as i32 + delta).clamp(0, u16::MAX as i32) as u16;
        match self.focus {
            ReviewPane::Gate => apply(&mut self.gate_scroll),
            ReviewPane::Snapshot => apply(&mut self.snapshot_scroll),
            ReviewPane::Checklist => {
                let max = items.saturating_sub(1) as i32;
                self.item = (self.item as i32 + delta).clamp(0, max.max(0)) as usize;
            }
            ReviewPane::Branches => {}
        }
    }
}

// The review screen's keys and the assessments it asks for.
use super::job::{JobEnd, JobView};
use super::keys::Action;
use super::state::{App, Request, Screen};

impl App {
    /// The selected branch's review (`Enter`, or a double-click on it).
    pub(crate) fn open_review(&mut self) {
        if self.selected_branch().is_some() {
            self.screen = Screen::Review;
            self.review.focus = ReviewPane::Branches;
            self.review.reset_panes();
            self.want_assessment();
        }
    }

    /// The review screen folds its three panes into tabs below this width.
    pub fn review_folded(&self) -> bool {
        self.size.0 < 160
    }

    /// The selected branch's name and head (the newer head once read);
    /// `None` while its head is not read yet (listed by name alone).
    pub fn selected_head(&self) -> Option<(String, String)> {
        let b = self.selected_branch()?;
        let head = b.info.as_ref().map_or(b.r.head.clone(), |i| i.head.clone());
        (!head.is_empty()).then(|| (b.r.name.clone(), head))
    }

    /// The assessment of the selected branch, when known.
    pub fn selected_assessment(&self) -> Option<&Assessed> {
        let (name, head) = self.selected_head()?;
        self.review.get(&name, &head)
    }

    /// Drops every assessment (the repository was read again) and asks
    /// again for the selected branch's.
    pub fn forget_assessments(&mut self) {
        self.review.assessed.clear();
        self.want_assessment();
        self.dirty = true;
    }

    /// Asks for the selected branch's assessment if it is not known yet.
    pub(super) fn want_assessment(&mut self) {
        if self.screen != Screen::Review {
            return;
        }
        let Some((branch, head)) = self.selected_head() else {
            return;
        };
        if self.review.get(&branch, &head).is_none() {
            // The worker answers only the newest request: forget older ones.
            self.review
                .assessed
                .retain(|_, v| !matches!(v, Assessed::Pending));
            self.review
                .assessed
                .insert(branch.clone(), Assessed::Pending);
            self.requests.push(Request::Assess { branch, head });
        }
    }

    /// Keys of the review screen; false when the key is not the screen's own.
    pub(super) fn review_act(&mut self, a: Action, h: usize) -> bool {
        let items = match self.selected_assessment() {
            Some(Assessed::Ready(x)) => x.items.len() + x.legacy.len() + x.evidence.len(),
            _ => 0,
        };
        let on_list = self.review.focus == ReviewPane::Branches;
        let page = h as i32;
        match a {
            Action::FocusNext | Action::FocusPrev => {
                let folded = self.review_folded();
                self.review.cycle(a == Action::FocusNext, folded);
            }
            Action::Up | Action::Down | Action::PageUp | Action::PageDown => {
                let d = match a {
                    Action::Up => -1,
                    Action::Down => 1,
                    Action::PageUp => -page,
                    _ => page,
                };
                if on_list {
                    self.branch_cur.step(d as isize, self.visible.len(), h);
                    self.review.reset_panes();
                } else {
                    self.review.scroll(d, items);
                    self.want_preview();
                }
            }
            Action::Explain => {
                if self.review.focus == ReviewPane::Checklist || on_list {
                    self.review.focus = ReviewPane::Checklist;
                    self.review.tab = ReviewPane::Checklist;
                    self.review.explain = !self.review.explain && items > 0;
                }
            }
            Action::OpenGateLog => self.open_package_log(),
            Action::GuardDiff => self.open_guard_diff(),
            Action::AcceptGuard => self.accept_guard(),
            Action::Back if self.review.explain => self.review.explain = false,
            _ => return false,
        }
        true
    }

    /// The evidence file under the checklist cursor, if it is one.
    pub fn selected_evidence(&self) -> Option<(String, String, String)> {
        let Some(Assessed::Ready(a)) = self.selected_assessment() else {
            return None;
        };
        let i = self
            .review
            .item
            .checked_sub(a.items.len() + a.legacy.len())?;
        let (name, _) = a.evidence.get(i)?;
        Some((a.branch.clone(), a.head.clone(), name.clone()))
    }

    /// Asks for a preview of the selected evidence file.
    pub(super) fn want_preview(&mut self) {
        if self.review.focus != ReviewPane::Checklist {
            return;
        }
        let Some((branch, head, name)) = self.selected_evidence() else {
            return;
        };
        let known = self
            .review
            .preview
            .as_ref()
            .is_some_and(|(b, n, _)| *b == branch && *n == name);
        if !known {
            let max = self.review.images.max_pixels();
            self.requests.push(Request::Preview {
                branch,
                head,
                name,
                max,
                max_file: self.cfg.evidence.max_file,
            });
        }
    }

    /// Shows the diff of the guard files the branch changes in the log pane.
    pub(super) fn open_guard_diff(&mut self) {
        let Some(Assessed::Ready(a)) = self.selected_assessment() else {
            self.message = Some("the package is still being read".into());
            return;
        };
        let Some(diff) = a.guard_diff.as_ref() else {
            self.message = Some(format!(
                "{} changes none of the files that guard a release",
                a.branch
            ));
            return;
        };
        let mut view = JobView::new(format!("{}: guard files against main", a.branch));
        view.log.push(diff);
        if !view.log.partial.is_empty() {
            view.log.push("\n");
        }
        view.follow = false;
        view.finished(JobEnd {
            ok: !a.guard_pending(),
            summary: if a.guard_pending() {
                "not acknowledged: y in the review screen acknowledges it".into()
            } else {
                "acknowledged".into()
            },
        });
        if self.job_running() {
            self.message = Some("a job is running: its log stays in L".into());
            return;
        }
        self.job = Some(view);
        self.screen = Screen::Log;
    }

    /// A release manager acknowledges the selected branch's guard changes.
    pub(super) fn accept_guard(&mut self) {
        let Some(Assessed::Ready(a)) = self.selected_assessment() else {
            self.message = Some("the package is still being read".into());
            return;
        };
        if !a.guard_pending() {
            self.message = Some(format!(
                "{} has no guard changes waiting for an acknowledgement",
                a.branch
            ));
            return;
        }
        if !self.user.release_manager {
            self.message = Some(format!(
                "{} is not a release manager, so cannot acknowledge guard changes",
                self.user.name
            ));
            return;
        }
        let (branch, head) = (a.branch.clone(), a.head.clone());
        self.review
            .assessed
            .insert(branch.clone(), Assessed::Pending);
        self.requests.push(Request::AcceptGuard { branch, head });
    }

    /// Shows the package's gate log in the log pane (read-only).
    pub(super) fn open_package_log(&mut self) {
        let Some(Assessed::Ready(a)) = self.selected_assessment() else {
            self.message = Some("the package is still being read".into());
            return;
        };
        let Some(bytes) = a.gate_log.as_ref() else {
            self.message = Some(format!("{} has no gate.log in its package", a.branch));
            return;
        };
        let mut view = JobView::new(format!("{}/gate.log", a.package_dir));
        view.log.push(&String::from_utf8_lossy(bytes));
        if !view.log.partial.is_empty() {
            view.log.push("\n");
        }
        view.follow = false;
        view.finished(JobEnd {
            ok: a
                .manifest
                .as_ref()
                .is_some_and(|m| m.gate.result == crate::pipeline::handoff::GateResult::Pass),
            summary: "from the handoff package".into(),
        });
        if self.job_running() {
            self.message = Some("a job is running: its log stays in L".into());
            return;
        }
        self.job = Some(view);
        self.screen = Screen::Log;
    }
}

//! The review screen's state: which pane has the keyboard, how far each is
//! scrolled, which checklist item is selected and whether it is explained.
//! Assessments arrive from a worker and are kept by branch.
use std::collections::HashMap;
use std::sync::Arc;

use crate::pipeline::evidence::Thumbnail;
use crate::pipeline::package::Assessment;

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

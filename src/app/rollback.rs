//! The one-key rollback dialog: `R` plans a rollback to the default target
//! and shows what will happen; `y` confirms, `t` picks another prod tag, `f`
//! (only when the backup is refused) chooses the tag's tree instead, `r`
//! edits the reason, and every other key — `R` included — does nothing but
//! cancel on Esc, so no key rolls back by accident.
//! The keys are rows of the key table (scopes `Rollback`, `RollbackPick`,
//! `Reason`): written once, shown from there, and rebindable.
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::keys::{self, Action, Scope};
use super::state::ListCursor;
use crate::pipeline::repo::ProdTag;
use crate::pipeline::rollback::Plan;

#[derive(Debug, Clone, Default)]
pub struct RollbackDialog {
    pub plan: Option<Box<Plan>>,
    pub error: Option<String>,
    /// Planning is under way.
    pub loading: bool,
    /// The tag picker is open (cursor over the tags, newest first).
    pub picking: Option<ListCursor>,
    /// The backup is refused and the user chose the tag's tree instead.
    pub tree_ok: bool,
    pub reason: String,
    pub editing_reason: bool,
    pub message: Option<String>,
    /// The tag selected in the tag list when `R` was pressed: proposed
    /// instead of the default target.
    pub selected_tag: Option<String>,
    /// The target `R` would choose by itself, named beside the selected tag
    /// as the alternative.
    pub default_target: Option<String>,
    /// `p`: where the rollback will be recorded (the paths) is shown.
    pub show_paths: bool,
    /// The target the user chose (the tag selected in the list, or one
    /// picked with `t`); None for the default target. A plan made again
    /// is made for it.
    pub chosen: Option<String>,
    /// The live record changed while a plan was being made: that plan
    /// may be stale, so it is made again when it comes.
    pub stale: bool,
}

/// What a key in the dialog asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialogOutcome {
    /// Nothing to do outside the dialog.
    Stay,
    Close,
    /// Plan again, for this tag.
    Replan(String),
    /// Go: the plan, whether the tree fallback was chosen, and the reason.
    Confirm,
}

impl RollbackDialog {
    pub fn new(default_reason: String) -> RollbackDialog {
        RollbackDialog {
            loading: true,
            reason: default_reason,
            ..RollbackDialog::default()
        }
    }

    /// Which part of the key table the dialog answers to now.
    pub fn scope(&self) -> Scope {
        if self.editing_reason {
            Scope::Reason
        } else if self.picking.is_some() {
            Scope::RollbackPick
        } else {
            Scope::Rollback
        }
    }

    /// Whether an action of the dialog's key table works now.
    pub fn available(&self, a: Action) -> bool {
        let plan = self.plan.as_ref();
        match a {
            Action::Confirm | Action::EditReason | Action::TogglePaths => plan.is_some(),
            Action::TreeFallback => {
                plan.is_some_and(|p| p.refused_backup.is_some()) && !self.tree_ok
            }
            Action::PickTag => plan.is_some() || self.error.is_some(),
            _ => true,
        }
    }

    /// The keys that work in the dialog now, decision first, from the key
    /// table (so rebound keys show as rebound): the dialog's last line and
    /// the footer both show these.
    pub fn keys(&self) -> Vec<(String, &'static str)> {
        keys::active(&[self.scope()], false)
            .filter(|b| b.footer && self.available(b.action))
            .map(|b| (keys::label(b), self.hint(b)))
            .collect()
    }

    /// A key's one-word hint as the dialog says it now.
    pub fn hint(&self, b: &keys::Binding) -> &'static str {
        match b.action {
            Action::TogglePaths if self.show_paths => "hide paths",
            Action::Cancel if self.plan.is_none() && self.error.is_some() => "close",
            _ => b.hint,
        }
    }

    /// Handles one key: `action` is what the key table says it means in
    /// [`RollbackDialog::scope`]; `tags` are the prod tags, oldest first.
    pub fn on_key(
        &mut self,
        k: KeyEvent,
        action: Option<Action>,
        tags: &[ProdTag],
    ) -> DialogOutcome {
        if self.editing_reason {
            match action {
                Some(Action::Submit) => self.editing_reason = false,
                Some(Action::DeleteChar) => {
                    self.reason.pop();
                }
                _ => {
                    if let KeyCode::Char(c) = k.code {
                        if !k.modifiers.contains(KeyModifiers::CONTROL) {
                            self.reason.push(c)
                        }
                    }
                }
            }
            return DialogOutcome::Stay;
        }
        if let Some(cur) = self.picking.as_mut() {
            let n = tags.len();
            match action {
                Some(Action::Down) => cur.step(1, n, 10),
                Some(Action::Up) => cur.step(-1, n, 10),
                Some(Action::Submit) => {
                    let pick = tags.iter().rev().nth(cur.selected).map(|t| t.name.clone());
                    self.picking = None;
                    if let Some(t) = pick {
                        self.chosen = Some(t.clone());
                        self.loading = true;
                        self.plan = None;
                        self.tree_ok = false;
                        return DialogOutcome::Replan(t);
                    }
                }
                Some(Action::Cancel) => self.picking = None,
                _ => {}
            }
            return DialogOutcome::Stay;
        }
        let Some(a) = action.filter(|a| self.available(*a)) else {
            return DialogOutcome::Stay;
        };
        match a {
            Action::Cancel => DialogOutcome::Close,
            Action::Confirm => match &self.plan {
                Some(_) if self.loading => {
                    self.message = Some(
                        "the live record changed: the plan is being made again; y once it shows"
                            .into(),
                    );
                    DialogOutcome::Stay
                }
                None => DialogOutcome::Stay,
                Some(p) if p.refused_backup.is_some() && !self.tree_ok => {
                    self.message = Some(
                        "the backup is refused: press f to deploy from the tag's git tree instead, or Esc".into(),
                    );
                    DialogOutcome::Stay
                }
                Some(_) => DialogOutcome::Confirm,
            },
            Action::TreeFallback => {
                self.tree_ok = true;
                self.message = Some("the tag's git tree will be deployed; y confirms".into());
                DialogOutcome::Stay
            }
            Action::PickTag => {
                let current = self.plan.as_ref().map(|p| p.target.name.clone());
                let idx = tags
                    .iter()
                    .rev()
                    .position(|t| Some(&t.name) == current.as_ref())
                    .unwrap_or(0);
                let mut cur = ListCursor::default();
                cur.to(idx, tags.len(), 10);
                self.picking = Some(cur);
                DialogOutcome::Stay
            }
            Action::EditReason => {
                self.editing_reason = true;
                DialogOutcome::Stay
            }
            Action::TogglePaths => {
                self.show_paths = !self.show_paths;
                DialogOutcome::Stay
            }
            _ => DialogOutcome::Stay,
        }
    }
}

// Opening the dialog and starting a confirmed rollback.
use super::job::JobView;
use super::playbook::PlaybookView;
use super::state::{App, Request, Screen};

impl App {
    /// `R`: plans a rollback to the default target and shows the dialog.
    pub(super) fn open_rollback(&mut self) {
        if self.playbook_waiting() {
            self.message = Some(self.waiting_playbook_note("R"));
            return;
        }
        if self.job_running() {
            self.message = Some("a job is running: wait for it (L shows it), then R".into());
            return;
        }
        let failed_release = self
            .playbook
            .as_ref()
            .and_then(|p| p.outcome.as_ref())
            .filter(|o| !o.released)
            .map(|o| format!("live verification failed after deploying {}", o.branch));
        let reason = failed_release.unwrap_or_else(|| "rolled back from the console".into());
        let mut dialog = super::rollback::RollbackDialog::new(reason);
        // A tag selected in the tag list is the one proposed; the default
        // target is named beside it.
        let selected = (self.focus == super::state::Pane::Tags && self.screen == Screen::Main)
            .then(|| {
                self.tags
                    .as_ref()
                    .and_then(|t| t.iter().rev().nth(self.tag_cur.selected))
                    .map(|t| t.name.clone())
            })
            .flatten();
        dialog.selected_tag = selected.clone();
        dialog.chosen = selected.clone();
        self.set_rollback(dialog);
        self.requests
            .push(Request::PlanRollback { target: selected });
    }

    /// `y` in the dialog: the rollback runs, shown in the playbook screen.
    pub(super) fn start_rollback(&mut self, d: RollbackDialog) {
        let Some(plan) = d.plan else { return };
        let target = plan.target.name.clone();
        self.close_unstarted_playbook();
        self.message = None;
        self.playbook = Some(PlaybookView::for_rollback(target.clone(), d.reason.clone()));
        self.job = Some(JobView::new(format!("rollback to {target}")));
        self.requests.push(Request::Rollback {
            plan,
            reason: d.reason,
        });
        self.screen = Screen::Playbook;
    }
}

// Keeping the open dialog's plan true while production changes under it.
use crate::pipeline::state::LiveRecord;

/// What the dialog shows of the live record: a change in any of these is a
/// plan to make again (the same fields the pipeline compares under the lock).
fn live_key(l: Option<&LiveRecord>) -> Option<(Option<String>, String, String, String)> {
    l.map(|l| {
        (
            l.tag.clone(),
            l.commit.clone(),
            l.build_id.clone(),
            format!("{:?}", l.health),
        )
    })
}

impl App {
    /// The state files were read again (the header's watcher): when the
    /// live record differs from the one the open dialog's plan was made
    /// with, the plan is made again, off the render loop, for the same
    /// target; the old one stays in sight, marked, and `y` waits for the
    /// new one.
    pub(super) fn rollback_live_changed(&mut self, before: Option<&LiveRecord>) {
        let live = live_key(self.live.as_ref());
        let Some(d) = self.rollback_mut() else {
            return;
        };
        if d.picking.is_some() {
            return;
        }
        if d.loading {
            // A plan is being made: it may have read the record before it
            // changed.
            d.stale |= live_key(before) != live;
            return;
        }
        let Some(p) = &d.plan else {
            return;
        };
        if live_key(p.live.as_ref()) == live {
            return;
        }
        d.loading = true;
        // The choice of the tag's tree was for the old plan: asked again.
        d.tree_ok = false;
        d.message = Some("the live record changed: planning again…".into());
        let target = d.chosen.clone();
        self.requests.push(Request::PlanRollback { target });
        self.dirty = true;
    }

    /// A plan came: a stale one is made again; a refreshed one says so.
    pub(super) fn rollback_plan_arrived(&mut self) {
        let Some(d) = self.rollback_mut() else {
            return;
        };
        if d.error.is_some() {
            // A plan that could not be made again hides the old one.
            d.plan = None;
        }
        if d.stale && d.plan.is_some() {
            d.stale = false;
            d.loading = true;
            let target = d.chosen.clone();
            self.requests.push(Request::PlanRollback { target });
            return;
        }
        d.stale = false;
        if d.message
            .as_deref()
            .is_some_and(|m| m.starts_with("the live record changed"))
        {
            d.message = d.plan.as_ref().map(|p| {
                format!(
                    "the live record changed: this plan is new (live now: {}; target {}); y rolls back",
                    p.live
                        .as_ref()
                        .map(|l| l.tag.clone().unwrap_or_else(|| l.build_id.clone()))
                        .unwrap_or_else(|| "nothing recorded".into()),
                    p.target.name
                )
            });
        }
    }

    /// `y` was pressed but the plan, made again under the lock, differed:
    /// nothing ran. The dialog opens again on the new plan, saying what
    /// changed, and asks again.
    pub(super) fn rollback_plan_changed(
        &mut self,
        changes: String,
        plan: Box<Plan>,
        reason: String,
    ) {
        if self.quit_when_idle {
            return;
        }
        let mut d = RollbackDialog::new(reason);
        d.loading = false;
        d.chosen = Some(plan.target.name.clone());
        d.message = Some(format!(
            "the plan changed before the lock was taken ({changes}); nothing ran: this is the new plan, y rolls back"
        ));
        d.plan = Some(plan);
        self.set_rollback_under_input(d);
        self.dirty = true;
    }
}

//! The modal stack: what lies over the screen and takes every key — the
//! `?` overlay, the branch filter being typed, a yes/no question, the
//! rollback dialog. The newest is on top; it alone has the keys, the
//! footer and the `?` overlay's "here" rows. Closing it shows the one
//! below as it was.
use super::rollback::RollbackDialog;
use super::state::App;

/// One layer over the screen; each owns its UI state.
#[derive(Debug, Clone)]
pub enum Modal {
    /// The `?` overlay, scrolled this far.
    Help { scroll: u16 },
    /// Typing the branch filter (the filter text itself stays on the app:
    /// the list keeps it after the line closes).
    Filter,
    /// "A job is running: quit anyway?"
    ConfirmQuit,
    /// "Abandon the deploy waiting between its steps?"
    ConfirmAbandon,
    /// "Cancel the running job?"
    ConfirmCancel,
    /// The one-key rollback dialog (its plan, picker and reason).
    Rollback(Box<RollbackDialog>),
}

impl Modal {
    /// A yes/no question.
    pub fn is_question(&self) -> bool {
        matches!(
            self,
            Modal::ConfirmQuit | Modal::ConfirmAbandon | Modal::ConfirmCancel
        )
    }
}

impl App {
    /// Puts `m` on top of the stack.
    pub fn open(&mut self, m: Modal) {
        self.modals.push(m);
        self.dirty = true;
    }

    /// The modal on top, if any.
    pub fn top_modal(&self) -> Option<&Modal> {
        self.modals.last()
    }

    /// Closes every modal that `pred` picks, wherever it is in the stack.
    pub fn close_where(&mut self, pred: impl Fn(&Modal) -> bool) {
        let before = self.modals.len();
        self.modals.retain(|m| !pred(m));
        self.dirty |= self.modals.len() != before;
    }

    /// The `?` overlay is open (anywhere in the stack).
    pub fn help_open(&self) -> bool {
        self.modals.iter().any(|m| matches!(m, Modal::Help { .. }))
    }

    /// The branch filter is being typed.
    pub fn filtering(&self) -> bool {
        self.modals.iter().any(|m| matches!(m, Modal::Filter))
    }

    /// The open rollback dialog, wherever it is in the stack (the plan
    /// worker and the live record's watcher update it under the help).
    pub fn rollback(&self) -> Option<&RollbackDialog> {
        self.modals.iter().rev().find_map(|m| match m {
            Modal::Rollback(d) => Some(&**d),
            _ => None,
        })
    }

    /// The open rollback dialog, to change.
    pub fn rollback_mut(&mut self) -> Option<&mut RollbackDialog> {
        self.modals.iter_mut().rev().find_map(|m| match m {
            Modal::Rollback(d) => Some(&mut **d),
            _ => None,
        })
    }

    /// Opens the rollback dialog (replacing one already open).
    pub fn set_rollback(&mut self, d: RollbackDialog) {
        self.close_where(|m| matches!(m, Modal::Rollback(_)));
        self.open(Modal::Rollback(Box::new(d)));
    }

    /// Opens the rollback dialog for a message that arrived on its own (the
    /// plan changed under the lock): under whatever the user is answering or
    /// typing (a question, the filter line, the `?` overlay), so a `y` meant
    /// for the question never rolls production back.
    pub fn set_rollback_under_input(&mut self, d: RollbackDialog) {
        self.close_where(|m| matches!(m, Modal::Rollback(_)));
        let typing = |m: &Modal| m.is_question() || matches!(m, Modal::Filter | Modal::Help { .. });
        let at = self
            .modals
            .iter()
            .rposition(|m| !typing(m))
            .map_or(0, |i| i + 1);
        self.modals.insert(at, Modal::Rollback(Box::new(d)));
        self.dirty = true;
    }
}

// Each modal as a component: its scopes, which keys work, its keys.
use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::component::{Component, Handled};
use super::keys::{self, Action, Scope};
use super::rollback::DialogOutcome;
use super::state::{ListCursor, Request};

impl Component for Modal {
    fn scopes(&self, _app: &App) -> Vec<Scope> {
        vec![match self {
            Modal::Help { .. } => Scope::HelpOverlay,
            Modal::Filter => Scope::Filter,
            Modal::ConfirmQuit | Modal::ConfirmAbandon | Modal::ConfirmCancel => Scope::Confirm,
            Modal::Rollback(d) => d.scope(),
        }]
    }

    fn works(&self, _app: &App, a: Action) -> bool {
        match self {
            Modal::Rollback(d) => d.available(a),
            _ => true,
        }
    }

    fn handle(&mut self, app: &mut App, k: KeyEvent, action: Option<Action>) -> Handled {
        app.dirty = true;
        match self {
            Modal::Help { scroll } => {
                let most = keys::BINDINGS.len() as u16 + 24;
                match action {
                    Some(Action::Cancel) => return Handled::Close,
                    Some(Action::Down) => *scroll = (*scroll + 1).min(most),
                    Some(Action::Up) => *scroll = scroll.saturating_sub(1),
                    Some(Action::PageDown) => *scroll = (*scroll + 10).min(most),
                    Some(Action::PageUp) => *scroll = scroll.saturating_sub(10),
                    _ => {}
                }
                Handled::Stay
            }
            Modal::Filter => match action {
                Some(Action::Submit) => Handled::Close,
                Some(Action::Cancel) => {
                    app.filter.clear();
                    app.apply_filter();
                    Handled::Close
                }
                Some(Action::DeleteChar) => {
                    app.filter.pop();
                    app.apply_filter();
                    Handled::Stay
                }
                // As everywhere: a running job is asked about first (the
                // question opens over the filter line).
                Some(Action::Quit) => {
                    app.global_act(Action::Quit);
                    Handled::Stay
                }
                _ => {
                    if let KeyCode::Char(c) = k.code {
                        if !k.modifiers.contains(KeyModifiers::CONTROL) {
                            app.filter.push(c);
                            app.branch_cur = ListCursor::default();
                            app.apply_filter();
                        }
                    }
                    Handled::Stay
                }
            },
            // A question swallows every key; only `y` says yes, anything
            // else no.
            Modal::ConfirmQuit => {
                if action == Some(Action::Confirm) {
                    app.quit_with_job();
                }
                Handled::Close
            }
            Modal::ConfirmAbandon => {
                if action == Some(Action::Confirm) && app.playbook_waiting() {
                    app.abandon_playbook();
                    app.message = Some("abandoning the deploy (recorded)".into());
                }
                Handled::Close
            }
            Modal::ConfirmCancel => {
                if action == Some(Action::Confirm) {
                    if let Some(job) = app.job.as_mut() {
                        if let Some(h) = &job.handle {
                            h.cancel();
                            job.message =
                                Some("cancelling: TERM to the process group, then KILL".into());
                        }
                    }
                }
                Handled::Close
            }
            Modal::Rollback(d) => {
                let tags = app.tags.clone().unwrap_or_default();
                match d.on_key(k, action, &tags) {
                    DialogOutcome::Stay => Handled::Stay,
                    DialogOutcome::Close => Handled::Close,
                    DialogOutcome::Replan(t) => {
                        app.requests.push(Request::PlanRollback { target: Some(t) });
                        Handled::Stay
                    }
                    DialogOutcome::Confirm => {
                        app.start_rollback(std::mem::take(&mut **d));
                        Handled::Close
                    }
                }
            }
        }
    }

    /// Pasted text goes into the filter, or the rollback's reason being
    /// edited, on one line; a question or the help takes none.
    fn paste(&mut self, app: &mut App, text: &str) -> bool {
        let line = super::state::one_line(text, " ");
        match self {
            Modal::Filter => {
                app.filter.push_str(&line);
                app.branch_cur = ListCursor::default();
                app.apply_filter();
                true
            }
            Modal::Rollback(d) if d.editing_reason => {
                d.reason.push_str(&line);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::job::{JobEnd, JobView};
    use crate::app::state::{Base, Msg, RunMsg, Screen};
    use crate::pipeline::repo::{HeadState, User};

    fn app() -> App {
        let base = Base {
            project: "p".into(),
            cfg: Default::default(),
            user: User {
                name: "tester".into(),
                release_manager: true,
            },
            head: HeadState::Unborn,
            main_missing: false,
            refs: Vec::new(),
        };
        App::new(base, false, Default::default())
    }

    /// An app at 120×40 listing `n` branches `feature/bNN`.
    fn app_with_branches(n: usize) -> App {
        let refs = (0..n)
            .map(|i| crate::pipeline::repo::BranchRef {
                name: format!("feature/b{i:02}"),
                head: "0".repeat(40),
                sources: vec!["local".into()],
                heads: Vec::new(),
            })
            .collect();
        let base = Base {
            project: "p".into(),
            cfg: Default::default(),
            user: User {
                name: "tester".into(),
                release_manager: true,
            },
            head: HeadState::Unborn,
            main_missing: false,
            refs,
        };
        let mut a = App::new(base, false, Default::default());
        a.size = (120, 40);
        a
    }

    fn press(a: &mut App, code: KeyCode, mods: KeyModifiers) {
        a.update(Msg::Key(KeyEvent::new(code, mods)));
    }

    #[test]
    fn help_over_the_rollback_dialog_closes_alone_and_the_dialog_stays() {
        let mut a = app();
        a.set_rollback(RollbackDialog::new("why".into()));
        a.open(Modal::Help { scroll: 0 });
        assert_eq!(a.scopes(), vec![Scope::HelpOverlay]);
        // The overlay explains the dialog under it.
        assert_eq!(a.screen_scopes(), vec![Scope::Rollback]);
        press(&mut a, KeyCode::Char('j'), KeyModifiers::NONE);
        assert!(matches!(
            a.modals.as_slice(),
            [Modal::Rollback(_), Modal::Help { scroll: 1 }]
        ));
        // The dialog under the help still gets its plan's news.
        a.update(Msg::RollbackDefault(Some("v1".into())));
        assert_eq!(
            a.rollback().and_then(|d| d.default_target.as_deref()),
            Some("v1")
        );
        press(&mut a, KeyCode::Esc, KeyModifiers::NONE);
        assert!(matches!(a.modals.as_slice(), [Modal::Rollback(_)]));
        assert_eq!(a.scopes(), vec![Scope::Rollback]);
        assert_eq!(a.rollback().map(|d| d.reason.as_str()), Some("why"));
        press(&mut a, KeyCode::Esc, KeyModifiers::NONE);
        assert!(a.modals.is_empty());
        assert_eq!(a.scopes(), a.base().scopes(&a));
    }

    #[test]
    fn a_modal_that_stays_keeps_its_place_under_the_one_it_opened() {
        let mut a = app();
        a.job = Some(JobView::new("gate x".into()));
        assert!(a.job_running());
        press(&mut a, KeyCode::Char('/'), KeyModifiers::NONE);
        press(&mut a, KeyCode::Char('x'), KeyModifiers::NONE);
        // Ctrl-c with a job running asks first, over the filter line.
        press(&mut a, KeyCode::Char('c'), KeyModifiers::CONTROL);
        assert!(!a.quit);
        assert!(matches!(
            a.modals.as_slice(),
            [Modal::Filter, Modal::ConfirmQuit]
        ));
        press(&mut a, KeyCode::Char('n'), KeyModifiers::NONE);
        assert!(matches!(a.modals.as_slice(), [Modal::Filter]));
        assert_eq!(a.filter, "x");
        press(&mut a, KeyCode::Enter, KeyModifiers::NONE);
        assert!(a.modals.is_empty());
        assert_eq!(a.filter, "x", "Enter keeps the filter");
    }

    #[test]
    fn the_cancel_question_goes_when_the_job_ends() {
        let mut a = app();
        a.job = Some(JobView::new("gate x".into()));
        a.screen = Screen::Log;
        press(&mut a, KeyCode::Char('x'), KeyModifiers::NONE);
        assert!(matches!(a.modals.as_slice(), [Modal::ConfirmCancel]));
        assert_eq!(a.scopes(), vec![Scope::Confirm]);
        a.update(Msg::Run(RunMsg::Done(JobEnd {
            ok: true,
            summary: "done".into(),
        })));
        assert!(a.modals.is_empty());
        assert_eq!(a.scopes(), vec![Scope::Log, Scope::Global]);
    }

    #[test]
    fn the_quit_question_goes_when_the_job_ends() {
        let mut a = app();
        a.job = Some(JobView::new("gate x".into()));
        press(&mut a, KeyCode::Char('q'), KeyModifiers::NONE);
        assert!(matches!(a.modals.as_slice(), [Modal::ConfirmQuit]));
        a.update(Msg::Run(RunMsg::Done(JobEnd {
            ok: true,
            summary: "done".into(),
        })));
        assert!(a.modals.is_empty(), "{:?}", a.modals);
        assert!(!a.quit, "the question went; nothing was answered");
    }

    /// The wheel moves the branch list only where the list is what is seen:
    /// not under a question (nor on another screen).
    #[test]
    fn the_wheel_moves_no_hidden_list() {
        use crossterm::event::{MouseEvent, MouseEventKind};
        let mut a = app_with_branches(20);
        a.job = Some(JobView::new("gate x".into()));
        press(&mut a, KeyCode::Char('q'), KeyModifiers::NONE);
        let wheel = MouseEvent {
            kind: MouseEventKind::ScrollDown,
            column: 2,
            row: 4,
            modifiers: KeyModifiers::NONE,
        };
        a.update(Msg::Mouse(wheel));
        assert_eq!(
            a.branch_cur.selected, 0,
            "the wheel moved the list under the question"
        );
        a.close_where(|_| true);
        a.update(Msg::Mouse(wheel));
        assert_eq!(
            a.branch_cur.selected, 3,
            "the wheel scrolls the list on the main screen"
        );
    }

    /// A click on the last row the review's (taller) branch list draws
    /// selects that row where it is: the list does not scroll under the
    /// pointer.
    #[test]
    fn a_click_on_the_reviews_last_drawn_row_selects_it_in_place() {
        use crossterm::event::{MouseButton, MouseEvent, MouseEventKind};
        use ratatui::backend::TestBackend;
        use ratatui::Terminal;
        let mut a = app_with_branches(60);
        a.screen = Screen::Review;
        let mut term = Terminal::new(TestBackend::new(120, 40)).unwrap();
        let mut hits = None;
        term.draw(|f| hits = Some(crate::views::draw_hits(f, &a)))
            .unwrap();
        a.mouse.hits = hits.unwrap();
        let list = a.mouse.hits.lists[0];
        let last = list.rows.y + list.rows.height - 1;
        let idx = list.offset + (list.rows.height as usize - 1);
        let click = |kind| MouseEvent {
            kind,
            column: list.rows.x + 2,
            row: last,
            modifiers: KeyModifiers::NONE,
        };
        a.update(Msg::Mouse(click(MouseEventKind::Down(MouseButton::Left))));
        a.update(Msg::Mouse(click(MouseEventKind::Up(MouseButton::Left))));
        assert_eq!(a.branch_cur.selected, idx);
        assert_eq!(
            a.branch_cur.offset, list.offset,
            "the list scrolled under the pointer"
        );
    }

    #[test]
    fn a_paste_goes_to_the_line_the_top_component_types() {
        let mut a = app();
        a.job = Some(JobView::new("gate x".into()));
        press(&mut a, KeyCode::Char('/'), KeyModifiers::NONE);
        a.update(Msg::Paste("fea\nture\n".into()));
        assert_eq!(a.filter, "fea ture");
        // A question over the filter takes no text: the filter is left alone.
        press(&mut a, KeyCode::Char('c'), KeyModifiers::CONTROL);
        a.update(Msg::Paste("more".into()));
        assert_eq!(a.filter, "fea ture");
        assert!(a
            .message
            .as_deref()
            .is_some_and(|m| m.contains("a paste goes")));
        press(&mut a, KeyCode::Esc, KeyModifiers::NONE);
        press(&mut a, KeyCode::Esc, KeyModifiers::NONE);
        assert!(a.modals.is_empty());
        // The rollback's reason, while it is edited.
        let mut d = RollbackDialog::new("why".into());
        d.editing_reason = true;
        a.set_rollback(d);
        a.update(Msg::Paste(": the\r\nsite is down\n".into()));
        assert_eq!(
            a.rollback().map(|d| d.reason.as_str()),
            Some("why: the site is down")
        );
    }

    #[test]
    fn run_action_runs_a_shown_key_on_the_component_on_top() {
        let mut a = app();
        // Not a key of the branch lists: nothing happens.
        a.run_action(Action::Confirm);
        assert!(a.modals.is_empty() && !a.quit);
        a.run_action(Action::Help);
        assert!(matches!(a.modals.as_slice(), [Modal::Help { scroll: 0 }]));
        a.run_action(Action::Down);
        assert!(matches!(a.modals.as_slice(), [Modal::Help { scroll: 1 }]));
        a.run_action(Action::Cancel);
        assert!(a.modals.is_empty());
        a.run_action(Action::Quit);
        assert!(a.quit);
    }
}

//! The screens (branch lists, log pane, review, playbook, drift, records)
//! and the lines typed in the log pane (search, the input line), each a
//! [`Component`]: its scopes, which of their keys work now, and its key
//! handling; a key that is not the screen's own is a global one
//! ([`App::global_act`]). What the screens show — branches, tags, the job,
//! the playbook — is shared by several of them and stays on the app.
use crossterm::event::KeyEvent;

use super::component::{Component, Handled};
use super::job::JobView;
use super::keys::{Action, Scope};
use super::state::{App, Pane};

/// The branch and tag lists.
#[derive(Debug, Clone, Copy)]
pub struct MainScreen;
/// The log pane of the running or last job.
#[derive(Debug, Clone, Copy)]
pub struct LogScreen;
/// The review of a branch's package.
#[derive(Debug, Clone, Copy)]
pub struct ReviewScreen;
/// The release playbook (and a rollback's run).
#[derive(Debug, Clone, Copy)]
pub struct PlaybookScreen;
/// The drift report, scrolled.
#[derive(Debug, Clone, Copy, Default)]
pub struct DriftScreen {
    /// The report's first line shown.
    pub scroll: u16,
}
/// The audit chain and the rollout log, each scrolled.
#[derive(Debug, Clone, Copy, Default)]
pub struct RecordsScreen {
    /// The audit chain's first line shown.
    pub scroll: u16,
    /// Tab: the rollout log has the keyboard (else the audit chain).
    pub log_focus: bool,
    /// The rollout log's first line shown; `u16::MAX` = its last lines.
    pub log_scroll: u16,
}
/// Typing a log search (its text is the job's: `JobView::search_typing`).
#[derive(Debug, Clone, Copy)]
pub struct SearchLine;
/// The input line answering a script's prompt (opened by the prompt
/// itself, so its state is the job's: `JobView::input_focus`).
#[derive(Debug, Clone, Copy)]
pub struct InputLine;

fn scrolling(a: Action) -> bool {
    matches!(
        a,
        Action::Up | Action::Down | Action::PageUp | Action::PageDown | Action::Home | Action::End
    )
}

/// Whether a global key does something now.
fn global_works(app: &App, a: Action) -> bool {
    match a {
        Action::ClearFilter => !app.filter.is_empty() || app.message.is_some(),
        _ => true,
    }
}

impl Component for MainScreen {
    fn scopes(&self, app: &App) -> Vec<Scope> {
        let mut s = vec![Scope::Global, Scope::List];
        if app.focus == Pane::Branches {
            s.push(Scope::Branches);
        }
        s
    }
    fn works(&self, app: &App, a: Action) -> bool {
        global_works(app, a)
    }
    /// The lists' keys move the focused list's cursor, Tab the focus, `/`
    /// opens the filter line; the rest are global.
    fn handle(&mut self, app: &mut App, _key: KeyEvent, action: Option<Action>) -> Handled {
        let Some(a) = action else {
            return Handled::Stay;
        };
        app.dirty = true;
        let h = app.list_height();
        match a {
            Action::FocusNext | Action::FocusPrev => {
                let i = Pane::ALL.iter().position(|p| *p == app.focus).unwrap_or(0);
                let n = Pane::ALL.len();
                let j = if a == Action::FocusNext {
                    (i + 1) % n
                } else {
                    (i + n - 1) % n
                };
                app.focus = Pane::ALL[j];
            }
            Action::Up => app.move_sel(-1, h),
            Action::Down => app.move_sel(1, h),
            Action::PageUp => app.move_sel(-(h as isize), h),
            Action::PageDown => app.move_sel(h as isize, h),
            Action::Home => app.move_sel(isize::MIN / 2, h),
            Action::End => app.move_sel(isize::MAX / 2, h),
            Action::Filter => {
                app.focus = Pane::Branches;
                app.open(super::modal::Modal::Filter);
            }
            _ => app.global_act(a),
        }
        Handled::Stay
    }
}

impl Component for LogScreen {
    fn scopes(&self, _app: &App) -> Vec<Scope> {
        vec![Scope::Log, Scope::Global]
    }
    fn works(&self, app: &App, a: Action) -> bool {
        match a {
            // Already there.
            Action::ShowLog => false,
            Action::Answer => app.job.as_ref().is_some_and(JobView::awaits_answer),
            Action::CancelJob => app.job.as_ref().is_some_and(JobView::running),
            _ => global_works(app, a),
        }
    }
    fn handle(&mut self, app: &mut App, _key: KeyEvent, action: Option<Action>) -> Handled {
        let Some(a) = action else {
            return Handled::Stay;
        };
        app.dirty = true;
        let body = app.size.1.saturating_sub(2);
        if let Some(job) = app.job.as_mut() {
            job.page = job.output_rows(body);
            let page = job.page.max(1) as isize;
            match a {
                Action::Up => job.scroll(-1),
                Action::Down => job.scroll(1),
                Action::PageUp => job.scroll(-page),
                Action::PageDown => job.scroll(page),
                Action::Home => job.to_top(),
                Action::Follow => job.to_end(),
                Action::Search => job.search_typing = Some(String::new()),
                Action::NextMatch => job.search_next(false),
                Action::PrevMatch => job.search_next(true),
                Action::FirstFailure => job.jump_first_failure(),
                Action::Answer => {
                    // Shown (and so working) only while a prompt waits.
                    if job.awaits_answer() {
                        job.input_focus = true;
                    }
                }
                Action::CancelJob => {
                    // Shown (and so working) only while the job runs.
                    if job.running() {
                        app.open(super::modal::Modal::ConfirmCancel);
                    }
                }
                _ => app.global_act(a),
            }
            return Handled::Stay;
        }
        app.global_act(a);
        Handled::Stay
    }
}

impl Component for ReviewScreen {
    fn scopes(&self, _app: &App) -> Vec<Scope> {
        vec![Scope::Review, Scope::Global]
    }
    fn works(&self, app: &App, a: Action) -> bool {
        global_works(app, a)
    }
    fn handle(&mut self, app: &mut App, _key: KeyEvent, action: Option<Action>) -> Handled {
        let Some(a) = action else {
            return Handled::Stay;
        };
        app.dirty = true;
        let h = app.list_height();
        if app.review_act(a, h) {
            app.want_assessment();
        } else {
            app.global_act(a);
        }
        Handled::Stay
    }
}

impl Component for PlaybookScreen {
    fn scopes(&self, _app: &App) -> Vec<Scope> {
        vec![Scope::Playbook, Scope::Global]
    }
    fn works(&self, app: &App, a: Action) -> bool {
        match a {
            // Already there.
            Action::ShowLog => false,
            Action::Up | Action::Down | Action::Follow => {
                app.job.as_ref().is_some_and(|j| !j.log.is_empty())
            }
            Action::Answer => app.job.as_ref().is_some_and(JobView::awaits_answer),
            Action::CancelJob => {
                app.playbook_waiting()
                    || app.playbook.as_ref().is_some_and(|p| p.busy)
                        && app.job.as_ref().is_some_and(|j| j.handle.is_some())
            }
            _ => global_works(app, a),
        }
    }
    fn handle(&mut self, app: &mut App, _key: KeyEvent, action: Option<Action>) -> Handled {
        let Some(a) = action else {
            return Handled::Stay;
        };
        app.dirty = true;
        if !app.playbook_act(a) {
            app.global_act(a);
        }
        Handled::Stay
    }
}

impl DriftScreen {
    /// The furthest the report scrolls: its last line at the bottom.
    fn max_scroll(app: &App) -> u16 {
        let area = crate::views::body_area(app);
        app.drift
            .as_ref()
            .map_or(0, |d| crate::views::dialogs::drift_max_scroll(d, area))
    }
}

impl Component for DriftScreen {
    fn scopes(&self, _app: &App) -> Vec<Scope> {
        vec![Scope::Drift, Scope::Global]
    }
    fn works(&self, app: &App, a: Action) -> bool {
        match a {
            // Already there.
            Action::Drift => false,
            // A report that fits its pane does not scroll.
            _ if scrolling(a) => Self::max_scroll(app) > 0,
            _ => global_works(app, a),
        }
    }
    /// Its own keys scroll the report; the rest (`?`, `R`, `L`, …) are
    /// global.
    fn handle(&mut self, app: &mut App, _key: KeyEvent, action: Option<Action>) -> Handled {
        let Some(a) = action else {
            return Handled::Stay;
        };
        app.dirty = true;
        let page = app.list_height() as u16;
        if scroll(&mut self.scroll, a, page) {
            // Up after End moves at once.
            self.scroll = self.scroll.min(Self::max_scroll(app));
        } else if a != Action::Drift {
            // (`D` here: already there, and not shown.)
            app.global_act(a);
        }
        Handled::Stay
    }
}

impl RecordsScreen {
    /// The furthest the audit chain and the rollout log scroll.
    fn max_scroll(app: &App) -> (u16, u16) {
        let area = crate::views::body_area(app);
        app.records.as_ref().map_or((0, 0), |r| {
            crate::views::dialogs::records_max_scroll(r, area)
        })
    }
}

impl Component for RecordsScreen {
    fn scopes(&self, _app: &App) -> Vec<Scope> {
        vec![Scope::Records, Scope::Global]
    }
    fn works(&self, app: &App, a: Action) -> bool {
        match a {
            // The focused pane is longer than it.
            _ if scrolling(a) => {
                let (audit, log) = Self::max_scroll(app);
                if self.log_focus {
                    log > 0
                } else {
                    audit > 0
                }
            }
            _ => global_works(app, a),
        }
    }
    /// Its own keys scroll the focused pane and Tab gives the keyboard to
    /// the other; the rest (`?`, `R`, `L`, …) are global.
    fn handle(&mut self, app: &mut App, _key: KeyEvent, action: Option<Action>) -> Handled {
        let Some(a) = action else {
            return Handled::Stay;
        };
        app.dirty = true;
        // `A` again: read afresh, shown from the top.
        if a == Action::Records {
            *self = RecordsScreen::default();
        }
        if app.records.is_none() || a == Action::Records {
            app.global_act(a);
            return Handled::Stay;
        }
        if matches!(a, Action::FocusNext | Action::FocusPrev) {
            self.log_focus = !self.log_focus;
            return Handled::Stay;
        }
        let page = app.list_height() as u16;
        let s = if self.log_focus {
            &mut self.log_scroll
        } else {
            &mut self.scroll
        };
        if scroll(s, a, page) {
            // Up after End moves at once.
            let (audit, log) = Self::max_scroll(app);
            self.scroll = self.scroll.min(audit);
            self.log_scroll = self.log_scroll.min(log);
        } else {
            app.global_act(a);
        }
        Handled::Stay
    }
}

/// A scrolling key moves `s`; false when `a` is not one.
fn scroll(s: &mut u16, a: Action, page: u16) -> bool {
    match a {
        Action::Up => *s = s.saturating_sub(1),
        Action::Down => *s = s.saturating_add(1),
        Action::PageUp => *s = s.saturating_sub(page),
        Action::PageDown => *s = s.saturating_add(page),
        Action::Home => *s = 0,
        Action::End => *s = u16::MAX,
        _ => return false,
    }
    true
}

/// The search and input lines take printable keys as text; what they do
/// not use (Ctrl-c's quit) goes to the screen.
fn typed_line(app: &mut App, key: KeyEvent, action: Option<Action>) -> Handled {
    app.dirty = true;
    let used = app
        .job
        .as_mut()
        .is_some_and(|job| job.on_text_key(key, action));
    if !used {
        if let Some(a) = action {
            app.act(a);
        }
    }
    Handled::Stay
}

impl Component for SearchLine {
    fn scopes(&self, _app: &App) -> Vec<Scope> {
        vec![Scope::Search]
    }
    fn handle(&mut self, app: &mut App, key: KeyEvent, action: Option<Action>) -> Handled {
        typed_line(app, key, action)
    }
    fn paste(&mut self, app: &mut App, text: &str) -> bool {
        match app.job.as_mut().and_then(|j| j.search_typing.as_mut()) {
            Some(q) => {
                q.push_str(&super::state::one_line(text, " "));
                true
            }
            None => false,
        }
    }
}

impl Component for InputLine {
    fn scopes(&self, _app: &App) -> Vec<Scope> {
        vec![Scope::Input]
    }
    fn handle(&mut self, app: &mut App, key: KeyEvent, action: Option<Action>) -> Handled {
        typed_line(app, key, action)
    }
    /// One line of text, its line breaks shown as ⏎ and never sent as
    /// Enter; Enter sends it.
    fn paste(&mut self, app: &mut App, text: &str) -> bool {
        match app.job.as_mut() {
            Some(job) => {
                job.paste(text);
                true
            }
            None => false,
        }
    }
}

//! The console's state and how keys and messages change it. No I/O here: the
//! event loop (`app::run`) feeds messages in, `views` draws what is here.
use crossterm::event::{KeyEvent, MouseEvent, MouseEventKind};

use super::job::{JobEnd, JobView};
use super::keys::{self, Action, Scope};
use super::playbook::PlaybookView;
use super::review::{Assessed, Review};
use crate::pipeline::config::{Config, Theme, ThemeSetting};
use crate::pipeline::handoff::PackageState;
use crate::pipeline::lock::LockStatus;
use crate::pipeline::repo::{BranchInfo, BranchRef, HeadState, ProdTag, User};
use crate::pipeline::state::LiveRecord;

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Branches,
    Tags,
}

impl Pane {
    pub const ALL: [Pane; 2] = [Pane::Branches, Pane::Tags];
    pub fn title(self) -> &'static str {
        match self {
            Pane::Branches => "Branches",
            Pane::Tags => "Prod tags",
        }
    }
}

/// A branch row: its refs at once, its details when read.
#[derive(Debug, Clone)]
pub struct BranchRow {
    pub r: BranchRef,
    pub info: Option<BranchInfo>,
    /// The handoff package's state, once read.
    pub package: Option<PackageState>,
    /// The details reader found the name is no branch (a symbolic ref, a
    /// FIFO, a ref file that does not parse): not shown, as `status`
    /// leaves it out. Kept so that the readers' row indices stay valid.
    pub gone: bool,
}

/// What the console shows in its body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Main,
    Log,
    Review,
    Playbook,
    Records,
    Drift,
}

/// Work the event loop must start (the app itself does no I/O).
#[derive(Debug, Clone)]
pub enum Request {
    Gate {
        branch: String,
    },
    /// Make a branch's handoff package (`guardrail handoff`).
    Handoff {
        branch: String,
        /// The evidence directory typed (relative: to the repository).
        evidence: Option<std::path::PathBuf>,
    },
    /// Follow another process's running job (output, prompt, answers).
    Attach {
        dir: std::path::PathBuf,
    },
    Assess {
        branch: String,
        head: String,
    },
    /// Open a playbook for the branch (the worker waits for commands).
    Playbook {
        branch: String,
    },
    /// A command for the open playbook.
    Play(super::playbook::PlayCmd),
    /// Close the open playbook that has not started a step (its worker
    /// ends; it held nothing).
    ClosePlaybook,
    /// Read the live record and the lock again (a job started or ended).
    ReadState,
    /// Plan a rollback (the default target, or this tag).
    PlanRollback {
        target: Option<String>,
    },
    /// Carry out a confirmed rollback plan.
    Rollback {
        plan: Box<crate::pipeline::rollback::Plan>,
        reason: String,
    },
    /// Read the audit chain and the rollout log.
    Records,
    /// Search a job's log (on a worker).
    Search(Box<super::log::SearchAsk>),
    /// A preview of one evidence file.
    Preview {
        branch: String,
        head: String,
        name: String,
        /// The largest picture worth decoding (pixels), for the preview's
        /// way of drawing (see `views::image::Pictures::max_pixels`).
        max: (u32, u32),
        /// `[evidence] max_file`: a larger file is not read.
        max_file: crate::pipeline::config::Size,
    },
    /// Write the drill report.
    WriteReport {
        path: std::path::PathBuf,
        text: String,
    },
    /// Record a release manager's acknowledgement of a branch's guard
    /// changes, then judge the branch again.
    AcceptGuard {
        branch: String,
        head: String,
    },
}

/// News from a running job.
pub enum RunMsg {
    Started(crate::pipeline::runner::RunHandle, std::path::PathBuf),
    Event(crate::pipeline::runner::RunEvent),
    Done(JobEnd),
}

impl std::fmt::Debug for RunMsg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunMsg::Started(_, p) => write!(f, "Started({})", p.display()),
            RunMsg::Event(e) => write!(f, "Event({e:?})"),
            RunMsg::Done(e) => write!(f, "Done({e:?})"),
        }
    }
}

/// News from the playbook worker.
#[derive(Debug)]
pub enum PlayMsg {
    Event(crate::pipeline::playbook::Event),
    /// The step ended; the worker waits for the next command.
    Idle,
    /// The rollback ended: how, and what production serves now.
    RollbackEnded(
        Box<Result<crate::pipeline::rollback::RollbackOutcome, String>>,
        Option<Box<crate::pipeline::state::LiveRecord>>,
    ),
    /// The playbook ended: how, and what production serves now.
    Ended(
        Box<Result<crate::pipeline::playbook::Outcome, String>>,
        Option<Box<crate::pipeline::state::LiveRecord>>,
    ),
}

/// The records screen: the audit chain's verdict and tail, the rollout log.
#[derive(Debug, Clone, Default)]
pub struct RecordsView {
    pub verdict: String,
    pub intact: bool,
    /// One line per audit entry, newest last.
    pub entries: Vec<String>,
    pub rollout_log: String,
}

/// A message from the world into the app.
#[derive(Debug)]
pub enum Msg {
    Run(RunMsg),
    /// From the playbook worker.
    Play(PlayMsg),
    /// A rollback plan for the dialog.
    RollbackPlan(Box<Result<crate::pipeline::rollback::Plan, String>>),
    /// The target the rollback would take by itself (named beside a tag
    /// the user selected).
    RollbackDefault(Option<String>),
    /// A confirmed rollback was refused: its plan, made again under the
    /// lock, differs (what changed, the new plan, the reason given).
    RollbackPlanChanged(String, Box<crate::pipeline::rollback::Plan>, String),
    /// A drift check (on start, on a timer, when a watched file changes).
    Drift(Box<Result<crate::pipeline::drift::DriftReport, String>>),
    /// An evidence preview: branch, file, the picture or why not.
    Preview(
        String,
        String,
        Result<crate::pipeline::evidence::Thumbnail, String>,
    ),
    /// The audit chain and rollout log for the records screen.
    Records(Box<RecordsView>),
    /// A background check of production: all passed, the failing checks, when.
    LivePoll(bool, Vec<String>, chrono::DateTime<chrono::Utc>),
    /// A package assessment for the review screen.
    Assessed(
        String,
        Result<std::sync::Arc<crate::pipeline::handoff::package::Assessment>, String>,
    ),
    /// A branch's package state (its list badge) read again, as the branch
    /// list reads it: after a guard acknowledgement was recorded.
    PackageState(String, crate::pipeline::handoff::PackageState),
    Key(KeyEvent),
    Mouse(MouseEvent),
    Resize(u16, u16),
    /// Details for rows (index into `App::branches`) with the package state.
    Details(Vec<(usize, BranchInfo, Option<PackageState>)>),
    /// Rows (index into `App::branches`, name) the details reader found to
    /// be no readable branch: they leave the list.
    NotBranches(Vec<(usize, String)>),
    Tags(Vec<ProdTag>),
    /// A fresh read of the refs (after Refresh).
    Refs(Vec<BranchRef>),
    /// Ctrl-R's branches, read on a worker: the readers start again.
    Refreshed(Vec<BranchRef>),
    /// A log search's answer: which search, and the line it found.
    SearchDone(u64, Option<usize>),
    /// The live record and the lock as the state files say now (read when
    /// a job starts or ends and when those files change). The live record
    /// is `None` when it could not be read (the header keeps what it had),
    /// `Some(None)` when there is none.
    State(Option<Option<Box<LiveRecord>>>, LockStatus),
    /// A bracketed paste: text for the line being typed, never keys.
    Paste(String),
    Error(String),
}

impl Msg {
    /// A running script's output (a gate's, or a playbook step's): what the
    /// background readers give way to.
    pub fn is_job_output(&self) -> bool {
        matches!(
            self,
            Msg::Run(RunMsg::Event(crate::pipeline::runner::RunEvent::Output(_)))
                | Msg::Play(PlayMsg::Event(crate::pipeline::playbook::Event::Output(_)))
        )
    }

    /// News a person is waiting on: a script's prompt, a step or a job that
    /// ended. Drawn at once, not on the next frame tick.
    pub fn is_urgent(&self) -> bool {
        use crate::pipeline::playbook::Event as Play;
        use crate::pipeline::runner::RunEvent;
        matches!(
            self,
            Msg::Run(RunMsg::Event(RunEvent::Prompt(_) | RunEvent::Finished(_)) | RunMsg::Done(_))
                | Msg::Play(
                    PlayMsg::Event(Play::Prompt(_) | Play::Step(..))
                        | PlayMsg::Idle
                        | PlayMsg::RollbackEnded(..)
                        | PlayMsg::Ended(..)
                )
                | Msg::SearchDone(..)
                | Msg::Refreshed(..)
        )
    }
}

/// A cursor over a list: selected row and first row shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListCursor {
    pub selected: usize,
    pub offset: usize,
}

impl ListCursor {
    /// Moves by `delta` within `len` rows, keeping the selection visible in
    /// a window of `height` rows.
    pub fn step(&mut self, delta: isize, len: usize, height: usize) {
        if len == 0 {
            *self = ListCursor::default();
            return;
        }
        let s = self.selected as isize + delta;
        self.selected = s.clamp(0, len as isize - 1) as usize;
        self.follow(height);
    }
    pub fn to(&mut self, idx: usize, len: usize, height: usize) {
        self.selected = idx.min(len.saturating_sub(1));
        self.follow(height);
    }
    fn follow(&mut self, height: usize) {
        let h = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        } else if self.selected >= self.offset + h {
            self.offset = self.selected + 1 - h;
        }
    }
}

/// What a fast first read of the repository gives (no commit opened).
pub struct Base {
    pub project: String,
    pub cfg: Config,
    pub user: User,
    pub head: HeadState,
    pub main_missing: bool,
    pub refs: Vec<BranchRef>,
}

/// Everything the console shows.
pub struct App {
    pub project: String,
    pub cfg: Config,
    pub user: User,
    pub readonly: bool,
    pub mono: bool,
    /// How many colours the terminal shows: read once from `COLORTERM` and
    /// `TERM` at start, never per frame.
    pub colors: crate::views::theme::ColorMode,
    /// The user's `[ui] theme`: built-in name and colour overrides.
    pub theme: ThemeSetting,
    pub head: HeadState,
    pub main_missing: bool,
    pub branches: Vec<BranchRow>,
    pub tags: Option<Vec<ProdTag>>,
    pub live: Option<LiveRecord>,
    /// The last background check of production.
    pub live_poll: Option<(bool, Vec<String>, chrono::DateTime<chrono::Utc>)>,
    pub lock: LockStatus,
    pub focus: Pane,
    pub branch_cur: ListCursor,
    pub tag_cur: ListCursor,
    /// Indices into `branches` matching the filter.
    pub visible: Vec<usize>,
    pub filter: String,
    /// What lies over the screen (help, the filter line, questions, the
    /// rollback dialog), newest on top: see [`super::modal`].
    pub modals: Vec<super::modal::Modal>,
    pub size: (u16, u16),
    pub message: Option<String>,
    pub quit: bool,
    /// Something changed since the last frame.
    pub dirty: bool,
    /// The user asked for a re-read of the repository.
    pub refresh_requested: bool,
    /// The re-read branches arrived: the readers start again.
    pub refreshed: bool,
    pub screen: Screen,
    /// The running or last job.
    pub job: Option<JobView>,
    pub requests: Vec<Request>,
    /// Quit as soon as the running job has ended.
    pub quit_when_idle: bool,
    pub review: Review,
    /// The last frame's rows and tabs, and the last click.
    pub mouse: super::mouse::Mouse,
    pub playbook: Option<PlaybookView>,
    /// The terminal is gone: nothing is read or drawn any more.
    pub detached: bool,
    pub records: Option<RecordsView>,
    /// The last drift check.
    pub drift: Option<crate::pipeline::drift::DriftReport>,
    /// The drift screen's own state (its scroll).
    pub drift_screen: super::screens::DriftScreen,
    /// The records screen's own state (its panes' scrolls, which has the
    /// keyboard).
    pub records_screen: super::screens::RecordsScreen,
    /// In a drill: the coach.
    pub coach: Option<super::coach::Coach>,
    /// What the coach has seen the user do.
    pub seen: super::coach::Seen,
}

impl App {
    pub fn new(base: Base, readonly: bool, theme: ThemeSetting) -> App {
        let Base {
            project,
            cfg,
            user,
            head,
            main_missing,
            refs,
        } = base;
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        let mut app = App {
            project,
            cfg,
            user,
            readonly,
            mono: no_color || theme == Theme::Mono,
            theme,
            colors: crate::views::theme::ColorMode::from_env(),
            head,
            main_missing,
            branches: Vec::new(),
            tags: None,
            live: None,
            live_poll: None,
            lock: LockStatus::default(),
            focus: Pane::Branches,
            branch_cur: ListCursor::default(),
            tag_cur: ListCursor::default(),
            visible: Vec::new(),
            filter: String::new(),
            modals: Vec::new(),
            size: (80, 24),
            message: None,
            quit: false,
            dirty: true,
            refresh_requested: false,
            refreshed: false,
            screen: Screen::Main,
            job: None,
            requests: Vec::new(),
            quit_when_idle: false,
            review: Review::default(),
            mouse: Default::default(),
            playbook: None,
            detached: false,
            records: None,
            drift: None,
            drift_screen: Default::default(),
            records_screen: Default::default(),
            coach: None,
            seen: super::coach::Seen::default(),
        };
        app.set_refs(refs);
        app
    }

    pub fn set_refs(&mut self, refs: Vec<BranchRef>) {
        let selected = self.selected_branch().map(|b| b.r.name.clone());
        self.branches = refs
            .into_iter()
            .map(|r| BranchRow {
                r,
                info: None,
                package: None,
                gone: false,
            })
            .collect();
        self.apply_filter();
        if let Some(name) = selected {
            if let Some(pos) = self
                .visible
                .iter()
                .position(|&i| self.branches[i].r.name == name)
            {
                let h = self.list_height();
                self.branch_cur.to(pos, self.visible.len(), h);
            }
        }
        self.dirty = true;
    }

    /// Branches listed (the rows found to be no branch left out).
    pub fn branch_count(&self) -> usize {
        self.branches.iter().filter(|b| !b.gone).count()
    }

    /// Rows the details reader found to be no branch leave the list; the
    /// cursor stays on the branch it was on, or goes to the one that took
    /// its place (the next, else the last).
    fn drop_not_branches(&mut self, rows: Vec<(usize, String)>) {
        let selected = self.visible.get(self.branch_cur.selected).copied();
        let selected_name = self.selected_branch().map(|b| b.r.name.clone());
        let mut changed = false;
        for (i, name) in rows {
            if let Some(row) = self.branches.get_mut(i).filter(|r| r.r.name == name) {
                changed |= !row.gone;
                row.gone = true;
            }
        }
        if !changed {
            return;
        }
        let offset = self.branch_cur.offset;
        let first_shown = self.visible.get(offset).copied();
        self.apply_filter();
        // The first row shown stays first where it can (rows above it gone).
        if let Some(first) = first_shown {
            self.branch_cur.offset = self.visible.partition_point(|&v| v < first);
        }
        if let Some(sel) = selected {
            let pos = self.visible.partition_point(|&v| v < sel);
            let h = self.list_height();
            self.branch_cur.to(pos, self.visible.len(), h);
            let h = h.max(1);
            let len = self.visible.len();
            if self.branch_cur.offset + h > len {
                self.branch_cur.offset = len.saturating_sub(h).min(self.branch_cur.selected);
            }
            if self.screen == Screen::Review {
                let now = self.selected_branch().map(|b| b.r.name.clone());
                if now.is_none() {
                    self.screen = Screen::Main;
                } else {
                    // Another branch in its place: its own checklist, from
                    // the first item, not the gone one's.
                    if now != selected_name {
                        self.review.reset_panes();
                    }
                    self.want_assessment();
                }
            }
        }
        self.dirty = true;
    }

    /// Rows of a list pane that fit on screen (used for paging).
    pub fn list_height(&self) -> usize {
        // header 1 + footer 1 + borders 2 + column header 1 (+ tab bar when folded)
        let chrome = if self.folded() { 6 } else { 5 };
        (self.size.1 as usize).saturating_sub(chrome).max(1)
    }

    /// Panes fold into tabs when the terminal is narrow.
    pub fn folded(&self) -> bool {
        self.size.0 < 110
    }

    pub fn selected_branch(&self) -> Option<&BranchRow> {
        self.visible
            .get(self.branch_cur.selected)
            .and_then(|&i| self.branches.get(i))
    }

    /// Indices of branch rows on screen now (the loader reads these first).
    pub fn rows_on_screen(&self) -> Vec<usize> {
        let h = self.list_height();
        self.visible
            .iter()
            .skip(self.branch_cur.offset)
            .take(h)
            .copied()
            .filter(|&i| self.branches[i].info.is_none())
            .collect()
    }

    pub(super) fn apply_filter(&mut self) {
        let f = self.filter.to_lowercase();
        self.visible = self
            .branches
            .iter()
            .enumerate()
            .filter(|(_, b)| !b.gone && (f.is_empty() || b.r.name.to_lowercase().contains(&f)))
            .map(|(i, _)| i)
            .collect();
        let h = self.list_height();
        let len = self.visible.len();
        let sel = self.branch_cur.selected;
        self.branch_cur.to(sel, len, h);
        if self.branch_cur.offset + h > len {
            self.branch_cur.offset = len.saturating_sub(h).min(self.branch_cur.selected);
        }
    }

    /// Opens the log pane on another process's running job, answering
    /// through its pipe.
    pub fn attach(&mut self, job: &crate::pipeline::jobs::JobRecord, dir: std::path::PathBuf) {
        let mut view = JobView::new(format!(
            "{} {} · attached to {}'s job (pid {})",
            job.kind, job.target, job.actor, job.pid
        ));
        view.attached = Some(dir.clone());
        self.job = Some(view);
        self.screen = Screen::Log;
        self.requests.push(Request::Attach { dir });
    }

    /// The terminal went away (SIGHUP, SSH drop): a running job goes on to
    /// its end — a gate waiting at a prompt keeps waiting — and is recorded
    /// when it ends; then the console exits. With nothing running it exits
    /// now. A playbook waiting between steps is abandoned there (recorded,
    /// its lock freed).
    pub fn detach(&mut self) {
        self.detached = true;
        self.dirty = true;
        if self.playbook_waiting() {
            self.abandon_playbook();
            self.quit_when_idle = true;
            return;
        }
        let gate_running = self.job.as_ref().is_some_and(JobView::running)
            && self.playbook.as_ref().is_none_or(|p| p.ended());
        let playbook_busy = self.playbook.as_ref().is_some_and(|p| p.busy);
        if gate_running || playbook_busy {
            self.quit_when_idle = true;
        } else {
            self.quit = true;
        }
    }

    /// A signal asked the console to end: see [`App::quit_with_job`].
    pub fn stop_soon(&mut self) {
        self.quit_with_job();
        self.dirty = true;
    }

    /// Quitting while a job of this console runs (confirmed, or a signal):
    /// nothing is left unrecorded. A gate (or a playbook step at a script)
    /// is cancelled — TERM to its process group, then KILL — and recorded;
    /// a rollback, or a deploy step that runs no script (publishing,
    /// verifying), goes on to its end, since stopping it halfway would leave
    /// production half-changed; a playbook waiting between steps is
    /// abandoned (recorded, its lock freed). The console quits when the job
    /// is recorded, and says so meanwhile.
    pub fn quit_with_job(&mut self) {
        if !self.job_running() || self.job.as_ref().is_some_and(|j| j.attached.is_some()) {
            // Another process's job goes on without us; an unstarted
            // playbook held nothing.
            self.quit = true;
            return;
        }
        self.quit_when_idle = true;
        if self.playbook_waiting() {
            self.abandon_playbook();
            self.message = Some("abandoning the deploy (recorded); quitting then".into());
            return;
        }
        if let Some(pb) = self.playbook.as_ref().filter(|p| p.busy) {
            let what = match &pb.rollback {
                Some(r) => format!("the rollback to {}", r.target),
                None => format!("the deploy of {}", pb.branch),
            };
            let at_script =
                pb.rollback.is_none() && self.job.as_ref().is_some_and(|j| j.prompt.is_some());
            match self.job.as_ref().and_then(|j| j.handle.clone()) {
                Some(h) if at_script => {
                    h.cancel();
                    self.message = Some(format!("cancelling {what}: quitting when it is recorded"));
                }
                _ => {
                    self.message = Some(format!(
                        "{what} goes on to its end: quitting when it is recorded"
                    ));
                }
            }
            return;
        }
        // A gate: cancelled now, or as soon as its script starts (see
        // `RunMsg::Started`).
        if let Some(h) = self.job.as_ref().and_then(|j| j.handle.clone()) {
            h.cancel();
        }
        self.message = Some("cancelling the job; quitting when it is recorded".into());
    }

    /// What quitting would do to the running job, as the question says it.
    pub fn quit_question(&self) -> String {
        if self.playbook_waiting() {
            return "Quit and abandon the deploy waiting between its steps (recorded)? y = yes, any other key = no".into();
        }
        match self.playbook.as_ref().filter(|p| p.busy) {
            Some(p) if p.rollback.is_some() => "Quit once the rollback has ended and is recorded (it goes on to its end)? y = yes, any other key = no".into(),
            Some(_) if self.job.as_ref().is_some_and(|j| j.prompt.is_none()) => "Quit once this deploy step has ended and the deploy is recorded? y = yes, any other key = no".into(),
            _ => "Quit and cancel it? It is recorded before the console exits. y = yes, any other key = no".into(),
        }
    }

    /// The open playbook has not started a step: it is no job yet (it holds
    /// no lock and has no journal), and gives way to `R`, `g` and `d`.
    pub fn playbook_unstarted(&self) -> bool {
        self.playbook.as_ref().is_some_and(|p| {
            p.rollback.is_none()
                && !p.busy
                && !p.ended()
                && p.steps
                    .iter()
                    .all(|(_, st)| matches!(st, crate::pipeline::playbook::StepState::Waiting))
        })
    }

    /// A started playbook waits for the user between its steps.
    pub fn playbook_waiting(&self) -> bool {
        self.playbook.as_ref().is_some_and(|p| {
            p.rollback.is_none() && !p.busy && !p.ended() && !self.playbook_unstarted()
        })
    }

    /// Closes an open playbook that has not started a step.
    pub(super) fn close_unstarted_playbook(&mut self) {
        if self.playbook_unstarted() {
            self.playbook = None;
            self.job = None;
            self.requests.push(Request::ClosePlaybook);
        }
    }

    /// Ends a playbook waiting between steps: recorded, its lock freed.
    pub(super) fn abandon_playbook(&mut self) {
        if let Some(pb) = self.playbook.as_mut() {
            pb.busy = true;
            pb.auto = false;
            self.requests
                .push(Request::Play(super::playbook::PlayCmd::Abandon));
        }
    }

    pub fn job_running(&self) -> bool {
        if self.playbook_unstarted() {
            return false;
        }
        self.job.as_ref().is_some_and(JobView::running)
            || self.playbook.as_ref().is_some_and(|p| p.busy)
    }

    /// This console's running or waiting job, as the header and the branch
    /// row show it: what, for which branch (none for a rollback), and
    /// whether it waits for the user.
    pub fn own_job(&self) -> Option<(String, Option<String>, bool)> {
        if !self.job_running() {
            return None;
        }
        // Another process's job (attached to) is not this console's: the
        // lock segment names its holder.
        let job = self.job.as_ref().filter(|j| j.attached.is_none())?;
        if let Some(pb) = self.playbook.as_ref().filter(|p| !p.ended()) {
            return Some(match &pb.rollback {
                Some(r) => (
                    format!("rollback to {}", r.target),
                    None,
                    job.prompt.is_some(),
                ),
                None => (
                    "deploy".to_string(),
                    Some(pb.branch.clone()),
                    job.prompt.is_some() || !pb.busy,
                ),
            });
        }
        if let Some(branch) = job.title.strip_prefix("handoff ") {
            return Some((
                "handoff".to_string(),
                Some(branch.to_string()),
                job.prompt.is_some(),
            ));
        }
        let branch = job.title.strip_prefix("gate ").map(str::to_string);
        Some(("gate".to_string(), branch, job.prompt.is_some()))
    }

    /// The scopes whose keys work right now, the first winning: those of
    /// the component on top (see [`App::top`]). The footer shows their
    /// keys, the `?` overlay lists them first, and a key is looked up in
    /// them and nowhere else.
    pub fn scopes(&self) -> Vec<Scope> {
        self.top().scopes(self)
    }

    /// The keys that work now, in table order: the component on top's
    /// commands. The footer shows these (the ones marked for it) and the
    /// `?` overlay lists them first. A key the table has for this place
    /// but that would do nothing now is left out.
    pub fn shown_keys(&self) -> Vec<&'static keys::Binding> {
        self.top().commands(self)
    }

    /// The keys of what is under the `?` overlay that work now.
    pub fn screen_keys(&self) -> Vec<&'static keys::Binding> {
        self.under_help().commands(self)
    }

    /// The scopes under the `?` overlay (what the overlay explains).
    pub fn screen_scopes(&self) -> Vec<Scope> {
        self.under_help().scopes(self)
    }

    /// Applies one message, then lets the drill's coach look.
    pub fn update(&mut self, msg: Msg) {
        self.apply(msg);
        // "Cancel the job?" goes with the job's end.
        // A question goes when what it asks about has gone: "cancel the
        // job?" and "quit anyway?" with the job, "abandon the deploy?" when
        // it no longer waits between its steps.
        if !self.job.as_ref().is_some_and(JobView::running) {
            self.close_where(|m| matches!(m, super::modal::Modal::ConfirmCancel));
        }
        if !self.job_running() {
            self.close_where(|m| matches!(m, super::modal::Modal::ConfirmQuit));
        }
        if !self.playbook_waiting() {
            self.close_where(|m| matches!(m, super::modal::Modal::ConfirmAbandon));
        }
        if let Some(ask) = self.job.as_mut().and_then(|j| j.pending_search.take()) {
            self.requests.push(Request::Search(Box::new(ask)));
        }
        if let Some(dir) = self.job.as_mut().and_then(|j| j.evidence_answer.take()) {
            let branch = self
                .job
                .as_ref()
                .and_then(|j| j.title.strip_prefix("handoff "))
                .unwrap_or_default()
                .to_string();
            let evidence = (!dir.is_empty()).then(|| std::path::PathBuf::from(dir));
            self.requests.push(Request::ReadState);
            self.requests.push(Request::Handoff { branch, evidence });
        }
        self.coach_observe();
    }

    fn apply(&mut self, msg: Msg) {
        match msg {
            Msg::Key(k) => self.on_key(k),
            Msg::Mouse(m) => self.on_mouse(m),
            Msg::Resize(w, h) => {
                self.size = (w, h);
                let lh = self.list_height();
                let len = self.visible.len();
                let sel = self.branch_cur.selected;
                self.branch_cur.to(sel, len, lh);
                self.dirty = true;
            }
            Msg::Details(rows) => {
                let selected = self.selected_branch().map(|b| b.r.name.clone());
                let mut selected_read = false;
                for (i, info, package) in rows {
                    if let Some(row) = self.branches.get_mut(i) {
                        if row.r.name == info.name {
                            // A row listed by name alone learns its head here.
                            if row.r.head.is_empty() {
                                row.r.head = info.head.clone();
                            }
                            selected_read |= selected.as_deref() == Some(info.name.as_str());
                            row.info = Some(info);
                            row.package = package;
                        }
                    }
                }
                if selected_read {
                    // The review waited for the head to ask for its assessment.
                    self.want_assessment();
                }
                self.dirty = true;
            }
            Msg::NotBranches(rows) => self.drop_not_branches(rows),
            Msg::Tags(t) => {
                let len = t.len();
                self.tags = Some(t);
                // newest first on screen; keep the cursor in range
                let h = self.list_height();
                let sel = self.tag_cur.selected;
                self.tag_cur.to(sel, len, h);
                self.dirty = true;
            }
            Msg::Refs(r) => self.set_refs(r),
            Msg::Refreshed(r) => {
                self.set_refs(r);
                self.refreshed = true;
                self.dirty = true;
            }
            Msg::SearchDone(seq, hit) => {
                if let Some(job) = self.job.as_mut() {
                    job.search_done(seq, hit);
                }
                self.dirty = true;
            }
            Msg::State(live, lock) => {
                if let Some(live) = live {
                    let before = self.live.take();
                    self.live = live.map(|l| *l);
                    self.rollback_live_changed(before.as_ref());
                }
                self.lock = lock;
                self.dirty = true;
            }
            Msg::Paste(text) => self.on_paste(text),
            Msg::Error(e) => {
                self.message = Some(e);
                self.dirty = true;
            }
            Msg::Assessed(branch, r) => {
                let v = match r {
                    Ok(a) => Assessed::Ready(a),
                    Err(e) => Assessed::Failed(e),
                };
                self.review.assessed.insert(branch, v);
                self.dirty = true;
            }
            Msg::PackageState(branch, state) => {
                for row in self.branches.iter_mut().filter(|r| r.r.name == branch) {
                    row.package = Some(state);
                }
                self.dirty = true;
            }
            Msg::Play(m) => self.on_play(m),
            Msg::RollbackDefault(t) => {
                if let Some(d) = self.rollback_mut() {
                    d.default_target = t;
                }
                self.dirty = true;
            }
            Msg::RollbackPlan(r) => {
                if let Some(d) = self.rollback_mut() {
                    d.loading = false;
                    match *r {
                        Ok(p) => {
                            d.plan = Some(Box::new(p));
                            d.error = None;
                        }
                        Err(e) => d.error = Some(e),
                    }
                }
                self.rollback_plan_arrived();
                self.dirty = true;
            }
            Msg::RollbackPlanChanged(changes, plan, reason) => {
                self.rollback_plan_changed(changes, plan, reason)
            }
            Msg::Drift(r) => {
                match *r {
                    Ok(d) => self.drift = Some(d),
                    Err(e) => self.message = Some(format!("drift could not be checked: {e}")),
                }
                self.dirty = true;
            }
            Msg::Preview(branch, name, r) => {
                self.review.preview = Some((branch, name, r));
                self.dirty = true;
            }
            Msg::Records(r) => {
                self.records = Some(*r);
                self.seen.records_read = true;
                self.dirty = true;
            }
            Msg::LivePoll(ok, failing, at) => {
                self.live_poll = Some((ok, failing, at));
                self.dirty = true;
            }
            Msg::Run(r) => {
                if let Some(job) = self.job.as_mut() {
                    match r {
                        RunMsg::Started(h, log) => {
                            // Quitting was asked before the script started
                            // (a hang-up lets it run).
                            if self.quit_when_idle && !self.detached {
                                h.cancel();
                            }
                            job.started(h, log)
                        }
                        RunMsg::Event(ev) => job.on_event(ev),
                        RunMsg::Done(end) => {
                            self.message = Some(format!("{}: {}", job.title, end.summary));
                            job.finished(end);
                            self.requests.push(Request::ReadState);
                            if self.quit_when_idle {
                                self.quit = true;
                            }
                        }
                    }
                }
                self.dirty = true;
            }
        }
    }

    fn on_key(&mut self, k: KeyEvent) {
        if k.kind == crossterm::event::KeyEventKind::Release {
            return;
        }
        self.dirty = true;
        // One lookup in the scopes of the component on top: what the
        // footer and the `?` overlay show is what the key does.
        let scopes = self.scopes();
        let action = keys::lookup(&k, &scopes, self.readonly).map(|b| b.action);
        self.dispatch(k, action);
    }

    /// A global action: the keys every screen shares (and the lists' own,
    /// on the main screen), after the screen's component let it through.
    pub(super) fn global_act(&mut self, a: Action) {
        self.dirty = true;
        match a {
            Action::Quit => {
                if self.job_running() {
                    self.open(super::modal::Modal::ConfirmQuit);
                } else {
                    self.quit = true;
                }
            }
            Action::Gate => {
                if self.playbook_waiting() {
                    self.message = Some(self.waiting_playbook_note("g"));
                } else if self.job_running() {
                    let title = self
                        .job
                        .as_ref()
                        .map(|j| j.title.clone())
                        .unwrap_or_default();
                    self.message = Some(format!("{title} is still running (L shows it)"));
                } else if let Some(b) = self.selected_branch() {
                    let branch = b.r.name.clone();
                    self.close_unstarted_playbook();
                    self.message = None;
                    self.job = Some(JobView::new(format!("gate {branch}")));
                    self.requests.push(Request::ReadState);
                    self.requests.push(Request::Gate { branch });
                    self.screen = Screen::Log;
                }
            }
            Action::Handoff => {
                if self.playbook_waiting() {
                    self.message = Some(self.waiting_playbook_note("h"));
                } else if self.job_running() {
                    let title = self
                        .job
                        .as_ref()
                        .map(|j| j.title.clone())
                        .unwrap_or_default();
                    self.message = Some(format!("{title} is still running (L shows it)"));
                } else if let Some(b) = self.selected_branch() {
                    let branch = b.r.name.clone();
                    self.close_unstarted_playbook();
                    self.message = None;
                    let mut job = JobView::new(format!("handoff {branch}"));
                    job.prompt = Some(
                        "Evidence directory (screenshots, screencasts; Enter: none, Esc: do not start): "
                            .into(),
                    );
                    job.input_focus = true;
                    job.evidence_ask = Some(branch);
                    self.job = Some(job);
                    self.screen = Screen::Log;
                }
            }
            Action::ShowLog => {
                // Back to a script waiting for an answer: at its input line.
                if let Some(job) = self.job.as_mut().filter(|j| j.prompt.is_some()) {
                    job.input_focus = true;
                }
                if self.playbook.as_ref().is_some_and(|p| !p.ended()) {
                    // The playbook's own screen: its steps and its output.
                    self.screen = Screen::Playbook;
                } else if self.job.is_some() {
                    self.screen = Screen::Log;
                } else {
                    self.message = Some("no job has run in this session yet".into());
                }
            }
            Action::Back => self.screen = Screen::Main,
            Action::Review => self.open_review(),
            Action::Deploy => self.open_playbook(),
            Action::Rollback => self.open_rollback(),
            Action::Drift => {
                self.drift_screen = Default::default();
                self.screen = Screen::Drift;
            }
            Action::Records => {
                self.records = None;
                self.records_screen = Default::default();
                self.screen = Screen::Records;
                self.requests.push(Request::Records);
            }
            Action::Explain
            | Action::OpenGateLog
            | Action::GuardDiff
            | Action::AcceptGuard
            | Action::RunStep
            | Action::RunAll => {}
            Action::Follow
            | Action::Search
            | Action::NextMatch
            | Action::PrevMatch
            | Action::FirstFailure
            | Action::Answer
            | Action::CancelJob => {}
            // Keys of the dialogs and typed lines (their components').
            Action::Submit
            | Action::Cancel
            | Action::DeleteChar
            | Action::Confirm
            | Action::TreeFallback
            | Action::PickTag
            | Action::EditReason
            | Action::TogglePaths => {}
            Action::Help => self.open(super::modal::Modal::Help { scroll: 0 }),
            // The lists' own keys (the main screen's component).
            Action::FocusNext
            | Action::FocusPrev
            | Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Home
            | Action::End
            | Action::Filter => {}
            Action::ClearFilter => {
                if !self.filter.is_empty() {
                    self.filter.clear();
                    self.apply_filter();
                }
                self.message = None;
            }
            Action::Refresh => {
                self.refresh_requested = true;
                self.requests.push(Request::ReadState);
            }
        }
    }

    /// A bracketed paste: text for the line being typed (the input line,
    /// the search, the filter, the rollback reason), never keys — so a
    /// pasted newline answers nothing and starts nothing.
    fn on_paste(&mut self, text: String) {
        self.dirty = true;
        // The component on top takes it, if it has a line being typed.
        if self.paste_top(&text) {
            return;
        }
        self.message = Some("a paste goes into the input line only (i or Enter opens it)".into());
    }

    pub(super) fn move_sel(&mut self, delta: isize, h: usize) {
        match self.focus {
            Pane::Branches => self.branch_cur.step(delta, self.visible.len(), h),
            Pane::Tags => {
                let len = self.tags.as_ref().map_or(0, Vec::len);
                self.tag_cur.step(delta, len, h);
            }
        }
    }

    fn on_mouse(&mut self, m: MouseEvent) {
        if self.on_wheel_elsewhere(m) {
            return;
        }
        let h = self.list_height();
        let delta = match m.kind {
            MouseEventKind::ScrollDown => 3,
            MouseEventKind::ScrollUp => -3,
            _ => return self.on_click(m),
        };
        // The lists scroll only where they are what the user sees: not
        // under a question, a dialog or a line being typed on another
        // screen (the hidden list would move, and the review follow it).
        if self.screen != Screen::Main
            || !matches!(
                self.scopes().first(),
                Some(Scope::Global | Scope::List | Scope::Branches | Scope::Filter)
            )
        {
            return;
        }
        // The wheel scrolls the pane under the pointer when side by side.
        let pane = if self.folded() || m.column < self.size.0 * 6 / 10 {
            if self.folded() {
                self.focus
            } else {
                Pane::Branches
            }
        } else {
            Pane::Tags
        };
        let saved = self.focus;
        self.focus = pane;
        self.move_sel(delta, h);
        self.focus = saved;
        self.dirty = true;
    }
}

/// Pasted text on one line: line breaks become `sep`, trailing ones go.
pub fn one_line(text: &str, sep: &str) -> String {
    text.trim_end_matches(['\r', '\n'])
        .replace("\r\n", "\n")
        .replace(['\r', '\n'], sep)
}

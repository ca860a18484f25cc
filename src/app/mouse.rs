//! Clicks: what the last frame drew where (recorded by the views, decided
//! here). A click selects a row and focuses its pane, or selects a tab; a
//! second click on the same branch row soon after opens its review, as
//! `Enter` does. A click on a key in the footer runs that key: the same
//! key event goes through the same dispatch as when typed, so whatever asks
//! first still asks (`R` opens the rollback dialog; only a typed `y` rolls
//! back). A pop-up (the review's explanation) takes the clicks on it, and
//! a click outside closes it: nothing under it is selected. The wheel is
//! handled with the keys' list movement.
use std::time::{Duration, Instant};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseButton, MouseEvent, MouseEventKind};
use ratatui::layout::Rect;

use super::keys::{Action, Scope};
use super::review::ReviewPane;
use super::state::Msg;
use super::state::{App, Pane, Screen};

/// Two clicks on one row within this are a double-click.
const DOUBLE: Duration = Duration::from_millis(500);

/// Where a tab of a tab bar was drawn, and what it selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TabTarget {
    Main(Pane),
    Review(ReviewPane),
}

/// A pane as drawn, for the clicks that land in it but on no row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PaneTarget {
    /// A pane of the review screen (its branch list, gate log, snapshot,
    /// evidence): a click focuses it; a double-click on the gate log opens
    /// the whole log, as `o` does.
    Review(ReviewPane),
    /// The log pane's output: a double-click is `Enter` there (the input
    /// line, when the script waits for an answer).
    LogOutput,
    /// The log pane's input line: a click puts the keyboard there, as
    /// `Enter` does.
    LogInput,
    /// The records screen's audit chain (`log: false`) or rollout log: a
    /// click gives it the keyboard, as `Tab` does.
    Records { log: bool },
}

/// A list's rows as drawn: the first row's area line by line, and which
/// item the top row shows.
#[derive(Debug, Clone, Copy)]
pub struct ListHit {
    pub pane: Pane,
    pub rows: Rect,
    pub offset: usize,
    pub len: usize,
}

/// A key hint of the footer as drawn: its columns and its action (a click
/// runs it as its key would, see [`App::run_action`]).
#[derive(Debug, Clone, Copy)]
pub struct FooterKey {
    pub area: Rect,
    pub action: Action,
}

/// What the last frame drew where; the views fill it, nothing else.
#[derive(Debug, Clone, Default)]
pub struct Hits {
    pub lists: Vec<ListHit>,
    pub tabs: Vec<(Rect, TabTarget)>,
    pub footer: Vec<FooterKey>,
    /// Panes, drawn first to last; a click goes to the last one under it.
    pub panes: Vec<(Rect, PaneTarget)>,
    /// A pop-up over the screen (the review's explanation of a checklist
    /// item): what is under it takes no click; a click in it does nothing,
    /// a click outside it closes it.
    pub popup: Option<Rect>,
}

/// Where the tabs of a ratatui `Tabs` bar (one-space padding each side, a
/// one-column divider) fall in `area`.
pub fn tab_areas(area: Rect, titles: &[usize]) -> Vec<Rect> {
    let mut x = area.x;
    let mut out = Vec::new();
    for w in titles {
        if x >= area.right() {
            break;
        }
        let end = (x + *w as u16 + 2).min(area.right());
        out.push(Rect::new(x, area.y, end - x, 1));
        x = end + 1;
    }
    out
}

/// The mouse's state across events: the last frame's map and last click.
#[derive(Debug, Default)]
pub struct Mouse {
    pub hits: Hits,
    last: Option<(Instant, Pane, usize)>,
    last_pane: Option<(Instant, PaneTarget)>,
}

fn inside(r: Rect, col: u16, row: u16) -> bool {
    col >= r.x && col < r.right() && row >= r.y && row < r.bottom()
}

impl App {
    /// A left click: a row, a tab, or nothing. Questions, dialogs and the
    /// help overlay take no clicks.
    pub(crate) fn on_click(&mut self, m: MouseEvent) {
        if m.kind != MouseEventKind::Down(MouseButton::Left) {
            return;
        }
        if self.on_footer_click(m.column, m.row) {
            return;
        }
        let here = matches!(
            self.scopes().first(),
            Some(
                Scope::Global
                    | Scope::List
                    | Scope::Branches
                    | Scope::Review
                    | Scope::Log
                    | Scope::Records
            )
        );
        if !here {
            return;
        }
        if let Some(p) = self.mouse.hits.popup {
            self.mouse.last = None;
            self.mouse.last_pane = None;
            if !inside(p, m.column, m.row) {
                self.close_popup();
            }
            return;
        }
        let (col, row) = (m.column, m.row);
        if let Some(&(_, target)) = self
            .mouse
            .hits
            .tabs
            .iter()
            .find(|(r, _)| inside(*r, col, row))
        {
            self.mouse.last = None;
            self.mouse.last_pane = None;
            self.dirty = true;
            match target {
                TabTarget::Main(p) => self.focus = p,
                TabTarget::Review(p) => {
                    self.review.tab = p;
                    self.review.focus = p;
                }
            }
            return;
        }
        let Some(hit) = self
            .mouse
            .hits
            .lists
            .iter()
            .copied()
            .find(|l| inside(l.rows, col, row))
        else {
            return self.on_pane_click(col, row);
        };
        let idx = hit.offset + (row - hit.rows.y) as usize;
        if idx >= hit.len {
            return self.on_pane_click(col, row);
        }
        self.dirty = true;
        self.mouse.last_pane = None;
        // The rows as drawn (the review's list is taller than the main
        // one): the row clicked stays under the pointer.
        let h = (hit.rows.height as usize).max(1);
        if self.screen == Screen::Review {
            // The review's own branch list: that branch's package, its
            // panes from the top when it is another branch, as `j`/`k`.
            self.review.focus = ReviewPane::Branches;
            let before = self.branch_cur.selected;
            self.branch_cur.to(idx, self.visible.len(), h);
            if self.branch_cur.selected != before {
                self.review.reset_panes();
            }
            self.want_assessment();
            self.mouse.last = None;
            return;
        }
        self.focus = hit.pane;
        match hit.pane {
            Pane::Branches => self.branch_cur.to(idx, self.visible.len(), h),
            Pane::Tags => {
                let len = self.tags.as_ref().map_or(0, Vec::len);
                self.tag_cur.to(idx, len, h);
            }
        }
        let now = Instant::now();
        let double = self
            .mouse
            .last
            .is_some_and(|(t, p, i)| p == hit.pane && i == idx && now.duration_since(t) < DOUBLE);
        if double && hit.pane == Pane::Branches {
            self.mouse.last = None;
            self.open_review();
        } else {
            self.mouse.last = Some((now, hit.pane, idx));
        }
    }
}

impl App {
    /// Closes the pop-up a click landed outside of.
    fn close_popup(&mut self) {
        self.mouse.hits.popup = None;
        self.review.explain = false;
        self.dirty = true;
    }

    /// A click on a footer key: that key, typed. Not while a question or
    /// the rollback dialog is up: their `y` is for the keyboard alone, and a
    /// stray click must not answer them. True when the click was the
    /// footer's.
    fn on_footer_click(&mut self, col: u16, row: u16) -> bool {
        let Some(k) = self
            .mouse
            .hits
            .footer
            .iter()
            .find(|k| inside(k.area, col, row))
            .copied()
        else {
            return false;
        };
        let asks = matches!(
            self.scopes().first(),
            Some(Scope::Confirm | Scope::Rollback | Scope::RollbackPick | Scope::Reason)
        );
        if asks {
            return true;
        }
        if acts_at_once(k.action) {
            // A stray click must not run a deploy step, a gate or an
            // acknowledgement: these keys act without asking first.
            self.message = Some(
                "that key acts at once: press it on the keyboard, a click does not run it".into(),
            );
            self.dirty = true;
            return true;
        }
        self.mouse.last = None;
        // What the key does on the component on top (the same dispatch a
        // typed key goes through; a key not shown there does nothing).
        self.run_action(k.action);
        true
    }
}

impl App {
    /// A click in a pane, on no row or tab: focus it; a second click soon
    /// after on the same pane opens what it shows, as its key does.
    fn on_pane_click(&mut self, col: u16, row: u16) {
        let Some(&(_, target)) = self
            .mouse
            .hits
            .panes
            .iter()
            .rev()
            .find(|(r, _)| inside(*r, col, row))
        else {
            return;
        };
        self.mouse.last = None;
        self.dirty = true;
        let now = Instant::now();
        let double = self
            .mouse
            .last_pane
            .is_some_and(|(t, p)| p == target && now.duration_since(t) < DOUBLE);
        self.mouse.last_pane = if double { None } else { Some((now, target)) };
        let enter = KeyEvent::new(KeyCode::Enter, KeyModifiers::NONE);
        match target {
            PaneTarget::Review(p) => {
                self.review.focus = p;
                if p != ReviewPane::Branches {
                    self.review.tab = p;
                }
                if double && p == ReviewPane::Gate {
                    self.act(Action::OpenGateLog);
                }
            }
            PaneTarget::LogOutput if double => self.update(Msg::Key(enter)),
            PaneTarget::LogOutput => {}
            PaneTarget::LogInput => {
                self.mouse.last_pane = None;
                self.update(Msg::Key(enter));
            }
            PaneTarget::Records { log } => {
                if self.records.is_some() {
                    self.records_screen.log_focus = log;
                }
            }
        }
    }
}

impl App {
    /// The wheel off the main screen's lists: three `↓` (or `↑`) keys, as
    /// typed, to what is on top — the help overlay, the log pane, the
    /// review's focused pane, the playbook's output, the drift and records
    /// screens. False where the main lists take it (and under a question,
    /// where a key would answer it).
    pub(crate) fn on_wheel_elsewhere(&mut self, m: MouseEvent) -> bool {
        let code = match m.kind {
            MouseEventKind::ScrollDown => KeyCode::Down,
            MouseEventKind::ScrollUp => KeyCode::Up,
            _ => return false,
        };
        let elsewhere = matches!(
            self.scopes().first(),
            Some(
                Scope::HelpOverlay
                    | Scope::Log
                    | Scope::Review
                    | Scope::Playbook
                    | Scope::Drift
                    | Scope::Records
            )
        );
        if elsewhere {
            for _ in 0..3 {
                self.update(Msg::Key(KeyEvent::new(code, KeyModifiers::NONE)));
            }
        }
        elsewhere
    }
}

/// Keys that change something at once, with no question or dialog before:
/// a footer click does not run them (a click runs only what asks first or
/// changes nothing).
fn acts_at_once(a: Action) -> bool {
    matches!(
        a,
        Action::RunStep | Action::RunAll | Action::Gate | Action::AcceptGuard | Action::Handoff
    )
}

//! The log pane's state: a running (or finished) script's output with
//! follow mode, scrolling, search, a jump to the first failure, and the input
//! line for the script's prompts.
use std::path::PathBuf;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui_textarea::TextArea;

use super::keys::Action;
use super::log::LogBuffer;
use crate::pipeline::runner::{RunEvent, RunHandle};

/// How a job ended, as the pane shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEnd {
    pub ok: bool,
    pub summary: String,
}

pub struct JobView {
    /// e.g. "gate feature/auth-modal".
    pub title: String,
    pub log: LogBuffer,
    /// Stick to the newest line.
    pub follow: bool,
    /// First line shown when not following.
    pub top: usize,
    /// The script is waiting at this prompt.
    pub prompt: Option<String>,
    pub input: TextArea<'static>,
    /// Keys go to the input line.
    pub input_focus: bool,
    /// The search query being typed (`Some` while typing).
    pub search_typing: Option<String>,
    pub search: Option<String>,
    /// The line of the current match.
    pub hit: Option<usize>,
    pub handle: Option<RunHandle>,
    /// Attached to another process's job: answers go to its pipe.
    pub attached: Option<PathBuf>,
    pub end: Option<JobEnd>,
    /// Enter on an empty answer asked once: the next Enter sends it.
    pub empty_asked: bool,
    /// Rows of log the pane showed last (for paging).
    pub page: usize,
    pub message: Option<String>,
    /// A search asked for, not yet handed to a worker.
    pub pending_search: Option<super::log::SearchAsk>,
    /// Searches asked so far, and the one whose answer is awaited.
    pub search_seq: u64,
    pub search_wait: Option<u64>,
    /// `h`: the console asks, in the input line, for the evidence
    /// directory of this branch's handoff before anything runs.
    pub evidence_ask: Option<String>,
    /// The directory typed (empty: none), not yet handed to a worker.
    pub evidence_answer: Option<String>,
}

fn new_input() -> TextArea<'static> {
    let mut t = TextArea::default();
    t.set_placeholder_text("type the answer, Enter sends it");
    t.set_cursor_line_style(ratatui::style::Style::default());
    t
}

impl JobView {
    pub fn new(title: String) -> JobView {
        JobView {
            title,
            log: LogBuffer::new(None),
            follow: true,
            top: 0,
            prompt: None,
            input: new_input(),
            input_focus: false,
            search_typing: None,
            search: None,
            hit: None,
            handle: None,
            attached: None,
            end: None,
            empty_asked: false,
            page: 20,
            message: None,
            pending_search: None,
            search_seq: 0,
            search_wait: None,
            evidence_ask: None,
            evidence_answer: None,
        }
    }

    /// Rows of output a log pane of `height` rows shows (the input line
    /// takes three while the script asks).
    pub fn output_rows(&self, height: u16) -> usize {
        let extra = if self.prompt.is_some() || self.input_focus {
            3
        } else {
            0
        };
        (height as usize).saturating_sub(2 + extra).max(1)
    }

    pub fn running(&self) -> bool {
        self.end.is_none()
    }

    /// The script shows a prompt and can be answered (this console runs it
    /// or is attached to it).
    pub fn awaits_answer(&self) -> bool {
        self.prompt.is_some() && (self.handle.is_some() || self.attached.is_some())
    }

    pub fn started(&mut self, handle: RunHandle, log: PathBuf) {
        self.handle = Some(handle);
        self.log.set_disk(log);
    }

    pub fn on_event(&mut self, ev: RunEvent) {
        match ev {
            RunEvent::Output(chunk) => {
                // Output after a prompt means the script moved on.
                if chunk.contains('\n') {
                    self.prompt = None;
                }
                self.log.push_owned(chunk);
            }
            RunEvent::Prompt(p) => {
                self.prompt = Some(p);
                self.input_focus = true;
            }
            RunEvent::Finished(_) => {
                self.prompt = None;
                self.input_focus = false;
            }
        }
    }

    pub fn finished(&mut self, end: JobEnd) {
        self.end = Some(end);
        self.prompt = None;
        self.input_focus = false;
        self.handle = None;
    }

    /// The first line shown for a pane of `height` rows.
    pub fn first_shown(&self, height: usize) -> usize {
        let n = self.log.len();
        if self.follow {
            n.saturating_sub(height)
        } else {
            self.top.min(n.saturating_sub(1))
        }
    }

    pub fn scroll(&mut self, delta: isize) {
        self.moved_on();
        let h = self.page.max(1);
        let first = self.first_shown(h) as isize;
        let n = self.log.len();
        let max_top = n.saturating_sub(h) as isize;
        let t = (first + delta).clamp(0, max_top.max(0));
        self.top = t as usize;
        self.follow = t >= max_top;
    }

    /// The user moved the pane: a search answer still to come must not
    /// move it back (nor its "searching…" stay).
    fn moved_on(&mut self) {
        if self.search_wait.take().is_some() {
            self.message = None;
        }
    }

    pub fn to_top(&mut self) {
        self.moved_on();
        self.follow = false;
        self.top = 0;
    }

    pub fn to_end(&mut self) {
        self.moved_on();
        self.follow = true;
    }

    /// Shows line `i` (a match, the first failure) with some context.
    pub fn show_line(&mut self, i: usize) {
        self.follow = false;
        self.top = i.saturating_sub(3);
    }

    pub fn jump_first_failure(&mut self) {
        match self.log.first_failure {
            Some(i) => {
                self.hit = Some(i);
                self.show_line(i);
                self.message = None;
            }
            None => self.message = Some("no failure line (FAIL, ERROR, ❌, error:) so far".into()),
        }
    }

    pub fn search_next(&mut self, back: bool) {
        let Some(q) = self.search.clone() else {
            self.message = Some("no search yet: press / to search".into());
            return;
        };
        let from = match (self.hit, back) {
            (Some(h), false) => h + 1,
            (Some(h), true) => h + self.log.len().max(1) - 1,
            (None, _) => self.first_shown(self.page),
        };
        // The search runs on a worker (the log file may hold a million
        // lines); its answer comes back as `Msg::SearchDone`.
        self.message = Some(format!("searching for “{q}”…"));
        self.search_seq += 1;
        self.search_wait = Some(self.search_seq);
        self.pending_search = Some(super::log::SearchAsk {
            seq: self.search_seq,
            source: self.log.search_source(),
            needle: q,
            from: from % self.log.len().max(1),
            back,
        });
    }

    /// A search's answer from its worker: only the answer to the last
    /// search, and only while the user has not scrolled since asking.
    pub fn search_done(&mut self, seq: u64, hit: Option<usize>) {
        if self.search_wait != Some(seq) {
            return;
        }
        self.search_wait = None;
        let needle = self.search.clone().unwrap_or_default();
        match hit {
            Some(i) => {
                self.hit = Some(i);
                self.show_line(i);
                self.message = None;
            }
            None => self.message = Some(format!("“{needle}” not found")),
        }
    }

    /// Keys while the input line or the search line has focus. Returns
    /// whether the key was used.
    pub fn on_text_key(&mut self, k: KeyEvent, action: Option<Action>) -> bool {
        if let Some(q) = self.search_typing.as_mut() {
            match (action, k.code) {
                (Some(Action::Submit), _) => {
                    let q = self.search_typing.take().unwrap_or_default();
                    if !q.is_empty() {
                        self.search = Some(q);
                        self.hit = None;
                        self.search_next(false);
                    }
                }
                (Some(Action::Cancel), _) => self.search_typing = None,
                (Some(Action::DeleteChar), _) => {
                    q.pop();
                }
                (_, KeyCode::Char(c)) if !k.modifiers.contains(KeyModifiers::CONTROL) => q.push(c),
                _ => {}
            }
            return true;
        }
        if !self.input_focus {
            return false;
        }
        // Ctrl-c quits from the input line too (asking first).
        if action == Some(Action::Quit) {
            return false;
        }
        // The handoff's own question (nothing runs yet): Enter takes the
        // directory (empty: no evidence), Esc gives the handoff up.
        if self.evidence_ask.is_some() {
            match action {
                Some(Action::Cancel) => {
                    self.evidence_ask = None;
                    self.input_focus = false;
                    self.prompt = None;
                    self.finished(JobEnd {
                        ok: false,
                        summary: "the handoff was not started".into(),
                    });
                }
                Some(Action::Submit) => {
                    self.evidence_answer = Some(self.input.lines().join("").trim().to_string());
                    self.evidence_ask = None;
                    self.input = new_input();
                    self.prompt = None;
                    self.message = None;
                }
                // A tab is no part of a directory typed here.
                _ if matches!(k.code, KeyCode::Tab | KeyCode::BackTab) => {}
                _ => {
                    self.input.input(k);
                }
            }
            return true;
        }
        let asked = std::mem::take(&mut self.empty_asked);
        match action {
            Some(Action::Cancel) => self.input_focus = false,
            Some(Action::Submit) => {
                let answer = self.input.lines().join("");
                if answer.is_empty() && !asked {
                    // A stray Enter must not answer '' (a real gate aborts).
                    self.empty_asked = true;
                    self.message =
                        Some("the answer is empty: Enter again sends it empty, or type one".into());
                    return true;
                }
                let sent = match (&self.handle, &self.attached) {
                    (Some(h), _) => Some(h.answer(&answer)),
                    (None, Some(dir)) => Some(crate::pipeline::attach::send_answer(dir, &answer)),
                    (None, None) => None,
                };
                match sent {
                    Some(r) => match r {
                        Ok(()) => {
                            self.input = new_input();
                            self.prompt = None;
                            self.message = None;
                        }
                        Err(e) => self.message = Some(format!("the answer was not sent: {e}")),
                    },
                    None => self.message = Some("the script is not running".into()),
                }
            }
            // Tab is not a key of the input line (nor shown as one).
            _ if matches!(k.code, KeyCode::Tab | KeyCode::BackTab) => {}
            _ => {
                self.message = None;
                self.input.input(k);
            }
        }
        true
    }

    /// A paste into the input line: one line of text, its line breaks shown
    /// as ⏎ and never sent as Enter; Enter sends it.
    pub fn paste(&mut self, text: &str) {
        self.empty_asked = false;
        self.input
            .insert_str(super::state::one_line(text, "\u{23ce}"));
    }
}

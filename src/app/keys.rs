//! The key table: one list that dispatches keys, builds the footer and fills
//! the `?` overlay, so the hints can never lie.
use std::collections::{BTreeMap, HashMap};

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// What a key asks for. Destructive actions are values first and only run
/// after a confirmation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    Quit,
    Help,
    FocusNext,
    FocusPrev,
    Up,
    Down,
    PageUp,
    PageDown,
    Home,
    End,
    Filter,
    ClearFilter,
    Refresh,
    /// Run the gate on the selected branch.
    Gate,
    /// Open the log pane of the current or last job.
    ShowLog,
    /// Leave the log pane (the job goes on).
    Back,
    /// Log pane: follow the newest output.
    Follow,
    Search,
    NextMatch,
    PrevMatch,
    FirstFailure,
    /// Put the keyboard in the input line (answer a prompt).
    Answer,
    /// Cancel the running job (asks first).
    CancelJob,
    /// Open the review screen for the selected branch.
    Review,
    /// Explain the selected checklist item.
    Explain,
    /// Open the release playbook for the selected branch.
    Deploy,
    /// Make the selected branch's handoff package (`guardrail handoff`).
    Handoff,
    /// Playbook: run the next step.
    RunStep,
    /// Playbook: run every remaining step.
    RunAll,
    /// Open the one-key rollback dialog.
    Rollback,
    /// The audit chain and the rollout log.
    Records,
    /// The drift pane.
    Drift,
    /// Open the package's whole gate log in the log pane.
    OpenGateLog,
    /// Review: the diff of the files that guard the release (guard line).
    GuardDiff,
    /// Review: a release manager acknowledges the branch's guard changes.
    AcceptGuard,
    /// A line being typed or a dialog: take it (keep the filter, search,
    /// send the answer, pick the tag).
    Submit,
    /// A line being typed or a dialog: leave it.
    Cancel,
    /// A line being typed: delete the last character.
    DeleteChar,
    /// A question or the rollback dialog: yes.
    Confirm,
    /// Rollback dialog: deploy the tag's git tree (the backup is refused).
    TreeFallback,
    /// Rollback dialog: pick another prod tag.
    PickTag,
    /// Rollback dialog: edit the reason.
    EditReason,
    /// Rollback dialog: show or hide where the rollback is recorded.
    TogglePaths,
}

/// Where a binding works.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everywhere on the main screen.
    Global,
    /// In lists (branches, tags).
    List,
    /// Only in the branch list.
    Branches,
    /// In the log pane.
    Log,
    /// On the review screen.
    Review,
    /// On the playbook screen.
    Playbook,
    /// On the drift screen.
    Drift,
    /// On the records screen (audit chain and rollout log).
    Records,
    /// The `?` overlay.
    HelpOverlay,
    /// Typing the branch filter.
    Filter,
    /// Typing a log search.
    Search,
    /// The input line (answering a script's prompt).
    Input,
    /// The rollback dialog showing its plan.
    Rollback,
    /// The rollback dialog's tag picker.
    RollbackPick,
    /// Editing the rollback's reason.
    Reason,
    /// A yes/no question (quit, cancel, abandon).
    Confirm,
}

impl Scope {
    /// Where a scope's keys work, as the `?` overlay titles them.
    pub fn title(self) -> &'static str {
        match self {
            Scope::Global => "Everywhere",
            Scope::List => "In a list",
            Scope::Branches => "Branch list",
            Scope::Log => "Log pane",
            Scope::Review => "Review screen",
            Scope::Playbook => "Playbook screen",
            Scope::Drift => "Drift screen",
            Scope::Records => "Records screen",
            Scope::HelpOverlay => "This help",
            Scope::Filter => "Typing the filter",
            Scope::Search => "Typing a log search",
            Scope::Input => "The input line",
            Scope::Rollback => "Rollback dialog",
            Scope::RollbackPick => "Rollback dialog: picking a tag",
            Scope::Reason => "Rollback dialog: editing the reason",
            Scope::Confirm => "A question",
        }
    }

    /// Every scope, in the order the `?` overlay lists them.
    pub const ALL: [Scope; 16] = [
        Scope::Global,
        Scope::List,
        Scope::Branches,
        Scope::Log,
        Scope::Review,
        Scope::Playbook,
        Scope::Drift,
        Scope::Records,
        Scope::Rollback,
        Scope::RollbackPick,
        Scope::Reason,
        Scope::Filter,
        Scope::Search,
        Scope::Input,
        Scope::Confirm,
        Scope::HelpOverlay,
    ];

    /// A modal scope takes every key: the screen's keys do not work under it.
    pub fn modal(self) -> bool {
        matches!(
            self,
            Scope::HelpOverlay
                | Scope::Filter
                | Scope::Search
                | Scope::Input
                | Scope::Rollback
                | Scope::RollbackPick
                | Scope::Reason
                | Scope::Confirm
        )
    }
}

/// One row of the key table.
pub struct Binding {
    pub keys: &'static [(KeyCode, KeyModifiers)],
    /// How the key is shown in the footer and help.
    pub label: &'static str,
    pub action: Action,
    pub help: &'static str,
    /// The footer's one-word hint.
    pub hint: &'static str,
    pub scope: Scope,
    /// Changes something (hidden in `--readonly`).
    pub mutates: bool,
    /// Shown in the footer (the `?` overlay shows every binding).
    pub footer: bool,
}

const NONE: KeyModifiers = KeyModifiers::NONE;
const SHIFT: KeyModifiers = KeyModifiers::SHIFT;
const CTRL: KeyModifiers = KeyModifiers::CONTROL;

/// Every key of the main screen.
pub static BINDINGS: &[Binding] = &[
    Binding {
        keys: &[(KeyCode::Char('?'), NONE), (KeyCode::Char('?'), SHIFT)],
        label: "?",
        action: Action::Help,
        help: "show every key",
        hint: "keys",
        scope: Scope::Global,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Tab, NONE)],
        label: "Tab",
        action: Action::FocusNext,
        help: "next pane",
        hint: "pane",
        scope: Scope::List,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::BackTab, SHIFT), (KeyCode::BackTab, NONE)],
        label: "S-Tab",
        action: Action::FocusPrev,
        help: "previous pane",
        hint: "pane",
        scope: Scope::List,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('k'), NONE), (KeyCode::Up, NONE)],
        label: "k/↑",
        action: Action::Up,
        help: "move up",
        hint: "up",
        scope: Scope::List,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('j'), NONE), (KeyCode::Down, NONE)],
        label: "j/↓",
        action: Action::Down,
        help: "move down",
        hint: "move",
        scope: Scope::List,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE), (KeyCode::Char('b'), CTRL)],
        label: "PgUp",
        action: Action::PageUp,
        help: "page up",
        hint: "page",
        scope: Scope::List,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE), (KeyCode::Char('f'), CTRL)],
        label: "PgDn",
        action: Action::PageDown,
        help: "page down",
        hint: "page",
        scope: Scope::List,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Home, NONE), (KeyCode::Char('g'), SHIFT)],
        label: "Home",
        action: Action::Home,
        help: "first row",
        hint: "first",
        scope: Scope::List,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[
            (KeyCode::End, NONE),
            (KeyCode::Char('G'), SHIFT),
            (KeyCode::Char('G'), NONE),
        ],
        label: "End/G",
        action: Action::End,
        help: "last row",
        hint: "last",
        scope: Scope::List,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('/'), NONE)],
        label: "/",
        action: Action::Filter,
        help: "filter branches by name (Enter keeps, Esc clears)",
        hint: "filter",
        scope: Scope::Branches,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::ClearFilter,
        help: "clear the filter / close",
        hint: "back",
        scope: Scope::Global,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('r'), CTRL), (KeyCode::F(5), NONE)],
        label: "C-r",
        action: Action::Refresh,
        help: "re-read the repository",
        hint: "refresh",
        scope: Scope::Global,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('g'), NONE)],
        label: "g",
        action: Action::Gate,
        help: "run the gate on the selected branch (in a worktree)",
        hint: "gate",
        scope: Scope::Branches,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('L'), SHIFT), (KeyCode::Char('L'), NONE)],
        label: "L",
        action: Action::ShowLog,
        help: "back to the running job, or the last job's log",
        hint: "log",
        scope: Scope::Global,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('q'), NONE)],
        label: "Esc/q",
        action: Action::Back,
        help: "back to the branches (a running job goes on)",
        hint: "back",
        scope: Scope::Log,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('k'), NONE), (KeyCode::Up, NONE)],
        label: "k/↑",
        action: Action::Up,
        help: "scroll up (stops following)",
        hint: "up",
        scope: Scope::Log,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('j'), NONE), (KeyCode::Down, NONE)],
        label: "j/↓",
        action: Action::Down,
        help: "scroll down",
        hint: "scroll",
        scope: Scope::Log,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE), (KeyCode::Char('b'), CTRL)],
        label: "PgUp",
        action: Action::PageUp,
        help: "page up",
        hint: "page",
        scope: Scope::Log,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE), (KeyCode::Char('f'), CTRL)],
        label: "PgDn",
        action: Action::PageDown,
        help: "page down",
        hint: "page",
        scope: Scope::Log,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Home, NONE)],
        label: "Home",
        action: Action::Home,
        help: "first line",
        hint: "top",
        scope: Scope::Log,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[
            (KeyCode::End, NONE),
            (KeyCode::Char('G'), SHIFT),
            (KeyCode::Char('G'), NONE),
        ],
        label: "End/G",
        action: Action::Follow,
        help: "follow the newest output",
        hint: "follow",
        scope: Scope::Log,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('/'), NONE)],
        label: "/",
        action: Action::Search,
        help: "search the log (Enter searches, Esc cancels)",
        hint: "search",
        scope: Scope::Log,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('n'), NONE)],
        label: "n",
        action: Action::NextMatch,
        help: "next match",
        hint: "next",
        scope: Scope::Log,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('N'), SHIFT), (KeyCode::Char('N'), NONE)],
        label: "N",
        action: Action::PrevMatch,
        help: "previous match",
        hint: "prev",
        scope: Scope::Log,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('f'), NONE)],
        label: "f",
        action: Action::FirstFailure,
        help: "jump to the first failure line",
        hint: "failure",
        scope: Scope::Log,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('i'), NONE), (KeyCode::Enter, NONE)],
        label: "i",
        action: Action::Answer,
        help: "answer the script's prompt in the input line (Esc leaves it)",
        hint: "answer",
        scope: Scope::Log,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('x'), NONE)],
        label: "x",
        action: Action::CancelJob,
        help: "cancel the running job (asks first; TERM, then KILL)",
        hint: "cancel",
        scope: Scope::Log,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::Review,
        help: "review the branch's package: gate log, snapshot, evidence",
        hint: "review",
        scope: Scope::Branches,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('q'), NONE)],
        label: "Esc/q",
        action: Action::Back,
        help: "back to the branches",
        hint: "back",
        scope: Scope::Review,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('k'), NONE), (KeyCode::Up, NONE)],
        label: "k/↑",
        action: Action::Up,
        help: "previous branch / scroll up / previous item",
        hint: "up",
        scope: Scope::Review,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('j'), NONE), (KeyCode::Down, NONE)],
        label: "j/↓",
        action: Action::Down,
        help: "next branch / scroll down / next item",
        hint: "move",
        scope: Scope::Review,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE), (KeyCode::Char('b'), CTRL)],
        label: "PgUp",
        action: Action::PageUp,
        help: "page up",
        hint: "page",
        scope: Scope::Review,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE), (KeyCode::Char('f'), CTRL)],
        label: "PgDn",
        action: Action::PageDown,
        help: "page down",
        hint: "page",
        scope: Scope::Review,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::Explain,
        help: "explain the selected checklist item",
        hint: "explain",
        scope: Scope::Review,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('o'), NONE)],
        label: "o",
        action: Action::OpenGateLog,
        help: "open the package's whole gate log",
        hint: "open log",
        scope: Scope::Review,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('v'), NONE)],
        label: "v",
        action: Action::GuardDiff,
        help: "view the diff of the guard files this branch changes (gate, scripts, baseline, guardrail.toml)",
        hint: "guard diff",
        scope: Scope::Review,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('y'), NONE)],
        label: "y",
        action: Action::AcceptGuard,
        help: "acknowledge this branch's guard changes as a release manager (recorded with the files' hashes)",
        hint: "acknowledge guard",
        scope: Scope::Review,
        mutates: true,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('g'), NONE)],
        label: "g",
        action: Action::Gate,
        help: "run the gate on this branch",
        hint: "gate",
        scope: Scope::Review,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('d'), NONE)],
        label: "d",
        action: Action::Deploy,
        help: "open the release playbook of the selected branch",
        hint: "deploy",
        scope: Scope::Branches,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('h'), NONE)],
        label: "h",
        action: Action::Handoff,
        help: "make the branch's handoff package as `guardrail handoff` does: asks for the evidence directory, then runs the gate in the log pane",
        hint: "handoff",
        scope: Scope::Branches,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('d'), NONE)],
        label: "d",
        action: Action::Deploy,
        help: "release this branch: open its playbook",
        hint: "deploy",
        scope: Scope::Review,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::RunStep,
        help: "run the next step of the playbook",
        hint: "run step",
        scope: Scope::Playbook,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('a'), NONE)],
        label: "a",
        action: Action::RunAll,
        help: "run every remaining step",
        hint: "run all",
        scope: Scope::Playbook,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('i'), NONE)],
        label: "i",
        action: Action::Answer,
        help: "answer the script's prompt in the input line",
        hint: "answer",
        scope: Scope::Playbook,
        mutates: true,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('x'), NONE)],
        label: "x",
        action: Action::CancelJob,
        help: "cancel the running script; between steps, abandon the deploy (asks first; recorded)",
        hint: "cancel/abandon",
        scope: Scope::Playbook,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('k'), NONE), (KeyCode::Up, NONE)],
        label: "k/↑",
        action: Action::Up,
        help: "scroll the output up",
        hint: "up",
        scope: Scope::Playbook,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('j'), NONE), (KeyCode::Down, NONE)],
        label: "j/↓",
        action: Action::Down,
        help: "scroll the output down",
        hint: "down",
        scope: Scope::Playbook,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[
            (KeyCode::End, NONE),
            (KeyCode::Char('G'), SHIFT),
            (KeyCode::Char('G'), NONE),
        ],
        label: "End/G",
        action: Action::Follow,
        help: "follow the newest output",
        hint: "follow",
        scope: Scope::Playbook,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('q'), NONE)],
        label: "Esc/q",
        action: Action::Back,
        help: "back to the branches (a running step goes on)",
        hint: "back",
        scope: Scope::Playbook,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('R'), SHIFT), (KeyCode::Char('R'), NONE)],
        label: "R",
        action: Action::Rollback,
        help: "roll production back: shows the plan, y confirms, Esc cancels",
        hint: "rollback",
        scope: Scope::Global,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('A'), SHIFT), (KeyCode::Char('A'), NONE)],
        label: "A",
        action: Action::Records,
        help: "the audit chain and the rollout log",
        hint: "records",
        scope: Scope::Global,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('D'), SHIFT), (KeyCode::Char('D'), NONE)],
        label: "D",
        action: Action::Drift,
        help: "drift: watched files and baseline against the golden build",
        hint: "drift",
        scope: Scope::Global,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('q'), NONE), (KeyCode::Char('c'), CTRL)],
        label: "q",
        action: Action::Quit,
        help: "quit",
        hint: "quit",
        scope: Scope::Global,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('q'), NONE)],
        label: "Esc/q",
        action: Action::Back,
        help: "back to the branches",
        hint: "back",
        scope: Scope::Drift,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('j'), NONE), (KeyCode::Down, NONE)],
        label: "j/↓",
        action: Action::Down,
        help: "scroll the drift report down",
        hint: "scroll",
        scope: Scope::Drift,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('k'), NONE), (KeyCode::Up, NONE)],
        label: "k/↑",
        action: Action::Up,
        help: "scroll the drift report up",
        hint: "up",
        scope: Scope::Drift,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE), (KeyCode::Char('b'), CTRL)],
        label: "PgUp",
        action: Action::PageUp,
        help: "page up",
        hint: "page",
        scope: Scope::Drift,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE), (KeyCode::Char('f'), CTRL)],
        label: "PgDn",
        action: Action::PageDown,
        help: "page down",
        hint: "page",
        scope: Scope::Drift,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Home, NONE)],
        label: "Home",
        action: Action::Home,
        help: "first line",
        hint: "top",
        scope: Scope::Drift,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::End, NONE), (KeyCode::Char('G'), SHIFT), (KeyCode::Char('G'), NONE)],
        label: "End/G",
        action: Action::End,
        help: "last line",
        hint: "end",
        scope: Scope::Drift,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('q'), NONE)],
        label: "Esc/q",
        action: Action::Back,
        help: "back to the branches",
        hint: "back",
        scope: Scope::Records,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Tab, NONE), (KeyCode::BackTab, SHIFT), (KeyCode::BackTab, NONE)],
        label: "Tab",
        action: Action::FocusNext,
        help: "switch between the audit chain and the rollout log",
        hint: "pane",
        scope: Scope::Records,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('j'), NONE), (KeyCode::Down, NONE)],
        label: "j/↓",
        action: Action::Down,
        help: "scroll the focused pane down",
        hint: "scroll",
        scope: Scope::Records,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('k'), NONE), (KeyCode::Up, NONE)],
        label: "k/↑",
        action: Action::Up,
        help: "scroll the focused pane up",
        hint: "up",
        scope: Scope::Records,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE), (KeyCode::Char('b'), CTRL)],
        label: "PgUp",
        action: Action::PageUp,
        help: "page up",
        hint: "page",
        scope: Scope::Records,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE), (KeyCode::Char('f'), CTRL)],
        label: "PgDn",
        action: Action::PageDown,
        help: "page down",
        hint: "page",
        scope: Scope::Records,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Home, NONE)],
        label: "Home",
        action: Action::Home,
        help: "first line",
        hint: "top",
        scope: Scope::Records,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::End, NONE), (KeyCode::Char('G'), SHIFT), (KeyCode::Char('G'), NONE)],
        label: "End/G",
        action: Action::End,
        help: "last lines (the rollout log's newest)",
        hint: "end",
        scope: Scope::Records,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Tab, NONE)],
        label: "Tab",
        action: Action::FocusNext,
        help: "next pane (branches, checklist, evidence)",
        hint: "pane",
        scope: Scope::Review,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::BackTab, SHIFT), (KeyCode::BackTab, NONE)],
        label: "S-Tab",
        action: Action::FocusPrev,
        help: "previous pane",
        hint: "pane",
        scope: Scope::Review,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('?'), NONE), (KeyCode::Char('?'), SHIFT), (KeyCode::Char('q'), NONE), (KeyCode::Enter, NONE)],
        label: "Esc/?/q",
        action: Action::Cancel,
        help: "close this help",
        hint: "close",
        scope: Scope::HelpOverlay,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('j'), NONE), (KeyCode::Down, NONE)],
        label: "j/↓",
        action: Action::Down,
        help: "scroll this help down",
        hint: "scroll",
        scope: Scope::HelpOverlay,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('k'), NONE), (KeyCode::Up, NONE)],
        label: "k/↑",
        action: Action::Up,
        help: "scroll this help up",
        hint: "up",
        scope: Scope::HelpOverlay,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageUp, NONE)],
        label: "PgUp",
        action: Action::PageUp,
        help: "page up",
        hint: "page",
        scope: Scope::HelpOverlay,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::PageDown, NONE)],
        label: "PgDn",
        action: Action::PageDown,
        help: "page down",
        hint: "page",
        scope: Scope::HelpOverlay,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::Submit,
        help: "keep the filter",
        hint: "keep",
        scope: Scope::Filter,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::Cancel,
        help: "clear the filter",
        hint: "clear",
        scope: Scope::Filter,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Backspace, NONE)],
        label: "Bksp",
        action: Action::DeleteChar,
        help: "delete the last character",
        hint: "delete",
        scope: Scope::Filter,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('c'), CTRL)],
        label: "C-c",
        action: Action::Quit,
        help: "quit (asks first while a job runs)",
        hint: "quit",
        scope: Scope::Filter,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::Submit,
        help: "search for what is typed",
        hint: "search",
        scope: Scope::Search,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::Cancel,
        help: "cancel the search",
        hint: "cancel",
        scope: Scope::Search,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Backspace, NONE)],
        label: "Bksp",
        action: Action::DeleteChar,
        help: "delete the last character",
        hint: "delete",
        scope: Scope::Search,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::Submit,
        help: "send the answer to the script (an empty one asks again)",
        hint: "send",
        scope: Scope::Input,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::Cancel,
        help: "leave the input line (the script keeps waiting)",
        hint: "leave",
        scope: Scope::Input,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('c'), CTRL)],
        label: "C-c",
        action: Action::Quit,
        help: "quit (asks first while a job runs)",
        hint: "quit",
        scope: Scope::Input,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Char('y'), NONE)],
        label: "y",
        action: Action::Confirm,
        help: "roll back: carry out the plan shown",
        hint: "roll back",
        scope: Scope::Rollback,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('n'), NONE), (KeyCode::Char('q'), NONE)],
        label: "Esc",
        action: Action::Cancel,
        help: "close the dialog; nothing is rolled back",
        hint: "cancel",
        scope: Scope::Rollback,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('f'), NONE)],
        label: "f",
        action: Action::TreeFallback,
        help: "the backup is refused: deploy the tag's git tree instead",
        hint: "from the tag's tree",
        scope: Scope::Rollback,
        mutates: true,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('t'), NONE)],
        label: "t",
        action: Action::PickTag,
        help: "roll back to another prod tag",
        hint: "another tag",
        scope: Scope::Rollback,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('r'), NONE)],
        label: "r",
        action: Action::EditReason,
        help: "edit the reason that is recorded",
        hint: "edit the reason",
        scope: Scope::Rollback,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('p'), NONE)],
        label: "p",
        action: Action::TogglePaths,
        help: "show or hide where the rollback is recorded",
        hint: "paths",
        scope: Scope::Rollback,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE)],
        label: "Enter",
        action: Action::Submit,
        help: "roll back to the tag under the cursor (plans again)",
        hint: "pick",
        scope: Scope::RollbackPick,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE)],
        label: "Esc",
        action: Action::Cancel,
        help: "back to the plan",
        hint: "back",
        scope: Scope::RollbackPick,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('j'), NONE), (KeyCode::Down, NONE)],
        label: "j/k",
        action: Action::Down,
        help: "next tag",
        hint: "move",
        scope: Scope::RollbackPick,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('k'), NONE), (KeyCode::Up, NONE)],
        label: "k/↑",
        action: Action::Up,
        help: "previous tag",
        hint: "up",
        scope: Scope::RollbackPick,
        mutates: false,
        footer: false,
    },
    Binding {
        keys: &[(KeyCode::Enter, NONE), (KeyCode::Esc, NONE)],
        label: "Enter",
        action: Action::Submit,
        help: "done editing the reason",
        hint: "done",
        scope: Scope::Reason,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Backspace, NONE)],
        label: "Backspace",
        action: Action::DeleteChar,
        help: "delete the last character",
        hint: "delete",
        scope: Scope::Reason,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Char('y'), NONE)],
        label: "y",
        action: Action::Confirm,
        help: "yes (any other key: no)",
        hint: "yes",
        scope: Scope::Confirm,
        mutates: false,
        footer: true,
    },
    Binding {
        keys: &[(KeyCode::Esc, NONE), (KeyCode::Char('n'), NONE)],
        label: "Esc/n",
        action: Action::Cancel,
        help: "no (so does any key but y)",
        hint: "no",
        scope: Scope::Confirm,
        mutates: false,
        footer: true,
    },
];

/// Keys the user rebound in their own config file (`[keys]`), set once at
/// start; they replace an action's keys everywhere.
static OVERRIDES: std::sync::OnceLock<HashMap<Action, Rebound>> = std::sync::OnceLock::new();

/// A rebound action: its keys and how the user wrote them.
type Rebound = (Vec<(KeyCode, KeyModifiers)>, String);

/// An action's name in the config file: `ShowLog` → `show_log`.
pub fn action_name(a: Action) -> String {
    let mut out = String::new();
    for (i, c) in format!("{a:?}").chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// `R`, `r`, `ctrl-b`, `f5`, `enter`, `esc`, `tab`, `space`, `pgup` … as keys.
pub fn parse_key(text: &str) -> Option<Vec<(KeyCode, KeyModifiers)>> {
    let t = text.trim();
    let (mods, rest) = match t.to_ascii_lowercase().strip_prefix("ctrl-") {
        Some(_) => (CTRL, &t[5..]),
        None => (NONE, t),
    };
    let code = match rest.to_ascii_lowercase().as_str() {
        "enter" => KeyCode::Enter,
        "esc" => KeyCode::Esc,
        "tab" => KeyCode::Tab,
        "space" => KeyCode::Char(' '),
        "backspace" => KeyCode::Backspace,
        "pgup" => KeyCode::PageUp,
        "pgdn" => KeyCode::PageDown,
        "home" => KeyCode::Home,
        "end" => KeyCode::End,
        "up" => KeyCode::Up,
        "down" => KeyCode::Down,
        "left" => KeyCode::Left,
        "right" => KeyCode::Right,
        f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
            KeyCode::F(f[1..].parse().ok()?)
        }
        _ => {
            let mut chars = rest.chars();
            let c = chars.next()?;
            if chars.next().is_some() {
                return None;
            }
            let c = if mods == CTRL {
                c.to_ascii_lowercase()
            } else {
                c
            };
            if c.is_ascii_uppercase() {
                return Some(vec![(KeyCode::Char(c), SHIFT), (KeyCode::Char(c), NONE)]);
            }
            KeyCode::Char(c)
        }
    };
    Some(vec![(code, mods)])
}

/// Installs the user's `[keys]`; an unknown action or key is an error (one
/// sentence). Called once, before the console starts.
pub fn set_overrides(keys: &BTreeMap<String, String>) -> Result<(), String> {
    let mut map = HashMap::new();
    for (name, key) in keys {
        let action = BINDINGS
            .iter()
            .map(|b| b.action)
            .find(|a| action_name(*a) == *name)
            .ok_or_else(|| {
                let mut known: Vec<String> =
                    BINDINGS.iter().map(|b| action_name(b.action)).collect();
                known.sort();
                known.dedup();
                format!(
                    "key `keys.{name}`: there is no such action (known: {})",
                    known.join(", ")
                )
            })?;
        let parsed = parse_key(key).ok_or_else(|| {
            format!("key `keys.{name}`: `{key}` is not a key (use e.g. \"R\", \"ctrl-b\", \"f5\")")
        })?;
        map.insert(action, (parsed, key.clone()));
    }
    // A key taken by another action where this one works would never reach it.
    let eff = |b: &Binding| {
        map.get(&b.action)
            .map_or(b.keys.to_vec(), |(k, _)| k.clone())
    };
    let meets = |a: Scope, b: Scope| {
        a == b
            || ((a == Scope::Global || b == Scope::Global) && !a.modal() && !b.modal())
            || matches!(
                (a, b),
                (Scope::List, Scope::Branches) | (Scope::Branches, Scope::List)
            )
    };
    for (action, (keys, text)) in &map {
        for b in BINDINGS.iter().filter(|b| b.action != *action) {
            let clash = BINDINGS
                .iter()
                .filter(|m| m.action == *action)
                .any(|m| meets(m.scope, b.scope) && eff(b).iter().any(|k| keys.contains(k)));
            if clash {
                return Err(format!(
                    "key `keys.{}`: `{text}` is already {} ({})",
                    action_name(*action),
                    action_name(b.action),
                    b.help
                ));
            }
        }
    }
    let _ = OVERRIDES.set(map);
    Ok(())
}

/// The keys a binding answers to (the user's, when rebound).
pub fn keys_of(b: &Binding) -> &[(KeyCode, KeyModifiers)] {
    match OVERRIDES.get().and_then(|m| m.get(&b.action)) {
        Some((k, _)) => k,
        None => b.keys,
    }
}

/// How a binding's key is shown.
pub fn label(b: &Binding) -> String {
    match OVERRIDES.get().and_then(|m| m.get(&b.action)) {
        Some((_, text)) => text.clone(),
        None => b.label.to_string(),
    }
}

/// The binding for `key` among those active in `scopes`; earlier scopes
/// win (the log pane's `q` goes back before the global `q` quits).
pub fn lookup(key: &KeyEvent, scopes: &[Scope], readonly: bool) -> Option<&'static Binding> {
    scopes.iter().find_map(|scope| {
        BINDINGS.iter().find(|b| {
            b.scope == *scope
                && !(readonly && b.mutates)
                && keys_of(b).iter().any(|(code, mods)| {
                    *code == key.code
                        && (*mods == key.modifiers
                            || (mods.is_empty()
                                && key.modifiers == SHIFT
                                && matches!(code, KeyCode::Char(c) if !c.is_ascii_lowercase())))
                })
        })
    })
}

/// The bindings active in `scopes`, in table order, without those shadowed
/// by an earlier scope's binding of the same key.
pub fn active(scopes: &[Scope], readonly: bool) -> impl Iterator<Item = &'static Binding> + '_ {
    BINDINGS.iter().filter(move |b| {
        scopes.contains(&b.scope)
            && !(readonly && b.mutates)
            && keys_of(b).iter().all(|(code, mods)| {
                let k = KeyEvent::new(*code, *mods);
                lookup(&k, scopes, readonly).is_none_or(|w| std::ptr::eq(w, *b))
            })
    })
}

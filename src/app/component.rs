//! Screens and dialogs as components. Each says which parts of the key
//! table answer now ([`Component::scopes`]), which of those keys do
//! something now ([`Component::commands`], never a second list), and
//! handles a key. Dispatch, the footer and the `?` overlay all ask the
//! component on top — the top of the modal stack, else the line being
//! typed, else the screen — so the hints cannot disagree with what a key
//! does. Drawing stays in `views`, which matches on the same components.
use crossterm::event::KeyEvent;

use super::keys::{self, Action, Binding, Scope};
use super::modal::Modal;
use super::screens::{InputLine, LogScreen, MainScreen, PlaybookScreen, ReviewScreen, SearchLine};
use super::state::{App, Screen};

/// What became of a component after a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// It stays (the key was used, or swallowed).
    Stay,
    /// A modal leaves the stack.
    Close,
}

/// A screen or a dialog.
pub trait Component {
    /// The scopes of the key table whose keys this component answers to
    /// now, the first winning.
    fn scopes(&self, app: &App) -> Vec<Scope>;

    /// Whether an action of [`Component::scopes`] does something now.
    fn works(&self, _app: &App, _a: Action) -> bool {
        true
    }

    /// The keys that work now, in table order, from the key table: the
    /// footer shows those marked for it, the `?` overlay lists them all.
    fn commands(&self, app: &App) -> Vec<&'static Binding> {
        keys::active(&self.scopes(app), app.readonly)
            .filter(|b| self.works(app, b.action))
            .collect()
    }

    /// One key: `action` is what the key table says it means in
    /// [`Component::scopes`] (None: no binding; a line being typed takes
    /// it as text).
    fn handle(&mut self, app: &mut App, key: KeyEvent, action: Option<Action>) -> Handled;

    /// A bracketed paste: text for the line this component is typing, if
    /// it is typing one (false: not taken).
    fn paste(&mut self, _app: &mut App, _text: &str) -> bool {
        false
    }
}

/// What lies under the modals: a line being typed in the log pane, else
/// the screen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Base {
    Search,
    Input,
    Screen(Screen),
}

static MAIN: MainScreen = MainScreen;
static LOG: LogScreen = LogScreen;
static REVIEW: ReviewScreen = ReviewScreen;
static PLAYBOOK: PlaybookScreen = PlaybookScreen;
static SEARCH: SearchLine = SearchLine;
static INPUT: InputLine = InputLine;

impl App {
    /// What lies under the modals now.
    pub fn base_kind(&self) -> Base {
        if matches!(self.screen, Screen::Log | Screen::Playbook) {
            if let Some(job) = &self.job {
                if job.search_typing.is_some() {
                    return Base::Search;
                }
                if job.input_focus {
                    return Base::Input;
                }
            }
        }
        Base::Screen(self.screen)
    }

    /// The component under the modals.
    pub fn base(&self) -> &dyn Component {
        match self.base_kind() {
            Base::Search => &SEARCH,
            Base::Input => &INPUT,
            Base::Screen(Screen::Main) => &MAIN,
            Base::Screen(Screen::Log) => &LOG,
            Base::Screen(Screen::Review) => &REVIEW,
            Base::Screen(Screen::Playbook) => &PLAYBOOK,
            Base::Screen(Screen::Drift) => &self.drift_screen,
            Base::Screen(Screen::Records) => &self.records_screen,
        }
    }

    /// The component on top: it has the keys, the footer and the `?`
    /// overlay's first rows.
    pub fn top(&self) -> &dyn Component {
        match self.modals.last() {
            Some(m) => m,
            None => self.base(),
        }
    }

    /// The component the `?` overlay explains: the one under it.
    pub fn under_help(&self) -> &dyn Component {
        let below = match self.modals.split_last() {
            Some((Modal::Help { .. }, rest)) => rest,
            _ => &self.modals[..],
        };
        match below.last() {
            Some(m) => m,
            None => self.base(),
        }
    }

    /// Hands a key to the component on top: the top modal, else the line
    /// being typed, else the screen. A modal that closes leaves the stack;
    /// one that stays keeps its place under any it opened.
    pub fn dispatch(&mut self, key: KeyEvent, action: Option<Action>) {
        self.dirty = true;
        if let Some(mut m) = self.modals.pop() {
            let depth = self.modals.len();
            if m.handle(self, key, action) == Handled::Stay {
                let at = depth.min(self.modals.len());
                self.modals.insert(at, m);
            }
            return;
        }
        self.base_handle(key, action);
    }

    /// The component under the modals handles a key.
    pub(super) fn base_handle(&mut self, key: KeyEvent, action: Option<Action>) {
        let _ = match self.base_kind() {
            Base::Search => SearchLine.handle(self, key, action),
            Base::Input => InputLine.handle(self, key, action),
            Base::Screen(s) => self.screen_handle(s, key, action),
        };
    }

    fn screen_handle(&mut self, s: Screen, key: KeyEvent, action: Option<Action>) -> Handled {
        match s {
            Screen::Main => MainScreen.handle(self, key, action),
            Screen::Log => LogScreen.handle(self, key, action),
            Screen::Review => ReviewScreen.handle(self, key, action),
            Screen::Playbook => PlaybookScreen.handle(self, key, action),
            // A screen with state of its own handles the key with it taken
            // out, and keeps what the key made of it.
            Screen::Drift => {
                let mut c = std::mem::take(&mut self.drift_screen);
                let r = c.handle(self, key, action);
                self.drift_screen = c;
                r
            }
            Screen::Records => {
                let mut c = std::mem::take(&mut self.records_screen);
                let r = c.handle(self, key, action);
                self.records_screen = c;
                r
            }
        }
    }

    /// Hands pasted text to the component on top; false when it types no
    /// line.
    pub(super) fn paste_top(&mut self, text: &str) -> bool {
        if let Some(mut m) = self.modals.pop() {
            let taken = m.paste(self, text);
            let at = self.modals.len();
            self.modals.insert(at, m);
            return taken;
        }
        match self.base_kind() {
            Base::Search => SearchLine.paste(self, text),
            Base::Input => InputLine.paste(self, text),
            Base::Screen(_) => false,
        }
    }

    /// Runs a key's action as if its key were pressed on the component on
    /// top (what a click on a footer hint does): the action's first key there.
    /// An action that does nothing there now does nothing.
    pub fn run_action(&mut self, a: Action) {
        let Some(b) = self.shown_keys().into_iter().find(|b| b.action == a) else {
            return;
        };
        let Some(&(code, mods)) = keys::keys_of(b).first() else {
            return;
        };
        self.dispatch(KeyEvent::new(code, mods), Some(a));
    }

    /// Performs a screen's action (what its key does on the screen, with
    /// no modal or typed line in the way).
    pub fn act(&mut self, a: Action) {
        let key = KeyEvent::new(
            crossterm::event::KeyCode::Null,
            crossterm::event::KeyModifiers::NONE,
        );
        let _ = self.screen_handle(self.screen, key, Some(a));
    }
}

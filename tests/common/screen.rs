//! The console's state built in-process for snapshot and key tests: the
//! repository read in full (no background readers), the fixture's release
//! manager at the keyboard, colours on, and a terminal of a given size.
use guardrail::app::{self, App, Msg};
use guardrail::pipeline::config::UserConfig;
use guardrail::pipeline::repo::{Repo, User};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use super::fixture::Fixture;

/// The app on `f` at `w`×`h`, everything read, as user `tester`.
pub fn console_app(f: &Fixture, w: u16, h: u16) -> (Repo, App) {
    let repo = Repo::open(f.path()).unwrap();
    let mut a = app::initial_app(&repo, false, &UserConfig::default()).unwrap();
    app::load_all(&repo, &mut a).unwrap();
    a.user = User {
        name: "tester".into(),
        release_manager: true,
    };
    a.mono = false;
    a.update(Msg::Resize(w, h));
    (repo, a)
}

/// One frame of `a` drawn into a test terminal of its size.
pub fn draw(a: &App) -> Terminal<TestBackend> {
    let mut t = Terminal::new(TestBackend::new(a.size.0, a.size.1)).unwrap();
    t.draw(|f| guardrail::views::draw(f, a)).unwrap();
    t
}

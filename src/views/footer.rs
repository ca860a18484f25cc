//! The footer's key hints, laid out once: the drawing and the mouse's hit
//! test use the same columns, so a click lands on the key drawn there.
use ratatui::text::Span;

use crate::app::keys::{self, Action, Binding};

/// One hint as placed on the footer line: the columns of ` label hint `
/// (from `start`, up to but not including `end`) and its binding.
#[derive(Clone, Copy)]
pub struct Placed {
    pub binding: &'static Binding,
    pub start: u16,
    pub end: u16,
}

/// The texts a hint is drawn as: ` label ` (key style) and `hint ` (dim).
pub fn texts(b: &Binding) -> (String, String) {
    (format!(" {} ", keys::label(b)), format!("{} ", b.hint))
}

fn width(b: &Binding) -> usize {
    let (k, h) = texts(b);
    Span::raw(k).width() + Span::raw(h).width()
}

/// Where the hints of `keys` go on a footer `width` columns wide whose
/// first `lead` columns are taken (a message, the filter): in table order
/// while they fit, `?` and quit always kept; a hint past the right edge is
/// left out, one cut by it keeps the columns still on screen.
pub fn layout(keys: &[&'static Binding], lead: usize, width: u16) -> Vec<Placed> {
    let keep = |b: &Binding| matches!(b.action, Action::Help | Action::Quit);
    let essential: usize = keys
        .iter()
        .filter(|b| keep(b))
        .map(|b| self::width(b))
        .sum();
    let mut room = (width as usize).saturating_sub(lead + essential);
    let mut x = lead;
    let mut out = Vec::new();
    for b in keys {
        let w = self::width(b);
        if !keep(b) {
            if w > room {
                continue;
            }
            room -= w;
        }
        if x < width as usize {
            out.push(Placed {
                binding: b,
                start: x as u16,
                end: (x + w).min(width as usize) as u16,
            });
        }
        x += w;
    }
    out
}

#[cfg(test)]
mod tests {
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    use crate::app::keys::{self, Action};
    use crate::app::state::Base;
    use crate::app::App;
    use crate::pipeline::config::{Config, ThemeSetting};
    use crate::pipeline::repo::{BranchRef, HeadState, User};

    fn app(w: u16, h: u16) -> App {
        let refs = ["feature/a", "feature/b"]
            .iter()
            .map(|n| BranchRef {
                name: n.to_string(),
                head: "0123456789abcdef0123456789abcdef01234567".into(),
                sources: vec!["local".into()],
                heads: Vec::new(),
            })
            .collect();
        let base = Base {
            project: "demo".into(),
            cfg: Config::default(),
            user: User {
                name: "alice".into(),
                release_manager: true,
            },
            head: HeadState::Branch {
                name: "main".into(),
            },
            main_missing: false,
            refs,
        };
        let mut app = App::new(base, false, ThemeSetting::default());
        app.size = (w, h);
        app
    }

    /// Draws a frame; returns the footer row's text, cell by cell, and the
    /// footer keys the frame recorded for clicks.
    fn frame(app: &App) -> (Vec<String>, Vec<crate::app::mouse::FooterKey>) {
        let (w, h) = app.size;
        let mut term = Terminal::new(TestBackend::new(w, h)).unwrap();
        let mut hits = Default::default();
        term.draw(|f| hits = crate::views::draw_hits(f, app))
            .unwrap();
        let buf = term.backend().buffer();
        let row = (0..w)
            .map(|x| buf[(x, h - 1)].symbol().to_string())
            .collect();
        let hits: crate::app::mouse::Hits = hits;
        (row, hits.footer)
    }

    /// Every column of the footer row maps to the key whose label is drawn
    /// there: the text under a hit's columns is ` label hint `, and the key
    /// it stands for dispatches to that very action where it was drawn.
    fn check(app: &App) -> Vec<Action> {
        let (row, footer) = frame(app);
        let w = app.size.0;
        assert!(!footer.is_empty(), "no footer keys recorded");
        let scopes = app.scopes();
        let mut last_end = 0;
        for k in &footer {
            assert_eq!(k.area.y, app.size.1 - 1);
            assert!(k.area.x >= last_end, "footer keys overlap");
            assert!(k.area.right() <= w);
            last_end = k.area.right();
            let b = keys::BINDINGS
                .iter()
                .find(|b| b.action == k.action && scopes.contains(&b.scope))
                .expect("a binding of the scopes shown");
            let drawn: String = row[k.area.x as usize..k.area.right() as usize].concat();
            let (label, hint) = super::texts(b);
            assert_eq!(drawn, format!("{label}{hint}"), "at column {}", k.area.x);
            // The key a click runs (`App::run_action`: the binding's first
            // key) is dispatched to the hint's action.
            let (code, mods) = keys::keys_of(b)[0];
            let ev = crossterm::event::KeyEvent::new(code, mods);
            let found = keys::lookup(&ev, &scopes, app.readonly).map(|b| b.action);
            assert_eq!(found, Some(k.action));
        }
        // Column by column: every column of a label belongs to its hit and
        // to no other.
        for x in 0..w {
            let under: Vec<_> = footer
                .iter()
                .filter(|k| x >= k.area.x && x < k.area.right())
                .collect();
            assert!(under.len() <= 1);
        }
        footer.iter().map(|k| k.action).collect()
    }

    #[test]
    fn footer_keys_at_80_columns_map_each_label_to_its_key() {
        let mut a = app(80, 24);
        let shown = check(&a);
        assert!(shown.contains(&Action::Help) && shown.contains(&Action::Quit));
        // A message before the hints moves them; the map moves with them.
        a.message = Some("gate feature/a: pass in 1.00s".into());
        let moved = check(&a);
        assert!(moved.contains(&Action::Help) && moved.contains(&Action::Quit));
        // The `?` hint's columns, found from the drawn text alone.
        let (row, footer) = frame(&a);
        let text = row.concat();
        let at = text.find(" ? ").unwrap() as u16;
        let help = footer
            .iter()
            .find(|k| at >= k.area.x && at < k.area.right())
            .unwrap();
        assert_eq!(help.action, Action::Help);
    }

    #[test]
    fn footer_keys_at_160_columns_map_each_label_to_its_key() {
        let a = app(160, 40);
        let wide = check(&a);
        let narrow = check(&app(80, 24));
        assert!(wide.len() >= narrow.len());
        for a in [Action::Help, Action::Quit, Action::Review, Action::Rollback] {
            assert!(wide.contains(&a), "{a:?} not in the footer at 160 columns");
        }
        // The log pane's footer (another scope) maps as well.
        let mut log = app(160, 40);
        log.job = Some(crate::app::job::JobView::new("gate feature/a".into()));
        log.screen = crate::app::Screen::Log;
        let keys = check(&log);
        assert!(keys.contains(&Action::Back));
    }
}

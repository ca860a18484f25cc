//! The `?` overlay: every key of the key table, the groups that work where
//! you are first, then the rest; it scrolls when the terminal is short.
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::theme::Theme;
use crate::app::keys::{self, Binding, Scope, BINDINGS};
use crate::app::App;

/// The overlay's lines, from the key table: first the keys that work where
/// you are (as dispatch finds them: a key shadowed by the screen's own is
/// left out), then this overlay's own keys, then every other screen's and
/// dialog's.
pub fn lines(app: &App, t: &Theme) -> Vec<Line<'static>> {
    let here = app.screen_scopes();
    let mut lines = Vec::new();
    let row = |b: &Binding| {
        Line::from(vec![
            Span::styled(format!("  {:<7}", keys::label(b)), t.key),
            Span::raw(format!(" {}", b.help)),
        ])
    };
    let mut shown: Vec<*const Binding> = Vec::new();
    for scope in &here {
        let rows: Vec<&Binding> = app
            .screen_keys()
            .into_iter()
            .filter(|b| b.scope == *scope)
            .collect();
        if rows.is_empty() {
            continue;
        }
        lines.push(Line::from(Span::styled(
            format!("{} (here)", scope.title()),
            t.bold,
        )));
        for b in rows {
            shown.push(b);
            lines.push(row(b));
        }
        lines.push(Line::raw(""));
    }
    for scope in std::iter::once(Scope::HelpOverlay)
        .chain(Scope::ALL.into_iter().filter(|s| *s != Scope::HelpOverlay))
    {
        let rows: Vec<&Binding> = BINDINGS
            .iter()
            .filter(|b| b.scope == scope && !(app.readonly && b.mutates))
            .filter(|b| !shown.contains(&(*b as *const Binding)))
            .collect();
        if rows.is_empty() {
            continue;
        }
        let title = if here.contains(&scope) {
            format!("{} (not now)", scope.title())
        } else {
            scope.title().to_string()
        };
        lines.push(Line::from(Span::styled(title, t.bold)));
        lines.extend(rows.into_iter().map(row));
        lines.push(Line::raw(""));
    }
    lines.push(Line::from(Span::styled(
        "Mouse: the wheel scrolls as j/k do (on the main screen, the list under it); a click selects a row, a pane or a tab, and a click on a footer key runs it (a question's y is typed only); a double-click on a branch opens its review, on the gate log opens it (o), on the log pane is Enter; a click outside a pop-up closes it.",
        t.dim,
    )));
    lines.push(Line::from(Span::styled(
        "Esc, ? or q closes this help; j/k scroll it.",
        t.dim,
    )));
    lines
}

/// Draws the overlay scrolled `scroll` lines (the help modal's state);
/// returns where it went.
pub fn draw(f: &mut Frame, app: &App, scroll: u16, t: &Theme) -> ratatui::layout::Rect {
    let lines = lines(app, t);
    let area = super::dialogs::centered(f, 72, lines.len() as u16 + 2);
    let overflow = lines.len() as u16 + 2 > area.height;
    let max_scroll = (lines.len() as u16 + 2).saturating_sub(area.height);
    let scroll = scroll.min(max_scroll);
    let title = if overflow {
        " Keys · j/k scroll "
    } else {
        " Keys "
    };
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .scroll((scroll, 0))
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(t.focus_border)
                    .title(title),
            ),
        area,
    );
    area
}

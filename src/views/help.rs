//! The `?` overlay: every key of the key table, the groups that work where
//! you are first, then the rest; it scrolls when the terminal is short.
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::theme::Theme;
use crate::app::keys::{Scope, BINDINGS};
use crate::app::App;

const GROUPS: [(Scope, &str); 4] = [
    (Scope::Global, "Everywhere"),
    (Scope::List, "In a list"),
    (Scope::Branches, "Branch list"),
    (Scope::Log, "Log pane"),
];

/// The overlay's lines: the active scopes' groups first.
pub fn lines(app: &App, t: &Theme) -> Vec<Line<'static>> {
    let active = app.scopes();
    let mut order: Vec<(Scope, &str)> = GROUPS
        .iter()
        .copied()
        .filter(|(s, _)| active.contains(s))
        .collect();
    order.sort_by_key(|(s, _)| active.iter().position(|a| a == s));
    order.extend(GROUPS.iter().copied().filter(|(s, _)| !active.contains(s)));
    let mut lines = Vec::new();
    for (scope, title) in order {
        lines.push(Line::from(Span::styled(title.to_string(), t.bold)));
        for b in BINDINGS.iter().filter(|b| b.scope == scope) {
            if app.readonly && b.mutates {
                continue;
            }
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<7}", crate::app::keys::label(b)), t.key),
                Span::raw(format!(" {}", b.help)),
            ]));
        }
        lines.push(Line::raw(""));
    }
    lines.push(Line::from(Span::styled(
        "Mouse: the wheel scrolls the list under it.",
        t.dim,
    )));
    lines.push(Line::from(Span::styled(
        "Esc, ? or q closes this help; j/k scroll it.",
        t.dim,
    )));
    lines
}

pub fn draw(f: &mut Frame, app: &App, t: &Theme) {
    let lines = lines(app, t);
    let area = super::dialogs::centered(f, 72, lines.len() as u16 + 2);
    let overflow = lines.len() as u16 + 2 > area.height;
    let max_scroll = (lines.len() as u16 + 2).saturating_sub(area.height);
    let scroll = app.help_scroll.min(max_scroll);
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
}

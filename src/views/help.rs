//! The `?` overlay: every key of the key table, grouped by where it works.
use ratatui::layout::{Constraint, Flex, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::theme::Theme;
use crate::app::keys::{Scope, BINDINGS};
use crate::app::App;

pub fn draw(f: &mut Frame, app: &App, t: &Theme) {
    let mut lines = Vec::new();
    for (scope, title) in [
        (Scope::Global, "Everywhere"),
        (Scope::List, "In a list"),
        (Scope::Branches, "Branch list"),
    ] {
        lines.push(Line::from(Span::styled(title, t.bold)));
        for b in BINDINGS.iter().filter(|b| b.scope == scope) {
            if app.readonly && b.mutates {
                continue;
            }
            lines.push(Line::from(vec![
                Span::styled(format!("  {:<8}", b.label), t.key),
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
        "Esc, ? or q closes this help.",
        t.dim,
    )));
    let h = (lines.len() as u16 + 2).min(f.area().height);
    let w = 64.min(f.area().width);
    let [area] = Layout::vertical([Constraint::Length(h)])
        .flex(Flex::Center)
        .areas(f.area());
    let [area] = Layout::horizontal([Constraint::Length(w)])
        .flex(Flex::Center)
        .areas(area);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.focus_border)
                .title(" Keys "),
        ),
        area,
    );
}

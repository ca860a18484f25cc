//! The log pane: a job's output (colours kept, `\r` progress shown as a
//! terminal would), its state, the search line and the input line for
//! prompts.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::theme::Theme;
use crate::app::job::JobView;
use crate::pipeline::runner::apply_carriage_returns;

/// Draws the log pane; returns where its output and its input line (when
/// shown) went.
pub fn draw(
    f: &mut Frame,
    job: &JobView,
    mono: bool,
    t: &Theme,
    area: Rect,
) -> (Rect, Option<Rect>) {
    // The input line is the last thing to lose space: on a small terminal
    // the output gives up its rows first.
    let input_h = if job.prompt.is_some() || job.input_focus {
        3.min(area.height)
    } else {
        0
    };
    let [out, input] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(input_h)]).areas(area);
    let rows = out.height.saturating_sub(2) as usize;
    let first = job.first_shown(rows);
    let n = job.log.len();
    let mut lines: Vec<Line> = Vec::with_capacity(rows);
    for i in first..(first + rows).min(n) {
        let raw = job.log.line(i).unwrap_or_default();
        // A capped line keeps its `… (N bytes more)` in sight.
        let (start, marker) = crate::app::log::split_marker(&raw);
        let shown = apply_carriage_returns(start);
        let mut line = super::ansi::line(&shown, mono);
        if let Some(m) = marker {
            let width = (out.width as usize).saturating_sub(2);
            line = fit_with_marker(line, m, width, t);
        }
        if Some(i) == job.hit {
            line = line.style(t.selected);
        }
        lines.push(line);
    }
    let state = match &job.end {
        None if job.prompt.is_some() => Span::styled("waiting for an answer", t.warn),
        None if job.handle.is_none() && job.log.is_empty() => Span::styled("idle", t.dim),
        None => Span::styled("running…", t.warn),
        Some(e) if e.ok => Span::styled(format!("✅ {}", e.summary), t.ok),
        Some(e) => Span::styled(format!("❌ {}", e.summary), t.bad),
    };
    let mode = if job.follow {
        "following".to_string()
    } else {
        format!("line {}/{}", first + 1, n)
    };
    let title = Line::from(vec![
        Span::styled(format!(" {} ", job.title), t.bold),
        Span::raw("· "),
        state,
        Span::styled(format!(" · {mode} "), t.dim),
    ]);
    let mut block = Block::default()
        .borders(Borders::ALL)
        .border_style(t.focus_border)
        .title(title);
    if let Some(q) = &job.search_typing {
        block = block.title_bottom(Line::from(vec![
            Span::styled(" search: ", t.key),
            Span::raw(format!("{q}▏ ")),
        ]));
    } else if let Some(m) = &job.message {
        block = block.title_bottom(Line::from(Span::styled(format!(" {m} "), t.warn)));
    } else if let Some(q) = &job.search {
        block = block.title_bottom(Line::from(Span::styled(
            format!(" /{q}  n next · N previous "),
            t.dim,
        )));
    }
    f.render_widget(Paragraph::new(lines).block(block), out);
    if input_h > 0 {
        let title = match &job.prompt {
            Some(p) => format!(" answer: {} ", p.trim()),
            None => " answer ".to_string(),
        };
        let mut ta = job.input.clone();
        ta.set_block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(if job.input_focus {
                    t.focus_border
                } else {
                    t.border
                })
                .title(title),
        );
        if !job.input_focus {
            ta.set_cursor_style(ratatui::style::Style::default());
        }
        f.render_widget(Clear, input);
        f.render_widget(&ta, input);
    }
    (out, (input_h > 0).then_some(input))
}

/// `line` cut so that `marker` (dim) still fits in `width` columns after it.
fn fit_with_marker(line: Line<'static>, marker: &str, width: usize, t: &Theme) -> Line<'static> {
    let marker = Span::styled(marker.to_string(), t.dim);
    let room = width.saturating_sub(marker.width());
    let mut used = 0;
    let mut spans = Vec::with_capacity(line.spans.len() + 1);
    for span in line.spans {
        let w = span.width();
        if used + w <= room {
            used += w;
            spans.push(span);
            continue;
        }
        let mut cut = String::new();
        for c in span.content.chars() {
            let cw = Span::raw(c.to_string()).width();
            if used + cw > room {
                break;
            }
            used += cw;
            cut.push(c);
        }
        spans.push(Span::styled(cut, span.style));
        break;
    }
    spans.push(marker);
    Line::from(spans).style(line.style)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_capped_line_shows_its_start_and_keeps_the_marker_in_sight() {
        let t = Theme::new(true);
        let line = super::super::ansi::line(&"x".repeat(500), true);
        let fitted = fit_with_marker(line, " … (1234 bytes more)", 40, &t);
        let text: String = fitted.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, format!("{} … (1234 bytes more)", "x".repeat(20)));
        assert_eq!(fitted.width(), 40);
        // A short start is left whole.
        let short = fit_with_marker(Line::from("abc"), " … (9 bytes more)", 40, &t);
        assert_eq!(short.width(), 3 + " … (9 bytes more)".chars().count());
    }
}

//! The review screen: the branch list with package badges on the left; on
//! the right the gate log, the snapshot (baseline table over a coloured
//! diff) and the evidence checklist side by side, folding into tabs when
//! the terminal is narrower than 160 columns.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{
    Block, Borders, Cell, Clear, Paragraph, Row, Table, TableState, Tabs, Wrap,
};
use ratatui::Frame;

use super::theme::Theme;
use super::{block, package_badge};
use crate::app::mouse::{tab_areas, Hits, ListHit, PaneTarget, TabTarget};
use crate::app::review::{Assessed, ReviewPane};
use crate::app::App;
use crate::app::Pane;
use crate::pipeline::handoff::package::Assessment;
use crate::pipeline::handoff::{ChecklistItem, ItemState};

pub fn draw(f: &mut Frame, app: &App, t: &Theme, area: Rect, hits: &mut Hits) {
    let [left, right] =
        Layout::horizontal([Constraint::Length(34), Constraint::Min(20)]).areas(area);
    branch_list(f, app, t, left);
    hits.panes
        .push((left, PaneTarget::Review(ReviewPane::Branches)));
    // Its rows, inside the border (no column header).
    hits.lists.push(ListHit {
        pane: Pane::Branches,
        rows: Rect {
            x: left.x + 1,
            y: left.y + 1,
            width: left.width.saturating_sub(2),
            height: left.height.saturating_sub(2),
        },
        offset: app.branch_cur.offset,
        len: app.visible.len(),
    });
    // The whole branch name, however long (the list cuts it).
    let [title, right] = Layout::vertical([Constraint::Length(1), Constraint::Min(2)]).areas(right);
    if let Some((name, head)) = app.selected_head() {
        f.render_widget(
            Paragraph::new(Line::styled(
                format!(" {name} at {}", &head[..head.len().min(8)]),
                t.bold,
            )),
            title,
        );
    }
    let assessed = app.selected_assessment();
    let focus = app.review.focus;
    if app.review_folded() {
        let [tabs, pane] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(2)]).areas(right);
        let titles: Vec<Line> = ReviewPane::RIGHT
            .iter()
            .map(|p| Line::from(format!(" {} ", p.title())))
            .collect();
        let widths: Vec<usize> = titles.iter().map(Line::width).collect();
        for (r, p) in tab_areas(tabs, &widths).into_iter().zip(ReviewPane::RIGHT) {
            hits.tabs.push((r, TabTarget::Review(p)));
        }
        let sel = ReviewPane::RIGHT
            .iter()
            .position(|p| *p == app.review.tab)
            .unwrap_or(2);
        f.render_widget(
            Tabs::new(titles)
                .select(sel)
                .style(t.dim)
                .highlight_style(t.selected)
                .divider("│"),
            tabs,
        );
        hits.panes.push((pane, PaneTarget::Review(app.review.tab)));
        pane_by_kind(
            f,
            app,
            t,
            assessed,
            app.review.tab,
            focus == app.review.tab,
            pane,
        );
    } else {
        let cols = Layout::horizontal([
            Constraint::Percentage(33),
            Constraint::Percentage(37),
            Constraint::Percentage(30),
        ])
        .split(right);
        for (i, p) in ReviewPane::RIGHT.iter().enumerate() {
            hits.panes.push((cols[i], PaneTarget::Review(*p)));
            pane_by_kind(f, app, t, assessed, *p, focus == *p, cols[i]);
        }
    }
    if app.review.explain {
        if let Some(Assessed::Ready(a)) = assessed {
            hits.popup = explain(f, t, a, app.review.item);
        }
    }
}

fn pane_by_kind(
    f: &mut Frame,
    app: &App,
    t: &Theme,
    assessed: Option<&Assessed>,
    kind: ReviewPane,
    focused: bool,
    area: Rect,
) {
    let title = format!(" {} ", kind.title());
    let a = match assessed {
        Some(Assessed::Ready(a)) => a,
        Some(Assessed::Failed(e)) => {
            f.render_widget(
                Paragraph::new(format!("the package could not be read: {e}"))
                    .wrap(Wrap { trim: true })
                    .style(t.bad)
                    .block(block(title, focused, t)),
                area,
            );
            return;
        }
        _ => {
            f.render_widget(
                Paragraph::new("reading the package…")
                    .style(t.dim)
                    .block(block(title, focused, t)),
                area,
            );
            return;
        }
    };
    match kind {
        ReviewPane::Gate => gate_pane(f, app, t, a, focused, area),
        ReviewPane::Snapshot => snapshot_pane(f, app, t, a, focused, area),
        _ => checklist_pane(f, app, t, a, focused, area),
    }
}

fn branch_list(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let focused = app.review.focus == ReviewPane::Branches;
    let h = area.height.saturating_sub(2) as usize;
    let rows: Vec<Row> = app
        .visible
        .iter()
        .skip(app.branch_cur.offset)
        .take(h)
        .map(|&i| {
            let b = &app.branches[i];
            Row::new(vec![
                package_badge(b.package, t),
                Cell::from(crate::pipeline::status::middle_ellipsis(
                    &b.r.name,
                    area.width.saturating_sub(13) as usize,
                )),
            ])
        })
        .collect();
    let table = Table::new(rows, [Constraint::Length(10), Constraint::Min(10)])
        .block(block(
            format!(" Branches ({}) ", app.visible.len()),
            focused,
            t,
        ))
        .row_highlight_style(if focused {
            t.selected
        } else {
            t.selected_unfocused
        });
    let mut st = TableState::default();
    if !app.visible.is_empty() {
        st.select(Some(app.branch_cur.selected - app.branch_cur.offset));
    }
    f.render_stateful_widget(table, area, &mut st);
}

fn gate_pane(f: &mut Frame, app: &App, t: &Theme, a: &Assessment, focused: bool, area: Rect) {
    let mut title = " Gate log ".to_string();
    if let Some(m) = &a.manifest {
        title = format!(
            " Gate log · {} on {} ",
            m.gate.result.as_str(),
            &m.commit[..m.commit.len().min(8)]
        );
    }
    let lines: Vec<Line> = match &a.gate_log {
        Some(bytes) => String::from_utf8_lossy(bytes)
            .lines()
            .map(|l| {
                let shown = crate::pipeline::runner::apply_carriage_returns(l);
                super::ansi::line(&shown, app.mono)
            })
            .collect(),
        None if a.has_package => vec![Line::styled(
            format!("no gate.log in {}", a.package_dir),
            t.bad,
        )],
        None => vec![Line::styled(
            format!("{} has no handoff package ({})", a.branch, a.package_dir),
            t.dim,
        )],
    };
    f.render_widget(
        Paragraph::new(lines)
            .scroll((app.review.gate_scroll, 0))
            .block(block(title, focused, t)),
        area,
    );
}

fn snapshot_pane(f: &mut Frame, app: &App, t: &Theme, a: &Assessment, focused: bool, area: Rect) {
    let mut lines: Vec<Line> = Vec::new();
    match (&a.baseline, &a.baseline_error) {
        (Some(r), _) => {
            lines.push(Line::styled(
                format!("baseline {}", r.baseline_path),
                t.bold,
            ));
            for c in &r.checks {
                let mark = if c.within { "✅" } else { "❌" };
                let actual = c.actual.map_or("—".to_string(), |n| n.to_string());
                lines.push(Line::from(vec![
                    Span::raw(format!("{mark} {:<12} ", c.metric.name)),
                    Span::styled(
                        format!("{} ±{} → {actual}", c.metric.expected, c.metric.tolerance),
                        if c.within { t.ok } else { t.bad },
                    ),
                ]));
                if let Some(r) = &c.reason {
                    lines.push(Line::styled(format!("   {r}"), t.dim));
                }
            }
        }
        (None, Some(e)) => lines.push(Line::styled(format!("❌ {e}"), t.bad)),
        (None, None) => lines.push(Line::styled("no baseline check", t.dim)),
    }
    lines.push(Line::raw(""));
    match &a.golden {
        Some(g) => lines.push(Line::styled(
            format!("watched files: {g} → {}", a.branch),
            t.bold,
        )),
        None => lines.push(Line::styled("no golden build to compare with", t.dim)),
    }
    for d in &a.diffs {
        lines.push(Line::from(vec![
            Span::raw(format!("{} ", d.path)),
            Span::styled(format!("+{}", d.added), t.ok),
            Span::raw(" "),
            Span::styled(format!("−{}", d.removed), t.bad),
            Span::styled(format!("  {}", d.status.as_str()), t.dim),
        ]));
    }
    for d in a.diffs.iter().filter(|d| !d.patch.is_empty()) {
        lines.push(Line::raw(""));
        for l in d.patch.lines() {
            let style = if l.starts_with("+++") || l.starts_with("---") {
                t.bold
            } else if l.starts_with('+') {
                t.ok
            } else if l.starts_with('-') {
                t.bad
            } else if l.starts_with("@@") {
                t.focus_border
            } else {
                t.dim
            };
            lines.push(Line::styled(l.to_string(), style));
        }
    }
    f.render_widget(
        Paragraph::new(lines)
            .scroll((app.review.snapshot_scroll, 0))
            .block(block(" Snapshot ".into(), focused, t)),
        area,
    );
}

fn mark(s: ItemState) -> &'static str {
    match s {
        ItemState::Ok => "✅",
        ItemState::Warn => "⚠️",
        ItemState::Missing | ItemState::Fail => "❌",
    }
}

fn item_line(item: &ChecklistItem, t: &Theme) -> Line<'static> {
    let style = match item.state {
        ItemState::Ok => t.ok,
        ItemState::Warn => t.warn,
        _ => t.bad,
    };
    let mut spans = vec![Span::styled(
        format!("{} {:<9}", mark(item.state), item.key),
        style,
    )];
    if let Some(r) = &item.reason {
        spans.push(Span::raw(r.clone()));
    }
    Line::from(spans)
}

fn checklist_pane(f: &mut Frame, app: &App, t: &Theme, a: &Assessment, focused: bool, area: Rect) {
    let mut rows: Vec<Line> = Vec::new();
    for (i, item) in a.items.iter().enumerate() {
        let mut l = item_line(item, t);
        if focused && i == app.review.item {
            l = l.style(t.selected);
        }
        rows.push(l);
    }
    for (k, (file, _, items)) in a.legacy.iter().enumerate() {
        let i = a.items.len() + k;
        let worst = items
            .iter()
            .map(|x| x.state)
            .find(|s| !matches!(s, ItemState::Ok | ItemState::Warn))
            .unwrap_or(ItemState::Ok);
        let mut l = Line::from(format!("{} legacy {file}", mark(worst)));
        if focused && i == app.review.item {
            l = l.style(t.selected);
        }
        rows.push(l);
    }
    if rows.is_empty() {
        rows.push(Line::styled(
            format!("no package in {}", a.package_dir),
            t.dim,
        ));
    }
    for w in &a.legacy_warnings {
        rows.push(Line::styled(format!("⚠️ legacy manifest {w}"), t.warn));
    }
    rows.push(Line::raw(""));
    rows.push(Line::styled(
        format!("package: {}", a.state.as_str()),
        if a.ready() { t.ok } else { t.warn },
    ));
    if !a.evidence.is_empty() {
        rows.push(Line::raw(""));
        rows.push(Line::styled(
            "evidence files (j/k selects one to preview)",
            t.bold,
        ));
        let base = a.items.len() + a.legacy.len();
        for (k, (name, head)) in a.evidence.iter().enumerate() {
            let kind = crate::pipeline::evidence::sniff(head)
                .map_or("not media".to_string(), |k| k.to_string());
            let mut l = Line::styled(format!("  {name}  ({kind})"), t.dim);
            if focused && app.review.item == base + k {
                l = l.style(t.selected);
            }
            rows.push(l);
        }
    }
    // The selected evidence image, drawn with the terminal's image protocol
    // or with half blocks (which work everywhere, over SSH too).
    let preview = app.selected_evidence().and_then(|(b, _, n)| {
        app.review
            .preview
            .as_ref()
            .filter(|(pb, pn, _)| *pb == b && *pn == n)
            .map(|(b, n, r)| (b.as_str(), n.as_str(), r))
    });
    let area = match preview {
        Some((branch, name, r)) => {
            let h = match &r {
                Ok(th) => app.review.images.rows(th) + 2,
                Err(_) => 3,
            };
            let [top, bottom] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(h)]).areas(area);
            let block = Block::default()
                .borders(Borders::ALL)
                .border_style(t.border)
                .title(format!(" {name} "));
            match r {
                Ok(th) => {
                    let inner = block.inner(bottom);
                    f.render_widget(block, bottom);
                    if !app.review.images.draw(f, inner, branch, name, th) {
                        f.render_widget(
                            Paragraph::new(half_blocks(th, app.mono, app.colors)),
                            inner,
                        );
                    }
                }
                Err(e) => f.render_widget(
                    Paragraph::new(e.as_str()).style(t.warn).block(block),
                    bottom,
                ),
            }
            top
        }
        None => area,
    };
    let title = format!(" Evidence · {} ", a.state.as_str());
    f.render_widget(
        Paragraph::new(rows)
            .wrap(Wrap { trim: false })
            .block(block(title, focused, t)),
        area,
    );
}

/// Enter on a checklist item: its state, reason and the whole explanation;
/// where it went (`None`: no such item, nothing drawn).
fn explain(f: &mut Frame, t: &Theme, a: &Assessment, item: usize) -> Option<Rect> {
    let (title, mut lines): (String, Vec<Line>) = if let Some(it) = a.items.get(item) {
        let mut v = vec![item_line(it, t), Line::raw("")];
        v.extend(it.detail.iter().map(|d| Line::raw(d.clone())));
        (format!(" {} ", it.key), v)
    } else if let Some((file, m, items)) = a.legacy.get(item - a.items.len().min(item)) {
        let mut v = vec![Line::styled(
            format!(
                "legacy manifest {file}: commit {} ({})",
                m.commit.as_deref().unwrap_or("?"),
                m.branch.as_deref().unwrap_or("no branch")
            ),
            t.bold,
        )];
        v.extend(items.iter().map(|x| item_line(x, t)));
        (" legacy manifest ".to_string(), v)
    } else {
        return None;
    };
    lines.push(Line::raw(""));
    lines.push(Line::styled("Enter or Esc closes", t.dim));
    let area = super::dialogs::centered(f, 76, lines.len() as u16 + 4);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::default()
                .borders(Borders::ALL)
                .border_style(t.focus_border)
                .title(title),
        ),
        area,
    );
    Some(area)
}

/// A picture as lines of `▀`: the top pixel is the foreground, the bottom one
/// the background, each as `mode` can show it (24-bit, the 256-colour
/// palette or the 16 ANSI colours). Without colour, shades by brightness.
pub fn half_blocks(
    th: &crate::pipeline::evidence::Thumbnail,
    mono: bool,
    mode: super::theme::ColorMode,
) -> Vec<Line<'static>> {
    use ratatui::style::Style;
    let mut lines = Vec::new();
    for y in (0..th.height).step_by(2) {
        let mut spans = Vec::new();
        for x in 0..th.width {
            let top = th.pixel(x, y);
            let bottom = if y + 1 < th.height {
                th.pixel(x, y + 1)
            } else {
                top
            };
            if mono {
                let lum = |p: [u8; 3]| (p[0] as u32 * 3 + p[1] as u32 * 6 + p[2] as u32) / 10;
                let l = (lum(top) + lum(bottom)) / 2;
                let ch = [" ", "░", "▒", "▓", "█"][(l * 5 / 256) as usize];
                spans.push(Span::raw(ch));
            } else {
                spans.push(Span::styled(
                    "▀",
                    Style::default().fg(mode.rgb(top)).bg(mode.rgb(bottom)),
                ));
            }
        }
        lines.push(Line::from(spans));
    }
    lines
}

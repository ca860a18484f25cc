//! Widgets and screens: pure functions of the app state. Same state, same
//! buffer — which is what the snapshot tests rely on.
pub mod ansi;
pub mod dialogs;
pub mod footer;
pub mod help;
pub mod image;
pub mod log;
pub mod playbook;
pub mod review;
pub mod sgr16;
pub mod theme;

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table, TableState, Tabs};
use ratatui::Frame;

use crate::app::keys;
use crate::app::modal::Modal;
use crate::app::mouse::{tab_areas, FooterKey, Hits, ListHit, PaneTarget, TabTarget};
use crate::app::{App, Pane, Screen};
use crate::pipeline::common::column_sha;
use crate::pipeline::handoff::PackageState;
use crate::pipeline::repo::HeadState;
use theme::Theme;

/// Draws the whole screen, each colour as the terminal can show it.
pub fn draw(f: &mut Frame, app: &App) {
    draw_hits(f, app);
}

/// Draws a frame; returns where its rows and tabs went (for clicks).
pub fn draw_hits(f: &mut Frame, app: &App) -> Hits {
    let mut hits = Hits::default();
    draw_screen(f, app, &mut hits);
    // Whatever drew them (theme, preview, a script's own colour codes in a
    // log), colours the terminal does not have become the nearest it has.
    if app.colors != theme::ColorMode::TrueColor {
        // Not the cells of a picture sent with an image protocol: their
        // colour names the picture (kitty), and they are not text.
        let text =
            |c: &&mut ratatui::buffer::Cell| c.diff_option == ratatui::buffer::CellDiffOption::None;
        for c in f.buffer_mut().content.iter_mut().filter(text) {
            c.fg = app.colors.adapt(c.fg);
            c.bg = app.colors.adapt(c.bg);
        }
    }
    hits
}

/// The body's area (between header and footer, beside the coach) on a
/// terminal of `app.size`: the screens' scroll limits are worked out on it.
pub fn body_area(app: &App) -> Rect {
    let full = Rect::new(0, 0, app.size.0, app.size.1);
    let [_, body, _] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(full);
    match &app.coach {
        Some(_) if body.width >= 120 => {
            let [b, _] =
                Layout::horizontal([Constraint::Min(60), Constraint::Length(44)]).areas(body);
            b
        }
        Some(_) => {
            let [b, _] = Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(body);
            b
        }
        None => body,
    }
}

fn draw_screen(f: &mut Frame, app: &App, hits: &mut Hits) {
    let t = Theme::from_setting(app.mono, &app.theme).adapted(app.colors);
    let [header, body, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(f.area());
    f.render_widget(header_line(app, &t, header.width), header);
    // The drill's coach: a column when there is room, else a line.
    let body = match &app.coach {
        Some(c) if body.width >= 120 => {
            let [b, side] =
                Layout::horizontal([Constraint::Min(60), Constraint::Length(44)]).areas(body);
            dialogs::coach(f, c, &t, side, false);
            b
        }
        Some(c) => {
            let [b, strip] =
                Layout::vertical([Constraint::Min(3), Constraint::Length(1)]).areas(body);
            dialogs::coach(f, c, &t, strip, true);
            b
        }
        None => body,
    };
    if let (Screen::Log, Some(job)) = (app.screen, app.job.as_ref()) {
        let (out, input) = log::draw(f, job, app.mono, &t, body);
        hits.panes.push((out, PaneTarget::LogOutput));
        if let Some(input) = input {
            hits.panes.push((input, PaneTarget::LogInput));
        }
    } else if let (Screen::Playbook, Some(pb)) = (app.screen, app.playbook.as_ref()) {
        playbook::draw(f, app, pb, &t, body);
    } else if app.screen == Screen::Drift {
        dialogs::drift(f, app, &t, body);
    } else if app.screen == Screen::Records {
        dialogs::records(f, app.records.as_ref(), &app.records_screen, &t, body);
        let [audit, rollout] = dialogs::records_areas(body);
        hits.panes.push((audit, PaneTarget::Records { log: false }));
        hits.panes
            .push((rollout, PaneTarget::Records { log: true }));
    } else if app.screen == Screen::Review {
        review::draw(f, app, &t, body, hits);
    } else if app.folded() {
        let [tabs, pane] =
            Layout::vertical([Constraint::Length(1), Constraint::Min(2)]).areas(body);
        let titles: Vec<Line> = Pane::ALL
            .iter()
            .map(|p| Line::from(format!(" {} ", p.title())))
            .collect();
        let widths: Vec<usize> = titles.iter().map(Line::width).collect();
        for (r, p) in tab_areas(tabs, &widths).into_iter().zip(Pane::ALL) {
            hits.tabs.push((r, TabTarget::Main(p)));
        }
        let sel = Pane::ALL.iter().position(|p| *p == app.focus).unwrap_or(0);
        f.render_widget(
            Tabs::new(titles)
                .select(sel)
                .style(t.dim)
                .highlight_style(t.selected)
                .divider("│"),
            tabs,
        );
        draw_pane(f, app, &t, app.focus, pane, hits);
    } else {
        let [left, right] =
            Layout::horizontal([Constraint::Percentage(60), Constraint::Percentage(40)])
                .areas(body);
        draw_pane(f, app, &t, Pane::Branches, left, hits);
        draw_pane(f, app, &t, Pane::Tags, right, hits);
    }
    f.render_widget(footer_line(app, &t, footer, hits), footer);
    // The modal stack, oldest first: the one on top is drawn last.
    for m in &app.modals {
        draw_modal(f, app, m, &t, hits);
    }
}

/// One layer of the modal stack (the filter line is the footer's).
fn draw_modal(f: &mut Frame, app: &App, m: &Modal, t: &Theme, hits: &mut Hits) {
    match m {
        Modal::Help { scroll } => {
            // Where the overlay covers the footer, its keys are not there
            // to click; a key it covers in part is clicked on what shows.
            let over = help::draw(f, app, *scroll, t);
            hits.footer.retain_mut(|k| {
                k.area = uncovered(k.area, over);
                !k.area.is_empty()
            });
        }
        Modal::Rollback(d) => dialogs::rollback(f, app, d, t),
        Modal::ConfirmQuit => confirm(f, t, "A job is running", &app.quit_question()),
        Modal::ConfirmAbandon => confirm(
            f,
            t,
            "Abandon the deploy?",
            "It stops here, frees the lock and is recorded as abandoned. y = yes, any other key = no",
        ),
        Modal::ConfirmCancel => confirm(
            f,
            t,
            "Cancel the job?",
            "TERM to its process group, then KILL. y = yes, any other key = no",
        ),
        Modal::Filter => {}
    }
}

fn draw_pane(f: &mut Frame, app: &App, t: &Theme, pane: Pane, area: Rect, hits: &mut Hits) {
    // The rows below the border and the column header.
    let (offset, len) = match pane {
        Pane::Branches => (app.branch_cur.offset, app.visible.len()),
        Pane::Tags => (app.tag_cur.offset, app.tags.as_ref().map_or(0, Vec::len)),
    };
    let rows = Rect {
        x: area.x + 1,
        y: area.y + 2,
        width: area.width.saturating_sub(2),
        height: area.height.saturating_sub(3),
    };
    hits.lists.push(ListHit {
        pane,
        rows,
        offset,
        len,
    });
    match pane {
        Pane::Branches => branches(f, app, t, area),
        Pane::Tags => tags(f, app, t, area),
    }
}

/// How much a header segment matters when the line is too narrow for all:
/// the least important go first, whole, never cut in the middle.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Keep {
    /// "no drift", "lock free", the last poll: news only when it is bad.
    Quiet,
    /// Who you are and your role.
    Who,
    /// Golden and live, and every warning: always shown if it fits at all.
    Vital,
}

fn header_line(app: &App, t: &Theme, width: u16) -> Paragraph<'static> {
    let narrow = width < 100;
    let mut segments: Vec<(Keep, Vec<Span<'static>>)> = Vec::new();
    let golden = app
        .tags
        .as_ref()
        .map(|v| v.last().map_or("none".to_string(), |g| g.name.clone()))
        .unwrap_or_else(|| "…".into());
    segments.push((Keep::Vital, vec![Span::raw(format!("★ {golden}"))]));
    match &app.live {
        Some(l) => {
            let (mark, style) = match l.health {
                crate::pipeline::state::LiveHealth::Ok => ("✅", t.ok),
                crate::pipeline::state::LiveHealth::Failed => ("❌", t.bad),
                crate::pipeline::state::LiveHealth::Unverified => ("⚠️", t.warn),
                crate::pipeline::state::LiveHealth::Unknown => ("❓", t.bad),
            };
            let tag = l.tag.as_deref().unwrap_or("untagged");
            // Narrow, production serving the golden build says so in a star.
            let tag = if narrow && tag == golden { "★" } else { tag };
            segments.push((
                Keep::Vital,
                vec![Span::styled(format!("live {tag} {mark}"), style)],
            ));
        }
        None => segments.push((Keep::Vital, vec![Span::styled("live —", t.dim)])),
    }
    if let Some((ok, failing, at)) = &app.live_poll {
        let (keep, text, st) = if *ok {
            (
                Keep::Quiet,
                format!("polled {} ✅", at.format("%H:%M")),
                t.ok,
            )
        } else {
            (
                Keep::Vital,
                format!("polled {} ❌ {}", at.format("%H:%M"), failing.join(", ")),
                t.bad,
            )
        };
        segments.push((keep, vec![Span::styled(text, st)]));
    }
    if let Some((what, branch, waiting)) = app.own_job() {
        let text = format!(
            "{} {what}{} · L",
            if waiting { "⏸" } else { "⏳" },
            branch.map(|b| format!(" {b}")).unwrap_or_default()
        );
        segments.push((Keep::Vital, vec![Span::styled(text, t.warn)]));
    }
    segments.push(match (&app.lock.held, &app.lock.frozen) {
        (None, None) => (Keep::Quiet, vec![Span::styled("lock free", t.dim)]),
        (Some(h), _) => (
            Keep::Vital,
            vec![Span::styled(
                format!("🔒 {} {} {}", h.owner, h.action, h.target),
                t.warn,
            )],
        ),
        (None, Some(z)) => (
            Keep::Vital,
            vec![Span::styled(format!("❄ frozen by {}", z.owner), t.bad)],
        ),
    });
    if let Some(d) = &app.drift {
        if d.drift {
            let n = d.committed.len() + d.working.len();
            let mut text = format!("⚠ drift {n} file{}", if n == 1 { "" } else { "s" });
            if !d.baseline_changes.is_empty() {
                text.push_str(" + baseline");
            }
            segments.push((Keep::Vital, vec![Span::styled(text, t.bad)]));
        } else {
            segments.push((Keep::Quiet, vec![Span::styled("no drift", t.dim)]));
        }
    }
    let role = match (app.user.release_manager, narrow) {
        (true, false) => "release manager",
        (true, true) => "RM",
        (false, _) => "viewer",
    };
    segments.push((
        Keep::Who,
        vec![Span::raw(format!("{} · {role}", app.user.name))],
    ));
    if app.readonly {
        segments.push((Keep::Vital, vec![Span::styled("read-only", t.warn)]));
    }
    match &app.head {
        HeadState::Detached { commit } => segments.push((
            Keep::Vital,
            vec![Span::styled(
                format!("detached HEAD at {}", column_sha(commit)),
                t.warn,
            )],
        )),
        HeadState::Unborn => {
            segments.push((Keep::Vital, vec![Span::styled("empty repository", t.warn)]))
        }
        HeadState::Branch { .. } => {}
    }

    let mut lead = Vec::new();
    if !narrow {
        lead.push(Span::styled(" guardrail ", t.title));
    }
    lead.push(Span::styled(format!(" {}", app.project), t.bold));
    const SEP: &str = " │ ";
    let sep_width = Span::raw(SEP).width();
    let seg_width = |spans: &[Span]| spans.iter().map(Span::width).sum::<usize>() + sep_width;
    let lead_width: usize = lead.iter().map(Span::width).sum();
    let mut total = lead_width + segments.iter().map(|(_, s)| seg_width(s)).sum::<usize>();
    // Drop whole segments, least important and rightmost first, until the
    // line fits.
    for level in [Keep::Quiet, Keep::Who] {
        while total > width as usize {
            let Some(i) = segments.iter().rposition(|(k, _)| *k == level) else {
                break;
            };
            total -= seg_width(&segments.remove(i).1);
        }
    }
    let mut spans = lead;
    for (_, seg) in segments {
        spans.push(Span::styled(SEP, t.dim));
        spans.extend(seg);
    }
    Paragraph::new(Line::from(spans)).style(t.header)
}

/// The footer: the keys that work now, each recorded where it was drawn
/// (a click on it runs it, see `app::mouse`).
/// The part of a one-row `area` left and right of `over` that `over` does
/// not cover (the wider side when both show; empty when all is covered).
fn uncovered(area: Rect, over: Rect) -> Rect {
    if !area.intersects(over) {
        return area;
    }
    let left = over.x.saturating_sub(area.x).min(area.width);
    let right = area.right().saturating_sub(over.right()).min(area.width);
    if left >= right {
        Rect::new(area.x, area.y, left, area.height)
    } else {
        Rect::new(area.right() - right, area.y, right, area.height)
    }
}

fn footer_line(app: &App, t: &Theme, area: Rect, hits: &mut Hits) -> Paragraph<'static> {
    // The rollback dialog swallows every key: the footer shows its own
    // (not clickable: its `y` is the keyboard's alone).
    if let Some(Modal::Rollback(d)) = app.top_modal() {
        let mut spans = vec![Span::styled(" rollback: ", t.bold)];
        for b in app.shown_keys().into_iter().filter(|b| b.footer) {
            spans.push(Span::styled(format!(" {} ", keys::label(b)), t.key));
            spans.push(Span::styled(format!("{} ", d.hint(b)), t.dim));
        }
        return Paragraph::new(Line::from(spans));
    }
    let mut spans = Vec::new();
    if let Some(Modal::Filter) = app.top_modal() {
        spans.extend([
            Span::styled(" filter: ", t.key),
            Span::raw(app.filter.clone()),
            Span::styled("▏", t.bold),
            Span::raw("  "),
        ]);
    } else {
        if let Some(m) = &app.message {
            spans.push(Span::styled(format!(" {m} "), t.warn));
            spans.push(Span::raw(" "));
        }
        if !app.filter.is_empty() {
            spans.push(Span::styled(format!(" filter: {} ", app.filter), t.warn));
            spans.push(Span::raw(" "));
        }
    }
    // Hints in table order while they fit; `?` and quit always stay.
    let hints: Vec<_> = app.shown_keys().into_iter().filter(|b| b.footer).collect();
    let used: usize = spans.iter().map(|s| s.width()).sum();
    for p in footer::layout(&hints, used, area.width) {
        let (key, hint) = footer::texts(p.binding);
        spans.push(Span::styled(key, t.key));
        spans.push(Span::styled(hint, t.dim));
        hits.footer.push(FooterKey {
            area: Rect::new(area.x + p.start, area.y, p.end - p.start, 1),
            action: p.binding.action,
        });
    }
    Paragraph::new(Line::from(spans))
}

pub(crate) fn block<'a>(title: String, focused: bool, t: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_style(if focused { t.focus_border } else { t.border })
        .title(Span::styled(
            title,
            if focused {
                t.bold.add_modifier(Modifier::BOLD)
            } else {
                t.bold
            },
        ))
}

fn date(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|d| d.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

fn branches(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let focused = app.focus == Pane::Branches;
    let loaded = app
        .visible
        .iter()
        .filter(|&&i| app.branches[i].info.is_some())
        .count();
    let mut title = format!(" Branches ({}", app.visible.len());
    let listed = app.branch_count();
    if app.visible.len() != listed {
        title.push_str(&format!(" of {listed}"));
    }
    title.push(')');
    if loaded < app.visible.len() {
        title.push_str(" reading…");
    }
    title.push(' ');
    let inner_h = area.height.saturating_sub(3) as usize;
    let wide = area.width >= 90;
    let own = app.own_job();
    // The branch column's width as the table lays it out (borders, the
    // fixed columns, the subject's 35 %, one space between columns): a
    // longer name is cut in the middle with `…`, keeping both ends.
    let inner_w = area.width.saturating_sub(2) as usize;
    let ncols = if wide { 7 } else { 6 };
    let fixed = 10 + 8 + 9 + 16 + if wide { 12 } else { 0 } + (ncols - 1);
    let name_w = inner_w.saturating_sub(fixed + inner_w * 35 / 100).max(22);
    let rows: Vec<Row> = app
        .visible
        .iter()
        .skip(app.branch_cur.offset)
        .take(inner_h)
        .map(|&i| {
            let b = &app.branches[i];
            let remote_only = !b.r.sources.iter().any(|s| s == "local");
            let mut name = b.r.name.clone();
            if remote_only {
                name = format!("{name} ⇣");
            }
            let mut name = crate::pipeline::status::middle_ellipsis(&name, name_w);
            let badge = package_badge(b.package, t);
            // This console's job on the branch, and the key back to it.
            if let Some((what, _, waiting)) = own
                .as_ref()
                .filter(|(_, br, _)| br.as_deref() == Some(b.r.name.as_str()))
            {
                let mark = if *waiting { "⏸" } else { "⏳" };
                name = format!("{mark} {name}");
                let note = if *waiting {
                    format!("{what} waits for you; L returns to it")
                } else {
                    format!("{what} running; L shows it")
                };
                let mut cells = vec![badge, Cell::from(name).style(t.warn)];
                cells.push(Cell::from(column_sha(&b.r.head)).style(t.dim));
                cells.push(Cell::from(""));
                // The time column is wide enough for the short form.
                cells.push(Cell::from(format!("{mark} {what} · L")).style(t.warn));
                if wide {
                    cells.push(Cell::from(""));
                }
                cells.push(Cell::from(note).style(t.warn));
                return Row::new(cells);
            }
            match &b.info {
                Some(info) => {
                    let ab = match (info.ahead, info.behind) {
                        (Some(a), Some(bh)) => format!("+{a} -{bh}"),
                        _ => "".into(),
                    };
                    let mut cells = vec![
                        badge,
                        Cell::from(name),
                        Cell::from(column_sha(&info.head)).style(t.dim),
                        Cell::from(ab),
                        Cell::from(date(info.time)).style(t.dim),
                    ];
                    if wide {
                        cells.push(Cell::from(info.author.clone()));
                    }
                    cells.push(Cell::from(info.subject.clone()));
                    Row::new(cells)
                }
                None => {
                    let mut cells = vec![
                        badge,
                        Cell::from(name),
                        Cell::from(column_sha(&b.r.head)).style(t.dim),
                        Cell::from("…").style(t.dim),
                        Cell::from(""),
                    ];
                    if wide {
                        cells.push(Cell::from(""));
                    }
                    cells.push(Cell::from(""));
                    Row::new(cells)
                }
            }
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(10),
        Constraint::Min(22),
        Constraint::Length(8),
        Constraint::Length(9),
        Constraint::Length(16),
    ];
    let mut head = vec!["package", "branch", "head", "ahead", "time"];
    if wide {
        widths.push(Constraint::Length(12));
        head.push("author");
    }
    widths.push(Constraint::Percentage(35));
    head.push("subject");
    let table = Table::new(rows, widths)
        .header(Row::new(head).style(t.column_header))
        .block(block(title, focused, t))
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
    if app.visible.is_empty() {
        let msg = if !app.filter.is_empty() {
            format!("no branch matches “{}”", app.filter)
        } else if app.main_missing && app.branch_count() == 0 {
            format!(
                "no feature branches, and the main branch `{}` does not exist",
                app.cfg.project.main_branch
            )
        } else {
            "no feature branches yet".to_string()
        };
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        f.render_widget(Paragraph::new(msg).style(t.dim), inner);
    }
}

fn tags(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let focused = app.focus == Pane::Tags;
    let Some(tags) = &app.tags else {
        f.render_widget(
            Paragraph::new("reading tags…").style(t.dim).block(block(
                " Prod tags ".into(),
                focused,
                t,
            )),
            area,
        );
        return;
    };
    let inner_h = area.height.saturating_sub(3) as usize;
    let golden = tags.last().map(|g| g.name.clone());
    let live_tag = app.live.as_ref().and_then(|l| l.tag.clone());
    let wide = area.width >= 58;
    let rows: Vec<Row> = tags
        .iter()
        .rev()
        .skip(app.tag_cur.offset)
        .take(inner_h)
        .map(|tag| {
            let mut mark = String::new();
            if Some(&tag.name) == golden.as_ref() {
                mark.push('★');
            }
            if Some(&tag.name) == live_tag.as_ref() {
                mark.push('●');
            }
            let bad = app
                .live
                .as_ref()
                .is_some_and(|l| l.bad_tags.contains(&tag.name));
            let name = if bad {
                format!("{} ✗ bad", tag.name)
            } else {
                tag.name.clone()
            };
            let mut cells = vec![
                Cell::from(mark).style(t.ok),
                if bad {
                    Cell::from(name).style(t.bad)
                } else {
                    Cell::from(name)
                },
                Cell::from(if tag.annotated { "annotated" } else { "light" }).style(t.dim),
                if tag.backup {
                    Cell::from("backup ✓").style(t.ok)
                } else {
                    Cell::from("no backup").style(t.warn)
                },
            ];
            if wide {
                cells.push(Cell::from(column_sha(&tag.commit)).style(t.dim));
            }
            Row::new(cells)
        })
        .collect();
    let mut widths = vec![
        Constraint::Length(2),
        Constraint::Min(16),
        Constraint::Length(9),
        Constraint::Length(9),
    ];
    let mut head = vec!["", "tag", "kind", "backup"];
    if wide {
        widths.push(Constraint::Length(8));
        head.push("commit");
    }
    let table = Table::new(rows, widths)
        .header(Row::new(head).style(t.column_header))
        .block(block(
            format!(" Prod tags ({}) · ★ golden ● live ", tags.len()),
            focused,
            t,
        ))
        .row_highlight_style(if focused {
            t.selected
        } else {
            t.selected_unfocused
        });
    let mut st = TableState::default();
    if !tags.is_empty() {
        st.select(Some(app.tag_cur.selected - app.tag_cur.offset));
    }
    f.render_stateful_widget(table, area, &mut st);
    if tags.is_empty() {
        let inner = Rect {
            x: area.x + 2,
            y: area.y + 2,
            width: area.width.saturating_sub(4),
            height: 1,
        };
        f.render_widget(
            Paragraph::new(format!(
                "no {}YYYY-MM-DD tag yet",
                app.cfg.project.tag_prefix
            ))
            .style(t.dim),
            inner,
        );
    }
}

/// A yes/no question over everything; its keys are handled by the app.
fn confirm(f: &mut Frame, t: &Theme, title: &str, text: &str) {
    use ratatui::layout::Flex;
    use ratatui::widgets::{Clear, Wrap};
    let w = (text.chars().count() as u16 + 4)
        .min(f.area().width)
        .max(30);
    // As many rows as the wrapped question needs: its `y = yes` stays.
    let inner = (w.saturating_sub(2) as usize).max(1);
    let h = (Line::raw(text).width().div_ceil(inner) as u16 + 1).max(2) + 2;
    let [area] = Layout::vertical([Constraint::Length(h)])
        .flex(Flex::Center)
        .areas(f.area());
    let [area] = Layout::horizontal([Constraint::Length(w)])
        .flex(Flex::Center)
        .areas(area);
    f.render_widget(Clear, area);
    f.render_widget(
        Paragraph::new(text.to_string())
            .wrap(Wrap { trim: true })
            .block(
                Block::default()
                    .borders(Borders::ALL)
                    .border_style(t.bad)
                    .title(Span::styled(format!(" {title} "), t.bold)),
            ),
        area,
    );
}

/// The package state as a short badge; colour only repeats the word.
pub fn package_badge(state: Option<PackageState>, t: &Theme) -> Cell<'static> {
    match state {
        None => Cell::from("…").style(t.dim),
        Some(PackageState::Ready) => Cell::from("✓ ready").style(t.ok),
        Some(PackageState::Incomplete) => Cell::from("… incompl").style(t.warn),
        Some(PackageState::Stale) => Cell::from("↻ stale").style(t.warn),
        Some(PackageState::Failed) => Cell::from("✗ failed").style(t.bad),
        Some(PackageState::None) => Cell::from("· none").style(t.dim),
    }
}

//! The rollback dialog, the records screen and the drill's coach pane.
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Wrap};
use ratatui::Frame;

use super::block;
use super::theme::Theme;
use crate::app::coach::{Coach, STEPS};
use crate::app::rollback::RollbackDialog;
use crate::app::state::RecordsView;
use crate::app::App;
use crate::pipeline::rollback::{Plan, PlanSource};
use crate::pipeline::state::LiveHealth;

pub(crate) fn centered(f: &Frame, w: u16, h: u16) -> Rect {
    let w = w.min(f.area().width);
    let h = h.min(f.area().height);
    let [area] = Layout::vertical([Constraint::Length(h)])
        .flex(Flex::Center)
        .areas(f.area());
    let [area] = Layout::horizontal([Constraint::Length(w)])
        .flex(Flex::Center)
        .areas(area);
    area
}

/// What `R` shows: the plan, and the keys that act on it.
pub fn rollback(f: &mut Frame, app: &App, d: &RollbackDialog, t: &Theme) {
    let mut lines: Vec<Line> = Vec::new();
    if let Some(cur) = &d.picking {
        lines.push(Line::styled("Roll back to which prod tag?", t.bold));
        let tags = app.tags.clone().unwrap_or_default();
        let live = app.live.as_ref().and_then(|l| l.tag.clone());
        let bad = app
            .live
            .as_ref()
            .map(|l| l.bad_tags.clone())
            .unwrap_or_default();
        for (i, tag) in tags.iter().rev().enumerate() {
            let mut notes = vec![if tag.backup {
                "backup ✓"
            } else {
                "no backup: from the tree"
            }
            .to_string()];
            if Some(&tag.name) == live.as_ref() {
                notes.push("live".into());
            }
            if bad.contains(&tag.name) {
                notes.push("failed verification".into());
            }
            let mut l = Line::raw(format!(
                "  {}  {}  {}",
                tag.name,
                tag.date,
                notes.join(", ")
            ));
            if i == cur.selected {
                l = l.style(t.selected);
            }
            lines.push(l);
        }
    } else if let Some(p) = &d.plan {
        plan_lines(&mut lines, d, p, t, 8);
    } else if d.loading {
        lines.push(Line::styled("planning the rollback…", t.dim));
    } else if let Some(e) = &d.error {
        lines.push(Line::styled(format!("❌ {e}"), t.bad));
    }
    // The reason, the message and the keys are pinned to the bottom: on a
    // small terminal the plan's details lose their rows first, the keys
    // last. Listed least important first.
    let mut tail: Vec<Line> = Vec::new();
    if let Some(m) = &d.message {
        tail.push(Line::styled(m.clone(), t.warn));
    }
    if d.plan.is_some() && d.picking.is_none() {
        tail.push(Line::from(vec![
            Span::raw("reason: "),
            Span::styled(d.reason.clone(), t.bold),
            Span::styled(if d.editing_reason { "▏" } else { "" }, t.dim),
        ]));
    }
    let mut keys: Vec<Span> = Vec::new();
    for (i, (k, what)) in d.keys().into_iter().enumerate() {
        if i > 0 {
            keys.push(Span::styled(" · ", t.dim));
        }
        keys.push(Span::styled(k, t.key));
        keys.push(Span::raw(format!(" {what}")));
    }
    tail.push(Line::from(keys));
    // Height with wrapping.
    let inner = 82usize
        .min(f.area().width.saturating_sub(2) as usize)
        .max(1);
    let rows_of =
        |ls: &[Line]| -> usize { ls.iter().map(|l| l.width().max(1).div_ceil(inner)).sum() };
    // Too tall for the terminal: the list of files gives up its rows first
    // (its count stays), so what decides is all in sight without scrolling.
    let room = f.area().height.saturating_sub(2) as usize;
    if let (Some(p), None) = (&d.plan, &d.picking) {
        let mut shown = 8;
        while shown > 0 && rows_of(&lines) + rows_of(&tail) + 1 > room {
            shown -= 1;
            lines.clear();
            plan_lines(&mut lines, d, p, t, shown);
        }
    }
    let want = rows_of(&lines) + rows_of(&tail) + 1;
    let area = centered(f, 84, want as u16 + 2);
    let inner_h = area.height.saturating_sub(2) as usize;
    while tail.len() > 1 && rows_of(&tail) > inner_h {
        tail.remove(0);
    }
    let tail_h = rows_of(&tail).min(inner_h) as u16;
    f.render_widget(Clear, area);
    let frame = Block::default()
        .borders(Borders::ALL)
        .border_style(t.bad)
        .title(Span::styled(" Roll back production ", t.bold));
    let body = frame.inner(area);
    f.render_widget(frame, area);
    let [top, bottom] =
        Layout::vertical([Constraint::Min(0), Constraint::Length(tail_h)]).areas(body);
    f.render_widget(Paragraph::new(lines).wrap(Wrap { trim: false }), top);
    f.render_widget(Paragraph::new(tail).wrap(Wrap { trim: false }), bottom);
}

/// The plan, what decides first: the target (tag, date, commit), what is
/// live now, where the bytes come from, the files that change; where it
/// will be recorded only after `p`.
fn plan_lines(
    lines: &mut Vec<Line<'static>>,
    d: &RollbackDialog,
    p: &Plan,
    t: &Theme,
    max_files: usize,
) {
    let verb = if p.roll_forward {
        "Roll forward to"
    } else {
        "Roll back to"
    };
    lines.push(Line::from(vec![
        Span::styled(format!("{verb} {}", p.target.name), t.bold),
        Span::raw(format!(
            "  {} · commit {}",
            p.target.date,
            &p.target.commit[..8.min(p.target.commit.len())]
        )),
    ]));
    let live = match &p.live {
        Some(l) => {
            let health = match l.health {
                LiveHealth::Ok => "verified ✅",
                LiveHealth::Failed => "verification failed ❌",
                LiveHealth::Unverified => "not verified ⚠️",
                LiveHealth::Unknown => "unknown ❓ (a deploy failed)",
            };
            format!(
                "live now: {}, {health} · BUILD_ID {}",
                l.tag.clone().unwrap_or_else(|| format!(
                    "untagged build of {}",
                    l.branch.clone().unwrap_or_default()
                )),
                l.build_id
            )
        }
        None => "live now: nothing recorded on this box".into(),
    };
    lines.push(Line::raw(live));
    if d.selected_tag.as_deref() == Some(p.target.name.as_str()) {
        let alternative = match d.default_target.as_deref() {
            Some(def) if def != p.target.name => {
                format!("; the default target is {def} (t picks it)")
            }
            Some(_) => "; it is also the default target".to_string(),
            None => String::new(),
        };
        lines.push(Line::styled(
            format!("the tag selected in the list{alternative}"),
            t.warn,
        ));
    }
    match (&p.source, &p.refused_backup) {
        (PlanSource::Backup { path, check, .. }, _) => lines.push(Line::raw(format!(
            "from: backup ✅ {} · {}",
            path.file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| path.display().to_string()),
            check.summary()
        ))),
        (PlanSource::Tree { commit }, Some(why)) => {
            lines.push(Line::styled(
                format!("from: backup ❌ refused: {why}"),
                t.bad,
            ));
            lines.push(Line::styled(
                if d.tree_ok {
                    format!(
                        "→ the tag's git tree at {} will be deployed instead (chosen)",
                        &commit[..8.min(commit.len())]
                    )
                } else {
                    "f deploys from the tag's git tree instead (nothing else will)".to_string()
                },
                t.warn,
            ));
        }
        (PlanSource::Tree { commit }, None) => lines.push(Line::raw(format!(
            "from: tree — the tag's git tree at {} (no backup; no rebuild)",
            &commit[..8.min(commit.len())]
        ))),
    }
    match &p.diff_base {
        Some(base) if p.diff.is_empty() => lines.push(Line::styled(
            format!("files: no change against {base}"),
            t.dim,
        )),
        Some(base) => {
            lines.push(Line::raw(format!(
                "files that change ({}), against {base}:",
                p.diff.len()
            )));
            // All of them when they fit in one more row than the limit.
            let shown = if p.diff.len() <= max_files + 1 {
                p.diff.len()
            } else {
                max_files
            };
            for c in p.diff.iter().take(shown) {
                lines.push(Line::styled(
                    format!("  {} {}", c.change.sign(), c.path),
                    t.dim,
                ));
            }
            if p.diff.len() > shown {
                lines.push(Line::styled(
                    format!("  … and {} more", p.diff.len() - shown),
                    t.dim,
                ));
            }
        }
        None => lines.push(Line::styled(
            "files: production's content is not known",
            t.dim,
        )),
    }
    for n in &p.notes {
        lines.push(Line::styled(n.clone(), t.dim));
    }
    if d.show_paths {
        lines.push(Line::styled(
            format!("source: {}", p.source.describe()),
            t.dim,
        ));
        lines.push(Line::styled("recorded in:", t.dim));
        for w in &p.will_log {
            lines.push(Line::styled(format!("  {w}"), t.dim));
        }
    }
}

/// The audit pane and the rollout log pane of the records screen.
pub(crate) fn records_areas(area: Rect) -> [Rect; 2] {
    if area.width >= 110 {
        Layout::horizontal([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    } else {
        Layout::vertical([Constraint::Percentage(55), Constraint::Percentage(45)]).areas(area)
    }
}

/// Rows `text` takes wrapped into `width` columns.
fn wrapped_rows(text: &str, width: u16) -> usize {
    let w = width.max(1) as usize;
    text.lines()
        .map(|l| l.chars().count().div_ceil(w).max(1))
        .sum()
}

/// The furthest the audit pane and the rollout log scroll in `area`: the
/// last lines at the bottom of the pane.
pub fn records_max_scroll(r: &RecordsView, area: Rect) -> (u16, u16) {
    let [left, right] = records_areas(area);
    let audit = (r.entries.len() + 1).saturating_sub(left.height.saturating_sub(2) as usize);
    let log = wrapped_rows(&r.rollout_log, right.width.saturating_sub(2))
        .saturating_sub(right.height.saturating_sub(2) as usize);
    (
        audit.min(u16::MAX as usize) as u16,
        log.min(u16::MAX as usize) as u16,
    )
}

/// The audit chain (verdict and entries) beside the rollout log; Tab
/// gives the keyboard to one or the other.
/// The records screen; `ui` is its component's state (scrolls, focus).
pub fn records(
    f: &mut Frame,
    r: Option<&RecordsView>,
    ui: &crate::app::screens::RecordsScreen,
    t: &Theme,
    area: Rect,
) {
    let Some(r) = r else {
        f.render_widget(
            Paragraph::new("reading the audit chain…")
                .style(t.dim)
                .block(block(" Records ".into(), true, t)),
            area,
        );
        return;
    };
    let [left, right] = records_areas(area);
    let (max_audit, max_log) = records_max_scroll(r, area);
    let mut lines = vec![Line::styled(
        format!("{} {}", if r.intact { "✅" } else { "❌" }, r.verdict),
        if r.intact { t.ok } else { t.bad },
    )];
    lines.extend(r.entries.iter().rev().map(|e| Line::raw(e.clone())));
    f.render_widget(
        Paragraph::new(lines)
            .scroll((ui.scroll.min(max_audit), 0))
            .block(block(
                " Audit chain (newest first) ".into(),
                !ui.log_focus,
                t,
            )),
        left,
    );
    f.render_widget(
        Paragraph::new(r.rollout_log.clone())
            .wrap(Wrap { trim: false })
            .scroll((ui.log_scroll.min(max_log), 0))
            .block(block(" Rollout log ".into(), ui.log_focus, t)),
        right,
    );
}

/// The coach: each step, ticked when done, the next one's hint.
pub fn coach(f: &mut Frame, c: &Coach, t: &Theme, area: Rect, compact: bool) {
    let current = c.current();
    if compact {
        let line = match current {
            Some(i) => Line::from(vec![
                Span::styled(format!(" drill {}/6 ", i + 1), t.key),
                Span::styled(format!(" {} ", STEPS[i].0), t.bold),
                Span::styled(format!("— {}", c.hint(i)), t.dim),
            ]),
            None => {
                let skipped = match c.skipped().len() {
                    0 => String::new(),
                    1 => "; 1 step skipped".to_string(),
                    n => format!("; {n} steps skipped"),
                };
                Line::styled(
                    format!(
                        " drill passed ✅ — failure to verified restore {}s{skipped}; report in {}",
                        crate::pipeline::common::seconds(c.seconds_to_restore().unwrap_or(0.0)),
                        c.info.report.display()
                    ),
                    t.ok,
                )
            }
        };
        f.render_widget(Paragraph::new(line), area);
        return;
    }
    let mut lines = Vec::new();
    for (i, (title, _)) in STEPS.iter().enumerate() {
        let (mark, style) = if c.done[i] {
            ("✅", t.ok)
        } else if Some(i) == current {
            ("▶ ", t.bold)
        } else {
            ("· ", t.dim)
        };
        let skipped = if !c.done[i] && current.is_none_or(|cur| i < cur) {
            " (skipped)"
        } else {
            ""
        };
        lines.push(Line::styled(
            format!("{mark}{}. {title}{skipped}", i + 1),
            style,
        ));
        if Some(i) == current {
            lines.push(Line::styled(format!("    {}", c.hint(i)), t.warn));
        }
    }
    lines.push(Line::raw(""));
    match current {
        None => {
            lines.push(Line::styled("Drill passed ✅", t.ok));
            if let Some(s) = c.seconds_to_restore() {
                lines.push(Line::raw(format!(
                    "failure → verified restore: {}s",
                    crate::pipeline::common::seconds(s)
                )));
            }
            lines.push(Line::styled(
                format!("report: {}", c.info.report.display()),
                t.dim,
            ));
        }
        Some(_) => lines.push(Line::styled(format!("production: {}", c.info.url), t.dim)),
    }
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(" Drill coach ".into(), false, t)),
        area,
    );
}

/// The drift pane: what differs from the golden build, the baseline change
/// called out on its own, and the diffs.
pub fn drift(f: &mut Frame, app: &App, t: &Theme, area: Rect) {
    let Some(d) = &app.drift else {
        f.render_widget(
            Paragraph::new("checking drift…")
                .style(t.dim)
                .block(block(" Drift ".into(), true, t)),
            area,
        );
        return;
    };
    let lines = drift_lines(d, t);
    let max = drift_max_scroll(d, area);
    f.render_widget(
        Paragraph::new(lines)
            .scroll((app.drift_screen.scroll.min(max), 0))
            .block(block(
                format!(
                    " Drift against {} ",
                    d.golden.clone().unwrap_or_else(|| "—".into())
                ),
                true,
                t,
            )),
        area,
    );
}

/// The furthest the drift report scrolls in `area`: its last line at the
/// bottom.
pub fn drift_max_scroll(d: &crate::pipeline::drift::DriftReport, area: Rect) -> u16 {
    let n = drift_lines(d, &Theme::new(true)).len();
    n.saturating_sub(area.height.saturating_sub(2) as usize)
        .min(u16::MAX as usize) as u16
}

fn drift_lines(d: &crate::pipeline::drift::DriftReport, t: &Theme) -> Vec<Line<'static>> {
    let mut lines = vec![Line::styled(
        crate::pipeline::drift::summary(d),
        if d.drift { t.bad } else { t.ok },
    )];
    if !d.baseline_changes.is_empty() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "The baseline changed — allowed only as an intentional change:",
            t.warn,
        ));
        for c in &d.baseline_changes {
            lines.push(Line::raw(format!(
                "  {} ({}): {} → {}",
                c.key,
                c.where_,
                c.golden.clone().unwrap_or_else(|| "(unset)".into()),
                c.now.clone().unwrap_or_else(|| "(unset)".into())
            )));
        }
    }
    for (title, files) in [
        ("committed on main", &d.committed),
        ("in the working tree", &d.working),
    ] {
        if files.is_empty() {
            continue;
        }
        lines.push(Line::raw(""));
        lines.push(Line::styled(title.to_string(), t.bold));
        for fd in files.iter() {
            lines.push(Line::from(vec![
                Span::raw(format!("  {} ", fd.path)),
                Span::styled(format!("+{}", fd.added), t.ok),
                Span::raw(" "),
                Span::styled(format!("−{}", fd.removed), t.bad),
            ]));
        }
        for fd in files.iter() {
            for l in fd.patch.lines() {
                let style = if l.starts_with('+') && !l.starts_with("+++") {
                    t.ok
                } else if l.starts_with('-') && !l.starts_with("---") {
                    t.bad
                } else {
                    t.dim
                };
                lines.push(Line::styled(l.to_string(), style));
            }
        }
    }
    for n in &d.notes {
        lines.push(Line::styled(n.clone(), t.dim));
    }
    lines
}

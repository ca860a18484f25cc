//! The playbook screen: the release steps with what each does and why (in
//! the protocol's words), their results, the live checks as they come in —
//! ✅ / ⚠️ / ❌ with latency, attempts and the last error — and the script
//! output beside them.
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Cell, Paragraph, Row, Table, Wrap};
use ratatui::Frame;

use super::block;
use super::theme::Theme;
use crate::app::playbook::PlaybookView;
use crate::app::App;
use crate::pipeline::playbook::StepState;
use crate::pipeline::verify::CheckState;

pub fn draw(f: &mut Frame, app: &App, pb: &PlaybookView, t: &Theme, area: Rect) {
    let wide = area.width >= 110;
    let (left, right) = if wide {
        let [l, r] = Layout::horizontal([Constraint::Length(58), Constraint::Min(30)]).areas(area);
        (l, Some(r))
    } else {
        (area, None)
    };
    let checks_h = if pb.checks.is_empty() {
        0
    } else {
        pb.checks.len() as u16 + 3
    };
    let [steps_area, checks_area, log_area] = if wide {
        Layout::vertical([
            Constraint::Min(8),
            Constraint::Length(checks_h),
            Constraint::Length(0),
        ])
        .areas(left)
    } else {
        // Narrow: the log pane keeps room for its input line while the
        // script asks; the steps and checks give up their rows first.
        let asking = app
            .job
            .as_ref()
            .is_some_and(|j| j.prompt.is_some() || j.input_focus);
        let log_min: u16 = if asking { 6 } else { 4 };
        let room = left.height.saturating_sub(log_min);
        let checks_h = checks_h.min(room.saturating_sub(3));
        let steps_h = 14.min(room.saturating_sub(checks_h));
        Layout::vertical([
            Constraint::Length(steps_h),
            Constraint::Length(checks_h),
            Constraint::Min(0),
        ])
        .areas(left)
    };
    steps(f, pb, t, steps_area);
    if checks_area.height > 0 {
        checks(f, pb, t, checks_area);
    }
    let log_area = right.unwrap_or(log_area);
    if let Some(job) = &app.job {
        // No clicks here: `Enter` on this screen runs the next step.
        let _ = super::log::draw(f, job, app.mono, t, log_area);
    }
}

fn steps(f: &mut Frame, pb: &PlaybookView, t: &Theme, area: Rect) {
    let next = pb.next_step();
    let mut lines: Vec<Line> = Vec::new();
    for (i, (step, st)) in pb.steps.iter().enumerate() {
        let (mark, style, note) = match st {
            StepState::Waiting => ("·", t.dim, String::new()),
            StepState::Running => ("⏳", t.warn, "running…".to_string()),
            StepState::Done(n) => ("✅", t.ok, n.clone()),
            StepState::Failed(n) => ("❌", t.bad, n.clone()),
        };
        let pointer = if Some(*step) == next && !pb.busy {
            "▶"
        } else {
            " "
        };
        let mut title = Line::from(vec![
            Span::styled(format!("{pointer}{} {mark} ", i + 1), style),
            Span::styled(
                pb.title(*step).to_string(),
                if Some(*step) == next { t.bold } else { style },
            ),
        ]);
        if Some(*step) == next && !pb.busy {
            title = title.style(t.selected);
        }
        lines.push(title);
        if !note.is_empty() {
            lines.push(Line::styled(format!("     {note}"), style));
        }
    }
    lines.push(Line::raw(""));
    if let Some(r) = &pb.rollback {
        lines.push(Line::styled(
            format!("Rolling back to {}: {}", r.target, r.reason),
            t.bold,
        ));
        match &r.outcome {
            Some(o) if o.verified => lines.push(Line::styled(
                format!(
                    "✅ production serves {} again (from {}), verified {}s after confirming",
                    o.target,
                    o.source,
                    crate::pipeline::common::seconds(o.seconds_to_verified.unwrap_or(o.seconds))
                ),
                t.ok,
            )),
            Some(o) => lines.push(Line::styled(
                format!(
                    "❌ {} is deployed but verification failed; it is marked bad — R picks another tag",
                    o.target
                ),
                t.bad,
            )),
            None => {}
        }
        if let Some(e) = &pb.error {
            lines.push(Line::styled(format!("❌ {e}"), t.bad));
        }
        return finish_steps(f, pb, t, area, lines);
    }
    if let Some(step) = next {
        lines.push(Line::styled(
            format!("{}: what and why", step.title()),
            t.bold,
        ));
        lines.push(Line::raw(step.why().to_string()));
        lines.push(Line::styled(
            if pb.busy {
                "running…"
            } else {
                "Enter runs this step · a runs the rest"
            },
            t.dim,
        ));
    }
    for b in &pb.blockers {
        if !pb.ended() {
            lines.push(Line::styled(format!("⚠ will be refused: {b}"), t.bad));
        }
    }
    if let Some(e) = &pb.error {
        lines.push(Line::styled(format!("❌ stopped: {e}"), t.bad));
    }
    if let Some(o) = &pb.outcome {
        if o.released {
            lines.push(Line::styled(
                format!(
                    "✅ released {} · backup {}",
                    o.tag.clone().unwrap_or_default(),
                    o.backup.clone().unwrap_or_default()
                ),
                t.ok,
            ));
        } else {
            lines.push(Line::styled(
                "❌ live verification failed: nothing was tagged or archived",
                t.bad,
            ));
            if o.offer_rollback {
                lines.push(Line::styled(
                    "Press R to roll production back to a known-good build.",
                    t.warn,
                ));
            }
            if let Some(tag) = &o.auto_rollback {
                lines.push(Line::styled(
                    format!("rollback_on_failure = auto: rolling back to {tag}"),
                    t.warn,
                ));
            }
        }
        for n in &o.notes {
            lines.push(Line::styled(n.clone(), t.dim));
        }
    }
    finish_steps(f, pb, t, area, lines)
}

fn finish_steps(f: &mut Frame, pb: &PlaybookView, t: &Theme, area: Rect, lines: Vec<Line>) {
    let title = match &pb.rollback {
        Some(r) => format!(" Rollback · {} ", r.target),
        None => format!(" Playbook · {} ", pb.branch),
    };
    f.render_widget(
        Paragraph::new(lines)
            .wrap(Wrap { trim: false })
            .block(block(title, true, t)),
        area,
    );
}

fn checks(f: &mut Frame, pb: &PlaybookView, t: &Theme, area: Rect) {
    let rows: Vec<Row> = pb
        .checks
        .iter()
        .map(|c| {
            let style = match c.state {
                CheckState::Ok => t.ok,
                CheckState::Warn => t.warn,
                CheckState::Fail => t.bad,
                _ => t.dim,
            };
            let note = c
                .last_error
                .clone()
                .filter(|_| c.state != CheckState::Ok)
                .or_else(|| c.detail.clone())
                .unwrap_or_default();
            Row::new(vec![
                Cell::from(c.state.symbol()).style(style),
                Cell::from(c.name.clone()),
                Cell::from(c.latency_ms.map_or("".into(), |ms| format!("{ms} ms"))).style(t.dim),
                Cell::from(format!("×{}", c.attempts)).style(t.dim),
                Cell::from(note).style(style),
            ])
        })
        .collect();
    let ok = pb.checks.iter().filter(|c| c.state.passed()).count();
    f.render_widget(
        Table::new(
            rows,
            [
                Constraint::Length(3),
                Constraint::Length(22),
                Constraint::Length(8),
                Constraint::Length(4),
                Constraint::Min(10),
            ],
        )
        .header(
            Row::new(vec![
                "",
                "live check",
                "latency",
                "try",
                "last error / detail",
            ])
            .style(t.column_header),
        )
        .block(block(
            format!(" Verification {ok}/{} ", pb.checks.len()),
            false,
            t,
        )),
        area,
    );
}

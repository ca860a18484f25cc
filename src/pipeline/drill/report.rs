//! The drill's report: each step as intended or not, the check lines and
//! the Markdown written beside the sandbox.
use super::*;

/// How the drill went.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// Every step went as the scenario intends.
    pub passed: bool,
    /// From the failed live verification to the verified restore.
    pub seconds_failure_to_restore: f64,
    /// (step, as intended, outcome) in order.
    pub steps: Vec<(String, bool, String)>,
}

/// One line per check: `✅ name  detail` / `❌ name  error`.
pub fn check_lines(r: &VerifyReport) -> Vec<String> {
    let width = r
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    r.checks
        .iter()
        .map(|c| {
            let note = match c.state {
                CheckState::Ok | CheckState::Warn => c.detail.clone().unwrap_or_default(),
                _ => c
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "did not finish".into()),
            };
            let sym = if c.state == CheckState::Warn {
                "⚠️ "
            } else {
                c.state.symbol()
            };
            format!("{sym} {:<width$}  {note}", c.name)
                .trim_end()
                .to_string()
        })
        .collect()
}

pub(super) fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

pub(super) fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

pub(super) fn report_step(
    out: &mut dyn Write,
    s: Option<&(String, bool, String)>,
) -> Result<(), DrillError> {
    if let Some((_, ok, note)) = s {
        writeln!(out, "  {} {note}", if *ok { "✅" } else { "❌" })
            .and_then(|_| out.flush())
            .map_err(|e| DrillError::Step(format!("could not print: {e}")))?;
    }
    Ok(())
}

/// `DRILL_REPORT.md`.
pub fn render_report(
    sb: &Sandbox,
    r: &DrillReport,
    started: DateTime<Utc>,
    restored: Option<&Restored>,
    rollout_section: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Rollback drill report\n");
    let _ = writeln!(
        s,
        "- **Result:** {}",
        if r.passed { "PASSED ✅" } else { "FAILED ❌" }
    );
    let _ = writeln!(
        s,
        "- **Started (UTC):** {}",
        started.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let _ = writeln!(s, "- **Release manager:** {}", sb.user);
    let _ = writeln!(s, "- **Sandbox:** {}", sb.dir.display());
    let _ = writeln!(s, "- **Production:** {}", sb.url);
    let _ = writeln!(s, "- **Bad branch:** {}", sb.bad_branch);
    let _ = writeln!(s, "- **Golden build:** {}", sb.golden);
    if let Some(x) = restored {
        let _ = writeln!(s, "- **Restored:** {} from {}", x.tag, x.source);
    }
    let _ = writeln!(
        s,
        "- **Seconds from failed verification to verified restore:** {}\n",
        crate::pipeline::common::seconds(r.seconds_failure_to_restore)
    );
    let _ = writeln!(s, "| # | step | result | outcome |");
    let _ = writeln!(s, "| --- | --- | --- | --- |");
    for (i, (name, ok, note)) in r.steps.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            i + 1,
            name.replace('|', "\\|"),
            if *ok { "✅" } else { "❌" },
            note.replace('|', "\\|").replace('\n', " ")
        );
    }
    if let Some(x) = restored {
        let _ = writeln!(s, "\n## Checks after the rollback\n");
        for l in check_lines(&x.verify) {
            let _ = writeln!(s, "- {l}");
        }
    }
    if !rollout_section.is_empty() {
        let _ = writeln!(s, "\n## Rollout log entry\n");
        let _ = write!(s, "{}", rollout_section.replacen("## ", "### ", 1));
    }
    s
}

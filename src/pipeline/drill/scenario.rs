//! The headless drill: the scenario run step by step (deploy, a failing
//! verification, the restore of the golden build) through the real playbook.
use super::*;

/// A verified (or not) restore of the golden build.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub tag: String,
    pub commit: String,
    pub build_id: String,
    /// Where the files came from (`backup …` or `the tag's git tree`).
    pub source: String,
    pub verify: VerifyReport,
    /// From the start of the restore to the end of its verification.
    pub seconds: f64,
    pub rollout_log: PathBuf,
    pub release_log: Option<PathBuf>,
}

/// Rolls production back to the newest prod tag not marked bad, through
/// the same rollback functions as `guardrail rollback` and the console's `R`
/// (plan with the backup, or the tag's tree when the backup is refused).
/// Drill-only: refused unless the repository is marked as a drill.
pub fn restore_golden(
    repo: &Repo,
    cfg: &Config,
    reason: &str,
    ev: &mut (dyn FnMut(Event) + Send),
) -> Result<Restored, DrillError> {
    if !repo.is_drill() {
        return Err(DrillError::Refused(format!(
            "{} is not a drill sandbox; use the rollback command",
            repo.root.display()
        )));
    }
    let plan = crate::pipeline::rollback::plan(repo, cfg, None, true)
        .map_err(|e| DrillError::Step(e.to_string()))?;
    let o = crate::pipeline::rollback::rollback(repo, cfg, &plan, reason, Answers::Closed, ev)
        .map_err(|e| DrillError::Step(e.to_string()))?;
    Ok(Restored {
        tag: o.target,
        commit: o.commit,
        build_id: o.build_id,
        source: o.source,
        verify: o.verify,
        seconds: o.seconds_to_verified.unwrap_or(o.seconds),
        rollout_log: PathBuf::from(o.rollout_log),
        release_log: o.release_log.map(PathBuf::from),
    })
}

/// The playbook's events as printable lines, and when verification failed.
#[derive(Default)]
pub(super) struct Seen {
    lines: Vec<String>,
    verify_ended: Option<Instant>,
}

pub(super) fn playbook_sink(seen: Arc<Mutex<Seen>>) -> impl FnMut(Event) + Send {
    move |e| {
        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Step(step, StepState::Done(note)) => {
                if step == Step::Verify {
                    s.verify_ended = Some(Instant::now());
                }
                s.lines.push(format!("▸ {}: {note}", step.title()));
            }
            Event::Step(step, StepState::Failed(note)) => {
                if step == Step::Verify {
                    s.verify_ended = Some(Instant::now());
                }
                s.lines.push(format!("▸ {}: stopped: {note}", step.title()));
            }
            Event::Prompt(p) => s.lines.push(format!("  gate asks: {}", p.trim_end())),
            _ => {}
        }
    }
}

pub(super) fn drain(seen: &Arc<Mutex<Seen>>, out: &mut dyn Write) -> io::Result<()> {
    let lines = std::mem::take(&mut seen.lock().unwrap_or_else(|p| p.into_inner()).lines);
    for l in lines {
        writeln!(out, "    {l}")?;
    }
    out.flush()
}

/// [`run_headless_with`] answering `yes` to the gate's five questions.
pub fn run_headless(sb: &Sandbox, out: &mut dyn Write) -> Result<DrillReport, DrillError> {
    run_headless_with(
        sb,
        Answers::Scripted(GATE_ANSWERS.iter().map(|s| s.to_string()).collect()),
        out,
    )
}

/// One line of the drill's report: (step, as intended, outcome).
type StepLine = (String, bool, String);

fn printing(e: io::Error) -> DrillError {
    DrillError::Step(format!("could not print: {e}"))
}

/// The scenario without a terminal: each step printed with its outcome;
/// `DRILL_REPORT.md` written into the sandbox. The steps are the numbered
/// phases below, each printing its part and adding its line to `steps`.
pub fn run_headless_with(
    sb: &Sandbox,
    gate_answers: Answers,
    out: &mut dyn Write,
) -> Result<DrillReport, DrillError> {
    let repo = sb.repo()?;
    let cfg = repo.config().map_err(step_err)?;
    sb.check_contained(&repo, &cfg)?;
    let started = Utc::now();
    let mut steps: Vec<StepLine> = Vec::new();

    writeln!(
        out,
        "Rollback drill\n  sandbox:    {}\n  production: {} (serving {})\n  you:        {} (release manager)\n",
        sb.dir.display(),
        sb.url,
        sb.golden,
        sb.user
    )
    .map_err(printing)?;

    review_ready_package(sb, &repo, &cfg, out, &mut steps)?;
    let (failed_verify, failed_at) =
        playbook_on_bad_branch(sb, &repo, &cfg, gate_answers, out, &mut steps)?;
    what_failed(failed_verify.as_ref(), out, &mut steps)?;
    let (seconds, rollout_entry) = roll_back(sb, &repo, &cfg, failed_at, out, &mut steps)?;
    verify_again(&repo, &cfg, out, &mut steps)?;
    let last_section = the_records(sb, &repo, &cfg, out, &mut steps)?;
    finish(
        sb,
        steps,
        seconds,
        started,
        rollout_entry.as_ref(),
        &last_section,
        out,
    )
}

/// Step 1: review a ready package (and say how every branch stands).
fn review_ready_package(
    sb: &Sandbox,
    repo: &Repo,
    cfg: &Config,
    out: &mut dyn Write,
    steps: &mut Vec<StepLine>,
) -> Result<(), DrillError> {
    let n = STEPS.len();
    // 1. Review a ready package.
    writeln!(out, "[1/{n}] {}: {}", STEPS[0], sb.ready_branch).map_err(printing)?;
    let ctx = Context::load(repo, cfg).map_err(step_err)?;
    let mut states = Vec::new();
    for b in [
        &sb.ready_branch,
        &sb.incomplete_branch,
        &sb.stale_branch,
        &sb.bad_branch,
    ] {
        let info = repo.find_branch(cfg, b).map_err(step_err)?;
        let a = package::assess(repo, cfg, &info, &ctx, entry_hash_ok).map_err(step_err)?;
        states.push(format!("{b} {}", a.state.as_str()));
        if *b == sb.ready_branch {
            write!(out, "{}", indent(&package::render_check_text(&a), "    ")).map_err(printing)?;
            let ok = a.ready();
            let note = if ok {
                format!("{b} is ready: every checklist item ✅")
            } else {
                format!("{b} is {}, not ready", a.state.as_str())
            };
            steps.push((STEPS[0].into(), ok, note));
        }
    }
    writeln!(out, "    branches: {}", states.join(", ")).map_err(printing)?;
    report_step(out, steps.last())?;
    Ok(())
}

/// Step 2: the playbook on the bad branch; the failed verification it ends
/// with and when it ended.
fn playbook_on_bad_branch(
    sb: &Sandbox,
    repo: &Repo,
    cfg: &Config,
    gate_answers: Answers,
    out: &mut dyn Write,
    steps: &mut Vec<StepLine>,
) -> Result<(Option<VerifyReport>, Instant), DrillError> {
    let n = STEPS.len();
    // 2. The playbook on the bad branch.
    writeln!(
        out,
        "\n[2/{n}] {}: {} (gate answers: {})",
        STEPS[1],
        sb.bad_branch,
        match &gate_answers {
            Answers::Scripted(v) => v.join(", "),
            _ => "none".into(),
        }
    )
    .map_err(printing)?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut sink = playbook_sink(seen.clone());
    let mut failed_verify: Option<VerifyReport> = None;
    match Playbook::new(repo, cfg, &sb.bad_branch, gate_answers) {
        Ok(mut pb) => {
            let mut err = None;
            while pb.next_step().is_some() {
                let r = pb.run_next(repo, &mut sink);
                drain(&seen, out).map_err(printing)?;
                if let Err(e) = r {
                    err = Some(e);
                    break;
                }
            }
            let outcome = pb.outcome.clone();
            let (ok, note) = match (err, outcome) {
                (Some(e), _) => (false, format!("the playbook stopped: {e}")),
                (None, Some(o)) if o.released => (
                    false,
                    format!(
                        "{} was released as {}: live verification did not catch the missing auth modal",
                        o.branch,
                        o.tag.unwrap_or_default()
                    ),
                ),
                (None, Some(o)) => {
                    let failed = o.verify.as_ref().is_some_and(|v| !v.ok);
                    failed_verify = o.verify.clone();
                    if failed {
                        (
                            true,
                            format!(
                                "nothing released: live verification failed after deploying BUILD_ID {}{}",
                                o.build_id.unwrap_or_default(),
                                if o.offer_rollback {
                                    "; the playbook offers the rollback"
                                } else {
                                    ""
                                }
                            ),
                        )
                    } else {
                        (false, "the playbook ended without verifying".into())
                    }
                }
                (None, None) => (false, "the playbook ended without an outcome".into()),
            };
            steps.push((STEPS[1].into(), ok, note));
        }
        Err(e) => steps.push((STEPS[1].into(), false, e.to_string())),
    }
    report_step(out, steps.last())?;
    let failed_at = seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .verify_ended
        .unwrap_or_else(Instant::now);
    Ok((failed_verify, failed_at))
}

/// Step 3: what failed, check by check.
fn what_failed(
    failed_verify: Option<&VerifyReport>,
    out: &mut dyn Write,
    steps: &mut Vec<StepLine>,
) -> Result<(), DrillError> {
    let n = STEPS.len();
    // 3. What failed.
    writeln!(out, "\n[3/{n}] {}", STEPS[2]).map_err(printing)?;
    match failed_verify {
        Some(v) => {
            for l in check_lines(v) {
                writeln!(out, "    {l}").map_err(printing)?;
            }
            let failing: Vec<&str> = v.failures().map(|c| c.name.as_str()).collect();
            let ok = !failing.is_empty();
            let note = if ok {
                format!(
                    "production fails {} of {} checks: {}",
                    failing.len(),
                    v.checks.len(),
                    failing.join(", ")
                )
            } else {
                "every check passed: the bad build was not caught".to_string()
            };
            steps.push((STEPS[2].into(), ok, note));
        }
        None => steps.push((STEPS[2].into(), false, "no live verification ran".into())),
    }
    report_step(out, steps.last())?;
    Ok(())
}

/// Step 4: roll back to the golden build; the seconds from the failed
/// verification to the verified restore, and the restore.
fn roll_back(
    sb: &Sandbox,
    repo: &Repo,
    cfg: &Config,
    failed_at: Instant,
    out: &mut dyn Write,
    steps: &mut Vec<StepLine>,
) -> Result<(f64, Option<Restored>), DrillError> {
    let n = STEPS.len();
    // 4. Roll back.
    writeln!(out, "\n[4/{n}] {} to the golden build", STEPS[3]).map_err(printing)?;
    let rb_seen = Arc::new(Mutex::new(Seen::default()));
    let rb_lines = rb_seen.clone();
    let mut rb_sink = move |e: Event| {
        if let Event::Output(s) = e {
            let mut g = rb_lines.lock().unwrap_or_else(|p| p.into_inner());
            g.lines.extend(
                s.lines()
                    .filter(|l| l.starts_with("guardrail:"))
                    .map(str::to_string),
            );
        }
    };
    let reason = format!(
        "drill: live verification failed after deploying {}",
        sb.bad_branch
    );
    let mut seconds = f64::NAN;
    let mut rollout_entry = None;
    match restore_golden(repo, cfg, &reason, &mut rb_sink) {
        Ok(r) => {
            let restored_at = Instant::now();
            seconds = restored_at.duration_since(failed_at).as_secs_f64();
            drain(&rb_seen, out).map_err(printing)?;
            for l in check_lines(&r.verify) {
                writeln!(out, "    {l}").map_err(printing)?;
            }
            let ok = r.verify.ok && r.tag == sb.golden;
            steps.push((
                STEPS[3].into(),
                ok,
                format!(
                    "rolled back to {} from {} in {}s ({})",
                    r.tag,
                    r.source,
                    crate::pipeline::common::seconds(r.seconds),
                    if r.verify.ok {
                        "verified".to_string()
                    } else {
                        format!("{} checks failed", r.verify.failures().count())
                    }
                ),
            ));
            rollout_entry = Some(r);
        }
        Err(e) => {
            drain(&rb_seen, out).map_err(printing)?;
            steps.push((STEPS[3].into(), false, e.to_string()));
        }
    }
    report_step(out, steps.last())?;
    Ok((seconds, rollout_entry))
}

/// Step 5: verify again, as `guardrail verify` does.
fn verify_again(
    repo: &Repo,
    cfg: &Config,
    out: &mut dyn Write,
    steps: &mut Vec<StepLine>,
) -> Result<(), DrillError> {
    let n = STEPS.len();
    // 5. Verify again, as `guardrail verify` does.
    writeln!(out, "\n[5/{n}] {}", STEPS[4]).map_err(printing)?;
    match verify::verify_and_record(
        repo,
        cfg,
        None,
        Expect::default(),
        Answers::Closed,
        |_| {},
        |report, build_id| alerts::live_verify(repo, cfg, report, build_id),
    ) {
        Ok(v) => {
            for l in check_lines(&v) {
                writeln!(out, "    {l}").map_err(printing)?;
            }
            steps.push((
                STEPS[4].into(),
                v.ok,
                if v.ok {
                    format!("all {} checks ✅ on {}", v.checks.len(), v.url)
                } else {
                    format!("{} checks failed", v.failures().count())
                },
            ));
        }
        Err(e) => steps.push((STEPS[4].into(), false, e.to_string())),
    }
    report_step(out, steps.last())?;
    Ok(())
}

/// Step 6: the records (rollout log, release logs, audit chain); the
/// rollout log's last section.
fn the_records(
    sb: &Sandbox,
    repo: &Repo,
    cfg: &Config,
    out: &mut dyn Write,
    steps: &mut Vec<StepLine>,
) -> Result<String, DrillError> {
    let n = STEPS.len();
    // 6. The records.
    writeln!(out, "\n[6/{n}] {}", STEPS[5]).map_err(printing)?;
    let rollout_path = config::resolve(&repo.root, &cfg.project.rollout_log);
    let rollout = std::fs::read_to_string(&rollout_path).unwrap_or_default();
    let last_section = rollout
        .rfind("\n## ")
        .map(|i| rollout[i + 1..].to_string())
        .unwrap_or_default();
    writeln!(out, "    {}:", rel(&repo.root, &rollout_path)).map_err(printing)?;
    write!(out, "{}", indent(&last_section, "      ")).map_err(printing)?;
    let log_dir = config::resolve(&repo.root, &cfg.project.release_log_dir);
    let mut logs: Vec<String> = std::fs::read_dir(&log_dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".md") && !rollout_path.ends_with(n))
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    writeln!(
        out,
        "    {}/: {}",
        rel(&repo.root, &log_dir),
        logs.join(", ")
    )
    .map_err(printing)?;
    let tags = repo.prod_tags(cfg).map_err(step_err)?;
    let checkpoint = highest_checkpoint(
        tags.iter()
            .rev()
            .map(|t| (t.name.as_str(), t.message.as_deref())),
    )
    .map(|(_, c)| c);
    let chain = audit_log(repo)
        .verify(checkpoint.as_ref())
        .map_err(step_err)?;
    writeln!(out, "    audit chain: {chain}").map_err(printing)?;
    for r in audit_log(repo).tail(5).map_err(step_err)? {
        writeln!(
            out,
            "      #{:<3} {:<9} {:<8} {} by {}",
            r.seq, r.action, r.result, r.target, r.actor
        )
        .map_err(printing)?;
    }
    let logged = !last_section.is_empty() && last_section.contains(&sb.golden);
    let ok = chain.is_intact() && logged;
    steps.push((
        STEPS[5].into(),
        ok,
        format!(
            "rollout log {}; audit chain {}",
            if logged {
                "holds the rollback"
            } else {
                "has no rollback entry"
            },
            if chain.is_intact() {
                "intact"
            } else {
                "BROKEN"
            }
        ),
    ));
    report_step(out, steps.last())?;
    Ok(last_section)
}

/// The verdict: the report written beside the sandbox and its last lines
/// printed.
fn finish(
    sb: &Sandbox,
    steps: Vec<StepLine>,
    seconds: f64,
    started: DateTime<Utc>,
    rollout_entry: Option<&Restored>,
    last_section: &str,
    out: &mut dyn Write,
) -> Result<DrillReport, DrillError> {
    let n = STEPS.len();
    let passed = steps.len() == n && steps.iter().all(|s| s.1);
    let report = DrillReport {
        passed,
        seconds_failure_to_restore: if seconds.is_finite() { seconds } else { 0.0 },
        steps,
    };
    let doc = render_report(sb, &report, started, rollout_entry, last_section);
    std::fs::write(sb.report_path(), doc).map_err(|e| {
        DrillError::Step(format!(
            "{} could not be written: {e}",
            sb.report_path().display()
        ))
    })?;
    if passed {
        writeln!(
            out,
            "\nDrill PASSED: {}s from the failed verification to the verified restore.",
            crate::pipeline::common::seconds(report.seconds_failure_to_restore)
        )
        .map_err(printing)?;
    } else {
        let failed: Vec<&str> = report
            .steps
            .iter()
            .filter(|s| !s.1)
            .map(|s| s.0.as_str())
            .collect();
        writeln!(out, "\nDrill FAILED at: {}.", failed.join(", ")).map_err(printing)?;
    }
    writeln!(out, "Report: {}", sb.report_path().display()).map_err(printing)?;
    Ok(report)
}

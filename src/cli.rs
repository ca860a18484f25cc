//! Headless commands: each calls pipeline functions and prints text or one
//! JSON document. Returns the exit code; errors bubble up to `main`.
use serde_json::json;

use guardrail::pipeline::alerts;
use guardrail::pipeline::audit::{highest_checkpoint, NewEntry};
use guardrail::pipeline::config::Config;
use guardrail::pipeline::drift;
use guardrail::pipeline::lock::{self, LockError};
use guardrail::pipeline::record::{audit_log, record};
use guardrail::pipeline::repo::Repo;
use guardrail::pipeline::team;
use guardrail::pipeline::Refused;

use guardrail::pipeline::gate::{self, GateError, Verdict};
use guardrail::pipeline::handoff::make as handoff_make;
use guardrail::pipeline::playbook::{Event, Playbook, PlaybookError, Step, StepState};
use guardrail::pipeline::rollback::{self as rb, RollbackError, RollbackOutcome};
use guardrail::pipeline::runner::{Answers, RunEvent};
use guardrail::pipeline::verify::{self, CheckState, CheckStatus, Expect, VerifyReport};
use guardrail::pipeline::StepFailed;

use crate::exit;

/// `guardrail gate <branch>`: output streams to stdout as it comes (text
/// mode); the verdict is the exit code.
pub fn gate(
    repo: &Repo,
    cfg: &Config,
    branch: &str,
    answers: Answers,
    as_json: bool,
) -> anyhow::Result<u8> {
    let b = repo.find_branch_head(cfg, branch)?;
    let on_event = output_streamer(!as_json);
    let report = match gate::run(repo, cfg, &b, answers, |_, _| {}, on_event) {
        Ok(r) => r,
        Err(e @ (GateError::Script(_) | GateError::Checkout(_) | GateError::Prepare(_))) => {
            return Err(StepFailed(e.to_string()).into())
        }
        Err(e) => return Err(e.into()),
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "\nguardrail: gate {} on {} at {} in {:.1}s (audit #{}); log: {}",
            report.verdict.as_str(),
            report.branch,
            &report.commit[..report.commit.len().min(8)],
            report.duration_ms as f64 / 1000.0,
            report.audit_seq,
            report.log
        );
        if let Some(l) = &report.failure_line {
            println!("guardrail: the gate's failure line: {l}");
        }
        for e in &report.effects {
            println!("guardrail: {e}");
        }
    }
    Ok(match report.verdict {
        Verdict::Pass => 0,
        Verdict::Fail => exit::NOT_OK,
        Verdict::TimedOut | Verdict::Cancelled => {
            return Err(StepFailed(format!(
                "the gate on {} was ended ({}); see {}",
                report.branch,
                if report.notes.is_empty() {
                    report.verdict.as_str().to_lowercase()
                } else {
                    report
                        .notes
                        .iter()
                        .map(|n| n.trim_start_matches("guardrail: "))
                        .collect::<Vec<_>>()
                        .join("; ")
                },
                report.log
            ))
            .into())
        }
    })
}

/// Streams a script's output to stdout (text mode), as it comes.
fn output_streamer(stream: bool) -> impl FnMut(RunEvent) + Send + 'static {
    use std::io::{IsTerminal, Write};
    let colour = std::io::stdout().is_terminal()
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    move |ev: RunEvent| {
        if let (true, RunEvent::Output(chunk)) = (stream, ev) {
            let mut out = std::io::stdout().lock();
            let text = if colour {
                chunk
            } else {
                guardrail::pipeline::runner::strip_ansi(&chunk)
            };
            let _ = out.write_all(text.as_bytes());
            let _ = out.flush();
        }
    }
}

/// `guardrail handoff [--branch B] [--tag T] [--evidence DIR] [--commit]`:
/// the gate's output streams as it comes, then what was written and the
/// next step. 0 gate PASS, 1 gate FAIL (the package is written all the same).
pub fn handoff(
    repo: &Repo,
    cfg: &Config,
    opts: handoff_make::MakeOptions,
    as_json: bool,
) -> anyhow::Result<u8> {
    let committing = opts.commit;
    let made = match handoff_make::make(repo, cfg, opts, output_streamer(!as_json)) {
        Ok(m) => m,
        Err(e) if e.is_bad_input() => return Err(anyhow::anyhow!(e.to_string())),
        Err(e @ handoff_make::MakeError::Busy(_)) => return Err(Refused(e.to_string()).into()),
        Err(handoff_make::MakeError::Gate(e @ GateError::Repo(_))) => return Err(e.into()),
        Err(e) => return Err(StepFailed(e.to_string()).into()),
    };
    if as_json {
        println!("{}", serde_json::to_string_pretty(&made)?);
    } else {
        print!("{}", handoff_summary(&made, committing));
    }
    Ok(match made.verdict {
        Verdict::Pass => 0,
        _ => exit::NOT_OK,
    })
}

/// The end of `guardrail handoff`, in text.
fn handoff_summary(m: &handoff_make::MadePackage, committing: bool) -> String {
    let short = |s: &str| s.get(..7).unwrap_or(s).to_string();
    let mut s = String::new();
    s.push_str(&format!(
        "\nguardrail: gate {} on {} at {} (audit #{}); log: {}\n",
        m.verdict.as_str(),
        m.branch,
        short(&m.commit),
        m.gate.audit_seq,
        m.gate.log
    ));
    let wher = match m.location {
        handoff_make::Location::WorkingTree => format!("the working tree {}", m.worktree),
        handoff_make::Location::Worktree => format!(
            "guardrail's worktree {} ({} is not checked out; your working tree is untouched)",
            m.worktree, m.branch
        ),
    };
    s.push_str(&format!("guardrail: wrote {}/ in {wher}:\n", m.package_dir));
    let evidence = m
        .files
        .iter()
        .filter(|f| f.starts_with("evidence/"))
        .count();
    for f in m.files.iter().filter(|f| !f.starts_with("evidence/")) {
        s.push_str(&format!("  {f}\n"));
    }
    s.push_str(&format!(
        "  evidence/ ({evidence} file{})\n",
        if evidence == 1 { "" } else { "s" }
    ));
    s.push_str(&format!(
        "guardrail: proposed fallback {} → {}\n",
        m.proposed_tag, m.proposed_bundle
    ));
    match (&m.replaced, m.refreshed) {
        (Some(old), _) => s.push_str(&format!(
            "guardrail: replaced the package of {} (the gate now ran on {})\n",
            if old.len() >= 7 && old.bytes().all(|b| b.is_ascii_hexdigit()) {
                format!("commit {}", short(old))
            } else {
                old.clone()
            },
            short(&m.commit)
        )),
        (None, true) => s.push_str(&format!(
            "guardrail: refreshed the package of the same commit {}\n",
            short(&m.commit)
        )),
        _ => {}
    }
    match m.snapshot_within {
        Some(true) => s.push_str("guardrail: snapshot: baseline within tolerance\n"),
        Some(false) => s.push_str("guardrail: snapshot: baseline OUTSIDE tolerance\n"),
        None => {}
    }
    for n in &m.notes {
        s.push_str(&format!("guardrail: note: {n}\n"));
    }
    match &m.committed {
        Some(c) => {
            s.push_str(&format!(
                "guardrail: committed {} on {} (not pushed)\n",
                short(c),
                m.branch
            ));
            s.push_str(&format!("next: guardrail check {}\n", m.branch));
        }
        None if !committing => {
            s.push_str(&format!(
                "guardrail: not committed: commit {}/ on {} (or run again with --commit), then: guardrail check {}\n",
                m.package_dir, m.branch, m.branch
            ));
        }
        None => {}
    }
    if m.verdict != Verdict::Pass {
        s.push_str(&format!(
            "guardrail: the gate FAILED: the package documents the failure and {} cannot be deployed\n",
            m.branch
        ));
    }
    s
}

/// `guardrail audit verify`: checks the chain against the release
/// checkpoint with the highest seq among all prod tags' messages.
pub fn audit_verify(repo: &Repo, cfg: &Config, as_json: bool) -> anyhow::Result<u8> {
    let tags = repo.prod_tags(cfg)?;
    let checkpoint = highest_checkpoint(
        tags.iter()
            .rev()
            .map(|t| (t.name.as_str(), t.message.as_deref())),
    );
    let report = audit_log(repo).verify(checkpoint.as_ref().map(|c| &c.1))?;
    if team::Remote::of(repo, cfg).is_some() {
        return team_audit_verify(repo, cfg, &report, checkpoint, as_json);
    }
    if as_json {
        let doc = json!({
            "intact": report.is_intact(),
            "lines": report.lines,
            "log_id": report.log_id,
            "head": report.head.as_ref().map(|h| json!({"seq": h.seq, "hash": h.hash})),
            "checkpoint": checkpoint.as_ref().map(|(tag, c)| json!({"tag": tag, "seq": c.seq, "hash": c.hash})),
            "problems": report.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "verdict": report.to_string(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{report}");
        if let Some((tag, c)) = &checkpoint {
            println!("checkpoint: seq {} from tag {tag}", c.seq);
        }
        for p in report.problems.iter().skip(1) {
            println!("also: {p}");
        }
    }
    Ok(if report.is_intact() { 0 } else { exit::NOT_OK })
}

/// `guardrail audit show [-n N]`.
pub fn audit_show(repo: &Repo, n: usize, as_json: bool) -> anyhow::Result<u8> {
    let records = audit_log(repo).tail(n)?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&records)?);
    } else if records.is_empty() {
        println!("the audit log is empty");
    } else {
        for r in &records {
            let details = match &r.details {
                serde_json::Value::Object(m) if m.is_empty() => String::new(),
                d => format!("  {d}"),
            };
            println!(
                "#{:<5} {}  {:<10} {:<10} {:<8} {}{}",
                r.seq, r.time, r.actor, r.action, r.result, r.target, details
            );
        }
    }
    Ok(0)
}

pub fn lock_status(repo: &Repo, as_json: bool) -> anyhow::Result<u8> {
    let st = team::lock_status(&repo.state.path);
    if as_json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({
                "free": st.is_free(),
                "held": st.held,
                "frozen": st.frozen,
            }))?
        );
    } else {
        println!("deploy lock: {st}");
    }
    Ok(0)
}

/// `guardrail lock acquire --reason R`: the manual freeze.
pub fn lock_acquire(repo: &Repo, cfg: &Config, reason: &str, as_json: bool) -> anyhow::Result<u8> {
    let user = repo.user(cfg);
    repo.state.ensure()?;
    if let Some(remote) = team::Remote::of(repo, cfg) {
        return team_freeze(repo, cfg, &remote, &user.name, reason, as_json);
    }
    match lock::freeze(&repo.state.path, &user.name, reason) {
        Ok(info) => {
            record(
                repo,
                cfg,
                NewEntry::new(&user.name, "freeze", "deploys", "OK")
                    .with_details(json!({ "reason": reason })),
            )?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&info)?);
            } else {
                println!("deploys frozen by {info}");
            }
            Ok(0)
        }
        Err(e @ LockError::Frozen(_)) => {
            record(
                repo,
                cfg,
                NewEntry::new(&user.name, "freeze", "deploys", "REFUSED")
                    .with_details(json!({ "why": e.to_string() })),
            )?;
            alerts::refused(repo, cfg, "freeze", "deploys", &e.to_string());
            Err(Refused(e.to_string()).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// `guardrail lock release [--force]`.
pub fn lock_release(repo: &Repo, cfg: &Config, force: bool, as_json: bool) -> anyhow::Result<u8> {
    let user = repo.user(cfg);
    if force && !user.release_manager {
        let why = format!(
            "{} is not a release manager, so may not force the freeze open",
            user.name
        );
        record(
            repo,
            cfg,
            NewEntry::new(&user.name, "unfreeze", "deploys", "REFUSED")
                .with_details(json!({ "why": why })),
        )?;
        alerts::refused(repo, cfg, "unfreeze", "deploys", &why);
        return Err(Refused(why).into());
    }
    if let Some(remote) = team::Remote::of(repo, cfg) {
        return team_unfreeze(repo, cfg, &remote, &user.name, force, as_json);
    }
    match lock::unfreeze(&repo.state.path, &user.name, force) {
        Ok(info) => {
            record(
                repo,
                cfg,
                NewEntry::new(&user.name, "unfreeze", "deploys", "OK")
                    .with_details(json!({ "owner": info.owner, "forced": force })),
            )?;
            if as_json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&json!({"released": info}))?
                );
            } else {
                println!("freeze lifted (was {info})");
            }
            Ok(0)
        }
        Err(e @ (LockError::NotFreezeOwner { .. } | LockError::NotFrozen)) => {
            record(
                repo,
                cfg,
                NewEntry::new(&user.name, "unfreeze", "deploys", "REFUSED")
                    .with_details(json!({ "why": e.to_string() })),
            )?;
            alerts::refused(repo, cfg, "unfreeze", "deploys", &e.to_string());
            Err(Refused(e.to_string()).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// `guardrail verify [--url U]`: one line per check; 0 all ✅ (⚠️ passes),
/// 1 any ❌.
pub fn verify(
    repo: &Repo,
    cfg: &Config,
    url: Option<&str>,
    answers: Answers,
    as_json: bool,
) -> anyhow::Result<u8> {
    if let (Some(u), false) = (url, cfg.live.allow_private) {
        // The same rule as for [live] url, before any request.
        if let Err(why) = guardrail::pipeline::config::check_url(u) {
            anyhow::bail!("--url {why}");
        }
    }
    let target = url.unwrap_or(&cfg.live.url).trim();
    if !as_json && !target.is_empty() {
        let opts = verify::VerifyOptions::from_config(&cfg.live);
        println!(
            "verifying {target} ({} checks, deadline {}, {} per request)",
            cfg.live.check.len(),
            guardrail::pipeline::config::Dur(opts.deadline),
            guardrail::pipeline::config::Dur(opts.request_timeout),
        );
    }
    let report = verify::verify_and_record(
        repo,
        cfg,
        url,
        Expect::default(),
        answers,
        |_| {},
        |report, build_id| alerts::live_verify(repo, cfg, report, build_id),
    )?;
    if as_json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        print!("{}", render_verify_text(&report));
    }
    Ok(if report.ok { 0 } else { exit::NOT_OK })
}

/// `✅ name  123 ms  (2 attempts)`, `❌ name  2012 ms  (5 attempts)  error`,
/// then the script line and a summary.
pub fn render_verify_text(r: &VerifyReport) -> String {
    let width = r
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0)
        .max(verify::SCRIPT_CHECK.len());
    let mut out = String::new();
    for c in &r.checks {
        out.push_str(check_line(c, width).trim_start_matches("  "));
    }
    if let Some(s) = r.script.as_ref().filter(|s| s.skipped) {
        out.push_str(&format!(
            "–  {:<width$}  skipped: {} is not in the repository\n",
            verify::SCRIPT_CHECK,
            s.script
        ));
    }
    let failed = r.failures().count();
    let warned = r
        .checks
        .iter()
        .filter(|c| c.state == CheckState::Warn)
        .count();
    let audit = r
        .audit_seq
        .map(|s| format!(" (audit #{s})"))
        .unwrap_or_default();
    let secs = r.duration_ms as f64 / 1000.0;
    if r.ok {
        let warn = if warned > 0 {
            format!(", {warned} with a warning")
        } else {
            String::new()
        };
        out.push_str(&format!(
            "\nguardrail: {} verified: all {} checks passed{warn} in {secs:.1}s{audit}\n",
            r.url,
            r.checks.len()
        ));
    } else {
        out.push_str(&format!(
            "\nguardrail: {} FAILED verification: {failed} of {} checks failed in {secs:.1}s{audit}\n",
            r.url,
            r.checks.len()
        ));
    }
    out
}

/// `guardrail jobs`.
pub fn jobs(repo: &Repo, cfg: &Config, as_json: bool) -> anyhow::Result<u8> {
    use guardrail::pipeline::jobs;
    let (list, notes) = jobs::clean_up_dead_jobs(repo, cfg);
    if as_json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(0);
    }
    for n in notes {
        eprintln!("guardrail: {n}");
    }
    if list.is_empty() {
        println!("no jobs yet");
    }
    for j in list {
        let state = match j.state {
            jobs::JobState::Running => "running".to_string(),
            _ => j.result.clone().unwrap_or_default(),
        };
        println!(
            "{}  {:<8} {:<28} {:<10} {:<10} {}",
            j.started.format("%Y-%m-%d %H:%M:%S"),
            j.kind,
            j.target,
            j.actor,
            state,
            j.id
        );
    }
    Ok(0)
}

/// `guardrail jobs attach <id>`: the output so far, then new output as it
/// comes, until the job ends.
pub fn jobs_attach(repo: &Repo, id: &str) -> anyhow::Result<u8> {
    use guardrail::pipeline::jobs;
    use std::io::{Read, Seek, SeekFrom, Write};
    let Some((_, log)) = jobs::find(&repo.state.path, id) else {
        anyhow::bail!("there is no job `{id}` (guardrail jobs lists them)");
    };
    let mut pos = 0u64;
    let mut out = std::io::stdout();
    // Lines typed (or piped) here answer the job's prompts.
    let dir = log
        .parent()
        .expect("a job log lives in its job directory")
        .to_path_buf();
    let answer_dir = dir.clone();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if let Err(e) = guardrail::pipeline::attach::send_answer(&answer_dir, &line) {
                eprintln!("guardrail: {e}");
            }
        }
    });
    let mut shown_prompt: Option<String> = None;
    loop {
        let Some((rec, _)) = jobs::find(&repo.state.path, id) else {
            anyhow::bail!("job `{id}` is gone: its directory was removed while following it");
        };
        if let Ok(mut f) = std::fs::File::open(&log) {
            f.seek(SeekFrom::Start(pos))?;
            let mut buf = Vec::new();
            f.read_to_end(&mut buf)?;
            pos += buf.len() as u64;
            out.write_all(&buf)?;
            out.flush()?;
        }
        let prompt = guardrail::pipeline::attach::read_prompt(&dir);
        if prompt.is_some() && prompt != shown_prompt {
            print!("{}", prompt.clone().unwrap_or_default());
            out.flush()?;
        }
        shown_prompt = prompt;
        let running = rec.state == jobs::JobState::Running && jobs::guardrail_alive(rec.pid);
        if !running {
            println!(
                "guardrail: job {id} ended: {}",
                rec.summary
                    .unwrap_or_else(|| rec.result.unwrap_or_else(|| "no result".into()))
            );
            return Ok(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// `guardrail drill --headless [--dir D]`: builds the sandbox, runs the
/// scenario, prints each step (or, with `--json`, the report); 0 when the
/// drill passed, 1 when not.
pub fn drill_headless(
    dir: Option<&std::path::Path>,
    answers: Answers,
    as_json: bool,
) -> anyhow::Result<u8> {
    use guardrail::pipeline::drill;
    let user = guardrail::pipeline::repo::login_name();
    let sb = drill::build(dir, &user)?;
    let answers = match answers {
        Answers::Closed => {
            Answers::Scripted(drill::GATE_ANSWERS.iter().map(|s| s.to_string()).collect())
        }
        a => a,
    };
    let report = if as_json {
        drill::run_headless_with(&sb, answers, &mut std::io::sink())?
    } else {
        let stdout = std::io::stdout();
        let mut out = stdout.lock();
        drill::run_headless_with(&sb, answers, &mut out)?
    };
    if as_json {
        let doc = json!({
            "passed": report.passed,
            "seconds_failure_to_restore": report.seconds_failure_to_restore,
            "steps": report.steps.iter().map(|(name, ok, note)| json!({
                "step": name, "ok": ok, "outcome": note,
            })).collect::<Vec<_>>(),
            "sandbox": sb.dir,
            "repository": sb.repo_dir,
            "report": sb.report_path(),
            "kept": !sb.is_temporary(),
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else if sb.is_temporary() {
        println!("The sandbox is removed now; run with --dir DIR to keep it (and its report).");
    }
    Ok(if report.passed { 0 } else { exit::NOT_OK })
}

/// `guardrail drill [--dir D]`: builds the sandbox and runs the console on
/// it, its production server alive until the console ends.
pub fn drill_console(
    dir: Option<&std::path::Path>,
    user_cfg: guardrail::pipeline::config::UserConfig,
) -> anyhow::Result<u8> {
    use guardrail::pipeline::drill;
    let user = guardrail::pipeline::repo::login_name();
    let sb = drill::build(dir, &user)?;
    println!("Rollback drill sandbox: {}", sb.dir.display());
    println!("  repository: {}", sb.repo_dir.display());
    println!("  production: {} (serving {})", sb.url, sb.golden);
    println!(
        "  review {}, deploy {} (it breaks the auth modal), then roll back.",
        sb.ready_branch, sb.bad_branch
    );
    guardrail::app::run(guardrail::app::Options {
        dir: sb.repo_dir.clone(),
        readonly: false,
        user: user_cfg,
        drill: Some(guardrail::app::coach::DrillInfo {
            ready_branch: sb.ready_branch.clone(),
            bad_branch: sb.bad_branch.clone(),
            golden: sb.golden.clone(),
            url: sb.url.clone(),
            report: sb.report_path(),
        }),
    })?;
    if sb.is_temporary() {
        println!("The drill sandbox {} is removed.", sb.dir.display());
    } else {
        println!(
            "The drill sandbox stays in {} (its web server has stopped).",
            sb.dir.display()
        );
    }
    drop(sb);
    Ok(0)
}

// ---------------------------------------------------------------------------
// deploy and rollback

/// Prints playbook events as they come (text mode): each step's state, the
/// scripts' output, each check once it has its verdict.
struct Printer {
    quiet: bool,
    colour: bool,
    title: fn(Step) -> &'static str,
    done_checks: std::collections::HashSet<String>,
}

impl Printer {
    fn new(quiet: bool, title: fn(Step) -> &'static str) -> Printer {
        use std::io::IsTerminal;
        Printer {
            quiet,
            colour: std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
            title,
            done_checks: Default::default(),
        }
    }

    fn event(&mut self, e: Event) {
        use std::io::Write;
        if self.quiet {
            return;
        }
        let mut out = std::io::stdout().lock();
        match e {
            Event::Step(step, st) => {
                let t = (self.title)(step);
                let line = match st {
                    StepState::Waiting => return,
                    StepState::Running => {
                        self.done_checks.clear();
                        format!("▶ {t}…")
                    }
                    // A step that ran and found a failure (live
                    // verification) says so with ❌ first.
                    StepState::Done(n) if n.starts_with('❌') => {
                        format!("❌ {t}: {}", n.trim_start_matches('❌').trim_start())
                    }
                    StepState::Done(n) => format!("✅ {t}: {n}"),
                    StepState::Failed(n) => format!("❌ {t}: {n}"),
                };
                let _ = writeln!(out, "{line}");
            }
            Event::Output(text) => {
                let text = if self.colour {
                    text
                } else {
                    guardrail::pipeline::runner::strip_ansi(&text)
                };
                let _ = out.write_all(text.as_bytes());
            }
            Event::Check(c) => {
                if c.state.is_final() && self.done_checks.insert(c.name.clone()) {
                    let _ = write!(out, "{}", check_line(&c, 24));
                }
            }
            Event::Prompt(_) | Event::Script(_) => {}
        }
        let _ = out.flush();
    }
}

/// `  ✅ name  123 ms  (2 attempts)  note`
fn check_line(c: &CheckStatus, width: usize) -> String {
    let latency = c
        .latency_ms
        .map(|ms| format!("{ms:>5} ms"))
        .unwrap_or_else(|| "    - ms".into());
    let attempts = if c.attempts > 1 {
        format!("  ({} attempts)", c.attempts)
    } else {
        String::new()
    };
    let note = match c.state {
        CheckState::Ok => String::new(),
        CheckState::Warn => format!("  {}", c.detail.as_deref().unwrap_or("")),
        _ => format!("  {}", c.last_error.as_deref().unwrap_or("did not finish")),
    };
    let symbol = match c.state {
        CheckState::Warn => "⚠️ ",
        s => s.symbol(),
    };
    format!("  {symbol} {:<width$}  {latency}{attempts}{note}\n", c.name)
}

/// `--yes`, or a `y` typed at a terminal; otherwise refused and recorded.
fn confirm(
    repo: &Repo,
    cfg: &Config,
    yes: bool,
    action: &str,
    target: &str,
    question: &str,
) -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    if yes {
        return Ok(());
    }
    let actor = repo.user(cfg).name;
    let refuse = |why: &str| -> anyhow::Error {
        let _ = record(
            repo,
            cfg,
            NewEntry::new(&actor, action, target, "REFUSED").with_details(json!({ "why": why })),
        );
        alerts::refused(repo, cfg, action, target, why);
        Refused(format!("refused: {why}")).into()
    };
    if !std::io::stdin().is_terminal() {
        return Err(refuse("--yes is required without a terminal"));
    }
    print!("{question} [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    match line.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(refuse("not confirmed")),
    }
}

fn rollback_error(e: RollbackError) -> anyhow::Error {
    match e {
        RollbackError::Refused(r) => r.into(),
        e @ (RollbackError::BadBackup { .. } | RollbackError::PlanChanged { .. }) => {
            Refused(e.to_string()).into()
        }
        RollbackError::Step(s) => s.into(),
        e @ (RollbackError::UnknownTag(_) | RollbackError::NoTarget(_) | RollbackError::NoUrl) => {
            anyhow::anyhow!(e.to_string())
        }
        RollbackError::Other(m) => StepFailed(m).into(),
    }
}

/// The end of a rollback, in text.
fn rollback_summary(o: &RollbackOutcome) -> String {
    let mut s = String::new();
    for n in &o.notes {
        s.push_str(&format!("guardrail: note: {n}\n"));
    }
    match o.seconds_to_verified {
        _ if !o.deploy_ok => s.push_str(&format!(
            "guardrail: the rollback to {} did not publish ({}); what production serves is unknown; {} is not marked bad\n",
            o.target, o.deployed, o.target
        )),
        Some(t) if o.verified => s.push_str(&format!(
            "guardrail: rolled back to {} ({}): all checks ✅, verified in {t:.2} s; BUILD_ID {}\n",
            o.target, o.source, o.build_id
        )),
        _ => {
            let failing: Vec<String> = o.verify.failures().map(|c| c.name.clone()).collect();
            s.push_str(&format!(
                "guardrail: rolled back to {} but live verification FAILED ({}); {} is marked bad\n",
                o.target,
                failing.join(", "),
                o.target
            ))
        }
    }
    if let Some(l) = &o.release_log {
        s.push_str(&format!(
            "guardrail: logged to {l}, {} and the audit chain{}\n",
            o.rollout_log,
            o.audit_seq.map(|n| format!(" (#{n})")).unwrap_or_default()
        ));
    }
    s
}

/// `guardrail rollback [<tag>] --yes [--reason R] [--from-tree]`.
#[allow(clippy::too_many_arguments)]
pub fn rollback(
    repo: &Repo,
    cfg: &Config,
    tag: Option<&str>,
    yes: bool,
    reason: &str,
    from_tree: bool,
    answers: Answers,
    as_json: bool,
) -> anyhow::Result<u8> {
    let plan = rb::plan(repo, cfg, tag, from_tree).map_err(rollback_error)?;
    if !as_json {
        print!("{}", plan.render_text());
    }
    if cfg.live.url.trim().is_empty() {
        return Err(rollback_error(RollbackError::NoUrl));
    }
    let verb = if plan.roll_forward { "forward" } else { "back" };
    confirm(
        repo,
        cfg,
        yes,
        "rollback",
        &plan.target.name,
        &format!("Roll production {verb} to {}?", plan.target.name),
    )?;
    let reason = if reason.trim().is_empty() {
        "none given"
    } else {
        reason
    };
    let mut plan = plan;
    let outcome = loop {
        let mut p = Printer::new(as_json, rb::step_title);
        match rb::rollback(repo, cfg, &plan, reason, answers.clone(), &mut |e| {
            p.event(e)
        }) {
            // At a terminal, a plan that changed under the lock is shown
            // and asked again; headless (--yes) it is refused (exit 3).
            Err(RollbackError::PlanChanged {
                changes,
                plan: fresh,
            }) if !yes && !as_json => {
                println!("guardrail: the plan changed before the lock was taken: {changes}");
                plan = *fresh;
                print!("{}", plan.render_text());
                let verb = if plan.roll_forward { "forward" } else { "back" };
                confirm(
                    repo,
                    cfg,
                    false,
                    "rollback",
                    &plan.target.name,
                    &format!("Roll production {verb} to {}?", plan.target.name),
                )?;
            }
            r => break r.map_err(rollback_error)?,
        }
    };
    if as_json {
        let doc = json!({ "plan": plan.to_json(), "outcome": outcome });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", rollback_summary(&outcome));
    }
    if !outcome.deploy_ok {
        eprintln!(
            "guardrail: the rollback to {} failed at deploy: {}.",
            outcome.target,
            outcome.deployed.trim_end_matches('.')
        );
        return Ok(exit::STEP_FAILED);
    }
    Ok(if outcome.verified { 0 } else { exit::NOT_OK })
}

fn playbook_error(e: PlaybookError) -> anyhow::Error {
    match e {
        PlaybookError::Refused(r) => r.into(),
        PlaybookError::Step(s) => s.into(),
        e @ PlaybookError::UnknownBranch(_) => anyhow::anyhow!(e.to_string()),
        PlaybookError::Other(m) => StepFailed(m).into(),
    }
}

/// `guardrail deploy <branch> --accept-guard-changes`: a release manager
/// acknowledges the branch's changes to its own guardrail (recorded with
/// the files' hashes) before the playbook runs; anyone else is refused.
pub fn accept_guard_changes(
    repo: &Repo,
    cfg: &Config,
    branch: &str,
    as_json: bool,
) -> anyhow::Result<()> {
    use guardrail::pipeline::handoff::guard;
    let b = repo
        .find_branch_head(cfg, branch)
        .map_err(|_| anyhow::anyhow!("unknown branch `{branch}`"))?;
    let user = repo.user(cfg);
    if !user.release_manager && !repo.is_drill() {
        let why = format!(
            "{} is not a release manager, so cannot acknowledge the guard changes of {branch}",
            user.name
        );
        let _ = record(
            repo,
            cfg,
            NewEntry::new(&user.name, guard::ACTION, branch, "REFUSED")
                .with_details(json!({ "commit": b.head, "why": why })),
        );
        return Err(Refused(why).into());
    }
    match guard::accept(repo, cfg, &b, &user.name)? {
        Some(files) if !as_json => eprintln!(
            "guardrail: {} acknowledged the guard changes of {branch}: {}",
            user.name,
            files.keys().cloned().collect::<Vec<_>>().join(", ")
        ),
        _ => {}
    }
    Ok(())
}

/// `guardrail deploy <branch> --yes`: the whole playbook; on a failed live
/// verification with `rollback_on_failure = "auto"`, the rollback at once.
pub fn deploy(
    repo: &Repo,
    cfg: &Config,
    branch: &str,
    yes: bool,
    answers: Answers,
    as_json: bool,
) -> anyhow::Result<u8> {
    use std::io::IsTerminal;
    let mut pb = Playbook::new(repo, cfg, branch, answers.clone()).map_err(playbook_error)?;
    confirm(
        repo,
        cfg,
        yes,
        "deploy",
        branch,
        &format!("Deploy {branch} to production?"),
    )?;
    let mut p = Printer::new(as_json, Step::title);
    let outcome = pb
        .run_all(repo, &mut |e| p.event(e))
        .map_err(playbook_error)?;
    let mut rollback_doc = serde_json::Value::Null;
    if outcome.released {
        if !as_json {
            for n in &outcome.notes {
                println!("guardrail: note: {n}");
            }
            println!(
                "guardrail: released {} as {} (BUILD_ID {}); backup {}; log {}",
                outcome.branch,
                outcome.tag.as_deref().unwrap_or("?"),
                outcome.build_id.as_deref().unwrap_or("?"),
                outcome.backup.as_deref().unwrap_or("?"),
                outcome.release_log.as_deref().unwrap_or("?"),
            );
        }
    } else {
        if !as_json {
            for n in &outcome.notes {
                println!("guardrail: {n}");
            }
            println!(
                "guardrail: {} was NOT released: nothing tagged, no backup kept",
                outcome.branch
            );
            if outcome.deploy_failed.is_some() {
                println!("guardrail: what production serves is unknown: check it, or roll back");
            }
        }
        let mut target = outcome.auto_rollback.clone();
        if target.is_none() && outcome.offer_rollback {
            let live = repo.state.read_live().ok().flatten();
            if let Some(t) = rb::default_target(repo, cfg, live.as_ref()) {
                if !as_json && std::io::stdin().is_terminal() {
                    if confirm(
                        repo,
                        cfg,
                        false,
                        "rollback",
                        &t.name,
                        &format!("Roll production back to {}?", t.name),
                    )
                    .is_ok()
                    {
                        target = Some(t.name);
                    }
                } else if !as_json {
                    println!(
                        "guardrail: roll production back with `guardrail rollback --yes` (default target {})",
                        t.name
                    );
                }
            }
        }
        if let Some(t) = target {
            if !as_json {
                println!("guardrail: rolling back to {t}");
            }
            let reason = match &outcome.deploy_failed {
                Some(_) => format!("the deploy of {} failed", outcome.branch),
                None => format!("live verification of {} failed", outcome.branch),
            };
            let res = rb::plan(repo, cfg, Some(&t), false).and_then(|plan| {
                if !as_json {
                    print!("{}", plan.render_text());
                }
                let mut p = Printer::new(as_json, rb::step_title);
                rb::rollback(repo, cfg, &plan, &reason, answers, &mut |e| p.event(e))
            });
            match res {
                Ok(o) => {
                    if !as_json {
                        print!("{}", rollback_summary(&o));
                    }
                    rollback_doc = serde_json::to_value(&o)?;
                }
                Err(e) => {
                    eprintln!("guardrail: the rollback to {t} did not run: {e}");
                    rollback_doc = json!({ "target": t, "error": e.to_string() });
                }
            }
        }
    }
    if as_json {
        let doc = json!({ "outcome": outcome, "rollback": rollback_doc });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    if let Some(why) = &outcome.deploy_failed {
        // A step could not run: exit 4, with the sentence on stderr.
        eprintln!("guardrail: {why}; nothing was released.");
        return Ok(exit::STEP_FAILED);
    }
    Ok(if outcome.released { 0 } else { exit::NOT_OK })
}

/// `guardrail drift [--live]`: the report; a `drift` alert when drift
/// appears or changes, `drift-cleared` when it is gone (sent in the
/// background; `main` waits for it). 0 no drift, 1 drift.
pub fn drift(repo: &Repo, cfg: &Config, live: bool, as_json: bool) -> anyhow::Result<u8> {
    let report = drift::check(repo, cfg, live)?;
    let alert = drift::notify(repo, cfg, &report);
    if as_json {
        let mut doc = serde_json::to_value(&report)?;
        doc["alert"] = json!(alert.map(|k| k.as_str()));
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", drift::render_text(&report));
        if let Some(k) = alert {
            if alerts::configured(cfg) {
                println!("guardrail: `{}` alert sent", k.as_str());
            }
        }
    }
    Ok(if report.drift { exit::NOT_OK } else { 0 })
}

/// `guardrail config`: the effective configuration, each value with its
/// source (built-in default, the working tree's `guardrail.toml`, the file
/// committed on the default or main branch, the user's file), and the values
/// of the working tree or the user's file that were ignored, and why.
pub fn config_origins(
    repo: &Repo,
    cfg: &Config,
    user: &guardrail::pipeline::config::UserConfig,
    user_file: Option<(&std::path::Path, &str)>,
    as_json: bool,
) -> anyhow::Result<u8> {
    use guardrail::pipeline::config::{self as config, Layer};
    let file = config::FILE_NAME;
    let authority = repo.committed_authority()?;
    let committed = |branch: &str| -> anyhow::Result<Option<String>> {
        let Some(oid) = repo.main_head(branch) else {
            return Ok(None);
        };
        let tree = repo.git.find_commit(oid)?.tree()?;
        let Ok(entry) = tree.get_path(std::path::Path::new(file)) else {
            return Ok(None);
        };
        let blob = repo.git.find_blob(entry.id())?;
        Ok(Some(String::from_utf8_lossy(blob.content()).into_owned()))
    };
    let working = std::fs::read_to_string(repo.root.join(file)).ok();
    let on_default = committed(&authority.default_branch)?;
    let on_main = committed(&authority.main_branch)?;
    let default_label = format!("{}:{file}", authority.default_branch);
    let main_label = format!("{}:{file}", authority.main_branch);
    let user_label = user_file.map(|(p, _)| p.display().to_string());
    let shown = config::origins(
        cfg,
        working.as_deref().map(|text| Layer { text, label: file }),
        on_default.as_deref().map(|text| Layer {
            text,
            label: &default_label,
        }),
        on_main.as_deref().map(|text| Layer {
            text,
            label: &main_label,
        }),
        user,
        user_file
            .zip(user_label.as_deref())
            .map(|((_, text), label)| Layer { text, label }),
    );
    if as_json {
        let map = |list: &[config::Origin]| -> serde_json::Map<String, serde_json::Value> {
            list.iter()
                .map(|o| {
                    (
                        o.key.clone(),
                        json!({ "value": o.value, "source": o.source }),
                    )
                })
                .collect()
        };
        let doc = json!({
            "settings": map(&shown.settings),
            "user": map(&shown.user),
            "user_file": user_label,
            "ignored": shown.ignored,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        print!("{}", config::render_origins(&shown));
    }
    Ok(0)
}

// ------------------------------------------------------------- team mode

/// `audit verify` in team mode: the local chain, the team chain on the
/// remote, and that the local file is a prefix of it (0 all intact, 1 not).
fn team_audit_verify(
    repo: &Repo,
    cfg: &Config,
    local: &guardrail::pipeline::audit::VerifyReport,
    checkpoint: Option<(String, guardrail::pipeline::audit::Checkpoint)>,
    as_json: bool,
) -> anyhow::Result<u8> {
    let remote = team::verify_remote(repo, cfg, checkpoint.as_ref().map(|c| &c.1));
    let (team_ok, team_doc, lines) = match &remote {
        Ok(Some((report, prefix, waiting))) => {
            let ok = report.is_intact() && *prefix;
            let prefix_text = if *prefix && *waiting > 0 {
                format!("the local copy is a prefix of the team chain, plus {waiting} entries recorded offline that wait for `guardrail team sync`")
            } else if *prefix {
                "the local copy is a prefix of the team chain".to_string()
            } else {
                "the local copy is NOT a prefix of the team chain".to_string()
            };
            (
                ok,
                json!({
                    "reachable": true,
                    "intact": report.is_intact(),
                    "lines": report.lines,
                    "head": report.head.as_ref().map(|h| json!({"seq": h.seq, "hash": h.hash})),
                    "problems": report.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                    "local_is_prefix": prefix,
                    "waiting": waiting,
                    "verdict": format!("team chain: {report}"),
                }),
                vec![
                    format!("team chain on {}: {report}", cfg.team.remote),
                    prefix_text,
                ],
            )
        }
        Ok(None) => (true, serde_json::Value::Null, vec![]),
        Err(e) => (
            true,
            json!({"reachable": false, "error": e.to_string()}),
            vec![format!("team chain not checked: {e}")],
        ),
    };
    if as_json {
        let doc = json!({
            "intact": local.is_intact() && team_ok,
            "lines": local.lines,
            "log_id": local.log_id,
            "head": local.head.as_ref().map(|h| json!({"seq": h.seq, "hash": h.hash})),
            "checkpoint": checkpoint.as_ref().map(|(tag, c)| json!({"tag": tag, "seq": c.seq, "hash": c.hash})),
            "problems": local.problems.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
            "verdict": local.to_string(),
            "team": team_doc,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
    } else {
        println!("{local}");
        for l in lines {
            println!("{l}");
        }
    }
    Ok(if local.is_intact() && team_ok {
        0
    } else {
        exit::NOT_OK
    })
}

/// `lock acquire` in team mode: the freeze is team-wide.
fn team_freeze(
    repo: &Repo,
    cfg: &Config,
    remote: &team::Remote,
    who: &str,
    reason: &str,
    as_json: bool,
) -> anyhow::Result<u8> {
    match team::freeze(remote, who, reason) {
        Ok(f) => {
            record(
                repo,
                cfg,
                NewEntry::new(who, "freeze", "deploys", "OK")
                    .with_details(json!({ "reason": reason, "team": true })),
            )?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&f)?);
            } else {
                println!("deploys frozen team-wide by {f}");
            }
            Ok(0)
        }
        Err(e) => {
            record(
                repo,
                cfg,
                NewEntry::new(who, "freeze", "deploys", "REFUSED")
                    .with_details(json!({ "why": e.to_string(), "team": true })),
            )?;
            alerts::refused(repo, cfg, "freeze", "deploys", &e.to_string());
            Err(Refused(e.to_string()).into())
        }
    }
}

/// `lock release` in team mode.
fn team_unfreeze(
    repo: &Repo,
    cfg: &Config,
    remote: &team::Remote,
    who: &str,
    force: bool,
    as_json: bool,
) -> anyhow::Result<u8> {
    match team::unfreeze(remote, who, force) {
        Ok(f) => {
            record(
                repo,
                cfg,
                NewEntry::new(who, "unfreeze", "deploys", "OK")
                    .with_details(json!({ "owner": format!("{}@{}", f.owner, f.host), "forced": force, "team": true })),
            )?;
            if as_json {
                println!("{}", serde_json::to_string_pretty(&json!({"released": f}))?);
            } else {
                println!("team-wide freeze lifted (was {f})");
            }
            Ok(0)
        }
        Err(e) => {
            record(
                repo,
                cfg,
                NewEntry::new(who, "unfreeze", "deploys", "REFUSED")
                    .with_details(json!({ "why": e.to_string(), "team": true })),
            )?;
            alerts::refused(repo, cfg, "unfreeze", "deploys", &e.to_string());
            Err(Refused(e.to_string()).into())
        }
    }
}

fn team_off(cfg: &Config) -> anyhow::Result<()> {
    if cfg.team.remote.trim().is_empty() {
        anyhow::bail!("team mode is off: set [team] remote in guardrail.toml to a git remote such as \"origin\"");
    }
    Ok(())
}

/// `guardrail team status`: 0, 3 when the remote cannot be reached.
pub fn team_status(repo: &Repo, cfg: &Config, as_json: bool) -> anyhow::Result<u8> {
    team_off(cfg)?;
    let st = team::status(repo, cfg).expect("team mode is on");
    if as_json {
        println!("{}", serde_json::to_string_pretty(&st)?);
    } else {
        let reach = match &st.error {
            None => "reachable".to_string(),
            Some(e) => format!("NOT reachable: {e}"),
        };
        println!("remote: {} ({reach})", st.remote);
        match st.lock.as_ref() {
            None => println!("lock: free"),
            Some(doc) => {
                match &doc.job {
                    Some(j) if st.lock_expired => {
                        println!("lock: held by {j} — lease EXPIRED, may be taken over")
                    }
                    Some(j) => println!("lock: held by {j}"),
                    None => println!("lock: no job"),
                }
                if let Some(f) = &doc.freeze {
                    println!("freeze: deploys frozen team-wide by {f}");
                }
            }
        }
        match (&st.chain_lines, &st.chain_head) {
            (Some(n), Some(h)) => println!(
                "audit chain: {n} lines, head seq {} ({})",
                h["seq"],
                h["hash"].as_str().unwrap_or("")
            ),
            (Some(_), None) => println!("audit chain: empty"),
            _ => println!("audit chain: unknown"),
        }
        match &st.live {
            Some(l) => println!(
                "live: {} ({} by {} at {}, {})",
                l["tag"]
                    .as_str()
                    .unwrap_or(l["build_id"].as_str().unwrap_or("?")),
                l["action"].as_str().unwrap_or("?"),
                l["actor"].as_str().unwrap_or("?"),
                l["time"].as_str().unwrap_or("?"),
                l["health"].as_str().unwrap_or("?"),
            ),
            None => println!("live: no record"),
        }
        println!(
            "waiting to sync: {} audit entries{}",
            st.waiting_entries,
            if st.waiting_live {
                ", the live record"
            } else {
                ""
            }
        );
    }
    match st.error {
        None => Ok(0),
        Some(_) => Ok(exit::REFUSED),
    }
}

/// `guardrail team sync`: 0, 3 when the remote cannot be reached.
pub fn team_sync(repo: &Repo, cfg: &Config, as_json: bool) -> anyhow::Result<u8> {
    team_off(cfg)?;
    match team::sync(repo, cfg) {
        Ok(r) => {
            if as_json {
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                println!(
                    "synced with {}: {} waiting entries pushed{}; the team chain has {} lines",
                    r.remote,
                    r.pushed_entries,
                    if r.pushed_live {
                        ", the live record pushed"
                    } else {
                        ""
                    },
                    r.chain_lines
                );
            }
            Ok(0)
        }
        Err(e) => Err(Refused(e.to_string()).into()),
    }
}

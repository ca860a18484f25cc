//! The command line: parses flags and hands over to the console (`app`) or to
//! the pipeline for headless commands. Errors become one plain sentence on
//! stderr and the exit codes of SPEC §6.
use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

/// `println!` for a stdout that may be a closed pipe (`guardrail status |
/// true`, `rollback … | head -1`): a write that fails with EPIPE is dropped
/// and the command goes on to its end, so an action is still recorded and
/// the exit code stays the command's, as with `git` and `rg`. The standard
/// macro would panic (exit 101). Shadows the prelude's macro in this crate.
macro_rules! println {
    () => {
        $crate::quiet_print(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::quiet_print(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` that a closed stdout cannot crash (see `println!` above).
macro_rules! print {
    ($($arg:tt)*) => {
        $crate::quiet_print(format_args!($($arg)*))
    };
}

/// `eprintln!` that a closed stderr cannot crash.
macro_rules! eprintln {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

/// Writes to stdout; a closed pipe (EPIPE) drops the text quietly, any
/// other error is reported as the standard macro would.
fn quiet_print(args: std::fmt::Arguments) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    match out.write_fmt(args).and_then(|_| out.flush()) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("failed printing to stdout: {e}"),
    }
}

/// Whether `e` is (or was caused by) a write to a closed pipe.
fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

mod cli;
mod completions;
mod debug_log;

use guardrail::pipeline::config::{ConfigError, UserConfig};
use guardrail::pipeline::drill::DrillError;
use guardrail::pipeline::handoff::package::{self, PackageError};
use guardrail::pipeline::repo::{Repo, RepoError};
use guardrail::pipeline::status;
use guardrail::pipeline::verify::VerifyError;

#[derive(Parser, Debug)]
#[command(
    name = "guardrail",
    version = env!("GUARDRAIL_VERSION"),
    about = "A terminal release console: review handoff packages, walk the release playbook, roll back with one key."
)]
struct Cli {
    /// Act on the repository at this path (default: the current directory's).
    #[arg(short = 'C', global = true, value_name = "REPO")]
    repo: Option<PathBuf>,
    /// Print one JSON document on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// Write a debug log at this level (error, warn, info, debug, trace) to
    /// `$XDG_STATE_HOME/guardrail/guardrail.log`; also `GUARDRAIL_LOG=debug`.
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    /// Console only: hide every action that changes anything.
    #[arg(long)]
    readonly: bool,
    #[command(subcommand)]
    command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Branches with package state, prod tags with backups, golden, live.
    Status,
    /// The evidence checklist of a branch's handoff package (exit 0 ready, 1 not).
    Check {
        /// The feature branch.
        branch: String,
    },
    /// Baseline check of a branch head and its watched-file diff against
    /// the golden build (exit 0 within tolerance, 1 outside).
    Snapshot {
        /// The feature branch.
        branch: String,
    },
    /// Print the built-in default guardrail.toml (every key, documented).
    DefaultConfig,
    /// The effective configuration, each value with its source (default,
    /// guardrail.toml in the working tree, the file committed on the main
    /// branch, the user's file), and the values that were ignored, and why.
    Config,
    /// Run the gate and the snapshot on a branch head and write its handoff
    /// package `.handoff/<slug>/` (0 gate PASS, 1 gate FAIL: the package is
    /// still written, with result FAIL).
    Handoff {
        /// The feature branch (default: the branch checked out here).
        #[arg(long, value_name = "B")]
        branch: Option<String>,
        /// The proposed prod tag (default: the next free one of today, UTC).
        #[arg(long, value_name = "T")]
        tag: Option<String>,
        /// A directory of screenshots and screencasts for `evidence/`
        /// (image or video bytes only).
        #[arg(long, value_name = "DIR")]
        evidence: Option<PathBuf>,
        /// Commit the package (only `.handoff/<slug>/`) on the branch; never pushes.
        #[arg(long)]
        commit: bool,
        /// The summary in handoff.toml (default: the head commit's subject).
        #[arg(long, value_name = "S")]
        summary: Option<String>,
        #[command(flatten)]
        answers: AnswerArgs,
    },
    /// Run the gate on a branch head, in a worktree (0 PASS, 1 FAIL).
    Gate {
        branch: String,
        #[command(flatten)]
        answers: AnswerArgs,
    },
    /// Live checks against production and the verify script (0 all ✅, 1 any ❌).
    Verify {
        /// Check this base URL instead of `[live] url` (the live record's
        /// health is then left alone).
        #[arg(long, value_name = "URL")]
        url: Option<String>,
        #[command(flatten)]
        answers: AnswerArgs,
    },
    /// Running and past jobs (gate, deploy, rollback, verify).
    Jobs {
        #[command(subcommand)]
        cmd: Option<JobsCmd>,
    },
    /// The whole release playbook on a branch: evidence, checkout, gate,
    /// deploy, live verification, tag/archive/log (0 released, 1 live
    /// verification failed).
    Deploy {
        /// The feature branch.
        branch: String,
        /// Confirm without asking (required without a terminal).
        #[arg(long)]
        yes: bool,
        /// Acknowledge, as a release manager, that the branch changes its own
        /// gate, deploy, verify or prepare script, baseline or guardrail.toml
        /// (recorded in the audit chain with the files' hashes).
        #[arg(long)]
        accept_guard_changes: bool,
        /// Team mode: deploy without the team lock when the team remote
        /// cannot be reached (recorded locally, pushed by `team sync`).
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        answers: AnswerArgs,
    },
    /// Redeploy a prod tag from its backup (or its tree), verify live, log
    /// it (0 verified, 1 verification failed).
    Rollback {
        /// The prod tag (default: the newest one not live and not marked bad).
        tag: Option<String>,
        /// Confirm without asking (required without a terminal).
        #[arg(long)]
        yes: bool,
        /// Why (recorded in every log).
        #[arg(long, default_value = "")]
        reason: String,
        /// When the backup is refused, deploy from the tag's git tree instead.
        #[arg(long)]
        from_tree: bool,
        /// Team mode: roll back without the team lock when the team remote
        /// cannot be reached (recorded locally, pushed by `team sync`).
        #[arg(long)]
        offline: bool,
        #[command(flatten)]
        answers: AnswerArgs,
    },
    /// Watched files and baseline values against the golden build, on main
    /// and in the working tree (and with --live the live site against the
    /// live record); alerts when drift appears or clears (exit 0 none, 1 drift).
    Drift {
        /// Also fetch the live site and compare it with the live record.
        #[arg(long)]
        live: bool,
    },
    /// Check or print the audit chain.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// The deploy lock and the manual deploy freeze.
    Lock {
        #[command(subcommand)]
        cmd: LockCmd,
    },
    /// Team mode (`[team] remote`): the shared lock, audit chain and live
    /// record on the git remote (exit 3 when the remote cannot be reached).
    Team {
        #[command(subcommand)]
        cmd: TeamCmd,
    },
    /// The rollback drill: a sandbox repository with a local "production"
    /// web server; opens the console on it, or runs the scenario with
    /// --headless (exit 0 when the drill passed, 1 when not).
    Drill {
        /// Build the sandbox here (a new or empty directory, kept
        /// afterwards) instead of a temporary directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
        /// Run the scenario without a terminal and print each step.
        #[arg(long)]
        headless: bool,
        #[command(flatten)]
        answers: AnswerArgs,
    },
    /// Print a completion script for bash, zsh or fish; branch and tag
    /// names are completed from the repository.
    Completions { shell: completions::Shell },
    /// Print the manual page (roff) on stdout, or with --dir write one
    /// page per command there (guardrail.1, guardrail-deploy.1, …).
    Man {
        /// Write the pages into this directory instead.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Branch or prod tag names, one a line, for the completion scripts.
    #[command(name = "__complete-refs", hide = true)]
    CompleteRefs { kind: completions::RefKind },
}

/// Answers for script prompts when there is no terminal to ask.
#[derive(clap::Args, Debug)]
struct AnswerArgs {
    /// A file with one answer per line.
    #[arg(long = "answers", value_name = "FILE")]
    file: Option<PathBuf>,
    /// One answer; repeat for each prompt, in order.
    #[arg(long = "answer", value_name = "TEXT")]
    each: Vec<String>,
}

#[derive(Subcommand, Debug)]
enum JobsCmd {
    /// Print a job's output and follow it until the job ends.
    Attach { id: String },
}

impl AnswerArgs {
    /// The answers, file first, then each `--answer`; none: stdin closed.
    fn read(&self) -> anyhow::Result<guardrail::pipeline::runner::Answers> {
        guardrail::pipeline::scripts::headless_answers(self.file.as_deref(), &self.each).map_err(
            |e| {
                anyhow::anyhow!(
                    "the answers file {} could not be read: {e}",
                    self.file
                        .as_deref()
                        .map(|p| p.display().to_string())
                        .unwrap_or_default()
                )
            },
        )
    }
}

#[derive(Subcommand, Debug)]
enum AuditCmd {
    /// Recompute the chain; name the first line that breaks it (exit 1).
    Verify,
    /// Print the last entries.
    Show {
        /// How many entries.
        #[arg(short = 'n', default_value_t = 20)]
        n: usize,
    },
}

#[derive(Subcommand, Debug)]
enum TeamCmd {
    /// The remote, reachable or not, lock holder and lease, chain length
    /// and head, live record, what waits to be pushed.
    Status,
    /// Push what waited on this box; bring the local chain and live record
    /// up to the team's.
    Sync,
}

#[derive(Subcommand, Debug)]
enum LockCmd {
    /// Who holds the deploy lock, and whether deploys are frozen.
    Status,
    /// Freeze deploys and rollbacks by hand until released.
    Acquire {
        /// Why (recorded and shown to everyone).
        #[arg(long)]
        reason: String,
    },
    /// Lift the freeze (its owner; a release manager with --force).
    Release {
        /// Lift someone else's freeze (release managers only; recorded).
        #[arg(long)]
        force: bool,
    },
}

/// Exit codes shared by all commands (SPEC §6).
use guardrail::pipeline::common::exit;

/// The longest a finished command waits for alerts still being sent (each
/// is bounded by `[alerts] timeout` on its own).
const ALERT_FLUSH_CAP: std::time::Duration = std::time::Duration::from_secs(120);

/// Process-wide memory limits, set once at start-up (see
/// [`guardrail::pipeline::repo::limit_git_memory`]); with glibc, at most two
/// malloc arenas, so that short-lived reader threads do not each leave an
/// arena of freed memory behind.
///
/// # Safety
/// Call before other threads start.
unsafe fn limit_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: a documented mallopt parameter, set before threads start.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
    // SAFETY: the caller runs this before other threads use libgit2.
    unsafe { guardrail::pipeline::repo::limit_git_memory() };
}

fn main() -> ExitCode {
    // A file-size limit (or a full quota) makes writes fail with an error
    // that is reported, instead of killing guardrail mid-write.
    // SAFETY: setting a signal's disposition to ignore at start-up.
    unsafe {
        libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
    }
    // SAFETY: before any other thread exists.
    unsafe { limit_memory() };
    let cli = Cli::parse();
    // Off by default; the guard flushes the log's writer thread at the end.
    let _log_guard = match debug_log::level_asked(cli.log_level.as_deref())
        .and_then(|l| l.map(debug_log::init).transpose())
    {
        Ok(g) => g,
        Err(e) => {
            eprintln!("guardrail: {}", sentence(&e));
            return ExitCode::from(2);
        }
    };
    let code = match run(cli) {
        Ok(code) => ExitCode::from(code),
        // Output to a closed pipe is nobody's error: end quietly.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("guardrail: {}", sentence(&e));
            ExitCode::from(classify(&e))
        }
    };
    // Alerts run in the background; do not lose them by exiting first.
    guardrail::pipeline::alerts::flush(ALERT_FLUSH_CAP);
    code
}

fn sentence(e: &anyhow::Error) -> String {
    let mut s = e.to_string();
    if !s.ends_with('.') {
        s.push('.');
    }
    s
}

/// The exit code for `e`: the one its pipeline error type says (each has an
/// `exit_code` method); bad input (2) for anything else.
fn classify(e: &anyhow::Error) -> u8 {
    use guardrail::pipeline::*;
    macro_rules! said_by {
        ($($t:ty),* $(,)?) => {
            $(
                if let Some(err) = e.downcast_ref::<$t>() {
                    return err.exit_code();
                }
            )*
        };
    }
    said_by!(
        Refused,
        StepFailed,
        VerifyError,
        DrillError,
        drift::DriftError,
        RepoError,
        ConfigError,
        PackageError,
        audit::AuditError,
        backup::BackupError,
        baseline::BaselineError,
        checkout::CheckoutError,
        gate::GateError,
        handoff::guard::GuardError,
        handoff::HandoffError,
        handoff::make::MakeError,
        jobs::JobError,
        lock::LockError,
        playbook::PlaybookError,
        record::RecordError,
        release::ReleaseError,
        rollback::RollbackError,
        runner::RunError,
        state::StateError,
    );
    exit::BAD_INPUT
}

/// A unified-diff line in ANSI colour: file headers bold, additions green,
/// removals red, hunk headers cyan.
fn paint_patch_line(line: &str) -> String {
    let code = if line.starts_with("+++ ") || line.starts_with("--- ") {
        "1"
    } else if line.starts_with("@@") {
        "36"
    } else if line.starts_with('+') {
        "32"
    } else if line.starts_with('-') {
        "31"
    } else {
        return line.to_string();
    };
    format!("\x1b[{code}m{line}\x1b[0m")
}

fn plain(line: &str) -> String {
    line.to_string()
}

/// The repository at (or above) `dir` and its configuration.
fn open(dir: &std::path::Path) -> anyhow::Result<(Repo, guardrail::pipeline::config::Config)> {
    let repo = Repo::open(dir)?;
    let cfg = repo.config()?;
    for w in &cfg.warnings {
        eprintln!("guardrail: warning: {w}");
    }
    // Team mode: what waited on this box goes to the team at the next start.
    if !cfg.team.remote.trim().is_empty()
        && guardrail::pipeline::team::has_pending(&repo.state.path)
    {
        if let Err(e) = guardrail::pipeline::team::sync(&repo, &cfg) {
            eprintln!("guardrail: warning: entries recorded offline wait to be pushed: {e}");
        }
    }
    Ok((repo, cfg))
}

fn run(cli: Cli) -> anyhow::Result<u8> {
    let dir = match &cli.repo {
        Some(p) => p.clone(),
        None => std::env::current_dir()?,
    };
    match cli.command {
        Some(Cmd::Completions { shell }) => {
            print!("{}", completions::script(shell, &Cli::command()));
            Ok(0)
        }
        Some(Cmd::Man { dir }) => {
            completions::man(Cli::command(), dir.as_deref())?;
            Ok(0)
        }
        Some(Cmd::CompleteRefs { kind }) => {
            let (repo, cfg) = open(&dir)?;
            for name in completions::refs(&repo, &cfg, kind)? {
                println!("{name}");
            }
            Ok(0)
        }
        Some(Cmd::DefaultConfig) => {
            print!("{}", guardrail::pipeline::config::DEFAULT_TOML);
            Ok(0)
        }
        Some(Cmd::Config) => {
            let repo = Repo::open(&dir)?;
            let cfg = repo.config()?;
            let user_text = match UserConfig::path() {
                Some(p) => match std::fs::read_to_string(&p) {
                    Ok(text) => Some((p, text)),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                    Err(source) => {
                        return Err(ConfigError::Unreadable {
                            file: p.display().to_string(),
                            source,
                        }
                        .into())
                    }
                },
                None => None,
            };
            let user = UserConfig::load()?;
            let user_file = user_text.as_ref().map(|(p, t)| (p.as_path(), t.as_str()));
            cli::config_origins(&repo, &cfg, &user, user_file, cli.json)
        }
        Some(Cmd::Gate { branch, answers }) => {
            let (repo, cfg) = open(&dir)?;
            let answers = answers.read()?;
            cli::gate(&repo, &cfg, &branch, answers, cli.json)
        }
        Some(Cmd::Handoff {
            branch,
            tag,
            evidence,
            commit,
            summary,
            answers,
        }) => {
            let (repo, cfg) = open(&dir)?;
            let answers = answers.read()?;
            let opts = guardrail::pipeline::handoff::make::MakeOptions {
                branch,
                tag,
                evidence,
                commit,
                summary,
                answers,
            };
            cli::handoff(&repo, &cfg, opts, cli.json)
        }
        Some(Cmd::Verify { url, answers }) => {
            let (repo, cfg) = open(&dir)?;
            let answers = answers.read()?;
            cli::verify(&repo, &cfg, url.as_deref(), answers, cli.json)
        }
        Some(Cmd::Jobs { cmd }) => {
            let (repo, cfg) = open(&dir)?;
            match cmd {
                None => cli::jobs(&repo, &cfg, cli.json),
                Some(JobsCmd::Attach { id }) => cli::jobs_attach(&repo, &id),
            }
        }
        Some(Cmd::Drill {
            dir,
            headless,
            answers,
        }) => {
            let answers = answers.read()?;
            if headless {
                cli::drill_headless(dir.as_deref(), answers, cli.json)
            } else {
                if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
                    anyhow::bail!(
                        "the drill's console needs a terminal; use `guardrail drill --headless` instead"
                    );
                }
                let user_cfg = UserConfig::load()?;
                for w in &user_cfg.warnings {
                    eprintln!("guardrail: warning: {w}");
                }
                cli::drill_console(dir.as_deref(), user_cfg)
            }
        }
        Some(Cmd::Deploy {
            branch,
            yes,
            accept_guard_changes,
            offline,
            answers,
        }) => {
            let (repo, mut cfg) = open(&dir)?;
            cfg.team.offline = offline;
            let answers = answers.read()?;
            if accept_guard_changes {
                cli::accept_guard_changes(&repo, &cfg, &branch, cli.json)?;
            }
            cli::deploy(&repo, &cfg, &branch, yes, answers, cli.json)
        }
        Some(Cmd::Rollback {
            tag,
            yes,
            reason,
            from_tree,
            offline,
            answers,
        }) => {
            let (repo, mut cfg) = open(&dir)?;
            cfg.team.offline = offline;
            let answers = answers.read()?;
            cli::rollback(
                &repo,
                &cfg,
                tag.as_deref(),
                yes,
                &reason,
                from_tree,
                answers,
                cli.json,
            )
        }
        Some(Cmd::Drift { live }) => {
            let (repo, cfg) = open(&dir)?;
            cli::drift(&repo, &cfg, live, cli.json)
        }
        Some(Cmd::Audit { cmd }) => {
            let (repo, cfg) = open(&dir)?;
            match cmd {
                AuditCmd::Verify => cli::audit_verify(&repo, &cfg, cli.json),
                AuditCmd::Show { n } => cli::audit_show(&repo, n, cli.json),
            }
        }
        Some(Cmd::Team { cmd }) => {
            // No start-up sync here: `team sync` reports what it pushed.
            let repo = Repo::open(&dir)?;
            let cfg = repo.config()?;
            match cmd {
                TeamCmd::Status => cli::team_status(&repo, &cfg, cli.json),
                TeamCmd::Sync => cli::team_sync(&repo, &cfg, cli.json),
            }
        }
        Some(Cmd::Lock { cmd }) => {
            let (repo, cfg) = open(&dir)?;
            match cmd {
                LockCmd::Status => {
                    // Team mode: the team lock as the remote says now.
                    if let Some(r) = guardrail::pipeline::team::Remote::of(&repo, &cfg) {
                        let _ = guardrail::pipeline::team::refresh(&r, &repo.state.path);
                    }
                    cli::lock_status(&repo, cli.json)
                }
                LockCmd::Acquire { reason } => cli::lock_acquire(&repo, &cfg, &reason, cli.json),
                LockCmd::Release { force } => cli::lock_release(&repo, &cfg, force, cli.json),
            }
        }
        Some(Cmd::Status) => {
            // SAFETY: no other thread uses libgit2 yet.
            unsafe { guardrail::pipeline::repo::widen_git_windows_for_one_shot() };
            let (repo, cfg) = open(&dir)?;
            let st = status::status(&repo, &cfg, guardrail::pipeline::audit::entry_hash_ok)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                print!("{}", guardrail::pipeline::status::render_text(&st));
            }
            // The process ends here: freeing libgit2's object cache one
            // object at a time took ~9% of `status` on a repository with
            // 10,000 branches; the kernel frees it at exit at once.
            std::mem::forget(repo);
            // So does freeing 10,000 branches' strings.
            std::mem::forget(st);
            Ok(0)
        }
        Some(Cmd::Check { branch }) => {
            let (repo, cfg) = open(&dir)?;
            let b = repo.find_any_branch(&cfg, &branch)?;
            let ctx = package::Context::load(&repo, &cfg)?;
            let a = package::assess(
                &repo,
                &cfg,
                &b,
                &ctx,
                guardrail::pipeline::audit::entry_hash_ok,
            )?;
            if cli.json {
                let r = package::CheckReport::from(&a);
                println!("{}", serde_json::to_string_pretty(&r)?);
            } else {
                print!("{}", package::render_check_text(&a));
            }
            Ok(if a.ready() { 0 } else { 1 })
        }
        Some(Cmd::Snapshot { branch }) => {
            let (repo, cfg) = open(&dir)?;
            let b = repo.find_any_branch(&cfg, &branch)?;
            let ctx = package::Context::load(&repo, &cfg)?;
            let snap = package::snapshot(&repo, &cfg, &b, &ctx)?;
            if cli.json {
                println!("{}", serde_json::to_string_pretty(&snap)?);
            } else {
                let color = std::io::stdout().is_terminal()
                    && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
                let paint = if color { paint_patch_line } else { plain };
                print!("{}", package::render_snapshot_text(&snap, &paint));
            }
            Ok(if snap.within { 0 } else { 1 })
        }
        None => {
            if !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
                anyhow::bail!(
                    "the console needs a terminal; use a command such as `guardrail status` instead"
                );
            }
            let user_cfg = UserConfig::load()?;
            for w in &user_cfg.warnings {
                eprintln!("guardrail: warning: {w}");
            }
            guardrail::app::run(guardrail::app::Options {
                dir,
                readonly: cli.readonly,
                user: user_cfg,
                drill: None,
            })?;
            Ok(0)
        }
    }
}

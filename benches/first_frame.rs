//! First-frame benchmark on the synthetic large repository
//! (50,000 commits, 10,000 branches, 2,000 prod tags; see common/synth.rs),
//! or on the repository `BENCH_REPO` names (e.g. one built by
//! `shared/tools/mkbigrepo.sh`).
//!
//! For `BENCH_RUNS` runs (default 15), after one warm-up each:
//! (a) `git for-each-ref --format=%(refname)` > /dev/null
//! (a') `git for-each-ref --format='%(refname)%09%(objectname)%09%(subject)'`
//!     > /dev/null: the baseline of `status --json` (issue 17: ≤ 3×)
//! (b) `guardrail status --json -C <repo>` > /dev/null, main's index cached
//!     in the state directory (the state directory is created if missing,
//!     as any recorded action would);
//! (b') the same with the cache removed before each run (main walked whole);
//! (c) spawn `guardrail -C <repo> --readonly` in a 120×40 pty until the
//!     first branch name (by name, as the console sorts them;
//!     `BENCH_FIRST_BRANCH` overrides it) is on the screen, then `q`.
//!
//! Run: `cargo build --release && cargo bench --bench first_frame`.

mod common;

use common::pty::PtyCommand;
use common::*;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(60);

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is ignored.
    let runs = env_usize("BENCH_RUNS", 15);
    let bin = release_binary();
    let repo = synth::bench_repo();
    let home = BenchHome::new();

    let git_out = |args: &[&str]| -> String {
        let out = home
            .command("git")
            .arg("-C")
            .arg(&repo)
            .args(args)
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let main_commits = git_out(&["rev-list", "--count", "--first-parent", "main"]);
    let heads = git_out(&["for-each-ref", "--format=%(refname:short)", "refs/heads"]);
    let first_branch = std::env::var("BENCH_FIRST_BRANCH").unwrap_or_else(|_| {
        let mut names: Vec<&str> = heads.lines().filter(|n| *n != "main").collect();
        names.sort();
        names.first().expect("a feature branch").to_string()
    });
    let common_dir = git_out(&["rev-parse", "--git-common-dir"]);
    let common_dir = repo.join(common_dir.trim());
    let state_dir = common_dir.join("guardrail");
    std::fs::create_dir_all(&state_dir).expect("create the state directory");
    let cache = state_dir.join("cache/main-index-v1");

    println!(
        "first-frame bench: {} ({} main commits, {} branches), {runs} runs after 1 warm-up",
        repo.display(),
        main_commits.trim(),
        heads.lines().count().saturating_sub(1),
    );
    println!("binary: {}", bin.display());

    // (a) git for-each-ref, names only; (a') with objectname and subject
    let for_each_ref = |format: &str| {
        let mut c = home.command("git");
        c.arg("-C")
            .arg(&repo)
            .arg("for-each-ref")
            .arg(format!("--format={format}"))
            .stdout(Stdio::null());
        run_measured(c).expect("run git for-each-ref")
    };
    let measure_ref = |format: &str, label: &str| {
        let warm = for_each_ref(format);
        assert!(
            warm.status.success(),
            "git for-each-ref failed: {}",
            warm.stderr
        );
        let v: Vec<Duration> = (0..runs).map(|_| for_each_ref(format).wall).collect();
        let s = Stats::of(&v).unwrap();
        println!("{}", stats_line(label, &s, None));
        s
    };
    let a = measure_ref("%(refname)", "for-each-ref");
    let a2 = measure_ref("%(refname)%09%(objectname)%09%(subject)", "for-each-ref+s");

    // (b) guardrail status --json, warm cache; (b') cache removed each run
    let status = || {
        let mut c = home.command(&bin);
        c.arg("status")
            .arg("--json")
            .arg("-C")
            .arg(&repo)
            .current_dir(&repo)
            .stdout(Stdio::null());
        run_measured(c)
    };
    let report = || -> String {
        let out = home
            .command(&bin)
            .args(["status", "--json", "-C"])
            .arg(&repo)
            .current_dir(&repo)
            .output()
            .expect("run guardrail status --json");
        let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
        j["ahead_behind"].to_string()
    };
    let bench_status = |label: &str, cold: bool| {
        let prepare = || {
            if cold {
                let _ = std::fs::remove_file(&cache);
            }
        };
        prepare();
        match status() {
            Err(e) => return println!("{label:<16} skipped: cannot run: {e}"),
            Ok(m) if !m.status.success() => {
                return println!("{label:<16} skipped: {}", reason(&m));
            }
            Ok(_) => {}
        }
        let mut samples = Vec::new();
        let mut peak = 0;
        for _ in 0..runs {
            prepare();
            match status() {
                Ok(m) if m.status.success() => {
                    peak = peak.max(m.max_rss_kib);
                    samples.push(m.wall);
                }
                Ok(m) => return println!("{label:<16} skipped: a run failed: {}", reason(&m)),
                Err(e) => return println!("{label:<16} skipped: a run failed: {e}"),
            }
        }
        let b = Stats::of(&samples).unwrap();
        println!(
            "{}  peak RSS {} (wait4)",
            stats_line(label, &b, Some(("for-each-ref+s", &a2))),
            mib(peak)
        );
        prepare();
        println!("{:<16} ahead_behind: {}", "", report());
    };
    bench_status("status --json", false);
    bench_status("status, cold", true);
    // Leave the cache in place for the console.
    let _ = report();
    print_cache_size(&cache);

    // (c) first frame in a pty
    let first_frame = || -> Result<Duration, String> {
        let start = Instant::now();
        let mut t = PtyCommand::new(&bin)
            .arg("-C")
            .arg(&repo)
            .arg("--readonly")
            .cwd(&repo)
            .env_remove("SUDO_USER")
            .envs(home.env())
            .size(120, 40)
            .try_spawn()?;
        t.wait_for(&first_branch, FIRST_FRAME_TIMEOUT)?;
        let elapsed = start.elapsed();
        t.send_q();
        if t.wait_exit(Duration::from_secs(10)).is_none() {
            t.kill();
            return Err(format!(
                "the console did not exit on `q` within 10 s: {}",
                t.restoration_report()
            ));
        }
        Ok(elapsed)
    };
    match first_frame() {
        Err(e) => println!("{:<16} skipped: {}", "first_frame", first_lines(&e, 6)),
        Ok(_) => {
            let mut samples = Vec::new();
            let mut failed = None;
            for _ in 0..runs {
                match first_frame() {
                    Ok(d) => samples.push(d),
                    Err(e) => {
                        failed = Some(e);
                        break;
                    }
                }
            }
            match failed {
                Some(e) => println!(
                    "{:<16} skipped: a run failed: {}",
                    "first_frame",
                    first_lines(&e, 6)
                ),
                None => {
                    let c = Stats::of(&samples).unwrap();
                    println!(
                        "{}",
                        stats_line("first_frame", &c, Some(("for-each-ref", &a)))
                    );
                }
            }
        }
    }
}

fn first_lines(s: &str, n: usize) -> String {
    s.lines().take(n).collect::<Vec<_>>().join("\n    ")
}

fn print_cache_size(cache: &Path) {
    if let Ok(m) = std::fs::metadata(cache) {
        println!(
            "{:<16} main's index cache: {} ({:.1} KiB)",
            "",
            cache.display(),
            m.len() as f64 / 1024.0
        );
    }
}

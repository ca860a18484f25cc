//! First-frame benchmark on the synthetic large repository
//! (50,000 commits, 10,000 branches, 2,000 prod tags; see common/synth.rs).
//!
//! For `BENCH_RUNS` runs (default 15), after one warm-up each:
//! (a) `git for-each-ref --format=%(refname)` > /dev/null
//! (b) `guardrail status --json -C <repo>` > /dev/null
//! (c) spawn `guardrail -C <repo> --readonly` in a 120×40 pty until a branch
//!     name (`feature/b0…`) is on the screen, then `q`.
//!
//! Run: `cargo build --release && cargo bench --bench first_frame`.

mod common;

use common::pty::PtyCommand;
use common::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

const FIRST_FRAME_TIMEOUT: Duration = Duration::from_secs(60);

fn main() {
    // `cargo bench` passes `--bench`; a filter argument is ignored.
    let runs = env_usize("BENCH_RUNS", 15);
    let bin = release_binary();
    let repo = synth::bench_repo();
    let home = BenchHome::new();

    println!(
        "first-frame bench: {} ({} commits, {} branches, {} prod tags), {runs} runs after 1 warm-up",
        repo.display(),
        synth::COMMITS,
        synth::BRANCHES,
        synth::TAGS
    );
    println!("binary: {}", bin.display());

    // (a) git for-each-ref
    let for_each_ref = || {
        let mut c = home.command("git");
        c.arg("-C")
            .arg(&repo)
            .args(["for-each-ref", "--format=%(refname)"])
            .stdout(Stdio::null());
        run_measured(c).expect("run git for-each-ref")
    };
    let warm = for_each_ref();
    assert!(
        warm.status.success(),
        "git for-each-ref failed: {}",
        warm.stderr
    );
    let a: Vec<Duration> = (0..runs).map(|_| for_each_ref().wall).collect();
    let a = Stats::of(&a).unwrap();
    println!("{}", stats_line("for-each-ref", &a, None));

    // (b) guardrail status --json
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
    match status() {
        Err(e) => println!("{:<16} skipped: cannot run: {e}", "status --json"),
        Ok(m) if !m.status.success() => {
            println!("{:<16} skipped: {}", "status --json", reason(&m))
        }
        Ok(_) => {
            let mut samples = Vec::new();
            let mut peak = 0;
            let mut failed = None;
            for _ in 0..runs {
                match status() {
                    Ok(m) if m.status.success() => {
                        peak = peak.max(m.max_rss_kib);
                        samples.push(m.wall);
                    }
                    Ok(m) => {
                        failed = Some(reason(&m));
                        break;
                    }
                    Err(e) => {
                        failed = Some(e.to_string());
                        break;
                    }
                }
            }
            match failed {
                Some(r) => println!("{:<16} skipped: a run failed: {r}", "status --json"),
                None => {
                    let b = Stats::of(&samples).unwrap();
                    println!(
                        "{}  peak RSS {} (wait4)",
                        stats_line("status --json", &b, Some(("for-each-ref", &a))),
                        mib(peak)
                    );
                }
            }
        }
    }

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
        t.wait_for("feature/b0", FIRST_FRAME_TIMEOUT)?;
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

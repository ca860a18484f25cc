//! Team lock benchmark (SPEC §10): taking and releasing the team lock
//! (`refs/guardrail/lock`, two compare-and-swap pushes) over `git daemon` on
//! 127.0.0.1, against one plain `git push` of one ref to the same server, in
//! the same run. Target: ≤ 3×.
//!
//! `BENCH_RUNS` rounds (default 15) after one warm-up; each round times one
//! plain push (a fresh blob to `refs/bench/plain`, the blob written before
//! the clock starts) and one acquire + release. Medians and p90s.
//!
//! Run: `cargo bench --bench team_lock` (the time is spent in `git`, so
//! `--profile dev` measures the same thing without a release build).

#[path = "../tests/common/gitd.rs"]
mod gitd;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use guardrail::pipeline::lock::LockInfo;
use guardrail::pipeline::team::{self, Remote};

fn git(dir: &Path, args: &[&str], input: Option<&[u8]>) -> String {
    use std::io::Write;
    let mut cmd = Command::new("git");
    cmd.arg("-C").arg(dir).args(args);
    cmd.stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("git");
    if let Some(bytes) = input {
        child.stdin.take().unwrap().write_all(bytes).unwrap();
    } else {
        drop(child.stdin.take());
    }
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn stats(mut v: Vec<Duration>) -> (Duration, Duration) {
    v.sort();
    let median = v[v.len() / 2];
    let p90 = v[((v.len() * 9) / 10).min(v.len() - 1)];
    (median, p90)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(15);
    let d = gitd::GitDaemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let clone = tmp.path().join("box");
    std::fs::create_dir_all(&clone).unwrap();
    git(&clone, &["init", "-q"], None);
    let remote = Remote {
        name: d.url(),
        dir: clone.clone(),
        timeout: Duration::from_secs(30),
    };
    let info = LockInfo::new("bench", "deploy", "feature/bench");

    let plain = |i: usize| -> Duration {
        let blob = git(
            &clone,
            &["hash-object", "-w", "--stdin"],
            Some(format!("plain {i} {}\n", std::process::id()).as_bytes()),
        );
        let t = Instant::now();
        git(
            &clone,
            &[
                "push",
                "--quiet",
                "--force",
                &d.url(),
                &format!("{blob}:refs/bench/plain"),
            ],
            None,
        );
        t.elapsed()
    };
    let lock = || -> Duration {
        let t = Instant::now();
        let (held, taken_over) =
            team::acquire_job(&remote, &info, Duration::from_secs(60)).expect("acquire");
        assert!(taken_over.is_none());
        team::release_job(&remote, &held).expect("release");
        t.elapsed()
    };

    // Warm-up.
    plain(0);
    lock();
    let mut plains = Vec::new();
    let mut locks = Vec::new();
    for i in 0..runs {
        plains.push(plain(i + 1));
        locks.push(lock());
    }
    assert!(d.ref_value(team::LOCK_REF).is_none(), "released every time");
    let (pm, p90) = stats(plains);
    let (lm, l90) = stats(locks);
    let ratio = lm.as_secs_f64() / pm.as_secs_f64();
    println!("team_lock: {runs} rounds over git daemon on 127.0.0.1");
    println!(
        "  plain git push of one ref:      median {} (p90 {})",
        ms(pm),
        ms(p90)
    );
    println!(
        "  team lock acquire + release:    median {} (p90 {})",
        ms(lm),
        ms(l90)
    );
    println!(
        "  ratio {ratio:.2}x (target <= 3x): {}",
        if ratio <= 3.0 { "met" } else { "NOT met" }
    );
}

//! Review-screen benchmark on the synthetic repository with handoff packages
//! (`synth::REVIEW`: 50,000 commits, 10,000 branches, 2,000 prod tags, a
//! package on every 10th branch; cached in `target/bench-repo-review-v1/`).
//!
//! For `BENCH_RUNS` runs (default 10), after one warm-up, each run in a
//! 200×50 pty with `guardrail -C <repo> --readonly`:
//!
//! (a) first frame: spawn until a branch name (`feature/b0…`) is on the
//!     screen, then quit — the same as `first_frame.rs`, the baseline;
//! (b) review first frame: spawn, wait for the branch names, press Enter on
//!     the first row (`feature/b00000`, the first packaged branch); time
//!     from Enter until the review screen shows its panes (` Gate log`,
//!     ` Snapshot `) and the package's state (`Evidence · <state>`);
//! (c) in that review screen, 100 × `j` sent at once: time until
//!     `feature/b00100` is the highlighted row (selection), and until the
//!     screen has settled on it (its package's state shown, no
//!     `reading the package…`);
//! (d) then 100 × `j` one at a time (b00100 → b00200), each waiting until the
//!     next branch is highlighted: total and per-key latency.
//!
//! Target (issue): (b) and (c) within 2× of (a). Run:
//! `cargo build --release && cargo bench --bench review`.
//! `BENCH_REVIEW_VARIANTS=1` adds, per run, a second console where Enter is
//! pressed only once the background readers have finished (the screen has
//! not changed for 1.5 s): (b'), (c'), (d') — what the readers cost.

mod common;

use common::pty::{Pty, PtyCommand};
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const COLS: u16 = 200;
const ROWS: u16 = 50;
/// The review screen's branch list is the left 34 columns.
const LIST_COLS: u16 = 34;
const TIMEOUT: Duration = Duration::from_secs(60);
const MOVES: usize = 100;

fn main() {
    let runs = env_usize("BENCH_RUNS", 10);
    let variants = std::env::var_os("BENCH_REVIEW_VARIANTS").is_some();
    let bin = release_binary();
    let repo = synth::review_repo();
    let home = BenchHome::new();
    let first = synth::branch_name(0);
    assert!(synth::packaged(synth::REVIEW, 0));
    assert!(synth::packaged(synth::REVIEW, MOVES));
    assert!(synth::packaged(synth::REVIEW, 2 * MOVES));

    println!(
        "review bench: {} ({} commits, {} branches, {} prod tags, {} handoff packages), \
         {COLS}x{ROWS} pty, {runs} runs after 1 warm-up",
        repo.display(),
        synth::COMMITS,
        synth::BRANCHES,
        synth::TAGS,
        synth::REVIEW.packages
    );
    println!("binary: {}", bin.display());

    let mut a = Vec::new();
    let mut s = Samples::default();
    let mut v = Samples::default();
    for i in 0..=runs {
        let r = first_frame(&bin, &repo, &home)
            .and_then(|fa| review_session(&bin, &repo, &home, &first, false).map(|x| (fa, x)))
            .and_then(|(fa, x)| {
                if variants {
                    review_session(&bin, &repo, &home, &first, true).map(|y| (fa, x, Some(y)))
                } else {
                    Ok((fa, x, None))
                }
            });
        match r {
            Err(e) => {
                println!(
                    "skipped: run {i} failed: {}",
                    e.lines().take(60).collect::<Vec<_>>().join("\n    ")
                );
                std::process::exit(1);
            }
            Ok(_) if i == 0 => {} // warm-up
            Ok((fa, x, y)) => {
                a.push(fa);
                s.push(x);
                if let Some(y) = y {
                    v.push(y);
                }
            }
        }
    }

    let a = Stats::of(&a).unwrap();
    let base = Some(("first frame", &a));
    println!("{}", stats_line("(a) first frame", &a, None));
    let b = Stats::of(&s.review).unwrap();
    println!("{}", stats_line("(b) review", &b, base));
    let b_total = Stats::of(&s.review_total).unwrap();
    println!(
        "{}   [spawn → branches → Enter → review]",
        stats_line("    from spawn", &b_total, base)
    );
    let c_sel = Stats::of(&s.burst_selected).unwrap();
    println!(
        "{}   [100 × j at once → b00100 highlighted]",
        stats_line("(c) 100 j burst", &c_sel, base)
    );
    let c_set = Stats::of(&s.burst_settled).unwrap();
    println!(
        "{}   [… and its package shown]",
        stats_line("    settled", &c_set, base)
    );
    let d = Stats::of(&s.step_total).unwrap();
    println!(
        "{}   [100 × j one at a time, each waited for]",
        stats_line("(d) 100 j steps", &d, base)
    );
    let d_key = Stats::of(&s.step_keys).unwrap();
    println!("{}", stats_line("    per key", &d_key, None));
    let d_set = Stats::of(&s.step_settled).unwrap();
    println!(
        "{}   [last key → b00200's package shown]",
        stats_line("    last settled", &d_set, None)
    );
    if variants {
        println!("profiling variants (same runs, a second console each):");
        for (label, samples, note) in [
            (
                "(b') review idle",
                &v.review,
                "Enter after the background readers finished",
            ),
            ("(c') burst", &v.burst_selected, "the same, after (b')"),
            ("    settled", &v.burst_settled, ""),
            ("(d') steps", &v.step_total, ""),
            ("    per key", &v.step_keys, ""),
        ] {
            if let Some(st) = Stats::of(samples) {
                println!("{}   {note}", stats_line(label, &st, base));
            }
        }
    }

    let ratio = |x: &Stats| x.median.as_secs_f64() / a.median.as_secs_f64();
    let verdict = |r: f64| if r <= 2.0 { "met" } else { "NOT met" };
    println!("targets (issue: within 2x of the first frame, medians):");
    for (what, st) in [
        ("review first frame (b)", &b),
        ("100-branch move, burst, settled (c)", &c_set),
        ("100-branch move, key by key (d)", &d),
    ] {
        let r = ratio(st);
        println!("  {what:<38} {r:>6.1}x  {}", verdict(r));
    }
}

#[derive(Default)]
struct Samples {
    review: Vec<Duration>,
    review_total: Vec<Duration>,
    burst_selected: Vec<Duration>,
    burst_settled: Vec<Duration>,
    step_total: Vec<Duration>,
    step_keys: Vec<Duration>,
    step_settled: Vec<Duration>,
}

impl Samples {
    fn push(&mut self, o: Session) {
        self.review.push(o.review);
        self.review_total.push(o.review_total);
        self.burst_selected.push(o.burst_selected);
        self.burst_settled.push(o.burst_settled);
        self.step_total.push(o.step_total);
        self.step_keys.extend(o.step_keys);
        self.step_settled.push(o.step_settled);
    }
}

struct Session {
    review: Duration,
    review_total: Duration,
    burst_selected: Duration,
    burst_settled: Duration,
    step_total: Duration,
    step_keys: Vec<Duration>,
    step_settled: Duration,
}

fn spawn(bin: &Path, repo: &Path, home: &BenchHome) -> Result<Pty, String> {
    PtyCommand::new(bin)
        .arg("-C")
        .arg(repo)
        .arg("--readonly")
        .cwd(repo)
        .env_remove("SUDO_USER")
        .envs(home.env())
        .size(COLS, ROWS)
        .try_spawn()
}

/// `q` (the review screen's `q` goes back first, the main screen's quits).
fn quit(mut t: Pty) -> Result<(), String> {
    for _ in 0..3 {
        t.send_q();
        if t.wait_exit(Duration::from_secs(3)).is_some() {
            return Ok(());
        }
    }
    t.kill();
    Err(format!(
        "the console did not exit on `q`: {}",
        t.restoration_report()
    ))
}

/// (a): spawn until a branch name is on the screen.
fn first_frame(bin: &Path, repo: &Path, home: &BenchHome) -> Result<Duration, String> {
    let start = Instant::now();
    let t = spawn(bin, repo, home)?;
    t.wait_for("feature/b0", TIMEOUT)?;
    let d = start.elapsed();
    quit(t)?;
    Ok(d)
}

/// The name of the highlighted (reverse-video) branch row in the left
/// `cols` columns, if any.
fn highlighted(screen: &vt100::Screen, cols: u16) -> Option<String> {
    let (rows, width) = screen.size();
    for (r, line) in screen
        .rows(0, cols.min(width))
        .enumerate()
        .take(rows as usize)
    {
        let Some(i) = line.find("feature/b") else {
            continue;
        };
        let col = line[..i].chars().count() as u16;
        if screen.cell(r as u16, col).is_some_and(|c| c.inverse()) {
            let name: String = line[i..]
                .chars()
                .take_while(|c| !c.is_whitespace())
                .collect();
            return Some(name);
        }
    }
    None
}

/// The review screen of the highlighted branch `name` with its package read.
fn review_shown(screen: &vt100::Screen, name: &str) -> bool {
    let text = screen.contents();
    highlighted(screen, LIST_COLS).as_deref() == Some(name)
        && text.contains(" Gate log")
        && text.contains(" Snapshot ")
        && text.contains("Evidence · ")
        && !text.contains("reading the package")
}

/// (b), (c), (d) in one console. `idle`: press Enter only after the
/// background readers are done (the screen stopped changing).
fn review_session(
    bin: &Path,
    repo: &Path,
    home: &BenchHome,
    first: &str,
    idle: bool,
) -> Result<Session, String> {
    let spawned = Instant::now();
    let mut t = spawn(bin, repo, home)?;
    let r = (|| {
        t.wait_until("the first branch highlighted", TIMEOUT, |s| {
            highlighted(s, COLS).as_deref() == Some(first)
        })?;
        if idle {
            t.wait_stable(Duration::from_millis(1500), Duration::from_secs(120))?;
        }
        // (b)
        let enter = Instant::now();
        t.send_enter();
        t.wait_until("the review screen of the first branch", TIMEOUT, |s| {
            review_shown(s, first)
        })?;
        let review = enter.elapsed();
        let review_total = spawned.elapsed();

        // (c) 100 × j at once
        let target = synth::branch_name(MOVES);
        let start = Instant::now();
        t.send("j".repeat(MOVES));
        t.wait_until(&format!("{target} highlighted"), TIMEOUT, |s| {
            highlighted(s, LIST_COLS).as_deref() == Some(target.as_str())
        })?;
        let burst_selected = start.elapsed();
        t.wait_until(&format!("{target}'s package shown"), TIMEOUT, |s| {
            review_shown(s, &target)
        })?;
        let burst_settled = start.elapsed();

        // (d) 100 × j, one at a time
        let mut step_keys = Vec::with_capacity(MOVES);
        let start = Instant::now();
        let mut last = start;
        for k in 1..=MOVES {
            let want = synth::branch_name(MOVES + k);
            let key = Instant::now();
            t.send("j");
            t.wait_until(&format!("{want} highlighted"), TIMEOUT, |s| {
                highlighted(s, LIST_COLS).as_deref() == Some(want.as_str())
            })?;
            step_keys.push(key.elapsed());
            last = key;
        }
        let step_total = start.elapsed();
        let want = synth::branch_name(2 * MOVES);
        t.wait_until(&format!("{want}'s package shown"), TIMEOUT, |s| {
            review_shown(s, &want)
        })?;
        let step_settled = last.elapsed();
        Ok(Session {
            review,
            review_total,
            burst_selected,
            burst_settled,
            step_total,
            step_keys,
            step_settled,
        })
    })();
    quit(t)?;
    r
}

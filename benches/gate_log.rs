//! Gate-log throughput and memory benchmark.
//!
//! The synthetic repository's gate script (`scripts/run_deploy_gate.sh`,
//! see `common/synth.rs` GATE_SCRIPT) prints `BENCH_GATE_LINES` lines
//! (default 1,000,000) and asks nothing. Measured in the same run,
//! `BENCH_GATE_RUNS` times each (default 3):
//!
//! 1. baseline: `bash scripts/run_deploy_gate.sh > file`;
//! 2. headless: `guardrail gate <branch> --answer yes ×5 -C <repo> > file`;
//! 3. console: `guardrail -C <repo>` in a 120×40 pty, driven by
//!    [`console_gate_steps`] (select the branch, `g`), until the log pane's
//!    title shows the job done ([`CONSOLE_DONE`]);
//! 4. keys while ingesting: the same console run again, and while the gate
//!    streams its output, every [`PROBE_EVERY`] `?` is sent and the time
//!    until the help overlay shows is measured, then `?` closes it.
//!
//! Reports wall-time medians, ratios to the baseline, CPU (the script's,
//! guardrail's own headless as its total less the script's, the console's
//! own threads while the gate ran), and peak RSS: VmHWM of
//! the process itself (sampled from /proc) and wait4's ru_maxrss (which also
//! covers the children it reaped, i.e. the gate script and awk).
//! A part whose command fails prints `skipped: <reason>`, never numbers.
//!
//! Run: `cargo build --release && cargo bench --bench gate_log`.
//! `BENCH_GATE_BRANCH` picks the branch (default: the first `feature/b…`
//! row the console shows, else the newest branch).

mod common;

use common::pty::{Key, Pty, PtyCommand};
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

/// What the console shows when the gate has finished: the log pane's
/// title `gate <branch> · ✅ gate PASS in …`.
const CONSOLE_DONE: &str = "✅ gate PASS";
const GATE_TIMEOUT: Duration = Duration::from_secs(900);
/// The help overlay's frame and title.
const HELP_SHOWN: &str = "┌ Keys";
/// How often part 4 asks for the help overlay while the gate runs.
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// One step of driving the console.
#[allow(dead_code)] // not every step kind is used by the current keys
#[derive(Debug, Clone)]
enum Step {
    /// Wait until the text is on the screen.
    WaitFor(String),
    /// Move the selection (Down, then Up, at most 60 presses each way) until
    /// the row holding this text looks selected (inverse video, a background
    /// colour, or a `>`/`▶`/`❯`/`›` marker before the text).
    SelectRow(String),
    /// Send keys.
    Keys(Vec<Key>),
    /// Type text and press Enter.
    Line(String),
}

// The console's keys: wait for the branch, select its row, press `g` (run
// the gate on the selected branch).
fn console_gate_steps(branch: &str) -> Vec<Step> {
    vec![
        Step::WaitFor(branch.to_string()),
        Step::SelectRow(branch.to_string()),
        Step::Keys(vec![Key::Char('g')]),
    ]
}
// ---------------------------------------------------------------------------

struct Part {
    label: &'static str,
    walls: Vec<Duration>,
    /// CPU per run: for the baseline and the headless gate, the process and
    /// its children (wait4); for the console, its own threads while the
    /// gate ran (the script is its child and not counted).
    cpus: Vec<Duration>,
    hwm_kib: u64,
    maxrss_kib: u64,
}

fn main() {
    let runs = env_usize("BENCH_GATE_RUNS", 3);
    let lines = env_usize("BENCH_GATE_LINES", 1_000_000);
    let bin = release_binary();
    let repo = synth::bench_repo();
    let home = BenchHome::new();
    let out_dir = tempfile::tempdir().expect("tempdir for gate output");

    let branch = std::env::var("BENCH_GATE_BRANCH")
        .ok()
        .or_else(|| discover_branch(&bin, &repo, &home))
        .unwrap_or_else(synth::newest_branch);

    println!(
        "gate-log bench: {} on {branch}, gate prints {lines} lines, {runs} runs each",
        repo.display()
    );
    println!("binary: {}", bin.display());

    // 1. baseline
    let mut base = Part {
        label: "script > file",
        walls: vec![],
        cpus: vec![],
        hwm_kib: 0,
        maxrss_kib: 0,
    };
    let mut baseline_size = 0;
    for i in 0..runs {
        let path = out_dir.path().join(format!("baseline-{i}.log"));
        let file = std::fs::File::create(&path).unwrap();
        let mut c = home.command("bash");
        c.arg("scripts/run_deploy_gate.sh")
            .current_dir(&repo)
            .env("BENCH_GATE_LINES", lines.to_string())
            .stdout(file);
        let m = run_measured(c).expect("run the gate script");
        assert!(
            m.status.success(),
            "the bench gate script itself failed: {}",
            reason(&m)
        );
        baseline_size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        let _ = std::fs::remove_file(&path);
        base.walls.push(m.wall);
        base.cpus.push(m.cpu);
        base.hwm_kib = base.hwm_kib.max(m.vm_hwm_kib);
        base.maxrss_kib = base.maxrss_kib.max(m.max_rss_kib);
    }
    let base_stats = Stats::of(&base.walls).unwrap();
    report(&base, &base_stats, None);
    println!(
        "{:<16} output {:.1} MiB",
        "",
        baseline_size as f64 / (1024.0 * 1024.0)
    );

    // 2. headless guardrail gate
    let mut headless = Part {
        label: "gate headless",
        walls: vec![],
        cpus: vec![],
        hwm_kib: 0,
        maxrss_kib: 0,
    };
    let mut skipped = None;
    for i in 0..runs {
        let path = out_dir.path().join(format!("headless-{i}.out"));
        let file = std::fs::File::create(&path).unwrap();
        let mut c = home.command(&bin);
        c.arg("gate").arg(&branch);
        for _ in 0..5 {
            c.args(["--answer", "yes"]);
        }
        c.arg("-C")
            .arg(&repo)
            .current_dir(&repo)
            .env("BENCH_GATE_LINES", lines.to_string())
            .stdout(file);
        match run_measured(c) {
            Err(e) => {
                skipped = Some(format!("cannot run: {e}"));
                break;
            }
            Ok(m) if !m.status.success() => {
                skipped = Some(reason(&m));
                break;
            }
            Ok(m) => {
                headless.walls.push(m.wall);
                headless.cpus.push(m.cpu);
                headless.hwm_kib = headless.hwm_kib.max(m.vm_hwm_kib);
                headless.maxrss_kib = headless.maxrss_kib.max(m.max_rss_kib);
            }
        }
        let _ = std::fs::remove_file(&path);
    }
    match skipped {
        Some(r) => println!("{:<16} skipped: {r}", headless.label),
        None => report(
            &headless,
            &Stats::of(&headless.walls).unwrap(),
            Some(&base_stats),
        ),
    }

    // 3. console in a pty
    let mut console = Part {
        label: "gate console",
        walls: vec![],
        cpus: vec![],
        hwm_kib: 0,
        maxrss_kib: 0,
    };
    let mut skipped = None;
    for _ in 0..runs {
        match console_run(&bin, &repo, &home, &branch, lines) {
            Ok((wall, cpu, hwm, maxrss)) => {
                console.walls.push(wall);
                console.cpus.push(cpu);
                console.hwm_kib = console.hwm_kib.max(hwm);
                console.maxrss_kib = console.maxrss_kib.max(maxrss);
            }
            Err(e) => {
                skipped = Some(e);
                break;
            }
        }
    }
    match skipped {
        Some(r) => println!(
            "{:<16} skipped: {}",
            console.label,
            r.lines().take(8).collect::<Vec<_>>().join("\n    ")
        ),
        None => report(
            &console,
            &Stats::of(&console.walls).unwrap(),
            Some(&base_stats),
        ),
    }

    // CPU, which a busy host does not bend as it bends wall time: the
    // script's own (the baseline), guardrail's own headless (the headless
    // gate's total less the script's), and the console's own threads.
    if let (Some(script), Some(total)) = (median_cpu(&base), median_cpu(&headless)) {
        print!(
            "{:<16} script {}  guardrail headless {} (its total {} less the script's)",
            "cpu (medians)",
            human(script),
            human(total.saturating_sub(script)),
            human(total)
        );
        match median_cpu(&console) {
            Some(c) => println!("  guardrail console {} (its own threads)", human(c)),
            None => println!(),
        }
    }

    // 4. keys while ingesting
    let mut probes = Vec::new();
    let mut skipped = None;
    for _ in 0..runs {
        match probe_run(&bin, &repo, &home, &branch, lines) {
            Ok(p) => probes.extend(p),
            Err(e) => {
                skipped = Some(e);
                break;
            }
        }
    }
    match (skipped, Stats::of(&probes)) {
        (Some(r), _) => println!(
            "{:<16} skipped: {}",
            "keys while gate",
            r.lines().take(8).collect::<Vec<_>>().join("\n    ")
        ),
        (None, None) => println!(
            "{:<16} skipped: the gate ended before a key could be sent",
            "keys while gate"
        ),
        (None, Some(p)) => println!(
            "{}  max {}  ({} probes: `?` -> help overlay shown, during the gate)",
            stats_line("keys while gate", &p, None),
            human(p.max),
            p.n
        ),
    }
}

fn report(p: &Part, s: &Stats, base: Option<&Stats>) {
    println!(
        "{}  peak RSS {} (self, VmHWM) / {} (wait4, incl. children)",
        stats_line(p.label, s, base.map(|b| ("script > file", b))),
        mib(p.hwm_kib),
        mib(p.maxrss_kib)
    );
}

/// Median CPU of a part's runs.
fn median_cpu(p: &Part) -> Option<Duration> {
    Stats::of(&p.cpus).map(|s| s.median)
}

fn spawn_console(bin: &Path, repo: &Path, home: &BenchHome, lines: usize) -> Result<Pty, String> {
    PtyCommand::new(bin)
        .arg("-C")
        .arg(repo)
        .cwd(repo)
        .env_remove("SUDO_USER")
        .envs(home.env())
        .env("BENCH_GATE_LINES", lines.to_string())
        .size(120, 40)
        .try_spawn()
}

/// The first `feature/bNNNNN` the console shows on its first frame.
fn discover_branch(bin: &Path, repo: &Path, home: &BenchHome) -> Option<String> {
    let mut t = spawn_console(bin, repo, home, 0).ok()?;
    t.wait_for("feature/b", Duration::from_secs(60)).ok()?;
    let text = t.screen_text();
    t.send_q();
    if t.wait_exit(Duration::from_secs(5)).is_none() {
        t.kill();
    }
    let i = text.find("feature/b")?;
    let digits: String = text[i + 9..]
        .chars()
        .take_while(|c| c.is_ascii_digit())
        .collect();
    (digits.len() == 5).then(|| format!("feature/b{digits}"))
}

/// One console run: time from the key that starts the gate (the last step)
/// until CONSOLE_DONE is on the screen. Returns (wall, the console's own
/// CPU over that time, VmHWM, wait4 maxrss).
fn console_run(
    bin: &Path,
    repo: &Path,
    home: &BenchHome,
    branch: &str,
    lines: usize,
) -> Result<(Duration, Duration, u64, u64), String> {
    let mut t = spawn_console(bin, repo, home, lines)?;
    let sampler = HwmSampler::start(t.pid(), proc_name_of(bin.as_os_str()));
    let result = (|| -> Result<(Duration, Duration), String> {
        let steps = console_gate_steps(branch);
        let mut started = Instant::now();
        let mut cpu_before = None;
        for step in &steps {
            started = Instant::now();
            cpu_before = proc_cpu(t.pid());
            run_step(&mut t, step)?;
        }
        t.wait_for(CONSOLE_DONE, GATE_TIMEOUT)?;
        let wall = started.elapsed();
        let cpu = match (cpu_before, proc_cpu(t.pid())) {
            (Some(a), Some(b)) => b.saturating_sub(a),
            _ => return Err("cannot read the console's CPU time from /proc".into()),
        };
        Ok((wall, cpu))
    })();
    // Quit: q, then Esc q, then kill.
    t.send_q();
    if t.wait_exit(Duration::from_secs(5)).is_none() {
        t.send_key(Key::Esc);
        t.send_q();
        if t.wait_exit(Duration::from_secs(5)).is_none() {
            t.kill();
        }
    }
    let hwm = sampler.stop();
    let (wall, cpu) = result?;
    Ok((wall, cpu, hwm, t.max_rss_kib().unwrap_or(0)))
}

/// Part 4: start the gate as in [`console_run`]; while it runs, every
/// [`PROBE_EVERY`] send `?` and time until the help overlay shows, then
/// close it with `?`. Returns the latencies (only probes started before the
/// gate had finished).
fn probe_run(
    bin: &Path,
    repo: &Path,
    home: &BenchHome,
    branch: &str,
    lines: usize,
) -> Result<Vec<Duration>, String> {
    let mut t = spawn_console(bin, repo, home, lines)?;
    let result = (|| -> Result<Vec<Duration>, String> {
        for step in &console_gate_steps(branch) {
            run_step(&mut t, step)?;
        }
        let deadline = Instant::now() + GATE_TIMEOUT;
        let mut probes = Vec::new();
        loop {
            if t.wait_for(CONSOLE_DONE, PROBE_EVERY).is_ok() {
                return Ok(probes);
            }
            if Instant::now() > deadline {
                return Err(format!("the gate did not finish within {GATE_TIMEOUT:?}"));
            }
            let sent = Instant::now();
            t.send("?");
            t.wait_for(HELP_SHOWN, Duration::from_secs(30))
                .map_err(|e| format!("`?` during the gate: {e}"))?;
            let latency = sent.elapsed();
            // A probe that raced the gate's end says nothing about ingesting.
            if !t.screen_text().contains(CONSOLE_DONE) {
                probes.push(latency);
            }
            t.send("?");
            t.wait_for_gone(HELP_SHOWN, Duration::from_secs(30))
                .map_err(|e| format!("closing the help during the gate: {e}"))?;
        }
    })();
    t.send_q();
    if t.wait_exit(Duration::from_secs(5)).is_none() {
        t.send_key(Key::Esc);
        t.send_q();
        if t.wait_exit(Duration::from_secs(5)).is_none() {
            t.kill();
        }
    }
    result
}

fn run_step(t: &mut Pty, step: &Step) -> Result<(), String> {
    match step {
        Step::WaitFor(text) => t.wait_for(text, Duration::from_secs(60)),
        Step::Keys(keys) => {
            t.send_keys(keys, Duration::from_millis(20));
            Ok(())
        }
        Step::Line(text) => {
            t.send_line(text);
            Ok(())
        }
        Step::SelectRow(text) => {
            for key in [Key::Down, Key::Up] {
                for _ in 0..60 {
                    if row_selected(&t.screen_snapshot(), text) {
                        return Ok(());
                    }
                    let before = t.screen_text();
                    t.send_key(key);
                    let _ = t.wait_until("screen change", Duration::from_millis(300), |s| {
                        s.contents() != before
                    });
                }
            }
            Err(format!(
                "could not select the row holding {text:?}; screen:\n{}",
                pty::dump(&t.screen_snapshot())
            ))
        }
    }
}

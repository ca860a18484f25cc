//! Console memory while a script prints one huge line (SPEC §5: memory
//! stays bounded whatever the script prints).
//!
//! A small repository whose branch `feature/long-line` has a gate script
//! printing `BENCH_LONG_LINE_MB` MiB (default 200) without a newline, then
//! one and `DEPLOY GATE: PASS`. In one run of the console (`guardrail -C
//! <repo>` in a 120×40 pty):
//!
//! 1. idle: the first frame, then 3 s idle; VmHWM of the console so far;
//! 2. the same console selects the branch and presses `g`; VmHWM (sampled
//!    every 5 ms from /proc) until the log pane shows the gate done, with
//!    the huge line shown as its start and `… (N bytes more)`.
//!
//! Target: the console's peak ≤ 100 MB. Before the line cap it reached
//! 828 MB for 200 MB.
//!
//! Run: `cargo build --release && cargo bench --bench long_line`.

mod common;

use common::pty::{Key, Pty, PtyCommand};
use common::*;
use std::path::Path;
use std::time::{Duration, Instant};

const BRANCH: &str = "feature/long-line";
const CONSOLE_DONE: &str = "✅ gate PASS";
const MARKER: &str = "bytes more)";
const GATE_TIMEOUT: Duration = Duration::from_secs(900);

const GATE: &str = r#"#!/usr/bin/env bash
# One line of BENCH_LONG_LINE_MB MiB, no newline until its end.
head -c "$(( ${BENCH_LONG_LINE_MB:-200} * 1024 * 1024 ))" /dev/zero | tr '\0' 'x'
echo
echo "DEPLOY GATE: PASS"
"#;

fn git(repo: &Path, home: &BenchHome, args: &[&str]) {
    let out = home
        .command("git")
        .arg("-C")
        .arg(repo)
        .args(args)
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn small_repo(dir: &Path, home: &BenchHome) {
    git(dir, home, &["init", "-q", "-b", "main"]);
    std::fs::write(dir.join("README.md"), "long-line bench\n").unwrap();
    git(dir, home, &["add", "-A"]);
    git(dir, home, &["commit", "-q", "-m", "main"]);
    git(dir, home, &["checkout", "-q", "-b", BRANCH]);
    let script = dir.join("scripts/run_deploy_gate.sh");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::write(&script, GATE).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    git(dir, home, &["add", "-A"]);
    git(
        dir,
        home,
        &["commit", "-q", "-m", "a gate printing one huge line"],
    );
    git(dir, home, &["checkout", "-q", "main"]);
}

/// VmHWM of `pid` now (KiB).
fn vm_hwm(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

fn select_row(t: &mut Pty, text: &str) -> Result<(), String> {
    for key in [Key::Down, Key::Up] {
        for _ in 0..20 {
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

fn main() {
    let mb = env_usize("BENCH_LONG_LINE_MB", 200);
    let bin = release_binary();
    let home = BenchHome::new();
    let repo = tempfile::tempdir().expect("tempdir for the repository");
    small_repo(repo.path(), &home);
    println!("long-line bench: the gate prints {mb} MiB without a newline");
    println!("binary: {}", bin.display());

    let mut t = PtyCommand::new(&bin)
        .arg("-C")
        .arg(repo.path())
        .cwd(repo.path())
        .env_remove("SUDO_USER")
        .envs(home.env())
        .env("BENCH_LONG_LINE_MB", mb.to_string())
        .size(120, 40)
        .try_spawn()
        .unwrap_or_else(|e| panic!("start the console: {e}"));
    let sampler = HwmSampler::start(t.pid(), proc_name_of(bin.as_os_str()));
    let result = (|| -> Result<(u64, Duration), String> {
        t.wait_for(BRANCH, Duration::from_secs(60))?;
        std::thread::sleep(Duration::from_secs(3));
        let idle = vm_hwm(t.pid()).ok_or("cannot read the console's VmHWM")?;
        select_row(&mut t, BRANCH)?;
        let started = Instant::now();
        t.send("g");
        t.wait_for(CONSOLE_DONE, GATE_TIMEOUT)?;
        let wall = started.elapsed();
        // The pane shows the huge line's start and the marker.
        if t.wait_for(MARKER, Duration::from_secs(5)).is_err() {
            t.send_key(Key::Home);
            t.wait_for(MARKER, Duration::from_secs(10)).map_err(|e| {
                format!(
                    "the pane does not show `… (N bytes more)`: {e}\n{}",
                    pty::dump(&t.screen_snapshot())
                )
            })?;
        }
        Ok((idle, wall))
    })();
    t.send_q();
    if t.wait_exit(Duration::from_secs(5)).is_none() {
        t.send_key(Key::Esc);
        t.send_q();
        if t.wait_exit(Duration::from_secs(5)).is_none() {
            t.kill();
        }
    }
    let peak = sampler.stop();
    match result {
        Err(e) => println!(
            "skipped: {}",
            e.lines().take(12).collect::<Vec<_>>().join("\n    ")
        ),
        Ok((idle, wall)) => {
            println!("{:<28} peak RSS {} (VmHWM)", "console idle", mib(idle));
            println!(
                "{:<28} peak RSS {} (VmHWM), gate {}  (target: ≤ 100 MB)",
                format!("console, {mb} MiB line"),
                mib(peak),
                human(wall)
            );
        }
    }
}

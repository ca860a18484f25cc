//! Shared by the bench targets: the synthetic repository, the pty harness
//! (the same file the integration tests use) and measuring helpers.
#![allow(dead_code)]

#[path = "../../tests/common/pty.rs"]
pub mod pty;
pub mod synth;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The release binary: `$GUARDRAIL_BIN`, else `target/release/guardrail`.
/// Exits with a clear message when it is missing.
pub fn release_binary() -> PathBuf {
    if let Some(p) = std::env::var_os("GUARDRAIL_BIN") {
        return PathBuf::from(p);
    }
    let p = synth::target_dir().join("release/guardrail");
    if !p.exists() {
        eprintln!(
            "error: {} is missing.\nBuild it first with `cargo build --release` \
             (or point GUARDRAIL_BIN at a guardrail binary).",
            p.display()
        );
        std::process::exit(2);
    }
    p
}

/// `BENCH_RUNS`-style variable, or `default`.
pub fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(default)
}

/// A temporary HOME for the guardrail processes of one bench run.
pub struct BenchHome {
    dir: tempfile::TempDir,
}

impl BenchHome {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("guardrail-bench-home-")
            .tempdir()
            .expect("create bench HOME");
        BenchHome { dir }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    /// Isolated env: HOME, git isolation, USER/LOGNAME = bench.
    pub fn env(&self) -> Vec<(String, String)> {
        synth::git_env(self.path())
    }
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut c = Command::new(program);
        for k in synth::ENV_REMOVE {
            c.env_remove(k);
        }
        c.envs(self.env());
        c
    }
}

impl Default for BenchHome {
    fn default() -> Self {
        Self::new()
    }
}

/// One measured process run.
#[derive(Debug, Clone)]
pub struct Measured {
    pub wall: Duration,
    pub status: ExitStatus,
    /// ru_maxrss from wait4 (KiB): the process and the children it reaped.
    pub max_rss_kib: u64,
    /// VmHWM sampled from /proc every 5 ms (KiB): the process alone.
    pub vm_hwm_kib: u64,
    /// User + system CPU from wait4: the process and the children it reaped.
    pub cpu: Duration,
    pub stderr: String,
}

/// Run `cmd` to completion measuring wall time and peak RSS. stdin is
/// closed; stdout goes where `cmd` says (set it before); stderr is kept.
pub fn run_measured(mut cmd: Command) -> std::io::Result<Measured> {
    use std::os::unix::process::ExitStatusExt;
    let err_file = tempfile::tempfile()?;
    cmd.stdin(std::process::Stdio::null())
        .stderr(err_file.try_clone()?);
    let name = proc_name_of(cmd.get_program());
    let start = Instant::now();
    let child = cmd.spawn()?;
    let pid = child.id() as libc::pid_t;
    let sampler = HwmSampler::start(pid as u32, name);
    let mut status: libc::c_int = 0;
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    let r = loop {
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut ru) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let wall = start.elapsed();
    let vm_hwm_kib = sampler.stop();
    drop(child);
    if r != pid {
        return Err(std::io::Error::last_os_error());
    }
    let stderr = {
        use std::io::{Read, Seek};
        let mut f = err_file;
        let mut s = String::new();
        f.seek(std::io::SeekFrom::Start(0))?;
        let _ = f.take(64 * 1024).read_to_string(&mut s);
        s
    };
    Ok(Measured {
        wall,
        status: ExitStatus::from_raw(status),
        max_rss_kib: ru.ru_maxrss as u64,
        vm_hwm_kib,
        cpu: timeval(ru.ru_utime) + timeval(ru.ru_stime),
        stderr,
    })
}

fn timeval(t: libc::timeval) -> Duration {
    Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64)
}

/// User + system CPU the process `pid` has used so far, all its threads,
/// not its children (/proc/<pid>/stat, in clock ticks: 10 ms steps).
pub fn proc_cpu(pid: u32) -> Option<Duration> {
    let f = guardrail::pipeline::jobs::proc_stat(pid)?;
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Some(Duration::from_millis(ticks * 1000 / hz))
}

/// What /proc/<pid>/status `Name:` shows for `program` once exec'd
/// (basename, at most 15 bytes).
pub fn proc_name_of(program: &std::ffi::OsStr) -> String {
    let base = Path::new(program)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    base.chars().take(15).collect()
}

/// Samples VmHWM of a process every 5 ms, counting only samples taken after
/// it exec'd `name` (before that, /proc shows the forking parent's memory).
pub struct HwmSampler {
    done: Arc<AtomicBool>,
    hwm: Arc<AtomicU64>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl HwmSampler {
    pub fn start(pid: u32, name: String) -> Self {
        let done = Arc::new(AtomicBool::new(false));
        let hwm = Arc::new(AtomicU64::new(0));
        let thread = {
            let done = Arc::clone(&done);
            let hwm = Arc::clone(&hwm);
            std::thread::spawn(move || {
                while !done.load(Ordering::Relaxed) {
                    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                        let field = |f: &str| {
                            status
                                .lines()
                                .find(|l| l.starts_with(f))
                                .map(|l| l[f.len()..].trim().to_string())
                        };
                        if field("Name:").as_deref() == Some(name.as_str()) {
                            if let Some(v) = field("VmHWM:")
                                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                            {
                                hwm.fetch_max(v, Ordering::Relaxed);
                            }
                        }
                    }
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        };
        HwmSampler {
            done,
            hwm,
            thread: Some(thread),
        }
    }

    /// Stop sampling; the highest VmHWM seen (KiB), 0 if never sampled.
    pub fn stop(mut self) -> u64 {
        self.done.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.hwm.load(Ordering::Relaxed)
    }
}

/// First line of a failure, for "skipped: <reason>".
pub fn reason(m: &Measured) -> String {
    let first = m
        .stderr
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    format!("exit {} {first}", describe_status(&m.status))
}

pub fn describe_status(s: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (s.code(), s.signal()) {
        (Some(c), _) => format!("code {c}"),
        (_, Some(sig)) => format!("signal {sig}"),
        _ => "unknown".into(),
    }
}

/// Summary statistics of a sample of durations.
#[derive(Debug, Clone, Copy)]
pub struct Stats {
    pub n: usize,
    pub median: Duration,
    pub p90: Duration,
    pub min: Duration,
    pub max: Duration,
}

impl Stats {
    pub fn of(samples: &[Duration]) -> Option<Stats> {
        if samples.is_empty() {
            return None;
        }
        let mut v = samples.to_vec();
        v.sort();
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2
        };
        // Nearest-rank p90.
        let rank = ((0.9 * n as f64).ceil() as usize).clamp(1, n);
        Some(Stats {
            n,
            median,
            p90: v[rank - 1],
            min: v[0],
            max: v[n - 1],
        })
    }
}

pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// Human duration: ms below 10 s, else s.
pub fn human(d: Duration) -> String {
    if d < Duration::from_secs(10) {
        format!("{:.1} ms", ms(d))
    } else {
        format!("{:.2} s", d.as_secs_f64())
    }
}

pub fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `label  median X  p90 Y  min Z  (R× base)`.
pub fn stats_line(label: &str, s: &Stats, base: Option<(&str, &Stats)>) -> String {
    let mut line = format!(
        "{label:<16} median {:>10}  p90 {:>10}  min {:>10}",
        human(s.median),
        human(s.p90),
        human(s.min)
    );
    if let Some((name, b)) = base {
        if !b.median.is_zero() {
            line.push_str(&format!(
                "  ({:.1}x {name})",
                s.median.as_secs_f64() / b.median.as_secs_f64()
            ));
        }
    }
    line
}

/// Does the row holding `text` look selected?
pub fn row_selected(screen: &vt100::Screen, text: &str) -> bool {
    let (rows, cols) = screen.size();
    for (r, line) in screen.rows(0, cols).enumerate().take(rows as usize) {
        let Some(byte_idx) = line.find(text) else {
            continue;
        };
        let prefix = &line[..byte_idx];
        if ['>', '▶', '❯', '›', '»', '▸']
            .iter()
            .any(|m| prefix.contains(*m))
        {
            return true;
        }
        let col = prefix.chars().count() as u16;
        if let Some(cell) = screen.cell(r as u16, col) {
            if cell.inverse() || cell.bgcolor() != vt100::Color::Default {
                return true;
            }
        }
    }
    false
}

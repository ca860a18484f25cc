//! Shared helpers for guardrail's integration tests.
//!
//! Put `mod common;` at the top of a test file, then e.g.
//!
//! ```ignore
//! use common::*;
//!
//! let repo = mosaic_repo();
//! let out = repo.guardrail(&["status", "--json"]);           // -C <repo> added
//! assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
//!
//! let mut t = repo.console(&["--readonly"], 120, 40);        // pty
//! t.wait_for("feature/auth-modal", secs(10)).unwrap();
//! t.send_q();
//! assert_eq!(t.wait_exit(secs(5)), Some(0));
//! assert_terminal_restored(&t);
//! ```
#![allow(dead_code, unused_imports)]

pub mod fixture;
pub mod gitd;
pub mod http;
pub mod live;
pub mod packages;
pub mod pty;
pub mod realrepo;
pub mod screen;
pub mod trees;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

pub use fixture::{
    apply_isolation, baseline_for, frontend_page, isolated_env, isolated_env_as, line_count,
    mosaic, mosaic_page, mosaic_repo, write_baseline, write_zip_file, Fixture, AUTHOR_EMAIL,
    AUTHOR_NAME, DEFAULT_USER, ENV_REMOVE,
};
pub use packages::{audit_record, package, variant, Pkg, GATE_LOG, NEXT_TAG};
pub use pty::{Exit, Key, Pty, PtyCommand, Termios};
pub use screen::{console_app, draw as draw_app};
pub use trees::*;

/// The guardrail binary cargo built for this test run.
pub fn guardrail_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_guardrail"))
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

pub fn millis(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// A `Command` running the guardrail binary isolated like the fixtures
/// (HOME=`home`, USER/LOGNAME=`user`, no SUDO_USER, stdin closed), in `cwd`.
pub fn guardrail_command(home: &Path, user: &str, cwd: &Path) -> Command {
    let mut cmd = Command::new(guardrail_bin());
    apply_isolation(&mut cmd, home, user);
    cmd.current_dir(cwd).stdin(std::process::Stdio::null());
    cmd
}

pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Parse stdout as one JSON document; panics with both streams otherwise.
pub fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not one JSON document ({e}); exit {:?}\nstdout:\n{}\nstderr:\n{}",
            out.status.code(),
            stdout(out),
            stderr(out)
        )
    })
}

impl Fixture {
    /// `guardrail -C <repo> <args…>` as a `Command` (isolated env, the
    /// fixture's user, stdin closed), to add env or answers before running.
    pub fn guardrail_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = guardrail_command(self.home(), &self.user(), self.path());
        cmd.arg("-C").arg(self.path()).args(args);
        cmd
    }

    /// Run `guardrail -C <repo> <args…>` to completion.
    pub fn guardrail(&self, args: &[&str]) -> Output {
        self.guardrail_cmd(args)
            .output()
            .expect("run the guardrail binary")
    }

    /// [`Fixture::guardrail`], failing the test after 30 s instead of
    /// hanging it (for inputs that once made guardrail block or spin).
    pub fn guardrail_in_time(&self, args: &[&str]) -> Output {
        let mut child = self
            .guardrail_cmd(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run the guardrail binary");
        let start = std::time::Instant::now();
        while child.try_wait().unwrap().is_none() {
            if start.elapsed() > std::time::Duration::from_secs(30) {
                let _ = child.kill();
                let _ = child.wait();
                panic!("guardrail {args:?} still runs after 30 s");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        child.wait_with_output().unwrap()
    }

    /// A pty command for the guardrail console on this repository:
    /// `guardrail -C <repo> <args…>` at `cols`×`rows`, isolated env, the
    /// fixture's user, SUDO_USER and git overrides removed. Call `.spawn()`.
    pub fn console_command(&self, args: &[&str], cols: u16, rows: u16) -> PtyCommand {
        let mut c = PtyCommand::new(guardrail_bin())
            .arg("-C")
            .arg(self.path())
            .args(args)
            .cwd(self.path())
            .size(cols, rows);
        for k in ENV_REMOVE {
            c = c.env_remove(k);
        }
        c.envs(self.env())
    }

    /// Start the guardrail console in a pty (see [`Fixture::console_command`]).
    pub fn console(&self, args: &[&str], cols: u16, rows: u16) -> Pty {
        self.console_command(args, cols, rows).spawn()
    }
}

/// Assert the program left the terminal as it found it: alternate screen
/// left (if it was entered), cursor visible, raw mode off.
pub fn assert_terminal_restored(t: &Pty) {
    let report = t.restoration_report();
    if t.alternate_screen_entered() {
        assert!(
            t.alternate_screen_left(),
            "alternate screen not left: {report}"
        );
    }
    assert!(t.cursor_visible_at_end(), "cursor left hidden: {report}");
    if let Some(tio) = t.termios() {
        assert!(tio.cooked(), "raw mode left on: {report}");
    }
}

/// Alive and not a zombie (an orphan killed in a container whose init does
/// not reap stays a zombie, which `kill(pid, 0)` still finds).
pub fn process_alive(pid: i32) -> bool {
    // SAFETY: signal 0 only probes.
    if unsafe { libc::kill(pid, 0) } != 0 {
        return false;
    }
    guardrail::pipeline::jobs::proc_stat(pid as u32)
        .is_some_and(|f| !f.first().is_some_and(|state| state.starts_with('Z')))
}

/// The name libtest knows a test by in this binary, for running one test
/// again in a child process with `--exact`: `test_name(module_path!(),
/// "lock_child")` is `lock::lock_child` (the crate's own name dropped).
pub fn test_name(module: &str, test: &str) -> String {
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{test}"),
        None => test.to_string(),
    }
}

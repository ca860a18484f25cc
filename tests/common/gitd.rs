//! A real git server for team-mode tests and benches: a bare repository
//! served by `git daemon` on 127.0.0.1 (a free port, pushes enabled).
//! It can be stopped and started again on the same port, to play a remote
//! that goes away.
//!
//! ```ignore
//! let d = GitDaemon::start();
//! let url = d.url();                 // git://127.0.0.1:<port>/team.git
//! d.stop();                          // connections refused
//! d.restart();
//! ```
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

pub struct GitDaemon {
    tmp: tempfile::TempDir,
    port: u16,
    child: Mutex<Option<Child>>,
}

impl GitDaemon {
    /// A bare repository `team.git`, served at once.
    pub fn start() -> GitDaemon {
        let tmp = tempfile::tempdir().expect("tempdir");
        let base = tmp.path().join("srv");
        std::fs::create_dir_all(&base).unwrap();
        let st = Command::new("git")
            .args(["init", "-q", "--bare"])
            .arg(base.join("team.git"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .expect("git init --bare");
        assert!(st.success());
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let d = GitDaemon {
            tmp,
            port,
            child: Mutex::new(None),
        };
        d.restart();
        d
    }

    /// `git://127.0.0.1:<port>/team.git`.
    pub fn url(&self) -> String {
        format!("git://127.0.0.1:{}/team.git", self.port)
    }

    /// The bare repository's path.
    pub fn bare(&self) -> PathBuf {
        self.tmp.path().join("srv/team.git")
    }

    fn base(&self) -> PathBuf {
        self.tmp.path().join("srv")
    }

    /// The value of `reference` in the bare repository, read directly.
    pub fn ref_value(&self, reference: &str) -> Option<String> {
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(self.bare())
            .args(["rev-parse", "--verify", "-q", reference])
            .output()
            .ok()?;
        out.status
            .success()
            .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
    }

    /// The bytes of the blob `reference` names in the bare repository.
    pub fn blob(&self, reference: &str) -> Option<Vec<u8>> {
        let oid = self.ref_value(reference)?;
        let out = Command::new("git")
            .arg("--git-dir")
            .arg(self.bare())
            .args(["cat-file", "blob", &oid])
            .output()
            .ok()?;
        out.status.success().then_some(out.stdout)
    }

    /// Start (again) on the same port; waits until it accepts connections.
    pub fn restart(&self) {
        let mut slot = self.child.lock().unwrap();
        assert!(slot.is_none(), "the daemon is already running");
        use std::os::unix::process::CommandExt;
        let child = Command::new("git")
            .process_group(0)
            .arg("daemon")
            .arg("--export-all")
            .arg("--enable=receive-pack")
            .arg(format!("--base-path={}", self.base().display()))
            .arg(format!("--port={}", self.port))
            .arg("--listen=127.0.0.1")
            .arg("--reuseaddr")
            .arg(self.base())
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon");
        *slot = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "git daemon did not start");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stop: connections are refused until [`GitDaemon::restart`].
    pub fn stop(&self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            // The daemon and the children serving connections (which hold
            // the listening socket too): its whole process group.
            unsafe {
                libc::kill(-(c.id() as i32), libc::SIGKILL);
            }
            let _ = c.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
            assert!(Instant::now() < deadline, "git daemon did not stop");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Clone the served repository (or init one with the remote set, when
    /// it is empty) at `dir`, with `git://…` as `origin`.
    pub fn clone_into(&self, dir: &Path) {
        let st = Command::new("git")
            .args(["clone", "-q", &self.url()])
            .arg(dir)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .unwrap();
        assert!(st.success(), "git clone {}", self.url());
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.lock().unwrap().take() {
            unsafe {
                libc::kill(-(c.id() as i32), libc::SIGKILL);
            }
            let _ = c.wait();
        }
    }
}

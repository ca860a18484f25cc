//! Following a job from another terminal (SPEC §7: a job survives the
//! terminal going away, and a later `guardrail` attaches to it). The job's
//! process serves `<job dir>/answers`, a named pipe whose lines go to the
//! script's stdin, and keeps the script's current prompt in
//! `<job dir>/prompt`; the output is `<job dir>/output.log`, written as it
//! comes. Anyone on the box who can write the pipe can answer, which is what
//! the state directory's permissions are for (README, Authority).
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

use super::runner::RunHandle;

const ANSWERS: &str = "answers";
const PROMPT: &str = "prompt";

/// Serves a job's answers pipe while the job runs; removed when dropped.
pub struct AnswerPort {
    path: PathBuf,
    /// Written to (or closed) to wake the thread when the port is dropped.
    wake: Option<OwnedFd>,
    thread: Option<JoinHandle<()>>,
}

impl AnswerPort {
    pub fn open(job_dir: &Path, handle: RunHandle) -> io::Result<AnswerPort> {
        let path = job_dir.join(ANSWERS);
        let _ = std::fs::remove_file(&path);
        let c = CString::new(path.as_os_str().as_bytes())?;
        // SAFETY: a valid NUL-terminated path; mkfifo does not keep it.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o620) } != 0 {
            return Err(io::Error::last_os_error());
        }
        // Read and write, so the pipe never reports end-of-file between
        // writers; non-blocking, so a wake-up without data never blocks.
        let mut fifo = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)?;
        let (stop_rx, wake) = wake_pipe()?;
        let thread = std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut buf = [0u8; 4096];
            loop {
                let mut fds = [
                    libc::pollfd {
                        fd: fifo.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    },
                    libc::pollfd {
                        fd: stop_rx.as_raw_fd(),
                        events: libc::POLLIN,
                        revents: 0,
                    },
                ];
                // SAFETY: two valid pollfds; waits until an answer comes or
                // the port is dropped.
                let ready = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
                if ready < 0 {
                    if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                        continue;
                    }
                    return;
                }
                if fds[1].revents != 0 {
                    return;
                }
                match fifo.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = pending.drain(..=i).collect();
                            let _ = handle.answer(String::from_utf8_lossy(&line).trim_end());
                        }
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => return,
                }
            }
        });
        Ok(AnswerPort {
            path,
            wake: Some(wake),
            thread: Some(thread),
        })
    }
}

/// A pipe whose write end, closed, wakes a thread polling its read end.
fn wake_pipe() -> io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

impl Drop for AnswerPort {
    fn drop(&mut self) {
        // Closing the write end makes the read end readable (end of file).
        drop(self.wake.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Records (or clears) the prompt the script waits at.
pub fn set_prompt(job_dir: &Path, prompt: Option<&str>) {
    let path = job_dir.join(PROMPT);
    match prompt {
        Some(p) => {
            let _ = std::fs::write(path, p);
        }
        None => {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The prompt a job's script waits at, if any.
pub fn read_prompt(job_dir: &Path) -> Option<String> {
    std::fs::read_to_string(job_dir.join(PROMPT)).ok()
}

/// Sends one answer to a running job from another process.
pub fn send_answer(job_dir: &Path, line: &str) -> io::Result<()> {
    let path = job_dir.join(ANSWERS);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(&path)
        .map_err(|e| {
            io::Error::new(
                e.kind(),
                format!("the job is not taking answers ({}: {e})", path.display()),
            )
        })?;
    let mut bytes = line.trim_end_matches(['\r', '\n']).as_bytes().to_vec();
    bytes.push(b'\n');
    f.write_all(&bytes)
}

//! Following a job from another terminal (SPEC §7: a job survives the
//! terminal going away, and a later `guardrail` attaches to it). The job's
//! process serves `<job dir>/answers`, a named pipe whose lines go to the
//! script's stdin, and keeps the script's current prompt in
//! `<job dir>/prompt`; the output is `<job dir>/output.log`, written as it
//! comes. Anyone on the box who can write the pipe can answer, which is what
//! the state directory's permissions are for (README, Authority).
use std::ffi::CString;
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use super::runner::RunHandle;

const ANSWERS: &str = "answers";
const PROMPT: &str = "prompt";

/// Serves a job's answers pipe while the job runs; removed when dropped.
pub struct AnswerPort {
    path: PathBuf,
    stop: Arc<AtomicBool>,
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
        // writers; non-blocking, so the thread can notice the job ending.
        let mut fifo = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(&path)?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut pending = Vec::new();
            let mut buf = [0u8; 4096];
            while !flag.load(Ordering::SeqCst) {
                match fifo.read(&mut buf) {
                    Ok(n) if n > 0 => {
                        pending.extend_from_slice(&buf[..n]);
                        while let Some(i) = pending.iter().position(|b| *b == b'\n') {
                            let line: Vec<u8> = pending.drain(..=i).collect();
                            let _ = handle.answer(String::from_utf8_lossy(&line).trim_end());
                        }
                    }
                    _ => std::thread::sleep(Duration::from_millis(50)),
                }
            }
        });
        Ok(AnswerPort {
            path,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for AnswerPort {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
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

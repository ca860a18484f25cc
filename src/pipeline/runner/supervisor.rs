//! Spawning and supervising a script: its process group and pipe, input
//! (answers), prompts, timeouts, cancel, draining and the end of the run.
use super::*;

/// Number of bytes at the end of `buf` that begin a UTF-8 character not yet
/// complete.
pub(super) fn incomplete_utf8_tail(buf: &[u8]) -> usize {
    for back in 1..=buf.len().min(3) {
        let b = buf[buf.len() - back];
        if b & 0xc0 == 0x80 {
            continue; // continuation byte
        }
        let need = match b {
            0xc0..=0xdf => 2,
            0xe0..=0xef => 3,
            0xf0..=0xf7 => 4,
            _ => 1,
        };
        return if need > back { back } else { 0 };
    }
    0
}

pub(super) fn fmt_duration(d: Duration) -> String {
    let ms = d.as_millis();
    if ms < 1000 {
        return format!("{ms}ms");
    }
    if !ms.is_multiple_of(1000) && ms < 60_000 {
        return format!("{:.1}s", d.as_secs_f64());
    }
    let s = d.as_secs();
    let (h, m, s) = (s / 3600, (s / 60) % 60, s % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if m > 0 {
        out.push_str(&format!("{m}m"));
    }
    if s > 0 || out.is_empty() {
        out.push_str(&format!("{s}s"));
    }
    out
}

pub(super) fn make_pipe() -> io::Result<(File, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is a valid array of two ints for pipe2 to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both descriptors are open and ours.
    let (r, w) = unsafe { (File::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    // SAFETY: fcntl on a descriptor we own; failure only leaves the default
    // size, which is fine.
    unsafe {
        libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, PIPE_SIZE);
    }
    Ok((r, w))
}

pub(super) fn resolve_program(spec: &RunSpec) -> Result<PathBuf, RunError> {
    let p = &spec.program;
    let path = if p.is_absolute() {
        p.clone()
    } else {
        spec.cwd.join(p)
    };
    let meta = match fs::metadata(&path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(RunError::NotFound(path)),
        Err(_) => return Err(RunError::NotExecutable(path)),
    };
    if !meta.is_file() || meta.permissions().mode() & 0o111 == 0 {
        return Err(RunError::NotExecutable(path));
    }
    Ok(path)
}

pub(super) fn group_alive(pgid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

pub(super) fn signal_group(pgid: i32, sig: libc::c_int) {
    // SAFETY: sending a signal to the script's own process group.
    unsafe {
        libc::kill(-pgid, sig);
    }
}

/// Start the script; events go to `on_event` from a supervisor thread,
/// ending with [`RunEvent::Finished`]. The join handle yields the same
/// [`Outcome`].
pub fn spawn(
    spec: RunSpec,
    on_event: impl FnMut(RunEvent) + Send + 'static,
) -> Result<(RunHandle, JoinHandle<Outcome>), RunError> {
    if !spec.cwd.is_dir() {
        return Err(RunError::BadCwd(spec.cwd.clone()));
    }
    let program = resolve_program(&spec)?;

    let inherited = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)));
    let (secrets, warnings) = secret_values_from_env(inherited.chain(spec.env.iter().cloned()));
    let masker = Masker::new(&secrets);
    let log_masker = Masker::new(&secrets);

    if let Some(parent) = spec.log_path.parent() {
        fs::create_dir_all(parent).map_err(|source| RunError::Log {
            path: spec.log_path.clone(),
            source,
        })?;
    }
    let log_file = File::create(&spec.log_path).map_err(|source| RunError::Log {
        path: spec.log_path.clone(),
        source,
    })?;

    let spawn_err = |source| RunError::Spawn {
        path: program.clone(),
        source,
    };
    let (reader, writer) = make_pipe().map_err(spawn_err)?;
    let writer2 = writer.try_clone().map_err(spawn_err)?;

    let mut cmd = Command::new(&program);
    cmd.args(&spec.args)
        .current_dir(&spec.cwd)
        .envs(spec.env.iter().map(|(k, v)| (OsStr::new(k), OsStr::new(v))))
        .process_group(0)
        .stdout(Stdio::from(writer))
        .stderr(Stdio::from(writer2))
        .stdin(match spec.answers {
            Answers::Closed => Stdio::null(),
            _ => Stdio::piped(),
        });
    let mut child = spawn_retrying(&mut cmd)
        .inspect_err(
            |e| tracing::debug!(program = %program.display(), error = %e, "script could not start"),
        )
        .map_err(|e| match e.kind() {
            io::ErrorKind::NotFound if program.exists() => {
                RunError::BadInterpreter(program.clone())
            }
            io::ErrorKind::NotFound => RunError::NotFound(program.clone()),
            io::ErrorKind::PermissionDenied => RunError::NotExecutable(program.clone()),
            _ => spawn_err(e),
        })?;
    // Close our copies of the pipe's write end, or we would never see EOF.
    drop(cmd);
    // The debug log gets the command and pid, never the output; a secret
    // passed as an argument is masked like in the output.
    tracing::debug!(
        command = %mask_secrets(&command_line(&program, &spec.args), &secrets),
        pid = child.id(),
        "script started"
    );

    let stdin = child.stdin.take();
    let shared = Arc::new(Shared {
        pid: child.id(),
        cancel: AtomicBool::new(false),
        stdin: Mutex::new(None),
        echo: Mutex::new(Vec::new()),
    });
    match (&spec.answers, stdin) {
        (Answers::Scripted(lines), Some(mut w)) => {
            let mut text = String::new();
            for l in lines {
                text.push_str(l.trim_end_matches(['\r', '\n']));
                text.push('\n');
            }
            // A thread, so a script that never reads cannot block us.
            thread::spawn(move || {
                let _ = w.write_all(text.as_bytes());
            });
        }
        (Answers::Interactive, Some(w)) => {
            *shared.stdin.lock().unwrap_or_else(|e| e.into_inner()) = Some(w);
        }
        _ => {}
    }

    let handle = RunHandle {
        inner: shared.clone(),
    };
    let sup = Supervisor {
        child,
        reader,
        shared,
        masker,
        log: LogSink::new(log_file, log_masker),
        utf8_pending: Vec::new(),
        on_event: Box::new(on_event),
        notes: Vec::new(),
        prompt_armed: false,
        timeout: spec.timeout,
        idle_timeout: spec.idle_timeout,
        grace: spec.grace,
    };
    let join = thread::Builder::new()
        .name(format!("guardrail-run-{}", handle.pid()))
        .spawn(move || sup.run(warnings))
        .map_err(|source| RunError::Spawn {
            path: program.clone(),
            source,
        })?;
    Ok((handle, join))
}

/// Spawn, retrying briefly on "text file busy" (a script written a moment
/// ago while another thread was forking).
pub(super) fn spawn_retrying(cmd: &mut Command) -> io::Result<Child> {
    let mut tries = 0;
    loop {
        match cmd.spawn() {
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) && tries < 20 => {
                tries += 1;
                thread::sleep(Duration::from_millis(10));
            }
            other => return other,
        }
    }
}

/// Run to the end, blocking; events go to `on_event` as they happen.
pub fn run(
    spec: RunSpec,
    on_event: impl FnMut(RunEvent) + Send + 'static,
) -> Result<Outcome, RunError> {
    let (_handle, join) = spawn(spec, on_event)?;
    match join.join() {
        Ok(outcome) => Ok(outcome),
        Err(panic) => std::panic::resume_unwind(panic),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum EndReason {
    Timeout,
    Idle,
    Cancel,
}

pub(super) struct Supervisor {
    child: Child,
    reader: File,
    shared: Arc<Shared>,
    masker: Masker,
    log: LogSink,
    utf8_pending: Vec<u8>,
    on_event: Box<dyn FnMut(RunEvent) + Send>,
    notes: Vec<String>,
    prompt_armed: bool,
    timeout: Option<Duration>,
    idle_timeout: Option<Duration>,
    grace: Duration,
}

impl Supervisor {
    /// Masked bytes to the events and the log.
    fn deliver(&mut self, masked: Vec<u8>) {
        if masked.is_empty() {
            return;
        }
        self.log.feed(&masked);
        let mut text = if self.utf8_pending.is_empty() {
            masked
        } else {
            let mut t = std::mem::take(&mut self.utf8_pending);
            t.extend_from_slice(&masked);
            t
        };
        let keep = incomplete_utf8_tail(&text);
        if keep > 0 {
            self.utf8_pending = text.split_off(text.len() - keep);
        }
        if !text.is_empty() {
            let text = utf8_lossy(text);
            (self.on_event)(RunEvent::Output(text));
        }
    }

    fn process(&mut self, raw: &[u8]) {
        let mut masked = Vec::with_capacity(raw.len() + 16);
        self.masker.push(raw, &mut masked);
        self.deliver(masked);
        self.prompt_armed = true;
    }

    /// Put answers given through the handle into the stream.
    fn take_echo(&mut self) {
        let echo = std::mem::take(&mut *self.shared.echo.lock().unwrap_or_else(|e| e.into_inner()));
        if !echo.is_empty() {
            self.process(&echo);
        }
    }

    /// A `guardrail: …` line in the stream, on a line of its own.
    fn note(&mut self, text: String) {
        let mut bytes = Vec::new();
        if !self.log.line.is_empty() {
            bytes.push(b'\n');
        }
        bytes.extend_from_slice(text.as_bytes());
        bytes.push(b'\n');
        self.deliver(bytes);
        self.log.flush();
        self.notes.push(text);
    }

    fn run(mut self, warnings: Vec<String>) -> Outcome {
        let start = Instant::now();
        for w in warnings {
            self.note(w);
        }
        let pgid = self.shared.pid as i32;
        let fd = self.reader.as_raw_fd();
        let mut buf = vec![0u8; READ_BUF];
        let mut eof = false;
        let mut stopped_reading = false;
        let mut status: Option<ExitStatus> = None;
        let mut exited_at: Option<Instant> = None;
        let mut last_output = start;
        let mut ending: Option<(Instant, EndReason)> = None;
        let mut kill_sent = false;
        let mut last_wait = start;
        let mut exit_nap = Duration::from_millis(1);

        loop {
            self.take_echo();

            if !eof && !stopped_reading {
                let mut pfd = libc::pollfd {
                    fd,
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, bounded timeout.
                let ready = unsafe { libc::poll(&mut pfd, 1, TICK.as_millis() as libc::c_int) };
                if ready <= 0 {
                    self.log.flush();
                }
                if ready > 0 {
                    match self.reader.read(&mut buf) {
                        Ok(0) => eof = true,
                        Ok(n) => {
                            // An answer queued before this output was read
                            // was given before the script printed it.
                            self.take_echo();
                            self.process(&buf[..n]);
                            // A short read drained the pipe: what came so
                            // far goes to disk now.
                            if n < buf.len() {
                                self.log.flush();
                            }
                            last_output = Instant::now();
                        }
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            eof = true;
                            self.note(format!(
                                "guardrail: could not read the script's output: {e}"
                            ));
                        }
                    }
                }
            } else {
                // The output is closed: the script is usually exiting, so
                // look again soon (1, 2, 4 … ms, up to a tick).
                thread::sleep(exit_nap);
                exit_nap = (exit_nap * 2).min(TICK);
            }
            let now = Instant::now();

            // While output streams in, asking whether the script exited
            // once a tick is enough.
            if status.is_none() && (eof || stopped_reading || now >= last_wait + TICK) {
                last_wait = now;
                if let Ok(Some(st)) = self.child.try_wait() {
                    status = Some(st);
                    exited_at = Some(now);
                }
            }

            if ending.is_none() && status.is_none() {
                let reason = if self.shared.cancel.load(Ordering::SeqCst) {
                    Some(EndReason::Cancel)
                } else if self.timeout.is_some_and(|t| now >= start + t) {
                    Some(EndReason::Timeout)
                } else if self.idle_timeout.is_some_and(|t| now >= last_output + t) {
                    Some(EndReason::Idle)
                } else {
                    None
                };
                if let Some(reason) = reason {
                    signal_group(pgid, libc::SIGTERM);
                    ending = Some((now, reason));
                    let why = match reason {
                        EndReason::Timeout => format!(
                            "timed out after {}",
                            fmt_duration(self.timeout.unwrap_or_default())
                        ),
                        EndReason::Idle => format!(
                            "no output for {}",
                            fmt_duration(self.idle_timeout.unwrap_or_default())
                        ),
                        EndReason::Cancel => "cancelled".to_string(),
                    };
                    self.note(format!(
                        "guardrail: {why}; sent TERM to process group {pgid}"
                    ));
                }
            }

            if let Some((t0, _)) = ending {
                if !kill_sent && now >= t0 + self.grace && group_alive(pgid) {
                    signal_group(pgid, libc::SIGKILL);
                    kill_sent = true;
                    self.note(format!(
                        "guardrail: process group {pgid} still running {} after TERM; sent KILL",
                        fmt_duration(self.grace)
                    ));
                }
            }

            if self.prompt_armed && now >= last_output + PROMPT_PAUSE {
                self.prompt_armed = false;
                if !self.log.line.is_empty() {
                    let text = self.log.current_line();
                    (self.on_event)(RunEvent::Prompt(text));
                }
            }

            if let Some(at) = exited_at {
                if !eof && !stopped_reading && now >= at + DRAIN_GRACE {
                    stopped_reading = true;
                    signal_group(pgid, libc::SIGKILL);
                    kill_sent = true;
                    self.note(format!(
                        "guardrail: the script exited but processes it started still held its output after {}; sent KILL to process group {pgid}",
                        fmt_duration(DRAIN_GRACE)
                    ));
                }
                let drained = eof || stopped_reading;
                let group_done = ending.is_none() || kill_sent || !group_alive(pgid);
                if drained && group_done {
                    break;
                }
            }
        }

        let mut rest = Vec::new();
        self.masker.finish(&mut rest);
        self.deliver(rest);
        if !self.utf8_pending.is_empty() {
            let text = String::from_utf8_lossy(&self.utf8_pending).into_owned();
            self.utf8_pending.clear();
            (self.on_event)(RunEvent::Output(text));
        }
        self.shared
            .stdin
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();

        let status = status.expect("loop ends only after the script exited");
        let reason = ending.map(|(_, r)| r);
        let (log_sha256, log_bytes, log_error) = self.log.finish();
        if let Some(e) = &log_error {
            self.notes
                .push(format!("guardrail: the log file is incomplete: {e}"));
        }
        let outcome = Outcome {
            exit_code: status.code(),
            signal: status.signal(),
            timed_out: reason == Some(EndReason::Timeout),
            idle_killed: reason == Some(EndReason::Idle),
            cancelled: reason == Some(EndReason::Cancel),
            log_sha256,
            log_bytes,
            duration: start.elapsed(),
            notes: self.notes.clone(),
            log_error,
        };
        tracing::debug!(
            pid = self.shared.pid,
            exit = ?outcome.exit_code,
            signal = ?outcome.signal,
            timed_out = outcome.timed_out,
            idle_killed = outcome.idle_killed,
            cancelled = outcome.cancelled,
            elapsed = ?outcome.duration,
            "script exited"
        );
        (self.on_event)(RunEvent::Finished(outcome.clone()));
        outcome
    }
}

/// `program arg…` for the debug log (arguments with spaces quoted).
fn command_line(program: &std::path::Path, args: &[String]) -> String {
    let mut s = program.display().to_string();
    for a in args {
        if a.is_empty() || a.contains(char::is_whitespace) {
            s.push_str(&format!(" {a:?}"));
        } else {
            s.push(' ');
            s.push_str(a);
        }
    }
    s
}

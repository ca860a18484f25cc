//! Run a program in a real pseudo-terminal (portable-pty), feed its output to
//! a `vt100::Parser`, and check that it leaves the terminal as it found it.
//!
//! Self-contained (no `super::`), so benches can include it with
//! `#[path = "../tests/common/pty.rs"] mod pty;`.
//!
//! ```ignore
//! let mut t = PtyCommand::new(bin).args(["-C", dir]).envs(env).size(120, 40).spawn();
//! t.wait_for("feature/auth-modal", Duration::from_secs(10)).unwrap();
//! t.send_key(Key::Char('q'));
//! assert_eq!(t.wait_exit(Duration::from_secs(5)), Some(0));
//! assert!(t.alternate_screen_left() && t.cursor_visible_at_end());
//! assert!(t.termios().unwrap().cooked());
//! ```
#![allow(dead_code)]

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use portable_pty::{native_pty_system, CommandBuilder, MasterPty, PtySize};

/// How much of the raw output stream is kept for [`Pty::raw_tail`].
const RAW_TAIL_LIMIT: usize = 256 * 1024;

/// A key to send, encoded as a terminal in normal (not application) cursor
/// mode would send it. crossterm parses these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    Char(char),
    /// Ctrl + letter, e.g. `Ctrl('c')`.
    Ctrl(char),
    Enter,
    Esc,
    Tab,
    BackTab,
    Backspace,
    Delete,
    Up,
    Down,
    Left,
    Right,
    Home,
    End,
    PageUp,
    PageDown,
    /// F1..F12
    F(u8),
}

impl Key {
    pub fn bytes(self) -> Vec<u8> {
        match self {
            Key::Char(c) => c.to_string().into_bytes(),
            Key::Ctrl(c) => vec![(c.to_ascii_lowercase() as u8) & 0x1f],
            Key::Enter => b"\r".to_vec(),
            Key::Esc => b"\x1b".to_vec(),
            Key::Tab => b"\t".to_vec(),
            Key::BackTab => b"\x1b[Z".to_vec(),
            Key::Backspace => b"\x7f".to_vec(),
            Key::Delete => b"\x1b[3~".to_vec(),
            Key::Up => b"\x1b[A".to_vec(),
            Key::Down => b"\x1b[B".to_vec(),
            Key::Right => b"\x1b[C".to_vec(),
            Key::Left => b"\x1b[D".to_vec(),
            Key::Home => b"\x1b[H".to_vec(),
            Key::End => b"\x1b[F".to_vec(),
            Key::PageUp => b"\x1b[5~".to_vec(),
            Key::PageDown => b"\x1b[6~".to_vec(),
            Key::F(n) => match n {
                1 => b"\x1bOP".to_vec(),
                2 => b"\x1bOQ".to_vec(),
                3 => b"\x1bOR".to_vec(),
                4 => b"\x1bOS".to_vec(),
                5 => b"\x1b[15~".to_vec(),
                6 => b"\x1b[17~".to_vec(),
                7 => b"\x1b[18~".to_vec(),
                8 => b"\x1b[19~".to_vec(),
                9 => b"\x1b[20~".to_vec(),
                10 => b"\x1b[21~".to_vec(),
                11 => b"\x1b[23~".to_vec(),
                12 => b"\x1b[24~".to_vec(),
                _ => panic!("no such function key F{n}"),
            },
        }
    }
}

/// Builder for a program run in a pty.
pub struct PtyCommand {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, OsString)>,
    env_remove: Vec<OsString>,
    env_clear: bool,
    cwd: Option<PathBuf>,
    cols: u16,
    rows: u16,
}

impl PtyCommand {
    /// `program` with the caller's environment plus `TERM=xterm-256color`,
    /// at 80×24, in the current directory.
    pub fn new(program: impl AsRef<OsStr>) -> Self {
        PtyCommand {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            env: Vec::new(),
            env_remove: Vec::new(),
            env_clear: false,
            cwd: None,
            cols: 80,
            rows: 24,
        }
    }

    pub fn arg(mut self, a: impl AsRef<OsStr>) -> Self {
        self.args.push(a.as_ref().to_os_string());
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.args
            .extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    pub fn env(mut self, k: impl AsRef<OsStr>, v: impl AsRef<OsStr>) -> Self {
        self.env
            .push((k.as_ref().to_os_string(), v.as_ref().to_os_string()));
        self
    }

    /// Add many variables, e.g. `common::isolated_env(home)`.
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env
                .push((k.as_ref().to_os_string(), v.as_ref().to_os_string()));
        }
        self
    }

    pub fn env_remove(mut self, k: impl AsRef<OsStr>) -> Self {
        self.env_remove.push(k.as_ref().to_os_string());
        self
    }

    /// Start from an empty environment (PATH is kept; TERM is set anyway).
    pub fn env_clear(mut self) -> Self {
        self.env_clear = true;
        self
    }

    pub fn cwd(mut self, dir: impl AsRef<Path>) -> Self {
        self.cwd = Some(dir.as_ref().to_path_buf());
        self
    }

    /// Terminal size in columns × rows.
    pub fn size(mut self, cols: u16, rows: u16) -> Self {
        self.cols = cols;
        self.rows = rows;
        self
    }

    /// Start the program; panics if the pty or the program cannot be started.
    pub fn spawn(self) -> Pty {
        self.try_spawn().unwrap_or_else(|e| panic!("{e}"))
    }

    pub fn try_spawn(self) -> Result<Pty, String> {
        let size = PtySize {
            rows: self.rows,
            cols: self.cols,
            pixel_width: 0,
            pixel_height: 0,
        };
        let pair = native_pty_system()
            .openpty(size)
            .map_err(|e| format!("openpty: {e}"))?;
        let mut cmd = CommandBuilder::new(&self.program);
        cmd.args(&self.args);
        if self.env_clear {
            let path = std::env::var_os("PATH");
            cmd.env_clear();
            if let Some(p) = path {
                cmd.env("PATH", p);
            }
        }
        for k in &self.env_remove {
            cmd.env_remove(k);
        }
        cmd.env("TERM", "xterm-256color");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let cwd = match &self.cwd {
            Some(d) => d.clone(),
            None => std::env::current_dir().map_err(|e| format!("current dir: {e}"))?,
        };
        cmd.cwd(&cwd);
        let started = Instant::now();
        let child = pair
            .slave
            .spawn_command(cmd)
            .map_err(|e| format!("spawn {:?} in pty: {e}", self.program))?;
        // Close our copy of the slave so the reader sees EOF when the
        // program (and everything it started on the terminal) is gone.
        drop(pair.slave);
        let pid = child
            .process_id()
            .ok_or_else(|| "pty child has no pid".to_string())? as libc::pid_t;
        // We reap the child ourselves with wait4 (to get its rusage).
        drop(child);

        let master = pair.master;
        let reader = master
            .try_clone_reader()
            .map_err(|e| format!("pty reader: {e}"))?;
        let writer = master
            .take_writer()
            .map_err(|e| format!("pty writer: {e}"))?;
        let shared = Arc::new((
            Mutex::new(Shared {
                parser: vt100::Parser::new(self.rows, self.cols, 0),
                scan: Scan::default(),
                raw_tail: Vec::new(),
                total_bytes: 0,
                eof: false,
                first_output: None,
            }),
            Condvar::new(),
        ));
        let thread_shared = Arc::clone(&shared);
        let reader_thread = std::thread::Builder::new()
            .name("pty-reader".into())
            .spawn(move || reader_loop(reader, thread_shared))
            .map_err(|e| format!("reader thread: {e}"))?;

        Ok(Pty {
            master,
            writer: Some(writer),
            pid,
            exit: None,
            rusage: None,
            shared,
            _reader: reader_thread,
            started,
            program: self.program,
        })
    }
}

/// Incremental scanner for the terminal-mode sequences we care about.
#[derive(Default, Debug, Clone)]
struct Scan {
    pending: Option<Vec<u8>>,
    /// Sequence number of each kind of event, 0 = never seen.
    counter: u64,
    alt_enter: u64,
    alt_leave: u64,
    cursor_hide: u64,
    cursor_show: u64,
    alt_enter_count: u32,
    alt_leave_count: u32,
}

impl Scan {
    fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            if b == 0x1b {
                self.pending = Some(vec![b]);
                continue;
            }
            let Some(p) = self.pending.as_mut() else {
                continue;
            };
            p.push(b);
            if p.len() == 2 && b != b'[' {
                self.pending = None;
                continue;
            }
            if p.len() > 2 && (0x40..=0x7e).contains(&b) {
                let seq = self.pending.take().unwrap();
                self.complete(&seq[2..]);
            } else if p.len() > 32 {
                self.pending = None;
            }
        }
    }

    /// `body` is what follows `ESC [`, final byte included.
    fn complete(&mut self, body: &[u8]) {
        let Some(rest) = body.strip_prefix(b"?") else {
            return;
        };
        let (params, fin) = rest.split_at(rest.len() - 1);
        let set = match fin {
            b"h" => true,
            b"l" => false,
            _ => return,
        };
        // Modes may be combined: ESC [ ? 1049 ; 25 h
        for param in params.split(|&c| c == b';') {
            self.counter += 1;
            let n = self.counter;
            match (param, set) {
                (b"1049", true) | (b"1047", true) | (b"47", true) => {
                    self.alt_enter = n;
                    self.alt_enter_count += 1;
                }
                (b"1049", false) | (b"1047", false) | (b"47", false) => {
                    self.alt_leave = n;
                    self.alt_leave_count += 1;
                }
                (b"25", false) => self.cursor_hide = n,
                (b"25", true) => self.cursor_show = n,
                _ => {}
            }
        }
    }
}

struct Shared {
    parser: vt100::Parser,
    scan: Scan,
    raw_tail: Vec<u8>,
    total_bytes: u64,
    eof: bool,
    first_output: Option<Instant>,
}

fn reader_loop(mut reader: Box<dyn Read + Send>, shared: Arc<(Mutex<Shared>, Condvar)>) {
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => 0,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // EIO once every slave fd is closed: that is EOF for a pty.
            Err(_) => 0,
        };
        let (lock, cond) = &*shared;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        if n == 0 {
            s.eof = true;
            cond.notify_all();
            return;
        }
        let chunk = &buf[..n];
        if s.first_output.is_none() {
            s.first_output = Some(Instant::now());
        }
        s.parser.process(chunk);
        s.scan.feed(chunk);
        s.total_bytes += n as u64;
        s.raw_tail.extend_from_slice(chunk);
        if s.raw_tail.len() > RAW_TAIL_LIMIT * 2 {
            let cut = s.raw_tail.len() - RAW_TAIL_LIMIT;
            s.raw_tail.drain(..cut);
        }
        cond.notify_all();
    }
}

/// Local modes of the terminal, read with `tcgetattr` on the pty master.
#[derive(Clone, Copy)]
pub struct Termios {
    pub raw: libc::termios,
}

impl Termios {
    pub fn echo(&self) -> bool {
        self.raw.c_lflag & libc::ECHO != 0
    }
    pub fn icanon(&self) -> bool {
        self.raw.c_lflag & libc::ICANON != 0
    }
    pub fn isig(&self) -> bool {
        self.raw.c_lflag & libc::ISIG != 0
    }
    pub fn icrnl(&self) -> bool {
        self.raw.c_iflag & libc::ICRNL != 0
    }
    pub fn opost(&self) -> bool {
        self.raw.c_oflag & libc::OPOST != 0
    }
    /// Raw mode is off: echo and canonical (line) mode are on.
    pub fn cooked(&self) -> bool {
        self.echo() && self.icanon()
    }
}

impl std::fmt::Debug for Termios {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Termios")
            .field("echo", &self.echo())
            .field("icanon", &self.icanon())
            .field("isig", &self.isig())
            .field("icrnl", &self.icrnl())
            .field("opost", &self.opost())
            .finish()
    }
}

/// How a program in the pty ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Code(i32),
    Signal(i32),
}

/// A program running in a pseudo-terminal.
pub struct Pty {
    master: Box<dyn MasterPty + Send>,
    writer: Option<Box<dyn Write + Send>>,
    pid: libc::pid_t,
    exit: Option<Exit>,
    rusage: Option<libc::rusage>,
    shared: Arc<(Mutex<Shared>, Condvar)>,
    _reader: JoinHandle<()>,
    started: Instant,
    program: OsString,
}

impl Pty {
    fn lock(&self) -> MutexGuard<'_, Shared> {
        self.shared.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Process id of the program (also its process group and session id).
    pub fn pid(&self) -> u32 {
        self.pid as u32
    }

    /// When the program was spawned.
    pub fn started(&self) -> Instant {
        self.started
    }

    /// When the first byte of output arrived.
    pub fn first_output(&self) -> Option<Instant> {
        self.lock().first_output
    }

    /// The screen as text, rows separated by newlines (trailing blanks trimmed).
    pub fn screen_text(&self) -> String {
        self.lock().parser.screen().contents()
    }

    /// The screen's rows, each exactly as wide as the terminal is.
    pub fn screen_rows(&self) -> Vec<String> {
        let s = self.lock();
        let (_, cols) = s.parser.screen().size();
        s.parser.screen().rows(0, cols).collect()
    }

    /// Run `f` on the parsed screen (e.g. `|s| s.alternate_screen()`,
    /// `|s| s.hide_cursor()`, `|s| s.cell(r, c).map(|c| c.bold())`).
    pub fn with_screen<R>(&self, f: impl FnOnce(&vt100::Screen) -> R) -> R {
        f(self.lock().parser.screen())
    }

    /// vt100: is the alternate screen active now?
    pub fn alternate_screen(&self) -> bool {
        self.with_screen(|s| s.alternate_screen())
    }

    /// vt100: is the cursor hidden now?
    pub fn hide_cursor(&self) -> bool {
        self.with_screen(|s| s.hide_cursor())
    }

    /// Cursor position (row, col), zero-based.
    pub fn cursor_position(&self) -> (u16, u16) {
        self.with_screen(|s| s.cursor_position())
    }

    /// A copy of the parsed screen at this moment.
    pub fn screen_snapshot(&self) -> vt100::Screen {
        self.lock().parser.screen().clone()
    }

    /// Block until `pred` holds for the screen, output ended, or `timeout`.
    /// The predicate is re-checked on every chunk of output.
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut pred: impl FnMut(&vt100::Screen) -> bool,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let (lock, cond) = &*self.shared;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if pred(s.parser.screen()) {
                return Ok(());
            }
            let now = Instant::now();
            if s.eof {
                return Err(format!(
                    "{what}: the program's output ended (it exited) first; screen:\n{}",
                    dump(s.parser.screen())
                ));
            }
            if now >= deadline {
                return Err(format!(
                    "{what}: timed out after {timeout:?}; screen:\n{}",
                    dump(s.parser.screen())
                ));
            }
            let (g, _) = cond
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|p| p.into_inner());
            s = g;
        }
    }

    /// Wait until `text` is on the screen. On timeout (or if the program's
    /// output ends first) the error holds a dump of the screen.
    pub fn wait_for(&self, text: &str, timeout: Duration) -> Result<(), String> {
        self.wait_until(&format!("waiting for {text:?}"), timeout, |s| {
            s.contents().contains(text)
        })
    }

    /// Wait until `text` is no longer on the screen.
    pub fn wait_for_gone(&self, text: &str, timeout: Duration) -> Result<(), String> {
        self.wait_until(&format!("waiting for {text:?} to go"), timeout, |s| {
            !s.contents().contains(text)
        })
    }

    /// Wait until the screen stops changing for `quiet` (at most `timeout`).
    pub fn wait_stable(&self, quiet: Duration, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let mut last = self.screen_text();
        let mut since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(10));
            let now = self.screen_text();
            if now != last {
                last = now;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return Ok(());
            }
            if Instant::now() >= deadline {
                return Err(format!(
                    "screen never settled within {timeout:?}; screen:\n{last}"
                ));
            }
        }
    }

    /// Write bytes to the terminal (what the user types).
    pub fn send(&mut self, bytes: impl AsRef<[u8]>) {
        let w = self
            .writer
            .as_mut()
            .expect("pty writer already closed (send_eof)");
        // A closed terminal (program gone) is not a test failure by itself.
        let _ = w.write_all(bytes.as_ref());
        let _ = w.flush();
    }

    /// Send one key. After Esc, pauses 50 ms so that the next key is not
    /// read as part of an escape sequence.
    pub fn send_key(&mut self, key: Key) {
        self.send(key.bytes());
        if key == Key::Esc {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Send several keys, `gap` apart.
    pub fn send_keys(&mut self, keys: &[Key], gap: Duration) {
        for &k in keys {
            self.send_key(k);
            if !gap.is_zero() {
                std::thread::sleep(gap);
            }
        }
    }

    /// Type `text` and press Enter (`\r`, as a terminal sends it).
    pub fn send_line(&mut self, text: &str) {
        self.send(text.as_bytes());
        self.send(b"\r");
    }

    pub fn send_q(&mut self) {
        self.send_key(Key::Char('q'));
    }
    pub fn send_help(&mut self) {
        self.send_key(Key::Char('?'));
    }
    /// Esc, then a pause: an Esc that reaches the console in the same read
    /// as the next key is parsed as Alt+key, as a terminal would send it.
    pub fn send_esc(&mut self) {
        self.send_key(Key::Esc);
        std::thread::sleep(std::time::Duration::from_millis(120));
    }
    pub fn send_tab(&mut self) {
        self.send_key(Key::Tab);
    }
    pub fn send_enter(&mut self) {
        self.send_key(Key::Enter);
    }
    pub fn send_up(&mut self) {
        self.send_key(Key::Up);
    }
    pub fn send_down(&mut self) {
        self.send_key(Key::Down);
    }
    pub fn send_left(&mut self) {
        self.send_key(Key::Left);
    }
    pub fn send_right(&mut self) {
        self.send_key(Key::Right);
    }
    pub fn send_ctrl_c(&mut self) {
        self.send_key(Key::Ctrl('c'));
    }

    /// Close our writing end (the program may see end of input / hangup).
    pub fn send_eof(&mut self) {
        self.writer = None;
    }

    /// Resize the terminal: the kernel sends SIGWINCH; the parser follows.
    pub fn resize(&mut self, cols: u16, rows: u16) {
        self.master
            .resize(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("resize pty");
        self.lock().parser.screen_mut().set_size(rows, cols);
    }

    /// Current terminal size (cols, rows) as the parser sees it.
    pub fn size(&self) -> (u16, u16) {
        let (rows, cols) = self.with_screen(|s| s.size());
        (cols, rows)
    }

    /// Send a signal to the program's process group (e.g. `libc::SIGHUP` to
    /// simulate an SSH drop, `libc::SIGTERM`).
    pub fn signal_group(&self, sig: libc::c_int) {
        unsafe {
            libc::kill(-self.pid, sig);
        }
    }

    /// Send a signal to the program only.
    pub fn signal(&self, sig: libc::c_int) {
        unsafe {
            libc::kill(self.pid, sig);
        }
    }

    /// Non-blocking: has the program exited? Reaps it.
    pub fn try_exit(&mut self) -> Option<Exit> {
        if self.exit.is_some() {
            return self.exit;
        }
        let mut status: libc::c_int = 0;
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        let r = unsafe { libc::wait4(self.pid, &mut status, libc::WNOHANG, &mut ru) };
        if r == self.pid {
            self.exit = Some(if libc::WIFEXITED(status) {
                Exit::Code(libc::WEXITSTATUS(status))
            } else if libc::WIFSIGNALED(status) {
                Exit::Signal(libc::WTERMSIG(status))
            } else {
                Exit::Code(-1)
            });
            self.rusage = Some(ru);
        } else if r < 0 {
            // ECHILD: reaped elsewhere; report unknown.
            self.exit = Some(Exit::Code(-1));
        }
        self.exit
    }

    /// Wait up to `timeout` for the program to exit, then (bounded) for the
    /// rest of its output. `Some(code)` if it exited normally; `None` on
    /// timeout or when killed by a signal (see [`Pty::exit_status`]).
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<i32> {
        match self.wait_exit_status(timeout)? {
            Exit::Code(c) => Some(c),
            Exit::Signal(_) => None,
        }
    }

    /// Like [`Pty::wait_exit`] but distinguishes signals.
    pub fn wait_exit_status(&mut self, timeout: Duration) -> Option<Exit> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.try_exit() {
                // Drain the output that was still in flight (bounded: a
                // grandchild may keep the terminal open).
                self.wait_output_end(Duration::from_secs(2));
                return Some(e);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// How the program ended, if it has (after `try_exit`/`wait_exit`).
    pub fn exit_status(&self) -> Option<Exit> {
        self.exit
    }

    /// Wait until every process holding the terminal closed it (reader EOF).
    pub fn wait_output_end(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (lock, cond) = &*self.shared;
        let mut s = lock.lock().unwrap_or_else(|p| p.into_inner());
        while !s.eof {
            let now = Instant::now();
            if now >= deadline {
                return false;
            }
            s = cond
                .wait_timeout(s, deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Peak resident set size in KiB from `wait4` after exit (includes
    /// descendants the program waited for), or `None` before exit.
    pub fn max_rss_kib(&self) -> Option<u64> {
        self.rusage.map(|r| r.ru_maxrss as u64)
    }

    /// VmHWM (peak RSS, KiB) of the running program from /proc, if readable.
    pub fn vm_hwm_kib(&self) -> Option<u64> {
        proc_status_kib(self.pid as u32, "VmHWM:")
    }

    /// Kill the program's whole process group with SIGKILL and reap it.
    pub fn kill(&mut self) {
        if self.try_exit().is_none() {
            unsafe {
                libc::kill(-self.pid, libc::SIGKILL);
                libc::kill(self.pid, libc::SIGKILL);
            }
            let _ = self.wait_exit_status(Duration::from_secs(5));
        }
    }

    /// Every byte the program wrote, in total.
    pub fn total_bytes(&self) -> u64 {
        self.lock().total_bytes
    }

    /// The last part (up to 256 KiB or more) of the raw output stream.
    pub fn raw_tail(&self) -> Vec<u8> {
        self.lock().raw_tail.clone()
    }

    /// Did the program ever switch to the alternate screen (`ESC[?1049h`)?
    pub fn alternate_screen_entered(&self) -> bool {
        self.lock().scan.alt_enter_count > 0
    }

    /// Was the alternate screen entered and, after the last entry, left
    /// again (`ESC[?1049l`)?
    pub fn alternate_screen_left(&self) -> bool {
        let s = self.lock();
        s.scan.alt_enter > 0 && s.scan.alt_leave > s.scan.alt_enter
    }

    /// (times entered, times left) of the alternate screen.
    pub fn alternate_screen_counts(&self) -> (u32, u32) {
        let s = self.lock();
        (s.scan.alt_enter_count, s.scan.alt_leave_count)
    }

    /// Was the cursor shown (`ESC[?25h`) after the last time it was hidden
    /// (`ESC[?25l`)? True if it was never hidden.
    pub fn cursor_visible_at_end(&self) -> bool {
        let s = self.lock();
        s.scan.cursor_show >= s.scan.cursor_hide
    }

    /// Did the program ever hide the cursor?
    pub fn cursor_was_hidden(&self) -> bool {
        self.lock().scan.cursor_hide > 0
    }

    /// Terminal modes of the pty now (works after the program exited, while
    /// we hold the master). `None` if the platform cannot tell.
    pub fn termios(&self) -> Option<Termios> {
        let fd = self.master.as_raw_fd()?;
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        if unsafe { libc::tcgetattr(fd, &mut t) } == 0 {
            Some(Termios { raw: t })
        } else {
            None
        }
    }

    /// Human summary of how the terminal was left, for assertion messages.
    pub fn restoration_report(&self) -> String {
        let (enter, leave) = self.alternate_screen_counts();
        format!(
            "{:?}: alt screen entered {enter}x left {leave}x (left at end: {}), \
             cursor visible at end: {}, termios: {:?}, exit: {:?}",
            self.program,
            self.alternate_screen_left(),
            self.cursor_visible_at_end(),
            self.termios(),
            self.exit
        )
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        // Never leave a program behind; the reader thread ends on its own
        // when the last process holding the terminal closes it.
        self.kill();
    }
}

/// A `key: value kB` field of /proc/<pid>/status.
pub fn proc_status_kib(pid: u32, field: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find(|l| l.starts_with(field))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Screen contents with a ruler, for error messages.
pub fn dump(screen: &vt100::Screen) -> String {
    let (rows, cols) = screen.size();
    let mut out = format!(
        "+{}+ ({cols}x{rows}, alt screen: {}, cursor hidden: {})\n",
        "-".repeat(cols as usize),
        screen.alternate_screen(),
        screen.hide_cursor()
    );
    for row in screen.rows(0, cols) {
        out.push('|');
        out.push_str(&row);
        let w = row.chars().count();
        if w < cols as usize {
            out.push_str(&" ".repeat(cols as usize - w));
        }
        out.push_str("|\n");
    }
    out.push_str(&format!("+{}+", "-".repeat(cols as usize)));
    out
}

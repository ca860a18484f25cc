//! Runs project scripts faithfully (SPEC §5).
//!
//! A script runs in its own process group with stdout and stderr merged,
//! in order, into one pipe. A supervisor thread reads the pipe with a fixed
//! 64 KiB buffer and, for every chunk:
//!
//! 1. masks secrets (see below);
//! 2. emits the masked text as [`RunEvent::Output`], ANSI escapes kept and
//!    partial lines included, so a prompt shows at once;
//! 3. writes it to the log file with ANSI escapes stripped and `\r`
//!    progress lines collapsed to what a terminal would finally show, through
//!    a `BufWriter`, hashing exactly the bytes written.
//!
//! When output pauses for [`PROMPT_PAUSE`] with an unterminated line, that
//! line is emitted as [`RunEvent::Prompt`]. Nothing accumulates: memory stays
//! bounded whatever the script prints (a line longer than [`LOG_LINE_CAP`]
//! is written to the log in pieces).
//!
//! **Input.** [`Answers::Closed`] gives the script `/dev/null`, so a script
//! waiting for input fails at once instead of hanging. [`Answers::Scripted`]
//! writes the answers one per line, then closes stdin. With
//! [`Answers::Interactive`] stdin stays open and [`RunHandle::answer`] writes
//! a line; the answer is also echoed into the output stream (events and
//! log), as a terminal would show it — a UI should not echo it again.
//!
//! **Ending.** Timeout, cancel and idle timeout send `SIGTERM` to the whole
//! process group, then `SIGKILL` after [`RunSpec::grace`], and say so in a
//! `guardrail: …` line in the output and in [`Outcome::notes`]. When the
//! script itself has exited but something it started in the background still
//! holds the pipe (`sleep 1000 &`), the runner drains for [`DRAIN_GRACE`],
//! then stops reading and kills the leftover process group. Background
//! processes that do not hold the pipe are left alone after a normal exit.
//!
//! **Masking.** Secrets are the values (8 characters or more) of environment
//! variables whose names contain `TOKEN`, `SECRET`, `PASSWORD`, `KEY` or
//! `AUTH`, from [`RunSpec::env`] and the inherited environment. Each value,
//! its standard and URL-safe base64 (padded and unpadded) and its
//! percent-encoded form (upper- and lower-case hex, `+` or `%20` for space),
//! its JSON-escaped form, and the base64 characters made of the secret's
//! bits alone at each of the three alignments (so `base64 user:$T` is
//! caught too) become `***` in events and in the log. A wrapped base64
//! (line breaks inside) is not recognised. The log is masked again as it is
//! stored — after escape codes are removed and carriage returns applied —
//! so `super\e[0msecret` or a `\r` overwrite cannot rebuild a secret on
//! disk. Shorter values are not masked and produce a warning at the head of
//! the log and in [`Outcome::notes`].
//!
//! Secrets split across reads at any offset are still masked: the masker
//! holds back the longest tail of what it has that is the beginning of a
//! pattern, and releases it only when the next bytes show it is not a secret.
//! That also holds across a prompt pause, which is the trade-off: if a prompt
//! happens to end with characters that begin a secret (or one of its
//! encodings), those few characters are shown only once more output comes or
//! the script ends. A partial secret is released, unmasked, only at the end
//! of the run — it never forms a whole secret.

use std::ffi::OsStr;
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use sha2::{Digest, Sha256};

/// How long output must pause on an unterminated line before it counts as a
/// prompt.
pub const PROMPT_PAUSE: Duration = Duration::from_millis(150);
/// How long to keep reading after the script exits while something else
/// still holds its output pipe.
pub const DRAIN_GRACE: Duration = Duration::from_millis(500);
/// A log line longer than this is written out in pieces so memory stays
/// bounded.
pub const LOG_LINE_CAP: usize = 1 << 20;
/// Secret values shorter than this are not masked (and warned about).
pub const MIN_SECRET_LEN: usize = 8;

const READ_BUF: usize = 256 * 1024;
/// The output pipe's capacity asked for (Linux caps it at
/// `/proc/sys/fs/pipe-max-size`, 1 MiB by default): a script printing fast
/// blocks less often on a reader that is a moment behind.
const PIPE_SIZE: libc::c_int = 1 << 20;
const TICK: Duration = Duration::from_millis(25);

/// What to run and how.
#[derive(Debug, Clone)]
pub struct RunSpec {
    /// The script. A relative path is taken relative to `cwd`.
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Working directory (the root of the checkout acted on).
    pub cwd: PathBuf,
    /// Variables added to (or overriding) the inherited environment.
    pub env: Vec<(String, String)>,
    pub answers: Answers,
    /// Overall limit, from start.
    pub timeout: Option<Duration>,
    /// Limit on time without any output.
    pub idle_timeout: Option<Duration>,
    /// Time between `SIGTERM` and `SIGKILL`.
    pub grace: Duration,
    /// Where the full output goes, masked and ANSI-stripped (truncated
    /// first; parent directories are created).
    pub log_path: PathBuf,
}

impl RunSpec {
    /// A spec with no arguments, no extra environment, stdin closed, no
    /// timeouts and a 5 s grace.
    pub fn new(
        program: impl Into<PathBuf>,
        cwd: impl Into<PathBuf>,
        log_path: impl Into<PathBuf>,
    ) -> RunSpec {
        RunSpec {
            program: program.into(),
            args: Vec::new(),
            cwd: cwd.into(),
            env: Vec::new(),
            answers: Answers::Closed,
            timeout: None,
            idle_timeout: None,
            grace: Duration::from_secs(5),
            log_path: log_path.into(),
        }
    }
}

/// Where the script's stdin comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answers {
    /// stdin is `/dev/null`: a script waiting on input fails.
    Closed,
    /// Written one per line, then stdin is closed.
    Scripted(Vec<String>),
    /// stdin stays open; answer through [`RunHandle::answer`].
    Interactive,
}

/// What the runner reports while the script runs.
#[derive(Debug, Clone, PartialEq)]
pub enum RunEvent {
    /// Masked output as it arrives, ANSI escapes kept, partial lines
    /// included. Chunks are split at UTF-8 character boundaries.
    Output(String),
    /// The unterminated last line (ANSI-stripped, `\r` applied) once output
    /// has paused for [`PROMPT_PAUSE`]: the script is probably waiting.
    Prompt(String),
    /// The last event.
    Finished(Outcome),
}

/// How a run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    /// The script's exit code, when it exited normally.
    pub exit_code: Option<i32>,
    /// The signal that ended it, when one did.
    pub signal: Option<i32>,
    pub timed_out: bool,
    /// Ended because it printed nothing for `idle_timeout`.
    pub idle_killed: bool,
    pub cancelled: bool,
    /// SHA-256 (hex) of the log file's bytes.
    pub log_sha256: String,
    pub log_bytes: u64,
    pub duration: Duration,
    /// The runner's own messages (secret warnings, TERM/KILL, leftovers,
    /// log trouble), also in the output and log.
    pub notes: Vec<String>,
    /// Set when the log could not be written in full.
    pub log_error: Option<String>,
}

impl Outcome {
    /// Exit code 0, not ended by the runner.
    pub fn success(&self) -> bool {
        self.exit_code == Some(0) && !self.timed_out && !self.idle_killed && !self.cancelled
    }
}

/// Why a script could not be started.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("the script {} does not exist", .0.display())]
    NotFound(PathBuf),
    #[error("the script {} is not executable (it needs the execute permission: chmod +x)", .0.display())]
    NotExecutable(PathBuf),
    #[error("the script {} cannot start: the interpreter on its #! line does not exist", .0.display())]
    BadInterpreter(PathBuf),
    #[error("the working directory {} does not exist", .0.display())]
    BadCwd(PathBuf),
    #[error("could not create the log file {}: {source}", path.display())]
    Log {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("could not start the script {}: {source}", path.display())]
    Spawn {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

impl RunError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

#[derive(Debug)]
struct Shared {
    pid: u32,
    cancel: AtomicBool,
    stdin: Mutex<Option<ChildStdin>>,
    /// Answers to echo into the stream, in order.
    echo: Mutex<Vec<u8>>,
}

/// Control over a running script; cheap to clone and send.
#[derive(Debug, Clone)]
pub struct RunHandle {
    inner: Arc<Shared>,
}

impl RunHandle {
    /// Write `line` and a newline to the script's stdin (interactive runs).
    /// Fails when stdin is not open (not interactive, closed, or the script
    /// has finished).
    pub fn answer(&self, line: &str) -> io::Result<()> {
        let mut stdin = self.inner.stdin.lock().unwrap_or_else(|e| e.into_inner());
        let Some(w) = stdin.as_mut() else {
            return Err(io::Error::new(
                io::ErrorKind::NotConnected,
                "the script's input is not open",
            ));
        };
        let mut bytes = line.trim_end_matches(['\r', '\n']).as_bytes().to_vec();
        bytes.push(b'\n');
        // Queue the echo before the script can react, so it lands before
        // whatever the script prints in response.
        self.inner
            .echo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(&bytes);
        w.write_all(&bytes)?;
        w.flush()
    }

    /// Close the script's stdin (it reads end-of-file).
    pub fn close_input(&self) {
        self.inner
            .stdin
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
    }

    /// End the run: TERM to the process group, KILL after the grace.
    pub fn cancel(&self) {
        self.inner.cancel.store(true, Ordering::SeqCst);
    }

    /// The script's pid, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.inner.pid
    }
}

// ---------------------------------------------------------------------------
// Secrets and masking

const SECRET_MARKERS: [&str; 5] = ["TOKEN", "SECRET", "PASSWORD", "KEY", "AUTH"];

/// Values of secret-looking variables (names containing TOKEN, SECRET,
/// PASSWORD, KEY or AUTH, any case) that are long enough to mask, and a
/// warning for each one that is not (non-empty but shorter than
/// [`MIN_SECRET_LEN`] characters). Warnings name the variable, never the
/// value.
pub fn secret_values_from_env(
    env: impl Iterator<Item = (String, String)>,
) -> (Vec<String>, Vec<String>) {
    let mut values: Vec<String> = Vec::new();
    let mut warned: Vec<String> = Vec::new();
    let mut warnings = Vec::new();
    for (name, value) in env {
        let upper = name.to_ascii_uppercase();
        if !SECRET_MARKERS.iter().any(|m| upper.contains(m)) || value.is_empty() {
            continue;
        }
        if value.chars().count() < MIN_SECRET_LEN {
            if !warned.contains(&name) {
                warnings.push(format!(
                    "guardrail: warning: {name} looks secret but its value is shorter than {MIN_SECRET_LEN} characters, so it is not masked"
                ));
                warned.push(name);
            }
        } else if !values.contains(&value) {
            values.push(value);
        }
    }
    (values, warnings)
}

/// `bytes` as text without a copy when they are valid UTF-8 (as a script's
/// output nearly always is); invalid sequences become U+FFFD.
fn utf8_lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `text` with every secret value (and its encoded forms, as in a script's
/// output) replaced by `***`: for text guardrail stores that did not come
/// through the runner, such as an alert command's stderr.
///
/// Masks the text as it is stored: escape sequences are removed first (a
/// colour code inside a secret does not hide it), and URL user-info becomes
/// `***` too ([`mask_url_userinfo`]).
pub fn mask_secrets(text: &str, secrets: &[String]) -> String {
    let text = strip_ansi(text);
    let mut masker = Masker::new(secrets);
    let mut out = Vec::with_capacity(text.len());
    masker.push(text.as_bytes(), &mut out);
    masker.finish(&mut out);
    mask_url_userinfo(&utf8_lossy(out))
}

/// `text` with the user-info of every URL in it (`http://user:pw@host/` →
/// `http://***@host/`) replaced by `***`.
pub fn mask_url_userinfo(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("://") {
        let (head, tail) = rest.split_at(i + 3);
        out.push_str(head);
        // The authority ends at the path, query, fragment or anything that
        // cannot be in a URL.
        let end = tail
            .find(|c: char| {
                matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | '\\')
                    || c.is_whitespace()
                    || c.is_control()
            })
            .unwrap_or(tail.len());
        match tail[..end].rfind('@') {
            Some(at) => {
                out.push_str("***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.push_str(rest);
    out
}

fn base64(data: &[u8], url_safe: bool, pad: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

fn percent_encode(data: &[u8], lower: bool, plus_for_space: bool) -> String {
    let mut out = String::new();
    for &b in data {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else if b == b' ' && plus_for_space {
            out.push('+');
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every byte pattern masked for `secret`.
fn patterns_for(secret: &str) -> Vec<Vec<u8>> {
    let raw = secret.as_bytes();
    let mut pats = vec![
        raw.to_vec(),
        base64(raw, false, true).into_bytes(),
        base64(raw, false, false).into_bytes(),
        base64(raw, true, true).into_bytes(),
        base64(raw, true, false).into_bytes(),
        percent_encode(raw, false, false).into_bytes(),
        percent_encode(raw, true, false).into_bytes(),
        percent_encode(raw, false, true).into_bytes(),
        percent_encode(raw, true, true).into_bytes(),
    ];
    // Base64 of the secret anywhere inside encoded data (`user:secret`):
    // for each of the three alignments, the characters made of the
    // secret's bits alone.
    for k in 0..3 {
        let mut data = vec![0u8; k];
        data.extend_from_slice(raw);
        data.extend_from_slice(&[0, 0]);
        let (start, end) = ((8 * k).div_ceil(6), 8 * (k + raw.len()) / 6);
        for url_safe in [false, true] {
            let enc = base64(&data, url_safe, false);
            pats.push(enc.as_bytes()[start..end].to_vec());
        }
    }
    // JSON-escaped, as the secret stands inside a JSON string.
    let json = serde_json::to_string(secret).expect("a string serialises");
    let json = &json[1..json.len() - 1];
    pats.push(json.as_bytes().to_vec());
    pats.push(json.replace('/', "\\/").into_bytes());
    pats.sort();
    pats.dedup();
    pats
}

/// Streaming replacement of secret patterns by `***`.
struct Masker {
    /// Every pattern with its searcher (SIMD `memmem`): text without a
    /// secret in it, the usual case, is passed over a chunk at a time
    /// instead of byte by byte.
    patterns: Vec<(Vec<u8>, memchr::memmem::Finder<'static>)>,
    max_len: usize,
    pending: Vec<u8>,
}

impl Masker {
    fn new(secrets: &[String]) -> Masker {
        let mut unique: Vec<Vec<u8>> = Vec::new();
        for s in secrets {
            for p in patterns_for(s) {
                if !p.is_empty() && !unique.contains(&p) {
                    unique.push(p);
                }
            }
        }
        let max_len = unique.iter().map(Vec::len).max().unwrap_or(0);
        let patterns = unique
            .into_iter()
            .map(|p| {
                let finder = memchr::memmem::Finder::new(&p).into_owned();
                (p, finder)
            })
            .collect();
        Masker {
            patterns,
            max_len,
            pending: Vec::new(),
        }
    }

    fn is_empty(&self) -> bool {
        self.max_len == 0
    }

    /// Start of the longest suffix of `buf` that is a proper beginning of
    /// some pattern (`buf.len()` when there is none).
    fn retain_from(&self, buf: &[u8]) -> usize {
        let n = buf.len();
        let start = n.saturating_sub(self.max_len.saturating_sub(1));
        (start..n)
            .find(|&j| {
                let tail = &buf[j..];
                self.patterns
                    .iter()
                    .any(|(p, _)| p.len() > tail.len() && p.starts_with(tail))
            })
            .unwrap_or(n)
    }

    /// Copies `buf` to `out` up to `upto`, each secret starting before it
    /// (the longest one where several start at the same byte) replaced by
    /// `***`, left to right; returns how far `buf` was consumed (past
    /// `upto` when a secret straddles it).
    fn replace(&self, buf: &[u8], upto: usize, out: &mut Vec<u8>) -> usize {
        // Where each pattern next occurs at or after `at` (None: not again).
        let mut next: Vec<Option<usize>> = self.patterns.iter().map(|(_, f)| f.find(buf)).collect();
        let mut at = 0;
        // The leftmost next occurrence, the longest pattern there: every
        // pattern occurring at `start` has it as its next place.
        while let Some((start, std::cmp::Reverse(len))) = next
            .iter()
            .zip(&self.patterns)
            .filter_map(|(n, (p, _))| {
                n.filter(|&s| s < upto)
                    .map(|s| (s, std::cmp::Reverse(p.len())))
            })
            .min()
        {
            out.extend_from_slice(&buf[at..start]);
            out.extend_from_slice(b"***");
            at = start + len;
            for ((_, finder), n) in self.patterns.iter().zip(next.iter_mut()) {
                if n.is_some_and(|s| s < at) {
                    *n = finder.find(&buf[at..]).map(|s| s + at);
                }
            }
        }
        if at < upto {
            out.extend_from_slice(&buf[at..upto]);
            at = upto;
        }
        at
    }

    /// Mask what can be decided now; keep back a possible secret's start.
    fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.is_empty() {
            out.extend_from_slice(data);
            return;
        }
        if self.pending.is_empty() {
            // Nothing held back: mask `data` where it is, keep its tail.
            let keep = self.retain_from(data);
            let done = self.replace(data, keep, out);
            self.pending.extend_from_slice(&data[done..]);
            return;
        }
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(data);
        let keep = self.retain_from(&buf);
        let done = self.replace(&buf, keep, out);
        buf.drain(..done);
        self.pending = buf;
    }

    /// End of stream: mask and release everything.
    fn finish(&mut self, out: &mut Vec<u8>) {
        let buf = std::mem::take(&mut self.pending);
        self.replace(&buf, buf.len(), out);
    }
}

// ---------------------------------------------------------------------------
// ANSI and carriage returns

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
enum AnsiState {
    #[default]
    Normal,
    Esc,
    EscIntermediate,
    Csi,
    /// OSC, DCS, SOS, PM, APC: until BEL or ESC \.
    Str,
    StrEsc,
}

/// Byte-at-a-time escape-sequence stripper (state survives chunk edges).
#[derive(Debug, Default)]
struct AnsiStripper {
    state: AnsiState,
    /// Bytes swallowed in the current string sequence (bounded).
    str_len: usize,
}

impl AnsiStripper {
    fn step(&mut self, b: u8) -> Option<u8> {
        use AnsiState::*;
        match self.state {
            Normal => match b {
                0x1b => {
                    self.state = Esc;
                    None
                }
                0x07 => None,
                _ => Some(b),
            },
            Esc => {
                self.state = match b {
                    b'[' => Csi,
                    b']' | b'P' | b'X' | b'^' | b'_' => {
                        self.str_len = 0;
                        Str
                    }
                    0x20..=0x2f => EscIntermediate,
                    _ => Normal,
                };
                None
            }
            EscIntermediate => {
                if !(0x20..=0x2f).contains(&b) {
                    self.state = Normal;
                }
                None
            }
            Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.state = Normal;
                }
                None
            }
            Str | StrEsc => {
                self.str_len += 1;
                self.state = match (self.state, b) {
                    (_, 0x07) => Normal,
                    (StrEsc, b'\\') => Normal,
                    (_, 0x1b) => StrEsc,
                    _ => Str,
                };
                // An unterminated string must not swallow the whole output.
                if self.str_len > 4096 {
                    self.state = Normal;
                }
                None
            }
        }
    }
}

/// `s` without ANSI escape sequences (CSI such as colours and cursor moves,
/// OSC such as titles and hyperlinks, other ESC sequences) and BEL.
pub fn strip_ansi(s: &str) -> String {
    let bytes = s.as_bytes();
    let Some(first) = memchr::memchr2(0x1b, 0x07, bytes) else {
        return s.to_string();
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut st = AnsiStripper::default();
    let mut i = first;
    while i < bytes.len() {
        if st.state == AnsiState::Normal {
            // Copy a run of plain bytes at once.
            let run = memchr::memchr2(0x1b, 0x07, &bytes[i..]).unwrap_or(bytes.len() - i);
            out.extend_from_slice(&bytes[i..i + run]);
            i += run;
            if i >= bytes.len() {
                break;
            }
        }
        if let Some(b) = st.step(bytes[i]) {
            out.push(b);
        }
        i += 1;
    }
    // Only whole sequences of ASCII bytes were taken out of valid UTF-8.
    utf8_lossy(out)
}

/// A piece of text with escape codes, as [`escape_pieces`] cuts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscapePiece<'a> {
    /// Text between escape sequences (BEL removed).
    Text(std::borrow::Cow<'a, str>),
    /// The parameters of an SGR sequence (`ESC [ params m`): a colour or
    /// style change.
    Sgr(&'a str),
}

/// `s` cut into text and SGR sequences by the same state machine as
/// [`strip_ansi`] (so the pane and the log drop the same bytes): every other
/// sequence (cursor moves, OSC titles and links, DCS, SOS, PM, APC strings)
/// is left out whole.
pub fn escape_pieces(s: &str) -> Vec<EscapePiece<'_>> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut st = AnsiStripper::default();
    let mut text = Vec::new();
    let mut seq_start = 0;
    let flush = |text: &mut Vec<u8>, out: &mut Vec<EscapePiece<'_>>| {
        if !text.is_empty() {
            out.push(EscapePiece::Text(std::borrow::Cow::Owned(utf8_lossy(
                std::mem::take(text),
            ))));
        }
    };
    for (i, &b) in bytes.iter().enumerate() {
        let before = st.state;
        if let Some(b) = st.step(b) {
            text.push(b);
            continue;
        }
        if before == AnsiState::Normal && b == 0x1b {
            seq_start = i;
        }
        if before == AnsiState::Csi && st.state == AnsiState::Normal && b == b'm' {
            flush(&mut text, &mut out);
            // Between `ESC [` and the final byte: ASCII, so a char boundary.
            out.push(EscapePiece::Sgr(&s[seq_start + 2..i]));
        }
    }
    flush(&mut text, &mut out);
    out
}

/// The line a terminal finally shows for `line` containing `\r`: each `\r`
/// returns to column 0 and later characters overwrite earlier ones
/// (`"10%\r100%"` → `"100%"`, `"abcdef\rXY"` → `"XYcdef"`). A trailing
/// `\r` (as in `\r\n`) changes nothing.
pub fn apply_carriage_returns(line: &str) -> String {
    if !line.contains('\r') {
        return line.to_string();
    }
    let mut cells: Vec<char> = Vec::with_capacity(line.len());
    let mut col = 0;
    for c in line.chars() {
        if c == '\r' {
            col = 0;
        } else {
            if col < cells.len() {
                cells[col] = c;
            } else {
                cells.push(c);
            }
            col += 1;
        }
    }
    cells.into_iter().collect()
}

// ---------------------------------------------------------------------------
// Log file

struct LogSink {
    w: Option<BufWriter<File>>,
    /// Masks the text as stored: after escape codes are removed and
    /// carriage returns applied, so neither can hide a secret.
    masker: Masker,
    masked: Vec<u8>,
    /// The current line lost bytes to the escape-code stripper: what is
    /// stored differs from what the stream masker saw.
    stripped: bool,
    hasher: Sha256,
    bytes: u64,
    ansi: AnsiStripper,
    line: Vec<u8>,
    has_cr: bool,
    error: Option<String>,
}

impl LogSink {
    fn new(file: File, masker: Masker) -> LogSink {
        LogSink {
            w: Some(BufWriter::with_capacity(64 * 1024, file)),
            masker,
            masked: Vec::new(),
            stripped: false,
            hasher: Sha256::new(),
            bytes: 0,
            ansi: AnsiStripper::default(),
            line: Vec::new(),
            has_cr: false,
            error: None,
        }
    }

    fn write_out(&mut self, data: &[u8]) {
        let Some(w) = self.w.as_mut() else { return };
        match w.write_all(data) {
            Ok(()) => {
                self.hasher.update(data);
                self.bytes += data.len() as u64;
            }
            Err(e) => {
                self.error = Some(e.to_string());
                self.w = None;
            }
        }
    }

    fn emit_line(&mut self, newline: bool) {
        let mut line = std::mem::take(&mut self.line);
        // Stored exactly as the stream masker passed it: a whole line with
        // nothing stripped and no carriage return holds no secret it did
        // not mask (nor half of one, the masker holding nothing back).
        let as_streamed = !self.stripped && !self.has_cr && newline;
        self.stripped = false;
        if self.has_cr {
            line = apply_carriage_returns(&String::from_utf8_lossy(&line)).into_bytes();
            self.has_cr = false;
        }
        if newline {
            line.push(b'\n');
        }
        if self.masker.is_empty() || (as_streamed && self.masker.pending.is_empty()) {
            self.write_out(&line);
        } else {
            let mut masked = std::mem::take(&mut self.masked);
            masked.clear();
            self.masker.push(&line, &mut masked);
            self.write_out(&masked);
            self.masked = masked;
        }
        line.clear();
        self.line = line;
    }

    fn feed(&mut self, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            if self.ansi.state == AnsiState::Normal {
                // Copy a run of plain bytes at once.
                let rest = &data[i..];
                let plain = rest
                    .iter()
                    .position(|&b| matches!(b, 0x1b | 0x07 | b'\n' | b'\r'))
                    .unwrap_or(rest.len());
                let take = plain.min(LOG_LINE_CAP - self.line.len());
                self.line.extend_from_slice(&rest[..take]);
                i += take;
                if self.line.len() >= LOG_LINE_CAP {
                    self.emit_line(false);
                }
                if take < plain || i >= data.len() {
                    continue;
                }
            }
            let b = data[i];
            i += 1;
            let Some(b) = self.ansi.step(b) else {
                self.stripped = true;
                continue;
            };
            match b {
                b'\n' => self.emit_line(true),
                _ => {
                    if b == b'\r' {
                        self.has_cr = true;
                    }
                    self.line.push(b);
                    if self.line.len() >= LOG_LINE_CAP {
                        self.emit_line(false);
                    }
                }
            }
        }
    }

    /// Write what is buffered. The supervisor calls this whenever the
    /// script's output is drained, so whole lines reach the disk as they
    /// come and `guardrail jobs attach` or a console started later can
    /// follow a running job; a script printing faster than it is read fills
    /// the buffer instead of costing a write per read.
    fn flush(&mut self) {
        if let Some(w) = self.w.as_mut() {
            if let Err(e) = w.flush() {
                self.error = Some(e.to_string());
                self.w = None;
            }
        }
    }

    /// The unterminated line as a terminal shows it.
    fn current_line(&self) -> String {
        apply_carriage_returns(&String::from_utf8_lossy(&self.line))
    }

    fn finish(mut self) -> (String, u64, Option<String>) {
        if !self.line.is_empty() {
            self.emit_line(false);
        }
        let mut rest = Vec::new();
        self.masker.finish(&mut rest);
        self.write_out(&rest);
        if let Some(w) = self.w.take() {
            match w.into_inner() {
                Ok(f) => {
                    if let Err(e) = f.sync_all() {
                        self.error.get_or_insert(e.to_string());
                    }
                }
                Err(e) => {
                    self.error.get_or_insert(e.error().to_string());
                }
            }
        }
        (hex::encode(self.hasher.finalize()), self.bytes, self.error)
    }
}

// ---------------------------------------------------------------------------
// Spawning

/// Number of bytes at the end of `buf` that begin a UTF-8 character not yet
/// complete.
fn incomplete_utf8_tail(buf: &[u8]) -> usize {
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

fn fmt_duration(d: Duration) -> String {
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

fn make_pipe() -> io::Result<(File, OwnedFd)> {
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

fn resolve_program(spec: &RunSpec) -> Result<PathBuf, RunError> {
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

fn group_alive(pgid: i32) -> bool {
    // SAFETY: kill with signal 0 only checks for existence.
    unsafe { libc::kill(-pgid, 0) == 0 }
}

fn signal_group(pgid: i32, sig: libc::c_int) {
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
    let mut child = spawn_retrying(&mut cmd).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound if program.exists() => RunError::BadInterpreter(program.clone()),
        io::ErrorKind::NotFound => RunError::NotFound(program.clone()),
        io::ErrorKind::PermissionDenied => RunError::NotExecutable(program.clone()),
        _ => spawn_err(e),
    })?;
    // Close our copies of the pipe's write end, or we would never see EOF.
    drop(cmd);

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
fn spawn_retrying(cmd: &mut Command) -> io::Result<Child> {
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
enum EndReason {
    Timeout,
    Idle,
    Cancel,
}

struct Supervisor {
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
        (self.on_event)(RunEvent::Finished(outcome.clone()));
        outcome
    }
}

impl fmt::Display for Outcome {
    /// `exit 0 in 1.2s`, `timed out (signal 15) in 15m`, …
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let how = if self.timed_out {
            "timed out".to_string()
        } else if self.idle_killed {
            "ended after no output".to_string()
        } else if self.cancelled {
            "cancelled".to_string()
        } else {
            String::new()
        };
        let end = match (self.exit_code, self.signal) {
            (Some(c), _) => format!("exit {c}"),
            (None, Some(s)) => format!("signal {s}"),
            (None, None) => "unknown end".to_string(),
        };
        if how.is_empty() {
            write!(f, "{end} in {}", fmt_duration(self.duration))
        } else {
            write!(f, "{how} ({end}) in {}", fmt_duration(self.duration))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mask_all(secrets: &[&str], chunks: &[&[u8]]) -> Vec<u8> {
        let secrets: Vec<String> = secrets.iter().map(|s| s.to_string()).collect();
        let mut m = Masker::new(&secrets);
        let mut out = Vec::new();
        for c in chunks {
            m.push(c, &mut out);
        }
        m.finish(&mut out);
        out
    }

    #[test]
    fn base64_matches_known_values() {
        assert_eq!(
            base64(b"abcdef123456789", false, true),
            "YWJjZGVmMTIzNDU2Nzg5"
        );
        assert_eq!(base64(b"ab", false, true), "YWI=");
        assert_eq!(base64(b"ab", false, false), "YWI");
        assert_eq!(base64(b"\xfb\xff", false, true), "+/8=");
        assert_eq!(base64(b"\xfb\xff", true, true), "-_8=");
    }

    #[test]
    fn percent_encoding() {
        assert_eq!(
            percent_encode(b"p@ss w/rd", false, false),
            "p%40ss%20w%2Frd"
        );
        assert_eq!(percent_encode(b"p@ss w/rd", true, true), "p%40ss+w%2frd");
    }

    #[test]
    fn masking_at_every_split_offset() {
        let s = "abcdef123456789";
        let text = format!("x {s} y {} z\n", base64(s.as_bytes(), false, true));
        let bytes = text.as_bytes();
        for cut in 0..=bytes.len() {
            let out = mask_all(&[s], &[&bytes[..cut], &bytes[cut..]]);
            assert_eq!(
                String::from_utf8(out).unwrap(),
                "x *** y *** z\n",
                "cut {cut}"
            );
        }
        // One byte at a time.
        let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
        assert_eq!(mask_all(&[s], &chunks), b"x *** y *** z\n");
    }

    /// The masking rule, one byte at a time: where a pattern starts, the
    /// longest one starting there becomes `***`.
    fn mask_byte_by_byte(secrets: &[&str], text: &[u8]) -> Vec<u8> {
        let mut pats: Vec<Vec<u8>> = secrets.iter().flat_map(|s| patterns_for(s)).collect();
        pats.sort_by_key(|p| std::cmp::Reverse(p.len()));
        let mut out = Vec::new();
        let mut i = 0;
        while i < text.len() {
            match pats.iter().find(|p| text[i..].starts_with(p)) {
                Some(p) => {
                    out.extend_from_slice(b"***");
                    i += p.len();
                }
                None => {
                    out.push(text[i]);
                    i += 1;
                }
            }
        }
        out
    }

    proptest::proptest! {
        /// Secrets that overlap themselves and each other, and their
        /// encodings, in text cut into chunks anywhere: the streaming masker
        /// gives what the byte-by-byte rule gives.
        #[test]
        fn streaming_masking_is_the_byte_by_byte_rule(
            pieces in proptest::collection::vec(0usize..7, 0..60),
            cuts in proptest::collection::vec(0usize..400, 0..8),
        ) {
            let secrets = ["abcabcab", "abcabcabcab", "cab@x.org1"];
            let fragments: [&[u8]; 7] =
                [b"abc", b"ab", b"cab@x.org1", b"YWJjYWJjYWI", b"cab%40x", b".org", b" \n"];
            let text: Vec<u8> = pieces.iter().flat_map(|&i| fragments[i].to_vec()).collect();
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut from = 0;
            for c in cuts {
                chunks.push(&text[from..c]);
                from = c;
            }
            chunks.push(&text[from..]);
            proptest::prop_assert_eq!(
                mask_all(&secrets, &chunks),
                mask_byte_by_byte(&secrets, &text)
            );
        }
    }

    /// What the runner stores for `chunks` of a script's output: the
    /// stream masker, then the log (escapes removed, carriage returns
    /// applied, masked again as stored).
    fn stored(secrets: &[String], chunks: &[&[u8]]) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.log");
        let mut stream = Masker::new(secrets);
        let mut log = LogSink::new(File::create(&path).unwrap(), Masker::new(secrets));
        for c in chunks {
            let mut m = Vec::new();
            stream.push(c, &mut m);
            log.feed(&m);
        }
        let mut m = Vec::new();
        stream.finish(&mut m);
        log.feed(&m);
        let (_, _, err) = log.finish();
        assert!(err.is_none());
        std::fs::read(&path).unwrap()
    }

    /// Every form of `secret` that must never be stored: itself, its
    /// base64 at each of the three alignments (the characters made of the
    /// secret's bits alone), percent- and JSON-escaped.
    fn forbidden_forms(secret: &str) -> Vec<Vec<u8>> {
        let raw = secret.as_bytes();
        let mut forms = vec![raw.to_vec()];
        for k in 0..3 {
            let mut data = vec![b'u'; k];
            data.extend_from_slice(raw);
            data.extend_from_slice(b"zz");
            let (start, end) = ((8 * k).div_ceil(6), 8 * (k + raw.len()) / 6);
            for url_safe in [false, true] {
                forms.push(base64(&data, url_safe, false).as_bytes()[start..end].to_vec());
            }
        }
        for (lower, plus) in [(false, false), (true, false), (false, true), (true, true)] {
            forms.push(percent_encode(raw, lower, plus).into_bytes());
        }
        let json = serde_json::to_string(secret).unwrap();
        forms.push(json.as_bytes()[1..json.len() - 1].to_vec());
        forms
    }

    #[test]
    fn the_issue_14_leaks_are_masked_in_the_stored_log() {
        let s = "supersecret123".to_string();
        let text = format!(
            "color super\x1b[0msecret123 done\nbasic {}\nover XXXXXsecret123\rsuper\njson {}\n",
            base64(b"user:supersecret123", false, true),
            serde_json::to_string("a\"supersecret123").unwrap(),
        );
        let out = String::from_utf8(stored(std::slice::from_ref(&s), &[text.as_bytes()])).unwrap();
        for f in forbidden_forms(&s) {
            assert!(memchr::memmem::find(out.as_bytes(), &f).is_none(), "{out}");
        }
        assert!(out.contains("color *** done"), "{out}");
        assert_eq!(
            mask_url_userinfo("GET http://user:pw@host:8/x and https://h/y@z ftp://a@b"),
            "GET http://***@host:8/x and https://h/y@z ftp://***@b"
        );
        assert_eq!(
            mask_secrets("err: super\x1b[1msecret123 at https://u:p@h/", &[s]),
            "err: *** at https://***@h/"
        );
    }

    proptest::proptest! {
        /// Random secrets in random bytes, in any of the forms, with an
        /// escape code or a carriage-return overwrite hiding the raw one,
        /// cut into chunks anywhere: the stored log holds none of the
        /// secret's forms.
        #[test]
        fn no_form_of_a_secret_reaches_the_stored_log(
            secret in "[A-Za-z0-9/+=:@%\"\\\\_.-]{8,24}",
            before in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            after in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..40),
            form in 0usize..6,
            at in 0usize..24,
            align in 0usize..3,
            cuts in proptest::collection::vec(0usize..400, 0..8),
        ) {
            let raw = secret.as_bytes();
            let cut_at = at.min(raw.len());
            let embedded: Vec<u8> = match form {
                0 => raw.to_vec(),
                1 => [&raw[..cut_at], b"\x1b[0m".as_slice(), &raw[cut_at..]].concat(),
                2 => {
                    let mut data = before[..align.min(before.len())].to_vec();
                    data.extend_from_slice(raw);
                    data.extend_from_slice(&after[..after.len().min(2)]);
                    base64(&data, align == 1, align == 2).into_bytes()
                }
                3 => percent_encode(raw, align == 1, align == 2).into_bytes(),
                4 => serde_json::to_string(&secret).unwrap().into_bytes(),
                _ => {
                    // Shown by a carriage return over a line that held its tail.
                    let mut v = vec![b'#'; cut_at];
                    v.extend_from_slice(&raw[cut_at..]);
                    v.push(b'\r');
                    v.extend_from_slice(&raw[..cut_at]);
                    v
                }
            };
            let mut text = before.clone();
            text.push(b'\n');
            text.extend_from_slice(&embedded);
            text.push(b'\n');
            text.extend_from_slice(&after);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(text.len())).collect();
            cuts.sort();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut from = 0;
            for c in cuts {
                chunks.push(&text[from..c]);
                from = c;
            }
            chunks.push(&text[from..]);
            let out = stored(std::slice::from_ref(&secret), &chunks);
            for f in forbidden_forms(&secret) {
                proptest::prop_assert!(
                    memchr::memmem::find(&out, &f).is_none(),
                    "{:?} in {:?}",
                    String::from_utf8_lossy(&f),
                    String::from_utf8_lossy(&out)
                );
            }
        }
    }

    #[test]
    fn masker_releases_non_secret_tails_at_once() {
        let mut m = Masker::new(&["abcdef123456789".to_string()]);
        let mut out = Vec::new();
        m.push(b"Continue? [yes/no]: ", &mut out);
        assert_eq!(out, b"Continue? [yes/no]: ");
        out.clear();
        m.push(b"token abcdef", &mut out);
        assert_eq!(out, b"token ");
        m.push(b"123456789!", &mut out);
        assert_eq!(out, b"token ***!");
    }

    #[test]
    fn ansi_and_carriage_returns() {
        assert_eq!(
            strip_ansi("\x1b[1;31mred\x1b[0m \x1b]0;title\x07ok\x1b(B"),
            "red ok"
        );
        assert_eq!(
            strip_ansi("\x1b]8;;http://x\x1b\\link\x1b]8;;\x1b\\"),
            "link"
        );
        assert_eq!(apply_carriage_returns("10%\r50%\r100%"), "100%");
        assert_eq!(apply_carriage_returns("abcdef\rXY"), "XYcdef");
        assert_eq!(apply_carriage_returns("done\r"), "done");
        assert_eq!(apply_carriage_returns("plain"), "plain");
    }

    #[test]
    fn one_stripper_for_csi_osc_dcs_apc() {
        // CSI (colour, cursor), OSC (title by BEL, link by ST), DCS and APC
        // strings by ST, SOS and PM: none of their text survives.
        let raw = "a\x1b[1;31mb\x1b[2Kc\x1b]0;title\x07d\x1b]8;;http://x\x1b\\e\
                   \x1bPq#0;2;0;0;0\x1b\\f\x1b_Gf=100;AAAA\x1b\\g\x1bXsos\x1b\\h\x1b^pm\x1b\\i\x1b[0m";
        assert_eq!(strip_ansi(raw), "abcdefghi");
        let pieces = escape_pieces(raw);
        let text: String = pieces
            .iter()
            .filter_map(|p| match p {
                EscapePiece::Text(t) => Some(t.as_ref()),
                EscapePiece::Sgr(_) => None,
            })
            .collect();
        assert_eq!(text, strip_ansi(raw));
        let sgr: Vec<&str> = pieces
            .iter()
            .filter_map(|p| match p {
                EscapePiece::Sgr(s) => Some(*s),
                EscapePiece::Text(_) => None,
            })
            .collect();
        assert_eq!(sgr, ["1;31", "0"]);
        // Multi-byte text around sequences is kept whole.
        assert_eq!(strip_ansi("é\x1bPdcs\x1b\\ü"), "éü");
    }

    #[test]
    fn utf8_tail() {
        let s = "é€😀".as_bytes();
        assert_eq!(incomplete_utf8_tail(s), 0);
        assert_eq!(incomplete_utf8_tail(&s[..1]), 1);
        assert_eq!(incomplete_utf8_tail(&s[..4]), 2);
        assert_eq!(incomplete_utf8_tail(&s[..8]), 3);
        assert_eq!(incomplete_utf8_tail(b"abc"), 0);
    }

    #[test]
    fn durations() {
        assert_eq!(fmt_duration(Duration::from_secs(900)), "15m");
        assert_eq!(fmt_duration(Duration::from_secs(5400)), "1h30m");
        assert_eq!(fmt_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(fmt_duration(Duration::from_millis(300)), "300ms");
        assert_eq!(fmt_duration(Duration::from_secs(2)), "2s");
    }

    #[test]
    fn handle_is_clone_and_send() {
        fn check<T: Clone + Send + Sync + 'static>() {}
        check::<RunHandle>();
    }

    #[test]
    fn secrets_from_env() {
        let env = vec![
            (
                "NETLIFY_AUTH_TOKEN".to_string(),
                "abcdef123456789".to_string(),
            ),
            ("db_password".to_string(), "hunter2".to_string()),
            ("PATH".to_string(), "/usr/bin:/bin".to_string()),
            ("API_KEY".to_string(), String::new()),
        ];
        let (values, warnings) = secret_values_from_env(env.into_iter());
        assert_eq!(values, vec!["abcdef123456789".to_string()]);
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].contains("db_password"));
        assert!(!warnings[0].contains("hunter2"));
    }
}

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
//!
//! URL user-info (`https://user:token@host` → `https://***@host`) is masked
//! the same way, in events and in the log, by the one rule
//! [`mask_url_userinfo`] also applies to the audit chain and alert output: a
//! URL whose authority has not ended yet (no `/`, `?`, `#`, quote or space
//! after the host) is held back until it ends, so one split across reads is
//! masked whole. An authority longer than 64 KiB is released as it stands.

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

mod escape;
mod log_sink;
mod masking;
mod supervisor;

pub use escape::*;
use log_sink::*;
pub use masking::*;
pub use supervisor::*;

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

    /// End the run: TERM to the process group, KILL after the grace.
    pub fn cancel(&self) {
        self.inner.cancel.store(true, Ordering::SeqCst);
    }

    /// The script's pid, which is also its process group id.
    pub fn pid(&self) -> u32 {
        self.inner.pid
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

    /// A URL with user-info cut anywhere into two or three reads: the
    /// events and the stored log are what the one rule gives for the whole
    /// text, with or without secrets to mask as well.
    #[test]
    fn url_user_info_split_across_reads_is_masked() {
        let text = "clone https://deployer:hunter2pw@127.0.0.1:8/x.git and ftp://a:b@c\n\
                    push https://u:p@h?q=1 'http://x:y@z' é:https://é:ü@ø\n";
        let want = mask_url_userinfo(text);
        assert!(!want.contains("hunter2pw") && want.contains("https://***@127.0.0.1:8/x.git"));
        let b = text.as_bytes();
        for secrets in [vec![], vec!["abcdef123456789".to_string()]] {
            let names: Vec<&str> = secrets.iter().map(String::as_str).collect();
            for i in 0..=b.len() {
                for j in (i..=b.len()).step_by(7) {
                    let chunks = [&b[..i], &b[i..j], &b[j..]];
                    assert_eq!(
                        String::from_utf8_lossy(&mask_all(&names, &chunks)),
                        want,
                        "{i} {j}"
                    );
                    let stored = stored(&secrets, &chunks);
                    assert_eq!(String::from_utf8_lossy(&stored), want, "{i} {j}");
                }
            }
        }
        // Held back only while the authority is open.
        let mut m = Masker::new(&[]);
        let mut out = Vec::new();
        m.push(b"Password for 'https://u@h': ", &mut out);
        assert_eq!(out, b"Password for 'https://***@h': ");
        out.clear();
        m.push(b"at https://deployer:hunt", &mut out);
        assert_eq!(out, b"at https");
        m.push(b"er2pw@host done", &mut out);
        assert_eq!(out, b"at https://***@host done");
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

//! What a release leaves behind besides the backup (SPEC §2, §7, §8): the
//! annotated prod tag carrying an audit checkpoint, the Markdown release log
//! entry `<release_log_dir>/YYYY-MM-DD_<tag>.md`, and the append-only rollout
//! log `deploy_logs/ROLLOUT_LOG.md`.
//!
//! Nothing here moves or replaces what exists: an existing tag is refused
//! ([`ReleaseError::TagExists`]; callers pick [`super::tags::next_free_tag`]
//! and say so), a release log file name already taken gets `-2`, `-3` …, and
//! the rollout log is only ever appended to.
//!
//! The checks of a release log entry come in as plain
//! `(name, state, detail)` triples so this module does not depend on the
//! live verification module; a state reads as ✅ (`ok`, `pass`, `passed`,
//! `✅`), ❌ (`fail`, `failed`, `error`, `❌`) or ⚠️ (anything else, e.g.
//! `warn`, `skipped`, `unknown`).
use std::fmt::Write as _;
use std::fs::{self, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{DateTime, Local, NaiveDate, SecondsFormat, Utc};
use git2::{ErrorCode, ObjectType, Oid, Signature};

use super::audit::{AuditError, Checkpoint};
use super::common::{self, IoError};
use super::config::{self, Config, TimeZone};
use super::record;
use super::repo::{login_name, Repo};
use super::runner;

/// How many gate log lines a release log entry quotes.
pub const GATE_LOG_LINES: usize = 40;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    /// The tag exists already; it is never moved.
    #[error("the tag `{0}` already exists and is never moved")]
    TagExists(String),
    #[error("`{0}` is not a valid tag name")]
    BadTagName(String),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
    #[error(transparent)]
    Audit(#[from] AuditError),
    /// `git push origin <tag>` failed or could not run.
    #[error("could not push the tag `{tag}` to origin: {message}")]
    Push { tag: String, message: String },
    /// Git could not write the tag, for a reason found on the disk.
    #[error("could not create the tag `{tag}`: {cause}")]
    CannotWrite { tag: String, cause: String },
    #[error(transparent)]
    Io(#[from] IoError),
}

impl ReleaseError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ReleaseError + 'a {
    common::io_err(what, path)
}

// ---------------------------------------------------------------------------
// The tag

/// What the release tag's message says besides the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleaseMessage {
    pub branch: String,
    pub build_id: String,
    /// Login name of the release manager.
    pub released_by: String,
    /// `hash` of the audit entry recorded when the gate passed.
    pub gate_audit_hash: String,
}

/// The tag message: `Release <tag>`, a blank line, `Branch:`, `BUILD_ID:`,
/// `Released by:`, `Gate audit hash:` and, when the audit log has a head,
/// the checkpoint line `audit-checkpoint: seq=N head=<hex>`.
pub fn tag_message(tag: &str, msg: &ReleaseMessage, checkpoint: Option<&Checkpoint>) -> String {
    let one = |s: &str| s.replace(['\n', '\r'], " ");
    let mut s = format!(
        "Release {tag}\n\nBranch: {}\nBUILD_ID: {}\nReleased by: {}\nGate audit hash: {}\n",
        one(&msg.branch),
        one(&msg.build_id),
        one(&msg.released_by),
        one(&msg.gate_audit_hash)
    );
    if let Some(c) = checkpoint {
        let _ = writeln!(s, "{c}");
    }
    s
}

/// This machine's host name (`localhost` when it cannot be read).
pub fn hostname() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates
    // when the name fits, and we stop at the first NUL or the end.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return "localhost".into();
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = String::from_utf8_lossy(&buf[..end]).into_owned();
    if name.is_empty() {
        "localhost".into()
    } else {
        name
    }
}

/// The tagger: the user's git identity (`user.name`, `user.email`), else
/// `guardrail <login@hostname>`.
pub fn tagger(repo: &Repo) -> Result<Signature<'static>, ReleaseError> {
    match repo.git.signature() {
        Ok(sig) => Ok(sig),
        Err(_) => Ok(Signature::now(
            "guardrail",
            &format!("{}@{}", login_name(), hostname()),
        )?),
    }
}

/// Creates the annotated tag `tag` at `commit` with [`tag_message`], the
/// checkpoint read from the audit chain just before. Never moves a tag:
/// [`ReleaseError::TagExists`] if `tag` exists (also when another process
/// creates it meanwhile). Returns the checkpoint written, if any.
pub fn create_release_tag(
    repo: &Repo,
    _cfg: &Config,
    tag: &str,
    commit: Oid,
    msg: ReleaseMessage,
) -> Result<Option<Checkpoint>, ReleaseError> {
    let refname = format!("refs/tags/{tag}");
    if tag.is_empty() || !git2::Reference::is_valid_name(&refname) {
        return Err(ReleaseError::BadTagName(tag.to_string()));
    }
    if repo.git.find_reference(&refname).is_ok() {
        return Err(ReleaseError::TagExists(tag.to_string()));
    }
    let target = repo.git.find_object(commit, Some(ObjectType::Commit))?;
    let checkpoint = record::audit_log(repo).head()?;
    let message = tag_message(tag, &msg, checkpoint.as_ref());
    let sig = tagger(repo)?;
    match repo.git.tag(tag, &target, &sig, &message, false) {
        Ok(_) => Ok(checkpoint),
        Err(e) if e.code() == ErrorCode::Exists => Err(ReleaseError::TagExists(tag.to_string())),
        Err(e) => {
            let objects = repo.git.path().join("objects");
            Err(match write_failure_cause(&objects) {
                Some(cause) => ReleaseError::CannotWrite {
                    tag: tag.to_string(),
                    cause,
                },
                None => e.into(),
            })
        }
    }
}

/// Why nothing can be written under `dir`, in words, when the disk says
/// so: the file system is full or read-only, or the directory is missing
/// or not writable. `None` when none of these holds (then the error's own
/// words are all there is).
pub fn write_failure_cause(dir: &Path) -> Option<String> {
    use std::os::unix::ffi::OsStrExt;
    let shown = dir.display();
    if !dir.exists() {
        return Some(format!("the directory {shown} does not exist"));
    }
    let c = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    if let Ok(st) = super::protect::fs_stats(dir) {
        if st.f_flag & libc::ST_RDONLY != 0 {
            return Some(format!("{shown} is on a read-only file system"));
        }
        // Less than 64 KiB left (or no inode left) is a full disk for a
        // tag, a backup or a log.
        let free = st.f_bavail as u128 * st.f_frsize as u128;
        if free < 64 * 1024 || (st.f_files > 0 && st.f_favail == 0) {
            return Some(format!(
                "the disk holding {shown} is full ({free} bytes free)"
            ));
        }
    }
    // SAFETY: access on a NUL-terminated path.
    if unsafe { libc::access(c.as_ptr(), libc::W_OK) } != 0 {
        return Some(format!("{shown} is not writable (permission denied)"));
    }
    None
}

/// `git push origin refs/tags/<tag>` with the git command line (so the
/// user's credentials and remote configuration apply), without a terminal
/// prompt. Only called when `playbook.push_tags` is on.
pub fn push_tag(repo: &Repo, tag: &str) -> Result<(), ReleaseError> {
    let out = Command::new("git")
        .current_dir(&repo.root)
        .args(["push", "--quiet", "origin", &format!("refs/tags/{tag}")])
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| ReleaseError::Push {
            tag: tag.to_string(),
            message: format!("git could not be run ({e})"),
        })?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let message = stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .find(|l| l.starts_with("fatal:") || l.starts_with("error:") || l.contains("rejected"))
        .or_else(|| stderr.lines().map(str::trim).rfind(|l| !l.is_empty()))
        .map(str::to_string)
        .unwrap_or_else(|| format!("git push exited with {}", out.status));
    Err(ReleaseError::Push {
        tag: tag.to_string(),
        message,
    })
}

// ---------------------------------------------------------------------------
// The release log

/// A deploy or a rollback.
#[derive(Debug, Clone, PartialEq)]
pub enum ReleaseKind {
    Deploy,
    Rollback {
        /// The tag production served before, if known.
        from: Option<String>,
        reason: String,
        /// From the confirmation to all checks ✅.
        seconds_to_verified: f64,
    },
}

/// The gate run a release rests on.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GateEvidence {
    /// `PASS` or `FAIL`.
    pub verdict: String,
    pub audit_seq: Option<u64>,
    pub audit_hash: Option<String>,
    /// SHA-256 of the full gate log.
    pub log_sha256: Option<String>,
    /// The last lines of the gate log (see [`read_log_tail`]); at most
    /// [`GATE_LOG_LINES`] are quoted.
    pub log_tail: Vec<String>,
}

/// One release log entry (SPEC §2).
#[derive(Debug, Clone, PartialEq)]
pub struct ReleaseLogEntry {
    pub kind: ReleaseKind,
    /// When the deploy (or rollback) happened.
    pub time: DateTime<Utc>,
    pub initiated_by: String,
    /// `None` when not known (a rollback to an old tag).
    pub branch: Option<String>,
    pub commit: String,
    /// The prod tag production now serves: the new one for a deploy, the
    /// target for a rollback.
    pub tag: String,
    /// The backup written (deploy) or restored from (rollback); for a
    /// rollback from the tag's tree, say so here.
    pub backup: Option<String>,
    pub build_id: String,
    pub gate: Option<GateEvidence>,
    /// `(name, state, detail)` per live check, in order.
    pub checks: Vec<(String, String, Option<String>)>,
}

/// ✅, ⚠️ or ❌ for a check state (see the module docs).
pub fn check_mark(state: &str) -> &'static str {
    match state.trim().to_ascii_lowercase().as_str() {
        "ok" | "pass" | "passed" | "✅" => "✅",
        "fail" | "failed" | "error" | "❌" => "❌",
        _ => "⚠️",
    }
}

/// One line of text for a bullet (line breaks folded).
fn one_line(s: &str) -> String {
    s.split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `s` without ANSI escape sequences ([`runner::strip_ansi`]) and other
/// control characters but tab.
fn strip_ansi(s: &str) -> String {
    runner::strip_ansi(s)
        .chars()
        .filter(|&c| c == '\t' || !c.is_control())
        .collect()
}

/// The code fence for `lines`: three backticks, or more than the longest
/// run inside.
fn fence_for(lines: &[String]) -> String {
    let mut longest = 0;
    for l in lines {
        let mut run = 0;
        for c in l.chars() {
            if c == '`' {
                run += 1;
                longest = longest.max(run);
            } else {
                run = 0;
            }
        }
    }
    "`".repeat((longest + 1).max(3))
}

impl ReleaseLogEntry {
    /// The title line: `# Release <tag>` or `# Rollback to <tag>`.
    pub fn title(&self) -> String {
        match &self.kind {
            ReleaseKind::Deploy => format!("# Release {}", self.tag),
            ReleaseKind::Rollback { .. } => format!("# Rollback to {}", self.tag),
        }
    }

    /// The Markdown document.
    pub fn render(&self) -> String {
        let mut s = String::new();
        let none = || "—".to_string();
        let _ = writeln!(s, "{}\n", self.title());
        let time = self.time.to_rfc3339_opts(SecondsFormat::Secs, true);
        let _ = writeln!(s, "- **Deploy time (UTC):** {time}");
        let _ = writeln!(s, "- **Initiated by:** {}", one_line(&self.initiated_by));
        let _ = writeln!(
            s,
            "- **Branch:** {}",
            self.branch.as_deref().map(one_line).unwrap_or_else(none)
        );
        let _ = writeln!(s, "- **Commit:** {}", one_line(&self.commit));
        let _ = writeln!(s, "- **New production tag:** {}", one_line(&self.tag));
        let _ = writeln!(
            s,
            "- **Backup:** {}",
            self.backup.as_deref().map(one_line).unwrap_or_else(none)
        );
        let _ = writeln!(s, "- **BUILD_ID:** {}", one_line(&self.build_id));
        if let ReleaseKind::Rollback {
            from,
            reason,
            seconds_to_verified,
        } = &self.kind
        {
            let _ = writeln!(
                s,
                "- **Rolled back from:** {}",
                from.as_deref()
                    .map(one_line)
                    .unwrap_or_else(|| "unknown".into())
            );
            let _ = writeln!(s, "- **Reason:** {}", one_line(reason));
            let _ = writeln!(
                s,
                "- **Seconds from confirm to verified:** {}",
                super::common::seconds(*seconds_to_verified)
            );
        }

        let _ = writeln!(s, "\n## Gate evidence\n");
        match &self.gate {
            None => {
                let _ = writeln!(s, "No gate run recorded for this entry.");
            }
            Some(g) => {
                let _ = writeln!(s, "- **Verdict:** {}", one_line(&g.verdict));
                let audit = match (g.audit_seq, &g.audit_hash) {
                    (Some(seq), Some(h)) => format!("seq {seq}, hash {h}"),
                    (Some(seq), None) => format!("seq {seq}"),
                    (None, Some(h)) => format!("hash {h}"),
                    (None, None) => none(),
                };
                let _ = writeln!(s, "- **Audit entry:** {audit}");
                let _ = writeln!(
                    s,
                    "- **Gate log sha256:** {}",
                    g.log_sha256.clone().unwrap_or_else(none)
                );
                if !g.log_tail.is_empty() {
                    let start = g.log_tail.len().saturating_sub(GATE_LOG_LINES);
                    let lines: Vec<String> =
                        g.log_tail[start..].iter().map(|l| strip_ansi(l)).collect();
                    let fence = fence_for(&lines);
                    let _ = writeln!(
                        s,
                        "\nLast {} lines of the gate log:\n\n{fence}text",
                        lines.len()
                    );
                    for l in &lines {
                        let _ = writeln!(s, "{l}");
                    }
                    let _ = writeln!(s, "{fence}");
                }
            }
        }

        let _ = writeln!(s, "\n## Checks verified\n");
        if self.checks.is_empty() {
            let _ = writeln!(s, "No live checks were run.");
        }
        for (name, state, detail) in &self.checks {
            let mark = check_mark(state);
            let mut line = format!("- {mark} {}", one_line(name));
            if mark == "⚠️" && !state.trim().is_empty() {
                let _ = write!(line, " ({})", one_line(state));
            }
            if let Some(d) = detail.as_deref().filter(|d| !d.trim().is_empty()) {
                let _ = write!(line, " — {}", one_line(d));
            }
            let _ = writeln!(s, "{line}");
        }
        s
    }
}

/// The calendar date of `t` in the configured time zone (the one prod tag
/// dates use).
fn local_date(cfg: &Config, t: DateTime<Utc>) -> NaiveDate {
    match cfg.project.timezone {
        TimeZone::Utc => t.date_naive(),
        TimeZone::Local => t.with_timezone(&Local).date_naive(),
    }
}

/// The file name stem of an entry: `YYYY-MM-DD_<tag>` for a deploy,
/// `YYYY-MM-DD_rollback-<tag>` for a rollback (so it never takes the name
/// of the target's own release entry).
pub fn release_log_stem(cfg: &Config, entry: &ReleaseLogEntry) -> String {
    let date = local_date(cfg, entry.time).format("%Y-%m-%d");
    let tag: String = entry
        .tag
        .chars()
        .map(|c| if c == '/' || c == '\\' { '-' } else { c })
        .collect();
    match entry.kind {
        ReleaseKind::Deploy => format!("{date}_{tag}"),
        ReleaseKind::Rollback { .. } => format!("{date}_rollback-{tag}"),
    }
}

/// Writes the entry to `<release_log_dir>/<stem>.md` (see
/// [`release_log_stem`]), creating the directory; if that name is taken,
/// `<stem>-2.md`, `<stem>-3.md` …: an existing file is never overwritten.
/// The file is created exclusively, written whole and synced.
pub fn write_release_log(
    repo: &Repo,
    cfg: &Config,
    entry: &ReleaseLogEntry,
) -> Result<PathBuf, ReleaseError> {
    let dir = config::resolve(&repo.root, &cfg.project.release_log_dir);
    fs::create_dir_all(&dir).map_err(io_err("create the release log directory", &dir))?;
    let stem = release_log_stem(cfg, entry);
    let body = entry.render();
    for n in 1..=1000u32 {
        let name = if n == 1 {
            format!("{stem}.md")
        } else {
            format!("{stem}-{n}.md")
        };
        let path = dir.join(name);
        let mut f = match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(io_err("create the release log", &path)(e)),
        };
        let res = f.write_all(body.as_bytes()).and_then(|_| f.sync_all());
        if let Err(e) = res {
            drop(f);
            let _ = fs::remove_file(&path);
            return Err(io_err("write the release log", &path)(e));
        }
        return Ok(path);
    }
    Err(ReleaseError::Io(IoError::new(
        "find a free release log name in",
        dir,
        io::Error::new(io::ErrorKind::AlreadyExists, "1000 names taken"),
    )))
}

/// The last `n` lines of a log file, read backwards from its end (memory
/// bounded by those lines), without their line ends; invalid UTF-8 replaced.
pub fn read_log_tail(path: &Path, n: usize) -> io::Result<Vec<String>> {
    let mut f = fs::File::open(path)?;
    let len = f.seek(SeekFrom::End(0))?;
    let mut start = len;
    let mut buf: Vec<u8> = Vec::new();
    const STEP: u64 = 64 * 1024;
    loop {
        // Newlines in what we hold, not counting a final one.
        let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
        let newlines = body.iter().filter(|&&b| b == b'\n').count();
        if newlines >= n || start == 0 {
            break;
        }
        let step = STEP.min(start);
        start -= step;
        let mut chunk = vec![0u8; step as usize];
        f.seek(SeekFrom::Start(start))?;
        f.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text.lines().collect();
    let from = lines.len().saturating_sub(n);
    Ok(lines[from..].iter().map(|l| l.to_string()).collect())
}

// ---------------------------------------------------------------------------
// The rollout log

/// Where a rollback's files came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RolloutSource {
    /// `backups/<tag>.zip`; `manifest` false for a hand-made zip checked on
    /// its zip checksums only.
    Backup { path: String, manifest: bool },
    /// The tag's git tree (no backup, or it did not check out).
    TagTree,
}

impl std::fmt::Display for RolloutSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RolloutSource::Backup {
                path,
                manifest: true,
            } => write!(f, "backup {path} (manifest ✅)"),
            RolloutSource::Backup {
                path,
                manifest: false,
            } => write!(f, "backup {path} (no manifest; zip checksums ✅)"),
            RolloutSource::TagTree => write!(f, "the tag's git tree"),
        }
    }
}

/// One section of `ROLLOUT_LOG.md`.
#[derive(Debug, Clone, PartialEq)]
pub struct RolloutEntry {
    pub time: DateTime<Utc>,
    /// Login name of who confirmed.
    pub actor: String,
    pub reason: String,
    /// The tag production served before, if known.
    pub from: Option<String>,
    /// The tag rolled back to.
    pub to: String,
    pub source: RolloutSource,
    /// Whether live verification passed afterwards.
    pub verified: bool,
    /// One line: `all ✅ (5 checks)`, `❌ auth modal` …
    pub verification: String,
    /// From the confirmation to all ✅ (`None` when never verified).
    pub seconds_to_verified: Option<f64>,
}

/// Heading written when the rollout log is created.
pub const ROLLOUT_HEADING: &str =
    "# Rollout log\n\nRollbacks recorded by guardrail, oldest first. Append only.\n";

impl RolloutEntry {
    /// The Markdown section (starts with a blank line and `## `).
    pub fn render(&self) -> String {
        let time = self.time.to_rfc3339_opts(SecondsFormat::Secs, true);
        let mut s = format!("\n## {time} — rollback to {}\n\n", one_line(&self.to));
        let _ = writeln!(s, "- **Time (UTC):** {time}");
        let _ = writeln!(s, "- **Who:** {}", one_line(&self.actor));
        let _ = writeln!(s, "- **Why:** {}", one_line(&self.reason));
        let _ = writeln!(
            s,
            "- **From tag:** {}",
            self.from
                .as_deref()
                .map(one_line)
                .unwrap_or_else(|| "unknown".into())
        );
        let _ = writeln!(s, "- **To tag:** {}", one_line(&self.to));
        let _ = writeln!(s, "- **Source:** {}", one_line(&self.source.to_string()));
        let mark = if self.verified { "✅" } else { "❌" };
        let _ = writeln!(
            s,
            "- **Verification:** {mark} {}",
            one_line(&self.verification)
        );
        let secs = match self.seconds_to_verified {
            Some(t) => super::common::seconds(t),
            None => "not verified".into(),
        };
        let _ = writeln!(s, "- **Seconds from confirm to verified:** {secs}");
        s
    }
}

/// Appends the entry to the configured rollout log (creating it, and its
/// directory, with [`ROLLOUT_HEADING`] when missing). The section is written
/// by one `write_all` on an append-only descriptor under an exclusive lock
/// on the file, then synced; earlier content is never rewritten.
pub fn append_rollout_log(
    repo: &Repo,
    cfg: &Config,
    entry: &RolloutEntry,
) -> Result<(), ReleaseError> {
    let path = config::resolve(&repo.root, &cfg.project.rollout_log);
    if let Some(parent) = path.parent() {
        fs::create_dir_all(parent).map_err(io_err("create the directory of", &path))?;
    }
    let mut f = OpenOptions::new()
        .read(true)
        .append(true)
        .create(true)
        .open(&path)
        .map_err(io_err("open the rollout log", &path))?;
    f.lock().map_err(io_err("lock the rollout log", &path))?;
    let len = f
        .metadata()
        .map_err(io_err("read the rollout log", &path))?
        .len();
    let mut text = String::new();
    if len == 0 {
        text.push_str(ROLLOUT_HEADING);
    } else {
        let mut last = [0u8; 1];
        f.seek(SeekFrom::Start(len - 1))
            .and_then(|_| f.read_exact(&mut last))
            .map_err(io_err("read the rollout log", &path))?;
        if last[0] != b'\n' {
            text.push('\n');
        }
    }
    text.push_str(&entry.render());
    f.write_all(text.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(io_err("append to the rollout log", &path))?;
    let _ = f.unlock();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ansi_is_stripped_and_fences_outgrow_backticks() {
        assert_eq!(strip_ansi("\u{1b}[1;32mPASS\u{1b}[0m done"), "PASS done");
        assert_eq!(strip_ansi("a\u{1b}]0;title\u{7}b"), "ab");
        assert_eq!(fence_for(&["plain".into()]), "```");
        assert_eq!(fence_for(&["has ```` inside".into()]), "`````");
    }

    #[test]
    fn marks() {
        assert_eq!(check_mark("ok"), "✅");
        assert_eq!(check_mark("FAIL"), "❌");
        assert_eq!(check_mark("skipped"), "⚠️");
    }
}

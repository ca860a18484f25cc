//! The tamper-evident audit chain (SPEC §8) and the protocol audit log (§2).
//!
//! `<state_dir>/audit.jsonl` holds one record per line. Every line is the
//! canonical JSON of a [`Record`] (keys sorted recursively, no whitespace).
//! Each record carries `prev`, the lowercase hex SHA-256 of the previous
//! line's *raw bytes* including its newline (never re-serialised JSON), and
//! `hash`, the SHA-256 of the line's stored bytes without its own `hash`
//! member (see [`raw_hash_ok`]; verification never re-serialises a line).
//! The first line is a genesis record (`seq` 0, `prev` of 64 zeros,
//! `details.log_id` a random 128-bit hex id).
//!
//! Appends are serialised across processes by an exclusive `flock` on
//! `<state_dir>/audit.lock`; the appender reads only the tail of the log,
//! writes the new line whole with a single `write_all` on an `O_APPEND`
//! descriptor and syncs it. Earlier lines are never rewritten. A torn tail
//! (a writer killed mid-line) is moved to `<state_dir>/audit.quarantine` by
//! the next append, which records a `repair` line before its own entry.
//!
//! A chain alone cannot notice its end being cut off at a line boundary, so
//! release tags carry a [`Checkpoint`] (`audit-checkpoint: seq=12 head=<hex>`,
//! where `head` is the SHA-256 of that line's raw bytes, i.e. the value the
//! next line's `prev` will carry) and [`AuditLog::verify`] checks the log
//! against it.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use super::common::{self, IoError};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// File name of the chain inside the state directory.
pub const AUDIT_FILE: &str = "audit.jsonl";
/// File name of the lock serialising appends.
pub const AUDIT_LOCK_FILE: &str = "audit.lock";
/// File name receiving torn tails moved out of the chain.
pub const QUARANTINE_FILE: &str = "audit.quarantine";
/// `prev` of the genesis record.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Errors from reading or appending to the audit chain.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// An I/O operation on one of the audit files failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// The last whole line of the log is not a record, so nothing can be
    /// chained onto it.
    #[error("the last line of {path} is not a valid audit record ({reason}); run `guardrail audit verify`")]
    BadTail { path: PathBuf, reason: String },
}

impl AuditError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> AuditError + 'a {
    common::io_err(what, path)
}

/// What a caller records; `seq`, `time`, `prev` and `hash` are filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct NewEntry {
    pub actor: String,
    pub action: String,
    pub target: String,
    pub result: String,
    pub details: Value,
}

impl NewEntry {
    /// Convenience constructor with empty (`{}`) details.
    pub fn new(actor: &str, action: &str, target: &str, result: &str) -> NewEntry {
        NewEntry {
            actor: actor.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            result: result.to_string(),
            details: Value::Object(Map::new()),
        }
    }

    /// Replace the details.
    pub fn with_details(mut self, details: Value) -> NewEntry {
        self.details = details;
        self
    }
}

/// One record of the chain, as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub seq: u64,
    /// UTC, RFC 3339 with whole seconds and `Z`.
    pub time: String,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub result: String,
    pub details: Value,
    pub prev: String,
    pub hash: String,
}

impl Record {
    /// The canonical line for this record, newline included.
    pub fn to_line(&self) -> String {
        let mut line = canonical_json(&serde_json::to_value(self).expect("record serialises"));
        line.push('\n');
        line
    }

    /// Parse one line (with or without its newline). Does not check `hash`.
    pub fn parse(line: &str) -> Result<Record, String> {
        serde_json::from_str(line.trim_end_matches('\n')).map_err(|e| e.to_string())
    }

    /// Whether `hash` recomputes from the other fields.
    pub fn hash_ok(&self) -> bool {
        compute_hash(self) == self.hash
    }
}

/// A position in the chain that a release tag can carry: the `seq` of a line
/// and the SHA-256 of that line's raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkpoint {
    pub seq: u64,
    pub hash: String,
}

const CHECKPOINT_PREFIX: &str = "audit-checkpoint:";

impl fmt::Display for Checkpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{CHECKPOINT_PREFIX} seq={} head={}", self.seq, self.hash)
    }
}

/// Error parsing a [`Checkpoint`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not an audit checkpoint (expected `audit-checkpoint: seq=N head=<64 hex>`): {0}")]
pub struct CheckpointParseError(pub String);

impl FromStr for Checkpoint {
    type Err = CheckpointParseError;

    fn from_str(s: &str) -> Result<Checkpoint, CheckpointParseError> {
        let bad = || CheckpointParseError(s.to_string());
        let rest = s.trim().strip_prefix(CHECKPOINT_PREFIX).ok_or_else(bad)?;
        let mut words = rest.split_whitespace();
        let seq = words
            .next()
            .and_then(|w| w.strip_prefix("seq="))
            .and_then(|n| n.parse::<u64>().ok())
            .ok_or_else(bad)?;
        let hash = words
            .next()
            .and_then(|w| w.strip_prefix("head="))
            .filter(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
            .ok_or_else(bad)?
            .to_ascii_lowercase();
        if words.next().is_some() {
            return Err(bad());
        }
        Ok(Checkpoint { seq, hash })
    }
}

/// The checkpoint to verify against: among `(tag name, tag message)` pairs,
/// the checkpoint with the highest `seq` (the newest tag wins a tie), with
/// the name of the tag that carries it. Tags are not ordered by their
/// checkpoints: an older tag may hold a later one.
pub fn highest_checkpoint<'a>(
    tags: impl IntoIterator<Item = (&'a str, Option<&'a str>)>,
) -> Option<(String, Checkpoint)> {
    let mut best: Option<(String, Checkpoint)> = None;
    for (name, message) in tags {
        if let Some(cp) = message.and_then(find_checkpoint) {
            if best.as_ref().is_none_or(|(_, b)| cp.seq >= b.seq) {
                best = Some((name.to_string(), cp));
            }
        }
    }
    best
}

/// The last checkpoint line found in `text` (e.g. a tag message), if any.
pub fn find_checkpoint(text: &str) -> Option<Checkpoint> {
    text.lines()
        .rev()
        .filter_map(|l| {
            let start = l.find(CHECKPOINT_PREFIX)?;
            l[start..].parse().ok()
        })
        .next()
}

/// How the chain is broken, or what else verification found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Problem {
    /// The line's `hash` does not recompute: its content was changed.
    Edited { line: u64, seq: u64 },
    /// The line is not a JSON audit record.
    Unparseable { line: u64, reason: String },
    /// The first line is not a genesis record.
    BadGenesis { line: u64 },
    /// `seq` jumps forward and the skipped records appear nowhere: lines
    /// were removed before this one.
    Missing {
        line: u64,
        expected_seq: u64,
        found_seq: u64,
    },
    /// The line is out of order (its `seq` goes back, or the expected record
    /// appears later in the file).
    Reordered {
        line: u64,
        expected_seq: u64,
        found_seq: u64,
    },
    /// The line repeats an earlier line byte for byte.
    Duplicated { line: u64, of_line: u64 },
    /// `seq` is right but `prev` is not the hash of the line before: the
    /// line before was replaced, or this one was forged.
    PrevMismatch { line: u64, seq: u64 },
    /// The last line has no newline: a writer was killed mid-line.
    Torn { line: u64, offset: u64, bytes: u64 },
    /// The checkpoint's `seq` is beyond the end of the log: lines were cut
    /// off the end.
    CutShort {
        checkpoint: Checkpoint,
        last_seq: Option<u64>,
    },
    /// The log has the checkpoint's `seq` but with another hash: the log was
    /// rewritten since the checkpoint was taken.
    CheckpointMismatch { checkpoint: Checkpoint, line: u64 },
    /// The log goes past the checkpoint's `seq` but no line carries it.
    CheckpointNotFound { checkpoint: Checkpoint },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Edited { line, seq } => write!(
                f,
                "line {line} (seq {seq}) was edited: its hash does not recompute"
            ),
            Problem::Unparseable { line, reason } => {
                write!(f, "line {line} is not an audit record ({reason})")
            }
            Problem::BadGenesis { line } => {
                write!(f, "line {line} should be the genesis record but is not")
            }
            Problem::Missing {
                line,
                expected_seq,
                found_seq,
            } => {
                let last = found_seq - 1;
                if *expected_seq == last {
                    write!(f, "line {line}: record seq {expected_seq} is missing before it (found seq {found_seq})")
                } else {
                    write!(f, "line {line}: records seq {expected_seq}..={last} are missing before it (found seq {found_seq})")
                }
            }
            Problem::Reordered {
                line,
                expected_seq,
                found_seq,
            } => write!(
                f,
                "line {line} is out of order: expected seq {expected_seq}, found seq {found_seq}"
            ),
            Problem::Duplicated { line, of_line } => {
                write!(f, "line {line} duplicates line {of_line}")
            }
            Problem::PrevMismatch { line, seq } => write!(
                f,
                "line {line} (seq {seq}) does not chain onto line {}: its prev is not that line's hash (that line was replaced or this one forged)",
                line - 1
            ),
            Problem::Torn {
                line,
                offset,
                bytes,
            } => write!(
                f,
                "line {line} is torn: {bytes} bytes without a newline at byte offset {offset} (a writer was interrupted; the next append quarantines them)"
            ),
            Problem::CutShort {
                checkpoint,
                last_seq,
            } => match last_seq {
                Some(last) => write!(
                    f,
                    "the log was cut short: checkpoint seq {} but the log ends at seq {last}",
                    checkpoint.seq
                ),
                None => write!(
                    f,
                    "the log was cut short: checkpoint seq {} but the log is empty",
                    checkpoint.seq
                ),
            },
            Problem::CheckpointMismatch { checkpoint, line } => write!(
                f,
                "line {line} (seq {}) does not match the checkpoint hash: the log was rewritten since",
                checkpoint.seq
            ),
            Problem::CheckpointNotFound { checkpoint } => write!(
                f,
                "no line carries the checkpoint's seq {}: the log was rewritten since",
                checkpoint.seq
            ),
        }
    }
}

/// Result of [`AuditLog::verify`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyReport {
    /// Whole lines read (torn tail excluded).
    pub lines: u64,
    /// The `log_id` of the genesis record, when readable.
    pub log_id: Option<String>,
    /// The last whole line that chains correctly from genesis.
    pub head: Option<Checkpoint>,
    /// Problems in file order: at most one chain break (the first), then a
    /// torn tail, then the checkpoint result.
    pub problems: Vec<Problem>,
    /// Whether a checkpoint was given.
    pub checkpoint_checked: bool,
}

impl VerifyReport {
    /// No problem found.
    pub fn is_intact(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first problem, if any.
    pub fn first_problem(&self) -> Option<&Problem> {
        self.problems.first()
    }
}

impl fmt::Display for VerifyReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(p) = self.problems.first() {
            write!(f, "audit chain broken: {p}")?;
            if self.problems.len() > 1 {
                write!(f, " (and {} more)", self.problems.len() - 1)?;
            }
            return Ok(());
        }
        if self.lines == 0 {
            return write!(f, "audit log is empty");
        }
        let head = self.head.as_ref().map(|h| h.seq).unwrap_or(0);
        write!(
            f,
            "audit chain intact: {} lines, head seq {head}",
            self.lines
        )?;
        if self.checkpoint_checked {
            write!(f, "; matches the release checkpoint")
        } else {
            write!(
                f,
                "; no release checkpoint to compare, so a cut at a line boundary would not show"
            )
        }
    }
}

/// The audit chain of one state directory.
#[derive(Debug, Clone)]
pub struct AuditLog {
    dir: PathBuf,
}

pub use crate::pipeline::common::sha256_hex;

/// `value` with every object's keys sorted (byte order), recursively.
pub fn canonicalize(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let mut out = Map::new();
            for k in keys {
                out.insert(k.clone(), canonicalize(&map[k]));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(canonicalize).collect()),
        other => other.clone(),
    }
}

/// Canonical JSON text: keys sorted recursively, no whitespace.
pub fn canonical_json(value: &Value) -> String {
    serde_json::to_string(&canonicalize(value)).expect("JSON value serialises")
}

fn hash_of_object_without_hash(obj: &Map<String, Value>) -> String {
    let mut rest = obj.clone();
    rest.shift_remove("hash");
    sha256_hex(canonical_json(&Value::Object(rest)).as_bytes())
}

/// Whether the `hash` member of one stored line (newline optional) is the
/// SHA-256 of the line's exact bytes without that member: the canonical
/// line is `{…,"details":…,"hash":"<hex>","prev":…}`, and its hash covers
/// `{…,"details":…,"prev":…}` as stored, never a re-serialisation (floats
/// such as `1.1315470890000001` do not survive parsing and printing).
/// Fields after `hash` are strings and numbers, so its member is the last
/// `,"hash":"<hex>",` of the line.
pub fn raw_hash_ok(raw: &[u8], hash: &str) -> bool {
    let raw = raw.strip_suffix(b"\n").unwrap_or(raw);
    if hash.len() != 64 || !hash.bytes().all(|b| b.is_ascii_hexdigit()) {
        return false;
    }
    let member = format!(",\"hash\":\"{hash}\",");
    let m = member.as_bytes();
    let Some(at) = raw.windows(m.len()).rposition(|w| w == m) else {
        return false;
    };
    let mut h = Sha256::new();
    h.update(&raw[..at + 1]);
    h.update(&raw[at + m.len()..]);
    hex::encode(h.finalize()) == hash
}

fn compute_hash(record: &Record) -> String {
    match serde_json::to_value(record).expect("record serialises") {
        Value::Object(obj) => hash_of_object_without_hash(&obj),
        _ => unreachable!("a record serialises to an object"),
    }
}

/// Whether a single JSON record's `hash` recomputes (e.g. a handoff package's
/// `audit.json`). Whitespace and key order of `json_line` do not matter; the
/// fields of a [`Record`] must all be present.
pub fn entry_hash_ok(json_line: &str) -> bool {
    let Ok(value) = serde_json::from_str::<Value>(json_line.trim()) else {
        return false;
    };
    let Ok(record) = serde_json::from_value::<Record>(value.clone()) else {
        return false;
    };
    // The line as the chain stores it: its exact bytes.
    if raw_hash_ok(json_line.trim().as_bytes(), &record.hash) {
        return true;
    }
    match value {
        Value::Object(obj) => match obj.get("hash") {
            Some(Value::String(h)) => *h == hash_of_object_without_hash(&obj),
            _ => false,
        },
        _ => false,
    }
}

fn now_utc() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn seal(mut record: Record) -> Record {
    record.hash = compute_hash(&record);
    record
}

/// Where the last line and a torn tail sit in the file.
struct Tail {
    /// The last whole line (with its newline), if any.
    last_line: Option<Vec<u8>>,
    /// Byte offset just after the last newline (= file length when not torn).
    whole_end: u64,
    /// File length.
    len: u64,
}

/// Find the last whole line and any torn bytes by reading backwards.
fn read_tail(file: &mut File) -> io::Result<Tail> {
    let len = file.seek(SeekFrom::End(0))?;
    const CHUNK: u64 = 64 * 1024;
    // Collected bytes from `start` to `len`.
    let mut buf: Vec<u8> = Vec::new();
    let mut start = len;
    let mut whole_end: Option<u64> = None;
    loop {
        // Search the bytes we have for the newlines we need.
        if whole_end.is_none() {
            if let Some(i) = buf.iter().rposition(|&b| b == b'\n') {
                whole_end = Some(start + i as u64 + 1);
            }
        }
        if let Some(end) = whole_end {
            let end_idx = (end - start) as usize;
            // Start of the last whole line: the newline before end-1.
            if let Some(i) = buf[..end_idx - 1].iter().rposition(|&b| b == b'\n') {
                let line = buf[i + 1..end_idx].to_vec();
                return Ok(Tail {
                    last_line: Some(line),
                    whole_end: end,
                    len,
                });
            }
            if start == 0 {
                return Ok(Tail {
                    last_line: Some(buf[..end_idx].to_vec()),
                    whole_end: end,
                    len,
                });
            }
        } else if start == 0 {
            return Ok(Tail {
                last_line: None,
                whole_end: 0,
                len,
            });
        }
        let step = CHUNK.min(start);
        start -= step;
        let mut chunk = vec![0u8; step as usize];
        file.seek(SeekFrom::Start(start))?;
        file.read_exact(&mut chunk)?;
        chunk.extend_from_slice(&buf);
        buf = chunk;
    }
}

impl AuditLog {
    /// The chain in `state_dir` (nothing is read or created yet).
    pub fn open(state_dir: &Path) -> AuditLog {
        AuditLog {
            dir: state_dir.to_path_buf(),
        }
    }

    /// Path of `audit.jsonl`.
    pub fn path(&self) -> PathBuf {
        self.dir.join(AUDIT_FILE)
    }

    /// Path of `audit.quarantine`.
    pub fn quarantine_path(&self) -> PathBuf {
        self.dir.join(QUARANTINE_FILE)
    }

    fn lock(&self) -> Result<File, AuditError> {
        fs::create_dir_all(&self.dir).map_err(io_err("create", &self.dir))?;
        let lock_path = self.dir.join(AUDIT_LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&lock_path)
            .map_err(io_err("open", &lock_path))?;
        lock.lock().map_err(io_err("lock", &lock_path))?;
        Ok(lock)
    }

    /// Write the genesis record if the log is empty. Returns the genesis
    /// record when one was written.
    pub fn init(&self, actor: &str) -> Result<Option<Record>, AuditError> {
        let _lock = self.lock()?;
        let (mut file, tail) = self.open_for_append()?;
        if tail.last_line.is_some() || tail.len > 0 {
            return Ok(None);
        }
        let genesis = genesis_record(actor);
        self.write_line(&mut file, &genesis)?;
        Ok(Some(genesis))
    }

    fn open_for_append(&self) -> Result<(File, Tail), AuditError> {
        let path = self.path();
        let mut file = OpenOptions::new()
            .create(true)
            .read(true)
            .append(true)
            .open(&path)
            .map_err(io_err("open", &path))?;
        let tail = read_tail(&mut file).map_err(io_err("read", &path))?;
        Ok((file, tail))
    }

    fn write_line(&self, file: &mut File, record: &Record) -> Result<Vec<u8>, AuditError> {
        let path = self.path();
        let line = record.to_line().into_bytes();
        file.write_all(&line).map_err(io_err("write", &path))?;
        file.sync_data().map_err(io_err("sync", &path))?;
        Ok(line)
    }

    /// Append `entry`, chaining it onto the last line. Writes the genesis
    /// record first on an empty log, and a `repair` record first when the
    /// log ends in a torn line (whose bytes go to `audit.quarantine`).
    pub fn append(&self, entry: NewEntry) -> Result<Record, AuditError> {
        let _lock = self.lock()?;
        let path = self.path();
        let (mut file, tail) = self.open_for_append()?;

        let mut last_line = tail.last_line.clone();
        let mut pending: Vec<Record> = Vec::new();

        // Torn tail: quarantine, truncate to the last whole line, record.
        let mut repair: Option<Value> = None;
        if tail.whole_end < tail.len {
            let torn_len = tail.len - tail.whole_end;
            let mut torn = vec![0u8; torn_len as usize];
            file.seek(SeekFrom::Start(tail.whole_end))
                .and_then(|_| file.read_exact(&mut torn))
                .map_err(io_err("read", &path))?;
            let qpath = self.quarantine_path();
            let mut q = OpenOptions::new()
                .create(true)
                .append(true)
                .open(&qpath)
                .map_err(io_err("open", &qpath))?;
            let mut qbytes = torn.clone();
            qbytes.push(b'\n');
            q.write_all(&qbytes)
                .and_then(|_| q.sync_data())
                .map_err(io_err("write", &qpath))?;
            file.set_len(tail.whole_end)
                .and_then(|_| file.sync_data())
                .map_err(io_err("truncate", &path))?;
            repair = Some(serde_json::json!({
                "offset": tail.whole_end,
                "bytes": torn_len,
                "sha256": sha256_hex(&torn),
                "quarantine": QUARANTINE_FILE,
            }));
        }

        let mut next_seq;
        if let Some(line) = &last_line {
            let text = std::str::from_utf8(line).map_err(|e| AuditError::BadTail {
                path: path.clone(),
                reason: e.to_string(),
            })?;
            let rec = Record::parse(text).map_err(|reason| AuditError::BadTail {
                path: path.clone(),
                reason,
            })?;
            next_seq = rec.seq + 1;
        } else {
            let genesis = genesis_record(&entry.actor);
            next_seq = 1;
            last_line = Some(genesis.to_line().into_bytes());
            pending.push(genesis);
        }

        let mut prev = sha256_hex(last_line.as_deref().unwrap_or_default());
        let mut push = |rec_entry: NewEntry, pending: &mut Vec<Record>| {
            let rec = seal(Record {
                seq: next_seq,
                time: now_utc(),
                actor: rec_entry.actor,
                action: rec_entry.action,
                target: rec_entry.target,
                result: rec_entry.result,
                details: canonicalize(&rec_entry.details),
                prev: prev.clone(),
                hash: String::new(),
            });
            prev = sha256_hex(rec.to_line().as_bytes());
            next_seq += 1;
            pending.push(rec);
        };
        if let Some(details) = repair {
            push(
                NewEntry {
                    actor: entry.actor.clone(),
                    action: "repair".into(),
                    target: AUDIT_FILE.into(),
                    result: "quarantined".into(),
                    details,
                },
                &mut pending,
            );
        }
        push(entry, &mut pending);

        // Earlier records (genesis, repair) are written whole before the
        // entry; each with its own write so each line is whole on disk.
        for rec in &pending {
            self.write_line(&mut file, rec)?;
        }
        Ok(pending.pop().expect("the entry was pushed"))
    }

    /// Every parseable record, in file order (unparseable lines and a torn
    /// tail are skipped; use [`AuditLog::verify`] to see them).
    pub fn read_all(&self) -> Result<Vec<Record>, AuditError> {
        let mut out = Vec::new();
        self.for_each_line(|_, _, raw| {
            if let Some(rec) = parse_raw(raw) {
                out.push(rec);
            }
        })?;
        Ok(out)
    }

    /// The last `n` parseable records, oldest first.
    pub fn tail(&self, n: usize) -> Result<Vec<Record>, AuditError> {
        let mut out = VecDeque::with_capacity(n.min(1024));
        if n == 0 {
            return Ok(Vec::new());
        }
        self.for_each_line(|_, _, raw| {
            if let Some(rec) = parse_raw(raw) {
                if out.len() == n {
                    out.pop_front();
                }
                out.push_back(rec);
            }
        })?;
        Ok(out.into())
    }

    /// The last whole line as a checkpoint, or `None` for an empty log.
    pub fn head(&self) -> Result<Option<Checkpoint>, AuditError> {
        let path = self.path();
        let mut file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        let tail = read_tail(&mut file).map_err(io_err("read", &path))?;
        let Some(line) = tail.last_line else {
            return Ok(None);
        };
        let rec = parse_raw(&line).ok_or_else(|| AuditError::BadTail {
            path: path.clone(),
            reason: "not a record".into(),
        })?;
        Ok(Some(Checkpoint {
            seq: rec.seq,
            hash: sha256_hex(&line),
        }))
    }

    /// Call `f(line_no, offset, raw_bytes)` for each line, newline included
    /// (the last may lack it). Streams; memory stays bounded by a line.
    fn for_each_line(&self, mut f: impl FnMut(u64, u64, &[u8])) -> Result<(), AuditError> {
        let path = self.path();
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_err("open", &path)(e)),
        };
        let mut reader = BufReader::new(file);
        let mut buf = Vec::new();
        let mut line_no = 0u64;
        let mut offset = 0u64;
        loop {
            buf.clear();
            let n = reader
                .read_until(b'\n', &mut buf)
                .map_err(io_err("read", &path))?;
            if n == 0 {
                return Ok(());
            }
            line_no += 1;
            f(line_no, offset, &buf);
            offset += n as u64;
        }
    }

    /// Recompute the chain and name the first line that breaks it; report a
    /// torn tail; and, given the newest release checkpoint, check that the
    /// log still holds that `seq` with that hash.
    pub fn verify(&self, checkpoint: Option<&Checkpoint>) -> Result<VerifyReport, AuditError> {
        // Pass 1: which seqs exist, and at which line (for reorder detection).
        let mut seq_lines: HashMap<u64, u64> = HashMap::new();
        self.for_each_line(|line_no, _, raw| {
            if raw.ends_with(b"\n") {
                if let Some(rec) = parse_raw(raw) {
                    seq_lines.entry(rec.seq).or_insert(line_no);
                }
            }
        })?;

        let mut report = VerifyReport {
            lines: 0,
            log_id: None,
            head: None,
            problems: Vec::new(),
            checkpoint_checked: checkpoint.is_some(),
        };
        let mut broken = false;
        let mut prev_raw_hash: Option<String> = None;
        let mut prev_seq: Option<u64> = None;
        let mut seen: HashMap<String, u64> = HashMap::new();
        let mut checkpoint_line: Option<(u64, String)> = None;
        let mut last_seq: Option<u64> = None;

        self.for_each_line(|line_no, offset, raw| {
            if !raw.ends_with(b"\n") {
                report.problems.push(Problem::Torn {
                    line: line_no,
                    offset,
                    bytes: raw.len() as u64,
                });
                return;
            }
            report.lines += 1;
            let raw_hash = sha256_hex(raw);
            let rec = parse_raw_with_reason(raw);
            if let Ok(rec) = &rec {
                last_seq = Some(rec.seq);
                if let Some(cp) = checkpoint {
                    if rec.seq == cp.seq && checkpoint_line.is_none() {
                        checkpoint_line = Some((line_no, raw_hash.clone()));
                    }
                }
            }
            if broken {
                return;
            }
            let problem = match rec {
                Err(reason) => Some(Problem::Unparseable {
                    line: line_no,
                    reason,
                }),
                Ok(rec) => {
                    let problem = if !raw_hash_ok(raw, &rec.hash) {
                        Some(Problem::Edited {
                            line: line_no,
                            seq: rec.seq,
                        })
                    } else if let Some(&of_line) = seen.get(&raw_hash) {
                        Some(Problem::Duplicated {
                            line: line_no,
                            of_line,
                        })
                    } else {
                        match (prev_seq, &prev_raw_hash) {
                            (None, _) => {
                                if rec.seq != 0
                                    || rec.prev != GENESIS_PREV
                                    || rec.action != "genesis"
                                {
                                    Some(Problem::BadGenesis { line: line_no })
                                } else {
                                    report.log_id = rec
                                        .details
                                        .get("log_id")
                                        .and_then(Value::as_str)
                                        .map(str::to_string);
                                    None
                                }
                            }
                            (Some(ps), Some(ph)) => {
                                let expected = ps + 1;
                                if rec.seq == expected && rec.prev == *ph {
                                    None
                                } else if rec.seq > expected {
                                    // Does the expected record appear later?
                                    let later =
                                        seq_lines.get(&expected).is_some_and(|&l| l > line_no);
                                    if later {
                                        Some(Problem::Reordered {
                                            line: line_no,
                                            expected_seq: expected,
                                            found_seq: rec.seq,
                                        })
                                    } else {
                                        Some(Problem::Missing {
                                            line: line_no,
                                            expected_seq: expected,
                                            found_seq: rec.seq,
                                        })
                                    }
                                } else if rec.seq < expected {
                                    Some(Problem::Reordered {
                                        line: line_no,
                                        expected_seq: expected,
                                        found_seq: rec.seq,
                                    })
                                } else {
                                    Some(Problem::PrevMismatch {
                                        line: line_no,
                                        seq: rec.seq,
                                    })
                                }
                            }
                            (Some(_), None) => unreachable!("prev hash set with prev seq"),
                        }
                    };
                    if problem.is_none() {
                        prev_seq = Some(rec.seq);
                        report.head = Some(Checkpoint {
                            seq: rec.seq,
                            hash: raw_hash.clone(),
                        });
                    }
                    problem
                }
            };
            if let Some(p) = problem {
                report.problems.push(p);
                broken = true;
            } else {
                seen.insert(raw_hash.clone(), line_no);
                prev_raw_hash = Some(raw_hash);
            }
        })?;

        if let Some(cp) = checkpoint {
            match checkpoint_line {
                Some((line, hash)) => {
                    if hash != cp.hash {
                        report.problems.push(Problem::CheckpointMismatch {
                            checkpoint: cp.clone(),
                            line,
                        });
                    }
                }
                None => {
                    if last_seq.is_none_or(|s| s < cp.seq) {
                        report.problems.push(Problem::CutShort {
                            checkpoint: cp.clone(),
                            last_seq,
                        });
                    } else {
                        report.problems.push(Problem::CheckpointNotFound {
                            checkpoint: cp.clone(),
                        });
                    }
                }
            }
        }
        Ok(report)
    }
}

/// The records that chain `entry` onto a chain whose last whole line is
/// `last_line` (`None`: an empty chain, so a genesis record comes first).
/// Used by team mode (SPEC §10) to append to the remote chain.
pub fn chain_after(last_line: Option<&[u8]>, entry: NewEntry) -> Result<Vec<Record>, String> {
    let mut out = Vec::new();
    let (seq, prev) = match last_line {
        Some(line) => {
            let rec = parse_raw_with_reason(line)?;
            (rec.seq + 1, sha256_hex(line))
        }
        None => {
            let genesis = genesis_record(&entry.actor);
            let prev = sha256_hex(genesis.to_line().as_bytes());
            out.push(genesis);
            (1, prev)
        }
    };
    out.push(seal(Record {
        seq,
        time: now_utc(),
        actor: entry.actor,
        action: entry.action,
        target: entry.target,
        result: entry.result,
        details: canonicalize(&entry.details),
        prev,
        hash: String::new(),
    }));
    Ok(out)
}

/// What [`AuditLog::mirror`] did to the local file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mirrored {
    /// The local file was a prefix; this many bytes were appended.
    Appended(u64),
    /// The local file had lines the chain does not: it was kept under this
    /// name and the chain written in its place.
    Replaced(PathBuf),
}

impl AuditLog {
    /// Make the local file equal to `chain` (team mode, SPEC §10): append
    /// the missing bytes when the file is a prefix of it (the usual case),
    /// else keep the file beside, renamed, and write the chain whole.
    pub fn mirror(&self, chain: &[u8]) -> Result<Mirrored, AuditError> {
        let _lock = self.lock()?;
        let path = self.path();
        let local = match fs::read(&path) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(io_err("read", &path)(e)),
        };
        if chain.starts_with(&local) {
            let rest = &chain[local.len()..];
            if !rest.is_empty() {
                let mut file = OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .map_err(io_err("open", &path))?;
                file.write_all(rest)
                    .and_then(|_| file.sync_data())
                    .map_err(io_err("write", &path))?;
            }
            return Ok(Mirrored::Appended(rest.len() as u64));
        }
        let kept = self.dir.join(format!(
            "audit.local-{}.jsonl",
            Utc::now().format("%Y%m%dT%H%M%S%.3fZ")
        ));
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir)
            .map_err(io_err("create a file in", &self.dir))?;
        tmp.write_all(chain)
            .and_then(|_| tmp.as_file().sync_all())
            .map_err(io_err("write", tmp.path()))?;
        fs::hard_link(&path, &kept).map_err(io_err("keep", &path))?;
        tmp.persist(&path)
            .map_err(|e| io_err("write", &path)(e.error))?;
        Ok(Mirrored::Replaced(kept))
    }
}

fn genesis_record(actor: &str) -> Record {
    // From the OS's random source; should it fail, the clock in
    // nanoseconds and the process id still make it unique in practice.
    let mut bytes = [0u8; 16];
    let log_id: u128 = match getrandom::fill(&mut bytes) {
        Ok(()) => u128::from_le_bytes(bytes),
        Err(_) => {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or_default();
            nanos ^ (u128::from(std::process::id()) << 96)
        }
    };
    seal(Record {
        seq: 0,
        time: now_utc(),
        actor: actor.to_string(),
        action: "genesis".into(),
        target: AUDIT_FILE.into(),
        result: "ok".into(),
        details: serde_json::json!({ "log_id": format!("{log_id:032x}") }),
        prev: GENESIS_PREV.into(),
        hash: String::new(),
    })
}

fn parse_raw(raw: &[u8]) -> Option<Record> {
    parse_raw_with_reason(raw).ok()
}

fn parse_raw_with_reason(raw: &[u8]) -> Result<Record, String> {
    let text = std::str::from_utf8(raw).map_err(|e| e.to_string())?;
    Record::parse(text)
}

/// Append a summary to the protocol audit log (`.verification_audit.log`):
/// `[2025-11-14T22:47:26Z] deploy_gate PASS actor=codex` then one
/// two-space-indented `key: value` line per detail. Newlines inside values
/// become spaces. Written with a single `write_all` in append mode, so lines
/// from other tools appending at the same time do not interleave within it.
pub fn append_protocol_log(
    path: &Path,
    time: DateTime<Utc>,
    action: &str,
    result: &str,
    actor: &str,
    details: &[(&str, String)],
) -> io::Result<()> {
    let one_line = |s: &str| s.replace(['\r', '\n'], " ");
    let mut text = format!(
        "[{}] {} {} actor={}\n",
        time.to_rfc3339_opts(SecondsFormat::Secs, true),
        one_line(action),
        one_line(result),
        one_line(actor)
    );
    for (k, v) in details {
        text.push_str(&format!("  {}: {}\n", one_line(k), one_line(v)));
    }
    let mut file = OpenOptions::new().create(true).append(true).open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_data()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_sorts_recursively() {
        let v: Value =
            serde_json::from_str(r#"{"b":1,"a":{"z":[{"y":1,"x":2}],"c":null}}"#).unwrap();
        assert_eq!(
            canonical_json(&v),
            r#"{"a":{"c":null,"z":[{"x":2,"y":1}]},"b":1}"#
        );
    }

    #[test]
    fn checkpoint_roundtrip() {
        let cp = Checkpoint {
            seq: 12,
            hash: "ab".repeat(32),
        };
        let s = cp.to_string();
        assert_eq!(
            s,
            format!("audit-checkpoint: seq=12 head={}", "ab".repeat(32))
        );
        assert_eq!(s.parse::<Checkpoint>().unwrap(), cp);
        assert!("audit-checkpoint: seq=x head=00"
            .parse::<Checkpoint>()
            .is_err());
        let text = format!("Release prod-2025-11-14\n\n  {s}\n");
        assert_eq!(find_checkpoint(&text), Some(cp));
        assert_eq!(find_checkpoint("nothing here"), None);
    }

    #[test]
    fn protocol_log_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(".verification_audit.log");
        let t = DateTime::parse_from_rfc3339("2025-11-14T22:47:26Z")
            .unwrap()
            .with_timezone(&Utc);
        append_protocol_log(
            &p,
            t,
            "deploy_gate",
            "PASS",
            "codex",
            &[("branch", "main".into())],
        )
        .unwrap();
        append_protocol_log(&p, t, "rollback", "OK", "codex", &[]).unwrap();
        assert_eq!(
            fs::read_to_string(&p).unwrap(),
            "[2025-11-14T22:47:26Z] deploy_gate PASS actor=codex\n  branch: main\n\
             [2025-11-14T22:47:26Z] rollback OK actor=codex\n"
        );
    }
}

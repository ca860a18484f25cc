//! Handoff packages (`.handoff/<slug>/` on a feature branch) and the legacy
//! `.ai-agents/handoff_*.json` manifests, and the evidence checklist over them.
//!
//! Everything is read straight from git objects ([`read_package`],
//! [`tree_equal_ignoring_handoff`]); the checklist itself ([`checklist`]) is a
//! pure function over explicit inputs, so the console, `guardrail check` and
//! the tests all judge a package the same way. Each item that is not ✅ says
//! in one line what is wrong (which file, which commit, which tag).

use std::collections::BTreeMap;
use std::path::Path;

pub use super::common::sha256_hex;
use super::common::short_sha;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use super::baseline::BaselineReport;
use super::evidence::{check_requirements, Requirement};

/// A handoff package or legacy manifest that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    /// `handoff.toml` is not valid or not the expected shape.
    #[error("{}", manifest_message(.file, *.line, .key.as_deref(), .message))]
    Manifest {
        file: String,
        line: Option<usize>,
        key: Option<String>,
        message: String,
    },
    /// A legacy JSON manifest that is not valid JSON of the expected shape;
    /// `message` says so in plain words, with the line.
    #[error("{file}: {message}")]
    LegacyJson {
        file: String,
        line: usize,
        column: usize,
        message: String,
    },
    /// Reading git objects failed.
    #[error("cannot read {what}: {message}")]
    Git { what: String, message: String },
}

impl HandoffError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

fn manifest_message(file: &str, line: Option<usize>, key: Option<&str>, message: &str) -> String {
    match (line, key) {
        (Some(l), Some(k)) => format!("{file} line {l}, key {k}: {message}"),
        (Some(l), None) => format!("{file} line {l}: {message}"),
        (None, Some(k)) => format!("{file}, key {k}: {message}"),
        (None, None) => format!("{file}: {message}"),
    }
}

fn git_err(what: impl Into<String>) -> impl FnOnce(git2::Error) -> HandoffError {
    let what = what.into();
    move |e| HandoffError::Git {
        what,
        message: e.message().to_string(),
    }
}

/// The package directory name for a branch: `/` becomes `-`.
pub fn slug(branch: &str) -> String {
    branch.replace('/', "-")
}

/// The package directory for a branch, e.g. `.handoff/feature-auth-modal`.
pub fn package_dir(branch: &str) -> String {
    format!(".handoff/{}", slug(branch))
}

// ---------------------------------------------------------------------------
// handoff.toml

/// The gate's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum GateResult {
    #[serde(rename = "PASS")]
    Pass,
    #[serde(rename = "FAIL")]
    Fail,
}

impl GateResult {
    pub fn as_str(self) -> &'static str {
        match self {
            GateResult::Pass => "PASS",
            GateResult::Fail => "FAIL",
        }
    }
}

/// `[gate]` of `handoff.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GateSection {
    pub result: GateResult,
    pub exit_code: i32,
    /// The log's file name inside the package.
    #[serde(default = "default_gate_log")]
    pub log: String,
    /// SHA-256 of the log's bytes, lowercase hex.
    pub sha256: String,
}

/// `[snapshot]` of `handoff.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnapshotSection {
    #[serde(default = "default_snapshot_file")]
    pub file: String,
}

impl Default for SnapshotSection {
    fn default() -> Self {
        SnapshotSection {
            file: default_snapshot_file(),
        }
    }
}

fn default_gate_log() -> String {
    "gate.log".to_string()
}
fn default_snapshot_file() -> String {
    "snapshot.md".to_string()
}

/// `handoff.toml` (SPEC §4).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HandoffManifest {
    pub branch: String,
    /// The commit the gate ran on (full sha).
    pub commit: String,
    /// When the package was made, UTC.
    #[serde(with = "utc_time")]
    pub created: DateTime<Utc>,
    #[serde(default)]
    pub author: String,
    /// Empty when the agent proposed none (the checklist then says so).
    #[serde(default)]
    pub proposed_tag: String,
    #[serde(default)]
    pub proposed_bundle: String,
    #[serde(default)]
    pub summary: String,
    pub gate: GateSection,
    #[serde(default)]
    pub snapshot: SnapshotSection,
}

/// `created` as an RFC 3339 string, read from a string or a TOML datetime.
mod utc_time {
    use chrono::{DateTime, Datelike, SecondsFormat, Utc};
    use serde::de::{self, MapAccess, Visitor};
    use serde::{Deserializer, Serializer};

    pub fn serialize<S: Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = DateTime<Utc>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a UTC time such as 2025-11-14T22:47:26Z")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                parse(v).map_err(E::custom)
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // toml hands datetimes over as a one-entry map.
                match map.next_entry::<String, String>()? {
                    Some((_, v)) => parse(&v).map_err(de::Error::custom),
                    None => Err(de::Error::custom("expected a time")),
                }
            }
        }
        d.deserialize_any(V)
    }

    fn parse(v: &str) -> Result<DateTime<Utc>, String> {
        DateTime::parse_from_rfc3339(v)
            .ok()
            .map(|t| t.with_timezone(&Utc))
            // RFC 3339 years have four digits; an offset can move
            // 0000-01-01 or 9999-12-31 out of them in UTC, and such a time
            // would be written as `-0001-…`, which does not read back.
            .filter(|t| (0..=9999).contains(&t.year()))
            .ok_or_else(|| format!("{v:?} is not a time such as 2025-11-14T22:47:26Z"))
    }
}

/// Byte offset → 1-based line.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    1 + text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// The dotted key assigned on `line` (1-based), with its table, if the line
/// is a `key = value` line or a `[table]` header.
fn key_at_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let this = lines.get(line.checked_sub(1)?)?.trim();
    if let Some(h) = table_header(this) {
        return Some(h);
    }
    let (k, _) = this.split_once('=')?;
    let k = k.trim().trim_matches('"');
    if k.is_empty() {
        return None;
    }
    let table = lines[..line - 1]
        .iter()
        .rev()
        .find_map(|l| table_header(l.trim()));
    Some(match table {
        Some(t) => format!("{t}.{k}"),
        None => k.to_string(),
    })
}

fn table_header(line: &str) -> Option<String> {
    let inner = line.strip_prefix('[')?;
    let end = inner.find(']')?;
    let name = inner[..end].trim();
    (!name.is_empty() && !name.starts_with('[')).then(|| name.to_string())
}

fn backticked(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

impl HandoffManifest {
    /// Reads `handoff.toml`; `source` names the file in errors, which give
    /// the line and the key.
    pub fn parse(text: &str, source: &str) -> Result<HandoffManifest, HandoffError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        toml::from_str::<HandoffManifest>(text).map_err(|e| {
            let message = e.message().trim().to_string();
            let span_line = e.span().map(|s| line_of(text, s.start));
            if let Some(field) = message
                .strip_prefix("missing field ")
                .and_then(|_| backticked(&message))
            {
                // The span covers the table the field is missing from.
                let table = span_line
                    .and_then(|l| text.lines().nth(l - 1))
                    .and_then(|l| table_header(l.trim()));
                let key = match table {
                    Some(t) => format!("{t}.{field}"),
                    None => field.to_string(),
                };
                return HandoffError::Manifest {
                    file: source.to_string(),
                    line: None,
                    key: Some(key),
                    message: "missing".to_string(),
                };
            }
            let key = span_line.and_then(|l| key_at_line(text, l));
            HandoffError::Manifest {
                file: source.to_string(),
                line: span_line,
                key,
                message,
            }
        })
    }

    /// Writes `handoff.toml`; `parse(&m.render(), _) == Ok(m)`.
    pub fn render(&self) -> String {
        toml::to_string(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

// ---------------------------------------------------------------------------
// Legacy JSON manifests

/// `critical_features` of a legacy manifest: claims, not proof.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CriticalFeatures {
    #[serde(default, deserialize_with = "loose_bool")]
    pub auth_present: Option<bool>,
    #[serde(default, deserialize_with = "loose_bool")]
    pub ps101_present: Option<bool>,
}

/// `.ai-agents/handoff_YYYYMMDD_HHMMSS.json`. Every field is optional and
/// unknown fields are ignored: these files were written by hand and by
/// several agents.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LegacyManifest {
    #[serde(default)]
    pub timestamp: Option<String>,
    #[serde(default)]
    pub commit: Option<String>,
    #[serde(default)]
    pub commit_message: Option<String>,
    #[serde(default)]
    pub branch: Option<String>,
    #[serde(default)]
    pub latest_backup: Option<String>,
    #[serde(default)]
    pub critical_features: Option<CriticalFeatures>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub next_agent_checklist: Vec<String>,
}

fn loose_bool<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Bool(b) => Some(b),
        serde_json::Value::Number(n) => n.as_i64().map(|n| n != 0),
        serde_json::Value::String(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "yes" | "y" | "1" | "present" | "ok" => Some(true),
            "false" | "no" | "n" | "0" | "absent" | "missing" => Some(false),
            _ => None,
        },
        _ => None,
    })
}

fn null_as_empty<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = serde_json::Value::deserialize(d)?;
    Ok(match v {
        serde_json::Value::Array(items) => items
            .into_iter()
            .map(|i| match i {
                serde_json::Value::String(s) => s,
                other => other.to_string(),
            })
            .collect(),
        serde_json::Value::String(s) => vec![s],
        _ => Vec::new(),
    })
}

impl LegacyManifest {
    /// Reads a legacy manifest; errors give line and column.
    pub fn parse(text: &str, source: &str) -> Result<LegacyManifest, HandoffError> {
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        serde_json::from_str(text).map_err(|e| {
            let full = e.to_string();
            // serde_json appends " at line L column C"; keep the sentence bare.
            let bare = match full.rfind(" at line ") {
                Some(i) => full[..i].to_string(),
                None => full,
            };
            let message = if e.is_data() {
                format!("not a handoff manifest at line {}: {bare}", e.line())
            } else {
                let at = text
                    .lines()
                    .nth(e.line().saturating_sub(1))
                    .and_then(|l| l.chars().nth(e.column().saturating_sub(1)));
                format!(
                    "not valid JSON at line {}: {}",
                    e.line(),
                    plain_json_error(&bare, at)
                )
            };
            HandoffError::LegacyJson {
                file: source.to_string(),
                line: e.line(),
                column: e.column(),
                message,
            }
        })
    }
}

/// serde_json's syntax error in the words of someone who edits JSON by
/// hand; `at` is the character where the parser stopped.
fn plain_json_error(serde: &str, at: Option<char>) -> String {
    let bare_word = at.is_some_and(|c| c.is_alphanumeric() || "/._-~".contains(c));
    let s = if serde.starts_with("expected ident") || serde.starts_with("expected value") {
        if bare_word {
            "a value is not in quotes"
        } else {
            "a value is missing"
        }
    } else if serde.starts_with("trailing comma") {
        "there is a comma after the last item"
    } else if serde.starts_with("EOF while parsing") {
        "the file ends too early (a bracket or a quote is not closed)"
    } else if serde.starts_with("key must be a string") {
        "a key is not in quotes"
    } else if serde.starts_with("expected `,` or") {
        "a comma is missing between two items"
    } else if serde.starts_with("expected `:`") {
        "a colon is missing after a key"
    } else if serde.starts_with("control character") {
        "a string breaks across lines (or holds a control character)"
    } else if serde.starts_with("invalid escape") {
        "a backslash in a string starts no valid escape"
    } else if serde.starts_with("trailing characters") {
        "there is more text after the end of the JSON document"
    } else {
        return serde.to_string();
    };
    s.to_string()
}

/// The time in a legacy manifest's file name (`handoff_20251114_224726.json`).
pub fn legacy_name_time(file_name: &str) -> Option<chrono::NaiveDateTime> {
    let base = file_name.rsplit('/').next()?;
    let stem = base.strip_prefix("handoff_")?.strip_suffix(".json")?;
    chrono::NaiveDateTime::parse_from_str(stem, "%Y%m%d_%H%M%S").ok()
}

// ---------------------------------------------------------------------------
// Reading a package from git

/// The files of a package as committed, read from git objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageFiles {
    /// The branch the package was read for.
    pub branch: String,
    /// `.handoff/<slug>`.
    pub dir: String,
    pub manifest_text: Option<String>,
    pub gate_log: Option<Vec<u8>>,
    pub snapshot_md: Option<String>,
    pub audit_json: Option<String>,
    /// `(path under evidence/, first 64 bytes)`, sorted by path.
    pub evidence: Vec<(String, Vec<u8>)>,
    /// Evidence files larger than `[evidence] max_file`, by their object
    /// header, not read; sorted by path. They fail the evidence check.
    pub oversized: Vec<OversizedEvidence>,
}

/// An evidence file in a commit larger than `[evidence] max_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OversizedEvidence {
    /// The path under `evidence/`.
    pub name: String,
    pub bytes: u64,
    /// The `[evidence] max_file` it exceeds.
    pub max: u64,
}

/// How many leading bytes of an evidence file are kept.
pub const EVIDENCE_PREFIX: usize = 64;

/// A file name from the manifest that stays inside the package.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Reads `.handoff/<slug>/` from `commit`'s tree without checking anything
/// out. `Ok(None)` when the commit carries no package for `branch`.
/// Evidence files over the default `[evidence] max_file` are not read (see
/// [`read_package_within`]).
pub fn read_package(
    repo: &git2::Repository,
    commit: &git2::Commit,
    branch: &str,
) -> Result<Option<PackageFiles>, HandoffError> {
    let max = super::config::Config::defaults().evidence.max_file.0;
    read_package_within(repo, commit, branch, max)
}

/// [`read_package`] with evidence files larger than `max_file` bytes (by
/// their object header, before any is read) listed as
/// [`PackageFiles::oversized`] instead of read: a huge blob committed as
/// evidence costs no memory.
pub fn read_package_within(
    repo: &git2::Repository,
    commit: &git2::Commit,
    branch: &str,
    max_file: u64,
) -> Result<Option<PackageFiles>, HandoffError> {
    let dir = package_dir(branch);
    let short = short_sha(&commit.id().to_string()).to_string();
    let tree = commit
        .tree()
        .map_err(git_err(format!("the tree of commit {short}")))?;
    let entry = match tree.get_path(Path::new(&dir)) {
        Ok(e) => e,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git_err(format!("{dir} in commit {short}"))(e)),
    };
    if entry.kind() != Some(git2::ObjectType::Tree) {
        return Ok(None);
    }
    let pkg = repo
        .find_tree(entry.id())
        .map_err(git_err(format!("{dir} in commit {short}")))?;

    let read = |name: &str| -> Result<Option<Vec<u8>>, HandoffError> {
        let e = match pkg.get_path(Path::new(name)) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(git_err(format!("{dir}/{name} in commit {short}"))(e)),
        };
        if e.kind() != Some(git2::ObjectType::Blob) {
            return Ok(None);
        }
        let blob = repo
            .find_blob(e.id())
            .map_err(git_err(format!("{dir}/{name} in commit {short}")))?;
        Ok(Some(blob.content().to_vec()))
    };
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();

    let manifest_text = read("handoff.toml")?.map(text);
    let (log_name, snapshot_name) = manifest_text
        .as_deref()
        .and_then(|t| HandoffManifest::parse(t, "handoff.toml").ok())
        .map(|m| (m.gate.log, m.snapshot.file))
        .filter(|(l, s)| safe_name(l) && safe_name(s))
        .unwrap_or_else(|| (default_gate_log(), default_snapshot_file()));

    let mut evidence = Vec::new();
    let mut oversized = Vec::new();
    if let Ok(e) = pkg.get_path(Path::new("evidence")) {
        if e.kind() == Some(git2::ObjectType::Tree) {
            let ev = repo
                .find_tree(e.id())
                .map_err(git_err(format!("{dir}/evidence in commit {short}")))?;
            let mut blobs = Vec::new();
            ev.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
                if entry.kind() == Some(git2::ObjectType::Blob) {
                    let name = entry.name().unwrap_or("?");
                    blobs.push((format!("{root}{name}"), entry.id()));
                }
                git2::TreeWalkResult::Ok
            })
            .map_err(git_err(format!("{dir}/evidence in commit {short}")))?;
            let odb = repo
                .odb()
                .map_err(git_err(format!("{dir}/evidence in commit {short}")))?;
            for (name, oid) in blobs {
                let (size, _) = odb
                    .read_header(oid)
                    .map_err(git_err(format!("{dir}/evidence/{name} in commit {short}")))?;
                if size as u64 > max_file {
                    oversized.push(OversizedEvidence {
                        name,
                        bytes: size as u64,
                        max: max_file,
                    });
                    continue;
                }
                let blob = repo
                    .find_blob(oid)
                    .map_err(git_err(format!("{dir}/evidence/{name} in commit {short}")))?;
                let content = blob.content();
                let keep = content.len().min(EVIDENCE_PREFIX);
                evidence.push((name, content[..keep].to_vec()));
            }
            evidence.sort();
            oversized.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }

    let gate_log = read(&log_name)?;
    let snapshot_md = read(&snapshot_name)?.map(text);
    let audit_json = read("audit.json")?.map(text);
    Ok(Some(PackageFiles {
        branch: branch.to_string(),
        dir,
        manifest_text,
        gate_log,
        snapshot_md,
        audit_json,
        evidence,
        oversized,
    }))
}

/// Compares two commits' trees ignoring everything under `.handoff/`.
/// Returns whether they are equal and, if not, the paths that differ.
pub fn tree_equal_ignoring_handoff(
    repo: &git2::Repository,
    a: &git2::Commit,
    b: &git2::Commit,
) -> Result<(bool, Vec<String>), git2::Error> {
    let (ta, tb) = (a.tree()?, b.tree()?);
    if ta.id() == tb.id() {
        return Ok((true, Vec::new()));
    }
    let diff = repo.diff_tree_to_tree(Some(&ta), Some(&tb), None)?;
    let mut changed: Vec<String> = diff
        .deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .or_else(|| d.old_file().path())
                .map(|p| p.to_string_lossy().into_owned())
        })
        .filter(|p| p != ".handoff" && !p.starts_with(".handoff/"))
        .collect();
    changed.sort();
    changed.dedup();
    Ok((changed.is_empty(), changed))
}

pub use super::tags::{next_free_tag, parse_prod_tag, prod_tag_name};

// ---------------------------------------------------------------------------
// The checklist

/// Everything the checklist judges, gathered by the caller.
pub struct ChecklistInputs<'a> {
    pub files: &'a PackageFiles,
    /// The parsed manifest, when it parsed.
    pub manifest: Option<&'a HandoffManifest>,
    /// Freshness (see [`tree_equal_ignoring_handoff`]); `None` when it could
    /// not be judged (e.g. the gate's commit is not in this repository).
    pub fresh: Option<(bool, Vec<String>)>,
    /// The console's own baseline check of the branch: `Ok(within)`, or why
    /// it could not run; `None` when not run.
    pub baseline_within: Option<Result<bool, String>>,
    /// The report behind `baseline_within`, for concrete reasons (optional).
    pub baseline_report: Option<&'a BaselineReport>,
    pub requirements: &'a [Requirement],
    pub tag_exists: &'a dyn Fn(&str) -> bool,
    pub tag_prefix: &'a str,
    pub backups_dir: &'a str,
    /// Whether a bundle path (as `<backups_dir>/<tag>.zip`) exists.
    pub bundle_exists: &'a dyn Fn(&str) -> bool,
    /// Whether `audit.json`'s own hash recomputes (the audit module's rule).
    pub audit_hash_ok: &'a dyn Fn(&str) -> bool,
    /// Whether this box's audit log holds the entry; `None` when unknown.
    pub audit_in_local_log: Option<bool>,
}

/// The state of one checklist line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemState {
    /// ✅
    Ok,
    /// ✅ with a note; does not block.
    Warn,
    /// Not there.
    Missing,
    /// There but wrong.
    Fail,
}

/// One checklist line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecklistItem {
    /// `gate`, `snapshot`, `visual`, `fallback` or `audit`.
    pub key: &'static str,
    pub state: ItemState,
    /// One line when not `Ok`.
    pub reason: Option<String>,
    /// Longer explanation for the detail pane.
    pub detail: Vec<String>,
}

impl ChecklistItem {
    fn new(
        key: &'static str,
        state: ItemState,
        reason: Option<String>,
        detail: Vec<String>,
    ) -> Self {
        ChecklistItem {
            key,
            state,
            reason,
            detail,
        }
    }
    /// Counts toward "ready".
    pub fn passes(&self) -> bool {
        matches!(self.state, ItemState::Ok | ItemState::Warn)
    }
}

/// A package's overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageState {
    Ready,
    Incomplete,
    Stale,
    Failed,
    None,
}

impl PackageState {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageState::Ready => "ready",
            PackageState::Incomplete => "incomplete",
            PackageState::Stale => "stale",
            PackageState::Failed => "failed",
            PackageState::None => "none",
        }
    }
}

/// "a, b, c and 4 more".
fn list_some(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let mut s = shown.join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

/// The evidence checklist (SPEC §4), one item per line, in order:
/// gate, snapshot, visual, fallback, audit.
pub fn checklist(inp: &ChecklistInputs) -> Vec<ChecklistItem> {
    let manifest_error = || -> Option<String> {
        let text = inp.files.manifest_text.as_deref()?;
        HandoffManifest::parse(text, &format!("{}/handoff.toml", inp.files.dir))
            .err()
            .map(|e| e.to_string())
    };
    vec![
        gate_item(inp, manifest_error()),
        snapshot_item(inp),
        visual_item(inp),
        fallback_item(inp, manifest_error()),
        audit_item(inp),
    ]
}

fn no_manifest(
    inp: &ChecklistInputs,
    parse_error: Option<String>,
    what: &str,
) -> (ItemState, String) {
    match parse_error {
        Some(e) => (
            ItemState::Fail,
            format!("handoff.toml cannot be read, so {what}: {e}"),
        ),
        None if inp.files.manifest_text.is_some() => (
            ItemState::Fail,
            format!("handoff.toml was not read, so {what}"),
        ),
        None => (
            ItemState::Missing,
            format!("handoff.toml is missing from {}/, so {what}", inp.files.dir),
        ),
    }
}

fn gate_item(inp: &ChecklistInputs, parse_error: Option<String>) -> ChecklistItem {
    const K: &str = "gate";
    let dir = &inp.files.dir;
    let Some(m) = inp.manifest else {
        let (state, reason) = no_manifest(inp, parse_error, "the gate result is unknown");
        return ChecklistItem::new(K, state, Some(reason), vec![]);
    };
    let mut detail = vec![
        format!(
            "gate {} (exit code {}) on commit {} at {} by {}",
            m.gate.result.as_str(),
            m.gate.exit_code,
            short_sha(&m.commit),
            m.created.format("%Y-%m-%d %H:%M:%SZ"),
            m.author
        ),
        format!("log {dir}/{}, sha256 {}", m.gate.log, m.gate.sha256),
    ];
    let Some(log) = inp.files.gate_log.as_deref() else {
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some(format!("{} is missing from {dir}/", m.gate.log)),
            detail,
        );
    };
    if m.gate.result == GateResult::Fail {
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!(
                "the gate failed (exit code {}) on commit {}",
                m.gate.exit_code,
                short_sha(&m.commit)
            )),
            detail,
        );
    }
    let actual = sha256_hex(log);
    if !actual.eq_ignore_ascii_case(m.gate.sha256.trim()) {
        detail.push(format!("{} hashes to {actual}", m.gate.log));
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!(
                "{} sha256 mismatch: the file hashes to {}…, handoff.toml records {}…",
                m.gate.log,
                short_sha(&actual),
                short_sha(m.gate.sha256.trim())
            )),
            detail,
        );
    }
    match &inp.fresh {
        None => ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!(
                "cannot tell whether the gate ran on this code: commit {} is not in this repository",
                short_sha(&m.commit)
            )),
            detail,
        ),
        Some((false, changed)) => {
            detail.push(format!("changed since the gate ran ({}):", changed.len()));
            detail.extend(changed.iter().map(|p| format!("  {p}")));
            ChecklistItem::new(
                K,
                ItemState::Fail,
                Some(format!(
                    "stale: the gate ran on {}, and {} file{} changed since: {}",
                    short_sha(&m.commit),
                    changed.len(),
                    if changed.len() == 1 { "" } else { "s" },
                    list_some(changed, 3)
                )),
                detail,
            )
        }
        Some((true, _)) => {
            if !inp.files.branch.is_empty() && m.branch != inp.files.branch {
                return ChecklistItem::new(
                    K,
                    ItemState::Warn,
                    Some(format!(
                        "handoff.toml names branch {}, but it was read from {}",
                        m.branch, inp.files.branch
                    )),
                    detail,
                );
            }
            ChecklistItem::new(K, ItemState::Ok, None, detail)
        }
    }
}

fn snapshot_item(inp: &ChecklistInputs) -> ChecklistItem {
    const K: &str = "snapshot";
    let name = inp
        .manifest
        .map_or_else(default_snapshot_file, |m| m.snapshot.file.clone());
    if inp.files.snapshot_md.is_none() {
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some(format!("{name} is missing from {}/", inp.files.dir)),
            vec![],
        );
    }
    let detail: Vec<String> = inp
        .baseline_report
        .map(|r| {
            r.checks
                .iter()
                .map(|c| match (c.within, &c.reason) {
                    (true, _) => format!(
                        "{}: {} lines, expected {} ± {}",
                        c.metric.name,
                        c.actual.unwrap_or(0),
                        c.metric.expected,
                        c.metric.tolerance
                    ),
                    (false, r) => {
                        format!("{}: {}", c.metric.name, r.as_deref().unwrap_or("outside"))
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    match &inp.baseline_within {
        None => ChecklistItem::new(
            K,
            ItemState::Missing,
            Some("the branch's baseline has not been checked yet".to_string()),
            detail,
        ),
        Some(Err(e)) => ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!("the baseline check could not run: {e}")),
            detail,
        ),
        Some(Ok(false)) => {
            let failures = inp
                .baseline_report
                .map(|r| r.failures())
                .unwrap_or_default();
            let reason = match failures.first() {
                Some(f) if failures.len() == 1 => format!("baseline outside tolerance: {f}"),
                Some(f) => format!(
                    "baseline outside tolerance: {f} (and {} more)",
                    failures.len() - 1
                ),
                None => "the branch's baseline is outside tolerance".to_string(),
            };
            ChecklistItem::new(K, ItemState::Fail, Some(reason), detail)
        }
        Some(Ok(true)) => ChecklistItem::new(K, ItemState::Ok, None, detail),
    }
}

fn visual_item(inp: &ChecklistInputs) -> ChecklistItem {
    const K: &str = "visual";
    let dir = &inp.files.dir;
    if let Some(big) = inp.files.oversized.first() {
        let mut reason = format!(
            "the evidence file {dir}/evidence/{} is {} bytes, more than [evidence] max_file ({})",
            big.name,
            big.bytes,
            super::config::Size(big.max)
        );
        if inp.files.oversized.len() > 1 {
            reason.push_str(&format!(
                " (and {} more over it)",
                inp.files.oversized.len() - 1
            ));
        }
        let detail = inp
            .files
            .oversized
            .iter()
            .map(|o| format!("❌ {}: {} bytes, not read", o.name, o.bytes))
            .collect();
        return ChecklistItem::new(K, ItemState::Fail, Some(reason), detail);
    }
    if inp.requirements.is_empty() {
        return ChecklistItem::new(
            K,
            ItemState::Ok,
            None,
            vec!["no [[evidence.require]] configured".to_string()],
        );
    }
    if inp.files.evidence.is_empty() {
        let names: Vec<String> = inp.requirements.iter().map(|r| r.name.clone()).collect();
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some(format!("no evidence files in {dir}/evidence/")),
            vec![format!("required: {}", names.join(", "))],
        );
    }
    let results = check_requirements(&inp.files.evidence, inp.requirements);
    let mut detail = Vec::new();
    for r in &results {
        let mark = if r.met { "✅" } else { "❌" };
        detail.push(format!(
            "{mark} {}: {} of {} matching {}",
            r.requirement.name,
            r.counted.len(),
            r.requirement.min,
            r.requirement.glob
        ));
        for rej in &r.rejected {
            detail.push(format!("   {}", rej.why));
        }
    }
    let unmet: Vec<_> = results.iter().filter(|r| !r.met).collect();
    match unmet.first() {
        None => ChecklistItem::new(K, ItemState::Ok, None, detail),
        Some(first) => {
            let fake = unmet.iter().any(|r| !r.rejected.is_empty());
            let mut reason = format!(
                "{}: {}",
                first.requirement.name,
                first.reason.as_deref().unwrap_or("not met")
            );
            if unmet.len() > 1 {
                reason.push_str(&format!(
                    " (and {} more requirement{} not met)",
                    unmet.len() - 1,
                    if unmet.len() == 2 { "" } else { "s" }
                ));
            }
            let state = if fake {
                ItemState::Fail
            } else {
                ItemState::Missing
            };
            ChecklistItem::new(K, state, Some(reason), detail)
        }
    }
}

/// The bundle path a package proposes for `tag`: `<backups_dir>/<tag>.zip`,
/// exactly as the fallback item expects it.
pub fn bundle_path(backups_dir: &str, tag: &str) -> String {
    join_bundle(backups_dir, tag)
}

/// `a/b/` + `x` → `a/b/x`, without doubled slashes or a leading `./`.
fn join_bundle(dir: &str, tag: &str) -> String {
    let d = dir.trim_end_matches('/');
    let d = d.strip_prefix("./").unwrap_or(d);
    if d.is_empty() || d == "." {
        format!("{tag}.zip")
    } else {
        format!("{d}/{tag}.zip")
    }
}

/// Whether a proposed bundle path names the expected one. The protocol
/// writes `/backups/…` meaning the repository's `backups/`, so a leading `/`
/// is forgiven when the configured directory is relative.
fn same_bundle(proposed: &str, expected: &str, backups_dir: &str) -> bool {
    let p = proposed.trim();
    let p = p.strip_prefix("./").unwrap_or(p);
    if p == expected {
        return true;
    }
    !backups_dir.starts_with('/') && p.strip_prefix('/') == Some(expected)
}

fn fallback_item(inp: &ChecklistInputs, parse_error: Option<String>) -> ChecklistItem {
    const K: &str = "fallback";
    let Some(m) = inp.manifest else {
        let (state, reason) = no_manifest(inp, parse_error, "no fallback tag is proposed");
        return ChecklistItem::new(K, state, Some(reason), vec![]);
    };
    let tag = m.proposed_tag.trim();
    let mut detail = vec![
        format!("proposed tag {tag}"),
        format!("proposed bundle {}", m.proposed_bundle),
    ];
    if tag.is_empty() {
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some("handoff.toml proposes no tag (proposed_tag is empty)".to_string()),
            detail,
        );
    }
    let Some((date, _)) = parse_prod_tag(inp.tag_prefix, tag) else {
        let p = inp.tag_prefix;
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!(
                "proposed tag {tag} is not of the form {p}YYYY-MM-DD or {p}YYYY-MM-DD.N (N ≥ 2)"
            )),
            detail,
        );
    };
    if (inp.tag_exists)(tag) {
        let mut n = 2;
        let next = loop {
            let cand = prod_tag_name(inp.tag_prefix, date, n);
            if !(inp.tag_exists)(&cand) || n > 999 {
                break cand;
            }
            n += 1;
        };
        detail.push(format!("next free tag that day: {next}"));
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!("tag {tag} already exists (next free: {next})")),
            detail,
        );
    }
    let expected = join_bundle(inp.backups_dir, tag);
    if m.proposed_bundle.trim().is_empty() {
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some(format!(
                "handoff.toml proposes no bundle path (expected {expected})"
            )),
            detail,
        );
    }
    if !same_bundle(&m.proposed_bundle, &expected, inp.backups_dir) {
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!(
                "proposed bundle {} does not match the tag: expected {expected}",
                m.proposed_bundle
            )),
            detail,
        );
    }
    if (inp.bundle_exists)(&expected) {
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!("{expected} already exists")),
            detail,
        );
    }
    ChecklistItem::new(K, ItemState::Ok, None, detail)
}

/// Finds a string field in the entry or its `details` object.
fn audit_field<'v>(v: &'v serde_json::Value, names: &[&str]) -> Option<&'v str> {
    for scope in [Some(v), v.get("details")].into_iter().flatten() {
        for n in names {
            if let Some(s) = scope.get(*n).and_then(|x| x.as_str()) {
                return Some(s);
            }
        }
    }
    None
}

fn audit_item(inp: &ChecklistInputs) -> ChecklistItem {
    const K: &str = "audit";
    let dir = &inp.files.dir;
    let Some(text) = inp.files.audit_json.as_deref() else {
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some(format!("audit.json is missing from {dir}/")),
            vec![],
        );
    };
    let mut detail = Vec::new();
    match inp.audit_in_local_log {
        Some(true) => detail.push("this box's audit log holds the entry".to_string()),
        Some(false) => detail.push(
            "this box's audit log does not hold the entry (the gate ran elsewhere)".to_string(),
        ),
        None => {}
    }
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => {
            return ChecklistItem::new(
                K,
                ItemState::Fail,
                Some("audit.json is not a JSON object".to_string()),
                detail,
            );
        }
        Err(e) => {
            return ChecklistItem::new(
                K,
                ItemState::Fail,
                Some(format!(
                    "audit.json is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                )),
                detail,
            );
        }
    };
    if !(inp.audit_hash_ok)(text) {
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some("audit.json's hash does not recompute: the entry was edited".to_string()),
            detail,
        );
    }
    if let Some(m) = inp.manifest {
        match audit_field(&v, &["commit"]) {
            None => {
                return ChecklistItem::new(
                    K,
                    ItemState::Fail,
                    Some("audit.json records no commit".to_string()),
                    detail,
                );
            }
            Some(c) if !same_commit(c, &m.commit) => {
                return ChecklistItem::new(
                    K,
                    ItemState::Fail,
                    Some(format!(
                        "audit.json records commit {}, but the gate ran on {}",
                        short_sha(c),
                        short_sha(&m.commit)
                    )),
                    detail,
                );
            }
            Some(_) => {}
        }
        match audit_field(&v, &["gate_log_sha256", "log_sha256", "sha256"]) {
            None => {
                return ChecklistItem::new(
                    K,
                    ItemState::Fail,
                    Some("audit.json records no gate log sha256".to_string()),
                    detail,
                );
            }
            Some(h) if !h.trim().eq_ignore_ascii_case(m.gate.sha256.trim()) => {
                return ChecklistItem::new(
                    K,
                    ItemState::Fail,
                    Some(format!(
                        "audit.json records gate log sha256 {}…, handoff.toml records {}…",
                        short_sha(h),
                        short_sha(&m.gate.sha256)
                    )),
                    detail,
                );
            }
            Some(_) => {}
        }
    }
    if let Some(seq) = v.get("seq") {
        detail.insert(0, format!("audit entry seq {seq}"));
    }
    ChecklistItem::new(K, ItemState::Ok, None, detail)
}

/// Full or abbreviated (≥ 7 hex digits) shas naming the same commit.
fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim().to_ascii_lowercase(), b.trim().to_ascii_lowercase());
    if a.len() < 7 || b.len() < 7 {
        return a == b;
    }
    a.starts_with(&b) || b.starts_with(&a)
}

/// The package state from its checklist: **failed** when the gate failed,
/// **stale** when the gate ran on other code, **ready** when every item
/// passes, **none** when there are no items, **incomplete** otherwise.
pub fn package_state(
    items: &[ChecklistItem],
    gate: Option<GateResult>,
    fresh: Option<bool>,
) -> PackageState {
    if items.is_empty() {
        return PackageState::None;
    }
    if gate == Some(GateResult::Fail) {
        return PackageState::Failed;
    }
    if fresh == Some(false) {
        return PackageState::Stale;
    }
    if items.iter().all(ChecklistItem::passes) {
        PackageState::Ready
    } else {
        PackageState::Incomplete
    }
}

/// What a legacy manifest can prove: whether its commit is still the branch
/// head and whether its latest backup is present. The rest is Missing.
pub fn legacy_checklist(
    m: &LegacyManifest,
    branch_head: &str,
    backup_exists: bool,
) -> Vec<ChecklistItem> {
    let mut gate_detail = Vec::new();
    if let Some(t) = &m.timestamp {
        gate_detail.push(format!("written {t}"));
    }
    if let Some(msg) = &m.commit_message {
        gate_detail.push(format!(
            "commit message: {}",
            msg.lines().next().unwrap_or("")
        ));
    }
    let gate = match m.commit.as_deref().map(str::trim).filter(|c| !c.is_empty()) {
        None => ChecklistItem::new(
            "gate",
            ItemState::Missing,
            Some("legacy manifest names no commit and carries no gate log".to_string()),
            gate_detail,
        ),
        Some(c) if !same_commit(c, branch_head) => ChecklistItem::new(
            "gate",
            ItemState::Fail,
            Some(format!(
                "stale: legacy manifest names commit {}, but the branch head is now {}",
                short_sha(c),
                short_sha(branch_head)
            )),
            gate_detail,
        ),
        Some(c) => ChecklistItem::new(
            "gate",
            ItemState::Missing,
            Some(format!(
                "legacy manifest carries no gate log (its commit {} is still the branch head)",
                short_sha(c)
            )),
            gate_detail,
        ),
    };
    let claims = m.critical_features.clone().unwrap_or_default();
    let claim = |v: Option<bool>| match v {
        Some(true) => "claimed present",
        Some(false) => "claimed absent",
        None => "not stated",
    };
    let visual = ChecklistItem::new(
        "visual",
        ItemState::Missing,
        Some("legacy manifest carries no visual evidence".to_string()),
        vec![
            format!("auth modal: {} (not proven)", claim(claims.auth_present)),
            format!("PS101 flow: {} (not proven)", claim(claims.ps101_present)),
        ],
    );
    let fallback = match m
        .latest_backup
        .as_deref()
        .map(str::trim)
        .filter(|b| !b.is_empty())
    {
        None => ChecklistItem::new(
            "fallback",
            ItemState::Missing,
            Some("legacy manifest names no backup".to_string()),
            vec![],
        ),
        Some(b) if backup_exists => ChecklistItem::new(
            "fallback",
            ItemState::Ok,
            None,
            vec![format!("latest backup {b} is present")],
        ),
        Some(b) => ChecklistItem::new(
            "fallback",
            ItemState::Fail,
            Some(format!(
                "latest backup {b} named in the manifest is not present"
            )),
            vec![],
        ),
    };
    let mut audit_detail = Vec::new();
    if !m.next_agent_checklist.is_empty() {
        audit_detail.push("next agent checklist:".to_string());
        audit_detail.extend(m.next_agent_checklist.iter().map(|s| format!("  - {s}")));
    }
    vec![
        gate,
        ChecklistItem::new(
            "snapshot",
            ItemState::Missing,
            Some("legacy manifest carries no snapshot".to_string()),
            vec![],
        ),
        visual,
        fallback,
        ChecklistItem::new(
            "audit",
            ItemState::Missing,
            Some("legacy manifest carries no audit entry".to_string()),
            audit_detail,
        ),
    ]
}

/// Groups legacy manifests by the branch they name (file name → manifest),
/// newest file name last.
pub fn legacy_by_branch(
    manifests: &[(String, LegacyManifest)],
) -> BTreeMap<String, Vec<(String, LegacyManifest)>> {
    let mut out: BTreeMap<String, Vec<(String, LegacyManifest)>> = BTreeMap::new();
    for (name, m) in manifests {
        if let Some(b) = m.branch.as_deref().filter(|b| !b.trim().is_empty()) {
            out.entry(b.trim().to_string())
                .or_default()
                .push((name.clone(), m.clone()));
        }
    }
    for v in out.values_mut() {
        v.sort_by(|a, b| a.0.cmp(&b.0));
    }
    out
}

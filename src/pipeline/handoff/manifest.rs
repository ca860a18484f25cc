//! `handoff.toml`, the package's manifest: its fields, how it parses, and
//! where a parse error points (file, line, key).

use super::*;

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

pub(super) fn default_gate_log() -> String {
    "gate.log".to_string()
}
pub(super) fn default_snapshot_file() -> String {
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

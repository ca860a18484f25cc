//! The legacy `.ai-agents/handoff_*.json` manifests: lenient parsing of
//! hand-written JSON, the time in their names, and the little a legacy
//! manifest can prove (its checklist).

use super::*;

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

//! Recording an action (SPEC §8): one call appends to the audit chain and
//! writes the one-line summary to the protocol audit log
//! (`.verification_audit.log`), so no caller can do one and forget the other.
use chrono::Utc;
use serde_json::Value;

use super::audit::{self, AuditError, AuditLog, NewEntry, Record};
use super::config::{self, Config};
use super::repo::Repo;

#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("could not append to the protocol audit log {path}: {source}")]
    Protocol {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    State(#[from] super::state::StateError),
}

impl RecordError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

/// The audit chain of this repository.
pub fn audit_log(repo: &Repo) -> AuditLog {
    AuditLog::open(&repo.state.path)
}

/// Appends `entry` to the chain, then its summary to the protocol log.
/// The chain comes first: it is the record that must not be lost.
pub fn record(repo: &Repo, cfg: &Config, entry: NewEntry) -> Result<Record, RecordError> {
    repo.state.ensure()?;
    let entry = masked(entry);
    let remote = super::team::Remote::of(repo, cfg);
    let rec = super::team::append(&repo.state.path, remote.as_ref(), cfg.team.offline, entry)?;
    let path = config::resolve(&repo.root, &cfg.project.protocol_audit_log);
    let mut details: Vec<(&str, String)> = vec![("target", rec.target.clone())];
    if let Value::Object(map) = &rec.details {
        for (k, v) in map {
            let v = match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            details.push((k.as_str(), v));
        }
    }
    details.push(("audit_seq", rec.seq.to_string()));
    let time = chrono::DateTime::parse_from_rfc3339(&rec.time)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|_| Utc::now());
    audit::append_protocol_log(
        &path,
        time,
        protocol_action(&rec.action),
        &rec.result,
        &rec.actor,
        &details,
    )
    .map_err(|e| RecordError::Protocol {
        path: path.display().to_string(),
        source: e,
    })?;
    Ok(rec)
}

/// `entry` as it may be stored: values of secret-looking variables of
/// guardrail's environment (in any form the runner masks), escape codes
/// and URL user-info (`http://user:pw@host/`) masked in every string.
fn masked(mut entry: NewEntry) -> NewEntry {
    let (secrets, _) = super::runner::secret_values_from_env(std::env::vars());
    let mask = |s: &str| super::runner::mask_secrets(s, &secrets);
    fn walk(v: &mut Value, mask: &dyn Fn(&str) -> String) {
        match v {
            Value::String(s) => {
                let m = mask(s);
                if m != *s {
                    *s = m;
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|v| walk(v, mask)),
            Value::Object(o) => o.values_mut().for_each(|v| walk(v, mask)),
            _ => {}
        }
    }
    entry.target = mask(&entry.target);
    walk(&mut entry.details, &mask);
    entry
}

/// The protocol log's own name for an action (its gate lines read
/// `deploy_gate PASS`).
fn protocol_action(action: &str) -> &str {
    match action {
        "gate" => "deploy_gate",
        other => other,
    }
}

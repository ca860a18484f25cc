//! Shared state of one clone (SPEC §8): `<git common dir>/guardrail/`, holding
//! the audit chain, the live record, the lock files, job journals and
//! worktrees. Every user of the clone on this box shares it.
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("the state directory {path} could not be used: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a valid live record: {message}")]
    BadRecord { path: String, message: String },
}

impl StateError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

/// The state directory of a repository.
#[derive(Debug, Clone)]
pub struct StateDir {
    pub path: PathBuf,
}

impl StateDir {
    /// `<git common dir>/guardrail`; nothing is created until written.
    pub fn for_common_dir(common_dir: &Path) -> StateDir {
        StateDir {
            path: common_dir.join("guardrail"),
        }
    }

    pub fn ensure(&self) -> Result<&Path, StateError> {
        std::fs::create_dir_all(&self.path).map_err(|e| StateError::Io {
            path: self.path.display().to_string(),
            source: e,
        })?;
        Ok(&self.path)
    }

    /// The token `guardrail drill` wrote into the state directory's marker
    /// (`token: <hex>` line). Only a match with the committed configuration's
    /// `[drill] token` makes a drill ([`super::repo::Repo::is_drill`]).
    pub fn drill_token(&self) -> Option<String> {
        let text = std::fs::read_to_string(self.path.join("drill")).ok()?;
        text.lines()
            .find_map(|l| l.strip_prefix("token: "))
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
    }

    pub fn live_path(&self) -> PathBuf {
        self.path.join("live.json")
    }

    /// What production serves, as last recorded on this box.
    pub fn read_live(&self) -> Result<Option<LiveRecord>, StateError> {
        let path = self.live_path();
        match std::fs::read(&path) {
            Ok(bytes) => {
                serde_json::from_slice(&bytes)
                    .map(Some)
                    .map_err(|e| StateError::BadRecord {
                        path: path.display().to_string(),
                        message: e.to_string(),
                    })
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StateError::Io {
                path: path.display().to_string(),
                source: e,
            }),
        }
    }

    /// Replaces the live record atomically (temporary file, sync, rename).
    pub fn write_live(&self, rec: &LiveRecord) -> Result<(), StateError> {
        self.ensure()?;
        let path = self.live_path();
        let io = |e| StateError::Io {
            path: path.display().to_string(),
            source: e,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&self.path).map_err(io)?;
        let body = serde_json::to_vec_pretty(rec).expect("a live record serialises");
        tmp.write_all(&body).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

/// How the live site's last verification went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LiveHealth {
    /// Verified: every check ✅.
    Ok,
    /// Verification failed.
    Failed,
    /// Deployed, not (yet) verified.
    Unverified,
    /// A deploy or publish failed part-way: what production serves is not
    /// known (`failure` says which build failed at which step).
    Unknown,
}

/// `live.json`: the last successful (or attempted) deploy or rollback.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LiveRecord {
    /// Prod tag now served, if any (a deploy that failed verification has none).
    pub tag: Option<String>,
    pub commit: String,
    pub build_id: String,
    pub branch: Option<String>,
    /// "deploy" or "rollback".
    pub action: String,
    pub actor: String,
    /// UTC, RFC 3339.
    pub time: String,
    pub health: LiveHealth,
    /// Prod tags whose verification failed: never a rollback target.
    #[serde(default)]
    pub bad_tags: Vec<String>,
    /// With health `unknown`: `deploy of <build> failed at <step>: <why>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<String>,
}

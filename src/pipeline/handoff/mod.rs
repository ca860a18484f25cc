//! Handoff packages (`.handoff/<slug>/` on a feature branch) and the legacy
//! `.ai-agents/handoff_*.json` manifests, and the evidence checklist over them.
//!
//! Everything is read straight from git objects ([`read_package`],
//! [`tree_equal_ignoring_handoff`]); the checklist itself ([`checklist`]) is a
//! pure function over explicit inputs, so the console, `guardrail check` and
//! the tests all judge a package the same way. Each item that is not ✅ says
//! in one line what is wrong (which file, which commit, which tag).
//!
//! One concept, one folder: [`manifest`] (`handoff.toml`), [`legacy`] (the
//! old JSON manifests), [`read`] (a package's files from git), [`checklist`]
//! (the judgement), [`guard`] (the checklist's guard line), [`package`] (one branch's whole assessment, shared by the
//! console and the commands) and [`make`] (`guardrail handoff`).

pub mod checklist;
pub mod guard;
pub mod legacy;
pub mod make;
pub mod manifest;
pub mod package;
pub mod read;

pub use checklist::*;
pub use legacy::*;
pub use manifest::*;
pub use read::*;

use std::collections::BTreeMap;
use std::path::Path;

pub use crate::pipeline::common::sha256_hex;
use crate::pipeline::common::short_sha;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::pipeline::baseline::BaselineReport;
use crate::pipeline::evidence::{check_requirements, Requirement};

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
    /// A file over the most guardrail reads of it (e.g. a legacy manifest
    /// over [`MAX_MANIFEST`]): sized, never read.
    #[error("{}", .size.sentence(.file))]
    TooLarge { file: String, size: TooLarge },
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

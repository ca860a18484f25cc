//! The baseline file (`deployment/deploy_baseline.env`) and the snapshot.
//!
//! The baseline is a shell file of `KEY=VALUE` lines that the project's own
//! scripts `source`; this module reads the same subset of shell a person
//! writes there (comments, `export`, single and double quotes, a UTF-8 BOM,
//! CRLF line ends) and refuses, with one sentence naming file and line,
//! anything the shell would read differently (expansions, operators).
//!
//! `<NAME>_LINE_COUNT` / `<NAME>_LINE_TOLERANCE` pairs become [`Metric`]s,
//! which are checked against files read straight from a git tree
//! ([`check_tree`]) or a working directory ([`check_dir`]). The snapshot is
//! that check plus the diff of the watched files against the golden build
//! ([`diff_watched`]), rendered as Markdown by [`render_snapshot_md`].

use crate::pipeline::common::short_sha;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

mod metrics;
mod parser;
mod snapshot;

pub use metrics::*;
pub use parser::*;
pub use snapshot::*;

/// Something about a baseline that could not be read or checked. Each
/// message is one sentence naming the file and, where there is one, the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BaselineError {
    /// A line the parser cannot read.
    #[error("{file} line {line}: {message}")]
    Syntax {
        file: String,
        line: usize,
        message: String,
    },
    /// The same key assigned twice.
    #[error("{file} line {line}: {key} is set again here, already set on line {first_line}")]
    Duplicate {
        file: String,
        key: String,
        first_line: usize,
        line: usize,
    },
    /// A count or tolerance that is not a whole number.
    #[error("{file} line {line}: {key} must be a whole number, found {value:?}")]
    NotNumeric {
        file: String,
        key: String,
        value: String,
        line: usize,
    },
    /// A tolerance without the count it belongs to.
    #[error("{file} line {line}: {key} has no matching {name}_LINE_COUNT")]
    OrphanTolerance {
        file: String,
        key: String,
        name: String,
        line: usize,
    },
    /// The baseline file itself is absent.
    #[error("{file} is not there ({where_})")]
    Missing { file: String, where_: String },
    /// Reading the baseline failed (I/O or git).
    #[error("cannot read {file}: {message}")]
    Read { file: String, message: String },
}

impl BaselineError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

/// A parsed baseline file: every assignment in file order, with its 1-based
/// line number.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseline {
    /// Name used in error messages (the file's path).
    pub source: String,
    /// `(key, value, line)` in file order.
    pub vars: Vec<(String, String, usize)>,
}

/// One `<NAME>_LINE_COUNT` with its tolerance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metric {
    /// `NAME` without the `_LINE_COUNT` suffix, e.g. `MOSAIC_UI`.
    pub name: String,
    pub expected: u64,
    /// 0 when no `<NAME>_LINE_TOLERANCE` is given.
    pub tolerance: u64,
    /// Line of the `_LINE_COUNT` assignment.
    pub line: usize,
}

impl Metric {
    /// Whether `actual` lies within `expected ± tolerance`.
    pub fn within(&self, actual: u64) -> bool {
        actual.abs_diff(self.expected) <= self.tolerance
    }
}

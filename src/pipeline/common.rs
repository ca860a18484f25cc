//! Small things every pipeline module needs, each written once: the exit
//! codes of SPEC §6, the file-system error (`could not {what} {path}`),
//! short commit ids and lowercase hex SHA-256.
use std::io;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Exit codes shared by all commands (SPEC §6). Each pipeline error type
/// says which of these it ends a command with (its `exit_code` method).
pub mod exit {
    /// The command ran and the answer is "no" (verification failed, drift).
    pub const NOT_OK: u8 = 1;
    /// Bad input: a flag, file, repository or configuration is wrong.
    pub const BAD_INPUT: u8 = 2;
    /// A guardrail said no.
    pub const REFUSED: u8 = 3;
    /// A step could not run.
    pub const STEP_FAILED: u8 = 4;
}

/// A file-system operation that failed: what was being done, to which path.
#[derive(Debug, thiserror::Error)]
#[error("could not {what} {path}: {source}", path = .path.display())]
pub struct IoError {
    pub what: &'static str,
    pub path: PathBuf,
    #[source]
    pub source: io::Error,
}

impl IoError {
    pub fn new(what: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        IoError {
            what,
            path: path.into(),
            source,
        }
    }
}

/// A `map_err` adapter: the `io::Error` as an [`IoError`] doing `what` to
/// `path`, converted into the caller's error type.
pub fn io_err<'a, E: From<IoError>>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(io::Error) -> E + 'a {
    move |source| E::from(IoError::new(what, path, source))
}

/// Characters of a commit id in a sentence, as `git log --oneline` shows it.
pub const SHORT_SHA: usize = 7;
/// Characters of a commit id in a table column or a one-line state.
pub const SHORT_SHA_COLUMN: usize = 8;

/// The first `len` characters of `sha` (all of it when shorter).
pub fn abbrev(sha: &str, len: usize) -> &str {
    sha.get(..len).unwrap_or(sha)
}

/// A commit id shortened for a sentence ([`SHORT_SHA`] characters).
pub fn short_sha(sha: &str) -> &str {
    abbrev(sha, SHORT_SHA)
}

/// A commit id shortened for a column ([`SHORT_SHA_COLUMN`] characters).
pub fn column_sha(sha: &str) -> &str {
    abbrev(sha, SHORT_SHA_COLUMN)
}

/// Lowercase hex SHA-256 of the exact bytes.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The first `max` of `items`, comma-separated, and how many more there are
/// (`a, b, c and 4 more`).
pub fn list_some(items: &[String], max: usize) -> String {
    let mut s = items
        .iter()
        .take(max)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

/// Seconds for a person to read: one decimal from a second up (`12.3`),
/// two below (`0.04`), and `<0.01` under that, so a fast restore never
/// reads as `0.0` (as if nothing had been timed).
pub fn seconds(s: f64) -> String {
    if s >= 1.0 {
        format!("{s:.1}")
    } else if s >= 0.01 {
        format!("{s:.2}")
    } else {
        "<0.01".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_and_hashes() {
        let sha = "0123456789abcdef";
        assert_eq!(short_sha(sha), "0123456");
        assert_eq!(column_sha(sha), "01234567");
        assert_eq!(short_sha("abc"), "abc");
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let e = IoError::new("read", "/x/y", io::Error::other("boom"));
        assert_eq!(e.to_string(), "could not read /x/y: boom");
    }

    #[test]
    fn seconds_never_read_as_zero() {
        assert_eq!(super::seconds(12.34), "12.3");
        assert_eq!(super::seconds(1.0), "1.0");
        assert_eq!(super::seconds(0.038), "0.04");
        assert_eq!(super::seconds(0.004), "<0.01");
        assert_eq!(super::seconds(0.0), "<0.01");
    }
}

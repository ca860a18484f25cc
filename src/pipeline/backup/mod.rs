//! Release backups and restore (SPEC §2, §7): `<backups_dir>/<tag>.zip`
//! holding the configured `archive` paths plus `MANIFEST.sha256`, and the way
//! back from such a zip (or from a tag's git tree) to a directory that can be
//! published again.
//!
//! # Two hashes
//!
//! - The **raw hash** ([`raw_hash`]) is the SHA-256 of a file's exact bytes.
//!   `MANIFEST.sha256` carries raw hashes, so a backup proves byte for byte
//!   what was archived, and a restore is checked against it.
//! - The **content hash** ([`content_hash`]) is the SHA-256 of the bytes with
//!   every `<!-- BUILD_ID:… -->` comment cut out ([`super::buildid`]).
//!   Production serves the bundle with its BUILD_ID filled in, so comparing
//!   what is served with a bundle ([`bundle_manifest`]) uses this one.
//!
//! # `MANIFEST.sha256`
//!
//! One line per file, `<sha256 of the raw bytes>  <path>` (two spaces, as
//! `sha256sum` writes it), the path relative to the zip root with the bundle
//! directory as its top folder (`mosaic_ui/index.html`), sorted by path. The
//! manifest does not list itself.
//!
//! # Entry names
//!
//! The same rule holds for writing and reading, so guardrail never writes a
//! backup it would refuse: an entry name is a relative path of plain
//! components separated by `/`; `..`, a leading `/`, a drive prefix (`C:`,
//! also behind `./`), a backslash, a NUL or a line break make the whole zip
//! refused, before anything is written. `.` and empty components are dropped. Symbolic links
//! are refused too: in a zip (a link extracted first could redirect a later
//! entry outside the target), on disk and in a git tree (a published bundle
//! has no use for them, and writing one as a file would change the site
//! silently). Empty directories are not kept: directories are implied by the
//! files they hold.
//!
//! # Writing
//!
//! [`write_backup`] streams every file through the zip writer and the hasher
//! in one pass into a temporary file in the backups directory, syncs it,
//! renames it into place with `renameat2(RENAME_NOREPLACE)` (on Linux; a
//! `link` + `unlink` pair elsewhere or where the file system lacks it), then
//! syncs the directory. An existing backup is never replaced, and a failure
//! leaves nothing at the final name and no temporary behind.
//!
//! # Restoring
//!
//! [`restore`] checks every entry name and the manifest's file list before
//! writing anything, extracts into a staging directory beside the target
//! (hashing while it writes), re-reads every written file and compares it with
//! the manifest, and only then renames the staging directory to the target.
//! A zip made by hand before guardrail (no manifest) is accepted on its own
//! CRC-32 checks. [`restore_from_tree`] does the same from a commit's tree and
//! checks the written files against the tree's blob ids.
//!
//! Restored files get mode 0755 when any execute bit was archived, else 0644;
//! directories get 0755.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use git2::{ObjectType, Oid};
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::common::{self, IoError};
use super::config::{self, Config};
use super::repo::Repo;

mod inspect;
mod limits;
mod manifest;
mod restore;
mod write;

pub use inspect::*;
pub use limits::*;
pub use manifest::*;
pub use restore::*;
pub use write::*;

/// Name of the manifest entry at the zip root.
pub const MANIFEST_NAME: &str = "MANIFEST.sha256";

/// Read/write buffer size for streaming file contents.
const CHUNK: usize = 256 * 1024;

/// The largest `MANIFEST.sha256` read (a line per file).
const MAX_MANIFEST: u64 = 16 << 20;

/// Errors from writing, inspecting or restoring a backup. Each message is
/// one sentence naming the path concerned.
#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The backup already exists; backups are never overwritten.
    #[error("the backup {0} already exists and is never overwritten")]
    Exists(PathBuf),
    /// A file-system operation failed.
    #[error(transparent)]
    Io(#[from] IoError),
    /// An `archive` path from the configuration is absolute or climbs out.
    #[error("the archive path `{0}` must be a relative path inside the repository")]
    BadArchivePath(String),
    /// An `archive` path is not in the source.
    #[error("the archive path `{path}` does not exist in {place}")]
    MissingPath { path: String, place: String },
    /// The `archive` paths hold no file at all.
    #[error("nothing to archive: the archive paths ({0}) hold no files")]
    NothingToArchive(String),
    /// A file a backup cannot hold (symbolic link, special file, odd name).
    #[error("{path} is {what}, which a backup cannot hold")]
    Unsupported { path: String, what: &'static str },
    /// The file is not a zip archive that can be read.
    #[error("{path} is not a readable zip archive: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    /// An entry whose path would leave the target directory, or a link.
    #[error("{path} holds the entry `{entry}` ({reason}); the whole backup is refused")]
    UnsafeEntry {
        path: PathBuf,
        entry: String,
        reason: &'static str,
    },
    /// A manifest line that is not `<sha256>  <path>`.
    #[error("{file} line {line} is not `<sha256>  <path>`: `{text}`")]
    BadManifest {
        file: String,
        line: usize,
        text: String,
    },
    /// Files that are missing, extra or different from the manifest.
    #[error("{path} does not match its manifest: {}", list_files(files))]
    ManifestMismatch { path: PathBuf, files: Vec<String> },
    /// An entry of a zip without manifest fails its CRC-32 check or cannot
    /// be decompressed.
    #[error("the entry `{entry}` of {path} fails its zip checksum ({reason})")]
    CrcFailed {
        path: PathBuf,
        entry: String,
        reason: String,
    },
    /// The restore target exists and is not an empty directory.
    #[error("the restore target {0} is not an empty directory")]
    DestNotEmpty(PathBuf),
    /// A restored file does not match the tree it came from.
    #[error(
        "restored files in {dest} do not match the tree: {}",
        list_files(files)
    )]
    TreeMismatch { dest: PathBuf, files: Vec<String> },
    /// The backup unpacks to more than it may (`[backup] max_unpacked` or
    /// the free space where it would be unpacked): refused, nothing written.
    #[error("{path} unpacks to {size}, more than {limit}; the backup is refused and nothing was written")]
    TooLarge {
        path: PathBuf,
        /// `12 345 bytes`, or `more than …` when counted while writing.
        size: String,
        /// `[backup] max_unpacked (2GiB)` or `the free space in <dir> (…)`.
        limit: String,
    },
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

impl BackupError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

fn list_files(files: &[String]) -> String {
    const SHOWN: usize = 5;
    let mut s = files
        .iter()
        .take(SHOWN)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if files.len() > SHOWN {
        s.push_str(&format!(" and {} more", files.len() - SHOWN));
    }
    s
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> BackupError + 'a {
    common::io_err(what, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_ignores_build_id() {
        let a = b"<p>x</p>\n  <!-- BUILD_ID:abc1234-20251114T140000Z -->\n</body>";
        let b = b"<p>x</p>\n  <!-- BUILD_ID:dev -->\n</body>";
        let c = b"<p>x</p>\n  \n</body>";
        assert_eq!(content_hash(a), content_hash(b));
        assert_eq!(content_hash(b), raw_hash(c));
        assert_ne!(raw_hash(a), raw_hash(b));
        assert_ne!(content_hash(b"<p>y</p>"), content_hash(b"<p>x</p>"));
        // No comment, or an unterminated one: the raw hash.
        assert_eq!(content_hash(b"plain"), raw_hash(b"plain"));
        let open = b"<!-- BUILD_ID:never closed\n";
        assert_eq!(content_hash(open), raw_hash(open));
        // The same rule as live verification and drift: a newline inside is
        // part of the comment, and `|…` after the id too.
        assert_eq!(
            content_hash(b"a<!--BUILD_ID:x\n|SHA:1-->b"),
            raw_hash(b"ab")
        );
    }

    #[test]
    fn manifest_round_trip_and_errors() {
        let entries = vec![
            ("mosaic_ui/z.js".to_string(), "a".repeat(64)),
            ("mosaic_ui/index.html".to_string(), "b".repeat(64)),
        ];
        let text = render_manifest(&entries);
        assert!(text.starts_with(&format!("{}  mosaic_ui/index.html\n", "b".repeat(64))));
        let back = parse_manifest(&text).unwrap();
        assert_eq!(back[0].0, "mosaic_ui/index.html");
        assert_eq!(back.len(), 2);

        let bad = format!("{}  a\nnot a line\n", "c".repeat(64));
        match parse_manifest(&bad) {
            Err(BackupError::BadManifest { line, .. }) => assert_eq!(line, 2),
            other => panic!("{other:?}"),
        }
        let evil = format!("{}  ../evil\n", "c".repeat(64));
        assert!(parse_manifest(&evil).is_err());
        let twice = format!("{0}  a\n{0}  a\n", "c".repeat(64));
        assert!(parse_manifest(&twice).is_err());
        let star = format!("{} *a/b\r\n\n", "C".repeat(64));
        assert_eq!(
            parse_manifest(&star).unwrap(),
            vec![("a/b".to_string(), "c".repeat(64))]
        );
    }

    #[test]
    fn entry_names() {
        assert_eq!(
            safe_name("mosaic_ui/./a//b.html").unwrap(),
            "mosaic_ui/a/b.html"
        );
        for bad in [
            "../evil",
            "/abs",
            "a/../../b",
            "a/../b",
            "C:/x",
            "c:",
            "./C:/x",
            ".//m:",
            "a\\b",
            "",
        ] {
            assert!(safe_name(bad).is_err(), "{bad}");
        }
    }
}

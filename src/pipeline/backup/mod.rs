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

// ---------------------------------------------------------------------------
// Hashes and the manifest

/// Lowercase hex SHA-256 of the exact bytes (what `MANIFEST.sha256` holds).
pub fn raw_hash(bytes: &[u8]) -> String {
    crate::pipeline::common::sha256_hex(bytes)
}

/// Lowercase hex SHA-256 of `bytes` with every BUILD_ID comment cut out,
/// so a bundle and the page production serves compare equal whatever
/// BUILD_ID either carries (one implementation: [`super::buildid`]). Bytes
/// without such a comment hash as [`raw_hash`] does.
pub use super::buildid::content_hash;

/// Reads `MANIFEST.sha256` text into (path, raw sha256) pairs in file order.
/// Empty lines are skipped; `sha256sum`'s binary marker (`<sha256> *<path>`)
/// and CRLF line ends are accepted; a bad line, an unsafe path or a path
/// listed twice is an error naming the line.
pub fn parse_manifest(text: &str) -> Result<Vec<(String, String)>, BackupError> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let bad = || BackupError::BadManifest {
            file: MANIFEST_NAME.into(),
            line: i + 1,
            text: line.chars().take(120).collect(),
        };
        let (sha, rest) = line.split_at_checked(64).ok_or_else(bad)?;
        if !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let path = rest
            .strip_prefix("  ")
            .or_else(|| rest.strip_prefix(" *"))
            .ok_or_else(bad)?;
        let path = safe_name(path).map_err(|_| bad())?;
        if !seen.insert(path.clone()) {
            return Err(bad());
        }
        out.push((path, sha.to_ascii_lowercase()));
    }
    Ok(out)
}

/// Writes (path, raw sha256) pairs as `MANIFEST.sha256` text, sorted by path.
pub fn render_manifest(entries: &[(String, String)]) -> String {
    let mut sorted: Vec<&(String, String)> = entries.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut s = String::new();
    for (path, sha) in sorted {
        s.push_str(sha);
        s.push_str("  ");
        s.push_str(path);
        s.push('\n');
    }
    s
}

/// The [`content_hash`] of every regular file under `dir`, keyed by its path
/// relative to `dir` with `prefix/` in front (no prefix when empty), e.g.
/// `bundle_manifest(publish_dir, "mosaic_ui")` gives `mosaic_ui/index.html`
/// keys comparable with a backup's entries. A missing `dir` gives an empty
/// map; symbolic links and files that cannot be read are left out (so they
/// show as missing in a comparison).
pub fn bundle_manifest(dir: &Path, prefix: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let prefix = prefix.trim_matches('/');
    let mut stack = vec![(dir.to_path_buf(), prefix.to_string())];
    while let Some((d, rel)) = stack.pop() {
        let Ok(rd) = fs::read_dir(&d) else { continue };
        for e in rd.flatten() {
            let Ok(ft) = e.file_type() else { continue };
            let name = e.file_name().to_string_lossy().into_owned();
            let r = if rel.is_empty() {
                name
            } else {
                format!("{rel}/{name}")
            };
            if ft.is_dir() {
                stack.push((e.path(), r));
            } else if ft.is_file() {
                if let Ok(bytes) = fs::read(e.path()) {
                    out.insert(r, content_hash(&bytes));
                }
            }
        }
    }
    out
}

/// Checks an entry or archive name and normalises it (drops `.` and empty
/// components). `Err` carries the reason.
fn safe_name(name: &str) -> Result<String, &'static str> {
    if name.contains('\0') {
        return Err("a NUL in the name");
    }
    if name.contains('\n') || name.contains('\r') {
        return Err("a line break in the name");
    }
    if name.contains('\\') {
        return Err("a backslash in the name");
    }
    if name.starts_with('/') {
        return Err("an absolute path");
    }
    let mut parts = Vec::new();
    for c in name.split('/') {
        match c {
            "" | "." => {}
            ".." => return Err("a `..` component"),
            // The first component kept, not the first written: `./C:/x`
            // normalises to `C:/x`, which must be refused just the same.
            c if parts.is_empty() && c.len() >= 2 && c.as_bytes()[1] == b':' => {
                return Err("a drive prefix")
            }
            c => parts.push(c),
        }
    }
    if parts.is_empty() {
        return Err("an empty path");
    }
    Ok(parts.join("/"))
}

// ---------------------------------------------------------------------------
// Writing

/// What a backup is made from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A directory tree on disk: the checkout that was deployed. The
    /// `archive` paths are relative to it.
    Dir(PathBuf),
    /// A commit's git tree (a tag or commit id; tags are peeled).
    Commit(Oid),
}

/// A written backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupInfo {
    pub path: PathBuf,
    /// Size of the zip file.
    pub bytes: u64,
    /// Files archived (the manifest not counted).
    pub files: usize,
    /// SHA-256 of the `MANIFEST.sha256` entry's bytes.
    pub manifest_sha256: String,
}

/// One file to archive.
enum Item {
    Disk { path: PathBuf, exec: bool },
    Blob { id: Oid, exec: bool },
}

/// Writes `<backups_dir>/<tag>.zip` from `source` (see the module docs).
/// Creates the backups directory when missing; refuses with
/// [`BackupError::Exists`] when the zip (or anything else) is already at
/// that name.
pub fn write_backup(
    repo: &Repo,
    cfg: &Config,
    tag: &str,
    source: Source,
) -> Result<BackupInfo, BackupError> {
    if tag.is_empty() || tag.contains('/') || tag.contains('\0') || tag.starts_with('.') {
        return Err(BackupError::Unsupported {
            path: tag.to_string(),
            what: "not a usable tag name for a backup file",
        });
    }
    let dir = config::resolve(&repo.root, &cfg.project.backups_dir);
    let final_path = dir.join(format!("{tag}.zip"));
    if fs::symlink_metadata(&final_path).is_ok() {
        return Err(BackupError::Exists(final_path));
    }
    let items = collect_items(repo, &cfg.project.archive, &source)?;
    if items.is_empty() {
        return Err(BackupError::NothingToArchive(
            cfg.project.archive.join(", "),
        ));
    }

    match fs::metadata(&dir) {
        Ok(m) if !m.is_dir() => {
            return Err(BackupError::Io(IoError::new(
                "use the backups directory",
                dir,
                io::Error::new(io::ErrorKind::NotADirectory, "it is not a directory"),
            )))
        }
        Ok(_) => {}
        Err(_) => fs::create_dir_all(&dir).map_err(io_err("create the backups directory", &dir))?,
    }

    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{tag}.zip."))
        .suffix(".tmp")
        .tempfile_in(&dir)
        .map_err(io_err("create a temporary file in", &dir))?;
    // Errors while writing name the backup being written; the temporary is
    // removed when `tmp` drops.
    let write_err = io_err("write the backup", &final_path);
    let (files, manifest_sha256) = write_zip(repo, tmp.as_file(), &items).map_err(|e| match e {
        WriteError::Io(e) => write_err(e),
        WriteError::Backup(b) => b,
    })?;
    tmp.as_file()
        .sync_all()
        .map_err(io_err("sync the backup", &final_path))?;
    let bytes = tmp
        .as_file()
        .metadata()
        .map_err(io_err("write the backup", &final_path))?
        .len();
    let tmp_path = tmp.into_temp_path();
    match rename_noreplace(&tmp_path, &final_path) {
        Ok(()) => {
            // The temporary name is gone: nothing to delete.
            let _ = tmp_path.keep();
        }
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(BackupError::Exists(final_path));
        }
        Err(e) => return Err(io_err("move the backup into place at", &final_path)(e)),
    }
    if let Err(e) = File::open(&dir).and_then(|d| d.sync_all()) {
        // Keep the promise that a failed backup leaves nothing at its name.
        let _ = fs::remove_file(&final_path);
        return Err(io_err("sync the backups directory", &dir)(e));
    }
    Ok(BackupInfo {
        path: final_path,
        bytes,
        files,
        manifest_sha256,
    })
}

/// Moves a staged backup (written with [`write_backup`] under a staging
/// name before the deploy, so a full disk stops the release before anything
/// is published) to `<backups_dir>/<tag>.zip`, never replacing a file there,
/// and syncs the directory.
pub fn promote(
    repo: &Repo,
    cfg: &Config,
    staged: &BackupInfo,
    tag: &str,
) -> Result<BackupInfo, BackupError> {
    let dir = config::resolve(&repo.root, &cfg.project.backups_dir);
    let final_path = dir.join(format!("{tag}.zip"));
    match rename_noreplace(&staged.path, &final_path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(BackupError::Exists(final_path))
        }
        Err(e) => return Err(io_err("move the backup into place at", &final_path)(e)),
    }
    File::open(&dir)
        .and_then(|d| d.sync_all())
        .map_err(io_err("sync the backups directory", &dir))?;
    Ok(BackupInfo {
        path: final_path,
        ..staged.clone()
    })
}

/// Renames `from` to `to` unless `to` exists (then `AlreadyExists`).
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        use std::ffi::CString;
        use std::os::unix::ffi::OsStrExt;
        let f = CString::new(from.as_os_str().as_bytes())?;
        let t = CString::new(to.as_os_str().as_bytes())?;
        // SAFETY: both pointers are valid NUL-terminated strings for the
        // duration of the call.
        let rc = unsafe {
            libc::renameat2(
                libc::AT_FDCWD,
                f.as_ptr(),
                libc::AT_FDCWD,
                t.as_ptr(),
                libc::RENAME_NOREPLACE,
            )
        };
        if rc == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        match e.raw_os_error() {
            // No renameat2 in this kernel, or not on this file system.
            Some(libc::ENOSYS) | Some(libc::EINVAL) => {}
            _ => return Err(e),
        }
    }
    // A hard link fails if `to` exists; then drop the temporary name (if
    // that fails, the caller's temporary-file guard removes it).
    fs::hard_link(from, to)?;
    let _ = fs::remove_file(from);
    Ok(())
}

enum WriteError {
    Io(io::Error),
    Backup(BackupError),
}

impl From<io::Error> for WriteError {
    fn from(e: io::Error) -> Self {
        WriteError::Io(e)
    }
}

impl From<zip::result::ZipError> for WriteError {
    fn from(e: zip::result::ZipError) -> Self {
        WriteError::Io(match e {
            zip::result::ZipError::Io(e) => e,
            other => io::Error::other(other),
        })
    }
}

/// Streams every item into a zip on `file`, then the manifest. Returns the
/// file count and the manifest's sha256.
fn write_zip(
    repo: &Repo,
    file: &File,
    items: &BTreeMap<String, Item>,
) -> Result<(usize, String), WriteError> {
    let mut zip = ZipWriter::new(BufWriter::with_capacity(
        CHUNK,
        Latch {
            inner: file,
            failed: false,
        },
    ));
    let now = chrono::Utc::now().naive_utc();
    let stamp = {
        use chrono::{Datelike, Timelike};
        zip::DateTime::from_date_and_time(
            now.year().clamp(1980, 2107) as u16,
            now.month() as u8,
            now.day() as u8,
            now.hour() as u8,
            now.minute() as u8,
            (now.second() & !1) as u8,
        )
        .unwrap_or_default()
    };
    let mut manifest = Vec::with_capacity(items.len());
    let mut buf = vec![0u8; CHUNK];
    for (name, item) in items {
        let exec = match item {
            Item::Disk { exec, .. } | Item::Blob { exec, .. } => *exec,
        };
        let opts = |size: u64| {
            SimpleFileOptions::default()
                .compression_method(method_for(name))
                .unix_permissions(if exec { 0o755 } else { 0o644 })
                .last_modified_time(stamp)
                .large_file(size >= 0xFFFF_FFFF)
        };
        let mut h = Sha256::new();
        match item {
            Item::Disk { path, .. } => {
                let mut f =
                    File::open(path).map_err(|e| WriteError::Backup(io_err("read", path)(e)))?;
                let size = f.metadata()?.len();
                zip.start_file(name.as_str(), opts(size))?;
                loop {
                    let n = match f.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(WriteError::Backup(io_err("read", path)(e))),
                    };
                    h.update(&buf[..n]);
                    zip.write_all(&buf[..n])?;
                }
            }
            Item::Blob { id, .. } => {
                let blob = repo
                    .git
                    .find_blob(*id)
                    .map_err(|e| WriteError::Backup(e.into()))?;
                let content = blob.content();
                zip.start_file(name.as_str(), opts(content.len() as u64))?;
                h.update(content);
                zip.write_all(content)?;
            }
        }
        manifest.push((name.clone(), hex::encode(h.finalize())));
    }
    let text = render_manifest(&manifest);
    zip.start_file(
        MANIFEST_NAME,
        SimpleFileOptions::default()
            .compression_method(CompressionMethod::Deflated)
            .unix_permissions(0o644)
            .last_modified_time(stamp),
    )?;
    zip.write_all(text.as_bytes())?;
    let mut w = zip.finish()?;
    w.flush()?;
    Ok((manifest.len(), raw_hash(text.as_bytes())))
}

/// Passes writes through until the first failure, then swallows them. The
/// first error reaches the caller; the zip writer's drop, which finishes the
/// archive and prints to stderr when it cannot, then finds nothing failing
/// (the temporary file is deleted anyway). Seeks always pass through.
struct Latch<W> {
    inner: W,
    failed: bool,
}

impl<W: Write> Write for Latch<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.failed {
            return Ok(buf.len());
        }
        self.inner.write(buf).inspect_err(|_| self.failed = true)
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.failed {
            return Ok(());
        }
        self.inner.flush().inspect_err(|_| self.failed = true)
    }
}

impl<W: io::Seek> io::Seek for Latch<W> {
    fn seek(&mut self, pos: io::SeekFrom) -> io::Result<u64> {
        self.inner.seek(pos)
    }
}

/// Already-compressed formats are stored; everything else is deflated.
fn method_for(name: &str) -> CompressionMethod {
    const STORED: &[&str] = &[
        "png", "jpg", "jpeg", "gif", "webp", "avif", "ico", "mp4", "webm", "mov", "mp3", "ogg",
        "woff", "woff2", "zip", "gz", "tgz", "br", "zst", "xz", "bz2", "7z", "pdf",
    ];
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    if STORED.contains(&ext.as_str()) {
        CompressionMethod::Stored
    } else {
        CompressionMethod::Deflated
    }
}

/// Every file under the `archive` paths, keyed by entry name.
fn collect_items(
    repo: &Repo,
    archive: &[String],
    source: &Source,
) -> Result<BTreeMap<String, Item>, BackupError> {
    let mut items = BTreeMap::new();
    match source {
        Source::Dir(root) => {
            for p in archive {
                let rel = archive_path(p)?;
                let full = root.join(&rel);
                let meta = fs::symlink_metadata(&full).map_err(|_| BackupError::MissingPath {
                    path: p.clone(),
                    place: root.display().to_string(),
                })?;
                walk_dir(&full, &rel, &meta, &mut items)?;
            }
        }
        Source::Commit(oid) => {
            let commit = repo.git.find_object(*oid, None)?.peel_to_commit()?;
            let tree = commit.tree()?;
            for p in archive {
                let rel = archive_path(p)?;
                let entry =
                    tree.get_path(Path::new(&rel))
                        .map_err(|_| BackupError::MissingPath {
                            path: p.clone(),
                            place: format!("commit {}", commit.id()),
                        })?;
                tree_entry_files(repo, &rel, &entry, &mut |name, id, exec| {
                    items.insert(name, Item::Blob { id, exec });
                })?;
            }
        }
    }
    Ok(items)
}

/// An `archive` path checked and normalised.
fn archive_path(p: &str) -> Result<String, BackupError> {
    safe_name(p).map_err(|_| BackupError::BadArchivePath(p.to_string()))
}

fn walk_dir(
    full: &Path,
    rel: &str,
    meta: &fs::Metadata,
    items: &mut BTreeMap<String, Item>,
) -> Result<(), BackupError> {
    use std::os::unix::fs::PermissionsExt;
    let ft = meta.file_type();
    if ft.is_file() {
        items.insert(
            rel.to_string(),
            Item::Disk {
                path: full.to_path_buf(),
                exec: meta.permissions().mode() & 0o111 != 0,
            },
        );
        Ok(())
    } else if ft.is_dir() {
        let rd = fs::read_dir(full).map_err(io_err("read the directory", full))?;
        for e in rd {
            let e = e.map_err(io_err("read the directory", full))?;
            let path = e.path();
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                return Err(BackupError::Unsupported {
                    path: path.display().to_string(),
                    what: "a file whose name is not UTF-8",
                });
            };
            let child = format!("{rel}/{name}");
            if let Err(what) = safe_name(&child) {
                return Err(BackupError::Unsupported {
                    path: path.display().to_string(),
                    what: match what {
                        "a line break in the name" => "a file whose name holds a line break",
                        "a backslash in the name" => "a file whose name holds a backslash",
                        _ => "a file with an unusable name",
                    },
                });
            }
            let m = fs::symlink_metadata(&path).map_err(io_err("read", &path))?;
            walk_dir(&path, &child, &m, items)?;
        }
        Ok(())
    } else if ft.is_symlink() {
        Err(BackupError::Unsupported {
            path: full.display().to_string(),
            what: "a symbolic link",
        })
    } else {
        Err(BackupError::Unsupported {
            path: full.display().to_string(),
            what: "a special file",
        })
    }
}

/// Calls `f(name, blob id, executable)` for every blob under `entry` (itself
/// at `rel`); refuses links and submodules.
fn tree_entry_files(
    repo: &Repo,
    rel: &str,
    entry: &git2::TreeEntry<'_>,
    f: &mut dyn FnMut(String, Oid, bool),
) -> Result<(), BackupError> {
    match entry.kind() {
        Some(ObjectType::Blob) => {
            let mode = entry.filemode();
            if mode == 0o120000 {
                return Err(BackupError::Unsupported {
                    path: rel.to_string(),
                    what: "a symbolic link",
                });
            }
            f(rel.to_string(), entry.id(), mode == 0o100755);
            Ok(())
        }
        Some(ObjectType::Tree) => {
            let tree = repo.git.find_tree(entry.id())?;
            for e in tree.iter() {
                let Some(name) = e.name() else {
                    return Err(BackupError::Unsupported {
                        path: format!("{rel}/…"),
                        what: "a file whose name is not UTF-8",
                    });
                };
                let child = format!("{rel}/{name}");
                if safe_name(&child).is_err() {
                    return Err(BackupError::Unsupported {
                        path: child,
                        what: "a file with an unusable name",
                    });
                }
                tree_entry_files(repo, &child, &e, f)?;
            }
            Ok(())
        }
        _ => Err(BackupError::Unsupported {
            path: rel.to_string(),
            what: "a submodule",
        }),
    }
}

// ---------------------------------------------------------------------------
// Inspecting

/// How a zip's files compare with its manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestState {
    /// Every file present and equal, nothing extra.
    pub ok: bool,
    /// Listed files whose bytes differ (or could not be read back).
    pub mismatched: Vec<String>,
    /// Listed files missing from the zip.
    pub missing: Vec<String>,
    /// Files in the zip the manifest does not list.
    pub extra: Vec<String>,
}

/// What [`inspect`] found in a backup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackupCheck {
    pub path: PathBuf,
    /// Size of the zip file.
    pub size: u64,
    /// File entries (not directories, not the manifest), sorted.
    pub files: Vec<String>,
    /// `None`: the zip has no `MANIFEST.sha256` (made by hand before
    /// guardrail) and is judged on its CRC checks alone.
    pub manifest: Option<ManifestState>,
    /// Every entry decompressed and passed its CRC-32 check.
    pub crc_ok: bool,
    /// Entries that failed to decompress or failed their CRC-32 check.
    pub crc_failed: Vec<String>,
}

impl BackupCheck {
    /// Usable for a restore: CRCs pass and the manifest (if any) checks out.
    pub fn is_ok(&self) -> bool {
        self.crc_ok && self.manifest.as_ref().is_none_or(|m| m.ok)
    }

    /// "manifest ✅ (12 files)", "no manifest (3 files, zip checksums ✅)", …
    pub fn summary(&self) -> String {
        let n = self.files.len();
        match &self.manifest {
            None if self.crc_ok => format!("no manifest ({n} files, zip checksums ✅)"),
            None => format!(
                "no manifest; zip checksum failed: {}",
                list_files(&self.crc_failed)
            ),
            Some(m) if m.ok && self.crc_ok => format!("manifest ✅ ({n} files)"),
            Some(m) => {
                let mut parts = Vec::new();
                if !m.mismatched.is_empty() {
                    parts.push(format!("differs: {}", list_files(&m.mismatched)));
                }
                if !m.missing.is_empty() {
                    parts.push(format!("missing: {}", list_files(&m.missing)));
                }
                if !m.extra.is_empty() {
                    parts.push(format!("not in manifest: {}", list_files(&m.extra)));
                }
                if !self.crc_ok && m.mismatched.is_empty() {
                    parts.push(format!(
                        "zip checksum failed: {}",
                        list_files(&self.crc_failed)
                    ));
                }
                format!("manifest ❌ ({})", parts.join("; "))
            }
        }
    }
}

impl fmt::Display for BackupCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.summary())
    }
}

type Zip = ZipArchive<BufReader<File>>;

/// One checked entry of a zip.
struct Entry {
    index: usize,
    name: String,
    dir: bool,
    exec: bool,
}

fn open_zip(path: &Path) -> Result<(Zip, u64), BackupError> {
    let f = File::open(path).map_err(io_err("open", path))?;
    let size = f.metadata().map_err(io_err("read", path))?.len();
    let zip = ZipArchive::new(BufReader::with_capacity(64 * 1024, f)).map_err(|e| match e {
        zip::result::ZipError::Io(e) => io_err("read", path)(e),
        other => BackupError::Corrupt {
            path: path.to_path_buf(),
            reason: other.to_string(),
        },
    })?;
    Ok((zip, size))
}

/// Checks every entry's name and type from the central directory; refuses
/// the zip at the first unsafe one. The manifest is not among the result.
fn scan_entries(path: &Path, zip: &mut Zip) -> Result<(Vec<Entry>, Option<usize>), BackupError> {
    let mut entries = Vec::new();
    let mut manifest = None;
    for i in 0..zip.len() {
        let f = zip.by_index_raw(i).map_err(|e| BackupError::Corrupt {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let raw = String::from_utf8_lossy(f.name_raw()).into_owned();
        let unsafe_entry = |reason| BackupError::UnsafeEntry {
            path: path.to_path_buf(),
            entry: raw.clone(),
            reason,
        };
        if f.enclosed_name().is_none() {
            return Err(unsafe_entry("its path leaves the target directory"));
        }
        let name = safe_name(f.name()).map_err(unsafe_entry)?;
        if f.is_symlink() {
            return Err(unsafe_entry("a symbolic link"));
        }
        if f.encrypted() {
            return Err(BackupError::Corrupt {
                path: path.to_path_buf(),
                reason: format!("the entry `{raw}` is encrypted"),
            });
        }
        if name == MANIFEST_NAME && !f.is_dir() {
            manifest = Some(i);
            continue;
        }
        let exec = f.unix_mode().is_some_and(|m| m & 0o111 != 0);
        entries.push(Entry {
            index: i,
            name,
            dir: f.is_dir(),
            exec,
        });
    }
    // A file and a directory of the same name, or one name twice after
    // normalisation, cannot both be restored.
    let mut seen = BTreeSet::new();
    for e in entries.iter().filter(|e| !e.dir) {
        if !seen.insert(e.name.as_str()) {
            return Err(BackupError::UnsafeEntry {
                path: path.to_path_buf(),
                entry: e.name.clone(),
                reason: "the same path twice",
            });
        }
    }
    Ok((entries, manifest))
}

/// The parsed manifest, if the zip has one.
fn read_manifest(
    path: &Path,
    zip: &mut Zip,
    index: Option<usize>,
) -> Result<Option<BTreeMap<String, String>>, BackupError> {
    let Some(i) = index else { return Ok(None) };
    let mut text = String::new();
    let mut f = zip.by_index(i).map_err(|e| BackupError::Corrupt {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // A manifest is a line per file: one larger than this is a bomb.
    (&mut f)
        .take(MAX_MANIFEST + 1)
        .read_to_string(&mut text)
        .map_err(|e| BackupError::Corrupt {
            path: path.to_path_buf(),
            reason: format!("{MANIFEST_NAME} cannot be read: {e}"),
        })?;
    if text.len() as u64 > MAX_MANIFEST {
        return Err(BackupError::TooLarge {
            path: path.to_path_buf(),
            size: format!("a {MANIFEST_NAME} of more than {MAX_MANIFEST} bytes"),
            limit: "what a manifest needs".into(),
        });
    }
    let parsed = parse_manifest(&text).map_err(|e| match e {
        BackupError::BadManifest { line, text, .. } => BackupError::BadManifest {
            file: format!("{MANIFEST_NAME} in {}", path.display()),
            line,
            text,
        },
        other => other,
    })?;
    Ok(Some(parsed.into_iter().collect()))
}

/// Why copying an entry out stopped.
enum CopyError {
    /// The entry cannot be read back: bad local header, bad compressed
    /// data, or a failed CRC-32 check.
    Read(String),
    /// Writing the output failed (disk full, file too large, …).
    Write(io::Error),
}

/// Streams entry `index` into `out`, hashing it; returns (sha256, bytes).
fn copy_entry(
    zip: &mut Zip,
    index: usize,
    out: &mut dyn Write,
    buf: &mut [u8],
) -> Result<(String, u64), CopyError> {
    let mut f = zip
        .by_index(index)
        .map_err(|e| CopyError::Read(e.to_string()))?;
    let mut h = Sha256::new();
    let mut total = 0u64;
    loop {
        let n = match f.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Read(e.to_string())),
        };
        h.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(CopyError::Write)?;
        total += n as u64;
    }
    Ok((hex::encode(h.finalize()), total))
}

/// Names missing from the zip and names the manifest does not list.
fn compare_names(
    manifest: &BTreeMap<String, String>,
    files: &[String],
) -> (Vec<String>, Vec<String>) {
    let present: BTreeSet<&str> = files.iter().map(String::as_str).collect();
    let missing = manifest
        .keys()
        .filter(|k| !present.contains(k.as_str()))
        .cloned()
        .collect();
    let extra = files
        .iter()
        .filter(|f| !manifest.contains_key(*f))
        .cloned()
        .collect();
    (missing, extra)
}

/// Opens a backup and checks it: entry names (an unsafe one is an error),
/// every entry's CRC, and every file against `MANIFEST.sha256` when present.
pub fn inspect(path: &Path) -> Result<BackupCheck, BackupError> {
    inspect_limited(path, &Budget::unlimited())
}

/// [`inspect`] of a backup that may unpack to `max_unpacked` bytes at most
/// and must fit the free space of `unpack_dir` (where it would be restored):
/// refused from the zip's directory before anything is read, and again
/// while reading if the directory lies about the sizes.
pub fn inspect_within(
    path: &Path,
    max_unpacked: u64,
    unpack_dir: &Path,
) -> Result<BackupCheck, BackupError> {
    let budget = Budget::for_unpacking(max_unpacked, unpack_dir)?;
    inspect_limited(path, &budget)
}

fn inspect_limited(path: &Path, budget: &Budget) -> Result<BackupCheck, BackupError> {
    let (mut zip, size) = open_zip(path)?;
    let (entries, manifest_index) = scan_entries(path, &mut zip)?;
    budget.check_declared(path, &mut zip)?;
    let manifest = read_manifest(path, &mut zip, manifest_index)?;
    let mut left = budget.bytes;
    let mut files = Vec::new();
    let mut crc_failed = Vec::new();
    let mut mismatched = Vec::new();
    let mut buf = vec![0u8; CHUNK];
    for e in entries.iter().filter(|e| !e.dir) {
        files.push(e.name.clone());
        let mut sink = Counted::new(io::sink(), &mut left);
        let copied = copy_entry(&mut zip, e.index, &mut sink, &mut buf);
        if sink.exceeded {
            return Err(budget.exceeded(path));
        }
        match copied {
            Ok((sha, _)) => {
                if let Some(m) = &manifest {
                    if m.get(&e.name).is_some_and(|want| *want != sha) {
                        mismatched.push(e.name.clone());
                    }
                }
            }
            Err(_) => {
                crc_failed.push(e.name.clone());
                if manifest.as_ref().is_some_and(|m| m.contains_key(&e.name)) {
                    mismatched.push(e.name.clone());
                }
            }
        }
    }
    files.sort();
    crc_failed.sort();
    mismatched.sort();
    let manifest = manifest.map(|m| {
        let (missing, extra) = compare_names(&m, &files);
        ManifestState {
            ok: mismatched.is_empty() && missing.is_empty() && extra.is_empty(),
            mismatched,
            missing,
            extra,
        }
    });
    Ok(BackupCheck {
        path: path.to_path_buf(),
        size,
        files,
        manifest,
        crc_ok: crc_failed.is_empty(),
        crc_failed,
    })
}

// ---------------------------------------------------------------------------
// Size limits

/// How many bytes a backup may unpack to, and which limit that is.
pub struct Budget {
    pub bytes: u64,
    /// `[backup] max_unpacked (2GiB)`, `the free space in <dir> (…)`.
    pub limit: String,
}

impl Budget {
    fn unlimited() -> Budget {
        Budget {
            bytes: u64::MAX,
            limit: "no limit".into(),
        }
    }

    /// The smaller of `max_unpacked` and the free space of `dir` (or of its
    /// nearest existing ancestor).
    pub fn for_unpacking(max_unpacked: u64, dir: &Path) -> Result<Budget, BackupError> {
        let mut budget = Budget {
            bytes: max_unpacked,
            limit: format!("[backup] max_unpacked ({})", config::Size(max_unpacked)),
        };
        if max_unpacked == u64::MAX {
            budget.limit = "no limit".into();
        }
        let mut probe = dir.to_path_buf();
        while !probe.exists() {
            if !probe.pop() {
                break;
            }
        }
        let free = fs2::available_space(&probe).map_err(|e| {
            BackupError::Io(IoError::new("read the free space of", probe.clone(), e))
        })?;
        if free < budget.bytes {
            budget = Budget {
                bytes: free,
                limit: format!(
                    "the free space in {} ({})",
                    probe.display(),
                    human_bytes(free)
                ),
            };
        }
        Ok(budget)
    }

    /// Refuses a zip whose directory declares more bytes than the budget.
    fn check_declared(&self, path: &Path, zip: &mut Zip) -> Result<(), BackupError> {
        let mut total: u64 = 0;
        for i in 0..zip.len() {
            let f = zip.by_index_raw(i).map_err(|e| BackupError::Corrupt {
                path: path.to_path_buf(),
                reason: e.to_string(),
            })?;
            total = total.saturating_add(f.size());
        }
        if total > self.bytes {
            return Err(BackupError::TooLarge {
                path: path.to_path_buf(),
                size: human_bytes(total),
                limit: self.limit.clone(),
            });
        }
        Ok(())
    }

    fn exceeded(&self, path: &Path) -> BackupError {
        BackupError::TooLarge {
            path: path.to_path_buf(),
            size: format!(
                "more than its directory says (over {} counted while unpacking)",
                human_bytes(self.bytes)
            ),
            limit: self.limit.clone(),
        }
    }
}

/// `1234 bytes`, `12.3 MiB`.
fn human_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n} bytes");
    }
    let mut v = n as f64;
    let mut unit = "bytes";
    for u in ["KiB", "MiB", "GiB", "TiB", "PiB"] {
        if v < 1024.0 {
            break;
        }
        v /= 1024.0;
        unit = u;
    }
    format!("{v:.1} {unit}")
}

/// A writer that stops (with an error) once more than `left` bytes would
/// pass through it: the budget shared by every file of one restore.
struct Counted<'a, W: Write> {
    inner: W,
    left: &'a mut u64,
    exceeded: bool,
}

impl<'a, W: Write> Counted<'a, W> {
    fn new(inner: W, left: &'a mut u64) -> Self {
        Counted {
            inner,
            left,
            exceeded: false,
        }
    }
}

impl<W: Write> Write for Counted<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if buf.len() as u64 > *self.left {
            self.exceeded = true;
            return Err(io::Error::other("the backup unpacks to more than it may"));
        }
        let n = self.inner.write(buf)?;
        *self.left -= n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

// ---------------------------------------------------------------------------
// Restoring

/// How restored files were checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verified {
    /// Every file re-read from disk equals its `MANIFEST.sha256` line.
    Manifest,
    /// No manifest: the zip's CRC-32 checks passed, and every file re-read
    /// from disk equals what was extracted.
    ZipChecksums,
    /// Every file re-read from disk hashes to its blob id in the tree.
    GitTree,
}

/// A finished restore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestoreInfo {
    pub dest: PathBuf,
    pub files: usize,
    /// Bytes of file content written.
    pub bytes: u64,
    pub verified: Verified,
}

/// Refuses a target that exists and is not an empty directory; makes sure
/// its parent exists.
fn check_dest(dest: &Path) -> Result<(), BackupError> {
    match fs::symlink_metadata(dest) {
        Ok(m) if m.is_dir() => {
            let mut rd = fs::read_dir(dest).map_err(io_err("read", dest))?;
            if rd.next().is_some() {
                return Err(BackupError::DestNotEmpty(dest.to_path_buf()));
            }
        }
        Ok(_) => return Err(BackupError::DestNotEmpty(dest.to_path_buf())),
        Err(_) => {}
    }
    if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(io_err("create", parent))?;
    }
    Ok(())
}

/// A staging directory beside `dest` (same file system, so the final rename
/// is atomic); removed on drop.
fn staging_for(dest: &Path) -> Result<tempfile::TempDir, BackupError> {
    use std::os::unix::fs::PermissionsExt;
    let parent = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = dest
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let dir = tempfile::Builder::new()
        .prefix(&format!(".{name}.restore-"))
        .tempdir_in(&parent)
        .map_err(io_err("create a staging directory in", &parent))?;
    fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o755))
        .map_err(io_err("set permissions on", dir.path()))?;
    Ok(dir)
}

/// Moves the finished staging directory to `dest` (replacing it if it is an
/// empty directory).
fn commit_staging(staging: tempfile::TempDir, dest: &Path) -> Result<(), BackupError> {
    fs::rename(staging.path(), dest).map_err(|e| {
        if matches!(e.raw_os_error(), Some(libc::ENOTEMPTY) | Some(libc::EEXIST)) {
            BackupError::DestNotEmpty(dest.to_path_buf())
        } else {
            io_err("move the restored files to", dest)(e)
        }
    })?;
    let _ = staging.keep();
    Ok(())
}

/// Creates `root/name`'s parent directories (0755) and the file itself.
fn create_file(root: &Path, name: &str) -> Result<(PathBuf, File), BackupError> {
    use std::os::unix::fs::DirBuilderExt;
    let path = root.join(name);
    if let Some(parent) = path.parent() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(io_err("create", parent))?;
    }
    let f = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .map_err(io_err("create", &path))?;
    Ok((path, f))
}

fn set_mode(path: &Path, f: &File, exec: bool) -> Result<(), BackupError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if exec { 0o755 } else { 0o644 };
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err("set permissions on", path))
}

/// SHA-256 of a file on disk.
fn hash_file(path: &Path, buf: &mut [u8]) -> io::Result<String> {
    let mut f = File::open(path)?;
    let mut h = Sha256::new();
    loop {
        match f.read(buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(hex::encode(h.finalize()))
}

/// Extracts a backup into `dest` (missing or an empty directory). Refuses an
/// unsafe entry, and a manifest whose file list differs from the zip's,
/// before writing anything; a file whose bytes differ from the manifest (or
/// that fails its CRC) makes the restore fail with nothing left at `dest`.
/// Every file is re-read from disk and checked before `dest` appears.
pub fn restore(path: &Path, dest: &Path) -> Result<RestoreInfo, BackupError> {
    restore_within(path, dest, u64::MAX)
}

/// [`restore`] of a backup that may unpack to `max_unpacked` bytes at most
/// (`[backup] max_unpacked`) and must fit the free space where `dest` is:
/// checked from the zip's directory before a byte is written, and enforced
/// on the bytes actually written (a directory that lies about sizes does not
/// get past). `dest` may not be, or contain, `$HOME` or `/`.
pub fn restore_within(
    path: &Path,
    dest: &Path,
    max_unpacked: u64,
) -> Result<RestoreInfo, BackupError> {
    super::protect::Protected::system()
        .check("the restore target", dest)
        .map_err(|e| {
            BackupError::Io(IoError::new(
                "restore into",
                dest.to_path_buf(),
                io::Error::other(e.to_string()),
            ))
        })?;
    let (mut zip, _) = open_zip(path)?;
    let (entries, manifest_index) = scan_entries(path, &mut zip)?;
    let unpack_dir = dest.parent().unwrap_or(Path::new("."));
    let budget = Budget::for_unpacking(max_unpacked, unpack_dir)?;
    budget.check_declared(path, &mut zip)?;
    let manifest = read_manifest(path, &mut zip, manifest_index)?;
    let mut left = budget.bytes;
    let names: Vec<String> = entries
        .iter()
        .filter(|e| !e.dir)
        .map(|e| e.name.clone())
        .collect();
    if let Some(m) = &manifest {
        let (missing, extra) = compare_names(m, &names);
        if !missing.is_empty() || !extra.is_empty() {
            let mut files: Vec<String> = missing.into_iter().chain(extra).collect();
            files.sort();
            return Err(BackupError::ManifestMismatch {
                path: path.to_path_buf(),
                files,
            });
        }
    }
    check_dest(dest)?;
    let staging = staging_for(dest)?;
    let root = staging.path();
    let mut buf = vec![0u8; CHUNK];
    let mut written: Vec<(PathBuf, String, String)> = Vec::with_capacity(names.len());
    let mut mismatched = Vec::new();
    let mut bytes = 0u64;
    for e in &entries {
        if e.dir {
            let d = root.join(&e.name);
            use std::os::unix::fs::DirBuilderExt;
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o755)
                .create(&d)
                .map_err(io_err("create", &d))?;
            continue;
        }
        let (out_path, f) = create_file(root, &e.name)?;
        let mut w = Counted::new(BufWriter::with_capacity(CHUNK, f), &mut left);
        let copied = copy_entry(&mut zip, e.index, &mut w, &mut buf);
        if w.exceeded {
            // The staging directory (and what it holds) goes with `staging`.
            return Err(budget.exceeded(path));
        }
        match copied {
            Ok((sha, n)) => {
                let f = w
                    .inner
                    .into_inner()
                    .map_err(|e| io_err("write", &out_path)(e.into_error()))?;
                set_mode(&out_path, &f, e.exec)?;
                bytes += n;
                match manifest.as_ref().and_then(|m| m.get(&e.name)) {
                    Some(want) if *want != sha => mismatched.push(e.name.clone()),
                    _ => written.push((out_path, e.name.clone(), sha)),
                }
            }
            Err(CopyError::Write(err)) => return Err(io_err("write", &out_path)(err)),
            Err(CopyError::Read(_)) if manifest.is_some() => mismatched.push(e.name.clone()),
            Err(CopyError::Read(reason)) => {
                return Err(BackupError::CrcFailed {
                    path: path.to_path_buf(),
                    entry: e.name.clone(),
                    reason,
                })
            }
        }
    }
    if !mismatched.is_empty() {
        mismatched.sort();
        return Err(BackupError::ManifestMismatch {
            path: path.to_path_buf(),
            files: mismatched,
        });
    }
    // Read back what the file system holds.
    for (p, name, sha) in &written {
        let got = hash_file(p, &mut buf).map_err(io_err("read back", p))?;
        if got != *sha {
            mismatched.push(name.clone());
        }
    }
    if !mismatched.is_empty() {
        return Err(BackupError::ManifestMismatch {
            path: path.to_path_buf(),
            files: mismatched,
        });
    }
    commit_staging(staging, dest)?;
    Ok(RestoreInfo {
        dest: dest.to_path_buf(),
        files: written.len(),
        bytes,
        verified: if manifest.is_some() {
            Verified::Manifest
        } else {
            Verified::ZipChecksums
        },
    })
}

/// Writes the `paths` (the `archive` setting) of `commit`'s tree into `dest`
/// (missing or an empty directory), blobs with their mode (0755 for
/// executables, else 0644). Symbolic links and submodules are refused (see
/// the module docs), before anything is written. Every file is re-read and
/// hashed as a git blob against the tree before `dest` appears.
pub fn restore_from_tree(
    repo: &Repo,
    commit: Oid,
    paths: &[String],
    dest: &Path,
) -> Result<RestoreInfo, BackupError> {
    let items = collect_items(repo, paths, &Source::Commit(commit))?;
    check_dest(dest)?;
    let staging = staging_for(dest)?;
    let root = staging.path();
    let mut bytes = 0u64;
    let mut written = Vec::with_capacity(items.len());
    for (name, item) in &items {
        let Item::Blob { id, exec } = item else {
            unreachable!("a commit source yields blobs")
        };
        let blob = repo.git.find_blob(*id)?;
        let (p, mut f) = create_file(root, name)?;
        f.write_all(blob.content()).map_err(io_err("write", &p))?;
        set_mode(&p, &f, *exec)?;
        bytes += blob.content().len() as u64;
        written.push((p, name.clone(), *id));
    }
    let mut mismatched = Vec::new();
    for (p, name, id) in &written {
        if Oid::hash_file(ObjectType::Blob, p)? != *id {
            mismatched.push(name.clone());
        }
    }
    if !mismatched.is_empty() {
        return Err(BackupError::TreeMismatch {
            dest: dest.to_path_buf(),
            files: mismatched,
        });
    }
    commit_staging(staging, dest)?;
    Ok(RestoreInfo {
        dest: dest.to_path_buf(),
        files: written.len(),
        bytes,
        verified: Verified::GitTree,
    })
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

//! Writing a backup: the files of a build (a directory or a git tree)
//! into a zip under a staging name, with its manifest, promoted to its final
//! name only when the release succeeds.
use super::*;

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
pub(super) enum Item {
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
pub(super) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
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

pub(super) enum WriteError {
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
pub(super) fn write_zip(
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
pub(super) struct Latch<W> {
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
pub(super) fn method_for(name: &str) -> CompressionMethod {
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
pub(super) fn collect_items(
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
pub(super) fn archive_path(p: &str) -> Result<String, BackupError> {
    safe_name(p).map_err(|_| BackupError::BadArchivePath(p.to_string()))
}

pub(super) fn walk_dir(
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
pub(super) fn tree_entry_files(
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

//! Restoring a backup (or a git tree) into a directory: checked, staged
//! beside the target and swapped in whole.
use super::*;

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
pub(super) fn check_dest(dest: &Path) -> Result<(), BackupError> {
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
pub(super) fn staging_for(dest: &Path) -> Result<tempfile::TempDir, BackupError> {
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
pub(super) fn commit_staging(staging: tempfile::TempDir, dest: &Path) -> Result<(), BackupError> {
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
pub(super) fn create_file(root: &Path, name: &str) -> Result<(PathBuf, File), BackupError> {
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

pub(super) fn set_mode(path: &Path, f: &File, exec: bool) -> Result<(), BackupError> {
    use std::os::unix::fs::PermissionsExt;
    let mode = if exec { 0o755 } else { 0o644 };
    f.set_permissions(fs::Permissions::from_mode(mode))
        .map_err(io_err("set permissions on", path))
}

/// SHA-256 of a file on disk.
pub(super) fn hash_file(path: &Path, buf: &mut [u8]) -> io::Result<String> {
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
    crate::pipeline::protect::Protected::system()
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

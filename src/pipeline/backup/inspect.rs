//! Inspecting a backup: opening the zip, reading its manifest and
//! checking every entry against it, within a size budget.
use super::*;

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

pub(super) type Zip = ZipArchive<BufReader<File>>;

/// One checked entry of a zip.
pub(super) struct Entry {
    pub(super) index: usize,
    pub(super) name: String,
    pub(super) dir: bool,
    pub(super) exec: bool,
}

pub(super) fn open_zip(path: &Path) -> Result<(Zip, u64), BackupError> {
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
pub(super) fn scan_entries(
    path: &Path,
    zip: &mut Zip,
) -> Result<(Vec<Entry>, Option<usize>), BackupError> {
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
pub(super) fn read_manifest(
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
pub(super) enum CopyError {
    /// The entry cannot be read back: bad local header, bad compressed
    /// data, or a failed CRC-32 check.
    Read(String),
    /// Writing the output failed (disk full, file too large, …).
    Write(io::Error),
}

/// Streams entry `index` into `out`, hashing it; returns (sha256, bytes).
pub(super) fn copy_entry(
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
pub(super) fn compare_names(
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

pub(super) fn inspect_limited(path: &Path, budget: &Budget) -> Result<BackupCheck, BackupError> {
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

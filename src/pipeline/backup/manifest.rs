//! Hashes and the manifest: `MANIFEST.sha256` parsed and rendered, the
//! hashes it holds, and the names a backup may contain.
use super::*;

/// Lowercase hex SHA-256 of the exact bytes (what `MANIFEST.sha256` holds).
pub fn raw_hash(bytes: &[u8]) -> String {
    crate::pipeline::common::sha256_hex(bytes)
}

/// Lowercase hex SHA-256 of `bytes` with every BUILD_ID comment cut out,
/// so a bundle and the page production serves compare equal whatever
/// BUILD_ID either carries (one implementation: [`crate::pipeline::buildid`]). Bytes
/// without such a comment hash as [`raw_hash`] does.
pub use crate::pipeline::buildid::content_hash;

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
pub(super) fn safe_name(name: &str) -> Result<String, &'static str> {
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

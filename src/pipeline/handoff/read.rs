//! Reading a package from git objects: the files under `.handoff/<slug>/`
//! at a commit, and whether two trees differ only in their packages.

use super::*;

/// The files of a package as committed, read from git objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageFiles {
    /// The branch the package was read for.
    pub branch: String,
    /// `.handoff/<slug>`.
    pub dir: String,
    pub manifest_text: Option<String>,
    pub gate_log: Option<Vec<u8>>,
    pub snapshot_md: Option<String>,
    pub audit_json: Option<String>,
    /// `(path under evidence/, first 64 bytes)`, sorted by path.
    pub evidence: Vec<(String, Vec<u8>)>,
    /// Evidence files larger than `[evidence] max_file`, by their object
    /// header, not read; sorted by path. They fail the evidence check.
    pub oversized: Vec<OversizedEvidence>,
    /// Files of the package (`handoff.toml`, the gate log, the snapshot,
    /// `audit.json`) over the most guardrail reads of them, by their object
    /// header, not read: `(name in the package, size)`. Their checklist
    /// item fails naming the file, its size and the cap.
    pub too_large: Vec<(String, TooLarge)>,
}

impl PackageFiles {
    /// The size of `name` when it was over its cap and so not read.
    pub fn too_large(&self, name: &str) -> Option<&TooLarge> {
        self.too_large
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t)
    }
}

/// The most bytes of a package's gate log guardrail reads.
pub const MAX_GATE_LOG: u64 = 64 << 20;
/// The most bytes guardrail reads of a package's `handoff.toml`, snapshot
/// or `audit.json`, and of a legacy `.ai-agents/handoff_*.json` manifest.
pub const MAX_MANIFEST: u64 = 1 << 20;

/// A file sized (by its object header or its metadata) over the most
/// guardrail reads of it, and so not read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooLarge {
    pub bytes: u64,
    /// The cap it exceeds.
    pub max: u64,
}

impl TooLarge {
    /// "`what` is 4 GiB, more than the 64 MiB guardrail reads".
    pub fn sentence(&self, what: &str) -> String {
        format!(
            "{what} is {}, more than the {} guardrail reads",
            human_size(self.bytes),
            human_size(self.max)
        )
    }
}

/// `512 bytes`, `64 MiB`, `70.5 MiB`, `4 GiB`.
pub fn human_size(n: u64) -> String {
    let mut unit = "bytes";
    let mut div = 1u64;
    for (u, m) in [
        ("KiB", 1u64 << 10),
        ("MiB", 1 << 20),
        ("GiB", 1 << 30),
        ("TiB", 1 << 40),
    ] {
        if n >= m {
            unit = u;
            div = m;
        }
    }
    if n.is_multiple_of(div) {
        format!("{} {unit}", n / div)
    } else {
        format!("{:.1} {unit}", n as f64 / div as f64)
    }
}

/// What a capped read found: the content, or the size over the cap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Capped<T> {
    Read(T),
    TooLarge(TooLarge),
}

/// The one rule for reading something that may be huge: `size` first, and
/// `read` only when that size is at most `max`. An oversized file is never
/// read (`read` is not called), so it costs no memory.
pub fn capped<T, E>(
    max: u64,
    size: impl FnOnce() -> Result<u64, E>,
    read: impl FnOnce() -> Result<T, E>,
) -> Result<Capped<T>, E> {
    let bytes = size()?;
    if bytes > max {
        return Ok(Capped::TooLarge(TooLarge { bytes, max }));
    }
    read().map(Capped::Read)
}

/// [`capped`] for a file on disk: opened without blocking (a FIFO is
/// refused, not waited on), sized by its metadata, read only when at most
/// `max` bytes, and never more than `max` bytes even if it grows between.
pub fn read_file_within(path: &Path, max: u64) -> std::io::Result<Capped<Vec<u8>>> {
    use std::io::Read as _;
    use std::os::unix::fs::OpenOptionsExt as _;
    let file = std::fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.is_file() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "not a plain file",
        ));
    }
    capped(
        max,
        || Ok(meta.len()),
        || {
            let mut bytes = Vec::new();
            (&file).take(max).read_to_end(&mut bytes)?;
            Ok(bytes)
        },
    )
}

/// [`capped`] for a git blob: sized by its object header, and only when it
/// is at most `max` bytes looked up and handed to `keep` (which copies
/// what it needs).
pub fn read_blob_within<T>(
    repo: &git2::Repository,
    odb: &git2::Odb,
    oid: git2::Oid,
    max: u64,
    keep: impl FnOnce(&[u8]) -> T,
) -> Result<Capped<T>, git2::Error> {
    capped(
        max,
        || odb.read_header(oid).map(|(n, _)| n as u64),
        || repo.find_blob(oid).map(|b| keep(b.content())),
    )
}

/// An evidence file in a commit larger than `[evidence] max_file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OversizedEvidence {
    /// The path under `evidence/`.
    pub name: String,
    pub bytes: u64,
    /// The `[evidence] max_file` it exceeds.
    pub max: u64,
}

/// How many leading bytes of an evidence file are kept.
pub const EVIDENCE_PREFIX: usize = 64;

/// A file name from the manifest that stays inside the package.
fn safe_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('/')
        && !name.contains('\\')
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Reads `.handoff/<slug>/` from `commit`'s tree without checking anything
/// out. `Ok(None)` when the commit carries no package for `branch`.
/// Evidence files over the default `[evidence] max_file` are not read (see
/// [`read_package_within`]).
pub fn read_package(
    repo: &git2::Repository,
    commit: &git2::Commit,
    branch: &str,
) -> Result<Option<PackageFiles>, HandoffError> {
    let max = crate::pipeline::config::Config::defaults()
        .evidence
        .max_file
        .0;
    read_package_within(repo, commit, branch, max)
}

/// [`read_package`] with evidence files larger than `max_file` bytes (by
/// their object header, before any is read) listed as
/// [`PackageFiles::oversized`] instead of read: a huge blob committed as
/// evidence costs no memory.
pub fn read_package_within(
    repo: &git2::Repository,
    commit: &git2::Commit,
    branch: &str,
    max_file: u64,
) -> Result<Option<PackageFiles>, HandoffError> {
    let dir = package_dir(branch);
    let short = short_sha(&commit.id().to_string()).to_string();
    let tree = commit
        .tree()
        .map_err(git_err(format!("the tree of commit {short}")))?;
    let entry = match tree.get_path(Path::new(&dir)) {
        Ok(e) => e,
        Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
        Err(e) => return Err(git_err(format!("{dir} in commit {short}"))(e)),
    };
    if entry.kind() != Some(git2::ObjectType::Tree) {
        return Ok(None);
    }
    let pkg = repo
        .find_tree(entry.id())
        .map_err(git_err(format!("{dir} in commit {short}")))?;

    let odb = repo
        .odb()
        .map_err(git_err(format!("{dir} in commit {short}")))?;
    let mut too_large = Vec::new();
    let mut read = |name: &str, max: u64| -> Result<Option<Vec<u8>>, HandoffError> {
        let e = match pkg.get_path(Path::new(name)) {
            Ok(e) => e,
            Err(e) if e.code() == git2::ErrorCode::NotFound => return Ok(None),
            Err(e) => return Err(git_err(format!("{dir}/{name} in commit {short}"))(e)),
        };
        if e.kind() != Some(git2::ObjectType::Blob) {
            return Ok(None);
        }
        match read_blob_within(repo, &odb, e.id(), max, <[u8]>::to_vec)
            .map_err(git_err(format!("{dir}/{name} in commit {short}")))?
        {
            Capped::Read(b) => Ok(Some(b)),
            Capped::TooLarge(t) => {
                too_large.push((name.to_string(), t));
                Ok(None)
            }
        }
    };
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();

    let manifest_text = read("handoff.toml", MAX_MANIFEST)?.map(text);
    let (log_name, snapshot_name) = manifest_text
        .as_deref()
        .and_then(|t| HandoffManifest::parse(t, "handoff.toml").ok())
        .map(|m| (m.gate.log, m.snapshot.file))
        .filter(|(l, s)| safe_name(l) && safe_name(s))
        .unwrap_or_else(|| (default_gate_log(), default_snapshot_file()));

    let mut evidence = Vec::new();
    let mut oversized = Vec::new();
    if let Ok(e) = pkg.get_path(Path::new("evidence")) {
        if e.kind() == Some(git2::ObjectType::Tree) {
            let ev = repo
                .find_tree(e.id())
                .map_err(git_err(format!("{dir}/evidence in commit {short}")))?;
            let mut blobs = Vec::new();
            ev.walk(git2::TreeWalkMode::PreOrder, |root, entry| {
                if entry.kind() == Some(git2::ObjectType::Blob) {
                    let name = entry.name().unwrap_or("?");
                    blobs.push((format!("{root}{name}"), entry.id()));
                }
                git2::TreeWalkResult::Ok
            })
            .map_err(git_err(format!("{dir}/evidence in commit {short}")))?;
            for (name, oid) in blobs {
                let prefix = |c: &[u8]| c[..c.len().min(EVIDENCE_PREFIX)].to_vec();
                match read_blob_within(repo, &odb, oid, max_file, prefix)
                    .map_err(git_err(format!("{dir}/evidence/{name} in commit {short}")))?
                {
                    Capped::Read(head) => evidence.push((name, head)),
                    Capped::TooLarge(t) => oversized.push(OversizedEvidence {
                        name,
                        bytes: t.bytes,
                        max: t.max,
                    }),
                }
            }
            evidence.sort();
            oversized.sort_by(|a, b| a.name.cmp(&b.name));
        }
    }

    let gate_log = read(&log_name, MAX_GATE_LOG)?;
    let snapshot_md = read(&snapshot_name, MAX_MANIFEST)?.map(text);
    let audit_json = read("audit.json", MAX_MANIFEST)?.map(text);
    Ok(Some(PackageFiles {
        branch: branch.to_string(),
        dir,
        manifest_text,
        gate_log,
        snapshot_md,
        audit_json,
        evidence,
        oversized,
        too_large,
    }))
}

/// Compares two commits' trees ignoring everything under `.handoff/`.
/// Returns whether they are equal and, if not, the paths that differ.
pub fn tree_equal_ignoring_handoff(
    repo: &git2::Repository,
    a: &git2::Commit,
    b: &git2::Commit,
) -> Result<(bool, Vec<String>), git2::Error> {
    let (ta, tb) = (a.tree()?, b.tree()?);
    if ta.id() == tb.id() {
        return Ok((true, Vec::new()));
    }
    let diff = repo.diff_tree_to_tree(Some(&ta), Some(&tb), None)?;
    let mut changed: Vec<String> = diff
        .deltas()
        .filter_map(|d| {
            d.new_file()
                .path()
                .or_else(|| d.old_file().path())
                .map(|p| p.to_string_lossy().into_owned())
        })
        .filter(|p| p != ".handoff" && !p.starts_with(".handoff/"))
        .collect();
    changed.sort();
    changed.dedup();
    Ok((changed.is_empty(), changed))
}

pub use crate::pipeline::tags::{next_free_tag, parse_prod_tag, prod_tag_name};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capped_never_reads_what_is_over_the_cap() {
        // `read` is not called at all for a size over the cap.
        let r: Result<Capped<Vec<u8>>, ()> = capped(
            MAX_GATE_LOG,
            || Ok(4 << 30),
            || panic!("an oversized file was read"),
        );
        assert_eq!(
            r,
            Ok(Capped::TooLarge(TooLarge {
                bytes: 4 << 30,
                max: MAX_GATE_LOG
            }))
        );
        // At the cap it is read; a failing size stops before reading.
        let r: Result<_, ()> = capped(3, || Ok(3), || Ok(b"abc".to_vec()));
        assert_eq!(r, Ok(Capped::Read(b"abc".to_vec())));
        let r: Result<Capped<()>, &str> =
            capped(3, || Err("no header"), || panic!("read without a size"));
        assert_eq!(r, Err("no header"));
    }

    #[test]
    fn sizes_are_said_in_plain_units() {
        assert_eq!(
            TooLarge {
                bytes: 4 << 30,
                max: MAX_GATE_LOG
            }
            .sentence("gate.log in .handoff/x"),
            "gate.log in .handoff/x is 4 GiB, more than the 64 MiB guardrail reads"
        );
        assert_eq!(human_size(512), "512 bytes");
        assert_eq!(human_size(MAX_MANIFEST), "1 MiB");
        assert_eq!(human_size((70 << 20) + (1 << 19)), "70.5 MiB");
    }
}

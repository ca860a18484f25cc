//! Size limits: the budget a backup may unpack to (its size, the free
//! space of the target) and the writer that counts against it.
use super::*;

/// How many bytes a backup may unpack to, and which limit that is.
pub struct Budget {
    pub bytes: u64,
    /// `[backup] max_unpacked (2GiB)`, `the free space in <dir> (…)`.
    pub limit: String,
}

impl Budget {
    pub(super) fn unlimited() -> Budget {
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
        let free = crate::pipeline::protect::available_space(&probe).map_err(|e| {
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
    pub(super) fn check_declared(&self, path: &Path, zip: &mut Zip) -> Result<(), BackupError> {
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

    pub(super) fn exceeded(&self, path: &Path) -> BackupError {
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
pub(super) fn human_bytes(n: u64) -> String {
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
pub(super) struct Counted<'a, W: Write> {
    pub(super) inner: W,
    left: &'a mut u64,
    pub(super) exceeded: bool,
}

impl<'a, W: Write> Counted<'a, W> {
    pub(super) fn new(inner: W, left: &'a mut u64) -> Self {
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

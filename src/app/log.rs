//! A script's output as the log pane sees it: the newest lines in memory
//! (with their colours), everything else read back from the job's log file on
//! disk through an index of line offsets — so a million-line gate log costs
//! a few megabytes, and the pane reads only what it shows.
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Lines kept in memory (with ANSI colours).
pub const RING_CAP: usize = 20_000;

/// Words that mark a failure line (first one is remembered for a jump).
const FAILURE_MARKS: [&str; 5] = ["FAIL", "ERROR", "❌", "error:", "fatal:"];

#[derive(Debug, Default)]
pub struct LogBuffer {
    ring: VecDeque<String>,
    /// Line number of `ring[0]`.
    first: usize,
    /// Complete lines so far.
    complete: usize,
    /// The current unterminated line (a prompt, a progress bar).
    pub partial: String,
    /// The job's log file (masked, ANSI-stripped), for lines out of memory;
    /// its index grows as lines are read, hence the cell.
    disk: RefCell<Option<DiskIndex>>,
    pub first_failure: Option<usize>,
    pub bytes: u64,
}

#[derive(Debug)]
struct DiskIndex {
    path: PathBuf,
    /// Byte offset where each line starts.
    starts: Vec<u64>,
    scanned: u64,
}

impl DiskIndex {
    fn refresh(&mut self) {
        let Ok(mut f) = File::open(&self.path) else {
            return;
        };
        if f.seek(SeekFrom::Start(self.scanned)).is_err() {
            return;
        }
        let mut buf = vec![0u8; 256 * 1024];
        loop {
            let Ok(n) = f.read(&mut buf) else { return };
            if n == 0 {
                return;
            }
            for (i, b) in buf[..n].iter().enumerate() {
                if *b == b'\n' {
                    self.starts.push(self.scanned + i as u64 + 1);
                }
            }
            self.scanned += n as u64;
        }
    }

    fn line(&mut self, i: usize) -> Option<String> {
        if i + 1 >= self.starts.len() {
            self.refresh();
        }
        let start = *self.starts.get(i)?;
        let end = *self.starts.get(i + 1)?;
        let mut f = File::open(&self.path).ok()?;
        f.seek(SeekFrom::Start(start)).ok()?;
        let mut buf = vec![0u8; (end - start) as usize];
        f.read_exact(&mut buf).ok()?;
        Some(
            String::from_utf8_lossy(&buf)
                .trim_end_matches('\n')
                .to_string(),
        )
    }
}

impl LogBuffer {
    pub fn new(disk: Option<PathBuf>) -> LogBuffer {
        LogBuffer {
            disk: RefCell::new(disk.map(|path| DiskIndex {
                path,
                starts: vec![0],
                scanned: 0,
            })),
            ..LogBuffer::default()
        }
    }

    pub fn set_disk(&mut self, path: PathBuf) {
        *self.disk.borrow_mut() = Some(DiskIndex {
            path,
            starts: vec![0],
            scanned: 0,
        });
    }

    /// Takes a chunk of output as it came (partial lines included).
    pub fn push(&mut self, chunk: &str) {
        self.bytes += chunk.len() as u64;
        let mut rest = chunk;
        while let Some(pos) = rest.find('\n') {
            self.partial.push_str(&rest[..pos]);
            let line = std::mem::take(&mut self.partial);
            self.push_line(line);
            rest = &rest[pos + 1..];
        }
        self.partial.push_str(rest);
    }

    fn push_line(&mut self, line: String) {
        if self.first_failure.is_none() && FAILURE_MARKS.iter().any(|m| line.contains(m)) {
            self.first_failure = Some(self.complete);
        }
        self.ring.push_back(line);
        self.complete += 1;
        if self.ring.len() > RING_CAP {
            self.ring.pop_front();
            self.first += 1;
        }
    }

    /// Lines to show: complete ones plus the partial one, if any.
    pub fn len(&self) -> usize {
        self.complete + usize::from(!self.partial.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Line `i` as it came (ANSI kept) when in memory; from the disk log
    /// (plain) when older.
    pub fn line(&self, i: usize) -> Option<String> {
        if i == self.complete && !self.partial.is_empty() {
            return Some(self.partial.clone());
        }
        if i >= self.complete {
            return None;
        }
        if i >= self.first {
            return self.ring.get(i - self.first).cloned();
        }
        self.disk.borrow_mut().as_mut()?.line(i)
    }

    /// The next line at or after `from` (wrapping) containing `needle`,
    /// case-insensitive; `back` searches backwards.
    pub fn find(&self, needle: &str, from: usize, back: bool) -> Option<usize> {
        let n = self.len();
        if n == 0 || needle.is_empty() {
            return None;
        }
        let needle = needle.to_lowercase();
        for k in 0..n {
            let i = if back {
                (from + n - (k % n)) % n
            } else {
                (from + k) % n
            };
            if let Some(l) = self.line(i) {
                if crate::pipeline::runner::strip_ansi(&l)
                    .to_lowercase()
                    .contains(&needle)
                {
                    return Some(i);
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn old_lines_come_from_disk_new_ones_from_memory() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.log");
        let n = RING_CAP + 5_000;
        let mut disk = String::new();
        let mut buf = LogBuffer::new(Some(path.clone()));
        for i in 0..n {
            let plain = format!("line {i}{}", if i == 7_000 { " ERROR here" } else { "" });
            disk.push_str(&plain);
            disk.push('\n');
            // In memory the line still has its colour codes.
            buf.push(&format!("\x1b[32m{plain}\x1b[0m\n"));
        }
        std::fs::write(&path, disk).unwrap();
        buf.push("Continue? [yes/no]: ");
        assert_eq!(buf.len(), n + 1);
        assert_eq!(buf.line(0).as_deref(), Some("line 0"), "from disk, plain");
        assert_eq!(
            buf.line(n - 1).unwrap(),
            format!("\x1b[32mline {}\x1b[0m", n - 1)
        );
        assert_eq!(buf.line(n).as_deref(), Some("Continue? [yes/no]: "));
        assert_eq!(buf.line(n + 1), None);
        assert_eq!(buf.first_failure, Some(7_000));
        assert_eq!(buf.find("line 12", 0, false), Some(12));
        assert_eq!(buf.find("LINE 3", 10, true), Some(3));
        assert_eq!(buf.find("nowhere", 0, false), None);
        assert_eq!(buf.ring.len(), RING_CAP, "memory stays bounded");
    }
}

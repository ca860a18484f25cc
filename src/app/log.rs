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
    /// Whole lines in memory, newest last, as spans of `texts`: output is
    /// kept in the chunks it came in, so a line costs no allocation of its
    /// own however fast a script prints.
    lines: VecDeque<Span>,
    /// The chunks the lines point into; `texts[0]` is chunk number
    /// `first_text`, dropped once none of its lines is in memory any more.
    texts: VecDeque<String>,
    first_text: usize,
    /// Line number of `lines[0]`.
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

/// Line `start..end` of chunk number `text`.
#[derive(Debug, Clone, Copy)]
struct Span {
    text: usize,
    start: usize,
    end: usize,
}

/// Where the first failure mark is in `text`, if any.
fn first_failure_at(text: &str) -> Option<usize> {
    FAILURE_MARKS
        .iter()
        .filter_map(|m| memchr::memmem::find(text.as_bytes(), m.as_bytes()))
        .min()
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
        self.push_owned(chunk.to_owned());
    }

    /// [`LogBuffer::push`] for a chunk the caller no longer needs: whole
    /// lines stay in it, uncopied.
    pub fn push_owned(&mut self, mut chunk: String) {
        self.bytes += chunk.len() as u64;
        let Some(first_nl) = memchr::memchr(b'\n', chunk.as_bytes()) else {
            self.partial.push_str(&chunk);
            return;
        };
        if !self.partial.is_empty() {
            // The line begun earlier ends in this chunk: it becomes a chunk
            // of its own.
            let mut line = std::mem::take(&mut self.partial);
            line.push_str(&chunk[..first_nl]);
            line.push('\n');
            chunk.drain(..=first_nl);
            self.add_text(line);
        }
        match memchr::memrchr(b'\n', chunk.as_bytes()) {
            None => self.partial = chunk,
            Some(last_nl) => {
                self.partial = chunk[last_nl + 1..].to_string();
                chunk.truncate(last_nl + 1);
                self.add_text(chunk);
            }
        }
    }

    /// A chunk of whole lines, each ending in `\n`.
    fn add_text(&mut self, text: String) {
        if text.is_empty() {
            return;
        }
        let index = self.first_text + self.texts.len();
        if self.first_failure.is_none() {
            if let Some(at) = first_failure_at(&text) {
                let before = memchr::memchr_iter(b'\n', &text.as_bytes()[..at]).count();
                self.first_failure = Some(self.complete + before);
            }
        }
        let mut start = 0;
        for nl in memchr::memchr_iter(b'\n', text.as_bytes()) {
            self.lines.push_back(Span {
                text: index,
                start,
                end: nl,
            });
            start = nl + 1;
            self.complete += 1;
        }
        self.texts.push_back(text);
        let over = self.lines.len().saturating_sub(RING_CAP);
        if over > 0 {
            self.lines.drain(..over);
            self.first += over;
            let keep_from = self.lines.front().map_or(index + 1, |s| s.text);
            while self.first_text < keep_from && !self.texts.is_empty() {
                self.texts.pop_front();
                self.first_text += 1;
            }
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
            let span = self.lines.get(i - self.first)?;
            let text = self.texts.get(span.text - self.first_text)?;
            return text.get(span.start..span.end).map(str::to_string);
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
    fn lines_split_across_chunks_are_joined_and_failures_found_inside_chunks() {
        let mut buf = LogBuffer::new(None);
        buf.push("a\nb FA");
        assert_eq!(buf.len(), 2, "one whole line and the partial one");
        assert_eq!(buf.line(1).as_deref(), Some("b FA"));
        buf.push_owned("IL\nc\nd\nprompt: ".to_string());
        let lines: Vec<_> = (0..buf.len()).filter_map(|i| buf.line(i)).collect();
        assert_eq!(lines, ["a", "b FAIL", "c", "d", "prompt: "]);
        assert_eq!(buf.first_failure, Some(1), "a mark split across chunks");
        buf.push("\nok\nERROR late\n");
        assert_eq!(buf.first_failure, Some(1), "the first failure stays");
        assert_eq!(buf.line(4).as_deref(), Some("prompt: "));
        assert_eq!(buf.line(6).as_deref(), Some("ERROR late"));

        let mut fresh = LogBuffer::new(None);
        fresh.push("one\ntwo\nthree ❌ here\nfour\n");
        assert_eq!(fresh.first_failure, Some(2), "the line holding the mark");
    }

    #[test]
    fn big_chunks_keep_the_newest_lines_and_drop_the_chunks_behind_them() {
        let mut buf = LogBuffer::new(None);
        let mut n = 0;
        for _ in 0..40 {
            let mut chunk = String::new();
            for _ in 0..1_000 {
                chunk.push_str(&format!("line {n}\n"));
                n += 1;
            }
            buf.push_owned(chunk);
        }
        assert_eq!(buf.len(), 40_000);
        assert_eq!(buf.lines.len(), RING_CAP);
        assert!(
            buf.texts.len() <= RING_CAP / 1_000 + 1,
            "{}",
            buf.texts.len()
        );
        assert_eq!(
            buf.line(40_000 - RING_CAP).unwrap(),
            format!("line {}", 40_000 - RING_CAP)
        );
        assert_eq!(buf.line(39_999).as_deref(), Some("line 39999"));
        assert_eq!(
            buf.line(19_999),
            None,
            "older lines come from disk; there is none here"
        );
        assert_eq!(buf.find("line 3999", 39_000, false), Some(39_990));
    }

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
        assert_eq!(buf.lines.len(), RING_CAP, "memory stays bounded");
        assert!(
            buf.texts.len() <= RING_CAP + 1,
            "chunks without a line in memory are dropped"
        );
    }
}

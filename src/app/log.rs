//! A script's output as the log pane sees it: the newest lines in memory
//! (with their colours), everything else read back from the job's log file on
//! disk through an index of line offsets — so a million-line gate log costs
//! a few megabytes, and the pane reads only what it shows. A single line
//! holds at most [`LINE_CAP`] bytes in memory (a script printing 200 MB
//! without a newline): the pane shows its start and `… (N bytes more)`,
//! the full line stays in the log on disk.
use std::cell::RefCell;
use std::collections::VecDeque;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::PathBuf;

/// Lines kept in memory (with ANSI colours).
pub const RING_CAP: usize = 20_000;

/// Bytes of one line kept in memory and shown; the rest is counted
/// (`… (N bytes more)`) and stays only in the log file on disk.
pub const LINE_CAP: usize = 16 * 1024;

/// Bytes of output chunks kept in memory: older lines go to the disk log
/// sooner when lines are long, so `RING_CAP` long lines cannot add up.
pub const MEM_CAP: usize = 32 * 1024 * 1024;

/// What a capped line shows after its start.
pub fn more_marker(more: u64) -> String {
    format!(" … ({more} bytes more)")
}

/// A shown line split into its start and the `… (N bytes more)` marker a
/// capped line ends with, if it has one.
pub fn split_marker(line: &str) -> (&str, Option<&str>) {
    let Some(body) = line.strip_suffix(" bytes more)") else {
        return (line, None);
    };
    match body.rfind(" … (") {
        Some(at)
            if !body[at + " … (".len()..].is_empty()
                && body[at + " … (".len()..]
                    .bytes()
                    .all(|b| b.is_ascii_digit()) =>
        {
            (&line[..at], Some(&line[at..]))
        }
        _ => (line, None),
    }
}

/// The longest prefix of `s` of at most `max` bytes ending on a char
/// boundary.
fn prefix(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut n = max;
    while !s.is_char_boundary(n) {
        n -= 1;
    }
    &s[..n]
}

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
    /// The current unterminated line (a prompt, a progress bar), at most
    /// [`LINE_CAP`] bytes of it.
    pub partial: String,
    /// Bytes of the current line beyond `partial`, not kept.
    partial_more: u64,
    /// Bytes of `texts`.
    mem_bytes: usize,
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
        // The line without its newline, at most LINE_CAP bytes of it.
        let len = (end - start).saturating_sub(1);
        let mut buf = vec![0u8; len.min(LINE_CAP as u64) as usize];
        f.read_exact(&mut buf).ok()?;
        if (buf.len() as u64) < len {
            // Cut at the last whole character.
            if let Err(e) = std::str::from_utf8(&buf) {
                if e.error_len().is_none() {
                    buf.truncate(e.valid_up_to());
                }
            }
            let mut text = String::from_utf8_lossy(&buf).into_owned();
            text.push_str(&more_marker(len - buf.len() as u64));
            return Some(text);
        }
        Some(String::from_utf8_lossy(&buf).into_owned())
    }
}

/// `text` (whole lines, each ending in `\n`) with every line longer than
/// [`LINE_CAP`] cut to its start and `… (N bytes more)`; returned as it is
/// when no line is that long.
fn cap_lines(text: String) -> String {
    let mut start = 0;
    let mut long = false;
    for nl in memchr::memchr_iter(b'\n', text.as_bytes()) {
        if nl - start > LINE_CAP {
            long = true;
            break;
        }
        start = nl + 1;
    }
    if !long {
        return text;
    }
    let mut out = String::with_capacity(LINE_CAP * 2);
    for line in text.split_inclusive('\n') {
        let body = line.strip_suffix('\n').unwrap_or(line);
        let head = prefix(body, LINE_CAP);
        out.push_str(head);
        if head.len() < body.len() {
            out.push_str(&more_marker((body.len() - head.len()) as u64));
        }
        out.push('\n');
    }
    out
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
            self.extend_partial(&chunk);
            return;
        };
        if !self.partial.is_empty() || self.partial_more > 0 {
            // The line begun earlier ends in this chunk: it becomes a chunk
            // of its own.
            self.extend_partial(&chunk[..first_nl]);
            let mut line = std::mem::take(&mut self.partial);
            let more = std::mem::take(&mut self.partial_more);
            if more > 0 {
                line.push_str(&more_marker(more));
            }
            line.push('\n');
            chunk.drain(..=first_nl);
            self.add_text(line);
        }
        match memchr::memrchr(b'\n', chunk.as_bytes()) {
            None => self.extend_partial(&chunk),
            Some(last_nl) => {
                self.extend_partial(&chunk[last_nl + 1..]);
                chunk.truncate(last_nl + 1);
                self.add_text(cap_lines(chunk));
            }
        }
    }

    /// Adds to the unterminated line, keeping at most [`LINE_CAP`] bytes of
    /// it and counting the rest; over the cap, a progress bar (`\r`) is
    /// first reduced to what a terminal shows, which usually fits.
    fn extend_partial(&mut self, text: &str) {
        if self.partial_more > 0 {
            self.partial_more += text.len() as u64;
            return;
        }
        if self.partial.len() + text.len() <= LINE_CAP {
            self.partial.push_str(text);
            return;
        }
        if !text.contains('\r') && !self.partial.contains('\r') {
            let head = prefix(text, LINE_CAP - self.partial.len());
            self.partial.push_str(head);
            self.partial_more = (text.len() - head.len()) as u64;
            return;
        }
        let mut line = std::mem::take(&mut self.partial);
        line.push_str(text);
        let mut line = crate::pipeline::runner::apply_carriage_returns(&line);
        let keep = prefix(&line, LINE_CAP).len();
        self.partial_more = (line.len() - keep) as u64;
        line.truncate(keep);
        line.shrink_to_fit();
        self.partial = line;
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
        self.mem_bytes += text.len();
        self.texts.push_back(text);
        let over = self.lines.len().saturating_sub(RING_CAP);
        if over > 0 {
            self.lines.drain(..over);
            self.first += over;
            let keep_from = self.lines.front().map_or(index + 1, |s| s.text);
            while self.first_text < keep_from && !self.texts.is_empty() {
                self.drop_oldest_text();
            }
        }
        // Long lines: the oldest chunks go (their lines are on disk) until
        // the rest fits, keeping the newest chunk.
        while self.mem_bytes > MEM_CAP && self.texts.len() > 1 {
            let oldest = self.first_text;
            while self.lines.front().is_some_and(|s| s.text == oldest) {
                self.lines.pop_front();
                self.first += 1;
            }
            self.drop_oldest_text();
        }
    }

    fn drop_oldest_text(&mut self) {
        if let Some(t) = self.texts.pop_front() {
            self.mem_bytes -= t.len();
            self.first_text += 1;
        }
    }

    /// Lines to show: complete ones plus the partial one, if any.
    pub fn len(&self) -> usize {
        self.complete + usize::from(!self.partial.is_empty() || self.partial_more > 0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Line `i` as it came (ANSI kept) when in memory; from the disk log
    /// (plain) when older.
    pub fn line(&self, i: usize) -> Option<String> {
        if i == self.complete && (!self.partial.is_empty() || self.partial_more > 0) {
            let mut line = self.partial.clone();
            if self.partial_more > 0 {
                line.push_str(&more_marker(self.partial_more));
            }
            return Some(line);
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

/// What a search needs of a log, taken on the UI thread in one go (the
/// lines in memory are copied; older lines are named by the log file), and
/// searched on a worker: the file is read once, front to back, however many
/// lines it has.
#[derive(Debug, Clone)]
pub struct SearchSource {
    /// The job's log file, for lines `0..first`.
    pub disk: Option<PathBuf>,
    /// Line number of `memory[0]`.
    pub first: usize,
    pub memory: Vec<String>,
}

/// A search for a worker to run.
#[derive(Debug, Clone)]
pub struct SearchAsk {
    /// Which search of the job this is (only the last one's answer counts).
    pub seq: u64,
    pub source: SearchSource,
    pub needle: String,
    pub from: usize,
    pub back: bool,
}

impl LogBuffer {
    /// The lines a search looks through, as they are now.
    pub fn search_source(&self) -> SearchSource {
        let memory = (self.first..self.len())
            .filter_map(|i| self.line(i))
            .collect();
        SearchSource {
            disk: self.disk.borrow().as_ref().map(|d| d.path.clone()),
            first: self.first,
            memory,
        }
    }
}

/// The line a search lands on: the next line at or after `from` containing
/// `needle` (case-insensitive), wrapping; with `back` the previous one at
/// or before `from`. Lines before `src.first` are read from the log file in
/// one pass (never one `open()` per line).
pub fn search(src: &SearchSource, needle: &str, from: usize, back: bool) -> Option<usize> {
    use std::io::BufRead;
    if needle.is_empty() {
        return None;
    }
    let needle = needle.to_lowercase();
    // The first match overall, the first at or after `from`, the last
    // before or at `from`, the last overall.
    let mut first_any = None;
    let mut first_after = None;
    let mut last_before = None;
    let mut last_any = None;
    let mut see = |i: usize, line: &str| {
        if !crate::pipeline::runner::strip_ansi(line)
            .to_lowercase()
            .contains(&needle)
        {
            return;
        }
        first_any.get_or_insert(i);
        if i >= from {
            first_after.get_or_insert(i);
        }
        if i <= from {
            last_before = Some(i);
        }
        last_any = Some(i);
    };
    if src.first > 0 {
        if let Some(f) = src.disk.as_ref().and_then(|p| File::open(p).ok()) {
            let mut r = std::io::BufReader::with_capacity(256 * 1024, f);
            let mut buf = Vec::new();
            for i in 0..src.first {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
                let body = buf.strip_suffix(b"\n").unwrap_or(&buf);
                let body = &body[..body.len().min(LINE_CAP)];
                see(i, &String::from_utf8_lossy(body));
            }
        }
    }
    for (k, line) in src.memory.iter().enumerate() {
        see(src.first + k, line);
    }
    if back {
        last_before.or(last_any)
    } else {
        first_after.or(first_any)
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

    #[test]
    fn a_huge_line_keeps_its_start_and_counts_the_rest() {
        let mut buf = LogBuffer::new(None);
        buf.push("before\n");
        let mb = "x".repeat(1 << 20);
        for _ in 0..200 {
            buf.push(&mb);
        }
        let total = 200u64 << 20;
        assert!(buf.partial.len() <= LINE_CAP);
        assert!(
            buf.partial.capacity() <= 2 * LINE_CAP,
            "{}",
            buf.partial.capacity()
        );
        assert_eq!(buf.len(), 2);
        let shown = buf.line(1).unwrap();
        let more = total - LINE_CAP as u64;
        assert_eq!(
            shown,
            format!("{} … ({more} bytes more)", "x".repeat(LINE_CAP))
        );
        // The newline ends it; the next line is whole again.
        buf.push("y\nafter\n");
        assert_eq!(buf.len(), 3);
        assert_eq!(
            buf.line(1).unwrap(),
            format!("{} … ({} bytes more)", "x".repeat(LINE_CAP), more + 1)
        );
        assert_eq!(buf.line(2).as_deref(), Some("after"));
        assert!(buf.mem_bytes < 2 * LINE_CAP, "{}", buf.mem_bytes);
        assert_eq!(buf.bytes, total + "before\n".len() as u64 + 8);
    }

    #[test]
    fn the_marker_is_found_at_the_end_only() {
        let l = format!("xyz{}", more_marker(42));
        assert_eq!(split_marker(&l), ("xyz", Some(" … (42 bytes more)")));
        assert_eq!(
            split_marker("a … (many bytes more)"),
            ("a … (many bytes more)", None)
        );
        assert_eq!(split_marker("plain"), ("plain", None));
    }

    #[test]
    fn long_lines_inside_a_chunk_are_capped_on_a_char_boundary() {
        let mut buf = LogBuffer::new(None);
        let long = "é".repeat(LINE_CAP); // 2 bytes each
        buf.push_owned(format!("a\n{long}\nb\n"));
        assert_eq!(buf.len(), 3);
        let l = buf.line(1).unwrap();
        assert!(l.starts_with(&"é".repeat(LINE_CAP / 2)), "{}", &l[..20]);
        assert!(
            l.ends_with(&format!(" … ({} bytes more)", LINE_CAP)),
            "{}",
            &l[l.len() - 40..]
        );
        assert_eq!(buf.line(2).as_deref(), Some("b"));
    }

    #[test]
    fn a_long_progress_bar_shows_what_a_terminal_would() {
        let mut buf = LogBuffer::new(None);
        for i in 0..10_000 {
            buf.push(&format!("\rdownloading {i:>5}/10000"));
        }
        let shown = crate::pipeline::runner::apply_carriage_returns(&buf.line(0).unwrap());
        assert_eq!(shown, "downloading  9999/10000");
        assert!(buf.partial.len() <= LINE_CAP);
    }

    #[test]
    fn a_huge_line_read_back_from_disk_is_capped_too() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.log");
        let huge = "z".repeat(3 * LINE_CAP);
        std::fs::write(&path, format!("{huge}\nsmall\n")).unwrap();
        let mut idx = DiskIndex {
            path,
            starts: vec![0],
            scanned: 0,
        };
        assert_eq!(
            idx.line(0).unwrap(),
            format!("{} … ({} bytes more)", "z".repeat(LINE_CAP), 2 * LINE_CAP)
        );
        assert_eq!(idx.line(1).as_deref(), Some("small"));
    }

    #[test]
    fn long_lines_do_not_add_up_past_the_memory_cap() {
        let mut buf = LogBuffer::new(None);
        let line = format!("{}\n", "w".repeat(LINE_CAP - 1));
        for _ in 0..(2 * MEM_CAP / LINE_CAP) {
            buf.push(&line);
        }
        assert!(buf.mem_bytes <= MEM_CAP, "{}", buf.mem_bytes);
        assert_eq!(buf.len(), 2 * MEM_CAP / LINE_CAP);
        assert_eq!(buf.line(buf.len() - 1).unwrap().len(), LINE_CAP - 1);
    }

    #[test]
    fn a_search_reads_old_lines_from_the_file_in_one_pass_and_wraps() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("output.log");
        let mut all = String::new();
        for i in 0..5000 {
            all.push_str(&format!(
                "line {i}{}\n",
                if i == 10 { " NEEDLE" } else { "" }
            ));
        }
        std::fs::write(&path, &all).unwrap();
        let src = SearchSource {
            disk: Some(path),
            first: 4990,
            memory: (4990..5000)
                .map(|i| {
                    format!(
                        "line {i}{}",
                        if i == 4995 {
                            " \x1b[31mneedle\x1b[0m"
                        } else {
                            ""
                        }
                    )
                })
                .collect(),
        };
        assert_eq!(search(&src, "needle", 0, false), Some(10));
        assert_eq!(search(&src, "needle", 11, false), Some(4995));
        // Wraps past the end to the first match.
        assert_eq!(search(&src, "needle", 4996, false), Some(10));
        assert_eq!(search(&src, "needle", 4994, true), Some(10));
        assert_eq!(search(&src, "needle", 5, true), Some(4995));
        assert_eq!(search(&src, "absent", 0, false), None);
    }
}

//! The log sink: writes a script's output to its log file as stored
//! (escapes removed, carriage returns applied, masked again), hashing exactly
//! the bytes written.
use super::*;

pub(super) struct LogSink {
    w: Option<BufWriter<File>>,
    /// Masks the text as stored: after escape codes are removed and
    /// carriage returns applied, so neither can hide a secret.
    masker: Masker,
    masked: Vec<u8>,
    /// The current line lost bytes to the escape-code stripper: what is
    /// stored differs from what the stream masker saw.
    stripped: bool,
    hasher: Sha256,
    bytes: u64,
    ansi: AnsiStripper,
    pub(super) line: Vec<u8>,
    has_cr: bool,
    error: Option<String>,
}

impl LogSink {
    pub(super) fn new(file: File, masker: Masker) -> LogSink {
        LogSink {
            w: Some(BufWriter::with_capacity(64 * 1024, file)),
            masker,
            masked: Vec::new(),
            stripped: false,
            hasher: Sha256::new(),
            bytes: 0,
            ansi: AnsiStripper::default(),
            line: Vec::new(),
            has_cr: false,
            error: None,
        }
    }

    fn write_out(&mut self, data: &[u8]) {
        let Some(w) = self.w.as_mut() else { return };
        match w.write_all(data) {
            Ok(()) => {
                self.hasher.update(data);
                self.bytes += data.len() as u64;
            }
            Err(e) => {
                self.error = Some(e.to_string());
                self.w = None;
            }
        }
    }

    fn emit_line(&mut self, newline: bool) {
        let mut line = std::mem::take(&mut self.line);
        // Stored exactly as the stream masker passed it: a whole line with
        // nothing stripped and no carriage return holds no secret it did
        // not mask (nor half of one, the masker holding nothing back).
        let as_streamed = !self.stripped && !self.has_cr && newline;
        self.stripped = false;
        if self.has_cr {
            line = apply_carriage_returns(&String::from_utf8_lossy(&line)).into_bytes();
            self.has_cr = false;
        }
        if newline {
            line.push(b'\n');
        }
        if as_streamed && self.masker.is_idle() {
            self.masker.passed_line();
            self.write_out(&line);
        } else {
            let mut masked = std::mem::take(&mut self.masked);
            masked.clear();
            self.masker.push(&line, &mut masked);
            self.write_out(&masked);
            self.masked = masked;
        }
        line.clear();
        self.line = line;
    }

    pub(super) fn feed(&mut self, data: &[u8]) {
        let mut i = 0;
        while i < data.len() {
            if self.ansi.state == AnsiState::Normal {
                // Copy a run of plain bytes at once.
                let rest = &data[i..];
                let plain = rest
                    .iter()
                    .position(|&b| matches!(b, 0x1b | 0x07 | b'\n' | b'\r'))
                    .unwrap_or(rest.len());
                let take = plain.min(LOG_LINE_CAP - self.line.len());
                self.line.extend_from_slice(&rest[..take]);
                i += take;
                if self.line.len() >= LOG_LINE_CAP {
                    self.emit_line(false);
                }
                if take < plain || i >= data.len() {
                    continue;
                }
            }
            let b = data[i];
            i += 1;
            let Some(b) = self.ansi.step(b) else {
                self.stripped = true;
                continue;
            };
            match b {
                b'\n' => self.emit_line(true),
                _ => {
                    if b == b'\r' {
                        self.has_cr = true;
                    }
                    self.line.push(b);
                    if self.line.len() >= LOG_LINE_CAP {
                        self.emit_line(false);
                    }
                }
            }
        }
    }

    /// Write what is buffered. The supervisor calls this whenever the
    /// script's output is drained, so whole lines reach the disk as they
    /// come and `guardrail jobs attach` or a console started later can
    /// follow a running job; a script printing faster than it is read fills
    /// the buffer instead of costing a write per read.
    pub(super) fn flush(&mut self) {
        if let Some(w) = self.w.as_mut() {
            if let Err(e) = w.flush() {
                self.error = Some(e.to_string());
                self.w = None;
            }
        }
    }

    /// The unterminated line as a terminal shows it.
    pub(super) fn current_line(&self) -> String {
        apply_carriage_returns(&String::from_utf8_lossy(&self.line))
    }

    pub(super) fn finish(mut self) -> (String, u64, Option<String>) {
        if !self.line.is_empty() {
            self.emit_line(false);
        }
        let mut rest = Vec::new();
        self.masker.finish(&mut rest);
        self.write_out(&rest);
        if let Some(w) = self.w.take() {
            match w.into_inner() {
                Ok(f) => {
                    if let Err(e) = f.sync_all() {
                        self.error.get_or_insert(e.to_string());
                    }
                }
                Err(e) => {
                    self.error.get_or_insert(e.error().to_string());
                }
            }
        }
        (hex::encode(self.hasher.finalize()), self.bytes, self.error)
    }
}

//! For terminals with 16 colours only (`TERM=screen`, `xterm`, `vt100`):
//! crossterm writes every colour as a 256-colour code (`38;5;N`), even the
//! 16 ANSI ones, which such a terminal does not understand. This writer sits
//! between the backend and the terminal and turns each colour of a Select
//! Graphic Rendition sequence into the classic codes (30–37, 90–97 and
//! 40–47, 100–107), the nearest of the 16 for palette and 24-bit colours.
//! Everything else passes unchanged.
use std::io::{self, Write};

use super::theme::{palette, rgb_to_16};

/// Longest escape sequence held back to be looked at; longer ones pass as
/// they are.
const MAX_SEQ: usize = 96;

pub struct Sgr16<W: Write> {
    inner: W,
    on: bool,
    /// An escape sequence begun but not yet ended.
    pending: Vec<u8>,
}

impl<W: Write> Sgr16<W> {
    /// Rewrites colours when `on`; otherwise a plain pass-through.
    pub fn new(inner: W, on: bool) -> Self {
        Sgr16 {
            inner,
            on,
            pending: Vec::new(),
        }
    }

    pub fn get_ref(&self) -> &W {
        &self.inner
    }

    fn push(&mut self, b: u8, out: &mut Vec<u8>) {
        if self.pending.is_empty() {
            if b == 0x1b {
                self.pending.push(b);
            } else {
                out.push(b);
            }
            return;
        }
        self.pending.push(b);
        let n = self.pending.len();
        let in_csi = n > 2 || b == b'[';
        if !in_csi || (n > 2 && !(0x20..=0x7e).contains(&b)) || n > MAX_SEQ {
            // Not a CSI sequence (or not one we read): out as it came, the
            // last byte looked at afresh (it may begin a sequence).
            let last = self.pending.pop().unwrap_or_default();
            out.append(&mut self.pending);
            self.push(last, out);
        } else if n > 2 && (0x40..=0x7e).contains(&b) {
            let seq = std::mem::take(&mut self.pending);
            if b == b'm' {
                sgr(&seq[2..n - 1], out);
            } else {
                out.extend_from_slice(&seq);
            }
        }
    }
}

/// `ESC [ params m` with its colours as 16-colour codes.
fn sgr(params: &[u8], out: &mut Vec<u8>) {
    let text = match std::str::from_utf8(params) {
        Ok(t) if t.bytes().all(|c| c.is_ascii_digit() || c == b';') => t,
        _ => {
            out.extend_from_slice(b"\x1b[");
            out.extend_from_slice(params);
            out.push(b'm');
            return;
        }
    };
    let p: Vec<&str> = text.split(';').collect();
    let num = |i: usize| p.get(i).and_then(|s| s.parse::<u8>().ok());
    let mut codes: Vec<String> = Vec::new();
    let mut i = 0;
    while i < p.len() {
        let which = p[i];
        if matches!(which, "38" | "48" | "58") {
            let (idx, used) = match p.get(i + 1).copied() {
                Some("5") => (
                    num(i + 2).map(|n| if n < 16 { n } else { rgb_to_16(palette(n)) }),
                    3,
                ),
                Some("2") => match (num(i + 2), num(i + 3), num(i + 4)) {
                    (Some(r), Some(g), Some(b)) => (Some(rgb_to_16([r, g, b])), 5),
                    _ => (None, 5),
                },
                _ => (None, 1),
            };
            if let Some(idx) = idx {
                let (base, bright) = match which {
                    "38" => (30, 90),
                    "48" => (40, 100),
                    // No underline colour with 16 colours: dropped.
                    _ => {
                        i += used;
                        continue;
                    }
                };
                let code = if idx < 8 {
                    base + idx
                } else {
                    bright + idx - 8
                };
                codes.push(code.to_string());
            }
            i += used;
        } else {
            codes.push(which.to_string());
            i += 1;
        }
    }
    if codes.is_empty() && !text.is_empty() {
        // Only an underline colour: nothing to send (an empty SGR resets).
        return;
    }
    out.extend_from_slice(b"\x1b[");
    out.extend_from_slice(codes.join(";").as_bytes());
    out.push(b'm');
}

impl<W: Write> Write for Sgr16<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if !self.on {
            return self.inner.write(buf);
        }
        let mut out = Vec::with_capacity(buf.len() + 16);
        for &b in buf {
            self.push(b, &mut out);
        }
        self.inner.write_all(&out)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn through(on: bool, pieces: &[&[u8]]) -> String {
        let mut w = Sgr16::new(Vec::new(), on);
        for p in pieces {
            w.write_all(p).unwrap();
        }
        String::from_utf8(w.get_ref().clone()).unwrap()
    }

    #[test]
    fn colours_become_16_colour_codes() {
        let t = |s: &str| through(true, &[s.as_bytes()]);
        assert_eq!(t("\x1b[38;5;1mA"), "\x1b[31mA");
        assert_eq!(t("\x1b[38;5;9;48;5;9m▀"), "\x1b[91;101m▀");
        assert_eq!(t("\x1b[48;5;0m"), "\x1b[40m");
        assert_eq!(t("\x1b[48;5;15m"), "\x1b[107m");
        // Palette and 24-bit colours: the nearest of the 16.
        assert_eq!(t("\x1b[38;5;196m"), "\x1b[91m");
        assert_eq!(t("\x1b[48;5;236m"), "\x1b[40m");
        assert_eq!(t("\x1b[38;2;255;0;0;48;2;0;0;238m"), "\x1b[91;44m");
        // Resets and attributes pass; an underline colour is dropped.
        assert_eq!(t("\x1b[39;49m\x1b[1m\x1b[0m"), "\x1b[39;49m\x1b[1m\x1b[0m");
        assert_eq!(t("\x1b[58;5;3mx"), "x");
        assert_eq!(t("\x1b[1;58;5;3mx"), "\x1b[1mx");
        // Other sequences and text are untouched.
        let other = "\x1b[?2026h\x1b[12;4H\x1b7\x1b]0;t\x07plain ▀ text\x1b[2J";
        assert_eq!(t(other), other);
    }

    #[test]
    fn a_sequence_split_across_writes_is_still_rewritten() {
        assert_eq!(
            through(true, &[b"ab\x1b", b"[38;", b"5;", b"2", b"m", b"cd"]),
            "ab\x1b[32mcd"
        );
    }

    #[test]
    fn off_passes_everything() {
        let s = "\x1b[38;5;196;48;2;1;2;3mX";
        assert_eq!(through(false, &[s.as_bytes()]), s);
    }
}

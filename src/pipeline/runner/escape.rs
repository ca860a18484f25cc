//! Escape codes and carriage returns: the one state machine that cuts
//! ANSI sequences (CSI, OSC, DCS, SOS, PM, APC) out of script output, for the
//! stored log ([`strip_ansi`]) and the log pane ([`escape_pieces`]), and the
//! line a terminal finally shows after `\r`.
use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) enum AnsiState {
    #[default]
    Normal,
    Esc,
    EscIntermediate,
    Csi,
    /// OSC, DCS, SOS, PM, APC: until BEL or ESC \.
    Str,
    StrEsc,
}

/// Byte-at-a-time escape-sequence stripper (state survives chunk edges).
#[derive(Debug, Default)]
pub(super) struct AnsiStripper {
    pub(super) state: AnsiState,
    /// Bytes swallowed in the current string sequence (bounded).
    str_len: usize,
}

impl AnsiStripper {
    pub(super) fn step(&mut self, b: u8) -> Option<u8> {
        use AnsiState::*;
        match self.state {
            Normal => match b {
                0x1b => {
                    self.state = Esc;
                    None
                }
                0x07 => None,
                _ => Some(b),
            },
            Esc => {
                self.state = match b {
                    b'[' => Csi,
                    b']' | b'P' | b'X' | b'^' | b'_' => {
                        self.str_len = 0;
                        Str
                    }
                    0x20..=0x2f => EscIntermediate,
                    _ => Normal,
                };
                None
            }
            EscIntermediate => {
                if !(0x20..=0x2f).contains(&b) {
                    self.state = Normal;
                }
                None
            }
            Csi => {
                if (0x40..=0x7e).contains(&b) {
                    self.state = Normal;
                }
                None
            }
            Str | StrEsc => {
                self.str_len += 1;
                self.state = match (self.state, b) {
                    (_, 0x07) => Normal,
                    (StrEsc, b'\\') => Normal,
                    (_, 0x1b) => StrEsc,
                    _ => Str,
                };
                // An unterminated string must not swallow the whole output.
                if self.str_len > 4096 {
                    self.state = Normal;
                }
                None
            }
        }
    }
}

/// `s` without ANSI escape sequences (CSI such as colours and cursor moves,
/// OSC such as titles and hyperlinks, other ESC sequences) and BEL.
pub fn strip_ansi(s: &str) -> String {
    let bytes = s.as_bytes();
    let Some(first) = memchr::memchr2(0x1b, 0x07, bytes) else {
        return s.to_string();
    };
    let mut out = Vec::with_capacity(bytes.len());
    out.extend_from_slice(&bytes[..first]);
    let mut st = AnsiStripper::default();
    let mut i = first;
    while i < bytes.len() {
        if st.state == AnsiState::Normal {
            // Copy a run of plain bytes at once.
            let run = memchr::memchr2(0x1b, 0x07, &bytes[i..]).unwrap_or(bytes.len() - i);
            out.extend_from_slice(&bytes[i..i + run]);
            i += run;
            if i >= bytes.len() {
                break;
            }
        }
        if let Some(b) = st.step(bytes[i]) {
            out.push(b);
        }
        i += 1;
    }
    // Only whole sequences of ASCII bytes were taken out of valid UTF-8.
    utf8_lossy(out)
}

/// A piece of text with escape codes, as [`escape_pieces`] cuts it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EscapePiece<'a> {
    /// Text between escape sequences (BEL removed).
    Text(std::borrow::Cow<'a, str>),
    /// The parameters of an SGR sequence (`ESC [ params m`): a colour or
    /// style change.
    Sgr(&'a str),
}

/// `s` cut into text and SGR sequences by the same state machine as
/// [`strip_ansi`] (so the pane and the log drop the same bytes): every other
/// sequence (cursor moves, OSC titles and links, DCS, SOS, PM, APC strings)
/// is left out whole.
pub fn escape_pieces(s: &str) -> Vec<EscapePiece<'_>> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut st = AnsiStripper::default();
    let mut text = Vec::new();
    let mut seq_start = 0;
    let flush = |text: &mut Vec<u8>, out: &mut Vec<EscapePiece<'_>>| {
        if !text.is_empty() {
            out.push(EscapePiece::Text(std::borrow::Cow::Owned(utf8_lossy(
                std::mem::take(text),
            ))));
        }
    };
    for (i, &b) in bytes.iter().enumerate() {
        let before = st.state;
        if let Some(b) = st.step(b) {
            text.push(b);
            continue;
        }
        if before == AnsiState::Normal && b == 0x1b {
            seq_start = i;
        }
        if before == AnsiState::Csi && st.state == AnsiState::Normal && b == b'm' {
            flush(&mut text, &mut out);
            // Between `ESC [` and the final byte: ASCII, so a char boundary.
            out.push(EscapePiece::Sgr(&s[seq_start + 2..i]));
        }
    }
    flush(&mut text, &mut out);
    out
}

/// The line a terminal finally shows for `line` containing `\r`: each `\r`
/// returns to column 0 and later characters overwrite earlier ones
/// (`"10%\r100%"` → `"100%"`, `"abcdef\rXY"` → `"XYcdef"`). A trailing
/// `\r` (as in `\r\n`) changes nothing.
pub fn apply_carriage_returns(line: &str) -> String {
    if !line.contains('\r') {
        return line.to_string();
    }
    let mut cells: Vec<char> = Vec::with_capacity(line.len());
    let mut col = 0;
    for c in line.chars() {
        if c == '\r' {
            col = 0;
        } else {
            if col < cells.len() {
                cells[col] = c;
            } else {
                cells.push(c);
            }
            col += 1;
        }
    }
    cells.into_iter().collect()
}

//! Secrets and masking: which environment values are secrets, the
//! forms a secret can take in output (base64, percent, JSON) and the streaming
//! `Masker` that replaces each with `***`, even split across reads.
use super::*;

pub(super) const SECRET_MARKERS: [&str; 5] = ["TOKEN", "SECRET", "PASSWORD", "KEY", "AUTH"];

/// Values of secret-looking variables (names containing TOKEN, SECRET,
/// PASSWORD, KEY or AUTH, any case) that are long enough to mask, and a
/// warning for each one that is not (non-empty but shorter than
/// [`MIN_SECRET_LEN`] characters). Warnings name the variable, never the
/// value.
pub fn secret_values_from_env(
    env: impl Iterator<Item = (String, String)>,
) -> (Vec<String>, Vec<String>) {
    let mut values: Vec<String> = Vec::new();
    let mut warned: Vec<String> = Vec::new();
    let mut warnings = Vec::new();
    for (name, value) in env {
        let upper = name.to_ascii_uppercase();
        if !SECRET_MARKERS.iter().any(|m| upper.contains(m)) || value.is_empty() {
            continue;
        }
        if value.chars().count() < MIN_SECRET_LEN {
            if !warned.contains(&name) {
                warnings.push(format!(
                    "guardrail: warning: {name} looks secret but its value is shorter than {MIN_SECRET_LEN} characters, so it is not masked"
                ));
                warned.push(name);
            }
        } else if !values.contains(&value) {
            values.push(value);
        }
    }
    (values, warnings)
}

/// `bytes` as text without a copy when they are valid UTF-8 (as a script's
/// output nearly always is); invalid sequences become U+FFFD.
pub(super) fn utf8_lossy(bytes: Vec<u8>) -> String {
    String::from_utf8(bytes).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `text` with every secret value (and its encoded forms, as in a script's
/// output) replaced by `***`: for text guardrail stores that did not come
/// through the runner, such as an alert command's stderr.
///
/// Masks the text as it is stored: escape sequences are removed first (a
/// colour code inside a secret does not hide it), and URL user-info becomes
/// `***` too ([`mask_url_userinfo`], as [`Masker`] does).
pub fn mask_secrets(text: &str, secrets: &[String]) -> String {
    let text = strip_ansi(text);
    let mut masker = Masker::new(secrets);
    let mut out = Vec::with_capacity(text.len());
    masker.push(text.as_bytes(), &mut out);
    masker.finish(&mut out);
    utf8_lossy(out)
}

/// `text` with the user-info of every URL in it (`http://user:pw@host/` →
/// `http://***@host/`) replaced by `***`.
pub fn mask_url_userinfo(text: &str) -> String {
    if !text.contains("://") {
        return text.to_string();
    }
    let mut out = Vec::with_capacity(text.len());
    mask_url_userinfo_into(text.as_bytes(), &mut out);
    // Only bytes between an ASCII `://` and an ASCII `@` are replaced, so
    // the text stays UTF-8.
    utf8_lossy(out)
}

/// The one URL user-info rule, on bytes: `text` to `out` with everything
/// between a `://` and the last `@` of the authority after it replaced by
/// `***`. Text that is not UTF-8 is passed through as it is.
pub(super) fn mask_url_userinfo_into(text: &[u8], out: &mut Vec<u8>) {
    let mut rest = text;
    while let Some(i) = memchr::memmem::find(rest, b"://") {
        let (head, tail) = rest.split_at(i + 3);
        out.extend_from_slice(head);
        let (end, _) = authority_end(tail);
        match memchr::memrchr(b'@', &tail[..end]) {
            Some(at) => {
                out.extend_from_slice(b"***");
                rest = &tail[at..];
            }
            None => rest = tail,
        }
    }
    out.extend_from_slice(rest);
}

/// Where the authority at the start of `tail` (what follows a `://`) ends,
/// and whether something ended it (false: it runs to the end of `tail`, and
/// more of it may follow). It ends at the path, query, fragment or anything
/// that cannot be in a URL.
fn authority_end(tail: &[u8]) -> (usize, bool) {
    fn ends(c: char) -> bool {
        matches!(c, '/' | '?' | '#' | '"' | '\'' | '<' | '>' | '`' | '\\')
            || c.is_whitespace()
            || c.is_control()
    }
    let mut i = 0;
    while i < tail.len() {
        let b = tail[i];
        if b.is_ascii() {
            if ends(char::from(b)) {
                return (i, true);
            }
            i += 1;
            continue;
        }
        let window = &tail[i..tail.len().min(i + 4)];
        let c = match std::str::from_utf8(window) {
            Ok(s) => s.chars().next(),
            Err(e) if e.valid_up_to() > 0 => std::str::from_utf8(&window[..e.valid_up_to()])
                .ok()
                .and_then(|s| s.chars().next()),
            // A character cut off at the end: more of it may follow.
            Err(e) if e.error_len().is_none() => return (tail.len(), false),
            // Not UTF-8: not an end (as U+FFFD would not be).
            Err(_) => None,
        };
        match c {
            Some(c) if ends(c) => return (i, true),
            Some(c) => i += c.len_utf8(),
            None => i += 1,
        }
    }
    (tail.len(), false)
}

/// A URL's user-info may be longer than one read: the stream holds back an
/// authority that has not ended yet, up to this many bytes.
pub(super) const URL_HOLD_CAP: usize = 64 * 1024;

/// The streaming stage of [`mask_url_userinfo_into`]: what a [`Masker`] has
/// let through (secrets masked) is masked for URL user-info, holding back a
/// URL whose authority has not ended yet, so a URL split across reads is
/// masked too.
#[derive(Default)]
pub(super) struct UrlStage {
    /// The last (up to two) bytes released: the `:` or `:/` of a `://`
    /// completed by the next bytes.
    tail: Vec<u8>,
    /// Held back: a URL from its `://` (or the part of it not yet
    /// released) whose authority has not ended.
    pending: Vec<u8>,
}

impl UrlStage {
    /// Mask `out[start..]`, which just came through, in place: the end of
    /// the stream so far is `tail`, then `pending`, then it.
    fn filter(&mut self, out: &mut Vec<u8>, start: usize, end_of_stream: bool) {
        let seg = &out[start..];
        if self.pending.is_empty() && !end_of_stream {
            let mut seam = self.tail.clone();
            seam.extend_from_slice(&seg[..seg.len().min(2)]);
            if memchr::memmem::find(seg, b"://").is_none()
                && memchr::memmem::find(&seam, b"://").is_none()
            {
                // No URL in it: passed as it is.
                self.keep_tail(&seam, seg);
                return;
            }
        }
        let t = self.tail.len();
        let mut work = std::mem::take(&mut self.tail);
        work.append(&mut self.pending);
        work.extend_from_slice(seg);
        out.truncate(start);
        let hold = match memchr::memmem::rfind(&work, b"://") {
            Some(i) if !end_of_stream && !authority_end(&work[i + 3..]).1 => i,
            _ => work.len(),
        };
        let mut release = hold.max(t);
        if work.len() - release > URL_HOLD_CAP {
            release = work.len();
        }
        // A replacement starts after a whole `://`, so never within the
        // `t` bytes already released.
        let mut masked = Vec::with_capacity(release);
        mask_url_userinfo_into(&work[..release], &mut masked);
        out.extend_from_slice(&masked[t..]);
        self.pending = work.split_off(release);
        self.tail = masked[masked.len().saturating_sub(2)..].to_vec();
    }

    fn keep_tail(&mut self, seam: &[u8], seg: &[u8]) {
        if seg.len() >= 2 {
            self.tail.clear();
            self.tail.extend_from_slice(&seg[seg.len() - 2..]);
        } else {
            self.tail = seam[seam.len().saturating_sub(2)..].to_vec();
        }
    }
}

pub(super) fn base64(data: &[u8], url_safe: bool, pad: bool) -> String {
    let alphabet: &[u8; 64] = if url_safe {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    } else {
        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
    };
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..4 {
            if i < chars {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

pub(super) fn percent_encode(data: &[u8], lower: bool, plus_for_space: bool) -> String {
    let mut out = String::new();
    for &b in data {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else if b == b' ' && plus_for_space {
            out.push('+');
        } else if lower {
            out.push_str(&format!("%{b:02x}"));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Every byte pattern masked for `secret`.
pub(super) fn patterns_for(secret: &str) -> Vec<Vec<u8>> {
    let raw = secret.as_bytes();
    let mut pats = vec![
        raw.to_vec(),
        base64(raw, false, true).into_bytes(),
        base64(raw, false, false).into_bytes(),
        base64(raw, true, true).into_bytes(),
        base64(raw, true, false).into_bytes(),
        percent_encode(raw, false, false).into_bytes(),
        percent_encode(raw, true, false).into_bytes(),
        percent_encode(raw, false, true).into_bytes(),
        percent_encode(raw, true, true).into_bytes(),
    ];
    // Base64 of the secret anywhere inside encoded data (`user:secret`):
    // for each of the three alignments, the characters made of the
    // secret's bits alone.
    for k in 0..3 {
        let mut data = vec![0u8; k];
        data.extend_from_slice(raw);
        data.extend_from_slice(&[0, 0]);
        let (start, end) = ((8 * k).div_ceil(6), 8 * (k + raw.len()) / 6);
        for url_safe in [false, true] {
            let enc = base64(&data, url_safe, false);
            pats.push(enc.as_bytes()[start..end].to_vec());
        }
    }
    // JSON-escaped, as the secret stands inside a JSON string.
    let json = serde_json::to_string(secret).expect("a string serialises");
    let json = &json[1..json.len() - 1];
    pats.push(json.as_bytes().to_vec());
    pats.push(json.replace('/', "\\/").into_bytes());
    pats.sort();
    pats.dedup();
    pats
}

/// Streaming replacement of secret patterns, then of URL user-info, by
/// `***`.
pub(super) struct Masker {
    /// Every pattern with its searcher (SIMD `memmem`): text without a
    /// secret in it, the usual case, is passed over a chunk at a time
    /// instead of byte by byte.
    patterns: Vec<(Vec<u8>, memchr::memmem::Finder<'static>)>,
    max_len: usize,
    pub(super) pending: Vec<u8>,
    /// URL user-info, masked after the secrets.
    url: UrlStage,
}

impl Masker {
    pub(super) fn new(secrets: &[String]) -> Masker {
        let mut unique: Vec<Vec<u8>> = Vec::new();
        for s in secrets {
            for p in patterns_for(s) {
                if !p.is_empty() && !unique.contains(&p) {
                    unique.push(p);
                }
            }
        }
        let max_len = unique.iter().map(Vec::len).max().unwrap_or(0);
        let patterns = unique
            .into_iter()
            .map(|p| {
                let finder = memchr::memmem::Finder::new(&p).into_owned();
                (p, finder)
            })
            .collect();
        Masker {
            patterns,
            max_len,
            pending: Vec::new(),
            url: UrlStage::default(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        self.max_len == 0
    }

    /// Nothing held back: every byte pushed so far has been released.
    pub(super) fn is_idle(&self) -> bool {
        self.pending.is_empty() && self.url.pending.is_empty()
    }

    /// A whole line (ending in a newline) went past this masker, already
    /// masked by another: no `://` can straddle what comes next.
    pub(super) fn passed_line(&mut self) {
        self.url.tail.clear();
    }

    /// Start of the longest suffix of `buf` that is a proper beginning of
    /// some pattern (`buf.len()` when there is none).
    fn retain_from(&self, buf: &[u8]) -> usize {
        let n = buf.len();
        let start = n.saturating_sub(self.max_len.saturating_sub(1));
        (start..n)
            .find(|&j| {
                let tail = &buf[j..];
                self.patterns
                    .iter()
                    .any(|(p, _)| p.len() > tail.len() && p.starts_with(tail))
            })
            .unwrap_or(n)
    }

    /// Copies `buf` to `out` up to `upto`, each secret starting before it
    /// (the longest one where several start at the same byte) replaced by
    /// `***`, left to right; returns how far `buf` was consumed (past
    /// `upto` when a secret straddles it).
    fn replace(&self, buf: &[u8], upto: usize, out: &mut Vec<u8>) -> usize {
        // Where each pattern next occurs at or after `at` (None: not again).
        let mut next: Vec<Option<usize>> = self.patterns.iter().map(|(_, f)| f.find(buf)).collect();
        let mut at = 0;
        // The leftmost next occurrence, the longest pattern there: every
        // pattern occurring at `start` has it as its next place.
        while let Some((start, std::cmp::Reverse(len))) = next
            .iter()
            .zip(&self.patterns)
            .filter_map(|(n, (p, _))| {
                n.filter(|&s| s < upto)
                    .map(|s| (s, std::cmp::Reverse(p.len())))
            })
            .min()
        {
            out.extend_from_slice(&buf[at..start]);
            out.extend_from_slice(b"***");
            at = start + len;
            for ((_, finder), n) in self.patterns.iter().zip(next.iter_mut()) {
                if n.is_some_and(|s| s < at) {
                    *n = finder.find(&buf[at..]).map(|s| s + at);
                }
            }
        }
        if at < upto {
            out.extend_from_slice(&buf[at..upto]);
            at = upto;
        }
        at
    }

    /// Mask what can be decided now; keep back a possible secret's start
    /// and a URL whose authority has not ended.
    pub(super) fn push(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        self.push_secrets(data, out);
        self.url.filter(out, start, false);
    }

    fn push_secrets(&mut self, data: &[u8], out: &mut Vec<u8>) {
        if self.is_empty() {
            out.extend_from_slice(data);
            return;
        }
        if self.pending.is_empty() {
            // Nothing held back: mask `data` where it is, keep its tail.
            let keep = self.retain_from(data);
            let done = self.replace(data, keep, out);
            self.pending.extend_from_slice(&data[done..]);
            return;
        }
        let mut buf = std::mem::take(&mut self.pending);
        buf.extend_from_slice(data);
        let keep = self.retain_from(&buf);
        let done = self.replace(&buf, keep, out);
        buf.drain(..done);
        self.pending = buf;
    }

    /// End of stream: mask and release everything.
    pub(super) fn finish(&mut self, out: &mut Vec<u8>) {
        let start = out.len();
        let buf = std::mem::take(&mut self.pending);
        self.replace(&buf, buf.len(), out);
        self.url.filter(out, start, true);
    }
}

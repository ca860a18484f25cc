//! Visual evidence: screenshots and screencasts in a handoff package.
//!
//! A file counts as evidence only when its first bytes are really an image or
//! a video ([`sniff`]); a name alone proves nothing. Requirements
//! (`[[evidence.require]]`: a name, a file-name glob and a minimum count) are
//! checked by [`check_requirements`], which says in one line what is short.

use std::fmt;

/// The media kinds accepted as evidence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MediaKind {
    Png,
    Jpeg,
    Gif,
    Webp,
    Mp4,
    Webm,
    Mov,
}

impl MediaKind {
    /// True for screencasts, false for screenshots.
    pub fn is_video(self) -> bool {
        matches!(self, MediaKind::Mp4 | MediaKind::Webm | MediaKind::Mov)
    }

    /// "image" or "video".
    pub fn noun(self) -> &'static str {
        if self.is_video() {
            "video"
        } else {
            "image"
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Png => "PNG",
            MediaKind::Jpeg => "JPEG",
            MediaKind::Gif => "GIF",
            MediaKind::Webp => "WebP",
            MediaKind::Mp4 => "MP4",
            MediaKind::Webm => "WebM",
            MediaKind::Mov => "QuickTime",
        }
    }
}

impl fmt::Display for MediaKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `ftyp` brands that are still images (HEIF/AVIF), not video.
const IMAGE_BRANDS: &[&[u8; 4]] = &[
    b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1", b"avif", b"avis",
];

/// The media kind of a file from its first bytes (16 are enough).
pub fn sniff(bytes: &[u8]) -> Option<MediaKind> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        return Some(MediaKind::Png);
    }
    if bytes.starts_with(&[0xFF, 0xD8, 0xFF]) {
        return Some(MediaKind::Jpeg);
    }
    if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
        return Some(MediaKind::Gif);
    }
    if bytes.len() >= 12 && &bytes[0..4] == b"RIFF" && &bytes[8..12] == b"WEBP" {
        return Some(MediaKind::Webp);
    }
    if bytes.len() >= 12 && &bytes[4..8] == b"ftyp" {
        let brand = &bytes[8..12];
        if brand == b"qt  " {
            return Some(MediaKind::Mov);
        }
        if IMAGE_BRANDS.iter().any(|b| &b[..] == brand) {
            return None;
        }
        if brand.iter().all(|b| b.is_ascii_graphic() || *b == b' ') {
            return Some(MediaKind::Mp4);
        }
        return None;
    }
    if bytes.starts_with(&[0x1A, 0x45, 0xDF, 0xA3]) {
        return Some(MediaKind::Webm);
    }
    None
}

/// The media kind a file name promises by its extension.
pub fn expected_kind_for_name(name: &str) -> Option<MediaKind> {
    let base = base_name(name);
    let (_, ext) = base.rsplit_once('.')?;
    match ext.to_ascii_lowercase().as_str() {
        "png" => Some(MediaKind::Png),
        "jpg" | "jpeg" => Some(MediaKind::Jpeg),
        "gif" => Some(MediaKind::Gif),
        "webp" => Some(MediaKind::Webp),
        "mp4" => Some(MediaKind::Mp4),
        "webm" => Some(MediaKind::Webm),
        "mov" => Some(MediaKind::Mov),
        _ => None,
    }
}

/// What non-media bytes look like, for messages: "empty", "looks like
/// text", "looks like HTML", "unrecognised binary data".
pub fn describe_content(bytes: &[u8]) -> &'static str {
    if bytes.is_empty() {
        return "empty";
    }
    if let Some(kind) = sniff(bytes) {
        return kind.noun();
    }
    // A prefix may cut a UTF-8 sequence: judge on what is valid.
    let valid = match std::str::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) if e.valid_up_to() + 4 >= bytes.len() && e.error_len().is_none() => {
            std::str::from_utf8(&bytes[..e.valid_up_to()]).unwrap_or("")
        }
        Err(_) => return "unrecognised binary data",
    };
    if valid.chars().any(|c| c.is_control() && !c.is_whitespace()) {
        return "unrecognised binary data";
    }
    let lower = valid.trim_start().to_ascii_lowercase();
    if lower.starts_with("<!doctype html") || lower.starts_with("<html") {
        "looks like HTML"
    } else if lower.starts_with("<svg") || lower.starts_with("<?xml") {
        "looks like SVG/XML, not a screenshot"
    } else {
        "looks like text"
    }
}

fn base_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

/// Matches a file-name glob: `*` any run of characters, `?` one character,
/// `\` escapes the next. Matched against the last path component of `name`,
/// ignoring ASCII case (screenshots get named by hand on many systems).
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = base_name(name).chars().collect();
    // Iterative matcher with one backtrack point for the last `*`.
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some('?') => Some(1),
            Some('\\') if pi + 1 < p.len() => {
                if p[pi + 1].eq_ignore_ascii_case(&n[ni]) {
                    Some(2)
                } else {
                    None
                }
            }
            Some(c) if c.eq_ignore_ascii_case(&n[ni]) => Some(1),
            _ => None,
        };
        match step {
            Some(k) => {
                pi += k;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    while p.get(pi) == Some(&'*') {
        pi += 1;
    }
    pi == p.len()
}

/// One `[[evidence.require]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Requirement {
    /// What it proves, e.g. "PS101 10-step flow".
    pub name: String,
    /// File-name glob, e.g. `ps101-step-*`.
    pub glob: String,
    /// How many real media files must match.
    pub min: usize,
}

/// A file that matched a requirement's glob but does not count.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejected {
    pub file: String,
    /// One line, e.g. `auth-modal.png is not really an image (looks like text)`.
    pub why: String,
}

/// The outcome of one requirement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequirementResult {
    pub requirement: Requirement,
    pub met: bool,
    /// Files that matched and count, with their kind.
    pub counted: Vec<(String, MediaKind)>,
    /// Files that matched the glob but are not real media.
    pub rejected: Vec<Rejected>,
    /// One line when not met.
    pub reason: Option<String>,
}

/// Why a matching file does not count, or `None` when it does.
fn rejection(name: &str, bytes: &[u8]) -> Option<String> {
    if sniff(bytes).is_some() {
        return None;
    }
    let base = base_name(name);
    let what = describe_content(bytes);
    Some(match expected_kind_for_name(name) {
        Some(kind) => format!(
            "{base} is not really {} {} ({what})",
            article(kind.noun()),
            kind.noun()
        ),
        None => format!("{base} is not an image or video ({what})"),
    })
}

fn article(noun: &str) -> &'static str {
    if noun.starts_with(['a', 'e', 'i', 'o', 'u']) {
        "an"
    } else {
        "a"
    }
}

/// Checks each requirement against the package's evidence files, given as
/// `(name, first bytes)` (16 bytes or more). Files whose bytes are not a
/// known image or video format do not count, whatever their name.
pub fn check_requirements(
    files: &[(String, Vec<u8>)],
    reqs: &[Requirement],
) -> Vec<RequirementResult> {
    reqs.iter()
        .map(|req| {
            let mut counted = Vec::new();
            let mut rejected = Vec::new();
            for (name, bytes) in files {
                if !glob_match(&req.glob, name) {
                    continue;
                }
                match sniff(bytes) {
                    Some(kind) => counted.push((name.clone(), kind)),
                    None => rejected.push(Rejected {
                        file: name.clone(),
                        why: rejection(name, bytes).unwrap_or_default(),
                    }),
                }
            }
            let met = counted.len() >= req.min;
            let reason = (!met).then(|| {
                let found = counted.len();
                if found == 0 && req.min == 1 && rejected.len() == 1 {
                    return rejected[0].why.clone();
                }
                let plural = if req.min == 1 { "" } else { "s" };
                let mut r = format!(
                    "needs {} file{plural} matching {}, found {found}",
                    req.min, req.glob
                );
                if let Some(first) = rejected.first() {
                    r.push_str("; ");
                    r.push_str(&first.why);
                    if rejected.len() > 1 {
                        r.push_str(&format!(" (and {} more not counted)", rejected.len() - 1));
                    }
                }
                r
            });
            RequirementResult {
                requirement: req.clone(),
                met,
                counted,
                rejected,
                reason,
            }
        })
        .collect()
}

/// A small picture of an evidence image, for a preview in the terminal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Thumbnail {
    pub width: u32,
    pub height: u32,
    /// Row-major RGB pixels.
    pub pixels: Vec<[u8; 3]>,
}

impl Thumbnail {
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        self.pixels
            .get((y * self.width + x) as usize)
            .copied()
            .unwrap_or([0, 0, 0])
    }
}

/// Decodes a PNG or JPEG and scales it (nearest neighbour, aspect kept) to
/// fit `max_w` × `max_h` pixels. Other kinds cannot be previewed: the error
/// says so in one line.
pub fn thumbnail(bytes: &[u8], max_w: u32, max_h: u32) -> Result<Thumbnail, String> {
    let (w, h, rgb) = match sniff(bytes) {
        Some(MediaKind::Png) => decode_png(bytes)?,
        Some(MediaKind::Jpeg) => decode_jpeg(bytes)?,
        Some(k) => {
            return Err(format!(
                "{} files are not previewed here (PNG and JPEG are)",
                k.as_str()
            ))
        }
        None => return Err("not an image".into()),
    };
    if w == 0 || h == 0 {
        return Err("an empty image".into());
    }
    let scale = f64::min(
        max_w.max(1) as f64 / w as f64,
        max_h.max(1) as f64 / h as f64,
    )
    .min(1.0);
    let tw = ((w as f64 * scale).round() as u32).max(1);
    let th = ((h as f64 * scale).round() as u32).max(1);
    // Each pixel the average of the pixels it stands for, so that a line
    // one pixel thin (a border, text) still shows, paler, instead of
    // falling between the pixels a nearest-neighbour scaling picks.
    let span = |i: u32, to: u32, from: u32| {
        let a = (i as u64 * from as u64 / to as u64) as u32;
        let b = ((i as u64 + 1) * from as u64 / to as u64) as u32;
        (a, b.max(a + 1).min(from))
    };
    let mut pixels = Vec::with_capacity((tw * th) as usize);
    for y in 0..th {
        let (y0, y1) = span(y, th, h);
        for x in 0..tw {
            let (x0, x1) = span(x, tw, w);
            let mut sum = [0u64; 3];
            for sy in y0..y1 {
                let row = (sy * w) as usize;
                for p in &rgb[row + x0 as usize..row + x1 as usize] {
                    for (s, v) in sum.iter_mut().zip(p) {
                        *s += *v as u64;
                    }
                }
            }
            let n = ((y1 - y0) * (x1 - x0)) as u64;
            pixels.push(sum.map(|v| ((v + n / 2) / n) as u8));
        }
    }
    Ok(Thumbnail {
        width: tw,
        height: th,
        pixels,
    })
}

/// The largest picture decoded (pixels); bigger ones are refused rather
/// than decoded into memory.
const MAX_PIXELS: u64 = 40_000_000;

fn decode_png(bytes: &[u8]) -> Result<(u32, u32, Vec<[u8; 3]>), String> {
    let mut dec = png::Decoder::new(std::io::Cursor::new(bytes));
    dec.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = dec
        .read_info()
        .map_err(|e| format!("the PNG cannot be read: {e}"))?;
    let info = reader.info();
    if info.width as u64 * info.height as u64 > MAX_PIXELS {
        return Err("the picture is too large to preview".into());
    }
    let size = reader
        .output_buffer_size()
        .ok_or("the picture is too large to preview")?;
    let mut buf = vec![0; size];
    let frame = reader
        .next_frame(&mut buf)
        .map_err(|e| format!("the PNG cannot be read: {e}"))?;
    let (w, h) = (frame.width, frame.height);
    let data = &buf[..frame.buffer_size()];
    let px: Vec<[u8; 3]> = match frame.color_type {
        png::ColorType::Rgb => data.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect(),
        png::ColorType::Rgba => data
            .chunks_exact(4)
            .map(|c| blend(c[0], c[1], c[2], c[3]))
            .collect(),
        png::ColorType::Grayscale => data.iter().map(|g| [*g, *g, *g]).collect(),
        png::ColorType::GrayscaleAlpha => data
            .chunks_exact(2)
            .map(|c| blend(c[0], c[0], c[0], c[1]))
            .collect(),
        png::ColorType::Indexed => return Err("an indexed PNG that was not expanded".into()),
    };
    if px.len() < (w * h) as usize {
        return Err("the PNG is shorter than its size says".into());
    }
    Ok((w, h, px))
}

/// Over a white background.
fn blend(r: u8, g: u8, b: u8, a: u8) -> [u8; 3] {
    let mix = |c: u8| ((c as u16 * a as u16 + 255 * (255 - a as u16)) / 255) as u8;
    [mix(r), mix(g), mix(b)]
}

fn decode_jpeg(bytes: &[u8]) -> Result<(u32, u32, Vec<[u8; 3]>), String> {
    let mut dec = jpeg_decoder::Decoder::new(std::io::Cursor::new(bytes));
    dec.read_info()
        .map_err(|e| format!("the JPEG cannot be read: {e}"))?;
    let info = dec.info().ok_or("the JPEG has no size")?;
    if info.width as u64 * info.height as u64 > MAX_PIXELS {
        return Err("the picture is too large to preview".into());
    }
    let data = dec
        .decode()
        .map_err(|e| format!("the JPEG cannot be read: {e}"))?;
    let (w, h) = (info.width as u32, info.height as u32);
    let px: Vec<[u8; 3]> = match info.pixel_format {
        jpeg_decoder::PixelFormat::RGB24 => {
            data.chunks_exact(3).map(|c| [c[0], c[1], c[2]]).collect()
        }
        jpeg_decoder::PixelFormat::L8 => data.iter().map(|g| [*g, *g, *g]).collect(),
        jpeg_decoder::PixelFormat::L16 => {
            data.chunks_exact(2).map(|c| [c[0], c[0], c[0]]).collect()
        }
        jpeg_decoder::PixelFormat::CMYK32 => data
            .chunks_exact(4)
            .map(|c| {
                let k = 255 - c[3] as u16;
                let f = |v: u8| ((255 - v as u16) * k / 255) as u8;
                [f(c[0]), f(c[1]), f(c[2])]
            })
            .collect(),
    };
    if px.len() < (w * h) as usize {
        return Err("the JPEG is shorter than its size says".into());
    }
    Ok((w, h, px))
}

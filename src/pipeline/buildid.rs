//! The BUILD_ID comment (SPEC §7): the one place that recognises, reads,
//! stamps and ignores it. Publish, backup manifests, live verification,
//! rollback checks and drift all go through here, so they cannot disagree.
//!
//! A comment is `<!--`, optional ASCII whitespace, `BUILD_ID:`, then
//! anything (newlines too, as in HTML) up to the first following `-->`; a
//! `<!-- BUILD_ID:` with no `-->` after it is not a comment and stays as it
//! is. Its value is `<id>` or `<id>|<anything>` (the real deploy script's
//! `<!-- BUILD_ID:$BUILD_ID|SHA:$SPEC_SHA -->`): the id is what precedes the
//! first `|`, trimmed.
//!
//! Comparisons of bytes use [`normalise`], which cuts every comment out
//! entirely, so a file hashes the same ([`content_hash`]) whatever BUILD_ID
//! it carries and whether or not one was inserted: for any bytes `b` and
//! id `x`, `normalise(stamp(b, x, _)) == normalise(b)`.

use std::borrow::Cow;
use std::io;
use std::path::{Component, Path, PathBuf};

use memchr::memmem;
use sha2::{Digest, Sha256};

const OPEN: &[u8] = b"<!--";
const KEY: &[u8] = b"BUILD_ID:";
const CLOSE: &[u8] = b"-->";

/// One BUILD_ID comment: byte offsets of the whole comment and of its value
/// (between `BUILD_ID:` and `-->`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Comment {
    start: usize,
    end: usize,
    value: (usize, usize),
}

/// Where the comment search stopped: the comments, and the start of a
/// `<!-- BUILD_ID:` that has no `-->` after it (then none follows either).
struct Scan {
    comments: Vec<Comment>,
    unclosed: Option<usize>,
}

fn scan(bytes: &[u8]) -> Scan {
    let mut comments = Vec::new();
    let mut i = 0;
    while let Some(p) = memmem::find(&bytes[i..], OPEN) {
        let start = i + p;
        let mut j = start + OPEN.len();
        while j < bytes.len() && bytes[j].is_ascii_whitespace() {
            j += 1;
        }
        if bytes[j..].starts_with(KEY) {
            let v0 = j + KEY.len();
            match memmem::find(&bytes[v0..], CLOSE) {
                Some(c) => {
                    let end = v0 + c + CLOSE.len();
                    comments.push(Comment {
                        start,
                        end,
                        value: (v0, v0 + c),
                    });
                    i = end;
                    continue;
                }
                None => {
                    return Scan {
                        comments,
                        unclosed: Some(start),
                    }
                }
            }
        }
        i = start + OPEN.len();
    }
    Scan {
        comments,
        unclosed: None,
    }
}

/// The id of a comment's value: what precedes the first `|`, trimmed.
fn id_of(value: &[u8]) -> String {
    let id = value.split(|&b| b == b'|').next().unwrap_or_default();
    String::from_utf8_lossy(id).trim().to_string()
}

/// The id of every BUILD_ID comment in `body`, in order.
pub fn ids(body: &[u8]) -> Vec<String> {
    scan(body)
        .comments
        .iter()
        .map(|c| id_of(&body[c.value.0..c.value.1]))
        .collect()
}

/// `bytes` with every BUILD_ID comment cut out; nothing else changes.
pub fn normalise(bytes: &[u8]) -> Cow<'_, [u8]> {
    let comments = scan(bytes).comments;
    if comments.is_empty() {
        return Cow::Borrowed(bytes);
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut last = 0;
    for c in comments {
        out.extend_from_slice(&bytes[last..c.start]);
        last = c.end;
    }
    out.extend_from_slice(&bytes[last..]);
    Cow::Owned(out)
}

/// Lowercase hex SHA-256 of [`normalise`]d bytes: what manifests, rollback
/// checks, live verification and drift compare, so a file and the page
/// production serves compare equal whatever BUILD_ID either carries.
pub fn content_hash(bytes: &[u8]) -> String {
    let mut h = Sha256::new();
    let mut last = 0;
    for c in scan(bytes).comments {
        h.update(&bytes[last..c.start]);
        last = c.end;
    }
    h.update(&bytes[last..]);
    hex::encode(h.finalize())
}

/// Whether `id` can stand in a comment: not empty, and no `|`, `-->`,
/// `<!--` or line break that would change where the comment or its id ends.
pub fn valid_id(id: &str) -> bool {
    !id.trim().is_empty()
        && id.trim() == id
        && !id.contains(['|', '\n', '\r'])
        && !id.contains("-->")
        && !id.contains("<!--")
}

/// `bytes` stamped with `id`: every BUILD_ID comment becomes
/// `<!-- BUILD_ID:<id> -->` (keeping a `|<anything>` it had); with none and
/// `insert`, one is inserted before the last `</body>` (else at the end),
/// never after an unclosed `<!-- BUILD_ID:` so that it cannot close it.
/// Without comments and without `insert`, `bytes` are returned as they are.
pub fn stamp<'a>(bytes: &'a [u8], id: &str, insert: bool) -> Cow<'a, [u8]> {
    debug_assert!(valid_id(id), "not a BUILD_ID: {id:?}");
    let Scan { comments, unclosed } = scan(bytes);
    if comments.is_empty() {
        if !insert {
            return Cow::Borrowed(bytes);
        }
        let body_end = memmem::rfind(bytes, b"</body>").unwrap_or(bytes.len());
        let at = unclosed.map_or(body_end, |u| u.min(body_end));
        let mut out = Vec::with_capacity(bytes.len() + id.len() + 20);
        out.extend_from_slice(&bytes[..at]);
        out.extend_from_slice(format!("<!-- BUILD_ID:{id} -->").as_bytes());
        out.extend_from_slice(&bytes[at..]);
        return Cow::Owned(out);
    }
    let mut out = Vec::with_capacity(bytes.len() + comments.len() * id.len());
    let mut last = 0;
    for c in comments {
        out.extend_from_slice(&bytes[last..c.start]);
        let value = &bytes[c.value.0..c.value.1];
        let rest = value
            .iter()
            .position(|&b| b == b'|')
            .map_or(&[][..], |p| value[p..].trim_ascii_end());
        out.extend_from_slice(b"<!-- BUILD_ID:");
        out.extend_from_slice(id.as_bytes());
        out.extend_from_slice(rest);
        out.extend_from_slice(b" -->");
        last = c.end;
    }
    out.extend_from_slice(&bytes[last..]);
    Cow::Owned(out)
}

/// Stamps `id` into the files of `bundle` that `files` names (`[live]
/// stamp`, paths relative to the bundle; `index.html` is its top page):
/// an existing comment is replaced, a file without one gets one inserted.
/// No other file is touched. A named file that does not exist, or is not a
/// regular file, is skipped; a name leaving the bundle (`..`, absolute) is
/// an error. Returns the files changed.
pub fn stamp_files(bundle: &Path, files: &[String], id: &str) -> io::Result<Vec<PathBuf>> {
    if !valid_id(id) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("`{id}` cannot be stamped as a BUILD_ID"),
        ));
    }
    let mut changed = Vec::new();
    for name in files {
        let rel = Path::new(name);
        if name.is_empty()
            || !rel
                .components()
                .all(|c| matches!(c, Component::Normal(_) | Component::CurDir))
        {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("[live] stamp names `{name}`, which is not a path inside the bundle"),
            ));
        }
        let path = bundle.join(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_file() => {}
            Ok(_) => continue,
            Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(e),
        }
        let bytes = std::fs::read(&path)?;
        if let Cow::Owned(out) = stamp(&bytes, id, true) {
            if out != bytes {
                std::fs::write(&path, out)?;
                changed.push(path);
            }
        }
    }
    Ok(changed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn ids_accept_the_real_scripts_form() {
        assert_eq!(
            ids(b"x <!-- BUILD_ID:abc -->\n<!--BUILD_ID: def-->"),
            vec!["abc", "def"]
        );
        assert_eq!(
            ids(b"<!-- BUILD_ID:c3f-20251114T120000Z|SHA:9a8b7c -->"),
            vec!["c3f-20251114T120000Z"]
        );
        assert_eq!(ids(b"<!-- BUILD_ID: a | b | c -->"), vec!["a"]);
        // A newline inside is part of the comment, as in HTML.
        assert_eq!(ids(b"<!-- BUILD_ID:a\n|SHA:x -->"), vec!["a"]);
        assert!(ids(b"<!-- BUILD: x -->").is_empty());
        assert!(ids(b"<!-- BUILD_ID:never closed").is_empty());
    }

    #[test]
    fn normalise_cuts_comments_out_and_nothing_else() {
        assert_eq!(
            normalise(b"a<!--BUILD_ID:x-->b<!--  BUILD_ID: y|SHA:1 -->c").as_ref(),
            b"abc"
        );
        let other = b"<!-- build 5 --><!-- BUILD_ID:x";
        assert_eq!(normalise(other).as_ref(), other);
        let a = b"<p>x</p>\n  <!-- BUILD_ID:abc1234-20251114T120000Z -->\n</body>\n";
        let b = b"<p>x</p>\n  <!-- BUILD_ID:dev|SHA:ff -->\n</body>\n";
        let c = b"<p>y</p>\n  <!-- BUILD_ID:dev -->\n</body>\n";
        assert_eq!(content_hash(a), content_hash(b));
        assert_ne!(content_hash(a), content_hash(c));
        assert_eq!(
            content_hash(b""),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }

    #[test]
    fn stamp_replaces_keeps_the_rest_and_inserts_only_when_asked() {
        let page = b"<body>\n<!-- BUILD_ID:dev|SHA:abc -->\n</body>\n";
        assert_eq!(
            stamp(page, "n1", false).as_ref(),
            b"<body>\n<!-- BUILD_ID:n1|SHA:abc -->\n</body>\n"
        );
        let bare = b"<body>\n<p>x</p>\n</body>\n";
        assert_eq!(stamp(bare, "n1", false).as_ref(), bare);
        assert_eq!(
            stamp(bare, "n1", true).as_ref(),
            b"<body>\n<p>x</p>\n<!-- BUILD_ID:n1 --></body>\n"
        );
        // Never after an unclosed opener, which it would close.
        let open = b"<p><!-- BUILD_ID:oops</p>";
        let s = stamp(open, "n1", true);
        assert_eq!(ids(&s), vec!["n1"]);
        assert_eq!(normalise(&s).as_ref(), open);
    }

    #[test]
    fn stamp_files_touches_only_the_named_files() {
        let dir = tempfile::tempdir().unwrap();
        let b = dir.path();
        std::fs::create_dir_all(b.join("nested")).unwrap();
        std::fs::write(b.join("index.html"), "<body></body>").unwrap();
        std::fs::write(b.join("nested/index.html"), "<body></body>").unwrap();
        let changed = stamp_files(b, &["index.html".into(), "missing.html".into()], "x1").unwrap();
        assert_eq!(changed, vec![b.join("index.html")]);
        assert_eq!(
            std::fs::read_to_string(b.join("index.html")).unwrap(),
            "<body><!-- BUILD_ID:x1 --></body>"
        );
        assert_eq!(
            std::fs::read_to_string(b.join("nested/index.html")).unwrap(),
            "<body></body>"
        );
        assert!(stamp_files(b, &["../x.html".into()], "x1").is_err());
        assert!(stamp_files(b, &["/etc/passwd".into()], "x1").is_err());
    }

    fn id() -> impl Strategy<Value = String> {
        "[0-9a-f]{7}-[0-9]{8}T[0-9]{6}Z|[A-Za-z0-9._:-]{1,20}"
            .prop_filter("a valid id", |s| valid_id(s))
    }

    /// Bytes rich in the comment's own pieces, so that openers, keys,
    /// closers, bars and `</body>` meet in every arrangement.
    fn html_ish() -> impl Strategy<Value = Vec<u8>> {
        let piece = prop_oneof![
            Just(b"<!--".to_vec()),
            Just(b"-->".to_vec()),
            Just(b"BUILD_ID:".to_vec()),
            Just(b"<!-- BUILD_ID:".to_vec()),
            Just(b"|SHA:".to_vec()),
            Just(b"</body>".to_vec()),
            Just(b" ".to_vec()),
            Just(b"\n".to_vec()),
            Just(b"-".to_vec()),
            proptest::collection::vec(any::<u8>(), 0..8),
        ];
        proptest::collection::vec(piece, 0..24).prop_map(|v| v.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

        /// stamp → normalise → hash round-trips for any bytes: stamping
        /// (replacing or inserting) never changes what comparisons see, and
        /// the stamped bytes carry the id in every comment.
        #[test]
        fn stamp_normalise_hash_round_trips(
            bytes in prop_oneof![html_ish(), proptest::collection::vec(any::<u8>(), 0..256)],
            a in id(),
            b in id(),
            insert in any::<bool>(),
        ) {
            let sa = stamp(&bytes, &a, insert).into_owned();
            prop_assert_eq!(normalise(&sa).into_owned(), normalise(&bytes).into_owned());
            prop_assert_eq!(content_hash(&sa), content_hash(&bytes));
            prop_assert_eq!(content_hash(&sa), hex::encode(Sha256::digest(normalise(&bytes))));
            let n = scan(&bytes).comments.len();
            let got = ids(&sa);
            if n > 0 || insert {
                prop_assert_eq!(got.len(), n.max(1));
                prop_assert!(got.iter().all(|g| *g == a));
            } else {
                prop_assert_eq!(&sa, &bytes);
            }
            // Restamping moves every id and still compares equal.
            let sb = stamp(&sa, &b, insert).into_owned();
            prop_assert!(ids(&sb).iter().all(|g| *g == b));
            prop_assert_eq!(content_hash(&sb), content_hash(&bytes));
        }
    }
}

//! What each fuzz target checks, one function per target, each taking the
//! raw input bytes (as lossy UTF-8 where the parser takes `&str`). A check
//! panics exactly when the input shows a bug: a parser that panics, an error
//! that does not name its file and line, or a writer whose output does not
//! read back as what was written.
//!
//! The fuzz targets in `fuzz_targets/` call these; the root crate's
//! `tests/fuzz_regressions.rs` includes this file (`#[path]`) and runs every
//! seed and every kept crash through the same functions on stable.
use std::borrow::Cow;

use guardrail::pipeline::audit::{self, Record};
use guardrail::pipeline::backup;
use guardrail::pipeline::baseline;
use guardrail::pipeline::config::Config;
use guardrail::pipeline::handoff::{HandoffManifest, LegacyManifest};

fn text(data: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(data)
}

/// `guardrail.toml`: never panics; an error is one line starting with
/// `guardrail.toml line `.
pub fn config(data: &[u8]) {
    let text = text(data);
    if let Err(e) = Config::from_str(&text, "guardrail.toml") {
        let msg = e.to_string();
        assert!(
            msg.starts_with("guardrail.toml line "),
            "config error does not name file and line: {msg:?}"
        );
        assert_eq!(
            msg.lines().count(),
            1,
            "config error is not one line: {msg:?}"
        );
    }
}

/// The baseline `.env`: never panics; a parsed baseline's metrics can be
/// asked for, and `render` reads back as the same baseline (lines included).
pub fn baseline(data: &[u8]) {
    let Ok(b) = baseline::parse_bytes(data, "b.env") else {
        return;
    };
    let _ = b.metrics();
    let rendered = b.render();
    let again = baseline::parse(&rendered, "b.env");
    assert_eq!(
        again.as_ref(),
        Ok(&b),
        "rendered baseline does not read back: {rendered:?}"
    );
}

/// `handoff.toml`: never panics; `render` reads back as the same manifest.
pub fn handoff_manifest(data: &[u8]) {
    let text = text(data);
    let Ok(m) = HandoffManifest::parse(&text, "handoff.toml") else {
        return;
    };
    let rendered = m.render();
    match HandoffManifest::parse(&rendered, "handoff.toml") {
        Ok(again) => assert_eq!(again, m, "rendered manifest differs: {rendered:?}"),
        Err(e) => panic!("rendered manifest does not read back ({e}): {rendered:?}"),
    }
}

/// Legacy JSON manifests: never panic; a parsed one written back as JSON
/// reads back the same.
pub fn legacy_manifest(data: &[u8]) {
    let text = text(data);
    let Ok(m) = LegacyManifest::parse(&text, "h.json") else {
        return;
    };
    let json = serde_json::to_string(&m).expect("a legacy manifest serialises");
    match LegacyManifest::parse(&json, "h.json") {
        Ok(again) => assert_eq!(again, m, "re-written manifest differs: {json:?}"),
        Err(e) => panic!("re-written manifest does not read back ({e}): {json:?}"),
    }
}

/// Audit lines: never panic; a parsed record's canonical line parses back
/// as the same record, and both hash checks agree on it.
pub fn audit_line(data: &[u8]) {
    let text = text(data);
    let _ = audit::entry_hash_ok(&text);
    let Ok(rec) = Record::parse(&text) else {
        return;
    };
    let line = rec.to_line();
    match Record::parse(&line) {
        Ok(again) => assert_eq!(again, rec, "canonical line differs: {line:?}"),
        Err(e) => panic!("canonical line does not parse ({e}): {line:?}"),
    }
    assert_eq!(
        audit::entry_hash_ok(&line),
        rec.hash_ok(),
        "the two hash checks disagree on {line:?}"
    );
}

/// `MANIFEST.sha256`: never panics; `render_manifest` reads back as the
/// same entries (sorted by path, as the writer sorts them).
pub fn backup_manifest(data: &[u8]) {
    let text = text(data);
    let Ok(mut entries) = backup::parse_manifest(&text) else {
        return;
    };
    let rendered = backup::render_manifest(&entries);
    entries.sort();
    match backup::parse_manifest(&rendered) {
        Ok(again) => assert_eq!(again, entries, "rendered manifest differs: {rendered:?}"),
        Err(e) => panic!("rendered manifest does not read back ({e}): {rendered:?}"),
    }
}

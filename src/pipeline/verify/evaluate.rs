//! One answer against one check: the verdict (pass, warn, fail, retry)
//! for a status, redirect, body, BUILD_ID or manifest hash the site answered.
use super::*;

/// What an attempt saw.
pub(super) struct Answer {
    pub(super) status: reqwest::StatusCode,
    /// The URL that gave this answer (after same-host redirects).
    pub(super) url: reqwest::Url,
    pub(super) location: Option<String>,
    pub(super) body: Vec<u8>,
}

pub(super) enum Verdict {
    Ok(String),
    Warn(String),
    Fail(String),
}

pub(super) fn status_text(s: reqwest::StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("HTTP {} {r}", s.as_u16()),
        None => format!("HTTP {}", s.as_u16()),
    }
}

/// Why a redirect answer was not followed.
pub(super) fn redirect_failure(a: &Answer) -> String {
    let Some(loc) = a.location.as_deref() else {
        return format!("{} without a Location", status_text(a.status));
    };
    match a.url.join(loc) {
        Ok(target) => {
            let host = target.host_str().unwrap_or("?");
            if target.host_str() != a.url.host_str() {
                format!(
                    "redirected to another host: {host} ({} to {target}); only same-host redirects are followed",
                    a.status.as_u16()
                )
            } else if a.url.scheme() == "https" && target.scheme() == "http" {
                format!("redirected from https down to http ({target}); not followed")
            } else if !same_origin_or_upgrade(&a.url, &target) {
                format!(
                    "redirected to another port: {target}; only same-host redirects are followed"
                )
            } else {
                format!("too many redirects (last to {target})")
            }
        }
        Err(e) => format!("redirected to an invalid Location `{loc}`: {e}"),
    }
}

pub(super) fn evaluate(check: &LiveCheck, expect: &Expect, a: &Answer) -> Verdict {
    if a.status.is_redirection() && check.status != Some(a.status.as_u16()) {
        return Verdict::Fail(redirect_failure(a));
    }
    match check.status {
        Some(want) if a.status.as_u16() != want => {
            return Verdict::Fail(format!("{}, expected {want}", status_text(a.status)));
        }
        None if !a.status.is_success() => {
            return Verdict::Fail(format!("{}, expected 2xx", status_text(a.status)));
        }
        _ => {}
    }
    let mut fails: Vec<String> = Vec::new();
    let mut warns: Vec<String> = Vec::new();
    let mut details: Vec<String> = vec![format!("HTTP {}", a.status.as_u16())];

    let missing: Vec<String> = check
        .contains
        .iter()
        .filter(|s| !s.is_empty() && memchr::memmem::find(&a.body, s.as_bytes()).is_none())
        .map(|s| format!("`{s}`"))
        .collect();
    if !missing.is_empty() {
        fails.push(format!("{} not found in the page", missing.join(", ")));
    }

    if let Some(name) = &check.line_count {
        let n = baseline::line_count(&a.body);
        let metric = expect
            .baseline
            .as_ref()
            .and_then(|m| m.iter().find(|m| &m.name == name));
        match metric {
            None => warns.push(format!(
                "{n} lines; no baseline metric {name} known, so not compared"
            )),
            Some(m) if m.within(n) => {
                details.push(format!("{n} lines ({} ± {})", m.expected, m.tolerance))
            }
            Some(m) => fails.push(format!(
                "{n} lines, expected {} ± {} ({name})",
                m.expected, m.tolerance
            )),
        }
    }

    if check.build_id {
        let got = build_ids(&a.body);
        match (&expect.build_id, got.first()) {
            (_, None) => fails.push(format!(
                "no <!-- BUILD_ID:… --> in the page{}",
                expect
                    .build_id
                    .as_deref()
                    .map(|e| format!(", expected {e}"))
                    .unwrap_or_default()
            )),
            (None, Some(g)) => warns.push(format!(
                "BUILD_ID {g}; nothing expected (no live record), so not compared"
            )),
            (Some(want), Some(_)) => match got.iter().find(|g| *g != want) {
                Some(g) => fails.push(format!("BUILD_ID expected {want}, got {g}")),
                None => details.push(format!("BUILD_ID {want}")),
            },
        }
    }

    if !fails.is_empty() {
        Verdict::Fail(fails.join("; "))
    } else if !warns.is_empty() {
        details.extend(warns);
        Verdict::Warn(details.join(", "))
    } else {
        Verdict::Ok(details.join(", "))
    }
}

//! Live verification (SPEC §3 `[live]`, §6 `verify`, protocol §4.4 and §5.3):
//! is production serving what was deployed?
//!
//! Every `[[live.check]]` is a GET of `<url><path>`, run **concurrently**
//! with the others, retried with exponential back-off ([`VerifyOptions`]:
//! first wait `first_backoff`, doubling, at most [`MAX_BACKOFF`]) until it
//! passes or its `deadline` (counted from the start of the run) has passed:
//! a CDN takes a while to serve a new build everywhere. Every attempt is
//! bounded by `request_timeout`; an attempt that starts before the deadline
//! may end up to `request_timeout` after it.
//!
//! What one answer must satisfy, all of:
//!
//! - `status = N`: the HTTP status is N. Without `status`, any 2xx. A wrong
//!   status fails the attempt without looking at the body.
//! - `contains = [..]`: each string occurs in the body (bytes, case-sensitive).
//! - `line_count = "NAME"`: the body's newline count (`wc -l`) lies within
//!   the baseline metric NAME's `expected ± tolerance`. ⚠️ (a pass) when no
//!   such metric is known.
//! - `build_id = true`: every `<!-- BUILD_ID:<value> -->` in the body has the
//!   expected value, and there is one. ⚠️ when nothing is expected.
//!
//! It fails closed: an error status, no answer within `request_timeout`, a
//! refused connection, a body over [`BODY_CAP`], wrong content, a wrong
//! BUILD_ID all fail the attempt. Redirects are followed only to the **same
//! host** (same port, or http → https on the default ports), at most 10
//! hops; a redirect to another host, or from https down to http, is not
//! followed and fails the attempt, naming where it pointed. Every failure is
//! retried until the deadline: a half-propagated deploy looks exactly like
//! wrong content.
//!
//! With [`Expect::manifest`], the synthetic check [`MANIFEST_CHECK`] GETs
//! every file of the deployed bundle and compares [`content_hash`] of what is
//! served with the manifest, listing the files that differ.
//!
//! The project's verify script, when it exists in the checkout, runs beside
//! the HTTP checks (SPEC §5 environment, `GUARDRAIL_ACTION=verify`) and its
//! exit code is the check [`SCRIPT_CHECK`]; when it does not exist it is
//! skipped, which is not a failure.
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde::Serialize;
use serde_json::{json, Map, Value};

use super::audit::NewEntry;
use super::baseline::{self, Metric};
use super::config::{self, Config, Dur, Live, LiveCheck};
use super::jobs::{Job, JobError};
use super::record::{record, RecordError};
use super::repo::Repo;
use super::runner::{self, Answers, RunSpec};
use super::scripts::{self, ScriptContext};
use super::state::{LiveHealth, StateError};

mod evaluate;
mod http;
mod recording;
mod retries;
mod script;

use evaluate::*;
pub use http::*;
pub use recording::*;
pub use retries::*;
pub use script::*;

/// The longest wait between two attempts of one check.
pub const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// A body larger than this fails the attempt (memory stays bounded).
pub const BODY_CAP: usize = 16 << 20;
/// The most redirects followed (same host only).
pub const MAX_REDIRECTS: usize = 10;
/// How many manifest files are fetched at once.
const MANIFEST_PARALLEL: usize = 16;
/// The name of the synthetic manifest check.
pub const MANIFEST_CHECK: &str = "serves the tagged build";
/// The name of the check that is the verify script's exit code.
pub const SCRIPT_CHECK: &str = "verify script";

/// What production should serve.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expect {
    /// The BUILD_ID that was deployed (`build_id = true` checks).
    pub build_id: Option<String>,
    /// The deployed tree's baseline metrics (`line_count` checks).
    pub baseline: Option<Vec<Metric>>,
    /// Path relative to the bundle root (`index.html`, `js/app.js`) →
    /// [`content_hash`] (sha256 hex) production must serve.
    pub manifest: Option<BTreeMap<String, String>>,
}

/// Where one check stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CheckState {
    Pending,
    /// Attempting, or waiting to retry (`last_error` says why).
    Running,
    Ok,
    /// Passed, with something not checked (`detail` says what).
    Warn,
    Fail,
}

impl CheckState {
    /// Ok or Warn.
    pub fn passed(self) -> bool {
        matches!(self, CheckState::Ok | CheckState::Warn)
    }
    /// Ok, Warn or Fail: it will not change any more.
    pub fn is_final(self) -> bool {
        matches!(self, CheckState::Ok | CheckState::Warn | CheckState::Fail)
    }
    pub fn symbol(self) -> &'static str {
        match self {
            CheckState::Pending => "…",
            CheckState::Running => "⏳",
            CheckState::Ok => "✅",
            CheckState::Warn => "⚠️",
            CheckState::Fail => "❌",
        }
    }
}

/// One check as it stands; every change is reported to `on_update`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckStatus {
    pub name: String,
    /// The URL fetched (for the script check: the script's path).
    pub url: String,
    pub state: CheckState,
    pub attempts: u32,
    /// Duration of the last attempt.
    pub latency_ms: Option<u64>,
    /// Why the last attempt failed (kept when a later one passes: `None`
    /// means no attempt failed).
    pub last_error: Option<String>,
    /// What the passing answer showed, or why it is only a ⚠️.
    pub detail: Option<String>,
}

impl CheckStatus {
    fn pending(name: &str, url: String) -> CheckStatus {
        CheckStatus {
            name: name.to_string(),
            url,
            state: CheckState::Pending,
            attempts: 0,
            latency_ms: None,
            last_error: None,
            detail: None,
        }
    }
}

/// Timing of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct VerifyOptions {
    /// How long each check is retried, from the start of the run.
    pub deadline: Duration,
    /// Bound of one attempt (connect, answer and body).
    pub request_timeout: Duration,
    /// First wait between attempts; doubles up to [`MAX_BACKOFF`].
    pub first_backoff: Duration,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            deadline: Duration::from_secs(60),
            request_timeout: Duration::from_secs(10),
            first_backoff: Duration::from_millis(250),
        }
    }
}

impl VerifyOptions {
    /// `[live] deadline` and `request_timeout`; a zero value keeps the default.
    pub fn from_config(live: &Live) -> VerifyOptions {
        let d = VerifyOptions::default();
        VerifyOptions {
            deadline: live.deadline.nonzero().unwrap_or(d.deadline),
            request_timeout: live.request_timeout.nonzero().unwrap_or(d.request_timeout),
            first_backoff: d.first_backoff,
        }
    }
}

/// How the verify script went.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScriptResult {
    /// The script as configured (`scripts/verify_live_deployment.sh`).
    pub script: String,
    /// It does not exist in the checkout: not run, not a failure.
    pub skipped: bool,
    pub passed: bool,
    pub exit_code: Option<i32>,
    pub duration_ms: u64,
    /// `exit 0 in 1.2s`, `timed out …`, why it could not start, or
    /// `not in the repository`.
    pub summary: String,
    /// The full output, when it ran.
    pub log: Option<String>,
}

/// The result of a run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    /// The base URL checked.
    pub url: String,
    /// In configuration order, then [`MANIFEST_CHECK`], then [`SCRIPT_CHECK`].
    pub checks: Vec<CheckStatus>,
    /// No check failed (⚠️ counts as a pass).
    pub ok: bool,
    pub duration_ms: u64,
    pub script: Option<ScriptResult>,
    /// The audit chain entry that recorded this run ([`verify_and_record`]).
    pub audit_seq: Option<u64>,
}

impl VerifyReport {
    /// `(name, state, detail or last error)` per check, as the release and
    /// rollback logs list them.
    pub fn log_lines(&self) -> Vec<(String, String, Option<String>)> {
        self.checks
            .iter()
            .map(|c| {
                let st = serde_json::to_value(c.state)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default();
                (
                    c.name.clone(),
                    st,
                    c.detail.clone().or_else(|| c.last_error.clone()),
                )
            })
            .collect()
    }

    pub fn failures(&self) -> impl Iterator<Item = &CheckStatus> {
        self.checks.iter().filter(|c| c.state == CheckState::Fail)
    }
}

// ---------------------------------------------------------------------------
// The BUILD_ID comment: one implementation, in [`super::buildid`].

/// The id of every BUILD_ID comment in `body` (see [`super::buildid::ids`]).
pub use super::buildid::ids as build_ids;

/// The content hash of a deployed file, BUILD_ID comments aside (see
/// [`super::buildid::content_hash`]). A backup manifest meant for
/// [`Expect::manifest`] hashes with this same rule.
pub use super::buildid::content_hash;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_join_with_one_slash() {
        let u = |b, p| join_url(b, p).unwrap().to_string();
        assert_eq!(u("https://e.org", "/"), "https://e.org/");
        assert_eq!(u("https://e.org/", "/a"), "https://e.org/a");
        assert_eq!(
            u("https://e.org/site", "index.html"),
            "https://e.org/site/index.html"
        );
        assert_eq!(u("http://127.0.0.1:8080", ""), "http://127.0.0.1:8080/");
        assert!(join_url("ftp://e.org", "/").is_err());
        assert!(join_url("not a url", "/").is_err());
    }

    #[test]
    fn redirects_are_same_host_only() {
        let p = |s: &str| reqwest::Url::parse(s).unwrap();
        assert!(same_origin_or_upgrade(&p("https://a/x"), &p("https://a/y")));
        assert!(same_origin_or_upgrade(&p("http://a/"), &p("https://a/")));
        assert!(!same_origin_or_upgrade(&p("https://a/"), &p("http://a/")));
        assert!(!same_origin_or_upgrade(&p("https://a/"), &p("https://b/")));
        assert!(!same_origin_or_upgrade(
            &p("http://a:1/"),
            &p("http://a:2/")
        ));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let mut b = Backoff::new(Duration::from_millis(250));
        let mut seen = vec![b.next];
        for _ in 0..6 {
            b.next = (b.next * 2).min(MAX_BACKOFF);
            seen.push(b.next);
        }
        assert_eq!(seen[1], Duration::from_millis(500));
        assert_eq!(*seen.last().unwrap(), MAX_BACKOFF);
    }
}

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

// ---------------------------------------------------------------------------
// One answer against one check

/// What an attempt saw.
struct Answer {
    status: reqwest::StatusCode,
    /// The URL that gave this answer (after same-host redirects).
    url: reqwest::Url,
    location: Option<String>,
    body: Vec<u8>,
}

enum Verdict {
    Ok(String),
    Warn(String),
    Fail(String),
}

fn status_text(s: reqwest::StatusCode) -> String {
    match s.canonical_reason() {
        Some(r) => format!("HTTP {} {r}", s.as_u16()),
        None => format!("HTTP {}", s.as_u16()),
    }
}

/// Why a redirect answer was not followed.
fn redirect_failure(a: &Answer) -> String {
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

fn evaluate(check: &LiveCheck, expect: &Expect, a: &Answer) -> Verdict {
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

// ---------------------------------------------------------------------------
// HTTP

fn same_origin_or_upgrade(from: &reqwest::Url, to: &reqwest::Url) -> bool {
    if from.host_str() != to.host_str() {
        return false;
    }
    match (from.scheme(), to.scheme()) {
        (a, b) if a == b => from.port_or_known_default() == to.port_or_known_default(),
        // http://h/ → https://h/ on the default ports: an upgrade.
        ("http", "https") => from.port().is_none() && to.port().is_none(),
        _ => false,
    }
}

fn client(opts: &VerifyOptions) -> Result<reqwest::Client, String> {
    let policy = reqwest::redirect::Policy::custom(|attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.stop();
        }
        let ok = match attempt.previous().last() {
            Some(prev) => same_origin_or_upgrade(prev, attempt.url()),
            None => true,
        };
        if ok {
            attempt.follow()
        } else {
            // Hand the redirect answer back; `evaluate` names the host.
            attempt.stop()
        }
    });
    reqwest::Client::builder()
        .redirect(policy)
        .connect_timeout(opts.request_timeout)
        .user_agent(concat!(
            "guardrail/",
            env!("CARGO_PKG_VERSION"),
            " (live verification)"
        ))
        .build()
        .map_err(|e| format!("could not set up the HTTP client: {}", error_chain(&e)))
}

/// The error with its causes, most specific last, without repeats.
fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        let s = err.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = err.source();
    }
    parts.join(": ")
}

fn describe(e: &reqwest::Error, url: &str) -> String {
    // The innermost cause says what happened ("Connection refused").
    let mut inner: &(dyn std::error::Error + 'static) = e;
    while let Some(s) = inner.source() {
        inner = s;
    }
    let cause = inner.to_string();
    if e.is_connect() {
        format!("could not connect to {url}: {cause}")
    } else if e.is_timeout() {
        format!("no answer from {url}: {cause}")
    } else if e.is_redirect() {
        format!("redirect failed: {cause}")
    } else {
        format!("request to {url} failed: {}", error_chain(e))
    }
}

async fn fetch(client: &reqwest::Client, url: &reqwest::Url) -> Result<Answer, String> {
    let mut resp = client
        .get(url.clone())
        .send()
        .await
        .map_err(|e| describe(&e, url.as_str()))?;
    let status = resp.status();
    let final_url = resp.url().clone();
    let location = resp
        .headers()
        .get(reqwest::header::LOCATION)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let mut body = Vec::new();
    loop {
        match resp.chunk().await {
            Ok(Some(chunk)) => {
                if body.len() + chunk.len() > BODY_CAP {
                    return Err(format!(
                        "the answer from {final_url} is larger than {} MiB",
                        BODY_CAP >> 20
                    ));
                }
                body.extend_from_slice(&chunk);
            }
            Ok(None) => break,
            Err(e) => {
                return Err(format!(
                    "reading the answer from {final_url} failed: {}",
                    error_chain(&e)
                ))
            }
        }
    }
    Ok(Answer {
        status,
        url: final_url,
        location,
        body,
    })
}

/// One bounded attempt.
async fn attempt(
    client: &reqwest::Client,
    url: &reqwest::Url,
    timeout: Duration,
) -> Result<Answer, String> {
    match tokio::time::timeout(timeout, fetch(client, url)).await {
        Ok(r) => r,
        Err(_) => Err(format!(
            "no answer from {url} within {} (request_timeout)",
            Dur(timeout)
        )),
    }
}

/// `base` + `path`, with exactly one `/` between them.
fn join_url(base: &str, path: &str) -> Result<reqwest::Url, String> {
    let base = base.trim().trim_end_matches('/');
    let path = path.trim();
    let full = if path.is_empty() {
        format!("{base}/")
    } else if path.starts_with('/') {
        format!("{base}{path}")
    } else {
        format!("{base}/{path}")
    };
    parse_url(&full)
}

/// An absolute http or https URL.
fn parse_url(s: &str) -> Result<reqwest::Url, String> {
    let u = reqwest::Url::parse(s).map_err(|e| format!("`{s}` is not a valid URL: {e}"))?;
    match u.scheme() {
        "http" | "https" if u.host_str().is_some() => Ok(u),
        _ => Err(format!("`{s}` is not an http or https URL")),
    }
}

/// One page as fetched by [`fetch_page`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    /// The URL that answered (after same-host redirects).
    pub url: String,
    pub status: u16,
    pub body: Vec<u8>,
}

/// One GET of `base` + `path`, bounded by `timeout`, with the same client
/// rules as the checks (same-host redirects only, [`BODY_CAP`]). No retry.
/// Runs its own small runtime on its own thread, so it may be called from
/// any thread. A non-2xx answer is an `Ok` page; the caller judges it.
pub fn fetch_page(base: &str, path: &str, timeout: Duration) -> Result<Page, String> {
    let url = join_url(base, path)?;
    let opts = VerifyOptions {
        request_timeout: timeout,
        ..VerifyOptions::default()
    };
    std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("could not start the HTTP runtime: {e}"))?;
            let client = client(&opts)?;
            let r = rt.block_on(attempt(&client, &url, timeout));
            rt.shutdown_background();
            let a = r?;
            if a.status.is_redirection() {
                return Err(redirect_failure(&a));
            }
            Ok(Page {
                url: a.url.to_string(),
                status: a.status.as_u16(),
                body: a.body,
            })
        })
        .join()
        .unwrap_or_else(|_| Err("the HTTP thread failed".into()))
    })
}

// ---------------------------------------------------------------------------
// Running checks concurrently

/// The checks' states and the callback, behind one lock: every change is
/// made and reported under it, so reports arrive in order.
struct Board<F> {
    inner: Mutex<(Vec<CheckStatus>, F)>,
}

impl<F: FnMut(&CheckStatus)> Board<F> {
    fn update(&self, i: usize, f: impl FnOnce(&mut CheckStatus)) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (checks, cb) = &mut *g;
        f(&mut checks[i]);
        cb(&checks[i]);
    }
}

struct Backoff {
    next: Duration,
}

impl Backoff {
    fn new(first: Duration) -> Backoff {
        Backoff {
            next: first.max(Duration::from_millis(10)),
        }
    }
    /// Sleeps the next wait (never past `deadline`); false once the deadline
    /// has passed.
    async fn wait(&mut self, deadline: Instant) -> bool {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        tokio::time::sleep(self.next.min(deadline - now)).await;
        self.next = (self.next * 2).min(MAX_BACKOFF);
        true
    }
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

#[allow(clippy::too_many_arguments)]
async fn run_check<F: FnMut(&CheckStatus)>(
    client: &reqwest::Client,
    i: usize,
    url: &reqwest::Url,
    check: &LiveCheck,
    expect: &Expect,
    opts: &VerifyOptions,
    deadline: Instant,
    board: &Board<F>,
) {
    let mut backoff = Backoff::new(opts.first_backoff);
    loop {
        board.update(i, |s| {
            s.state = CheckState::Running;
            s.attempts += 1;
        });
        let t0 = Instant::now();
        let verdict = match attempt(client, url, opts.request_timeout).await {
            Ok(answer) => evaluate(check, expect, &answer),
            Err(e) => Verdict::Fail(e),
        };
        let latency = Some(ms(t0.elapsed()));
        let (state, text) = match verdict {
            Verdict::Ok(d) => (CheckState::Ok, d),
            Verdict::Warn(d) => (CheckState::Warn, d),
            Verdict::Fail(e) => {
                let last = Instant::now() >= deadline;
                board.update(i, |s| {
                    s.latency_ms = latency;
                    s.last_error = Some(e);
                    if last {
                        s.state = CheckState::Fail;
                    }
                });
                if last || !backoff.wait(deadline).await {
                    if !last {
                        board.update(i, |s| s.state = CheckState::Fail);
                    }
                    return;
                }
                continue;
            }
        };
        board.update(i, |s| {
            s.state = state;
            s.latency_ms = latency;
            s.detail = Some(text);
        });
        return;
    }
}

/// Why one manifest file does not match, or `None` when it does.
async fn manifest_file(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    want: &str,
    timeout: Duration,
) -> Option<String> {
    let url = match join_url(base, path) {
        Ok(u) => u,
        Err(e) => return Some(e),
    };
    match attempt(client, &url, timeout).await {
        Err(e) => Some(e),
        Ok(a) if a.status.is_redirection() => Some(redirect_failure(&a)),
        Ok(a) if !a.status.is_success() => Some(status_text(a.status)),
        Ok(a) => {
            let got = content_hash(&a.body);
            if got.eq_ignore_ascii_case(want.trim()) {
                None
            } else {
                Some(format!(
                    "content differs (sha256 {}…, expected {}…)",
                    &got[..12],
                    &want.trim()[..want.trim().len().min(12)]
                ))
            }
        }
    }
}

#[allow(clippy::too_many_arguments)]
async fn run_manifest<F: FnMut(&CheckStatus)>(
    client: &reqwest::Client,
    i: usize,
    base: &str,
    manifest: &BTreeMap<String, String>,
    opts: &VerifyOptions,
    deadline: Instant,
    board: &Board<F>,
) {
    let mut backoff = Backoff::new(opts.first_backoff);
    // Files not yet seen to match; a file that matched is not fetched again.
    let mut left: Vec<(&String, &String)> = manifest.iter().collect();
    loop {
        board.update(i, |s| {
            s.state = CheckState::Running;
            s.attempts += 1;
        });
        let t0 = Instant::now();
        let results: Vec<(&String, &String, Option<String>)> =
            futures::stream::iter(left.iter().map(|(p, h)| async move {
                let why = manifest_file(client, base, p, h, opts.request_timeout).await;
                (*p, *h, why)
            }))
            .buffered(MANIFEST_PARALLEL)
            .collect()
            .await;
        let latency = Some(ms(t0.elapsed()));
        let differ: Vec<(&String, String)> = results
            .iter()
            .filter_map(|(p, _, why)| why.clone().map(|w| (*p, w)))
            .collect();
        left.retain(|(p, _)| differ.iter().any(|(d, _)| d == p));
        if differ.is_empty() {
            board.update(i, |s| {
                s.state = CheckState::Ok;
                s.latency_ms = latency;
                s.detail = Some(format!(
                    "{} file{} as tagged",
                    manifest.len(),
                    if manifest.len() == 1 { "" } else { "s" }
                ));
            });
            return;
        }
        let names: Vec<&str> = differ.iter().map(|(p, _)| p.as_str()).collect();
        let error = format!(
            "{} of {} files differ: {}; {}",
            differ.len(),
            manifest.len(),
            names.join(", "),
            differ
                .iter()
                .map(|(p, w)| format!("{p}: {w}"))
                .collect::<Vec<_>>()
                .join("; ")
        );
        let last = Instant::now() >= deadline;
        board.update(i, |s| {
            s.latency_ms = latency;
            s.last_error = Some(error);
            if last {
                s.state = CheckState::Fail;
            }
        });
        if last || !backoff.wait(deadline).await {
            if !last {
                board.update(i, |s| s.state = CheckState::Fail);
            }
            return;
        }
    }
}

/// The verify script of a checkout, ready to run (or known to be absent).
#[derive(Debug, Clone)]
pub struct VerifyScript {
    /// As configured, relative to the checkout root.
    pub script: String,
    /// `None`: the script does not exist there (skipped).
    pub spec: Option<RunSpec>,
}

/// The configured verify script in `checkout_root` with the SPEC §5
/// environment of `ctx` (whose `action` should be `verify`), its full output
/// going to `log_path`. For deploy and rollback as well as `guardrail verify`.
pub fn prepare_script(
    cfg: &Config,
    checkout_root: &Path,
    ctx: &ScriptContext,
    answers: Answers,
    log_path: PathBuf,
) -> VerifyScript {
    let rel = cfg.scripts.verify.trim();
    let exists = script_exists(cfg, checkout_root);
    VerifyScript {
        script: rel.to_string(),
        spec: exists.then(|| scripts::spec(cfg, rel, checkout_root, ctx, answers, log_path)),
    }
}

/// Whether the configured verify script exists in `checkout_root` (a
/// dangling symlink counts: running it then fails, which is a ❌).
pub fn script_exists(cfg: &Config, checkout_root: &Path) -> bool {
    let rel = cfg.scripts.verify.trim();
    !rel.is_empty()
        && config::resolve(checkout_root, rel)
            .symlink_metadata()
            .is_ok()
}

fn run_script<F: FnMut(&CheckStatus)>(
    i: usize,
    spec: RunSpec,
    script: &str,
    board: &Board<F>,
) -> ScriptResult {
    board.update(i, |s| {
        s.state = CheckState::Running;
        s.attempts = 1;
    });
    let log = spec.log_path.display().to_string();
    let t0 = Instant::now();
    let (result, error) = match runner::run(spec, |_| {}) {
        Ok(o) => {
            let passed = o.success();
            let summary = o.to_string();
            (
                ScriptResult {
                    script: script.to_string(),
                    skipped: false,
                    passed,
                    exit_code: o.exit_code,
                    duration_ms: ms(o.duration),
                    summary: summary.clone(),
                    log: Some(log.clone()),
                },
                (!passed).then(|| format!("{summary}; output in {log}")),
            )
        }
        Err(e) => (
            ScriptResult {
                script: script.to_string(),
                skipped: false,
                passed: false,
                exit_code: None,
                duration_ms: ms(t0.elapsed()),
                summary: e.to_string(),
                log: None,
            },
            Some(e.to_string()),
        ),
    };
    board.update(i, |s| {
        s.latency_ms = Some(result.duration_ms);
        match &error {
            None => {
                s.state = CheckState::Ok;
                s.detail = Some(result.summary.clone());
            }
            Some(e) => {
                s.state = CheckState::Fail;
                s.last_error = Some(e.clone());
            }
        }
    });
    result
}

/// Runs `checks` against `base_url` concurrently (see the module
/// documentation); `on_update` hears every change of every check, from a
/// worker thread. Never fails: what cannot be checked is a failed check.
///
/// Blocks until every check has its verdict (at most `deadline` plus one
/// `request_timeout`). It runs its own small runtime on its own threads, so
/// it may be called from any thread, a tokio worker included — though the
/// console should call it off its render loop.
pub fn run(
    base_url: &str,
    checks: &[LiveCheck],
    expect: &Expect,
    opts: VerifyOptions,
    on_update: impl FnMut(&CheckStatus) + Send,
) -> VerifyReport {
    run_with_script(base_url, checks, expect, opts, None, on_update)
}

/// [`run`], plus the verify script (when given and present) beside the HTTP
/// checks as the check [`SCRIPT_CHECK`].
pub fn run_with_script(
    base_url: &str,
    checks: &[LiveCheck],
    expect: &Expect,
    opts: VerifyOptions,
    script: Option<VerifyScript>,
    on_update: impl FnMut(&CheckStatus) + Send,
) -> VerifyReport {
    let start = Instant::now();
    let deadline = start + opts.deadline;
    let base = base_url.trim().trim_end_matches('/').to_string();

    let urls: Vec<Result<reqwest::Url, String>> =
        checks.iter().map(|c| join_url(&base, &c.path)).collect();
    let mut statuses: Vec<CheckStatus> = checks
        .iter()
        .zip(&urls)
        .map(|(c, u)| {
            let url = match u {
                Ok(u) => u.to_string(),
                Err(_) => format!("{base}{}", c.path),
            };
            CheckStatus::pending(&c.name, url)
        })
        .collect();
    let manifest_index = expect.manifest.as_ref().map(|_| {
        statuses.push(CheckStatus::pending(MANIFEST_CHECK, format!("{base}/")));
        statuses.len() - 1
    });
    let script_index = match &script {
        Some(VerifyScript {
            spec: Some(_),
            script,
        }) => {
            statuses.push(CheckStatus::pending(SCRIPT_CHECK, script.clone()));
            Some(statuses.len() - 1)
        }
        _ => None,
    };

    let board = Board {
        inner: Mutex::new((statuses, on_update)),
    };
    {
        let mut g = board.inner.lock().unwrap_or_else(|e| e.into_inner());
        let (s, cb) = &mut *g;
        s.iter().for_each(cb);
    }

    let mut script_result: Option<ScriptResult> = None;
    std::thread::scope(|scope| {
        let board = &board;
        let script_thread = match (script_index, script.clone()) {
            (
                Some(i),
                Some(VerifyScript {
                    spec: Some(spec),
                    script,
                }),
            ) => Some(scope.spawn(move || run_script(i, spec, &script, board))),
            _ => None,
        };
        let http = scope.spawn(|| {
            let rt = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => return Err(format!("could not start the HTTP runtime: {e}")),
            };
            let client = client(&opts)?;
            rt.block_on(async {
                let client = &client;
                let base = base.as_str();
                let mut tasks: Vec<futures::future::LocalBoxFuture<'_, ()>> = Vec::new();
                for (i, (check, url)) in checks.iter().zip(&urls).enumerate() {
                    match url {
                        Ok(url) => tasks.push(Box::pin(run_check(
                            client, i, url, check, expect, &opts, deadline, board,
                        ))),
                        Err(e) => board.update(i, |s| {
                            s.state = CheckState::Fail;
                            s.last_error = Some(e.clone());
                        }),
                    }
                }
                if let (Some(i), Some(m)) = (manifest_index, &expect.manifest) {
                    tasks.push(Box::pin(run_manifest(
                        client, i, base, m, &opts, deadline, board,
                    )));
                }
                futures::future::join_all(tasks).await;
            });
            Ok(())
        });
        if let Ok(Err(e)) = http.join() {
            // No HTTP at all: every HTTP check fails with the reason.
            let n = checks.len() + usize::from(manifest_index.is_some());
            for i in 0..n {
                board.update(i, |s| {
                    if !s.state.is_final() {
                        s.state = CheckState::Fail;
                        s.last_error = Some(e.clone());
                    }
                });
            }
        }
        if let Some(t) = script_thread {
            script_result = t.join().ok();
        }
    });

    let (checks, _) = board.inner.into_inner().unwrap_or_else(|e| e.into_inner());
    let script = match script {
        None => None,
        Some(VerifyScript { spec: None, script }) => Some(ScriptResult {
            script,
            skipped: true,
            passed: true,
            exit_code: None,
            duration_ms: 0,
            summary: "not in the repository, skipped".into(),
            log: None,
        }),
        Some(VerifyScript { spec: Some(_), .. }) => script_result,
    };
    VerifyReport {
        url: base,
        ok: checks.iter().all(|c| c.state.passed()),
        checks,
        duration_ms: ms(start.elapsed()),
        script,
        audit_seq: None,
    }
}

// ---------------------------------------------------------------------------
// Verify, record, update the live record

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Bad input (exit 2).
    #[error("[live] url is not set in guardrail.toml: set it, or pass --url")]
    NoUrl,
    /// Bad input (exit 2).
    #[error("the live URL is not usable: {0}")]
    BadUrl(String),
    #[error(transparent)]
    State(#[from] StateError),
    #[error(transparent)]
    Record(#[from] RecordError),
    #[error(transparent)]
    Job(#[from] JobError),
}

impl VerifyError {
    /// The exit code a command ends with on this error (SPEC §6).
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        match self {
            VerifyError::NoUrl | VerifyError::BadUrl(_) | VerifyError::State(_) => exit::BAD_INPUT,
            _ => exit::STEP_FAILED,
        }
    }
}

/// The baseline metrics as committed at `commit` (`None` if unreadable).
fn baseline_at(repo: &Repo, cfg: &Config, commit: &str) -> Option<Vec<Metric>> {
    let oid = git2::Oid::from_str(commit).ok()?;
    let tree = repo.git.find_commit(oid).ok()?.tree().ok()?;
    let entry = tree.get_path(Path::new(&cfg.baseline.file)).ok()?;
    let blob = repo.git.find_blob(entry.id()).ok()?;
    baseline::parse_bytes(blob.content(), &cfg.baseline.file)
        .ok()?
        .metrics()
        .ok()
}

fn same_url(a: &str, b: &str) -> bool {
    a.trim().trim_end_matches('/') == b.trim().trim_end_matches('/')
}

/// `guardrail verify`: runs the checks against `url_override` or
/// `[live] url`, and the verify script of the working tree if it exists;
/// records the result in the audit chain (`verify`, `OK`/`FAILED`); and sets
/// the live record's health when the live record still describes what was
/// verified (same BUILD_ID, the configured URL).
///
/// Defaults taken from the live record when `expect` leaves them out: the
/// BUILD_ID, and the baseline metrics as committed at the live commit.
///
/// `on_recorded` gets the report and the expected BUILD_ID once the result
/// is in the audit chain: the caller fires its alert there
/// ([`super::alerts::live_verify`]), so verification knows nothing of alerts.
pub fn verify_and_record(
    repo: &Repo,
    cfg: &Config,
    url_override: Option<&str>,
    mut expect: Expect,
    answers: Answers,
    on_update: impl FnMut(&CheckStatus) + Send,
    on_recorded: impl FnOnce(&VerifyReport, Option<&str>),
) -> Result<VerifyReport, VerifyError> {
    let url = url_override.unwrap_or(&cfg.live.url).trim().to_string();
    if url.is_empty() {
        return Err(VerifyError::NoUrl);
    }
    let parsed = parse_url(&url).map_err(VerifyError::BadUrl)?;
    // The job's target names the site: host, and port when not the default.
    let site = match parsed.port() {
        Some(p) => format!("{}-{p}", parsed.host_str().unwrap_or("live")),
        None => parsed.host_str().unwrap_or("live").to_string(),
    };
    let user = repo.user(cfg);
    let live = repo.state.read_live()?;
    if expect.build_id.is_none() {
        expect.build_id = live.as_ref().map(|l| l.build_id.clone());
    }
    if expect.baseline.is_none() {
        expect.baseline = live
            .as_ref()
            .and_then(|l| baseline_at(repo, cfg, &l.commit));
    }

    let mut job = None;
    let script = if script_exists(cfg, &repo.root) {
        repo.state.ensure()?;
        let j = Job::create(&repo.state.path, "verify", &site, &user.name)?;
        let head = repo
            .git
            .head()
            .ok()
            .and_then(|h| h.target())
            .map(|o| o.to_string())
            .unwrap_or_default();
        let ctx = ScriptContext {
            action: "verify".into(),
            branch: live
                .as_ref()
                .and_then(|l| l.branch.clone())
                .unwrap_or_default(),
            commit: live.as_ref().map(|l| l.commit.clone()).unwrap_or(head),
            tag: live
                .as_ref()
                .and_then(|l| l.tag.clone())
                .unwrap_or_default(),
            build_id: expect.build_id.clone().unwrap_or_default(),
            bundle_dir: config::resolve(&repo.root, &cfg.project.bundle_dir),
            drill: repo.is_drill(),
            deploy_url: url.clone(),
            actor: user.name.clone(),
        };
        let s = prepare_script(cfg, &repo.root, &ctx, answers, j.log_path());
        job = Some(j);
        Some(s)
    } else {
        Some(VerifyScript {
            script: cfg.scripts.verify.trim().to_string(),
            spec: None,
        })
    };

    let opts = VerifyOptions::from_config(&cfg.live);
    let mut report = run_with_script(&url, &cfg.live.check, &expect, opts, script, on_update);
    let result = if report.ok { "OK" } else { "FAILED" };

    let failed: Map<String, Value> = report
        .failures()
        .map(|c| {
            (
                c.name.clone(),
                Value::String(c.last_error.clone().unwrap_or_default()),
            )
        })
        .collect();
    let warned: Map<String, Value> = report
        .checks
        .iter()
        .filter(|c| c.state == CheckState::Warn)
        .map(|c| {
            (
                c.name.clone(),
                Value::String(c.detail.clone().unwrap_or_default()),
            )
        })
        .collect();
    let mut details = json!({
        "url": report.url,
        "checks": report.checks.len(),
        "duration_ms": report.duration_ms,
    });
    if let Some(b) = &expect.build_id {
        details["build_id"] = json!(b);
    }
    if !failed.is_empty() {
        details["failed"] = Value::Object(failed);
    }
    if !warned.is_empty() {
        details["warnings"] = Value::Object(warned);
    }
    if let Some(j) = &job {
        details["job"] = json!(j.record.id);
    }
    if let Some(s) = report.script.as_ref().filter(|s| s.skipped) {
        details["script"] = json!(format!("{} not in the repository, skipped", s.script));
    }
    let rec = record(
        repo,
        cfg,
        NewEntry::new(&user.name, "verify", &url, result).with_details(details),
    )?;
    report.audit_seq = Some(rec.seq);
    on_recorded(&report, expect.build_id.as_deref());
    if let Some(mut j) = job {
        let summary = match &report.script {
            Some(s) => format!("live checks {result}; verify script {}", s.summary),
            None => format!("live checks {result}"),
        };
        j.finish(result, &summary)?;
    }

    // The live record's health, if it still describes what was verified.
    if url_override.is_none_or(|u| same_url(u, &cfg.live.url)) {
        if let Some(mut rec) = repo.state.read_live()? {
            // After a failed deploy, checks that fail say nothing about a
            // build that may never have been published: it stays unknown.
            let still_unknown = rec.health == LiveHealth::Unknown && !report.ok;
            if expect.build_id.as_deref() == Some(rec.build_id.as_str()) && !still_unknown {
                rec.health = if report.ok {
                    LiveHealth::Ok
                } else {
                    LiveHealth::Failed
                };
                if report.ok {
                    rec.failure = None;
                }
                repo.state.write_live(&rec)?;
            }
        }
    }
    Ok(report)
}

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

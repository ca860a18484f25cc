//! Alerts (SPEC §3 `[alerts]`, protocol §6): an [`Event`] as one JSON
//! document, given on stdin to `[alerts] command` (run with `sh -c`) and
//! POSTed to `[alerts] webhook`, both at once and both bounded by
//! `[alerts] timeout` (a command still running then is killed with its
//! whole process group).
//!
//! An alert never stands in the way of release work: [`send`] never returns
//! an error; a failed alert is recorded in the audit chain (`alert FAILED`,
//! what failed and why) and a delivered one is not recorded. The hooks in
//! the pipeline use [`notify`], which sends on a detached thread; a
//! short-lived process calls [`flush`] before it exits so that pending
//! alerts are delivered (or recorded as failed) and not lost.
//!
//! De-duplication: [`send_once`] / [`notify_once`] keep the last
//! fingerprint per key in `<state>/alerts.json` and send only when it
//! changes; a failed send gives the key back its previous fingerprint, so the
//! next check tries again.
use std::collections::BTreeMap;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use super::audit::NewEntry;
use super::config::Config;
use super::record::record;
use super::repo::{login_name, Repo};
use super::verify::VerifyReport;

/// Used when `[alerts] timeout` is zero.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
/// The most of a failing command's stderr kept in the audit entry.
const STDERR_TAIL: usize = 300;

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    /// Watched files or baseline values differ from the golden build, or the
    /// live site no longer serves the live record.
    Drift,
    /// The drift reported earlier is gone.
    DriftCleared,
    /// A live verification failed (after a deploy, a rollback, or `verify`).
    VerificationFailed,
    /// A rollback ran (verified or not).
    Rollback,
    /// A guardrail refused an action.
    Refused,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Drift => "drift",
            Kind::DriftCleared => "drift-cleared",
            Kind::VerificationFailed => "verification-failed",
            Kind::Rollback => "rollback",
            Kind::Refused => "refused",
        }
    }
}

/// The JSON document every alert carries.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Event {
    pub kind: Kind,
    /// One sentence.
    pub summary: String,
    /// Kind-specific facts (the drift report, the failing checks, …).
    pub details: Value,
    /// `[project] name`.
    pub project: String,
    /// The repository's working-tree root on this box.
    pub repo: String,
    /// The login name of whoever acted (SPEC §8).
    pub actor: String,
    /// UTC, RFC 3339.
    pub time: String,
}

impl Event {
    pub fn new(
        repo: &Repo,
        cfg: &Config,
        kind: Kind,
        summary: impl Into<String>,
        details: Value,
    ) -> Event {
        Event {
            kind,
            summary: summary.into(),
            details,
            project: cfg.project.name.clone(),
            // Without git's trailing slash.
            repo: repo
                .root
                .components()
                .collect::<PathBuf>()
                .display()
                .to_string(),
            actor: login_name(),
            time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        }
    }

    pub fn to_json(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).expect("an event serialises");
        v.push(b'\n');
        v
    }
}

/// How one channel went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Channel {
    pub ok: bool,
    /// `exit 0`, `HTTP 204`, or why it failed.
    pub detail: String,
    pub duration_ms: u64,
}

/// How an alert went; a channel not configured is `None`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AlertResult {
    pub command: Option<Channel>,
    pub webhook: Option<Channel>,
    /// The audit entry that recorded a failure.
    pub audit_seq: Option<u64>,
}

impl AlertResult {
    /// Every configured channel delivered (true when none is configured).
    pub fn ok(&self) -> bool {
        [&self.command, &self.webhook]
            .iter()
            .all(|c| c.as_ref().is_none_or(|c| c.ok))
    }
}

/// Whether `[alerts]` names a command or a webhook.
pub fn configured(cfg: &Config) -> bool {
    !cfg.alerts.command.trim().is_empty() || !cfg.alerts.webhook.trim().is_empty()
}

/// `[alerts] timeout`, or [`DEFAULT_TIMEOUT`] when zero.
pub fn timeout(cfg: &Config) -> Duration {
    cfg.alerts.timeout.nonzero().unwrap_or(DEFAULT_TIMEOUT)
}

fn ms(d: Duration) -> u64 {
    d.as_millis().min(u64::MAX as u128) as u64
}

/// Sends `ev` through every configured channel at once, each bounded by
/// the timeout; nothing is recorded. `root` is the command's working
/// directory.
pub fn deliver(cfg: &Config, root: &Path, ev: &Event) -> AlertResult {
    let body = ev.to_json();
    let limit = timeout(cfg);
    let command = cfg.alerts.command.trim();
    let webhook = cfg.alerts.webhook.trim();
    std::thread::scope(|s| {
        let c = (!command.is_empty())
            .then(|| s.spawn(|| run_command(command, root, ev.kind, &body, limit)));
        let w = (!webhook.is_empty()).then(|| s.spawn(|| post(webhook, &body, limit)));
        let join = |h: std::thread::ScopedJoinHandle<'_, Channel>| {
            h.join().unwrap_or_else(|_| Channel {
                ok: false,
                detail: "the alert thread failed".into(),
                duration_ms: 0,
            })
        };
        AlertResult {
            command: c.map(join),
            webhook: w.map(join),
            audit_seq: None,
        }
    })
}

/// [`deliver`], and a failure recorded in the audit chain (`alert`,
/// target the event kind, `FAILED`). Never fails; never takes longer than
/// the timeout plus the audit append.
pub fn send(repo: &Repo, cfg: &Config, ev: &Event) -> AlertResult {
    if !configured(cfg) {
        return AlertResult::default();
    }
    let mut res = deliver(cfg, &repo.root, ev);
    if !res.ok() {
        res.audit_seq = record_failure(repo, cfg, ev, &res);
    }
    res
}

fn record_failure(repo: &Repo, cfg: &Config, ev: &Event, res: &AlertResult) -> Option<u64> {
    let mut failed = Map::new();
    if let Some(c) = res.command.as_ref().filter(|c| !c.ok) {
        failed.insert("command".into(), json!(c.detail));
    }
    if let Some(w) = res.webhook.as_ref().filter(|w| !w.ok) {
        failed.insert(
            "webhook".into(),
            json!(format!(
                "{}: {}",
                redact_url(cfg.alerts.webhook.trim()),
                w.detail
            )),
        );
    }
    let entry = NewEntry::new(&ev.actor, "alert", ev.kind.as_str(), "FAILED").with_details(json!({
        "summary": ev.summary,
        "failed": failed,
        "timeout": super::config::Dur(timeout(cfg)).to_string(),
    }));
    record(repo, cfg, entry).ok().map(|r| r.seq)
}

/// Scheme, host and port only: webhook paths often carry a secret.
fn redact_url(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => {
            let host = u.host_str().unwrap_or("?");
            match u.port() {
                Some(p) => format!("{}://{host}:{p}/…", u.scheme()),
                None => format!("{}://{host}/…", u.scheme()),
            }
        }
        Err(_) => "the webhook".into(),
    }
}

/// `sh -c <command>` in its own process group, the event on stdin, killed
/// (the whole group) when still running at the timeout.
fn run_command(command: &str, root: &Path, kind: Kind, body: &[u8], limit: Duration) -> Channel {
    use std::os::unix::process::CommandExt;
    let start = Instant::now();
    let fail = |detail: String| Channel {
        ok: false,
        detail,
        duration_ms: ms(start.elapsed()),
    };
    let mut stderr = match tempfile::tempfile() {
        Ok(f) => f,
        Err(e) => return fail(format!("no temporary file for its stderr: {e}")),
    };
    let err_out = match stderr.try_clone() {
        Ok(f) => f,
        Err(e) => return fail(format!("no temporary file for its stderr: {e}")),
    };
    let dir = if root.is_dir() {
        root.to_path_buf()
    } else {
        PathBuf::from("/")
    };
    let mut child = match Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("GUARDRAIL", "1")
        .env("GUARDRAIL_ALERT", kind.as_str())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(err_out)
        .process_group(0)
        .spawn()
    {
        Ok(c) => c,
        Err(e) => return fail(format!("the command could not start: {e}")),
    };
    // The writer may block on a command that does not read; it ends when
    // the command (and so the pipe) goes away.
    if let Some(mut stdin) = child.stdin.take() {
        let body = body.to_vec();
        let _ = std::thread::Builder::new()
            .name("alert-stdin".into())
            .spawn(move || {
                let _ = stdin.write_all(&body);
            });
    }
    let deadline = start + limit;
    let mut wait = Duration::from_millis(2);
    let status = loop {
        match child.try_wait() {
            Ok(Some(st)) => break Some(st),
            Ok(None) if Instant::now() >= deadline => break None,
            Ok(None) => {
                std::thread::sleep(wait.min(deadline.saturating_duration_since(Instant::now())));
                wait = (wait * 2).min(Duration::from_millis(50));
            }
            Err(e) => return fail(format!("waiting for the command failed: {e}")),
        }
    };
    let Some(status) = status else {
        // SAFETY: signalling the process group we created (pgid = child pid).
        unsafe {
            libc::kill(-(child.id() as i32), libc::SIGKILL);
        }
        let _ = child.wait();
        return fail(format!(
            "the command did not finish within {} and was killed",
            super::config::Dur(limit)
        ));
    };
    if status.success() {
        return Channel {
            ok: true,
            detail: "exit 0".into(),
            duration_ms: ms(start.elapsed()),
        };
    }
    let mut text = String::new();
    let _ = stderr.rewind();
    let _ = stderr.take(64 * 1024).read_to_string(&mut text);
    // The command inherits guardrail's environment: a token it prints must
    // not reach the audit chain.
    let (secrets, _) = super::runner::secret_values_from_env(std::env::vars());
    let text = super::runner::mask_secrets(&text, &secrets);
    let text = text.trim();
    let tail: String = {
        let chars: Vec<char> = text.chars().collect();
        let from = chars.len().saturating_sub(STDERR_TAIL);
        chars[from..]
            .iter()
            .collect::<String>()
            .replace('\n', " | ")
    };
    let how = match status.code() {
        Some(c) => format!("the command exited {c}"),
        None => {
            use std::os::unix::process::ExitStatusExt;
            format!(
                "the command was ended by signal {}",
                status.signal().unwrap_or(0)
            )
        }
    };
    fail(if tail.is_empty() {
        how
    } else {
        format!("{how}: {tail}")
    })
}

/// POSTs `body` (JSON) to `url`, bounded by `limit`; a 2xx answer delivers.
fn post(url: &str, body: &[u8], limit: Duration) -> Channel {
    let start = Instant::now();
    let done = |ok: bool, detail: String| Channel {
        ok,
        detail,
        duration_ms: ms(start.elapsed()),
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return done(false, format!("could not start the HTTP runtime: {e}")),
    };
    let client = match reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(limit)
        .timeout(limit)
        .user_agent(concat!(
            "guardrail/",
            env!("CARGO_PKG_VERSION"),
            " (alerts)"
        ))
        .build()
    {
        Ok(c) => c,
        Err(e) => return done(false, format!("could not set up the HTTP client: {e}")),
    };
    let req = client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(body.to_vec());
    let r = rt.block_on(async { tokio::time::timeout(limit, req.send()).await });
    rt.shutdown_background();
    match r {
        Err(_) => done(
            false,
            format!(
                "no answer within {} (alerts timeout)",
                super::config::Dur(limit)
            ),
        ),
        Ok(Err(e)) if e.is_timeout() => done(
            false,
            format!(
                "no answer within {} (alerts timeout)",
                super::config::Dur(limit)
            ),
        ),
        Ok(Err(e)) => {
            let mut inner: &(dyn std::error::Error + 'static) = &e;
            while let Some(s) = inner.source() {
                inner = s;
            }
            done(false, format!("the POST failed: {inner}"))
        }
        Ok(Ok(resp)) if resp.status().is_success() => {
            done(true, format!("HTTP {}", resp.status().as_u16()))
        }
        Ok(Ok(resp)) => done(false, format!("HTTP {}", resp.status().as_u16())),
    }
}

// ---------------------------------------------------------------------------
// De-duplication: the last fingerprint per key

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Stored {
    fingerprint: String,
    kind: String,
    time: String,
}

fn store_path(repo: &Repo) -> PathBuf {
    repo.state.path.join("alerts.json")
}

fn read_store(path: &Path) -> BTreeMap<String, Stored> {
    std::fs::read(path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Read-modify-write of `alerts.json` under a file lock; `f` returns what
/// the caller gets back.
fn with_store<T>(
    repo: &Repo,
    f: impl FnOnce(&mut BTreeMap<String, Stored>) -> T,
) -> std::io::Result<T> {
    repo.state
        .ensure()
        .map_err(|e| std::io::Error::other(e.to_string()))?;
    let lock = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(repo.state.path.join("alerts.lock"))?;
    lock.lock()?;
    let path = store_path(repo);
    let mut map = read_store(&path);
    let before = map.clone();
    let out = f(&mut map);
    if map != before {
        let mut tmp = tempfile::NamedTempFile::new_in(&repo.state.path)?;
        tmp.write_all(&serde_json::to_vec_pretty(&map).expect("serialises"))?;
        tmp.as_file().sync_all()?;
        tmp.persist(&path).map_err(|e| e.error)?;
    }
    let _ = lock.unlock();
    Ok(out)
}

/// The fingerprint last sent under `key` (`""` when none: nothing
/// outstanding).
pub fn last_fingerprint(repo: &Repo, key: &str) -> String {
    read_store(&store_path(repo))
        .get(key)
        .map(|s| s.fingerprint.clone())
        .unwrap_or_default()
}

/// Sets `key` to `fingerprint`; `Some(previous)` when it changed (the caller
/// sends), `None` when it was already that. A state directory that cannot
/// be written gives `Some("")`: better a repeated alert than a lost one.
fn claim(repo: &Repo, key: &str, fingerprint: &str, kind: Kind) -> Option<String> {
    let r = with_store(repo, |m| {
        let prev = m
            .get(key)
            .map(|s| s.fingerprint.clone())
            .unwrap_or_default();
        if prev == fingerprint {
            return None;
        }
        if fingerprint.is_empty() {
            m.remove(key);
        } else {
            m.insert(
                key.to_string(),
                Stored {
                    fingerprint: fingerprint.to_string(),
                    kind: kind.as_str().to_string(),
                    time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                },
            );
        }
        Some(prev)
    });
    r.unwrap_or(Some(String::new()))
}

/// Gives `key` back `prev` if it still holds `fingerprint` (a failed send).
fn unclaim(repo: &Repo, key: &str, fingerprint: &str, prev: &str, kind: Kind) {
    let _ = with_store(repo, |m| {
        let cur = m
            .get(key)
            .map(|s| s.fingerprint.clone())
            .unwrap_or_default();
        if cur != fingerprint {
            return;
        }
        if prev.is_empty() {
            m.remove(key);
        } else {
            m.insert(
                key.to_string(),
                Stored {
                    fingerprint: prev.to_string(),
                    kind: kind.as_str().to_string(),
                    time: chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                },
            );
        }
    });
}

/// Forgets `key` without sending anything (the condition is over and needs
/// no alert of its own).
pub fn forget(repo: &Repo, key: &str) {
    let _ = with_store(repo, |m| {
        m.remove(key);
    });
}

/// [`send`] only when `fingerprint` differs from the one last sent under
/// `key` (`""` means "nothing outstanding"). `None` when nothing was sent.
pub fn send_once(
    repo: &Repo,
    cfg: &Config,
    key: &str,
    fingerprint: &str,
    ev: &Event,
) -> Option<AlertResult> {
    let prev = claim(repo, key, fingerprint, ev.kind)?;
    let res = send(repo, cfg, ev);
    if !res.ok() {
        unclaim(repo, key, fingerprint, &prev, ev.kind);
    }
    Some(res)
}

// ---------------------------------------------------------------------------
// In the background

static PENDING: Mutex<usize> = Mutex::new(0);
static SETTLED: Condvar = Condvar::new();

struct Pending;

impl Pending {
    fn start() -> Pending {
        *PENDING.lock().unwrap_or_else(|e| e.into_inner()) += 1;
        Pending
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        let mut n = PENDING.lock().unwrap_or_else(|e| e.into_inner());
        *n = n.saturating_sub(1);
        SETTLED.notify_all();
    }
}

/// Runs `job` with a handle of its own on the repository, on a detached
/// thread counted by [`flush`].
fn detach(repo: &Repo, job: impl FnOnce(&Repo) + Send + 'static) {
    let root = repo.root.clone();
    let guard = Pending::start();
    let r = std::thread::Builder::new()
        .name("alert".into())
        .spawn(move || {
            let _guard = guard;
            if let Ok(repo) = Repo::open(&root) {
                job(&repo);
            }
        });
    // Without a thread the guard was dropped with the closure.
    drop(r);
}

/// Sends `ev` on a detached thread (see [`send`]); returns at once.
pub fn spawn(repo: &Repo, cfg: &Config, ev: Event) {
    if !configured(cfg) {
        return;
    }
    let cfg = cfg.clone();
    detach(repo, move |repo| {
        send(repo, &cfg, &ev);
    });
}

/// [`send_once`] on a detached thread. The key is claimed before this
/// returns, so two checks in a row never both send; true when an alert is
/// on its way (or the key changed with no channel configured).
pub fn spawn_once(repo: &Repo, cfg: &Config, key: &str, fingerprint: &str, ev: Event) -> bool {
    let Some(prev) = claim(repo, key, fingerprint, ev.kind) else {
        return false;
    };
    if !configured(cfg) {
        return true;
    }
    let cfg = cfg.clone();
    let (key, fingerprint) = (key.to_string(), fingerprint.to_string());
    detach(repo, move |repo| {
        if !send(repo, &cfg, &ev).ok() {
            unclaim(repo, &key, &fingerprint, &prev, ev.kind);
        }
    });
    true
}

/// The one-line hook: an event of `kind` sent in the background.
pub fn notify(repo: &Repo, cfg: &Config, kind: Kind, summary: impl Into<String>, details: Value) {
    if configured(cfg) {
        spawn(repo, cfg, Event::new(repo, cfg, kind, summary, details));
    }
}

// ---------------------------------------------------------------------------
// The pipeline's hooks (one line each at the call site)

/// A guardrail refused `action` on `target` (already recorded).
pub fn refused(repo: &Repo, cfg: &Config, action: &str, target: &str, why: &str) {
    notify(
        repo,
        cfg,
        Kind::Refused,
        format!("{action} of {target} refused: {why}"),
        json!({ "action": action, "target": target, "why": why }),
    );
}

fn verify_details(report: &VerifyReport, failing: &[String]) -> Value {
    json!({
        "url": report.url,
        "failing": failing,
        "checks": report.checks.iter().map(|c| json!({
            "name": c.name,
            "state": c.state,
            "error": c.last_error,
        })).collect::<Vec<_>>(),
    })
}

/// Live verification after `action` (deploy, rollback) of `target` failed.
pub fn verification_failed(
    repo: &Repo,
    cfg: &Config,
    action: &str,
    target: &str,
    report: &VerifyReport,
    failing: &[String],
) {
    if !configured(cfg) {
        return;
    }
    let mut details = verify_details(report, failing);
    details["action"] = json!(action);
    details["target"] = json!(target);
    notify(
        repo,
        cfg,
        Kind::VerificationFailed,
        format!(
            "live verification after the {action} of {target} failed: {}",
            failing.join("; ")
        ),
        details,
    );
}

/// A rollback to `tag` ran and was recorded: a `rollback` alert, and a
/// `verification-failed` one too when its verification failed.
pub fn rollback(
    repo: &Repo,
    cfg: &Config,
    tag: &str,
    from: Option<&str>,
    reason: &str,
    report: &VerifyReport,
    failing: &[String],
) {
    if !configured(cfg) {
        return;
    }
    let mut details = verify_details(report, failing);
    details["from"] = json!(from);
    details["to"] = json!(tag);
    details["reason"] = json!(reason);
    details["verified"] = json!(report.ok);
    let summary = if report.ok {
        format!(
            "production rolled back to {tag} from {}: verified",
            from.unwrap_or("nothing recorded")
        )
    } else {
        format!(
            "production rolled back to {tag} from {}: verification FAILED",
            from.unwrap_or("nothing recorded")
        )
    };
    notify(repo, cfg, Kind::Rollback, summary, details);
    if !report.ok {
        verification_failed(repo, cfg, "rollback", tag, report, failing);
    }
}

/// `guardrail verify` (and the like): a failure alerts once per distinct
/// failure (key `verify`); a pass forgets it, so the next failure alerts.
pub fn live_verify(repo: &Repo, cfg: &Config, report: &VerifyReport, build_id: Option<&str>) {
    if report.ok {
        if !last_fingerprint(repo, VERIFY_KEY).is_empty() {
            forget(repo, VERIFY_KEY);
        }
        return;
    }
    let failing: Vec<String> = report
        .failures()
        .map(|c| format!("{}: {}", c.name, c.last_error.clone().unwrap_or_default()))
        .collect();
    let names: Vec<&str> = report.failures().map(|c| c.name.as_str()).collect();
    let fp = super::common::sha256_hex(json!([report.url, build_id, names]).to_string().as_bytes());
    let mut details = verify_details(report, &failing);
    details["build_id"] = json!(build_id);
    let ev = Event::new(
        repo,
        cfg,
        Kind::VerificationFailed,
        format!(
            "live verification of {} failed: {}",
            report.url,
            failing.join("; ")
        ),
        details,
    );
    spawn_once(repo, cfg, VERIFY_KEY, &fp, ev);
}

/// The key `guardrail verify` failures are de-duplicated under.
pub const VERIFY_KEY: &str = "verify";

/// Waits until every alert sent in the background has finished (delivered,
/// or its failure recorded), at most `max`. True when none is left.
pub fn flush(max: Duration) -> bool {
    let deadline = Instant::now() + max;
    let mut n = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    while *n > 0 {
        let now = Instant::now();
        if now >= deadline {
            return false;
        }
        n = SETTLED
            .wait_timeout(n, deadline - now)
            .unwrap_or_else(|e| e.into_inner())
            .0;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialise_kebab_case() {
        assert_eq!(
            serde_json::to_value(Kind::VerificationFailed).unwrap(),
            json!("verification-failed")
        );
        assert_eq!(Kind::DriftCleared.as_str(), "drift-cleared");
    }

    #[test]
    fn webhook_urls_are_redacted() {
        assert_eq!(
            redact_url("https://hooks.example.org/services/T000/SECRET"),
            "https://hooks.example.org/…"
        );
        assert_eq!(
            redact_url("http://127.0.0.1:8080/x"),
            "http://127.0.0.1:8080/…"
        );
    }

    #[test]
    fn a_command_that_hangs_is_killed_at_the_timeout() {
        let t = Instant::now();
        let c = run_command(
            "sleep 30",
            Path::new("/"),
            Kind::Drift,
            b"{}",
            Duration::from_millis(200),
        );
        assert!(!c.ok);
        assert!(c.detail.contains("killed"), "{}", c.detail);
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn a_failing_command_says_why() {
        let c = run_command(
            "cat >/dev/null; echo nope >&2; exit 3",
            Path::new("/"),
            Kind::Drift,
            b"{}",
            Duration::from_secs(5),
        );
        assert!(!c.ok);
        assert_eq!(c.detail, "the command exited 3: nope");
    }
}

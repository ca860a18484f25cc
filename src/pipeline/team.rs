//! Team mode (SPEC §10): the deploy lock, the audit chain and the live record
//! shared by every clone through refs on a git remote.
//!
//! Each ref points at a blob: `refs/guardrail/lock` a JSON [`LockDoc`],
//! `refs/guardrail/audit` the whole chain (the same bytes as `audit.jsonl`),
//! `refs/guardrail/live` the `live.json` of the last release or rollback.
//! Every change is a compare-and-swap: `git push <remote> <blob>:<ref>
//! --force-with-lease=<ref>:<expected>`, which the server applies only while
//! the ref still holds `<expected>` (empty: the ref must not exist). The
//! `git` command does the talking, so the user's own authentication (ssh
//! keys, credential helpers) applies and nothing is stored here.
//!
//! Objects are written and read with libgit2 in the clone; only the network
//! operations run `git`.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::audit::{self, AuditError, AuditLog, NewEntry, Record};
use super::config::Config;
use super::lock::{self, DeployLock, FreezeInfo, LockError, LockInfo};
use super::repo::Repo;

/// The team lock (job and freeze).
pub const LOCK_REF: &str = "refs/guardrail/lock";
/// The team's audit chain.
pub const AUDIT_REF: &str = "refs/guardrail/audit";
/// The team's live record.
pub const LIVE_REF: &str = "refs/guardrail/live";
/// Raw lines appended locally while the remote could not be reached.
pub const PENDING_FILE: &str = "team-pending.jsonl";
/// Present while the local live record waits to be pushed.
pub const LIVE_PENDING_FILE: &str = "team-live.pending";
/// This box's last view of the team lock (written by [`refresh`]), for the
/// console header and `lock status`.
pub const LOCK_CACHE_FILE: &str = "team-lock.json";
/// Serialises this box's team appends (fetch, push, mirror).
const TEAM_AUDIT_LOCK: &str = "team-audit.lock";
/// A chain append that lost this many races in a row gives up (and the
/// entry waits locally for `team sync`).
const MAX_RACES: u32 = 400;

/// What went wrong talking to the team remote.
#[derive(Debug, thiserror::Error)]
pub enum TeamError {
    #[error("the team remote {remote} could not be reached: {message}")]
    Unreachable { remote: String, message: String },
    #[error("{what} on the team remote {remote} failed: {message}")]
    Git {
        what: String,
        remote: String,
        message: String,
    },
    #[error("{reference} on the team remote {remote} is not valid: {message}")]
    Bad {
        reference: &'static str,
        remote: String,
        message: String,
    },
    #[error("the team lock is held by {0}")]
    Held(Box<TeamJob>),
    #[error("deploys are frozen team-wide by {0}")]
    Frozen(Box<TeamFreeze>),
    #[error("only {} (who froze deploys team-wide) or a release manager forcing it can lift the freeze; {who} cannot", freeze.owner)]
    NotFreezeOwner {
        freeze: Box<TeamFreeze>,
        who: String,
    },
    #[error("deploys are not frozen team-wide")]
    NotFrozen,
    #[error("{what} on the team remote {remote} lost {tries} races in a row to other boxes")]
    Contended {
        what: &'static str,
        remote: String,
        tries: u32,
    },
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("could not {what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: io::Error,
    },
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> TeamError + 'a {
    move |source| TeamError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// This box's host name.
pub fn host_name() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc == 0 {
        let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
        let name = String::from_utf8_lossy(&buf[..end]).into_owned();
        if !name.is_empty() {
            return name;
        }
    }
    "unknown-host".into()
}

/// The team remote of a clone.
#[derive(Debug, Clone)]
pub struct Remote {
    /// Remote name or URL, as `git push` takes it.
    pub name: String,
    /// The clone's working directory (where `git` runs).
    pub dir: PathBuf,
    /// How long one `git` call may take (`[team] timeout`); past it the
    /// call is ended and the remote counts as unreachable.
    pub timeout: Duration,
}

/// Outcome of a compare-and-swap.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cas {
    /// The ref now holds this value (`None`: deleted).
    Done(Option<String>),
    /// The ref did not hold the expected value: another box changed it.
    Lost,
}

impl Remote {
    /// The team remote configured for `repo`, if team mode is on.
    pub fn of(repo: &Repo, cfg: &Config) -> Option<Remote> {
        let name = cfg.team.remote.trim();
        (!name.is_empty()).then(|| Remote {
            name: name.to_string(),
            dir: repo.root.clone(),
            timeout: cfg.team.timeout.0,
        })
    }

    /// The remote as said in messages, reports and `status`: a URL's
    /// user-info (a token) masked.
    pub fn shown(&self) -> String {
        super::runner::mask_url_userinfo(&self.name)
    }

    /// Runs `git` in the clone, in a process group of its own, and ends
    /// the whole group (ssh or a remote helper included) when it outlives
    /// the remote's timeout: a remote that accepts a connection and never
    /// answers is unreachable, it does not hang a deploy or a rollback.
    fn git(&self, args: &[&str]) -> Result<std::process::Output, TeamError> {
        use std::io::Read;
        use std::os::unix::process::CommandExt;
        let what = format!("git {}", args.first().copied().unwrap_or(""));
        let failed = |e: io::Error| TeamError::Git {
            what: what.clone(),
            remote: self.shown(),
            message: e.to_string(),
        };
        let mut child = Command::new("git")
            .arg("-C")
            .arg(&self.dir)
            .args(args)
            .env("GIT_TERMINAL_PROMPT", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .map_err(failed)?;
        let drain = |r: Option<Box<dyn Read + Send>>| {
            thread::spawn(move || {
                let mut buf = Vec::new();
                if let Some(mut r) = r {
                    let _ = r.read_to_end(&mut buf);
                }
                buf
            })
        };
        let out = drain(
            child
                .stdout
                .take()
                .map(|r| Box::new(r) as Box<dyn Read + Send>),
        );
        let err = drain(
            child
                .stderr
                .take()
                .map(|r| Box::new(r) as Box<dyn Read + Send>),
        );
        let deadline = std::time::Instant::now() + self.timeout;
        let status = loop {
            if let Some(status) = child.try_wait().map_err(failed)? {
                break status;
            }
            if std::time::Instant::now() >= deadline {
                // SAFETY: signalling the process group this call created.
                unsafe { libc::kill(-(child.id() as libc::pid_t), libc::SIGKILL) };
                let _ = child.wait();
                let _ = (out.join(), err.join());
                return Err(TeamError::Unreachable {
                    remote: self.shown(),
                    message: format!(
                        "{what} gave no answer within {} ([team] timeout) and was ended",
                        super::config::Dur(self.timeout)
                    ),
                });
            }
            thread::sleep(Duration::from_millis(10));
        };
        Ok(std::process::Output {
            status,
            stdout: out.join().unwrap_or_default(),
            stderr: err.join().unwrap_or_default(),
        })
    }

    fn unreachable(&self, stderr: &[u8]) -> TeamError {
        let text = String::from_utf8_lossy(stderr);
        let message = text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        // git's own message may quote the URL, token and all.
        let message = super::runner::mask_url_userinfo(&message);
        TeamError::Unreachable {
            remote: self.shown(),
            message: if message.is_empty() {
                "git gave no reason".into()
            } else {
                message
            },
        }
    }

    /// The value of every `refs/guardrail/*` ref on the remote.
    pub fn ls(&self) -> Result<Vec<(String, String)>, TeamError> {
        let out = self.git(&["ls-remote", &self.name, "refs/guardrail/*"])?;
        if !out.status.success() {
            return Err(self.unreachable(&out.stderr));
        }
        Ok(String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| {
                let (oid, name) = l.split_once('\t')?;
                Some((name.trim().to_string(), oid.trim().to_string()))
            })
            .collect())
    }

    /// The value of one ref on the remote.
    pub fn head(&self, reference: &str) -> Result<Option<String>, TeamError> {
        Ok(self
            .ls()?
            .into_iter()
            .find(|(n, _)| n == reference)
            .map(|(_, oid)| oid))
    }

    fn open(&self) -> Result<git2::Repository, TeamError> {
        git2::Repository::discover(&self.dir).map_err(|e| TeamError::Git {
            what: "opening the clone".into(),
            remote: self.shown(),
            message: e.message().to_string(),
        })
    }

    fn local_blob(&self, oid: &str) -> Option<Vec<u8>> {
        let repo = self.open().ok()?;
        let oid = git2::Oid::from_str(oid).ok()?;
        let blob = repo.find_blob(oid).ok()?;
        Some(blob.content().to_vec())
    }

    /// Fetch `reference`'s object into the clone (no local ref changes).
    fn fetch(&self, reference: &str) -> Result<(), TeamError> {
        let out = self.git(&[
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            &self.name,
            reference,
        ])?;
        if !out.status.success() {
            return Err(self.unreachable(&out.stderr));
        }
        Ok(())
    }

    /// The ref's value and the bytes of the blob it names.
    pub fn read(&self, reference: &str) -> Result<Option<(String, Vec<u8>)>, TeamError> {
        for _ in 0..20 {
            let Some(oid) = self.head(reference)? else {
                return Ok(None);
            };
            if let Some(bytes) = self.local_blob(&oid) {
                return Ok(Some((oid, bytes)));
            }
            match self.fetch(reference) {
                Ok(()) => {}
                // Deleted between the listing and the fetch: list again.
                Err(TeamError::Unreachable { .. }) if self.head(reference)?.is_none() => {
                    return Ok(None)
                }
                Err(e) => return Err(e),
            }
            if let Some(bytes) = self.local_blob(&oid) {
                return Ok(Some((oid, bytes)));
            }
            // The ref moved between the listing and the fetch: again.
        }
        Err(TeamError::Contended {
            what: "reading",
            remote: self.shown(),
            tries: 20,
        })
    }

    /// Store `bytes` as a blob in the clone.
    pub fn write_blob(&self, bytes: &[u8]) -> Result<String, TeamError> {
        let repo = self.open()?;
        repo.blob(bytes)
            .map(|o| o.to_string())
            .map_err(|e| TeamError::Git {
                what: "writing an object".into(),
                remote: self.shown(),
                message: e.message().to_string(),
            })
    }

    /// Set `reference` to `new` (`None`: delete it) only while it holds
    /// `expected` (`None`: only while it does not exist).
    pub fn cas(
        &self,
        reference: &str,
        expected: Option<&str>,
        new: Option<&[u8]>,
    ) -> Result<Cas, TeamError> {
        let new_oid = match new {
            Some(bytes) => Some(self.write_blob(bytes)?),
            None => None,
        };
        let spec = format!("{}:{reference}", new_oid.as_deref().unwrap_or(""));
        let lease = format!("--force-with-lease={reference}:{}", expected.unwrap_or(""));
        let out = self.git(&[
            "push",
            "--porcelain",
            "--quiet",
            "--no-verify",
            &lease,
            &self.name,
            &spec,
        ])?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        // `<flag>\t<from>:<to>\t<summary>`
        let flag = stdout.lines().find_map(|l| {
            let mut parts = l.split('\t');
            let flag = parts.next()?;
            let refs = parts.next()?;
            (refs.ends_with(&format!(":{reference}")) && flag.len() == 1).then(|| flag.to_string())
        });
        match flag.as_deref() {
            Some("*") | Some(" ") | Some("+") | Some("-") => Ok(Cas::Done(new_oid)),
            // `=`: the ref already held these very bytes, written by another
            // box: ours was not the write that landed.
            Some("!") | Some("=") => Ok(Cas::Lost),
            _ if out.status.success() => Ok(Cas::Done(new_oid)),
            _ => Err(self.unreachable(&out.stderr)),
        }
    }
}

// ---------------------------------------------------------------- the lock

/// The job holding the team lock.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamJob {
    /// Random id of this holding.
    pub id: String,
    pub owner: String,
    pub host: String,
    pub action: String,
    pub target: String,
    pub pid: u32,
    pub since: DateTime<Utc>,
    /// Renewed by the holder; after it, the lock may be taken over.
    pub lease_until: DateTime<Utc>,
}

impl TeamJob {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.lease_until <= now
    }
}

impl fmt::Display for TeamJob {
    /// `alice@deploy-2 (rollback of prod-2025-11-14, pid 123, since 14:02:10 UTC, lease until 14:03:10 UTC)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} ({} of {}, pid {}, since {}, lease until {})",
            self.owner,
            self.host,
            self.action,
            self.target,
            self.pid,
            self.since.format("%H:%M:%S UTC"),
            self.lease_until.format("%H:%M:%S UTC")
        )
    }
}

/// A team-wide manual freeze (`lock acquire`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TeamFreeze {
    pub owner: String,
    pub host: String,
    pub reason: String,
    pub since: DateTime<Utc>,
}

impl fmt::Display for TeamFreeze {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}@{} since {}",
            self.owner,
            self.host,
            self.since.format("%Y-%m-%d %H:%M UTC")
        )?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

/// The blob `refs/guardrail/lock` names. No job and no freeze: the ref is
/// deleted.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LockDoc {
    #[serde(default)]
    pub job: Option<TeamJob>,
    #[serde(default)]
    pub freeze: Option<TeamFreeze>,
    /// Makes every written value unique, so that two boxes never write the
    /// same bytes (a push of an identical value is not a swap).
    #[serde(default)]
    pub nonce: String,
}

fn nonce() -> String {
    format!("{:016x}{:016x}", random_u64(), random_u64())
}

/// A random number from the operating system; should it have none, the
/// clock's nanoseconds mixed with the pid and a counter, still unique.
fn random_u64() -> u64 {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    getrandom::u64().unwrap_or_else(|_| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        nanos ^ (u64::from(std::process::id()) << 32) ^ n.rotate_left(17)
    })
}

impl LockDoc {
    fn bytes(&self) -> Option<Vec<u8>> {
        if self.job.is_none() && self.freeze.is_none() {
            return None;
        }
        let mut doc = self.clone();
        doc.nonce = nonce();
        Some(serde_json::to_vec_pretty(&doc).expect("a lock serialises"))
    }
}

/// The team lock as read from the remote: its ref value and document.
pub fn read_lock(remote: &Remote) -> Result<Option<(String, LockDoc)>, TeamError> {
    match remote.read(LOCK_REF)? {
        None => Ok(None),
        Some((oid, bytes)) => serde_json::from_slice(&bytes)
            .map(|d| Some((oid, d)))
            .map_err(|e| TeamError::Bad {
                reference: LOCK_REF,
                remote: remote.shown(),
                message: e.to_string(),
            }),
    }
}

/// Change the lock document by compare-and-swap: `change` sees the current
/// document (default when absent) and returns the new one or an error;
/// retried on a lost race. Returns the new ref value and document.
fn update_lock(
    remote: &Remote,
    mut change: impl FnMut(&LockDoc) -> Result<LockDoc, TeamError>,
) -> Result<(Option<String>, LockDoc), TeamError> {
    // First try: assume the lock is free (the common case: one push).
    let mut current: Option<(String, LockDoc)> = None;
    for tries in 0..MAX_RACES {
        if tries > 0 {
            current = read_lock(remote)?;
        }
        let doc = current.as_ref().map(|c| c.1.clone()).unwrap_or_default();
        let new = match change(&doc) {
            Ok(new) => new,
            // Refused on the assumption that the lock is free: read it.
            Err(_) if tries == 0 => {
                current = read_lock(remote)?;
                change(&current.as_ref().map(|c| c.1.clone()).unwrap_or_default())?
            }
            Err(e) => return Err(e),
        };
        let expected = current.as_ref().map(|c| c.0.as_str());
        match remote.cas(LOCK_REF, expected, new.bytes().as_deref())? {
            Cas::Done(oid) => return Ok((oid, new)),
            Cas::Lost => backoff(tries),
        }
    }
    Err(TeamError::Contended {
        what: "changing the team lock",
        remote: remote.shown(),
        tries: MAX_RACES,
    })
}

fn backoff(tries: u32) {
    let cap = 5 + 10 * tries.min(20) as u64;
    thread::sleep(Duration::from_millis(random_u64() % cap));
}

/// Take the team lock for a job. Returns the holding and, when an expired
/// holder was taken over, that holder.
pub fn acquire_job(
    remote: &Remote,
    info: &LockInfo,
    lease: Duration,
) -> Result<(Arc<Mutex<Held>>, Option<TeamJob>), TeamError> {
    let lease = chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
    let host = host_name();
    let id = nonce();
    let mut taken_over = None;
    let (oid, doc) = update_lock(remote, |doc| {
        let now = Utc::now();
        if let Some(f) = &doc.freeze {
            if f.owner != info.owner {
                return Err(TeamError::Frozen(Box::new(f.clone())));
            }
        }
        taken_over = None;
        if let Some(j) = &doc.job {
            if !j.expired(now) {
                return Err(TeamError::Held(Box::new(j.clone())));
            }
            taken_over = Some(j.clone());
        }
        let mut new = doc.clone();
        new.job = Some(TeamJob {
            id: id.clone(),
            owner: info.owner.clone(),
            host: host.clone(),
            action: info.action.clone(),
            target: info.target.clone(),
            pid: info.pid,
            since: info.since,
            lease_until: now + lease,
        });
        Ok(new)
    })?;
    Ok((
        Arc::new(Mutex::new(Held {
            oid: oid.unwrap_or_default(),
            doc,
            id,
            lost: false,
        })),
        taken_over,
    ))
}

/// The holder's view of the lock it holds.
#[derive(Debug)]
pub struct Held {
    oid: String,
    doc: LockDoc,
    id: String,
    /// Another box took the lock over (our lease ran out unrenewed).
    pub lost: bool,
}

/// Renew the lease once. `Ok(false)`: the lock is no longer ours.
fn renew(remote: &Remote, held: &Mutex<Held>, lease: chrono::Duration) -> Result<bool, TeamError> {
    let (oid, mut doc, id) = {
        let h = held.lock().expect("lock state");
        (h.oid.clone(), h.doc.clone(), h.id.clone())
    };
    if let Some(j) = doc.job.as_mut() {
        j.lease_until = Utc::now() + lease;
    }
    match remote.cas(LOCK_REF, Some(&oid), doc.bytes().as_deref())? {
        Cas::Done(new) => {
            let mut h = held.lock().expect("lock state");
            h.oid = new.unwrap_or_default();
            h.doc = doc;
            Ok(true)
        }
        // Someone changed the document (a freeze was set): keep their
        // change while the job is still ours; renew at the next tick.
        Cas::Lost => match read_lock(remote)? {
            Some((o, d)) if d.job.as_ref().is_some_and(|j| j.id == id) => {
                let mut h = held.lock().expect("lock state");
                h.oid = o;
                h.doc = d;
                Ok(true)
            }
            _ => {
                held.lock().expect("lock state").lost = true;
                Ok(false)
            }
        },
    }
}

/// Release a job's hold on the team lock (keeping any freeze).
pub fn release_job(remote: &Remote, held: &Mutex<Held>) -> Result<(), TeamError> {
    let (mut oid, mut doc, id) = {
        let h = held.lock().expect("lock state");
        (Some(h.oid.clone()), h.doc.clone(), h.id.clone())
    };
    for tries in 0..MAX_RACES {
        if doc.job.as_ref().is_none_or(|j| j.id != id) {
            return Ok(());
        }
        let mut new = doc.clone();
        new.job = None;
        match remote.cas(LOCK_REF, oid.as_deref(), new.bytes().as_deref())? {
            Cas::Done(_) => return Ok(()),
            Cas::Lost => {
                backoff(tries);
                match read_lock(remote)? {
                    None => return Ok(()),
                    Some((o, d)) => {
                        oid = Some(o);
                        doc = d;
                    }
                }
            }
        }
    }
    Err(TeamError::Contended {
        what: "releasing the team lock",
        remote: remote.shown(),
        tries: MAX_RACES,
    })
}

/// The team lock held by a job: renewed in the background, released (and
/// the live record published when it changed) when dropped.
pub struct TeamGuard {
    remote: Remote,
    /// `None`: acting `--offline`, without the team lock.
    held: Option<Arc<Mutex<Held>>>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    renewer: Option<JoinHandle<()>>,
    state_dir: PathBuf,
    live_before: Option<Vec<u8>>,
}

impl fmt::Debug for TeamGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TeamGuard({} on {})", LOCK_REF, self.remote.shown())
    }
}

impl TeamGuard {
    fn offline(remote: Remote, state_dir: &Path) -> Self {
        TeamGuard {
            remote,
            held: None,
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            renewer: None,
            state_dir: state_dir.to_path_buf(),
            live_before: fs::read(state_dir.join("live.json")).ok(),
        }
    }

    fn start(remote: Remote, held: Arc<Mutex<Held>>, lease: Duration, state_dir: &Path) -> Self {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let every = (lease / 3).max(Duration::from_millis(100));
        let chrono_lease =
            chrono::Duration::from_std(lease).unwrap_or(chrono::Duration::seconds(60));
        let renewer = {
            let (remote, held, stop) = (remote.clone(), held.clone(), stop.clone());
            thread::spawn(move || loop {
                let (m, cv) = &*stop;
                let guard = m.lock().expect("stop flag");
                let (guard, _) = cv.wait_timeout(guard, every).expect("stop flag");
                if *guard {
                    return;
                }
                drop(guard);
                // An unreachable remote: try again at the next tick.
                if let Ok(false) = renew(&remote, &held, chrono_lease) {
                    return;
                }
            })
        };
        TeamGuard {
            remote,
            held: Some(held),
            stop,
            renewer: Some(renewer),
            state_dir: state_dir.to_path_buf(),
            live_before: fs::read(state_dir.join("live.json")).ok(),
        }
    }
}

impl Drop for TeamGuard {
    fn drop(&mut self) {
        {
            let (m, cv) = &*self.stop;
            *m.lock().expect("stop flag") = true;
            cv.notify_all();
        }
        if let Some(t) = self.renewer.take() {
            let _ = t.join();
        }
        // Under the team lock still: the live record this job changed.
        let live_now = fs::read(self.state_dir.join("live.json")).ok();
        if live_now.is_some() && live_now != self.live_before {
            let _ = fs::write(self.state_dir.join(LIVE_PENDING_FILE), b"");
            if self.held.is_some() {
                // Clears the mark once the team has it.
                let _ = publish_live(&self.remote, &self.state_dir);
            }
        }
        let Some(held) = &self.held else { return };
        if let Err(e) = release_job(&self.remote, held) {
            eprintln!("guardrail: the team lock was not released ({e}); it frees itself when its lease runs out");
        }
    }
}

/// The deploy lock for a job (SPEC §7, §10): the local kernel lock, then, in
/// team mode, the team lock (renewed while the job runs, released with the
/// local lock). With the remote unreachable the job is refused unless
/// `--offline`. When an expired team lock was taken over, the entry that
/// records it comes back with the lock, for the caller to record
/// (`deploy::take_lock` does): recording goes through the team chain, so
/// this module cannot call it.
pub fn acquire(
    repo: &Repo,
    cfg: &Config,
    info: LockInfo,
) -> Result<(DeployLock, Option<NewEntry>), LockError> {
    let mut local = lock::acquire(&repo.state.path, info.clone())?;
    let Some(remote) = Remote::of(repo, cfg) else {
        return Ok((local, None));
    };
    if cfg.team.offline {
        local.attach(Box::new(TeamGuard::offline(remote, &repo.state.path)));
        return Ok((local, None));
    }
    let (held, taken_over) = match acquire_job(&remote, &info, cfg.team.lease.0) {
        Ok(v) => v,
        Err(TeamError::Held(j)) => {
            return Err(LockError::Held(LockInfo {
                owner: format!("{}@{}", j.owner, j.host),
                action: j.action,
                target: j.target,
                pid: j.pid,
                since: j.since,
            }))
        }
        Err(TeamError::Frozen(f)) => {
            return Err(LockError::Frozen(FreezeInfo {
                owner: format!("{}@{}", f.owner, f.host),
                reason: f.reason,
                since: f.since,
            }))
        }
        Err(e @ TeamError::Unreachable { .. }) => {
            return Err(LockError::Team(format!(
                "{e}; {} is refused without the team lock (use --offline to act on this box alone)",
                info.action
            )))
        }
        Err(e) => return Err(LockError::Team(e.to_string())),
    };
    let takeover = taken_over.map(|old| {
        NewEntry::new(&info.owner, "lock-takeover", LOCK_REF, "OK").with_details(json!({
            "from": format!("{}@{}", old.owner, old.host),
            "action": old.action,
            "target": old.target,
            "pid": old.pid,
            "lease_until": old.lease_until.to_rfc3339(),
            "for": info.action,
        }))
    });
    local.attach(Box::new(TeamGuard::start(
        remote,
        held,
        cfg.team.lease.0,
        &repo.state.path,
    )));
    Ok((local, takeover))
}

/// Freeze deploys team-wide (`lock acquire` in team mode).
pub fn freeze(remote: &Remote, owner: &str, reason: &str) -> Result<TeamFreeze, TeamError> {
    let f = TeamFreeze {
        owner: owner.to_string(),
        host: host_name(),
        reason: reason.to_string(),
        since: Utc::now(),
    };
    update_lock(remote, |doc| {
        if let Some(old) = &doc.freeze {
            return Err(TeamError::Frozen(Box::new(old.clone())));
        }
        let mut new = doc.clone();
        new.freeze = Some(f.clone());
        Ok(new)
    })?;
    Ok(f)
}

/// Lift the team-wide freeze: its owner, or anyone with `force`.
pub fn unfreeze(remote: &Remote, who: &str, force: bool) -> Result<TeamFreeze, TeamError> {
    let mut lifted = None;
    update_lock(remote, |doc| {
        let Some(f) = &doc.freeze else {
            return Err(TeamError::NotFrozen);
        };
        if f.owner != who && !force {
            return Err(TeamError::NotFreezeOwner {
                freeze: Box::new(f.clone()),
                who: who.to_string(),
            });
        }
        lifted = Some(f.clone());
        let mut new = doc.clone();
        new.freeze = None;
        Ok(new)
    })?;
    lifted.ok_or(TeamError::NotFrozen)
}

// ---------------------------------------------------------- the audit chain

fn lock_file(state_dir: &Path, name: &str) -> Result<File, TeamError> {
    fs::create_dir_all(state_dir).map_err(io_err("create", state_dir))?;
    let path = state_dir.join(name);
    let f = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io_err("open", &path))?;
    f.lock().map_err(io_err("lock", &path))?;
    Ok(f)
}

/// The whole-line part of `bytes` (a torn tail left out).
fn whole_lines(bytes: &[u8]) -> &[u8] {
    match bytes.iter().rposition(|&b| b == b'\n') {
        Some(i) => &bytes[..=i],
        None => &[],
    }
}

fn last_line(bytes: &[u8]) -> Option<&[u8]> {
    let whole = whole_lines(bytes);
    if whole.is_empty() {
        return None;
    }
    let body = &whole[..whole.len() - 1];
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
    Some(&whole[start..])
}

fn read_or_empty(path: &Path) -> Result<Vec<u8>, TeamError> {
    match fs::read(path) {
        Ok(b) => Ok(b),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(io_err("read", path)(e)),
    }
}

/// Lines recorded on this box while the remote could not be reached.
pub fn pending_lines(state_dir: &Path) -> Result<Vec<Vec<u8>>, TeamError> {
    let bytes = read_or_empty(&state_dir.join(PENDING_FILE))?;
    Ok(whole_lines(&bytes)
        .split_inclusive(|&b| b == b'\n')
        .map(<[u8]>::to_vec)
        .collect())
}

fn chain_onto(chain: &mut Vec<u8>, entry: NewEntry) -> Result<Record, TeamError> {
    let recs = audit::chain_after(last_line(chain), entry).map_err(|message| TeamError::Bad {
        reference: AUDIT_REF,
        remote: String::new(),
        message,
    })?;
    for r in &recs {
        chain.extend_from_slice(r.to_line().as_bytes());
    }
    Ok(recs.into_iter().last().expect("at least the entry"))
}

/// The chain to build on: the remote chain with what waited on this box.
/// An empty remote takes this box's chain as the team's first; lines that
/// waited go on verbatim when they chain onto the remote head (nobody else
/// appended meanwhile), else re-chained after it, marked offline with their
/// original time and seq.
fn combine(remote: &[u8], local: &[u8], pending: &[Vec<u8>]) -> Result<Vec<u8>, TeamError> {
    if remote.is_empty() {
        return Ok(whole_lines(local).to_vec());
    }
    // Lines already on the team chain (a box killed after its push, before
    // it cleared what waited) are not pushed twice.
    let pending: Vec<&Vec<u8>> = pending
        .iter()
        .filter(|p| memchr::memmem::find(remote, p).is_none())
        .collect();
    if pending.is_empty() {
        return Ok(remote.to_vec());
    }
    let mut verbatim = remote.to_vec();
    for p in &pending {
        verbatim.extend_from_slice(p);
    }
    if whole_lines(local) == verbatim.as_slice() {
        return Ok(verbatim);
    }
    let mut out = remote.to_vec();
    for p in pending {
        let Some(rec) = std::str::from_utf8(p)
            .ok()
            .and_then(|t| Record::parse(t).ok())
        else {
            continue;
        };
        let mut details = match rec.details {
            Value::Object(m) => m,
            other => {
                let mut m = serde_json::Map::new();
                m.insert("details".into(), other);
                m
            }
        };
        details.insert("offline".into(), Value::Bool(true));
        details.insert("offline_time".into(), Value::String(rec.time.clone()));
        details.insert("offline_seq".into(), Value::from(rec.seq));
        chain_onto(
            &mut out,
            NewEntry::new(&rec.actor, &rec.action, &rec.target, &rec.result)
                .with_details(Value::Object(details)),
        )?;
    }
    Ok(out)
}

/// Append `entry` (or, with `None`, just bring the chains together) on the
/// remote first, by compare-and-swap, then mirror the result locally.
fn push_chain(
    remote: &Remote,
    state_dir: &Path,
    entry: Option<NewEntry>,
) -> Result<(Option<Record>, Vec<u8>), TeamError> {
    let log = AuditLog::open(state_dir);
    for tries in 0..MAX_RACES {
        let current = remote.read(AUDIT_REF)?;
        let (oid, remote_bytes) = match &current {
            Some((o, b)) => (Some(o.as_str()), b.as_slice()),
            None => (None, &[][..]),
        };
        let pending = pending_lines(state_dir)?;
        let local = read_or_empty(&log.path())?;
        let mut chain = combine(remote_bytes, &local, &pending)?;
        let rec = match &entry {
            Some(e) => Some(chain_onto(&mut chain, e.clone())?),
            None => None,
        };
        if chain.as_slice() == remote_bytes {
            log.mirror(&chain)?;
            return Ok((rec, chain));
        }
        match remote.cas(AUDIT_REF, oid, Some(&chain))? {
            Cas::Done(_) => {
                log.mirror(&chain)?;
                if !pending.is_empty() {
                    let p = state_dir.join(PENDING_FILE);
                    fs::write(&p, b"").map_err(io_err("clear", &p))?;
                }
                return Ok((rec, chain));
            }
            Cas::Lost => backoff(tries),
        }
    }
    Err(TeamError::Contended {
        what: "appending to the audit chain",
        remote: remote.shown(),
        tries: MAX_RACES,
    })
}

/// Append to the audit chain (SPEC §8, §10): single-box mode appends to the
/// local file; team mode appends on the remote first and mirrors locally.
/// With `offline`, or the remote out of reach, the entry is appended
/// locally, marked `offline`, and waits in `team-pending.jsonl` for
/// [`sync`]: it is never lost.
pub fn append(
    state_dir: &Path,
    remote: Option<&Remote>,
    offline: bool,
    entry: NewEntry,
) -> Result<Record, AuditError> {
    let log = AuditLog::open(state_dir);
    let Some(remote) = remote else {
        return log.append(entry);
    };
    let team_lock = lock_file(state_dir, TEAM_AUDIT_LOCK);
    if !offline && team_lock.is_ok() {
        match push_chain(remote, state_dir, Some(entry.clone())) {
            Ok((Some(rec), _)) => return Ok(rec),
            Ok((None, _)) => unreachable!("an entry was given"),
            Err(TeamError::Audit(e)) => return Err(e),
            Err(_) => {}
        }
    }
    let mut entry = entry;
    if let Value::Object(m) = &mut entry.details {
        m.insert("offline".into(), Value::Bool(true));
    } else {
        entry.details = json!({ "offline": true, "details": entry.details });
    }
    let rec = log.append(entry)?;
    let path = state_dir.join(PENDING_FILE);
    let mut f = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
        .map_err(|source| {
            AuditError::Io(super::common::IoError::new("open", path.clone(), source))
        })?;
    f.write_all(rec.to_line().as_bytes())
        .and_then(|_| f.sync_data())
        .map_err(|source| {
            AuditError::Io(super::common::IoError::new("write", path.clone(), source))
        })?;
    drop(team_lock);
    Ok(rec)
}

// ---------------------------------------------------------- the live record

/// Push this box's `live.json` to `refs/guardrail/live`.
pub fn publish_live(remote: &Remote, state_dir: &Path) -> Result<(), TeamError> {
    let path = state_dir.join("live.json");
    let bytes = read_or_empty(&path)?;
    for tries in 0..MAX_RACES {
        let current = remote.read(LIVE_REF)?;
        let done = current.as_ref().is_some_and(|(_, b)| *b == bytes)
            || remote.cas(
                LIVE_REF,
                current.as_ref().map(|c| c.0.as_str()),
                Some(&bytes),
            )? != Cas::Lost;
        if done {
            let _ = fs::remove_file(state_dir.join(LIVE_PENDING_FILE));
            return Ok(());
        }
        backoff(tries);
    }
    Err(TeamError::Contended {
        what: "publishing the live record",
        remote: remote.shown(),
        tries: MAX_RACES,
    })
}

/// Bring this box's live record up to the team's.
pub fn pull_live(remote: &Remote, state_dir: &Path) -> Result<bool, TeamError> {
    if state_dir.join(LIVE_PENDING_FILE).exists() {
        return Ok(false);
    }
    let Some((_, bytes)) = remote.read(LIVE_REF)? else {
        return Ok(false);
    };
    let path = state_dir.join("live.json");
    if read_or_empty(&path)? == bytes || serde_json::from_slice::<Value>(&bytes).is_err() {
        return Ok(false);
    }
    let mut tmp = tempfile::NamedTempFile::new_in(state_dir).map_err(io_err("write", &path))?;
    tmp.write_all(&bytes)
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(io_err("write", &path))?;
    tmp.persist(&path)
        .map_err(|e| io_err("write", &path)(e.error))?;
    Ok(true)
}

// ------------------------------------------------------ the box's team view

/// Read the team lock and live record from the remote into this box's
/// state directory: the lock into [`LOCK_CACHE_FILE`], the live record into
/// `live.json` (not while a job of this box holds the deploy lock: its own
/// record is published when it ends).
pub fn refresh(remote: &Remote, state_dir: &Path) -> Result<(), TeamError> {
    let lock = read_lock(remote)?;
    let path = state_dir.join(LOCK_CACHE_FILE);
    match lock {
        Some((_, doc)) => {
            let bytes = serde_json::to_vec_pretty(&doc).expect("a lock serialises");
            if read_or_empty(&path)? != bytes {
                let mut tmp =
                    tempfile::NamedTempFile::new_in(state_dir).map_err(io_err("write", &path))?;
                tmp.write_all(&bytes).map_err(io_err("write", &path))?;
                tmp.persist(&path)
                    .map_err(|e| io_err("write", &path)(e.error))?;
            }
        }
        None => match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &path)(e)),
        },
    }
    if lock::status(state_dir).held.is_none() {
        pull_live(remote, state_dir)?;
    }
    Ok(())
}

/// Refresh this box's team view every `every`, on a thread of its own, for
/// as long as the process lives.
pub fn spawn_refresher(remote: Remote, state_dir: PathBuf, every: Duration) {
    let _ = thread::Builder::new()
        .name("team-refresh".into())
        .spawn(move || loop {
            let _ = refresh(&remote, &state_dir);
            thread::sleep(every);
        });
}

/// Whether deploys are locked or frozen, here or (team mode, SPEC §10) by
/// the team lock as this box last saw it: what every screen and command
/// shows.
pub fn lock_status(state_dir: &Path) -> lock::LockStatus {
    let mut st = lock::status(state_dir);
    merge_cached(state_dir, &mut st);
    st
}

/// The team lock as this box last saw it: a job whose lease has not run out
/// shows as the holder (`alice@deploy-2`), a team-wide freeze as the freeze,
/// unless this box's own lock or freeze says more.
pub fn merge_cached(state_dir: &Path, st: &mut lock::LockStatus) {
    let Ok(bytes) = fs::read(state_dir.join(LOCK_CACHE_FILE)) else {
        return;
    };
    let Ok(doc) = serde_json::from_slice::<LockDoc>(&bytes) else {
        return;
    };
    if st.held.is_none() {
        if let Some(j) = doc.job.filter(|j| !j.expired(Utc::now())) {
            st.held = Some(LockInfo {
                owner: format!("{}@{}", j.owner, j.host),
                action: j.action,
                target: j.target,
                pid: j.pid,
                since: j.since,
            });
        }
    }
    if st.frozen.is_none() {
        if let Some(f) = doc.freeze {
            st.frozen = Some(FreezeInfo {
                owner: format!("{}@{}", f.owner, f.host),
                reason: f.reason,
                since: f.since,
            });
        }
    }
}

// ---------------------------------------------------------- sync and status

/// What `team sync` did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub remote: String,
    /// Entries that waited on this box and are now on the team chain.
    pub pushed_entries: usize,
    pub pushed_live: bool,
    pub pulled_live: bool,
    pub chain_lines: usize,
}

/// Push what waited on this box (audit entries, the live record), then
/// bring the local chain and live record up to the team's.
pub fn sync(repo: &Repo, cfg: &Config) -> Result<SyncReport, TeamError> {
    let remote = Remote::of(repo, cfg).ok_or_else(|| TeamError::Git {
        what: "team sync".into(),
        remote: "(none)".into(),
        message: "team mode is off ([team] remote is empty)".into(),
    })?;
    let state = &repo.state.path;
    fs::create_dir_all(state).map_err(io_err("create", state))?;
    let _l = lock_file(state, TEAM_AUDIT_LOCK)?;
    let waiting = pending_lines(state)?.len();
    let (_, chain) = push_chain(&remote, state, None)?;
    let live_waiting = state.join(LIVE_PENDING_FILE).exists();
    if live_waiting {
        publish_live(&remote, state)?;
    }
    let pulled_live = pull_live(&remote, state)?;
    refresh(&remote, state)?;
    Ok(SyncReport {
        remote: remote.shown(),
        pushed_entries: waiting,
        pushed_live: live_waiting,
        pulled_live,
        chain_lines: chain.iter().filter(|&&b| b == b'\n').count(),
    })
}

/// Whether anything waits on this box to be pushed.
pub fn has_pending(state_dir: &Path) -> bool {
    pending_lines(state_dir).is_ok_and(|p| !p.is_empty())
        || state_dir.join(LIVE_PENDING_FILE).exists()
}

/// `guardrail team status`.
#[derive(Debug, Clone, Serialize)]
pub struct TeamStatus {
    pub remote: String,
    pub reachable: bool,
    pub error: Option<String>,
    pub lock: Option<LockDoc>,
    pub lock_expired: bool,
    pub chain_lines: Option<usize>,
    pub chain_head: Option<Value>,
    pub live: Option<Value>,
    pub waiting_entries: usize,
    pub waiting_live: bool,
}

pub fn status(repo: &Repo, cfg: &Config) -> Option<TeamStatus> {
    let remote = Remote::of(repo, cfg)?;
    let state = &repo.state.path;
    let mut st = TeamStatus {
        remote: remote.shown(),
        reachable: false,
        error: None,
        lock: None,
        lock_expired: false,
        chain_lines: None,
        chain_head: None,
        live: None,
        waiting_entries: pending_lines(state).map(|p| p.len()).unwrap_or(0),
        waiting_live: state.join(LIVE_PENDING_FILE).exists(),
    };
    let mut read = || -> Result<(), TeamError> {
        let lock = read_lock(&remote)?;
        st.reachable = true;
        if let Some((_, doc)) = lock {
            st.lock_expired = doc.job.as_ref().is_some_and(|j| j.expired(Utc::now()));
            st.lock = Some(doc);
        }
        if let Some((_, bytes)) = remote.read(AUDIT_REF)? {
            st.chain_lines = Some(bytes.iter().filter(|&&b| b == b'\n').count());
            if let Some(line) = last_line(&bytes) {
                let seq = std::str::from_utf8(line)
                    .ok()
                    .and_then(|t| Record::parse(t).ok())
                    .map(|r| r.seq);
                st.chain_head = Some(json!({"seq": seq, "hash": audit::sha256_hex(line)}));
            }
        } else {
            st.chain_lines = Some(0);
        }
        if let Some((_, bytes)) = remote.read(LIVE_REF)? {
            st.live = serde_json::from_slice(&bytes).ok();
        }
        Ok(())
    };
    if let Err(e) = read() {
        st.error = Some(e.to_string());
    }
    Some(st)
}

/// Team mode as `guardrail status` shows it: only what this box knows
/// without asking the remote (`team status` asks it).
#[derive(Debug, Clone, Serialize)]
pub struct LocalView {
    pub remote: String,
    /// The team lock as this box last fetched it (a deploy, `team sync`,
    /// the console's refresher); `null` when it was free then, or never
    /// fetched.
    pub lock: Option<LockDoc>,
    /// The cached lock's job lease has run out.
    pub lock_expired: bool,
    /// Audit entries made on this box and not yet on the team chain.
    pub waiting_entries: usize,
    /// This box's live record waits to be published.
    pub waiting_live: bool,
    /// The team chain is never read by `status`: always `not fetched`
    /// (`guardrail team status` reads it).
    pub chain: &'static str,
}

/// [`LocalView`] for `repo`, `None` when team mode is off. Reads only the
/// state directory: no network call.
pub fn local_view(repo: &Repo, cfg: &Config) -> Option<LocalView> {
    let remote = Remote::of(repo, cfg)?;
    let state = &repo.state.path;
    let lock = fs::read(state.join(LOCK_CACHE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice::<LockDoc>(&b).ok());
    Some(LocalView {
        remote: remote.shown(),
        lock_expired: lock
            .as_ref()
            .and_then(|d| d.job.as_ref())
            .is_some_and(|j| j.expired(Utc::now())),
        lock,
        waiting_entries: pending_lines(state).map(|p| p.len()).unwrap_or(0),
        waiting_live: state.join(LIVE_PENDING_FILE).exists(),
        chain: "not fetched",
    })
}

/// The team chain checked (`audit verify` in team mode): its report, and
/// whether the local file is a prefix of it (lines waiting to sync aside).
pub fn verify_remote(
    repo: &Repo,
    cfg: &Config,
    checkpoint: Option<&audit::Checkpoint>,
) -> Result<Option<(audit::VerifyReport, bool, usize)>, TeamError> {
    let Some(remote) = Remote::of(repo, cfg) else {
        return Ok(None);
    };
    let bytes = remote.read(AUDIT_REF)?.map(|c| c.1).unwrap_or_default();
    let dir = tempfile::tempdir()
        .map_err(io_err("create a temporary directory in", Path::new("/tmp")))?;
    let copy = dir.path().join(audit::AUDIT_FILE);
    fs::write(&copy, &bytes).map_err(io_err("write", &copy))?;
    let report = AuditLog::open(dir.path()).verify(checkpoint)?;
    let local = read_or_empty(&AuditLog::open(&repo.state.path).path())?;
    let pending = pending_lines(&repo.state.path)?;
    let waiting: usize = pending.iter().map(Vec::len).sum();
    let base = &local[..local.len().saturating_sub(waiting)];
    let prefix =
        bytes.starts_with(base) && (waiting == 0 || local[base.len()..] == pending.concat()[..]);
    Ok(Some((report, prefix, pending.len())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn last_line_is_the_last_whole_line() {
        assert_eq!(last_line(b"a\nb\n"), Some(&b"b\n"[..]));
        assert_eq!(last_line(b"a\nb\nto"), Some(&b"b\n"[..]));
        assert_eq!(last_line(b"a\n"), Some(&b"a\n"[..]));
        assert_eq!(last_line(b""), None);
    }

    fn line(chain: &mut Vec<u8>, target: &str) -> Vec<u8> {
        let before = chain.len();
        chain_onto(chain, NewEntry::new("a", "test", target, "OK")).unwrap();
        chain[before..].to_vec()
    }

    #[test]
    fn waiting_lines_go_on_verbatim_when_nobody_appended_meanwhile() {
        let mut remote = Vec::new();
        line(&mut remote, "one");
        let mut local = remote.clone();
        let waiting = vec![line(&mut local, "offline-1"), line(&mut local, "offline-2")];
        assert_eq!(combine(&remote, &local, &waiting).unwrap(), local);
        // Already pushed (a box killed before it cleared them): not again.
        assert_eq!(combine(&local, &local, &waiting).unwrap(), local);
        // An empty remote takes this box's chain whole.
        assert_eq!(combine(&[], &local, &waiting).unwrap(), local);
    }

    #[test]
    fn waiting_lines_are_chained_after_the_winner_marked_offline() {
        let mut remote = Vec::new();
        line(&mut remote, "one");
        let mut local = remote.clone();
        let waiting = vec![line(&mut local, "offline-1")];
        line(&mut remote, "other-box");
        let out = combine(&remote, &local, &waiting).unwrap();
        assert!(out.starts_with(&remote));
        let last = Record::parse(std::str::from_utf8(last_line(&out).unwrap()).unwrap()).unwrap();
        assert_eq!(last.seq, 3);
        assert_eq!(last.target, "offline-1");
        assert_eq!(last.details["offline"], true);
        assert_eq!(last.details["offline_seq"], 2);
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join(audit::AUDIT_FILE), &out).unwrap();
        assert!(AuditLog::open(dir.path()).verify(None).unwrap().is_intact());
    }

    #[test]
    fn an_empty_lock_document_deletes_the_ref() {
        assert!(LockDoc::default().bytes().is_none());
    }
}

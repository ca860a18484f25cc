//! One deploy or rollback at a time per repository (SPEC §7).
//!
//! Two separate mechanisms live in the state directory:
//!
//! * The **deploy lock**: an exclusive, non-blocking `flock` on
//!   `<state_dir>/deploy.lock`, held by the running job for its whole life.
//!   The kernel releases it when the holder exits or dies, so it is never
//!   stale, and the file itself is never deleted. Who holds it (owner,
//!   action, target, pid, since) is written to `<state_dir>/deploy.lock.json`
//!   (mode 0644) once the lock is held, for everyone to read; whether the
//!   lock is *really* held is always decided by probing the `flock`, never by
//!   that file.
//! * The **freeze**: `<state_dir>/freeze.json`, set by hand (`guardrail lock
//!   acquire`) and staying until released by its owner, or forced by a
//!   release manager (the caller checks that right and records it). While a
//!   freeze is on, [`acquire`] refuses everyone but the freeze's owner.
//!
//! Probing ([`status`]) takes a shared `flock` for an instant; an
//! [`acquire`] racing with a probe retries for about 100 ms before reporting
//! the lock held, so a probe is not mistaken for a holder.

use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::thread;
use std::time::Duration;

use super::common::{self, IoError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The lock file (never deleted).
pub const LOCK_FILE: &str = "deploy.lock";
/// Who holds the lock, written by the holder.
pub const LOCK_INFO_FILE: &str = "deploy.lock.json";
/// The manual freeze.
pub const FREEZE_FILE: &str = "freeze.json";

/// Who holds the deploy lock and for what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LockInfo {
    /// Login name of the person or agent acting.
    pub owner: String,
    /// `deploy`, `rollback`, …
    pub action: String,
    /// Branch or tag acted on.
    pub target: String,
    pub pid: u32,
    pub since: DateTime<Utc>,
}

impl LockInfo {
    /// Info for the current process, starting now.
    pub fn new(owner: &str, action: &str, target: &str) -> LockInfo {
        LockInfo {
            owner: owner.to_string(),
            action: action.to_string(),
            target: target.to_string(),
            pid: std::process::id(),
            since: Utc::now(),
        }
    }

    fn unknown() -> LockInfo {
        LockInfo {
            owner: "an unknown holder".into(),
            action: "unknown action".into(),
            target: "unknown target".into(),
            pid: 0,
            since: DateTime::<Utc>::UNIX_EPOCH,
        }
    }
}

impl fmt::Display for LockInfo {
    /// `alice (deploy of feature-x, pid 123, since 14:02 UTC)`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} ({} of {}, pid {}, since {})",
            self.owner,
            self.action,
            self.target,
            self.pid,
            since(&self.since)
        )
    }
}

/// A manual deploy freeze.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FreezeInfo {
    pub owner: String,
    pub reason: String,
    pub since: DateTime<Utc>,
}

impl fmt::Display for FreezeInfo {
    /// `bob since 14:02 UTC: database migration`
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} since {}", self.owner, since(&self.since))?;
        if !self.reason.is_empty() {
            write!(f, ": {}", self.reason)?;
        }
        Ok(())
    }
}

/// `14:02 UTC` today, `2025-11-13 14:02 UTC` on another day.
fn since(t: &DateTime<Utc>) -> String {
    if t.date_naive() == Utc::now().date_naive() {
        t.format("%H:%M UTC").to_string()
    } else {
        t.format("%Y-%m-%d %H:%M UTC").to_string()
    }
}

/// Why the lock could not be taken or the freeze changed.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another job holds the deploy lock.
    #[error("the deploy lock is held by {0}")]
    Held(LockInfo),
    /// Deploys are frozen by hand.
    #[error("deploys are frozen by {0}")]
    Frozen(FreezeInfo),
    /// `unfreeze` by someone else without force.
    #[error("only {} (who froze deploys) or a release manager forcing it can lift the freeze; {who} cannot", info.owner)]
    NotFreezeOwner { info: FreezeInfo, who: String },
    /// Team mode (SPEC §10): the team lock could not be taken (remote
    /// unreachable, lost to another box); refused, exit 3.
    #[error("{0}")]
    Team(String),
    /// `unfreeze` with no freeze on.
    #[error("deploys are not frozen")]
    NotFrozen,
    /// File system trouble in the state directory.
    #[error(transparent)]
    Io(#[from] IoError),
}

impl LockError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

fn io_err<'a>(what: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> LockError + 'a {
    common::io_err(what, path)
}

/// The held deploy lock; released (by the kernel) when dropped or when the
/// process ends.
#[derive(Debug)]
pub struct DeployLock {
    file: File,
    info_path: PathBuf,
    info: LockInfo,
    /// The team lock (SPEC §10) held with this one, released first.
    team: Option<Box<dyn fmt::Debug + Send>>,
}

impl DeployLock {
    /// Hold `guard` (the team lock) as long as this lock; it is dropped
    /// before the kernel lock is released.
    pub fn attach(&mut self, guard: Box<dyn fmt::Debug + Send>) {
        self.team = Some(guard);
    }

    /// What was written beside the lock.
    pub fn info(&self) -> &LockInfo {
        &self.info
    }

    /// Release now (same as dropping).
    pub fn release(self) {}
}

impl Drop for DeployLock {
    fn drop(&mut self) {
        drop(self.team.take());
        // Remove the info while still holding the lock, so a new holder's
        // info is never removed by us.
        let _ = fs::remove_file(&self.info_path);
        let _ = self.file.unlock();
    }
}

/// Lock and freeze state, as anyone may read it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LockStatus {
    /// The running job holding the deploy lock.
    pub held: Option<LockInfo>,
    /// The manual freeze.
    pub frozen: Option<FreezeInfo>,
}

impl LockStatus {
    /// Neither held nor frozen.
    pub fn is_free(&self) -> bool {
        self.held.is_none() && self.frozen.is_none()
    }
}

impl fmt::Display for LockStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.held, &self.frozen) {
            (None, None) => write!(f, "free"),
            (Some(h), None) => write!(f, "held by {h}"),
            (None, Some(z)) => write!(f, "frozen by {z}"),
            (Some(h), Some(z)) => write!(f, "held by {h}; frozen by {z}"),
        }
    }
}

fn write_json_0644<T: Serialize>(path: &Path, value: &T) -> Result<PathBuf, LockError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".tmp-")
        .tempfile_in(dir)
        .map_err(io_err("create a file in", dir))?;
    let text = serde_json::to_string_pretty(value).expect("serialises") + "\n";
    tmp.write_all(text.as_bytes())
        .and_then(|_| tmp.as_file().sync_all())
        .map_err(io_err("write", tmp.path()))?;
    fs::set_permissions(tmp.path(), fs::Permissions::from_mode(0o644))
        .map_err(io_err("set permissions on", tmp.path()))?;
    let (_, tmp_path) = tmp
        .keep()
        .map_err(|e| LockError::Io(IoError::new("keep", path.to_path_buf(), e.error)))?;
    Ok(tmp_path)
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> io::Result<Option<T>> {
    match fs::read_to_string(path) {
        Ok(text) => serde_json::from_str(&text)
            .map(Some)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The freeze, if one is on. An unreadable `freeze.json` counts as a freeze
/// by an unknown owner (refusing is the safe side).
pub fn freeze_status(state_dir: &Path) -> Option<FreezeInfo> {
    let path = state_dir.join(FREEZE_FILE);
    match read_json::<FreezeInfo>(&path) {
        Ok(f) => f,
        Err(e) => Some(FreezeInfo {
            owner: "an unknown owner".into(),
            reason: format!("{} is unreadable: {e}", path.display()),
            since: DateTime::<Utc>::UNIX_EPOCH,
        }),
    }
}

fn holder_info(state_dir: &Path) -> LockInfo {
    // The holder writes its info just after taking the lock; give it a
    // moment when we catch it in between.
    for _ in 0..10 {
        if let Ok(Some(info)) = read_json::<LockInfo>(&state_dir.join(LOCK_INFO_FILE)) {
            return info;
        }
        thread::sleep(Duration::from_millis(20));
    }
    LockInfo::unknown()
}

/// Take the deploy lock without waiting. Refused with
/// [`LockError::Frozen`] while a freeze by someone other than `info.owner`
/// is on, and with [`LockError::Held`] (naming the holder) while another
/// job holds it.
pub fn acquire(state_dir: &Path, info: LockInfo) -> Result<DeployLock, LockError> {
    let frozen_for_us = || freeze_status(state_dir).filter(|f| f.owner != info.owner);
    if let Some(f) = frozen_for_us() {
        return Err(LockError::Frozen(f));
    }
    fs::create_dir_all(state_dir).map_err(io_err("create", state_dir))?;
    let path = state_dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .mode(0o644)
        .open(&path)
        .map_err(io_err("open", &path))?;
    let mut attempts = 0;
    loop {
        match file.try_lock() {
            Ok(()) => break,
            Err(fs::TryLockError::WouldBlock) => {
                attempts += 1;
                if attempts >= 5 {
                    return Err(LockError::Held(holder_info(state_dir)));
                }
                thread::sleep(Duration::from_millis(20));
            }
            Err(fs::TryLockError::Error(e)) => return Err(io_err("lock", &path)(e)),
        }
    }
    // A freeze set while we were taking the lock still wins.
    if let Some(f) = frozen_for_us() {
        return Err(LockError::Frozen(f));
    }
    let info_path = state_dir.join(LOCK_INFO_FILE);
    let tmp = write_json_0644(&info_path, &info)?;
    fs::rename(&tmp, &info_path).map_err(io_err("write", &info_path))?;
    Ok(DeployLock {
        file,
        info_path,
        info,
        team: None,
    })
}

/// Whether this box's deploy lock is held (probed with `flock`, so a dead
/// holder never shows) and whether deploys are frozen here. With the team
/// lock as this box last saw it: `team::lock_status`.
pub fn status(state_dir: &Path) -> LockStatus {
    LockStatus {
        held: probe_held(state_dir),
        frozen: freeze_status(state_dir),
    }
}

fn probe_held(state_dir: &Path) -> Option<LockInfo> {
    let file = File::open(state_dir.join(LOCK_FILE)).ok()?;
    match file.try_lock_shared() {
        Ok(()) => {
            let _ = file.unlock();
            None
        }
        Err(_) => Some(holder_info(state_dir)),
    }
}

/// Freeze deploys by hand until [`unfreeze`]. Refused with
/// [`LockError::Frozen`] when already frozen.
pub fn freeze(state_dir: &Path, owner: &str, reason: &str) -> Result<FreezeInfo, LockError> {
    fs::create_dir_all(state_dir).map_err(io_err("create", state_dir))?;
    let info = FreezeInfo {
        owner: owner.to_string(),
        reason: reason.to_string(),
        since: Utc::now(),
    };
    let path = state_dir.join(FREEZE_FILE);
    let tmp = write_json_0644(&path, &info)?;
    // hard_link fails if freeze.json exists: an atomic create-if-absent
    // that never exposes a half-written file.
    let linked = fs::hard_link(&tmp, &path);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(info),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            Err(LockError::Frozen(freeze_status(state_dir).unwrap_or(info)))
        }
        Err(e) => Err(io_err("create", &path)(e)),
    }
}

/// Lift the freeze. Only its owner may, unless `force` (the caller checks
/// that `who` is a release manager and records the forced release).
/// Returns the freeze that was lifted.
pub fn unfreeze(state_dir: &Path, who: &str, force: bool) -> Result<FreezeInfo, LockError> {
    let path = state_dir.join(FREEZE_FILE);
    let Some(info) = freeze_status(state_dir) else {
        return Err(LockError::NotFrozen);
    };
    if info.owner != who && !force {
        return Err(LockError::NotFreezeOwner {
            info,
            who: who.to_string(),
        });
    }
    match fs::remove_file(&path) {
        Ok(()) => Ok(info),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(LockError::NotFrozen),
        Err(e) => Err(io_err("remove", &path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn held_message_is_a_sentence() {
        let now = Utc::now();
        let info = LockInfo {
            owner: "alice".into(),
            action: "deploy".into(),
            target: "feature-x".into(),
            pid: 123,
            since: now,
        };
        assert_eq!(
            LockError::Held(info).to_string(),
            format!(
                "the deploy lock is held by alice (deploy of feature-x, pid 123, since {} UTC)",
                now.format("%H:%M")
            )
        );
    }
}

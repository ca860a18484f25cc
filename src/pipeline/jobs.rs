//! Jobs (SPEC §1, §8): one running gate, deploy, rollback or verification,
//! with a journal under `<state>/jobs/<id>/`: `job.json` (who, what, when,
//! how it ended) and `output.log` (the full, masked output).
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error("could not write the job journal {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl JobError {
    /// The exit code a command ends with on this error (SPEC §6): bad input.
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        exit::BAD_INPUT
    }
}

/// How a job stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Running,
    /// Ended; `result` says how (PASS, FAIL, TIMEOUT, …).
    Done,
    /// Its process died without ending it.
    Aborted,
}

/// `job.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobRecord {
    pub id: String,
    /// gate, deploy, rollback, verify.
    pub kind: String,
    pub target: String,
    pub actor: String,
    pub pid: u32,
    pub started: DateTime<Utc>,
    pub state: JobState,
    pub ended: Option<DateTime<Utc>>,
    pub result: Option<String>,
    pub summary: Option<String>,
    /// The running script: its pid (= its process group) and path, so an
    /// orphan can be ended when the job is found aborted.
    #[serde(default)]
    pub script: Option<(u32, String)>,
    /// Start times (`/proc/<pid>/stat` field 22, clock ticks after boot) of
    /// the job's process and of its script: with the pid, they name the
    /// process for good (a pid reused by another program has another
    /// start time).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid_start: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub script_start: Option<u64>,
}

/// A job being run by this process.
#[derive(Debug)]
pub struct Job {
    pub dir: PathBuf,
    pub record: JobRecord,
}

fn jobs_dir(state: &Path) -> PathBuf {
    state.join("jobs")
}

/// Finished jobs (done or aborted) whose directory — journal and full log —
/// is kept. When a new job starts, older finished ones are removed, so the
/// state directory does not grow with every gate run (a gate that prints a
/// million lines leaves a 70 MB log) and the console, which reads every
/// journal when it starts, starts as fast after a year as on the first day.
/// The audit chain keeps every job's record and its log's sha256, and a
/// handoff package keeps its own copy of its gate's log.
pub const KEEP_FINISHED: usize = 100;

impl Job {
    /// Creates `<state>/jobs/<id>/` and its journal.
    pub fn create(state: &Path, kind: &str, target: &str, actor: &str) -> Result<Job, JobError> {
        let now = Utc::now();
        // The OS's random source; should it fail, the clock's nanoseconds
        // still tell two jobs of the same second apart.
        let suffix: u32 =
            getrandom::u32().unwrap_or_else(|_| now.timestamp_subsec_nanos()) % 0x10000;
        let id = format!(
            "{}-{kind}-{}-{suffix:04x}",
            now.format("%Y%m%dT%H%M%S"),
            super::checkout::slug(target)
        );
        let dir = jobs_dir(state).join(&id);
        std::fs::create_dir_all(&dir).map_err(|e| JobError::Io {
            path: dir.display().to_string(),
            source: e,
        })?;
        let job = Job {
            dir,
            record: JobRecord {
                id,
                kind: kind.into(),
                target: target.into(),
                actor: actor.into(),
                pid: std::process::id(),
                started: now,
                state: JobState::Running,
                ended: None,
                result: None,
                summary: None,
                script: None,
                pid_start: start_time(std::process::id()),
                script_start: None,
            },
        };
        job.save()?;
        prune(state, KEEP_FINISHED);
        Ok(job)
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.join("output.log")
    }

    /// Notes the script now running for this job.
    pub fn set_script(&mut self, pid: u32, path: &str) -> Result<(), JobError> {
        self.record.script = Some((pid, path.to_string()));
        self.record.script_start = start_time(pid);
        self.save()
    }

    /// Marks the job ended with `result` and a one-line summary.
    pub fn finish(&mut self, result: &str, summary: &str) -> Result<(), JobError> {
        self.record.state = JobState::Done;
        self.record.ended = Some(Utc::now());
        self.record.result = Some(result.into());
        self.record.summary = Some(summary.into());
        self.save()
    }

    fn save(&self) -> Result<(), JobError> {
        let path = self.dir.join("job.json");
        let io = |e| JobError::Io {
            path: path.display().to_string(),
            source: e,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&self.dir).map_err(io)?;
        let body = serde_json::to_vec_pretty(&self.record).expect("a job record serialises");
        tmp.write_all(&body).map_err(io)?;
        tmp.as_file().sync_all().map_err(io)?;
        tmp.persist(&path).map_err(|e| io(e.error))?;
        Ok(())
    }
}

/// Every job journal, newest first. Unreadable journals are skipped.
pub fn list(state: &Path) -> Vec<JobRecord> {
    scan(state).0.into_iter().map(|(_, rec)| rec).collect()
}

/// One pass over the jobs directory: each job directory with its journal,
/// newest first (directories whose journal cannot be read are skipped),
/// and the pruned directories not yet deleted.
fn scan(state: &Path) -> (Vec<(PathBuf, JobRecord)>, Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(jobs_dir(state)) else {
        return (Vec::new(), Vec::new());
    };
    let mut journals: Vec<(PathBuf, JobRecord)> = Vec::new();
    let mut trash = Vec::new();
    for e in rd.flatten() {
        if e.file_name().to_string_lossy().starts_with(PRUNED) {
            trash.push(e.path());
            continue;
        }
        let Ok(bytes) = std::fs::read(e.path().join("job.json")) else {
            continue;
        };
        if let Ok(rec) = serde_json::from_slice(&bytes) {
            journals.push((e.path(), rec));
        }
    }
    journals.sort_by(|(_, a), (_, b)| b.started.cmp(&a.started).then_with(|| b.id.cmp(&a.id)));
    (journals, trash)
}

/// Nice the calling thread to 19, for work nobody waits on (Linux sets nice
/// per thread; elsewhere it would be the whole process, so it is left
/// alone).
pub fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on the calling thread's own id.
    unsafe {
        let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
        libc::setpriority(libc::PRIO_PROCESS, tid, 19);
    }
}

/// Name prefix of a pruned job directory waiting to be deleted.
const PRUNED: &str = ".pruned-";

/// Removes the directories of finished jobs beyond the newest `keep` (by
/// start time); returns how many went. Running jobs and directories whose
/// journal cannot be read are left alone, and a directory another process
/// removed first is no error.
///
/// A directory is first renamed out of the way (at once: nothing lists it
/// again), then deleted on a thread of its own, so that the job being
/// started — a rollback, say — never waits for gigabytes of old logs to be
/// unlinked; that thread runs at nice 19. Deletions cut short (the process
/// exited) are finished by the next prune.
pub fn prune(state: &Path, keep: usize) -> usize {
    let dir = jobs_dir(state);
    let (journals, mut trash) = scan(state);
    let before = trash.len();
    for (path, _) in journals
        .into_iter()
        .filter(|(_, j)| j.state != JobState::Running)
        .skip(keep)
    {
        let Some(name) = path.file_name() else {
            continue;
        };
        let to = dir.join(format!("{PRUNED}{}", name.to_string_lossy()));
        if std::fs::rename(&path, &to).is_ok() {
            trash.push(to);
        }
    }
    let pruned = trash.len() - before;
    if !trash.is_empty() {
        let _ = std::thread::Builder::new()
            .name("gr-prune".into())
            .spawn(move || {
                // The job just started comes first.
                lower_thread_priority();
                for path in trash {
                    let _ = std::fs::remove_dir_all(path);
                }
            });
    }
    pruned
}

/// The fields of `/proc/<pid>/stat` after the command name (which may hold
/// spaces and parentheses): `[0]` the state, `[2]` the process group,
/// `[11]` and `[12]` user and system time in clock ticks. `None` when there
/// is no such process.
pub fn proc_stat(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, after) = stat.rsplit_once(')')?;
    Some(after.split_whitespace().map(str::to_string).collect())
}

/// When `pid` started (`/proc/<pid>/stat` field 22, clock ticks after
/// boot); `None` when there is no such process.
pub fn start_time(pid: u32) -> Option<u64> {
    proc_stat(pid)?.get(19)?.parse().ok()
}

/// Whether the process that runs job `rec` is alive: the same pid with the
/// same start time, not a zombie. A pid reused by another program (even
/// one whose command line says `guardrail`) does not count. Journals
/// written before start times were kept fall back to [`guardrail_alive`].
pub fn job_alive(rec: &JobRecord) -> bool {
    let Some(start) = rec.pid_start else {
        return guardrail_alive(rec.pid);
    };
    match proc_stat(rec.pid) {
        Some(f) => {
            !f.first().is_some_and(|state| state.starts_with('Z'))
                && f.get(19).and_then(|t| t.parse::<u64>().ok()) == Some(start)
        }
        None => false,
    }
}

/// Whether `pid` is a live guardrail process (not a zombie, not a reused
/// pid of some other program).
pub fn guardrail_alive(pid: u32) -> bool {
    match proc_stat(pid) {
        Some(f) if !f.first().is_some_and(|state| state.starts_with('Z')) => {}
        _ => return false,
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("guardrail"))
        .unwrap_or(false)
}

/// Every job journal, newest first (as [`list`]), after those whose
/// journal says running but whose process is gone (killed, the box
/// rebooted) are marked aborted; also returns the jobs so aborted, so the
/// caller can record and say so. The journals are read once.
pub fn reconcile(state: &Path) -> (Vec<JobRecord>, Vec<JobRecord>) {
    let mut jobs = list(state);
    let mut aborted = Vec::new();
    for rec in &mut jobs {
        if rec.state != JobState::Running || job_alive(rec) {
            continue;
        }
        let mut job = Job {
            dir: jobs_dir(state).join(&rec.id),
            record: rec.clone(),
        };
        job.record.state = JobState::Aborted;
        if let Some((pid, path)) = &job.record.script {
            if job.record.script_start.is_none() {
                end_orphan(*pid, path);
            }
        }
        job.record.ended = Some(Utc::now());
        job.record.result = Some("ABORTED".into());
        job.record.summary = Some(format!(
            "process {} ended without finishing the job",
            job.record.pid
        ));
        if job.save().is_ok() {
            *rec = job.record.clone();
            aborted.push(job.record);
        }
    }
    (jobs, aborted)
}

/// The journal of job `id` and its log path.
pub fn find(state: &Path, id: &str) -> Option<(JobRecord, PathBuf)> {
    let dir = jobs_dir(state).join(id);
    let rec: JobRecord = serde_json::from_slice(&std::fs::read(dir.join("job.json")).ok()?).ok()?;
    Some((rec, dir.join("output.log")))
}

/// [`reconcile`], and each aborted job recorded in the audit chain: every
/// job as it now stands, and one line per aborted job to show the user.
pub fn reconcile_and_record(
    repo: &super::repo::Repo,
    cfg: &super::config::Config,
) -> (Vec<JobRecord>, Vec<String>) {
    use super::audit::NewEntry;
    let (jobs, aborted) = reconcile(&repo.state.path);
    let notes = aborted
        .into_iter()
        .map(|j| {
            let _ = super::record::record(
                repo,
                cfg,
                NewEntry::new(&j.actor, &j.kind, &j.target, "ABORTED")
                    .with_details(serde_json::json!({ "job": j.id, "pid": j.pid })),
            );
            format!(
                "job {} ({} of {} by {}) was left running by process {} that is gone: marked aborted",
                j.id, j.kind, j.target, j.actor, j.pid
            )
        })
        .collect();
    (jobs, notes)
}

/// Ends the process group of an aborted job's script — only if `pid` still
/// leads its own group and runs that script (a reused pid is left alone).
fn end_orphan(pid: u32, script: &str) {
    let Some(fields) = proc_stat(pid) else {
        return;
    };
    let pgrp: Option<u32> = fields.get(2).and_then(|p| p.parse().ok());
    let name = std::path::Path::new(script)
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).into_owned())
        .unwrap_or_default();
    if pgrp != Some(pid) || name.is_empty() || !cmdline.contains(&name) {
        return;
    }
    // SAFETY: signals to a process group we checked is the job's script.
    unsafe {
        libc::kill(-(pid as i32), libc::SIGTERM);
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    unsafe {
        libc::kill(-(pid as i32), libc::SIGKILL);
    }
}

/// The processes still running of job `rec`'s script: its process group,
/// while that group is still the script's — the leader alive with the
/// recorded start time, or the leader gone and members that started no
/// earlier than it (a group id is not reused while a member lives, and a
/// new group with that id would have its leader, with another start time).
/// Zombies do not count: they run nothing. Empty for a journal without the
/// script's start time (see [`end_orphan`]) or for a job still running.
pub fn leftover_processes(rec: &JobRecord) -> Vec<u32> {
    leftover_in(rec, &ProcTable::read())
}

fn leftover_in(rec: &JobRecord, table: &ProcTable) -> Vec<u32> {
    let (Some((pgid, _)), Some(start)) = (&rec.script, rec.script_start) else {
        return Vec::new();
    };
    if let Some(t) = start_time(*pgid) {
        if t != start {
            return Vec::new();
        }
    }
    table
        .0
        .iter()
        .filter(|p| p.pgrp == *pgid && p.start >= start)
        .map(|p| p.pid)
        .collect()
}

/// One process as `/proc` shows it.
struct Proc {
    pid: u32,
    pgrp: u32,
    start: u64,
}

/// Every live (not zombie) process, read once from `/proc`, so that many
/// journals are checked with one pass.
struct ProcTable(Vec<Proc>);

impl ProcTable {
    fn read() -> ProcTable {
        let Ok(rd) = std::fs::read_dir("/proc") else {
            return ProcTable(Vec::new());
        };
        let mut out = Vec::new();
        for e in rd.flatten() {
            let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let Some(f) = proc_stat(pid) else { continue };
            let zombie = f
                .first()
                .is_some_and(|s| s.starts_with('Z') || s.starts_with('X'));
            let pgrp = f.get(2).and_then(|p| p.parse::<u32>().ok());
            let start = f.get(19).and_then(|t| t.parse::<u64>().ok());
            if let (false, Some(pgrp), Some(start)) = (zombie, pgrp, start) {
                out.push(Proc { pid, pgrp, start });
            }
        }
        ProcTable(out)
    }

    /// Read only when some journal can have leftovers: a dead job whose
    /// script is known by its start time.
    fn for_jobs<'a>(jobs: impl IntoIterator<Item = &'a JobRecord>) -> ProcTable {
        let needed = jobs.into_iter().any(|j| {
            j.script.is_some() && j.script_start.is_some() && j.state != JobState::Running
        });
        if needed {
            ProcTable::read()
        } else {
            ProcTable(Vec::new())
        }
    }
}

/// Ends the leftover processes of a dead job's script (see
/// [`leftover_processes`]): SIGTERM to the group, up to 2 s for it to go,
/// then SIGKILL, up to 2 s more. Returns the pids found at first and
/// whether they are all gone.
pub fn end_leftover_processes(rec: &JobRecord) -> (Vec<u32>, bool) {
    end_found(rec, leftover_processes(rec))
}

fn end_found(rec: &JobRecord, found: Vec<u32>) -> (Vec<u32>, bool) {
    let Some((pgid, _)) = &rec.script else {
        return (found, true);
    };
    if found.is_empty() {
        return (found, true);
    }
    let pgid = *pgid as i32;
    for sig in [libc::SIGTERM, libc::SIGKILL] {
        // SAFETY: a signal to a process group checked to be the job's
        // script's (same start times) just above.
        unsafe {
            libc::kill(-pgid, sig);
        }
        let until = std::time::Instant::now() + std::time::Duration::from_secs(2);
        while std::time::Instant::now() < until {
            if leftover_processes(rec).is_empty() {
                return (found, true);
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
    let gone = leftover_processes(rec).is_empty();
    (found, gone)
}

/// Whether process `pid` exists and is not a zombie.
fn pid_alive(pid: u32) -> bool {
    proc_stat(pid).is_some_and(|f| !f.first().is_some_and(|s| s.starts_with('Z')))
}

/// The owner pid in a leftover's name: `.site.incoming-<pid>`,
/// `.site.old-<pid>`, `pending-<tag>-<pid>.zip`,
/// `.pending-<tag>-<pid>.zip.<random>.tmp`, `rollback-<pid>-<random>`.
fn leftover_owner(name: &str, site: Option<&str>) -> Option<u32> {
    if let Some(site) = site {
        for kind in ["incoming", "old"] {
            if let Some(pid) = name.strip_prefix(&format!(".{site}.{kind}-")) {
                return pid.parse().ok();
            }
        }
    }
    if let Some(rest) = name.strip_prefix("pending-") {
        return rest.strip_suffix(".zip")?.rsplit_once('-')?.1.parse().ok();
    }
    if let Some(rest) = name.strip_prefix(".pending-") {
        let (stem, _) = rest.split_once(".zip.")?;
        return stem.rsplit_once('-')?.1.parse().ok();
    }
    if let Some(rest) = name.strip_prefix("rollback-") {
        return rest.split_once('-')?.0.parse().ok();
    }
    None
}

/// Removes what killed or failed deploys and rollbacks left behind — the
/// publish directory's `.<name>.incoming-<pid>` / `.<name>.old-<pid>`, the
/// staged `backups/pending-<tag>-<pid>.zip` (and its temporary), the
/// `rollback-<pid>-*` restore directories in the state directory — but
/// only those whose owning process is gone: a running job's are never
/// touched. Returns one line per removed path.
pub fn remove_leftover_files(repo: &super::repo::Repo, cfg: &super::config::Config) -> Vec<String> {
    use super::config::resolve;
    let mut places: Vec<(PathBuf, Option<String>)> = vec![
        (resolve(&repo.root, &cfg.project.backups_dir), None),
        (repo.state.path.clone(), None),
    ];
    let publish = cfg.live.publish_dir.trim();
    if !publish.is_empty() {
        let target = resolve(&repo.root, publish);
        if let (Some(parent), Some(name)) = (target.parent(), target.file_name()) {
            places.push((
                parent.to_path_buf(),
                Some(name.to_string_lossy().into_owned()),
            ));
        }
    }
    let me = std::process::id();
    let mut removed = Vec::new();
    for (dir, site) in places {
        let Ok(rd) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = leftover_owner(&name, site.as_deref()) else {
                continue;
            };
            if pid == me || pid_alive(pid) {
                continue;
            }
            let path = e.path();
            let gone = match e.file_type() {
                Ok(t) if t.is_dir() => std::fs::remove_dir_all(&path),
                _ => std::fs::remove_file(&path),
            };
            if gone.is_ok() {
                removed.push(path.display().to_string());
            }
        }
    }
    removed
}

/// Everything a dead job left: [`reconcile_and_record`], then the process
/// groups of finished and aborted jobs' scripts ended ([`end_leftover_processes`]) and
/// their leftover files removed ([`remove_leftover_files`]), each recorded
/// in the audit chain. Returns every job as it now stands and one line per
/// thing done, to show the user. Run at start and, under the deploy lock,
/// before a deploy or rollback changes anything.
pub fn clean_up_dead_jobs(
    repo: &super::repo::Repo,
    cfg: &super::config::Config,
) -> (Vec<JobRecord>, Vec<String>) {
    use super::audit::NewEntry;
    let (jobs, aborted) = reconcile(&repo.state.path);
    let table = ProcTable::for_jobs(&jobs);
    let mut notes = Vec::new();
    let mut done: Vec<String> = Vec::new();
    for j in aborted {
        // Its script's processes are ended first, and recorded with it.
        let (found, gone) = end_found(&j, leftover_in(&j, &table));
        let _ = super::record::record(
            repo,
            cfg,
            NewEntry::new(&j.actor, &j.kind, &j.target, "ABORTED").with_details(
                serde_json::json!({
                    "job": j.id,
                    "pid": j.pid,
                    "ended": found,
                    "all_ended": gone,
                }),
            ),
        );
        let ended = if found.is_empty() {
            String::new()
        } else if gone {
            format!("; its processes {found:?} were ended")
        } else {
            format!("; its processes {found:?} could NOT be ended")
        };
        notes.push(format!(
            "job {} ({} of {} by {}) was left running by process {} that is gone: marked aborted{ended}",
            j.id, j.kind, j.target, j.actor, j.pid
        ));
        done.push(j.id);
    }
    let actor = repo.user(cfg).name;
    for j in jobs
        .iter()
        .filter(|j| j.state != JobState::Running && !done.contains(&j.id))
    {
        let found = leftover_in(j, &table);
        if found.is_empty() {
            continue;
        }
        let (found, gone) = end_found(j, found);
        let _ = super::record::record(
            repo,
            cfg,
            NewEntry::new(&actor, "cleanup", &j.id, if gone { "OK" } else { "FAILED" })
                .with_details(serde_json::json!({
                    "job": j.id,
                    "kind": j.kind,
                    "process_group": j.script.as_ref().map(|s| s.0),
                    "pids": found,
                })),
        );
        let pids: Vec<String> = found.iter().map(u32::to_string).collect();
        notes.push(if gone {
            format!(
                "ended the processes left running by the finished job {} ({} of {}, {}): {}",
                j.id,
                j.kind,
                j.target,
                j.result.as_deref().unwrap_or("aborted"),
                pids.join(", ")
            )
        } else {
            format!(
                "could not end the processes left running by the finished job {}: {}",
                j.id,
                pids.join(", ")
            )
        });
    }
    let removed = remove_leftover_files(repo, cfg);
    if !removed.is_empty() {
        let _ = super::record::record(
            repo,
            cfg,
            NewEntry::new(&actor, "cleanup", "leftovers", "OK")
                .with_details(serde_json::json!({ "removed": removed })),
        );
        for r in removed {
            notes.push(format!("removed {r}, left by a job that is gone"));
        }
    }
    (jobs, notes)
}

/// The finished or aborted jobs whose script still has processes running
/// (see [`leftover_processes`]), with those pids.
pub fn any_leftover_processes(state: &Path) -> Vec<(JobRecord, Vec<u32>)> {
    let jobs: Vec<JobRecord> = list(state)
        .into_iter()
        .filter(|j| j.state != JobState::Running)
        .collect();
    let table = ProcTable::for_jobs(&jobs);
    jobs.into_iter()
        .map(|j| {
            let p = leftover_in(&j, &table);
            (j, p)
        })
        .filter(|(_, p)| !p.is_empty())
        .collect()
}

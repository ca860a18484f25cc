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
        let suffix: u32 = rand::random::<u32>() % 0x10000;
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
        if rec.state != JobState::Running || guardrail_alive(rec.pid) {
            continue;
        }
        let mut job = Job {
            dir: jobs_dir(state).join(&rec.id),
            record: rec.clone(),
        };
        job.record.state = JobState::Aborted;
        if let Some((pid, path)) = &job.record.script {
            end_orphan(*pid, path);
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

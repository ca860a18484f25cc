//! Jobs: journals under the state directory, `guardrail jobs`, attach, and
//! a job whose process was killed marked aborted on the next start.
use crate::common;
use common::*;

use std::process::Stdio;

fn with_gate(script: &str) -> Fixture {
    let f = mosaic_repo();
    f.checkout(mosaic::AUTH_MODAL);
    f.write_script("scripts/run_deploy_gate.sh", script);
    f.commit("gate");
    f.checkout("main");
    f
}

#[test]
fn finished_jobs_are_listed_and_attach_prints_their_output() {
    let f = with_gate("#!/bin/bash\necho checking\necho 'DEPLOY GATE: PASS'\n");
    let out = f.guardrail(&["gate", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&f.guardrail(&["jobs", "--json"]));
    let job = &j[0];
    assert_eq!(job["kind"], "gate");
    assert_eq!(job["target"], mosaic::AUTH_MODAL);
    assert_eq!(job["state"], "done");
    assert_eq!(job["result"], "PASS");
    let id = job["id"].as_str().unwrap();
    let out = f.guardrail(&["jobs", "attach", id]);
    assert_eq!(out.status.code(), Some(0));
    let s = stdout(&out);
    assert!(
        s.contains("DEPLOY GATE: PASS") && s.contains("ended"),
        "{s}"
    );
    let text = stdout(&f.guardrail(&["jobs"]));
    assert!(text.contains("PASS") && text.contains(id), "{text}");
    let out = f.guardrail(&["jobs", "attach", "nope"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn a_killed_job_is_marked_aborted_and_recorded() {
    let f = mosaic_repo();
    let pidfile = f.tempdir().join("gate.pid");
    f.checkout(mosaic::AUTH_MODAL);
    f.write_script(
        "scripts/run_deploy_gate.sh",
        format!(
            "#!/bin/bash\necho $$ > {}\necho started\nsleep 30\n",
            pidfile.display()
        ),
    );
    f.commit("gate");
    f.checkout("main");
    let mut child = f
        .guardrail_cmd(&["gate", mosaic::AUTH_MODAL])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the journal says running, with its script started.
    let deadline = std::time::Instant::now() + secs(10);
    loop {
        let j = json(&f.guardrail(&["jobs", "--json"]));
        if j.as_array().is_some_and(|a| {
            !a.is_empty() && a[0]["state"] == "running" && !a[0]["script"].is_null()
        }) {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the job never started: {j}"
        );
        std::thread::sleep(millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let out = f.guardrail(&["jobs"]);
    assert!(stderr(&out).contains("marked aborted"), "{}", stderr(&out));
    // The listing that found it shows it aborted, not running.
    let listed = stdout(&out);
    assert!(
        listed.contains("ABORTED") && !listed.contains("running"),
        "{listed}"
    );
    let j = json(&f.guardrail(&["jobs", "--json"]));
    assert_eq!(j[0]["state"], "aborted");
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["result"], "ABORTED");
    assert_eq!(recs[0]["action"], "gate");
    // Reconciled once: a second look records nothing new.
    let n = json(&f.guardrail(&["audit", "show", "-n", "100", "--json"]))
        .as_array()
        .unwrap()
        .len();
    f.guardrail(&["jobs"]);
    let n2 = json(&f.guardrail(&["audit", "show", "-n", "100", "--json"]))
        .as_array()
        .unwrap()
        .len();
    assert_eq!(n, n2);
    // The orphaned script's process group was ended by the reconciliation.
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let deadline = std::time::Instant::now() + secs(5);
    while process_alive(pid) && std::time::Instant::now() < deadline {
        std::thread::sleep(millis(50));
    }
    let alive = process_alive(pid);
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
    }
    assert!(!alive, "the aborted job's script was left running");
}

#[test]
fn a_gate_goes_on_and_is_recorded_when_the_terminal_hangs_up() {
    let f = with_gate("#!/bin/bash\necho started\nsleep 2\necho 'DEPLOY GATE: PASS'\n");
    let mut t = f.console(&[], 100, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.send("g");
    t.wait_for("started", secs(10)).unwrap();
    t.signal(libc::SIGHUP);
    // The console outlives the hang-up until the gate has ended.
    std::thread::sleep(millis(500));
    assert!(t.try_exit().is_none(), "the console ended before its job");
    assert_eq!(t.wait_exit(secs(15)), Some(0));
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["action"], "gate");
    assert_eq!(recs[0]["result"], "PASS");
    let j = json(&f.guardrail(&["jobs", "--json"]));
    assert_eq!(j[0]["result"], "PASS");
}

const ASKING_GATE: &str = "#!/bin/bash\nfor q in 'PS101 flow walked?' 'Auth modal opens?'; do\n  printf '%s [yes/no/n/a]: ' \"$q\"\n  read -r a || exit 1\n  [ \"$a\" = yes ] || exit 1\ndone\necho 'DEPLOY GATE: PASS'\n";

#[test]
fn a_new_console_attaches_to_a_job_left_waiting_and_answers_it() {
    let f = with_gate(ASKING_GATE);
    let mut first = f.console(&[], 100, 30);
    first.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    first.send("g");
    first
        .wait_for("answer: PS101 flow walked?", secs(10))
        .unwrap();
    // SSH drops: the gate waits at its prompt.
    first.signal(libc::SIGHUP);
    std::thread::sleep(millis(300));
    assert!(first.try_exit().is_none(), "the job must go on");

    let mut second = f.console(&[], 100, 30);
    second
        .wait_for("attached to tester's job", secs(10))
        .unwrap();
    second
        .wait_for("answer: PS101 flow walked?", secs(10))
        .unwrap();
    second.send("yes\r");
    second
        .wait_for("answer: Auth modal opens?", secs(10))
        .unwrap();
    second.send("yes\r");
    second.wait_for("DEPLOY GATE: PASS", secs(10)).unwrap();
    second.wait_for("✅", secs(10)).unwrap();
    assert_eq!(first.wait_exit(secs(10)), Some(0));
    second.send_esc();
    second.send_q();
    assert_eq!(second.wait_exit(secs(10)), Some(0));
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["result"], "PASS");
}

#[test]
fn jobs_attach_answers_from_its_input() {
    let f = with_gate(ASKING_GATE);
    let mut first = f.console(&[], 100, 30);
    first.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    first.send("g");
    first
        .wait_for("answer: PS101 flow walked?", secs(10))
        .unwrap();
    first.signal(libc::SIGHUP);
    let j = json(&f.guardrail(&["jobs", "--json"]));
    let id = j[0]["id"].as_str().unwrap().to_string();
    let mut child = f
        .guardrail_cmd(&["jobs", "attach", &id])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(b"yes\n").unwrap();
        std::thread::sleep(millis(400));
        stdin.write_all(b"yes\n").unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    assert!(s.contains("PS101 flow walked? [yes/no/n/a]:"), "{s}");
    assert!(
        s.contains("DEPLOY GATE: PASS") && s.contains("ended"),
        "{s}"
    );
    assert_eq!(first.wait_exit(secs(10)), Some(0));
}

/// SSH drops in the middle of a release run from the console: the playbook
/// goes on to its end — gate, deploy, verification, tag — and is recorded.
#[test]
fn a_release_goes_on_when_the_terminal_hangs_up_mid_deploy() {
    let live = common::live::live_repo("");
    let f = &live.f;
    // The slow gate is main's: a branch changing it would wait for a
    // release manager's acknowledgement (the guard line).
    f.write_script(
        "scripts/run_deploy_gate.sh",
        "#!/bin/bash\necho checking\nsleep 2\necho 'DEPLOY GATE: PASS'\n",
    );
    f.commit("slow gate");
    f.checkout_new("feature/slow");
    f.write(mosaic::MOSAIC_UI, common::live::good_page("slow"));
    f.commit("slow page");
    package(f, "feature/slow", &Pkg::default());
    let mut t = f.console(&[], 140, 40);
    t.wait_for("feature/slow", secs(15)).unwrap();
    t.wait_for("✓ ready    feature/slow", secs(15)).unwrap();
    t.send("/slow\r");
    t.wait_for("Branches (1 of 4)", secs(5)).unwrap();
    t.send("d");
    t.wait_for("Verify evidence: what and why", secs(5))
        .unwrap();
    t.send("a");
    t.wait_for("checking", secs(15)).unwrap();
    t.signal(libc::SIGHUP);
    assert_eq!(t.wait_exit(secs(40)), Some(0));
    assert!(f
        .git(&["tag", "-l", "prod-2025-11-14"])
        .contains("prod-2025-11-14"));
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["action"], "release");
    assert_eq!(recs[0]["result"], "OK");
}

/// A new job removes the directories of finished jobs beyond the newest
/// hundred, oldest first; a running job, a directory whose journal cannot be
/// read, and the new job itself stay.
#[test]
fn a_new_job_removes_finished_jobs_beyond_the_newest_hundred() {
    use guardrail::pipeline::jobs::{self, Job, JobState, KEEP_FINISHED};
    let state = tempfile::tempdir().unwrap();
    let running = Job::create(state.path(), "gate", "feature/old", "ana").unwrap();
    let stray = state.path().join("jobs").join("not-a-job");
    std::fs::create_dir_all(&stray).unwrap();
    std::fs::write(stray.join("job.json"), "{ torn").unwrap();
    let mut finished = Vec::new();
    for i in 0..KEEP_FINISHED + 5 {
        let mut job =
            Job::create(state.path(), "gate", &format!("feature/b{i:03}"), "ana").unwrap();
        std::fs::write(job.log_path(), format!("gate {i}: PASS\n")).unwrap();
        job.finish("PASS", "gate PASS").unwrap();
        finished.push(job.dir.clone());
    }
    let newest = Job::create(state.path(), "gate", "feature/new", "ana").unwrap();

    for (i, dir) in finished.iter().enumerate() {
        assert_eq!(dir.exists(), i >= 5, "finished job {i}: {}", dir.display());
    }
    assert!(running.dir.join("job.json").exists());
    assert!(stray.join("job.json").exists());
    assert!(newest.dir.join("job.json").exists());
    let listed = jobs::list(state.path());
    assert_eq!(
        listed.iter().filter(|j| j.state == JobState::Done).count(),
        KEEP_FINISHED
    );
    assert_eq!(
        listed
            .iter()
            .filter(|j| j.state == JobState::Running)
            .count(),
        2
    );
    assert_eq!(jobs::prune(state.path(), KEEP_FINISHED), 0);
    assert_eq!(jobs::prune(state.path(), 10), KEEP_FINISHED - 10);
    assert!(
        finished[KEEP_FINISHED + 4].exists(),
        "the newest finished job stays"
    );

    // Pruned directories are deleted off the caller's thread; one whose
    // deletion was cut short (journal and all) is neither listed nor left.
    let jobs_dir = state.path().join("jobs");
    let cut_short = jobs_dir.join(".pruned-20200101T000000-gate-x-0000");
    std::fs::create_dir_all(&cut_short).unwrap();
    std::fs::copy(newest.dir.join("job.json"), cut_short.join("job.json")).unwrap();
    assert_eq!(jobs::list(state.path()).len(), 10 + 2);
    jobs::prune(state.path(), KEEP_FINISHED);
    let leftovers = || {
        std::fs::read_dir(&jobs_dir)
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with(".pruned-"))
            .count()
    };
    let deadline = std::time::Instant::now() + secs(10);
    while leftovers() > 0 && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(leftovers(), 0, "pruned directories left behind");
    // Ten finished, the running old job, the new one, the unreadable one.
    assert_eq!(std::fs::read_dir(&jobs_dir).unwrap().count(), 10 + 3);
}

/// A deploy script that waits before it publishes, like one waiting on a
/// slow CDN upload; `$PIDFILE` gets its pid.
const SLOW_DEPLOY: &str = r#"#!/bin/bash
echo $$ > "$PIDFILE"
echo "deploy: uploading"
sleep 6
cp -R "$GUARDRAIL_BUNDLE_DIR"/. "$SITE"/
echo "deploy: published"
"#;

/// `kill -9` of guardrail mid-deploy, then `rollback --yes`: the orphaned
/// deploy script is ended (and recorded) before the rollback runs, so it
/// never publishes the aborted build over the verified rollback; the staged
/// backup it left is removed.
#[test]
fn a_killed_deploys_orphan_is_ended_before_a_rollback_and_never_publishes() {
    use common::live::*;
    let l = live_repo("");
    let f = &l.f;
    f.checkout("main");
    f.write_script("scripts/deploy_now_zsh.sh", SLOW_DEPLOY);
    f.commit("a slow deploy script");
    feature_branch(f, "feature/slow", &good_page("slow"), NEXT_TAG);
    let pidfile = f.tempdir().join("deploy.pid");
    let mut child = f
        .guardrail_cmd(&["deploy", "feature/slow", "--yes"])
        .env("SITE", &l.site)
        .env("PIDFILE", &pidfile)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait for the script to run and the journal to name it.
    let deadline = std::time::Instant::now() + secs(30);
    loop {
        let j = json(&f.guardrail(&["jobs", "--json"]));
        let named = j.as_array().is_some_and(|a| {
            a.iter()
                .any(|j| j["kind"] == "deploy" && !j["script"].is_null())
        });
        if named && pidfile.exists() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no deploy script ran: {j}"
        );
        std::thread::sleep(millis(50));
    }
    let script: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    let killed = std::time::Instant::now();
    assert!(process_alive(script), "the script should outlive guardrail");
    let pending: Vec<String> = std::fs::read_dir(f.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("pending-"))
        .collect();
    assert_eq!(
        pending.len(),
        1,
        "the killed deploy staged a backup: {pending:?}"
    );

    let out = f
        .guardrail_cmd(&["rollback", mosaic::GOLDEN, "--yes", "--reason", "killed"])
        .env("SITE", &l.site)
        .output()
        .unwrap();
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(
        !process_alive(script),
        "the orphaned deploy script still runs"
    );
    assert!(text.contains("marked aborted; its processes"), "{text}");
    assert!(text.contains("left by a job that is gone"), "{text}");
    let aborted = common::live::audit_of(f, "deploy", "ABORTED");
    assert_eq!(aborted.len(), 1, "{aborted:?}");
    assert!(
        aborted[0]["details"]["ended"]
            .as_array()
            .unwrap()
            .contains(&serde_json::json!(script)),
        "{aborted:?}"
    );
    assert_eq!(aborted[0]["details"]["all_ended"], true);
    // Recorded before the rollback ran.
    let recs = common::live::audit_records(f);
    let a = recs.iter().position(|r| r["result"] == "ABORTED").unwrap();
    let r = recs
        .iter()
        .position(|r| r["action"] == "rollback" && r["result"] == "OK")
        .unwrap();
    assert!(a < r);
    let backups: Vec<String> = std::fs::read_dir(f.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        !backups.iter().any(|n| n.contains("pending-")),
        "{backups:?}"
    );
    // Long after the orphan's sleep would have ended, production still
    // serves the rollback.
    let wait = secs(8).saturating_sub(killed.elapsed());
    std::thread::sleep(wait);
    let live = live_record(f);
    assert_eq!(live["tag"], mosaic::GOLDEN);
    let served = std::fs::read(l.site.join("index.html")).unwrap();
    assert_eq!(build_ids(&served), vec![live["build_id"].as_str().unwrap()]);
    assert!(!String::from_utf8_lossy(&served).contains("slow"));
}

/// The start time of process `pid` (field 22 of its stat).
fn start_of(pid: u32) -> u64 {
    guardrail::pipeline::jobs::proc_stat(pid).unwrap()[19]
        .parse()
        .unwrap()
}

/// A journal saying "running" whose pid now belongs to another program —
/// even one whose command line says `guardrail` — is a dead job: the pid
/// alone, or the command line, never makes it alive. The other program is
/// left alone.
#[test]
fn a_reused_pid_does_not_keep_a_dead_job_alive() {
    let f = mosaic_repo();
    let mut vim = std::process::Command::new("bash")
        .args(["-c", "exec -a 'vim guardrail.toml' sleep 30"])
        .spawn()
        .unwrap();
    let pid = vim.id();
    std::thread::sleep(millis(100));
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    assert!(String::from_utf8_lossy(&cmdline).contains("guardrail"));
    let id = "20251114T120000-deploy-feature-x-0001";
    let dir = f.path().join(".git/guardrail/jobs").join(id);
    std::fs::create_dir_all(&dir).unwrap();
    let rec = serde_json::json!({
        "id": id, "kind": "deploy", "target": "feature/x", "actor": "tester",
        "pid": pid, "started": "2025-11-14T12:00:00Z", "state": "running",
        "ended": null, "result": null, "summary": null, "script": null,
        // The guardrail that ran the job started earlier than this pid's
        // present owner.
        "pid_start": start_of(pid) - 1000,
    });
    std::fs::write(dir.join("job.json"), rec.to_string()).unwrap();
    let out = f.guardrail(&["jobs"]);
    assert!(stderr(&out).contains("marked aborted"), "{}", stderr(&out));
    let j = json(&f.guardrail(&["jobs", "--json"]));
    assert_eq!(j[0]["state"], "aborted");
    assert!(process_alive(pid as i32), "another program was signalled");
    vim.kill().unwrap();
    vim.wait().unwrap();
}

/// Leftovers of dead jobs — a half-copied publish directory, a staged
/// backup, a rollback's restore directory — are removed at the next start
/// and said so; those of a running process are kept.
#[test]
fn leftovers_of_dead_jobs_are_removed_at_the_next_start() {
    use common::live::*;
    let l = live_repo("");
    let f = &l.f;
    let mut gone = std::process::Command::new("true").spawn().unwrap();
    let dead = gone.id();
    gone.wait().unwrap();
    let me = std::process::id();
    let parent = l.site.parent().unwrap().to_path_buf();
    let state = f.path().join(".git/guardrail");
    std::fs::create_dir_all(&state).unwrap();
    let dead_paths = [
        parent.join(format!(".site.incoming-{dead}")),
        parent.join(format!(".site.old-{dead}")),
        f.path()
            .join(format!("backups/pending-{NEXT_TAG}-{dead}.zip")),
        f.path()
            .join(format!("backups/.pending-{NEXT_TAG}-{dead}.zip.Ab12Cd.tmp")),
        state.join(format!("rollback-{dead}-Xy12Zw")),
    ];
    let live_paths = [
        parent.join(format!(".site.incoming-{me}")),
        f.path()
            .join(format!("backups/pending-{NEXT_TAG}-{me}.zip")),
        state.join(format!("rollback-{me}-Xy12Zw")),
    ];
    for p in dead_paths.iter().chain(&live_paths) {
        if p.extension().is_some_and(|x| x == "zip" || x == "tmp") {
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, b"zip").unwrap();
        } else {
            std::fs::create_dir_all(p.join("mosaic_ui")).unwrap();
            std::fs::write(p.join("mosaic_ui/index.html"), b"x").unwrap();
        }
    }
    let out = f.guardrail(&["jobs"]);
    let err = stderr(&out);
    for p in &dead_paths {
        assert!(!p.exists(), "{} was left", p.display());
        assert!(err.contains(&format!("removed {}", p.display())), "{err}");
    }
    for p in &live_paths {
        assert!(
            p.exists(),
            "{} of a running process was removed",
            p.display()
        );
    }
    let rec = common::live::audit_of(f, "cleanup", "OK");
    assert_eq!(rec.len(), 1);
    assert_eq!(rec[0]["details"]["removed"].as_array().unwrap().len(), 5);
}

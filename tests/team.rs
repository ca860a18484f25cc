//! Team mode (SPEC §10) against a real remote: a bare repository served by
//! `git daemon` on 127.0.0.1, several clones in temporary directories, the
//! real binary deploying to a real HTTP server.
use crate::common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::gitd::GitDaemon;
use common::live::*;
use common::*;
use guardrail::pipeline::audit::NewEntry;
use guardrail::pipeline::team::{self, Remote, AUDIT_REF, LIVE_REF, LOCK_REF};

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_else(|_| team::host_name())
}

fn lines(bytes: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(bytes)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn team_chain(d: &GitDaemon) -> Vec<serde_json::Value> {
    lines(&d.blob(AUDIT_REF).unwrap_or_default())
}

fn wait_for(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let end = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Three clones × 20 concurrent appends: the team chain holds exactly the
/// 60 entries after its genesis, each once; every clone's chain verifies
/// and is a prefix of the team's.
#[test]
fn concurrent_appends_from_three_clones_make_one_chain() {
    let d = GitDaemon::start();
    let clones: Vec<Fixture> = (0..3)
        .map(|_| {
            let f = Fixture::new();
            f.write_config(&format!("[team]\nremote = \"{}\"\n", d.url()));
            f.commit("team mode");
            f
        })
        .collect();
    std::thread::scope(|s| {
        for (c, f) in clones.iter().enumerate() {
            let state = f.path().join(".git/guardrail");
            for j in 0..20 {
                let remote = Remote {
                    name: d.url(),
                    dir: f.path().to_path_buf(),
                    timeout: std::time::Duration::from_secs(30),
                };
                let state = state.clone();
                s.spawn(move || {
                    team::append(
                        &state,
                        Some(&remote),
                        false,
                        NewEntry::new("tester", "test", &format!("c{c}-{j}"), "OK"),
                    )
                    .unwrap();
                });
            }
        }
    });
    let chain_bytes = d.blob(AUDIT_REF).expect("the team chain");
    let chain = lines(&chain_bytes);
    assert_eq!(chain.len(), 61, "genesis plus 60 entries");
    assert_eq!(chain[0]["action"], "genesis");
    let mut targets: Vec<String> = chain[1..]
        .iter()
        .map(|r| r["target"].as_str().unwrap().to_string())
        .collect();
    targets.sort();
    let mut want: Vec<String> = (0..3)
        .flat_map(|c| (0..20).map(move |j| format!("c{c}-{j}")))
        .collect();
    want.sort();
    assert_eq!(targets, want, "every entry once, none lost");
    for (i, r) in chain.iter().enumerate() {
        assert_eq!(r["seq"], i as u64);
        assert!(r["details"].get("offline").is_none(), "{r}");
    }
    for f in &clones {
        let local = std::fs::read(f.path().join(".git/guardrail/audit.jsonl")).unwrap();
        assert!(
            chain_bytes.starts_with(&local),
            "the local copy is a prefix"
        );
        let out = f.guardrail(&["audit", "verify", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
            .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&out), stderr(&out)));
        assert_eq!(out.status.code(), Some(0), "{doc}");
        assert_eq!(doc["team"]["intact"], true, "{doc}");
        assert_eq!(doc["team"]["lines"], 61, "{doc}");
        assert_eq!(doc["team"]["local_is_prefix"], true, "{doc}");
    }
    // A clone whose copy was changed is no prefix: verify says so (exit 1).
    let f = &clones[0];
    let p = f.path().join(".git/guardrail/audit.jsonl");
    let text = std::fs::read_to_string(&p).unwrap();
    std::fs::write(&p, text.replacen("genesis", "genesiz", 1)).unwrap();
    let out = f.guardrail(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stdout(&out).contains("NOT a prefix of the team chain"),
        "{}",
        stdout(&out)
    );
}

/// A deploy project with team mode on, and a second clone of it: two deploy
/// boxes. Main's prepare script waits while `<tmp>/hold` exists, so a
/// deploy can be held inside the lock.
struct Team {
    d: GitDaemon,
    l: Live,
    second: PathBuf,
    hold: PathBuf,
    _tmp: tempfile::TempDir,
}

fn team_project(lease: &str) -> Team {
    let d = GitDaemon::start();
    let tmp = tempfile::tempdir().unwrap();
    let hold = tmp.path().join("hold");
    let l = live_repo(&format!(
        "\n[scripts]\nprepare = \"scripts/prepare.sh\"\n\n[team]\nremote = \"{}\"\nlease = \"{lease}\"\n",
        d.url()
    ));
    let f = &l.f;
    f.write_script(
        "scripts/prepare.sh",
        format!(
            "#!/bin/bash\ntouch '{}.started'\nwhile [ -e '{}' ]; do sleep 0.05; done\nexit 0\n",
            hold.display(),
            hold.display()
        ),
    );
    f.commit("prepare: wait while held");
    feature_branch(f, "feature/good", &good_page("r4"), NEXT_TAG);
    feature_branch(f, "feature/other", &good_page("r5"), "prod-2025-11-16");
    f.checkout("main");
    let second = tmp.path().join("box2");
    let st = Command::new("git")
        .args(["clone", "-q"])
        .arg(f.path())
        .arg(&second)
        .envs(f.env())
        .status()
        .unwrap();
    assert!(st.success());
    for b in ["feature/good", "feature/other"] {
        git_in(f, &second, &["branch", b, &format!("origin/{b}")]);
    }
    Team {
        d,
        l,
        second,
        hold,
        _tmp: tmp,
    }
}

fn git_in(f: &Fixture, dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .envs(f.env())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn cmd_in(f: &Fixture, dir: &Path, args: &[&str]) -> Command {
    let mut cmd = guardrail_command(f.home(), &f.user(), dir);
    cmd.arg("-C").arg(dir).args(args);
    cmd
}

fn run_in(f: &Fixture, dir: &Path, args: &[&str]) -> Output {
    cmd_in(f, dir, args).output().unwrap()
}

fn spawn_held(t: &Team, dir: &Path, args: &[&str]) -> std::process::Child {
    use std::os::unix::process::CommandExt;
    std::fs::write(&t.hold, "").unwrap();
    let started = t.hold.with_extension("started");
    let _ = std::fs::remove_file(&started);
    let mut cmd = cmd_in(&t.l.f, dir, args);
    cmd.stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let child = cmd.spawn().unwrap();
    // Past the lock (whose push has been answered): in the prepare script.
    wait_for("the held job", secs(60), || started.exists());
    assert!(t.d.ref_value(LOCK_REF).is_some(), "the team lock is held");
    child
}

fn records(d: &GitDaemon, action: &str, result: &str) -> Vec<serde_json::Value> {
    team_chain(d)
        .into_iter()
        .filter(|r| r["action"] == action && r["result"] == result)
        .collect()
}

#[test]
fn two_boxes_deploying_at_once_one_is_refused_naming_the_holder() {
    let t = team_project("60s");
    let f = &t.l.f;
    let first = spawn_held(&t, f.path(), &["deploy", "feature/good", "--yes"]);
    let out = run_in(f, &t.second, &["deploy", "feature/other", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let holder = format!("{}@{}", f.user(), host());
    assert!(stderr(&out).contains(&holder), "{}", stderr(&out));
    // The other box sees the holder: `lock status` and the console header.
    let out = run_in(f, &t.second, &["lock", "status", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["held"]["owner"], holder, "{st}");
    assert_eq!(st["held"]["target"], "feature/good", "{st}");
    // `status --json` has the team lock as this box last fetched it.
    let out = run_in(f, &t.second, &["status", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        st["team"]["lock"]["job"]["target"], "feature/good",
        "{st:#}"
    );
    assert_eq!(st["team"]["lock_expired"], false, "{st:#}");
    let mut console = PtyCommand::new(guardrail_bin())
        .arg("-C")
        .arg(&t.second)
        .arg("--readonly")
        .cwd(&t.second)
        .size(160, 40);
    for k in ENV_REMOVE {
        console = console.env_remove(k);
    }
    let mut console = console.envs(f.env()).spawn();
    console
        .wait_for(&format!("🔒 {holder} deploy feature/good"), secs(20))
        .unwrap_or_else(|e| panic!("{e:?}"));
    console.send_q();
    assert_eq!(console.wait_exit(secs(10)), Some(0));
    std::fs::remove_file(&t.hold).unwrap();
    let out = first.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // The lock is free again, the refusal and the release are in the team
    // chain, and the team's live record is the release.
    assert_eq!(t.d.ref_value(LOCK_REF), None);
    assert_eq!(records(&t.d, "deploy", "REFUSED").len(), 1);
    let live: serde_json::Value = serde_json::from_slice(&t.d.blob(LIVE_REF).unwrap()).unwrap();
    assert_eq!(live["tag"], NEXT_TAG, "{live}");
    // The other box sees it after `team sync`; now it may deploy.
    let out = run_in(f, &t.second, &["team", "sync"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let second_live: serde_json::Value =
        serde_json::from_slice(&std::fs::read(t.second.join(".git/guardrail/live.json")).unwrap())
            .unwrap();
    assert_eq!(second_live["tag"], NEXT_TAG);
    let out = run_in(f, &t.second, &["team", "status", "--json"]);
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["reachable"], true, "{st}");
    assert_eq!(st["lock"], serde_json::Value::Null, "{st}");
    assert_eq!(st["live"]["tag"], NEXT_TAG, "{st}");
    // A rollback takes the same team lock and changes the team's record.
    let out = run_in(f, f.path(), &["rollback", "--yes", "--reason", "drill"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let live: serde_json::Value = serde_json::from_slice(&t.d.blob(LIVE_REF).unwrap()).unwrap();
    assert_eq!(live["action"], "rollback", "{live}");
    assert_eq!(records(&t.d, "rollback", "OK").len(), 1);
    assert_eq!(t.d.ref_value(LOCK_REF), None);
}

#[test]
fn a_killed_holder_is_taken_over_after_its_lease_and_the_takeover_recorded() {
    // A lease long enough for the refused attempt below to start within it
    // on a busy machine.
    let t = team_project("6s");
    let f = &t.l.f;
    let first = spawn_held(&t, f.path(), &["deploy", "feature/good", "--yes"]);
    // SIGKILL the holder and its prepare script: no release, no cleanup.
    unsafe {
        libc::kill(-(first.id() as i32), libc::SIGKILL);
    }
    let _ = first.wait_with_output();
    std::fs::remove_file(&t.hold).unwrap();
    let before = t.d.ref_value(LOCK_REF).expect("the dead holder's lock");
    // Within the lease: still refused.
    let out = run_in(f, &t.second, &["deploy", "feature/other", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // After the lease (as the dead holder last renewed it): taken over,
    // recorded, deployed once.
    let doc: serde_json::Value = serde_json::from_slice(&t.d.blob(LOCK_REF).unwrap()).unwrap();
    let until = chrono::DateTime::parse_from_rfc3339(doc["job"]["lease_until"].as_str().unwrap())
        .unwrap()
        .with_timezone(&chrono::Utc);
    let wait = (until - chrono::Utc::now()).to_std().unwrap_or_default();
    std::thread::sleep(wait + millis(300));
    let out = run_in(f, &t.second, &["deploy", "feature/other", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_ne!(t.d.ref_value(LOCK_REF), Some(before));
    let takeovers = records(&t.d, "lock-takeover", "OK");
    assert_eq!(takeovers.len(), 1, "{takeovers:?}");
    assert_eq!(
        takeovers[0]["details"]["from"],
        format!("{}@{}", f.user(), host())
    );
    assert_eq!(takeovers[0]["details"]["action"], "deploy");
    assert_eq!(takeovers[0]["details"]["target"], "feature/good");
    // Only the second deploy published: one release, the other branch's.
    let released = records(&t.d, "release", "OK");
    assert_eq!(released.len(), 1, "{released:?}");
    let live: serde_json::Value = serde_json::from_slice(&t.d.blob(LIVE_REF).unwrap()).unwrap();
    assert_eq!(live["branch"], "feature/other", "{live}");
}

#[test]
fn the_remote_going_away_mid_deploy_loses_nothing_and_sync_pushes_what_waited() {
    let t = team_project("60s");
    let f = &t.l.f;
    let first = spawn_held(&t, f.path(), &["deploy", "feature/good", "--yes"]);
    let chain_before = team_chain(&t.d).len();
    t.d.stop();
    std::fs::remove_file(&t.hold).unwrap();
    let out = first.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // While the remote is away, a new deploy is refused, naming it.
    let out = run_in(f, &t.second, &["deploy", "feature/other", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stderr(&out).contains(&t.d.url()), "{}", stderr(&out));
    assert!(stderr(&out).contains("--offline"), "{}", stderr(&out));
    // What the first box recorded waits locally, marked offline.
    let st = run_in(f, f.path(), &["team", "status", "--json"]);
    assert_eq!(st.status.code(), Some(3));
    let st: serde_json::Value = serde_json::from_slice(&st.stdout).unwrap();
    assert_eq!(st["reachable"], false, "{st}");
    let waiting = st["waiting_entries"].as_u64().unwrap();
    assert!(waiting >= 2, "{st}");
    assert_eq!(st["waiting_live"], true, "{st}");
    // `status` says so too, from this box alone: no call to the remote.
    let out = run_in(f, f.path(), &["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let team = &status["team"];
    assert_eq!(team["remote"], t.d.url(), "{team}");
    assert_eq!(team["waiting_entries"], waiting, "{team}");
    assert_eq!(team["waiting_live"], true, "{team}");
    assert_eq!(team["chain"], "not fetched", "{team}");
    let out = run_in(f, f.path(), &["status"]);
    assert!(
        stdout(&out).contains(&format!(
            "team: {}; {waiting} audit entries and the live record wait to sync; \
             the team chain is not fetched here",
            t.d.url()
        )),
        "{}",
        stdout(&out)
    );
    // Back: `team sync` pushes it all.
    t.d.restart();
    let out = run_in(f, f.path(), &["team", "sync", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let sync: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(sync["pushed_entries"], waiting, "{sync}");
    let chain = team_chain(&t.d);
    assert!(chain.len() >= chain_before + waiting as usize);
    // Nothing lost: the team chain is this box's chain, byte for byte.
    assert_eq!(
        t.d.blob(AUDIT_REF).unwrap(),
        std::fs::read(f.path().join(".git/guardrail/audit.jsonl")).unwrap()
    );
    let release = chain
        .iter()
        .find(|r| r["action"] == "release" && r["result"] == "OK")
        .expect("the release reached the team chain");
    assert_eq!(release["details"]["offline"], true, "{release}");
    let live: serde_json::Value = serde_json::from_slice(&t.d.blob(LIVE_REF).unwrap()).unwrap();
    assert_eq!(live["tag"], NEXT_TAG, "{live}");
    let out = run_in(f, f.path(), &["audit", "verify", "--json"]);
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0), "{doc}");
    assert_eq!(doc["team"]["local_is_prefix"], true, "{doc}");
    assert_eq!(doc["team"]["waiting"], 0, "{doc}");
}

#[test]
fn offline_deploys_only_with_offline_and_a_freeze_is_team_wide() {
    let t = team_project("60s");
    let f = &t.l.f;
    // A freeze by bob on one box stops everyone else on the other.
    let as_bob = |args: &[&str]| {
        guardrail_command(f.home(), "bob", f.path())
            .arg("-C")
            .arg(f.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = as_bob(&["lock", "acquire", "--reason", "migration"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = run_in(f, &t.second, &["deploy", "feature/other", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("frozen"), "{}", stderr(&out));
    assert!(stderr(&out).contains("migration"), "{}", stderr(&out));
    let out = run_in(f, &t.second, &["lock", "release"]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "only bob lifts it: {}",
        stderr(&out)
    );
    let out = as_bob(&["lock", "release"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(t.d.ref_value(LOCK_REF), None);
    // Remote away: refused, unless --offline.
    t.d.stop();
    let out = run_in(f, &t.second, &["deploy", "feature/other", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = run_in(
        f,
        &t.second,
        &["deploy", "feature/other", "--yes", "--offline"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    // The next start pushes what waited (here: `status`).
    t.d.restart();
    let out = run_in(f, &t.second, &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!team::has_pending(&t.second.join(".git/guardrail")));
    let released = records(&t.d, "release", "OK");
    assert_eq!(released.len(), 1);
    assert_eq!(released[0]["details"]["offline"], true);
}

/// Boxes killed with SIGKILL while appending (each loop records a refused
/// `lock release` again and again) leave the team chain intact, every
/// local copy a prefix, and the next append on each works.
#[test]
fn boxes_killed_mid_append_leave_a_valid_chain() {
    use std::os::unix::process::CommandExt;
    let d = GitDaemon::start();
    let clones: Vec<Fixture> = (0..2)
        .map(|_| {
            let f = Fixture::new();
            f.write_config(&format!("[team]\nremote = \"{}\"\n", d.url()));
            f.commit("team mode");
            f
        })
        .collect();
    let loops: Vec<std::process::Child> = clones
        .iter()
        .map(|f| {
            let mut cmd = Command::new("bash");
            apply_isolation(&mut cmd, f.home(), &f.user());
            cmd.arg("-c")
                .arg(format!(
                    "while :; do '{}' -C '{}' lock release >/dev/null 2>&1; done",
                    guardrail_bin().display(),
                    f.path().display()
                ))
                .stdin(Stdio::null())
                .process_group(0);
            cmd.spawn().unwrap()
        })
        .collect();
    wait_for("appends from both boxes", secs(60), || {
        team_chain(&d).len() >= 12
    });
    std::thread::sleep(millis(300));
    for mut c in loops {
        unsafe {
            libc::kill(-(c.id() as i32), libc::SIGKILL);
        }
        let _ = c.wait();
    }
    for f in &clones {
        let out = f.guardrail(&["lock", "release"]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    }
    let chain = team_chain(&d);
    for (i, r) in chain.iter().enumerate() {
        assert_eq!(r["seq"], i as u64, "{r}");
    }
    for f in &clones {
        let out = f.guardrail(&["audit", "verify", "--json"]);
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(0), "{doc}");
        assert_eq!(doc["team"]["intact"], true, "{doc}");
        assert_eq!(doc["team"]["local_is_prefix"], true, "{doc}");
    }
}

/// A remote that accepts the connection and never answers (a hung git
/// server, a black-holed proxy): each git call is ended after `[team]
/// timeout`, so a rollback is refused as "remote unreachable" (exit 3)
/// within seconds instead of hanging, and goes on with `--offline`.
#[test]
fn a_remote_that_never_answers_does_not_hang_a_rollback() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    // Accept every connection and hold it open, saying nothing.
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let l = live_repo(&format!(
        "\n[team]\nremote = \"git://127.0.0.1:{port}/team.git\"\ntimeout = \"1s\"\n"
    ));
    let f = &l.f;
    let started = Instant::now();
    let out = f.guardrail(&["rollback", "--yes"]);
    let took = started.elapsed();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("gave no answer within 1s"),
        "{}",
        stderr(&out)
    );
    assert!(
        took < secs(20),
        "the rollback waited {took:?} on a silent remote"
    );
    let out = f.guardrail(&["rollback", "--yes", "--offline"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
}

/// A token in `[team] remote` is never printed: not by `status` (text and
/// JSON), nor by `team status` when the remote cannot be reached.
#[test]
fn a_token_in_the_team_remote_url_is_never_shown() {
    let l = live_repo(
        "\n[team]\nremote = \"http://deployer:s3cretTok3nXYZ@127.0.0.1:1/x.git\"\ntimeout = \"5s\"\n",
    );
    let f = &l.f;
    for args in [
        &["status"][..],
        &["status", "--json"][..],
        &["team", "status"][..],
        &["team", "status", "--json"][..],
    ] {
        let out = f.guardrail(args);
        let all = format!("{}{}", stdout(&out), stderr(&out));
        assert!(
            !all.contains("s3cretTok3nXYZ"),
            "{args:?} showed the token:\n{all}"
        );
        assert!(
            all.contains("127.0.0.1:1"),
            "{args:?} names the remote:\n{all}"
        );
    }
}

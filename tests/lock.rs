//! The deploy lock across real processes, and the manual freeze.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use guardrail::pipeline::lock::{self, LockError, LockInfo};

const CHILD_ENV: &str = "GUARDRAIL_TEST_LOCK_CHILD";

fn spawn_child(mode: &str, dir: &Path) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--nocapture", "--test-threads=1", "--exact"])
        .arg(crate::common::test_name(module_path!(), "lock_child"))
        .env(CHILD_ENV, format!("{mode}:{}", dir.display()))
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

/// The first line the child reports, from its `CHILD ` marker on.
fn child_line(child: &mut Child) -> String {
    let out = child.stdout.as_mut().unwrap();
    let mut reader = BufReader::new(out);
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap() == 0 {
            panic!("child ended without reporting");
        }
        // libtest may print `test lock_child ... ` before it on the line.
        if let Some(at) = line.find("CHILD ") {
            return line[at..].trim_end().to_string();
        }
    }
}

/// Not a test on its own: the other process of the tests below.
#[test]
fn lock_child() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    let (mode, dir) = spec.split_once(':').unwrap();
    let dir = Path::new(dir);
    let mut out = std::io::stdout();
    match mode {
        "hold" => {
            let _held =
                lock::acquire(dir, LockInfo::new("bob", "rollback", "prod-2025-11-13")).unwrap();
            writeln!(out, "CHILD LOCKED").unwrap();
            out.flush().unwrap();
            std::thread::sleep(Duration::from_secs(60));
        }
        "try" => {
            match lock::acquire(dir, LockInfo::new("carol", "deploy", "feature-y")) {
                Ok(_) => writeln!(out, "CHILD ACQUIRED").unwrap(),
                Err(e) => writeln!(out, "CHILD REFUSED: {e}").unwrap(),
            }
            out.flush().unwrap();
        }
        other => panic!("unknown child mode {other}"),
    }
}

#[test]
fn second_acquire_from_another_process_is_refused_naming_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let held = lock::acquire(dir.path(), LockInfo::new("alice", "deploy", "feature-x")).unwrap();
    assert_eq!(held.info().owner, "alice");

    let mut child = spawn_child("try", dir.path());
    let line = child_line(&mut child);
    assert!(child.wait().unwrap().success());
    let expected = format!(
        "CHILD REFUSED: the deploy lock is held by alice (deploy of feature-x, pid {}, since ",
        std::process::id()
    );
    assert!(line.starts_with(&expected), "{line}");
    assert!(line.ends_with(" UTC)"), "{line}");

    // The info file is readable by everyone.
    let info = dir.path().join("deploy.lock.json");
    let mode = std::fs::metadata(&info).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o644);

    drop(held);
    assert!(
        dir.path().join("deploy.lock").exists(),
        "lock file is never deleted"
    );
    assert!(!info.exists());

    let mut child = spawn_child("try", dir.path());
    assert_eq!(child_line(&mut child), "CHILD ACQUIRED");
    child.wait().unwrap();
}

#[test]
fn holder_killed_with_sigkill_leaves_the_lock_free() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = spawn_child("hold", dir.path());
    assert_eq!(child_line(&mut child), "CHILD LOCKED");

    let st = lock::status(dir.path());
    let holder = st.held.clone().expect("held");
    assert_eq!(holder.owner, "bob");
    assert_eq!(holder.pid, child.id());
    assert!(st
        .to_string()
        .starts_with("held by bob (rollback of prod-2025-11-13"));

    match lock::acquire(dir.path(), LockInfo::new("alice", "deploy", "feature-x")) {
        Err(LockError::Held(info)) => assert_eq!(info.owner, "bob"),
        other => panic!("expected Held, got {other:?}"),
    }

    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    while lock::status(dir.path()).held.is_some() {
        assert!(Instant::now() < deadline, "lock still held after SIGKILL");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The dead holder's info file is stale but does not matter.
    assert!(lock::status(dir.path()).is_free());
    let l = lock::acquire(dir.path(), LockInfo::new("alice", "deploy", "feature-x")).unwrap();
    assert_eq!(lock::status(dir.path()).held.unwrap().owner, "alice");
    drop(l);
}

#[test]
fn same_process_second_acquire_is_refused_too() {
    let dir = tempfile::tempdir().unwrap();
    let _a = lock::acquire(dir.path(), LockInfo::new("alice", "deploy", "a")).unwrap();
    let err = lock::acquire(dir.path(), LockInfo::new("alice", "deploy", "b")).unwrap_err();
    assert!(
        matches!(err, LockError::Held(ref i) if i.target == "a"),
        "{err}"
    );
}

#[test]
fn freeze_refuses_acquire_and_only_its_owner_or_force_lifts_it() {
    let dir = tempfile::tempdir().unwrap();
    assert!(lock::status(dir.path()).is_free());
    let f = lock::freeze(dir.path(), "bob", "database migration").unwrap();
    assert_eq!(lock::status(dir.path()).frozen, Some(f.clone()));

    let err = lock::acquire(dir.path(), LockInfo::new("alice", "deploy", "feature-x")).unwrap_err();
    match &err {
        LockError::Frozen(info) => assert_eq!(info.owner, "bob"),
        other => panic!("expected Frozen, got {other:?}"),
    }
    let msg = err.to_string();
    assert!(msg.starts_with("deploys are frozen by bob since "), "{msg}");
    assert!(msg.ends_with("UTC: database migration"), "{msg}");
    // Nothing was locked by the refused attempt.
    assert!(lock::status(dir.path()).held.is_none());

    // The freeze's owner may still run a deploy.
    drop(lock::acquire(dir.path(), LockInfo::new("bob", "deploy", "hotfix")).unwrap());

    // A second freeze is refused naming the first.
    assert!(matches!(
        lock::freeze(dir.path(), "carol", "other"),
        Err(LockError::Frozen(ref i)) if i.owner == "bob"
    ));

    let err = lock::unfreeze(dir.path(), "alice", false).unwrap_err();
    assert!(matches!(err, LockError::NotFreezeOwner { .. }));
    assert!(err.to_string().contains("only bob"), "{err}");
    assert!(lock::status(dir.path()).frozen.is_some());

    let lifted = lock::unfreeze(dir.path(), "alice", true).unwrap();
    assert_eq!(lifted.owner, "bob");
    assert!(lock::status(dir.path()).is_free());
    assert!(matches!(
        lock::unfreeze(dir.path(), "bob", false),
        Err(LockError::NotFrozen)
    ));

    // Owner unfreezes without force.
    lock::freeze(dir.path(), "bob", "again").unwrap();
    lock::unfreeze(dir.path(), "bob", false).unwrap();
    drop(lock::acquire(dir.path(), LockInfo::new("alice", "deploy", "feature-x")).unwrap());
}

#[test]
fn corrupt_freeze_file_counts_as_frozen() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("freeze.json"), "{not json").unwrap();
    assert!(matches!(
        lock::acquire(dir.path(), LockInfo::new("alice", "deploy", "x")),
        Err(LockError::Frozen(_))
    ));
    lock::unfreeze(dir.path(), "alice", true).unwrap();
    assert!(lock::status(dir.path()).is_free());
}

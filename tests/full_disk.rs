//! A full disk while the new build's backup is written stops the release
//! before anything is deployed, and leaves nothing at the backup's name.
//! The disk is a real 16 KiB tmpfs mounted for the test (CI runs as root).
use crate::common;
use common::live::*;
use common::*;

struct Mount(std::path::PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_backups_disk_stops_the_release_before_deploy() {
    let live = live_repo("");
    // The repository's backups/ becomes a 16 KiB disk.
    let small = live.f.path().join("backups");
    std::fs::create_dir_all(&small).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=16k", "tmpfs"])
        .arg(&small)
        .status()
        .expect("run mount");
    assert!(
        st.success(),
        "could not mount a small tmpfs (the tests need root)"
    );
    let _m = Mount(small.clone());
    let f = &live.f;
    f.checkout_new("feature/big");
    f.write(mosaic::MOSAIC_UI, good_page("big"));
    // ~200 KB that deflate cannot squeeze under 16 KiB.
    let mut x: u64 = 0x9e3779b97f4a7c15;
    let noise: String = (0..200_000)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (b'!' + (x % 90) as u8) as char
        })
        .collect();
    f.write("mosaic_ui/assets/noise.txt", noise);
    f.write_script("scripts/run_deploy_gate.sh", PASSING_GATE);
    f.commit("big bundle");
    package(f, "feature/big", &Pkg::default());

    let out = f.guardrail(&["deploy", "feature/big", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(4),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let e = stderr(&out);
    assert!(e.contains("backup could not be written"), "{e}");
    // Nothing published, nothing at the backup's name, no temporary left.
    assert_eq!(
        std::fs::read_dir(&live.site).unwrap().count(),
        0,
        "something was deployed"
    );
    let left: Vec<_> = std::fs::read_dir(&small)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in the backups dir: {left:?}");
    assert!(f.git(&["tag", "-l", "prod-2025-11-14*"]).is_empty());
}

/// The disk holding the git objects fills up during live verification
/// (the verify script fills it): the tag cannot be written. The error names
/// the cause in one sentence instead of libgit2's `class=Object (11)`, and
/// the live record stays true: verified, not released (no tag).
#[test]
fn a_full_disk_after_verification_names_the_cause_and_keeps_live_verified() {
    let live = live_repo("");
    let f = &live.f;
    f.checkout("main");
    f.write_script(
        "scripts/verify_live_deployment.sh",
        "#!/bin/bash\nobjects=\"$(git rev-parse --path-format=absolute --git-common-dir)/objects\"\n\
         head -c 64M /dev/zero > \"$objects/filler\" 2>/dev/null\necho 'verify: ok'\nexit 0\n",
    );
    f.commit("verify script");
    feature_branch(f, "feature/good", &good_page("r4"), NEXT_TAG);
    // .git/objects becomes a small disk holding the objects so far.
    let git = f.path().join(".git");
    std::fs::rename(git.join("objects"), git.join("objects.orig")).unwrap();
    std::fs::create_dir(git.join("objects")).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=32m", "tmpfs"])
        .arg(git.join("objects"))
        .status()
        .expect("run mount");
    assert!(
        st.success(),
        "could not mount a tmpfs (the tests need root)"
    );
    let _m = Mount(git.join("objects"));
    let st = std::process::Command::new("cp")
        .arg("-a")
        .arg(git.join("objects.orig/."))
        .arg(git.join("objects"))
        .status()
        .unwrap();
    assert!(st.success());

    let out = f.guardrail(&["deploy", "feature/good", "--yes"]);
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(4), "{text}\n{err}");
    assert!(text.contains("✅ Verify live"), "{text}");
    assert!(err.contains("is full"), "the cause is named: {err}");
    assert!(
        err.contains(&git.join("objects").display().to_string()),
        "{err}"
    );
    assert!(!err.contains("class="), "libgit2's words alone: {err}");
    assert_eq!(err.trim_end().lines().count(), 1, "one sentence: {err}");
    let rec = live_record(f);
    assert_eq!(rec["health"], "ok", "verified: {rec:#}");
    assert!(rec["tag"].is_null(), "not released: {rec:#}");
    assert!(f.git(&["tag", "-l", NEXT_TAG]).is_empty());
    let failed = audit_of(f, "release", "FAILED");
    assert_eq!(failed.len(), 1);
    assert!(audit_of(f, "release", "OK").is_empty());
    let backups: Vec<String> = std::fs::read_dir(f.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!backups.iter().any(|n| n.contains(NEXT_TAG)), "{backups:?}");
}

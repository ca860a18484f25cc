//! Release artefacts on real repositories: the annotated prod tag with its
//! audit checkpoint (never moving an existing tag), pushing it, the release
//! log entry and the rollout log.
use crate::common;
use common::*;

use std::path::Path;

use chrono::{TimeZone, Utc};
use git2::Oid;
use guardrail::pipeline::audit::{find_checkpoint, NewEntry};
use guardrail::pipeline::record;
use guardrail::pipeline::release::{
    append_rollout_log, create_release_tag, push_tag, read_log_tail, tagger, write_release_log,
    GateEvidence, ReleaseError, ReleaseKind, ReleaseLogEntry, ReleaseMessage, RolloutEntry,
    RolloutSource, ROLLOUT_HEADING,
};
use guardrail::pipeline::repo::Repo;
use guardrail::pipeline::tags::next_free_tag;

const TAG: &str = "prod-2025-11-14";

fn message() -> ReleaseMessage {
    ReleaseMessage {
        branch: mosaic::AUTH_MODAL.into(),
        build_id: "abc1234-20251114T140000Z".into(),
        released_by: "tester".into(),
        gate_audit_hash: "d".repeat(64),
    }
}

/// The mosaic fixture with a repository-local git identity and a few audit
/// records, opened.
fn released_repo() -> (Fixture, Repo) {
    let f = mosaic_repo();
    f.git(&["config", "user.name", "Release Manager"]);
    f.git(&["config", "user.email", "rm@example.org"]);
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    for action in ["gate", "deploy", "verify"] {
        record::record(
            &repo,
            &cfg,
            NewEntry::new("tester", action, mosaic::AUTH_MODAL, "PASS"),
        )
        .unwrap();
    }
    (f, repo)
}

#[test]
fn release_tag_is_annotated_and_carries_the_checkpoint() {
    let (f, repo) = released_repo();
    let cfg = repo.config().unwrap();
    let audit = record::audit_log(&repo);
    let head = audit.head().unwrap().expect("records were appended");
    let commit = Oid::from_str(&f.commit_of(mosaic::AUTH_MODAL)).unwrap();

    let written = create_release_tag(&repo, &cfg, TAG, commit, message()).unwrap();
    assert_eq!(written.as_ref(), Some(&head));

    assert_eq!(f.object_type(TAG), "tag");
    assert_eq!(f.commit_of(TAG), commit.to_string());
    let body = f.git(&["tag", "-l", "--format=%(contents)", TAG]);
    let lines: Vec<&str> = body.lines().collect();
    assert_eq!(
        lines,
        vec![
            "Release prod-2025-11-14",
            "",
            "Branch: feature/auth-modal",
            "BUILD_ID: abc1234-20251114T140000Z",
            "Released by: tester",
            &format!("Gate audit hash: {}", "d".repeat(64)),
            &format!("audit-checkpoint: seq={} head={}", head.seq, head.hash),
        ]
    );
    assert_eq!(find_checkpoint(&body), Some(head.clone()));
    let tagger = f.git(&["tag", "-l", "--format=%(taggername) %(taggeremail)", TAG]);
    assert_eq!(tagger, "Release Manager <rm@example.org>");

    // The audit chain checks out against the checkpoint the tag carries.
    let report = audit.verify(Some(&head)).unwrap();
    assert!(report.is_intact(), "{report}");

    // The repository model sees it as the new golden build.
    let tags = repo.prod_tags(&cfg).unwrap();
    let newest = tags.last().unwrap();
    assert_eq!(newest.name, TAG);
    assert!(newest.annotated);
    assert!(newest
        .message
        .as_deref()
        .unwrap()
        .contains("audit-checkpoint:"));
}

#[test]
fn an_existing_tag_is_refused_and_not_moved() {
    let (f, repo) = released_repo();
    let cfg = repo.config().unwrap();
    let main = Oid::from_str(&f.commit_of("main")).unwrap();
    let other = Oid::from_str(&f.commit_of(mosaic::PS101)).unwrap();
    for existing in [
        mosaic::TAG_LIGHTWEIGHT,
        mosaic::TAG_ANNOTATED,
        mosaic::GOLDEN,
    ] {
        let before = f.rev_parse(existing);
        let err = create_release_tag(&repo, &cfg, existing, other, message()).unwrap_err();
        assert!(
            matches!(&err, ReleaseError::TagExists(t) if t == existing),
            "{err}"
        );
        assert!(err.to_string().contains("never moved"), "{err}");
        assert_eq!(f.rev_parse(existing), before, "{existing} moved");
    }
    // The caller picks the next free name instead.
    let next = next_free_tag(
        &cfg.project.tag_prefix,
        chrono::NaiveDate::from_ymd_opt(2025, 11, 13).unwrap(),
        &repo.tag_names().unwrap(),
    );
    assert_eq!(next, "prod-2025-11-13.3");
    create_release_tag(&repo, &cfg, &next, main, message()).unwrap();
    assert_eq!(f.commit_of(&next), main.to_string());

    // A name git would not accept.
    let err = create_release_tag(&repo, &cfg, "prod bad..name", main, message()).unwrap_err();
    assert!(matches!(err, ReleaseError::BadTagName(_)), "{err}");
    // A commit that does not exist.
    let err = create_release_tag(&repo, &cfg, "prod-2025-11-20", Oid::zero(), message());
    assert!(err.is_err());
    assert!(f
        .try_git(&["rev-parse", "--verify", "-q", "prod-2025-11-20"])
        .is_err());
}

#[test]
fn an_empty_audit_log_gives_no_checkpoint_line() {
    let f = mosaic_repo();
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let main = Oid::from_str(&f.commit_of("main")).unwrap();
    let cp = create_release_tag(&repo, &cfg, TAG, main, message()).unwrap();
    assert_eq!(cp, None);
    let body = f.git(&["tag", "-l", "--format=%(contents)", TAG]);
    assert!(!body.contains("audit-checkpoint"), "{body}");
    assert!(body.contains("Gate audit hash:"), "{body}");
}

const CHILD_ENV: &str = "GUARDRAIL_TEST_TAGGER_REPO";

#[test]
fn without_a_git_identity_the_tagger_is_guardrail_login_at_host() {
    if let Ok(path) = std::env::var(CHILD_ENV) {
        let repo = Repo::open(Path::new(&path)).unwrap();
        let sig = tagger(&repo).unwrap();
        println!(
            "CHILD-TAGGER {} <{}>",
            sig.name().unwrap(),
            sig.email().unwrap()
        );
        return;
    }
    let f = mosaic_repo();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .arg(test_name(
            module_path!(),
            "without_a_git_identity_the_tagger_is_guardrail_login_at_host",
        ))
        .args(["--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, f.path())
        .env("HOME", f.home())
        .env("XDG_CONFIG_HOME", f.home().join(".config"))
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("USER", "relmgr")
        .env_remove("SUDO_USER")
        .env_remove("GIT_AUTHOR_NAME")
        .env_remove("GIT_AUTHOR_EMAIL")
        .env_remove("GIT_COMMITTER_NAME")
        .env_remove("GIT_COMMITTER_EMAIL")
        .env_remove("EMAIL")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.find("CHILD-TAGGER").map(|i| &l[i + 13..]))
        .unwrap_or_else(|| panic!("child said nothing: {text}\n{}", stderr(&out)));
    let host = guardrail::pipeline::release::hostname();
    assert_eq!(line, format!("guardrail <relmgr@{host}>"));
}

#[test]
fn push_tag_pushes_to_origin_and_reports_failure() {
    let (f, repo) = released_repo();
    let cfg = repo.config().unwrap();
    let main = Oid::from_str(&f.commit_of("main")).unwrap();
    create_release_tag(&repo, &cfg, TAG, main, message()).unwrap();

    // No origin yet: one sentence naming the tag.
    let err = push_tag(&repo, TAG).unwrap_err();
    assert!(
        err.to_string()
            .starts_with(&format!("could not push the tag `{TAG}` to origin: ")),
        "{err}"
    );

    let bare = f.tempdir().join("origin.git");
    let st = std::process::Command::new("git")
        .args(["init", "-q", "--bare"])
        .arg(&bare)
        .status()
        .unwrap();
    assert!(st.success());
    f.add_remote("origin", &bare.display().to_string());
    push_tag(&repo, TAG).unwrap();
    let out = std::process::Command::new("git")
        .arg("--git-dir")
        .arg(&bare)
        .args(["rev-parse", TAG])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        f.rev_parse(TAG),
        "the annotated tag object itself was pushed"
    );
}

// ---------------------------------------------------------------------------
// Release log

fn gate_log(dir: &Path) -> std::path::PathBuf {
    let p = dir.join("gate.log");
    let mut s = String::new();
    for i in 1..=100 {
        s.push_str(&format!("gate line {i}\n"));
    }
    s.push_str("\u{1b}[32mDEPLOY GATE: PASS\u{1b}[0m\n");
    std::fs::write(&p, s).unwrap();
    p
}

fn deploy_entry(tail: Vec<String>) -> ReleaseLogEntry {
    ReleaseLogEntry {
        kind: ReleaseKind::Deploy,
        time: Utc.with_ymd_and_hms(2025, 11, 14, 14, 0, 0).unwrap(),
        initiated_by: "tester".into(),
        branch: Some(mosaic::AUTH_MODAL.into()),
        commit: "a".repeat(40),
        tag: TAG.into(),
        backup: Some(format!("backups/{TAG}.zip")),
        build_id: "aaaaaaa-20251114T140000Z".into(),
        gate: Some(GateEvidence {
            verdict: "PASS".into(),
            audit_seq: Some(3),
            audit_hash: Some("e".repeat(64)),
            log_sha256: Some("f".repeat(64)),
            log_tail: tail,
        }),
        checks: vec![
            (
                "site reachable".into(),
                "ok".into(),
                Some("HTTP 200".into()),
            ),
            ("line count".into(), "skipped".into(), None),
            (
                "auth modal".into(),
                "fail".into(),
                Some("`authModal` not found".into()),
            ),
        ],
    }
}

#[test]
fn release_log_entry_has_the_spec_bullets_and_sections() {
    let f = mosaic_repo();
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let tail = read_log_tail(&gate_log(f.tempdir()), 40).unwrap();
    assert_eq!(tail.len(), 40);
    let entry = deploy_entry(tail);
    let path = write_release_log(&repo, &cfg, &entry).unwrap();
    assert_eq!(
        path,
        f.path().join("deploy_logs/2025-11-14_prod-2025-11-14.md")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.starts_with("# Release prod-2025-11-14\n\n"), "{text}");
    for bullet in [
        "- **Deploy time (UTC):** 2025-11-14T14:00:00Z\n",
        "- **Initiated by:** tester\n",
        "- **Branch:** feature/auth-modal\n",
        &format!("- **Commit:** {}\n", "a".repeat(40)),
        "- **New production tag:** prod-2025-11-14\n",
        "- **Backup:** backups/prod-2025-11-14.zip\n",
        "- **BUILD_ID:** aaaaaaa-20251114T140000Z\n",
        "\n## Gate evidence\n",
        "- **Verdict:** PASS\n",
        &format!("- **Audit entry:** seq 3, hash {}\n", "e".repeat(64)),
        &format!("- **Gate log sha256:** {}\n", "f".repeat(64)),
        "```text\ngate line 62\n",
        "gate line 100\nDEPLOY GATE: PASS\n```\n",
        "\n## Checks verified\n",
        "- ✅ site reachable — HTTP 200\n",
        "- ⚠️ line count (skipped)\n",
        "- ❌ auth modal — `authModal` not found\n",
    ] {
        assert!(text.contains(bullet), "missing {bullet:?} in:\n{text}");
    }
    assert!(!text.contains("gate line 61\n"), "only the last 40 lines");
    assert!(!text.contains('\u{1b}'), "ANSI stripped");

    // Never overwritten: the same entry again gets -2, then -3.
    let second = write_release_log(&repo, &cfg, &entry).unwrap();
    assert_eq!(
        second,
        f.path().join("deploy_logs/2025-11-14_prod-2025-11-14-2.md")
    );
    let third = write_release_log(&repo, &cfg, &entry).unwrap();
    assert!(third.ends_with("2025-11-14_prod-2025-11-14-3.md"));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}

#[test]
fn rollback_release_log_says_so() {
    let f = mosaic_repo();
    f.write_config(&format!(
        "{}[project]\nrelease_log_dir = \"logs/releases\"\n",
        mosaic::CONFIG
    ));
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let mut entry = deploy_entry(Vec::new());
    entry.kind = ReleaseKind::Rollback {
        from: Some(TAG.into()),
        reason: "auth modal broken\nin production".into(),
        seconds_to_verified: 12.34,
    };
    entry.tag = mosaic::TAG_ANNOTATED.into();
    entry.branch = None;
    entry.gate = None;
    entry.backup = Some(format!("{} (no manifest)", mosaic::BACKUP));
    let path = write_release_log(&repo, &cfg, &entry).unwrap();
    assert_eq!(
        path,
        f.path()
            .join("logs/releases/2025-11-14_rollback-prod-2025-11-13.md")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(
        text.starts_with("# Rollback to prod-2025-11-13\n"),
        "{text}"
    );
    for bullet in [
        "- **Branch:** —\n",
        "- **New production tag:** prod-2025-11-13\n",
        "- **Rolled back from:** prod-2025-11-14\n",
        "- **Reason:** auth modal broken in production\n",
        "- **Seconds from confirm to verified:** 12.3\n",
        "No gate run recorded",
    ] {
        assert!(text.contains(bullet), "missing {bullet:?} in:\n{text}");
    }
}

#[test]
fn log_tail_reads_only_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.log");
    let mut s = String::new();
    for i in 0..200_000 {
        s.push_str(&format!("line {i}\n"));
    }
    std::fs::write(&p, &s).unwrap();
    let tail = read_log_tail(&p, 40).unwrap();
    assert_eq!(tail.len(), 40);
    assert_eq!(tail[0], "line 199960");
    assert_eq!(tail[39], "line 199999");

    std::fs::write(&p, "a\nb\nno newline at end").unwrap();
    assert_eq!(
        read_log_tail(&p, 2).unwrap(),
        vec!["b".to_string(), "no newline at end".to_string()]
    );
    assert_eq!(read_log_tail(&p, 10).unwrap().len(), 3);
    std::fs::write(&p, "").unwrap();
    assert!(read_log_tail(&p, 10).unwrap().is_empty());
}

// ---------------------------------------------------------------------------
// Rollout log

fn rollout(to: &str, verified: bool) -> RolloutEntry {
    RolloutEntry {
        time: Utc.with_ymd_and_hms(2025, 11, 14, 15, 30, 0).unwrap(),
        actor: "tester".into(),
        reason: "auth modal broken".into(),
        from: Some(TAG.into()),
        to: to.into(),
        source: if verified {
            RolloutSource::Backup {
                path: mosaic::BACKUP.into(),
                manifest: false,
            }
        } else {
            RolloutSource::TagTree
        },
        verified,
        verification: if verified {
            "all ✅ (5 checks)".into()
        } else {
            "❌ auth modal".into()
        },
        seconds_to_verified: verified.then_some(41.25),
    }
}

#[test]
fn rollout_log_is_created_with_a_heading_and_appended_to() {
    let f = mosaic_repo();
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    append_rollout_log(&repo, &cfg, &rollout(mosaic::TAG_ANNOTATED, true)).unwrap();
    let path = f.path().join("deploy_logs/ROLLOUT_LOG.md");
    let first = std::fs::read_to_string(&path).unwrap();
    assert!(first.starts_with(ROLLOUT_HEADING), "{first}");
    for line in [
        "## 2025-11-14T15:30:00Z — rollback to prod-2025-11-13\n",
        "- **Who:** tester\n",
        "- **Why:** auth modal broken\n",
        "- **From tag:** prod-2025-11-14\n",
        "- **To tag:** prod-2025-11-13\n",
        "- **Source:** backup backups/prod-2025-11-13.zip (no manifest; zip checksums ✅)\n",
        "- **Verification:** ✅ all ✅ (5 checks)\n",
        "- **Seconds from confirm to verified:** 41.2\n",
    ] {
        assert!(first.contains(line), "missing {line:?} in:\n{first}");
    }

    append_rollout_log(&repo, &cfg, &rollout(mosaic::TAG_LIGHTWEIGHT, false)).unwrap();
    let second = std::fs::read_to_string(&path).unwrap();
    assert!(second.starts_with(&first), "append only");
    assert_eq!(second.matches("# Rollout log").count(), 1);
    let added = &second[first.len()..];
    assert!(added.contains("rollback to prod-2025-11-12"), "{added}");
    assert!(
        added.contains("- **Source:** the tag's git tree\n"),
        "{added}"
    );
    assert!(
        added.contains("- **Verification:** ❌ ❌ auth modal\n"),
        "{added}"
    );
    assert!(
        added.contains("confirm to verified:** not verified\n"),
        "{added}"
    );
}

#[test]
fn rollout_log_written_by_hand_keeps_its_bytes() {
    let f = mosaic_repo();
    f.write_config(&format!(
        "{}[project]\nrollout_log = \"ops/notes/ROLLOUT.md\"\n",
        mosaic::CONFIG
    ));
    f.write(
        "ops/notes/ROLLOUT.md",
        "# Our rollouts\n\n- 2025-11-01 by hand",
    );
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    append_rollout_log(&repo, &cfg, &rollout(mosaic::TAG_ANNOTATED, true)).unwrap();
    let text = f.read("ops/notes/ROLLOUT.md");
    assert!(
        text.starts_with("# Our rollouts\n\n- 2025-11-01 by hand\n\n## 2025-11-14T15:30:00Z"),
        "{text}"
    );
    assert!(!text.contains(ROLLOUT_HEADING));
}

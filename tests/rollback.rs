//! `guardrail rollback` against a real HTTP server serving the publish
//! directory: from a backup (with and without a manifest), from the tag's
//! tree, a corrupted backup refused, the lock held by another process, a
//! failed verification marking the tag bad, authority and confirmation.
use crate::common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::live::*;
use common::*;
use guardrail::pipeline::backup::{self, content_hash};
use guardrail::pipeline::lock::{self, LockInfo};
use guardrail::pipeline::repo::Repo;
use guardrail::pipeline::rollback;

const CHILD_ENV: &str = "GUARDRAIL_TEST_ROLLBACK_LOCK_CHILD";

/// Not a test on its own: holds the deploy lock of the state directory
/// named in the environment, for the lock test below.
#[test]
fn lock_holder_child() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let _held =
        lock::acquire(Path::new(&dir), LockInfo::new("bob", "deploy", "feature/x")).unwrap();
    let mut out = std::io::stdout();
    writeln!(out, "CHILD LOCKED").unwrap();
    out.flush().unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

fn hold_lock(state: &Path) -> Child {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--nocapture", "--test-threads=1", "--exact"])
        .arg(test_name(module_path!(), "lock_holder_child"))
        .env(CHILD_ENV, state)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        assert!(reader.read_line(&mut line).unwrap() > 0, "child ended");
        if line.contains("CHILD LOCKED") {
            break;
        }
    }
    child
}

fn tree_page(f: &Fixture, tag: &str) -> Vec<u8> {
    let out = f
        .command("git")
        .args(["show", &format!("{tag}:mosaic_ui/index.html")])
        .output()
        .unwrap();
    out.stdout
}

fn served(l: &Live) -> Vec<u8> {
    std::fs::read(l.site.join("index.html")).unwrap_or_default()
}

#[test]
fn no_backup_rolls_back_from_the_tags_tree() {
    let l = live_repo("");
    let f = &l.f;
    // No live record: the default target is the golden build (no backup).
    let out = f.guardrail(&["rollback", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["plan"]["target"]["name"], mosaic::GOLDEN);
    assert_eq!(doc["plan"]["source"]["kind"], "tree");
    assert_eq!(doc["outcome"]["verified"], true);
    assert_eq!(doc["outcome"]["source"], "the tag's git tree");
    assert!(doc["outcome"]["seconds_to_verified"].as_f64().unwrap() > 0.0);
    assert_eq!(
        content_hash(&served(&l)),
        content_hash(&tree_page(f, mosaic::GOLDEN))
    );
    let live = live_record(f);
    assert_eq!(live["tag"], mosaic::GOLDEN);
    assert_eq!(live["health"], "ok");
    assert_eq!(
        build_ids(&served(&l)),
        vec![live["build_id"].as_str().unwrap()]
    );
    let rollout = f.read("deploy_logs/ROLLOUT_LOG.md");
    assert!(
        rollout.contains("- **Source:** the tag's git tree"),
        "{rollout}"
    );
    assert!(rollout.contains("- **Why:** none given"), "{rollout}");

    // A hand-made backup without a manifest is accepted on its checksums;
    // the next default target is the newest tag that is not live.
    let out = f.guardrail(&["rollback", "--yes", "--reason", "older"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("target:  prod-2025-11-13 "), "{text}");
    assert!(text.contains("no manifest"), "{text}");
    assert_eq!(
        content_hash(&served(&l)),
        content_hash(&tree_page(f, mosaic::TAG_ANNOTATED))
    );
    assert_eq!(live_record(f)["tag"], mosaic::TAG_ANNOTATED);
    assert_eq!(audit_of(f, "rollback", "OK").len(), 2);
    let out = f.guardrail(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// A guardrail backup of `tag` from its tree, with one byte of
/// `mosaic_ui/index.html`'s stored data flipped.
fn corrupt_backup(f: &Fixture, tag: &str) {
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let oid = repo
        .git
        .revparse_single(tag)
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id();
    let info = backup::write_backup(&repo, &cfg, tag, backup::Source::Commit(oid)).unwrap();
    let start = {
        let mut z = zip::ZipArchive::new(std::fs::File::open(&info.path).unwrap()).unwrap();
        let e = z.by_name("mosaic_ui/index.html").unwrap();
        e.data_start()
    };
    let mut bytes = std::fs::read(&info.path).unwrap();
    bytes[start as usize + 20] ^= 0x01;
    std::fs::write(&info.path, bytes).unwrap();
}

#[test]
fn corrupted_backup_is_refused_then_from_tree_on_request() {
    let l = live_repo("");
    let f = &l.f;
    corrupt_backup(f, mosaic::GOLDEN);
    let out = f.guardrail(&["rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("mosaic_ui/index.html"),
        "names the file: {err}"
    );
    assert!(err.contains("--from-tree"), "{err}");
    assert!(served(&l).is_empty(), "nothing deployed");
    let refused = audit_of(f, "rollback", "REFUSED");
    assert_eq!(refused.len(), 1);
    assert!(refused[0]["details"]["why"]
        .as_str()
        .unwrap()
        .contains("mosaic_ui/index.html"));

    let out = f.guardrail(&["rollback", "--yes", "--from-tree"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("backup:  ❌ refused"), "{text}");
    assert!(text.contains("the tag's git tree"), "{text}");
    assert_eq!(
        content_hash(&served(&l)),
        content_hash(&tree_page(f, mosaic::GOLDEN))
    );
    let ok = audit_of(f, "rollback", "OK");
    assert!(ok[0]["details"]["backup_refused"]
        .as_str()
        .unwrap()
        .contains("mosaic_ui/index.html"));
}

#[test]
fn unsafe_entry_refuses_the_whole_backup() {
    let l = live_repo("");
    let f = &l.f;
    f.write_zip(
        &format!("backups/{}.zip", mosaic::GOLDEN),
        &[
            ("mosaic_ui/index.html", good_page("x").as_bytes()),
            ("../evil.sh", b"#!/bin/sh\n"),
        ],
    );
    let out = f.guardrail(&["rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    assert!(stderr(&out).contains("../evil.sh"), "{}", stderr(&out));
    assert!(served(&l).is_empty());
    assert!(!f.tempdir().join("evil.sh").exists());
}

#[test]
fn lock_held_by_another_process_is_refused_naming_the_holder() {
    let l = live_repo("");
    let f = &l.f;
    let state = f.path().join(".git/guardrail");
    std::fs::create_dir_all(&state).unwrap();
    let mut child = hold_lock(&state);
    let out = f.guardrail(&["rollback", "--yes"]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("the deploy lock is held by bob"), "{err}");
    assert!(err.contains(&format!("pid {}", child.id())), "{err}");
    assert!(served(&l).is_empty());
    let refused = audit_of(f, "rollback", "REFUSED");
    assert_eq!(refused.len(), 1);
    assert!(refused[0]["details"]["why"]
        .as_str()
        .unwrap()
        .contains("bob"));
}

#[test]
fn failed_verification_marks_the_target_bad_and_the_next_default_skips_it() {
    let l = live_repo("");
    let f = &l.f;
    // A newer prod tag whose bundle lacks the auth modal.
    f.checkout_new("tmp/broken");
    f.write(mosaic::MOSAIC_UI, page_without_auth_modal("r9"));
    let c = f.commit("broken build");
    f.checkout("main");
    f.tag_lightweight("prod-2025-11-20", &c);

    let out = f.guardrail(&["rollback", "--yes", "--reason", "drill"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}{}", stderr(&out));
    assert!(text.contains("target:  prod-2025-11-20"), "{text}");
    assert!(text.contains("❌ auth modal"), "{text}");
    assert!(text.contains("verification FAILED"), "{text}");
    let live = live_record(f);
    assert_eq!(live["tag"], "prod-2025-11-20");
    assert_eq!(live["health"], "failed");
    assert_eq!(live["bad_tags"], serde_json::json!(["prod-2025-11-20"]));
    let failed = audit_of(f, "rollback", "FAILED");
    assert_eq!(failed.len(), 1);
    assert!(failed[0]["details"]["failing"][0]
        .as_str()
        .unwrap()
        .starts_with("auth modal"));
    let rollout = f.read("deploy_logs/ROLLOUT_LOG.md");
    assert!(rollout.contains("- **Verification:** ❌"), "{rollout}");
    assert!(rollout.contains("not verified"), "{rollout}");

    // The next default target skips the bad tag (and the live one).
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let rec = repo.state.read_live().unwrap();
    let t = rollback::default_target(&repo, &cfg, rec.as_ref()).unwrap();
    assert_eq!(t.name, mosaic::GOLDEN);
    let out = f.guardrail(&["rollback", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["outcome"]["target"], mosaic::GOLDEN);
    assert_eq!(doc["outcome"]["from"], "prod-2025-11-20");
    let live = live_record(f);
    assert_eq!(live["health"], "ok");
    assert_eq!(live["bad_tags"], serde_json::json!(["prod-2025-11-20"]));
}

#[test]
fn refusals_authority_confirmation_unknown_tag() {
    let l = live_repo("");
    let f = &l.f;
    // No --yes without a terminal.
    let out = f.guardrail(&["rollback"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("refused: --yes is required without a terminal"),
        "{}",
        stderr(&out)
    );
    assert_eq!(audit_of(f, "rollback", "REFUSED").len(), 1);
    // Unknown tag.
    let out = f.guardrail(&["rollback", "prod-2099-01-01", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("prod-2099-01-01"));
    // Not a release manager.
    f.set_user("mallory");
    let out = f.guardrail(&["rollback", "--yes", "--reason", "x"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("mallory is not a release manager"));
    let refused = audit_of(f, "rollback", "REFUSED");
    assert!(
        refused.iter().any(|r| r["actor"] == "mallory"),
        "{refused:?}"
    );
    let protocol = f.read(".verification_audit.log");
    assert!(
        protocol.contains("rollback REFUSED actor=mallory"),
        "{protocol}"
    );
    assert!(served(&l).is_empty());
    assert!(!f.path().join(".git/guardrail/live.json").exists());
}

#[test]
fn at_a_terminal_anything_but_y_is_not_confirmed() {
    let l = live_repo("");
    let f = &l.f;
    let mut t = f.console_command(&["rollback"], 100, 30).spawn();
    t.wait_for(
        &format!("Roll production back to {}? [y/N]", mosaic::GOLDEN),
        secs(10),
    )
    .unwrap();
    t.send_line("n");
    assert_eq!(t.wait_exit(secs(10)), Some(3));
    assert!(
        t.screen_text().contains("not confirmed"),
        "{}",
        t.screen_text()
    );
    assert!(served(&l).is_empty());
    let refused = audit_of(f, "rollback", "REFUSED");
    assert_eq!(refused[0]["details"]["why"], "not confirmed");
}

const DEPLOY_SCRIPT: &str = r#"#!/bin/bash
set -e
echo "deploy script: $GUARDRAIL_ACTION $GUARDRAIL_TAG $GUARDRAIL_BUILD_ID"
mkdir -p "$SITE"
rm -rf "$SITE"/*
cp -R "$NETLIFY_DEPLOY_DIR"/. "$SITE"/
"#;

const VERIFY_SCRIPT: &str = r#"#!/bin/bash
grep -q "BUILD_ID:$GUARDRAIL_BUILD_ID" "$SITE/index.html" && echo "verify script: ok"
"#;

const LEGACY_ROLLBACK: &str = r#"#!/bin/bash
printf 'Are you sure? (yes/no): '
read answer
[ "$answer" = yes ] || exit 1
echo "legacy rollback to $1 ($GUARDRAIL_TAG)"
rm -rf "$SITE"/*
cp -R "$GUARDRAIL_BUNDLE_DIR"/. "$SITE"/
"#;

#[test]
fn scripts_of_the_tags_tree_deploy_and_verify_and_the_legacy_script_only_when_configured() {
    let l = live_repo("");
    let f = &l.f;
    f.checkout_new("tmp/scripted");
    f.write(mosaic::MOSAIC_UI, good_page("r7"));
    f.write_script("scripts/deploy_now_zsh.sh", DEPLOY_SCRIPT);
    f.write_script("scripts/verify_live_deployment.sh", VERIFY_SCRIPT);
    f.write_script("scripts/roll_back_to_prev.sh", LEGACY_ROLLBACK);
    let c = f.commit("scripted release");
    f.checkout("main");
    f.tag_lightweight("prod-2025-11-21", &c);

    let out = f
        .guardrail_cmd(&["rollback", "prod-2025-11-21", "--yes"])
        .env("SITE", &l.site)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("deploy script: rollback prod-2025-11-21 "),
        "{text}"
    );
    assert!(text.contains("✅ verify script"), "{text}");
    assert!(!text.contains("legacy rollback"), "{text}");
    assert_eq!(
        content_hash(&served(&l)),
        content_hash(good_page("r7").as_bytes())
    );
    assert_eq!(
        build_ids(&served(&l)),
        vec![live_record(f)["build_id"].as_str().unwrap()]
    );
    // The worktree's bundle got the restored, stamped files; the working
    // tree of the repository is untouched.
    assert!(f
        .git(&["status", "--porcelain", "--", "mosaic_ui"])
        .is_empty());

    // Configured: the legacy script replaces the deploy step, gets the tag
    // as its argument and its answer from --answer.
    let cfg = f.read("guardrail.toml");
    f.write_config(&format!(
        "{cfg}\n[scripts]\nrollback = \"scripts/roll_back_to_prev.sh\"\n"
    ));
    let out = f
        .guardrail_cmd(&["rollback", "prod-2025-11-21", "--yes", "--answer", "yes"])
        .env("SITE", &l.site)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(text.contains("redeploys it"), "{text}");
    assert!(
        text.contains("legacy rollback to prod-2025-11-21 (prod-2025-11-21)"),
        "{text}"
    );
    assert!(!text.contains("deploy script:"), "{text}");
    assert_eq!(
        content_hash(&served(&l)),
        content_hash(good_page("r7").as_bytes())
    );
    f.git(&["checkout", "guardrail.toml"]);
}

#[test]
fn in_place_checkout_is_put_back_after_the_rollback() {
    let l = live_repo("\n[playbook]\ncheckout = \"in-place\"\n");
    let f = &l.f;
    f.write(
        ".gitignore",
        "backups/\n.verification_audit.log\ndeploy_logs/\n",
    );
    f.commit("ignore the logs");
    f.checkout_new("tmp/scripted");
    f.write(mosaic::MOSAIC_UI, good_page("r8"));
    f.write_script("scripts/deploy_now_zsh.sh", DEPLOY_SCRIPT);
    let c = f.commit("scripted release");
    f.checkout("main");
    f.git(&["branch", "-q", "-D", "tmp/scripted"]);
    f.tag_lightweight("prod-2025-11-22", &c);
    let main_page = f.read(mosaic::MOSAIC_UI);

    let out = f
        .guardrail_cmd(&["rollback", "--yes"])
        .env("SITE", &l.site)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("deploy script: rollback prod-2025-11-22"),
        "{text}"
    );
    assert_eq!(
        content_hash(&served(&l)),
        content_hash(good_page("r8").as_bytes())
    );
    assert_eq!(f.current_branch(), "main");
    assert_eq!(f.read(mosaic::MOSAIC_UI), main_page);
    assert!(
        f.git(&["status", "--porcelain"]).is_empty(),
        "{}",
        f.git(&["status"])
    );
}

/// Unmounts a test's mount when dropped.
struct Unmount(std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_rollback_whose_publish_fails_exits_4_and_marks_no_tag_bad() {
    let f = mosaic_repo();
    // Production lives in its own directory, made read-only below.
    let prod = f.tempdir().join("prod");
    let site = prod.join("site");
    std::fs::create_dir_all(&site).unwrap();
    let server = common::http::HttpServer::serve_dir(&site);
    f.write_config(&live_config(&server.url(), &site, ""));
    f.commit("guardrail: live site");
    // Root ignores file modes: a read-only bind mount really refuses writes.
    for args in [
        vec!["--bind", prod.to_str().unwrap(), prod.to_str().unwrap()],
        vec!["-o", "remount,bind,ro", prod.to_str().unwrap()],
    ] {
        let st = Command::new("mount")
            .args(&args)
            .status()
            .expect("run mount");
        assert!(st.success(), "mount {args:?} failed (the tests need root)");
    }
    let m = Unmount(prod.clone());

    let out = f.guardrail(&["rollback", mosaic::GOLDEN, "--yes", "--reason", "ro"]);
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(4), "{text}\n{err}");
    assert!(err.contains("failed at deploy"), "{err}");
    assert!(
        err.contains("Read-only file system"),
        "the cause is named: {err}"
    );
    assert!(text.contains("❌ Deploy"), "{text}");
    assert!(!text.contains("is marked bad"), "{text}");
    assert!(text.contains("is not marked bad"), "{text}");
    let live = live_record(&f);
    assert_eq!(live["health"], "unknown", "{live:#}");
    assert!(live["tag"].is_null(), "{live:#}");
    assert_eq!(live["bad_tags"], serde_json::json!([]), "{live:#}");
    assert!(
        live["failure"]
            .as_str()
            .unwrap()
            .starts_with(&format!("rollback to {} (BUILD_ID", mosaic::GOLDEN)),
        "{live:#}"
    );
    let failed = audit_of(&f, "rollback", "FAILED");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(failed[0]["details"]["why"]
        .as_str()
        .unwrap()
        .contains("failed at deploy"));
    assert!(audit_of(&f, "rollback", "OK").is_empty());
    assert!(std::fs::read_dir(&site).unwrap().next().is_none());

    // Writable again: the same tag is still the default target, and verifies.
    drop(m);
    let out = f.guardrail(&["rollback", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let live = live_record(&f);
    assert_eq!(live["tag"], mosaic::GOLDEN);
    assert_eq!(live["health"], "ok");
    assert!(live.get("failure").is_none(), "{live:#}");
}

/// A plan goes stale while it waits for its confirmation: another release
/// makes a new build live. Under the lock the plan is made again; it
/// differs, so nothing runs and the person is asked again with the new
/// plan (headless, `--yes` would be exit 3).
#[test]
fn a_plan_that_went_stale_before_the_lock_is_asked_again() {
    let l = live_repo("");
    let f = &l.f;
    feature_branch(f, "feature/good", &good_page("r4"), NEXT_TAG);
    let mut t = f.console_command(&["rollback"], 120, 40).spawn();
    let question = format!("Roll production back to {}? [y/N]", mosaic::GOLDEN);
    t.wait_for(&question, secs(10)).unwrap();
    assert!(t.screen_text().contains("live:    nothing recorded"));
    // Meanwhile a release makes feature/good live.
    let out = f.guardrail(&["deploy", "feature/good", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let released = served(&l);
    t.send_line("y");
    t.wait_for("the plan changed before the lock was taken", secs(20))
        .unwrap();
    t.wait_for(&format!("live:    {NEXT_TAG}"), secs(10))
        .unwrap();
    let screen = t.screen_text();
    assert!(
        screen.contains(&format!("live was nothing recorded, is now {NEXT_TAG}")),
        "{screen}"
    );
    // Nothing ran: the release is still live; the refusal is recorded.
    assert_eq!(served(&l), released);
    assert_eq!(live_record(f)["tag"], NEXT_TAG);
    let refused = audit_of(f, "rollback", "REFUSED");
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0]["details"]["why"]
        .as_str()
        .unwrap()
        .contains("plan changed"));
    assert!(audit_of(f, "rollback", "OK").is_empty());
    // Asked again, and confirmed: the new plan runs.
    t.send_line("y");
    assert_eq!(t.wait_exit(secs(30)), Some(0), "{}", t.screen_text());
    let live = live_record(f);
    assert_eq!(live["tag"], mosaic::GOLDEN);
    assert_eq!(live["health"], "ok");
}

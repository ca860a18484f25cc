//! `guardrail deploy <branch> --yes` end to end against a real HTTP server
//! serving the publish directory: a release, a release that breaks the auth
//! modal, and the rollback that restores production byte for byte.
use crate::common;

use std::io::Read;

use common::live::*;
use common::*;
use sha2::{Digest, Sha256};

const BAD_TAG: &str = "prod-2025-11-15";

fn run(f: &Fixture, args: &[&str]) -> std::process::Output {
    f.guardrail(args)
}

#[test]
fn release_then_bad_release_then_rollback_restores_production() {
    let l = live_repo("");
    let f = &l.f;
    feature_branch(f, "feature/good", &good_page("r4"), NEXT_TAG);
    feature_branch(f, "feature/broken", &page_without_auth_modal("r5"), BAD_TAG);

    // 1. A full release.
    let out = run(f, &["deploy", "feature/good", "--yes"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    for step in [
        "Verify evidence",
        "Re-run the gate",
        "Deploy",
        "Verify live",
        "Tag, archive, log",
    ] {
        assert!(text.contains(&format!("✅ {step}")), "{step}: {text}");
    }
    assert!(text.contains("PASS"), "gate output shown: {text}");
    assert!(text.contains("✅ auth modal"), "{text}");
    // Annotated tag with the audit checkpoint.
    assert_eq!(f.object_type(NEXT_TAG), "tag");
    let msg = f.git(&["tag", "-l", "--format=%(contents)", NEXT_TAG]);
    assert!(msg.contains("audit-checkpoint:"), "{msg}");
    assert!(msg.contains("Branch: feature/good"), "{msg}");
    // The backup, with a manifest that checks out.
    let zip_path = f.path().join(format!("backups/{NEXT_TAG}.zip"));
    let mut z = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut manifest = String::new();
    z.by_name("MANIFEST.sha256")
        .unwrap()
        .read_to_string(&mut manifest)
        .unwrap();
    let mut listed = 0;
    for line in manifest.lines() {
        let (sha, name) = line.split_once("  ").unwrap();
        let mut bytes = Vec::new();
        z.by_name(name).unwrap().read_to_end(&mut bytes).unwrap();
        assert_eq!(hex::encode(Sha256::digest(&bytes)), sha, "{name}");
        listed += 1;
    }
    assert!(manifest.contains("  mosaic_ui/index.html\n"), "{manifest}");
    assert_eq!(listed + 1, z.len(), "every entry is in the manifest");
    // Release log, live record, served page.
    let logs: Vec<String> = std::fs::read_dir(f.path().join("deploy_logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(
        logs.iter().any(|n| n.ends_with(&format!("_{NEXT_TAG}.md"))),
        "{logs:?}"
    );
    let live = live_record(f);
    assert_eq!(live["tag"], NEXT_TAG);
    assert_eq!(live["health"], "ok");
    let served = std::fs::read(l.site.join("index.html")).unwrap();
    assert_eq!(build_ids(&served), vec![live["build_id"].as_str().unwrap()]);
    assert_eq!(
        guardrail::pipeline::backup::content_hash(&served),
        guardrail::pipeline::backup::content_hash(good_page("r4").as_bytes())
    );
    let out = run(f, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    let good_bundle = zip_bundle(&zip_path, "mosaic_ui");

    // 2. A release that drops the auth modal: verification fails.
    let out = run(f, &["deploy", "feature/broken", "--yes"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{text}\n{}", stderr(&out));
    assert!(text.contains("❌ auth modal"), "{text}");
    assert!(text.contains("NOT released"), "{text}");
    assert!(text.contains("guardrail rollback --yes"), "hint: {text}");
    assert!(f
        .try_git(&["rev-parse", "-q", "--verify", BAD_TAG])
        .is_err());
    let backups: Vec<String> = std::fs::read_dir(f.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut backups_sorted = backups.clone();
    backups_sorted.sort();
    assert_eq!(
        backups_sorted,
        vec!["prod-2025-11-13.zip".to_string(), format!("{NEXT_TAG}.zip")],
        "no backup of the failed build is left"
    );
    let live = live_record(f);
    assert_eq!(live["health"], "failed");
    assert!(live["tag"].is_null());
    assert_eq!(
        live["bad_tags"],
        serde_json::json!([]),
        "a failed deploy marks no tag bad"
    );
    assert!(!std::fs::read_to_string(l.site.join("index.html"))
        .unwrap()
        .contains("authModal"));

    // 3. Roll back: production serves the tagged build again, byte for byte.
    let out = run(f, &["rollback", "--yes", "--reason", "test"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    assert!(text.contains(&format!("target:  {NEXT_TAG}")), "{text}");
    assert!(text.contains("manifest ✅"), "{text}");
    assert!(text.contains("~ mosaic_ui/index.html"), "plan diff: {text}");
    assert!(text.contains("✅ serves the tagged build"), "{text}");
    assert_eq!(
        served_files(&l.site),
        good_bundle,
        "served == the tag's bundle"
    );
    let live = live_record(f);
    assert_eq!(live["tag"], NEXT_TAG);
    assert_eq!(live["action"], "rollback");
    assert_eq!(live["health"], "ok");
    let served = std::fs::read(l.site.join("index.html")).unwrap();
    assert_eq!(build_ids(&served), vec![live["build_id"].as_str().unwrap()]);
    let commit = f.commit_of(NEXT_TAG);
    assert!(live["build_id"].as_str().unwrap().starts_with(&commit[..7]));

    let rollout = f.read("deploy_logs/ROLLOUT_LOG.md");
    assert!(
        rollout.contains(&format!("rollback to {NEXT_TAG}")),
        "{rollout}"
    );
    assert!(rollout.contains("- **Why:** test"), "{rollout}");
    assert!(
        rollout.contains("- **From tag:** untagged build"),
        "{rollout}"
    );
    assert!(rollout.contains("manifest ✅"), "{rollout}");
    let logs: Vec<String> = std::fs::read_dir(f.path().join("deploy_logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let rb_log = logs
        .iter()
        .find(|n| n.ends_with(&format!("_rollback-{NEXT_TAG}.md")))
        .unwrap_or_else(|| panic!("{logs:?}"));
    let rb_text = f.read(&format!("deploy_logs/{rb_log}"));
    assert!(
        rb_text.contains(&format!("# Rollback to {NEXT_TAG}")),
        "{rb_text}"
    );
    assert!(rb_text.contains("- **Reason:** test"), "{rb_text}");
    let ok = audit_of(f, "rollback", "OK");
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0]["target"], NEXT_TAG);
    assert_eq!(ok[0]["details"]["reason"], "test");
    assert!(ok[0]["details"]["seconds"].as_f64().unwrap() > 0.0);
    let protocol = f.read(".verification_audit.log");
    assert!(protocol.contains("rollback OK actor=tester"), "{protocol}");
    let out = run(f, &["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn auto_rollback_after_failed_verification_goes_to_the_golden_tree() {
    let l = live_repo("\n[playbook]\nrollback_on_failure = \"auto\"\n");
    let f = &l.f;
    feature_branch(
        f,
        "feature/broken",
        &page_without_auth_modal("r5"),
        NEXT_TAG,
    );
    let out = run(f, &["deploy", "feature/broken", "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["outcome"]["released"], false);
    assert_eq!(doc["outcome"]["auto_rollback"], mosaic::GOLDEN);
    assert_eq!(doc["rollback"]["target"], mosaic::GOLDEN);
    assert_eq!(doc["rollback"]["verified"], true, "{doc:#}");
    assert_eq!(doc["rollback"]["source"], "the tag's git tree");
    let live = live_record(f);
    assert_eq!(live["tag"], mosaic::GOLDEN);
    assert_eq!(live["health"], "ok");
    let tree_page = f.git(&["show", &format!("{}:mosaic_ui/index.html", mosaic::GOLDEN)]);
    let served = std::fs::read(l.site.join("index.html")).unwrap();
    assert_eq!(
        guardrail::pipeline::backup::content_hash(&served),
        guardrail::pipeline::backup::content_hash(format!("{tree_page}\n").as_bytes())
    );
}

#[test]
fn deploy_needs_yes_without_a_terminal_and_a_known_branch() {
    let l = live_repo("");
    let f = &l.f;
    feature_branch(f, "feature/good", &good_page("r4"), NEXT_TAG);
    let out = run(f, &["deploy", "feature/good"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(
        stderr(&out).contains("refused: --yes is required without a terminal"),
        "{}",
        stderr(&out)
    );
    let refused = audit_of(f, "deploy", "REFUSED");
    assert_eq!(refused.len(), 1);
    assert!(std::fs::read_dir(&l.site).unwrap().next().is_none());

    let out = run(f, &["deploy", "feature/nope", "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));

    // Not a release manager: refused and recorded, nothing published.
    f.set_user("mallory");
    let out = run(f, &["deploy", "feature/good", "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("mallory is not a release manager"));
    assert!(audit_of(f, "deploy", "REFUSED")
        .iter()
        .any(|r| r["actor"] == "mallory"));
    assert!(std::fs::read_dir(&l.site).unwrap().next().is_none());
}

/// A deploy script like the real repository's: it asks its own gate's
/// question first, gets no answer (stdin is closed), and exits 1 without
/// publishing anything.
const ZSH_DEPLOY_NO_ANSWER: &str = r#"#!/usr/bin/env zsh
print "deploy gate: have the five questions been answered? (yes/no)"
if ! read -r answer || [[ $answer != yes ]]; then
  print -u2 "❌ deploy gate: no answer; Netlify was not called"
  exit 1
fi
cp -R "$GUARDRAIL_BUNDLE_DIR"/. "$SITE"/
"#;

#[test]
fn a_failed_deploy_script_releases_nothing_and_leaves_live_unknown() {
    let l = live_repo("");
    let f = &l.f;
    // A long deadline: the failed deploy must not wait it out.
    f.write_config(
        &live_config(&l.server.url(), &l.site, "")
            .replace("deadline = \"3s\"", "deadline = \"10s\""),
    );
    f.commit("guardrail: a long deadline");
    feature_branch(f, "feature/good", &good_page("r4"), NEXT_TAG);
    let out = run(f, &["deploy", "feature/good", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let released_bundle = served_files(&l.site);
    let before = live_record(f);

    // The zsh deploy script comes with the next branch.
    f.checkout("main");
    f.write_script("scripts/deploy_now_zsh.sh", ZSH_DEPLOY_NO_ANSWER);
    f.commit("the repository's deploy script");
    feature_branch(f, "feature/zsh", &good_page("r6"), BAD_TAG);
    let t0 = std::time::Instant::now();
    let out = f
        .guardrail_cmd(&["deploy", "feature/zsh", "--yes"])
        .env("SITE", &l.site)
        .output()
        .unwrap();
    let took = t0.elapsed();
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(4), "{text}\n{err}");
    assert!(text.contains("❌ Deploy"), "{text}");
    assert!(!text.contains("✅ Deploy"), "{text}");
    assert!(
        text.contains("Netlify was not called"),
        "script output: {text}"
    );
    assert!(text.contains("not released: the deploy failed"), "{text}");
    assert!(
        text.contains("guardrail rollback --yes"),
        "rollback offered: {text}"
    );
    // Live verification ran once, to show what production serves.
    assert!(text.contains("❌ build id"), "{text}");
    assert!(
        took < secs(8),
        "waited out the verification deadline: {took:?}"
    );
    assert!(err.contains("failed at deploy"), "{err}");
    // Nothing released: no tag, no backup, no release log, no `release OK`.
    assert!(f
        .try_git(&["rev-parse", "-q", "--verify", BAD_TAG])
        .is_err());
    let files: Vec<String> = std::fs::read_dir(f.path().join("backups"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!files.iter().any(|n| n.contains(BAD_TAG)), "{files:?}");
    let logs: Vec<String> = std::fs::read_dir(f.path().join("deploy_logs"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!logs.iter().any(|n| n.contains(BAD_TAG)), "{logs:?}");
    let records = audit_records(f);
    let failed_at = records
        .iter()
        .position(|r| r["action"] == "deploy" && r["result"] == "FAILED")
        .expect("deploy FAILED recorded");
    assert!(
        !records[failed_at..]
            .iter()
            .any(|r| r["action"] == "release" && r["result"] == "OK"),
        "release OK after deploy FAILED"
    );
    // The live record says what is known: the failed build, and where.
    let live = live_record(f);
    assert_eq!(live["health"], "unknown", "{live:#}");
    assert!(live["tag"].is_null(), "{live:#}");
    assert_ne!(live["build_id"], before["build_id"]);
    let why = live["failure"].as_str().unwrap();
    assert!(
        why.starts_with(&format!(
            "deploy of {} failed at deploy",
            live["build_id"].as_str().unwrap()
        )),
        "{why}"
    );
    // Production still serves the released build.
    assert_eq!(served_files(&l.site), released_bundle);
    // A later `verify` that fails cannot make the unpublished build "failed":
    // it stays unknown.
    let out = run(f, &["verify"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert_eq!(live_record(f)["health"], "unknown");
    // Nor can checks that pass without seeing the BUILD_ID (content only:
    // they pass against the old site just as well) make it "ok".
    let with_build_check = std::fs::read_to_string(f.path().join("guardrail.toml")).unwrap();
    let content_only = with_build_check.replace(
        "[[live.check]]\nname = \"build id\"\npath = \"/\"\nbuild_id = true\n",
        "",
    );
    assert_ne!(content_only, with_build_check);
    std::fs::write(f.path().join("guardrail.toml"), &content_only).unwrap();
    let out = run(f, &["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(live_record(f)["health"], "unknown");
    std::fs::write(f.path().join("guardrail.toml"), &with_build_check).unwrap();
    let st = stdout(&run(f, &["status"]));
    assert!(st.contains("live is unknown: deploy of"), "{st}");
    // The default rollback target is the released tag (not "live").
    let out = run(f, &["rollback", "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(live_record(f)["tag"], NEXT_TAG);
}

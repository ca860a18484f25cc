//! Handoff packages read from real branch commits, freshness, the evidence
//! checklist, prod tags and legacy manifests.
use crate::common;

use chrono::{NaiveDate, TimeZone, Utc};
use common::{files, lines, Files, TestRepo, JPEG_HEAD, PNG_1X1};
use guardrail::pipeline::baseline::{check_tree, BaselineReport};
use guardrail::pipeline::evidence::Requirement;
use guardrail::pipeline::handoff::{
    checklist, legacy_by_branch, legacy_checklist, legacy_name_time, next_free_tag, package_state,
    parse_prod_tag, read_package, read_package_within, sha256_hex, slug,
    tree_equal_ignoring_handoff, ChecklistInputs, ChecklistItem, GateResult, GateSection,
    HandoffError, HandoffManifest, ItemState, LegacyManifest, OversizedEvidence, PackageFiles,
    PackageState, SnapshotSection,
};
use proptest::prelude::*;

const BRANCH: &str = "feature/auth-modal";
const DIR: &str = ".handoff/feature-auth-modal";
const BASELINE: &str = "deployment/deploy_baseline.env";

fn manifest(commit: &str, log: &[u8]) -> HandoffManifest {
    HandoffManifest {
        branch: BRANCH.into(),
        commit: commit.into(),
        created: Utc.with_ymd_and_hms(2025, 11, 14, 22, 47, 26).unwrap(),
        author: "agent-7".into(),
        proposed_tag: "prod-2025-11-15".into(),
        proposed_bundle: "backups/prod-2025-11-15.zip".into(),
        summary: "Auth modal copy fixes".into(),
        gate: GateSection {
            result: GateResult::Pass,
            exit_code: 0,
            log: "gate.log".into(),
            sha256: sha256_hex(log),
        },
        snapshot: SnapshotSection {
            file: "snapshot.md".into(),
        },
    }
}

const SAMPLE: &str = r#"branch = "feature/auth-modal"
commit = "0123456789abcdef0123456789abcdef01234567"
created = "2025-11-14T22:47:26Z"
author = "agent-7"
proposed_tag = "prod-2025-11-15"
proposed_bundle = "backups/prod-2025-11-15.zip"
summary = "Auth modal copy fixes"

[gate]
result = "PASS"
exit_code = 0
log = "gate.log"
sha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

[snapshot]
file = "snapshot.md"
"#;

fn manifest_err(text: &str) -> String {
    HandoffManifest::parse(text, ".handoff/x/handoff.toml")
        .expect_err("should not parse")
        .to_string()
}

#[test]
fn slugs() {
    assert_eq!(slug("feature/auth-modal"), "feature-auth-modal");
    assert_eq!(slug("a/b/c"), "a-b-c");
    assert_eq!(slug("main"), "main");
}

#[test]
fn manifest_parses_and_round_trips() {
    let m = HandoffManifest::parse(SAMPLE, "handoff.toml").unwrap();
    assert_eq!(m.branch, BRANCH);
    assert_eq!(m.gate.result, GateResult::Pass);
    assert_eq!(
        m.created,
        Utc.with_ymd_and_hms(2025, 11, 14, 22, 47, 26).unwrap()
    );
    assert_eq!(m.snapshot.file, "snapshot.md");
    let text = m.render();
    assert_eq!(HandoffManifest::parse(&text, "x").unwrap(), m);
    assert_eq!(HandoffManifest::parse(&text, "x").unwrap().render(), text);
    assert!(
        text.contains("created = \"2025-11-14T22:47:26Z\""),
        "{text}"
    );
    assert!(text.contains("[gate]\nresult = \"PASS\""), "{text}");

    // A bare TOML datetime is accepted; log and [snapshot] have defaults.
    let bare = SAMPLE
        .replace("\"2025-11-14T22:47:26Z\"", "2025-11-14T22:47:26Z")
        .replace("log = \"gate.log\"\n", "")
        .replace("[snapshot]\nfile = \"snapshot.md\"\n", "");
    assert_eq!(HandoffManifest::parse(&bare, "x").unwrap(), m);
}

#[test]
fn manifest_errors_name_file_line_and_key() {
    assert_eq!(
        manifest_err(&SAMPLE.replace("exit_code = 0", "exit_code = \"zero\"")),
        ".handoff/x/handoff.toml line 11, key gate.exit_code: invalid type: string \"zero\", expected i32"
    );
    let e = manifest_err(&SAMPLE.replace("proposed_tag", "propsed_tag"));
    assert!(
        e.starts_with(
            ".handoff/x/handoff.toml line 5, key propsed_tag: unknown field `propsed_tag`"
        ),
        "{e}"
    );
    assert_eq!(
        manifest_err(&SAMPLE.replace(
            "sha256 = \"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\"\n",
            ""
        )),
        ".handoff/x/handoff.toml, key gate.sha256: missing"
    );
    assert_eq!(
        manifest_err(&SAMPLE.replace(
            "commit = \"0123456789abcdef0123456789abcdef01234567\"\n",
            ""
        )),
        ".handoff/x/handoff.toml, key commit: missing"
    );
    let e = manifest_err(&SAMPLE.replace("2025-11-14T22:47:26Z", "yesterday"));
    assert!(
        e.starts_with(".handoff/x/handoff.toml line 3, key created: \"yesterday\" is not a time"),
        "{e}"
    );
    let e = manifest_err(&SAMPLE.replace("\"PASS\"", "\"MAYBE\""));
    assert!(
        e.starts_with(".handoff/x/handoff.toml line 10, key gate.result: unknown variant `MAYBE`"),
        "{e}"
    );
    let e = manifest_err("branch = \"x\"\ncommit = \n");
    assert!(e.starts_with(".handoff/x/handoff.toml line 2"), "{e}");
    for e in [
        manifest_err(&SAMPLE.replace("exit_code = 0", "exit_code = \"zero\"")),
        manifest_err("branch = \"x\"\ncommit = \n"),
    ] {
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    assert!(matches!(
        HandoffManifest::parse("", "f"),
        Err(HandoffError::Manifest { .. })
    ));
}

fn arb_manifest() -> impl Strategy<Value = HandoffManifest> {
    let s = || any::<String>();
    (
        (
            s(),
            "[0-9a-f]{40}",
            0i64..4_000_000_000,
            0u32..1_000_000_000,
            s(),
        ),
        (s(), s(), s(), any::<bool>(), any::<i32>(), s(), s(), s()),
    )
        .prop_map(
            |(
                (branch, commit, secs, nanos, author),
                (tag, bundle, summary, pass, code, log, sha, file),
            )| {
                HandoffManifest {
                    branch,
                    commit,
                    created: Utc.timestamp_opt(secs, nanos).unwrap(),
                    author,
                    proposed_tag: tag,
                    proposed_bundle: bundle,
                    summary,
                    gate: GateSection {
                        result: if pass {
                            GateResult::Pass
                        } else {
                            GateResult::Fail
                        },
                        exit_code: code,
                        log,
                        sha256: sha,
                    },
                    snapshot: SnapshotSection { file },
                }
            },
        )
}

// ---------------------------------------------------------------------------
// Packages in real repositories

struct Fixture {
    t: TestRepo,
    /// The code commit the gate ran on.
    gated: git2::Oid,
    /// The branch head: `gated` plus the package commit.
    head: git2::Oid,
    code: Files,
    log: Vec<u8>,
}

fn package_files(commit: &str, log: &[u8]) -> Files {
    let mut f = Files::new();
    f.insert(
        format!("{DIR}/handoff.toml"),
        manifest(commit, log).render().into_bytes(),
    );
    f.insert(format!("{DIR}/gate.log"), log.to_vec());
    f.insert(
        format!("{DIR}/snapshot.md"),
        b"# Baseline snapshot\n".to_vec(),
    );
    f.insert(
        format!("{DIR}/audit.json"),
        audit_json(commit, &sha256_hex(log)).into_bytes(),
    );
    for i in 1..=10 {
        f.insert(
            format!("{DIR}/evidence/ps101-step-{i}.png"),
            PNG_1X1.to_vec(),
        );
    }
    f.insert(
        format!("{DIR}/evidence/modal/auth-modal.jpg"),
        JPEG_HEAD.to_vec(),
    );
    f
}

fn audit_json(commit: &str, sha: &str) -> String {
    format!(
        r#"{{"seq":3,"time":"2025-11-14T22:47:26Z","actor":"agent-7","action":"gate","target":"{BRANCH}","result":"PASS","details":{{"commit":"{commit}","gate_log_sha256":"{sha}"}},"prev":"00"}}"#
    )
}

fn fixture() -> Fixture {
    let t = TestRepo::new();
    let mut code = files(&[
        (
            BASELINE,
            b"MOSAIC_UI_LINE_COUNT=20\nMOSAIC_UI_LINE_TOLERANCE=2\n",
        ),
        ("README.md", b"mosaic\n"),
    ]);
    code.insert("mosaic_ui/index.html".into(), lines(20));
    let main = t.commit("main", &[], &code, "golden");
    code.insert("mosaic_ui/index.html".into(), lines(21));
    let gated = t.commit(BRANCH, &[main], &code, "auth modal");
    let log = b"Running deploy gate...\nPS101 10-step flow walked end-to-end against this build? [yes/no/n/a]: yes\nPASS\n".to_vec();
    let mut with_pkg = code.clone();
    with_pkg.extend(package_files(&gated.to_string(), &log));
    let head = t.commit(BRANCH, &[gated], &with_pkg, "handoff package");
    Fixture {
        t,
        gated,
        head,
        code: with_pkg,
        log,
    }
}

#[test]
fn reads_a_package_from_the_branch_commit() {
    let f = fixture();
    let head = f.t.find_commit(f.head);
    let p = read_package(&f.t.repo, &head, BRANCH)
        .unwrap()
        .expect("package");
    assert_eq!(p.dir, DIR);
    assert_eq!(p.branch, BRANCH);
    let m = HandoffManifest::parse(p.manifest_text.as_deref().unwrap(), "x").unwrap();
    assert_eq!(m.commit, f.gated.to_string());
    assert_eq!(p.gate_log.as_deref(), Some(&f.log[..]));
    assert_eq!(p.snapshot_md.as_deref(), Some("# Baseline snapshot\n"));
    assert!(p.audit_json.as_deref().unwrap().contains("gate_log_sha256"));
    assert_eq!(p.evidence.len(), 11);
    assert_eq!(p.evidence[0].0, "modal/auth-modal.jpg");
    assert_eq!(p.evidence[0].1, JPEG_HEAD);
    // Only the first 64 bytes of a 70-byte PNG are kept.
    let png = p
        .evidence
        .iter()
        .find(|e| e.0 == "ps101-step-1.png")
        .unwrap();
    assert_eq!(png.1, &PNG_1X1[..64]);

    // No package on main, or for another branch name.
    let main =
        f.t.repo
            .find_branch("main", git2::BranchType::Local)
            .unwrap();
    let main = main.get().peel_to_commit().unwrap();
    assert_eq!(read_package(&f.t.repo, &main, "main").unwrap(), None);
    assert_eq!(
        read_package(&f.t.repo, &head, "feature/other").unwrap(),
        None
    );
}

#[test]
fn evidence_over_max_file_is_sized_by_its_header_and_not_read() {
    let f = fixture();
    let head = f.t.find_commit(f.head);
    // The 70-byte PNGs are over a 69-byte cap; the 26-byte JPEG head is not.
    let p = read_package_within(&f.t.repo, &head, BRANCH, 69)
        .unwrap()
        .expect("package");
    assert_eq!(p.evidence.len(), 1, "{:?}", p.evidence);
    assert_eq!(p.evidence[0].0, "modal/auth-modal.jpg");
    assert_eq!(p.oversized.len(), 10);
    assert_eq!(
        p.oversized[0],
        OversizedEvidence {
            name: "ps101-step-1.png".into(),
            bytes: PNG_1X1.len() as u64,
            max: 69
        }
    );
    let all = read_package(&f.t.repo, &head, BRANCH).unwrap().unwrap();
    assert!(all.oversized.is_empty());
    assert_eq!(all.evidence.len(), 11);
}

#[test]
fn freshness_ignores_only_the_handoff_directory() {
    let mut f = fixture();
    let gated = f.t.find_commit(f.gated);
    let head = f.t.find_commit(f.head);
    assert_eq!(
        tree_equal_ignoring_handoff(&f.t.repo, &gated, &head).unwrap(),
        (true, vec![])
    );

    // A commit that only touches .handoff/ keeps it fresh.
    f.code
        .insert(format!("{DIR}/notes.txt"), b"more notes\n".to_vec());
    f.code
        .insert(".handoff/other-branch/handoff.toml".into(), b"x".to_vec());
    let h2 = f.t.commit(BRANCH, &[f.head], &f.code, "more package");
    let h2c = f.t.find_commit(h2);
    assert!(
        tree_equal_ignoring_handoff(&f.t.repo, &gated, &h2c)
            .unwrap()
            .0
    );

    // A code commit makes it stale, naming the files.
    f.code.insert("mosaic_ui/index.html".into(), lines(22));
    f.code.insert("mosaic_ui/new.js".into(), b"x\n".to_vec());
    f.code.remove("README.md");
    let h3 = f.t.commit(BRANCH, &[h2], &f.code, "code after the gate");
    let h3c = f.t.find_commit(h3);
    assert_eq!(
        tree_equal_ignoring_handoff(&f.t.repo, &gated, &h3c).unwrap(),
        (
            false,
            vec![
                "README.md".to_string(),
                "mosaic_ui/index.html".to_string(),
                "mosaic_ui/new.js".to_string()
            ]
        )
    );
}

/// Inputs for a fully ready package, built from the fixture.
struct Ctx {
    files: PackageFiles,
    manifest: Option<HandoffManifest>,
    fresh: Option<(bool, Vec<String>)>,
    report: BaselineReport,
    reqs: Vec<Requirement>,
    existing_tags: Vec<String>,
    existing_bundles: Vec<String>,
    audit_ok: bool,
}

fn ready_ctx() -> Ctx {
    let f = fixture();
    let head = f.t.find_commit(f.head);
    let gated = f.t.find_commit(f.gated);
    let files = read_package(&f.t.repo, &head, BRANCH).unwrap().unwrap();
    let manifest = HandoffManifest::parse(files.manifest_text.as_deref().unwrap(), "x").ok();
    let fresh = Some(tree_equal_ignoring_handoff(&f.t.repo, &gated, &head).unwrap());
    let report = check_tree(
        &f.t.repo,
        &head.tree().unwrap(),
        BASELINE,
        &Default::default(),
    )
    .unwrap();
    Ctx {
        files,
        manifest,
        fresh,
        report,
        reqs: vec![
            Requirement {
                name: "PS101 10-step flow".into(),
                glob: "ps101-step-*".into(),
                min: 10,
            },
            Requirement {
                name: "auth modal".into(),
                glob: "auth-modal*".into(),
                min: 1,
            },
        ],
        existing_tags: vec!["prod-2025-11-13".into(), "prod-2025-11-14".into()],
        existing_bundles: vec!["backups/prod-2025-11-14.zip".into()],
        audit_ok: true,
    }
}

fn run(c: &Ctx) -> (Vec<ChecklistItem>, PackageState) {
    let tag_exists = |t: &str| c.existing_tags.iter().any(|x| x == t);
    let bundle_exists = |b: &str| c.existing_bundles.iter().any(|x| x == b);
    let audit_ok = |_: &str| c.audit_ok;
    let inp = ChecklistInputs {
        files: &c.files,
        manifest: c.manifest.as_ref(),
        fresh: c.fresh.clone(),
        baseline_within: Some(Ok(c.report.within())),
        baseline_report: Some(&c.report),
        requirements: &c.reqs,
        tag_exists: &tag_exists,
        tag_prefix: "prod-",
        backups_dir: "backups",
        bundle_exists: &bundle_exists,
        audit_hash_ok: &audit_ok,
        audit_in_local_log: Some(false),
    };
    let items = checklist(&inp);
    let state = package_state(
        &items,
        c.manifest.as_ref().map(|m| m.gate.result),
        c.fresh.as_ref().map(|f| f.0),
    );
    (items, state)
}

fn item<'a>(items: &'a [ChecklistItem], key: &str) -> &'a ChecklistItem {
    items.iter().find(|i| i.key == key).unwrap()
}

fn reason(items: &[ChecklistItem], key: &str) -> String {
    item(items, key).reason.clone().unwrap_or_default()
}

#[test]
fn a_complete_package_is_ready() {
    let c = ready_ctx();
    let (items, state) = run(&c);
    let keys: Vec<&str> = items.iter().map(|i| i.key).collect();
    assert_eq!(keys, ["gate", "snapshot", "visual", "fallback", "audit"]);
    for i in &items {
        assert_eq!(i.state, ItemState::Ok, "{i:?}");
        assert_eq!(i.reason, None);
    }
    assert_eq!(state, PackageState::Ready);
    assert!(item(&items, "audit")
        .detail
        .iter()
        .any(|d| d.contains("does not hold the entry")));
}

#[test]
fn each_missing_file_is_named() {
    let cases: [(&str, &str, &str); 4] = [
        (
            "gate",
            "gate.log",
            "gate.log is missing from .handoff/feature-auth-modal/",
        ),
        (
            "snapshot",
            "snapshot",
            "snapshot.md is missing from .handoff/feature-auth-modal/",
        ),
        (
            "visual",
            "evidence",
            "no evidence files in .handoff/feature-auth-modal/evidence/",
        ),
        (
            "audit",
            "audit",
            "audit.json is missing from .handoff/feature-auth-modal/",
        ),
    ];
    for (key, what, expected) in cases {
        let mut c = ready_ctx();
        match what {
            "gate.log" => c.files.gate_log = None,
            "snapshot" => c.files.snapshot_md = None,
            "evidence" => c.files.evidence.clear(),
            _ => c.files.audit_json = None,
        }
        let (items, state) = run(&c);
        assert_eq!(item(&items, key).state, ItemState::Missing, "{key}");
        assert_eq!(reason(&items, key), expected);
        assert_eq!(state, PackageState::Incomplete, "{key}");
        let others_ok = items
            .iter()
            .filter(|i| i.key != key)
            .all(|i| i.state == ItemState::Ok);
        assert!(others_ok, "only {key} should fail: {items:?}");
    }

    // No manifest at all: gate and fallback say so.
    let mut c = ready_ctx();
    c.files.manifest_text = None;
    c.manifest = None;
    let (items, state) = run(&c);
    assert_eq!(
        reason(&items, "gate"),
        "handoff.toml is missing from .handoff/feature-auth-modal/, so the gate result is unknown"
    );
    assert_eq!(
        reason(&items, "fallback"),
        "handoff.toml is missing from .handoff/feature-auth-modal/, so no fallback tag is proposed"
    );
    assert_eq!(state, PackageState::Incomplete);

    // A manifest that does not parse: the parse error is the reason.
    let mut c = ready_ctx();
    c.files.manifest_text = Some("branch = 3\n".into());
    c.manifest = None;
    let (items, _) = run(&c);
    assert_eq!(item(&items, "gate").state, ItemState::Fail);
    assert!(reason(&items, "gate").contains(
        "handoff.toml cannot be read, so the gate result is unknown: .handoff/feature-auth-modal/handoff.toml line 1, key branch: invalid type"
    ), "{}", reason(&items, "gate"));
}

#[test]
fn gate_fail_makes_the_package_failed() {
    let mut c = ready_ctx();
    let m = c.manifest.as_mut().unwrap();
    m.gate.result = GateResult::Fail;
    m.gate.exit_code = 1;
    let commit = m.commit.clone();
    let (items, state) = run(&c);
    assert_eq!(item(&items, "gate").state, ItemState::Fail);
    assert_eq!(
        reason(&items, "gate"),
        format!("the gate failed (exit code 1) on commit {}", &commit[..7])
    );
    assert_eq!(state, PackageState::Failed);
}

#[test]
fn stale_gate_names_commit_and_files() {
    let mut c = ready_ctx();
    let commit = c.manifest.as_ref().unwrap().commit.clone();
    c.fresh = Some((
        false,
        vec![
            "a.js".into(),
            "b.js".into(),
            "c.js".into(),
            "mosaic_ui/index.html".into(),
        ],
    ));
    let (items, state) = run(&c);
    assert_eq!(
        reason(&items, "gate"),
        format!(
            "stale: the gate ran on {}, and 4 files changed since: a.js, b.js, c.js and 1 more",
            &commit[..7]
        )
    );
    assert!(item(&items, "gate")
        .detail
        .iter()
        .any(|d| d == "  mosaic_ui/index.html"));
    assert_eq!(state, PackageState::Stale);

    c.fresh = None;
    let (items, state) = run(&c);
    assert!(reason(&items, "gate").contains("is not in this repository"));
    assert_eq!(state, PackageState::Incomplete);
}

#[test]
fn gate_log_hash_mismatch() {
    let mut c = ready_ctx();
    c.files.gate_log = Some(b"PASS (edited afterwards)\n".to_vec());
    let (items, _) = run(&c);
    let r = reason(&items, "gate");
    assert!(
        r.starts_with("gate.log sha256 mismatch: the file hashes to "),
        "{r}"
    );
    assert!(r.contains(", handoff.toml records "), "{r}");
    // The audit entry still matches the manifest, so audit stays ✅.
    assert_eq!(item(&items, "audit").state, ItemState::Ok);
}

#[test]
fn snapshot_outside_tolerance_names_the_metric() {
    let mut c = ready_ctx();
    c.report.checks[0].within = false;
    c.report.checks[0].reason =
        Some("mosaic_ui/index.html has 30 lines, expected 20 ± 2 (10 over)".into());
    let (items, _) = run(&c);
    assert_eq!(
        reason(&items, "snapshot"),
        "baseline outside tolerance: MOSAIC_UI: mosaic_ui/index.html has 30 lines, expected 20 ± 2 (10 over)"
    );
}

#[test]
fn fake_evidence_is_named() {
    let mut c = ready_ctx();
    for e in c.files.evidence.iter_mut() {
        if e.0.ends_with("auth-modal.jpg") {
            e.1 = b"<html>not a screenshot</html>".to_vec();
        }
    }
    let (items, state) = run(&c);
    assert_eq!(item(&items, "visual").state, ItemState::Fail);
    assert_eq!(
        reason(&items, "visual"),
        "auth modal: auth-modal.jpg is not really an image (looks like HTML)"
    );
    assert_eq!(state, PackageState::Incomplete);

    let mut c = ready_ctx();
    c.files.evidence.retain(|e| e.0 != "ps101-step-1.png");
    let (items, _) = run(&c);
    assert_eq!(item(&items, "visual").state, ItemState::Missing);
    assert_eq!(
        reason(&items, "visual"),
        "PS101 10-step flow: needs 10 files matching ps101-step-*, found 9"
    );
}

#[test]
fn fallback_checks() {
    let mut c = ready_ctx();
    c.manifest.as_mut().unwrap().proposed_tag = "prod-2025-11-14".into();
    c.manifest.as_mut().unwrap().proposed_bundle = "backups/prod-2025-11-14.zip".into();
    c.existing_tags.push("prod-2025-11-14.2".into());
    let (items, state) = run(&c);
    assert_eq!(item(&items, "fallback").state, ItemState::Fail);
    assert_eq!(
        reason(&items, "fallback"),
        "tag prod-2025-11-14 already exists (next free: prod-2025-11-14.3)"
    );
    assert_eq!(state, PackageState::Incomplete);

    // A manifest without proposed_tag still parses; the checklist says so.
    let mut c = ready_ctx();
    let text = c.files.manifest_text.clone().unwrap();
    let text = text.replace("proposed_tag = \"prod-2025-11-15\"\n", "");
    c.manifest = Some(HandoffManifest::parse(&text, "x").unwrap());
    let (items, _) = run(&c);
    assert_eq!(item(&items, "fallback").state, ItemState::Missing);
    assert_eq!(
        reason(&items, "fallback"),
        "handoff.toml proposes no tag (proposed_tag is empty)"
    );

    let mut c = ready_ctx();
    c.manifest.as_mut().unwrap().proposed_tag = "prod-2025-13-01".into();
    let (items, _) = run(&c);
    assert_eq!(
        reason(&items, "fallback"),
        "proposed tag prod-2025-13-01 is not of the form prod-YYYY-MM-DD or prod-YYYY-MM-DD.N (N ≥ 2)"
    );

    let mut c = ready_ctx();
    c.manifest.as_mut().unwrap().proposed_bundle = "backups/prod-2025-11-16.zip".into();
    let (items, _) = run(&c);
    assert_eq!(
        reason(&items, "fallback"),
        "proposed bundle backups/prod-2025-11-16.zip does not match the tag: expected backups/prod-2025-11-15.zip"
    );

    // The protocol's own spelling, /backups/…, is accepted.
    let mut c = ready_ctx();
    c.manifest.as_mut().unwrap().proposed_bundle = "/backups/prod-2025-11-15.zip".into();
    assert_eq!(item(&run(&c).0, "fallback").state, ItemState::Ok);

    let mut c = ready_ctx();
    c.existing_bundles
        .push("backups/prod-2025-11-15.zip".into());
    let (items, _) = run(&c);
    assert_eq!(
        reason(&items, "fallback"),
        "backups/prod-2025-11-15.zip already exists"
    );
}

#[test]
fn audit_checks() {
    let mut c = ready_ctx();
    c.audit_ok = false;
    let (items, _) = run(&c);
    assert_eq!(
        reason(&items, "audit"),
        "audit.json's hash does not recompute: the entry was edited"
    );

    let mut c = ready_ctx();
    let sha = c.manifest.as_ref().unwrap().gate.sha256.clone();
    c.files.audit_json = Some(audit_json("deadbeefdeadbeef", &sha));
    let (items, _) = run(&c);
    let commit = c.manifest.as_ref().unwrap().commit.clone();
    assert_eq!(
        reason(&items, "audit"),
        format!(
            "audit.json records commit deadbee, but the gate ran on {}",
            &commit[..7]
        )
    );

    let mut c = ready_ctx();
    let commit = c.manifest.as_ref().unwrap().commit.clone();
    c.files.audit_json = Some(audit_json(&commit, &"0".repeat(64)));
    assert!(reason(&run(&c).0, "audit").starts_with("audit.json records gate log sha256 0000000…"));

    let mut c = ready_ctx();
    c.files.audit_json = Some("{\"seq\": 1,\n oops".into());
    assert_eq!(
        reason(&run(&c).0, "audit"),
        "audit.json is not valid JSON (line 2, column 2)"
    );
}

#[test]
fn package_state_rules() {
    let ok = |k| ChecklistItem {
        key: k,
        state: ItemState::Ok,
        reason: None,
        detail: vec![],
    };
    let warn = ChecklistItem {
        key: "gate",
        state: ItemState::Warn,
        reason: Some("x".into()),
        detail: vec![],
    };
    assert_eq!(package_state(&[], None, None), PackageState::None);
    assert_eq!(
        package_state(
            &[ok("gate"), ok("audit")],
            Some(GateResult::Pass),
            Some(true)
        ),
        PackageState::Ready
    );
    assert_eq!(
        package_state(&[warn, ok("audit")], Some(GateResult::Pass), Some(true)),
        PackageState::Ready
    );
    assert_eq!(
        package_state(&[ok("gate")], Some(GateResult::Fail), Some(false)),
        PackageState::Failed
    );
    assert_eq!(
        package_state(&[ok("gate")], Some(GateResult::Pass), Some(false)),
        PackageState::Stale
    );
}

#[test]
fn prod_tags() {
    let d = NaiveDate::from_ymd_opt(2025, 11, 14).unwrap();
    assert_eq!(parse_prod_tag("prod-", "prod-2025-11-14"), Some((d, 1)));
    assert_eq!(parse_prod_tag("prod-", "prod-2025-11-14.2"), Some((d, 2)));
    assert_eq!(parse_prod_tag("prod-", "prod-2025-11-14.17"), Some((d, 17)));
    for bad in [
        "prod-2025-11-14.1",
        "prod-2025-11-14.0",
        "prod-2025-11-14.02",
        "prod-2025-11-14.",
        "prod-2025-11-14.x",
        "prod-2025-11-14.2.3",
        "prod-2025-02-30",
        "prod-2025-1-14",
        "prod-25-11-14",
        "prod-2025-11-14-hotfix",
        "release-2025-11-14",
        "prod-２０２５-11-14",
        "",
    ] {
        assert_eq!(parse_prod_tag("prod-", bad), None, "{bad}");
    }
    assert_eq!(
        parse_prod_tag("", "2024-02-29"),
        Some((NaiveDate::from_ymd_opt(2024, 2, 29).unwrap(), 1))
    );

    let tags = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(next_free_tag("prod-", d, &[]), "prod-2025-11-14");
    assert_eq!(
        next_free_tag("prod-", d, &tags(&["prod-2025-11-13"])),
        "prod-2025-11-14"
    );
    assert_eq!(
        next_free_tag("prod-", d, &tags(&["prod-2025-11-14"])),
        "prod-2025-11-14.2"
    );
    assert_eq!(
        next_free_tag(
            "prod-",
            d,
            &tags(&["prod-2025-11-14", "prod-2025-11-14.3", "prod-2025-11-14.x"])
        ),
        "prod-2025-11-14.4"
    );
}

// ---------------------------------------------------------------------------
// Legacy manifests

const LEGACY: &str = r#"{
  "timestamp": "2025-11-14T22:47:26Z",
  "commit": "0123456789abcdef0123456789abcdef01234567",
  "commit_message": "Fix auth modal\n\nlong body",
  "branch": "feature/auth-modal",
  "latest_backup": "backups/prod-2025-11-13.zip",
  "critical_features": {"auth_present": true, "ps101_present": "yes"},
  "next_agent_checklist": ["Run the gate", "Attach screenshots"],
  "extra_field": 42
}"#;

#[test]
fn legacy_manifest_parses_tolerantly() {
    let m = LegacyManifest::parse(LEGACY, "x.json").unwrap();
    assert_eq!(m.branch.as_deref(), Some(BRANCH));
    assert_eq!(
        m.latest_backup.as_deref(),
        Some("backups/prod-2025-11-13.zip")
    );
    let cf = m.critical_features.clone().unwrap();
    assert_eq!(
        (cf.auth_present, cf.ps101_present),
        (Some(true), Some(true))
    );
    assert_eq!(
        m.next_agent_checklist,
        vec!["Run the gate", "Attach screenshots"]
    );

    let sparse = LegacyManifest::parse(
        r#"{"commit": "abc1234", "next_agent_checklist": null}"#,
        "x",
    )
    .unwrap();
    assert_eq!(sparse.commit.as_deref(), Some("abc1234"));
    assert_eq!(sparse.branch, None);
    assert!(sparse.next_agent_checklist.is_empty());
    assert_eq!(
        LegacyManifest::parse("{}", "x").unwrap(),
        LegacyManifest::default()
    );
}

#[test]
fn legacy_json_errors_give_line_and_column() {
    let e = LegacyManifest::parse(
        "{\n  \"commit\": \"abc\",\n  \"branch\": \n}",
        ".ai-agents/handoff_20251114_224726.json",
    )
    .unwrap_err();
    match &e {
        HandoffError::LegacyJson { line, column, .. } => assert_eq!((*line, *column), (4, 1)),
        other => panic!("{other:?}"),
    }
    assert!(
        e.to_string()
            == ".ai-agents/handoff_20251114_224726.json: not valid JSON at line 4: a value is missing",
        "{e}"
    );
    let e = LegacyManifest::parse("{\"commit\": 5}", "f.json")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("f.json: not a handoff manifest at line 1: "),
        "{e}"
    );
    assert!(e.contains("invalid type"), "{e}");
}

#[test]
fn legacy_file_names_and_grouping() {
    assert_eq!(
        legacy_name_time(".ai-agents/handoff_20251114_224726.json").map(|t| t.to_string()),
        Some("2025-11-14 22:47:26".to_string())
    );
    assert_eq!(legacy_name_time("handoff_2025_224726.json"), None);
    assert_eq!(legacy_name_time("notes.json"), None);
    let m = LegacyManifest::parse(LEGACY, "x").unwrap();
    let groups = legacy_by_branch(&[
        ("handoff_20251115_000000.json".into(), m.clone()),
        ("handoff_20251114_000000.json".into(), m.clone()),
        (
            "handoff_20251116_000000.json".into(),
            LegacyManifest::default(),
        ),
    ]);
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[BRANCH][0].0, "handoff_20251114_000000.json");
}

#[test]
fn legacy_checklist_proves_what_it_can() {
    let m = LegacyManifest::parse(LEGACY, "x").unwrap();
    let head = "0123456789abcdef0123456789abcdef01234567";
    let items = legacy_checklist(&m, head, true);
    let keys: Vec<&str> = items.iter().map(|i| i.key).collect();
    assert_eq!(keys, ["gate", "snapshot", "visual", "fallback", "audit"]);
    assert_eq!(item(&items, "gate").state, ItemState::Missing);
    assert_eq!(
        reason(&items, "gate"),
        "legacy manifest carries no gate log (its commit 0123456 is still the branch head)"
    );
    assert_eq!(item(&items, "fallback").state, ItemState::Ok);
    assert!(item(&items, "visual")
        .detail
        .iter()
        .any(|d| d == "auth modal: claimed present (not proven)"));
    assert!(item(&items, "audit")
        .detail
        .iter()
        .any(|d| d == "  - Run the gate"));
    assert_eq!(
        package_state(&items, None, Some(true)),
        PackageState::Incomplete
    );

    let items = legacy_checklist(&m, "fedcba9876543210", false);
    assert_eq!(item(&items, "gate").state, ItemState::Fail);
    assert_eq!(
        reason(&items, "gate"),
        "stale: legacy manifest names commit 0123456, but the branch head is now fedcba9"
    );
    assert_eq!(
        reason(&items, "fallback"),
        "latest backup backups/prod-2025-11-13.zip named in the manifest is not present"
    );
    assert_eq!(
        package_state(&items, None, Some(false)),
        PackageState::Stale
    );

    // An abbreviated commit in the manifest still matches the head.
    let short = LegacyManifest {
        commit: Some("0123456789ab".into()),
        ..LegacyManifest::default()
    };
    let items = legacy_checklist(&short, head, false);
    assert_eq!(item(&items, "gate").state, ItemState::Missing);
    assert_eq!(
        reason(&items, "fallback"),
        "legacy manifest names no backup"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn manifest_render_parse_identity(m in arb_manifest()) {
        let text = m.render();
        prop_assert_eq!(HandoffManifest::parse(&text, "x"), Ok(m));
    }

    #[test]
    fn manifest_parse_never_panics(text in any::<String>()) {
        let _ = HandoffManifest::parse(&text, "x");
    }

    #[test]
    fn legacy_parse_never_panics(text in any::<String>()) {
        let _ = LegacyManifest::parse(&text, "x");
    }

    #[test]
    fn legacy_parse_never_panics_on_jsonish(text in "[{}\\[\\]\":,a-z0-9 \n\\\\]{0,60}") {
        let _ = LegacyManifest::parse(&text, "x");
    }

    #[test]
    fn prod_tag_parse_never_panics_and_names_round_trip(s in "prod-[0-9.-]{0,14}") {
        if let Some((d, n)) = parse_prod_tag("prod-", &s) {
            prop_assert_eq!(guardrail::pipeline::handoff::prod_tag_name("prod-", d, n), s);
        }
    }
}

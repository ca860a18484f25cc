//! guardrail on a repository shaped like the real one (issue 16): ignored
//! package files, `main`, branches that change their own gate, scripts that
//! commit and push, the prepare hook, and what a release manager reads.
use std::path::PathBuf;
use std::process::Output;

use crate::common::realrepo::*;
use crate::common::*;

const YES5: [&str; 10] = [
    "--answer", "yes", "--answer", "yes", "--answer", "yes", "--answer", "yes", "--answer", "yes",
];

/// Ten PS101 screenshots and the auth modal, outside the repository.
fn evidence_dir(r: &RealRepo) -> PathBuf {
    let dir = r.f.tempdir().join("captures");
    std::fs::create_dir_all(&dir).unwrap();
    for i in 1..=10 {
        std::fs::write(dir.join(format!("ps101-step-{i:02}.png")), PNG_1X1).unwrap();
    }
    std::fs::write(dir.join("auth-modal.png"), PNG_1X1).unwrap();
    dir
}

fn handoff_commit(r: &RealRepo, branch: &str) -> Output {
    let ev = evidence_dir(r);
    let ev = ev.display().to_string();
    let mut args = vec!["handoff", "--branch", branch, "--evidence", &ev, "--commit"];
    args.extend(YES5);
    let out = r.f.guardrail(&args);
    assert_eq!(
        out.status.code(),
        Some(0),
        "handoff {branch}:\n{}{}",
        stdout(&out),
        stderr(&out)
    );
    out
}

fn check_json(r: &RealRepo, branch: &str) -> (Option<i32>, serde_json::Value) {
    let out = r.f.guardrail(&["check", branch, "--json"]);
    (out.status.code(), json(&out))
}

fn item<'a>(j: &'a serde_json::Value, key: &str) -> &'a serde_json::Value {
    j["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == key)
        .unwrap_or_else(|| panic!("no {key} item in {j:#}"))
}

fn deploy(r: &RealRepo, branch: &str, extra: &[&str]) -> Output {
    let mut args = vec!["deploy", branch, "--yes"];
    args.extend(extra);
    args.extend(YES5);
    r.f.guardrail(&args)
}

// 1. `handoff --commit` and a repository that ignores *.log and evidence/.

#[test]
fn handoff_commit_keeps_the_ignored_gate_log_and_evidence() {
    let r = real_repo(PREPARE);
    handoff_commit(&r, LONG_BRANCH);
    let dir = format!(".handoff/{}", LONG_BRANCH.replace('/', "-"));
    let listed =
        r.f.git(&["ls-tree", "-r", "--name-only", LONG_BRANCH, "--", &dir]);
    for f in ["gate.log", "handoff.toml", "audit.json", "snapshot.md"] {
        assert!(listed.contains(&format!("{dir}/{f}")), "{f}:\n{listed}");
    }
    assert!(
        listed.contains(&format!("{dir}/evidence/auth-modal.png")),
        "{listed}"
    );
    assert_eq!(listed.matches("/evidence/ps101-step-").count(), 10);
    let out = r.f.guardrail(&["check", LONG_BRANCH]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("✅ gate"), "{}", stdout(&out));
}

#[test]
fn check_of_a_package_whose_files_were_never_committed_says_what_to_do() {
    let r = real_repo(PREPARE);
    // Committed with a plain `git add -A`: the .gitignore keeps gate.log
    // and evidence/ out.
    package(&r.f, LONG_BRANCH, &Pkg::default());
    let out = r.f.guardrail(&["check", LONG_BRANCH]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("gate.log is missing"), "{text}");
    assert!(text.contains("what to do:"), "{text}");
    assert!(
        text.contains(&format!(
            "guardrail handoff --branch {LONG_BRANCH} --commit"
        )),
        "{text}"
    );
    assert!(text.contains("git add -f"), "{text}");
    let (_, j) = check_json(&r, LONG_BRANCH);
    assert!(
        j["advice"].as_str().unwrap().contains(".gitignore"),
        "{j:#}"
    );
}

// 2. `main` is a branch like any other for reading.

#[test]
fn snapshot_and_check_of_main_work() {
    let r = real_repo(PREPARE);
    let out = r.f.guardrail(&["snapshot", "main"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.starts_with("main at "), "{text}");
    assert!(
        text.contains("watched files against the golden build"),
        "{text}"
    );
    let (code, j) = check_json(&r, "main");
    assert_eq!(code, Some(1));
    assert_eq!(j["branch"], "main");
    assert_eq!(j["state"], "none");
}

#[test]
fn a_branch_without_the_baseline_file_is_outside_with_the_reason_and_the_diff() {
    let r = real_repo(PREPARE);
    r.f.checkout_new("claude/drop-baseline-01Hx");
    r.f.remove("deployment/deploy_baseline.env");
    r.f.commit("Drop the baseline");
    r.f.checkout("main");
    let out = r.f.guardrail(&["snapshot", "claude/drop-baseline-01Hx"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let text = stdout(&out);
    assert!(text.contains("OUTSIDE tolerance"), "{text}");
    assert!(
        text.contains("❌") && text.contains("deploy_baseline.env"),
        "{text}"
    );
    assert!(text.contains("deployment/deploy_baseline.env"), "{text}");
    assert!(
        text.contains("watched files against the golden build"),
        "{text}"
    );
    let out =
        r.f.guardrail(&["snapshot", "claude/drop-baseline-01Hx", "--json"]);
    let j = json(&out);
    assert_eq!(j["within"], false);
    assert!(j["baseline_error"].as_str().is_some(), "{j:#}");
}

// 3. A branch that changes its own guardrail.

#[test]
fn a_branch_changing_its_gate_is_not_ready_until_a_release_manager_acknowledges_it() {
    let r = real_repo(&format!(
        "{PREPARE}deploy = \"scripts/deploy_frontend_netlify.sh\"\n"
    ));
    handoff_commit(&r, GATE_SKIP_BRANCH);
    let out = r.f.guardrail(&["check", GATE_SKIP_BRANCH]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(
        text.contains("⚠️ guard    this branch changes scripts/run_deploy_gate.sh"),
        "{text}"
    );
    let (_, j) = check_json(&r, GATE_SKIP_BRANCH);
    assert_eq!(j["state"], "incomplete");

    // Refused without the acknowledgement, before anything runs.
    let out = deploy(&r, GATE_SKIP_BRANCH, &[]);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("must acknowledge"),
        "{}",
        stderr(&out)
    );

    // Not by someone who is not a release manager.
    r.f.set_user("mallory");
    let out = deploy(&r, GATE_SKIP_BRANCH, &["--accept-guard-changes"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    r.f.set_user(DEFAULT_USER);

    let out = deploy(&r, GATE_SKIP_BRANCH, &["--accept-guard-changes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let acks = live::audit_of(&r.f, "guard-accept", "OK");
    assert_eq!(acks.len(), 1);
    let blob =
        r.f.rev_parse(&format!("{GATE_SKIP_BRANCH}:scripts/run_deploy_gate.sh"));
    assert_eq!(
        acks[0]["details"]["files"]["scripts/run_deploy_gate.sh"], blob,
        "{:#}",
        acks[0]
    );
    assert_eq!(live::audit_of(&r.f, "guard-accept", "REFUSED").len(), 1);
    let (_, j) = check_json(&r, GATE_SKIP_BRANCH);
    assert!(
        item(&j, "guard")["reason"]
            .as_str()
            .unwrap()
            .contains("acknowledged by tester"),
        "{j:#}"
    );

    // A later change to the gate needs a new acknowledgement.
    r.f.checkout(GATE_SKIP_BRANCH);
    r.f.append("scripts/run_deploy_gate.sh", "# one more tweak\n");
    r.f.commit("Gate: one more tweak");
    r.f.checkout("main");
    let (_, j) = check_json(&r, GATE_SKIP_BRANCH);
    let reason = item(&j, "guard")["reason"].as_str().unwrap().to_string();
    assert!(
        reason.ends_with("no release manager has acknowledged it"),
        "{reason}"
    );
    assert_eq!(item(&j, "guard")["state"], "warn");
}

#[test]
fn a_branch_changing_nothing_that_guards_it_has_a_passing_guard_line() {
    let r = real_repo(PREPARE);
    handoff_commit(&r, LONG_BRANCH);
    let (code, j) = check_json(&r, LONG_BRANCH);
    assert_eq!(code, Some(0), "{j:#}");
    assert_eq!(item(&j, "guard")["state"], "ok");
}

// 4. Scripts that commit and push.

#[test]
fn a_deploy_script_that_commits_and_pushes_main_is_stopped_by_git_and_says_so() {
    let r = real_repo(PREPARE);
    handoff_commit(&r, LONG_BRANCH);
    // main has a commit origin has not seen: a push would send it.
    r.f.write("docs/NOTES.md", "notes\n");
    r.f.commit("Docs: notes");
    let origin_before = r.origin_main();
    let main_before = r.f.rev_parse("main");
    assert_ne!(origin_before, main_before);
    let out = deploy(&r, LONG_BRANCH, &[]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        matches!(out.status.code(), Some(1) | Some(4)),
        "not released: {all}"
    );
    assert!(
        all.contains("scripts/deploy_now_zsh.sh tried to git push")
            && all.contains("allow_push = true under [scripts]"),
        "{all}"
    );
    assert!(all.contains("made 1 commit in the checkout"), "{all}");
    assert_eq!(r.origin_main(), origin_before, "origin's main moved");
    assert_eq!(r.f.rev_parse("main"), main_before, "main moved");
    assert!(
        r.f.git(&["tag", "--list", "prod-*"]).lines().count() == 3,
        "a tag was made"
    );
}

#[test]
fn with_allow_push_the_script_pushes_and_the_release_is_of_the_reviewed_commit() {
    let r = real_repo(&format!("{PREPARE}allow_push = true\n"));
    handoff_commit(&r, LONG_BRANCH);
    // main has a commit origin has not seen yet: the script's push sends it.
    r.f.write("docs/NOTES.md", "notes\n");
    let main = r.f.commit("Docs: notes");
    let reviewed = r.f.rev_parse(LONG_BRANCH);
    let out = deploy(&r, LONG_BRANCH, &[]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert_eq!(r.origin_main(), main);
    assert!(all.contains("made 1 commit in the checkout"), "{all}");
    assert!(
        all.contains("the release is of the reviewed commit"),
        "{all}"
    );
    let tag = r.f.git(&["tag", "--list", "prod-*", "--sort=-creatordate"]);
    let newest = tag.lines().next().unwrap().to_string();
    assert_eq!(r.f.commit_of(&newest), reviewed, "{newest}");
}

#[test]
fn a_publish_only_deploy_script_releases_and_reports_a_clean_checkout() {
    let r = real_repo(&format!(
        "{PREPARE}deploy = \"scripts/deploy_frontend_netlify.sh\"\n"
    ));
    handoff_commit(&r, LONG_BRANCH);
    let out = deploy(&r, LONG_BRANCH, &[]);
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(0), "{all}");
    assert!(!all.contains("made 1 commit"), "{all}");
    let page = std::fs::read_to_string(r.site.join("index.html")).unwrap();
    assert!(page.contains("handoff review: copy fixes"), "{page}");
}

// 5. The prepare hook and the gate's own failure line.

#[test]
fn without_the_prepare_hook_the_gate_fails_and_its_own_line_is_quoted() {
    let r = real_repo("");
    let mut args = vec!["gate", LONG_BRANCH];
    args.extend(YES5);
    let out = r.f.guardrail(&args);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(
        stdout(&out).contains(&format!("the gate's failure line: {NO_BACKUP_LINE}")),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_prepare_hook_runs_before_the_gate_and_the_playbook_quotes_a_gate_failure() {
    let r = real_repo(PREPARE);
    let mut args = vec!["gate", LONG_BRANCH];
    args.extend(YES5);
    let out = r.f.guardrail(&args);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("✅ Site backup written"),
        "{}",
        stdout(&out)
    );

    handoff_commit(&r, LONG_BRANCH);
    // The backup goes somewhere the gate does not look: the playbook's gate
    // step fails with the gate's own line, not only "gate FAIL".
    let mut args = vec!["deploy", LONG_BRANCH, "--yes"];
    args.extend(YES5);
    let out =
        r.f.guardrail_cmd(&args)
            .env("SITE_BACKUP_DIR", "backups/elsewhere")
            .output()
            .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("gate FAIL (audit #") && stderr(&out).contains(NO_BACKUP_LINE),
        "{}",
        stderr(&out)
    );
}

#[test]
fn the_review_screen_shows_the_guard_diff_and_acknowledges_it_with_one_key() {
    let r = real_repo(PREPARE);
    handoff_commit(&r, GATE_SKIP_BRANCH);
    let mut t = r.f.console(&[], 200, 50);
    t.wait_for("claude/gate", secs(15)).unwrap();
    t.send("/gate-fast\r");
    t.wait_for("Branches (1 of", secs(5)).unwrap();
    t.send("\r");
    t.wait_for("guard    this branch changes", secs(15))
        .unwrap();
    t.send("v");
    t.wait_for("auth check skipped", secs(10)).unwrap();
    t.send_esc();
    t.wait_for("Prod tags", secs(10)).unwrap();
    t.send("\r");
    t.wait_for("guard    this branch changes", secs(10))
        .unwrap();
    assert!(live::audit_of(&r.f, "guard-accept", "OK").is_empty());
    t.send("y");
    t.wait_for("Evidence · ready", secs(15)).unwrap();
    t.wait_for("(acknowledged by", secs(5)).unwrap();
    let acks = live::audit_of(&r.f, "guard-accept", "OK");
    assert_eq!(acks.len(), 1, "{acks:?}");
    assert_eq!(acks[0]["target"], GATE_SKIP_BRANCH);
    t.send_q();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    assert_terminal_restored(&t);
}

/// The row of the (filtered) branch list that names `part`, if shown.
fn list_row(s: &vt100::Screen, part: &str) -> Option<String> {
    s.contents()
        .lines()
        .find(|l| l.contains(part) && !l.contains("Branches ("))
        .map(str::to_string)
}

#[test]
fn a_guard_acknowledged_on_the_review_screen_turns_the_list_badge_ready() {
    let r = real_repo(PREPARE);
    handoff_commit(&r, GATE_SKIP_BRANCH);
    let mut t = r.f.console(&[], 200, 50);
    t.wait_for("claude/gate", secs(15)).unwrap();
    t.send("/gate-fast\r");
    t.wait_for("Branches (1 of", secs(5)).unwrap();
    // Held back by its guard changes: not ready.
    t.wait_until("the incomplete badge", secs(15), |s| {
        list_row(s, "claude/gate").is_some_and(|l| l.contains("… incompl"))
    })
    .unwrap();
    t.send("\r");
    t.wait_for("guard    this branch changes", secs(15))
        .unwrap();
    t.send("y");
    t.wait_for("(acknowledged by", secs(15)).unwrap();
    t.send_esc();
    t.wait_for("Prod tags", secs(10)).unwrap();
    // At once, without the list being read again.
    t.wait_until("the ready badge", secs(3), |s| {
        list_row(s, "claude/gate").is_some_and(|l| l.contains("✓ ready"))
    })
    .unwrap();
    assert_eq!(live::audit_of(&r.f, "guard-accept", "OK").len(), 1);
    t.send_q();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

// 6. What a release manager reads.

#[test]
fn the_invalid_legacy_manifest_is_explained_in_plain_words_on_its_branch() {
    let r = real_repo(PREPARE);
    let plain =
        format!("{BAD_MANIFEST} (on main): not valid JSON at line 10: a value is not in quotes");
    let out = r.f.guardrail(&["check", LONG_BRANCH]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!("⚠️ legacy manifest {plain}")),
        "{text}"
    );
    let (_, j) = check_json(&r, LONG_BRANCH);
    assert_eq!(j["legacy_warnings"][0], plain.as_str(), "{j:#}");
    let out = r.f.guardrail(&["status"]);
    let text = stdout(&out);
    assert!(text.contains(&format!("warning: {plain}")), "{text}");
    assert!(!text.contains("expected"), "serde's words: {text}");
}

#[test]
fn long_branch_names_keep_status_columns_aligned_with_an_ellipsis_in_the_middle() {
    let r = real_repo(PREPARE);
    let out = r.f.guardrail(&["status"]);
    let text = stdout(&out);
    let rows: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("branches ("))
        .skip(1)
        .take_while(|l| !l.is_empty())
        .collect();
    assert!(rows.len() >= 5, "{text}");
    let long = rows
        .iter()
        .find(|l| l.contains("claude/project-h"))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(long.contains('…') && long.contains("bH "), "{long}");
    assert!(!long.contains(LONG_BRANCH), "{long}");
    // The head column starts at the same place on every row.
    for row in &rows {
        let col: String = row.chars().skip(2 + 32 + 1).take(8).collect();
        assert!(
            col.chars().all(|c| c.is_ascii_hexdigit()),
            "misaligned: {row:?} in\n{text}"
        );
    }
}

#[test]
fn the_console_cuts_long_names_in_the_middle_and_the_review_shows_them_whole() {
    let r = real_repo(PREPARE);
    let mut t = r.f.console(&[], 100, 30);
    t.wait_for("claude/gate", secs(15)).unwrap();
    t.wait_until("a long name cut in the middle", secs(10), |s| {
        s.contents()
            .lines()
            .any(|l| l.contains("claude/proj") && l.contains('…'))
    })
    .unwrap();
    assert!(
        !t.screen_text().contains(LONG_BRANCH),
        "{}",
        t.screen_text()
    );
    t.send("/project-handoff\r");
    t.wait_for("Branches (1 of", secs(5)).unwrap();
    t.send("\r");
    t.wait_for(LONG_BRANCH, secs(10)).unwrap();
    t.send_tab();
    t.send_tab();
    t.send_tab();
    t.wait_for("not valid JSON at line 10", secs(10)).unwrap();
    t.send_q();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    assert_terminal_restored(&t);
}

#[test]
fn drift_after_releasing_an_unmerged_branch_names_it_and_bad_tags_are_marked() {
    let r = real_repo(&format!(
        "{PREPARE}deploy = \"scripts/deploy_frontend_netlify.sh\"\n"
    ));
    handoff_commit(&r, LONG_BRANCH);
    let out = deploy(&r, LONG_BRANCH, &[]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let tag = live::live_record(&r.f)["tag"].as_str().unwrap().to_string();
    let out = r.f.guardrail(&["drift"]);
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "live is {tag} from {LONG_BRANCH}, not merged into main"
        )),
        "{text}"
    );
    let j = json(&r.f.guardrail(&["drift", "--json"]));
    let summary = j["summary"].as_str().unwrap_or_default().to_string();
    assert!(!summary.contains("committed on main"), "{j:#}");

    // A tag that failed verification is marked in status and the console.
    let mut live = live::live_record(&r.f);
    live["bad_tags"] = serde_json::json!([mosaic::TAG_ANNOTATED]);
    std::fs::write(
        r.f.path().join(".git/guardrail/live.json"),
        serde_json::to_vec_pretty(&live).unwrap(),
    )
    .unwrap();
    let text = stdout(&r.f.guardrail(&["status"]));
    let row = text
        .lines()
        .find(|l| {
            l.trim_start()
                .starts_with(&format!("{} ", mosaic::TAG_ANNOTATED))
        })
        .unwrap_or_else(|| panic!("{text}"));
    assert!(row.contains("✗ bad"), "{row}");
    let mut t = r.f.console(&[], 140, 30);
    t.wait_for(&format!("{} ✗ bad", mosaic::TAG_ANNOTATED), secs(15))
        .unwrap();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

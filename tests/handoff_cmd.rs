//! `guardrail handoff` on real repositories, with a real bash gate committed
//! on the branch and the real binary: the package it writes must be READY for
//! `guardrail check` when the gate passes, documented as failed when it does
//! not, and never silently replace another commit's package.
use crate::common;
use common::*;

use std::path::{Path, PathBuf};

/// A gate like the real one: five questions, PASS only if none is `no`.
const GATE: &str = r#"#!/usr/bin/env bash
echo "=== Mosaic deploy gate on $GUARDRAIL_BRANCH ($GUARDRAIL_COMMIT) tag=$GUARDRAIL_TAG ==="
fail=0
for q in "PS101 10-step flow walked end-to-end against this build?" \
         "Auth modal opens and closes?" \
         "BUILD_ID footer present?" \
         "Baseline line counts within tolerance?" \
         "Screenshots attached to the handoff?"; do
  printf '%s [yes/no/n/a]: ' "$q"
  if ! read -r ans; then echo; echo "no answer: FAIL"; exit 1; fi
  case "$ans" in
    yes|n/a) ;;
    *) fail=1 ;;
  esac
done
if [ "$fail" = 0 ]; then echo "DEPLOY GATE: PASS"; exit 0; else echo "DEPLOY GATE: FAIL"; exit 1; fi
"#;

const YES: [&str; 10] = [
    "--answer", "yes", "--answer", "yes", "--answer", "yes", "--answer", "yes", "--answer", "yes",
];

/// The mosaic repository with the gate committed on main and merged into
/// feature/auth-modal; main checked out.
fn repo_with_gate() -> Fixture {
    let f = mosaic_repo();
    f.write_script("scripts/run_deploy_gate.sh", GATE);
    f.commit_paths("add the gate", &["scripts/run_deploy_gate.sh"]);
    f.checkout(mosaic::AUTH_MODAL);
    f.git(&["merge", "-q", "--no-edit", "main"]);
    f.checkout("main");
    f
}

/// A directory with the evidence the default requirements ask for.
fn evidence_dir(f: &Fixture, name: &str) -> PathBuf {
    let dir = f.tempdir().join(name);
    std::fs::create_dir_all(&dir).unwrap();
    for i in 1..=10 {
        std::fs::write(dir.join(format!("ps101-step-{i:02}.png")), PNG_1X1).unwrap();
    }
    std::fs::write(dir.join("auth-modal.png"), PNG_1X1).unwrap();
    dir
}

fn handoff(f: &Fixture, extra: &[&str]) -> std::process::Output {
    let mut args = vec!["handoff"];
    args.extend_from_slice(extra);
    f.guardrail(&args)
}

fn branch_package<'a>(status: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    &status["branches"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["name"] == name)
        .unwrap_or_else(|| panic!("no branch {name} in {status:#}"))["package"]
}

fn show(out: &std::process::Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    )
}

/// `git status --porcelain` without the protocol audit log, which every
/// gate run appends to at the repository root (SPEC §2).
fn status_porcelain(f: &Fixture) -> String {
    f.git(&["status", "--porcelain"])
        .lines()
        .filter(|l| *l != "?? .verification_audit.log")
        .collect::<Vec<_>>()
        .join("\n")
}

fn ls_tree(f: &Fixture, rev: &str, dir: &str) -> Vec<String> {
    f.git(&["ls-tree", "-r", "--name-only", rev, "--", dir])
        .lines()
        .map(str::to_string)
        .collect()
}

#[test]
fn full_handoff_with_evidence_and_commit_is_ready() {
    let f = repo_with_gate();
    f.checkout(mosaic::AUTH_MODAL);
    let gated = f.head();
    let ev = evidence_dir(&f, "shots");
    let mut args = vec!["--evidence", ev.to_str().unwrap(), "--commit"];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let so = stdout(&out);
    // The gate's output streamed, then what was written and the next step.
    assert!(so.contains("DEPLOY GATE: PASS"), "{so}");
    assert!(
        so.contains("PS101 10-step flow walked end-to-end against this build? [yes/no/n/a]: "),
        "{so}"
    );
    assert!(
        so.contains("wrote .handoff/feature-auth-modal/ in the working tree"),
        "{so}"
    );
    assert!(so.contains("evidence/ (11 files)"), "{so}");
    assert!(
        so.contains("next: guardrail check feature/auth-modal"),
        "{so}"
    );

    // One commit on top of the gated one, holding only the package.
    let head = f.head();
    assert_ne!(head, gated);
    assert_eq!(f.commit_of("HEAD^"), gated);
    assert_eq!(f.current_branch(), mosaic::AUTH_MODAL);
    let subject = f.git(&["log", "-1", "--format=%s"]);
    assert_eq!(
        subject,
        format!(
            "Handoff package for feature/auth-modal (gate PASS on {})",
            &gated[..7]
        )
    );
    let changed = f.git(&["diff", "--name-only", &gated, &head]);
    assert!(
        changed
            .lines()
            .all(|p| p.starts_with(".handoff/feature-auth-modal/")),
        "{changed}"
    );
    let files = ls_tree(&f, "HEAD", ".handoff/feature-auth-modal");
    for want in ["handoff.toml", "gate.log", "snapshot.md", "audit.json"] {
        assert!(
            files.contains(&format!(".handoff/feature-auth-modal/{want}")),
            "{files:?}"
        );
    }
    assert_eq!(
        files.iter().filter(|p| p.contains("/evidence/")).count(),
        11
    );
    assert_eq!(status_porcelain(&f), "");

    // The manifest names the gated commit and the log's sha256; audit.json
    // is the chain's own line.
    let toml_text = f.read(".handoff/feature-auth-modal/handoff.toml");
    let m =
        guardrail::pipeline::handoff::HandoffManifest::parse(&toml_text, "handoff.toml").unwrap();
    assert_eq!(m.commit, gated);
    assert_eq!(m.branch, mosaic::AUTH_MODAL);
    assert_eq!(m.author, "tester");
    assert_eq!(m.gate.result.as_str(), "PASS");
    assert_eq!(m.gate.exit_code, 0);
    let log = std::fs::read(f.path().join(".handoff/feature-auth-modal/gate.log")).unwrap();
    assert_eq!(
        m.gate.sha256,
        guardrail::pipeline::handoff::sha256_hex(&log)
    );
    assert!(String::from_utf8_lossy(&log).contains("DEPLOY GATE: PASS"));
    assert!(m.proposed_tag.starts_with("prod-"), "{}", m.proposed_tag);
    assert_eq!(m.proposed_bundle, format!("backups/{}.zip", m.proposed_tag));
    let audit = f.read(".handoff/feature-auth-modal/audit.json");
    assert!(guardrail::pipeline::audit::entry_hash_ok(&audit));
    let chain = f.read(".git/guardrail/audit.jsonl");
    assert!(
        chain.contains(audit.trim_end()),
        "audit.json is not a line of the chain"
    );
    let snap = f.read(".handoff/feature-auth-modal/snapshot.md");
    assert!(snap.contains(&gated), "{snap}");

    // READY for check and status.
    let out = f.guardrail(&["check", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(stdout(&out).contains("package state: ready"));
    let st = json(&f.guardrail(&["status", "--json"]));
    assert_eq!(branch_package(&st, mosaic::AUTH_MODAL), "ready");
}

#[test]
fn failing_gate_writes_a_failed_package_and_exits_1() {
    let f = repo_with_gate();
    f.checkout(mosaic::AUTH_MODAL);
    let ev = evidence_dir(&f, "shots");
    let out = handoff(
        &f,
        &[
            "--evidence",
            ev.to_str().unwrap(),
            "--commit",
            "--answer",
            "no",
            "--answer",
            "yes",
            "--answer",
            "yes",
            "--answer",
            "yes",
            "--answer",
            "yes",
        ],
    );
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let so = stdout(&out);
    assert!(so.contains("DEPLOY GATE: FAIL"), "{so}");
    assert!(so.contains("gate FAIL"), "{so}");
    assert!(
        f.git(&["log", "-1", "--format=%s"])
            .contains("(gate FAIL on "),
        "the failed package is committed too"
    );
    let out = f.guardrail(&["check", mosaic::AUTH_MODAL, "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["state"], "failed");
}

#[test]
fn a_text_file_named_png_is_refused_before_anything_runs() {
    let f = repo_with_gate();
    f.checkout(mosaic::AUTH_MODAL);
    let head = f.head();
    let ev = evidence_dir(&f, "shots");
    std::fs::write(ev.join("auth-modal.png"), "just a note, not a screenshot\n").unwrap();
    let mut args = vec!["--evidence", ev.to_str().unwrap(), "--commit"];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let se = stderr(&out);
    assert!(se.contains("auth-modal.png"), "{se}");
    assert!(se.contains("not really an image"), "{se}");
    assert_eq!(f.head(), head, "nothing committed");
    assert!(!f.exists(".handoff"), "nothing written");
    assert_eq!(f.git(&["status", "--porcelain"]), "");
    // The gate did not run.
    assert!(!f.exists(".verification_audit.log"));
    let recs = json(&f.guardrail(&["audit", "show", "--json"]));
    assert!(recs
        .as_array()
        .unwrap()
        .iter()
        .all(|r| r["action"] != "gate"));
}

#[test]
fn bad_input_exits_2() {
    let f = repo_with_gate();
    // Unknown branch.
    let out = handoff(&f, &["--branch", "feature/nope"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("feature/nope"));
    // Missing evidence directory.
    let out = handoff(
        &f,
        &[
            "--branch",
            mosaic::AUTH_MODAL,
            "--evidence",
            "/nonexistent/shots",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("/nonexistent/shots"));
    // A malformed tag, an existing tag.
    let out = handoff(&f, &["--branch", mosaic::AUTH_MODAL, "--tag", "release-1"]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    let out = handoff(
        &f,
        &["--branch", mosaic::AUTH_MODAL, "--tag", mosaic::GOLDEN],
    );
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("already exists"), "{}", show(&out));
    // Detached HEAD without --branch.
    let main = f.head();
    f.git(&["checkout", "-q", "--detach", &main]);
    let out = handoff(&f, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
    assert!(stderr(&out).contains("--branch"), "{}", show(&out));
    // main itself is no feature branch.
    f.checkout("main");
    let out = handoff(&f, &[]);
    assert_eq!(out.status.code(), Some(2), "{}", show(&out));
}

#[test]
fn a_new_code_commit_replaces_the_old_package_and_says_so() {
    let f = repo_with_gate();
    f.checkout(mosaic::AUTH_MODAL);
    let first = f.head();
    let ev = evidence_dir(&f, "shots");
    let mut args = vec!["--evidence", ev.to_str().unwrap(), "--commit"];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // New code: the package is now stale.
    f.write("frontend/index.html", frontend_page("r4"));
    let second = f.commit("Frontend: remember-me copy");
    let out = f.guardrail(&["check", mosaic::AUTH_MODAL, "--json"]);
    assert_eq!(json(&out)["state"], "stale");

    // Second handoff, with another evidence set this time.
    let ev2 = evidence_dir(&f, "shots2");
    std::fs::remove_file(ev2.join("ps101-step-10.png")).unwrap();
    std::fs::write(ev2.join("ps101-step-11.png"), PNG_1X1).unwrap();
    let mut args = vec!["--evidence", ev2.to_str().unwrap(), "--commit"];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let so = stdout(&out);
    assert!(
        so.contains(&format!("replaced the package of commit {}", &first[..7])),
        "{so}"
    );
    assert_eq!(f.commit_of("HEAD^"), second);

    // The committed package holds only the new evidence set.
    let files = ls_tree(&f, "HEAD", ".handoff/feature-auth-modal/evidence");
    assert!(
        files.iter().any(|p| p.ends_with("ps101-step-11.png")),
        "{files:?}"
    );
    assert!(
        !files.iter().any(|p| p.ends_with("ps101-step-10.png")),
        "the replaced package's files are gone: {files:?}"
    );
    let out = f.guardrail(&["check", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Once more after more code: the JSON names the replaced commit.
    f.write("frontend/index.html", frontend_page("r5"));
    let third = f.commit("Frontend: r5");
    let mut args = vec!["--evidence", ev2.to_str().unwrap(), "--commit", "--json"];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let j = json(&out);
    assert_eq!(j["replaced"], second);
    assert_eq!(j["commit"], third);
    assert_eq!(j["refreshed"], false);
    assert!(j["committed"].is_string());
}

#[test]
fn refreshing_the_same_commit_says_refreshed_and_keeps_evidence() {
    let f = repo_with_gate();
    f.checkout(mosaic::AUTH_MODAL);
    let ev = evidence_dir(&f, "shots");
    let mut args = vec!["--evidence", ev.to_str().unwrap()];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = handoff(&f, &YES);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let so = stdout(&out);
    assert!(
        so.contains("refreshed the package of the same commit"),
        "{so}"
    );
    assert!(so.contains("evidence/ (11 files)"), "{so}");

    // Committed, then again on the package commit: the same code, a refresh.
    let mut args = vec!["--commit"];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let so = stdout(&out);
    assert!(so.contains("refreshed the package"), "{so}");
    assert!(!so.contains("replaced"), "{so}");
    let out = f.guardrail(&["check", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
}

#[test]
fn without_commit_the_files_are_written_but_not_committed() {
    let f = repo_with_gate();
    f.checkout(mosaic::AUTH_MODAL);
    let head = f.head();
    let ev = evidence_dir(&f, "shots");
    let mut args = vec![
        "--evidence",
        ev.to_str().unwrap(),
        "--summary",
        "Remember me",
    ];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(stdout(&out).contains("not committed"), "{}", show(&out));
    assert_eq!(f.head(), head);
    let st = f.git(&["status", "--porcelain", "--untracked-files=all"]);
    assert!(
        st.contains("?? .handoff/feature-auth-modal/handoff.toml"),
        "{st}"
    );
    assert!(st.contains("?? .handoff/feature-auth-modal/evidence/auth-modal.png"));
    assert!(f
        .read(".handoff/feature-auth-modal/handoff.toml")
        .contains("summary = \"Remember me\""));
    // Nothing committed yet: check sees no package.
    let out = f.guardrail(&["check", mosaic::AUTH_MODAL, "--json"]);
    assert_eq!(json(&out)["state"], "none");
}

#[test]
fn a_branch_not_checked_out_is_packaged_without_touching_the_working_tree() {
    let f = repo_with_gate();
    // The user is on main with work in progress.
    f.write("notes.txt", "work in progress\n");
    let main_head = f.head();
    let gated = f.commit_of(mosaic::AUTH_MODAL);
    let ev = evidence_dir(&f, "shots");
    let mut args = vec![
        "--branch",
        mosaic::AUTH_MODAL,
        "--evidence",
        ev.to_str().unwrap(),
        "--commit",
    ];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert!(
        stdout(&out).contains("your working tree is untouched"),
        "{}",
        show(&out)
    );

    assert_eq!(f.current_branch(), "main");
    assert_eq!(f.head(), main_head);
    assert_eq!(status_porcelain(&f), "?? notes.txt");
    assert!(!f.exists(".handoff"));
    // The branch moved forward by one commit holding the package.
    let new = f.commit_of(mosaic::AUTH_MODAL);
    assert_ne!(new, gated);
    assert_eq!(f.commit_of(&format!("{}^", mosaic::AUTH_MODAL)), gated);
    assert_eq!(
        ls_tree(
            &f,
            mosaic::AUTH_MODAL,
            ".handoff/feature-auth-modal/evidence"
        )
        .len(),
        11
    );
    // Still free to be checked out here.
    f.checkout(mosaic::AUTH_MODAL);
    f.checkout("main");
    let out = f.guardrail(&["check", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Without --commit: written in guardrail's worktree, branch unchanged.
    let mut args = vec!["--branch", mosaic::AUTH_MODAL, "--json"];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let j = json(&out);
    assert_eq!(j["location"], "worktree");
    assert!(j["committed"].is_null());
    let dir = PathBuf::from(j["dir"].as_str().unwrap());
    assert!(dir.join("handoff.toml").is_file());
    assert!(!Path::new(&dir).starts_with(f.path().join(".handoff")));
    assert_eq!(f.commit_of(mosaic::AUTH_MODAL), new);
    assert_eq!(status_porcelain(&f), "?? notes.txt");
}

#[test]
fn a_gate_that_cannot_run_exits_4_and_writes_nothing() {
    let f = repo_with_gate();
    // feature/ps101 has no gate script.
    f.checkout(mosaic::PS101);
    let head = f.head();
    let out = handoff(&f, &["--commit"]);
    assert_eq!(out.status.code(), Some(4), "{}", show(&out));
    assert!(
        stderr(&out).contains("run_deploy_gate.sh"),
        "{}",
        show(&out)
    );
    assert_eq!(f.head(), head);
    assert!(!f.exists(".handoff"));
}

#[test]
fn a_second_handoff_of_the_same_branch_is_refused_while_the_first_runs() {
    let f = mosaic_repo();
    // A gate that says it started, then waits to be let go.
    f.write_script(
        "scripts/run_deploy_gate.sh",
        "#!/usr/bin/env bash\ntouch \"$HANDOFF_STARTED\"\nfor _ in $(seq 400); do [ -e \"$HANDOFF_GO\" ] && break; sleep 0.05; done\necho 'DEPLOY GATE: PASS'\n",
    );
    f.commit_paths("a slow gate", &["scripts/run_deploy_gate.sh"]);
    f.checkout(mosaic::AUTH_MODAL);
    f.git(&["merge", "-q", "--no-edit", "main"]);
    f.checkout("main");
    let started = f.tempdir().join("started");
    let go = f.tempdir().join("go");
    let cmd = |f: &Fixture| {
        let mut c = f.guardrail_cmd(&["handoff", "--branch", mosaic::AUTH_MODAL]);
        c.env("HANDOFF_STARTED", &started).env("HANDOFF_GO", &go);
        c
    };
    let first = cmd(&f)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + secs(20);
    while !started.exists() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first gate never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }

    let second = cmd(&f).output().unwrap();
    assert_eq!(second.status.code(), Some(3), "{}", show(&second));
    assert!(
        stderr(&second).contains("another handoff of feature/auth-modal is running"),
        "{}",
        show(&second)
    );
    // Another branch is not held up.
    let other = f
        .guardrail_cmd(&["handoff", "--branch", mosaic::PS101])
        .output()
        .unwrap();
    assert_ne!(other.status.code(), Some(3), "{}", show(&other));

    std::fs::write(&go, "").unwrap();
    let first = first.wait_with_output().unwrap();
    assert_eq!(first.status.code(), Some(0), "{}", show(&first));
    // Once the first is done, the branch can be handed off again.
    let again = cmd(&f).output().unwrap();
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
}

#[test]
fn an_evidence_file_in_the_commit_over_max_file_fails_the_check_without_being_read() {
    let f = repo_with_gate();
    f.checkout(mosaic::AUTH_MODAL);
    let ev = evidence_dir(&f, "shots");
    // Within the default cap when the package is made.
    let mut big = PNG_1X1.to_vec();
    big.resize(3 << 20, 0);
    std::fs::write(ev.join("auth-modal.png"), &big).unwrap();
    let mut args = vec!["--evidence", ev.to_str().unwrap(), "--commit"];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let out = f.guardrail(&["check", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // Then the cap is lowered below the committed file.
    f.checkout("main");
    f.write_config(&format!(
        "{}\n[evidence]\nmax_file = \"1MiB\"\n",
        mosaic::CONFIG
    ));
    f.commit("a smaller evidence cap");
    let out = f.guardrail(&["check", mosaic::AUTH_MODAL, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let j = json(&out);
    assert_ne!(j["state"], "ready", "{j:#}");
    let visual = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "visual")
        .unwrap_or_else(|| panic!("no visual item in {j:#}"));
    assert_eq!(visual["state"], "fail", "{visual:#}");
    assert_eq!(
        visual["reason"],
        format!(
            "the evidence file .handoff/feature-auth-modal/evidence/auth-modal.png is {} bytes, \
             more than [evidence] max_file (1MiB)",
            3 << 20
        ),
        "{visual:#}"
    );
    let out = f.guardrail(&["check", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stdout(&out).contains("auth-modal.png is 3145728 bytes"),
        "{}",
        show(&out)
    );
}

/// Writes `bytes` zero bytes to `rel` in the work tree without holding them
/// in memory (a sparse file; git compresses zeros to almost nothing).
fn write_zeros(f: &Fixture, rel: &str, bytes: u64) {
    let path = f.path().join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let file = std::fs::File::create(&path).unwrap();
    file.set_len(bytes).unwrap();
}

/// Spoils the loose object of `rev:path` after its first 4 KiB (the zlib
/// stream turns to garbage there): its object header still says its size,
/// but whoever inflates the whole blob gets an error. A command that still
/// succeeds has not read it.
fn spoil_loose_object(f: &Fixture, spec: &str) {
    let oid = f.rev_parse(spec);
    let obj = f
        .path()
        .join(".git/objects")
        .join(&oid[..2])
        .join(&oid[2..]);
    let mut perms = std::fs::metadata(&obj).unwrap().permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    perms.set_readonly(false);
    std::fs::set_permissions(&obj, perms).unwrap();
    let mut bytes = std::fs::read(&obj).unwrap();
    assert!(bytes.len() > 8192, "{spec} compresses too well");
    bytes[4096..].fill(0xff);
    std::fs::write(&obj, bytes).unwrap();
    assert!(
        f.try_git(&["cat-file", "blob", spec]).is_err(),
        "{spec} can still be read whole"
    );
}

#[test]
fn a_gate_log_over_the_cap_fails_the_gate_item_without_being_read() {
    let f = repo_with_gate();
    f.checkout(mosaic::AUTH_MODAL);
    let ev = evidence_dir(&f, "shots");
    let mut args = vec!["--evidence", ev.to_str().unwrap(), "--commit"];
    args.extend_from_slice(&YES);
    let out = handoff(&f, &args);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));

    // The branch then commits a 70 MiB gate.log into its package.
    let log = ".handoff/feature-auth-modal/gate.log";
    write_zeros(&f, log, 70 << 20);
    f.git(&["add", "-f", log]);
    f.git(&["commit", "-q", "--no-verify", "-m", "a huge gate log"]);
    f.checkout("main");
    spoil_loose_object(&f, &format!("{}:{log}", mosaic::AUTH_MODAL));

    let out = f.guardrail_in_time(&["check", mosaic::AUTH_MODAL, "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    let j = json(&out);
    assert_eq!(j["state"], "incomplete", "{j:#}");
    let gate = j["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["key"] == "gate")
        .unwrap_or_else(|| panic!("no gate item in {j:#}"));
    assert_eq!(gate["state"], "fail", "{gate:#}");
    assert_eq!(
        gate["reason"],
        "gate.log in .handoff/feature-auth-modal is 70 MiB, more than the 64 MiB guardrail reads",
        "{gate:#}"
    );
    let out = f.guardrail_in_time(&["check", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(1), "{}", show(&out));
    assert!(
        stdout(&out).contains("gate.log in .handoff/feature-auth-modal is 70 MiB"),
        "{}",
        show(&out)
    );
    let out = f.guardrail_in_time(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    assert_eq!(
        branch_package(&json(&out), mosaic::AUTH_MODAL),
        "incomplete"
    );
}

#[test]
fn a_legacy_manifest_over_the_cap_is_explained_and_not_read() {
    let f = mosaic_repo();
    // Committed on main: 2 MiB that start like a manifest for a branch.
    let big = ".ai-agents/handoff_20251114_150000.json";
    let mut text = format!(r#"{{"branch":"{}","commit":"#, mosaic::PS101).into_bytes();
    let end = b"\"0123456\"}";
    text.resize((2 << 20) - end.len(), b' ');
    text.extend_from_slice(end);
    f.write(big, &text);
    f.commit("Agents: a huge handoff note");
    spoil_loose_object(&f, &format!("main:{big}"));
    // Only in the working tree: another one over the cap.
    write_zeros(&f, ".ai-agents/handoff_20251114_160000.json", 3 << 19);

    let out = f.guardrail_in_time(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", show(&out));
    let st = json(&out);
    let warnings = st["warnings"].to_string();
    assert!(
        warnings.contains(&format!(
            "{big} (on main) is 2 MiB, more than the 1 MiB guardrail reads"
        )),
        "{warnings}"
    );
    assert!(
        warnings.contains(
            ".ai-agents/handoff_20251114_160000.json is 1.5 MiB, more than the 1 MiB guardrail reads"
        ),
        "{warnings}"
    );
    // It proves nothing for the branch it would name.
    assert_eq!(branch_package(&st, mosaic::PS101), "none", "{st:#}");
    let out = f.guardrail_in_time(&["check", mosaic::PS101, "--json"]);
    let j = json(&out);
    assert_eq!(j["legacy"].as_array().unwrap().len(), 0, "{j:#}");
}

/// A gate that prints more than `check` reads back from a package (64 MiB)
/// gets no package that could never be ready: `handoff` says why, exits 4
/// and writes nothing.
#[test]
fn a_gate_whose_log_is_over_the_cap_writes_no_package() {
    let f = repo_with_gate();
    f.checkout(mosaic::AUTH_MODAL);
    f.write_script(
        "scripts/run_deploy_gate.sh",
        "#!/usr/bin/env bash\nhead -c 68000000 /dev/zero | tr '\\0' 'x' | fold -w 4000\necho 'DEPLOY GATE: PASS'\n",
    );
    f.commit_paths("a gate that prints a lot", &["scripts/run_deploy_gate.sh"]);
    let head = f.head();
    let out = handoff(&f, &["--commit"]);
    // The gate's 68 MB of output are not worth printing on a failure.
    let err = stderr(&out);
    let skip = err.chars().count().saturating_sub(2000);
    let tail: String = err.chars().skip(skip).collect();
    assert_eq!(out.status.code(), Some(4), "{tail}");
    assert!(
        stderr(&out).contains(
            "more than the 64 MiB guardrail reads back from a package, so no package was written"
        ),
        "{tail}"
    );
    assert_eq!(f.head(), head, "nothing committed");
    assert!(!f.exists(".handoff"), "nothing written");
}

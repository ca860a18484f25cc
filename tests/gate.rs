//! `guardrail gate` on real repositories with real bash and zsh gates that
//! ask the five checklist questions like the real one.
use crate::common;
use common::*;

/// A gate like the real one: five questions printed without a newline,
/// answers read from stdin; PASS only if none is `no`.
fn gate_script(shell: &str) -> String {
    format!(
        r#"#!/usr/bin/env {shell}
echo "=== Mosaic deploy gate on $GUARDRAIL_BRANCH ($GUARDRAIL_COMMIT) ==="
echo "actor=$DEPLOY_ACTOR action=$GUARDRAIL_ACTION tag=$GUARDRAIL_TAG"
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
    no) fail=1 ;;
    *) echo "unrecognised answer '$ans'"; fail=1 ;;
  esac
done
if [ "$fail" = 0 ]; then echo "DEPLOY GATE: PASS"; exit 0; else echo "DEPLOY GATE: FAIL"; exit 1; fi
"#
    )
}

fn with_gate(shell: &str) -> Fixture {
    let f = mosaic_repo();
    f.write_script("scripts/run_deploy_gate.sh", gate_script(shell));
    f.commit_paths("add the gate", &["scripts/run_deploy_gate.sh"]);
    // The feature branch gets the gate too.
    f.checkout(mosaic::AUTH_MODAL);
    f.git(&["merge", "-q", "--no-edit", "main"]);
    f.checkout("main");
    f
}

#[test]
fn bash_gate_passes_with_answers_from_flags() {
    let f = with_gate("bash");
    let out = f.guardrail(&[
        "gate",
        mosaic::AUTH_MODAL,
        "--answer",
        "yes",
        "--answer",
        "yes",
        "--answer",
        "n/a",
        "--answer",
        "yes",
        "--answer",
        "yes",
    ]);
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{so}\n{}", stderr(&out));
    assert!(
        so.contains("PS101 10-step flow walked end-to-end against this build? [yes/no/n/a]: "),
        "{so}"
    );
    assert!(so.contains("DEPLOY GATE: PASS"), "{so}");
    assert!(so.contains("gate PASS on feature/auth-modal"), "{so}");
    assert!(so.contains("actor=tester action=gate tag=prod-"), "{so}");

    // Recorded: chain and protocol log, with the log's sha256.
    let recs = json(&f.guardrail(&["audit", "show", "--json"]));
    let last = recs.as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["action"], "gate");
    assert_eq!(last["result"], "PASS");
    assert_eq!(last["actor"], "tester");
    assert_eq!(last["details"]["commit"], f.rev_parse(mosaic::AUTH_MODAL));
    let job = last["details"]["job"].as_str().unwrap();
    let log = std::fs::read(
        f.path()
            .join(".git/guardrail/jobs")
            .join(job)
            .join("output.log"),
    )
    .unwrap();
    use sha2::Digest;
    assert_eq!(
        last["details"]["gate_log_sha256"],
        hex::encode(sha2::Sha256::digest(&log))
    );
    let protocol = f.read(".verification_audit.log");
    assert!(
        protocol.contains("deploy_gate PASS actor=tester\n  target: feature/auth-modal"),
        "{protocol}"
    );
    // The user's working tree was not touched.
    assert_eq!(f.current_branch(), "main");
}

#[test]
fn zsh_gate_with_answers_file_and_a_no_fails() {
    let f = with_gate("zsh");
    let answers = f.tempdir().join("answers.txt");
    std::fs::write(&answers, "yes\nno\nyes\nyes\nyes\n").unwrap();
    let out = f.guardrail(&[
        "gate",
        mosaic::AUTH_MODAL,
        "--answers",
        answers.to_str().unwrap(),
    ]);
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{so}\n{}", stderr(&out));
    assert!(so.contains("DEPLOY GATE: FAIL"), "{so}");
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["result"], "FAIL");
}

#[test]
fn zsh_gate_passes_from_answers_file() {
    let f = with_gate("zsh");
    let answers = f.tempdir().join("answers.txt");
    std::fs::write(&answers, "yes\nyes\nyes\nyes\nyes\n").unwrap();
    let out = f.guardrail(&[
        "gate",
        mosaic::AUTH_MODAL,
        "--answers",
        answers.to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["verdict"], "PASS");
    assert_eq!(j["commit"], f.rev_parse(mosaic::AUTH_MODAL));
}

#[test]
fn without_answers_stdin_is_closed_and_the_gate_fails_fast() {
    let f = with_gate("bash");
    let t = std::time::Instant::now();
    let out = f.guardrail(&["gate", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    assert!(stdout(&out).contains("no answer: FAIL"));
    assert!(t.elapsed() < secs(20));
}

#[test]
fn missing_or_non_executable_gate_is_exit_4_naming_the_path() {
    let f = mosaic_repo();
    let out = f.guardrail(&["gate", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(4));
    let e = stderr(&out);
    assert!(
        e.contains("scripts/run_deploy_gate.sh") && e.contains("does not exist"),
        "{e}"
    );
    assert_eq!(e.lines().count(), 1, "{e}");

    f.checkout(mosaic::AUTH_MODAL);
    f.write("scripts/run_deploy_gate.sh", "#!/bin/sh\nexit 0\n");
    f.commit("gate without x bit");
    f.checkout("main");
    let out = f.guardrail(&["gate", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(4));
    assert!(stderr(&out).contains("not executable"), "{}", stderr(&out));
    // The failed start is recorded too.
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["result"], "ERROR");
}

#[test]
fn timeout_ends_the_gate_and_its_children_with_exit_4() {
    let f = mosaic_repo();
    f.write_config(&format!(
        "{}[scripts]\ntimeout = \"1s\"\ngrace = \"500ms\"\n",
        mosaic::CONFIG
    ));
    f.commit("short timeout");
    f.checkout(mosaic::AUTH_MODAL);
    let pidfile = f.tempdir().join("child.pid");
    f.write_script(
        "scripts/run_deploy_gate.sh",
        format!(
            "#!/bin/bash\nsleep 300 &\necho $! > {}\necho started\nsleep 300\n",
            pidfile.display()
        ),
    );
    f.commit("slow gate");
    f.checkout("main");
    let out = f.guardrail(&["gate", mosaic::AUTH_MODAL]);
    assert_eq!(out.status.code(), Some(4), "{}", stdout(&out));
    assert!(stderr(&out).contains("timed out"), "{}", stderr(&out));
    let pid: i32 = std::fs::read_to_string(&pidfile)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(!process_alive(pid), "the gate's child survived");
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["result"], "TIMEOUT");
}

#[test]
fn unknown_branch_is_exit_2() {
    let f = mosaic_repo();
    let out = f.guardrail(&["gate", "feature/nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown branch `feature/nope`"));
}

#[test]
fn secrets_are_masked_in_the_stored_log() {
    let f = mosaic_repo();
    f.checkout(mosaic::AUTH_MODAL);
    f.write_script(
        "scripts/run_deploy_gate.sh",
        "#!/bin/bash\necho \"token is $NETLIFY_AUTH_TOKEN\"\n",
    );
    f.commit("leaky gate");
    f.checkout("main");
    let out = f
        .guardrail_cmd(&["gate", mosaic::AUTH_MODAL, "--json"])
        .env("NETLIFY_AUTH_TOKEN", "nfp_s3cr3tv4lue99")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    let log = std::fs::read_to_string(j["log"].as_str().unwrap()).unwrap();
    assert!(log.contains("token is ***"), "{log}");
    assert!(!log.contains("nfp_s3cr3tv4lue99"));
}

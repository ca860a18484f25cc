//! A closed stdout (`guardrail status | true`, `audit verify | head -0`,
//! `rollback … | head -1`): the real binary ends quietly with its own exit
//! code, never with a "Broken pipe" panic (exit 101), and an action is still
//! recorded (SPEC §6).
use crate::common;

use std::process::{Command, Output};

use common::live::*;
use common::*;

/// Runs `cmd` with stdout a pipe whose reading end is already closed, so
/// the first write fails with EPIPE.
fn with_closed_stdout(mut cmd: Command) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    cmd.stdout(writer).output().unwrap()
}

fn assert_quiet(what: &str, out: &Output, code: i32) {
    let err = stderr(out);
    assert_ne!(out.status.code(), Some(101), "{what}: {err}");
    assert!(
        !err.contains("panicked") && !err.to_lowercase().contains("broken pipe"),
        "{what}: {err}"
    );
    assert_eq!(out.status.code(), Some(code), "{what}: {err}");
}

#[test]
fn read_only_commands_end_quietly_on_a_closed_pipe() {
    let f = mosaic_repo();
    // Something in the chain and a job-free state to print.
    assert_eq!(
        f.guardrail(&["lock", "acquire", "--reason", "x"])
            .status
            .code(),
        Some(0)
    );
    for args in [
        &["status"][..],
        &["status", "--json"],
        &["audit", "verify"],
        &["audit", "verify", "--json"],
        &["audit", "show"],
        &["jobs"],
        &["lock", "status"],
        &["default-config"],
        &["config"],
        &["config", "--json"],
    ] {
        let out = with_closed_stdout(f.guardrail_cmd(args));
        assert_quiet(&args.join(" "), &out, 0);
    }
}

#[test]
fn a_rollback_into_a_closed_pipe_is_done_recorded_and_quiet() {
    let l = live_repo("");
    let f = &l.f;
    let out = with_closed_stdout(f.guardrail_cmd(&["rollback", "--yes", "--reason", "piped"]));
    assert_quiet("rollback --yes", &out, 0);
    let live = live_record(f);
    assert_eq!(live["tag"], mosaic::GOLDEN);
    assert_eq!(live["health"], "ok");
    let done = audit_of(f, "rollback", "OK");
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(f.guardrail(&["audit", "verify"]).status.code(), Some(0));
    // And in JSON.
    let out = with_closed_stdout(f.guardrail_cmd(&["rollback", "--yes", "--json"]));
    assert_quiet("rollback --yes --json", &out, 0);
    assert_eq!(audit_of(f, "rollback", "OK").len(), 2);
}

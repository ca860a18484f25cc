//! The debug log (`--log-level` / `GUARDRAIL_LOG`, issue #19 item 1): off by
//! default; when asked for, `$XDG_STATE_HOME/guardrail/guardrail.log` holds
//! scripts (command, pid, exit — never their output), HTTP requests (URL
//! with user-info masked, status, time) and the console's workers.
use crate::common;
use common::http::{HttpServer, Reply};
use common::*;

use std::path::Path;

const OUTPUT_TOKEN: &str = "script-output-7f3a91";

/// The fixture with a verify script that prints [`OUTPUT_TOKEN`], and a
/// server on 127.0.0.1 that answers `/`.
fn verify_fixture() -> (Fixture, HttpServer) {
    let f = mosaic_repo();
    // Short timings: the page is not the fixture's, so checks fail fast.
    f.write_config(&format!(
        "{}\n[live]\nurl = \"http://127.0.0.1:9/\"\ndeadline = \"1s\"\nrequest_timeout = \"500ms\"\n",
        mosaic::CONFIG
    ));
    f.write_script(
        "scripts/verify_live_deployment.sh",
        format!("#!/usr/bin/env bash\necho {OUTPUT_TOKEN}\nexit 0\n"),
    );
    let s = HttpServer::start();
    s.route("/", Reply::ok("<html>hello</html>"));
    (f, s)
}

/// `http://user:pw@127.0.0.1:port/`.
fn url_with_userinfo(s: &HttpServer) -> String {
    s.url().replacen("http://", "http://deployer:hunter2pw@", 1)
}

fn log_in(state: &Path) -> std::path::PathBuf {
    state.join("guardrail").join("guardrail.log")
}

#[test]
fn guardrail_log_debug_records_scripts_and_requests_but_no_output_or_password() {
    let (f, s) = verify_fixture();
    let state = tempfile::tempdir().unwrap();
    let url = url_with_userinfo(&s);
    let out = f
        .guardrail_cmd(&["verify", "--url", &url])
        .env("GUARDRAIL_LOG", "debug")
        .env("XDG_STATE_HOME", state.path())
        .output()
        .unwrap();
    assert!(
        matches!(out.status.code(), Some(0 | 1)),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(s.hits("/") > 0, "the server was asked");
    let path = log_in(state.path());
    let log = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e}\n{}", path.display(), stderr(&out)));

    // The script: command and pid when it starts, pid and exit at the end.
    let started = log
        .lines()
        .find(|l| l.contains("script started"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        started.contains("verify_live_deployment.sh") && started.contains("pid="),
        "{started}"
    );
    let pid = started
        .split("pid=")
        .nth(1)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap();
    let exited = log
        .lines()
        .find(|l| l.contains("script exited"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        exited.contains(&format!("pid={pid}")) && exited.contains("exit=Some(0)"),
        "{exited}"
    );

    // The request: URL with user-info masked, status, time.
    let req = log
        .lines()
        .find(|l| l.contains("HTTP GET") && l.contains("127.0.0.1"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        req.contains("http://***@127.0.0.1") && req.contains("status=200"),
        "{req}"
    );
    assert!(req.contains("elapsed="), "{req}");

    // No secrets: neither the script's output nor the password.
    assert!(!log.contains(OUTPUT_TOKEN), "{log}");
    assert!(!log.contains("hunter2pw"), "{log}");
}

#[test]
fn without_the_flag_or_env_no_log_file_is_created() {
    let (f, s) = verify_fixture();
    let state = tempfile::tempdir().unwrap();
    let out = f
        .guardrail_cmd(&["verify", "--url", &s.url()])
        .env_remove("GUARDRAIL_LOG")
        .env("XDG_STATE_HOME", state.path())
        .output()
        .unwrap();
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    assert!(s.hits("/") > 0);
    assert!(
        !state
            .path()
            .join("guardrail")
            .join("guardrail.log")
            .exists(),
        "no log without --log-level or GUARDRAIL_LOG"
    );
    // Nor in the data-local fallback.
    assert!(!f
        .home()
        .join(".local/share/guardrail/guardrail.log")
        .exists());
}

#[test]
fn a_bad_log_level_is_bad_input() {
    let f = mosaic_repo();
    let state = tempfile::tempdir().unwrap();
    let out = f
        .guardrail_cmd(&["--log-level", "loud", "status"])
        .env("XDG_STATE_HOME", state.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(e.contains("--log-level `loud` is not a log level"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(!log_in(state.path()).exists());
}

#[test]
fn the_console_logs_each_workers_start_and_end() {
    let f = mosaic_repo();
    let state = tempfile::tempdir().unwrap();
    let mut t = f
        .console_command(&["--log-level", "debug"], 100, 30)
        .env("XDG_STATE_HOME", state.path())
        .spawn();
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    // The log is written while the console runs (by its writer thread):
    // wait for the first worker that is done (the branch details reader).
    let path = log_in(state.path());
    let t0 = std::time::Instant::now();
    while t0.elapsed() < secs(20)
        && !std::fs::read_to_string(&path).is_ok_and(|l| l.contains("worker ended"))
    {
        std::thread::sleep(millis(50));
    }
    t.send("q");
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    let log = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    // A worker that ended had started (named the same way).
    let worker = |l: &str| {
        l.split("worker=")
            .nth(1)
            .and_then(|r| r.split_whitespace().next())
            .map(str::to_string)
    };
    let ended = log
        .lines()
        .find(|l| l.contains("worker ended"))
        .unwrap_or_else(|| panic!("{log}"));
    let name = worker(ended).unwrap_or_else(|| panic!("{ended}"));
    assert!(
        log.lines()
            .any(|l| l.contains("worker started") && worker(l).as_deref() == Some(name.as_str())),
        "{log}"
    );
}

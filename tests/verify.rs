//! Live verification against a real HTTP server on 127.0.0.1: the library
//! (`verify::run`) for every way production can be wrong, and
//! `guardrail verify` for exit codes, the audit record, the live record's
//! health and the verify script.
use crate::common;
use common::http::{closed_port, HttpServer, Reply};
use common::*;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use guardrail::pipeline::baseline::Metric;
use guardrail::pipeline::config::{Config, LiveCheck};
use guardrail::pipeline::verify::{
    self, content_hash, CheckState, CheckStatus, Expect, VerifyOptions, VerifyReport,
};

const BUILD: &str = "abc1234-20251114T140000Z";

/// The fixture's page carrying `build_id`.
fn page(build_id: &str, extra: &[&str]) -> String {
    mosaic_page("r3", extra).replace("BUILD_ID:dev", &format!("BUILD_ID:{build_id}"))
}

fn check(name: &str, path: &str) -> LiveCheck {
    LiveCheck {
        name: name.into(),
        path: path.into(),
        ..LiveCheck::default()
    }
}

fn metric(expected: usize) -> Vec<Metric> {
    vec![Metric {
        name: "MOSAIC_UI".into(),
        expected: expected as u64,
        tolerance: 5,
        line: 1,
    }]
}

fn opts(deadline_ms: u64, timeout_ms: u64) -> VerifyOptions {
    VerifyOptions {
        deadline: millis(deadline_ms),
        request_timeout: millis(timeout_ms),
        first_backoff: millis(100),
    }
}

fn by_name<'a>(r: &'a VerifyReport, name: &str) -> &'a CheckStatus {
    r.checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name} in {:#?}", r.checks))
}

fn err(c: &CheckStatus) -> String {
    c.last_error.clone().unwrap_or_default()
}

#[test]
fn a_good_page_passes_every_check_with_updates_for_each() {
    let s = HttpServer::start();
    let good = page(BUILD, &[]);
    s.route("/", Reply::ok(&good));
    // The manifest hashes the page with another BUILD_ID: the comment is
    // normalised away on both sides.
    s.route("/index.html", Reply::ok(&good));
    s.route("/js/app.js", Reply::ok("console.log('mosaic');\n"));
    let manifest: BTreeMap<String, String> = [
        (
            "index.html".to_string(),
            content_hash(page("dev", &[]).as_bytes()),
        ),
        (
            "js/app.js".to_string(),
            content_hash(b"console.log('mosaic');\n"),
        ),
    ]
    .into();
    let expect = Expect {
        build_id: Some(BUILD.into()),
        baseline: Some(metric(line_count(&good))),
        manifest: Some(manifest),
    };
    let checks = Config::defaults().live.check;
    let seen: Arc<Mutex<Vec<CheckStatus>>> = Arc::default();
    let seen2 = seen.clone();
    let r = verify::run(&s.url(), &checks, &expect, opts(5000, 2000), move |c| {
        seen2.lock().unwrap().push(c.clone())
    });
    assert!(r.ok, "{r:#?}");
    assert_eq!(r.checks.len(), checks.len() + 1);
    for c in &r.checks {
        assert_eq!(c.state, CheckState::Ok, "{c:?}");
        assert_eq!(c.attempts, 1, "{c:?}");
        assert!(c.latency_ms.is_some() && c.last_error.is_none(), "{c:?}");
    }
    assert!(by_name(&r, "build id")
        .detail
        .as_ref()
        .unwrap()
        .contains(BUILD));
    assert!(by_name(&r, "line count")
        .detail
        .as_ref()
        .unwrap()
        .contains(&format!("{} lines", line_count(&good))));
    assert_eq!(
        by_name(&r, verify::MANIFEST_CHECK).url,
        format!("{}/", s.url())
    );
    // Every check went Pending → Running → Ok through the callback.
    let seen = seen.lock().unwrap();
    for c in &r.checks {
        let states: Vec<CheckState> = seen
            .iter()
            .filter(|u| u.name == c.name)
            .map(|u| u.state)
            .collect();
        assert_eq!(
            states,
            vec![CheckState::Pending, CheckState::Running, CheckState::Ok],
            "{}",
            c.name
        );
    }
    assert_eq!(r.script, None);
}

#[test]
fn every_failure_is_named_after_retries_and_bounded_by_the_deadline() {
    let s = HttpServer::start();
    let good = page(BUILD, &[]);
    s.route("/down", Reply::status(503, "maintenance\n"));
    s.route_seq(
        "/flaky",
        vec![
            Reply::status(503, ""),
            Reply::status(503, ""),
            Reply::ok(&good),
        ],
    );
    s.route("/hang", Reply::hang());
    s.route(
        "/away",
        Reply::redirect(302, "http://elsewhere.invalid/login"),
    );
    s.route("/moved", Reply::redirect(301, "/"));
    s.route("/", Reply::ok(&good));
    s.route("/nomodal", Reply::ok(good.replace("authModal", "loginBox")));
    s.route("/old", Reply::ok(page("0ld0ld0-20251113T100000Z", &[])));
    let long: Vec<String> = (0..20).map(|i| format!("<p>{i}</p>")).collect();
    let long: Vec<&str> = long.iter().map(|s| s.as_str()).collect();
    s.route("/long", Reply::ok(page(BUILD, &long)));
    s.route("/index.html", Reply::ok(&good));
    s.route("/js/app.js", Reply::ok("console.log('tampered');\n"));

    let mut checks = vec![
        LiveCheck {
            status: Some(200),
            ..check("down", "/down")
        },
        LiveCheck {
            status: Some(200),
            ..check("flaky", "/flaky")
        },
        check("hang", "/hang"),
        check("cross-host redirect", "/away"),
        LiveCheck {
            contains: vec!["authModal".into()],
            ..check("same-host redirect", "/moved")
        },
        LiveCheck {
            contains: vec!["authModal".into(), "PS101State".into()],
            ..check("auth modal", "/nomodal")
        },
        LiveCheck {
            build_id: true,
            ..check("build id", "/old")
        },
        LiveCheck {
            line_count: Some("MOSAIC_UI".into()),
            ..check("line count", "/long")
        },
        LiveCheck {
            line_count: Some("FRONTEND".into()),
            ..check("unknown metric", "/")
        },
    ];
    checks.push(LiveCheck {
        build_id: true,
        ..check("nothing expected", "/")
    });
    let manifest: BTreeMap<String, String> = [
        ("index.html".to_string(), content_hash(good.as_bytes())),
        (
            "js/app.js".to_string(),
            content_hash(b"console.log('mosaic');\n"),
        ),
    ]
    .into();
    let deadline = 2000;
    let timeout = 500;
    let t0 = Instant::now();
    let with_build = Expect {
        build_id: Some(BUILD.into()),
        baseline: Some(metric(line_count(&good))),
        manifest: Some(manifest),
    };
    // Two runs at once: most checks expect BUILD, "nothing expected" none.
    let (r, r2) = std::thread::scope(|sc| {
        let a = sc.spawn(|| {
            verify::run(
                &s.url(),
                &checks[..checks.len() - 1],
                &with_build,
                opts(deadline, timeout),
                |_| {},
            )
        });
        let b = sc.spawn(|| {
            verify::run(
                &s.url(),
                &checks[checks.len() - 1..],
                &Expect::default(),
                opts(deadline, timeout),
                |_| {},
            )
        });
        (a.join().unwrap(), b.join().unwrap())
    });
    let took = t0.elapsed();
    assert!(!r.ok);
    // Concurrent, and bounded: deadline + one request_timeout + margin.
    assert!(
        took < millis(deadline + timeout + 1500),
        "took {took:?}: {r:#?}"
    );
    assert!(took >= millis(deadline), "gave up early: {took:?}");

    let down = by_name(&r, "down");
    assert_eq!(down.state, CheckState::Fail);
    assert!(down.attempts > 1, "{down:?}");
    assert!(err(down).contains("503"), "{down:?}");
    assert_eq!(s.hits("/down") as u32, down.attempts);

    let flaky = by_name(&r, "flaky");
    assert_eq!(flaky.state, CheckState::Ok, "{flaky:?}");
    assert_eq!(flaky.attempts, 3);
    assert_eq!(s.hits("/flaky"), 3);
    assert!(
        err(flaky).contains("503"),
        "the last failure is kept: {flaky:?}"
    );

    let hang = by_name(&r, "hang");
    assert_eq!(hang.state, CheckState::Fail);
    assert!(
        err(hang).contains("no answer") && err(hang).contains("500ms"),
        "{hang:?}"
    );

    let away = by_name(&r, "cross-host redirect");
    assert_eq!(away.state, CheckState::Fail);
    assert!(
        err(away).contains("another host: elsewhere.invalid"),
        "{away:?}"
    );

    assert_eq!(
        by_name(&r, "same-host redirect").state,
        CheckState::Ok,
        "{:?}",
        by_name(&r, "same-host redirect")
    );

    let modal = by_name(&r, "auth modal");
    assert_eq!(modal.state, CheckState::Fail);
    assert!(err(modal).contains("`authModal` not found"), "{modal:?}");
    assert!(!err(modal).contains("PS101State"), "{modal:?}");

    let bid = by_name(&r, "build id");
    assert_eq!(bid.state, CheckState::Fail);
    assert!(
        err(bid).contains(&format!(
            "BUILD_ID expected {BUILD}, got 0ld0ld0-20251113T100000Z"
        )),
        "{bid:?}"
    );

    let lc = by_name(&r, "line count");
    assert_eq!(lc.state, CheckState::Fail);
    let want = line_count(&good);
    assert!(
        err(lc).contains(&format!("{} lines, expected {want} ± 5", want + 20)),
        "{lc:?}"
    );

    // No metric, nothing expected: ⚠️, which passes.
    let unknown = by_name(&r, "unknown metric");
    assert_eq!(unknown.state, CheckState::Warn, "{unknown:?}");
    assert!(unknown.detail.as_ref().unwrap().contains("FRONTEND"));
    assert!(r2.ok, "{r2:#?}");
    let none = by_name(&r2, "nothing expected");
    assert_eq!(none.state, CheckState::Warn);
    assert!(none.detail.as_ref().unwrap().contains(BUILD), "{none:?}");

    // The manifest names the file that differs, not the one that matches;
    // a file that matched once is not fetched again.
    let m = by_name(&r, verify::MANIFEST_CHECK);
    assert_eq!(m.state, CheckState::Fail);
    assert!(err(m).contains("1 of 2 files differ: js/app.js"), "{m:?}");
    assert!(!err(m).contains("index.html"), "{m:?}");
    assert_eq!(s.hits("/index.html"), 1);
    assert!(s.hits("/js/app.js") > 1);

    let failed: Vec<&str> = r.failures().map(|c| c.name.as_str()).collect();
    assert_eq!(
        failed,
        vec![
            "down",
            "hang",
            "cross-host redirect",
            "auth modal",
            "build id",
            "line count",
            verify::MANIFEST_CHECK
        ]
    );
}

#[test]
fn a_closed_port_fails_closed() {
    let url = format!("http://127.0.0.1:{}", closed_port());
    let t0 = Instant::now();
    let r = verify::run(
        &url,
        &[check("site reachable", "/")],
        &Expect::default(),
        opts(600, 300),
        |_| {},
    );
    assert!(!r.ok);
    let c = &r.checks[0];
    assert_eq!(c.state, CheckState::Fail);
    assert!(c.attempts > 1, "{c:?}");
    let e = err(c).to_lowercase();
    assert!(
        e.contains("could not connect") && e.contains("refused"),
        "{c:?}"
    );
    assert!(t0.elapsed() < secs(3));
}

#[test]
fn it_runs_from_inside_a_tokio_runtime() {
    // The console calls it from its own runtime's threads.
    let s = HttpServer::start();
    s.route("/", Reply::ok(page(BUILD, &[])));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let url = s.url();
    let r = rt.block_on(async move {
        let inline = verify::run(
            &url,
            &[check("site reachable", "/")],
            &Expect::default(),
            opts(1000, 500),
            |_| {},
        );
        let blocking = tokio::task::spawn_blocking(move || {
            verify::run(
                &url,
                &[check("site reachable", "/")],
                &Expect::default(),
                opts(1000, 500),
                |_| {},
            )
        })
        .await
        .unwrap();
        (inline, blocking)
    });
    assert!(r.0.ok && r.1.ok, "{r:#?}");
}

#[test]
fn a_bad_url_is_a_failed_check_not_a_panic() {
    let r = verify::run(
        "ftp://example.org",
        &[check("site reachable", "/")],
        &Expect::default(),
        opts(500, 200),
        |_| {},
    );
    assert!(!r.ok);
    assert!(err(&r.checks[0]).contains("not an http or https URL"));
}

// ---------------------------------------------------------------------------
// guardrail verify

/// The fixture, with `[live]` pointing at `url`, short timings, and a live
/// record saying main's head was deployed as BUILD.
fn live_repo(url: &str) -> Fixture {
    let f = mosaic_repo();
    f.write_config(&format!(
        "{}\n[live]\nurl = \"{url}\"\ndeadline = \"2s\"\nrequest_timeout = \"500ms\"\n",
        mosaic::CONFIG
    ));
    let rec = serde_json::json!({
        "tag": mosaic::GOLDEN,
        "commit": f.rev_parse("main"),
        "build_id": BUILD,
        "branch": "main",
        "action": "deploy",
        "actor": "tester",
        "time": "2025-11-14T14:00:00Z",
        "health": "unverified",
        "bad_tags": [],
    });
    f.write(
        ".git/guardrail/live.json",
        serde_json::to_vec_pretty(&rec).unwrap(),
    );
    f
}

/// What production should serve for the fixture's main.
fn served_page(f: &Fixture) -> String {
    f.read(mosaic::MOSAIC_UI)
        .replace("BUILD_ID:dev", &format!("BUILD_ID:{BUILD}"))
}

fn health(f: &Fixture) -> String {
    let v: serde_json::Value = serde_json::from_str(&f.read(".git/guardrail/live.json")).unwrap();
    v["health"].as_str().unwrap().to_string()
}

fn last_audit(f: &Fixture) -> serde_json::Value {
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    recs.as_array().unwrap().last().unwrap().clone()
}

#[test]
fn cli_all_pass_exits_0_records_ok_and_marks_live_healthy() {
    let s = HttpServer::start();
    let f = live_repo(&s.url());
    s.route("/", Reply::ok(served_page(&f)));
    let out = f.guardrail(&["verify"]);
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{so}\n{}", stderr(&out));
    for name in [
        "site reachable",
        "auth modal",
        "PS101 flow",
        "line count",
        "build id",
    ] {
        assert!(
            so.lines()
                .any(|l| l.starts_with("✅ ") && l.contains(name) && l.contains(" ms")),
            "{name}: {so}"
        );
    }
    assert!(
        so.contains("skipped: scripts/verify_live_deployment.sh is not in the repository"),
        "{so}"
    );
    assert!(so.contains("all 5 checks passed"), "{so}");
    assert_eq!(health(&f), "ok");

    let last = last_audit(&f);
    assert_eq!(last["action"], "verify");
    assert_eq!(last["result"], "OK");
    assert_eq!(last["target"], s.url());
    assert_eq!(last["details"]["url"], s.url());
    assert_eq!(last["details"]["build_id"], BUILD);
    assert!(last["details"].get("failed").is_none());
    let protocol = f.read(".verification_audit.log");
    assert!(protocol.contains("] verify OK actor=tester"), "{protocol}");

    // --json: one document, the report with its audit seq.
    let out = f.guardrail(&["verify", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["checks"].as_array().unwrap().len(), 5);
    assert_eq!(doc["checks"][4]["state"], "ok");
    assert_eq!(doc["script"]["skipped"], true);
    assert_eq!(doc["audit_seq"], last["seq"].as_u64().unwrap() + 1);
}

#[test]
fn cli_a_failing_check_exits_1_records_it_and_marks_live_failed() {
    let s = HttpServer::start();
    let f = live_repo(&s.url());
    s.route(
        "/",
        Reply::ok(served_page(&f).replace("authModal", "loginBox")),
    );
    let out = f.guardrail(&["verify"]);
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{so}\n{}", stderr(&out));
    let line = so
        .lines()
        .find(|l| l.contains("auth modal"))
        .unwrap_or_else(|| panic!("{so}"));
    assert!(line.starts_with("❌ "), "{line}");
    assert!(
        line.contains("attempts)") && line.contains("`authModal` not found"),
        "{line}"
    );
    assert!(
        so.contains("FAILED verification: 1 of 5 checks failed"),
        "{so}"
    );
    assert_eq!(health(&f), "failed");
    let last = last_audit(&f);
    assert_eq!(last["action"], "verify");
    assert_eq!(last["result"], "FAILED");
    let why = last["details"]["failed"]["auth modal"].as_str().unwrap();
    assert!(why.contains("authModal"), "{last}");
    assert!(f
        .read(".verification_audit.log")
        .contains("] verify FAILED actor=tester"));

    // Another URL (--url) is checked and recorded, but the live record's
    // health is about production: left alone.
    let good = HttpServer::start();
    good.route("/", Reply::ok(served_page(&f)));
    let out = f.guardrail(&["verify", "--url", &good.url()]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert_eq!(health(&f), "failed");
    assert_eq!(last_audit(&f)["target"], good.url());
}

#[test]
fn cli_bad_input_exits_2() {
    let f = mosaic_repo();
    let out = f.guardrail(&["verify"]);
    assert_eq!(out.status.code(), Some(2), "{}", stdout(&out));
    let e = stderr(&out);
    assert!(e.contains("[live] url is not set"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
    let out = f.guardrail(&["verify", "--url", "not a url"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("not a valid URL"), "{}", stderr(&out));
}

#[test]
fn cli_the_verify_script_is_one_more_check_with_the_script_environment() {
    let s = HttpServer::start();
    let f = live_repo(&s.url());
    s.route("/", Reply::ok(served_page(&f)));
    f.write_script(
        "scripts/verify_live_deployment.sh",
        r#"#!/usr/bin/env bash
{
  echo "action=$GUARDRAIL_ACTION"
  echo "url=$DEPLOY_URL"
  echo "build=$GUARDRAIL_BUILD_ID"
  echo "tag=$GUARDRAIL_TAG"
  echo "actor=$DEPLOY_ACTOR"
} > verify_env.txt
printf 'Live site looks right? [yes/no]: '
read -r answer || { echo; echo "no answer"; exit 1; }
[ "$answer" = yes ] && echo "✅ all good" || { echo "❌ not confirmed"; exit 1; }
"#,
    );
    // No answer: stdin is closed, the script fails, so does verification.
    let out = f.guardrail(&["verify"]);
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(1), "{so}\n{}", stderr(&out));
    let line = so
        .lines()
        .find(|l| l.contains("verify script"))
        .unwrap_or_else(|| panic!("{so}"));
    assert!(line.starts_with("❌ ") && line.contains("exit 1"), "{line}");
    assert_eq!(so.matches("✅ ").count(), 5, "{so}");
    let env = f.read("verify_env.txt");
    assert!(env.contains("action=verify"), "{env}");
    assert!(env.contains(&format!("url={}", s.url())), "{env}");
    assert!(env.contains(&format!("build={BUILD}")), "{env}");
    assert!(env.contains(&format!("tag={}", mosaic::GOLDEN)), "{env}");
    assert!(env.contains("actor=tester"), "{env}");
    let last = last_audit(&f);
    assert_eq!(last["result"], "FAILED");
    assert!(last["details"]["failed"]["verify script"]
        .as_str()
        .unwrap()
        .contains("exit 1"));
    // The script's output is kept in the job's log.
    let job = last["details"]["job"].as_str().unwrap();
    let log = std::fs::read_to_string(
        f.path()
            .join(".git/guardrail/jobs")
            .join(job)
            .join("output.log"),
    )
    .unwrap();
    assert!(log.contains("Live site looks right? [yes/no]: "), "{log}");

    // Answered: passes.
    let out = f.guardrail(&["verify", "--answer", "yes", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["checks"][5]["name"], "verify script");
    assert_eq!(doc["checks"][5]["state"], "ok");
    assert_eq!(doc["script"]["exit_code"], 0);
    assert_eq!(doc["script"]["skipped"], false);
    assert_eq!(health(&f), "ok");
}

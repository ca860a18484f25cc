//! `[alerts]`: the JSON event given to a real command on stdin and POSTed to
//! a real HTTP listener on 127.0.0.1; one alert per drift across runs and
//! `drift-cleared` when it goes; a hanging webhook bounded by the timeout
//! and recorded as a failed alert; refusals and rollbacks alert too.
use crate::common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::http::{HttpServer, Reply};
use common::live::*;
use common::*;

/// `[alerts]` with a command writing its stdin to `<tmp>/alert-N.json`
/// (N counting up) and the webhook `url`.
fn alerts_config(f: &Fixture, url: &str, timeout: &str) -> (String, PathBuf) {
    let dir = f.tempdir().join("alerts");
    std::fs::create_dir_all(&dir).unwrap();
    let cmd = format!(
        "n=$(ls {d} | wc -l); cat > {d}/alert-$n.json",
        d = dir.display()
    );
    (
        format!("\n[alerts]\ncommand = '{cmd}'\nwebhook = \"{url}\"\ntimeout = \"{timeout}\"\n"),
        dir,
    )
}

fn received(dir: &PathBuf) -> Vec<serde_json::Value> {
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    names.sort_by_key(|p| {
        p.file_stem().unwrap().to_string_lossy()[6..]
            .parse::<u32>()
            .unwrap()
    });
    names
        .iter()
        .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
        .collect()
}

fn drift_on_main(f: &Fixture) -> String {
    let page = f
        .read(mosaic::MOSAIC_UI)
        .replace("</main>", "</main>\n  <p>x</p>");
    f.write(mosaic::MOSAIC_UI, page);
    f.commit_paths("hand edit on main", &[mosaic::MOSAIC_UI])
}

#[test]
fn one_drift_one_alert_by_command_and_webhook_then_drift_cleared() {
    let f = mosaic_repo();
    let server = HttpServer::start();
    server.route("/hook", Reply::status(204, ""));
    let (alerts, dir) = alerts_config(&f, &format!("{}/hook", server.url()), "5s");
    f.write_config(&format!("{}{alerts}", mosaic::CONFIG));

    // No drift: nothing sent.
    let out = f.guardrail(&["drift"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(server.requests("/hook").is_empty());

    let bad = drift_on_main(&f);
    let out = f.guardrail(&["drift", "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert_eq!(json(&out)["alert"], "drift");

    let posted = server.requests("/hook");
    assert_eq!(posted.len(), 1);
    assert_eq!(posted[0].method, "POST");
    assert_eq!(posted[0].header("content-type"), Some("application/json"));
    let ev = posted[0].json();
    assert_eq!(ev["kind"], "drift");
    assert_eq!(ev["actor"], mosaic::RELEASE_MANAGER);
    assert_eq!(ev["repo"], f.path().display().to_string());
    assert!(ev["time"].as_str().unwrap().ends_with('Z'));
    let summary = ev["summary"].as_str().unwrap();
    assert!(
        summary.starts_with(&format!("drift from {}", mosaic::GOLDEN)),
        "{summary}"
    );
    assert!(
        summary.contains("mosaic_ui/index.html (+1 −0)"),
        "{summary}"
    );
    assert_eq!(ev["details"]["committed"][0]["path"], mosaic::MOSAIC_UI);
    assert_eq!(ev["details"]["committed"][0]["added"], 1);
    // The command got the same document on stdin.
    let by_cmd = received(&dir);
    assert_eq!(by_cmd, vec![ev.clone()]);

    // The same drift again: no second alert.
    let out = f.guardrail(&["drift", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(json(&out)["alert"], serde_json::Value::Null);
    assert_eq!(server.requests("/hook").len(), 1);
    assert_eq!(received(&dir).len(), 1);

    // Cleared: one drift-cleared, then quiet.
    f.git(&["revert", "--no-edit", &bad]);
    for _ in 0..2 {
        let out = f.guardrail(&["drift"]);
        assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    }
    let posted = server.requests("/hook");
    assert_eq!(posted.len(), 2);
    assert_eq!(posted[1].json()["kind"], "drift-cleared");
    assert_eq!(received(&dir)[1]["kind"], "drift-cleared");
    // Delivered alerts are not recorded.
    assert!(audit_of(&f, "alert", "FAILED").is_empty());
}

#[test]
fn a_hanging_webhook_is_bounded_by_the_timeout_and_recorded_as_a_failed_alert() {
    let f = mosaic_repo();
    let server = HttpServer::start();
    server.route("/hook", Reply::hang());
    f.write_config(&format!(
        "{}\n[alerts]\nwebhook = \"{}/hook\"\ntimeout = \"1s\"\n",
        mosaic::CONFIG,
        server.url()
    ));
    drift_on_main(&f);

    let t = Instant::now();
    let out = f.guardrail(&["drift"]);
    let took = t.elapsed();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(took < Duration::from_secs(4), "drift took {took:?}");
    assert_eq!(server.requests("/hook").len(), 1);

    let failed = audit_of(&f, "alert", "FAILED");
    assert_eq!(failed.len(), 1, "{failed:#?}");
    assert_eq!(failed[0]["target"], "drift");
    let why = failed[0]["details"]["failed"]["webhook"].as_str().unwrap();
    assert!(why.contains("no answer within 1s"), "{why}");
    // The URL's path (often a secret) is not stored.
    assert!(!why.contains("/hook"), "{why}");
    let protocol = f.read(".verification_audit.log");
    assert!(protocol.contains("alert FAILED"), "{protocol}");

    // Not delivered, so the next check tries again.
    let out = f.guardrail(&["drift"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(server.requests("/hook").len(), 2);
    assert_eq!(audit_of(&f, "alert", "FAILED").len(), 2);
}

#[test]
fn a_failing_command_is_recorded_with_its_exit_and_stderr() {
    let f = mosaic_repo();
    f.write_config(&format!(
        "{}\n[alerts]\ncommand = \"cat >/dev/null; echo no route to pager >&2; exit 7\"\n",
        mosaic::CONFIG
    ));
    drift_on_main(&f);
    let out = f.guardrail(&["drift"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let failed = audit_of(&f, "alert", "FAILED");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0]["details"]["failed"]["command"],
        "the command exited 7: no route to pager"
    );
}

#[test]
fn a_refused_deploy_sends_a_refused_alert() {
    let f = mosaic_repo();
    let server = HttpServer::start();
    server.route("/hook", Reply::ok("ok"));
    let (alerts, dir) = alerts_config(&f, &format!("{}/hook", server.url()), "5s");
    f.write_config(&format!("{}{alerts}", mosaic::CONFIG));

    let out = f
        .guardrail_cmd(&["deploy", mosaic::AUTH_MODAL, "--yes"])
        .env("USER", "mallory")
        .env("LOGNAME", "mallory")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let posted = server.requests("/hook");
    assert_eq!(posted.len(), 1);
    let ev = posted[0].json();
    assert_eq!(ev["kind"], "refused");
    assert_eq!(ev["actor"], "mallory");
    assert_eq!(ev["details"]["action"], "deploy");
    assert_eq!(ev["details"]["target"], mosaic::AUTH_MODAL);
    assert!(
        ev["details"]["why"]
            .as_str()
            .unwrap()
            .contains("mallory is not a release manager"),
        "{ev:#}"
    );
    assert_eq!(received(&dir), vec![ev]);
}

#[test]
fn a_rollback_whose_verification_fails_sends_rollback_and_verification_failed() {
    let l = live_repo("");
    let f = &l.f;
    l.server.route("/hook", Reply::status(204, ""));
    let cfg =
        live_config(&l.server.url(), &l.site, "").replace("deadline = \"3s\"", "deadline = \"1s\"");
    f.write_config(&format!(
        "{cfg}\n[alerts]\nwebhook = \"{}/hook\"\n",
        l.server.url()
    ));
    // A newer prod tag whose bundle lacks the auth modal.
    f.checkout_new("tmp/broken");
    f.write(mosaic::MOSAIC_UI, page_without_auth_modal("r9"));
    let c = f.commit_paths("broken build", &[mosaic::MOSAIC_UI]);
    f.checkout("main");
    f.tag_lightweight("prod-2025-11-20", &c);

    let out = f.guardrail(&["rollback", "--yes", "--reason", "drill"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let mut kinds: Vec<String> = l
        .server
        .requests("/hook")
        .iter()
        .map(|r| r.json()["kind"].as_str().unwrap().to_string())
        .collect();
    kinds.sort();
    assert_eq!(kinds, ["rollback", "verification-failed"]);
    let rb = l
        .server
        .requests("/hook")
        .into_iter()
        .map(|r| r.json())
        .find(|e| e["kind"] == "rollback")
        .unwrap();
    assert_eq!(rb["details"]["to"], "prod-2025-11-20");
    assert_eq!(rb["details"]["verified"], false);
    assert_eq!(rb["details"]["reason"], "drill");
    assert!(rb["details"]["failing"][0]
        .as_str()
        .unwrap()
        .starts_with("auth modal"));
}

#[test]
fn a_secret_in_a_failing_commands_stderr_is_masked_in_the_audit_chain() {
    let f = mosaic_repo();
    let token = "pager-token-5f3a9c1e77";
    f.write_config(&format!(
        "{}\n[alerts]\ncommand = 'cat >/dev/null; echo \"rejected token $PAGER_API_TOKEN\" >&2; exit 3'\n",
        mosaic::CONFIG
    ));
    drift_on_main(&f);
    let out = f
        .guardrail_cmd(&["drift"])
        .env("PAGER_API_TOKEN", token)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let failed = audit_of(&f, "alert", "FAILED");
    assert_eq!(failed.len(), 1);
    assert_eq!(
        failed[0]["details"]["failed"]["command"],
        "the command exited 3: rejected token ***"
    );
    let chain =
        std::fs::read_to_string(f.path().join(".verification_audit.log")).unwrap_or_default();
    let state = walk_text(&f.path().join(".git/guardrail"));
    assert!(
        !chain.contains(token) && !state.contains(token),
        "the token was stored"
    );
}

/// Every readable file under `dir`, concatenated.
fn walk_text(dir: &std::path::Path) -> String {
    let mut all = String::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return all;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            all.push_str(&walk_text(&p));
        } else if let Ok(t) = std::fs::read_to_string(&p) {
            all.push_str(&t);
        }
    }
    all
}

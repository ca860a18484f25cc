//! `guardrail drill`: the sandbox and the headless scenario, through the
//! real binary with an isolated HOME.
use crate::common;

use std::path::Path;

use common::*;

const USER: &str = "drillster";

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            out.push(e.path());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                out.extend(walk(&e.path()));
            }
        }
    }
    out
}

/// The whole scenario passes; afterwards production serves the golden page
/// again, the report and the rollout log exist, the audit chain is intact,
/// the branches keep their package states, and nothing was written to HOME.
#[test]
fn headless_drill_passes_and_leaves_a_consistent_sandbox() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let d = tmp.path().join("d");
    let cmd = |cwd: &Path| guardrail_command(&home, USER, cwd);
    // Creates HOME with its empty git config.
    let _ = cmd(tmp.path()).arg("--version").output().unwrap();
    let home_before = listing(&home);

    let out = cmd(tmp.path())
        .args(["drill", "--headless", "--dir"])
        .arg(&d)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}\n{}", stderr(&out));
    for step in guardrail::pipeline::drill::STEPS {
        assert!(text.contains(step), "step {step:?} not printed:\n{text}");
    }
    assert!(text.contains("❌ auth modal"), "{text}");
    assert!(text.contains("Drill PASSED"), "{text}");
    assert!(
        text.contains(&format!("{USER} (release manager)")),
        "{text}"
    );

    let report = std::fs::read_to_string(d.join("DRILL_REPORT.md")).unwrap();
    assert!(report.contains("PASSED"), "{report}");
    assert!(report.contains("Seconds from failed verification to verified restore"));

    // Production (the served directory) has the auth modal back.
    let page = std::fs::read_to_string(d.join("production/site/index.html")).unwrap();
    assert!(page.contains("id=\"authModal\""), "{page}");
    assert!(page.contains("PS101State"));

    let repo = d.join("mosaic");
    let rollout = std::fs::read_to_string(repo.join("deploy_logs/ROLLOUT_LOG.md")).unwrap();
    assert!(rollout.contains("rollback to prod-"), "{rollout}");
    assert!(rollout.contains(&format!("**Who:** {USER}")), "{rollout}");

    let g = |args: &[&str]| cmd(&repo).arg("-C").arg(&repo).args(args).output().unwrap();
    let audit = g(&["audit", "verify", "--json"]);
    assert_eq!(audit.status.code(), Some(0), "{}", stdout(&audit));
    let a = json(&audit);
    assert_eq!(a["intact"], true, "{a}");
    assert!(a["checkpoint"].is_object(), "{a}");

    let st = g(&["status", "--json"]);
    assert_eq!(st.status.code(), Some(0), "{}", stderr(&st));
    let st = json(&st);
    let state = |name: &str| {
        st["branches"]
            .as_array()
            .unwrap()
            .iter()
            .find(|b| b["name"] == name)
            .unwrap_or_else(|| panic!("no branch {name} in {st}"))["package"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(state("feature/ps101-copy"), "ready");
    assert_eq!(state("feature/footer-links"), "incomplete");
    assert_eq!(state("feature/pricing"), "stale");
    assert_eq!(state("feature/auth-refactor"), "ready");
    assert_eq!(st["user"]["name"], USER);
    assert_eq!(st["user"]["release_manager"], true);
    let tags: Vec<&serde_json::Value> = st["prod_tags"].as_array().unwrap().iter().collect();
    assert_eq!(tags.len(), 3, "nothing was released: {st}");
    assert!(tags
        .iter()
        .all(|t| t["backup"] == true && t["annotated"] == true));
    assert_eq!(st["live"]["action"], "rollback");
    assert_eq!(st["live"]["health"], "ok");
    assert_eq!(st["live"]["tag"], st["golden"]);

    // No remote, and nothing written outside the sandbox's directory.
    let remotes = std::process::Command::new("git")
        .current_dir(&repo)
        .args(["remote"])
        .envs(isolated_env_as(&home, USER))
        .output()
        .unwrap();
    assert!(stdout(&remotes).trim().is_empty());
    assert_eq!(listing(&home), home_before);
}

/// `--dir` naming a directory that is not empty: exit 2, nothing written.
#[test]
fn a_dir_that_is_not_empty_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let d = tmp.path().join("d");
    std::fs::create_dir_all(&d).unwrap();
    std::fs::write(d.join("notes.txt"), "mine\n").unwrap();
    let out = guardrail_command(&home, USER, tmp.path())
        .args(["drill", "--headless", "--dir"])
        .arg(&d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("is not empty"), "{}", stderr(&out));
    assert_eq!(listing(&d), vec!["notes.txt".to_string()]);

    // A file in place of the directory: the same.
    let f = tmp.path().join("file");
    std::fs::write(&f, "x").unwrap();
    let out = guardrail_command(&home, USER, tmp.path())
        .args(["drill", "--headless", "--dir"])
        .arg(&f)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "x");
}

/// Without a terminal the console form says to use --headless (exit 2)
/// before building anything.
#[test]
fn the_console_form_needs_a_terminal() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let d = tmp.path().join("d");
    let out = guardrail_command(&home, USER, tmp.path())
        .args(["drill", "--dir"])
        .arg(&d)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--headless"), "{}", stderr(&out));
    assert!(!d.exists());
}

/// The library: a sandbox built in-process serves the golden build over
/// HTTP, is marked as a drill, and stops serving (and disappears) when
/// dropped.
#[test]
fn sandbox_serves_production_and_cleans_up() {
    use std::io::{Read, Write};
    let sb = guardrail::pipeline::drill::build(None, USER).unwrap();
    let dir = sb.dir.clone();
    let addr = sb.server.addr();
    let mut s = std::net::TcpStream::connect(addr).unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    assert!(resp.starts_with("HTTP/1.1 200 OK"), "{resp}");
    assert!(resp.contains("authModal"));
    let build_id = format!("BUILD_ID:{}", &sb.golden);
    assert!(
        !resp.contains(&build_id),
        "the BUILD_ID is a build id, not a tag"
    );
    assert!(resp.contains("<!-- BUILD_ID:") && !resp.contains("BUILD_ID:dev"));
    let repo = sb.repo().unwrap();
    assert!(repo.is_drill());
    assert_eq!(sb.tags.len(), 3);
    assert_eq!(sb.tags.last(), Some(&sb.golden));
    assert!(sb.next_tag.starts_with("prod-"));
    drop(repo);
    drop(sb);
    assert!(!dir.exists());
    assert!(
        std::net::TcpStream::connect_timeout(&addr, std::time::Duration::from_millis(300))
            .map(|mut s| {
                let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n");
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                out.is_empty()
            })
            .unwrap_or(true)
    );
}

/// `guardrail drill --dir D` on a terminal: the console opens on the
/// sandbox (its branches and tags shown), `q` quits with 0, and the
/// sandbox given with --dir stays.
#[test]
fn the_console_opens_on_the_sandbox() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let d = tmp.path().join("d");
    let mut c = PtyCommand::new(guardrail_bin())
        .arg("drill")
        .arg("--dir")
        .arg(&d)
        .cwd(tmp.path())
        .size(140, 40);
    for k in ENV_REMOVE {
        c = c.env_remove(k);
    }
    let mut t = c.envs(isolated_env_as(&home, USER)).spawn();
    t.wait_for("feature/auth-refactor", secs(20))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()));
    t.wait_for("Mosaic (drill)", secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()));
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0), "{}", t.screen_text());
    assert_terminal_restored(&t);
    assert!(d.join("mosaic/.git/guardrail/drill").exists());
}

/// A first-time user's whole drill, by keys alone, in a real terminal:
/// review the ready package, run the playbook on the bad branch, watch
/// verification fail, roll back with R and y, read the records. Then
/// production serves the auth modal again and the report is written.
#[test]
fn the_whole_drill_by_keys_alone() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let d = tmp.path().join("d");
    let mut c = PtyCommand::new(guardrail_bin())
        .arg("drill")
        .arg("--dir")
        .arg(&d)
        .cwd(tmp.path())
        .size(170, 50);
    for k in ENV_REMOVE {
        c = c.env_remove(k);
    }
    let mut t = c.envs(isolated_env_as(&home, USER)).spawn();
    let wait = |t: &Pty, what: &str, s: u64| {
        t.wait_for(what, secs(s))
            .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()))
    };
    wait(&t, "▶ 1. Review a ready package", 20);
    wait(&t, "✓ ready    feature/ps101-copy", 20);
    // 1. Review the ready package (the fourth branch).
    t.send("jjj");
    t.send_enter();
    wait(&t, "Evidence · ready", 10);
    wait(&t, "▶ 2. Run the playbook", 5);
    t.send_esc();
    // 2. The bad branch is the first one: its playbook, every step.
    t.send("kkk");
    t.send("d");
    wait(&t, "Verify evidence: what and why", 5);
    t.send("a");
    wait(&t, "answer:", 30);
    // The gate's five questions: each answer goes as the script asks.
    t.send("yes\ryes\ryes\ryes\ryes\r");
    // 3. Live verification fails.
    wait(&t, "Press R to roll production back", 60);
    wait(&t, "▶ 4. Roll back with one key", 5);
    // 4. R shows the plan; y confirms.
    t.send("R");
    wait(&t, "Roll back production", 10);
    // The plan is ready when its reason line shows (the coach pane's
    // "press R, then y" is no sign of it; `y` before the plan is refused).
    wait(&t, "edit the reason", 10);
    t.send("y");
    // 5. Every check ✅.
    wait(&t, "production serves prod-", 60);
    wait(&t, "▶ 6. Read the rollout log", 5);
    // 6. The records.
    t.send("A");
    wait(&t, "audit chain intact", 10);
    wait(&t, "Drill passed ✅", 10);
    // What production serves, over HTTP, while the drill's server runs.
    let cfg = std::fs::read_to_string(d.join("mosaic/guardrail.toml")).unwrap();
    let url = cfg
        .lines()
        .find_map(|l| {
            l.trim()
                .strip_prefix("url = ")
                .map(|u| u.trim_matches('"').to_string())
        })
        .expect("the sandbox names its production URL");
    let (status, body) = common::http::get(&format!("{url}/")).unwrap();
    assert_eq!(status, 200);
    let body = String::from_utf8_lossy(&body);
    assert!(
        body.contains("authModal"),
        "production still broken:\n{body}"
    );
    t.send_q();
    t.send_q();
    assert_eq!(t.wait_exit(secs(15)), Some(0), "{}", t.screen_text());
    assert_terminal_restored(&t);

    let report = std::fs::read_to_string(d.join("DRILL_REPORT.md")).unwrap();
    assert!(report.contains("PASSED"), "{report}");
    assert!(
        report.contains("From the failed verification to the verified restore"),
        "{report}"
    );
    // What production serves is the golden build again.
    let site = std::fs::read_to_string(d.join("production/site/index.html")).unwrap();
    assert!(
        site.contains("authModal"),
        "production lost the auth modal:\n{site}"
    );
    let rollout = std::fs::read_to_string(d.join("mosaic/deploy_logs/ROLLOUT_LOG.md")).unwrap();
    assert!(rollout.contains("rollback to prod-"), "{rollout}");
}

/// The coach ticks steps in any order (#19.8): a newcomer who skips the
/// review, runs the playbook on the bad branch, watches it fail and rolls
/// back is not told to review a package after the verified restore; the
/// report says which step was skipped.
#[test]
fn the_coach_ticks_steps_in_any_order_and_reports_the_skipped_one() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let d = tmp.path().join("d");
    let mut c = PtyCommand::new(guardrail_bin())
        .arg("drill")
        .arg("--dir")
        .arg(&d)
        .cwd(tmp.path())
        .size(170, 50);
    for k in ENV_REMOVE {
        c = c.env_remove(k);
    }
    let mut t = c.envs(isolated_env_as(&home, USER)).spawn();
    let wait = |t: &Pty, what: &str, s: u64| {
        t.wait_for(what, secs(s))
            .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()))
    };
    wait(&t, "▶ 1. Review a ready package", 20);
    wait(&t, "✓ ready    feature/ps101-copy", 20);
    // No review: the bad branch (the first one) straight to its playbook.
    t.send("d");
    wait(&t, "Verify evidence: what and why", 5);
    t.send("a");
    wait(&t, "answer:", 30);
    t.send("yes\ryes\ryes\ryes\ryes\r");
    wait(&t, "Press R to roll production back", 60);
    // The coach moved on past the skipped review.
    wait(&t, "▶ 4. Roll back with one key", 5);
    assert!(
        !t.screen_text().contains("▶ 1. Review a ready package"),
        "{}",
        t.screen_text()
    );
    t.send("R");
    wait(&t, "Roll back production", 10);
    wait(&t, "edit the reason", 10);
    t.send("y");
    wait(&t, "production serves prod-", 60);
    wait(&t, "▶ 6. Read the rollout log", 5);
    let screen = t.screen_text();
    assert!(!screen.contains("▶ 1. Review"), "{screen}");
    t.send("A");
    wait(&t, "audit chain intact", 10);
    wait(&t, "Drill passed ✅", 10);
    wait(&t, "1. Review a ready package (skipped)", 5);
    t.send_q();
    t.send_q();
    assert_eq!(t.wait_exit(secs(15)), Some(0), "{}", t.screen_text());
    assert_terminal_restored(&t);

    let report = std::fs::read_to_string(d.join("DRILL_REPORT.md")).unwrap();
    assert!(
        report.contains("skipped: 1. Review a ready package"),
        "{report}"
    );
    assert!(
        report.contains("1. ⏭ skipped: Review a ready package"),
        "{report}"
    );
    for step in 2..=6 {
        assert!(
            report.contains(&format!("{step}. ✅")),
            "step {step}:\n{report}"
        );
    }
}

//! The release playbook in the console: the steps pane, a step that asks in
//! the input line, the live checks, and a real release against a real HTTP
//! server on 127.0.0.1 serving the publish directory.
use crate::common;
use common::http::HttpServer;
use common::*;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use guardrail::app::{self, Msg, Request, Screen};
use guardrail::pipeline::config::UserConfig;
use guardrail::pipeline::repo::{Repo, User};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const GATE: &str = "#!/bin/bash\nprintf 'PS101 10-step flow walked end-to-end against this build? [yes/no/n/a]: '\nread -r a || exit 1\n[ \"$a\" = yes ] && echo 'DEPLOY GATE: PASS' || { echo 'DEPLOY GATE: FAIL'; exit 1; }\n";

/// A ready package on feature/auth-modal with a gate that asks once, and a
/// live site served from `<tmp>/site`.
pub(crate) fn release_repo() -> (Fixture, HttpServer) {
    let f = mosaic_repo();
    let site = f.tempdir().join("site");
    std::fs::create_dir_all(&site).unwrap();
    let server = HttpServer::serve_dir(&site);
    f.write_config(&format!(
        "[authority]\nrelease_managers = [\"tester\"]\n\n[live]\nurl = \"{}\"\npublish_dir = \"{}\"\ndeadline = \"3s\"\nrequest_timeout = \"500ms\"\npoll = \"0s\"\n\n[[live.check]]\nname = \"site reachable\"\npath = \"/\"\nstatus = 200\n\n[[live.check]]\nname = \"auth modal\"\npath = \"/\"\ncontains = [\"authModal\"]\n\n[[live.check]]\nname = \"build id\"\npath = \"/\"\nbuild_id = true\n",
        server.url(),
        site.display()
    ));
    // The gate is main's (a branch changing it would need a release
    // manager's acknowledgement).
    f.write_script("scripts/run_deploy_gate.sh", GATE);
    f.commit("live site config and the gate");
    f.checkout(mosaic::AUTH_MODAL);
    f.git(&["merge", "-q", "--no-edit", "main"]);
    f.checkout("main");
    package(&f, mosaic::AUTH_MODAL, &Pkg::default());
    (f, server)
}

#[test]
fn playbook_screen_before_anything_runs() {
    let (f, _server) = release_repo();
    let (_repo, mut a) = console_app(&f, 140, 36);
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('d'),
        KeyModifiers::NONE,
    )));
    assert_eq!(a.screen, Screen::Playbook);
    assert!(
        matches!(&a.requests[..], [Request::Playbook { branch }] if branch == mosaic::AUTH_MODAL),
        "{:?}",
        a.requests
    );
    let mut t = Terminal::new(TestBackend::new(140, 36)).unwrap();
    t.draw(|fr| guardrail::views::draw(fr, &a)).unwrap();
    let screen = t.backend().to_string();
    assert!(screen.contains("Verify evidence: what and why"), "{screen}");
    assert!(screen.contains("Enter runs this step"), "{screen}");
    insta::assert_snapshot!("playbook_140x36", screen);
}

#[test]
fn not_ready_and_not_a_release_manager_are_said_before_running() {
    let (f, _server) = release_repo();
    let repo = Repo::open(f.path()).unwrap();
    let mut a = app::initial_app(&repo, false, &UserConfig::default()).unwrap();
    app::load_all(&repo, &mut a).unwrap();
    a.user = User {
        name: "mallory".into(),
        release_manager: false,
    };
    a.update(Msg::Resize(140, 36));
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('j'),
        KeyModifiers::NONE,
    )));
    a.update(Msg::Key(KeyEvent::new(
        KeyCode::Char('d'),
        KeyModifiers::NONE,
    )));
    let pb = a.playbook.as_ref().unwrap();
    assert_eq!(pb.branch, mosaic::PS101);
    assert!(
        pb.blockers
            .iter()
            .any(|b| b.contains("mallory is not a release manager")),
        "{:?}",
        pb.blockers
    );
    assert!(
        pb.blockers
            .iter()
            .any(|b| b.contains("the package is none")),
        "{:?}",
        pb.blockers
    );
}

#[test]
fn a_release_from_the_console_in_a_pty() {
    let (f, server) = release_repo();
    let mut t = f.console(&[], 160, 45);
    t.wait_for("✓ ready", secs(15)).unwrap();
    t.send("d");
    t.wait_for("Verify evidence: what and why", secs(5))
        .unwrap();
    t.send("a");
    t.wait_for("answer: PS101 10-step flow", secs(20)).unwrap();
    t.send("yes\r");
    t.wait_for("released prod-2025-11-14", secs(30)).unwrap();
    // The frame that says so may still be arriving: wait for the rest of it.
    t.wait_for("Verification 3/3", secs(5))
        .unwrap_or_else(|e| panic!("{e}"));
    // The header shows the new live tag once verified.
    t.wait_for("live prod-2025-11-14", secs(5)).unwrap();
    t.send_esc();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    assert_terminal_restored(&t);
    assert!(f
        .git(&["tag", "-l", "prod-2025-11-14"])
        .contains("prod-2025-11-14"));
    assert!(f.path().join("backups/prod-2025-11-14.zip").is_file());
    assert!(server.hits("/") > 0);
    let out = f.guardrail(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("matches the release checkpoint"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_header_shows_background_checks_of_production() {
    let (f, _server) = release_repo();
    let site = f.tempdir().join("site");
    std::fs::write(
        site.join("index.html"),
        "<div id=\"authModal\"></div>\n<!-- BUILD_ID:x -->\n",
    )
    .unwrap();
    let cfg = f
        .read("guardrail.toml")
        .replace("poll = \"0s\"", "poll = \"1s\"");
    f.write_config(&cfg);
    let mut t = f.console(&[], 160, 30);
    t.wait_for("✅", secs(15)).unwrap();
    t.wait_for("polled", secs(5))
        .unwrap_or_else(|e| panic!("{e}"));
    // Production loses its auth modal: the next poll says so.
    std::fs::write(site.join("index.html"), "<div>broken</div>\n").unwrap();
    t.wait_for("❌ auth modal", secs(20)).unwrap();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

//! The console: rendered screens as snapshots (TestBackend + insta), the
//! key handling on real app state, and the real binary in a pseudo-terminal.
use crate::common;
use common::*;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers, MouseEvent, MouseEventKind};
use guardrail::app::{self, App, Msg, Pane};
use guardrail::pipeline::config::UserConfig;
use guardrail::pipeline::repo::Repo;
use ratatui::backend::TestBackend;
use ratatui::style::Modifier;
use ratatui::Terminal;

fn app_for(f: &Fixture, w: u16, h: u16) -> App {
    console_app(f, w, h).1
}

fn render(a: &App) -> Terminal<TestBackend> {
    draw_app(a)
}

fn key(c: KeyCode) -> Msg {
    Msg::Key(KeyEvent::new(c, KeyModifiers::NONE))
}

#[test]
fn main_screen_120x40() {
    let f = mosaic_repo();
    let a = app_for(&f, 120, 40);
    insta::assert_snapshot!(render(&a).backend());
}

#[test]
fn main_screen_80x24_folds_into_tabs() {
    let f = mosaic_repo();
    let mut a = app_for(&f, 80, 24);
    assert!(a.folded());
    insta::assert_snapshot!("main_80x24_branches", render(&a).backend());
    a.update(key(KeyCode::Tab));
    assert_eq!(a.focus, Pane::Tags);
    insta::assert_snapshot!("main_80x24_tags", render(&a).backend());
}

#[test]
fn help_overlay_lists_every_key() {
    let f = mosaic_repo();
    let mut a = app_for(&f, 80, 24);
    a.update(key(KeyCode::Char('?')));
    assert!(a.help_open());
    let t = render(&a);
    insta::assert_snapshot!("help_80x24", t.backend());
    let screen = t.backend().to_string();
    // The groups for where you are come first.
    assert!(screen.contains("Everywhere"), "{screen}");
    assert!(screen.contains("show every key"), "{screen}");
    // Every other key is further down: the overlay scrolls to it.
    let theme = guardrail::views::theme::Theme::new(true);
    let all: String = guardrail::views::help::lines(&a, &theme)
        .iter()
        .map(|l| l.to_string() + "\n")
        .collect();
    for b in guardrail::app::keys::BINDINGS {
        assert!(all.contains(b.help), "help misses {} ({})", b.label, b.help);
    }
    for _ in 0..40 {
        a.update(key(KeyCode::Down));
    }
    let scrolled = render(&a).backend().to_string();
    assert!(scrolled.contains("first failure"), "{scrolled}");
    // The overlay swallows other keys; Esc closes it.
    a.update(key(KeyCode::Char('g')));
    assert_eq!(a.branch_cur.selected, 0);
    assert!(a.requests.is_empty());
    a.update(key(KeyCode::Esc));
    assert!(!a.help_open());
}

#[test]
fn first_frame_shows_branch_names_before_details() {
    let f = mosaic_repo();
    let repo = Repo::open(f.path()).unwrap();
    let mut a = app::initial_app(&repo, false, &UserConfig::default()).unwrap();
    a.update(Msg::Resize(120, 40));
    assert!(a.branches.iter().all(|b| b.info.is_none()));
    let screen = render(&a).backend().to_string();
    assert!(screen.contains(mosaic::AUTH_MODAL), "{screen}");
    assert!(screen.contains("reading tags…"), "{screen}");
    assert!(screen.contains("reading…"), "{screen}");
    // The rows on screen are what the reader fetches first.
    assert_eq!(a.rows_on_screen().len(), 3);
}

#[test]
fn selection_is_reverse_video_without_colour() {
    let f = mosaic_repo();
    let mut a = app_for(&f, 120, 40);
    a.mono = true;
    let t = render(&a);
    let buf = t.backend().buffer();
    // Row 3 is the first branch row (header, border, column header).
    let cell = &buf[(2u16, 3u16)];
    assert!(cell.modifier.contains(Modifier::REVERSED), "{cell:?}");
    for y in 0..buf.area.height {
        for x in 0..buf.area.width {
            let c = &buf[(x, y)];
            assert_eq!(c.fg, ratatui::style::Color::Reset, "colour at {x},{y}");
            assert_eq!(c.bg, ratatui::style::Color::Reset, "colour at {x},{y}");
        }
    }
}

#[test]
fn navigation_filter_and_mouse() {
    let f = mosaic_repo();
    let mut a = app_for(&f, 120, 40);
    a.update(key(KeyCode::Char('j')));
    assert_eq!(a.selected_branch().unwrap().r.name, mosaic::PS101);
    a.update(key(KeyCode::End));
    assert_eq!(a.selected_branch().unwrap().r.name, mosaic::REMOTE_ONLY);
    a.update(key(KeyCode::Home));
    assert_eq!(a.branch_cur.selected, 0);
    a.update(key(KeyCode::PageDown));
    assert_eq!(a.branch_cur.selected, 2);

    a.update(key(KeyCode::Char('/')));
    for c in "ps1".chars() {
        a.update(key(KeyCode::Char(c)));
    }
    // While typing, q is text, not quit.
    a.update(key(KeyCode::Char('q')));
    assert!(!a.quit);
    assert_eq!(a.filter, "ps1q");
    a.update(key(KeyCode::Backspace));
    a.update(key(KeyCode::Enter));
    assert_eq!(a.visible.len(), 1);
    assert_eq!(a.selected_branch().unwrap().r.name, mosaic::PS101);
    let screen = render(&a).backend().to_string();
    assert!(screen.contains("Branches (1 of 3)"), "{screen}");
    a.update(key(KeyCode::Esc));
    assert_eq!(a.visible.len(), 3);

    // The wheel over the tag pane scrolls the tags, not the branches.
    a.update(Msg::Mouse(MouseEvent {
        kind: MouseEventKind::ScrollDown,
        column: 110,
        row: 5,
        modifiers: KeyModifiers::NONE,
    }));
    assert_eq!(a.tag_cur.selected, 2);
    assert_eq!(a.focus, Pane::Branches);

    a.update(key(KeyCode::BackTab));
    assert_eq!(a.focus, Pane::Tags);
    a.update(key(KeyCode::Char('q')));
    assert!(a.quit);
}

#[test]
fn readonly_is_marked_in_the_header() {
    let f = mosaic_repo();
    let repo = Repo::open(f.path()).unwrap();
    let mut a = app::initial_app(&repo, true, &UserConfig::default()).unwrap();
    a.update(Msg::Resize(120, 40));
    let screen = render(&a).backend().to_string();
    assert!(screen.contains("read-only"), "{screen}");
}

#[test]
fn console_in_a_pty_shows_branches_help_and_restores_the_terminal() {
    let f = mosaic_repo();
    let mut t = f.console(&[], 80, 24);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.wait_for("backup ✓", secs(5)).unwrap_or_else(|_| {
        // At 80 columns tags are a tab: switch to it.
        t.send_tab();
        t.wait_for("backup ✓", secs(5)).unwrap();
        t.send_tab();
    });
    assert!(t.alternate_screen());
    t.send_help();
    t.wait_for("show every key", secs(5)).unwrap();
    t.send_esc();
    t.wait_for_gone("show every key", secs(5)).unwrap();
    t.resize(120, 40);
    t.wait_for("Prod tags (3)", secs(5)).unwrap();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    assert_terminal_restored(&t);
}

#[test]
fn sigterm_restores_the_terminal() {
    let f = mosaic_repo();
    let mut t = f.console(&[], 100, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.signal(libc::SIGTERM);
    assert!(t.wait_exit(secs(10)).is_some());
    assert_terminal_restored(&t);
}

#[test]
fn console_outside_a_repository_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = PtyCommand::new(guardrail_bin())
        .arg("-C")
        .arg(dir.path())
        .envs(isolated_env(dir.path()))
        .size(80, 24)
        .spawn();
    assert_eq!(t.wait_exit(secs(10)), Some(2));
    assert!(
        t.screen_text().contains("is not inside a git repository"),
        "{}",
        t.screen_text()
    );
}

const GATE: &str = r#"#!/usr/bin/env zsh
echo "=== Mosaic deploy gate on $GUARDRAIL_BRANCH ==="
for q in "PS101 10-step flow walked end-to-end against this build?" \
         "Auth modal opens and closes?" \
         "BUILD_ID footer present?" \
         "Baseline line counts within tolerance?" \
         "Screenshots attached to the handoff?"; do
  printf '%s [yes/no/n/a]: ' "$q"
  read -r ans || exit 1
  [ "$ans" = no ] && fail=1
done
seq 1 300 | sed 's/^/check /'
if [ -z "$fail" ]; then echo "DEPLOY GATE: PASS"; else echo "ERROR: a check failed"; echo "DEPLOY GATE: FAIL"; exit 1; fi
"#;

pub(crate) fn repo_with_console_gate() -> Fixture {
    let f = mosaic_repo();
    f.checkout(mosaic::AUTH_MODAL);
    f.write_script("scripts/run_deploy_gate.sh", GATE);
    f.commit("the gate");
    f.checkout("main");
    f
}

#[test]
fn gate_in_the_console_answers_prompts_searches_and_jumps_to_failure() {
    let f = repo_with_console_gate();
    let mut t = f.console(&[], 100, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.send("g");
    let questions = [
        "PS101 10-step flow walked end-to-end against this build?",
        "Auth modal opens and closes?",
        "BUILD_ID footer present?",
        "Baseline line counts within tolerance?",
        "Screenshots attached to the handoff?",
    ];
    for (q, answer) in questions.iter().zip(["yes", "yes", "no", "n/a", "yes"]) {
        // Each prompt shows at once, without a newline, in the input line.
        t.wait_for(&format!("answer: {q} [yes/no/n/a]:"), secs(10))
            .unwrap();
        t.send(format!("{answer}\r"));
    }
    t.wait_for("gate FAIL", secs(15)).unwrap();
    // The rest of that frame may still be arriving.
    t.wait_for("DEPLOY GATE: FAIL", secs(5))
        .unwrap_or_else(|e| panic!("{e}"));
    // The first failure line, and a search with n.
    t.send("f");
    t.wait_for("line ", secs(5)).unwrap();
    t.wait_for("ERROR: a check failed", secs(5))
        .unwrap_or_else(|e| panic!("{e}"));
    t.send("/check 150\r");
    t.wait_for("check 150", secs(5)).unwrap();
    t.send("n");
    t.send_key(Key::End);
    t.wait_for("following", secs(5)).unwrap();
    // Back to the branches, then quit: nothing is running any more.
    t.send("q");
    t.wait_for("Prod tags", secs(5)).unwrap();
    t.send("q");
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    assert_terminal_restored(&t);
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["action"], "gate");
    assert_eq!(recs[0]["result"], "FAIL");
}

#[test]
fn quitting_while_a_gate_waits_asks_first_and_cancels_it() {
    let f = repo_with_console_gate();
    let mut t = f.console(&[], 100, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.send("g");
    t.wait_for("[yes/no/n/a]:", secs(10)).unwrap();
    t.wait_for("answer:", secs(10)).unwrap();
    t.send_esc(); // leave the input line
    t.send("q"); // back to the branches
    t.wait_for("Prod tags", secs(5)).unwrap();
    t.send("q");
    t.wait_for("Quit and cancel it?", secs(5)).unwrap();
    t.send("n");
    t.wait_for_gone("Quit and cancel it?", secs(5)).unwrap();
    t.send("q");
    t.wait_for("Quit and cancel it?", secs(5)).unwrap();
    t.send("y");
    assert_eq!(t.wait_exit(secs(15)), Some(0));
    assert_terminal_restored(&t);
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["result"], "CANCELLED", "{recs}");
}

#[test]
fn a_panic_while_drawing_restores_the_terminal() {
    let f = mosaic_repo();
    let mut t = f
        .console_command(&[], 100, 30)
        .env("GUARDRAIL_FAULT", "panic-on-draw")
        .spawn();
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.send("?"); // drawing the help overlay panics
    let exit = t.wait_exit_status(secs(10));
    assert!(exit.is_some(), "the console did not end");
    assert_ne!(exit, Some(Exit::Code(0)));
    assert_terminal_restored(&t);
    let termios = t.termios().expect("termios of the pty");
    assert!(
        termios.echo() && termios.icanon(),
        "echo and canonical mode back on"
    );
    assert!(
        t.screen_text().contains("injected fault"),
        "{}",
        t.screen_text()
    );
}

#[test]
fn sigint_and_sighup_restore_the_terminal() {
    for sig in [libc::SIGINT, libc::SIGHUP] {
        let f = mosaic_repo();
        let mut t = f.console(&[], 100, 30);
        t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
        t.signal(sig);
        assert!(t.wait_exit(secs(10)).is_some(), "signal {sig}");
        assert_terminal_restored(&t);
    }
}

fn user_config(f: &Fixture, text: &str) {
    let dir = f.home().join(".config/guardrail");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), text).unwrap();
}

#[test]
fn the_users_own_file_rebinds_keys_and_sets_the_look() {
    let f = repo_with_console_gate();
    user_config(
        &f,
        "[ui]\ntheme = \"mono\"\nmouse = false\n\n[keys]\ngate = \"ctrl-g\"\nhelp = \"f1\"\n",
    );
    let mut t = f.console(&[], 160, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    // The footer and help show the new keys; the old ones do nothing.
    t.wait_for(" ctrl-g gate", secs(5)).unwrap();
    t.send("?");
    std::thread::sleep(millis(300));
    assert!(!t.screen_text().contains("show every key"));
    t.send_key(Key::F(1));
    t.wait_for("show every key", secs(5)).unwrap();
    t.send_esc();
    t.send_key(Key::Ctrl('g'));
    t.wait_for("[yes/no/n/a]:", secs(10)).unwrap();
    t.send_key(Key::Ctrl('c'));
    t.wait_for("Quit and cancel it?", secs(5)).unwrap();
    t.send("y");
    assert_eq!(t.wait_exit(secs(15)), Some(0));
    // No colour at all with the mono theme.
    assert!(
        !String::from_utf8_lossy(&t.raw_tail()).contains("\x1b[38;5;"),
        "colour in mono"
    );
}

#[test]
fn a_bad_key_in_the_users_file_is_one_sentence_and_exit_2() {
    let f = mosaic_repo();
    user_config(&f, "[keys]\nrollbak = \"R\"\n");
    let mut t = f.console(&[], 100, 30);
    assert_eq!(t.wait_exit(secs(10)), Some(2));
    let s = t.screen_text();
    assert!(
        s.contains("keys.rollbak") && s.contains("no such action"),
        "{s}"
    );
    let f = mosaic_repo();
    user_config(&f, "[keys]\ngate = \"G\"\n");
    let mut t = f.console(&[], 100, 30);
    assert_eq!(t.wait_exit(secs(10)), Some(2));
    assert!(
        t.screen_text().contains("is already end"),
        "{}",
        t.screen_text()
    );
    let f = mosaic_repo();
    user_config(&f, "[ui]\ntheme = \"neon\"\n");
    let mut t = f.console(&[], 100, 30);
    assert_eq!(t.wait_exit(secs(10)), Some(2));
    assert!(
        t.screen_text().contains("config.toml line 2"),
        "{}",
        t.screen_text()
    );
}

/// At 80 columns the header never cuts a segment in the middle: when all
/// does not fit, "lock free" and "no drift" go first, then who you are;
/// golden, live and every warning stay. Production serving the golden
/// build reads `live ★`.
#[test]
fn a_narrow_header_drops_quiet_segments_whole_and_keeps_warnings() {
    use guardrail::pipeline::drift;
    use guardrail::pipeline::state::{LiveHealth, LiveRecord};
    let f = mosaic_repo();
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let mut a = app_for(&f, 80, 24);
    let golden = a.tags.as_ref().unwrap().last().unwrap().name.clone();
    a.live = Some(LiveRecord {
        tag: Some(golden.clone()),
        commit: "0".repeat(40),
        build_id: "b".into(),
        branch: None,
        action: "deploy".into(),
        actor: "ana".into(),
        time: "2026-11-25T10:00:00Z".into(),
        health: LiveHealth::Ok,
        bad_tags: Vec::new(),
        failure: None,
    });
    a.drift = Some(drift::check(&repo, &cfg, false).unwrap());
    assert!(!a.drift.as_ref().unwrap().drift);
    let header = |a: &App| {
        render(a)
            .backend()
            .to_string()
            .lines()
            .next()
            .unwrap()
            .to_string()
    };

    a.user.name = "ana".into();
    let h = header(&a);
    for part in [
        golden.as_str(),
        "live ★ ✅",
        "lock free",
        "no drift",
        "ana · RM",
    ] {
        assert!(h.contains(part), "{part:?} missing from {h}");
    }

    // A name that cannot fit: the quiet segments go, then the name, whole.
    let long = "release-manager-with-a-very-long-login-name";
    a.user.name = long.into();
    let h = header(&a);
    assert!(h.contains(&golden) && h.contains("live ★ ✅"), "{h}");
    assert!(!h.contains("lock free") && !h.contains("no drift"), "{h}");
    assert!(!h.contains("release-manager"), "a cut name in {h}");
    assert!(
        !h.contains("│  │") && !h.contains("│ \""),
        "an empty segment in {h}"
    );

    // Drift is a warning: it stays when the name does not.
    f.write(&cfg.project.watch[0], "edited by hand\n");
    a.drift = Some(drift::check(&repo, &cfg, false).unwrap());
    let h = header(&a);
    assert!(h.contains("⚠ drift 1 file"), "{h}");
    assert!(!h.contains("release-manager"), "{h}");
}

/// The first frame lists branches by name without reading their ref files:
/// a row whose head is not read yet shows no head, no package state and no
/// ahead/behind (placeholders only), and the review has no head to assess;
/// once the details are read, the same rows show them.
#[test]
fn a_row_whose_head_is_not_read_shows_no_state() {
    let f = mosaic_repo();
    let repo = Repo::open(f.path()).unwrap();
    let mut a = app::initial_app(&repo, false, &UserConfig::default()).unwrap();
    a.update(Msg::Resize(120, 40));
    assert!(
        a.branches.iter().all(|b| b.r.head.is_empty()),
        "a ref file was read for the first frame"
    );
    assert_eq!(a.selected_head(), None);
    let screen = render(&a).backend().to_string();
    let row = |screen: &str, name: &str| -> String {
        screen
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no row for {name}: {screen}"))
            .to_string()
    };
    for name in [mosaic::AUTH_MODAL, mosaic::PS101, mosaic::REMOTE_ONLY] {
        let r = row(&screen, name);
        let head = if name == mosaic::REMOTE_ONLY {
            f.rev_parse(&format!("origin/{name}"))
        } else {
            f.rev_parse(name)
        };
        assert!(!r.contains(&head[..8]), "{r}");
        for badge in ["none", "ready", "stale", "failed", "incompl", "+1", "-0"] {
            assert!(!r.contains(badge), "`{badge}` before it is known: {r}");
        }
    }
    app::load_all(&repo, &mut a).unwrap();
    let screen = render(&a).backend().to_string();
    let r = row(&screen, mosaic::PS101);
    assert!(r.contains("· none") && r.contains("+2 -0"), "{r}");
    assert!(r.contains(&f.rev_parse(mosaic::PS101)[..8]), "{r}");
    assert_eq!(
        a.selected_head(),
        Some((
            mosaic::AUTH_MODAL.to_string(),
            f.rev_parse(mosaic::AUTH_MODAL)
        ))
    );
}

/// A loose ref file that no read can finish (a FIFO waits for a writer):
/// the console draws its first frame with every branch name, the others'
/// details come in after it (the reader opens ref files without blocking,
/// off the UI thread), and that name, found to be no branch, leaves the
/// list (as `status` leaves it out).
#[test]
fn a_ref_file_that_blocks_does_not_hold_up_the_first_frame() {
    let f = mosaic_repo();
    let fifo = f.path().join(".git/refs/heads/feature/blocked");
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(ok.success());
    let mut t = f.console(&[], 120, 40);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    let first = String::from_utf8_lossy(&t.raw_tail()).to_string();
    assert!(first.contains("feature/blocked"), "not on the first frame");
    // The branch listed after it is read: the reader did not wait.
    t.wait_until("the details of the branch after it", secs(15), |s| {
        s.contents()
            .lines()
            .any(|l| l.contains(mosaic::REMOTE_ONLY) && l.contains("· none"))
    })
    .unwrap();
    t.wait_for_gone("feature/blocked", secs(15)).unwrap();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    assert_terminal_restored(&t);
}

/// Names listed for the first frame that are no branch: a symbolic ref
/// under `refs/heads`, a ref file that does not parse, a symbolic link to
/// a directory, a FIFO.
fn add_names_that_are_no_branch(f: &Fixture) {
    f.git(&[
        "symbolic-ref",
        "refs/heads/not-a-branch/sym",
        "refs/heads/main",
    ]);
    f.git(&[
        "symbolic-ref",
        "refs/heads/feature/b-sym",
        "refs/heads/feature/ps101",
    ]);
    f.write(".git/refs/heads/not-a-branch/junk", "garbage\n");
    let dir = f.tempdir().join("a-directory");
    std::fs::create_dir_all(&dir).unwrap();
    std::os::unix::fs::symlink(&dir, f.path().join(".git/refs/heads/not-a-branch/dir")).unwrap();
    let ok = std::process::Command::new("mkfifo")
        .arg(f.path().join(".git/refs/heads/zz-fifo"))
        .status()
        .unwrap();
    assert!(ok.success());
}

const NOT_BRANCHES: [&str; 5] = [
    "not-a-branch/sym",
    "feature/b-sym",
    "not-a-branch/junk",
    "not-a-branch/dir",
    "zz-fifo",
];

fn selected_name(a: &App) -> String {
    a.selected_branch().unwrap().r.name.clone()
}

fn select(a: &mut App, name: &str) {
    a.update(key(KeyCode::Home));
    while selected_name(a) != name {
        let before = a.branch_cur.selected;
        a.update(key(KeyCode::Down));
        assert_ne!(a.branch_cur.selected, before, "{name} is not listed");
    }
}

/// Once the details reader has looked at a name and found no branch, its
/// row goes (as `status` leaves it out); the cursor stays on the branch it
/// was on, or goes to the one that took its place (the next, else the
/// previous).
#[test]
fn rows_found_to_be_no_branch_go_and_the_cursor_keeps_its_branch() {
    let f = mosaic_repo();
    add_names_that_are_no_branch(&f);
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let status: Vec<String> = repo
        .branches(&cfg.project.main_branch)
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    let fresh = |on: &str| {
        let mut a = app::initial_app(&repo, false, &UserConfig::default()).unwrap();
        a.update(Msg::Resize(120, 40));
        for n in NOT_BRANCHES {
            assert!(a.branches.iter().any(|b| b.r.name == n), "{n} not listed");
        }
        select(&mut a, on);
        app::load_all(&repo, &mut a).unwrap();
        a
    };
    let shown = |a: &App| -> Vec<String> {
        a.visible
            .iter()
            .map(|&i| a.branches[i].r.name.clone())
            .collect()
    };
    // On a branch after the rows that go: it stays there.
    let a = fresh(mosaic::PS101);
    assert_eq!(shown(&a), status);
    assert_eq!(selected_name(&a), mosaic::PS101);
    let screen = render(&a).backend().to_string();
    assert!(
        !screen.contains("not-a-branch") && !screen.contains("b-sym"),
        "{screen}"
    );
    assert!(
        screen.contains(&format!("Branches ({})", status.len())),
        "{screen}"
    );
    // On a row that goes: the next branch takes its place.
    let a = fresh("feature/b-sym");
    assert_eq!(selected_name(&a), mosaic::PS101);
    // On the last row, which goes: the branch before it.
    let a = fresh("zz-fifo");
    assert_eq!(&selected_name(&a), status.last().unwrap());
    // The review open on a row that goes: the branch in its place shows its
    // own checklist from the first item, not the gone row's place in it.
    let mut a = app::initial_app(&repo, false, &UserConfig::default()).unwrap();
    a.update(Msg::Resize(120, 40));
    select(&mut a, "feature/b-sym");
    a.screen = guardrail::app::Screen::Review;
    a.review.item = 3;
    a.review.explain = true;
    app::load_all(&repo, &mut a).unwrap();
    assert_eq!(selected_name(&a), mosaic::PS101);
    assert_eq!(a.screen, guardrail::app::Screen::Review);
    assert_eq!((a.review.item, a.review.explain), (0, false));
}

/// The console in a terminal lists what `status --json` lists: the names
/// that are no branch are on the first frame (listed by name alone), then
/// leave once the details reader has looked at them, and the FIFO among
/// them blocks nothing.
#[test]
fn console_rows_are_the_status_names_once_details_are_read() {
    let f = mosaic_repo();
    add_names_that_are_no_branch(&f);
    let st = json(&f.guardrail(&["status", "--json"]));
    let names: Vec<String> = st["branches"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["name"].as_str().unwrap().to_string())
        .collect();
    for n in NOT_BRANCHES {
        assert!(!names.iter().any(|s| s == n), "status lists {n}");
    }
    let mut t = f.console(&[], 120, 40);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    let title = format!("Branches ({})", names.len());
    t.wait_until(
        "the details read, the names that are no branch gone",
        secs(20),
        |s| {
            let c = s.contents();
            c.contains(&title) && !c.contains("reading…") && !c.contains("not-a-branch")
        },
    )
    .unwrap();
    let first = String::from_utf8_lossy(&t.raw_tail()).to_string();
    assert!(
        first.contains("not-a-branch/junk"),
        "not on the first frame"
    );
    let screen = t.screen_text();
    for n in &names {
        assert!(screen.contains(n.as_str()), "{n} is not shown:\n{screen}");
    }
    for n in NOT_BRANCHES {
        assert!(!screen.contains(n), "{n} is still shown:\n{screen}");
    }
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    assert_terminal_restored(&t);
}

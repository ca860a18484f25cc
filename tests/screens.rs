//! Every screen and dialog of the console, walked key by key on real app
//! state (a real repository, a real drift check, the real audit chain and
//! rollout log): every key the footer and the `?` overlay show does
//! something, and every key that does something is shown. The hints are
//! asserted as the help strings of the key table, not one-letter labels.
//! Snapshots of the log, drift and records screens at 80×24 and 160×45.
use crate::common;
use common::http::HttpServer;
use common::*;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use guardrail::app::keys::{self, Action, Binding, Scope};
use guardrail::app::modal::Modal;
use guardrail::app::{App, Msg, RunMsg};
use guardrail::pipeline::repo::Repo;
use guardrail::pipeline::runner::RunEvent;

fn press(a: &mut App, code: KeyCode, mods: KeyModifiers) {
    a.update(Msg::Key(KeyEvent::new(code, mods)));
}

fn ch(a: &mut App, c: char) {
    let mods = if c.is_ascii_uppercase() {
        KeyModifiers::SHIFT
    } else {
        KeyModifiers::NONE
    };
    press(a, KeyCode::Char(c), mods);
}

fn screen(a: &App) -> String {
    draw_app(a).backend().to_string()
}

fn footer(a: &App) -> String {
    let s = screen(a);
    s.lines().last().unwrap_or_default().to_string()
}

fn help_text(a: &App) -> String {
    let theme = guardrail::views::theme::Theme::new(true);
    guardrail::views::help::lines(a, &theme)
        .iter()
        .map(|l| l.to_string() + "\n")
        .collect()
}

/// What a key can change: the frame, the work asked for, quitting.
fn fingerprint(a: &App) -> String {
    format!(
        "{:?}|{:?}|{}|{}",
        draw_app(a).backend().buffer(),
        a.requests,
        a.quit,
        a.refresh_requested
    )
}

/// The repository every state is built on: a ready package, a live site,
/// drift in the working tree and a rollout log longer than a screen.
struct World {
    f: Fixture,
    _server: HttpServer,
}

fn world() -> World {
    let (f, server) = crate::playbook_console::release_repo();
    // Drift: the watched bundle changed in the working tree.
    f.write_config(&format!(
        "{}\n[project]\nwatch = [\"mosaic_ui\", \"frontend/index.html\", \"deployment/deploy_baseline.env\"]\n",
        f.read("guardrail.toml")
    ));
    let js: String = (1..=60).map(|i| format!("console.log({i});\n")).collect();
    f.write("mosaic_ui/extra.js", js);
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let rollout = guardrail::pipeline::config::resolve(&repo.root, &cfg.project.rollout_log);
    if let Some(dir) = rollout.parent() {
        std::fs::create_dir_all(dir).unwrap();
    }
    let text: String = (1..=80)
        .map(|i| format!("2025-11-14 rollout line {i:02}: deployed and verified\n"))
        .collect();
    std::fs::write(&rollout, text).unwrap();
    World { f, _server: server }
}

/// The states the console can be in, each built fresh.
const STATES: &[&str] = &[
    "branches",
    "tags",
    "filter",
    "review",
    "playbook",
    "log",
    "search",
    "handoff-evidence",
    "drift",
    "records",
    "rollback",
    "rollback-pick",
    "rollback-reason",
    "confirm",
    "help",
];

fn build(w: &World, state: &str, size: (u16, u16)) -> App {
    let (repo, mut a) = console_app(&w.f, size.0, size.1);
    match state {
        "branches" => {}
        "tags" => press(&mut a, KeyCode::Tab, KeyModifiers::NONE),
        "filter" => ch(&mut a, '/'),
        "review" => press(&mut a, KeyCode::Enter, KeyModifiers::NONE),
        "playbook" => ch(&mut a, 'd'),
        "confirm" => {
            // The question of a playbook waiting between its steps.
            a = build(w, "playbook", size);
            a.open(Modal::ConfirmAbandon);
        }
        "log" | "search" => {
            ch(&mut a, 'g');
            a.requests.clear();
            let out: String = (1..=120)
                .map(|i| {
                    if i == 70 {
                        "step 70: FAIL the PS101 check\n".to_string()
                    } else {
                        format!("step {i}: ok\n")
                    }
                })
                .collect();
            a.update(Msg::Run(RunMsg::Event(RunEvent::Output(out))));
            if state == "search" {
                ch(&mut a, '/');
            }
        }
        "drift" => {
            ch(&mut a, 'D');
            let cfg = repo.config().unwrap();
            let r =
                guardrail::pipeline::drift::check(&repo, &cfg, false).map_err(|e| e.to_string());
            a.update(Msg::Drift(Box::new(r)));
        }
        "records" => {
            ch(&mut a, 'A');
            a.requests.clear();
            let view = guardrail::app::read_records(&repo.root);
            a.update(Msg::Records(Box::new(view)));
        }
        "rollback" | "rollback-pick" | "rollback-reason" => {
            ch(&mut a, 'R');
            a.requests.clear();
            let cfg = repo.config().unwrap();
            let p = guardrail::pipeline::rollback::plan(&repo, &cfg, None, true)
                .map_err(|e| e.to_string());
            a.update(Msg::RollbackPlan(Box::new(p)));
            assert!(
                a.rollback().is_some_and(|d| d.plan.is_some()),
                "{:?}",
                a.rollback().map(|d| d.error.clone())
            );
            if state == "rollback-pick" {
                ch(&mut a, 't');
            }
            if state == "rollback-reason" {
                ch(&mut a, 'r');
            }
        }
        "help" => ch(&mut a, '?'),
        // The input line, asking for the handoff's evidence directory.
        "handoff-evidence" => ch(&mut a, 'h'),
        _ => unreachable!("{state}"),
    }
    a.message = None;
    a
}

/// A key that moves back first needs somewhere to move back from.
fn prep(a: &mut App, action: Action, scope: Scope) {
    let has = |a: &App, act: Action| keys::active(&a.scopes(), a.readonly).any(|b| b.action == act);
    let first = |a: &App, act: Action| {
        keys::active(&a.scopes(), a.readonly)
            .find(|b| b.action == act)
            .map(|b| keys::keys_of(b)[0])
    };
    let go = |a: &mut App, act: Action| {
        if let Some((code, mods)) = first(a, act) {
            press(a, code, mods);
        }
    };
    match action {
        Action::Up | Action::PageUp | Action::Home => {
            if has(a, Action::PageDown) {
                go(a, Action::PageDown);
            }
            go(a, Action::Down);
            go(a, Action::Down);
        }
        Action::Down | Action::PageDown if scope == Scope::Log => go(a, Action::Home),
        Action::Follow => go(a, Action::Up),
        Action::NextMatch | Action::PrevMatch => {
            go(a, Action::Search);
            for c in "step".chars() {
                ch(a, c);
            }
            press(a, KeyCode::Enter, KeyModifiers::NONE);
        }
        Action::DeleteChar if scope != Scope::Reason => ch(a, 'x'),
        _ => {}
    }
    a.message = None;
    if let Some(j) = a.job.as_mut() {
        j.message = None;
    }
}

/// Every key a user could press.
fn universe() -> Vec<(KeyCode, KeyModifiers)> {
    let mut v: Vec<(KeyCode, KeyModifiers)> = ('a'..='z')
        .map(|c| (KeyCode::Char(c), KeyModifiers::NONE))
        .chain(('A'..='Z').map(|c| (KeyCode::Char(c), KeyModifiers::SHIFT)))
        .chain("/?".chars().map(|c| (KeyCode::Char(c), KeyModifiers::NONE)))
        .collect();
    v.extend(
        [
            KeyCode::Enter,
            KeyCode::Esc,
            KeyCode::Tab,
            KeyCode::Up,
            KeyCode::Down,
            KeyCode::PageUp,
            KeyCode::PageDown,
            KeyCode::Home,
            KeyCode::End,
            KeyCode::Backspace,
        ]
        .map(|k| (k, KeyModifiers::NONE)),
    );
    v.push((KeyCode::BackTab, KeyModifiers::SHIFT));
    v.push((KeyCode::Char('r'), KeyModifiers::CONTROL));
    v
}

/// Lines being typed take every printable key as text; a question takes
/// any key but `y` as no (as its footer and help say).
fn typing(scope: Scope) -> bool {
    matches!(
        scope,
        Scope::Filter | Scope::Search | Scope::Input | Scope::Reason | Scope::Confirm
    )
}

/// The keys the component on top says work now: what the footer and the
/// `?` overlay must show, and what dispatch must honour.
fn shown_here(a: &App) -> Vec<&'static Binding> {
    let shown = a.top().commands(a);
    // The footer reads the same list.
    let footer = a.shown_keys();
    assert!(
        shown.len() == footer.len() && shown.iter().zip(&footer).all(|(x, y)| std::ptr::eq(*x, *y)),
        "the footer's keys are not the top component's commands"
    );
    shown
}

#[test]
fn every_screen_and_dialog_shows_the_keys_that_work_and_only_those() {
    let w = world();
    let size = (160, 45);
    let mut wrong = Vec::new();
    for state in STATES {
        let a = build(&w, state, size);
        // Walked via the component on top: its scopes are where a key is
        // looked up, its commands what the footer and `?` show.
        let scopes = a.top().scopes(&a);
        assert_eq!(scopes, a.scopes(), "{state}");
        let top = scopes[0];
        let foot = footer(&a);
        let help = help_text(&a);
        let shown = shown_here(&a);
        assert!(!shown.is_empty(), "{state}: no keys at all");
        for b in &shown {
            // The overlay has the help string of every key that works here.
            let label = keys::label(b);
            if !help.contains(b.help) {
                wrong.push(format!("{state}: `?` misses {label} {:?}", b.help));
            }
            if b.footer {
                let hint = match (b.action, a.rollback()) {
                    (Action::Cancel, Some(d)) if d.plan.is_none() && d.error.is_some() => "close",
                    _ => b.hint,
                };
                if !foot.contains(&format!("{label} {hint}")) {
                    wrong.push(format!(
                        "{state}: the footer misses `{label} {hint}`: {foot}"
                    ));
                }
            }
            // …and the key does something.
            let mut x = build(&w, state, size);
            prep(&mut x, b.action, top);
            let before = fingerprint(&x);
            let (code, mods) = keys::keys_of(b)[0];
            press(&mut x, code, mods);
            if before == fingerprint(&x) {
                wrong.push(format!(
                    "{state}: {label} ({}) is shown but does nothing",
                    b.help
                ));
            }
        }
        // Every key that does something is shown.
        for (code, mods) in universe() {
            let ev = KeyEvent::new(code, mods);
            if keys::lookup(&ev, &scopes, a.readonly)
                .is_some_and(|b| shown.iter().any(|s| std::ptr::eq(*s, b)))
            {
                continue;
            }
            let any_key = top == Scope::Confirm;
            if any_key
                || typing(top) && matches!(code, KeyCode::Char(_)) && mods != KeyModifiers::CONTROL
            {
                continue;
            }
            let mut x = build(&w, state, size);
            let before = fingerprint(&x);
            press(&mut x, code, mods);
            if before != fingerprint(&x) {
                wrong.push(format!(
                    "{state}: {code:?} {mods:?} does something but is not shown"
                ));
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn drift_and_records_have_their_own_keys_and_the_global_ones_work_there() {
    let w = world();
    for state in ["drift", "records"] {
        let a = build(&w, state, (160, 45));
        let foot = footer(&a);
        // Not the log pane's keys.
        for log_only in ["/ search", "f failure", "i answer", "x cancel"] {
            assert!(!foot.contains(log_only), "{state}: {foot}");
        }
        let help = help_text(&a);
        let here = help.split("This help").next().unwrap();
        assert!(here.contains("Drift screen (here)") || here.contains("Records screen (here)"));
        assert!(!here.contains("search the log (Enter searches"), "{help}");
        // `?`, `R` and `L` work here.
        let mut x = build(&w, state, (160, 45));
        ch(&mut x, '?');
        assert!(x.help_open(), "{state}: ? does nothing");
        let mut x = build(&w, state, (160, 45));
        ch(&mut x, 'R');
        assert!(x.rollback().is_some(), "{state}: R does nothing");
        let mut x = build(&w, state, (160, 45));
        ch(&mut x, 'L');
        assert!(
            x.message
                .as_deref()
                .is_some_and(|m| m.contains("no job has run")),
            "{state}: L does nothing"
        );
    }
}

#[test]
fn tab_focuses_the_rollout_log_and_its_last_lines_scroll_into_view() {
    let w = world();
    let mut a = build(&w, "records", (80, 24));
    let first = screen(&a);
    assert!(first.contains("rollout line 01"), "{first}");
    assert!(!first.contains("rollout line 80"), "{first}");
    press(&mut a, KeyCode::Tab, KeyModifiers::NONE);
    assert!(a.records_screen.log_focus);
    press(&mut a, KeyCode::End, KeyModifiers::NONE);
    let end = screen(&a);
    assert!(end.contains("rollout line 80"), "{end}");
    // Up moves at once after End (the scroll stops at the last line).
    press(&mut a, KeyCode::Up, KeyModifiers::NONE);
    let up = screen(&a);
    assert_ne!(up, end);
    press(&mut a, KeyCode::Home, KeyModifiers::NONE);
    assert!(screen(&a).contains("rollout line 01"));
}

#[test]
fn the_rollback_dialogs_keys_come_from_the_table() {
    let w = world();
    let a = build(&w, "rollback", (120, 40));
    let d = a.rollback().unwrap();
    let from_dialog: Vec<String> = d
        .keys()
        .into_iter()
        .map(|(k, h)| format!("{k} {h}"))
        .collect();
    let from_table: Vec<String> = keys::active(&[Scope::Rollback], false)
        .filter(|b| b.footer && d.available(b.action))
        .map(|b| format!("{} {}", keys::label(b), b.hint))
        .collect();
    assert_eq!(from_dialog, from_table);
    let text = screen(&a);
    for k in &from_dialog {
        let (key, hint) = k.split_once(' ').unwrap();
        assert!(text.contains(&format!("{key} {hint}")), "{k}: {text}");
    }
}

#[test]
fn log_drift_and_records_screens_at_two_sizes() {
    let w = world();
    for (wd, ht) in [(80u16, 24u16), (160, 45)] {
        for state in ["log", "drift", "records"] {
            let a = build(&w, state, (wd, ht));
            let text = screen(&a);
            let text = text.replace(&w.f.path().display().to_string(), "<repo>");
            insta::assert_snapshot!(format!("{state}_{wd}x{ht}"), text);
        }
    }
}

#[test]
fn a_worker_that_panics_is_an_error_line_and_the_console_goes_on() {
    let f = mosaic_repo();
    let mut t = f
        .console_command(&[], 120, 30)
        .env("GUARDRAIL_FAULT", "panic-in-tags")
        .spawn();
    t.wait_for("the tags worker failed", secs(15))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()));
    // The panic was not on the UI thread: the terminal is still the
    // console's (raw mode), and it still answers keys.
    let termios = t.termios().expect("termios of the pty");
    assert!(!termios.icanon(), "a worker's panic restored the terminal");
    t.send("?");
    t.wait_for("show every key", secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()));
    t.send("q");
    t.send("q");
    assert!(t.wait_exit(secs(10)).is_some(), "the console did not end");
    assert_terminal_restored(&t);
}

#[test]
fn a_log_search_runs_on_a_worker_and_its_answer_moves_the_pane() {
    let w = world();
    let mut a = build(&w, "log", (100, 30));
    ch(&mut a, '/');
    for c in "fail the".chars() {
        ch(&mut a, c);
    }
    press(&mut a, KeyCode::Enter, KeyModifiers::NONE);
    // Enter asks a worker; nothing was searched on this thread.
    let ask = match a.requests.pop() {
        Some(guardrail::app::Request::Search(ask)) => ask,
        other => panic!("{other:?}"),
    };
    assert!(screen(&a).contains("searching for"));
    let hit = guardrail::app::log::search(&ask.source, &ask.needle, ask.from, ask.back);
    assert_eq!(hit, Some(69));
    a.update(Msg::SearchDone(ask.seq, hit));
    let text = screen(&a);
    assert!(text.contains("step 70: FAIL the PS101 check"), "{text}");
    assert!(!text.contains("searching for"), "{text}");

    // An answer that comes after the user moved on does not move the pane.
    ch(&mut a, 'n');
    let ask = match a.requests.pop() {
        Some(guardrail::app::Request::Search(ask)) => ask,
        other => panic!("{other:?}"),
    };
    press(&mut a, KeyCode::End, KeyModifiers::NONE);
    let hit = guardrail::app::log::search(&ask.source, &ask.needle, ask.from, ask.back);
    a.update(Msg::SearchDone(ask.seq, hit));
    assert!(
        a.job.as_ref().unwrap().follow,
        "a late answer stopped following"
    );
}

#[test]
fn h_on_a_branch_makes_its_handoff_package_as_the_command_does() {
    let f = crate::console::repo_with_console_gate();
    let shots = f.tempdir().join("shots");
    std::fs::create_dir_all(&shots).unwrap();
    std::fs::write(shots.join("auth-modal.png"), PNG_1X1).unwrap();
    std::fs::write(shots.join("ps101-step-01.png"), PNG_1X1).unwrap();
    let mut t = f.console(&[], 160, 40);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.wait_for("h handoff", secs(5))
        .unwrap_or_else(|e| panic!("the footer offers no handoff: {e}\n{}", t.screen_text()));
    t.send("h");
    // The evidence directory is asked in the input line, before anything runs.
    t.wait_for("Evidence directory", secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()));
    t.send(format!("{}\r", shots.display()));
    // Then the gate runs in the log pane and asks in the input line.
    for q in [
        "PS101 10-step flow walked end-to-end against this build?",
        "Auth modal opens and closes?",
        "BUILD_ID footer present?",
        "Baseline line counts within tolerance?",
        "Screenshots attached to the handoff?",
    ] {
        t.wait_for(&format!("answer: {q} [yes/no/n/a]:"), secs(15))
            .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()));
        t.send("yes\r");
    }
    t.wait_for("gate PASS (audit #", secs(30))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()));
    t.wait_for("with 2 evidence files", secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()));
    t.send("q");
    t.wait_for("Prod tags", secs(5)).unwrap();
    t.send("q");
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    assert_terminal_restored(&t);
    // What the command records: the gate's audit entry, and the package
    // (manifest, gate log, snapshot, the two evidence files).
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["action"], "gate", "{recs}");
    assert_eq!(recs[0]["result"], "PASS", "{recs}");
    // Written where the command writes it without `--commit`: guardrail's
    // worktree of the branch (main is checked out here).
    fn find(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                find(&p, out);
            } else if p.ends_with(".handoff/feature-auth-modal/handoff.toml") {
                out.push(p);
            }
        }
    }
    let mut found = Vec::new();
    find(f.path(), &mut found);
    assert_eq!(found.len(), 1, "{found:?}");
    let pkg = found[0].parent().unwrap();
    let m = guardrail::pipeline::handoff::HandoffManifest::parse(
        &std::fs::read_to_string(&found[0]).unwrap(),
        "handoff.toml",
    )
    .unwrap();
    assert_eq!(m.branch, mosaic::AUTH_MODAL);
    assert_eq!(m.gate.result.as_str(), "PASS");
    let mut ev: Vec<String> = std::fs::read_dir(pkg.join("evidence"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    ev.sort();
    assert_eq!(ev, ["auth-modal.png", "ps101-step-01.png"]);
}

#[test]
fn the_rollback_dialogs_keys_are_rebound_from_the_users_file() {
    let f = mosaic_repo();
    let dir = f.home().join(".config/guardrail");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), "[keys]\npick_tag = \"T\"\n").unwrap();
    let mut t = f.console(&[], 160, 40);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.send("R");
    // The dialog's line and the footer show the user's key…
    t.wait_for("T another tag", secs(10))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()));
    assert!(!t.screen_text().contains("t another tag"));
    // …the old key does nothing, the new one opens the tag picker.
    t.send("t");
    std::thread::sleep(millis(300));
    assert!(!t.screen_text().contains("Roll back to which prod tag?"));
    t.send("T");
    t.wait_for("Roll back to which prod tag?", secs(5))
        .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()));
    t.send_esc();
    t.send_esc();
    t.wait_for_gone("Roll back to which prod tag?", secs(5))
        .unwrap();
    t.send("q");
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    assert_terminal_restored(&t);
}

/// A modal opened over another closes alone and leaves the one below as
/// it was: the quit question over the filter line (a gate is running, so
/// Ctrl-c in the filter asks first instead of quitting at once).
#[test]
fn the_modal_stack_opens_and_closes_in_order() {
    let w = world();
    let mut a = build(&w, "branches", (160, 45));
    ch(&mut a, 'g');
    assert!(a.job_running());
    a.requests.clear();
    press(&mut a, KeyCode::Esc, KeyModifiers::NONE);
    ch(&mut a, '/');
    ch(&mut a, 'f');
    assert!(matches!(a.modals.as_slice(), [Modal::Filter]));
    assert!(footer(&a).contains("filter: f"), "{}", footer(&a));
    press(&mut a, KeyCode::Char('c'), KeyModifiers::CONTROL);
    assert!(
        !a.quit,
        "Ctrl-c in the filter quit with a gate running, unasked"
    );
    assert!(
        matches!(a.modals.as_slice(), [Modal::Filter, Modal::ConfirmQuit]),
        "{:?}",
        a.modals
    );
    assert_eq!(a.scopes(), vec![Scope::Confirm]);
    assert!(screen(&a).contains("A job is running"));
    // No: the question closes, the filter line is back as it was.
    ch(&mut a, 'n');
    assert!(matches!(a.modals.as_slice(), [Modal::Filter]));
    assert_eq!(a.filter, "f");
    assert_eq!(a.scopes(), vec![Scope::Filter]);
    assert!(footer(&a).contains("filter: f"), "{}", footer(&a));
    assert!(!a.quit);
    // Esc closes the filter (and clears it): nothing is left on the stack.
    press(&mut a, KeyCode::Esc, KeyModifiers::NONE);
    assert!(a.modals.is_empty());
    assert!(a.filter.is_empty());
    assert_eq!(
        a.scopes(),
        vec![Scope::Global, Scope::List, Scope::Branches]
    );
}

/// The `?` overlay over the rollback dialog explains the dialog's keys,
/// takes every key itself (no `y` reaches the dialog under it), lets the
/// plan worker's news reach the dialog, and Esc closes the help alone.
#[test]
fn help_over_the_rollback_dialog_closes_alone_and_the_dialog_stays() {
    let w = world();
    let mut a = build(&w, "rollback", (160, 45));
    let dialog_keys: Vec<&str> = a.top().commands(&a).iter().map(|b| b.help).collect();
    a.open(Modal::Help { scroll: 0 });
    assert_eq!(a.scopes(), vec![Scope::HelpOverlay]);
    assert_eq!(a.under_help().scopes(&a), vec![Scope::Rollback]);
    let help = help_text(&a);
    let here = help.split("This help").next().unwrap();
    assert!(here.contains("Rollback dialog (here)"), "{help}");
    for k in &dialog_keys {
        assert!(here.contains(k), "the help misses {k:?}: {help}");
    }
    ch(&mut a, 'y');
    assert!(a.requests.is_empty(), "{:?}", a.requests);
    assert!(a.help_open() && a.rollback().is_some());
    a.update(Msg::RollbackDefault(Some("v-under-help".into())));
    assert_eq!(
        a.rollback().unwrap().default_target.as_deref(),
        Some("v-under-help")
    );
    press(&mut a, KeyCode::Esc, KeyModifiers::NONE);
    assert!(!a.help_open());
    assert!(matches!(a.modals.as_slice(), [Modal::Rollback(_)]));
    assert_eq!(a.scopes(), vec![Scope::Rollback]);
    assert!(footer(&a).contains("y roll back"), "{}", footer(&a));
    press(&mut a, KeyCode::Esc, KeyModifiers::NONE);
    assert!(a.modals.is_empty() && a.rollback().is_none());
    assert!(
        a.requests.is_empty(),
        "nothing rolled back: {:?}",
        a.requests
    );
}

/// The lists' keys are the main screen's: on the records screen, before
/// its read has arrived, `j` moves nothing (it moved the hidden branch
/// list), and back on the branches the selection is where it was.
#[test]
fn list_keys_move_nothing_on_a_screen_that_has_no_list() {
    let w = world();
    let mut a = build(&w, "branches", (160, 45));
    assert!(a.visible.len() > 1, "the world needs two branches");
    ch(&mut a, 'A');
    assert!(a.records.is_none());
    a.requests.clear();
    let before = fingerprint(&a);
    for _ in 0..3 {
        ch(&mut a, 'j');
    }
    press(&mut a, KeyCode::End, KeyModifiers::NONE);
    assert_eq!(before, fingerprint(&a));
    press(&mut a, KeyCode::Esc, KeyModifiers::NONE);
    assert_eq!(a.branch_cur.selected, 0);
}

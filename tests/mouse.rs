//! The mouse in the real binary: SGR click sequences through a pty.
use crate::common;
use common::live::audit_records;
use common::*;

/// A left click (press and release) at a 0-based screen cell, as an SGR
/// mouse report (1-based).
fn click(t: &mut Pty, col: u16, row: u16) {
    t.send(format!(
        "\x1b[<0;{c};{r}M\x1b[<0;{c};{r}m",
        c = col + 1,
        r = row + 1
    ));
}

/// The screen row showing `text`.
fn row_of(t: &Pty, text: &str) -> u16 {
    t.screen_rows()
        .iter()
        .position(|l| l.contains(text))
        .unwrap_or_else(|| panic!("{text} not on screen:\n{}", t.screen_text())) as u16
}

#[test]
fn a_click_selects_a_branch_and_a_double_click_opens_its_review() {
    let f = mosaic_repo();
    let mut t = f.console(&[], 120, 40);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.wait_for(mosaic::PS101, secs(5)).unwrap();
    // The lower of the two rows is not the one selected at start.
    let (a, b) = (row_of(&t, mosaic::AUTH_MODAL), row_of(&t, mosaic::PS101));
    let (lower, upper) = if a > b {
        (mosaic::AUTH_MODAL, mosaic::PS101)
    } else {
        (mosaic::PS101, mosaic::AUTH_MODAL)
    };
    let r = row_of(&t, lower);
    click(&mut t, 20, r);
    std::thread::sleep(millis(600)); // not a double-click with what follows
    t.send("\r");
    t.wait_for(&format!("{lower} at "), secs(5)).unwrap();
    t.send_esc();
    t.wait_for("Prod tags", secs(5)).unwrap();
    // Two clicks on the other branch open its review without a key.
    let r = row_of(&t, upper);
    click(&mut t, 20, r);
    click(&mut t, 20, r);
    t.wait_for(&format!("{upper} at "), secs(5)).unwrap();
    // The review is folded into tabs at 120 columns: a click on the
    // "Gate log" tab shows that pane (its title under the tab bar).
    let gate = |t: &Pty| t.screen_text().matches("Gate log").count();
    let before = gate(&t);
    let row = row_of(&t, "Gate log");
    let line = &t.screen_rows()[row as usize];
    let col = line[..line.find("Gate log").unwrap()].chars().count() as u16;
    click(&mut t, col + 2, row);
    t.wait_until("the gate log pane", secs(5), |s| {
        s.contents().matches("Gate log").count() > before
    })
    .unwrap();
    t.send_esc();
    t.wait_for("Prod tags", secs(5)).unwrap();
    // A click on a tag row focuses the tag list: Enter (review) does
    // nothing there.
    let r = row_of(&t, "backup ✓");
    click(&mut t, 90, r);
    std::thread::sleep(millis(300));
    t.send("\r");
    std::thread::sleep(millis(500));
    assert!(
        !t.screen_text().contains(" at "),
        "Enter on the tag list opened a review:\n{}",
        t.screen_text()
    );
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

#[test]
fn a_click_on_a_folded_tab_selects_it() {
    let f = mosaic_repo();
    let mut t = f.console(&[], 80, 24);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    // The tab bar is the line under the header: " Branches │ Prod tags ".
    let row = row_of(&t, "Prod tags");
    let line = &t.screen_rows()[row as usize];
    let col = line[..line.find("Prod tags").unwrap()].chars().count() as u16;
    click(&mut t, col + 2, row);
    t.wait_for("backup ✓", secs(5)).unwrap();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

#[test]
fn mouse_false_leaves_the_mouse_to_the_terminal() {
    let f = mosaic_repo();
    let on = f.console(&[], 100, 24);
    on.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    assert!(String::from_utf8_lossy(&on.raw_tail()).contains("\x1b[?1000h"));
    drop(on);
    let dir = f.home().join(".config/guardrail");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.toml"), "[ui]\nmouse = false\n").unwrap();
    let mut t = f.console(&[], 100, 24);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    assert!(!String::from_utf8_lossy(&t.raw_tail()).contains("\x1b[?1000h"));
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

/// The column where the footer (the last row) shows ` label `.
fn footer_col(t: &Pty, label: &str) -> u16 {
    let rows = t.screen_rows();
    let line = rows.last().unwrap();
    let at = line
        .find(&format!(" {label} "))
        .unwrap_or_else(|| panic!("{label} not in the footer: {line}\n{}", t.screen_text()));
    line[..at].chars().count() as u16 + 1
}

/// A click on the footer's ` label `.
fn click_footer(t: &mut Pty, label: &str) {
    let want = format!(" {label} ");
    t.wait_until(&format!("{label} in the footer"), secs(5), |s| {
        s.contents()
            .lines()
            .last()
            .is_some_and(|l| l.contains(&want))
    })
    .unwrap();
    let bottom = t.screen_rows().len() as u16 - 1;
    let col = footer_col(t, label);
    click(t, col, bottom);
}

#[test]
fn a_click_on_a_footer_key_runs_it() {
    let f = mosaic_repo();
    let mut t = f.console(&[], 100, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    // `?` in the footer: the help overlay, as the key opens it.
    click_footer(&mut t, "?");
    t.wait_for("show every key", secs(5)).unwrap();
    t.send_esc();
    t.wait_for_gone("show every key", secs(5)).unwrap();
    // `/`: the filter line takes the keyboard; its footer's `Esc` (clicked)
    // clears it again.
    click_footer(&mut t, "/");
    t.wait_for("filter:", secs(5)).unwrap();
    t.send("ps1");
    t.wait_until("the filter applied", secs(5), |s| {
        !s.contents().contains(mosaic::AUTH_MODAL)
    })
    .unwrap();
    click_footer(&mut t, "Esc");
    t.wait_for(mosaic::AUTH_MODAL, secs(5)).unwrap();
    // `q`: quits, as typed.
    click_footer(&mut t, "q");
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

#[test]
fn a_click_on_the_rollback_key_only_asks() {
    let f = mosaic_repo();
    let mut t = f.console(&[], 160, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.wait_for("backup ✓", secs(10)).unwrap();
    let bottom = t.screen_rows().len() as u16 - 1;
    click_footer(&mut t, "R");
    t.wait_for("Roll back production", secs(10)).unwrap();
    t.wait_for("edit the reason", secs(10)).unwrap();
    // The dialog's footer shows ` y `: a click there (or anywhere) is no
    // yes; only a typed `y` rolls back.
    let y = footer_col(&t, "y");
    click(&mut t, y, bottom);
    click(&mut t, y, bottom);
    click(&mut t, 50, 15);
    std::thread::sleep(millis(1500));
    let screen = t.screen_text();
    assert!(screen.contains("Roll back production"), "{screen}");
    assert!(!screen.contains("rollback to "), "{screen}");
    t.send_esc();
    t.wait_for_gone("Roll back production", secs(5)).unwrap();
    std::thread::sleep(millis(500));
    assert!(!t.screen_text().contains("rollback to "));
    // Nothing was recorded: no rollback ran.
    let before = audit_records(&f).len();
    assert!(
        !audit_records(&f)
            .iter()
            .any(|r| r["action"].as_str().is_some_and(|a| a.contains("rollback"))),
        "a click rolled back: {before} audit records"
    );
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

/// A double-click: two presses and releases at one cell.
fn double_click(t: &mut Pty, col: u16, row: u16) {
    click(t, col, row);
    click(t, col, row);
}

/// The footer (last row) shows ` label `.
fn footer_shows(t: &Pty, label: &str) -> bool {
    let rows = t.screen_rows();
    rows.last()
        .is_some_and(|l| l.contains(&format!(" {label} ")))
}

#[test]
fn a_double_click_on_the_log_opens_the_input_line_as_enter_does() {
    let f = crate::console::repo_with_console_gate();
    let mut t = f.console(&[], 100, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.send("g");
    t.wait_for("answer: PS101 10-step flow", secs(10)).unwrap();
    // Esc leaves the input line: the log pane's keys are back.
    t.send_esc();
    std::thread::sleep(millis(300));
    assert!(footer_shows(&t, "Esc/q"), "{}", t.screen_text());
    // One click on the output is no double-click: the keyboard stays.
    let out = row_of(&t, "=== Mosaic deploy gate");
    click(&mut t, 30, out);
    std::thread::sleep(millis(700));
    assert!(footer_shows(&t, "Esc/q"), "{}", t.screen_text());
    // A double-click there is Enter: the input line takes the keyboard,
    // so what is typed next answers the script.
    double_click(&mut t, 30, out);
    std::thread::sleep(millis(300));
    assert!(!footer_shows(&t, "Esc/q"), "{}", t.screen_text());
    t.send("yes\r");
    t.wait_for("answer: Auth modal opens and closes?", secs(10))
        .unwrap();
    // A click on the input line itself does the same.
    t.send_esc();
    std::thread::sleep(millis(300));
    assert!(footer_shows(&t, "Esc/q"), "{}", t.screen_text());
    let input = row_of(&t, "answer: Auth modal");
    click(&mut t, 30, input + 1);
    std::thread::sleep(millis(300));
    t.send("yes\r");
    t.wait_for("answer: BUILD_ID footer present?", secs(10))
        .unwrap();
    // The question "a job is running: quit?" takes no click: its footer's
    // `y` clicked answers nothing; only a typed key does.
    t.send_esc();
    t.send("q");
    t.wait_for("Prod tags", secs(5)).unwrap();
    t.send("q");
    t.wait_for("A job is running", secs(5)).unwrap();
    click_footer(&mut t, "y");
    std::thread::sleep(millis(800));
    assert!(t.screen_text().contains("A job is running"));
    assert!(t.try_exit().is_none(), "a click answered the question");
    t.send("y");
    assert_eq!(t.wait_exit(secs(15)), Some(0));
}

#[test]
fn the_wheel_scrolls_the_log_pane() {
    let f = crate::console::repo_with_console_gate();
    let mut t = f.console(&[], 100, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.send("g");
    for q in ["PS101", "Auth modal", "BUILD_ID", "Baseline", "Screenshots"] {
        t.wait_for(&format!("answer: {q}"), secs(10)).unwrap();
        t.send("yes\r");
    }
    t.wait_for("gate PASS", secs(15)).unwrap();
    t.wait_for("DEPLOY GATE: PASS", secs(5)).unwrap();
    t.wait_for("following", secs(5)).unwrap();
    // The wheel up over the output scrolls the log (not the branch list
    // behind it): it stops following.
    t.send("\x1b[<64;30;10M");
    t.wait_for("· line ", secs(5)).unwrap();
    t.send("q");
    t.wait_for("Prod tags", secs(5)).unwrap();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

#[test]
fn clicks_on_the_review_select_a_branch_and_a_double_click_opens_the_gate_log() {
    let f = mosaic_repo();
    package(&f, mosaic::AUTH_MODAL, &Pkg::default());
    package(&f, mosaic::PS101, &Pkg::default());
    let mut t = f.console(&[], 200, 50);
    t.wait_for("✓ ready", secs(15)).unwrap();
    // The selected branch (the first) is auth-modal.
    t.send_enter();
    t.wait_for(&format!("{} at ", mosaic::AUTH_MODAL), secs(10))
        .unwrap();
    // A click on ps101 in the review's own branch list selects it there.
    let r = row_of(&t, mosaic::PS101);
    click(&mut t, 15, r);
    t.wait_for(&format!("{} at ", mosaic::PS101), secs(5))
        .unwrap();
    std::thread::sleep(millis(600));
    // A double-click in the gate log pane opens the whole log, as `o`.
    t.wait_for("Deploy gate: PASS", secs(10)).unwrap();
    assert!(!t.screen_text().contains("feature-ps101/gate.log"));
    let r = row_of(&t, "Gate log") + 3;
    let line = &t.screen_rows()[(r - 3) as usize];
    let col = line[..line.find("Gate log").unwrap()].chars().count() as u16;
    double_click(&mut t, col + 2, r);
    t.wait_for("feature-ps101/gate.log", secs(5)).unwrap();
    t.send("q");
    t.wait_for("Prod tags", secs(5)).unwrap();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

#[test]
fn a_click_on_a_records_pane_gives_it_the_keyboard() {
    let f = mosaic_repo();
    let mut t = f.console(&[], 120, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.send("A");
    t.wait_for("Rollout log", secs(10)).unwrap();
    std::thread::sleep(millis(300));
    // The colour of a pane's top-left corner: the focused pane's differs.
    let corner = |t: &Pty, title: &str| {
        let r = row_of(t, title);
        let line = &t.screen_rows()[r as usize];
        let c = line[..line.find(title).unwrap()].chars().count() as u16 - 2;
        t.with_screen(|s| s.cell(r, c).unwrap().fgcolor())
    };
    let (audit, log) = (corner(&t, "Audit chain"), corner(&t, "Rollout log"));
    assert_ne!(audit, log, "the audit chain has the keyboard at first");
    let r = row_of(&t, "Rollout log");
    let line = &t.screen_rows()[r as usize];
    let c = line[..line.find("Rollout log").unwrap()].chars().count() as u16;
    click(&mut t, c + 2, r + 3);
    for _ in 0..50 {
        if corner(&t, "Rollout log") == audit {
            break;
        }
        std::thread::sleep(millis(100));
    }
    assert_eq!(corner(&t, "Rollout log"), audit, "{}", t.screen_text());
    assert_eq!(corner(&t, "Audit chain"), log);
    t.send_q();
    t.wait_for("Prod tags", secs(5)).unwrap();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

/// The review's explanation pop-up (Enter on a checklist item) takes the
/// clicks that land on it: a double-click in it, over the gate log pane,
/// does not open the log; a click outside it closes it and selects nothing
/// under it; the next click works as ever.
#[test]
fn a_click_does_not_pass_through_the_explanation_pop_up() {
    let f = mosaic_repo();
    package(&f, mosaic::AUTH_MODAL, &Pkg::default());
    package(&f, mosaic::PS101, &Pkg::default());
    let mut t = f.console(&[], 200, 50);
    t.wait_for("✓ ready", secs(15)).unwrap();
    t.send_enter();
    let auth = format!("{} at ", mosaic::AUTH_MODAL);
    let ps = format!("{} at ", mosaic::PS101);
    t.wait_for(&auth, secs(10)).unwrap();
    t.wait_for("Deploy gate: PASS", secs(10)).unwrap();
    // Enter on the list: the checklist's first item, explained.
    t.send_enter();
    t.wait_for("Enter or Esc closes", secs(5)).unwrap();
    let r = row_of(&t, "Enter or Esc closes");
    let line = &t.screen_rows()[r as usize];
    let col = line[..line.find("Enter or Esc closes").unwrap()]
        .chars()
        .count() as u16;
    // The pop-up lies over the gate log pane there: two clicks in it are
    // not the pane's double-click.
    assert!(col > 34 + 10 && col < 34 + 166 / 3, "{col}");
    double_click(&mut t, col + 2, r - 1);
    std::thread::sleep(millis(600));
    let s = t.screen_text();
    assert!(s.contains("Enter or Esc closes"), "{s}");
    assert!(
        s.contains(&auth) && s.contains("Evidence · ready"),
        "the click opened the gate log:\n{s}"
    );
    // A click outside it, on another branch: the pop-up closes, the
    // branch under the click is not selected.
    let row = row_of(&t, mosaic::PS101);
    click(&mut t, 15, row);
    t.wait_for_gone("Enter or Esc closes", secs(5)).unwrap();
    std::thread::sleep(millis(300));
    let s = t.screen_text();
    assert!(s.contains(&auth) && !s.contains(&ps), "{s}");
    // With the pop-up gone, a click selects as ever.
    std::thread::sleep(millis(600));
    click(&mut t, 15, row);
    t.wait_for(&ps, secs(5)).unwrap();
    t.send_esc();
    t.wait_for("Prod tags", secs(5)).unwrap();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

/// The `?` overlay covers the middle of the footer: the part of its own
/// close hint that shows still closes it when clicked.
#[test]
fn the_visible_part_of_the_help_close_hint_is_clickable() {
    let f = mosaic_repo();
    let mut t = f.console(&[], 90, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    t.send_help();
    t.wait_until("the overlay's footer", secs(5), |s| {
        s.contents()
            .lines()
            .last()
            .is_some_and(|l| l.starts_with(" Esc/?"))
    })
    .unwrap();
    let rows = t.screen_rows();
    let bottom = rows.last().unwrap();
    assert!(!bottom.contains("Esc/?/q close"), "not covered: {bottom}");
    click(&mut t, 2, rows.len() as u16 - 1);
    t.wait_for_gone("show every key", secs(5)).unwrap();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

/// Keys that act at once (the gate here; a deploy step, an acknowledgement)
/// are shown in the footer but a click there runs nothing: it says so.
#[test]
fn a_click_on_a_key_that_acts_at_once_runs_nothing() {
    let f = mosaic_repo();
    let mut t = f.console(&[], 160, 30);
    t.wait_for(mosaic::AUTH_MODAL, secs(15)).unwrap();
    click_footer(&mut t, "g");
    t.wait_for("a click does not run it", secs(5)).unwrap();
    std::thread::sleep(millis(800));
    let screen = t.screen_text();
    assert!(
        !screen.contains("gate feature/"),
        "a gate started:\n{screen}"
    );
    assert!(
        !f.path().join(".git/guardrail/jobs").exists()
            || std::fs::read_dir(f.path().join(".git/guardrail/jobs"))
                .unwrap()
                .next()
                .is_none(),
        "a job was started"
    );
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

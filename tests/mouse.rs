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

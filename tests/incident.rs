//! The console during an incident (issue 15), each through the real binary
//! in a real pseudo-terminal against a live site on 127.0.0.1: an idle
//! playbook never blocks a rollback, the header follows the state files, a
//! quit never leaves a job unrecorded, the console's own job is always in
//! sight, a paste answers one question, small terminals keep the input line
//! and the dialog's decision line, and the dialog lists its keys and
//! proposes the tag selected in the list.
use crate::common;

use std::time::Instant;

use common::live::*;
use common::*;

/// A gate that asks one question and passes on `yes`.
const ASKING_GATE: &str = "#!/bin/bash\nprintf 'PS101 10-step flow walked end-to-end against this build? [yes/no/n/a]: '\nread -r a || exit 1\n[ \"$a\" = yes ] && echo 'DEPLOY GATE: PASS' || { echo 'DEPLOY GATE: FAIL'; exit 1; }\n";

/// `gate` and `extra` scripts committed on main, then `name` off main with
/// a good page and a ready handoff package proposing `tag`.
fn branch_with(l: &Live, name: &str, gate: &str, extra: &[(&str, &str)], tag: &str) {
    let f = &l.f;
    // The scripts are main's own, so the branch changes none of its
    // guards (SPEC §4's guard line) and its package can be ready.
    f.checkout("main");
    f.write_script("scripts/run_deploy_gate.sh", gate);
    for (path, text) in extra {
        f.write_script(path, text);
    }
    f.commit("scripts of this test");
    f.checkout_new(name);
    f.write(mosaic::MOSAIC_UI, good_page("r9"));
    f.commit(&format!("{name}: change"));
    common::packages::package(
        f,
        name,
        &common::packages::Pkg {
            tag: tag.to_string(),
            ..Default::default()
        },
    );
}

fn wait(t: &Pty, what: &str, s: u64) {
    t.wait_for(what, secs(s))
        .unwrap_or_else(|e| panic!("waiting for {what:?}: {e}\n{}", t.screen_text()));
}

fn header(t: &Pty) -> String {
    t.screen_rows().first().cloned().unwrap_or_default()
}

fn footer(t: &Pty) -> String {
    t.screen_rows().last().cloned().unwrap_or_default()
}

/// Wait until `pred` holds for the header row.
fn wait_header(t: &Pty, what: &str, s: u64, pred: impl Fn(&str) -> bool) {
    let end = Instant::now() + secs(s);
    while Instant::now() < end {
        if pred(&header(t)) {
            return;
        }
        std::thread::sleep(millis(50));
    }
    panic!("header never {what}:\n{}", t.screen_text());
}

/// Selects the branch `name` by filtering the list down to it.
fn select_branch(t: &mut Pty, name: &str) {
    // Clear any earlier filter: `/` opens the filter line, Esc clears it;
    // each is seen on screen before the next key goes.
    t.send("/");
    wait_footer(t, "the filter line", |f| f.contains("filter:"));
    t.send_esc();
    wait_footer(t, "no filter line", |f| !f.contains("filter:"));
    t.send(format!("/{name}\r"));
    std::thread::sleep(millis(200));
}

/// Wait until `pred` holds for the footer row.
fn wait_footer(t: &Pty, what: &str, pred: impl Fn(&str) -> bool) {
    let end = Instant::now() + secs(10);
    while Instant::now() < end {
        if pred(&footer(t)) {
            return;
        }
        std::thread::sleep(millis(30));
    }
    panic!("footer never showed {what}:\n{}", t.screen_text());
}

/// Item 1: `d`, `Esc`, then `R`, `g` and `d` on another branch all work;
/// a started playbook waiting between steps is abandoned with `x` `y`,
/// recorded, and its lock freed.
#[test]
fn an_idle_playbook_never_blocks_a_rollback_and_a_waiting_one_is_abandoned() {
    let l = live_repo("");
    branch_with(&l, "feature/one", ASKING_GATE, &[], "prod-2025-11-14");
    let f = &l.f;
    let mut t = f.console(&[], 160, 40);
    wait(&t, "✓ ready", 15);
    select_branch(&mut t, "feature/one");
    t.send("d");
    wait(&t, "Verify evidence: what and why", 5);
    t.send_esc();
    wait(&t, "Prod tags", 5);
    // R: the dialog, not "a job is running".
    t.send("R");
    wait(&t, "Roll back production", 5);
    assert!(!t.screen_text().contains("a job is running"));
    t.send_esc();
    t.wait_for_gone("Roll back production", secs(5)).unwrap();
    // d on another branch opens that branch's playbook.
    select_branch(&mut t, mosaic::AUTH_MODAL);
    t.send("d");
    wait(&t, &format!("Playbook · {}", mosaic::AUTH_MODAL), 5);
    t.send_esc();
    // g runs the gate.
    t.send("g");
    wait(&t, &format!("gate {}", mosaic::AUTH_MODAL), 5);
    assert!(
        !t.screen_text().contains("still running"),
        "{}",
        t.screen_text()
    );
    t.wait_for_gone("running…", secs(20)).unwrap();
    t.send_esc();
    wait(&t, "Prod tags", 5);

    // A started playbook: two steps run (the lock is taken), then it waits.
    select_branch(&mut t, "feature/one");
    t.send("d");
    wait(&t, "Playbook · feature/one", 5);
    t.send_enter();
    wait(&t, "package ready; will release as", 15);
    wait(&t, "Enter runs this step", 5);
    t.send_enter();
    wait(&t, "Re-run the gate: what and why", 15);
    wait(&t, "Enter runs this step", 5);
    wait_header(&t, "showed the lock", 5, |h| h.contains("🔒 tester deploy"));
    t.send_esc();
    t.send("R");
    wait(&t, "waits between its steps", 5);
    t.send("L");
    wait(&t, "Playbook · feature/one", 5);
    t.send("x");
    wait(&t, "Abandon the deploy?", 5);
    t.send("y");
    wait(&t, "abandoned before", 10);
    wait_header(&t, "freed the lock", 5, |h| !h.contains("🔒"));
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["action"], "deploy", "{recs}");
    assert_eq!(recs[0]["result"], "ABANDONED", "{recs}");
    assert_eq!(recs[0]["target"], "feature/one", "{recs}");
    let jobs = json(&f.guardrail(&["jobs", "--json"]));
    assert!(
        !jobs.to_string().contains("\"running\""),
        "a job is left running: {jobs}"
    );
    // And now the rollback dialog opens.
    t.send_esc();
    t.send("R");
    wait(&t, "Roll back production", 5);
    t.send_esc();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0), "{}", t.screen_text());
    assert_terminal_restored(&t);
}

/// Item 2: a console that re-attaches to a deploy left at its gate prompt
/// by a hung-up terminal takes the answer, shows the prompt once, and its
/// header follows the truth when the job ends (an untagged build, the lock
/// free), as a fresh console shows it.
#[test]
fn a_reattached_console_shows_the_truth_and_each_prompt_once() {
    let l = live_repo("");
    let f = &l.f;
    // Production serves the golden build, verified.
    let out = f.guardrail(&["rollback", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    branch_with(
        &l,
        "feature/broken-deploy",
        ASKING_GATE,
        &[(
            "scripts/deploy_now_zsh.sh",
            "#!/bin/bash\necho 'deploy: out of disk'\nexit 1\n",
        )],
        "prod-2025-11-14",
    );
    let mut first = f.console(&[], 160, 40);
    wait(&first, "✓ ready", 15);
    select_branch(&mut first, "feature/broken-deploy");
    first.send("d");
    wait(&first, "Playbook · feature/broken-deploy", 5);
    first.send("a");
    wait(&first, "answer: PS101", 20);
    // The terminal goes away at the prompt.
    first.signal(libc::SIGHUP);
    std::thread::sleep(millis(300));
    assert!(first.try_exit().is_none(), "the job's console must stay");

    let mut t = f.console(&[], 160, 40);
    wait(&t, "attached to", 15);
    wait(&t, "answer: PS101", 10);
    wait_header(&t, "showed the lock at first", 5, |h| h.contains("🔒"));
    t.send("yes\r");
    wait(&t, "DEPLOY GATE: PASS", 20);
    // The header follows the state files: untagged, failed, lock free.
    wait_header(&t, "caught up with the truth", 30, |h| {
        h.contains("live untagged") && !h.contains("🔒") && !h.contains("✅")
    });
    let prompts = t.screen_text().matches("PS101 10-step flow walked").count();
    assert_eq!(
        prompts,
        1,
        "the prompt shows more than once:\n{}",
        t.screen_text()
    );
    // A fresh console agrees.
    assert!(
        first.wait_exit(secs(20)).is_some(),
        "the first console did not end"
    );
    t.send_esc();
    t.send_q();
    let _ = t.wait_exit(secs(10));
    let mut fresh = f.console(&[], 160, 40);
    wait(&fresh, "live untagged", 15);
    fresh.send_q();
    assert_eq!(fresh.wait_exit(secs(10)), Some(0));
}

/// Item 3: `q` `y` during a rollback whose verify script is slow: the
/// console says the rollback goes on, stays until it is recorded, and
/// exits then — audit entry written, journal finished, the verify script
/// not left behind.
#[test]
fn quitting_during_a_rollback_waits_until_it_is_recorded() {
    let l = live_repo("");
    let f = &l.f;
    let marker = f.tempdir().join("verify-ended");
    f.checkout_new("tmp/slow-verify");
    f.write(mosaic::MOSAIC_UI, good_page("r8"));
    f.write_script(
        "scripts/verify_live_deployment.sh",
        format!(
            "#!/bin/bash\necho 'verify script: checking slowly'\nsleep 5\necho done > '{}'\n",
            marker.display()
        ),
    );
    let c = f.commit("slow verify");
    f.checkout("main");
    f.tag_lightweight("prod-2025-11-21", &c);

    let mut t = f.console(&[], 160, 40);
    wait(&t, "prod-2025-11-21", 15);
    t.send("R");
    wait(&t, "Roll back to prod-2025-11-21", 10);
    t.send("y");
    wait(&t, "── Verify live ──", 20);
    t.send_esc();
    t.send("q");
    wait(&t, "A job is running", 5);
    assert!(t.screen_text().contains("rollback"), "{}", t.screen_text());
    t.send("y");
    wait(&t, "quitting when it is recorded", 5);
    assert!(
        t.try_exit().is_none(),
        "quit before the rollback was recorded"
    );
    assert_eq!(t.wait_exit(secs(30)), Some(0), "{}", t.screen_text());
    assert_terminal_restored(&t);
    assert!(marker.exists(), "the verify script did not run to its end");
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["action"], "rollback", "{recs}");
    assert_eq!(recs[0]["target"], "prod-2025-11-21", "{recs}");
    let jobs = json(&f.guardrail(&["jobs", "--json"]));
    assert!(
        !jobs.to_string().contains("\"running\""),
        "a job is left running: {jobs}"
    );
}

/// Item 4: after `Esc` from a gate waiting for an answer the branch row
/// and the header show it with the key back to it, the footer holds no
/// stale `gate CANCELLED`; a deploy's lock shows in the header.
#[test]
fn the_console_never_hides_its_own_job() {
    let l = live_repo("");
    branch_with(&l, "feature/one", ASKING_GATE, &[], "prod-2025-11-14");
    let f = &l.f;
    let mut t = f.console(&[], 160, 40);
    wait(&t, "✓ ready", 15);
    select_branch(&mut t, "feature/one");
    // A gate cancelled: its message.
    t.send("g");
    wait(&t, "answer: PS101", 10);
    t.send_esc();
    t.send("x");
    wait(&t, "Cancel the job?", 5);
    t.send("y");
    wait(&t, "CANCELLED", 10);
    t.send_esc();
    wait(&t, "Prod tags", 5);
    // Another gate, left waiting.
    t.send("g");
    wait(&t, "answer: PS101", 10);
    t.send_esc();
    t.send_esc();
    wait(&t, "Prod tags", 5);
    wait(&t, "⏸ gate · L", 5);
    assert!(
        header(&t).contains("⏸ gate feature/one"),
        "{}",
        t.screen_text()
    );
    assert!(!footer(&t).contains("CANCELLED"), "{}", footer(&t));
    t.send("L");
    wait(&t, "answer: PS101", 5);
    t.send("yes\r");
    wait(&t, "gate PASS", 15);
    t.send_esc();
    // A deploy at its gate prompt holds the lock: the header says so.
    t.send("d");
    wait(&t, "Playbook · feature/one", 5);
    t.send("a");
    wait(&t, "answer: PS101", 20);
    t.send_esc();
    t.send_esc();
    wait(&t, "Prod tags", 5);
    wait_header(&t, "showed the lock", 5, |h| {
        h.contains("🔒 tester deploy feature/one") && !h.contains("lock free")
    });
    wait(&t, "⏸ deploy · L", 5);
    t.send("q");
    wait(&t, "A job is running", 5);
    t.send("y");
    assert_eq!(t.wait_exit(secs(20)), Some(0), "{}", t.screen_text());
    // The deploy's gate was cancelled and recorded; no job is left running.
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["result"], "CANCELLED", "{recs}");
    let jobs = json(&f.guardrail(&["jobs", "--json"]));
    assert!(
        !jobs.to_string().contains("\"running\""),
        "a job is left running: {jobs}"
    );
}

/// Item 5: bracketed paste is on; a multi-line paste lands in the input
/// line as text (newlines shown as ⏎) and answers one question, only on
/// Enter; an empty Enter asks once more. The terminal's paste mode is off
/// again at the end.
#[test]
fn a_paste_answers_one_question_and_an_empty_answer_asks_again() {
    let f = crate::console::repo_with_console_gate();
    let mut t = f.console(&[], 100, 30);
    wait(&t, mosaic::AUTH_MODAL, 15);
    t.send("g");
    wait(&t, "answer: PS101 10-step flow", 10);
    t.send("\x1b[200~yes\nsecond line\nthird\x1b[201~");
    wait(&t, "yes⏎second line⏎third", 5);
    std::thread::sleep(millis(300));
    assert!(
        !t.screen_text().contains("Auth modal opens and closes?"),
        "the paste answered a question:\n{}",
        t.screen_text()
    );
    t.send_enter();
    wait(&t, "answer: Auth modal opens and closes?", 5);
    assert!(!t.screen_text().contains("answer: BUILD_ID footer"));
    // A stray Enter on an empty line asks once more.
    t.send_enter();
    wait(&t, "the answer is empty", 5);
    assert!(t
        .screen_text()
        .contains("answer: Auth modal opens and closes?"));
    t.send_enter();
    wait(&t, "answer: BUILD_ID footer present?", 5);
    t.send_key(Key::Ctrl('c'));
    wait(&t, "A job is running", 5);
    t.send("y");
    assert_eq!(t.wait_exit(secs(15)), Some(0));
    assert_terminal_restored(&t);
    let raw = String::from_utf8_lossy(&t.raw_tail()).into_owned();
    let on = raw.rfind("\x1b[?2004h");
    let off = raw.rfind("\x1b[?2004l");
    assert!(off.is_some() && off > on, "bracketed paste left on");
}

/// Item 6: at 60×20 and 40×12 the typed answer stays visible in the input
/// line (log pane and playbook), the quit question keeps its `y = yes`, and
/// the rollback dialog keeps its decision line.
#[test]
fn small_terminals_keep_the_input_line_and_the_decision_line() {
    let l = live_repo("");
    branch_with(&l, "feature/one", ASKING_GATE, &[], "prod-2025-11-14");
    let f = &l.f;
    for (w, h) in [(60u16, 20u16), (40, 12)] {
        let mut t = f.console(&[], w, h);
        wait(&t, "feature/one", 15);
        select_branch(&mut t, "feature/one");
        t.send("g");
        wait(&t, "answer:", 10);
        t.send("typed-xyz");
        wait(&t, "typed-xyz", 5);
        t.send_esc();
        t.send("x");
        wait(&t, "Cancel the job?", 5);
        t.send("y");
        wait(&t, "CANCELLED", 10);
        t.send_esc();
        // The playbook's gate step asks: the answer shows too.
        t.send("d");
        wait(&t, "Playbook", 5);
        t.send("a");
        wait(&t, "answer:", 20);
        t.send("typed-abc");
        wait(&t, "typed-abc", 5);
        t.send_key(Key::Ctrl('c'));
        wait(&t, "A job is running", 5);
        // The question's answer key stays on screen too.
        wait(&t, "y = yes", 5);
        t.send("y");
        assert_eq!(
            t.wait_exit(secs(20)),
            Some(0),
            "{w}x{h}: {}",
            t.screen_text()
        );

        let mut t = f.console(&[], w, h);
        wait(&t, "feature/one", 15);
        t.send("R");
        wait(&t, "Roll back production", 5);
        t.wait_until("the decision line", secs(10), |s| {
            let rows: Vec<String> = s.rows(0, s.size().1).collect();
            rows.iter()
                .any(|r| r.contains("y roll back · Esc cancel") && r.contains('│'))
        })
        .unwrap_or_else(|e| panic!("{w}x{h}: {e}\n{}", t.screen_text()));
        t.send_esc();
        t.send_q();
        assert_eq!(t.wait_exit(secs(10)), Some(0));
    }
}

/// Item 7: the footer lists the dialog's keys while it is open, and `R`
/// with a tag selected in the tag list proposes that tag, the default
/// named as the alternative.
#[test]
fn the_rollback_dialog_lists_its_keys_and_proposes_the_selected_tag() {
    let l = live_repo("");
    let f = &l.f;
    let mut t = f.console(&[], 160, 40);
    wait(&t, mosaic::TAG_ANNOTATED, 15);
    t.send_tab();
    t.send("j"); // the tags are newest first: prod-2025-11-13
    std::thread::sleep(millis(200));
    t.send("R");
    wait(&t, "Roll back to prod-2025-11-13 ", 10);
    wait(
        &t,
        &format!("the default target is {} (t picks it)", mosaic::GOLDEN),
        5,
    );
    wait(&t, "edit the reason", 5);
    // The footer is the frame's last row: wait for it to be written whole.
    t.wait_until("the footer's keys", secs(5), |s| {
        s.rows(0, s.size().1)
            .last()
            .is_some_and(|r| r.contains("edit the reason"))
    })
    .unwrap_or_else(|e| panic!("{e}\n{}", t.screen_text()));
    let foot = footer(&t);
    for k in ["roll back", "cancel", "another tag", "edit the reason"] {
        assert!(
            foot.contains(k),
            "{k} not in the footer: {foot}\n{}",
            t.screen_text()
        );
    }
    assert!(!foot.contains("gate"), "branch keys in the footer: {foot}");
    t.send("y");
    wait(&t, "production serves prod-2025-11-13 again", 30);
    t.send_esc();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    let recs = json(&f.guardrail(&["audit", "show", "-n", "1", "--json"]));
    assert_eq!(recs[0]["target"], "prod-2025-11-13", "{recs}");
}

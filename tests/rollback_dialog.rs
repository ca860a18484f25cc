//! The one-key rollback dialog on real app state: what it shows (as
//! snapshots), that it swallows every other key, that cancel is the
//! default, that the tree fallback takes its own explicit key, and that a
//! picked tag is planned again.
use crate::common;
use common::*;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use guardrail::app::coach::{Coach, DrillInfo};
use guardrail::app::{App, Msg, PlayMsg, Request, Screen};
use guardrail::pipeline::backup::{BackupCheck, ManifestState};
use guardrail::pipeline::rollback::{Change, FileChange, Plan, PlanSource};
use guardrail::pipeline::state::{LiveHealth, LiveRecord};

fn app_for(f: &Fixture) -> App {
    console_app(f, 120, 40).1
}

fn key(a: &mut App, c: KeyCode) {
    a.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
}

fn render(a: &App) -> String {
    draw_app(a).backend().to_string()
}

/// A plan like the pipeline makes, with fixed paths for stable snapshots.
fn plan(a: &App, refused: bool) -> Plan {
    let target = a.tags.as_ref().unwrap()[1].clone();
    let check = BackupCheck {
        path: "/srv/mosaic/backups/prod-2025-11-13.zip".into(),
        size: 2048,
        files: vec!["mosaic_ui/index.html".into()],
        manifest: Some(ManifestState {
            ok: !refused,
            mismatched: if refused {
                vec!["mosaic_ui/index.html".into()]
            } else {
                vec![]
            },
            missing: vec![],
            extra: vec![],
        }),
        crc_ok: true,
        crc_failed: vec![],
    };
    Plan {
        source: if refused {
            PlanSource::Tree {
                commit: target.commit.clone(),
            }
        } else {
            PlanSource::Backup {
                path: check.path.clone(),
                size: 2048,
                check,
            }
        },
        target,
        live: Some(LiveRecord {
            tag: None,
            commit: "9f00d1e5c0ffee".into(),
            build_id: "9f00d1e-20251114T120000Z".into(),
            branch: Some(mosaic::AUTH_MODAL.into()),
            action: "deploy".into(),
            actor: "tester".into(),
            time: "2025-11-14T12:00:00Z".into(),
            health: LiveHealth::Failed,
            bad_tags: vec![],
            failure: None,
        }),
        diff: vec![FileChange {
            path: "mosaic_ui/index.html".into(),
            change: Change::Changed,
        }],
        diff_base: Some("the publish directory /srv/site".into()),
        refused_backup: refused
            .then(|| "MANIFEST.sha256 does not match mosaic_ui/index.html".to_string()),
        will_log: vec![
            "audit chain".into(),
            "protocol audit log".into(),
            "rollout log".into(),
        ],
        roll_forward: false,
        notes: vec![],
    }
}

#[test]
fn r_opens_the_dialog_and_only_y_confirms() {
    let f = mosaic_repo();
    let mut a = app_for(&f);
    key(&mut a, KeyCode::Char('R'));
    assert!(a.rollback().is_some());
    assert!(matches!(
        &a.requests[..],
        [Request::PlanRollback { target: None }]
    ));
    a.requests.clear();
    assert!(render(&a).contains("planning the rollback"));
    let p = plan(&a, false);
    a.update(Msg::RollbackPlan(Box::new(Ok(p))));
    let screen = render(&a);
    insta::assert_snapshot!("rollback_dialog_120x40", screen);
    // Every other key — the trigger included — does nothing.
    for c in ['R', 'x', 'g', 'd', 'j', ' '] {
        key(&mut a, KeyCode::Char(c));
        assert!(a.rollback().is_some(), "{c} closed the dialog");
        assert!(a.requests.is_empty(), "{c} asked for {:?}", a.requests);
    }
    key(&mut a, KeyCode::Enter);
    assert!(a.rollback().is_some() && a.requests.is_empty());
    // y goes: the rollback runs, shown in the playbook screen.
    key(&mut a, KeyCode::Char('y'));
    assert!(a.rollback().is_none());
    assert_eq!(a.screen, Screen::Playbook);
    assert!(
        matches!(&a.requests[..], [Request::Rollback { plan, reason }]
        if plan.target.name == "prod-2025-11-13" && reason == "rolled back from the console")
    );
}

#[test]
fn esc_cancels_and_nothing_runs() {
    let f = mosaic_repo();
    let mut a = app_for(&f);
    key(&mut a, KeyCode::Char('R'));
    a.requests.clear();
    let p = plan(&a, false);
    a.update(Msg::RollbackPlan(Box::new(Ok(p))));
    key(&mut a, KeyCode::Esc);
    assert!(a.rollback().is_none());
    assert!(a.requests.is_empty());
    assert_eq!(a.screen, Screen::Main);
}

#[test]
fn a_refused_backup_needs_the_explicit_tree_choice() {
    let f = mosaic_repo();
    let mut a = app_for(&f);
    key(&mut a, KeyCode::Char('R'));
    a.requests.clear();
    let p = plan(&a, true);
    a.update(Msg::RollbackPlan(Box::new(Ok(p))));
    insta::assert_snapshot!("rollback_dialog_refused_backup", render(&a));
    key(&mut a, KeyCode::Char('y'));
    assert!(
        a.rollback().is_some(),
        "y alone must not deploy from the tree"
    );
    assert!(a.requests.is_empty());
    assert!(render(&a).contains("press f to deploy from the tag's git tree"));
    key(&mut a, KeyCode::Char('f'));
    key(&mut a, KeyCode::Char('y'));
    assert!(matches!(&a.requests[..], [Request::Rollback { .. }]));
}

#[test]
fn t_picks_another_tag_and_r_edits_the_reason() {
    let f = mosaic_repo();
    let mut a = app_for(&f);
    key(&mut a, KeyCode::Char('R'));
    a.requests.clear();
    let p = plan(&a, false);
    a.update(Msg::RollbackPlan(Box::new(Ok(p))));
    key(&mut a, KeyCode::Char('r'));
    for c in " (drill)".chars() {
        key(&mut a, KeyCode::Char(c));
    }
    key(&mut a, KeyCode::Enter);
    assert_eq!(
        a.rollback().unwrap().reason,
        "rolled back from the console (drill)"
    );
    key(&mut a, KeyCode::Char('t'));
    let screen = render(&a);
    insta::assert_snapshot!("rollback_dialog_tag_picker", screen);
    key(&mut a, KeyCode::Char('j'));
    key(&mut a, KeyCode::Enter);
    assert!(
        matches!(&a.requests[..], [Request::PlanRollback { target: Some(t) }] if t == "prod-2025-11-12")
    );
}

/// The plan as the pipeline words it on a real box: where it will be
/// recorded names four long paths.
fn plan_with_paths(a: &App, files: usize) -> Plan {
    let mut p = plan(a, false);
    p.will_log = vec![
        "audit chain: rollback prod-2025-11-13 OK/FAILED".into(),
        "protocol audit log: /home/release/src/mosaic/docs/protocol/AUDIT_LOG.md".into(),
        "rollout log: /home/release/src/mosaic/deploy_logs/ROLLOUT_LOG.md".into(),
        "release log: /home/release/src/mosaic/deploy_logs/releases/prod-2025-11-13.md".into(),
    ];
    p.diff = (0..files)
        .map(|i| FileChange {
            path: format!("mosaic_ui/assets/chunk-{i:02}.js"),
            change: if i % 3 == 0 {
                Change::Added
            } else {
                Change::Changed
            },
        })
        .collect();
    p
}

/// The rows of the dialog's frame: from its title to its bottom border.
fn dialog_rows(screen: &str) -> Vec<String> {
    let rows: Vec<String> = screen.lines().map(str::to_string).collect();
    let top = rows
        .iter()
        .position(|r| r.contains("Roll back production"))
        .unwrap_or_else(|| panic!("no dialog:\n{screen}"));
    let bottom = rows[top..]
        .iter()
        .position(|r| r.contains('└') && r.contains('┘'))
        .map(|i| top + i)
        .unwrap_or_else(|| panic!("the dialog has no bottom border:\n{screen}"));
    rows[top..=bottom].to_vec()
}

/// Issue 19.9: at 80×24 the dialog leads with what decides — target (tag,
/// date, commit), what is live, where the bytes come from, the files, the
/// reason — and fits without scrolling; the paths of where it will be
/// recorded wait behind `p`.
#[test]
fn at_80x24_the_dialog_leads_with_what_decides_and_the_paths_wait_behind_p() {
    let f = mosaic_repo();
    let mut a = console_app(&f, 80, 24).1;
    key(&mut a, KeyCode::Char('R'));
    a.requests.clear();
    let p = plan_with_paths(&a, 3);
    a.update(Msg::RollbackPlan(Box::new(Ok(p))));
    let screen = render(&a);
    insta::assert_snapshot!("rollback_dialog_80x24", screen);
    let rows = dialog_rows(&screen);
    let text = rows.join("\n");
    for what in [
        "Roll back to prod-2025-11-13  2025-11-13 · commit 234eabcd",
        "live now: untagged build of feature/auth-modal, verification failed ❌",
        "from: backup ✅ prod-2025-11-13.zip · manifest ✅ (1 files)",
        "files that change (3)",
        "mosaic_ui/assets/chunk-02.js",
        "reason: rolled back from the console",
        "y roll back · Esc cancel",
        "p paths",
    ] {
        assert!(text.contains(what), "{what:?} not in the dialog:\n{screen}");
    }
    assert!(!text.contains("recorded in"), "{screen}");
    assert!(!text.contains("/home/release"), "{screen}");
    // `p` shows where it will be recorded; the decision line stays.
    key(&mut a, KeyCode::Char('p'));
    assert!(a.requests.is_empty());
    let screen = render(&a);
    insta::assert_snapshot!("rollback_dialog_80x24_paths", screen);
    let text = dialog_rows(&screen).join("\n");
    for what in [
        "recorded in:",
        "protocol audit log: /home/release/src/mosaic/docs/protocol/AUDIT_LOG.md",
        "rollout log: /home/release/src/mosaic/deploy_logs/ROLLOUT_LOG.md",
        "Roll back to prod-2025-11-13",
        "live now:",
        "y roll back · Esc cancel",
        "p hide paths",
    ] {
        assert!(text.contains(what), "{what:?} not in the dialog:\n{screen}");
    }
    key(&mut a, KeyCode::Char('p'));
    assert!(!render(&a).contains("recorded in"));
}

/// Many files that change at 80×24: the list gives up rows (its count
/// stays), the target, live, source, reason and decision line do not.
#[test]
fn at_80x24_many_files_shorten_the_list_not_the_decision() {
    let f = mosaic_repo();
    let mut a = console_app(&f, 80, 24).1;
    key(&mut a, KeyCode::Char('R'));
    a.requests.clear();
    let p = plan_with_paths(&a, 40);
    a.update(Msg::RollbackPlan(Box::new(Ok(p))));
    key(&mut a, KeyCode::Char('p'));
    let screen = render(&a);
    let rows = dialog_rows(&screen);
    assert!(rows.len() <= 24, "{screen}");
    let text = rows.join("\n");
    for what in [
        "Roll back to prod-2025-11-13",
        "live now:",
        "from: backup ✅",
        "files that change (40)",
        "more",
        "release log:",
        "releases/prod-2025-11-13.md",
        "reason: rolled back from the console",
        "y roll back · Esc cancel",
    ] {
        assert!(text.contains(what), "{what:?} not in the dialog:\n{screen}");
    }
}

fn wait(t: &Pty, what: &str, s: u64) {
    t.wait_for(what, secs(s))
        .unwrap_or_else(|e| panic!("waiting for {what:?}: {e}\n{}", t.screen_text()));
}

/// Issue 13.4: the dialog open in the console follows the live record.
/// Another process rolls production back while the dialog shows "nothing
/// recorded"; within two seconds the dialog shows the new live tag, says
/// its plan is new, and still fits 80×24 with its decision line.
#[test]
fn the_open_dialog_follows_a_rollback_made_by_another_process() {
    let l = common::live::live_repo("");
    let f = &l.f;
    let mut t = f.console(&[], 80, 24);
    wait(&t, "feature/auth-modal", 15);
    t.send("R");
    wait(&t, "edit the reason", 10);
    wait(&t, "live now: nothing recorded on this box", 5);
    let out = f.guardrail(&["rollback", mosaic::TAG_ANNOTATED, "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let changed = std::time::Instant::now();
    wait(
        &t,
        &format!("live now: {}, verified ✅", mosaic::TAG_ANNOTATED),
        2,
    );
    assert!(changed.elapsed() < secs(2), "{:?}", changed.elapsed());
    wait(&t, "the live record changed", 2);
    wait(&t, "y roll back · Esc cancel", 2);
    assert!(!t.screen_text().contains("nothing recorded on this box"));
    t.send_esc();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0), "{}", t.screen_text());
}

/// Issue 13.4: the live record changes after the dialog's plan was made, in
/// a way the watcher cannot see (same size, same mtime); `y` is refused by
/// the pipeline under the lock (PlanChanged) and the dialog opens again on
/// the new plan, saying what changed; the second `y` rolls back.
#[test]
fn a_plan_changed_under_the_lock_opens_the_dialog_again_on_the_new_plan() {
    let l = common::live::live_repo("");
    let f = &l.f;
    let out = f.guardrail(&["rollback", mosaic::TAG_ANNOTATED, "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let live_path = f.path().join(".git/guardrail/live.json");
    let build_id = common::live::live_record(f)["build_id"]
        .as_str()
        .unwrap()
        .to_string();
    let mut t = f.console(&[], 120, 40);
    wait(&t, "feature/auth-modal", 15);
    t.send("R");
    wait(&t, "edit the reason", 10);
    wait(&t, &format!("BUILD_ID {build_id}"), 5);
    // Another BUILD_ID of the same length, the file's size and mtime kept.
    let last = build_id.chars().last().unwrap();
    let other = format!(
        "{}{}",
        &build_id[..build_id.len() - 1],
        if last == '0' { '1' } else { '0' }
    );
    let before = std::fs::metadata(&live_path).unwrap();
    let text = std::fs::read_to_string(&live_path).unwrap();
    std::fs::write(&live_path, text.replace(&build_id, &other)).unwrap();
    let file = std::fs::File::options()
        .write(true)
        .open(&live_path)
        .unwrap();
    file.set_modified(before.modified().unwrap()).unwrap();
    drop(file);
    assert_eq!(std::fs::metadata(&live_path).unwrap().len(), before.len());
    std::thread::sleep(millis(900));
    assert!(
        t.screen_text().contains(&format!("BUILD_ID {build_id}")),
        "the watcher saw the change; the test needs it unseen:\n{}",
        t.screen_text()
    );
    t.send("y");
    wait(&t, "the plan changed before the lock was taken", 10);
    wait(&t, &format!("BUILD_ID {other}"), 2);
    wait(&t, "y roll back · Esc cancel", 2);
    t.send("y");
    wait(&t, "again, verified", 30);
    t.send_esc();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0), "{}", t.screen_text());
    let recs = common::live::audit_records(f);
    let rollbacks: Vec<_> = recs
        .iter()
        .filter(|r| r["action"] == "rollback")
        .map(|r| r["result"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        rollbacks.iter().any(|r| r == "REFUSED"),
        "the refused attempt is recorded: {rollbacks:?}"
    );
    assert_eq!(
        rollbacks.last().map(String::as_str),
        Some("OK"),
        "{rollbacks:?}"
    );
}

/// Issue 13.4 on the app's state: a changed live record makes the open
/// dialog plan again for the same chosen target; `y` waits for that plan;
/// a record unchanged plans nothing.
#[test]
fn a_changed_live_record_plans_again_for_the_chosen_target_and_y_waits() {
    let f = mosaic_repo();
    let mut a = app_for(&f);
    let lock = guardrail::pipeline::lock::status(&f.path().join(".git/guardrail"));
    key(&mut a, KeyCode::Char('R'));
    a.requests.clear();
    let p = plan(&a, false);
    let old_live = p.live.clone();
    a.update(Msg::RollbackPlan(Box::new(Ok(p.clone()))));
    // The same record read again (the lock changed, say): nothing.
    a.update(Msg::State(
        Some(old_live.clone().map(Box::new)),
        lock.clone(),
    ));
    assert!(a.requests.is_empty(), "{:?}", a.requests);
    // Another record: planned again, the old plan marked; y waits.
    let mut new_live = old_live.clone().unwrap();
    new_live.tag = Some(mosaic::TAG_LIGHTWEIGHT.into());
    new_live.health = LiveHealth::Ok;
    a.update(Msg::State(
        Some(Some(Box::new(new_live.clone()))),
        lock.clone(),
    ));
    assert!(
        matches!(&a.requests[..], [Request::PlanRollback { target: None }]),
        "{:?}",
        a.requests
    );
    assert!(render(&a).contains("the live record changed: planning again"));
    a.requests.clear();
    key(&mut a, KeyCode::Char('y'));
    assert!(a.requests.is_empty(), "y went on a stale plan");
    assert!(a.rollback().is_some());
    let mut fresh = p.clone();
    fresh.live = Some(new_live.clone());
    a.update(Msg::RollbackPlan(Box::new(Ok(fresh))));
    let screen = render(&a);
    assert!(
        screen.contains("live now: prod-2025-11-12, verified ✅"),
        "{screen}"
    );
    assert!(screen.contains("this plan is new"), "{screen}");
    // A tag picked with t is the one planned again.
    key(&mut a, KeyCode::Char('t'));
    key(&mut a, KeyCode::Char('j'));
    key(&mut a, KeyCode::Enter);
    assert!(
        matches!(&a.requests[..], [Request::PlanRollback { target: Some(t) }] if t == "prod-2025-11-12")
    );
    a.requests.clear();
    let mut picked = p.clone();
    picked.target = a.tags.as_ref().unwrap()[0].clone();
    picked.live = Some(new_live.clone());
    a.update(Msg::RollbackPlan(Box::new(Ok(picked))));
    a.update(Msg::State(Some(old_live.map(Box::new)), lock));
    assert!(
        matches!(&a.requests[..], [Request::PlanRollback { target: Some(t) }] if t == "prod-2025-11-12"),
        "{:?}",
        a.requests
    );
}

#[test]
fn a_rollback_refused_because_the_plan_went_stale_does_not_tick_the_drill_coach() {
    let f = mosaic_repo();
    let mut a = app_for(&f);
    a.coach = Some(Coach::new(DrillInfo {
        ready_branch: "feature/ps101".into(),
        bad_branch: mosaic::AUTH_MODAL.into(),
        golden: mosaic::GOLDEN.into(),
        url: "http://127.0.0.1:1/".into(),
        report: f.tempdir().join("DRILL_REPORT.md"),
    }));
    key(&mut a, KeyCode::Char('R'));
    a.requests.clear();
    let p = plan(&a, false);
    a.update(Msg::RollbackPlan(Box::new(Ok(p))));
    key(&mut a, KeyCode::Char('y'));
    assert!(matches!(&a.requests[..], [Request::Rollback { .. }]));
    let coach = a.coach.as_ref().unwrap();
    assert!(!coach.done[3], "y alone rolled nothing back yet");

    // What the worker sends when the pipeline refuses under the lock: the
    // new plan to ask again, and the rollback's end with the refusal.
    let mut newer = plan(&a, false);
    if let Some(live) = newer.live.as_mut() {
        live.tag = Some("prod-2025-11-13.2".into());
    }
    a.update(Msg::RollbackPlanChanged(
        "live was an untagged build, is now prod-2025-11-13.2".into(),
        Box::new(newer),
        "rolled back from the console".into(),
    ));
    a.update(Msg::Play(PlayMsg::RollbackEnded(
        Box::new(Err(
            "the plan changed before the lock was taken; nothing ran".into(),
        )),
        None,
    )));
    assert!(a.rollback().is_some(), "the dialog asks again");
    let coach = a.coach.as_ref().unwrap();
    assert!(
        !coach.done[3] && !coach.done[4],
        "a refused rollback ticked the coach: {:?}",
        coach.done
    );
    assert!(coach.restored_at.is_none());
    assert!(!a.seen.rollback_verified);
}

/// The plan changed under the lock while the user types the branch filter:
/// the dialog asking again opens under the line being typed, so the `y`
/// typed there is a letter of the filter, never a rollback; Esc then shows
/// the dialog on the new plan.
#[test]
fn a_plan_changed_while_typing_opens_the_dialog_under_the_line_and_y_is_typed() {
    let f = mosaic_repo();
    let mut a = app_for(&f);
    key(&mut a, KeyCode::Char('R'));
    let p = plan(&a, false);
    a.update(Msg::RollbackPlan(Box::new(Ok(p))));
    key(&mut a, KeyCode::Char('y'));
    assert!(matches!(&a.requests[..], [.., Request::Rollback { .. }]));
    assert!(a.rollback().is_none(), "y closed the dialog");
    a.requests.clear();
    // Back to the lists while the rollback runs, and type the filter.
    while a.screen != Screen::Main {
        key(&mut a, KeyCode::Esc);
    }
    key(&mut a, KeyCode::Char('/'));
    assert!(a.filtering(), "{:?} {:?}", a.screen, a.modals);
    let newer = plan(&a, false);
    a.update(Msg::RollbackPlanChanged(
        "live was an untagged build, is now prod-2025-11-13.2".into(),
        Box::new(newer),
        "rolled back from the console".into(),
    ));
    assert!(a.rollback().is_some(), "the dialog asks again");
    assert!(
        matches!(a.modals.last(), Some(guardrail::app::modal::Modal::Filter)),
        "the line being typed stays on top"
    );
    key(&mut a, KeyCode::Char('y'));
    assert_eq!(a.filter, "y");
    assert!(
        !a.requests
            .iter()
            .any(|r| matches!(r, Request::Rollback { .. })),
        "a y typed into the filter rolled back"
    );
    key(&mut a, KeyCode::Esc);
    assert!(matches!(
        a.modals.last(),
        Some(guardrail::app::modal::Modal::Rollback(_))
    ));
    assert!(render(&a).contains("the plan changed before the lock was taken"));
}

//! `guardrail drift`: the watched files and the baseline against the golden
//! build, committed on main and on disk in the working tree, and with
//! `--live` the live site against the live record (real repositories, a
//! real HTTP server on 127.0.0.1).
use crate::common;

use common::live::*;
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

fn drift(f: &Fixture, args: &[&str]) -> (Option<i32>, serde_json::Value) {
    let mut a = vec!["drift", "--json"];
    a.extend_from_slice(args);
    let out = f.guardrail(&a);
    assert!(
        matches!(out.status.code(), Some(0) | Some(1)),
        "exit {:?}: {}",
        out.status.code(),
        stderr(&out)
    );
    (out.status.code(), json(&out))
}

#[test]
fn no_drift_exits_0() {
    let f = mosaic_repo();
    let (code, doc) = drift(&f, &[]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["drift"], false);
    assert_eq!(doc["golden"], mosaic::GOLDEN);
    assert_eq!(doc["committed"], json!([]));
    assert_eq!(doc["working"], json!([]));
    assert_eq!(doc["baseline_changes"], json!([]));
    assert_eq!(doc["live"], serde_json::Value::Null);

    let out = f.guardrail(&["drift"]);
    assert_eq!(out.status.code(), Some(0));
    let text = stdout(&out);
    assert!(
        text.contains(&format!(
            "no drift: the watched files and the baseline are as in {}",
            mosaic::GOLDEN
        )),
        "{text}"
    );
}

#[test]
fn a_commit_to_a_watched_file_on_main_is_committed_drift_with_its_counts() {
    let f = mosaic_repo();
    // One line changed, two added: +3 −1.
    let page = f
        .read(mosaic::MOSAIC_UI)
        .replace("Mosaic r2</footer>", "Mosaic r2 (hotfix)</footer>")
        .replace(
            "  </main>\n",
            "  </main>\n  <p>banner one</p>\n  <p>banner two</p>\n",
        );
    f.write(mosaic::MOSAIC_UI, page);
    f.commit("hotfix straight on main");

    let (code, doc) = drift(&f, &[]);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(doc["drift"], true);
    let committed = doc["committed"].as_array().unwrap();
    assert_eq!(committed.len(), 1, "{doc:#}");
    assert_eq!(committed[0]["path"], mosaic::MOSAIC_UI);
    assert_eq!(committed[0]["status"], "modified");
    assert_eq!(committed[0]["added"], 3);
    assert_eq!(committed[0]["removed"], 1);
    assert!(committed[0]["patch"]
        .as_str()
        .unwrap()
        .contains("+  <p>banner one</p>"));
    // On disk it is as committed: not reported again as working-tree drift.
    assert_eq!(doc["working"], json!([]));

    let out = f.guardrail(&["drift"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    assert!(text.contains("committed on main"), "{text}");
    assert!(
        text.contains("modified  mosaic_ui/index.html  +3 −1"),
        "{text}"
    );
}

#[test]
fn an_uncommitted_edit_and_an_untracked_watched_file_are_working_tree_drift() {
    let f = mosaic_repo();
    // Watch the whole bundle directory (uncommitted config: read from disk).
    f.write_config(&format!(
        "{}\n[project]\nwatch = [\"mosaic_ui\", \"frontend/index.html\", \"deployment/deploy_baseline.env\"]\n",
        mosaic::CONFIG
    ));
    let page = f
        .read(mosaic::FRONTEND)
        .replace("frontend r3", "frontend r3-local");
    f.write(mosaic::FRONTEND, format!("{page}<!-- local -->\n"));
    f.write("mosaic_ui/extra.js", "console.log(1);\nconsole.log(2);\n");

    let (code, doc) = drift(&f, &[]);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(doc["committed"], json!([]), "{doc:#}");
    let working = doc["working"].as_array().unwrap();
    let by_path = |p: &str| {
        working
            .iter()
            .find(|w| w["path"] == p)
            .unwrap_or_else(|| panic!("{p} not in {doc:#}"))
            .clone()
    };
    assert_eq!(working.len(), 2, "{doc:#}");
    let fe = by_path(mosaic::FRONTEND);
    assert_eq!(fe["status"], "modified");
    assert_eq!(
        (fe["added"].as_u64(), fe["removed"].as_u64()),
        (Some(2), Some(1))
    );
    let js = by_path("mosaic_ui/extra.js");
    assert_eq!(js["status"], "added");
    assert_eq!(
        (js["added"].as_u64(), js["removed"].as_u64()),
        (Some(2), Some(0))
    );

    let text = stdout(&f.guardrail(&["drift"]));
    assert!(text.contains("working tree (not committed)"), "{text}");
    assert!(
        text.contains("added     mosaic_ui/extra.js  +2 −0"),
        "{text}"
    );
}

#[test]
fn a_changed_baseline_value_is_reported_as_such_on_main_and_in_the_working_tree() {
    let f = mosaic_repo();
    let base = f.read(mosaic::BASELINE);
    f.write(
        mosaic::BASELINE,
        base.replace("MOSAIC_UI_LINE_TOLERANCE=5", "MOSAIC_UI_LINE_TOLERANCE=9"),
    );
    f.commit("baseline: looser tolerance");
    let count = line_count(&f.read(mosaic::FRONTEND));
    let base = f.read(mosaic::BASELINE);
    f.write(
        mosaic::BASELINE,
        base.replace(
            &format!("FRONTEND_LINE_COUNT={count}"),
            &format!("FRONTEND_LINE_COUNT={}\nNEW_KEY=1", count + 40),
        ),
    );

    let (code, doc) = drift(&f, &[]);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(
        doc["baseline_changes"],
        json!([
            {"key": "MOSAIC_UI_LINE_TOLERANCE", "golden": "5", "now": "9", "where": "main"},
            {"key": "FRONTEND_LINE_COUNT", "golden": count.to_string(),
             "now": (count + 40).to_string(), "where": "working tree"},
            {"key": "NEW_KEY", "golden": null, "now": "1", "where": "working tree"},
        ]),
        "{doc:#}"
    );
    // The file is watched too: the diffs show it.
    assert_eq!(doc["committed"][0]["path"], mosaic::BASELINE);
    assert_eq!(doc["working"][0]["path"], mosaic::BASELINE);

    let text = stdout(&f.guardrail(&["drift"]));
    assert!(
        text.contains("baseline values (changed only as an intentional change):"),
        "{text}"
    );
    assert!(
        text.contains("MOSAIC_UI_LINE_TOLERANCE: 5 → 9 (main)"),
        "{text}"
    );
    assert!(
        text.contains("NEW_KEY: (unset) → 1 (working tree)"),
        "{text}"
    );
}

#[test]
fn no_golden_build_is_no_drift_with_a_note() {
    let f = mosaic_repo();
    for t in mosaic::TAGS {
        f.git(&["tag", "-d", t]);
    }
    f.write(mosaic::FRONTEND, "changed\n");
    let (code, doc) = drift(&f, &[]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["golden"], serde_json::Value::Null);
    assert!(doc["notes"][0]
        .as_str()
        .unwrap()
        .contains("no golden build"));
}

#[test]
fn live_drift_compares_the_served_page_with_the_live_record() {
    let l = live_repo("");
    let f = &l.f;
    let head = f.head();
    let page = f.read(mosaic::MOSAIC_UI);
    let write_live = |build_id: &str| {
        let rec = json!({
            "tag": mosaic::GOLDEN, "commit": head, "build_id": build_id,
            "branch": null, "action": "rollback", "actor": "tester",
            "time": "2025-11-14T14:00:00Z", "health": "ok", "bad_tags": [],
        });
        std::fs::create_dir_all(f.path().join(".git/guardrail")).unwrap();
        std::fs::write(
            f.path().join(".git/guardrail/live.json"),
            serde_json::to_vec(&rec).unwrap(),
        )
        .unwrap();
    };
    write_live("abc123-20251114T140000Z");
    let serve = |p: &str| std::fs::write(l.site.join("index.html"), p).unwrap();
    serve(&page.replace("BUILD_ID:dev", "BUILD_ID:abc123-20251114T140000Z"));

    // Without --live the site is not fetched.
    let (code, doc) = drift(f, &[]);
    assert_eq!((code, &doc["live"]), (Some(0), &serde_json::Value::Null));

    let (code, doc) = drift(f, &["--live"]);
    assert_eq!(code, Some(0), "{doc:#}");
    assert_eq!(doc["live"]["drift"], false, "{doc:#}");
    assert_eq!(doc["live"]["build_id_matches"], true);
    assert_eq!(doc["live"]["content_matches"], true);

    // Someone published another build by hand.
    serve(
        &page
            .replace("BUILD_ID:dev", "BUILD_ID:zzz-handmade")
            .replace("Mosaic r2</footer>", "Mosaic hand edit</footer>"),
    );
    let (code, doc) = drift(f, &["--live"]);
    assert_eq!(code, Some(1), "{doc:#}");
    assert_eq!(doc["live"]["drift"], true);
    assert_eq!(doc["live"]["served_build_id"], "zzz-handmade");
    assert_eq!(doc["live"]["expected_build_id"], "abc123-20251114T140000Z");
    assert_eq!(doc["live"]["content_matches"], false);
    assert_eq!(doc["committed"], json!([]));
    assert_eq!(doc["alert"], "drift");
    let text = stdout(&f.guardrail(&["drift", "--live"]));
    assert!(
        text.contains("serves BUILD_ID zzz-handmade, the live record says abc123-20251114T140000Z"),
        "{text}"
    );
    // A check that does not look at the site does not clear its drift.
    let (code, doc) = drift(f, &[]);
    assert_eq!((code, &doc["alert"]), (Some(0), &serde_json::Value::Null));
    // The site serves the live record again: cleared.
    serve(&page.replace("BUILD_ID:dev", "BUILD_ID:abc123-20251114T140000Z"));
    let (code, doc) = drift(f, &["--live"]);
    assert_eq!((code, &doc["alert"]), (Some(0), &json!("drift-cleared")));
}

/// A console on `f`, then an uncommitted edit to a watched file, seen in
/// the header.
fn console_with_a_hand_edit(f: &Fixture) -> Pty {
    let t = f.console(&[], 140, 40);
    t.wait_for("no drift", secs(15))
        .unwrap_or_else(|e| panic!("{e}"));
    let page = f.read(mosaic::MOSAIC_UI);
    f.write(
        mosaic::MOSAIC_UI,
        format!("{page}<p>hotfix typed on the box</p>\n"),
    );
    // The watcher polls every 300 ms; the bound here is loose for a loaded CI.
    t.wait_for("⚠ drift 1 file", secs(5)).unwrap();
    t
}

/// The running console sees an uncommitted edit to a watched file within a
/// second, shows it in the header, and D opens the drift pane.
#[test]
fn the_console_sees_working_tree_drift_within_a_second() {
    let f = mosaic_repo();
    let mut t = console_with_a_hand_edit(&f);
    t.send("D");
    t.wait_for("in the working tree", secs(5)).unwrap();
    t.wait_for("hotfix typed on the box", secs(5)).unwrap();
    t.send_esc();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

/// Drift the console notices is alerted once, by a command that runs at the
/// console's own priority (the watcher thread that found it is niced; the
/// alert must not be).
#[test]
fn the_console_alerts_drift_from_a_thread_at_normal_priority() {
    let f = mosaic_repo();
    let dir = f.tempdir().join("alerts");
    std::fs::create_dir_all(&dir).unwrap();
    f.write_config(&format!(
        "{}\n[alerts]\ncommand = 'nice > {d}/nice.txt; cat > {d}/alert.json'\n",
        mosaic::CONFIG,
        d = dir.display()
    ));
    let mut t = console_with_a_hand_edit(&f);
    let alert = dir.join("alert.json");
    let deadline = std::time::Instant::now() + secs(10);
    let doc: serde_json::Value = loop {
        if let Ok(text) = std::fs::read_to_string(&alert) {
            if let Ok(doc) = serde_json::from_str(&text) {
                break doc;
            }
        }
        assert!(std::time::Instant::now() < deadline, "no alert arrived");
        std::thread::sleep(std::time::Duration::from_millis(50));
    };
    assert_eq!(doc["kind"], "drift", "{doc:#}");
    let ours = std::fs::read_to_string(format!("/proc/{}/stat", t.pid())).unwrap();
    // Field 19 of /proc/<pid>/stat is the nice value of the main thread.
    let console_nice = ours
        .rsplit(')')
        .next()
        .unwrap()
        .split_whitespace()
        .nth(16)
        .unwrap()
        .to_string();
    let alert_nice = std::fs::read_to_string(dir.join("nice.txt")).unwrap();
    assert_eq!(
        alert_nice.trim(),
        console_nice,
        "the alert command ran niced"
    );
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

/// Waits for `text` in the header, within the one second the README
/// promises from `changed` (plus a little for the pty's reader), and says
/// how long it took.
fn seen_within_a_second(t: &Pty, text: &str, changed: Instant) -> Duration {
    let budget = secs(1) + millis(100);
    let left = budget.saturating_sub(changed.elapsed());
    t.wait_for(text, left)
        .unwrap_or_else(|e| panic!("not within a second of the change: {e}"));
    changed.elapsed()
}

/// A file edited in place deep inside a watched DIRECTORY changes no
/// metadata the directory's `stat` shows; the console still sees it within a
/// second (the kernel tells it), not at the next minute's check.
#[test]
fn the_console_sees_a_change_inside_a_watched_directory_within_a_second() {
    let f = mosaic_repo();
    f.write_config(&format!(
        "{}[project]\nwatch = [\"mosaic_ui\", \"frontend/index.html\"]\n",
        mosaic::CONFIG
    ));
    f.commit("Watch the whole mosaic_ui directory");
    let mut t = f.console(&[], 140, 40);
    t.wait_for("no drift", secs(15))
        .unwrap_or_else(|e| panic!("{e}"));
    // Let the start-up checks settle, so that the change is what is seen.
    t.wait_stable(millis(400), secs(10)).unwrap();
    let page = f.read(mosaic::MOSAIC_UI);
    let dir_mtime = || {
        std::fs::metadata(f.path().join("mosaic_ui"))
            .unwrap()
            .modified()
            .unwrap()
    };
    let before = dir_mtime();
    let changed = Instant::now();
    f.write(
        mosaic::MOSAIC_UI,
        format!("{page}<p>hotfix typed on the box</p>\n"),
    );
    assert_eq!(dir_mtime(), before, "the directory's own metadata changed");
    let took = seen_within_a_second(&t, "⚠ drift 1 file", changed);
    eprintln!("a change inside a watched directory was seen after {took:?}");
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

/// On a box that follows `origin/<main>` (no local main branch), a commit
/// fetched from the remote is committed drift in the header within a second
/// of the fetch.
#[test]
fn the_console_sees_a_fetched_commit_on_origin_main_within_a_second() {
    let f = mosaic_repo();
    let origin = f.tempdir().join("origin.git");
    let origin_s = origin.display().to_string();
    f.git(&["init", "-q", "--bare", &origin_s]);
    f.add_remote("origin", &origin_s);
    f.git(&["push", "-q", "origin", "main", "--tags"]);
    f.git(&["fetch", "-q", "origin"]);
    // The box is checked out at the golden build and follows origin.
    f.git(&["checkout", "-q", "--detach", mosaic::GOLDEN]);
    f.git(&["branch", "-q", "-D", "main"]);
    // Someone else's clone, which commits to main and pushes.
    let work = f.tempdir().join("work");
    let work_s = work.display().to_string();
    f.git(&["clone", "-q", "-b", "main", &origin_s, &work_s]);
    let page = std::fs::read_to_string(work.join(mosaic::MOSAIC_UI)).unwrap();
    std::fs::write(
        work.join(mosaic::MOSAIC_UI),
        format!("{page}<p>committed behind the release's back</p>\n"),
    )
    .unwrap();
    f.git(&["-C", &work_s, "commit", "-q", "-a", "-m", "Hotfix on main"]);
    f.git(&["-C", &work_s, "push", "-q", "origin", "main"]);

    let mut t = f.console(&[], 140, 40);
    t.wait_for("no drift", secs(15))
        .unwrap_or_else(|e| panic!("{e}"));
    t.wait_stable(millis(400), secs(10)).unwrap();
    let changed = Instant::now();
    f.git(&["fetch", "-q", "origin"]);
    let took = seen_within_a_second(&t, "⚠ drift 1 file", changed);
    eprintln!("a fetched commit on origin/main was seen after {took:?}");
    t.send("D");
    t.wait_for("committed on main", secs(5)).unwrap();
    t.send_esc();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

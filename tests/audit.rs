//! The audit chain: tamper detection, torn-tail repair, concurrent appends
//! from real processes, checkpoints.

use std::fs;
use std::path::Path;
use std::process::Command;

use guardrail::pipeline::audit::{
    entry_hash_ok, find_checkpoint, AuditLog, Checkpoint, NewEntry, Problem, Record, GENESIS_PREV,
};
use serde_json::json;

const CHILD_ENV: &str = "GUARDRAIL_TEST_AUDIT_CHILD_DIR";

fn entry(i: usize) -> NewEntry {
    NewEntry::new("alice", "gate", &format!("feature-{i}"), "PASS")
        .with_details(json!({"i": i, "note": "zebra before apple", "z": 1, "a": [3, 2, 1]}))
}

fn log_with(n: usize) -> (tempfile::TempDir, AuditLog) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path());
    for i in 0..n {
        log.append(entry(i)).unwrap();
    }
    (dir, log)
}

/// Lines of the log, newline kept.
fn lines(log: &AuditLog) -> Vec<Vec<u8>> {
    let bytes = fs::read(log.path()).unwrap();
    bytes
        .split_inclusive(|&b| b == b'\n')
        .map(|l| l.to_vec())
        .collect()
}

fn write_lines(log: &AuditLog, lines: &[Vec<u8>]) {
    fs::write(log.path(), lines.concat()).unwrap();
}

#[test]
fn fresh_log_starts_with_genesis_and_chains() {
    let (_dir, log) = log_with(3);
    let recs = log.read_all().unwrap();
    assert_eq!(recs.len(), 4);
    let g = &recs[0];
    assert_eq!(
        (g.seq, g.action.as_str(), g.prev.as_str()),
        (0, "genesis", GENESIS_PREV)
    );
    let log_id = g.details["log_id"].as_str().unwrap();
    assert_eq!(log_id.len(), 32);
    assert!(log_id.bytes().all(|b| b.is_ascii_hexdigit()));

    let raw = lines(&log);
    for (i, rec) in recs.iter().enumerate() {
        assert_eq!(rec.seq, i as u64);
        assert!(rec.hash_ok());
        assert!(
            rec.time.ends_with('Z') && rec.time.len() == 20,
            "{}",
            rec.time
        );
        if i > 0 {
            assert_eq!(
                rec.prev,
                guardrail::pipeline::audit::sha256_hex(&raw[i - 1])
            );
        }
        // Canonical: keys sorted, no whitespace outside strings.
        let text = std::str::from_utf8(&raw[i]).unwrap();
        assert_eq!(text, rec.to_line());
        assert!(text.starts_with("{\"action\":"));
    }
    assert!(std::str::from_utf8(&raw[1])
        .unwrap()
        .contains(r#""details":{"a":[3,2,1],"i":0,"note":"zebra before apple","z":1}"#));

    let report = log.verify(None).unwrap();
    assert!(report.is_intact(), "{report}");
    assert_eq!(report.lines, 4);
    assert_eq!(report.log_id.as_deref(), Some(log_id));
    assert!(report.to_string().contains("intact"));
    assert!(report.to_string().contains("no release checkpoint"));

    let head = log.head().unwrap().unwrap();
    assert_eq!(head.seq, 3);
    assert_eq!(head.hash, guardrail::pipeline::audit::sha256_hex(&raw[3]));
    assert_eq!(report.head, Some(head));
    assert_eq!(log.tail(2).unwrap(), recs[2..].to_vec());
}

#[test]
fn empty_log_verifies_and_has_no_head() {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path());
    assert_eq!(log.head().unwrap(), None);
    let r = log.verify(None).unwrap();
    assert!(r.is_intact());
    assert_eq!(r.lines, 0);
    assert!(log.init("root").unwrap().is_some());
    assert!(log.init("root").unwrap().is_none());
    assert_eq!(log.read_all().unwrap().len(), 1);
}

#[test]
fn flipped_byte_is_reported_as_edited_at_that_line() {
    let (_dir, log) = log_with(6);
    let mut l = lines(&log);
    // Line 4 (seq 3): change one character inside the target value.
    let text = String::from_utf8(l[3].clone()).unwrap();
    let pos = text.find("feature-2").unwrap() + "feature-".len();
    l[3][pos] = b'7';
    write_lines(&log, &l);
    let r = log.verify(None).unwrap();
    assert!(!r.is_intact());
    assert_eq!(
        r.first_problem(),
        Some(&Problem::Edited { line: 4, seq: 3 })
    );
    assert!(r.to_string().contains("line 4"), "{r}");
}

#[test]
fn forged_line_with_recomputed_hash_breaks_the_next_link() {
    let (_dir, log) = log_with(5);
    let mut l = lines(&log);
    let mut rec = Record::parse(std::str::from_utf8(&l[2]).unwrap()).unwrap();
    rec.result = "FAIL".into();
    rec.hash = String::new();
    let obj = serde_json::to_value(&rec).unwrap();
    let mut m = obj.as_object().unwrap().clone();
    m.shift_remove("hash");
    rec.hash = guardrail::pipeline::audit::sha256_hex(
        guardrail::pipeline::audit::canonical_json(&serde_json::Value::Object(m)).as_bytes(),
    );
    assert!(rec.hash_ok());
    l[2] = rec.to_line().into_bytes();
    write_lines(&log, &l);
    let r = log.verify(None).unwrap();
    assert_eq!(
        r.first_problem(),
        Some(&Problem::PrevMismatch { line: 4, seq: 3 })
    );
}

#[test]
fn deleted_line_is_reported_missing() {
    let (_dir, log) = log_with(6);
    let mut l = lines(&log);
    l.remove(3); // seq 3
    write_lines(&log, &l);
    let r = log.verify(None).unwrap();
    assert_eq!(
        r.first_problem(),
        Some(&Problem::Missing {
            line: 4,
            expected_seq: 3,
            found_seq: 4
        })
    );
    assert!(r.to_string().contains("missing"), "{r}");
}

#[test]
fn swapped_lines_are_reported_reordered() {
    let (_dir, log) = log_with(6);
    let mut l = lines(&log);
    l.swap(2, 3); // seq 2 and 3
    write_lines(&log, &l);
    let r = log.verify(None).unwrap();
    assert_eq!(
        r.first_problem(),
        Some(&Problem::Reordered {
            line: 3,
            expected_seq: 2,
            found_seq: 3
        })
    );

    let (_dir2, log2) = log_with(6);
    let mut l = lines(&log2);
    l.swap(2, 5);
    write_lines(&log2, &l);
    let r = log2.verify(None).unwrap();
    assert!(
        matches!(r.first_problem(), Some(Problem::Reordered { line: 3, .. })),
        "{r}"
    );
}

#[test]
fn duplicated_line_is_reported() {
    let (_dir, log) = log_with(6);
    let mut l = lines(&log);
    let dup = l[2].clone();
    l.insert(3, dup);
    write_lines(&log, &l);
    let r = log.verify(None).unwrap();
    assert_eq!(
        r.first_problem(),
        Some(&Problem::Duplicated {
            line: 4,
            of_line: 3
        })
    );
    assert!(r.to_string().contains("duplicates line 3"), "{r}");
}

#[test]
fn garbage_line_is_unparseable() {
    let (_dir, log) = log_with(3);
    let mut l = lines(&log);
    l.insert(2, b"not json\n".to_vec());
    write_lines(&log, &l);
    let r = log.verify(None).unwrap();
    assert!(matches!(
        r.first_problem(),
        Some(Problem::Unparseable { line: 3, .. })
    ));
}

#[test]
fn torn_tail_is_reported_then_quarantined_by_next_append() {
    let (_dir, log) = log_with(4);
    let l = lines(&log);
    let whole: usize = l[..l.len() - 1].iter().map(Vec::len).sum();
    let last = l.last().unwrap();
    let half = &last[..last.len() / 2];
    let mut bytes = l[..l.len() - 1].concat();
    bytes.extend_from_slice(half);
    fs::write(log.path(), &bytes).unwrap();

    let r = log.verify(None).unwrap();
    assert_eq!(
        r.problems,
        vec![Problem::Torn {
            line: 5,
            offset: whole as u64,
            bytes: half.len() as u64
        }]
    );
    assert!(
        r.to_string().contains(&format!("byte offset {whole}")),
        "{r}"
    );
    // head ignores the torn bytes
    assert_eq!(log.head().unwrap().unwrap().seq, 3);

    let rec = log.append(entry(99)).unwrap();
    assert_eq!(rec.seq, 5);
    let recs = log.read_all().unwrap();
    let repair = &recs[4];
    assert_eq!(repair.action, "repair");
    assert_eq!(repair.seq, 4);
    assert_eq!(repair.details["offset"], json!(whole));
    assert_eq!(repair.details["bytes"], json!(half.len()));
    assert_eq!(
        repair.details["sha256"],
        json!(guardrail::pipeline::audit::sha256_hex(half))
    );
    let q = fs::read(log.quarantine_path()).unwrap();
    assert_eq!(&q[..half.len()], half);
    // Earlier lines untouched.
    assert_eq!(&fs::read(log.path()).unwrap()[..whole], &bytes[..whole]);
    let r = log.verify(None).unwrap();
    assert!(r.is_intact(), "{r}");
    assert_eq!(r.lines, 6);
}

#[test]
fn checkpoints_catch_a_log_cut_at_a_line_boundary() {
    let (_dir, log) = log_with(5);
    let cp = log.head().unwrap().unwrap();
    let tag_message = format!("Release prod-2025-11-14\nBUILD_ID: abc\n{cp}\n");
    let found = find_checkpoint(&tag_message).unwrap();
    assert_eq!(found, cp);
    assert_eq!(found.to_string().parse::<Checkpoint>().unwrap(), cp);

    let r = log.verify(Some(&found)).unwrap();
    assert!(r.is_intact(), "{r}");
    assert!(r.to_string().contains("checkpoint"), "{r}");

    // Later appends keep the checkpoint valid.
    log.append(entry(6)).unwrap();
    assert!(log.verify(Some(&found)).unwrap().is_intact());

    // Cut the last two lines off cleanly: the chain alone is intact...
    let l = lines(&log);
    write_lines(&log, &l[..l.len() - 2]);
    assert!(log.verify(None).unwrap().is_intact());
    // ...but not against the checkpoint.
    let r = log.verify(Some(&found)).unwrap();
    assert_eq!(
        r.problems,
        vec![Problem::CutShort {
            checkpoint: cp.clone(),
            last_seq: Some(4)
        }]
    );
    assert!(r.to_string().contains("cut short"), "{r}");

    // A checkpoint far beyond the end.
    let beyond = Checkpoint {
        seq: 1000,
        hash: "0".repeat(64),
    };
    assert!(matches!(
        log.verify(Some(&beyond)).unwrap().first_problem(),
        Some(Problem::CutShort { .. })
    ));

    // Same seq, different hash: the log was rewritten.
    let wrong = Checkpoint {
        seq: 2,
        hash: "f".repeat(64),
    };
    assert!(matches!(
        log.verify(Some(&wrong)).unwrap().first_problem(),
        Some(Problem::CheckpointMismatch { line: 3, .. })
    ));
}

#[test]
fn single_entry_hash_check() {
    let (_dir, log) = log_with(2);
    let l = lines(&log);
    let line = std::str::from_utf8(&l[1]).unwrap();
    assert!(entry_hash_ok(line));
    // Pretty-printed with other key order still checks.
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert!(entry_hash_ok(&serde_json::to_string_pretty(&v).unwrap()));
    assert!(!entry_hash_ok(&line.replace("alice", "mallory")));
    assert!(!entry_hash_ok("{}"));
    assert!(!entry_hash_ok("nonsense"));
}

/// Not a test on its own: when `CHILD_ENV` is set, this is one of the
/// concurrent writer processes of `concurrent_processes_append_whole_lines`.
#[test]
fn child_appender() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let id: usize = std::env::var("GUARDRAIL_TEST_CHILD_ID")
        .unwrap()
        .parse()
        .unwrap();
    let log = AuditLog::open(Path::new(&dir));
    for i in 0..500 {
        log.append(
            NewEntry::new(&format!("proc{id}"), "test", &format!("{i}"), "ok")
                .with_details(json!({ "proc": id, "i": i })),
        )
        .unwrap();
    }
}

#[test]
fn concurrent_processes_append_whole_lines() {
    // 4,000 fsyncs: use tmpfs when there is one so the test stays fast; the
    // locking under test is the same on any file system.
    let shm = Path::new("/dev/shm");
    let dir = if shm.is_dir() {
        tempfile::tempdir_in(shm).unwrap()
    } else {
        tempfile::tempdir().unwrap()
    };
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..8)
        .map(|id| {
            Command::new(&exe)
                .args(["--test-threads=1", "--quiet", "--exact"])
                .arg(crate::common::test_name(module_path!(), "child_appender"))
                .env(CHILD_ENV, dir.path())
                .env("GUARDRAIL_TEST_CHILD_ID", id.to_string())
                .stdout(std::process::Stdio::null())
                .spawn()
                .unwrap()
        })
        .collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    let log = AuditLog::open(dir.path());
    let recs = log.read_all().unwrap();
    assert_eq!(recs.len(), 4001);
    assert_eq!(recs.iter().filter(|r| r.action == "genesis").count(), 1);
    for id in 0..8 {
        let mine: Vec<u64> = recs
            .iter()
            .filter(|r| r.action == "test" && r.actor == format!("proc{id}"))
            .map(|r| r.details["i"].as_u64().unwrap())
            .collect();
        assert_eq!(mine, (0..500).collect::<Vec<u64>>(), "proc{id} in order");
    }
    let r = log.verify(None).unwrap();
    assert!(r.is_intact(), "{r}");
    assert_eq!(r.head.unwrap().seq, 4000);
}

mod raw_bytes {
    //! Hashes are over the stored bytes: a line with floats, odd strings or
    //! unicode in `details` verifies as written (a parse and re-serialise
    //! does not give back `1.1315470890000001`).

    use super::*;
    use proptest::prelude::*;

    fn detail_value() -> impl Strategy<Value = serde_json::Value> {
        let leaf = prop_oneof![
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(|f| json!(f)),
            (0u64..1_000_000_000_000, 1u32..18)
                .prop_map(|(m, e)| json!(m as f64 / 10f64.powi(e as i32))),
            any::<i64>().prop_map(|i| json!(i)),
            any::<u64>().prop_map(|i| json!(i)),
            any::<String>().prop_map(|s| json!(s)),
            "[\\PC\u{1F600}-\u{1F64F}\"\\\\\n\t]{0,12}".prop_map(|s| json!(s)),
            any::<bool>().prop_map(|b| json!(b)),
            Just(serde_json::Value::Null),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::Array),
                proptest::collection::btree_map(any::<String>(), inner, 0..4)
                    .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]
        #[test]
        fn any_details_verify_as_stored(
            details in proptest::collection::vec(("[a-z\u{e9}\u{4e2d}]{1,8}", detail_value()), 1..6),
            target in any::<String>(),
        ) {
            let dir = tempfile::tempdir().unwrap();
            let log = AuditLog::open(dir.path());
            let map: serde_json::Map<String, serde_json::Value> = details.into_iter().collect();
            let rec = log
                .append(NewEntry::new("alice", "rollback", &target, "OK").with_details(serde_json::Value::Object(map)))
                .unwrap();
            log.append(entry(1)).unwrap();
            let r = log.verify(None).unwrap();
            prop_assert!(r.is_intact(), "{}", r);
            prop_assert_eq!(r.lines, 3);
            // The record as a package stores it checks too.
            prop_assert!(entry_hash_ok(&rec.to_line()));
        }
    }

    #[test]
    fn the_float_that_broke_the_chain_verifies() {
        let (_dir, log) = log_with(1);
        log.append(
            NewEntry::new("alice", "rollback", "prod-2025-11-12", "OK")
                .with_details(json!({"seconds": 1.1315470890000001_f64, "ratio": 0.1 + 0.2})),
        )
        .unwrap();
        let text = fs::read_to_string(log.path()).unwrap();
        assert!(text.contains("1.131547089"), "{text}");
        let r = log.verify(None).unwrap();
        assert!(r.is_intact(), "{r}");
        // One changed digit in a float is still an edit.
        let mut l = lines(&log);
        let t = String::from_utf8(l[2].clone()).unwrap();
        l[2] = t.replacen("1.131547089", "1.131547088", 1).into_bytes();
        write_lines(&log, &l);
        assert_eq!(
            log.verify(None).unwrap().first_problem(),
            Some(&Problem::Edited { line: 3, seq: 2 })
        );
    }

    #[test]
    fn the_highest_checkpoint_wins_whatever_tag_holds_it() {
        use guardrail::pipeline::audit::highest_checkpoint;
        let (_dir, log) = log_with(3);
        let early = log.head().unwrap().unwrap();
        log.append(entry(8)).unwrap();
        log.append(entry(9)).unwrap();
        let late = log.head().unwrap().unwrap();
        let m_old = format!("Release prod-2025-11-13\n{late}\n");
        let m_new = format!("Release prod-2025-11-14\n{early}\n");
        let got = highest_checkpoint([
            ("prod-2025-11-14", Some(m_new.as_str())),
            ("prod-2025-11-13", Some(m_old.as_str())),
            ("prod-2025-11-12", None),
        ])
        .unwrap();
        assert_eq!(got, ("prod-2025-11-13".to_string(), late));
        assert_eq!(highest_checkpoint([("t", Some("no checkpoint"))]), None);
    }
}

/// Fifty real rollbacks through the binary (built-in publish, a real HTTP
/// server), each recording floats such as `seconds_to_verified`: the chain
/// they leave verifies.
#[test]
fn fifty_real_rollbacks_leave_the_chain_intact() {
    use crate::common::live::live_repo;
    use crate::common::{stderr, stdout};
    let l = live_repo("");
    let f = &l.f;
    for i in 0..50 {
        let out = f.guardrail(&["rollback", "--yes", "--reason", &format!("round {i}")]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "rollback {i}: {}{}",
            stdout(&out),
            stderr(&out)
        );
    }
    let text = fs::read_to_string(f.path().join(".git/guardrail/audit.jsonl")).unwrap();
    let rollbacks = text
        .lines()
        .filter(|l| l.contains("\"action\":\"rollback\"") && l.contains("\"result\":\"OK\""))
        .count();
    assert_eq!(rollbacks, 50);
    let out = f.guardrail(&["audit", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("intact"), "{}", stdout(&out));
}

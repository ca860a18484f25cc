//! `guardrail audit` and `guardrail lock` through the real binary: every
//! change and every refusal lands in the chain and the protocol audit log.
use crate::common;
use common::*;

fn state(f: &Fixture) -> std::path::PathBuf {
    f.path().join(".git/guardrail")
}

#[test]
fn freeze_refusals_and_force_are_recorded() {
    let f = mosaic_repo();
    let out = f.guardrail(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("audit log is empty"));

    // alice (not a release manager) freezes deploys.
    let out = f
        .guardrail_cmd(&["lock", "acquire", "--reason", "incident 42"])
        .env("USER", "alice")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let out = f.guardrail(&["lock", "status", "--json"]);
    let j = json(&out);
    assert_eq!(j["free"], false);
    assert_eq!(j["frozen"]["owner"], "alice");
    assert_eq!(j["frozen"]["reason"], "incident 42");

    let st = json(&f.guardrail(&["status", "--json"]));
    assert_eq!(st["lock"]["frozen"]["owner"], "alice");
    assert_eq!(st["lock"]["free"], false);
    assert!(stdout(&f.guardrail(&["status"])).contains("deploy lock: frozen by alice"));

    // A second freeze is refused with 3, naming the holder.
    let out = f.guardrail(&["lock", "acquire", "--reason", "me too"]);
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("alice"), "{}", stderr(&out));

    // bob may not lift alice's freeze, nor force it (not a release manager).
    let out = f
        .guardrail_cmd(&["lock", "release"])
        .env("USER", "bob")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = f
        .guardrail_cmd(&["lock", "release", "--force"])
        .env("USER", "bob")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("not a release manager"));

    // The release manager forces it open.
    let out = f.guardrail(&["lock", "release", "--force"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(
        json(&f.guardrail(&["lock", "status", "--json"]))["free"],
        true
    );

    let out = f.guardrail(&["audit", "show", "-n", "10", "--json"]);
    let recs = json(&out);
    let rows: Vec<(String, String, String)> = recs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["actor"].as_str().unwrap().to_string(),
                r["action"].as_str().unwrap().to_string(),
                r["result"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let want = [
        ("alice", "freeze", "OK"),
        ("tester", "freeze", "REFUSED"),
        ("bob", "unfreeze", "REFUSED"),
        ("bob", "unfreeze", "REFUSED"),
        ("tester", "unfreeze", "OK"),
    ];
    let tail: Vec<_> = rows
        .iter()
        .rev()
        .take(5)
        .rev()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(tail, want);

    let protocol = f.read(".verification_audit.log");
    assert!(
        protocol.contains("] freeze OK actor=alice\n  target: deploys\n  reason: incident 42"),
        "{protocol}"
    );
    assert_eq!(protocol.matches("REFUSED").count(), 3, "{protocol}");

    let out = f.guardrail(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
    assert!(stdout(&out).contains("intact"));
    assert!(
        stdout(&out).contains("no release checkpoint"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn verify_names_the_edited_line_and_exits_1() {
    let f = mosaic_repo();
    for r in ["a", "b", "c"] {
        let out = f.guardrail(&["lock", "acquire", "--reason", r]);
        let _ = out;
        let out = f.guardrail(&["lock", "release"]);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    }
    let path = state(&f).join("audit.jsonl");
    let text = std::fs::read_to_string(&path).unwrap();
    let edited = text.replacen("\"reason\":\"b\"", "\"reason\":\"B\"", 1);
    assert_ne!(text, edited);
    std::fs::write(&path, edited).unwrap();
    let out = f.guardrail(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let s = stdout(&out);
    assert!(s.contains("line 4"), "{s}");
    assert!(s.to_lowercase().contains("edit"), "{s}");
}

/// An older tag holding a later checkpoint than the newest tag: the chain cut
/// back to the newest tag's seq passes a check against the newest tag, so
/// `audit verify` must use the highest checkpoint, and say which tag it is.
#[test]
fn audit_verify_uses_the_highest_checkpoint_among_all_tags() {
    use guardrail::pipeline::audit::{AuditLog, NewEntry};
    let f = mosaic_repo();
    let log = AuditLog::open(&state(&f));
    for i in 0..3 {
        log.append(NewEntry::new("tester", "gate", &format!("b{i}"), "PASS"))
            .unwrap();
    }
    let early = log.head().unwrap().unwrap();
    let cut_len = std::fs::metadata(log.path()).unwrap().len();
    for i in 3..6 {
        log.append(NewEntry::new("tester", "rollback", &format!("t{i}"), "OK"))
            .unwrap();
    }
    let late = log.head().unwrap().unwrap();
    // The older tag (prod-2025-11-13) carries the later checkpoint, the
    // newest (prod-2025-11-13.2) the earlier one.
    let old_commit = f.commit_of(mosaic::TAG_ANNOTATED);
    let new_commit = f.commit_of(mosaic::GOLDEN);
    f.git(&["tag", "-d", mosaic::TAG_ANNOTATED]);
    f.git(&["tag", "-d", mosaic::GOLDEN]);
    f.tag_annotated(
        mosaic::TAG_ANNOTATED,
        &old_commit,
        &format!("Release {}\n\n{late}", mosaic::TAG_ANNOTATED),
    );
    f.tag_annotated(
        mosaic::GOLDEN,
        &new_commit,
        &format!("Release {}\n\n{early}", mosaic::GOLDEN),
    );

    let out = f.guardrail(&["audit", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(
        stdout(&out).contains(&format!(
            "seq {} from tag {}",
            late.seq,
            mosaic::TAG_ANNOTATED
        )),
        "{}",
        stdout(&out)
    );

    // Cut the chain back to the newest tag's checkpoint, at a line boundary.
    let bytes = std::fs::read(log.path()).unwrap();
    std::fs::write(log.path(), &bytes[..cut_len as usize]).unwrap();
    let out = f.guardrail(&["audit", "verify"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(stdout(&out).contains("cut short"), "{}", stdout(&out));
    let j = json(&f.guardrail(&["audit", "verify", "--json"]));
    assert_eq!(j["intact"], false);
    assert_eq!(j["checkpoint"]["tag"], mosaic::TAG_ANNOTATED);
    assert_eq!(j["checkpoint"]["seq"], late.seq);
}

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

//! Handoff packages committed on fixture branches, complete or with one
//! thing wrong, for tests of the checklist, status and the review screen.
use chrono::{TimeZone, Utc};
use guardrail::pipeline::handoff::{
    sha256_hex, slug, GateResult, GateSection, HandoffManifest, SnapshotSection,
};

use super::fixture::Fixture;
use super::trees::PNG_1X1;

/// The next free prod tag in the mosaic fixture (its tags end at 2025-11-13.2).
pub const NEXT_TAG: &str = "prod-2025-11-14";
pub const GATE_LOG: &[u8] = b"Running deploy gate...\n\
PS101 10-step flow walked end-to-end against this build? [yes/no/n/a]: yes\n\
Auth modal opens and signs in? [yes/no/n/a]: yes\n\
Deploy gate: PASS\n";

/// What to put in a package; `Pkg::default()` is a complete, ready one.
pub struct Pkg {
    pub result: GateResult,
    pub gate_log: bool,
    pub snapshot: bool,
    pub ps101: usize,
    /// `auth-modal.png` holds text instead of a PNG.
    pub fake_auth: bool,
    pub tag: String,
    /// audit.json edited after its hash was computed.
    pub tampered_audit: bool,
}

impl Default for Pkg {
    fn default() -> Self {
        Pkg {
            result: GateResult::Pass,
            gate_log: true,
            snapshot: true,
            ps101: 10,
            fake_auth: false,
            tag: NEXT_TAG.to_string(),
            tampered_audit: false,
        }
    }
}

/// An audit record whose hash recomputes: SHA-256 of the canonical JSON
/// (keys sorted, no whitespace) without `hash`, written here by hand.
pub fn audit_record(branch: &str, commit: &str, log_sha: &str) -> String {
    let body = format!(
        r#"{{"action":"gate","actor":"agent-7","details":{{"commit":"{commit}","gate_log_sha256":"{log_sha}"}},"prev":"{}","result":"PASS","seq":3,"target":"{branch}","time":"2025-11-14T22:47:26Z"}}"#,
        "0".repeat(64)
    );
    let hash = sha256_hex(body.as_bytes());
    format!("{},\"hash\":\"{hash}\"}}", &body[..body.len() - 1])
}

/// Commits `.handoff/<slug>/` on `branch` (checked out meanwhile) and
/// returns (the commit the gate ran on, the new head). Leaves main checked out.
pub fn package(f: &Fixture, branch: &str, p: &Pkg) -> (String, String) {
    f.checkout(branch);
    let gated = f.head();
    let dir = format!(".handoff/{}", slug(branch));
    let log_sha = sha256_hex(GATE_LOG);
    let m = HandoffManifest {
        branch: branch.to_string(),
        commit: gated.clone(),
        created: Utc.with_ymd_and_hms(2025, 11, 14, 22, 47, 26).unwrap(),
        author: "agent-7".into(),
        proposed_tag: p.tag.clone(),
        proposed_bundle: format!("backups/{}.zip", p.tag),
        summary: "Auth modal: remember me".into(),
        gate: GateSection {
            result: p.result,
            exit_code: if p.result == GateResult::Pass { 0 } else { 1 },
            log: "gate.log".into(),
            sha256: log_sha.clone(),
        },
        snapshot: SnapshotSection::default(),
    };
    f.write(&format!("{dir}/handoff.toml"), m.render());
    if p.gate_log {
        f.write(&format!("{dir}/gate.log"), GATE_LOG);
    }
    if p.snapshot {
        f.write(
            &format!("{dir}/snapshot.md"),
            "# Baseline snapshot\n\nwithin tolerance\n",
        );
    }
    let mut audit = audit_record(branch, &gated, &log_sha);
    if p.tampered_audit {
        audit = audit.replace("agent-7", "agent-8");
    }
    f.write(&format!("{dir}/audit.json"), audit);
    for i in 1..=p.ps101 {
        f.write(&format!("{dir}/evidence/ps101-step-{i:02}.png"), PNG_1X1);
    }
    if p.fake_auth {
        f.write(
            &format!("{dir}/evidence/auth-modal.png"),
            "not a screenshot, just a note\n",
        );
    } else {
        f.write(&format!("{dir}/evidence/auth-modal.png"), PNG_1X1);
    }
    let head = f.commit("Handoff package");
    f.checkout("main");
    (gated, head)
}

/// A new branch at `from`'s head with a ready-made package variant.
pub fn variant(f: &Fixture, name: &str, from: &str, p: &Pkg) {
    f.branch_at(name, from);
    package(f, name, p);
}

//! Parsers under hostile input: property tests (never panic, errors name a
//! line, render-then-parse is the identity where there is a writer) and the
//! inputs called out on purpose: BOM, CRLF, NUL, invalid UTF-8, a 10 MB
//! line, duplicate keys, U+2028, deeply nested JSON.
use guardrail::pipeline::audit::{entry_hash_ok, Record};
use guardrail::pipeline::baseline;
use guardrail::pipeline::config::Config;
use guardrail::pipeline::handoff::{HandoffManifest, LegacyManifest};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn config_never_panics_and_errors_name_a_line(text in "\\PC{0,200}") {
        if let Err(e) = Config::from_str(&text, "guardrail.toml") {
            let s = e.to_string();
            prop_assert!(s.starts_with("guardrail.toml line "), "{}", s);
            prop_assert_eq!(s.lines().count(), 1);
        }
    }

    #[test]
    fn config_like_text_never_panics(
        table in "(project|scripts|live|playbook|alerts|evil)",
        key in "[a-z_]{1,12}",
        value in "(\"[^\"\\n]{0,10}\"|[0-9]{1,5}|true|\\[\\]|\"[0-9]+(ms|s|m|h|x)\")",
    ) {
        let text = format!("[{table}]\n{key} = {value}\n");
        let _ = Config::from_str(&text, "g.toml");
    }

    #[test]
    fn audit_lines_never_panic(text in "\\PC{0,300}") {
        let _ = Record::parse(&text);
        let _ = entry_hash_ok(&text);
    }

    #[test]
    fn legacy_and_handoff_manifests_never_panic(text in "\\PC{0,300}") {
        let _ = LegacyManifest::parse(&text, "handoff_1.json");
        let _ = HandoffManifest::parse(&text, "handoff.toml");
    }

    #[test]
    fn baseline_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Err(e) = baseline::parse_bytes(&bytes, "deploy_baseline.env") {
            prop_assert!(e.to_string().contains("deploy_baseline.env"), "{}", e);
        }
    }
}

#[test]
fn special_inputs_are_errors_or_values_never_panics() {
    let bom = "\u{feff}[project]\nname = \"x\"\n";
    let _ = Config::from_str(bom, "g.toml");
    let crlf = "[project]\r\nname = \"Shop\"\r\n";
    assert_eq!(
        Config::from_str(crlf, "g.toml").unwrap().project.name,
        "Shop"
    );
    let nul = "[project]\nname = \"a\0b\"\n";
    let e = Config::from_str(nul, "g.toml").unwrap_err().to_string();
    assert!(e.contains("line 2"), "{e}");
    let dup = "[project]\nname = \"a\"\nname = \"b\"\n";
    let e = Config::from_str(dup, "g.toml").unwrap_err().to_string();
    assert!(e.contains("line 3"), "{e}");
    let sep = "[project]\nname = \"a\u{2028}b\"\n";
    assert!(Config::from_str(sep, "g.toml").is_ok());
    let long = format!("[project]\nname = \"{}\"\n", "x".repeat(10 << 20));
    assert_eq!(
        Config::from_str(&long, "g.toml")
            .unwrap()
            .project
            .name
            .len(),
        10 << 20
    );
    let long_env = format!("MOSAIC_UI_LINE_COUNT={}\n", "9".repeat(10 << 20));
    let e = baseline::parse(&long_env, "b.env").and_then(|b| b.metrics());
    assert!(e.is_err(), "a 10 MB number is not a line count");
    let nested = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(Record::parse(&nested).is_err());
    assert!(!entry_hash_ok(&nested));
    assert!(LegacyManifest::parse(&nested, "h.json").is_err());
    let e = baseline::parse_bytes(b"A=1\nB=\xff\xfe\n", "b.env")
        .unwrap_err()
        .to_string();
    assert!(e.contains("line 2"), "{e}");
}

#[test]
fn an_audit_record_round_trips_through_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let log = guardrail::pipeline::audit::AuditLog::open(dir.path());
    let rec = log
        .append(guardrail::pipeline::audit::NewEntry::new(
            "a",
            "gate",
            "b\u{2028}x",
            "PASS",
        ))
        .unwrap();
    let line = rec.to_line();
    assert_eq!(Record::parse(&line).unwrap(), rec);
    assert!(entry_hash_ok(&line));
}

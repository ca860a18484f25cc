//! Configuration: layering over the built-in defaults, and errors that name
//! file, line and key.
use std::time::Duration;

use guardrail::pipeline::config::{Checkout, Config, ConfigError, OnFailure};

fn err(text: &str) -> String {
    match Config::from_str(text, "guardrail.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_file_overrides_only_what_it_names() {
    let c = Config::from_str(
        "[project]\nname = \"Shop\"\n[scripts]\ntimeout = \"90s\"\n[playbook]\ncheckout = \"in-place\"\nrollback_on_failure = \"auto\"\n",
        "guardrail.toml",
    )
    .unwrap();
    assert_eq!(c.project.name, "Shop");
    assert_eq!(
        c.project.main_branch, "main",
        "untouched keys keep defaults"
    );
    assert_eq!(c.scripts.timeout.0, Duration::from_secs(90));
    assert_eq!(c.scripts.gate, "scripts/run_deploy_gate.sh");
    assert_eq!(c.playbook.checkout, Checkout::InPlace);
    assert_eq!(c.playbook.rollback_on_failure, OnFailure::Auto);
    assert_eq!(c.live.check.len(), 5);
}

#[test]
fn arrays_of_tables_replace_the_defaults() {
    let c = Config::from_str(
        "[live]\nurl = \"http://127.0.0.1:1\"\n[[live.check]]\nname = \"only\"\npath = \"/\"\nstatus = 204\n",
        "guardrail.toml",
    )
    .unwrap();
    assert_eq!(c.live.check.len(), 1);
    assert_eq!(c.live.check[0].status, Some(204));
    assert_eq!(c.live.url, "http://127.0.0.1:1");
    assert_eq!(c.live.poll.0, Duration::from_secs(30));
}

#[test]
fn baseline_mapping_merges_with_defaults() {
    let c = Config::from_str("[baseline.files]\nADMIN = \"admin/index.html\"\n", "g.toml").unwrap();
    assert_eq!(c.baseline.files["ADMIN"], "admin/index.html");
    assert_eq!(c.baseline.files["MOSAIC_UI"], "mosaic_ui/index.html");
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = err("[project]\nname = \"x\"\ncolour = \"red\"\n");
    assert!(
        e.starts_with("guardrail.toml line 3, key `project.colour`:"),
        "{e}"
    );
    assert!(e.contains("unknown key"), "{e}");
}

#[test]
fn unknown_table_names_its_line() {
    let e = err("[project]\nname = \"x\"\n\n[deploy]\nx = 1\n");
    assert!(e.starts_with("guardrail.toml line 4"), "{e}");
    assert!(e.contains("deploy"), "{e}");
}

#[test]
fn wrong_type_names_file_line_and_key() {
    let e = err("[playbook]\npush_tags = \"yes\"\n");
    assert!(
        e.starts_with("guardrail.toml line 2, key `playbook.push_tags`:"),
        "{e}"
    );
}

#[test]
fn bad_duration_names_file_line_and_key() {
    let e = err("[scripts]\ngate = \"g.sh\"\ntimeout = \"15 minutes\"\n");
    assert!(
        e.starts_with("guardrail.toml line 3, key `scripts.timeout`:"),
        "{e}"
    );
    assert!(e.contains("duration"), "{e}");
}

#[test]
fn bad_enum_value_is_an_error() {
    let e = err("[playbook]\nrollback_on_failure = \"sometimes\"\n");
    assert!(
        e.contains("line 2") && e.contains("rollback_on_failure"),
        "{e}"
    );
}

#[test]
fn syntax_error_names_the_line() {
    let e = err("[project]\nname = \"unterminated\n");
    assert!(e.starts_with("guardrail.toml line 2"), "{e}");
}

#[test]
fn error_is_one_sentence() {
    let e = err("[live]\npoll = 5\n");
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn unreadable_file_is_reported_with_its_path() {
    let dir = tempfile::tempdir().unwrap();
    // A directory where the file should be cannot be read, even as root.
    std::fs::create_dir(dir.path().join("guardrail.toml")).unwrap();
    match Config::load(dir.path()) {
        Err(ConfigError::Unreadable { file, .. }) => assert!(file.ends_with("guardrail.toml")),
        other => panic!("expected Unreadable, got {other:?}"),
    }
}

#[test]
fn invalid_utf8_names_the_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("guardrail.toml"),
        b"[project]\nname = \"\xff\"\n",
    )
    .unwrap();
    let e = Config::load(dir.path()).unwrap_err().to_string();
    assert!(e.contains("line 2") && e.contains("UTF-8"), "{e}");
}

#[test]
fn missing_file_means_defaults() {
    let dir = tempfile::tempdir().unwrap();
    assert_eq!(Config::load(dir.path()).unwrap(), Config::defaults());
}

#[test]
fn the_shipped_default_file_parses_as_a_repository_file() {
    let c = Config::from_str(
        guardrail::pipeline::config::DEFAULT_TOML,
        "assets/guardrail.default.toml",
    )
    .unwrap();
    assert_eq!(c, Config::defaults());
}

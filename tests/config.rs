//! Configuration: layering over the built-in defaults, and errors that name
//! file, line and key.
use std::time::Duration;

use crate::common;

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

/// A repository whose `main` commits `release_managers = ["alice"]`, whose
/// working tree changes `main_branch` and sets a `[live] url` with a
/// password, and a user file with a theme, a key and an `[authority]`.
fn layered_repo() -> common::Fixture {
    let f = common::Fixture::new();
    f.write_config("[project]\nname = \"Shop\"\n\n[authority]\nrelease_managers = [\"alice\"]\n");
    f.commit("config on main");
    f.write_config(
        "[project]\nname = \"Shop\"\nmain_branch = \"feature\"\n\n[authority]\nrelease_managers = [\"alice\"]\n\n[live]\nurl = \"http://bob:hunter2@127.0.0.1:9/\"\n\n[alerts]\nwebhook = \"http://127.0.0.1:9/hooks/T0/B0/sekrit?token=abc\"\n",
    );
    let user_dir = f.home().join(".config/guardrail");
    std::fs::create_dir_all(&user_dir).unwrap();
    std::fs::write(
        user_dir.join("config.toml"),
        "[ui]\ntheme = \"mono\"\n[keys]\nrollback = \"ctrl-b\"\n[authority]\nrelease_managers = [\"mallory\"]\n",
    )
    .unwrap();
    f
}

#[test]
fn config_command_names_each_values_source() {
    let f = layered_repo();
    let out = f.guardrail(&["config"]);
    let text = common::stdout(&out);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        common::stderr(&out)
    );
    let user_file = f.home().join(".config/guardrail/config.toml");
    let user_file = user_file.display();
    for line in [
        "release_managers = [\"alice\"]  # main:guardrail.toml:5".to_string(),
        "url = \"http://***@127.0.0.1:9/\"  # guardrail.toml:9".to_string(),
        "name = \"Shop\"  # guardrail.toml:2".to_string(),
        "main_branch = \"main\"  # default".to_string(),
        "timeout = \"15m\"  # default".to_string(),
        format!("theme = \"mono\"  # {user_file}:2"),
        format!("rollback = \"ctrl-b\"  # {user_file}:4"),
        "mouse = true  # default".to_string(),
    ] {
        assert!(
            text.lines().any(|l| l == line),
            "no line `{line}` in:\n{text}"
        );
    }
    assert!(!text.contains("hunter2"), "the password is shown:\n{text}");
    assert!(
        text.lines()
            .any(|l| l == "webhook = \"http://127.0.0.1:9/…\"  # guardrail.toml:12"),
        "{text}"
    );
    assert!(!text.contains("sekrit") && !text.contains("abc"), "{text}");
    let ignored = text.split("# ignored:").nth(1).unwrap_or_default();
    assert!(
        ignored.contains("[project] main_branch = \"feature\" in the working tree is ignored"),
        "{text}"
    );
    assert!(
        ignored.contains(&format!("{user_file}: [authority] is ignored")),
        "{text}"
    );
}

#[test]
fn config_json_has_each_value_source_and_the_ignored_keys() {
    let f = layered_repo();
    let out = f.guardrail(&["config", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", common::stderr(&out));
    let doc = common::json(&out);
    let s = &doc["settings"];
    assert_eq!(s["authority.release_managers"]["value"][0], "alice");
    assert_eq!(
        s["authority.release_managers"]["source"],
        "main:guardrail.toml:5"
    );
    assert_eq!(s["project.main_branch"]["value"], "main");
    assert_eq!(s["project.main_branch"]["source"], "default");
    assert_eq!(s["live.url"]["value"], "http://***@127.0.0.1:9/");
    assert_eq!(s["live.url"]["source"], "guardrail.toml:9");
    assert_eq!(s["scripts.timeout"]["value"], "15m");
    assert_eq!(s["scripts.timeout"]["source"], "default");
    assert_eq!(s["live.check"]["source"], "default");
    let user_file = f.home().join(".config/guardrail/config.toml");
    assert_eq!(doc["user_file"], user_file.display().to_string());
    assert_eq!(doc["user"]["ui.theme"]["value"], "mono");
    assert_eq!(
        doc["user"]["ui.theme"]["source"],
        format!("{}:2", user_file.display())
    );
    assert_eq!(doc["user"]["keys.rollback"]["value"], "ctrl-b");
    let ignored: Vec<&str> = doc["ignored"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert_eq!(ignored.len(), 2, "{ignored:?}");
    assert!(ignored[0].contains("[project] main_branch"), "{ignored:?}");
    assert!(ignored[1].contains("[authority] is ignored"), "{ignored:?}");
    assert_eq!(s["alerts.webhook"]["value"], "http://127.0.0.1:9/…");
    assert!(!common::stdout(&out).contains("hunter2"));
    assert!(!common::stdout(&out).contains("sekrit"));
}

#[test]
fn config_command_shows_main_branch_committed_on_the_default_branch() {
    let f = common::Fixture::new();
    f.write_config("[project]\nmain_branch = \"main\"\n[authority]\nrelease_managers = [\"carol\", \"dave\"]\n[[live.check]]\nname = \"up\"\npath = \"/\"\n");
    f.commit("config");
    let doc = common::json(&f.guardrail(&["config", "--json"]));
    let s = &doc["settings"];
    assert_eq!(s["project.main_branch"]["source"], "main:guardrail.toml:2");
    assert_eq!(
        s["authority.release_managers"]["source"],
        "main:guardrail.toml:4"
    );
    assert_eq!(s["live.check"]["source"], "guardrail.toml:5");
    assert_eq!(s["live.check"]["value"][0]["name"], "up");
    assert_eq!(doc["ignored"].as_array().unwrap().len(), 0);
    // A working-tree edit of the authority is listed as ignored, the
    // committed value stays.
    f.write_config("[authority]\nrelease_managers = [\"eve\"]\n[drill]\ntoken = \"forged\"\n");
    let doc = common::json(&f.guardrail(&["config", "--json"]));
    assert_eq!(
        doc["settings"]["authority.release_managers"]["value"][0],
        "carol"
    );
    assert!(doc["ignored"][0]
        .as_str()
        .unwrap()
        .contains("[authority] release_managers in the working tree is ignored"));
    assert_eq!(doc["settings"]["drill.token"]["value"], "");
    assert!(doc["ignored"][1]
        .as_str()
        .unwrap()
        .contains("[drill] token in the working tree is ignored"));
}

#[test]
fn config_command_with_a_bad_file_exits_2() {
    let f = common::Fixture::new();
    f.write_config("[project]\nname = \"x\"\ncolour = \"red\"\n");
    let out = f.guardrail(&["config"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stdout(&out));
    let err = common::stderr(&out);
    assert!(
        err.contains("guardrail.toml line 3, key `project.colour`"),
        "{err}"
    );
    assert!(common::stdout(&out).is_empty());
    // A bad user file too.
    f.write_config("");
    let user_dir = f.home().join(".config/guardrail");
    std::fs::create_dir_all(&user_dir).unwrap();
    std::fs::write(user_dir.join("config.toml"), "[ui]\ntheme = \"neon\"\n").unwrap();
    let out = f.guardrail(&["config", "--json"]);
    assert_eq!(out.status.code(), Some(2), "{}", common::stdout(&out));
    assert!(
        common::stderr(&out).contains("config.toml line 2"),
        "{}",
        common::stderr(&out)
    );
}

//! Safety rails (issue 14): no setting, archive, output or local edit can
//! destroy data, leak a secret or grant a release. Each test replays the
//! attack against the real binary (or the pipeline) and checks that it no
//! longer works.
use crate::common;

use std::path::Path;

use common::live::*;
use common::*;
use guardrail::pipeline::config::Config;

/// `git log` still works, every tag is there, the backup is intact.
fn assert_repository_intact(f: &Fixture) {
    let log = f.git(&["log", "--oneline", "-1"]);
    assert!(!log.is_empty());
    assert!(f.git(&["tag"]).contains(mosaic::GOLDEN));
    assert!(f.exists(&format!("backups/{}.zip", mosaic::TAG_ANNOTATED)));
    assert!(f.exists("guardrail.toml"));
}

/// Commits a configuration whose `[live] publish_dir` is `dir` on main.
fn publish_to(l: &Live, dir: &str) {
    let text = live_config(&l.server.url(), Path::new(dir), "");
    l.f.write_config(&text);
    l.f.commit("guardrail: publish somewhere dangerous");
}

#[test]
fn publish_dir_that_would_destroy_data_is_refused_with_exit_2() {
    let l = live_repo("");
    let f = &l.f;
    let repo_root = f.path().display().to_string();
    let home = f.home().display().to_string();
    let tmp = f.tempdir().display().to_string();
    let cases = [
        (repo_root.as_str(), "is the repository's working tree"),
        ("backups", "is backups_dir"),
        (".git", "is the git directory"),
        (
            "deploy_logs/site",
            "lies inside the repository's working tree",
        ),
        (home.as_str(), "is $HOME"),
        (tmp.as_str(), "contains the repository's working tree"),
        ("/", "is the root directory"),
    ];
    for (dir, relation) in cases {
        publish_to(&l, dir);
        let out = f.guardrail(&["rollback", mosaic::TAG_ANNOTATED, "--yes"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{dir}: {err}{}", stdout(&out));
        assert!(err.contains("[live] publish_dir"), "{dir}: {err}");
        assert!(err.contains(relation), "{dir}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
        assert_repository_intact(f);
        // Checked on load: even `status` refuses such a configuration.
        let out = f.guardrail(&["status"]);
        assert_eq!(out.status.code(), Some(2), "{dir}: {}", stderr(&out));
    }
    assert!(std::fs::read_dir(&l.site).unwrap().next().is_none());
    assert!(f.home().join("gitconfig-empty").exists());
}

#[test]
fn publish_dir_through_a_symlink_into_the_repository_is_refused() {
    let l = live_repo("");
    let f = &l.f;
    let link = f.tempdir().join("innocent");
    std::os::unix::fs::symlink(f.path(), &link).unwrap();
    publish_to(&l, &link.join("site").display().to_string());
    let out = f.guardrail(&["rollback", mosaic::TAG_ANNOTATED, "--yes"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("lies inside the repository's working tree"));
    assert_repository_intact(f);
}

#[test]
fn a_publish_dir_beside_the_repository_stays_legal() {
    // The drill's and the fixtures' layout: production next to the repo.
    let l = live_repo("");
    let f = &l.f;
    let out = f.guardrail(&["rollback", mosaic::TAG_ANNOTATED, "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(l.site.join("index.html").exists());
}

// ---------------------------------------------------------------------------
// Authority

#[test]
fn authority_comes_from_the_default_branch_never_from_a_local_edit() {
    let l = live_repo("");
    let f = &l.f;
    let url = l.server.url();
    // main: only alice.
    let main_cfg = live_config(&url, &l.site, "").replace("\"tester\"", "\"alice\"");
    f.write_config(&main_cfg);
    f.commit("guardrail: alice releases");
    // A feature branch grants root.
    f.checkout_new("feature/evil");
    f.write_config(&main_cfg.replace("[\"alice\"]", "[\"alice\", \"root\"]"));
    f.commit("guardrail: root too");
    f.checkout("main");
    // And the working tree points main_branch at it.
    f.write_config(&format!(
        "{}\n[project]\nmain_branch = \"feature/evil\"\n",
        main_cfg.replace("[\"alice\"]", "[\"alice\", \"root\"]")
    ));
    f.set_user("root");
    let out = f.guardrail(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["user"]["name"], "root");
    assert_eq!(j["user"]["release_manager"], false, "{j}");
    assert_eq!(j["main_branch"], "main");
    let err = stderr(&out);
    assert!(
        err.contains("main_branch = \"feature/evil\" in the working tree is ignored"),
        "{err}"
    );
    assert!(
        err.contains("release_managers in the working tree is ignored"),
        "{err}"
    );
    assert!(
        j["warnings"].as_array().unwrap().iter().any(|w| w
            .as_str()
            .unwrap()
            .contains("main_branch = \"feature/evil\"")),
        "{j}"
    );
    let out = f.guardrail(&["status"]);
    assert!(
        !stdout(&out).contains("(release manager)"),
        "{}",
        stdout(&out)
    );

    let out = f.guardrail(&["rollback", mosaic::TAG_ANNOTATED, "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("root is not a release manager"));
    assert!(std::fs::read_dir(&l.site).unwrap().next().is_none());

    // alice, named on main, still may.
    f.set_user("alice");
    let out = f.guardrail(&["rollback", mosaic::TAG_ANNOTATED, "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
}

#[test]
fn the_users_own_file_cannot_grant_authority() {
    use guardrail::pipeline::config::{Theme, UserConfig};
    let u = UserConfig::from_text(
        "[authority]\nrelease_managers = [\"root\"]\n[project]\nmain_branch = \"feature/evil\"\n[ui]\ntheme = \"mono\"\n",
        "config.toml",
    )
    .unwrap();
    assert_eq!(u.ui.theme, Theme::Mono);
    assert_eq!(u.warnings.len(), 2, "{:?}", u.warnings);
    assert!(u.warnings[0].contains("[authority] is ignored"));
    assert!(u.warnings[1].contains("main_branch is ignored"));
    // Other unknown keys are still errors.
    assert!(UserConfig::from_text("[project]\nname = \"x\"\n", "config.toml").is_err());
}

#[test]
fn the_main_branch_is_read_from_the_remotes_head() {
    let l = live_repo("");
    let f = &l.f;
    // origin's HEAD is `trunk`, whose committed file names the main branch
    // `release` and whose `release` branch names who may release.
    let trunk_cfg = format!(
        "{}\n[project]\nmain_branch = \"release\"\n",
        live_config(&l.server.url(), &l.site, "").replace("\"tester\"", "\"nobody\"")
    );
    f.checkout_new("trunk");
    f.write_config(&trunk_cfg);
    f.commit("trunk config");
    f.checkout_new("release");
    f.write_config(&trunk_cfg.replace("\"nobody\"", "\"carol\""));
    f.commit("release config");
    f.checkout("main");
    f.remote_tracking("origin", "trunk", &f.rev_parse("trunk"));
    f.git(&[
        "symbolic-ref",
        "refs/remotes/origin/HEAD",
        "refs/remotes/origin/trunk",
    ]);
    f.set_user("carol");
    let out = f.guardrail(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["main_branch"], "release");
    assert_eq!(j["user"]["release_manager"], true, "{j}");
    f.set_user("tester");
    let j = json(&f.guardrail(&["status", "--json"]));
    assert_eq!(j["user"]["release_manager"], false, "{j}");
}

#[test]
fn a_drill_marker_anyone_can_create_grants_nothing() {
    let l = live_repo("");
    let f = &l.f;
    let state = f.path().join(".git/guardrail");
    std::fs::create_dir_all(&state).unwrap();
    std::fs::write(state.join("drill"), "guardrail drill sandbox\n").unwrap();
    f.set_user("mallory");
    let out = f.guardrail(&["rollback", mosaic::TAG_ANNOTATED, "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(stderr(&out).contains("mallory is not a release manager"));
    // Nor a marker with a token that the committed configuration lacks, nor
    // a token in the working tree only.
    std::fs::write(state.join("drill"), "token: 0123456789abcdef\n").unwrap();
    f.write_config(&format!(
        "{}\n[drill]\ntoken = \"0123456789abcdef\"\n",
        f.read("guardrail.toml")
    ));
    let out = f.guardrail(&["rollback", mosaic::TAG_ANNOTATED, "--yes"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(std::fs::read_dir(&l.site).unwrap().next().is_none());
    let repo = guardrail::pipeline::repo::Repo::open(f.path()).unwrap();
    assert!(!repo.is_drill());
}

// ---------------------------------------------------------------------------
// Requests to anywhere

fn config_err(text: &str) -> String {
    match Config::from_str(text, "guardrail.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn zero_timeouts_are_refused_naming_the_key() {
    for (text, key, line) in [
        (
            "[live]\nurl = \"http://127.0.0.1:9\"\nrequest_timeout = \"0s\"\n",
            "live.request_timeout",
            3,
        ),
        ("[live]\ndeadline = \"0ms\"\n", "live.deadline", 2),
        ("[scripts]\n\ntimeout = \"0m\"\n", "scripts.timeout", 3),
        ("[alerts]\ntimeout = \"0s\"\n", "alerts.timeout", 2),
        (
            "[backup]\nmax_unpacked = \"0B\"\n",
            "backup.max_unpacked",
            2,
        ),
    ] {
        let e = config_err(text);
        assert!(
            e.starts_with(&format!("guardrail.toml line {line}, key `{key}`:")),
            "{e}"
        );
    }
    // "0s" stays "off" where the defaults say so.
    Config::from_str(
        "[live]\npoll = \"0s\"\n[scripts]\nidle_timeout = \"0s\"\n",
        "g",
    )
    .unwrap();
}

#[test]
fn link_local_and_metadata_addresses_are_refused_unless_allowed() {
    for url in [
        "http://169.254.169.254/",
        "http://169.254.10.1:8080/x",
        "http://[fe80::1]/",
        "http://[fd00:ec2::254]/",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://METADATA.google.internal./",
        "http://[::ffff:169.254.169.254]/",
        "http://2852039166/",
    ] {
        let e = config_err(&format!("[live]\nurl = \"{url}\"\n"));
        assert!(
            e.starts_with("guardrail.toml line 2, key `live.url`:") && e.contains("allow_private"),
            "{url}: {e}"
        );
        let e = config_err(&format!("[alerts]\nwebhook = \"{url}\"\n"));
        assert!(e.contains("key `alerts.webhook`"), "{url}: {e}");
        let ok = Config::from_str(
            &format!("[live]\nurl = \"{url}\"\nallow_private = true\n"),
            "g",
        );
        assert!(ok.is_ok(), "{url}: {ok:?}");
    }
    for url in [
        "http://127.0.0.1:8080/",
        "http://[::1]/",
        "http://localhost/",
        "https://example.org",
        "http://10.0.0.1/",
    ] {
        assert!(
            Config::from_str(&format!("[live]\nurl = \"{url}\"\n"), "g").is_ok(),
            "{url}"
        );
    }
}

#[test]
fn verify_against_the_metadata_address_fails_before_any_request() {
    // Nothing listens for this test: the command must stop at the
    // configuration, with exit 2, before a request is made.
    let f = mosaic_repo();
    f.write_config(&format!(
        "{}\n[live]\nurl = \"http://169.254.169.254/latest/meta-data/\"\nrequest_timeout = \"30s\"\ndeadline = \"30s\"\n",
        mosaic::CONFIG
    ));
    f.commit("metadata");
    let started = std::time::Instant::now();
    let out = f.guardrail(&["verify"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("live.url"), "{}", stderr(&out));
    assert!(started.elapsed() < secs(10));
    f.write_config(&format!(
        "{}\n[live]\nurl = \"http://127.0.0.1:9/\"\nrequest_timeout = \"0s\"\n",
        mosaic::CONFIG
    ));
    let out = f.guardrail(&["verify"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("live.request_timeout"),
        "{}",
        stderr(&out)
    );
    // The --url flag obeys the same rule.
    f.write_config(mosaic::CONFIG);
    let out = f.guardrail(&["verify", "--url", "http://[fd00:ec2::254]/"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("allow_private"), "{}", stderr(&out));
    assert!(started.elapsed() < secs(10));
}

// ---------------------------------------------------------------------------
// Archive bombs

/// `entries` plus a correct `MANIFEST.sha256`, deflated.
fn zip_with_manifest(path: &Path, entries: &[(&str, &[u8])]) {
    let mut lines: Vec<String> = entries
        .iter()
        .map(|(n, b)| format!("{}  {n}", guardrail::pipeline::backup::raw_hash(b)))
        .collect();
    lines.sort_by(|a, b| a[66..].cmp(&b[66..]));
    let manifest = lines.join("\n") + "\n";
    let mut all: Vec<(&str, &[u8])> = entries.to_vec();
    all.push(("MANIFEST.sha256", manifest.as_bytes()));
    write_zip_file(path, &all);
}

/// Every file under `dir`, with its size.
fn files_under(dir: &Path) -> Vec<(std::path::PathBuf, u64)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                out.push((e.path(), m.len()));
            }
        }
    }
    out
}

#[test]
fn a_backup_that_unpacks_past_max_unpacked_is_refused_before_a_byte_is_written() {
    let l = live_repo("\n[backup]\nmax_unpacked = \"1MiB\"\n");
    let f = &l.f;
    let zeros = vec![0u8; 8 << 20];
    let page = good_page("bomb");
    let zip = f.path().join(format!("backups/{}.zip", mosaic::GOLDEN));
    zip_with_manifest(
        &zip,
        &[
            ("mosaic_ui/index.html", page.as_bytes()),
            ("mosaic_ui/zeros.bin", &zeros),
        ],
    );
    assert!(
        std::fs::metadata(&zip).unwrap().len() < 100 << 10,
        "a small zip"
    );
    let out = f.guardrail(&["rollback", mosaic::GOLDEN, "--yes"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}{}", stdout(&out));
    assert!(err.contains("[backup] max_unpacked (1MiB)"), "{err}");
    assert!(std::fs::read_dir(&l.site).unwrap().next().is_none());
    let big: Vec<_> = files_under(&f.path().join(".git/guardrail"))
        .into_iter()
        .filter(|(_, n)| *n > 512 << 10)
        .collect();
    assert!(big.is_empty(), "{big:?}");
    let refused = audit_of(f, "rollback", "REFUSED");
    assert!(refused[0]["details"]["why"]
        .as_str()
        .unwrap()
        .contains("max_unpacked"));
}

/// Rewrites the sizes a zip declares for `entry` (local header and central
/// directory) to `size`, leaving the compressed data as it is.
fn lie_about_size(path: &Path, entry: &str, size: u32) {
    let mut bytes = std::fs::read(path).unwrap();
    let name = entry.as_bytes();
    let mut i = 0;
    let mut patched = 0;
    while i + 46 < bytes.len() {
        let sig = u32::from_le_bytes(bytes[i..i + 4].try_into().unwrap());
        if sig == 0x0403_4b50 && bytes[i + 30..].starts_with(name) {
            bytes[i + 22..i + 26].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
        if sig == 0x0201_4b50 && bytes[i + 46..].starts_with(name) {
            bytes[i + 24..i + 28].copy_from_slice(&size.to_le_bytes());
            patched += 1;
        }
        i += 1;
    }
    assert_eq!(patched, 2, "local header and central directory entry");
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_zip_whose_directory_lies_about_sizes_does_not_get_past() {
    use guardrail::pipeline::backup::{self, BackupError};
    let d = tempfile::tempdir().unwrap();
    let zip = d.path().join("liar.zip");
    let zeros = vec![0u8; 4 << 20];
    write_zip_file(
        &zip,
        &[
            ("mosaic_ui/index.html", b"<p>hi</p>\n"),
            ("mosaic_ui/zeros.bin", &zeros),
        ],
    );
    lie_about_size(&zip, "mosaic_ui/zeros.bin", 100);
    let dest = d.path().join("out/bundle");
    let e = backup::restore_within(&zip, &dest, 1 << 20).unwrap_err();
    assert!(matches!(e, BackupError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("counted while unpacking"), "{e}");
    assert!(!dest.exists());
    let written: u64 = files_under(&d.path().join("out")).iter().map(|f| f.1).sum();
    assert!(written <= 1 << 20, "{written}");
    let e = backup::inspect_within(&zip, 1 << 20, d.path()).unwrap_err();
    assert!(matches!(e, BackupError::TooLarge { .. }), "{e}");
}

#[test]
fn a_backup_larger_than_the_free_space_is_refused() {
    use guardrail::pipeline::backup::{self, BackupError};
    let d = tempfile::tempdir().unwrap();
    let zip = d.path().join("huge.zip");
    // 4096 entries, each claiming 4 GiB: 16 TiB, more than this disk has free.
    let names: Vec<String> = (0..4096)
        .map(|i| format!("mosaic_ui/f{i:04}.txt"))
        .collect();
    let entries: Vec<(&str, &[u8])> = names.iter().map(|n| (n.as_str(), &b"x"[..])).collect();
    write_zip_file(&zip, &entries);
    let mut bytes = std::fs::read(&zip).unwrap();
    for i in 0..bytes.len().saturating_sub(28) {
        if bytes[i..i + 4] == 0x0201_4b50u32.to_le_bytes() {
            bytes[i + 24..i + 28].copy_from_slice(&u32::MAX.to_le_bytes());
        }
    }
    std::fs::write(&zip, bytes).unwrap();
    assert!(
        guardrail::pipeline::protect::available_space(d.path()).unwrap() < 4096 * u32::MAX as u64
    );
    let e = backup::restore_within(&zip, &d.path().join("x"), u64::MAX).unwrap_err();
    assert!(matches!(e, BackupError::TooLarge { .. }), "{e}");
    assert!(e.to_string().contains("the free space in"), "{e}");
    assert!(!d.path().join("x").exists());
}

#[test]
fn an_evidence_file_larger_than_max_file_is_refused() {
    let f = mosaic_repo();
    f.write_config(&format!(
        "{}\n[evidence]\nmax_file = \"1MiB\"\n",
        mosaic::CONFIG
    ));
    f.commit("small evidence only");
    let ev = f.tempdir().join("shots");
    std::fs::create_dir_all(&ev).unwrap();
    for i in 1..=10 {
        std::fs::write(ev.join(format!("ps101-step-{i:02}.png")), trees::PNG_1X1).unwrap();
    }
    let mut big = trees::PNG_1X1.to_vec();
    big.resize(2 << 20, 0);
    std::fs::write(ev.join("auth-modal.png"), &big).unwrap();
    let out = f.guardrail(&[
        "handoff",
        "--branch",
        mosaic::AUTH_MODAL,
        "--evidence",
        ev.to_str().unwrap(),
    ]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(2), "{err}{}", stdout(&out));
    assert!(
        err.contains("auth-modal.png") && err.contains("[evidence] max_file (1MiB)"),
        "{err}"
    );
    assert!(!f.exists(".handoff"));
}

// ---------------------------------------------------------------------------
// Secrets stored in clear

const SECRET: &str = "supersecret123";

/// Files under `dir` holding the secret in clear or in the base64 of
/// `user:<secret>` (whose secret sits at a non-aligned offset).
fn leaks(dir: &Path) -> Vec<String> {
    let forms: [&[u8]; 3] = [
        SECRET.as_bytes(),
        b"dXNlcjpzdXBlcnNlY3JldDEyMw",
        b"zdXBlcnNlY3JldDEy",
    ];
    files_under(dir)
        .into_iter()
        .filter_map(|(p, _)| {
            let bytes = std::fs::read(&p).ok()?;
            forms
                .iter()
                .any(|f| bytes.windows(f.len()).any(|w| w == *f))
                .then(|| p.display().to_string())
        })
        .collect()
}

#[test]
fn a_scripts_secret_is_masked_in_every_stored_file_whatever_its_disguise() {
    let f = mosaic_repo();
    f.checkout_new("feature/leaky");
    f.write_script(
        "scripts/run_deploy_gate.sh",
        "#!/bin/bash\n\
         printf 'color super\\033[0msecret123\\n'\n\
         printf 'basic %s\\n' \"$(printf 'user:%s' \"$NETLIFY_AUTH_TOKEN\" | base64)\"\n\
         printf 'over XXXXXsecret123\\rsuper\\n'\n\
         printf 'json {\"t\":\"%s\"}\\n' \"$NETLIFY_AUTH_TOKEN\"\n\
         echo 'DEPLOY GATE: PASS'\n",
    );
    f.commit("a gate that leaks");
    f.checkout("main");
    let out = f
        .guardrail_cmd(&["gate", "feature/leaky"])
        .env("NETLIFY_AUTH_TOKEN", SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let so = stdout(&out);
    assert!(so.contains("color "), "{so}");
    let jobs = f.path().join(".git/guardrail/jobs");
    let logs: Vec<_> = files_under(&jobs)
        .into_iter()
        .filter(|(p, _)| p.ends_with("output.log"))
        .collect();
    assert!(!logs.is_empty());
    let log = std::fs::read_to_string(&logs[0].0).unwrap();
    assert!(log.contains("color ***\n"), "{log}");
    assert_eq!(leaks(&f.path().join(".git")), Vec::<String>::new());
    assert_eq!(leaks(f.path()), Vec::<String>::new());
}

#[test]
fn url_user_info_in_a_scripts_output_is_masked_in_its_log_and_on_screen() {
    let f = mosaic_repo();
    f.checkout_new("feature/cloner");
    // One URL whole, one split between two writes with a pause between
    // them (long enough to count as a prompt), one split at its `://`; the
    // script's own text never holds the password whole.
    f.write_script(
        "scripts/run_deploy_gate.sh",
        "#!/bin/bash\n\
         echo 'clone https://deployer:hunter''2pw@127.0.0.1/site.git'\n\
         printf 'push https://deployer:hunt'\n\
         sleep 0.4\n\
         printf 'er2pw@127.0.0.1/site.git done\\n'\n\
         printf 'fetch https:/'\n\
         sleep 0.3\n\
         printf '/ci:hunter''2pw@127.0.0.1 ok\\n'\n\
         echo 'DEPLOY GATE: PASS'\n",
    );
    f.commit("a gate that prints remote URLs");
    f.checkout("main");
    let out = f.guardrail(&["gate", "feature/cloner"]);
    let so = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}{so}", stderr(&out));
    assert!(
        so.contains("clone https://***@127.0.0.1/site.git")
            && so.contains("push https://***@127.0.0.1/site.git done")
            && so.contains("fetch https://***@127.0.0.1 ok"),
        "{so}"
    );
    assert!(
        !so.contains("hunter2pw") && !stderr(&out).contains("hunter2pw"),
        "{so}"
    );
    let logs: Vec<_> = files_under(&f.path().join(".git/guardrail/jobs"))
        .into_iter()
        .filter(|(p, _)| p.ends_with("output.log"))
        .collect();
    assert_eq!(logs.len(), 1, "{logs:?}");
    let log = std::fs::read_to_string(&logs[0].0).unwrap();
    assert!(
        log.contains("clone https://***@127.0.0.1/site.git\n")
            && log.contains("push https://***@127.0.0.1/site.git done\n")
            && log.contains("fetch https://***@127.0.0.1 ok\n"),
        "{log}"
    );
    for root in [f.path().join(".git"), f.path().to_path_buf()] {
        for (file, _) in files_under(&root) {
            let bytes = std::fs::read(&file).unwrap();
            assert!(!contains_bytes(&bytes, b"hunter2pw"), "{}", file.display());
        }
    }
}

fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}

#[test]
fn url_user_info_is_masked_in_the_audit_chain_and_the_protocol_log() {
    let l = live_repo("");
    let f = &l.f;
    let url = l
        .server
        .url()
        .replace("http://", "http://deployer:hunter2pw@");
    let out = f.guardrail(&["verify", "--url", &url]);
    assert!(matches!(out.status.code(), Some(0 | 1)), "{}", stderr(&out));
    let chain = std::fs::read_to_string(f.path().join(".git/guardrail/audit.jsonl")).unwrap();
    assert!(chain.contains("http://***@127.0.0.1"), "{chain}");
    for file in files_under(f.path()) {
        let text = String::from_utf8_lossy(&std::fs::read(&file.0).unwrap()).into_owned();
        assert!(!text.contains("hunter2pw"), "{}: {text}", file.0.display());
    }
}

#[test]
fn an_alert_commands_stderr_is_masked_as_stored() {
    let f = mosaic_repo();
    let script = f.tempdir().join("alert.sh");
    std::fs::write(
        &script,
        "#!/bin/bash\ncat >/dev/null\n\
         printf 'pager says super\\033[0msecret123 %s\\n' \"$(printf 'user:%s' \"$NETLIFY_AUTH_TOKEN\" | base64)\" >&2\n\
         exit 7\n",
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    f.write_config(&format!(
        "{}\n[alerts]\ncommand = '{}'\n",
        mosaic::CONFIG,
        script.display()
    ));
    let out = f
        .guardrail_cmd(&["deploy", mosaic::AUTH_MODAL, "--yes"])
        .env("USER", "mallory")
        .env("LOGNAME", "mallory")
        .env("NETLIFY_AUTH_TOKEN", SECRET)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let failed = audit_of(&f, "alert", "FAILED");
    assert_eq!(failed.len(), 1, "{failed:?}");
    let why = failed[0]["details"]["failed"]["command"].as_str().unwrap();
    assert!(
        why.starts_with("the command exited 7: pager says *** "),
        "{why}"
    );
    assert_eq!(leaks(&f.path().join(".git")), Vec::<String>::new());
    assert_eq!(leaks(f.path()), Vec::<String>::new());
}

// ---------------------------------------------------------------------------
// Attacks that already held, written down

#[test]
fn shell_metacharacters_in_a_branch_name_run_nothing() {
    let f = mosaic_repo();
    let evil = "feature/x$(touch${IFS}PWNED)`touch${IFS}PWNED2`;touch${IFS}PWNED3";
    f.checkout_new(evil);
    f.write_script(
        "scripts/run_deploy_gate.sh",
        "#!/bin/bash\necho \"branch: $GUARDRAIL_BRANCH\"\necho 'DEPLOY GATE: PASS'\n",
    );
    f.commit("a gate on an odd branch");
    f.checkout("main");
    let out = f.guardrail(&["gate", evil]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        stdout(&out).contains(&format!("branch: {evil}")),
        "{}",
        stdout(&out)
    );
    let out = f.guardrail(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(stdout(&out).contains("PWNED"), "the name is shown as it is");
    let planted: Vec<_> = files_under(f.tempdir())
        .into_iter()
        .filter(|(p, _)| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("PWNED"))
        })
        .collect();
    assert!(planted.is_empty(), "{planted:?}");
}

/// SSH drops in the middle of a rollback run from the console: it goes on to
/// its end — deploy, verification — and is recorded.
#[test]
fn a_rollback_goes_on_when_the_terminal_hangs_up_mid_deploy() {
    let l = live_repo("");
    let f = &l.f;
    f.checkout_new("tmp/slow");
    f.write(mosaic::MOSAIC_UI, good_page("slow"));
    f.write_script(
        "scripts/deploy_now_zsh.sh",
        "#!/bin/bash\nset -e\necho 'deploying slowly'\nsleep 2\nmkdir -p \"$SITE\"\ncp -R \"$NETLIFY_DEPLOY_DIR\"/. \"$SITE\"/\n",
    );
    let c = f.commit("slow deploy");
    f.checkout("main");
    f.tag_lightweight("prod-2025-11-21", &c);
    let mut t = f.console_command(&[], 120, 40).env("SITE", &l.site).spawn();
    t.wait_for("R rollback", secs(15)).unwrap();
    t.send("R");
    t.wait_for("y roll back", secs(15)).unwrap();
    t.send("y");
    t.wait_for("deploying slowly", secs(20)).unwrap();
    t.signal(libc::SIGHUP);
    std::thread::sleep(millis(300));
    assert!(
        t.try_exit().is_none(),
        "the console ended before its rollback"
    );
    assert_eq!(t.wait_exit(secs(40)), Some(0));
    let ok = audit_of(f, "rollback", "OK");
    assert_eq!(ok.len(), 1, "{ok:?}");
    assert_eq!(ok[0]["target"], "prod-2025-11-21");
    assert_eq!(live_record(f)["health"], "ok");
    let served = std::fs::read_to_string(l.site.join("index.html")).unwrap();
    assert!(served.contains("slow"), "{served}");
}

/// A configuration that did not come through the repository's loader (a
/// library caller) still cannot make the plan list backups as changes, nor
/// the publish replace them: the guard runs again just before the swap.
#[test]
fn the_guard_runs_again_just_before_the_swap() {
    use guardrail::pipeline::playbook::Event;
    use guardrail::pipeline::repo::Repo;
    use guardrail::pipeline::rollback;
    use guardrail::pipeline::runner::Answers;
    let l = live_repo("");
    let f = &l.f;
    let repo = Repo::open(f.path()).unwrap();
    let mut cfg = repo.config().unwrap();
    cfg.live.publish_dir = "backups".into();
    cfg.authority.release_managers = vec![guardrail::pipeline::repo::login_name()];
    let plan = rollback::plan(&repo, &cfg, Some(mosaic::TAG_ANNOTATED), false).unwrap();
    assert!(plan.diff.is_empty(), "{:?}", plan.diff);
    let mut events = Vec::new();
    let r = rollback::rollback(
        &repo,
        &cfg,
        &plan,
        "test",
        Answers::Closed,
        &mut |e: Event| events.push(format!("{e:?}")),
    );
    // The deploy step fails, naming the key; production is verified as it is.
    let why = match r {
        Ok(o) => {
            assert!(!o.deploy_ok && !o.verified);
            o.deployed
        }
        Err(e) => e.to_string(),
    };
    assert!(
        why.contains("[live] publish_dir") && why.contains("is backups_dir"),
        "{why}"
    );
    assert_repository_intact(f);
}

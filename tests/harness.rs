//! Self-tests of the shared test harness (`tests/common`) on ordinary
//! programs: the fixture builder, and the pty harness's screen, keys,
//! exit codes and terminal-restoration checks.

use crate::common;

use common::*;
use std::time::Duration;

// ------------------------------------------------------------------ fixture

#[test]
fn mosaic_repo_has_expected_refs() {
    let repo = mosaic_repo();
    let refs = repo.refs();
    for want in [
        "refs/heads/main",
        "refs/heads/feature/auth-modal",
        "refs/heads/feature/ps101",
        "refs/remotes/origin/feature/auth-modal",
        "refs/remotes/origin/feature/remote-only",
        "refs/tags/prod-2025-11-12",
        "refs/tags/prod-2025-11-13",
        "refs/tags/prod-2025-11-13.2",
    ] {
        assert!(refs.iter().any(|r| r == want), "{want} missing in {refs:?}");
    }
    assert_eq!(refs.len(), 8, "unexpected refs: {refs:?}");
    assert!(!refs.iter().any(|r| r.starts_with("refs/heads/tmp/")));
    assert_eq!(repo.current_branch(), "main");
    assert_eq!(repo.git(&["status", "--porcelain"]), "", "tree not clean");
}

#[test]
fn mosaic_repo_tags_lightweight_and_annotated() {
    let repo = mosaic_repo();
    assert_eq!(repo.object_type("refs/tags/prod-2025-11-12"), "commit");
    assert_eq!(repo.object_type("refs/tags/prod-2025-11-13"), "tag");
    assert_eq!(repo.object_type("refs/tags/prod-2025-11-13.2"), "tag");
    // Successive main commits, golden = main.
    let c1 = repo.commit_of("prod-2025-11-12");
    let c2 = repo.commit_of("prod-2025-11-13");
    let c3 = repo.commit_of("prod-2025-11-13.2");
    assert_eq!(repo.commit_of("main"), c3);
    assert_eq!(repo.commit_of(&format!("{c3}~1")), c2);
    assert_eq!(repo.commit_of(&format!("{c2}~1")), c1);
    // Deterministic dates from the fixture clock.
    assert_eq!(repo.commit_time(&c1), 1_762_941_600);
    let tagger = repo.git(&[
        "for-each-ref",
        "--format=%(taggerdate:unix) %(taggername)",
        "refs/tags/prod-2025-11-13",
    ]);
    assert_eq!(tagger, format!("1763028000 {AUTHOR_NAME}"));
    let subject = repo.git(&[
        "tag",
        "-l",
        "--format=%(contents:subject)",
        "prod-2025-11-13.2",
    ]);
    assert_eq!(subject, "Release prod-2025-11-13.2");
}

#[test]
fn mosaic_repo_branches_and_remote_tracking() {
    let repo = mosaic_repo();
    let ahead = |b: &str| repo.git(&["rev-list", "--count", &format!("main..{b}")]);
    assert_eq!(ahead("feature/auth-modal"), "1");
    assert_eq!(ahead("feature/ps101"), "2");
    assert_eq!(ahead("origin/feature/remote-only"), "1");
    assert_eq!(ahead("origin/feature/auth-modal"), "1");
    assert_eq!(
        repo.git(&["rev-list", "--count", "feature/ps101..main"]),
        "0"
    );
    // The remote-tracking auth-modal is a different, older commit.
    let local = repo.commit_of("refs/heads/feature/auth-modal");
    let remote = repo.commit_of("refs/remotes/origin/feature/auth-modal");
    assert_ne!(local, remote);
    assert!(
        repo.commit_time(&remote) < repo.commit_time(&local),
        "remote-tracking head must be older"
    );
    assert!(repo
        .try_git(&[
            "rev-parse",
            "--verify",
            "-q",
            "refs/heads/feature/remote-only"
        ])
        .is_err());
}

#[test]
fn mosaic_repo_files_baseline_and_backup() {
    let repo = mosaic_repo();
    let page = repo.read("mosaic_ui/index.html");
    for needle in ["authModal", "PS101State", "<!-- BUILD_ID:dev -->"] {
        assert!(page.contains(needle), "{needle} missing");
    }
    let wc = |p: &str| {
        let out = repo
            .command("wc")
            .arg("-l")
            .arg(p)
            .output()
            .expect("run wc");
        String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    let baseline = repo.read("deployment/deploy_baseline.env");
    assert!(
        baseline.contains(&format!(
            "MOSAIC_UI_LINE_COUNT={}\n",
            wc("mosaic_ui/index.html")
        )),
        "{baseline}"
    );
    assert!(baseline.contains(&format!(
        "FRONTEND_LINE_COUNT={}\n",
        wc("frontend/index.html")
    )));
    assert!(baseline.contains("MOSAIC_UI_LINE_TOLERANCE=5\n"));
    assert!(repo
        .read("guardrail.toml")
        .contains("release_managers = [\"tester\"]"));
    // The committed config on main is the same.
    assert_eq!(
        repo.git(&["show", "main:guardrail.toml"]) + "\n",
        repo.read("guardrail.toml")
    );

    // A real zip whose entry is the page as of prod-2025-11-13.
    let f = std::fs::File::open(repo.path().join("backups/prod-2025-11-13.zip")).unwrap();
    let mut z = zip::ZipArchive::new(f).expect("valid zip");
    assert_eq!(z.len(), 1);
    let mut entry = z.by_name("mosaic_ui/index.html").expect("entry");
    let mut text = String::new();
    std::io::Read::read_to_string(&mut entry, &mut text).unwrap();
    assert_eq!(
        text,
        repo.git(&["show", "prod-2025-11-13:mosaic_ui/index.html"]) + "\n"
    );
    assert_eq!(
        repo.git(&["status", "--porcelain", "--ignored"]),
        "!! backups/"
    );
}

#[test]
fn fixture_is_isolated_from_user_config() {
    let repo = Fixture::new();
    // No user/system config is read: only the repository's own config.
    let origins = repo.git(&["config", "--list", "--show-origin"]);
    for line in origins.lines() {
        assert!(
            line.starts_with("file:.git/config"),
            "config from outside the repo: {line}"
        );
    }
    repo.write("a.txt", "a\n");
    let sha = repo.commit("first");
    assert_eq!(sha.len(), 40);
    assert_eq!(
        repo.git(&["show", "-s", "--format=%an <%ae>|%cn <%ce>", "HEAD"]),
        format!("{AUTHOR_NAME} <{AUTHOR_EMAIL}>|{AUTHOR_NAME} <{AUTHOR_EMAIL}>")
    );
    // Auto clock advances; pinned dates stick.
    let t1 = repo.commit_time("HEAD");
    repo.commit("second");
    assert_eq!(repo.commit_time("HEAD"), t1 + 60);
    repo.set_date(Some("@1700000000 +0000"));
    repo.commit("third");
    assert_eq!(repo.commit_time("HEAD"), 1_700_000_000);

    // Same content and dates => same sha in another fixture: deterministic.
    let other = Fixture::new();
    other.write("a.txt", "a\n");
    assert_eq!(other.commit("first"), sha);

    // The isolated env names the user; SUDO_USER is removed.
    let env = isolated_env_as(repo.home(), "alice");
    assert!(env.contains(&("USER".to_string(), "alice".to_string())));
    assert!(env.contains(&("LOGNAME".to_string(), "alice".to_string())));
    // apply_isolation removes SUDO_USER (and git overrides) set earlier,
    // e.g. inherited from a sudo session.
    let mut cmd = std::process::Command::new("sh");
    cmd.env("SUDO_USER", "root").env("GIT_DIR", "/nonexistent");
    apply_isolation(&mut cmd, repo.home(), "tester");
    let out = cmd
        .args([
            "-c",
            "echo \"$HOME|$USER|$LOGNAME|${SUDO_USER-unset}|${GIT_DIR-unset}|$GIT_CONFIG_NOSYSTEM\"",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{}|tester|tester|unset|unset|1", repo.home().display())
    );
}

#[test]
fn git_failure_reports_stderr() {
    let repo = Fixture::new();
    let err = repo.try_git(&["rev-parse", "--verify", "no-such-branch"]);
    let msg = err.expect_err("must fail");
    assert!(
        msg.contains("git rev-parse --verify no-such-branch"),
        "{msg}"
    );
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        repo.git(&["checkout", "no-such-branch"]);
    }));
    assert!(panicked.is_err());
}

// ---------------------------------------------------------------------- pty

fn bash(script: &str) -> PtyCommand {
    PtyCommand::new("bash")
        .args(["--norc", "--noprofile", "-c", script])
        .env_remove("PROMPT_COMMAND")
}

const TUI_LIKE: &str = r#"printf '\e[?1049h\e[?25lhello from the alt screen'; read x; printf '\e[?25h\e[?1049lgot:%s\n' "$x""#;

#[test]
fn pty_alt_screen_cursor_and_input() {
    let mut t = bash(TUI_LIKE).size(80, 24).spawn();
    t.wait_for("hello from the alt screen", secs(10)).unwrap();
    assert!(t.alternate_screen());
    assert!(t.hide_cursor());
    assert!(t.alternate_screen_entered());
    assert!(!t.alternate_screen_left());
    assert!(!t.cursor_visible_at_end());
    t.send_line("abc");
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    assert!(t.alternate_screen_left(), "{}", t.restoration_report());
    assert!(t.cursor_visible_at_end(), "{}", t.restoration_report());
    assert!(!t.alternate_screen());
    assert!(!t.hide_cursor());
    // Back on the main screen, with what was printed after leaving.
    t.wait_for("got:abc", secs(2)).unwrap();
    assert!(!t.screen_text().contains("hello from the alt screen"));
    assert_terminal_restored(&t);
}

#[test]
fn pty_detects_terminal_left_broken() {
    // Enters the alt screen, hides the cursor, turns raw mode on, exits.
    let mut t = bash(r#"stty raw -echo; printf '\e[?1049h\e[?25lbroken'; exit 3"#).spawn();
    assert_eq!(t.wait_exit(secs(10)), Some(3));
    assert!(t.alternate_screen_entered());
    assert!(!t.alternate_screen_left());
    assert!(!t.cursor_visible_at_end());
    let tio = t.termios().expect("termios readable on linux");
    assert!(!tio.echo() && !tio.icanon(), "{tio:?}");
    assert!(!tio.cooked());
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        assert_terminal_restored(&t)
    }));
    assert!(r.is_err(), "assert_terminal_restored must fail here");
}

#[test]
fn pty_termios_restored_after_raw_mode() {
    let mut t =
        bash(r#"stty raw -echo; printf ready; read -r -n1 x; stty sane; printf 'done:%s' "$x""#)
            .spawn();
    t.wait_for("ready", secs(10)).unwrap();
    // While the program runs, the pty is in raw mode.
    let tio = t.termios().unwrap();
    assert!(!tio.echo() && !tio.icanon(), "{tio:?}");
    t.send("z");
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    t.wait_for("done:z", secs(2)).unwrap();
    assert!(t.termios().unwrap().cooked());
}

#[test]
fn pty_termios_matches_stty() {
    let mut t = bash("stty -a; stty -echo; stty -a; printf 'END\\n'")
        .size(100, 30)
        .spawn();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    t.wait_for("END", secs(2)).unwrap();
    let text = t.screen_text();
    // First stty -a: echo on, icanon on, size 30 rows 100 columns.
    assert!(text.contains("rows 30; columns 100"), "{text}");
    let words: Vec<&str> = text.split_whitespace().collect();
    assert!(
        words.contains(&"echo") && words.contains(&"-echo"),
        "{text}"
    );
    assert!(words.contains(&"icanon"));
    // The second stty -a's -echo is what the pty holds after exit.
    let tio = t.termios().unwrap();
    assert!(!tio.echo() && tio.icanon(), "{tio:?}");
}

#[test]
fn pty_size_and_resize() {
    let mut t = bash(
        r#"stty size; trap 'printf "winch:"; stty size' WINCH; printf 'armed\n'; until read -r -t 0.1 x; do :; done; printf 'bye\n'"#,
    )
    .size(120, 40)
    .spawn();
    t.wait_for("armed", secs(10)).unwrap();
    assert!(t.screen_text().starts_with("40 120"), "{}", t.screen_text());
    t.resize(90, 30);
    assert_eq!(t.size(), (90, 30));
    t.wait_for("winch:30 90", secs(10)).unwrap();
    t.send_line("");
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

#[test]
fn pty_keys_reach_the_program() {
    // od shows what arrives: arrows, Esc, Tab, Enter (CR -> as raw bytes).
    let mut t = bash(r#"stty raw -echo; printf 'go\r\n'; x=$(dd bs=1 count=12 2>/dev/null | od -An -tx1 | tr -s ' \n' ' '); stty sane; printf 'keys:%s\n' "$x""#)
        .spawn();
    t.wait_for("go", secs(10)).unwrap();
    t.send_key(Key::Up); // 1b 5b 41
    t.send_key(Key::Esc); // 1b
    t.send_key(Key::Tab); // 09
    t.send_key(Key::Enter); // 0d
    t.send_key(Key::Char('q')); // 71
    t.send_key(Key::Char('?')); // 3f
    t.send_key(Key::Ctrl('c')); // 03 (raw mode: no signal)
    t.send_key(Key::Down); // 1b 5b 42 -> 12 bytes... plus one more
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    t.wait_for("keys:", secs(2)).unwrap();
    let text = t.screen_text();
    assert!(
        text.contains("keys: 1b 5b 41 1b 09 0d 71 3f 03 1b 5b 42"),
        "{text}"
    );
}

#[test]
fn pty_wait_for_times_out_with_screen_dump() {
    let mut t = bash("printf 'something else'; sleep 30").spawn();
    t.wait_for("something else", secs(10)).unwrap();
    let err = t
        .wait_for("never printed", Duration::from_millis(300))
        .unwrap_err();
    assert!(err.contains("timed out"), "{err}");
    assert!(err.contains("|something else"), "{err}");
    assert_eq!(t.wait_exit(Duration::from_millis(100)), None);
    t.kill();
    assert_eq!(t.exit_status(), Some(Exit::Signal(libc::SIGKILL)));
}

#[test]
fn pty_wait_for_fails_fast_when_program_exits() {
    let t = bash("printf 'short'; exit 0").spawn();
    let start = std::time::Instant::now();
    let err = t.wait_for("never", secs(20)).unwrap_err();
    assert!(err.contains("exited"), "{err}");
    assert!(start.elapsed() < secs(10));
}

#[test]
fn pty_exit_codes_signals_and_rss() {
    let mut t = bash("exit 7").spawn();
    assert_eq!(t.wait_exit(secs(10)), Some(7));
    assert!(t.max_rss_kib().unwrap() > 0);

    let mut t = bash("kill -TERM $$").spawn();
    assert_eq!(t.wait_exit(secs(10)), None);
    assert_eq!(t.exit_status(), Some(Exit::Signal(libc::SIGTERM)));
}

#[test]
fn pty_env_is_passed() {
    let repo = Fixture::new();
    let mut t = bash(r#"printf '%s|%s|%s|%s' "$TERM" "$USER" "$HOME" "$PWD""#)
        .envs(isolated_env_as(repo.home(), "carol"))
        .cwd(repo.path())
        .size(200, 5)
        .spawn();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    t.wait_for("xterm-256color|carol|", secs(2)).unwrap();
    let text = t.screen_text();
    assert!(
        text.contains(&format!(
            "|{}|{}",
            repo.home().display(),
            repo.path().display()
        )),
        "{text}"
    );
}

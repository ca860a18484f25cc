//! `guardrail completions bash|zsh|fish`, `guardrail man` and `--version`
//! through the real binary: the scripts parse in real shells, and a real
//! bash (and zsh) completes the fixture repository's branch and tag names.
use std::path::Path;
use std::process::Command;

use crate::common;
use common::*;

/// main with one commit; feature branches `feature/login` and `fe-cart`
/// (local), `fe-remote` (remote-tracking only), `other`; prod tags and a
/// tag that is not a prod tag.
fn refs_repo() -> Fixture {
    let f = Fixture::new();
    f.write("index.html", "<h1>hello</h1>\n");
    f.commit("init");
    f.branch("feature/login").branch("fe-cart").branch("other");
    f.remote_tracking("origin", "fe-remote", "main");
    f.tag_lightweight("prod-2026-01-02", "main");
    f.tag_annotated("prod-2026-01-01", "main", "first");
    f.tag_lightweight("v1", "main");
    f
}

/// Write the script for `shell` into the fixture's temp dir.
fn script(f: &Fixture, shell: &str) -> std::path::PathBuf {
    let out = f.guardrail(&["completions", shell]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(!out.stdout.is_empty(), "the {shell} script is empty");
    let path = f.tempdir().join(format!("guardrail.{shell}"));
    std::fs::write(&path, &out.stdout).unwrap();
    path
}

/// PATH with the guardrail binary first, as an installed guardrail would be.
fn path_with_guardrail() -> String {
    let bin = guardrail_bin();
    format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    )
}

/// Source the bash script in a real bash, set COMP_WORDS/COMP_CWORD as
/// bash does for `words` (the last being completed), call the function
/// `complete -p guardrail` names and print COMPREPLY, one a line.
fn bash_complete(f: &Fixture, script: &Path, cwd: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words
        .iter()
        .map(|w| format!("'{}'", w.replace('\'', "'\\''")))
        .collect();
    let line = words.join(" ");
    let program = format!(
        r#"source "$1" || exit 9
fn=$(complete -p guardrail | sed -n 's/.*-F \([^ ]*\).*/\1/p')
[ -n "$fn" ] || exit 8
COMP_WORDS=({words})
COMP_CWORD=$(( ${{#COMP_WORDS[@]}} - 1 ))
COMP_LINE='{line}'
COMP_POINT=${{#COMP_LINE}}
"$fn" guardrail "${{COMP_WORDS[COMP_CWORD]}}" "${{COMP_WORDS[COMP_CWORD-1]}}"
printf '%s\n' "${{COMPREPLY[@]}}"
"#,
        words = quoted.join(" "),
    );
    let out = f
        .command("bash")
        .args(["--norc", "--noprofile", "-c", &program, "bash"])
        .arg(script)
        .current_dir(cwd)
        .env("PATH", path_with_guardrail())
        .output()
        .expect("run bash");
    assert_eq!(out.status.code(), Some(0), "bash: {}", stderr(&out));
    let mut got: Vec<String> = stdout(&out)
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect();
    got.sort();
    got
}

#[test]
fn bash_script_parses_and_completes_branch_and_tag_names_from_the_repository() {
    let f = refs_repo();
    let script = script(&f, "bash");
    let out = Command::new("bash")
        .arg("-n")
        .arg(&script)
        .output()
        .unwrap();
    assert!(out.status.success(), "bash -n: {}", stderr(&out));

    // `guardrail deploy fe<TAB>` in the repository: its branches starting
    // with "fe", local and remote-tracking; not main, not `other`.
    let got = bash_complete(&f, &script, f.path(), &["guardrail", "deploy", "fe"]);
    assert_eq!(got, ["fe-cart", "fe-remote", "feature/login"]);
    for sub in ["check", "snapshot", "gate"] {
        let got = bash_complete(&f, &script, f.path(), &["guardrail", sub, "fe"]);
        assert_eq!(got, ["fe-cart", "fe-remote", "feature/login"], "{sub}");
    }

    // From elsewhere, with -C naming the repository (and a flag before it).
    let got = bash_complete(
        &f,
        &script,
        f.tempdir(),
        &[
            "guardrail",
            "-C",
            f.path().to_str().unwrap(),
            "deploy",
            "--yes",
            "feat",
        ],
    );
    assert_eq!(got, ["feature/login"]);
    // `~` in -C is the home directory, as the shell would expand it.
    assert_eq!(f.home().parent(), f.path().parent());
    let got = bash_complete(
        &f,
        &script,
        f.tempdir(),
        &["guardrail", "-C", "~/../repo", "check", "feat"],
    );
    assert_eq!(got, ["feature/login"]);

    // `guardrail rollback <TAB>`: prod tags only, not `v1`.
    let got = bash_complete(&f, &script, f.path(), &["guardrail", "rollback", ""]);
    assert_eq!(got, ["prod-2026-01-01", "prod-2026-01-02"]);

    // Everything else is still clap's: subcommands and flags.
    let got = bash_complete(&f, &script, f.path(), &["guardrail", "roll"]);
    assert_eq!(got, ["rollback"]);
    let got = bash_complete(&f, &script, f.path(), &["guardrail", "deploy", "--y"]);
    assert_eq!(got, ["--yes"]);
    // The hidden helper is not offered.
    let got = bash_complete(&f, &script, f.path(), &["guardrail", "__"]);
    assert!(got.is_empty(), "{got:?}");
}

#[test]
fn complete_refs_lists_branches_and_prod_tags() {
    let f = refs_repo();
    let out = f.guardrail(&["__complete-refs", "branches"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "fe-cart\nfe-remote\nfeature/login\nother\n");
    let out = f.guardrail(&["__complete-refs", "tags"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "prod-2026-01-02\nprod-2026-01-01\n");
    // Hidden from help.
    let help = stdout(&f.guardrail(&["--help"]));
    assert!(help.contains("completions"), "{help}");
    assert!(!help.contains("__complete-refs"), "{help}");
}

#[test]
fn zsh_script_parses_and_its_ref_functions_list_the_repository() {
    let f = refs_repo();
    let script = script(&f, "zsh");
    let out = Command::new("zsh").arg("-n").arg(&script).output().unwrap();
    assert!(out.status.success(), "zsh -n: {}", stderr(&out));
    let text = std::fs::read_to_string(&script).unwrap();
    // check, snapshot, gate and deploy complete branches; rollback tags.
    assert_eq!(text.matches(":_guardrail_branches'").count(), 4, "{text}");
    assert_eq!(text.matches(":_guardrail_tags'").count(), 1, "{text}");
    assert!(!text.contains("'__complete-refs:"));

    // Call the functions in a real zsh, `_describe` replaced by a print of
    // the names it is given (compsys itself needs a terminal).
    let program = r#"compdef() { :; }
_describe() { print -l -- ${(P)4}; }
source "$1" || exit 9
words=(guardrail -C "$2" deploy fe)
_guardrail_branches
words=(guardrail -C "$2" rollback "")
_guardrail_tags
"#;
    let out = f
        .command("zsh")
        .args(["-f", "-c", program, "zsh"])
        .arg(&script)
        .arg(f.path())
        .current_dir(f.tempdir())
        .env("PATH", path_with_guardrail())
        .output()
        .expect("run zsh");
    assert_eq!(out.status.code(), Some(0), "zsh: {}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "fe-cart\nfe-remote\nfeature/login\nother\nprod-2026-01-02\nprod-2026-01-01\n"
    );
}

#[test]
fn fish_script_is_generated_with_ref_completion() {
    let f = refs_repo();
    let text = std::fs::read_to_string(script(&f, "fish")).unwrap();
    assert!(text.contains("complete -c guardrail"), "{text}");
    assert!(
        text.contains("__fish_guardrail_using_subcommand check snapshot gate deploy\" -f -a \"(__fish_guardrail_refs branches)\""),
        "{text}"
    );
    assert!(text.contains("(__fish_guardrail_refs tags)"), "{text}");
    // An unknown shell is bad input.
    let out = f.guardrail(&["completions", "powershell"]);
    assert_eq!(out.status.code(), Some(2));
}

const SUBCOMMANDS: [&str; 17] = [
    "status",
    "check",
    "snapshot",
    "default-config",
    "handoff",
    "gate",
    "verify",
    "jobs",
    "deploy",
    "rollback",
    "drift",
    "audit",
    "lock",
    "drill",
    "completions",
    "man",
    "help",
];

/// groff reads the page without a warning (`-ww`: all of them).
fn assert_groff_clean(page: &Path) {
    let out = Command::new("groff")
        .args(["-k", "-Tutf8", "-man", "-ww", "-z"])
        .arg(page)
        .output()
        .expect("run groff (groff-base)");
    assert!(out.status.success(), "groff: {}", stderr(&out));
    assert!(
        out.stderr.is_empty(),
        "groff {}: {}",
        page.display(),
        stderr(&out)
    );
}

#[test]
fn man_page_is_roff_naming_every_subcommand() {
    let f = Fixture::new();
    let out = f.guardrail(&["man"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let page = stdout(&out);
    // clap_mangen opens with two lines defining \*(Aq, then the title.
    let first_macro = page
        .lines()
        .find(|l| l.starts_with(".TH") || l.starts_with(".SH"))
        .unwrap();
    assert!(first_macro.starts_with(".TH guardrail 1"), "{page}");
    assert!(page.contains(".SH SUBCOMMANDS"), "{page}");
    for sub in SUBCOMMANDS {
        let entry = format!("guardrail\\-{}(1)", sub.replace('-', "\\-"));
        assert!(page.contains(&entry), "{entry} missing:\n{page}");
    }
    assert!(!page.contains("complete\\-refs"), "{page}");
    let path = f.tempdir().join("guardrail.1");
    std::fs::write(&path, &page).unwrap();
    assert_groff_clean(&path);

    // --dir: one page per command, each one groff reads cleanly.
    let dir = f.tempdir().join("man1");
    std::fs::create_dir(&dir).unwrap();
    let out = f.guardrail(&["man", "--dir", dir.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    for sub in SUBCOMMANDS.iter().filter(|s| **s != "help") {
        let p = dir.join(format!("guardrail-{sub}.1"));
        assert!(p.is_file(), "{} missing", p.display());
        assert_groff_clean(&p);
    }
    assert_groff_clean(&dir.join("guardrail.1"));
    assert!(!dir.join("guardrail-__complete-refs.1").exists());

    // A directory that does not exist: one sentence naming it, exit 2.
    let missing = f.tempdir().join("no-such-dir");
    let out = f.guardrail(&["man", "--dir", missing.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("no-such-dir"), "{}", stderr(&out));
}

#[test]
fn version_names_the_commit_it_was_built_from() {
    let out = Command::new(guardrail_bin())
        .arg("--version")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v = stdout(&out);
    let want_head = Command::new("git")
        .args(["rev-parse", "--short", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    assert!(
        want_head.status.success(),
        "the tests run in a git checkout"
    );
    let head = String::from_utf8(want_head.stdout).unwrap();
    assert_eq!(
        v.trim(),
        format!("guardrail {} ({})", env!("CARGO_PKG_VERSION"), head.trim())
    );
}

//! Puts the commit guardrail is built from into `--version`
//! (`GUARDRAIL_VERSION`, e.g. `0.1.0 (1a2b3c4)`). Outside a git checkout
//! (a source tarball) `GUARDRAIL_BUILD_COMMIT` names it, or the version says
//! `commit unknown`.
use std::path::Path;
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let s = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// Build again when HEAD moves: HEAD itself, the branch it points at, and
/// packed-refs (where the branch may live after `git gc`).
fn watch_head() {
    let mut paths = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        paths.push(branch);
    }
    for p in paths {
        if let Some(path) = git(&["rev-parse", "--path-format=absolute", "--git-path", &p]) {
            if Path::new(&path).exists() {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
}

/// Whether the manifest directory is the top of a git working tree.
fn is_own_checkout() -> bool {
    let Some(top) = git(&["rev-parse", "--show-toplevel"]) else {
        return false;
    };
    let canon = |p: &Path| std::fs::canonicalize(p).ok();
    canon(Path::new(&top)).is_some()
        && canon(Path::new(&top)) == canon(Path::new(env!("CARGO_MANIFEST_DIR")))
}

fn main() {
    println!("cargo:rerun-if-env-changed=GUARDRAIL_BUILD_COMMIT");
    println!("cargo:rerun-if-changed=build.rs");
    let from_env = std::env::var("GUARDRAIL_BUILD_COMMIT")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let commit = match from_env {
        Some(c) => Some(c.trim().to_string()),
        // Only this crate's own checkout: a tarball unpacked inside some
        // other repository must not take that repository's commit.
        None if is_own_checkout() => {
            watch_head();
            git(&["rev-parse", "--short", "HEAD"])
        }
        None => None,
    };
    let version = env!("CARGO_PKG_VERSION");
    let full = match commit {
        Some(c) => format!("{version} ({c})"),
        None => format!("{version} (commit unknown)"),
    };
    println!("cargo:rustc-env=GUARDRAIL_VERSION={full}");
}

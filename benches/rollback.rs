//! Rollback benchmark: time from calling `rollback::rollback()` to all
//! checks ✅ (`seconds_to_verified`), on a sandbox: a git repository with a
//! small bundle (`mosaic_ui/`: index.html plus `BENCH_FILES` assets, default
//! 20), two prod tags, a guardrail backup of one of them, and a local HTTP
//! server (tests/common/http.rs) serving `[live] publish_dir`, with the three
//! usual checks plus "serves the tagged build".
//!
//! Two set-ups, `BENCH_RUNS` rollbacks each (default 7, alternating between
//! the two tags, after one warm-up):
//!
//! - built-in: no scripts; restore, stamp, copy to the publish directory,
//!   verify, record;
//! - scripts: the tags' trees carry a trivial deploy script (`cp -R`) and a
//!   trivial verify script (`exit 0`), so each rollback also checks out the
//!   tag (git worktree) and runs two processes.
//!
//! The target is ≤ 1 s of guardrail's own overhead: with a local server
//! answering at once, all of `seconds_to_verified` is overhead.
//!
//! Run: `cargo bench --bench rollback`.

#[path = "../tests/common/http.rs"]
mod http;

use std::path::Path;
use std::process::Command;

use guardrail::pipeline::backup::{self, Source};
use guardrail::pipeline::repo::{login_name, Repo};
use guardrail::pipeline::rollback;
use guardrail::pipeline::runner::Answers;
use http::HttpServer;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn git(dir: &Path, args: &[&str]) {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "bench")
        .env("GIT_AUTHOR_EMAIL", "bench@example.org")
        .env("GIT_COMMITTER_NAME", "bench")
        .env("GIT_COMMITTER_EMAIL", "bench@example.org")
        .output()
        .expect("run git");
    assert!(
        out.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn page(rev: &str) -> String {
    let mut s = format!("<!DOCTYPE html>\n<html>\n<body>\n<header>Mosaic {rev}</header>\n");
    s.push_str("<div id=\"authModal\" hidden></div>\n");
    for i in 1..=10 {
        s.push_str(&format!("<section data-step=\"{i}\">Step {i}</section>\n"));
    }
    s.push_str(
        "<script>const PS101State = {};</script>\n<!-- BUILD_ID:dev -->\n</body>\n</html>\n",
    );
    s
}

fn write(root: &Path, rel: &str, body: &str, exec: bool) {
    use std::os::unix::fs::PermissionsExt;
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(&p, body).unwrap();
    if exec {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

/// A sandbox repository; returns its path and the server (kept alive).
fn sandbox(dir: &Path, with_scripts: bool, files: usize) -> HttpServer {
    let repo = dir.join("repo");
    let site = dir.join("site");
    std::fs::create_dir_all(&repo).unwrap();
    std::fs::create_dir_all(&site).unwrap();
    let server = HttpServer::serve_dir(&site);
    git(&repo, &["init", "-q", "-b", "main"]);
    let config = format!(
        "[authority]\nrelease_managers = [\"{user}\"]\n\n\
         [live]\nurl = \"{url}\"\npublish_dir = \"{site}\"\ndeadline = \"3s\"\n\
         request_timeout = \"500ms\"\npoll = \"0s\"\n\n\
         [[live.check]]\nname = \"site reachable\"\npath = \"/\"\nstatus = 200\n\n\
         [[live.check]]\nname = \"auth modal\"\npath = \"/\"\ncontains = [\"authModal\"]\n\n\
         [[live.check]]\nname = \"build id\"\npath = \"/\"\nbuild_id = true\n",
        user = login_name(),
        url = server.url(),
        site = site.display(),
    );
    write(&repo, "guardrail.toml", &config, false);
    write(&repo, ".gitignore", "backups/\n", false);
    if with_scripts {
        write(
            &repo,
            "scripts/deploy_now_zsh.sh",
            &format!(
                "#!/bin/sh\nrm -rf '{0}'/* && cp -R \"$NETLIFY_DEPLOY_DIR\"/. '{0}'/\n",
                site.display()
            ),
            true,
        );
        write(
            &repo,
            "scripts/verify_live_deployment.sh",
            "#!/bin/sh\nexit 0\n",
            true,
        );
    }
    for (i, rev) in ["r1", "r2"].iter().enumerate() {
        write(&repo, "mosaic_ui/index.html", &page(rev), false);
        for n in 0..files {
            write(
                &repo,
                &format!("mosaic_ui/assets/file{n}.js"),
                &format!("// {rev}\nconst item{n} = {n};\n").repeat(50),
                false,
            );
        }
        git(&repo, &["add", "-A"]);
        git(&repo, &["commit", "-q", "-m", rev]);
        git(&repo, &["tag", &format!("prod-2025-11-1{}", i + 2), "HEAD"]);
    }
    // A guardrail backup of the newer tag; the older one goes from its tree.
    let r = Repo::open(&repo).unwrap();
    let cfg = r.config().unwrap();
    let oid = r
        .git
        .revparse_single("prod-2025-11-13")
        .unwrap()
        .peel_to_commit()
        .unwrap()
        .id();
    backup::write_backup(&r, &cfg, "prod-2025-11-13", Source::Commit(oid)).unwrap();
    server
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn measure(label: &str, with_scripts: bool, runs: usize, files: usize) -> f64 {
    let tmp = tempfile::tempdir().unwrap();
    let _server = sandbox(tmp.path(), with_scripts, files);
    let repo = Repo::open(&tmp.path().join("repo")).unwrap();
    let cfg = repo.config().unwrap();
    let tags = ["prod-2025-11-12", "prod-2025-11-13"];
    let mut times = Vec::new();
    let mut by_source: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for i in 0..=runs {
        let tag = tags[i % 2];
        let plan = rollback::plan(&repo, &cfg, Some(tag), false).unwrap();
        let o = rollback::rollback(&repo, &cfg, &plan, "bench", Answers::Closed, &mut |_| {})
            .unwrap_or_else(|e| panic!("rollback to {tag}: {e}"));
        assert!(
            o.verified,
            "the benchmark's rollbacks must verify: {:#?}",
            o.verify
        );
        assert!(o.verify.checks.iter().all(|c| c.attempts == 1));
        let t = o.seconds_to_verified.unwrap();
        if i > 0 {
            times.push(t);
            by_source[i % 2].push(t);
        }
    }
    let m = median(times.clone());
    let max = times.iter().cloned().fold(0.0, f64::max);
    let min = times.iter().cloned().fold(f64::MAX, f64::min);
    println!(
        "  {label:<9} median {:6.1} ms (min {:.1}, max {:.1}); from the tree {:.1} ms, from the backup {:.1} ms",
        m * 1000.0,
        min * 1000.0,
        max * 1000.0,
        median(by_source[0].clone()) * 1000.0,
        median(by_source[1].clone()) * 1000.0,
    );
    m
}

fn main() {
    let runs = env_usize("BENCH_RUNS", 7).max(2);
    let files = env_usize("BENCH_FILES", 20);
    println!(
        "rollback bench: call to verified, {runs} rollbacks per set-up after 1 warm-up, bundle of {} files",
        files + 1
    );
    let a = measure("built-in", false, runs, files);
    let b = measure("scripts", true, runs, files);
    let worst = a.max(b);
    println!(
        "  target ≤ 1000 ms of guardrail's own overhead: {}",
        if worst <= 1.0 { "met" } else { "NOT met" }
    );
}

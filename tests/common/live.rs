//! A production to deploy to and roll back: the mosaic fixture with a real
//! HTTP server on 127.0.0.1 serving `<tmp>/site` (the `[live] publish_dir`),
//! `guardrail.toml` on main pointing at it with short deadlines and three
//! checks (status 200, contains `authModal`, `build_id = true`), and helpers
//! for feature branches with a ready handoff package and a passing gate.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use guardrail::pipeline::backup::content_hash;

use super::fixture::{mosaic, mosaic_page, mosaic_repo, Fixture};
use super::http::HttpServer;
use super::packages::{package, Pkg};

pub struct Live {
    pub f: Fixture,
    pub server: HttpServer,
    /// The publish directory the server serves.
    pub site: PathBuf,
}

/// The gate every sandbox branch carries: passes at once.
pub const PASSING_GATE: &str = "#!/bin/bash\necho PASS\n";

/// The `[live]` configuration for `url` and `site`; `extra` is appended.
pub fn live_config(url: &str, site: &Path, extra: &str) -> String {
    format!(
        "[authority]\nrelease_managers = [\"{rm}\"]\n\n\
         [live]\nurl = \"{url}\"\npublish_dir = \"{site}\"\ndeadline = \"3s\"\n\
         request_timeout = \"500ms\"\npoll = \"0s\"\n\n\
         [[live.check]]\nname = \"site reachable\"\npath = \"/\"\nstatus = 200\n\n\
         [[live.check]]\nname = \"auth modal\"\npath = \"/\"\ncontains = [\"authModal\"]\n\n\
         [[live.check]]\nname = \"build id\"\npath = \"/\"\nbuild_id = true\n\
         {extra}",
        rm = mosaic::RELEASE_MANAGER,
        site = site.display(),
    )
}

/// The mosaic fixture with a live site (empty until something is deployed)
/// and the configuration committed on main; `extra` goes at the end of
/// `guardrail.toml` (e.g. `[playbook]\nrollback_on_failure = "auto"\n`).
pub fn live_repo(extra: &str) -> Live {
    let f = mosaic_repo();
    let site = f.tempdir().join("site");
    std::fs::create_dir_all(&site).unwrap();
    let server = HttpServer::serve_dir(&site);
    f.write_config(&live_config(&server.url(), &site, extra));
    // The gate the feature branches carry is main's too: a branch that
    // changed it would need a release manager's acknowledgement (guard).
    f.write_script("scripts/run_deploy_gate.sh", PASSING_GATE);
    f.commit("guardrail: live site");
    Live { f, server, site }
}

/// A good page for a feature branch (same line count as main's).
pub fn good_page(rev: &str) -> String {
    mosaic_page(rev, &["  <footer>auth modal: remember me</footer>"])
}

/// A page whose auth modal is gone (same line count).
pub fn page_without_auth_modal(rev: &str) -> String {
    good_page(rev).replace("authModal", "signinBox")
}

/// Branch `name` off main with `page` as `mosaic_ui/index.html`, the
/// passing gate, and a ready handoff package proposing `tag`. Leaves main
/// checked out.
pub fn feature_branch(f: &Fixture, name: &str, page: &str, tag: &str) {
    f.checkout("main");
    f.checkout_new(name);
    f.write(mosaic::MOSAIC_UI, page);
    f.write_script("scripts/run_deploy_gate.sh", PASSING_GATE);
    f.commit(&format!("{name}: change"));
    package(
        f,
        name,
        &Pkg {
            tag: tag.to_string(),
            ..Pkg::default()
        },
    );
}

/// Every file under `dir` by content hash (BUILD_ID aside), keyed by path
/// relative to `dir`.
pub fn served_files(dir: &Path) -> BTreeMap<String, String> {
    guardrail::pipeline::backup::bundle_manifest(dir, "")
}

/// The files of a zip under `prefix/`, by content hash, keyed relative to
/// `prefix`.
pub fn zip_bundle(path: &Path, prefix: &str) -> BTreeMap<String, String> {
    use std::io::Read;
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    let pre = format!("{prefix}/");
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        if e.is_dir() {
            continue;
        }
        let Some(rel) = e.name().strip_prefix(&pre).map(str::to_string) else {
            continue;
        };
        let mut buf = Vec::new();
        e.read_to_end(&mut buf).unwrap();
        out.insert(rel, content_hash(&buf));
    }
    out
}

/// The BUILD_ID values in a page.
pub fn build_ids(page: &[u8]) -> Vec<String> {
    guardrail::pipeline::verify::build_ids(page)
}

/// `live.json` of the fixture's state directory.
pub fn live_record(f: &Fixture) -> serde_json::Value {
    let p = f.path().join(".git/guardrail/live.json");
    serde_json::from_slice(&std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
        .unwrap()
}

/// The audit chain's records (parsed JSON lines).
pub fn audit_records(f: &Fixture) -> Vec<serde_json::Value> {
    let p = f.path().join(".git/guardrail/audit.jsonl");
    std::fs::read_to_string(p)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Records of `action` with `result`.
pub fn audit_of(f: &Fixture, action: &str, result: &str) -> Vec<serde_json::Value> {
    audit_records(f)
        .into_iter()
        .filter(|r| r["action"] == action && r["result"] == result)
        .collect()
}

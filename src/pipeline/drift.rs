//! Drift (SPEC §6 `drift`, protocol §6): has anything the golden build
//! certified changed outside a release?
//!
//! - **committed**: the watched files (`[project] watch`) on the main
//!   branch's head against the golden build (the newest prod tag);
//! - **working tree**: the watched files on disk in this box's working tree
//!   against the golden build, read from disk (the index is not looked at;
//!   untracked files under a watched path count). Only files whose content
//!   on disk is neither the golden build's nor main's are listed, so a
//!   committed change is not reported twice; the counts are against golden;
//! - **baseline**: each `[baseline] file` value that differs from the
//!   golden build's, on main or in the working tree (same rule), old → new.
//!   The protocol allows a baseline change only as an intentional change,
//!   so it is reported on its own;
//! - **live** (asked for with `fetch_live`, and only with a live record and
//!   `[live] url`): one GET of `/`, whose BUILD_ID must be the live record's
//!   and whose content (BUILD_ID aside) must be the live commit's
//!   `<bundle_dir>/index.html`. A site that cannot be reached is reported
//!   (`error`) but is not drift: live verification is for that.
//!
//! No prod tag yet: nothing is certified, so there is no drift (a note
//! says so). [`check`] reads only; [`notify`] turns a change in the drift
//! into one `drift` or `drift-cleared` alert.
use std::path::Path;
use std::time::Duration;

use super::common::sha256_hex;
use git2::Oid;
use serde::Serialize;
use serde_json::json;

use super::alerts::{self, Event, Kind};
use super::baseline::{self, DiffStatus, FileDiff};
use super::config::Config;
use super::repo::{ProdTag, Repo, RepoError};
use super::state::LiveRecord;
use super::verify;

/// The [`alerts`] key drift alerts are de-duplicated under.
pub const ALERT_KEY: &str = "drift";

#[derive(Debug, thiserror::Error)]
pub enum DriftError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("git: {0}")]
    Git(#[from] git2::Error),
}

impl DriftError {
    /// The exit code a command ends with on this error (SPEC §6).
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        match self {
            DriftError::Repo(_) => exit::BAD_INPUT,
            DriftError::Git(_) => exit::STEP_FAILED,
        }
    }
}

/// One watched file that differs from the golden build.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileDrift {
    pub path: String,
    /// `added`, `deleted` or `modified` (against golden).
    pub status: String,
    /// Lines added / removed against golden (0 for binary files).
    pub added: usize,
    pub removed: usize,
    /// The unified diff against golden (capped like the snapshot's).
    pub patch: String,
}

impl From<FileDiff> for FileDrift {
    fn from(d: FileDiff) -> Self {
        FileDrift {
            path: d.path,
            status: d.status.as_str().to_string(),
            added: d.added,
            removed: d.removed,
            patch: d.patch,
        }
    }
}

/// One baseline value that differs from the golden build's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BaselineChange {
    pub key: String,
    /// The golden build's value (`None`: not set there).
    pub golden: Option<String>,
    /// The value now (`None`: removed).
    pub now: Option<String>,
    /// `main` or `working tree`.
    #[serde(rename = "where")]
    pub where_: String,
}

/// The live site against the live record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LiveDrift {
    pub url: String,
    /// The live record's tag (`None`: an untagged build).
    pub tag: Option<String>,
    /// The live record's BUILD_ID.
    pub expected_build_id: String,
    /// The first BUILD_ID the page carries (`None`: none, or not fetched).
    pub served_build_id: Option<String>,
    pub build_id_matches: bool,
    /// Whether `/` is the live commit's `<bundle_dir>/index.html`, BUILD_ID
    /// aside (`None`: not compared).
    pub content_matches: Option<bool>,
    /// Why the page could not be fetched (then nothing is compared).
    pub error: Option<String>,
    pub drift: bool,
}

/// What [`check`] found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DriftReport {
    /// The golden build (newest prod tag), `None` when there is none.
    pub golden: Option<String>,
    pub golden_commit: Option<String>,
    /// The main branch's head (`None`: no main branch).
    pub main_head: Option<String>,
    /// `[project] watch`.
    pub watch: Vec<String>,
    /// Watched files on main's head that differ from golden.
    pub committed: Vec<FileDrift>,
    /// Watched files on disk that differ from golden and from main.
    pub working: Vec<FileDrift>,
    /// Baseline values that differ from golden's.
    pub baseline_changes: Vec<BaselineChange>,
    /// The live site (only when asked for and possible).
    pub live: Option<LiveDrift>,
    /// Any of the above.
    pub drift: bool,
    /// What could not be compared, and why.
    pub notes: Vec<String>,
    /// The golden build was released from a branch not merged into main:
    /// `live is <tag> from <branch>, not merged into main` (main's
    /// difference from it is that, not a change committed on main).
    pub unmerged: Option<String>,
}

fn changed(d: &FileDiff) -> bool {
    !matches!(d.status, DiffStatus::Unchanged | DiffStatus::Absent)
}

fn blob_at(repo: &Repo, tree: &git2::Tree, path: &str) -> Option<Vec<u8>> {
    let entry = tree.get_path(Path::new(path)).ok()?;
    let blob = repo.git.find_blob(entry.id()).ok()?;
    Some(blob.content().to_vec())
}

/// The file on disk is exactly what `tree` holds (both absent counts).
fn disk_matches(repo: &Repo, tree: &git2::Tree, path: &str) -> bool {
    let disk = std::fs::read(repo.root.join(path)).ok();
    disk == blob_at(repo, tree, path)
}

/// Baseline values in file order; `None` when the file cannot be parsed
/// (a note says why). A missing file has no values.
fn baseline_vars(
    bytes: Option<Vec<u8>>,
    where_: &str,
    cfg: &Config,
    notes: &mut Vec<String>,
) -> Option<Vec<(String, String)>> {
    let Some(bytes) = bytes else {
        return Some(Vec::new());
    };
    let source = format!("{} ({where_})", cfg.baseline.file);
    match baseline::parse_bytes(&bytes, &source) {
        Ok(b) => Some(b.vars.into_iter().map(|(k, v, _)| (k, v)).collect()),
        Err(e) => {
            notes.push(format!("the baseline could not be compared: {e}"));
            None
        }
    }
}

fn lookup<'a>(vars: &'a [(String, String)], key: &str) -> Option<&'a str> {
    vars.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// Keys of `a` then the keys only `b` has, in file order.
fn union_keys(a: &[(String, String)], b: &[(String, String)]) -> Vec<String> {
    let mut keys: Vec<String> = a.iter().map(|(k, _)| k.clone()).collect();
    for (k, _) in b {
        if !keys.contains(k) {
            keys.push(k.clone());
        }
    }
    keys
}

/// Compares the watched files and the baseline with the golden build, and
/// with `fetch_live` the live site with the live record (see the module
/// documentation). Reads only; the live fetch is bounded by
/// `[live] request_timeout`.
pub fn check(repo: &Repo, cfg: &Config, fetch_live: bool) -> Result<DriftReport, DriftError> {
    check_with_tags(repo, cfg, fetch_live, &repo.prod_tags(cfg)?)
}

/// [`check`] with the prod tags already read (`status` reads them anyway;
/// on a repository with thousands of tags a second read costs).
pub fn check_with_tags(
    repo: &Repo,
    cfg: &Config,
    fetch_live: bool,
    tags: &[ProdTag],
) -> Result<DriftReport, DriftError> {
    let watch = cfg.project.watch.clone();
    let mut rep = DriftReport {
        golden: None,
        golden_commit: None,
        main_head: None,
        watch: watch.clone(),
        committed: Vec::new(),
        working: Vec::new(),
        baseline_changes: Vec::new(),
        live: None,
        drift: false,
        notes: Vec::new(),
        unmerged: None,
    };
    let main = repo.main_head(&cfg.project.main_branch);
    rep.main_head = main.map(|o| o.to_string());
    match tags.last() {
        None => rep.notes.push(format!(
            "there is no prod tag ({}YYYY-MM-DD) yet, so no golden build to compare with: no drift",
            cfg.project.tag_prefix
        )),
        Some(golden) => {
            rep.golden = Some(golden.name.clone());
            rep.golden_commit = Some(golden.commit.clone());
            let gtree = repo
                .git
                .find_commit(Oid::from_str(&golden.commit)?)?
                .tree()?;
            let main_tree = match main {
                Some(m) => Some(repo.git.find_commit(m)?.tree()?),
                None => {
                    rep.notes.push(format!(
                        "the main branch `{}` does not exist: committed drift not checked",
                        cfg.project.main_branch
                    ));
                    None
                }
            };
            if let Some(mt) = &main_tree {
                rep.committed = baseline::diff_watched(&repo.git, &gtree, mt, &watch)?
                    .into_iter()
                    .filter(changed)
                    .map(FileDrift::from)
                    .collect();
            }
            rep.working = baseline::diff_watched_workdir(&repo.git, &gtree, &watch)?
                .into_iter()
                .filter(changed)
                .filter(|d| {
                    !main_tree
                        .as_ref()
                        .is_some_and(|mt| disk_matches(repo, mt, &d.path))
                })
                .map(FileDrift::from)
                .collect();
            rep.baseline_changes =
                baseline_changes(repo, cfg, &gtree, main_tree.as_ref(), &mut rep.notes);
            rep.unmerged = unmerged_release(repo, &golden.name, &golden.commit, main);
        }
    }
    if fetch_live {
        match repo.state.read_live() {
            Ok(Some(live)) if !cfg.live.url.trim().is_empty() => {
                rep.live = Some(live_drift(repo, cfg, &live));
            }
            Ok(Some(_)) => rep
                .notes
                .push("[live] url is not set: the live site was not compared".into()),
            Ok(None) => rep
                .notes
                .push("no live record on this box: the live site was not compared".into()),
            Err(e) => rep
                .notes
                .push(format!("the live site was not compared: {e}")),
        }
    }
    rep.drift = !rep.committed.is_empty()
        || !rep.working.is_empty()
        || !rep.baseline_changes.is_empty()
        || rep.live.as_ref().is_some_and(|l| l.drift);
    Ok(rep)
}

fn baseline_changes(
    repo: &Repo,
    cfg: &Config,
    gtree: &git2::Tree,
    main_tree: Option<&git2::Tree>,
    notes: &mut Vec<String>,
) -> Vec<BaselineChange> {
    let file = cfg.baseline.file.trim();
    if file.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let Some(golden) = baseline_vars(blob_at(repo, gtree, file), "golden", cfg, notes) else {
        return out;
    };
    let main = main_tree.and_then(|t| baseline_vars(blob_at(repo, t, file), "main", cfg, notes));
    if let Some(main) = &main {
        for key in union_keys(&golden, main) {
            let (g, m) = (lookup(&golden, &key), lookup(main, &key));
            if g != m {
                out.push(BaselineChange {
                    key,
                    golden: g.map(str::to_string),
                    now: m.map(str::to_string),
                    where_: "main".into(),
                });
            }
        }
    }
    let disk = std::fs::read(repo.root.join(file)).ok();
    if let Some(disk) = baseline_vars(disk, "working tree", cfg, notes) {
        for key in union_keys(&golden, &disk) {
            let (g, d) = (lookup(&golden, &key), lookup(&disk, &key));
            let m = main.as_ref().map(|m| lookup(m, &key));
            if g != d && m != Some(d) {
                out.push(BaselineChange {
                    key,
                    golden: g.map(str::to_string),
                    now: d.map(str::to_string),
                    where_: "working tree".into(),
                });
            }
        }
    }
    out
}

fn live_drift(repo: &Repo, cfg: &Config, live: &LiveRecord) -> LiveDrift {
    let url = cfg.live.url.trim().to_string();
    let timeout = cfg
        .live
        .request_timeout
        .nonzero()
        .unwrap_or(Duration::from_secs(10));
    let mut out = LiveDrift {
        url: url.clone(),
        tag: live.tag.clone(),
        expected_build_id: live.build_id.clone(),
        served_build_id: None,
        build_id_matches: false,
        content_matches: None,
        error: None,
        drift: false,
    };
    let page = match verify::fetch_page(&url, "/", timeout) {
        Ok(p) if (200..300).contains(&p.status) => p,
        Ok(p) => {
            out.error = Some(format!("{} answered HTTP {}", p.url, p.status));
            return out;
        }
        Err(e) => {
            out.error = Some(e);
            return out;
        }
    };
    let ids = verify::build_ids(&page.body);
    out.served_build_id = ids.first().cloned();
    out.build_id_matches = !ids.is_empty() && ids.iter().all(|i| *i == live.build_id);
    let index = format!("{}/index.html", cfg.project.bundle_dir.trim_matches('/'));
    let expected = Oid::from_str(&live.commit)
        .ok()
        .and_then(|o| repo.git.find_commit(o).ok())
        .and_then(|c| c.tree().ok())
        .and_then(|t| blob_at(repo, &t, &index));
    out.content_matches =
        expected.map(|e| verify::content_hash(&e) == verify::content_hash(&page.body));
    out.drift = !out.build_id_matches || out.content_matches == Some(false);
    out
}

/// The repository part of a fingerprint (`""` without such drift).
fn repo_part(r: &DriftReport) -> String {
    if r.committed.is_empty() && r.working.is_empty() && r.baseline_changes.is_empty() {
        return String::new();
    }
    let files = |v: &[FileDrift]| -> Vec<serde_json::Value> {
        v.iter()
            .map(|f| json!([f.path, f.status, f.added, f.removed, f.patch]))
            .collect()
    };
    let doc = json!({
        "golden": r.golden,
        "committed": files(&r.committed),
        "working": files(&r.working),
        "baseline": r.baseline_changes,
    });
    sha256_hex(doc.to_string().as_bytes())
}

/// The live part (`""` when the live site was not compared or is as
/// recorded).
fn live_part(r: &DriftReport) -> Option<String> {
    let l = r.live.as_ref()?;
    if !l.drift {
        return Some(String::new());
    }
    let doc = json!([
        l.expected_build_id,
        l.served_build_id,
        l.build_id_matches,
        l.content_matches
    ]);
    Some(sha256_hex(doc.to_string().as_bytes()))
}

fn join_parts(repo: &str, live: &str) -> String {
    if repo.is_empty() && live.is_empty() {
        String::new()
    } else {
        format!("{repo}:{live}")
    }
}

/// Identifies a drift: the same drift gives the same fingerprint (so it
/// raises one alert); any other change of content, counts, baseline values
/// or what the live site serves gives another. `""` when there is no drift.
/// Two parts, `<repository>:<live>`, so that a check without `--live` does
/// not clear a live drift found by one with it (see [`notify`]).
pub fn fingerprint(r: &DriftReport) -> String {
    join_parts(&repo_part(r), &live_part(r).unwrap_or_default())
}

fn files_text(v: &[FileDrift]) -> String {
    v.iter()
        .map(|f| format!("{} (+{} −{})", f.path, f.added, f.removed))
        .collect::<Vec<_>>()
        .join(", ")
}

fn value(v: &Option<String>) -> String {
    match v {
        Some(s) => s.clone(),
        None => "(unset)".into(),
    }
}

/// `live is <tag> from <branch>, not merged into main` when the golden
/// build's commit is not on main (the branch from the live record, else
/// the tag message's `Branch:` line).
fn unmerged_release(repo: &Repo, tag: &str, commit: &str, main: Option<Oid>) -> Option<String> {
    let main = main?;
    let c = Oid::from_str(commit).ok()?;
    if c == main || repo.git.graph_descendant_of(main, c).unwrap_or(true) {
        return None;
    }
    let from_live = repo
        .state
        .read_live()
        .ok()
        .flatten()
        .filter(|l| l.commit == commit)
        .and_then(|l| l.branch);
    let from_tag = || {
        let t = repo
            .git
            .find_reference(&format!("refs/tags/{tag}"))
            .ok()?
            .peel_to_tag()
            .ok()?;
        t.message()?.lines().find_map(|l| {
            let l = l.trim().trim_start_matches("- ").replace("**", "");
            l.strip_prefix("Branch:")
                .or_else(|| l.strip_prefix("branch:"))
                .map(|b| b.trim().to_string())
        })
    };
    let branch = from_live
        .or_else(from_tag)
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| format!("commit {}", &commit[..commit.len().min(7)]));
    Some(format!("live is {tag} from {branch}, not merged into main"))
}

/// One sentence: what drifted (for a badge, an alert's summary).
pub fn summary(r: &DriftReport) -> String {
    let Some(golden) = &r.golden else {
        return "no drift: there is no golden build yet".into();
    };
    if !r.drift {
        return format!("no drift: the watched files and the baseline are as in {golden}");
    }
    let mut parts = Vec::new();
    match (&r.unmerged, r.committed.is_empty()) {
        (Some(u), false) => parts.push(format!(
            "{u} (main differs in {})",
            files_text(&r.committed)
        )),
        (None, false) => parts.push(format!("committed on main: {}", files_text(&r.committed))),
        _ => {}
    }
    if !r.working.is_empty() {
        parts.push(format!("working tree: {}", files_text(&r.working)));
    }
    if !r.baseline_changes.is_empty() {
        let b: Vec<String> = r
            .baseline_changes
            .iter()
            .map(|c| {
                format!(
                    "{} {} → {} ({})",
                    c.key,
                    value(&c.golden),
                    value(&c.now),
                    c.where_
                )
            })
            .collect();
        parts.push(format!("baseline changed: {}", b.join(", ")));
    }
    if let Some(l) = r.live.as_ref().filter(|l| l.drift) {
        parts.push(live_text(l));
    }
    format!("drift from {golden}: {}", parts.join("; "))
}

fn live_text(l: &LiveDrift) -> String {
    if let Some(e) = &l.error {
        return format!("live site not compared: {e}");
    }
    let mut s = Vec::new();
    if l.build_id_matches {
        s.push(format!("serves BUILD_ID {}", l.expected_build_id));
    } else {
        s.push(format!(
            "serves BUILD_ID {}, the live record says {}",
            l.served_build_id.as_deref().unwrap_or("(none)"),
            l.expected_build_id
        ));
    }
    match l.content_matches {
        Some(true) => s.push("content as deployed".into()),
        Some(false) => s.push("content differs from what was deployed".into()),
        None => {}
    }
    format!("live site {}", s.join(", "))
}

/// The report as text (`guardrail drift`).
pub fn render_text(r: &DriftReport) -> String {
    let mut s = String::new();
    let short = |c: &Option<String>| {
        c.as_deref()
            .map(|c| c[..7.min(c.len())].to_string())
            .unwrap_or_else(|| "?".into())
    };
    match &r.golden {
        Some(g) => s.push_str(&format!(
            "golden build: {g} ({})\n",
            short(&r.golden_commit)
        )),
        None => s.push_str("golden build: none\n"),
    }
    let files = |s: &mut String, title: String, v: &[FileDrift]| {
        s.push_str(&title);
        if v.is_empty() {
            s.push_str("  none\n");
        }
        for f in v {
            s.push_str(&format!(
                "  {:<9} {}  +{} −{}\n",
                f.status, f.path, f.added, f.removed
            ));
        }
    };
    if let Some(u) = &r.unmerged {
        s.push_str(&format!("{u}: main does not have its changes\n"));
    }
    if r.golden.is_some() {
        files(
            &mut s,
            format!(
                "committed on main ({}), against the golden build:\n",
                short(&r.main_head)
            ),
            &r.committed,
        );
        files(
            &mut s,
            "working tree (not committed), against the golden build:\n".into(),
            &r.working,
        );
        s.push_str("baseline values (changed only as an intentional change):\n");
        if r.baseline_changes.is_empty() {
            s.push_str("  unchanged\n");
        }
        for c in &r.baseline_changes {
            s.push_str(&format!(
                "  {}: {} → {} ({})\n",
                c.key,
                value(&c.golden),
                value(&c.now),
                c.where_
            ));
        }
    }
    if let Some(l) = &r.live {
        let mark = if l.error.is_some() {
            "⚠️ "
        } else if l.drift {
            "❌"
        } else {
            "✅"
        };
        s.push_str(&format!("live {} {mark} {}\n", l.url, live_text(l)));
    }
    for n in &r.notes {
        s.push_str(&format!("note: {n}\n"));
    }
    s.push_str(&format!("{}\n", summary(r)));
    s
}

/// Sends a `drift` alert when the drift is new or has changed since the
/// last one, and a `drift-cleared` alert when a drift alerted earlier is
/// gone; nothing otherwise (de-duplicated in `<state>/alerts.json`, in the
/// background: see [`alerts::flush`]). Returns the kind sent, if any.
pub fn notify(repo: &Repo, cfg: &Config, r: &DriftReport) -> Option<Kind> {
    // A check that did not look at the live site keeps the live part of
    // the last fingerprint: it knows nothing new about it.
    let live = match live_part(r) {
        Some(l) => l,
        None => {
            let last = alerts::last_fingerprint(repo, ALERT_KEY);
            last.split_once(':')
                .map(|(_, l)| l.to_string())
                .unwrap_or_default()
        }
    };
    let fp = join_parts(&repo_part(r), &live);
    let (kind, text) = if r.drift {
        (Kind::Drift, summary(r))
    } else if !fp.is_empty() {
        (
            Kind::Drift,
            "the watched files and the baseline are as in the golden build again; the live site, \
             not checked this time, differed from the live record at the last check"
                .to_string(),
        )
    } else {
        (
            Kind::DriftCleared,
            match &r.golden {
                Some(g) => {
                    format!("drift cleared: nothing differs from {g} and the live record any more")
                }
                None => "drift cleared".into(),
            },
        )
    };
    let mut details = serde_json::to_value(r).unwrap_or_default();
    // Patches can be long; the alert carries the counts.
    for section in ["committed", "working"] {
        if let Some(files) = details[section].as_array_mut() {
            for f in files {
                if let Some(o) = f.as_object_mut() {
                    o.remove("patch");
                }
            }
        }
    }
    let ev = Event::new(repo, cfg, kind, text, details);
    alerts::spawn_once(repo, cfg, ALERT_KEY, &fp, ev).then_some(kind)
}

//! The rollback drill (SPEC §9): a complete sandbox for practising a first
//! rollback, and the scenario run headlessly.
//!
//! [`build`] makes, in a fresh directory, a git repository shaped like SPEC
//! §2 (real bash scripts, three earlier prod tags with their backups and
//! release logs, four feature branches whose handoff packages are ready,
//! incomplete, stale, and ready-but-bad) and a local web server on
//! 127.0.0.1 that plays production, serving the newest prod tag. Everything
//! lives under the sandbox directory (the state directory is marked as a
//! drill); no remote is configured.
//!
//! [`run_headless`] walks the scenario through the same pipeline functions a
//! release manager triggers from the console: review a package, run the
//! playbook on the bad branch, see live verification fail, roll back, see
//! all ✅, read the logs; it times failure → verified restore and writes
//! `DRILL_REPORT.md` into the sandbox.
//!
//! The rollback step is [`restore_golden`]: the rollback module's plan and
//! rollback, the same functions `guardrail rollback` and the console use.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeZone, Utc};
use git2::{FileMode, Oid, Repository, Signature, Time};
use serde::Serialize;
use serde_json::json;

use super::alerts;
use super::audit::{entry_hash_ok, highest_checkpoint, NewEntry};
use super::backup::{self, Source};
use super::baseline;
use super::config::{self, Config};
use super::handoff::{self, sha256_hex, GateResult, GateSection, HandoffManifest, SnapshotSection};
use super::package::{self, Context};
use super::playbook::{self, Event, Playbook, Step, StepState};
use super::record::{audit_log, record};
use super::release::{self, GateEvidence, ReleaseKind, ReleaseLogEntry, ReleaseMessage};
use super::repo::{next_free_tag, Repo};
use super::runner::Answers;
use super::scripts;
use super::state::{LiveHealth, LiveRecord};
use super::tags::prod_tag_name;
use super::verify::{self, CheckState, Expect, VerifyReport};

/// The files of the sandbox, embedded in the binary.
pub mod assets {
    pub const MOSAIC_UI: &str = include_str!("../../../assets/drill/mosaic_ui/index.html");
    pub const FRONTEND: &str = include_str!("../../../assets/drill/frontend/index.html");
    pub const BASELINE: &str = include_str!("../../../assets/drill/deployment/deploy_baseline.env");
    pub const GATE_SCRIPT: &str = include_str!("../../../assets/drill/scripts/run_deploy_gate.sh");
    pub const VERIFY_SCRIPT: &str =
        include_str!("../../../assets/drill/scripts/verify_live_deployment.sh");
    /// `guardrail.toml` with `@USER@`, `@URL@` and `@PUBLISH_DIR@` to fill in.
    pub const CONFIG_TEMPLATE: &str = include_str!("../../../assets/drill/guardrail.toml");
    /// A 1×1 PNG: the screenshots of the handoff packages.
    pub const PNG: &[u8] = include_bytes!("../../../assets/drill/evidence/screenshot.png");
}

/// The scenario's steps, in order: the headless run prints them and the
/// console's coach pane walks them.
pub const STEPS: [&str; 6] = [
    "Review a package",
    "Run the playbook on the bad branch",
    "See live verification fail",
    "Roll back",
    "Verify all ✅",
    "Read the log entries",
];

/// The gate answers of the headless run: `yes` to each of the five questions.
pub const GATE_ANSWERS: [&str; 5] = ["yes", "yes", "yes", "yes", "yes"];

/// The feature branches of the sandbox.
pub const READY_BRANCH: &str = "feature/ps101-copy";
pub const INCOMPLETE_BRANCH: &str = "feature/footer-links";
pub const STALE_BRANCH: &str = "feature/pricing";
/// Ready, passes its gate, and drops the auth modal from production.
pub const BAD_BRANCH: &str = "feature/auth-refactor";

/// The sandbox's layout under its directory.
pub const REPO_DIR: &str = "mosaic";
pub const SITE_DIR: &str = "production/site";
pub const REPORT_FILE: &str = "DRILL_REPORT.md";
/// The marker file in the state directory: its `token:` line must equal the
/// committed `[drill] token` ([`super::repo::Repo::is_drill`]).
pub const MARKER: &str = "drill";

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    /// `--dir` names something that is not a new or empty directory (exit 2).
    #[error("{0} is not empty; give --dir a new or empty directory")]
    NotEmpty(PathBuf),
    /// The drill will not act outside its sandbox (exit 3).
    #[error("{0}")]
    Refused(String),
    /// The sandbox could not be built (exit 4).
    #[error("the drill sandbox could not be built: {0}")]
    Setup(String),
    /// A step of the drill could not run (exit 4).
    #[error("{0}")]
    Step(String),
}

impl DrillError {
    /// The exit code a command ends with on this error (SPEC §6).
    pub fn exit_code(&self) -> u8 {
        use crate::pipeline::common::exit;
        match self {
            DrillError::NotEmpty(_) => exit::BAD_INPUT,
            DrillError::Refused(_) => exit::REFUSED,
            DrillError::Setup(_) | DrillError::Step(_) => exit::STEP_FAILED,
        }
    }
}

fn setup(e: impl std::fmt::Display) -> DrillError {
    DrillError::Setup(e.to_string())
}

fn step_err(e: impl std::fmt::Display) -> DrillError {
    DrillError::Step(e.to_string())
}

// ---------------------------------------------------------------------------
// Production: a small static web server

/// Plays production: serves a directory over HTTP on 127.0.0.1 (GET only,
/// `index.html` for a directory, `Connection: close`), one thread per
/// connection. Files are read at each request, so a publish shows at once.
/// Stopped when dropped.
pub struct Server {
    addr: SocketAddr,
    root: PathBuf,
    stop: Arc<AtomicBool>,
    requests: Arc<AtomicU64>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("addr", &self.addr)
            .field("root", &self.root)
            .finish()
    }
}

impl Server {
    /// Serves `root` on 127.0.0.1 at a free port.
    pub fn start(root: &Path) -> io::Result<Server> {
        let listener = TcpListener::bind(("127.0.0.1", 0))?;
        let addr = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(AtomicU64::new(0));
        let (stop2, requests2, root2) = (stop.clone(), requests.clone(), root.to_path_buf());
        let thread = std::thread::Builder::new()
            .name("drill-http".into())
            .spawn(move || {
                for conn in listener.incoming() {
                    if stop2.load(Ordering::SeqCst) {
                        break;
                    }
                    let stream = match conn {
                        Ok(s) => s,
                        Err(_) => {
                            // Out of descriptors or similar: do not spin.
                            std::thread::sleep(Duration::from_millis(20));
                            continue;
                        }
                    };
                    let root = root2.clone();
                    let requests = requests2.clone();
                    let _ = std::thread::Builder::new()
                        .name("drill-http-conn".into())
                        .spawn(move || {
                            let _ = serve_one(stream, &root, &requests);
                        });
                }
            })?;
        Ok(Server {
            addr,
            root: root.to_path_buf(),
            stop,
            requests,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The directory served.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Requests answered so far.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }

    /// Stops accepting connections and waits for the accept loop to end.
    /// Idempotent.
    pub fn stop(&mut self) {
        if let Some(t) = self.thread.take() {
            self.stop.store(true, Ordering::SeqCst);
            // Wake the blocking accept.
            let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
            let _ = t.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The Content-Type for a file name.
pub fn content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "html" | "htm" => "text/html; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "json" => "application/json",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "ico" => "image/x-icon",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn percent_decode(s: &str) -> Option<String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok();
            if let Some(v) = hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8(out).ok()
}

/// The file a request target names under `root`, or `None` when it would
/// leave `root` (or is not a plain path).
pub fn resolve_target(root: &Path, target: &str) -> Option<PathBuf> {
    let path = target.split(['?', '#']).next().unwrap_or("");
    if !path.starts_with('/') {
        return None;
    }
    let decoded = percent_decode(path)?;
    if decoded.contains('\0') || decoded.contains('\\') {
        return None;
    }
    let mut out = root.to_path_buf();
    for seg in decoded.split('/') {
        match seg {
            "" | "." => {}
            ".." => return None,
            s => {
                if Path::new(s)
                    .components()
                    .any(|c| !matches!(c, Component::Normal(_)))
                {
                    return None;
                }
                out.push(s);
            }
        }
    }
    if decoded.ends_with('/') || out.is_dir() {
        out.push("index.html");
    }
    Some(out)
}

fn serve_one(mut stream: TcpStream, root: &Path, requests: &AtomicU64) -> io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        head.extend_from_slice(&buf[..n]);
        if head.len() > 16 * 1024 {
            break;
        }
    }
    if head.is_empty() {
        return Ok(());
    }
    requests.fetch_add(1, Ordering::SeqCst);
    let text = String::from_utf8_lossy(&head);
    let first = text.lines().next().unwrap_or("");
    let mut parts = first.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let (status, ctype, body): (&str, &str, Vec<u8>) = if method != "GET" {
        (
            "405 Method Not Allowed",
            "text/plain; charset=utf-8",
            b"only GET is served here\n".to_vec(),
        )
    } else {
        match resolve_target(root, target).map(|p| (std::fs::read(&p), p)) {
            Some((Ok(bytes), p)) => ("200 OK", content_type(&p), bytes),
            _ => (
                "404 Not Found",
                "text/plain; charset=utf-8",
                b"not found\n".to_vec(),
            ),
        }
    };
    let mut resp = format!(
        "HTTP/1.1 {status}\r\nServer: guardrail-drill\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n",
        body.len()
    );
    if status.starts_with("405") {
        resp.push_str("Allow: GET\r\n");
    }
    resp.push_str("\r\n");
    stream.write_all(resp.as_bytes())?;
    stream.write_all(&body)?;
    stream.flush()?;
    let _ = stream.shutdown(Shutdown::Write);
    Ok(())
}

// ---------------------------------------------------------------------------
// The sandbox

/// A built sandbox. Keeps its temporary directory (if it made one) and its
/// web server alive; dropping it stops the server and removes a temporary
/// directory (a `--dir` is kept).
pub struct Sandbox {
    /// The sandbox directory: everything the drill writes is under it.
    pub dir: PathBuf,
    /// The git repository (`<dir>/mosaic`).
    pub repo_dir: PathBuf,
    /// What production serves (`<dir>/production/site`), `[live] publish_dir`.
    pub site_dir: PathBuf,
    /// Production's base URL, `[live] url`.
    pub url: String,
    /// The release manager (the login name).
    pub user: String,
    pub server: Server,
    /// Ready package: the one to review.
    pub ready_branch: String,
    pub incomplete_branch: String,
    pub stale_branch: String,
    /// Ready, passes its gate, breaks the auth modal in production.
    pub bad_branch: String,
    /// The prod tags, oldest first.
    pub tags: Vec<String>,
    /// The newest prod tag: what production serves at the start.
    pub golden: String,
    /// The next free prod tag (what the packages propose).
    pub next_tag: String,
    /// Declared last: removed after the server has stopped.
    temp: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("dir", &self.dir)
            .field("url", &self.url)
            .field("golden", &self.golden)
            .finish()
    }
}

impl Sandbox {
    pub fn repo(&self) -> Result<Repo, DrillError> {
        Repo::open(&self.repo_dir).map_err(step_err)
    }

    /// `<dir>/DRILL_REPORT.md`.
    pub fn report_path(&self) -> PathBuf {
        self.dir.join(REPORT_FILE)
    }

    /// Whether the directory is removed when the sandbox drops.
    pub fn is_temporary(&self) -> bool {
        self.temp.is_some()
    }

    /// Keeps a temporary sandbox directory after the sandbox drops.
    pub fn keep(&mut self) -> PathBuf {
        if let Some(t) = self.temp.take() {
            let _ = t.keep();
        }
        self.dir.clone()
    }

    /// Refuses unless the repository is this sandbox's, marked as a drill,
    /// and its configuration publishes into the sandbox and verifies the
    /// sandbox's own server.
    pub fn check_contained(&self, repo: &Repo, cfg: &Config) -> Result<(), DrillError> {
        let dir = self.dir.canonicalize().unwrap_or_else(|_| self.dir.clone());
        // A path that does not exist yet is judged by its parent.
        let inside = |p: &Path| {
            let real = p.canonicalize().ok().or_else(|| {
                let parent = p.parent()?.canonicalize().ok()?;
                Some(parent.join(p.file_name()?))
            });
            real.is_some_and(|r| r.starts_with(&dir))
        };
        if !repo.is_drill() {
            return Err(DrillError::Refused(format!(
                "{} is not marked as a drill sandbox, so the drill will not act on it",
                repo.root.display()
            )));
        }
        if !inside(&repo.root) {
            return Err(DrillError::Refused(format!(
                "the repository {} is outside the sandbox {}",
                repo.root.display(),
                self.dir.display()
            )));
        }
        let publish = config::resolve(&repo.root, cfg.live.publish_dir.trim());
        if cfg.live.publish_dir.trim().is_empty() || !inside(&publish) {
            return Err(DrillError::Refused(format!(
                "[live] publish_dir {} is outside the sandbox {}",
                publish.display(),
                self.dir.display()
            )));
        }
        if cfg.live.url.trim().trim_end_matches('/') != self.url {
            return Err(DrillError::Refused(format!(
                "[live] url {} is not the sandbox's production server {}",
                cfg.live.url, self.url
            )));
        }
        Ok(())
    }
}

/// Path → (content, executable).
type Files = BTreeMap<String, (Vec<u8>, bool)>;

enum Node {
    File(Oid, bool),
    Dir(BTreeMap<String, Node>),
}

fn write_tree(repo: &Repository, files: &Files) -> Result<Oid, git2::Error> {
    let mut root: BTreeMap<String, Node> = BTreeMap::new();
    for (path, (bytes, exec)) in files {
        let blob = repo.blob(bytes)?;
        let parts: Vec<&str> = path.split('/').collect();
        let mut dir = &mut root;
        for p in &parts[..parts.len() - 1] {
            let node = dir
                .entry(p.to_string())
                .or_insert_with(|| Node::Dir(BTreeMap::new()));
            dir = match node {
                Node::Dir(d) => d,
                Node::File(..) => unreachable!("a file and a directory share the name {p}"),
            };
        }
        dir.insert(parts[parts.len() - 1].to_string(), Node::File(blob, *exec));
    }
    fn build(repo: &Repository, dir: &BTreeMap<String, Node>) -> Result<Oid, git2::Error> {
        let mut tb = repo.treebuilder(None)?;
        for (name, node) in dir {
            match node {
                Node::File(oid, exec) => {
                    let mode = if *exec {
                        FileMode::BlobExecutable
                    } else {
                        FileMode::Blob
                    };
                    tb.insert(name, *oid, mode.into())?;
                }
                Node::Dir(d) => {
                    let oid = build(repo, d)?;
                    tb.insert(name, oid, FileMode::Tree.into())?;
                }
            }
        }
        tb.write()
    }
    build(repo, &root)
}

fn sig(name: &str, email: &str, at: DateTime<Utc>) -> Result<Signature<'static>, git2::Error> {
    Signature::new(name, email, &Time::new(at.timestamp(), 0))
}

fn commit(
    repo: &Repository,
    parent: Option<Oid>,
    files: &Files,
    message: &str,
    author: &Signature,
) -> Result<Oid, git2::Error> {
    let tree = repo.find_tree(write_tree(repo, files)?)?;
    let parents: Vec<git2::Commit> = parent
        .map(|p| repo.find_commit(p))
        .transpose()?
        .into_iter()
        .collect();
    let refs: Vec<&git2::Commit> = parents.iter().collect();
    repo.commit(None, author, author, message, &tree, &refs)
}

/// `text` with `from` replaced by `to` exactly once.
fn replace_once(text: &str, from: &str, to: &str) -> Result<String, DrillError> {
    if text.matches(from).count() != 1 {
        return Err(setup(format!(
            "the embedded page does not contain {from:?} exactly once"
        )));
    }
    Ok(text.replacen(from, to, 1))
}

/// `text` with the lines from the one containing `begin` to the one
/// containing `end` (both included) replaced by `with`.
fn replace_block(text: &str, begin: &str, end: &str, with: &str) -> Result<String, DrillError> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let b = lines.iter().position(|l| l.contains(begin));
    let e = lines.iter().position(|l| l.contains(end));
    match (b, e) {
        (Some(b), Some(e)) if b <= e => {
            let mut out: String = lines[..b].concat();
            out.push_str(with);
            out.push_str(&lines[e + 1..].concat());
            Ok(out)
        }
        _ => Err(setup(format!(
            "the embedded page has no block {begin:?} … {end:?}"
        ))),
    }
}

/// The pages of each version, from the embedded (newest) one.
pub mod pages {
    use super::*;

    /// The golden build's page (the embedded asset).
    pub fn golden() -> String {
        assets::MOSAIC_UI.to_string()
    }

    /// The second prod tag's: the help link instead of support, and the
    /// first-visit welcome note.
    pub fn tag2() -> Result<String, DrillError> {
        let p = replace_once(
            assets::MOSAIC_UI,
            "<a href=\"/support\">Support</a>",
            "<a href=\"/help\">Help</a>",
        )?;
        replace_once(
            &p,
            "Welcome back: pick up your PS101 journey where you left off.",
            "Welcome to Mosaic: start your PS101 journey.",
        )
    }

    /// The first prod tag's: also the old step 4 heading.
    pub fn tag1() -> Result<String, DrillError> {
        replace_once(
            &tag2()?,
            "<h2>4. Name the obstacle, in one sentence</h2>",
            "<h2>4. Obstacles</h2>",
        )
    }

    /// `feature/ps101-copy`: friendlier headings for steps 1–3.
    pub fn ps101_copy() -> Result<String, DrillError> {
        let p = replace_once(
            assets::MOSAIC_UI,
            "<h2>1. Name the problem</h2>",
            "<h2>1. Name the problem you want to solve</h2>",
        )?;
        let p = replace_once(
            &p,
            "<h2>2. Why it matters to you</h2>",
            "<h2>2. Why it matters, and to whom</h2>",
        )?;
        replace_once(
            &p,
            "<h2>3. What you have tried so far</h2>",
            "<h2>3. What you have already tried</h2>",
        )
    }

    /// `feature/footer-links`: a terms link.
    pub fn footer_links() -> Result<String, DrillError> {
        replace_once(
            assets::MOSAIC_UI,
            "<a href=\"/support\">Support</a>",
            "<a href=\"/support\">Support</a> · <a href=\"/terms\">Terms</a>",
        )
    }

    /// `feature/pricing`, the commit the gate ran on: a pricing link.
    pub fn pricing() -> Result<String, DrillError> {
        replace_once(
            assets::MOSAIC_UI,
            "<strong>Mosaic</strong>",
            "<strong>Mosaic</strong> <a href=\"/pricing\">Pricing</a>",
        )
    }

    /// `feature/pricing`, the commit after the gate: a discount note.
    pub fn pricing_after_gate() -> Result<String, DrillError> {
        replace_once(
            &pricing()?,
            "Welcome back: pick up your PS101 journey where you left off.",
            "Launch week: 20% off Mosaic Pro.",
        )
    }

    /// `feature/auth-refactor`: the sign-in moves into an `<auth-widget>`
    /// component whose script never made it into the bundle; the auth modal
    /// (markup and script) is gone.
    pub fn auth_refactor() -> Result<String, DrillError> {
        let p = replace_block(
            assets::MOSAIC_UI,
            "<!-- auth-modal -->",
            "<!-- /auth-modal -->",
            "  <!-- sign-in lives in the <auth-widget> component now -->\n  \
             <auth-widget id=\"authWidget\"></auth-widget>\n  \
             <script type=\"module\" src=\"components/auth-widget.js\"></script>\n",
        )?;
        replace_block(
            &p,
            "// auth-modal",
            "// /auth-modal",
            "    // sign-in: see components/auth-widget.js\n",
        )
    }
}

/// `deploy_baseline.env` with the MOSAIC_UI count set to `page`'s lines.
fn baseline_for(page: &str) -> String {
    let lines = baseline::line_count(page.as_bytes());
    assets::BASELINE
        .lines()
        .map(|l| {
            if l.starts_with("MOSAIC_UI_LINE_COUNT=") {
                format!("MOSAIC_UI_LINE_COUNT={lines}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// A TOML basic string.
fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The sandbox's `guardrail.toml`.
pub fn config_text(user: &str, url: &str, publish_dir: &Path) -> String {
    assets::CONFIG_TEMPLATE
        .replace("@USER@", &toml_str(user))
        .replace("@URL@", &toml_str(url))
        .replace(
            "@PUBLISH_DIR@",
            &toml_str(&publish_dir.display().to_string()),
        )
}

fn base_files(config: &str, mosaic_ui: &str) -> Files {
    let mut f = Files::new();
    let mut put = |p: &str, b: &[u8], x: bool| {
        f.insert(p.to_string(), (b.to_vec(), x));
    };
    put("mosaic_ui/index.html", mosaic_ui.as_bytes(), false);
    put("frontend/index.html", assets::FRONTEND.as_bytes(), false);
    put(
        "deployment/deploy_baseline.env",
        baseline_for(mosaic_ui).as_bytes(),
        false,
    );
    put(
        "scripts/run_deploy_gate.sh",
        assets::GATE_SCRIPT.as_bytes(),
        true,
    );
    put(
        "scripts/verify_live_deployment.sh",
        assets::VERIFY_SCRIPT.as_bytes(),
        true,
    );
    put("guardrail.toml", config.as_bytes(), false);
    put(".gitignore", b"backups/\n", false);
    put(
        "README.md",
        b"# Mosaic (drill sandbox)\n\nA copy of the Mosaic front-end made by `guardrail drill` for practising a\nrollback. `mosaic_ui/` is what gets published; production is a local web\nserver (see `guardrail.toml`). There is no `scripts/deploy_now_zsh.sh`: a\ndeploy uses guardrail's built-in publish to `[live] publish_dir`.\n",
        false,
    );
    f
}

/// What the gate script prints for `files` with every answer `yes`
/// (answers echoed, as guardrail's runner records them).
fn gate_log(branch: &str, commit: &str, actor: &str, files: &Files) -> String {
    let read = |p: &str| {
        files
            .get(p)
            .map(|(b, _)| String::from_utf8_lossy(b).into_owned())
            .unwrap_or_default()
    };
    let base = read("deployment/deploy_baseline.env");
    let get = |k: &str| {
        base.lines()
            .find_map(|l| l.strip_prefix(&format!("{k}=")))
            .unwrap_or("0")
            .to_string()
    };
    let mut s = String::new();
    let _ = writeln!(s, "🚦 Mosaic deploy gate");
    let _ = writeln!(s, "   branch: {branch}  commit: {commit}");
    let _ = writeln!(s, "   actor:  {actor}");
    let _ = writeln!(s);
    for (name, file) in [
        ("MOSAIC_UI", "mosaic_ui/index.html"),
        ("FRONTEND", "frontend/index.html"),
    ] {
        let actual = baseline::line_count(read(file).as_bytes());
        let _ = writeln!(
            s,
            "✅ {file}: {actual} lines (baseline {} ± {})",
            get(&format!("{name}_LINE_COUNT")),
            get(&format!("{name}_LINE_TOLERANCE"))
        );
    }
    let _ = writeln!(s);
    for q in [
        "PS101 10-step flow walked end-to-end against this build?",
        "Auth modal opens and signs in?",
        "Baseline snapshot reviewed and within tolerance?",
        "Screenshots of the 10 PS101 steps and the auth modal attached?",
        "Fallback tag and backup path proposed?",
    ] {
        let _ = writeln!(s, "{q} [yes/no/n/a]: yes");
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Deploy gate: PASS");
    s
}

/// One feature branch to make.
struct FeatureSpec {
    branch: &'static str,
    agent: &'static str,
    subject: &'static str,
    summary: &'static str,
    page: String,
    /// Update the baseline to the new line count.
    rebaseline: bool,
    /// Put the screenshots in the package.
    evidence: bool,
    /// A code commit after the gate ran: (subject, page).
    after_gate: Option<(&'static str, String)>,
    /// Hours before now of the code commit.
    hours_ago: i64,
}

/// Builds the sandbox in `dir` (which must be missing or empty) or in a new
/// temporary directory, with `user` as its release manager, and starts its
/// production server.
pub fn build(dir: Option<&Path>, user: &str) -> Result<Sandbox, DrillError> {
    let (temp, dir) = match dir {
        Some(d) => {
            match std::fs::read_dir(d) {
                Ok(mut rd) => {
                    if rd.next().is_some() {
                        return Err(DrillError::NotEmpty(d.to_path_buf()));
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    std::fs::create_dir_all(d)
                        .map_err(|e| setup(format!("{} could not be created: {e}", d.display())))?;
                }
                Err(_) if d.exists() => return Err(DrillError::NotEmpty(d.to_path_buf())),
                Err(e) => {
                    return Err(setup(format!("{} could not be read: {e}", d.display())));
                }
            }
            let abs = d.canonicalize().map_err(setup)?;
            (None, abs)
        }
        None => {
            let t = tempfile::Builder::new()
                .prefix("guardrail-drill-")
                .tempdir()
                .map_err(setup)?;
            let p = t.path().canonicalize().map_err(setup)?;
            (Some(t), p)
        }
    };
    let repo_dir = dir.join(REPO_DIR);
    let site_dir = dir.join(SITE_DIR);
    std::fs::create_dir_all(&site_dir).map_err(setup)?;
    let server = Server::start(&site_dir).map_err(|e| setup(format!("the web server: {e}")))?;
    let url = server.url();
    let mut sb = Sandbox {
        dir,
        repo_dir,
        site_dir,
        url,
        user: user.to_string(),
        server,
        ready_branch: READY_BRANCH.into(),
        incomplete_branch: INCOMPLETE_BRANCH.into(),
        stale_branch: STALE_BRANCH.into(),
        bad_branch: BAD_BRANCH.into(),
        tags: Vec::new(),
        golden: String::new(),
        next_tag: String::new(),
        temp,
    };
    populate(&mut sb)?;
    Ok(sb)
}

fn populate(sb: &mut Sandbox) -> Result<(), DrillError> {
    let now = Utc::now();
    let today = now.date_naive();
    // The random token that proves this sandbox a drill: in the committed
    // configuration and in the state directory's marker, matched on use.
    let token: String = {
        let bytes: [u8; 16] = rand::random();
        hex::encode(bytes)
    };
    let cfg_text = format!(
        "{}\n[drill]\n# Written by `guardrail drill`: with the same token in the state directory,\n# it makes this repository a drill sandbox.\ntoken = {}\n",
        config_text(&sb.user, &sb.url, &sb.site_dir),
        toml_str(&token)
    );
    let cfg = Config::from_str(&cfg_text, "guardrail.toml (drill)").map_err(setup)?;
    let prefix = cfg.project.tag_prefix.clone();

    // The repository, main checked out, no remote.
    let mut opts = git2::RepositoryInitOptions::new();
    opts.initial_head(&cfg.project.main_branch);
    let git = Repository::init_opts(&sb.repo_dir, &opts).map_err(setup)?;
    {
        // The identity of tags made in the sandbox (the release tag of a
        // deploy): the release manager, at no real address.
        let mut c = git.config().map_err(setup)?;
        c.set_str("user.name", &sb.user).map_err(setup)?;
        c.set_str("user.email", &format!("{}@drill.invalid", sb.user))
            .map_err(setup)?;
    }
    let common = git.commondir().to_path_buf();
    let state = common.join("guardrail");
    std::fs::create_dir_all(&state).map_err(setup)?;
    std::fs::write(
        state.join(MARKER),
        format!(
            "guardrail drill sandbox\nsandbox: {}\ntoken: {token}\ncreated: {}\n",
            sb.dir.display(),
            now.to_rfc3339_opts(SecondsFormat::Secs, true)
        ),
    )
    .map_err(setup)?;

    let day = |n: i64| today - chrono::Duration::days(n);
    let at10 = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(10, 0, 0).expect("10:00"));
    let team = |t: DateTime<Utc>| sig("Mosaic team", "team@mosaic.invalid", t);

    // main: three releases.
    let history: [(NaiveDate, String, &str, &str); 3] = [
        (
            day(3),
            pages::tag1()?,
            "Mosaic: PS101 ten-step flow, auth modal, deploy gate",
            "feature/ps101-flow",
        ),
        (
            day(2),
            pages::tag2()?,
            "PS101: clearer heading for step 4",
            "feature/ps101-step4",
        ),
        (
            day(1),
            pages::golden(),
            "Footer: support link; welcome-back note",
            "feature/support-link",
        ),
    ];
    let mut parent = None;
    let mut releases = Vec::new();
    for (date, page, subject, branch) in &history {
        let files = base_files(&cfg_text, page);
        let c = commit(
            &git,
            parent,
            &files,
            subject,
            &team(at10(*date)).map_err(setup)?,
        )
        .map_err(setup)?;
        parent = Some(c);
        releases.push((*date, c, files, *branch));
    }
    let main_head = parent.expect("three commits");
    git.reference(
        &format!("refs/heads/{}", cfg.project.main_branch),
        main_head,
        true,
        "drill: main",
    )
    .map_err(setup)?;
    git.set_head(&format!("refs/heads/{}", cfg.project.main_branch))
        .map_err(setup)?;
    git.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))
        .map_err(setup)?;
    drop(git);

    let repo = Repo::open(&sb.repo_dir).map_err(setup)?;
    audit_log(&repo).init(&sb.user).map_err(setup)?;

    // The three prod tags, each with its gate, tag (with checkpoint),
    // backup, release log and audit entries, as the playbook records them.
    let mut golden = None;
    for (date, c, files, branch) in &releases {
        let tag = prod_tag_name(&prefix, *date, 1);
        let t = at10(*date);
        let build_id = scripts::build_id(&c.to_string(), t + chrono::Duration::minutes(20));
        let log = gate_log(branch, &c.to_string(), "codex", files);
        let log_sha = sha256_hex(log.as_bytes());
        let gate = record(
            &repo,
            &cfg,
            NewEntry::new("codex", "gate", branch, "PASS").with_details(json!({
                "commit": c.to_string(),
                "gate_log_sha256": log_sha,
                "exit_code": 0,
                "seeded": "drill history",
            })),
        )
        .map_err(setup)?;
        let checkpoint = audit_log(&repo).head().map_err(setup)?;
        let message = release::tag_message(
            &tag,
            &ReleaseMessage {
                branch: branch.to_string(),
                build_id: build_id.clone(),
                released_by: "codex".into(),
                gate_audit_hash: gate.hash.clone(),
            },
            checkpoint.as_ref(),
        );
        let target = repo
            .git
            .find_object(*c, Some(git2::ObjectType::Commit))
            .map_err(setup)?;
        let tagger = sig(
            "codex",
            "codex@mosaic.invalid",
            t + chrono::Duration::minutes(25),
        )
        .map_err(setup)?;
        repo.git
            .tag(&tag, &target, &tagger, &message, false)
            .map_err(setup)?;
        // The backup holds the bundle as deployed: with its BUILD_ID.
        let work = tempfile::Builder::new()
            .prefix("drill-backup-")
            .tempdir_in(&repo.state.path)
            .map_err(setup)?;
        let tree_dir = work.path().join("tree");
        backup::restore_from_tree(&repo, *c, &cfg.project.archive, &tree_dir).map_err(setup)?;
        super::buildid::stamp_files(
            &tree_dir.join(&cfg.project.bundle_dir),
            &cfg.live.stamp,
            &build_id,
        )
        .map_err(setup)?;
        let info = backup::write_backup(&repo, &cfg, &tag, Source::Dir(tree_dir)).map_err(setup)?;
        let log_lines: Vec<String> = log.lines().map(str::to_string).collect();
        let release_log = release::write_release_log(
            &repo,
            &cfg,
            &ReleaseLogEntry {
                kind: ReleaseKind::Deploy,
                time: t + chrono::Duration::minutes(25),
                initiated_by: "codex".into(),
                branch: Some(branch.to_string()),
                commit: c.to_string(),
                tag: tag.clone(),
                backup: Some(info.path.display().to_string()),
                build_id: build_id.clone(),
                gate: Some(GateEvidence {
                    verdict: "PASS".into(),
                    audit_seq: Some(gate.seq),
                    audit_hash: Some(gate.hash.clone()),
                    log_sha256: Some(log_sha.clone()),
                    log_tail: log_lines,
                }),
                checks: cfg
                    .live
                    .check
                    .iter()
                    .map(|c| (c.name.clone(), "ok".to_string(), None))
                    .collect(),
            },
        )
        .map_err(setup)?;
        record(
            &repo,
            &cfg,
            NewEntry::new("codex", "release", branch, "OK").with_details(json!({
                "tag": tag,
                "commit": c.to_string(),
                "build_id": build_id,
                "backup": info.path.display().to_string(),
                "manifest_sha256": info.manifest_sha256,
                "release_log": release_log.display().to_string(),
                "checkpoint": checkpoint.map(|c| c.to_string()),
                "seeded": "drill history",
            })),
        )
        .map_err(setup)?;
        sb.tags.push(tag.clone());
        golden = Some((tag, *c, build_id, t + chrono::Duration::minutes(25)));
    }
    let (golden_tag, golden_commit, golden_build, golden_time) = golden.expect("three tags");
    sb.golden = golden_tag.clone();
    sb.next_tag = next_free_tag(&prefix, today, &sb.tags);

    // The feature branches and their packages.
    let features = [
        FeatureSpec {
            branch: READY_BRANCH,
            agent: "agent-ps101",
            subject: "PS101: friendlier headings for steps 1-3",
            summary: "PS101 steps 1-3: friendlier headings; no layout change.",
            page: pages::ps101_copy()?,
            rebaseline: false,
            evidence: true,
            after_gate: None,
            hours_ago: 6,
        },
        FeatureSpec {
            branch: INCOMPLETE_BRANCH,
            agent: "agent-footer",
            subject: "Footer: terms link",
            summary: "Footer: adds the terms link.",
            page: pages::footer_links()?,
            rebaseline: false,
            evidence: false,
            after_gate: None,
            hours_ago: 5,
        },
        FeatureSpec {
            branch: STALE_BRANCH,
            agent: "agent-pricing",
            subject: "Header: pricing link",
            summary: "Header: pricing link for the launch.",
            page: pages::pricing()?,
            rebaseline: false,
            evidence: true,
            after_gate: Some((
                "Pricing: launch-week discount note",
                pages::pricing_after_gate()?,
            )),
            hours_ago: 4,
        },
        FeatureSpec {
            branch: BAD_BRANCH,
            agent: "agent-auth",
            subject: "Auth: move sign-in into the <auth-widget> component",
            summary:
                "Sign-in refactored into <auth-widget>; baseline updated for the smaller page.",
            page: pages::auth_refactor()?,
            rebaseline: true,
            evidence: true,
            after_gate: None,
            hours_ago: 3,
        },
    ];
    let golden_tree = repo
        .git
        .find_commit(golden_commit)
        .and_then(|c| c.tree())
        .map_err(setup)?;
    for f in &features {
        let t = now - chrono::Duration::hours(f.hours_ago);
        let email = format!("{}@agents.invalid", f.agent);
        let author = sig(f.agent, &email, t).map_err(setup)?;
        let mut files = base_files(&cfg_text, &f.page);
        if !f.rebaseline {
            files.insert(
                "deployment/deploy_baseline.env".into(),
                (baseline_for(&pages::golden()).into_bytes(), false),
            );
        }
        let code = commit(&repo.git, Some(main_head), &files, f.subject, &author).map_err(setup)?;
        let code_s = code.to_string();

        // Gate (recorded in this box's chain, as `guardrail handoff` would).
        let log = gate_log(f.branch, &code_s, f.agent, &files);
        let log_sha = sha256_hex(log.as_bytes());
        let gate = record(
            &repo,
            &cfg,
            NewEntry::new(f.agent, "gate", f.branch, "PASS").with_details(json!({
                "commit": code_s,
                "gate_log_sha256": log_sha,
                "exit_code": 0,
                "seeded": "drill package",
            })),
        )
        .map_err(setup)?;

        // Snapshot: the console's own baseline check and the watched diff.
        let code_tree = repo
            .git
            .find_commit(code)
            .and_then(|c| c.tree())
            .map_err(setup)?;
        let report = baseline::check_tree(
            &repo.git,
            &code_tree,
            &cfg.baseline.file,
            &cfg.baseline.files,
        )
        .map_err(setup)?;
        let diffs = baseline::diff_watched(&repo.git, &golden_tree, &code_tree, &cfg.project.watch)
            .map_err(setup)?;
        let snapshot =
            baseline::render_snapshot_md(&report, &diffs, Some(&golden_tag), f.branch, &code_s);

        let manifest = HandoffManifest {
            branch: f.branch.to_string(),
            commit: code_s.clone(),
            created: t + chrono::Duration::minutes(10),
            author: f.agent.to_string(),
            proposed_tag: sb.next_tag.clone(),
            proposed_bundle: format!("{}/{}.zip", cfg.project.backups_dir, sb.next_tag),
            summary: f.summary.to_string(),
            gate: GateSection {
                result: GateResult::Pass,
                exit_code: 0,
                log: "gate.log".into(),
                sha256: log_sha.clone(),
            },
            snapshot: SnapshotSection::default(),
        };
        let pkg = handoff::package_dir(f.branch);
        let mut with_pkg = files.clone();
        let mut put = |name: &str, bytes: Vec<u8>| {
            with_pkg.insert(format!("{pkg}/{name}"), (bytes, false));
        };
        put("handoff.toml", manifest.render().into_bytes());
        put("gate.log", log.into_bytes());
        put("snapshot.md", snapshot.into_bytes());
        put("audit.json", gate.to_line().into_bytes());
        if f.evidence {
            for i in 1..=10 {
                put(
                    &format!("evidence/ps101-step-{i:02}.png"),
                    assets::PNG.to_vec(),
                );
            }
            put("evidence/auth-modal.png", assets::PNG.to_vec());
        }
        let pkg_author = sig(f.agent, &email, t + chrono::Duration::minutes(10)).map_err(setup)?;
        let mut head = commit(
            &repo.git,
            Some(code),
            &with_pkg,
            &format!("Handoff package for {}", f.branch),
            &pkg_author,
        )
        .map_err(setup)?;
        if let Some((subject, page)) = &f.after_gate {
            let mut later = with_pkg.clone();
            later.insert(
                "mosaic_ui/index.html".into(),
                (page.clone().into_bytes(), false),
            );
            let late = sig(f.agent, &email, t + chrono::Duration::minutes(40)).map_err(setup)?;
            head = commit(&repo.git, Some(head), &later, subject, &late).map_err(setup)?;
        }
        repo.git
            .reference(
                &format!("refs/heads/{}", f.branch),
                head,
                true,
                "drill: feature branch",
            )
            .map_err(setup)?;
        if f.rebaseline {
            // The new baseline guards the release: the release manager has
            // acknowledged it already (the drill is about the rollback).
            let head_commit = repo.git.find_commit(head).map_err(setup)?;
            let files = super::guard::changes(&repo, &cfg, &head_commit).map_err(setup)?;
            record(
                &repo,
                &cfg,
                NewEntry::new(&sb.user, super::guard::ACTION, f.branch, "OK").with_details(json!({
                    "commit": head.to_string(),
                    "files": files,
                    "seeded": "drill package",
                })),
            )
            .map_err(setup)?;
        }
    }

    // Production serves the golden build, restored from its backup.
    let work = tempfile::Builder::new()
        .prefix("drill-restore-")
        .tempdir_in(&repo.state.path)
        .map_err(setup)?;
    let restored = work.path().join("bundle");
    backup::restore(&cfg.backup_path(&repo.root, &golden_tag), &restored).map_err(setup)?;
    playbook::copy_publish(&restored.join(&cfg.project.bundle_dir), &sb.site_dir).map_err(setup)?;
    drop(work);
    repo.state
        .write_live(&LiveRecord {
            tag: Some(golden_tag.clone()),
            commit: golden_commit.to_string(),
            build_id: golden_build,
            branch: Some(releases[2].3.to_string()),
            action: "deploy".into(),
            actor: "codex".into(),
            time: golden_time.to_rfc3339_opts(SecondsFormat::Secs, true),
            health: LiveHealth::Ok,
            bad_tags: Vec::new(),
            failure: None,
        })
        .map_err(setup)?;
    record(
        &repo,
        &cfg,
        NewEntry::new(&sb.user, "drill", "sandbox", "READY").with_details(json!({
            "sandbox": sb.dir.display().to_string(),
            "url": sb.url,
            "publish_dir": sb.site_dir.display().to_string(),
            "golden": golden_tag,
        })),
    )
    .map_err(setup)?;
    Ok(())
}

// ---------------------------------------------------------------------------
// Rolling back (stand-in for the rollback module)

/// A verified (or not) restore of the golden build.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub tag: String,
    pub commit: String,
    pub build_id: String,
    /// Where the files came from (`backup …` or `the tag's git tree`).
    pub source: String,
    pub verify: VerifyReport,
    /// From the start of the restore to the end of its verification.
    pub seconds: f64,
    pub rollout_log: PathBuf,
    pub release_log: Option<PathBuf>,
}

/// Rolls production back to the newest prod tag not marked bad, through
/// the same rollback functions as `guardrail rollback` and the console's `R`
/// (plan with the backup, or the tag's tree when the backup is refused).
/// Drill-only: refused unless the repository is marked as a drill.
pub fn restore_golden(
    repo: &Repo,
    cfg: &Config,
    reason: &str,
    ev: &mut (dyn FnMut(Event) + Send),
) -> Result<Restored, DrillError> {
    if !repo.is_drill() {
        return Err(DrillError::Refused(format!(
            "{} is not a drill sandbox; use the rollback command",
            repo.root.display()
        )));
    }
    let plan = super::rollback::plan(repo, cfg, None, true)
        .map_err(|e| DrillError::Step(e.to_string()))?;
    let o = super::rollback::rollback(repo, cfg, &plan, reason, Answers::Closed, ev)
        .map_err(|e| DrillError::Step(e.to_string()))?;
    Ok(Restored {
        tag: o.target,
        commit: o.commit,
        build_id: o.build_id,
        source: o.source,
        verify: o.verify,
        seconds: o.seconds_to_verified.unwrap_or(o.seconds),
        rollout_log: PathBuf::from(o.rollout_log),
        release_log: o.release_log.map(PathBuf::from),
    })
}

// ---------------------------------------------------------------------------
// The headless drill

/// How the drill went.
#[derive(Debug, Clone, Serialize)]
pub struct DrillReport {
    /// Every step went as the scenario intends.
    pub passed: bool,
    /// From the failed live verification to the verified restore.
    pub seconds_failure_to_restore: f64,
    /// (step, as intended, outcome) in order.
    pub steps: Vec<(String, bool, String)>,
}

/// One line per check: `✅ name  detail` / `❌ name  error`.
pub fn check_lines(r: &VerifyReport) -> Vec<String> {
    let width = r
        .checks
        .iter()
        .map(|c| c.name.chars().count())
        .max()
        .unwrap_or(0);
    r.checks
        .iter()
        .map(|c| {
            let note = match c.state {
                CheckState::Ok | CheckState::Warn => c.detail.clone().unwrap_or_default(),
                _ => c
                    .last_error
                    .clone()
                    .unwrap_or_else(|| "did not finish".into()),
            };
            let sym = if c.state == CheckState::Warn {
                "⚠️ "
            } else {
                c.state.symbol()
            };
            format!("{sym} {:<width$}  {note}", c.name)
                .trim_end()
                .to_string()
        })
        .collect()
}

fn indent(text: &str, by: &str) -> String {
    text.lines().map(|l| format!("{by}{l}\n")).collect()
}

/// The playbook's events as printable lines, and when verification failed.
#[derive(Default)]
struct Seen {
    lines: Vec<String>,
    verify_ended: Option<Instant>,
}

fn playbook_sink(seen: Arc<Mutex<Seen>>) -> impl FnMut(Event) + Send {
    move |e| {
        let mut s = seen.lock().unwrap_or_else(|p| p.into_inner());
        match e {
            Event::Step(step, StepState::Done(note)) => {
                if step == Step::Verify {
                    s.verify_ended = Some(Instant::now());
                }
                s.lines.push(format!("▸ {}: {note}", step.title()));
            }
            Event::Step(step, StepState::Failed(note)) => {
                if step == Step::Verify {
                    s.verify_ended = Some(Instant::now());
                }
                s.lines.push(format!("▸ {}: stopped: {note}", step.title()));
            }
            Event::Prompt(p) => s.lines.push(format!("  gate asks: {}", p.trim_end())),
            _ => {}
        }
    }
}

fn drain(seen: &Arc<Mutex<Seen>>, out: &mut dyn Write) -> io::Result<()> {
    let lines = std::mem::take(&mut seen.lock().unwrap_or_else(|p| p.into_inner()).lines);
    for l in lines {
        writeln!(out, "    {l}")?;
    }
    out.flush()
}

/// [`run_headless_with`] answering `yes` to the gate's five questions.
pub fn run_headless(sb: &Sandbox, out: &mut dyn Write) -> Result<DrillReport, DrillError> {
    run_headless_with(
        sb,
        Answers::Scripted(GATE_ANSWERS.iter().map(|s| s.to_string()).collect()),
        out,
    )
}

/// The scenario without a terminal: each step printed with its outcome;
/// `DRILL_REPORT.md` written into the sandbox.
pub fn run_headless_with(
    sb: &Sandbox,
    gate_answers: Answers,
    out: &mut dyn Write,
) -> Result<DrillReport, DrillError> {
    let io = |e: io::Error| DrillError::Step(format!("could not print: {e}"));
    let repo = sb.repo()?;
    let cfg = repo.config().map_err(step_err)?;
    sb.check_contained(&repo, &cfg)?;
    let started = Utc::now();
    let mut steps: Vec<(String, bool, String)> = Vec::new();
    let n = STEPS.len();

    writeln!(
        out,
        "Rollback drill\n  sandbox:    {}\n  production: {} (serving {})\n  you:        {} (release manager)\n",
        sb.dir.display(),
        sb.url,
        sb.golden,
        sb.user
    )
    .map_err(io)?;

    // 1. Review a ready package.
    writeln!(out, "[1/{n}] {}: {}", STEPS[0], sb.ready_branch).map_err(io)?;
    let ctx = Context::load(&repo, &cfg).map_err(step_err)?;
    let mut states = Vec::new();
    for b in [
        &sb.ready_branch,
        &sb.incomplete_branch,
        &sb.stale_branch,
        &sb.bad_branch,
    ] {
        let info = repo.find_branch(&cfg, b).map_err(step_err)?;
        let a = package::assess(&repo, &cfg, &info, &ctx, entry_hash_ok).map_err(step_err)?;
        states.push(format!("{b} {}", a.state.as_str()));
        if *b == sb.ready_branch {
            write!(out, "{}", indent(&package::render_check_text(&a), "    ")).map_err(io)?;
            let ok = a.ready();
            let note = if ok {
                format!("{b} is ready: every checklist item ✅")
            } else {
                format!("{b} is {}, not ready", a.state.as_str())
            };
            steps.push((STEPS[0].into(), ok, note));
        }
    }
    writeln!(out, "    branches: {}", states.join(", ")).map_err(io)?;
    report_step(out, steps.last())?;

    // 2. The playbook on the bad branch.
    writeln!(
        out,
        "\n[2/{n}] {}: {} (gate answers: {})",
        STEPS[1],
        sb.bad_branch,
        match &gate_answers {
            Answers::Scripted(v) => v.join(", "),
            _ => "none".into(),
        }
    )
    .map_err(io)?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    let mut sink = playbook_sink(seen.clone());
    let mut failed_verify: Option<VerifyReport> = None;
    match Playbook::new(&repo, &cfg, &sb.bad_branch, gate_answers) {
        Ok(mut pb) => {
            let mut err = None;
            while pb.next_step().is_some() {
                let r = pb.run_next(&repo, &mut sink);
                drain(&seen, out).map_err(io)?;
                if let Err(e) = r {
                    err = Some(e);
                    break;
                }
            }
            let outcome = pb.outcome.clone();
            let (ok, note) = match (err, outcome) {
                (Some(e), _) => (false, format!("the playbook stopped: {e}")),
                (None, Some(o)) if o.released => (
                    false,
                    format!(
                        "{} was released as {}: live verification did not catch the missing auth modal",
                        o.branch,
                        o.tag.unwrap_or_default()
                    ),
                ),
                (None, Some(o)) => {
                    let failed = o.verify.as_ref().is_some_and(|v| !v.ok);
                    failed_verify = o.verify.clone();
                    if failed {
                        (
                            true,
                            format!(
                                "nothing released: live verification failed after deploying BUILD_ID {}{}",
                                o.build_id.unwrap_or_default(),
                                if o.offer_rollback {
                                    "; the playbook offers the rollback"
                                } else {
                                    ""
                                }
                            ),
                        )
                    } else {
                        (false, "the playbook ended without verifying".into())
                    }
                }
                (None, None) => (false, "the playbook ended without an outcome".into()),
            };
            steps.push((STEPS[1].into(), ok, note));
        }
        Err(e) => steps.push((STEPS[1].into(), false, e.to_string())),
    }
    report_step(out, steps.last())?;
    let failed_at = seen
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .verify_ended
        .unwrap_or_else(Instant::now);

    // 3. What failed.
    writeln!(out, "\n[3/{n}] {}", STEPS[2]).map_err(io)?;
    match &failed_verify {
        Some(v) => {
            for l in check_lines(v) {
                writeln!(out, "    {l}").map_err(io)?;
            }
            let failing: Vec<&str> = v.failures().map(|c| c.name.as_str()).collect();
            let ok = !failing.is_empty();
            let note = if ok {
                format!(
                    "production fails {} of {} checks: {}",
                    failing.len(),
                    v.checks.len(),
                    failing.join(", ")
                )
            } else {
                "every check passed: the bad build was not caught".to_string()
            };
            steps.push((STEPS[2].into(), ok, note));
        }
        None => steps.push((STEPS[2].into(), false, "no live verification ran".into())),
    }
    report_step(out, steps.last())?;

    // 4. Roll back.
    writeln!(out, "\n[4/{n}] {} to the golden build", STEPS[3]).map_err(io)?;
    let rb_seen = Arc::new(Mutex::new(Seen::default()));
    let rb_lines = rb_seen.clone();
    let mut rb_sink = move |e: Event| {
        if let Event::Output(s) = e {
            let mut g = rb_lines.lock().unwrap_or_else(|p| p.into_inner());
            g.lines.extend(
                s.lines()
                    .filter(|l| l.starts_with("guardrail:"))
                    .map(str::to_string),
            );
        }
    };
    let reason = format!(
        "drill: live verification failed after deploying {}",
        sb.bad_branch
    );
    let mut seconds = f64::NAN;
    let mut rollout_entry = None;
    match restore_golden(&repo, &cfg, &reason, &mut rb_sink) {
        Ok(r) => {
            let restored_at = Instant::now();
            seconds = restored_at.duration_since(failed_at).as_secs_f64();
            drain(&rb_seen, out).map_err(io)?;
            for l in check_lines(&r.verify) {
                writeln!(out, "    {l}").map_err(io)?;
            }
            let ok = r.verify.ok && r.tag == sb.golden;
            steps.push((
                STEPS[3].into(),
                ok,
                format!(
                    "rolled back to {} from {} in {:.1}s ({})",
                    r.tag,
                    r.source,
                    r.seconds,
                    if r.verify.ok {
                        "verified".to_string()
                    } else {
                        format!("{} checks failed", r.verify.failures().count())
                    }
                ),
            ));
            rollout_entry = Some(r);
        }
        Err(e) => {
            drain(&rb_seen, out).map_err(io)?;
            steps.push((STEPS[3].into(), false, e.to_string()));
        }
    }
    report_step(out, steps.last())?;

    // 5. Verify again, as `guardrail verify` does.
    writeln!(out, "\n[5/{n}] {}", STEPS[4]).map_err(io)?;
    match verify::verify_and_record(
        &repo,
        &cfg,
        None,
        Expect::default(),
        Answers::Closed,
        |_| {},
        |report, build_id| alerts::live_verify(&repo, &cfg, report, build_id),
    ) {
        Ok(v) => {
            for l in check_lines(&v) {
                writeln!(out, "    {l}").map_err(io)?;
            }
            steps.push((
                STEPS[4].into(),
                v.ok,
                if v.ok {
                    format!("all {} checks ✅ on {}", v.checks.len(), v.url)
                } else {
                    format!("{} checks failed", v.failures().count())
                },
            ));
        }
        Err(e) => steps.push((STEPS[4].into(), false, e.to_string())),
    }
    report_step(out, steps.last())?;

    // 6. The records.
    writeln!(out, "\n[6/{n}] {}", STEPS[5]).map_err(io)?;
    let rollout_path = config::resolve(&repo.root, &cfg.project.rollout_log);
    let rollout = std::fs::read_to_string(&rollout_path).unwrap_or_default();
    let last_section = rollout
        .rfind("\n## ")
        .map(|i| rollout[i + 1..].to_string())
        .unwrap_or_default();
    writeln!(out, "    {}:", rel(&repo.root, &rollout_path)).map_err(io)?;
    write!(out, "{}", indent(&last_section, "      ")).map_err(io)?;
    let log_dir = config::resolve(&repo.root, &cfg.project.release_log_dir);
    let mut logs: Vec<String> = std::fs::read_dir(&log_dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".md") && !rollout_path.ends_with(n))
                .collect()
        })
        .unwrap_or_default();
    logs.sort();
    writeln!(
        out,
        "    {}/: {}",
        rel(&repo.root, &log_dir),
        logs.join(", ")
    )
    .map_err(io)?;
    let tags = repo.prod_tags(&cfg).map_err(step_err)?;
    let checkpoint = highest_checkpoint(
        tags.iter()
            .rev()
            .map(|t| (t.name.as_str(), t.message.as_deref())),
    )
    .map(|(_, c)| c);
    let chain = audit_log(&repo)
        .verify(checkpoint.as_ref())
        .map_err(step_err)?;
    writeln!(out, "    audit chain: {chain}").map_err(io)?;
    for r in audit_log(&repo).tail(5).map_err(step_err)? {
        writeln!(
            out,
            "      #{:<3} {:<9} {:<8} {} by {}",
            r.seq, r.action, r.result, r.target, r.actor
        )
        .map_err(io)?;
    }
    let logged = !last_section.is_empty() && last_section.contains(&sb.golden);
    let ok = chain.is_intact() && logged;
    steps.push((
        STEPS[5].into(),
        ok,
        format!(
            "rollout log {}; audit chain {}",
            if logged {
                "holds the rollback"
            } else {
                "has no rollback entry"
            },
            if chain.is_intact() {
                "intact"
            } else {
                "BROKEN"
            }
        ),
    ));
    report_step(out, steps.last())?;

    let passed = steps.len() == n && steps.iter().all(|s| s.1);
    let report = DrillReport {
        passed,
        seconds_failure_to_restore: if seconds.is_finite() { seconds } else { 0.0 },
        steps,
    };
    let doc = render_report(sb, &report, started, rollout_entry.as_ref(), &last_section);
    std::fs::write(sb.report_path(), doc).map_err(|e| {
        DrillError::Step(format!(
            "{} could not be written: {e}",
            sb.report_path().display()
        ))
    })?;
    if passed {
        writeln!(
            out,
            "\nDrill PASSED: {:.1}s from the failed verification to the verified restore.",
            report.seconds_failure_to_restore
        )
        .map_err(io)?;
    } else {
        let failed: Vec<&str> = report
            .steps
            .iter()
            .filter(|s| !s.1)
            .map(|s| s.0.as_str())
            .collect();
        writeln!(out, "\nDrill FAILED at: {}.", failed.join(", ")).map_err(io)?;
    }
    writeln!(out, "Report: {}", sb.report_path().display()).map_err(io)?;
    Ok(report)
}

fn rel(root: &Path, p: &Path) -> String {
    p.strip_prefix(root).unwrap_or(p).display().to_string()
}

fn report_step(out: &mut dyn Write, s: Option<&(String, bool, String)>) -> Result<(), DrillError> {
    if let Some((_, ok, note)) = s {
        writeln!(out, "  {} {note}", if *ok { "✅" } else { "❌" })
            .and_then(|_| out.flush())
            .map_err(|e| DrillError::Step(format!("could not print: {e}")))?;
    }
    Ok(())
}

/// `DRILL_REPORT.md`.
pub fn render_report(
    sb: &Sandbox,
    r: &DrillReport,
    started: DateTime<Utc>,
    restored: Option<&Restored>,
    rollout_section: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Rollback drill report\n");
    let _ = writeln!(
        s,
        "- **Result:** {}",
        if r.passed { "PASSED ✅" } else { "FAILED ❌" }
    );
    let _ = writeln!(
        s,
        "- **Started (UTC):** {}",
        started.to_rfc3339_opts(SecondsFormat::Secs, true)
    );
    let _ = writeln!(s, "- **Release manager:** {}", sb.user);
    let _ = writeln!(s, "- **Sandbox:** {}", sb.dir.display());
    let _ = writeln!(s, "- **Production:** {}", sb.url);
    let _ = writeln!(s, "- **Bad branch:** {}", sb.bad_branch);
    let _ = writeln!(s, "- **Golden build:** {}", sb.golden);
    if let Some(x) = restored {
        let _ = writeln!(s, "- **Restored:** {} from {}", x.tag, x.source);
    }
    let _ = writeln!(
        s,
        "- **Seconds from failed verification to verified restore:** {:.1}\n",
        r.seconds_failure_to_restore
    );
    let _ = writeln!(s, "| # | step | result | outcome |");
    let _ = writeln!(s, "| --- | --- | --- | --- |");
    for (i, (name, ok, note)) in r.steps.iter().enumerate() {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {} |",
            i + 1,
            name.replace('|', "\\|"),
            if *ok { "✅" } else { "❌" },
            note.replace('|', "\\|").replace('\n', " ")
        );
    }
    if let Some(x) = restored {
        let _ = writeln!(s, "\n## Checks after the rollback\n");
        for l in check_lines(&x.verify) {
            let _ = writeln!(s, "- {l}");
        }
    }
    if !rollout_section.is_empty() {
        let _ = writeln!(s, "\n## Rollout log entry\n");
        let _ = write!(s, "{}", rollout_section.replacen("## ", "### ", 1));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baseline_asset_matches_the_pages() {
        let b = baseline::parse(assets::BASELINE, "baseline").unwrap();
        let m = baseline::line_count(assets::MOSAIC_UI.as_bytes());
        let f = baseline::line_count(assets::FRONTEND.as_bytes());
        assert_eq!(b.get("MOSAIC_UI_LINE_COUNT"), Some(m.to_string().as_str()));
        assert_eq!(b.get("FRONTEND_LINE_COUNT"), Some(f.to_string().as_str()));
    }

    #[test]
    fn page_versions() {
        let golden = pages::golden();
        assert!(golden.contains("id=\"authModal\""));
        assert!(golden.contains("PS101State"));
        assert!(golden.contains("<!-- BUILD_ID:dev -->"));
        assert_eq!(golden.matches("class=\"ps101-step\"").count(), 10);
        let n = baseline::line_count(golden.as_bytes());
        for p in [
            pages::tag1().unwrap(),
            pages::tag2().unwrap(),
            pages::ps101_copy().unwrap(),
            pages::footer_links().unwrap(),
            pages::pricing().unwrap(),
            pages::pricing_after_gate().unwrap(),
        ] {
            assert_ne!(p, golden);
            assert_eq!(baseline::line_count(p.as_bytes()), n);
            assert!(p.contains("authModal") && p.contains("PS101State"));
        }
        let bad = pages::auth_refactor().unwrap();
        assert!(!bad.contains("authModal"), "{bad}");
        assert!(bad.contains("PS101State"));
        assert!(
            baseline::line_count(bad.as_bytes()) + 5 < n,
            "outside the golden tolerance"
        );
    }

    #[test]
    fn config_template_parses() {
        let t = config_text(
            "o'brien \"x\"",
            "http://127.0.0.1:1",
            Path::new("/tmp/a b/site"),
        );
        let c = Config::from_str(&t, "drill").unwrap();
        assert_eq!(
            c.authority.release_managers,
            vec!["o'brien \"x\"".to_string()]
        );
        assert_eq!(c.live.publish_dir, "/tmp/a b/site");
        assert_eq!(c.live.check.len(), 5);
        assert_eq!(c.project.name, "Mosaic (drill)");
    }

    #[test]
    fn targets_stay_inside_the_root() {
        let root = Path::new("/srv/site");
        assert_eq!(
            resolve_target(root, "/").unwrap(),
            Path::new("/srv/site/index.html")
        );
        assert_eq!(
            resolve_target(root, "/img/a%20b.png?x=1").unwrap(),
            Path::new("/srv/site/img/a b.png")
        );
        assert!(resolve_target(root, "/../etc/passwd").is_none());
        assert!(resolve_target(root, "/%2e%2e/etc/passwd").is_none());
        assert!(resolve_target(root, "http://x/").is_none());
        assert_eq!(content_type(Path::new("a.PNG")), "image/png");
        assert_eq!(
            content_type(Path::new("a.html")),
            "text/html; charset=utf-8"
        );
    }

    fn get(addr: SocketAddr, req: &str) -> String {
        let mut s = TcpStream::connect(addr).unwrap();
        s.write_all(req.as_bytes()).unwrap();
        let mut out = Vec::new();
        s.read_to_end(&mut out).unwrap();
        String::from_utf8_lossy(&out).into_owned()
    }

    #[test]
    fn server_serves_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("index.html"), "<p>authModal</p>\n").unwrap();
        std::fs::write(dir.path().join("a.png"), assets::PNG).unwrap();
        let mut srv = Server::start(dir.path()).unwrap();
        let addr = srv.addr();
        let r = get(addr, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 200 OK\r\n"), "{r}");
        assert!(r.contains("Content-Type: text/html; charset=utf-8\r\n"));
        assert!(r.contains("Connection: close\r\n"));
        assert!(r.ends_with("<p>authModal</p>\n"));
        let r = get(addr, "GET /a.png HTTP/1.1\r\n\r\n");
        assert!(r.contains("Content-Type: image/png"), "{r}");
        let r = get(addr, "GET /missing HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 404"), "{r}");
        let r = get(addr, "POST / HTTP/1.1\r\n\r\n");
        assert!(r.starts_with("HTTP/1.1 405"), "{r}");
        assert_eq!(srv.requests(), 4);
        srv.stop();
        // Nothing answers any more.
        let gone = TcpStream::connect_timeout(&addr, Duration::from_millis(300))
            .map(|mut s| {
                let _ = s.write_all(b"GET / HTTP/1.1\r\n\r\n");
                let mut out = String::new();
                let _ = s.read_to_string(&mut out);
                out
            })
            .unwrap_or_default();
        assert!(gone.is_empty(), "{gone}");
    }
}

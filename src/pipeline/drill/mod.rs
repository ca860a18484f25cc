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
use super::handoff::package::{self, Context};
use super::handoff::{self, sha256_hex, GateResult, GateSection, HandoffManifest, SnapshotSection};
use super::playbook::{self, Event, Playbook, Step, StepState};
use super::record::{audit_log, record};
use super::release::{self, GateEvidence, ReleaseKind, ReleaseLogEntry, ReleaseMessage};
use super::repo::{next_free_tag, Repo};
use super::runner::Answers;
use super::scripts;
use super::state::{LiveHealth, LiveRecord};
use super::tags::prod_tag_name;
use super::verify::{self, CheckState, Expect, VerifyReport};

pub mod pages;
mod report;
mod sandbox;
mod scenario;
mod server;

pub use pages::*;
pub use report::*;
pub use sandbox::*;
pub use scenario::*;
pub use server::*;

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

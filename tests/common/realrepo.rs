//! A repository shaped like the real one the protocol was written for
//! (Mosaic, "What Is My Delta"), as it is, not as guardrail would like it:
//! a `.gitignore` that ignores `*.log`, `evidence/` and the protocol audit
//! log; a zsh gate asking five questions whose automated step wants a site
//! backup from the last hour; a prepare script that makes that backup; a
//! deploy script that `git add`s and `git commit`s in the checkout, runs the
//! gate again and `git push origin main` to a real bare remote, then calls a
//! publish-only script (the Netlify one); `.ai-agents/` manifests, one of
//! them not valid JSON; a backup made by hand with no `MANIFEST.sha256` and
//! nested `index.html` files; agents' long branch names. The scripts are
//! written for these tests, after the behaviour of the real ones.
#![allow(dead_code)]

use std::path::PathBuf;

use super::fixture::{mosaic, mosaic_page, mosaic_repo, Fixture};
use super::http::HttpServer;

/// An agent's branch that changes only the page.
pub const LONG_BRANCH: &str = "claude/project-handoff-review-01JmBEn7v6sntCLzqwDnYbbH";
/// An agent's branch that edits the gate to skip its auth check.
pub const GATE_SKIP_BRANCH: &str = "claude/gate-fast-path-01Q5vXc2LkP9sTnRbYhZwEjA";
/// The legacy manifest that is not valid JSON (line 10: a bare value).
pub const BAD_MANIFEST: &str = ".ai-agents/handoff_20251118_033233.json";
/// A hand-made backup: no MANIFEST.sha256, nested index.html files.
pub const HAND_BACKUP: &str = "backups/prod-2025-11-12.zip";
/// The gate's line when the prepare hook did not run.
pub const NO_BACKUP_LINE: &str = "❌ NO RECENT BACKUP FOUND";

pub const GITIGNORE: &str = "# env & secrets\n.env\n*.key\n\n# runtime\n.DS_Store\n\
node_modules/\n\n# Logs\n*.log\n.verification_audit.log\n\n# local evidence captures\nevidence/\n\
\n# site backups\nbackups/\n";

/// The deploy gate: automated checks, then five questions (zsh).
pub const GATE: &str = r#"#!/bin/zsh
# Mosaic deploy gate: automated checks first, then the manual checklist.
set -euo pipefail
cd "${0:A:h}/.."

STAMP="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
ACTOR="${DEPLOY_ACTOR:-$(whoami)}"
LOG=.verification_audit.log

print "🛡️  Mosaic Deployment Gate"
print "Actor: $ACTOR at $STAMP"
print "Step 1: automated verification"

abort() {
  print "[$STAMP] deploy_gate FAIL ($1) actor=$ACTOR" >> $LOG
  print ""
  print "❌ $2"
  exit 1
}

grep -q authModal mosaic_ui/index.html || abort auth "AUTH MODAL MISSING from mosaic_ui/index.html"
grep -q PS101State mosaic_ui/index.html || abort ps101 "PS101 STATE MISSING from mosaic_ui/index.html"
[[ -z "$(git status --porcelain)" ]] || abort dirty "WORKING TREE NOT CLEAN (commit or stash first)"
recent=( backups/site-backup_*.zip(N.mh-1) )
(( ${#recent} > 0 )) || abort backup "NO RECENT BACKUP FOUND (backups/site-backup_*.zip within the last hour; run scripts/create_site_backup.sh)"
print "✅ Automated verification passed"

questions=(
  "Baseline snapshot or diff reviewed"
  "Auth + coach smoke test run on this build"
  "PS101 10-step flow walked end-to-end against this build"
  "Release notes and DEPLOYMENT_CHECKLIST updated"
  "Human reviewer told about user-facing changes"
)
print "Step 2: manual checklist (yes / no / n/a)"
for q in "${questions[@]}"; do
  while true; do
    printf '%s? [yes/no/n/a]: ' "$q"
    read -r reply
    case "${reply:l}" in
      yes|y|n/a|na) break ;;
      no|n) abort "manual:$q" "'$q' not confirmed" ;;
      *) print "Please answer yes, no or n/a." ;;
    esac
  done
done
print "[$STAMP] deploy_gate PASS actor=$ACTOR" >> $LOG
print "🟢 Deployment gate cleared. Safe to push and deploy."
"#;

/// The prepare hook: a zip of the site in backups/ (git makes the zip).
pub const SITE_BACKUP: &str = r#"#!/bin/bash
# Back up the site before a deploy: backups/site-backup_<UTC time>.zip
set -euo pipefail
cd "$(dirname "$0")/.."
dir="${SITE_BACKUP_DIR:-backups}"
mkdir -p "$dir"
name="$dir/site-backup_$(date -u +%Y%m%d_%H%M%S).zip"
git archive --format=zip -o "$name" HEAD mosaic_ui
echo "✅ Site backup written: $name"
"#;

/// The one-step deploy: commits in the checkout, gate again, push main,
/// then the publish-only script.
pub const DEPLOY_NOW: &str = r#"#!/bin/zsh
set -euo pipefail
cd "${0:A:h}/.."
print "🚀 Deploy Now - one-step deploy"
print "📦 Staging files..."
git add mosaic_ui/index.html frontend/index.html || true
print "📝 Committing..."
git commit -q -m "Mosaic: deploy $(date -u +%Y%m%dT%H%M%SZ)" || print "ℹ️  No changes to commit"
print "🛡️  Enforcing the deployment gate again..."
printf 'yes\n%.0s' 1 2 3 4 5 | ./scripts/run_deploy_gate.sh
print "📤 Pushing to origin main..."
git push origin main
print "🌐 Deploying to production..."
NETLIFY_DEPLOY_DIR=mosaic_ui ./scripts/deploy_frontend_netlify.sh
print "✅ Deploy complete!"
"#;

/// The publish-only script (Netlify in the real repository; here a
/// directory the test's web server serves, given as `NETLIFY_SITE_DIR`).
pub fn netlify_script(site: &std::path::Path) -> String {
    format!(
        r#"#!/bin/bash
# Publish $NETLIFY_DEPLOY_DIR to the production site; nothing else.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR="${{NETLIFY_DEPLOY_DIR:-mosaic_ui}}"
SITE="${{NETLIFY_SITE_DIR:-{site}}}"
[ -f "$DIR/index.html" ] || {{ echo "❌ $DIR/index.html is missing"; exit 1; }}
mkdir -p "$SITE"
rm -rf "$SITE"/*
cp -R "$DIR"/. "$SITE"/
echo "✅ Published $DIR to $SITE"
"#,
        site = site.display()
    )
}

/// Valid legacy manifest naming [`LONG_BRANCH`].
pub fn good_manifest(commit: &str) -> String {
    format!(
        "{{\n  \"timestamp\": \"2025-11-19T01:08:14Z\",\n  \"commit\": \"{commit}\",\n  \
         \"commit_message\": \"Handoff review\",\n  \"branch\": \"{LONG_BRANCH}\",\n  \
         \"latest_backup\": \"backups/prod-2025-11-12.zip\",\n  \"critical_features\": {{\n    \
         \"auth_present\": true,\n    \"ps101_present\": true\n  }},\n  \
         \"next_agent_checklist\": [\"Run the gate\"]\n}}\n"
    )
}

/// Not valid JSON: line 10 holds a value without quotes.
pub const BAD_MANIFEST_TEXT: &str = "{\n  \"timestamp\": \"2025-11-18T03:32:33Z\",\n  \
\"commit\": \"0000000\",\n  \"commit_message\": \"wip\",\n  \"branch\": \"claude/project-handoff-review-01JmBEn7v6sntCLzqwDnYbbH\",\n  \
\"critical_features\": {\n    \"auth_present\": true,\n    \"ps101_present\": true\n  },\n  \
\"latest_backup\": backups/prod-2025-11-13.zip,\n  \"next_agent_checklist\": []\n}\n";

pub struct RealRepo {
    pub f: Fixture,
    pub server: HttpServer,
    /// What the web server serves (production).
    pub site: PathBuf,
    /// The bare repository `origin` points at.
    pub origin: PathBuf,
}

impl RealRepo {
    /// `main` as the bare remote has it.
    pub fn origin_main(&self) -> String {
        self.f.git(&[
            "--git-dir",
            &self.origin.display().to_string(),
            "rev-parse",
            "main",
        ])
    }
}

/// The `[scripts]` table of [`real_repo`]: the prepare hook only.
pub const PREPARE: &str = "prepare = \"scripts/create_site_backup.sh\"\n";

/// `guardrail.toml` on main: the release manager, `scripts` as the body of
/// `[scripts]`, production.
pub fn real_config(url: &str, scripts: &str) -> String {
    format!(
        "[authority]\nrelease_managers = [\"{rm}\"]\n\n\
         [scripts]\n{scripts}\n\
         [live]\nurl = \"{url}\"\ndeadline = \"3s\"\nrequest_timeout = \"500ms\"\npoll = \"0s\"\n\n\
         [[live.check]]\nname = \"site reachable\"\npath = \"/\"\nstatus = 200\n\n\
         [[live.check]]\nname = \"auth modal\"\npath = \"/\"\ncontains = [\"authModal\"]\n",
        rm = mosaic::RELEASE_MANAGER,
    )
}

/// The mosaic fixture made to look like the real repository (see the
/// module documentation); `scripts` is the body of `[scripts]` in
/// `guardrail.toml` (e.g. [`PREPARE`]).
/// Branches: [`LONG_BRANCH`] (page change, no package yet) and
/// [`GATE_SKIP_BRANCH`] (the gate's auth check removed). `main` checked
/// out and pushed to `origin`.
pub fn real_repo(scripts: &str) -> RealRepo {
    let f = mosaic_repo();
    let site = f.tempdir().join("site");
    std::fs::create_dir_all(&site).unwrap();
    let server = HttpServer::serve_dir(&site);

    f.write(".gitignore", GITIGNORE);
    f.write_script("scripts/run_deploy_gate.sh", GATE);
    f.write_script("scripts/create_site_backup.sh", SITE_BACKUP);
    f.write_script("scripts/deploy_now_zsh.sh", DEPLOY_NOW);
    f.write_script("scripts/deploy_frontend_netlify.sh", netlify_script(&site));
    f.write_config(&real_config(&server.url(), scripts));
    f.write(BAD_MANIFEST, BAD_MANIFEST_TEXT);
    f.commit("Mosaic: deploy scripts, gate and agents' handoffs");

    // A backup made by hand before guardrail: no manifest, nested pages.
    let page = f.read(mosaic::MOSAIC_UI);
    f.write_zip(
        HAND_BACKUP,
        &[
            ("mosaic_ui/index.html", page.as_bytes()),
            ("mosaic_ui/ps101/index.html", b"<html>ps101</html>\n"),
            ("mosaic_ui/docs/guide/index.html", b"<html>guide</html>\n"),
        ],
    );

    // The agent's branch: a page change of the same line count.
    f.checkout_new(LONG_BRANCH);
    f.write(
        mosaic::MOSAIC_UI,
        mosaic_page("r3", &["  <footer>handoff review: copy fixes</footer>"]),
    );
    let long_head = f.commit("Handoff review: copy fixes");

    // The branch that edits its own gate.
    f.checkout("main");
    f.checkout_new(GATE_SKIP_BRANCH);
    f.write(
        mosaic::MOSAIC_UI,
        mosaic_page("r3", &["  <footer>fast path</footer>"]),
    );
    f.write_script(
        "scripts/run_deploy_gate.sh",
        GATE.replace(
            "grep -q authModal mosaic_ui/index.html || abort auth \"AUTH MODAL MISSING from mosaic_ui/index.html\"\n",
            "# auth check skipped: too slow\n",
        ),
    );
    f.commit("Gate: skip the slow auth check");

    // The valid legacy manifest, on main.
    f.checkout("main");
    f.write(
        ".ai-agents/handoff_20251119_010814.json",
        good_manifest(&long_head),
    );
    f.commit("Agents: handoff manifest");

    let origin = f.tempdir().join("origin.git");
    f.git(&["init", "-q", "--bare", &origin.display().to_string()]);
    f.add_remote("origin", &origin.display().to_string());
    f.git(&["push", "-q", "origin", "main"]);
    RealRepo {
        f,
        server,
        site,
        origin,
    }
}

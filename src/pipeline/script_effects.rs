//! What a script may do to git and what it did (SPEC §5): pushes refused by
//! git itself unless `[scripts] allow_push`, and after each script a look
//! at the checkout — commits it made, changes it left — so that the step's
//! result says so. The release is always of the reviewed commit, whatever
//! a script committed.
use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use super::common::sha256_hex;

/// The transport every push URL is rewritten to: git finds no helper for
/// it and refuses the push with `remote helper 'guardrail-push-refused'`.
pub const REFUSED_TRANSPORT: &str = "guardrail-push-refused";

/// The environment that makes git refuse every push of a script: one more
/// `GIT_CONFIG_KEY_<n>`/`VALUE_<n>` pair after those the user's
/// environment already has, rewriting every push URL (the empty prefix
/// matches them all) to [`REFUSED_TRANSPORT`]. Fetches are untouched.
pub fn refuse_push_env() -> Vec<(String, String)> {
    let n: usize = std::env::var("GIT_CONFIG_COUNT")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    vec![
        ("GIT_CONFIG_COUNT".into(), (n + 1).to_string()),
        (
            format!("GIT_CONFIG_KEY_{n}"),
            format!("url.{REFUSED_TRANSPORT}::.pushInsteadOf"),
        ),
        (format!("GIT_CONFIG_VALUE_{n}"), String::new()),
    ]
}

/// Whether a script's log shows a push that the refusal stopped.
pub fn push_was_refused(log: &[u8]) -> bool {
    String::from_utf8_lossy(log).contains(REFUSED_TRANSPORT)
}

/// The step's sentence for a refused push.
pub fn refused_push_sentence(script: &str) -> String {
    format!(
        "{script} tried to git push, which guardrail refuses for scripts (a release is of the \
         reviewed commit); set allow_push = true under [scripts] in guardrail.toml to let it push"
    )
}

/// The script's own failure line: the last line carrying `❌`, else the
/// last line saying FAIL, trimmed and cut to 160 characters.
pub fn failure_line(log: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(log);
    let lines: Vec<&str> = text
        .split(['\n', '\r'])
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    let found = lines
        .iter()
        .rev()
        .find(|l| l.contains('❌'))
        .or_else(|| lines.iter().rev().find(|l| l.contains("FAIL")))?;
    let mut s: String = found.chars().take(160).collect();
    if found.chars().count() > 160 {
        s.push('…');
    }
    Some(s)
}

/// The checkout as a script found it: its HEAD and the content of every
/// path `git status` lists (ignored files aside).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Before {
    head: Option<String>,
    changed: BTreeMap<String, Option<String>>,
}

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn status_paths(dir: &Path) -> Vec<String> {
    let Some(out) = git(
        dir,
        &["status", "--porcelain=v1", "-z", "--untracked-files=all"],
    ) else {
        return Vec::new();
    };
    let mut paths = Vec::new();
    let mut parts = out.split('\0');
    while let Some(entry) = parts.next() {
        if entry.len() < 4 {
            continue;
        }
        let (code, path) = entry.split_at(3);
        paths.push(path.to_string());
        // A rename names its source next.
        if code.starts_with('R') || code.starts_with('C') {
            parts.next();
        }
    }
    paths
}

fn content_hash(path: &Path) -> Option<String> {
    std::fs::read(path).ok().map(|b| sha256_hex(&b))
}

/// Looks at the checkout at `dir` before a script runs.
pub fn before(dir: &Path) -> Before {
    let head = git(dir, &["rev-parse", "--verify", "-q", "HEAD"]).map(|s| s.trim().to_string());
    let changed = status_paths(dir)
        .into_iter()
        .map(|p| {
            let h = content_hash(&dir.join(&p));
            (p, h)
        })
        .collect();
    Before { head, changed }
}

/// What `script` did to the checkout at `dir` since [`before`]: commits
/// made (HEAD moved) and files it changed, added or removed. Empty when it
/// left the checkout as it found it.
pub fn after(dir: &Path, script: &str, was: &Before) -> Vec<String> {
    let mut notes = Vec::new();
    let head = git(dir, &["rev-parse", "--verify", "-q", "HEAD"]).map(|s| s.trim().to_string());
    if head != was.head {
        let made = match (&was.head, &head) {
            (Some(old), Some(new)) => git(dir, &["rev-list", "--count", &format!("{old}..{new}")])
                .and_then(|n| n.trim().parse::<usize>().ok())
                .unwrap_or(0),
            _ => 0,
        };
        let subject = git(dir, &["log", "-1", "--format=%h \"%s\"", "HEAD"])
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let what = match made {
            0 => format!("moved the checkout's HEAD to {subject}"),
            1 => format!("made 1 commit in the checkout ({subject})"),
            n => format!("made {n} commits in the checkout (the last {subject})"),
        };
        notes.push(format!(
            "{script} {what}; it is not released: the release is of the reviewed commit {}",
            was.head
                .as_deref()
                .map(|h| &h[..h.len().min(7)])
                .unwrap_or("?")
        ));
    }
    let now: BTreeMap<String, Option<String>> = status_paths(dir)
        .into_iter()
        .map(|p| {
            let h = content_hash(&dir.join(&p));
            (p, h)
        })
        .collect();
    let mut changed: Vec<String> = now
        .iter()
        .filter(|(p, h)| was.changed.get(*p) != Some(*h))
        .map(|(p, _)| p.clone())
        .collect();
    // Changed before and clean now: reverted or committed by the script.
    changed.extend(
        was.changed
            .keys()
            .filter(|p| !now.contains_key(*p) && head == was.head)
            .cloned(),
    );
    if !changed.is_empty() {
        changed.sort();
        notes.push(format!(
            "{script} left the checkout changed: {}",
            super::common::list_some(&changed, 5)
        ));
    }
    notes
}

/// The one-line result of a deploy (or publish) script: `Ok` with its
/// outcome, `Err` when it failed — a refused push said as such — each
/// followed by what it did to the checkout at `co`.
pub fn deploy_result(
    script: &str,
    co: &Path,
    was: &Before,
    log: &Path,
    outcome: Result<super::runner::Outcome, super::runner::RunError>,
) -> Result<String, String> {
    let o = outcome.map_err(|e| e.to_string())?;
    let mut notes = after(co, script, was);
    let log_bytes = std::fs::read(log).unwrap_or_default();
    let head = if o.success() {
        format!("{script}: {o}")
    } else if push_was_refused(&log_bytes) {
        refused_push_sentence(script)
    } else {
        match failure_line(&log_bytes) {
            Some(l) => format!("{script}: {o}: {l}"),
            None => format!("{script}: {o}"),
        }
    };
    notes.insert(0, head);
    let text = notes.join("; ");
    if o.success() {
        Ok(text)
    } else {
        Err(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_failure_line_is_the_last_cross() {
        let log = "Step 1\n❌ NO RECENT BACKUP FOUND in backups/\nexit\n".as_bytes();
        assert_eq!(
            failure_line(log).as_deref(),
            Some("❌ NO RECENT BACKUP FOUND in backups/")
        );
        assert_eq!(
            failure_line(b"ok\ngate FAIL here\n").as_deref(),
            Some("gate FAIL here")
        );
        assert_eq!(failure_line(b"all good\n"), None);
    }

    #[test]
    fn refusal_is_appended_after_the_users_own_git_config_env() {
        let env = refuse_push_env();
        assert_eq!(env.len(), 3);
        assert!(env[1].1.ends_with(".pushInsteadOf"));
        assert!(push_was_refused(
            b"fatal: remote helper 'guardrail-push-refused' aborted session\n"
        ));
    }
}

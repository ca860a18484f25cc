//! The snapshot: the diff of the watched files against the golden build,
//! and the metrics check, rendered as Markdown.
use super::*;

/// How a watched file changed between two trees.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffStatus {
    Added,
    Deleted,
    Modified,
    Unchanged,
    /// In neither tree.
    Absent,
}

impl DiffStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DiffStatus::Added => "added",
            DiffStatus::Deleted => "deleted",
            DiffStatus::Modified => "modified",
            DiffStatus::Unchanged => "unchanged",
            DiffStatus::Absent => "absent",
        }
    }
}

/// The diff of one watched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileDiff {
    pub path: String,
    pub status: DiffStatus,
    /// Lines added / removed (0 for binary files).
    pub added: usize,
    pub removed: usize,
    /// Unified diff text, capped at [`PATCH_LINE_CAP`] lines with a note.
    pub patch: String,
}

/// The most patch lines kept per file.
pub const PATCH_LINE_CAP: usize = 2000;

/// Diffs the watched paths (files or directories) from `from` to `to`.
/// Returns one entry per watched path in `watch` order; a watched directory
/// yields one entry per changed file under it (or one `Unchanged` entry).
pub fn diff_watched(
    repo: &git2::Repository,
    from: &git2::Tree,
    to: &git2::Tree,
    watch: &[String],
) -> Result<Vec<FileDiff>, git2::Error> {
    if watch.is_empty() {
        return Ok(Vec::new());
    }
    let mut opts = git2::DiffOptions::new();
    for w in watch {
        opts.pathspec(w);
    }
    opts.ignore_submodules(true);
    let diff = repo.diff_tree_to_tree(Some(from), Some(to), Some(&mut opts))?;
    let present = |p: &str| {
        let path = Path::new(p);
        to.get_path(path).is_ok() || from.get_path(path).is_ok()
    };
    summarise(&diff, watch, present)
}

/// Diffs the watched paths from `from` to the files on disk in the working
/// tree (the index is not looked at). Untracked files under a watched path
/// count, with their lines as added; ignored files do not. Same shape as
/// [`diff_watched`].
pub fn diff_watched_workdir(
    repo: &git2::Repository,
    from: &git2::Tree,
    watch: &[String],
) -> Result<Vec<FileDiff>, git2::Error> {
    if watch.is_empty() {
        return Ok(Vec::new());
    }
    let mut opts = git2::DiffOptions::new();
    for w in watch {
        opts.pathspec(w);
    }
    opts.ignore_submodules(true)
        .include_untracked(true)
        .recurse_untracked_dirs(true)
        .show_untracked_content(true);
    let diff = repo.diff_tree_to_workdir(Some(from), Some(&mut opts))?;
    let workdir = repo.workdir().map(Path::to_path_buf);
    let present = |p: &str| {
        from.get_path(Path::new(p)).is_ok()
            || workdir
                .as_ref()
                .is_some_and(|w| w.join(p).symlink_metadata().is_ok())
    };
    summarise(&diff, watch, present)
}

/// One [`FileDiff`] per watched path (see [`diff_watched`]); `present` says
/// whether an unchanged watched path exists on either side.
pub(super) fn summarise(
    diff: &git2::Diff,
    watch: &[String],
    present: impl Fn(&str) -> bool,
) -> Result<Vec<FileDiff>, git2::Error> {
    struct Acc {
        status: DiffStatus,
        added: usize,
        removed: usize,
        lines: Vec<String>,
        dropped: usize,
    }
    let mut order: Vec<String> = Vec::new();
    let mut acc: BTreeMap<String, Acc> = BTreeMap::new();
    for delta in diff.deltas() {
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let status = match delta.status() {
            git2::Delta::Added | git2::Delta::Untracked => DiffStatus::Added,
            git2::Delta::Deleted => DiffStatus::Deleted,
            _ => DiffStatus::Modified,
        };
        if !acc.contains_key(&path) {
            order.push(path.clone());
        }
        acc.insert(
            path,
            Acc {
                status,
                added: 0,
                removed: 0,
                lines: Vec::new(),
                dropped: 0,
            },
        );
    }
    diff.print(git2::DiffFormat::Patch, |delta, _hunk, line| {
        let path = delta
            .new_file()
            .path()
            .or_else(|| delta.old_file().path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let Some(a) = acc.get_mut(&path) else {
            return true;
        };
        let origin = line.origin();
        match origin {
            '+' => a.added += 1,
            '-' => a.removed += 1,
            _ => {}
        }
        let content = String::from_utf8_lossy(line.content());
        let mut text = match origin {
            '+' | '-' | ' ' => format!("{origin}{content}"),
            '=' | '>' | '<' => content.into_owned(),
            _ => content.into_owned(),
        };
        if text.ends_with('\n') {
            text.pop();
        }
        for l in text.split('\n') {
            if a.lines.len() < PATCH_LINE_CAP {
                a.lines.push(l.to_string());
            } else {
                a.dropped += 1;
            }
        }
        true
    })?;

    let finish = |path: &str, a: &Acc| {
        let mut patch = a.lines.join("\n");
        if !patch.is_empty() {
            patch.push('\n');
        }
        if a.dropped > 0 {
            let _ = writeln!(
                patch,
                "… {} more lines not shown (patch capped at {PATCH_LINE_CAP} lines)",
                a.dropped
            );
        }
        FileDiff {
            path: path.to_string(),
            status: a.status,
            added: a.added,
            removed: a.removed,
            patch,
        }
    };

    let mut claimed: Vec<bool> = vec![false; order.len()];
    let mut out = Vec::new();
    for w in watch {
        let w_trim = w.trim_end_matches('/');
        let mut any = false;
        for (i, path) in order.iter().enumerate() {
            let under = path == w_trim || path.starts_with(&format!("{w_trim}/"));
            if under && !claimed[i] {
                claimed[i] = true;
                any = true;
                out.push(finish(path, &acc[path]));
            } else if under {
                any = true;
            }
        }
        if !any {
            let status = if present(w_trim) {
                DiffStatus::Unchanged
            } else {
                DiffStatus::Absent
            };
            out.push(FileDiff {
                path: w_trim.to_string(),
                status,
                added: 0,
                removed: 0,
                patch: String::new(),
            });
        }
    }
    // Matched by a pathspec glob but not by plain path prefix.
    for (i, path) in order.iter().enumerate() {
        if !claimed[i] {
            out.push(finish(path, &acc[path]));
        }
    }
    Ok(out)
}

pub(super) fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// The snapshot document: metrics table, per-file counts and the patches.
/// Deterministic (no clock) so that it can be committed and compared.
pub fn render_snapshot_md(
    report: &BaselineReport,
    diffs: &[FileDiff],
    golden_tag: Option<&str>,
    branch: &str,
    commit: &str,
) -> String {
    let mut s = String::new();
    let _ = writeln!(s, "# Baseline snapshot: {}\n", cell(branch));
    let _ = writeln!(s, "- **Branch:** `{branch}`");
    let _ = writeln!(s, "- **Commit:** `{commit}`");
    match golden_tag {
        Some(t) => {
            let _ = writeln!(s, "- **Compared with:** `{t}` (golden build)");
        }
        None => {
            let _ = writeln!(
                s,
                "- **Compared with:** nothing — there is no prod tag yet, so no diff"
            );
        }
    }
    let verdict = if report.within() {
        "within tolerance"
    } else {
        "**OUTSIDE tolerance**"
    };
    let _ = writeln!(
        s,
        "- **Baseline:** `{}` — {verdict}\n",
        report.baseline_path
    );

    let _ = writeln!(s, "## Metrics\n");
    if report.checks.is_empty() {
        let _ = writeln!(s, "The baseline defines no `_LINE_COUNT` metrics.\n");
    } else {
        let _ = writeln!(
            s,
            "| metric | file | expected | tolerance | actual | result |"
        );
        let _ = writeln!(s, "| --- | --- | ---: | ---: | ---: | --- |");
        for c in &report.checks {
            let file = c
                .file
                .as_deref()
                .map_or_else(|| "—".to_string(), |f| format!("`{}`", cell(f)));
            let actual = c.actual.map_or_else(|| "—".to_string(), |a| a.to_string());
            let result = if c.within {
                "✅ within".to_string()
            } else {
                format!("❌ {}", cell(c.reason.as_deref().unwrap_or("outside")))
            };
            let _ = writeln!(
                s,
                "| {} | {file} | {} | {} | {actual} | {result} |",
                cell(&c.metric.name),
                c.metric.expected,
                c.metric.tolerance
            );
        }
        s.push('\n');
    }

    let _ = writeln!(s, "## Watched files\n");
    if diffs.is_empty() {
        let _ = writeln!(s, "No watched files.\n");
    } else {
        let _ = writeln!(s, "| file | status | + | − |");
        let _ = writeln!(s, "| --- | --- | ---: | ---: |");
        for d in diffs {
            let _ = writeln!(
                s,
                "| `{}` | {} | {} | {} |",
                cell(&d.path),
                d.status.as_str(),
                d.added,
                d.removed
            );
        }
        s.push('\n');
    }

    let changed: Vec<&FileDiff> = diffs.iter().filter(|d| !d.patch.is_empty()).collect();
    if !changed.is_empty() {
        let _ = writeln!(s, "## Diffs\n");
        for d in changed {
            let _ = writeln!(
                s,
                "### `{}` ({}, +{} −{})\n",
                d.path,
                d.status.as_str(),
                d.added,
                d.removed
            );
            let fence = "`".repeat(longest_backtick_run(&d.patch).max(2) + 1);
            let _ = writeln!(s, "{fence}diff");
            s.push_str(&d.patch);
            if !d.patch.ends_with('\n') {
                s.push('\n');
            }
            let _ = writeln!(s, "{fence}\n");
        }
    }
    s
}

pub(super) fn longest_backtick_run(s: &str) -> usize {
    let mut best = 0;
    let mut run = 0;
    for c in s.chars() {
        if c == '`' {
            run += 1;
            best = best.max(run);
        } else {
            run = 0;
        }
    }
    best
}

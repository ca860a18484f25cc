//! The evidence checklist: a pure function over explicit inputs, one item
//! per line of SPEC §4, each not-✅ item saying in one line what is wrong.

use super::*;

/// Everything the checklist judges, gathered by the caller.
pub struct ChecklistInputs<'a> {
    pub files: &'a PackageFiles,
    /// The parsed manifest, when it parsed.
    pub manifest: Option<&'a HandoffManifest>,
    /// Freshness (see [`tree_equal_ignoring_handoff`]); `None` when it could
    /// not be judged (e.g. the gate's commit is not in this repository).
    pub fresh: Option<(bool, Vec<String>)>,
    /// The console's own baseline check of the branch: `Ok(within)`, or why
    /// it could not run; `None` when not run.
    pub baseline_within: Option<Result<bool, String>>,
    /// The report behind `baseline_within`, for concrete reasons (optional).
    pub baseline_report: Option<&'a BaselineReport>,
    pub requirements: &'a [Requirement],
    pub tag_exists: &'a dyn Fn(&str) -> bool,
    pub tag_prefix: &'a str,
    pub backups_dir: &'a str,
    /// Whether a bundle path (as `<backups_dir>/<tag>.zip`) exists.
    pub bundle_exists: &'a dyn Fn(&str) -> bool,
    /// Whether `audit.json`'s own hash recomputes (the audit module's rule).
    pub audit_hash_ok: &'a dyn Fn(&str) -> bool,
    /// Whether this box's audit log holds the entry; `None` when unknown.
    pub audit_in_local_log: Option<bool>,
}

/// The state of one checklist line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ItemState {
    /// ✅
    Ok,
    /// ✅ with a note; does not block.
    Warn,
    /// Not there.
    Missing,
    /// There but wrong.
    Fail,
}

/// One checklist line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChecklistItem {
    /// `gate`, `snapshot`, `visual`, `fallback` or `audit`.
    pub key: &'static str,
    pub state: ItemState,
    /// One line when not `Ok`.
    pub reason: Option<String>,
    /// Longer explanation for the detail pane.
    pub detail: Vec<String>,
}

impl ChecklistItem {
    pub(super) fn new(
        key: &'static str,
        state: ItemState,
        reason: Option<String>,
        detail: Vec<String>,
    ) -> Self {
        ChecklistItem {
            key,
            state,
            reason,
            detail,
        }
    }
    /// Counts toward "ready".
    pub fn passes(&self) -> bool {
        matches!(self.state, ItemState::Ok | ItemState::Warn)
    }
}

/// A package's overall state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PackageState {
    Ready,
    Incomplete,
    Stale,
    Failed,
    None,
}

impl PackageState {
    pub fn as_str(self) -> &'static str {
        match self {
            PackageState::Ready => "ready",
            PackageState::Incomplete => "incomplete",
            PackageState::Stale => "stale",
            PackageState::Failed => "failed",
            PackageState::None => "none",
        }
    }
}

/// "a, b, c and 4 more".
fn list_some(items: &[String], max: usize) -> String {
    let shown: Vec<&str> = items.iter().take(max).map(String::as_str).collect();
    let mut s = shown.join(", ");
    if items.len() > max {
        s.push_str(&format!(" and {} more", items.len() - max));
    }
    s
}

/// The evidence checklist (SPEC §4), one item per line, in order:
/// gate, snapshot, visual, fallback, audit.
pub fn checklist(inp: &ChecklistInputs) -> Vec<ChecklistItem> {
    let manifest_error = || -> Option<String> {
        let text = inp.files.manifest_text.as_deref()?;
        HandoffManifest::parse(text, &format!("{}/handoff.toml", inp.files.dir))
            .err()
            .map(|e| e.to_string())
    };
    vec![
        gate_item(inp, manifest_error()),
        snapshot_item(inp),
        visual_item(inp),
        fallback_item(inp, manifest_error()),
        audit_item(inp),
    ]
}

/// "`name` in `.handoff/x` is 4 GiB, more than the 64 MiB guardrail reads"
/// when the package's file `name` was over its cap and so not read.
fn too_large(inp: &ChecklistInputs, name: &str) -> Option<String> {
    inp.files
        .too_large(name)
        .map(|t| t.sentence(&format!("{name} in {}", inp.files.dir)))
}

fn no_manifest(
    inp: &ChecklistInputs,
    parse_error: Option<String>,
    what: &str,
) -> (ItemState, String) {
    if let Some(big) = too_large(inp, "handoff.toml") {
        return (ItemState::Fail, format!("{big}, so {what}"));
    }
    match parse_error {
        Some(e) => (
            ItemState::Fail,
            format!("handoff.toml cannot be read, so {what}: {e}"),
        ),
        None if inp.files.manifest_text.is_some() => (
            ItemState::Fail,
            format!("handoff.toml was not read, so {what}"),
        ),
        None => (
            ItemState::Missing,
            format!("handoff.toml is missing from {}/, so {what}", inp.files.dir),
        ),
    }
}

fn gate_item(inp: &ChecklistInputs, parse_error: Option<String>) -> ChecklistItem {
    const K: &str = "gate";
    let dir = &inp.files.dir;
    let Some(m) = inp.manifest else {
        let (state, reason) = no_manifest(inp, parse_error, "the gate result is unknown");
        return ChecklistItem::new(K, state, Some(reason), vec![]);
    };
    let mut detail = vec![
        format!(
            "gate {} (exit code {}) on commit {} at {} by {}",
            m.gate.result.as_str(),
            m.gate.exit_code,
            short_sha(&m.commit),
            m.created.format("%Y-%m-%d %H:%M:%SZ"),
            m.author
        ),
        format!("log {dir}/{}, sha256 {}", m.gate.log, m.gate.sha256),
    ];
    let Some(log) = inp.files.gate_log.as_deref() else {
        if let Some(big) = too_large(inp, &m.gate.log) {
            return ChecklistItem::new(K, ItemState::Fail, Some(big), detail);
        }
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some(format!("{} is missing from {dir}/", m.gate.log)),
            detail,
        );
    };
    if m.gate.result == GateResult::Fail {
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!(
                "the gate failed (exit code {}) on commit {}",
                m.gate.exit_code,
                short_sha(&m.commit)
            )),
            detail,
        );
    }
    let actual = sha256_hex(log);
    if !actual.eq_ignore_ascii_case(m.gate.sha256.trim()) {
        detail.push(format!("{} hashes to {actual}", m.gate.log));
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!(
                "{} sha256 mismatch: the file hashes to {}…, handoff.toml records {}…",
                m.gate.log,
                short_sha(&actual),
                short_sha(m.gate.sha256.trim())
            )),
            detail,
        );
    }
    match &inp.fresh {
        None => ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!(
                "cannot tell whether the gate ran on this code: commit {} is not in this repository",
                short_sha(&m.commit)
            )),
            detail,
        ),
        Some((false, changed)) => {
            detail.push(format!("changed since the gate ran ({}):", changed.len()));
            detail.extend(changed.iter().map(|p| format!("  {p}")));
            ChecklistItem::new(
                K,
                ItemState::Fail,
                Some(format!(
                    "stale: the gate ran on {}, and {} file{} changed since: {}",
                    short_sha(&m.commit),
                    changed.len(),
                    if changed.len() == 1 { "" } else { "s" },
                    list_some(changed, 3)
                )),
                detail,
            )
        }
        Some((true, _)) => {
            if !inp.files.branch.is_empty() && m.branch != inp.files.branch {
                return ChecklistItem::new(
                    K,
                    ItemState::Warn,
                    Some(format!(
                        "handoff.toml names branch {}, but it was read from {}",
                        m.branch, inp.files.branch
                    )),
                    detail,
                );
            }
            ChecklistItem::new(K, ItemState::Ok, None, detail)
        }
    }
}

fn snapshot_item(inp: &ChecklistInputs) -> ChecklistItem {
    const K: &str = "snapshot";
    let name = inp
        .manifest
        .map_or_else(default_snapshot_file, |m| m.snapshot.file.clone());
    if inp.files.snapshot_md.is_none() {
        if let Some(big) = too_large(inp, &name) {
            return ChecklistItem::new(K, ItemState::Fail, Some(big), vec![]);
        }
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some(format!("{name} is missing from {}/", inp.files.dir)),
            vec![],
        );
    }
    let detail: Vec<String> = inp
        .baseline_report
        .map(|r| {
            r.checks
                .iter()
                .map(|c| match (c.within, &c.reason) {
                    (true, _) => format!(
                        "{}: {} lines, expected {} ± {}",
                        c.metric.name,
                        c.actual.unwrap_or(0),
                        c.metric.expected,
                        c.metric.tolerance
                    ),
                    (false, r) => {
                        format!("{}: {}", c.metric.name, r.as_deref().unwrap_or("outside"))
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    match &inp.baseline_within {
        None => ChecklistItem::new(
            K,
            ItemState::Missing,
            Some("the branch's baseline has not been checked yet".to_string()),
            detail,
        ),
        Some(Err(e)) => ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!("the baseline check could not run: {e}")),
            detail,
        ),
        Some(Ok(false)) => {
            let failures = inp
                .baseline_report
                .map(|r| r.failures())
                .unwrap_or_default();
            let reason = match failures.first() {
                Some(f) if failures.len() == 1 => format!("baseline outside tolerance: {f}"),
                Some(f) => format!(
                    "baseline outside tolerance: {f} (and {} more)",
                    failures.len() - 1
                ),
                None => "the branch's baseline is outside tolerance".to_string(),
            };
            ChecklistItem::new(K, ItemState::Fail, Some(reason), detail)
        }
        Some(Ok(true)) => ChecklistItem::new(K, ItemState::Ok, None, detail),
    }
}

fn visual_item(inp: &ChecklistInputs) -> ChecklistItem {
    const K: &str = "visual";
    let dir = &inp.files.dir;
    if let Some(big) = inp.files.oversized.first() {
        let mut reason = format!(
            "the evidence file {dir}/evidence/{} is {} bytes, more than [evidence] max_file ({})",
            big.name,
            big.bytes,
            crate::pipeline::config::Size(big.max)
        );
        if inp.files.oversized.len() > 1 {
            reason.push_str(&format!(
                " (and {} more over it)",
                inp.files.oversized.len() - 1
            ));
        }
        let detail = inp
            .files
            .oversized
            .iter()
            .map(|o| format!("❌ {}: {} bytes, not read", o.name, o.bytes))
            .collect();
        return ChecklistItem::new(K, ItemState::Fail, Some(reason), detail);
    }
    if inp.requirements.is_empty() {
        return ChecklistItem::new(
            K,
            ItemState::Ok,
            None,
            vec!["no [[evidence.require]] configured".to_string()],
        );
    }
    if inp.files.evidence.is_empty() {
        let names: Vec<String> = inp.requirements.iter().map(|r| r.name.clone()).collect();
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some(format!("no evidence files in {dir}/evidence/")),
            vec![format!("required: {}", names.join(", "))],
        );
    }
    let results = check_requirements(&inp.files.evidence, inp.requirements);
    let mut detail = Vec::new();
    for r in &results {
        let mark = if r.met { "✅" } else { "❌" };
        detail.push(format!(
            "{mark} {}: {} of {} matching {}",
            r.requirement.name,
            r.counted.len(),
            r.requirement.min,
            r.requirement.glob
        ));
        for rej in &r.rejected {
            detail.push(format!("   {}", rej.why));
        }
    }
    let unmet: Vec<_> = results.iter().filter(|r| !r.met).collect();
    match unmet.first() {
        None => ChecklistItem::new(K, ItemState::Ok, None, detail),
        Some(first) => {
            let fake = unmet.iter().any(|r| !r.rejected.is_empty());
            let mut reason = format!(
                "{}: {}",
                first.requirement.name,
                first.reason.as_deref().unwrap_or("not met")
            );
            if unmet.len() > 1 {
                reason.push_str(&format!(
                    " (and {} more requirement{} not met)",
                    unmet.len() - 1,
                    if unmet.len() == 2 { "" } else { "s" }
                ));
            }
            let state = if fake {
                ItemState::Fail
            } else {
                ItemState::Missing
            };
            ChecklistItem::new(K, state, Some(reason), detail)
        }
    }
}

/// The bundle path a package proposes for `tag`: `<backups_dir>/<tag>.zip`,
/// exactly as the fallback item expects it.
pub fn bundle_path(backups_dir: &str, tag: &str) -> String {
    join_bundle(backups_dir, tag)
}

/// `a/b/` + `x` → `a/b/x`, without doubled slashes or a leading `./`.
fn join_bundle(dir: &str, tag: &str) -> String {
    let d = dir.trim_end_matches('/');
    let d = d.strip_prefix("./").unwrap_or(d);
    if d.is_empty() || d == "." {
        format!("{tag}.zip")
    } else {
        format!("{d}/{tag}.zip")
    }
}

/// Whether a proposed bundle path names the expected one. The protocol
/// writes `/backups/…` meaning the repository's `backups/`, so a leading `/`
/// is forgiven when the configured directory is relative.
fn same_bundle(proposed: &str, expected: &str, backups_dir: &str) -> bool {
    let p = proposed.trim();
    let p = p.strip_prefix("./").unwrap_or(p);
    if p == expected {
        return true;
    }
    !backups_dir.starts_with('/') && p.strip_prefix('/') == Some(expected)
}

fn fallback_item(inp: &ChecklistInputs, parse_error: Option<String>) -> ChecklistItem {
    const K: &str = "fallback";
    let Some(m) = inp.manifest else {
        let (state, reason) = no_manifest(inp, parse_error, "no fallback tag is proposed");
        return ChecklistItem::new(K, state, Some(reason), vec![]);
    };
    let tag = m.proposed_tag.trim();
    let mut detail = vec![
        format!("proposed tag {tag}"),
        format!("proposed bundle {}", m.proposed_bundle),
    ];
    if tag.is_empty() {
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some("handoff.toml proposes no tag (proposed_tag is empty)".to_string()),
            detail,
        );
    }
    let Some((date, _)) = parse_prod_tag(inp.tag_prefix, tag) else {
        let p = inp.tag_prefix;
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!(
                "proposed tag {tag} is not of the form {p}YYYY-MM-DD or {p}YYYY-MM-DD.N (N ≥ 2)"
            )),
            detail,
        );
    };
    if (inp.tag_exists)(tag) {
        let mut n = 2;
        let next = loop {
            let cand = prod_tag_name(inp.tag_prefix, date, n);
            if !(inp.tag_exists)(&cand) || n > 999 {
                break cand;
            }
            n += 1;
        };
        detail.push(format!("next free tag that day: {next}"));
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!("tag {tag} already exists (next free: {next})")),
            detail,
        );
    }
    let expected = join_bundle(inp.backups_dir, tag);
    if m.proposed_bundle.trim().is_empty() {
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some(format!(
                "handoff.toml proposes no bundle path (expected {expected})"
            )),
            detail,
        );
    }
    if !same_bundle(&m.proposed_bundle, &expected, inp.backups_dir) {
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!(
                "proposed bundle {} does not match the tag: expected {expected}",
                m.proposed_bundle
            )),
            detail,
        );
    }
    if (inp.bundle_exists)(&expected) {
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some(format!("{expected} already exists")),
            detail,
        );
    }
    ChecklistItem::new(K, ItemState::Ok, None, detail)
}

/// Finds a string field in the entry or its `details` object.
fn audit_field<'v>(v: &'v serde_json::Value, names: &[&str]) -> Option<&'v str> {
    for scope in [Some(v), v.get("details")].into_iter().flatten() {
        for n in names {
            if let Some(s) = scope.get(*n).and_then(|x| x.as_str()) {
                return Some(s);
            }
        }
    }
    None
}

fn audit_item(inp: &ChecklistInputs) -> ChecklistItem {
    const K: &str = "audit";
    let dir = &inp.files.dir;
    let Some(text) = inp.files.audit_json.as_deref() else {
        if let Some(big) = too_large(inp, "audit.json") {
            return ChecklistItem::new(K, ItemState::Fail, Some(big), vec![]);
        }
        return ChecklistItem::new(
            K,
            ItemState::Missing,
            Some(format!("audit.json is missing from {dir}/")),
            vec![],
        );
    };
    let mut detail = Vec::new();
    match inp.audit_in_local_log {
        Some(true) => detail.push("this box's audit log holds the entry".to_string()),
        Some(false) => detail.push(
            "this box's audit log does not hold the entry (the gate ran elsewhere)".to_string(),
        ),
        None => {}
    }
    let v: serde_json::Value = match serde_json::from_str(text) {
        Ok(v @ serde_json::Value::Object(_)) => v,
        Ok(_) => {
            return ChecklistItem::new(
                K,
                ItemState::Fail,
                Some("audit.json is not a JSON object".to_string()),
                detail,
            );
        }
        Err(e) => {
            return ChecklistItem::new(
                K,
                ItemState::Fail,
                Some(format!(
                    "audit.json is not valid JSON (line {}, column {})",
                    e.line(),
                    e.column()
                )),
                detail,
            );
        }
    };
    if !(inp.audit_hash_ok)(text) {
        return ChecklistItem::new(
            K,
            ItemState::Fail,
            Some("audit.json's hash does not recompute: the entry was edited".to_string()),
            detail,
        );
    }
    if let Some(m) = inp.manifest {
        match audit_field(&v, &["commit"]) {
            None => {
                return ChecklistItem::new(
                    K,
                    ItemState::Fail,
                    Some("audit.json records no commit".to_string()),
                    detail,
                );
            }
            Some(c) if !same_commit(c, &m.commit) => {
                return ChecklistItem::new(
                    K,
                    ItemState::Fail,
                    Some(format!(
                        "audit.json records commit {}, but the gate ran on {}",
                        short_sha(c),
                        short_sha(&m.commit)
                    )),
                    detail,
                );
            }
            Some(_) => {}
        }
        match audit_field(&v, &["gate_log_sha256", "log_sha256", "sha256"]) {
            None => {
                return ChecklistItem::new(
                    K,
                    ItemState::Fail,
                    Some("audit.json records no gate log sha256".to_string()),
                    detail,
                );
            }
            Some(h) if !h.trim().eq_ignore_ascii_case(m.gate.sha256.trim()) => {
                return ChecklistItem::new(
                    K,
                    ItemState::Fail,
                    Some(format!(
                        "audit.json records gate log sha256 {}…, handoff.toml records {}…",
                        short_sha(h),
                        short_sha(&m.gate.sha256)
                    )),
                    detail,
                );
            }
            Some(_) => {}
        }
    }
    if let Some(seq) = v.get("seq") {
        detail.insert(0, format!("audit entry seq {seq}"));
    }
    ChecklistItem::new(K, ItemState::Ok, None, detail)
}

/// Full or abbreviated (≥ 7 hex digits) shas naming the same commit.
pub(super) fn same_commit(a: &str, b: &str) -> bool {
    let (a, b) = (a.trim().to_ascii_lowercase(), b.trim().to_ascii_lowercase());
    if a.len() < 7 || b.len() < 7 {
        return a == b;
    }
    a.starts_with(&b) || b.starts_with(&a)
}

/// The package state from its checklist: **failed** when the gate failed,
/// **stale** when the gate ran on other code, **ready** when every item
/// passes, **none** when there are no items, **incomplete** otherwise.
pub fn package_state(
    items: &[ChecklistItem],
    gate: Option<GateResult>,
    fresh: Option<bool>,
) -> PackageState {
    if items.is_empty() {
        return PackageState::None;
    }
    if gate == Some(GateResult::Fail) {
        return PackageState::Failed;
    }
    if fresh == Some(false) {
        return PackageState::Stale;
    }
    if items.iter().all(ChecklistItem::passes) {
        PackageState::Ready
    } else {
        PackageState::Incomplete
    }
}

//! The sandbox: a throw-away git repository with its history, branches,
//! packages and prod tags built in place, and the production directory beside
//! it.
use super::*;

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
pub(super) type Files = BTreeMap<String, (Vec<u8>, bool)>;

pub(super) enum Node {
    File(Oid, bool),
    Dir(BTreeMap<String, Node>),
}

pub(super) fn write_tree(repo: &Repository, files: &Files) -> Result<Oid, git2::Error> {
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

pub(super) fn sig(
    name: &str,
    email: &str,
    at: DateTime<Utc>,
) -> Result<Signature<'static>, git2::Error> {
    Signature::new(name, email, &Time::new(at.timestamp(), 0))
}

pub(super) fn commit(
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

/// What the gate script prints for `files` with every answer `yes`
/// (answers echoed, as guardrail's runner records them).
pub(super) fn gate_log(branch: &str, commit: &str, actor: &str, files: &Files) -> String {
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
pub(super) struct FeatureSpec {
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

/// One release on main: (date, commit, files, the branch it came from).
type Release = (NaiveDate, Oid, Files, &'static str);

/// The golden build as the third prod tag left it.
struct Golden {
    tag: String,
    commit: Oid,
    build_id: String,
    time: DateTime<Utc>,
    branch: &'static str,
}

/// 10:00 UTC on `d`: when the seeded history's commits were made.
fn at10(d: NaiveDate) -> DateTime<Utc> {
    Utc.from_utc_datetime(&d.and_hms_opt(10, 0, 0).expect("10:00"))
}

fn team(t: DateTime<Utc>) -> Result<Signature<'static>, git2::Error> {
    sig("Mosaic team", "team@mosaic.invalid", t)
}

/// Fills the sandbox, phase by phase: (1) the repository and its drill
/// token, (2) main's history, (3) the three prod tags with their evidence,
/// (4) the feature branches and their packages, (5) production serving the
/// golden build.
pub(super) fn populate(sb: &mut Sandbox) -> Result<(), DrillError> {
    let now = Utc::now();
    let today = now.date_naive();
    let (cfg_text, cfg, git) = init_repository(sb, now)?;
    let releases = commit_main_history(git, &cfg, &cfg_text, today)?;
    let main_head = releases.last().expect("three commits").1;
    let repo = Repo::open(&sb.repo_dir).map_err(setup)?;
    audit_log(&repo).init(&sb.user).map_err(setup)?;

    // The three prod tags, each with its gate, tag (with checkpoint),
    // backup, release log and audit entries, as the playbook records them.
    let prefix = cfg.project.tag_prefix.clone();
    let mut golden = None;
    for release in &releases {
        let g = seed_release(&repo, &cfg, &prefix, release)?;
        sb.tags.push(g.tag.clone());
        golden = Some(g);
    }
    let golden = golden.expect("three tags");
    sb.golden = golden.tag.clone();
    sb.next_tag = next_free_tag(&prefix, today, &sb.tags);

    // The feature branches and their packages.
    let golden_tree = repo
        .git
        .find_commit(golden.commit)
        .and_then(|c| c.tree())
        .map_err(setup)?;
    let base = FeatureBase {
        sb,
        repo: &repo,
        cfg: &cfg,
        cfg_text: &cfg_text,
        now,
        main_head,
        golden_tree: &golden_tree,
        golden_tag: &golden.tag,
    };
    for f in &feature_specs()? {
        seed_feature(&base, f)?;
    }
    serve_golden(sb, &repo, &cfg, golden)
}

/// Phase 1: the configuration with a new drill token, the repository (main
/// checked out, no remote) and the state directory's drill marker.
fn init_repository(
    sb: &Sandbox,
    now: DateTime<Utc>,
) -> Result<(String, Config, Repository), DrillError> {
    // The random token that proves this sandbox a drill: in the committed
    // configuration and in the state directory's marker, matched on use.
    let token: String = {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(setup)?;
        hex::encode(bytes)
    };
    let cfg_text = format!(
        "{}\n[drill]\n# Written by `guardrail drill`: with the same token in the state directory,\n# it makes this repository a drill sandbox.\ntoken = {}\n",
        config_text(&sb.user, &sb.url, &sb.site_dir),
        toml_str(&token)
    );
    let cfg = Config::from_str(&cfg_text, "guardrail.toml (drill)").map_err(setup)?;

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
    Ok((cfg_text, cfg, git))
}

/// Phase 2: main's three releases, main checked out.
fn commit_main_history(
    git: Repository,
    cfg: &Config,
    cfg_text: &str,
    today: NaiveDate,
) -> Result<Vec<Release>, DrillError> {
    let day = |n: i64| today - chrono::Duration::days(n);
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
        let files = base_files(cfg_text, page);
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
    Ok(releases)
}

/// Phase 3: one prod tag for `release`, with its gate, tag (with
/// checkpoint), backup, release log and audit entries.
fn seed_release(
    repo: &Repo,
    cfg: &Config,
    prefix: &str,
    (date, c, files, branch): &Release,
) -> Result<Golden, DrillError> {
    let tag = prod_tag_name(prefix, *date, 1);
    let t = at10(*date);
    let build_id = scripts::build_id(&c.to_string(), t + chrono::Duration::minutes(20));
    let log = gate_log(branch, &c.to_string(), "codex", files);
    let log_sha = sha256_hex(log.as_bytes());
    let gate = record(
        repo,
        cfg,
        NewEntry::new("codex", "gate", branch, "PASS").with_details(json!({
            "commit": c.to_string(),
            "gate_log_sha256": log_sha,
            "exit_code": 0,
            "seeded": "drill history",
        })),
    )
    .map_err(setup)?;
    let checkpoint = audit_log(repo).head().map_err(setup)?;
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
    backup::restore_from_tree(repo, *c, &cfg.project.archive, &tree_dir).map_err(setup)?;
    crate::pipeline::buildid::stamp_files(
        &tree_dir.join(&cfg.project.bundle_dir),
        &cfg.live.stamp,
        &build_id,
    )
    .map_err(setup)?;
    let info = backup::write_backup(repo, cfg, &tag, Source::Dir(tree_dir)).map_err(setup)?;
    let log_lines: Vec<String> = log.lines().map(str::to_string).collect();
    let release_log = release::write_release_log(
        repo,
        cfg,
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
        repo,
        cfg,
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
    Ok(Golden {
        tag,
        commit: *c,
        build_id,
        time: t + chrono::Duration::minutes(25),
        branch,
    })
}

/// The four feature branches of the scenario.
fn feature_specs() -> Result<[FeatureSpec; 4], DrillError> {
    Ok([
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
    ])
}

/// What every feature branch is built on.
struct FeatureBase<'a> {
    sb: &'a Sandbox,
    repo: &'a Repo,
    cfg: &'a Config,
    cfg_text: &'a str,
    now: DateTime<Utc>,
    main_head: Oid,
    golden_tree: &'a git2::Tree<'a>,
    golden_tag: &'a str,
}

/// Phase 4: one feature branch: its code commit, its gate (recorded), its
/// handoff package, a commit after the gate where the scenario wants one,
/// and the acknowledged baseline change where it rebaselines.
fn seed_feature(base: &FeatureBase<'_>, f: &FeatureSpec) -> Result<(), DrillError> {
    let FeatureBase {
        sb,
        repo,
        cfg,
        cfg_text,
        now,
        main_head,
        golden_tree,
        golden_tag,
    } = *base;
    let t = now - chrono::Duration::hours(f.hours_ago);
    let email = format!("{}@agents.invalid", f.agent);
    let author = sig(f.agent, &email, t).map_err(setup)?;
    let mut files = base_files(cfg_text, &f.page);
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
        repo,
        cfg,
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
    let diffs = baseline::diff_watched(&repo.git, golden_tree, &code_tree, &cfg.project.watch)
        .map_err(setup)?;
    let snapshot =
        baseline::render_snapshot_md(&report, &diffs, Some(golden_tag), f.branch, &code_s);

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
        let files =
            crate::pipeline::handoff::guard::changes(repo, cfg, &head_commit).map_err(setup)?;
        record(
            repo,
            cfg,
            NewEntry::new(
                &sb.user,
                crate::pipeline::handoff::guard::ACTION,
                f.branch,
                "OK",
            )
            .with_details(json!({
                "commit": head.to_string(),
                "files": files,
                "seeded": "drill package",
            })),
        )
        .map_err(setup)?;
    }
    Ok(())
}

/// Phase 5: production serves the golden build, restored from its backup,
/// and the live record and the audit chain say so.
fn serve_golden(sb: &Sandbox, repo: &Repo, cfg: &Config, golden: Golden) -> Result<(), DrillError> {
    // Production serves the golden build, restored from its backup.
    let work = tempfile::Builder::new()
        .prefix("drill-restore-")
        .tempdir_in(&repo.state.path)
        .map_err(setup)?;
    let restored = work.path().join("bundle");
    backup::restore(&cfg.backup_path(&repo.root, &golden.tag), &restored).map_err(setup)?;
    playbook::copy_publish(&restored.join(&cfg.project.bundle_dir), &sb.site_dir).map_err(setup)?;
    drop(work);
    repo.state
        .write_live(&LiveRecord {
            tag: Some(golden.tag.clone()),
            commit: golden.commit.to_string(),
            build_id: golden.build_id,
            branch: Some(golden.branch.to_string()),
            action: "deploy".into(),
            actor: "codex".into(),
            time: golden.time.to_rfc3339_opts(SecondsFormat::Secs, true),
            health: LiveHealth::Ok,
            bad_tags: Vec::new(),
            failure: None,
        })
        .map_err(setup)?;
    record(
        repo,
        cfg,
        NewEntry::new(&sb.user, "drill", "sandbox", "READY").with_details(json!({
            "sandbox": sb.dir.display().to_string(),
            "url": sb.url,
            "publish_dir": sb.site_dir.display().to_string(),
            "golden": golden.tag,
        })),
    )
    .map_err(setup)?;
    Ok(())
}

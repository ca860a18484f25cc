//! Real git repositories in temporary directories, built with the real `git`
//! command line and isolated from the user's own git configuration.
//!
//! Layout of one fixture's temporary directory:
//!
//! ```text
//! <tmp>/repo/        the repository (working tree), `Fixture::path()`
//! <tmp>/home/        HOME for git and for the guardrail binary, `Fixture::home()`
//! <tmp>/home/gitconfig-empty   GIT_CONFIG_GLOBAL (empty file)
//! ```
//!
//! Commit dates are deterministic: by default every commit advances a fake
//! clock by one minute, starting at 2025-11-01T12:00:00Z; `set_date` pins a
//! date instead.

use std::cell::{Cell, RefCell};
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// Name and e-mail every fixture commit and tag is made with.
pub const AUTHOR_NAME: &str = "Guardrail Tester";
pub const AUTHOR_EMAIL: &str = "tester@example.org";
/// Default login name (`USER`/`LOGNAME`) given to the guardrail binary.
pub const DEFAULT_USER: &str = "tester";
/// 2025-11-01T12:00:00Z: where the fixture clock starts.
pub const CLOCK_START: i64 = 1_761_998_400;

/// Variables removed from the environment of every git and guardrail process
/// started through this module, so that an outer git (hooks, `git rebase -x`)
/// or `sudo` cannot leak into a test.
pub const ENV_REMOVE: &[&str] = &[
    "SUDO_USER",
    "SUDO_UID",
    "SUDO_GID",
    "SUDO_COMMAND",
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_NAMESPACE",
    "GIT_CEILING_DIRECTORIES",
    "GIT_DISCOVERY_ACROSS_FILESYSTEM",
    "GIT_CONFIG",
    "GIT_CONFIG_PARAMETERS",
    "GIT_CONFIG_COUNT",
    "GIT_PREFIX",
    "GIT_EDITOR",
    "GIT_SEQUENCE_EDITOR",
    "GIT_PAGER",
    "GIT_SSH",
    "GIT_SSH_COMMAND",
    "GIT_ASKPASS",
    "GIT_TRACE",
    "GIT_TRACE2",
    "GIT_TRACE2_EVENT",
    "GIT_TRACE2_PERF",
    "XDG_CONFIG_DIRS",
    "NO_COLOR",
    "GUARDRAIL_LOG",
];

/// Environment for running git or the guardrail binary isolated from the
/// user's configuration, with `home` as HOME and the default login name
/// [`DEFAULT_USER`]. Also remove the variables in [`ENV_REMOVE`] (see
/// [`apply_isolation`], which does both).
pub fn isolated_env(home: &Path) -> Vec<(String, String)> {
    isolated_env_as(home, DEFAULT_USER)
}

/// Like [`isolated_env`] with `user` as the login name (`USER` and `LOGNAME`).
/// To simulate sudo, add `("SUDO_USER", name)` after it.
pub fn isolated_env_as(home: &Path, user: &str) -> Vec<(String, String)> {
    let home_s = home.to_string_lossy().into_owned();
    let global = home.join("gitconfig-empty");
    if !global.exists() {
        std::fs::create_dir_all(home).expect("create fixture HOME");
        std::fs::write(&global, "").expect("create empty global git config");
    }
    let mut v: Vec<(String, String)> = vec![
        ("HOME".into(), home_s.clone()),
        ("USER".into(), user.into()),
        ("LOGNAME".into(), user.into()),
        ("GIT_CONFIG_NOSYSTEM".into(), "1".into()),
        (
            "GIT_CONFIG_GLOBAL".into(),
            global.to_string_lossy().into_owned(),
        ),
        ("GIT_AUTHOR_NAME".into(), AUTHOR_NAME.into()),
        ("GIT_AUTHOR_EMAIL".into(), AUTHOR_EMAIL.into()),
        ("GIT_COMMITTER_NAME".into(), AUTHOR_NAME.into()),
        ("GIT_COMMITTER_EMAIL".into(), AUTHOR_EMAIL.into()),
        ("GIT_TERMINAL_PROMPT".into(), "0".into()),
        ("GIT_ADVICE".into(), "0".into()),
        ("XDG_CONFIG_HOME".into(), format!("{home_s}/.config")),
        ("XDG_DATA_HOME".into(), format!("{home_s}/.local/share")),
        ("XDG_STATE_HOME".into(), format!("{home_s}/.local/state")),
        ("XDG_CACHE_HOME".into(), format!("{home_s}/.cache")),
    ];
    // Keep the test deterministic regardless of the caller's timezone.
    v.push(("TZ".into(), "UTC".into()));
    v
}

/// Apply [`isolated_env_as`] and remove [`ENV_REMOVE`] on a `Command`.
pub fn apply_isolation(cmd: &mut Command, home: &Path, user: &str) {
    for k in ENV_REMOVE {
        cmd.env_remove(k);
    }
    for (k, v) in isolated_env_as(home, user) {
        cmd.env(k, v);
    }
}

/// A git repository in a temporary directory. Dropping it deletes everything.
pub struct Fixture {
    tmp: tempfile::TempDir,
    repo: PathBuf,
    home: PathBuf,
    clock: Cell<i64>,
    fixed_date: RefCell<Option<String>>,
    user: RefCell<String>,
}

impl Default for Fixture {
    fn default() -> Self {
        Self::new()
    }
}

impl Fixture {
    /// An empty repository (`git init -b main`), no commits yet.
    pub fn new() -> Self {
        Self::with_main_branch("main")
    }

    /// An empty repository whose initial branch is `branch`.
    pub fn with_main_branch(branch: &str) -> Self {
        let tmp = tempfile::Builder::new()
            .prefix("guardrail-fixture-")
            .tempdir()
            .expect("create fixture tempdir");
        let repo = tmp.path().join("repo");
        let home = tmp.path().join("home");
        std::fs::create_dir_all(&repo).expect("create repo dir");
        std::fs::create_dir_all(&home).expect("create home dir");
        std::fs::write(home.join("gitconfig-empty"), "").expect("create empty gitconfig");
        let f = Fixture {
            tmp,
            repo,
            home,
            clock: Cell::new(CLOCK_START),
            fixed_date: RefCell::new(None),
            user: RefCell::new(DEFAULT_USER.to_string()),
        };
        f.git(&["init", "-q", "-b", branch]);
        f
    }

    /// The repository's working tree.
    pub fn path(&self) -> &Path {
        &self.repo
    }

    /// HOME given to git and to the guardrail binary (contains the empty
    /// global git config).
    pub fn home(&self) -> &Path {
        &self.home
    }

    /// The temporary directory holding `repo/` and `home/`; free space for a
    /// test's own files (evidence dirs, answer files, publish dirs).
    pub fn tempdir(&self) -> &Path {
        self.tmp.path()
    }

    /// Login name given to the guardrail binary by [`Fixture::env`] and
    /// [`Fixture::command`] (default [`DEFAULT_USER`]).
    pub fn set_user(&self, user: &str) -> &Self {
        *self.user.borrow_mut() = user.to_string();
        self
    }

    pub fn user(&self) -> String {
        self.user.borrow().clone()
    }

    /// Isolated environment for this fixture (HOME, git isolation, user).
    pub fn env(&self) -> Vec<(String, String)> {
        isolated_env_as(&self.home, &self.user())
    }

    /// Pin author and committer date of the following commits and tags.
    /// Any format git accepts; `"2025-11-13T10:00:00+0000"` or
    /// `"@1763028000 +0000"`. `None` goes back to the auto-advancing clock.
    pub fn set_date(&self, date: Option<&str>) -> &Self {
        *self.fixed_date.borrow_mut() = date.map(str::to_string);
        self
    }

    /// Move the auto-advancing clock forward.
    pub fn advance_clock(&self, secs: i64) -> &Self {
        self.clock.set(self.clock.get() + secs);
        self
    }

    /// Date the next commit/tag would get (advances the clock if not pinned).
    fn next_date(&self) -> String {
        if let Some(d) = self.fixed_date.borrow().as_ref() {
            return d.clone();
        }
        let t = self.clock.get() + 60;
        self.clock.set(t);
        format!("@{t} +0000")
    }

    /// A `Command` for `program` with the isolated environment, the working
    /// directory at the repository root and stdin closed.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new(program);
        apply_isolation(&mut cmd, &self.home, &self.user());
        cmd.current_dir(&self.repo).stdin(Stdio::null());
        cmd
    }

    fn git_command(&self, args: &[&str], dated: bool) -> Command {
        let mut cmd = self.command("git");
        // Git's own messages in English for tests that read them.
        cmd.env("LC_ALL", "C").env("LANG", "C");
        if dated {
            let d = self.next_date();
            cmd.env("GIT_AUTHOR_DATE", &d).env("GIT_COMMITTER_DATE", &d);
        }
        cmd.args(args);
        cmd
    }

    /// Run git; panic with its stderr on failure. Returns stdout without the
    /// trailing newline(s).
    pub fn git(&self, args: &[&str]) -> String {
        match self.try_git(args) {
            Ok(s) => s,
            Err(e) => panic!("{e}"),
        }
    }

    /// Run git; `Err` carries the command and its stderr.
    pub fn try_git(&self, args: &[&str]) -> Result<String, String> {
        let dated = matches!(
            args.first().copied(),
            Some("commit" | "tag" | "merge" | "cherry-pick" | "rebase" | "revert" | "stash")
        );
        let out = self
            .git_command(args, dated)
            .output()
            .unwrap_or_else(|e| panic!("cannot run git: {e}"));
        output_to_result(&format!("git {}", args.join(" ")), out)
    }

    /// Run git with `input` on stdin (e.g. `fast-import`, `update-ref --stdin`).
    pub fn git_stdin(&self, args: &[&str], input: &[u8]) -> String {
        let mut cmd = self.git_command(args, false);
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn git");
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input)
            .expect("write git stdin");
        let out = child.wait_with_output().expect("wait git");
        output_to_result(&format!("git {}", args.join(" ")), out).unwrap_or_else(|e| panic!("{e}"))
    }

    /// Full sha of `rev` (`rev^{commit}` for tags is up to the caller; this
    /// returns what `git rev-parse` says, i.e. the tag object for an
    /// annotated tag name — use [`Fixture::commit_of`] for the commit).
    pub fn rev_parse(&self, rev: &str) -> String {
        self.git(&["rev-parse", "--verify", "-q", rev])
    }

    /// Commit sha `rev` points at (peels annotated tags).
    pub fn commit_of(&self, rev: &str) -> String {
        self.git(&["rev-parse", "--verify", "-q", &format!("{rev}^{{commit}}")])
    }

    /// Sha of HEAD's commit.
    pub fn head(&self) -> String {
        self.commit_of("HEAD")
    }

    /// Name of the current branch (empty when detached).
    pub fn current_branch(&self) -> String {
        self.try_git(&["symbolic-ref", "--short", "-q", "HEAD"])
            .unwrap_or_default()
    }

    fn abs(&self, rel: &str) -> PathBuf {
        let p = Path::new(rel);
        assert!(
            p.is_relative(),
            "fixture paths are relative to the repo: {rel}"
        );
        self.repo.join(p)
    }

    /// Write a file (creating parent directories). Not staged until `commit`.
    pub fn write(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Self {
        let p = self.abs(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        std::fs::write(&p, contents).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
        self
    }

    /// Write an executable file (mode 0755), e.g. a gate script.
    pub fn write_script(&self, rel: &str, contents: impl AsRef<[u8]>) -> &Self {
        use std::os::unix::fs::PermissionsExt;
        self.write(rel, contents);
        let p = self.abs(rel);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o755)).expect("chmod script");
        self
    }

    /// Append to a file (creating it).
    pub fn append(&self, rel: &str, contents: &str) -> &Self {
        let p = self.abs(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent dirs");
        }
        let mut f = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&p)
            .unwrap_or_else(|e| panic!("open {}: {e}", p.display()));
        f.write_all(contents.as_bytes()).expect("append");
        self
    }

    /// Read a file of the working tree.
    pub fn read(&self, rel: &str) -> String {
        let p = self.abs(rel);
        std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
    }

    /// Does the working-tree path exist?
    pub fn exists(&self, rel: &str) -> bool {
        self.abs(rel).exists()
    }

    /// Remove a working-tree file or directory.
    pub fn remove(&self, rel: &str) -> &Self {
        let p = self.abs(rel);
        if p.is_dir() {
            std::fs::remove_dir_all(&p).expect("remove dir");
        } else {
            std::fs::remove_file(&p).expect("remove file");
        }
        self
    }

    /// Write `guardrail.toml` at the repository root (not committed).
    pub fn write_config(&self, toml_text: &str) -> &Self {
        self.write("guardrail.toml", toml_text)
    }

    /// `git add -A` and commit everything (empty commits allowed). Returns
    /// the new commit's sha.
    pub fn commit(&self, msg: &str) -> String {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "--allow-empty", "--no-verify", "-m", msg]);
        self.head()
    }

    /// Stage only `paths` and commit. Returns the new commit's sha.
    pub fn commit_paths(&self, msg: &str, paths: &[&str]) -> String {
        let mut add = vec!["add", "--"];
        add.extend_from_slice(paths);
        self.git(&add);
        self.git(&["commit", "-q", "--allow-empty", "--no-verify", "-m", msg]);
        self.head()
    }

    /// Create branch `name` at HEAD (does not check it out).
    pub fn branch(&self, name: &str) -> &Self {
        self.git(&["branch", name]);
        self
    }

    /// Create branch `name` at `rev` (does not check it out).
    pub fn branch_at(&self, name: &str, rev: &str) -> &Self {
        self.git(&["branch", name, rev]);
        self
    }

    /// Check out an existing branch or revision.
    pub fn checkout(&self, rev: &str) -> &Self {
        self.git(&["checkout", "-q", rev]);
        self
    }

    /// Create branch `name` at HEAD and check it out.
    pub fn checkout_new(&self, name: &str) -> &Self {
        self.git(&["checkout", "-q", "-b", name]);
        self
    }

    /// Lightweight tag `name` at `rev`.
    pub fn tag_lightweight(&self, name: &str, rev: &str) -> &Self {
        self.git(&["tag", name, rev]);
        self
    }

    /// Annotated tag `name` at `rev` with `message` (tagger date from the
    /// fixture clock).
    pub fn tag_annotated(&self, name: &str, rev: &str, message: &str) -> &Self {
        self.git(&["tag", "-a", name, "-m", message, rev]);
        self
    }

    /// Create `refs/remotes/<remote>/<branch>` at `rev` with `git update-ref`
    /// (no real remote needed).
    pub fn remote_tracking(&self, remote: &str, branch: &str, rev: &str) -> &Self {
        let sha = self.commit_of(rev);
        self.git(&[
            "update-ref",
            &format!("refs/remotes/{remote}/{branch}"),
            &sha,
        ]);
        self
    }

    /// Configure a remote (`git remote add`) without fetching.
    pub fn add_remote(&self, name: &str, url: &str) -> &Self {
        self.git(&["remote", "add", name, url]);
        self
    }

    /// `git for-each-ref --format=%(refname)` as a list.
    pub fn refs(&self) -> Vec<String> {
        self.git(&["for-each-ref", "--format=%(refname)"])
            .lines()
            .map(str::to_string)
            .collect()
    }

    /// Committer time (unix seconds) of `rev`.
    pub fn commit_time(&self, rev: &str) -> i64 {
        self.git(&["show", "-s", "--format=%ct", &self.commit_of(rev)])
            .parse()
            .expect("commit time")
    }

    /// Object type of `rev` ("commit", "tag", ...).
    pub fn object_type(&self, rev: &str) -> String {
        self.git(&["cat-file", "-t", rev])
    }

    /// Write a zip at `rel` (relative to the repo) holding `entries`
    /// (name, contents), e.g. a hand-made backup `backups/<tag>.zip`.
    pub fn write_zip(&self, rel: &str, entries: &[(&str, &[u8])]) -> &Self {
        let p = self.abs(rel);
        write_zip_file(&p, entries);
        self
    }
}

/// Write a real zip file with deflated entries.
pub fn write_zip_file(path: &Path, entries: &[(&str, &[u8])]) {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).expect("create zip parent dir");
    }
    let f =
        std::fs::File::create(path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
    let mut z = zip::ZipWriter::new(f);
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .unix_permissions(0o644);
    for (name, data) in entries {
        z.start_file(*name, opts).expect("zip start_file");
        z.write_all(data).expect("zip write");
    }
    z.finish().expect("zip finish");
}

fn output_to_result(what: &str, out: Output) -> Result<String, String> {
    if out.status.success() {
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        while s.ends_with('\n') || s.ends_with('\r') {
            s.pop();
        }
        Ok(s)
    } else {
        Err(format!(
            "`{what}` failed ({}):\nstderr: {}\nstdout: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim_end(),
            String::from_utf8_lossy(&out.stdout).trim_end()
        ))
    }
}

/// Number of newline characters (what `wc -l` counts).
pub fn line_count(text: &str) -> usize {
    text.bytes().filter(|&b| b == b'\n').count()
}

// ---------------------------------------------------------------------------
// The ready-made repository shaped like SPEC §2.

/// Names used by [`mosaic_repo`].
pub mod mosaic {
    /// Prod tags, oldest first: lightweight, annotated, annotated.
    pub const TAGS: [&str; 3] = ["prod-2025-11-12", "prod-2025-11-13", "prod-2025-11-13.2"];
    pub const TAG_LIGHTWEIGHT: &str = "prod-2025-11-12";
    pub const TAG_ANNOTATED: &str = "prod-2025-11-13";
    /// Newest prod tag: the golden build.
    pub const GOLDEN: &str = "prod-2025-11-13.2";
    /// The backup present on disk (untracked; `backups/` is in .gitignore).
    pub const BACKUP: &str = "backups/prod-2025-11-13.zip";
    /// Local branch one commit ahead of main; `origin/feature/auth-modal`
    /// points at an older, different commit.
    pub const AUTH_MODAL: &str = "feature/auth-modal";
    /// Local branch two commits ahead of main.
    pub const PS101: &str = "feature/ps101";
    /// Exists only as `refs/remotes/origin/feature/remote-only`.
    pub const REMOTE_ONLY: &str = "feature/remote-only";
    pub const RELEASE_MANAGER: &str = "tester";
    pub const CONFIG: &str = "[authority]\nrelease_managers = [\"tester\"]\n";
    pub const MOSAIC_UI: &str = "mosaic_ui/index.html";
    pub const FRONTEND: &str = "frontend/index.html";
    pub const BASELINE: &str = "deployment/deploy_baseline.env";
}

/// A small `mosaic_ui/index.html`: contains `authModal`, `PS101State` and
/// `<!-- BUILD_ID:dev -->`; `revision` changes one line (line count stays).
pub fn mosaic_page(revision: &str, extra_lines: &[&str]) -> String {
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n");
    s.push_str("  <meta charset=\"utf-8\">\n  <title>Mosaic</title>\n</head>\n<body>\n");
    s.push_str(&format!("  <header>Mosaic {revision}</header>\n"));
    s.push_str("  <div id=\"authModal\" class=\"modal\" hidden>\n");
    s.push_str(
        "    <form id=\"loginForm\"><input name=\"email\"><button>Sign in</button></form>\n",
    );
    s.push_str("  </div>\n");
    s.push_str("  <main id=\"ps101\">\n");
    for step in 1..=10 {
        s.push_str(&format!(
            "    <section class=\"ps101-step\" data-step=\"{step}\">Step {step}</section>\n"
        ));
    }
    s.push_str("  </main>\n");
    for l in extra_lines {
        s.push_str(l);
        s.push('\n');
    }
    s.push_str("  <script>\n    const PS101State = { step: 1, answers: [] };\n");
    s.push_str(
        "    function openAuth() { document.getElementById('authModal').hidden = false; }\n",
    );
    s.push_str("  </script>\n");
    s.push_str("  <!-- BUILD_ID:dev -->\n</body>\n</html>\n");
    s
}

/// A small `frontend/index.html`.
pub fn frontend_page(revision: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html>\n<head><title>Mosaic frontend</title></head>\n<body>\n  \
         <div id=\"app\">frontend {revision}</div>\n  <script src=\"app.js\"></script>\n\
         </body>\n</html>\n"
    )
}

/// `deployment/deploy_baseline.env` matching the current line counts of
/// `mosaic_ui/index.html` and `frontend/index.html` (tolerance 5).
pub fn baseline_for(f: &Fixture) -> String {
    let mosaic = line_count(&f.read(mosaic::MOSAIC_UI));
    let frontend = line_count(&f.read(mosaic::FRONTEND));
    format!(
        "# Deployment baseline (line counts of the watched pages)\n\
         # Updated by scripts/create_baseline_snapshot.sh\n\
         MOSAIC_UI_LINE_COUNT={mosaic}\n\
         MOSAIC_UI_LINE_TOLERANCE=5\n\
         FRONTEND_LINE_COUNT={frontend}\n\
         FRONTEND_LINE_TOLERANCE=5\n"
    )
}

/// Rewrite the baseline file from the current working-tree pages.
pub fn write_baseline(f: &Fixture) {
    let b = baseline_for(f);
    f.write(mosaic::BASELINE, b);
}

/// A repository shaped like SPEC §2 (see [`mosaic`] for the names):
///
/// - `main`: three commits, dated 2025-11-12/13, with `mosaic_ui/index.html`,
///   `frontend/index.html`, `deployment/deploy_baseline.env` (counts equal to
///   the real line counts, tolerance 5), `guardrail.toml`
///   (`release_managers = ["tester"]`) and `.gitignore` (`backups/`);
/// - tags `prod-2025-11-12` (lightweight, commit 1), `prod-2025-11-13`
///   (annotated, commit 2), `prod-2025-11-13.2` (annotated, commit 3 = main);
/// - `backups/prod-2025-11-13.zip` on disk (untracked) with the entry
///   `mosaic_ui/index.html` as of `prod-2025-11-13`;
/// - `feature/auth-modal` (1 commit ahead of main), `feature/ps101` (2 ahead);
/// - `refs/remotes/origin/feature/remote-only` (1 commit ahead of main, no
///   local branch) and `refs/remotes/origin/feature/auth-modal` at an older
///   commit (also 1 ahead of main, different from and older than the local
///   head);
/// - `main` checked out, clean working tree.
pub fn mosaic_repo() -> Fixture {
    let f = Fixture::new();

    // main, commit 1 -> prod-2025-11-12 (lightweight)
    f.set_date(Some("@1762941600 +0000")); // 2025-11-12T10:00:00Z
    f.write(mosaic::MOSAIC_UI, mosaic_page("r1", &[]));
    f.write(mosaic::FRONTEND, frontend_page("r1"));
    f.write("guardrail.toml", mosaic::CONFIG)
        .write(".gitignore", "backups/\n");
    write_baseline(&f);
    let c1 = f.commit("Mosaic: initial release");
    f.tag_lightweight(mosaic::TAG_LIGHTWEIGHT, &c1);

    // main, commit 2 -> prod-2025-11-13 (annotated)
    f.set_date(Some("@1763028000 +0000")); // 2025-11-13T10:00:00Z
    f.write(
        mosaic::MOSAIC_UI,
        mosaic_page("r2", &["  <footer>Mosaic r2</footer>"]),
    );
    write_baseline(&f);
    let c2 = f.commit("PS101: step copy tweaks");
    f.tag_annotated(
        mosaic::TAG_ANNOTATED,
        &c2,
        "Release prod-2025-11-13\n\nBUILD_ID: c2-20251113T100000Z",
    );
    let page_at_c2 = f.read(mosaic::MOSAIC_UI);

    // main, commit 3 -> prod-2025-11-13.2 (annotated)
    f.set_date(Some("@1763046000 +0000")); // 2025-11-13T15:00:00Z
    f.write(mosaic::FRONTEND, frontend_page("r3"));
    write_baseline(&f);
    let c3 = f.commit("Frontend: hotfix");
    f.tag_annotated(
        mosaic::GOLDEN,
        &c3,
        "Release prod-2025-11-13.2\n\nBUILD_ID: c3-20251113T150000Z",
    );

    // origin/feature/auth-modal: an older commit on a since-rewritten branch.
    f.set_date(Some("@1763110800 +0000")); // 2025-11-14T09:00:00Z
    f.checkout_new("tmp/old-auth-modal");
    f.write(
        mosaic::MOSAIC_UI,
        mosaic_page("r3", &["  <footer>auth modal draft</footer>"]),
    );
    let old_auth = f.commit("Auth modal: first draft");
    f.remote_tracking("origin", mosaic::AUTH_MODAL, &old_auth);

    // feature/ps101: two commits ahead.
    f.checkout("main");
    f.checkout_new(mosaic::PS101);
    f.set_date(Some("@1763114400 +0000")); // 2025-11-14T10:00:00Z
    f.write(
        mosaic::MOSAIC_UI,
        mosaic_page("r3", &["  <aside>PS101 progress bar</aside>"]),
    );
    f.commit("PS101: progress bar");
    f.set_date(Some("@1763118000 +0000")); // 2025-11-14T11:00:00Z
    f.write(
        mosaic::MOSAIC_UI,
        mosaic_page(
            "r3",
            &[
                "  <aside>PS101 progress bar</aside>",
                "  <aside>PS101 resume</aside>",
            ],
        ),
    );
    f.commit("PS101: resume where you left off");

    // feature/auth-modal: one commit ahead, newer than origin's.
    f.checkout("main");
    f.checkout_new(mosaic::AUTH_MODAL);
    f.set_date(Some("@1763121600 +0000")); // 2025-11-14T12:00:00Z
    f.write(
        mosaic::MOSAIC_UI,
        mosaic_page("r3", &["  <footer>auth modal: remember me</footer>"]),
    );
    f.commit("Auth modal: remember me");

    // origin/feature/remote-only: only a remote-tracking ref.
    f.checkout("main");
    f.checkout_new("tmp/remote-only");
    f.set_date(Some("@1763125200 +0000")); // 2025-11-14T13:00:00Z
    f.write("frontend/remote.txt", "remote only work\n");
    let remote_only = f.commit("Remote-only work");
    f.remote_tracking("origin", mosaic::REMOTE_ONLY, &remote_only);

    f.checkout("main");
    f.git(&[
        "branch",
        "-q",
        "-D",
        "tmp/old-auth-modal",
        "tmp/remote-only",
    ]);
    f.set_date(None);
    f.clock.set(1_763_128_800); // 2025-11-14T14:00:00Z: later commits come after

    // Hand-made backup of prod-2025-11-13 (no MANIFEST.sha256).
    f.write_zip(
        mosaic::BACKUP,
        &[("mosaic_ui/index.html", page_at_c2.as_bytes())],
    );
    f
}

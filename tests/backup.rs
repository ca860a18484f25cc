//! Backups and restore on real repositories and real files: writing
//! `backups/<tag>.zip` from a directory and from a commit, never overwriting,
//! failing cleanly under a file-size limit, inspecting (manifest, CRC, unsafe
//! entry names), and restoring from a zip or a tag's tree.
use crate::common;
use common::*;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use guardrail::pipeline::backup::{
    self, content_hash, inspect, restore, restore_from_tree, write_backup, BackupError, Source,
    Verified, MANIFEST_NAME,
};
use guardrail::pipeline::repo::Repo;
use sha2::{Digest, Sha256};

const TAG: &str = "prod-2025-11-14";

fn sha(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Deterministic pseudo-random bytes (incompressible).
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// The mosaic fixture with a fuller bundle: assets, a binary image, an
/// executable file and a nested directory.
fn bundle_repo() -> Fixture {
    let f = mosaic_repo();
    f.write(
        "mosaic_ui/assets/app.js",
        "console.log('mosaic');\n".repeat(200),
    );
    f.write("mosaic_ui/assets/deep/style.css", "body { margin: 0 }\n");
    let img = f.path().join("mosaic_ui/assets/logo.png");
    std::fs::write(&img, noise(40_000, 7)).unwrap();
    let tool = f.path().join("mosaic_ui/tool.sh");
    std::fs::write(&tool, "#!/bin/sh\necho hi\n").unwrap();
    std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
    f
}

/// Every file under `dir`: relative path → (bytes, executable).
fn tree_of(dir: &Path) -> BTreeMap<String, (Vec<u8>, bool)> {
    fn walk(base: &Path, d: &Path, out: &mut BTreeMap<String, (Vec<u8>, bool)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                walk(base, &p, out);
            } else {
                let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
                let exec = m.permissions().mode() & 0o111 != 0;
                out.insert(rel, (std::fs::read(&p).unwrap(), exec));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// Entry name → bytes of a zip, read with the zip crate.
fn zip_entries(path: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(std::fs::File::open(path).unwrap()).unwrap();
    let mut out = BTreeMap::new();
    for i in 0..z.len() {
        let mut e = z.by_index(i).unwrap();
        let mut v = Vec::new();
        e.read_to_end(&mut v).unwrap();
        out.insert(e.name().to_string(), v);
    }
    out
}

fn dir_names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

/// Checks the manifest inside a zip against the zip's other entries.
fn assert_manifest_matches(entries: &BTreeMap<String, Vec<u8>>) {
    let text = String::from_utf8(entries[MANIFEST_NAME].clone()).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut paths = Vec::new();
    for l in &lines {
        let (h, p) = l.split_once("  ").expect("two spaces");
        assert_eq!(h.len(), 64, "{l}");
        assert_eq!(h, sha(&entries[p]), "{p}");
        paths.push(p.to_string());
    }
    let mut sorted = paths.clone();
    sorted.sort();
    assert_eq!(paths, sorted, "manifest sorted");
    let files: Vec<String> = entries
        .keys()
        .filter(|k| *k != MANIFEST_NAME)
        .cloned()
        .collect();
    assert_eq!(paths, files);
}

#[test]
fn backup_of_a_directory_holds_the_archive_paths_and_a_manifest() {
    let f = bundle_repo();
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let info = write_backup(&repo, &cfg, TAG, Source::Dir(f.path().to_path_buf())).unwrap();

    let want = f.path().join("backups").join(format!("{TAG}.zip"));
    assert_eq!(info.path, want);
    assert_eq!(info.bytes, std::fs::metadata(&want).unwrap().len());
    assert_eq!(info.files, 5);

    let entries = zip_entries(&want);
    let names: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert_eq!(
        names,
        vec![
            MANIFEST_NAME,
            "mosaic_ui/assets/app.js",
            "mosaic_ui/assets/deep/style.css",
            "mosaic_ui/assets/logo.png",
            "mosaic_ui/index.html",
            "mosaic_ui/tool.sh",
        ]
    );
    for (name, bytes) in &entries {
        if name != MANIFEST_NAME {
            assert_eq!(
                bytes,
                &std::fs::read(f.path().join(name)).unwrap(),
                "{name}"
            );
        }
    }
    assert_manifest_matches(&entries);
    assert_eq!(info.manifest_sha256, sha(&entries[MANIFEST_NAME]));

    // The executable bit is kept in the zip.
    let mut z = zip::ZipArchive::new(std::fs::File::open(&want).unwrap()).unwrap();
    let mode = z.by_name("mosaic_ui/tool.sh").unwrap().unix_mode().unwrap();
    assert_eq!(mode & 0o777, 0o755);

    // Nothing else in the backups directory: no temporary left behind.
    assert_eq!(
        dir_names(&f.path().join("backups")),
        vec!["prod-2025-11-13.zip".to_string(), format!("{TAG}.zip")]
    );

    let check = inspect(&want).unwrap();
    assert!(check.is_ok(), "{check}");
    let m = check.manifest.as_ref().expect("a manifest");
    assert!(m.ok && m.mismatched.is_empty() && m.missing.is_empty() && m.extra.is_empty());
    assert_eq!(check.files.len(), 5);
    assert!(
        check.summary().starts_with("manifest ✅"),
        "{}",
        check.summary()
    );
}

#[test]
fn backup_of_a_commit_holds_the_tree_not_the_working_tree() {
    let f = bundle_repo(); // untracked extra files in the working tree
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let commit = git2::Oid::from_str(&f.commit_of(mosaic::TAG_ANNOTATED)).unwrap();
    let info = write_backup(&repo, &cfg, TAG, Source::Commit(commit)).unwrap();
    assert_eq!(info.files, 1);

    let entries = zip_entries(&info.path);
    let names: Vec<&str> = entries.keys().map(String::as_str).collect();
    assert_eq!(names, vec![MANIFEST_NAME, "mosaic_ui/index.html"]);
    let at_tag = f.git(&[
        "show",
        &format!("{}:mosaic_ui/index.html", mosaic::TAG_ANNOTATED),
    ]);
    assert_eq!(
        entries["mosaic_ui/index.html"],
        format!("{at_tag}\n").into_bytes()
    );
    assert_manifest_matches(&entries);

    // A tag object id is peeled to its commit.
    let tag_obj = git2::Oid::from_str(&f.rev_parse(mosaic::GOLDEN)).unwrap();
    let info = write_backup(&repo, &cfg, "prod-2025-11-15", Source::Commit(tag_obj)).unwrap();
    assert_eq!(info.files, 1);
}

#[test]
fn missing_archive_path_and_symlink_are_errors() {
    let f = mosaic_repo();
    f.write_config(&format!(
        "{}[project]\narchive = [\"mosaic_ui\", \"nope\"]\n",
        mosaic::CONFIG
    ));
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let err = write_backup(&repo, &cfg, TAG, Source::Dir(f.path().to_path_buf())).unwrap_err();
    assert!(matches!(err, BackupError::MissingPath { .. }), "{err}");
    assert!(err.to_string().contains("`nope`"), "{err}");
    assert!(!f.path().join("backups").join(format!("{TAG}.zip")).exists());

    // An empty bundle directory is nothing to back up.
    let f = mosaic_repo();
    std::fs::create_dir_all(f.path().join("empty_ui")).unwrap();
    f.write_config(&format!(
        "{}[project]\narchive = [\"empty_ui\"]\n",
        mosaic::CONFIG
    ));
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let err = write_backup(&repo, &cfg, TAG, Source::Dir(f.path().to_path_buf())).unwrap_err();
    assert!(matches!(err, BackupError::NothingToArchive(_)), "{err}");
    assert!(!f.path().join("backups").join(format!("{TAG}.zip")).exists());

    let f = mosaic_repo();
    std::os::unix::fs::symlink("/etc/passwd", f.path().join("mosaic_ui/passwd")).unwrap();
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let err = write_backup(&repo, &cfg, TAG, Source::Dir(f.path().to_path_buf())).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(!f.path().join("backups").join(format!("{TAG}.zip")).exists());
}

#[test]
fn an_existing_backup_is_never_overwritten() {
    let f = mosaic_repo();
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let existing = f.path().join(mosaic::BACKUP);
    let before = std::fs::read(&existing).unwrap();
    let err = write_backup(
        &repo,
        &cfg,
        mosaic::TAG_ANNOTATED,
        Source::Dir(f.path().to_path_buf()),
    )
    .unwrap_err();
    assert!(
        matches!(&err, BackupError::Exists(p) if *p == existing),
        "{err}"
    );
    assert!(err.to_string().contains("already exists"), "{err}");
    assert_eq!(std::fs::read(&existing).unwrap(), before);

    // A directory where the zip should be is not replaced either.
    let dir_in_way = f.path().join("backups").join(format!("{TAG}.zip"));
    std::fs::create_dir_all(dir_in_way.join("keep")).unwrap();
    let err = write_backup(&repo, &cfg, TAG, Source::Dir(f.path().to_path_buf())).unwrap_err();
    assert!(matches!(err, BackupError::Exists(_)), "{err}");
    assert!(dir_in_way.join("keep").is_dir());
    assert_eq!(
        dir_names(&f.path().join("backups")),
        vec!["prod-2025-11-13.zip".to_string(), format!("{TAG}.zip")]
    );
}

#[test]
fn backups_dir_that_is_a_file_is_an_error_naming_it() {
    let f = mosaic_repo();
    f.write_config(&format!(
        "{}[project]\nbackups_dir = \"store\"\n",
        mosaic::CONFIG
    ));
    f.write("store", "not a directory\n");
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let err = write_backup(&repo, &cfg, TAG, Source::Dir(f.path().to_path_buf())).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&f.path().join("store").display().to_string()),
        "{msg}"
    );
    assert_eq!(f.read("store"), "not a directory\n");

    // A missing backups directory (absolute path) is created.
    let abs = f.tempdir().join("elsewhere/backups");
    f.write_config(&format!(
        "{}[project]\nbackups_dir = \"{}\"\n",
        mosaic::CONFIG,
        abs.display()
    ));
    let cfg = repo.config().unwrap();
    let info = write_backup(&repo, &cfg, TAG, Source::Dir(f.path().to_path_buf())).unwrap();
    assert_eq!(info.path, abs.join(format!("{TAG}.zip")));
}

/// Set by the parent of [`file_size_limit_leaves_nothing_behind`] when it
/// re-runs this test binary as a child with a small RLIMIT_FSIZE.
const CHILD_ENV: &str = "GUARDRAIL_TEST_FSIZE_REPO";

#[test]
fn file_size_limit_leaves_nothing_behind() {
    if let Ok(repo_path) = std::env::var(CHILD_ENV) {
        // Child: a 64 KiB limit on any file this process writes; SIGXFSZ
        // ignored so the write fails with EFBIG instead of killing us.
        // SAFETY: plain libc calls on this process, before any file writes.
        unsafe {
            libc::signal(libc::SIGXFSZ, libc::SIG_IGN);
            let lim = libc::rlimit {
                rlim_cur: 64 * 1024,
                rlim_max: 64 * 1024,
            };
            assert_eq!(libc::setrlimit(libc::RLIMIT_FSIZE, &lim), 0);
        }
        let repo = Repo::open(Path::new(&repo_path)).unwrap();
        let cfg = repo.config().unwrap();
        let r = write_backup(&repo, &cfg, TAG, Source::Dir(PathBuf::from(&repo_path)));
        match r {
            Ok(info) => println!("CHILD-RESULT ok {}", info.path.display()),
            Err(e) => println!("CHILD-RESULT err {e}"),
        }
        return;
    }
    let f = mosaic_repo();
    std::fs::write(f.path().join("mosaic_ui/video.mp4"), noise(512 * 1024, 3)).unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .arg(test_name(
            module_path!(),
            "file_size_limit_leaves_nothing_behind",
        ))
        .args(["--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, f.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find_map(|l| l.find("CHILD-RESULT").map(|i| &l[i..]))
        .unwrap_or_else(|| panic!("child said nothing: {text}\n{}", stderr(&out)));
    assert!(
        !stderr(&out).contains("ZipWriter"),
        "nothing printed by the zip writer: {}",
        stderr(&out)
    );
    let final_path = f.path().join("backups").join(format!("{TAG}.zip"));
    assert!(line.starts_with("CHILD-RESULT err "), "{line}");
    assert!(line.contains(&final_path.display().to_string()), "{line}");
    assert!(line.contains("too large"), "{line}");
    assert!(!final_path.exists());
    assert_eq!(
        dir_names(&f.path().join("backups")),
        vec!["prod-2025-11-13.zip".to_string()],
        "no temporary left"
    );
}

// ---------------------------------------------------------------------------
// inspect

/// A backup of `bundle_repo` written and returned with its fixture.
fn written_backup() -> (Fixture, PathBuf) {
    let f = bundle_repo();
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let info = write_backup(&repo, &cfg, TAG, Source::Dir(f.path().to_path_buf())).unwrap();
    (f, info.path)
}

#[test]
fn a_flipped_byte_is_named() {
    let (f, zip_path) = written_backup();
    // logo.png is stored uncompressed: its bytes sit in the zip as they are.
    let logo = std::fs::read(f.path().join("mosaic_ui/assets/logo.png")).unwrap();
    let mut bytes = std::fs::read(&zip_path).unwrap();
    let at = bytes
        .windows(64)
        .position(|w| w == &logo[1000..1064])
        .expect("stored entry found in the zip");
    bytes[at + 10] ^= 0x01;
    std::fs::write(&zip_path, &bytes).unwrap();

    let check = inspect(&zip_path).unwrap();
    assert!(!check.is_ok());
    assert!(!check.crc_ok);
    assert_eq!(check.crc_failed, vec!["mosaic_ui/assets/logo.png"]);
    let m = check.manifest.as_ref().unwrap();
    assert!(!m.ok);
    assert_eq!(m.mismatched, vec!["mosaic_ui/assets/logo.png"]);
    assert!(
        check.summary().contains("mosaic_ui/assets/logo.png"),
        "{}",
        check.summary()
    );

    let dest = f.tempdir().join("restored");
    let err = restore(&zip_path, &dest).unwrap_err();
    match &err {
        BackupError::ManifestMismatch { files, .. } => {
            assert_eq!(files, &vec!["mosaic_ui/assets/logo.png".to_string()])
        }
        other => panic!("{other}"),
    }
    assert!(!dest.exists(), "nothing restored");
    assert_eq!(
        dir_names(f.tempdir()),
        vec!["home", "repo"],
        "no staging left"
    );
}

#[test]
fn manifest_mismatch_missing_and_extra_are_listed() {
    let f = mosaic_repo();
    let zip_path = f.tempdir().join("hand.zip");
    let manifest = format!(
        "{}  mosaic_ui/gone.js\n{}  mosaic_ui/index.html\n",
        sha(b"gone"),
        sha(b"something else")
    );
    write_zip_file(
        &zip_path,
        &[
            ("mosaic_ui/index.html", b"<html></html>\n"),
            ("mosaic_ui/extra.css", b"p {}\n"),
            (MANIFEST_NAME, manifest.as_bytes()),
        ],
    );
    let check = inspect(&zip_path).unwrap();
    assert!(check.crc_ok);
    let m = check.manifest.clone().unwrap();
    assert!(!m.ok);
    assert_eq!(m.mismatched, vec!["mosaic_ui/index.html"]);
    assert_eq!(m.missing, vec!["mosaic_ui/gone.js"]);
    assert_eq!(m.extra, vec!["mosaic_ui/extra.css"]);

    let dest = f.tempdir().join("out");
    let err = restore(&zip_path, &dest).unwrap_err();
    match &err {
        BackupError::ManifestMismatch { files, .. } => assert_eq!(
            files,
            &vec![
                "mosaic_ui/extra.css".to_string(),
                "mosaic_ui/gone.js".to_string()
            ]
        ),
        other => panic!("{other}"),
    }
    assert!(!dest.exists());

    // A manifest line that is not `<sha256>  <path>` is named by line.
    write_zip_file(
        &zip_path,
        &[
            ("mosaic_ui/index.html", b"x"),
            (MANIFEST_NAME, b"0123  mosaic_ui/index.html\n"),
        ],
    );
    let err = inspect(&zip_path).unwrap_err();
    assert!(err.to_string().contains("line 1"), "{err}");
}

/// A zip whose entries are written with exactly these raw names.
fn raw_zip(path: &Path, entries: &[(&str, &[u8])]) {
    let mut z = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in entries {
        z.start_file(*name, opts).unwrap();
        z.write_all(data).unwrap();
    }
    z.finish().unwrap();
}

#[test]
fn entries_leaving_the_target_are_refused_before_anything_is_written() {
    let f = mosaic_repo();
    let work = f.tempdir().join("work");
    std::fs::create_dir_all(&work).unwrap();
    for bad in [
        "../evil",
        "/abs/evil",
        "mosaic_ui/../../evil",
        "mosaic_ui/../evil",
        "C:/evil",
        "..\\evil",
    ] {
        let zip_path = f.tempdir().join("bad.zip");
        // A good entry first, so a careless extractor would write it.
        raw_zip(
            &zip_path,
            &[("mosaic_ui/index.html", b"<html>\n"), (bad, b"pwned\n")],
        );
        let err = inspect(&zip_path).unwrap_err();
        assert!(
            matches!(&err, BackupError::UnsafeEntry { entry, .. } if entry == bad),
            "{bad}: {err}"
        );
        assert!(err.to_string().contains("refused"), "{err}");
        let dest = work.join("dest");
        let err = restore(&zip_path, &dest).unwrap_err();
        assert!(
            matches!(err, BackupError::UnsafeEntry { .. }),
            "{bad}: {err}"
        );
        assert!(!dest.exists(), "{bad}: nothing written");
        assert!(dir_names(&work).is_empty(), "{bad}: {:?}", dir_names(&work));
        assert!(!f.tempdir().join("evil").exists());
        assert!(!Path::new("/abs/evil").exists());
    }

    // A symbolic link entry is refused as well.
    let zip_path = f.tempdir().join("link.zip");
    let mut z = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    z.add_symlink(
        "mosaic_ui/link",
        "/etc",
        zip::write::SimpleFileOptions::default(),
    )
    .unwrap();
    z.finish().unwrap();
    let err = restore(&zip_path, &work.join("dest")).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(dir_names(&work).is_empty());
}

#[test]
fn a_hand_made_zip_without_manifest_is_accepted_as_no_manifest() {
    let f = mosaic_repo();
    let zip_path = f.path().join(mosaic::BACKUP);
    let check = inspect(&zip_path).unwrap();
    assert_eq!(check.manifest, None);
    assert!(check.crc_ok && check.is_ok());
    assert_eq!(check.files, vec!["mosaic_ui/index.html"]);
    assert!(
        check.summary().starts_with("no manifest"),
        "{}",
        check.summary()
    );

    let dest = f.tempdir().join("restored");
    let info = restore(&zip_path, &dest).unwrap();
    assert_eq!(info.verified, Verified::ZipChecksums);
    assert_eq!(info.files, 1);
    let at_tag = f.git(&[
        "show",
        &format!("{}:mosaic_ui/index.html", mosaic::TAG_ANNOTATED),
    ]);
    assert_eq!(
        f.read_abs(&dest.join("mosaic_ui/index.html")),
        format!("{at_tag}\n")
    );
}

// ---------------------------------------------------------------------------
// restore

trait ReadAbs {
    fn read_abs(&self, p: &Path) -> String;
}
impl ReadAbs for Fixture {
    fn read_abs(&self, p: &Path) -> String {
        std::fs::read_to_string(p).unwrap()
    }
}

#[test]
fn restore_is_byte_for_byte_equal_to_the_source() {
    let (f, zip_path) = written_backup();
    let dest = f.tempdir().join("publish");
    std::fs::create_dir(&dest).unwrap(); // an empty directory is fine
    let info = restore(&zip_path, &dest).unwrap();
    assert_eq!(info.verified, Verified::Manifest);
    assert_eq!(info.files, 5);

    let restored = tree_of(&dest);
    let source: BTreeMap<String, (Vec<u8>, bool)> = tree_of(&f.path().join("mosaic_ui"))
        .into_iter()
        .map(|(k, v)| (format!("mosaic_ui/{k}"), v))
        .collect();
    assert_eq!(
        restored.keys().collect::<Vec<_>>(),
        source.keys().collect::<Vec<_>>()
    );
    for (k, v) in &source {
        assert_eq!(&restored[k], v, "{k}");
    }
    let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o755);
    assert_eq!(dir_names(f.tempdir()), vec!["home", "publish", "repo"]);

    // A target that is not empty is refused, and left alone.
    let err = restore(&zip_path, &dest).unwrap_err();
    assert!(matches!(err, BackupError::DestNotEmpty(_)), "{err}");
    assert_eq!(tree_of(&dest), restored);

    // What production serves compares equal to the bundle, BUILD_ID aside.
    let served = dest.join("mosaic_ui/index.html");
    let page = std::fs::read_to_string(&served)
        .unwrap()
        .replace("BUILD_ID:dev", "BUILD_ID:abc1234-20251114T140000Z");
    std::fs::write(&served, page).unwrap();
    assert_eq!(
        backup::bundle_manifest(&dest.join("mosaic_ui"), "mosaic_ui"),
        backup::bundle_manifest(&f.path().join("mosaic_ui"), "mosaic_ui")
    );
    let m = backup::bundle_manifest(&f.path().join("mosaic_ui"), "mosaic_ui");
    assert_eq!(
        m["mosaic_ui/assets/app.js"],
        content_hash(f.read("mosaic_ui/assets/app.js").as_bytes())
    );
}

#[test]
fn restore_from_tree_equals_the_tags_tree() {
    let f = bundle_repo();
    f.git(&["add", "-A"]);
    // An executable file committed with its mode.
    let c = f.commit("bundle assets");
    f.tag_annotated("prod-2025-11-14", &c, "Release prod-2025-11-14");
    // The working tree moves on; the tag's tree is what is restored.
    f.write("mosaic_ui/index.html", "changed after the tag\n");
    f.write("mosaic_ui/new.js", "new\n");

    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    let commit = git2::Oid::from_str(&f.commit_of("prod-2025-11-14")).unwrap();
    let dest = f.tempdir().join("from-tree");
    let info = restore_from_tree(&repo, commit, &cfg.project.archive, &dest).unwrap();
    assert_eq!(info.verified, Verified::GitTree);

    let listed = f.git(&["ls-tree", "-r", "prod-2025-11-14", "--", "mosaic_ui"]);
    let restored = tree_of(&dest);
    assert_eq!(restored.len(), listed.lines().count());
    assert_eq!(info.files, restored.len());
    for line in listed.lines() {
        let (meta, path) = line.split_once('\t').unwrap();
        let mode = meta.split(' ').next().unwrap();
        let want = std::process::Command::new("git")
            .current_dir(f.path())
            .args(["cat-file", "blob", &format!("prod-2025-11-14:{path}")])
            .output()
            .unwrap()
            .stdout;
        let (bytes, exec) = &restored[path];
        assert_eq!(bytes, &want, "{path}");
        assert_eq!(*exec, mode == "100755", "{path}");
    }

    // A symbolic link in the tree is refused, nothing written.
    std::os::unix::fs::symlink("index.html", f.path().join("mosaic_ui/alias.html")).unwrap();
    f.git(&["add", "-A"]);
    let c2 = f.commit("a link");
    let c2 = git2::Oid::from_str(&c2).unwrap();
    let dest2 = f.tempdir().join("from-tree-2");
    let err = restore_from_tree(&repo, c2, &cfg.project.archive, &dest2).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
    assert!(!dest2.exists());
    // …and a backup of that commit is refused the same way.
    let err = write_backup(&repo, &cfg, "prod-2025-11-16", Source::Commit(c2)).unwrap_err();
    assert!(err.to_string().contains("symbolic link"), "{err}");
}

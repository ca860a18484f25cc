//! Trees built straight with git2 (no working tree): real git repositories built in
//! temporary directories with git2, isolated from the user's git config.

use std::collections::BTreeMap;
use std::sync::Once;

use git2::{Oid, Repository, Signature, Time};

/// Keeps libgit2 away from the system and global git config.
pub fn isolate_git() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        std::env::set_var("GIT_CONFIG_NOSYSTEM", "1");
        std::env::set_var("GIT_CONFIG_GLOBAL", "/dev/null");
    });
}

pub struct TestRepo {
    pub dir: tempfile::TempDir,
    pub repo: Repository,
}

pub type Files = BTreeMap<String, Vec<u8>>;

pub fn files(list: &[(&str, &[u8])]) -> Files {
    list.iter()
        .map(|(p, c)| (p.to_string(), c.to_vec()))
        .collect()
}

impl TestRepo {
    pub fn new() -> TestRepo {
        isolate_git();
        let dir = tempfile::tempdir().expect("tempdir");
        let repo = Repository::init(dir.path()).expect("init");
        TestRepo { dir, repo }
    }

    /// Writes `files` as a whole tree.
    pub fn tree(&self, files: &Files) -> Oid {
        build_tree(&self.repo, files)
    }

    /// Commits `files` as the whole tree on `refs/heads/<branch>` with the
    /// given parents (the branch ref is moved without checks).
    pub fn commit(&self, branch: &str, parents: &[Oid], files: &Files, msg: &str) -> Oid {
        let tree_id = self.tree(files);
        let tree = self.repo.find_tree(tree_id).unwrap();
        let parents: Vec<git2::Commit> = parents
            .iter()
            .map(|p| self.repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit> = parents.iter().collect();
        let n = parents.len() as i64;
        let sig = Signature::new(
            "Test Agent",
            "agent@example.org",
            &Time::new(1_763_000_000 + n, 0),
        )
        .unwrap();
        let oid = self
            .repo
            .commit(None, &sig, &sig, msg, &tree, &refs)
            .unwrap();
        self.repo
            .reference(&format!("refs/heads/{branch}"), oid, true, msg)
            .unwrap();
        oid
    }

    pub fn find_commit(&self, oid: Oid) -> git2::Commit<'_> {
        self.repo.find_commit(oid).unwrap()
    }

    pub fn tree_of(&self, oid: Oid) -> git2::Tree<'_> {
        self.repo.find_commit(oid).unwrap().tree().unwrap()
    }
}

fn build_tree(repo: &Repository, files: &Files) -> Oid {
    let mut tb = repo.treebuilder(None).unwrap();
    let mut subdirs: BTreeMap<String, Files> = BTreeMap::new();
    for (path, data) in files {
        match path.split_once('/') {
            Some((d, rest)) => {
                subdirs
                    .entry(d.to_string())
                    .or_default()
                    .insert(rest.to_string(), data.clone());
            }
            None => {
                let oid = repo.blob(data).unwrap();
                tb.insert(path, oid, 0o100644).unwrap();
            }
        }
    }
    for (d, sub) in subdirs {
        let oid = build_tree(repo, &sub);
        tb.insert(&d, oid, 0o040000).unwrap();
    }
    tb.write().unwrap()
}

/// `n` lines of text, "line 1\n" … "line n\n".
pub fn lines(n: usize) -> Vec<u8> {
    (1..=n)
        .map(|i| format!("line {i}\n"))
        .collect::<String>()
        .into_bytes()
}

/// A complete 1×1 PNG.
pub const PNG_1X1: &[u8] = &[
    0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1F, 0x15, 0xC4,
    0x89, 0x00, 0x00, 0x00, 0x0D, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0xF8, 0xCF, 0xC0, 0xF0,
    0x1F, 0x00, 0x05, 0x00, 0x01, 0xFF, 0x89, 0x99, 0x3D, 0x1D, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45,
    0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82,
];

/// The start of a JFIF JPEG.
pub const JPEG_HEAD: &[u8] = &[
    0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10, 0x4A, 0x46, 0x49, 0x46, 0x00, 0x01, 0x01, 0x00, 0x00, 0x01,
    0x00, 0x01, 0x00, 0x00, 0xFF, 0xDB, 0x00, 0x43, 0x00, 0x08,
];

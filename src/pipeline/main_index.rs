//! Main's history as an index for ahead/behind, kept in the state directory
//! (`cache/main-index-v1`) so that a call walks only what is new on main
//! since the last one, not the whole history.
//!
//! With a linear main (no merge commits) the index holds every commit of
//! main with its depth (the root is 0). A branch's ahead is counted by
//! walking its own commits until they meet main; its behind is the number of
//! main commits above the highest meeting point: both bounded by the
//! branch, not by main. With merge commits on main, libgit2's
//! `graph_ahead_behind` counts each branch instead (it walks from both heads
//! to their merge base).
//!
//! The cache is keyed by main's tip. When main moved, the first-parent chain
//! is walked from the new tip until it meets a commit of the index (the old
//! tip, when main only moved forward); commits of the index above that
//! point (a rewound main) are dropped. The file carries a SHA-256 of its
//! entries; one that does not check is ignored and replaced. It is written only into a state directory that
//! already exists: guardrail never creates the state directory for a cache
//! (a viewer's `status` must not take ownership of it).
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use git2::{Oid, Repository};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Commits walked between two calls of `pause`.
const PAUSE_EVERY: usize = 1024;
/// The cache file, under the state directory.
pub const CACHE_FILE: &str = "cache/main-index-v1";
const MAGIC: &[u8; 16] = b"guardrail-mainix";
/// An entry: the commit id (20 bytes) and its depth (u32, little endian).
const ENTRY: usize = 24;
/// Magic, tip, flags, commits on the chain, SHA-256 of the entries.
const HEADER: usize = 16 + 20 + 4 + 4 + 32;

/// Where this call's index came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum IndexSource {
    /// Read from the cache, main unchanged since it was written.
    #[serde(rename = "cache")]
    Cache,
    /// Read from the cache and brought up to date by walking main's new
    /// commits only.
    #[serde(rename = "cache+walk")]
    CacheAndWalk,
    /// Built by walking main's whole history (no usable cache).
    #[serde(rename = "walk")]
    Walk,
}

/// What `status --json` says about how ahead/behind were counted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IndexReport {
    /// `cache`, `cache+walk` or `walk` ([`IndexSource`]).
    pub main_index: IndexSource,
    /// Commits on main's first-parent chain.
    pub main_commits: usize,
    /// Commits of main walked by this call to build or update the index.
    pub main_commits_walked: usize,
    /// Main has merge commits: each branch was counted by libgit2 walking
    /// from its head and main's to their merge base.
    pub merges_on_main: bool,
    /// Commits read by the per-branch walks from the heads down to main
    /// (with a linear main; 0 with merges on main, where libgit2 walks).
    pub branch_commits_walked: usize,
    /// The cache file read or written, `null` when none was.
    pub cache_file: Option<String>,
    /// Why the cache was not written, when it was not.
    pub cache_note: Option<String>,
}

/// Main's history, read once for ahead/behind of every branch.
pub struct MainIndex {
    tip: Oid,
    linear: bool,
    /// Commits on main's first-parent chain.
    chain: u32,
    /// Linear main only: entries sorted by commit id.
    entries: Vec<u8>,
    source: IndexSource,
    walked: usize,
    cache_file: Option<PathBuf>,
    cache_note: Option<String>,
    visited: AtomicUsize,
}

impl MainIndex {
    /// Builds the index by walking main's whole history (no cache): two
    /// revwalks, no commit object opened.
    pub fn build(
        git: &Repository,
        tip: Oid,
        pause: &mut dyn FnMut(),
    ) -> Result<MainIndex, git2::Error> {
        let mut first = git.revwalk()?;
        first.push(tip)?;
        first.simplify_first_parent()?;
        let mut chain = Vec::new();
        for (i, oid) in first.enumerate() {
            chain.push(oid?);
            if (i + 1).is_multiple_of(PAUSE_EVERY) {
                pause();
            }
        }
        let mut all = git.revwalk()?;
        all.push(tip)?;
        let mut reachable = 0usize;
        for oid in all {
            oid?;
            reachable += 1;
            if reachable.is_multiple_of(PAUSE_EVERY) {
                pause();
            }
        }
        let walked = reachable.max(chain.len());
        let linear = reachable == chain.len();
        let n = chain.len();
        let entries = if linear {
            encode(
                chain
                    .iter()
                    .enumerate()
                    .map(|(i, o)| (*o, (n - 1 - i) as u32)),
            )
        } else {
            Vec::new()
        };
        Ok(MainIndex {
            tip,
            linear,
            chain: n as u32,
            entries,
            source: IndexSource::Walk,
            walked,
            cache_file: None,
            cache_note: None,
            visited: AtomicUsize::new(0),
        })
    }

    /// The index for main at `tip`, from the cache in `state_dir` when it
    /// holds one (brought up to date by walking main's new commits), else
    /// built; the cache is then (re)written if the state directory exists.
    pub fn open(
        git: &Repository,
        tip: Oid,
        state_dir: &Path,
        pause: &mut dyn FnMut(),
    ) -> Result<MainIndex, git2::Error> {
        let path = state_dir.join(CACHE_FILE);
        let cached = std::fs::read(&path).ok().and_then(decode);
        let mut index = match cached {
            Some(c) if c.tip == tip => MainIndex {
                tip,
                linear: c.linear,
                chain: c.chain,
                entries: c.entries,
                source: IndexSource::Cache,
                walked: 0,
                cache_file: Some(path.clone()),
                cache_note: None,
                visited: AtomicUsize::new(0),
            },
            Some(c) => match update(git, c, tip, pause)? {
                Some(i) => i,
                None => MainIndex::build(git, tip, pause)?,
            },
            None => MainIndex::build(git, tip, pause)?,
        };
        if index.source != IndexSource::Cache {
            match index.save(state_dir, &path) {
                Ok(()) => index.cache_file = Some(path),
                Err(note) => index.cache_note = Some(note),
            }
        }
        Ok(index)
    }

    /// (ahead, behind) of `head` against main.
    pub fn ahead_behind(&self, git: &Repository, head: Oid) -> Result<(usize, usize), git2::Error> {
        if !self.linear {
            return git.graph_ahead_behind(head, self.tip);
        }
        let top = self.chain - 1;
        let mut ahead = 0usize;
        let mut nearest: Option<u32> = None;
        let mut seen = std::collections::HashSet::new();
        let mut stack = vec![head];
        while let Some(oid) = stack.pop() {
            if !seen.insert(oid) {
                continue;
            }
            self.visited.fetch_add(1, Ordering::Relaxed);
            if let Some(depth) = lookup(&self.entries, oid) {
                let p = top.saturating_sub(depth);
                nearest = Some(nearest.map_or(p, |n| n.min(p)));
                continue;
            }
            ahead += 1;
            stack.extend(git.find_commit(oid)?.parent_ids());
        }
        // Every main commit above the meeting point is missing from the branch.
        let behind = nearest.map_or(self.chain as usize, |p| p as usize);
        Ok((ahead, behind))
    }

    /// How this index was obtained and how much was walked so far.
    pub fn report(&self) -> IndexReport {
        IndexReport {
            main_index: self.source,
            main_commits: self.chain as usize,
            main_commits_walked: self.walked,
            merges_on_main: !self.linear,
            branch_commits_walked: self.visited.load(Ordering::Relaxed),
            cache_file: self.cache_file.as_ref().map(|p| p.display().to_string()),
            cache_note: self.cache_note.clone(),
        }
    }

    /// Writes the cache file atomically, into an existing state directory.
    fn save(&self, state_dir: &Path, path: &Path) -> Result<(), String> {
        if !state_dir.is_dir() {
            return Err(format!(
                "the state directory {} does not exist yet",
                state_dir.display()
            ));
        }
        let dir = path.parent().unwrap_or(state_dir);
        let write = || -> std::io::Result<()> {
            std::fs::create_dir_all(dir)?;
            let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
            std::io::Write::write_all(&mut tmp, &self.encode_file())?;
            tmp.persist(path).map_err(|e| e.error)?;
            Ok(())
        };
        write().map_err(|e| format!("{} could not be written: {e}", path.display()))
    }

    fn encode_file(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(HEADER + self.entries.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(self.tip.as_bytes());
        out.extend_from_slice(&u32::from(self.linear).to_le_bytes());
        out.extend_from_slice(&self.chain.to_le_bytes());
        out.extend_from_slice(&Sha256::digest(&self.entries));
        out.extend_from_slice(&self.entries);
        out
    }
}

/// A cache file's contents, checked.
struct Cached {
    tip: Oid,
    linear: bool,
    chain: u32,
    entries: Vec<u8>,
}

fn decode(mut bytes: Vec<u8>) -> Option<Cached> {
    if bytes.len() < HEADER || &bytes[..16] != MAGIC {
        return None;
    }
    let tip = Oid::from_bytes(&bytes[16..36]).ok()?;
    let linear = match u32::from_le_bytes(bytes[36..40].try_into().ok()?) {
        0 => false,
        1 => true,
        _ => return None,
    };
    let chain = u32::from_le_bytes(bytes[40..44].try_into().ok()?);
    let entries = &bytes[HEADER..];
    let sized = if linear {
        entries.len() == chain as usize * ENTRY
    } else {
        entries.is_empty()
    };
    if !sized
        || chain == 0
        || Sha256::digest(entries).as_slice() != &bytes[44..HEADER]
        || entries.chunks_exact(ENTRY).any(|e| entry_depth(e) >= chain)
    {
        return None;
    }
    bytes.drain(..HEADER);
    Some(Cached {
        tip,
        linear,
        chain,
        entries: bytes,
    })
}

/// Brings a cached index up to date with main at `tip` by walking the
/// first-parent chain from `tip` until it meets the cache; `None` when it
/// never does (main was rewritten: build anew).
fn update(
    git: &Repository,
    c: Cached,
    tip: Oid,
    pause: &mut dyn FnMut(),
) -> Result<Option<MainIndex>, git2::Error> {
    let mut new = Vec::new();
    let mut merges = false;
    let mut met: Option<u32> = None;
    let mut oid = tip;
    loop {
        if c.linear {
            if let Some(depth) = lookup(&c.entries, oid) {
                met = Some(depth);
                break;
            }
        } else if oid == c.tip {
            met = Some(c.chain - 1);
            break;
        }
        let commit = git.find_commit(oid)?;
        merges |= commit.parent_count() > 1;
        new.push(oid);
        if new.len().is_multiple_of(PAUSE_EVERY) {
            pause();
        }
        match commit.parent_id(0) {
            Ok(p) => oid = p,
            Err(_) => break,
        }
    }
    let Some(depth) = met else {
        return Ok(None);
    };
    let chain = depth + 1 + new.len() as u32;
    let linear = c.linear && !merges;
    let entries = if linear {
        // Entries above the meeting point are no longer on main.
        let kept = c.entries.chunks_exact(ENTRY).filter_map(|e| {
            let d = entry_depth(e);
            (d <= depth).then(|| (Oid::from_bytes(&e[..20]).expect("20-byte id"), d))
        });
        let added = new
            .iter()
            .enumerate()
            .map(|(i, o)| (*o, chain - 1 - i as u32));
        encode(kept.chain(added))
    } else {
        Vec::new()
    };
    Ok(Some(MainIndex {
        tip,
        linear,
        chain,
        entries,
        source: IndexSource::CacheAndWalk,
        walked: new.len(),
        cache_file: None,
        cache_note: None,
        visited: AtomicUsize::new(0),
    }))
}

/// Entries sorted by commit id.
fn encode(items: impl Iterator<Item = (Oid, u32)>) -> Vec<u8> {
    let mut v: Vec<[u8; ENTRY]> = items
        .map(|(o, d)| {
            let mut e = [0u8; ENTRY];
            e[..20].copy_from_slice(o.as_bytes());
            e[20..].copy_from_slice(&d.to_le_bytes());
            e
        })
        .collect();
    v.sort_unstable_by(|a, b| a[..20].cmp(&b[..20]));
    v.concat()
}

fn entry_depth(e: &[u8]) -> u32 {
    u32::from_le_bytes([e[20], e[21], e[22], e[23]])
}

/// The depth of `oid` on main, by binary search of the sorted entries.
fn lookup(entries: &[u8], oid: Oid) -> Option<u32> {
    let key = oid.as_bytes();
    let (mut lo, mut hi) = (0usize, entries.len() / ENTRY);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let e = &entries[mid * ENTRY..(mid + 1) * ENTRY];
        match e[..20].cmp(key) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(entry_depth(e)),
        }
    }
    None
}

//! The fuzz targets' checks on stable: every seed in `fuzz/seeds/<target>/`
//! and every input a fuzz run crashed on, kept in
//! `tests/fuzz_regressions/<target>/`, goes through the same check function
//! as `cargo +nightly fuzz run <target>` (`fuzz/src/lib.rs`, included here).
use std::fs;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

#[path = "../fuzz/src/lib.rs"]
#[allow(dead_code)]
mod checks;

/// A fuzz target's check: panics on a bad input.
type Check = fn(&[u8]);

const TARGETS: &[(&str, Check)] = &[
    ("config", checks::config),
    ("baseline", checks::baseline),
    ("handoff_manifest", checks::handoff_manifest),
    ("legacy_manifest", checks::legacy_manifest),
    ("audit_line", checks::audit_line),
    ("backup_manifest", checks::backup_manifest),
];

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = match fs::read_dir(dir) {
        Ok(rd) => rd
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.is_file())
            .collect(),
        Err(_) => Vec::new(),
    };
    files.sort();
    files
}

/// Runs every file under `<root>/<target>/` through the target's check and
/// returns how many ran; names every file that failed.
fn run_all(root: &str) -> usize {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(root);
    let mut ran = 0;
    let mut failed = Vec::new();
    for (target, check) in TARGETS {
        for file in inputs(&root.join(target)) {
            let bytes = fs::read(&file).expect("readable input");
            if catch_unwind(AssertUnwindSafe(|| check(&bytes))).is_err() {
                failed.push(file.display().to_string());
            }
            ran += 1;
        }
    }
    assert!(failed.is_empty(), "checks failed on: {failed:#?}");
    ran
}

#[test]
fn every_seed_passes_its_fuzz_check() {
    let ran = run_all("fuzz/seeds");
    assert!(ran >= TARGETS.len(), "only {ran} seeds found");
    for (target, _) in TARGETS {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fuzz/seeds")
            .join(target);
        assert!(!inputs(&dir).is_empty(), "no seed for {target}");
    }
}

#[test]
fn every_kept_crash_passes_its_fuzz_check() {
    run_all("tests/fuzz_regressions");
}

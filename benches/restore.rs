//! Restore benchmark: a ~50 MB bundle (mixed compressible and random files,
//! many small ones), backed up with `write_backup`, then restored with
//! `restore` `BENCH_RESTORE_RUNS` times (default 7) into a fresh directory,
//! against `cp -r` of the same tree the same number of times. Prints the
//! medians and their ratio, plus the time to write and to inspect the
//! backup. Everything is in one temporary directory (same file system, warm
//! page cache for both).
//!
//! Run: `cargo bench --bench restore`. `BENCH_RESTORE_MB` changes the size.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use guardrail::pipeline::backup::{inspect, restore, write_backup, Source};
use guardrail::pipeline::config::Config;
use guardrail::pipeline::repo::Repo;

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Deterministic incompressible bytes.
fn noise(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407)
        | 1;
    let mut v = Vec::with_capacity(n + 8);
    while v.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(n);
    v
}

/// Text that deflates well but not trivially (varying numbers and names).
fn text(n: usize, seed: u64) -> Vec<u8> {
    let words = [
        "const",
        "PS101State",
        "authModal",
        "function",
        "return",
        "document",
        "step",
        "answers",
        "render",
        "class",
        "section",
        "export",
        "import",
        "=>",
        "{",
        "}",
        "let",
        "value",
    ];
    let mut x = seed | 1;
    let mut s = String::with_capacity(n + 128);
    while s.len() < n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let w1 = words[(x % words.len() as u64) as usize];
        let w2 = words[((x >> 8) % words.len() as u64) as usize];
        s.push_str(&format!(
            "  {w1} item{} = {w2}({});\n",
            x % 9973,
            (x >> 20) % 1000
        ));
    }
    s.truncate(n);
    s.into_bytes()
}

/// Writes the bundle under `root/mosaic_ui`; returns its total size.
fn make_bundle(root: &Path, mb: usize) -> u64 {
    let b = root.join("mosaic_ui");
    let mut total = 0u64;
    let mut put = |rel: String, bytes: Vec<u8>| {
        let p = b.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        total += bytes.len() as u64;
        std::fs::write(p, bytes).unwrap();
    };
    let scale = |n: usize| n * mb / 50;
    put("index.html".into(), text(300_000, 1));
    // ~20 MB compressible scripts and styles.
    for i in 0..scale(20) {
        put(
            format!("assets/js/chunk-{i:03}.js"),
            text(1 << 20, 10 + i as u64),
        );
    }
    // ~20 MB images (stored: already compressed).
    for i in 0..scale(10) {
        put(
            format!("assets/img/photo-{i:03}.png"),
            noise(2 << 20, 100 + i as u64),
        );
    }
    // ~8 MB incompressible data with a compressible-looking name (deflated).
    for i in 0..scale(4) {
        put(
            format!("assets/data/blob-{i:03}.bin"),
            noise(2 << 20, 200 + i as u64),
        );
    }
    // ~2 MB of many small files.
    for i in 0..scale(200) {
        let n = 4096 + (i * 577) % 12_288;
        put(
            format!("assets/small/{:02}/f{i:04}.css", i % 16),
            text(n, 300 + i as u64),
        );
    }
    total
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let runs = env_usize("BENCH_RESTORE_RUNS", 7).max(1);
    let mb = env_usize("BENCH_RESTORE_MB", 50).max(1);
    let tmp = tempfile::Builder::new()
        .prefix("guardrail-restore-bench-")
        .tempdir()
        .unwrap();
    let root = tmp.path().join("repo");
    std::fs::create_dir_all(&root).unwrap();
    git2::Repository::init(&root).unwrap();
    let total = make_bundle(&root, mb);
    let repo = Repo::open(&root).unwrap();
    let mut cfg = Config::defaults();
    cfg.project.archive = vec!["mosaic_ui".into()];
    cfg.project.backups_dir = tmp.path().join("backups").display().to_string();

    let t = Instant::now();
    let info = write_backup(&repo, &cfg, "prod-2025-11-14", Source::Dir(root.clone())).unwrap();
    let write_time = t.elapsed();
    let t = Instant::now();
    let check = inspect(&info.path).unwrap();
    let inspect_time = t.elapsed();
    assert!(check.is_ok(), "{check}");

    println!(
        "restore bench: bundle {:.1} MB in {} files, zip {:.1} MB; {runs} runs each",
        total as f64 / 1e6,
        info.files,
        info.bytes as f64 / 1e6
    );
    println!("write_backup (incl. fsync): {}", ms(write_time));
    println!("inspect:                    {}", ms(inspect_time));

    let dest = |kind: &str, i: usize| -> PathBuf { tmp.path().join(format!("{kind}-{i}")) };
    let mut restore_times = Vec::new();
    let mut cp_times = Vec::new();
    // One warm-up of each, not counted.
    for i in 0..=runs {
        let d = dest("restore", i);
        let t = Instant::now();
        let r = restore(&info.path, &d).unwrap();
        let el = t.elapsed();
        assert_eq!(r.files, info.files);
        std::fs::remove_dir_all(&d).unwrap();

        let c = dest("cp", i);
        let t = Instant::now();
        let st = Command::new("cp")
            .arg("-r")
            .arg(root.join("mosaic_ui"))
            .arg(&c)
            .status()
            .unwrap();
        let cl = t.elapsed();
        assert!(st.success());
        std::fs::remove_dir_all(&c).unwrap();
        if i > 0 {
            restore_times.push(el);
            cp_times.push(cl);
        }
    }
    let r = median(restore_times.clone());
    let c = median(cp_times.clone());
    println!(
        "restore: median {} (min {}, max {})",
        ms(r),
        ms(*restore_times.iter().min().unwrap()),
        ms(*restore_times.iter().max().unwrap())
    );
    println!(
        "cp -r:   median {} (min {}, max {})",
        ms(c),
        ms(*cp_times.iter().min().unwrap()),
        ms(*cp_times.iter().max().unwrap())
    );
    println!(
        "ratio restore / cp -r: {:.2}",
        r.as_secs_f64() / c.as_secs_f64()
    );
}

//! The pipeline's shape, read from its source: no pipeline module imports
//! `app` or `views`, no two pipeline modules depend on each other (directly
//! or round a longer loop), and every file of a module folder opens with a
//! doc comment saying its job.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn pipeline_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/pipeline")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The source without comments and without its `#[cfg(test)]` module (test
/// code may reach anywhere).
fn production_code(src: &str) -> String {
    let src = match src.find("#[cfg(test)]\nmod tests") {
        Some(i) => &src[..i],
        None => src,
    };
    src.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// The module path of a file under `src/pipeline` (`["drill", "server"]`
/// for `drill/server.rs`, `["drill"]` for `drill/mod.rs` or `drill.rs`).
fn module_path(rel: &Path) -> Vec<String> {
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

/// The pipeline modules (first path segment) that `code` in the module at
/// `path` names through `super::…` or `crate::pipeline::…`.
fn referenced(code: &str, path: &[String]) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let bytes = code.as_bytes();
    let ident = |s: &str| -> String {
        s.chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let mut i = 0;
    while i < code.len() {
        let rest = &code[i..];
        let boundary = i == 0 || !(bytes[i - 1].is_ascii_alphanumeric() || bytes[i - 1] == b'_');
        if boundary && (rest.starts_with("super::") || rest.starts_with("crate::pipeline::")) {
            // Resolve to a path from the pipeline root.
            let (base, tail) = if let Some(t) = rest.strip_prefix("crate::pipeline::") {
                (Vec::new(), t)
            } else {
                let mut base = path.to_vec();
                let mut t = rest;
                while let Some(r) = t.strip_prefix("super::") {
                    base.pop();
                    t = r;
                }
                (base, t)
            };
            if let Some(top) = base.first() {
                // Inside a module folder: the folder's own module.
                out.insert(top.clone());
            } else if let Some(group) = tail.strip_prefix('{') {
                let end = group.find('}').unwrap_or(group.len());
                out.extend(group[..end].split(',').map(|n| ident(n.trim())));
            } else {
                out.insert(ident(tail));
            }
        }
        i += rest.chars().next().map_or(1, char::len_utf8);
    }
    out
}

#[test]
fn pipeline_modules_form_no_cycle_and_never_reach_the_screen() {
    let root = pipeline_dir();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    let tops: BTreeSet<String> = files
        .iter()
        .filter_map(|f| module_path(f.strip_prefix(&root).unwrap()).first().cloned())
        .collect();
    let mut deps: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in &files {
        let rel = f.strip_prefix(&root).unwrap();
        let path = module_path(rel);
        let code = production_code(&std::fs::read_to_string(f).unwrap());
        for bad in ["crate::app", "crate::views"] {
            assert!(!code.contains(bad), "{} uses {bad}", rel.display());
        }
        let Some(me) = path.first().cloned() else {
            continue; // mod.rs of the pipeline itself
        };
        let entry = deps.entry(me.clone()).or_default();
        for d in referenced(&code, &path) {
            if d != me && tops.contains(&d) {
                entry.insert(d);
            }
        }
    }
    assert!(deps.len() > 20, "{deps:?}");
    assert!(
        deps["playbook"].contains("deploy"),
        "the reader sees imports"
    );
    // Depth-first search for a back edge; report the loop found.
    fn visit(
        n: &str,
        deps: &BTreeMap<String, BTreeSet<String>>,
        stack: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(i) = stack.iter().position(|s| s == n) {
            let mut cycle = stack[i..].to_vec();
            cycle.push(n.to_string());
            panic!(
                "pipeline modules depend on each other: {}",
                cycle.join(" -> ")
            );
        }
        stack.push(n.to_string());
        for d in deps.get(n).into_iter().flatten() {
            visit(d, deps, stack, done);
        }
        stack.pop();
        done.insert(n.to_string());
    }
    let mut done = BTreeSet::new();
    for n in deps.keys() {
        visit(n, &deps, &mut Vec::new(), &mut done);
    }
}

#[test]
fn every_file_of_a_module_folder_says_its_job() {
    let root = pipeline_dir();
    let mut files = Vec::new();
    rust_files(&root, &mut files);
    for f in files {
        let rel = f.strip_prefix(&root).unwrap();
        if rel.components().count() < 2 {
            continue;
        }
        let src = std::fs::read_to_string(&f).unwrap();
        assert!(
            src.starts_with("//! "),
            "{} does not open with a doc comment saying its job",
            rel.display()
        );
    }
}

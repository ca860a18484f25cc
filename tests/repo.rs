//! The repository model on real repositories, and `guardrail status`.
use crate::common;
use common::*;

use guardrail::pipeline::config::Config;
use guardrail::pipeline::repo::{next_free_tag, parse_prod_tag, HeadState, Repo};

fn open(f: &Fixture) -> (Repo, Config) {
    let repo = Repo::open(f.path()).unwrap();
    let cfg = repo.config().unwrap();
    (repo, cfg)
}

#[test]
fn branches_merge_local_and_remote_tracking_by_name() {
    let f = mosaic_repo();
    let (repo, cfg) = open(&f);
    let b = repo.branches(&cfg.project.main_branch).unwrap();
    let names: Vec<_> = b.iter().map(|b| b.name.as_str()).collect();
    assert_eq!(
        names,
        [mosaic::AUTH_MODAL, mosaic::PS101, mosaic::REMOTE_ONLY]
    );

    let auth = &b[0];
    assert_eq!(auth.sources, ["local", "origin"]);
    // The local head is newer than origin's: it wins.
    assert_eq!(auth.head, f.rev_parse(mosaic::AUTH_MODAL));
    assert_ne!(
        auth.head,
        f.rev_parse("refs/remotes/origin/feature/auth-modal")
    );
    assert_eq!(auth.subject, "Auth modal: remember me");
    assert_eq!(auth.author, AUTHOR_NAME);
    assert_eq!((auth.ahead, auth.behind), (Some(1), Some(0)));

    let ps = &b[1];
    assert_eq!((ps.ahead, ps.behind), (Some(2), Some(0)));
    assert_eq!(ps.time, f.commit_time(mosaic::PS101));

    let remote = &b[2];
    assert_eq!(remote.sources, ["origin"]);
    assert_eq!(
        remote.head,
        f.rev_parse("refs/remotes/origin/feature/remote-only")
    );
}

#[test]
fn a_newer_remote_head_wins_over_an_older_local_one() {
    let f = mosaic_repo();
    // Move origin/feature/ps101 to a newer commit than the local branch.
    f.checkout(mosaic::PS101);
    f.checkout_new("tmp");
    f.write("x.txt", "newer\n");
    let newer = f.commit("newer work pushed from elsewhere");
    f.checkout("main");
    f.remote_tracking("origin", mosaic::PS101, &newer);
    let (repo, cfg) = open(&f);
    let b = repo.find_branch(&cfg, mosaic::PS101).unwrap();
    assert_eq!(b.head, newer);
    assert_eq!(b.ahead, Some(3));
}

#[test]
fn main_and_remote_head_refs_are_not_feature_branches() {
    let f = mosaic_repo();
    let main = f.rev_parse("main");
    f.remote_tracking("origin", "main", &main);
    f.git(&[
        "symbolic-ref",
        "refs/remotes/origin/HEAD",
        "refs/remotes/origin/main",
    ]);
    let (repo, cfg) = open(&f);
    let names: Vec<_> = repo
        .branch_refs(&cfg.project.main_branch)
        .unwrap()
        .into_iter()
        .map(|b| b.name)
        .collect();
    assert!(
        !names.iter().any(|n| n == "main" || n == "HEAD"),
        "{names:?}"
    );
}

#[test]
fn prod_tags_are_ordered_by_date_then_suffix_with_backup_presence() {
    let f = mosaic_repo();
    // A later-created tag for an earlier day still sorts by its date.
    f.tag_lightweight("prod-2025-11-01", "main");
    f.tag_lightweight("prod-2025-11-13.10", "main");
    f.tag_lightweight("prod-2025-11-13.1", "main"); // not a prod tag
    f.tag_lightweight("prod-latest", "main"); // not a prod tag
    let (repo, cfg) = open(&f);
    let tags = repo.prod_tags(&cfg).unwrap();
    let names: Vec<_> = tags.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "prod-2025-11-01",
            "prod-2025-11-12",
            "prod-2025-11-13",
            "prod-2025-11-13.2",
            "prod-2025-11-13.10"
        ]
    );
    let by = |n: &str| tags.iter().find(|t| t.name == n).unwrap();
    assert!(!by(mosaic::TAG_LIGHTWEIGHT).annotated);
    assert!(by(mosaic::TAG_ANNOTATED).annotated);
    assert_eq!(
        by(mosaic::TAG_ANNOTATED).commit,
        f.commit_of(mosaic::TAG_ANNOTATED)
    );
    assert!(by(mosaic::TAG_ANNOTATED).backup);
    assert!(!by(mosaic::GOLDEN).backup);
    assert!(by(mosaic::GOLDEN)
        .message
        .as_deref()
        .unwrap()
        .contains("BUILD_ID"));
}

#[test]
fn backups_dir_may_be_absolute() {
    let f = mosaic_repo();
    let elsewhere = tempfile::tempdir().unwrap();
    std::fs::write(elsewhere.path().join("prod-2025-11-12.zip"), b"PK").unwrap();
    f.write_config(&format!(
        "{}[project]\nbackups_dir = \"{}\"\n",
        mosaic::CONFIG,
        elsewhere.path().display()
    ));
    let (repo, cfg) = open(&f);
    let tags = repo.prod_tags(&cfg).unwrap();
    assert!(tags[0].backup);
    assert!(!tags[1].backup);
}

#[test]
fn release_managers_come_from_main_only() {
    let f = mosaic_repo();
    // A feature branch and a working-tree edit both try to grant rights.
    f.checkout(mosaic::PS101);
    f.write_config("[authority]\nrelease_managers = [\"mallory\"]\n");
    f.commit("grant myself deploy rights");
    f.checkout("main");
    f.write_config("[authority]\nrelease_managers = [\"eve\"]\n");
    let (repo, cfg) = open(&f);
    assert_eq!(cfg.authority.release_managers, ["tester"]);
    // Once committed on main, it counts.
    f.commit("add eve");
    let (_, cfg) = open(&f);
    assert_eq!(cfg.authority.release_managers, ["eve"]);
    drop(repo);
}

#[test]
fn the_user_is_the_login_name_or_sudo_user() {
    let f = mosaic_repo();
    let out = f.guardrail(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["user"]["name"], "tester");
    assert_eq!(j["user"]["release_manager"], true);

    let out = f
        .guardrail_cmd(&["status", "--json"])
        .env("USER", "root")
        .env("SUDO_USER", "alice")
        .output()
        .unwrap();
    let j = json(&out);
    assert_eq!(j["user"]["name"], "alice");
    assert_eq!(j["user"]["release_manager"], false);
}

#[test]
fn status_json_lists_branches_tags_and_golden() {
    let f = mosaic_repo();
    let out = f.guardrail(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["golden"], mosaic::GOLDEN);
    assert_eq!(j["main_branch"], "main");
    assert_eq!(j["main_head"], f.rev_parse("main"));
    assert_eq!(j["branches"].as_array().unwrap().len(), 3);
    assert_eq!(j["branches"][0]["name"], mosaic::AUTH_MODAL);
    assert_eq!(j["branches"][0]["ahead"], 1);
    assert_eq!(j["prod_tags"].as_array().unwrap().len(), 3);
    assert_eq!(j["prod_tags"][1]["backup"], true);
    assert_eq!(j["prod_tags"][1]["annotated"], true);
    assert!(j["live"].is_null());
    assert_eq!(j["head"]["kind"], "branch");
    assert_eq!(j["drift"]["drift"], false, "{}", j["drift"]);
    // A commit to a watched file on main is drift.
    f.append(mosaic::FRONTEND, "<p>changed outside a release</p>\n");
    f.commit("a change outside a release");
    let j = json(&f.guardrail(&["status", "--json"]));
    assert_eq!(j["drift"]["drift"], true);
    assert_eq!(j["drift"]["files"][0], mosaic::FRONTEND);
}

#[test]
fn status_text_names_branches_and_tags() {
    let f = mosaic_repo();
    let out = f.guardrail(&["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let s = stdout(&out);
    for needle in [
        mosaic::AUTH_MODAL,
        mosaic::REMOTE_ONLY,
        mosaic::GOLDEN,
        "backup ✓",
        "tester (release manager)",
    ] {
        assert!(s.contains(needle), "missing {needle} in:\n{s}");
    }
}

#[test]
fn not_a_repository_is_a_clear_error_with_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let out = guardrail_command(dir.path(), "tester", dir.path())
        .args(["status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert_eq!(e.lines().count(), 1, "{e}");
    assert!(e.contains("is not inside a git repository"), "{e}");
}

#[test]
fn bad_config_is_exit_2_naming_file_line_and_key() {
    let f = mosaic_repo();
    f.write_config("[authority]\nrelease_managers = [\"tester\"]\n[live]\npoll = \"soon\"\n");
    let out = f.guardrail(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    let e = stderr(&out);
    assert!(e.contains("guardrail.toml line 4, key `live.poll`"), "{e}");
    assert_eq!(e.lines().count(), 1, "{e}");
}

#[test]
fn an_empty_repository_is_a_sensible_status() {
    let f = Fixture::new();
    let out = f.guardrail(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert_eq!(j["head"]["kind"], "unborn");
    assert!(j["golden"].is_null());
    assert_eq!(j["branches"].as_array().unwrap().len(), 0);
    assert!(j["warnings"][0].as_str().unwrap().contains("no commits"));
}

#[test]
fn detached_head_and_missing_main_are_shown_not_fatal() {
    let f = mosaic_repo();
    f.checkout(&f.rev_parse("main~1"));
    let (repo, _) = open(&f);
    assert!(matches!(repo.head_state(), HeadState::Detached { .. }));
    let out = f.guardrail(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));

    // The main branch is named by the file committed on the default branch.
    f.checkout("main");
    f.write_config(
        "[authority]\nrelease_managers = [\"tester\"]\n[project]\nmain_branch = \"trunk\"\n",
    );
    f.commit("trunk-based from now on");
    let out = f.guardrail(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    assert!(j["main_head"].is_null());
    assert!(j["branches"][0]["ahead"].is_null());
    assert!(
        j["warnings"][0]
            .as_str()
            .unwrap()
            .contains("`trunk` does not exist"),
        "{j}"
    );
    // main itself is now listed as a feature branch of the trunk-based project.
    assert!(j["branches"]
        .as_array()
        .unwrap()
        .iter()
        .any(|b| b["name"] == "main"));
}

#[test]
fn prod_tag_names() {
    let d = |s| chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    assert_eq!(
        parse_prod_tag("prod-", "prod-2025-11-14"),
        Some((d("2025-11-14"), 1))
    );
    assert_eq!(
        parse_prod_tag("prod-", "prod-2025-11-14.3"),
        Some((d("2025-11-14"), 3))
    );
    for bad in [
        "prod-2025-11-14.1",
        "prod-2025-11-14.0",
        "prod-2025-11-14.02",
        "prod-2025-02-30",
        "prod-25-11-14",
        "prod-2025-11-14.",
        "release-2025-11-14",
        "prod-2025-11-14.x",
    ] {
        assert_eq!(parse_prod_tag("prod-", bad), None, "{bad}");
    }
    let existing = vec![
        "prod-2025-11-14".to_string(),
        "prod-2025-11-14.2".to_string(),
    ];
    assert_eq!(
        next_free_tag("prod-", d("2025-11-14"), &existing),
        "prod-2025-11-14.3"
    );
    assert_eq!(
        next_free_tag("prod-", d("2025-11-15"), &existing),
        "prod-2025-11-15"
    );
}

/// Ahead/behind agrees with `git rev-list --left-right --count` on a linear
/// main (the fast path) and after a merge commit lands on main (libgit2).
#[test]
fn ahead_behind_matches_git_on_linear_and_merged_main() {
    let f = mosaic_repo();
    let check = |f: &Fixture| {
        let (repo, cfg) = open(f);
        for b in repo.branches(&cfg.project.main_branch).unwrap() {
            let counts = f.git(&[
                "rev-list",
                "--left-right",
                "--count",
                &format!("{}...main", b.head),
            ]);
            let mut it = counts
                .split_whitespace()
                .map(|n| n.parse::<usize>().unwrap());
            let (ahead, behind) = (it.next().unwrap(), it.next().unwrap());
            assert_eq!(
                (b.ahead, b.behind),
                (Some(ahead), Some(behind)),
                "{}",
                b.name
            );
        }
    };
    // Main moves on by two commits: every branch falls behind.
    f.write("frontend/news.txt", "one\n");
    f.commit("news 1");
    f.write("frontend/news.txt", "two\n");
    f.commit("news 2");
    check(&f);
    // A branch that merged main in part-way.
    f.checkout(mosaic::PS101);
    f.git(&["merge", "-q", "--no-edit", "main~1"]);
    f.checkout("main");
    check(&f);
    // A merge commit on main: the general path.
    f.git(&["merge", "-q", "--no-ff", "--no-edit", mosaic::AUTH_MODAL]);
    check(&f);
}

#[test]
fn one_branch_looked_up_by_name_is_the_same_as_in_the_full_listing() {
    let f = mosaic_repo();
    let main = f.rev_parse("main");
    let ps = f.rev_parse(mosaic::PS101);
    // `*` in a glob could span a slash: `team/x` on origin is not `x`.
    f.remote_tracking("origin", "team/x", &main);
    f.remote_tracking("upstream", "x", &ps);
    f.remote_tracking("upstream", mosaic::AUTH_MODAL, &main);
    f.git(&["branch", "x", &main]);
    let (repo, cfg) = open(&f);
    let all = repo.branch_refs(&cfg.project.main_branch).unwrap();
    assert!(all.len() >= 5, "{all:?}");
    for b in &all {
        let one = repo
            .branch_ref(&cfg.project.main_branch, &b.name)
            .unwrap()
            .unwrap_or_else(|| panic!("{} not found by name", b.name));
        assert_eq!(one.head, b.head, "{}", b.name);
        assert_eq!(one.sources, b.sources, "{}", b.name);
        assert_eq!(one.heads, b.heads, "{}", b.name);
    }
    let x = repo.branch_ref("main", "x").unwrap().unwrap();
    assert_eq!(x.sources, ["local", "upstream"]);
    for missing in ["main", "HEAD", "nope", "feature/*", ""] {
        assert!(
            repo.branch_ref("main", missing).unwrap().is_none(),
            "{missing}"
        );
    }
}

#[test]
fn the_next_free_tag_of_a_day_reads_that_days_tags_only() {
    let f = mosaic_repo();
    let main = f.rev_parse("main");
    let (repo, cfg) = open(&f);
    let prefix = cfg.project.tag_prefix.clone();
    let day = chrono::NaiveDate::from_ymd_opt(2030, 1, 2).unwrap();
    assert_eq!(
        repo.next_free_tag(&prefix, day).unwrap(),
        format!("{prefix}2030-01-02")
    );
    for t in ["2030-01-02", "2030-01-02.3", "2030-01-03.9", "2030-01-01.7"] {
        f.git(&["tag", &format!("{prefix}{t}"), &main]);
    }
    f.git(&[
        "tag",
        "-a",
        "-m",
        "annotated",
        &format!("{prefix}2030-01-02.2"),
        &main,
    ]);
    f.git(&["tag", &format!("{prefix}2030-01-02.x"), &main]);
    let (repo, _) = open(&f);
    let next = repo.next_free_tag(&prefix, day).unwrap();
    assert_eq!(next, format!("{prefix}2030-01-02.4"));
    // The same answer as from every tag name.
    assert_eq!(
        next,
        next_free_tag(&prefix, day, &repo.tag_names().unwrap())
    );
}

/// A repository whose `main` is `n` commits long (one `git fast-import`
/// stream), with branches forked near the root, in the middle and near the
/// tip, and one that merged main in part-way.
fn long_main_repo(n: usize) -> Fixture {
    use std::fmt::Write;
    let f = Fixture::new();
    let mut s = String::new();
    let commit = |s: &mut String,
                  r: &str,
                  mark: usize,
                  msg: &str,
                  from: usize,
                  merge: Option<usize>| {
        let t = 1_600_000_000 + mark * 60;
        let _ = write!(
            s,
            "commit {r}\nmark :{mark}\ncommitter Dev <dev@example.com> {t} +0000\ndata <<EOT\n{msg}\nEOT\n"
        );
        if from > 0 {
            let _ = writeln!(s, "from :{from}");
        }
        if let Some(m) = merge {
            let _ = writeln!(s, "merge :{m}");
        }
        let _ = write!(s, "M 100644 inline {r}.txt\ndata <<EOT\n{msg}\nEOT\n\n");
    };
    for i in 1..=n {
        commit(
            &mut s,
            "refs/heads/main",
            i,
            &format!("main {i}"),
            i - 1,
            None,
        );
    }
    let mut mark = n;
    // (fork point: the main commit's mark, own commits)
    for (b, (at, own)) in [(1, 2), (10, 1), (n / 2, 3), (n - 10, 1), (n, 2)]
        .into_iter()
        .enumerate()
    {
        for k in 0..own {
            mark += 1;
            let from = if k == 0 { at } else { mark - 1 };
            let r = format!("refs/heads/feature/b{b}");
            commit(&mut s, &r, mark, &format!("b{b} {k}"), from, None);
        }
    }
    let r = "refs/heads/feature/merged";
    commit(&mut s, r, mark + 1, "merged 0", n / 4, None);
    commit(&mut s, r, mark + 2, "merged 1", mark + 1, Some(n / 3));
    f.git_stdin(&["fast-import", "--quiet"], s.as_bytes());
    f.git(&["reset", "-q", "--hard", "main"]);
    f
}

/// `status --json` with every branch's ahead/behind checked against
/// `git rev-list --left-right --count`; returns its `ahead_behind` report.
fn status_checked_against_git(f: &Fixture) -> serde_json::Value {
    let out = f.guardrail(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let j = json(&out);
    let branches = j["branches"].as_array().unwrap();
    assert_eq!(branches.len(), 6, "{branches:?}");
    for b in branches {
        let range = format!("{}...main", b["head"].as_str().unwrap());
        let counts = f.git(&["rev-list", "--left-right", "--count", &range]);
        let v: Vec<u64> = counts
            .split_whitespace()
            .map(|n| n.parse().unwrap())
            .collect();
        assert_eq!(
            (b["ahead"].as_u64(), b["behind"].as_u64()),
            (Some(v[0]), Some(v[1])),
            "{}",
            b["name"]
        );
    }
    j["ahead_behind"].clone()
}

/// Ahead/behind does not walk main's whole history on every call: main's
/// index is cached in the state directory; a later call walks only main's
/// new commits and, per branch, the branch's own commits down to main.
/// Counted, not timed: `main_commits_walked` and `branch_commits_walked`.
#[test]
fn status_walks_main_once_then_only_its_new_commits() {
    const N: usize = 3_000;
    let f = long_main_repo(N);
    let state = f.path().join(".git/guardrail");
    let cache = state.join("cache/main-index-v1");
    // No state directory: main is walked, and status does not create one.
    let ab = status_checked_against_git(&f);
    assert_eq!(ab["main_index"], "walk", "{ab}");
    assert_eq!(ab["main_commits"], N, "{ab}");
    assert!(
        ab["main_commits_walked"].as_u64().unwrap() >= N as u64,
        "{ab}"
    );
    assert!(ab["cache_file"].is_null(), "{ab}");
    assert!(
        ab["cache_note"]
            .as_str()
            .unwrap()
            .contains("does not exist"),
        "{ab}"
    );
    assert!(!state.exists());

    // With a state directory the index is written once…
    std::fs::create_dir_all(&state).unwrap();
    let ab = status_checked_against_git(&f);
    assert_eq!(ab["main_index"], "walk", "{ab}");
    assert_eq!(ab["cache_file"], cache.display().to_string(), "{ab}");
    assert!(cache.is_file());
    // …and then read: no commit of main walked, and per branch only its own
    // commits and where they meet main (11 own commits, 6 branches).
    let ab = status_checked_against_git(&f);
    assert_eq!(ab["main_index"], "cache", "{ab}");
    assert_eq!(ab["main_commits_walked"], 0, "{ab}");
    assert_eq!(ab["merges_on_main"], false, "{ab}");
    let per_branch = ab["branch_commits_walked"].as_u64().unwrap();
    assert!(per_branch > 0 && per_branch <= 11 + 2 * 6, "{ab}");

    // Main moves on by two commits: those two are walked, nothing else.
    f.write("news.txt", "one\n");
    f.commit("news 1");
    f.write("news.txt", "two\n");
    f.commit("news 2");
    let ab = status_checked_against_git(&f);
    assert_eq!(ab["main_index"], "cache+walk", "{ab}");
    assert_eq!(ab["main_commits_walked"], 2, "{ab}");
    assert_eq!(ab["main_commits"], N + 2, "{ab}");
    assert_eq!(status_checked_against_git(&f)["main_index"], "cache");

    // Main rewound by three: the index drops them without a walk.
    f.git(&["reset", "-q", "--hard", "main~3"]);
    let ab = status_checked_against_git(&f);
    assert_eq!(ab["main_index"], "cache+walk", "{ab}");
    assert_eq!(ab["main_commits_walked"], 0, "{ab}");
    assert_eq!(ab["main_commits"], N - 1, "{ab}");

    // A damaged cache is not trusted: main is walked again.
    let mut bytes = std::fs::read(&cache).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0xff;
    std::fs::write(&cache, bytes).unwrap();
    let ab = status_checked_against_git(&f);
    assert_eq!(ab["main_index"], "walk", "{ab}");
    assert_eq!(status_checked_against_git(&f)["main_index"], "cache");

    // A merge commit on main: libgit2 counts each branch; the cache says so.
    f.git(&["merge", "-q", "--no-ff", "--no-edit", "feature/b3"]);
    let ab = status_checked_against_git(&f);
    assert_eq!(ab["main_index"], "cache+walk", "{ab}");
    assert_eq!(ab["main_commits_walked"], 1, "{ab}");
    assert_eq!(ab["merges_on_main"], true, "{ab}");
    let ab = status_checked_against_git(&f);
    assert_eq!(ab["main_index"], "cache", "{ab}");
    assert_eq!(ab["merges_on_main"], true, "{ab}");
}

/// The ref files read directly give what libgit2 gives: loose and packed
/// refs, a loose ref shadowing a packed one, remote-tracking refs, a
/// remote's symbolic `HEAD`, a symbolic branch, a stale lock file. A ref
/// file that is not plain is left to libgit2.
#[test]
fn branch_refs_read_from_the_files_are_libgit2s() {
    use guardrail::pipeline::repo::read_branch_refs;
    let f = mosaic_repo();
    let main = f.rev_parse("main");
    let ps = f.rev_parse(mosaic::PS101);
    f.remote_tracking("origin", "team/x", &main);
    f.remote_tracking("upstream", mosaic::AUTH_MODAL, &main);
    f.git(&["branch", "shadowed", &ps]);
    f.git(&["pack-refs", "--all"]);
    f.git(&["branch", "-f", "shadowed", &main]);
    f.git(&["branch", "loose/new", &ps]);
    f.remote_tracking("origin", mosaic::AUTH_MODAL, &ps);
    f.git(&["symbolic-ref", "refs/heads/sym", "refs/heads/main"]);
    f.git(&[
        "symbolic-ref",
        "refs/remotes/origin/HEAD",
        "refs/remotes/origin/team/x",
    ]);
    f.write(".git/refs/heads/stale.lock", format!("{ps}\n"));
    let (repo, _) = open(&f);
    assert!(read_branch_refs(&f.path().join(".git")).is_some());
    let direct = repo.branch_refs("main").unwrap();
    assert_eq!(direct, repo.branch_refs_libgit2("main").unwrap());
    let shadowed = direct.iter().find(|b| b.name == "shadowed").unwrap();
    assert_eq!(shadowed.head, main);
    let auth = direct
        .iter()
        .find(|b| b.name == mosaic::AUTH_MODAL)
        .unwrap();
    assert_eq!(auth.sources, ["local", "origin", "upstream"]);
    assert!(direct.iter().any(|b| b.name == "loose/new"));
    assert!(!direct.iter().any(|b| b.name == "sym" || b.name == "HEAD"));

    f.write(".git/refs/heads/odd", "not an object id\n");
    assert!(read_branch_refs(&f.path().join(".git")).is_none());
    let (repo, _) = open(&f);
    assert_eq!(
        repo.branch_refs("main").map_err(|e| e.to_string()),
        repo.branch_refs_libgit2("main").map_err(|e| e.to_string())
    );
}

/// Runs `f` on a thread and fails the test if it has not returned within
/// ten seconds (a read that waits on a FIFO would hang the test otherwise).
fn within_10s<T: Send + 'static>(what: &str, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(std::time::Duration::from_secs(10))
        .unwrap_or_else(|_| panic!("{what} did not return within 10 s"))
}

/// The console's first read lists branches by name, from the directories
/// and `packed-refs`, without opening a loose ref file: the same branches,
/// sources and order as `branch_refs`, heads left to `branch_details`
/// (filled at once only where every ref of a branch is packed). A ref file
/// no read can finish (a FIFO) is listed, and reading its head gives up at
/// once instead of waiting for a writer.
#[test]
fn branch_names_are_listed_without_reading_a_ref_file() {
    let f = mosaic_repo();
    let main = f.rev_parse("main");
    let ps = f.rev_parse(mosaic::PS101);
    f.git(&["branch", "shadowed", &ps]);
    f.git(&["pack-refs", "--all"]);
    f.git(&["branch", "-f", "shadowed", &main]);
    f.git(&["branch", "loose/new", &ps]);
    f.remote_tracking("upstream", mosaic::AUTH_MODAL, &main);
    f.git(&[
        "symbolic-ref",
        "refs/remotes/origin/HEAD",
        "refs/remotes/origin/feature/auth-modal",
    ]);
    f.write(".git/refs/heads/stale.lock", format!("{ps}\n"));
    let (repo, cfg) = open(&f);
    let full = repo.branch_refs("main").unwrap();
    let m = repo.main_index("main").unwrap();
    let details: Vec<_> = full
        .iter()
        .map(|b| repo.branch_details(b, m.as_ref()).unwrap())
        .collect();

    let names = repo.branch_names("main").unwrap();
    let strip = |v: &[guardrail::pipeline::repo::BranchRef]| -> Vec<(String, Vec<String>)> {
        v.iter()
            .map(|b| (b.name.clone(), b.sources.clone()))
            .collect()
    };
    assert_eq!(strip(&names), strip(&full));
    // Packed only (the fixture's refs were all packed): heads at no cost.
    // A loose ref among a branch's refs: not read.
    for b in &names {
        let packed = [mosaic::PS101, mosaic::REMOTE_ONLY].contains(&b.name.as_str());
        if packed {
            let whole = full.iter().find(|x| x.name == b.name).unwrap();
            assert_eq!(b, whole, "a packed branch's heads cost nothing");
        } else {
            assert!(b.head.is_empty() && b.heads.is_empty(), "{b:?} was read");
        }
    }
    assert!(names.iter().any(|b| b.name == "loose/new"));
    assert!(names.iter().any(|b| b.name == "shadowed"));
    // Its details are those of the branch read whole.
    let from_names: Vec<_> = names
        .iter()
        .map(|b| repo.branch_details(b, m.as_ref()).unwrap())
        .collect();
    assert_eq!(from_names, details);
    let auth = from_names
        .iter()
        .find(|b| b.name == mosaic::AUTH_MODAL)
        .unwrap();
    // Loose refs before packed ones, as `branch_refs` lists them.
    assert_eq!(auth.sources, ["local", "upstream", "origin"]);
    assert_eq!(auth.head, f.rev_parse(mosaic::AUTH_MODAL));
    drop((repo, cfg));

    // A FIFO as a loose ref: listed by name, its head never read.
    let fifo = f.path().join(".git/refs/heads/feature/blocked");
    std::fs::create_dir_all(fifo.parent().unwrap()).unwrap();
    let ok = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(ok.success());
    let root = f.path().to_path_buf();
    let (names, heads, detail) = within_10s("listing and reading a FIFO ref", move || {
        let repo = Repo::open(&root).unwrap();
        let names = repo.branch_names("main").unwrap();
        let blocked = names
            .iter()
            .find(|b| b.name == "feature/blocked")
            .cloned()
            .expect("the FIFO's name is listed");
        let heads = repo.read_heads(&blocked).unwrap();
        let detail = repo
            .branch_details(&blocked, None)
            .map_err(|e| e.to_string());
        (names, heads, detail)
    });
    assert_eq!(names.len(), full.len() + 1);
    assert!(heads.is_empty(), "{heads:?}");
    assert_eq!(detail, Err("unknown branch `feature/blocked`".to_string()));
}

/// Junk under `refs/tags` named like the newest prod tag — an empty file a
/// crash left, a FIFO — is skipped as git skips a broken ref: `status` and
/// `check` say what they said without it, and nothing blocks.
#[test]
fn a_broken_newest_tag_ref_is_skipped_and_a_fifo_blocks_nothing() {
    let f = mosaic_repo();
    let clean_status = f.guardrail_in_time(&["status", "--json"]);
    let clean_check = f.guardrail_in_time(&["check", mosaic::AUTH_MODAL]);
    let tags = f.path().join(".git/refs/tags");
    std::fs::write(tags.join("prod-2099-01-01"), b"").unwrap();
    let fifo = std::ffi::CString::new(
        tags.join("prod-2099-02-01")
            .to_str()
            .unwrap()
            .as_bytes()
            .to_vec(),
    )
    .unwrap();
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let status = f.guardrail_in_time(&["status", "--json"]);
    assert_eq!(status.status.code(), Some(0), "{}", stderr(&status));
    assert_eq!(stdout(&status), stdout(&clean_status));
    let check = f.guardrail_in_time(&["check", mosaic::AUTH_MODAL]);
    assert_eq!(check.status.code(), clean_check.status.code());
    assert_eq!(stdout(&check), stdout(&clean_check));
}

/// A FIFO named like a legacy manifest in the working tree is refused as
/// not a plain file, never waited on.
#[test]
fn a_fifo_legacy_manifest_is_refused_not_waited_on() {
    let f = mosaic_repo();
    let dir = f.path().join(".ai-agents");
    std::fs::create_dir_all(&dir).unwrap();
    let path = std::ffi::CString::new(
        dir.join("handoff_20990101_000000.json")
            .to_str()
            .unwrap()
            .as_bytes()
            .to_vec(),
    )
    .unwrap();
    assert_eq!(unsafe { libc::mkfifo(path.as_ptr(), 0o644) }, 0);
    let out = f.guardrail_in_time(&["status", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let all = format!("{}{}", stdout(&out), stderr(&out));
    assert!(all.contains("not a plain file"), "{all}");
}

//! The baseline parser, metric checks on real git trees and working
//! directories, the watched-file diff and the snapshot document.
use crate::common;

use std::collections::BTreeMap;

use common::{files, lines, TestRepo};
use guardrail::pipeline::baseline::{
    check_dir, check_tree, default_file_for, diff_watched, line_count, parse, parse_bytes,
    quote_value, render_snapshot_md, Baseline, BaselineError, DiffStatus, PATCH_LINE_CAP,
};
use proptest::prelude::*;

const SRC: &str = "deployment/deploy_baseline.env";

fn vars(b: &Baseline) -> Vec<(&str, &str, usize)> {
    b.vars
        .iter()
        .map(|(k, v, l)| (k.as_str(), v.as_str(), *l))
        .collect()
}

fn err(text: &str) -> String {
    parse(text, SRC).expect_err("should not parse").to_string()
}

#[test]
fn parses_comments_export_quotes_and_trailing_comments() {
    let text = "\
# Baseline written by create_baseline_snapshot.sh
   # indented comment

MOSAIC_UI_LINE_COUNT=4241
export MOSAIC_UI_LINE_TOLERANCE=5 # allowed drift
FRONTEND_LINE_COUNT=\"1200\"
NOTE='a # not a comment'
MIXED=ab\"c d\"'e f'
HASH_IN_WORD=abc#def
EMPTY=
EMPTY_QUOTED=\"\"
ESCAPES=\"say \\\"hi\\\" \\$5 \\n\"
BACKSLASH=a\\ b
\texport\tTABBED=1\t# tab comment
export ONLY_MARKED
";
    let b = parse(text, SRC).unwrap();
    assert_eq!(
        vars(&b),
        vec![
            ("MOSAIC_UI_LINE_COUNT", "4241", 4),
            ("MOSAIC_UI_LINE_TOLERANCE", "5", 5),
            ("FRONTEND_LINE_COUNT", "1200", 6),
            ("NOTE", "a # not a comment", 7),
            ("MIXED", "abc de f", 8),
            ("HASH_IN_WORD", "abc#def", 9),
            ("EMPTY", "", 10),
            ("EMPTY_QUOTED", "", 11),
            ("ESCAPES", "say \"hi\" $5 \\n", 12),
            ("BACKSLASH", "a b", 13),
            ("TABBED", "1", 14),
        ]
    );
    assert_eq!(b.get("NOTE"), Some("a # not a comment"));
    assert_eq!(b.get("ONLY_MARKED"), None);
}

#[test]
fn bom_and_crlf() {
    let text =
        "\u{feff}# c\r\nA_LINE_COUNT=10\r\nexport A_LINE_TOLERANCE='2' # x\r\n\r\nB=\"q\"\r\n";
    let b = parse(text, SRC).unwrap();
    assert_eq!(
        vars(&b),
        vec![
            ("A_LINE_COUNT", "10", 2),
            ("A_LINE_TOLERANCE", "2", 3),
            ("B", "q", 5)
        ]
    );
    // No trailing newline at all is fine too.
    assert_eq!(vars(&parse("X=1", SRC).unwrap()), vec![("X", "1", 1)]);
}

#[test]
fn multi_line_quoted_value_keeps_line_numbers() {
    let b = parse("A='one\ntwo'\nB=2\n", SRC).unwrap();
    assert_eq!(vars(&b), vec![("A", "one\ntwo", 1), ("B", "2", 3)]);
}

#[test]
fn unterminated_quotes_name_file_line_and_key() {
    let text = "# 1\n# 2\n# 3\n# 4\n# 5\n# 6\nMOSAIC_UI_LINE_COUNT=\"4241\n";
    assert_eq!(
        err(text),
        "deployment/deploy_baseline.env line 7: unterminated double quote in MOSAIC_UI_LINE_COUNT"
    );
    assert_eq!(
        err("A=1\nB='x\n"),
        "deployment/deploy_baseline.env line 2: unterminated single quote in B"
    );
}

#[test]
fn duplicate_key_names_both_lines() {
    let e = parse("A=1\n# x\nA=2\n", SRC).unwrap_err();
    assert_eq!(
        e,
        BaselineError::Duplicate {
            file: SRC.into(),
            key: "A".into(),
            first_line: 1,
            line: 3
        }
    );
    assert_eq!(
        e.to_string(),
        "deployment/deploy_baseline.env line 3: A is set again here, already set on line 1"
    );
}

#[test]
fn syntax_errors_are_one_sentence_with_line() {
    assert_eq!(
        err("A=1\nA B\n"),
        "deployment/deploy_baseline.env line 2: expected '=' after A"
    );
    assert_eq!(
        err("A = 1\n"),
        "deployment/deploy_baseline.env line 1: spaces around '=' are not allowed in the assignment of A"
    );
    assert_eq!(
        err("\n1A=2\n"),
        "deployment/deploy_baseline.env line 2: expected KEY=VALUE but found \"1A=2\""
    );
    assert_eq!(
        err("A=1 2\n"),
        "deployment/deploy_baseline.env line 1: unexpected \"2\" after the value of A (quote values that contain spaces)"
    );
    assert!(err("A=$HOME/x\n").contains("line 1: the value of A uses shell expansion"));
    assert!(err("A=\"${B}\"\n").contains("uses shell expansion"));
    assert!(err("A=`date`\n").contains("uses shell expansion"));
    assert!(err("A=x;rm\n").contains("unquoted ';' in the value of A"));
    assert!(err("A=x\0y\n").contains("line 1: NUL byte in the value of A"));
    assert!(err("NOKEY\n").contains("NOKEY has no '='"));
    for e in [err("A=1 2\n"), err("A = 1\n"), err("A=\"x\n")] {
        assert_eq!(e.lines().count(), 1, "{e}");
    }
    // A lone '$' is literal, as in the shell.
    assert_eq!(parse("PRICE=5$\n", SRC).unwrap().get("PRICE"), Some("5$"));
}

#[test]
fn invalid_utf8_is_reported_with_its_line() {
    let bytes = b"A=1\nB=caf\xe9\nC=3\n";
    assert_eq!(
        parse_bytes(bytes, SRC).unwrap_err().to_string(),
        "deployment/deploy_baseline.env line 2: invalid UTF-8 at byte 6 of the line"
    );
    assert_eq!(
        vars(&parse_bytes(b"A=1\n", SRC).unwrap()),
        vec![("A", "1", 1)]
    );
}

#[test]
fn metrics_pair_counts_with_tolerances() {
    let b = parse(
        "MOSAIC_UI_LINE_COUNT=4241\nMOSAIC_UI_LINE_TOLERANCE=5\nFRONTEND_LINE_COUNT=100\nOTHER=x\n",
        SRC,
    )
    .unwrap();
    let m = b.metrics().unwrap();
    assert_eq!(m.len(), 2);
    assert_eq!(
        (m[0].name.as_str(), m[0].expected, m[0].tolerance, m[0].line),
        ("MOSAIC_UI", 4241, 5, 1)
    );
    assert_eq!(
        (m[1].name.as_str(), m[1].expected, m[1].tolerance, m[1].line),
        ("FRONTEND", 100, 0, 3)
    );
    assert!(m[0].within(4236) && m[0].within(4246));
    assert!(!m[0].within(4235) && !m[0].within(4247));
}

#[test]
fn non_numeric_count_or_tolerance_names_line() {
    let b = parse("# x\nMOSAIC_UI_LINE_COUNT=lots\n", SRC).unwrap();
    assert_eq!(
        b.metrics().unwrap_err().to_string(),
        "deployment/deploy_baseline.env line 2: MOSAIC_UI_LINE_COUNT must be a whole number, found \"lots\""
    );
    let b = parse("A_LINE_COUNT=1\nA_LINE_TOLERANCE=-3\n", SRC).unwrap();
    assert!(b.metrics().unwrap_err().to_string().starts_with(
        "deployment/deploy_baseline.env line 2: A_LINE_TOLERANCE must be a whole number"
    ));
    let b = parse("A_LINE_TOLERANCE=3\n", SRC).unwrap();
    assert_eq!(
        b.metrics().unwrap_err().to_string(),
        "deployment/deploy_baseline.env line 1: A_LINE_TOLERANCE has no matching A_LINE_COUNT"
    );
}

#[test]
fn default_files_and_mapping() {
    let mut map = BTreeMap::new();
    assert_eq!(
        default_file_for("MOSAIC_UI", &map).as_deref(),
        Some("mosaic_ui/index.html")
    );
    assert_eq!(
        default_file_for("FRONTEND", &map).as_deref(),
        Some("frontend/index.html")
    );
    assert_eq!(default_file_for("API", &map), None);
    map.insert("API".to_string(), "api/app.py".to_string());
    map.insert("MOSAIC_UI".to_string(), "ui/index.html".to_string());
    assert_eq!(default_file_for("API", &map).as_deref(), Some("api/app.py"));
    assert_eq!(
        default_file_for("MOSAIC_UI", &map).as_deref(),
        Some("ui/index.html")
    );
}

#[test]
fn line_count_is_wc_l() {
    assert_eq!(line_count(b""), 0);
    assert_eq!(line_count(b"no newline"), 0);
    assert_eq!(line_count(b"a\nb\n"), 2);
    assert_eq!(line_count(b"a\nb"), 1);
    assert_eq!(line_count(b"a\r\nb\r\n"), 2);
}

fn baseline_repo(ui_lines: usize, with_frontend: bool) -> (TestRepo, git2::Oid) {
    let t = TestRepo::new();
    let baseline =
        b"MOSAIC_UI_LINE_COUNT=100\nMOSAIC_UI_LINE_TOLERANCE=5\nFRONTEND_LINE_COUNT=10\n";
    let mut f = files(&[(SRC, baseline)]);
    f.insert("mosaic_ui/index.html".into(), lines(ui_lines));
    if with_frontend {
        f.insert("frontend/index.html".into(), lines(10));
    }
    let c = t.commit("main", &[], &f, "init");
    (t, c)
}

#[test]
fn check_tree_within_tolerance() {
    let (t, c) = baseline_repo(104, true);
    let r = check_tree(&t.repo, &t.tree_of(c), SRC, &BTreeMap::new()).unwrap();
    assert!(r.within(), "{r:?}");
    assert_eq!(r.checks.len(), 2);
    assert_eq!(r.checks[0].actual, Some(104));
    assert_eq!(r.checks[0].file.as_deref(), Some("mosaic_ui/index.html"));
    assert_eq!(r.checks[0].reason, None);
    assert_eq!(r.checks[1].actual, Some(10));
}

#[test]
fn check_tree_outside_tolerance_and_missing_file() {
    let (t, c) = baseline_repo(106, false);
    let r = check_tree(&t.repo, &t.tree_of(c), SRC, &BTreeMap::new()).unwrap();
    assert!(!r.within());
    assert!(!r.checks[0].within);
    assert_eq!(
        r.checks[0].reason.as_deref(),
        Some("mosaic_ui/index.html has 106 lines, expected 100 ± 5 (6 over)")
    );
    assert!(!r.checks[1].within);
    assert_eq!(r.checks[1].actual, None);
    assert_eq!(
        r.checks[1].reason.as_deref(),
        Some("frontend/index.html is not in the tree")
    );
    assert_eq!(r.failures().len(), 2);
}

#[test]
fn check_tree_unmapped_name_and_missing_baseline() {
    let t = TestRepo::new();
    let c = t.commit(
        "main",
        &[],
        &files(&[(SRC, b"API_LINE_COUNT=3\n"), ("api/app.py", b"1\n2\n3\n")]),
        "init",
    );
    let r = check_tree(&t.repo, &t.tree_of(c), SRC, &BTreeMap::new()).unwrap();
    assert_eq!(
        r.checks[0].reason.as_deref(),
        Some("no file is mapped for API (add it under [baseline.files])")
    );
    let map = BTreeMap::from([("API".to_string(), "api/app.py".to_string())]);
    assert!(check_tree(&t.repo, &t.tree_of(c), SRC, &map)
        .unwrap()
        .within());
    let e = check_tree(&t.repo, &t.tree_of(c), "nope.env", &map).unwrap_err();
    assert!(matches!(e, BaselineError::Missing { .. }), "{e}");
    assert!(e
        .to_string()
        .starts_with("nope.env is not there (not in tree "));
}

#[test]
fn check_tree_reports_parse_errors_from_the_tree() {
    let t = TestRepo::new();
    let c = t.commit("main", &[], &files(&[(SRC, b"A=1\nB=\"open\n")]), "init");
    let e = check_tree(&t.repo, &t.tree_of(c), SRC, &BTreeMap::new()).unwrap_err();
    assert_eq!(
        e.to_string(),
        "deployment/deploy_baseline.env line 2: unterminated double quote in B"
    );
}

#[test]
fn check_dir_reads_the_working_tree() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("deployment")).unwrap();
    std::fs::create_dir_all(dir.path().join("mosaic_ui")).unwrap();
    std::fs::write(
        dir.path().join(SRC),
        "MOSAIC_UI_LINE_COUNT=3\nFRONTEND_LINE_COUNT=1\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("mosaic_ui/index.html"), lines(3)).unwrap();
    let r = check_dir(dir.path(), SRC, &BTreeMap::new()).unwrap();
    assert!(r.checks[0].within);
    assert_eq!(
        r.checks[1].reason.as_deref(),
        Some("frontend/index.html does not exist")
    );
    assert!(matches!(
        check_dir(dir.path(), "missing.env", &BTreeMap::new()),
        Err(BaselineError::Missing { .. })
    ));
}

fn watch() -> Vec<String> {
    vec![
        "mosaic_ui/index.html".into(),
        "frontend/index.html".into(),
        SRC.into(),
        "docs/absent.md".into(),
    ]
}

#[test]
fn diff_watched_counts_added_and_removed_lines() {
    let t = TestRepo::new();
    let mut f = files(&[
        ("mosaic_ui/index.html", b"a\nb\nc\nd\n"),
        (SRC, b"MOSAIC_UI_LINE_COUNT=4\n"),
        ("other.txt", b"x\n"),
    ]);
    let golden = t.commit("main", &[], &f, "golden");
    f.insert(
        "mosaic_ui/index.html".into(),
        b"a\nB\nc\nd\ne\nf\n".to_vec(),
    );
    f.insert("frontend/index.html".into(), b"new\n".to_vec());
    f.insert("other.txt".into(), b"changed, not watched\n".to_vec());
    let head = t.commit("feature", &[golden], &f, "change");

    let d = diff_watched(&t.repo, &t.tree_of(golden), &t.tree_of(head), &watch()).unwrap();
    let summary: Vec<(&str, DiffStatus, usize, usize)> = d
        .iter()
        .map(|x| (x.path.as_str(), x.status, x.added, x.removed))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("mosaic_ui/index.html", DiffStatus::Modified, 3, 1),
            ("frontend/index.html", DiffStatus::Added, 1, 0),
            (SRC, DiffStatus::Unchanged, 0, 0),
            ("docs/absent.md", DiffStatus::Absent, 0, 0),
        ]
    );
    let patch = &d[0].patch;
    assert!(patch.contains("@@"), "{patch}");
    assert!(patch.contains("\n-b\n"), "{patch}");
    assert!(patch.contains("\n+B\n"), "{patch}");
    assert!(d[2].patch.is_empty());

    // And the other way round: a deletion.
    let back = diff_watched(&t.repo, &t.tree_of(head), &t.tree_of(golden), &watch()).unwrap();
    assert_eq!(back[1].status, DiffStatus::Deleted);
    assert_eq!((back[1].added, back[1].removed), (0, 1));
}

#[test]
fn diff_watched_directory_and_cap() {
    let t = TestRepo::new();
    let a = t.commit(
        "main",
        &[],
        &files(&[("mosaic_ui/index.html", b""), ("mosaic_ui/app.js", b"1\n")]),
        "a",
    );
    let b = t.commit(
        "main",
        &[a],
        &files(&[
            ("mosaic_ui/index.html", &lines(PATCH_LINE_CAP + 500)),
            ("mosaic_ui/app.js", b"2\n"),
        ]),
        "b",
    );
    let d = diff_watched(
        &t.repo,
        &t.tree_of(a),
        &t.tree_of(b),
        &["mosaic_ui/".into()],
    )
    .unwrap();
    assert_eq!(d.len(), 2);
    assert_eq!(d[0].path, "mosaic_ui/app.js");
    assert_eq!((d[0].added, d[0].removed), (1, 1));
    assert_eq!(d[1].path, "mosaic_ui/index.html");
    assert_eq!(d[1].added, PATCH_LINE_CAP + 500, "counts are not capped");
    let patch_lines = d[1].patch.lines().count();
    assert_eq!(patch_lines, PATCH_LINE_CAP + 1);
    assert!(d[1]
        .patch
        .lines()
        .last()
        .unwrap()
        .contains("more lines not shown"));
}

#[test]
fn snapshot_markdown() {
    let (t, c) = baseline_repo(200, true);
    let report = check_tree(&t.repo, &t.tree_of(c), SRC, &BTreeMap::new()).unwrap();
    let mut f = files(&[(SRC, b"MOSAIC_UI_LINE_COUNT=100\n")]);
    f.insert("mosaic_ui/index.html".into(), b"```\nx\n".to_vec());
    let c2 = t.commit("feature/x", &[c], &f, "x");
    let diffs = diff_watched(&t.repo, &t.tree_of(c), &t.tree_of(c2), &watch()).unwrap();
    let md = render_snapshot_md(
        &report,
        &diffs,
        Some("prod-2025-11-14"),
        "feature/x",
        "abc1234",
    );
    assert!(md.starts_with("# Baseline snapshot: feature/x\n"), "{md}");
    assert!(md.contains("`prod-2025-11-14` (golden build)"));
    assert!(md.contains("**OUTSIDE tolerance**"));
    assert!(md.contains("| MOSAIC_UI | `mosaic_ui/index.html` | 100 | 5 | 200 | ❌ mosaic_ui/index.html has 200 lines, expected 100 ± 5 (100 over) |"), "{md}");
    assert!(md.contains("| FRONTEND | `frontend/index.html` | 10 | 0 | 10 | ✅ within |"));
    assert!(
        md.contains("| `frontend/index.html` | deleted | 0 | 10 |"),
        "{md}"
    );
    // The patch contains ``` so the fence is longer.
    assert!(md.contains("````diff\n"), "{md}");
    let none = render_snapshot_md(&report, &[], None, "b", "c");
    assert!(none.contains("there is no prod tag yet"));
    assert!(none.contains("No watched files."));
}

#[test]
fn quoting_round_trips() {
    for v in [
        "", "plain", "a b", "it's", "#x", "$HOME", "a\nb", "\"q\"", "\\",
    ] {
        let text = format!("K={}\n", quote_value(v));
        assert_eq!(parse(&text, SRC).unwrap().get("K"), Some(v), "{text}");
    }
}

fn arb_baseline() -> impl Strategy<Value = Baseline> {
    let value =
        proptest::collection::vec(any::<char>().prop_filter("no NUL", |c| *c != '\0'), 0..12)
            .prop_map(|cs| cs.into_iter().collect::<String>());
    let value = prop_oneof![value, "[0-9]{1,6}", "[ -~]{0,10}"];
    proptest::collection::vec(("[A-Za-z_][A-Za-z0-9_]{0,10}", value, 0usize..3), 0..8).prop_map(
        |entries| {
            let mut line = 1;
            let mut vars = Vec::new();
            for (i, (key, value, gap)) in entries.into_iter().enumerate() {
                let at = line + gap;
                line = at + 1 + value.matches('\n').count();
                vars.push((format!("{key}_{i}"), value, at));
            }
            Baseline {
                source: SRC.to_string(),
                vars,
            }
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn parse_never_panics(text in any::<String>()) {
        let _ = parse(&text, SRC);
    }

    #[test]
    fn parse_never_panics_on_shellish_text(text in "[A-Z_=#'\"\\\\ \t\r\n$`;a-z0-9{}()]{0,60}") {
        if let Ok(b) = parse(&text, SRC) {
            let _ = b.metrics();
        }
    }

    #[test]
    fn parse_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = parse_bytes(&bytes, SRC);
    }

    #[test]
    fn render_then_parse_is_identity(b in arb_baseline()) {
        let text = b.render();
        prop_assert_eq!(parse(&text, SRC), Ok(b));
    }
}

#[test]
fn diff_watched_binary_files_have_no_line_counts() {
    let t = TestRepo::new();
    let a = t.commit(
        "main",
        &[],
        &files(&[("mosaic_ui/logo.png", common::PNG_1X1)]),
        "a",
    );
    let mut changed = common::PNG_1X1.to_vec();
    changed[40] ^= 0xFF;
    let b = t.commit(
        "main",
        &[a],
        &files(&[("mosaic_ui/logo.png", &changed)]),
        "b",
    );
    let d = diff_watched(
        &t.repo,
        &t.tree_of(a),
        &t.tree_of(b),
        &["mosaic_ui/logo.png".into()],
    )
    .unwrap();
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].status, DiffStatus::Modified);
    assert_eq!((d[0].added, d[0].removed), (0, 0));
    assert!(d[0].patch.contains("Binary files"), "{}", d[0].patch);
}

#[test]
fn mapped_path_that_is_a_directory_fails_with_reason() {
    let t = TestRepo::new();
    let c = t.commit(
        "main",
        &[],
        &files(&[
            (SRC, b"MOSAIC_UI_LINE_COUNT=1\n"),
            ("mosaic_ui/index.html/x", b"1\n"),
        ]),
        "init",
    );
    let r = check_tree(&t.repo, &t.tree_of(c), SRC, &BTreeMap::new()).unwrap();
    assert_eq!(
        r.checks[0].reason.as_deref(),
        Some("mosaic_ui/index.html is not a file in the tree")
    );
}

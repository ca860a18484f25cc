//! BUILD_ID (SPEC §5, §7): scripts get `BUILD_ID`; the real script's
//! `<!-- BUILD_ID:<id>|SHA:<sha> -->` passes the `build id` check and drift;
//! guardrail stamps only the files `[live] stamp` names, and every
//! comparison ignores BUILD_ID comments, so a hand-made backup with nested
//! `index.html` pages rolls back clean.
use crate::common;

use common::live::*;
use common::*;
use guardrail::pipeline::backup::content_hash;

/// The real deploy script's way: `inject_build_id.js` reads `BUILD_ID` and
/// writes `<!-- BUILD_ID:$BUILD_ID|SHA:$SPEC_SHA -->` into the page.
const REAL_DEPLOY: &str = r#"#!/bin/bash
set -e
[ -n "$BUILD_ID" ] || { echo "deploy: BUILD_ID is not set"; exit 1; }
echo "deploy: BUILD_ID=$BUILD_ID GUARDRAIL_BUILD_ID=$GUARDRAIL_BUILD_ID"
SPEC_SHA=9a8b7c6d5e4f
mkdir -p "$SITE"
rm -rf "$SITE"/*
cp -R "$NETLIFY_DEPLOY_DIR"/. "$SITE"/
sed -i -E "s#<!-- *BUILD_ID:[^>]*-->#<!-- BUILD_ID:${BUILD_ID}|SHA:${SPEC_SHA} -->#" "$SITE/index.html"
grep -q "BUILD_ID:${BUILD_ID}|SHA:${SPEC_SHA}" "$SITE/index.html"
"#;

#[test]
fn the_real_scripts_build_id_form_passes_the_check_and_drift() {
    let l = live_repo("");
    let f = &l.f;
    f.checkout_new("tmp/real-script");
    f.write(mosaic::MOSAIC_UI, good_page("r9"));
    f.write_script("scripts/deploy_now_zsh.sh", REAL_DEPLOY);
    let c = f.commit("release with the real deploy script");
    f.checkout("main");
    f.tag_lightweight("prod-2025-11-21", &c);

    let out = f
        .guardrail_cmd(&["rollback", "prod-2025-11-21", "--yes"])
        .env("SITE", &l.site)
        .output()
        .unwrap();
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    let live = live_record(f);
    let id = live["build_id"].as_str().unwrap().to_string();
    assert!(
        text.contains(&format!("deploy: BUILD_ID={id} GUARDRAIL_BUILD_ID={id}")),
        "{text}"
    );
    assert!(text.contains("✅ build id"), "{text}");
    assert_eq!(live["health"], "ok");
    assert_eq!(live["bad_tags"], serde_json::json!([]));
    let page = std::fs::read_to_string(l.site.join("index.html")).unwrap();
    assert!(
        page.contains(&format!("<!-- BUILD_ID:{id}|SHA:9a8b7c6d5e4f -->")),
        "{page}"
    );
    assert_eq!(build_ids(page.as_bytes()), vec![id.clone()]);

    // Drift reads the id before the `|` too, and compares the content with
    // the comment aside.
    let out = f.guardrail(&["drift", "--live", "--json"]);
    let doc = json(&out);
    // (The golden tag's files differ from main's: that drift is not ours.)
    assert_eq!(doc["live"]["drift"], false, "{doc:#}");
    assert_eq!(doc["live"]["served_build_id"], id.as_str());
    assert_eq!(doc["live"]["build_id_matches"], true);
    assert_eq!(doc["live"]["content_matches"], true);
    // Verification on its own agrees.
    let out = f.guardrail(&["verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

/// A page without any BUILD_ID comment, as a nested copy of the UI has it.
const NESTED_PAGE: &str = "<!doctype html>\n<html><body>\n<p>extracted copy</p>\n</body></html>\n";

#[test]
fn a_hand_made_backup_with_nested_index_pages_rolls_back_clean() {
    let l = live_repo("");
    let f = &l.f;
    let top = f.git(&[
        "show",
        &format!("{}:{}", mosaic::TAG_ANNOTATED, mosaic::MOSAIC_UI),
    ]);
    let top = format!("{top}\n");
    let docs = "<html><body>docs <!-- BUILD_ID:old-build|SHA:1 --></body></html>\n";
    // Hand-made: no MANIFEST.sha256, nested index.html pages with and
    // without a BUILD_ID comment.
    f.write_zip(
        mosaic::BACKUP,
        &[
            ("mosaic_ui/index.html", top.as_bytes()),
            (
                "mosaic_ui/mosaic_ui_extracted/index.html",
                NESTED_PAGE.as_bytes(),
            ),
            ("mosaic_ui/docs/index.html", docs.as_bytes()),
            ("mosaic_ui/assets/app.js", b"console.log('r2');\n"),
        ],
    );

    let out = f.guardrail(&["rollback", mosaic::TAG_ANNOTATED, "--yes", "--json"]);
    let doc = json(&out);
    assert_eq!(out.status.code(), Some(0), "{doc:#}{}", stderr(&out));
    assert_eq!(doc["outcome"]["verified"], true, "{doc:#}");
    let live = live_record(f);
    assert_eq!(live["tag"], mosaic::TAG_ANNOTATED);
    assert_eq!(live["health"], "ok");
    assert_eq!(live["bad_tags"], serde_json::json!([]), "{live:#}");

    // Only the top page was stamped; the nested pages are byte for byte
    // what the backup holds.
    let id = live["build_id"].as_str().unwrap();
    let served_top = std::fs::read(l.site.join("index.html")).unwrap();
    assert_eq!(build_ids(&served_top), vec![id]);
    assert_eq!(content_hash(&served_top), content_hash(top.as_bytes()));
    assert_eq!(
        std::fs::read_to_string(l.site.join("mosaic_ui_extracted/index.html")).unwrap(),
        NESTED_PAGE
    );
    assert_eq!(
        std::fs::read_to_string(l.site.join("docs/index.html")).unwrap(),
        docs
    );
    let out = f.guardrail(&["audit", "verify"]);
    assert_eq!(out.status.code(), Some(0), "{}", stdout(&out));
}

#[test]
fn live_stamp_names_the_files_to_stamp() {
    let l = live_repo("");
    let f = &l.f;
    // The config lists the top page and a nested one; a third page with a
    // comment is not named and keeps its own.
    let cfg = f.read("guardrail.toml").replace(
        "[live]\n",
        "[live]\nstamp = [\"index.html\", \"mosaic_ui_extracted/index.html\"]\n",
    );
    f.write_config(&cfg);
    f.commit("stamp two pages");
    let top = format!(
        "{}\n",
        f.git(&[
            "show",
            &format!("{}:{}", mosaic::TAG_ANNOTATED, mosaic::MOSAIC_UI)
        ])
    );
    let other = "<html><body><!-- BUILD_ID:keep --></body></html>\n";
    f.write_zip(
        mosaic::BACKUP,
        &[
            ("mosaic_ui/index.html", top.as_bytes()),
            (
                "mosaic_ui/mosaic_ui_extracted/index.html",
                NESTED_PAGE.as_bytes(),
            ),
            ("mosaic_ui/other/index.html", other.as_bytes()),
        ],
    );
    let out = f.guardrail(&["rollback", mosaic::TAG_ANNOTATED, "--yes"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    let id = live_record(f)["build_id"].as_str().unwrap().to_string();
    let nested = std::fs::read(l.site.join("mosaic_ui_extracted/index.html")).unwrap();
    assert_eq!(build_ids(&nested), vec![id]);
    assert_eq!(content_hash(&nested), content_hash(NESTED_PAGE.as_bytes()));
    assert_eq!(
        std::fs::read_to_string(l.site.join("other/index.html")).unwrap(),
        other
    );
}

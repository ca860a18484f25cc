//! The pages of the drill's site in each version, cut from the embedded
//! newest page, with the baseline and configuration that go with them.
use super::*;

/// `text` with `from` replaced by `to` exactly once.
pub(super) fn replace_once(text: &str, from: &str, to: &str) -> Result<String, DrillError> {
    if text.matches(from).count() != 1 {
        return Err(setup(format!(
            "the embedded page does not contain {from:?} exactly once"
        )));
    }
    Ok(text.replacen(from, to, 1))
}

/// `text` with the lines from the one containing `begin` to the one
/// containing `end` (both included) replaced by `with`.
pub(super) fn replace_block(
    text: &str,
    begin: &str,
    end: &str,
    with: &str,
) -> Result<String, DrillError> {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let b = lines.iter().position(|l| l.contains(begin));
    let e = lines.iter().position(|l| l.contains(end));
    match (b, e) {
        (Some(b), Some(e)) if b <= e => {
            let mut out: String = lines[..b].concat();
            out.push_str(with);
            out.push_str(&lines[e + 1..].concat());
            Ok(out)
        }
        _ => Err(setup(format!(
            "the embedded page has no block {begin:?} … {end:?}"
        ))),
    }
}

// The pages of each version, from the embedded (newest) one.

/// The golden build's page (the embedded asset).
pub fn golden() -> String {
    assets::MOSAIC_UI.to_string()
}

/// The second prod tag's: the help link instead of support, and the
/// first-visit welcome note.
pub fn tag2() -> Result<String, DrillError> {
    let p = replace_once(
        assets::MOSAIC_UI,
        "<a href=\"/support\">Support</a>",
        "<a href=\"/help\">Help</a>",
    )?;
    replace_once(
        &p,
        "Welcome back: pick up your PS101 journey where you left off.",
        "Welcome to Mosaic: start your PS101 journey.",
    )
}

/// The first prod tag's: also the old step 4 heading.
pub fn tag1() -> Result<String, DrillError> {
    replace_once(
        &tag2()?,
        "<h2>4. Name the obstacle, in one sentence</h2>",
        "<h2>4. Obstacles</h2>",
    )
}

/// `feature/ps101-copy`: friendlier headings for steps 1–3.
pub fn ps101_copy() -> Result<String, DrillError> {
    let p = replace_once(
        assets::MOSAIC_UI,
        "<h2>1. Name the problem</h2>",
        "<h2>1. Name the problem you want to solve</h2>",
    )?;
    let p = replace_once(
        &p,
        "<h2>2. Why it matters to you</h2>",
        "<h2>2. Why it matters, and to whom</h2>",
    )?;
    replace_once(
        &p,
        "<h2>3. What you have tried so far</h2>",
        "<h2>3. What you have already tried</h2>",
    )
}

/// `feature/footer-links`: a terms link.
pub fn footer_links() -> Result<String, DrillError> {
    replace_once(
        assets::MOSAIC_UI,
        "<a href=\"/support\">Support</a>",
        "<a href=\"/support\">Support</a> · <a href=\"/terms\">Terms</a>",
    )
}

/// `feature/pricing`, the commit the gate ran on: a pricing link.
pub fn pricing() -> Result<String, DrillError> {
    replace_once(
        assets::MOSAIC_UI,
        "<strong>Mosaic</strong>",
        "<strong>Mosaic</strong> <a href=\"/pricing\">Pricing</a>",
    )
}

/// `feature/pricing`, the commit after the gate: a discount note.
pub fn pricing_after_gate() -> Result<String, DrillError> {
    replace_once(
        &pricing()?,
        "Welcome back: pick up your PS101 journey where you left off.",
        "Launch week: 20% off Mosaic Pro.",
    )
}

/// `feature/auth-refactor`: the sign-in moves into an `<auth-widget>`
/// component whose script never made it into the bundle; the auth modal
/// (markup and script) is gone.
pub fn auth_refactor() -> Result<String, DrillError> {
    let p = replace_block(
        assets::MOSAIC_UI,
        "<!-- auth-modal -->",
        "<!-- /auth-modal -->",
        "  <!-- sign-in lives in the <auth-widget> component now -->\n  \
         <auth-widget id=\"authWidget\"></auth-widget>\n  \
         <script type=\"module\" src=\"components/auth-widget.js\"></script>\n",
    )?;
    replace_block(
        &p,
        "// auth-modal",
        "// /auth-modal",
        "    // sign-in: see components/auth-widget.js\n",
    )
}

/// `deploy_baseline.env` with the MOSAIC_UI count set to `page`'s lines.
pub(super) fn baseline_for(page: &str) -> String {
    let lines = baseline::line_count(page.as_bytes());
    assets::BASELINE
        .lines()
        .map(|l| {
            if l.starts_with("MOSAIC_UI_LINE_COUNT=") {
                format!("MOSAIC_UI_LINE_COUNT={lines}\n")
            } else {
                format!("{l}\n")
            }
        })
        .collect()
}

/// A TOML basic string.
pub(super) fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The sandbox's `guardrail.toml`.
pub fn config_text(user: &str, url: &str, publish_dir: &Path) -> String {
    assets::CONFIG_TEMPLATE
        .replace("@USER@", &toml_str(user))
        .replace("@URL@", &toml_str(url))
        .replace(
            "@PUBLISH_DIR@",
            &toml_str(&publish_dir.display().to_string()),
        )
}

pub(super) fn base_files(config: &str, mosaic_ui: &str) -> Files {
    let mut f = Files::new();
    let mut put = |p: &str, b: &[u8], x: bool| {
        f.insert(p.to_string(), (b.to_vec(), x));
    };
    put("mosaic_ui/index.html", mosaic_ui.as_bytes(), false);
    put("frontend/index.html", assets::FRONTEND.as_bytes(), false);
    put(
        "deployment/deploy_baseline.env",
        baseline_for(mosaic_ui).as_bytes(),
        false,
    );
    put(
        "scripts/run_deploy_gate.sh",
        assets::GATE_SCRIPT.as_bytes(),
        true,
    );
    put(
        "scripts/verify_live_deployment.sh",
        assets::VERIFY_SCRIPT.as_bytes(),
        true,
    );
    put("guardrail.toml", config.as_bytes(), false);
    put(".gitignore", b"backups/\n", false);
    put(
        "README.md",
        b"# Mosaic (drill sandbox)\n\nA copy of the Mosaic front-end made by `guardrail drill` for practising a\nrollback. `mosaic_ui/` is what gets published; production is a local web\nserver (see `guardrail.toml`). There is no `scripts/deploy_now_zsh.sh`: a\ndeploy uses guardrail's built-in publish to `[live] publish_dir`.\n",
        false,
    );
    f
}

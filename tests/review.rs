//! The review screen: branch list with package badges, gate log | snapshot
//! | evidence side by side (tabs when narrow), item explanations, the whole
//! gate log — as snapshots, on real app state, and in a pseudo-terminal.
use crate::common;
use common::*;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use guardrail::app::{App, Msg, Request, Screen};
use guardrail::pipeline::audit::entry_hash_ok;
use guardrail::pipeline::handoff::package::{self, Context};
use guardrail::pipeline::repo::Repo;
use guardrail::views::theme::ColorMode;

/// auth-modal ready; ps101 stale (a code commit after its gate ran).
fn review_repo() -> Fixture {
    let f = mosaic_repo();
    package(&f, mosaic::AUTH_MODAL, &Pkg::default());
    package(&f, mosaic::PS101, &Pkg::default());
    f.checkout(mosaic::PS101);
    f.write(
        "mosaic_ui/index.html",
        mosaic_page("r4", &["  <aside>late change</aside>"]),
    );
    f.commit("late change after the gate");
    f.checkout("main");
    f
}

fn app_for(f: &Fixture, w: u16, h: u16) -> (Repo, App) {
    console_app(f, w, h)
}

/// Does what the event loop's assessment worker does, synchronously.
fn fulfil(repo: &Repo, a: &mut App) {
    let ctx = Context::load(repo, &a.cfg).unwrap();
    for r in std::mem::take(&mut a.requests) {
        if let Request::Assess { branch, head } = r {
            let oid = git2::Oid::from_str(&head).unwrap();
            let res = package::assess_head(repo, &a.cfg, &branch, oid, &ctx, entry_hash_ok)
                .map(std::sync::Arc::new)
                .map_err(|e| e.to_string());
            a.update(Msg::Assessed(branch, res));
        }
    }
}

fn key(a: &mut App, c: KeyCode) {
    a.update(Msg::Key(KeyEvent::new(c, KeyModifiers::NONE)));
}

fn render(a: &App) -> String {
    draw_app(a).backend().to_string()
}

#[test]
fn badges_show_package_states_on_the_main_screen() {
    let f = review_repo();
    let (_repo, a) = app_for(&f, 120, 40);
    let screen = render(&a);
    let line = |name: &str| {
        screen
            .lines()
            .find(|l| l.contains(name))
            .unwrap()
            .to_string()
    };
    assert!(line(mosaic::AUTH_MODAL).contains("✓ ready"), "{screen}");
    assert!(line(mosaic::PS101).contains("↻ stale"), "{screen}");
    assert!(line(mosaic::REMOTE_ONLY).contains("· none"), "{screen}");
}

#[test]
fn review_screen_at_three_sizes() {
    let f = review_repo();
    for (w, h) in [(200u16, 50u16), (120, 40), (80, 24)] {
        let (repo, mut a) = app_for(&f, w, h);
        key(&mut a, KeyCode::Enter);
        assert_eq!(a.screen, Screen::Review);
        let pending = render(&a);
        assert!(pending.contains("reading the package…"), "{pending}");
        fulfil(&repo, &mut a);
        let screen = render(&a);
        insta::assert_snapshot!(format!("review_{w}x{h}"), screen);
        if w >= 160 {
            // Side by side: all three panes at once.
            for title in ["Gate log · PASS", "Snapshot", "Evidence · ready"] {
                assert!(screen.contains(title), "{title} missing:\n{screen}");
            }
        } else {
            // Folded into tabs: the evidence tab shows first.
            assert!(screen.contains("Evidence · ready"), "{screen}");
            assert!(!screen.contains("Gate log · PASS"), "{screen}");
        }
    }
}

#[test]
fn moving_to_a_stale_branch_explains_why() {
    let f = review_repo();
    let (repo, mut a) = app_for(&f, 200, 50);
    key(&mut a, KeyCode::Enter);
    fulfil(&repo, &mut a);
    key(&mut a, KeyCode::Char('j'));
    assert_eq!(a.selected_branch().unwrap().r.name, mosaic::PS101);
    fulfil(&repo, &mut a);
    let screen = render(&a);
    assert!(screen.contains("Evidence · stale"), "{screen}");
    // Focus the checklist and explain the gate item.
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Tab);
    key(&mut a, KeyCode::Enter);
    assert!(a.review.explain);
    let screen = render(&a);
    insta::assert_snapshot!("review_explain_stale_gate", screen);
    assert!(
        screen.contains("mosaic_ui/index.html"),
        "changed file named:\n{screen}"
    );
    key(&mut a, KeyCode::Esc);
    assert!(!a.review.explain);
    assert_eq!(a.screen, Screen::Review);
    key(&mut a, KeyCode::Esc);
    assert_eq!(a.screen, Screen::Main);
}

#[test]
fn o_opens_the_whole_gate_log() {
    let f = review_repo();
    let (repo, mut a) = app_for(&f, 120, 40);
    key(&mut a, KeyCode::Enter);
    fulfil(&repo, &mut a);
    key(&mut a, KeyCode::Char('o'));
    assert_eq!(a.screen, Screen::Log);
    let screen = render(&a);
    assert!(screen.contains("Deploy gate: PASS"), "{screen}");
    assert!(
        screen.contains(".handoff/feature-auth-modal/gate.log"),
        "{screen}"
    );
}

#[test]
fn review_in_a_pty() {
    let f = review_repo();
    let mut t = f.console(&[], 200, 50);
    t.wait_for("✓ ready", secs(15)).unwrap();
    t.send_enter();
    t.wait_for("Evidence · ready", secs(10)).unwrap();
    t.wait_for("MOSAIC_UI", secs(5)).unwrap();
    t.send("j");
    t.wait_for("Evidence · stale", secs(10)).unwrap();
    t.send_esc();
    t.wait_for("Prod tags", secs(5)).unwrap();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    assert_terminal_restored(&t);
}

#[test]
fn ctrl_r_judges_the_package_again_against_the_tags_there_now() {
    let f = review_repo();
    let mut t = f.console(&[], 200, 50);
    t.wait_for("✓ ready", secs(15)).unwrap();
    t.send_enter();
    t.wait_for("Evidence · ready", secs(10)).unwrap();
    // Meanwhile somebody releases under the package's proposed tag.
    f.git(&["tag", NEXT_TAG, "main"]);
    t.send_key(Key::Ctrl('r'));
    t.wait_for(&format!("{NEXT_TAG} already exists"), secs(10))
        .unwrap();
    assert!(
        !t.screen_text().contains("Evidence · ready"),
        "{}",
        t.screen_text()
    );
    t.send_q();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

#[test]
fn the_selected_evidence_image_is_previewed_with_half_blocks() {
    let f = review_repo();
    let (repo, mut a) = app_for(&f, 200, 50);
    key(&mut a, KeyCode::Enter);
    fulfil(&repo, &mut a);
    for _ in 0..3 {
        key(&mut a, KeyCode::Tab);
    }
    // Past the six checklist items: the first evidence file.
    for _ in 0..6 {
        key(&mut a, KeyCode::Char('j'));
    }
    let (branch, head, name) = a.selected_evidence().expect("an evidence file is selected");
    assert_eq!(name, "auth-modal.png");
    let req = a
        .requests
        .iter()
        .find(|r| matches!(r, Request::Preview { .. }))
        .expect("a preview is asked for");
    assert!(matches!(req, Request::Preview { name: n, .. } if *n == name));
    let bytes = package::evidence_file(
        &repo,
        &branch,
        git2::Oid::from_str(&head).unwrap(),
        &name,
        a.cfg.evidence.max_file,
    )
    .unwrap();
    // The configured `[evidence] max_file` is the one the preview keeps to.
    let small = guardrail::pipeline::config::Size(bytes.len() as u64 - 1);
    let err = package::evidence_file(
        &repo,
        &branch,
        git2::Oid::from_str(&head).unwrap(),
        &name,
        small,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains(&format!("max_file ({small})")), "{err}");
    let th = guardrail::pipeline::evidence::thumbnail(&bytes, 48, 32).unwrap();
    a.update(Msg::Preview(branch, name, Ok(th)));
    let screen = render(&a);
    assert!(screen.contains(" auth-modal.png "), "{screen}");
    assert!(screen.contains('▀'), "{screen}");
}

/// An 8×4 picture: a grey ramp, red, green and blue ramps, and mixed
/// colours that lie between the palette's entries.
fn test_picture() -> guardrail::pipeline::evidence::Thumbnail {
    let mut pixels = Vec::new();
    for x in 0..8u8 {
        pixels.push([x * 36, x * 36, x * 36]);
    }
    for x in 0..8u8 {
        pixels.push([x * 36, 20, 10]);
    }
    for x in 0..8u8 {
        pixels.push([15, x * 36, 200 - x * 20]);
    }
    for x in 0..8u8 {
        pixels.push([255 - x * 30, 128, x * 36]);
    }
    guardrail::pipeline::evidence::Thumbnail {
        width: 8,
        height: 4,
        pixels,
    }
}

/// The review screen with the first evidence file (`auth-modal.png`)
/// selected and previewed as [`test_picture`], drawn in colour mode `mode`.
fn previewed(mode: ColorMode) -> String {
    let f = review_repo();
    let (repo, mut a) = app_for(&f, 200, 50);
    a.colors = mode;
    key(&mut a, KeyCode::Enter);
    fulfil(&repo, &mut a);
    for _ in 0..3 {
        key(&mut a, KeyCode::Tab);
    }
    for _ in 0..6 {
        key(&mut a, KeyCode::Char('j'));
    }
    let (branch, head, name) = a.selected_evidence().expect("an evidence file is selected");
    assert_eq!(name, "auth-modal.png");
    assert!(a.requests.iter().any(
        |r| matches!(r, Request::Preview { name: n, head: h, .. } if *n == name && *h == head)
    ));
    a.update(Msg::Preview(branch, name, Ok(test_picture())));
    preview_cells(&draw_app(&a))
}

/// The preview's cells, one text line per row of `▀`: each cell as
/// `foreground/background`.
fn preview_cells(t: &ratatui::Terminal<ratatui::backend::TestBackend>) -> String {
    use ratatui::style::Color;
    let name = |c: Color| match c {
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) => format!("{i}"),
        c => format!("{c}"),
    };
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let row: Vec<String> = (0..buf.area.width)
            .map(|x| &buf[(x, y)])
            .filter(|c| c.symbol() == "▀")
            .map(|c| format!("{}/{}", name(c.fg), name(c.bg)))
            .collect();
        if !row.is_empty() {
            out.push_str(&row.join(" "));
            out.push('\n');
        }
    }
    out
}

#[test]
fn the_preview_is_24_bit_in_truecolor_mode() {
    let cells = previewed(ColorMode::TrueColor);
    assert!(cells.contains('#'), "{cells}");
    insta::assert_snapshot!("preview_truecolor", cells);
}

#[test]
fn the_preview_uses_the_256_colour_palette_without_truecolor() {
    let cells = previewed(ColorMode::Palette256);
    assert!(!cells.contains('#'), "{cells}");
    insta::assert_snapshot!("preview_256", cells);
}

#[test]
fn the_preview_uses_the_16_ansi_colours_where_the_terminal_has_no_more() {
    let cells = previewed(ColorMode::Ansi16);
    // Only named colours: no RGB, no palette index.
    assert!(
        !cells.contains('#') && !cells.chars().any(|c| c.is_ascii_digit()),
        "{cells}"
    );
    insta::assert_snapshot!("preview_16", cells);
}

/// The real binary in a pty with `TERM`=`term` and `COLORTERM`=`colorterm`
/// (unset if `None`), on the review of auth-modal with its first evidence
/// image (a red 1×1 PNG) previewed: everything it wrote.
fn preview_bytes_in_a_pty(term: &str, colorterm: Option<&str>) -> String {
    let f = review_repo();
    let mut c = f
        .console_command(&[], 200, 50)
        .env_remove("COLORTERM")
        .env_remove("NO_COLOR")
        .env("TERM", term);
    if let Some(ct) = colorterm {
        c = c.env("COLORTERM", ct);
    }
    let mut t = c.spawn();
    t.wait_for("✓ ready", secs(15)).unwrap();
    t.send_enter();
    t.wait_for("Evidence · ready", secs(10)).unwrap();
    for _ in 0..3 {
        t.send_tab();
    }
    for _ in 0..6 {
        t.send("j");
    }
    t.wait_for(" auth-modal.png ", secs(10)).unwrap();
    t.wait_for("▀", secs(10)).unwrap();
    let raw = String::from_utf8_lossy(&t.raw_tail()).into_owned();
    t.send_q();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    raw
}

#[test]
fn without_colorterm_the_preview_sends_256_colour_codes() {
    let raw = preview_bytes_in_a_pty("xterm-256color", None);
    assert!(
        raw.contains("38;5;196") && raw.contains("48;5;196"),
        "{raw:?}"
    );
    assert!(!raw.contains("38;2;") && !raw.contains("48;2;"), "{raw:?}");
}

#[test]
fn with_colorterm_truecolor_the_preview_sends_24_bit_codes() {
    let raw = preview_bytes_in_a_pty("xterm-256color", Some("truecolor"));
    assert!(
        raw.contains("38;2;255;0;0") && raw.contains("48;2;255;0;0"),
        "{raw:?}"
    );
    assert!(!raw.contains("38;5;196"), "{raw:?}");
}

#[test]
fn with_term_screen_the_console_sends_16_colour_codes_only() {
    let raw = preview_bytes_in_a_pty("screen", None);
    // The red picture as bright red on bright red, the classic way.
    assert!(raw.contains("\x1b[91;101m▀"), "{raw:?}");
    for code in ["38;5;", "48;5;", "38;2;", "48;2;"] {
        assert!(!raw.contains(code), "{code} in {raw:?}");
    }
}

#[test]
fn a_scripts_24_bit_colours_are_mapped_to_what_the_terminal_has() {
    use ratatui::style::Color;
    let f = review_repo();
    for mode in [
        ColorMode::TrueColor,
        ColorMode::Palette256,
        ColorMode::Ansi16,
    ] {
        let (repo, mut a) = app_for(&f, 200, 50);
        a.colors = mode;
        key(&mut a, KeyCode::Enter);
        // The gate log as a script with 24-bit colour codes wrote it.
        let ctx = Context::load(&repo, &a.cfg).unwrap();
        for r in std::mem::take(&mut a.requests) {
            if let Request::Assess { branch, head } = r {
                let oid = git2::Oid::from_str(&head).unwrap();
                let mut asm =
                    package::assess_head(&repo, &a.cfg, &branch, oid, &ctx, entry_hash_ok).unwrap();
                asm.gate_log =
                    Some(b"\x1b[38;2;250;100;10;48;2;20;20;20mRGB-LINE\x1b[0m\n".to_vec());
                a.update(Msg::Assessed(branch, Ok(std::sync::Arc::new(asm))));
            }
        }
        let t = draw_app(&a);
        let buf = t.backend().buffer();
        let cell = (0..buf.area.height)
            .flat_map(|y| (0..buf.area.width).map(move |x| (x, y)))
            .find(|&(x, y)| {
                buf[(x, y)].symbol() == "R"
                    && buf[(x + 1, y)].symbol() == "G"
                    && buf[(x + 2, y)].symbol() == "B"
                    && buf[(x + 3, y)].symbol() == "-"
            })
            .map(|p| buf[p].clone())
            .expect("the gate log line is shown");
        let (fg, bg) = match mode {
            ColorMode::TrueColor => (Color::Rgb(250, 100, 10), Color::Rgb(20, 20, 20)),
            ColorMode::Palette256 => (Color::Indexed(202), Color::Indexed(233)),
            ColorMode::Ansi16 => (Color::LightRed, Color::Black),
        };
        assert_eq!((cell.fg, cell.bg), (fg, bg), "{mode:?}");
    }
}

/// Variables that name a terminal's image protocol (removed unless a test
/// sets them: the machine running the tests may be inside kitty or tmux).
const IMAGE_HINTS: [&str; 5] = [
    "TMUX",
    "KITTY_WINDOW_ID",
    "TERM_PROGRAM",
    "LC_TERMINAL",
    "COLORTERM",
];

/// The real binary in a pty (`TERM=xterm-256color`, no image hints) with
/// `[ui] images = images` (none written if `None`), on the review of
/// auth-modal with its first evidence image previewed: everything it wrote
/// once `done` holds for that output. The keys still answer afterwards
/// (nothing else reads the terminal's input).
fn preview_with_images(images: Option<&str>, done: impl Fn(&str) -> bool) -> String {
    let (_f, mut t) = open_preview(images);
    let raw = raw_until(&t, done);
    // The console still reads every key: q leaves the review, q quits.
    t.send_q();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
    raw
}

/// The raw output once `done` holds for it (at most 10 s).
fn raw_until(t: &Pty, done: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + secs(10);
    loop {
        let raw = String::from_utf8_lossy(&t.raw_tail()).into_owned();
        if done(&raw) {
            return raw;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the picture never came: {raw:?}"
        );
        std::thread::sleep(millis(20));
    }
}

/// The console of [`preview_with_images`] on the preview of auth-modal.png.
/// The preview's title (the list's line holds " auth-modal.png " too).
const TITLE: &str = "┌ auth-modal.png ";

fn open_preview(images: Option<&str>) -> (Fixture, Pty) {
    let f = review_repo();
    if let Some(images) = images {
        let dir = f.home().join(".config/guardrail");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            format!("[ui]\nimages = \"{images}\"\n"),
        )
        .unwrap();
    }
    let mut c = f
        .console_command(&[], 200, 50)
        .env_remove("NO_COLOR")
        .env("TERM", "xterm-256color");
    for k in IMAGE_HINTS {
        c = c.env_remove(k);
    }
    let mut t = c.spawn();
    t.wait_for("✓ ready", secs(15)).unwrap();
    t.send_enter();
    t.wait_for("Evidence · ready", secs(10)).unwrap();
    for _ in 0..3 {
        t.send_tab();
    }
    for _ in 0..6 {
        t.send("j");
    }
    t.wait_for(TITLE, secs(10)).unwrap();
    (f, t)
}

/// The kitty graphics protocol's APC, and sixel's DCS introducer (`ESC P`,
/// parameters, `q`).
fn has_kitty(raw: &str) -> bool {
    raw.contains("\x1b_G")
}

fn has_sixel(raw: &str) -> bool {
    raw.match_indices("\x1bP").any(|(i, _)| {
        let rest = &raw[i + 2..];
        let params = rest
            .find(|c: char| !(c.is_ascii_digit() || c == ';'))
            .unwrap_or(rest.len());
        rest[params..].starts_with('q')
    })
}

#[test]
fn images_kitty_sends_the_picture_with_the_kitty_graphics_protocol() {
    let raw = preview_with_images(Some("kitty"), has_kitty);
    assert!(!has_sixel(&raw), "{raw:?}");
    assert!(!raw.contains('▀'), "{raw:?}");
    // Placed with unicode placeholders (U+10EEEE), the picture's id as the
    // 24-bit foreground: not turned into a palette colour.
    assert!(raw.contains('\u{10EEEE}'), "{raw:?}");
    assert!(raw.contains("38;2;"), "{raw:?}");
}

#[test]
fn images_sixel_sends_the_picture_as_sixels() {
    let raw = preview_with_images(Some("sixel"), has_sixel);
    assert!(!has_kitty(&raw), "{raw:?}");
    assert!(!raw.contains('▀'), "{raw:?}");
}

#[test]
fn images_iterm2_sends_the_picture_as_an_inline_file() {
    let raw = preview_with_images(Some("iterm2"), |r| r.contains("\x1b]1337;File="));
    assert!(!has_kitty(&raw) && !has_sixel(&raw), "{raw:?}");
}

#[test]
fn images_halfblocks_draws_with_half_blocks_in_the_terminals_colours() {
    let raw = preview_with_images(Some("halfblocks"), |r| r.contains('▀'));
    assert!(!has_kitty(&raw) && !has_sixel(&raw), "{raw:?}");
    assert!(
        raw.contains("38;5;196") && raw.contains("48;5;196"),
        "{raw:?}"
    );
    assert!(!raw.contains("38;2;") && !raw.contains("48;2;"), "{raw:?}");
}

#[test]
fn images_auto_without_a_hint_uses_half_blocks_and_never_asks_the_terminal() {
    let raw = preview_with_images(None, |r| r.contains('▀'));
    assert!(!has_kitty(&raw) && !has_sixel(&raw), "{raw:?}");
    assert!(raw.contains("38;5;196"), "{raw:?}");
    // No query: not kitty's (`_Gi=31,…a=q`), not device attributes, not the
    // cell size. Nothing waits for an answer, so nothing delays the start.
    for query in ["\x1b_Gi=", "\x1b[c", "\x1b[0c", "\x1b[16t", "\x1b[14t"] {
        assert!(!raw.contains(query), "{query:?} in {raw:?}");
    }
}

#[test]
fn a_kitty_picture_goes_with_its_selection_and_comes_back_after_a_resize() {
    const PLACEHOLDER: &str = "\u{10EEEE}";
    let (_f, mut t) = open_preview(Some("kitty"));
    raw_until(&t, has_kitty);
    t.wait_for(PLACEHOLDER, secs(10)).unwrap();
    // Another item selected: no preview, and no cell still places the
    // picture (the terminal shows a kitty picture only on its placeholders).
    t.send("k");
    t.wait_for_gone(TITLE, secs(10)).unwrap();
    t.wait_for_gone(PLACEHOLDER, secs(10)).unwrap();
    // Back on it: placed again.
    t.send("j");
    t.wait_for(TITLE, secs(10)).unwrap();
    t.wait_for(PLACEHOLDER, secs(10)).unwrap();
    // Another screen and back: gone, then placed again.
    t.send_q();
    t.wait_for_gone(TITLE, secs(10)).unwrap();
    t.wait_for_gone(PLACEHOLDER, secs(10)).unwrap();
    t.send_enter();
    t.wait_for("Evidence · ready", secs(10)).unwrap();
    for _ in 0..3 {
        t.send_tab();
    }
    for _ in 0..6 {
        t.send("j");
    }
    t.wait_for(TITLE, secs(10)).unwrap();
    t.wait_for(PLACEHOLDER, secs(10)).unwrap();
    // A smaller terminal: the screen is drawn again, the picture with it.
    t.resize(170, 45);
    t.wait_until("the picture after the resize", secs(10), |s| {
        s.size() == (45, 170) && s.contents().contains(PLACEHOLDER)
    })
    .unwrap();
    t.send_q();
    t.send_q();
    assert_eq!(t.wait_exit(secs(10)), Some(0));
}

//! Themes (issue 19 item 7): the built-in `light` and `high-contrast`
//! themes drawn on the main screen with their colours, and `[ui.theme]` in
//! the user's own file setting the colour of each style.
use crate::common;
use common::*;

use guardrail::app::{self, App, Msg};
use guardrail::pipeline::config::{StyleColours, Theme, ThemeColour, UserConfig};
use guardrail::pipeline::repo::Repo;
use guardrail::views::theme::ColorMode;
use ratatui::buffer::Buffer;
use ratatui::style::Color;

/// The console on `f` at `w`×`h` with the user's file `user` (as text),
/// drawn in colour mode `mode`.
fn themed_app(f: &Fixture, user: &str, mode: ColorMode, w: u16, h: u16) -> App {
    let repo = Repo::open(f.path()).unwrap();
    let user = UserConfig::from_text(user, "config.toml").unwrap();
    let mut a = app::initial_app(&repo, false, &user).unwrap();
    app::load_all(&repo, &mut a).unwrap();
    a.user = guardrail::pipeline::repo::User {
        name: "tester".into(),
        release_manager: true,
    };
    a.mono = false;
    a.colors = mode;
    a.update(Msg::Resize(w, h));
    a
}

fn colour_name(c: Color) -> String {
    match c {
        Color::Rgb(r, g, b) => format!("#{r:02x}{g:02x}{b:02x}"),
        Color::Indexed(i) => format!("{i}"),
        c => format!("{c}"),
    }
}

/// The screen as text, each row followed by its runs of equal style
/// (`columns fg/bg modifiers`), so a snapshot shows every cell's colours.
fn styled_cells(buf: &Buffer) -> String {
    let mut out = String::new();
    for y in 0..buf.area.height {
        let cells: Vec<_> = (0..buf.area.width).map(|x| &buf[(x, y)]).collect();
        let text: String = cells.iter().map(|c| c.symbol()).collect();
        out.push_str(text.trim_end());
        out.push('\n');
        let mut x = 0;
        let mut runs = Vec::new();
        while x < cells.len() {
            let c = cells[x];
            let key = (c.fg, c.bg, c.modifier);
            let start = x;
            while x < cells.len() && (cells[x].fg, cells[x].bg, cells[x].modifier) == key {
                x += 1;
            }
            if key
                != (
                    Color::Reset,
                    Color::Reset,
                    ratatui::style::Modifier::empty(),
                )
            {
                runs.push(format!(
                    "{start}-{} {}/{} {:?}",
                    x - 1,
                    colour_name(c.fg),
                    colour_name(c.bg),
                    c.modifier
                ));
            }
        }
        if !runs.is_empty() {
            out.push_str("  ~ ");
            out.push_str(&runs.join(" | "));
            out.push('\n');
        }
    }
    out
}

fn screen(a: &App) -> String {
    styled_cells(draw_app(a).backend().buffer())
}

#[test]
fn main_screen_in_the_light_theme() {
    let f = mosaic_repo();
    let a = themed_app(
        &f,
        "[ui]\ntheme = \"light\"\n",
        ColorMode::Palette256,
        100,
        30,
    );
    let s = screen(&a);
    // The title bar: white on blue, not the default theme's black on cyan.
    assert!(s.contains("White/Blue"), "{s}");
    assert!(!s.contains("Black/Cyan"), "{s}");
    insta::assert_snapshot!("main_light_100x30", s);
}

#[test]
fn main_screen_in_the_high_contrast_theme() {
    let f = mosaic_repo();
    let a = themed_app(
        &f,
        "[ui]\ntheme = \"high-contrast\"\n",
        ColorMode::Palette256,
        100,
        30,
    );
    let s = screen(&a);
    assert!(s.contains("Black/White"), "{s}");
    // Nothing from the 256-colour greys: ANSI colours only.
    let runs: String = s
        .lines()
        .filter(|l| l.starts_with("  ~ "))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(
        !runs
            .split(['/', ' '])
            .any(|w| !w.is_empty() && w.chars().all(|c| c.is_ascii_digit()) && w.len() == 3),
        "{runs}"
    );
    insta::assert_snapshot!("main_high_contrast_100x30", s);
}

#[test]
fn main_screen_in_the_default_theme_keeps_its_colours() {
    let f = mosaic_repo();
    let a = themed_app(&f, "", ColorMode::Palette256, 100, 30);
    let s = screen(&a);
    assert!(s.contains("Black/Cyan"), "{s}");
    insta::assert_snapshot!("main_default_100x30", s);
}

const CUSTOM: &str = "[ui.theme]\nname = \"light\"\ntitle = { fg = \"black\", bg = \"#ffd700\" }\nbad = \"#ff0000\"\n";

/// The colours of the title bar's first cell in mode `mode` with [`CUSTOM`].
fn title_cell(mode: ColorMode) -> (Color, Color) {
    let f = mosaic_repo();
    let a = themed_app(&f, CUSTOM, mode, 100, 30);
    let t = draw_app(&a);
    let c = &t.backend().buffer()[(0, 0)];
    (c.fg, c.bg)
}

#[test]
fn custom_colours_follow_the_terminals_colour_mode() {
    assert_eq!(
        title_cell(ColorMode::TrueColor),
        (Color::Black, Color::Rgb(255, 215, 0))
    );
    // #ffd700 is entry 220 of the xterm palette.
    assert_eq!(
        title_cell(ColorMode::Palette256),
        (Color::Black, Color::Indexed(220))
    );
    assert_eq!(
        title_cell(ColorMode::Ansi16),
        (Color::Black, Color::LightYellow)
    );
}

#[test]
fn ui_theme_table_sets_the_colour_of_each_style() {
    let u = UserConfig::from_text(CUSTOM, "config.toml").unwrap();
    assert_eq!(u.ui.theme, Theme::Light);
    assert_eq!(
        u.ui.theme.colours["title"],
        StyleColours {
            fg: Some(ThemeColour::Ansi(0)),
            bg: Some(ThemeColour::Rgb(255, 215, 0)),
        }
    );
    assert_eq!(
        u.ui.theme.colours["bad"],
        StyleColours {
            fg: Some(ThemeColour::Rgb(255, 0, 0)),
            bg: None,
        }
    );
    // Names, palette indices and `grey` spellings.
    let u = UserConfig::from_text(
        "[ui.theme]\nok = \"Light-Green\"\ndim = \"244\"\nborder = \"dark_grey\"\n",
        "config.toml",
    )
    .unwrap();
    assert_eq!(u.ui.theme, Theme::Default);
    assert_eq!(u.ui.theme.colours["ok"].fg, Some(ThemeColour::Ansi(10)));
    assert_eq!(
        u.ui.theme.colours["dim"].fg,
        Some(ThemeColour::Indexed(244))
    );
    assert_eq!(u.ui.theme.colours["border"].fg, Some(ThemeColour::Ansi(8)));
    // The theme names as a plain string.
    for (name, theme) in [
        ("default", Theme::Default),
        ("mono", Theme::Mono),
        ("light", Theme::Light),
        ("high-contrast", Theme::HighContrast),
    ] {
        let u = UserConfig::from_text(&format!("[ui]\ntheme = \"{name}\"\n"), "c.toml").unwrap();
        assert_eq!(u.ui.theme, theme);
    }
}

fn user_err(text: &str) -> String {
    match UserConfig::from_text(text, "config.toml") {
        Ok(_) => panic!("expected an error for:\n{text}"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn a_bad_theme_colour_names_file_line_and_key() {
    let e = user_err("[ui]\nmouse = true\n\n[ui.theme]\nok = \"green\"\nbad = \"#ff00\"\n");
    assert!(
        e.starts_with("config.toml line 6, key `ui.theme.bad`: `#ff00` is not a colour"),
        "{e}"
    );
    let e = user_err("[ui.theme]\ntitle = { fg = \"black\", bg = \"blurple\" }\n");
    assert!(
        e.starts_with("config.toml line 2, key `ui.theme.title.bg`: `blurple` is not a colour"),
        "{e}"
    );
    let e = user_err("[ui.theme]\nsidebar = \"red\"\n");
    assert!(
        e.starts_with("config.toml line 2, key `ui.theme.sidebar`: unknown style `sidebar`"),
        "{e}"
    );
    let e = user_err("[ui.theme]\nname = \"solarized\"\n");
    assert!(e.contains("config.toml line 2"), "{e}");
    assert!(e.contains("unknown theme `solarized`"), "{e}");
    let e = user_err("[ui]\ntheme = \"dark\"\n");
    assert!(e.contains("config.toml line 2"), "{e}");
    assert!(e.contains("unknown theme `dark`"), "{e}");
}

#[test]
fn the_binary_refuses_a_bad_theme_colour_in_the_users_file() {
    let f = Fixture::new();
    f.write_config("[project]\nname = \"Shop\"\n");
    f.commit("config");
    let dir = f.home().join(".config/guardrail");
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    std::fs::write(&file, "[ui.theme]\nwarn = \"orangeish\"\n").unwrap();
    let out = f.guardrail(&["config"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let e = stderr(&out);
    assert!(
        e.contains(&format!(
            "{} line 2, key `ui.theme.warn`: `orangeish` is not a colour",
            file.display()
        )),
        "{e}"
    );
}

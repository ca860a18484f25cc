//! Colours and emphasis. With NO_COLOR (or the `mono` theme) no colour is
//! used at all: selection and focus are shown by reverse video and bold.
use ratatui::style::{Color, Modifier, Style};

#[cfg(doc)]
use crate::pipeline::config::THEME_STYLES;
use crate::pipeline::config::{Theme as Name, ThemeColour, ThemeSetting};

/// A colour of `[ui.theme]` as ratatui's colour.
fn colour(c: ThemeColour) -> Color {
    match c {
        ThemeColour::Ansi(i) => ansi16(i),
        ThemeColour::Indexed(i) => Color::Indexed(i),
        ThemeColour::Rgb(r, g, b) => Color::Rgb(r, g, b),
    }
}

pub struct Theme {
    pub title: Style,
    pub header: Style,
    pub bold: Style,
    pub dim: Style,
    pub key: Style,
    pub ok: Style,
    pub warn: Style,
    pub bad: Style,
    pub border: Style,
    pub focus_border: Style,
    pub selected: Style,
    pub selected_unfocused: Style,
    pub column_header: Style,
}

impl Theme {
    pub fn new(mono: bool) -> Theme {
        let reverse = Style::default().add_modifier(Modifier::REVERSED);
        let bold = Style::default().add_modifier(Modifier::BOLD);
        if mono {
            return Theme {
                title: reverse.add_modifier(Modifier::BOLD),
                header: Style::default(),
                bold,
                dim: Style::default(),
                key: reverse,
                ok: Style::default(),
                warn: bold,
                bad: bold.add_modifier(Modifier::UNDERLINED),
                border: Style::default(),
                focus_border: bold,
                selected: reverse.add_modifier(Modifier::BOLD),
                selected_unfocused: Style::default().add_modifier(Modifier::UNDERLINED),
                column_header: Style::default().add_modifier(Modifier::UNDERLINED),
            };
        }
        // Indexed colours: right in a 256-colour tmux over SSH.
        Theme {
            title: Style::default()
                .fg(Color::Black)
                .bg(Color::Cyan)
                .add_modifier(Modifier::BOLD),
            header: Style::default().bg(Color::Indexed(236)),
            bold,
            dim: Style::default().fg(Color::Indexed(245)),
            key: Style::default().fg(Color::Black).bg(Color::Indexed(250)),
            ok: Style::default().fg(Color::Green),
            warn: Style::default().fg(Color::Yellow),
            bad: Style::default().fg(Color::Red).add_modifier(Modifier::BOLD),
            border: Style::default().fg(Color::Indexed(240)),
            focus_border: Style::default().fg(Color::Cyan),
            selected: reverse.add_modifier(Modifier::BOLD).fg(Color::Cyan),
            selected_unfocused: Style::default().add_modifier(Modifier::UNDERLINED),
            column_header: Style::default()
                .fg(Color::Indexed(250))
                .add_modifier(Modifier::UNDERLINED),
        }
    }

    /// The theme the user chose: `mono` (or NO_COLOR) wins; otherwise the
    /// built-in theme `setting.name` with each colour of `[ui.theme]` over it.
    pub fn from_setting(mono: bool, setting: &ThemeSetting) -> Theme {
        if mono {
            return Theme::new(true);
        }
        let mut t = match setting.name {
            Name::Default | Name::Mono => Theme::new(false),
            Name::Light => Theme::light(),
            Name::HighContrast => Theme::high_contrast(),
        };
        for (style, c) in &setting.colours {
            if let Some(s) = t.style_mut(style) {
                if let Some(fg) = c.fg {
                    s.fg = Some(colour(fg));
                }
                if let Some(bg) = c.bg {
                    s.bg = Some(colour(bg));
                }
            }
        }
        t
    }

    /// For a terminal with a light background: dark text, darker accents.
    pub fn light() -> Theme {
        let reverse = Style::default().add_modifier(Modifier::REVERSED);
        Theme {
            title: Style::default()
                .fg(Color::White)
                .bg(Color::Blue)
                .add_modifier(Modifier::BOLD),
            header: Style::default().bg(Color::Indexed(254)),
            bold: Style::default().add_modifier(Modifier::BOLD),
            dim: Style::default().fg(Color::Indexed(242)),
            key: Style::default().fg(Color::White).bg(Color::Indexed(240)),
            ok: Style::default().fg(Color::Indexed(28)),
            warn: Style::default().fg(Color::Indexed(130)),
            bad: Style::default()
                .fg(Color::Indexed(160))
                .add_modifier(Modifier::BOLD),
            border: Style::default().fg(Color::Indexed(248)),
            focus_border: Style::default().fg(Color::Blue),
            selected: reverse.add_modifier(Modifier::BOLD).fg(Color::Blue),
            selected_unfocused: Style::default().add_modifier(Modifier::UNDERLINED),
            column_header: Style::default()
                .fg(Color::Indexed(238))
                .add_modifier(Modifier::UNDERLINED),
        }
    }

    /// Only the brightest ANSI colours, nothing dimmed, everything that
    /// matters bold.
    pub fn high_contrast() -> Theme {
        let bold = Style::default().add_modifier(Modifier::BOLD);
        Theme {
            title: bold.fg(Color::Black).bg(Color::White),
            header: bold,
            bold,
            dim: Style::default().fg(Color::White),
            key: bold.fg(Color::Black).bg(Color::LightYellow),
            ok: bold.fg(Color::LightGreen),
            warn: bold.fg(Color::LightYellow),
            bad: bold.fg(Color::LightRed).add_modifier(Modifier::UNDERLINED),
            border: Style::default().fg(Color::White),
            focus_border: bold.fg(Color::LightYellow),
            selected: bold.fg(Color::Black).bg(Color::LightYellow),
            selected_unfocused: bold.add_modifier(Modifier::UNDERLINED),
            column_header: bold.fg(Color::White).add_modifier(Modifier::UNDERLINED),
        }
    }

    /// The style named `name` (as in [`THEME_STYLES`]).
    fn style_mut(&mut self, name: &str) -> Option<&mut Style> {
        Some(match name {
            "title" => &mut self.title,
            "header" => &mut self.header,
            "bold" => &mut self.bold,
            "dim" => &mut self.dim,
            "key" => &mut self.key,
            "ok" => &mut self.ok,
            "warn" => &mut self.warn,
            "bad" => &mut self.bad,
            "border" => &mut self.border,
            "focus_border" => &mut self.focus_border,
            "selected" => &mut self.selected,
            "selected_unfocused" => &mut self.selected_unfocused,
            "column_header" => &mut self.column_header,
            _ => return None,
        })
    }

    /// The same theme with each colour as `mode` can show it (the palette
    /// greys become ANSI colours in a 16-colour terminal).
    pub fn adapted(mut self, mode: ColorMode) -> Theme {
        for s in [
            &mut self.title,
            &mut self.header,
            &mut self.bold,
            &mut self.dim,
            &mut self.key,
            &mut self.ok,
            &mut self.warn,
            &mut self.bad,
            &mut self.border,
            &mut self.focus_border,
            &mut self.selected,
            &mut self.selected_unfocused,
            &mut self.column_header,
        ] {
            s.fg = s.fg.map(|c| mode.adapt(c));
            s.bg = s.bg.map(|c| mode.adapt(c));
        }
        self
    }
}

/// How many colours the terminal shows. Decided once at start from the
/// environment ([`ColorMode::detect`]); NO_COLOR and the `mono` theme are
/// handled apart (no colour at all).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorMode {
    /// 24-bit colour (`COLORTERM=truecolor` or `24bit`).
    TrueColor,
    /// The xterm 256-colour palette (`TERM` names `256color`).
    Palette256,
    /// The 16 ANSI colours only (`TERM=screen`, `xterm`, `vt100`, none).
    Ansi16,
}

impl ColorMode {
    /// From `COLORTERM` and `TERM`: truecolor if `COLORTERM` says so (or the
    /// terminfo name ends in `-direct`), else 256 colours if `TERM` names
    /// `256color`, else 16.
    pub fn detect(term: Option<&str>, colorterm: Option<&str>) -> ColorMode {
        let term = term.unwrap_or("");
        let ct = colorterm.unwrap_or("").to_ascii_lowercase();
        if ct == "truecolor" || ct == "24bit" || term.ends_with("-direct") {
            ColorMode::TrueColor
        } else if term.contains("256color") {
            ColorMode::Palette256
        } else {
            ColorMode::Ansi16
        }
    }

    /// [`ColorMode::detect`] on this process's environment.
    pub fn from_env() -> ColorMode {
        let var = |k| std::env::var(k).ok();
        ColorMode::detect(var("TERM").as_deref(), var("COLORTERM").as_deref())
    }

    /// The colour to send for `rgb` in this mode: itself, the nearest of the
    /// 256-colour palette, or the nearest of the 16 ANSI colours.
    pub fn rgb(self, rgb: [u8; 3]) -> Color {
        match self {
            ColorMode::TrueColor => Color::Rgb(rgb[0], rgb[1], rgb[2]),
            ColorMode::Palette256 => Color::Indexed(rgb_to_256(rgb)),
            ColorMode::Ansi16 => ansi16(rgb_to_16(rgb)),
        }
    }

    /// `c` as this mode can show it: palette colours above 15 (and RGB)
    /// become the nearest of the 16 in [`ColorMode::Ansi16`].
    pub fn adapt(self, c: Color) -> Color {
        match (self, c) {
            (ColorMode::Ansi16, Color::Indexed(i)) if i > 15 => ansi16(rgb_to_16(palette(i))),
            (_, Color::Rgb(r, g, b)) => self.rgb([r, g, b]),
            _ => c,
        }
    }
}

/// Levels of the xterm 6×6×6 cube.
const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// The usual xterm values of the 16 ANSI colours.
const ANSI: [[u8; 3]; 16] = [
    [0, 0, 0],
    [205, 0, 0],
    [0, 205, 0],
    [205, 205, 0],
    [0, 0, 238],
    [205, 0, 205],
    [0, 205, 205],
    [229, 229, 229],
    [127, 127, 127],
    [255, 0, 0],
    [0, 255, 0],
    [255, 255, 0],
    [92, 92, 255],
    [255, 0, 255],
    [0, 255, 255],
    [255, 255, 255],
];

fn dist(a: [u8; 3], b: [u8; 3]) -> u32 {
    let d = |x: u8, y: u8| (x as i32 - y as i32).pow(2) as u32;
    d(a[0], b[0]) + d(a[1], b[1]) + d(a[2], b[2])
}

/// The RGB value of xterm palette entry `i`.
pub fn palette(i: u8) -> [u8; 3] {
    match i {
        0..=15 => ANSI[i as usize],
        16..=231 => {
            let i = i - 16;
            [
                CUBE[(i / 36) as usize],
                CUBE[(i / 6 % 6) as usize],
                CUBE[(i % 6) as usize],
            ]
        }
        _ => {
            let v = 8 + (i - 232) * 10;
            [v, v, v]
        }
    }
}

/// The nearest entry of the xterm cube (16–231) or grey ramp (232–255).
pub fn rgb_to_256(rgb: [u8; 3]) -> u8 {
    // Nearest cube level per channel.
    let level = |v: u8| {
        (0..6)
            .min_by_key(|&k| (CUBE[k] as i32 - v as i32).abs())
            .unwrap_or(0) as u8
    };
    let (r, g, b) = (level(rgb[0]), level(rgb[1]), level(rgb[2]));
    let cube = 16 + 36 * r + 6 * g + b;
    // Nearest grey of the ramp: 8, 18, …, 238.
    let avg = (rgb[0] as u32 + rgb[1] as u32 + rgb[2] as u32) / 3;
    let grey = 232 + ((avg.saturating_sub(3)) / 10).min(23) as u8;
    if dist(palette(grey), rgb) < dist(palette(cube), rgb) {
        grey
    } else {
        cube
    }
}

/// The nearest of the 16 ANSI colours (0–15).
pub fn rgb_to_16(rgb: [u8; 3]) -> u8 {
    (0..16u8)
        .min_by_key(|&i| dist(ANSI[i as usize], rgb))
        .unwrap_or(0)
}

/// ANSI colour `i` (0–15) as ratatui's named colour.
fn ansi16(i: u8) -> Color {
    use Color::*;
    [
        Black,
        Red,
        Green,
        Yellow,
        Blue,
        Magenta,
        Cyan,
        Gray,
        DarkGray,
        LightRed,
        LightGreen,
        LightYellow,
        LightBlue,
        LightMagenta,
        LightCyan,
        White,
    ][(i & 15) as usize]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detection_follows_colorterm_then_term() {
        use ColorMode::*;
        let d = ColorMode::detect;
        assert_eq!(d(Some("xterm-256color"), Some("truecolor")), TrueColor);
        assert_eq!(d(Some("screen"), Some("24bit")), TrueColor);
        assert_eq!(d(Some("xterm-direct"), None), TrueColor);
        assert_eq!(d(Some("xterm-256color"), None), Palette256);
        assert_eq!(d(Some("screen-256color"), Some("")), Palette256);
        assert_eq!(d(Some("tmux-256color"), Some("yes")), Palette256);
        assert_eq!(d(Some("screen"), None), Ansi16);
        assert_eq!(d(Some("xterm"), None), Ansi16);
        assert_eq!(d(Some("vt100"), None), Ansi16);
        assert_eq!(d(None, None), Ansi16);
    }

    #[test]
    fn rgb_maps_to_the_nearest_of_256() {
        // Cube corners and levels.
        assert_eq!(rgb_to_256([0, 0, 0]), 16);
        assert_eq!(rgb_to_256([255, 255, 255]), 231);
        assert_eq!(rgb_to_256([255, 0, 0]), 196);
        assert_eq!(rgb_to_256([0, 255, 0]), 46);
        assert_eq!(rgb_to_256([0, 0, 255]), 21);
        assert_eq!(rgb_to_256([95, 135, 175]), 16 + 36 + 6 * 2 + 3);
        // Near a level, not exactly on it.
        assert_eq!(rgb_to_256([250, 100, 10]), 16 + 36 * 5 + 6); // r 5, g 1, b 0
                                                                 // Greys go to the ramp where it is nearer than the cube.
        assert_eq!(rgb_to_256([128, 128, 128]), 244);
        assert_eq!(rgb_to_256([8, 8, 8]), 232);
        assert_eq!(rgb_to_256([238, 238, 238]), 255);
        assert_eq!(rgb_to_256([100, 100, 100]), 241);
        // Every palette entry above 15 maps to itself or one of equal RGB.
        for i in 16..=255u8 {
            assert_eq!(palette(rgb_to_256(palette(i))), palette(i), "entry {i}");
        }
    }

    #[test]
    fn rgb_maps_to_the_nearest_of_16() {
        assert_eq!(rgb_to_16([0, 0, 0]), 0);
        assert_eq!(rgb_to_16([255, 255, 255]), 15);
        assert_eq!(rgb_to_16([200, 10, 10]), 1);
        assert_eq!(rgb_to_16([255, 40, 40]), 9);
        assert_eq!(rgb_to_16([10, 200, 20]), 2);
        assert_eq!(rgb_to_16([30, 30, 230]), 4);
        assert_eq!(rgb_to_16([120, 120, 130]), 8);
        assert_eq!(rgb_to_16([220, 220, 220]), 7);
        assert_eq!(ColorMode::Ansi16.rgb([200, 10, 10]), Color::Red);
        assert_eq!(ColorMode::Palette256.rgb([255, 0, 0]), Color::Indexed(196));
        assert_eq!(ColorMode::TrueColor.rgb([1, 2, 3]), Color::Rgb(1, 2, 3));
        // The theme's greys fall to the 16 in a 16-colour terminal.
        assert_eq!(ColorMode::Ansi16.adapt(Color::Indexed(236)), Color::Black);
        assert_eq!(
            ColorMode::Ansi16.adapt(Color::Indexed(245)),
            Color::DarkGray
        );
        assert_eq!(
            ColorMode::Palette256.adapt(Color::Indexed(245)),
            Color::Indexed(245)
        );
    }
}

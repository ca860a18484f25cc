//! Real pictures for the evidence preview where the terminal has an image
//! protocol (kitty, sixel, iTerm2), through `ratatui-image`; half blocks
//! ([`super::review::half_blocks`]) everywhere else.
//!
//! The protocol is chosen once at start ([`Pictures::from_setting`]) from
//! `[ui] images` and the environment only: the terminal is never asked.
//! A query (`Picker::from_query_stdio`) leaves a thread reading stdin when
//! the terminal does not answer, which would take the first key pressed
//! from the console, and it would delay the start in every terminal that
//! has no protocol at all. A terminal the environment does not name gets
//! half blocks; `images = "kitty"` (or `sixel`, `iterm2`) forces one.
use std::cell::RefCell;

use ratatui::layout::Rect;
use ratatui::Frame;
use ratatui_image::picker::{Picker, ProtocolType};
use ratatui_image::protocol::StatefulProtocol;
use ratatui_image::{FontSize, Resize, StatefulImage};

use crate::pipeline::config::Images;
use crate::pipeline::evidence::Thumbnail;

/// Columns and rows the preview takes at most (the same for every protocol).
pub const PREVIEW_COLS: u32 = 48;
pub const PREVIEW_ROWS: u32 = 16;

/// The font size assumed when the terminal does not report its pixel size.
const DEFAULT_FONT: FontSize = FontSize::new(10, 20);

/// The image protocol for `setting` in this environment, or `None` for
/// half blocks. `var` reads an environment variable; `tty` says whether
/// stdin and stdout are a terminal.
///
/// - without colour (`mono`, NO_COLOR): half blocks (shaded), always;
/// - `kitty`, `sixel`, `iterm2`: that protocol, even inside tmux;
/// - `auto`: half blocks when not on a terminal, with `TERM` unset or
///   `dumb`, and inside tmux or screen (passthrough is fragile); kitty for
///   `KITTY_WINDOW_ID`, `TERM=xterm-kitty` and ghostty; iTerm2 for
///   `TERM_PROGRAM=iTerm.app` or `WezTerm` and `LC_TERMINAL=iTerm2`; sixel
///   for foot, mlterm and contour; half blocks for everything else.
pub fn choose(
    setting: Images,
    mono: bool,
    tty: bool,
    var: &dyn Fn(&str) -> Option<String>,
) -> Option<ProtocolType> {
    if mono {
        return None;
    }
    match setting {
        Images::Halfblocks => return None,
        Images::Kitty => return Some(ProtocolType::Kitty),
        Images::Sixel => return Some(ProtocolType::Sixel),
        Images::Iterm2 => return Some(ProtocolType::Iterm2),
        Images::Auto => {}
    }
    let set = |k: &str| var(k).is_some_and(|v| !v.is_empty());
    let term = var("TERM").unwrap_or_default();
    let program = var("TERM_PROGRAM").unwrap_or_default();
    if !tty || term.is_empty() || term == "dumb" {
        return None;
    }
    if set("TMUX") || term.starts_with("tmux") || term.starts_with("screen") || program == "tmux" {
        return None;
    }
    if set("KITTY_WINDOW_ID")
        || term == "xterm-kitty"
        || term == "xterm-ghostty"
        || program == "ghostty"
    {
        return Some(ProtocolType::Kitty);
    }
    if program == "iTerm.app"
        || program == "WezTerm"
        || var("LC_TERMINAL").is_some_and(|v| v == "iTerm2")
    {
        return Some(ProtocolType::Iterm2);
    }
    if term.starts_with("foot") || term.starts_with("mlterm") || term.starts_with("contour") {
        return Some(ProtocolType::Sixel);
    }
    None
}

/// How the preview draws: the picker of the chosen protocol (none for half
/// blocks) and the encoded picture of the file last shown, kept between
/// frames so that it is encoded (and, for kitty, sent) once, and again
/// only when its area changes size.
#[derive(Default)]
pub struct Pictures {
    picker: Option<Picker>,
    shown: RefCell<Option<Shown>>,
}

struct Shown {
    branch: String,
    file: String,
    /// The picture encoded, compared by value: a new read of the same file
    /// (a new commit) may hold other pixels, even at the same address.
    pixels: Vec<[u8; 3]>,
    width: u32,
    proto: StatefulProtocol,
}

impl std::fmt::Debug for Pictures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pictures")
            .field("protocol", &self.protocol())
            .finish()
    }
}

impl Pictures {
    /// Half blocks (the default; what snapshot tests draw).
    pub fn halfblocks() -> Pictures {
        Pictures::default()
    }

    /// A picker for `protocol` at the terminal's font size (from the
    /// window's pixel size where the terminal reports it, else 10×20).
    pub fn with_protocol(protocol: Option<ProtocolType>) -> Pictures {
        let picker = protocol.map(|p| {
            #[allow(deprecated)] // the alternative queries the terminal
            let mut picker = Picker::from_fontsize(font_size().unwrap_or(DEFAULT_FONT));
            picker.set_protocol_type(p);
            picker
        });
        Pictures {
            picker,
            shown: RefCell::new(None),
        }
    }

    /// `[ui] images` in this process's environment (see [`choose`]).
    pub fn from_setting(setting: Images, mono: bool) -> Pictures {
        // SAFETY: isatty only looks at the descriptors.
        let tty = unsafe { libc::isatty(0) == 1 && libc::isatty(1) == 1 };
        let var = |k: &str| std::env::var(k).ok();
        Pictures::with_protocol(choose(setting, mono, tty, &var))
    }

    /// The protocol in use; `None` for half blocks.
    pub fn protocol(&self) -> Option<ProtocolType> {
        self.picker.as_ref().map(Picker::protocol_type)
    }

    /// The largest picture (pixels) worth decoding for the preview: one
    /// pixel per column and two per row for half blocks, the font's pixels
    /// per cell for a protocol.
    pub fn max_pixels(&self) -> (u32, u32) {
        match &self.picker {
            None => (PREVIEW_COLS, PREVIEW_ROWS * 2),
            Some(p) => {
                let fs = p.font_size();
                (
                    PREVIEW_COLS * fs.width.max(1) as u32,
                    PREVIEW_ROWS * fs.height.max(1) as u32,
                )
            }
        }
    }

    /// The rows `th` takes on screen.
    pub fn rows(&self, th: &Thumbnail) -> u16 {
        let per_row = match &self.picker {
            None => 2,
            Some(p) => p.font_size().height.max(1) as u32,
        };
        th.height.div_ceil(per_row).min(PREVIEW_ROWS) as u16
    }

    /// Draws `th` (file `file` of `branch`) into `area` with the protocol;
    /// false (nothing drawn) for half blocks.
    pub fn draw(
        &self,
        f: &mut Frame,
        area: Rect,
        branch: &str,
        file: &str,
        th: &Thumbnail,
    ) -> bool {
        let Some(picker) = &self.picker else {
            return false;
        };
        let mut shown = self.shown.borrow_mut();
        let current = shown.as_ref().is_some_and(|s| {
            s.branch == branch && s.file == file && s.width == th.width && s.pixels == th.pixels
        });
        if !current {
            let rgb: Vec<u8> = th.pixels.iter().flatten().copied().collect();
            let Some(img) = ::image::RgbImage::from_raw(th.width, th.height, rgb) else {
                return false;
            };
            *shown = Some(Shown {
                branch: branch.to_string(),
                file: file.to_string(),
                pixels: th.pixels.clone(),
                width: th.width,
                proto: picker.new_resize_protocol(img.into()),
            });
        }
        if let Some(s) = shown.as_mut() {
            f.render_stateful_widget(
                StatefulImage::default().resize(Resize::Fit(None)),
                area,
                &mut s.proto,
            );
        }
        true
    }
}

/// Pixels per cell from the window size the terminal reports, if it does.
fn font_size() -> Option<FontSize> {
    // SAFETY: TIOCGWINSZ fills a winsize; a zeroed one is valid.
    let mut ws: libc::winsize = unsafe { std::mem::zeroed() };
    if unsafe { libc::ioctl(1, libc::TIOCGWINSZ, &mut ws) } != 0 {
        return None;
    }
    if ws.ws_col == 0 || ws.ws_row == 0 || ws.ws_xpixel == 0 || ws.ws_ypixel == 0 {
        return None;
    }
    Some(FontSize::new(
        ws.ws_xpixel / ws.ws_col,
        ws.ws_ypixel / ws.ws_row,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(setting: Images, mono: bool, tty: bool, env: &[(&str, &str)]) -> Option<ProtocolType> {
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let var = move |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        choose(setting, mono, tty, &var)
    }

    /// A new read of the same file with other pixels is encoded again,
    /// whatever address its pixels landed at.
    #[test]
    fn a_new_picture_of_the_same_file_is_encoded_again() {
        use ratatui::backend::TestBackend;
        use ratatui::Terminal;
        let pics = Pictures::with_protocol(Some(ProtocolType::Kitty));
        let th = |c: u8| Thumbnail {
            width: 4,
            height: 4,
            pixels: vec![[c, c, c]; 16],
        };
        let mut term = Terminal::new(TestBackend::new(20, 10)).unwrap();
        let area = ratatui::layout::Rect::new(0, 0, 10, 5);
        let a = th(10);
        term.draw(|f| assert!(pics.draw(f, area, "main", "x.png", &a)))
            .unwrap();
        assert_eq!(pics.shown.borrow().as_ref().unwrap().pixels, a.pixels);
        drop(a);
        // Likely at the address `a` had: the allocator reuses it.
        let b = th(200);
        term.draw(|f| assert!(pics.draw(f, area, "main", "x.png", &b)))
            .unwrap();
        assert_eq!(pics.shown.borrow().as_ref().unwrap().pixels, b.pixels);
    }

    #[test]
    fn auto_decides_from_the_environment_alone() {
        use ProtocolType::*;
        let auto = |env: &[(&str, &str)]| pick(Images::Auto, false, true, env);
        // No hint: half blocks (no query, no delay).
        assert_eq!(auto(&[("TERM", "xterm-256color")]), None);
        assert_eq!(
            auto(&[("TERM", "xterm-256color"), ("COLORTERM", "truecolor")]),
            None
        );
        assert_eq!(auto(&[]), None);
        assert_eq!(auto(&[("TERM", "dumb"), ("KITTY_WINDOW_ID", "1")]), None);
        // Hints.
        assert_eq!(auto(&[("TERM", "xterm-kitty")]), Some(Kitty));
        assert_eq!(
            auto(&[("TERM", "xterm-256color"), ("KITTY_WINDOW_ID", "3")]),
            Some(Kitty)
        );
        assert_eq!(auto(&[("TERM", "xterm-ghostty")]), Some(Kitty));
        assert_eq!(
            auto(&[("TERM", "xterm-256color"), ("TERM_PROGRAM", "iTerm.app")]),
            Some(Iterm2)
        );
        assert_eq!(
            auto(&[("TERM", "xterm-256color"), ("TERM_PROGRAM", "WezTerm")]),
            Some(Iterm2)
        );
        assert_eq!(
            auto(&[("TERM", "xterm-256color"), ("LC_TERMINAL", "iTerm2")]),
            Some(Iterm2)
        );
        assert_eq!(auto(&[("TERM", "foot")]), Some(Sixel));
        assert_eq!(auto(&[("TERM", "mlterm")]), Some(Sixel));
        // An empty hint is no hint.
        assert_eq!(
            auto(&[("TERM", "xterm-256color"), ("KITTY_WINDOW_ID", "")]),
            None
        );
        // Inside tmux or screen: half blocks, whatever the outer terminal.
        assert_eq!(
            auto(&[("TERM", "xterm-kitty"), ("TMUX", "/tmp/tmux-1/default,1,0")]),
            None
        );
        assert_eq!(
            auto(&[("TERM", "tmux-256color"), ("KITTY_WINDOW_ID", "1")]),
            None
        );
        assert_eq!(
            auto(&[("TERM", "screen-256color"), ("TERM_PROGRAM", "iTerm.app")]),
            None
        );
        assert_eq!(
            auto(&[
                ("TERM", "xterm-256color"),
                ("TERM_PROGRAM", "tmux"),
                ("LC_TERMINAL", "iTerm2")
            ]),
            None
        );
        // Not on a terminal (tests, CI, a pipe): half blocks.
        assert_eq!(
            pick(Images::Auto, false, false, &[("TERM", "xterm-kitty")]),
            None
        );
    }

    #[test]
    fn a_forced_protocol_wins_except_without_colour() {
        use ProtocolType::*;
        let tmux = [("TERM", "tmux-256color"), ("TMUX", "x")];
        assert_eq!(pick(Images::Kitty, false, true, &tmux), Some(Kitty));
        assert_eq!(pick(Images::Sixel, false, false, &[]), Some(Sixel));
        assert_eq!(
            pick(Images::Iterm2, false, true, &[("TERM", "xterm")]),
            Some(Iterm2)
        );
        assert_eq!(
            pick(Images::Halfblocks, false, true, &[("TERM", "xterm-kitty")]),
            None
        );
        // NO_COLOR or the mono theme: shaded half blocks, always.
        assert_eq!(
            pick(Images::Kitty, true, true, &[("TERM", "xterm-kitty")]),
            None
        );
        assert_eq!(
            pick(Images::Auto, true, true, &[("TERM", "xterm-kitty")]),
            None
        );
    }

    #[test]
    fn the_preview_takes_the_same_cells_with_every_protocol() {
        let half = Pictures::halfblocks();
        assert_eq!(half.max_pixels(), (48, 32));
        let th = Thumbnail {
            width: 48,
            height: 32,
            pixels: vec![[0, 0, 0]; 48 * 32],
        };
        assert_eq!(half.rows(&th), 16);
        let kitty = Pictures::with_protocol(Some(ProtocolType::Kitty));
        let (w, h) = kitty.max_pixels();
        let fs = kitty.picker.as_ref().unwrap().font_size();
        assert_eq!((w / fs.width as u32, h / fs.height as u32), (48, 16));
        let big = Thumbnail {
            width: w,
            height: h,
            pixels: vec![[0, 0, 0]; (w * h) as usize],
        };
        assert_eq!(kitty.rows(&big), 16);
    }

    #[test]
    fn images_in_the_users_file() {
        use crate::pipeline::config::UserConfig;
        let read = |v: &str| UserConfig::from_text(&format!("[ui]\nimages = \"{v}\"\n"), "c.toml");
        assert_eq!(UserConfig::default().ui.images, Images::Auto);
        for (v, want) in [
            ("auto", Images::Auto),
            ("kitty", Images::Kitty),
            ("sixel", Images::Sixel),
            ("iterm2", Images::Iterm2),
            ("halfblocks", Images::Halfblocks),
        ] {
            assert_eq!(read(v).unwrap().ui.images, want, "{v}");
        }
        let e = read("jpeg").unwrap_err().to_string();
        assert!(e.contains("c.toml") && e.contains("images"), "{e}");
    }
}

//! ANSI colour codes (SGR) to ratatui spans, so a script's colours show as
//! colours in the log pane. Other escape sequences are dropped; with
//! `mono` every colour is dropped too.
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};

use crate::pipeline::runner::{escape_pieces, EscapePiece};

/// One line of script output (after `\r` handling) as styled spans.
pub fn line(text: &str, mono: bool) -> Line<'static> {
    let mut spans = Vec::new();
    let mut style = Style::default();
    let mut cur = String::new();
    for piece in escape_pieces(text) {
        match piece {
            EscapePiece::Text(t) => {
                for c in t.chars() {
                    if c == '\t' {
                        cur.push_str("    ");
                    } else if !c.is_control() {
                        cur.push(c);
                    }
                }
            }
            EscapePiece::Sgr(params) => {
                if !cur.is_empty() {
                    spans.push(Span::styled(std::mem::take(&mut cur), style));
                }
                if !mono {
                    style = sgr(style, params);
                }
            }
        }
    }
    if !cur.is_empty() {
        spans.push(Span::styled(cur, style));
    }
    Line::from(spans)
}

fn basic(n: u16) -> Color {
    match n {
        0 => Color::Black,
        1 => Color::Red,
        2 => Color::Green,
        3 => Color::Yellow,
        4 => Color::Blue,
        5 => Color::Magenta,
        6 => Color::Cyan,
        7 => Color::Gray,
        8 => Color::DarkGray,
        9 => Color::LightRed,
        10 => Color::LightGreen,
        11 => Color::LightYellow,
        12 => Color::LightBlue,
        13 => Color::LightMagenta,
        14 => Color::LightCyan,
        _ => Color::White,
    }
}

fn sgr(mut style: Style, params: &str) -> Style {
    let nums: Vec<u16> = if params.is_empty() {
        vec![0]
    } else {
        params.split(';').map(|p| p.parse().unwrap_or(0)).collect()
    };
    let mut i = 0;
    while i < nums.len() {
        let n = nums[i];
        match n {
            0 => style = Style::default(),
            1 => style = style.add_modifier(Modifier::BOLD),
            2 => style = style.add_modifier(Modifier::DIM),
            3 => style = style.add_modifier(Modifier::ITALIC),
            4 => style = style.add_modifier(Modifier::UNDERLINED),
            7 => style = style.add_modifier(Modifier::REVERSED),
            22 => style = style.remove_modifier(Modifier::BOLD | Modifier::DIM),
            23 => style = style.remove_modifier(Modifier::ITALIC),
            24 => style = style.remove_modifier(Modifier::UNDERLINED),
            27 => style = style.remove_modifier(Modifier::REVERSED),
            30..=37 => style = style.fg(basic(n - 30)),
            39 => style = style.fg(Color::Reset),
            40..=47 => style = style.bg(basic(n - 40)),
            49 => style = style.bg(Color::Reset),
            90..=97 => style = style.fg(basic(n - 90 + 8)),
            100..=107 => style = style.bg(basic(n - 100 + 8)),
            38 | 48 => {
                let (color, used) = match nums.get(i + 1) {
                    Some(5) => (nums.get(i + 2).map(|c| Color::Indexed(*c as u8)), 2),
                    Some(2) => (
                        match (nums.get(i + 2), nums.get(i + 3), nums.get(i + 4)) {
                            (Some(r), Some(g), Some(b)) => {
                                Some(Color::Rgb(*r as u8, *g as u8, *b as u8))
                            }
                            _ => None,
                        },
                        4,
                    ),
                    _ => (None, 0),
                };
                if let Some(c) = color {
                    style = if n == 38 { style.fg(c) } else { style.bg(c) };
                }
                i += used;
            }
            _ => {}
        }
        i += 1;
    }
    style
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_become_styles_and_other_escapes_vanish() {
        let l = line(
            "\x1b[1;32mPASS\x1b[0m done \x1b[2K\x1b]0;title\x07ok",
            false,
        );
        assert_eq!(l.spans[0].content, "PASS");
        assert_eq!(l.spans[0].style.fg, Some(Color::Green));
        assert!(l.spans[0].style.add_modifier.contains(Modifier::BOLD));
        let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "PASS done ok");
        let l = line("\x1b[38;5;196mred\x1b[m", false);
        assert_eq!(l.spans[0].style.fg, Some(Color::Indexed(196)));
        let l = line("\x1b[31mred", true);
        assert_eq!(l.spans[0].style, Style::default());
    }

    #[test]
    fn the_pane_drops_what_the_log_drops() {
        // DCS (sixel) and APC (kitty graphics) strings: their text must not
        // show in the pane, as it does not in the log.
        let raw = "a\x1bPq#0;2;0;0;0\x1b\\b\x1b_Gf=100;AAAA\x1b\\c\x1b[32md";
        let l = line(raw, false);
        let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, crate::pipeline::runner::strip_ansi(raw));
        assert_eq!(text, "abcd");
        assert_eq!(l.spans.last().unwrap().style.fg, Some(Color::Green));
    }
}

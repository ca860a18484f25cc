//! Colours and emphasis. With NO_COLOR (or the `mono` theme) no colour is
//! used at all: selection and focus are shown by reverse video and bold.
use ratatui::style::{Color, Modifier, Style};

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
}

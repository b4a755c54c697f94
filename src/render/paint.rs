//! The one ANSI painter: every coloured word keyplan prints goes through it (as `anstyle`
//! styles), and it paints nothing when colour is off. Whether colour is on is decided once, in
//! the commands layer (`Ui::new`), from `--no-color`, `NO_COLOR`, `CLICOLOR_FORCE`, `CLICOLOR`,
//! `TERM` and whether the stream is a terminal.

use anstyle::{AnsiColor, Style};

use super::Sign;

/// ANSI styling that does nothing when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    color: bool,
}

const fn fg(color: AnsiColor) -> Style {
    Style::new().fg_color(Some(anstyle::Color::Ansi(color)))
}

impl Paint {
    pub const BOLD: Style = Style::new().bold();
    pub const RED: Style = fg(AnsiColor::Red);
    pub const GREEN: Style = fg(AnsiColor::Green);
    pub const YELLOW: Style = fg(AnsiColor::Yellow);
    pub const CYAN: Style = fg(AnsiColor::Cyan);
    pub const BOLD_RED: Style = Self::RED.bold();
    pub const BOLD_GREEN: Style = Self::GREEN.bold();
    pub const BOLD_YELLOW: Style = Self::YELLOW.bold();
    pub const DIM: Style = Style::new().dimmed();

    pub fn new(color: bool) -> Self {
        Paint { color }
    }

    pub fn paint(self, style: Style, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("{style}{text}{style:#}")
        } else {
            text.to_owned()
        }
    }

    pub(super) fn sign(self, sign: Sign) -> String {
        match sign {
            Sign::Replace => {
                if self.color {
                    format!(
                        "{}/{}",
                        self.paint(Self::GREEN, "+"),
                        self.paint(Self::RED, "-")
                    )
                } else {
                    "+/-".to_owned()
                }
            }
            Sign::Create | Sign::Add => self.paint(Self::GREEN, sign.marker()),
            Sign::Update => self.paint(Self::YELLOW, sign.marker()),
            Sign::Delete | Sign::Remove => self.paint(Self::RED, sign.marker()),
            Sign::None => String::new(),
        }
    }
}

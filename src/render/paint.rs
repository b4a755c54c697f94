//! The one ANSI painter: every coloured word keyplan prints goes through it, and it paints
//! nothing when colour is off (not a terminal, `NO_COLOR`, `--no-color`).

use super::Sign;

/// ANSI styling that does nothing when colour is off.
#[derive(Debug, Clone, Copy)]
pub struct Paint {
    color: bool,
}

impl Paint {
    pub const BOLD: &'static str = "1";
    pub const RED: &'static str = "31";
    pub const GREEN: &'static str = "32";
    pub const YELLOW: &'static str = "33";
    pub const CYAN: &'static str = "36";
    pub const BOLD_RED: &'static str = "1;31";
    pub const BOLD_GREEN: &'static str = "1;32";
    pub const BOLD_YELLOW: &'static str = "1;33";
    pub const DIM: &'static str = "2";

    pub fn new(color: bool) -> Self {
        Paint { color }
    }

    pub fn paint(self, code: &str, text: &str) -> String {
        if self.color && !text.is_empty() {
            format!("\x1b[{code}m{text}\x1b[0m")
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

//! `keyplan completions SHELL` and `keyplan man`: the command-line grammar written out for a
//! shell's completion and for `man`, from the same definition the parser uses, so neither can
//! fall behind it.

use super::cli::{CompletionsArgs, command};
use super::error::{CommandError, CommandResult, Success};
use super::ui::Ui;

pub fn completions(ui: &Ui, args: &CompletionsArgs) -> CommandResult {
    let mut grammar = command();
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut grammar, "keyplan", &mut script);
    ui.out(&text(script, "the completion script")?);
    Ok(Success::Done)
}

pub fn man(ui: &Ui) -> CommandResult {
    let mut page = Vec::new();
    clap_mangen::Man::new(command())
        .render(&mut page)
        .map_err(|e| CommandError::wrap("render the man page", &e))?;
    ui.out(&title_first(&text(page, "the man page")?));
    Ok(Success::Done)
}

/// The page with its `.TH` line first, as man(7) pages begin (and as `file` and packagers
/// recognise them); `clap_mangen` writes its apostrophe-string definitions first, which may as
/// well follow the title.
fn title_first(page: &str) -> String {
    let Some(title) = page.lines().find(|line| line.starts_with(".TH ")) else {
        return page.to_owned();
    };
    let rest: Vec<&str> = page.lines().filter(|line| *line != title).collect();
    format!("{title}\n{}\n", rest.join("\n"))
}

fn text(bytes: Vec<u8>, what: &str) -> Result<String, CommandError> {
    String::from_utf8(bytes).map_err(|e| CommandError::wrap(format!("render {what}"), &e))
}

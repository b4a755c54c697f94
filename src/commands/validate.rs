//! `keyplan validate`: checks the manifest offline.

use super::cli::GlobalArgs;
use super::context::load_manifest;
use super::error::{CommandResult, Success};
use super::ui::Ui;

pub fn run(ui: &Ui, global: &GlobalArgs) -> CommandResult {
    let manifest = load_manifest(ui, &global.file)?;
    let projects = manifest.desired.projects.len();
    let keys: usize = manifest.desired.projects.iter().map(|p| p.keys.len()).sum();
    ui.out(&format!(
        "{} is valid: {projects} project{}, {keys} key{}.",
        global.file.display(),
        plural(projects),
        plural(keys)
    ));
    Ok(Success::Done)
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

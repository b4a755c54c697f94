//! `keyplan validate`: checks the manifest offline, for people (`human`), for programs
//! (`json`) or for GitHub's pull-request annotations (`github`).

use crate::manifest::{Diagnostic, ManifestError};
use crate::render::{Validation, github_error, validation_github, validation_json};

use super::cli::{GlobalArgs, ValidateArgs, ValidateFormat};
use super::context::{invalid_manifest, load_manifest};
use super::error::{CommandError, CommandResult, Success, Topic};
use super::ui::Ui;

pub fn run(ui: &Ui, global: &GlobalArgs, args: &ValidateArgs) -> CommandResult {
    if args.format == ValidateFormat::Human {
        let manifest = load_manifest(ui, &global.file)?;
        let (projects, keys) = counts(&manifest);
        ui.out(&format!(
            "{} is valid: {projects} project{}, {keys} key{}.",
            global.file.display(),
            plural(projects),
            plural(keys)
        ));
        return Ok(Success::Done);
    }
    let file = global.file.display().to_string();
    let (diagnostics, counts, failure): (Vec<Diagnostic>, _, _) =
        match crate::manifest::load(&global.file) {
            Ok(manifest) => (manifest.warnings.clone(), Some(counts(&manifest)), None),
            Err(ManifestError::Invalid(diagnostics)) => {
                let failure = invalid_manifest(&global.file, &diagnostics);
                (diagnostics.items, None, Some(failure))
            }
            Err(error) => {
                // No diagnostics to show: the error itself, in the format asked for.
                let mut failure = CommandError::failed(error.to_string()).about(Topic::Manifest);
                if args.format == ValidateFormat::Github {
                    ui.out(&github_error(&file, &failure.message));
                    failure.documented = true;
                }
                // JSON: the failure document (commands::run writes it).
                return Err(failure);
            }
        };
    let validation = Validation {
        file: &file,
        diagnostics: &diagnostics,
        counts,
    };
    ui.out(&match args.format {
        ValidateFormat::Json => validation_json(&validation),
        ValidateFormat::Github | ValidateFormat::Human => validation_github(&validation),
    });
    match failure {
        Some(mut failure) => {
            // The document above lists every problem; stderr says the one line.
            failure.reported = false;
            failure.causes.clear();
            failure.hints.clear();
            failure.documented = true;
            Err(failure)
        }
        None => Ok(Success::Done),
    }
}

fn counts(manifest: &crate::manifest::Manifest) -> (usize, usize) {
    let projects = manifest.desired.projects.len();
    let keys = manifest.desired.projects.iter().map(|p| p.keys.len()).sum();
    (projects, keys)
}

pub fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

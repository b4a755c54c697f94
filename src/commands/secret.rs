//! `keyplan secret get PROJECT/KEY`: reads a stored secret back, on explicit request.

use crate::desired::ProjectSelector;
use crate::exit::ExitCode;
use crate::model::{Project, ProjectId};

use super::cli::{GlobalArgs, SecretGetArgs};
use super::context::{load_manifest, open_store};
use super::failure::{CommandResult, Failure};
use super::ui::Ui;

pub fn get(ui: &Ui, global: &GlobalArgs, args: &SecretGetArgs) -> CommandResult {
    let manifest = load_manifest(ui, &global.file)?;
    let Some((project, key)) = args.key.split_once('/') else {
        return Err(Failure::new(ExitCode::Usage, format!("{:?} is not PROJECT/KEY", args.key))
            .hint("e.g. keyplan secret get search-prod/ingest-worker"));
    };
    let project = manifest_project(&manifest.desired.projects, project)?;
    let store = open_store(&manifest, &args.store)?;
    match store.get(&project, key)? {
        Some(secret) => {
            ui.out(secret.expose());
            Ok(ExitCode::Success)
        }
        None => Err(Failure::error(format!(
            "{} holds no secret for {}/{key}",
            store.describe(),
            project.name
        ))
        .hint("secrets exist only for keys keyplan created; the API shows a secret once, at creation")),
    }
}

/// The manifest's project named by `wanted` (its name or id).
fn manifest_project(
    projects: &[crate::desired::DesiredProject],
    wanted: &str,
) -> Result<Project, Failure> {
    projects
        .iter()
        .find_map(|p| match &p.selector {
            ProjectSelector::Name(name) if name == wanted => Some(Project {
                id: ProjectId(String::new()),
                name: name.clone(),
            }),
            ProjectSelector::Id(id) if id.as_str() == wanted => Some(Project {
                id: id.clone(),
                name: String::new(),
            }),
            _ => None,
        })
        .ok_or_else(|| {
            Failure::error(format!("the manifest declares no project {wanted:?}"))
                .hint("name a project of the manifest, by name or id")
        })
}

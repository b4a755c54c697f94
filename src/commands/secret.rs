//! `keyplan secret get PROJECT/KEY`: reads a stored secret back, on explicit request.
//!
//! Store entries are named by the project's id (and name), and the user may type either. A
//! store that lists its own projects (a file: every record carries both) answers alone, with no
//! Admin API credentials. Otherwise, or when the store knows the name under several ids, the
//! project is resolved through the Admin API like everywhere else.

use crate::desired::{Desired, ProjectSelector};
use crate::model::Project;
use crate::secrets::SecretStore;

use super::cli::{GlobalArgs, SecretGetArgs};
use super::context::{Connection, load_manifest, observe_projects, open_store};
use super::error::{CommandError, CommandResult, Success};
use super::ui::Ui;

pub async fn get(ui: &Ui, global: &GlobalArgs, args: &SecretGetArgs) -> CommandResult {
    let manifest = load_manifest(ui, &global.file)?;
    let (wanted_project, key) = (&args.key.project, &args.key.key);
    let store = open_store(&manifest, &args.store)?;
    let project = match from_store(&manifest.desired, store.as_ref(), wanted_project)? {
        Some(project) => project,
        None => through_api(global, &manifest.desired, wanted_project).await?,
    };
    match store.get(&project, key)? {
        Some(secret) => {
            ui.out(secret.expose());
            Ok(Success::Done)
        }
        None => Err(CommandError::failed(format!(
            "{} holds no secret for {}/{key}",
            store.describe(),
            project.name
        ))
        .hint(
            "secrets exist only for keys keyplan created; the API shows a secret once, at creation",
        )),
    }
}

/// The project `wanted` (a name or an id) names, as the store alone knows it: the one project
/// the store holds secrets of under that name or id, if the manifest declares it. A store
/// holding nothing at all answers too (with an empty project: `get` finds nothing in it).
/// `None` when the store cannot list its projects, or knows none or several by that name.
fn from_store(
    desired: &Desired,
    store: &dyn SecretStore,
    wanted: &str,
) -> Result<Option<Project>, CommandError> {
    let Some(known) = store.known_projects()? else {
        return Ok(None);
    };
    if known.is_empty() {
        return Ok(Some(Project {
            id: crate::model::ProjectId(wanted.to_owned()),
            name: wanted.to_owned(),
        }));
    }
    let declared = |project: &Project| {
        desired.projects.iter().any(|d| match &d.selector {
            ProjectSelector::Name(name) => *name == project.name,
            ProjectSelector::Id(id) => *id == project.id,
        })
    };
    let mut matching: Vec<Project> = known
        .into_iter()
        .filter(|p| (p.name == wanted || p.id.as_str() == wanted) && declared(p))
        .collect();
    // One id under several names (the project was renamed between two puts) is one project.
    matching.dedup_by(|a, b| a.id == b.id);
    Ok(match <[Project; 1]>::try_from(matching) {
        Ok([project]) => Some(project),
        Err(_) => None,
    })
}

/// The project `wanted` names, resolved through the Admin API (Pinecone or the sandbox).
async fn through_api(
    global: &GlobalArgs,
    desired: &Desired,
    wanted: &String,
) -> Result<Project, CommandError> {
    let connection = Connection::open(global, Some(desired)).await?;
    let resolved = observe_projects(&connection.api, desired, std::slice::from_ref(wanted)).await;
    connection.close().await;
    let (_, (_, projects)) = resolved?;
    projects
        .into_iter()
        .next()
        .ok_or_else(|| CommandError::failed(format!("the manifest declares no project {wanted:?}")))
}

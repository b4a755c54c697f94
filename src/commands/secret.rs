//! `keyplan secret get PROJECT/KEY`: reads a stored secret back, on explicit request.
//!
//! The project is resolved through the Admin API like everywhere else, because store entries
//! are named by the project's name and id, and either may be what the user typed.

use super::cli::{GlobalArgs, SecretGetArgs};
use super::context::{Connection, load_manifest, observe_projects, open_store};
use super::error::{CommandError, CommandResult, Success};
use super::ui::Ui;

pub async fn get(ui: &Ui, global: &GlobalArgs, args: &SecretGetArgs) -> CommandResult {
    let manifest = load_manifest(ui, &global.file)?;
    let (wanted_project, key) = (&args.key.project, &args.key.key);
    let connection = Connection::open(global, Some(&manifest.desired)).await?;
    let resolved = observe_projects(
        &connection.api,
        &manifest.desired,
        std::slice::from_ref(wanted_project),
    )
    .await;
    connection.close().await;
    let (_, (_, projects)) = resolved?;
    let Some(project) = projects.into_iter().next() else {
        return Err(CommandError::failed(format!(
            "the manifest declares no project {wanted_project:?}"
        )));
    };
    let store = open_store(&manifest, &args.store)?;
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

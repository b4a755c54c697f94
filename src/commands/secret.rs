//! `keyplan secret get PROJECT/KEY`: reads a stored secret back, on explicit request.
//!
//! The project is resolved through the Admin API like everywhere else, because store entries
//! are named by the project's name and id, and either may be what the user typed.

use crate::exit::ExitCode;

use super::cli::{GlobalArgs, SecretGetArgs};
use super::context::{Connection, load_manifest, observe_projects, open_store};
use super::failure::{CommandResult, Failure};
use super::ui::Ui;

pub async fn get(ui: &Ui, global: &GlobalArgs, args: &SecretGetArgs) -> CommandResult {
    let manifest = load_manifest(ui, &global.file)?;
    let Some((wanted_project, key)) = args.key.split_once('/') else {
        return Err(Failure::new(
            ExitCode::Usage,
            format!("{:?} is not PROJECT/KEY", args.key),
        )
        .hint("e.g. keyplan secret get search-prod/ingest-worker"));
    };
    let connection = Connection::open(global, Some(&manifest.desired)).await?;
    let resolved = observe_projects(
        &connection.api,
        &manifest.desired,
        &[wanted_project.to_owned()],
    )
    .await;
    connection.close().await;
    let (_, (_, projects)) = resolved?;
    let Some(project) = projects.into_iter().next() else {
        return Err(Failure::error(format!(
            "the manifest declares no project {wanted_project:?}"
        )));
    };
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
        .hint(
            "secrets exist only for keys keyplan created; the API shows a secret once, at creation",
        )),
    }
}

//! `keyplan import`: writes a manifest for the live keys to stdout; `plan` on it shows no changes.

use crate::live::AdminApi;
use crate::live::client::list_keys_of_projects;
use crate::model::{Project, ProjectId};

use super::cli::{GlobalArgs, ImportArgs};
use super::context::Connection;
use super::error::{CommandError, CommandResult, Success};
use super::ui::Ui;

/// The first line of an imported manifest: where editors find its schema.
const SCHEMA_LINE: &str = "#:schema ./keyplan.schema.json";

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &ImportArgs) -> CommandResult {
    // The sandbox seeds itself from the manifest when there is one; import needs none.
    let manifest = crate::manifest::load(&global.file).ok();
    let connection = Connection::open(global, manifest.as_ref().map(|m| &m.desired)).await?;
    connection.api.observe(super::progress::Waits::new(ui));
    let result = async {
        let listing = super::progress::Activity::new(ui, "listing the live keys");
        let mut org = connection.api.list_projects().await?;
        org.sort();
        let projects = select(&org, &args.projects)?;
        let ids: Vec<ProjectId> = projects.iter().map(|p| p.id.clone()).collect();
        let mut keys =
            list_keys_of_projects(&connection.api, &ids, global.concurrency.get()).await?;
        drop(listing);
        let mut in_flight = 0;
        let listed: Vec<_> = projects
            .into_iter()
            .map(|project| {
                let mut keys = keys.remove(&project.id).unwrap_or_default();
                // Keys an interrupted apply left under its reserved names are not the user's
                // to declare: the next apply finishes or removes them.
                keys.retain(|key| {
                    let reserved = crate::plan::is_in_flight_name(&key.name);
                    in_flight += usize::from(reserved);
                    !reserved
                });
                (project, keys)
            })
            .collect();
        if in_flight > 0 {
            ui.warn(&format!(
                "left out {in_flight} key(s) named by an interrupted keyplan apply \
                 (\"(keyplan: pending)\" or \"(keyplan: retiring)\"); `keyplan apply` finishes them"
            ));
        }
        // taplo and Even Better TOML read this line: `keyplan schema > keyplan.schema.json`
        // writes the file it names (docs/manifest.md).
        ui.out(&format!(
            "{SCHEMA_LINE}\n{}",
            crate::manifest::render_manifest(&listed)
        ));
        Ok(Success::Done)
    }
    .await;
    connection.close().await;
    result
}

/// The projects `wanted` names (by id, or by a name that matches exactly one), or all.
fn select(org: &[Project], wanted: &[String]) -> Result<Vec<Project>, CommandError> {
    if wanted.is_empty() {
        return Ok(org.to_vec());
    }
    let mut selected = Vec::new();
    for want in wanted {
        let matches: Vec<&Project> = org
            .iter()
            .filter(|p| p.id.as_str() == want || &p.name == want)
            .collect();
        match matches.as_slice() {
            [one] => selected.push((*one).clone()),
            [] => {
                return Err(CommandError::failed(format!(
                    "no project is named {want:?} or has that id"
                ))
                .hint("list the organisation's projects with `keyplan import` (no --project)"));
            }
            several => {
                let ids: Vec<String> = several.iter().map(|p| p.id.to_string()).collect();
                return Err(CommandError::failed(format!(
                    "{} projects are named {want:?}: {}",
                    several.len(),
                    ids.join(", ")
                ))
                .hint("name the project by its id"));
            }
        }
    }
    selected.sort();
    selected.dedup();
    Ok(selected)
}

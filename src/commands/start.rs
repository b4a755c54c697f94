//! The start of every command that reads the live keys: the manifest, the connection and the
//! organisation's projects. Outside the sandbox they overlap: the manifest is parsed on a
//! blocking thread while the token is exchanged and the projects are listed, so a manifest of
//! thousands of keys (about 15 ms of parsing at 5,000) costs no wall time of its own.
//!
//! The manifest still decides first: an invalid one is the command's error, whatever the
//! network did, and its requests in flight are dropped. The sandbox needs the manifest before
//! it starts (its emulator adds the projects the manifest names), so there nothing overlaps.

use std::path::Path;

use crate::live::AdminApi;
use crate::manifest::{Manifest, ManifestError};
use crate::model::Project;

use super::cli::GlobalArgs;
use super::context::{Connection, load_manifest, loaded_manifest};
use super::error::CommandError;
use super::progress::{Activity, Waits};
use super::ui::Ui;

/// What the spinner says while the organisation's projects are listed.
const LISTING_PROJECTS: &str = "listing the projects";

/// A command's manifest, its connection, and the organisation's projects as listed.
#[derive(Debug)]
pub struct Started {
    pub manifest: Manifest,
    pub connection: Connection,
    /// Every project of the organisation, unsorted, as the API listed them.
    pub projects: Vec<Project>,
}

/// Loads the manifest, connects as `global` says and lists the organisation's projects; the
/// client's long waits are shown on `ui`. `check` judges the connection before its first
/// request (apply refuses a token about to expire); its refusal, like a failed connection,
/// is the error only if the manifest is valid.
pub async fn start(
    ui: &Ui,
    global: &GlobalArgs,
    check: impl FnOnce(&Connection) -> Result<(), CommandError>,
) -> Result<Started, CommandError> {
    if global.sandbox {
        let manifest = load_manifest(ui, &global.file)?;
        let connection = Connection::open(global, Some(&manifest.desired)).await?;
        connection.api.observe(Waits::new(ui));
        let listed = match check(&connection) {
            Ok(()) => {
                let _listing = Activity::new(ui, LISTING_PROJECTS);
                connection.api.list_projects().await.map_err(Into::into)
            }
            Err(refused) => Err(refused),
        };
        return match listed {
            Ok(projects) => Ok(Started {
                manifest,
                connection,
                projects,
            }),
            Err(error) => {
                connection.close().await;
                Err(error)
            }
        };
    }
    let path = global.file.clone();
    let mut parse = tokio::task::spawn_blocking(move || crate::manifest::load(&path));
    let connection = match Connection::open(global, None)
        .await
        .and_then(|connection| check(&connection).map(|()| connection))
    {
        Ok(connection) => connection,
        Err(error) => {
            parsed(ui, &global.file, parse.await)?;
            return Err(error);
        }
    };
    connection.api.observe(Waits::new(ui));
    let (manifest, projects) = {
        let listing = connection.api.list_projects();
        tokio::pin!(listing);
        // The spinner is gone before the manifest's warnings or diagnostics are printed.
        let (manifest, listed) = {
            let _listing = Activity::new(ui, LISTING_PROJECTS);
            tokio::select! {
                manifest = &mut parse => (manifest, None),
                listed = &mut listing => (parse.await, Some(listed)),
            }
        };
        let manifest = parsed(ui, &global.file, manifest)?;
        let listed = if let Some(listed) = listed {
            listed
        } else {
            let _listing = Activity::new(ui, LISTING_PROJECTS);
            listing.await
        };
        (manifest, listed?)
    };
    Ok(Started {
        manifest,
        connection,
        projects,
    })
}

/// The manifest the blocking thread loaded, or why there is none.
fn parsed(
    ui: &Ui,
    path: &Path,
    joined: Result<Result<Manifest, ManifestError>, tokio::task::JoinError>,
) -> Result<Manifest, CommandError> {
    match joined {
        Ok(loaded) => loaded_manifest(ui, path, loaded),
        Err(stopped) => Err(CommandError::failed(format!(
            "reading the manifest {} stopped: {stopped}",
            path.display()
        ))),
    }
}

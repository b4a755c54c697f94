//! The start of every command that reads the live keys: the manifest, the connection and the
//! organisation's projects. They overlap: the manifest is parsed on a blocking thread while the
//! token is exchanged and the projects are listed, so a manifest of thousands of keys (about
//! 15 ms of parsing at 5,000) costs no wall time of its own.
//!
//! The manifest still decides first: an invalid one is the command's error, whatever the
//! network did, and its requests in flight are dropped. Nothing overlaps in the sandbox (its
//! emulator adds the projects the manifest names, so it needs the manifest to start) nor for a
//! manifest over 1 MiB (see [`worth_parsing_aside`]).

use std::path::Path;

use crate::live::AdminApi;
use crate::live::client::HttpAdminApi;
use crate::manifest::{Manifest, ManifestError};
use crate::model::Project;

use super::cli::GlobalArgs;
use super::context::{Connection, load_manifest, loaded_manifest};
use super::error::CommandError;
use super::progress::{Activity, Waits};
use super::ui::Ui;

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
    if global.sandbox || !worth_parsing_aside(&global.file) {
        let manifest = load_manifest(ui, &global.file)?;
        let connection = Connection::open(global, Some(&manifest.desired)).await?;
        connection.api.observe(Waits::new(ui));
        let listed = async {
            check(&connection)?;
            list_projects(ui, &connection.api).await
        }
        .await;
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
        let listing = list_projects(ui, &connection.api);
        tokio::pin!(listing);
        let (manifest, listed) = tokio::select! {
            manifest = &mut parse => (manifest, None),
            listed = &mut listing => (parse.await, Some(listed)),
        };
        let manifest = parsed(ui, &global.file, manifest)?;
        let listed = match listed {
            Some(listed) => listed,
            None => listing.await,
        };
        (manifest, listed?)
    };
    Ok(Started {
        manifest,
        connection,
        projects,
    })
}

/// Whether the manifest at `path` is small enough to parse on a thread of its own. The
/// overlap hides at most the token exchange and the project listing, while the second thread's
/// malloc arena costs the parse about a quarter more CPU and keeps its memory: a manifest of
/// 30,000 keys (2 MiB) took a quarter more CPU to plan with it (docs/performance.md).
/// Above [`PARSE_ASIDE_MAX_BYTES`], or when the size is unknown, the manifest comes first.
fn worth_parsing_aside(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|meta| meta.len() <= PARSE_ASIDE_MAX_BYTES)
}

/// The largest manifest parsed aside: about 15,000 keys.
const PARSE_ASIDE_MAX_BYTES: u64 = 1 << 20;

/// The organisation's projects, with a spinner on a terminal while they are listed.
async fn list_projects(ui: &Ui, api: &HttpAdminApi) -> Result<Vec<Project>, CommandError> {
    let _listing = Activity::new(ui, "listing the projects");
    Ok(api.list_projects().await?)
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

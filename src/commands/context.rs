//! What most commands need: the manifest, a connection to the Admin API (Pinecone or the
//! sandbox), the live state, and the secret store. Built here and nowhere else.

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::desired::{Desired, DesiredProject, ProjectSelector, SecretsConfig};
use crate::emulator::{EmulatorConfig, RunningEmulator, Seed};
use crate::live::AdminApi;
use crate::live::client::{
    APPLY_TOKEN_MARGIN, ClientConfig, Credentials, HttpAdminApi, list_keys_of_projects,
};
use crate::manifest::{Manifest, ManifestError};
use crate::model::{Project, ProjectId, Secret};
use crate::plan::LiveState;
use crate::secrets::SecretStore;

use super::cli::{GlobalArgs, StoreArgs};
use super::error::{CommandError, ErrorKind, Topic};
use super::start::Started;
use super::ui::Ui;

/// The name of the sandbox's state file, kept beside the manifest.
pub const SANDBOX_STATE_FILE: &str = ".keyplan-sandbox.json";

/// Loads the manifest, printing its diagnostics in full when it is invalid.
pub fn load_manifest(ui: &Ui, path: &Path) -> Result<Manifest, CommandError> {
    loaded_manifest(ui, path, crate::manifest::load(path))
}

/// What [`crate::manifest::load`] gave for `path`: the manifest, its warnings shown, or its
/// diagnostics shown and the error.
pub fn loaded_manifest(
    ui: &Ui,
    path: &Path,
    loaded: Result<Manifest, ManifestError>,
) -> Result<Manifest, CommandError> {
    match loaded {
        Ok(manifest) => {
            for warning in &manifest.warnings {
                ui.info(&warning.render(ui.color_stderr()));
            }
            Ok(manifest)
        }
        Err(ManifestError::Invalid(diagnostics)) => {
            ui.info(&diagnostics.render(ui.color_stderr()));
            Err(invalid_manifest(path, &diagnostics))
        }
        // The error carries its own help line.
        Err(error) => Err(CommandError::failed(error.to_string()).about(Topic::Manifest)),
    }
}

/// The error of an invalid manifest, its diagnostics already on stderr: one cause per
/// diagnostic (`file:line:column: message`) for the error document.
pub fn invalid_manifest(path: &Path, diagnostics: &crate::manifest::Diagnostics) -> CommandError {
    let errors: Vec<_> = diagnostics.items.iter().filter(|d| !d.warning).collect();
    let mut error = CommandError::reported(ErrorKind::Failed).about(Topic::Manifest);
    error.message = format!(
        "{} is not a valid manifest ({} error{})",
        path.display(),
        errors.len(),
        if errors.len() == 1 { "" } else { "s" }
    );
    error.causes = errors
        .iter()
        .map(|d| {
            format!(
                "{}:{}:{}: {}",
                d.path.display(),
                d.line,
                d.column,
                d.message
            )
        })
        .collect();
    error.hints = errors.iter().filter_map(|d| d.hint.clone()).collect();
    error
}

/// A connection to an Admin API: Pinecone's, or the embedded emulator's with `--sandbox`.
#[derive(Debug)]
pub struct Connection {
    pub api: HttpAdminApi,
    /// Which API this is, as saved plans record it: the base URL, or `sandbox:<state file>`.
    api_host: String,
    /// Keeps the sandbox's emulator running while the connection lives.
    sandbox: Option<RunningEmulator>,
}

impl Connection {
    /// Connects as the global options say. With `--sandbox`, starts the emulator in-process,
    /// its state kept beside the manifest and every project the manifest names by name present.
    pub async fn open(
        global: &GlobalArgs,
        desired: Option<&Desired>,
    ) -> Result<Self, CommandError> {
        if global.sandbox {
            return Self::sandbox(global, desired).await;
        }
        let credentials = Credentials::from_env()?;
        let mut config = ClientConfig::new(credentials).with_env_hosts();
        if let Some(host) = &global.api_host {
            config.api_host.clone_from(host);
        }
        if let Some(url) = &global.oauth_url {
            config.oauth_url.clone_from(url);
        }
        config.allow_insecure_http = global.allow_insecure_http;
        config.api_version = global.api_version;
        Ok(Connection {
            api_host: config.api_host.clone(),
            api: HttpAdminApi::new(config)?,
            sandbox: None,
        })
    }

    async fn sandbox(global: &GlobalArgs, desired: Option<&Desired>) -> Result<Self, CommandError> {
        let state_file = sandbox_state_path(&global.file);
        let seed = match &global.sandbox_seed {
            Some(path) => Some(Seed::load(path).map_err(|e| {
                CommandError::wrap("read the sandbox seed", &e)
                    .hint("see docs/emulator.md for the seed file's format")
            })?),
            None => None,
        };
        let emulator_config = EmulatorConfig {
            state_file: Some(state_file.clone()),
            seed,
            ..EmulatorConfig::default()
        };
        let credentials = Credentials::ClientCredentials {
            client_id: emulator_config.client_id.clone(),
            client_secret: Secret::new(emulator_config.client_secret.clone()),
        };
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
        let emulator = crate::emulator::start(emulator_config, addr)
            .await
            .map_err(|e| {
                let error = CommandError::wrap("start the sandbox emulator", &e);
                // A state file started from another seed says itself what to do.
                if e.kind() == std::io::ErrorKind::AlreadyExists {
                    return error;
                }
                error.hint(format!(
                    "check that {} is readable and writable",
                    state_file.display()
                ))
            })?;
        if let Some(desired) = desired {
            add_missing_projects(&emulator, desired);
        }
        let mut config = ClientConfig::new(credentials);
        config.api_host = emulator.base_url();
        config.oauth_url = emulator.oauth_url();
        config.api_version = global.api_version;
        Ok(Connection {
            api: HttpAdminApi::new(config)?,
            api_host: format!("sandbox:{}", state_file.display()),
            sandbox: Some(emulator),
        })
    }

    /// Refuses to start an apply with an access token that expires within
    /// [`APPLY_TOKEN_MARGIN`]: keyplan cannot renew one, and an apply cut off half-way by a
    /// 401 leaves work for the next run.
    pub fn require_token_for_apply(&self) -> Result<(), CommandError> {
        Ok(self.api.require_token_lifetime(APPLY_TOKEN_MARGIN)?)
    }

    /// Warns when the access token expires too soon for an apply (commands that only read).
    pub fn warn_if_token_expires_soon(&self, ui: &Ui) {
        if let Some(warning) = self.api.token_lifetime_warning(APPLY_TOKEN_MARGIN) {
            ui.warn(&warning);
        }
    }

    pub fn api_host(&self) -> String {
        self.api_host.clone()
    }

    /// Stops the sandbox emulator (saving its state), if any.
    pub async fn close(self) {
        if let Some(emulator) = self.sandbox {
            emulator.shutdown().await;
        }
    }
}

/// Gives the sandbox every project the manifest names that it lacks: by name, or with the
/// manifest's id (and a made-up name).
fn add_missing_projects(emulator: &RunningEmulator, desired: &Desired) {
    let existing = emulator.projects();
    for project in &desired.projects {
        match &project.selector {
            ProjectSelector::Name(name) if !existing.iter().any(|p| &p.name == name) => {
                emulator.add_project(name);
            }
            ProjectSelector::Id(id) if !existing.iter().any(|p| &p.id == id) => {
                let name = format!("sandbox-{}", id.as_str().get(..8).unwrap_or_default());
                emulator.add_project_with_id(id, &name);
            }
            _ => {}
        }
    }
}

/// Where `--sandbox` keeps its state: beside the manifest.
pub fn sandbox_state_path(manifest: &Path) -> PathBuf {
    manifest
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .map_or_else(
            || PathBuf::from(SANDBOX_STATE_FILE),
            |dir| dir.join(SANDBOX_STATE_FILE),
        )
}

/// The live state a plan needs, and which part of the manifest it covers.
#[derive(Debug)]
pub struct Observed<'m> {
    /// The manifest, limited to the projects `--project` selected (borrowed when it selects
    /// them all, as it usually does).
    pub desired: Cow<'m, Desired>,
    /// The project each of `desired.projects` resolved to, in the same order.
    pub resolved: Vec<Project>,
    pub live: LiveState,
}

/// The read-only audits (`drift`, `report`): loads the manifest, lists the live keys of its
/// projects (those `only` names, when some; the output then says that `what` covers only
/// them), hands them to `then`, and closes the connection whatever `then` returns.
pub async fn with_live_keys(
    ui: &Ui,
    global: &GlobalArgs,
    only: &[String],
    what: &str,
    then: impl FnOnce(Observed<'_>) -> super::error::CommandResult,
) -> super::error::CommandResult {
    let Started {
        manifest,
        connection,
        projects,
    } = super::start::start(ui, global, |_| Ok(())).await?;
    connection.warn_if_token_expires_soon(ui);
    let result = async {
        let listing = super::progress::Activity::new(ui, "listing the live keys");
        let observed = observe(
            &connection.api,
            projects,
            &manifest.desired,
            only,
            global.concurrency.get(),
        )
        .await?;
        drop(listing);
        if !only.is_empty() {
            ui.warn(&format!(
                "--project: the {what} covers only the named projects"
            ));
        }
        then(observed)
    }
    .await;
    connection.close().await;
    result
}

/// Resolves the manifest's projects among the organisation's (`org`, as listed) and lists
/// their keys concurrently. `only` limits the run to some projects (by name or id).
pub async fn observe<'m, A: AdminApi>(
    api: &A,
    org: Vec<Project>,
    desired: &'m Desired,
    only: &[String],
    concurrency: usize,
) -> Result<Observed<'m>, CommandError> {
    let (org, (desired, resolved)) = resolve_listed(org, desired, only)?;
    let ids: Vec<ProjectId> = resolved.iter().map(|p| p.id.clone()).collect();
    let keys = list_keys_of_projects(api, &ids, concurrency).await?;
    Ok(Observed {
        desired,
        resolved,
        live: LiveState {
            projects: org,
            keys,
        },
    })
}

/// The organisation's projects (sorted), then the manifest's projects kept and the project
/// each resolved to.
type Resolved<'d> = (Vec<Project>, (Cow<'d, Desired>, Vec<Project>));

/// Lists the organisation's projects (sorted) and resolves the manifest's, keeping those `only`
/// names (all when empty).
pub async fn observe_projects<'d, A: AdminApi>(
    api: &A,
    desired: &'d Desired,
    only: &[String],
) -> Result<Resolved<'d>, CommandError> {
    resolve_listed(api.list_projects().await?, desired, only)
}

/// [`observe_projects`] for the projects `org` lists.
fn resolve_listed<'d>(
    mut org: Vec<Project>,
    desired: &'d Desired,
    only: &[String],
) -> Result<Resolved<'d>, CommandError> {
    org.sort();
    let resolved = crate::plan::resolve_projects(desired, &org)?;
    let selected = select_projects(desired, resolved, only)?;
    Ok((org, selected))
}

/// Keeps the manifest's projects that `only` names (all when empty).
fn select_projects<'d>(
    desired: &'d Desired,
    resolved: Vec<Project>,
    only: &[String],
) -> Result<(Cow<'d, Desired>, Vec<Project>), CommandError> {
    if only.is_empty() {
        return Ok((Cow::Borrowed(desired), resolved));
    }
    let matches =
        |project: &Project, wanted: &str| project.name == wanted || project.id.as_str() == wanted;
    if let Some(unknown) = only
        .iter()
        .find(|w| !resolved.iter().any(|p| matches(p, w)))
    {
        let known: Vec<String> = resolved
            .iter()
            .map(|p| format!("{} ({})", crate::render::words::quoted(&p.name), p.id))
            .collect();
        return Err(CommandError::new(
            ErrorKind::Failed,
            format!("--project {unknown:?} names no project of the manifest"),
        )
        .hint(format!("the manifest's projects: {}", known.join(", "))));
    }
    let (projects, resolved): (Vec<DesiredProject>, Vec<Project>) = desired
        .projects
        .iter()
        .cloned()
        .zip(resolved)
        .filter(|(_, project)| only.iter().any(|w| matches(project, w)))
        .unzip();
    Ok((
        Cow::Owned(Desired {
            projects,
            secrets: desired.secrets.clone(),
            policies: desired.policies.clone(),
        }),
        resolved,
    ))
}

/// Opens the secret store: `--secrets-file` if given, else the manifest's `[secrets]` (whose
/// relative paths the manifest already resolved against its own directory), else the OS keyring.
pub fn open_store(
    manifest: &Manifest,
    overrides: &StoreArgs,
) -> Result<std::sync::Arc<dyn SecretStore>, CommandError> {
    let default = store_config(manifest, overrides);
    Ok(crate::secrets::open_destinations(&manifest.routing, &default)?.into())
}

/// The store configuration in force.
pub fn store_config(manifest: &Manifest, overrides: &StoreArgs) -> SecretsConfig {
    match (&overrides.secrets_file, &manifest.desired.secrets) {
        (Some(path), Some(SecretsConfig::File { format, prefix, .. })) => SecretsConfig::File {
            path: path.clone(),
            format: *format,
            prefix: prefix.clone(),
        },
        (Some(path), _) => SecretsConfig::file(path.clone(), crate::desired::FileFormat::Json),
        (None, Some(config)) => config.clone(),
        (None, None) => SecretsConfig::default_keyring(),
    }
}

/// What the store knows that settles otherwise ambiguous matches: for live key names that
/// repeat within a project, for declared names whose retiring twin is live (an interrupted
/// replace), and for declared names whose pending twin is live (an interrupted create), which
/// key id the store holds a secret for. Only those names are asked about, so a plan costs no
/// store lookups in the common case.
pub fn held_to_settle(
    store: &dyn SecretStore,
    observed: &Observed,
) -> BTreeMap<(ProjectId, String), crate::model::KeyId> {
    let mut held = BTreeMap::new();
    for (declared, project) in observed.desired.projects.iter().zip(&observed.resolved) {
        let Some(keys) = observed.live.keys.get(&project.id) else {
            continue;
        };
        // Names that repeat: adjacent once sorted.
        let mut live_names: Vec<&str> = keys.iter().map(|k| k.name.as_str()).collect();
        live_names.sort_unstable();
        let mut ask: BTreeSet<&str> = live_names
            .windows(2)
            .filter(|pair| pair[0] == pair[1])
            .map(|pair| pair[0])
            .collect();
        // Only an interrupted create or replace leaves a twin; without one, nothing to ask.
        if keys.iter().any(|k| crate::plan::is_in_flight_name(&k.name)) {
            let is_live = |name: &str| live_names.binary_search(&name).is_ok();
            for key in &declared.keys {
                if is_live(&crate::plan::pending_name(&key.name)) {
                    ask.insert(&key.name);
                }
                for name in std::iter::once(&key.name).chain(&key.previous_names) {
                    if is_live(&crate::plan::retiring_name(name)) {
                        ask.insert(name);
                    }
                }
            }
        }
        for name in ask {
            if let Ok(Some(id)) = store.held_key_id(project, name) {
                held.insert((project.id.clone(), name.to_owned()), id);
            }
        }
    }
    held
}

/// Warns, for each planned rename or delete (or replace under a new name), about every secret
/// destination of that key that cannot follow it, and says what to do there by hand.
pub fn warn_unfollowed(ui: &super::ui::Ui, store: &dyn SecretStore, plan: &crate::plan::Plan) {
    use crate::plan::Action;
    use crate::secrets::Lifecycle;
    for change in &plan.changes {
        let Some(before) = change.before() else {
            continue;
        };
        if crate::plan::is_in_flight_name(&before.name) {
            continue;
        }
        let after = change.after().map(|a| a.name.as_str());
        let (step, asked) = match (change.action(), after) {
            (Action::Update, Some(to)) if to != before.name => (Lifecycle::Rename, to),
            (Action::Replace, Some(to)) if to != before.name => (Lifecycle::Delete, &*before.name),
            (Action::Delete, _) => (Lifecycle::Delete, &*before.name),
            _ => continue,
        };
        for destination in store.cannot_follow(&change.project, asked, step) {
            ui.warn(&crate::render::words::cannot_follow(
                step == Lifecycle::Rename,
                &before.name,
                asked,
                &destination,
            ));
        }
    }
}

//! `keyplan plan`: shows what apply would change, optionally saving it for `apply FILE`.

use std::collections::BTreeSet;

use crate::exit::ExitCode;
use crate::live::AdminApi;
use crate::manifest::Manifest;
use crate::plan::{Plan, PlanOptions};
use crate::render::RenderOptions;
use crate::secrets::SecretStore;

use super::cli::{Format, GlobalArgs, PlanArgs, PlanScope};
use super::context::{Connection, Observed, held_to_settle, load_manifest, observe};
use super::failure::{CommandResult, Failure};
use super::saved_plan::SavedPlan;
use super::ui::Ui;

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &PlanArgs) -> CommandResult {
    let manifest = load_manifest(ui, &global.file)?;
    let connection = Connection::open(global, Some(&manifest.desired)).await?;
    let result = plan_and_show(ui, global, args, &manifest, &connection).await;
    connection.close().await;
    result
}

async fn plan_and_show(
    ui: &Ui,
    global: &GlobalArgs,
    args: &PlanArgs,
    manifest: &Manifest,
    connection: &Connection,
) -> CommandResult {
    // The store settles duplicates it holds a secret for; planning works without it.
    let store =
        super::context::open_store(manifest, &super::cli::StoreArgs { secrets_file: None }).ok();
    let (observed, plan) = make_plan(
        ui,
        &connection.api,
        manifest,
        &args.scope,
        store.as_deref(),
        global.concurrency,
    )
    .await?;
    ui.out(&render_plan(ui, &plan, args.format));
    guard(&plan, &args.scope)?;
    if let Some(out) = &args.out {
        let saved = SavedPlan::new(
            plan.clone(),
            &observed.live,
            &observed.resolved,
            &manifest.sha256,
            connection.api_host(),
        );
        saved.write(out)?;
        ui.info(&format!(
            "Saved the plan to {}. Apply exactly this plan with: keyplan apply {}",
            out.display(),
            out.display()
        ));
    }
    Ok(if args.detailed_exitcode && !plan.is_empty() {
        ExitCode::Changes
    } else {
        ExitCode::Success
    })
}

/// Observes the live keys and computes the plan for the manifest.
pub async fn make_plan<'m, A: AdminApi>(
    ui: &Ui,
    api: &A,
    manifest: &'m Manifest,
    scope: &PlanScope,
    store: Option<&dyn SecretStore>,
    concurrency: usize,
) -> Result<(Observed<'m>, Plan), Failure> {
    // A malformed --replace is a usage error: no reason to list anything first.
    let replace = parse_replace(&scope.replace)?;
    let observed = observe(api, &manifest.desired, &scope.projects, concurrency).await?;
    if !scope.projects.is_empty() {
        ui.warn(&format!(
            "--project: only {} of the manifest's {} projects were looked at; the rest was not",
            observed.resolved.len(),
            manifest.desired.projects.len()
        ));
    }
    let options = PlanOptions {
        max_delete_share: scope.max_delete_share,
        max_deletes: scope.max_deletes,
        replace,
        now: Some(jiff::Timestamp::now()),
        held: store
            .map(|s| held_to_settle(s, &observed))
            .unwrap_or_default(),
        ..PlanOptions::default()
    };
    let plan = crate::plan::compute_plan(&observed.desired, &observed.live, &options)
        .map_err(|e| Failure::error(e.to_string()))?;
    Ok((observed, plan))
}

/// `--replace PROJECT/KEY` into (project, key); the project is the part before the first `/`.
fn parse_replace(values: &[String]) -> Result<BTreeSet<(String, String)>, Failure> {
    values
        .iter()
        .map(|value| match value.split_once('/') {
            Some((project, key)) if !project.is_empty() && !key.is_empty() => {
                Ok((project.to_owned(), key.to_owned()))
            }
            _ => Err(Failure::new(
                ExitCode::Usage,
                format!("--replace {value:?} is not PROJECT/KEY"),
            )
            .hint("name the project (name or id) and the key, e.g. --replace search-prod/ingest-worker")),
        })
        .collect()
}

/// Refuses a plan the safety guard refused, unless `--force`.
pub fn guard(plan: &Plan, scope: &PlanScope) -> Result<(), Failure> {
    match &plan.guard {
        Some(refusal) if !scope.force => Err(Failure::new(ExitCode::GuardRefused, refusal.message.clone())
            .hint("review the deletions above; pass --force to proceed anyway, or raise --max-delete-share / --max-deletes")),
        _ => Ok(()),
    }
}

pub fn render_plan(ui: &Ui, plan: &Plan, format: Format) -> String {
    match format {
        Format::Human => crate::render::human(
            plan,
            &RenderOptions {
                color: ui.color_stdout(),
            },
        ),
        Format::Json => crate::render::json(plan),
        Format::Markdown => crate::render::markdown(plan),
    }
}

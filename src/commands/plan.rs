//! `keyplan plan`: shows what apply would change, optionally saving it for `apply FILE`.

use crate::live::AdminApi;
use crate::manifest::Manifest;
use crate::model::Project;
use crate::plan::{ApprovedPlan, GuardLimits, Override, Plan, PlanOptions};
use crate::render::{Heading, RenderOptions};
use crate::secrets::SecretStore;

use super::cli::{Format, GlobalArgs, PlanArgs, PlanScope};
use super::context::{Connection, Observed, held_to_settle, observe};
use super::error::{CommandError, CommandResult, Success};
use super::saved_plan::SavedPlan;
use super::start::Started;
use super::ui::Ui;

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &PlanArgs) -> CommandResult {
    let Started {
        manifest,
        connection,
        projects,
    } = super::start::start(ui, global, |_| Ok(())).await?;
    connection.warn_if_token_expires_soon(ui);
    let result = plan_and_show(ui, global, args, &manifest, &connection, projects).await;
    connection.close().await;
    result
}

async fn plan_and_show(
    ui: &Ui,
    global: &GlobalArgs,
    args: &PlanArgs,
    manifest: &Manifest,
    connection: &Connection,
    projects: Vec<Project>,
) -> CommandResult {
    // The store settles duplicates it holds a secret for; planning works without it.
    let store =
        super::context::open_store(manifest, &super::cli::StoreArgs { secrets_file: None }).ok();
    let (observed, plan) = make_plan(
        ui,
        &connection.api,
        projects,
        manifest,
        &args.scope,
        store.as_deref(),
        global.concurrency.get(),
    )
    .await?;
    let run_url = super::document::github_run_url();
    let heading = Heading {
        title: args.title.as_deref(),
        run_url: run_url.as_deref(),
    };
    let rendered = render_plan(ui, &plan, args.format, args.scope.force, heading);
    let has_changes = !plan.is_empty();
    let approved = match approve_by_guard(plan, &args.scope, Some(args.format)) {
        Ok(approved) => approved,
        Err(refused) => {
            // A refused plan is shown: it says why.
            ui.out(&rendered);
            return Err(refused);
        }
    };
    // A document is written only once the plan is saved: if saving fails, stdout holds the
    // failure document alone, never a plan followed by a second document. People see the
    // plan first either way.
    if args.format == Format::Human {
        ui.out(&rendered);
    }
    if let Some(out) = &args.out {
        let saved = SavedPlan::new(
            approved.plan().clone(),
            &observed.live,
            &observed.resolved,
            connection.api_host(),
        );
        saved.write(out)?;
        ui.info(&format!(
            "Saved the plan to {}. Apply exactly this plan with: keyplan apply {}",
            out.display(),
            out.display()
        ));
    }
    if args.format != Format::Human {
        ui.out(&rendered);
    }
    Ok(if args.detailed_exitcode && has_changes {
        Success::ChangesPresent
    } else {
        Success::Done
    })
}

/// Observes the live keys of the manifest's projects among the organisation's (`projects`, as
/// listed) and computes the plan.
pub async fn make_plan<'m, A: AdminApi>(
    ui: &Ui,
    api: &A,
    projects: Vec<Project>,
    manifest: &'m Manifest,
    scope: &PlanScope,
    store: Option<&dyn SecretStore>,
    concurrency: usize,
) -> Result<(Observed<'m>, Plan), CommandError> {
    let listing = super::progress::Activity::new(ui, "listing the live keys");
    let observed = observe(
        api,
        projects,
        &manifest.desired,
        &scope.projects,
        concurrency,
    )
    .await?;
    drop(listing);
    if !scope.projects.is_empty() {
        ui.warn(&format!(
            "--project: only {} of the manifest's {} projects were looked at; the rest was not",
            observed.resolved.len(),
            manifest.desired.projects.len()
        ));
    }
    let options = PlanOptions {
        limits: GuardLimits {
            max_delete_share: scope.max_delete_share,
            max_deletes: scope.max_deletes,
            ..GuardLimits::default()
        },
        replace: scope.replace.iter().cloned().collect(),
        now: Some(jiff::Timestamp::now()),
        held: store
            .map(|s| held_to_settle(s, &observed))
            .unwrap_or_default(),
        audit_only: false,
        force: scope.force,
    };
    let plan = crate::plan::compute_plan(&observed.desired, &observed.live, &options)?;
    if let Some(store) = store {
        super::context::warn_unfollowed(ui, store, &plan);
    }
    Ok((observed, plan))
}

/// Passes the plan on unless the safety guard refused it and `--force` does not override.
/// `shown_as` is the plan's format on stdout; `None` when stdout gets another document (an
/// apply's JSON lines or Markdown result), for which the refusal is the failure document.
/// A refusal the rendered plan already shows in full (human, Markdown) is only named on
/// stderr, so that its reasons and advice are said once.
pub fn approve_by_guard(
    plan: Plan,
    scope: &PlanScope,
    shown_as: Option<Format>,
) -> Result<ApprovedPlan, CommandError> {
    let force = if scope.force {
        Override::Force
    } else {
        Override::No
    };
    plan.approve(force).map_err(|refused| {
        let mut error = CommandError::from(refused);
        // The plan's own document (JSON's `guard`, Markdown's callout) says it all.
        error.documented = matches!(shown_as, Some(Format::Json | Format::Markdown));
        if matches!(shown_as, Some(Format::Human | Format::Markdown)) {
            error.causes.clear();
            error.hints.clear();
            error
                .message
                .push_str(" (the plan above says which and what to do)");
        }
        error
    })
}

/// The plan in `format`; `forced` when `--force` overrides a guard refusal; `heading` names
/// the target and links the CI run in Markdown.
pub fn render_plan(ui: &Ui, plan: &Plan, format: Format, forced: bool, heading: Heading) -> String {
    let options = RenderOptions {
        color: ui.color_stdout(),
        guard_overridden: forced,
    };
    match format {
        Format::Human => crate::render::human(plan, &options),
        Format::Json => crate::render::json(plan, &options),
        Format::Markdown => crate::render::markdown_headed(plan, &options, heading),
    }
}

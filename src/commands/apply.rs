//! `keyplan apply [FILE]`: plan, ask, apply; or apply a saved plan, if it is still the plan the
//! manifest and the live keys give.

use crate::apply::{ApplyOptions, ApplyReport, Event};
use crate::manifest::Manifest;
use crate::model::Project;
use crate::plan::{Action, ApprovedPlan};
use crate::render::{Heading, Paint};
use crate::secrets::SecretStore;

use super::cli::{ApplyArgs, Format, GlobalArgs, PlanScope};
use super::context::{Connection, open_store};
use super::error::{CommandError, CommandResult, ErrorKind, Success, Topic};
use super::plan::{approve_by_guard, make_plan, render_plan};
use super::saved_plan::SavedPlan;
use super::start::Started;
use super::ui::{Approval, Ui};

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &ApplyArgs) -> CommandResult {
    let Started {
        manifest,
        connection,
        projects,
    } = super::start::start(ui, global, Connection::require_token_for_apply).await?;
    let result = match &args.plan_file {
        Some(path) => apply_saved(ui, global, args, &manifest, &connection, projects, path).await,
        None => plan_then_apply(ui, global, args, &manifest, &connection, projects).await,
    };
    connection.close().await;
    result
}

async fn plan_then_apply(
    ui: &Ui,
    global: &GlobalArgs,
    args: &ApplyArgs,
    manifest: &Manifest,
    connection: &Connection,
    projects: Vec<Project>,
) -> CommandResult {
    let store = open_store(manifest, &args.store)?;
    let (_, plan) = make_plan(
        ui,
        &connection.api,
        projects,
        manifest,
        &args.scope,
        Some(store.as_ref()),
        global.concurrency.get(),
    )
    .await?;
    show_plan(ui, args, &plan);
    let plan = approve_by_guard(plan, &args.scope, plan_shown_as(args))?;
    if plan.plan().is_empty() {
        write_report(ui, args, &[], &ApplyReport::default(), plan.plan(), None);
        return Ok(Success::Done);
    }
    probe(store.as_ref())?;
    if !args.auto_approve {
        approve(ui, &plan)?;
    }
    execute(ui, global, args, connection, &store, &plan).await
}

/// Applies a saved plan, trusting none of its changes: the plan is made again from the
/// manifest and the live keys, exactly as `plan` makes it, and applied only if it is the saved
/// plan (the same changes to the same keys, names and roles). A manifest edited since only in
/// comments or layout gives the same plan, so the file stays good; a file edited to do more or
/// other than the manifest says is refused, and the guard and the manifest's checks run again.
async fn apply_saved(
    ui: &Ui,
    global: &GlobalArgs,
    args: &ApplyArgs,
    manifest: &Manifest,
    connection: &Connection,
    projects: Vec<Project>,
    path: &std::path::Path,
) -> CommandResult {
    let mut saved = SavedPlan::read(path)?;
    saved.check_applicable(&connection.api_host())?;
    let store = open_store(manifest, &args.store);
    let scope = PlanScope {
        projects: saved.selected_projects(manifest.desired.projects.len()),
        replace: saved.requested_replacements(),
        max_delete_share: args.scope.max_delete_share,
        max_deletes: args.scope.max_deletes,
        force: args.scope.force,
    };
    let (observed, plan) = make_plan(
        ui,
        &connection.api,
        projects,
        manifest,
        &scope,
        store.as_ref().ok().map(AsRef::as_ref),
        global.concurrency.get(),
    )
    .await?;
    let changed = saved.staleness(&observed.live);
    if !changed.is_empty() {
        let mut failure = CommandError::new(
            ErrorKind::StalePlan,
            "stale plan: the live keys changed since this plan was saved",
        )
        .hint("run `keyplan plan --out FILE` again and review the new plan");
        failure.causes = changed;
        return Err(failure);
    }
    let differences = saved.differences(&plan);
    if !differences.is_empty() {
        let mut failure = CommandError::new(
            ErrorKind::StalePlan,
            "stale plan: the manifest and the live keys no longer give this plan (the manifest \
             changed, or the file was edited)",
        )
        .hint("run `keyplan plan --out FILE` again and review the new plan");
        failure.causes = differences;
        return Err(failure);
    }
    // From here on the plan made now is applied: it is the saved one, change for change.
    show_plan(ui, args, &plan);
    // The guard checks a saved plan again: a refusal saved with `--force` needs it again here.
    let plan = approve_by_guard(plan, &args.scope, plan_shown_as(args))?;
    if plan.plan().is_empty() {
        saved.mark_applied(path)?;
        write_report(ui, args, &[], &ApplyReport::default(), plan.plan(), None);
        return Ok(Success::Done);
    }
    let store = store?;
    probe(store.as_ref())?;
    // Mark before applying: a crash mid-way must not let the same file run twice.
    saved.mark_applied(path)?;
    execute(ui, global, args, connection, &store, &plan).await
}

fn probe(store: &dyn SecretStore) -> Result<(), CommandError> {
    store.probe().map_err(|error| {
        let hint = error.hint.clone();
        let failure = CommandError::failed(format!(
            "the secret store ({}) does not work, so no key was changed",
            store.describe()
        ))
        .about(Topic::SecretStore)
        .cause(&error.message);
        match hint {
            Some(hint) => failure.hint(hint),
            None => failure
                .hint("fix the store, or pass --secrets-file PATH to store secrets in a 0600 file"),
        }
    })
}

fn approve(ui: &Ui, plan: &ApprovedPlan) -> Result<(), CommandError> {
    let deletes = plan
        .plan()
        .changes
        .iter()
        .filter(|c| matches!(c.action(), Action::Delete | Action::Replace))
        .count();
    let question = if deletes > 0 {
        format!(
            "Do you want to perform these actions?\n  keyplan will DELETE {deletes} live key{} \
             (deletes and replaces). Applications using {} lose access at once.\n  \
             Only 'yes' will be accepted to approve.",
            if deletes == 1 { "" } else { "s" },
            if deletes == 1 { "it" } else { "them" },
        )
    } else {
        "Do you want to perform these actions?\n  keyplan will perform the actions described \
         above.\n  Only 'yes' will be accepted to approve."
            .to_owned()
    };
    match ui.confirm(&question) {
        Approval::Approved => Ok(()),
        Approval::Declined => Err(CommandError::new(ErrorKind::NotApproved, "apply cancelled: nothing was changed")),
        Approval::NoTerminal => Err(CommandError::new(ErrorKind::NotApproved,
            "refusing to apply without approval: stdin is not a terminal, so keyplan cannot ask",
        )
        .hint("pass --auto-approve to apply without asking (in CI, apply a reviewed plan: keyplan apply FILE)")),
    }
}

async fn execute(
    ui: &Ui,
    global: &GlobalArgs,
    args: &ApplyArgs,
    connection: &Connection,
    store: &std::sync::Arc<dyn SecretStore>,
    plan: &ApprovedPlan,
) -> CommandResult {
    let options = ApplyOptions {
        concurrency: global.concurrency.get(),
        keep_deleted_secrets: args.keep_deleted_secrets,
    };
    let progress = super::progress::Progress::new(ui.clone(), plan.plan());
    // Kept for the JSON lines, which are written once the apply ends (see render::apply_doc).
    let events = std::sync::Mutex::new(Vec::new());
    let report: ApplyReport =
        crate::apply::apply(&connection.api, store, plan, &options, &|event: Event| {
            progress.on_event(&event);
            if args.format == Format::Json {
                crate::lock::lock(&events).push(event);
            }
        })
        .await;
    let times = progress.finish();
    let events = events
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    write_report(
        ui,
        args,
        &events,
        &report,
        plan.plan(),
        Some((store.as_ref(), &times)),
    );
    if report.is_success() {
        Ok(Success::Done)
    } else {
        // The report above says what failed, in every format.
        let mut failure = CommandError::reported(ErrorKind::PartlyApplied);
        failure.documented = true;
        Err(failure)
    }
}

/// The plan about to be applied: on stdout in human output, else on stderr (stdout gets the
/// apply's own document), so that a CI log still shows it.
fn show_plan(ui: &Ui, args: &ApplyArgs, plan: &crate::plan::Plan) {
    let text = render_plan(
        ui,
        plan,
        Format::Human,
        args.scope.force,
        Heading::default(),
    );
    if args.format == Format::Human {
        ui.out(&text);
    } else {
        ui.info(text.trim_end());
    }
}

/// How the plan was shown, for the guard's refusal: on stdout (human), or not in the document.
fn plan_shown_as(args: &ApplyArgs) -> Option<Format> {
    (args.format == Format::Human).then_some(Format::Human)
}

/// The end of an apply on stdout, in the chosen format. `timed` (the store and the times) is
/// `None` when nothing was applied.
fn write_report(
    ui: &Ui,
    args: &ApplyArgs,
    events: &[Event],
    report: &ApplyReport,
    plan: &crate::plan::Plan,
    timed: Option<(&dyn SecretStore, &crate::render::ApplyTimes)>,
) {
    match args.format {
        Format::Human => {
            if let Some((store, times)) = timed {
                ui.out(&crate::render::apply_report_timed(
                    report,
                    plan,
                    Some(store),
                    Paint::new(ui.color_stdout()),
                    times,
                ));
            }
        }
        Format::Json => ui.out(&crate::render::apply_json_lines(events, report, plan)),
        Format::Markdown => {
            let run_url = super::document::github_run_url();
            let heading = Heading {
                title: args.title.as_deref(),
                run_url: run_url.as_deref(),
            };
            ui.out(&crate::render::apply_markdown(report, plan, heading));
        }
    }
}

//! `keyplan apply [FILE]`: plan, ask, apply; or apply a saved plan exactly, if still current.

use crate::apply::{ApplyOptions, ApplyReport, Event};
use crate::exit::ExitCode;
use crate::manifest::Manifest;
use crate::plan::{Action, Plan};
use crate::secrets::SecretStore;

use super::cli::{ApplyArgs, Format, GlobalArgs};
use super::context::{Connection, load_manifest, observe, open_store};
use super::failure::{CommandResult, Failure};
use super::plan::{guard, make_plan, render_plan};
use super::saved_plan::SavedPlan;
use super::ui::{Approval, Ui};

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &ApplyArgs) -> CommandResult {
    let manifest = load_manifest(ui, &global.file)?;
    let connection = Connection::open(global, Some(&manifest.desired)).await?;
    let result = match &args.plan_file {
        Some(path) => apply_saved(ui, global, args, &manifest, &connection, path).await,
        None => plan_then_apply(ui, global, args, &manifest, &connection).await,
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
) -> CommandResult {
    let store = open_store(manifest, &args.store)?;
    let (_, plan) = make_plan(
        ui,
        &connection.api,
        manifest,
        &args.scope,
        Some(store.as_ref()),
        global.concurrency,
    )
    .await?;
    ui.out(&render_plan(ui, &plan, Format::Human));
    guard(&plan, &args.scope)?;
    if plan.is_empty() {
        return Ok(ExitCode::Success);
    }
    probe(store.as_ref())?;
    if !args.auto_approve {
        approve(ui, &plan)?;
    }
    execute(ui, global, args, connection, &store, &plan).await
}

async fn apply_saved(
    ui: &Ui,
    global: &GlobalArgs,
    args: &ApplyArgs,
    manifest: &Manifest,
    connection: &Connection,
    path: &std::path::Path,
) -> CommandResult {
    let mut saved = SavedPlan::read(path)?;
    saved.check_applicable(&manifest.sha256, &connection.api_host())?;
    let only: Vec<String> = saved
        .snapshot
        .iter()
        .map(|s| s.project.id.to_string())
        .collect();
    let observed = observe(
        &connection.api,
        &manifest.desired,
        &only,
        global.concurrency,
    )
    .await?;
    let changed = saved.staleness(&observed.live);
    if !changed.is_empty() {
        let mut failure = Failure::new(
            ExitCode::StalePlan,
            "stale plan: the live keys changed since this plan was saved",
        )
        .hint("run `keyplan plan --out FILE` again and review the new plan");
        failure.causes = changed;
        return Err(failure);
    }
    ui.out(&render_plan(ui, &saved.plan, Format::Human));
    if saved.plan.is_empty() {
        saved.mark_applied(path)?;
        return Ok(ExitCode::Success);
    }
    let store = open_store(manifest, &args.store)?;
    probe(store.as_ref())?;
    // Mark before applying: a crash mid-way must not let the same file run twice.
    saved.mark_applied(path)?;
    execute(ui, global, args, connection, &store, &saved.plan).await
}

fn probe(store: &dyn SecretStore) -> Result<(), Failure> {
    store.probe().map_err(|error| {
        let hint = error.hint.clone();
        let failure = Failure::error(format!(
            "the secret store ({}) does not work, so no key was changed",
            store.describe()
        ))
        .cause(&error.message);
        match hint {
            Some(hint) => failure.hint(hint),
            None => failure
                .hint("fix the store, or pass --secrets-file PATH to store secrets in a 0600 file"),
        }
    })
}

fn approve(ui: &Ui, plan: &Plan) -> Result<(), Failure> {
    let deletes = plan
        .changes
        .iter()
        .filter(|c| matches!(c.action, Action::Delete | Action::Replace))
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
        Approval::Declined => Err(Failure::new(ExitCode::NotApproved, "apply cancelled: nothing was changed")),
        Approval::NoTerminal => Err(Failure::new(
            ExitCode::NotApproved,
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
    plan: &Plan,
) -> CommandResult {
    let options = ApplyOptions {
        concurrency: global.concurrency,
        keep_deleted_secrets: args.keep_deleted_secrets,
    };
    let progress = super::progress::Progress::new(ui.clone(), plan);
    let report: ApplyReport =
        crate::apply::apply(&connection.api, store, plan, &options, &|event: Event| {
            progress.on_event(&event);
        })
        .await;
    ui.out(&report.render_human(plan, ui.color_stdout()));
    Ok(if report.is_success() {
        ExitCode::Success
    } else {
        ExitCode::PartialFailure
    })
}

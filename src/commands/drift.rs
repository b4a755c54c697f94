//! `keyplan drift`: the scheduled audit. Exit 0 in sync, 2 drift or a policy violation found,
//! 1 error.

use crate::plan::PlanOptions;
use crate::render::RenderOptions;

use super::cli::{DriftArgs, Format, GlobalArgs};
use super::context::{Connection, load_manifest, observe};
use super::error::{CommandResult, Success};
use super::ui::Ui;

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &DriftArgs) -> CommandResult {
    let manifest = load_manifest(ui, &global.file)?;
    let connection = Connection::open(global, Some(&manifest.desired)).await?;
    connection.api.observe(super::progress::Waits::new(ui));
    connection.warn_if_token_expires_soon(ui);
    let result = async {
        let listing = super::progress::Activity::new(ui, "listing the live keys");
        let observed = observe(
            &connection.api,
            &manifest.desired,
            &args.projects,
            global.concurrency.get(),
        )
        .await?;
        drop(listing);
        if !args.projects.is_empty() {
            ui.warn("--project: the audit covers only the named projects");
        }
        let now = jiff::Timestamp::now();
        let options = PlanOptions {
            now: Some(now),
            audit_only: true,
            ..PlanOptions::default()
        };
        let plan = crate::plan::compute_plan(&observed.desired, &observed.live, &options)?;
        let mut report = crate::plan::drift(&plan);
        report.violations =
            crate::plan::audit(&observed.desired, &observed.resolved, &observed.live, now);
        let color = RenderOptions {
            color: ui.color_stdout(),
            ..RenderOptions::default()
        };
        ui.out(&match args.format {
            Format::Human => crate::render::drift_human(&report, &color),
            Format::Json => crate::render::drift_json(&report),
            Format::Markdown => {
                let run_url = super::document::github_run_url();
                let heading = crate::render::Heading {
                    title: args.title.as_deref(),
                    run_url: run_url.as_deref(),
                };
                crate::render::drift_markdown(&report, heading)
            }
        });
        Ok(if report.is_clean() {
            Success::Done
        } else {
            Success::ChangesPresent
        })
    }
    .await;
    connection.close().await;
    result
}

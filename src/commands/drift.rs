//! `keyplan drift`: the scheduled audit. Exit 0 in sync, 2 drift or a policy violation found,
//! 1 error.

use crate::plan::PlanOptions;
use crate::render::RenderOptions;

use super::cli::{DriftArgs, Format, GlobalArgs};
use super::context::with_live_keys;
use super::error::{CommandResult, Success};
use super::ui::Ui;

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &DriftArgs) -> CommandResult {
    with_live_keys(ui, global, &args.projects, "audit", |observed| {
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
    })
    .await
}

//! `keyplan report`: the audit report of every live key of the declared projects (age, roles,
//! rotation due date, policy status). A listing, not a check: exit 0 whatever it finds (use
//! `keyplan drift` to fail on a violation), 1 on an error.

use crate::render::RenderOptions;

use super::cli::{Format, GlobalArgs, ReportArgs};
use super::context::with_live_keys;
use super::error::{CommandResult, Success};
use super::ui::Ui;

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &ReportArgs) -> CommandResult {
    with_live_keys(ui, global, &args.projects, "report", |observed| {
        let report = crate::plan::inventory(
            &observed.desired,
            &observed.resolved,
            &observed.live,
            jiff::Timestamp::now(),
        );
        let color = RenderOptions {
            color: ui.color_stdout(),
            ..RenderOptions::default()
        };
        ui.out(&match args.format {
            Format::Human => crate::render::report_human(&report, &color),
            Format::Json => crate::render::report_json(&report),
            Format::Markdown => crate::render::report_markdown(&report),
        });
        Ok(Success::Done)
    })
    .await
}

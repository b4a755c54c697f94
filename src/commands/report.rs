//! `keyplan report`: the audit report of every live key of the declared projects (age, roles,
//! rotation due date, policy status). A listing, not a check: exit 0 whatever it finds (use
//! `keyplan drift` to fail on a violation), 1 on an error.

use crate::render::RenderOptions;

use super::cli::{Format, GlobalArgs, ReportArgs};
use super::context::{Connection, load_manifest, observe};
use super::error::{CommandResult, Success};
use super::ui::Ui;

pub async fn run(ui: &Ui, global: &GlobalArgs, args: &ReportArgs) -> CommandResult {
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
            ui.warn("--project: the report covers only the named projects");
        }
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
    }
    .await;
    connection.close().await;
    result
}

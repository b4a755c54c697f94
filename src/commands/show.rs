//! `keyplan show FILE`: renders a saved plan.

use crate::render::Heading;

use super::cli::ShowArgs;
use super::error::{CommandResult, Success};
use super::plan::render_plan;
use super::saved_plan::SavedPlan;
use super::ui::Ui;

pub fn run(ui: &Ui, args: &ShowArgs) -> CommandResult {
    let saved = SavedPlan::read(&args.plan_file)?;
    ui.out(&render_plan(
        ui,
        &saved.plan,
        args.format,
        false,
        Heading::default(),
    ));
    if let Some(at) = saved.applied_at {
        ui.warn(&format!("this plan was applied at {at}"));
    }
    Ok(Success::Done)
}

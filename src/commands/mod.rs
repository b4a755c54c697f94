//! The command line: one file per subcommand. The only place that builds clients and stores,
//! prompts, and picks exit codes.

mod apply;
pub mod cli;
mod context;
mod drift;
mod failure;
mod import;
mod plan;
mod progress;
pub mod saved_plan;
mod secret;
mod show;
mod ui;
mod validate;

use clap::Parser as _;

use crate::exit::ExitCode;
use cli::{Cli, Command};
use failure::CommandResult;
use ui::Ui;

/// Runs keyplan with the process's arguments.
pub fn run() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    let ui = Ui::new(cli.global.no_color);
    // One thread: keyplan's work is waiting on the network, which one thread overlaps as well as
    // many, without cross-thread wake-ups (a 5,000-key plan: about 57 -> 50 ms of CPU). Blocking
    // work (secret stores) goes to the blocking pool, never onto this thread.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            ui.error(
                &format!("failed to start the async runtime: {error}"),
                &[],
                None,
            );
            return ExitCode::Error;
        }
    };
    match runtime.block_on(dispatch(&ui, cli)) {
        Ok(code) => code,
        Err(failure) => {
            if !failure.reported {
                ui.error(&failure.message, &failure.causes, failure.hint.as_deref());
            }
            failure.exit
        }
    }
}

async fn dispatch(ui: &Ui, cli: Cli) -> CommandResult {
    let global = &cli.global;
    match cli.command {
        Command::Validate => validate::run(ui, global),
        Command::Plan(args) => plan::run(ui, global, &args).await,
        Command::Apply(args) => apply::run(ui, global, &args).await,
        Command::Show(args) => show::run(ui, &args),
        Command::Drift(args) => drift::run(ui, global, &args).await,
        Command::Import(args) => import::run(ui, global, &args).await,
        Command::Schema => {
            let schema = serde_json::to_string_pretty(&crate::manifest::json_schema())
                .map_err(|e| failure::Failure::wrap("render the schema", &e))?;
            ui.out(&schema);
            Ok(ExitCode::Success)
        }
        Command::Secret(cli::SecretCommand::Get(args)) => secret::get(ui, global, &args).await,
        Command::Emulator(args) => Ok(crate::emulator::run_cli(args).await),
    }
}

/// Help and version exit 0; anything else is a usage error, 64, never 2 (which means "changes").
#[expect(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "clap's own output"
)]
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    let rendered = error.render();
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            print!("{rendered}");
            ExitCode::Success
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            eprint!("{rendered}");
            ExitCode::Usage
        }
        _ => {
            eprint!("{}", rendered.ansi());
            ExitCode::Usage
        }
    }
}

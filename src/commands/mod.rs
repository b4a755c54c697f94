//! The command line: one file per subcommand. The only place that builds clients and stores,
//! prompts, and ends a command ([`error::exit_code`] picks the exit code).

mod apply;
pub mod cli;
mod completions;
mod context;
mod document;
mod drift;
pub mod error;
mod import;
mod logging;
mod plan;
mod progress;
mod report;
pub mod saved_plan;
mod secret;
mod show;
mod start;
mod ui;
mod validate;

use crate::exit::ExitCode;
use cli::{Cli, Command};
use error::{CommandError, CommandResult, ErrorKind, Success, exit_code};
use ui::Ui;

/// Runs keyplan with the process's arguments.
pub fn run() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let cli = match cli::parse(&args) {
        Ok(cli) => cli,
        Err(error) => return exit_code(&usage_error(&Ui::for_raw_args(&args), &error)),
    };
    let ui = Ui::new(cli.global.no_color);
    logging::init(&ui, cli.global.verbose);
    // One thread: keyplan's work is waiting on the network, which one thread overlaps as well as
    // many, without cross-thread wake-ups (a 5,000-key plan: about 57 -> 50 ms of CPU). Blocking
    // work (secret stores) goes to the blocking pool, never onto this thread.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let failed = Err(CommandError::wrap("start the async runtime", &error));
            report(&ui, &failed);
            return exit_code(&failed);
        }
    };
    let document = cli.command.document_output();
    let result = runtime.block_on(dispatch(&ui, cli));
    report(&ui, &result);
    if let (Some(document), Err(error)) = (&document, &result) {
        document::write_failure(&ui, document, error, &result);
    }
    exit_code(&result)
}

/// Prints a command's error, unless it was shown in full already.
fn report(ui: &Ui, result: &CommandResult) {
    if let Err(error) = result
        && !error.reported
    {
        ui.error(&error.message, &error.causes, &error.hints);
    }
}

async fn dispatch(ui: &Ui, cli: Cli) -> CommandResult {
    let global = &cli.global;
    match cli.command {
        Command::Validate(args) => validate::run(ui, global, &args),
        Command::Plan(args) => plan::run(ui, global, &args).await,
        Command::Apply(args) => apply::run(ui, global, &args).await,
        Command::Show(args) => show::run(ui, &args),
        Command::Drift(args) => drift::run(ui, global, &args).await,
        Command::Report(args) => report::run(ui, global, &args).await,
        Command::Import(args) => import::run(ui, global, &args).await,
        Command::Schema(args) => {
            use crate::render::schemas;
            let schema = match args.document {
                cli::SchemaDocument::Manifest => schemas::manifest_schema(),
                cli::SchemaDocument::Plan => schemas::plan_schema(),
                cli::SchemaDocument::Drift => schemas::drift_schema(),
                cli::SchemaDocument::SecretsFile => schemas::secrets_file_schema(),
            };
            let schema = serde_json::to_string_pretty(&schema)
                .map_err(|e| CommandError::wrap("render the schema", &e))?;
            ui.out(&schema);
            Ok(Success::Done)
        }
        Command::Secret(cli::SecretCommand::Get(args)) => secret::get(ui, global, &args).await,
        Command::Emulator(args) => {
            crate::emulator::serve_cli(args, &mut ui.clone()).await?;
            Ok(Success::Done)
        }
        Command::Completions(args) => completions::completions(ui, &args),
        Command::Man => completions::man(ui),
    }
}

/// Help and version succeed; anything else is a usage error (64, never 2, which means
/// "changes"), printed as clap renders it, through the same `Ui` as every other message: its
/// styles reach the stream only when the colour decision says so.
fn usage_error(ui: &Ui, error: &clap::Error) -> CommandResult {
    use clap::error::ErrorKind as Clap;
    let rendered = error.render().ansi().to_string();
    match error.kind() {
        Clap::DisplayHelp | Clap::DisplayVersion => {
            ui.out_styled(&rendered);
            return Ok(Success::Done);
        }
        _ => ui.styled_err(&rendered),
    }
    Err(CommandError::reported(ErrorKind::Usage))
}

//! The command line: one file per subcommand. The only place that builds clients and stores,
//! prompts, and picks exit codes.

use crate::exit::ExitCode;

/// Runs keyplan with the process's arguments.
pub fn run() -> ExitCode {
    // TEMP wiring (emulator helper): `keyplan emulator ...` until the lead wires the real CLI.
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_some_and(|arg| arg == "emulator") {
        return temp_emulator(args);
    }
    ExitCode::Success
}

// TEMP wiring (emulator helper): parses the emulator's flags and runs it on a tokio runtime.
fn temp_emulator(args: Vec<std::ffi::OsString>) -> ExitCode {
    use clap::Parser as _;
    #[derive(clap::Parser)]
    #[command(name = "keyplan emulator")]
    struct Cli {
        #[command(flatten)]
        args: crate::emulator::EmulatorArgs,
    }
    let command_line = std::iter::once(std::ffi::OsString::from("keyplan emulator"))
        .chain(args.into_iter().skip(2));
    let cli = match Cli::try_parse_from(command_line) {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::Usage
            } else {
                ExitCode::Success
            };
        }
    };
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime.block_on(crate::emulator::run_cli(cli.args)),
        Err(_) => ExitCode::Error,
    }
}

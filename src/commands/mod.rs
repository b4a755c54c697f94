//! The command line: one file per subcommand. The only place that builds clients and stores,
//! prompts, and picks exit codes.

use crate::exit::ExitCode;

/// Runs keyplan with the process's arguments.
pub fn run() -> ExitCode {
    ExitCode::Success
}

//! The one exit-code table. Nothing else decides how keyplan exits.
//!
//! Code 2 means "changes present" and only ever comes from `plan --detailed-exitcode` and
//! `drift`; wrappers read it that way, so usage errors use 64 (`EX_USAGE`), never 2.

/// A process exit code with its meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExitCode {
    /// Success; for `plan --detailed-exitcode` and `drift`: no changes.
    Success,
    /// An error: bad manifest, API failure, store failure.
    Error,
    /// `plan --detailed-exitcode`: changes present. `drift`: drift found.
    Changes,
    /// The safety guard refused a plan with too many deletions (`--force` overrides).
    GuardRefused,
    /// `apply`: the plan was not approved at the prompt, or no terminal to ask on.
    NotApproved,
    /// `apply FILE`: the live keys changed since the plan was saved, or it was applied already.
    StalePlan,
    /// `apply`: some actions failed; the rest were applied. Re-run `plan` to see what is left.
    PartialFailure,
    /// The command line could not be parsed.
    Usage,
}

impl ExitCode {
    /// Every code, in table order (used by `--help` and docs tests).
    pub const ALL: [ExitCode; 8] = [
        ExitCode::Success,
        ExitCode::Error,
        ExitCode::Changes,
        ExitCode::GuardRefused,
        ExitCode::NotApproved,
        ExitCode::StalePlan,
        ExitCode::PartialFailure,
        ExitCode::Usage,
    ];

    pub fn code(self) -> u8 {
        match self {
            ExitCode::Success => 0,
            ExitCode::Error => 1,
            ExitCode::Changes => 2,
            ExitCode::GuardRefused => 3,
            ExitCode::NotApproved => 4,
            ExitCode::StalePlan => 5,
            ExitCode::PartialFailure => 6,
            ExitCode::Usage => 64,
        }
    }

    pub fn meaning(self) -> &'static str {
        match self {
            ExitCode::Success => "success; with --detailed-exitcode or in drift: no changes",
            ExitCode::Error => "error (manifest, credentials, API, secret store)",
            ExitCode::Changes => {
                "changes present (only plan --detailed-exitcode, and drift: drift found)"
            }
            ExitCode::GuardRefused => "safety guard: the plan deletes too many keys (see --force)",
            ExitCode::NotApproved => "apply not approved (answer was not 'yes', or no terminal)",
            ExitCode::StalePlan => "saved plan is stale or was already applied",
            ExitCode::PartialFailure => "apply partly failed; run plan again to see what is left",
            ExitCode::Usage => "usage error (bad command line)",
        }
    }

    /// The table as `--help` shows it.
    pub fn table() -> String {
        use std::fmt::Write as _;
        let mut out = String::from("Exit codes:\n");
        for code in ExitCode::ALL {
            let _ = writeln!(out, "  {:>2}  {}", code.code(), code.meaning());
        }
        out
    }
}

impl From<ExitCode> for std::process::ExitCode {
    fn from(code: ExitCode) -> Self {
        std::process::ExitCode::from(code.code())
    }
}

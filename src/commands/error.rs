//! How a command ends: [`Success`] or a [`CommandError`] (a kind, a message, the cause chain
//! and hints), every conversion from a domain error with its hints, and [`exit_code`], the one
//! function that turns an ending into a process exit code.

use crate::emulator::EmulatorCliError;
use crate::exit::ExitCode;
use crate::live::ApiError;
use crate::plan::{GuardRefused, PlanError};
use crate::secrets::StoreError;

/// A command that finished.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Success {
    Done,
    /// `plan --detailed-exitcode` found changes; `drift` found drift.
    ChangesPresent,
}

/// What went wrong, as far as the exit code is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The command line: unknown flags, values out of range, a malformed `PROJECT/KEY`.
    Usage,
    /// Anything else that stops a command: manifest, credentials, API, secret store, files.
    Failed,
    /// The safety guard refused the plan.
    GuardRefused,
    /// Nobody approved the apply.
    NotApproved,
    /// A saved plan that is stale, for another manifest or API, or applied already.
    StalePlan,
    /// An apply in which some changes failed; the rest were applied.
    PartlyApplied,
}

/// What failed, for the error document's `kind` (finer than [`ErrorKind`], which picks the
/// exit code): a machine can tell a credentials problem from an API failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Topic {
    Usage,
    Manifest,
    /// The manifest does not fit the organisation (an unknown project, a duplicate key).
    Plan,
    Credentials,
    Api,
    SecretStore,
    Guard,
    StalePlan,
    NotApproved,
    PartlyApplied,
    Other,
}

impl Topic {
    /// The name a JSON error document carries in `kind`.
    pub fn as_str(self) -> &'static str {
        match self {
            Topic::Usage => "usage",
            Topic::Manifest => "manifest",
            Topic::Plan => "plan",
            Topic::Credentials => "credentials",
            Topic::Api => "api",
            Topic::SecretStore => "secret_store",
            Topic::Guard => "guard_refused",
            Topic::StalePlan => "stale_plan",
            Topic::NotApproved => "not_approved",
            Topic::PartlyApplied => "partly_applied",
            Topic::Other => "error",
        }
    }

    /// The topic a kind implies when nothing finer is known.
    fn of(kind: ErrorKind) -> Topic {
        match kind {
            ErrorKind::Usage => Topic::Usage,
            ErrorKind::Failed => Topic::Other,
            ErrorKind::GuardRefused => Topic::Guard,
            ErrorKind::NotApproved => Topic::NotApproved,
            ErrorKind::StalePlan => Topic::StalePlan,
            ErrorKind::PartlyApplied => Topic::PartlyApplied,
        }
    }
}

/// Why a command stopped. Printed once, by `commands::run`.
#[derive(Debug)]
pub struct CommandError {
    pub kind: ErrorKind,
    /// What failed, finer than `kind`.
    pub topic: Topic,
    /// A lowercase fragment that reads after "failed to" or on its own.
    pub message: String,
    /// The source chain, outermost first, printed as `caused by:` lines.
    pub causes: Vec<String>,
    /// What the user can do, printed as `hint:` lines.
    pub hints: Vec<String>,
    /// Already shown in full (manifest diagnostics, an apply report): print nothing more.
    pub reported: bool,
    /// The command's `--format json|markdown` document on stdout says it already (a refused
    /// plan, an apply's report): no error document follows it.
    pub documented: bool,
}

/// The result of a command.
pub type CommandResult = Result<Success, CommandError>;

/// The one place that decides how keyplan exits.
pub fn exit_code(result: &CommandResult) -> ExitCode {
    match result {
        Ok(Success::Done) => ExitCode::Success,
        Ok(Success::ChangesPresent) => ExitCode::Changes,
        Err(error) => match error.kind {
            ErrorKind::Usage => ExitCode::Usage,
            ErrorKind::Failed => ExitCode::Error,
            ErrorKind::GuardRefused => ExitCode::GuardRefused,
            ErrorKind::NotApproved => ExitCode::NotApproved,
            ErrorKind::StalePlan => ExitCode::StalePlan,
            ErrorKind::PartlyApplied => ExitCode::PartialFailure,
        },
    }
}

impl CommandError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CommandError {
            kind,
            topic: Topic::of(kind),
            message: message.into(),
            causes: Vec::new(),
            hints: Vec::new(),
            reported: false,
            documented: false,
        }
    }

    pub fn failed(message: impl Into<String>) -> Self {
        CommandError::new(ErrorKind::Failed, message)
    }

    /// A failure whose explanation was already printed; only its kind remains.
    pub fn reported(kind: ErrorKind) -> Self {
        CommandError {
            reported: true,
            ..CommandError::new(kind, String::new())
        }
    }

    /// Says what failed, for the error document.
    #[must_use]
    pub fn about(mut self, topic: Topic) -> Self {
        self.topic = topic;
        self
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hints.push(hint.into());
        self
    }

    #[must_use]
    pub fn cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }

    /// Wraps an error under a message, keeping its whole source chain as causes.
    pub fn wrap(message: impl Into<String>, error: &(dyn std::error::Error + 'static)) -> Self {
        let mut wrapped = CommandError::failed(message);
        wrapped.causes = chain(Some(error));
        wrapped
    }
}

/// The numeric exit code `result` ends the process with, for documents that carry it.
pub fn exit_number(result: &CommandResult) -> u8 {
    exit_code(result).code()
}

/// Each error's message, from `first` down its source chain.
fn chain(first: Option<&(dyn std::error::Error + 'static)>) -> Vec<String> {
    std::iter::successors(first, |err| err.source())
        .map(ToString::to_string)
        .collect()
}

/// What a 403 from the Admin API most likely means, most frequent first: the server's own text
/// rarely says which.
const FORBIDDEN_HINTS: [&str; 3] = [
    "Pinecone refused the change (403). On the Starter and Builder plans keys are created with \
     all permissions only (ProjectEditor): a key with other roles, or a role change, needs \
     role_change = \"replace\" in the manifest (create a new key, then delete the old one) or a \
     plan upgrade",
    "or the service account has no role on this project: give it one (e.g. Project Editor) in \
     the Pinecone console, under the organisation's service accounts",
    "or the project's key quota is full: delete unused keys first",
];

impl From<ApiError> for CommandError {
    fn from(error: ApiError) -> Self {
        let hints: &[&str] = match &error {
            ApiError::Credentials(_) => &[
                "set PINECONE_ACCESS_TOKEN, or PINECONE_CLIENT_ID and PINECONE_CLIENT_SECRET \
                 (a service account's credentials); or try --sandbox",
            ],
            ApiError::Api { status: 401, .. } => {
                &["the credentials were refused: check PINECONE_CLIENT_ID/PINECONE_CLIENT_SECRET"]
            }
            ApiError::Api { status: 403, .. } => &FORBIDDEN_HINTS,
            _ => &[],
        };
        let topic = match &error {
            ApiError::Credentials(_) | ApiError::Api { status: 401, .. } => Topic::Credentials,
            _ => Topic::Api,
        };
        hints.iter().fold(
            CommandError::failed(error.to_string()).about(topic),
            |converted, hint| converted.hint(*hint),
        )
    }
}

impl From<StoreError> for CommandError {
    fn from(error: StoreError) -> Self {
        let converted = CommandError::failed(format!("secret store: {}", error.message))
            .about(Topic::SecretStore);
        match error.hint {
            Some(hint) => converted.hint(hint),
            None => converted,
        }
    }
}

impl From<PlanError> for CommandError {
    fn from(error: PlanError) -> Self {
        // Several problems print as one list, each with its own hint. A plan refused by a
        // [[policy]] rule is a manifest error like `validate`'s: exit 1, never --force-able.
        let converted = CommandError::failed(error.to_string()).about(Topic::Plan);
        match error.hint() {
            Some(hint) => converted.hint(hint),
            None => converted,
        }
    }
}

impl From<EmulatorCliError> for CommandError {
    fn from(error: EmulatorCliError) -> Self {
        let mut converted = CommandError::failed(error.to_string());
        converted.causes = chain(std::error::Error::source(&error));
        match error.hint() {
            Some(hint) => converted.hint(hint),
            None => converted,
        }
    }
}

impl From<GuardRefused> for CommandError {
    fn from(refused: GuardRefused) -> Self {
        let mut converted = CommandError::new(
            ErrorKind::GuardRefused,
            "refused by the safety guard: the plan deletes too many keys",
        );
        converted.causes = crate::render::words::guard_reasons(&refused.refusal);
        converted.hint(crate::render::words::GUARD_ADVICE)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_403_explains_the_plan_and_the_service_account_role() {
        let forbidden = CommandError::from(ApiError::Api {
            status: 403,
            code: Some("FORBIDDEN".into()),
            message: "Forbidden".into(),
            request_id: None,
        });
        assert_eq!(forbidden.kind, ErrorKind::Failed);
        assert!(
            forbidden
                .message
                .contains("Forbidden (HTTP 403, FORBIDDEN)")
        );
        let hints = forbidden.hints.join("\n");
        for needle in [
            "Starter and Builder plans",
            "all permissions only",
            "role_change = \"replace\"",
            "plan upgrade",
            "service account has no role on this project",
        ] {
            assert!(hints.contains(needle), "{needle:?} missing from:\n{hints}");
        }
        let other = CommandError::from(ApiError::Api {
            status: 409,
            code: None,
            message: "Conflict".into(),
            request_id: None,
        });
        assert!(other.hints.is_empty());
    }
}

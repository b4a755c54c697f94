//! A command's failure: what went wrong, why, what to do, and which exit code it means.

use crate::exit::ExitCode;

/// Why a command stopped. Rendered once, by `commands::run`.
#[derive(Debug)]
pub struct Failure {
    pub exit: ExitCode,
    /// A lowercase fragment that reads after "failed to" or on its own.
    pub message: String,
    pub causes: Vec<String>,
    pub hint: Option<String>,
    /// Already printed in full (e.g. manifest diagnostics): print nothing more.
    pub reported: bool,
}

impl Failure {
    pub fn new(exit: ExitCode, message: impl Into<String>) -> Self {
        Failure {
            exit,
            message: message.into(),
            causes: Vec::new(),
            hint: None,
            reported: false,
        }
    }

    pub fn error(message: impl Into<String>) -> Self {
        Failure::new(ExitCode::Error, message)
    }

    /// A failure whose explanation was already printed; only the exit code remains.
    pub fn reported(exit: ExitCode) -> Self {
        Failure {
            reported: true,
            ..Failure::new(exit, String::new())
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn cause(mut self, cause: impl std::fmt::Display) -> Self {
        self.causes.push(cause.to_string());
        self
    }

    /// Wraps an error under a message, keeping its source chain as causes.
    pub fn wrap(message: impl Into<String>, error: &(dyn std::error::Error + 'static)) -> Self {
        let mut failure = Failure::error(message);
        let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
        while let Some(err) = next {
            failure.causes.push(err.to_string());
            next = err.source();
        }
        failure
    }
}

impl From<crate::live::ApiError> for Failure {
    fn from(error: crate::live::ApiError) -> Self {
        use crate::live::ApiError;
        let hint = match &error {
            ApiError::Credentials(_) => Some(
                "set PINECONE_ACCESS_TOKEN, or PINECONE_CLIENT_ID and PINECONE_CLIENT_SECRET \
                 (a service account's credentials); or try --sandbox",
            ),
            ApiError::Api { status: 401, .. } => Some(
                "the credentials were refused: check PINECONE_CLIENT_ID/PINECONE_CLIENT_SECRET",
            ),
            ApiError::Api { status: 403, .. } => Some(
                "the organisation refused it: a full key quota, or a plan (Starter) that forbids \
                 this role or role change (see role_change = \"replace\")",
            ),
            _ => None,
        };
        let failure = Failure::error(error.to_string());
        match hint {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    }
}

impl From<crate::secrets::StoreError> for Failure {
    fn from(error: crate::secrets::StoreError) -> Self {
        let failure = Failure::error(format!("secret store: {}", error.message));
        match error.hint {
            Some(hint) => failure.hint(hint),
            None => failure,
        }
    }
}

/// The result of a command: the exit code on success, a failure otherwise.
pub type CommandResult = Result<ExitCode, Failure>;

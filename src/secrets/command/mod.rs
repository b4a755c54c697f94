//! The command store: hands each new secret to a user's command (`gh secret set`, `vault kv
//! put`, a cloud CLI) on its stdin, and, when the store's table names them, runs its
//! `rename_command` and `delete_command` when a key is renamed or deleted.
//!
//! The secret goes to the child's stdin only: never into its arguments (visible in `ps`) nor its
//! environment (visible in `/proc/PID/environ`). How the child runs (its environment without
//! Pinecone credentials, its process group, its bounded wait) is `process`'s job; what of a
//! failing command's stderr is shown is `redact`'s. The store cannot read a secret back: it
//! says which lifecycle steps it cannot follow, and apply tells the user what to do by hand.

mod process;
mod redact;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::template::{Values, expand};
use super::{Lifecycle, SecretRecord, SecretStore, StoreError};
use crate::desired::CommandConfig;
use crate::model::{KeyId, Project, Secret};
use process::Failure;

/// A command that has not finished by then is killed: apply must not hang on a prompt.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs the store's commands.
#[derive(Debug, Clone)]
pub struct CommandStore {
    config: CommandConfig,
    timeout: Duration,
    /// Commands run one at a time, even when apply stores many secrets at once: a user's
    /// script need not be safe to run concurrently (many append to a file, or drive a CLI
    /// with local state of its own).
    one_at_a_time: Arc<Mutex<()>>,
}

impl CommandStore {
    /// `command` is the program and its arguments, placeholders filled in in each of them.
    pub fn new(command: Vec<String>) -> Result<Self, StoreError> {
        Self::from_config(&CommandConfig {
            command,
            ..CommandConfig::default()
        })
    }

    /// A store running `config`'s commands with `config.env` added to their environment.
    pub fn from_config(config: &CommandConfig) -> Result<Self, StoreError> {
        let named = |argv: &[String]| argv.first().is_some_and(|p| !p.is_empty());
        let lifecycle_ok = [&config.rename_command, &config.delete_command]
            .into_iter()
            .flatten()
            .all(|argv| named(argv));
        if named(&config.command) && lifecycle_ok {
            return Ok(CommandStore {
                config: config.clone(),
                timeout: DEFAULT_TIMEOUT,
                one_at_a_time: Arc::default(),
            });
        }
        Err(StoreError::new("a secrets command is empty").with_hint(
            "set command (and rename_command, delete_command if given) to a program and its \
             arguments, e.g. [\"gh\", \"secret\", \"set\", \"{key:upper_snake}\"]",
        ))
    }

    /// Changes how long a command may run before it is killed (five minutes by default).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Whether `delete_command` addresses one key's entry (by `{key_id}`) rather than a name.
    fn names_key_ids(&self) -> bool {
        self.config.delete_command.iter().flatten().any(|arg| {
            super::template::placeholders(arg)
                .iter()
                .any(|p| p.name == "key_id")
        })
    }

    /// Runs `template` with `values` filled in, `secret` (if any) on its stdin.
    fn run(
        &self,
        template: &[String],
        values: &Values<'_>,
        secret: Option<&Secret>,
    ) -> Result<(), StoreError> {
        let argv: Vec<String> = template.iter().map(|arg| expand(arg, values)).collect();
        let env: BTreeMap<String, String> = self
            .config
            .env
            .iter()
            .map(|(name, value)| (name.clone(), expand(value, values)))
            .collect();
        let _turn = crate::lock::lock(&self.one_at_a_time);
        let shown = shell_words(&argv);
        let program = argv.first().map_or("", String::as_str);
        let finished = match process::run(&argv, &env, secret, self.timeout) {
            Ok(finished) => finished,
            Err(Failure::Start(e)) => {
                return Err(StoreError::new(format!(
                    "failed to start secrets command `{shown}`: {e}"
                ))
                .with_hint(program_hint(program)));
            }
            Err(Failure::Wait(e)) => {
                return Err(StoreError::new(format!(
                    "failed to wait for secrets command `{shown}`: {e}"
                )));
            }
            Err(Failure::TimedOut) => {
                return Err(StoreError::new(format!(
                    "secrets command `{shown}` did not finish within {}s and was killed, with \
                     every process it started",
                    self.timeout.as_secs()
                ))
                .with_hint("check that the command does not wait for input other than stdin"));
            }
        };
        if !finished.status.success() {
            let mut message = format!(
                "secrets command `{shown}` failed ({})",
                describe(finished.status)
            );
            // A rename or delete command gets no secret, so keyplan cannot scrub its stderr,
            // which may well hold one (a rename pipes the value from one tool to another).
            let Some(secret) = secret else {
                return Err(StoreError::new(message).with_hint(
                    "run the command by hand to see why; its stderr is not shown, since it may \
                     hold a secret keyplan cannot redact",
                ));
            };
            let stderr = redact::redact_and_shorten(&finished.stderr, Some(secret.expose()));
            if !stderr.is_empty() {
                message.push_str(": ");
                message.push_str(&stderr);
            }
            return Err(StoreError::new(message)
                .with_hint("run the command by hand to see why (its stderr ends as shown)"));
        }
        match finished.stdin {
            Some(Err(e)) => Err(StoreError::new(format!(
                "failed to pass the secret to secrets command `{shown}`: {e}"
            ))),
            _ => Ok(()),
        }
    }
}

impl SecretStore for CommandStore {
    fn describe(&self) -> String {
        format!("command `{}`", shell_words(&self.config.command))
    }

    /// Checks that each program exists and is executable, without running it: running it
    /// would store (or rename, or delete) something.
    fn probe(&self) -> Result<(), StoreError> {
        let commands = std::iter::once(&self.config.command)
            .chain(&self.config.rename_command)
            .chain(&self.config.delete_command);
        for argv in commands {
            let program = argv.first().map_or("", String::as_str);
            if find_program(program).is_none() {
                return Err(StoreError::new(format!(
                    "secrets command program {program:?} not found"
                ))
                .with_hint(program_hint(program)));
            }
        }
        Ok(())
    }

    fn put(&self, record: &SecretRecord, secret: &Secret) -> Result<(), StoreError> {
        let values = Values {
            key_id: Some(&record.key_id),
            ..Values::new(&record.project, &record.key_name)
        };
        self.run(&self.config.command, &values, Some(secret))
    }

    /// Runs `rename_command` (`{old_key}` is `from`, `{key}` is `to`); without one, the store
    /// cannot follow the rename and says so through [`SecretStore::cannot_follow`].
    fn rename(
        &self,
        project: &Project,
        key_id: &KeyId,
        from: &str,
        to: &str,
    ) -> Result<bool, StoreError> {
        let Some(command) = &self.config.rename_command else {
            return Ok(false);
        };
        let values = Values {
            key_id: Some(key_id),
            old_key: Some(from),
            ..Values::new(project, to)
        };
        self.run(command, &values, None).map(|()| true)
    }

    /// Runs `delete_command`; without one, the store cannot follow the delete.
    fn remove(
        &self,
        project: &Project,
        key_id: &KeyId,
        key_name: &str,
    ) -> Result<bool, StoreError> {
        let Some(command) = &self.config.delete_command else {
            return Ok(false);
        };
        let values = Values {
            key_id: Some(key_id),
            ..Values::new(project, key_name)
        };
        self.run(command, &values, None).map(|()| true)
    }

    /// Runs `delete_command` once, for the name the secret was stored under, unless a
    /// replacing key's secret took that name over and the command names no `{key_id}`: it
    /// would delete the new secret.
    fn remove_left(
        &self,
        project: &Project,
        key_id: &KeyId,
        _names: &[String],
        stored_under: &str,
        successor: Option<&str>,
    ) -> Result<bool, StoreError> {
        if successor == Some(stored_under) && !self.names_key_ids() {
            return Ok(false);
        }
        self.remove(project, key_id, stored_under)
    }

    fn held_key_id(&self, _: &Project, _: &str) -> Result<Option<KeyId>, StoreError> {
        Ok(None)
    }

    fn get(&self, _: &Project, _: &str) -> Result<Option<Secret>, StoreError> {
        Ok(None)
    }

    fn can_read_back(&self) -> bool {
        false
    }

    fn cannot_follow(&self, _: &Project, _: &str, step: Lifecycle) -> Vec<String> {
        let command = match step {
            Lifecycle::Rename => &self.config.rename_command,
            Lifecycle::Delete => &self.config.delete_command,
        };
        if command.is_some() {
            Vec::new()
        } else {
            vec![self.describe()]
        }
    }
}

fn describe(status: ExitStatus) -> String {
    if let Some(code) = status.code() {
        return format!("exit status {code}");
    }
    #[cfg(unix)]
    if let Some(signal) = std::os::unix::process::ExitStatusExt::signal(&status) {
        return format!("killed by signal {signal}");
    }
    status.to_string()
}

/// Finds the program the way `Command` will: a path when it contains a separator, else on PATH.
fn find_program(program: &str) -> Option<PathBuf> {
    if program.is_empty() {
        return None;
    }
    if program.contains(std::path::MAIN_SEPARATOR) || program.contains('/') {
        let path = PathBuf::from(program);
        return is_executable(&path).then_some(path);
    }
    let paths = std::env::var_os("PATH")?;
    std::env::split_paths(&paths)
        .map(|dir| dir.join(program))
        .find(|candidate| is_executable(candidate))
}

fn is_executable(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        meta.is_file() && meta.permissions().mode() & 0o111 != 0
    }
    #[cfg(not(unix))]
    {
        meta.is_file()
    }
}

fn program_hint(program: &str) -> String {
    format!(
        "install {program:?} or fix [secrets] command (a program on PATH or an executable path)"
    )
}

/// The command line as a user would type it, for messages (arguments never hold a secret).
fn shell_words(argv: &[String]) -> String {
    argv.iter()
        .map(|arg| {
            if !arg.is_empty()
                && arg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./:=@%+,{}".contains(c))
            {
                arg.clone()
            } else {
                format!("'{}'", arg.replace('\'', r"'\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_command_is_refused() {
        assert!(CommandStore::new(Vec::new()).is_err());
        assert!(CommandStore::new(vec![String::new()]).is_err());
        let empty_delete = CommandConfig {
            command: vec!["true".into()],
            delete_command: Some(Vec::new()),
            ..CommandConfig::default()
        };
        assert!(CommandStore::from_config(&empty_delete).is_err());
    }

    #[test]
    fn probe_finds_programs_on_path_without_running_them() {
        let store = CommandStore::new(vec!["sh".into(), "-c".into(), "exit 1".into()]);
        assert!(store.is_ok_and(|s| s.probe().is_ok()));
        let missing = CommandStore::new(vec!["keyplan-no-such-program-xyz".into()]);
        let error = missing.map(|s| s.probe());
        assert!(
            matches!(error, Ok(Err(ref e)) if e.hint.is_some()),
            "{error:?}"
        );
    }

    #[test]
    fn shell_words_quote_what_needs_it() {
        let argv = ["gh", "secret", "set", "a b"].map(String::from);
        assert_eq!(shell_words(&argv), "gh secret set 'a b'");
    }
}

//! The command store: hands each new secret to a user's command (`gh secret set`, `vault kv
//! put`, a cloud CLI) on its stdin.
//!
//! The secret goes to the child's stdin only: never into its arguments (visible in `ps`) nor its
//! environment (visible in `/proc/PID/environ`). The child inherits keyplan's environment less
//! the Pinecone credentials keyplan runs with (an admin credential is no business of a script
//! that stores one key's secret). Its stdout is drained and dropped (it may echo what it was
//! given); its stderr is kept for the error message, with any copy of the secret redacted. The store is
//! write-only: it cannot read a secret back, rename it or remove it; apply tells the user to do
//! that on their side.

use std::collections::HashSet;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::{SecretRecord, SecretStore, StoreError, entry_name};
use crate::model::{KeyId, Project, Secret};

/// How much of the command's stderr an error message shows.
const STDERR_SHOWN: usize = 2000;
/// The shortest piece of a secret that is redacted wherever it appears in the command's
/// stderr: long enough that text of the tool's own does not match by chance.
const REDACTED_RUN: usize = 8;
/// How much stderr is kept for redaction before it is shortened.
const STDERR_KEPT: usize = 64 * 1024;
/// A command that has not finished by then is killed: apply must not hang on a prompt.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(300);

/// Runs `command` once per new secret.
#[derive(Debug, Clone)]
pub struct CommandStore {
    command: Vec<String>,
    timeout: Duration,
    /// Commands run one at a time, even when apply stores many secrets at once: a user's
    /// script need not be safe to run concurrently (many append to a file, or drive a CLI
    /// with local state of its own).
    one_at_a_time: Arc<Mutex<()>>,
}

impl CommandStore {
    /// `command` is the program and its arguments; `{project}`, `{project_id}` and `{key}` are
    /// filled in in each of them.
    pub fn new(command: Vec<String>) -> Result<Self, StoreError> {
        match command.first() {
            Some(program) if !program.is_empty() => Ok(CommandStore {
                command,
                timeout: DEFAULT_TIMEOUT,
                one_at_a_time: Arc::default(),
            }),
            _ => Err(StoreError::new("the secrets command is empty").with_hint(
                "set [secrets] command to a program and its arguments, e.g. \
                 [\"gh\", \"secret\", \"set\", \"{key}\"]",
            )),
        }
    }

    /// Changes how long a command may run before it is killed (five minutes by default).
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn argv(&self, project: &Project, key_name: &str) -> Vec<String> {
        self.command
            .iter()
            .map(|arg| entry_name(arg, project, key_name))
            .collect()
    }

    fn run(&self, argv: &[String], secret: &Secret) -> Result<(), StoreError> {
        let _turn = crate::lock::lock(&self.one_at_a_time);
        let shown = shell_words(argv);
        let (program, arguments) = argv
            .split_first()
            .ok_or_else(|| StoreError::new("the secrets command is empty"))?;
        let mut command = Command::new(program);
        for (name, _) in std::env::vars_os() {
            if is_pinecone_credential(&name) {
                command.env_remove(name);
            }
        }
        let mut child = command
            .args(arguments)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                StoreError::new(format!("failed to start secrets command `{shown}`: {e}"))
                    .with_hint(program_hint(program))
            })?;

        // Each pipe gets its own thread, so a child that writes a lot before reading its stdin
        // (or never reads it) cannot deadlock us.
        let stdin = child.stdin.take();
        let value = secret.expose().to_owned();
        let writer = std::thread::spawn(move || -> io::Result<()> {
            if let Some(mut stdin) = stdin {
                match stdin.write_all(value.as_bytes()) {
                    // The child may exit without reading everything; its status decides.
                    Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {}
                    other => other?,
                }
            }
            Ok(())
        });
        let stdout = child.stdout.take();
        let drain = std::thread::spawn(move || {
            if let Some(mut stdout) = stdout {
                let _ = io::copy(&mut stdout, &mut io::sink());
            }
        });
        let stderr = child.stderr.take();
        let collect = std::thread::spawn(move || {
            let mut kept = Vec::new();
            if let Some(stderr) = stderr {
                let mut head = stderr.take(STDERR_KEPT as u64);
                let _ = head.read_to_end(&mut kept);
                // Keep draining past the limit so the child never blocks on a full pipe.
                let _ = io::copy(&mut head.into_inner(), &mut io::sink());
            }
            kept
        });

        let status = wait_with_timeout(&mut child, self.timeout);
        let status = match status {
            Ok(Some(status)) => status,
            Ok(None) => {
                // Our own child, killed by its handle.
                let _ = child.kill();
                let _ = child.wait();
                return Err(StoreError::new(format!(
                    "secrets command `{shown}` did not finish within {}s and was killed",
                    self.timeout.as_secs()
                ))
                .with_hint("check that the command does not wait for input other than stdin"));
            }
            Err(e) => {
                return Err(StoreError::new(format!(
                    "failed to wait for secrets command `{shown}`: {e}"
                )));
            }
        };
        let wrote = writer.join();
        let _ = drain.join();
        let stderr = collect.join().unwrap_or_default();
        if !status.success() {
            let stderr = redact_and_shorten(&stderr, secret);
            let mut message = format!("secrets command `{shown}` failed ({})", describe(status));
            if !stderr.is_empty() {
                message.push_str(": ");
                message.push_str(&stderr);
            }
            return Err(StoreError::new(message).with_hint(
                "run the command by hand to see why; the new key is deleted since its secret \
                 was not stored",
            ));
        }
        match wrote {
            Ok(Ok(())) => Ok(()),
            Ok(Err(e)) => Err(StoreError::new(format!(
                "failed to pass the secret to secrets command `{shown}`: {e}"
            ))),
            Err(_) => Err(StoreError::new(format!(
                "failed to pass the secret to secrets command `{shown}`"
            ))),
        }
    }
}

impl SecretStore for CommandStore {
    fn describe(&self) -> String {
        format!("command `{}`", shell_words(&self.command))
    }

    /// Checks that the program exists and is executable, without running it: running it would
    /// store something.
    fn probe(&self) -> Result<(), StoreError> {
        let program = self.command.first().map_or("", String::as_str);
        if find_program(program).is_some() {
            Ok(())
        } else {
            Err(
                StoreError::new(format!("secrets command program {program:?} not found"))
                    .with_hint(program_hint(program)),
            )
        }
    }

    fn put(&self, record: &SecretRecord, secret: &Secret) -> Result<(), StoreError> {
        let argv = self.argv(&record.project, &record.key_name);
        self.run(&argv, secret)
    }

    /// A command store cannot move what it handed on: the user renames it on their side.
    fn rename(&self, _: &Project, _: &KeyId, _: &str, _: &str) -> Result<bool, StoreError> {
        Ok(false)
    }

    /// A command store cannot remove what it handed on: the user removes it on their side.
    fn remove(&self, _: &Project, _: &KeyId, _: &str) -> Result<bool, StoreError> {
        Ok(false)
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
}

/// Whether an environment variable may hold a Pinecone credential: keyplan's own
/// (`PINECONE_ACCESS_TOKEN`, `PINECONE_CLIENT_ID`, `PINECONE_CLIENT_SECRET`) and any other
/// `PINECONE_*` name for a key, token, secret or password (the SDKs' `PINECONE_API_KEY`).
/// Settings such as `PINECONE_CONTROLLER_HOST` are kept.
fn is_pinecone_credential(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy().to_ascii_uppercase();
    name.strip_prefix("PINECONE_").is_some_and(|rest| {
        rest == "CLIENT_ID"
            || ["KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL"]
                .iter()
                .any(|word| rest.contains(word))
    })
}

fn wait_with_timeout(
    child: &mut std::process::Child,
    timeout: Duration,
) -> io::Result<Option<ExitStatus>> {
    let deadline = Instant::now() + timeout;
    let mut pause = Duration::from_millis(1);
    loop {
        if let Some(status) = child.try_wait()? {
            return Ok(Some(status));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
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

/// The command's stderr as text, every copy of the secret or of part of it replaced (see
/// [`redact`]), cut to a readable length. Redaction comes first so a cut can never leave part
/// of a secret behind.
fn redact_and_shorten(stderr: &[u8], secret: &Secret) -> String {
    let text = redact(&String::from_utf8_lossy(stderr), secret.expose());
    let text = text.trim();
    if text.len() <= STDERR_SHOWN {
        return text.to_owned();
    }
    let mut end = STDERR_SHOWN;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} more bytes)", &text[..end], text.len() - end)
}

/// `text` with `[redacted]` in place of every run of [`REDACTED_RUN`] or more characters of
/// `secret` (or of the whole secret, when it is shorter), whitespace ignored on both sides.
/// Tools rarely echo a secret whole: they cut it to a width, print it in parts, or wrap it over
/// lines, and each piece is still most of a secret.
fn redact(text: &str, secret: &str) -> String {
    let needle: Vec<char> = secret.chars().filter(|c| !c.is_whitespace()).collect();
    if needle.is_empty() {
        return text.to_owned();
    }
    let run = needle.len().min(REDACTED_RUN);
    // Every run longer than `run` is a chain of overlapping runs of exactly `run`: looking
    // those up finds them all, in time linear in the text.
    let pieces: HashSet<&[char]> = needle.windows(run).collect();
    // The text without whitespace, each character with its byte offset in `text`.
    let (offsets, chars): (Vec<usize>, Vec<char>) = text
        .char_indices()
        .filter(|(_, c)| !c.is_whitespace())
        .unzip();
    let mut covered = vec![false; chars.len()];
    for (start, window) in chars.windows(run).enumerate() {
        if pieces.contains(window) {
            covered[start..start + run].fill(true);
        }
    }
    let mut redacted = String::with_capacity(text.len());
    let mut copied = 0;
    let mut i = 0;
    while i < chars.len() {
        if !covered[i] {
            i += 1;
            continue;
        }
        let mut last = i;
        while covered.get(last + 1) == Some(&true) {
            last += 1;
        }
        // The whitespace inside a copy (a line break where it wrapped) goes with it.
        redacted.push_str(&text[copied..offsets[i]]);
        redacted.push_str("[redacted]");
        copied = offsets[last] + chars[last].len_utf8();
        i = last + 1;
    }
    redacted.push_str(&text[copied..]);
    redacted
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
    fn redaction_comes_before_shortening() {
        let secret = Secret::new("pcsk_topsecret");
        let mut stderr = "x".repeat(STDERR_SHOWN - 5).into_bytes();
        stderr.extend_from_slice(b"pcsk_topsecret and more");
        let shown = redact_and_shorten(&stderr, &secret);
        assert!(!shown.contains("pcsk_"), "{shown}");
        assert!(shown.contains("more bytes"), "{shown}");
        assert_eq!(
            redact_and_shorten(b"bad token pcsk_topsecret\n", &secret),
            "bad token [redacted]"
        );
    }

    #[test]
    fn pinecone_credentials_are_told_from_settings() {
        for name in [
            "PINECONE_ACCESS_TOKEN",
            "PINECONE_CLIENT_ID",
            "PINECONE_CLIENT_SECRET",
            "PINECONE_API_KEY",
            "pinecone_client_secret",
        ] {
            assert!(is_pinecone_credential(name.as_ref()), "{name}");
        }
        for name in [
            "PINECONE_CONTROLLER_HOST",
            "PINECONE_OAUTH_URL",
            "PATH",
            "MY_PINECONE_NOTE",
        ] {
            assert!(!is_pinecone_credential(name.as_ref()), "{name}");
        }
    }

    #[test]
    fn pieces_and_wrapped_copies_of_the_secret_are_redacted() {
        let secret = "pcsk_4Jd8sKq2LmZx9TvW0bNc7YpQ";
        for (stderr, shown) in [
            // Cut to a width, with an ellipsis.
            (
                "invalid value 'pcsk_4Jd8sKq2L…'",
                "invalid value '[redacted]…'",
            ),
            // In two halves, each of them most of the secret.
            (
                "got pcsk_4Jd8sKq2Lm and Zx9TvW0bNc7YpQ",
                "got [redacted] and [redacted]",
            ),
            // Wrapped over lines, indented: one copy, line breaks and all.
            (
                "token:\n  pcsk_4Jd8sK\n  q2LmZx9TvW\n  0bNc7YpQ\ndone",
                "token:\n  [redacted]\ndone",
            ),
            // Text sharing less than 8 characters with the secret stays.
            ("pcsk_ keys: 2LmZx9T", "pcsk_ keys: 2LmZx9T"),
        ] {
            assert_eq!(redact(stderr, secret), shown, "{stderr}");
        }
        // A secret shorter than a piece is redacted whole, and only whole.
        assert_eq!(
            redact("a b-c abc; a\nbc", "abc"),
            "a b-c [redacted]; [redacted]"
        );
        assert_eq!(redact("nothing", ""), "nothing");
    }

    #[test]
    fn an_empty_command_is_refused() {
        assert!(CommandStore::new(Vec::new()).is_err());
        assert!(CommandStore::new(vec![String::new()]).is_err());
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

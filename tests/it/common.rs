//! The integration-test harness: a real emulator on loopback, a temp directory with a manifest,
//! and a small builder that runs the real `keyplan` binary against them.
//!
//! The leak scan is built in: every keyplan run the harness makes ([`Run::run`], [`Pty`]) has its
//! stdout and stderr scanned, as soon as it ends, for every secret the emulator issued so far,
//! and a single hit fails the test; no test has to ask for it. The one opt-out is
//! [`Run::stdout_is_a_secret`], for `keyplan secret get`, whose stdout is a secret by request.
//! [`Env::assert_no_leaks`] adds the files left in the temp directory (except the secret store
//! files the test names) to the scan.

#![expect(clippy::unwrap_used, reason = "test harness")]

use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::Mutex;

use keyplan::emulator::{BackgroundEmulator, EmulatorConfig};

use keyplan::model::{LiveKey, Project, Role};
use keyplan::testkit::files::walk;

pub const CLIENT_ID: &str = "test-client";
pub const CLIENT_SECRET: &str = "test-client-secret";

/// A manifest of one key, `reader` (`DataPlaneViewer`) in project `prod`, whose secret goes to
/// `secrets.json`.
pub const PROD_READER_FILE_STORE: &str = r#"[secrets]
store = "file"
path = "secrets.json"

[[project]]
name = "prod"
  [[project.key]]
  name = "reader"
  roles = ["DataPlaneViewer"]
"#;

/// A running emulator, a scratch directory, and the outputs of every keyplan run.
pub struct Env {
    pub emulator: BackgroundEmulator,
    pub dir: tempfile::TempDir,
    outputs: Mutex<Vec<String>>,
}

impl Env {
    pub fn new() -> Self {
        Self::with_config(EmulatorConfig::default())
    }

    pub fn with_config(config: EmulatorConfig) -> Self {
        let config = EmulatorConfig {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            ..config
        };
        let emulator =
            keyplan::emulator::start_in_background(config, "127.0.0.1:0".parse().unwrap()).unwrap();
        Env {
            emulator,
            dir: tempfile::tempdir().unwrap(),
            outputs: Mutex::new(Vec::new()),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Writes `keyplan.toml` in the scratch directory.
    pub fn manifest(&self, toml: &str) -> &Self {
        std::fs::write(self.path("keyplan.toml"), toml).unwrap();
        self
    }

    pub fn project(&self, name: &str) -> Project {
        self.emulator.add_project(name)
    }

    pub fn key(&self, project: &Project, name: &str, roles: &[Role]) -> LiveKey {
        self.emulator.add_key(&project.id, name, roles)
    }

    pub fn keys(&self, project: &Project) -> Vec<LiveKey> {
        let mut keys = self.emulator.keys(&project.id);
        keys.sort_by(|a, b| a.name.cmp(&b.name).then(a.id.cmp(&b.id)));
        keys
    }

    /// (name, sorted role names) of a project's live keys, sorted: easy to assert on.
    pub fn key_summary(&self, project: &Project) -> Vec<(String, Vec<&'static str>)> {
        self.keys(project)
            .into_iter()
            .map(|k| (k.name, k.roles.iter().map(known_role_name).collect()))
            .collect()
    }

    /// A keyplan invocation in the scratch directory, pointed at the emulator.
    pub fn keyplan<I, S>(&self, args: I) -> Run<'_>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyplan"));
        command
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PINECONE_CLIENT_ID", CLIENT_ID)
            .env("PINECONE_CLIENT_SECRET", CLIENT_SECRET)
            .env("PINECONE_CONTROLLER_HOST", self.emulator.base_url())
            .env("PINECONE_OAUTH_URL", self.emulator.oauth_url());
        for var in [
            "DBUS_SESSION_BUS_ADDRESS",
            "XDG_RUNTIME_DIR",
            "XDG_DATA_HOME",
            "HOME",
        ] {
            if let Some(value) = std::env::var_os(var) {
                command.env(var, value);
            }
        }
        command.args(args.into_iter().map(|a| a.as_ref().to_owned()));
        Run {
            env: self,
            command,
            stdin: None,
            stdout_is_a_secret: false,
        }
    }

    /// The keyplan binary run under a pseudo-terminal (for the approval prompt). Everything it
    /// prints is scanned for secrets, like [`Run::run`]'s output. Unix only (rexpect).
    #[cfg(unix)]
    pub fn keyplan_pty(&self, args: &[&str]) -> Pty<'_> {
        let mut command = Command::new(env!("CARGO_BIN_EXE_keyplan"));
        command
            .current_dir(self.dir.path())
            .env("PINECONE_CLIENT_ID", CLIENT_ID)
            .env("PINECONE_CLIENT_SECRET", CLIENT_SECRET)
            .env("PINECONE_CONTROLLER_HOST", self.emulator.base_url())
            .env("PINECONE_OAUTH_URL", self.emulator.oauth_url())
            .env("NO_COLOR", "1")
            .args(args);
        let what = format!("output of `keyplan {}` (on a terminal)", args.join(" "));
        Pty {
            env: self,
            what,
            session: Some(rexpect::session::spawn_command(command, Some(30_000)).unwrap()),
        }
    }

    /// The keyplan binary on a pseudo-terminal `columns` wide, in a clean environment (the
    /// harness's credentials and hosts, `TERM=xterm-256color`) plus `vars`: for what keyplan
    /// draws on a real terminal, colour and redrawn lines included. Scanned like the others.
    pub fn keyplan_on_terminal(
        &self,
        columns: u16,
        vars: &[(&str, &str)],
        args: &[&str],
    ) -> Pty<'_> {
        // The terminal's size is set from inside it, as a user's terminal would have it.
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(format!("stty cols {columns} rows 40 && exec \"$0\" \"$@\""))
            .arg(env!("CARGO_BIN_EXE_keyplan"))
            .args(args)
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("TERM", "xterm-256color")
            .env("PINECONE_CLIENT_ID", CLIENT_ID)
            .env("PINECONE_CLIENT_SECRET", CLIENT_SECRET)
            .env("PINECONE_CONTROLLER_HOST", self.emulator.base_url())
            .env("PINECONE_OAUTH_URL", self.emulator.oauth_url());
        for (name, value) in vars {
            command.env(name, value);
        }
        let what = format!("output of `keyplan {}` (on a terminal)", args.join(" "));
        Pty {
            env: self,
            what,
            session: Some(rexpect::session::spawn_command(command, Some(30_000)).unwrap()),
        }
    }

    /// The leak scan of one piece of keyplan's output: fails the test if `text` holds any
    /// secret the emulator issued so far, and keeps `text` for [`Env::assert_no_leaks`].
    fn scan(&self, what: &str, text: &str) {
        for secret in self.emulator.issued_secrets() {
            assert!(
                !text.contains(secret.as_str()),
                "a secret leaked into the {what}"
            );
        }
        self.outputs.lock().unwrap().push(text.to_owned());
    }

    /// Fails if any secret the emulator issued appears in anything keyplan printed or left in
    /// the scratch directory, the named secret store files excepted. (Each run's output was
    /// already scanned when it ended; this adds the files, and secrets issued since.)
    pub fn assert_no_leaks(&self, store_files: &[&str]) {
        let secrets = self.emulator.issued_secrets();
        let mut haystacks = self.outputs.lock().unwrap().clone();
        for entry in walk(self.dir.path()) {
            let name = entry.file_name().unwrap().to_string_lossy().into_owned();
            if store_files.contains(&name.as_str()) {
                continue;
            }
            if let Ok(text) = std::fs::read_to_string(&entry) {
                haystacks.push(text);
            }
        }
        for secret in &secrets {
            for text in &haystacks {
                assert!(
                    !text.contains(secret.as_str()),
                    "a secret leaked into keyplan's output or files"
                );
            }
        }
    }
}

/// One keyplan invocation being built.
pub struct Run<'a> {
    env: &'a Env,
    command: Command,
    stdin: Option<String>,
    stdout_is_a_secret: bool,
}

impl Run<'_> {
    pub fn stdin(mut self, text: &str) -> Self {
        self.stdin = Some(text.to_owned());
        self
    }

    /// The leak scan's only opt-out, for `keyplan secret get`, whose stdout is a secret on
    /// purpose: its stdout is not scanned (its stderr still is).
    pub fn stdout_is_a_secret(mut self) -> Self {
        self.stdout_is_a_secret = true;
        self
    }

    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.command.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Self {
        self.command.env_remove(key);
        self
    }

    /// Runs with stdout and stderr pipes whose reading ends are closed at once, as when the
    /// reader of `keyplan apply 2>&1 | head` has exited. Returns the exit code.
    pub fn run_with_output_closed(mut self) -> Option<i32> {
        self.command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn().unwrap();
        drop(child.stdout.take());
        drop(child.stderr.take());
        child.wait().unwrap().code()
    }

    /// Runs to completion. stdin is a pipe (never a terminal), closed after `stdin` text.
    pub fn run(mut self) -> Finished {
        self.command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = self.command.spawn().unwrap();
        let mut pipe = child.stdin.take().unwrap();
        if let Some(text) = &self.stdin {
            let _ = pipe.write_all(text.as_bytes());
        }
        drop(pipe);
        let output = child.wait_with_output().unwrap();
        let finished = Finished::from(output);
        let args: Vec<String> = self
            .command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        let args = args.join(" ");
        if !self.stdout_is_a_secret {
            self.env
                .scan(&format!("stdout of `keyplan {args}`"), &finished.stdout);
        }
        self.env
            .scan(&format!("stderr of `keyplan {args}`"), &finished.stderr);
        finished
    }
}

/// keyplan running under a pseudo-terminal. Whatever it prints is scanned for secrets as it is
/// read, and what is left unread is read and scanned when this is dropped.
#[cfg(unix)]
pub struct Pty<'a> {
    env: &'a Env,
    what: String,
    session: Option<rexpect::session::PtySession>,
}

#[cfg(unix)]
impl Pty<'_> {
    fn session(&mut self) -> &mut rexpect::session::PtySession {
        self.session.as_mut().unwrap()
    }

    /// Waits for `needle`; returns what keyplan printed before it.
    pub fn expect(&mut self, needle: &str) -> String {
        let before = self.session().exp_string(needle).unwrap();
        self.env.scan(&self.what, &before);
        before
    }

    pub fn send_line(&mut self, line: &str) {
        self.session().send_line(line).unwrap();
    }

    /// Waits for keyplan to exit; returns the rest of what it printed.
    pub fn eof(mut self) -> String {
        let rest = self.session().exp_eof().unwrap();
        self.session = None;
        self.env.scan(&self.what, &rest);
        rest
    }
}

#[cfg(unix)]
impl Drop for Pty<'_> {
    fn drop(&mut self) {
        if let Some(mut session) = self.session.take()
            && !std::thread::panicking()
        {
            let rest = session.exp_eof().unwrap();
            self.env.scan(&self.what, &rest);
        }
    }
}

/// What a run left: exit code and both streams as text.
#[derive(Debug)]
pub struct Finished {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Finished {
    fn from(output: Output) -> Self {
        Finished {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Finished {
    /// Asserts the exit code, showing both streams when it differs.
    #[track_caller]
    pub fn code(self, expected: i32) -> Self {
        assert_eq!(
            self.code, expected,
            "exit code {} (expected {expected})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

/// The name libtest gives `function` in the module `module` (pass `module_path!()`), for running
/// one test of this binary in a child process with `--exact`.
#[cfg(unix)]
pub fn test_name(module: &str, function: &str) -> String {
    // libtest names tests by their path inside the crate: drop the crate name.
    match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{function}"),
        None => function.to_owned(),
    }
}

/// A known role's name, for comparing with literals (these tests declare known roles only).
fn known_role_name(role: &Role) -> &'static str {
    static KNOWN: [Role; 6] = Role::ALL;
    KNOWN
        .iter()
        .find(|known| *known == role)
        .map_or_else(|| panic!("unexpected role {role}"), Role::as_str)
}

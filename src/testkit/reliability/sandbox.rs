//! One scenario's sandbox: its own emulator on loopback and temp directory, and keyplan run
//! in it as a child process ([`Program`] says how to start it), with everything keyplan printed
//! kept for the leak and panic scans.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::emulator::{BackgroundEmulator, EmulatorConfig, Faults};

use super::{CLIENT_ID, CLIENT_SECRET, GUARD_OFF, SECRETS, STATE};
use crate::testkit::files::walk;

/// How to start keyplan: a path, and variables to set (the example runs itself as keyplan).
#[derive(Debug, Clone)]
pub struct Program {
    pub path: PathBuf,
    pub env: Vec<(String, String)>,
    /// Fail (panic) as soon as a run prints a secret, whole or a 16-character piece of one,
    /// instead of only counting it in [`Sandbox::leaks`]. Tests set it, so no test can forget
    /// the leak scan; the example leaves it off and reports the count as a figure.
    pub panic_on_leak: bool,
}

/// A scenario's emulator, directory, and everything keyplan printed.
pub struct Sandbox {
    pub emulator: BackgroundEmulator,
    pub dir: tempfile::TempDir,
    program: Program,
    outputs: Mutex<Vec<String>>,
}

/// A finished keyplan run.
#[derive(Debug, Clone)]
pub struct Finished {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Sandbox {
    pub fn new(program: &Program, faults: Faults) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let config = EmulatorConfig {
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            faults,
            state_file: Some(dir.path().join(STATE)),
            ..EmulatorConfig::default()
        };
        let emulator =
            crate::emulator::start_in_background(config, "127.0.0.1:0".parse().unwrap()).unwrap();
        Sandbox {
            emulator,
            dir,
            program: program.clone(),
            outputs: Mutex::new(Vec::new()),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write_manifest(&self, text: &str) {
        std::fs::write(self.path("keyplan.toml"), text).unwrap();
    }

    /// A keyplan command in the scenario directory, pointed at the emulator, stdin closed.
    pub fn command(&self, args: &[String]) -> Command {
        let mut command = Command::new(&self.program.path);
        command
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("PINECONE_CLIENT_ID", CLIENT_ID)
            .env("PINECONE_CLIENT_SECRET", CLIENT_SECRET)
            .env("PINECONE_CONTROLLER_HOST", self.emulator.base_url())
            .env("PINECONE_OAUTH_URL", self.emulator.oauth_url())
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .args(args);
        for (key, value) in &self.program.env {
            command.env(key, value);
        }
        command
    }

    /// Runs keyplan to completion and records its output for the leak scan.
    pub fn run(&self, args: &[String]) -> Finished {
        let started = Instant::now();
        let output = self.command(args).output().unwrap();
        self.finish(&output, started)
    }

    pub fn spawn(&self, args: &[String]) -> Child {
        self.command(args).spawn().unwrap()
    }

    /// Collects a child's output (after exit or kill) and records it.
    pub fn wait(&self, child: Child, started: Instant) -> Finished {
        let output = child.wait_with_output().unwrap();
        self.finish(&output, started)
    }

    fn finish(&self, output: &std::process::Output, started: Instant) -> Finished {
        let finished = Finished {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            elapsed: started.elapsed(),
        };
        if self.program.panic_on_leak {
            let secrets = self.emulator.issued_secrets();
            for (stream, text) in [("stdout", &finished.stdout), ("stderr", &finished.stderr)] {
                assert!(
                    !secrets.iter().any(|secret| leaked_in(secret, text)),
                    "a secret (or a piece of one) leaked into a keyplan run's {stream} (exit {})",
                    finished.code
                );
            }
        }
        let mut outputs = self.outputs.lock().unwrap();
        outputs.push(finished.stdout.clone());
        outputs.push(finished.stderr.clone());
        finished
    }

    /// `apply --auto-approve` with the file store in the scenario directory.
    pub fn apply_args(&self, extra: &[String]) -> Vec<String> {
        let mut args: Vec<String> = ["apply", "--auto-approve", "--secrets-file"]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
        args.push(self.path(SECRETS).display().to_string());
        args.extend(GUARD_OFF.iter().map(|s| (*s).to_owned()));
        args.extend(extra.iter().cloned());
        args
    }

    pub fn plan_args() -> Vec<String> {
        let mut args = vec!["plan".to_owned(), "--detailed-exitcode".to_owned()];
        args.extend(GUARD_OFF.iter().map(|s| (*s).to_owned()));
        args
    }

    /// How many times any secret the emulator issued (whole, or its first or last 16
    /// characters) appears in keyplan's output or in a file of the directory other than the
    /// secret store and its temp files.
    pub fn leaks(&self) -> usize {
        let secrets = self.emulator.issued_secrets();
        let mut haystacks = self.outputs.lock().unwrap().clone();
        for path in walk(self.dir.path()) {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            if name.starts_with(SECRETS) {
                continue;
            }
            if let Ok(bytes) = std::fs::read(&path) {
                haystacks.push(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
        secrets
            .iter()
            .map(|secret| {
                haystacks
                    .iter()
                    .filter(|text| leaked_in(secret, text))
                    .count()
            })
            .sum()
    }

    /// Runs whose stderr shows a panic.
    pub fn panics(&self) -> usize {
        self.outputs
            .lock()
            .unwrap()
            .iter()
            .filter(|text| text.contains("panicked"))
            .count()
    }
}

/// Whether `text` holds `secret` whole, or its first or last 16 characters (a quoted, truncated
/// body).
fn leaked_in(secret: &str, text: &str) -> bool {
    let chars: Vec<char> = secret.chars().collect();
    let head: String = chars.iter().take(16).collect();
    let tail: String = chars[chars.len().saturating_sub(16)..].iter().collect();
    text.contains(head.as_str()) || text.contains(tail.as_str())
}

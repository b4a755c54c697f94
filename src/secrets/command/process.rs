//! Running one secrets command: its environment, its pipes, its deadline.
//!
//! Three guarantees, each against a real way a user's command goes wrong:
//! - **No credentials**: the child inherits keyplan's environment less every Pinecone
//!   credential variable; what a destination needs is passed with the store's `env` table.
//! - **No hang on the deadline**: the command runs in a process group of its own, and the
//!   timeout kills the whole group, not only the command (a shell's children die with it).
//! - **No hang on output**: once the command has exited, keyplan waits only a moment for its
//!   pipes to close. A background child it left holding stdout or stderr (`sleep 600 &`) can
//!   keep them open for as long as it likes; keyplan goes on without it.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::model::Secret;

/// How much of the end of the command's stderr is kept (for redaction, then shortening).
const STDERR_KEPT: usize = 64 * 1024;
/// How long to wait for the pipes to close once the command has exited.
const OUTPUT_GRACE: Duration = Duration::from_millis(300);

/// What a finished command left.
#[derive(Debug)]
pub(super) struct Finished {
    pub status: ExitStatus,
    /// The end of its stderr (at most [`STDERR_KEPT`] bytes), unredacted.
    pub stderr: Vec<u8>,
    /// Whether the whole of stdin was handed over (`None`: nothing was to be written).
    pub stdin: Option<io::Result<()>>,
}

/// Why a command did not finish.
#[derive(Debug)]
pub(super) enum Failure {
    Start(io::Error),
    Wait(io::Error),
    /// Still running at the deadline: its process group was killed.
    TimedOut,
}

/// Runs `argv` with `env` added and `stdin` (if any) written to its stdin, within `timeout`.
pub(super) fn run(
    argv: &[String],
    env: &BTreeMap<String, String>,
    stdin: Option<&Secret>,
    timeout: Duration,
) -> Result<Finished, Failure> {
    let (program, arguments) = argv
        .split_first()
        .ok_or_else(|| Failure::Start(io::Error::other("empty command")))?;
    let mut command = Command::new(program);
    command.args(arguments);
    for (name, _) in std::env::vars_os() {
        if is_pinecone_credential(&name) {
            command.env_remove(name);
        }
    }
    command.envs(env);
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(Failure::Start)?;

    // One thread per pipe, so a child that writes a lot before reading its stdin (or never
    // reads it) cannot deadlock us; each reports on a channel, so waiting for it is bounded.
    let (wrote_tx, wrote_rx) = mpsc::channel();
    if let (Some(mut pipe), Some(secret)) = (child.stdin.take(), stdin) {
        let value = secret.expose().to_owned();
        std::thread::spawn(move || {
            let result = match pipe.write_all(value.as_bytes()) {
                // The child may exit without reading everything; its status decides.
                Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
                other => other,
            };
            drop(pipe);
            let _ = wrote_tx.send(result);
        });
    }
    if let Some(mut stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            let _ = io::copy(&mut stdout, &mut io::sink());
        });
    }
    let kept = Arc::new(Mutex::new(Vec::new()));
    let (read_tx, read_rx) = mpsc::channel::<()>();
    if let Some(stderr) = child.stderr.take() {
        let kept = Arc::clone(&kept);
        std::thread::spawn(move || {
            keep_tail(stderr, &kept);
            let _ = read_tx.send(());
        });
    }

    let status = match wait_with_timeout(&mut child, timeout) {
        Ok(Some(status)) => status,
        Ok(None) => {
            kill_group(&mut child);
            return Err(Failure::TimedOut);
        }
        Err(e) => {
            kill_group(&mut child);
            return Err(Failure::Wait(e));
        }
    };
    let deadline = Instant::now() + OUTPUT_GRACE;
    let stdin = stdin.map(|_| {
        wrote_rx
            .recv_timeout(deadline.saturating_duration_since(Instant::now()))
            .unwrap_or_else(|_| Err(io::Error::other("the command did not read its stdin")))
    });
    let _ = read_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
    let stderr = std::mem::take(&mut *crate::lock::lock(&kept));
    Ok(Finished {
        status,
        stderr,
        stdin,
    })
}

/// Reads `pipe` to its end, keeping its last [`STDERR_KEPT`] bytes in `kept` as they come (so
/// what was read is there even if the pipe never closes).
fn keep_tail(mut pipe: impl Read, kept: &Mutex<Vec<u8>>) {
    let mut buffer = [0u8; 8192];
    loop {
        match pipe.read(&mut buffer) {
            Ok(0) => return,
            Ok(n) => {
                let mut kept = crate::lock::lock(kept);
                kept.extend_from_slice(&buffer[..n]);
                if kept.len() > 2 * STDERR_KEPT {
                    let excess = kept.len() - STDERR_KEPT;
                    kept.drain(..excess);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return,
        }
    }
}

/// Kills the command and everything it started (its process group), then reaps it.
fn kill_group(child: &mut std::process::Child) {
    #[cfg(unix)]
    {
        use nix::sys::signal::{Signal, killpg};
        use nix::unistd::Pid;
        if let Ok(pid) = i32::try_from(child.id()) {
            let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
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

/// Whether an environment variable may hold a Pinecone credential: keyplan's own
/// (`PINECONE_ACCESS_TOKEN`, `PINECONE_CLIENT_ID`, `PINECONE_CLIENT_SECRET`) and any other
/// `PINECONE_*` name for a key, token, secret or password (the SDKs' `PINECONE_API_KEY`).
/// Settings such as `PINECONE_CONTROLLER_HOST` are kept.
pub(super) fn is_pinecone_credential(name: &std::ffi::OsStr) -> bool {
    let name = name.to_string_lossy().to_ascii_uppercase();
    name.strip_prefix("PINECONE_").is_some_and(|rest| {
        rest == "CLIENT_ID"
            || ["KEY", "TOKEN", "SECRET", "PASSWORD", "CREDENTIAL"]
                .iter()
                .any(|word| rest.contains(word))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

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

    #[cfg(unix)]
    #[test]
    fn a_background_child_holding_the_pipes_does_not_hold_keyplan() {
        let argv = ["sh", "-c", "sleep 30 & echo done >&2; exit 3"].map(String::from);
        let started = Instant::now();
        let finished = run(&argv, &BTreeMap::new(), None, Duration::from_secs(20));
        assert!(started.elapsed() < Duration::from_secs(5));
        let finished = finished.unwrap_or_else(|_| panic!("the command did not finish"));
        assert_eq!(finished.status.code(), Some(3));
        assert_eq!(finished.stderr, b"done\n");
    }

    #[cfg(unix)]
    #[test]
    fn the_timeout_kills_the_whole_process_group() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let marker = dir.path().join("grandchild-lived");
        let script = format!("(sleep 2; touch '{}') & sleep 30", marker.display());
        let argv = ["sh".to_owned(), "-c".to_owned(), script];
        let started = Instant::now();
        let result = run(&argv, &BTreeMap::new(), None, Duration::from_millis(300));
        assert!(matches!(result, Err(Failure::TimedOut)));
        assert!(started.elapsed() < Duration::from_secs(2));
        std::thread::sleep(Duration::from_secs(3));
        assert!(!marker.exists(), "the grandchild outlived the timeout");
    }
}

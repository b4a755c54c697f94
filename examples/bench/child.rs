//! Running one child process (keyplan or the SDK script) and measuring it: wall time from
//! spawn to exit, its CPU time (the growth of `getrusage(RUSAGE_CHILDREN)` across the run, with
//! microsecond resolution; children run one at a time), and its peak resident memory through
//! GNU time when the machine has it (`RUSAGE_CHILDREN`'s maxrss is a maximum over every child
//! so far, not this one's; the crate forbids `unsafe`, so `wait4` is not at hand).

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use keyplan::emulator::Counters;
use nix::sys::resource::{UsageWho, getrusage};

/// GNU time, if installed: `/usr/bin/time -f ... -o FILE`.
const GNU_TIME: &str = "/usr/bin/time";

/// What one run of a child cost.
#[derive(Debug, Clone)]
pub struct Run {
    pub wall: Duration,
    /// User + system CPU time of the child (with GNU time around it: plus GNU time's own, about
    /// a millisecond).
    pub cpu: Duration,
    /// Peak resident set size in KiB (None without GNU time).
    pub maxrss_kib: Option<u64>,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
    /// The emulator's counters for this run (set by the caller).
    pub counters: Counters,
}

impl Run {
    /// The first lines of the child's output, for an error message.
    pub fn excerpt(&self) -> String {
        let text = format!("{}\n{}", self.stdout, self.stderr);
        let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
        let tail = lines.len().saturating_sub(15);
        lines[tail..].join("\n")
    }
}

/// Spawns children with GNU time around them when it is there.
#[derive(Debug)]
pub struct Runner {
    time: Option<PathBuf>,
    scratch: PathBuf,
}

impl Runner {
    /// `scratch` is a directory for GNU time's output file.
    pub fn new(scratch: &Path) -> Self {
        let time = Path::new(GNU_TIME);
        let usable = Command::new(time)
            .args(["-f", "%M", "true"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        Runner {
            time: usable.then(|| time.to_path_buf()),
            scratch: scratch.to_path_buf(),
        }
    }

    /// Whether CPU time and memory are measured.
    pub fn measures_resources(&self) -> bool {
        self.time.is_some()
    }

    /// Runs `program args...` to completion with `envs` added (and the `PINECONE_*` variables
    /// of this process removed, so the caller's environment cannot redirect the child).
    pub fn run(
        &self,
        program: &Path,
        args: &[String],
        envs: &[(&str, String)],
    ) -> Result<Run, String> {
        let rusage_file = self.scratch.join("rusage.txt");
        let mut command = match &self.time {
            Some(time) => {
                let mut c = Command::new(time);
                c.arg("-f").arg("%M").arg("-o").arg(&rusage_file);
                c.arg(program);
                c
            }
            None => Command::new(program),
        };
        command.args(args).stdin(Stdio::null());
        for (name, _) in std::env::vars() {
            if name.starts_with("PINECONE_") {
                command.env_remove(name);
            }
        }
        command.env("NO_COLOR", "1");
        for (name, value) in envs {
            command.env(name, value);
        }
        let cpu_before = children_cpu()?;
        let started = Instant::now();
        let output = command
            .output()
            .map_err(|e| format!("cannot run {}: {e}", program.display()))?;
        let wall = started.elapsed();
        let cpu = children_cpu()?.saturating_sub(cpu_before);
        let maxrss_kib = if self.time.is_some() {
            parse_maxrss(&std::fs::read_to_string(&rusage_file).unwrap_or_default())
        } else {
            None
        };
        Ok(Run {
            wall,
            cpu,
            maxrss_kib,
            status: output.status,
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            counters: Counters::default(),
        })
    }
}

/// User + system CPU time of every child reaped so far.
fn children_cpu() -> Result<Duration, String> {
    let usage = getrusage(UsageWho::RUSAGE_CHILDREN).map_err(|e| format!("getrusage: {e}"))?;
    let micros = |t: nix::sys::time::TimeVal| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec()).unwrap_or(0)
    };
    Ok(Duration::from_micros(
        micros(usage.user_time()) + micros(usage.system_time()),
    ))
}

/// GNU time's `%M` line (the last line: a "Command exited with non-zero status" line may come
/// first).
fn parse_maxrss(text: &str) -> Option<u64> {
    text.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .and_then(|l| l.trim().parse().ok())
}

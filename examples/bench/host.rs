//! What the benchmark runs on and with: the keyplan binary (with a warning when it is older
//! than the sources), the Python with the SDK for baseline 2, and the header that describes
//! them, the machine and the file system the secrets files go to.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use keyplan::live::client::DEFAULT_CONCURRENCY;

use crate::args::Args;
use crate::{Bench, Result};

impl Bench<'_> {
    /// The report's header: the machine, the keyplan binary, the sizes, the SDK baseline.
    pub fn header(&self) {
        let a = self.args;
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|text| {
                text.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        let nproc = std::thread::available_parallelism().map_or(0, std::num::NonZero::get);
        let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .unwrap_or_default()
            .trim()
            .to_owned();
        let secrets_dir = a.secrets_dir.as_deref().unwrap_or(self.dir.path());
        println!("# keyplan benchmark\n");
        println!(
            "- machine: {nproc} CPUs, {cpu}, Linux {kernel}; secrets files in {} ({})",
            secrets_dir.display(),
            fs_type(secrets_dir)
        );
        println!("- keyplan: {}", self.keyplan.display());
        println!(
            "- organisation: {} projects × {} keys, {} ms added latency per request; apply \
             creates {} keys; {} run(s) per scenario, {} per baseline; default concurrency {}",
            a.projects,
            a.keys,
            a.latency_ms,
            a.creates,
            a.runs,
            a.baseline_runs,
            DEFAULT_CONCURRENCY
        );
        match &self.python {
            Some(p) => println!("- SDK baseline: {}", p.display()),
            None => println!(
                "- SDK baseline: skipped (no python with the pinecone SDK: pass --python or set \
                 KEYPLAN_TEST_PYTHON)"
            ),
        }
        if !self.runner.measures_resources() {
            println!("- peak memory: n/a (GNU time is not installed at /usr/bin/time)");
        }
    }
}

/// The keyplan binary: `--keyplan`, else `keyplan` in the profile directory this example was
/// built in (target/<profile>/examples/bench → target/<profile>/keyplan).
pub fn find_keyplan(args: &Args) -> Result<PathBuf> {
    if let Some(path) = &args.keyplan {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe().map_err(|e| format!("where am I: {e}"))?;
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|dir| dir.join("keyplan"))
        .ok_or("cannot find the target directory")?;
    if !candidate.is_file() {
        return Err(format!(
            "{} does not exist: build it first with `cargo build --release --bin keyplan \
             --example bench` (or pass --keyplan PATH)",
            candidate.display()
        ));
    }
    // A binary older than a source file of the crate was built from older code.
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    if let Some(bin) = modified(&candidate)
        && let Some(newest) = newest_source(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/src")))
        && newest > bin
    {
        eprintln!(
            "bench: warning: {} is older than the sources in src/; rebuild it with `cargo build \
             --release --bin keyplan`",
            candidate.display()
        );
    }
    Ok(candidate)
}

/// The latest modification time of any file under `dir`.
fn newest_source(dir: &Path) -> Option<std::time::SystemTime> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(std::result::Result::ok)
        .filter_map(|entry| {
            let path = entry.path();
            if path.ends_with("src/testkit") {
                // Test support (the `testkit` feature): never part of the keyplan binary.
                None
            } else if path.is_dir() {
                newest_source(&path)
            } else {
                entry.metadata().and_then(|m| m.modified()).ok()
            }
        })
        .max()
}

/// The python for baseline 2: `--python`, else `$KEYPLAN_TEST_PYTHON` (either must import the
/// SDK), else python3 when it can, else none.
pub fn find_python(args: &Args) -> Result<Option<PathBuf>> {
    let explicit = args.python.clone().or_else(|| {
        std::env::var_os("KEYPLAN_TEST_PYTHON")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    });
    let imports = |python: &Path| {
        Command::new(python)
            .args(["-c", "import pinecone"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    };
    match explicit {
        Some(python) if imports(&python) => Ok(Some(python)),
        Some(python) => Err(format!(
            "{} cannot import the pinecone SDK: install it with `{} -m pip install \
             pinecone==10.2.0`, or leave --python and KEYPLAN_TEST_PYTHON unset to skip baseline 2",
            python.display(),
            python.display()
        )),
        None => {
            let python = PathBuf::from("python3");
            Ok(imports(&python).then_some(python))
        }
    }
}

/// The file system type of the mount holding `path`, from /proc/mounts.
fn fs_type(path: &Path) -> String {
    let Ok(mounts) = std::fs::read_to_string("/proc/mounts") else {
        return "unknown file system".to_owned();
    };
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    mounts
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, point, kind) = (fields.next()?, fields.next()?, fields.next()?);
            path.starts_with(point)
                .then(|| (point.len(), kind.to_owned()))
        })
        .max()
        .map_or_else(|| "unknown file system".to_owned(), |(_, kind)| kind)
}

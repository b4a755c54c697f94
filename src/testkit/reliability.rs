//! The reliability harness shared by `tests/it/faults.rs` (a small seeded sample under
//! `cargo test`) and `examples/reliability.rs` (the large run whose figures
//! `docs/reliability.md` quotes).
//!
//! Each scenario gets its own emulator on loopback and its own temp directory, and runs the
//! real keyplan program as a child process: faults are injected by the emulator, crashes by
//! SIGKILL. Afterwards the harness checks the outcome against the emulator's own state, never
//! against what keyplan says about itself: the live keys against the manifest, every key
//! keyplan created against the secret store (by key id, and by the SHA-256 the emulator keeps
//! of the secret it issued), every byte keyplan printed or left behind against every secret the
//! emulator issued, and stderr for panics.
//!
//! The example cannot use `CARGO_BIN_EXE_keyplan`, so the caller says how to start keyplan
//! ([`Program`]).

#![expect(
    clippy::unwrap_used,
    reason = "test harness: a broken harness should stop loudly"
)]

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::emulator::{BackgroundEmulator, EmulatorConfig, Fault, Faults, Route};
use crate::model::{LiveKey, Project, Role};
use rand::rngs::StdRng;
use rand::seq::SliceRandom as _;
use rand::{Rng, SeedableRng};
use sha2::Digest as _;

use super::files::walk;

const CLIENT_ID: &str = "reliability-client";
const CLIENT_SECRET: &str = "reliability-client-secret";
/// The secrets file, in the scenario's directory.
pub const SECRETS: &str = "secrets.json";
const STATE: &str = "emulator-state.json";
const RETIRING_SUFFIX: &str = " (keyplan: retiring)";
/// The guard is not under test here: scenarios delete up to every key of a project.
const GUARD_OFF: [&str; 4] = ["--max-delete-share", "1", "--max-deletes", "100000"];

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

    /// The secret store's records: key id -> (key name, SHA-256 of the value). `Err` when the
    /// file exists but is not valid JSON of the expected shape.
    pub fn stored(&self) -> Result<HashMap<String, (String, String)>, String> {
        let text = match std::fs::read_to_string(self.path(SECRETS)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => return Err(format!("unreadable secrets file: {e}")),
        };
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("secrets file is not JSON: {e}"))?;
        let records = doc["secrets"]
            .as_array()
            .ok_or("secrets file has no `secrets` array")?;
        let mut out = HashMap::new();
        for record in records {
            let (Some(id), Some(name), Some(value)) = (
                record["key_id"].as_str(),
                record["key_name"].as_str(),
                record["value"].as_str(),
            ) else {
                return Err("a secrets record lacks key_id, key_name or value".into());
            };
            out.insert(id.to_owned(), (name.to_owned(), sha256_hex(value)));
        }
        Ok(out)
    }

    /// The SHA-256 of the secret the emulator issued for each live key id (from its state file).
    pub fn issued_hashes(&self) -> HashMap<String, String> {
        let text = std::fs::read_to_string(self.path(STATE)).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut out = HashMap::new();
        for project in doc["projects"].as_array().unwrap() {
            for key in project["keys"].as_array().unwrap() {
                out.insert(
                    key["id"].as_str().unwrap().to_owned(),
                    key["secret_sha256"].as_str().unwrap().to_owned(),
                );
            }
        }
        out
    }

    /// Temp files of the secret store left behind (a kill during a store write).
    pub fn store_temp_files(&self) -> usize {
        walk(self.dir.path())
            .iter()
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(SECRETS) && name.ends_with(".tmp")
            })
            .count()
    }

    /// Checks every live key not in `foreign` (keys keyplan did not create) against the store:
    /// (keys without a stored secret, keys whose stored secret is not the one issued).
    pub fn secret_audit(&self, projects: &[Project], foreign: &BTreeSet<String>) -> SecretAudit {
        let Ok(stored) = self.stored() else {
            return SecretAudit {
                invalid_file: true,
                ..SecretAudit::default()
            };
        };
        let issued = self.issued_hashes();
        let mut audit = SecretAudit::default();
        for project in projects {
            for key in self.emulator.keys(&project.id) {
                if foreign.contains(key.id.as_str()) {
                    continue;
                }
                match stored.get(key.id.as_str()) {
                    None => {
                        audit.secretless += 1;
                        audit
                            .secretless_names
                            .push(format!("{}/{}", project.name, key.name));
                    }
                    Some((name, hash)) => {
                        let issued_hash = issued.get(key.id.as_str());
                        // A retiring key's secret stays under its declared name until the new
                        // key's secret replaces it: that is the design, not a mismatch.
                        let name_ok = *name == key.name
                            || key.name.strip_suffix(RETIRING_SUFFIX) == Some(name.as_str());
                        if !name_ok || issued_hash != Some(hash) {
                            audit.wrong += 1;
                            audit.wrong_names.push(format!(
                                "{}/{} (stored under {name:?}, secret {})",
                                project.name,
                                key.name,
                                if issued_hash == Some(hash) {
                                    "matches"
                                } else {
                                    "DIFFERS"
                                }
                            ));
                        }
                    }
                }
            }
        }
        audit
    }
}

/// What [`Sandbox::secret_audit`] (and [`Prepared::audit`]) found.
#[derive(Debug, Default, Clone)]
pub struct SecretAudit {
    /// Declared keys with no live key (only [`Prepared::audit`] looks for them): their secrets
    /// cannot be checked, so each one is a failure of its own.
    pub missing: usize,
    pub missing_names: Vec<String>,
    pub secretless: usize,
    pub secretless_names: Vec<String>,
    pub wrong: usize,
    pub wrong_names: Vec<String>,
    pub invalid_file: bool,
}

/// Whether `text` holds `secret` whole, or its first or last 16 characters (a quoted, truncated
/// body).
fn leaked_in(secret: &str, text: &str) -> bool {
    let chars: Vec<char> = secret.chars().collect();
    let head: String = chars.iter().take(16).collect();
    let tail: String = chars[chars.len().saturating_sub(16)..].iter().collect();
    text.contains(head.as_str()) || text.contains(tail.as_str())
}

fn sha256_hex(value: &str) -> String {
    let digest = sha2::Sha256::digest(value.as_bytes());
    digest.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

// ---------------------------------------------------------------------------------------------
// Scenarios

/// One declared key.
#[derive(Debug, Clone)]
pub struct KeySpec {
    pub name: String,
    pub roles: BTreeSet<Role>,
    pub previous_names: Vec<String>,
    pub replace_on_role_change: bool,
}

/// One declared project.
#[derive(Debug, Clone)]
pub struct ProjectSpec {
    pub name: String,
    pub unmanaged_delete: bool,
    pub keys: Vec<KeySpec>,
}

/// Renders a manifest with the file store.
pub fn manifest(projects: &[ProjectSpec]) -> String {
    let mut out = format!("[secrets]\nstore = \"file\"\npath = \"{SECRETS}\"\n");
    for project in projects {
        let _ = write!(out, "\n[[project]]\nname = \"{}\"\n", project.name);
        if project.unmanaged_delete {
            out.push_str("unmanaged = \"delete\"\n");
        }
        for key in &project.keys {
            let roles: Vec<String> = key
                .roles
                .iter()
                .map(|r| format!("\"{}\"", r.as_str()))
                .collect();
            let _ = write!(
                out,
                "\n  [[project.key]]\n  name = \"{}\"\n  roles = [{}]\n",
                key.name,
                roles.join(", ")
            );
            if !key.previous_names.is_empty() {
                let names: Vec<String> = key
                    .previous_names
                    .iter()
                    .map(|n| format!("\"{n}\""))
                    .collect();
                let _ = writeln!(out, "  previous_names = [{}]", names.join(", "));
            }
            if key.replace_on_role_change {
                out.push_str("  role_change = \"replace\"\n");
            }
        }
    }
    out
}

fn random_roles(rng: &mut StdRng) -> BTreeSet<Role> {
    let mut all = Role::ALL.to_vec();
    all.shuffle(rng);
    let n = rng.random_range(1..=3);
    all.into_iter().take(n).collect()
}

fn other_roles(rng: &mut StdRng, not: &BTreeSet<Role>) -> BTreeSet<Role> {
    loop {
        let roles = random_roles(rng);
        if roles != *not {
            return roles;
        }
    }
}

/// What the generator asked for, to report the mix.
#[derive(Debug, Default, Clone, Copy)]
pub struct Mix {
    pub creates: usize,
    pub renames: usize,
    pub role_updates: usize,
    pub replaces: usize,
    pub deletes: usize,
}

impl Mix {
    fn add(&mut self, other: Mix) {
        self.creates += other.creates;
        self.renames += other.renames;
        self.role_updates += other.role_updates;
        self.replaces += other.replaces;
        self.deletes += other.deletes;
    }
}

/// A generated scenario: the keys keyplan creates first (fault-free), the foreign keys seeded
/// beside them, and the manifest the faulty runs must reach.
#[derive(Debug, Clone)]
pub struct Scenario {
    pub seed: u64,
    /// Phase 0: the manifest keyplan applies without faults (creates the "own" keys).
    pub base: Vec<ProjectSpec>,
    /// Keys seeded straight into the emulator (someone else's): (project index, name, roles).
    pub foreign: Vec<(usize, String, BTreeSet<Role>)>,
    /// Phase 1: the target manifest.
    pub target: Vec<ProjectSpec>,
    /// `--replace PROJECT/KEY` rotations (project index, key name).
    pub rotate: Vec<(usize, String)>,
    pub mix: Mix,
}

impl Scenario {
    /// Creates, renames (`previous_names`), role updates, replaces (`role_change = "replace"`
    /// and `--replace`) and deletes (`unmanaged = "delete"`) over 2 to 4 projects.
    #[expect(
        clippy::too_many_lines,
        reason = "the whole menu of operations reads best in one place"
    )]
    pub fn generate(seed: u64) -> Scenario {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut mix = Mix::default();
        let (mut base, mut target, mut foreign, mut rotate) = (vec![], vec![], vec![], vec![]);
        for p in 0..rng.random_range(2..=4) {
            let name = format!("proj-{p}");
            let delete = rng.random_bool(0.7);
            let mut base_keys = Vec::new();
            let mut target_keys = Vec::new();
            for k in 0..rng.random_range(2..=5) {
                let key = KeySpec {
                    name: format!("k{k}"),
                    roles: random_roles(&mut rng),
                    previous_names: vec![],
                    replace_on_role_change: false,
                };
                base_keys.push(key.clone());
                match rng.random_range(0..11) {
                    0 | 1 => target_keys.push(key),
                    2 | 3 => {
                        mix.renames += 1;
                        target_keys.push(KeySpec {
                            name: format!("k{k}-renamed"),
                            previous_names: vec![key.name.clone()],
                            ..key
                        });
                    }
                    4 | 5 => {
                        mix.role_updates += 1;
                        let roles = other_roles(&mut rng, &key.roles);
                        target_keys.push(KeySpec { roles, ..key });
                    }
                    6 => {
                        mix.replaces += 1;
                        let roles = other_roles(&mut rng, &key.roles);
                        target_keys.push(KeySpec {
                            roles,
                            replace_on_role_change: true,
                            ..key
                        });
                    }
                    7 => {
                        mix.replaces += 1;
                        rotate.push((p, key.name.clone()));
                        target_keys.push(key);
                    }
                    8 => {
                        mix.renames += 1;
                        mix.role_updates += 1;
                        let roles = other_roles(&mut rng, &key.roles);
                        target_keys.push(KeySpec {
                            name: format!("k{k}-moved"),
                            previous_names: vec![key.name.clone()],
                            roles,
                            ..key
                        });
                    }
                    _ => {
                        // Dropped from the manifest: deleted, or kept as unmanaged.
                        if delete {
                            mix.deletes += 1;
                        }
                    }
                }
            }
            for f in 0..rng.random_range(0..=2) {
                let fname = format!("foreign-{f}");
                let roles = random_roles(&mut rng);
                if rng.random_bool(0.25) {
                    // Adopted: declared, with other roles (an update of a key without a secret).
                    mix.role_updates += 1;
                    target_keys.push(KeySpec {
                        name: fname.clone(),
                        roles: other_roles(&mut rng, &roles),
                        previous_names: vec![],
                        replace_on_role_change: false,
                    });
                } else if delete {
                    mix.deletes += 1;
                }
                foreign.push((p, fname, roles));
            }
            for n in 0..rng.random_range(1..=3) {
                mix.creates += 1;
                target_keys.push(KeySpec {
                    name: format!("new-{n}"),
                    roles: random_roles(&mut rng),
                    previous_names: vec![],
                    replace_on_role_change: false,
                });
            }
            base.push(ProjectSpec {
                name: name.clone(),
                unmanaged_delete: false,
                keys: base_keys,
            });
            target.push(ProjectSpec {
                name,
                unmanaged_delete: delete,
                keys: target_keys,
            });
        }
        Scenario {
            seed,
            base,
            foreign,
            target,
            rotate,
            mix,
        }
    }
}

/// A scenario set up to phase 1: projects exist, keyplan created its own keys, foreign keys
/// were seeded, and the target manifest is written.
pub struct Prepared {
    pub sandbox: Sandbox,
    pub projects: Vec<Project>,
    /// Ids of keys keyplan did not create.
    pub foreign_ids: BTreeSet<String>,
    /// Per project: the (name, roles) the live state must end with.
    pub expected: Vec<Vec<(String, Vec<&'static str>)>>,
    /// Per project: the names of the keys the target manifest declares.
    pub declared: Vec<Vec<String>>,
    /// `--replace` rotations still to do: (project name/key name, original key id).
    pub rotations: Vec<(String, String)>,
}

pub fn prepare(program: &Program, scenario: &Scenario) -> Result<Prepared, String> {
    let sandbox = Sandbox::new(program, Faults::default());
    let projects: Vec<Project> = scenario
        .base
        .iter()
        .map(|p| sandbox.emulator.add_project(&p.name))
        .collect();
    sandbox.write_manifest(&manifest(&scenario.base));
    let setup = sandbox.run(&sandbox.apply_args(&[]));
    if setup.code != 0 {
        return Err(format!(
            "seed {}: the fault-free set-up apply exited {}:\n{}\n{}",
            scenario.seed, setup.code, setup.stdout, setup.stderr
        ));
    }
    let mut foreign_ids = BTreeSet::new();
    for (p, name, roles) in &scenario.foreign {
        let roles: Vec<Role> = roles.iter().copied().collect();
        let key = sandbox.emulator.add_key(&projects[*p].id, name, &roles);
        foreign_ids.insert(key.id.to_string());
    }
    // The expected end state: declared keys, plus undeclared ones where unmanaged = "keep".
    let mut expected = Vec::new();
    for (i, target) in scenario.target.iter().enumerate() {
        let mut keys: Vec<(String, Vec<&'static str>)> = target
            .keys
            .iter()
            .map(|k| (k.name.clone(), k.roles.iter().map(|r| r.as_str()).collect()))
            .collect();
        if !target.unmanaged_delete {
            let declared: BTreeSet<&str> = target
                .keys
                .iter()
                .flat_map(|k| {
                    std::iter::once(k.name.as_str())
                        .chain(k.previous_names.iter().map(String::as_str))
                })
                .collect();
            for live in sandbox.emulator.keys(&projects[i].id) {
                if !declared.contains(live.name.as_str()) {
                    keys.push((
                        live.name.clone(),
                        live.roles.iter().map(|r| r.as_str()).collect(),
                    ));
                }
            }
        }
        keys.sort();
        expected.push(keys);
    }
    let rotations = scenario
        .rotate
        .iter()
        .map(|(p, name)| {
            let id = live_by_name(&sandbox.emulator.keys(&projects[*p].id), name)
                .map(|k| k.id.to_string())
                .unwrap_or_default();
            (format!("{}/{name}", projects[*p].name), id)
        })
        .collect();
    let declared = scenario
        .target
        .iter()
        .map(|target| target.keys.iter().map(|k| k.name.clone()).collect())
        .collect();
    sandbox.write_manifest(&manifest(&scenario.target));
    Ok(Prepared {
        sandbox,
        projects,
        foreign_ids,
        expected,
        declared,
        rotations,
    })
}

fn live_by_name<'a>(keys: &'a [LiveKey], name: &str) -> Option<&'a LiveKey> {
    keys.iter().find(|k| k.name == name)
}

impl Prepared {
    /// `--replace` flags for rotations not yet done (the key still has its original id).
    pub fn pending_rotations(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (target, original) in &self.rotations {
            let (project, key) = target.split_once('/').unwrap();
            let Some(p) = self.projects.iter().find(|p| p.name == project) else {
                continue;
            };
            let live = self.sandbox.emulator.keys(&p.id);
            if live_by_name(&live, key).is_some_and(|k| k.id.as_str() == original) {
                args.push("--replace".to_owned());
                args.push(target.clone());
            }
        }
        args
    }

    /// The checks after an apply that should have converged: [`Sandbox::secret_audit`] of every
    /// live key keyplan made, and every declared key must be live: a missing one is counted in
    /// [`SecretAudit::missing`], never skipped.
    pub fn audit(&self) -> SecretAudit {
        let mut audit = self.sandbox.secret_audit(&self.projects, &self.foreign_ids);
        for (project, names) in self.projects.iter().zip(&self.declared) {
            let live = self.sandbox.emulator.keys(&project.id);
            for name in names {
                if live_by_name(&live, name).is_none() {
                    audit.missing += 1;
                    audit.missing_names.push(format!("{}/{name}", project.name));
                }
            }
        }
        audit
    }

    /// (live state equals the manifest, duplicate keys: extra keys sharing a name).
    pub fn check(&self) -> (bool, usize) {
        let mut equal = true;
        let mut duplicates = 0;
        for (project, expected) in self.projects.iter().zip(&self.expected) {
            let live = self.sandbox.emulator.keys(&project.id);
            let mut names: BTreeMap<&str, usize> = BTreeMap::new();
            for key in &live {
                *names.entry(key.name.as_str()).or_default() += 1;
            }
            duplicates += names.values().map(|n| n - 1).sum::<usize>();
            let mut actual: Vec<(String, Vec<&'static str>)> = live
                .iter()
                .map(|k| (k.name.clone(), k.roles.iter().map(|r| r.as_str()).collect()))
                .collect();
            actual.sort();
            equal &= actual == *expected;
        }
        (equal, duplicates)
    }

    pub fn describe_live(&self) -> String {
        let mut out = String::new();
        for (project, expected) in self.projects.iter().zip(&self.expected) {
            let _ = writeln!(out, "  {}: expected {expected:?}", project.name);
            let live: Vec<(String, String)> = self
                .sandbox
                .emulator
                .keys(&project.id)
                .into_iter()
                .map(|k| (k.name, k.id.to_string()))
                .collect();
            let _ = writeln!(out, "  {}: live {live:?}", project.name);
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Figures

/// The figures summed over all runs.
#[derive(Debug, Default, Clone)]
pub struct Tally {
    pub scenarios: usize,
    pub converged: usize,
    pub apply_runs: usize,
    /// Scenarios that converged after 1, 2, 3 applies.
    pub converged_after: [usize; 3],
    pub duplicate_keys: usize,
    /// Declared keys not live after the apply that should have converged.
    pub missing_keys: usize,
    pub secretless_keys: usize,
    pub wrong_secrets: usize,
    pub invalid_store_files: usize,
    pub leaks: usize,
    pub panics: usize,
    pub mix: Mix,
    pub throttled: u64,
    pub server_errors: u64,
    pub dropped: u64,
    pub requests: u64,
    /// One line per scenario that broke a rule, with its seed.
    pub problems: Vec<String>,
    // Crash points only.
    pub kills_mid_apply: usize,
    pub targeted_kills: usize,
    /// Crash points (random, aimed) that left at least one key without a stored secret after
    /// the recovery apply, and how many such keys.
    pub stranded_points: [usize; 2],
    pub stranded_keys: [usize; 2],
    pub finished_before_kill: usize,
    pub secretless_after_kill: usize,
    pub store_temp_files: usize,
    pub temp_files_after_recovery: usize,
    pub recovered: usize,
    pub crash_secretless_names: Vec<String>,
}

impl Tally {
    fn merge(&mut self, other: Tally) {
        self.scenarios += other.scenarios;
        self.converged += other.converged;
        self.apply_runs += other.apply_runs;
        for i in 0..3 {
            self.converged_after[i] += other.converged_after[i];
        }
        self.duplicate_keys += other.duplicate_keys;
        self.missing_keys += other.missing_keys;
        self.secretless_keys += other.secretless_keys;
        self.wrong_secrets += other.wrong_secrets;
        self.invalid_store_files += other.invalid_store_files;
        self.leaks += other.leaks;
        self.panics += other.panics;
        self.mix.add(other.mix);
        self.throttled += other.throttled;
        self.server_errors += other.server_errors;
        self.dropped += other.dropped;
        self.requests += other.requests;
        self.problems.extend(other.problems);
        self.kills_mid_apply += other.kills_mid_apply;
        self.targeted_kills += other.targeted_kills;
        for i in 0..2 {
            self.stranded_points[i] += other.stranded_points[i];
            self.stranded_keys[i] += other.stranded_keys[i];
        }
        self.finished_before_kill += other.finished_before_kill;
        self.secretless_after_kill += other.secretless_after_kill;
        self.store_temp_files += other.store_temp_files;
        self.temp_files_after_recovery += other.temp_files_after_recovery;
        self.recovered += other.recovered;
        self.crash_secretless_names
            .extend(other.crash_secretless_names);
    }
}

/// Runs `run(seed)` for `count` seeds from `first_seed`, `parallel` at a time.
pub fn run_many(
    first_seed: u64,
    count: usize,
    parallel: usize,
    run: impl Fn(u64) -> Tally + Sync,
) -> Tally {
    let next = AtomicUsize::new(0);
    let total = Mutex::new(Tally::default());
    std::thread::scope(|scope| {
        for _ in 0..parallel.max(1) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    if i >= count {
                        break;
                    }
                    let tally = run(first_seed + i as u64);
                    total.lock().unwrap().merge(tally);
                }
            });
        }
    });
    total.into_inner().unwrap()
}

/// The random fault mix of one scenario: every kind, at rates drawn per scenario.
pub fn fault_mix(seed: u64) -> Faults {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_fa17);
    Faults {
        latency: Duration::from_millis(rng.random_range(0..=15)),
        seed,
        error_rate: rng.random_range(0.02..0.12),
        throttle_rate: rng.random_range(0.01..0.06),
        drop_rate: rng.random_range(0.02..0.10),
        lose_create_response_rate: rng.random_range(0.05..0.35),
        rate_limit: None,
    }
}

/// Scripted faults on top of the random ones, so every scenario meets each kind at least once.
fn scripted_faults(sandbox: &Sandbox) {
    let e = &sandbox.emulator;
    e.push_faults(Route::CreateKey, [Fault::LoseResponse]);
    e.push_faults(
        Route::ListKeys,
        [Fault::Throttle {
            retry_after_secs: 1,
        }],
    );
    e.push_faults(Route::UpdateKey, [Fault::Status(503), Fault::Drop]);
    e.push_faults(Route::DeleteKey, [Fault::Drop]);
}

/// One randomised fault scenario: set up without faults, then at most three
/// `apply --auto-approve` runs under faults, then the checks (faults off).
pub fn fault_scenario(program: &Program, seed: u64) -> Tally {
    let scenario = Scenario::generate(seed);
    let mut tally = Tally {
        scenarios: 1,
        mix: scenario.mix,
        ..Tally::default()
    };
    let prepared = match prepare(program, &scenario) {
        Ok(prepared) => prepared,
        Err(problem) => {
            tally.problems.push(problem);
            return tally;
        }
    };
    let sandbox = &prepared.sandbox;
    sandbox.emulator.reset_counters();
    sandbox.emulator.set_faults(fault_mix(seed));
    scripted_faults(sandbox);
    let mut runs = Vec::new();
    let mut converged_in = None;
    for attempt in 0..3 {
        let args = sandbox.apply_args(&prepared.pending_rotations());
        let run = sandbox.run(&args);
        tally.apply_runs += 1;
        let code = run.code;
        runs.push(run);
        if code == 0 && prepared.check().0 && prepared.pending_rotations().is_empty() {
            converged_in = Some(attempt);
            break;
        }
    }
    let counters = sandbox.emulator.counters();
    tally.requests = counters.total;
    tally.throttled = counters.status(429);
    tally.server_errors = [500, 502, 503, 504]
        .iter()
        .map(|s| counters.status(*s))
        .sum();
    tally.dropped = counters.dropped;
    sandbox.emulator.set_faults(Faults::default());

    let plan = sandbox.run(&Sandbox::plan_args());
    let (equal, duplicates) = prepared.check();
    let audit = prepared.audit();
    tally.duplicate_keys = duplicates;
    tally.missing_keys = audit.missing;
    tally.secretless_keys = audit.secretless;
    tally.wrong_secrets = audit.wrong;
    tally.invalid_store_files = usize::from(audit.invalid_file);
    tally.leaks = sandbox.leaks();
    tally.panics = sandbox.panics();
    let converged = converged_in.is_some() && plan.code == 0 && equal;
    if converged {
        tally.converged = 1;
        tally.converged_after[converged_in.unwrap()] = 1;
    }
    let clean = converged
        && duplicates == 0
        && audit.missing == 0
        && audit.secretless == 0
        && audit.wrong == 0
        && !audit.invalid_file
        && tally.leaks == 0
        && tally.panics == 0;
    if !clean {
        let mut problem = format!(
            "fault scenario seed {seed}: converged {converged} (after {:?} applies; plan exit {}), \
             duplicates {duplicates}, missing {:?}, secretless {:?}, wrong secrets {:?}, leaks {}, \
             panics {}\n{}",
            converged_in.map(|a| a + 1),
            plan.code,
            audit.missing_names,
            audit.secretless_names,
            audit.wrong_names,
            tally.leaks,
            tally.panics,
            prepared.describe_live()
        );
        for (i, run) in runs.iter().enumerate() {
            let _ = write!(
                problem,
                "--- apply {} exit {}\n{}\n{}\n",
                i + 1,
                run.code,
                run.stdout,
                run.stderr
            );
        }
        let _ = write!(
            problem,
            "--- plan exit {}\n{}\n{}",
            plan.code, plan.stdout, plan.stderr
        );
        tally.problems.push(problem);
    }
    tally
}

/// One crash point: latency slows the apply, it is killed with SIGKILL after a random delay
/// (up to `max_delay`), then the store is checked and one fault-free apply must converge.
/// With `targeted`, the kill comes 0 to 8 ms after the emulator committed the first create.
pub fn crash_point(program: &Program, seed: u64, max_delay: Duration, targeted: bool) -> Tally {
    let scenario = Scenario::generate(seed);
    let mut tally = Tally {
        scenarios: 1,
        mix: scenario.mix,
        ..Tally::default()
    };
    let prepared = match prepare(program, &scenario) {
        Ok(prepared) => prepared,
        Err(problem) => {
            tally.problems.push(problem);
            return tally;
        }
    };
    let sandbox = &prepared.sandbox;
    let mut rng = StdRng::seed_from_u64(seed ^ 0x00c0_ffee);
    sandbox.emulator.set_faults(Faults {
        latency: Duration::from_millis(40),
        ..Faults::default()
    });
    let (killed, delay, finished_first) =
        kill_during_apply(sandbox, &prepared, &mut rng, max_delay, targeted);
    if targeted {
        tally.targeted_kills = 1;
    }
    tally.apply_runs += 1;
    if finished_first {
        tally.finished_before_kill = 1;
    } else {
        tally.kills_mid_apply = 1;
    }

    let after_kill = sandbox.secret_audit(&prepared.projects, &prepared.foreign_ids);
    tally.invalid_store_files = usize::from(after_kill.invalid_file);
    tally.secretless_after_kill = after_kill.secretless;
    tally.store_temp_files = sandbox.store_temp_files();

    sandbox.emulator.set_faults(Faults::default());
    let recovery = sandbox.run(&sandbox.apply_args(&prepared.pending_rotations()));
    tally.apply_runs += 1;
    tally.temp_files_after_recovery = sandbox.store_temp_files();
    let plan = sandbox.run(&Sandbox::plan_args());
    let (equal, duplicates) = prepared.check();
    let audit = prepared.audit();
    tally.duplicate_keys = duplicates;
    tally.missing_keys = audit.missing;
    tally.secretless_keys = audit.secretless;
    tally.stranded_points[usize::from(targeted)] = usize::from(audit.secretless > 0);
    tally.stranded_keys[usize::from(targeted)] = audit.secretless;
    tally.crash_secretless_names = audit
        .secretless_names
        .iter()
        .map(|n| format!("seed {seed}: {n} (killed after {delay:?})"))
        .collect();
    tally.wrong_secrets = audit.wrong;
    tally.invalid_store_files += usize::from(audit.invalid_file);
    tally.leaks = sandbox.leaks();
    tally.panics = sandbox.panics();
    let converged = recovery.code == 0 && plan.code == 0 && equal && audit.missing == 0;
    if converged {
        tally.converged = 1;
        tally.recovered = 1;
    }
    // Set to see, for every crash point that stranded a key, both runs in full.
    if std::env::var_os("KEYPLAN_DEBUG_SECRETLESS").is_some() && audit.secretless > 0 {
        tally.problems.push(format!(
            "secretless after recovery, seed {seed}: {:?}\n{}--- killed\n{}\n{}\n--- recovery\n{}\n{}",
            audit.secretless_names,
            prepared.describe_live(),
            killed.stdout,
            killed.stderr,
            recovery.stdout,
            recovery.stderr
        ));
    }
    if !converged
        || duplicates > 0
        || audit.wrong > 0
        || tally.invalid_store_files > 0
        || tally.leaks > 0
        || tally.panics > 0
    {
        tally.problems.push(format!(
            "crash point seed {seed} (kill after {delay:?}): recovery apply exit {}, plan exit {}, \
             equal {equal}, duplicates {duplicates}, missing {:?}, wrong secrets {:?}, invalid \
             store files {}, leaks {}, panics {}\n{}--- killed apply\n{}\n{}\n--- recovery\n{}\n{}\n\
             --- plan\n{}\n{}",
            recovery.code,
            plan.code,
            audit.missing_names,
            audit.wrong_names,
            tally.invalid_store_files,
            tally.leaks,
            tally.panics,
            prepared.describe_live(),
            killed.stdout,
            killed.stderr,
            recovery.stdout,
            recovery.stderr,
            plan.stdout,
            plan.stderr
        ));
    }
    tally
}

/// Starts `apply --auto-approve` and kills it with SIGKILL: after a random delay up to
/// `max_delay`, or (`targeted`) 0 to 8 ms after the emulator committed the run's first create.
/// Returns its output, when it was killed, and whether it had finished before.
fn kill_during_apply(
    sandbox: &Sandbox,
    prepared: &Prepared,
    rng: &mut StdRng,
    max_delay: Duration,
    targeted: bool,
) -> (Finished, Duration, bool) {
    sandbox.emulator.reset_counters();
    let started = Instant::now();
    let mut child = sandbox.spawn(&sandbox.apply_args(&prepared.pending_rotations()));
    let delay = if targeted {
        // Aimed at the window the store cannot close: wait until the emulator has committed a
        // create and is sending its answer, then kill within the few milliseconds the answer
        // takes to arrive and the secret to be written.
        let deadline = Instant::now() + Duration::from_secs(10);
        while sandbox
            .emulator
            .counters()
            .route_status(Route::CreateKey, 200)
            == 0
            && Instant::now() < deadline
            && child.try_wait().unwrap().is_none()
        {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_micros(rng.random_range(0..=8000)));
        started.elapsed()
    } else {
        let delay = Duration::from_millis(
            rng.random_range(0..=u64::try_from(max_delay.as_millis()).unwrap()),
        );
        std::thread::sleep(delay);
        delay
    };
    let finished_first = child.try_wait().unwrap().is_some();
    let _ = child.kill(); // SIGKILL
    let killed = sandbox.wait(child, started);
    (killed, delay, finished_first)
}

/// How long one fault-free apply of a scenario takes at the crash points' latency: the range
/// the kill delays are drawn from.
pub fn calibrate_crash_window(program: &Program, seed: u64) -> Duration {
    let scenario = Scenario::generate(seed);
    let Ok(prepared) = prepare(program, &scenario) else {
        return Duration::from_secs(2);
    };
    prepared.sandbox.emulator.set_faults(Faults {
        latency: Duration::from_millis(40),
        ..Faults::default()
    });
    let run = prepared
        .sandbox
        .run(&prepared.sandbox.apply_args(&prepared.pending_rotations()));
    run.elapsed
}

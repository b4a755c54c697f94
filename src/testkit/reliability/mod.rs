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
//!
//! The parts: `sandbox` (one scenario's emulator and directory, and running keyplan in it),
//! `audit` (the outcome against the emulator's state and the secret store), `scenario` (the
//! random scenarios and their manifests), `prepared` (a scenario set up to the point where the
//! faulty runs start), `fault`, `crash` and `rerun` (one fault scenario, one crash point, one
//! kill with creates in flight and an immediate rerun), and `tally`
//! (the figures, summed over many runs in parallel).

#![expect(
    clippy::unwrap_used,
    reason = "test harness: a broken harness should stop loudly"
)]

mod audit;
mod crash;
mod fault;
mod prepared;
mod rerun;
mod sandbox;
mod scenario;
mod tally;

pub use audit::SecretAudit;
pub use crash::{calibrate_crash_window, crash_point};
pub use fault::{fault_mix, fault_scenario};
pub use prepared::{Prepared, prepare};
pub use rerun::{RerunFigures, rerun_kill};
pub use sandbox::{Finished, Program, Sandbox};
pub use scenario::{KeySpec, Mix, ProjectSpec, Scenario, manifest};
pub use tally::{Tally, run_many};

const CLIENT_ID: &str = "reliability-client";
const CLIENT_SECRET: &str = "reliability-client-secret";
/// The secrets file, in the scenario's directory.
pub const SECRETS: &str = "secrets.json";
const STATE: &str = "emulator-state.json";
const RETIRING_SUFFIX: &str = " (keyplan: retiring)";
/// The guard is not under test here: scenarios delete up to every key of a project.
const GUARD_OFF: [&str; 4] = ["--max-delete-share", "1", "--max-deletes", "100000"];

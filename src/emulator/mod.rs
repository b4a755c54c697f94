//! The local Admin API server used by tests, benchmarks and `--sandbox`.
//!
//! It speaks Pinecone's Admin API closely enough that the official Python SDK cannot tell the
//! difference (`tests/conformance`): an OAuth token endpoint, projects, and API keys with the
//! API's ids, secrets, validation, error shapes, quota and Starter-plan rules. Around that it
//! injects faults on demand (latency, 5xx, 429, dropped connections, lost create responses,
//! malformed bodies, a rate limit) and counts every request, so tests can watch a client cope.
//! Start it in-process with [`start`], or from the command line with [`serve_cli`].

mod cli;
mod config;
mod conn;
mod errors;
mod faults;
mod latency;
mod layer;
mod server;
mod shared;
mod state;

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use cli::{EmulatorArgs, EmulatorCliError, EmulatorOutput, serve_cli};

pub use config::{
    Counters, DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET, DEFAULT_LISTEN, EmulatorConfig, Fault,
    Faults, RateLimit, Route, Seed, SeedKey, SeedProject,
};

use crate::lock::lock;
use crate::model::{LiveKey, Project, ProjectId, Role, RoleSet};
use conn::{ConnHandle, ControlledListener, kill_all};
use shared::Shared;
use state::Store;

/// How long [`RunningEmulator::shutdown`] lets requests in flight finish before it breaks them.
const GRACE: Duration = Duration::from_secs(1);

/// Starts the emulator on `addr` (port 0 picks a free port) and serves until
/// [`RunningEmulator::shutdown`] or until the value is dropped.
///
/// Fails when the address cannot be bound, or the state or seed cannot be read.
pub async fn start(config: EmulatorConfig, addr: SocketAddr) -> std::io::Result<RunningEmulator> {
    let mut store = Store::open(
        config.state_file.clone(),
        config.seed.as_ref(),
        config.key_quota,
        config.starter_plan,
    )?;
    store.delete_missing_500 = config.delete_missing_500;
    store.extra_roles = config.extra_roles.iter().cloned().collect();
    let shared = Arc::new(Shared::new(&config, store));
    let listener = TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    let app =
        server::router(Arc::clone(&shared)).into_make_service_with_connect_info::<ConnHandle>();
    let (stop, stopped) = oneshot::channel::<()>();
    let serve = axum::serve(
        ControlledListener::new(listener, Arc::clone(&shared.conns)),
        app,
    )
    .with_graceful_shutdown(async {
        let _ = stopped.await;
    });
    let task = tokio::spawn(async move {
        // `serve` only ends by the shutdown signal; its io::Result is always Ok.
        let _ = serve.await;
    });
    Ok(RunningEmulator {
        addr: local,
        shared,
        stop: Some(stop),
        task: Some(task),
    })
}

/// Starts the emulator on a runtime of its own (one worker thread), for synchronous tests: a
/// test that runs the keyplan binary and waits for it would otherwise starve an emulator that
/// shares the test's runtime. Call it outside any async context. Dereferences to
/// [`RunningEmulator`]; dropping it stops the server.
pub fn start_in_background(
    config: EmulatorConfig,
    addr: SocketAddr,
) -> std::io::Result<BackgroundEmulator> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("keyplan-emulator")
        .enable_all()
        .build()?;
    let emulator = runtime.block_on(start(config, addr))?;
    Ok(BackgroundEmulator {
        emulator: Some(emulator),
        runtime: Some(runtime),
    })
}

/// An emulator serving from its own runtime; see [`start_in_background`].
#[derive(Debug)]
pub struct BackgroundEmulator {
    emulator: Option<RunningEmulator>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl std::ops::Deref for BackgroundEmulator {
    type Target = RunningEmulator;

    fn deref(&self) -> &RunningEmulator {
        // Both are `Some` from construction until `drop`.
        self.emulator
            .as_ref()
            .unwrap_or_else(|| unreachable!("emulator taken before drop"))
    }
}

impl Drop for BackgroundEmulator {
    fn drop(&mut self) {
        // Dropping the emulator signals shutdown and breaks its connections; the runtime then
        // goes without blocking, so this is safe even inside an async context.
        drop(self.emulator.take());
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// A running emulator: its address, and the handles tests use to set it up and watch it.
#[derive(Debug)]
pub struct RunningEmulator {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl RunningEmulator {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The Admin API base URL, e.g. `http://127.0.0.1:8787` (paths are `/admin/...`).
    pub fn base_url(&self) -> String {
        let mut addr = self.addr;
        if addr.ip().is_unspecified() {
            addr.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
        }
        format!("http://{addr}")
    }

    /// The token endpoint: `base_url() + "/oauth/token"`.
    pub fn oauth_url(&self) -> String {
        format!("{}/oauth/token", self.base_url())
    }

    /// Adds a project (names may repeat, as in production).
    pub fn add_project(&self, name: &str) -> Project {
        let mut store = lock(&self.shared.store);
        let project = store.insert_project(name, None).to_model();
        // Set-up helper: a state file that cannot be written shows up on the next API call.
        let _ = store.save();
        project
    }

    /// Adds a project with a given id (the sandbox uses it for projects a manifest names by id).
    pub fn add_project_with_id(&self, id: &ProjectId, name: &str) -> Project {
        let mut store = lock(&self.shared.store);
        let project = store.insert_project(name, Some(id.to_string())).to_model();
        let _ = store.save();
        project
    }

    /// Adds a pre-existing key, bypassing quota and plan rules. Its secret is never shown.
    pub fn add_key(&self, project: &ProjectId, name: &str, roles: &[Role]) -> LiveKey {
        let roles: RoleSet = if roles.is_empty() {
            RoleSet::from([Role::ProjectEditor])
        } else {
            roles.iter().cloned().collect()
        };
        let mut store = lock(&self.shared.store);
        let (key, _secret) = store.insert_key(project.as_str(), name, roles, None, None);
        let _ = store.save();
        key.to_model()
    }

    /// The keys of a project, in creation order (empty for an unknown project).
    pub fn keys(&self, project: &ProjectId) -> Vec<LiveKey> {
        let store = lock(&self.shared.store);
        store
            .keys_of(project.as_str())
            .map(|keys| keys.iter().map(state::KeyRec::to_model).collect())
            .unwrap_or_default()
    }

    /// Every project, in creation order.
    pub fn projects(&self) -> Vec<Project> {
        let store = lock(&self.shared.store);
        store
            .projects()
            .iter()
            .map(state::ProjectRec::to_model)
            .collect()
    }

    /// Every secret value issued since start (created and pre-existing keys), so tests can
    /// scan output, logs and files for leaks.
    pub fn issued_secrets(&self) -> Vec<String> {
        lock(&self.shared.store).issued_secrets().to_vec()
    }

    /// Every access token issued and still known (also worth scanning for leaks).
    pub fn issued_tokens(&self) -> Vec<String> {
        lock(&self.shared.tokens).keys().cloned().collect()
    }

    /// A valid access token, without a round trip (e.g. for `PINECONE_ACCESS_TOKEN`).
    pub fn issue_token(&self) -> String {
        self.shared.issue_token()
    }

    /// A valid access token shaped like production's: a JWT whose `exp` claim is `expires_at`
    /// (accepted until then), e.g. for `PINECONE_ACCESS_TOKEN`.
    pub fn issue_jwt(&self, expires_at: jiff::Timestamp) -> String {
        self.shared.issue_jwt(expires_at)
    }

    /// Forgets every access token issued so far: the next admin request with one gets 401,
    /// as after a server-side revocation (tests of "retry a 401 once with a fresh token").
    pub fn revoke_tokens(&self) {
        lock(&self.shared.tokens).clear();
    }

    /// Replaces the random faults (re-seeded from `faults.seed`); scripted ones stay queued.
    pub fn set_faults(&self, faults: Faults) {
        lock(&self.shared.faults).set(faults);
    }

    /// Queues faults for the next requests matching `route`, in order, ahead of random ones.
    pub fn push_faults(&self, route: Route, faults: impl IntoIterator<Item = Fault>) {
        lock(&self.shared.faults).push(route, faults);
    }

    /// Requests seen so far, by route and status.
    pub fn counters(&self) -> Counters {
        lock(&self.shared.counters).clone()
    }

    /// Starts counting afresh.
    pub fn reset_counters(&self) {
        *lock(&self.shared.counters) = Counters::default();
    }

    /// Sets or lifts the per-project key quota.
    pub fn set_key_quota(&self, quota: Option<usize>) {
        lock(&self.shared.store).key_quota = quota;
    }

    /// Switches Starter-plan mode on or off.
    pub fn set_starter_plan(&self, on: bool) {
        lock(&self.shared.store).starter_plan = on;
    }

    /// Switches between 500 (production's answer) and 404 for deleting a key that is not there.
    pub fn set_delete_missing_500(&self, on: bool) {
        lock(&self.shared.store).delete_missing_500 = on;
    }

    /// The roles creates and updates accept beyond the six (as if Pinecone had added them).
    pub fn set_extra_roles<S: Into<String>>(&self, roles: impl IntoIterator<Item = S>) {
        lock(&self.shared.store).extra_roles = roles.into_iter().map(Into::into).collect();
    }

    /// Stops accepting, lets requests in flight finish for a moment, then breaks what is left
    /// (a trickling response would otherwise hold shutdown for minutes).
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let Some(mut task) = self.task.take() else {
            return;
        };
        if tokio::time::timeout(GRACE, &mut task).await.is_err() {
            kill_all(&self.shared.conns);
            if tokio::time::timeout(GRACE, &mut task).await.is_err() {
                task.abort();
            }
        }
    }
}

impl Drop for RunningEmulator {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
            kill_all(&self.shared.conns);
        }
    }
}

//! The fake Admin API: one organisation's keys, and client handles on it that inject faults.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use crate::live::{AdminApi, ApiError};
use crate::model::{
    CreatedKey, KeyId, KeyUpdate, LiveKey, NewKey, Project, ProjectId, RoleSet, Secret,
};
use crate::plan::{pending_name, pending_stem};

use super::{Fault, Journal};

#[derive(Debug, Default)]
struct State {
    keys: Vec<LiveKey>,
    /// Every secret the fake ever issued, by key id.
    issued: BTreeMap<KeyId, String>,
    clock: i64,
    next_id: u64,
    faults: Vec<Fault>,
    in_flight: usize,
    max_in_flight: usize,
}

/// A fake organisation: the live keys, shared by every [`FakeApi`] handle on it.
#[derive(Debug)]
pub struct FakeOrg {
    state: Mutex<State>,
    pub journal: Arc<Journal>,
}

impl FakeOrg {
    pub fn new(journal: Arc<Journal>) -> Arc<Self> {
        Arc::new(FakeOrg {
            state: Mutex::new(State::default()),
            journal,
        })
    }

    /// Adds a live key as if created outside this apply; returns it.
    pub fn seed(&self, project: &Project, name: &str, roles: RoleSet) -> LiveKey {
        let mut state = self.state.lock().unwrap();
        let key = new_key(&mut state, &project.id, name, roles);
        state.keys.push(key.clone());
        key
    }

    /// Deletes a key behind apply's back.
    pub fn forget(&self, id: &KeyId) {
        self.state.lock().unwrap().keys.retain(|k| &k.id != id);
    }

    pub fn inject(&self, fault: Fault) {
        self.state.lock().unwrap().faults.push(fault);
    }

    pub fn keys(&self) -> Vec<LiveKey> {
        self.state.lock().unwrap().keys.clone()
    }

    pub fn keys_named(&self, name: &str) -> Vec<LiveKey> {
        self.keys().into_iter().filter(|k| k.name == name).collect()
    }

    /// Keys of this name or its pending name.
    pub fn keys_named_or_pending(&self, name: &str) -> Vec<LiveKey> {
        self.keys()
            .into_iter()
            .filter(|k| k.name == name || k.name == pending_name(name))
            .collect()
    }

    pub fn issued_secret(&self, id: &KeyId) -> Option<String> {
        self.state.lock().unwrap().issued.get(id).cloned()
    }

    pub fn all_issued_secrets(&self) -> Vec<String> {
        self.state
            .lock()
            .unwrap()
            .issued
            .values()
            .cloned()
            .collect()
    }

    pub fn max_in_flight(&self) -> usize {
        self.state.lock().unwrap().max_in_flight
    }

    /// The quota fault, if one is set and the project is at it.
    fn quota_reached(&self, project: &ProjectId) -> Option<Fault> {
        let state = self.state.lock().unwrap();
        let held = state
            .keys
            .iter()
            .filter(|k| &k.project_id == project)
            .count();
        state
            .faults
            .iter()
            .find(|f| matches!(f, Fault::Quota { limit } if held >= *limit))
            .cloned()
    }

    /// The fault matching `pred`, consuming one use of a counted fault.
    fn take_fault(&self, pred: impl Fn(&Fault) -> bool) -> Option<Fault> {
        let mut state = self.state.lock().unwrap();
        let position = state.faults.iter().position(pred)?;
        let fault = state.faults[position].clone();
        match &mut state.faults[position] {
            Fault::LoseCreateAnswer { times, .. }
            | Fault::FailList { times }
            | Fault::FailRename { times, .. }
            | Fault::TwinCreate { times, .. } => {
                *times -= 1;
                if *times == 0 {
                    state.faults.remove(position);
                }
            }
            // A run hangs once: the next run goes through.
            Fault::HangAfterCreate { .. }
            | Fault::HangBeforeRename { .. }
            | Fault::InFlightCreate { .. } => {
                state.faults.remove(position);
            }
            _ => {}
        }
        Some(fault)
    }
}

fn new_key(state: &mut State, project: &ProjectId, name: &str, roles: RoleSet) -> LiveKey {
    state.next_id += 1;
    state.clock += 1;
    let id = KeyId(format!("00000000-0000-4000-8000-{:012}", state.next_id));
    let created_at =
        jiff::Timestamp::from_second(1_750_000_000 + state.clock).expect("valid timestamp");
    LiveKey {
        id,
        name: name.to_owned(),
        project_id: project.clone(),
        roles,
        created_at: Some(created_at),
    }
}

/// The name a fault is matched on: a pending key's declared name, else the name itself.
fn declared(name: &str) -> &str {
    pending_stem(name).unwrap_or(name)
}

fn api_error(status: u16, code: &str, message: &str) -> ApiError {
    ApiError::Api {
        status,
        code: Some(code.to_owned()),
        message: message.to_owned(),
        request_id: None,
    }
}

/// One client's view of a [`FakeOrg`]. `yields` sets how often each call gives way to other
/// tasks (before and after it takes effect), which lets tests vary interleavings.
#[derive(Debug, Clone)]
pub struct FakeApi {
    pub org: Arc<FakeOrg>,
    pub yields: usize,
    /// Extra yields before a create takes effect (to start one racing run later).
    pub create_delay: usize,
    pub tag: &'static str,
}

impl FakeApi {
    pub fn new(org: &Arc<FakeOrg>) -> Self {
        FakeApi {
            org: Arc::clone(org),
            yields: 1,
            create_delay: 0,
            tag: "",
        }
    }

    async fn enter(&self, extra: usize) {
        {
            let mut state = self.org.state.lock().unwrap();
            state.in_flight += 1;
            state.max_in_flight = state.max_in_flight.max(state.in_flight);
        }
        for _ in 0..self.yields + extra {
            tokio::task::yield_now().await;
        }
    }

    async fn leave(&self) {
        for _ in 0..self.yields {
            tokio::task::yield_now().await;
        }
        self.org.state.lock().unwrap().in_flight -= 1;
    }

    /// The [`Fault::InFlightCreate`] of this key, if injected: a killed run's create commits.
    fn commit_in_flight(&self, project: &ProjectId, key: &NewKey) {
        let in_flight =
            |f: &Fault| matches!(f, Fault::InFlightCreate { name } if name == declared(&key.name));
        if self.org.take_fault(in_flight).is_none() {
            return;
        }
        let mut state = self.org.state.lock().unwrap();
        let dead = new_key(&mut state, project, &key.name, key.roles.clone());
        state
            .issued
            .insert(dead.id.clone(), format!("pcsk_dead{}_SECRETVALUE", dead.id));
        self.log(&format!("in-flight create {} -> {}", key.name, dead.id));
        state.keys.push(dead);
    }

    fn log(&self, line: &str) {
        self.org.journal.push(format!("{}{line}", self.tag));
    }
}

impl AdminApi for FakeApi {
    async fn list_projects(&self) -> Result<Vec<Project>, ApiError> {
        Ok(Vec::new())
    }

    async fn describe_project(&self, id: &ProjectId) -> Result<Project, ApiError> {
        Ok(Project {
            id: id.clone(),
            name: id.0.clone(),
        })
    }

    async fn list_keys(&self, project: &ProjectId) -> Result<Vec<LiveKey>, ApiError> {
        self.enter(0).await;
        let fault = self.org.take_fault(|f| matches!(f, Fault::FailList { .. }));
        let result = if fault.is_some() {
            Err(api_error(503, "UNAVAILABLE", "service unavailable"))
        } else {
            let state = self.org.state.lock().unwrap();
            Ok(state
                .keys
                .iter()
                .filter(|k| &k.project_id == project)
                .cloned()
                .collect())
        };
        self.log(&format!("list {project}"));
        self.leave().await;
        result
    }

    async fn create_key(&self, project: &ProjectId, key: &NewKey) -> Result<CreatedKey, ApiError> {
        self.enter(self.create_delay).await;
        let result = if let Some(Fault::RefuseCreate { message, .. }) = self.org.take_fault(
            |f| matches!(f, Fault::RefuseCreate { name, .. } if name == declared(&key.name)),
        ) {
            self.log(&format!("create {} refused", key.name));
            let code = if message.contains("quota") {
                "QUOTA_EXCEEDED"
            } else {
                "FORBIDDEN"
            };
            Err(api_error(403, code, &message))
        } else if let Some(Fault::Quota { limit }) = self.org.quota_reached(project) {
            self.log(&format!("create {} refused at the quota", key.name));
            Err(api_error(
                403,
                "QUOTA_EXCEEDED",
                &format!("The project has reached its quota of {limit} API keys"),
            ))
        } else {
            let lose = self
                .org
                .take_fault(
                    |f| matches!(f, Fault::LoseCreateAnswer { name, .. } if name == declared(&key.name)),
                )
                .is_some();
            self.commit_in_flight(project, key);
            let (live, secret) = {
                let mut state = self.org.state.lock().unwrap();
                let live = new_key(&mut state, project, &key.name, key.roles.clone());
                let secret = format!("pcsk_fake{}_{}SECRETVALUE", state.next_id, "x".repeat(40));
                state.issued.insert(live.id.clone(), secret.clone());
                state.keys.push(live.clone());
                drop(state);
                let twin = self
                    .org
                    .take_fault(
                        |f| matches!(f, Fault::TwinCreate { name, .. } if name == declared(&key.name)),
                    )
                    .is_some();
                let mut state = self.org.state.lock().unwrap();
                if twin {
                    let other = new_key(&mut state, project, &key.name, key.roles.clone());
                    state.issued.insert(
                        other.id.clone(),
                        format!("pcsk_twin{}_SECRETVALUE", other.id),
                    );
                    state.keys.push(other);
                }
                (live, secret)
            };
            self.log(&format!("create {} -> {}", key.name, live.id));
            if self
                .org
                .take_fault(
                    |f| matches!(f, Fault::HangAfterCreate { name } if name == declared(&key.name)),
                )
                .is_some()
            {
                self.log(&format!("create {} hangs", key.name));
                std::future::pending::<()>().await;
            }
            let unknown = self
                .org
                .take_fault(
                    |f| matches!(f, Fault::AnswerUnknownId { name } if name == declared(&key.name)),
                )
                .is_some();
            let mut live = live;
            if unknown {
                self.log(&format!("create {} answers an unknown id", key.name));
                live.id = KeyId(format!("{}-unknown", live.id.as_str()));
            }
            if lose {
                self.log(&format!("create {} answer lost", key.name));
                Err(ApiError::OutcomeUnknown {
                    detail: "connection reset after the request was sent".into(),
                })
            } else {
                Ok(CreatedKey {
                    key: live,
                    secret: Secret::new(secret),
                })
            }
        };
        self.leave().await;
        result
    }

    async fn describe_key(&self, id: &KeyId) -> Result<LiveKey, ApiError> {
        self.enter(0).await;
        let found = {
            let state = self.org.state.lock().unwrap();
            state.keys.iter().find(|k| &k.id == id).cloned()
        };
        self.log(&format!("describe {id}"));
        self.leave().await;
        found.ok_or_else(|| api_error(404, "NOT_FOUND", "API key not found"))
    }

    async fn update_key(&self, id: &KeyId, update: &KeyUpdate) -> Result<LiveKey, ApiError> {
        self.enter(0).await;
        let current = self
            .org
            .keys()
            .into_iter()
            .find(|k| &k.id == id)
            .map(|k| k.name);
        if current.as_ref().is_some_and(|current| {
            self.org
                .take_fault(|f| matches!(f, Fault::HangBeforeRename { name } if &pending_name(name) == current))
                .is_some()
        }) {
            self.log(&format!("update {id} hangs"));
            std::future::pending::<()>().await;
        }
        let rename_fault = current.is_some_and(|current| {
            self.org
                .take_fault(|f| matches!(f, Fault::FailRename { name, .. } if pending_name(name) == current))
                .is_some()
        });
        let result = {
            let mut state = self.org.state.lock().unwrap();
            let faults = state.faults.clone();
            match state.keys.iter_mut().find(|k| &k.id == id) {
                None => Err(api_error(404, "NOT_FOUND", "API key not found")),
                Some(key)
                    if rename_fault
                        || faults.iter().any(
                            |f| matches!(f, Fault::FailUpdate { name } if name == &key.name),
                        ) =>
                {
                    Err(api_error(500, "INTERNAL", "internal error while updating"))
                }
                Some(key) => {
                    if let Some(name) = &update.name {
                        key.name.clone_from(name);
                    }
                    if let Some(roles) = &update.roles {
                        key.roles.clone_from(roles);
                    }
                    Ok(key.clone())
                }
            }
        };
        let name = update.name.as_deref().unwrap_or("-");
        let outcome = if result.is_ok() { "" } else { " failed" };
        self.log(&format!(
            "update {id} name={name} roles={}{outcome}",
            update.roles.is_some()
        ));
        self.leave().await;
        result
    }

    async fn delete_key(&self, id: &KeyId) -> Result<bool, ApiError> {
        self.enter(0).await;
        let result = {
            let mut state = self.org.state.lock().unwrap();
            let faults = state.faults.clone();
            match state.keys.iter().position(|k| &k.id == id) {
                None => Ok(false),
                Some(i)
                    if faults.iter().any(
                        |f| matches!(f, Fault::FailDelete { name } if name == declared(&state.keys[i].name)),
                    ) =>
                {
                    Err(api_error(500, "INTERNAL", "internal error while deleting"))
                }
                Some(i) => {
                    state.keys.remove(i);
                    Ok(true)
                }
            }
        };
        let outcome = match &result {
            Ok(true) => "",
            Ok(false) => " (gone)",
            Err(_) => " failed",
        };
        self.log(&format!("delete {id}{outcome}"));
        self.leave().await;
        result
    }
}

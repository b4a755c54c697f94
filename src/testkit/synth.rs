//! Synthetic manifests and live states of any size, shared by the bench example
//! (`examples/bench`) and the micro-benchmarks (`benches/plan.rs`), so both measure the same
//! inputs.
//!
//! The live state differs from the manifest the way a real fleet drifts: 5% of the declared
//! keys are missing (creates), 5% hold other roles (updates), and every project has one key
//! nobody declared (reported, kept).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{KeyId, LiveKey, Project, ProjectId, Role};
use crate::plan::LiveState;

/// A fixed "now" for rotation ages, so runs compare.
pub const NOW: &str = "2026-11-27T00:00:00Z";
/// When every synthetic live key was created (younger than the manifest's `rotate_after`).
const CREATED: &str = "2026-11-01T00:00:00Z";

fn project_name(p: usize) -> String {
    format!("synth-p{p:04}")
}

fn key_name(k: usize) -> String {
    format!("key-{k:04}")
}

/// A deterministic UUID-shaped id.
fn uuid(a: usize, b: usize) -> String {
    format!("{a:08x}-0000-4000-8000-{b:012x}")
}

/// A manifest of `projects` projects with `keys` keys each (a `[secrets]` file store, roles,
/// `rotate_after` on every key, so validation has something to check).
pub fn manifest(projects: usize, keys: usize) -> String {
    let mut text = String::from("[secrets]\nstore = \"file\"\npath = \"secrets.json\"\n");
    for p in 0..projects {
        let _ = write!(text, "\n[[project]]\nname = \"{}\"\n", project_name(p));
        for k in 0..keys {
            let _ = write!(
                text,
                "\n  [[project.key]]\n  name = \"{}\"\n  roles = [\"DataPlaneViewer\", \"ControlPlaneViewer\"]\n  rotate_after = \"90d\"\n",
                key_name(k)
            );
        }
    }
    text
}

/// The live keys for [`manifest`]`(projects, keys)`, drifted as the module says.
pub fn live_state(projects: usize, keys: usize) -> LiveState {
    let created: Option<jiff::Timestamp> = CREATED.parse().ok();
    let wanted = [Role::ControlPlaneViewer, Role::DataPlaneViewer];
    let mut all = Vec::with_capacity(projects);
    let mut listed = BTreeMap::new();
    for p in 0..projects {
        let project = Project {
            id: ProjectId(uuid(p, 0)),
            name: project_name(p),
        };
        let mut live = Vec::with_capacity(keys + 1);
        for k in 0..keys {
            if k % 20 == 19 {
                continue;
            }
            let roles = if k % 20 == 7 {
                [Role::DataPlaneViewer].into()
            } else {
                wanted.clone().into()
            };
            live.push(LiveKey {
                id: KeyId(uuid(p, k + 1)),
                name: key_name(k),
                project_id: project.id.clone(),
                roles,
                created_at: created,
            });
        }
        live.push(LiveKey {
            id: KeyId(uuid(p, keys + 1)),
            name: "made-by-hand".to_owned(),
            project_id: project.id.clone(),
            roles: [Role::ProjectEditor].into(),
            created_at: created,
        });
        listed.insert(project.id.clone(), live);
        all.push(project);
    }
    all.sort();
    LiveState {
        projects: all,
        keys: listed,
    }
}

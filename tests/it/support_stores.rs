//! Values the secret-store tests (`secrets`, `keyring`) build alike: a project
//! and the record that labels a stored secret.

#![expect(clippy::unwrap_used, reason = "tests")]

use keyplan::model::{KeyId, Project, ProjectId};
use keyplan::secrets::SecretRecord;

pub fn project(id: &str, name: &str) -> Project {
    Project {
        id: ProjectId(id.into()),
        name: name.into(),
    }
}

/// A record with a fixed creation time, so what a store writes can be compared exactly.
pub fn record(project: &Project, key_id: &str, key_name: &str) -> SecretRecord {
    SecretRecord {
        project: project.clone(),
        key_id: KeyId(key_id.into()),
        key_name: key_name.into(),
        created_at: "2026-11-27T01:02:03Z".parse().unwrap(),
    }
}

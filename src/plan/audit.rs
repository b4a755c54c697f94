//! The policy audit of the live state: every live key of every declared project against the
//! rules covering it, ignored keys included (`ignore` stops keyplan changing a key; the
//! organisation's rules still apply to it). `drift` and `report` show what it finds.

use crate::desired::Desired;
use crate::model::{LiveKey, Project};
use crate::policy::Violation;

use super::{LiveState, pending_stem, retiring_stem};

/// Every violation of the live keys of `projects` (the resolved declared projects), sorted by
/// project, key and id. Keys keyplan is creating or retiring are judged by their declared
/// name, not the suffixed one they carry meanwhile.
pub fn audit(
    desired: &Desired,
    projects: &[Project],
    live: &LiveState,
    now: jiff::Timestamp,
) -> Vec<Violation> {
    let mut seen: Vec<&Project> = Vec::new();
    let mut found = Vec::new();
    for project in projects {
        // One project declared twice (by name and by id) is judged once.
        if seen.contains(&project) {
            continue;
        }
        seen.push(project);
        let Some(keys) = live.keys.get(&project.id) else {
            continue;
        };
        found.extend(crate::policy::audit(
            &desired.policies,
            project,
            keys,
            judged_name,
            now,
        ));
    }
    found.sort_by(|a, b| {
        (&a.project.name, &a.project.id, &a.key, &a.id, &a.rule).cmp(&(
            &b.project.name,
            &b.project.id,
            &b.key,
            &b.id,
            &b.rule,
        ))
    });
    found
}

/// The name a live key is judged by: its declared name while it carries keyplan's pending or
/// retiring suffix.
pub fn judged_name(key: &LiveKey) -> String {
    pending_stem(&key.name)
        .or_else(|| retiring_stem(&key.name))
        .unwrap_or(&key.name)
        .to_owned()
}

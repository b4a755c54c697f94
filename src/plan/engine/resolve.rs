//! Resolving each `[[project]]` of the manifest to a project of the organisation.

use std::collections::BTreeSet;

use crate::desired::{Desired, ProjectSelector};
use crate::model::Project;
use crate::plan::PlanError;
use crate::plan::error::collect_errors;

/// Resolves each `[[project]]` of the manifest to a project of the organisation: one per
/// declared project, in the same order. By id (it must exist in `org`) or by exact name
/// (exactly one project may have it). Reports every problem at once.
pub fn resolve_projects(desired: &Desired, org: &[Project]) -> Result<Vec<Project>, PlanError> {
    let mut errors = Vec::new();
    let mut resolved = Vec::new();
    for declared in &desired.projects {
        match &declared.selector {
            ProjectSelector::Id(id) => match org.iter().find(|p| &p.id == id) {
                Some(project) => resolved.push(project.clone()),
                None => errors.push(PlanError::ProjectIdNotFound { id: id.clone() }),
            },
            ProjectSelector::Name(name) => {
                let mut matches: Vec<&Project> = org.iter().filter(|p| &p.name == name).collect();
                matches.sort();
                match matches.as_slice() {
                    [project] => resolved.push((*project).clone()),
                    [] => errors.push(PlanError::ProjectNameNotFound {
                        name: name.clone(),
                        similar: similar_projects(name, org),
                    }),
                    several => errors.push(PlanError::ProjectNameAmbiguous {
                        name: name.clone(),
                        candidates: several.iter().map(|p| p.id.clone()).collect(),
                    }),
                }
            }
        }
    }
    let mut seen = BTreeSet::new();
    let mut reported = BTreeSet::new();
    for project in &resolved {
        if !seen.insert(&project.id) && reported.insert(&project.id) {
            errors.push(PlanError::ProjectDeclaredTwice {
                project: project.clone(),
            });
        }
    }
    collect_errors(errors).map(|()| resolved)
}

/// Up to five projects whose names are close to `name`: equal ignoring case, containing one
/// another, or a few edits apart.
fn similar_projects(name: &str, org: &[Project]) -> Vec<Project> {
    let wanted = name.to_lowercase();
    let mut scored: Vec<(usize, &Project)> = org
        .iter()
        .filter_map(|p| {
            let have = p.name.to_lowercase();
            let distance = strsim::levenshtein(&wanted, &have);
            let close = distance <= (wanted.chars().count() / 3).max(2)
                || (!wanted.is_empty() && (have.contains(&wanted) || wanted.contains(&have)));
            close.then_some((distance, p))
        })
        .collect();
    scored.sort();
    scored.into_iter().take(5).map(|(_, p)| p.clone()).collect()
}

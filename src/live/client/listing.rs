//! The keys of many projects at once: a bounded number of listings in flight, and nothing
//! returned unless every project was listed.

use std::collections::{BTreeMap, BTreeSet};

use futures_util::stream::{self, StreamExt as _};

use crate::live::{AdminApi, ApiError};
use crate::model::{LiveKey, ProjectId};

/// How many projects are listed at once by default: see `docs/client.md` for the reasoning.
pub const DEFAULT_CONCURRENCY: usize = 16;

/// Lists the keys of every project in `projects`, at most `concurrency` requests at a time, so
/// N projects cost about N / concurrency round trips. The first failure ends the listing and is
/// returned, naming the project: a partial listing is never returned
/// (it would read as keys to create or delete).
pub async fn list_keys_of_projects<A: AdminApi>(
    api: &A,
    projects: &[ProjectId],
    concurrency: usize,
) -> Result<BTreeMap<ProjectId, Vec<LiveKey>>, ApiError> {
    let unique: BTreeSet<&ProjectId> = projects.iter().collect();
    let mut listings = stream::iter(unique)
        .map(|project| async move { (project, api.list_keys(project).await) })
        .buffer_unordered(concurrency.max(1));
    let mut listed = BTreeMap::new();
    while let Some((project, keys)) = listings.next().await {
        let keys = keys.map_err(|err| in_project(err, project))?;
        listed.insert(project.clone(), keys);
    }
    Ok(listed)
}

/// Puts the project into an error's text, so a failure among hundreds says where it happened.
fn in_project(err: ApiError, project: &ProjectId) -> ApiError {
    err.reword(|text| format!("list the keys of project {project}: {text}"))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use std::sync::Mutex;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use crate::model::{CreatedKey, KeyId, KeyUpdate, NewKey, Project, RoleSet};

    /// An in-memory API whose listings take a while, counting how many run at once.
    struct Slow {
        running: AtomicUsize,
        peak: AtomicUsize,
        fail: Option<ProjectId>,
        seen: Mutex<Vec<ProjectId>>,
    }

    impl Slow {
        fn new(fail: Option<&str>) -> Self {
            Slow {
                running: AtomicUsize::new(0),
                peak: AtomicUsize::new(0),
                fail: fail.map(|f| ProjectId(f.into())),
                seen: Mutex::new(Vec::new()),
            }
        }
    }

    impl AdminApi for Slow {
        async fn list_projects(&self) -> Result<Vec<Project>, ApiError> {
            unimplemented!()
        }
        async fn describe_project(&self, _: &ProjectId) -> Result<Project, ApiError> {
            unimplemented!()
        }
        async fn list_keys(&self, project: &ProjectId) -> Result<Vec<LiveKey>, ApiError> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.peak.fetch_max(now, Ordering::SeqCst);
            self.seen.lock().unwrap().push(project.clone());
            tokio::time::sleep(Duration::from_millis(20)).await;
            self.running.fetch_sub(1, Ordering::SeqCst);
            if self.fail.as_ref() == Some(project) {
                return Err(ApiError::Transport {
                    status: Some(200),
                    detail: "truncated".into(),
                });
            }
            Ok(vec![LiveKey {
                id: KeyId(format!("k-{project}")),
                name: "n".into(),
                project_id: project.clone(),
                roles: RoleSet::new(),
                created_at: None,
            }])
        }
        async fn create_key(&self, _: &ProjectId, _: &NewKey) -> Result<CreatedKey, ApiError> {
            unimplemented!()
        }
        async fn describe_key(&self, _: &KeyId) -> Result<LiveKey, ApiError> {
            unimplemented!()
        }
        async fn update_key(&self, _: &KeyId, _: &KeyUpdate) -> Result<LiveKey, ApiError> {
            unimplemented!()
        }
        async fn delete_key(&self, _: &KeyId) -> Result<bool, ApiError> {
            unimplemented!()
        }
    }

    fn ids(n: usize) -> Vec<ProjectId> {
        (0..n).map(|i| ProjectId(format!("p{i:03}"))).collect()
    }

    #[tokio::test]
    async fn listing_many_projects_overlaps_up_to_the_bound() {
        let api = Slow::new(None);
        let mut projects = ids(40);
        projects.push(ProjectId("p000".into()));
        let started = std::time::Instant::now();
        let listed = list_keys_of_projects(&api, &projects, 8).await.unwrap();
        let elapsed = started.elapsed();
        assert_eq!(listed.len(), 40);
        assert!(
            listed
                .iter()
                .all(|(p, keys)| keys.len() == 1 && keys[0].project_id == *p)
        );
        assert_eq!(api.peak.load(Ordering::SeqCst), 8);
        assert_eq!(
            api.seen.lock().unwrap().len(),
            40,
            "the duplicate is listed once"
        );
        // 5 rounds of 20 ms; sequentially it would be 800 ms.
        assert!(elapsed < Duration::from_millis(400), "{elapsed:?}");

        let api = Slow::new(None);
        list_keys_of_projects(&api, &ids(3), 0).await.unwrap();
        assert_eq!(
            api.peak.load(Ordering::SeqCst),
            1,
            "zero means one at a time"
        );
        assert!(
            list_keys_of_projects(&api, &[], 4)
                .await
                .unwrap()
                .is_empty()
        );
    }

    #[tokio::test]
    async fn one_failed_listing_fails_the_whole_listing_and_names_the_project() {
        let api = Slow::new(Some("p017"));
        let err = list_keys_of_projects(&api, &ids(40), 8)
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "unreadable response (HTTP 200): list the keys of project p017: truncated"
        );
    }
}

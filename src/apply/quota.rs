//! A project at its key quota: a create is refused until a key goes, while deletes wait for
//! the creates. The deletes of keys nobody wants (unmanaged keys the manifest drops, leftovers
//! of interrupted or concurrent applies) take away no key another change waits for, so when a
//! create is refused for the quota, just enough of them run first and the create is tried
//! again. The old key of a replace is never among them: it goes inside its replace, after the
//! new key's secret is stored.

use crate::live::{AdminApi, ApiError};
use crate::model::KeyId;
use crate::plan::{Cause, Change, ChangeKind, KeyBefore};
use crate::render::words::project_label;

use super::{Creation, Outcome, OutcomeStatus, Run, Work, join_ids, lock};

/// Whether the API refused a create because the project has as many keys as it may.
pub(super) fn is_quota(error: &ApiError) -> bool {
    match error {
        ApiError::Api {
            status,
            code,
            message,
            ..
        } => {
            code.as_deref() == Some("QUOTA_EXCEEDED")
                || (matches!(status, 403 | 429) && message.to_ascii_lowercase().contains("quota"))
        }
        _ => false,
    }
}

/// A delete of a key nobody wants: every cause is `Unmanaged` or a leftover.
fn frees_room(change: &Change) -> bool {
    matches!(change.kind, ChangeKind::Delete { .. })
        && !change.causes.is_empty()
        && change
            .causes
            .iter()
            .all(|cause| *cause == Cause::Unmanaged || cause.is_leftover())
}

impl<A: AdminApi> Run<'_, A> {
    /// After a project's first create tries: if some were refused for the quota, deletes as
    /// many unwanted keys of the project as were refused (leftovers first), tries those creates
    /// once more, and says in each create still refused what the plan could free. Returns the
    /// outcomes of the deletes it ran; the deletes phase leaves them alone.
    pub(super) async fn retry_at_quota(&self, made: &mut [(Work, Creation)]) -> Vec<Outcome> {
        let refused: Vec<usize> = made
            .iter()
            .enumerate()
            .filter(|(_, (work, creation))| {
                work.at_quota && matches!(creation, Creation::Failed(_))
            })
            .map(|(i, _)| i)
            .collect();
        let Some(&first) = refused.first() else {
            return Vec::new();
        };
        let project = &self.plan.changes[made[first].0.outcome.index].project;
        let mut room: Vec<(usize, &KeyBefore)> = self
            .plan
            .changes
            .iter()
            .enumerate()
            .filter(|(_, change)| change.project.id == project.id && frees_room(change))
            .filter_map(|(index, change)| change.before().map(|before| (index, before)))
            .collect();
        // Leftovers first (nobody holds or uses them), then unmanaged keys, each in plan order.
        room.sort_by_key(|&(index, _)| {
            !self.plan.changes[index]
                .causes
                .iter()
                .any(Cause::is_leftover)
        });
        let available = room.len();
        room.truncate(refused.len());

        let mut outcomes = Vec::new();
        let mut freed: Vec<KeyId> = Vec::new();
        for (index, before) in room {
            lock(&self.deleted_early).insert(index);
            let mut outcome = {
                let _permit = self.permits.acquire().await.ok();
                self.delete_now(self.start(index), before).await
            };
            if outcome.status == OutcomeStatus::Done {
                outcome.notes.push(format!(
                    "deleted before the creates to make room: {} is at its key quota",
                    project_label(project)
                ));
                freed.push(before.id.clone());
            }
            outcomes.push(outcome);
        }

        if !freed.is_empty() {
            for &i in &refused {
                let (work, creation) = &mut made[i];
                let index = work.outcome.index;
                let Some(after) = self.plan.changes[index].after() else {
                    continue;
                };
                self.progress(
                    index,
                    format!(
                        "refused at the key quota; deleted {} to make room, trying the create again",
                        join_ids(&freed)
                    ),
                );
                work.at_quota = false;
                let _permit = self.permits.acquire().await.ok();
                *creation = self.create_again(work, after).await;
            }
        }

        let label = project_label(project);
        let hint = if !freed.is_empty() {
            format!(
                "; {label} is at its key quota: this run deleted {} first to make room and the \
                 create was refused again; delete another key there or ask Pinecone for a \
                 higher quota",
                join_ids(&freed)
            )
        } else if available > 0 {
            format!(
                "; {label} is at its key quota, and deleting the unwanted keys this plan drops \
                 there, to make room, failed; re-run apply"
            )
        } else {
            format!(
                "; {label} is at its key quota, and this plan deletes no key there to make room: \
                 delete a key (or let keyplan delete keys the manifest does not declare, with \
                 `unmanaged = \"delete\"`) or ask Pinecone for a higher quota"
            )
        };
        for &i in &refused {
            if let (work, Creation::Failed(error)) = &mut made[i]
                && work.at_quota
            {
                error.push_str(&hint);
            }
        }
        outcomes
    }
}

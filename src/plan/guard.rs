//! The safety guard: a plan that deletes too many keys is refused, and only an
//! [`ApprovedPlan`] (which the guard or an explicit override produces) reaches apply.

use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::model::Project;

use super::Plan;

/// A share of a project's keys, in `[0, 1]`. NaN and values outside the range are refused
/// where the share is made, so a typo cannot switch the check off.
#[derive(Debug, Clone, Copy, PartialEq, PartialOrd, Serialize, Deserialize)]
#[serde(try_from = "f64", into = "f64")]
pub struct Share(f64);

impl Share {
    pub fn new(value: f64) -> Result<Self, ShareError> {
        if (0.0..=1.0).contains(&value) {
            Ok(Share(value))
        } else {
            Err(ShareError(value.to_string()))
        }
    }

    pub fn get(self) -> f64 {
        self.0
    }

    /// Whether `part` of `whole` is more than this share.
    #[expect(
        clippy::cast_precision_loss,
        reason = "key counts are far below 2^52, where f64 stays exact"
    )]
    pub fn exceeded_by(self, part: usize, whole: usize) -> bool {
        part as f64 > self.0 * whole as f64
    }
}

// A share is never NaN (see `Share::new`), so equality is total.
impl Eq for Share {}

impl TryFrom<f64> for Share {
    type Error = ShareError;

    fn try_from(value: f64) -> Result<Self, ShareError> {
        Share::new(value)
    }
}

impl From<Share> for f64 {
    fn from(share: Share) -> f64 {
        share.0
    }
}

impl FromStr for Share {
    type Err = ShareError;

    fn from_str(text: &str) -> Result<Self, ShareError> {
        text.trim()
            .parse::<f64>()
            .map_err(|_| ShareError(text.to_owned()))
            .and_then(Share::new)
    }
}

/// A value that is not a share in `[0, 1]`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a number from 0 to 1 (e.g. 0.25 for a quarter)")]
pub struct ShareError(String);

/// The guard's limits, as the plan was checked against them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardLimits {
    /// Refuse a plan deleting more than this share of a project's live keys...
    pub max_delete_share: Share,
    /// ...when the project has at least this many live keys.
    pub guard_min_keys: usize,
    /// Refuse a plan deleting more than this many keys in all.
    pub max_deletes: usize,
}

impl Default for GuardLimits {
    fn default() -> Self {
        GuardLimits {
            max_delete_share: Share(0.25),
            guard_min_keys: 4,
            max_deletes: 50,
        }
    }
}

/// A project whose deletions exceed the share limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectDeletes {
    pub project: Project,
    /// Deletions the guard counts (deleting a key an interrupted create left takes nothing
    /// from anybody, so those are not counted).
    pub deletes: usize,
    /// Live keys the guard counts (all but ignored ones).
    pub live: usize,
}

/// Why the guard refused a plan, with its numbers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GuardRefusal {
    pub limits: GuardLimits,
    /// Projects over `max_delete_share`, in plan order.
    pub projects: Vec<ProjectDeletes>,
    /// Deletions the guard counts, in all projects.
    pub total_deletes: usize,
    /// Whether `total_deletes` is over `max_deletes`.
    pub over_total: bool,
}

/// Checks the deletions per project and in all; `None` when the plan is within the limits.
pub(super) fn check(counts: Vec<ProjectDeletes>, limits: GuardLimits) -> Option<GuardRefusal> {
    let total_deletes = counts.iter().map(|c| c.deletes).sum();
    let projects: Vec<ProjectDeletes> = counts
        .into_iter()
        .filter(|c| {
            c.live >= limits.guard_min_keys
                && limits.max_delete_share.exceeded_by(c.deletes, c.live)
        })
        .collect();
    let over_total = total_deletes > limits.max_deletes;
    (over_total || !projects.is_empty()).then_some(GuardRefusal {
        limits,
        projects,
        total_deletes,
        over_total,
    })
}

/// Whether to apply a plan the guard refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Override {
    /// Refuse it (the default).
    No,
    /// `--force`: apply it anyway.
    Force,
}

/// A plan the guard passed, or whose refusal was overridden: the only thing apply takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedPlan {
    plan: Plan,
}

impl ApprovedPlan {
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// The refusal an override set aside, if any (to say so next to the result).
    pub fn overridden(&self) -> Option<&GuardRefusal> {
        self.plan.guard.as_ref()
    }
}

/// The guard refused the plan and nothing overrode it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuardRefused {
    pub refusal: GuardRefusal,
}

impl Plan {
    /// Passes the plan to apply, unless the guard refused it and `force` does not override.
    pub fn approve(self, force: Override) -> Result<ApprovedPlan, GuardRefused> {
        match (&self.guard, force) {
            (Some(refusal), Override::No) => Err(GuardRefused {
                refusal: refusal.clone(),
            }),
            _ => Ok(ApprovedPlan { plan: self }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_share_outside_zero_to_one_or_nan_is_refused() {
        for bad in ["nan", "NaN", "25", "-0.1", "1.01", "inf", "a quarter", ""] {
            assert!(bad.parse::<Share>().is_err(), "{bad:?} was accepted");
        }
        for good in ["0", "0.25", "1", " 0.5 "] {
            assert!(good.parse::<Share>().is_ok(), "{good:?} was refused");
        }
    }

    fn refused_plan() -> Plan {
        Plan {
            format_version: super::super::FORMAT_VERSION.to_owned(),
            changes: Vec::new(),
            unmanaged: Vec::new(),
            summary: super::super::Summary::default(),
            projects: Vec::new(),
            guard: Some(GuardRefusal {
                limits: GuardLimits::default(),
                projects: Vec::new(),
                total_deletes: 51,
                over_total: true,
            }),
            notes: Vec::new(),
        }
    }

    #[test]
    fn only_an_override_lets_a_refused_plan_through() {
        let refused = refused_plan().approve(Override::No);
        assert!(refused.is_err_and(|r| r.refusal.total_deletes == 51));
        let forced = refused_plan().approve(Override::Force);
        assert!(forced.is_ok_and(|p| p.overridden().is_some()));
    }

    #[test]
    fn the_guard_counts_per_project_and_in_all() {
        let project = Project {
            id: crate::model::ProjectId("p1".into()),
            name: "prod".into(),
        };
        let counts = |deletes, live| {
            vec![ProjectDeletes {
                project: project.clone(),
                deletes,
                live,
            }]
        };
        let limits = GuardLimits::default();
        assert_eq!(check(counts(1, 4), limits), None, "a quarter is allowed");
        assert_eq!(check(counts(3, 3), limits), None, "below guard_min_keys");
        let over = check(counts(2, 4), limits).expect("half of four is refused");
        assert_eq!((over.projects.len(), over.over_total), (1, false));
        let total = GuardLimits {
            max_deletes: 1,
            ..limits
        };
        let over = check(counts(2, 100), total).expect("two deletes over a limit of one");
        assert!(over.over_total && over.projects.is_empty());
    }
}

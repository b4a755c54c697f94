//! A scenario set up to the point where the faulty runs start ([`prepare`]), and the checks
//! of the live state against the end state the target manifest asks for ([`Prepared`]).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use crate::emulator::Faults;
use crate::model::{LiveKey, Project, Role};

use super::{Program, Sandbox, Scenario, SecretAudit, manifest};

/// A scenario set up to phase 1: projects exist, keyplan created its own keys, foreign keys
/// were seeded, and the target manifest is written.
pub struct Prepared {
    pub sandbox: Sandbox,
    pub projects: Vec<Project>,
    /// Ids of keys keyplan did not create.
    pub foreign_ids: BTreeSet<String>,
    /// Per project: the (name, roles) the live state must end with.
    pub expected: Vec<Vec<(String, Vec<String>)>>,
    /// Per project: the names of the keys the target manifest declares.
    pub declared: Vec<Vec<String>>,
    /// `--replace` rotations still to do: (project name/key name, original key id).
    pub rotations: Vec<(String, String)>,
}

pub fn prepare(program: &Program, scenario: &Scenario) -> Result<Prepared, String> {
    let sandbox = Sandbox::new(program, Faults::default());
    let projects: Vec<Project> = scenario
        .base
        .iter()
        .map(|p| sandbox.emulator.add_project(&p.name))
        .collect();
    sandbox.write_manifest(&manifest(&scenario.base));
    let setup = sandbox.run(&sandbox.apply_args(&[]));
    if setup.code != 0 {
        return Err(format!(
            "seed {}: the fault-free set-up apply exited {}:\n{}\n{}",
            scenario.seed, setup.code, setup.stdout, setup.stderr
        ));
    }
    let mut foreign_ids = BTreeSet::new();
    for (p, name, roles) in &scenario.foreign {
        let roles: Vec<Role> = roles.iter().cloned().collect();
        let key = sandbox.emulator.add_key(&projects[*p].id, name, &roles);
        foreign_ids.insert(key.id.to_string());
    }
    // The expected end state: declared keys, plus undeclared ones where unmanaged = "keep".
    let mut expected = Vec::new();
    for (i, target) in scenario.target.iter().enumerate() {
        let mut keys: Vec<(String, Vec<String>)> = target
            .keys
            .iter()
            .map(|k| {
                (
                    k.name.clone(),
                    k.roles.iter().map(|r| r.as_str().to_owned()).collect(),
                )
            })
            .collect();
        if !target.unmanaged_delete {
            let declared: BTreeSet<&str> = target
                .keys
                .iter()
                .flat_map(|k| {
                    std::iter::once(k.name.as_str())
                        .chain(k.previous_names.iter().map(String::as_str))
                })
                .collect();
            for live in sandbox.emulator.keys(&projects[i].id) {
                if !declared.contains(live.name.as_str()) {
                    keys.push((
                        live.name.clone(),
                        live.roles.iter().map(|r| r.as_str().to_owned()).collect(),
                    ));
                }
            }
        }
        keys.sort();
        expected.push(keys);
    }
    let rotations = scenario
        .rotate
        .iter()
        .map(|(p, name)| {
            let id = live_by_name(&sandbox.emulator.keys(&projects[*p].id), name)
                .map(|k| k.id.to_string())
                .unwrap_or_default();
            (format!("{}/{name}", projects[*p].name), id)
        })
        .collect();
    let declared = scenario
        .target
        .iter()
        .map(|target| target.keys.iter().map(|k| k.name.clone()).collect())
        .collect();
    sandbox.write_manifest(&manifest(&scenario.target));
    Ok(Prepared {
        sandbox,
        projects,
        foreign_ids,
        expected,
        declared,
        rotations,
    })
}

fn live_by_name<'a>(keys: &'a [LiveKey], name: &str) -> Option<&'a LiveKey> {
    keys.iter().find(|k| k.name == name)
}

impl Prepared {
    /// `--replace` flags for rotations not yet done (the key still has its original id).
    pub fn pending_rotations(&self) -> Vec<String> {
        let mut args = Vec::new();
        for (target, original) in &self.rotations {
            let (project, key) = target.split_once('/').unwrap();
            let Some(p) = self.projects.iter().find(|p| p.name == project) else {
                continue;
            };
            let live = self.sandbox.emulator.keys(&p.id);
            if live_by_name(&live, key).is_some_and(|k| k.id.as_str() == original) {
                args.push("--replace".to_owned());
                args.push(target.clone());
            }
        }
        args
    }

    /// The checks after an apply that should have converged: [`Sandbox::secret_audit`] of every
    /// live key keyplan made, and every declared key must be live: a missing one is counted in
    /// [`SecretAudit::missing`], never skipped.
    pub fn audit(&self) -> SecretAudit {
        let mut audit = self.sandbox.secret_audit(&self.projects, &self.foreign_ids);
        for (project, names) in self.projects.iter().zip(&self.declared) {
            let live = self.sandbox.emulator.keys(&project.id);
            for name in names {
                if live_by_name(&live, name).is_none() {
                    audit.missing += 1;
                    audit.missing_names.push(format!("{}/{name}", project.name));
                }
            }
        }
        audit
    }

    /// (live state equals the manifest, duplicate keys: extra keys sharing a name).
    pub fn check(&self) -> (bool, usize) {
        let mut equal = true;
        let mut duplicates = 0;
        for (project, expected) in self.projects.iter().zip(&self.expected) {
            let live = self.sandbox.emulator.keys(&project.id);
            let mut names: BTreeMap<&str, usize> = BTreeMap::new();
            for key in &live {
                *names.entry(key.name.as_str()).or_default() += 1;
            }
            duplicates += names.values().map(|n| n - 1).sum::<usize>();
            let mut actual: Vec<(String, Vec<String>)> = live
                .iter()
                .map(|k| {
                    (
                        k.name.clone(),
                        k.roles.iter().map(|r| r.as_str().to_owned()).collect(),
                    )
                })
                .collect();
            actual.sort();
            equal &= actual == *expected;
        }
        (equal, duplicates)
    }

    pub fn describe_live(&self) -> String {
        let mut out = String::new();
        for (project, expected) in self.projects.iter().zip(&self.expected) {
            let _ = writeln!(out, "  {}: expected {expected:?}", project.name);
            let live: Vec<(String, String)> = self
                .sandbox
                .emulator
                .keys(&project.id)
                .into_iter()
                .map(|k| (k.name, k.id.to_string()))
                .collect();
            let _ = writeln!(out, "  {}: live {live:?}", project.name);
        }
        out
    }
}

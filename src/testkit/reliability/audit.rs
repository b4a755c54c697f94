//! The outcome against the emulator's own state: the secret store's records, the hashes of the
//! secrets the emulator issued, the store's left-over temp files, and the audit of every key
//! keyplan created against the store ([`SecretAudit`]).

use std::collections::{BTreeSet, HashMap};
use std::fmt::Write as _;

use crate::model::Project;
use sha2::Digest as _;

use super::{RETIRING_SUFFIX, SECRETS, STATE, Sandbox};
use crate::testkit::files::walk;

impl Sandbox {
    /// The secret store's records: key id -> (key name, SHA-256 of the value). `Err` when the
    /// file exists but is not valid JSON of the expected shape.
    pub fn stored(&self) -> Result<HashMap<String, (String, String)>, String> {
        let text = match std::fs::read_to_string(self.path(SECRETS)) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(HashMap::new()),
            Err(e) => return Err(format!("unreadable secrets file: {e}")),
        };
        let doc: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| format!("secrets file is not JSON: {e}"))?;
        let records = doc["secrets"]
            .as_array()
            .ok_or("secrets file has no `secrets` array")?;
        let mut out = HashMap::new();
        for record in records {
            let (Some(id), Some(name), Some(value)) = (
                record["key_id"].as_str(),
                record["key_name"].as_str(),
                record["value"].as_str(),
            ) else {
                return Err("a secrets record lacks key_id, key_name or value".into());
            };
            out.insert(id.to_owned(), (name.to_owned(), sha256_hex(value)));
        }
        Ok(out)
    }

    /// The SHA-256 of the secret the emulator issued for each live key id (from its state file).
    pub fn issued_hashes(&self) -> HashMap<String, String> {
        let text = std::fs::read_to_string(self.path(STATE)).unwrap();
        let doc: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut out = HashMap::new();
        for project in doc["projects"].as_array().unwrap() {
            for key in project["keys"].as_array().unwrap() {
                out.insert(
                    key["id"].as_str().unwrap().to_owned(),
                    key["secret_sha256"].as_str().unwrap().to_owned(),
                );
            }
        }
        out
    }

    /// Temp files of the secret store left behind (a kill during a store write).
    pub fn store_temp_files(&self) -> usize {
        walk(self.dir.path())
            .iter()
            .filter(|p| {
                let name = p.file_name().unwrap().to_string_lossy();
                name.starts_with(SECRETS) && name.ends_with(".tmp")
            })
            .count()
    }

    /// Checks every live key not in `foreign` (keys keyplan did not create) against the store:
    /// (keys without a stored secret, keys whose stored secret is not the one issued).
    pub fn secret_audit(&self, projects: &[Project], foreign: &BTreeSet<String>) -> SecretAudit {
        let Ok(stored) = self.stored() else {
            return SecretAudit {
                invalid_file: true,
                ..SecretAudit::default()
            };
        };
        let issued = self.issued_hashes();
        let mut audit = SecretAudit::default();
        for project in projects {
            for key in self.emulator.keys(&project.id) {
                if foreign.contains(key.id.as_str()) {
                    continue;
                }
                match stored.get(key.id.as_str()) {
                    None => {
                        audit.secretless += 1;
                        audit
                            .secretless_names
                            .push(format!("{}/{}", project.name, key.name));
                    }
                    Some((name, hash)) => {
                        let issued_hash = issued.get(key.id.as_str());
                        // A retiring key's secret stays under its declared name until the new
                        // key's secret replaces it: that is the design, not a mismatch.
                        let name_ok = *name == key.name
                            || key.name.strip_suffix(RETIRING_SUFFIX) == Some(name.as_str());
                        if !name_ok || issued_hash != Some(hash) {
                            audit.wrong += 1;
                            audit.wrong_names.push(format!(
                                "{}/{} (stored under {name:?}, secret {})",
                                project.name,
                                key.name,
                                if issued_hash == Some(hash) {
                                    "matches"
                                } else {
                                    "DIFFERS"
                                }
                            ));
                        }
                    }
                }
            }
        }
        audit
    }
}

/// What [`Sandbox::secret_audit`] (and [`Prepared::audit`](super::Prepared::audit)) found.
#[derive(Debug, Default, Clone)]
pub struct SecretAudit {
    /// Declared keys with no live key (only [`Prepared::audit`](super::Prepared::audit) looks
    /// for them): their secrets cannot be checked, so each one is a failure of its own.
    pub missing: usize,
    pub missing_names: Vec<String>,
    pub secretless: usize,
    pub secretless_names: Vec<String>,
    pub wrong: usize,
    pub wrong_names: Vec<String>,
    pub invalid_file: bool,
}

fn sha256_hex(value: &str) -> String {
    let digest = sha2::Sha256::digest(value.as_bytes());
    digest.iter().fold(String::new(), |mut out, byte| {
        let _ = write!(out, "{byte:02x}");
        out
    })
}

//! How a keyring entry records whose secret it holds: in attributes beside the raw secret, or
//! in an envelope around it.
//!
//! The Secret Service keeps any attributes a program sets on an item: there the secret is
//! stored raw (so `secret-tool lookup service keyplan username prod/ci` prints it) and the claim
//! is in attributes (`keyplan_key_id`, `keyplan_project_id`, ...). The macOS keychain's generic
//! passwords and Windows' generic credentials have no attributes of a program's choosing, so
//! there the entry's value is an envelope: a one-line JSON object holding the same fields and
//! the secret. One write stores both, so no crash can pair a key id with another key's secret.
//!
//! Secret Service items are created with their attributes in one call, but keyring-core writes
//! the secret first and the attributes after. When an entry already holds another key's secret,
//! its key id is cleared before the new secret is written, so a crash in between leaves an entry
//! that claims no key (read as "not held") rather than one that pairs a key id with another
//! key's secret.

use std::collections::HashMap;

use keyring_core::{Entry, Error, Result};
use serde::{Deserialize, Serialize};

use crate::model::{KeyId, Project};

const ATTR_KEY_ID: &str = "keyplan_key_id";
const ATTR_KEY_NAME: &str = "keyplan_key_name";
const ATTR_PROJECT_ID: &str = "keyplan_project_id";
const ATTR_PROJECT_NAME: &str = "keyplan_project_name";
const ATTR_CREATED_AT: &str = "keyplan_created_at";

/// The envelope format this build writes and reads.
const ENVELOPE_VERSION: u32 = 1;

/// Where an entry's claim lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyringLayout {
    /// In the item's attributes, the secret stored raw (the Secret Service).
    Attributes,
    /// In a JSON envelope that is the entry's value (the macOS keychain, Windows Credential
    /// Manager, and any store without attributes).
    Envelope,
}

impl KeyringLayout {
    /// The layout of this platform's keyring.
    pub fn native() -> Self {
        if cfg!(target_os = "linux") {
            KeyringLayout::Attributes
        } else {
            KeyringLayout::Envelope
        }
    }

    /// The claim `entry` records; `None` when the entry does not exist. A value that is not
    /// keyplan's envelope (or an item without keyplan's attributes) claims no key.
    pub(super) fn claim(self, entry: &Entry) -> Result<Option<Claim>> {
        let found = match self {
            KeyringLayout::Attributes => entry
                .get_attributes()
                .map(|attributes| Claim::from_attributes(&attributes)),
            KeyringLayout::Envelope => entry
                .get_password()
                .map(|value| Envelope::parse(&value).map(|e| e.claim).unwrap_or_default()),
        };
        match found {
            Ok(claim) => Ok(Some(claim)),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The secret `entry` holds; `None` when it does not exist or (envelope) holds something
    /// that is not keyplan's.
    pub(super) fn secret(self, entry: &Entry) -> Result<Option<String>> {
        match entry.get_password() {
            Ok(value) => Ok(match self {
                KeyringLayout::Attributes => Some(value),
                KeyringLayout::Envelope => Envelope::parse(&value).map(|e| e.secret),
            }),
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Writes `secret` claimed by `claim`; `existing` is what the entry claimed before.
    pub(super) fn write(
        self,
        entry: &Entry,
        existing: Option<&Claim>,
        claim: &Claim,
        secret: &str,
    ) -> Result<()> {
        match self {
            KeyringLayout::Attributes => {
                if existing.is_some_and(|c| c.key_id.is_some() && c.key_id != claim.key_id) {
                    // Unclaim first: see the module comment.
                    entry.update_attributes(&HashMap::from([(ATTR_KEY_ID, "")]))?;
                }
                entry.set_password(secret)?;
                entry.update_attributes(&claim.attributes())
            }
            KeyringLayout::Envelope => entry.set_password(&Envelope::seal(claim, secret)),
        }
    }

    /// Replaces the claim of an entry that keeps its secret (a rename the entry template does
    /// not see).
    pub(super) fn reclaim(self, entry: &Entry, old: &Claim, claim: &Claim) -> Result<()> {
        match self {
            KeyringLayout::Attributes => entry.update_attributes(&claim.attributes()),
            KeyringLayout::Envelope => {
                let secret = self.secret(entry)?.ok_or(Error::NoEntry)?;
                self.write(entry, Some(old), claim, &secret)
            }
        }
    }

    /// Options for opening an entry: a label where the store shows one.
    pub(super) fn modifiers(self, label: &str) -> HashMap<&'static str, &str> {
        match self {
            KeyringLayout::Attributes => HashMap::from([("label", label)]),
            KeyringLayout::Envelope => HashMap::new(),
        }
    }
}

/// What an entry says about whose secret it holds. The same names serve as attribute names
/// and as the envelope's fields.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(super) struct Claim {
    #[serde(rename = "keyplan_key_id", default)]
    pub key_id: Option<String>,
    #[serde(rename = "keyplan_key_name", default)]
    pub key_name: Option<String>,
    #[serde(rename = "keyplan_project_id", default)]
    pub project_id: Option<String>,
    #[serde(rename = "keyplan_project_name", default)]
    pub project_name: Option<String>,
    #[serde(rename = "keyplan_created_at", default)]
    pub created_at: Option<String>,
}

impl Claim {
    /// The claim that key `key_id`, named `key_name` in `project`, holds the entry.
    pub(super) fn of(
        project: &Project,
        key_id: &KeyId,
        key_name: &str,
        created_at: Option<String>,
    ) -> Self {
        Claim {
            key_id: Some(key_id.to_string()),
            key_name: Some(key_name.to_owned()),
            project_id: Some(project.id.to_string()),
            project_name: Some(project.name.clone()),
            created_at,
        }
    }

    fn from_attributes(attributes: &HashMap<String, String>) -> Self {
        let get = |name: &str| attributes.get(name).filter(|v| !v.is_empty()).cloned();
        Claim {
            key_id: get(ATTR_KEY_ID),
            key_name: get(ATTR_KEY_NAME),
            project_id: get(ATTR_PROJECT_ID),
            project_name: get(ATTR_PROJECT_NAME),
            created_at: get(ATTR_CREATED_AT),
        }
    }

    fn attributes(&self) -> HashMap<&'static str, &str> {
        fn value(v: Option<&String>) -> &str {
            v.map_or("", String::as_str)
        }
        HashMap::from([
            (ATTR_KEY_ID, value(self.key_id.as_ref())),
            (ATTR_KEY_NAME, value(self.key_name.as_ref())),
            (ATTR_PROJECT_ID, value(self.project_id.as_ref())),
            (ATTR_PROJECT_NAME, value(self.project_name.as_ref())),
            (ATTR_CREATED_AT, value(self.created_at.as_ref())),
        ])
    }

    pub(super) fn is(&self, project: &Project, key_id: &KeyId) -> bool {
        self.key_id.as_deref() == Some(key_id.as_str())
            && self.project_id.as_deref() == Some(project.id.as_str())
    }

    /// The key id, when the entry records a key of this project.
    pub(super) fn key_of(&self, project: &Project) -> Option<KeyId> {
        if self.project_id.as_deref() == Some(project.id.as_str()) {
            self.key_id.clone().map(KeyId)
        } else {
            None
        }
    }

    /// Whether the entry names any key or project at all.
    pub(super) fn claims_something(&self) -> bool {
        self.key_id.is_some() || self.project_id.is_some()
    }
}

/// An entry's value in the envelope layout. No `Debug`: it holds the secret.
#[derive(Serialize, Deserialize)]
struct Envelope {
    #[serde(rename = "keyplan_envelope")]
    version: u32,
    #[serde(flatten)]
    claim: Claim,
    secret: String,
}

impl Envelope {
    fn seal(claim: &Claim, secret: &str) -> String {
        let envelope = Envelope {
            version: ENVELOPE_VERSION,
            claim: claim.clone(),
            secret: secret.to_owned(),
        };
        // Strings and numbers only: serialising cannot fail.
        serde_json::to_string(&envelope).unwrap_or_default()
    }

    /// The envelope in `value`; `None` for anything else (a value keyplan did not write).
    fn parse(value: &str) -> Option<Envelope> {
        serde_json::from_str::<Envelope>(value)
            .ok()
            .filter(|e| e.version == ENVELOPE_VERSION)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::ProjectId;

    #[test]
    fn envelopes_round_trip_and_anything_else_claims_nothing() {
        let project = Project {
            id: ProjectId("p-1".into()),
            name: "prod".into(),
        };
        let claim = Claim::of(&project, &KeyId("k-1".into()), "ci", Some("t".into()));
        let sealed = Envelope::seal(&claim, "pcsk_x");
        let opened = Envelope::parse(&sealed).unwrap_or_else(|| panic!("{sealed}"));
        assert_eq!(opened.claim, claim);
        assert_eq!(opened.secret, "pcsk_x");
        assert!(sealed.contains("\"keyplan_key_id\":\"k-1\""), "{sealed}");
        for other in [
            "pcsk_raw",
            "{}",
            "{\"secret\":\"s\"}",
            "{\"keyplan_envelope\":2,\"secret\":\"s\"}",
        ] {
            assert!(Envelope::parse(other).is_none(), "{other}");
        }
    }
}

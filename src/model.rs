//! The vocabulary every other module speaks: projects, keys, roles and secrets.
//!
//! Nothing here knows about HTTP, TOML, files or terminals. Wire formats convert into these
//! types at the edge (`live`, `manifest`), so the plan engine works on values that are already
//! valid.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The longest key name the Admin API accepts, in characters.
pub const MAX_KEY_NAME_CHARS: usize = 80;

/// A role of a Pinecone API key: one of the six keyplan knows, or one it does not.
///
/// The six are declared in the order the Pinecone docs list them; `Ord` follows that order (and
/// puts unknown roles last, by name) so that sorted role sets read the way users expect.
///
/// Unknown roles exist because Pinecone may add a role after this release: a live key holding
/// one must not fail a run, so the API's roles are read with [`Role::from_name`], which never
/// fails. The manifest refuses them unless `allow_unknown_roles = true`. Serialised (saved
/// plans, the emulator's files) as the bare name, whichever kind it is.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Role {
    ProjectEditor,
    ProjectViewer,
    ControlPlaneEditor,
    ControlPlaneViewer,
    DataPlaneEditor,
    DataPlaneViewer,
    /// A role none of the above: kept verbatim, compared as its name.
    Other(OtherRole),
}

/// The name of a role keyplan does not know. Only [`Role::from_name`] makes one, so it never
/// spells one of the six (each role has exactly one representation).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct OtherRole(Box<str>);

impl OtherRole {
    /// The name as the API or the manifest spelt it (not escaped: API text, escape to show).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Role {
    /// Every known role, in display order.
    pub const ALL: [Role; 6] = [
        Role::ProjectEditor,
        Role::ProjectViewer,
        Role::ControlPlaneEditor,
        Role::ControlPlaneViewer,
        Role::DataPlaneEditor,
        Role::DataPlaneViewer,
    ];

    /// The role a name spells: a known one, or [`Role::Other`]. Never fails, for names read
    /// from the API (and declared ones the manifest allowed).
    pub fn from_name(name: &str) -> Role {
        name.parse()
            .unwrap_or_else(|_| Role::Other(OtherRole(name.into())))
    }

    /// Whether this is one of the six roles keyplan knows.
    pub fn is_known(&self) -> bool {
        !matches!(self, Role::Other(_))
    }

    /// The name the API and the manifest use.
    pub fn as_str(&self) -> &str {
        match self {
            Role::ProjectEditor => "ProjectEditor",
            Role::ProjectViewer => "ProjectViewer",
            Role::ControlPlaneEditor => "ControlPlaneEditor",
            Role::ControlPlaneViewer => "ControlPlaneViewer",
            Role::DataPlaneEditor => "DataPlaneEditor",
            Role::DataPlaneViewer => "DataPlaneViewer",
            Role::Other(other) => other.as_str(),
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error for a string that names none of the six roles.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}")]
pub struct UnknownRole(pub String);

/// Strict: only the six known roles parse (see [`Role::from_name`] for the lenient reading).
impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|role| role.as_str() == s)
            .ok_or_else(|| UnknownRole(s.to_owned()))
    }
}

impl Serialize for Role {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Role {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let name = std::borrow::Cow::<str>::deserialize(deserializer)?;
        if name.is_empty() {
            return Err(serde::de::Error::custom("a role name is empty"));
        }
        Ok(Role::from_name(&name))
    }
}

/// The roles of a key. A set: order and repetition carry no meaning, so two keys whose role
/// lists differ only in order are equal here and never cause a change.
pub type RoleSet = BTreeSet<Role>;

/// A project's id as the Admin API issues it (a UUID string, kept verbatim).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ProjectId(pub String);

/// An API key's id as the Admin API issues it (a UUID string, kept verbatim).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct KeyId(pub String);

macro_rules! display_inner {
    ($($ty:ty),*) => {$(
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl $ty {
            /// The id as the API spells it.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
    )*};
}
display_inner!(ProjectId, KeyId);

/// A project as listed by the Admin API. Names are not unique within an organisation.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
}

/// A key named on the command line as `PROJECT/KEY`: the project's name or id, then the key's
/// name. The project is the part before the first `/`, so a key name may contain `/`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyRef {
    pub project: String,
    pub key: String,
}

impl FromStr for KeyRef {
    type Err = KeyRefError;

    fn from_str(text: &str) -> Result<Self, KeyRefError> {
        match text.split_once('/') {
            Some((project, key)) if !project.is_empty() && !key.is_empty() => Ok(KeyRef {
                project: project.to_owned(),
                key: key.to_owned(),
            }),
            _ => Err(KeyRefError(text.to_owned())),
        }
    }
}

impl fmt::Display for KeyRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.project, self.key)
    }
}

/// Text that is not `PROJECT/KEY`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not PROJECT/KEY (the project's name or id, a slash, the key's name)")]
pub struct KeyRefError(String);

/// An API key as it exists in Pinecone right now (never with its secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveKey {
    pub id: KeyId,
    pub name: String,
    pub project_id: ProjectId,
    pub roles: RoleSet,
    /// Optional in the API: the seed docs show it, the specs do not list it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<jiff::Timestamp>,
}

/// What to create: a name and the roles.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewKey {
    pub name: String,
    pub roles: RoleSet,
}

/// A PATCH of a key: only the fields that are `Some` change.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyUpdate {
    pub name: Option<String>,
    pub roles: Option<RoleSet>,
}

/// A key's secret value, shown by the API exactly once, at creation.
///
/// `Debug` and `Display` print `[redacted]`, and there is no `Serialize`: the only way to the
/// value is [`Secret::expose`], which makes every use visible in review.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The raw value, for the one place that must hand it on (a secret store, or the wire).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}

/// A key just created: the key and its one-time secret.
#[derive(Debug, Clone)]
pub struct CreatedKey {
    pub key: LiveKey,
    pub secret: Secret,
}

/// Checks a key name against the API's rule (1 to 80 characters, no character rules).
pub fn key_name_is_valid(name: &str) -> bool {
    let chars = name.chars().count();
    (1..=MAX_KEY_NAME_CHARS).contains(&chars)
}

/// Whether `s` is a UUID in the hyphenated form the API issues.
pub fn is_uuid(s: &str) -> bool {
    s.len() == 36 && uuid::Uuid::try_parse(s).is_ok()
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn key_refs_split_at_the_first_slash() {
        let parsed: KeyRef = "search-prod/ci/reader".parse().unwrap();
        assert_eq!(
            (parsed.project.as_str(), parsed.key.as_str()),
            ("search-prod", "ci/reader")
        );
        assert_eq!(parsed.to_string(), "search-prod/ci/reader");
        for bad in ["", "/", "prod/", "/key", "no-slash"] {
            assert!(bad.parse::<KeyRef>().is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn roles_round_trip_through_their_names() {
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert_eq!(
            "projecteditor".parse::<Role>(),
            Err(UnknownRole("projecteditor".into()))
        );
    }

    #[test]
    fn unknown_roles_are_kept_by_name_and_sort_after_the_six() {
        let other = Role::from_name("IndexAdmin");
        assert!(!other.is_known());
        assert_eq!(other.as_str(), "IndexAdmin");
        assert_eq!(Role::from_name("ProjectViewer"), Role::ProjectViewer);
        assert!(Role::from_name("ProjectViewer").is_known());
        // Strict parsing still refuses it; only `from_name` is lenient.
        assert!("IndexAdmin".parse::<Role>().is_err());
        let set: RoleSet = [
            Role::from_name("Zeta"),
            other.clone(),
            Role::DataPlaneViewer,
            Role::ProjectEditor,
        ]
        .into();
        let names: Vec<&str> = set.iter().map(Role::as_str).collect();
        assert_eq!(
            names,
            ["ProjectEditor", "DataPlaneViewer", "IndexAdmin", "Zeta"]
        );
        assert_ne!(
            RoleSet::from([other.clone()]),
            RoleSet::from([Role::from_name("indexadmin")])
        );
    }

    #[test]
    fn roles_serialise_as_their_bare_names_both_ways() {
        let set: RoleSet = [Role::DataPlaneEditor, Role::from_name("IndexAdmin")].into();
        let text = serde_json::to_string(&set).unwrap();
        assert_eq!(text, r#"["DataPlaneEditor","IndexAdmin"]"#);
        let back: RoleSet = serde_json::from_str(&text).unwrap();
        assert_eq!(back, set);
        assert!(back.contains(&Role::DataPlaneEditor));
        assert!(serde_json::from_str::<Role>(r#""""#).is_err());
        assert!(serde_json::from_str::<Role>("7").is_err());
    }

    #[test]
    fn role_sets_ignore_order_and_repetition() {
        let a: RoleSet = [Role::DataPlaneViewer, Role::DataPlaneEditor].into();
        let b: RoleSet = [
            Role::DataPlaneEditor,
            Role::DataPlaneViewer,
            Role::DataPlaneEditor,
        ]
        .into();
        assert_eq!(a, b);
    }

    #[test]
    fn secrets_never_format_their_value() {
        let secret = Secret::new("pcsk_abc123_verysecret");
        assert_eq!(format!("{secret} {secret:?}"), "[redacted] [redacted]");
        let created = format!("{:?}", Some(secret));
        assert!(!created.contains("verysecret"), "{created}");
    }

    #[test]
    fn key_names_are_one_to_eighty_characters() {
        assert!(!key_name_is_valid(""));
        assert!(key_name_is_valid("a"));
        assert!(key_name_is_valid(&"é".repeat(80)));
        assert!(!key_name_is_valid(&"a".repeat(81)));
    }
}

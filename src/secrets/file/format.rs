//! The file's formats: the JSON document (`format_version`, `secrets`) and the dotenv file (a
//! comment recording whose secret each variable holds, then the variable), both parsed into
//! the same [`Contents`] and rendered back from it.
//!
//! Whatever keyplan did not write is kept: unknown JSON fields, and dotenv lines that are not
//! keyplan's records, verbatim and in place.

use serde::{Deserialize, Serialize};

use crate::desired::FileFormat;
use crate::model::{KeyId, Project};
use crate::secrets::StoreError;

/// The only `format_version` this build reads and writes.
const FORMAT_VERSION: &str = "1";

/// The prefix of the dotenv comment line that records whose secret the next line holds.
const DOTENV_RECORD_PREFIX: &str = "# keyplan ";

const DOTENV_HEADER: &str = "# Secrets of Pinecone API keys, written by keyplan. Each variable \
                             follows a comment recording the key it belongs to; keep them together.";

/// One stored secret. No `Debug`: nothing may print `value`.
#[derive(Clone, Serialize, Deserialize)]
pub(super) struct FileRecord {
    pub(super) project_id: String,
    pub(super) project_name: String,
    pub(super) key_id: String,
    pub(super) key_name: String,
    pub(super) created_at: jiff::Timestamp,
    pub(super) value: String,
    /// Fields a newer keyplan (or a user) added: kept as they are.
    #[serde(flatten)]
    pub(super) extra: serde_json::Map<String, serde_json::Value>,
}

/// The JSON document as read.
#[derive(Deserialize)]
struct Document {
    format_version: String,
    secrets: Vec<FileRecord>,
    #[serde(flatten)]
    extra: serde_json::Map<String, serde_json::Value>,
}

/// The JSON document as written, borrowing the records.
#[derive(Serialize)]
struct DocumentOut<'a> {
    format_version: &'a str,
    secrets: Vec<&'a FileRecord>,
    #[serde(flatten)]
    extra: &'a serde_json::Map<String, serde_json::Value>,
}

/// A dotenv record's comment line, everything but the value.
#[derive(Serialize, Deserialize)]
struct DotenvMeta {
    project_id: String,
    project_name: String,
    key_id: String,
    key_name: String,
    created_at: jiff::Timestamp,
}

/// A dotenv line keyplan did not write: kept verbatim, in place.
#[derive(Clone)]
pub(super) enum Item {
    Record(FileRecord),
    Verbatim(String),
}

/// A parsed file, in either format.
#[derive(Clone)]
pub(super) struct Contents {
    pub(super) items: Vec<Item>,
    /// Unknown top-level JSON fields, kept.
    json_extra: serde_json::Map<String, serde_json::Value>,
}

impl Contents {
    pub(super) fn records(&self) -> impl Iterator<Item = &FileRecord> {
        self.items.iter().filter_map(|item| match item {
            Item::Record(record) => Some(record),
            Item::Verbatim(_) => None,
        })
    }

    pub(super) fn records_mut(&mut self) -> impl Iterator<Item = &mut FileRecord> {
        self.items.iter_mut().filter_map(|item| match item {
            Item::Record(record) => Some(record),
            Item::Verbatim(_) => None,
        })
    }

    /// The record under (project id, key name): the newest key's when several keys of that name
    /// have one (a replace stores the new key's secret before the old key is deleted).
    pub(super) fn current(&self, project: &Project, key_name: &str) -> Option<&FileRecord> {
        self.records()
            .filter(|r| r.project_id == project.id.as_str() && r.key_name == key_name)
            .reduce(|best, r| {
                if r.created_at >= best.created_at {
                    r
                } else {
                    best
                }
            })
    }

    /// Removes every record of this key; true when there was one.
    pub(super) fn remove_key(&mut self, project: &Project, key_id: &KeyId) -> bool {
        let before = self.items.len();
        self.items.retain(|item| match item {
            Item::Record(r) => {
                !(r.key_id == key_id.as_str() && r.project_id == project.id.as_str())
            }
            Item::Verbatim(_) => true,
        });
        self.items.len() != before
    }

    /// What a file that does not exist yet starts as.
    pub(super) fn empty(format: FileFormat) -> Self {
        Contents {
            items: match format {
                FileFormat::Json => Vec::new(),
                FileFormat::Dotenv => vec![Item::Verbatim(DOTENV_HEADER.to_owned())],
            },
            json_extra: serde_json::Map::new(),
        }
    }

    /// Parses the file's text; the error says what is wrong with the file, to follow its name.
    /// It never quotes the text, which holds secrets.
    pub(super) fn parse(format: FileFormat, text: &str, prefix: &str) -> Result<Self, String> {
        match format {
            FileFormat::Json => Self::parse_json(text),
            FileFormat::Dotenv => Self::parse_dotenv(text, prefix),
        }
    }

    fn parse_json(text: &str) -> Result<Contents, String> {
        // Only the position of a parse error is reported: serde's messages quote the offending
        // value, which could be a secret.
        let document: Document = serde_json::from_str(text).map_err(|e| {
            format!(
                "is not a keyplan secrets document (invalid at line {} column {})",
                e.line(),
                e.column()
            )
        })?;
        if document.format_version != FORMAT_VERSION {
            return Err(format!(
                "has format_version {:?}; this keyplan reads version {FORMAT_VERSION}",
                document.format_version
            ));
        }
        Ok(Contents {
            items: document.secrets.into_iter().map(Item::Record).collect(),
            json_extra: document.extra,
        })
    }

    fn parse_dotenv(text: &str, prefix: &str) -> Result<Contents, String> {
        let mut items = Vec::new();
        let mut pending: Option<(DotenvMeta, usize)> = None;
        for (index, line) in text.lines().enumerate() {
            let number = index + 1;
            if let Some(json) = line.strip_prefix(DOTENV_RECORD_PREFIX) {
                if let Some((_, at)) = pending {
                    return Err(format!(
                        "has a keyplan record on line {at} with no variable after it"
                    ));
                }
                let meta: DotenvMeta = serde_json::from_str(json)
                    .map_err(|_| format!("has an unreadable keyplan record on line {number}"))?;
                pending = Some((meta, number));
            } else if let Some((meta, _)) = pending.take() {
                let expected = dotenv_name_with(prefix, &meta.project_name, &meta.key_name);
                let value = line
                    .split_once('=')
                    .filter(|(name, _)| *name == expected)
                    .map(|(_, value)| value.to_owned())
                    .ok_or_else(|| {
                        format!("line {number} should set {expected}, as the record above it says")
                    })?;
                items.push(Item::Record(FileRecord {
                    project_id: meta.project_id,
                    project_name: meta.project_name,
                    key_id: meta.key_id,
                    key_name: meta.key_name,
                    created_at: meta.created_at,
                    value,
                    extra: serde_json::Map::new(),
                }));
            } else {
                items.push(Item::Verbatim(line.to_owned()));
            }
        }
        if let Some((_, at)) = pending {
            return Err(format!(
                "has a keyplan record on line {at} with no variable after it"
            ));
        }
        Ok(Contents {
            items,
            json_extra: serde_json::Map::new(),
        })
    }

    /// The file's text in `format` (dotenv variables starting with `prefix`).
    pub(super) fn render(&self, format: FileFormat, prefix: &str) -> Result<Vec<u8>, StoreError> {
        match format {
            FileFormat::Json => {
                let document = DocumentOut {
                    format_version: FORMAT_VERSION,
                    secrets: self.records().collect(),
                    extra: &self.json_extra,
                };
                let mut bytes = serde_json::to_vec_pretty(&document)
                    .map_err(|e| StoreError::new(format!("failed to encode secrets: {e}")))?;
                bytes.push(b'\n');
                Ok(bytes)
            }
            FileFormat::Dotenv => {
                let mut text = String::new();
                for item in &self.items {
                    match item {
                        Item::Verbatim(line) => text.push_str(line),
                        Item::Record(record) => {
                            let meta = DotenvMeta {
                                project_id: record.project_id.clone(),
                                project_name: record.project_name.clone(),
                                key_id: record.key_id.clone(),
                                key_name: record.key_name.clone(),
                                created_at: record.created_at,
                            };
                            let meta = serde_json::to_string(&meta).map_err(|e| {
                                StoreError::new(format!("failed to encode a record: {e}"))
                            })?;
                            text.push_str(DOTENV_RECORD_PREFIX);
                            text.push_str(&meta);
                            text.push('\n');
                            text.push_str(&dotenv_name_with(
                                prefix,
                                &record.project_name,
                                &record.key_name,
                            ));
                            text.push('=');
                            text.push_str(&record.value);
                        }
                    }
                    text.push('\n');
                }
                Ok(text.into_bytes())
            }
        }
    }
}

/// The dotenv variable of a key with the default prefix: `KEYPLAN_<PROJECT>_<KEY>`.
pub fn dotenv_name(project_name: &str, key_name: &str) -> String {
    dotenv_name_with(
        crate::desired::SecretsConfig::DEFAULT_DOTENV_PREFIX,
        project_name,
        key_name,
    )
}

/// The dotenv variable of a key: `<prefix><PROJECT>_<KEY>`, names upper-cased, every character
/// other than an ASCII letter or digit turned into `_`.
pub fn dotenv_name_with(prefix: &str, project_name: &str, key_name: &str) -> String {
    let clean = |s: &str| -> String {
        s.chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_uppercase()
                } else {
                    '_'
                }
            })
            .collect()
    };
    format!("{prefix}{}_{}", clean(project_name), clean(key_name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotenv_names_are_upper_case_with_underscores() {
        assert_eq!(dotenv_name("prod-eu", "ci.read"), "KEYPLAN_PROD_EU_CI_READ");
        assert_eq!(dotenv_name("Ünï", "a b"), "KEYPLAN__N__A_B");
        assert_eq!(dotenv_name_with("PC_", "prod", "ci"), "PC_PROD_CI");
        assert_eq!(dotenv_name_with("", "prod", "ci"), "PROD_CI");
    }
}

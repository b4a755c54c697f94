//! `keyplan import`: a manifest that declares exactly the live keys, so that planning it
//! against the same organisation shows no changes.
//!
//! Projects are written by id (names repeat across an organisation), with a comment naming
//! them. Keys that share a name get `id = ...` so each binds to its own live key. A live key a
//! manifest cannot declare (no roles, or a name the API should not have allowed) is left out
//! with a comment: the project keeps `unmanaged = "keep"`, so it is reported, never deleted.
//! A key holding a role keyplan does not know (newer than this release) is declared with it,
//! and the manifest gets `allow_unknown_roles = true` so that it validates.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::validate::declarable_role;
use crate::model::{LiveKey, Project, is_uuid, key_name_is_valid};

/// Writes a commented manifest declaring every key of the given projects.
pub fn render_manifest(projects: &[(Project, Vec<LiveKey>)]) -> String {
    let mut out = String::new();
    out.push_str(
        "# keyplan manifest, written by `keyplan import` from the live keys.\n\
         # `keyplan plan` against the same keys shows no changes. Reference: docs/manifest.md\n\
         #\n\
         # New secrets go to the OS keyring (service \"keyplan\", entry \"{project}/{key}\").\n\
         # To use a file or a command instead:\n\
         # [secrets]\n\
         # store = \"file\"\n\
         # path = \"secrets.json\"\n",
    );
    let unknown_roles = projects
        .iter()
        .flat_map(|(_, keys)| keys)
        .flat_map(|key| &key.roles)
        .any(|role| !role.is_known());
    if unknown_roles {
        out.push_str(
            "\n# Some keys hold roles this keyplan release does not know; they are kept as they are.\n\
             allow_unknown_roles = true\n",
        );
    }
    let mut sorted: Vec<&(Project, Vec<LiveKey>)> = projects.iter().collect();
    sorted.sort_by(|(a, _), (b, _)| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
    for (project, keys) in sorted {
        out.push('\n');
        let _ = writeln!(out, "# project {}", toml_string(&project.name));
        if is_uuid(project.id.as_str()) {
            out.push_str("[[project]]\n");
            let _ = writeln!(out, "id = {}", toml_string(project.id.as_str()));
        } else if !project.name.is_empty() {
            // Not an id a manifest accepts; the name is the next best thing.
            out.push_str("[[project]]\n");
            let _ = writeln!(out, "name = {}", toml_string(&project.name));
        } else {
            let _ = writeln!(
                out,
                "# (id {}) has neither a valid id nor a name: left out",
                toml_string(project.id.as_str())
            );
            continue;
        }
        out.push_str(
            "unmanaged = \"keep\"   # \"delete\" would delete live keys not declared here\n",
        );

        let mut keys: Vec<&LiveKey> = keys.iter().collect();
        keys.sort_by(|a, b| (&a.name, &a.id).cmp(&(&b.name, &b.id)));
        let mut name_counts: BTreeMap<&str, usize> = BTreeMap::new();
        for key in &keys {
            *name_counts.entry(key.name.as_str()).or_default() += 1;
        }
        for key in keys {
            out.push('\n');
            let duplicate = name_counts.get(key.name.as_str()).copied().unwrap_or(0) > 1;
            let why = if key.roles.is_empty() {
                Some("has no roles")
            } else if key.roles.iter().any(|role| !declarable_role(role.as_str())) {
                Some("has a role a manifest cannot hold")
            } else if !key_name_is_valid(&key.name) {
                Some("has a name a manifest cannot hold")
            } else if duplicate && !is_uuid(key.id.as_str()) {
                Some("shares its name and has no id a manifest can bind")
            } else {
                None
            };
            if let Some(why) = why {
                let _ = writeln!(
                    out,
                    "  # key {} (id {}) {why}: left out, it stays unmanaged",
                    toml_string(&key.name),
                    toml_string(key.id.as_str())
                );
                continue;
            }
            out.push_str("  [[project.key]]\n");
            let _ = writeln!(out, "  name = {}", toml_string(&key.name));
            let roles: Vec<String> = key.roles.iter().map(|r| toml_string(r.as_str())).collect();
            let _ = writeln!(out, "  roles = [{}]", roles.join(", "));
            if duplicate {
                let _ = writeln!(
                    out,
                    "  id = {}  # several live keys share this name",
                    toml_string(key.id.as_str())
                );
            }
        }
    }
    out
}

/// A TOML basic string: quotes, backslashes, control characters and bidirectional controls
/// escaped, so that the file shows every name as what it is.
fn toml_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if super::hides_text(c) => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_toml_requires() {
        assert_eq!(toml_string("plain"), "\"plain\"");
        assert_eq!(toml_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
        assert_eq!(toml_string("x\ny\u{7f}\u{1}"), "\"x\\ny\\u007F\\u0001\"");
        assert_eq!(
            toml_string("a\u{202e}b\u{2066}c\u{1b}"),
            "\"a\\u202Eb\\u2066c\\u001B\""
        );
        let value: toml::Value =
            toml::from_str(&format!("v = {}", toml_string("é\"\\\u{85}\t"))).unwrap();
        assert_eq!(value["v"].as_str(), Some("é\"\\\u{85}\t"));
    }
}

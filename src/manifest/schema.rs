//! The manifest's JSON Schema (draft-07), for `keyplan schema`: editors such as taplo and Even
//! Better TOML use it to validate and complete `keyplan.toml` as it is typed.
//!
//! Built from the same field lists the validator uses, so the two cannot drift apart on which
//! fields exist; the validator stays the authority on everything a schema cannot say
//! (duplicates, conflicts across keys).

use serde_json::{Value, json};

use super::validate::{
    DEFAULTS_FIELDS, KEY_FIELDS, POLICY_FIELDS, PROJECT_FIELDS, ROOT_FIELDS, SECRETS_FIELDS, STORES,
};
use crate::model::{MAX_KEY_NAME_CHARS, Role};

const UUID_PATTERN: &str =
    "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const DURATION_PATTERN: &str = "^0*[1-9][0-9]*[mhdw]$";

/// The JSON Schema of a manifest.
#[expect(clippy::too_many_lines, reason = "one JSON literal reads best whole")]
pub fn json_schema() -> Value {
    let roles: Vec<&str> = Role::ALL.iter().map(Role::as_str).collect();
    let key_name = json!({
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_KEY_NAME_CHARS,
    });
    let mut schema = json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "title": "keyplan manifest",
        "description": "Pinecone API keys as code: the keys each project should hold. Reference: docs/manifest.md.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "allow_unknown_roles": {
                "description": "Accept roles other than the six keyplan knows (one Pinecone added after this release); they are sent to the API as declared.",
                "type": "boolean",
                "default": false,
            },
            "secrets": {"$ref": "#/definitions/secrets"},
            "defaults": defaults_definition(),
            "policy": {
                "description": "Organisation policy: rules every key of the projects they cover must satisfy (docs/policy.md).",
                "type": "array",
                "items": {"$ref": "#/definitions/policy"},
            },
            "project": {
                "description": "The projects keyplan manages. Projects not listed are never touched.",
                "type": "array",
                "minItems": 1,
                "items": {"$ref": "#/definitions/project"},
            },
        },
        "required": ["project"],
        "definitions": {
            "policy": policy_definition(),
            "role": {
                "description": "A Pinecone API key role. Others only with allow_unknown_roles = true.",
                "type": "string",
                "anyOf": [
                    {"enum": roles},
                    {"pattern": "^[A-Za-z0-9_-]{1,64}$"},
                ],
            },
            "placeholder_template": {
                "type": "string",
                "minLength": 1,
                "description": "Text with placeholders {project}, {project_id} and {key}, each optionally transformed: {key:upper_snake}, {key:lower_snake}, {key:kebab}.",
            },
            "secrets": {
                "description": "Where keyplan stores the secret of each key it creates. Default: the OS keyring, service \"keyplan\", entry \"{project}/{key}\".",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "store": {
                        "description": "\"keyring\" (default): the OS keyring. \"file\": a JSON or dotenv file (mode 0600). \"command\": a command that receives each secret on stdin.",
                        "type": "string",
                        "enum": STORES,
                        "default": "keyring",
                    },
                    "service": {
                        "description": "keyring only: the keyring service name. Default \"keyplan\".",
                        "type": "string",
                        "minLength": 1,
                        "default": "keyplan",
                    },
                    "entry": {
                        "description": "keyring only: the entry name; placeholders {project}, {project_id}, {key}; must contain {key}. Default \"{project}/{key}\".",
                        "type": "string",
                        "minLength": 1,
                        "pattern": "\\{key(:[a-z_]+)?\\}",
                        "default": "{project}/{key}",
                    },
                    "path": {
                        "description": "file only (required): the secrets file, relative to the manifest's directory.",
                        "type": "string",
                        "minLength": 1,
                    },
                    "format": {
                        "description": "file only: \"json\" (default) or \"dotenv\".",
                        "type": "string",
                        "enum": ["json", "dotenv"],
                        "default": "json",
                    },
                    "command": {
                        "description": "command only (required): the program and its arguments, run once per new secret with the secret on stdin; placeholders {project}, {project_id}, {key}.",
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string"},
                    },
                },
                "allOf": [
                    {
                        "if": {"properties": {"store": {"const": "file"}}, "required": ["store"]},
                        "then": {"required": ["path"], "propertyNames": {"enum": ["store", "path", "format"]}},
                    },
                    {
                        "if": {"properties": {"store": {"const": "command"}}, "required": ["store"]},
                        "then": {"required": ["command"], "propertyNames": {"enum": ["store", "command"]}},
                    },
                    {
                        "if": {"not": {"required": ["store"]}},
                        "then": {"propertyNames": {"enum": ["service", "entry"]}},
                    },
                    {
                        "if": {"properties": {"store": {"const": "keyring"}}, "required": ["store"]},
                        "then": {"propertyNames": {"enum": ["store", "service", "entry"]}},
                    },
                ],
            },
            "project": {
                "description": "A project, named by exactly one of `name` and `id`; or several, by `names` or `ids`, each declaring the same keys.",
                "type": "object",
                "additionalProperties": false,
                "properties": {
                    "name": {
                        "description": "The project's exact name; it must match exactly one project in the organisation.",
                        "type": "string",
                        "minLength": 1,
                    },
                    "id": {
                        "description": "The project's id (a UUID, or ${env:VAR} references).",
                        "type": "string",
                    },
                    "names": {
                        "description": "Several projects' exact names: the table declares the same keys in each. ${env:VAR} references are filled in from the environment.",
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string", "minLength": 1},
                    },
                    "ids": {
                        "description": "Several projects' ids: the table declares the same keys in each.",
                        "type": "array",
                        "minItems": 1,
                        "items": {"type": "string"},
                    },
                    "unmanaged": {
                        "description": "Live keys the manifest does not declare: \"keep\" (default) reports them, \"delete\" deletes them.",
                        "type": "string",
                        "enum": ["keep", "delete"],
                        "default": "keep",
                    },
                    "ignore": {
                        "description": "Globs of live key names keyplan neither touches nor reports (*, ?, [abc], {a,b}).",
                        "type": "array",
                        "items": {"type": "string"},
                        "default": [],
                    },
                    "rotation_overlap": {
                        "description": "Default rotation_overlap for this project's keys (over [defaults]).",
                        "type": "string",
                        "pattern": DURATION_PATTERN,
                    },
                    "key": {
                        "description": "The keys this project should hold.",
                        "type": "array",
                        "items": {"$ref": "#/definitions/key"},
                        "default": [],
                    },
                },
                "oneOf": [
                    {"required": ["name"]},
                    {"required": ["id"]},
                    {"required": ["names"]},
                    {"required": ["ids"]},
                ],
            },
            "key": {
                "description": "An API key: its name and roles, and how keyplan treats it.",
                "type": "object",
                "additionalProperties": false,
                "required": ["name", "roles"],
                "properties": {
                    "name": {
                        "description": format!("The key's name, 1 to {MAX_KEY_NAME_CHARS} characters; unique in its project unless each duplicate has an `id`."),
                        "type": "string",
                        "minLength": 1,
                        "maxLength": MAX_KEY_NAME_CHARS,
                    },
                    "roles": {
                        "description": "The key's roles: a set, so order and repetition do not matter.",
                        "type": "array",
                        "minItems": 1,
                        "items": {"$ref": "#/definitions/role"},
                    },
                    "previous_names": {
                        "description": "Names the key had before: a live key under one of them is renamed in place.",
                        "type": "array",
                        "items": key_name,
                        "default": [],
                    },
                    "id": {
                        "description": "Bind to exactly this live key (a UUID), e.g. to adopt one of several keys with the same name.",
                        "type": "string",
                        "pattern": UUID_PATTERN,
                    },
                    "protected": {
                        "description": "Refuse any plan that deletes or replaces this key.",
                        "type": "boolean",
                        "default": false,
                    },
                    "role_change": {
                        "description": "How a role change is applied: \"update\" (default) changes the key in place; \"replace\" creates a new key with the new roles, stores its secret, then deletes the old one (needed on the Starter plan).",
                        "type": "string",
                        "enum": ["update", "replace"],
                        "default": "update",
                    },
                    "rotation_overlap": {
                        "description": "After a replace, keep the old key under its retiring name this long after the new key's creation, then delete it on the next apply: like \"7d\".",
                        "type": "string",
                        "pattern": DURATION_PATTERN,
                    },
                    "rotate_after": {
                        "description": "Replace the key once it is older than this: a whole number and a unit, m (minutes), h (hours), d (days) or w (weeks), like \"90d\".",
                        "type": "string",
                        "pattern": DURATION_PATTERN,
                    },
                },
            },
        },
    });
    super::schema_stores::add(&mut schema);
    debug_assert!(
        fields_match(&schema),
        "schema and validator disagree on fields"
    );
    schema
}

/// The `[defaults]` table.
fn defaults_definition() -> Value {
    json!({
        "description": "Values every project and key takes unless it sets its own (the own field replaces the default whole). A protected key takes no default rotate_after.",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "unmanaged": {
                "description": "Default for each project's `unmanaged`.",
                "type": "string",
                "enum": ["keep", "delete"],
            },
            "ignore": {
                "description": "Default for each project's `ignore` globs.",
                "type": "array",
                "items": {"type": "string"},
            },
            "role_change": {
                "description": "Default for each key's `role_change`.",
                "type": "string",
                "enum": ["update", "replace"],
            },
            "rotate_after": {
                "description": "Default for each key's `rotate_after`, like \"90d\".",
                "type": "string",
                "pattern": DURATION_PATTERN,
            },
            "rotation_overlap": {
                "description": "Default for each key's `rotation_overlap`, like \"7d\".",
                "type": "string",
                "pattern": DURATION_PATTERN,
            },
            "secrets": {
                "description": "Default for each project's `secrets`: names of [stores.NAME] tables.",
                "type": "array",
                "items": {"type": "string"},
                "minItems": 1,
            },
        },
    })
}

/// One `[[policy]]` rule.
fn policy_definition() -> Value {
    json!({
        "description": "A policy rule: checks on every key of the projects it covers (at least one of forbid_roles, max_age, name_pattern, max_keys).",
        "type": "object",
        "additionalProperties": false,
        "properties": {
            "projects": {
                "description": "Globs on project names (*, ?, [abc], {a,b}); default: every project.",
                "type": "array",
                "items": {"type": "string"},
            },
            "forbid_roles": {
                "description": "Roles no key may hold.",
                "type": "array",
                "items": {"$ref": "#/definitions/role"},
            },
            "max_age": {
                "description": "The oldest a live key may be; declared keys need rotate_after no longer than this. Like \"90d\".",
                "type": "string",
                "pattern": DURATION_PATTERN,
            },
            "name_pattern": {
                "description": "A regular expression every key name must match, like \"^[a-z][a-z0-9-]*$\".",
                "type": "string",
                "format": "regex",
            },
            "max_keys": {
                "description": "The most keys a project may hold.",
                "type": "integer",
                "minimum": 1,
            },
        },
        "anyOf": [
            {"required": ["forbid_roles"]},
            {"required": ["max_age"]},
            {"required": ["name_pattern"]},
            {"required": ["max_keys"]},
        ],
    })
}

/// Whether the schema lists exactly the fields the validator accepts.
fn fields_match(schema: &Value) -> bool {
    let names = |pointer: &str| -> Vec<String> {
        let mut names: Vec<String> = schema
            .pointer(pointer)
            .and_then(Value::as_object)
            .map(|object| object.keys().cloned().collect())
            .unwrap_or_default();
        names.sort();
        names
    };
    let sorted = |fields: &[&str]| -> Vec<String> {
        let mut fields: Vec<String> = fields.iter().map(|f| (*f).to_owned()).collect();
        fields.sort();
        fields
    };
    names("/properties") == sorted(ROOT_FIELDS)
        && names("/definitions/secrets/properties") == sorted(SECRETS_FIELDS)
        && names("/definitions/project/properties") == sorted(PROJECT_FIELDS)
        && names("/definitions/key/properties") == sorted(KEY_FIELDS)
        && names("/definitions/policy/properties") == sorted(POLICY_FIELDS)
        && names("/properties/defaults/properties") == sorted(DEFAULTS_FIELDS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_the_validators_fields() {
        assert!(fields_match(&json_schema()));
    }
}

//! JSON Schemas (draft-07) of the documents keyplan writes for programs: the plan
//! (`plan --format json`), the drift report (`drift --format json`) and the JSON secrets file
//! (`store = "file"`), each with an `$id`, for `keyplan schema DOCUMENT` and the release
//! archives. A test validates real outputs against them (tests/it/schemas.rs).
//!
//! They say what a consumer may rely on: the fields that are never renamed or removed, their
//! types, and closed sets (actions, roles are open). Objects stay open (`additionalProperties`
//! is not closed) because fields may be added within a format version.

use serde_json::{Value, json};

use crate::plan::FORMAT_VERSION;

/// The `$id` of a document's schema: a URN that names the document and its format version,
/// stable wherever the file is kept.
pub fn schema_id(document: &str, version: &str) -> String {
    format!("urn:keyplan:schema:{document}:v{version}")
}

fn project() -> Value {
    json!({
        "type": "object",
        "required": ["id", "name"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
        },
    })
}

fn roles() -> Value {
    json!({"type": "array", "items": {"type": "string"}})
}

/// A cause or note: its tag (`cause` / `note`) with its data, and its sentence.
fn tagged(tag: &str) -> Value {
    json!({
        "type": "object",
        "required": [tag, "message"],
        "properties": {
            tag: {"type": "string"},
            "message": {"type": "string"},
        },
    })
}

fn note() -> Value {
    json!({
        "type": "object",
        "required": ["project", "key", "note", "message"],
        "properties": {
            "project": {"$ref": "#/definitions/project"},
            "key": {"type": "string"},
            "note": {"type": "string"},
            "message": {"type": "string"},
        },
    })
}

fn count() -> Value {
    json!({"type": "integer", "minimum": 0})
}

/// The plan's `guard`: `null`, or the safety guard's refusal.
fn guard() -> Value {
    json!({
        "description": "null, or the safety guard's refusal (refused: false when --force overrides it).",
        "anyOf": [
            {
                "type": "object",
                "required": ["refused", "max_delete_share", "max_deletes", "projects", "total_deletes", "over_total", "reasons", "advice"],
                "properties": {
                    "refused": {"type": "boolean"},
                    "max_delete_share": {"type": "number", "minimum": 0, "maximum": 1},
                    "guard_min_keys": count(),
                    "max_deletes": count(),
                    "projects": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["project", "deletes", "live"],
                            "properties": {
                                "project": {"$ref": "#/definitions/project"},
                                "deletes": count(),
                                "live": count(),
                            },
                        },
                    },
                    "total_deletes": count(),
                    "over_total": {"type": "boolean"},
                    "reasons": {"type": "array", "items": {"type": "string"}},
                    "advice": {"type": "string"},
                },
            },
            {"type": "null"},
        ],
    })
}

/// The plan document (`keyplan plan --format json`).
pub fn plan_schema() -> Value {
    let key_before = json!({
        "type": "object",
        "required": ["id", "name", "roles", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "name": {"type": "string"},
            "roles": {"$ref": "#/definitions/roles"},
            "created_at": {"type": ["string", "null"], "description": "RFC 3339, or null when the API did not say."},
        },
    });
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": schema_id("plan", FORMAT_VERSION),
        "title": "keyplan plan document",
        "description": "The output of `keyplan plan --format json`. Reference: docs/plan-output.md.",
        "type": "object",
        "required": ["format_version", "changes", "unmanaged", "summary", "guard", "notes", "projects"],
        "properties": {
            "format_version": {"const": FORMAT_VERSION},
            "changes": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["action", "project", "before", "after", "reason", "causes"],
                    "properties": {
                        "action": {"enum": ["create", "update", "replace", "delete"]},
                        "project": {"$ref": "#/definitions/project"},
                        "before": {"anyOf": [{"$ref": "#/definitions/key_before"}, {"type": "null"}]},
                        "after": {
                            "anyOf": [
                                {
                                    "type": "object",
                                    "required": ["name", "roles"],
                                    "properties": {
                                        "name": {"type": "string"},
                                        "roles": {"$ref": "#/definitions/roles"},
                                    },
                                },
                                {"type": "null"},
                            ],
                        },
                        "reason": {"type": "string"},
                        "causes": {"type": "array", "items": tagged("cause")},
                    },
                },
            },
            "unmanaged": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["project", "key"],
                    "properties": {
                        "project": {"$ref": "#/definitions/project"},
                        "key": {"$ref": "#/definitions/key_before"},
                    },
                },
            },
            "summary": {
                "type": "object",
                "required": ["create", "update", "replace", "delete"],
                "properties": {
                    "create": count(), "update": count(), "replace": count(), "delete": count(),
                },
            },
            "guard": guard(),
            "notes": {"type": "array", "items": {"$ref": "#/definitions/note"}},
            "projects": {"type": "array", "items": {"$ref": "#/definitions/project"}},
        },
        "definitions": {
            "project": project(),
            "roles": roles(),
            "key_before": key_before,
            "note": note(),
        },
    })
}

/// The drift report (`keyplan drift --format json`).
pub fn drift_schema() -> Value {
    let items = json!({"type": "array", "items": {"$ref": "#/definitions/item"}});
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": schema_id("drift", FORMAT_VERSION),
        "title": "keyplan drift report",
        "description": "The output of `keyplan drift --format json`. Reference: docs/plan-output.md.",
        "type": "object",
        "required": ["format_version", "clean", "summary", "changed", "missing", "unmanaged", "rotation_due", "leftovers", "notes", "projects"],
        "properties": {
            "format_version": {"const": FORMAT_VERSION},
            "clean": {"type": "boolean"},
            "summary": {
                "type": "object",
                "required": ["changed", "missing", "unmanaged", "rotation_due", "leftovers"],
                "properties": {
                    "changed": count(), "missing": count(), "unmanaged": count(),
                    "rotation_due": count(), "leftovers": count(),
                },
            },
            "changed": items, "missing": items, "unmanaged": items,
            "rotation_due": items, "leftovers": items,
            "notes": {"type": "array", "items": {"$ref": "#/definitions/note"}},
            "projects": {"type": "array", "items": {"$ref": "#/definitions/project"}},
        },
        "definitions": {
            "project": project(),
            "note": note(),
            "item": {
                "type": "object",
                "required": ["project", "key", "id", "detail"],
                "properties": {
                    "project": {"$ref": "#/definitions/project"},
                    "key": {"type": "string"},
                    "id": {"type": ["string", "null"]},
                    "detail": {"type": "string"},
                },
            },
        },
    })
}

/// The JSON secrets file (`[secrets] store = "file"`, `format = "json"`, the default).
pub fn secrets_file_schema() -> Value {
    json!({
        "$schema": "http://json-schema.org/draft-07/schema#",
        "$id": schema_id("secrets-file", "1"),
        "title": "keyplan secrets file",
        "description": "The JSON file the file store keeps (mode 0600): one record per key keyplan created. Fields keyplan does not know are kept. Reference: docs/secret-stores.md.",
        "type": "object",
        "required": ["format_version", "secrets"],
        "properties": {
            "format_version": {"const": "1"},
            "secrets": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["project_id", "project_name", "key_id", "key_name", "created_at", "value"],
                    "properties": {
                        "project_id": {"type": "string"},
                        "project_name": {"type": "string"},
                        "key_id": {"type": "string"},
                        "key_name": {"type": "string"},
                        "created_at": {"type": "string", "description": "RFC 3339."},
                        "value": {"type": "string", "description": "The key's secret."},
                    },
                },
            },
        },
    })
}

/// The manifest's schema (from `manifest::json_schema`) with its `$id`.
pub fn manifest_schema() -> Value {
    let mut schema = crate::manifest::json_schema();
    if let Value::Object(fields) = &mut schema {
        fields.insert("$id".to_owned(), Value::String(schema_id("manifest", "1")));
    }
    schema
}

//! The schema of named destinations and of the store fields beyond the first three stores'
//! basics: `[stores.NAME]`, `secrets = [...]` on projects and keys, placeholders with
//! transforms, lifecycle commands, `env`, and the dotenv `prefix`. Added to the schema
//! [`super::schema`] builds, so each part stays short.

use serde_json::{Value, json};

const PLACEHOLDERS: &str = "placeholders {project}, {project_id}, {key}, {key_id}; {project} and {key} take a transform, e.g. {key:upper_snake} (also lower_snake, kebab)";

/// Adds the fields of this part to `schema`.
pub(super) fn add(schema: &mut Value) {
    let command = |what: &str| {
        json!({
            "description": what,
            "type": "array",
            "minItems": 1,
            "items": {"type": "string"},
        })
    };
    let secrets_list = json!({
        "description": "Where the secrets of this project's (or this key's) new keys go instead of [secrets]: names of [stores.NAME] tables; a secret is written to every one.",
        "type": "array",
        "minItems": 1,
        "uniqueItems": true,
        "items": {"type": "string", "minLength": 1},
    });
    let fields = [
        (
            "/definitions/secrets/properties",
            "prefix",
            json!({
                "description": "file with format = \"dotenv\" only: what every variable starts with. Default \"KEYPLAN_\".",
                "type": "string",
                "pattern": "^[A-Za-z_][A-Za-z0-9_]*$",
                "default": "KEYPLAN_",
            }),
        ),
        (
            "/definitions/secrets/properties",
            "rename_command",
            command(&format!(
                "command only: run when a key is renamed, with no stdin; {PLACEHOLDERS}, and {{old_key}} (the old name). Without it, renames are reported for you to follow by hand."
            )),
        ),
        (
            "/definitions/secrets/properties",
            "delete_command",
            command(&format!(
                "command only: run when a key is deleted or replaced, with no stdin; {PLACEHOLDERS}. Without it, deletes are reported for you to follow by hand."
            )),
        ),
        (
            "/definitions/secrets/properties",
            "env",
            json!({
                "description": "command only: variables added to the commands' environment (which never holds a Pinecone credential); values take the placeholders.",
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z_][A-Za-z0-9_]*$"},
                "additionalProperties": {"type": "string"},
            }),
        ),
        (
            "/properties",
            "stores",
            json!({
                "description": "Named destinations, each a table with the fields of [secrets]; chosen with secrets = [\"NAME\"] on a project or key.",
                "type": "object",
                "propertyNames": {"pattern": "^[A-Za-z0-9_-]+$"},
                "additionalProperties": {"$ref": "#/definitions/secrets"},
            }),
        ),
        (
            "/definitions/project/properties",
            "secrets",
            secrets_list.clone(),
        ),
        ("/definitions/key/properties", "secrets", secrets_list),
    ];
    for (pointer, name, field) in fields {
        if let Some(Value::Object(properties)) = schema.pointer_mut(pointer) {
            properties.insert(name.to_owned(), field);
        }
    }
    // The store conditions list each store's fields: add the new ones.
    if let Some(Value::Array(conditions)) = schema.pointer_mut("/definitions/secrets/allOf") {
        for condition in conditions {
            let Some(Value::Array(names)) = condition.pointer_mut("/then/propertyNames/enum")
            else {
                continue;
            };
            let store_file = names.iter().any(|n| n == "path");
            let store_command = names.iter().any(|n| n == "command");
            if store_file {
                names.push(json!("prefix"));
            } else if store_command {
                names.extend(["rename_command", "delete_command", "env"].map(|n| json!(n)));
            }
        }
    }
}

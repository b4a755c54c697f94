//! Pagination markers in a listing. The Admin API documents no pagination for keys or
//! projects, so there is no clear way to follow one: a listing that announces another page is
//! refused rather than read as the whole (keys missing from it would be planned as creations).

use serde_json::{Map, Value};

use super::redact::sanitise_message;

/// Objects in which a listing could carry its pagination state.
const PAGINATION_OBJECTS: [&str; 6] = ["pagination", "paging", "page", "pageinfo", "links", "meta"];

/// The field that says more items follow on another page, if the answer has one: a `next`,
/// cursor, token or `has_more` field with a value, at the top level or inside a pagination
/// object (`pagination.next`). `rest` is every field of the listing but `data`.
pub(super) fn next_page(rest: &Map<String, Value>) -> Option<String> {
    let marker = |name: &str, value: &Value| {
        let name = normalised(name);
        let named = ["next", "cursor", "token", "more"]
            .iter()
            .any(|part| name.contains(part));
        named.then_some(()).filter(|()| has_value(value))
    };
    for (name, value) in rest {
        if marker(name, value).is_some() {
            return Some(sanitise_message(name, &[]));
        }
        if let Value::Object(inner) = value
            && PAGINATION_OBJECTS.contains(&normalised(name).as_str())
            && let Some((field, _)) = inner.iter().find(|(f, v)| marker(f, v).is_some())
        {
            return Some(sanitise_message(&format!("{name}.{field}"), &[]));
        }
    }
    None
}

/// A field name in lowercase without separators: `next_token`, `nextToken` and `next-token`
/// read alike.
fn normalised(name: &str) -> String {
    name.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// Whether a pagination field says something: not null, false, zero-length or empty.
fn has_value(value: &Value) -> bool {
    match value {
        Value::Null | Value::Bool(false) => false,
        Value::String(s) => !s.trim().is_empty(),
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Bool(true) | Value::Number(_) => true,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_pagination_marker_is_found_wherever_it_sits() {
        let next = |json: &str| {
            let mut rest: Map<String, Value> = serde_json::from_str(json).unwrap();
            rest.remove("data");
            next_page(&rest)
        };
        for (json, field) in [
            (
                r#"{"data":[],"pagination":{"next":"abc"}}"#,
                "pagination.next",
            ),
            (r#"{"data":[],"next_token":"abc"}"#, "next_token"),
            (r#"{"data":[],"nextPageToken":"abc"}"#, "nextPageToken"),
            (r#"{"data":[],"cursor":"c1"}"#, "cursor"),
            (r#"{"data":[],"has_more":true}"#, "has_more"),
            (r#"{"data":[],"links":{"next":"/x?page=2"}}"#, "links.next"),
        ] {
            assert_eq!(next(json).as_deref(), Some(field), "{json}");
        }
        for json in [
            r#"{"data":[]}"#,
            r#"{"data":[],"pagination":{"next":null}}"#,
            r#"{"data":[],"pagination":{}}"#,
            r#"{"data":[],"has_more":false,"next":""}"#,
            r#"{"data":[],"total":3}"#,
        ] {
            assert_eq!(next(json), None, "{json}");
        }
    }
}

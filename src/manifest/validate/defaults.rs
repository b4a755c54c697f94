//! `[defaults]`: values every project and key takes unless it sets its own (`unmanaged`,
//! `ignore`, `role_change`, `rotate_after`, `rotation_overlap`, `secrets`). Read after
//! `[stores.NAME]` and before the projects; a project's or key's own field replaces the
//! default whole (an own `ignore` list is not merged with the default
//! one). A protected key takes no default `rotate_after`: rotation replaces the key, which
//! protection forbids, and a default must not make every protected key an error.

use std::ops::Range;

use toml::de::DeValue;

use super::checker::{Checker, Value};
use crate::desired::{KeyGlob, RoleChange, RotateAfter, UnmanagedPolicy};

pub(crate) const DEFAULTS_FIELDS: &[&str] = &[
    "unmanaged",
    "ignore",
    "role_change",
    "rotate_after",
    "rotation_overlap",
    "secrets",
];

/// The `[defaults]` table, read.
#[derive(Debug, Clone, Default)]
pub(super) struct Defaults {
    pub(super) unmanaged: Option<UnmanagedPolicy>,
    /// The globs with their spans (for "declared but also ignored" errors).
    pub(super) ignore: Option<(Vec<KeyGlob>, Vec<Range<usize>>)>,
    pub(super) role_change: Option<RoleChange>,
    pub(super) rotate_after: Option<RotateAfter>,
    pub(super) rotation_overlap: Option<RotateAfter>,
    /// The `[stores.NAME]` tables of every project that routes nowhere itself.
    pub(super) secrets: Option<Vec<String>>,
}

impl Checker<'_> {
    pub(super) fn defaults(&mut self, value: &Value<'_>) -> Defaults {
        let DeValue::Table(table) = value.get_ref() else {
            self.type_error(
                "defaults",
                "a table",
                value,
                Some("write [defaults] on a line of its own, then its fields".to_owned()),
            );
            return Defaults::default();
        };
        let fields = self.fields(table, DEFAULTS_FIELDS, "[defaults]");
        Defaults {
            unmanaged: fields.get("unmanaged").and_then(|v| self.unmanaged(v)),
            ignore: fields.get("ignore").map(|v| self.ignore(v)),
            role_change: fields.get("role_change").and_then(|v| self.role_change(v)),
            rotate_after: fields
                .get("rotate_after")
                .and_then(|v| self.rotate_after(v)),
            rotation_overlap: fields
                .get("rotation_overlap")
                .and_then(|v| self.duration("rotation_overlap", v)),
            secrets: fields.get("secrets").and_then(|v| self.secrets_list(v)),
        }
    }
}

#[cfg(test)]
mod tests;

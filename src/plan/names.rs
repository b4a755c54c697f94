//! The names keyplan gives a key only while a create (pending) or a replace (retiring) is
//! under way, so that a run killed half-way leaves a state the next plan can read.

/// The suffix keyplan puts on a key it is retiring during a replace.
///
/// A replace renames the old key first, then creates the new one, stores its secret, and
/// deletes the old key. A run killed half-way leaves a key with this suffix, which the next
/// plan recognises and finishes (see docs/design.md, "interrupted replace").
pub const RETIRING_SUFFIX: &str = " (keyplan: retiring)";

/// The name a key gets while it is being replaced: its name with [`RETIRING_SUFFIX`], the
/// name cut short where both would not fit in 80 characters.
pub fn retiring_name(name: &str) -> String {
    suffixed(name, RETIRING_SUFFIX)
}

/// For a retiring key's name, the (possibly cut) name it had before; `None` for other names.
pub fn retiring_stem(name: &str) -> Option<&str> {
    name.strip_suffix(RETIRING_SUFFIX)
}

/// The suffix keyplan puts on a key it is creating, until its secret is stored.
///
/// A create makes the key under its pending name, stores its secret under the declared name
/// (with the key's id), and only then renames the key to the declared name. A run killed
/// half-way leaves a key with this suffix, never a key under the declared name whose secret
/// nobody holds: the next plan renames it if the store holds its secret, else deletes it (see
/// docs/design.md, "interrupted create").
pub const PENDING_SUFFIX: &str = " (keyplan: pending)";

/// The name a key has while it is being created: its name with [`PENDING_SUFFIX`], the name
/// cut short where both would not fit in 80 characters.
pub fn pending_name(name: &str) -> String {
    suffixed(name, PENDING_SUFFIX)
}

/// `name` with `suffix`, the name cut short so that both fit in a key name's 80 characters.
fn suffixed(name: &str, suffix: &str) -> String {
    let room = crate::model::MAX_KEY_NAME_CHARS - suffix.chars().count();
    let stem: String = name.chars().take(room).collect();
    format!("{stem}{suffix}")
}

/// For a pending key's name, the (possibly cut) name it is being created under; `None` for
/// other names.
pub fn pending_stem(name: &str) -> Option<&str> {
    name.strip_suffix(PENDING_SUFFIX)
}

/// Whether `name` is one keyplan gives a key only while a create (pending) or a replace
/// (retiring) is under way: reserved, never a declared name.
pub fn is_in_flight_name(name: &str) -> bool {
    pending_stem(name).is_some() || retiring_stem(name).is_some()
}

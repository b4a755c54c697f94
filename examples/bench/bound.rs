//! The ideal bounds: the critical path of each keyplan command in round trips, and its cost
//! at a latency. Token and project listing come first, one after the other.

use std::time::Duration;

/// Round trips at concurrency `c` for `n` independent requests.
fn rounds(n: usize, c: usize) -> u64 {
    n.div_ceil(c.max(1)) as u64
}

/// What `round_trips` round trips cost at `latency`: the ideal bound.
pub fn ideal(latency: Duration, round_trips: u64) -> Duration {
    latency * u32::try_from(round_trips).unwrap_or(u32::MAX)
}

/// `keyplan plan`: token, list projects, then N listings C at a time.
pub fn plan(n: usize, c: usize) -> u64 {
    2 + rounds(n, c)
}

/// `keyplan apply` creating `m` keys in `touched` projects: the plan's listings, then for
/// each key a create (under its pending name) and a rename once its secret is stored, and
/// one listing per touched project (apply's check for a concurrent run), C at a time; a
/// rename follows its create and a project's listing its renames, so at least three rounds.
pub fn apply_create(n: usize, m: usize, touched: usize, c: usize) -> u64 {
    plan(n, c)
        + if m == 0 {
            0
        } else {
            rounds(2 * m + touched, c).max(3)
        }
}

/// `keyplan apply` deleting `m` keys: the plan's listings, then the deletes.
pub fn apply_delete(n: usize, m: usize, c: usize) -> u64 {
    plan(n, c) + rounds(m, c)
}

//! "Did you mean": the closest known word to a misspelt one.

/// The candidate closest to `word`, if it is close enough to be a plausible typo: equal but
/// for case, or within an edit distance of about a third of its length.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let lower = word.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = strsim::levenshtein(&lower, &candidate.to_lowercase());
        if best.is_none_or(|(d, _)| distance < d) {
            best = Some((distance, candidate));
        }
    }
    let (distance, candidate) = best?;
    let limit = (candidate.chars().count().max(word.chars().count()) / 3).max(1);
    (distance <= limit).then_some(candidate)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// strsim counts characters, not bytes: a misspelt accent is one edit.
    #[test]
    fn distances() {
        use strsim::levenshtein;
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("é", "e"), 1);
    }

    #[test]
    fn suggests_near_misses_only() {
        let roles = ["DataPlaneEditor", "DataPlaneViewer", "ProjectEditor"];
        assert_eq!(
            did_you_mean("DataPlaneEditr", roles),
            Some("DataPlaneEditor")
        );
        assert_eq!(
            did_you_mean("dataplaneviewer", roles),
            Some("DataPlaneViewer")
        );
        assert_eq!(did_you_mean("Admin", roles), None);
        assert_eq!(did_you_mean("rols", ["roles", "name"]), Some("roles"));
        assert_eq!(did_you_mean("x", ["id"]), None);
        assert_eq!(did_you_mean("anything", []), None);
    }
}

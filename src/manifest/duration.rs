//! Durations as the manifest writes them: a whole number and one unit, like `"90d"`.

use jiff::SignedDuration;

/// The units a duration may use, with their length in seconds.
const UNITS: [(char, i64, &str); 4] = [
    ('m', 60, "minutes"),
    ('h', 60 * 60, "hours"),
    ('d', 24 * 60 * 60, "days"),
    ('w', 7 * 24 * 60 * 60, "weeks"),
];

/// Parses `"30m"`, `"12h"`, `"90d"` or `"2w"` into a positive duration.
///
/// One unit only, no spaces, no sign: the value is read by people reviewing a manifest, so the
/// accepted forms are few and plain.
pub fn parse_duration(s: &str) -> Result<SignedDuration, String> {
    const EXPECTED: &str =
        "expected a whole number followed by m (minutes), h (hours), d (days) or w (weeks), like \"90d\"";
    let Some(unit) = s.chars().last() else {
        return Err(format!("empty duration; {EXPECTED}"));
    };
    let digits = &s[..s.len() - unit.len_utf8()];
    let Some(&(_, seconds_per_unit, _)) = UNITS.iter().find(|(c, _, _)| *c == unit) else {
        if unit.is_ascii_digit() {
            return Err(format!("duration {s:?} has no unit; {EXPECTED}"));
        }
        return Err(format!("unknown unit {unit:?} in duration {s:?}; {EXPECTED}"));
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("invalid duration {s:?}; {EXPECTED}"));
    }
    let amount: i64 = digits
        .parse()
        .map_err(|_| format!("duration {s:?} is too long"))?;
    if amount == 0 {
        return Err(format!("duration {s:?} is zero; it must be positive"));
    }
    // Past about a thousand years the value is a typo, and jiff's range is not far beyond.
    let seconds = amount
        .checked_mul(seconds_per_unit)
        .filter(|seconds| *seconds <= 1000 * 366 * 24 * 60 * 60)
        .ok_or_else(|| format!("duration {s:?} is too long"))?;
    Ok(SignedDuration::from_secs(seconds))
}

/// Formats a duration the way [`parse_duration`] reads it, in the largest exact unit.
pub fn format_duration(duration: SignedDuration) -> String {
    let seconds = duration.as_secs();
    for &(unit, per_unit, _) in UNITS.iter().rev() {
        if seconds != 0 && seconds % per_unit == 0 {
            return format!("{}{unit}", seconds / per_unit);
        }
    }
    format!("{}m", seconds / 60)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_each_unit() {
        assert_eq!(parse_duration("30m"), Ok(SignedDuration::from_mins(30)));
        assert_eq!(parse_duration("12h"), Ok(SignedDuration::from_hours(12)));
        assert_eq!(parse_duration("90d"), Ok(SignedDuration::from_hours(90 * 24)));
        assert_eq!(parse_duration("2w"), Ok(SignedDuration::from_hours(14 * 24)));
    }

    #[test]
    fn refuses_everything_else_with_a_reason() {
        for (input, reason) in [
            ("", "empty"),
            ("90", "no unit"),
            ("90 d", "invalid"),
            ("-1d", "invalid"),
            ("+1d", "invalid"),
            ("d", "invalid"),
            ("1.5d", "invalid"),
            ("0d", "zero"),
            ("3y", "unknown unit 'y'"),
            ("10s", "unknown unit 's'"),
            ("1é", "unknown unit"),
            ("99999999999999999999d", "too long"),
            ("999999w", "too long"),
        ] {
            let error = parse_duration(input).unwrap_err();
            assert!(error.contains(reason), "{input:?}: {error}");
        }
    }

    #[test]
    fn formats_back_to_the_same_value() {
        for input in ["30m", "12h", "90d", "2w", "1440m"] {
            let duration = parse_duration(input).unwrap();
            assert_eq!(parse_duration(&format_duration(duration)), Ok(duration));
        }
        assert_eq!(format_duration(SignedDuration::from_hours(24 * 14)), "2w");
    }
}

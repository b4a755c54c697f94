//! Durations as the manifest writes them: a whole number and one unit, like `"90d"`.

use jiff::SignedDuration;

/// The units a duration may use, with their length in seconds and the words people write
/// for them instead (which get a suggestion rather than a bare refusal).
const UNITS: [(char, i64, &[&str]); 4] = [
    ('m', 60, &["min", "mins", "minute", "minutes"]),
    ('h', 60 * 60, &["hr", "hrs", "hour", "hours"]),
    ('d', 24 * 60 * 60, &["day", "days"]),
    ('w', 7 * 24 * 60 * 60, &["wk", "wks", "week", "weeks"]),
];

const EXPECTED: &str =
    "write a whole number and a unit: m (minutes), h (hours), d (days) or w (weeks), like \"90d\"";

/// Parses `"30m"`, `"12h"`, `"90d"` or `"2w"` into a positive duration; the error is a
/// message and a hint, for a diagnostic.
///
/// One unit only, no spaces, no sign: the value is read by people reviewing a manifest, so the
/// accepted forms are few and plain.
pub(crate) fn parse_duration(s: &str) -> Result<SignedDuration, (String, String)> {
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, unit) = s.split_at(split);
    let invalid = || (format!("invalid duration {s:?}"), EXPECTED.to_owned());
    if digits.is_empty() {
        return Err(invalid());
    }
    let Some(&(_, seconds_per_unit, _)) = UNITS
        .iter()
        .find(|(c, _, _)| unit.len() == 1 && unit.starts_with(*c))
    else {
        if unit.is_empty() {
            return Err((format!("duration {s:?} has no unit"), EXPECTED.to_owned()));
        }
        let word = unit.trim_start().to_ascii_lowercase();
        if let Some((c, _, _)) = UNITS
            .iter()
            .find(|(c, _, words)| words.contains(&word.as_str()) || word.chars().eq([*c]))
        {
            return Err((
                format!("invalid duration {s:?}"),
                format!("write \"{digits}{c}\""),
            ));
        }
        if ["mo", "month", "months", "y", "yr", "year", "years"].contains(&word.as_str()) {
            return Err((
                format!("invalid duration {s:?}"),
                "months and years vary in length: use days or weeks, like \"90d\" or \"52w\""
                    .to_owned(),
            ));
        }
        return Err(invalid());
    };
    let amount: i64 = digits.parse().map_err(|_| {
        (
            format!("duration {s:?} is too long"),
            "the limit is 1000 years".to_owned(),
        )
    })?;
    if amount == 0 {
        return Err((
            format!("duration {s:?} is zero"),
            "rotation needs a positive age, like \"90d\"".to_owned(),
        ));
    }
    // Past about a thousand years the value is a typo, and jiff's range is not far beyond.
    let seconds = amount
        .checked_mul(seconds_per_unit)
        .filter(|seconds| *seconds <= 1000 * 366 * 24 * 60 * 60)
        .ok_or_else(|| {
            (
                format!("duration {s:?} is too long"),
                "the limit is 1000 years".to_owned(),
            )
        })?;
    Ok(SignedDuration::from_secs(seconds))
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn reads_each_unit() {
        assert_eq!(parse_duration("30m"), Ok(SignedDuration::from_mins(30)));
        assert_eq!(parse_duration("12h"), Ok(SignedDuration::from_hours(12)));
        assert_eq!(
            parse_duration("90d"),
            Ok(SignedDuration::from_hours(90 * 24))
        );
        assert_eq!(
            parse_duration("2w"),
            Ok(SignedDuration::from_hours(14 * 24))
        );
        assert_eq!(
            parse_duration("007d"),
            Ok(SignedDuration::from_hours(7 * 24))
        );
    }

    #[test]
    fn refuses_everything_else_with_a_reason() {
        for (input, reason) in [
            ("", "invalid duration"),
            ("90", "no unit"),
            ("90 d", "write \"90d\""),
            ("90days", "write \"90d\""),
            ("12 Hours", "write \"12h\""),
            ("3 months", "months and years"),
            ("1y", "months and years"),
            ("-1d", "invalid"),
            ("+1d", "invalid"),
            ("d", "invalid"),
            ("1.5d", "invalid"),
            ("1dd", "invalid"),
            ("0d", "zero"),
            ("10s", "invalid"),
            ("1é", "invalid"),
            ("99999999999999999999d", "too long"),
            ("999999w", "too long"),
        ] {
            let (message, hint) = parse_duration(input).unwrap_err();
            let error = format!("{message}; {hint}");
            assert!(error.contains(reason), "{input:?}: {error}");
        }
    }
}

//! When to try a request again, and how long to wait first.
//!
//! Pure pieces the request loop in [`super::client`] combines with the [`super::pacer`]: the
//! [`RetryPolicy`] (budgets and jittered exponential backoff), [`parse_retry_after`], and
//! [`verdict`] (which outcomes may be retried, and the rule that a create is never resent once
//! it may have reached the server).

use std::time::Duration;

use rand::Rng;

/// The longest `Retry-After` keyplan honours; a larger value is read as this (as the official
/// Python SDK does), so a misconfigured server cannot park keyplan for hours.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(60);

/// How often and for how long one request is retried.
///
/// Failures (408, 5xx, broken connections, timeouts) and throttling (429) have separate attempt
/// budgets: a throttled request is not a failure, the server asked to slow down, so it gets many
/// more attempts. Both are bounded by `max_total`, measured from the first attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first one included) when requests fail.
    pub max_attempts: u32,
    /// Attempts in all when the server answers 429.
    pub max_throttled_attempts: u32,
    /// The backoff before the first retry; it doubles on every further retry.
    pub base_delay: Duration,
    /// The longest backoff between two attempts (a `Retry-After` may ask for more, up to 60 s).
    pub max_delay: Duration,
    /// The longest time one request may take, waits and retries included.
    pub max_total: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 5,
            max_throttled_attempts: 30,
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(20),
            max_total: Duration::from_secs(180),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries (one attempt, for failures and for 429s alike).
    pub fn none() -> Self {
        RetryPolicy {
            max_attempts: 1,
            max_throttled_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The exponential backoff before retry number `retry` (1 for the first retry), without jitter.
    pub(crate) fn ceiling(&self, retry: u32) -> Duration {
        let doublings = retry.saturating_sub(1).min(30);
        self.base_delay
            .saturating_mul(1_u32 << doublings)
            .min(self.max_delay)
    }

    /// The jittered backoff before retry number `retry`: uniformly between half the ceiling and
    /// the ceiling ("equal jitter"), so clients that failed together do not retry together, yet
    /// every wait keeps growing.
    pub(crate) fn backoff(&self, retry: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(retry);
        let half = ceiling / 2;
        let spread = u64::try_from(ceiling.saturating_sub(half).as_micros()).unwrap_or(u64::MAX);
        half + Duration::from_micros(rng.random_range(0..=spread))
    }
}

/// Reads a `Retry-After` header: delay-seconds (an integer, or a decimal some servers send) or
/// an HTTP-date. Capped at [`RETRY_AFTER_CAP`]. `None` when absent or unreadable, and the caller
/// then falls back to its own backoff.
pub(crate) fn parse_retry_after(value: &str, now: jiff::Timestamp) -> Option<Duration> {
    let value = value.trim();
    if value.is_empty() {
        return None;
    }
    if value.bytes().all(|b| b.is_ascii_digit()) {
        // Digits only: an overflowing number is simply "very long".
        let seconds = value.parse::<u64>().unwrap_or(u64::MAX);
        return Some(Duration::from_secs(seconds).min(RETRY_AFTER_CAP));
    }
    if value.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        let seconds = value.parse::<f64>().ok()?;
        if !seconds.is_finite() || seconds < 0.0 {
            return None;
        }
        return Some(Duration::from_secs_f64(
            seconds.min(RETRY_AFTER_CAP.as_secs_f64()),
        ));
    }
    let at = jiff::fmt::rfc2822::DateTimeParser::new()
        .parse_timestamp(value)
        .ok()?;
    let wait = at.duration_since(now);
    if wait.is_negative() {
        return Some(Duration::ZERO);
    }
    Some(Duration::try_from(wait).map_or(RETRY_AFTER_CAP, |d| d.min(RETRY_AFTER_CAP)))
}

/// Whether resending a request can change the outcome: only a create cannot be resent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resend {
    /// Reads, PATCH (it sets absolute values), DELETE (a second one finds 404, read as "gone"),
    /// and the token exchange: sending twice has the effect of sending once.
    Safe,
    /// Safe to resend, but a 5xx answer goes back to the caller at once, which looks at the
    /// state before resending: a DELETE, since production answers 500 for a key already gone.
    Checked,
    /// A create: a second one makes a second key, and the first one's secret is lost.
    Never,
}

/// What became of one attempt, as far as the client can tell.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// The server answered with this status (the 401 refresh is handled before this).
    Status(u16),
    /// No connection was made: the request provably never left this machine.
    NotSent,
    /// The request may have been written and read by the server: a timeout, a connection that
    /// broke after connecting, a response that broke off.
    MaybeSent,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Final: hand the answer (success or error) to the caller.
    Done,
    /// A failure worth another attempt, from the failure budget.
    Retry,
    /// The server asked to slow down: pace the client, retry from the throttle budget.
    Throttled,
    /// A create that may have taken effect: never resend, report "outcome unknown".
    Unknown,
}

/// The retry rule. A create is resent only when the server provably did not act on it:
/// - no connection was made (the request never left);
/// - 429: the rate limiter refused it before any work was done;
/// - 408: the server says it did not receive the whole request (RFC 9110 §15.5.9); servers also
///   send it on idle keep-alive connections they close, before reading anything.
///
/// A timeout, a connection broken after it was made, or a 5xx may come after the key was
/// committed (a 502/504 from a proxy typically does), so the create reports
/// [`Verdict::Unknown`] and the caller reconciles by listing.
pub(crate) fn verdict(outcome: Outcome, resend: Resend) -> Verdict {
    match (outcome, resend) {
        (Outcome::Status(429), _) => Verdict::Throttled,
        (Outcome::Status(408) | Outcome::NotSent, _)
        | (Outcome::Status(500 | 502 | 503 | 504) | Outcome::MaybeSent, Resend::Safe)
        | (Outcome::MaybeSent, Resend::Checked) => Verdict::Retry,
        (Outcome::Status(500 | 502 | 503 | 504) | Outcome::MaybeSent, Resend::Never) => {
            Verdict::Unknown
        }
        (Outcome::Status(_), _) => Verdict::Done,
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_jitters_within_the_upper_half() {
        let policy = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(1),
            ..RetryPolicy::default()
        };
        let ceilings: Vec<u128> = (1..=6).map(|n| policy.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.ceiling(u32::MAX), Duration::from_secs(1));

        let mut rng = StdRng::seed_from_u64(7);
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let delay = policy.backoff(3, &mut rng);
            assert!(delay >= Duration::from_millis(200), "{delay:?}");
            assert!(delay <= Duration::from_millis(400), "{delay:?}");
            seen.insert(delay.as_millis() / 20);
        }
        assert!(seen.len() > 5, "no jitter: {seen:?}");
    }

    #[test]
    fn retry_after_reads_seconds_decimals_and_dates_and_is_capped() {
        let now: jiff::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
        let secs = |s| parse_retry_after(s, now);
        assert_eq!(secs("3"), Some(Duration::from_secs(3)));
        assert_eq!(secs(" 0 "), Some(Duration::ZERO));
        assert_eq!(secs("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(secs("3600"), Some(RETRY_AFTER_CAP));
        assert_eq!(secs("99999999999999999999999"), Some(RETRY_AFTER_CAP));
        assert_eq!(
            secs("Thu, 01 Jan 2026 00:00:07 GMT"),
            Some(Duration::from_secs(7))
        );
        assert_eq!(secs("Wed, 31 Dec 2025 23:00:00 GMT"), Some(Duration::ZERO));
        assert_eq!(secs("Fri, 02 Jan 2026 00:00:00 GMT"), Some(RETRY_AFTER_CAP));
        assert_eq!(secs(""), None);
        assert_eq!(secs("-1"), None);
        assert_eq!(secs("soon"), None);
        assert_eq!(secs("1.2.3"), None);
    }

    #[test]
    fn a_create_is_resent_only_when_it_provably_did_not_arrive() {
        use Outcome::{MaybeSent, NotSent, Status};
        for status in [500, 502, 503, 504] {
            assert_eq!(verdict(Status(status), Resend::Safe), Verdict::Retry);
            assert_eq!(verdict(Status(status), Resend::Never), Verdict::Unknown);
            assert_eq!(verdict(Status(status), Resend::Checked), Verdict::Done);
        }
        assert_eq!(verdict(MaybeSent, Resend::Safe), Verdict::Retry);
        assert_eq!(verdict(MaybeSent, Resend::Never), Verdict::Unknown);
        assert_eq!(verdict(MaybeSent, Resend::Checked), Verdict::Retry);
        for resend in [Resend::Safe, Resend::Never] {
            assert_eq!(verdict(NotSent, resend), Verdict::Retry);
            assert_eq!(verdict(Status(408), resend), Verdict::Retry);
            assert_eq!(verdict(Status(429), resend), Verdict::Throttled);
            for status in [200, 201, 202, 400, 401, 403, 404, 409, 501, 505] {
                assert_eq!(verdict(Status(status), resend), Verdict::Done, "{status}");
            }
        }
    }
}

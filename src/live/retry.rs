//! When to try a request again, how long to wait first, and how fast the whole client may send.
//!
//! Three pure pieces the request loop in [`super::client`] combines: the [`RetryPolicy`] (budgets
//! and jittered exponential backoff), [`verdict`] (which outcomes may be retried, and the rule
//! that a create is never resent once it may have reached the server), and the [`Pacer`] (one
//! per client: after a 429 every request of the client goes out at a learned interval from a
//! shared "not before" instant, so a large apply slows down instead of failing).

use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use crate::lock::lock;

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

/// The interval the pacer starts with at the first 429 (50 requests per second).
const FIRST_INTERVAL: Duration = Duration::from_millis(20);
/// The slowest the pacer goes between two request starts.
const MAX_INTERVAL: Duration = Duration::from_secs(2);
/// Below this the pacer stops spacing requests altogether.
const MIN_INTERVAL: Duration = Duration::from_micros(500);
/// A `Retry-After` at least this long holds every request of the client, not just the one it
/// came with: the server is asking for a real pause, not signalling a momentary overdraft.
const LONG_PAUSE: Duration = Duration::from_secs(5);

/// One client's shared sending schedule, adapted to the server's rate limit.
///
/// Unthrottled, it adds nothing: every request may start at once. At a 429 the interval between
/// request starts grows by a quarter (additive-increase/multiplicative-decrease on the rate, as
/// TCP and the AWS SDKs' adaptive retry mode do), at most once per round of requests, since the
/// answers to requests sent before the last slowdown say nothing about the new rate; every
/// success shortens it by 1%. The rate so settles just under the server's limit.
///
/// The throttled request itself waits its `Retry-After`. The client's other requests wait one
/// interval and then keep going at the learned rate, unless the `Retry-After` is long
/// ([`LONG_PAUSE`]): holding every request for a whole-second `Retry-After` that really means
/// "one token in 25 ms" leaves most of a rate limit unused (measured against the emulator's
/// 40/s bucket: 100 listings took 14.5 s that way).
#[derive(Debug)]
pub(crate) struct Pacer {
    state: Mutex<PacerState>,
}

#[derive(Debug)]
struct PacerState {
    /// The earliest start of the next request.
    next_slot: Instant,
    /// The spacing between request starts; zero when unthrottled.
    interval: Duration,
    /// When the interval last grew.
    last_slowdown: Option<Instant>,
}

impl Pacer {
    pub(crate) fn new() -> Self {
        Pacer {
            state: Mutex::new(PacerState {
                next_slot: Instant::now(),
                interval: Duration::ZERO,
                last_slowdown: None,
            }),
        }
    }

    /// Takes the sending slot if it is due (`Ok`), or says when to ask again (`Err`).
    ///
    /// Slots are not booked ahead: a request that waits asks again when the slot is due, so a
    /// slowdown applies at once to every waiting request, not only to those that come later.
    pub(crate) fn try_take(&self, now: Instant) -> Result<(), Instant> {
        let mut state = lock(&self.state);
        if now < state.next_slot {
            return Err(state.next_slot);
        }
        state.next_slot = now.max(state.next_slot) + state.interval;
        Ok(())
    }

    /// A request succeeded: speed up a little.
    pub(crate) fn on_success(&self) {
        let mut state = lock(&self.state);
        if !state.interval.is_zero() {
            state.interval = state.interval * 99 / 100;
            if state.interval < MIN_INTERVAL {
                state.interval = Duration::ZERO;
            }
        }
    }

    /// A request sent at `sent_at` was answered 429 at `now`.
    pub(crate) fn on_throttled(
        &self,
        sent_at: Instant,
        now: Instant,
        retry_after: Option<Duration>,
    ) {
        let mut state = lock(&self.state);
        if state.last_slowdown.is_none_or(|at| sent_at >= at) {
            state.interval = if state.interval.is_zero() {
                FIRST_INTERVAL
            } else {
                (state.interval * 5 / 4).min(MAX_INTERVAL)
            };
            state.last_slowdown = Some(now);
        }
        let pause = match retry_after {
            Some(wait) if wait >= LONG_PAUSE => wait,
            _ => state.interval,
        };
        state.next_slot = state.next_slot.max(now + pause);
    }

    /// The current spacing between request starts.
    #[cfg(test)]
    fn interval(&self) -> Duration {
        lock(&self.state).interval
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

    #[test]
    fn the_pacer_adds_nothing_until_throttled() {
        let pacer = Pacer::new();
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(pacer.try_take(now), Ok(()));
        }
        pacer.on_success();
        assert_eq!(pacer.interval(), Duration::ZERO);
    }

    #[test]
    fn the_pacer_spaces_requests_and_pauses_everyone_only_for_a_long_retry_after() {
        let pacer = Pacer::new();
        let t0 = Instant::now();
        pacer.on_throttled(t0, t0, Some(Duration::from_secs(1)));
        assert_eq!(pacer.interval(), FIRST_INTERVAL);
        let ms = |n| t0 + Duration::from_millis(n);
        assert_eq!(pacer.try_take(ms(10)), Err(ms(20)));
        assert_eq!(pacer.try_take(ms(20)), Ok(()));
        assert_eq!(pacer.try_take(ms(21)), Err(ms(40)));
        // A slowdown reaches requests already waiting.
        pacer.on_throttled(ms(22), ms(25), None);
        assert_eq!(pacer.interval(), Duration::from_millis(25));
        assert_eq!(pacer.try_take(ms(40)), Err(ms(50)));
        assert_eq!(pacer.try_take(ms(51)), Ok(()));
        assert_eq!(pacer.try_take(ms(52)), Err(ms(76)));
        let pacer = Pacer::new();
        pacer.on_throttled(t0, t0, Some(Duration::from_secs(30)));
        assert_eq!(pacer.try_take(t0), Err(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn the_pacer_slows_once_per_round_and_recovers_on_success() {
        let pacer = Pacer::new();
        let t0 = Instant::now();
        let t1 = t0 + Duration::from_millis(5);
        // Sixteen requests in flight, all sent before the first slowdown, all throttled: one cut.
        pacer.on_throttled(t0, t1, None);
        for _ in 0..15 {
            pacer.on_throttled(t0, t1 + Duration::from_millis(1), None);
        }
        assert_eq!(pacer.interval(), FIRST_INTERVAL);
        // A request sent after the slowdown and still throttled: slow down further.
        pacer.on_throttled(
            t1 + Duration::from_millis(2),
            t1 + Duration::from_millis(9),
            None,
        );
        assert_eq!(pacer.interval(), FIRST_INTERVAL * 5 / 4);
        let mut last = pacer.interval();
        for _ in 0..10 {
            pacer.on_success();
            assert!(pacer.interval() < last);
            last = pacer.interval();
        }
        for _ in 0..1000 {
            pacer.on_success();
        }
        assert_eq!(pacer.interval(), Duration::ZERO);
    }

    #[test]
    fn the_pacer_never_waits_longer_than_its_cap_between_requests() {
        let pacer = Pacer::new();
        let mut now = Instant::now();
        for _ in 0..100 {
            now += Duration::from_millis(1);
            pacer.on_throttled(now, now, None);
        }
        assert_eq!(pacer.interval(), MAX_INTERVAL);
    }
}

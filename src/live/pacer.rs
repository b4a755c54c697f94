//! How fast the whole client may send: one [`Pacer`] per client, shared by all its requests.
//!
//! Unthrottled it adds nothing. After a 429 every request of the client goes out at a learned
//! interval from a shared "not before" instant, so a large apply slows down instead of failing.
//! Each throttled request also waits its own `Retry-After`, in the request loop.
//!
//! Known weakness (issue: throughput when the API pushes back): random 429s from a busy
//! gateway are read as a rate limit, so at 20% random 429s the interval climbs towards its cap
//! and a 100-create apply takes far longer than the 429s themselves cost.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::lock::lock;

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
mod tests {
    use super::*;

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

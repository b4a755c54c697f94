//! How fast the whole client may send: one [`Pacer`] per client, which slows every request down
//! only when the 429s show a real rate limit.
//!
//! Two kinds of 429 look alike on the wire. A rate limit (a token bucket) refuses more of the
//! requests the faster keyplan sends: slowing down is the cure. A busy gateway refuses a share
//! of the requests whatever the rate: slowing down cures nothing and only stretches the run
//! (measured: 100 creates took 249 s at 20% random 429s when every 429 slowed the client).
//! Each throttled request always waits its own `Retry-After` (in the request loop); the pacer
//! decides whether the *other* requests slow down too.
//!
//! It works in levels. A level is a sending interval and the answers to the requests sent at
//! it. When a level's share of 429s is more than [`MARGIN`] above the share already known to
//! be noise, the client slows down to the rate that got through (at least by a quarter; under
//! a limit that lands near the limit in one step) and a new level starts. Under a rate limit the share
//! of successes grows with every slowdown (the limit lets the same number through out of
//! fewer requests); if after [`PROBE_LEVELS`] slowdowns it has not grown by
//! [`LIMIT_EVIDENCE`], the 429s do not follow the rate: their share becomes the noise floor
//! and the interval goes back to what it was before the slowdowns. Every success shortens the
//! interval by 1% (additive-increase/multiplicative-decrease on the rate, as TCP and the AWS
//! SDKs' adaptive retry mode do), so the rate settles just under a real limit.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::lock::lock;

/// The slowest the pacer goes between two request starts.
const MAX_INTERVAL: Duration = Duration::from_secs(2);
/// Below this the pacer stops spacing requests altogether.
const MIN_INTERVAL: Duration = Duration::from_micros(500);
/// A `Retry-After` at least this long holds every request of the client, not just the one it
/// came with: the server is asking for a real pause, not signalling a momentary overdraft.
const LONG_PAUSE: Duration = Duration::from_secs(5);
/// Answers a level needs before its share of 429s is judged.
const LEVEL_SAMPLES: u32 = 16;
/// How far above the noise floor a level's share of 429s must be to slow down.
const MARGIN: f64 = 0.1;
/// Slowdowns in a row after which the pacer asks whether slowing down helped.
const PROBE_LEVELS: usize = 3;
/// How much the share of successes must have grown over those slowdowns to show a rate limit
/// (a limit makes it grow by 1.25 per slowdown, about 1.95 over three; noise leaves it at 1).
const LIMIT_EVIDENCE: f64 = 1.4;
/// A share of 429s above this is never taken for noise: a server that refuses most requests
/// gets a slower client whatever the reason.
const NOISE_CAP: f64 = 0.6;

/// One client's shared sending schedule.
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
    /// The current level: requests sent from `since` on count towards it.
    level: Level,
    /// The slowdowns in a row not yet shown to help: the interval before the first, and the
    /// share of successes at each level.
    streak: Option<Streak>,
    /// The share of 429s that slowing down was seen not to cure.
    noise: f64,
}

#[derive(Debug, Clone, Copy)]
struct Level {
    since: Instant,
    answers: u32,
    throttled: u32,
}

impl Level {
    fn new(since: Instant) -> Self {
        Level {
            since,
            answers: 0,
            throttled: 0,
        }
    }

    fn throttled_share(&self) -> f64 {
        f64::from(self.throttled) / f64::from(self.answers.max(1))
    }
}

#[derive(Debug)]
struct Streak {
    interval_before: Duration,
    success_shares: Vec<f64>,
}

impl Streak {
    /// The share of 429s the streak's slowdowns did not cure, once they have shown that.
    fn noise(&self) -> Option<f64> {
        let shares = &self.success_shares;
        let (first, last) = (*shares.first()?, *shares.last()?);
        let throttled =
            1.0 - shares.iter().sum::<f64>() / f64::from(u32::try_from(shares.len()).ok()?);
        let cured = last >= first * LIMIT_EVIDENCE;
        (shares.len() > PROBE_LEVELS && first > 0.0 && throttled <= NOISE_CAP && !cured)
            .then_some(throttled)
    }
}

impl Pacer {
    pub(crate) fn new() -> Self {
        let now = Instant::now();
        Pacer {
            state: Mutex::new(PacerState {
                next_slot: now,
                interval: Duration::ZERO,
                level: Level::new(now),
                streak: None,
                noise: 0.0,
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

    /// A request sent at `sent_at` succeeded: speed up a little.
    pub(crate) fn on_success(&self, sent_at: Instant, now: Instant) {
        let mut state = lock(&self.state);
        if !state.interval.is_zero() {
            state.interval = state.interval * 99 / 100;
            if state.interval < MIN_INTERVAL {
                state.interval = Duration::ZERO;
            }
        }
        state.answered(sent_at, false, now);
    }

    /// A request sent at `sent_at` was answered 429 at `now`.
    pub(crate) fn on_throttled(
        &self,
        sent_at: Instant,
        now: Instant,
        retry_after: Option<Duration>,
    ) {
        let mut state = lock(&self.state);
        state.answered(sent_at, true, now);
        if let Some(wait) = retry_after.filter(|wait| *wait >= LONG_PAUSE) {
            state.next_slot = state.next_slot.max(now + wait);
        }
    }

    /// The current spacing between request starts.
    #[cfg(test)]
    fn interval(&self) -> Duration {
        lock(&self.state).interval
    }

    #[cfg(test)]
    fn noise(&self) -> f64 {
        lock(&self.state).noise
    }
}

impl PacerState {
    /// Counts an answer towards the level its request was sent in (answers to requests sent
    /// before the level began say nothing about its rate) and judges the level once it has
    /// enough of them.
    fn answered(&mut self, sent_at: Instant, throttled: bool, now: Instant) {
        if sent_at < self.level.since {
            return;
        }
        self.level.answers += 1;
        self.level.throttled += u32::from(throttled);
        if self.level.answers < LEVEL_SAMPLES {
            return;
        }
        let share = self.level.throttled_share();
        if share <= self.noise + MARGIN {
            // This rate is fine: whatever slowdowns led here helped.
            self.streak = None;
            self.level = Level::new(now);
            return;
        }
        let streak = self.streak.get_or_insert_with(|| Streak {
            interval_before: self.interval,
            success_shares: Vec::new(),
        });
        streak.success_shares.push(1.0 - share);
        if let Some(noise) = streak.noise() {
            // Slowing down did not let more through: noise, not a limit.
            self.noise = self.noise.max(noise);
            self.interval = streak.interval_before;
            self.streak = None;
        } else {
            self.interval = slower(self.interval, &self.level, now, share);
            self.next_slot = self.next_slot.max(now + self.interval);
        }
        self.level = Level::new(now);
    }
}

/// The interval after a level refused `share` of its requests: what got through, spread
/// evenly (under a limit, one step lands at about the limit), and at least a quarter slower.
fn slower(interval: Duration, level: &Level, now: Instant, share: f64) -> Duration {
    // The level's own pace: it may have sent faster than the interval (concurrency-bound).
    let spacing = now.saturating_duration_since(level.since) / level.answers.max(1);
    let base = interval.max(spacing).max(MIN_INTERVAL);
    let through = (1.0 - share).max(base.as_secs_f64() / MAX_INTERVAL.as_secs_f64());
    base.div_f64(through).max(base * 5 / 4).min(MAX_INTERVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// Sends one level of requests from `start`, one every `spacing` (or the pacer's interval
    /// if longer), each answered 20 ms later; `refused(i)` says which ones get a 429. Returns
    /// when the last answer came.
    fn level(
        pacer: &Pacer,
        start: Instant,
        spacing: Duration,
        refused: impl Fn(u32) -> bool,
    ) -> Instant {
        let step = spacing.max(pacer.interval());
        let mut sent = start;
        for i in 0..LEVEL_SAMPLES {
            let answered = sent + 20 * MS;
            if refused(i) {
                pacer.on_throttled(sent, answered, Some(Duration::from_secs(1)));
            } else {
                pacer.on_success(sent, answered);
            }
            sent += step;
        }
        sent + 20 * MS
    }

    #[test]
    fn the_pacer_adds_nothing_until_throttled() {
        let pacer = Pacer::new();
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(pacer.try_take(now), Ok(()));
        }
        level(&pacer, now, MS, |_| false);
        assert_eq!(pacer.interval(), Duration::ZERO);
    }

    #[test]
    fn a_few_429s_slow_only_their_own_request() {
        let pacer = Pacer::new();
        let mut now = Instant::now();
        // One in sixteen (under the margin): nobody else waits.
        for _ in 0..10 {
            now = level(&pacer, now, MS, |i| i == 3);
        }
        assert_eq!(pacer.interval(), Duration::ZERO);
        assert_eq!(pacer.try_take(now), Ok(()));
    }

    #[test]
    #[expect(
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss,
        reason = "a share of 16"
    )]
    fn a_rate_limit_brings_the_client_to_the_limit_and_keeps_it_there() {
        let pacer = Pacer::new();
        let mut now = Instant::now();
        // A limit of 10 requests per second, and a client that could send 800 (16 at once,
        // 20 ms each): the share refused is 1 - (allowed / sent).
        let limit = 10.0;
        for _ in 0..40 {
            let spacing = pacer.interval().max(Duration::from_micros(1250));
            let refused = (1.0 - limit * spacing.as_secs_f64()).max(0.0);
            let refused_count = (refused * f64::from(LEVEL_SAMPLES)).round() as u32;
            now = level(&pacer, now, spacing, |i| i < refused_count);
        }
        let interval = pacer.interval();
        assert!(interval >= 80 * MS, "{interval:?}");
        assert!(interval <= 130 * MS, "{interval:?}");
        assert!(pacer.noise() < 0.5, "{}", pacer.noise());
    }

    #[test]
    fn random_429s_that_slowing_does_not_cure_are_learnt_as_noise() {
        let pacer = Pacer::new();
        let mut now = Instant::now();
        // One in four, whatever the rate.
        for _ in 0..10 {
            now = level(&pacer, now, MS, |i| i % 4 == 0);
        }
        assert!(pacer.noise() >= 0.2, "{}", pacer.noise());
        // Back to full speed, and it stays there.
        assert_eq!(pacer.interval(), Duration::ZERO);
        for _ in 0..20 {
            now = level(&pacer, now, MS, |i| i % 4 == 0);
        }
        assert_eq!(pacer.interval(), Duration::ZERO);
    }

    #[test]
    fn one_slowdown_costs_little_at_a_high_rate() {
        let pacer = Pacer::new();
        let now = Instant::now();
        // Half refused at 800 requests per second: slow down to about 400, not to a crawl.
        level(&pacer, now, Duration::from_micros(1250), |i| i % 2 == 0);
        let interval = pacer.interval();
        assert!(interval > Duration::from_micros(1250), "{interval:?}");
        assert!(interval < 5 * MS, "{interval:?}");
    }

    #[test]
    fn answers_to_requests_sent_before_a_slowdown_do_not_judge_the_new_level() {
        let pacer = Pacer::new();
        let t0 = Instant::now();
        let end = level(&pacer, t0, MS, |_| true);
        let slowed = pacer.interval();
        assert!(slowed > Duration::ZERO);
        // The rest of the first burst, all refused: already counted for, no second slowdown.
        for _ in 0..10 * LEVEL_SAMPLES {
            pacer.on_throttled(t0, end, None);
        }
        assert_eq!(pacer.interval(), slowed);
    }

    #[test]
    fn a_long_retry_after_pauses_everyone_a_short_one_only_its_request() {
        let pacer = Pacer::new();
        let t0 = Instant::now();
        pacer.on_throttled(t0, t0, Some(Duration::from_secs(1)));
        assert_eq!(pacer.try_take(t0), Ok(()));
        pacer.on_throttled(t0, t0, Some(Duration::from_secs(30)));
        assert_eq!(pacer.try_take(t0), Err(t0 + Duration::from_secs(30)));
    }

    #[test]
    fn the_pacer_spaces_requests_at_its_interval() {
        let pacer = Pacer::new();
        let t0 = Instant::now();
        let end = level(&pacer, t0, 10 * MS, |i| i % 2 == 0);
        let interval = pacer.interval();
        assert!(interval >= 12 * MS, "{interval:?}");
        let due = pacer.try_take(end).err().unwrap_or(end);
        assert_eq!(pacer.try_take(due), Ok(()));
        assert_eq!(pacer.try_take(due + MS), Err(due + interval));
    }

    #[test]
    fn the_pacer_never_waits_longer_than_its_cap_between_requests() {
        let pacer = Pacer::new();
        let mut now = Instant::now();
        // A limit far below anything: every request refused at every level.
        for _ in 0..100 {
            now = level(&pacer, now, MS, |_| true);
        }
        assert_eq!(pacer.interval(), MAX_INTERVAL);
    }

    #[test]
    fn successes_bring_the_interval_back_to_zero() {
        let pacer = Pacer::new();
        let mut now = level(&pacer, Instant::now(), MS, |_| true);
        assert!(pacer.interval() > Duration::ZERO);
        for _ in 0..100 {
            now = level(&pacer, now, MS, |_| false);
        }
        assert_eq!(pacer.interval(), Duration::ZERO);
    }
}

//! How fast the whole client may send: one [`Pacer`] per client, shared by all its requests.
//!
//! Unthrottled it adds nothing. A 429 delays the request it answered (its `Retry-After`, in the
//! request loop) and nothing else, unless the 429s show a real rate limit: then every request
//! of the client goes out at a learned interval, so a large apply slows down instead of failing.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::lock::lock;

/// The interval the pacer starts with once it sees a rate limit (50 requests per second).
const FIRST_INTERVAL: Duration = Duration::from_millis(20);
/// The slowest the pacer goes between two request starts.
const MAX_INTERVAL: Duration = Duration::from_secs(2);
/// Below this the pacer stops spacing requests altogether.
const MIN_INTERVAL: Duration = Duration::from_micros(500);
/// A `Retry-After` at least this long holds every request of the client, not just the one it
/// came with: the server is asking for a real pause, not signalling a momentary overdraft.
const LONG_PAUSE: Duration = Duration::from_secs(5);
/// Answers per judgement: the 429 share of this many requests sent at the current pace.
const WINDOW: u32 = 16;
/// A window is "high" when its 429 share exceeds the background share by this much.
const MARGIN: f64 = 0.125;
/// A share this high is a limit at once; below it, two high windows in a row are needed, so
/// that a random cluster of 429s in one window does not slow the run.
const CLEAR_LIMIT: f64 = 0.5;
/// A slowdown helped when the share at the slower pace is below this part of the share before.
const HELPED: f64 = 0.6;
/// A slowdown cost throughput when the goodput at the slower pace is below this part of the
/// goodput before.
const COST: f64 = 0.75;
/// After a window without 429s beyond the background share, the interval shrinks by this
/// factor (in per cent): the pace probes upwards for a limit that was raised or misjudged.
const SPEED_UP: u32 = 90;

/// One client's shared sending schedule.
///
/// Two kinds of 429 look alike on the wire: random ones (a busy gateway; slowing down does not
/// make them rarer) and a rate limit (a token bucket; sending slower makes them stop). The
/// pacer tells them apart by experiment. It judges the 429 share of every [`WINDOW`] answers
/// to requests sent at the current pace; answers to requests sent before the last change of
/// pace (resends included) say nothing about it and are not counted. When the share stands
/// clearly above the background share of 429s, it slows down (the first time to
/// [`FIRST_INTERVAL`], then by a quarter) and judges the next window at the slower pace: if the
/// share fell, it was a limit and the pace stays; if not, the 429s are noise, the slowdown is
/// undone and their share becomes the background share that later windows are measured
/// against. Every success at the current pace shortens the interval by 1%, so the pace
/// settles just under a limit (additive-increase/multiplicative-decrease, as TCP does).
#[derive(Debug)]
pub(crate) struct Pacer {
    state: Mutex<PacerState>,
}

/// Which pace a request was sent at: only answers at the current one are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    level: u64,
}

#[derive(Debug)]
struct PacerState {
    /// The earliest start of the next request.
    next_slot: Instant,
    /// The spacing between request starts; zero when unpaced.
    interval: Duration,
    /// Bumped at every change of pace other than the gradual speed-up.
    level: u64,
    /// Answers to requests sent at the current level.
    ok: u32,
    throttled: u32,
    /// The share of the previous window at this level, when it was high.
    high_before: Option<f64>,
    /// The 429 share that slowing down did not remove.
    background: f64,
    /// When the current window began (the last judgement or change of pace).
    window_start: Instant,
    /// A slowdown being judged.
    trial: Option<Trial>,
}

/// What the pace was like before a slowdown.
#[derive(Debug, Clone, Copy)]
struct Trial {
    interval: Duration,
    share: f64,
    /// Successes per second.
    goodput: f64,
}

impl Pacer {
    pub(crate) fn new() -> Self {
        Pacer {
            state: Mutex::new(PacerState {
                next_slot: Instant::now(),
                interval: Duration::ZERO,
                level: 0,
                ok: 0,
                throttled: 0,
                high_before: None,
                background: 0.0,
                window_start: Instant::now(),
                trial: None,
            }),
        }
    }

    /// Takes the sending slot if it is due (`Ok`, with the pace it was sent at), or says when
    /// to ask again (`Err`).
    ///
    /// Slots are not booked ahead: a request that waits asks again when the slot is due, so a
    /// slowdown applies at once to every waiting request, not only to those that come later.
    pub(crate) fn try_take(&self, now: Instant) -> Result<Ticket, Instant> {
        let mut state = lock(&self.state);
        if now < state.next_slot {
            return Err(state.next_slot);
        }
        state.next_slot = now.max(state.next_slot) + state.interval;
        Ok(Ticket { level: state.level })
    }

    /// A request sent with `ticket` succeeded.
    pub(crate) fn on_success(&self, ticket: Ticket) {
        let mut state = lock(&self.state);
        if ticket.level != state.level {
            return;
        }
        state.ok += 1;
        state.judge(Instant::now());
    }

    /// A request sent with `ticket` was answered 429 at `now`.
    pub(crate) fn on_throttled(&self, ticket: Ticket, now: Instant, retry_after: Option<Duration>) {
        let mut state = lock(&self.state);
        if let Some(wait) = retry_after.filter(|wait| *wait >= LONG_PAUSE) {
            state.next_slot = state.next_slot.max(now + wait);
        }
        if ticket.level != state.level {
            return;
        }
        state.throttled += 1;
        state.judge(now);
    }

    /// The current spacing between request starts.
    #[cfg(test)]
    fn interval(&self) -> Duration {
        lock(&self.state).interval
    }

    /// The 429 share the pacer has learned to ignore.
    #[cfg(test)]
    fn background(&self) -> f64 {
        lock(&self.state).background
    }
}

impl PacerState {
    /// Judges a full window: slow down, keep or undo a slowdown, or carry on.
    fn judge(&mut self, now: Instant) {
        let answered = self.ok + self.throttled;
        if answered < WINDOW {
            return;
        }
        let span = now
            .saturating_duration_since(self.window_start)
            .as_secs_f64();
        let window = Trial {
            interval: self.interval,
            share: f64::from(self.throttled) / f64::from(answered),
            goodput: f64::from(self.ok) / span.max(1e-6),
        };
        (self.ok, self.throttled, self.window_start) = (0, 0, now);
        if let Some(before) = self.trial.take() {
            // Slower sending neither made the 429s rarer nor kept the goodput: they are noise
            // (a rate limit keeps the goodput at the limit however slowly one sends above it).
            if window.share >= before.share * HELPED && window.goodput < before.goodput * COST {
                self.background = window.share;
                self.interval = before.interval;
                self.next_level(now);
            }
            return;
        }
        // Once paced (a limit was found), any 429 beyond the background share means the pace
        // is over the limit: each costs its request a whole-second `Retry-After`.
        let margin = if self.interval.is_zero() { MARGIN } else { 0.0 };
        if window.share <= self.background + margin {
            self.high_before = None;
            if window.share <= self.background && !self.interval.is_zero() {
                self.interval = self.interval * SPEED_UP / 100;
                if self.interval < MIN_INTERVAL {
                    self.interval = Duration::ZERO;
                }
            }
            return;
        }
        match self.high_before {
            Some(previous) => self.slow_down(
                Trial {
                    share: f64::midpoint(previous, window.share),
                    ..window
                },
                now,
            ),
            // Already paced (a limit was found) or clearly limited: at once.
            None if window.share >= CLEAR_LIMIT || !self.interval.is_zero() => {
                self.slow_down(window, now);
            }
            None => self.high_before = Some(window.share),
        }
    }

    fn slow_down(&mut self, before: Trial, now: Instant) {
        self.trial = Some(before);
        self.interval = if self.interval.is_zero() {
            FIRST_INTERVAL
        } else {
            (self.interval * 5 / 4).min(MAX_INTERVAL)
        };
        self.next_level(now);
    }

    fn next_level(&mut self, now: Instant) {
        self.level += 1;
        self.high_before = None;
        (self.ok, self.throttled, self.window_start) = (0, 0, now);
    }
}

#[cfg(test)]
#[path = "pacer_tests.rs"]
mod tests;

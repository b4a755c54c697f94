//! The pacer's decisions, on a paused tokio clock: unit steps, then simulated runs of many
//! concurrent requests against random 429s and against a token bucket.

use std::sync::Arc;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;

/// Feeds one window of answers sent with `ticket`, over `ms` milliseconds: `throttled` 429s,
/// the rest successes.
async fn window(pacer: &Pacer, ticket: Ticket, throttled: u32, ms: u64) {
    tokio::time::advance(Duration::from_millis(ms)).await;
    let now = Instant::now();
    for i in 0..WINDOW {
        if i < throttled {
            pacer.on_throttled(ticket, now, Some(Duration::from_secs(1)));
        } else {
            pacer.on_success(ticket);
        }
    }
}

/// The next sending slot, waiting for it on the paused clock.
async fn ticket(pacer: &Pacer) -> Ticket {
    loop {
        match pacer.try_take(Instant::now()) {
            Ok(ticket) => return ticket,
            Err(due) => tokio::time::sleep_until(due).await,
        }
    }
}

#[tokio::test(start_paused = true)]
async fn the_pacer_adds_nothing_until_the_429s_stand_out() {
    let pacer = Pacer::new();
    let now = Instant::now();
    for _ in 0..100 {
        assert!(pacer.try_take(now).is_ok());
    }
    // Two 429s in a window, window after window: below the margin, nothing slows.
    for _ in 0..10 {
        window(&pacer, ticket(&pacer).await, 2, 20).await;
    }
    assert_eq!(pacer.interval(), Duration::ZERO);
    // One window with many 429s among normal ones is not enough either.
    window(&pacer, ticket(&pacer).await, 5, 20).await;
    window(&pacer, ticket(&pacer).await, 1, 20).await;
    assert_eq!(pacer.interval(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_slowdown_that_does_not_make_429s_rarer_is_undone_and_their_share_learned() {
    let pacer = Pacer::new();
    window(&pacer, ticket(&pacer).await, 4, 20).await;
    window(&pacer, ticket(&pacer).await, 4, 20).await;
    assert_eq!(
        pacer.interval(),
        FIRST_INTERVAL,
        "two high windows: a trial"
    );
    let slowed = ticket(&pacer).await;
    // Answers to requests sent before the slowdown (resends included) are not judged.
    let t0 = Instant::now();
    for _ in 0..100 {
        pacer.on_throttled(Ticket { level: 0 }, t0, Some(Duration::from_secs(1)));
    }
    assert_eq!(pacer.interval(), FIRST_INTERVAL);
    window(&pacer, slowed, 3, 320).await;
    assert_eq!(pacer.interval(), Duration::ZERO, "the 429s did not go away");
    assert!((pacer.background() - 3.0 / 16.0).abs() < 1e-9);
    // The same share again is background now.
    for _ in 0..10 {
        window(&pacer, ticket(&pacer).await, 4, 20).await;
    }
    assert_eq!(pacer.interval(), Duration::ZERO);
    // Only what stands out above it counts.
    window(&pacer, ticket(&pacer).await, 12, 20).await;
    assert_eq!(pacer.interval(), FIRST_INTERVAL);
}

#[tokio::test(start_paused = true)]
async fn a_slowdown_that_helps_stays_and_the_pace_recovers_on_success() {
    let pacer = Pacer::new();
    window(&pacer, ticket(&pacer).await, 12, 20).await;
    assert_eq!(pacer.interval(), FIRST_INTERVAL, "a clear limit: at once");
    // The slot after the slowdown waits one interval.
    let slowed = ticket(&pacer).await;
    assert_eq!(
        pacer.try_take(Instant::now()),
        Err(Instant::now() + FIRST_INTERVAL)
    );
    window(&pacer, slowed, 1, 20).await;
    let kept = pacer.interval();
    assert!(kept > FIRST_INTERVAL * 8 / 10, "kept: {kept:?}");
    // Still too fast: the next slowdown is a quarter.
    let again = ticket(&pacer).await;
    window(&pacer, again, 9, 20).await;
    assert!(pacer.interval() > kept * 11 / 10, "{:?}", pacer.interval());
    for _ in 0..1000 {
        pacer.on_success(ticket(&pacer).await);
    }
    assert_eq!(pacer.interval(), Duration::ZERO);
}

#[tokio::test(start_paused = true)]
async fn a_long_retry_after_holds_every_request() {
    let pacer = Pacer::new();
    let t0 = Instant::now();
    let sent = ticket(&pacer).await;
    pacer.on_throttled(sent, t0, Some(Duration::from_secs(30)));
    assert_eq!(pacer.try_take(t0), Err(t0 + Duration::from_secs(30)));
    pacer.on_throttled(sent, t0, Some(Duration::from_secs(1)));
    assert_eq!(pacer.try_take(t0), Err(t0 + Duration::from_secs(30)));
}

#[tokio::test(start_paused = true)]
async fn the_interval_never_exceeds_its_cap() {
    let pacer = Pacer::new();
    for _ in 0..100 {
        window(&pacer, ticket(&pacer).await, WINDOW, 20).await;
    }
    assert_eq!(pacer.interval(), MAX_INTERVAL);
}

/// How the simulated server answers one request sent at `now`.
trait Server: Send {
    /// `None`: success; `Some(wait)`: 429 with this `Retry-After`.
    fn answer(&mut self, now: Instant) -> Option<Duration>;
}

struct Random(StdRng, f64);

impl Server for Random {
    fn answer(&mut self, _now: Instant) -> Option<Duration> {
        self.0.random_bool(self.1).then_some(Duration::from_secs(1))
    }
}

/// A token bucket that answers whole-second `Retry-After`s, as the emulator's does.
struct Bucket {
    per_second: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Server for Bucket {
    fn answer(&mut self, now: Instant) -> Option<Duration> {
        let elapsed = (now - self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.burst);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return None;
        }
        Some(Duration::from_secs(1))
    }
}

/// What a simulated run did.
#[derive(Debug)]
struct Run {
    took: Duration,
    throttled: u32,
    /// Successes per second after the first second (a bucket's burst is spent by then).
    steady: f64,
}

/// `requests` requests, `concurrency` at a time, 20 ms each, every 429 resent after its
/// `Retry-After`; `pace: false` never tells the pacer, the floor it is compared against.
async fn simulate(server: impl Server + 'static, requests: u32, pace: bool) -> Run {
    let pacer = Arc::new(Pacer::new());
    let server = Arc::new(std::sync::Mutex::new(server));
    let queue = Arc::new(std::sync::atomic::AtomicU32::new(requests));
    let throttled = Arc::new(std::sync::atomic::AtomicU32::new(0));
    let done_at = Arc::new(std::sync::Mutex::new(Vec::new()));
    let started = Instant::now();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..16 {
        let (pacer, server, queue) = (pacer.clone(), server.clone(), queue.clone());
        let (throttled, done_at) = (throttled.clone(), done_at.clone());
        workers.spawn(async move {
            use std::sync::atomic::Ordering::Relaxed;
            while queue
                .fetch_update(Relaxed, Relaxed, |n| n.checked_sub(1))
                .is_ok()
            {
                loop {
                    let ticket = loop {
                        match pacer.try_take(Instant::now()) {
                            Ok(ticket) => break ticket,
                            Err(due) => tokio::time::sleep_until(due).await,
                        }
                    };
                    let answer = lock(&server).answer(Instant::now());
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    match answer {
                        None => {
                            if pace {
                                pacer.on_success(ticket);
                            }
                            lock(&done_at).push(Instant::now());
                            break;
                        }
                        Some(wait) => {
                            throttled.fetch_add(1, Relaxed);
                            if pace {
                                pacer.on_throttled(ticket, Instant::now(), Some(wait));
                            }
                            tokio::time::sleep(wait).await;
                        }
                    }
                }
            }
        });
    }
    while workers.join_next().await.is_some() {}
    let took = started.elapsed();
    let done_at = lock(&done_at);
    let late = done_at
        .iter()
        .filter(|at| **at - started >= Duration::from_secs(1))
        .fold(0_u32, |n, _| n + 1);
    Run {
        took,
        throttled: throttled.load(std::sync::atomic::Ordering::Relaxed),
        steady: f64::from(late) / (took.as_secs_f64() - 1.0).max(1e-9),
    }
}

#[tokio::test(start_paused = true)]
async fn random_429s_cost_about_what_their_retry_after_costs() {
    for (share, seed) in [(0.05, 5), (0.2, 20), (0.3, 30)] {
        let rng = || Random(StdRng::seed_from_u64(seed), share);
        let floor = simulate(rng(), 400, false).await;
        let paced = simulate(rng(), 400, true).await;
        assert!(
            paced.took.as_secs_f64() <= floor.took.as_secs_f64() * 1.25,
            "{share}: {paced:?} against {floor:?}"
        );
    }
}

#[tokio::test(start_paused = true)]
async fn under_a_token_bucket_the_pace_settles_near_the_limit() {
    let bucket = Bucket {
        per_second: 40.0,
        burst: 10.0,
        tokens: 10.0,
        at: Instant::now(),
    };
    let run = simulate(bucket, 400, true).await;
    assert!(
        run.steady >= 40.0 * 0.85 && run.steady <= 40.0 * 1.02,
        "{run:?}"
    );
    assert!(run.throttled < 80, "{run:?}");
}

//! The injected latency, to the tenth of a millisecond. Tokio's timer counts whole
//! milliseconds and rounds every deadline up, so a 20 ms `tokio::time::sleep` lasts 20 to 22 ms
//! (about 1.5 ms over on average, measured in docs/performance.md): a benchmark that compares
//! a client against "round trips × latency" would charge that excess to the client. The long
//! part of the wait stays on the timer; the last stretch sleeps on a blocking thread, whose
//! `nanosleep` overshoots by tens of microseconds.

use std::time::{Duration, Instant};

/// What the timer may overshoot by: the wait hands over to a thread this long before the end.
const TIMER_SLACK: Duration = Duration::from_millis(3);

/// Waits `latency`, counted from the call, without the timer's rounding.
pub(crate) async fn wait(latency: Duration) {
    let deadline = Instant::now() + latency;
    if let Some(coarse) = latency.checked_sub(TIMER_SLACK) {
        tokio::time::sleep(coarse).await;
    }
    let rest = deadline.saturating_duration_since(Instant::now());
    if rest.is_zero() {
        return;
    }
    // A failed join means the runtime is shutting down: the request is going away anyway.
    let _ = tokio::task::spawn_blocking(move || std::thread::sleep(rest)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Never shorter than asked, whether or not the timer takes part. (How much longer is a
    /// figure, not a test: the benchmark's per-request overhead prints it.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 1)]
    async fn the_wait_lasts_at_least_the_latency() {
        for latency in [
            Duration::from_micros(500),
            TIMER_SLACK,
            Duration::from_millis(7),
        ] {
            let started = Instant::now();
            wait(latency).await;
            let took = started.elapsed();
            assert!(took >= latency, "{took:?} is shorter than {latency:?}");
        }
    }
}

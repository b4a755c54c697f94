//! What the client tells whoever drives it while it waits, so that a progress display can say
//! why nothing moves, and the one `tracing` event per HTTP attempt that `-v` shows. The client
//! only reports; it never draws anything itself.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use super::attempt::{Attempt, Call};

/// Why the client holds a request back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// The API answered 429: the request waits its `Retry-After` (or a backoff), or the client
    /// paces all its requests for a while.
    RateLimited,
    /// The request failed in a way worth another attempt (5xx, a broken connection).
    Retrying,
}

/// Told when a request starts and stops waiting. Waits overlap when many requests run at once:
/// every [`waiting`](ClientObserver::waiting) is followed by exactly one
/// [`resumed`](ClientObserver::resumed) for the same wait, even if the request is cancelled.
pub trait ClientObserver: Send + Sync + fmt::Debug {
    fn waiting(&self, why: Wait, delay: Duration);
    fn resumed(&self, why: Wait);
}

/// Logs one HTTP attempt at debug level (target `keyplan::http`): method, path, status (or
/// what became of it), elapsed time, the server's request id, and which attempt this was.
/// Never the query, the headers (the bearer token) or a body (a new key's secret, the client
/// secret): only what is named here.
pub(super) fn log_attempt(call: &Call<'_>, attempt: &Attempt, elapsed: Duration, number: u32) {
    if !tracing::enabled!(target: "keyplan::http", tracing::Level::DEBUG) {
        return;
    }
    let (status, request_id) = match attempt {
        Attempt::Reply(reply) => (
            reply.status.to_string(),
            crate::live::wire::request_id(&reply.headers),
        ),
        Attempt::TooLarge(status) => (format!("{status} (body too large)"), None),
        Attempt::NotSent(_) => ("not sent".to_owned(), None),
        Attempt::MaybeSent(_) => ("no answer".to_owned(), None),
    };
    tracing::debug!(
        target: "keyplan::http",
        method = %call.method,
        path = call.url.path(),
        status = %status,
        elapsed_ms = elapsed.as_millis(),
        request_id = request_id.as_deref().unwrap_or("-"),
        attempt = number,
        "request"
    );
}

/// Waits shorter than this are not reported: the pacer's spacing of requests (milliseconds)
/// is no news to anyone.
pub(super) const REPORTED_WAIT: Duration = Duration::from_millis(500);

/// Sleeps `delay`, telling `observer` (if any) when the wait starts and ends.
pub(super) async fn sleep_observed(
    observer: Option<&Arc<dyn ClientObserver>>,
    why: Wait,
    delay: Duration,
) {
    let _told = observer
        .filter(|_| delay >= REPORTED_WAIT)
        .map(|observer| Told::new(observer, why, delay));
    tokio::time::sleep(delay).await;
}

/// Reports the end of a wait when dropped, so a cancelled request ends its wait too.
struct Told<'a> {
    observer: &'a Arc<dyn ClientObserver>,
    why: Wait,
}

impl<'a> Told<'a> {
    fn new(observer: &'a Arc<dyn ClientObserver>, why: Wait, delay: Duration) -> Self {
        observer.waiting(why, delay);
        Told { observer, why }
    }
}

impl Drop for Told<'_> {
    fn drop(&mut self) {
        self.observer.resumed(self.why);
    }
}

#[cfg(test)]
#[expect(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Record(Mutex<Vec<String>>);

    impl ClientObserver for Record {
        fn waiting(&self, why: Wait, delay: Duration) {
            self.0.lock().unwrap().push(format!("{why:?} {delay:?}"));
        }
        fn resumed(&self, why: Wait) {
            self.0.lock().unwrap().push(format!("{why:?} over"));
        }
    }

    #[tokio::test(start_paused = true)]
    async fn long_waits_are_reported_start_and_end_even_when_cancelled() {
        let record = Arc::new(Record::default());
        let observer: Arc<dyn ClientObserver> = record.clone();
        sleep_observed(Some(&observer), Wait::Retrying, Duration::from_millis(100)).await;
        sleep_observed(Some(&observer), Wait::RateLimited, Duration::from_secs(2)).await;
        // A request given up half-way through its wait still ends the wait.
        let cancelled = tokio::time::timeout(
            Duration::from_secs(1),
            sleep_observed(Some(&observer), Wait::RateLimited, Duration::from_secs(30)),
        )
        .await;
        assert!(cancelled.is_err());
        sleep_observed(None, Wait::RateLimited, Duration::from_secs(2)).await;
        assert_eq!(
            *record.0.lock().unwrap(),
            [
                "RateLimited 2s",
                "RateLimited over",
                "RateLimited 30s",
                "RateLimited over"
            ]
        );
    }
}

//! Which fault a request gets: scripted faults first, then the rate limit, then the seeded
//! random faults. Deciding only; [`super::layer`] applies what is decided here.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::config::{Fault, Faults, RateLimit, Route};

/// Decides the fault of each request.
#[derive(Debug)]
pub(crate) struct FaultEngine {
    faults: Faults,
    rng: StdRng,
    scripted: VecDeque<(Route, Fault)>,
    bucket: Option<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    refilled: Instant,
}

impl Bucket {
    fn new(limit: RateLimit) -> Self {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            refilled: Instant::now(),
        }
    }

    /// Takes a token, or says how many whole seconds until one is there.
    fn take(&mut self) -> Option<u64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.refilled).as_secs_f64();
        self.refilled = now;
        let capacity = f64::from(self.limit.burst.max(1));
        self.tokens = (self.tokens + elapsed * self.limit.per_second).min(capacity);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            return None;
        }
        let per_second = self.limit.per_second.max(f64::MIN_POSITIVE);
        let wait = ((1.0 - self.tokens) / per_second).ceil();
        #[expect(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "wait is positive and clamped to an hour"
        )]
        let wait = wait.clamp(1.0, 3600.0) as u64;
        Some(wait)
    }
}

impl FaultEngine {
    pub fn new(faults: Faults) -> Self {
        FaultEngine {
            rng: StdRng::seed_from_u64(faults.seed),
            bucket: faults.rate_limit.map(Bucket::new),
            faults,
            scripted: VecDeque::new(),
        }
    }

    /// Replaces the random faults (re-seeding the RNG, refilling the bucket); scripted faults
    /// still queued stay.
    pub fn set(&mut self, faults: Faults) {
        let scripted = std::mem::take(&mut self.scripted);
        *self = FaultEngine::new(faults);
        self.scripted = scripted;
    }

    pub fn push(&mut self, route: Route, faults: impl IntoIterator<Item = Fault>) {
        self.scripted
            .extend(faults.into_iter().map(|fault| (route, fault)));
    }

    pub fn latency(&self) -> Duration {
        self.faults.latency
    }

    /// The fault for the next request to `route`, if any.
    pub fn decide(&mut self, route: Route) -> Option<Fault> {
        if let Some(at) = self.scripted.iter().position(|(r, _)| r.matches(route)) {
            return self.scripted.remove(at).map(|(_, fault)| fault);
        }
        if !route.is_admin() {
            return None;
        }
        if let Some(wait) = self.bucket.as_mut().and_then(Bucket::take) {
            return Some(Fault::Throttle {
                retry_after_secs: wait,
            });
        }
        // Always the same number of draws per request, so one knob's value does not shift
        // which requests another knob hits.
        let draws: [f64; 5] = std::array::from_fn(|_| self.rng.random::<f64>());
        let f = &self.faults;
        if draws[0] < f.error_rate {
            const STATUSES: [u16; 4] = [500, 502, 503, 504];
            #[expect(
                clippy::cast_possible_truncation,
                clippy::cast_sign_loss,
                reason = "draw is in [0, 1)"
            )]
            let pick = (draws[4] * 4.0) as usize;
            return Some(Fault::Status(STATUSES[pick.min(3)]));
        }
        if draws[1] < f.throttle_rate {
            return Some(Fault::Throttle {
                retry_after_secs: 1,
            });
        }
        if draws[2] < f.drop_rate {
            return Some(Fault::Drop);
        }
        if route == Route::CreateKey && draws[3] < f.lose_create_response_rate {
            return Some(Fault::LoseResponse);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(seed: u64) -> Faults {
        Faults {
            seed,
            error_rate: 0.3,
            throttle_rate: 0.2,
            drop_rate: 0.1,
            lose_create_response_rate: 0.5,
            ..Faults::default()
        }
    }

    #[test]
    fn random_faults_are_deterministic_per_seed() {
        let run = |seed| {
            let mut engine = FaultEngine::new(random(seed));
            (0..200)
                .map(|_| engine.decide(Route::CreateKey))
                .collect::<Vec<_>>()
        };
        assert_eq!(run(7), run(7));
        assert_ne!(run(7), run(8));
        let faults = run(7);
        let clean = faults.iter().filter(|f| f.is_none()).count();
        assert!((20..120).contains(&clean), "{clean} clean of 200");
        assert!(faults.contains(&Some(Fault::LoseResponse)));
        assert!(faults.contains(&Some(Fault::Drop)));
    }

    #[test]
    fn the_token_route_gets_no_random_faults_and_scripted_ones_come_first() {
        let mut engine = FaultEngine::new(Faults {
            error_rate: 1.0,
            ..Faults::default()
        });
        assert_eq!(engine.decide(Route::Token), None);
        engine.push(Route::ListKeys, [Fault::EmptyOk, Fault::Drop]);
        engine.push(Route::Any, [Fault::Html(502)]);
        assert_eq!(engine.decide(Route::Token), Some(Fault::Html(502)));
        assert_eq!(engine.decide(Route::ListKeys), Some(Fault::EmptyOk));
        assert_eq!(engine.decide(Route::ListKeys), Some(Fault::Drop));
        assert!(matches!(
            engine.decide(Route::ListKeys),
            Some(Fault::Status(500..=504))
        ));
    }

    #[test]
    fn the_bucket_throttles_past_its_burst() {
        let mut engine = FaultEngine::new(Faults {
            rate_limit: Some(RateLimit {
                per_second: 0.5,
                burst: 3,
            }),
            ..Faults::default()
        });
        for _ in 0..3 {
            assert_eq!(engine.decide(Route::ListProjects), None);
        }
        assert_eq!(
            engine.decide(Route::ListProjects),
            Some(Fault::Throttle {
                retry_after_secs: 2
            })
        );
    }
}

//! Per-token request rate limiting, at the API door only.
//!
//! Each user token gets `max_requests_per_second_per_token` requests a
//! second, with as many at once (GCRA, by `governor`); past it the answer is
//! Apify's `429 rate-limit-exceeded` with `Retry-After`, which the Apify
//! clients honour by backing off. Exempt: run tokens (a run's own storage
//! calls must never be throttled into a failed crawl or migration; runs are
//! bounded by quotas instead), the admin (the operator of the server), and
//! anonymous reads of shared resources (no token to count them by).

use std::num::NonZeroU32;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};

use super::error::ApiError;
use crate::platform::access::Caller;

/// Checks between two sweeps of tokens idle long enough to be full again.
const SWEEP_EVERY: u64 = 4096;

/// One budget per token ID.
pub struct TokenRate {
    limiter: DefaultKeyedRateLimiter<String>,
    clock: DefaultClock,
    per_second: NonZeroU32,
    checks: AtomicU64,
}

impl TokenRate {
    /// `None` when `per_second` is 0 (no limit).
    pub fn new(per_second: u32) -> Option<Arc<TokenRate>> {
        let per_second = NonZeroU32::new(per_second)?;
        let quota = Quota::per_second(per_second).allow_burst(per_second);
        Some(Arc::new(TokenRate {
            limiter: DefaultKeyedRateLimiter::keyed(quota),
            clock: DefaultClock::default(),
            per_second,
            checks: AtomicU64::new(0),
        }))
    }

    /// Counts one request of `token_id`; `Err` holds how long until the next one is allowed.
    pub fn check(&self, token_id: &str) -> Result<(), Duration> {
        if self.checks.fetch_add(1, Ordering::Relaxed) % SWEEP_EVERY == SWEEP_EVERY - 1 {
            // Revoked and idle tokens would otherwise keep their entry for ever.
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&token_id.to_owned()).map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }
}

/// The middleware (after the token check, which names the caller).
pub async fn limit_token_rate(State(rate): State<Arc<TokenRate>>, req: Request, next: Next) -> Response {
    let counted = match req.extensions().get::<Caller>() {
        Some(Caller::User(p)) if !p.user.is_admin => p.token.as_ref().map(|t| t.id.as_str()),
        _ => None,
    };
    if let Some(token_id) = counted {
        if let Err(wait) = rate.check(token_id) {
            return too_many(rate.per_second, wait);
        }
    }
    next.run(req).await
}

fn too_many(per_second: NonZeroU32, wait: Duration) -> Response {
    // Whole seconds, rounded up: a client that waits that long is let in.
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let secs = secs.max(1);
    let mut resp = ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate-limit-exceeded",
        format!("You have exceeded the rate limit of {per_second} requests per second for this token; retry after {secs} s"),
    )
    .into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_gets_its_burst_then_waits_and_others_are_not_affected() {
        let rate = TokenRate::new(5).unwrap();
        for _ in 0..5 {
            rate.check("a").unwrap();
        }
        let wait = rate.check("a").unwrap_err();
        assert!(wait > Duration::ZERO && wait <= Duration::from_millis(200), "{wait:?}");
        rate.check("b").unwrap();
        assert!(TokenRate::new(0).is_none(), "0 is no limit");
    }
}

//! Link health policy: heartbeat, reconnect backoff, and the circuit breaker.
//!
//! Each piece is a small state machine fed with `now: Instant` and seeded
//! randomness, so a test moves time with one call and replays the same jitter.
//! [`heartbeat`] decides when to Ping an idle link and when it is dead;
//! [`backoff`] and [`breaker`] decide when to try again; [`reconnect`] joins
//! those two into the one policy a supervisor asks after each failure
//! (invariant 8).

pub(crate) mod backoff;
pub(crate) mod breaker;
pub(crate) mod heartbeat;
pub(crate) mod reconnect;

use std::time::{Duration, Instant};

/// `now + d`, or the latest instant the platform can represent past `now`.
///
/// Durations come from configuration, so an absurd one (years) must not
/// panic: it is halved until it fits, which is "never" for any caller.
pub(crate) fn instant_after(now: Instant, d: Duration) -> Instant {
    let mut d = d;
    loop {
        if let Some(t) = now.checked_add(d) {
            return t;
        }
        // Each halving shrinks `d`; at most ~100 rounds reach zero, which fits.
        d /= 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instant_after_adds_and_never_panics() {
        let now = Instant::now();
        assert_eq!(
            instant_after(now, Duration::from_secs(3)),
            now + Duration::from_secs(3)
        );
        assert_eq!(instant_after(now, Duration::ZERO), now);
        let far = instant_after(now, Duration::MAX);
        assert!(far > now + Duration::from_secs(86_400 * 365));
    }
}

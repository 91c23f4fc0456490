//! The caller's monotonic seconds, mapped to the core's `Instant`s.
//!
//! Python code passes `now` as a float of seconds from its monotonic clock
//! (`time.monotonic()`, or `loop.time()` in asyncio, which is the same
//! clock), and gets deadlines back in the same unit. The binding fixes one
//! `Instant` (read once, the first time it is needed) to stand for second 0
//! of that clock; every `now` becomes that origin plus `now` seconds. Only
//! differences matter, so any monotonic clock works, as long as every call
//! into one object uses the same one; the wall clock (`time.time()`) does
//! not, since it can jump.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// Times beyond this many seconds from the origin are clamped: far past any
/// deadline the core keeps, and small enough for `Instant` on every platform.
const MAX_SECS: f64 = 100.0 * 365.0 * 24.0 * 3600.0;

/// Deadlines are handed back this much late, so that a caller who wakes at
/// the float it got (rounded to the nearest double) is never early.
const ROUND_UP: f64 = 1e-6;

fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// The `Instant` of the caller's `secs`. Negative times and NaN count as
/// the origin, huge ones as [`MAX_SECS`]: no float can panic here.
pub(crate) fn instant(secs: f64) -> Instant {
    let secs = if secs.is_nan() {
        0.0
    } else {
        secs.clamp(0.0, MAX_SECS)
    };
    origin() + Duration::from_secs_f64(secs)
}

/// The caller's seconds of `at`, rounded up by a microsecond.
pub(crate) fn secs(at: Instant) -> f64 {
    at.saturating_duration_since(origin()).as_secs_f64() + ROUND_UP
}

/// Seconds as a `Duration`, for timeouts: negative and NaN are zero,
/// infinity and anything huge saturate.
pub(crate) fn duration(secs: f64) -> Duration {
    if secs.is_nan() || secs <= 0.0 {
        return Duration::ZERO;
    }
    Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seconds_round_trip_and_deadlines_are_never_early() {
        let t = instant(1_234.5);
        assert_eq!(t - instant(1_000.0), Duration::from_millis(234_500));
        let back = secs(t);
        assert!((1_234.5..1_234.5 + 1e-5).contains(&back), "{back}");
        assert!(
            instant(back) >= t,
            "waking at the float handed back is not early"
        );
    }

    #[test]
    fn no_float_panics() {
        assert_eq!(instant(f64::NAN), instant(0.0));
        assert_eq!(instant(-5.0), instant(0.0));
        assert!(instant(f64::INFINITY) > instant(1e9));
        assert_eq!(duration(f64::NAN), Duration::ZERO);
        assert_eq!(duration(-1.0), Duration::ZERO);
        assert_eq!(duration(f64::INFINITY), Duration::MAX);
        assert_eq!(duration(0.25), Duration::from_millis(250));
    }
}

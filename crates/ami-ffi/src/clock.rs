//! The caller's monotonic milliseconds, mapped to the core's `Instant`s.
//!
//! A connection fixes a pair (`base`, `base_ms`) when it is created: the
//! caller's `now_ms` at that moment and an `Instant` read once. Every later
//! `now_ms` becomes `base + (now_ms - base_ms)`. Only differences of the
//! caller's clock matter, so it must be monotonic (`CLOCK_MONOTONIC`,
//! `time.monotonic()`, `hrtime`), never the wall clock.

use std::time::{Duration, Instant};

/// Times further than this from the base are clamped: far beyond any
/// deadline the core keeps, and small enough for `Instant` on every platform.
const MAX_SPAN: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// The mapping between one caller's milliseconds and `Instant`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Clock {
    base: Instant,
    base_ms: u64,
}

impl Clock {
    /// A clock whose `now_ms` stands for `base`.
    pub(crate) fn new(base: Instant, now_ms: u64) -> Self {
        Clock {
            base,
            base_ms: now_ms,
        }
    }

    /// The `Instant` of the caller's `now_ms`. Times before the base (a
    /// clock that went backwards) count as the base.
    pub(crate) fn at(&self, now_ms: u64) -> Instant {
        let span = Duration::from_millis(now_ms.saturating_sub(self.base_ms)).min(MAX_SPAN);
        self.base.checked_add(span).unwrap_or(self.base)
    }

    /// The caller's milliseconds of `at`, rounded up, so that calling
    /// `ami_conn_timeout` at that millisecond is never early.
    pub(crate) fn ms(&self, at: Instant) -> u64 {
        let span = at.saturating_duration_since(self.base);
        let whole = u64::try_from(span.as_millis()).unwrap_or(u64::MAX);
        let up = u64::from(!span.subsec_nanos().is_multiple_of(1_000_000));
        self.base_ms.saturating_add(whole).saturating_add(up)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_round_trip_and_round_up() {
        let base = Instant::now();
        let clock = Clock::new(base, 1_000);
        assert_eq!(clock.at(1_000), base);
        assert_eq!(clock.at(1_250), base + Duration::from_millis(250));
        assert_eq!(clock.ms(base + Duration::from_millis(250)), 1_250);
        assert_eq!(clock.ms(base + Duration::from_micros(250_001)), 1_251);
    }

    #[test]
    fn a_clock_going_backwards_or_far_ahead_never_panics() {
        let base = Instant::now();
        let clock = Clock::new(base, 1_000);
        assert_eq!(clock.at(5), base);
        assert!(clock.at(u64::MAX) > base);
        let late = Clock::new(base, u64::MAX - 1);
        assert_eq!(late.ms(base + Duration::from_secs(1)), u64::MAX);
    }
}

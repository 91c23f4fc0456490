//! A circuit breaker that stops reconnect storms against a node that is down.
//!
//! The breaker counts consecutive failures; after `threshold` of them it
//! opens and refuses every attempt for a cooldown, then lets a limited number
//! of probes through (half-open). One success closes it; a failed probe opens
//! it for another cooldown. The cooldown may grow with the outage (the time
//! since the first of the failures), so a breaker that opens after a few
//! seconds of refused connects waits about a second, not half a minute: a
//! fixed 30 s cooldown turned every PBX restart into 30 s of downtime.

use std::time::{Duration, Instant};

use super::backoff::percent_of;
use crate::deadline::instant_after;

/// Where a [`CircuitBreaker`] stands, as seen at a given `now`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum BreakerState {
    /// Attempts are allowed; failures are being counted.
    #[default]
    Closed,
    /// Attempts are refused until `until`; wake then and ask again.
    Open {
        /// The instant from which probes are allowed (half-open).
        until: Instant,
    },
    /// The cooldown is over: a limited number of probe attempts may start.
    HalfOpen,
}

/// The breaker's stored state; `Open` becomes half-open lazily, when asked
/// at or after `until`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Inner {
    Closed,
    Open { until: Instant },
    HalfOpen { in_flight: u32 },
}

/// Closed → open after `threshold` consecutive failures → half-open after
/// the cooldown, with at most `probes` attempts at once → closed on a success.
///
/// Ask [`allow`](Self::allow) before each attempt and report its outcome with
/// [`on_success`](Self::on_success) or [`on_failure`](Self::on_failure).
/// Defaults: open after 5 failures, for 5% of the outage so far (at least
/// 0.8 s, at most 15 s), 1 probe. With the default [`crate::Backoff`] that
/// cooldown is never longer than the backoff's own wait (the lower edge of
/// its jitter band), so the breaker delays nothing the backoff allows; it
/// is the hard floor under a faster custom backoff, and its half-open state
/// lets one probe through at a time.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use ami_proto::{BreakerState, CircuitBreaker};
///
/// let now = Instant::now();
/// let mut breaker = CircuitBreaker::new(2, Duration::from_secs(10), 1);
/// breaker.on_failure(now);
/// breaker.on_failure(now);
/// assert!(!breaker.allow(now));
/// let later = now + Duration::from_secs(10);
/// assert_eq!(breaker.state(later), BreakerState::HalfOpen);
/// assert!(breaker.allow(later)); // the one probe
/// assert!(!breaker.allow(later));
/// breaker.on_success();
/// assert_eq!(breaker.state(later), BreakerState::Closed);
/// ```
#[derive(Clone, Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    cooldown: Duration,
    /// `(percent, max)`: the cooldown grows to `outage * percent / 100`, up
    /// to `max`.
    scale: Option<(u32, Duration)>,
    probes: u32,
    failures: u32,
    /// When the first of the consecutive failures happened.
    first_failure: Option<Instant>,
    inner: Inner,
}

impl CircuitBreaker {
    /// Consecutive failures that open the breaker by default.
    pub const DEFAULT_THRESHOLD: u32 = 5;
    /// The shortest the breaker stays open by default.
    pub const DEFAULT_COOLDOWN: Duration = Duration::from_millis(800);
    /// The default cooldown, in percent of the outage so far.
    pub const DEFAULT_COOLDOWN_PERCENT: u32 = 5;
    /// The longest the breaker stays open by default.
    pub const DEFAULT_MAX_COOLDOWN: Duration = Duration::from_secs(15);
    /// Concurrent half-open probes allowed by default.
    pub const DEFAULT_PROBES: u32 = 1;

    /// Creates a closed breaker with a fixed `cooldown`.
    ///
    /// `threshold` and `probes` of 0 are raised to 1: a breaker that opens
    /// before any failure, or never lets a probe through, would never close.
    pub fn new(threshold: u32, cooldown: Duration, probes: u32) -> Self {
        CircuitBreaker {
            threshold: threshold.max(1),
            cooldown,
            scale: None,
            probes: probes.max(1),
            failures: 0,
            first_failure: None,
            inner: Inner::Closed,
        }
    }

    /// Makes the cooldown grow with the outage: each opening lasts
    /// `outage * percent / 100`, at least the `cooldown` given to
    /// [`new`](Self::new) and at most `max` (`max` wins if lower), the
    /// outage being the time since the first of the consecutive failures.
    pub fn scaled_by_outage(mut self, percent: u32, max: Duration) -> Self {
        self.scale = Some((percent, max));
        self
    }

    /// How long an opening at `now` lasts.
    fn cooldown_at(&self, now: Instant) -> Duration {
        let Some((percent, max)) = self.scale else {
            return self.cooldown;
        };
        let outage = self
            .first_failure
            .map_or(Duration::ZERO, |first| now.saturating_duration_since(first));
        percent_of(outage, percent).max(self.cooldown).min(max)
    }

    /// Whether an attempt may start at `now`.
    ///
    /// Closed: always. Open: never before `until`. Half-open: while fewer than
    /// `probes` probes are in flight, and a `true` counts one as started, so
    /// call this once per attempt and report its outcome.
    pub fn allow(&mut self, now: Instant) -> bool {
        self.refresh(now);
        match &mut self.inner {
            Inner::Closed => true,
            Inner::Open { .. } => false,
            Inner::HalfOpen { in_flight } => {
                if *in_flight < self.probes {
                    *in_flight += 1;
                    true
                } else {
                    false
                }
            }
        }
    }

    /// Reports an attempt that succeeded but has yet to prove it lasts (a
    /// session that logged in): the breaker closes, so attempts are no
    /// longer refused, but it keeps its count of failures, so the next
    /// failure reopens it at once. Call [`on_success`](Self::on_success)
    /// once the success has lasted.
    pub fn on_probe_success(&mut self) {
        self.inner = Inner::Closed;
    }

    /// Reports a successful attempt: the breaker closes and the failure count
    /// starts over.
    pub fn on_success(&mut self) {
        self.failures = 0;
        self.first_failure = None;
        self.inner = Inner::Closed;
    }

    /// Reports a failed attempt at `now`.
    ///
    /// Closed: opens for a cooldown once `threshold` failures are
    /// consecutive. Half-open (a probe failed): opens again for a full
    /// cooldown from `now`. Open: a late failure of an attempt started
    /// before opening does not extend the cooldown.
    pub fn on_failure(&mut self, now: Instant) {
        self.failures = self.failures.saturating_add(1);
        self.first_failure.get_or_insert(now);
        self.refresh(now);
        match self.inner {
            Inner::Closed if self.failures < self.threshold => {}
            Inner::Closed | Inner::HalfOpen { .. } => {
                self.inner = Inner::Open {
                    until: instant_after(now, self.cooldown_at(now)),
                };
            }
            Inner::Open { .. } => {}
        }
    }

    /// The state at `now`; an open breaker reads as half-open once
    /// `now >= until`.
    pub fn state(&self, now: Instant) -> BreakerState {
        match self.inner {
            Inner::Closed => BreakerState::Closed,
            Inner::Open { until } if now < until => BreakerState::Open { until },
            Inner::Open { .. } | Inner::HalfOpen { .. } => BreakerState::HalfOpen,
        }
    }

    /// When an open breaker lets probes through; `None` unless it is open.
    ///
    /// The instant may already have passed if no one asked since (the breaker
    /// turns half-open lazily); a supervisor sleeps until it, then asks
    /// [`allow`](Self::allow).
    pub fn reopen_at(&self) -> Option<Instant> {
        match self.inner {
            Inner::Open { until } => Some(until),
            Inner::Closed | Inner::HalfOpen { .. } => None,
        }
    }

    /// Consecutive failures since the last success (kept while open).
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// Moves an open breaker whose cooldown is over to half-open.
    fn refresh(&mut self, now: Instant) {
        if let Inner::Open { until } = self.inner {
            if now >= until {
                self.inner = Inner::HalfOpen { in_flight: 0 };
            }
        }
    }
}

impl Default for CircuitBreaker {
    /// Open after 5 consecutive failures for 5% of the outage (0.8 s to
    /// 15 s), 1 probe.
    fn default() -> Self {
        CircuitBreaker::new(
            Self::DEFAULT_THRESHOLD,
            Self::DEFAULT_COOLDOWN,
            Self::DEFAULT_PROBES,
        )
        .scaled_by_outage(Self::DEFAULT_COOLDOWN_PERCENT, Self::DEFAULT_MAX_COOLDOWN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    /// The classic breaker the mechanics tests use: a fixed 30 s cooldown.
    fn classic() -> CircuitBreaker {
        CircuitBreaker::new(5, 30 * SEC, 1)
    }

    fn opened(now: Instant) -> CircuitBreaker {
        let mut b = classic();
        for _ in 0..5 {
            assert!(b.allow(now));
            b.on_failure(now);
        }
        b
    }

    #[test]
    fn defaults_are_5_failures_a_cooldown_scaled_by_the_outage_and_1_probe() {
        let b = CircuitBreaker::default();
        assert_eq!((b.threshold, b.cooldown, b.probes), (5, SEC * 8 / 10, 1));
        assert_eq!(b.scale, Some((5, 15 * SEC)));
        assert_eq!(b.state(Instant::now()), BreakerState::Closed);
        assert_eq!(b.reopen_at(), None);
        assert_eq!(b.failures(), 0);
    }

    #[test]
    fn a_scaled_cooldown_grows_with_the_outage_between_its_bounds() {
        let start = Instant::now();
        // (when the 5th failure comes, how long the breaker stays open)
        for (at, open_for) in [
            (SEC, SEC * 8 / 10),
            (100 * SEC, 5 * SEC),
            (200 * SEC, 10 * SEC),
            (1000 * SEC, 15 * SEC),
        ] {
            let mut b = CircuitBreaker::default();
            for _ in 0..4 {
                b.on_failure(start);
            }
            b.on_failure(start + at);
            assert_eq!(b.reopen_at(), Some(start + at + open_for), "at {at:?}");
            // A failed probe reopens for the outage as it is then.
            let probe = start + at + open_for;
            assert!(b.allow(probe));
            b.on_failure(probe);
            let expected = (probe - start) / 20;
            let expected = expected.clamp(SEC * 8 / 10, 15 * SEC);
            assert_eq!(b.reopen_at(), Some(probe + expected), "at {at:?}");
        }
        // A success starts the next outage from zero.
        let mut b = CircuitBreaker::default();
        b.on_failure(start);
        b.on_success();
        for _ in 0..5 {
            b.on_failure(start + 1000 * SEC);
        }
        assert_eq!(b.reopen_at(), Some(start + 1000 * SEC + SEC * 8 / 10));
    }

    #[test]
    fn closed_allows_and_stays_closed_below_threshold() {
        let now = Instant::now();
        let mut b = classic();
        for i in 1..5 {
            assert!(b.allow(now));
            b.on_failure(now);
            assert_eq!(b.failures(), i);
            assert_eq!(b.state(now), BreakerState::Closed);
        }
        assert!(b.allow(now));
    }

    #[test]
    fn success_while_closed_resets_the_count() {
        let now = Instant::now();
        let mut b = classic();
        for _ in 0..4 {
            b.on_failure(now);
        }
        b.on_success();
        assert_eq!(b.failures(), 0);
        for _ in 0..4 {
            b.on_failure(now);
        }
        assert_eq!(
            b.state(now),
            BreakerState::Closed,
            "failures must be consecutive"
        );
    }

    #[test]
    fn opens_at_threshold_for_cooldown() {
        let now = Instant::now();
        let mut b = opened(now);
        let until = now + 30 * SEC;
        assert_eq!(b.state(now), BreakerState::Open { until });
        assert_eq!(b.reopen_at(), Some(until));
        assert!(!b.allow(now));
        assert!(!b.allow(until - Duration::from_nanos(1)));
        assert_eq!(
            b.state(until - Duration::from_nanos(1)),
            BreakerState::Open { until }
        );
    }

    #[test]
    fn half_open_exactly_at_until() {
        let now = Instant::now();
        let mut b = opened(now);
        let until = now + 30 * SEC;
        assert_eq!(b.state(until), BreakerState::HalfOpen);
        assert!(b.allow(until));
        assert_eq!(b.reopen_at(), None);
    }

    #[test]
    fn half_open_limits_concurrent_probes() {
        let now = Instant::now();
        let mut b = opened(now);
        let t = now + 31 * SEC;
        assert!(b.allow(t));
        assert!(!b.allow(t), "one probe at a time by default");
        assert!(
            !b.allow(t + 100 * SEC),
            "still waiting for the probe's outcome"
        );

        let mut three = CircuitBreaker::new(1, SEC, 3);
        three.on_failure(now);
        let t = now + SEC;
        assert_eq!(
            (three.allow(t), three.allow(t), three.allow(t)),
            (true, true, true)
        );
        assert!(!three.allow(t));
    }

    #[test]
    fn probe_success_closes_and_resets() {
        let now = Instant::now();
        let mut b = opened(now);
        let t = now + 30 * SEC;
        assert!(b.allow(t));
        b.on_success();
        assert_eq!(b.state(t), BreakerState::Closed);
        assert_eq!(b.failures(), 0);
        // A full threshold is needed to open again.
        for _ in 0..4 {
            b.on_failure(t);
        }
        assert_eq!(b.state(t), BreakerState::Closed);
        b.on_failure(t);
        assert_eq!(
            b.state(t),
            BreakerState::Open {
                until: t + 30 * SEC
            }
        );
    }

    #[test]
    fn a_probe_success_closes_but_the_next_failure_reopens() {
        let now = Instant::now();
        let mut b = opened(now);
        let t = now + 30 * SEC;
        assert!(b.allow(t));
        b.on_probe_success();
        assert_eq!(b.state(t), BreakerState::Closed);
        assert!(b.allow(t), "closed: attempts are not refused");
        assert_eq!(b.failures(), 5, "the count is kept until success lasts");
        b.on_failure(t + SEC);
        assert_eq!(
            b.state(t + SEC),
            BreakerState::Open {
                until: t + 31 * SEC
            }
        );
    }

    #[test]
    fn probe_failure_reopens_for_a_full_cooldown() {
        let now = Instant::now();
        let mut b = opened(now);
        let t = now + 45 * SEC;
        assert!(b.allow(t));
        b.on_failure(t);
        let until = t + 30 * SEC;
        assert_eq!(b.state(t), BreakerState::Open { until });
        assert!(!b.allow(until - Duration::from_nanos(1)));
        assert!(
            b.allow(until),
            "the next probe is allowed after the new cooldown"
        );
    }

    #[test]
    fn late_failure_while_open_does_not_extend() {
        let now = Instant::now();
        let mut b = opened(now);
        let until = now + 30 * SEC;
        b.on_failure(now + 10 * SEC);
        assert_eq!(b.reopen_at(), Some(until));
        assert_eq!(b.failures(), 6);
    }

    #[test]
    fn failure_after_cooldown_without_probe_reopens() {
        // Asked nothing since opening, then a failure after `until`: the
        // breaker was effectively half-open, so it opens again from now.
        let now = Instant::now();
        let mut b = opened(now);
        let t = now + 40 * SEC;
        b.on_failure(t);
        assert_eq!(
            b.state(t),
            BreakerState::Open {
                until: t + 30 * SEC
            }
        );
    }

    #[test]
    fn zero_threshold_and_probes_are_raised_to_one() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(0, Duration::ZERO, 0);
        assert!(b.allow(now), "closed before any failure");
        b.on_failure(now);
        // A zero cooldown is over at once: half-open with one probe.
        assert_eq!(b.state(now), BreakerState::HalfOpen);
        assert!(b.allow(now));
        assert!(!b.allow(now));
    }

    #[test]
    fn huge_cooldown_does_not_panic() {
        let now = Instant::now();
        let mut b = CircuitBreaker::new(1, Duration::MAX, 1);
        b.on_failure(now);
        assert!(matches!(b.state(now), BreakerState::Open { until } if until > now));
        assert!(!b.allow(now + 86_400 * 365 * SEC));
    }
}

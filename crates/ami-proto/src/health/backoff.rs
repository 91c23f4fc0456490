//! Exponential backoff with jitter, drawn from the seeded RNG, optionally
//! bounded by a share of the outage so far.
//!
//! After a server restart, every client of it fails at the same moment. With
//! plain exponential backoff they would all retry at the same moments too;
//! jitter spreads each retry over a band below the ceiling (AWS Architecture
//! Blog, "Exponential Backoff And Jitter": full jitter draws from
//! `[0, ceiling]`, equal jitter from `[ceiling / 2, ceiling]`).
//!
//! Plain exponential growth also makes the wait after a short outage long:
//! the ceiling reaches 30 s after a few seconds of refused connects, so a
//! PBX restarted in 3 s was back for this client only up to 30 s later. The
//! outage bound keeps each ceiling within `max(floor, share of the outage
//! so far)`: a client is back within the floor after a short outage and
//! within that share of a long one.

use std::time::Duration;

use crate::rng::Rng;

/// Exponential backoff with jitter, optionally bounded by the outage.
///
/// The ceiling before retry number `n` (counting from 0) is
/// `min(cap, base * 2^n)`; with an outage bound
/// ([`bounded_by_outage`](Self::bounded_by_outage)) and the outage's length
/// passed to [`next_delay_in`](Self::next_delay_in), also at most
/// `max(floor, outage * percent / 100)`. The delay is drawn uniformly from
/// the top `jitter` percent of the ceiling ([`with_jitter`](Self::with_jitter);
/// 100 is full jitter). Call [`reset`](Self::reset) once a session is
/// healthy again, so the next outage starts from `base`.
///
/// [`Backoff::new`] is classic: full jitter, no outage bound.
/// [`Backoff::with_seed`] is the reconnect default: 100 ms base, 30 s cap,
/// ceilings within `max(1.6 s, 10% of the outage)`, equal jitter (each
/// delay in the upper half of its ceiling), so a client is back within
/// 1.6 s after outages of up to 16 s, within 10% of longer ones, and tries
/// less than once a second once past the first few attempts. The reasons
/// are in `defaults`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ami_proto::Backoff;
///
/// let ms = Duration::from_millis;
/// let mut backoff = Backoff::new(ms(100), Duration::from_secs(30), 42);
/// assert_eq!(backoff.ceiling(), ms(100));
/// assert!(backoff.next_delay() <= ms(100));
/// assert!(backoff.next_delay() <= ms(200));
/// assert_eq!(backoff.attempt(), 2);
/// backoff.reset();
/// assert_eq!(backoff.ceiling(), ms(100));
///
/// // The default, 20 attempts into a 5 s outage: at most the 1.6 s floor,
/// // at least half of it.
/// let mut backoff = Backoff::with_seed(42);
/// for _ in 0..20 {
///     backoff.next_delay_in(Duration::from_secs(5));
/// }
/// let delay = backoff.next_delay_in(Duration::from_secs(5));
/// assert!(ms(800) <= delay && delay <= ms(1600));
/// ```
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    /// `(percent, floor)`: each ceiling is at most
    /// `max(floor, outage * percent / 100)`.
    outage_bound: Option<(u32, Duration)>,
    /// Width of the band delays are drawn from, in percent of the ceiling.
    jitter: u32,
    attempt: u32,
    rng: Rng,
}

impl Backoff {
    /// The default first ceiling: quick enough that a blip costs little.
    pub const DEFAULT_BASE: Duration = Duration::from_millis(100);
    /// The default largest ceiling: a dead node is retried at least twice a
    /// minute.
    pub const DEFAULT_CAP: Duration = Duration::from_secs(30);
    /// The default outage share: a client is back within 10% of a long
    /// outage.
    pub const DEFAULT_OUTAGE_PERCENT: u32 = 10;
    /// The default floor of the outage bound: a client is back within 1.6 s
    /// of a short outage (below 2 s with connect and login), while equal
    /// jitter keeps it under one attempt a second (delays average 1.2 s).
    pub const DEFAULT_OUTAGE_FLOOR: Duration = Duration::from_millis(1600);
    /// The default jitter: equal jitter, delays in `[ceiling / 2, ceiling]`.
    pub const DEFAULT_JITTER_PERCENT: u32 = 50;

    /// Creates a classic backoff: ceilings `min(cap, base * 2^n)`, full
    /// jitter, no outage bound, with the given jitter seed.
    ///
    /// Give each connection its own seed, or clients restarted together will
    /// retry together. A `cap` below `base` wins: every ceiling is `cap`.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Backoff {
            base,
            cap,
            outage_bound: None,
            jitter: 100,
            attempt: 0,
            rng: Rng::new(seed),
        }
    }

    /// Creates the default reconnect backoff (see the type's doc) with the
    /// given jitter seed.
    pub fn with_seed(seed: u64) -> Self {
        Backoff::new(Self::DEFAULT_BASE, Self::DEFAULT_CAP, seed)
            .bounded_by_outage(Self::DEFAULT_OUTAGE_PERCENT, Self::DEFAULT_OUTAGE_FLOOR)
            .with_jitter(Self::DEFAULT_JITTER_PERCENT)
    }

    /// Bounds every ceiling drawn by [`next_delay_in`](Self::next_delay_in)
    /// by `max(floor, outage * percent / 100)`: after an outage of length
    /// `T`, the next attempt comes within `max(floor, T * percent / 100)`
    /// of the server's return.
    pub fn bounded_by_outage(mut self, percent: u32, floor: Duration) -> Self {
        self.outage_bound = Some((percent, floor));
        self
    }

    /// Draws each delay uniformly from the top `percent` of its ceiling
    /// (clamped to 0..=100): 100 is full jitter, `[0, ceiling]`; 50 is
    /// equal jitter, `[ceiling / 2, ceiling]`; 0 is no jitter.
    pub fn with_jitter(mut self, percent: u32) -> Self {
        self.jitter = percent.min(100);
        self
    }

    /// Draws the delay before the next attempt, with no outage bound, and
    /// counts the attempt.
    ///
    /// The result is within `[ceiling() * (1 - jitter), ceiling()]` as
    /// `ceiling()` was before the call; the next call's ceiling doubles, up
    /// to `cap`. Never panics, however many attempts have been counted.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        self.jittered(ceiling)
    }

    /// Like [`next_delay`](Self::next_delay), for an attempt `outage` into
    /// an outage: the ceiling is also bounded by the outage bound, if set.
    pub fn next_delay_in(&mut self, outage: Duration) -> Duration {
        let mut ceiling = self.ceiling();
        if let Some((percent, floor)) = self.outage_bound {
            ceiling = ceiling.min(percent_of(outage, percent).max(floor));
        }
        self.attempt = self.attempt.saturating_add(1);
        self.jittered(ceiling)
    }

    /// A delay drawn from the jitter band below `ceiling`, without counting
    /// an attempt.
    pub(crate) fn jittered(&mut self, ceiling: Duration) -> Duration {
        let spread = percent_of(ceiling, self.jitter);
        self.uniform(ceiling - spread, ceiling)
    }

    /// A delay uniform in `[low, high]` from this backoff's RNG.
    pub(crate) fn uniform(&mut self, low: Duration, high: Duration) -> Duration {
        // Spans beyond u64 nanoseconds (584 years) are clamped; no real
        // configuration gets near them.
        let span = high.saturating_sub(low);
        let span_nanos = u64::try_from(span.as_nanos()).unwrap_or(u64::MAX);
        low.saturating_add(Duration::from_nanos(self.rng.below_or_eq(span_nanos)))
    }

    /// How many delays have been drawn since creation or the last reset.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Starts over from `base`; call it once a session is healthy.
    ///
    /// The random sequence is not rewound, so jitter stays independent.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    /// The upper bound of the next delay, before jitter and any outage
    /// bound: `min(cap, base * 2^attempt)`, saturating.
    pub fn ceiling(&self) -> Duration {
        ceiling_for(self.base, self.cap, self.attempt)
    }

    /// The first ceiling, as configured.
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The largest ceiling, as configured; no delay is ever longer.
    pub fn cap(&self) -> Duration {
        self.cap
    }

    /// The floor of the outage bound, or `base` without one: the shortest
    /// ceiling a long run of failures comes down to.
    pub fn floor(&self) -> Duration {
        self.outage_bound.map_or(self.base, |(_, floor)| floor)
    }
}

/// `d * percent / 100`, saturating (computed in u128 nanoseconds).
pub(crate) fn percent_of(d: Duration, percent: u32) -> Duration {
    let nanos = d.as_nanos() * u128::from(percent) / 100;
    let secs = u64::try_from(nanos / 1_000_000_000).unwrap_or(u64::MAX);
    Duration::new(secs, (nanos % 1_000_000_000) as u32)
}

/// `min(cap, base * 2^n)` without overflow.
///
/// Doubling stops as soon as `cap` is reached, so the loop runs at most about
/// 100 times (1 ns doubled 94 times exceeds `Duration::MAX`) whatever `n` is.
pub(crate) fn ceiling_for(base: Duration, cap: Duration, n: u32) -> Duration {
    if base.is_zero() {
        return Duration::ZERO;
    }
    let mut ceiling = base.min(cap);
    for _ in 0..n {
        if ceiling >= cap {
            break;
        }
        ceiling = ceiling.checked_mul(2).unwrap_or(cap).min(cap);
    }
    ceiling
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    /// The exact bound, computed a different way (u128 nanoseconds).
    fn expected_ceiling(base: Duration, cap: Duration, n: u32) -> Duration {
        let base = base.as_nanos();
        let cap = cap.as_nanos();
        let scaled = if n >= 100 {
            u128::MAX
        } else {
            base.saturating_mul(1u128 << n)
        };
        let nanos = scaled.min(cap);
        Duration::new(
            u64::try_from(nanos / 1_000_000_000).expect("test durations are small"),
            (nanos % 1_000_000_000) as u32,
        )
    }

    #[test]
    fn defaults_are_100ms_and_30s() {
        let b = Backoff::with_seed(0);
        assert_eq!(b.base(), 100 * MS);
        assert_eq!(b.cap(), Duration::from_secs(30));
        assert_eq!(b.floor(), 1600 * MS);
        assert_eq!(b.outage_bound, Some((10, 1600 * MS)));
        assert_eq!(b.jitter, 50);
        assert_eq!(b.attempt(), 0);
        assert_eq!(b.ceiling(), 100 * MS);
    }

    #[test]
    fn ceiling_doubles_then_stops_at_cap() {
        let mut b = Backoff::with_seed(1);
        let mut seen = Vec::new();
        for _ in 0..12 {
            seen.push(b.ceiling().as_millis());
            b.next_delay();
        }
        assert_eq!(
            seen,
            [100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]
        );
    }

    #[test]
    fn every_delay_is_within_its_ceiling_for_many_seeds() {
        let configs = [
            (100 * MS, Duration::from_secs(30)),
            (MS, 50 * MS),
            (Duration::from_nanos(1), Duration::from_secs(3600)),
            (Duration::from_secs(1), Duration::from_secs(1)),
        ];
        for (base, cap) in configs {
            for seed in 0..100 {
                let mut b = Backoff::new(base, cap, seed);
                for n in 0..40 {
                    let ceiling = b.ceiling();
                    assert_eq!(ceiling, expected_ceiling(base, cap, n), "n={n}");
                    let d = b.next_delay();
                    assert!(d <= ceiling, "seed={seed} n={n} {d:?} > {ceiling:?}");
                    assert!(d <= cap);
                }
            }
        }
    }

    /// The mean delay at attempt `n`, over 2,000 seeds, as a share of its
    /// ceiling.
    fn mean_share(n: u32, make: impl Fn(u64) -> Backoff) -> f64 {
        let mut sum = 0f64;
        let mut ceiling = Duration::ZERO;
        let draws = 2_000;
        for seed in 0..draws {
            let mut b = make(seed);
            for _ in 0..n {
                b.next_delay();
            }
            ceiling = b.ceiling();
            sum += b.next_delay().as_secs_f64();
        }
        sum / draws as f64 / ceiling.as_secs_f64()
    }

    #[test]
    fn full_jitter_mean_delay_is_about_half_the_ceiling() {
        // Uniform on [0, c] has mean c/2 and standard deviation c/sqrt(12).
        // Over 2,000 draws the mean's deviation is about 0.0065c; 0.05c of
        // slack is more than seven deviations, so this is not flaky.
        let classic = |seed| Backoff::new(100 * MS, Duration::from_secs(30), seed);
        for n in [0u32, 3, 9, 20] {
            let ratio = mean_share(n, classic);
            assert!((0.45..=0.55).contains(&ratio), "n={n} ratio={ratio}");
        }
    }

    #[test]
    fn equal_jitter_mean_delay_is_about_three_quarters_of_the_ceiling() {
        // Uniform on [c/2, c]: mean 0.75c, standard deviation c/(2 sqrt(12));
        // over 2,000 draws the mean's deviation is about 0.0032c.
        for n in [0u32, 3, 9, 20] {
            let ratio = mean_share(n, Backoff::with_seed);
            assert!((0.72..=0.78).contains(&ratio), "n={n} ratio={ratio}");
        }
        // Every draw is in the upper half.
        let mut b = Backoff::with_seed(5);
        for _ in 0..200 {
            let ceiling = b.ceiling();
            let d = b.next_delay();
            assert!(ceiling / 2 <= d && d <= ceiling, "{d:?} of {ceiling:?}");
        }
    }

    #[test]
    fn outage_bound_keeps_every_ceiling_within_a_share_of_the_outage() {
        for seed in 0..50 {
            let mut b = Backoff::with_seed(seed);
            for n in 0..60u32 {
                // An outage that grows faster than the ceilings do.
                let outage = Duration::from_millis(1 << n.min(40));
                let bound = (outage / 10).max(1600 * MS).min(b.cap());
                let ceiling = b.ceiling().min(bound);
                let d = b.next_delay_in(outage);
                assert!(d <= ceiling, "seed={seed} n={n} {d:?} > {ceiling:?}");
                assert!(
                    d >= ceiling / 2,
                    "seed={seed} n={n} {d:?} < half {ceiling:?}"
                );
            }
        }
        // Without a bound, the outage changes nothing.
        let mut a = Backoff::new(100 * MS, Duration::from_secs(30), 3);
        let mut b = a.clone();
        for _ in 0..20 {
            assert_eq!(a.next_delay(), b.next_delay_in(Duration::ZERO));
        }
    }

    #[test]
    fn percent_of_is_exact_and_saturates() {
        assert_eq!(
            percent_of(Duration::from_secs(10), 10),
            Duration::from_secs(1)
        );
        assert_eq!(
            percent_of(Duration::from_nanos(3), 50),
            Duration::from_nanos(1)
        );
        assert_eq!(percent_of(Duration::MAX, 100), Duration::MAX);
        assert!(percent_of(Duration::MAX, 10) < Duration::MAX);
    }

    #[test]
    fn jitter_is_present() {
        // Same attempt, different seeds: the delays differ.
        let firsts: Vec<_> = (0..20)
            .map(|seed| Backoff::with_seed(seed).next_delay())
            .collect();
        assert!(firsts.iter().any(|d| *d != firsts[0]), "{firsts:?}");
        // Same seed, at the cap: consecutive delays differ too.
        let mut b = Backoff::with_seed(7);
        let capped: Vec<_> = (0..40).map(|_| b.next_delay()).skip(10).collect();
        assert!(capped.iter().any(|d| *d != capped[0]), "{capped:?}");
    }

    #[test]
    fn same_seed_same_delays() {
        let mut a = Backoff::with_seed(99);
        let mut b = Backoff::with_seed(99);
        for _ in 0..50 {
            assert_eq!(a.next_delay(), b.next_delay());
        }
    }

    #[test]
    fn huge_attempt_counts_do_not_panic() {
        let mut b = Backoff::with_seed(3);
        for _ in 0..1000 {
            assert!(b.next_delay() <= b.cap());
        }
        assert_eq!(b.attempt(), 1000);
        assert_eq!(b.ceiling(), b.cap());

        // The counter saturates instead of wrapping back to `base`.
        b.attempt = u32::MAX;
        assert!(b.next_delay() <= b.cap());
        assert_eq!(b.attempt(), u32::MAX);
        assert_eq!(b.ceiling(), b.cap());

        // Extreme configurations stay bounded too.
        let mut huge = Backoff::new(Duration::MAX, Duration::MAX, 5);
        huge.attempt = u32::MAX;
        assert_eq!(huge.ceiling(), Duration::MAX);
        huge.next_delay();
        let mut zero = Backoff::new(Duration::ZERO, Duration::from_secs(1), 5);
        zero.attempt = u32::MAX;
        assert_eq!(zero.next_delay(), Duration::ZERO);
    }

    #[test]
    fn cap_below_base_caps_everything() {
        let mut b = Backoff::new(Duration::from_secs(10), Duration::from_secs(2), 1);
        assert_eq!(b.ceiling(), Duration::from_secs(2));
        for _ in 0..20 {
            assert!(b.next_delay() <= Duration::from_secs(2));
        }
    }

    #[test]
    fn reset_returns_to_base() {
        let mut b = Backoff::with_seed(11);
        for _ in 0..15 {
            b.next_delay();
        }
        assert_eq!(b.ceiling(), b.cap());
        b.reset();
        assert_eq!(b.attempt(), 0);
        assert_eq!(b.ceiling(), 100 * MS);
        assert!(b.next_delay() <= 100 * MS);
        assert_eq!(b.ceiling(), 200 * MS);
    }
}

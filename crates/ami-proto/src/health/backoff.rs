//! Exponential backoff with full jitter, drawn from the seeded RNG.
//!
//! After a server restart, every client of it fails at the same moment. With
//! plain exponential backoff they would all retry at the same moments too;
//! full jitter spreads each retry uniformly over `[0, ceiling]`, which is the
//! spread that keeps the total load on the server lowest (AWS Architecture
//! Blog, "Exponential Backoff And Jitter").

use std::time::Duration;

use crate::rng::Rng;

/// Exponential backoff with full jitter.
///
/// The delay before retry number `n` (counting from 0) is uniform in
/// `[0, min(cap, base * 2^n)]`. Call [`next_delay`](Self::next_delay) after
/// each failure and wait that long; call [`reset`](Self::reset) once a
/// session is healthy again, so the next outage starts from `base`.
///
/// The defaults (100 ms base, 30 s cap) are explained in `defaults`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use ami_proto::Backoff;
///
/// let mut backoff = Backoff::with_seed(42);
/// assert_eq!(backoff.ceiling(), Duration::from_millis(100));
/// assert!(backoff.next_delay() <= Duration::from_millis(100));
/// assert!(backoff.next_delay() <= Duration::from_millis(200));
/// assert_eq!(backoff.attempt(), 2);
/// backoff.reset();
/// assert_eq!(backoff.ceiling(), Duration::from_millis(100));
/// ```
#[derive(Clone, Debug)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    attempt: u32,
    rng: Rng,
}

impl Backoff {
    /// The default first ceiling: quick enough that a blip costs little.
    pub const DEFAULT_BASE: Duration = Duration::from_millis(100);
    /// The default largest ceiling: a dead node is retried twice a minute.
    pub const DEFAULT_CAP: Duration = Duration::from_secs(30);

    /// Creates a backoff with the given first ceiling, largest ceiling and
    /// jitter seed.
    ///
    /// Give each connection its own seed, or clients restarted together will
    /// retry together. A `cap` below `base` wins: every ceiling is `cap`.
    pub fn new(base: Duration, cap: Duration, seed: u64) -> Self {
        Backoff {
            base,
            cap,
            attempt: 0,
            rng: Rng::new(seed),
        }
    }

    /// Creates a backoff with the defaults (100 ms base, 30 s cap).
    pub fn with_seed(seed: u64) -> Self {
        Backoff::new(Self::DEFAULT_BASE, Self::DEFAULT_CAP, seed)
    }

    /// Draws the delay to wait before the next attempt, and counts the attempt.
    ///
    /// The result is uniform in `[0, ceiling()]` as `ceiling()` was before
    /// the call; the next call's ceiling doubles, up to `cap`. Never panics,
    /// however many attempts have been counted.
    pub fn next_delay(&mut self) -> Duration {
        let ceiling = self.ceiling();
        self.attempt = self.attempt.saturating_add(1);
        // A ceiling beyond u64 nanoseconds (584 years) is clamped; no real
        // configuration gets near it.
        let max_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(self.rng.below_or_eq(max_nanos))
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

    /// The upper bound of the next delay, before jitter:
    /// `min(cap, base * 2^attempt)`, saturating.
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
}

/// `min(cap, base * 2^n)` without overflow.
///
/// Doubling stops as soon as `cap` is reached, so the loop runs at most about
/// 100 times (1 ns doubled 94 times exceeds `Duration::MAX`) whatever `n` is.
fn ceiling_for(base: Duration, cap: Duration, n: u32) -> Duration {
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

    #[test]
    fn mean_delay_is_about_half_the_ceiling() {
        // Uniform on [0, c] has mean c/2 and standard deviation c/sqrt(12).
        // Over 2,000 draws the mean's deviation is about 0.0065c; 0.05c of
        // slack is more than seven deviations, so this is not flaky.
        for n in [0u32, 3, 9, 20] {
            let mut sum = 0f64;
            let mut ceiling = Duration::ZERO;
            let draws = 2_000;
            for seed in 0..draws {
                let mut b = Backoff::with_seed(seed);
                for _ in 0..n {
                    b.next_delay();
                }
                ceiling = b.ceiling();
                sum += b.next_delay().as_secs_f64();
            }
            let ratio = sum / draws as f64 / ceiling.as_secs_f64();
            assert!((0.45..=0.55).contains(&ratio), "n={n} ratio={ratio}");
        }
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

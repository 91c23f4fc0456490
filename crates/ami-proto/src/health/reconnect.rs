//! When to reconnect: backoff with jitter, gated by the circuit breaker.
//!
//! A supervisor reports each failed or lost session here and sleeps until the
//! instant it gets back; then it asks [`ReconnectPolicy::may_attempt`]. Only a
//! session that logged in and is healthy resets the policy, so a node that
//! accepts TCP but refuses the login still backs off (and trips the breaker).

use std::time::{Duration, Instant};

use super::backoff::Backoff;
use super::breaker::{BreakerState, CircuitBreaker};
use crate::deadline::instant_after;

/// Why a session attempt ended; tells the policy how long to wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// The TCP connect failed or timed out.
    Connect,
    /// The login handshake failed for a reason other than credentials
    /// (no banner, timeout, connection closed during login).
    Login,
    /// The server rejected the credentials. Retrying soon cannot help, so
    /// the delay is at least [`ReconnectPolicy::AUTH_FAILURE_FLOOR`].
    AuthFailed,
    /// A ready session lost its connection (EOF, reset, write error).
    Lost,
    /// A ready session was declared dead by the heartbeat.
    Heartbeat,
}

/// Reconnect policy: [`Backoff`] delays, gated by a [`CircuitBreaker`].
///
/// The loop: before connecting, [`may_attempt`](Self::may_attempt); on any
/// failure, [`on_failure`](Self::on_failure) and sleep until the instant it
/// returns; once logged in and healthy, [`on_ready`](Self::on_ready).
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use ami_proto::{Failure, ReconnectPolicy};
///
/// let mut policy = ReconnectPolicy::with_seed(7);
/// let now = Instant::now();
/// assert!(policy.may_attempt(now));
/// let retry_at = policy.on_failure(now, Failure::Connect);
/// assert!(retry_at <= now + Duration::from_millis(100));
/// assert!(policy.may_attempt(retry_at));
/// policy.on_connected();
/// policy.on_ready();
/// assert_eq!(policy.failures(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct ReconnectPolicy {
    backoff: Backoff,
    breaker: CircuitBreaker,
    failures: u32,
    next_attempt: Option<Instant>,
}

impl ReconnectPolicy {
    /// The shortest wait after [`Failure::AuthFailed`]: bad credentials never
    /// retry in a hot loop, even with a tiny backoff cap.
    ///
    /// The wait after an authentication failure is
    /// `max(backoff cap, AUTH_FAILURE_FLOOR)` (30 s with the defaults),
    /// without jitter: a wrong password does not fix itself in 100 ms, and
    /// each attempt costs the server a login and an audit-log line.
    pub const AUTH_FAILURE_FLOOR: Duration = Duration::from_secs(5);

    /// Combines a backoff and a breaker; both start fresh.
    pub fn new(backoff: Backoff, breaker: CircuitBreaker) -> Self {
        ReconnectPolicy {
            backoff,
            breaker,
            failures: 0,
            next_attempt: None,
        }
    }

    /// The default policy (100 ms base, 30 s cap; open after 5 failures,
    /// 30 s cooldown, 1 probe) with the given jitter seed.
    pub fn with_seed(seed: u64) -> Self {
        ReconnectPolicy::new(Backoff::with_seed(seed), CircuitBreaker::default())
    }

    /// Reports a failed attempt or a lost session at `now`; returns when the
    /// next attempt may start.
    ///
    /// That is `now` plus a jittered backoff delay (at least
    /// [`AUTH_FAILURE_FLOOR`](Self::AUTH_FAILURE_FLOOR) and the cap for
    /// [`Failure::AuthFailed`]), but never before the breaker lets a probe
    /// through when this failure left it open. Sleep until then, then ask
    /// [`may_attempt`](Self::may_attempt).
    pub fn on_failure(&mut self, now: Instant, failure: Failure) -> Instant {
        self.failures = self.failures.saturating_add(1);
        self.breaker.on_failure(now);
        let jittered = self.backoff.next_delay();
        let delay = match failure {
            Failure::AuthFailed => jittered
                .max(self.backoff.cap())
                .max(Self::AUTH_FAILURE_FLOOR),
            Failure::Connect | Failure::Login | Failure::Lost | Failure::Heartbeat => jittered,
        };
        let mut at = instant_after(now, delay);
        if let BreakerState::Open { until } = self.breaker.state(now) {
            at = at.max(until);
        }
        self.next_attempt = Some(at);
        at
    }

    /// Reports that the TCP connect succeeded.
    ///
    /// Nothing is reset yet: a server that accepts connections but fails the
    /// login must keep backing off, so only [`on_ready`](Self::on_ready)
    /// resets the policy.
    pub fn on_connected(&mut self) {}

    /// Reports that the login succeeded and the session is healthy: the
    /// backoff starts over from its base, the breaker closes, and the
    /// failure count is 0 (PHP pitfall 3: counters must reset).
    pub fn on_ready(&mut self) {
        self.backoff.reset();
        self.breaker.on_success();
        self.failures = 0;
        self.next_attempt = None;
    }

    /// Whether a connection attempt may start at `now`.
    ///
    /// `false` before the instant the last [`on_failure`](Self::on_failure)
    /// returned, and while the breaker is open or its half-open probes are in
    /// flight. A `true` in half-open takes the probe, so ask once per attempt
    /// and report how it ended.
    pub fn may_attempt(&mut self, now: Instant) -> bool {
        if self.next_attempt.is_some_and(|at| now < at) {
            return false;
        }
        self.breaker.allow(now)
    }

    /// The breaker's state at `now` (for stats and logs).
    pub fn breaker_state(&self, now: Instant) -> BreakerState {
        self.breaker.state(now)
    }

    /// Failures in a row since the last healthy session.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    /// When the next attempt may start, if a failure scheduled one.
    pub fn next_attempt(&self) -> Option<Instant> {
        self.next_attempt
    }

    /// The earliest instant at or after `now` when [`may_attempt`](Self::may_attempt)
    /// can say yes: the scheduled attempt, or the end of the breaker's
    /// cooldown, whichever is later. Sleep until then instead of guessing.
    pub fn next_allowed(&self, now: Instant) -> Instant {
        let mut at = self.next_attempt.map_or(now, |a| a.max(now));
        if let BreakerState::Open { until } = self.breaker.state(now) {
            at = at.max(until);
        }
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn next_allowed_is_when_may_attempt_says_yes() {
        let now = Instant::now();
        let mut p = ReconnectPolicy::with_seed(3);
        assert_eq!(p.next_allowed(now), now);
        let mut t = now;
        for _ in 0..8 {
            p.on_failure(t, Failure::Connect);
            let at = p.next_allowed(t);
            assert!(at >= t);
            if at > t {
                assert!(
                    !p.may_attempt(at - Duration::from_nanos(1)),
                    "too early at {at:?}"
                );
            }
            assert!(p.may_attempt(at), "refused at its own next_allowed");
            t = at;
        }
    }
    const CAP: Duration = Duration::from_secs(30);
    const COOLDOWN: Duration = Duration::from_secs(30);

    /// Drives a storm: every attempt fails; returns the attempt instants.
    fn storm(policy: &mut ReconnectPolicy, start: Instant, failures: usize) -> Vec<Instant> {
        let mut attempts = Vec::new();
        let mut now = start;
        while attempts.len() < failures {
            assert!(
                policy.may_attempt(now),
                "the instant on_failure returned must admit an attempt"
            );
            attempts.push(now);
            now = policy.on_failure(now, Failure::Connect);
        }
        attempts
    }

    #[test]
    fn first_attempt_is_allowed() {
        let mut p = ReconnectPolicy::with_seed(1);
        assert!(p.may_attempt(Instant::now()));
        assert_eq!(p.failures(), 0);
        assert_eq!(p.next_attempt(), None);
    }

    #[test]
    fn reconnect_storm_is_bounded_and_spaced() {
        for seed in 0..20 {
            let start = Instant::now();
            let mut p = ReconnectPolicy::with_seed(seed);
            let attempts = storm(&mut p, start, 50);
            assert_eq!(p.failures(), 50);
            for (i, pair) in attempts.windows(2).enumerate() {
                let gap = pair[1] - pair[0];
                // Never a delay above the cap (the cooldown equals the cap).
                assert!(gap <= CAP.max(COOLDOWN), "seed={seed} i={i} gap={gap:?}");
                // From the 5th failure on, the breaker is open: attempts are
                // spaced by the full cooldown.
                if i >= 4 {
                    assert!(gap >= COOLDOWN, "seed={seed} i={i} gap={gap:?}");
                }
            }
            // The first gaps follow the backoff ceilings: 100, 200, 400, 800 ms.
            for (i, pair) in attempts.windows(2).take(4).enumerate() {
                assert!(pair[1] - pair[0] <= Duration::from_millis(100 << i));
            }
        }
    }

    #[test]
    fn breaker_opens_after_five_and_refuses_until_cooldown() {
        let start = Instant::now();
        let mut p = ReconnectPolicy::with_seed(3);
        let mut now = start;
        for _ in 0..4 {
            now = p.on_failure(now, Failure::Connect);
            assert_eq!(p.breaker_state(now), BreakerState::Closed);
        }
        let fifth = now;
        let retry = p.on_failure(fifth, Failure::Connect);
        assert_eq!(
            p.breaker_state(fifth),
            BreakerState::Open {
                until: fifth + COOLDOWN
            }
        );
        assert_eq!(retry, fifth + COOLDOWN);
        assert!(!p.may_attempt(fifth + 29 * SEC));
        assert!(!p.may_attempt(retry - Duration::from_nanos(1)));
        assert_eq!(p.breaker_state(retry), BreakerState::HalfOpen);
    }

    #[test]
    fn half_open_allows_one_probe() {
        let start = Instant::now();
        let mut p = ReconnectPolicy::with_seed(4);
        let attempts = storm(&mut p, start, 5);
        let last = *attempts.last().expect("five attempts");
        let probe_at = p.next_attempt().expect("a retry is scheduled");
        assert_eq!(probe_at, last + COOLDOWN);
        assert!(p.may_attempt(probe_at));
        assert!(!p.may_attempt(probe_at), "only one probe at a time");
        assert!(
            !p.may_attempt(probe_at + 60 * SEC),
            "until the probe reports"
        );
        // The probe fails: another full cooldown.
        let next = p.on_failure(probe_at + SEC, Failure::Login);
        assert_eq!(next, probe_at + SEC + COOLDOWN);
    }

    #[test]
    fn probe_success_resets_everything() {
        let start = Instant::now();
        let mut p = ReconnectPolicy::with_seed(5);
        storm(&mut p, start, 7);
        let probe_at = p.next_attempt().expect("scheduled");
        assert!(p.may_attempt(probe_at));
        p.on_connected();
        assert_eq!(p.failures(), 7, "a TCP connect alone resets nothing");
        p.on_ready();
        assert_eq!(p.failures(), 0);
        assert_eq!(p.breaker_state(probe_at), BreakerState::Closed);
        assert_eq!(p.next_attempt(), None);
        // The next outage starts from the base delay again.
        let t = probe_at + 100 * SEC;
        let retry = p.on_failure(t, Failure::Lost);
        assert!(retry - t <= Duration::from_millis(100));
        assert_eq!(p.breaker_state(t), BreakerState::Closed);
    }

    #[test]
    fn connect_without_login_keeps_backing_off() {
        // A server that accepts TCP and then drops the login must still trip
        // the breaker: on_connected resets nothing.
        let start = Instant::now();
        let mut p = ReconnectPolicy::with_seed(6);
        let mut now = start;
        for _ in 0..5 {
            assert!(p.may_attempt(now));
            p.on_connected();
            now = p.on_failure(now, Failure::Login);
        }
        assert!(matches!(
            p.breaker_state(now - SEC),
            BreakerState::Open { .. }
        ));
    }

    #[test]
    fn auth_failures_never_retry_before_the_floor() {
        let start = Instant::now();
        let mut p = ReconnectPolicy::with_seed(8);
        let mut now = start;
        for _ in 0..20 {
            assert!(p.may_attempt(now));
            let next = p.on_failure(now, Failure::AuthFailed);
            assert!(next - now >= ReconnectPolicy::AUTH_FAILURE_FLOOR);
            assert!(
                next - now >= CAP,
                "with defaults, the floor is the 30 s cap"
            );
            assert!(!p.may_attempt(next - Duration::from_nanos(1)));
            now = next;
        }

        // A tiny backoff cap still waits the 5 s floor.
        let tiny = Backoff::new(Duration::from_millis(1), Duration::from_millis(10), 1);
        let mut p = ReconnectPolicy::new(tiny, CircuitBreaker::new(100, COOLDOWN, 1));
        let next = p.on_failure(start, Failure::AuthFailed);
        assert_eq!(next - start, ReconnectPolicy::AUTH_FAILURE_FLOOR);
        // Other failures with the same policy retry fast.
        let fast = p.on_failure(next, Failure::Connect);
        assert!(fast - next <= Duration::from_millis(10));
    }

    #[test]
    fn recovers_twice_after_heartbeat_deaths() {
        // PHP pitfall 3: heartbeat death → reconnect → healthy, twice; each
        // recovery starts from scratch.
        let start = Instant::now();
        let mut p = ReconnectPolicy::with_seed(9);
        let mut now = start;
        for _ in 0..2 {
            let retry = p.on_failure(now, Failure::Heartbeat);
            assert_eq!(p.failures(), 1);
            assert!(retry - now <= Duration::from_millis(100));
            assert!(p.may_attempt(retry));
            p.on_connected();
            p.on_ready();
            assert_eq!(p.failures(), 0);
            now = retry + 60 * SEC;
        }
    }

    #[test]
    fn may_attempt_refuses_before_the_scheduled_instant() {
        let start = Instant::now();
        let mut p = ReconnectPolicy::with_seed(10);
        let next = p.on_failure(start, Failure::AuthFailed);
        assert!(!p.may_attempt(start));
        // Refusals for backoff do not consume a breaker probe.
        assert_eq!(p.breaker_state(start), BreakerState::Closed);
        assert!(p.may_attempt(next));
    }
}

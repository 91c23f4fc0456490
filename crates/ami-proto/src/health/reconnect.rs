//! When to reconnect: backoff with jitter, gated by the circuit breaker, and
//! reset only by health that was earned.
//!
//! A supervisor reports each failed or lost session here and sleeps until the
//! instant it gets back; then it asks [`ReconnectPolicy::may_attempt`]. A
//! session that logs in does not reset the policy by itself: only one that
//! then stays up for [`ReconnectPolicy::healthy_after`] does (invariant 13).
//! So a node that accepts TCP but refuses the login, or accepts the login and
//! drops the session at once, still backs off (and trips the breaker),
//! instead of being hammered at the backoff's base rate.

use std::time::{Duration, Instant};

use super::backoff::{ceiling_for, Backoff};
use super::breaker::{BreakerState, CircuitBreaker};
use crate::config::range_ms;
use crate::deadline::instant_after;
use crate::error::ConfigError;

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

/// Reconnect policy: [`Backoff`] delays, gated by a [`CircuitBreaker`],
/// reset only after a session has stayed healthy.
///
/// The loop: before connecting, [`may_attempt`](Self::may_attempt); once
/// logged in, [`on_ready`](Self::on_ready); on any failure, or when a ready
/// session ends, [`on_failure`](Self::on_failure), and sleep until the
/// instant it returns.
///
/// How long [`on_failure`](Self::on_failure) waits:
/// - **A session that had stayed up for `healthy_after`** (default 10 s)
///   ends: the policy first resets (backoff, breaker, counts), and this
///   failure starts a new outage, retried within about 100 ms.
/// - **Attempts during an outage** (connect or login failures): the
///   backoff's delay for the time since the outage began; with the defaults,
///   ready again within 1.6 s of the server's return after an outage of up
///   to 16 s, within 10% of a longer one (at most 30 s), and under one
///   attempt a second past the first four.
/// - **A session that ends before `healthy_after`** (it logged in, then
///   dropped: a flap): a delay that doubles with each such flap, from the
///   backoff's [floor](Backoff::floor) (1.6 s) up to its cap, jittered. A
///   server that accepts logins and drops them at once sees four or five
///   logins in the first 10 s, not hundreds.
/// - **Refused credentials**: at least `max(AUTH_FAILURE_FLOOR, cap)`,
///   jittered up to half as long again (30 to 45 s with the defaults).
///
/// The breaker's cooldown, when it opens, comes on top of these as a floor.
/// A session that logs in closes the breaker but keeps its count of
/// failures, so a flap reopens it at once.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use ami_proto::{Failure, ReconnectPolicy};
///
/// let sec = Duration::from_secs(1);
/// let mut policy = ReconnectPolicy::with_seed(7);
/// let now = Instant::now();
/// assert!(policy.may_attempt(now));
/// let retry_at = policy.on_failure(now, Failure::Connect);
/// assert!(retry_at <= now + Duration::from_millis(100));
/// assert!(policy.may_attempt(retry_at));
/// policy.on_connected();
/// policy.on_ready(retry_at);
/// // Logged in, but not yet healthy: the failure still counts.
/// assert_eq!(policy.failures(), 1);
/// assert!(policy.refresh(retry_at + 10 * sec));
/// assert_eq!(policy.failures(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct ReconnectPolicy {
    backoff: Backoff,
    breaker: CircuitBreaker,
    healthy_after: Duration,
    /// Failures in a row since the last healthy session.
    failures: u32,
    /// Sessions in a row that logged in and ended before `healthy_after`.
    flaps: u32,
    /// When the first of those failures happened.
    outage_start: Option<Instant>,
    /// When the current session logged in, until it ends.
    ready_at: Option<Instant>,
    next_attempt: Option<Instant>,
}

impl ReconnectPolicy {
    /// The shortest wait after [`Failure::AuthFailed`]: bad credentials never
    /// retry in a hot loop, even with a tiny backoff cap.
    ///
    /// The wait after an authentication failure is uniform in `[F, 1.5 F]`
    /// with `F = max(backoff cap, AUTH_FAILURE_FLOOR)` (30 to 45 s with the
    /// defaults): a wrong password does not fix itself in 100 ms, each
    /// attempt costs the server a login and an audit-log line, and the
    /// jitter keeps processes restarted together from retrying in lockstep.
    pub const AUTH_FAILURE_FLOOR: Duration = Duration::from_secs(5);

    /// How long a session must stay up, by default, before it counts as
    /// healthy and resets the policy.
    pub const DEFAULT_HEALTHY_AFTER: Duration = Duration::from_secs(10);

    /// Combines a backoff and a breaker; both start fresh, and a session
    /// counts as healthy after [`DEFAULT_HEALTHY_AFTER`](Self::DEFAULT_HEALTHY_AFTER).
    pub fn new(backoff: Backoff, breaker: CircuitBreaker) -> Self {
        ReconnectPolicy {
            backoff,
            breaker,
            healthy_after: Self::DEFAULT_HEALTHY_AFTER,
            failures: 0,
            flaps: 0,
            outage_start: None,
            ready_at: None,
            next_attempt: None,
        }
    }

    /// The default policy with the given jitter seed: [`Backoff::with_seed`]
    /// and [`CircuitBreaker::default`], healthy after 10 s.
    pub fn with_seed(seed: u64) -> Self {
        ReconnectPolicy::new(Backoff::with_seed(seed), CircuitBreaker::default())
    }

    /// Sets how long a session must stay up before it resets the policy.
    pub fn with_healthy_after(mut self, healthy_after: Duration) -> Self {
        self.healthy_after = healthy_after;
        self
    }

    /// How long a session must stay up before it resets the policy.
    pub fn healthy_after(&self) -> Duration {
        self.healthy_after
    }

    /// Checks the durations a user chose against the ranges that mean
    /// something, as [`Config::validate`](crate::Config::validate) does: the
    /// backoff's base and cap 1 ms ..= 1 h (a zero backoff retries in a hot
    /// loop, a longer one leaves a node down for hours), `healthy_after`
    /// 0 ..= 24 h. The first value out of range is the error. Adapters that
    /// take a policy from the user call it before using it.
    pub fn validate(&self) -> Result<(), ConfigError> {
        const HOUR: u64 = 3_600_000;
        range_ms("reconnect_base_ms", self.backoff.base(), 1, HOUR)?;
        range_ms("reconnect_cap_ms", self.backoff.cap(), 1, HOUR)?;
        range_ms("healthy_after_ms", self.healthy_after, 0, 24 * HOUR)
    }

    /// Reports a failed attempt or an ended session at `now`; returns when
    /// the next attempt may start (see the type's doc for how long that is).
    ///
    /// Never before the breaker lets a probe through when this failure left
    /// it open. Sleep until then, then ask [`may_attempt`](Self::may_attempt).
    pub fn on_failure(&mut self, now: Instant, failure: Failure) -> Instant {
        let flap = match self.ready_at.take() {
            Some(ready) if self.earned(ready, now) => {
                self.reset();
                false
            }
            Some(_) => true,
            None => false,
        };
        self.failures = self.failures.saturating_add(1);
        self.breaker.on_failure(now);
        let outage = now.saturating_duration_since(*self.outage_start.get_or_insert(now));
        let delay = match failure {
            Failure::AuthFailed => {
                let floor = self.backoff.cap().max(Self::AUTH_FAILURE_FLOOR);
                self.backoff.uniform(floor, floor.saturating_add(floor / 2))
            }
            _ if flap => {
                self.flaps = self.flaps.saturating_add(1);
                let (floor, cap) = (self.backoff.floor(), self.backoff.cap());
                self.backoff
                    .jittered(ceiling_for(floor, cap, self.flaps - 1))
            }
            Failure::Connect | Failure::Login | Failure::Lost | Failure::Heartbeat => {
                self.backoff.next_delay_in(outage)
            }
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
    /// Nothing is reset: a server that accepts connections but fails the
    /// login must keep backing off.
    pub fn on_connected(&mut self) {}

    /// Reports that the session logged in at `now`.
    ///
    /// Nothing is reset yet: if the session ends within
    /// [`healthy_after`](Self::healthy_after), [`on_failure`](Self::on_failure)
    /// counts it as a flap and backs off further. If it lasts, the policy
    /// resets (PHP pitfall 3: counters must reset) when that session ends, or
    /// at [`refresh`](Self::refresh).
    pub fn on_ready(&mut self, now: Instant) {
        self.ready_at = Some(now);
        self.next_attempt = None;
        // Attempts are allowed again (a deliberate reconnect is not refused),
        // but the breaker's count stays until the session proves healthy.
        self.breaker.on_probe_success();
    }

    /// Whether the current session counts as healthy at `now` (logged in
    /// [`healthy_after`](Self::healthy_after) ago or more). If so the policy
    /// resets now, so [`failures`](Self::failures) and
    /// [`breaker_state`](Self::breaker_state) read fresh; otherwise nothing
    /// changes. [`on_failure`](Self::on_failure) does this by itself: call
    /// it only to keep those getters current during a long session.
    pub fn refresh(&mut self, now: Instant) -> bool {
        match self.ready_at {
            Some(ready) if self.earned(ready, now) => {
                self.reset();
                true
            }
            _ => false,
        }
    }

    /// When the current session will count as healthy, if one is up.
    pub fn healthy_at(&self) -> Option<Instant> {
        self.ready_at
            .map(|ready| instant_after(ready, self.healthy_after))
    }

    fn earned(&self, ready: Instant, now: Instant) -> bool {
        now.saturating_duration_since(ready) >= self.healthy_after
    }

    /// Starts over: the backoff from its base, the breaker closed, no
    /// failures, no outage. The session in progress stays recorded.
    fn reset(&mut self) {
        self.backoff.reset();
        self.breaker.on_success();
        self.failures = 0;
        self.flaps = 0;
        self.outage_start = None;
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
    const MS: Duration = Duration::from_millis(1);
    const COOLDOWN: Duration = Duration::from_secs(30);

    /// The default backoff with a classic breaker (fixed 30 s cooldown), for
    /// the tests of the breaker's mechanics inside the policy.
    fn classic(seed: u64) -> ReconnectPolicy {
        ReconnectPolicy::new(
            Backoff::with_seed(seed),
            CircuitBreaker::new(5, COOLDOWN, 1),
        )
    }

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
    fn validate_refuses_hot_loops_and_durations_too_long_to_mean_anything() {
        assert_eq!(ReconnectPolicy::with_seed(1).validate(), Ok(()));
        let out = |name, value, min, max| {
            Err(ConfigError::OutOfRange {
                name,
                value,
                min,
                max,
            })
        };
        let policy =
            |base, cap| ReconnectPolicy::new(Backoff::new(base, cap, 1), classic(1).breaker);
        assert_eq!(
            policy(Duration::ZERO, SEC).validate(),
            out("reconnect_base_ms", 0, 1, 3_600_000)
        );
        assert_eq!(
            policy(SEC, Duration::ZERO).validate(),
            out("reconnect_cap_ms", 0, 1, 3_600_000)
        );
        let long = policy(SEC, 2 * 3_600 * SEC).validate();
        assert_eq!(long, out("reconnect_cap_ms", 7_200_000, 1, 3_600_000));
        let never = ReconnectPolicy::with_seed(1).with_healthy_after(Duration::MAX);
        assert_eq!(
            never.validate(),
            out("healthy_after_ms", u64::MAX, 0, 86_400_000)
        );
        // Healthy at login is a choice, not a stall.
        let at_login = ReconnectPolicy::with_seed(1).with_healthy_after(Duration::ZERO);
        assert_eq!(at_login.validate(), Ok(()));
    }

    #[test]
    fn first_attempt_is_allowed() {
        let mut p = ReconnectPolicy::with_seed(1);
        assert!(p.may_attempt(Instant::now()));
        assert_eq!(p.failures(), 0);
        assert_eq!(p.next_attempt(), None);
        assert_eq!(p.healthy_after(), 10 * SEC);
    }

    #[test]
    fn next_allowed_is_when_may_attempt_says_yes() {
        let now = Instant::now();
        for mut p in [ReconnectPolicy::with_seed(3), classic(3)] {
            assert_eq!(p.next_allowed(now), now);
            let mut t = now;
            for _ in 0..8 {
                p.on_failure(t, Failure::Connect);
                let at = p.next_allowed(t);
                assert!(at >= t);
                if at > t {
                    assert!(!p.may_attempt(at - Duration::from_nanos(1)), "too early");
                }
                assert!(p.may_attempt(at), "refused at its own next_allowed");
                t = at;
            }
        }
    }

    #[test]
    fn a_storm_is_spaced_by_a_share_of_the_outage() {
        for seed in 0..20 {
            let start = Instant::now();
            let mut p = ReconnectPolicy::with_seed(seed);
            let attempts = storm(&mut p, start, 200);
            assert_eq!(p.failures(), 200);
            for (i, pair) in attempts.windows(2).enumerate() {
                let gap = pair[1] - pair[0];
                let outage = pair[0] - start;
                let ceiling = (outage / 10).clamp(1600 * MS, 30 * SEC);
                assert!(
                    gap <= ceiling,
                    "seed={seed} i={i} gap={gap:?} at {outage:?}"
                );
                // Past the first few, at least half the ceiling: under one
                // attempt a second.
                if i >= 4 {
                    assert!(gap >= 800 * MS, "seed={seed} i={i} gap={gap:?}");
                }
            }
            // The first gaps follow the backoff: within 100, 200, 400, 800 ms.
            for (i, pair) in attempts.windows(2).take(4).enumerate() {
                assert!(pair[1] - pair[0] <= Duration::from_millis(100 << i));
            }
        }
    }

    #[test]
    fn breaker_opens_after_five_and_refuses_until_cooldown() {
        let start = Instant::now();
        let mut p = classic(3);
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
        let mut p = classic(4);
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
    fn a_probe_that_logs_in_resets_everything_once_healthy() {
        let start = Instant::now();
        let mut p = classic(5);
        storm(&mut p, start, 7);
        let probe_at = p.next_attempt().expect("scheduled");
        assert!(p.may_attempt(probe_at));
        p.on_connected();
        assert_eq!(p.failures(), 7, "a TCP connect alone resets nothing");
        p.on_ready(probe_at);
        assert_eq!(p.failures(), 7, "nor does a login");
        assert_eq!(p.breaker_state(probe_at), BreakerState::Closed);
        assert_eq!(p.healthy_at(), Some(probe_at + 10 * SEC));
        // Lost after 10 s: the policy resets first, then counts the loss as
        // the start of a new outage, retried at once.
        let t = probe_at + 10 * SEC;
        let retry = p.on_failure(t, Failure::Lost);
        assert_eq!(p.failures(), 1);
        assert!(retry - t <= 100 * MS);
        assert_eq!(p.breaker_state(t), BreakerState::Closed);
    }

    #[test]
    fn health_is_earned_not_assumed() {
        let start = Instant::now();
        let mut p = ReconnectPolicy::with_seed(6);
        let mut now = start;
        for _ in 0..3 {
            now = p.on_failure(now, Failure::Connect);
        }
        // Logged in, lost 9.99 s later: a flap, not a recovery.
        p.on_ready(now);
        let lost = now + 9990 * MS;
        let retry = p.on_failure(lost, Failure::Lost);
        assert_eq!(p.failures(), 4);
        let gap = retry - lost;
        assert!((800 * MS..=1600 * MS).contains(&gap), "{gap:?}");
        // Logged in again and lost exactly 10 s later: healthy, reset.
        p.on_ready(retry);
        let lost = retry + 10 * SEC;
        let again = p.on_failure(lost, Failure::Heartbeat);
        assert_eq!(p.failures(), 1);
        assert!(again - lost <= 100 * MS);
        // A configurable period.
        let mut quick = ReconnectPolicy::with_seed(6).with_healthy_after(SEC);
        quick.on_failure(start, Failure::Connect);
        quick.on_ready(start);
        quick.on_failure(start + SEC, Failure::Lost);
        assert_eq!(quick.failures(), 1);
    }

    #[test]
    fn refresh_resets_during_a_long_session() {
        let start = Instant::now();
        let mut p = ReconnectPolicy::with_seed(7);
        let ready = p.on_failure(start, Failure::Connect);
        assert_eq!(p.healthy_at(), None);
        p.on_ready(ready);
        assert!(!p.refresh(ready + 9 * SEC));
        assert_eq!(p.failures(), 1);
        assert!(p.refresh(ready + 10 * SEC));
        assert_eq!(p.failures(), 0);
        // Still the same session: its end is judged healthy too.
        let lost = ready + 60 * SEC;
        let retry = p.on_failure(lost, Failure::Lost);
        assert_eq!(p.failures(), 1);
        assert!(retry - lost <= 100 * MS);
    }

    #[test]
    fn flaps_back_off_from_the_floor_and_double() {
        let start = Instant::now();
        for seed in 0..50 {
            let mut p = ReconnectPolicy::with_seed(seed);
            let mut now = start;
            for k in 0..10u32 {
                assert!(p.may_attempt(now));
                p.on_ready(now);
                let next = p.on_failure(now, Failure::Lost);
                let ceiling = (1600 * MS * 2u32.pow(k.min(5))).min(30 * SEC);
                let gap = next - now;
                assert!(
                    ceiling / 2 <= gap && gap <= ceiling,
                    "seed={seed} flap {k}: {gap:?} for {ceiling:?}"
                );
                now = next;
            }
        }
    }

    #[test]
    fn connect_without_login_keeps_backing_off() {
        // A server that accepts TCP and then drops the login must still trip
        // the breaker: on_connected resets nothing.
        let start = Instant::now();
        let mut p = classic(6);
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
    fn auth_failures_never_retry_before_the_floor_and_are_jittered() {
        let start = Instant::now();
        let mut p = ReconnectPolicy::with_seed(8);
        let mut now = start;
        let mut gaps = Vec::new();
        for _ in 0..20 {
            assert!(p.may_attempt(now));
            let next = p.on_failure(now, Failure::AuthFailed);
            let gap = next - now;
            // With the defaults the floor is the 30 s cap, plus up to half.
            assert!((30 * SEC..=45 * SEC).contains(&gap), "{gap:?}");
            assert!(!p.may_attempt(next - Duration::from_nanos(1)));
            gaps.push(gap);
            now = next;
        }
        assert!(gaps.iter().any(|g| *g != gaps[0]), "{gaps:?}");
        // Processes restarted together do not retry together.
        let firsts: Vec<_> = (0..20)
            .map(|seed| ReconnectPolicy::with_seed(seed).on_failure(start, Failure::AuthFailed))
            .collect();
        assert!(firsts.iter().any(|t| *t != firsts[0]));

        // A tiny backoff cap still waits the 5 s floor (up to 7.5 s).
        let tiny = Backoff::new(MS, 10 * MS, 1);
        let mut p = ReconnectPolicy::new(tiny, CircuitBreaker::new(100, COOLDOWN, 1));
        let next = p.on_failure(start, Failure::AuthFailed);
        let floor = ReconnectPolicy::AUTH_FAILURE_FLOOR;
        assert!((floor..=floor * 3 / 2).contains(&(next - start)));
        // Other failures with the same policy retry fast.
        let fast = p.on_failure(next, Failure::Connect);
        assert!(fast - next <= 10 * MS);
    }

    #[test]
    fn recovers_twice_after_heartbeat_deaths() {
        // PHP pitfall 3: heartbeat death -> reconnect -> healthy, twice; each
        // recovery starts from scratch.
        let start = Instant::now();
        let mut p = ReconnectPolicy::with_seed(9);
        p.on_ready(start);
        let mut now = start + 60 * SEC;
        for _ in 0..2 {
            let retry = p.on_failure(now, Failure::Heartbeat);
            assert_eq!(p.failures(), 1);
            assert!(retry - now <= 100 * MS);
            assert!(p.may_attempt(retry));
            p.on_connected();
            p.on_ready(retry);
            now = retry + 60 * SEC;
            assert!(p.refresh(now));
            assert_eq!(p.failures(), 0);
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

    #[test]
    fn huge_settings_do_not_panic() {
        let start = Instant::now();
        let backoff =
            Backoff::new(Duration::MAX, Duration::MAX, 1).bounded_by_outage(100, Duration::MAX);
        let breaker =
            CircuitBreaker::new(1, Duration::MAX, 1).scaled_by_outage(u32::MAX, Duration::MAX);
        let mut p = ReconnectPolicy::new(backoff, breaker).with_healthy_after(Duration::MAX);
        for failure in [Failure::Connect, Failure::AuthFailed, Failure::Lost] {
            p.on_ready(start);
            assert!(p.on_failure(start, failure) > start);
        }
        p.on_ready(start);
        assert!(!p.refresh(start));
        assert!(p.healthy_at().is_some_and(|t| t > start));
    }
}

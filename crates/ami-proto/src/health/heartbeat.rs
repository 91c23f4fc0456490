//! The idle-Ping schedule and missed-pong count, as a pure state machine.
//!
//! A half-open TCP connection (the peer vanished without a FIN) looks exactly
//! like a quiet server. So when nothing has arrived for `interval`, the
//! connection sends a `Ping`; if its answer does not come within
//! `pong_timeout`, that is a miss. A miss marks the link degraded, visibly,
//! without refusing sends or dropping events (PHP pitfall 7), and the next
//! Ping goes out at once. `max_misses` in a row declare the link dead.
//!
//! Any pong resets the miss count (PHP pitfall 3: the PHP client never reset
//! its counter, so a node that recovered was force-closed on every tick).

use std::time::{Duration, Instant};

use crate::deadline::instant_after;

/// What [`Heartbeat::handle_timeout`] asks the connection to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeartbeatAction {
    /// Nothing is due (an early or repeated wake-up).
    None,
    /// The link has been idle for `interval`: send a `Ping` action now, then
    /// call [`Heartbeat::ping_sent`], and [`Heartbeat::on_pong`] when its
    /// response arrives.
    SendPing,
    /// A pong did not arrive in time; `misses` in a row so far. Report the
    /// link as degraded; keep sending and delivering. The next Ping is due at
    /// once.
    Degraded {
        /// Consecutive missed pongs, at least 1 and below `max_misses`.
        misses: u32,
    },
    /// `max_misses` pongs in a row were missed: close the connection and let
    /// the reconnect policy take over. Reported once.
    Dead,
}

/// When to Ping an idle link, and when to give up on it.
///
/// Feed it every received byte ([`on_activity`](Self::on_activity)) and every
/// pong ([`on_pong`](Self::on_pong)); wake at
/// [`poll_timeout`](Self::poll_timeout) and call
/// [`handle_timeout`](Self::handle_timeout), which shrugs at early calls.
/// Use a fresh one (or [`reset`](Self::reset)) for each session.
///
/// # Examples
///
/// ```
/// use std::time::{Duration, Instant};
/// use ami_proto::{Heartbeat, HeartbeatAction};
///
/// let start = Instant::now();
/// let sec = Duration::from_secs(1);
/// let mut hb = Heartbeat::new(15 * sec, 10 * sec, 2, start);
/// let t = hb.poll_timeout().unwrap();
/// assert_eq!(t, start + 15 * sec);
/// assert_eq!(hb.handle_timeout(t), HeartbeatAction::SendPing);
/// hb.ping_sent(t);
/// hb.on_pong(t + sec);
/// assert!(!hb.is_degraded());
/// ```
#[derive(Clone, Debug)]
pub struct Heartbeat {
    interval: Duration,
    pong_timeout: Duration,
    max_misses: u32,
    /// When the link counts as idle and a Ping is due.
    idle_deadline: Instant,
    /// While a Ping is outstanding: when its pong counts as missed.
    pong_deadline: Option<Instant>,
    misses: u32,
    dead: bool,
}

impl Heartbeat {
    /// Starts the schedule at `now` (the connection's start): the first Ping
    /// is due at `now + interval` unless bytes arrive first.
    ///
    /// `max_misses` of 0 is raised to 1. The configuration default is a 15 s
    /// interval, the action timeout as `pong_timeout`, and 2 misses.
    pub fn new(interval: Duration, pong_timeout: Duration, max_misses: u32, now: Instant) -> Self {
        Heartbeat {
            interval,
            pong_timeout,
            max_misses: max_misses.max(1),
            idle_deadline: instant_after(now, interval),
            pong_deadline: None,
            misses: 0,
            dead: false,
        }
    }

    /// Records that bytes arrived at `now`: the idle Ping moves to
    /// `now + interval`.
    ///
    /// It does not answer an outstanding Ping; only its pong does.
    pub fn on_activity(&mut self, now: Instant) {
        self.idle_deadline = self.idle_deadline.max(instant_after(now, self.interval));
    }

    /// Records that the Ping was written at `now`: its pong is due by
    /// `now + pong_timeout`.
    ///
    /// [`handle_timeout`](Self::handle_timeout) already armed that deadline
    /// when it asked for the Ping; this restarts it from the real send time.
    pub fn ping_sent(&mut self, now: Instant) {
        if !self.dead {
            self.pong_deadline = Some(instant_after(now, self.pong_timeout));
        }
    }

    /// Records the Ping's response at `now`: the link is healthy, the miss
    /// count is 0 again, and the next Ping is an `interval` away.
    ///
    /// A pong after [`HeartbeatAction::Dead`] changes nothing: the session is
    /// being closed, and the next one starts with [`reset`](Self::reset).
    pub fn on_pong(&mut self, now: Instant) {
        if self.dead {
            return;
        }
        self.misses = 0;
        self.pong_deadline = None;
        self.on_activity(now);
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) has work:
    /// the pong deadline while a Ping is outstanding, else the idle deadline.
    /// `None` once dead. Ask again after any call.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.dead {
            return None;
        }
        Some(self.pong_deadline.unwrap_or(self.idle_deadline))
    }

    /// Fires whatever is due at `now`; early calls return
    /// [`HeartbeatAction::None`].
    ///
    /// On [`HeartbeatAction::SendPing`] the pong deadline is armed at
    /// `now + pong_timeout`, so a Ping that could not be written still counts
    /// as missed instead of being asked for again in a hot loop.
    pub fn handle_timeout(&mut self, now: Instant) -> HeartbeatAction {
        if self.dead {
            return HeartbeatAction::None;
        }
        match self.pong_deadline {
            Some(deadline) if now >= deadline => {
                self.pong_deadline = None;
                self.misses = self.misses.saturating_add(1);
                if self.misses >= self.max_misses {
                    self.dead = true;
                    HeartbeatAction::Dead
                } else {
                    // Probe again at once rather than after another idle
                    // interval: a degraded link should be confirmed quickly.
                    self.idle_deadline = now;
                    HeartbeatAction::Degraded {
                        misses: self.misses,
                    }
                }
            }
            Some(_) => HeartbeatAction::None,
            None if now >= self.idle_deadline => {
                self.pong_deadline = Some(instant_after(now, self.pong_timeout));
                HeartbeatAction::SendPing
            }
            None => HeartbeatAction::None,
        }
    }

    /// Starts over at `now` as if new: no misses, not dead, first Ping an
    /// `interval` away. Call it when a new session begins.
    pub fn reset(&mut self, now: Instant) {
        *self = Heartbeat::new(self.interval, self.pong_timeout, self.max_misses, now);
    }

    /// Consecutive missed pongs (0 when healthy).
    pub fn misses(&self) -> u32 {
        self.misses
    }

    /// Whether at least one pong in a row was missed (also true once dead).
    pub fn is_degraded(&self) -> bool {
        self.misses > 0
    }

    /// Whether [`HeartbeatAction::Dead`] has been reported.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// Whether a Ping is waiting for its pong.
    pub fn ping_outstanding(&self) -> bool {
        self.pong_deadline.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    fn hb(now: Instant) -> Heartbeat {
        Heartbeat::new(15 * SEC, 10 * SEC, 2, now)
    }

    /// Jumps to the next deadline and fires it, as an adapter would.
    fn step(h: &mut Heartbeat) -> (Instant, HeartbeatAction) {
        let t = h
            .poll_timeout()
            .expect("a live heartbeat always has a deadline");
        (t, h.handle_timeout(t))
    }

    #[test]
    fn idle_ping_pong_healthy() {
        let start = Instant::now();
        let mut h = hb(start);
        assert_eq!(h.poll_timeout(), Some(start + 15 * SEC));
        let (t, action) = step(&mut h);
        assert_eq!((t, action), (start + 15 * SEC, HeartbeatAction::SendPing));
        h.ping_sent(t);
        assert!(h.ping_outstanding());
        assert_eq!(h.poll_timeout(), Some(t + 10 * SEC));
        h.on_pong(t + SEC);
        assert!(!h.ping_outstanding());
        assert_eq!(
            (h.misses(), h.is_degraded(), h.is_dead()),
            (0, false, false)
        );
        assert_eq!(h.poll_timeout(), Some(t + 16 * SEC));
        // Healthy and idle: the cycle repeats.
        assert_eq!(step(&mut h).1, HeartbeatAction::SendPing);
    }

    #[test]
    fn early_calls_do_nothing() {
        let start = Instant::now();
        let mut h = hb(start);
        assert_eq!(h.handle_timeout(start), HeartbeatAction::None);
        assert_eq!(
            h.handle_timeout(start + 15 * SEC - Duration::from_nanos(1)),
            HeartbeatAction::None
        );
        let t = start + 15 * SEC;
        assert_eq!(h.handle_timeout(t), HeartbeatAction::SendPing);
        h.ping_sent(t);
        // While the pong is awaited, wake-ups before its deadline do nothing,
        // and the idle deadline does not ask for a second Ping.
        assert_eq!(h.handle_timeout(t), HeartbeatAction::None);
        assert_eq!(h.handle_timeout(t + 9 * SEC), HeartbeatAction::None);
        assert_eq!(h.misses(), 0);
    }

    #[test]
    fn silence_degrades_then_kills_with_two_misses() {
        let start = Instant::now();
        let mut h = hb(start);
        let (t1, a) = step(&mut h);
        assert_eq!(a, HeartbeatAction::SendPing);
        h.ping_sent(t1);
        let (t2, a) = step(&mut h);
        assert_eq!(
            (t2, a),
            (t1 + 10 * SEC, HeartbeatAction::Degraded { misses: 1 })
        );
        assert!(h.is_degraded() && !h.is_dead());
        // The next Ping is due at once.
        assert_eq!(h.poll_timeout(), Some(t2));
        assert_eq!(h.handle_timeout(t2), HeartbeatAction::SendPing);
        h.ping_sent(t2);
        let (t3, a) = step(&mut h);
        assert_eq!((t3, a), (t2 + 10 * SEC, HeartbeatAction::Dead));
        assert!(h.is_dead() && h.is_degraded());
        // Dead is reported once; no more deadlines.
        assert_eq!(h.poll_timeout(), None);
        assert_eq!(h.handle_timeout(t3 + 100 * SEC), HeartbeatAction::None);
        // Half-open TCP is caught within interval + 2 pong timeouts.
        assert_eq!(t3 - start, 35 * SEC);
    }

    #[test]
    fn pong_after_a_miss_recovers() {
        let start = Instant::now();
        let mut h = hb(start);
        let (t, _) = step(&mut h);
        h.ping_sent(t);
        assert_eq!(step(&mut h).1, HeartbeatAction::Degraded { misses: 1 });
        let (t, a) = step(&mut h);
        assert_eq!(a, HeartbeatAction::SendPing);
        h.ping_sent(t);
        h.on_pong(t + 2 * SEC);
        assert_eq!((h.misses(), h.is_degraded()), (0, false));
        // A later single miss is "1" again, not "2": the count was reset.
        let (t, a) = step(&mut h);
        assert_eq!(a, HeartbeatAction::SendPing);
        h.ping_sent(t);
        assert_eq!(step(&mut h).1, HeartbeatAction::Degraded { misses: 1 });
        assert!(!h.is_dead());
    }

    #[test]
    fn activity_postpones_the_ping() {
        let start = Instant::now();
        let mut h = hb(start);
        h.on_activity(start + 10 * SEC);
        assert_eq!(h.poll_timeout(), Some(start + 25 * SEC));
        assert_eq!(h.handle_timeout(start + 15 * SEC), HeartbeatAction::None);
        // Activity never pulls the deadline earlier.
        h.on_activity(start + 5 * SEC);
        assert_eq!(h.poll_timeout(), Some(start + 25 * SEC));
        assert_eq!(
            h.handle_timeout(start + 25 * SEC),
            HeartbeatAction::SendPing
        );
    }

    #[test]
    fn activity_does_not_answer_an_outstanding_ping() {
        let start = Instant::now();
        let mut h = hb(start);
        let (t, _) = step(&mut h);
        h.ping_sent(t);
        h.on_activity(t + 5 * SEC);
        assert_eq!(h.poll_timeout(), Some(t + 10 * SEC));
        assert_eq!(step(&mut h).1, HeartbeatAction::Degraded { misses: 1 });
    }

    #[test]
    fn unsent_ping_still_times_out_instead_of_looping() {
        // The caller got SendPing but could not write it (and never called
        // ping_sent): the deadline moves on, and the miss is counted.
        let start = Instant::now();
        let mut h = hb(start);
        let (t, a) = step(&mut h);
        assert_eq!(a, HeartbeatAction::SendPing);
        assert_eq!(h.poll_timeout(), Some(t + 10 * SEC));
        assert_eq!(step(&mut h).1, HeartbeatAction::Degraded { misses: 1 });
    }

    #[test]
    fn ping_sent_restarts_the_pong_wait_from_the_real_send() {
        let start = Instant::now();
        let mut h = hb(start);
        let (t, _) = step(&mut h);
        h.ping_sent(t + 3 * SEC);
        assert_eq!(h.poll_timeout(), Some(t + 13 * SEC));
    }

    #[test]
    fn reset_after_death_is_healthy_again_twice() {
        // PHP pitfall 3: silence → dead → new session → healthy, twice.
        let start = Instant::now();
        let mut h = hb(start);
        let mut now: Instant;
        for _round in 0..2 {
            loop {
                let (t, a) = step(&mut h);
                now = t;
                match a {
                    HeartbeatAction::SendPing => h.ping_sent(t),
                    HeartbeatAction::Dead => break,
                    HeartbeatAction::Degraded { .. } | HeartbeatAction::None => {}
                }
            }
            assert!(h.is_dead());
            // A pong to the dead session is ignored.
            h.on_pong(now);
            assert!(h.is_dead());

            now += 5 * SEC;
            h.reset(now);
            assert_eq!(
                (h.misses(), h.is_dead(), h.ping_outstanding()),
                (0, false, false)
            );
            let (t, a) = step(&mut h);
            assert_eq!((t, a), (now + 15 * SEC, HeartbeatAction::SendPing));
            h.ping_sent(t);
            h.on_pong(t + SEC);
            assert!(!h.is_degraded());
        }
    }

    #[test]
    fn one_miss_allowed_means_first_miss_is_dead() {
        let start = Instant::now();
        let mut h = Heartbeat::new(SEC, SEC, 0, start);
        let (t, _) = step(&mut h);
        h.ping_sent(t);
        assert_eq!(step(&mut h).1, HeartbeatAction::Dead);
    }

    #[test]
    fn huge_durations_do_not_panic() {
        let start = Instant::now();
        let mut h = Heartbeat::new(Duration::MAX, Duration::MAX, 2, start);
        h.on_activity(start + SEC);
        assert_eq!(h.handle_timeout(start + 1000 * SEC), HeartbeatAction::None);
        h.ping_sent(start);
        h.on_pong(start);
        assert!(h.poll_timeout().is_some_and(|t| t > start));
    }
}

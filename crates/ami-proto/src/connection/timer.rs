//! The connection's deadlines as one small table.
//!
//! Per-action deadlines live in the correlation table's heap; the rest are
//! here. `poll_timeout` is the minimum of both.

use std::time::Instant;

/// A connection-level deadline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Timer {
    /// Banner, challenge and login must be done by then.
    Login,
    /// The heartbeat's next step (idle Ping or pong deadline).
    Heartbeat,
}

const TIMERS: [Timer; 2] = [Timer::Login, Timer::Heartbeat];

/// When each [`Timer`] fires, if armed.
#[derive(Clone, Debug, Default)]
pub(crate) struct TimerTable {
    at: [Option<Instant>; TIMERS.len()],
}

impl TimerTable {
    pub(crate) fn set(&mut self, timer: Timer, at: Option<Instant>) {
        self.at[timer as usize] = at;
    }

    /// The earliest armed deadline.
    pub(crate) fn next(&self) -> Option<Instant> {
        self.at.iter().flatten().min().copied()
    }

    /// The timers due at `now`, disarmed as they are returned.
    pub(crate) fn expired(&mut self, now: Instant) -> impl Iterator<Item = Timer> + '_ {
        TIMERS.into_iter().filter(move |&t| {
            let due = self.at[t as usize].is_some_and(|at| at <= now);
            if due {
                self.at[t as usize] = None;
            }
            due
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn next_is_the_minimum_and_expired_disarms() {
        let now = Instant::now();
        let mut t = TimerTable::default();
        assert_eq!(t.next(), None);
        t.set(Timer::Heartbeat, Some(now + Duration::from_secs(2)));
        t.set(Timer::Login, Some(now + Duration::from_secs(1)));
        assert_eq!(t.next(), Some(now + Duration::from_secs(1)));
        let due: Vec<_> = t.expired(now + Duration::from_secs(1)).collect();
        assert_eq!(due, vec![Timer::Login]);
        assert_eq!(t.next(), Some(now + Duration::from_secs(2)));
    }
}

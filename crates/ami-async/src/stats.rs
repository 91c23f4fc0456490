//! The client's counters.

use std::time::Instant;

use ami_proto::{BreakerState, Stats};

/// Counters of a client: the current session's core counters plus what the
/// supervisor and the event streams add.
///
/// The counters that go with a state change are updated before the state
/// is published: a caller that sees `Ready` finds its session counted in
/// `sessions`, one that sees a failed attempt's `Closed` finds it in
/// `failed_attempts`, with `breaker` and `next_attempt` already saying when
/// the next attempt comes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// The current (or last) session's core counters. A new session starts
    /// them from zero.
    pub session: Stats,
    /// Sessions that logged in.
    pub sessions: u64,
    /// Sessions that logged in after the first one.
    pub reconnects: u64,
    /// Attempts that failed before logging in (connect or login).
    pub failed_attempts: u64,
    /// The reconnect circuit breaker, as of the last attempt or failure.
    pub breaker: BreakerState,
    /// Events put into subscriber queues (an event given to two streams
    /// counts twice). Counted once a batch is queued, so a stream may hand
    /// out an event a moment before this counts it; a snapshot taken after
    /// an answer that came later than the events counts them all.
    pub events_delivered: u64,
    /// Events subscriber queues dropped because they were full.
    pub events_dropped: u64,
    /// When the supervisor will try to connect again, while it waits
    /// (backoff and circuit breaker); `None` while a session is up or an
    /// attempt is under way, and once the client has closed.
    pub next_attempt: Option<Instant>,
}

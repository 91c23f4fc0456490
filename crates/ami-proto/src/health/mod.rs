//! Link health policy: heartbeat, reconnect backoff, and the circuit breaker.
//!
//! Each piece is a small state machine fed with `now: Instant` and seeded
//! randomness, so a test moves time with one call and replays the same jitter.
//! [`heartbeat`] decides when to Ping an idle link and when it is dead;
//! [`backoff`] and [`breaker`] decide when to try again; [`reconnect`] joins
//! those two into the one policy a supervisor asks after each failure
//! (invariant 8), and resets it only once a session has stayed healthy
//! (invariant 13).

pub(crate) mod backoff;
pub(crate) mod breaker;
pub(crate) mod heartbeat;
pub(crate) mod reconnect;

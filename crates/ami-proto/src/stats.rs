//! Plain counters of one connection, for dashboards and tests.

/// A snapshot of a connection's counters. Cheap to copy; take one with
/// [`crate::Connection::stats`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Bytes received from the server.
    pub bytes_in: u64,
    /// Bytes the socket took ([`crate::Connection::advance`]).
    pub bytes_out: u64,
    /// Frames decoded (banner excluded).
    pub frames: u64,
    /// Responses decoded.
    pub responses: u64,
    /// Events decoded.
    pub events: u64,
    /// Events delivered to the event queue.
    pub events_queued: u64,
    /// Events dropped because the queue was full: by its policy, or by
    /// the adapter ([`crate::Connection::drop_event`]).
    pub events_dropped_full: u64,
    /// Events dropped because they exceeded the frame limit.
    pub events_dropped_oversized: u64,
    /// Frames skipped for exceeding their limit.
    pub oversized_frames: u64,
    /// Garbage runs discarded (resynchronised at the next frame).
    pub garbage: u64,
    /// Responses that did not match the expected order or any action.
    pub desyncs: u64,
    /// Actions sent.
    pub actions_sent: u64,
    /// Actions completed successfully.
    pub actions_ok: u64,
    /// Actions completed with an error (server error, timeout, lost...).
    pub actions_failed: u64,
    /// Actions that timed out (counted in `actions_failed` too).
    pub timeouts: u64,
    /// Actions the caller cancelled ([`crate::Connection::cancel`]),
    /// counted in `actions_failed` too: subtract them to see the failures
    /// the server or the network caused.
    pub cancelled: u64,
    /// Actions awaiting completion now.
    pub pending: u64,
    /// Events waiting in the queue now.
    pub queue_depth: u64,
    /// Highest queue depth seen.
    pub queue_high_water: u64,
    /// Bytes waiting to be written now.
    pub write_buffered: u64,
    /// Heartbeat pings sent.
    pub heartbeats: u64,
    /// Heartbeat pongs missed.
    pub heartbeat_misses: u64,
}

//! Fault injection for [`crate::TcpServer`]: what a hostile network or a
//! misbehaving Asterisk does to a client.

use std::time::Duration;

/// An event flood started right after a successful login.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Flood {
    /// How many events to send (realistic 300–900-byte call events from
    /// [`crate::TrafficSim`]).
    pub events: u64,
    /// Events per second, or `None` for as fast as the socket takes them.
    pub rate_per_sec: Option<u64>,
    /// Finish with `Event: BenchDone` (carrying `Events: <n>`), which is not
    /// counted in `events`.
    pub then_done: bool,
}

impl Faults {
    /// No fault but a flood of `events` sent as fast as the socket takes
    /// them, ended by `Event: BenchDone`: what most flood tests and
    /// benchmarks want.
    pub fn flood(events: u64) -> Faults {
        Faults {
            flood: Some(Flood {
                events,
                rate_per_sec: None,
                then_done: true,
            }),
            ..Faults::default()
        }
    }
}

/// Faults applied by [`crate::TcpServer`] to each connection it accepts
/// (a snapshot is taken at accept time). All off by default.
///
/// Frame counting (`garbage_every`, `truncate_after_frames`) covers the
/// frames of the session (responses, its events, injected blobs), not the
/// banner and not flood events.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Faults {
    /// Split every write into chunks of at most this many bytes (1 = byte by
    /// byte; 0 is treated as 1).
    pub write_chunk: Option<usize>,
    /// Sleep this long after each chunk written.
    pub write_delay: Option<Duration>,
    /// Before every N-th frame, send a garbage blob (a colon-less line and a
    /// blank line, which a decoder must skip with one counted error).
    pub garbage_every: Option<u32>,
    /// After this many whole frames, send the first half of the next frame
    /// and close the connection.
    pub truncate_after_frames: Option<u32>,
    /// Right after login, send one `Event: Oversized` of about this many
    /// bytes (80-byte `Filler:` lines), if the session receives events.
    pub oversized_event_bytes: Option<usize>,
    /// Right after login (and after the oversized event, if any), flood.
    /// Sent only while the session receives events: not after a login with
    /// `Events: off`, and it stops when the client turns them off.
    pub flood: Option<Flood>,
    /// After the login response, never read from the socket again (the
    /// client's writes back up in the kernel buffers).
    pub stop_reading_after_login: bool,
    /// After the login response, answer nothing (and send no events) while
    /// keeping the socket open: a half-open connection.
    pub silence_after_login: bool,
    /// Refuse connections: the listener is closed while this is set, so a
    /// connect fails at once with "connection refused"; clearing it rebinds
    /// the same port.
    pub refuse_connections: bool,
    /// Close each connection this long after it was accepted (a flapping server).
    pub drop_after: Option<Duration>,
    /// Wait this long after accepting before sending the banner.
    pub accept_delay: Option<Duration>,
    /// Close the connection in the middle of the TLS handshake: after the
    /// ClientHello, send half of the server's first flight, then close.
    /// Without TLS, close right after accepting (no banner).
    pub close_mid_handshake: bool,
}

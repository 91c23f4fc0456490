//! One error enum per layer, each named for who is at fault and when.

use std::io;
use std::time::Duration;

use bytes::Bytes;

/// A problem in the bytes the server sent. The decoder has already recovered
/// from it (skipped or resynchronised); the connection stays usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// A frame exceeded the configured limit; its bytes were skipped to the
    /// next frame boundary with bounded memory. Raise `max_frame` (or the
    /// action's output limit) if such frames are legitimate.
    #[error("frame of {size} bytes exceeds the limit of {limit} bytes; skipped")]
    FrameTooLarge {
        /// Bytes skipped, terminator included.
        size: usize,
        /// The limit in force for this frame.
        limit: usize,
        /// Whether the frame started as a `Response:` (else an event or unknown).
        response: bool,
        /// The frame's ActionID, when it appeared within the limit.
        action_id: Option<Bytes>,
    },
    /// Bytes that are not a frame (a non-`Key: Value` first line after the
    /// banner) were discarded up to the next blank line.
    #[error("{skipped} bytes of garbage discarded before the next frame")]
    Garbage {
        /// Bytes discarded.
        skipped: usize,
    },
}

/// An action refused by [`Connection::send`](crate::Connection::send) before
/// anything was queued. Fix the action or wait for capacity; nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// A header name or value contains CR or LF, which would inject a second
    /// action. Remove the line break.
    #[error("header {name:?} contains CR or LF")]
    LineBreak {
        /// The header's name (lossy, without the offending value).
        name: String,
    },
    /// A header name is empty or contains `:`.
    #[error("invalid header name {name:?}")]
    InvalidName {
        /// The header's name (lossy).
        name: String,
    },
    /// A request line exceeds the server's 1,024-byte line limit.
    #[error("header {name:?} makes a {len}-byte line; the server accepts at most {max}")]
    LineTooLong {
        /// The header's name.
        name: String,
        /// The line's length in bytes, CRLF included.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The action has more lines than the server's 128-line limit.
    #[error("action has {lines} lines; the server accepts at most {max}")]
    TooManyLines {
        /// Lines the action would take.
        lines: usize,
        /// The limit.
        max: usize,
    },
    /// A parameter that every Asterisk version documenting the action
    /// requires is missing (see [`Action::check_required`](crate::Action::check_required)):
    /// the server would only refuse it. Actions the catalogue does not know
    /// are never refused so.
    #[error("{action} requires the {parameter} parameter")]
    MissingParameter {
        /// The action, as Asterisk spells it.
        action: &'static str,
        /// The missing parameter, as Asterisk's docs spell it.
        parameter: &'static str,
    },
    /// The caller's ActionID ([`Action::with_action_id`](crate::Action::with_action_id))
    /// is empty, holds a byte outside printable ASCII (`!` to `~`: a space,
    /// a control character, a line break, non-ASCII), or the action carries
    /// more than one (`id` is the second). Choose another.
    #[error("invalid ActionID {id:?}: 1 to max_action_id bytes of printable ASCII, once")]
    InvalidActionId {
        /// The offending id (shown with escapes).
        id: String,
    },
    /// The caller's ActionID is longer than
    /// [`Config::max_action_id`](crate::Config::max_action_id): servers keep
    /// only so much of one, and a cut id would match nothing. Shorten it.
    #[error("ActionID of {len} bytes; at most {max}")]
    ActionIdTooLong {
        /// The id's length in bytes.
        len: usize,
        /// The limit in force.
        max: usize,
    },
    /// Another action of this connection is pending under the caller's
    /// ActionID (or timed out and may still be answered): its answers
    /// would be indistinguishable. Wait for it, or choose another id.
    #[error("ActionID {id:?} is already pending on this connection")]
    DuplicateActionId {
        /// The id.
        id: String,
    },
    /// The pending-action table is full. Wait for completions.
    #[error("{max} actions already pending")]
    TooManyPending {
        /// The table's bound.
        max: usize,
    },
    /// The write buffer cannot take the action. The server is not reading:
    /// wait for the buffer to drain (back-pressure) or give up.
    #[error("write buffer full ({buffered} of {max} bytes)")]
    WriteBufferFull {
        /// Bytes already queued.
        buffered: usize,
        /// The buffer's bound.
        max: usize,
    },
    /// The connection is not logged in (still logging in, or closed).
    #[error("connection is not ready ({state})")]
    NotReady {
        /// The state it is in.
        state: &'static str,
    },
    /// An async `Originate` (one that completes with its `OriginateResponse`
    /// event) on a session that receives no call events: the event would
    /// never arrive and the action could only time out. The payload says
    /// which setting turned them off. Send it synchronously, or on a session
    /// that logged in with `call` in its `Events`, or send `Events` with a
    /// mask including `call` first.
    ///
    /// The library knows only the login's `Events` value and the `Events`
    /// actions this session sent and the server accepted. It cannot know
    /// the AMI user's `read` permissions in `manager.conf` (events are
    /// filtered by them too), `eventfilter` lines there, `Filter` actions,
    /// or the effect of an `Events` action whose answer never came: in those
    /// cases the Originate is sent and, without its event, ends in
    /// [`ActionError::Timeout`].
    #[error("async Originate refused: its OriginateResponse would never arrive: {0}")]
    NoCallEvents(CallEventsOff),
}

/// Why a session receives no call events (see [`SendError::NoCallEvents`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CallEventsOff {
    /// The login's `Events` value ([`Config::events`](crate::Config::events))
    /// leaves out the `call` class (`off`, or a mask without `call`, `all`
    /// or `on`).
    #[error("the session logged in with `Events: {events}`, which has no call events")]
    Login {
        /// The login's `Events` value.
        events: String,
    },
    /// An `Events` action this session sent, which the server accepted,
    /// set a mask without the `call` class.
    #[error("an accepted `Events` action set `EventMask: {mask}`, which has no call events")]
    EventsAction {
        /// Its `EventMask` value.
        mask: String,
    },
}

/// How an action ended, when it did not end well. Every action completes
/// exactly once, with a result or one of these; none is ever a guess.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// The server answered `Response: Error`; `message` is its `Message`.
    #[error("server error: {message}")]
    Server {
        /// The server's `Message` header (empty when it sent none).
        message: String,
    },
    /// The server answered with a status that is not success for this
    /// action: `Failure` (which some modules send), a word this library does
    /// not know, an empty one, or `Goodbye` / `Follows` to an action other
    /// than `Logoff` / `Command`. Only `Success` (and those two) succeed.
    ///
    /// Treat it as a refusal, as `Server`: `message` says why in the
    /// server's words. Whether a module acted before answering so depends on
    /// the module; check before repeating side effects.
    #[error("server answered {status:?}: {message}")]
    Failed {
        /// The `Response` header's value, verbatim (lossy UTF-8).
        status: String,
        /// The server's `Message` header and any output lines, as for
        /// `Server` (empty when it sent none).
        message: String,
    },
    /// No (complete) answer within the action's timeout. The server may
    /// still have carried it out: check before repeating side effects.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// The connection closed before the action completed. The server may or
    /// may not have carried it out.
    #[error("connection lost before completion")]
    ConnectionLost,
    /// The answer (or the collected list or Command output) exceeded its
    /// limit and was discarded.
    #[error("reply exceeded the limit of {limit} bytes")]
    FrameTooLarge {
        /// The limit in force.
        limit: usize,
    },
    /// The caller cancelled the action; a late answer is ignored.
    #[error("cancelled")]
    Cancelled,
    /// The server's answers could not be matched to this action.
    #[error("answer could not be correlated: {0}")]
    Desync(String),
}

impl From<ActionError> for io::Error {
    fn from(err: ActionError) -> Self {
        let kind = match err {
            ActionError::Timeout(_) => io::ErrorKind::TimedOut,
            ActionError::ConnectionLost => io::ErrorKind::ConnectionAborted,
            ActionError::Cancelled => io::ErrorKind::Interrupted,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, err)
    }
}

/// Why a login did not succeed. Authentication failures are not worth an
/// immediate retry: the server delays and closes on each.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LoginError {
    /// The server refused the credentials. Retrying with the same ones will
    /// fail again: back off hard, alert a person.
    #[error("authentication failed: {0}")]
    AuthenticationFailed(String),
    /// The server refused the login for another reason (e.g. the Challenge).
    #[error("login refused: {0}")]
    Refused(String),
    /// The Challenge or Login was answered with a status other than
    /// `Success` or `Error` (`Failure`, an unknown word): not logged in.
    #[error("login answered {status:?}: {message}")]
    Failed {
        /// The `Response` header's value, verbatim (lossy UTF-8).
        status: String,
        /// The server's `Message` header (empty when it sent none).
        message: String,
    },
    /// No banner, challenge or login answer within the login timeout.
    #[error("login timed out")]
    Timeout,
    /// The connection closed during login.
    #[error("connection closed during login")]
    ConnectionLost,
    /// The first line was not an AMI banner: wrong port or protocol.
    #[error("not an AMI server (banner {0:?})")]
    BadBanner(String),
}

/// Configuration rejected when built: limits are validated together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A value is outside its allowed range.
    #[error("{name} = {value} is outside {min}..={max}")]
    OutOfRange {
        /// The option's name.
        name: &'static str,
        /// The given value.
        value: u64,
        /// The lowest allowed value.
        min: u64,
        /// The highest allowed value.
        max: u64,
    },
    /// Two options contradict each other.
    #[error("{0}")]
    Inconsistent(String),
}

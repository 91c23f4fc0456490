//! How an action completes: one response, an event list, Command output, or
//! an async Originate outcome.

use std::fmt;

use bytes::Bytes;

use crate::message::{Event, Response};

/// When an action counts as complete. Chosen per action from its name and
/// headers ([`crate::Action::strategy`]); override with
/// [`crate::Action::with_strategy`].
///
/// Whatever the strategy, only a `Success` response succeeds (and `Goodbye`
/// to `Logoff`, legacy `Follows` to `Command`): `Error` completes the action
/// with [`ActionError::Server`](crate::ActionError::Server), any other status
/// with [`ActionError::Failed`](crate::ActionError::Failed), at once.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Strategy {
    /// The response completes it. (A response with `EventList: start` still
    /// collects its list: its items must not leak out as stray events.)
    Single,
    /// A response, then item events carrying the action's ActionID up to the
    /// list's end: an event with `EventList: Complete`, or one whose name
    /// ends in `Complete` (servers before 13.2 send only that). Collected
    /// whether or not the response says `EventList: start`; a list that does
    /// not end within the action's timeout is `Err(Timeout)`, never a partial
    /// or empty success.
    List,
    /// `Command`: output as `Output:` headers or a legacy `Follows` body,
    /// under its own size limit.
    Command,
    /// Async `Originate`: the `Success` response only acknowledges; the
    /// `OriginateResponse` event with the same ActionID completes it.
    Originate,
}

/// What a successful action produced.
///
/// `Debug` hides secrets per the redaction policy of the connection that
/// produced it, Command output lines included.
#[derive(Clone)]
#[non_exhaustive]
pub enum Completion {
    /// A single response.
    Response(Response),
    /// An event list: the opening response, every item, and the closing event.
    /// A list completes only at its end; one cut short by the timeout, the
    /// item limits or the connection's end is an error instead.
    List {
        /// The response that opened the list.
        response: Response,
        /// The item events, in order (each carries the action's ActionID):
        /// slices of their receive chunks, so [`Event::detach`] those kept
        /// for long.
        items: Vec<Event>,
        /// The `...Complete` event. Always `Some` from a [`crate::Connection`].
        complete: Option<Event>,
    },
    /// Command output, one entry per line, either style.
    Command {
        /// The response carrying (or preceding) the output.
        response: Response,
        /// The output lines without line ends.
        lines: Vec<Bytes>,
    },
    /// The outcome of an async Originate.
    Originate(OriginateOutcome),
}

impl Completion {
    /// The response that answered the action.
    pub fn response(&self) -> &Response {
        match self {
            Completion::Response(r) => r,
            Completion::List { response, .. } | Completion::Command { response, .. } => response,
            Completion::Originate(o) => &o.response,
        }
    }
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Completion::Response(r) => f.debug_tuple("Response").field(r).finish(),
            Completion::List {
                response,
                items,
                complete,
            } => f
                .debug_struct("List")
                .field("response", response)
                .field("items", items)
                .field("complete", complete)
                .finish(),
            Completion::Command { response, lines } => {
                // Output lines are `Output` values: shown as the response's
                // headers are, under the same policy.
                let policy = response.headers().redaction();
                let lines = lines.iter().map(|l| policy.apply("Output", l));
                f.debug_struct("Command")
                    .field("response", response)
                    .field("lines", &lines.collect::<Vec<_>>())
                    .finish()
            }
            Completion::Originate(o) => f.debug_tuple("Originate").field(o).finish(),
        }
    }
}

/// The end of an async Originate: the acknowledging response and the
/// `OriginateResponse` event. A failed call is still a completed action:
/// check [`OriginateOutcome::is_success`] and [`OriginateOutcome::reason`].
#[derive(Clone, Debug)]
pub struct OriginateOutcome {
    /// The `Success` response that queued the call.
    pub response: Response,
    /// The `OriginateResponse` event.
    pub event: Event,
}

impl OriginateOutcome {
    /// Whether the event says `Response: Success`.
    pub fn is_success(&self) -> bool {
        self.event
            .get("Response")
            .is_some_and(|v| v.eq_ignore_ascii_case(b"Success"))
    }

    /// The `Reason` code (0 failed, 1 hung up, 3 ringing, 4 answered, 5 busy,
    /// 8 congestion), when present and numeric.
    pub fn reason(&self) -> Option<u32> {
        std::str::from_utf8(self.event.get("Reason")?)
            .ok()?
            .trim()
            .parse()
            .ok()
    }
}

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

/// Accessors, so that a caller who knows what its action answers with reads
/// it without matching this `#[non_exhaustive]` enum (and its catch-all
/// arm). Each answers `None` for the other kinds.
///
/// # Examples
///
/// ```
/// # fn show(done: ami_proto::Completion) {
/// if let Some(items) = done.list_items() {
///     for item in items {
///         println!("{:?}", item.get_str("Channel"));
///     }
/// } else if let Some(lines) = done.command_lines() {
///     for line in lines {
///         println!("{}", String::from_utf8_lossy(line));
///     }
/// } else if let Some(call) = done.originate() {
///     println!("answered: {}", call.is_success());
/// }
/// # }
/// ```
impl Completion {
    /// The response that answered the action (every kind has one: a list's
    /// opening response, the one carrying Command output, an Originate's
    /// acknowledgement).
    pub fn response(&self) -> &Response {
        match self {
            Completion::Response(r) => r,
            Completion::List { response, .. } | Completion::Command { response, .. } => response,
            Completion::Originate(o) => &o.response,
        }
    }

    /// An event list's items, in order (without the closing event); `None`
    /// unless this is [`Completion::List`].
    pub fn list_items(&self) -> Option<&[Event]> {
        match self {
            Completion::List { items, .. } => Some(items),
            _ => None,
        }
    }

    /// The items of an event list, taken out of it; `None` unless this is
    /// [`Completion::List`].
    pub fn into_list_items(self) -> Option<Vec<Event>> {
        match self {
            Completion::List { items, .. } => Some(items),
            _ => None,
        }
    }

    /// The event that ended an event list (`...Complete`); `None` unless
    /// this is [`Completion::List`].
    pub fn list_complete(&self) -> Option<&Event> {
        match self {
            Completion::List { complete, .. } => complete.as_ref(),
            _ => None,
        }
    }

    /// Command output, one entry per line without its line end (blank lines
    /// kept); `None` unless this is [`Completion::Command`].
    pub fn command_lines(&self) -> Option<&[Bytes]> {
        match self {
            Completion::Command { lines, .. } => Some(lines),
            _ => None,
        }
    }

    /// An async Originate's outcome (a call that failed is still an
    /// outcome: check [`OriginateOutcome::is_success`]); `None` unless this
    /// is [`Completion::Originate`].
    pub fn originate(&self) -> Option<&OriginateOutcome> {
        match self {
            Completion::Originate(outcome) => Some(outcome),
            _ => None,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Decoder;
    use crate::message::Frame;

    /// The frames of `wire`, a stream without a banner.
    fn frames(wire: &str) -> Vec<Frame> {
        let mut decoder = Decoder::without_banner(1 << 16);
        decoder.push(wire.as_bytes());
        std::iter::from_fn(|| decoder.next_frame())
            .map(|f| f.expect("a valid frame"))
            .collect()
    }

    fn response(wire: &str) -> Response {
        match frames(wire).remove(0) {
            Frame::Response(r) => r,
            other => panic!("not a response: {other:?}"),
        }
    }

    fn event(wire: &str) -> Event {
        match frames(wire).remove(0) {
            Frame::Event(e) => e,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[test]
    fn accessors_answer_for_their_kind_only() {
        let ok = || response("Response: Success\r\nActionID: a-1\r\n\r\n");
        let single = Completion::Response(ok());
        assert_eq!(single.response().action_id(), Some(&b"a-1"[..]));
        assert!(single.list_items().is_none() && single.list_complete().is_none());
        assert!(single.command_lines().is_none() && single.originate().is_none());

        let item = event("Event: CoreShowChannel\r\nActionID: a-1\r\nChannel: PJSIP/1\r\n\r\n");
        let end = event("Event: CoreShowChannelsComplete\r\nActionID: a-1\r\n\r\n");
        let list = Completion::List {
            response: ok(),
            items: vec![item.clone(), item],
            complete: Some(end),
        };
        let items = list.list_items().expect("a list");
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].get("Channel"), Some(&b"PJSIP/1"[..]));
        assert!(list
            .list_complete()
            .is_some_and(|e| e.is("CoreShowChannelsComplete")));
        assert!(list.command_lines().is_none() && list.originate().is_none());

        let lines = vec![Bytes::from_static(b"line 1"), Bytes::new()];
        let command = Completion::Command {
            response: ok(),
            lines,
        };
        assert_eq!(
            command.command_lines().map(<[Bytes]>::len),
            Some(2),
            "blank lines are kept"
        );
        assert!(command.list_items().is_none() && command.originate().is_none());

        let outcome = OriginateOutcome {
            response: ok(),
            event: event("Event: OriginateResponse\r\nActionID: a-1\r\nResponse: Success\r\nReason: 4\r\n\r\n"),
        };
        let originate = Completion::Originate(outcome);
        let outcome = originate.originate().expect("an Originate outcome");
        assert!(outcome.is_success());
        assert_eq!(outcome.reason(), Some(4));
        assert_eq!(originate.response().action_id(), Some(&b"a-1"[..]));
        assert!(originate.list_items().is_none() && originate.command_lines().is_none());
    }

    #[test]
    fn into_list_items_hands_the_items_over() {
        let item = event("Event: PeerEntry\r\nActionID: a-2\r\n\r\n");
        let list = Completion::List {
            response: response("Response: Success\r\nActionID: a-2\r\n\r\n"),
            items: vec![item],
            complete: None,
        };
        assert_eq!(list.into_list_items().map(|items| items.len()), Some(1));
        let single = Completion::Response(response("Response: Success\r\n\r\n"));
        assert!(single.into_list_items().is_none());
    }
}

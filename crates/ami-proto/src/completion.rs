//! How an action completes: one response, an event list, Command output, or
//! an async Originate outcome.

use std::fmt;

use bytes::Bytes;

use crate::list_items::ListItems;
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
/// The kinds that carry more than a response are boxed, so a `Completion`
/// (and a `Result` of one) is the size of a [`Response`]: an outcome is
/// moved several times between the connection and its caller, and a single
/// response, by far the most common answer, then moves without a copy
/// routine.
///
/// `Debug` hides secrets per the redaction policy of the connection that
/// produced it, Command output lines included.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Completion {
    /// A single response.
    Response(Response),
    /// An event list: the opening response, every item, and the closing event.
    /// A list completes only at its end; one cut short by the timeout, the
    /// item limits or the connection's end is an error instead.
    List(Box<EventList>),
    /// Command output, one entry per line, either style.
    Command(Box<CommandOutput>),
    /// The outcome of an async Originate.
    Originate(Box<OriginateOutcome>),
}

/// A collected event list ([`Completion::List`]).
#[derive(Clone, Debug)]
pub struct EventList {
    /// The response that opened the list.
    pub response: Response,
    /// The item events, in order (each carries the action's ActionID):
    /// slices of their receive chunks, so [`Event::detach`] those kept
    /// for long.
    pub items: ListItems,
    /// The `...Complete` event. Always `Some` from a [`crate::Connection`].
    pub complete: Option<Event>,
}

/// A Command's output ([`Completion::Command`]).
#[derive(Clone)]
pub struct CommandOutput {
    /// The response carrying (or preceding) the output.
    pub response: Response,
    /// The output lines without line ends.
    pub lines: Vec<Bytes>,
}

impl From<EventList> for Completion {
    fn from(list: EventList) -> Self {
        Completion::List(Box::new(list))
    }
}

impl From<CommandOutput> for Completion {
    fn from(output: CommandOutput) -> Self {
        Completion::Command(Box::new(output))
    }
}

impl From<OriginateOutcome> for Completion {
    fn from(outcome: OriginateOutcome) -> Self {
        Completion::Originate(Box::new(outcome))
    }
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
            Completion::List(list) => &list.response,
            Completion::Command(output) => &output.response,
            Completion::Originate(outcome) => &outcome.response,
        }
    }

    /// An event list's items, in order (without the closing event); `None`
    /// unless this is [`Completion::List`].
    pub fn list_items(&self) -> Option<&ListItems> {
        match self {
            Completion::List(list) => Some(&list.items),
            _ => None,
        }
    }

    /// The items of an event list, taken out of it as events; `None`
    /// unless this is [`Completion::List`].
    pub fn into_list_items(self) -> Option<Vec<Event>> {
        match self {
            Completion::List(list) => Some(list.items.to_vec()),
            _ => None,
        }
    }

    /// The event that ended an event list (`...Complete`); `None` unless
    /// this is [`Completion::List`].
    pub fn list_complete(&self) -> Option<&Event> {
        match self {
            Completion::List(list) => list.complete.as_ref(),
            _ => None,
        }
    }

    /// Command output, one entry per line without its line end (blank lines
    /// kept); `None` unless this is [`Completion::Command`].
    pub fn command_lines(&self) -> Option<&[Bytes]> {
        match self {
            Completion::Command(output) => Some(&output.lines),
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

impl fmt::Debug for CommandOutput {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Output lines are `Output` values: shown as the response's headers
        // are, under the same policy.
        let policy = self.response.headers().redaction();
        let lines = self.lines.iter().map(|l| policy.apply("Output", l));
        f.debug_struct("CommandOutput")
            .field("response", &self.response)
            .field("lines", &lines.collect::<Vec<_>>())
            .finish()
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
        let list = Completion::from(EventList {
            response: ok(),
            items: ListItems::from(vec![item.clone(), item]),
            complete: Some(end),
        });
        let items = list.list_items().expect("a list");
        assert_eq!(items.len(), 2);
        let first = items.first().expect("two items");
        assert_eq!(first.get("Channel"), Some(&b"PJSIP/1"[..]));
        assert!(list
            .list_complete()
            .is_some_and(|e| e.is("CoreShowChannelsComplete")));
        assert!(list.command_lines().is_none() && list.originate().is_none());

        let lines = vec![Bytes::from_static(b"line 1"), Bytes::new()];
        let command = Completion::from(CommandOutput {
            response: ok(),
            lines,
        });
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
        let originate = Completion::from(outcome);
        let outcome = originate.originate().expect("an Originate outcome");
        assert!(outcome.is_success());
        assert_eq!(outcome.reason(), Some(4));
        assert_eq!(originate.response().action_id(), Some(&b"a-1"[..]));
        assert!(originate.list_items().is_none() && originate.command_lines().is_none());
    }

    #[test]
    fn into_list_items_hands_the_items_over() {
        let item = event("Event: PeerEntry\r\nActionID: a-2\r\n\r\n");
        let list = Completion::from(EventList {
            response: response("Response: Success\r\nActionID: a-2\r\n\r\n"),
            items: ListItems::from(vec![item]),
            complete: None,
        });
        assert_eq!(list.into_list_items().map(|items| items.len()), Some(1));
        let single = Completion::Response(response("Response: Success\r\n\r\n"));
        assert!(single.into_list_items().is_none());
    }

    /// An outcome is moved several times between the connection and its
    /// caller. On x86-64 the boxed kinds make `Completion` 80 bytes (168
    /// before), `Result<Completion, ActionError>` 80 (168) and `Output` 120
    /// (208): small enough to move without a call to `memcpy`.
    #[test]
    fn a_completion_is_little_more_than_a_response() {
        use std::mem::size_of;
        let response = size_of::<Response>();
        assert!(size_of::<Completion>() <= response + 8);
        assert!(size_of::<Result<Completion, crate::ActionError>>() <= response + 8);
    }
}

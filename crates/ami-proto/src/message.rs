//! Views over decoded frames: the banner, responses, events.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use bytes::Bytes;

use crate::headers::{self, Headers};
use crate::lines::{Found, NameSet};

/// One frame from the server, as the decoder found it: a slice of the
/// receive chunk it arrived in (see [`Message::detach`]).
#[derive(Clone, Debug)]
pub enum Frame {
    /// The first line, `Asterisk Call Manager/<version>`, without its line end.
    Banner(Bytes),
    /// A frame whose first header is `Response:`.
    Response(Response),
    /// A frame whose first header is `Event:`.
    Event(Event),
    /// Any other frame (for instance an `Action:` when decoding client bytes).
    Other(Message),
}

impl Frame {
    /// An owned, compact copy of the frame (see [`Message::detach`]).
    pub fn detach(&self) -> Frame {
        match self {
            Frame::Banner(line) => Frame::Banner(Bytes::copy_from_slice(line)),
            Frame::Response(r) => Frame::Response(r.detach()),
            Frame::Event(e) => Frame::Event(e.detach()),
            Frame::Other(m) => Frame::Other(m.detach()),
        }
    }
}

/// A decoded frame: ordered headers, plus the raw output text of a legacy
/// `Response: Follows` frame.
///
/// **Memory:** a frame from the decoder is a slice of the receive chunk it
/// arrived in (up to 64 KiB, or a whole `Bytes` handed to
/// [`crate::Decoder::push_bytes`]), so decoding copies nothing, and a frame
/// kept alive keeps that whole chunk alive. That is the right trade for
/// frames handled and dropped soon, which is most of them. To keep one for
/// long (a channel's last state, for hours), keep [`Message::detach`] of it:
/// one allocation of exactly its bytes.
#[derive(Clone)]
pub struct Message {
    headers: Headers,
    /// Boxed: only legacy Command output has it, and a list holds one
    /// message per item (see `tests::an_event_is_small`).
    follows: Option<Box<Bytes>>,
}

impl Message {
    pub(crate) fn new(headers: Headers, follows: Option<Bytes>) -> Self {
        let follows = follows.map(Box::new);
        Message { headers, follows }
    }

    /// Builds a message from `(name, value)` pairs (tests, simulators, FFI).
    ///
    /// # Panics
    ///
    /// As [`Headers::from_pairs`]: if a pair could not be read back from its line.
    pub fn from_pairs<'a, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        Message::new(Headers::from_pairs(pairs), None)
    }

    /// An owned, compact copy: exactly this frame's bytes (headers and any
    /// Follows text, in one allocation), sharing nothing with the receive
    /// chunk, so keeping it does not keep the chunk alive. Same headers,
    /// same look-ups, same `Debug`. Costs one copy of the frame.
    pub fn detach(&self) -> Message {
        let Some(follows) = &self.follows else {
            return Message::new(self.headers.detach(), None);
        };
        let raw = self.headers.raw();
        let mut both = Vec::with_capacity(raw.len() + follows.len());
        both.extend_from_slice(raw);
        both.extend_from_slice(follows);
        let both = Bytes::from(both);
        let headers = self.headers.with_buf(both.slice(..raw.len()));
        Message::new(headers, Some(both.slice(raw.len()..)))
    }

    /// The headers in wire order.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The headers, without the legacy Follows text (only a Command's
    /// response has any).
    pub(crate) fn into_headers(self) -> Headers {
        self.headers
    }

    /// The first value of `name` (ASCII-case-insensitive).
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.headers.get(name)
    }

    /// The first value of `name` as text (lossy UTF-8).
    pub fn get_str(&self, name: &str) -> Option<Cow<'_, str>> {
        self.headers.get_str(name)
    }

    /// The `ActionID` header, if any.
    pub fn action_id(&self) -> Option<&[u8]> {
        self.get("ActionID")
    }

    /// The headers a connection routes the frame by, found in one pass.
    #[inline]
    pub(crate) fn routing(&self) -> Routing<'_> {
        let [action_id, event_list] = self.headers.get_set::<2, RoutingNames>();
        Routing {
            action_id,
            event_list,
        }
    }

    /// [`Message::routing`], from where the decoder found the headers as
    /// it cut the frame: no second pass over its lines.
    #[inline]
    pub(crate) fn routing_from(&self, located: &Located) -> Routing<'_> {
        let raw = self.headers.raw();
        Routing {
            action_id: located_value(raw, located, 0),
            event_list: located_value(raw, located, 1),
        }
    }

    /// [`Message::routing`], from where the decoder `located` the headers
    /// if it did ([`Message::routing_from`]).
    ///
    /// Performance: inlined, as asked of every frame while an action is
    /// in the table (every list item).
    #[inline(always)]
    pub(crate) fn routing_located(&self, located: Option<&Located>) -> Routing<'_> {
        match located {
            Some(located) => self.routing_from(located),
            None => self.routing(),
        }
    }

    /// The `Message` header as text, if any.
    pub fn message(&self) -> Option<Cow<'_, str>> {
        self.get_str("Message")
    }

    /// The raw text between the headers and `--END COMMAND--` of a legacy
    /// (Asterisk <= 13) `Response: Follows` frame.
    pub fn follows_text(&self) -> Option<&Bytes> {
        self.follows.as_deref()
    }

    /// Command output lines: the legacy Follows text split on line ends, or
    /// else every `Output:` header (Asterisk >= 14).
    pub fn output_lines(&self) -> Box<dyn Iterator<Item = &[u8]> + '_> {
        match &self.follows {
            Some(text) => Box::new(split_lines(text)),
            None => Box::new(self.headers.get_all("Output")),
        }
    }

    /// The first header's name, which decides the kind (`Response`, `Event`, ...).
    pub fn first_name(&self) -> &[u8] {
        self.headers.iter().next().map(|(n, _)| n).unwrap_or(b"")
    }
}

/// The value of the `i`th routing header [`Message::routing_from`] finds
/// where the decoder `located` it in `raw`.
///
/// Performance: in line (as a closure it was called, twice per frame).
#[inline(always)]
fn located_value<'a>(raw: &'a [u8], located: &Located, i: usize) -> Option<&'a [u8]> {
    let colon = located.colons[i]? as usize;
    match located.line_ends[i] {
        Some(end) => Some(headers::strip_space(headers::trim_crs(
            &raw[colon + 1..end as usize],
        ))),
        None => headers::value_after(raw, colon),
    }
}

/// What a connection routes a frame by: its `ActionID` (the action it
/// answers) and `EventList` (whether it opens or ends a list) headers, the
/// values of [`Message::get`] of each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Routing<'a> {
    pub(crate) action_id: Option<&'a [u8]>,
    pub(crate) event_list: Option<&'a [u8]>,
}

/// The names [`Routing`] holds, in its order.
pub(crate) struct RoutingNames;

/// Where the decoder found a frame's [`RoutingNames`] (and, in an event,
/// its first line's end) while it searched for the frame's end, as offsets
/// into the frame (`Decoder::located`).
pub(crate) type Located = Found<2>;

impl NameSet<2> for RoutingNames {
    const NAMES: [&'static [u8]; 2] = [b"ActionID", b"EventList"];
}

/// The last of [`RoutingNames`] alone: what the search for the end of
/// each item of a run notes (the decoder's `take_run`), which finds the
/// item's `ActionID` apart ([`locate_action_id`]).
pub(crate) struct EventListName;

impl NameSet<1> for EventListName {
    const NAMES: [&'static [u8]; 1] = [b"EventList"];
}

/// Where an event's routing headers are ([`Located`]), given its lines
/// (`raw`, from its first, which starts `Event:`) and what the search for
/// its end from its start noted of its `EventList` ([`EventListName`]):
/// its `ActionID` is the first line so named, looked for first as its
/// second line, where Asterisk puts it.
///
/// Performance: a list item's `ActionID`, noted in the search, cost ~90
/// instructions per item (a call out of the search's loop, and a test per
/// block while it was sought); a compare of the second line's name as one
/// word, a few.
#[inline]
pub(crate) fn locate_action_id(raw: &[u8], found: &Found<1>) -> Located {
    const ACTION_ID: u64 = u64::from_le_bytes(*b"actionid");
    let second = found.first_newline.map_or(0, |nl| nl as usize + 1);
    let colon = match raw.get(second..).and_then(<[u8]>::first_chunk::<9>) {
        // The first line is not one: it holds the event's name.
        Some(&[a, b, c, d, e, f, g, h, b':'])
            if headers::same_letters(
                u64::from_le_bytes([a, b, c, d, e, f, g, h]),
                ACTION_ID,
                headers::LETTERS,
            ) =>
        {
            Some(second + 8)
        }
        _ => crate::lines::find_name(raw, b"ActionID"),
    };
    let line_end = match colon {
        // Noted by the search, when in its block.
        Some(colon) if colon == second + 8 && found.second_newline.is_some() => {
            found.second_newline.map(|nl| nl as usize)
        }
        Some(colon) => memchr::memchr(b'\n', &raw[colon..]).map(|nl| colon + nl),
        None => None,
    };
    // Offsets in a frame fit a `u32`, as the decoder's limit does.
    let offset = |at: usize| at as u32;
    Located {
        colons: [colon.map(offset), found.colons[0]],
        line_ends: [line_end.map(offset), found.line_ends[0]],
        first_newline: found.first_newline,
        second_newline: found.second_newline,
    }
}

impl Routing<'_> {
    /// Whether a response with these headers opens an event list
    /// ([`Response::starts_list`]).
    pub(crate) fn starts_list(&self) -> bool {
        opens_list(self.event_list)
    }
}

/// Whether the event whose headers are `raw` is an item of the list whose
/// action has the id `list`, and not its end, by where the decoder
/// `located` its routing headers: the `ActionID` is `list`, there is no
/// `EventList` line, and the name does not end in `Complete`. `false` for
/// an event whose first line the decoder did not locate (the general path
/// tells it then).
///
/// Performance: asked of every item of a run (see the decoder's
/// `take_run`); what `routing_located` and `completes_list_with` tell for
/// such an event, without the `EventList` value. The usual `ActionID:
/// <id>\r\n` line, its line end located, is compared as it stands, by
/// words: its value is the bytes between the space and the last `\r`,
/// unless those end in `\r` too (more `\r`s trimmed); then they differ
/// from an `id` that does not.
#[inline(always)]
pub(crate) fn is_list_item(raw: &[u8], list: &[u8], located: &Located) -> bool {
    if located.colons[1].is_some() {
        return false;
    }
    let (Some(colon), Some(end)) = (located.colons[0], located.line_ends[0]) else {
        return false;
    };
    let same_id = match raw.get(colon as usize + 1..end as usize) {
        Some([b' ', value @ .., b'\r']) if list.last() != Some(&b'\r') => {
            headers::same_bytes(value, list)
        }
        Some(line) => headers::strip_space(headers::trim_crs(line)) == list,
        None => false,
    };
    // The decoder locates an event only when it knew it by its first six
    // bytes, `Event:`, and then searched from there: the first line is its
    // name's (checked by `check_located` when fuzzing).
    let name = located
        .first_newline
        .and_then(|end| raw.get(6..end as usize));
    same_id
        && name.is_some_and(|line| !ends_in_complete(headers::strip_space(headers::trim_crs(line))))
}

/// Whether an `EventList` value opens a list (`start`, any case).
fn opens_list(event_list: Option<&[u8]>) -> bool {
    event_list.is_some_and(|v| v.eq_ignore_ascii_case(b"start"))
}

/// Whether an `EventList` value ends a list (`Complete`, any case).
///
/// Performance: inlined, as asked of every list item, which has none.
#[inline]
fn closes_list(event_list: Option<&[u8]>) -> bool {
    event_list.is_some_and(|v| v.eq_ignore_ascii_case(b"complete"))
}

/// Whether an event name ends in `Complete`, any case: how servers before
/// 13.2 end a list.
///
/// Performance: asked of every list item; one word compare ([`headers::same_letters`]).
fn ends_in_complete(name: &[u8]) -> bool {
    const COMPLETE: u64 = u64::from_le_bytes(*b"complete");
    name.last_chunk::<8>().is_some_and(|last| {
        headers::same_letters(u64::from_le_bytes(*last), COMPLETE, headers::LETTERS)
    })
}

/// Splits legacy output on `\n`, dropping a `\r` before it; a final empty
/// piece (text ending in a line end) is not a line.
pub(crate) fn split_lines(text: &[u8]) -> impl Iterator<Item = &[u8]> {
    let body = text.strip_suffix(b"\n").unwrap_or(text);
    let mut parts = body.split(|&b| b == b'\n');
    if text.is_empty() {
        parts.next();
    }
    parts.map(|l| l.strip_suffix(b"\r").unwrap_or(l))
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = f.debug_struct("Message");
        s.field("headers", &self.headers);
        if let Some(text) = &self.follows {
            s.field("follows_bytes", &text.len());
        }
        s.finish()
    }
}

/// The status word of a `Response:` header.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Status {
    /// `Success`.
    Success,
    /// `Error`: the `Message` header says why.
    Error,
    /// `Goodbye`, the answer to `Logoff`; the server closes next.
    Goodbye,
    /// `Follows`, legacy Command output.
    Follows,
    /// Anything else, kept verbatim.
    Other(String),
}

impl Status {
    fn parse(word: &[u8]) -> Status {
        let is = |w: &str| word.eq_ignore_ascii_case(w.as_bytes());
        if is("Success") {
            Status::Success
        } else if is("Error") {
            Status::Error
        } else if is("Goodbye") {
            Status::Goodbye
        } else if is("Follows") {
            Status::Follows
        } else {
            Status::Other(String::from_utf8_lossy(word).into_owned())
        }
    }
}

/// The first line of a successful response, as Asterisk writes it.
const SUCCESS_LINE: &[u8] = b"Response: Success\r\n";

/// A frame that starts with `Response:`.
///
/// A slice of the receive chunk it arrived in: [`Response::detach`] before
/// keeping one for long (see [`Message`]).
#[derive(Clone)]
pub struct Response(Message);

impl Response {
    pub(crate) fn new(message: Message) -> Self {
        Response(message)
    }

    /// An owned, compact copy (see [`Message::detach`]).
    pub fn detach(&self) -> Response {
        Response(self.0.detach())
    }

    /// The `Response` header's status.
    #[inline]
    pub fn status(&self) -> Status {
        // Performance: nearly every response opens with this line, which
        // one compare of its bytes tells (the general path, which finds the
        // line's end and compares the name and the word ignoring case, cost
        // about 120 instructions per response). The same status either way.
        // In line, the parse out of line: the call cost ~7 more.
        if self.0.headers.raw().starts_with(SUCCESS_LINE) {
            return Status::Success;
        }
        self.parsed_status()
    }

    #[inline(never)]
    fn parsed_status(&self) -> Status {
        Status::parse(self.0.headers.get_leading("Response").unwrap_or(b""))
    }

    /// Whether the status is `Error`.
    pub fn is_error(&self) -> bool {
        self.status() == Status::Error
    }

    /// Whether this response opens an event list (`EventList: start`, any case).
    pub fn starts_list(&self) -> bool {
        opens_list(self.get("EventList"))
    }

    /// The message underneath.
    pub fn into_message(self) -> Message {
        self.0
    }
}

impl Deref for Response {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.0
    }
}

impl fmt::Debug for Response {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Response").field(&self.0.headers).finish()
    }
}

/// A frame that starts with `Event:`.
///
/// A slice of the receive chunk it arrived in, so a kept event keeps that
/// chunk (up to 64 KiB) alive: keep [`Event::detach`] of it instead when
/// keeping it for long, such as the latest event per channel or agent (see
/// [`Message`]). List items in a [`crate::Completion::List`] are slices too.
#[derive(Clone)]
pub struct Event(Message);

impl Event {
    pub(crate) fn new(message: Message) -> Self {
        Event(message)
    }

    /// An owned, compact copy (see [`Message::detach`]).
    pub fn detach(&self) -> Event {
        Event(self.0.detach())
    }

    /// Builds an event from `(name, value)` pairs; the first should be `Event`.
    ///
    /// # Panics
    ///
    /// As [`Headers::from_pairs`]: if a pair could not be read back from its line.
    pub fn from_pairs<'a, I>(pairs: I) -> Self
    where
        I: IntoIterator<Item = (&'a str, &'a [u8])>,
    {
        Event(Message::from_pairs(pairs))
    }

    /// The event's name (`Newchannel`, `Hangup`, ...).
    pub fn name(&self) -> &[u8] {
        // The first line, in every event the decoder makes.
        self.0.headers.event_name().unwrap_or(b"")
    }

    /// The event's name as text (lossy UTF-8).
    pub fn name_str(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(self.name())
    }

    /// Whether the name equals `name`, ASCII-case-insensitively.
    pub fn is(&self, name: &str) -> bool {
        self.name().eq_ignore_ascii_case(name.as_bytes())
    }

    /// Whether this event closes an event list: `EventList: Complete`, or
    /// (servers before 13.2) a name ending in `Complete`.
    pub fn completes_list(&self) -> bool {
        // The name first: it is the first header, so the common answer for
        // list items costs one comparison before the `EventList` scan.
        ends_in_complete(self.name()) || closes_list(self.get("EventList"))
    }

    /// Whether this event is an item of the list whose action has the id
    /// `list`, and not its end, by where the decoder `located` its routing
    /// headers ([`is_list_item`]). (An event not located is not told here:
    /// the connection routes it the general way.)
    #[inline(always)]
    pub(crate) fn is_item_of(&self, list: &[u8], located: Option<&Located>) -> bool {
        located.is_some_and(|located| is_list_item(self.headers().raw(), list, located))
    }

    /// [`Event::completes_list`], its `EventList` header already found
    /// ([`Message::routing`]) and, if the decoder `located` the frame, its
    /// name's line end too.
    ///
    /// Performance: inlined, as asked of every list item.
    #[inline]
    pub(crate) fn completes_list_with(
        &self,
        routing: &Routing<'_>,
        located: Option<&Located>,
    ) -> bool {
        closes_list(routing.event_list) || ends_in_complete(self.name_located(located))
    }

    /// [`Event::name`], its line's end taken from where the decoder
    /// `located` it, if it did.
    #[inline]
    pub(crate) fn name_located(&self, located: Option<&Located>) -> &[u8] {
        let raw = self.headers().raw();
        let first_line = located
            .and_then(|found| found.first_newline)
            .and_then(|end| raw.get(6..end as usize));
        match first_line {
            // The decoder locates an event only when it knew it by its
            // first six bytes, `Event:`, and then searched from there: the
            // first line is its name's (checked by `check_located` when
            // fuzzing). Not checked again here: asked of every list item.
            // A line end out of range, which that rules out, falls back to
            // the look-up rather than panicking.
            Some(line) => {
                debug_assert!(crate::frame::starts_with_event(raw));
                headers::strip_space(headers::trim_crs(line))
            }
            None => self.name(),
        }
    }

    /// The message underneath.
    pub fn into_message(self) -> Message {
        self.0
    }
}

impl Deref for Event {
    type Target = Message;
    fn deref(&self) -> &Message {
        &self.0
    }
}

impl fmt::Debug for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Event").field(&self.0.headers).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A list holds one event per item (100k and more): its headers, a
    /// slice of the receive chunk, and a pointer for the rare legacy
    /// Follows text, which would otherwise add a whole `Bytes` to every
    /// item and to every move of a frame.
    #[test]
    fn an_event_is_small() {
        let headers = std::mem::size_of::<Headers>();
        assert!(std::mem::size_of::<Event>() <= headers + std::mem::size_of::<usize>());
        assert!(std::mem::size_of::<Message>() <= headers + std::mem::size_of::<usize>());
    }

    /// A line end out of range (which the decoder's invariant rules out)
    /// gives the looked-up name, not a panic.
    #[test]
    fn a_located_name_out_of_range_falls_back_to_the_look_up() {
        let event = Event::from_pairs([("Event", &b"Hangup"[..]), ("Channel", b"PJSIP/1")]);
        let located = |first_newline| Located {
            colons: [None; 2],
            line_ends: [None; 2],
            first_newline: Some(first_newline),
            second_newline: None,
        };
        let raw = event.headers().raw();
        let end = raw.iter().position(|&b| b == b'\n').expect("a line") as u32;
        assert_eq!(event.name_located(Some(&located(end))), b"Hangup");
        for end in [3, 5, 10_000] {
            assert_eq!(event.name_located(Some(&located(end))), b"Hangup", "{end}");
        }
    }

    /// Where `locate_action_id` puts an event's routing headers is where
    /// the search for both names puts them (a line end it finds that the
    /// search left to be looked for aside), the `ActionID` on any line, in
    /// any case, beside look-alike names.
    #[test]
    fn an_action_id_located_apart_is_where_the_search_for_both_finds_it() {
        use crate::lines::{BlankLine, NameScan};
        let pad = "x".repeat(60);
        let events = [
            "Event: A\r\nActionID: list-1\r\nChannel: x\r\n\r\n".to_string(),
            "Event: A\r\nACTIONid:list-1\r\r\n\r\n".to_string(),
            "Event: A\r\nActionIDs: b\r\nActionID: a\r\n\r\n".to_string(),
            "Event: A\r\nno colon\r\nActionID: a\r\nEventList: x\r\n\r\n".to_string(),
            "Event: A\r\nActionI: a\r\nxActionID: b\r\nActionID:c\r\n\r\n".to_string(),
            format!("Event: A\r\nPad: {pad}\r\nactionid: long-{pad}\r\n\r\n"),
            format!("Event: {pad}{pad}\r\nActionID: a\r\n\r\n"),
            "Event: A\r\nChannel: x\r\n\r\n".to_string(),
            "Event: A\n\n".to_string(),
        ];
        for event in &events {
            let raw = event.as_bytes();
            let mut both = NameScan::new();
            let nl = BlankLine::from_line_start(0)
                .find_naming::<2, RoutingNames>(raw, &mut both)
                .expect("a whole event");
            let mut one = NameScan::new();
            let search = BlankLine::from_line_start(0);
            assert_eq!(
                search.find_naming::<1, EventListName>(raw, &mut one),
                Ok(nl)
            );
            let got = locate_action_id(&raw[..nl], &one.found);
            let want = both.found;
            assert_eq!(got.colons, want.colons, "{event:?}");
            assert_eq!(got.first_newline, want.first_newline, "{event:?}");
            let line_end = |colon: Option<u32>| {
                colon
                    .map(|c| c + raw[c as usize..].iter().position(|&b| b == b'\n').unwrap() as u32)
            };
            assert_eq!(got.line_ends[0], line_end(want.colons[0]), "{event:?}");
            assert_eq!(got.line_ends[1], want.line_ends[1], "{event:?}");
        }
    }

    #[test]
    fn status_and_list_markers() {
        let r = Response::new(Message::from_pairs([
            ("Response", &b"success"[..]),
            ("EventList", b"Start"),
        ]));
        assert_eq!(r.status(), Status::Success);
        assert!(r.starts_list());
        let done = Event::from_pairs([("Event", &b"StatusComplete"[..]), ("Items", b"0")]);
        assert!(done.completes_list(), "legacy name-only completion");
        let item = Event::from_pairs([("Event", &b"Status"[..])]);
        assert!(!item.completes_list());
        let explicit = Event::from_pairs([("Event", &b"X"[..]), ("EventList", b"complete")]);
        assert!(explicit.completes_list());
    }

    /// A response's status is the same whether its first line is the one
    /// [`Response::status`] tells at once or not: every other spelling of
    /// the line goes the general way, and says what it says.
    #[test]
    fn the_success_line_and_its_look_alikes_give_the_general_paths_status() {
        for first in [
            &b"Response: Success\r\n"[..],
            b"Response: Success\n",
            b"response: success\r\n",
            b"Response:Success\r\n",
            b"Response:   Success  \r\n",
            b"Response: Successful\r\n",
            b"Response: Success\r\r\n",
            b"Response: Error\r\n",
            b"Response: Goodbye\r\n",
            b"Response: Failure\r\n",
            b"Response: \r\n",
        ] {
            let frame = [first, b"ActionID: a-1\r\nMessage: Pong\r\n\r\n"].concat();
            let mut decoder = crate::Decoder::without_banner(1 << 20);
            decoder.push(&frame);
            let Some(Ok(Frame::Response(r))) = decoder.next_frame() else {
                panic!("a response from {frame:?}")
            };
            let general = Status::parse(r.headers().get_leading("Response").unwrap_or(b""));
            assert_eq!(r.status(), general, "{:?}", String::from_utf8_lossy(first));
        }
    }

    /// What [`Message::routing`] must find: one look-up per name.
    fn routing_by_look_ups(m: &Message) -> Routing<'_> {
        Routing {
            action_id: m.get("ActionID"),
            event_list: m.get("EventList"),
        }
    }

    /// The frame of header lines `headers`, decoded by a decoder that
    /// locates routing headers, whole and cut in two at several places
    /// (so that the search goes on after growth): what it located gives
    /// `want`, and an event's name as [`Event::name`] finds it.
    fn located_routing_agrees(headers: &[u8], want: &Routing<'_>) {
        let frame = [headers, b"\r\n"].concat();
        for cut in [
            frame.len(),
            1,
            7,
            63,
            64,
            65,
            frame.len() / 2,
            frame.len() - 1,
        ] {
            let cut = cut.min(frame.len());
            let mut decoder = crate::Decoder::without_banner(1 << 20);
            decoder.locate(true);
            decoder.push(&frame[..cut]);
            let mut got = decoder.next_frame();
            if got.is_none() {
                decoder.push(&frame[cut..]);
                got = decoder.next_frame();
            }
            let Some(Ok(frame)) = got else {
                panic!("one frame from {frame:?}")
            };
            let located = decoder.located().copied();
            let message = match frame {
                Frame::Response(r) => r.into_message(),
                Frame::Event(e) => {
                    assert_eq!(e.name_located(located.as_ref()), e.name(), "{e:?}");
                    e.into_message()
                }
                other => panic!("an event or a response: {other:?}"),
            };
            let located = located.expect("events and responses are located");
            assert_eq!(
                &message.routing_from(&located),
                want,
                "cut at {cut}: {message:?}"
            );
        }
    }

    /// Every frame of the Asterisk 22 transcripts, and variants of each:
    /// names in other cases, repeated, behind look-alikes (`ActionIDX`,
    /// `EventLis`), after colon-less lines.
    #[test]
    fn routing_finds_what_one_look_up_per_name_finds() {
        let dir = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/corpus/asterisk-22"
        );
        let mut frames = 0;
        let mut found = 0;
        for entry in std::fs::read_dir(dir).expect("the corpus") {
            let path = entry.expect("a corpus file").path();
            if path.extension().is_none_or(|e| e != "raw") {
                continue;
            }
            let mut decoder = crate::Decoder::new(1 << 20);
            decoder.push(&std::fs::read(&path).expect("a transcript"));
            while let Some(Ok(frame)) = decoder.next_frame() {
                let message = match frame {
                    Frame::Response(r) => r.into_message(),
                    Frame::Event(e) => e.into_message(),
                    Frame::Other(m) => m,
                    Frame::Banner(_) => continue,
                };
                let raw = message.headers().raw().clone();
                let lines: Vec<&[u8]> = raw.split_inclusive(|&b| b == b'\n').collect();
                for variant in 0..7 {
                    let mut bytes = Vec::new();
                    for (i, line) in lines.iter().enumerate() {
                        match variant {
                            1 => bytes.extend(line.iter().map(u8::to_ascii_lowercase)),
                            2 => bytes.extend(line.iter().map(u8::to_ascii_uppercase)),
                            3 if i == 1 => {
                                bytes.extend_from_slice(b"ActionIDX: no\r\nEventLis: no\r\n");
                                bytes.extend_from_slice(b"no colon ActionID\r\n:ActionID: no\r\n");
                                bytes.extend_from_slice(line);
                            }
                            // Every line twice: the first of each counts.
                            4 => {
                                bytes.extend_from_slice(line);
                                bytes.extend_from_slice(line);
                            }
                            // A long colon-less line first, so names cross blocks.
                            5 if i == 0 => {
                                bytes.extend_from_slice(&[b'x'; 61]);
                                bytes.extend_from_slice(b"\r\n");
                                bytes.extend_from_slice(line);
                            }
                            // The same after the first line, which gives the
                            // frame's kind.
                            6 if i == 1 => {
                                bytes.extend_from_slice(&[b'x'; 57]);
                                bytes.extend_from_slice(b"\r\n");
                                bytes.extend_from_slice(line);
                            }
                            _ => bytes.extend_from_slice(line),
                        }
                    }
                    let m = Message::new(Headers::new(Bytes::from(bytes.clone())), None);
                    let want = routing_by_look_ups(&m);
                    assert_eq!(m.routing(), want, "{path:?}: {m:?}");
                    if variant != 5 {
                        located_routing_agrees(&bytes, &want);
                    }
                    frames += 1;
                    found += usize::from(want.action_id.is_some())
                        + usize::from(want.event_list.is_some());
                }
            }
        }
        // The corpus is there, and has both names to find.
        assert!(
            frames > 500 && found > 500,
            "{frames} frames, {found} values"
        );
    }

    #[test]
    fn legacy_output_lines_keep_blank_lines_and_colons() {
        let m = Message::new(
            Headers::default(),
            Some(Bytes::from_static(b"a: b\n\nlast\r\n")),
        );
        let lines: Vec<_> = m.output_lines().collect();
        assert_eq!(lines, vec![&b"a: b"[..], b"", b"last"]);
        let empty = Message::new(Headers::default(), Some(Bytes::new()));
        assert_eq!(empty.output_lines().count(), 0);
    }

    #[test]
    fn modern_output_lines_are_output_headers() {
        let m = Message::from_pairs([
            ("Response", &b"Success"[..]),
            ("Output", b"  indented"),
            ("Output", b""),
        ]);
        let lines: Vec<_> = m.output_lines().collect();
        assert_eq!(lines, vec![&b"  indented"[..], b""]);
    }
}

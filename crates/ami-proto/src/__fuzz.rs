//! Fuzz harnesses shared by `fuzz/` (cargo-fuzz) and the seeded smoke test.
//!
//! Hidden from the public API; built only with the `arbitrary` feature. Each
//! harness asserts the properties itself and panics on a violation.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use arbitrary::Arbitrary;

use crate::deadline::instant_after;
use crate::{Action, ActionId, AuthMethod, Config, Connection, Decoder, Output, QueuePolicy};
use crate::{Failure, ReconnectPolicy};

/// Feeds `data` to a decoder in chunks whose sizes come from `cuts` (in
/// turn copied in, handed over as `Bytes`, read in place into a zeroed
/// room lent larger than the chunk, and read into uninitialised room the
/// same way); checks that every way of reading yields the frames a copy
/// does, that memory stays bounded, decoding never stops, frames kept
/// alive (some while the decoder reuses its chunks) keep their bytes, and
/// the routing headers the decoder locates (asked for at every other read,
/// so also turned on and off mid-frame) are those a look-up finds.
pub fn decoder(max_small: bool, cuts: &[u8], data: &[u8]) {
    let max = if max_small { 64 << 10 } else { 4 << 20 };
    let mut decoder = Decoder::new(max);
    // The same bytes in the same pieces, always copied in: every way of
    // reading yields the same frames.
    let mut twin = Decoder::new(max);
    let mut rest = data;
    let mut cuts = cuts.iter().cycle();
    let mut turn = 0u8;
    let mut kept = std::collections::VecDeque::new();
    while !rest.is_empty() {
        let n = (*cuts.next().unwrap_or(&255) as usize + 1).min(rest.len());
        let taken = match turn % 4 {
            0 => {
                decoder.push(&rest[..n]);
                n
            }
            1 => {
                decoder.push_bytes(bytes::Bytes::copy_from_slice(&rest[..n]));
                n
            }
            2 => {
                // The room may be shorter than asked: a short read.
                let room = decoder.spare(n + usize::from(turn));
                let n = n.min(room.len());
                room[..n].copy_from_slice(&rest[..n]);
                decoder.commit(n);
                n
            }
            _ => {
                // Uninitialised room, which may be shorter than asked too.
                let read = decoder.read_with(n + usize::from(turn), |room| {
                    let n = n.min(room.len());
                    Ok::<_, ()>(room[..n].write_copy_of_slice(&rest[..n]))
                });
                read.expect("the read does not fail")
            }
        };
        twin.push(&rest[..taken]);
        rest = &rest[taken..];
        turn = turn.wrapping_add(1);
        decoder.locate(turn.is_multiple_of(2));
        while let Some(item) = decoder.next_frame() {
            let same = twin.next_frame().expect("the twin has the same frames");
            assert_eq!(render(&item), render(&same), "read {turn}");
            if let Ok(frame) = item {
                check_located(&frame, decoder.located());
                if kept.len() == 64 {
                    kept.pop_front();
                }
                let copy = frame.detach();
                kept.push_back((frame, copy));
            }
        }
        assert!(twin.next_frame().is_none(), "the twin has no more frames");
        // Unparsed bytes never exceed one frame's limit plus the last chunk.
        assert!(
            decoder.buffered() <= max + 256 + 2,
            "buffered {}",
            decoder.buffered()
        );
        for (frame, copy) in &kept {
            assert_eq!(bytes_of(frame), bytes_of(copy), "a kept frame changed");
        }
    }
}

/// What the decoder located of a frame's routing headers is what look-ups
/// find.
fn check_located(frame: &crate::Frame, located: Option<&crate::message::Located>) {
    let Some(located) = located else {
        return;
    };
    let message = match frame {
        crate::Frame::Response(m) => &**m,
        crate::Frame::Event(e) => {
            assert_eq!(e.name_located(Some(located)), e.name(), "{e:?}");
            &**e
        }
        other => panic!("only events and responses are located: {other:?}"),
    };
    let routing = message.routing_from(located);
    assert_eq!(routing.action_id, message.get("ActionID"), "{message:?}");
    assert_eq!(routing.event_list, message.get("EventList"), "{message:?}");
}

/// What a decoder yielded, comparable.
fn render(item: &Result<crate::Frame, crate::DecodeError>) -> String {
    match item {
        Ok(frame) => format!("{:?} {:?}", std::mem::discriminant(frame), bytes_of(frame)),
        Err(e) => format!("{e:?}"),
    }
}

/// A frame's bytes: its headers, and a legacy Command body.
fn bytes_of(frame: &crate::Frame) -> (&[u8], Option<&[u8]>) {
    match frame {
        crate::Frame::Banner(line) => (line, None),
        crate::Frame::Response(m) => (m.headers().raw(), m.follows_text().map(|b| &b[..])),
        crate::Frame::Event(m) => (m.headers().raw(), m.follows_text().map(|b| &b[..])),
        crate::Frame::Other(m) => (m.headers().raw(), m.follows_text().map(|b| &b[..])),
    }
}

/// One step of a connection fuzz run.
#[derive(Arbitrary, Debug)]
pub enum Op {
    /// Raw server bytes.
    Input(Vec<u8>),
    /// While the consumer takes no event, the server sends `events` events
    /// and then an answer for the `n`-th oldest pending action: events are
    /// dropped while an answer is held back behind a full back-pressure
    /// queue, as the blocking adapters do ([`Connection::drop_event`]).
    Stalled {
        /// Events before the answer (the queue holds 16).
        events: u8,
        /// Which pending action (modulo their count).
        n: u8,
        /// What kind of answer.
        kind: Reply,
    },
    /// A server response for the `n`-th oldest pending action (by ActionID).
    Respond {
        /// Which pending action (modulo their count).
        n: u8,
        /// What kind of answer.
        kind: Reply,
    },
    /// The socket took this many bytes.
    Advance(u16),
    /// Time passes (milliseconds) and `handle_timeout` runs.
    Wait(u16),
    /// Time leaps (seconds, up to the end of time) and `handle_timeout` runs.
    Leap(u64),
    /// The caller sends an action.
    Send(Kind),
    /// The caller sends an action with its own timeout in seconds
    /// (`u64::MAX` stands for `Duration::MAX`).
    SendWithTimeout(Kind, u64),
    /// The caller sends an action under an ActionID it chose, one of a few
    /// (so that some are still pending, and must be refused).
    SendWithId(Kind, u8),
    /// The caller cancels the `n`-th pending action.
    Cancel(u8),
    /// The transport closes.
    Close,
}

/// Server answers the harness can aim at a pending action.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Reply {
    /// `Response: Success`.
    Success,
    /// `Response: Error`.
    Error,
    /// `Response: Failure`, a status that is not success.
    Failure,
    /// `Response: Success` opening an event list.
    ListStart,
    /// A list item event.
    ListItem,
    /// The list's `...Complete` event.
    ListComplete,
    /// A 1.8-era list end: `StatusComplete` with only `Items:`.
    LegacyComplete,
    /// `Event: OriginateResponse`.
    OriginateResponse,
    /// A `Command` reply with output lines.
    Output,
}

/// Actions the harness can send.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Kind {
    /// `Ping`.
    Ping,
    /// `CoreShowChannels` (a list).
    List,
    /// `Command`.
    Command,
    /// Async `Originate`.
    Originate,
    /// Synchronous `Originate`, its deadline from its `Timeout` header.
    SyncOriginate,
    /// `Status` (a list, maybe acknowledged without `EventList: start`).
    Status,
    /// `Hangup` of a `/regex/` (a list only then).
    HangupRegex,
    /// `Events` turning call events on (`true`) or off.
    Events(bool),
    /// Async `Originate` whose dial `Timeout` is `u64::MAX` milliseconds.
    OriginateForever,
    /// An action with a CR/LF injection (must be refused).
    Injection,
    /// A `Redirect` without the `Priority` every version requires (must be
    /// refused).
    Incomplete,
}

/// Runs `ops` against a logged-in connection; asserts that every accepted
/// action completes exactly once, that everything completes on close, and
/// that the deadline heap stays within its bound of the pending table.
pub fn connection(policy: u8, ops: &[Op]) {
    let start = Instant::now();
    let mut now = start;
    let mut config = Config::new("fuzz", "admin", "secret");
    config.auth = AuthMethod::Plain;
    // Fixed, so a failing input reproduces with the same ActionIDs.
    config.seed = 0;
    config.max_frame = 64 << 10;
    config.max_command_output = 64 << 10;
    config.event_queue = 16;
    config.max_list_items = 8;
    config.max_pending = 32;
    config.queue_policy = match policy % 3 {
        0 => QueuePolicy::DropOldest,
        1 => QueuePolicy::DropNewest,
        _ => QueuePolicy::Backpressure,
    };
    let mut conn = Connection::new(config, now).expect("valid config");
    conn.handle_input(b"Asterisk Call Manager/11.0.0\r\n", now);
    let login = sent_ids(&mut conn);
    let reply = format!("Response: Success\r\nActionID: {}\r\n\r\n", login[0]);
    conn.handle_input(reply.as_bytes(), now);

    // The actions sent and not completed yet, and those that completed
    // (a chosen id may be sent again once its action completed).
    let mut open: Vec<ActionId> = Vec::new();
    let mut completed: HashSet<ActionId> = HashSet::new();
    let mut drain = |conn: &mut Connection, open: &mut Vec<ActionId>, sent: Option<ActionId>| {
        if let Some(id) = sent {
            assert!(!open.contains(&id), "{id} accepted while pending");
            completed.remove(&id);
            open.push(id);
        }
        while let Some(out) = conn.poll_output() {
            if let Output::Completion { id, .. } = out {
                assert!(completed.insert(id.clone()), "{id} completed twice");
                assert!(open.contains(&id), "{id} completed but never sent");
                open.retain(|o| *o != id);
            }
        }
    };
    drain(&mut conn, &mut open, None);

    for op in ops {
        let mut sent = None;
        match op {
            Op::Input(bytes) => conn.handle_input(bytes, now),
            Op::Stalled { events, n, kind } => {
                let mut bytes = "Event: Newexten\r\n\r\n".repeat(*events as usize);
                if let Some(id) = pick(&open, *n) {
                    bytes += &reply_bytes(id, *kind);
                }
                conn.handle_input(bytes.as_bytes(), now);
                while !conn.is_closed() && !conn.wants_read() && conn.stats().pending > 0 {
                    let dropped = conn.stats().events_dropped_full;
                    assert!(conn.drop_event(), "input held back by an empty queue");
                    assert_eq!(conn.stats().events_dropped_full, dropped + 1);
                }
            }
            Op::Respond { n, kind } => {
                if let Some(id) = pick(&open, *n) {
                    conn.handle_input(reply_bytes(id, *kind).as_bytes(), now);
                }
            }
            Op::Advance(n) => conn.advance(*n as usize),
            Op::Wait(ms) => {
                now = instant_after(now, Duration::from_millis(*ms as u64 * 16));
                conn.handle_timeout(now);
            }
            Op::Leap(secs) => {
                now = instant_after(now, Duration::from_secs(*secs));
                conn.handle_timeout(now);
            }
            Op::Send(kind) => {
                if let Ok(id) = conn.send(action(*kind), now) {
                    let refused = matches!(kind, Kind::Injection | Kind::Incomplete);
                    assert!(!refused, "{kind:?} accepted");
                    sent = Some(id);
                }
            }
            Op::SendWithTimeout(kind, secs) => {
                let timeout = match *secs {
                    u64::MAX => Duration::MAX,
                    secs => Duration::from_secs(secs),
                };
                if let Ok(id) = conn.send(action(*kind).with_timeout(timeout), now) {
                    assert!(!matches!(kind, Kind::Injection), "injection accepted");
                    sent = Some(id);
                }
            }
            Op::SendWithId(kind, n) => {
                let chosen = format!("mine-{}", n % 4);
                if let Ok(id) = conn.send(action(*kind).with_action_id(&chosen), now) {
                    assert_eq!(id.as_str(), chosen);
                    sent = Some(id);
                }
            }
            Op::Cancel(n) => {
                if let Some(id) = pick(&open, *n).cloned() {
                    assert!(conn.cancel(&id, now));
                }
            }
            Op::Close => conn.handle_closed(now),
        }
        drain(&mut conn, &mut open, sent);
        if let Some(at) = conn.poll_timeout() {
            assert!(at >= start, "deadline before the start");
        }
        let (heap, entries) = conn.deadline_entries();
        assert!(
            heap <= 2 * entries + crate::correlation::STALE_SLACK,
            "{heap} deadlines for {entries} pending entries"
        );
        assert!(conn.stats().queue_depth <= 16, "event queue over its bound");
    }
    conn.handle_closed(now);
    drain(&mut conn, &mut open, None);
    assert!(open.is_empty(), "actions never completed: {open:?}");
}

fn pick(open: &[ActionId], n: u8) -> Option<&ActionId> {
    (!open.is_empty()).then(|| &open[n as usize % open.len()])
}

fn action(kind: Kind) -> Action {
    match kind {
        Kind::Ping => Action::ping(),
        Kind::List => Action::core_show_channels(),
        Kind::Command => Action::command("core show channels"),
        Kind::Originate => Action::new("Originate")
            .header("Channel", "Local/100@test")
            .header("Async", "true")
            .header("Timeout", "1000"),
        Kind::SyncOriginate => Action::new("Originate")
            .header("Channel", "Local/100@test")
            .header("Timeout", "20000"),
        Kind::Status => Action::status(None),
        Kind::HangupRegex => Action::new("Hangup").header("Channel", "/^Local/"),
        Kind::Events(on) => Action::events(if on { "call" } else { "off" }),
        Kind::OriginateForever => Action::new("Originate")
            .header("Channel", "Local/100@test")
            .header("Async", "true")
            .header("Timeout", u64::MAX.to_string()),
        Kind::Injection => Action::new("Ping").header("X", "a\r\nAction: Originate"),
        Kind::Incomplete => Action::new("Redirect")
            .header("Channel", "Local/100@test")
            .header("Context", "test")
            .header("Exten", "100"),
    }
}

fn reply_bytes(id: &ActionId, kind: Reply) -> String {
    match kind {
        Reply::Success => format!("Response: Success\r\nActionID: {id}\r\n\r\n"),
        Reply::Error => format!("Response: Error\r\nActionID: {id}\r\nMessage: no\r\n\r\n"),
        Reply::Failure => format!("Response: Failure\r\nActionID: {id}\r\nMessage: no\r\n\r\n"),
        Reply::ListStart => {
            format!("Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n")
        }
        Reply::ListItem => format!("Event: CoreShowChannel\r\nActionID: {id}\r\n\r\n"),
        Reply::ListComplete => format!(
            "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\n\r\n"
        ),
        Reply::LegacyComplete => {
            format!("Event: StatusComplete\r\nActionID: {id}\r\nItems: 1\r\n\r\n")
        }
        Reply::OriginateResponse => format!(
            "Event: OriginateResponse\r\nActionID: {id}\r\nResponse: Failure\r\nReason: 5\r\n\r\n"
        ),
        Reply::Output => {
            format!("Response: Success\r\nActionID: {id}\r\nOutput: a\r\nOutput: b\r\n\r\n")
        }
    }
}

/// Takes everything the connection wants to send; returns the ActionIDs in it.
pub fn sent_ids(conn: &mut Connection) -> Vec<String> {
    let mut ids = Vec::new();
    if let Some(bytes) = conn.poll_transmit() {
        let text = String::from_utf8_lossy(bytes).into_owned();
        conn.advance(text.len());
        for line in text.lines() {
            if let Some(id) = line.strip_prefix("ActionID: ") {
                ids.push(id.to_owned());
            }
        }
    }
    ids
}

/// One step of a reconnect-policy fuzz run.
#[derive(Arbitrary, Debug)]
pub enum PolicyOp {
    /// Time passes (milliseconds, times 16).
    Wait(u16),
    /// Time leaps (seconds).
    Leap(u32),
    /// The next attempt starts as soon as the policy allows, and ends so.
    Attempt(Outcome),
    /// The adapter asks whether the session in progress is healthy yet.
    Refresh,
}

/// How an attempt ends.
#[derive(Arbitrary, Debug, Clone, Copy)]
pub enum Outcome {
    /// Refused or timed-out connect.
    Connect,
    /// Login failed (no banner, closed, timeout).
    Login,
    /// Credentials refused.
    AuthFailed,
    /// Logged in, then lost after this many milliseconds (times 16).
    ReadyThenLost(u16),
    /// Logged in, then declared dead by the heartbeat after this many
    /// seconds.
    ReadyThenDead(u16),
}

/// Drives the default reconnect policy through `ops`: every wait it asks
/// for ends (it admits the attempt at the instant it named) and is bounded
/// (45 s: the longest, after refused credentials), whatever the history.
pub fn reconnect(seed: u64, ops: &[PolicyOp]) {
    const LONGEST: Duration = Duration::from_secs(45);
    let mut policy = ReconnectPolicy::with_seed(seed);
    let mut now = Instant::now();
    for op in ops {
        match op {
            PolicyOp::Wait(ms) => now = instant_after(now, Duration::from_millis(*ms as u64 * 16)),
            PolicyOp::Leap(secs) => now = instant_after(now, Duration::from_secs(*secs as u64)),
            PolicyOp::Refresh => {
                policy.refresh(now);
            }
            PolicyOp::Attempt(outcome) => {
                let at = policy.next_allowed(now);
                assert!(at >= now, "next_allowed in the past");
                assert!(at - now <= LONGEST, "waits {:?}", at - now);
                now = at;
                assert!(policy.may_attempt(now), "refused at its own next_allowed");
                policy.on_connected();
                let failure = match *outcome {
                    Outcome::Connect => Failure::Connect,
                    Outcome::Login => Failure::Login,
                    Outcome::AuthFailed => Failure::AuthFailed,
                    Outcome::ReadyThenLost(ms) => {
                        policy.on_ready(now);
                        now = instant_after(now, Duration::from_millis(ms as u64 * 16));
                        Failure::Lost
                    }
                    Outcome::ReadyThenDead(secs) => {
                        policy.on_ready(now);
                        now = instant_after(now, Duration::from_secs(secs as u64));
                        Failure::Heartbeat
                    }
                };
                let retry = policy.on_failure(now, failure);
                assert!(retry >= now, "retry in the past");
                assert!(retry - now <= LONGEST, "retry in {:?}", retry - now);
            }
        }
    }
}

//! `Connection`: one AMI session as a state machine.

mod call_events;
mod login;
mod timer;

use std::collections::VecDeque;
use std::fmt;
use std::mem::MaybeUninit;
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};

use crate::action::Action;
use crate::action_id::{ActionId, ActionIdGenerator};
use crate::actions::Catalogued;
use crate::completion::{CommandOutput, Completion, EventList, OriginateOutcome, Strategy};
use crate::config::Config;
use crate::correlation::{Kind, Owner, Pending, Phase, ResponseMatch, Table};
use crate::deadline::instant_after;
use crate::encode;
use crate::error::{ActionError, ConfigError, DecodeError, LoginError, SendError};
use crate::frame::Decoder;
use crate::health::heartbeat::{Heartbeat, HeartbeatAction};
use crate::health::reconnect::Failure;
use crate::list_items::ListItems;
use crate::message::{is_list_item, Event, Frame, Located, Response, Status};
use crate::queue::{EventQueue, Push, QueuePolicy};
use crate::stats::Stats;

use self::call_events::CallEvents;
use self::login::{Next, Step};
use self::timer::{Timer, TimerTable};

/// The write buffer's room at first.
///
/// Performance: the bytes written leave the front of the buffer, and the
/// room behind them comes back only when a reserve finds too little left
/// (`bytes` then moves what is unwritten to the front). Grown to fit one
/// action at a time, that reserve took the slow way (about 45
/// instructions) at every action of a round-trip load; with this room, about
/// once per hundred.
const TX_ROOM: usize = 4096;

/// Where a session is. Every change is reported as [`Output::State`].
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnState {
    /// Connected; waiting for the banner, challenge or login answer.
    LoggingIn,
    /// Logged in: actions may be sent.
    Ready,
    /// Heartbeat pongs were missed; actions still work, the link is suspect.
    Degraded {
        /// Pongs missed in a row.
        misses: u32,
    },
    /// `Logoff` was sent; waiting for `Goodbye`.
    LoggingOff,
    /// The session is over; close the socket. A new session needs a new
    /// `Connection`.
    Closed(CloseReason),
}

impl ConnState {
    fn name(&self) -> &'static str {
        match self {
            ConnState::LoggingIn => "logging in",
            ConnState::Ready => "ready",
            ConnState::Degraded { .. } => "degraded",
            ConnState::LoggingOff => "logging off",
            ConnState::Closed(_) => "closed",
        }
    }
}

/// Why a session ended.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CloseReason {
    /// Login did not succeed.
    LoginFailed(LoginError),
    /// The peer closed the connection (or the transport failed).
    Lost,
    /// Heartbeat pongs were missed too many times (half-open TCP).
    HeartbeatTimeout,
    /// The server said `Goodbye` to our `Logoff`.
    LoggedOff,
    /// The adapter driving the session failed, not the server or the link:
    /// its task panicked or was dropped before it ended. The text says
    /// which (and a panic's message). The core never gives this reason;
    /// an adapter sets it so that such an end is never silent.
    Internal(String),
}

impl CloseReason {
    /// How the reconnect policy should count this end: `None` for a logoff
    /// we asked for (or an adapter's own failure: nothing to retry),
    /// [`Failure::AuthFailed`] for refused credentials (never retried
    /// quickly), and so on.
    pub fn failure(&self) -> Option<Failure> {
        Some(match self {
            CloseReason::LoginFailed(LoginError::AuthenticationFailed(_)) => Failure::AuthFailed,
            CloseReason::LoginFailed(_) => Failure::Login,
            CloseReason::Lost => Failure::Lost,
            CloseReason::HeartbeatTimeout => Failure::Heartbeat,
            CloseReason::LoggedOff | CloseReason::Internal(_) => return None,
        })
    }
}

/// Something the connection has for its owner; see [`Connection::poll_output`].
#[derive(Debug)]
#[non_exhaustive]
pub enum Output {
    /// The session changed state.
    State(ConnState),
    /// An action finished: exactly once per [`Connection::send`].
    Completion {
        /// The id [`Connection::send`] returned.
        id: ActionId,
        /// The outcome.
        result: Result<Completion, ActionError>,
    },
    /// An event not consumed by an action (list items and Originate outcomes are).
    Event(Event),
}

/// One AMI session: bytes in, frames, completions and bytes out.
///
/// Create one per TCP (or TLS) session, right after the transport connects;
/// a reconnect makes a new `Connection`, so bytes queued for an old session
/// are never sent on a new one.
///
/// The methods are of four kinds:
/// - inputs: [`handle_input`](Self::handle_input) (or [`input_buf`](Self::input_buf)
///   then [`handle_read`](Self::handle_read), to read in place),
///   [`handle_timeout`](Self::handle_timeout), [`handle_closed`](Self::handle_closed);
/// - commands that answer at once: [`send`](Self::send), [`cancel`](Self::cancel),
///   [`logoff`](Self::logoff), [`advance`](Self::advance);
/// - outputs, drained until `None`: [`poll_transmit`](Self::poll_transmit),
///   [`poll_output`](Self::poll_output), [`poll_timeout`](Self::poll_timeout);
/// - getters.
///
/// **The drain contract:** after every input or command, write what
/// `poll_transmit` lends (calling `advance` with what the socket took), drain
/// `poll_output` to `None`, then wait until the socket is readable (if
/// [`wants_read`](Self::wants_read)), writable (if there is more to transmit),
/// or `poll_timeout` passes. Once [`is_closed`](Self::is_closed), close the
/// socket after draining `poll_output`.
pub struct Connection {
    config: Config,
    decoder: Decoder,
    ids: ActionIdGenerator,
    state: ConnState,
    login: Step,
    tx: BytesMut,
    table: Table,
    outputs: VecDeque<Output>,
    events: EventQueue<Event>,
    heartbeat: Option<Heartbeat>,
    heartbeat_ping: Option<ActionId>,
    /// Whether call events (async Originate outcomes) can arrive.
    call_events: CallEvents,
    timers: TimerTable,
    stats: Stats,
    /// The server answered our `Logoff` with `Goodbye`.
    goodbye: bool,
    /// A caller chose an ActionID on this connection: generated ones are
    /// checked against the table from then on.
    chosen_ids: bool,
    /// The time of the latest input or command.
    now: Instant,
    /// The catalogue entries of the last action name sent.
    catalogued: Catalogued,
    /// Tests: every answer decided by [`Connection::on_answer`], as if the
    /// plain answer's shortcut in [`Connection::on_response`] did not exist.
    #[cfg(test)]
    general_answers: bool,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("server", &self.config.server)
            .field("state", &self.state)
            .field("pending", &self.table.live())
            .field("queue_depth", &self.events.len())
            .finish_non_exhaustive()
    }
}

/// Logs with the fields every event of this crate carries.
macro_rules! log {
    ($level:ident, $conn:expr, $id:expr, $($arg:tt)+) => {
        tracing::$level!(
            server = %$conn.config.server,
            action_id = %$id,
            queue_depth = $conn.events.len(),
            $($arg)+
        )
    };
}

impl Connection {
    /// A session whose transport has just connected at `now`.
    ///
    /// The login deadline starts here. Fails only on an invalid `config`.
    pub fn new(config: Config, now: Instant) -> Result<Self, ConfigError> {
        config.validate()?;
        let ids =
            ActionIdGenerator::new(&config.action_id_prefix, config.seed, config.max_action_id)?;
        let mut timers = TimerTable::default();
        timers.set(Timer::Login, Some(instant_after(now, config.login_timeout)));
        Ok(Connection {
            decoder: Decoder::new(config.max_frame).with_redaction(&config.redaction),
            events: EventQueue::new(config.event_queue, config.queue_policy),
            ids,
            state: ConnState::LoggingIn,
            login: Step::AwaitBanner,
            tx: BytesMut::with_capacity(TX_ROOM),
            table: Table::default(),
            outputs: VecDeque::new(),
            heartbeat: None,
            heartbeat_ping: None,
            call_events: CallEvents::after_login(&config.events),
            timers,
            stats: Stats::default(),
            goodbye: false,
            chosen_ids: false,
            now,
            catalogued: Catalogued::default(),
            config,
            #[cfg(test)]
            general_answers: false,
        })
    }

    // ---- getters ----

    /// The session's state.
    pub fn state(&self) -> &ConnState {
        &self.state
    }

    /// Whether actions can be sent (`Ready` or `Degraded`).
    pub fn is_ready(&self) -> bool {
        matches!(self.state, ConnState::Ready | ConnState::Degraded { .. })
    }

    /// Whether the session is over: drain `poll_output`, then close the socket.
    pub fn is_closed(&self) -> bool {
        matches!(self.state, ConnState::Closed(_))
    }

    /// Whether to read from the socket. False while a back-pressure event
    /// queue is full (drain events to resume) and once closed.
    ///
    /// A caller that must see a completion without draining events (a
    /// blocking `send`) may read anyway: decoding then goes on once two
    /// frames' worth of bytes are held back, and events that find the queue
    /// full are dropped and counted, so memory stays bounded either way.
    pub fn wants_read(&self) -> bool {
        !self.is_closed() && !self.held_back()
    }

    /// Whether there are bytes to write.
    pub fn wants_write(&self) -> bool {
        !self.tx.is_empty()
    }

    /// Events waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.events.len()
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The deadline heap's entries (stale ones included) and the pending
    /// table's (tombstones included), for the fuzz harness's bound check.
    #[cfg(feature = "arbitrary")]
    pub(crate) fn deadline_entries(&self) -> (usize, usize) {
        (self.table.deadline_entries(), self.table.len())
    }

    /// A snapshot of the counters.
    #[inline]
    pub fn stats(&self) -> Stats {
        let mut s = self.stats;
        s.pending = self.table.live() as u64;
        s.queue_depth = self.events.len() as u64;
        s.queue_high_water = self.events.high_water() as u64;
        s.write_buffered = self.tx.len() as u64;
        s
    }

    // ---- inputs ----

    /// Feeds bytes read from the socket at `now`. Then drain the outputs.
    pub fn handle_input(&mut self, data: &[u8], now: Instant) {
        if self.is_closed() || data.is_empty() {
            return;
        }
        self.decoder.push(data);
        self.input(data.len(), now);
    }

    /// Room for the next read from the socket, at most `max` bytes (fewer
    /// when the receive chunk has at least 4 KiB left): read into it, then
    /// call [`handle_read`](Self::handle_read) with the count read. The
    /// bytes are decoded where they lie, which saves the copy
    /// [`handle_input`](Self::handle_input) makes of each read (see
    /// [`Decoder::spare`](crate::Decoder::spare)). The room is zeroed
    /// first; a socket that can read into uninitialised memory skips that
    /// with [`read_with`](Self::read_with).
    pub fn input_buf(&mut self, max: usize) -> &mut [u8] {
        self.decoder.spare(max)
    }

    /// `n` bytes were read at `now` into the room [`input_buf`](Self::input_buf)
    /// lent. Then drain the outputs.
    ///
    /// # Panics
    ///
    /// If `n` is more than that room.
    pub fn handle_read(&mut self, n: usize, now: Instant) {
        if self.is_closed() || n == 0 {
            return;
        }
        self.decoder.commit(n);
        self.input(n, now);
    }

    /// Reads once with `read` straight into the receive buffer at `now`,
    /// as [`input_buf`](Self::input_buf) and
    /// [`handle_read`](Self::handle_read) do, but into room that is not
    /// zeroed first (see [`Decoder::read_with`](crate::Decoder::read_with):
    /// `read` gets at most `max` bytes of uninitialised room and returns the
    /// bytes it filled, from the room's start). Then drain the outputs.
    ///
    /// Returns the count read (0 at the end of the stream, and without
    /// reading once the session is closed), or `read`'s error.
    ///
    /// # Panics
    ///
    /// If `read` returns bytes that are not the first bytes of the room.
    pub fn read_with<E>(
        &mut self,
        max: usize,
        now: Instant,
        read: impl FnOnce(&mut [MaybeUninit<u8>]) -> Result<&mut [u8], E>,
    ) -> Result<usize, E> {
        self.read_with_clock(max, || now, read)
    }

    /// As [`read_with`](Self::read_with), for a read that may block until
    /// bytes come: the instant of the read is `clock()`, read once `read`
    /// returned bytes (not before, when it may have waited long), and not
    /// read at all when nothing came or `read` failed.
    pub fn read_with_clock<E>(
        &mut self,
        max: usize,
        clock: impl FnOnce() -> Instant,
        read: impl FnOnce(&mut [MaybeUninit<u8>]) -> Result<&mut [u8], E>,
    ) -> Result<usize, E> {
        if self.is_closed() {
            return Ok(0);
        }
        let n = self.decoder.read_with(max, read)?;
        if n > 0 {
            self.input(n, clock());
        }
        Ok(n)
    }

    /// `n` new bytes are in the decoder: notes the activity and decodes.
    #[inline]
    fn input(&mut self, n: usize, now: Instant) {
        self.now = now;
        self.stats.bytes_in += n as u64;
        if let Some(hb) = &mut self.heartbeat {
            hb.on_activity(now);
            self.timers.set(Timer::Heartbeat, hb.poll_timeout());
        }
        self.process(now);
    }

    /// Fires every deadline due at `now`; early calls do nothing.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        self.now = now;
        let due: Vec<Timer> = self.timers.expired(now).collect();
        for timer in due {
            match timer {
                Timer::Login if self.login != Step::Done => {
                    self.fail_login(LoginError::Timeout, now);
                }
                Timer::Login => {}
                Timer::Heartbeat => self.heartbeat_due(now),
            }
        }
        while let Some(id) = self.table.pop_expired(now) {
            self.action_expired(id, now);
        }
    }

    /// The transport closed (EOF or error) at `now`. Every action still
    /// pending completes with `ConnectionLost`.
    pub fn handle_closed(&mut self, now: Instant) {
        if self.is_closed() {
            return;
        }
        let reason = match self.state {
            ConnState::LoggingOff if self.goodbye => CloseReason::LoggedOff,
            _ if self.login != Step::Done => CloseReason::LoginFailed(LoginError::ConnectionLost),
            _ => CloseReason::Lost,
        };
        self.close(reason, now);
    }

    // ---- commands ----

    /// Queues `action` for sending and returns the id its completion will carry.
    ///
    /// Refused (nothing queued) when the session is not ready, the action is
    /// malformed (CR/LF, long line, too many lines), it lacks a parameter its
    /// action requires in every Asterisk version that documents it
    /// ([`SendError::MissingParameter`], see [`Action::check_required`]), the pending table is full,
    /// the write buffer cannot take it, or it is an async Originate on a
    /// session known to receive no call events ([`SendError::NoCallEvents`]).
    pub fn send(&mut self, action: Action, now: Instant) -> Result<ActionId, SendError> {
        if !self.is_ready() {
            return Err(SendError::NotReady {
                state: self.state.name(),
            });
        }
        let (info, list) = self.catalogued.of(action.name());
        action.check_required_in(info)?;
        let strategy = action.strategy_in(list);
        if let Some(off) = self.call_events.refusal() {
            if strategy == Strategy::Originate {
                return Err(SendError::NoCallEvents(off.clone()));
            }
        }
        self.now = now;
        let logoff = action.name().eq_ignore_ascii_case("Logoff");
        let id = self.enqueue(&action, strategy, Owner::User, now)?;
        if action.name().eq_ignore_ascii_case("Events") {
            let mask = action.get("EventMask").unwrap_or_default();
            self.call_events.sent(id.clone(), mask);
        }
        log!(debug, self, id, action = ?action.redacted(&self.config.redaction), "action queued");
        if logoff {
            self.set_state(ConnState::LoggingOff);
        }
        Ok(id)
    }

    /// Sends `Logoff`; the session closes when `Goodbye` arrives (or the
    /// server hangs up). Pending actions still complete.
    pub fn logoff(&mut self, now: Instant) -> Result<ActionId, SendError> {
        self.send(Action::logoff(), now)
    }

    /// Completes a pending action with `Cancelled` now; whatever the server
    /// still sends for it is absorbed. Returns whether it was pending.
    pub fn cancel(&mut self, id: &ActionId, now: Instant) -> bool {
        match self.table.get(id.as_bytes()) {
            Some(p) if !p.done && p.owner == Owner::User => {
                self.stats.cancelled += 1;
                self.finish(id.clone(), Err(ActionError::Cancelled), now);
                true
            }
            _ => false,
        }
    }

    /// Drops `n` bytes that the socket took from the front of `poll_transmit`.
    ///
    /// Performance: a write of all of it (the rule) empties the buffer
    /// where it is, and the next action is encoded in the same bytes;
    /// advancing past them cost about 50 instructions a write (`BytesMut`
    /// keeps its offset into its vector), and moved the start through the
    /// buffer's room, to be reclaimed once it ran out.
    #[inline]
    pub fn advance(&mut self, n: usize) {
        let n = n.min(self.tx.len());
        match n == self.tx.len() {
            true => self.tx.clear(),
            false => self.tx.advance(n),
        }
        self.stats.bytes_out += n as u64;
    }

    // ---- outputs ----

    /// Bytes to write, if any. Write them, then call [`advance`](Self::advance)
    /// with how many the socket took (partial writes are normal).
    pub fn poll_transmit(&self) -> Option<&[u8]> {
        (!self.tx.is_empty()).then_some(&self.tx[..])
    }

    /// The next state change, completion or event. State changes and
    /// completions come before queued events; never dropped for them.
    pub fn poll_output(&mut self) -> Option<Output> {
        if let Some(out) = self.poll_completion() {
            return Some(out);
        }
        self.poll_event().map(Output::Event)
    }

    /// The next state change or completion, leaving events queued (in the
    /// connection's bounded queue, under its policy) for a later
    /// [`poll_event`](Self::poll_event).
    #[inline]
    pub fn poll_completion(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The next queued event. Under [`QueuePolicy::Backpressure`] taking one
    /// resumes decoding of bytes held back, which may produce completions:
    /// poll those too.
    pub fn poll_event(&mut self) -> Option<Event> {
        // Decoding stops only at a full queue: only then is there anything
        // to resume (an unfinished frame waiting for bytes is not tried again
        // for every event taken).
        let held = self.held_back();
        let event = self.events.pop()?;
        if held {
            // Room again: decode what back-pressure held back, as of the
            // latest input's time.
            self.process(self.now);
        }
        Some(event)
    }

    /// Moves up to `max` queued events, oldest first, to the end of `out`;
    /// returns how many. As [`poll_event`](Self::poll_event) does for one:
    /// taking them resumes decoding of bytes back-pressure held back, which
    /// may produce completions: poll those too.
    ///
    /// Performance: for an adapter that hands events out in batches. One
    /// call per batch instead of one per event, and under back-pressure
    /// the held-back bytes are decoded once per batch, where taking events
    /// one by one decoded one frame per event taken.
    pub fn poll_events(&mut self, out: &mut Vec<Event>, max: usize) -> usize {
        let held = self.held_back();
        let n = self.events.pop_into(out, max);
        if held && n > 0 {
            self.process(self.now);
        }
        n
    }

    /// Drops the oldest queued event, counted in
    /// [`Stats::events_dropped_full`] (and logged as a full queue's drops
    /// are); returns whether there was one. Like
    /// [`poll_event`](Self::poll_event) it resumes decoding held-back
    /// bytes: poll the completions after.
    ///
    /// For an adapter whose consumer's queue cannot take the event: under
    /// [`QueuePolicy::Backpressure`] while an action awaits its answer
    /// (an answer never waits behind events nobody reads), or for a closed
    /// session's leftovers.
    pub fn drop_event(&mut self) -> bool {
        let dropped = self.poll_event().is_some();
        if dropped {
            self.note_drop();
        }
        dropped
    }

    /// The next instant [`handle_timeout`](Self::handle_timeout) is due, if any.
    /// Ask again after any input or command.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        if self.is_closed() {
            return None;
        }
        let actions = self.table.next_deadline();
        match (self.timers.next(), actions) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    // ---- internals ----

    /// Decodes while the event queue can take events.
    ///
    /// Performance: the paths a round trip does not take (a list's run of
    /// items, the banner, a decode error) are not inlined here: inlined,
    /// their set-up (addresses and values hoisted out of the loop) made a
    /// prologue of about 65 instructions per call, i.e. per read.
    fn process(&mut self, now: Instant) {
        // The frame a run of a list's items stopped at (decoded, so routed
        // whatever the queue), and where its routing headers are.
        let mut handed_back = None;
        loop {
            let (item, located) = match handed_back.take() {
                Some(frame) => frame,
                None => {
                    // Performance: a read of whole frames ends with nothing
                    // buffered, and a decoder call that finds nothing cost
                    // about 140 instructions (a fifth of a Ping's answer).
                    if self.decoder.buffered() == 0 || self.is_closed() || self.held_back() {
                        break;
                    }
                    // Frames are routed by their headers only while an
                    // action is in the table (see `on_event`).
                    self.decoder.locate(self.table.len() > 0);
                    let Some(item) = self.decoder.next_frame() else {
                        break;
                    };
                    (item, self.decoder.located().copied())
                }
            };
            match item {
                Ok(frame) => {
                    if let Some(list) = self.on_frame(frame, located.as_ref(), now) {
                        handed_back = self.collect_items(&list);
                    }
                }
                Err(err) => self.on_decode_error(err, now),
            }
        }
    }

    /// Takes the items of the list `list` collects that follow in the
    /// decoder's buffer, as [`Connection::on_event`] would; returns the
    /// first frame that is not one (with where its routing headers are),
    /// for the general path, or `None` once nothing more can be decoded.
    ///
    /// Performance: a 100k-item list arrives as runs of items, each read
    /// holding a hundred or so. The decoder cuts such a run in one call
    /// ([`Decoder::take_run`]), an item known by the headers it located
    /// ([`is_list_item`]: its `ActionID` the list's, no `EventList` line, a
    /// name not ending in `Complete`), and the list keeps the run's bytes
    /// and a record per item ([`ListItems`]): no frame is made per item,
    /// and the list's entry is found once per run. Anything else (another
    /// action's or no `ActionID`, any `EventList`, a list end, a response,
    /// a frame not located, a blank line, a frame past its limit) is
    /// decoded the general way; an item among those is taken here too.
    #[inline(never)]
    fn collect_items(&mut self, list: &ActionId) -> Option<(DecodeResult, Option<Located>)> {
        let (max_items, max_bytes) = (self.config.max_list_items, self.config.max_list_bytes);
        // What `held_back` tests, with the queue's part taken once: the
        // items of a list do not go to the queue.
        let (queue_full, max_frame) = (self.queue_holds(), self.config.max_frame);
        if self.is_closed() {
            return None;
        }
        let pending = self.table.get_mut(list.as_bytes())?;
        let Phase::List {
            items,
            bytes,
            overflowed,
            ..
        } = &mut pending.phase
        else {
            return None;
        };
        // The list's entry is in the table: frames are located.
        self.decoder.locate(true);
        let hold = queue_full.then_some(2 * max_frame);
        let redaction = self.decoder.redaction();
        let stats = &mut self.stats;
        loop {
            let first = items.len();
            let run = self.decoder.take_run(hold, |start, headers, located| {
                if !is_list_item(headers, list.as_bytes(), located) {
                    return false;
                }
                stats.frames += 1;
                stats.events += 1;
                if admits(
                    items,
                    bytes,
                    overflowed,
                    headers.len(),
                    max_items,
                    max_bytes,
                ) {
                    items.push_record(start, headers.len() as u32);
                }
                true
            });
            items.end_run(first, run, redaction);
            if holds_back(queue_full, self.decoder.buffered(), max_frame) {
                return None;
            }
            let item = self.decoder.next_frame()?;
            let located = self.decoder.located();
            match item {
                Ok(Frame::Event(event)) if event.is_item_of(list.as_bytes(), located) => {
                    stats.frames += 1;
                    stats.events += 1;
                    take_item(items, bytes, overflowed, event, max_items, max_bytes);
                }
                item => return Some((item, located.copied())),
            }
        }
    }

    /// Whether decoding waits for the event queue (see [`holds_back`]).
    fn held_back(&self) -> bool {
        holds_back(
            self.queue_holds(),
            self.decoder.buffered(),
            self.config.max_frame,
        )
    }

    /// Whether the event queue is full and its policy is back-pressure.
    fn queue_holds(&self) -> bool {
        self.config.queue_policy == QueuePolicy::Backpressure && self.events.is_full()
    }

    /// `located`: where the decoder found the frame's routing headers, if
    /// it looked. Returns the id of the list the frame was an item of, if
    /// it was one.
    fn on_frame(
        &mut self,
        frame: Frame,
        located: Option<&Located>,
        now: Instant,
    ) -> Option<ActionId> {
        if self.login == Step::AwaitBanner && !matches!(frame, Frame::Banner(_)) {
            // Something speaks, but not AMI: a wrong port or protocol.
            let first = match &frame {
                Frame::Response(m) => m.first_name().to_vec(),
                Frame::Event(m) => m.first_name().to_vec(),
                Frame::Other(m) => m.first_name().to_vec(),
                Frame::Banner(_) => unreachable!("excluded above"),
            };
            let err = LoginError::BadBanner(String::from_utf8_lossy(&first).into_owned());
            self.fail_login(err, now);
            return None;
        }
        match frame {
            Frame::Banner(banner) => self.on_banner(&banner, now),
            Frame::Response(response) => {
                self.stats.frames += 1;
                self.stats.responses += 1;
                self.on_response(response, located, now);
            }
            Frame::Event(event) => {
                self.stats.frames += 1;
                self.stats.events += 1;
                return self.on_event(event, located, now);
            }
            Frame::Other(message) => {
                self.stats.frames += 1;
                self.stats.desyncs += 1;
                log!(warn, self, "-", first = ?String::from_utf8_lossy(message.first_name()), "frame is neither response nor event");
            }
        }
        None
    }

    #[inline(never)]
    fn on_banner(&mut self, banner: &[u8], now: Instant) {
        if self.login != Step::AwaitBanner {
            return;
        }
        log!(debug, self, "-", banner = %String::from_utf8_lossy(banner), "banner");
        if !login::is_ami_banner(banner) {
            let err = LoginError::BadBanner(String::from_utf8_lossy(banner).into_owned());
            return self.fail_login(err, now);
        }
        let next = login::after_banner(&self.config);
        self.login_next(next, now);
    }

    fn login_next(&mut self, next: Next, now: Instant) {
        match next {
            Next::Send(action, step) => {
                let owner = match step {
                    Step::AwaitChallenge => Owner::Challenge,
                    _ => Owner::Login,
                };
                match self.enqueue(&action, action.strategy(), owner, now) {
                    Ok(_) => self.login = step,
                    Err(err) => self.fail_login(LoginError::Refused(err.to_string()), now),
                }
            }
            Next::Ready => {
                self.login = Step::Done;
                self.timers.set(Timer::Login, None);
                if let Some(interval) = self.config.heartbeat_interval {
                    let hb = Heartbeat::new(
                        interval,
                        self.config.action_timeout,
                        self.config.heartbeat_misses,
                        now,
                    );
                    self.timers.set(Timer::Heartbeat, hb.poll_timeout());
                    self.heartbeat = Some(hb);
                }
                let user = self
                    .config
                    .redaction
                    .apply("Username", self.config.username.as_bytes());
                log!(info, self, "-", %user, "logged in");
                self.set_state(ConnState::Ready);
            }
            Next::Failed(err) => self.fail_login(err, now),
        }
    }

    fn fail_login(&mut self, err: LoginError, now: Instant) {
        log!(warn, self, "-", error = %err, "login failed");
        self.close(CloseReason::LoginFailed(err), now);
    }

    /// Encodes and registers an action (whose [`Action::strategy`] is
    /// `strategy`: worked out once per send, as it takes a catalogue
    /// look-up); refuses it whole or not at all.
    ///
    /// Performance: in line in [`Connection::send`] (its id and result
    /// moved once less, ~20 instructions a send).
    #[inline(always)]
    fn enqueue(
        &mut self,
        action: &Action,
        strategy: Strategy,
        owner: Owner,
        now: Instant,
    ) -> Result<ActionId, SendError> {
        if self.table.len() >= self.config.max_pending {
            return Err(SendError::TooManyPending {
                max: self.config.max_pending,
            });
        }
        let id = match action.action_id() {
            Some(chosen) => self.chosen_id(chosen)?,
            None => self.next_id(),
        };
        let before = self.tx.len();
        encode::encode(action, Some(&id), &mut self.tx)?;
        if self.tx.len() > self.config.max_write_buffer && before > 0 {
            self.tx.truncate(before);
            return Err(SendError::WriteBufferFull {
                buffered: before,
                max: self.config.max_write_buffer,
            });
        }
        let timeout = action
            .timeout()
            .unwrap_or_else(|| self.default_timeout(action, strategy));
        let kind = Kind::of(action.name());
        self.table
            .insert(id.clone(), strategy, kind, owner, timeout, now);
        self.stats.actions_sent += 1;
        if strategy == Strategy::Command {
            // Only a Command can change the limit from the back of the
            // line: it may be first in line (no one else awaits an answer).
            self.update_response_limit();
        }
        Ok(id)
    }

    /// The caller's ActionID, checked as generated ones are built: bounded,
    /// printable, and unique among this connection's pending actions
    /// (tombstones included: a late answer must not complete it).
    fn chosen_id(&mut self, chosen: &str) -> Result<ActionId, SendError> {
        crate::action_id::check_chosen(chosen, self.config.max_action_id)?;
        if self.table.get(chosen.as_bytes()).is_some() {
            return Err(SendError::DuplicateActionId { id: chosen.into() });
        }
        self.chosen_ids = true;
        Ok(ActionId::from_bytes(Bytes::copy_from_slice(
            chosen.as_bytes(),
        )))
    }

    /// The next generated ActionID, skipping any a caller chose for an
    /// action still in the table (only looked up once a caller has chosen
    /// one: generated ids never repeat among themselves).
    ///
    /// Performance: in line (the id, 40 bytes, was returned through memory
    /// once more: ~20 instructions a send).
    #[inline(always)]
    fn next_id(&mut self) -> ActionId {
        loop {
            let id = self.ids.next();
            if !self.chosen_ids || self.table.get(id.as_bytes()).is_none() {
                return id;
            }
        }
    }

    /// An `Originate`, synchronous or async, may take its whole dial timeout
    /// (its `Timeout` header in milliseconds, else Asterisk's 30 s, at most a
    /// day): the server answers a synchronous one only once the call is
    /// answered or that time has passed, and reports an async one's outcome
    /// then. A margin covers the answer's way back. Other actions: the
    /// configured timeout.
    fn default_timeout(&self, action: &Action, strategy: Strategy) -> Duration {
        const DIAL_DEFAULT: Duration = Duration::from_secs(30);
        const DIAL_MAX: Duration = Duration::from_secs(86_400);
        const MARGIN: Duration = Duration::from_secs(5);
        let base = self.config.action_timeout;
        if strategy != Strategy::Originate && !action.name().eq_ignore_ascii_case("Originate") {
            return base;
        }
        let dial = action
            .get("Timeout")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map_or(DIAL_DEFAULT, Duration::from_millis);
        base.max(dial.min(DIAL_MAX) + MARGIN)
    }

    /// Lets the next response be as large as Command output may be, while a
    /// Command is first in line.
    fn update_response_limit(&mut self) {
        let command_next = self
            .table
            .head()
            .is_some_and(|p| p.strategy == Strategy::Command);
        self.decoder.set_response_limit(if command_next {
            self.config.max_command_output
        } else {
            self.config.max_frame
        });
    }

    /// Performance: a single-flight round trip's answer is decided in
    /// line, the rest out of line:
    /// - the answer of the table's lone entry (one action in flight) is
    ///   taken in line; one looked for in the FIFO, out of line
    ///   ([`Connection::take_queued_answer`]): the match's ticket and
    ///   moves cost ~60 instructions;
    /// - a plain answer (`Success` for a live action of one response, see
    ///   [`Pending::is_plain`]) completes in line; any other is decided by
    ///   [`Connection::on_answer`], which decides a plain one the same way:
    ///   its paths in line cost ~45 instructions in moves and set-up.
    fn on_response(&mut self, response: Response, located: Option<&Located>, now: Instant) {
        let routing = response.routing_located(located);
        let starts_list = routing.starts_list();
        // Out of the table until decided: kept if more is to come for it.
        let (id, pending, early) = match self.table.take_lone_answer(routing.action_id) {
            Some(answered) => {
                self.update_response_limit();
                answered
            }
            None => match self.take_queued_answer(&response, routing.action_id, now) {
                Some(answered) => answered,
                None => return,
            },
        };
        let plain = pending.is_plain(starts_list);
        #[cfg(test)]
        let plain = plain && !self.general_answers;
        if plain && response.status() == Status::Success {
            return self.finish_answered(id, pending, Ok(Completion::Response(response)), now);
        }
        self.on_answer(response, id, pending, early, starts_list, now);
    }

    /// Decides what `response` means for the action `id` it answers, taken
    /// out of the table as `pending` (with the `OriginateResponse` that
    /// overtook it, `early`): completed, refused, kept for a list or an
    /// Originate's outcome, or absorbed if the action is over already.
    #[inline(never)]
    fn on_answer(
        &mut self,
        response: Response,
        id: ActionId,
        mut pending: Box<Pending>,
        early: Option<Event>,
        starts_list: bool,
        now: Instant,
    ) {
        let (owner, strategy, kind) = (pending.owner, pending.strategy, pending.kind);
        if pending.done {
            // A timed-out or cancelled action's late answer: absorb it, and
            // its list if it opens one.
            if starts_list {
                pending.phase = new_list(response);
                self.table.keep(id, pending);
            } else {
                self.table.discard(&id, pending);
            }
            return;
        }
        match owner {
            Owner::Challenge => {
                self.table.discard(&id, pending);
                let next = login::after_challenge(&self.config, &response);
                return self.login_next(next, now);
            }
            Owner::Login => {
                self.table.discard(&id, pending);
                let next = login::after_login(&response);
                return self.login_next(next, now);
            }
            Owner::Heartbeat | Owner::User => {}
        }
        let status = response.status();
        let succeeded = match status {
            Status::Success => true,
            Status::Goodbye => kind == Kind::Logoff,
            Status::Follows => kind == Kind::Command,
            _ => false,
        };
        if !succeeded {
            if starts_list {
                // Absorb the items of a list it still opens.
                pending.phase = new_list(response.clone());
            }
            return self.finish_answered(id, pending, Err(refusal(status, &response)), now);
        }
        if status == Status::Goodbye {
            self.goodbye = true;
            self.set_state(ConnState::LoggingOff);
        }
        let done = match strategy {
            _ if starts_list => {
                pending.phase = new_list(response);
                return self.table.keep(id, pending);
            }
            Strategy::Single => Completion::Response(response),
            Strategy::List => {
                // A plain `Success` (1.8–11-era servers): the items and the
                // end still follow, and must not leak out as events.
                log!(
                    debug,
                    self,
                    id,
                    "list acknowledged without EventList: start"
                );
                pending.phase = new_list(response);
                return self.table.keep(id, pending);
            }
            Strategy::Command => {
                let lines = command_lines(&response);
                Completion::from(CommandOutput { response, lines })
            }
            Strategy::Originate => match early {
                Some(event) => Completion::from(OriginateOutcome { response, event }),
                // Kept for up to the dial timeout: an owned copy, so it
                // does not pin its receive chunk that long.
                None => {
                    let response = response.detach();
                    pending.phase = Phase::Originate { response };
                    return self.table.keep(id, pending);
                }
            },
        };
        self.finish_answered(id, pending, Ok(done), now);
    }

    /// The owner of `response` (whose ActionID is `action_id`) matched in
    /// the FIFO and taken out of the table (see [`Table::take_answered`]),
    /// once the live actions ahead of it, whose answers never came, have
    /// failed; `None` if it has no owner (then it is counted and logged,
    /// unless it refuses a list being collected).
    #[inline(never)]
    fn take_queued_answer(
        &mut self,
        response: &Response,
        action_id: Option<&[u8]>,
        now: Instant,
    ) -> Option<(ActionId, Box<Pending>, Option<Event>)> {
        let matched = self.table.match_response(action_id);
        self.update_response_limit();
        let ResponseMatch::Found { id, skipped } = matched else {
            if self.on_list_refusal(response, now) {
                return None;
            }
            self.stats.desyncs += 1;
            let id = String::from_utf8_lossy(action_id.unwrap_or(b"-")).into_owned();
            let message = response.get("Message").unwrap_or_default();
            let message = self.config.redaction.apply("Message", message);
            log!(warn, self, id, %message, "response matches no pending action");
            return None;
        };
        if !skipped.is_empty() {
            self.fail_skipped(skipped, now);
        }
        let (pending, early) = self.table.take_answered(&id)?;
        Some((id, pending, early))
    }

    /// A refusal naming an action whose list is being collected. Asterisk
    /// answers `Response: Error` after `EventList: start` when a list fails
    /// half-way (`ShowDialPlan` for a missing extension, `CoreShowChannelMap`,
    /// `PJSIPShowEndpoint`, which still ends the list afterwards): the action
    /// fails with the server's words and its items are dropped; the entry stays
    /// as a tombstone, holding nothing, to absorb the rest of the list. Returns
    /// whether the response was such a refusal (else it matches no action).
    fn on_list_refusal(&mut self, response: &Response, now: Instant) -> bool {
        let status = response.status();
        if status == Status::Success {
            return false;
        }
        let Some(pending) = response.action_id().and_then(|id| self.table.get_mut(id)) else {
            return false;
        };
        let Phase::List {
            items, overflowed, ..
        } = &mut pending.phase
        else {
            return false;
        };
        *items = ListItems::new();
        *overflowed = true;
        if !pending.done {
            let id = ActionId::from_bytes(
                response
                    .headers()
                    .get_bytes("ActionID")
                    .expect("matched by it"),
            );
            log!(debug, self, id, "list refused after it started");
            self.finish(id, Err(refusal(status, response)), now);
        }
        true
    }

    /// Live actions whose responses were overtaken: the server answers in
    /// order, so theirs will never come.
    fn fail_skipped(&mut self, skipped: Vec<ActionId>, now: Instant) {
        for lost in skipped {
            self.stats.desyncs += 1;
            log!(
                warn,
                self,
                lost,
                "response never came; a later action was answered"
            );
            let err = ActionError::Desync("the server answered a later action first".into());
            self.finish(lost, Err(err), now);
        }
    }

    /// Gives an event carrying a pending action's id to that action (list
    /// item, list end, Originate outcome); any other event is queued.
    /// Returns the list's id if the event was a list's item.
    fn on_event(
        &mut self,
        event: Event,
        located: Option<&Located>,
        now: Instant,
    ) -> Option<ActionId> {
        // Performance: with no entry in the table (live or tombstone) no
        // action can claim the event, so skip the `ActionID` scan over every
        // header, the id copy and the hash: the common case of a flood.
        // Pinned by `tests::event_with_action_id_and_nothing_pending_is_queued`.
        if self.table.len() == 0 {
            self.queue_event(event);
            return None;
        }
        let (max_items, max_bytes) = (self.config.max_list_items, self.config.max_list_bytes);
        // Looked up by the borrowed bytes; an owned id is made only when the
        // event completes its action or starts a run of a list's items
        // (see `collect_items`). `ActionID` and `EventList` (which a
        // list item lacks, so every line is read) are found by the decoder
        // as it searches for the frame's end: no second pass.
        let routing = event.routing_located(located);
        let Some((list, pending)) = routing
            .action_id
            .and_then(|id| Some((id, self.table.get_mut(id)?)))
        else {
            self.queue_event(event);
            return None;
        };
        let owned_id = |event: &Event| {
            ActionId::from_bytes(
                event
                    .headers()
                    .get_bytes("ActionID")
                    .expect("matched by it"),
            )
        };
        match &mut pending.phase {
            Phase::List {
                items,
                bytes,
                overflowed,
                ..
            } if !event.completes_list_with(&routing, located) => {
                // A slice of the frame: no copy.
                let list = ActionId::from_bytes(event.headers().raw().slice_ref(list));
                take_item(items, bytes, overflowed, event, max_items, max_bytes);
                return Some(list);
            }
            Phase::List { .. } => {
                let id = owned_id(&event);
                let pending = self.table.remove(id.as_bytes()).expect("found above");
                let Phase::List {
                    response,
                    items,
                    overflowed,
                    ..
                } = pending.phase
                else {
                    unreachable!("matched as a list above")
                };
                if pending.done {
                    return None;
                }
                let result = if overflowed {
                    Err(ActionError::FrameTooLarge { limit: max_bytes })
                } else {
                    Ok(Completion::from(EventList {
                        response,
                        items,
                        complete: Some(event),
                    }))
                };
                self.emit(id, result, now);
            }
            Phase::Originate { .. } if event.is("OriginateResponse") => {
                let id = owned_id(&event);
                let pending = self.table.remove(id.as_bytes()).expect("found above");
                let Phase::Originate { response } = pending.phase else {
                    unreachable!("matched as an originate above")
                };
                if !pending.done {
                    let outcome = OriginateOutcome { response, event };
                    self.emit(id, Ok(Completion::from(outcome)), now);
                }
            }
            Phase::AwaitResponse { early_outcome }
                if pending.strategy == Strategy::Originate && event.is("OriginateResponse") =>
            {
                // Kept until the acknowledgement: an owned copy (see above).
                *early_outcome = Some(event.detach());
            }
            _ => self.queue_event(event),
        }
        None
    }

    fn queue_event(&mut self, event: Event) {
        match self.events.push(event) {
            Push::Queued => self.stats.events_queued += 1,
            Push::DroppedOldest(_) => {
                self.stats.events_queued += 1;
                self.note_drop();
            }
            Push::DroppedNewest(_) | Push::Full(_) => self.note_drop(),
        }
    }

    fn note_drop(&mut self) {
        self.stats.events_dropped_full += 1;
        // One line per thousand drops: a flood must not flood the log too.
        if self.stats.events_dropped_full % 1000 == 1 {
            log!(
                warn,
                self,
                "-",
                dropped = self.stats.events_dropped_full,
                "event queue full; dropping events"
            );
        }
    }

    #[inline(never)]
    fn on_decode_error(&mut self, err: DecodeError, now: Instant) {
        log!(warn, self, "-", error = %err, "decode error");
        match err {
            DecodeError::Garbage { .. } => self.stats.garbage += 1,
            DecodeError::FrameTooLarge {
                limit,
                response,
                action_id,
                ..
            } => {
                self.stats.oversized_frames += 1;
                if response {
                    // The owner is named by its id, or is first in line.
                    if let ResponseMatch::Found { id, skipped } =
                        self.table.match_response(action_id.as_deref())
                    {
                        self.fail_skipped(skipped, now);
                        self.finish(id, Err(ActionError::FrameTooLarge { limit }), now);
                    }
                    self.update_response_limit();
                    return;
                }
                let owner = action_id
                    .as_deref()
                    .and_then(|a| self.table.get_mut(a))
                    .filter(|p| matches!(p.phase, Phase::List { .. }));
                match owner {
                    Some(pending) => {
                        if let Phase::List {
                            overflowed, items, ..
                        } = &mut pending.phase
                        {
                            *overflowed = true;
                            items.clear();
                        }
                    }
                    None => self.stats.events_dropped_oversized += 1,
                }
            }
        }
    }

    fn heartbeat_due(&mut self, now: Instant) {
        if self.held_back() {
            // Back-pressure: the pong may sit in bytes we chose not to read.
            // The link is not the suspect; check again an interval later.
            let interval = self.config.heartbeat_interval.unwrap_or_default();
            self.timers
                .set(Timer::Heartbeat, Some(instant_after(now, interval)));
            return;
        }
        let Some(hb) = &mut self.heartbeat else {
            return;
        };
        let action = hb.handle_timeout(now);
        match action {
            HeartbeatAction::None => {}
            HeartbeatAction::SendPing => {
                let ping = Action::ping();
                if let Ok(id) = self.enqueue(&ping, Strategy::Single, Owner::Heartbeat, now) {
                    self.stats.heartbeats += 1;
                    self.heartbeat_ping = Some(id);
                    if let Some(hb) = &mut self.heartbeat {
                        hb.ping_sent(now);
                    }
                }
            }
            HeartbeatAction::Degraded { misses } => {
                self.stats.heartbeat_misses += 1;
                log!(warn, self, "-", misses, "heartbeat pong missed");
                if self.is_ready() {
                    self.set_state(ConnState::Degraded { misses });
                }
            }
            HeartbeatAction::Dead => {
                self.stats.heartbeat_misses += 1;
                log!(warn, self, "-", "heartbeat: link dead");
                self.close(CloseReason::HeartbeatTimeout, now);
                return;
            }
        }
        let next = self.heartbeat.as_ref().and_then(Heartbeat::poll_timeout);
        self.timers.set(Timer::Heartbeat, next);
        // A miss may make a ping due at once.
        if next.is_some_and(|at| at <= now) {
            self.heartbeat_due(now);
        }
    }

    fn action_expired(&mut self, id: ActionId, now: Instant) {
        let Some(pending) = self.table.get(id.as_bytes()) else {
            return;
        };
        if pending.done {
            // A tombstone's grace period is over.
            self.table.remove(id.as_bytes());
            self.update_response_limit();
            return;
        }
        match pending.owner {
            Owner::User => {
                let timeout = pending.timeout;
                self.stats.timeouts += 1;
                log!(debug, self, id, ?timeout, "action timed out");
                self.finish(id, Err(ActionError::Timeout(timeout)), now);
            }
            // The heartbeat's pong deadline decides; keep the table clean.
            Owner::Heartbeat => self.table.complete(&id, now),
            // The login deadline covers these.
            Owner::Challenge | Owner::Login => self.table.complete(&id, now),
        }
    }

    /// Completes an action once: output for the caller, or the internal use.
    fn finish(&mut self, id: ActionId, result: Result<Completion, ActionError>, now: Instant) {
        self.call_events.completed(&id, &result);
        self.table.complete(&id, now);
        self.emit(id, result, now);
    }

    /// [`finish`](Self::finish) for an action whose response was just
    /// matched, its entry taken out of the table
    /// ([`Table::take_answered`](crate::correlation::Table::take_answered)).
    ///
    /// Performance: in line, the answer is moved once less (about 20
    /// instructions per response).
    #[inline]
    fn finish_answered(
        &mut self,
        id: ActionId,
        pending: Box<Pending>,
        result: Result<Completion, ActionError>,
        now: Instant,
    ) {
        self.call_events.completed(&id, &result);
        self.table.finish_answered(&id, pending, now);
        self.emit(id, result, now);
    }

    fn emit(&mut self, id: ActionId, result: Result<Completion, ActionError>, now: Instant) {
        if self.heartbeat_ping.as_ref() == Some(&id) {
            self.heartbeat_ping = None;
            if result.is_ok() {
                if let Some(hb) = &mut self.heartbeat {
                    hb.on_pong(now);
                    self.timers.set(Timer::Heartbeat, hb.poll_timeout());
                }
                if matches!(self.state, ConnState::Degraded { .. }) {
                    self.set_state(ConnState::Ready);
                }
            }
            return;
        }
        match &result {
            Ok(_) => self.stats.actions_ok += 1,
            Err(_) => self.stats.actions_failed += 1,
        }
        self.outputs.push_back(Output::Completion { id, result });
    }

    fn set_state(&mut self, state: ConnState) {
        if self.state != state {
            self.state = state.clone();
            self.outputs.push_back(Output::State(state));
        }
    }

    /// Ends the session: every live action completes with `ConnectionLost`.
    fn close(&mut self, reason: CloseReason, now: Instant) {
        for (id, pending) in self.table.drain_live() {
            if pending.owner == Owner::User {
                self.emit(id, Err(ActionError::ConnectionLost), now);
            }
        }
        self.heartbeat_ping = None;
        self.heartbeat = None;
        self.timers = TimerTable::default();
        self.tx.clear();
        log!(info, self, "-", ?reason, "session closed");
        self.set_state(ConnState::Closed(reason));
    }
}

/// The server's `Message`, followed by any output lines (a failed `Command`
/// says why only in its output: `No such command ...`).
fn error_message(response: &Response) -> String {
    let mut message = response
        .message()
        .map(|m| m.into_owned())
        .unwrap_or_default();
    for line in response.output_lines() {
        message.push_str(if message.is_empty() { "" } else { "\n" });
        message.push_str(&String::from_utf8_lossy(line));
    }
    message
}

/// The error for a response whose `status` is not success for its action:
/// [`ActionError::Server`] for `Error`, else [`ActionError::Failed`].
fn refusal(status: Status, response: &Response) -> ActionError {
    let message = error_message(response);
    match status {
        Status::Error => ActionError::Server { message },
        _ => ActionError::Failed {
            status: status_text(response),
            message,
        },
    }
}

/// The `Response` header's value, verbatim (lossy UTF-8).
fn status_text(response: &Response) -> String {
    response
        .get_str("Response")
        .map(|status| status.into_owned())
        .unwrap_or_default()
}

/// Back-pressure: a full queue (`queue_full`, under back-pressure) stops
/// decoding. Bounded all the same: past two frames' worth of `buffered`
/// bytes, decoding goes on and events drop.
fn holds_back(queue_full: bool, buffered: usize, max_frame: usize) -> bool {
    queue_full && buffered <= 2 * max_frame
}

/// What [`Decoder::next_frame`] gives.
type DecodeResult = Result<Frame, DecodeError>;

/// Adds `event` to the items of a list, within its bounds (see [`admits`]).
#[inline(always)]
fn take_item(
    items: &mut ListItems,
    bytes: &mut usize,
    overflowed: &mut bool,
    event: Event,
    max_items: usize,
    max_bytes: usize,
) {
    let len = event.headers().raw().len();
    if admits(items, bytes, overflowed, len, max_items, max_bytes) {
        items.push(event);
    }
}

/// Whether a list's next item, of `len` bytes of headers, is kept: within
/// its bounds (`max_items` items, `max_bytes` of headers). Past them the
/// list holds nothing, and absorbs the rest of its items up to its end.
#[inline(always)]
fn admits(
    items: &mut ListItems,
    bytes: &mut usize,
    overflowed: &mut bool,
    len: usize,
    max_items: usize,
    max_bytes: usize,
) -> bool {
    if *overflowed {
        return false;
    }
    *bytes += len;
    if items.len() >= max_items || *bytes > max_bytes {
        *overflowed = true;
        *items = ListItems::new();
        return false;
    }
    true
}

fn new_list(response: Response) -> Phase {
    Phase::List {
        response,
        items: ListItems::new(),
        bytes: 0,
        overflowed: false,
    }
}

fn command_lines(response: &Response) -> Vec<bytes::Bytes> {
    match response.follows_text() {
        Some(text) => {
            let base = text.as_ptr() as usize;
            crate::message::split_lines(text)
                .map(|line| {
                    let start = line.as_ptr() as usize - base;
                    text.slice(start..start + line.len())
                })
                .collect()
        }
        None => {
            let raw = response.headers().raw();
            let base = raw.as_ptr() as usize;
            response
                .headers()
                .get_all("Output")
                .map(|line| {
                    let start = line.as_ptr() as usize - base;
                    raw.slice(start..start + line.len())
                })
                .collect()
        }
    }
}

#[cfg(test)]
mod tests;

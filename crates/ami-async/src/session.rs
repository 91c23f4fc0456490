//! One session's state, and what the driver and the callers do with it.
//!
//! The core's [`Connection`], the socket, the actions awaiting an answer and
//! the event fan-out live here, behind the [`Link`](crate::link::Link)'s
//! lock, so that whoever holds the lock can do a turn's work: the driver,
//! or a caller that sends its own action and reads for its own answer. The
//! operations are the same for both (write what the core lends, read once,
//! hand out what the core has finished); what only the driver may do
//! (state changes, parking lost actions for the next session) is handed to
//! a callback, which the driver acts on at once and a caller leaves for
//! the driver.

use std::any::Any;
use std::io::{self, ErrorKind};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ami_proto::{
    instant_after, Action, ActionError, ActionId, Completion, ConnState, Connection, Event, Output,
    QueuePolicy, SendError,
};

use crate::command::{Caller, Callers, Pending};
use crate::config::ClientConfig;
use crate::error::ClientError;
use crate::events::Subscriber;
use crate::model::ModelFeed;
use crate::reply::Spare;
use crate::runtime::Socket;
use crate::shared::Shared;
use crate::transport::{Sink, Transport};

/// Sends that must find the session idle, after one found another action
/// in flight, before one goes out from its caller's task again.
pub(crate) const CROWD: u32 = 64;

/// What only the driver can act on: a state change (it may start the
/// supervisor's work: the first login, parked actions) and an action lost
/// with its session that is to be sent again on the next one.
pub(crate) enum ForDriver {
    State(ConnState),
    Lost(Pending),
}

/// What became of an action given to [`Session::send`].
pub(crate) enum Sent {
    /// Refused by the core; the caller has its error.
    Refused,
    /// Cancelled while it was being sent: its completion is the core's
    /// next output.
    Cancelled,
    /// Sent; it awaits its answer for this long (the core may allow an
    /// Originate longer, never less).
    Awaiting(Duration),
}

/// A caller reading the socket for its own answer (see
/// [`Link`](crate::link::Link)): its token, and since when.
#[derive(Clone, Copy)]
pub(crate) struct Holder {
    pub(crate) token: u64,
    pub(crate) since: Instant,
}

/// One session: the core, its socket, the callers it owes an answer, and
/// who reads.
pub(crate) struct Session<S: Socket> {
    pub(crate) conn: Connection,
    pub(crate) sock: Transport<S>,
    pub(crate) pending: Callers,
    /// The caller reading for its own answer; `None`: the driver reads.
    pub(crate) reader: Option<Holder>,
    /// The driver's waker as of its last wait, for the read readiness a
    /// caller hands back.
    pub(crate) driver: Option<Waker>,
    /// The link's relay points at `driver` (see `Link::relay_to_driver`):
    /// set when it is pointed there, cleared when it is pointed elsewhere
    /// or `driver` changes (all under the session's lock).
    pub(crate) relays_driver: bool,
    /// The link's relay has a read-readiness wait registered with this
    /// socket: the relay's count of wake-ups when it was registered (see
    /// [`crate::link::Link`]'s `wait_readable`). `None`: not known to.
    pub(crate) registered: Option<u64>,
    /// When the driver's timer fires, as its last turn armed it.
    pub(crate) alarm: Option<Instant>,
    /// Left by a caller for the driver (which is kicked).
    pub(crate) for_driver: Vec<ForDriver>,
    /// A caller's turn panicked: the payload, which the driver raises
    /// again, so that the client ends as after a panic of its own.
    pub(crate) panicked: Option<Box<dyn Any + Send>>,
    /// Sends still to come through the driver since one found another
    /// action in flight (see [`lone`](Self::lone)).
    crowded: u32,
    /// The live model's feed, if the client keeps one: whoever delivers
    /// feeds it (events, completions, the Originates sent), in order; the
    /// driver applies what it was fed ([`apply_model`](Self::apply_model)).
    pub(crate) model: Option<ModelFeed>,
    /// The most a read takes, read straight into the core's buffer.
    budget: usize,
    /// The last read filled the room it had ([`Session::read_full`]).
    full: bool,
    fan: Fanout,
    shared: Arc<Shared>,
    /// The counters were handed to `shared` during this delivery.
    synced: bool,
    /// Set by a send's own turn ([`crate::link::Link::try_send`]): its
    /// caller's answer, read in that turn, is kept in `own` for the turn to
    /// return, rather than handed over through the caller's reply slot.
    pub(crate) keep_own: bool,
    /// The answer kept so.
    pub(crate) own: Option<Result<Completion, ClientError>>,
    /// A reply slot its caller was done with, for the next direct send
    /// ([`crate::link::Link::try_send`]).
    ///
    /// Performance: a new slot per send was an allocation and a free per
    /// round trip, about 250 instructions; kept beside the link, behind a
    /// lock of its own, two lock round trips more. Kept here, the send's
    /// turn takes it and gives it back under the session's lock it holds.
    pub(crate) spare: Option<Spare<Result<Completion, ClientError>>>,
    resend: bool,
    action_timeout: Duration,
}

impl<S: Socket> Session<S> {
    pub(crate) fn new(
        conn: Connection,
        sock: Transport<S>,
        config: &ClientConfig,
        shared: Arc<Shared>,
    ) -> Self {
        Session {
            conn,
            sock,
            pending: Callers::default(),
            reader: None,
            registered: None,
            driver: None,
            relays_driver: false,
            alarm: None,
            for_driver: Vec::new(),
            panicked: None,
            crowded: 0,
            model: None,
            budget: config.read_budget.max(1),
            full: false,
            fan: Fanout::default(),
            shared,
            synced: false,
            keep_own: false,
            own: None,
            spare: None,
            resend: config.resend_on_reconnect,
            action_timeout: config.proto.action_timeout,
        }
    }

    /// The session with the client's model feed (kept across sessions).
    pub(crate) fn with_model(mut self, model: Option<ModelFeed>) -> Self {
        self.model = model;
        self
    }

    /// The driver's turn: applies what the model was fed (a batch at
    /// most; it may send the lists of a resynchronisation).
    pub(crate) fn apply_model(&mut self, now: Instant) {
        if let Some(model) = &mut self.model {
            model.flush(&mut self.conn, now);
        }
    }

    /// After a caller's turn: whether the model was fed and waits for the
    /// driver to apply it.
    pub(crate) fn model_waits(&self) -> bool {
        self.model.as_ref().is_some_and(ModelFeed::has_work)
    }

    /// Whether a send may go out from its caller's task: the session is
    /// ready and idle (nothing in flight, so no caller reads), and the last
    /// [`CROWD`] sends found it so too. Callers that keep several actions
    /// in flight go through the driver, which writes a pipelined load at
    /// once: without the hysteresis, each time every answer of a burst had
    /// come, the next send went out alone and broke the pipeline (a third
    /// of the throughput with 64 in flight).
    pub(crate) fn lone(&self) -> bool {
        self.conn.is_ready()
            && self.pending.is_empty()
            && self.crowded == 0
            && self.panicked.is_none()
    }

    /// Whether the holder of `token` reads now.
    pub(crate) fn reads(&self, token: u64) -> bool {
        self.reader.is_some_and(|h| h.token == token)
    }

    /// Sends `action` for `caller` (a direct caller's `token`, else 0). A
    /// refusal goes to the caller at once.
    pub(crate) fn send(
        &mut self,
        action: Action,
        caller: Caller,
        token: u64,
        now: Instant,
    ) -> Sent {
        self.crowded = match self.pending.is_empty() {
            true => self.crowded.saturating_sub(1),
            false => CROWD,
        };
        let timeout = action.timeout().unwrap_or(self.action_timeout);
        let resend = self
            .resend
            .then(|| Box::new((action.clone(), instant_after(now, timeout))));
        let followed = self.model.is_some() && ami_state::Model::follows(&action);
        let followed = followed.then(|| action.clone());
        match self.conn.send(action, now) {
            Ok(id) => {
                if let (Some(model), Some(action)) = (&mut self.model, followed) {
                    model.sent(&id, action);
                }
                let cancelled = caller.sent(&id);
                if cancelled {
                    self.conn.cancel(&id, now);
                }
                let p = Pending {
                    caller,
                    resend,
                    token,
                };
                self.pending.insert(id, p);
                match cancelled {
                    true => Sent::Cancelled,
                    false => Sent::Awaiting(timeout),
                }
            }
            // A session not logged in yet (or ending) is no session for a
            // caller: one error for "no session, nothing sent", not two.
            Err(SendError::NotReady { .. }) => {
                caller.send(Err(ClientError::Disconnected));
                Sent::Refused
            }
            Err(err) => {
                caller.send(Err(ClientError::Send(err)));
                Sent::Refused
            }
        }
    }

    /// Writes what the core lends; returns whether the socket would block.
    pub(crate) fn flush(&mut self, now: Instant) -> bool {
        flush(&mut self.sock, &mut self.conn, now)
    }

    /// Reads once (at most the budget) straight into the core's buffer;
    /// returns how many bytes came.
    pub(crate) fn read(&mut self, now: Instant) -> usize {
        self.full = false;
        match self.sock.read_into(&mut self.conn, self.budget, now) {
            Ok((0, _)) => self.conn.handle_closed(now),
            Ok((n, lent)) => {
                self.full = n == lent;
                return n;
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
            Err(_) => self.conn.handle_closed(now),
        }
        0
    }

    /// Whether the last read filled the room it had (up to the budget; less
    /// when the core's receive chunk had less left): more is likely
    /// waiting, so the reader reads again before waking consumers.
    pub(crate) fn read_full(&self) -> bool {
        self.full
    }

    /// The most a read takes.
    pub(crate) fn budget(&self) -> usize {
        self.budget
    }

    /// `Ready` when a read may make progress (at once if TLS holds
    /// plaintext); registers `cx`'s waker with the socket otherwise.
    pub(crate) fn poll_read_ready(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.sock.poll_readable(cx)
    }

    /// Drains the core's outputs. Returns whether back-pressure holds
    /// events back (the driver then stops reading until a consumer makes
    /// room).
    ///
    /// States and completions are always delivered, first: they never wait
    /// for a consumer. Events go to the subscribers up to the room the
    /// fullest one has, under back-pressure; except while an answer is
    /// awaited (an action of the user's, the heartbeat's Ping, the Logoff),
    /// when every event is drained and a full queue drops what it cannot
    /// take. So an answer never waits behind events nobody reads. Once the
    /// session is closed, everything drains.
    ///
    /// `quiet`: the token of the caller doing this turn, whose own answer
    /// needs no wake-up (it looks right after). `defer`: the reader reads
    /// again at once (its last read filled its room), so consumers are
    /// woken only past a batch's worth (see [`Subscriber::offer`]); the
    /// reader then calls [`wake_deferred`](Self::wake_deferred) before it
    /// does anything else. `driver` gets what only the driver may act on.
    pub(crate) fn deliver(
        &mut self,
        quiet: u64,
        defer: bool,
        driver: &mut dyn FnMut(&mut Self, ForDriver),
    ) -> bool {
        self.synced = false;
        let (held, queued, dropped) = match self.conn.queue_depth() {
            // No event waits (as after each answer of a round trip): only
            // completions and state changes, and no subscriber list to
            // take. Delivering them decodes nothing, so no event comes.
            0 => {
                while let Some(out) = self.conn.poll_completion() {
                    self.on_output(out, quiet, driver);
                }
                (false, 0, 0)
            }
            _ => self.deliver_events(quiet, defer, driver),
        };
        if !defer {
            self.wake_deferred();
        }
        let session = self.conn.stats();
        self.shared.update_stats(|s| {
            s.session = session;
            s.events_delivered += queued;
            s.events_dropped += dropped;
        });
        held
    }

    /// [`deliver`](Self::deliver) with events waiting in the core: the
    /// events to the subscribers, and the completions decoding them brings.
    /// Returns whether back-pressure holds events back, and the events
    /// queued and dropped.
    fn deliver_events(
        &mut self,
        quiet: u64,
        defer: bool,
        driver: &mut dyn FnMut(&mut Self, ForDriver),
    ) -> (bool, u64, u64) {
        let (mut queued, mut dropped) = (0, 0);
        self.shared.subscribers(&mut self.fan.subs);
        let backpressure =
            self.shared.policy == QueuePolicy::Backpressure && !self.fan.subs.is_empty();
        let held = loop {
            while let Some(out) = self.conn.poll_completion() {
                self.on_output(out, quiet, driver);
            }
            let limit = match backpressure && !self.conn.is_closed() {
                true => event_room(&self.fan.subs, &self.conn),
                false => usize::MAX,
            };
            if limit == 0 {
                break true;
            }
            let mut drained = false;
            while self.fan.batch.len() < limit {
                let from = self.fan.batch.len();
                if self.conn.poll_events(&mut self.fan.batch, limit - from) == 0 {
                    drained = true;
                    break;
                }
                if let Some(model) = &mut self.model {
                    self.fan.batch[from..].iter().for_each(|e| model.event(e));
                }
                if self.fan.subs.is_empty() {
                    self.fan.batch.truncate(from);
                }
                // Decoding resumed by taking events may have brought an
                // answer: the one awaited may have come, so the limit may
                // change.
                let mut answered = false;
                while let Some(out) = self.conn.poll_completion() {
                    self.on_output(out, quiet, driver);
                    answered = true;
                }
                if answered && backpressure {
                    break;
                }
            }
            if !self.fan.batch.is_empty() {
                let (q, d) = self.fan.hand_out(&self.shared, defer);
                (queued, dropped) = (queued + q, dropped + d);
            }
            if drained {
                break false;
            }
        };
        // Not kept past the turn: a dropped stream must not look alive.
        self.fan.subs.clear();
        (held, queued, dropped)
    }

    /// Wakes the consumers that deferred deliveries left asleep (in line:
    /// mostly there are none).
    #[inline]
    pub(crate) fn wake_deferred(&mut self) {
        if !self.fan.unwoken.is_empty() {
            self.wake_unwoken();
        }
    }

    #[inline(never)]
    fn wake_unwoken(&mut self) {
        for sub in self.fan.unwoken.drain(..) {
            sub.wake();
        }
    }

    /// A state change or a completion.
    fn on_output(&mut self, out: Output, quiet: u64, driver: &mut dyn FnMut(&mut Self, ForDriver)) {
        match out {
            Output::State(state) => {
                self.sync_stats();
                driver(self, ForDriver::State(state));
            }
            Output::Completion { id, result } => self.complete(id, result, quiet, driver),
            _ => {}
        }
    }

    /// Hands the core's counters to the handles, once per delivery, before
    /// the first completion or state change it publishes: whoever is woken
    /// by one reads counters that include it. (A caller's own answer, which
    /// it looks at after the delivery, is counted at its end.)
    fn sync_stats(&mut self) {
        if !std::mem::replace(&mut self.synced, true) {
            let session = self.conn.stats();
            self.shared.update_stats(|s| s.session = session);
        }
    }

    fn complete(
        &mut self,
        id: ActionId,
        result: Result<Completion, ActionError>,
        quiet: u64,
        driver: &mut dyn FnMut(&mut Self, ForDriver),
    ) {
        if let Some(model) = &mut self.model {
            model.completion(&id, &result);
        }
        // Unknown ids are our own Logoff's, or the model's lists.
        let Some(p) = self.pending.remove(&id) else {
            return;
        };
        if p.token != 0 && self.reads(p.token) {
            // Its reader's answer: reading for it is over.
            self.reader = None;
        }
        match result {
            Err(ActionError::ConnectionLost) if p.resend.is_some() => {
                driver(self, ForDriver::Lost(p));
            }
            result => {
                let outcome = result.map_err(ClientError::Action);
                if p.token != 0 && p.token == quiet {
                    // Counted at the end of the turn, before it looks.
                    // Performance: an outcome through the reply slot was
                    // copied six times and locked twice on its way to the
                    // caller; kept, it is returned by the turn, which
                    // recycles the slot nobody waits on.
                    if self.keep_own {
                        self.own = Some(outcome);
                        return p.caller.dismiss();
                    }
                    return p.caller.send_quiet(outcome);
                }
                self.sync_stats();
                p.caller.send(outcome);
            }
        }
    }
}

/// Writes what the core lends; returns whether the socket would block.
///
/// A partial write leaves the rest in the core for the next turn;
/// `WouldBlock` waits for writability; `Interrupted` retries; `Ok(0)` (the
/// transport takes nothing more) and any other error end the session.
pub(crate) fn flush(sock: &mut impl Sink, conn: &mut Connection, now: Instant) -> bool {
    while let Some(bytes) = conn.poll_transmit() {
        match sock.write(bytes) {
            Ok(0) => conn.handle_closed(now),
            Ok(n) => conn.advance(n),
            Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => conn.handle_closed(now),
        }
    }
    // TLS may still hold ciphertext the socket did not take.
    sock.write_blocked().unwrap_or_else(|_| {
        conn.handle_closed(now);
        false
    })
}

/// The subscribers as of this turn and the reusable event buffers.
///
/// The subscriber list is copied under its lock and used without it, so
/// the users' filters run with no subscriber lock held. The buffers keep
/// their capacity across turns: no allocation per batch.
#[derive(Default)]
struct Fanout {
    subs: Vec<Arc<Subscriber>>,
    batch: Vec<Event>,
    copy: Vec<Event>,
    /// Subscribers given events by deferred offers, to wake (kept only
    /// until the reader's next delivery: see `Session::deliver`).
    unwoken: Vec<Arc<Subscriber>>,
}

impl Fanout {
    /// Offers the batch to every subscriber (a copy to each but the last,
    /// which takes the batch itself); returns (queued, dropped).
    fn hand_out(&mut self, shared: &Shared, defer: bool) -> (u64, u64) {
        let Some((last, rest)) = self.subs.split_last() else {
            self.batch.clear();
            return (0, 0);
        };
        if defer {
            for sub in &self.subs {
                if !self.unwoken.iter().any(|u| Arc::ptr_eq(u, sub)) {
                    self.unwoken.push(sub.clone());
                }
            }
        }
        let mut total = (0, 0);
        for sub in rest {
            self.copy.extend(self.batch.iter().cloned());
            let (q, d) = offer(sub, &mut self.copy, shared, defer);
            total = (total.0 + q, total.1 + d);
        }
        let (q, d) = offer(last, &mut self.batch, shared, defer);
        (total.0 + q, total.1 + d)
    }
}

/// One subscriber's share of a batch. A filter that panics ends its own
/// stream, logged; the client and the other streams go on.
fn offer(sub: &Subscriber, events: &mut Vec<Event>, shared: &Shared, defer: bool) -> (u64, u64) {
    sub.offer(events, defer).unwrap_or_else(|panic| {
        log!(error, shared, %panic, "event filter panicked: its stream ends; the client goes on");
        (0, 0)
    })
}

/// How many events the subscribers can take now, under back-pressure: the
/// fullest one's room; unlimited while an answer is awaited and a queue is
/// full (the full queues then drop and count what they cannot take).
fn event_room(subs: &[Arc<Subscriber>], conn: &Connection) -> usize {
    let room = subs.iter().map(|s| s.room()).min().unwrap_or(usize::MAX);
    match room == 0 && conn.stats().pending > 0 {
        true => usize::MAX,
        false => room,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    use ami_proto::{AuthMethod, CloseReason, Config, LoginError};

    /// A socket that answers each write from a script: `Ok(n)` takes up to
    /// `n` bytes, an error is returned as is; past the script it takes all.
    #[derive(Default)]
    struct Scripted {
        script: VecDeque<io::Result<usize>>,
        taken: Vec<u8>,
        /// What `write_blocked` answers (TLS ciphertext left below).
        blocked: Option<io::Result<bool>>,
    }

    impl Scripted {
        fn new(script: impl IntoIterator<Item = io::Result<usize>>) -> Self {
            Scripted {
                script: script.into_iter().collect(),
                ..Scripted::default()
            }
        }
    }

    impl Sink for Scripted {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let n = self.script.pop_front().unwrap_or(Ok(usize::MAX))?;
            let n = n.min(buf.len());
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }

        fn write_blocked(&mut self) -> io::Result<bool> {
            self.blocked.take().unwrap_or(Ok(false))
        }
    }

    /// A session with its Login waiting to be written; and those bytes.
    fn with_login() -> (Connection, Vec<u8>) {
        let mut config = Config::new("t", "admin", "secret");
        config.auth = AuthMethod::Plain;
        let now = Instant::now();
        let mut conn = Connection::new(config, now).expect("valid");
        conn.handle_input(b"Asterisk Call Manager/11.0.0\r\n", now);
        let login = conn.poll_transmit().expect("login queued").to_vec();
        assert!(login.len() > 20);
        (conn, login)
    }

    fn kind(kind: io::ErrorKind) -> io::Result<usize> {
        Err(kind.into())
    }

    #[test]
    fn partial_writes_keep_the_rest_and_would_block_waits() {
        let (mut conn, login) = with_login();
        let interrupted = kind(io::ErrorKind::Interrupted);
        let script = [
            Ok(5),
            Ok(3),
            interrupted,
            Ok(7),
            kind(io::ErrorKind::WouldBlock),
        ];
        let mut sock = Scripted::new(script);
        assert!(flush(&mut sock, &mut conn, Instant::now()), "would block");
        assert_eq!(sock.taken, login[..15]);
        assert_eq!(
            conn.poll_transmit(),
            Some(&login[15..]),
            "the rest stays queued"
        );
        assert_eq!(conn.stats().bytes_out, 15);

        // Writable again: the rest goes, in order, and nothing is left.
        assert!(!flush(&mut sock, &mut conn, Instant::now()));
        assert_eq!(sock.taken, login);
        assert!(!conn.wants_write() && conn.state() == &ConnState::LoggingIn);
    }

    #[test]
    fn a_zero_write_or_an_error_ends_the_session() {
        for end in [Ok(0), kind(io::ErrorKind::BrokenPipe)] {
            let (mut conn, login) = with_login();
            let mut sock = Scripted::new([Ok(4), end]);
            assert!(!flush(&mut sock, &mut conn, Instant::now()));
            assert_eq!(sock.taken, login[..4]);
            let lost = ConnState::Closed(CloseReason::LoginFailed(LoginError::ConnectionLost));
            assert_eq!(conn.state(), &lost);
            assert_eq!(conn.poll_transmit(), None, "nothing more to write");
        }
    }

    #[test]
    fn ciphertext_left_below_waits_and_a_failed_flush_ends_the_session() {
        let (mut conn, login) = with_login();
        let mut sock = Scripted::new([]);
        sock.blocked = Some(Ok(true));
        assert!(
            flush(&mut sock, &mut conn, Instant::now()),
            "wait to finish"
        );
        assert_eq!(sock.taken, login);

        let (mut conn, _) = with_login();
        let mut sock = Scripted::new([]);
        sock.blocked = Some(Err(io::ErrorKind::ConnectionReset.into()));
        assert!(!flush(&mut sock, &mut conn, Instant::now()));
        assert!(conn.is_closed());
    }
}

//! The driver: one session's loop over the core, as in STYLE.md's sketch.
//!
//! Flush what [`Connection::poll_transmit`] lends; drain
//! [`Connection::poll_output`] (completions to their callers, events to the
//! subscriber queues, states to the watchers); wait for one thing (socket
//! readable or writable, a command, a back-pressure kick, the core's next
//! deadline); act on it with the clock read once; repeat. Reads take at most
//! `read_budget` bytes per turn; a read that filled the budget yields to the
//! executor and reads again without waiting for the reactor.

use std::io::ErrorKind;
use std::sync::Arc;
use std::time::Instant;

use ami_proto::{ActionError, ActionId, CloseReason, Completion, ConnState, Connection, Output};
use ami_proto::{BreakerState, Event, Failure, QueuePolicy};
use futures_lite::{future, Stream};

use crate::command::{Caller, Command, Pending};
use crate::deadline;
use crate::error::ClientError;
use crate::events::Subscriber;
use crate::runtime::{Runtime, Socket, Timer};
use crate::shared::Shared;
use crate::task::Ctx;
use crate::transport::{Sink, Transport};

/// Commands taken per turn beyond the one that woke the driver.
const COMMAND_BUDGET: usize = 256;

enum Wake {
    Io,
    Command(Option<Command>),
    Other,
}

/// Runs one logged-in-or-logging-in session until it closes; returns why.
pub(crate) async fn run_session<R: Runtime>(
    ctx: &mut Ctx<R>,
    mut sock: Transport<R::Socket>,
    mut conn: Connection,
) -> CloseReason {
    ctx.shared.set_state(ConnState::LoggingIn);
    let mut buf = vec![0u8; ctx.config.read_budget.max(1)];
    let mut hot = false;
    let mut ready_seen = false;
    let mut alarm = Alarm::default();
    let mut fan = Fanout::default();
    loop {
        let now = Instant::now();
        let write_blocked = flush(&mut sock, &mut conn, now);
        let held = deliver(ctx, &mut conn, &mut fan, &mut ready_seen, now);
        if let ConnState::Closed(reason) = conn.state() {
            let reason = reason.clone();
            for (_, p) in ctx.pending.drain() {
                p.caller
                    .send(Err(ClientError::Action(ActionError::ConnectionLost)));
            }
            return reason;
        }
        if ctx.closing.is_some_and(|d| d <= now) {
            conn.handle_closed(now);
            continue;
        }
        if conn.wants_write() && !write_blocked {
            // The drain queued bytes (actions parked for this session).
            continue;
        }

        let want_read = conn.wants_read() && !held;
        let wake = if want_read && hot {
            future::yield_now().await;
            Wake::Io
        } else {
            let deadline = conn.poll_timeout().into_iter().chain(ctx.closing).min();
            alarm.want(deadline, |at| ctx.rt.timer(at));
            let io = async {
                let _ = match (want_read, write_blocked) {
                    (true, true) => future::or(sock.readable(), sock.writable()).await,
                    (true, false) => sock.readable().await,
                    (false, true) => sock.writable().await,
                    (false, false) => future::pending().await,
                };
                Wake::Io
            };
            // Polled as streams, not awaited with `recv()`: each keeps its
            // listener registered when another wake-up ends the wait, instead
            // of registering and removing one per wait.
            let (cmds, kick) = (&mut ctx.cmds, &mut ctx.kick);
            let cmd = async {
                match ctx.cmds_open {
                    true => Wake::Command(future::poll_fn(|cx| cmds.as_mut().poll_next(cx)).await),
                    false => future::pending().await,
                }
            };
            let kick = async {
                let _ = future::poll_fn(|cx| kick.as_mut().poll_next(cx)).await;
                Wake::Other
            };
            let timer = async {
                alarm.wait().await;
                Wake::Other
            };
            future::or(io, future::or(cmd, future::or(kick, timer))).await
        };

        let now = Instant::now();
        match wake {
            Wake::Io if want_read => hot = read(&mut sock, &mut conn, &mut buf, now),
            Wake::Command(Some(cmd)) => command(ctx, &mut conn, cmd, now),
            Wake::Command(None) => {
                ctx.all_handles_dropped(now);
                start_close(&mut conn, now);
            }
            Wake::Io | Wake::Other => {}
        }
        for _ in 0..COMMAND_BUDGET {
            match ctx.cmds.try_recv() {
                Ok(cmd) => command(ctx, &mut conn, cmd, now),
                Err(_) => break,
            }
        }
        ctx.take_cancels(Some(&mut conn), now);
        if conn.poll_timeout().is_some_and(|t| t <= now) {
            conn.handle_timeout(now);
        }
    }
}

/// The driver's one timer, kept across turns.
///
/// Performance: arming a timer costs a trip through the reactor (an insert,
/// a notify of the poller, later a remove). A new timer per turn paid that
/// on every turn, i.e. twice per ping round trip, since a pending action
/// always has a deadline. Instead the timer is moved only when the wanted
/// deadline is earlier than the armed one (or nothing is armed). Firing
/// early is harmless: the driver wakes, finds nothing due
/// (`handle_timeout` ignores early calls), and arms again. So it never
/// wakes late, and wakes early at most once per armed deadline. Pinned by
/// `tests::alarm_moves_only_to_an_earlier_deadline`.
struct Alarm<T> {
    timer: Option<T>,
    /// When the armed timer fires; `None` once it has fired.
    at: Option<Instant>,
}

impl<T> Default for Alarm<T> {
    fn default() -> Self {
        Alarm {
            timer: None,
            at: None,
        }
    }
}

impl<T: Timer> Alarm<T> {
    /// Arms the timer for `deadline` if it must move; `new` makes the
    /// first timer (the runtime's).
    fn want(&mut self, deadline: Option<Instant>, new: impl FnOnce(Instant) -> T) {
        if let Some(at) = rearm(self.at, deadline) {
            match &mut self.timer {
                Some(timer) => timer.reset(at),
                None => self.timer = Some(new(at)),
            }
            self.at = Some(at);
        }
    }

    /// Waits for the armed timer (forever if none); once it has fired,
    /// nothing is armed.
    async fn wait(&mut self) {
        match (&mut self.timer, self.at) {
            (Some(timer), Some(_)) => {
                future::poll_fn(|cx| timer.poll_fired(cx)).await;
                self.at = None;
            }
            _ => future::pending::<()>().await,
        }
    }
}

/// The deadline to arm, if the timer must move: only to an earlier one.
fn rearm(armed: Option<Instant>, wanted: Option<Instant>) -> Option<Instant> {
    match (armed, wanted) {
        (Some(armed), Some(wanted)) if wanted < armed => Some(wanted),
        (None, Some(wanted)) => Some(wanted),
        _ => None,
    }
}

/// Writes what the core lends; returns whether the socket would block.
///
/// A partial write leaves the rest in the core for the next turn;
/// `WouldBlock` waits for writability; `Interrupted` retries; `Ok(0)` (the
/// transport takes nothing more) and any other error end the session.
fn flush(sock: &mut impl Sink, conn: &mut Connection, now: Instant) -> bool {
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

/// Reads once (at most the budget); returns whether the budget was filled.
fn read<S: Socket>(
    sock: &mut Transport<S>,
    conn: &mut Connection,
    buf: &mut [u8],
    now: Instant,
) -> bool {
    match sock.read(buf) {
        Ok(0) => conn.handle_closed(now),
        Ok(n) => {
            conn.handle_input(&buf[..n], now);
            return n == buf.len();
        }
        Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::Interrupted) => {}
        Err(_) => conn.handle_closed(now),
    }
    false
}

/// The subscribers as of this turn and the driver's reusable event buffers.
///
/// The subscriber list is copied under its lock and used without it, so
/// the users' filters run with no library lock held. The buffers keep
/// their capacity across turns: no allocation per batch.
#[derive(Default)]
struct Fanout {
    subs: Vec<Arc<Subscriber>>,
    batch: Vec<Event>,
    copy: Vec<Event>,
}

impl Fanout {
    /// Offers the batch to every subscriber (a copy to each but the last,
    /// which takes the batch itself); returns (queued, dropped).
    fn hand_out(&mut self, shared: &Shared) -> (u64, u64) {
        let Some((last, rest)) = self.subs.split_last() else {
            self.batch.clear();
            return (0, 0);
        };
        let mut total = (0, 0);
        for sub in rest {
            self.copy.extend(self.batch.iter().cloned());
            let (q, d) = offer(sub, &mut self.copy, shared);
            total = (total.0 + q, total.1 + d);
        }
        let (q, d) = offer(last, &mut self.batch, shared);
        (total.0 + q, total.1 + d)
    }
}

/// One subscriber's share of a batch. A filter that panics ends its own
/// stream, logged; the client and the other streams go on.
fn offer(sub: &Subscriber, events: &mut Vec<Event>, shared: &Shared) -> (u64, u64) {
    sub.offer(events).unwrap_or_else(|panic| {
        log!(error, shared, %panic, "event filter panicked: its stream ends; the client goes on");
        (0, 0)
    })
}

/// Drains the core's outputs. Returns whether back-pressure holds events
/// back (the driver then stops reading until a consumer makes room).
///
/// States and completions are always delivered, first: they never wait for
/// a consumer. Events go to the subscribers up to the room the fullest one
/// has, under back-pressure; except while an answer is awaited (an action
/// of the user's, the heartbeat's Ping, the Logoff), when every event is
/// drained and a full queue drops what it cannot take. So an answer never
/// waits behind events nobody reads. Once the session is closed, everything
/// drains.
fn deliver<R: Runtime>(
    ctx: &mut Ctx<R>,
    conn: &mut Connection,
    fan: &mut Fanout,
    ready_seen: &mut bool,
    now: Instant,
) -> bool {
    let shared = ctx.shared.clone();
    // Counters first, so a caller woken by a completion sees them.
    let session = conn.stats();
    shared.update_stats(|s| s.session = session);
    shared.subscribers(&mut fan.subs);
    let backpressure = shared.policy == QueuePolicy::Backpressure && !fan.subs.is_empty();
    let (mut queued, mut dropped) = (0, 0);
    let held = loop {
        while let Some(out) = conn.poll_completion() {
            on_output(ctx, conn, out, ready_seen, now);
        }
        let limit = match backpressure && !conn.is_closed() {
            true => event_room(&fan.subs, conn),
            false => usize::MAX,
        };
        if limit == 0 {
            break true;
        }
        let mut drained = false;
        while fan.batch.len() < limit {
            match conn.poll_output() {
                None => {
                    drained = true;
                    break;
                }
                Some(Output::Event(event)) => {
                    if let Some(model) = &mut ctx.model {
                        model.event(&event);
                    }
                    if !fan.subs.is_empty() {
                        fan.batch.push(event);
                    }
                }
                Some(out) => {
                    // Decoding resumed by taking an event brought an answer:
                    // the one awaited may have come, so the limit may change.
                    on_output(ctx, conn, out, ready_seen, now);
                    if backpressure {
                        break;
                    }
                }
            }
        }
        if !fan.batch.is_empty() {
            let (q, d) = fan.hand_out(&shared);
            (queued, dropped) = (queued + q, dropped + d);
        }
        if drained {
            break false;
        }
    };
    // Not kept past the turn: a dropped stream must not look alive.
    fan.subs.clear();
    if let Some(model) = &mut ctx.model {
        model.flush(conn, now);
    }
    let session = conn.stats();
    shared.update_stats(|s| {
        s.session = session;
        s.events_delivered += queued;
        s.events_dropped += dropped;
    });
    held
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

/// A state change or a completion.
fn on_output<R: Runtime>(
    ctx: &mut Ctx<R>,
    conn: &mut Connection,
    out: Output,
    seen: &mut bool,
    now: Instant,
) {
    match out {
        Output::State(state) => on_state(ctx, conn, state, seen, now),
        Output::Completion { id, result } => complete(ctx, id, result),
        _ => {}
    }
}

fn on_state<R: Runtime>(
    ctx: &mut Ctx<R>,
    conn: &mut Connection,
    state: ConnState,
    seen: &mut bool,
    now: Instant,
) {
    // The counters that go with a state are updated before it is
    // published: whoever sees the state reads them.
    if let ConnState::Closed(reason) = &state {
        // Unless the supervisor ends the client for it (a close, a logoff,
        // the first attempt of `connect`), which counts nothing.
        if ctx.closing.is_none() && ctx.first.is_none() && *reason != CloseReason::LoggedOff {
            ctx.count_failure(reason.failure().unwrap_or(Failure::Lost));
        }
    }
    let first_ready = state == ConnState::Ready && !std::mem::replace(seen, true);
    if first_ready {
        ctx.policy.on_ready(now);
        ctx.shared.update_stats(|s| {
            s.breaker = BreakerState::Closed;
            s.sessions += 1;
            s.reconnects += u64::from(s.sessions > 1);
        });
    }
    if let Some(model) = &mut ctx.model {
        model.state(conn, &state, now);
    }
    ctx.shared.set_state(state);
    if !first_ready {
        return;
    }
    if let Some(first) = ctx.first.take() {
        let _ = first.try_send(Ok(()));
    }
    // Actions that waited for a session (resend_on_reconnect), with what
    // is left of their timeout.
    for p in std::mem::take(&mut ctx.parked) {
        let left = p.deadline.saturating_duration_since(now);
        let cmd = Command::Send {
            action: p
                .action
                .with_timeout(left.max(std::time::Duration::from_millis(1))),
            caller: p.caller,
        };
        command(ctx, conn, cmd, now);
    }
}

fn complete<R: Runtime>(ctx: &mut Ctx<R>, id: ActionId, result: Result<Completion, ActionError>) {
    if let Some(model) = &mut ctx.model {
        model.completion(&id, &result);
    }
    // Unknown ids are our own Logoff's.
    let Some(p) = ctx.pending.remove(&id) else {
        return;
    };
    match (result, p.resend) {
        (Err(ActionError::ConnectionLost), Some((action, deadline))) if ctx.closing.is_none() => {
            ctx.park(action, p.caller, Some(deadline));
        }
        (result, _) => p.caller.send(result.map_err(ClientError::Action)),
    }
}

fn command<R: Runtime>(ctx: &mut Ctx<R>, conn: &mut Connection, cmd: Command, now: Instant) {
    match cmd {
        Command::Send { action, caller } => send(ctx, conn, action, caller, now),
        Command::Close { deadline, done } => {
            ctx.closing = Some(ctx.closing.map_or(deadline, |d| d.min(deadline)));
            ctx.close_waiters.push(done);
            start_close(conn, now);
        }
    }
}

fn send<R: Runtime>(
    ctx: &mut Ctx<R>,
    conn: &mut Connection,
    action: ami_proto::Action,
    caller: Caller,
    now: Instant,
) {
    let resend = ctx.config.resend_on_reconnect;
    if caller.cancelled() {
        return caller.cancel();
    }
    if resend && *conn.state() == ConnState::LoggingIn {
        return ctx.park(action, caller, None);
    }
    let timeout = action.timeout().unwrap_or(ctx.config.proto.action_timeout);
    let copy = resend.then(|| (action.clone(), deadline::after(now, timeout)));
    let followed = ctx.model.is_some() && ami_state::Model::follows(&action);
    let followed = followed.then(|| action.clone());
    match conn.send(action, now) {
        Ok(id) => {
            if let (Some(model), Some(action)) = (&mut ctx.model, followed) {
                model.sent(&id, action);
            }
            if caller.sent(&id) {
                // Cancelled while it was being sent: the core completes it.
                conn.cancel(&id, now);
            }
            let resend = copy;
            ctx.pending.insert(id, Pending { caller, resend });
        }
        Err(err) => caller.send(Err(ClientError::Send(err))),
    }
}

/// Logs off a ready session; drops one still logging in.
fn start_close(conn: &mut Connection, now: Instant) {
    if conn.is_ready() {
        let _ = conn.logoff(now);
    } else if *conn.state() == ConnState::LoggingIn {
        conn.handle_closed(now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io;
    use std::time::Duration;

    use ami_proto::{AuthMethod, Config, LoginError};

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

    #[test]
    fn alarm_moves_only_to_an_earlier_deadline() {
        let t0 = Instant::now();
        let (early, late) = (t0 + Duration::from_secs(1), t0 + Duration::from_secs(9));
        assert_eq!(rearm(None, Some(late)), Some(late), "nothing armed: arm");
        assert_eq!(rearm(Some(late), Some(early)), Some(early), "earlier: move");
        assert_eq!(
            rearm(Some(early), Some(late)),
            None,
            "later: keep, wake early"
        );
        assert_eq!(rearm(Some(early), Some(early)), None);
        assert_eq!(
            rearm(Some(early), None),
            None,
            "no deadline: a spurious wake at most"
        );
        assert_eq!(rearm(None, None), None);
    }

    #[test]
    fn alarm_fires_at_the_earliest_wanted_deadline_and_rearms_after_firing() {
        smol::block_on(async {
            let mut alarm = Alarm::<smol::Timer>::default();
            let start = Instant::now();
            alarm.want(Some(start + Duration::from_secs(60)), smol::Timer::at);
            alarm.want(Some(start + Duration::from_millis(20)), smol::Timer::at);
            alarm.wait().await;
            let waited = start.elapsed();
            assert!(waited >= Duration::from_millis(20) && waited < Duration::from_secs(30));
            // Fired: the next wanted deadline arms it again, even a later one.
            alarm.want(
                Some(Instant::now() + Duration::from_millis(10)),
                smol::Timer::at,
            );
            assert!(alarm.at.is_some());
            alarm.wait().await;
            alarm.want(None, smol::Timer::at);
            assert_eq!(alarm.at, None, "fired and nothing wanted: disarmed");
        });
    }
}

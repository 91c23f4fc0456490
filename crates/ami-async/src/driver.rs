//! The driver: one session's loop over the core, as in STYLE.md's sketch.
//!
//! Flush what [`Connection::poll_transmit`] lends; drain
//! [`Connection::poll_output`] (completions to their callers, events to the
//! subscriber queues, states to the watchers); wait for one thing (socket
//! readable or writable, a command, a back-pressure kick, the core's next
//! deadline); act on it with the clock read once; repeat. Reads take at most
//! `read_budget` bytes per turn; a read that filled its room (the budget,
//! or what the core's receive chunk had left) reads again without waiting
//! for the reactor, yielding to the executor every
//! [`HOT_READS`] such reads.
//!
//! The session lives in the client's [`Link`], locked for each half of a
//! turn and never across the wait: a caller whose action finds the session
//! idle sends it and reads for its answer itself (see [`crate::link`]), and
//! the driver reads whenever no caller does.

use std::panic;
use std::sync::MutexGuard;
use std::time::Instant;

use ami_proto::{ActionError, BreakerState, CloseReason, ConnState, Connection, Failure};
use futures_lite::{future, Stream};

use crate::command::Command;
use crate::error::ClientError;
use crate::link::{Link, HOLD};
use crate::runtime::{Runtime, Socket, Timer};
use crate::session::{ForDriver, Session};
use crate::task::Ctx;
use crate::transport::Transport;

/// Commands taken per turn beyond the one that woke the driver.
const COMMAND_BUDGET: usize = 256;

/// Full reads in a row between two yields to the executor.
///
/// Performance: a yield per full read (64 KiB, ~200 events of a flood)
/// cost a trip through the executor per read, and on tokio's multi-thread
/// runtime a task that wakes itself may unpark another worker. Four reads
/// (a fifth of a millisecond of decoding) between yields still let a
/// consumer on the same thread run well before its queue fills (10,000
/// events by default).
const HOT_READS: u32 = 4;

enum Wake {
    Io,
    Command(Option<Command>),
    Other,
}

/// What the first half of a turn found.
enum Settled {
    /// The session is over.
    Closed(CloseReason),
    /// More to do before waiting (bytes to write, a close that is due).
    Again,
    /// Wait for the next thing to happen.
    Wait {
        want_read: bool,
        write_blocked: bool,
    },
}

/// Runs one logged-in-or-logging-in session until it closes; returns why.
pub(crate) async fn run_session<R: Runtime>(
    ctx: &mut Ctx<R>,
    sock: Transport<R::Socket>,
    conn: Connection,
) -> CloseReason {
    ctx.shared.set_state(ConnState::LoggingIn);
    let link = ctx.link.clone();
    let session = Session::new(conn, sock, &ctx.config, ctx.shared.clone());
    *link.lock() = Some(session.with_model(ctx.model.take()));
    let mut hot = false;
    // Full reads since the last yield.
    let mut streak = 0;
    let mut ready_seen = false;
    let mut alarm = Alarm::default();
    loop {
        let settled = settle(ctx, &link, &mut alarm, &mut ready_seen, hot);
        let (want_read, write_blocked) = match settled {
            Settled::Closed(reason) => return reason,
            Settled::Again => continue,
            Settled::Wait {
                want_read,
                write_blocked,
            } => (want_read, write_blocked),
        };

        let wake = if want_read && hot {
            streak += 1;
            if streak == HOT_READS {
                streak = 0;
                future::yield_now().await;
            }
            Wake::Io
        } else {
            streak = 0;
            let io = async {
                let readable = future::poll_fn(|cx| link.poll_driver_read(cx));
                let writable = future::poll_fn(|cx| link.poll_writable(cx));
                let _ = match (want_read, write_blocked) {
                    (true, true) => future::or(readable, writable).await,
                    (true, false) => readable.await,
                    (false, true) => writable.await,
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

        hot = act(ctx, &link, wake, want_read);
    }
}

/// The first half of a turn, under the link's lock: take what callers left,
/// flush, deliver, and decide what to wait for (arming the timer).
///
/// `hot`: the last read filled its room, so the driver reads again at
/// once unless something else comes up; until then, consumers are woken
/// only past a batch's worth of events (see `Session::deliver`).
fn settle<R: Runtime>(
    ctx: &mut Ctx<R>,
    link: &Link<R::Socket>,
    alarm: &mut Alarm<R::Timer>,
    ready_seen: &mut bool,
    hot: bool,
) -> Settled {
    let mut guard = link.lock();
    let s = session(&mut guard);
    link.take_abandoned(s);
    let now = Instant::now();
    for left in std::mem::take(&mut s.for_driver) {
        for_driver(ctx, s, left, ready_seen, now);
    }
    let write_blocked = s.flush(now);
    let held = s.deliver(0, hot, &mut |s, d| for_driver(ctx, s, d, ready_seen, now));
    s.apply_model(now);
    if let ConnState::Closed(reason) = s.conn.state() {
        let reason = reason.clone();
        s.wake_deferred();
        let mut ended = guard.take().expect("the session was there");
        link.settled(None);
        drop(guard);
        // The model outlives its sessions.
        ctx.model = ended.model.take();
        for (_, p) in ended.pending.drain() {
            p.caller
                .send(Err(ClientError::Action(ActionError::ConnectionLost)));
        }
        return Settled::Closed(reason);
    }
    if ctx.closing.is_some_and(|d| d <= now) {
        s.wake_deferred();
        s.conn.handle_closed(now);
        return Settled::Again;
    }
    if s.conn.wants_write() && !write_blocked {
        // The drain queued bytes (actions parked for this session).
        return Settled::Again;
    }
    let want_read = s.conn.wants_read() && !held;
    if !(want_read && hot) {
        // Not reading again at once: no consumer may wait for more.
        s.wake_deferred();
    }
    // A caller reading for itself is checked on after `HOLD`.
    let hold = s.reader.map(|h| h.since + HOLD);
    let deadline = s
        .conn
        .poll_timeout()
        .into_iter()
        .chain(ctx.closing)
        .chain(hold)
        .min();
    alarm.want(deadline, |at| ctx.rt.timer(at));
    s.alarm = alarm.at;
    link.settled(Some(s));
    Settled::Wait {
        want_read,
        write_blocked,
    }
}

/// The driver's session, locked; if a caller's turn panicked, the panic
/// is raised here, so that the client ends as after a panic of its own
/// (and nothing more is done with a session in an unknown state).
fn session<'a, S: Socket>(guard: &'a mut MutexGuard<'_, Option<Session<S>>>) -> &'a mut Session<S> {
    let s = guard
        .as_mut()
        .expect("the session stays in the link while the driver runs it");
    if let Some(payload) = s.panicked.take() {
        panic::resume_unwind(payload);
    }
    s
}

/// The second half of a turn, under the link's lock: act on what woke the
/// driver, then on the commands, cancels and deadlines due. Returns whether
/// a read filled its room.
fn act<R: Runtime>(ctx: &mut Ctx<R>, link: &Link<R::Socket>, wake: Wake, want_read: bool) -> bool {
    let mut guard = link.lock();
    let s = session(&mut guard);
    let now = Instant::now();
    let mut hot = false;
    match wake {
        Wake::Io if want_read && s.reader.is_none() => {
            s.read(now);
            hot = s.read_full();
        }
        Wake::Command(Some(cmd)) => command(ctx, s, cmd, now),
        Wake::Command(None) => {
            ctx.all_handles_dropped(now);
            start_close(&mut s.conn, now);
        }
        Wake::Io | Wake::Other => {}
    }
    for _ in 0..COMMAND_BUDGET {
        match ctx.cmds.try_recv() {
            Ok(cmd) => command(ctx, s, cmd, now),
            Err(_) => break,
        }
    }
    ctx.take_cancels(Some(&mut s.conn), now);
    if s.reader.is_some_and(|h| h.since + HOLD <= now) {
        // A caller has read for its answer long enough: the driver reads
        // (an answer that takes long, or a task that stopped polling).
        s.reader = None;
    }
    if s.conn.poll_timeout().is_some_and(|t| t <= now) {
        s.conn.handle_timeout(now);
    }
    link.settled(Some(s));
    hot
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

/// What a turn left for the driver: a state change, or an action lost with
/// its session to send again on the next one.
fn for_driver<R: Runtime>(
    ctx: &mut Ctx<R>,
    s: &mut Session<R::Socket>,
    left: ForDriver,
    ready_seen: &mut bool,
    now: Instant,
) {
    match left {
        ForDriver::State(state) => on_state(ctx, s, state, ready_seen, now),
        ForDriver::Lost(p) => match (p.resend.map(|r| *r), ctx.closing) {
            (Some((action, deadline)), None) => ctx.park(action, p.caller, Some(deadline)),
            _ => p
                .caller
                .send(Err(ClientError::Action(ActionError::ConnectionLost))),
        },
    }
}

fn on_state<R: Runtime>(
    ctx: &mut Ctx<R>,
    s: &mut Session<R::Socket>,
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
    if let Some(model) = &mut s.model {
        model.state(&mut s.conn, &state, now);
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
        command(ctx, s, cmd, now);
    }
}

/// A command from a handle. Another caller waits on the driver now: it
/// reads, rather than a caller reading for itself.
fn command<R: Runtime>(ctx: &mut Ctx<R>, s: &mut Session<R::Socket>, cmd: Command, now: Instant) {
    s.reader = None;
    match cmd {
        Command::Send { action, caller } => {
            if caller.cancelled() {
                return caller.cancel();
            }
            let resend = ctx.config.resend_on_reconnect;
            if resend && *s.conn.state() == ConnState::LoggingIn {
                return ctx.park(action, caller, None);
            }
            s.send(action, caller, 0, now);
        }
        Command::Close { deadline, done } => {
            ctx.closing = Some(ctx.closing.map_or(deadline, |d| d.min(deadline)));
            ctx.close_waiters.push(done);
            start_close(&mut s.conn, now);
        }
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
    use std::time::Duration;

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

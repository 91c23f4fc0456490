//! The session a client's handles share with its driver, and who reads it.
//!
//! Performance: a caller that hands its action to the driver pays two
//! executor hops per round trip (its action to the driver, the answer back),
//! 2–3 µs of CPU, which kept a single-flight ping at 70–75% of a raw socket
//! loop. So the session (core, socket, callers owed an answer) sits behind
//! a lock in this `Link`, and a caller that finds the session ready and
//! idle (no other action in flight, nor lately) sends its own action and
//! reads the socket for its own answer: no hop at all. Whatever it reads
//! on the way (events, the heartbeat's pong) it hands out as the driver
//! would. With other actions in flight, callers hand their actions to the
//! driver as before, so that a pipelined load still goes out in one write.
//!
//! **Who reads.** Async-io and tokio keep one waker per direction for
//! poll-style readiness, so two waiters would take the slot from each
//! other. The socket only ever sees one waker, this link's relay, which
//! wakes whoever reads now: the caller holding the read role
//! ([`Session::reader`]), else the driver. The role passes:
//! - to a caller, when its direct send finds the session idle (and it was
//!   idle for the sends before: see [`Session::lone`]);
//! - back to the driver when that caller's answer comes (or it times out,
//!   is cancelled, or the session ends): the relay then points at the
//!   driver, and a readiness wait is registered on its behalf, without a
//!   wake-up unless bytes are already there;
//! - back to the driver when the caller's future is dropped mid-way
//!   ([`Link::abandon`]);
//! - back to the driver when the driver takes it: whenever it has a command
//!   to serve (other callers are waiting), and when a caller has held it for
//!   [`HOLD`] (an answer that takes long, or a task that stopped polling
//!   its send without dropping it: events, other callers and the heartbeat
//!   must not wait on it).
//!
//! The driver keeps everything else: timers, heartbeats, reconnects, the
//! close, and reading whenever no caller does. A caller's turn that
//! panics leaves the payload for the driver, which raises it again: the
//! client then ends as after a panic of its own (never silently).

use std::future::Future;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};
use std::task::{ready, Context, Poll, Wake, Waker};
use std::time::{Duration, Instant};

use ami_proto::{Action, Completion};

use crate::command::{Caller, Ticket};
use crate::error::ClientError;
use crate::reply::{self, Waiting};
use crate::runtime::Socket;
use crate::session::{Holder, Sent, Session};
use crate::shared::Shared;

/// How long a caller may read for its own answer before the driver takes
/// reading back: the most a task that stopped polling its send (without
/// dropping it) can delay events and other callers. Longer costs nothing
/// on a quick round trip; the driver wakes once per `HOLD` at most while
/// callers keep reading for themselves.
pub(crate) const HOLD: Duration = Duration::from_millis(10);

/// The session slot shared by a client's handles and its driver.
pub(crate) struct Link<S: Socket> {
    /// The current session; `None` between sessions.
    session: Mutex<Option<Session<S>>>,
    relay: Arc<Relay>,
    /// `relay` as a waker, made once: the socket sees the same waker on
    /// every poll, so it never swaps (or wakes) one for another.
    relay_waker: Waker,
    shared: Arc<Shared>,
    /// Numbers the direct sends, across sessions (0 is none).
    tokens: AtomicU64,
    /// A reading caller dropped while the lock was held elsewhere: its
    /// token, for the driver to take reading back (0: none).
    abandoned: AtomicU64,
    /// The session was [`lone`](Session::lone) when last unlocked: a send
    /// that finds it false goes to the driver without taking the lock (a
    /// pipelined load pays nothing for the direct path). Only a hint: the
    /// lock decides.
    lone: AtomicBool,
}

/// What a caller gets for its action.
type Outcome = Result<Completion, ClientError>;

/// The waker the socket sees for read readiness: it wakes whoever reads.
#[derive(Default)]
struct Relay {
    to: Mutex<Option<Waker>>,
    /// Readiness is nobody's for now (a direct send's turn, until its
    /// caller looks): a wake-up is dropped. A flag, not the waker taken
    /// out: the driver's waker stays, so handing readiness back to it
    /// after each answer costs no clone (nor a drop before).
    muted: AtomicBool,
    /// Wake-ups so far, muted or not: each spends the readiness wait the
    /// socket had registered (see [`Link::wait_readable`]).
    woken: AtomicU64,
}

impl Wake for Relay {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        // Counted before `muted` is read, and both sequentially consistent
        // (as `relay_to`'s unmuting and `hand_back`'s look at the count):
        // a wake-up muted while readiness is handed back is seen by one
        // side or the other.
        self.woken.fetch_add(1, Ordering::SeqCst);
        if self.muted.load(Ordering::SeqCst) {
            return;
        }
        let to = lock(&self.to).clone();
        if let Some(to) = to {
            to.wake();
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Panics under these locks are caught and end the client; the data is
    // then only drained.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// What became of a send offered to [`Link::try_send`].
pub(crate) enum Direct {
    /// Sent; the caller reads for its answer (the holder of this token),
    /// at once if `hot` (see [`Answer::new`]), and it comes to the slot.
    Reading(u64, bool, Waiting<Outcome>),
    /// Sent and answered in the send's own turn: the outcome.
    Answered(Outcome),
    /// Refused or cancelled before it was sent, or left to the driver: the
    /// outcome is (or comes) in the slot.
    Waiting(Waiting<Outcome>),
    /// Not taken (no ready, idle session, or the lock is busy): give it to
    /// the driver, with its cancel ticket.
    Declined(Action, Option<Arc<Ticket>>),
}

impl<S: Socket> Link<S> {
    pub(crate) fn new(shared: Arc<Shared>) -> Arc<Self> {
        let relay = Arc::new(Relay::default());
        Arc::new(Link {
            session: Mutex::new(None),
            relay_waker: Waker::from(relay.clone()),
            relay,
            shared,
            tokens: AtomicU64::new(0),
            abandoned: AtomicU64::new(0),
            lone: AtomicBool::new(false),
        })
    }

    /// Keeps `waiting`'s slot for the next direct send (see
    /// [`Session::spare`]), if its sender is done with it and the session's
    /// lock is free: never waits for it.
    fn recycle(&self, waiting: Waiting<Outcome>) {
        if let Ok(mut guard) = self.session.try_lock() {
            if let Some(s) = guard.as_mut().filter(|s| s.spare.is_none()) {
                s.spare = waiting.into_spare();
            }
        }
    }

    /// The session slot, locked.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Option<Session<S>>> {
        lock(&self.session)
    }

    /// Records, before the lock is released, whether a send may find the
    /// session lone (`None`: no session).
    pub(crate) fn settled(&self, s: Option<&Session<S>>) {
        let lone = s.is_some_and(Session::lone);
        if self.lone.load(Ordering::Relaxed) != lone {
            self.lone.store(lone, Ordering::Relaxed);
        }
    }

    /// Points the relay at the driver (and unmutes it); returns whether
    /// there is a driver.
    ///
    /// Performance: the relay mostly points at the driver already (a
    /// direct send only mutes it): then only unmuting it is left, not a
    /// lock of the relay and a compare of wakers, about 50 instructions
    /// per round trip.
    fn relay_to_driver(&self, s: &mut Session<S>) -> bool {
        let Some(driver) = &s.driver else {
            return false;
        };
        match s.relays_driver {
            true => self.relay.muted.store(false, Ordering::SeqCst),
            false => self.relay_to(driver),
        }
        s.relays_driver = true;
        true
    }

    /// Points the relay at `waker` (and unmutes it). The session's
    /// `relays_driver` is the caller's to set.
    fn relay_to(&self, waker: &Waker) {
        let mut to = lock(&self.relay.to);
        if !to.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *to = Some(waker.clone());
        }
        drop(to);
        self.relay.muted.store(false, Ordering::SeqCst);
    }

    /// Polls the socket's read readiness for the relay (registering its
    /// wait when `Pending`), noting in `s` the relay's count of wake-ups
    /// as of before the poll: while the count is unchanged, that wait is
    /// still registered (the runtimes keep the waker of the latest poll
    /// until readiness wakes it, and the socket only ever sees the relay's).
    /// A wake-up between the count and the registration only makes the
    /// note look spent, which costs a poll more, never a wait missed.
    fn wait_readable(&self, s: &mut Session<S>) -> Poll<std::io::Result<()>> {
        let seen = self.relay.woken.load(Ordering::SeqCst);
        let poll = s.poll_read_ready(&mut Context::from_waker(&self.relay_waker));
        s.registered = poll.is_pending().then_some(seen);
        poll
    }

    /// Whether the relay's readiness wait is still registered (no wake-up
    /// since, see [`Link::wait_readable`]), so that whoever the relay now
    /// points at is woken when bytes come, without polling the socket
    /// again: about 200 instructions on tokio. Called after `relay_to`'s
    /// unmuting: a wake-up muted before it counted already. Plaintext TLS
    /// holds is no socket readiness: then the poll must say so.
    fn still_registered(&self, s: &Session<S>) -> bool {
        let woken = self.relay.woken.load(Ordering::SeqCst);
        s.registered == Some(woken) && !s.sock.buffered()
    }

    /// Sends `action` from the caller's task if the session is ready and
    /// idle and the lock is free, and reads for its answer in the same
    /// turn: on a quick round trip (the server answered while the bytes
    /// went out, as on one CPU) the send is answered before the lock is
    /// released, one turn where a send's and a first read's took two.
    /// Otherwise the caller goes on reading for its answer.
    ///
    /// The caller's reply slot is made here, under the lock, from the one
    /// the last direct send left ([`Session::spare`]).
    pub(crate) fn try_send(&self, action: Action, ticket: Option<Arc<Ticket>>) -> Direct {
        if !self.lone.load(Ordering::Relaxed) {
            return Direct::Declined(action, ticket);
        }
        let mut guard = match self.session.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => return Direct::Declined(action, ticket),
        };
        let Some(s) = guard.as_mut() else {
            return Direct::Declined(action, ticket);
        };
        // Idle: nothing pending means no caller reads (a reader's action is
        // pending until it is answered).
        if !s.lone() {
            return Direct::Declined(action, ticket);
        }
        let (reply, waiting) = reply::reply_in(s.spare.take());
        let caller = Caller { reply, ticket };
        if caller.cancelled() {
            caller.cancel();
            return Direct::Waiting(waiting);
        }
        let token = self.tokens.fetch_add(1, Ordering::Relaxed) + 1;
        // The first read does not wait for readiness: the answer is often
        // there by the time the bytes are out (a read then saves the
        // reactor's wait, five system calls on async-io).
        let mut hot = true;
        s.keep_own = true;
        let turn = panic::catch_unwind(AssertUnwindSafe(|| {
            let now = Instant::now();
            let timeout = match s.send(action, caller, token, now) {
                Sent::Refused => return (false, false),
                Sent::Cancelled => {
                    s.deliver(token, false, &mut |s, d| s.for_driver.push(d));
                    return (false, !s.for_driver.is_empty());
                }
                Sent::Awaiting(timeout) => timeout,
            };
            s.reader = Some(Holder { token, since: now });
            // Until the caller looks, readiness is nobody's: an answer
            // that comes first must not wake the driver for nothing. The
            // caller finds it when it looks.
            self.relay.muted.store(true, Ordering::Release);
            let mut kick = s.flush(now);
            if !s.conn.is_ready() {
                // A Logoff: the state change is the driver's.
                s.deliver(token, false, &mut |s, d| s.for_driver.push(d));
                kick = true;
            }
            // The driver's timer must fire by this action's deadline (the
            // core's others were armed already) and by the end of the hold.
            let due = now + timeout.min(HOLD);
            kick |= s.alarm.is_none_or(|at| at > due);
            if !s.reads(token) {
                // Not reading after all: the driver points readiness back
                // at itself on its next turn.
                return (false, true);
            }
            let (reading, more) = self.read_turn(s, token, &mut hot, None, Some(now));
            (reading, kick || more)
        }));
        s.keep_own = false;
        // Kept even if the turn panicked after: the answer is whole. Its
        // slot, never used, is free again (its reply was dismissed with
        // the caller's entry): the next direct send takes it.
        if let Some(outcome) = s.own.take() {
            s.spare = waiting.into_spare();
            self.end_turn(guard, turn);
            return Direct::Answered(outcome);
        }
        match self.end_turn(guard, turn) {
            true => Direct::Reading(token, hot, waiting),
            false => Direct::Waiting(waiting),
        }
    }

    /// One poll of the caller holding `token`: reads while the socket has
    /// bytes, hands out what comes, and stops at its own answer. Returns
    /// whether it still reads (then waiting for readiness, or yielding
    /// after a full budget).
    fn read_for(&self, token: u64, hot: &mut bool, cx: &mut Context<'_>) -> bool {
        let mut guard = self.lock();
        let Some(s) = guard.as_mut() else {
            return false;
        };
        if !s.reads(token) || s.panicked.is_some() {
            return false;
        }
        let turn = panic::catch_unwind(AssertUnwindSafe(|| {
            self.read_turn(s, token, hot, Some(cx), None)
        }));
        self.end_turn(guard, turn)
    }

    /// Ends a caller's turn, its lock still held: a panic in the turn
    /// leaves its payload for the driver (which raises it) and ends the
    /// caller's reading; the driver is kicked when the turn asks. Returns
    /// whether the caller still reads.
    fn end_turn(
        &self,
        mut guard: MutexGuard<'_, Option<Session<S>>>,
        turn: std::thread::Result<(bool, bool)>,
    ) -> bool {
        let Some(s) = guard.as_mut() else {
            return false;
        };
        let (reading, kick) = turn.unwrap_or_else(|payload| {
            s.panicked = Some(payload);
            s.reader = None;
            (false, true)
        });
        self.settled(Some(s));
        drop(guard);
        if kick {
            self.shared.kick();
        }
        reading
    }

    /// `read_for` under the lock; returns (still reading, kick the driver).
    /// Without `cx` (the send's own turn) it stops where it would wait
    /// for readiness or yield: the caller's first poll, right after, goes
    /// on from there. `sent_at`, the send's instant in the send's own turn,
    /// stands for the time of its reads: the turn is over within
    /// microseconds, and a clock read costs about 45 instructions.
    fn read_turn(
        &self,
        s: &mut Session<S>,
        token: u64,
        hot: &mut bool,
        mut cx: Option<&mut Context<'_>>,
        sent_at: Option<Instant>,
    ) -> (bool, bool) {
        let mut kick = false;
        let mut taken = 0;
        // Bounded: a read that took nothing ends with the readiness cleared.
        for _ in 0..8 {
            if !*hot {
                let Some(cx) = cx.as_deref_mut() else {
                    return (true, kick);
                };
                self.relay_to(cx.waker());
                s.relays_driver = false;
                // A miss (nothing there after the send's own read) waits
                // on the wait the driver left, if it still stands.
                if self.still_registered(s) {
                    return (true, kick);
                }
                // Woken since the wait was registered: bytes are likely
                // there, read at once where the socket allows (a spurious
                // wake-up reads nothing, and the next round registers the
                // wait again).
                let woken = s.registered.take().is_some() && S::READ_ON_WAKE;
                if !woken && self.wait_readable(s).is_pending() {
                    return (true, kick);
                }
            }
            let n = s.read(sent_at.unwrap_or_else(Instant::now));
            taken += n;
            *hot = s.read_full();
            if s.conn.is_closed() {
                // The session's end is the driver's to handle.
                s.reader = None;
                return (false, true);
            }
            if n == 0 {
                // Nothing there yet (the read cleared the readiness).
                continue;
            }
            s.deliver(token, false, &mut |s, d| s.for_driver.push(d));
            kick |= !s.for_driver.is_empty() || s.model_waits();
            if !s.reads(token) {
                // Answered: reading is the driver's again.
                self.hand_back(s);
                return (false, kick);
            }
            if taken >= s.budget() {
                break;
            }
        }
        // A full budget (or many small reads): let other tasks run first.
        *hot = true;
        if let Some(cx) = cx {
            cx.waker().wake_by_ref();
        }
        (true, kick)
    }

    /// After a caller's answer: points the relay at the driver and
    /// registers a readiness wait for it, so that it wakes when bytes come
    /// (events, the server's close) without a wake-up now.
    ///
    /// Performance: a wait still registered (no wake-up since, as on a
    /// quick round trip whose caller read its answer before the runtime's
    /// reactor looked) is left as it is: polling again cost about 200
    /// instructions per round trip on tokio, and changed nothing.
    fn hand_back(&self, s: &mut Session<S>) {
        if !self.relay_to_driver(s) {
            return;
        }
        if self.still_registered(s) || self.wait_readable(s).is_pending() {
            return;
        }
        let Some(driver) = s.driver.clone() else {
            return;
        };
        // Still ready (a runtime may say so until a read would block, as
        // tokio does after a read that filled the buffer): one read finds
        // out.
        let now = Instant::now();
        if s.read(now) == 0 && !s.conn.is_closed() && self.wait_readable(s).is_pending() {
            return;
        }
        // Bytes came (or the end): the driver takes them from here.
        driver.wake();
    }

    /// A reading caller's future was dropped: reading goes back to the
    /// driver. Never waits for the lock (the drop may come from a wake-up
    /// under it); if the lock is busy, the driver is told to take reading
    /// back itself.
    pub(crate) fn abandon(&self, token: u64) {
        let mut guard = match self.session.try_lock() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(e)) => e.into_inner(),
            Err(TryLockError::WouldBlock) => {
                self.abandoned.store(token, Ordering::Release);
                self.shared.kick();
                return;
            }
        };
        if let Some(s) = guard.as_mut().filter(|s| s.reads(token)) {
            s.reader = None;
            // Readiness now wakes the driver, not the task that dropped
            // this future; the driver waits for it again.
            if self.relay_to_driver(s) {
                s.driver.as_ref().expect("a driver").wake_by_ref();
            }
        }
    }

    /// The driver's turn: takes reading back from a caller dropped while
    /// the lock was busy.
    pub(crate) fn take_abandoned(&self, s: &mut Session<S>) {
        let token = self.abandoned.swap(0, Ordering::Acquire);
        if token != 0 && s.reads(token) {
            s.reader = None;
        }
    }

    /// The driver's wait for read readiness: `Pending` while a caller reads
    /// (the caller hands readiness back when it is done).
    pub(crate) fn poll_driver_read(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        let mut guard = self.lock();
        let Some(s) = guard.as_mut() else {
            return Poll::Pending;
        };
        if !s.driver.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            s.driver = Some(cx.waker().clone());
            s.relays_driver = false;
        }
        if s.reader.is_some() {
            return Poll::Pending;
        }
        self.relay_to_driver(s);
        self.wait_readable(s)
    }

    /// The driver's wait for writability (only the driver waits for it).
    pub(crate) fn poll_writable(&self, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.lock().as_ref() {
            Some(s) => s.sock.poll_writable(cx),
            None => Poll::Pending,
        }
    }
}

/// A caller's wait for the answer to its action: reading for it while it
/// holds the read role, else waiting for whoever reads to hand it over.
pub(crate) struct Answer<'a, S: Socket> {
    link: &'a Link<S>,
    /// The read role's token while this caller holds it; 0 otherwise.
    token: u64,
    /// Read without waiting for readiness first: after a read that filled
    /// its room (the send's own turn already read once, see
    /// [`Link::try_send`]).
    hot: bool,
    /// `None` once the outcome is taken (the slot then goes back to the
    /// session, see [`Session::spare`]).
    waiting: Option<Waiting<Outcome>>,
}

impl<'a, S: Socket> Answer<'a, S> {
    /// The wait of the caller holding `token` (0: none), reading at once
    /// if `hot`, as [`Direct::Reading`] says.
    pub(crate) fn new(link: &'a Link<S>, token: u64, hot: bool, waiting: Waiting<Outcome>) -> Self {
        Answer {
            link,
            token,
            hot,
            waiting: Some(waiting),
        }
    }
}

impl<S: Socket> Future for Answer<'_, S> {
    /// `None`: the session dropped the caller without an answer (the
    /// client closed).
    type Output = Option<Outcome>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if this.token != 0 && !this.link.read_for(this.token, &mut this.hot, cx) {
            this.token = 0;
        }
        // Answered by this caller's own read, or by whoever reads (the
        // waker is registered first if not).
        let Some(waiting) = &mut this.waiting else {
            return Poll::Ready(None);
        };
        let outcome = ready!(Pin::new(waiting).poll(cx));
        if let Some(waiting) = this.waiting.take() {
            this.link.recycle(waiting);
        }
        Poll::Ready(outcome)
    }
}

impl<S: Socket> Drop for Answer<'_, S> {
    fn drop(&mut self) {
        if self.token != 0 {
            self.link.abandon(self.token);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;
    use std::io;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicBool, AtomicUsize};

    use ami_proto::{AuthMethod, Config, Connection, QueuePolicy};

    use crate::command::Caller;
    use crate::config::ClientConfig;
    use crate::reply;
    use crate::transport::Transport;

    /// The far end of a [`FakeSocket`]: what the client reads and wrote,
    /// and the one read waker the socket holds (as async-io and tokio do).
    #[derive(Default)]
    struct Wire {
        input: Mutex<VecDeque<u8>>,
        written: Mutex<Vec<u8>>,
        reader: Mutex<Option<Waker>>,
        eof: AtomicBool,
        /// A read panics (a bug below the caller's turn).
        panic_on_read: AtomicBool,
        /// The server answers each action as it is written, before the
        /// write returns (as on one CPU, where the write hands the CPU to
        /// the server).
        answer_at_once: AtomicBool,
        /// With `answer_at_once`: the answer comes without waking the
        /// registered reader (as when the caller reads it before the
        /// runtime's reactor has looked at the socket).
        quietly: AtomicBool,
        /// Calls of `poll_readable`.
        polls: AtomicUsize,
    }

    impl Wire {
        /// Bytes from the server; wakes the registered reader.
        fn feed(&self, bytes: &[u8]) {
            lock(&self.input).extend(bytes);
            self.wake_reader();
        }

        fn close(&self) {
            self.eof.store(true, Ordering::SeqCst);
            self.wake_reader();
        }

        fn wake_reader(&self) {
            if let Some(w) = lock(&self.reader).take() {
                w.wake();
            }
        }

        fn written(&self) -> String {
            String::from_utf8_lossy(&lock(&self.written)).into_owned()
        }
    }

    struct FakeSocket(Arc<Wire>);

    impl Socket for FakeSocket {
        /// Readiness is the input's: nothing is left behind by a wake-up.
        const READ_ON_WAKE: bool = true;

        fn poll_readable(&self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.0.polls.fetch_add(1, Ordering::SeqCst);
            if !lock(&self.0.input).is_empty() || self.0.eof.load(Ordering::SeqCst) {
                return Poll::Ready(Ok(()));
            }
            *lock(&self.0.reader) = Some(cx.waker().clone());
            Poll::Pending
        }

        fn poll_writable(&self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
            assert!(!self.0.panic_on_read.load(Ordering::SeqCst), "socket bug");
            let mut input = lock(&self.0.input);
            if input.is_empty() {
                return match self.0.eof.load(Ordering::SeqCst) {
                    true => Ok(0),
                    false => Err(io::ErrorKind::WouldBlock.into()),
                };
            }
            let n = buf.len().min(input.len());
            for (b, x) in buf.iter_mut().zip(input.drain(..n)) {
                *b = x;
            }
            Ok(n)
        }

        fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
            lock(&self.0.written).extend_from_slice(buf);
            if self.0.answer_at_once.load(Ordering::SeqCst) {
                let text = String::from_utf8_lossy(buf);
                let id = text.rsplit("ActionID: ").next().expect("an action");
                let id = id.lines().next().expect("a line");
                let pong = format!("Response: Success\r\nActionID: {id}\r\nPing: Pong\r\n\r\n");
                match self.0.quietly.load(Ordering::SeqCst) {
                    true => lock(&self.0.input).extend(pong.as_bytes()),
                    false => self.0.feed(pong.as_bytes()),
                }
            }
            Ok(buf.len())
        }

        fn peer_addr(&self) -> io::Result<SocketAddr> {
            Ok(([127, 0, 0, 1], 5038).into())
        }

        fn set_nodelay(&self, _: bool) -> io::Result<()> {
            Ok(())
        }
    }

    /// Counts its wake-ups.
    #[derive(Default)]
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A task's waker and how often it was woken.
    struct Task(Arc<Count>, Waker);

    impl Task {
        fn new() -> Self {
            let count = Arc::new(Count::default());
            Task(count.clone(), Waker::from(count))
        }

        fn woken(&self) -> usize {
            self.0 .0.load(Ordering::SeqCst)
        }

        fn cx(&self) -> Context<'_> {
            Context::from_waker(&self.1)
        }
    }

    /// A logged-in session over a fake socket, in a link, the driver
    /// waiting for read readiness (as it does between turns).
    struct Fixture {
        link: Arc<Link<FakeSocket>>,
        wire: Arc<Wire>,
        shared: Arc<Shared>,
        driver: Task,
    }

    fn fixture(queue: usize, policy: QueuePolicy) -> Fixture {
        let mut proto = Config::new("t", "admin", "secret");
        proto.auth = AuthMethod::Plain;
        proto.event_queue = queue;
        proto.queue_policy = policy;
        let config = ClientConfig::new("127.0.0.1:5038", proto.clone());
        let shared = Shared::new(&config, crate::runtime::test::sleeper());
        let now = Instant::now();
        let mut conn = Connection::new(proto, now).expect("valid");
        conn.handle_input(b"Asterisk Call Manager/11.0.0\r\n", now);
        let login = String::from_utf8(conn.poll_transmit().expect("login").to_vec()).unwrap();
        conn.advance(login.len());
        let id = login
            .lines()
            .find_map(|l| l.strip_prefix("ActionID: "))
            .expect("an id");
        let accepted = format!("Response: Success\r\nActionID: {id}\r\nMessage: ok\r\n\r\n");
        conn.handle_input(accepted.as_bytes(), now);
        while conn.poll_output().is_some() {}
        assert!(conn.is_ready());
        let wire = Arc::new(Wire::default());
        let sock = Transport::plain(FakeSocket(wire.clone()));
        let link = Link::new(shared.clone());
        {
            let mut guard = link.lock();
            *guard = Some(Session::new(conn, sock, &config, shared.clone()));
            link.settled(guard.as_ref());
        }
        let driver = Task::new();
        assert!(link.poll_driver_read(&mut driver.cx()).is_pending());
        Fixture {
            link,
            wire,
            shared,
            driver,
        }
    }

    impl Fixture {
        /// Offers a Ping to the direct path.
        fn ping(&self) -> Direct {
            self.link.try_send(Action::ping(), None)
        }

        /// The ActionID of the last action written.
        fn last_id(&self) -> String {
            let written = self.wire.written();
            let id = written.rsplit("ActionID: ").next().expect("an action");
            id.lines().next().expect("a line").to_owned()
        }

        fn pong(&self) -> String {
            format!(
                "Response: Success\r\nActionID: {}\r\nPing: Pong\r\n\r\n",
                self.last_id()
            )
        }

        fn kicked(&self) -> bool {
            self.shared.kick_rx.try_recv().is_ok()
        }

        fn reader(&self) -> Option<u64> {
            self.link
                .lock()
                .as_ref()
                .expect("session")
                .reader
                .map(|h| h.token)
        }
    }

    /// The token and reply slot of a send the caller reads for.
    fn reading(direct: Direct) -> (u64, reply::Waiting<Outcome>) {
        match direct {
            Direct::Reading(token, _, waiting) => (token, waiting),
            _ => panic!("not sent directly"),
        }
    }

    fn event(name: &str) -> String {
        format!("Event: {name}\r\nPrivilege: call,all\r\n\r\n")
    }

    /// The whole round trip happens on the caller's task: it writes, reads
    /// its answer when the socket wakes it, and the client's task is never
    /// woken. Afterwards reading is the driver's again: bytes that come
    /// next (an event) wake the driver, not the caller.
    #[test]
    fn a_lone_caller_writes_and_reads_its_own_answer() {
        let f = fixture(8, QueuePolicy::DropOldest);
        let mut events = f.shared.subscribe();
        let (token, waiting) = reading(f.ping());
        assert!(f.wire.written().contains("Action: Ping"), "written at once");
        assert_eq!(f.reader(), Some(token));
        assert!(f.kicked(), "the driver's timer must be armed for it");

        let caller = Task::new();
        let mut answer = Answer::new(&f.link, token, false, waiting);
        assert!(Pin::new(&mut answer).poll(&mut caller.cx()).is_pending());
        f.wire.feed(f.pong().as_bytes());
        assert_eq!((caller.woken(), f.driver.woken()), (1, 0));
        match Pin::new(&mut answer).poll(&mut caller.cx()) {
            Poll::Ready(Some(Ok(pong))) => {
                assert_eq!(pong.response().get_str("Ping").as_deref(), Some("Pong"))
            }
            other => panic!("{other:?}"),
        }
        drop(answer);
        assert_eq!(f.reader(), None, "reading is the driver's again");
        assert_eq!(caller.woken(), 1, "its own answer woke it no more");

        f.wire.feed(event("Hangup").as_bytes());
        assert_eq!((caller.woken(), f.driver.woken()), (1, 1));
        assert!(f.link.poll_driver_read(&mut f.driver.cx()).is_ready());
        assert!(events.try_next().is_none(), "the driver has not read yet");
    }

    /// An answer there by the time the send's bytes are out is read in the
    /// send's own turn: the send comes back answered with its outcome (the
    /// reply slot, never used, is free for the next send), and reading is
    /// the driver's again (readiness wakes the driver, not the caller,
    /// whose task was never woken).
    #[test]
    fn an_answer_there_when_the_bytes_are_out_is_read_in_the_sends_turn() {
        let f = fixture(8, QueuePolicy::DropOldest);
        let spare = || f.link.lock().as_ref().is_some_and(|s| s.spare.is_some());
        assert!(!spare());
        f.wire.answer_at_once.store(true, Ordering::SeqCst);
        match f.ping() {
            Direct::Answered(Ok(pong)) => {
                assert_eq!(pong.response().get_str("Ping").as_deref(), Some("Pong"))
            }
            Direct::Answered(other) => panic!("the outcome returned, not {other:?}"),
            _ => panic!("answered in the turn"),
        }
        assert_eq!(f.reader(), None, "reading is the driver's again");
        assert!(f
            .link
            .lock()
            .as_ref()
            .is_some_and(|s| s.own.is_none() && !s.keep_own));
        assert!(spare(), "the slot is free again");
        let caller = Task::new();
        f.wire.answer_at_once.store(false, Ordering::SeqCst);
        f.wire.feed(event("Hangup").as_bytes());
        assert_eq!((caller.woken(), f.driver.woken()), (0, 1));
        assert!(f.link.poll_driver_read(&mut f.driver.cx()).is_ready());
        f.link
            .lock()
            .as_mut()
            .expect("session")
            .read(Instant::now());

        // Not there yet: the caller reads for it, waiting for readiness
        // first (the turn's read found nothing), its outcome to come in the
        // slot the last send left; that slot is free again once it has.
        let direct = f.ping();
        assert!(matches!(direct, Direct::Reading(_, false, _)));
        assert!(!spare(), "taken by the send");
        let (token, waiting) = reading(direct);
        let mut answer = Answer::new(&f.link, token, false, waiting);
        assert!(Pin::new(&mut answer).poll(&mut caller.cx()).is_pending());
        f.wire.feed(f.pong().as_bytes());
        match Pin::new(&mut answer).poll(&mut caller.cx()) {
            Poll::Ready(Some(Ok(pong))) => {
                assert_eq!(pong.response().get_str("Ping").as_deref(), Some("Pong"))
            }
            other => panic!("{other:?}"),
        }
        assert!(spare(), "back for the next send");
    }

    /// An answer read before the socket's readiness woke anyone (the
    /// reactor had not looked yet) leaves the driver's readiness wait
    /// registered: handing reading back does not poll the socket again,
    /// and the driver still wakes for the bytes that come next. (A wait
    /// woken while muted is registered again: the test above.)
    #[test]
    fn a_readiness_wait_no_wake_up_spent_stays_the_drivers() {
        let f = fixture(8, QueuePolicy::DropOldest);
        f.wire.answer_at_once.store(true, Ordering::SeqCst);
        f.wire.quietly.store(true, Ordering::SeqCst);
        let polls = f.wire.polls.load(Ordering::SeqCst);
        for _ in 0..3 {
            assert!(matches!(f.ping(), Direct::Answered(Ok(_))));
            assert_eq!(f.reader(), None, "reading is the driver's again");
        }
        assert_eq!(
            f.wire.polls.load(Ordering::SeqCst),
            polls,
            "the driver's wait stands: not polled again"
        );
        f.wire.answer_at_once.store(false, Ordering::SeqCst);
        f.wire.feed(event("Hangup").as_bytes());
        assert_eq!(f.driver.woken(), 1, "the wait still wakes the driver");
    }

    /// A caller that finds no answer yet (a miss) waits on the readiness
    /// wait the driver left registered, if no wake-up spent it since: its
    /// first poll points the relay at it without polling the socket, and
    /// the answer wakes it (not the driver). A wait spent while the relay
    /// was muted (the answer came between the send and the caller's first
    /// look) is not trusted: the caller polls, finds the answer, and reads it.
    #[test]
    fn a_miss_waits_on_the_wait_still_registered_and_no_wake_up_is_lost() {
        let f = fixture(8, QueuePolicy::DropOldest);
        let caller = Task::new();
        for _ in 0..2 {
            let polls = f.wire.polls.load(Ordering::SeqCst);
            let (token, waiting) = reading(f.ping());
            let mut answer = Answer::new(&f.link, token, false, waiting);
            assert!(Pin::new(&mut answer).poll(&mut caller.cx()).is_pending());
            assert_eq!(
                f.wire.polls.load(Ordering::SeqCst),
                polls,
                "the standing wait is the caller's now"
            );
            let woken = caller.woken();
            f.wire.feed(f.pong().as_bytes());
            assert_eq!((caller.woken(), f.driver.woken()), (woken + 1, 0));
            assert!(matches!(
                Pin::new(&mut answer).poll(&mut caller.cx()),
                Poll::Ready(Some(Ok(_)))
            ));
            assert_eq!(f.reader(), None, "reading is the driver's again");
        }

        // The answer comes while the relay is muted: the wait it spent is
        // registered again by the caller's poll, which reads the answer.
        let (token, waiting) = reading(f.ping());
        f.wire.feed(f.pong().as_bytes());
        assert_eq!(f.driver.woken(), 0, "muted");
        let mut answer = Answer::new(&f.link, token, false, waiting);
        assert!(matches!(
            Pin::new(&mut answer).poll(&mut caller.cx()),
            Poll::Ready(Some(Ok(_)))
        ));
        drop(answer);
        f.wire.feed(event("Hangup").as_bytes());
        assert_eq!(f.driver.woken(), 1, "the driver's wait stands again");
    }

    /// A caller woken for readiness reads at once, without polling first
    /// (the socket allows it: `READ_ON_WAKE`); a wake-up with nothing to
    /// read leaves it waiting again, its wait registered, and the answer
    /// that comes then wakes it, not the driver. Reading is the driver's
    /// again after: its wait is registered with the one poll left.
    #[test]
    fn a_caller_woken_for_readiness_reads_at_once_and_a_spurious_wake_up_waits_again() {
        let f = fixture(8, QueuePolicy::DropOldest);
        let caller = Task::new();
        let (token, waiting) = reading(f.ping());
        let mut answer = Answer::new(&f.link, token, false, waiting);
        assert!(Pin::new(&mut answer).poll(&mut caller.cx()).is_pending());
        f.wire.wake_reader();
        assert_eq!((caller.woken(), f.driver.woken()), (1, 0));
        let polls = f.wire.polls.load(Ordering::SeqCst);
        assert!(Pin::new(&mut answer).poll(&mut caller.cx()).is_pending());
        assert_eq!(
            f.wire.polls.load(Ordering::SeqCst),
            polls + 1,
            "read, then waited"
        );

        f.wire.feed(f.pong().as_bytes());
        assert_eq!((caller.woken(), f.driver.woken()), (2, 0));
        let polls = f.wire.polls.load(Ordering::SeqCst);
        assert!(matches!(
            Pin::new(&mut answer).poll(&mut caller.cx()),
            Poll::Ready(Some(Ok(_)))
        ));
        assert_eq!(
            f.wire.polls.load(Ordering::SeqCst),
            polls + 1,
            "only the driver's wait is polled"
        );
        assert_eq!(f.reader(), None);
        f.wire.feed(event("Hangup").as_bytes());
        assert_eq!((caller.woken(), f.driver.woken()), (2, 1));
    }

    /// A delivery that says more follows at once (the reader's read filled
    /// its budget) wakes a waiting consumer only past half its queue's
    /// capacity; the next delivery that does not, or `wake_deferred`,
    /// wakes it for what was left, even with nothing new to hand out.
    #[test]
    fn deferred_deliveries_wake_the_consumer_past_a_batch_or_when_reading_stops() {
        let f = fixture(8, QueuePolicy::Backpressure);
        let mut events = f.shared.subscribe();
        let consumer = Task::new();
        let mut out = Vec::new();
        let mut wait = |events: &mut crate::events::EventStream| {
            out.clear();
            events.poll_batch(&mut consumer.cx(), &mut out, 8)
        };
        let deliver = |burst: &[&str], defer: bool| {
            f.wire.feed(
                burst
                    .iter()
                    .map(|n| event(n))
                    .collect::<String>()
                    .as_bytes(),
            );
            let mut guard = f.link.lock();
            let s = guard.as_mut().expect("session");
            s.read(Instant::now());
            s.deliver(0, defer, &mut |_, _| {});
        };
        assert!(wait(&mut events).is_pending());
        deliver(&["A", "B", "C"], true);
        assert_eq!((consumer.woken(), events.len()), (0, 3), "deferred");
        deliver(&["D"], true);
        assert_eq!(consumer.woken(), 1, "half the capacity waits");
        assert_eq!(wait(&mut events), Poll::Ready(4));
        assert!(wait(&mut events).is_pending());
        deliver(&["E"], true);
        assert_eq!(consumer.woken(), 1);
        deliver(&[], false);
        assert_eq!(consumer.woken(), 2, "reading stopped: woken for the rest");
        assert_eq!(wait(&mut events), Poll::Ready(1));
        assert!(wait(&mut events).is_pending());
        deliver(&["F"], true);
        f.link.lock().as_mut().expect("session").wake_deferred();
        assert_eq!(consumer.woken(), 3);
    }

    /// Events that come before the answer are handed out by the caller as
    /// the driver would: to every stream, and under back-pressure, while
    /// an answer is awaited, a full queue drops and counts the rest.
    #[test]
    fn events_read_by_a_caller_reach_the_streams_and_a_full_queue_drops_while_it_waits() {
        let f = fixture(2, QueuePolicy::Backpressure);
        let mut events = f.shared.subscribe();
        let (token, waiting) = reading(f.ping());
        let mut answer = Answer::new(&f.link, token, false, waiting);
        let mut burst: String = ["A", "B", "C", "D", "E"].map(event).concat();
        burst.push_str(&f.pong());
        f.wire.feed(burst.as_bytes());
        let caller = Task::new();
        assert!(matches!(
            Pin::new(&mut answer).poll(&mut caller.cx()),
            Poll::Ready(Some(Ok(_)))
        ));
        let got: Vec<_> = std::iter::from_fn(|| events.try_next()).collect();
        let names: Vec<_> = got.iter().map(|e| e.name_str().into_owned()).collect();
        assert_eq!(names, ["A", "B"]);
        assert_eq!(events.dropped(), 2, "C and D, read before the answer");
        assert_eq!(f.shared.stats().events_dropped, 2);
        // Answered: back-pressure holds again, and E waits in the client
        // for room (the consumer's reads kick the driver), not dropped.
        let guard = f.link.lock();
        assert_eq!(guard.as_ref().expect("session").conn.queue_depth(), 1);
        assert_eq!(f.driver.woken(), 0);
    }

    /// A caller whose future is dropped mid-wait hands reading back to the
    /// driver and wakes it; one dropped while the lock is busy (say, from a
    /// wake-up under it) leaves that to the driver's next turn.
    #[test]
    fn a_dropped_reader_hands_reading_back_to_the_driver() {
        let f = fixture(8, QueuePolicy::DropOldest);
        let (token, waiting) = reading(f.ping());
        let caller = Task::new();
        let mut answer = Answer::new(&f.link, token, false, waiting);
        assert!(Pin::new(&mut answer).poll(&mut caller.cx()).is_pending());
        drop(answer);
        assert_eq!(f.reader(), None);
        assert_eq!(f.driver.woken(), 1, "the driver waits for the socket again");
        // Its answer, when it comes, is the driver's to read and absorb.
        f.wire.feed(f.pong().as_bytes());
        assert_eq!(caller.woken(), 0);

        let f = fixture(8, QueuePolicy::DropOldest);
        let (token, waiting) = reading(f.ping());
        let answer = Answer::new(&f.link, token, false, waiting);
        let _ = f.kicked();
        let mut guard = f.link.lock();
        drop(answer);
        assert!(f.kicked(), "the driver is told");
        let s = guard.as_mut().expect("session");
        assert!(s.reads(token), "not yet: the lock was busy");
        f.link.take_abandoned(s);
        assert_eq!(s.reader.map(|h| h.token), None);
    }

    /// Reading handed back points readiness at the driver's latest waker,
    /// also when the driver was polled with another one while a caller
    /// read (and the relay still held the driver's old one).
    #[test]
    fn reading_handed_back_wakes_the_drivers_latest_waker() {
        let f = fixture(8, QueuePolicy::DropOldest);
        let (token, waiting) = reading(f.ping());
        let answer = Answer::new(&f.link, token, false, waiting);
        let moved = Task::new();
        let polled = f.link.poll_driver_read(&mut moved.cx());
        assert!(polled.is_pending(), "a caller reads");
        drop(answer);
        assert_eq!((f.driver.woken(), moved.woken()), (0, 1), "to wait again");
        f.wire.feed(event("Hangup").as_bytes());
        assert_eq!(
            (f.driver.woken(), moved.woken()),
            (0, 2),
            "its latest waker"
        );
    }

    /// The caller that reads the server's close leaves the session's end
    /// to the driver: it stops reading, kicks the driver, and waits for
    /// its outcome like any other caller.
    #[test]
    fn a_caller_that_reads_the_end_leaves_it_to_the_driver() {
        let f = fixture(8, QueuePolicy::DropOldest);
        let (token, waiting) = reading(f.ping());
        let mut answer = Answer::new(&f.link, token, false, waiting);
        let _ = f.kicked();
        f.wire.close();
        let caller = Task::new();
        assert!(Pin::new(&mut answer).poll(&mut caller.cx()).is_pending());
        assert!(f.kicked());
        assert_eq!(f.reader(), None);
        let guard = f.link.lock();
        let s = guard.as_ref().expect("session");
        assert!(
            s.conn.is_closed() && s.pending.len() == 1,
            "the driver completes it"
        );
    }

    /// A panic in a caller's turn is caught there and left for the driver,
    /// which raises it again: the client then ends as after a panic of its
    /// own, loudly. Meanwhile no other caller takes the direct path.
    #[test]
    fn a_panic_in_a_callers_turn_is_left_for_the_driver() {
        let f = fixture(8, QueuePolicy::DropOldest);
        let (token, waiting) = reading(f.ping());
        let mut answer = Answer::new(&f.link, token, false, waiting);
        let _ = f.kicked();
        f.wire.panic_on_read.store(true, Ordering::SeqCst);
        f.wire.feed(f.pong().as_bytes());
        let caller = Task::new();
        assert!(Pin::new(&mut answer).poll(&mut caller.cx()).is_pending());
        assert!(f.kicked());
        assert_eq!(f.reader(), None);
        let panicked = f.link.lock().as_ref().is_some_and(|s| s.panicked.is_some());
        assert!(panicked, "kept for the driver");
        assert!(matches!(f.ping(), Direct::Declined(..)));
    }

    /// The direct path is for a ready, idle session: with an action in
    /// flight, a send goes to the driver (which sends a pipelined load in
    /// one write); a cancelled one is answered at once.
    #[test]
    fn only_an_idle_session_is_sent_to_directly() {
        let f = fixture(8, QueuePolicy::DropOldest);
        let _first = reading(f.ping());
        assert!(matches!(f.ping(), Direct::Declined(..)), "one in flight");

        let f = fixture(8, QueuePolicy::DropOldest);
        let ticket = Arc::new(crate::command::Ticket::default());
        ticket.lock().cancelled = true;
        let Direct::Waiting(mut waiting) = f.link.try_send(Action::ping(), Some(ticket)) else {
            panic!("answered in the slot");
        };
        let task = Task::new();
        assert!(matches!(
            Pin::new(&mut waiting).poll(&mut task.cx()),
            Poll::Ready(Some(Err(ClientError::Action(
                ami_proto::ActionError::Cancelled
            ))))
        ));
        assert!(f.wire.written().is_empty(), "nothing sent");
    }

    /// Once a send found another action in flight (a pipelined load, sent
    /// by the driver), the next `CROWD` sends go through the driver too,
    /// even alone: a burst whose answers have all come does not send its
    /// next action from its caller's task. Then the direct path is taken
    /// again.
    #[test]
    fn after_a_crowd_lone_sends_go_through_the_driver_for_a_while() {
        let f = fixture(8, QueuePolicy::DropOldest);
        // What the driver does with a send it was given, and its answer.
        let through_driver = |action: Action| {
            let (reply, _waiting) = reply::reply();
            let caller = Caller {
                reply,
                ticket: None,
            };
            let mut guard = f.link.lock();
            let s = guard.as_mut().expect("session");
            let sent = s.send(action, caller, 0, Instant::now());
            assert!(matches!(sent, crate::session::Sent::Awaiting(_)));
            s.flush(Instant::now());
            f.link.settled(Some(s));
        };
        let answer_all = |s: &mut Session<FakeSocket>| {
            s.read(Instant::now());
            s.deliver(0, false, &mut |_, _| {});
            assert!(s.pending.is_empty());
        };
        let (token, waiting) = reading(f.ping());
        let mut answer = Answer::new(&f.link, token, false, waiting);
        let first = f.pong();
        through_driver(Action::ping());
        f.wire.feed(format!("{first}{}", f.pong()).as_bytes());
        assert!(Pin::new(&mut answer).poll(&mut Task::new().cx()).is_ready());
        drop(answer);
        for _ in 0..crate::session::CROWD {
            let Direct::Declined(action, _) = f.ping() else {
                panic!("sent directly too soon");
            };
            through_driver(action);
            f.wire.feed(f.pong().as_bytes());
            let mut guard = f.link.lock();
            answer_all(guard.as_mut().expect("session"));
            f.link.settled(guard.as_ref());
        }
        let _reading = reading(f.ping());
    }

    /// The driver's timer is asked to move only when it would fire after
    /// the action's deadline or the end of the hold.
    #[test]
    fn the_driver_is_kicked_only_when_its_timer_must_move() {
        let f = fixture(8, QueuePolicy::DropOldest);
        f.link.lock().as_mut().expect("session").alarm = Some(Instant::now() + HOLD / 2);
        let (token, waiting) = reading(f.ping());
        let mut answer = Answer::new(&f.link, token, false, waiting);
        assert!(!f.kicked(), "armed early enough");
        f.wire.feed(f.pong().as_bytes());
        assert!(Pin::new(&mut answer).poll(&mut Task::new().cx()).is_ready());

        f.link.lock().as_mut().expect("session").alarm = Some(Instant::now() + 10 * HOLD);
        let _reading = reading(f.ping());
        assert!(f.kicked(), "armed too late for the hold");
    }
}

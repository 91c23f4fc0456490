//! What the handles ([`Client`](crate::Client), streams, cancel handles)
//! and the client's task share: the state and its watchers, the counters,
//! the event subscribers, and the cancelled sends.

use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use ami_proto::{ConnState, QueuePolicy};
use async_channel::{Receiver, Sender};
use futures_lite::Stream;

use crate::command::Ticket;
use crate::config::ClientConfig;
use crate::events::{EventStream, Subscriber};
use crate::runtime::Sleeper;
use crate::stats::ClientStats;

/// State shared by the handles ([`Client`](crate::Client), streams) and the task.
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    subs: Mutex<Subs>,
    status: Mutex<Status>,
    /// Wakes the task: a back-pressure queue got room, a send was
    /// cancelled, or a caller that sent its own action needs it (see
    /// [`Link`](crate::link::Link)).
    kick: Sender<()>,
    pub(crate) kick_rx: Receiver<()>,
    capacity: usize,
    pub(crate) policy: QueuePolicy,
    /// The runtime's timers, for the event streams' deadlines.
    sleeper: Sleeper,
    /// Cancelled sends the task has not seen yet.
    cancels: Mutex<Vec<Arc<Ticket>>>,
    /// `cancels` is not empty: checked on every turn without the lock.
    cancelled: AtomicBool,
}

struct Status {
    state: ConnState,
    stats: ClientStats,
    watchers: Vec<Sender<ConnState>>,
    /// The client has ended: a new watcher gets the last state and its end.
    ended: bool,
}

struct Subs {
    live: Vec<Arc<Subscriber>>,
    /// The client has ended: a new stream is born ended.
    ended: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// State changes a watcher may fall behind by before it misses some.
const WATCH_DEPTH: usize = 64;

impl Shared {
    pub(crate) fn new(config: &ClientConfig, sleeper: Sleeper) -> Arc<Self> {
        let (kick, kick_rx) = async_channel::bounded(1);
        Arc::new(Shared {
            name: config.proto.server.as_str().into(),
            subs: Mutex::new(Subs {
                live: Vec::new(),
                ended: false,
            }),
            status: Mutex::new(Status {
                // Connecting counts as logging in; a failed connect is `Closed(Lost)`.
                state: ConnState::LoggingIn,
                stats: ClientStats::default(),
                watchers: Vec::new(),
                ended: false,
            }),
            kick,
            kick_rx,
            capacity: config.proto.event_queue,
            policy: config.proto.queue_policy,
            sleeper,
            cancels: Mutex::new(Vec::new()),
            cancelled: AtomicBool::new(false),
        })
    }

    pub(crate) fn subscribe(&self) -> EventStream {
        let sub = Subscriber::new(self.capacity, self.policy, self.kick.clone());
        let mut subs = lock(&self.subs);
        match subs.ended {
            true => sub.close(),
            false => subs.live.push(sub.clone()),
        }
        EventStream::new(sub, self.sleeper.clone())
    }

    /// A sender that wakes the task (the live model's, after a query).
    pub(crate) fn kicker(&self) -> Sender<()> {
        self.kick.clone()
    }

    /// Asks the task to cancel the send that holds `ticket`.
    pub(crate) fn cancel(&self, ticket: Arc<Ticket>) {
        lock(&self.cancels).push(ticket);
        self.cancelled.store(true, Ordering::Release);
        self.kick();
    }

    /// Wakes the task for a turn.
    pub(crate) fn kick(&self) {
        // A kick already queued wakes the task just as well.
        let _ = self.kick.try_send(());
    }

    /// Moves the cancelled sends into `out`; nearly free when there are none.
    pub(crate) fn take_cancels(&self, out: &mut Vec<Arc<Ticket>>) {
        // A plain load first: the driver asks on every turn, a cancel is rare.
        if self.cancelled.load(Ordering::Relaxed) && self.cancelled.swap(false, Ordering::Acquire) {
            out.append(&mut lock(&self.cancels));
        }
    }

    /// Appends the live subscribers to `out` (each stays in the list while
    /// its [`EventStream`] exists), for use without the list's lock.
    /// `out` must hold none of them already.
    pub(crate) fn subscribers(&self, out: &mut Vec<Arc<Subscriber>>) {
        let mut subs = lock(&self.subs);
        // A stream dropped by its owner leaves only the list's reference.
        subs.live.retain(|s| Arc::strong_count(s) > 1);
        out.extend(subs.live.iter().cloned());
    }

    /// The `queue_depth` of this crate's log events: the events waiting in
    /// the fullest subscriber queue (how far the slowest consumer lags).
    /// Locks; never call it with a subscriber's lock held.
    pub(crate) fn queue_depth(&self) -> usize {
        let subs = lock(&self.subs);
        subs.live.iter().map(|s| s.len()).max().unwrap_or(0)
    }

    pub(crate) fn state(&self) -> ConnState {
        lock(&self.status).state.clone()
    }

    pub(crate) fn set_state(&self, state: ConnState) {
        {
            let mut status = lock(&self.status);
            if status.state == state {
                return;
            }
            status.state = state.clone();
            status
                .watchers
                .retain(|w| !matches!(w.try_send(state.clone()), Err(e) if e.is_closed()));
        }
        log!(debug, self, ?state, "state");
    }

    /// The end of the client: the last state, every watcher and every
    /// stream ended (streams after what they hold).
    pub(crate) fn close(&self, last: ConnState) {
        self.set_state(last);
        {
            let mut status = lock(&self.status);
            status.ended = true;
            status.watchers.clear();
        }
        let mut subs = lock(&self.subs);
        subs.ended = true;
        for sub in subs.live.drain(..) {
            sub.close();
        }
    }

    pub(crate) fn watch(&self) -> StateChanges {
        let (tx, rx) = async_channel::bounded(WATCH_DEPTH);
        let mut status = lock(&self.status);
        let _ = tx.try_send(status.state.clone());
        if !status.ended {
            status.watchers.push(tx);
        }
        StateChanges(Box::pin(rx))
    }

    pub(crate) fn stats(&self) -> ClientStats {
        lock(&self.status).stats
    }

    pub(crate) fn update_stats(&self, f: impl FnOnce(&mut ClientStats)) {
        f(&mut lock(&self.status).stats);
    }
}

/// A stream of a client's [`ConnState`] changes: the state when it was
/// made, then each change. A consumer more than 64 changes behind misses
/// some (the latest is always [`Client::state`](crate::Client::state)).
/// Ends when the client closes for good.
pub struct StateChanges(Pin<Box<Receiver<ConnState>>>);

impl std::fmt::Debug for StateChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateChanges").finish_non_exhaustive()
    }
}

impl Stream for StateChanges {
    type Item = ConnState;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConnState>> {
        self.0.as_mut().poll_next(cx)
    }
}

//! The event stream: one bounded queue per subscriber, filled by whoever
//! reads the session (the driver, or a caller reading for its own answer).
//!
//! The reader drains the core's event queue on every turn and pushes each
//! event into every subscriber's queue, applying the configured
//! [`QueuePolicy`]. Drop-oldest and drop-newest count what they lose; under
//! back-pressure the driver stops draining (and so stops reading the socket)
//! while any subscriber is full and no answer is awaited, and a consumer that
//! makes room wakes it. Nothing here ever waits on the consumer.
//!
//! A subscriber's filter is the user's code: it runs with no subscriber
//! lock held, nor any lock the library's calls take
//! ([`Subscriber::offer`]), so a filter may call back into the library, and
//! a filter that panics ends its own stream only.

use std::collections::VecDeque;
use std::panic::{self, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use ami_proto::{instant_after, Event, QueuePolicy};
use async_channel::Sender;
use futures_lite::{future, Stream};

use crate::error::ClientError;
use crate::runtime::Sleeper;

/// Events queued at which a deferred hand-out wakes its consumer all the
/// same (see [`Subscriber::offer`]); half the capacity if that is less.
const WAKE_AT: usize = 512;

/// A predicate choosing which events a subscriber receives.
pub(crate) type Filter = Arc<dyn Fn(&Event) -> bool + Send + Sync>;

/// One subscriber's queue, shared by its [`EventStream`] and the driver.
pub(crate) struct Subscriber {
    inner: Mutex<Inner>,
    capacity: usize,
    policy: QueuePolicy,
    /// Wakes the driver when a full back-pressure queue gets room.
    kick: Sender<()>,
}

struct Inner {
    queue: VecDeque<Event>,
    filter: Option<Filter>,
    /// Bumped by each new filter, so the driver can tell that the filter it
    /// ran (unlocked) is still the one in force when it pushes.
    filter_gen: u64,
    /// Events [`EventStream::filter`] took out to check against a new
    /// filter (unlocked); they still count against the capacity.
    refiltering: usize,
    waker: Option<Waker>,
    dropped: u64,
    high_water: usize,
    /// The client is gone (or the filter panicked): no more events will come.
    closed: bool,
}

impl Inner {
    /// Queued events, those being re-filtered included.
    fn held(&self) -> usize {
        self.queue.len() + self.refiltering
    }

    /// Queues one event under the policy; returns (queued, dropped).
    fn push(&mut self, event: Event, capacity: usize, policy: QueuePolicy) -> (u64, u64) {
        if self.held() < capacity {
            self.queue.push_back(event);
            return (1, 0);
        }
        match policy {
            // While a re-filter holds the oldest events, the newest goes.
            QueuePolicy::DropOldest if !self.queue.is_empty() => {
                self.queue.pop_front();
                self.queue.push_back(event);
                (1, 1)
            }
            // Back-pressure: the driver pushes more than `room` only while
            // an answer is awaited (see `EventStream`); the bound holds.
            _ => (0, 1),
        }
    }
}

impl Subscriber {
    pub(crate) fn new(capacity: usize, policy: QueuePolicy, kick: Sender<()>) -> Arc<Self> {
        Arc::new(Subscriber {
            inner: Mutex::new(Inner {
                queue: VecDeque::with_capacity(capacity.min(1024)),
                filter: None,
                filter_gen: 0,
                refiltering: 0,
                waker: None,
                dropped: 0,
                high_water: 0,
                closed: false,
            }),
            capacity: capacity.max(1),
            policy,
            kick,
        })
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No user code runs under the lock; a poisoned queue is still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Events that can be pushed before the policy applies (unbounded once
    /// closed: an ended stream never holds the driver back).
    pub(crate) fn room(&self) -> usize {
        let inner = self.lock();
        match inner.closed {
            true => usize::MAX,
            false => self.capacity.saturating_sub(inner.held()),
        }
    }

    /// Events waiting in the queue now.
    pub(crate) fn len(&self) -> usize {
        self.lock().queue.len()
    }

    /// Filters `events` with the filter in force, run with no subscriber
    /// lock held, and queues those that pass, emptying `events`. Returns (queued,
    /// dropped), or what a panicking filter said: its stream is then ended
    /// (after what it holds) and takes no more events.
    ///
    /// `defer`: more events follow at once (the reader's last read filled
    /// its budget), so a waiting consumer is woken only once `WAKE_AT`
    /// events (or half the capacity) wait; the reader calls
    /// [`wake`](Self::wake) when it stops. A consumer thread woken per read
    /// paid a wake-up and a sleep for ~200 events.
    ///
    /// Performance: one lock per batch without a filter; with one, two (the
    /// filter runs between them).
    pub(crate) fn offer(&self, events: &mut Vec<Event>, defer: bool) -> Result<(u64, u64), String> {
        let mut inner = self.lock();
        loop {
            if inner.closed {
                events.clear();
                return Ok((0, 0));
            }
            let Some(filter) = inner.filter.clone() else {
                return Ok(self.queue_all(inner, events, defer));
            };
            let gen = inner.filter_gen;
            drop(inner);
            let kept = panic::catch_unwind(AssertUnwindSafe(|| events.retain(|e| filter(e))));
            if let Err(panic) = kept {
                events.clear();
                self.close();
                return Err(crate::panic::message(&*panic));
            }
            inner = self.lock();
            if inner.filter_gen == gen && !inner.closed {
                return Ok(self.queue_all(inner, events, defer));
            }
            // A new filter came while this one ran: filter again with it.
        }
    }

    /// Queues `events` (filtered), emptying it; returns (queued, dropped).
    fn queue_all(
        &self,
        mut inner: MutexGuard<'_, Inner>,
        events: &mut Vec<Event>,
        defer: bool,
    ) -> (u64, u64) {
        let (mut queued, mut dropped) = (0, 0);
        if events.len() <= self.capacity.saturating_sub(inner.held()) {
            // Room for all: no policy applies, the batch moves at once (an
            // empty queue and the batch swap buffers: no event moves).
            queued = events.len() as u64;
            if inner.queue.is_empty() {
                let spare = Vec::from(std::mem::take(&mut inner.queue));
                inner.queue = VecDeque::from(std::mem::replace(events, spare));
            } else {
                inner.queue.extend(events.drain(..));
            }
        }
        for event in events.drain(..) {
            let (q, d) = inner.push(event, self.capacity, self.policy);
            (queued, dropped) = (queued + q, dropped + d);
        }
        inner.dropped += dropped;
        inner.high_water = inner.high_water.max(inner.queue.len());
        let wake_at = (self.capacity / 2).clamp(1, WAKE_AT);
        if queued > 0 && (!defer || inner.queue.len() >= wake_at) {
            Self::wake_locked(inner);
        }
        (queued, dropped)
    }

    /// Wakes the consumer if it waits and events are queued: after
    /// deferred [`offer`](Self::offer)s.
    pub(crate) fn wake(&self) {
        let inner = self.lock();
        if !inner.queue.is_empty() {
            Self::wake_locked(inner);
        }
    }

    fn wake_locked(mut inner: MutexGuard<'_, Inner>) {
        if let Some(waker) = inner.waker.take() {
            drop(inner);
            waker.wake();
        }
    }

    /// Installs `filter` and applies it to the queued events, calling it
    /// with no lock held (a panic in it reaches the caller, as its own).
    fn set_filter(&self, filter: Filter) {
        let queued = {
            let mut inner = self.lock();
            inner.filter = Some(filter.clone());
            inner.filter_gen += 1;
            let queued = std::mem::take(&mut inner.queue);
            inner.refiltering = queued.len();
            queued
        };
        // Meanwhile the driver queues events that passed the new filter
        // behind these, within the capacity these still count against.
        let kept = panic::catch_unwind(AssertUnwindSafe(|| {
            queued
                .into_iter()
                .filter(|e| filter(e))
                .collect::<VecDeque<_>>()
        }));
        let mut inner = self.lock();
        inner.refiltering = 0;
        match kept {
            Ok(mut kept) => {
                kept.append(&mut inner.queue);
                inner.queue = kept;
            }
            Err(panic) => {
                drop(inner);
                panic::resume_unwind(panic);
            }
        }
    }

    /// Ends the stream once its queue is empty.
    pub(crate) fn close(&self) {
        let mut inner = self.lock();
        inner.closed = true;
        if let Some(waker) = inner.waker.take() {
            drop(inner);
            waker.wake();
        }
    }

    /// Takes up to `max` events into `out`; `None` when the stream has
    /// ended. Taking them all into an empty `out` swaps buffers with the
    /// queue (no event moves, no buffer grows).
    fn pop(&self, out: &mut Vec<Event>, max: usize, waker: Option<&Waker>) -> Option<usize> {
        self.pop_with(max, waker, |queue, n| {
            if n == queue.len() && out.is_empty() {
                let spare = VecDeque::from(std::mem::take(out));
                *out = Vec::from(std::mem::replace(queue, spare));
            } else {
                out.extend(queue.drain(..n));
            }
        })
    }

    /// Takes the oldest waiting event, if any, into `got`.
    fn pop_one(&self, got: &mut Option<Event>, waker: Option<&Waker>) -> Option<usize> {
        self.pop_with(1, waker, |queue, n| {
            if n > 0 {
                *got = queue.pop_front();
            }
        })
    }

    /// Lets `take` take the `n` (at most `max`) oldest waiting events from
    /// the queue; `Some(0)` registers `waker`, `None` means the stream has
    /// ended.
    fn pop_with(
        &self,
        max: usize,
        waker: Option<&Waker>,
        take: impl FnOnce(&mut VecDeque<Event>, usize),
    ) -> Option<usize> {
        let mut inner = self.lock();
        let was_full = inner.held() >= self.capacity;
        let n = max.min(inner.queue.len());
        take(&mut inner.queue, n);
        if n == 0 {
            if inner.closed {
                return None;
            }
            if let Some(w) = waker {
                inner.waker = Some(w.clone());
            }
        }
        drop(inner);
        if was_full && n > 0 && self.policy == QueuePolicy::Backpressure {
            // Room again: let the driver read. A kick already queued is enough.
            let _ = self.kick.try_send(());
        }
        Some(n)
    }
}

/// A bounded stream of the events of one client (or, through
/// [`Cluster`](crate::Cluster), of one node).
///
/// Each stream has its own queue of `proto.event_queue` events under
/// `proto.queue_policy`: a slow consumer loses the oldest (or newest) events,
/// counted in [`dropped`](Self::dropped), or, under
/// [`QueuePolicy::Backpressure`], stops its client from reading the socket
/// until it catches up. Events consumed by actions (list items, Originate
/// outcomes) never appear here. The stream ends when its client closes for
/// good (or its filter panics); it lives across reconnects.
///
/// # Back-pressure never holds back an answer
///
/// Under [`QueuePolicy::Backpressure`] a full stream slows the reading of
/// events only. Completions, timeouts and state changes are always
/// delivered, and while an answer is awaited (an action sent by any
/// [`Client`](crate::Client) handle, the heartbeat's Ping, the Logoff of a
/// close) the client keeps reading: events then go to every stream that has
/// room, and a full stream drops what it cannot take, counted in
/// [`dropped`](Self::dropped) and
/// [`ClientStats::events_dropped`](crate::ClientStats::events_dropped).
/// That is the only case where back-pressure loses events: a consumer that
/// is full while an answer is awaited, typically an event handler that
/// awaits a `send` before reading on, or a consumer stalled longer than
/// `heartbeat_interval` (the Ping's answer waits behind its events). A
/// consumer that keeps up, or that stalls while no answer is awaited,
/// loses nothing.
///
/// Get one with [`ClientBuilder::events`](crate::ClientBuilder::events)
/// (before login, so the burst after login is kept) or
/// [`Client::events`](crate::Client::events) (from now on). Dropping it
/// unsubscribes.
pub struct EventStream {
    sub: Arc<Subscriber>,
    /// The client's runtime timers, for [`next_timeout`](Self::next_timeout).
    sleeper: Sleeper,
}

impl std::fmt::Debug for EventStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStream")
            .field("queued", &self.len())
            .field("dropped", &self.dropped())
            .finish_non_exhaustive()
    }
}

impl EventStream {
    pub(crate) fn new(sub: Arc<Subscriber>, sleeper: Sleeper) -> Self {
        EventStream { sub, sleeper }
    }

    /// Keeps only events whose name is one of `names` (ASCII case ignored).
    /// Filtered-out events take no room in the queue and are not drops.
    pub fn filter_names(self, names: &[&str]) -> Self {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        self.filter(move |e| names.iter().any(|n| e.is(n)))
    }

    /// Keeps only events for which `pred` is true. The predicate runs where
    /// events are read, for every event: on the client's task, or on the
    /// task of a caller reading for its own answer (see
    /// [`Client::send`](crate::Client::send)). Keep it cheap and never block.
    /// It runs with none of the locks held that the library's calls take,
    /// so it may call the library (this stream's [`len`](Self::len),
    /// [`Client`](crate::Client) methods). Replaces any earlier filter; queued events that fail it are
    /// discarded (here, on the caller's thread).
    ///
    /// A predicate that panics there ends this stream (after the
    /// events it holds), logged at error level; the client and its other
    /// streams go on.
    pub fn filter(self, pred: impl Fn(&Event) -> bool + Send + Sync + 'static) -> Self {
        self.sub.set_filter(Arc::new(pred));
        self
    }

    /// Events this stream's queue dropped because it was full.
    pub fn dropped(&self) -> u64 {
        self.sub.lock().dropped
    }

    /// Events waiting in this stream's queue now.
    pub fn len(&self) -> usize {
        self.sub.lock().queue.len()
    }

    /// Whether no event is waiting now.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The deepest this stream's queue has been (never above its capacity).
    pub fn high_water(&self) -> usize {
        self.sub.lock().high_water
    }

    /// The next event if one is waiting, without waiting.
    pub fn try_next(&mut self) -> Option<Event> {
        let mut out = Vec::with_capacity(1);
        self.sub.pop(&mut out, 1, None);
        out.pop()
    }

    /// The next event, waiting at most `timeout` for one: `Ok(None)` when
    /// none came in time, [`ClientError::Closed`] once the stream has ended
    /// (its client closed for good, or its filter panicked) and its queue is
    /// empty. An event already queued is returned at once, even with a zero
    /// `timeout`; `Duration::MAX` waits as [`next`](futures_lite::StreamExt::next)
    /// does. As the blocking client's `next_event`.
    ///
    /// Cancel-safe: dropping the future loses no event.
    pub async fn next_timeout(&mut self, timeout: Duration) -> Result<Option<Event>, ClientError> {
        let deadline = instant_after(Instant::now(), timeout);
        self.next_before(deadline).await
    }

    /// Waits at most `timeout` for an event for which `pred` is true, and
    /// returns it: `Ok(None)` when none came in time, [`ClientError::Closed`]
    /// once the stream has ended. Events before it that fail `pred` are
    /// consumed and discarded; the timeout covers the whole wait.
    ///
    /// For instance, after an action, wait for the event that tells its
    /// outcome: `events.wait_for(|e| e.is("Hangup"), Duration::from_secs(30))`.
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&Event) -> bool,
        timeout: Duration,
    ) -> Result<Option<Event>, ClientError> {
        let deadline = instant_after(Instant::now(), timeout);
        loop {
            match self.next_before(deadline).await? {
                Some(event) if pred(&event) => return Ok(Some(event)),
                Some(_) => {}
                None => return Ok(None),
            }
        }
    }

    /// The next event, waiting until `deadline` at most.
    async fn next_before(&mut self, deadline: Instant) -> Result<Option<Event>, ClientError> {
        let mut got = None;
        // What is queued comes first, without a timer.
        match self.sub.pop_one(&mut got, None) {
            None => return Err(ClientError::Closed),
            Some(0) if Instant::now() < deadline => {}
            Some(_) => return Ok(got),
        }
        let timer = (self.sleeper)(deadline);
        let next = future::poll_fn(|cx| match self.sub.pop_one(&mut got, Some(cx.waker())) {
            None => Poll::Ready(Err(ClientError::Closed)),
            Some(0) => Poll::Pending,
            Some(_) => Poll::Ready(Ok(got.take())),
        });
        future::or(next, async {
            timer.await;
            Ok(None)
        })
        .await
    }

    /// Moves up to `max` waiting events into `out` with one lock: `Pending`
    /// (waker registered) when none wait, `Ready(0)` once the stream ended.
    pub(crate) fn poll_batch(
        &mut self,
        cx: &mut Context<'_>,
        out: &mut Vec<Event>,
        max: usize,
    ) -> Poll<usize> {
        match self.sub.pop(out, max, Some(cx.waker())) {
            None => Poll::Ready(0),
            Some(0) => Poll::Pending,
            Some(n) => Poll::Ready(n),
        }
    }

    /// Waits for events, then moves up to `max` of them into `out` with one
    /// lock. Returns how many; 0 means the stream has ended. Cheaper than
    /// `next()` per event under heavy load.
    pub async fn next_batch(&mut self, out: &mut Vec<Event>, max: usize) -> usize {
        let max = max.max(1);
        futures_lite::future::poll_fn(|cx| match self.sub.pop(out, max, Some(cx.waker())) {
            None => Poll::Ready(0),
            Some(0) => Poll::Pending,
            Some(n) => Poll::Ready(n),
        })
        .await
    }
}

impl Drop for EventStream {
    fn drop(&mut self) {
        // Closed (and emptied) first: the driver may look at this subscriber
        // before the reference held here is gone, and must then find a
        // queue that holds it back no more, or it would wait for the kick
        // below in vain (until its next timer).
        {
            let mut inner = self.sub.lock();
            inner.closed = true;
            inner.queue = VecDeque::new();
        }
        // A full back-pressure stream may be what holds the driver back:
        // let it see that the stream is gone, rather than at its next timer.
        if self.sub.policy == QueuePolicy::Backpressure {
            let _ = self.sub.kick.try_send(());
        }
    }
}

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut got = None;
        match self.sub.pop_one(&mut got, Some(cx.waker())) {
            None => Poll::Ready(None),
            Some(0) => Poll::Pending,
            Some(_) => Poll::Ready(got),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::test::sleeper;
    use futures_lite::StreamExt;

    fn event(name: &str) -> Event {
        Event::from_pairs([("Event", name.as_bytes())])
    }

    fn names(out: &[Event]) -> Vec<String> {
        out.iter().map(|e| e.name_str().into_owned()).collect()
    }

    /// Offers events named `names`, as the driver does; returns (queued, dropped).
    fn offer(sub: &Subscriber, names: &[&str]) -> (u64, u64) {
        let mut batch: Vec<Event> = names.iter().map(|n| event(n)).collect();
        let counts = sub.offer(&mut batch, false).expect("no panic");
        assert!(batch.is_empty(), "the batch is taken");
        counts
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts() {
        let (kick, _rx) = async_channel::bounded(1);
        let sub = Subscriber::new(2, QueuePolicy::DropOldest, kick);
        let mut stream = EventStream::new(sub.clone(), sleeper());
        assert_eq!(offer(&sub, &["a", "b", "c", "d"]), (4, 2));
        assert_eq!(
            (stream.len(), stream.dropped(), stream.high_water()),
            (2, 2, 2)
        );
        let got: Vec<_> = std::iter::from_fn(|| stream.try_next()).collect();
        assert_eq!(names(&got), ["c", "d"]);
    }

    #[test]
    fn drop_newest_keeps_the_oldest_and_counts() {
        let (kick, _rx) = async_channel::bounded(1);
        let sub = Subscriber::new(2, QueuePolicy::DropNewest, kick);
        let mut stream = EventStream::new(sub.clone(), sleeper());
        assert_eq!(offer(&sub, &["a", "b", "c"]), (2, 1));
        let got: Vec<_> = std::iter::from_fn(|| stream.try_next()).collect();
        assert_eq!(names(&got), ["a", "b"]);
    }

    #[test]
    fn filter_applies_before_queueing_and_to_queued_events() {
        let (kick, _rx) = async_channel::bounded(1);
        let sub = Subscriber::new(2, QueuePolicy::DropNewest, kick);
        offer(&sub, &["Newchannel"]);
        let mut stream = EventStream::new(sub.clone(), sleeper()).filter_names(&["hangup"]);
        assert_eq!(stream.len(), 0, "queued non-matching events are discarded");
        let batch = ["Hangup", "Newchannel", "Hangup", "Newstate", "Hangup"];
        assert_eq!(offer(&sub, &batch), (2, 1));
        assert_eq!(names(&[stream.try_next().unwrap()]), ["Hangup"]);
    }

    /// A filter is the user's code: it runs with no lock held, so it may
    /// call its own stream (here: admit events while the queue is short).
    /// It deadlocked when filters ran under the subscriber's lock.
    #[test]
    fn a_filter_may_call_its_own_stream() {
        let (kick, _rx) = async_channel::bounded(1);
        let sub = Subscriber::new(8, QueuePolicy::DropNewest, kick);
        let own: Arc<Mutex<Option<EventStream>>> = Arc::default();
        let seen = own.clone();
        let stream = EventStream::new(sub.clone(), sleeper()).filter(move |_| {
            let own = seen.lock().unwrap();
            own.as_ref().map_or(0, EventStream::len) < 2
        });
        *own.lock().unwrap() = Some(stream);
        let (done, finished) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let _ = done.send([offer(&sub, &["a", "b"]), offer(&sub, &["c"])]);
        });
        let counts = finished
            .recv_timeout(std::time::Duration::from_secs(5))
            .expect("the filter's call into its stream deadlocked");
        assert_eq!(counts, [(2, 0), (0, 0)], "admitted while short, then not");
        assert_eq!(own.lock().unwrap().as_ref().unwrap().len(), 2);
    }

    /// A new filter is applied to the queued events unlocked; events the
    /// driver queues meanwhile pass the new filter, go behind the older
    /// ones, and the queue never holds more than its capacity.
    #[test]
    fn refiltering_keeps_order_and_bound_while_the_driver_pushes() {
        let (kick, _rx) = async_channel::bounded(1);
        let sub = Subscriber::new(4, QueuePolicy::DropNewest, kick);
        offer(&sub, &["a", "b", "keep-out"]);
        let driver = sub.clone();
        let pushed = std::sync::atomic::AtomicBool::new(false);
        let mut stream = EventStream::new(sub, sleeper()).filter(move |e| {
            if !pushed.swap(true, std::sync::atomic::Ordering::SeqCst) {
                // The driver, mid-refilter: one slot is free (3 held).
                assert_eq!(offer(&driver, &["x", "keep-out", "y"]), (1, 1));
            }
            !e.is("keep-out")
        });
        let got: Vec<_> = std::iter::from_fn(|| stream.try_next()).collect();
        assert_eq!(names(&got), ["a", "b", "x"]);
        assert_eq!((stream.dropped(), stream.high_water()), (1, 3));
    }

    #[test]
    fn a_panicking_filter_ends_its_stream_after_what_it_holds() {
        let (kick, _rx) = async_channel::bounded(1);
        let sub = Subscriber::new(4, QueuePolicy::Backpressure, kick);
        let mut stream =
            EventStream::new(sub.clone(), sleeper()).filter(|e| e.is("ok") || panic!("bad filter"));
        offer(&sub, &["ok"]);
        let mut batch = vec![event("ok"), event("boom")];
        assert_eq!(sub.offer(&mut batch, false), Err("bad filter".to_owned()));
        assert!(batch.is_empty());
        assert_eq!(sub.room(), usize::MAX, "an ended stream holds nothing back");
        assert_eq!(offer(&sub, &["ok"]), (0, 0), "no more events");
        smol::block_on(async {
            assert!(stream.next().await.unwrap().is("ok"));
            assert!(stream.next().await.is_none());
        });
    }

    #[test]
    fn backpressure_pop_from_full_kicks_the_driver() {
        let (kick, rx) = async_channel::bounded(1);
        let sub = Subscriber::new(2, QueuePolicy::Backpressure, kick);
        let mut stream = EventStream::new(sub.clone(), sleeper());
        offer(&sub, &["a", "b"]);
        assert_eq!(sub.room(), 0);
        assert!(rx.try_recv().is_err());
        stream.try_next().unwrap();
        assert!(
            rx.try_recv().is_ok(),
            "a pop from a full queue wakes the driver"
        );
        stream.try_next().unwrap();
        assert!(rx.try_recv().is_err(), "only a full queue kicks");
        assert_eq!(sub.room(), 2);
    }

    #[test]
    fn a_dropped_full_stream_holds_the_driver_back_no_more() {
        // The drop kicks the driver, which may look at the subscriber before
        // the stream's own reference to it is gone (`sub` stands for it
        // here): the kick must find a queue that no longer holds it back.
        let (kick, rx) = async_channel::bounded(1);
        let sub = Subscriber::new(2, QueuePolicy::Backpressure, kick);
        let stream = EventStream::new(sub.clone(), sleeper());
        offer(&sub, &["a", "b"]);
        assert_eq!(sub.room(), 0);
        drop(stream);
        assert!(rx.try_recv().is_ok(), "the drop wakes the driver");
        assert!(sub.room() > 0, "and the driver then sees room");
    }

    /// Batches come in order whether they take the whole queue into an
    /// empty list (the buffers change hands) or part of it, or append.
    #[test]
    fn batches_keep_order_whole_or_in_part() {
        let (kick, _rx) = async_channel::bounded(1);
        let sub = Subscriber::new(8, QueuePolicy::Backpressure, kick);
        let mut stream = EventStream::new(sub.clone(), sleeper());
        smol::block_on(async {
            offer(&sub, &["a", "b", "c"]);
            let mut all = Vec::new();
            assert_eq!(stream.next_batch(&mut all, 10).await, 3);
            assert_eq!(names(&all), ["a", "b", "c"]);
            offer(&sub, &["d", "e", "f"]);
            assert_eq!(stream.next_batch(&mut all, 2).await, 2);
            assert_eq!(names(&all), ["a", "b", "c", "d", "e"]);
            let mut rest = Vec::new();
            offer(&sub, &["g"]);
            assert_eq!(stream.next_batch(&mut rest, 10).await, 2);
            assert_eq!(names(&rest), ["f", "g"]);
            offer(&sub, &["h"]);
            assert!(stream.try_next().unwrap().is("h"));
            assert_eq!((stream.len(), stream.dropped()), (0, 0));
        });
    }

    #[test]
    fn stream_waits_then_ends_after_close() {
        let (kick, _rx) = async_channel::bounded(1);
        let sub = Subscriber::new(8, QueuePolicy::DropOldest, kick);
        let mut stream = EventStream::new(sub.clone(), sleeper());
        let producer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            offer(&sub, &["a", "b"]);
            sub.close();
        });
        smol::block_on(async {
            let mut batch = Vec::new();
            assert!(stream.next_batch(&mut batch, 10).await >= 1);
            while let Some(e) = stream.next().await {
                batch.push(e);
            }
            assert_eq!(names(&batch), ["a", "b"]);
            assert_eq!(stream.next_batch(&mut batch, 10).await, 0);
        });
        producer.join().unwrap();
    }

    #[test]
    fn next_timeout_and_wait_for_end_at_their_deadline_or_the_stream_end() {
        use std::time::Duration;
        let (kick, _rx) = async_channel::bounded(1);
        let sub = Subscriber::new(8, QueuePolicy::DropOldest, kick);
        let mut stream = EventStream::new(sub.clone(), sleeper());
        offer(&sub, &["a", "b", "c"]);
        smol::block_on(async {
            // Queued: returned at once, even with no time to wait.
            let a = stream.next_timeout(Duration::ZERO).await.unwrap().unwrap();
            assert!(a.is("a"));
            let c = stream.wait_for(|e| e.is("c"), Duration::ZERO).await;
            assert!(c.unwrap().unwrap().is("c"), "b is skipped");
            let started = Instant::now();
            let none = stream.next_timeout(Duration::from_millis(30)).await;
            assert!(matches!(none, Ok(None)));
            assert!(started.elapsed() >= Duration::from_millis(30));
            sub.close();
            let ended = stream.next_timeout(Duration::MAX).await;
            assert!(matches!(ended, Err(ClientError::Closed)));
        });
    }
}

//! The event stream: one bounded queue per subscriber, filled by the driver.
//!
//! The driver drains the core's event queue on every turn and pushes each
//! event into every subscriber's queue, applying the configured
//! [`QueuePolicy`]. Drop-oldest and drop-newest count what they lose; under
//! back-pressure the driver stops draining (and so stops reading the socket)
//! while any subscriber is full, and a consumer that makes room wakes it.
//! Nothing here ever waits on the consumer.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use ami_proto::{Event, QueuePolicy};
use futures_lite::Stream;
use smol::channel::Sender;

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
    waker: Option<Waker>,
    dropped: u64,
    high_water: usize,
    /// The client is gone: no more events will come.
    closed: bool,
}

impl Subscriber {
    pub(crate) fn new(capacity: usize, policy: QueuePolicy, kick: Sender<()>) -> Arc<Self> {
        Arc::new(Subscriber {
            inner: Mutex::new(Inner {
                queue: VecDeque::with_capacity(capacity.min(1024)),
                filter: None,
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
        // A panic while holding the lock leaves a consistent queue.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Events that can be pushed before the policy applies.
    pub(crate) fn room(&self) -> usize {
        self.capacity.saturating_sub(self.lock().queue.len())
    }

    /// Pushes the events that pass the filter; returns (queued, dropped).
    pub(crate) fn push_batch(&self, events: impl Iterator<Item = Event>) -> (u64, u64) {
        let mut inner = self.lock();
        let (mut queued, mut dropped) = (0, 0);
        for event in events {
            if inner.filter.as_ref().is_some_and(|f| !f(&event)) {
                continue;
            }
            if inner.queue.len() >= self.capacity {
                dropped += 1;
                match self.policy {
                    QueuePolicy::DropOldest => {
                        inner.queue.pop_front();
                    }
                    // The driver only pushes what `room` allowed under
                    // back-pressure; refusing keeps the bound if it ever did not.
                    _ => continue,
                }
            }
            inner.queue.push_back(event);
            queued += 1;
        }
        inner.dropped += dropped;
        inner.high_water = inner.high_water.max(inner.queue.len());
        if queued > 0 {
            if let Some(waker) = inner.waker.take() {
                drop(inner);
                waker.wake();
            }
        }
        (queued, dropped)
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

    /// Takes up to `max` events; `None` when the stream has ended.
    fn pop(&self, out: &mut Vec<Event>, max: usize, waker: Option<&Waker>) -> Option<usize> {
        self.pop_with(max, waker, |e| out.push(e))
    }

    /// Hands up to `max` waiting events to `put`; `Some(0)` registers
    /// `waker`, `None` means the stream has ended.
    fn pop_with(&self, max: usize, waker: Option<&Waker>, put: impl FnMut(Event)) -> Option<usize> {
        let mut inner = self.lock();
        let was_full = inner.queue.len() >= self.capacity;
        let n = max.min(inner.queue.len());
        inner.queue.drain(..n).for_each(put);
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
/// until it catches up. Under back-pressure a consumer that stalls for long
/// also holds back the responses behind the held events (the core decodes in
/// order), so the heartbeat may declare the link dead after
/// `heartbeat_interval` plus two action timeouts. Events consumed by actions
/// (list items, Originate outcomes) never appear here. The stream ends when its client closes for
/// good; it lives across reconnects.
///
/// Get one with [`ClientBuilder::events`](crate::ClientBuilder::events)
/// (before login, so the burst after login is kept) or
/// [`Client::events`](crate::Client::events) (from now on). Dropping it
/// unsubscribes.
pub struct EventStream {
    sub: Arc<Subscriber>,
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
    pub(crate) fn new(sub: Arc<Subscriber>) -> Self {
        EventStream { sub }
    }

    /// Keeps only events whose name is one of `names` (ASCII case ignored).
    /// Filtered-out events take no room in the queue and are not drops.
    pub fn filter_names(self, names: &[&str]) -> Self {
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        self.filter(move |e| names.iter().any(|n| e.is(n)))
    }

    /// Keeps only events for which `pred` is true. The predicate runs on the
    /// client's driver task, for every event: keep it cheap and never block.
    /// Replaces any earlier filter; queued events that fail it are discarded.
    pub fn filter(self, pred: impl Fn(&Event) -> bool + Send + Sync + 'static) -> Self {
        let filter: Filter = Arc::new(pred);
        {
            let mut inner = self.sub.lock();
            inner.queue.retain(|e| filter(e));
            inner.filter = Some(filter);
        }
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

impl Stream for EventStream {
    type Item = Event;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Event>> {
        let mut got = None;
        match self.sub.pop_with(1, Some(cx.waker()), |e| got = Some(e)) {
            None => Poll::Ready(None),
            Some(0) => Poll::Pending,
            Some(_) => Poll::Ready(got),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures_lite::StreamExt;

    fn event(name: &str) -> Event {
        Event::from_pairs([("Event", name.as_bytes())])
    }

    fn names(out: &[Event]) -> Vec<String> {
        out.iter().map(|e| e.name_str().into_owned()).collect()
    }

    #[test]
    fn drop_oldest_keeps_the_newest_and_counts() {
        let (kick, _rx) = smol::channel::bounded(1);
        let sub = Subscriber::new(2, QueuePolicy::DropOldest, kick);
        let mut stream = EventStream::new(sub.clone());
        let batch = ["a", "b", "c", "d"].map(event);
        assert_eq!(sub.push_batch(batch.into_iter()), (4, 2));
        assert_eq!(
            (stream.len(), stream.dropped(), stream.high_water()),
            (2, 2, 2)
        );
        let got: Vec<_> = std::iter::from_fn(|| stream.try_next()).collect();
        assert_eq!(names(&got), ["c", "d"]);
    }

    #[test]
    fn drop_newest_keeps_the_oldest_and_counts() {
        let (kick, _rx) = smol::channel::bounded(1);
        let sub = Subscriber::new(2, QueuePolicy::DropNewest, kick);
        let mut stream = EventStream::new(sub.clone());
        assert_eq!(
            sub.push_batch(["a", "b", "c"].map(event).into_iter()),
            (2, 1)
        );
        let got: Vec<_> = std::iter::from_fn(|| stream.try_next()).collect();
        assert_eq!(names(&got), ["a", "b"]);
    }

    #[test]
    fn filter_applies_before_queueing_and_to_queued_events() {
        let (kick, _rx) = smol::channel::bounded(1);
        let sub = Subscriber::new(2, QueuePolicy::DropNewest, kick);
        sub.push_batch([event("Newchannel")].into_iter());
        let mut stream = EventStream::new(sub.clone()).filter_names(&["hangup"]);
        assert_eq!(stream.len(), 0, "queued non-matching events are discarded");
        let batch = ["Hangup", "Newchannel", "Hangup", "Newstate", "Hangup"].map(event);
        assert_eq!(sub.push_batch(batch.into_iter()), (2, 1));
        assert_eq!(names(&[stream.try_next().unwrap()]), ["Hangup"]);
    }

    #[test]
    fn backpressure_pop_from_full_kicks_the_driver() {
        let (kick, rx) = smol::channel::bounded(1);
        let sub = Subscriber::new(2, QueuePolicy::Backpressure, kick);
        let mut stream = EventStream::new(sub.clone());
        sub.push_batch(["a", "b"].map(event).into_iter());
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
    fn stream_waits_then_ends_after_close() {
        let (kick, _rx) = smol::channel::bounded(1);
        let sub = Subscriber::new(8, QueuePolicy::DropOldest, kick);
        let mut stream = EventStream::new(sub.clone());
        let producer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            sub.push_batch(["a", "b"].map(event).into_iter());
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
}

//! `EventQueue`: one consumer's bounded queue of events, under the core's
//! drop policies.
//!
//! An adapter gives each event stream one of these and moves events into
//! them with `Connection.fan_out`; the events stay Rust values until the
//! consumer pops them, so a queue that drops never paid for Python objects.
//! The bound and the policy are the core's [`ami_proto::EventQueue`]: what a
//! full queue does (evict the oldest, refuse the newest, or hold the reader
//! back) is decided there, and counted.

use std::sync::{Mutex, MutexGuard};

use ami_proto::{Event, EventQueue, Push, QueuePolicy};
use pyo3::prelude::*;
use pyo3::types::PyList;

use crate::config::policy;
use crate::message::PyEvent;

/// A bounded queue of events for one consumer, with an optional filter on
/// event names.
///
/// `policy` says what a full queue does: `drop-oldest` evicts the oldest
/// event, `drop-newest` refuses the new one (both counted in `dropped`),
/// `backpressure` makes `Connection.fan_out` stop moving events (the
/// adapter then stops reading the socket) until the consumer pops some.
#[pyclass(frozen, module = "ami._core", name = "EventQueue")]
pub(crate) struct PyEventQueue {
    inner: Mutex<Inner>,
    /// Event names this queue takes (ASCII case ignored); empty takes all.
    names: Vec<Box<[u8]>>,
    policy: QueuePolicy,
}

struct Inner {
    queue: EventQueue<Event>,
    /// Events refused by a full back-pressure queue (see `offer`).
    refused: u64,
    closed: bool,
}

impl PyEventQueue {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // No code that can panic runs under the lock; a poisoned queue is
        // still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Whether this queue takes `event` (its name filter).
    fn wants(&self, event: &Event) -> bool {
        self.names.is_empty()
            || self
                .names
                .iter()
                .any(|n| event.name().eq_ignore_ascii_case(n))
    }

    /// Whether a full queue holds the reader back.
    pub(crate) fn is_backpressure(&self) -> bool {
        self.policy == QueuePolicy::Backpressure
    }

    /// The events that can be offered before a back-pressure queue is full:
    /// unbounded for the drop policies and once closed.
    pub(crate) fn room(&self) -> usize {
        let inner = self.lock();
        match self.policy {
            QueuePolicy::Backpressure if !inner.closed => {
                inner.queue.capacity().saturating_sub(inner.queue.len())
            }
            _ => usize::MAX,
        }
    }

    /// Queues those of `events` this queue wants, under its policy. A full
    /// back-pressure queue refuses (and counts) what it cannot take: that
    /// happens only while an answer is awaited (see `Connection.fan_out`).
    pub(crate) fn offer<'a>(&self, events: impl Iterator<Item = &'a Event>) {
        let mut inner = self.lock();
        if inner.closed {
            return;
        }
        for event in events.filter(|e| self.wants(e)) {
            if let Push::Full(_) = inner.queue.push(event.clone()) {
                inner.refused += 1;
            }
        }
    }
}

#[pymethods]
impl PyEventQueue {
    #[new]
    #[pyo3(signature = (capacity, policy = "drop-oldest", names = None))]
    fn new(
        py: Python<'_>,
        capacity: usize,
        policy: &str,
        names: Option<Vec<String>>,
    ) -> PyResult<Self> {
        let policy = self::policy(py, policy)?;
        let names = names.unwrap_or_default().into_iter();
        Ok(PyEventQueue {
            inner: Mutex::new(Inner {
                queue: EventQueue::new(capacity, policy),
                refused: 0,
                closed: false,
            }),
            names: names.map(|n| n.into_bytes().into_boxed_slice()).collect(),
            policy,
        })
    }

    /// Takes up to `max` events, oldest first (an empty list if none).
    #[pyo3(signature = (max = 256))]
    fn pop_many<'py>(&self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyList>> {
        let taken: Vec<Event> = {
            let mut inner = self.lock();
            let n = max.min(inner.queue.len());
            (0..n).filter_map(|_| inner.queue.pop()).collect()
        };
        let events = taken.into_iter().map(|e| PyEvent::new(py, e));
        PyList::new(py, events.collect::<PyResult<Vec<_>>>()?)
    }

    /// Takes the oldest event, or `None`.
    fn pop<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyEvent>>> {
        let event = self.lock().queue.pop();
        event.map(|e| PyEvent::new(py, e)).transpose()
    }

    fn __len__(&self) -> usize {
        self.lock().queue.len()
    }

    /// The most events the queue holds.
    #[getter]
    fn capacity(&self) -> usize {
        self.lock().queue.capacity()
    }

    /// `drop-oldest`, `drop-newest` or `backpressure`.
    #[getter]
    fn policy(&self) -> &'static str {
        self.policy.as_str()
    }

    /// Whether the next event would meet the policy instead of a free slot.
    #[getter]
    fn is_full(&self) -> bool {
        self.lock().queue.is_full()
    }

    /// Events lost to the policy: evicted, refused, or (back-pressure)
    /// refused while an answer was awaited.
    #[getter]
    fn dropped(&self) -> u64 {
        let inner = self.lock();
        inner.queue.dropped() + inner.refused
    }

    /// The deepest the queue has been.
    #[getter]
    fn high_water(&self) -> usize {
        self.lock().queue.high_water()
    }

    /// Whether `close` was called: no more events will be queued.
    #[getter]
    fn closed(&self) -> bool {
        self.lock().closed
    }

    /// Takes no more events; those queued can still be popped.
    fn close(&self) {
        self.lock().closed = true;
    }

    fn __repr__(&self) -> String {
        let inner = self.lock();
        format!(
            "EventQueue(len={}, capacity={}, policy={:?})",
            inner.queue.len(),
            inner.queue.capacity(),
            self.policy.as_str()
        )
    }
}

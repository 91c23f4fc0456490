//! `Connection`: one AMI session of the core, driven from Python.
//!
//! The same loop as every adapter of the core: feed what the socket read
//! (`handle_input`), write what `poll_transmit` lends (then `advance`),
//! drain `poll_output` (or `poll_completion` and `fan_out`), and wake at
//! `poll_timeout` for `handle_timeout`. Times are seconds of the caller's
//! monotonic clock (see `clock`).

use std::collections::VecDeque;

use ami_proto::{ActionId, Connection, Event, Output};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList};

use crate::action::PyAction;
use crate::clock;
use crate::config::PyConfig;
use crate::errors;
use crate::message::PyEvent;
use crate::output::{output, PyState};
use crate::queue::PyEventQueue;

/// Inputs at least this long are decoded with the GIL released, so other
/// Python threads run meanwhile; shorter ones cost less than the release.
const DETACH_INPUT: usize = 64 << 10;

/// One AMI session: bytes in, frames, completions and bytes out.
///
/// Make one per TCP (or TLS) session, right after the transport connects;
/// a reconnect makes a new one, so bytes queued for an old session are
/// never sent on a new one. After every input or command: write what
/// `poll_transmit` lends and `advance` by what the socket took, drain
/// `poll_output` to `None`, and wait for the socket or `poll_timeout`.
/// Once `is_closed`, drain the outputs and close the socket.
#[pyclass(module = "ami._core", name = "Connection")]
pub(crate) struct PyConnection {
    conn: Connection,
    /// Completions and state changes met by `fan_out`, handed out first by
    /// `poll_completion` and `poll_output`.
    stash: VecDeque<Output>,
    /// `fan_out`'s batch, kept for its capacity.
    batch: Vec<Event>,
}

impl PyConnection {
    fn next_output(&mut self) -> Option<Output> {
        self.stash
            .pop_front()
            .or_else(|| self.conn.poll_completion())
    }

    /// How many events may move now: the fullest back-pressure queue's
    /// room; unlimited while an answer is awaited and a queue is full (the
    /// full queues then refuse and count what they cannot take), so an
    /// answer never waits behind events nobody reads.
    fn room(&self, queues: &[PyRef<'_, PyEventQueue>]) -> usize {
        let room = queues.iter().map(|q| q.room()).min().unwrap_or(usize::MAX);
        match room == 0 && self.conn.stats().pending > 0 {
            true => usize::MAX,
            false => room,
        }
    }
}
#[pymethods]
impl PyConnection {
    /// A session whose transport connected at `now`; `session` numbers the
    /// client's sessions, each with its own ActionID seed.
    #[new]
    #[pyo3(signature = (config, now, session = 0))]
    fn new(py: Python<'_>, config: &PyConfig, now: f64, session: u64) -> PyResult<Self> {
        let mut config = config.inner.clone();
        config.seed = config.session_seed(session);
        let conn = Connection::new(config, clock::instant(now))
            .map_err(|err| errors::config_error(py, &err))?;
        Ok(PyConnection {
            conn,
            stash: VecDeque::new(),
            batch: Vec::new(),
        })
    }

    /// Feeds bytes read from the socket at `now`; then drain the outputs.
    /// Large inputs are decoded with the GIL released.
    fn handle_input(&mut self, py: Python<'_>, data: &[u8], now: f64) {
        let now = clock::instant(now);
        if data.len() >= DETACH_INPUT {
            let conn = &mut self.conn;
            py.detach(|| conn.handle_input(data, now));
        } else {
            self.conn.handle_input(data, now);
        }
    }

    /// Fires every deadline due at `now`; early calls do nothing.
    fn handle_timeout(&mut self, now: f64) {
        self.conn.handle_timeout(clock::instant(now));
    }

    /// The transport closed (EOF or error) at `now`: every pending action
    /// completes with `ConnectionLost`.
    fn handle_closed(&mut self, now: f64) {
        self.conn.handle_closed(clock::instant(now));
    }

    /// Queues `action`; returns the ActionID its completion will carry
    /// (the action's own `ActionID` header, if it has one). Raises a
    /// `SendError` subclass (nothing queued) when the session is not ready,
    /// the action is malformed, its own ActionID is invalid, too long or
    /// already pending, too many are pending, the write buffer is full, or
    /// it is an async Originate on a session that gets no call events.
    fn send(&mut self, py: Python<'_>, action: &PyAction, now: f64) -> PyResult<String> {
        let action = action.inner.clone();
        match self.conn.send(action, clock::instant(now)) {
            Ok(id) => Ok(id.as_str().to_owned()),
            Err(err) => Err(errors::send_error(py, &err)),
        }
    }

    /// Completes a pending action with `Cancelled` now; a late answer is
    /// absorbed. Returns whether it was pending.
    fn cancel(&mut self, action_id: &str, now: f64) -> bool {
        let id = ActionId::from_bytes(bytes::Bytes::copy_from_slice(action_id.as_bytes()));
        self.conn.cancel(&id, clock::instant(now))
    }

    /// Sends `Logoff`; the session closes at `Goodbye` (or when the server
    /// hangs up). Returns its ActionID.
    fn logoff(&mut self, py: Python<'_>, now: f64) -> PyResult<String> {
        match self.conn.logoff(clock::instant(now)) {
            Ok(id) => Ok(id.as_str().to_owned()),
            Err(err) => Err(errors::send_error(py, &err)),
        }
    }

    /// Bytes to write, if any (a copy). Write them, then `advance` by what
    /// the socket took.
    fn poll_transmit<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyBytes>> {
        self.conn.poll_transmit().map(|b| PyBytes::new(py, b))
    }

    /// Drops `n` written bytes from the front of `poll_transmit`.
    fn advance(&mut self, n: usize) {
        self.conn.advance(n);
    }

    /// The next `State` change, `Completion` or `Event`, or `None`. State
    /// changes and completions come before queued events.
    fn poll_output<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.next_output().or_else(|| self.conn.poll_output()) {
            Some(out) => output(py, out).map(Some),
            None => Ok(None),
        }
    }

    /// The next `State` change or `Completion`, leaving events queued.
    fn poll_completion<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        match self.next_output() {
            Some(out) => output(py, out).map(Some),
            None => Ok(None),
        }
    }

    /// The next queued event, or `None`. Under back-pressure taking one
    /// resumes decoding, which may produce completions: poll those too.
    fn poll_event<'py>(&mut self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyEvent>>> {
        self.conn
            .poll_event()
            .map(|e| PyEvent::new(py, e))
            .transpose()
    }

    /// Up to `max` queued events at once (see `poll_event`).
    #[pyo3(signature = (max = 256))]
    fn poll_events<'py>(&mut self, py: Python<'py>, max: usize) -> PyResult<Bound<'py, PyList>> {
        let mut events = Vec::with_capacity(max.min(256));
        while events.len() < max {
            match self.conn.poll_event() {
                Some(event) => events.push(PyEvent::new(py, event)?),
                None => break,
            }
        }
        PyList::new(py, events)
    }

    /// Moves the queued events into `queues` (each takes those its name
    /// filter wants, under its own policy); returns whether events are held
    /// back because a back-pressure queue is full (call again once its
    /// consumer popped some). With no queue, events are discarded.
    ///
    /// Completions and state changes met on the way (taking events resumes
    /// decoding) wait for `poll_completion`: call it after this.
    fn fan_out(&mut self, queues: Vec<PyRef<'_, PyEventQueue>>) -> bool {
        let backpressure = queues.iter().any(|q| q.is_backpressure());
        loop {
            let limit = self.room(&queues);
            if limit == 0 {
                return true;
            }
            let mut drained = false;
            while self.batch.len() < limit {
                match self.conn.poll_output() {
                    None => {
                        drained = true;
                        break;
                    }
                    Some(Output::Event(event)) if !queues.is_empty() => self.batch.push(event),
                    Some(Output::Event(_)) => {}
                    Some(other) => {
                        self.stash.push_back(other);
                        // An answer came: the one awaited may be it, so the
                        // limit may change.
                        if backpressure {
                            break;
                        }
                    }
                }
            }
            for queue in &queues {
                queue.offer(self.batch.iter());
            }
            self.batch.clear();
            if drained {
                return false;
            }
        }
    }

    /// When `handle_timeout` is next due, in the caller's seconds, or `None`.
    fn poll_timeout(&mut self) -> Option<f64> {
        self.conn.poll_timeout().map(clock::secs)
    }

    /// The session's state (`State.name`: `logging_in`, `ready`, ...).
    #[getter]
    fn state(&self, py: Python<'_>) -> PyResult<PyState> {
        PyState::new(py, self.conn.state())
    }

    /// Whether actions can be sent (`ready` or `degraded`).
    #[getter]
    fn is_ready(&self) -> bool {
        self.conn.is_ready()
    }

    /// Whether the session is over.
    #[getter]
    fn is_closed(&self) -> bool {
        self.conn.is_closed()
    }

    /// Whether to read from the socket: false while a back-pressure event
    /// queue is full, and once closed. Read anyway while `pending` is not
    /// zero: completions never wait for a consumer of events.
    #[getter]
    fn wants_read(&self) -> bool {
        self.conn.wants_read()
    }

    /// Whether there are bytes to write.
    #[getter]
    fn wants_write(&self) -> bool {
        self.conn.wants_write()
    }

    /// Actions awaiting completion (the heartbeat's and the login's too).
    #[getter]
    fn pending(&self) -> u64 {
        self.conn.stats().pending
    }

    /// Events waiting in the connection's own queue.
    #[getter]
    fn queue_depth(&self) -> usize {
        self.conn.queue_depth()
    }

    /// The counters, as a `dict` of `int`s.
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.conn.stats();
        let dict = PyDict::new(py);
        for (name, value) in [
            ("bytes_in", s.bytes_in),
            ("bytes_out", s.bytes_out),
            ("frames", s.frames),
            ("responses", s.responses),
            ("events", s.events),
            ("events_queued", s.events_queued),
            ("events_dropped_full", s.events_dropped_full),
            ("events_dropped_oversized", s.events_dropped_oversized),
            ("oversized_frames", s.oversized_frames),
            ("garbage", s.garbage),
            ("desyncs", s.desyncs),
            ("actions_sent", s.actions_sent),
            ("actions_ok", s.actions_ok),
            ("actions_failed", s.actions_failed),
            ("timeouts", s.timeouts),
            ("cancelled", s.cancelled),
            ("pending", s.pending),
            ("queue_depth", s.queue_depth),
            ("queue_high_water", s.queue_high_water),
            ("write_buffered", s.write_buffered),
            ("heartbeats", s.heartbeats),
            ("heartbeat_misses", s.heartbeat_misses),
        ] {
            dict.set_item(name, value)?;
        }
        Ok(dict)
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.conn)
    }
}

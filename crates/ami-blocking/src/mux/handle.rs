//! Where a node's outputs go: completion callbacks and handles, the event
//! handler or queue, within the node's per-tick event budget.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use ami_proto::{ActionError, ActionIdMap, Completion, Connection, Event, Output, QueuePolicy};

use super::{NodeId, NodeWork};
use crate::model::Tracker;

/// The outcome of a submitted action, to poll later with
/// [`try_take`](CompletionHandle::try_take). Cloneable and `Send`: another
/// thread may poll it.
#[derive(Clone, Debug)]
pub struct CompletionHandle {
    pub(super) slot: Arc<Mutex<Slot>>,
}

// Lives once per action behind an `Arc`: boxing the outcome would only add an
// allocation.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Default)]
pub(super) enum Slot {
    #[default]
    Pending,
    Done(Result<Completion, ActionError>),
    Taken,
}

impl CompletionHandle {
    /// The outcome, once: `None` while pending (and after it was taken).
    pub fn try_take(&self) -> Option<Result<Completion, ActionError>> {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::replace(&mut *slot, Slot::Taken) {
            Slot::Done(result) => Some(result),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Whether the action has completed (taken or not).
    pub fn is_done(&self) -> bool {
        let slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        !matches!(*slot, Slot::Pending)
    }

    fn fill(&self, result: Result<Completion, ActionError>) {
        let mut slot = self.slot.lock().unwrap_or_else(PoisonError::into_inner);
        *slot = Slot::Done(result);
    }
}

pub(super) type Callback = Box<dyn FnOnce(Result<Completion, ActionError>) + Send>;
pub(super) type Handler = Box<dyn FnMut(Event) + Send>;

/// Who gets an action's completion.
pub(super) enum Sink {
    Callback(Callback),
    Handle(CompletionHandle),
}

impl Sink {
    pub(super) fn complete(self, result: Result<Completion, ActionError>) {
        match self {
            Sink::Callback(f) => f(result),
            Sink::Handle(h) => h.fill(result),
        }
    }
}

/// Where a node's outputs go, with its per-tick event budget.
pub(super) struct Sinks<'a> {
    pub(super) pending: &'a mut ActionIdMap<Sink>,
    pub(super) handler: &'a mut Option<Handler>,
    /// The node's live model, fed what is delivered.
    pub(super) model: &'a mut Option<Tracker>,
    pub(super) queue: &'a mut VecDeque<(NodeId, Event)>,
    /// The queue's high-water mark.
    pub(super) high_water: &'a mut usize,
    pub(super) node: NodeId,
    pub(super) queue_cap: usize,
    pub(super) event_budget: usize,
}

/// What becomes of the core's next event.
enum Next {
    Deliver,
    /// Dropped, counted in the core's `events_dropped_full`.
    Drop,
    /// Left in the core's queue for a later tick.
    Stop,
}

impl Sinks<'_> {
    /// Drains the core's outputs: every completion and state change, and
    /// events while the budget and the queue allow ([`Sinks::next`]).
    /// Events left wait in the core's bounded queue.
    pub(super) fn deliver(&mut self, conn: &mut Connection, work: &mut NodeWork) {
        loop {
            // Taking an event may resume decoding (back-pressure), which
            // may complete actions: completions first, every round.
            while let Some(out) = conn.poll_completion() {
                match out {
                    Output::Completion { id, result } => {
                        if let Some(model) = self.model {
                            model.completed(&id, &result);
                        }
                        if let Some(sink) = self.pending.remove(&id) {
                            sink.complete(result);
                            work.completions += 1;
                        }
                    }
                    Output::State(state) => {
                        log!(debug, conn, "-", ?state, "session state");
                        work.changed = true;
                    }
                    _ => {}
                }
            }
            match self.next(conn, work) {
                Next::Deliver => {}
                Next::Drop => {
                    conn.drop_event();
                    continue;
                }
                Next::Stop => break,
            }
            let Some(event) = conn.poll_event() else {
                break;
            };
            work.events += 1;
            if let Some(model) = self.model {
                model.event(&event, &conn.stats());
            }
            match self.handler {
                Some(handler) => handler(event),
                None => {
                    self.queue.push_back((self.node, event));
                    *self.high_water = (*self.high_water).max(self.queue.len());
                }
            }
        }
    }

    /// Whether the core's next event is delivered, dropped or left there.
    ///
    /// The queue never holds more than its capacity. While it is full,
    /// events wait in the core, except in two cases where they cannot:
    /// - an answer is awaited behind them ([`answer_held`]): it must not
    ///   wait for a consumer (invariant 11);
    /// - the session is over: its leftovers go now, and what does not fit
    ///   is dropped per the node's policy, among its own events (another
    ///   node's queued events are never evicted): drop-oldest keeps the
    ///   newest, the other policies the oldest.
    fn next(&self, conn: &Connection, work: &NodeWork) -> Next {
        let left = conn.queue_depth();
        let room = match self.handler {
            Some(_) => usize::MAX,
            None => self.queue_cap.saturating_sub(self.queue.len()),
        };
        if left == 0 {
            return Next::Stop;
        }
        if conn.is_closed() {
            let keep_newest = conn.config().queue_policy == QueuePolicy::DropOldest;
            return match room >= left || (room > 0 && !keep_newest) {
                true => Next::Deliver,
                false => Next::Drop,
            };
        }
        match room {
            0 if answer_held(conn) => Next::Drop,
            0 => Next::Stop,
            _ if work.events < self.event_budget => Next::Deliver,
            _ => Next::Stop,
        }
    }
}

/// Whether an action awaits its answer while the core holds input back
/// behind its full back-pressure queue: events must then make room
/// ([`QueuePolicy::Backpressure`] slows the reading of events, never an
/// answer, be it the user's, the heartbeat's Ping or the Logoff).
pub(super) fn answer_held(conn: &Connection) -> bool {
    !conn.is_closed() && !conn.wants_read() && conn.stats().pending > 0
}

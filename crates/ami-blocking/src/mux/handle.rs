//! Where a node's outputs go: completion callbacks and handles, the event
//! handler or queue, within the node's per-tick event budget.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use ami_proto::{ActionError, ActionIdMap, Completion, Connection, Event, Output};

use super::{NodeId, NodeWork};

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
    pub(super) queue: &'a mut VecDeque<(NodeId, Event)>,
    /// The queue's high-water mark.
    pub(super) high_water: &'a mut usize,
    pub(super) node: NodeId,
    pub(super) queue_cap: usize,
    pub(super) event_budget: usize,
}

impl Sinks<'_> {
    /// Drains the core's outputs: every completion and state change, and
    /// events while the budget and the queue allow. Events left wait in the
    /// core's bounded queue.
    pub(super) fn deliver(&mut self, conn: &mut Connection, work: &mut NodeWork) {
        loop {
            // Taking an event may resume decoding (back-pressure), which
            // may complete actions: completions first, every round.
            while let Some(out) = conn.poll_completion() {
                match out {
                    Output::Completion { id, result } => {
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
            let room = self.handler.is_some() || self.queue.len() < self.queue_cap;
            if work.events >= self.event_budget || !room {
                break;
            }
            let Some(event) = conn.poll_event() else {
                break;
            };
            work.events += 1;
            match self.handler {
                Some(handler) => handler(event),
                None => {
                    self.queue.push_back((self.node, event));
                    *self.high_water = (*self.high_water).max(self.queue.len());
                }
            }
        }
    }
}

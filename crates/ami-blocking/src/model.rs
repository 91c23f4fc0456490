//! The blocking client's live model ([`Client::track_model`](crate::Client::track_model)):
//! an [`ami_state::Model`] fed on the caller's thread, as the client hands
//! out events and completes actions.

use std::time::SystemTime;

use ami_proto::{Action, ActionError, ActionId, Completion, Event, Stats};
use ami_state::{Limits, Model, Timestamp};

/// The model and what says it may have missed something.
pub(crate) struct Tracker {
    pub(crate) model: Model,
    /// The session's events dropped before the client could read them
    /// (its queue was full), as last seen.
    dropped_seen: u64,
    /// Events were missed: list again before the next event.
    pub(crate) stale: bool,
}

impl Tracker {
    pub(crate) fn new(limits: Limits) -> Self {
        Tracker {
            model: Model::new(limits),
            dropped_seen: 0,
            stale: true,
        }
    }

    pub(crate) fn sent(&mut self, id: &ActionId, action: &Action) {
        self.model.handle_sent(id, action);
    }

    pub(crate) fn completed(&mut self, id: &ActionId, result: &Result<Completion, ActionError>) {
        self.model.handle_completion(id, result.as_ref());
    }

    /// An event handed to the caller; `stats` are the session's counters,
    /// to notice events the session dropped before this one.
    pub(crate) fn event(&mut self, event: &Event, stats: &Stats) {
        let dropped = stats.events_dropped_full + stats.events_dropped_oversized;
        if dropped > self.dropped_seen {
            self.dropped_seen = dropped;
            self.stale = true;
        }
        self.model.handle_time(wall_clock());
        self.model.handle_event(event);
    }

    /// A new session: its counters start again, and it must be listed.
    pub(crate) fn new_session(&mut self) {
        self.dropped_seen = 0;
        self.stale = true;
    }
}

/// The wall clock, for callers' waits and answers when events carry no
/// `Timestamp` (the model reads no clock itself).
fn wall_clock() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

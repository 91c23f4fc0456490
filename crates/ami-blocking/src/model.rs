//! The blocking adapters' live model ([`Client::track_model`](crate::Client::track_model),
//! [`Multiplexer::track_model`](crate::Multiplexer::track_model)): an
//! [`ami_state::Model`] fed on the caller's thread, as the adapter hands
//! out events and completes actions.

use std::time::{Instant, SystemTime};

use ami_proto::{Action, ActionError, ActionId, Completion, Connection, Event, Stats};
use ami_state::{Limits, Model, Timestamp};

/// The model and what says it may have missed something.
pub(crate) struct Tracker {
    pub(crate) model: Model,
    /// The session's events dropped before the client could read them
    /// (its queue was full), as last seen.
    dropped_seen: u64,
    /// Events were missed: list again before the next event.
    pub(crate) stale: bool,
    /// The lists of the open resynchronisation window not yet completed,
    /// when they were sent without waiting ([`Tracker::send_lists`]).
    lists: Vec<ActionId>,
}

impl Tracker {
    pub(crate) fn new(limits: Limits) -> Self {
        Tracker {
            model: Model::new(limits),
            dropped_seen: 0,
            stale: true,
            lists: Vec::new(),
        }
    }

    pub(crate) fn sent(&mut self, id: &ActionId, action: &Action) {
        self.model.handle_sent(id, action);
    }

    /// A completed action; the last of the lists [`send_lists`](Self::send_lists)
    /// sent closes their window.
    pub(crate) fn completed(&mut self, id: &ActionId, result: &Result<Completion, ActionError>) {
        self.model.handle_completion(id, result.as_ref());
        if let Some(i) = self.lists.iter().position(|list| list == id) {
            self.lists.swap_remove(i);
            if self.lists.is_empty() {
                self.model.end_resync();
            }
        }
    }

    /// Whether the model should list again now: it missed events (or has a
    /// new session) and no window is open.
    pub(crate) fn wants_lists(&self) -> bool {
        self.stale && self.lists.is_empty()
    }

    /// Opens a resynchronisation window and sends its lists without
    /// waiting for them (the multiplexer's way: it never blocks); their
    /// completions, through [`completed`](Self::completed), close it. A
    /// list the core refuses is logged and its kind keeps what it held.
    pub(crate) fn send_lists(&mut self, conn: &mut Connection, now: Instant) {
        self.stale = false;
        self.model.begin_resync();
        for list in Model::resync_lists() {
            let name = list.name().to_owned();
            let followed = Model::follows(&list).then(|| list.clone());
            match conn.send(list, now) {
                Ok(id) => {
                    if let Some(list) = followed {
                        self.model.handle_sent(&id, &list);
                    }
                    self.lists.push(id);
                }
                Err(e) => log!(warn, conn, "-", list = %name, error = %e,
                    "live model: a list could not be sent; its kind keeps what the model held"),
            }
        }
        if self.lists.is_empty() {
            self.model.end_resync();
        }
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
    /// Lists of an old session still awaited completed with it.
    pub(crate) fn new_session(&mut self) {
        self.dropped_seen = 0;
        self.stale = true;
        self.lists.clear();
    }
}

/// The wall clock, for callers' waits and answers when events carry no
/// `Timestamp` (the model reads no clock itself).
fn wall_clock() -> Timestamp {
    Timestamp::from_system_time(SystemTime::now())
}

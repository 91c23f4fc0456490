//! Whether the session receives call events, as far as it can know: from the
//! login's `Events` value and the `Events` actions the server accepted.
//!
//! An async Originate completes with its `OriginateResponse`, a `call`-class
//! event; a session without call events would wait for it until the timeout,
//! so [`CallEvents::refusal`] lets `send` refuse it at once. Only certainty
//! refuses: while an `Events` action is unanswered, or after one whose answer
//! never came, the mask is unknown and nothing is refused.

use crate::action_id::ActionId;
use crate::completion::Completion;
use crate::error::{ActionError, CallEventsOff};
use crate::event_mask;

/// The session's knowledge of its event mask.
#[derive(Debug)]
pub(super) struct CallEvents {
    /// Why no call events arrive, when that is known; `None` when they may.
    off: Option<CallEventsOff>,
    /// `Events` actions sent and not yet completed.
    sent: Vec<Sent>,
}

/// One `Events` action on its way.
#[derive(Debug)]
struct Sent {
    id: ActionId,
    /// Its `EventMask` value.
    mask: String,
    /// Whether that mask includes call events (`None`: cannot tell).
    call: Option<bool>,
}

impl CallEvents {
    /// After logging in with `Events: events`.
    pub(super) fn after_login(events: &str) -> CallEvents {
        let off =
            (event_mask::includes_call(events) == Some(false)).then(|| CallEventsOff::Login {
                events: events.to_owned(),
            });
        CallEvents {
            off,
            sent: Vec::new(),
        }
    }

    /// Why an async Originate sent now would never see its outcome, if the
    /// session knows it would not.
    pub(super) fn refusal(&self) -> Option<&CallEventsOff> {
        self.off.as_ref().filter(|_| self.sent.is_empty())
    }

    /// An `Events` action `id` with `EventMask: mask` was queued.
    pub(super) fn sent(&mut self, id: ActionId, mask: &str) {
        self.sent.push(Sent {
            id,
            mask: mask.to_owned(),
            call: event_mask::includes_call(mask),
        });
    }

    /// Action `id` completed with `result`; if it was an `Events` action,
    /// the mask follows its answer: `Success` sets it, `Error` leaves it,
    /// and anything else (no answer, an unknown status) makes it unknown.
    ///
    /// Performance: in line, the test for no `Events` action sent, as a
    /// rule; a call for it cost about 25 instructions per answer.
    #[inline]
    pub(super) fn completed(&mut self, id: &ActionId, result: &Result<Completion, ActionError>) {
        if !self.sent.is_empty() {
            self.completed_sent(id, result);
        }
    }

    #[inline(never)]
    fn completed_sent(&mut self, id: &ActionId, result: &Result<Completion, ActionError>) {
        let Some(at) = self.sent.iter().position(|s| s.id == *id) else {
            return;
        };
        let Sent { mask, call, .. } = self.sent.swap_remove(at);
        match result {
            Ok(_) if call == Some(false) => self.off = Some(CallEventsOff::EventsAction { mask }),
            Err(ActionError::Server { .. }) => {}
            Ok(_) | Err(_) => self.off = None,
        }
    }
}

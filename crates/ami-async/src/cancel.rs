//! The handle that cancels one send ([`Client::send_cancellable`](crate::Client::send_cancellable)).

use std::sync::Arc;

use crate::command::Ticket;
use crate::shared::Shared;

/// Cancels one action sent with
/// [`Client::send_cancellable`](crate::Client::send_cancellable).
///
/// [`cancel`](Self::cancel) completes the action with
/// [`ActionError::Cancelled`](ami_proto::ActionError::Cancelled) at once if
/// it is still pending: queued, waiting for a session, or sent and not yet
/// answered. After its completion it does nothing. Dropping the handle does
/// not cancel.
pub struct Cancel {
    ticket: Arc<Ticket>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Cancel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cancel")
            .field("server", &self.shared.name)
            .field("id", &self.ticket.lock().id)
            .finish_non_exhaustive()
    }
}

impl Cancel {
    pub(crate) fn new(ticket: Arc<Ticket>, shared: Arc<Shared>) -> Self {
        Cancel { ticket, shared }
    }

    /// Cancels the action. Never waits: the client's task carries it out on
    /// its next turn. Calling it again is harmless.
    pub fn cancel(&self) {
        let first = !std::mem::replace(&mut self.ticket.lock().cancelled, true);
        if first {
            self.shared.cancel(self.ticket.clone());
        }
    }

    /// The action's ActionID once it has been sent on the current session
    /// (to match events another process logs for it); `None` before.
    pub fn action_id(&self) -> Option<ami_proto::ActionId> {
        self.ticket.lock().id.clone()
    }
}

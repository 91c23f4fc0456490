//! What a [`Client`](crate::Client) handle asks of its task, and how the
//! task keeps the callers it owes an answer.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ami_proto::{Action, ActionError, ActionId, Completion};

use crate::error::{ClientError, ConnectError};
use crate::reply::Reply;

/// A command from a [`Client`](crate::Client) handle to its task.
pub(crate) enum Command {
    Send {
        action: Action,
        caller: Caller,
    },
    Close {
        deadline: Instant,
        done: async_channel::Sender<()>,
    },
}

/// How [`ClientBuilder::connect`](crate::ClientBuilder::connect) learns the
/// first attempt's outcome.
pub(crate) type First = async_channel::Sender<Result<(), ConnectError>>;

/// The caller of one `send`: where its outcome goes, and its cancel ticket
/// when it has one.
pub(crate) struct Caller {
    pub(crate) reply: Reply<Result<Completion, ClientError>>,
    pub(crate) ticket: Option<Arc<Ticket>>,
}

impl Caller {
    /// Hands over the outcome (exactly once: `self` is consumed).
    pub(crate) fn send(self, outcome: Result<Completion, ClientError>) {
        self.reply.send(outcome);
    }

    /// Hands over the outcome without a wake-up: the caller is the one
    /// handing it over (reading for its own answer), and looks right after.
    pub(crate) fn send_quiet(self, outcome: Result<Completion, ClientError>) {
        self.reply.send_quiet(outcome);
    }

    /// Whether the caller cancelled before the action was sent.
    pub(crate) fn cancelled(&self) -> bool {
        self.ticket.as_ref().is_some_and(|t| t.lock().cancelled)
    }

    /// Fails the action as cancelled; it was never sent.
    pub(crate) fn cancel(self) {
        self.send(Err(ClientError::Action(ActionError::Cancelled)));
    }

    /// Records the ActionID the core gave the action; returns whether it was
    /// cancelled meanwhile (the task must then cancel it in the core).
    pub(crate) fn sent(&self, id: &ActionId) -> bool {
        let Some(ticket) = &self.ticket else {
            return false;
        };
        let mut t = ticket.lock();
        t.id = Some(id.clone());
        t.cancelled
    }

    /// Forgets the ActionID of a lost session (the action is parked).
    pub(crate) fn unsent(&self) {
        if let Some(ticket) = &self.ticket {
            ticket.lock().id = None;
        }
    }

    /// Whether this caller holds `ticket`.
    pub(crate) fn holds(&self, ticket: &Arc<Ticket>) -> bool {
        self.ticket.as_ref().is_some_and(|t| Arc::ptr_eq(t, ticket))
    }
}

/// The state of one cancellable send, shared by its
/// [`Cancel`](crate::Cancel) handle and the task.
///
/// The handle sets `cancelled` first and then reads `id`; the task stores
/// `id` first and then reads `cancelled`. So whichever comes second sees
/// the other's write, and a cancel is never lost between the two.
#[derive(Default)]
pub(crate) struct Ticket(Mutex<TicketState>);

#[derive(Default)]
pub(crate) struct TicketState {
    /// The action's ActionID while it is sent on the current session.
    pub(crate) id: Option<ActionId>,
    pub(crate) cancelled: bool,
}

impl Ticket {
    pub(crate) fn lock(&self) -> MutexGuard<'_, TicketState> {
        // No code panics while holding the lock; a poisoned ticket is whole.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// An action sent and awaiting its answer; `resend` keeps a copy when it
/// may be re-sent on the next session.
pub(crate) struct Pending {
    pub(crate) caller: Caller,
    pub(crate) resend: Option<(Action, Instant)>,
    /// The token of a caller that sent it itself (and may read for its
    /// answer, see [`Link`](crate::link::Link)); 0 when the driver sent it.
    pub(crate) token: u64,
}

/// An action waiting for a session (only with `resend_on_reconnect`).
pub(crate) struct Parked {
    pub(crate) action: Action,
    pub(crate) caller: Caller,
    pub(crate) deadline: Instant,
    pub(crate) timeout: Duration,
}

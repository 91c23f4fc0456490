//! What a [`Client`](crate::Client) handle asks of its task, and how the
//! task keeps the callers it owes an answer.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use ami_proto::{Action, ActionError, ActionId, ActionIdMap, Completion};

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

    /// Lets go of the reply slot: the outcome went another way (see
    /// [`Reply::dismiss`]).
    #[inline(always)]
    pub(crate) fn dismiss(self) {
        self.reply.dismiss();
    }

    /// Whether the caller cancelled before the action was sent.
    #[inline]
    pub(crate) fn cancelled(&self) -> bool {
        self.ticket.as_ref().is_some_and(|t| t.lock().cancelled)
    }

    /// Fails the action as cancelled; it was never sent.
    pub(crate) fn cancel(self) {
        self.send(Err(ClientError::Action(ActionError::Cancelled)));
    }

    /// Records the ActionID the core gave the action; returns whether it was
    /// cancelled meanwhile (the task must then cancel it in the core).
    #[inline(always)]
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
/// may be re-sent on the next session (boxed: only with
/// `resend_on_reconnect`, and a pending caller is moved into and out of
/// its table on every send; unboxed it is too large to move without a
/// call to `memcpy`).
pub(crate) struct Pending {
    pub(crate) caller: Caller,
    pub(crate) resend: Option<Box<(Action, Instant)>>,
    /// The token of a caller that sent it itself (and may read for its
    /// answer, see [`Link`](crate::link::Link)); 0 when the driver sent it.
    pub(crate) token: u64,
}

/// The callers a session owes an answer, by the ActionID of their action.
///
/// Performance: with one action in flight at a time (a dialer's lone
/// Originates, a caller that sends and reads for itself) a map alone was
/// hashed and probed twice per round trip, about 450 instructions, a fifth
/// of this crate's CPU per ping. The caller an empty table takes is kept
/// beside the map, and found by comparing its id; the map holds the others.
/// Its insert and take are in line: each call moved the 72-byte entry once
/// more (about 40 instructions per round trip).
#[derive(Default)]
pub(crate) struct Callers {
    /// Never the id of an entry of `more`.
    one: Option<(ActionId, Pending)>,
    more: ActionIdMap<Pending>,
}

impl Callers {
    /// Adds the caller of `id` (replacing one of the same id, as a map does).
    #[inline(always)]
    pub(crate) fn insert(&mut self, id: ActionId, p: Pending) {
        match &mut self.one {
            Some((one, slot)) if *one == id => *slot = p,
            None if self.more.is_empty() => self.one = Some((id, p)),
            _ => {
                self.more.insert(id, p);
            }
        }
    }

    /// Takes the caller of `id`, if any. An id, not bytes: the lone
    /// caller's is compared in place, without `memcmp` (see `ActionId`'s
    /// `eq`).
    #[inline(always)]
    pub(crate) fn remove(&mut self, id: &ActionId) -> Option<Pending> {
        match &self.one {
            Some((one, _)) if one == id => self.one.take().map(|(_, p)| p),
            _ if self.more.is_empty() => None,
            _ => self.more.remove(id.as_bytes()),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.one.is_none() && self.more.is_empty()
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        usize::from(self.one.is_some()) + self.more.len()
    }

    /// Takes every caller, leaving none.
    pub(crate) fn drain(&mut self) -> impl Iterator<Item = (ActionId, Pending)> + '_ {
        self.one.take().into_iter().chain(self.more.drain())
    }
}

impl IntoIterator for Callers {
    type Item = (ActionId, Pending);
    type IntoIter = std::iter::Chain<
        std::option::IntoIter<(ActionId, Pending)>,
        std::collections::hash_map::IntoIter<ActionId, Pending>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        self.one.into_iter().chain(self.more)
    }
}

/// An action waiting for a session (only with `resend_on_reconnect`).
pub(crate) struct Parked {
    pub(crate) action: Action,
    pub(crate) caller: Caller,
    pub(crate) deadline: Instant,
    pub(crate) timeout: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;
    use ami_proto::ActionIdGenerator;

    fn pending(token: u64) -> Pending {
        let (reply, _waiting) = crate::reply::reply();
        Pending {
            caller: Caller {
                reply,
                ticket: None,
            },
            resend: None,
            token,
        }
    }

    /// Ids `a` to `g`: the generator's first seven.
    fn ids() -> [ActionId; 7] {
        let mut g = ActionIdGenerator::new("t", 1, 64).expect("valid");
        std::array::from_fn(|_| g.next())
    }

    /// The table answers as a map would, whichever of its two places holds
    /// a caller: the lone one beside the map, or the map.
    #[test]
    fn callers_are_found_taken_and_replaced_as_in_a_map() {
        let [a, b, c, d, e, f, g] = ids();
        let mut callers = Callers::default();
        assert!(callers.is_empty() && callers.remove(&a).is_none());
        callers.insert(a.clone(), pending(1));
        callers.insert(b.clone(), pending(2));
        callers.insert(a.clone(), pending(3));
        callers.insert(b.clone(), pending(4));
        assert_eq!(callers.len(), 2, "replaced, not added");
        assert_eq!(callers.remove(&a).map(|p| p.token), Some(3));
        assert!(callers.remove(&a).is_none());
        // `a`'s place is free, but `c` goes beside `b`, into the map.
        callers.insert(c.clone(), pending(5));
        callers.insert(c.clone(), pending(6));
        assert_eq!(callers.len(), 2);
        assert_eq!(callers.remove(&b).map(|p| p.token), Some(4));
        assert_eq!(callers.remove(&c).map(|p| p.token), Some(6));
        assert!(callers.is_empty());

        callers.insert(d.clone(), pending(7));
        callers.insert(e.clone(), pending(8));
        let mut drained: Vec<_> = callers.drain().map(|(id, p)| (id, p.token)).collect();
        drained.sort_by(|x, y| x.0.cmp(&y.0));
        assert_eq!(drained, [(d, 7), (e, 8)]);
        assert!(callers.is_empty());
        callers.insert(f.clone(), pending(9));
        callers.insert(g.clone(), pending(10));
        let mut all: Vec<_> = callers.into_iter().map(|(_, p)| p.token).collect();
        all.sort_unstable();
        assert_eq!(all, [9, 10]);
    }
}

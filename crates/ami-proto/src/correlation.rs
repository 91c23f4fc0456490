//! The pending-action table: ActionID match, FIFO fallback, deadlines.
//!
//! Responses arrive in request order, so the table keeps the actions still
//! awaiting a response in a FIFO. A response with an ActionID is matched by
//! id; one without goes to the oldest action awaiting its response. Actions
//! in front of the matched one have lost their response (the server answers
//! in order): the caller fails them with `Desync`.
//!
//! An action that completed before its response came (timeout, cancel) stays
//! as a *tombstone* until that response arrives or a grace period passes, so
//! its late response is absorbed instead of being handed to the next action.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::time::{Duration, Instant};

use crate::action_id::{ActionId, ActionIdMap};
use crate::completion::Strategy;
use crate::deadline::instant_after;
use crate::list_items::ListItems;
use crate::message::{Event, Response};

/// Who is waiting for an action: the caller, or the connection itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Owner {
    User,
    Challenge,
    Login,
    Heartbeat,
}

/// What an action is, where that changes which answers succeed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Only `Success` succeeds.
    Other,
    /// `Logoff`: `Goodbye` succeeds too (and ends the session).
    Logoff,
    /// `Command`: the legacy `Follows` succeeds too.
    Command,
}

impl Kind {
    /// The kind of the action named `name` (ASCII case ignored).
    pub(crate) fn of(name: &str) -> Kind {
        if name.eq_ignore_ascii_case("Logoff") {
            Kind::Logoff
        } else if name.eq_ignore_ascii_case("Command") {
            Kind::Command
        } else {
            Kind::Other
        }
    }
}

/// Where an action is in its completion.
#[derive(Debug)]
pub(crate) enum Phase {
    /// Sent; no response yet. An `OriginateResponse` that overtakes the
    /// response is kept here.
    AwaitResponse { early_outcome: Option<Event> },
    /// Collecting an event list.
    List {
        response: Response,
        items: ListItems,
        bytes: usize,
        /// Over a limit: items are absorbed and dropped until the end.
        overflowed: bool,
    },
    /// Async Originate acknowledged; awaiting `OriginateResponse`.
    Originate { response: Response },
}

/// One action awaiting completion.
#[derive(Debug)]
pub(crate) struct Pending {
    pub(crate) strategy: Strategy,
    pub(crate) kind: Kind,
    pub(crate) owner: Owner,
    pub(crate) timeout: Duration,
    /// Its place in the order of sending (set by [`Table::insert`]): the
    /// order in which it is failed on close, even among actions sent at
    /// one instant.
    sent: u64,
    pub(crate) deadline: Instant,
    /// Whether `deadline` has an entry in the heap (it leaves when popped).
    deadline_queued: bool,
    pub(crate) phase: Phase,
    /// Already completed (timed out, cancelled, failed); kept only to absorb
    /// what the server still sends for it.
    pub(crate) done: bool,
}

impl Pending {
    pub(crate) fn new(strategy: Strategy, owner: Owner, timeout: Duration, now: Instant) -> Self {
        Pending {
            strategy,
            kind: Kind::Other,
            owner,
            timeout,
            sent: 0,
            deadline: instant_after(now, timeout),
            deadline_queued: false,
            phase: Phase::AwaitResponse {
                early_outcome: None,
            },
            done: false,
        }
    }

    /// Makes a recycled entry (see [`Table::recycle`]: holding nothing)
    /// what [`Pending::new`] makes. Every field is named, so that a field
    /// added to `Pending` cannot be left out here unnoticed.
    fn renew(&mut self, strategy: Strategy, owner: Owner, timeout: Duration, now: Instant) {
        let Pending {
            strategy: old_strategy,
            kind,
            owner: old_owner,
            timeout: old_timeout,
            sent,
            deadline,
            deadline_queued,
            phase,
            done,
        } = self;
        debug_assert!(matches!(
            phase,
            Phase::AwaitResponse {
                early_outcome: None
            }
        ));
        *old_strategy = strategy;
        *kind = Kind::Other;
        *old_owner = owner;
        *old_timeout = timeout;
        *sent = 0;
        *deadline = instant_after(now, timeout);
        *deadline_queued = false;
        *done = false;
    }

    /// Whether a `Success` for this action is all of its answer: live, the
    /// caller's or the heartbeat's, [`Strategy::Single`], and not opening
    /// a list (`starts_list`).
    #[inline]
    pub(crate) fn is_plain(&self, starts_list: bool) -> bool {
        !self.done
            && matches!(self.owner, Owner::User | Owner::Heartbeat)
            && self.strategy == Strategy::Single
            && !starts_list
    }

    pub(crate) fn awaits_response(&self) -> bool {
        matches!(self.phase, Phase::AwaitResponse { .. })
    }
}

/// The answer to "whose response is this?".
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum ResponseMatch {
    /// This action; `skipped` are live actions ahead of it in the FIFO whose
    /// responses never came.
    Found {
        id: ActionId,
        skipped: Vec<ActionId>,
    },
    /// No action awaits a response with this id (or at all).
    Unsolicited,
}

/// Stale heap entries tolerated beyond the table's size before a rebuild,
/// so that small tables are not rebuilt at every removal.
pub(crate) const STALE_SLACK: usize = 64;

/// Pending actions by id, the response FIFO, and the deadlines.
///
/// The deadlines delete lazily: an answered action's entry, or the one a
/// tombstone's new deadline replaces, stays until it surfaces (and is
/// skipped) or until stale entries outnumber the table, when they are
/// rebuilt from the valid ones. So they hold at most twice the table (plus
/// [`STALE_SLACK`]), whatever the rate × timeout, at O(1) amortised cost
/// per action.
#[derive(Debug, Default)]
pub(crate) struct Table {
    entries: Entries,
    fifo: VecDeque<ActionId>,
    deadlines: Deadlines,
    live: usize,
    /// Actions inserted so far: the next one's [`Pending::sent`].
    sent: u64,
    /// Boxes of answered actions, holding nothing, for the next ones (at
    /// most [`SPARE_BOXES`]): an action sent after the last was answered
    /// costs no allocation. Boxes, not values: reusing them is the point.
    #[allow(clippy::vec_box)]
    spare: Vec<Box<Pending>>,
    /// The table's one entry is in neither the FIFO nor the deadlines: it
    /// was inserted into a table with nothing queued (see
    /// [`insert`](Self::insert)), and nothing else has happened to it yet
    /// that [`queue_lone`](Self::queue_lone) did not precede.
    lone: bool,
    /// Tests: every entry is queued, as if `lone` did not exist.
    #[cfg(test)]
    queue_all: bool,
}

/// The most emptied boxes a [`Table`] keeps for reuse.
const SPARE_BOXES: usize = 16;

impl Table {
    /// Entries (tombstones included): what the `max_pending` bound counts.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// Actions not yet completed.
    pub(crate) fn live(&self) -> usize {
        self.live
    }

    /// Entries in the deadline heap, stale ones included.
    #[cfg(any(test, feature = "arbitrary"))]
    pub(crate) fn deadline_entries(&self) -> usize {
        self.deadlines.len()
    }

    /// Adds an action sent at `now`, as [`Pending::new`] makes it, of
    /// `kind`.
    ///
    /// Performance: a recycled box is filled in place. An entry (160
    /// bytes) built and then moved into it cost two calls to `memcpy` and
    /// the drop of the box's old contents, about 80 instructions a send.
    pub(crate) fn insert(
        &mut self,
        id: ActionId,
        strategy: Strategy,
        kind: Kind,
        owner: Owner,
        timeout: Duration,
        now: Instant,
    ) {
        self.queue_lone();
        let mut boxed = match self.spare.pop() {
            Some(mut spare) => {
                spare.renew(strategy, owner, timeout, now);
                spare
            }
            None => Box::new(Pending::new(strategy, owner, timeout, now)),
        };
        boxed.kind = kind;
        boxed.sent = self.sent;
        self.sent += 1;
        self.live += 1;
        if self.entries.len() == 0 && self.fifo.is_empty() && self.deadlines.len() == 0 {
            self.lone = true;
            self.entries.first(id, boxed);
            #[cfg(test)]
            if self.queue_all {
                self.queue_lone();
            }
            return;
        }
        self.deadlines.push(boxed.deadline, id.clone());
        boxed.deadline_queued = true;
        self.fifo.push_back(id.clone());
        self.entries.insert(id, boxed);
        self.drop_stale_deadlines();
    }

    /// Queues the lone entry (see [`lone`](Self::lone)) as
    /// [`insert`](Self::insert) queues the others: in the FIFO and the
    /// deadlines, before anything else is queued or looked for there.
    ///
    /// Performance: with one action in flight at a time, its entry was
    /// pushed to and taken from both queues, its id copied into each:
    /// about 150 instructions per action. The lone entry is matched,
    /// and its deadline found, in the table's one slot instead.
    #[inline]
    fn queue_lone(&mut self) {
        if std::mem::take(&mut self.lone) {
            self.push_lone();
        }
    }

    #[inline(never)]
    fn push_lone(&mut self) {
        let (id, p) = self.entries.one.as_mut().expect("a lone entry");
        debug_assert!(self.fifo.is_empty() && self.deadlines.len() == 0);
        self.deadlines.push(p.deadline, id.clone());
        p.deadline_queued = true;
        self.fifo.push_back(id.clone());
    }

    pub(crate) fn get_mut(&mut self, id: &[u8]) -> Option<&mut Pending> {
        self.entries.get_mut(id)
    }

    pub(crate) fn get(&self, id: &[u8]) -> Option<&Pending> {
        self.entries.get(id)
    }

    /// The action whose response comes next, if it is still live.
    pub(crate) fn head(&self) -> Option<&Pending> {
        if self.lone {
            return self.entries.one.as_ref().map(|(_, p)| &**p);
        }
        // Performance: an empty FIFO (the last answer taken) is told
        // without the set-up of a walk (~15 instructions).
        if self.fifo.is_empty() {
            return None;
        }
        self.fifo.iter().find_map(|id| self.entries.get(id))
    }

    /// The lone entry (see [`lone`](Self::lone)) and the
    /// `OriginateResponse` that overtook its response, taken out of the
    /// table, if a response with `action_id` answers it: what
    /// [`match_response`](Self::match_response) then
    /// [`take_answered`](Self::take_answered) give. `None` leaves the table
    /// as it was, for them.
    ///
    /// Performance: in line, without the match's ticket (its id copied, an
    /// empty list of skipped actions dropped) and a second look-up.
    #[inline]
    pub(crate) fn take_lone_answer(
        &mut self,
        action_id: Option<&[u8]>,
    ) -> Option<(ActionId, Box<Pending>, Option<Event>)> {
        let (one, _) = self.entries.one.as_ref().filter(|_| self.lone)?;
        if action_id.is_some_and(|want| !crate::headers::same_bytes(one.as_bytes(), want)) {
            return None;
        }
        // Out of the FIFO, as a match takes it out; its deadline was never
        // queued (see `keep`).
        self.lone = false;
        let (id, p) = self.entries.one.take()?;
        let (p, early) = answered(p);
        Some((id, p, early))
    }

    /// Finds the owner of a response with `action_id` (or none).
    ///
    /// The lone entry (see [`lone`](Self::lone)) is queued first: its own
    /// answer is taken by [`take_lone_answer`](Self::take_lone_answer).
    pub(crate) fn match_response(&mut self, action_id: Option<&[u8]>) -> ResponseMatch {
        self.queue_lone();
        let position = match action_id {
            // The oldest, as a rule: one compare, not a walk of the FIFO.
            Some(want) if self.fifo.front().is_some_and(|id| id.as_bytes() == want) => 0,
            Some(want) => match self.fifo.iter().position(|id| id.as_bytes() == want) {
                Some(p) => p,
                None => return ResponseMatch::Unsolicited,
            },
            None if self.fifo.is_empty() => return ResponseMatch::Unsolicited,
            None => 0,
        };
        let mut skipped = Vec::new();
        // The oldest, as a rule: then there is nothing to pass over.
        if position > 0 {
            for id in self.fifo.drain(..position) {
                match self.entries.get(&id) {
                    Some(p) if p.done => {
                        self.entries.remove_entry(&id);
                    }
                    Some(_) => skipped.push(id),
                    None => {}
                }
            }
        }
        let id = self.fifo.pop_front().expect("position is within the FIFO");
        self.drop_stale_deadlines();
        ResponseMatch::Found { id, skipped }
    }

    /// Takes the entry of `id`, whose response [`match_response`] just
    /// found, out of the table (it still counts as live), with the
    /// `OriginateResponse` that overtook the response if one did. The
    /// connection decides the rest, and gives it back with
    /// [`keep`](Self::keep) (more is to come for it),
    /// [`finish_answered`](Self::finish_answered) or
    /// [`discard`](Self::discard).
    ///
    /// Performance: one look-up per response, where marking the entry,
    /// reading it and completing it took three. Its phase is left as it is
    /// (the connection sets the next one, if any): replacing it cost a
    /// call to its drop glue per response.
    ///
    /// [`match_response`]: Self::match_response
    #[inline]
    pub(crate) fn take_answered(&mut self, id: &ActionId) -> Option<(Box<Pending>, Option<Event>)> {
        let (_, p) = self.entries.remove_entry(id)?;
        Some(answered(p))
    }

    /// Puts back an entry taken by [`take_answered`](Self::take_answered):
    /// what the server still sends for it (a list, an Originate's outcome)
    /// comes to it.
    ///
    /// Its deadline is queued if it was not (a lone entry's, see
    /// [`lone`](Self::lone)): a list or an Originate still times out.
    pub(crate) fn keep(&mut self, id: ActionId, mut p: Box<Pending>) {
        if !p.deadline_queued {
            self.deadlines.push(p.deadline, id.clone());
            p.deadline_queued = true;
        }
        self.entries.insert(id, p);
    }

    /// [`complete`](Self::complete) for an entry taken by
    /// [`take_answered`](Self::take_answered): it leaves the table, but for
    /// a list it still collects (a refused one, whose items and end are
    /// absorbed), which stays as a tombstone.
    #[inline]
    pub(crate) fn finish_answered(&mut self, id: &ActionId, mut p: Box<Pending>, now: Instant) {
        if !matches!(p.phase, Phase::List { .. }) {
            return self.discard(id, p);
        }
        if !p.done {
            p.done = true;
            self.live -= 1;
        }
        self.deadlines.rearm(&mut p, id, now);
        self.entries.insert(id.clone(), p);
        self.drop_stale_deadlines();
    }

    /// Drops an entry taken by [`take_answered`](Self::take_answered), as
    /// [`remove`](Self::remove) would have.
    #[inline]
    pub(crate) fn discard(&mut self, id: &ActionId, p: Box<Pending>) {
        if !p.done {
            self.live -= 1;
        }
        self.recycle(id, p);
        self.drop_stale_deadlines();
    }

    /// An entry that left the table: its deadline goes if it was the last
    /// queued (see [`Deadlines::forget`]), and its box is kept for the
    /// next action (at most [`SPARE_BOXES`]).
    #[inline]
    fn recycle(&mut self, id: &ActionId, mut p: Box<Pending>) {
        self.deadlines.forget(&p, id);
        if self.spare.len() < SPARE_BOXES {
            // Holding nothing (an early outcome, say) while it waits. Most
            // already hold nothing: then the phase is not replaced (and
            // its drop glue not called).
            if !matches!(
                p.phase,
                Phase::AwaitResponse {
                    early_outcome: None
                }
            ) {
                p.phase = Phase::AwaitResponse {
                    early_outcome: None,
                };
            }
            self.spare.push(p);
        }
    }

    /// Marks a completed action. Its entry stays as a tombstone while its
    /// response (or list) may still come, for a grace period of one timeout.
    pub(crate) fn complete(&mut self, id: &ActionId, now: Instant) {
        self.queue_lone();
        let Some(p) = self.entries.get_mut(id) else {
            return;
        };
        if p.done {
            return;
        }
        p.done = true;
        self.live -= 1;
        if p.awaits_response() || matches!(p.phase, Phase::List { .. }) {
            self.deadlines.rearm(p, id, now);
        } else {
            // Past its response (an Originate awaiting its outcome), so no
            // longer in the FIFO: as `remove` does, without looking it up
            // again.
            let (id, p) = self.entries.remove_entry(id).expect("found above");
            self.recycle(&id, p);
        }
        self.drop_stale_deadlines();
    }

    /// Drops an entry entirely (completed and nothing more expected).
    pub(crate) fn remove(&mut self, id: &[u8]) -> Option<Pending> {
        self.queue_lone();
        let (id, p) = self.entries.remove_entry(id)?;
        let p = *p;
        self.deadlines.forget(&p, &id);
        if !p.done {
            self.live -= 1;
        }
        if p.awaits_response() {
            if let Some(pos) = self.fifo.iter().position(|f| *f == id) {
                self.fifo.remove(pos);
            }
        }
        self.drop_stale_deadlines();
        Some(p)
    }

    /// Rebuilds the deadlines from their valid entries (one per table
    /// entry) once stale ones outnumber the table: a rebuild that leaves `n`
    /// entries comes after more than `n / 2` pushes or removals: O(1)
    /// amortised.
    ///
    /// Performance: the test in line, the rebuild out of it (a call per
    /// answered action cost ~15 instructions).
    #[inline]
    fn drop_stale_deadlines(&mut self) {
        if self.deadlines.len() > 2 * self.entries.len() + STALE_SLACK {
            self.rebuild_deadlines();
        }
    }

    #[inline(never)]
    fn rebuild_deadlines(&mut self) {
        let entries = &self.entries;
        self.deadlines
            .retain(|at, id| entries.get(id).is_some_and(|p| p.deadline == *at));
    }

    /// The earliest deadline still meaningful.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        if self.lone {
            // Nothing else is queued (see `queue_lone`).
            return self.entries.one.as_ref().map(|(_, p)| p.deadline);
        }
        let entries = &self.entries;
        self.deadlines
            .earliest(|at, id| entries.get(id).is_some_and(|p| p.deadline == *at))
    }

    /// Pops one action whose deadline has passed, if any.
    pub(crate) fn pop_expired(&mut self, now: Instant) -> Option<ActionId> {
        if self.lone {
            if self.next_deadline()? > now {
                return None;
            }
            // Its tombstone must absorb its late response in turn.
            self.queue_lone();
        }
        let at = self.next_deadline()?;
        if at > now {
            return None;
        }
        let id = self.deadlines.pop().expect("next_deadline saw it");
        if let Some(p) = self.entries.get_mut(&id) {
            p.deadline_queued = false;
        }
        Some(id)
    }

    /// Every live action, for failing them all when the connection ends.
    pub(crate) fn drain_live(&mut self) -> Vec<(ActionId, Pending)> {
        self.lone = false;
        self.fifo.clear();
        self.deadlines.clear();
        self.live = 0;
        let mut all: Vec<_> = self.entries.drain().filter(|(_, p)| !p.done).collect();
        // Complete in send order.
        all.sort_unstable_by_key(|(_, p)| p.sent);
        all.into_iter().map(|(id, p)| (id, *p)).collect()
    }
}

/// An entry whose response came, with the `OriginateResponse` that
/// overtook the response, if one did. Its phase is left as it is (see
/// [`Table::take_answered`]).
#[inline(always)]
fn answered(mut p: Box<Pending>) -> (Box<Pending>, Option<Event>) {
    let early = match &mut p.phase {
        Phase::AwaitResponse { early_outcome } => early_outcome.take(),
        _ => None,
    };
    (p, early)
}

/// The table's entries by id.
///
/// Boxed: a `Pending` is ~180 bytes, and with thousands in flight a map of
/// small entries stays in cache where one of large entries did not (x1.75
/// -> x1.40 per action from 10 to 10,000 in flight).
///
/// Performance: with one action in flight at a time (a ping loop, a
/// dialer's lone Originates) the map was hashed and probed at each insert,
/// look-up and removal, 100-200 instructions each, several per action. The
/// entry an empty table takes is kept beside the map and found by comparing
/// its id; the map holds the others (as ami-async's `Callers` does).
#[derive(Debug, Default)]
struct Entries {
    /// Never the id of an entry of `more`.
    one: Option<(ActionId, Box<Pending>)>,
    more: ActionIdMap<Box<Pending>>,
}

/// What an entry is found by: the bytes of an id from the wire, or an id
/// of the table's own, which compares with the one entry kept beside the
/// map without a call to `memcmp` (see [`ActionId`]'s `eq`).
trait Key {
    fn is(&self, id: &ActionId) -> bool;
    fn bytes(&self) -> &[u8];
}

impl Key for [u8] {
    #[inline]
    fn is(&self, id: &ActionId) -> bool {
        id.as_bytes() == self
    }

    fn bytes(&self) -> &[u8] {
        self
    }
}

impl Key for ActionId {
    #[inline]
    fn is(&self, id: &ActionId) -> bool {
        id == self
    }

    fn bytes(&self) -> &[u8] {
        self.as_bytes()
    }
}

impl Entries {
    fn len(&self) -> usize {
        usize::from(self.one.is_some()) + self.more.len()
    }

    fn get<K: Key + ?Sized>(&self, id: &K) -> Option<&Pending> {
        match &self.one {
            Some((one, p)) if id.is(one) => Some(p),
            _ if self.more.is_empty() => None,
            _ => self.more.get(id.bytes()).map(|b| &**b),
        }
    }

    fn get_mut<K: Key + ?Sized>(&mut self, id: &K) -> Option<&mut Pending> {
        match &mut self.one {
            Some((one, p)) if id.is(one) => Some(p),
            _ if self.more.is_empty() => None,
            _ => self.more.get_mut(id.bytes()).map(|b| &mut **b),
        }
    }

    /// Adds the entry of `id` to no entries (see [`Entries::insert`]).
    ///
    /// Performance: in line, without `insert`'s tests (~30 instructions a
    /// lone action).
    #[inline(always)]
    fn first(&mut self, id: ActionId, p: Box<Pending>) {
        debug_assert!(self.one.is_none() && self.more.is_empty());
        // Written in place: an assignment called the drop glue of the
        // `None` it replaced.
        self.one.get_or_insert((id, p));
    }

    /// Adds the entry of `id`, replacing one of the same id (as a map does).
    #[inline]
    fn insert(&mut self, id: ActionId, p: Box<Pending>) {
        match &mut self.one {
            Some((one, slot)) if *one == id => *slot = p,
            // Written in place: an assignment called the drop glue of
            // the `None` it replaced.
            None if self.more.is_empty() => {
                self.one.get_or_insert((id, p));
            }
            _ => {
                self.more.insert(id, p);
            }
        }
    }

    #[inline]
    fn remove_entry<K: Key + ?Sized>(&mut self, id: &K) -> Option<(ActionId, Box<Pending>)> {
        match &self.one {
            Some((one, _)) if id.is(one) => self.one.take(),
            _ if self.more.is_empty() => None,
            _ => self.more.remove_entry(id.bytes()),
        }
    }

    /// Takes every entry, leaving none.
    fn drain(&mut self) -> impl Iterator<Item = (ActionId, Box<Pending>)> + '_ {
        self.one.take().into_iter().chain(self.more.drain())
    }
}

/// Deadlines and the ids they are for, earliest first, with stale entries
/// among them (see [`Table`]).
///
/// Performance: actions sent with the same timeout come due in the order
/// they were sent, so a deadline no earlier than the last one queued goes
/// to the back of a queue, and only an earlier one (a shorter timeout) to a
/// heap. A heap alone cost a sift on every push and pop: about 230
/// instructions per action.
#[derive(Debug, Default)]
struct Deadlines {
    /// In order: each no earlier than the one before.
    queue: VecDeque<(Instant, ActionId)>,
    heap: BinaryHeap<Reverse<(Instant, ActionId)>>,
}

impl Deadlines {
    fn len(&self) -> usize {
        self.queue.len() + self.heap.len()
    }

    fn push(&mut self, at: Instant, id: ActionId) {
        match self.queue.back() {
            Some((last, _)) if at < *last => self.heap.push(Reverse((at, id))),
            _ => self.queue.push_back((at, id)),
        }
    }

    /// Gives `p` (whose id is `id`, now a tombstone absorbing what the
    /// server still sends for it) a deadline a timeout from `now`. One heap
    /// entry per (deadline, id): an unchanged deadline still in the heap
    /// keeps its entry, so a rebuild leaves no more entries than the table.
    fn rearm(&mut self, p: &mut Pending, id: &ActionId, now: Instant) {
        let deadline = instant_after(now, p.timeout);
        if deadline != p.deadline || !p.deadline_queued {
            p.deadline = deadline;
            p.deadline_queued = true;
            self.push(deadline, id.clone());
        }
    }

    /// Drops the entry of `p` (whose id is `id`, leaving the table) if it
    /// is the last one queued. An action answered before the next is sent
    /// leaves no stale entry behind: a single-flight load never skips nor
    /// rebuilds any (each skip cost a table look-up). Others stay, stale,
    /// until they surface or a rebuild.
    #[inline]
    fn forget(&mut self, p: &Pending, id: &ActionId) {
        if p.deadline_queued
            && self
                .queue
                .back()
                .is_some_and(|(at, last)| *at == p.deadline && last == id)
        {
            self.queue.pop_back();
        }
    }

    /// The earliest deadline `valid` keeps, after dropping the stale ones
    /// in front of it.
    fn earliest(&mut self, valid: impl Fn(&Instant, &ActionId) -> bool) -> Option<Instant> {
        while let Some((at, id)) = self.queue.front() {
            if valid(at, id) {
                break;
            }
            self.queue.pop_front();
        }
        while let Some(Reverse((at, id))) = self.heap.peek() {
            if valid(at, id) {
                break;
            }
            self.heap.pop();
        }
        self.heads().0
    }

    /// Takes the earliest entry (the one `earliest` returned).
    fn pop(&mut self) -> Option<ActionId> {
        match self.heads().1 {
            true => self.queue.pop_front().map(|(_, id)| id),
            false => self.heap.pop().map(|Reverse((_, id))| id),
        }
    }

    /// The earliest deadline of both, and whether it is the queue's.
    fn heads(&self) -> (Option<Instant>, bool) {
        let queued = self.queue.front().map(|(at, _)| *at);
        let heaped = self.heap.peek().map(|Reverse((at, _))| *at);
        match (queued, heaped) {
            (Some(q), Some(h)) if h < q => (Some(h), false),
            (Some(q), _) => (Some(q), true),
            (None, heaped) => (heaped, false),
        }
    }

    fn retain(&mut self, valid: impl Fn(&Instant, &ActionId) -> bool) {
        self.queue.retain(|(at, id)| valid(at, id));
        self.heap.retain(|Reverse((at, id))| valid(at, id));
    }

    fn clear(&mut self) {
        self.queue.clear();
        self.heap.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;

    fn id(s: &'static str) -> ActionId {
        ActionId::from_bytes(Bytes::from_static(s.as_bytes()))
    }

    fn table(ids: &[&'static str], now: Instant) -> Table {
        let mut t = Table::default();
        for i in ids {
            t.insert(
                id(i),
                Strategy::Single,
                Kind::Other,
                Owner::User,
                Duration::from_secs(1),
                now,
            );
        }
        t
    }

    #[test]
    fn actions_sent_at_one_instant_are_failed_in_send_order() {
        // One instant for all: only the order of sending can order them.
        let names: Vec<&'static str> = (0..64)
            .map(|i| &*Box::leak(format!("id-{i}").into_boxed_str()))
            .collect();
        let mut t = table(&names, Instant::now());
        let drained: Vec<ActionId> = t.drain_live().into_iter().map(|(id, _)| id).collect();
        let sent: Vec<ActionId> = names.iter().map(|n| id(n)).collect();
        assert_eq!(drained, sent);
    }

    #[test]
    fn matches_by_id_and_by_fifo() {
        let now = Instant::now();
        let mut t = table(&["a", "b", "c"], now);
        assert_eq!(
            t.match_response(None),
            ResponseMatch::Found {
                id: id("a"),
                skipped: vec![]
            }
        );
        assert_eq!(
            t.match_response(Some(b"c")),
            ResponseMatch::Found {
                id: id("c"),
                skipped: vec![id("b")]
            }
        );
        assert_eq!(t.match_response(Some(b"zzz")), ResponseMatch::Unsolicited);
        assert_eq!(t.match_response(None), ResponseMatch::Unsolicited);
    }

    #[test]
    fn tombstones_absorb_late_responses_without_counting_as_skipped() {
        let now = Instant::now();
        let mut t = table(&["a", "b"], now);
        t.complete(&id("a"), now); // timed out: tombstone
        assert_eq!(t.live(), 1);
        assert_eq!(t.len(), 2);
        // b's response arrives first: a's tombstone is passed silently.
        assert_eq!(
            t.match_response(Some(b"b")),
            ResponseMatch::Found {
                id: id("b"),
                skipped: vec![]
            }
        );
        assert_eq!(t.len(), 1, "a's tombstone is gone");
    }

    /// What the connection does with a response to `name` that completes
    /// its action.
    fn answer(t: &mut Table, name: &'static str, now: Instant) {
        assert!(matches!(
            t.match_response(Some(name.as_bytes())),
            ResponseMatch::Found { .. }
        ));
        let (p, early) = t.take_answered(&id(name)).expect("in the table");
        assert!(t.get(name.as_bytes()).is_none() && early.is_none());
        t.finish_answered(&id(name), p, now);
    }

    #[test]
    fn answered_actions_leave_no_tombstone() {
        let now = Instant::now();
        let mut t = table(&["a"], now);
        answer(&mut t, "a", now);
        assert_eq!(t.len(), 0);
        assert_eq!(t.live(), 0);
    }

    fn refusal() -> Response {
        let mut d = crate::frame::Decoder::new(1024);
        d.push(b"Response: Error\r\nActionID: list\r\nEventList: start\r\n\r\n");
        match d.next_frame() {
            Some(Ok(crate::Frame::Response(r))) => r,
            other => panic!("not a response: {other:?}"),
        }
    }

    /// A refused list's entry stays, done, to absorb the items and end the
    /// server still sends; one kept for more stays live.
    #[test]
    fn a_taken_list_stays_as_a_tombstone_and_a_kept_entry_stays_live() {
        let now = Instant::now();
        let mut t = table(&["list", "kept"], now);
        t.match_response(Some(b"list"));
        let (mut p, _) = t.take_answered(&id("list")).expect("in the table");
        assert_eq!((t.len(), t.live()), (1, 2), "taken, still live");
        p.phase = Phase::List {
            response: refusal(),
            items: ListItems::new(),
            bytes: 0,
            overflowed: false,
        };
        t.finish_answered(&id("list"), p, now);
        assert_eq!((t.len(), t.live()), (2, 1));
        assert!(t.get(b"list").is_some_and(|p| p.done));
        t.match_response(Some(b"kept"));
        let (p, _) = t.take_answered(&id("kept")).expect("in the table");
        t.keep(id("kept"), p);
        assert_eq!((t.len(), t.live()), (2, 1));
        assert!(t.get(b"kept").is_some_and(|p| !p.done));
    }

    /// The table with its lone entry kept out of the queues (see
    /// `Table::lone`) and one that queues every entry do the same, in
    /// seeded mixes of sends, answers by id and without, entries kept for
    /// more (an Originate: its deadline must stand), lists, cancels,
    /// removals and timeouts (as the connection handles them), mostly one
    /// action in flight at a time.
    #[test]
    fn a_lone_entry_unqueued_behaves_as_one_queued() {
        let names: Vec<&'static str> = (0..1_000)
            .map(|i| &*Box::leak(format!("id-{i}").into_boxed_str()))
            .collect();
        let start = Instant::now();
        let (mut lone_paths, mut lone_answers) = (0, 0);
        for seed in [1u64, 7, 99, 12345, 0xdead_beef] {
            let mut rng = crate::rng::Rng::new(seed);
            let mut next = move |n: u64| rng.below_or_eq(n - 1);
            let mut lone = Table::default();
            let mut queued = Table {
                queue_all: true,
                ..Table::default()
            };
            let (mut now, mut sent) = (start, 0);
            for _ in 0..2_000 {
                let pick = |n: u64| id(names[n.min(names.len() as u64 - 1) as usize]);
                let known = |r: u64| pick(r % (sent as u64 + 1));
                match next(10) {
                    // Mostly into an empty table.
                    0..=2 if sent < names.len() && (lone.live() == 0 || next(4) == 0) => {
                        let timeout =
                            Duration::from_millis([100, 1000, 1000, 3000][next(4) as usize]);
                        lone_paths += usize::from(lone.len() == 0 && lone.deadline_entries() == 0);
                        for t in [&mut lone, &mut queued] {
                            t.insert(
                                pick(sent as u64),
                                Strategy::Single,
                                Kind::Other,
                                Owner::User,
                                timeout,
                                now,
                            );
                        }
                        sent += 1;
                    }
                    3..=5 => {
                        let want = match next(8) {
                            0 => None,
                            1 => Some(id("unknown")),
                            2 => Some(known(next(1 << 16))),
                            // The latest, as a rule.
                            _ => Some(pick(sent.max(1) as u64 - 1)),
                        };
                        let want = want.as_ref().map(ActionId::as_bytes);
                        let how = next(4);
                        let mut outcomes = [&mut lone, &mut queued].map(|t| {
                            // As the connection takes an answer: the lone
                            // entry's at once, else matched in the FIFO.
                            let (m, taken) = match t.take_lone_answer(want) {
                                Some((id, p, early)) => {
                                    lone_answers += 1;
                                    let m = ResponseMatch::Found {
                                        id: id.clone(),
                                        skipped: Vec::new(),
                                    };
                                    (m, Some((id, p, early)))
                                }
                                None => {
                                    let m = t.match_response(want);
                                    let ResponseMatch::Found { id, .. } = &m else {
                                        return (m, None);
                                    };
                                    let id = id.clone();
                                    let taken = t.take_answered(&id);
                                    (m, taken.map(|(p, early)| (id, p, early)))
                                }
                            };
                            let Some((id, mut p, early)) = taken else {
                                return (m, Some(None));
                            };
                            let taken = (p.sent, p.done, early.is_some());
                            match how {
                                0 => t.keep(id, p),
                                1 => {
                                    p.phase = Phase::List {
                                        response: refusal(),
                                        items: ListItems::new(),
                                        bytes: 0,
                                        overflowed: false,
                                    };
                                    t.finish_answered(&id, p, now);
                                }
                                2 => t.discard(&id, p),
                                _ => t.finish_answered(&id, p, now),
                            }
                            (m, Some(Some(taken)))
                        });
                        let [a, b] = &mut outcomes;
                        assert_eq!(a, b, "seed {seed}");
                    }
                    6 => {
                        let which = known(next(1 << 16));
                        lone.complete(&which, now);
                        queued.complete(&which, now);
                    }
                    7 => {
                        let which = known(next(1 << 16));
                        let removed = [&mut lone, &mut queued]
                            .map(|t| t.remove(which.as_bytes()).map(|p| p.sent));
                        assert_eq!(removed[0], removed[1], "seed {seed}");
                    }
                    _ => {
                        now += Duration::from_millis(next(1500));
                        let expired = [&mut lone, &mut queued].map(|t| {
                            let mut expired = Vec::new();
                            // Bounded: each pop takes an entry off.
                            for _ in 0..1_000 {
                                let Some(id) = t.pop_expired(now) else { break };
                                match t.get(id.as_bytes()).map(|p| p.done) {
                                    Some(true) => drop(t.remove(id.as_bytes())),
                                    Some(false) => t.complete(&id, now),
                                    None => {}
                                }
                                expired.push(id);
                            }
                            expired
                        });
                        assert_eq!(expired[0], expired[1], "seed {seed}");
                    }
                }
                let seen = [&mut lone, &mut queued].map(|t| {
                    let present: Vec<_> = (0..sent as u64)
                        .map(|n| t.get(pick(n).as_bytes()).map(|p| (p.done, p.deadline)))
                        .collect();
                    (
                        t.len(),
                        t.live(),
                        t.head().map(|p| p.sent),
                        t.next_deadline(),
                        present,
                    )
                });
                assert_eq!(seen[0], seen[1], "seed {seed}");
            }
        }
        assert!(
            lone_paths > 300 && lone_answers > 100,
            "the lone path was taken {lone_paths} times, {lone_answers} answers"
        );
    }

    /// One action at a time, each answered before the next is sent (a
    /// dialer's lone Originates, a ping loop): each one's deadline leaves
    /// with it, so none is left to skip or rebuild later, while deadlines
    /// sent before it stay.
    #[test]
    fn an_answered_actions_deadline_leaves_with_it_when_it_was_the_last_queued() {
        let now = Instant::now();
        let mut t = table(&["older"], now);
        for name in ["a", "b", "c"] {
            t.insert(
                id(name),
                Strategy::Single,
                Kind::Other,
                Owner::User,
                Duration::from_secs(1),
                now,
            );
            answer(&mut t, name, now);
            assert_eq!(t.deadline_entries(), 1, "only the older action's");
        }
        assert!(t.remove(b"older").is_some());
        assert_eq!(t.deadline_entries(), 0);
        assert_eq!(t.next_deadline(), None);
    }

    /// The entries answer as a map would, whichever of their two places
    /// holds an entry (the lone one beside the map, or the map), through
    /// a long mixed run of inserts, replacements, look-ups and removals.
    #[test]
    fn entries_are_found_taken_and_replaced_as_in_a_map() {
        let now = Instant::now();
        // In place (as generated) and not (as from the wire), and each in
        // the other form: a key finds its entry in either form.
        let ids: Vec<ActionId> = (0..5)
            .map(|i| match i % 2 {
                0 => ActionId::copy_of(format!("id-{i}").as_bytes()),
                _ => ActionId::from_bytes(Bytes::from(format!("id-{i}"))),
            })
            .collect();
        let twin = |id: &ActionId| ActionId::from_bytes(Bytes::copy_from_slice(id.as_bytes()));
        let entry = |mark: u64| {
            let mut p = Pending::new(Strategy::Single, Owner::User, Duration::from_secs(1), now);
            p.sent = mark;
            Box::new(p)
        };
        let mut entries = Entries::default();
        let mut model = std::collections::HashMap::new();
        let mut rng = crate::rng::Rng::new(7);
        let (mut in_one, mut in_more) = (0, 0);
        for mark in 0..4000u64 {
            let id = &ids[rng.below_or_eq(ids.len() as u64 - 1) as usize];
            match rng.below_or_eq(3) {
                0 | 1 => {
                    entries.insert(id.clone(), entry(mark));
                    model.insert(id.clone(), mark);
                }
                2 => {
                    let got = match mark % 2 {
                        0 => entries.remove_entry(id.as_bytes()),
                        _ => entries.remove_entry(id),
                    };
                    let want = model.remove(id);
                    assert_eq!(got.map(|(k, p)| (k, p.sent)), want.map(|m| (id.clone(), m)));
                }
                _ => {
                    if let Some(p) = entries.get_mut(&twin(id)) {
                        p.sent += 10_000;
                    }
                    if let Some(m) = model.get_mut(id) {
                        *m += 10_000;
                    }
                }
            }
            for id in &ids {
                let want = model.get(id).copied();
                assert_eq!(entries.get(id.as_bytes()).map(|p| p.sent), want);
                assert_eq!(entries.get(id).map(|p| p.sent), want);
                assert_eq!(entries.get(&twin(id)).map(|p| p.sent), want);
            }
            assert_eq!(entries.len(), model.len());
            in_one += usize::from(entries.one.is_some());
            in_more += entries.more.len();
        }
        assert!(in_one > 0 && in_more > 0, "both places were used");
        let mut drained: Vec<_> = entries.drain().map(|(id, p)| (id, p.sent)).collect();
        drained.sort();
        let mut want: Vec<_> = model.into_iter().collect();
        want.sort();
        assert_eq!(drained, want);
        assert_eq!(entries.len(), 0);
    }

    /// An answered action's box is kept for the next action, emptied, and
    /// at most `SPARE_BOXES` of them are kept however many were in flight.
    #[test]
    fn answered_actions_boxes_are_reused_and_few_are_kept() {
        let now = Instant::now();
        let names: Vec<&'static str> = (0..3 * SPARE_BOXES)
            .map(|i| &*Box::leak(format!("id-{i}").into_boxed_str()))
            .collect();
        let mut t = table(&names, now);
        for name in &names {
            answer(&mut t, name, now);
        }
        assert_eq!(t.len(), 0);
        assert_eq!(t.spare.len(), SPARE_BOXES);
        assert!(t.spare.iter().all(|p| matches!(
            p.phase,
            Phase::AwaitResponse {
                early_outcome: None
            }
        )));
        let mut t = table(&["a"], now);
        let first: *const Pending = t.get(b"a").expect("a");
        answer(&mut t, "a", now);
        t.insert(
            id("b"),
            Strategy::Single,
            Kind::Other,
            Owner::User,
            Duration::from_secs(1),
            now,
        );
        assert!(t.spare.is_empty());
        assert!(std::ptr::eq(first, t.get(b"b").expect("b")), "the same box");
    }

    #[test]
    fn deadlines_come_out_in_order_and_skip_stale_entries() {
        let now = Instant::now();
        let mut t = Table::default();
        for (name, secs) in [("x", 3), ("y", 1), ("z", 2)] {
            t.insert(
                id(name),
                Strategy::Single,
                Kind::Other,
                Owner::User,
                Duration::from_secs(secs),
                now,
            );
        }
        t.remove(b"y");
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(2)));
        assert_eq!(t.pop_expired(now + Duration::from_secs(1)), None);
        assert_eq!(t.pop_expired(now + Duration::from_secs(5)), Some(id("z")));
    }

    /// Deadlines come out earliest first whichever lane holds them: the
    /// in-order queue (same timeouts) or the heap (a shorter timeout);
    /// stale ones are skipped.
    #[test]
    fn both_lanes_of_deadlines_come_out_earliest_first() {
        let t0 = Instant::now();
        let secs = [5u64, 5, 2, 6, 6, 1, 9, 3, 6, 7, 7, 4];
        let ids: Vec<ActionId> = (0..secs.len())
            .map(|i| ActionId::from_bytes(Bytes::from(format!("id-{i}"))))
            .collect();
        let mut d = Deadlines::default();
        for (s, id) in secs.iter().zip(&ids) {
            d.push(t0 + Duration::from_secs(*s), id.clone());
        }
        assert!(!d.queue.is_empty() && !d.heap.is_empty(), "both lanes used");
        // Every third one is stale.
        let stale = |id: &ActionId| ids.iter().position(|i| i == id).unwrap() % 3 == 2;
        let mut want: Vec<(u64, usize)> = (0..secs.len())
            .filter(|i| i % 3 != 2)
            .map(|i| (secs[i], i))
            .collect();
        want.sort();
        let mut got = Vec::new();
        while let Some(at) = d.earliest(|_, id| !stale(id)) {
            let id = d.pop().expect("earliest saw it");
            let i = ids.iter().position(|i| *i == id).unwrap();
            assert_eq!(at, t0 + Duration::from_secs(secs[i]));
            got.push((secs[i], i));
        }
        assert!(got.windows(2).all(|w| w[0].0 <= w[1].0), "{got:?}");
        got.sort();
        assert_eq!(got, want);
        assert_eq!(d.len(), 0);
    }
}

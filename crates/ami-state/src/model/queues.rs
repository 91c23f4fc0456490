//! Queues: members, callers and counters, from events and `QueueStatus` items.

use std::sync::Arc;

use super::pair::pair_key;
use super::Model;
use crate::change::{KeyRef, Op};
use crate::fields::{key, number, text, Fields};
use crate::queue::{Caller, Member, Queue};
use crate::time::Timestamp;

impl Model {
    /// `QueueMemberAdded`, `...Status`, `...Pause`, `...Penalty`,
    /// `...Ringinuse`: each carries the whole member, so each is an upsert.
    /// `QueueMemberStatus` also fires for the member's other queues; each
    /// names its own.
    pub(super) fn on_member_upsert(&mut self, f: &Fields<'_>) {
        let (Some(queue), Some(interface)) = (key(f.queue), key(f.interface)) else {
            self.stats.malformed += 1;
            return;
        };
        self.upsert_member(&queue, &interface, f);
    }

    pub(super) fn on_member_removed(&mut self, f: &Fields<'_>) {
        let (Some(queue), Some(interface)) = (key(f.queue), key(f.interface)) else {
            self.stats.malformed += 1;
            return;
        };
        if !self.remove_member(&queue, &interface) {
            self.stats.unplaced += 1;
        }
    }

    pub(super) fn on_caller_join(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        self.update_channel(&f.chan, at);
        let (Some(queue), Some(uid)) = (key(f.queue), key(f.chan.uniqueid)) else {
            self.stats.malformed += 1;
            return;
        };
        self.leave_other_queue(&uid, &queue);
        if !self.ensure_queue(&queue) {
            return;
        }
        let limit = self.limits.callers_per_queue;
        let Some(q) = self.queues.get_mut(&*queue) else {
            return;
        };
        if let Some(resync) = &mut self.resync {
            resync.callers.remove(&pair_key(&queue, &uid));
        }
        let existing = q.callers.iter().position(|c| c.uniqueid == *uid);
        let wait_start = existing.and_then(|i| q.callers[i].wait_start).or(at);
        if let Some(i) = existing {
            q.callers.remove(i);
        } else if q.callers.len() >= limit {
            self.stats.overflow.callers += 1;
            return;
        }
        let last = u32::try_from(q.callers.len() + 1).unwrap_or(u32::MAX);
        let moved = q.insert_caller(Caller {
            uniqueid: uid.to_string(),
            channel: text(f.chan.channel),
            position: number(f.position).unwrap_or(last).clamp(1, last),
            wait_start,
        });
        if !moved.is_empty() {
            self.emit_queue(Op::Updated, &queue);
        }
        let op = if existing.is_none() {
            Op::Added
        } else {
            Op::Updated
        };
        self.emit_caller(op, &queue, &uid);
        self.set_waiting_in(&uid, Some(&queue));
    }

    pub(super) fn on_caller_leave(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        self.update_channel(&f.chan, at);
        let (Some(queue), Some(uid)) = (key(f.queue), key(f.chan.uniqueid)) else {
            self.stats.malformed += 1;
            return;
        };
        if !self.remove_caller(&queue, &uid) {
            self.stats.unplaced += 1;
        }
    }

    /// A caller gave up; its `QueueCallerLeave` follows.
    pub(super) fn on_caller_abandon(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        self.update_channel(&f.chan, at);
        self.with_queue(f, |q| {
            q.params.abandoned = q.params.abandoned.saturating_add(1);
        });
    }

    /// A member answered a caller: it is in a call, and the caller's wait
    /// joins the queue's average hold time. The bridge comes after.
    pub(super) fn on_agent_connect(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        self.on_channel_update(f, at);
        if let Some(secs) = number(f.hold_time) {
            self.with_queue(f, |q| q.params.add_hold_time(secs));
        }
        self.set_in_call(f, true);
        self.call_agent_connect(f, at);
    }

    /// A member finished a queue call.
    pub(super) fn on_agent_complete(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        self.on_channel_update(f, at);
        let talk = number(f.talk_time);
        self.with_queue(f, |q| q.params.add_completed(talk));
        self.set_in_call(f, false);
    }

    /// A `QueueParams` list item.
    pub(super) fn apply_queue_params(&mut self, f: &Fields<'_>) {
        let Some(queue) = key(f.queue) else {
            self.stats.malformed += 1;
            return;
        };
        if !self.ensure_queue(&queue) {
            return;
        }
        let changed = self
            .queues
            .get_mut(&*queue)
            .is_some_and(|q| q.params.update(f));
        if changed {
            self.emit_queue(Op::Updated, &queue);
        }
    }

    /// A `QueueMember` list item (`Name`/`Location` for the member).
    pub(super) fn apply_member_item(&mut self, f: &Fields<'_>) {
        let (Some(queue), Some(interface)) = (key(f.queue), key(f.interface)) else {
            self.stats.malformed += 1;
            return;
        };
        self.upsert_member(&queue, &interface, f);
    }

    /// A `QueueEntry` list item: a caller at its position, waiting `Wait`
    /// seconds as of the list.
    pub(super) fn apply_caller_item(&mut self, f: &Fields<'_>) {
        let (Some(queue), Some(uid)) = (key(f.queue), key(f.chan.uniqueid)) else {
            self.stats.malformed += 1;
            return;
        };
        if self.gone_channels.contains(&uid) {
            return;
        }
        if let Some(resync) = &mut self.resync {
            resync.callers.remove(&pair_key(&queue, &uid));
        }
        self.leave_other_queue(&uid, &queue);
        if !self.ensure_queue(&queue) {
            return;
        }
        let limit = self.limits.callers_per_queue;
        let listed_start = match (self.clock, number::<u64>(f.wait)) {
            (Some(now), Some(wait)) => Some(now.minus_secs(wait)),
            _ => None,
        };
        let Some(q) = self.queues.get_mut(&*queue) else {
            return;
        };
        let position = number(f.position).unwrap_or(0);
        let full = q.callers.len() >= limit;
        let (added, changed) = match q.callers.iter_mut().find(|c| c.uniqueid == *uid) {
            Some(caller) => {
                let changed = caller.position != position || caller.wait_start.is_none();
                caller.position = position;
                caller.wait_start = caller.wait_start.or(listed_start);
                crate::fields::assign(&mut caller.channel, f.chan.channel);
                (false, changed)
            }
            None if full => {
                self.stats.overflow.callers += 1;
                return;
            }
            None => {
                q.callers.push(Caller {
                    uniqueid: uid.to_string(),
                    channel: text(f.chan.channel),
                    position,
                    wait_start: listed_start,
                });
                (true, true)
            }
        };
        q.callers.sort_by_key(|c| c.position);
        if let Some(op) = Model::upsert_op(added, changed) {
            self.emit_caller(op, &queue, &uid);
        }
        self.set_waiting_in(&uid, Some(&queue));
    }

    /// Creates or updates member `interface` of `queue`.
    fn upsert_member(&mut self, queue: &str, interface: &str, f: &Fields<'_>) {
        if !self.ensure_queue(queue) {
            return;
        }
        if let Some(resync) = &mut self.resync {
            resync.members.remove(&pair_key(queue, interface));
        }
        let limit = self.limits.members_per_queue;
        let Some(q) = self.queues.get_mut(queue) else {
            return;
        };
        let full = q.members.len() >= limit;
        let (added, changed) = match q.members.iter_mut().find(|m| m.interface == interface) {
            Some(member) => (false, member.update(f)),
            None if full => {
                self.stats.overflow.members += 1;
                return;
            }
            None => {
                let mut member = Member::new(interface);
                member.update(f);
                q.members.push(member);
                (true, true)
            }
        };
        if let Some(op) = Model::upsert_op(added, changed) {
            self.emit_member(op, queue, interface);
        }
    }

    /// Removes member `interface` of `queue`; whether it was there.
    pub(super) fn remove_member(&mut self, queue: &str, interface: &str) -> bool {
        let Some(q) = self.queues.get_mut(queue) else {
            return false;
        };
        let before = q.members.len();
        q.members.retain(|m| m.interface != interface);
        if q.members.len() == before {
            return false;
        }
        self.emit_member(Op::Removed, queue, interface);
        true
    }

    /// Removes caller `uid` from `queue`, moving those behind it up;
    /// whether it was there.
    pub(super) fn remove_caller(&mut self, queue: &str, uid: &str) -> bool {
        let Some(q) = self.queues.get_mut(queue) else {
            return false;
        };
        let Some(i) = q.callers.iter().position(|c| c.uniqueid == uid) else {
            return false;
        };
        let moved = q.remove_caller_at(i);
        self.emit_caller(Op::Removed, queue, uid);
        if !moved.is_empty() {
            self.emit_queue(Op::Updated, queue);
        }
        if self
            .channels
            .get(uid)
            .is_some_and(|c| c.waiting_in.as_deref() == Some(queue))
        {
            self.set_waiting_in(uid, None);
        }
        true
    }

    /// Takes channel `uid` out of the queue it waits in, unless that is
    /// `queue`: a channel waits in one queue at a time.
    fn leave_other_queue(&mut self, uid: &str, queue: &str) {
        let elsewhere = self
            .channels
            .get(uid)
            .and_then(|c| c.waiting_in.clone())
            .filter(|q| q != queue);
        if let Some(other) = elsewhere {
            self.remove_caller(&other, uid);
        }
    }

    /// Removes a queue with its members and callers.
    pub(super) fn remove_queue(&mut self, name: &str) {
        let Some((key, q)) = self.queues.remove_entry(name) else {
            return;
        };
        for caller in &q.callers {
            self.set_waiting_in(&caller.uniqueid, None);
        }
        self.emit(Op::Removed, KeyRef::Queue((&key).into()));
    }

    /// Makes sure queue `name` exists (a member event can name a queue no
    /// list has shown yet); whether the model holds it.
    fn ensure_queue(&mut self, name: &str) -> bool {
        if let Some(resync) = &mut self.resync {
            resync.queues.remove(name);
        }
        if self.queues.contains_key(name) {
            return true;
        }
        if self.queues.len() >= self.limits.queues {
            self.stats.overflow.queues += 1;
            return false;
        }
        let key: Arc<str> = Arc::from(name);
        self.queues.insert(Arc::clone(&key), Queue::new(name));
        self.emit(Op::Added, KeyRef::Queue((&key).into()));
        true
    }

    /// Runs `change` on the queue `f` names and reports it updated.
    fn with_queue(&mut self, f: &Fields<'_>, change: impl FnOnce(&mut Queue)) {
        let Some(queue) = key(f.queue) else {
            self.stats.malformed += 1;
            return;
        };
        match self.queues.get_mut(&*queue) {
            Some(q) => {
                change(q);
                self.emit_queue(Op::Updated, &queue);
            }
            None => self.stats.unplaced += 1,
        }
    }

    /// Marks the member `f` names as in a call or not.
    fn set_in_call(&mut self, f: &Fields<'_>, in_call: bool) {
        let (Some(queue), Some(interface)) = (key(f.queue), key(f.interface)) else {
            return;
        };
        let member = self
            .queues
            .get_mut(&*queue)
            .and_then(|q| q.members.iter_mut().find(|m| m.interface == *interface));
        match member {
            Some(member) if member.in_call != in_call => {
                member.in_call = in_call;
                self.emit_member(Op::Updated, &queue, &interface);
            }
            Some(_) => {}
            None => self.stats.unplaced += 1,
        }
    }

    /// Sets the queue channel `uid` waits in.
    fn set_waiting_in(&mut self, uid: &str, queue: Option<&str>) {
        let Some(channel) = self.channels.get_mut(uid) else {
            return;
        };
        if channel.waiting_in.as_deref() != queue {
            channel.waiting_in = queue.map(str::to_owned);
            self.emit_channel(Op::Updated, uid);
        }
    }
}

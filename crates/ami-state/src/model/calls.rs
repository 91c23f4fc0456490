//! Following originated calls: from the send to the hangup.

use std::collections::VecDeque;
use std::sync::Arc;

use ami_proto::{Action, ActionError};

use super::Model;
use crate::call::{Agent, Call, CallPhase};
use crate::change::{KeyRef, Op, Text};
use crate::channel::ChannelState;
use crate::fields::{key, number, text, Fields, Snap};
use crate::hash::Map;
use crate::time::Timestamp;

/// The call records and the index that finds a call from its channels.
#[derive(Debug, Default)]
pub(super) struct Calls {
    /// Keyed by ActionID, one copy shared with the index, the eviction
    /// queue and the changes, so that none of them allocates a copy.
    records: Map<Arc<str>, Call>,
    /// Uniqueids of the channels of calls in progress, and their
    /// Linkedids, each to its call's ActionID.
    index: Map<String, Arc<str>>,
    /// ActionIDs of finished calls, oldest first (some may be gone).
    finished: VecDeque<Arc<str>>,
}

impl Calls {
    pub(super) fn get(&self, action_id: &str) -> Option<&Call> {
        self.records.get(action_id)
    }

    pub(super) fn iter(&self) -> impl Iterator<Item = &Call> + '_ {
        self.records.values()
    }

    pub(super) fn remove(&mut self, action_id: &str) -> Option<Call> {
        let call = self.records.remove(action_id)?;
        unindex(&mut self.index, &call);
        Some(call)
    }

    /// Stops following a finished call's channels and queues it for
    /// eviction.
    fn finish(&mut self, action_id: &str) {
        let Some(call) = self.records.get(action_id) else {
            return;
        };
        unindex(&mut self.index, call);
        self.retire(action_id);
    }

    /// Queues a finished call for eviction, keeping that queue within
    /// twice the records held; its channels are still followed.
    fn retire(&mut self, action_id: &str) {
        let Some((id, _)) = self.records.get_key_value(action_id) else {
            return;
        };
        self.finished.push_back(Arc::clone(id));
        if self.finished.len() > 2 * self.records.len() {
            let records = &self.records;
            self.finished
                .retain(|id| records.get(&**id).is_some_and(|c| c.phase.is_finished()));
        }
    }

    /// The map's own copy of ActionID `id` (a new one if it has none).
    fn shared_id(&self, id: &str) -> Arc<str> {
        match self.records.get_key_value(id) {
            Some((shared, _)) => Arc::clone(shared),
            None => Arc::from(id),
        }
    }

    /// The ActionID of the call in progress that channel (or Linkedid) `id`
    /// belongs to.
    fn of(&self, id: &str) -> Option<Arc<str>> {
        if self.index.is_empty() {
            return None;
        }
        self.index.get(id).cloned()
    }
}

/// Removes `call`'s channels and Linkedid from `index`.
fn unindex(index: &mut Map<String, Arc<str>>, call: &Call) {
    let ids = call
        .channels
        .iter()
        .chain(&call.uniqueid)
        .chain(&call.linkedid);
    for id in ids {
        if index.get(id).is_some_and(|a| **a == *call.action_id) {
            index.remove(id);
        }
    }
}

/// How a channel ended, for its call record (read only if it has one).
pub(super) struct Hangup<'a> {
    pub(super) cause: Option<&'a [u8]>,
    pub(super) text: Option<&'a [u8]>,
}

impl<'a> Hangup<'a> {
    pub(super) fn of(f: &Fields<'a>) -> Self {
        Hangup {
            cause: f.cause,
            text: f.cause_txt,
        }
    }
}

impl Model {
    /// Starts a record for an Originate sent with ActionID `id`.
    pub(super) fn on_originate_sent(&mut self, id: &str, action: &Action) {
        if self.calls.records.contains_key(id) {
            return;
        }
        if self.calls.records.len() >= self.limits.calls && !self.evict_finished_call() {
            self.stats.overflow.calls += 1;
            return;
        }
        let mut call = Call {
            action_id: id.to_owned(),
            requested: action.get("Channel").unwrap_or_default().to_owned(),
            ..Call::default()
        };
        // Uniqueids chosen by the caller name the channels before they exist.
        let named = |header| action.get(header).filter(|u| !u.is_empty());
        if let Some(uid) = named("ChannelId") {
            call.uniqueid = Some(uid.to_owned());
            call.channels.push(uid.to_owned());
        }
        if let Some(other) = named("OtherChannelId") {
            call.channels.push(other.to_owned());
        }
        let id: Arc<str> = Arc::from(id);
        for uid in &call.channels {
            self.calls.index.insert(uid.clone(), Arc::clone(&id));
        }
        self.calls.records.insert(Arc::clone(&id), call);
        self.emit(Op::Added, KeyRef::Call((&id).into()));
    }

    /// Queues a change of call `id`, with the map's copy of its ActionID.
    fn emit_call(&mut self, op: Op, id: &str) {
        let shared = self
            .calls
            .records
            .get_key_value(id)
            .map(|(k, _)| Arc::clone(k));
        self.emit(op, KeyRef::Call(Text::or(&shared, id)));
    }

    /// Makes room by dropping the oldest finished record; whether it could.
    fn evict_finished_call(&mut self) -> bool {
        while let Some(old) = self.calls.finished.pop_front() {
            let finished = self
                .calls
                .records
                .get(&*old)
                .is_some_and(|c| c.phase.is_finished());
            if finished {
                self.calls.remove(&old);
                self.stats.calls_evicted += 1;
                self.emit(Op::Removed, KeyRef::Call((&old).into()));
                return true;
            }
        }
        false
    }

    /// An `OriginateResponse` (event or completion) for ActionID `id`.
    pub(super) fn on_originate_response(
        &mut self,
        id: &str,
        f: &Fields<'_>,
        at: Option<Timestamp>,
    ) {
        let success = f
            .response
            .is_some_and(|r| r.eq_ignore_ascii_case(b"Success"));
        let uid = key(f.chan.uniqueid).filter(|u| u != "<unknown>");
        let Some(call) = self.calls.records.get_mut(id) else {
            return; // Another client's Originate, or one sent before we followed.
        };
        let was_finished = call.phase.is_finished();
        call.reason = number(f.reason);
        if success {
            call.error = None;
            if matches!(call.phase, CallPhase::Dialing | CallPhase::Unknown) {
                call.phase = CallPhase::Answered;
            }
            call.answered_at = call.answered_at.or(at);
            if let Some(name) = key(f.chan.channel) {
                call.channel = Some(name.into_owned());
            }
        } else if matches!(
            call.phase,
            CallPhase::Dialing | CallPhase::Unknown | CallPhase::Ended
        ) {
            // Never answered, whatever hung up before this said so.
            call.phase = CallPhase::Failed;
            call.ended_at = call.ended_at.or(at);
        }
        let failed = call.phase == CallPhase::Failed;
        // The channel the caller named may still hang up with a cause: the
        // core hands this completion out before the events queued ahead of
        // it (a busy callee's `Hangup` among them). It stays followed.
        let named = call.uniqueid.clone();
        self.emit_call(Op::Updated, id);
        if failed && !was_finished {
            match named.filter(|u| !self.gone_channels.contains(u)) {
                Some(_) => self.calls.retire(id),
                None => self.calls.finish(id),
            }
        } else if let Some(uid) = uid.filter(|_| !failed) {
            self.bind_call(id, &uid, at);
        }
    }

    /// Ties call `id` to its originated channel `uid` and, through that
    /// channel's Linkedid, to the channels already in the call.
    fn bind_call(&mut self, id: &str, uid: &str, at: Option<Timestamp>) {
        if self.gone_channels.contains(uid) && !self.channels.contains_key(uid) {
            // It hung up before the response came: the call is over.
            self.end_call(id, uid, None, at);
            return;
        }
        let linkedid = self.channels.get(uid).map(|c| c.linkedid.clone());
        let up = self
            .channels
            .get(uid)
            .is_some_and(|c| c.state == ChannelState::Up);
        let mut members: Vec<String> = vec![uid.to_owned()];
        if let Some(linked) = linkedid.as_deref().filter(|l| !l.is_empty()) {
            let mut same: Vec<&String> = self
                .channels
                .values()
                .filter(|c| c.linkedid == linked && c.uniqueid != uid)
                .map(|c| &c.uniqueid)
                .collect();
            same.sort();
            members.extend(same.into_iter().cloned());
            let shared = self.calls.shared_id(id);
            self.calls.index.insert(linked.to_owned(), shared);
        }
        if let Some(call) = self.calls.records.get_mut(id) {
            call.uniqueid = Some(uid.to_owned());
            call.linkedid = linkedid.filter(|l| !l.is_empty()).or(call.linkedid.take());
            if up && call.phase == CallPhase::Dialing {
                call.phase = CallPhase::Answered;
                call.answered_at = call.answered_at.or(at);
            }
        }
        for member in members {
            self.add_call_channel(id, &member);
        }
    }

    /// Adds channel `uid` to call `id`, within the per-call bound.
    fn add_call_channel(&mut self, id: &str, uid: &str) {
        let Some(call) = self.calls.records.get_mut(id) else {
            return;
        };
        if !call.channels.iter().any(|c| c == uid) {
            if call.channels.len() >= self.limits.channels_per_call {
                self.stats.overflow.call_channels += 1;
                return;
            }
            call.channels.push(uid.to_owned());
        }
        let id = self.calls.shared_id(id);
        self.calls.index.insert(uid.to_owned(), Arc::clone(&id));
        self.emit(Op::Updated, KeyRef::Call((&id).into()));
    }

    /// A synchronous Originate's response: success means answered.
    pub(super) fn on_originate_answered(&mut self, id: &str, success: bool) {
        let Some(call) = self.calls.records.get_mut(id) else {
            return;
        };
        if call.phase != CallPhase::Dialing {
            return;
        }
        call.phase = if success {
            CallPhase::Answered
        } else {
            CallPhase::Failed
        };
        self.emit_call(Op::Updated, id);
        if !success {
            self.calls.finish(id);
        }
    }

    /// An Originate that ended in an error. A server error is a failure;
    /// after a timeout or a lost connection the call may still be placed,
    /// so it is `Unknown`, never `Failed`.
    pub(super) fn on_originate_error(&mut self, id: &str, error: &ActionError) {
        let Some(call) = self.calls.records.get_mut(id) else {
            return;
        };
        call.error = Some(error.to_string());
        let finished = match (call.phase, error) {
            (CallPhase::Dialing, ActionError::Server { .. }) => {
                call.phase = CallPhase::Failed;
                true
            }
            (CallPhase::Dialing, _) => {
                call.phase = CallPhase::Unknown;
                true
            }
            _ => false,
        };
        self.emit_call(Op::Updated, id);
        if finished {
            self.calls.finish(id);
        }
    }

    /// A new channel: it joins the call its Uniqueid or Linkedid belongs to.
    pub(super) fn call_channel_added(&mut self, uid: &str, linkedid: &str) {
        let id = self.calls.of(uid).or_else(|| self.calls.of(linkedid));
        if let Some(id) = id {
            self.add_call_channel(&id, uid);
        }
    }

    /// A channel went up: the originated one answers its call.
    pub(super) fn call_channel_up(&mut self, uid: &str, at: Option<Timestamp>) {
        let Some(id) = self.calls.of(uid) else {
            return;
        };
        let Some(call) = self.calls.records.get_mut(&*id) else {
            return;
        };
        if call.uniqueid.as_deref() == Some(uid) && call.phase == CallPhase::Dialing {
            call.phase = CallPhase::Answered;
            call.answered_at = call.answered_at.or(at);
            self.emit(Op::Updated, KeyRef::Call((&id).into()));
        }
    }

    /// A `DialEnd` with `ANSWER`: the dialled party took the call, unless
    /// a queue member already did. Only the answering `DialEnd` counts (a
    /// ringing agent that does not answer gives two, NOANSWER and CANCEL).
    pub(super) fn call_dial_answered(&mut self, caller: &Snap<'_>, dest: &Snap<'_>) {
        let Some(id) = key(caller.uniqueid).and_then(|u| self.calls.of(&u)) else {
            return;
        };
        let Some(call) = self.calls.records.get_mut(&*id) else {
            return;
        };
        if call.agent.is_none() {
            call.agent = Some(Agent {
                uniqueid: text(dest.uniqueid),
                channel: text(dest.channel),
                ..Agent::default()
            });
            self.emit(Op::Updated, KeyRef::Call((&id).into()));
        }
    }

    /// An `AgentConnect` whose caller is in a call: the member took it.
    /// It comes before the bridge is made.
    pub(super) fn call_agent_connect(&mut self, f: &Fields<'_>, at: Option<Timestamp>) {
        let Some(id) = key(f.chan.uniqueid).and_then(|u| self.calls.of(&u)) else {
            return;
        };
        let Some(call) = self.calls.records.get_mut(&*id) else {
            return;
        };
        call.agent = Some(Agent {
            uniqueid: text(f.dest.uniqueid),
            channel: text(f.dest.channel),
            queue: key(f.queue).map(|q| q.into_owned()),
            interface: key(f.interface).map(|i| i.into_owned()),
            name: key(f.member_name).map(|n| n.into_owned()),
        });
        connect(call, None, at);
        self.emit(Op::Updated, KeyRef::Call((&id).into()));
    }

    /// A channel entered bridge `bridge_id`: with another party there, the
    /// calls of its members are connected. Holding bridges (parking,
    /// holding rooms) put callers together who do not talk: they do not count.
    pub(super) fn call_bridged(&mut self, bridge_id: &str, at: Option<Timestamp>) {
        if self.calls.index.is_empty() {
            return;
        }
        let Some(bridge) = self.bridges.get(bridge_id) else {
            return;
        };
        if bridge.channels.len() < 2 || bridge.kind.eq_ignore_ascii_case("holding") {
            return;
        }
        let ids: Vec<Arc<str>> = bridge
            .channels
            .iter()
            .filter_map(|uid| self.calls.of(uid))
            .collect();
        for id in ids {
            if let Some(call) = self.calls.records.get_mut(&*id) {
                if connect(call, Some(bridge_id), at) {
                    self.emit(Op::Updated, KeyRef::Call((&id).into()));
                }
            }
        }
    }

    /// A channel went away: the originated one ends its call.
    pub(super) fn call_channel_gone(
        &mut self,
        uid: &str,
        hangup: Option<Hangup<'_>>,
        at: Option<Timestamp>,
    ) {
        let Some(id) = self.calls.of(uid) else {
            return;
        };
        let is_origin = self
            .calls
            .records
            .get(&id)
            .is_some_and(|c| c.uniqueid.as_deref() == Some(uid));
        if is_origin {
            self.end_call(&id, uid, hangup, at);
        }
    }

    /// Ends call `id` because its channel `uid` went: with the hangup cause
    /// when a `Hangup` said it, else (gone while disconnected, or before
    /// the response) without.
    fn end_call(&mut self, id: &str, uid: &str, hangup: Option<Hangup<'_>>, at: Option<Timestamp>) {
        let Some(call) = self.calls.records.get_mut(id) else {
            return;
        };
        if call.phase == CallPhase::Ended {
            return;
        }
        // A failed call stays failed: its channel's hangup says why.
        if call.phase != CallPhase::Failed {
            call.phase = CallPhase::Ended;
        }
        call.ended_at = call.ended_at.or(at);
        match hangup {
            Some(h) => {
                call.hangup_cause = number(h.cause);
                call.hangup_text = h.text.map(|t| text(Some(t)));
            }
            None if call.phase == CallPhase::Failed => {}
            None => {
                call.error = Some(format!(
                    "channel {uid} went away unseen (while disconnected or before the \
                     OriginateResponse): hangup cause unknown"
                ));
            }
        }
        self.emit_call(Op::Updated, id);
        self.calls.finish(id);
    }
}

/// Marks `call` connected (in `bridge`, if it had none); whether anything changed.
fn connect(call: &mut Call, bridge: Option<&str>, at: Option<Timestamp>) -> bool {
    let mut changed = false;
    if matches!(call.phase, CallPhase::Dialing | CallPhase::Answered) {
        call.phase = CallPhase::Connected;
        call.connected_at = call.connected_at.or(at);
        changed = true;
    }
    if let (None, Some(bridge)) = (&call.bridge, bridge) {
        call.bridge = Some(bridge.to_owned());
        changed = true;
    }
    changed
}

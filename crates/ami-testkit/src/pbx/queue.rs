//! Call queues at run time: callers waiting, members rung, the bridge when
//! one answers, and the queue and agent events (`QueueCallerJoin`,
//! `AgentCalled`, `AgentConnect`, `AgentComplete`, `QueueMemberStatus`...)
//! with the headers `apps/app_queue.c` writes.
//!
//! Not captured (transcripts 32-35 are missing): the order of these events
//! around the bridge comes from app_queue's source, not from a real server.

use std::time::Instant;

use crate::pbx::chan::{Chan, ChanId, Exec};
use crate::pbx::dial::Dialer;
use crate::pbx::{PbxState, Wake};
use crate::perm::Classes;
use crate::queues::{Queue, Strategy};
use crate::wire::W;

/// One caller waiting in a queue.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    pub(crate) chan: ChanId,
    pub(crate) joined: Instant,
    /// Position when it joined (`OriginalPosition`).
    pub(crate) original: usize,
    /// The members being rung for it: `(member index, member channel)`.
    pub(crate) ringing: Vec<(usize, ChanId)>,
    pub(crate) ring_started: Option<Instant>,
}

/// A member's counters.
#[derive(Clone, Debug, Default)]
pub(crate) struct MemberState {
    pub(crate) calls: u64,
    pub(crate) last_call: u64,
    pub(crate) in_call: bool,
    /// `Status` (device state code: 1 not in use, 2 in use...).
    pub(crate) status: u32,
    pub(crate) paused: bool,
    pub(crate) paused_reason: String,
    /// When it was last paused or unpaused (Unix time, 0: never).
    pub(crate) last_pause: u64,
}

/// A queue call in a bridge: who talks, since when.
#[derive(Clone, Debug)]
pub(crate) struct Connected {
    caller: ChanId,
    member_chan: ChanId,
    member: usize,
    /// The member channel as it was at the connect (for `AgentComplete`
    /// once it is gone).
    member_snapshot: Chan,
    caller_snapshot: Chan,
    hold: u64,
    since: Instant,
}

/// A queue's live state.
#[derive(Clone, Debug)]
pub(crate) struct QueueState {
    pub(crate) config: Queue,
    pub(crate) callers: Vec<Caller>,
    pub(crate) members: Vec<MemberState>,
    pub(crate) completed: u64,
    pub(crate) abandoned: u64,
    pub(crate) holdtime: u64,
    pub(crate) talktime: u64,
    connected: Vec<Connected>,
    rr_next: usize,
}

impl QueueState {
    pub(crate) fn new(config: Queue) -> QueueState {
        let members = config
            .members
            .iter()
            .map(|m| MemberState {
                status: 1,
                paused: m.paused,
                ..MemberState::default()
            })
            .collect();
        QueueState {
            config,
            callers: Vec::new(),
            members,
            completed: 0,
            abandoned: 0,
            holdtime: 0,
            talktime: 0,
            connected: Vec::new(),
            rr_next: 0,
        }
    }

    /// Members that may be rung: not paused, not busy with a call.
    fn available(&self, m: usize) -> bool {
        let s = &self.members[m];
        !s.paused && !s.in_call && s.status == 1
    }
}

impl PbxState {
    /// Copies of two live channels (a caller and a member's).
    fn pair(&self, a: ChanId, b: ChanId) -> Option<(Chan, Chan)> {
        Some((self.chans.get(&a)?.clone(), self.chans.get(&b)?.clone()))
    }

    /// The queue and the position of a waiting caller.
    pub(super) fn queue_of_caller(&self, chan: ChanId) -> Option<(usize, usize)> {
        self.queues.iter().enumerate().find_map(|(q, state)| {
            state
                .callers
                .iter()
                .position(|c| c.chan == chan)
                .map(|pos| (q, pos))
        })
    }

    /// The fields of a member (`queue_member_blob_create`).
    fn member_fields(&self, q: usize, m: usize, w: W) -> W {
        let queue = &self.queues[q];
        let (cfg, st) = (&queue.config.members[m], &queue.members[m]);
        w.h("Queue", &queue.config.name)
            .h("MemberName", &cfg.name)
            .h("Interface", &cfg.interface)
            .h("StateInterface", &cfg.interface)
            .h("Membership", "static")
            .h("Penalty", cfg.penalty.to_string())
            .h("CallsTaken", st.calls.to_string())
            .h("LastCall", st.last_call.to_string())
            .h("LastPause", st.last_pause.to_string())
            .h("LoginTime", self.login_time().to_string())
            .h("InCall", u8::from(st.in_call).to_string())
            .h("Status", st.status.to_string())
            .h("Paused", u8::from(st.paused).to_string())
            .h("PausedReason", &st.paused_reason)
            .h("Ringinuse", "0")
            .h("Wrapuptime", "0")
    }

    /// When the static members logged in: when the fake Asterisk started.
    pub(crate) fn login_time(&self) -> u64 {
        (self.config.epoch as u64).saturating_sub(self.config.uptime)
    }

    /// An event about a caller and a member channel (`AgentCalled`...):
    /// caller snapshot, member snapshot with `Dest`, then `fields`.
    fn agent_event(
        &mut self,
        name: &str,
        caller: &Chan,
        member: &Chan,
        fields: impl FnOnce(W) -> W,
    ) {
        let w = W::event(name).h("Privilege", Classes::AGENT.to_string());
        let w = fields(member.snapshot(caller.snapshot(w, ""), "Dest"));
        self.deliver(crate::pbx::Event {
            classes: Classes::AGENT,
            text: w.done(),
        });
    }

    /// `Queue(name,options,url,announce,timeout)` on `chan`.
    pub(crate) fn queue_join(&mut self, chan: ChanId, data: &str, now: Instant) {
        let args: Vec<&str> = data.split(',').collect();
        let name = args.first().copied().unwrap_or("").trim();
        let timeout = args
            .get(4)
            .and_then(|t| t.trim().parse::<u64>().ok())
            .filter(|&t| t > 0);
        let Some(q) = self.queues.iter().position(|s| s.config.name == name) else {
            return self.queue_continue(chan, now);
        };
        let max = self.queues[q].config.max as usize;
        if max > 0 && self.queues[q].callers.len() >= max {
            return self.queue_continue(chan, now);
        }
        if let Some(c) = self.chans.get_mut(&chan) {
            c.exec = Exec::Queued;
        }
        let position = self.queues[q].callers.len() + 1;
        self.queues[q].callers.push(Caller {
            chan,
            joined: now,
            original: position,
            ringing: Vec::new(),
            ring_started: None,
        });
        let queue_name = name.to_string();
        self.chan_event(Classes::AGENT, "QueueCallerJoin", chan, |w| {
            w.h("Queue", &queue_name)
                .h("Position", position.to_string())
                .h("Count", position.to_string())
        });
        if position == 1 {
            self.set_device(&format!("Queue:{queue_name}"), "RINGING");
        }
        if let Some(t) = timeout {
            self.schedule(
                now + std::time::Duration::from_secs(t),
                Wake::QueueTimeout(chan),
            );
        }
        self.queue_ring(chan, now);
    }

    /// The caller's dialplan goes on after `Queue()`.
    /// Scheduled rather than run here: the callers are in the middle of
    /// a hangup or of the dialplan itself.
    fn queue_continue(&mut self, chan: ChanId, now: Instant) {
        if let Some(c) = self.chans.get_mut(&chan) {
            c.exec = Exec::Dialplan;
        }
        self.schedule(now, Wake::Resume(chan));
    }

    /// Rings the members for the queue's first caller (the others wait
    /// their turn); retries later when nobody is available.
    pub(crate) fn queue_ring(&mut self, chan: ChanId, now: Instant) {
        let Some((q, pos)) = self.queue_of_caller(chan) else {
            return;
        };
        if pos != 0 || !self.queues[q].callers[0].ringing.is_empty() {
            return;
        }
        let queue = &self.queues[q];
        let available: Vec<usize> = (0..queue.members.len())
            .filter(|&m| queue.available(m))
            .collect();
        let picked: Vec<usize> = match queue.config.strategy {
            Strategy::RingAll => {
                let low = available
                    .iter()
                    .map(|&m| queue.config.members[m].penalty)
                    .min();
                available
                    .iter()
                    .copied()
                    .filter(|&m| Some(queue.config.members[m].penalty) == low)
                    .collect()
            }
            Strategy::LeastRecent => available
                .iter()
                .copied()
                .min_by_key(|&m| (queue.config.members[m].penalty, queue.members[m].last_call))
                .into_iter()
                .collect(),
            Strategy::FewestCalls => available
                .iter()
                .copied()
                .min_by_key(|&m| (queue.config.members[m].penalty, queue.members[m].calls))
                .into_iter()
                .collect(),
            Strategy::RrMemory => {
                let n = queue.members.len().max(1);
                (0..n)
                    .map(|i| (queue.rr_next + i) % n)
                    .find(|m| available.contains(m))
                    .into_iter()
                    .collect()
            }
        };
        if picked.is_empty() {
            let retry = self.queues[q].config.retry;
            self.schedule(now + retry, Wake::QueueRetry(chan));
            return;
        }
        if let Some(&last) = picked.last() {
            self.queues[q].rr_next = last + 1;
        }
        self.queues[q].callers[0].ring_started = Some(now);
        for m in picked {
            self.ring_member(chan, q, m, now);
        }
        if self
            .queue_of_caller(chan)
            .is_some_and(|(q, p)| !self.queues[q].callers[p].ringing.is_empty())
        {
            let timeout = self.queues[q].config.ring_timeout;
            self.schedule(now + timeout, Wake::QueueRingTimeout(chan));
        } else {
            let retry = self.queues[q].config.retry;
            self.schedule(now + retry, Wake::QueueRetry(chan));
        }
    }

    /// Calls member `m` for `caller`: its channel(s), `AgentCalled`,
    /// `DialBegin`, and for a Local member the member's dialplan.
    fn ring_member(&mut self, caller: ChanId, q: usize, m: usize, now: Instant) {
        let member = self.queues[q].config.members[m].clone();
        let queue_name = self.queues[q].config.name.clone();
        let (tech, data) = member.interface.split_once('/').unwrap_or(("", ""));
        let (dialed, two) = if tech.eq_ignore_ascii_case("Local") {
            let (exten, context) = data.split_once('@').unwrap_or((data, "default"));
            let context = context.split('/').next().unwrap_or(context).to_string();
            if self.find_exten(&context, exten).is_none() {
                return;
            }
            let (one, two) = self.new_local_pair(exten, &context, now);
            (one, Some(two))
        } else {
            let dest = match &self.config.dialplan {
                Some(plan) => plan.find_device(&member.interface).cloned(),
                None => Some(crate::dialplan::Destination::answer_and_stay()),
            };
            let Some(_) = dest else {
                return;
            };
            self.tech_seq = self.tech_seq.wrapping_add(1);
            let name = format!("{}-{:08x}", member.interface, self.tech_seq);
            let one = self.new_chan(
                name,
                &member.interface,
                "default",
                "s",
                super::State::Down,
                None,
                now,
            );
            (one, None)
        };
        if let Some(c) = self.chans.get_mut(&dialed) {
            c.exec = Exec::Dialing;
            c.dialer = Some(Dialer::Queue { caller });
        }
        if let Some((q, p)) = self.queue_of_caller(caller) {
            self.queues[q].callers[p].ringing.push((m, dialed));
        }
        if two.is_some() {
            self.local_bridge_event(dialed, true);
        }
        let Some((c, d)) = self.pair(caller, dialed) else {
            return;
        };
        self.agent_event("AgentCalled", &c, &d, |w| {
            w.h("Queue", &queue_name)
                .h("Interface", &member.interface)
                .h("MemberName", &member.name)
        });
        self.dial_event(dialed, None, &member.interface);
        self.member_device_changed(&member.interface, now);
        match two {
            Some(two) => {
                if let Some(c) = self.chans.get_mut(&two) {
                    c.exec = Exec::Dialplan;
                }
                self.processed += 1;
                self.run(two, now);
            }
            None => {
                if let Some(dest) = self
                    .config
                    .dialplan
                    .as_ref()
                    .and_then(|p| p.find_device(&member.interface).cloned())
                {
                    self.device_behaves(dialed, &dest, now);
                }
            }
        }
    }

    /// The members rang long enough: `AgentRingNoAnswer`, two `DialEnd`s
    /// (NOANSWER, then CANCEL), the member channels go; retry later.
    pub(crate) fn queue_ring_timeout(&mut self, chan: ChanId, now: Instant) {
        let Some((q, p)) = self.queue_of_caller(chan) else {
            return;
        };
        let ringing = std::mem::take(&mut self.queues[q].callers[p].ringing);
        let started = self.queues[q].callers[p].ring_started.unwrap_or(now);
        let queue_name = self.queues[q].config.name.clone();
        for (m, dialed) in ringing {
            let member = self.queues[q].config.members[m].clone();
            if let (Some(c), Some(d)) = (
                self.chans.get(&chan).cloned(),
                self.chans.get(&dialed).cloned(),
            ) {
                self.dial_event(dialed, Some("NOANSWER"), "");
                let ring = now
                    .saturating_duration_since(started)
                    .as_millis()
                    .to_string();
                self.agent_event("AgentRingNoAnswer", &c, &d, |w| {
                    w.h("Queue", &queue_name)
                        .h("Interface", &member.interface)
                        .h("MemberName", &member.name)
                        .h("RingTime", ring)
                });
                self.dial_event(dialed, Some("CANCEL"), "");
                if let Some(c) = self.chans.get_mut(&dialed) {
                    c.dialer = None;
                    c.exec = Exec::Held;
                }
                self.hangup_chan(dialed, 19, now);
            }
        }
        let retry = self.queues[q].config.retry;
        self.schedule(now + retry, Wake::QueueRetry(chan));
    }

    /// The caller waited as long as `Queue()` allows: it leaves, its
    /// dialplan goes on.
    pub(crate) fn queue_timeout(&mut self, chan: ChanId, now: Instant) {
        if self.queue_of_caller(chan).is_none() {
            return;
        }
        self.queue_leave(chan, now);
        self.queue_continue(chan, now);
    }

    /// Takes the caller out of its queue: its members stop ringing, its
    /// timers go, `QueueCallerLeave`, and the next caller's turn.
    fn queue_leave(&mut self, chan: ChanId, now: Instant) {
        let Some((q, p)) = self.queue_of_caller(chan) else {
            return;
        };
        let caller = self.queues[q].callers.remove(p);
        for wake in [
            Wake::QueueRingTimeout(chan),
            Wake::QueueRetry(chan),
            Wake::QueueTimeout(chan),
        ] {
            self.cancel(&wake);
        }
        for (_, dialed) in caller.ringing {
            self.dial_event(dialed, Some("CANCEL"), "");
            if let Some(c) = self.chans.get_mut(&dialed) {
                c.dialer = None;
                c.exec = Exec::Held;
            }
            self.hangup_chan(dialed, 26, now);
        }
        let queue_name = self.queues[q].config.name.clone();
        let count = self.queues[q].callers.len();
        self.chan_event(Classes::AGENT, "QueueCallerLeave", chan, |w| {
            w.h("Queue", &queue_name)
                .h("Position", (p + 1).to_string())
                .h("Count", count.to_string())
        });
        if count == 0 {
            self.set_device(&format!("Queue:{queue_name}"), "NOT_INUSE");
        }
        if let Some(next) = self.queues[q].callers.first().map(|c| c.chan) {
            self.queue_ring(next, now);
        }
    }

    /// The caller is redirected out of the queue.
    pub(crate) fn queue_leave_for_redirect(&mut self, chan: ChanId, now: Instant) {
        self.queue_leave(chan, now);
    }

    /// The caller hung up while waiting: `QueueCallerAbandon`, then it leaves.
    pub(crate) fn queue_abandon(&mut self, chan: ChanId, now: Instant) {
        let Some((q, p)) = self.queue_of_caller(chan) else {
            return;
        };
        let caller = self.queues[q].callers[p].clone();
        self.queues[q].abandoned += 1;
        let queue_name = self.queues[q].config.name.clone();
        let hold = now.saturating_duration_since(caller.joined).as_secs();
        self.chan_event(Classes::AGENT, "QueueCallerAbandon", chan, |w| {
            w.h("Queue", &queue_name)
                .h("Position", (p + 1).to_string())
                .h("OriginalPosition", caller.original.to_string())
                .h("HoldTime", hold.to_string())
        });
        self.queue_leave(chan, now);
    }

    /// A member answered: the others stop ringing, the caller leaves the
    /// queue, `AgentConnect`, and the two are bridged.
    pub(crate) fn queue_answered(&mut self, caller: ChanId, member_chan: ChanId, now: Instant) {
        let Some((q, p)) = self.queue_of_caller(caller) else {
            return self.hangup_chan(member_chan, 26, now);
        };
        let Some(&(m, _)) = self.queues[q].callers[p]
            .ringing
            .iter()
            .find(|(_, c)| *c == member_chan)
        else {
            return;
        };
        let entry = self.queues[q].callers[p].clone();
        self.queues[q].callers[p]
            .ringing
            .retain(|(_, c)| *c != member_chan);
        if let Some(c) = self.chans.get_mut(&member_chan) {
            c.dialer = None;
        }
        self.queue_leave(caller, now);
        let member = self.queues[q].config.members[m].clone();
        let queue_name = self.queues[q].config.name.clone();
        let hold = now.saturating_duration_since(entry.joined).as_secs();
        let ring = entry
            .ring_started
            .map_or(0, |s| now.saturating_duration_since(s).as_secs());
        let Some((c, d)) = self.pair(caller, member_chan) else {
            return;
        };
        self.agent_event("AgentConnect", &c, &d, |w| {
            w.h("Queue", &queue_name)
                .h("Interface", &member.interface)
                .h("MemberName", &member.name)
                .h("HoldTime", hold.to_string())
                .h("RingTime", ring.to_string())
        });
        self.queues[q].members[m].in_call = true;
        self.queues[q].holdtime += hold;
        self.bridge(caller, member_chan);
        let Some((c, d)) = self.pair(caller, member_chan) else {
            return;
        };
        self.queues[q].connected.push(Connected {
            caller,
            member_chan,
            member: m,
            member_snapshot: d,
            caller_snapshot: c,
            hold,
            since: now,
        });
        self.member_device_changed(&member.interface, now);
    }

    /// A member rung for `caller` will not answer: it goes; when nobody
    /// rings any more, retry later.
    pub(crate) fn queue_member_failed(
        &mut self,
        caller: ChanId,
        member_chan: ChanId,
        status: &str,
        now: Instant,
    ) {
        if status == "CANCEL" {
            self.dial_event(member_chan, Some("CANCEL"), "");
        }
        if let Some(c) = self.chans.get_mut(&member_chan) {
            c.dialer = None;
            c.exec = Exec::Held;
        }
        self.hangup_chan(member_chan, 0, now);
        let Some((q, p)) = self.queue_of_caller(caller) else {
            return;
        };
        self.queues[q].callers[p]
            .ringing
            .retain(|(_, c)| *c != member_chan);
        if self.queues[q].callers[p].ringing.is_empty() {
            self.cancel(&Wake::QueueRingTimeout(caller));
            let retry = self.queues[q].config.retry;
            self.schedule(now + retry, Wake::QueueRetry(caller));
        }
    }

    /// `chan`'s bridge ended because the other party left. For a queue
    /// call: `AgentComplete`; the caller's dialplan goes on after
    /// `Queue()` (returns true), the member channel is hung up (false).
    pub(crate) fn queue_bridge_ended(&mut self, chan: ChanId, now: Instant) -> bool {
        let found = self.queues.iter().enumerate().find_map(|(q, s)| {
            s.connected
                .iter()
                .position(|c| c.caller == chan || c.member_chan == chan)
                .map(|i| (q, i))
        });
        let Some((q, i)) = found else {
            return false;
        };
        let call = self.queues[q].connected.remove(i);
        let talk = now.saturating_duration_since(call.since).as_secs();
        let member = self.queues[q].config.members[call.member].clone();
        let queue_name = self.queues[q].config.name.clone();
        let reason = if call.caller == chan {
            "agent"
        } else {
            "caller"
        };
        let caller_snap = self
            .chans
            .get(&call.caller)
            .cloned()
            .unwrap_or(call.caller_snapshot.clone());
        let member_snap = self
            .chans
            .get(&call.member_chan)
            .cloned()
            .unwrap_or(call.member_snapshot.clone());
        self.agent_event("AgentComplete", &caller_snap, &member_snap, |w| {
            w.h("Queue", &queue_name)
                .h("Interface", &member.interface)
                .h("MemberName", &member.name)
                .h("HoldTime", call.hold.to_string())
                .h("TalkTime", talk.to_string())
                .h("Reason", reason)
        });
        let epoch = self.epoch(now) as u64;
        let state = &mut self.queues[q];
        state.completed += 1;
        state.talktime += talk;
        let ms = &mut state.members[call.member];
        ms.in_call = false;
        ms.calls += 1;
        ms.last_call = epoch;
        self.member_device_changed(&member.interface, now);
        if call.caller == chan {
            self.queue_continue(chan, now);
            return true;
        }
        false
    }

    /// A member's device changed: `QueueMemberStatus` in each queue it is
    /// in, when its status did.
    pub(crate) fn member_device_changed(&mut self, device: &str, _now: Instant) {
        let status = match self.device_state(device) {
            "NOT_INUSE" => 1,
            "INUSE" => 2,
            "BUSY" => 3,
            "INVALID" => 4,
            "UNAVAILABLE" => 5,
            "RINGING" => 6,
            "RINGINUSE" => 7,
            "ONHOLD" => 8,
            _ => 0,
        };
        for q in 0..self.queues.len() {
            for m in 0..self.queues[q].members.len() {
                if self.queues[q].config.members[m].interface != device
                    || self.queues[q].members[m].status == status
                {
                    continue;
                }
                self.queues[q].members[m].status = status;
                let w = self.member_fields(
                    q,
                    m,
                    W::event("QueueMemberStatus").h("Privilege", Classes::AGENT.to_string()),
                );
                self.deliver(crate::pbx::Event {
                    classes: Classes::AGENT,
                    text: w.done(),
                });
            }
        }
    }

    /// Pauses or unpauses `interface` (in `queue`, or in every queue):
    /// `QueueMemberPause` for each; whether it is a member anywhere.
    pub(crate) fn queue_pause(
        &mut self,
        interface: &str,
        queue: &str,
        paused: bool,
        reason: &str,
        now: Instant,
    ) -> bool {
        let epoch = self.epoch(now) as u64;
        let mut found = false;
        for q in 0..self.queues.len() {
            if !queue.is_empty() && self.queues[q].config.name != queue {
                continue;
            }
            for m in 0..self.queues[q].members.len() {
                if !self.queues[q].config.members[m]
                    .interface
                    .eq_ignore_ascii_case(interface)
                {
                    continue;
                }
                found = true;
                let st = &mut self.queues[q].members[m];
                st.paused = paused;
                st.paused_reason = if paused {
                    reason.to_string()
                } else {
                    String::new()
                };
                st.last_pause = epoch;
                let w = self.member_fields(
                    q,
                    m,
                    W::event("QueueMemberPause").h("Privilege", Classes::AGENT.to_string()),
                );
                self.deliver(crate::pbx::Event {
                    classes: Classes::AGENT,
                    text: w.done(),
                });
            }
        }
        found
    }
}

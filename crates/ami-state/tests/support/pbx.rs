//! A simulated call centre that keeps its own ground truth.
//!
//! Each [`Pbx::tick`] is one second: inbound callers arrive and wait in a
//! queue, agents are rung (some do not answer), answer, talk, hang up or
//! transfer blindly; a dialer originates calls that the far end answers or
//! refuses and that then queue like inbound ones; agents pause and a
//! dynamic member comes and goes. Every change is written as the events
//! Asterisk 22 sends for it, with the header sets of its source
//! (`manager_channels.c`, `manager_bridges.c`, `app_queue.c`) and the
//! quirks of the captured call-centre sessions: two `DialEnd`s for an agent
//! that does not answer, `AgentConnect` before the bridge, a Linkedid that
//! changes silently until `BridgeEnter` shows it, `QueueMemberStatus` once
//! per queue of a member, `OriginateResponse`s in answer order rather than
//! request order. [`Pbx::lists`] writes the five list answers from the
//! truth, as the server would: they are the oracle the model is checked
//! against.
//!
//! Events are timestamped (`timestampevents = yes`) in whole seconds, so
//! that a caller's wait computed from a list (`Wait`) and from its
//! `QueueCallerJoin` agree.

use std::collections::BTreeMap;

use ami_proto::{Action, ActionId};
use ami_state::CallPhase;

use super::snapshot;

/// One channel as the server holds it.
#[derive(Clone, Debug)]
pub struct Chan {
    pub name: String,
    pub state: u8,
    pub cid_num: String,
    pub cid_name: String,
    pub conn_num: String,
    pub conn_name: String,
    pub context: String,
    pub exten: String,
    pub priority: u32,
    pub uid: String,
    pub linkedid: String,
    pub app: String,
    pub app_data: String,
    pub bridge: Option<String>,
}

/// What the simulator produced, in order.
#[derive(Debug)]
pub enum Item {
    /// Event frames, as wire text.
    Wire(String),
    /// The client sent an Originate.
    Sent(ActionId, Action),
}

/// What should become of an originated call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    pub phase: CallPhase,
    pub hangup_cause: Option<u32>,
    pub agent_interface: Option<String>,
}

#[derive(Clone, Debug)]
struct Member {
    interface: String,
    name: String,
    dynamic: bool,
    penalty: i32,
    calls: u32,
    last_call: u64,
    last_pause: u64,
    login: u64,
    in_call: bool,
    paused: bool,
    reason: String,
}

#[derive(Debug)]
struct QueueT {
    name: String,
    members: Vec<Member>,
    /// Waiting callers' Uniqueids with the second they joined, in order.
    callers: Vec<(String, u64)>,
    completed: u32,
    abandoned: u32,
    holdtime: u32,
    talktime: u32,
}

#[derive(Debug)]
enum Stage {
    Waiting,
    Ringing {
        interface: String,
        agent: String,
        until: u64,
        answers: bool,
    },
    Talking {
        interface: String,
        agent: String,
        bridge: String,
        since: u64,
        until: u64,
    },
}

/// A caller in (or through) a queue.
#[derive(Debug)]
struct InCall {
    caller: String,
    /// The other half of an originated Local channel.
    partner: Option<String>,
    origin: Option<String>,
    queue: usize,
    joined: u64,
    patience: u64,
    stage: Stage,
}

/// An originated call waiting for the far end.
#[derive(Debug)]
struct Dialing {
    id: String,
    one: String,
    two: String,
    queue: usize,
    at: u64,
    busy: bool,
}

/// The simulated server.
pub struct Pbx {
    rng: u64,
    pub now: u64,
    seq: u64,
    pub chans: BTreeMap<String, Chan>,
    bridges: BTreeMap<String, Vec<String>>,
    queues: Vec<QueueT>,
    /// Device states by device.
    devices: BTreeMap<String, &'static str>,
    incalls: Vec<InCall>,
    dialing: Vec<Dialing>,
    /// Agents that were transferred away and hang up at a given second.
    lingering: Vec<(String, String, u64)>,
    pub expected: BTreeMap<String, Expected>,
    out: String,
    items: Vec<Item>,
}

const START: u64 = 1_795_727_000;

impl Pbx {
    pub fn new(seed: u64) -> Self {
        let member = |n: u32| Member {
            interface: format!("PJSIP/agent{n}"),
            name: format!("Agent {n}"),
            dynamic: false,
            penalty: (n % 3) as i32,
            calls: 0,
            last_call: 0,
            last_pause: 0,
            login: START - 3600,
            in_call: false,
            paused: false,
            reason: String::new(),
        };
        let queue = |name: &str, agents: &[u32]| QueueT {
            name: name.to_owned(),
            members: agents.iter().map(|&n| member(n)).collect(),
            callers: Vec::new(),
            completed: 0,
            abandoned: 0,
            holdtime: 0,
            talktime: 0,
        };
        let queues = vec![queue("support", &[1, 2, 3, 4]), queue("sales", &[4, 5, 6])];
        let devices = (1..=9)
            .map(|n| (format!("PJSIP/agent{n}"), "NOT_INUSE"))
            .collect();
        Pbx {
            rng: seed ^ 0x5eed_ca11,
            now: START,
            seq: 0,
            chans: BTreeMap::new(),
            bridges: BTreeMap::new(),
            queues,
            devices,
            incalls: Vec::new(),
            dialing: Vec::new(),
            lingering: Vec::new(),
            expected: BTreeMap::new(),
            out: String::new(),
            items: Vec::new(),
        }
    }

    fn next(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }

    /// One simulated second; what the server wrote and the client sent.
    pub fn tick(&mut self) -> Vec<Item> {
        self.now += 1;
        if self.chance(45) {
            self.inbound();
        }
        if self.chance(25) {
            self.originate();
        }
        self.advance_dialing();
        self.advance_calls();
        self.advance_lingering();
        if self.chance(8) {
            self.toggle_pause();
        }
        if self.chance(4) {
            self.toggle_dynamic_member();
        }
        self.flush();
        std::mem::take(&mut self.items)
    }

    /// The wire text of `ticks` seconds and the Originates sent, for floods.
    pub fn run(&mut self, ticks: usize) -> Vec<Item> {
        (0..ticks).flat_map(|_| self.tick()).collect()
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            self.items.push(Item::Wire(std::mem::take(&mut self.out)));
        }
    }

    // ---- writing events ----

    fn emit(&mut self, name: &str, privilege: &str, headers: Vec<(String, String)>) {
        use std::fmt::Write;
        let _ = write!(
            self.out,
            "Event: {name}\r\nPrivilege: {privilege},all\r\nTimestamp: {}.000000\r\n",
            self.now
        );
        for (n, v) in headers {
            let _ = write!(self.out, "{n}: {v}\r\n");
        }
        self.out += "\r\n";
    }

    fn snap(&self, prefix: &str, uid: &str) -> Vec<(String, String)> {
        snapshot(prefix, &self.chans[uid])
    }

    fn chan_event(&mut self, name: &str, uid: &str, extra: &[(&str, String)]) {
        let mut h = self.snap("", uid);
        h.extend(extra.iter().map(|(n, v)| (n.to_string(), v.clone())));
        self.emit(name, "call", h);
    }

    fn two_chan_event(
        &mut self,
        name: &str,
        privilege: &str,
        uid: &str,
        dest: &str,
        extra: Vec<(String, String)>,
    ) {
        let mut h = self.snap("", uid);
        h.extend(self.snap("Dest", dest));
        h.extend(extra);
        self.emit(name, privilege, h);
    }

    fn new_uid(&mut self) -> String {
        self.seq += 1;
        format!("{}.{}", self.now, self.seq)
    }

    #[allow(clippy::too_many_arguments)]
    fn new_channel(
        &mut self,
        name: String,
        state: u8,
        cid: (&str, &str),
        context: &str,
        exten: &str,
        linkedid: Option<&str>,
    ) -> String {
        let uid = self.new_uid();
        let chan = Chan {
            name,
            state,
            cid_num: cid.0.to_owned(),
            cid_name: cid.1.to_owned(),
            conn_num: "<unknown>".to_owned(),
            conn_name: "<unknown>".to_owned(),
            context: context.to_owned(),
            exten: exten.to_owned(),
            priority: 1,
            uid: uid.clone(),
            linkedid: linkedid.unwrap_or(&uid).to_owned(),
            app: String::new(),
            app_data: String::new(),
            bridge: None,
        };
        self.chans.insert(uid.clone(), chan);
        self.chan_event("Newchannel", &uid, &[]);
        uid
    }

    fn newexten(&mut self, uid: &str, priority: u32, app: &str, data: &str) {
        let c = self.chans.get_mut(uid).expect("live channel");
        c.priority = priority;
        c.app = app.to_owned();
        c.app_data = data.to_owned();
        let exten = c.exten.clone();
        let mut h = self.snap("", uid);
        h.push(("Extension".into(), exten));
        h.push(("Application".into(), app.into()));
        h.push(("AppData".into(), data.into()));
        self.emit("Newexten", "dialplan", h);
        if self.chance(30) {
            // Noise the model ignores.
            let mut h = self.snap("", uid);
            h.push(("Variable".into(), "QUEUEPOSITION".into()));
            h.push(("Value".into(), "1".into()));
            self.emit("VarSet", "dialplan", h);
        }
    }

    fn set_state(&mut self, uid: &str, state: u8) {
        self.chans.get_mut(uid).expect("live channel").state = state;
        self.chan_event("Newstate", uid, &[]);
    }

    fn hangup(&mut self, uid: &str, cause: u32) {
        let text = if cause == 16 {
            "Normal Clearing"
        } else {
            "User busy"
        };
        self.chan_event("HangupRequest", uid, &[("Cause", cause.to_string())]);
        self.chan_event(
            "Hangup",
            uid,
            &[("Cause", cause.to_string()), ("Cause-txt", text.to_owned())],
        );
        let chan = self.chans.remove(uid).expect("live channel");
        self.emit(
            "Cdr",
            "cdr",
            vec![
                ("Channel".into(), chan.name),
                ("UniqueID".into(), chan.uid),
                ("Disposition".into(), "ANSWERED".into()),
            ],
        );
    }

    fn bridge_headers(&self, id: &str) -> Vec<(String, String)> {
        let n = self.bridges.get(id).map_or(0, Vec::len);
        bridge_snapshot(id, n)
    }

    fn device(&mut self, interface: &str, state: &'static str) {
        self.devices.insert(interface.to_owned(), state);
        self.emit(
            "DeviceStateChange",
            "call",
            vec![
                ("Device".into(), interface.into()),
                ("State".into(), state.into()),
            ],
        );
        let n = interface.trim_start_matches("PJSIP/agent");
        let (status, text) = hint_status(state);
        self.emit(
            "ExtensionStatus",
            "call",
            vec![
                ("Exten".into(), format!("20{n}")),
                ("Context".into(), "agents".into()),
                ("Hint".into(), interface.into()),
                ("Status".into(), status.to_string()),
                ("StatusText".into(), text.into()),
            ],
        );
        // The member's status changes in every queue it is in.
        for qi in 0..self.queues.len() {
            if self.queues[qi]
                .members
                .iter()
                .any(|m| m.interface == interface)
            {
                self.member_event("QueueMemberStatus", qi, interface);
            }
        }
    }

    fn member_event(&mut self, name: &str, qi: usize, interface: &str) {
        let q = &self.queues[qi];
        let m = q
            .members
            .iter()
            .find(|m| m.interface == interface)
            .expect("member")
            .clone();
        let mut h = vec![("Queue".to_owned(), q.name.clone())];
        h.extend(member_headers(&m, self.status_of(&m.interface), false));
        self.emit(name, "agent", h);
    }

    fn status_of(&self, interface: &str) -> u8 {
        device_code(self.devices.get(interface).copied().unwrap_or("UNKNOWN"))
    }

    fn member_mut(&mut self, qi: usize, interface: &str) -> &mut Member {
        self.queues[qi]
            .members
            .iter_mut()
            .find(|m| m.interface == interface)
            .expect("member of the queue")
    }

    fn members_mut(&mut self, interface: &str) -> impl Iterator<Item = &mut Member> + '_ {
        let interface = interface.to_owned();
        self.queues
            .iter_mut()
            .flat_map(|q| q.members.iter_mut())
            .filter(move |m| m.interface == interface)
    }

    // ---- the flows ----

    fn inbound(&mut self) {
        let qi = self.below(self.queues.len() as u64) as usize;
        let number = format!("555{:04}", self.below(10_000));
        let name = format!("Customer {}", self.below(100));
        let seq = self.seq + 1;
        let uid = self.new_channel(
            format!("PJSIP/trunk-{seq:08x}"),
            4,
            (&number, &name),
            "from-trunk",
            "800",
            None,
        );
        self.newexten(&uid, 1, "Answer", "");
        self.set_state(&uid, 6);
        self.enqueue(uid, None, None, qi);
    }

    fn enqueue(&mut self, uid: String, partner: Option<String>, origin: Option<String>, qi: usize) {
        let queue = self.queues[qi].name.clone();
        self.newexten(&uid, 2, "Queue", &queue);
        self.queues[qi].callers.push((uid.clone(), self.now));
        let count = self.queues[qi].callers.len();
        self.chan_event(
            "QueueCallerJoin",
            &uid,
            &[
                ("Queue", queue),
                ("Position", count.to_string()),
                ("Count", count.to_string()),
            ],
        );
        let patience = 8 + self.below(40);
        self.incalls.push(InCall {
            caller: uid,
            partner,
            origin,
            queue: qi,
            joined: self.now,
            patience,
            stage: Stage::Waiting,
        });
    }

    fn originate(&mut self) {
        let n = self.seq;
        let id = format!("dial-{n}");
        let number = format!("555{:04}", self.below(10_000));
        let qi = self.below(self.queues.len() as u64) as usize;
        let queue = self.queues[qi].name.clone();
        let action = Action::new("Originate")
            .header("Channel", format!("Local/{number}@dialer"))
            .header("Context", "queues")
            .header("Exten", queue.clone())
            .header("Priority", "1")
            .header("Async", "true");
        self.flush();
        self.items.push(Item::Sent(
            ActionId::from_bytes(id.clone().into_bytes().into()),
            action,
        ));
        let base = format!("Local/{number}@dialer-{:08x}", n + 1);
        let one = self.new_channel(
            format!("{base};1"),
            0,
            ("<unknown>", "<unknown>"),
            "queues",
            &queue,
            None,
        );
        let two = self.new_channel(
            format!("{base};2"),
            4,
            ("<unknown>", "<unknown>"),
            "dialer",
            &number,
            Some(&one),
        );
        self.newexten(&two, 1, "Dial", &format!("PJSIP/{number}@trunk"));
        let at = self.now + 1 + self.below(4);
        let busy = self.chance(20);
        self.expected.insert(
            id.clone(),
            Expected {
                phase: CallPhase::Dialing,
                hangup_cause: None,
                agent_interface: None,
            },
        );
        self.dialing.push(Dialing {
            id,
            one,
            two,
            queue: qi,
            at,
            busy,
        });
    }

    fn advance_dialing(&mut self) {
        let now = self.now;
        let (due, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut self.dialing)
            .into_iter()
            .partition(|d| d.at <= now);
        self.dialing = waiting;
        for d in due {
            let name = self.chans[&d.one].name.clone();
            if d.busy {
                self.hangup(&d.two, 17);
                self.hangup(&d.one, 17);
                self.emit(
                    "OriginateResponse",
                    "call",
                    originate_response(&d.id, false, &name, "<unknown>"),
                );
                let e = self.expected.get_mut(&d.id).expect("expected");
                e.phase = CallPhase::Failed;
            } else {
                self.set_state(&d.two, 6);
                self.set_state(&d.one, 6);
                self.emit(
                    "OriginateResponse",
                    "call",
                    originate_response(&d.id, true, &name, &d.one),
                );
                self.expected.get_mut(&d.id).expect("expected").phase = CallPhase::Answered;
                self.enqueue(d.one, Some(d.two), Some(d.id), d.queue);
            }
        }
    }

    fn advance_calls(&mut self) {
        let calls = std::mem::take(&mut self.incalls);
        for call in calls {
            if let Some(call) = self.advance_call(call) {
                self.incalls.push(call);
            }
        }
    }

    /// Moves one caller on; `None` when its call is over.
    fn advance_call(&mut self, mut call: InCall) -> Option<InCall> {
        let now = self.now;
        match std::mem::replace(&mut call.stage, Stage::Waiting) {
            Stage::Waiting if now >= call.joined + call.patience => {
                self.abandon(&call);
                None
            }
            Stage::Waiting => {
                let first =
                    self.queues[call.queue].callers.first().map(|c| &c.0) == Some(&call.caller);
                if first {
                    if let Some(interface) = self.free_member(call.queue) {
                        call.stage = self.ring(&call, interface);
                    }
                }
                Some(call)
            }
            Stage::Ringing {
                interface,
                agent,
                until,
                answers,
            } if now >= until => {
                if answers {
                    call.stage = self.connect(&call, interface, agent);
                } else {
                    self.no_answer(&call, &interface, &agent);
                }
                Some(call)
            }
            Stage::Talking {
                interface,
                agent,
                bridge,
                since,
                until,
            } if now >= until => {
                self.finish(&call, &interface, &agent, &bridge, since);
                None
            }
            stage => {
                call.stage = stage;
                Some(call)
            }
        }
    }

    fn free_member(&mut self, qi: usize) -> Option<String> {
        let busy: Vec<String> = self
            .incalls
            .iter()
            .filter_map(|c| match &c.stage {
                Stage::Ringing { interface, .. } | Stage::Talking { interface, .. } => {
                    Some(interface.clone())
                }
                Stage::Waiting => None,
            })
            .chain(self.lingering.iter().map(|l| l.0.clone()))
            .collect();
        let free: Vec<String> = self.queues[qi]
            .members
            .iter()
            .filter(|m| !m.paused && !m.in_call && !busy.contains(&m.interface))
            .filter(|m| self.devices.get(&m.interface) == Some(&"NOT_INUSE"))
            .map(|m| m.interface.clone())
            .collect();
        if free.is_empty() {
            return None;
        }
        let i = self.below(free.len() as u64) as usize;
        Some(free[i].clone())
    }

    fn ring(&mut self, call: &InCall, interface: String) -> Stage {
        let seq = self.seq + 1;
        let n = interface.trim_start_matches("PJSIP/agent").to_owned();
        let agent = self.new_channel(
            format!("{interface}-{seq:08x}"),
            0,
            (&format!("20{n}"), &format!("Agent {n}")),
            "agents",
            &format!("20{n}"),
            None,
        );
        self.newexten(&agent, 1, "AppDial", "(Outgoing Line)");
        let queue = self.queues[call.queue].name.clone();
        let member = self.member_name(call.queue, &interface);
        self.two_chan_event(
            "AgentCalled",
            "agent",
            &call.caller,
            &agent,
            vec![
                ("Queue".into(), queue),
                ("MemberName".into(), member),
                ("Interface".into(), interface.clone()),
            ],
        );
        self.two_chan_event(
            "DialBegin",
            "call",
            &call.caller,
            &agent,
            vec![(
                "DialString".into(),
                interface.trim_start_matches("PJSIP/").into(),
            )],
        );
        self.set_state(&agent, 5);
        self.device(&interface, "RINGING");
        let until = self.now + 1 + self.below(3);
        let answers = self.chance(80);
        Stage::Ringing {
            interface,
            agent,
            until,
            answers,
        }
    }

    fn member_name(&self, qi: usize, interface: &str) -> String {
        self.queues[qi]
            .members
            .iter()
            .find(|m| m.interface == interface)
            .map_or_else(String::new, |m| m.name.clone())
    }

    fn no_answer(&mut self, call: &InCall, interface: &str, agent: &str) {
        // Two DialEnds for one DialBegin: NOANSWER, then CANCEL.
        for status in ["NOANSWER", "CANCEL"] {
            self.two_chan_event(
                "DialEnd",
                "call",
                &call.caller,
                agent,
                vec![("DialStatus".into(), status.into())],
            );
        }
        let queue = self.queues[call.queue].name.clone();
        let member = self.member_name(call.queue, interface);
        self.two_chan_event(
            "AgentRingNoAnswer",
            "agent",
            &call.caller,
            agent,
            vec![
                ("Queue".into(), queue),
                ("MemberName".into(), member),
                ("Interface".into(), interface.into()),
                ("RingTime".into(), "2".into()),
            ],
        );
        self.hangup(agent, 16);
        self.device(interface, "NOT_INUSE");
    }

    fn connect(&mut self, call: &InCall, interface: String, agent: String) -> Stage {
        let now = self.now;
        self.set_state(&agent, 6);
        self.two_chan_event(
            "DialEnd",
            "call",
            &call.caller,
            &agent,
            vec![("DialStatus".into(), "ANSWER".into())],
        );
        let hold = (now - call.joined) as u32;
        let q = &mut self.queues[call.queue];
        q.holdtime = if q.completed + q.abandoned == 0 {
            hold
        } else {
            ((q.holdtime as u64 * 3 + hold as u64) >> 2) as u32
        };
        let queue = q.name.clone();
        let member = self.member_name(call.queue, &interface);
        // AgentConnect comes before the bridge.
        self.two_chan_event(
            "AgentConnect",
            "agent",
            &call.caller,
            &agent,
            vec![
                ("Queue".into(), queue.clone()),
                ("MemberName".into(), member),
                ("Interface".into(), interface.clone()),
                ("RingTime".into(), "1".into()),
                ("HoldTime".into(), hold.to_string()),
            ],
        );
        // In a call in this queue only: app_queue keeps it per queue.
        self.member_mut(call.queue, &interface).in_call = true;
        self.leave_queue(call);
        self.seq += 1;
        let tail = self.next() & 0xffff_ffff_ffff;
        let bridge = format!("b{:07x}-0000-4000-8000-{tail:012x}", self.seq);
        self.bridges.insert(bridge.clone(), Vec::new());
        let h = self.bridge_headers(&bridge);
        self.emit("BridgeCreate", "call", h);
        // The agent's Linkedid becomes the caller's with no event of its
        // own: only its BridgeEnter shows it.
        let linked = self.chans[&call.caller].linkedid.clone();
        self.chans.get_mut(&agent).expect("agent").linkedid = linked;
        for uid in [&call.caller, &agent] {
            self.bridges
                .get_mut(&bridge)
                .expect("bridge")
                .push(uid.clone());
            self.chans.get_mut(uid.as_str()).expect("live").bridge = Some(bridge.clone());
            let mut h = self.bridge_headers(&bridge);
            h.extend(self.snap("", uid));
            self.emit("BridgeEnter", "call", h);
        }
        self.device(&interface, "INUSE");
        if let Some(id) = &call.origin {
            let e = self.expected.get_mut(id).expect("expected");
            e.phase = CallPhase::Connected;
            e.agent_interface = Some(interface.clone());
        }
        let until = now + 3 + self.below(18);
        Stage::Talking {
            interface,
            agent,
            bridge,
            since: now,
            until,
        }
    }

    fn leave_queue(&mut self, call: &InCall) {
        let q = &mut self.queues[call.queue];
        let pos = q
            .callers
            .iter()
            .position(|c| c.0 == call.caller)
            .expect("waiting")
            + 1;
        q.callers.remove(pos - 1);
        let count = q.callers.len();
        let queue = q.name.clone();
        self.chan_event(
            "QueueCallerLeave",
            &call.caller,
            &[
                ("Queue", queue),
                ("Count", count.to_string()),
                ("Position", pos.to_string()),
            ],
        );
    }

    fn abandon(&mut self, call: &InCall) {
        let q = &mut self.queues[call.queue];
        q.abandoned += 1;
        let pos = q
            .callers
            .iter()
            .position(|c| c.0 == call.caller)
            .expect("waiting")
            + 1;
        let queue = q.name.clone();
        let held = self.now - call.joined;
        self.chan_event(
            "QueueCallerAbandon",
            &call.caller,
            &[
                ("Queue", queue),
                ("Position", pos.to_string()),
                ("OriginalPosition", pos.to_string()),
                ("HoldTime", held.to_string()),
            ],
        );
        self.leave_queue(call);
        self.end_caller(call);
    }

    /// The caller (and its Local partner) hang up.
    fn end_caller(&mut self, call: &InCall) {
        self.hangup(&call.caller, 16);
        if let Some(partner) = &call.partner {
            self.hangup(partner, 16);
        }
        if let Some(id) = &call.origin {
            let e = self.expected.get_mut(id).expect("expected");
            e.phase = CallPhase::Ended;
            e.hangup_cause = Some(16);
        }
    }

    fn finish(&mut self, call: &InCall, interface: &str, agent: &str, bridge: &str, since: u64) {
        // One call in six: the agent is redirected elsewhere (a blind
        // transfer); the bridge goes and the caller is hung up.
        let transfer = self.chance(17);
        let order: Vec<&str> = if transfer {
            vec![agent, &call.caller]
        } else {
            vec![&call.caller, agent]
        };
        for (i, uid) in order.iter().enumerate() {
            let mut h = self.bridge_headers(bridge);
            h.extend(self.snap("", uid));
            self.emit("BridgeLeave", "call", h);
            self.bridges
                .get_mut(bridge)
                .expect("bridge")
                .retain(|u| u != uid);
            self.chans.get_mut(*uid).expect("live").bridge = None;
            if transfer && i == 0 {
                let c = self.chans.get_mut(agent).expect("agent");
                c.context = "transfer".into();
                c.exten = "100".into();
                self.newexten(agent, 1, "Wait", "2");
            }
        }
        let h = self.bridge_headers(bridge);
        self.bridges.remove(bridge);
        self.emit("BridgeDestroy", "call", h);
        let talk = (self.now - since) as u32;
        let q = &mut self.queues[call.queue];
        q.completed += 1;
        q.talktime = if q.completed == 1 {
            talk
        } else {
            ((q.talktime as u64 * 3 + talk as u64) >> 2) as u32
        };
        let queue = q.name.clone();
        let member = self.member_name(call.queue, interface);
        let reason = if transfer { "transfer" } else { "caller" };
        self.two_chan_event(
            "AgentComplete",
            "agent",
            &call.caller,
            agent,
            vec![
                ("Queue".into(), queue),
                ("MemberName".into(), member),
                ("Interface".into(), interface.into()),
                ("HoldTime".into(), (since - call.joined).to_string()),
                ("TalkTime".into(), talk.to_string()),
                ("Reason".into(), reason.into()),
            ],
        );
        let now = self.now;
        let qi = call.queue;
        let m = self.member_mut(qi, interface);
        m.calls += 1;
        m.last_call = now;
        m.in_call = false;
        self.end_caller(call);
        if transfer {
            self.member_event("QueueMemberStatus", qi, interface);
            self.lingering
                .push((interface.to_owned(), agent.to_owned(), now + 2));
        } else {
            self.hangup(agent, 16);
            self.device(interface, "NOT_INUSE");
        }
    }

    fn advance_lingering(&mut self) {
        let now = self.now;
        let (due, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.lingering)
            .into_iter()
            .partition(|l| l.2 <= now);
        self.lingering = later;
        for (interface, agent, _) in due {
            self.hangup(&agent, 16);
            self.device(&interface, "NOT_INUSE");
        }
    }

    fn toggle_pause(&mut self) {
        let qi = self.below(self.queues.len() as u64) as usize;
        let n = self.queues[qi].members.len();
        if n == 0 {
            return;
        }
        let mi = self.below(n as u64) as usize;
        let now = self.now;
        let interface = self.queues[qi].members[mi].interface.clone();
        let paused = !self.queues[qi].members[mi].paused;
        for m in self.members_mut(&interface) {
            m.paused = paused;
            m.reason = if paused {
                "lunch".into()
            } else {
                String::new()
            };
            if paused {
                m.last_pause = now;
            }
        }
        for qi in 0..self.queues.len() {
            if self.queues[qi]
                .members
                .iter()
                .any(|m| m.interface == interface)
            {
                self.member_event("QueueMemberPause", qi, &interface);
            }
        }
    }

    fn toggle_dynamic_member(&mut self) {
        const DYNAMIC: &str = "PJSIP/agent9";
        let qi = 1;
        let present = self.queues[qi]
            .members
            .iter()
            .position(|m| m.interface == DYNAMIC);
        match present {
            Some(i) => {
                let busy = self.queues[qi].members[i].in_call
                    || self.devices.get(DYNAMIC) != Some(&"NOT_INUSE")
                    || self.lingering.iter().any(|l| l.0 == DYNAMIC);
                if !busy {
                    self.member_event("QueueMemberRemoved", qi, DYNAMIC);
                    self.queues[qi].members.remove(i);
                }
            }
            None => {
                self.queues[qi].members.push(Member {
                    interface: DYNAMIC.into(),
                    name: "Agent 9".into(),
                    dynamic: true,
                    penalty: 0,
                    calls: 0,
                    last_call: 0,
                    last_pause: 0,
                    login: self.now,
                    in_call: false,
                    paused: false,
                    reason: String::new(),
                });
                self.member_event("QueueMemberAdded", qi, DYNAMIC);
            }
        }
    }

    // ---- the server's lists ----

    /// The answers to `CoreShowChannels`, `BridgeList`, `QueueStatus`,
    /// `ExtensionStateList` and `DeviceStateList`, with ActionIDs
    /// `<prefix>-1` to `<prefix>-5`, as wire text.
    pub fn lists(&self, prefix: &str) -> String {
        let mut out = String::new();
        let mut list = |n: u32, what: &str, complete: &str, items: Vec<String>| {
            let id = format!("{prefix}-{n}");
            out += &format!("Response: Success\r\nActionID: {id}\r\nEventList: start\r\nMessage: {what} will follow\r\n\r\n");
            for item in &items {
                out += &item.replace("{ID}", &id);
            }
            out += &format!(
                "Event: {complete}\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: {}\r\n\r\n",
                items.len()
            );
        };
        let lines = |head: &str, headers: Vec<(String, String)>, tail: &str| {
            let mut s = head.to_owned();
            for (n, v) in headers {
                s += &format!("{n}: {v}\r\n");
            }
            s + tail + "\r\n"
        };
        let channels = self
            .chans
            .values()
            .map(|c| {
                let mut h = snapshot("", c);
                h.push(("Application".into(), c.app.clone()));
                h.push(("ApplicationData".into(), c.app_data.clone()));
                h.push(("Duration".into(), "00:00:01".into()));
                h.push(("BridgeId".into(), c.bridge.clone().unwrap_or_default()));
                lines("Event: CoreShowChannel\r\nActionID: {ID}\r\n", h, "")
            })
            .collect();
        list(1, "Channels", "CoreShowChannelsComplete", channels);
        let bridges = self
            .bridges
            .iter()
            .map(|(id, members)| {
                lines(
                    "Event: BridgeListItem\r\nActionID: {ID}\r\n",
                    bridge_snapshot(id, members.len()),
                    "",
                )
            })
            .collect();
        list(2, "Bridge listing", "BridgeListComplete", bridges);
        let mut queue_items = Vec::new();
        for q in &self.queues {
            let params = vec![
                ("Queue", q.name.clone()),
                ("Max", "0".into()),
                ("Strategy", "rrmemory".into()),
                ("Calls", q.callers.len().to_string()),
                ("Holdtime", q.holdtime.to_string()),
                ("TalkTime", q.talktime.to_string()),
                ("Completed", q.completed.to_string()),
                ("Abandoned", q.abandoned.to_string()),
                ("ServiceLevel", "60".into()),
                ("ServicelevelPerf", "0.0".into()),
                ("ServicelevelPerf2", "0.0".into()),
                ("Weight", "0".into()),
            ];
            let params = params.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
            queue_items.push(lines(
                "Event: QueueParams\r\n",
                params,
                "ActionID: {ID}\r\n",
            ));
            for m in &q.members {
                let mut h = vec![("Queue".to_owned(), q.name.clone())];
                h.extend(member_headers(m, self.status_of(&m.interface), true));
                queue_items.push(lines("Event: QueueMember\r\n", h, "ActionID: {ID}\r\n"));
            }
            for (i, (uid, joined)) in q.callers.iter().enumerate() {
                let c = &self.chans[uid];
                let h = vec![
                    ("Queue", q.name.clone()),
                    ("Position", (i + 1).to_string()),
                    ("Channel", c.name.clone()),
                    ("Uniqueid", c.uid.clone()),
                    ("CallerIDNum", c.cid_num.clone()),
                    ("CallerIDName", c.cid_name.clone()),
                    ("ConnectedLineNum", "unknown".into()),
                    ("ConnectedLineName", "unknown".into()),
                    ("Wait", (self.now - joined).to_string()),
                    ("Priority", "0".into()),
                ];
                let h = h.into_iter().map(|(n, v)| (n.to_owned(), v)).collect();
                queue_items.push(lines("Event: QueueEntry\r\n", h, "ActionID: {ID}\r\n"));
            }
        }
        list(3, "Queue status", "QueueStatusComplete", queue_items);
        let hints = self
            .devices
            .iter()
            .map(|(device, state)| {
                let n = device.trim_start_matches("PJSIP/agent");
                let (status, text) = hint_status(state);
                let h = vec![
                    ("Exten".to_owned(), format!("20{n}")),
                    ("Context".to_owned(), "agents".to_owned()),
                    ("Hint".to_owned(), device.clone()),
                    ("Status".to_owned(), status.to_string()),
                    ("StatusText".to_owned(), text.to_owned()),
                ];
                lines("Event: ExtensionStatus\r\nActionID: {ID}\r\n", h, "")
            })
            .collect();
        list(4, "Extension Statuses", "ExtensionStateListComplete", hints);
        let devices = self
            .devices
            .iter()
            .map(|(device, state)| {
                let h = vec![
                    ("Device".to_owned(), device.clone()),
                    ("State".to_owned(), state.to_string()),
                ];
                lines("Event: DeviceStateChange\r\nActionID: {ID}\r\n", h, "")
            })
            .collect();
        list(
            5,
            "Device State Changes",
            "DeviceStateListComplete",
            devices,
        );
        out
    }

    /// Channels up, callers waiting, bridges: for tests that want traffic.
    pub fn load(&self) -> (usize, usize, usize) {
        let waiting = self.queues.iter().map(|q| q.callers.len()).sum();
        (self.chans.len(), waiting, self.bridges.len())
    }
}

fn bridge_snapshot(id: &str, members: usize) -> Vec<(String, String)> {
    [
        ("BridgeUniqueid", id.to_owned()),
        ("BridgeType", "basic".to_owned()),
        ("BridgeTechnology", "simple_bridge".to_owned()),
        ("BridgeCreator", "<unknown>".to_owned()),
        ("BridgeName", "<unknown>".to_owned()),
        ("BridgeNumChannels", members.to_string()),
        ("BridgeVideoSourceMode", "none".to_owned()),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v))
    .collect()
}

/// A member's headers: the list item's spelling (`Name`, `Location`, no
/// `Ringinuse`) or the event's (`MemberName`, `Interface`).
fn member_headers(m: &Member, status: u8, listed: bool) -> Vec<(String, String)> {
    let (name, location) = if listed {
        ("Name", "Location")
    } else {
        ("MemberName", "Interface")
    };
    let mut h = vec![
        (name, m.name.clone()),
        (location, m.interface.clone()),
        ("StateInterface", m.interface.clone()),
        (
            "Membership",
            if m.dynamic { "dynamic" } else { "static" }.into(),
        ),
        ("Penalty", m.penalty.to_string()),
        ("CallsTaken", m.calls.to_string()),
        ("LastCall", m.last_call.to_string()),
        ("LastPause", m.last_pause.to_string()),
        ("LoginTime", m.login.to_string()),
        ("InCall", u8::from(m.in_call).to_string()),
        ("Status", status.to_string()),
        ("Paused", u8::from(m.paused).to_string()),
        ("PausedReason", m.reason.clone()),
    ];
    if !listed {
        h.push(("Ringinuse", "0".into()));
    }
    h.push(("Wrapuptime", "0".into()));
    h.into_iter().map(|(n, v)| (n.to_owned(), v)).collect()
}

fn originate_response(id: &str, success: bool, channel: &str, uid: &str) -> Vec<(String, String)> {
    [
        ("ActionID", id),
        ("Response", if success { "Success" } else { "Failure" }),
        ("Channel", channel),
        ("Context", "queues"),
        ("Exten", "support"),
        ("Reason", if success { "4" } else { "5" }),
        ("Uniqueid", uid),
        ("CallerIDNum", "<unknown>"),
        ("CallerIDName", "<unknown>"),
    ]
    .into_iter()
    .map(|(n, v)| (n.to_owned(), v.to_owned()))
    .collect()
}

fn device_code(state: &str) -> u8 {
    match state {
        "NOT_INUSE" => 1,
        "INUSE" => 2,
        "RINGING" => 6,
        _ => 0,
    }
}

fn hint_status(state: &str) -> (i32, &'static str) {
    match state {
        "INUSE" => (1, "InUse"),
        "RINGING" => (8, "Ringing"),
        _ => (0, "Idle"),
    }
}

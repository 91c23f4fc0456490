//! Calls: channels, the dialplan interpreter, answers, hangups and CDRs,
//! with the events Asterisk 22 publishes for each, in its order.
//!
//! The sequences follow the captures (`09-originate-async.raw`, 19, 21 and
//! 23: a Local call whose `;2` half runs the dialplan while `;1` runs the
//! Originate's application) and `main/core_local.c`, `core_unreal.c`,
//! `dial.c`, `pbx.c` for the cases no capture shows (busy, congestion, no
//! answer, a missing extension). Asterisk publishes channel events, CDRs,
//! device states and Originate results from different threads, so their
//! interleaving varies between runs of the same call; the order of each
//! channel's own events does not, and that is what this model keeps.

use std::time::Instant;

use crate::pbx::chan::{cause_text, Chan, ChanId, Exec, State};
use crate::pbx::dial::Dialer;
use crate::pbx::{wait_duration, PbxState, Wake};
use crate::perm::Classes;
use crate::rng::civil;
use crate::wire::W;

impl PbxState {
    // ----- channels ------------------------------------------------------

    /// A new channel (`Newchannel`).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new_chan(
        &mut self,
        name: String,
        device: &str,
        context: &str,
        exten: &str,
        state: State,
        linkedid: Option<String>,
        at: Instant,
    ) -> ChanId {
        self.next_chan += 1;
        let id = self.next_chan;
        let uniqueid = self.next_uniqueid(at);
        let chan = Chan {
            name,
            linkedid: linkedid.unwrap_or_else(|| uniqueid.clone()),
            uniqueid,
            state,
            caller: (None, None),
            connected: (None, None),
            context: context.to_string(),
            exten: exten.to_string(),
            priority: 1,
            app: String::new(),
            appdata: String::new(),
            vars: Default::default(),
            peer: None,
            device: device.to_string(),
            exec: Exec::Held,
            dialer: None,
            created: at,
            answered: None,
            hangup_cause: 0,
            cdr_dst: exten.to_string(),
            cdr_dcontext: context.to_string(),
            cdr_app: (String::new(), String::new()),
            cdr_peer: String::new(),
            dying: false,
        };
        self.chans.insert(id, chan);
        self.chan_event(Classes::CALL, "Newchannel", id, |w| w);
        self.member_device_changed(device, at);
        id
    }

    /// A Local channel pair to `exten@context` (`Newchannel` for each half).
    pub(crate) fn new_local_pair(
        &mut self,
        exten: &str,
        context: &str,
        at: Instant,
    ) -> (ChanId, ChanId) {
        let seq = self.local_seq;
        self.local_seq = self.local_seq.wrapping_add(1);
        let device = format!("Local/{exten}@{context}");
        let one = self.new_chan(
            format!("{device}-{seq:08x};1"),
            &device,
            context,
            exten,
            State::Down,
            None,
            at,
        );
        let linked = self.chans[&one].linkedid.clone();
        let two = self.new_chan(
            format!("{device}-{seq:08x};2"),
            &device,
            context,
            exten,
            State::Ring,
            Some(linked),
            at,
        );
        self.chans.get_mut(&one).expect("just made").peer = Some(two);
        self.chans.get_mut(&two).expect("just made").peer = Some(one);
        (one, two)
    }

    /// A call up before the server started: `Local/long@test` answered,
    /// its `halves` (1 or 2) in `Wait(60)`, no events.
    pub(crate) fn stage_call(&mut self, halves: u32, at: Instant) {
        let seq = self.local_seq;
        self.local_seq = self.local_seq.wrapping_add(1);
        let device = "Local/long@test".to_string();
        let mut ids = Vec::new();
        for half in 1..=halves {
            self.next_chan += 1;
            let id = self.next_chan;
            let uniqueid = self.next_uniqueid(at);
            let linkedid = ids
                .first()
                .map(|first: &ChanId| self.chans[first].linkedid.clone())
                .unwrap_or_else(|| uniqueid.clone());
            self.chans.insert(
                id,
                Chan {
                    name: format!("{device}-{seq:08x};{half}"),
                    uniqueid,
                    linkedid,
                    state: State::Up,
                    caller: (None, None),
                    connected: (None, None),
                    context: "test".into(),
                    exten: "long".into(),
                    priority: half,
                    app: "Wait".into(),
                    appdata: "60".into(),
                    vars: Default::default(),
                    peer: None,
                    device: device.clone(),
                    exec: Exec::Held,
                    dialer: None,
                    created: at,
                    answered: Some(at),
                    hangup_cause: 0,
                    cdr_dst: "long".into(),
                    cdr_dcontext: "test".into(),
                    cdr_app: ("Wait".into(), "60".into()),
                    cdr_peer: String::new(),
                    dying: false,
                },
            );
            ids.push(id);
        }
        if let [one, two] = ids[..] {
            self.chans.get_mut(&one).expect("made").peer = Some(two);
            self.chans.get_mut(&two).expect("made").peer = Some(one);
        }
        self.processed += 1;
    }

    /// `LocalBridge`: the two halves of a Local pair whose `;2` starts (the
    /// dialplan), with `LocalOptimization: Yes` unless the dial string said
    /// `/n`.
    pub(super) fn local_bridge_event(&mut self, one: ChanId, optimize: bool) {
        let Some(two) = self.peer(one) else {
            return;
        };
        let (a, b) = (self.chans[&one].clone(), self.chans[&two].clone());
        let w = W::event("LocalBridge").h("Privilege", Classes::CALL.to_string());
        let w = b
            .snapshot(a.snapshot(w, "LocalOne"), "LocalTwo")
            .h("Context", &a.context)
            .h("Exten", &a.exten)
            .h("LocalOptimization", if optimize { "Yes" } else { "No" });
        self.deliver(crate::pbx::Event {
            classes: Classes::CALL,
            text: w.done(),
        });
    }

    /// Which half of a Local pair (`1`, `2`), or 0 for another channel.
    pub(super) fn half(&self, id: ChanId) -> u8 {
        match self.chans.get(&id).map(|c| c.name.as_bytes()) {
            Some([.., b';', b'1']) => 1,
            Some([.., b';', b'2']) => 2,
            _ => 0,
        }
    }

    pub(super) fn peer(&self, id: ChanId) -> Option<ChanId> {
        self.chans
            .get(&id)
            .and_then(|c| c.peer)
            .filter(|p| self.chans.contains_key(p))
    }

    pub(super) fn set_state(&mut self, id: ChanId, state: State, at: Instant) {
        let Some(c) = self.chans.get_mut(&id) else {
            return;
        };
        if c.state == state {
            return;
        }
        c.state = state;
        if state == State::Up && c.answered.is_none() {
            c.answered = Some(at);
        }
        self.chan_event(Classes::CALL, "Newstate", id, |w| w);
    }

    /// Sets caller id (and connected line, as Originate does) with events.
    pub(super) fn set_callerid(&mut self, id: ChanId, caller: &(Option<String>, Option<String>)) {
        if caller.0.is_none() && caller.1.is_none() {
            return;
        }
        if let Some(c) = self.chans.get_mut(&id) {
            c.caller = caller.clone();
        }
        self.chan_event(Classes::CALL, "NewCallerid", id, |w| {
            w.h("CID-CallingPres", "0 (Presentation Allowed, Not Screened)")
        });
        if let Some(c) = self.chans.get_mut(&id) {
            c.connected = caller.clone();
        }
        self.chan_event(Classes::CALL, "NewConnectedLine", id, |w| w);
    }

    /// Sets the running application and publishes `Newexten`.
    pub(super) fn newexten(&mut self, id: ChanId, app: &str, data: &str) {
        let Some(c) = self.chans.get_mut(&id) else {
            return;
        };
        c.app = app.to_string();
        c.appdata = data.to_string();
        let exten = c.exten.clone();
        self.chan_event(Classes::DIALPLAN, "Newexten", id, |w| {
            w.h("Extension", exten)
                .h("Application", app)
                .h("AppData", data)
        });
    }

    // ----- the dialplan --------------------------------------------------

    /// A `Wait` ended (dialplan or the Originate's application).
    pub(crate) fn resume(&mut self, id: ChanId, now: Instant) {
        match self.chans.get(&id).map(|c| c.exec.clone()) {
            Some(Exec::Dialplan) => {
                if let Some(c) = self.chans.get_mut(&id) {
                    c.priority += 1;
                }
                self.run(id, now);
            }
            Some(Exec::App) => {
                let cause = self.chans[&id].hangup_cause;
                self.hangup_chan(id, cause, now);
            }
            _ => {}
        }
    }

    /// Runs the dialplan from the channel's priority until an application
    /// waits or the channel goes.
    pub(crate) fn run(&mut self, id: ChanId, now: Instant) {
        loop {
            let Some(c) = self.chans.get(&id) else {
                return;
            };
            if c.dying || c.exec != Exec::Dialplan {
                return;
            }
            let (context, exten, priority) = (c.context.clone(), c.exten.clone(), c.priority);
            let step = self
                .find_exten(&context, &exten)
                .and_then(|e| e.priorities().get(priority as usize - 1).cloned());
            let Some((app, data)) = step else {
                // Autofallthrough: the dialplan ran out.
                let cause = c.hangup_cause;
                self.end_dialplan(id, cause, now);
                return;
            };
            let data = self.substitute(id, &data);
            self.newexten(id, &app, &data);
            if let Some(c) = self.chans.get_mut(&id) {
                c.cdr_app = (app.clone(), data.clone());
            }
            match app.to_ascii_lowercase().as_str() {
                "answer" => self.answer(id, now),
                "ringing" => self.ringing(id, now),
                "set" => {
                    if let Some((name, value)) = data.split_once('=') {
                        self.write_var(Some(id), name, value);
                    }
                }
                "userevent" => self.dialplan_userevent(id, &data),
                "wait" => {
                    self.schedule(now + wait_duration(&data), Wake::Resume(id));
                    return;
                }
                "hangup" => {
                    let cause = data
                        .trim()
                        .parse::<u32>()
                        .ok()
                        .filter(|&c| c > 0)
                        .unwrap_or_else(|| match self.chans[&id].hangup_cause {
                            0 => 16,
                            c => c,
                        });
                    self.end_dialplan(id, cause, now);
                    return;
                }
                "busy" => {
                    self.indicate_failure(id, "BUSY", 17, now);
                    return;
                }
                "congestion" => {
                    self.indicate_failure(id, "CONGESTION", 34, now);
                    return;
                }
                "goto" => {
                    let parts: Vec<&str> = data.split(',').map(str::trim).collect();
                    let (ctx, ext, prio) = match parts.as_slice() {
                        [p] => (context.clone(), exten.clone(), *p),
                        [e, p] => (context.clone(), e.to_string(), *p),
                        [c, e, p, ..] => (c.to_string(), e.to_string(), *p),
                        [] => (context.clone(), exten.clone(), "1"),
                    };
                    if let Some(c) = self.chans.get_mut(&id) {
                        c.context = ctx;
                        c.exten = ext;
                        c.priority = prio.parse().unwrap_or(1);
                    }
                    continue;
                }
                "queue" => {
                    self.queue_join(id, &data, now);
                    return;
                }
                "echo" | "musiconhold" | "playback" => return,
                _ => {}
            }
            if let Some(c) = self.chans.get_mut(&id) {
                c.priority += 1;
            }
        }
    }

    /// `UserEvent(Name,Header: value,...)` from the dialplan.
    pub(super) fn dialplan_userevent(&mut self, id: ChanId, data: &str) {
        let mut parts = data.split(',');
        let name = parts.next().unwrap_or("").to_string();
        let headers: Vec<(String, String)> = parts
            .filter_map(|p| {
                p.split_once(':')
                    .map(|(k, v)| (k.trim().to_string(), v.trim_start().to_string()))
            })
            .collect();
        self.chan_event(Classes::USER, "UserEvent", id, |w| {
            headers
                .iter()
                .fold(w.h("UserEvent", &name), |w, (k, v)| w.h(k, v))
        });
    }

    /// The dialplan of `id` ends: `SoftHangupRequest`, the `h` extension,
    /// then the hangup with `cause`.
    pub(crate) fn end_dialplan(&mut self, id: ChanId, cause: u32, now: Instant) {
        let Some(c) = self.chans.get(&id) else {
            return;
        };
        if c.dying {
            return;
        }
        self.cancel(&Wake::Resume(id));
        // AST_SOFTHANGUP_APPUNLOAD: the "cause" is the flag, 16.
        self.chan_event(Classes::CALL, "SoftHangupRequest", id, |w| {
            w.h("Cause", "16")
        });
        let context = self.chans[&id].context.clone();
        if self.chans[&id].exten != "h" {
            if let Some(h) = self.find_exten(&context, "h") {
                if let Some(c) = self.chans.get_mut(&id) {
                    c.exten = "h".into();
                    c.priority = 1;
                }
                for (app, data) in h.priorities() {
                    let data = self.substitute(id, data);
                    self.newexten(id, app, &data);
                    if let Some(c) = self.chans.get_mut(&id) {
                        c.priority += 1;
                    }
                }
            }
        }
        self.hangup_chan(id, cause, now);
    }

    /// Answers a channel; for a Local `;2`, the `;1` its dialer waits on
    /// too; then the dialer's part.
    pub(crate) fn answer(&mut self, id: ChanId, now: Instant) {
        if !self.chans.contains_key(&id) {
            return;
        }
        match self.half(id) {
            1 => {
                if let Some(two) = self.peer(id) {
                    self.set_state(two, State::Up, now);
                }
                self.set_state(id, State::Up, now);
                self.dial_answered(id, now);
            }
            2 => {
                self.set_state(id, State::Up, now);
                if let Some(one) = self.peer(id) {
                    if self.chans[&one].exec == Exec::Dialing {
                        self.set_state(one, State::Up, now);
                        self.dial_answered(one, now);
                    }
                }
            }
            _ => {
                self.set_state(id, State::Up, now);
                if self.chans.get(&id).is_some_and(|c| c.exec == Exec::Dialing) {
                    self.dial_answered(id, now);
                }
            }
        }
    }

    /// `Ringing()` on `;2` (or a ringing device): the dialed channel rings.
    pub(super) fn ringing(&mut self, id: ChanId, now: Instant) {
        let dialed = match self.half(id) {
            2 => self.peer(id),
            _ => Some(id),
        };
        let Some(dialed) = dialed else { return };
        let c = &self.chans[&dialed];
        if c.exec != Exec::Dialing || c.state == State::Ringing {
            return;
        }
        self.set_state(dialed, State::Ringing, now);
        self.dial_event(dialed, Some("RINGING"), "");
    }

    /// `Busy()` / `Congestion()` on `;2`: its dialer gives up.
    pub(super) fn indicate_failure(&mut self, id: ChanId, status: &str, cause: u32, now: Instant) {
        if self.chans.get(&id).is_some_and(|c| c.state != State::Up) {
            if let Some(c) = self.chans.get_mut(&id) {
                c.hangup_cause = cause;
            }
            self.set_state(id, State::Busy, now);
        }
        if let Some(one) = self.peer(id) {
            if self.chans[&one].exec == Exec::Dialing {
                self.dial_failed(one, status, cause, now);
            }
        }
    }

    // ----- hangups -------------------------------------------------------

    /// An AMI `Hangup` of channel `id` with `cause` (0: keep its own).
    pub(crate) fn hangup_request(&mut self, id: ChanId, cause: u32, now: Instant) {
        if let Some(c) = self.chans.get_mut(&id) {
            if cause > 0 {
                c.hangup_cause = cause;
            }
        }
        self.interrupt(id, now);
    }

    /// Something asked `id` to go: what runs on it stops, then it goes.
    pub(super) fn interrupt(&mut self, id: ChanId, now: Instant) {
        let Some(c) = self.chans.get(&id) else {
            return;
        };
        let cause = c.hangup_cause;
        match c.exec.clone() {
            Exec::Dialplan => self.end_dialplan(id, cause, now),
            Exec::Queued => {
                self.queue_abandon(id, now);
                self.end_dialplan(id, cause, now);
            }
            Exec::Dialing => {
                // The dialer sees its channel go before any answer.
                match self.chans[&id].dialer {
                    Some(Dialer::Originate(o)) => {
                        self.cancel(&Wake::DialTimeout(o));
                        self.hangup_chan(id, cause, now);
                        self.originate_done(o, false, 1, now);
                    }
                    Some(Dialer::Queue { caller }) => {
                        self.queue_member_failed(caller, id, "CANCEL", now)
                    }
                    None => self.hangup_chan(id, cause, now),
                }
            }
            _ => self.hangup_chan(id, cause, now),
        }
    }

    /// Channel `id` goes away (`ast_hangup`): its bridge, the hangup
    /// request to its Local peer, `Hangup`, its CDR, then the peer's end.
    pub(crate) fn hangup_chan(&mut self, id: ChanId, cause: u32, now: Instant) {
        let Some(c) = self.chans.get_mut(&id) else {
            return;
        };
        if c.dying {
            return;
        }
        c.dying = true;
        if cause > 0 {
            c.hangup_cause = cause;
        }
        let cause = c.hangup_cause;
        if self.queue_of_caller(id).is_some() {
            self.queue_abandon(id, now);
        }
        for wake in [Wake::Resume(id), Wake::Answer(id), Wake::DeviceHangup(id)] {
            self.cancel(&wake);
        }
        let ejected = self.leave_bridge(id);
        // core_unreal: ;2 going always tells ;1; ;1 going tells ;2 only
        // when ;2 runs something (else ;2 is hung up directly).
        let peer = self.peer(id).filter(|p| !self.chans[p].dying);
        let request = match (self.half(id), peer) {
            (2, Some(_)) => true,
            (1, Some(p)) => self.chans[&p].exec != Exec::Held || self.chans[&p].answered.is_some(),
            _ => false,
        };
        if let (true, Some(p)) = (request, peer) {
            self.chan_event(Classes::CALL, "HangupRequest", p, |w| {
                w.h("Cause", cause.to_string())
            });
            if cause > 0 {
                if let Some(pc) = self.chans.get_mut(&p) {
                    pc.hangup_cause = cause;
                }
            }
        }
        self.chan_event(Classes::CALL, "Hangup", id, |w| {
            w.h("Cause", cause.to_string())
                .h("Cause-txt", cause_text(cause))
        });
        let gone = self.chans.remove(&id).expect("checked above");
        self.cdr(&gone, now);
        // The last channel of an answered Local device: it is free again
        // (two events, as when it became busy).
        let last = !self.chans.values().any(|c| c.device == gone.device);
        if last && gone.answered.is_some() && gone.device.starts_with("Local/") {
            for _ in 0..2 {
                self.device_changed(&gone.device);
            }
        }
        self.member_device_changed(&gone.device, now);
        if let Some(p) = peer {
            self.interrupt(p, now);
        }
        for other in ejected {
            self.after_bridge(other, cause, now);
        }
    }

    /// An AMI `Redirect`: the channel drops what it runs (a bridge, whose
    /// other party then hangs up; a queue; a `Wait`) and runs the dialplan
    /// at `exten@context`, `priority` (its own when empty).
    pub(crate) fn redirect(
        &mut self,
        id: ChanId,
        context: &str,
        exten: &str,
        priority: u32,
        now: Instant,
    ) {
        for wake in [Wake::Resume(id), Wake::DeviceHangup(id)] {
            self.cancel(&wake);
        }
        if self.chans.get(&id).is_some_and(|c| c.exec == Exec::Queued) {
            self.queue_leave_for_redirect(id, now);
        }
        for other in self.leave_bridge(id) {
            self.after_bridge(other, 16, now);
        }
        let Some(c) = self.chans.get_mut(&id) else {
            return;
        };
        if !context.is_empty() {
            c.context = context.to_string();
        }
        if !exten.is_empty() {
            c.exten = exten.to_string();
        }
        c.priority = priority.max(1);
        c.dialer = None;
        if self.config.dialplan.is_none() {
            // No dialplan to run: the channel stays where it was sent.
            c.exec = Exec::Held;
            return;
        }
        c.exec = Exec::Dialplan;
        self.run(id, now);
    }

    /// A channel ejected from a bridge whose other party left.
    pub(super) fn after_bridge(&mut self, id: ChanId, cause: u32, now: Instant) {
        if self.queue_bridge_ended(id, now) {
            return;
        }
        if let Some(c) = self.chans.get_mut(&id) {
            if cause > 0 {
                c.hangup_cause = cause;
            }
        }
        self.interrupt(id, now);
    }

    /// The `Cdr` of an answered channel (unanswered ones are not posted,
    /// as with Asterisk's default `unanswered = no`).
    pub(super) fn cdr(&mut self, c: &Chan, now: Instant) {
        let Some(answered) = c.answered else {
            return;
        };
        let time = |at: Instant| {
            let (date, time) = civil(self.epoch(at) as u64);
            format!("{date} {time}")
        };
        let (start, answer, end) = (time(c.created), time(answered), time(now));
        let duration = now.saturating_duration_since(c.created).as_secs();
        let billable = now.saturating_duration_since(answered).as_secs();
        let c = c.clone();
        self.emit(Classes::CDR, "Cdr", |w| {
            w.h("AccountCode", "")
                .h("Source", c.caller.0.as_deref().unwrap_or(""))
                .h("Destination", &c.cdr_dst)
                .h("DestinationContext", &c.cdr_dcontext)
                .h("CallerID", c.callerid_all())
                .h("Channel", &c.name)
                .h("DestinationChannel", &c.cdr_peer)
                .h("LastApplication", &c.cdr_app.0)
                .h("LastData", &c.cdr_app.1)
                .h("StartTime", start)
                .h("AnswerTime", answer)
                .h("EndTime", end)
                .h("Duration", duration.to_string())
                .h("BillableSeconds", billable.to_string())
                .h("Disposition", "ANSWERED")
                .h("AMAFlags", "DOCUMENTATION")
                .h("UniqueID", &c.uniqueid)
                .h("UserField", "")
        });
    }
}

//! Dialing: the Originate action's call (Local pairs and devices, with or
//! without a dialplan), the dial events, and how a dial ends (answered,
//! busy, congested, unanswered, missing) with the `OriginateResponse` or
//! the synchronous answer it gives.

use std::time::{Duration, Instant};

use crate::pbx::chan::{ChanId, Exec, State};
use crate::pbx::{wait_duration, PbxState, SubId, Wake};
use crate::perm::Classes;
use crate::script::OriginateOutcome;
use crate::wire::W;

/// What an answered Originate runs on the dialed channel.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// `Application:` and `Data:`.
    App(String, String),
    /// `Context:`, `Exten:` and `Priority:` (a priority of 0 starts at 1).
    Exten(String, String, u32),
}

/// An Originate the session checked and hands to the PBX.
#[derive(Clone, Debug)]
pub(crate) struct OriginateRequest {
    /// `Channel:` as sent (`Local/100@test`, `PJSIP/100`).
    pub(crate) channel: String,
    pub(crate) target: Target,
    /// `CallerID:` number and name.
    pub(crate) caller: (Option<String>, Option<String>),
    /// `Variable:` assignments, in order.
    pub(crate) vars: Vec<(String, String)>,
    /// `Timeout:` (30 s by default).
    pub(crate) timeout: Duration,
    pub(crate) action_id: Option<Vec<u8>>,
    pub(crate) is_async: bool,
    /// The session that sent it (for a synchronous Originate's answer).
    pub(crate) sub: SubId,
}

/// An Originate in progress.
#[derive(Clone, Debug)]
pub(crate) struct Orig {
    req: OriginateRequest,
    /// The dialed channel (`;1` of a Local pair, or a device's channel).
    chan: Option<ChanId>,
}

/// Who dials a channel that is not answered yet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialer {
    Originate(u64),
    Queue { caller: ChanId },
}

impl PbxState {
    /// A dial event (`DialBegin`, `DialState`, `DialEnd`) about `dest`.
    pub(crate) fn dial_event(&mut self, dest: ChanId, status: Option<&str>, dialstring: &str) {
        let caller = match self.chans.get(&dest).and_then(|c| c.dialer) {
            Some(Dialer::Queue { caller }) => self.chans.get(&caller).cloned(),
            _ => None,
        };
        let Some(d) = self.chans.get(&dest) else {
            return;
        };
        let name = match status {
            None => "DialBegin",
            Some("RINGING") | Some("PROGRESS") | Some("PROCEEDING") => "DialState",
            Some(_) => "DialEnd",
        };
        let mut w = W::event(name).h("Privilege", Classes::CALL.to_string());
        if let Some(c) = &caller {
            w = c.snapshot(w, "");
        }
        w = d.snapshot(w, "Dest");
        w = match status {
            None => w.h("DialString", dialstring),
            Some(s) => w.h("DialStatus", s),
        };
        self.deliver(crate::pbx::Event {
            classes: Classes::CALL,
            text: w.done(),
        });
    }

    /// Whether `exten@context` exists at `priority` (Originate's early
    /// check); always true without a dialplan.
    pub(crate) fn exten_exists(&self, context: &str, exten: &str, priority: u32) -> bool {
        match &self.config.dialplan {
            None => true,
            Some(d) => d
                .find(context, exten)
                .is_some_and(|e| (priority as usize) <= e.priorities().len()),
        }
    }

    /// Starts an Originate (already answered `Originate successfully
    /// queued` when async). Its outcome comes later: `OriginateResponse`, or
    /// the synchronous session's answer via [`PbxState::take_sync_outcome`].
    pub(crate) fn originate(&mut self, req: OriginateRequest, now: Instant) {
        self.next_orig += 1;
        let id = self.next_orig;
        let (tech, data) = req
            .channel
            .split_once('/')
            .map(|(t, d)| (t.to_string(), d.to_string()))
            .unwrap_or_default();
        let timeout = req.timeout;
        self.origs.insert(id, Orig { req, chan: None });
        let Some(plan) = self.config.dialplan.clone() else {
            let behavior = self.config.originate.clone();
            match behavior.outcome {
                OriginateOutcome::Never => {}
                OriginateOutcome::Failure { reason } => {
                    self.schedule(now + behavior.delay, Wake::Fail(id, reason))
                }
                OriginateOutcome::Success => {
                    let Some(chan) = self.dial_start(id, &tech, &data, now) else {
                        return;
                    };
                    if tech.eq_ignore_ascii_case("Local") {
                        self.local_call(chan, &data, false, now);
                    } else {
                        self.dial_event(chan, None, &data);
                    }
                    self.schedule(now + behavior.delay, Wake::Answer(chan));
                }
            }
            return;
        };
        if tech.eq_ignore_ascii_case("Local") {
            let Some(chan) = self.dial_start(id, &tech, &data, now) else {
                return;
            };
            let (exten, context) = local_target(&data);
            match plan.find(&context, &exten).cloned() {
                None => {
                    // local_call: "No such extension/context"; ;2 never
                    // ran, so it is hung up without a hangup request.
                    self.hangup_chan(chan, 0, now);
                    self.originate_done(id, false, 0, now);
                }
                Some(_) => {
                    self.schedule(now + timeout, Wake::DialTimeout(id));
                    self.local_call(chan, &data, true, now);
                }
            }
            return;
        }
        let device = format!("{tech}/{data}");
        match plan.find_device(&device).cloned() {
            None => self.originate_done(id, false, 0, now),
            Some(dest) => {
                let Some(chan) = self.dial_start(id, &tech, &data, now) else {
                    return;
                };
                self.dial_event(chan, None, &data);
                self.schedule(now + timeout, Wake::DialTimeout(id));
                self.device_behaves(chan, &dest, now);
            }
        }
    }

    /// Creates the dialed channel(s) of Originate `o`: `Newchannel`s, the
    /// `AppDial2` `Newexten`, variables and caller id (copied to `;2`).
    pub(super) fn dial_start(
        &mut self,
        o: u64,
        tech: &str,
        data: &str,
        now: Instant,
    ) -> Option<ChanId> {
        let req = self.origs.get(&o)?.req.clone();
        let (one, two) = if tech.eq_ignore_ascii_case("Local") {
            let (exten, context) = local_target(data);
            let (one, two) = self.new_local_pair(&exten, &context, now);
            (one, Some(two))
        } else {
            self.tech_seq = self.tech_seq.wrapping_add(1);
            let name = format!("{tech}/{data}-{:08x}", self.tech_seq);
            let device = format!("{tech}/{data}");
            let one = self.new_chan(name, &device, "default", "s", State::Down, None, now);
            (one, None)
        };
        if let Some(c) = self.chans.get_mut(&one) {
            c.exec = Exec::Dialing;
            c.dialer = Some(Dialer::Originate(o));
        }
        self.newexten(one, "AppDial2", "(Outgoing Line)");
        for (k, v) in &req.vars {
            self.write_var(Some(one), k, v);
        }
        self.set_callerid(one, &req.caller);
        if let Some(two) = two {
            // ast_unreal_call_setup: the variables and ids go to ;2 too.
            for (k, v) in &req.vars {
                self.write_var(Some(two), k, v);
            }
            self.set_callerid(two, &req.caller);
        }
        if let Some(orig) = self.origs.get_mut(&o) {
            orig.chan = Some(one);
        }
        Some(one)
    }

    /// `local_call`: `LocalBridge`, `DialBegin`, then `;2` runs the
    /// dialplan (when there is one to run).
    pub(super) fn local_call(&mut self, one: ChanId, data: &str, run: bool, now: Instant) {
        let Some(two) = self.peer(one) else {
            return;
        };
        self.local_bridge_event(one, !data.contains("/n"));
        let dialstring = data.split('/').next().unwrap_or(data).to_string();
        self.dial_event(one, None, &dialstring);
        if run {
            self.start_dialplan(two, now);
        }
    }

    /// Starts the dialplan on a channel at its context/exten/priority.
    pub(super) fn start_dialplan(&mut self, id: ChanId, now: Instant) {
        if let Some(c) = self.chans.get_mut(&id) {
            c.exec = Exec::Dialplan;
        }
        self.processed += 1;
        self.run(id, now);
    }

    /// How a device answers a call (a channel that runs no dialplan).
    pub(crate) fn device_behaves(
        &mut self,
        chan: ChanId,
        dest: &crate::dialplan::Destination,
        now: Instant,
    ) {
        use crate::dialplan::Destination;
        match dest {
            Destination::Answer { after, hold } => {
                if after.is_zero() {
                    self.answer(chan, now);
                } else {
                    self.ringing(chan, now);
                    self.schedule(now + *after, Wake::Answer(chan));
                }
                if let Some(hold) = hold {
                    self.schedule(now + *after + *hold, Wake::DeviceHangup(chan));
                }
            }
            Destination::Busy => self.dial_failed(chan, "BUSY", 17, now),
            Destination::Congestion => self.dial_failed(chan, "CONGESTION", 34, now),
            Destination::NoAnswer => self.ringing(chan, now),
        }
    }

    /// The `Reason` an Originate reports for a dial that ended with `cause`
    /// (`pbx_dial_reason`).
    pub(super) fn reason_for(cause: u32) -> u32 {
        match cause {
            17 => 5,
            21 | 34 | 38 | 41 | 42 | 27 => 8,
            19 | 26 => 3,
            _ => 0,
        }
    }

    /// A dialed channel was answered: the dialer's part.
    pub(super) fn dial_answered(&mut self, dialed: ChanId, now: Instant) {
        let Some(dialer) = self.chans.get(&dialed).and_then(|c| c.dialer) else {
            return;
        };
        self.dial_event(dialed, Some("ANSWER"), "");
        if let Some(c) = self.chans.get_mut(&dialed) {
            c.dialer = None;
            c.exec = Exec::Held;
        }
        match dialer {
            Dialer::Originate(o) => {
                self.cancel(&Wake::DialTimeout(o));
                let target = self.origs.get(&o).map(|x| x.req.target.clone());
                self.originate_done(o, true, 4, now);
                let device = self.chans[&dialed].device.clone();
                if device.starts_with("Local/") {
                    // Each half's new state makes Asterisk recompute the
                    // device: two events, the same state.
                    for _ in 0..2 {
                        self.device_changed(&device);
                    }
                }
                self.run_target(dialed, target, now);
            }
            Dialer::Queue { caller } => {
                if let Some(c) = self.chans.get_mut(&dialed) {
                    c.dialer = Some(Dialer::Queue { caller });
                }
                self.queue_answered(caller, dialed, now);
            }
        }
    }

    /// What the answered channel of an Originate runs.
    pub(super) fn run_target(&mut self, id: ChanId, target: Option<Target>, now: Instant) {
        match target {
            Some(Target::App(app, data)) => {
                if let Some(c) = self.chans.get_mut(&id) {
                    c.exec = Exec::App;
                    c.app = app.clone();
                    c.appdata = data.clone();
                    c.cdr_app = (app.clone(), data.clone());
                }
                if app.eq_ignore_ascii_case("Wait") {
                    self.schedule(now + wait_duration(&data), Wake::Resume(id));
                } else if app.eq_ignore_ascii_case("Hangup") {
                    self.hangup_chan(id, 16, now);
                }
            }
            Some(Target::Exten(context, exten, priority)) => {
                if self.config.dialplan.is_none() {
                    return;
                }
                if let Some(c) = self.chans.get_mut(&id) {
                    c.context = context;
                    c.exten = exten;
                    c.priority = priority.max(1);
                }
                self.start_dialplan(id, now);
            }
            None => {}
        }
    }

    /// A dialed channel will not answer (`status`: BUSY, CONGESTION,
    /// NOANSWER, CHANUNAVAIL): `DialEnd`, the hangup, the dialer's part.
    pub(crate) fn dial_failed(&mut self, dialed: ChanId, status: &str, cause: u32, now: Instant) {
        let Some(dialer) = self.chans.get(&dialed).and_then(|c| c.dialer) else {
            return;
        };
        self.dial_event(dialed, Some(status), "");
        if let Some(c) = self.chans.get_mut(&dialed) {
            c.dialer = None;
            if status == "NOANSWER" {
                c.hangup_cause = 19;
            }
        }
        match dialer {
            Dialer::Originate(o) => {
                self.cancel(&Wake::DialTimeout(o));
                let own = self.chans.get(&dialed).map_or(0, |c| c.hangup_cause);
                self.hangup_chan(dialed, own, now);
                self.originate_done(o, false, Self::reason_for(cause), now);
            }
            Dialer::Queue { caller } => self.queue_member_failed(caller, dialed, status, now),
        }
    }

    /// The Originate's `Timeout` passed.
    pub(crate) fn dial_timeout(&mut self, o: u64, now: Instant) {
        let Some(chan) = self.origs.get(&o).and_then(|x| x.chan) else {
            return;
        };
        self.dial_failed(chan, "NOANSWER", 19, now);
    }

    /// Without dialplan: the Originate fails after its delay, no call made.
    pub(crate) fn permissive_fail(&mut self, o: u64, reason: u32, now: Instant) {
        self.originate_done(o, false, reason, now);
    }

    /// The Originate's outcome: `OriginateResponse` (async) or the
    /// synchronous session's answer.
    pub(super) fn originate_done(&mut self, o: u64, success: bool, reason: u32, _now: Instant) {
        let Some(orig) = self.origs.remove(&o) else {
            return;
        };
        let req = orig.req;
        let dialed = orig.chan.and_then(|c| self.chans.get(&c)).cloned();
        if !req.is_async {
            self.sync_outcomes.insert(req.sub, success);
            return;
        }
        let (channel, uniqueid) = match (&dialed, success) {
            (Some(c), true) => (c.name.clone(), c.uniqueid.clone()),
            _ => (req.channel.clone(), "<unknown>".to_string()),
        };
        let unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "<unknown>".into());
        self.emit(Classes::CALL, "OriginateResponse", |w| {
            let w = w
                .aid(req.action_id.as_deref())
                .h("Response", if success { "Success" } else { "Failure" })
                .h("Channel", channel);
            let w = match &req.target {
                Target::App(app, data) => w.h("Application", app).h("Data", data),
                Target::Exten(ctx, exten, _) => w.h("Context", ctx).h("Exten", exten),
            };
            w.h("Reason", reason.to_string())
                .h("Uniqueid", uniqueid)
                .h("CallerIDNum", unknown(&req.caller.0))
                .h("CallerIDName", unknown(&req.caller.1))
        });
    }

    /// A synchronous Originate's outcome for session `sub`, once known:
    /// `true` when answered.
    pub(crate) fn take_sync_outcome(&mut self, sub: SubId) -> Option<bool> {
        self.sync_outcomes.remove(&sub)
    }
}

/// `exten` and `context` of a Local dial string (`100@test/n`).
fn local_target(data: &str) -> (String, String) {
    let (exten, rest) = data.split_once('@').unwrap_or((data, "default"));
    let context = rest.split('/').next().unwrap_or(rest);
    (exten.to_string(), context.to_string())
}

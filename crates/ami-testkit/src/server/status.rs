//! Actions that report state: Command, CoreSettings, CoreStatus, and the
//! lists (CoreShowChannels, Status, QueueStatus, QueueSummary,
//! ExtensionStateList, DeviceStateList, BridgeList), plus QueuePause.

use std::time::Instant;

use bytes::Bytes;

use super::{ServerSession, ASTERISK_VERSION};
use crate::pbx::{Exec, PbxState};
use crate::request::Request;
use crate::rng::civil;
use crate::wire::{ack, error, is_true, W};

impl ServerSession {
    pub(super) fn command_lines(&self, cmd: &str) -> Option<Vec<String>> {
        if let Some(lines) = self.config.command_outputs.get(cmd) {
            return Some(lines.clone());
        }
        match cmd {
            "core show channels" => {
                let pbx = self.pbx.lock();
                let mut lines = vec![format!(
                    "{:<64} {:<32} {:<7} {:<30}",
                    "Channel", "Location", "State", "Application(Data)"
                )];
                for c in pbx.chans.values() {
                    lines.push(format!(
                        "{:<64} {:<32} {:<7} {:<30}",
                        c.name,
                        format!("{}@{}:{}", c.exten, c.context, c.priority),
                        c.state.desc(),
                        format!("{}({})", c.app, c.appdata)
                    ));
                }
                let n = pbx.chans.len();
                let calls = active_calls(&pbx);
                lines.push(format!("{n} active channel{}", if n == 1 { "" } else { "s" }));
                lines.push(format!("{calls} active call{}", if calls == 1 { "" } else { "s" }));
                lines.push(format!("{} calls processed", pbx.processed));
                Some(lines)
            }
            "core show version" => Some(vec![format!(
                "Asterisk {ASTERISK_VERSION} built by ami-testkit @ localhost on a x86_64 running Linux"
            )]),
            _ => None,
        }
    }

    pub(super) fn command(&mut self, r: &Request, aid: Option<&[u8]>) {
        let cmd = r.text("Command").trim().to_string();
        if cmd.is_empty() {
            return self.respond(error(aid, "No command provided"));
        }
        let found = self.command_lines(&cmd);
        let known = found.is_some();
        let lines = found.unwrap_or_else(|| {
            vec![format!(
                "No such command '{cmd}' (type 'core show help {cmd}' for other possible commands)"
            )]
        });
        if self.config.legacy_command {
            let mut w = W(Vec::new())
                .h("Response", "Follows")
                .h("Privilege", "Command")
                .aid(aid);
            for line in &lines {
                w.0.extend_from_slice(line.as_bytes());
                w.0.push(b'\n');
            }
            w.0.extend_from_slice(b"--END COMMAND--\r\n\r\n");
            self.out.push_back(Bytes::from(w.0));
            return;
        }
        let mut w = W::response(if known { "Success" } else { "Error" }, aid)
            .h("Message", "Command output follows");
        for line in &lines {
            w = w.h("Output", line);
        }
        self.respond(w);
    }

    pub(super) fn core_settings(&mut self, aid: Option<&[u8]>) {
        let ami = self
            .config
            .banner
            .rsplit('/')
            .next()
            .unwrap_or("11.0.0")
            .to_string();
        self.respond(
            W::response("Success", aid)
                .h("AMIversion", ami)
                .h("AsteriskVersion", ASTERISK_VERSION)
                .h("SystemName", "")
                .h("CoreMaxCalls", "0")
                .h("CoreMaxLoadAvg", "0.000000")
                .h("CoreRunUser", "")
                .h("CoreRunGroup", "")
                .h("CoreMaxFilehandles", "0")
                .h("CoreRealTimeEnabled", "No")
                .h("CoreCDRenabled", "Yes")
                .h("CoreHTTPenabled", "No")
                .h("SoundsSearchCustomDir", "No"),
        );
    }

    pub(super) fn core_status(&mut self, aid: Option<&[u8]>) {
        let (date, time, calls, processed) = {
            let pbx = self.pbx.lock();
            let (date, time) = civil(pbx.login_time());
            (date, time, active_calls(&pbx), pbx.processed)
        };
        self.respond(
            W::response("Success", aid)
                .h("CoreStartupDate", &date)
                .h("CoreStartupTime", &time)
                .h("CoreReloadDate", &date)
                .h("CoreReloadTime", &time)
                .h("CoreCurrentCalls", calls.to_string())
                .h("CoreProcessedCalls", processed.to_string()),
        );
    }

    pub(super) fn core_show_channels(&mut self, aid: Option<&[u8]>, now: Instant) {
        let items = {
            let pbx = self.pbx.lock();
            pbx.chans
                .values()
                .map(|c| {
                    let secs = now.saturating_duration_since(c.created).as_secs();
                    c.snapshot(W::event("CoreShowChannel").aid(aid), "")
                        .h("Application", &c.app)
                        .h("ApplicationData", &c.appdata)
                        .h(
                            "Duration",
                            format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60),
                        )
                        .h("BridgeId", bridge_of(&pbx, c))
                })
                .collect()
        };
        self.list(
            aid,
            "Channels will follow",
            items,
            "CoreShowChannelsComplete",
        );
    }

    pub(super) fn status(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let wanted = r.text("Channel");
        let variables = r.text("Variables");
        let items: Vec<W> = {
            let pbx = self.pbx.lock();
            let chans: Vec<_> = pbx
                .chans
                .iter()
                .filter(|(_, c)| wanted.is_empty() || c.name == wanted)
                .collect();
            if !wanted.is_empty() && chans.is_empty() {
                drop(pbx);
                return self.respond(error(aid, "No such channel"));
            }
            chans
                .into_iter()
                .map(|(&id, c)| {
                    let secs = c
                        .answered
                        .map_or(0, |a| now.saturating_duration_since(a).as_secs());
                    let effective =
                        |v: &Option<String>| v.clone().unwrap_or_else(|| "<unknown>".into());
                    let mut w = c
                        .snapshot(W::event("Status").h("Privilege", "Call"), "")
                        .h("Type", c.tech())
                        .h("DNID", "")
                        .h("EffectiveConnectedLineNum", effective(&c.connected.0))
                        .h("EffectiveConnectedLineName", effective(&c.connected.1))
                        .h("TimeToHangup", "0")
                        .h("BridgeID", bridge_of(&pbx, c))
                        .h("Application", &c.app)
                        .h("Data", &c.appdata)
                        .h("Nativeformats", "(slin)")
                        .h("Readformat", "slin")
                        .h("Readtrans", "")
                        .h("Writeformat", "slin")
                        .h("Writetrans", "")
                        .h("Callgroup", "0")
                        .h("Pickupgroup", "0")
                        .h("Seconds", secs.to_string());
                    for name in variables
                        .split(',')
                        .map(str::trim)
                        .filter(|v| !v.is_empty())
                    {
                        let is_function = name.ends_with(')');
                        let value = if is_function || c.vars.contains_key(name) {
                            pbx.read_var(Some(id), name)
                        } else {
                            "(null)".to_string()
                        };
                        w = w.h("Variable", format!("{name}={value}"));
                    }
                    w.aid(aid)
                })
                .collect()
        };
        self.list_start(aid, "Channel status will follow");
        let n = items.len();
        for w in items {
            self.respond(w);
        }
        self.list_complete(aid, "StatusComplete", n, true);
    }

    pub(super) fn extension_state(&mut self, r: &Request, aid: Option<&[u8]>) {
        let exten = r.text("Exten");
        if exten.is_empty() {
            return self.respond(error(aid, "Extension not specified"));
        }
        let context = match r.text("Context") {
            c if c.is_empty() => "default".to_string(),
            c => c,
        };
        let (hint, status) = {
            let pbx = self.pbx.lock();
            match pbx
                .hints()
                .into_iter()
                .find(|(c, e, _)| *c == context && *e == exten)
            {
                Some((_, _, dev)) => {
                    let s = pbx.hint_status(&dev);
                    (dev, (s.0 as i64, s.1))
                }
                None => (String::new(), (-1, "Unknown")),
            }
        };
        self.respond(
            ack(aid, "Extension Status")
                .h("Exten", exten)
                .h("Context", context)
                .h("Hint", hint)
                .h("Status", status.0.to_string())
                .h("StatusText", status.1),
        );
    }

    pub(super) fn extension_state_list(&mut self, aid: Option<&[u8]>) {
        let items: Vec<W> = {
            let pbx = self.pbx.lock();
            pbx.hints()
                .into_iter()
                .filter(|(_, e, _)| !e.starts_with('_'))
                .map(|(ctx, exten, dev)| {
                    let s = pbx.hint_status(&dev);
                    W::event("ExtensionStatus")
                        .aid(aid)
                        .h("Exten", exten)
                        .h("Context", ctx)
                        .h("Hint", dev)
                        .h("Status", s.0.to_string())
                        .h("StatusText", s.1)
                })
                .collect()
        };
        if items.is_empty() {
            return self.respond(error(aid, "No dialplan hints are available"));
        }
        self.list(
            aid,
            "Extension Statuses will follow",
            items,
            "ExtensionStateListComplete",
        );
    }

    pub(super) fn device_state_list(&mut self, aid: Option<&[u8]>) {
        let items = {
            let pbx = self.pbx.lock();
            pbx.devices
                .iter()
                .map(|(d, s)| {
                    W::event("DeviceStateChange")
                        .aid(aid)
                        .h("Device", d)
                        .h("State", *s)
                })
                .collect()
        };
        self.list(
            aid,
            "Device State Changes will follow",
            items,
            "DeviceStateListComplete",
        );
    }

    pub(super) fn bridge_list(&mut self, aid: Option<&[u8]>) {
        let items = {
            let pbx = self.pbx.lock();
            pbx.bridges
                .keys()
                .map(|&id| pbx.bridge_snapshot(W::event("BridgeListItem").aid(aid), id))
                .collect()
        };
        self.list(
            aid,
            "Bridge listing will follow",
            items,
            "BridgeListComplete",
        );
    }

    pub(super) fn queue_status(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let (queue, member) = (r.text("Queue"), r.text("Member"));
        let items: Vec<W> = {
            let pbx = self.pbx.lock();
            let mut items = Vec::new();
            for q in pbx
                .queues
                .iter()
                .filter(|q| queue.is_empty() || q.config.name == queue)
            {
                let name = &q.config.name;
                let avg = |total: u64| total.checked_div(q.completed).unwrap_or(0);
                items.push(
                    W::event("QueueParams")
                        .h("Queue", name)
                        .h("Max", q.config.max.to_string())
                        .h("Strategy", q.config.strategy.name())
                        .h("Calls", q.callers.len().to_string())
                        .h("Holdtime", avg(q.holdtime).to_string())
                        .h("TalkTime", avg(q.talktime).to_string())
                        .h("Completed", q.completed.to_string())
                        .h("Abandoned", q.abandoned.to_string())
                        .h("ServiceLevel", "0")
                        .h("ServicelevelPerf", "0.0")
                        .h("ServicelevelPerf2", "0.0")
                        .h("Weight", q.config.weight.to_string())
                        .aid(aid),
                );
                for (cfg, st) in q.config.members.iter().zip(&q.members) {
                    if !member.is_empty() && cfg.interface != member && cfg.name != member {
                        continue;
                    }
                    items.push(
                        W::event("QueueMember")
                            .h("Queue", name)
                            .h("Name", &cfg.name)
                            .h("Location", &cfg.interface)
                            .h("StateInterface", &cfg.interface)
                            .h("Membership", "static")
                            .h("Penalty", cfg.penalty.to_string())
                            .h("CallsTaken", st.calls.to_string())
                            .h("LastCall", st.last_call.to_string())
                            .h("LastPause", st.last_pause.to_string())
                            .h("LoginTime", pbx.login_time().to_string())
                            .h("InCall", u8::from(st.in_call).to_string())
                            .h("Status", st.status.to_string())
                            .h("Paused", u8::from(st.paused).to_string())
                            .h("PausedReason", &st.paused_reason)
                            .h("Wrapuptime", "0")
                            .aid(aid),
                    );
                }
                for (pos, caller) in q.callers.iter().enumerate() {
                    let Some(c) = pbx.chans.get(&caller.chan) else {
                        continue;
                    };
                    let or_unknown =
                        |v: &Option<String>| v.clone().unwrap_or_else(|| "unknown".into());
                    items.push(
                        W::event("QueueEntry")
                            .h("Queue", name)
                            .h("Position", (pos + 1).to_string())
                            .h("Channel", &c.name)
                            .h("Uniqueid", &c.uniqueid)
                            .h("CallerIDNum", or_unknown(&c.caller.0))
                            .h("CallerIDName", or_unknown(&c.caller.1))
                            .h("ConnectedLineNum", or_unknown(&c.connected.0))
                            .h("ConnectedLineName", or_unknown(&c.connected.1))
                            .h(
                                "Wait",
                                now.saturating_duration_since(caller.joined)
                                    .as_secs()
                                    .to_string(),
                            )
                            .h("Priority", "0")
                            .aid(aid),
                    );
                }
            }
            items
        };
        self.list(
            aid,
            "Queue status will follow",
            items,
            "QueueStatusComplete",
        );
    }

    pub(super) fn queue_summary(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let queue = r.text("Queue");
        let items: Vec<W> = {
            let pbx = self.pbx.lock();
            pbx.queues
                .iter()
                .filter(|q| queue.is_empty() || q.config.name == queue)
                .map(|q| {
                    let available = q
                        .members
                        .iter()
                        .filter(|m| !m.paused && !m.in_call && m.status == 1)
                        .count();
                    let longest = q
                        .callers
                        .first()
                        .map_or(0, |c| now.saturating_duration_since(c.joined).as_secs());
                    let avg = |total: u64| total.checked_div(q.completed).unwrap_or(0);
                    W::event("QueueSummary")
                        .h("Queue", &q.config.name)
                        .h("LoggedIn", q.members.len().to_string())
                        .h("Available", available.to_string())
                        .h("Callers", q.callers.len().to_string())
                        .h("HoldTime", avg(q.holdtime).to_string())
                        .h("TalkTime", avg(q.talktime).to_string())
                        .h("LongestHoldTime", longest.to_string())
                        .aid(aid)
                })
                .collect()
        };
        self.list(
            aid,
            "Queue summary will follow",
            items,
            "QueueSummaryComplete",
        );
    }

    pub(super) fn queue_pause(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let interface = r.text("Interface");
        if interface.is_empty() {
            return self.respond(error(aid, "Need 'Interface' and 'Paused' parameters."));
        }
        let paused_text = r.text("Paused");
        if paused_text.is_empty() {
            return self.respond(error(aid, "Need 'Interface' and 'Paused' parameters."));
        }
        let paused = is_true(&paused_text);
        let (queue, reason) = (r.text("Queue"), r.text("Reason"));
        let found = self
            .pbx
            .lock()
            .queue_pause(&interface, &queue, paused, &reason, now);
        match (found, paused) {
            (false, _) => self.respond(error(aid, "Interface not found")),
            (true, true) => self.respond(ack(aid, "Interface paused successfully")),
            (true, false) => self.respond(ack(aid, "Interface unpaused successfully")),
        }
    }
}

/// `CoreCurrentCalls`: calls in progress (a Local pair counts once).
fn active_calls(pbx: &PbxState) -> usize {
    pbx.chans
        .values()
        .filter(|c| !c.name.ends_with(";2"))
        .count()
}

/// The `BridgeId` of a channel (`""` when not bridged).
fn bridge_of(pbx: &PbxState, c: &crate::pbx::Chan) -> String {
    match c.exec {
        Exec::Bridged(id) => pbx
            .bridges
            .get(&id)
            .map(|b| b.uniqueid.clone())
            .unwrap_or_default(),
        _ => String::new(),
    }
}

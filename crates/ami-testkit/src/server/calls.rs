//! Actions on calls and variables: Originate, Hangup, Redirect, Getvar,
//! Setvar.

use std::time::{Duration, Instant};

use super::{Block, ServerSession};
use crate::pbx::{OriginateRequest, PbxState, Target};
use crate::request::Request;
use crate::wire::{ack, error, is_true, W};

impl ServerSession {
    pub(super) fn originate(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let channel = r.text("Channel");
        if channel.is_empty() {
            return self.respond(error(aid, "Channel not specified"));
        }
        let (context, exten) = (r.text("Context"), r.text("Exten"));
        let priority_text = r.text("Priority");
        let priority: u32 = if priority_text.is_empty() {
            0
        } else {
            match priority_text.trim().parse() {
                Ok(p) => p,
                Err(_) => return self.respond(error(aid, "Invalid priority")),
            }
        };
        let timeout_text = r.text("Timeout");
        let timeout_ms: u64 = if timeout_text.is_empty() {
            30_000
        } else {
            match timeout_text.trim().parse() {
                Ok(t) => t,
                Err(_) => return self.respond(error(aid, "Invalid timeout")),
            }
        };
        if !channel.contains('/') {
            return self.respond(error(aid, "Invalid channel"));
        }
        let app = r.text("Application");
        if priority > 0 && !self.pbx.lock().exten_exists(&context, &exten, priority) {
            return self.respond(error(aid, "Extension does not exist."));
        }
        let is_async = is_true(&r.text("Async"));
        if !is_async && app.is_empty() && priority == 0 {
            return self.respond(error(
                aid,
                "Originate with 'Exten' requires 'Context' and 'Priority'",
            ));
        }
        let target = if app.is_empty() {
            Target::Exten(context, exten, priority)
        } else {
            Target::App(app, r.text("Data"))
        };
        let vars = r
            .values("Variable")
            .flat_map(|v| split_variables(&String::from_utf8_lossy(v)))
            .collect();
        let req = OriginateRequest {
            channel,
            target,
            caller: parse_callerid(&r.text("CallerID")),
            vars,
            timeout: Duration::from_millis(timeout_ms),
            action_id: aid.map(<[u8]>::to_vec),
            is_async,
            sub: self.sub,
        };
        if is_async {
            self.respond(ack(aid, "Originate successfully queued"));
        } else {
            // A synchronous Originate holds the whole session, as in Asterisk.
            self.block = Some(Block::Originate {
                action_id: aid.map(<[u8]>::to_vec),
            });
        }
        self.pbx.lock().originate(req, now);
    }

    pub(super) fn hangup(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let name = r.text("Channel");
        if name.is_empty() {
            return self.respond(error(aid, "No channel specified"));
        }
        let cause = r
            .text("Cause")
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|&c| c <= 127)
            .unwrap_or(0);
        let pbx = self.pbx.clone();
        let mut state = pbx.lock();
        if let Some(pattern) = name.strip_prefix('/').and_then(|n| n.strip_suffix('/')) {
            let Ok(re) = regex::Regex::new(pattern) else {
                drop(state);
                return self.respond(error(aid, format!("Regex compile failed on: {name}")));
            };
            let matched: Vec<_> = state
                .chans
                .iter()
                .filter(|(_, c)| re.is_match(&c.name))
                .map(|(&id, c)| (id, c.name.clone()))
                .collect();
            self.list_start(aid, "Channels hung up will follow");
            for (id, chan) in &matched {
                state.hangup_request(*id, cause, now);
                self.respond(W::event("ChannelHungup").h("Channel", chan).aid(aid));
            }
            return self.list_complete(aid, "ChannelsHungupListComplete", matched.len(), false);
        }
        match state.chan_by_name(&name) {
            None => self.respond(error(aid, "No such channel")),
            Some(id) => {
                self.respond(ack(aid, "Channel Hungup"));
                state.hangup_request(id, cause, now);
            }
        }
    }

    pub(super) fn redirect(&mut self, r: &Request, aid: Option<&[u8]>, now: Instant) {
        let name = r.text("Channel");
        if name.is_empty() {
            return self.respond(error(aid, "Channel not specified"));
        }
        let priority = match r.text("Priority").trim() {
            "" => 1,
            p => match p.parse::<u32>() {
                Ok(p) => p,
                Err(_) => return self.respond(error(aid, "Invalid priority")),
            },
        };
        let pbx = self.pbx.clone();
        let mut state = pbx.lock();
        let Some(id) = state.chan_by_name(&name) else {
            drop(state);
            return self.respond(error(aid, format!("Channel does not exist: {name}")));
        };
        self.respond(ack(aid, "Redirect successful"));
        let (context, exten) = (r.text("Context"), r.text("Exten"));
        state.redirect(id, &context, &exten, priority, now);
    }

    /// The channel a variable action names: `Ok(None)` for globals,
    /// `Err` when it does not exist.
    pub(super) fn var_channel(&self, state: &PbxState, r: &Request) -> Result<Option<u64>, ()> {
        match r.text("Channel") {
            name if name.is_empty() => Ok(None),
            name => state.chan_by_name(&name).map(Some).ok_or(()),
        }
    }

    pub(super) fn getvar(&mut self, r: &Request, aid: Option<&[u8]>) {
        let var = r.text("Variable");
        if var.is_empty() {
            return self.respond(error(aid, "No variable specified"));
        }
        let pbx = self.pbx.clone();
        let state = pbx.lock();
        let Ok(chan) = self.var_channel(&state, r) else {
            drop(state);
            return self.respond(error(aid, "No such channel"));
        };
        let value = state.read_var(chan, &var);
        drop(state);
        self.respond(
            W::response("Success", aid)
                .h("Variable", var)
                .h("Value", value),
        );
    }

    pub(super) fn setvar(&mut self, r: &Request, aid: Option<&[u8]>) {
        let var = r.text("Variable");
        if var.is_empty() {
            return self.respond(error(aid, "No variable specified"));
        }
        let pbx = self.pbx.clone();
        let mut state = pbx.lock();
        let Ok(chan) = self.var_channel(&state, r) else {
            drop(state);
            return self.respond(error(aid, "No such channel"));
        };
        self.respond(ack(aid, "Variable Set"));
        state.write_var(chan, &var, &r.text("Value"));
    }
}

/// `CallerID:` as `ast_callerid_parse` reads it: `"Name" <num>`, `num`, or a name.
fn parse_callerid(cid: &str) -> (Option<String>, Option<String>) {
    let cid = cid.trim();
    if cid.is_empty() {
        return (None, None);
    }
    let non_empty = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
    match (cid.find('<'), cid.rfind('>')) {
        (Some(a), Some(b)) if a < b => (
            non_empty(cid[a + 1..b].trim()),
            non_empty(cid[..a].trim().trim_matches('"')),
        ),
        _ if cid
            .bytes()
            .all(|b| b.is_ascii_digit() || b"+*#-() ".contains(&b)) =>
        {
            (non_empty(cid), None)
        }
        _ => (None, non_empty(cid.trim_matches('"'))),
    }
}

/// One `Variable:` header's assignments: split on commas, quotes removed,
/// backslash escapes consumed, as the server re-splits them.
fn split_variables(value: &str) -> Vec<(String, String)> {
    let mut parts = Vec::new();
    let mut cur = String::new();
    let (mut quoted, mut escaped) = (false, false);
    for ch in value.chars() {
        match ch {
            _ if escaped => {
                cur.push(ch);
                escaped = false;
            }
            '\\' => escaped = true,
            '"' => quoted = !quoted,
            ',' if !quoted => parts.push(std::mem::take(&mut cur)),
            _ => cur.push(ch),
        }
    }
    parts.push(cur);
    parts
        .into_iter()
        .filter_map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.trim().to_string(), v.to_string()))
                .filter(|(k, _)| !k.is_empty())
        })
        .collect()
}

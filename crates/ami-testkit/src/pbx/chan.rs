//! One channel of the fake PBX and how Asterisk prints it (the channel
//! snapshot headers every call event carries).

use std::collections::BTreeMap;
use std::time::Instant;

use crate::wire::W;

/// A channel's id inside the model (creation order).
pub(crate) type ChanId = u64;

/// Asterisk's `AST_STATE_*` codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum State {
    Down = 0,
    Ring = 4,
    Ringing = 5,
    Up = 6,
    Busy = 7,
}

impl State {
    pub(crate) fn code(self) -> u8 {
        self as u8
    }

    /// `ChannelStateDesc`, and `CHANNEL(state)`.
    pub(crate) fn desc(self) -> &'static str {
        match self {
            State::Down => "Down",
            State::Ring => "Ring",
            State::Ringing => "Ringing",
            State::Up => "Up",
            State::Busy => "Busy",
        }
    }
}

/// `Cause-txt` of a hangup cause (`ast_cause2str`).
pub(crate) fn cause_text(cause: u32) -> &'static str {
    match cause {
        1 => "Unallocated (unassigned) number",
        16 => "Normal Clearing",
        17 => "User busy",
        18 => "No user responding",
        19 => "User alerting, no answer",
        21 => "Call Rejected",
        26 => "Answered elsewhere",
        34 => "Circuit/channel congestion",
        _ => "Unknown",
    }
}

/// What a channel is doing, for the model's scheduler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Exec {
    /// Nothing runs on it: a stage call, a held device, `Echo()`; it stays
    /// until something hangs it up.
    Held,
    /// Being dialed (by an Originate or a queue); not answered yet.
    Dialing,
    /// Running the dialplan at its context/exten/priority; a timer (a
    /// `Wait`) may be pending.
    Dialplan,
    /// Running the Originate's application (`Application:`), then hangs up.
    App,
    /// Waiting in a queue.
    Queued,
    /// In a bridge with other channels.
    Bridged(u64),
}

/// One channel.
#[derive(Clone, Debug)]
pub(crate) struct Chan {
    pub(crate) name: String,
    pub(crate) uniqueid: String,
    pub(crate) linkedid: String,
    pub(crate) state: State,
    pub(crate) caller: (Option<String>, Option<String>),
    pub(crate) connected: (Option<String>, Option<String>),
    pub(crate) context: String,
    pub(crate) exten: String,
    pub(crate) priority: u32,
    /// The running application and its data (`CoreShowChannel`, `Status`).
    pub(crate) app: String,
    pub(crate) appdata: String,
    pub(crate) vars: BTreeMap<String, String>,
    /// The other half of a Local channel pair.
    pub(crate) peer: Option<ChanId>,
    /// `Local/100@test` for both halves of `Local/100@test-00000000;1`.
    pub(crate) device: String,
    pub(crate) exec: Exec,
    /// Who dials it while it is not answered.
    pub(crate) dialer: Option<crate::pbx::dial::Dialer>,
    pub(crate) created: Instant,
    pub(crate) answered: Option<Instant>,
    pub(crate) hangup_cause: u32,
    /// CDR fields that outlive the dialplan's moves.
    pub(crate) cdr_dst: String,
    pub(crate) cdr_dcontext: String,
    pub(crate) cdr_app: (String, String),
    pub(crate) cdr_peer: String,
    /// Whether it has started to go away (no second teardown).
    pub(crate) dying: bool,
}

impl Chan {
    /// The sixteen snapshot headers (`Channel` ... `Linkedid`), each name
    /// preceded by `prefix` (`""`, `"Dest"`, `"LocalOne"`...).
    pub(crate) fn snapshot(&self, w: W, prefix: &str) -> W {
        let unknown = |v: &Option<String>| v.clone().unwrap_or_else(|| "<unknown>".to_string());
        w.h(format!("{prefix}Channel"), &self.name)
            .h(
                format!("{prefix}ChannelState"),
                self.state.code().to_string(),
            )
            .h(format!("{prefix}ChannelStateDesc"), self.state.desc())
            .h(format!("{prefix}CallerIDNum"), unknown(&self.caller.0))
            .h(format!("{prefix}CallerIDName"), unknown(&self.caller.1))
            .h(
                format!("{prefix}ConnectedLineNum"),
                unknown(&self.connected.0),
            )
            .h(
                format!("{prefix}ConnectedLineName"),
                unknown(&self.connected.1),
            )
            .h(format!("{prefix}Language"), "en")
            .h(format!("{prefix}AccountCode"), "")
            .h(format!("{prefix}Context"), &self.context)
            .h(format!("{prefix}Exten"), &self.exten)
            .h(format!("{prefix}Priority"), self.priority.to_string())
            .h(format!("{prefix}Uniqueid"), &self.uniqueid)
            .h(format!("{prefix}Linkedid"), &self.linkedid)
    }

    /// `CALLERID(all)`: `"name" <num>`.
    pub(crate) fn callerid_all(&self) -> String {
        format!(
            "\"{}\" <{}>",
            self.caller.1.as_deref().unwrap_or(""),
            self.caller.0.as_deref().unwrap_or("")
        )
    }

    /// The technology (`Local`, `PJSIP`...).
    pub(crate) fn tech(&self) -> &str {
        self.name.split('/').next().unwrap_or("")
    }
}

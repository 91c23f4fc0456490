//! The headers the model reads, gathered in one pass over an event.
//!
//! `Headers::get` walks the lines from the top on every call; the model
//! wants up to twenty values per event, so it walks them once here instead
//! and keeps borrowed slices. A name is compared ASCII-case-insensitively
//! (the server writes `Uniqueid` in one event and `UniqueID` in another),
//! and the first of a repeated header wins, as with `Headers::get`.
//!
//! Several names mean one thing in different events and land in one slot:
//! `QueueMember` list items say `Name`/`Location` where the queue events say
//! `MemberName`/`Interface`; the application's argument is `AppData`
//! (`Newexten`), `ApplicationData` (`CoreShowChannel`) or `Data` (`Status`,
//! `OriginateResponse`); `CoreShowChannel` says `BridgeId`, `Status` says
//! `BridgeID`.

use ami_proto::Event;

/// A channel snapshot: the fourteen headers Asterisk writes for a channel
/// (`ast_manager_build_channel_state_string_prefix`), less the language and
/// account code, bare or behind a prefix (`Dest` in dial and queue-agent
/// events).
#[derive(Default)]
pub(crate) struct Snap<'a> {
    pub(crate) channel: Option<&'a [u8]>,
    pub(crate) state: Option<&'a [u8]>,
    pub(crate) caller_num: Option<&'a [u8]>,
    pub(crate) caller_name: Option<&'a [u8]>,
    pub(crate) connected_num: Option<&'a [u8]>,
    pub(crate) connected_name: Option<&'a [u8]>,
    pub(crate) context: Option<&'a [u8]>,
    pub(crate) exten: Option<&'a [u8]>,
    pub(crate) priority: Option<&'a [u8]>,
    pub(crate) uniqueid: Option<&'a [u8]>,
    pub(crate) linkedid: Option<&'a [u8]>,
}

impl<'a> Snap<'a> {
    /// The slot for a snapshot header, by its lower-case name without prefix.
    fn slot(&mut self, name: &[u8]) -> Option<&mut Option<&'a [u8]>> {
        Some(match name {
            b"channel" => &mut self.channel,
            b"channelstate" => &mut self.state,
            b"calleridnum" => &mut self.caller_num,
            b"calleridname" => &mut self.caller_name,
            b"connectedlinenum" => &mut self.connected_num,
            b"connectedlinename" => &mut self.connected_name,
            b"context" => &mut self.context,
            b"exten" => &mut self.exten,
            b"priority" => &mut self.priority,
            b"uniqueid" => &mut self.uniqueid,
            b"linkedid" => &mut self.linkedid,
            _ => return None,
        })
    }
}

/// Every header the model reads, by meaning.
#[derive(Default)]
pub(crate) struct Fields<'a> {
    /// The event's own channel.
    pub(crate) chan: Snap<'a>,
    /// The `Dest`-prefixed channel (dialled party, queue agent).
    pub(crate) dest: Snap<'a>,
    pub(crate) action_id: Option<&'a [u8]>,
    pub(crate) timestamp: Option<&'a [u8]>,
    pub(crate) application: Option<&'a [u8]>,
    pub(crate) app_data: Option<&'a [u8]>,
    /// `BridgeId` of a channel list item.
    pub(crate) bridge_id: Option<&'a [u8]>,
    pub(crate) cause: Option<&'a [u8]>,
    pub(crate) cause_txt: Option<&'a [u8]>,
    pub(crate) dial_status: Option<&'a [u8]>,
    pub(crate) response: Option<&'a [u8]>,
    pub(crate) reason: Option<&'a [u8]>,
    // A bridge snapshot (`Bridge*`), and the two sides of a `BridgeMerge`.
    pub(crate) bridge_uniqueid: Option<&'a [u8]>,
    pub(crate) bridge_type: Option<&'a [u8]>,
    pub(crate) bridge_technology: Option<&'a [u8]>,
    pub(crate) bridge_creator: Option<&'a [u8]>,
    pub(crate) bridge_name: Option<&'a [u8]>,
    pub(crate) to_bridge: Option<&'a [u8]>,
    pub(crate) from_bridge: Option<&'a [u8]>,
    // Queues: parameters, members, callers.
    pub(crate) queue: Option<&'a [u8]>,
    pub(crate) position: Option<&'a [u8]>,
    pub(crate) wait: Option<&'a [u8]>,
    pub(crate) member_name: Option<&'a [u8]>,
    pub(crate) interface: Option<&'a [u8]>,
    pub(crate) state_interface: Option<&'a [u8]>,
    pub(crate) membership: Option<&'a [u8]>,
    pub(crate) penalty: Option<&'a [u8]>,
    pub(crate) calls_taken: Option<&'a [u8]>,
    pub(crate) last_call: Option<&'a [u8]>,
    pub(crate) last_pause: Option<&'a [u8]>,
    pub(crate) login_time: Option<&'a [u8]>,
    pub(crate) in_call: Option<&'a [u8]>,
    pub(crate) status: Option<&'a [u8]>,
    pub(crate) paused: Option<&'a [u8]>,
    pub(crate) paused_reason: Option<&'a [u8]>,
    pub(crate) ringinuse: Option<&'a [u8]>,
    pub(crate) wrapup_time: Option<&'a [u8]>,
    pub(crate) max: Option<&'a [u8]>,
    pub(crate) strategy: Option<&'a [u8]>,
    pub(crate) hold_time: Option<&'a [u8]>,
    pub(crate) talk_time: Option<&'a [u8]>,
    pub(crate) completed: Option<&'a [u8]>,
    pub(crate) abandoned: Option<&'a [u8]>,
    pub(crate) service_level: Option<&'a [u8]>,
    pub(crate) service_level_perf: Option<&'a [u8]>,
    pub(crate) service_level_perf2: Option<&'a [u8]>,
    pub(crate) weight: Option<&'a [u8]>,
    // Device and hint states.
    pub(crate) device: Option<&'a [u8]>,
    pub(crate) state: Option<&'a [u8]>,
    pub(crate) hint: Option<&'a [u8]>,
    pub(crate) status_text: Option<&'a [u8]>,
}

/// The longest header name worth lower-casing: `DestConnectedLineName`.
const LONGEST: usize = 24;

impl<'a> Fields<'a> {
    /// Reads `event`'s headers once.
    pub(crate) fn of(event: &'a Event) -> Self {
        let mut fields = Fields::default();
        let mut lower = [0u8; LONGEST];
        for (name, value) in event.headers().iter() {
            let Some(buf) = lower.get_mut(..name.len()) else {
                continue;
            };
            for (to, from) in buf.iter_mut().zip(name) {
                *to = from.to_ascii_lowercase();
            }
            if let Some(slot) = fields.slot(buf) {
                slot.get_or_insert(value);
            }
        }
        fields
    }

    /// The slot for a header, by its lower-case name.
    fn slot(&mut self, name: &[u8]) -> Option<&mut Option<&'a [u8]>> {
        if let Some(slot) = self.chan.slot(name) {
            return Some(slot);
        }
        if let Some(rest) = name.strip_prefix(b"dest") {
            return self.dest.slot(rest);
        }
        Some(match name {
            b"actionid" => &mut self.action_id,
            b"timestamp" => &mut self.timestamp,
            b"application" => &mut self.application,
            b"appdata" | b"applicationdata" | b"data" => &mut self.app_data,
            b"bridgeid" => &mut self.bridge_id,
            b"cause" => &mut self.cause,
            b"cause-txt" => &mut self.cause_txt,
            b"dialstatus" => &mut self.dial_status,
            b"response" => &mut self.response,
            b"reason" => &mut self.reason,
            b"bridgeuniqueid" => &mut self.bridge_uniqueid,
            b"bridgetype" => &mut self.bridge_type,
            b"bridgetechnology" => &mut self.bridge_technology,
            b"bridgecreator" => &mut self.bridge_creator,
            b"bridgename" => &mut self.bridge_name,
            b"tobridgeuniqueid" => &mut self.to_bridge,
            b"frombridgeuniqueid" => &mut self.from_bridge,
            b"queue" => &mut self.queue,
            b"position" => &mut self.position,
            b"wait" => &mut self.wait,
            b"membername" | b"name" => &mut self.member_name,
            b"interface" | b"location" => &mut self.interface,
            b"stateinterface" => &mut self.state_interface,
            b"membership" => &mut self.membership,
            b"penalty" => &mut self.penalty,
            b"callstaken" => &mut self.calls_taken,
            b"lastcall" => &mut self.last_call,
            b"lastpause" => &mut self.last_pause,
            b"logintime" => &mut self.login_time,
            b"incall" => &mut self.in_call,
            b"status" => &mut self.status,
            b"paused" => &mut self.paused,
            b"pausedreason" => &mut self.paused_reason,
            b"ringinuse" => &mut self.ringinuse,
            b"wrapuptime" => &mut self.wrapup_time,
            b"max" => &mut self.max,
            b"strategy" => &mut self.strategy,
            b"holdtime" => &mut self.hold_time,
            b"talktime" => &mut self.talk_time,
            b"completed" => &mut self.completed,
            b"abandoned" => &mut self.abandoned,
            b"servicelevel" => &mut self.service_level,
            b"servicelevelperf" => &mut self.service_level_perf,
            b"servicelevelperf2" => &mut self.service_level_perf2,
            b"weight" => &mut self.weight,
            b"device" => &mut self.device,
            b"state" => &mut self.state,
            b"hint" => &mut self.hint,
            b"statustext" => &mut self.status_text,
            _ => return None,
        })
    }
}

/// `value` as a number, if it is one (surrounding blanks allowed).
pub(crate) fn number<T: std::str::FromStr>(value: Option<&[u8]>) -> Option<T> {
    std::str::from_utf8(value?).ok()?.trim().parse().ok()
}

/// `value` as a flag: `1`, `true` or `yes` (any case) is true.
pub(crate) fn flag(value: Option<&[u8]>) -> Option<bool> {
    let value = value?;
    Some(value == b"1" || value.eq_ignore_ascii_case(b"true") || value.eq_ignore_ascii_case(b"yes"))
}

/// `value` as text (lossy UTF-8), or "" when absent.
pub(crate) fn text(value: Option<&[u8]>) -> String {
    String::from_utf8_lossy(value.unwrap_or_default()).into_owned()
}

/// Replaces `field` with `value` when present and different; whether it did.
pub(crate) fn assign(field: &mut String, value: Option<&[u8]>) -> bool {
    let Some(value) = value else {
        return false;
    };
    let value = String::from_utf8_lossy(value);
    if *field == *value {
        return false;
    }
    field.clear();
    field.push_str(&value);
    true
}

/// Replaces `field` with `value` when present and different; whether it did.
pub(crate) fn assign_copy<T: PartialEq>(field: &mut T, value: Option<T>) -> bool {
    match value {
        Some(value) if *field != value => {
            *field = value;
            true
        }
        _ => false,
    }
}

/// A key from bytes: `None` when absent or empty.
pub(crate) fn key(value: Option<&[u8]>) -> Option<std::borrow::Cow<'_, str>> {
    value.filter(|v| !v.is_empty()).map(String::from_utf8_lossy)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_pass_finds_bare_and_prefixed_snapshots_in_any_case() {
        let event = Event::from_pairs([
            ("Event", &b"DialEnd"[..]),
            ("Privilege", b"call,all"),
            ("Channel", b"PJSIP/a-1"),
            ("UniqueID", b"1.1"),
            ("DestChannel", b"PJSIP/b-2"),
            ("DestUniqueid", b"1.2"),
            ("DestinationChannel", b"not a snapshot"),
            ("Uniqueid", b"second copy loses"),
            ("DialStatus", b"ANSWER"),
            ("AVeryLongHeaderNameThatIsIgnored", b"x"),
        ]);
        let f = Fields::of(&event);
        assert_eq!(f.chan.channel, Some(&b"PJSIP/a-1"[..]));
        assert_eq!(f.chan.uniqueid, Some(&b"1.1"[..]));
        assert_eq!(f.dest.channel, Some(&b"PJSIP/b-2"[..]));
        assert_eq!(f.dest.uniqueid, Some(&b"1.2"[..]));
        assert_eq!(f.dial_status, Some(&b"ANSWER"[..]));
    }

    #[test]
    fn list_and_event_spellings_share_a_slot() {
        let item = Event::from_pairs([
            ("Event", &b"QueueMember"[..]),
            ("Name", b"Agent One"),
            ("Location", b"Local/agent1@agents"),
            ("ActionID", b"qs-1"),
        ]);
        let f = Fields::of(&item);
        assert_eq!(f.member_name, Some(&b"Agent One"[..]));
        assert_eq!(f.interface, Some(&b"Local/agent1@agents"[..]));
        let event = Event::from_pairs([
            ("Event", &b"QueueMemberStatus"[..]),
            ("Privilege", b"agent,all"),
            ("MemberName", b"Agent One"),
            ("Interface", b"Local/agent1@agents"),
        ]);
        let f = Fields::of(&event);
        assert_eq!(f.member_name, Some(&b"Agent One"[..]));
        assert_eq!(f.interface, Some(&b"Local/agent1@agents"[..]));
    }

    #[test]
    fn value_helpers() {
        assert_eq!(number::<u32>(Some(b" 42 ")), Some(42));
        assert_eq!(number::<u32>(Some(b"-1")), None);
        assert_eq!(number::<i32>(Some(b"-1")), Some(-1));
        assert_eq!(number::<u32>(None), None);
        assert_eq!(flag(Some(b"1")), Some(true));
        assert_eq!(flag(Some(b"0")), Some(false));
        let mut s = String::from("a");
        assert!(!assign(&mut s, Some(b"a")));
        assert!(!assign(&mut s, None));
        assert!(assign(&mut s, Some(b"b")));
        assert_eq!(s, "b");
        assert_eq!(key(Some(b"")), None);
    }
}

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

use std::borrow::Cow;

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
    /// The slot for a snapshot header.
    fn slot(&mut self, name: Header) -> Option<&mut Option<&'a [u8]>> {
        Some(match name {
            Header::Channel => &mut self.channel,
            Header::ChannelState => &mut self.state,
            Header::CallerIdNum => &mut self.caller_num,
            Header::CallerIdName => &mut self.caller_name,
            Header::ConnectedLineNum => &mut self.connected_num,
            Header::ConnectedLineName => &mut self.connected_name,
            Header::Context => &mut self.context,
            Header::Exten => &mut self.exten,
            Header::Priority => &mut self.priority,
            Header::Uniqueid => &mut self.uniqueid,
            Header::Linkedid => &mut self.linkedid,
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

impl<'a> Fields<'a> {
    /// Reads `event`'s headers once, the `Dest` snapshot included.
    pub(crate) fn of(event: &'a Event) -> Self {
        Fields::read(event, true)
    }

    /// Reads `event`'s headers once; the `Dest` snapshot only if `dest`
    /// (skipping it saves a third of the work on a dial or agent event).
    #[inline]
    pub(crate) fn read(event: &'a Event, dest: bool) -> Self {
        let mut fields = Fields::default();
        for (name, value) in event.headers().iter() {
            // No name the model reads starts with `Dest`.
            if let Some(rest) = strip_dest(name) {
                let slot = dest.then(|| Header::of(rest)).flatten();
                if let Some(slot) = slot.and_then(|n| fields.dest.slot(n)) {
                    slot.get_or_insert(value);
                }
            } else if let Some(name) = Header::of(name) {
                fields.slot(name).get_or_insert(value);
            }
        }
        fields
    }

    /// The slot for a header.
    fn slot(&mut self, name: Header) -> &mut Option<&'a [u8]> {
        use Header::*;
        match name {
            Channel | ChannelState | CallerIdNum | CallerIdName | ConnectedLineNum
            | ConnectedLineName | Context | Exten | Priority | Uniqueid | Linkedid => {
                self.chan.slot(name).expect("a snapshot name")
            }
            ActionId => &mut self.action_id,
            Timestamp => &mut self.timestamp,
            Application => &mut self.application,
            AppData => &mut self.app_data,
            BridgeId => &mut self.bridge_id,
            Cause => &mut self.cause,
            CauseTxt => &mut self.cause_txt,
            DialStatus => &mut self.dial_status,
            Response => &mut self.response,
            Reason => &mut self.reason,
            BridgeUniqueid => &mut self.bridge_uniqueid,
            BridgeType => &mut self.bridge_type,
            BridgeTechnology => &mut self.bridge_technology,
            BridgeCreator => &mut self.bridge_creator,
            BridgeName => &mut self.bridge_name,
            ToBridge => &mut self.to_bridge,
            FromBridge => &mut self.from_bridge,
            Queue => &mut self.queue,
            Position => &mut self.position,
            Wait => &mut self.wait,
            MemberName => &mut self.member_name,
            Interface => &mut self.interface,
            StateInterface => &mut self.state_interface,
            Membership => &mut self.membership,
            Penalty => &mut self.penalty,
            CallsTaken => &mut self.calls_taken,
            LastCall => &mut self.last_call,
            LastPause => &mut self.last_pause,
            LoginTime => &mut self.login_time,
            InCall => &mut self.in_call,
            Status => &mut self.status,
            Paused => &mut self.paused,
            PausedReason => &mut self.paused_reason,
            Ringinuse => &mut self.ringinuse,
            WrapupTime => &mut self.wrapup_time,
            Max => &mut self.max,
            Strategy => &mut self.strategy,
            HoldTime => &mut self.hold_time,
            TalkTime => &mut self.talk_time,
            Completed => &mut self.completed,
            Abandoned => &mut self.abandoned,
            ServiceLevel => &mut self.service_level,
            ServiceLevelPerf => &mut self.service_level_perf,
            ServiceLevelPerf2 => &mut self.service_level_perf2,
            Weight => &mut self.weight,
            Device => &mut self.device,
            State => &mut self.state,
            Hint => &mut self.hint,
            StatusText => &mut self.status_text,
        }
    }
}

/// `name` without a leading `Dest` (any case), if it has one.
fn strip_dest(name: &[u8]) -> Option<&[u8]> {
    match name.split_at_checked(4) {
        Some((head, rest)) if head.eq_ignore_ascii_case(b"dest") => Some(rest),
        _ => None,
    }
}

/// The headers the model reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Header {
    Channel,
    ChannelState,
    CallerIdNum,
    CallerIdName,
    ConnectedLineNum,
    ConnectedLineName,
    Context,
    Exten,
    Priority,
    Uniqueid,
    Linkedid,
    ActionId,
    Timestamp,
    Application,
    AppData,
    BridgeId,
    Cause,
    CauseTxt,
    DialStatus,
    Response,
    Reason,
    BridgeUniqueid,
    BridgeType,
    BridgeTechnology,
    BridgeCreator,
    BridgeName,
    ToBridge,
    FromBridge,
    Queue,
    Position,
    Wait,
    MemberName,
    Interface,
    StateInterface,
    Membership,
    Penalty,
    CallsTaken,
    LastCall,
    LastPause,
    LoginTime,
    InCall,
    Status,
    Paused,
    PausedReason,
    Ringinuse,
    WrapupTime,
    Max,
    Strategy,
    HoldTime,
    TalkTime,
    Completed,
    Abandoned,
    ServiceLevel,
    ServiceLevelPerf,
    ServiceLevelPerf2,
    Weight,
    Device,
    State,
    Hint,
    StatusText,
}

/// Every spelling the model reads, lower case, with what it means.
const NAMES: &[(&str, Header)] = &[
    ("channel", Header::Channel),
    ("channelstate", Header::ChannelState),
    ("calleridnum", Header::CallerIdNum),
    ("calleridname", Header::CallerIdName),
    ("connectedlinenum", Header::ConnectedLineNum),
    ("connectedlinename", Header::ConnectedLineName),
    ("context", Header::Context),
    ("exten", Header::Exten),
    ("priority", Header::Priority),
    ("uniqueid", Header::Uniqueid),
    ("linkedid", Header::Linkedid),
    ("actionid", Header::ActionId),
    ("timestamp", Header::Timestamp),
    ("application", Header::Application),
    ("appdata", Header::AppData),
    ("applicationdata", Header::AppData),
    ("data", Header::AppData),
    ("bridgeid", Header::BridgeId),
    ("cause", Header::Cause),
    ("cause-txt", Header::CauseTxt),
    ("dialstatus", Header::DialStatus),
    ("response", Header::Response),
    ("reason", Header::Reason),
    ("bridgeuniqueid", Header::BridgeUniqueid),
    ("bridgetype", Header::BridgeType),
    ("bridgetechnology", Header::BridgeTechnology),
    ("bridgecreator", Header::BridgeCreator),
    ("bridgename", Header::BridgeName),
    ("tobridgeuniqueid", Header::ToBridge),
    ("frombridgeuniqueid", Header::FromBridge),
    ("queue", Header::Queue),
    ("position", Header::Position),
    ("wait", Header::Wait),
    ("membername", Header::MemberName),
    ("name", Header::MemberName),
    ("interface", Header::Interface),
    ("location", Header::Interface),
    ("stateinterface", Header::StateInterface),
    ("membership", Header::Membership),
    ("penalty", Header::Penalty),
    ("callstaken", Header::CallsTaken),
    ("lastcall", Header::LastCall),
    ("lastpause", Header::LastPause),
    ("logintime", Header::LoginTime),
    ("incall", Header::InCall),
    ("status", Header::Status),
    ("paused", Header::Paused),
    ("pausedreason", Header::PausedReason),
    ("ringinuse", Header::Ringinuse),
    ("wrapuptime", Header::WrapupTime),
    ("max", Header::Max),
    ("strategy", Header::Strategy),
    ("holdtime", Header::HoldTime),
    ("talktime", Header::TalkTime),
    ("completed", Header::Completed),
    ("abandoned", Header::Abandoned),
    ("servicelevel", Header::ServiceLevel),
    ("servicelevelperf", Header::ServiceLevelPerf),
    ("servicelevelperf2", Header::ServiceLevelPerf2),
    ("weight", Header::Weight),
    ("device", Header::Device),
    ("state", Header::State),
    ("hint", Header::Hint),
    ("statustext", Header::StatusText),
];

/// Slots of [`TABLE`]; a power of two, four times the names and more, so
/// that a probe seldom goes past its first slot.
const TABLE_SIZE: usize = 256;

/// An open-addressing table from a name's [`name_hash`] to its entry in
/// [`NAMES`], built at compile time.
const TABLE: [Option<(&str, Header)>; TABLE_SIZE] = {
    assert!(NAMES.len() * 4 <= TABLE_SIZE);
    let mut table = [None; TABLE_SIZE];
    let mut i = 0;
    while i < NAMES.len() {
        let mut slot = name_hash(NAMES[i].0.as_bytes());
        while table[slot].is_some() {
            slot = (slot + 1) % TABLE_SIZE;
        }
        table[slot] = Some(NAMES[i]);
        i += 1;
    }
    table
};

/// A slot of [`TABLE`] from a name's length and its first two and last two
/// bytes, each with bit 5 set, which lower-cases ASCII letters: names that
/// differ only in case hash alike, and the hash costs the same for any
/// length. (Other names may share a slot; [`Header::of`] compares the name
/// itself.)
const fn name_hash(name: &[u8]) -> usize {
    let n = name.len();
    if n == 0 {
        return 0;
    }
    let mixed = n as u64
        | lower(name, 0) << 8
        | lower(name, if n > 1 { 1 } else { 0 }) << 16
        | lower(name, n.saturating_sub(2)) << 24
        | lower(name, n - 1) << 32;
    (mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 56) as usize
}

/// Whether `name` is `spelling` (lower-case letters, digits and `-`, as
/// all of [`NAMES`] are) in any case. Setting bit 5 lower-cases a letter
/// and leaves digits and `-` alone; a byte below 0x20, which it would turn
/// into a digit or `-`, never matches. Names of eight bytes or more are
/// compared a word at a time.
fn same_name(name: &[u8], spelling: &[u8]) -> bool {
    let n = name.len();
    if n != spelling.len() {
        return false;
    }
    if n < 8 {
        return name
            .iter()
            .zip(spelling)
            .all(|(&a, &b)| a >= 0x20 && a | 0x20 == b);
    }
    let mut at = 0;
    while at + 8 <= n {
        if !same_word(word(name, at), word(spelling, at)) {
            return false;
        }
        at += 8;
    }
    // The last bytes, in a word that overlaps ones already compared.
    at == n || same_word(word(name, n - 8), word(spelling, n - 8))
}

fn word(bytes: &[u8], at: usize) -> u64 {
    let eight = bytes.get(at..at + 8).and_then(|w| w.try_into().ok());
    u64::from_le_bytes(eight.unwrap_or_default())
}

/// Whether eight bytes of a name match eight of a spelling (see [`same_name`]).
fn same_word(name: u64, spelling: u64) -> bool {
    const BIT5: u64 = 0x2020_2020_2020_2020;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    // Non-zero exactly when some byte is below 0x20.
    let control = name.wrapping_sub(BIT5) & !name & HIGH;
    control == 0 && name | BIT5 == spelling
}

/// Byte `i` of `name` with bit 5 set.
const fn lower(name: &[u8], i: usize) -> u64 {
    (name[i] | 0x20) as u64
}

impl Header {
    /// The name a header spelled `name` (any case) stands for.
    fn of(name: &[u8]) -> Option<Header> {
        let mut slot = name_hash(name);
        loop {
            let (spelling, meaning) = TABLE[slot]?;
            if same_name(name, spelling.as_bytes()) {
                return Some(meaning);
            }
            slot = (slot + 1) % TABLE_SIZE;
        }
    }
}

/// `value` as a number, if it is one: optional blanks, an optional `-`,
/// decimal digits, optional blanks; `None` if it does not fit `T`.
pub(crate) fn number<T: TryFrom<i64>>(value: Option<&[u8]>) -> Option<T> {
    let text = value?.trim_ascii();
    let (negative, digits) = match text.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, text),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &b in digits {
        if !b.is_ascii_digit() {
            return None;
        }
        n = n.checked_mul(10)?.checked_add(i64::from(b - b'0'))?;
    }
    T::try_from(if negative { -n } else { n }).ok()
}

/// `value` as a flag: `1`, `true` or `yes` (any case) is true.
pub(crate) fn flag(value: Option<&[u8]>) -> Option<bool> {
    let value = value?;
    Some(value == b"1" || value.eq_ignore_ascii_case(b"true") || value.eq_ignore_ascii_case(b"yes"))
}

/// `bytes` as text: borrowed when valid UTF-8 (std's validation is fast
/// on ASCII, faster than `from_utf8_lossy`'s), else with U+FFFD.
pub(crate) fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

/// `value` as text (lossy UTF-8), or "" when absent.
pub(crate) fn text(value: Option<&[u8]>) -> String {
    lossy(value.unwrap_or_default()).into_owned()
}

/// Replaces `field` with `value` when present and different; whether it did.
pub(crate) fn assign(field: &mut String, value: Option<&[u8]>) -> bool {
    let Some(value) = value else {
        return false;
    };
    // Most headers repeat what the model holds: compare the bytes before
    // paying for a UTF-8 check.
    if same_bytes(field.as_bytes(), value) {
        return false;
    }
    let value = lossy(value);
    if *field == *value {
        return false;
    }
    field.clear();
    field.push_str(&value);
    true
}

/// `a == b`, a word at a time and inline: the values the model compares
/// are short, and a call to `memcmp` for each costs more than comparing.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    if n < 8 {
        return a.iter().zip(b).all(|(x, y)| x == y);
    }
    let mut at = 0;
    while at + 8 <= n {
        if word(a, at) != word(b, at) {
            return false;
        }
        at += 8;
    }
    at == n || word(a, n - 8) == word(b, n - 8)
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
pub(crate) fn key(value: Option<&[u8]>) -> Option<Cow<'_, str>> {
    value.filter(|v| !v.is_empty()).map(lossy)
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
    fn every_spelling_is_found_in_any_case_and_nothing_else() {
        for (spelling, meaning) in NAMES {
            assert_eq!(
                Header::of(spelling.as_bytes()),
                Some(*meaning),
                "{spelling}"
            );
            let upper = spelling.to_ascii_uppercase();
            assert_eq!(Header::of(upper.as_bytes()), Some(*meaning), "{upper}");
        }
        for other in [
            &b""[..],
            b"event",
            b"privilege",
            b"channe",
            b"channels",
            b"cause_txt",
            b"c\x00annel",
            b"cause\rtxt",
            b"c\x08annel",
            b"calleridnu\x0e",
            b"servicelevelperf\x12",
            b"connectedline\x0eame",
        ] {
            assert_eq!(Header::of(other), None, "{other:?}");
        }
    }

    #[test]
    fn same_bytes_is_equality() {
        let texts: [&[u8]; 7] = [
            b"",
            b"a",
            b"abcdefg",
            b"abcdefgh",
            b"abcdefgh1",
            b"abcdefgh2",
            b"1795727786.123456",
        ];
        for a in texts {
            for b in texts {
                assert_eq!(same_bytes(a, b), a == b, "{a:?} {b:?}");
            }
        }
        assert!(!same_bytes(b"1795727786.123456", b"1795727786.123457"));
        assert!(!same_bytes(b"x795727786.123456", b"1795727786.123456"));
    }

    #[test]
    fn value_helpers() {
        assert_eq!(number::<u32>(Some(b" 42 ")), Some(42));
        assert_eq!(number::<u32>(Some(b"-1")), None);
        assert_eq!(number::<i32>(Some(b"-1")), Some(-1));
        assert_eq!(number::<u32>(None), None);
        assert_eq!(number::<u8>(Some(b"300")), None, "does not fit");
        assert_eq!(number::<u64>(Some(b"99999999999999999999")), None);
        assert_eq!(number::<u32>(Some(b"4x")), None);
        assert_eq!(number::<i32>(Some(b"-")), None);
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

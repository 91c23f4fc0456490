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
    #[inline]
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
    pub(crate) fn of(event: &'a Event, names: &mut Names) -> Self {
        let mut fields = Fields::default();
        fields.fill(event, Dest::Read, names);
        fields
    }

    /// Reads `event`'s headers once into empty fields, the `Dest` snapshot
    /// as `dest` says (skipping it saves a third of the work on a dial or
    /// agent event). In place: the fields are too large to move for free.
    #[inline]
    pub(crate) fn fill(&mut self, event: &'a Event, dest: Dest, names: &mut Names) {
        for (name, value) in event.headers().iter() {
            match (names.meaning(name), dest) {
                (Meaning::Bare(name), _) => {
                    self.slot(name).get_or_insert(value);
                }
                (Meaning::Dest(name), Dest::Read) => {
                    if let Some(slot) = self.dest.slot(name) {
                        slot.get_or_insert(value);
                    }
                }
                (Meaning::Dest(_), Dest::End) => return,
                (Meaning::Dest(_), Dest::Skip) | (Meaning::Nothing, _) => {}
            }
        }
    }

    /// The slot for a header.
    #[inline]
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

/// What [`Fields::fill`] does with an event's `Dest` snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dest {
    Read,
    Skip,
    /// Nothing from it on matters: stop reading at its first header.
    /// Asterisk writes the `Dest` snapshot after the event's own
    /// (`ast_manager_build_channel_state_string_prefix` for the caller,
    /// then with `Dest`), and the timestamp before both.
    End,
}

/// What a header name means to the model.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Meaning {
    /// Nothing it reads.
    Nothing,
    /// A header it reads.
    Bare(Header),
    /// A header of the `Dest` snapshot (no name the model reads starts
    /// with `Dest`).
    Dest(Header),
}

impl Meaning {
    /// What `name` means, found in [`TABLE`] (any case).
    fn of(name: &[u8]) -> Meaning {
        match strip_dest(name) {
            Some(rest) => Header::of(rest).map_or(Meaning::Nothing, Meaning::Dest),
            None => Header::of(name).map_or(Meaning::Nothing, Meaning::Bare),
        }
    }
}

/// Slots of [`Names`]: a power of two, several times the names a server
/// sends (about a hundred), so that they seldom evict each other.
const NAMES_SEEN: usize = 512;

/// What the names met lately mean, by their exact bytes.
///
/// A server spells each header the same way every time, so a name met
/// before is known by its bytes alone: no case folding, no `Dest` prefix to
/// strip, and the names the model ignores (`Privilege`, `Language`, ...)
/// are recognised as fast as the ones it reads. Each name has one slot; a
/// name that finds another in it is looked up in [`TABLE`] and takes the
/// slot. (Whatever evicts what, the answers are the table's.)
pub(crate) struct Names {
    /// An empty slot holds [`Key::NONE`], which no name has.
    slots: Box<[(Key, Meaning)]>,
}

impl Default for Names {
    fn default() -> Self {
        Names {
            slots: vec![(Key::NONE, Meaning::Nothing); NAMES_SEEN].into_boxed_slice(),
        }
    }
}

impl std::fmt::Debug for Names {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let known = self.slots.iter().filter(|(k, _)| *k != Key::NONE).count();
        f.debug_struct("Names").field("known", &known).finish()
    }
}

impl Names {
    /// What `name` means.
    #[inline]
    fn meaning(&mut self, name: &[u8]) -> Meaning {
        let Some(exact) = Key::exact(name) else {
            return Meaning::of(name);
        };
        let slot = exact.slot() % NAMES_SEEN;
        let (seen, meaning) = &mut self.slots[slot];
        if *seen != exact {
            *seen = exact;
            *meaning = Meaning::of(name);
        }
        *meaning
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

/// An open-addressing table from a name's [`Key`] to what it means, built
/// at compile time from [`NAMES`].
const TABLE: [Option<(Key, Header)>; TABLE_SIZE] = {
    assert!(NAMES.len() * 4 <= TABLE_SIZE);
    let mut table = [None; TABLE_SIZE];
    let mut i = 0;
    while i < NAMES.len() {
        let Some(key) = Key::of(NAMES[i].0.as_bytes()) else {
            panic!("every spelling has a key");
        };
        let mut slot = key.slot() % TABLE_SIZE;
        while table[slot].is_some() {
            slot = (slot + 1) % TABLE_SIZE;
        }
        table[slot] = Some((key, NAMES[i].1));
        i += 1;
    }
    table
};

/// A header name of up to 24 bytes as its length and three words with
/// ASCII capitals lower-cased: two names have equal keys exactly when they
/// are equal in any case. Every byte is in some word (words may overlap),
/// so a look-up reads a name in a few loads and compares it in four
/// comparisons, whatever its length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Key {
    len: usize,
    words: [u64; 3],
}

impl Key {
    /// No name's key: [`Key::exact`] gives none of length 0.
    const NONE: Key = Key {
        len: 0,
        words: [0; 3],
    };

    /// The key of `name`; `None` if it is empty or longer than any the
    /// model reads could be.
    const fn of(name: &[u8]) -> Option<Key> {
        let Some(Key { len, words }) = Key::exact(name) else {
            return None;
        };
        Some(Key {
            len,
            words: [
                fold_case(words[0]),
                fold_case(words[1]),
                fold_case(words[2]),
            ],
        })
    }

    /// As [`Key::of`], case kept: equal keys are equal names.
    const fn exact(name: &[u8]) -> Option<Key> {
        let n = name.len();
        let words = match n {
            0 => return None,
            1 => [name[0] as u64, 0, 0],
            2..=3 => [load2(name, 0) | load2(name, n - 2) << 16, 0, 0],
            4..=7 => [load4(name, 0) | load4(name, n - 4) << 32, 0, 0],
            8..=16 => [load8(name, 0), load8(name, n - 8), 0],
            17..=24 => [load8(name, 0), load8(name, n - 8), load8(name, 8)],
            _ => return None,
        };
        Some(Key { len: n, words })
    }

    /// A hash of the key, 16 bits: its first slot in [`TABLE`] (and in
    /// [`Names`]) is the remainder.
    const fn slot(&self) -> usize {
        let [a, b, c] = self.words;
        let mixed = a ^ b.rotate_left(21) ^ c.rotate_left(42) ^ self.len as u64;
        (mixed.wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 48) as usize
    }
}

/// Two, four or eight bytes of `name` from `at`, little-endian, in one
/// load each; the caller knows they are there (zero otherwise).
const fn load2(name: &[u8], at: usize) -> u64 {
    match chunk::<2>(name, at) {
        Some(bytes) => u16::from_le_bytes(*bytes) as u64,
        None => 0,
    }
}

/// See [`load2`].
const fn load4(name: &[u8], at: usize) -> u64 {
    match chunk::<4>(name, at) {
        Some(bytes) => u32::from_le_bytes(*bytes) as u64,
        None => 0,
    }
}

/// See [`load2`].
const fn load8(name: &[u8], at: usize) -> u64 {
    match chunk::<8>(name, at) {
        Some(bytes) => u64::from_le_bytes(*bytes),
        None => 0,
    }
}

/// The `N` bytes of `name` from `at`, if it has them.
const fn chunk<const N: usize>(name: &[u8], at: usize) -> Option<&[u8; N]> {
    match name.split_at_checked(at) {
        Some((_, rest)) => rest.first_chunk::<N>(),
        None => None,
    }
}

/// Eight bytes with their ASCII capitals lower-cased (and nothing else
/// changed), without a branch: each byte's low seven bits plus a constant
/// sets its high bit exactly when it is at least `A` (or more than `Z`),
/// and no sum carries into the next byte.
const fn fold_case(word: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let low = word & (0x7f * ONES);
    let from_a = low + (0x80 - b'A' as u64) * ONES;
    let past_z = low + (0x80 - b'Z' as u64 - 1) * ONES;
    let capitals = from_a & !past_z & !word & (0x80 * ONES);
    word | capitals >> 2
}

fn word(bytes: &[u8], at: usize) -> u64 {
    let eight = bytes.get(at..at + 8).and_then(|w| w.try_into().ok());
    u64::from_le_bytes(eight.unwrap_or_default())
}

impl Header {
    /// The name a header spelled `name` (any case) stands for.
    #[inline]
    fn of(name: &[u8]) -> Option<Header> {
        let key = Key::of(name)?;
        let mut slot = key.slot() % TABLE_SIZE;
        loop {
            let (spelling, meaning) = TABLE[slot]?;
            if spelling == key {
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
    let value = match lossy(value) {
        // Valid UTF-8, so the text is the bytes, which differ.
        Cow::Borrowed(value) => value,
        // Replacement characters may make it what the field holds.
        Cow::Owned(value) if *field == value => return false,
        Cow::Owned(value) => {
            *field = value;
            return true;
        }
    };
    field.clear();
    field.push_str(value);
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
        let f = Fields::of(&event, &mut Names::default());
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
        let f = Fields::of(&item, &mut Names::default());
        assert_eq!(f.member_name, Some(&b"Agent One"[..]));
        assert_eq!(f.interface, Some(&b"Local/agent1@agents"[..]));
        let event = Event::from_pairs([
            ("Event", &b"QueueMemberStatus"[..]),
            ("Privilege", b"agent,all"),
            ("MemberName", b"Agent One"),
            ("Interface", b"Local/agent1@agents"),
        ]);
        let f = Fields::of(&event, &mut Names::default());
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
    fn names_seen_mean_what_the_table_says_however_they_evict_each_other() {
        let mut names = Names::default();
        let mut spellings: Vec<Vec<u8>> = Vec::new();
        for (spelling, _) in NAMES {
            let upper = spelling.to_ascii_uppercase();
            for name in [spelling.as_bytes(), upper.as_bytes()] {
                spellings.push(name.to_vec());
                spellings.push([b"Dest", name].concat());
                spellings.push([b"X", name].concat());
            }
        }
        spellings.extend([&b"Privilege"[..], b"Event", b""].map(|n| n.to_vec()));
        spellings.push(vec![b'a'; 30]);
        for round in 0..3 {
            for name in &spellings {
                let want = Meaning::of(name);
                assert_eq!(names.meaning(name), want, "{name:?} in round {round}");
            }
        }
        assert_eq!(
            names.meaning(b"DestUniqueid"),
            Meaning::Dest(Header::Uniqueid)
        );
        assert_eq!(names.meaning(b"UNIQUEID"), Meaning::Bare(Header::Uniqueid));
        assert_eq!(names.meaning(b"Privilege"), Meaning::Nothing);
    }

    #[test]
    fn keys_are_equal_exactly_when_names_are_equal_in_any_case() {
        // Names one byte apart, at every place and every length a key
        // covers: the byte against its other case, its neighbours around
        // the capitals, a control byte and a high byte.
        for len in 1..=24 {
            let base: Vec<u8> = (0..len).map(|i| b"calleridnumber-2xyzwvuts"[i]).collect();
            for at in 0..len {
                for x in 0..=255u8 {
                    let mut other = base.clone();
                    other[at] = x;
                    let same = base.eq_ignore_ascii_case(&other);
                    assert_eq!(Key::of(&base) == Key::of(&other), same, "{other:?}");
                }
            }
        }
        assert_eq!(Key::of(b""), None);
        assert_eq!(Key::of(&[b'a'; 25]), None, "longer than any name read");
        assert_ne!(Key::of(b"abcd"), Key::of(b"abcdabcd"), "lengths differ");
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
        assert!(assign(&mut s, Some(b"c\xff")), "invalid UTF-8 is replaced");
        assert_eq!(s, "c\u{fffd}");
        assert!(
            !assign(&mut s, Some(b"c\xfe")),
            "the same text once replaced"
        );
        assert!(!assign(&mut s, Some("c\u{fffd}".as_bytes())));
        assert!(assign(&mut s, Some(b"d")));
        assert_eq!(s, "d");
        assert_eq!(key(Some(b"")), None);
    }
}

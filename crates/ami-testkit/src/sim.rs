//! A deterministic dialer-like traffic generator.
//!
//! Each simulated call produces the same kinds of events, in the same order
//! and with the same header shapes, as the calls in the Asterisk 22 captures
//! (`09-originate-async.raw`): channel snapshots of sixteen headers,
//! `Dest`-prefixed snapshots for dial events, `Cause-txt`, a `Cdr`. Names,
//! numbers and ids come from a seeded PRNG, so two simulators with the same
//! seed produce the same bytes.

use crate::rng::{civil, SplitMix64};

/// The number of events [`TrafficSim::next_call`] produces for one call.
const EVENTS_PER_CALL: usize = 17;

/// A seeded generator of realistic call events (300 to 900 bytes each).
///
/// # Examples
///
/// ```
/// use ami_testkit::TrafficSim;
///
/// let mut sim = TrafficSim::new(42);
/// let call = sim.next_call(1_795_727_786.0);
/// let text = String::from_utf8(call).unwrap();
/// assert_eq!(text.matches("\r\n\r\n").count(), TrafficSim::events_per_call());
/// assert!(text.starts_with("Event: Newchannel\r\n"));
/// ```
#[derive(Clone, Debug)]
pub struct TrafficSim {
    rng: SplitMix64,
    /// Channel name sequence (the `-0000002a` part).
    call_seq: u64,
    /// Uniqueid sequence (the part after the dot).
    uid_seq: u64,
    /// Epoch used by [`TrafficSim::event_bytes`], advanced per call.
    clock: f64,
    /// Events of the current call not yet handed out by `event_bytes`.
    carry: Vec<Vec<u8>>,
}

/// The shape of one channel in a snapshot.
struct Chan<'a> {
    name: &'a str,
    state: u8,
    cid_num: &'a str,
    cid_name: &'a str,
    conn_num: &'a str,
    conn_name: &'a str,
    context: &'a str,
    exten: &'a str,
    priority: u32,
    uniqueid: &'a str,
    linkedid: &'a str,
}

fn state_desc(state: u8) -> &'static str {
    match state {
        0 => "Down",
        4 => "Ring",
        5 => "Ringing",
        6 => "Up",
        _ => "Unknown",
    }
}

impl Chan<'_> {
    /// Appends the channel snapshot headers with `prefix` (`""` or `"Dest"`).
    fn write(&self, out: &mut String, prefix: &str) {
        use std::fmt::Write;
        let _ = write!(
            out,
            "{p}Channel: {}\r\n{p}ChannelState: {}\r\n{p}ChannelStateDesc: {}\r\n\
             {p}CallerIDNum: {}\r\n{p}CallerIDName: {}\r\n\
             {p}ConnectedLineNum: {}\r\n{p}ConnectedLineName: {}\r\n\
             {p}Language: en\r\n{p}AccountCode: \r\n{p}Context: {}\r\n{p}Exten: {}\r\n\
             {p}Priority: {}\r\n{p}Uniqueid: {}\r\n{p}Linkedid: {}\r\n",
            self.name,
            self.state,
            state_desc(self.state),
            self.cid_num,
            self.cid_name,
            self.conn_num,
            self.conn_name,
            self.context,
            self.exten,
            self.priority,
            self.uniqueid,
            self.linkedid,
            p = prefix,
        );
    }
}

const NAMES: [&str; 8] = [
    "Alice Martin",
    "Bruno Costa",
    "Chen Wei",
    "Dana Novak",
    "Emeka Obi",
    "Fatima Zahra",
    "Gustav Lind",
    "Hana Sato",
];

impl TrafficSim {
    /// A simulator whose output depends only on `seed`.
    pub fn new(seed: u64) -> Self {
        TrafficSim {
            rng: SplitMix64::new(seed),
            call_seq: 0,
            uid_seq: 0,
            clock: 1_795_727_786.0,
            carry: Vec::new(),
        }
    }

    /// How many events one call of [`TrafficSim::next_call`] produces.
    pub fn events_per_call() -> usize {
        EVENTS_PER_CALL
    }

    /// The wire bytes of one whole call (Newchannel ×2, Newexten, DialBegin,
    /// Newstate ×2, DialEnd, BridgeCreate, BridgeEnter ×2, HangupRequest,
    /// BridgeLeave ×2, BridgeDestroy, Hangup ×2, Cdr),
    /// with fresh channel names, Uniqueids and Linkedid.
    pub fn next_call(&mut self, now_epoch_secs: f64) -> Vec<u8> {
        self.call_events(now_epoch_secs).concat()
    }

    /// Exactly `n` events, taken from as many calls as needed, for floods.
    /// Consecutive calls continue where the previous one stopped.
    pub fn event_bytes(&mut self, n: usize) -> Vec<u8> {
        let mut out = Vec::with_capacity(n * 640);
        let mut left = n;
        while left > 0 {
            if self.carry.is_empty() {
                self.clock += 0.25;
                let mut call = self.call_events(self.clock);
                call.reverse();
                self.carry = call;
            }
            let event = self.carry.pop().expect("carry was just refilled");
            out.extend_from_slice(&event);
            left -= 1;
        }
        out
    }

    fn call_events(&mut self, epoch: f64) -> Vec<Vec<u8>> {
        let secs = epoch.max(0.0) as u64;
        self.call_seq += 1;
        let seq = self.call_seq;
        let uid1 = format!("{secs}.{}", self.uid_seq);
        let uid2 = format!("{secs}.{}", self.uid_seq + 1);
        self.uid_seq += 2;
        let exten = format!("{}", 100 + self.rng.below(900));
        let number = format!("55{:08}", self.rng.below(100_000_000));
        let name = NAMES[self.rng.below(NAMES.len() as u64) as usize];
        let agent = format!("PJSIP/agent{:03}", self.rng.below(200));
        let ch1 = format!("Local/{exten}@dialer-{seq:08x};1");
        let ch2 = format!("Local/{exten}@dialer-{seq:08x};2");
        let bridge = format!(
            "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
            self.rng.next_u64() as u32,
            self.rng.next_u64() as u16,
            self.rng.next_u64() as u16,
            self.rng.next_u64() as u16,
            self.rng.next_u64() & 0xffff_ffff_ffff
        );
        let duration = 5 + self.rng.below(120);
        let snap = |out: &mut String, ch: &str, state: u8, prio: u32, uid: &str, known: bool| {
            Chan {
                name: ch,
                state,
                cid_num: if known { &number } else { "<unknown>" },
                cid_name: if known { name } else { "<unknown>" },
                conn_num: if known { &number } else { "<unknown>" },
                conn_name: if known { name } else { "<unknown>" },
                context: "dialer",
                exten: &exten,
                priority: prio,
                uniqueid: uid,
                linkedid: &uid1,
            }
            .write(out, "")
        };
        let dest = |out: &mut String, state: u8| {
            Chan {
                name: &ch1,
                state,
                cid_num: &number,
                cid_name: name,
                conn_num: &number,
                conn_name: name,
                context: "dialer",
                exten: &exten,
                priority: 1,
                uniqueid: &uid1,
                linkedid: &uid1,
            }
            .write(out, "Dest")
        };
        let mut events = Vec::with_capacity(EVENTS_PER_CALL);
        let mut push = |s: String| events.push(s.into_bytes());

        let mut e = String::from("Event: Newchannel\r\nPrivilege: call,all\r\n");
        snap(&mut e, &ch1, 0, 1, &uid1, false);
        push(e + "\r\n");

        let mut e = String::from("Event: Newchannel\r\nPrivilege: call,all\r\n");
        snap(&mut e, &ch2, 4, 1, &uid2, false);
        push(e + "\r\n");

        let mut e = String::from("Event: Newexten\r\nPrivilege: dialplan,all\r\n");
        snap(&mut e, &ch2, 4, 1, &uid2, true);
        e += &format!("Extension: {exten}\r\nApplication: Dial\r\nAppData: {agent},30,tT\r\n\r\n");
        push(e);

        let mut e = String::from("Event: DialBegin\r\nPrivilege: call,all\r\n");
        snap(&mut e, &ch2, 4, 1, &uid2, true);
        dest(&mut e, 0);
        e += &format!("DialString: {exten}@dialer\r\n\r\n");
        push(e);

        let mut e = String::from("Event: Newstate\r\nPrivilege: call,all\r\n");
        snap(&mut e, &ch1, 6, 1, &uid1, true);
        push(e + "\r\n");

        let mut e = String::from("Event: DialEnd\r\nPrivilege: call,all\r\n");
        snap(&mut e, &ch2, 4, 1, &uid2, true);
        dest(&mut e, 6);
        e += "DialStatus: ANSWER\r\n\r\n";
        push(e);

        let mut e = String::from("Event: Newstate\r\nPrivilege: call,all\r\n");
        snap(&mut e, &ch2, 6, 1, &uid2, true);
        push(e + "\r\n");

        let bridge_head = |event: &str, members: usize| {
            format!(
                "Event: {event}\r\nPrivilege: call,all\r\nBridgeUniqueid: {bridge}\r\n\
                 BridgeType: basic\r\nBridgeTechnology: simple_bridge\r\nBridgeCreator: <unknown>\r\n\
                 BridgeName: <unknown>\r\nBridgeNumChannels: {members}\r\nBridgeVideoSourceMode: none\r\n"
            )
        };
        push(bridge_head("BridgeCreate", 0) + "\r\n");
        for (members, (ch, uid)) in [(&ch1, &uid1), (&ch2, &uid2)].into_iter().enumerate() {
            let mut e = bridge_head("BridgeEnter", members + 1);
            snap(&mut e, ch, 6, 1, uid, true);
            push(e + "\r\n");
        }

        let mut e = String::from("Event: HangupRequest\r\nPrivilege: call,all\r\n");
        snap(&mut e, &ch1, 6, 1, &uid1, true);
        push(e + "Cause: 16\r\n\r\n");

        for (left, (ch, uid)) in [(&ch1, &uid1), (&ch2, &uid2)].into_iter().enumerate() {
            let mut e = bridge_head("BridgeLeave", 1 - left);
            snap(&mut e, ch, 6, 1, uid, true);
            push(e + "\r\n");
        }
        push(bridge_head("BridgeDestroy", 0) + "\r\n");

        for (ch, uid) in [(&ch2, &uid2), (&ch1, &uid1)] {
            let mut e = String::from("Event: Hangup\r\nPrivilege: call,all\r\n");
            snap(&mut e, ch, 6, 1, uid, true);
            push(e + "Cause: 16\r\nCause-txt: Normal Clearing\r\n\r\n");
        }

        let (date, start) = civil(secs);
        let (_, end) = civil(secs + duration);
        push(format!(
            "Event: Cdr\r\nPrivilege: cdr,all\r\nAccountCode: \r\nSource: {number}\r\n\
             Destination: {exten}\r\nDestinationContext: dialer\r\nCallerID: \"{name}\" <{number}>\r\n\
             Channel: {ch1}\r\nDestinationChannel: {agent}-{seq:08x}\r\nLastApplication: Dial\r\n\
             LastData: {agent},30,tT\r\nStartTime: {date} {start}\r\nAnswerTime: {date} {start}\r\n\
             EndTime: {date} {end}\r\nDuration: {duration}\r\nBillableSeconds: {duration}\r\n\
             Disposition: ANSWERED\r\nAMAFlags: DOCUMENTATION\r\nUniqueID: {uid1}\r\nUserField: \r\n\r\n"
        ));
        debug_assert_eq!(events.len(), EVENTS_PER_CALL);
        events
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ami_proto::{Decoder, Frame};

    fn decode(bytes: &[u8]) -> Vec<ami_proto::Event> {
        let mut d = Decoder::without_banner(1 << 20);
        d.push(bytes);
        let mut out = Vec::new();
        while let Some(f) = d.next_frame() {
            match f {
                Ok(Frame::Event(e)) => out.push(e),
                other => panic!("unexpected {other:?}"),
            }
        }
        out
    }

    #[test]
    fn one_call_has_the_documented_events_and_sizes() {
        let mut sim = TrafficSim::new(1);
        let bytes = sim.next_call(1_795_727_786.5);
        let events = decode(&bytes);
        let names: Vec<_> = events.iter().map(|e| e.name_str().into_owned()).collect();
        assert_eq!(
            names,
            [
                "Newchannel",
                "Newchannel",
                "Newexten",
                "DialBegin",
                "Newstate",
                "DialEnd",
                "Newstate",
                "BridgeCreate",
                "BridgeEnter",
                "BridgeEnter",
                "HangupRequest",
                "BridgeLeave",
                "BridgeLeave",
                "BridgeDestroy",
                "Hangup",
                "Hangup",
                "Cdr"
            ]
        );
        let text = String::from_utf8(bytes).expect("ascii");
        for frame in text.split_terminator("\r\n\r\n") {
            let len = frame.len() + 4;
            // Events about a channel carry its snapshot (300-930 bytes in a
            // real burst); the bridge's own create and destroy do not.
            let sizes = match frame.contains("\r\nChannel: ") || frame.starts_with("Event: Cdr") {
                true => 300..=900,
                false => 200..=300,
            };
            assert!(sizes.contains(&len), "{len} bytes: {frame}");
        }
        let members: Vec<_> = events
            .iter()
            .filter_map(|e| e.get("BridgeNumChannels"))
            .collect();
        assert_eq!(members, [&b"0"[..], b"1", b"2", b"1", b"0", b"0"]);
        assert_eq!(events[14].get("Cause-txt"), Some(&b"Normal Clearing"[..]));
        assert_eq!(events[0].get("Uniqueid"), Some(&b"1795727786.0"[..]));
        assert_eq!(events[1].get("Linkedid"), Some(&b"1795727786.0"[..]));
    }

    #[test]
    fn calls_are_unique_and_seeded() {
        let mut a = TrafficSim::new(9);
        let mut b = TrafficSim::new(9);
        let a1 = a.next_call(100.0);
        assert_eq!(a1, b.next_call(100.0));
        let a2 = a.next_call(100.0);
        assert_ne!(a1, a2);
        let e1 = decode(&a1);
        let e2 = decode(&a2);
        assert_ne!(e1[0].get("Channel"), e2[0].get("Channel"));
        assert_ne!(e1[0].get("Uniqueid"), e2[0].get("Uniqueid"));
    }

    #[test]
    fn event_bytes_gives_exactly_n_events() {
        let mut sim = TrafficSim::new(3);
        for n in [0, 1, 12, 13, 14, 1000] {
            assert_eq!(decode(&sim.event_bytes(n)).len(), n);
        }
    }
}

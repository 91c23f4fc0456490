//! Properties over generated input: whatever arrives, in whatever order,
//! with whatever headers missing or mangled, the model does not panic,
//! stays within its bounds and consistent with itself, a `Hangup` always
//! removes its channel for good, and a resynchronisation converges to what
//! the lists say.
//!
//! The generator is a small seeded one (no dependency): names, keys and
//! values are drawn from small pools so that events collide on the same
//! channels, bridges, queues and calls often.

mod support;

use std::collections::BTreeSet;

use ami_proto::{Action, ActionError, ActionId, Completion, EventList};
use ami_state::{Limits, Model, Snapshot, Timestamp};
use support::{events, feed, inputs, Input};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

const EVENTS: &[&str] = &[
    "Newchannel",
    "Newchannel",
    "Hangup",
    "Hangup",
    "Newstate",
    "NewCallerid",
    "Newexten",
    "DialBegin",
    "DialEnd",
    "HangupRequest",
    "BridgeCreate",
    "BridgeDestroy",
    "BridgeEnter",
    "BridgeEnter",
    "BridgeLeave",
    "BridgeMerge",
    "OriginateResponse",
    "QueueMemberAdded",
    "QueueMemberRemoved",
    "QueueMemberStatus",
    "QueueMemberPause",
    "QueueCallerJoin",
    "QueueCallerJoin",
    "QueueCallerLeave",
    "QueueCallerAbandon",
    "AgentConnect",
    "AgentComplete",
    "DeviceStateChange",
    "ExtensionStatus",
    "CoreShowChannel",
    "QueueEntry",
    "QueueMember",
    "BridgeListItem",
    "VarSet",
    "Cdr",
    "newCHANNEL",
    "SomethingElse",
];

/// A value for header `name`: usually a plausible one from a small pool,
/// sometimes empty or garbage.
fn value(rng: &mut Rng, name: &str) -> String {
    if rng.chance(4) {
        return rng
            .pick(&["", "<unknown>", "x", "-1", "99999999999999999999", "é"])
            .to_owned();
    }
    let uid = |rng: &mut Rng| format!("1795000000.{}", rng.below(14));
    match name {
        "Uniqueid" | "Linkedid" | "DestUniqueid" | "DestLinkedid" | "SwapUniqueid" => uid(rng),
        "Channel" | "DestChannel" => format!("PJSIP/c-{}", rng.below(14)),
        "ChannelState" | "DestChannelState" => rng.below(11).to_string(),
        "Priority" | "DestPriority" | "Position" | "Wait" | "Penalty" | "CallsTaken"
        | "HoldTime" | "TalkTime" | "Status" => rng.below(6).to_string(),
        "BridgeUniqueid" | "ToBridgeUniqueid" | "FromBridgeUniqueid" | "BridgeId" => {
            format!("br-{}", rng.below(5))
        }
        "BridgeType" => rng.pick(&["basic", "holding"]).to_owned(),
        "Queue" => format!("q{}", rng.below(3)),
        "Interface" | "Location" => format!("PJSIP/a{}", rng.below(5)),
        "MemberName" | "Name" => format!("Agent {}", rng.below(5)),
        "Paused" | "InCall" | "Ringinuse" => rng.below(2).to_string(),
        "Device" => rng
            .pick(&["PJSIP/a0", "PJSIP/a1", "Local/1@x", "Custom:lamp"])
            .to_owned(),
        "State" => rng
            .pick(&["INUSE", "NOT_INUSE", "RINGING", "BOGUS"])
            .to_owned(),
        "Exten" => rng.pick(&["200", "201", "s"]).to_owned(),
        "Context" => rng.pick(&["agents", "default"]).to_owned(),
        "ActionID" => format!("o-{}", rng.below(6)),
        "Response" => rng.pick(&["Success", "Failure"]).to_owned(),
        "DialStatus" => rng
            .pick(&["ANSWER", "NOANSWER", "CANCEL", "BUSY"])
            .to_owned(),
        "Cause" | "Reason" => rng.below(20).to_string(),
        "Timestamp" => format!("{}.{}", 1_795_000_000 + rng.below(100), rng.below(999_999)),
        _ => format!("v{}", rng.below(3)),
    }
}

const HEADERS: &[&str] = &[
    "Channel",
    "ChannelState",
    "CallerIDNum",
    "Context",
    "Exten",
    "Priority",
    "Uniqueid",
    "Linkedid",
    "DestChannel",
    "DestChannelState",
    "DestUniqueid",
    "DestLinkedid",
    "BridgeUniqueid",
    "BridgeType",
    "ToBridgeUniqueid",
    "FromBridgeUniqueid",
    "BridgeId",
    "Queue",
    "Position",
    "Wait",
    "Interface",
    "Location",
    "MemberName",
    "Name",
    "Penalty",
    "CallsTaken",
    "Paused",
    "InCall",
    "Status",
    "Ringinuse",
    "Device",
    "State",
    "ActionID",
    "Response",
    "DialStatus",
    "Cause",
    "Reason",
    "HoldTime",
    "TalkTime",
    "Timestamp",
    "Application",
    "AppData",
];

/// One event: a name, and each known header with some probability (a
/// header a kind of event always has is still left out now and then).
fn random_event(rng: &mut Rng) -> String {
    let name = rng.pick(EVENTS);
    let mut out = format!("Event: {name}\r\n");
    if rng.chance(80) {
        out += "Privilege: call,all\r\n";
    }
    for header in HEADERS {
        if rng.chance(45) {
            let shown = if rng.chance(5) {
                header.to_ascii_uppercase()
            } else {
                header.to_string()
            };
            out += &format!("{shown}: {}\r\n", value(rng, header));
        }
    }
    out + "\r\n"
}

/// A list answer of a random kind with random items.
fn random_list(rng: &mut Rng, id: &str) -> String {
    let (item, complete) = [
        ("CoreShowChannel", "CoreShowChannelsComplete"),
        ("Status", "StatusComplete"),
        ("BridgeListItem", "BridgeListComplete"),
        ("QueueMember", "QueueStatusComplete"),
        ("QueueEntry", "QueueStatusComplete"),
        ("QueueParams", "QueueStatusComplete"),
        ("DeviceStateChange", "DeviceStateListComplete"),
        ("ExtensionStatus", "ExtensionStateListComplete"),
        ("QueueSummary", "QueueSummaryComplete"),
    ][rng.below(9)];
    let mut out = format!("Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n");
    for _ in 0..rng.below(6) {
        out += &format!("Event: {item}\r\nActionID: {id}\r\n");
        for header in HEADERS.iter().filter(|h| **h != "ActionID") {
            if rng.chance(50) {
                out += &format!("{header}: {}\r\n", value(rng, header));
            }
        }
        out += "\r\n";
    }
    out + &format!("Event: {complete}\r\nActionID: {id}\r\nEventList: Complete\r\n\r\n")
}

fn small_limits() -> Limits {
    let mut l = Limits::default();
    l.channels = 8;
    l.bridges = 3;
    l.channels_per_bridge = 3;
    l.queues = 2;
    l.members_per_queue = 3;
    l.callers_per_queue = 3;
    l.devices = 3;
    l.extensions = 2;
    l.calls = 3;
    l.channels_per_call = 2;
    l.changes = 16;
    l
}

/// The model's invariants, checked after every step.
fn check(model: &Model, l: &Limits, hung_up: &BTreeSet<String>, context: &str) {
    let s = model.snapshot();
    assert!(s.channels.len() <= l.channels, "{context}");
    assert!(s.bridges.len() <= l.bridges, "{context}");
    assert!(s.queues.len() <= l.queues, "{context}");
    assert!(s.devices.len() <= l.devices, "{context}");
    assert!(s.extensions.len() <= l.extensions, "{context}");
    assert!(s.calls.len() <= l.calls, "{context}");
    assert!(model.pending_changes() <= l.changes, "{context}");
    for c in &s.channels {
        assert!(
            !hung_up.contains(&c.uniqueid),
            "{context}: {} came back after its Hangup",
            c.uniqueid
        );
        if let Some(b) = &c.bridge {
            assert!(
                model.bridge(b).is_some(),
                "{context}: {} in a bridge the model lacks",
                c.uniqueid
            );
        }
        if let Some(q) = &c.waiting_in {
            let queue = model
                .queue(q)
                .unwrap_or_else(|| panic!("{context}: {q} missing"));
            assert!(
                queue.caller(&c.uniqueid).is_some(),
                "{context}: {} not among {q}'s callers",
                c.uniqueid
            );
            let waits_in = s.queues.iter().filter(|q| q.caller(&c.uniqueid).is_some());
            assert_eq!(
                waits_in.count(),
                1,
                "{context}: {} waits in one queue at a time",
                c.uniqueid
            );
        }
    }
    for b in &s.bridges {
        assert!(b.channels.len() <= l.channels_per_bridge, "{context}");
        let unique: BTreeSet<_> = b.channels.iter().collect();
        assert_eq!(unique.len(), b.channels.len(), "{context}: a member twice");
        for uid in &b.channels {
            let c = model
                .channel(uid)
                .unwrap_or_else(|| panic!("{context}: member {uid} is no channel"));
            assert_eq!(c.bridge.as_deref(), Some(b.id.as_str()), "{context}");
        }
    }
    for q in &s.queues {
        assert!(q.members.len() <= l.members_per_queue, "{context}");
        assert!(q.callers.len() <= l.callers_per_queue, "{context}");
        assert!(
            q.callers.windows(2).all(|w| w[0].position <= w[1].position),
            "{context}: callers out of order"
        );
        let members: BTreeSet<_> = q.members.iter().map(|m| &m.interface).collect();
        assert_eq!(members.len(), q.members.len(), "{context}: a member twice");
        let callers: BTreeSet<_> = q.callers.iter().map(|c| &c.uniqueid).collect();
        assert_eq!(callers.len(), q.callers.len(), "{context}: a caller twice");
    }
    for call in &s.calls {
        assert!(call.channels.len() <= l.channels_per_call, "{context}");
    }
    let keys: Vec<_> = s.channels.iter().map(|c| &c.uniqueid).collect();
    assert!(
        keys.windows(2).all(|w| w[0] < w[1]),
        "{context}: snapshot sorted, keys unique"
    );
}

#[test]
fn any_input_keeps_the_model_bounded_and_consistent() {
    let limits = small_limits();
    let mut handled = 0u64;
    for seed in 0..60 {
        let mut rng = Rng(seed);
        let mut model = Model::new(limits.clone());
        let mut hung_up = BTreeSet::new();
        for step in 0..400 {
            let context = format!("seed {seed}, step {step}");
            match rng.below(100) {
                0..=79 => {
                    let wire = random_event(&mut rng);
                    for event in events(&wire) {
                        model.handle_event(&event);
                        handled += 1;
                        if event.is("Hangup") {
                            if let Some(uid) = event.get_str("Uniqueid").filter(|u| !u.is_empty()) {
                                assert!(
                                    model.channel(&uid).is_none(),
                                    "{context}: a Hangup leaves {uid}"
                                );
                                hung_up.insert(uid.into_owned());
                            }
                        }
                    }
                }
                80..=87 => feed(
                    &mut model,
                    &inputs(random_list(&mut rng, &format!("l-{step}")).as_bytes()),
                ),
                88..=91 => {
                    let id =
                        ActionId::from_bytes(format!("o-{}", rng.below(6)).into_bytes().into());
                    let mut action = Action::new("Originate").header("Channel", "PJSIP/x");
                    if rng.chance(30) {
                        action = action.header("ChannelId", value(&mut rng, "Uniqueid"));
                    }
                    model.handle_sent(&id, &action);
                }
                92..=93 => {
                    let id =
                        ActionId::from_bytes(format!("o-{}", rng.below(6)).into_bytes().into());
                    let error = match rng.below(3) {
                        0 => ActionError::ConnectionLost,
                        1 => ActionError::Cancelled,
                        _ => ActionError::Server {
                            message: "no".into(),
                        },
                    };
                    model.handle_completion(&id, Err(&error));
                }
                94 => model.begin_resync(),
                95 => model.end_resync(),
                96 => {
                    model.handle_time(Timestamp::from_secs(1_795_000_000 + rng.below(100) as u64))
                }
                97 => {
                    let first = model.calls().next().map(|c| c.action_id.clone());
                    if let Some(id) = first {
                        assert!(model.remove_call(&id).is_some());
                    }
                }
                _ => while model.poll_change().is_some() {},
            }
            check(&model, &limits, &hung_up, &context);
        }
        assert_eq!(model.stats().events, handled, "seed {seed}");
        handled = 0;
    }
}

/// Well-formed lists, as a server gives them, of a random picture.
fn random_truth(rng: &mut Rng, gone: &BTreeSet<String>) -> String {
    let mut out = String::new();
    let mut list = |id: &str, complete: &str, items: Vec<String>| {
        out += &format!("Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n");
        for item in items {
            out += &item;
        }
        out += &format!("Event: {complete}\r\nActionID: {id}\r\nEventList: Complete\r\n\r\n");
    };
    // The bridges up; the channels in a bridge name one of them.
    let up: Vec<String> = (0..2)
        .map(|n| format!("br-{n}"))
        .filter(|b| rng.chance(60) && !gone.contains(b))
        .collect();
    let mut channels = Vec::new();
    let mut uids = BTreeSet::new();
    for _ in 0..rng.below(8) {
        let uid = format!("1795000000.{}", rng.below(14));
        if gone.contains(&uid) || !uids.insert(uid.clone()) {
            continue;
        }
        let bridge = match up.len() {
            0 => String::new(),
            n if rng.chance(40) => up[rng.below(n)].clone(),
            _ => String::new(),
        };
        channels.push(format!(
            "Event: CoreShowChannel\r\nActionID: t-1\r\nChannel: PJSIP/c-{}\r\nChannelState: {}\r\n\
             CallerIDNum: {}\r\nCallerIDName: n\r\nConnectedLineNum: <unknown>\r\nConnectedLineName: <unknown>\r\n\
             Context: default\r\nExten: s\r\nPriority: {}\r\nUniqueid: {uid}\r\nLinkedid: {uid}\r\n\
             Application: Wait\r\nApplicationData: {}\r\nDuration: 00:00:01\r\nBridgeId: {bridge}\r\n\r\n",
            rng.below(14),
            rng.below(7),
            rng.below(100),
            rng.below(5),
            rng.below(9),
        ));
    }
    list("t-1", "CoreShowChannelsComplete", channels);
    let bridges = up
        .iter()
        .map(|id| {
            format!(
                "Event: BridgeListItem\r\nActionID: t-2\r\nBridgeUniqueid: {id}\r\nBridgeType: basic\r\n\
                 BridgeTechnology: simple_bridge\r\nBridgeCreator: <unknown>\r\nBridgeName: <unknown>\r\n\
                 BridgeNumChannels: 0\r\n\r\n"
            )
        })
        .collect();
    list("t-2", "BridgeListComplete", bridges);
    let mut queue_items = Vec::new();
    for q in 0..rng.below(3) {
        queue_items.push(format!(
            "Event: QueueParams\r\nQueue: q{q}\r\nMax: 0\r\nStrategy: ringall\r\nHoldtime: {}\r\nTalkTime: 0\r\n\
             Completed: {}\r\nAbandoned: 0\r\nServiceLevel: 60\r\nServicelevelPerf: 0.0\r\nServicelevelPerf2: 0.0\r\n\
             Weight: 0\r\nActionID: t-3\r\n\r\n",
            rng.below(50),
            rng.below(9)
        ));
        let mut seen = BTreeSet::new();
        for _ in 0..rng.below(4) {
            let a = rng.below(5);
            if !seen.insert(a) {
                continue;
            }
            queue_items.push(format!(
                "Event: QueueMember\r\nQueue: q{q}\r\nName: Agent {a}\r\nLocation: PJSIP/a{a}\r\nStateInterface: PJSIP/a{a}\r\n\
                 Membership: static\r\nPenalty: {}\r\nCallsTaken: {}\r\nLastCall: 0\r\nLastPause: 0\r\nLoginTime: 1\r\n\
                 InCall: {}\r\nStatus: {}\r\nPaused: {}\r\nPausedReason: \r\nWrapuptime: 0\r\nActionID: t-3\r\n\r\n",
                rng.below(3),
                rng.below(9),
                rng.below(2),
                rng.below(9),
                rng.below(2),
            ));
        }
    }
    list("t-3", "QueueStatusComplete", queue_items);
    let mut hints = Vec::new();
    for e in ["200", "201"] {
        if rng.chance(60) {
            hints.push(format!(
                "Event: ExtensionStatus\r\nActionID: t-4\r\nExten: {e}\r\nContext: agents\r\nHint: PJSIP/a0\r\nStatus: {}\r\nStatusText: x\r\n\r\n",
                rng.below(3)
            ));
        }
    }
    list("t-4", "ExtensionStateListComplete", hints);
    let devices = ["PJSIP/a0", "PJSIP/a1"]
        .iter()
        .filter(|_| rng.chance(60))
        .map(|d| {
            format!(
                "Event: DeviceStateChange\r\nActionID: t-5\r\nDevice: {d}\r\nState: INUSE\r\n\r\n"
            )
        })
        .collect();
    list("t-5", "DeviceStateListComplete", devices);
    out
}

/// What the lists determine: no call records, counters, creation times,
/// wait starts or `Ringinuse` (events tell those better than lists), nor
/// the order channels entered a bridge.
fn listed_part(mut s: Snapshot) -> Snapshot {
    for b in &mut s.bridges {
        b.channels.sort();
    }
    for c in &mut s.channels {
        c.created = None;
    }
    for q in &mut s.queues {
        for m in &mut q.members {
            m.ringinuse = None;
        }
        for c in &mut q.callers {
            c.wait_start = None;
        }
    }
    s.calls.clear();
    s.stats = Default::default();
    s.clock = None;
    s
}

#[test]
fn resync_converges_to_the_lists_from_any_state() {
    for seed in 0..150 {
        let mut rng = Rng(1000 + seed);
        let mut model = Model::default();
        // Uniqueids and bridge ids are never reused: a list naming one
        // that a Hangup or BridgeDestroy ended is stale, and the model
        // rightly ignores it. The lists of this test never do.
        let mut gone = BTreeSet::new();
        for _ in 0..rng.below(300) {
            for event in events(&random_event(&mut rng)) {
                model.handle_event(&event);
                let key = match event.name_str().as_ref() {
                    "Hangup" => "Uniqueid",
                    "BridgeDestroy" => "BridgeUniqueid",
                    "BridgeMerge" => "FromBridgeUniqueid",
                    _ => continue,
                };
                gone.extend(event.get_str(key).map(|u| u.into_owned()));
            }
        }
        let truth = random_truth(&mut rng, &gone);
        model.begin_resync();
        feed(&mut model, &inputs(truth.as_bytes()));
        model.end_resync();
        let mut fresh = Model::default();
        fresh.begin_resync();
        feed(&mut fresh, &inputs(truth.as_bytes()));
        fresh.end_resync();
        assert_eq!(
            listed_part(model.snapshot()),
            listed_part(fresh.snapshot()),
            "seed {seed}: after a resync the model is what the lists say"
        );
    }
}

/// A list completion is read whatever its items' header order and case.
#[test]
fn list_items_are_read_in_any_header_order() {
    let truth = "Response: Success\r\nActionID: a\r\nEventList: start\r\n\r\n\
                 Event: DeviceStateChange\r\nSTATE: busy\r\nactionid: a\r\ndevice: PJSIP/z\r\n\r\n\
                 Event: DeviceStateListComplete\r\nActionID: a\r\nEventList: Complete\r\n\r\n";
    let inputs = inputs(truth.as_bytes());
    let Input::List(id, completion) = &inputs[0] else {
        panic!("a list")
    };
    let mut model = Model::default();
    model.handle_completion(id, Ok(completion));
    assert_eq!(
        model.device("PJSIP/z").map(|d| d.status),
        Some(ami_state::DeviceStatus::Busy)
    );
    // A completion the model does not read is ignored.
    let bare = Completion::from(EventList {
        response: match &inputs[0] {
            Input::List(_, Completion::List(list)) => list.response.clone(),
            _ => unreachable!(),
        },
        items: ami_proto::ListItems::new(),
        complete: None,
    });
    model.handle_completion(id, Ok(&bare));
    assert_eq!(model.stats().lists, 1);
}

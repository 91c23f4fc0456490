//! The quirks of real call-centre sessions, as synthetic sequences.
//!
//! The sessions that showed them (issue 19's scenarios 32 to 35) are not on
//! this machine (see `corpus.rs`); each sequence here is written with the
//! header sets Asterisk's source writes (`apps/app_queue.c`,
//! `main/manager_channels.c`, `main/manager_bridges.c`, `main/manager.c`)
//! and in the order the quirk describes (`PROTOCOL.md`, "Calls, queues and
//! state").

mod support;

use ami_proto::{Action, ActionError, ActionId, Completion, OriginateOutcome};
use ami_state::{CallPhase, Change, ChannelState, DeviceStatus, Key, Limits, Model};
use support::pbx::Chan;
use support::{drain, events, feed, inputs, snapshot, Input};

fn chan(name: &str, uid: &str, linkedid: &str, state: u8) -> Chan {
    Chan {
        name: name.into(),
        state,
        cid_num: "5551000".into(),
        cid_name: "Caller".into(),
        conn_num: "<unknown>".into(),
        conn_name: "<unknown>".into(),
        context: "queues".into(),
        exten: "s".into(),
        priority: 1,
        uid: uid.into(),
        linkedid: linkedid.into(),
        app: String::new(),
        app_data: String::new(),
        bridge: None,
    }
}

/// An event carrying `c`'s snapshot, then `extra`.
fn ev(name: &str, c: &Chan, extra: &[(&str, &str)]) -> String {
    let mut headers = snapshot("", c);
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    let headers: Vec<(&str, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    support::event(name, &headers)
}

/// An event carrying `c`'s snapshot and `dest`'s with the `Dest` prefix.
fn ev2(name: &str, c: &Chan, dest: &Chan, extra: &[(&str, &str)]) -> String {
    let mut headers = snapshot("", c);
    headers.extend(snapshot("Dest", dest));
    headers.extend(extra.iter().map(|(n, v)| (n.to_string(), v.to_string())));
    let headers: Vec<(&str, String)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.clone()))
        .collect();
    support::event(name, &headers)
}

fn bridge_ev(name: &str, id: &str, kind: &str, c: Option<&Chan>) -> String {
    let mut headers = vec![
        ("BridgeUniqueid", id.to_owned()),
        ("BridgeType", kind.to_owned()),
        ("BridgeTechnology", "simple_bridge".to_owned()),
        ("BridgeCreator", "<unknown>".to_owned()),
        ("BridgeName", "<unknown>".to_owned()),
        ("BridgeNumChannels", "0".to_owned()),
        ("BridgeVideoSourceMode", "none".to_owned()),
    ];
    let snap = c.map(|c| snapshot("", c)).unwrap_or_default();
    headers.extend(snap.iter().map(|(n, v)| (n.as_str(), v.clone())));
    support::event(name, &headers)
}

/// A live `ExtensionStatus` of `exten` in `context` (hint `PJSIP/alice`).
fn extension_status(exten: &str, context: &str, status: &str) -> String {
    support::event(
        "ExtensionStatus",
        &[
            ("Exten", exten.into()),
            ("Context", context.into()),
            ("Hint", "PJSIP/alice".into()),
            ("Status", status.into()),
            ("StatusText", "Idle".into()),
        ],
    )
}

fn run(model: &mut Model, wire: &str) {
    feed(model, &inputs(wire.as_bytes()));
}

fn id(text: &str) -> ActionId {
    ActionId::from_bytes(text.as_bytes().to_vec().into())
}

fn originate(channel: &str) -> Action {
    Action::new("Originate")
        .header("Channel", channel)
        .header("Context", "queues")
        .header("Exten", "support")
        .header("Priority", "1")
        .header("Async", "true")
}

fn originate_response(action_id: &str, c: Option<&Chan>) -> String {
    let (response, channel, uid, reason) = match c {
        Some(c) => ("Success", c.name.as_str(), c.uid.as_str(), "4"),
        None => ("Failure", "Local/5550100@dialer", "<unknown>", "5"),
    };
    support::event(
        "OriginateResponse",
        &[
            ("ActionID", action_id.into()),
            ("Response", response.into()),
            ("Channel", channel.into()),
            ("Context", "queues".into()),
            ("Exten", "support".into()),
            ("Reason", reason.into()),
            ("Uniqueid", uid.into()),
            ("CallerIDNum", "<unknown>".into()),
            ("CallerIDName", "<unknown>".into()),
        ],
    )
}

/// A list answer as wire text: `items` are frames without an ActionID
/// line; it goes in after the `Event` line, as `manager.c` writes it.
fn list(action_id: &str, complete: &str, items: &[String]) -> String {
    let mut out = format!(
        "Response: Success\r\nActionID: {action_id}\r\nEventList: start\r\nMessage: will follow\r\n\r\n"
    );
    for item in items {
        let (first, rest) = item.split_once("\r\n").expect("an Event line");
        out += &format!("{first}\r\nActionID: {action_id}\r\n{rest}");
    }
    out + &format!(
        "Event: {complete}\r\nActionID: {action_id}\r\nEventList: Complete\r\nListItems: {}\r\n\r\n",
        items.len()
    )
}

fn item(name: &str, headers: &[(&str, &str)]) -> String {
    let mut out = format!("Event: {name}\r\n");
    for (n, v) in headers {
        out += &format!("{n}: {v}\r\n");
    }
    out + "\r\n"
}

#[test]
fn list_items_reuse_event_names_and_are_applied_like_the_events() {
    let mut model = Model::default();
    run(
        &mut model,
        &(support::event(
            "DeviceStateChange",
            &[
                ("Device", "PJSIP/alice".into()),
                ("State", "NOT_INUSE".into()),
            ],
        ) + &support::event(
            "DeviceStateChange",
            &[("Device", "PJSIP/bob".into()), ("State", "INUSE".into())],
        ) + &extension_status("200", "agents", "0")),
    );
    drain(&mut model);
    model.begin_resync();
    // `DeviceStateList` and `ExtensionStateList` items are the events'
    // frames with an ActionID and no Privilege.
    let devices = list(
        "ds-1",
        "DeviceStateListComplete",
        &[item(
            "DeviceStateChange",
            &[("Device", "PJSIP/alice"), ("State", "INUSE")],
        )],
    );
    let hints = list(
        "es-1",
        "ExtensionStateListComplete",
        &[item(
            "ExtensionStatus",
            &[
                ("Exten", "200"),
                ("Context", "agents"),
                ("Hint", "PJSIP/alice"),
                ("Status", "1"),
                ("StatusText", "InUse"),
            ],
        )],
    );
    run(&mut model, &(devices + &hints));
    model.end_resync();
    assert_eq!(
        model.device("PJSIP/alice").map(|d| d.status),
        Some(DeviceStatus::InUse)
    );
    assert!(model.device("PJSIP/bob").is_none(), "not listed: gone");
    assert_eq!(model.extension("200", "agents").map(|e| e.status), Some(1));
    assert_eq!(
        drain(&mut model),
        [
            Change::Updated(Key::Device("PJSIP/alice".into())),
            Change::Updated(Key::Extension {
                exten: "200".into(),
                context: "agents".into()
            }),
            Change::Removed(Key::Device("PJSIP/bob".into())),
        ]
    );
    // The same item reaching the event stream (no list collected it) says
    // what the state is now, and is applied.
    let stray = item(
        "DeviceStateChange",
        &[
            ("ActionID", "x-9"),
            ("Device", "PJSIP/alice"),
            ("State", "RINGING"),
        ],
    );
    run(&mut model, &stray);
    assert_eq!(
        model.device("PJSIP/alice").map(|d| d.status),
        Some(DeviceStatus::Ringing)
    );
    // A list the model does not read (`ParkedCalls`) changes nothing.
    let parked = list(
        "pc-1",
        "ParkedCallsComplete",
        &[item("ParkedCall", &[("ParkingSpace", "701")])],
    );
    run(&mut model, &parked);
    assert_eq!(drain(&mut model).len(), 1);
    assert_eq!(model.stats().unplaced, 0);
}

#[test]
fn queue_member_items_and_events_name_the_same_member_differently() {
    let mut model = Model::default();
    let listed = list(
        "qs-1",
        "QueueStatusComplete",
        &[
            item(
                "QueueParams",
                &[("Queue", "support"), ("Max", "0"), ("Strategy", "rrmemory")],
            ),
            item(
                "QueueMember",
                &[
                    ("Queue", "support"),
                    ("Name", "Agent One"),
                    ("Location", "PJSIP/agent1"),
                    ("StateInterface", "PJSIP/agent1"),
                    ("Membership", "static"),
                    ("Penalty", "0"),
                    ("CallsTaken", "3"),
                    ("Status", "1"),
                    ("Paused", "0"),
                    ("PausedReason", ""),
                ],
            ),
        ],
    );
    run(&mut model, &listed);
    let pause = support::event(
        "QueueMemberPause",
        &[
            ("Queue", "support".into()),
            ("MemberName", "Agent One".into()),
            ("Interface", "PJSIP/agent1".into()),
            ("StateInterface", "PJSIP/agent1".into()),
            ("Membership", "static".into()),
            ("Penalty", "0".into()),
            ("CallsTaken", "3".into()),
            ("Status", "1".into()),
            ("Paused", "1".into()),
            ("PausedReason", "lunch".into()),
            ("Ringinuse", "0".into()),
        ],
    );
    run(&mut model, &pause);
    let q = model.queue("support").expect("queue");
    assert_eq!(q.members.len(), 1, "one member under both spellings");
    let m = &q.members[0];
    assert_eq!(
        (m.name.as_str(), m.interface.as_str()),
        ("Agent One", "PJSIP/agent1")
    );
    assert!(m.paused);
    assert_eq!(
        (m.paused_reason.as_str(), m.calls_taken, m.ringinuse),
        ("lunch", 3, Some(false))
    );
    assert_eq!(q.free_members().count(), 0, "paused");
}

#[test]
fn linkedid_changes_silently_and_bridge_enter_shows_it() {
    let mut model = Model::default();
    let a = chan("PJSIP/cust-1", "100.1", "100.1", 6);
    let mut b = chan("PJSIP/agent1-2", "100.2", "100.2", 6);
    run(
        &mut model,
        &(ev("Newchannel", &a, &[]) + &ev("Newchannel", &b, &[])),
    );
    model.handle_sent(&id("o-1"), &originate("PJSIP/cust"));
    run(&mut model, &originate_response("o-1", Some(&a)));
    run(
        &mut model,
        &(bridge_ev("BridgeCreate", "br-1", "basic", None)
            + &bridge_ev("BridgeEnter", "br-1", "basic", Some(&a))),
    );
    assert_eq!(
        model.channel("100.2").map(|c| c.linkedid.as_str()),
        Some("100.2")
    );
    assert_eq!(
        model.call("o-1").map(|c| c.phase),
        Some(CallPhase::Answered),
        "alone in the bridge"
    );
    // The agent's Linkedid becomes the caller's with no event of its own.
    b.linkedid = a.linkedid.clone();
    run(
        &mut model,
        &bridge_ev("BridgeEnter", "br-1", "basic", Some(&b)),
    );
    let agent = model.channel("100.2").expect("agent");
    assert_eq!(
        (agent.linkedid.as_str(), agent.bridge.as_deref()),
        ("100.1", Some("br-1"))
    );
    assert_eq!(
        model.bridge("br-1").map(|b| b.channels.clone()),
        Some(vec!["100.1".into(), "100.2".into()])
    );
    let call = model.call("o-1").expect("call");
    assert_eq!(
        (call.phase, call.bridge.as_deref()),
        (CallPhase::Connected, Some("br-1"))
    );
    assert_eq!(model.stats().unplaced, 0);
}

#[test]
fn two_dial_ends_for_one_dial_begin_name_no_agent() {
    let mut model = Model::default();
    let caller = chan("Local/5550100@dialer-00000001;1", "200.1", "200.1", 6);
    let agent1 = chan("PJSIP/agent1-00000003", "200.3", "200.1", 0);
    let agent2 = chan("PJSIP/agent2-00000004", "200.4", "200.1", 0);
    run(&mut model, &ev("Newchannel", &caller, &[]));
    model.handle_sent(&id("o-1"), &originate("Local/5550100@dialer"));
    run(&mut model, &originate_response("o-1", Some(&caller)));
    run(
        &mut model,
        &(ev("Newchannel", &agent1, &[])
            + &ev2("DialBegin", &caller, &agent1, &[("DialString", "agent1")])
            + &ev2("DialEnd", &caller, &agent1, &[("DialStatus", "NOANSWER")])
            + &ev2("DialEnd", &caller, &agent1, &[("DialStatus", "CANCEL")])
            + &ev(
                "Hangup",
                &agent1,
                &[("Cause", "19"), ("Cause-txt", "No user responding")],
            )),
    );
    let call = model.call("o-1").expect("call");
    assert_eq!(call.agent, None, "neither DialEnd answered");
    assert_eq!(
        call.channels,
        ["200.1", "200.3"],
        "the rung agent shared the Linkedid"
    );
    assert_eq!(
        call.phase,
        CallPhase::Answered,
        "the agent's hangup is not the call's"
    );
    let mut up = agent2.clone();
    up.state = 6;
    run(
        &mut model,
        &(ev("Newchannel", &agent2, &[])
            + &ev2("DialBegin", &caller, &agent2, &[("DialString", "agent2")])
            + &ev2("DialEnd", &caller, &up, &[("DialStatus", "ANSWER")])),
    );
    let agent = model
        .call("o-1")
        .and_then(|c| c.agent.clone())
        .expect("answered");
    assert_eq!((agent.uniqueid.as_str(), agent.interface), ("200.4", None));
    assert_eq!(
        model.channel("200.4").map(|c| c.state),
        Some(ChannelState::Up)
    );
    assert_eq!(model.stats().unplaced, 0);
}

#[test]
fn agent_connect_comes_before_the_bridge() {
    let mut model = Model::default();
    model.handle_sent(&id("o-1"), &originate("Local/5550100@dialer"));
    let caller = chan("Local/5550100@dialer-00000001;1", "300.1", "300.1", 6);
    let mut agent = chan("PJSIP/agent1-00000002", "300.2", "300.2", 6);
    let member = [
        ("Queue", "support"),
        ("MemberName", "Agent One"),
        ("Interface", "PJSIP/agent1"),
    ];
    let member_event = |paused: &str| {
        support::event(
            "QueueMemberStatus",
            &[
                ("Queue", "support".into()),
                ("MemberName", "Agent One".into()),
                ("Interface", "PJSIP/agent1".into()),
                ("Status", "1".into()),
                ("Paused", paused.into()),
                ("InCall", "0".into()),
            ],
        )
    };
    run(
        &mut model,
        &(ev("Newchannel", &caller, &[])
            + &originate_response("o-1", Some(&caller))
            + &member_event("0")
            + &ev(
                "QueueCallerJoin",
                &caller,
                &[("Queue", "support"), ("Position", "1"), ("Count", "1")],
            )
            + &ev("Newchannel", &agent, &[])),
    );
    let connect: Vec<(&str, &str)> = member
        .iter()
        .copied()
        .chain([("RingTime", "2"), ("HoldTime", "7")])
        .collect();
    run(&mut model, &ev2("AgentConnect", &caller, &agent, &connect));
    // Connected, with its agent, before any bridge exists.
    let call = model.call("o-1").expect("call").clone();
    assert_eq!(call.phase, CallPhase::Connected);
    let who = call.agent.expect("agent");
    assert_eq!(who.interface.as_deref(), Some("PJSIP/agent1"));
    assert_eq!(
        (who.queue.as_deref(), who.name.as_deref()),
        (Some("support"), Some("Agent One"))
    );
    assert_eq!(who.uniqueid, "300.2");
    assert_eq!(call.bridge, None);
    let q = model.queue("support").expect("queue");
    assert!(q.member("PJSIP/agent1").expect("member").in_call);
    assert_eq!(q.params.hold_time, 7);
    agent.linkedid = caller.linkedid.clone();
    run(
        &mut model,
        &(ev(
            "QueueCallerLeave",
            &caller,
            &[("Queue", "support"), ("Count", "0"), ("Position", "1")],
        ) + &bridge_ev("BridgeCreate", "br-7", "basic", None)
            + &bridge_ev("BridgeEnter", "br-7", "basic", Some(&caller))
            + &bridge_ev("BridgeEnter", "br-7", "basic", Some(&agent))),
    );
    assert_eq!(
        model.call("o-1").and_then(|c| c.bridge.clone()).as_deref(),
        Some("br-7")
    );
    assert!(model.queue("support").expect("queue").callers.is_empty());
    assert_eq!(
        model.channel("300.1").and_then(|c| c.waiting_in.clone()),
        None
    );
    run(
        &mut model,
        &ev2(
            "AgentComplete",
            &caller,
            &agent,
            &[
                ("Queue", "support"),
                ("MemberName", "Agent One"),
                ("Interface", "PJSIP/agent1"),
                ("HoldTime", "7"),
                ("TalkTime", "40"),
                ("Reason", "caller"),
            ],
        ),
    );
    let q = model.queue("support").expect("queue");
    assert_eq!((q.params.completed, q.params.talk_time), (1, 40));
    assert!(!q.member("PJSIP/agent1").expect("member").in_call);
    assert_eq!(model.stats().unplaced, 0);
}

#[test]
fn originate_responses_out_of_request_order_find_their_own_calls() {
    let mut model = Model::default();
    let one = chan("Local/1@dialer-00000001;1", "400.1", "400.1", 6);
    let two = chan("Local/2@dialer-00000002;1", "400.3", "400.3", 6);
    model.handle_sent(&id("o-1"), &originate("Local/1@dialer"));
    model.handle_sent(&id("o-2"), &originate("Local/2@dialer"));
    model.handle_sent(&id("o-3"), &originate("Local/3@dialer"));
    run(
        &mut model,
        &(ev("Newchannel", &one, &[]) + &ev("Newchannel", &two, &[])),
    );
    // The second answers first; the third is busy; the first comes last,
    // as the completion the core delivers.
    run(
        &mut model,
        &(originate_response("o-2", Some(&two)) + &originate_response("o-3", None)),
    );
    let event = events(&originate_response("o-1", Some(&one))).remove(0);
    let ack = inputs(
        b"Response: Success\r\nActionID: o-1\r\nMessage: Originate successfully queued\r\n\r\n",
    );
    let Input::Response(_, response) = &ack[0] else {
        panic!("a response")
    };
    let outcome = Completion::from(OriginateOutcome {
        response: response.clone(),
        event,
    });
    model.handle_completion(&id("o-1"), Ok(&outcome));
    let uid = |i: &str| model.call(i).and_then(|c| c.uniqueid.clone());
    assert_eq!(uid("o-1").as_deref(), Some("400.1"));
    assert_eq!(uid("o-2").as_deref(), Some("400.3"));
    let busy = model.call("o-3").expect("o-3");
    assert_eq!(
        (busy.phase, busy.reason, busy.uniqueid.as_deref()),
        (CallPhase::Failed, Some(5), None)
    );
    run(
        &mut model,
        &ev(
            "Hangup",
            &two,
            &[("Cause", "16"), ("Cause-txt", "Normal Clearing")],
        ),
    );
    assert_eq!(model.call("o-2").map(|c| c.phase), Some(CallPhase::Ended));
    assert_eq!(
        model.call("o-1").map(|c| c.phase),
        Some(CallPhase::Answered)
    );
}

#[test]
fn an_originate_without_an_answer_is_unknown_never_failed() {
    let mut model = Model::default();
    for (name, error) in [
        (
            "o-timeout",
            ActionError::Timeout(std::time::Duration::from_secs(30)),
        ),
        ("o-lost", ActionError::ConnectionLost),
        (
            "o-refused",
            ActionError::Server {
                message: "Originate failed".into(),
            },
        ),
    ] {
        model.handle_sent(&id(name), &originate("PJSIP/x"));
        model.handle_completion(&id(name), Err(&error));
    }
    assert_eq!(
        model.call("o-timeout").map(|c| c.phase),
        Some(CallPhase::Unknown)
    );
    assert_eq!(
        model.call("o-lost").map(|c| c.phase),
        Some(CallPhase::Unknown)
    );
    let refused = model.call("o-refused").expect("refused");
    assert_eq!(refused.phase, CallPhase::Failed);
    assert!(refused
        .error
        .as_deref()
        .is_some_and(|e| e.contains("Originate failed")));
    // The answer the core gave up on arrives later as an ordinary event.
    let c = chan("PJSIP/x-1", "500.1", "500.1", 6);
    run(
        &mut model,
        &(ev("Newchannel", &c, &[]) + &originate_response("o-timeout", Some(&c))),
    );
    let late = model.call("o-timeout").expect("call");
    assert_eq!(
        (late.phase, late.uniqueid.as_deref(), late.error.as_deref()),
        (CallPhase::Answered, Some("500.1"), None)
    );
}

#[test]
fn a_channel_id_binds_the_call_before_its_response() {
    let mut model = Model::default();
    let action = originate("PJSIP/cust").header("ChannelId", "my-call-1");
    model.handle_sent(&id("o-1"), &action);
    let mut c = chan("PJSIP/cust-1", "my-call-1", "my-call-1", 5);
    run(&mut model, &ev("Newchannel", &c, &[]));
    assert_eq!(
        model.call("o-1").map(|c| c.channels.clone()),
        Some(vec!["my-call-1".into()])
    );
    c.state = 6;
    run(&mut model, &ev("Newstate", &c, &[]));
    assert_eq!(
        model.call("o-1").map(|c| c.phase),
        Some(CallPhase::Answered),
        "before any response"
    );
}

/// A Redirect of one party of a two-party bridge destroys the bridge and
/// hangs the other party up. The events can come in several orders; each
/// leaves the same picture, with every event placed.
#[test]
fn a_redirect_out_of_a_two_party_bridge_in_any_order() {
    let a = chan("PJSIP/agent1-1", "600.1", "600.1", 6);
    let b = chan("PJSIP/cust-2", "600.2", "600.1", 6);
    let mut moved = a.clone();
    moved.context = "transfer".into();
    moved.exten = "100".into();
    let leave_a = bridge_ev("BridgeLeave", "br-9", "basic", Some(&a));
    let leave_b = bridge_ev("BridgeLeave", "br-9", "basic", Some(&b));
    let destroy = bridge_ev("BridgeDestroy", "br-9", "basic", None);
    let hangup_b = ev(
        "Hangup",
        &b,
        &[("Cause", "16"), ("Cause-txt", "Normal Clearing")],
    );
    let newexten = ev(
        "Newexten",
        &moved,
        &[
            ("Extension", "100"),
            ("Application", "Wait"),
            ("AppData", "5"),
        ],
    );
    let orders: [Vec<&String>; 4] = [
        vec![&leave_a, &newexten, &leave_b, &destroy, &hangup_b],
        vec![&leave_a, &leave_b, &destroy, &newexten, &hangup_b],
        vec![&leave_a, &newexten, &destroy, &leave_b, &hangup_b],
        vec![&leave_a, &newexten, &hangup_b, &destroy],
    ];
    for (n, order) in orders.iter().enumerate() {
        let mut model = Model::default();
        run(
            &mut model,
            &(ev("Newchannel", &a, &[])
                + &ev("Newchannel", &b, &[])
                + &bridge_ev("BridgeCreate", "br-9", "basic", None)
                + &bridge_ev("BridgeEnter", "br-9", "basic", Some(&a))
                + &bridge_ev("BridgeEnter", "br-9", "basic", Some(&b))),
        );
        for frame in order {
            run(&mut model, frame);
        }
        assert!(model.bridge("br-9").is_none(), "order {n}");
        assert!(model.channel("600.2").is_none(), "order {n}");
        let a = model
            .channel("600.1")
            .expect("the redirected party lives on");
        assert_eq!(
            (
                a.bridge.as_deref(),
                a.dialplan.context.as_str(),
                a.application.as_str()
            ),
            (None, "transfer", "Wait")
        );
        assert_eq!(model.stats().unplaced, 0, "order {n}");
    }
}

#[test]
fn a_holding_bridge_connects_nobody() {
    let mut model = Model::default();
    let a = chan("PJSIP/a-1", "700.1", "700.1", 6);
    let b = chan("PJSIP/b-2", "700.2", "700.2", 6);
    model.handle_sent(&id("o-1"), &originate("PJSIP/a"));
    run(
        &mut model,
        &(ev("Newchannel", &a, &[])
            + &ev("Newchannel", &b, &[])
            + &originate_response("o-1", Some(&a))),
    );
    run(
        &mut model,
        &(bridge_ev("BridgeEnter", "park-1", "holding", Some(&a))
            + &bridge_ev("BridgeEnter", "park-1", "holding", Some(&b))),
    );
    assert_eq!(model.bridge("park-1").map(|b| b.channels.len()), Some(2));
    assert_eq!(
        model.call("o-1").map(|c| c.phase),
        Some(CallPhase::Answered),
        "parked, not connected"
    );
}

#[test]
fn bridge_merge_moves_the_channels() {
    let mut model = Model::default();
    let a = chan("PJSIP/a-1", "800.1", "800.1", 6);
    let b = chan("PJSIP/b-2", "800.2", "800.2", 6);
    run(
        &mut model,
        &(ev("Newchannel", &a, &[])
            + &ev("Newchannel", &b, &[])
            + &bridge_ev("BridgeEnter", "from", "basic", Some(&a))
            + &bridge_ev("BridgeEnter", "to", "basic", Some(&b))
            + &support::event(
                "BridgeMerge",
                &[
                    ("ToBridgeUniqueid", "to".into()),
                    ("FromBridgeUniqueid", "from".into()),
                ],
            )),
    );
    assert!(model.bridge("from").is_none());
    assert_eq!(
        model.bridge("to").map(|b| b.channels.clone()),
        Some(vec!["800.2".into(), "800.1".into()])
    );
    assert_eq!(
        model
            .channel("800.1")
            .and_then(|c| c.bridge.clone())
            .as_deref(),
        Some("to")
    );
}

#[test]
fn callers_behind_one_that_leaves_move_up() {
    let mut model = Model::default();
    let callers: Vec<Chan> = (1..=3)
        .map(|i| {
            chan(
                &format!("PJSIP/c-{i}"),
                &format!("900.{i}"),
                &format!("900.{i}"),
                6,
            )
        })
        .collect();
    for (i, c) in callers.iter().enumerate() {
        let pos = (i + 1).to_string();
        run(
            &mut model,
            &(ev("Newchannel", c, &[])
                + &ev(
                    "QueueCallerJoin",
                    c,
                    &[("Queue", "q"), ("Position", &pos), ("Count", &pos)],
                )),
        );
    }
    drain(&mut model);
    run(
        &mut model,
        &ev(
            "QueueCallerLeave",
            &callers[1],
            &[("Queue", "q"), ("Count", "2"), ("Position", "2")],
        ),
    );
    let q = model.queue("q").expect("queue");
    let order: Vec<_> = q
        .callers
        .iter()
        .map(|c| (c.uniqueid.as_str(), c.position))
        .collect();
    assert_eq!(order, [("900.1", 1), ("900.3", 2)]);
    let caller = |u: &str| Key::Caller {
        queue: "q".into(),
        uniqueid: u.into(),
    };
    assert_eq!(
        drain(&mut model),
        [
            Change::Removed(caller("900.2")),
            // The callers behind moved up: their queue says so, once.
            Change::Updated(Key::Queue("q".into())),
            Change::Updated(Key::Channel("900.2".into())),
        ]
    );
    // A hangup in the queue without a Leave still takes the caller out.
    run(&mut model, &ev("Hangup", &callers[0], &[("Cause", "16")]));
    let q = model.queue("q").expect("queue");
    assert_eq!(
        q.callers
            .iter()
            .map(|c| (c.uniqueid.as_str(), c.position))
            .collect::<Vec<_>>(),
        [("900.3", 1)]
    );
}

#[test]
fn a_list_delivered_after_a_hangup_does_not_bring_the_channel_back() {
    let mut model = Model::default();
    let c = chan("PJSIP/a-1", "1000.1", "1000.1", 6);
    run(
        &mut model,
        &(ev("Newchannel", &c, &[]) + &ev("Hangup", &c, &[("Cause", "16")])),
    );
    let mut listed = snapshot("", &c);
    listed.push(("BridgeId".into(), String::new()));
    let listed: Vec<(&str, &str)> = listed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    run(
        &mut model,
        &list(
            "csc-1",
            "CoreShowChannelsComplete",
            &[item("CoreShowChannel", &listed)],
        ),
    );
    assert!(model.channel("1000.1").is_none());
}

#[test]
fn what_the_model_cannot_place_is_counted() {
    let mut model = Model::default();
    let ghost = chan("PJSIP/ghost-1", "1100.1", "1100.1", 6);
    run(
        &mut model,
        &(ev("Newstate", &ghost, &[])
            + &ev("Hangup", &ghost, &[("Cause", "16")])
            + &support::event(
                "QueueMemberRemoved",
                &[("Queue", "q".into()), ("Interface", "PJSIP/x".into())],
            )
            + &support::event("Hangup", &[("Channel", "PJSIP/no-uniqueid".into())])),
    );
    let stats = model.stats();
    assert_eq!((stats.unplaced, stats.malformed), (3, 1));
    assert_eq!(stats.events, 4);
    assert_eq!(model.channels().count(), 0);
    // Dead all the same: a list delivered later does not bring it in, and
    // its late events are expected, not unplaced.
    let mut listed = snapshot("", &ghost);
    listed.push(("BridgeId".into(), String::new()));
    let listed: Vec<(&str, &str)> = listed
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    run(
        &mut model,
        &(list(
            "csc-1",
            "CoreShowChannelsComplete",
            &[item("CoreShowChannel", &listed)],
        ) + &ev("Newstate", &ghost, &[])),
    );
    assert!(model.channel("1100.1").is_none());
    assert_eq!(model.stats().unplaced, 3);
}

#[test]
fn full_collections_refuse_and_count() {
    let mut limits = Limits::default();
    limits.channels = 2;
    limits.changes = 3;
    let mut model = Model::new(limits);
    let chans: Vec<Chan> = (1..=4)
        .map(|i| chan(&format!("PJSIP/c-{i}"), &format!("1200.{i}"), "1200.1", 4))
        .collect();
    for c in &chans {
        run(&mut model, &ev("Newchannel", c, &[]));
    }
    assert_eq!(model.channels().count(), 2);
    let stats = model.stats();
    assert_eq!(stats.overflow.channels, 2);
    assert_eq!(model.pending_changes(), 2);
    // An event of a refused channel is unplaced; the held ones still work.
    let mut up = chans[3].clone();
    up.state = 6;
    run(&mut model, &ev("Newstate", &up, &[]));
    assert_eq!(model.stats().unplaced, 1);
    for c in &chans[..2] {
        let mut up = c.clone();
        up.state = 6;
        run(&mut model, &ev("Newstate", &up, &[]));
    }
    // Three changes fit; the fourth is lost, and said so once drained.
    let changes = drain(&mut model);
    assert_eq!(changes.len(), 4, "{changes:?}");
    assert_eq!(changes.last(), Some(&Change::Lost(1)));
    assert_eq!(model.stats().changes_lost, 1);
    assert_eq!(
        model.channel("1200.1").map(|c| c.state),
        Some(ChannelState::Up)
    );
}

/// `DeviceStateList` lists only cached states and leaves out the `Local/`
/// devices that events report; a device (or anything else) an event shows
/// alive during the resync window is kept.
#[test]
fn an_event_in_the_resync_window_keeps_what_it_shows_alive() {
    let mut model = Model::default();
    let state = |device: &str, state: &str| {
        support::event(
            "DeviceStateChange",
            &[("Device", device.into()), ("State", state.into())],
        )
    };
    let c = chan("PJSIP/a-1", "1300.1", "1300.1", 4);
    run(
        &mut model,
        &(state("Local/100@test", "INUSE")
            + &state("Local/200@test", "INUSE")
            + &state("PJSIP/alice", "NOT_INUSE")
            + &ev("Newchannel", &c, &[])),
    );
    model.begin_resync();
    let mut up = c.clone();
    up.state = 6;
    run(
        &mut model,
        &(state("Local/100@test", "NOT_INUSE") + &ev("Newstate", &up, &[])),
    );
    run(
        &mut model,
        &(list(
            "ds-1",
            "DeviceStateListComplete",
            &[item(
                "DeviceStateChange",
                &[("Device", "PJSIP/alice"), ("State", "NOT_INUSE")],
            )],
        ) + &list("csc-1", "CoreShowChannelsComplete", &[])),
    );
    model.end_resync();
    assert_eq!(
        model.device("Local/100@test").map(|d| d.status),
        Some(DeviceStatus::NotInUse)
    );
    assert!(
        model.device("Local/200@test").is_none(),
        "neither listed nor heard from"
    );
    assert_eq!(
        model.channel("1300.1").map(|c| c.state),
        Some(ChannelState::Up)
    );
}

/// A busy destination: the originated channel rings, hangs up (cause 17),
/// then the `OriginateResponse` says Failure (Reason 5). They come in one
/// read, and the core hands the completion out before the events queued
/// ahead of it; the call record must say the same in either order.
#[test]
fn a_failed_originate_keeps_its_hangup_cause_whichever_comes_first() {
    let c = chan("PJSIP/busy-1", "busy-1", "busy-1", 5);
    let hung_up = ev("Newchannel", &c, &[])
        + &ev("Hangup", &c, &[("Cause", "17"), ("Cause-txt", "User busy")]);
    let response = || {
        let ack = inputs(b"Response: Success\r\nActionID: o-busy\r\nMessage: Originate successfully queued\r\n\r\n");
        let Some(Input::Response(_, ack)) = ack.into_iter().next() else {
            panic!("an acknowledgement");
        };
        let event = events(&originate_response("o-busy", None)).remove(0);
        Completion::from(OriginateOutcome {
            response: ack,
            event,
        })
    };
    let action = originate("PJSIP/busy").header("ChannelId", "busy-1");
    for completion_first in [false, true] {
        let mut model = Model::default();
        model.handle_sent(&id("o-busy"), &action);
        if completion_first {
            model.handle_completion(&id("o-busy"), Ok(&response()));
            run(&mut model, &hung_up);
        } else {
            run(&mut model, &hung_up);
            model.handle_completion(&id("o-busy"), Ok(&response()));
        }
        let call = model.call("o-busy").expect("followed");
        let order = if completion_first {
            "completion first"
        } else {
            "wire order"
        };
        assert_eq!(call.phase, CallPhase::Failed, "{order}");
        assert_eq!(call.reason, Some(5), "{order}");
        assert_eq!(call.hangup_cause, Some(17), "{order}");
        assert_eq!(call.hangup_text.as_deref(), Some("User busy"), "{order}");
        assert!(model.channel("busy-1").is_none(), "{order}");
        assert_eq!(model.stats().unplaced, 0, "{order}");
    }
}

/// `ExtensionStatus` carries the extension and the context apart, so an
/// `@` in either must not merge two hints: `a@b` in `c` and `a` in `b@c`.
#[test]
fn extensions_whose_names_hold_an_at_sign_are_told_apart() {
    let mut model = Model::new(Limits::default());
    run(
        &mut model,
        &(extension_status("a@b", "c", "1") + &extension_status("a", "b@c", "2")),
    );
    assert_eq!(model.extensions().count(), 2);
    assert_eq!(model.extension("a@b", "c").map(|e| e.status), Some(1));
    assert_eq!(model.extension("a", "b@c").map(|e| e.status), Some(2));
}

/// `ExtensionStateList` on a server with no hints left answers
/// `Response: Error` / `No dialplan hints are available` (`manager.c`)
/// instead of an empty list: in a resynchronisation window that is a
/// complete picture, and every hint held from before is gone. Any other
/// error proves nothing and removes nothing.
#[test]
fn an_extension_list_refused_for_want_of_hints_empties_the_hints_at_resync() {
    for (message, gone) in [
        ("No dialplan hints are available", true),
        ("Permission denied", false),
    ] {
        let mut model = Model::new(Limits::default());
        run(&mut model, &extension_status("200", "agents", "0"));
        drain(&mut model);
        model.begin_resync();
        let list = Model::resync_lists()[3].clone();
        assert_eq!(list.name(), "ExtensionStateList");
        assert!(Model::follows(&list), "an adapter must hand it over");
        model.handle_sent(&id("es-1"), &list);
        let refused = ActionError::Server {
            message: message.into(),
        };
        model.handle_completion(&id("es-1"), Err(&refused));
        model.end_resync();
        assert_eq!(
            model.extension("200", "agents").is_none(),
            gone,
            "{message}"
        );
        let removed = Change::Removed(Key::Extension {
            exten: "200".into(),
            context: "agents".into(),
        });
        assert_eq!(drain(&mut model).contains(&removed), gone, "{message}");
    }
}

/// A caller's filtered `QueueStatus` (one queue) completing in a
/// resynchronisation window shows that queue, not that the others are gone:
/// when the model's own unfiltered list fails, the queues it held stay.
#[test]
fn a_filtered_list_in_the_window_removes_nothing_it_did_not_ask_about() {
    let params = |queue: &str| item("QueueParams", &[("Queue", queue), ("Max", "0")]);
    let mut model = Model::new(Limits::default());
    run(
        &mut model,
        &list(
            "qs-0",
            "QueueStatusComplete",
            &[params("support"), params("sales")],
        ),
    );
    assert!(model.queue("sales").is_some());
    model.begin_resync();
    let filtered = Action::queue_status(Some("support"));
    model.handle_sent(&id("qs-user"), &filtered);
    run(
        &mut model,
        &list("qs-user", "QueueStatusComplete", &[params("support")]),
    );
    model.handle_sent(&id("qs-own"), &Action::queue_status(None));
    model.handle_completion(&id("qs-own"), Err(&ActionError::ConnectionLost));
    model.end_resync();
    assert!(model.queue("support").is_some());
    assert!(
        model.queue("sales").is_some(),
        "only an unfiltered list shows what is gone"
    );
}

//! The blocking client against the faithful fake Asterisk over TCP
//! (127.0.0.1): per-destination Originate outcomes, permission errors,
//! queue lists and events, lists that follow calls, the actions Asterisk
//! has that the harness once lacked, and `Events: off` for every source.
//! Every wait is bounded.

use std::time::{Duration, Instant};

use ami_blocking::{Client, ClientError};
use ami_proto::{Action, ActionError, AuthMethod, Completion, Config, Event, Originate};
use ami_testkit::{
    Destination, Dialplan, Extension, Faults, Queue, ServerConfig, TcpServer, TrafficSim,
};

const CONNECT: Duration = Duration::from_secs(2);

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

/// The captures' PBX plus fast destinations for each outcome and a queue
/// whose agent answers.
fn pbx() -> TcpServer {
    let dialplan = Dialplan::asterisk_corpus()
        .destination("answer@calls", Destination::answer_after(ms(50), ms(300)))
        .destination("hold@calls", Destination::answer_and_stay())
        .destination("busy@calls", Destination::Busy)
        .destination("congested@calls", Destination::Congestion)
        .destination("ringing@calls", Destination::NoAnswer)
        .extension(
            "calls",
            Extension::new("fastq")
                .answer()
                .queue("fast", Duration::from_secs(5))
                .hangup(),
        )
        .extension(
            "agents",
            Extension::new("fast")
                .ringing()
                .wait(ms(50))
                .answer()
                .wait(ms(400))
                .hangup(),
        );
    let config = ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::asterisk_corpus()
    }
    .with_dialplan(dialplan)
    .with_queue(Queue::new("fast").member("Fast Agent", "Local/fast@agents", 0));
    TcpServer::start(config, Faults::default()).expect("fake server starts")
}

fn config(user: &str, secret: &str, events: &str) -> Config {
    let mut c = Config::new("pbx", user, secret);
    c.auth = AuthMethod::Md5;
    c.events = events.to_string();
    c.action_timeout = Duration::from_secs(5);
    c.login_timeout = Duration::from_secs(5);
    c.seed = 0xfa4e ^ user.len() as u64;
    c
}

fn admin(server: &TcpServer) -> Client {
    Client::connect(server.addr(), CONNECT, config("admin", "amp111", "on")).expect("admin logs in")
}

/// An async Originate of `channel` running `Wait(data)`.
fn originate(channel: &str, data: &str) -> Action {
    Action::originate(
        Originate::new(channel)
            .application("Wait", data)
            .timeout_ms(300)
            .async_(true),
    )
}

fn outcome(client: &mut Client, action: Action) -> (bool, Option<u32>, String, String) {
    match client.send(action).expect("the originate completes") {
        Completion::Originate(o) => {
            let get =
                |n: &str| String::from_utf8_lossy(o.event.get(n).unwrap_or_default()).into_owned();
            (o.is_success(), o.reason(), get("Channel"), get("Uniqueid"))
        }
        other => panic!("expected an Originate outcome, got {other:?}"),
    }
}

fn server_error(result: Result<Completion, ClientError>) -> String {
    match result {
        Err(ClientError::Action(ActionError::Server { message })) => message,
        other => panic!("expected a server error, got {other:?}"),
    }
}

fn list(client: &mut Client, action: Action) -> (Vec<Event>, Event) {
    match client.send(action).expect("the list completes") {
        Completion::List(list) => (
            list.items.to_vec(),
            list.complete.expect("a complete event"),
        ),
        other => panic!("expected a list, got {other:?}"),
    }
}

/// Events until `done` says so or `limit` passes; returns them all.
fn events_until(
    client: &mut Client,
    limit: Duration,
    mut done: impl FnMut(&Event) -> bool,
) -> Vec<Event> {
    let end = Instant::now() + limit;
    let mut seen = Vec::new();
    while Instant::now() < end {
        if let Some(e) = client.next_event(ms(20)).expect("session alive") {
            let stop = done(&e);
            seen.push(e);
            if stop {
                break;
            }
        }
    }
    seen
}

fn names(events: &[Event]) -> Vec<String> {
    events.iter().map(|e| e.name_str().into_owned()).collect()
}

#[test]
fn each_destination_has_its_own_originate_outcome() {
    let server = pbx();
    let mut c = admin(&server);
    let (ok, reason, channel, uniqueid) = outcome(&mut c, originate("Local/answer@calls", "1"));
    assert!(ok && reason == Some(4), "answered: {reason:?}");
    assert!(
        channel.starts_with("Local/answer@calls-") && channel.ends_with(";1"),
        "the created channel's name, not the dial string: {channel}"
    );
    assert_ne!(uniqueid, "<unknown>");
    for (dest, want) in [
        ("Local/busy@calls", 5),
        ("Local/congested@calls", 8),
        ("Local/ringing@calls", 3),
        ("Local/nosuch@calls", 0),
        ("PJSIP/nobody", 0),
    ] {
        let (ok, reason, channel, uniqueid) = outcome(&mut c, originate(dest, "1"));
        assert!(!ok, "{dest} fails");
        assert_eq!(reason, Some(want), "{dest}");
        assert_eq!(channel, dest, "a failed call names the dial string");
        assert_eq!(uniqueid, "<unknown>", "{dest}");
    }
    // Synchronous: an error response, not an event.
    let sync = |dest: &str| {
        let call = Originate::new(dest).application("Wait", "1").async_(false);
        Action::originate(call)
    };
    assert_eq!(
        server_error(c.send(sync("Local/nosuch@calls"))),
        "Originate failed"
    );
    assert!(matches!(
        c.send(sync("Local/answer@calls")),
        Ok(Completion::Response(_))
    ));
    let missing =
        Action::originate(Originate::new("Local/answer@calls").extension("calls", "nothing", 1));
    assert_eq!(server_error(c.send(missing)), "Extension does not exist.");
}

#[test]
fn a_limited_user_is_denied_and_gets_no_call_events() {
    let server = pbx();
    let mut limited = Client::connect(
        server.addr(),
        CONNECT,
        config("limited", "limited123", "on"),
    )
    .expect("logs in");
    for action in [
        originate("Local/answer@calls", "1"),
        Action::command("core show channels"),
        Action::get_var(None, "TESTGLOBAL"),
    ] {
        assert_eq!(server_error(limited.send(action)), "Permission denied");
    }
    assert!(limited.send(Action::ping()).is_ok());
    assert!(limited.send(Action::new("CoreStatus")).is_ok());
    // An admin's call: the limited user (read = system) sees none of it.
    let mut a = admin(&server);
    assert!(outcome(&mut a, originate("Local/answer@calls", "0.1")).0);
    let seen = events_until(&mut limited, ms(700), |_| false);
    assert!(
        names(&seen).iter().all(|n| n == "FullyBooted"),
        "only system events: {:?}",
        names(&seen)
    );
}

#[test]
fn queue_lists_and_agent_events() {
    let server = pbx();
    let mut c = admin(&server);
    // A caller waits in `support`; Agent One rings (Agent Two, penalty 5, not yet).
    assert!(outcome(&mut c, originate("Local/queue@test", "60")).0);
    let seen = events_until(&mut c, Duration::from_secs(2), |e| e.is("AgentCalled"));
    assert!(
        names(&seen).contains(&"QueueCallerJoin".to_string()),
        "{:?}",
        names(&seen)
    );
    let (items, complete) = list(&mut c, Action::queue_status(None));
    assert_eq!(
        names(&items),
        [
            "QueueParams",
            "QueueMember",
            "QueueMember",
            "QueueEntry",
            "QueueParams",
            "QueueMember",
            "QueueParams",
            "QueueMember"
        ]
    );
    for item in &items {
        let last = item.headers().iter().last().map(|(n, _)| n.to_vec());
        assert_eq!(last.as_deref(), Some(&b"ActionID"[..]), "ActionID last");
    }
    assert_eq!(complete.get("ListItems"), Some(&b"8"[..]));
    let entry = &items[3];
    assert!(entry
        .get("Channel")
        .is_some_and(|c| c.starts_with(b"Local/queue@test-")));
    assert_eq!(items[1].get("Status"), Some(&b"2"[..]), "Agent One is rung");
    let (summary, _) = list(&mut c, Action::queue_summary(Some("support")));
    assert_eq!(summary[0].get("Callers"), Some(&b"1"[..]));

    // A queue whose agent answers: connect, bridge, complete.
    let fastq = Action::originate(
        Originate::new("Local/fastq@calls")
            .application("Wait", "5")
            .async_(true),
    );
    assert!(matches!(c.send(fastq), Ok(Completion::Originate(o)) if o.is_success()));
    let seen = events_until(&mut c, Duration::from_secs(3), |e| e.is("AgentConnect"));
    assert!(
        seen.last().is_some_and(|e| e.is("AgentConnect")),
        "{:?}",
        names(&seen)
    );
    let seen = events_until(&mut c, Duration::from_secs(1), |e| {
        e.is("BridgeEnter") && e.get("BridgeNumChannels") == Some(b"2")
    });
    assert!(
        names(&seen).contains(&"BridgeCreate".to_string()),
        "{:?}",
        names(&seen)
    );
    let (bridges, _) = list(&mut c, Action::new("BridgeList"));
    assert_eq!(bridges.len(), 1);
    assert_eq!(bridges[0].get("BridgeNumChannels"), Some(&b"2"[..]));
    let seen = events_until(&mut c, Duration::from_secs(3), |e| e.is("AgentComplete"));
    assert!(
        names(&seen).contains(&"BridgeDestroy".to_string()),
        "{:?}",
        names(&seen)
    );
    let (bridges, _) = list(&mut c, Action::new("BridgeList"));
    assert!(bridges.is_empty());
}

#[test]
fn channel_lists_follow_calls_until_hangup() {
    let server = pbx();
    let mut c = admin(&server);
    let (before, _) = list(&mut c, Action::core_show_channels());
    assert!(before.is_empty());
    let (ok, _, channel, _) = outcome(&mut c, originate("Local/hold@calls", "60"));
    assert!(ok);
    let (items, _) = list(&mut c, Action::core_show_channels());
    assert_eq!(items.len(), 2, "both halves of the Local call");
    let (status, complete) = list(&mut c, Action::status(None));
    assert_eq!(status.len(), 2);
    assert_eq!(complete.get("Items"), Some(&b"2"[..]));
    let (one, _) = list(&mut c, Action::status(Some(&channel)));
    assert_eq!(one[0].get("Application"), Some(&b"Wait"[..]));
    match c.send(Action::new("CoreStatus")).expect("core status") {
        Completion::Response(r) => assert_eq!(r.get("CoreCurrentCalls"), Some(&b"1"[..])),
        other => panic!("{other:?}"),
    }
    match c
        .send(Action::command("core show channels"))
        .expect("command")
    {
        Completion::Command(output) => {
            let lines = &output.lines;
            assert!(
                lines.iter().any(|l| l.starts_with(channel.as_bytes())),
                "{lines:?}"
            );
            assert!(lines.iter().any(|l| &l[..] == b"2 active channels"));
        }
        other => panic!("{other:?}"),
    }
    assert!(c.send(Action::hangup(&channel, None)).is_ok());
    let mut cdrs = 0;
    let seen = events_until(&mut c, Duration::from_secs(2), |e| {
        cdrs += usize::from(e.is("Cdr"));
        cdrs == 2
    });
    let got = names(&seen);
    assert_eq!(got.iter().filter(|n| *n == "Hangup").count(), 2, "{got:?}");
    assert_eq!(got.iter().filter(|n| *n == "Cdr").count(), 2, "{got:?}");
    let (after, _) = list(&mut c, Action::core_show_channels());
    assert!(after.is_empty(), "hung up calls leave the list");
}

#[test]
fn core_settings_filter_and_dbgettree() {
    let server = pbx();
    let mut c = admin(&server);
    match c.send(Action::new("CoreSettings")).expect("core settings") {
        Completion::Response(r) => assert_eq!(r.get("AsteriskVersion"), Some(&b"22.10.1"[..])),
        other => panic!("{other:?}"),
    }
    let bad = Action::new("Filter")
        .header("Operation", "Add")
        .header("Filter", "Event: (");
    assert_eq!(
        server_error(c.send(bad)),
        "Filter did not compile.  Check the syntax of the filter given."
    );
    // What login queued is read first; the filters apply from now on.
    let _ = events_until(&mut c, ms(100), |_| false);
    // Include filters: an event passes when one matches. Without the
    // second, the OriginateResponse would be filtered out too, and the
    // Originate would never complete (as with Asterisk).
    for keep in ["UserEvent: Keep", "Event: OriginateResponse"] {
        let filter = Action::new("Filter")
            .header("Operation", "Add")
            .header("Filter", keep);
        assert!(c.send(filter).is_ok());
    }
    assert!(c.send(Action::user_event("Drop", &[])).is_ok());
    assert!(outcome(&mut c, originate("Local/answer@calls", "0.1")).0);
    assert!(c.send(Action::user_event("Keep", &[("N", "1")])).is_ok());
    let seen = events_until(&mut c, Duration::from_secs(1), |e| e.is("UserEvent"));
    assert_eq!(
        names(&seen),
        ["UserEvent"],
        "the filter let only this through"
    );
    assert_eq!(seen[0].get("UserEvent"), Some(&b"Keep"[..]));

    assert!(c.send(Action::db_put("amitest", "k1", "v1")).is_ok());
    assert!(c.send(Action::db_put("amitest/sub", "k2", "v2")).is_ok());
    let tree = Action::new("DBGetTree").header("Family", "amitest");
    let (items, complete) = list(&mut c, tree);
    assert_eq!(complete.get("ListItems"), Some(&b"2"[..]));
    assert_eq!(items[1].get("Key"), Some(&b"/amitest/sub/k2"[..]));
    let (empty, _) = list(&mut c, Action::new("DBGetTree").header("Family", "nothing"));
    assert!(empty.is_empty());
}

#[test]
fn events_off_gets_nothing_from_any_source() {
    let server = pbx();
    let mut quiet =
        Client::connect(server.addr(), CONNECT, config("admin", "amp111", "off")).expect("logs in");
    let mut other = admin(&server);
    assert!(outcome(&mut other, originate("Local/answer@calls", "0.1")).0);
    assert!(other.send(Action::user_event("Anyone", &[])).is_ok());
    server.publish(&TrafficSim::new(7).next_call(1_795_727_790.0));
    let seen = events_until(&mut quiet, ms(600), |_| false);
    assert!(seen.is_empty(), "events off: {:?}", names(&seen));
    // Turned on, the same sources come through.
    assert!(quiet.send(Action::events("on")).is_ok());
    server.publish(&TrafficSim::new(8).next_call(1_795_727_791.0));
    let seen = events_until(&mut quiet, Duration::from_secs(2), |e| e.is("Cdr"));
    assert_eq!(
        seen.len(),
        TrafficSim::events_per_call(),
        "{:?}",
        names(&seen)
    );
}

#[test]
fn a_wrong_password_is_answered_after_about_a_second_then_closed() {
    let server =
        TcpServer::start(ServerConfig::asterisk_corpus(), Faults::default()).expect("starts");
    let started = Instant::now();
    let err = Client::connect(server.addr(), CONNECT, config("admin", "wrong", "on"))
        .expect_err("refused");
    assert!(
        matches!(err, ami_blocking::ConnectError::Login(_)),
        "{err:?}"
    );
    assert!(
        started.elapsed() >= ms(900),
        "Asterisk sleeps a second first"
    );
}

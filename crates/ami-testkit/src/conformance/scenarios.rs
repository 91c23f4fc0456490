//! The scenarios, each a function generic over the [`Adapter`]; see
//! [`Scenario`](super::Scenario) for what each shows.

use std::thread;
use std::time::{Duration, Instant};

use ami_proto::{Action, ActionError, AuthMethod, CloseReason, Completion, Config, LoginError};
use ami_proto::{Originate, QueuePolicy, SendError};

use super::{Adapter, ConnectFailure, SendFailure};
use crate::{Destination, Dialplan, Faults, ScriptedReply, ServerConfig, TcpServer};

/// The output of `sip show peers`, blank line included.
const PEERS: [&str; 3] = ["Name/username  Host", "", "0 sip peers"];
/// Channels up on the suite's PBX.
const CHANNELS: usize = 4;
/// The action the suite's PBX answers `Response: Failure`.
const FAILING: &str = "SuiteFailure";
/// The action the suite's PBX never answers.
const LOST: &str = "SuiteLostResponse";
/// Events in a flood.
const FLOOD: u64 = 3_000;
/// The consumer's queue in the slow-consumer scenarios.
const QUEUE: usize = 64;

/// The suite's PBX: the captures' Asterisk (users `admin` and `limited`)
/// with [`CHANNELS`] channels up, failed logins answered at once, a
/// scripted command, destinations for each Originate outcome, and two
/// scripted replies.
fn pbx() -> ServerConfig {
    let dialplan = Dialplan::asterisk_corpus()
        .destination(
            "answer@suite",
            Destination::answer_after(Duration::ZERO, Duration::from_millis(200)),
        )
        .destination("busy@suite", Destination::Busy)
        .destination("ringing@suite", Destination::NoAnswer);
    let failure = ScriptedReply::Status {
        status: "Failure".into(),
        message: "Scripted failure".into(),
    };
    ServerConfig {
        auth_failure_delay: Duration::ZERO,
        channels: CHANNELS,
        ..ServerConfig::asterisk_corpus()
    }
    .with_dialplan(dialplan)
    .with_command("sip show peers", &PEERS)
    .with_reply(FAILING, failure)
    .with_reply(LOST, ScriptedReply::Never)
}

fn serve(config: ServerConfig, faults: Faults) -> TcpServer {
    TcpServer::start(config, faults).expect("the fake server starts")
}

/// `admin` with `auth` and timeouts short enough for tests.
fn config(auth: AuthMethod) -> Config {
    let mut c = Config::new("conformance", "admin", "amp111");
    c.auth = auth;
    c.action_timeout = Duration::from_secs(5);
    c.login_timeout = Duration::from_secs(5);
    c
}

fn connect<A: Adapter>(server: &TcpServer, config: Config) -> A {
    A::connect(server.addr(), config).unwrap_or_else(|e| panic!("{}: login failed: {e:?}", A::NAME))
}

/// Polls `f` until it gives a value, failing after `limit`.
fn eventually<T>(limit: Duration, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let end = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < end, "not within {limit:?}: {what}");
        thread::sleep(Duration::from_millis(5));
    }
}

/// How many times the server received `action`.
fn received(server: &TcpServer, action: &str) -> usize {
    server
        .received_actions()
        .iter()
        .filter(|a| a.eq_ignore_ascii_case(action))
        .count()
}

/// An async Originate of `Local/{dest}` running `Wait(1)`, dialing for at
/// most `dial`.
fn originate(dest: &str, dial: Duration) -> Action {
    Action::originate(
        Originate::new(format!("Local/{dest}"))
            .application("Wait", "1")
            .timeout_ms(dial.as_millis() as u64)
            .async_(true),
    )
}

/// `(Response: Success?, Reason)` of an Originate's completion.
fn outcome<A: Adapter>(result: Result<Completion, SendFailure>) -> (bool, Option<u32>) {
    match result {
        Ok(Completion::Originate(o)) => (o.is_success(), o.reason()),
        other => panic!("{}: not an Originate outcome: {other:?}", A::NAME),
    }
}

fn action_error<A: Adapter>(result: Result<Completion, SendFailure>) -> ActionError {
    match result {
        Err(SendFailure::Action(e)) => e,
        other => panic!("{}: expected an action error, got {other:?}", A::NAME),
    }
}

/// A Ping that must succeed: the session goes on.
fn ping<A: Adapter>(client: &mut A) {
    let pong = client.send(Action::ping());
    match pong {
        Ok(c) => assert_eq!(c.response().get("Ping"), Some(&b"Pong"[..])),
        Err(e) => panic!("{}: the session should go on: {e:?}", A::NAME),
    }
}

pub(super) fn login_plain<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Plain));
    ping(&mut client);
    assert_eq!(received(&server, "Challenge"), 0);
    assert_eq!(received(&server, "Login"), 1);
    client.close().expect("logs off");
}

pub(super) fn login_md5<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    ping(&mut client);
    let actions = server.received_actions();
    assert!(
        actions[0].eq_ignore_ascii_case("Challenge") && actions[1].eq_ignore_ascii_case("Login"),
        "{actions:?}"
    );
    client.close().expect("logs off");
}

pub(super) fn completion_response<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    let getvar = Action::new("Getvar").header("Variable", "TESTGLOBAL");
    match client.send(getvar) {
        Ok(Completion::Response(r)) => {
            assert_eq!(r.get("Variable"), Some(&b"TESTGLOBAL"[..]));
            assert_eq!(r.get("Value"), Some(&b"hello-global"[..]));
            assert!(r.action_id().is_some());
        }
        other => panic!("{}: {other:?}", A::NAME),
    }
}

pub(super) fn completion_list<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    match client.send(Action::core_show_channels()) {
        Ok(Completion::List(list)) => {
            assert_eq!(list.items.len(), CHANNELS, "{:?}", list.items);
            assert!(list.items.iter().all(|e| e.is("CoreShowChannel")));
            let complete = list.complete.expect("the list's end");
            assert!(complete.is("CoreShowChannelsComplete"));
            assert_eq!(
                complete.get("ListItems"),
                Some(CHANNELS.to_string().as_bytes())
            );
        }
        other => panic!("{}: {other:?}", A::NAME),
    }
}

fn command_lines<A: Adapter>(legacy: bool) {
    let server = serve(
        ServerConfig {
            legacy_command: legacy,
            ..pbx()
        },
        Faults::default(),
    );
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    match client.send(Action::command("sip show peers")) {
        Ok(Completion::Command(output)) => {
            let lines: Vec<&[u8]> = output.lines.iter().map(|l| &l[..]).collect();
            let want: Vec<&[u8]> = PEERS.iter().map(|l| l.as_bytes()).collect();
            assert_eq!(lines, want, "legacy: {legacy}");
        }
        other => panic!("{} (legacy: {legacy}): {other:?}", A::NAME),
    }
    ping(&mut client);
}

pub(super) fn completion_command<A: Adapter>() {
    command_lines::<A>(false);
}

pub(super) fn completion_command_legacy<A: Adapter>() {
    command_lines::<A>(true);
}

pub(super) fn originate_success<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    let done = client.send(originate("answer@suite", Duration::from_secs(5)));
    assert_eq!(outcome::<A>(done), (true, Some(4)));
    // The call's events came too (before its outcome, as in Asterisk).
    let end = Instant::now() + Duration::from_secs(2);
    let mut names = Vec::new();
    while !names.iter().any(|n| n == "Newchannel") && Instant::now() < end {
        if let Some(e) = client.next_event(Duration::from_millis(100)) {
            names.push(e.name_str().into_owned());
        }
    }
    assert!(names.iter().any(|n| n == "Newchannel"), "{names:?}");
}

pub(super) fn originate_failure_per_destination<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    let dial = Duration::from_secs(5);
    let busy = client.send(originate("busy@suite", dial));
    assert_eq!(outcome::<A>(busy), (false, Some(5)));
    let missing = client.send(originate("nowhere@suite", dial));
    assert_eq!(outcome::<A>(missing), (false, Some(0)));
    ping(&mut client);
}

pub(super) fn chosen_action_id<A: Adapter>() {
    const CHOSEN: &str = "suite-crm.lead-42";
    let server = serve(pbx(), Faults::default());
    // Another process following the server's call events.
    let mut observer = connect::<A>(&server, config(AuthMethod::Md5));
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    let call = originate("answer@suite", Duration::from_secs(5)).with_action_id(CHOSEN);
    let done = client.send(call);
    let response_id = done.as_ref().ok().and_then(|c| c.response().action_id());
    assert_eq!(response_id, Some(CHOSEN.as_bytes()), "{}", A::NAME);
    assert_eq!(outcome::<A>(done), (true, Some(4)));
    // The observer matches the call's outcome by the id it was given.
    let end = Instant::now() + Duration::from_secs(3);
    let seen = loop {
        assert!(Instant::now() < end, "{}: no OriginateResponse", A::NAME);
        match observer.next_event(Duration::from_millis(100)) {
            Some(e) if e.is("OriginateResponse") => break e,
            _ => {}
        }
    };
    assert_eq!(seen.get("ActionID"), Some(CHOSEN.as_bytes()));
    // Bounds and characters are checked before anything is sent.
    let spaced = Action::new("Setvar")
        .header("Variable", "A")
        .with_action_id("two words");
    match client.send(spaced) {
        Err(SendFailure::Refused(SendError::InvalidActionId { id })) => {
            assert_eq!(id, "two words")
        }
        other => panic!("{}: {other:?}", A::NAME),
    }
    let long = Action::ping().with_action_id("x".repeat(65));
    match client.send(long) {
        Err(SendFailure::Refused(SendError::ActionIdTooLong { len: 65, max: 64 })) => {}
        other => panic!("{}: {other:?}", A::NAME),
    }
    assert_eq!(received(&server, "Setvar"), 0);
    ping(&mut client);
}

pub(super) fn refused_before_sending<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    // A line break would inject a second action.
    let injected = Action::new("Setvar").header("Variable", "A\r\nAction: Hangup");
    match client.send(injected) {
        Err(SendFailure::Refused(SendError::LineBreak { name })) => assert_eq!(name, "Variable"),
        other => panic!("{}: {other:?}", A::NAME),
    }
    ping(&mut client);
    assert_eq!(received(&server, "Setvar") + received(&server, "Hangup"), 0);
}

pub(super) fn error_server<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    match action_error::<A>(client.send(Action::new("NoSuchAction"))) {
        ActionError::Server { message } => {
            assert!(message.starts_with("Invalid/unknown command"), "{message}")
        }
        other => panic!("{}: {other:?}", A::NAME),
    }
    ping(&mut client);
    // A user whose write classes lack `originate`.
    let mut limited_config = config(AuthMethod::Md5);
    limited_config.username = "limited".into();
    limited_config.secret = "limited123".into();
    let mut limited = connect::<A>(&server, limited_config);
    let denied = limited.send(originate("answer@suite", Duration::from_secs(5)));
    assert_eq!(
        action_error::<A>(denied),
        ActionError::Server {
            message: "Permission denied".into()
        }
    );
    ping(&mut limited);
}

pub(super) fn error_failure_status<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    assert_eq!(
        action_error::<A>(client.send(Action::new(FAILING))),
        ActionError::Failed {
            status: "Failure".into(),
            message: "Scripted failure".into()
        }
    );
    ping(&mut client);
}

pub(super) fn error_timeout<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    // It rings for 20 s; the action gives up after 300 ms.
    let timeout = Duration::from_millis(300);
    let ringing = originate("ringing@suite", Duration::from_secs(20)).with_timeout(timeout);
    let started = Instant::now();
    let err = action_error::<A>(client.send(ringing));
    let took = started.elapsed();
    assert_eq!(err, ActionError::Timeout(timeout));
    assert!(
        took >= timeout && took < Duration::from_secs(3),
        "{}: {took:?}",
        A::NAME
    );
    ping(&mut client);
}

pub(super) fn error_frame_too_large<A: Adapter>() {
    let line = "SIP/trunk-00000001  (None)  Up  Dial(PJSIP/100,30)  00:01:02";
    let big: Vec<&str> = std::iter::repeat_n(line, (256 << 10) / line.len()).collect();
    let server = serve(pbx().with_command("big", &big), Faults::default());
    let mut cfg = config(AuthMethod::Md5);
    cfg.max_command_output = 64 << 10;
    let mut client = connect::<A>(&server, cfg);
    assert_eq!(
        action_error::<A>(client.send(Action::command("big"))),
        ActionError::FrameTooLarge { limit: 64 << 10 }
    );
    ping(&mut client);
}

pub(super) fn error_cancelled<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    let ringing = originate("ringing@suite", Duration::from_secs(20));
    let sent = || received(&server, "Originate") == 1;
    let err = action_error::<A>(client.send_and_cancel(ringing, &sent));
    assert_eq!(err, ActionError::Cancelled);
    ping(&mut client);
}

pub(super) fn error_desync<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut cfg = config(AuthMethod::Md5);
    cfg.heartbeat_interval = Some(Duration::from_millis(100));
    let mut client = connect::<A>(&server, cfg);
    let started = Instant::now();
    let err = action_error::<A>(client.send(Action::new(LOST)));
    let took = started.elapsed();
    assert!(
        matches!(err, ActionError::Desync(_)),
        "{}: {err:?}",
        A::NAME
    );
    // The heartbeat's Ping (100 ms idle) was answered first: long before
    // the 5 s action timeout.
    assert!(took < Duration::from_secs(3), "{}: {took:?}", A::NAME);
    ping(&mut client);
    let desyncs = eventually(Duration::from_secs(2), "the desync counted", || {
        Some(client.stats().desyncs).filter(|&d| d >= 1)
    });
    assert_eq!(desyncs, 1);
}

pub(super) fn connection_lost_then_reconnect<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    let ringing = originate("ringing@suite", Duration::from_secs(20));
    let killed = thread::scope(|s| {
        let killer = s.spawn(|| {
            eventually(Duration::from_secs(5), "the Originate sent", || {
                (received(&server, "Originate") == 1).then_some(())
            });
            server.drop_connections();
        });
        let result = client.send(ringing);
        killer.join().expect("killer thread");
        result
    });
    assert_eq!(action_error::<A>(killed), ActionError::ConnectionLost);
    let ended = client
        .wait_ended(Duration::from_secs(3))
        .unwrap_or_else(|| panic!("{}: the session did not end", A::NAME));
    assert_eq!(ended.reason, CloseReason::Lost, "{}", A::NAME);
    // A session that lasted under 10 s is a flap: the wait is 0.8-1.6 s.
    assert!(
        client.recover(Duration::from_secs(5)),
        "{}: no new session",
        A::NAME
    );
    ping(&mut client);
    assert_eq!(client.sessions(), 2);
    assert_eq!(server.connections(), 2);
    assert_eq!(received(&server, "Originate"), 1, "never sent again");
}

pub(super) fn oversized_event<A: Adapter>() {
    let faults = Faults {
        oversized_event_bytes: Some(200 << 10),
        ..Faults::default()
    };
    let server = serve(pbx(), faults);
    let mut cfg = config(AuthMethod::Md5);
    cfg.max_frame = 64 << 10;
    let mut client = connect::<A>(&server, cfg);
    ping(&mut client);
    let stats = eventually(
        Duration::from_secs(2),
        "the oversized frame counted",
        || Some(client.stats()).filter(|s| s.oversized_frames > 0),
    );
    assert_eq!(
        (stats.oversized_frames, stats.events_dropped_oversized),
        (1, 1)
    );
    while let Some(e) = client.next_event(Duration::from_millis(100)) {
        assert!(!e.is("Oversized"));
    }
    ping(&mut client);
}

/// A session under `faults` whose answers all come whole: `pings` Pings,
/// then the channel list.
fn answers_whole<A: Adapter>(faults: Faults, pings: usize) -> (TcpServer, A) {
    let server = serve(pbx(), faults);
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    for _ in 0..pings {
        ping(&mut client);
    }
    match client.send(Action::core_show_channels()) {
        Ok(Completion::List(list)) => assert_eq!(list.items.len(), CHANNELS),
        other => panic!("{}: {other:?}", A::NAME),
    }
    (server, client)
}

pub(super) fn garbage<A: Adapter>() {
    let faults = Faults {
        garbage_every: Some(3),
        ..Faults::default()
    };
    let (_server, mut client) = answers_whole::<A>(faults, 5);
    let stats = eventually(Duration::from_secs(2), "garbage counted", || {
        Some(client.stats()).filter(|s| s.garbage >= 2 && s.actions_ok >= 6)
    });
    assert_eq!(stats.actions_failed, 0);
}

pub(super) fn partial_writes<A: Adapter>() {
    let faults = Faults {
        write_chunk: Some(1),
        ..Faults::default()
    };
    let (_server, mut client) = answers_whole::<A>(faults, 3);
    let getvar = Action::new("Getvar").header("Variable", "TESTGLOBAL");
    let value = client
        .send(getvar)
        .map(|c| c.response().get_str("Value").map(|v| v.into_owned()));
    assert_eq!(value, Ok(Some("hello-global".to_string())));
}

pub(super) fn events_in_order<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    for i in 0..5 {
        let seq = i.to_string();
        client
            .send(Action::user_event("Suite", &[("Seq", &seq)]))
            .unwrap_or_else(|e| panic!("{}: {e:?}", A::NAME));
    }
    let mut seqs = Vec::new();
    let end = Instant::now() + Duration::from_secs(3);
    while seqs.len() < 5 && Instant::now() < end {
        let Some(e) = client.next_event(Duration::from_millis(100)) else {
            continue;
        };
        if e.is("UserEvent") && e.get("UserEvent") == Some(&b"Suite"[..]) {
            seqs.push(e.get_str("Seq").map(|s| s.into_owned()).unwrap_or_default());
        }
    }
    assert_eq!(seqs, ["0", "1", "2", "3", "4"]);
}

/// A client whose consumer queue holds [`QUEUE`] events under `policy`,
/// on a server that floods [`FLOOD`] events (then `BenchDone`) after login.
fn flooded<A: Adapter>(policy: QueuePolicy) -> (TcpServer, A) {
    let server = serve(ServerConfig::default(), Faults::flood(FLOOD));
    let mut cfg = config(AuthMethod::Plain);
    cfg.event_queue = QUEUE;
    cfg.queue_policy = policy;
    let client = connect::<A>(&server, cfg);
    (server, client)
}

/// Every event the session decodes: `FullyBooted`, `SuccessfulAuth`, the
/// flood and `BenchDone`.
const FLOODED_SESSION: u64 = FLOOD + 3;

/// A stalled consumer: nothing is read from the adapter while Pings make
/// it read the whole flood (a blocking client reads only while called).
/// Then the consumer drains; returns the names it got, in order.
fn stall_then_drain<A: Adapter>(client: &mut A) -> Vec<String> {
    let end = Instant::now() + Duration::from_secs(20);
    for _ in 0..10_000 {
        if client.stats().events >= FLOODED_SESSION {
            break;
        }
        assert!(Instant::now() < end, "{}: {:?}", A::NAME, client.stats());
        ping(client);
    }
    // One more round trip: an adapter may count events before it hands
    // them out (smol publishes its counters first); by the answer to a
    // later action, it has handed out every event read before.
    ping(client);
    let mut names = Vec::new();
    while let Some(e) = client.next_event(Duration::from_millis(200)) {
        names.push(e.name_str().into_owned());
    }
    names
}

/// Every event decoded was consumed or counted as dropped, some were
/// dropped, and the consumer's queue never held more than its bound.
fn accounted<A: Adapter>(client: &mut A, consumed: usize) {
    // Counters may be published a moment after the events.
    let settle = Instant::now() + Duration::from_secs(2);
    let (decoded, dropped) = loop {
        let (decoded, dropped) = (client.stats().events, client.dropped());
        if decoded == consumed as u64 + dropped || Instant::now() >= settle {
            break (decoded, dropped);
        }
        thread::sleep(Duration::from_millis(5));
    };
    assert_eq!(
        (decoded, consumed as u64 + dropped),
        (FLOODED_SESSION, FLOODED_SESSION),
        "{}: every event decoded is consumed ({consumed}) or counted as dropped ({dropped})",
        A::NAME
    );
    assert!(
        dropped > 0,
        "{}: the stalled consumer lost nothing?",
        A::NAME
    );
    let high = client.queue_high_water();
    assert!(high <= QUEUE as u64, "{}: high water {high}", A::NAME);
}

pub(super) fn slow_consumer_drop_oldest<A: Adapter>() {
    let (_server, mut client) = flooded::<A>(QueuePolicy::DropOldest);
    let names = stall_then_drain(&mut client);
    assert_eq!(
        names.last().map(String::as_str),
        Some("BenchDone"),
        "{}: the newest survive",
        A::NAME
    );
    accounted(&mut client, names.len());
}

pub(super) fn slow_consumer_drop_newest<A: Adapter>() {
    let (_server, mut client) = flooded::<A>(QueuePolicy::DropNewest);
    let names = stall_then_drain(&mut client);
    assert_eq!(
        names.first().map(String::as_str),
        Some("FullyBooted"),
        "{}: the oldest survive",
        A::NAME
    );
    assert!(!names.iter().any(|n| n == "BenchDone"), "{}", A::NAME);
    accounted(&mut client, names.len());
}

pub(super) fn slow_consumer_backpressure<A: Adapter>() {
    let (_server, mut client) = flooded::<A>(QueuePolicy::Backpressure);
    // The consumer falls behind, then reads slowly; no action is awaited.
    client.idle(Duration::from_millis(200));
    let end = Instant::now() + Duration::from_secs(20);
    let mut flood = 0u64;
    let mut first = None;
    loop {
        assert!(Instant::now() < end, "{}: {flood} events", A::NAME);
        let Some(e) = client.next_event(Duration::from_secs(2)) else {
            panic!("{}: the flood stalled after {flood} events", A::NAME);
        };
        first.get_or_insert_with(|| e.name_str().into_owned());
        if e.is("BenchDone") {
            break;
        }
        if !e.is("FullyBooted") && !e.is("SuccessfulAuth") {
            flood += 1;
            if flood.is_multiple_of(500) {
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
    assert_eq!(first.as_deref(), Some("FullyBooted"));
    assert_eq!(flood, FLOOD, "{}: back-pressure loses nothing", A::NAME);
    assert_eq!(client.dropped(), 0, "{}", A::NAME);
    let high = client.queue_high_water();
    assert!(high <= QUEUE as u64, "{}: high water {high}", A::NAME);
}

fn wrong_secret() -> Config {
    let mut c = config(AuthMethod::Md5);
    c.secret = "wrong".into();
    c
}

pub(super) fn refused_credentials<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let started = Instant::now();
    match A::connect(server.addr(), wrong_secret()) {
        Err(ConnectFailure::Login(LoginError::AuthenticationFailed(_))) => {}
        Err(other) => panic!("{}: {other:?}", A::NAME),
        Ok(_) => panic!("{}: logged in with a wrong secret", A::NAME),
    }
    assert!(started.elapsed() < Duration::from_secs(3));
    assert_eq!(server.connections(), 1);
}

pub(super) fn refused_connection<A: Adapter>() {
    let faults = Faults {
        refuse_connections: true,
        ..Faults::default()
    };
    let server = serve(pbx(), faults);
    let started = Instant::now();
    match A::connect(server.addr(), config(AuthMethod::Md5)) {
        Err(ConnectFailure::Connect(kind)) => {
            assert_eq!(kind, std::io::ErrorKind::ConnectionRefused)
        }
        Err(other) => panic!("{}: {other:?}", A::NAME),
        Ok(_) => panic!("{}: connected to a closed port", A::NAME),
    }
    // PHP pitfall 6: a refusal does not wait for the connect timeout.
    let took = started.elapsed();
    assert!(took < Duration::from_secs(1), "{}: {took:?}", A::NAME);
}

pub(super) fn refused_credentials_no_hot_loop<A: Adapter>() {
    // Asterisk answers a wrong secret after about a second.
    let server = serve(
        ServerConfig {
            auth_failure_delay: Duration::from_secs(1),
            ..pbx()
        },
        Faults::default(),
    );
    let mut client = A::start(server.addr(), wrong_secret());
    // Refused after a second: the server closes the first connection.
    let end = Instant::now() + Duration::from_secs(5);
    while server.connections() == 0 || server.live_connections() > 0 {
        assert!(Instant::now() < end, "{}: no refused attempt", A::NAME);
        client.idle(Duration::from_millis(50));
    }
    // The floor after refused credentials is 30 s: none in the next 1.5 s.
    client.idle(Duration::from_millis(1500));
    assert_eq!(server.connections(), 1, "{}: retried at once", A::NAME);
    assert_eq!(client.sessions(), 0);
    match client.send(Action::ping()) {
        Err(SendFailure::NoSession(_)) | Err(SendFailure::Refused(_)) => {}
        other => panic!("{}: {other:?}", A::NAME),
    }
}

pub(super) fn heartbeat_half_open<A: Adapter>() {
    let silent = Faults {
        silence_after_login: true,
        ..Faults::default()
    };
    let server = serve(pbx(), silent.clone());
    let mut cfg = config(AuthMethod::Md5);
    cfg.heartbeat_interval = Some(Duration::from_millis(100));
    cfg.action_timeout = Duration::from_millis(200);
    let mut client = connect::<A>(&server, cfg);
    // PHP pitfall 3: silence, close, a new session, twice; the failures
    // counted must not stop the reconnects.
    for round in 1..=2 {
        let started = Instant::now();
        let ended = client
            .wait_ended(Duration::from_secs(3))
            .unwrap_or_else(|| {
                panic!("{}: round {round}: the silent link was not caught", A::NAME)
            });
        // 100 ms idle, then two pongs missed, 200 ms each.
        let took = started.elapsed();
        assert!(took < Duration::from_secs(2), "{}: {took:?}", A::NAME);
        assert_eq!(ended.reason, CloseReason::HeartbeatTimeout, "{}", A::NAME);
        assert!(client.stats().heartbeat_misses >= 2, "{:?}", client.stats());
        if round == 2 {
            server.set_faults(Faults::default());
        }
        // Each silent session was a flap: the waits are 0.8-1.6 s, then
        // 1.6-3.2 s.
        assert!(
            client.recover(Duration::from_secs(5)),
            "{}: round {round}: no new session",
            A::NAME
        );
    }
    // Healthy again: the heartbeat's pings are answered.
    let healthy = Instant::now();
    while healthy.elapsed() < Duration::from_millis(500) {
        client.next_event(Duration::from_millis(100));
    }
    ping(&mut client);
    let stats = eventually(Duration::from_secs(2), "the new session's pings", || {
        Some(client.stats()).filter(|s| s.heartbeats >= 2)
    });
    assert_eq!(stats.heartbeat_misses, 0, "{}: {stats:?}", A::NAME);
    assert_eq!(client.sessions(), 3);
    assert_eq!(server.connections(), 3);
}

pub(super) fn logoff<A: Adapter>() {
    let server = serve(pbx(), Faults::default());
    let mut client = connect::<A>(&server, config(AuthMethod::Md5));
    ping(&mut client);
    client
        .close()
        .unwrap_or_else(|e| panic!("{}: no clean logoff: {e}", A::NAME));
    let actions = server.received_actions();
    assert!(
        actions
            .last()
            .is_some_and(|a| a.eq_ignore_ascii_case("Logoff")),
        "{actions:?}"
    );
    eventually(Duration::from_secs(2), "the connection closed", || {
        (server.live_connections() == 0).then_some(())
    });
    assert_eq!(server.connections(), 1);
}

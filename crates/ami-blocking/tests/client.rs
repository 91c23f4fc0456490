//! The blocking `Client` against the fake server over real TCP (127.0.0.1).

mod common;

use std::time::{Duration, Instant};

use ami_blocking::{Client, ClientError, ConnectError};
use ami_proto::{
    Action, ActionError, AuthMethod, CloseReason, Completion, ConfigError, LoginError, Originate,
};
use ami_testkit::Faults;
use common::{config, server, Watchdog};

const CONNECT: Duration = Duration::from_secs(2);

#[test]
fn login_ping_list_command_originate_close() {
    let _w = Watchdog::new("client basics", Duration::from_secs(20));
    let srv = server(Faults::default());
    let mut client = Client::connect(srv.addr(), CONNECT, config("pbx1")).expect("connects");
    assert!(client.is_ready());

    let pong = client.send(Action::ping()).expect("ping");
    assert_eq!(pong.response().get("Ping"), Some(&b"Pong"[..]));

    match client.send(Action::core_show_channels()).expect("list") {
        Completion::List {
            items, complete, ..
        } => {
            assert_eq!(items.len(), 4, "the server has 4 channels");
            assert!(complete.expect("list end").completes_list());
        }
        other => panic!("expected a list, got {other:?}"),
    }

    match client
        .send(Action::command("sip show peers"))
        .expect("command")
    {
        Completion::Command { lines, .. } => {
            assert_eq!(lines.len(), 2);
            assert_eq!(&lines[1][..], b"0 sip peers");
        }
        other => panic!("expected command output, got {other:?}"),
    }

    let err = client
        .send(Action::command("no such thing"))
        .expect_err("unknown command fails");
    assert!(
        matches!(err, ClientError::Action(ActionError::Server { .. })),
        "{err:?}"
    );

    let originate = Originate::new("Local/100@default")
        .extension("default", "100", 1)
        .async_(true);
    match client
        .send(Action::originate(originate))
        .expect("originate")
    {
        Completion::Originate(outcome) => assert!(outcome.is_success()),
        other => panic!("expected an originate outcome, got {other:?}"),
    }
    // The call's events waited in the core's queue meanwhile.
    let mut names = Vec::new();
    while let Some(event) = client
        .next_event(Duration::from_millis(100))
        .expect("events")
    {
        names.push(event.name_str().into_owned());
    }
    assert!(names.iter().any(|n| n == "Newchannel"), "{names:?}");

    // Refused before anything was queued.
    let bad = Action::new("Setvar").header("Variable", "A\r\nAction: Hangup");
    assert!(matches!(client.send(bad), Err(ClientError::Send(_))));

    client.close().expect("logs off cleanly");
    let actions = srv.received_actions();
    assert_eq!(
        actions.last().map(String::as_str),
        Some("Logoff"),
        "{actions:?}"
    );
}

#[test]
fn plain_login_and_bad_credentials() {
    let _w = Watchdog::new("credentials", Duration::from_secs(15));
    let srv = server(Faults::default());
    let mut plain = config("plain");
    plain.auth = AuthMethod::Plain;
    let client = Client::connect(srv.addr(), CONNECT, plain).expect("plain login");
    client.close().expect("closes");

    let mut wrong = config("wrong");
    wrong.secret = "nope".into();
    let started = Instant::now();
    let err = Client::connect(srv.addr(), CONNECT, wrong).expect_err("bad secret");
    assert!(
        matches!(
            err,
            ConnectError::Login(LoginError::AuthenticationFailed(_))
        ),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn refused_connect_fails_at_once() {
    let _w = Watchdog::new("refused", Duration::from_secs(10));
    let srv = server(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let started = Instant::now();
    let err =
        Client::connect(srv.addr(), Duration::from_secs(5), config("r")).expect_err("refused");
    assert!(matches!(err, ConnectError::Connect(_)), "{err:?}");
    // PHP pitfall 6: a refusal must not wait for the connect timeout.
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn one_byte_server_writes() {
    let _w = Watchdog::new("1-byte chunks", Duration::from_secs(20));
    let srv = server(Faults {
        write_chunk: Some(1),
        ..Faults::default()
    });
    let mut client = Client::connect(srv.addr(), CONNECT, config("chunky")).expect("login");
    for _ in 0..3 {
        client.send(Action::ping()).expect("ping");
    }
    match client.send(Action::core_show_channels()).expect("list") {
        Completion::List { items, .. } => assert_eq!(items.len(), 4),
        other => panic!("{other:?}"),
    }
    assert!(client.stats().bytes_in > 1000);
}

#[test]
fn events_wait_in_the_core_queue_during_send() {
    let _w = Watchdog::new("flood during send", Duration::from_secs(30));
    let srv = server(Faults::flood(3000));
    let mut client = Client::connect(srv.addr(), CONNECT, config("flood")).expect("login");
    client.send(Action::ping()).expect("ping through the flood");
    let mut count = 0u64;
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        assert!(Instant::now() < end, "flood not received in time ({count})");
        let Some(event) = client.next_event(Duration::from_secs(2)).expect("event") else {
            panic!("flood stalled after {count} events");
        };
        if event.is("BenchDone") {
            break;
        }
        if !event.is("FullyBooted") && !event.is("SuccessfulAuth") {
            count += 1;
        }
    }
    assert_eq!(count, 3000, "no event lost");
    assert_eq!(client.stats().events_dropped_full, 0);
}

#[test]
fn half_open_caught_by_heartbeat_then_reconnect_twice() {
    let _w = Watchdog::new("half-open", Duration::from_secs(30));
    let srv = server(Faults {
        silence_after_login: true,
        ..Faults::default()
    });
    let mut cfg = config("halfopen");
    cfg.heartbeat_interval = Some(Duration::from_millis(100));
    cfg.action_timeout = Duration::from_millis(200);
    let mut client = Client::connect(srv.addr(), CONNECT, cfg).expect("login");
    // PHP pitfall 3: silence -> close -> reconnect -> healthy, twice.
    for round in 0..2 {
        let started = Instant::now();
        let err = loop {
            match client.next_event(Duration::from_millis(200)) {
                Ok(_) => assert!(started.elapsed() < Duration::from_secs(5), "not detected"),
                Err(e) => break e,
            }
        };
        let took = started.elapsed();
        assert!(
            matches!(err, ClientError::Closed(CloseReason::HeartbeatTimeout)),
            "round {round}: {err:?}"
        );
        // interval + 2 missed pongs of 200 ms each, with slack.
        assert!(
            took < Duration::from_secs(2),
            "round {round}: took {took:?}"
        );
        srv.set_faults(Faults::default());
        client.reconnect().expect("reconnects");
        client.send(Action::ping()).expect("healthy again");
        // Health is earned: a login alone does not reset the count (each
        // silent session was a failure), only a session up for 10 s does.
        assert_eq!(client.reconnect_policy().failures(), round + 1);
        // The next session falls silent again.
        srv.set_faults(Faults {
            silence_after_login: true,
            ..Faults::default()
        });
        client.reconnect().expect("reconnects into silence");
    }
    assert!(srv.connections() >= 5);
}

#[test]
fn action_timeout_is_a_typed_error() {
    let _w = Watchdog::new("timeout", Duration::from_secs(15));
    let mut sc = common::server_config();
    sc.originate.outcome = ami_testkit::OriginateOutcome::Never;
    let srv = ami_testkit::TcpServer::start(sc, Faults::default()).expect("server");
    let mut client = Client::connect(srv.addr(), CONNECT, config("t")).expect("login");
    let originate = Originate::new("Local/1@default")
        .extension("default", "1", 1)
        .async_(true);
    let started = Instant::now();
    let err = client
        .send(Action::originate(originate).with_timeout(Duration::from_millis(300)))
        .expect_err("never completes");
    assert!(
        matches!(err, ClientError::Action(ActionError::Timeout(_))),
        "{err:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(2));
    // The session is still usable.
    client.send(Action::ping()).expect("ping after a timeout");
}

#[test]
fn lost_connection_then_reconnect() {
    let _w = Watchdog::new("lost", Duration::from_secs(15));
    let srv = server(Faults {
        drop_after: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    let mut client = Client::connect(srv.addr(), CONNECT, config("lost")).expect("login");
    let err = loop {
        match client.next_event(Duration::from_millis(100)) {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(
        matches!(err, ClientError::Closed(CloseReason::Lost)),
        "{err:?}"
    );
    assert!(matches!(
        client.send(Action::ping()),
        Err(ClientError::Closed(_))
    ));
    srv.set_faults(Faults::default());
    let started = Instant::now();
    client.reconnect().expect("reconnects");
    // A session that lasted 300 ms is a flap, not a recovery: the wait is
    // 0.8 to 1.6 s (the backoff's floor, jittered), not the base 100 ms.
    assert!(started.elapsed() < Duration::from_secs(2));
    client
        .send(Action::ping())
        .expect("ping on the new session");
    assert_eq!(client.sessions(), 2);
}

#[test]
fn huge_timeouts_saturate_and_a_zero_connect_timeout_is_refused() {
    // Issue 15 item 5: `Instant::now() + Duration::MAX` panicked in the
    // connect and in `next_event`; a huge bound now means "no bound of ours".
    let _w = Watchdog::new("huge timeouts", Duration::from_secs(15));
    let srv = server(Faults::default());
    let mut client = Client::connect(srv.addr(), Duration::MAX, config("huge")).expect("connects");
    srv.inject_all("Event: UserEvent\r\nUserEvent: wake\r\n\r\n");
    let started = Instant::now();
    let event = loop {
        let event = client.next_event(Duration::MAX).expect("session alive");
        let event = event.expect("an event: nothing else ends the wait");
        if event.is("UserEvent") {
            break event;
        }
        assert!(started.elapsed() < Duration::from_secs(5), "no UserEvent");
    };
    assert_eq!(event.get("UserEvent"), Some(&b"wake"[..]));
    client.send(Action::ping()).expect("ping");
    client.close().expect("logs off");

    // Zero is no time at all: a configuration error before any I/O.
    let err = Client::connect(srv.addr(), Duration::ZERO, config("zero")).expect_err("refused");
    assert!(
        matches!(
            err,
            ConnectError::Config(ConfigError::OutOfRange {
                name: "connect_timeout_ms",
                ..
            })
        ),
        "{err:?}"
    );
    assert_eq!(srv.connections(), 1, "nothing attempted");
}

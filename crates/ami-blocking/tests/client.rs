//! The blocking `Client` against the fake server over real TCP (127.0.0.1),
//! what is its own: events waiting in the core during a send, explicit
//! reconnects, saturating timeouts. What every adapter does is in the
//! conformance suite (`tests/conformance.rs`).

mod common;

use std::time::{Duration, Instant};

use ami_blocking::{Client, ClientError, ConnectError};
use ami_proto::{Action, ActionError, CloseReason, ConfigError, QueuePolicy};
use ami_testkit::Faults;
use common::{config, never_answers_originate, originate, server, Watchdog};

const CONNECT: Duration = Duration::from_secs(2);

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

/// Back-pressure may slow the reading of events, never an answer
/// (invariant 11): while nobody reads the events of a short flood, a send
/// gets its answer and an unanswered one times out, both on time. The answer
/// used to wait behind the held-back events until two frames' worth (8 MiB
/// by default) had piled up: after a short flood, for ever. What the full
/// queue cannot take meanwhile is dropped and counted; the queue stays
/// within its bound, and every event is read or counted.
#[test]
fn backpressure_never_holds_back_an_answer() {
    let _w = Watchdog::new("backpressure send", Duration::from_secs(30));
    let srv = never_answers_originate(Faults::flood(300));
    let mut cfg = config("held");
    cfg.event_queue = 16;
    cfg.queue_policy = QueuePolicy::Backpressure;
    let mut client = Client::connect(srv.addr(), CONNECT, cfg).expect("login");

    let started = Instant::now();
    let pong = client.send(Action::ping().with_timeout(Duration::from_secs(3)));
    let took = started.elapsed();
    pong.expect("the answer behind the flood");
    assert!(took < Duration::from_secs(2), "{took:?}");

    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let err = client.send(originate().with_timeout(timeout)).unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(err, ClientError::Action(ActionError::Timeout(t)) if t == timeout),
        "{err:?}"
    );
    assert!(took >= timeout && took < timeout + Duration::from_secs(2));

    let stats = client.stats();
    // Nothing was read; the last drop may have made room for an answer.
    assert!((15..=16).contains(&stats.queue_depth), "{stats:?}");
    assert_eq!(stats.queue_high_water, 16);
    assert!(stats.events_dropped_full > 0, "{stats:?}");
    let mut read = 0u64;
    while let Some(event) = client.next_event(Duration::from_millis(500)).expect("open") {
        read += 1;
        if event.is("BenchDone") {
            break;
        }
    }
    let stats = client.stats();
    assert_eq!(stats.events, read + stats.events_dropped_full, "{stats:?}");
    assert!(stats.queue_high_water <= 16);
}

/// Reads events until the session's end: the error that tells it (the
/// test's watchdog bounds the wait).
fn until_closed(client: &mut Client) -> ClientError {
    loop {
        if let Err(e) = client.next_event(Duration::from_millis(100)) {
            return e;
        }
    }
}

/// The reconnect pacing is the caller's to choose, as the Multiplexer's
/// `set_reconnect_policy` and the async adapters' `reconnect_policy` are.
/// A policy whose values mean nothing is refused, naming the value, and the
/// client keeps the one it had. A new policy counts the session up now
/// from its login, and paces the reconnect after the session drops: 20 s
/// here, where the default waits 0.8 to 1.6 s
/// (`lost_connection_then_reconnect`).
#[test]
fn the_reconnect_policy_is_configurable_and_checked() {
    use ami_proto::{Backoff, CircuitBreaker, ReconnectPolicy};

    let _w = Watchdog::new("client reconnect policy", Duration::from_secs(15));
    let srv = server(Faults {
        drop_after: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    let mut client = Client::connect(srv.addr(), CONNECT, config("paced")).expect("login");
    let default_healthy = ReconnectPolicy::DEFAULT_HEALTHY_AFTER;
    let logged_in = client.reconnect_policy().healthy_at().expect("up") - default_healthy;

    let slow = Duration::from_secs(20);
    let zero = Backoff::new(Duration::ZERO, slow, 1);
    let hot = ReconnectPolicy::new(zero, CircuitBreaker::default());
    assert!(matches!(
        client.set_reconnect_policy(hot),
        Err(ConfigError::OutOfRange {
            name: "reconnect_base_ms",
            ..
        })
    ));
    assert_eq!(client.reconnect_policy().healthy_after(), default_healthy);

    let healthy_after = Duration::from_millis(100);
    let backoff = Backoff::new(slow, slow, 1).with_jitter(0);
    let policy =
        ReconnectPolicy::new(backoff, CircuitBreaker::default()).with_healthy_after(healthy_after);
    client.set_reconnect_policy(policy).expect("in range");
    let healthy_at = client.reconnect_policy().healthy_at();
    assert_eq!(healthy_at, Some(logged_in + healthy_after));

    let err = until_closed(&mut client);
    assert!(matches!(err, ClientError::Closed(_)), "{err:?}");
    let now = Instant::now();
    let retry_at = client.reconnect_policy().next_allowed(now);
    assert!(
        retry_at >= now + slow - Duration::from_secs(1),
        "{:?}",
        retry_at - now
    );
    assert_eq!(client.reconnect_policy().failures(), 1);
}

/// What the conformance suite leaves to this adapter after a lost
/// session: sends fail until `reconnect`, which waits the policy's delay,
/// and a short session is counted as a failure (health is earned).
#[test]
fn lost_connection_then_reconnect() {
    let _w = Watchdog::new("lost", Duration::from_secs(15));
    let srv = server(Faults {
        drop_after: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    let mut client = Client::connect(srv.addr(), CONNECT, config("lost")).expect("login");
    let err = until_closed(&mut client);
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
    assert!(started.elapsed() >= Duration::from_millis(800));
    assert!(started.elapsed() < Duration::from_secs(2));
    client
        .send(Action::ping())
        .expect("ping on the new session");
    assert_eq!(client.sessions(), 2);
    // A login alone does not reset the count; a session up for 10 s does.
    assert_eq!(client.reconnect_policy().failures(), 1);
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

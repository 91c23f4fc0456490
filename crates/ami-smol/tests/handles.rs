//! What a program waits on: the client becoming ready, how it ended, when
//! it tries again, a cancelled send, and events with a deadline. Over real
//! TCP against the fake Asterisk on 127.0.0.1.

mod common;

use std::time::{Duration, Instant};

use ami_smol::{Action, ActionError, AuthMethod, Client, ClientError, CloseReason, ConnState};
use ami_testkit::{Faults, Flood};
use common::{config, never_answers_originate, never_originate, received, run, server};
use common::{server_with, wait_state};
use smol::Timer;

/// `ready()` waits for the login of a client started in the background,
/// answers at once while ready, and fails once the client has closed;
/// `wait_ready` gives up after its timeout.
#[test]
fn ready_waits_for_login_and_fails_once_closed() {
    let slow = server(Faults {
        accept_delay: Some(Duration::from_millis(200)),
        ..Faults::default()
    });
    let refused = server(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    run(10, async {
        let client = Client::builder(config(&slow, AuthMethod::Md5))
            .start()
            .unwrap();
        assert!(!client.is_ready());
        let started = Instant::now();
        client.ready().await.unwrap();
        assert!(client.is_ready());
        assert!(started.elapsed() >= Duration::from_millis(150));
        client.ready().await.unwrap();
        assert_eq!(client.close().await, CloseReason::LoggedOff);
        assert_eq!(client.ready().await, Err(ClientError::Closed));

        let down = Client::builder(config(&refused, AuthMethod::Md5))
            .start()
            .unwrap();
        let started = Instant::now();
        let waited = down.wait_ready(Duration::from_millis(300)).await;
        assert_eq!(waited, Err(ClientError::Disconnected));
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(300) && took < Duration::from_secs(2));
        down.close().await;
    });
}

/// `close()` says how the client ended: `LoggedOff` after a Logoff, the
/// lost session's reason when there was nothing to log off, the same again
/// on a second call.
#[test]
fn close_says_how_the_client_ended() {
    let server = server(Faults {
        truncate_after_frames: Some(3),
        ..Faults::default()
    });
    run(10, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.reconnect = false;
        let client = Client::connect(cfg).await.unwrap();
        // The Pong is cut: the session is lost, and not replaced.
        assert!(client.send(Action::ping()).await.is_err());
        assert_eq!(client.close().await, CloseReason::Lost);
        assert_eq!(client.close().await, CloseReason::Lost);
    });
    let healthy = common::server(Faults::default());
    run(10, async {
        let client = Client::connect(config(&healthy, AuthMethod::Plain))
            .await
            .unwrap();
        assert_eq!(client.close().await, CloseReason::LoggedOff);
        assert_eq!(client.close().await, CloseReason::LoggedOff);
    });
}

/// While the supervisor waits to try again, the stats say until when; not
/// once a session is up, nor after the close.
#[test]
fn stats_say_when_the_next_attempt_is() {
    use ami_proto::{Backoff, CircuitBreaker, ReconnectPolicy};
    let server = server(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    run(10, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        let backoff = Backoff::new(Duration::from_millis(200), Duration::from_millis(400), 7);
        let breaker = CircuitBreaker::new(100, Duration::from_secs(1), 1);
        cfg.reconnect_policy = Some(ReconnectPolicy::new(backoff, breaker));
        let client = Client::builder(cfg).start().unwrap();
        let started = Instant::now();
        let next = loop {
            if let Some(next) = client.stats().next_attempt {
                break next;
            }
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "no next attempt"
            );
            Timer::after(Duration::from_millis(5)).await;
        };
        assert!(client.stats().failed_attempts >= 1);
        assert!(
            next <= Instant::now() + Duration::from_millis(400),
            "{next:?}"
        );
        server.set_faults(Faults::default());
        client.wait_ready(Duration::from_secs(3)).await.unwrap();
        assert_eq!(client.stats().next_attempt, None, "a session is up");
        client.close().await;
        assert_eq!(client.stats().next_attempt, None, "closed");
    });
}

/// A cancelled send completes with `Cancelled` at once, whether it was
/// answered-to-be (sent), never sent (cancelled before it was queued), or
/// parked for the next session; the session goes on.
#[test]
fn a_cancelled_send_completes_at_once_with_cancelled() {
    let server = server_with(never_answers_originate(), Faults::default());
    let cancelled = ClientError::Action(ActionError::Cancelled);
    run(10, async {
        let client = Client::connect(config(&server, AuthMethod::Plain))
            .await
            .unwrap();
        // Sent: the server has it and never answers.
        let (cancel, outcome) = client.send_cancellable(never_originate());
        let outcome = smol::spawn(outcome);
        received(&server, "Originate").await;
        let id = cancel.action_id().expect("sent: its ActionID is known");
        let started = Instant::now();
        cancel.cancel();
        cancel.cancel();
        assert_eq!(outcome.await.unwrap_err(), cancelled);
        assert!(started.elapsed() < Duration::from_secs(1));
        assert!(!id.as_bytes().is_empty());

        // Cancelled before it was queued: never sent.
        let (cancel, outcome) = client.send_cancellable(Action::new("UserEvent"));
        cancel.cancel();
        assert_eq!(outcome.await.unwrap_err(), cancelled);
        assert_eq!(cancel.action_id(), None);
        client
            .send(Action::ping())
            .await
            .expect("the session goes on");
        let user_events = server
            .received_actions()
            .iter()
            .filter(|a| a.eq_ignore_ascii_case("UserEvent"))
            .count();
        assert_eq!(user_events, 0, "a cancel before sending sends nothing");
        assert_eq!(client.stats().session.actions_failed, 1);
        client.close().await;
    });

    // Parked while disconnected (resend_on_reconnect): failed at once.
    let refused = common::server(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    run(10, async {
        let mut cfg = config(&refused, AuthMethod::Plain);
        cfg.resend_on_reconnect = true;
        let client = Client::builder(cfg).start().unwrap();
        wait_state(&client, Duration::from_secs(2), |s| {
            matches!(s, ConnState::Closed(_))
        })
        .await;
        let (cancel, outcome) =
            client.send_cancellable(Action::ping().with_timeout(Duration::from_secs(30)));
        let outcome = smol::spawn(outcome);
        Timer::after(Duration::from_millis(50)).await;
        let started = Instant::now();
        cancel.cancel();
        assert_eq!(outcome.await.unwrap_err(), cancelled);
        assert!(started.elapsed() < Duration::from_secs(1));
        client.close().await;
    });
}

/// `next_timeout` returns what is queued at once, `Ok(None)` after its
/// timeout when nothing comes, and `Closed` once the stream has ended;
/// `wait_for` skips to the first event that matches.
#[test]
fn event_streams_wait_with_a_deadline() {
    let server = server(Faults {
        flood: Some(Flood {
            events: 200,
            rate_per_sec: None,
            then_done: true,
        }),
        ..Faults::default()
    });
    run(10, async {
        let (client, mut events) = Client::connect_with_events(config(&server, AuthMethod::Plain))
            .await
            .unwrap();
        let first = events.next_timeout(Duration::from_secs(5)).await.unwrap();
        assert!(first.is_some());
        let done = events.wait_for(|e| e.is("BenchDone"), Duration::from_secs(5));
        assert!(done.await.unwrap().is_some_and(|e| e.is("BenchDone")));
        // Nothing more comes.
        let started = Instant::now();
        let none = events.next_timeout(Duration::from_millis(100)).await;
        assert_eq!(none.map(|e| e.is_some()), Ok(false));
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(100) && took < Duration::from_secs(2),
            "{took:?}"
        );
        let nothing = events.wait_for(|_| true, Duration::ZERO).await;
        assert_eq!(nothing.map(|e| e.is_some()), Ok(false));
        client.close().await;
        let ended = events.next_timeout(Duration::from_secs(5)).await;
        assert_eq!(ended.map(|e| e.is_some()), Err(ClientError::Closed));
    });
}

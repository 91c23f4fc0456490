//! The reconnecting supervisor over real TCP, what is the smol client's own
//! (the conformance suite, `tests/conformance.rs`, covers lost sessions,
//! refused credentials and half-open links for every adapter): re-sending,
//! close during a backoff, `Degraded` states, a server that stops reading,
//! storms, dropped handles and tasks.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ami_proto::{Action, ActionError, AuthMethod, CloseReason, ConnState, LoginError};
use ami_proto::{BreakerState, SendError};
use ami_smol::{Client, ClientError};
use ami_testkit::Faults;
use common::{assert_ended_loudly, config, never_answers_originate, never_originate, received};
use common::{run, server, server_with, wait_state};
use futures_lite::StreamExt;
use smol::Timer;

#[test]
fn resend_on_reconnect_waits_for_the_next_session() {
    let server = server(Faults {
        drop_after: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    run(20, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.resend_on_reconnect = true;
        let client = Client::connect(cfg).await.unwrap();
        server.set_faults(Faults {
            refuse_connections: true,
            ..Faults::default()
        });
        wait_state(&client, Duration::from_secs(2), |s| {
            matches!(s, ConnState::Closed(_))
        })
        .await;
        // Disconnected and refused: the ping waits (up to its timeout)...
        let c = client.clone();
        let ping = smol::spawn(async move {
            c.send(Action::ping().with_timeout(Duration::from_secs(5)))
                .await
        });
        Timer::after(Duration::from_millis(200)).await;
        server.set_faults(Faults::default());
        // ...and completes on the next session.
        ping.await.unwrap();
        assert!(client.stats().reconnects >= 1);
        client.close().await;
    });
}

/// Refused credentials leave the supervisor waiting 30 s or more (the
/// conformance suite checks that it does not retry): a close meanwhile
/// does not wait for that backoff.
#[test]
fn close_does_not_wait_for_the_backoff_after_refused_credentials() {
    let server = server(Faults::default());
    run(10, async {
        let mut cfg = config(&server, AuthMethod::Md5);
        cfg.proto.secret = "wrong".into();
        // Started in the background: every failure goes through the policy.
        let client = Client::builder(cfg).start().unwrap();
        let failed = |s: &ConnState| {
            matches!(
                s,
                ConnState::Closed(CloseReason::LoginFailed(LoginError::AuthenticationFailed(
                    _
                )))
            )
        };
        wait_state(&client, Duration::from_secs(3), failed).await;
        // Counted before the state was published.
        assert_eq!(client.stats().failed_attempts, 1);
        assert!(matches!(
            client.send(Action::ping()).await,
            Err(ClientError::Disconnected)
        ));
        let started = Instant::now();
        client.close().await;
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "close does not wait for the backoff"
        );
    });
}

/// A missed pong shows as `Degraded` before the link is declared dead
/// (PHP pitfall 7: degraded is visible); the conformance suite covers the
/// detection's bound and the recovery.
#[test]
fn a_silent_link_is_degraded_before_it_is_declared_dead() {
    let server = server(Faults {
        silence_after_login: true,
        ..Faults::default()
    });
    run(10, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.proto.heartbeat_interval = Some(Duration::from_millis(100));
        cfg.proto.action_timeout = Duration::from_millis(200);
        let client = Client::connect(cfg).await.unwrap();
        let mut changes = client.state_changes();
        let mut seen = Vec::new();
        while let Some(state) = changes.next().await {
            let closed = matches!(state, ConnState::Closed(_));
            seen.push(state);
            if closed {
                break;
            }
        }
        assert!(
            matches!(
                seen.as_slice(),
                [
                    ..,
                    ConnState::Degraded { misses: 1 },
                    ConnState::Closed(CloseReason::HeartbeatTimeout)
                ]
            ),
            "{seen:?}"
        );
        client.close().await;
    });
}

#[test]
fn server_that_stops_reading_gives_back_pressure_not_a_hang() {
    let server = server(Faults {
        stop_reading_after_login: true,
        ..Faults::default()
    });
    run(30, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.proto.max_write_buffer = 128 << 10;
        let client = Client::connect(cfg).await.unwrap();
        let big = || {
            (0..100)
                .fold(
                    Action::new("UserEvent").header("UserEvent", "Big"),
                    |a, i| a.header(format!("H{i}"), "x".repeat(1000)),
                )
                .with_timeout(Duration::from_secs(20))
        };
        let started = Instant::now();
        let mut tasks = Vec::new();
        let mut refused = None;
        // ~100 KB per action; the kernel buffers take a few MB at most.
        for i in 0..500 {
            let c = client.clone();
            let task = smol::spawn(async move { c.send(big()).await });
            // Give the driver a moment to try the write.
            match futures_lite::future::or(async { Some(task.await) }, async {
                Timer::after(Duration::from_millis(2)).await;
                None
            })
            .await
            {
                Some(Err(ClientError::Send(SendError::WriteBufferFull { buffered, max }))) => {
                    assert_eq!(max, 128 << 10);
                    assert!(buffered <= max);
                    // The kernel may still take what the core holds (its
                    // buffers grow on loopback): only once they are full too
                    // does the core keep bytes. Until then, send more.
                    let still = queued_after_a_turn(&client).await;
                    if still > 0 {
                        refused = Some((i, still));
                        break;
                    }
                }
                Some(other) => panic!("{other:?}"),
                None => tasks.push(i),
            }
        }
        let (i, buffered) = refused.expect("the write buffer filled up and stayed full");
        eprintln!(
            "write buffer full after {i} actions of ~100 KB in {:?}, {buffered} bytes queued",
            started.elapsed()
        );
        // Nothing stalls: state and stats answer, and close ends within its deadline.
        assert!(client.is_ready());
        let closing = Instant::now();
        client.close_within(Duration::from_millis(300)).await;
        assert!(
            closing.elapsed() < Duration::from_secs(1),
            "{:?}",
            closing.elapsed()
        );
        assert!(matches!(client.state(), ConnState::Closed(_)));
    });
}

/// The bytes the core holds for the socket, as the stats say once the
/// driver has had a turn after the last refusal (bounded wait, under a
/// loaded machine): 0 when the kernel took them all.
async fn queued_after_a_turn(client: &Client) -> u64 {
    for _ in 0..20 {
        let buffered = client.stats().session.write_buffered;
        if buffered > 0 {
            return buffered;
        }
        Timer::after(Duration::from_millis(5)).await;
    }
    0
}

#[test]
fn dropping_every_handle_logs_off_and_ends_streams() {
    let server = server(Faults::default());
    run(10, async {
        let (client, mut events) = Client::connect_with_events(config(&server, AuthMethod::Plain))
            .await
            .unwrap();
        drop(client);
        // The stream drains what it has, then ends once the client is gone.
        while events.next().await.is_some() {}
        let started = Instant::now();
        while server.live_connections() > 0 && started.elapsed() < Duration::from_secs(3) {
            Timer::after(Duration::from_millis(10)).await;
        }
        assert!(server
            .received_actions()
            .iter()
            .any(|a| a.eq_ignore_ascii_case("logoff")));
    });
}

#[test]
fn reconnect_storm_is_paced_by_backoff_and_breaker() {
    use ami_proto::{Backoff, CircuitBreaker, ReconnectPolicy};
    let server = server(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    run(10, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        // Fast backoff (10..50 ms), breaker open after 3 failures for 300 ms.
        let backoff = Backoff::new(Duration::from_millis(10), Duration::from_millis(50), 7);
        let breaker = CircuitBreaker::new(3, Duration::from_millis(300), 1);
        cfg.reconnect_policy = Some(ReconnectPolicy::new(backoff, breaker));
        let client = Client::builder(cfg).start().unwrap();
        Timer::after(Duration::from_millis(1000)).await;
        let attempts = client.stats().failed_attempts;
        // 3 attempts within ~100 ms, then one probe per 300 ms cooldown:
        // 5 or 6 in a second. The backoff alone would allow 20 or more.
        assert!((4..=7).contains(&attempts), "{attempts} attempts in 1 s");
        assert!(
            matches!(client.stats().breaker, BreakerState::Open { .. }),
            "{:?}",
            client.stats().breaker
        );
        // The server comes back: the next probe logs in.
        server.set_faults(Faults::default());
        wait_state(&client, Duration::from_secs(2), |s| *s == ConnState::Ready).await;
        client.send(Action::ping()).await.unwrap();
        assert_eq!(client.stats().breaker, BreakerState::Closed);
        eprintln!("storm: {attempts} refused attempts in 1 s, then ready");
        client.close().await;
    });
}

/// A task dropped by the executor it was given ends the client the same
/// way. It used to fail nothing but the waiting sends, as `Closed`.
#[test]
fn a_dropped_task_closes_the_client_loudly() {
    let server = server_with(never_answers_originate(), Faults::default());
    let ex = Arc::new(smol::Executor::new());
    let task: Arc<Mutex<Option<smol::Task<()>>>> = Arc::default();
    run(
        10,
        ex.run(async {
            let (spawner, keep) = (ex.clone(), task.clone());
            let mut builder = Client::builder(config(&server, AuthMethod::Plain))
                .spawn_with(move |t| *keep.lock().unwrap() = Some(spawner.spawn(t)));
            let mut events = builder.events();
            let client = builder.connect().await.unwrap();
            let mut changes = client.state_changes();
            let c = client.clone();
            let sent = ex.spawn(async move { c.send(never_originate()).await });
            received(&server, "Originate").await;

            drop(task.lock().unwrap().take());
            let lost = ClientError::Action(ActionError::ConnectionLost);
            assert_eq!(sent.await.unwrap_err(), lost);
            assert_ended_loudly(&client, &mut changes, &mut events, "dropped").await;
        }),
    );
}

/// `Duration::MAX` means "never" wherever the adapter adds a duration to
/// now: the connect timeout, a parked action's deadline (sent before
/// login, with `resend_on_reconnect`), `close_within`, a cluster's
/// `wait_ready` and `shutdown`. Each used to panic on overflow, the parked
/// one inside the client's task.
#[test]
fn durations_of_any_size_never_panic() {
    let server = server(Faults {
        accept_delay: Some(Duration::from_millis(200)),
        ..Faults::default()
    });
    run(10, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.connect_timeout = Duration::MAX;
        cfg.resend_on_reconnect = true;
        let client = Client::builder(cfg).start().unwrap();
        // Before login: parked until the session is ready.
        let pong = client.send(Action::ping().with_timeout(Duration::MAX));
        assert!(pong.await.is_ok());
        client.close_within(Duration::MAX).await;
        assert_eq!(client.state(), ConnState::Closed(CloseReason::LoggedOff));

        let node = config(&server, AuthMethod::Plain);
        let cluster = ami_smol::Cluster::new(vec![("pbx".into(), node)]).unwrap();
        assert!(cluster.wait_ready(Duration::MAX).await.is_empty());
        cluster.shutdown(Duration::MAX).await;
    });
}

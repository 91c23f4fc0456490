//! The client against the fake Asterisk over real TCP on 127.0.0.1, what is
//! the smol client's own: its executor, concurrency, streams, filters and
//! back-pressure. What every adapter does is in the conformance suite
//! (`tests/conformance.rs`).

mod common;

use std::collections::HashSet;
use std::time::{Duration, Instant};

use ami_proto::{Action, ActionError, AuthMethod, CloseReason, ConnState, Originate, QueuePolicy};
use ami_smol::{Client, ClientError, ConnectError};
use ami_testkit::{Faults, Flood};
use common::{config, never_answers_originate, run, server, server_with};
use futures_lite::StreamExt;
use smol::Timer;

/// After `close`, the state says how the session ended and a send is
/// refused at once (the conformance suite's `logoff` checks the server's
/// side).
#[test]
fn a_closed_client_says_so_and_refuses_sends() {
    let server = server(Faults::default());
    run(10, async {
        let client = Client::connect(config(&server, AuthMethod::Md5))
            .await
            .unwrap();
        assert_eq!(client.state(), ConnState::Ready);
        client.close().await;
        assert_eq!(client.state(), ConnState::Closed(CloseReason::LoggedOff));
        assert_eq!(
            client.send(Action::ping()).await.unwrap_err(),
            ClientError::Closed
        );
    });
}

#[test]
fn spawn_with_runs_the_client_on_the_callers_executor_thread() {
    let server = server(Faults {
        flood: Some(Flood {
            events: 50,
            rate_per_sec: None,
            then_done: false,
        }),
        ..Faults::default()
    });
    let ex = std::sync::Arc::new(smol::Executor::new());
    let ran_on = std::sync::Arc::new(std::sync::Mutex::new(None));
    let test_thread = std::thread::current().id();
    run(
        10,
        ex.run(async {
            let (spawner, seen) = (ex.clone(), ran_on.clone());
            let mut builder =
                Client::builder(config(&server, AuthMethod::Md5)).spawn_with(move |task| {
                    spawner
                        .spawn(async move {
                            *seen.lock().unwrap() = Some(std::thread::current().id());
                            task.await;
                        })
                        .detach();
                });
            let mut events = builder.events();
            let client = builder.connect().await.unwrap();
            client.send(Action::ping()).await.unwrap();
            let mut got = 0;
            while got < 50 {
                let event = events.next().await.expect("stream open");
                got += usize::from(!event.is("FullyBooted") && !event.is("SuccessfulAuth"));
            }
            client.close().await;
            assert_eq!(client.state(), ConnState::Closed(CloseReason::LoggedOff));
        }),
    );
    // Only this thread ran `ex`: the client's task ran here, not on smol's
    // global executor.
    assert_eq!(*ran_on.lock().unwrap(), Some(test_thread));
    let actions = server.received_actions();
    assert!(
        actions.iter().any(|a| a.eq_ignore_ascii_case("logoff")),
        "{actions:?}"
    );
}

/// An invalid configuration fails before any I/O (the conformance suite
/// covers refused connections and credentials).
#[test]
fn an_invalid_config_is_refused_before_connecting() {
    run(10, async {
        let mut invalid =
            ami_smol::ClientConfig::new("127.0.0.1:1", ami_proto::Config::new("p", "u", "s"));
        invalid.proto.max_frame = 10;
        assert!(matches!(
            Client::connect(invalid).await,
            Err(ConnectError::Config(_))
        ));
    });
}

/// A reconnect policy that would retry in a hot loop (a zero backoff) is
/// refused as the multiplexer refuses it, by the client and by a cluster.
#[test]
fn a_hot_loop_reconnect_policy_is_refused_before_connecting() {
    use ami_proto::{Backoff, CircuitBreaker, ReconnectPolicy};
    run(10, async {
        let mut config =
            ami_smol::ClientConfig::new("127.0.0.1:1", ami_proto::Config::new("p", "u", "s"));
        config.reconnect_policy = Some(ReconnectPolicy::new(
            Backoff::new(Duration::ZERO, Duration::ZERO, 1),
            CircuitBreaker::new(5, Duration::from_secs(1), 1),
        ));
        assert!(matches!(
            Client::connect(config.clone()).await,
            Err(ConnectError::Config(_))
        ));
        assert!(matches!(
            ami_smol::Cluster::new(vec![("a".to_string(), config)]),
            Err(ami_smol::ClusterError::Config { .. })
        ));
    });
}

#[test]
fn thousand_concurrent_actions_each_complete_exactly_once() {
    let server = server(Faults::default());
    run(30, async {
        let client = Client::connect(config(&server, AuthMethod::Plain))
            .await
            .unwrap();
        let started = Instant::now();
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let c = client.clone();
                smol::spawn(async move { c.send(Action::ping()).await })
            })
            .collect();
        let mut ids = HashSet::new();
        for task in tasks {
            let done = task.await.unwrap();
            let id = done.response().action_id().unwrap().to_vec();
            assert!(ids.insert(id), "a completion arrived twice");
        }
        let elapsed = started.elapsed();
        assert_eq!(ids.len(), 1000);
        // Stats are published once per driver turn; the last turn has run.
        Timer::after(Duration::from_millis(20)).await;
        let stats = client.stats().session;
        assert_eq!(
            (stats.actions_ok, stats.actions_failed, stats.pending),
            (1000, 0, 0)
        );
        eprintln!("1000 concurrent pings from 1000 tasks: {elapsed:?}");
        client.close().await;
    });
}

fn originate() -> Action {
    Action::originate(
        Originate::new("PJSIP/100")
            .extension("default", "200", 1)
            .async_(true),
    )
}

#[test]
fn flood_with_stalled_consumer_drops_counted_and_answers_pings() {
    let server = server(Faults::flood(20_000));
    run(30, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.proto.event_queue = 1000;
        cfg.proto.queue_policy = QueuePolicy::DropOldest;
        let mut builder = Client::builder(cfg);
        let mut events = builder.events();
        let client = builder.connect().await.unwrap();
        // A Ping during the flood, while nobody consumes events.
        let started = Instant::now();
        client.send(Action::ping()).await.unwrap();
        let ping = started.elapsed();
        // A stalled consumer: nothing is read until the whole flood
        // (FullyBooted, SuccessfulAuth, 20k events, BenchDone) is decoded.
        let stalled = Instant::now();
        while client.stats().session.events < 20_003 {
            assert!(
                stalled.elapsed() < Duration::from_secs(20),
                "{:?}",
                client.stats()
            );
            Timer::after(Duration::from_millis(5)).await;
        }
        let mut consumed = 0u64;
        while let Some(event) = events.try_next() {
            consumed += 1;
            if event.is("BenchDone") {
                break;
            }
        }
        assert_eq!(
            consumed, 1000,
            "the queue keeps the newest 1000, BenchDone last"
        );
        Timer::after(Duration::from_millis(20)).await;
        let stats = client.stats();
        let dropped = events.dropped();
        eprintln!(
            "flood 20k, queue 1000: ping {ping:?} during flood, consumed {consumed}, \
             dropped {dropped}, stream high water {}, core queue high water {}",
            events.high_water(),
            stats.session.queue_high_water
        );
        // Every event decoded went to the queue; each is consumed or counted as dropped.
        assert!(stats.session.events >= 20_001, "{stats:?}");
        assert_eq!(stats.events_delivered, stats.session.events_queued);
        assert_eq!(
            consumed + dropped + events.len() as u64,
            stats.events_delivered
        );
        assert_eq!(stats.events_dropped, dropped);
        assert_eq!(dropped, 20_003 - 1000);
        assert!(events.high_water() <= 1000);
        assert!(stats.session.queue_high_water <= 1000);
        assert!(ping < Duration::from_secs(2), "{ping:?}");
        client.close().await;
    });
}

/// Three rounds: a lost wake-up between the driver and a consumer that
/// empties its queue showed up about once in six runs before it was fixed.
#[test]
fn backpressure_flood_loses_nothing_and_stays_bounded() {
    let server = server(Faults::flood(20_000));
    for _ in 0..3 {
        run(30, backpressure_round(&server));
    }
}

async fn backpressure_round(server: &ami_testkit::TcpServer) {
    let mut cfg = config(server, AuthMethod::Plain);
    cfg.proto.event_queue = 100;
    cfg.proto.queue_policy = QueuePolicy::Backpressure;
    // Subscribed before login: the flood starts right after the login response.
    let (client, mut events) = Client::connect_with_events(cfg).await.unwrap();
    let mut names = HashSet::new();
    let mut flood = 0u64;
    let mut batch = Vec::new();
    loop {
        batch.clear();
        assert!(events.next_batch(&mut batch, 64).await > 0);
        for e in &batch {
            names.insert(e.name_str().into_owned());
            let session = ["FullyBooted", "SuccessfulAuth", "BenchDone"];
            flood += u64::from(!session.iter().any(|n| e.is(n)));
        }
        if batch.iter().any(|e| e.is("BenchDone")) {
            break;
        }
        if flood % 2048 < 64 {
            Timer::after(Duration::from_millis(2)).await;
        }
    }
    assert_eq!(flood, 20_000, "back-pressure loses nothing");
    assert_eq!(events.dropped(), 0);
    assert!(events.high_water() <= 100);
    let stats = client.stats();
    assert_eq!(stats.session.events_dropped_full, 0);
    assert!(stats.session.queue_high_water <= 100, "{stats:?}");
    assert!(
        names.contains("Hangup") && names.contains("Newchannel"),
        "{names:?}"
    );
    // Subscribed before login, the stream also has the post-login events.
    assert!(names.contains("FullyBooted") && names.contains("SuccessfulAuth"));
    client.close().await;
}

/// While its reads fill their budget, the task wakes a waiting consumer
/// only once a batch's worth of events waits, and for the rest when the
/// flood stops. With a tiny budget nearly every read is full: every event
/// must still reach the consumer, BenchDone last.
#[test]
fn events_deferred_during_a_flood_reach_a_waiting_consumer_when_it_stops() {
    let server = server(Faults::flood(3_000));
    run(20, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.read_budget = 256;
        let mut builder = Client::builder(cfg);
        let mut events = builder.events();
        let client = builder.connect().await.unwrap();
        let (mut flood, mut batch) = (0, Vec::new());
        loop {
            batch.clear();
            assert!(events.next_batch(&mut batch, 64).await > 0);
            flood += batch
                .iter()
                .filter(|e| e.is("Newchannel") || e.is("Hangup"))
                .count();
            if batch.iter().any(|e| e.is("BenchDone")) {
                break;
            }
        }
        assert!(flood > 0 && events.dropped() == 0, "{flood}");
        client.close().await;
    });
}

#[test]
fn filtered_stream_sees_only_its_names() {
    let server = server(Faults::flood(2_000));
    run(20, async {
        let mut builder = Client::builder(config(&server, AuthMethod::Plain));
        let mut hangups = builder.events().filter_names(&["Hangup", "BenchDone"]);
        let mut all = builder.events();
        let client = builder.connect().await.unwrap();
        let mut n = 0;
        loop {
            let e = hangups.next().await.unwrap();
            if e.is("BenchDone") {
                break;
            }
            assert!(e.is("Hangup"));
            n += 1;
        }
        let mut total = 0;
        while let Some(e) = all.next().await {
            total += 1;
            if e.is("BenchDone") {
                break;
            }
        }
        assert!(n > 0 && n < total, "{n} hangups of {total}");
        assert_eq!(hangups.dropped(), 0);
        client.close().await;
        // Streams end once the client has closed.
        assert!(hangups.next().await.is_none());
    });
}

/// Back-pressure may slow the reading of events, never an answer: with one
/// subscriber that never reads and a flood behind it, a Ping completes, an
/// unanswered action times out on time, and an event handler that awaits a
/// send for the event it holds gets its answer (it used to deadlock).
#[test]
fn backpressure_never_holds_back_answers_or_timeouts() {
    let never = never_answers_originate();
    let server = server_with(never, Faults::flood(50_000));
    run(20, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.proto.event_queue = 16;
        cfg.proto.queue_policy = QueuePolicy::Backpressure;
        let mut builder = Client::builder(cfg);
        let stalled = builder.events();
        let mut handler = builder.events();
        let client = builder.connect().await.unwrap();
        while stalled.len() < 16 {
            Timer::after(Duration::from_millis(1)).await;
        }

        let started = Instant::now();
        client.send(Action::ping()).await.unwrap();
        let ping = started.elapsed();

        let timeout = Duration::from_millis(300);
        let started = Instant::now();
        let err = client
            .send(originate().with_timeout(timeout))
            .await
            .unwrap_err();
        let timed_out = started.elapsed();
        assert_eq!(err, ClientError::Action(ActionError::Timeout(timeout)));

        // A handler holding an event awaits a send before reading on.
        let event = handler.next().await.expect("stream open");
        let started = Instant::now();
        client.send(Action::ping()).await.unwrap();
        let handled = started.elapsed();
        drop(event);

        assert!(ping < Duration::from_secs(2), "{ping:?}");
        assert!(
            timed_out >= timeout && timed_out < timeout + Duration::from_secs(2),
            "{timed_out:?}"
        );
        assert!(handled < Duration::from_secs(2), "{handled:?}");
        // What the full queue could not take while answers were awaited was
        // dropped and counted; the queue never grew past its bound.
        assert!(stalled.dropped() > 0);
        assert_eq!(stalled.len(), 16);
        assert!(stalled.high_water() <= 16 && handler.high_water() <= 16);
        assert_eq!(
            client.stats().events_dropped,
            stalled.dropped() + handler.dropped()
        );
        client.close().await;
    });
}

/// Under back-pressure, dropping the full stream that holds the client
/// back lets the others go on at once. They used to wait for the driver's
/// next timer (the heartbeat, 15 s by default).
#[test]
fn dropping_a_full_backpressure_stream_releases_the_others() {
    let server = server(Faults::flood(2_000));
    run(20, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.proto.event_queue = 16;
        cfg.proto.queue_policy = QueuePolicy::Backpressure;
        let mut builder = Client::builder(cfg);
        let stalled = builder.events();
        let mut reader = builder.events();
        let client = builder.connect().await.unwrap();
        while stalled.len() < 16 {
            Timer::after(Duration::from_millis(1)).await;
        }
        // `reader` gets what `stalled` had room for, then nothing.
        let mut got = 0;
        while reader.try_next().is_some() {
            got += 1;
        }
        assert!(got <= 16, "{got}");
        // Time for the driver to see that `stalled` is still full.
        Timer::after(Duration::from_millis(50)).await;
        assert!(reader.is_empty() && stalled.len() == 16);
        let released = Instant::now();
        drop(stalled);
        loop {
            let event = reader.next().await.expect("stream open");
            if event.is("BenchDone") {
                break;
            }
        }
        let took = released.elapsed();
        assert!(took < Duration::from_secs(5), "{took:?}");
        assert_eq!(reader.dropped(), 0, "no answer awaited: nothing lost");
        client.close().await;
    });
}

/// The ActionID of the first Ping a client sends to `server` with `seed`
/// (`None`: the default, drawn by `Config::new`).
fn first_ping_id(server: &ami_testkit::TcpServer, seed: Option<u64>) -> Vec<u8> {
    run(10, async {
        let mut config = config(server, AuthMethod::Plain);
        if let Some(seed) = seed {
            config.proto.seed = seed;
        }
        let client = Client::connect(config).await.unwrap();
        let done = client.send(Action::ping()).await.unwrap();
        client.close().await;
        done.response().action_id().unwrap().to_vec()
    })
}

/// Clients with the default configuration draw their own ActionID
/// instances, so two processes sharing a server never complete each
/// other's actions; an explicit seed, 0 included, is kept as given, so a
/// test reproduces its ids (the blocking adapter behaves the same).
#[test]
fn default_seeds_differ_and_explicit_seeds_reproduce_action_ids() {
    let server = server(Faults::default());
    assert_ne!(first_ping_id(&server, None), first_ping_id(&server, None));
    for seed in [0, 7] {
        assert_eq!(
            first_ping_id(&server, Some(seed)),
            first_ping_id(&server, Some(seed)),
            "seed {seed}"
        );
    }
    assert_ne!(
        first_ping_id(&server, Some(0)),
        first_ping_id(&server, Some(7))
    );
}

//! A caller alone on an idle session sends its own action and reads its
//! own answer, on its own task: over real TCP (and TLS) on 127.0.0.1,
//! with the client's task frozen to prove it, the events met on the way,
//! back-pressure, the hand-back to the client's task, a caller that drops
//! or stops polling its send, and many callers at once.

mod common;

use std::sync::Arc;
use std::time::Duration;

use ami_proto::{Action, AuthMethod, QueuePolicy};
use ami_smol::{Client, ClientConfig, EventStream};
use ami_testkit::Faults;
use common::{config, never_answers_originate, never_originate, received, run, server};
use futures_lite::{future, StreamExt};

/// A client whose task runs on an executor of its own, driven only while
/// it logs in: afterwards the task is frozen until the test drives `ex`
/// again. With it, an action completes only if its caller does the I/O.
struct Frozen {
    client: Client,
    events: EventStream,
    ex: Arc<smol::Executor<'static>>,
}

fn frozen(config: ClientConfig) -> Frozen {
    let ex = Arc::new(smol::Executor::new());
    let spawner = ex.clone();
    let mut builder = Client::builder(config).spawn_with(move |task| spawner.spawn(task).detach());
    let events = builder.events();
    let client = smol::block_on(ex.run(builder.connect())).expect("login");
    Frozen { client, events, ex }
}

/// `n` events named `name`, numbered by `Seq`, as a server sends them.
fn events_text(name: &str, n: usize) -> String {
    (0..n)
        .map(|i| format!("Event: {name}\r\nPrivilege: user,all\r\nSeq: {i}\r\n\r\n"))
        .collect()
}

/// Waits until `stream` has `name` (bounded by the test's runner).
async fn until(stream: &mut EventStream, name: &str) {
    while let Some(event) = stream.next().await {
        if event.is(name) {
            return;
        }
    }
    panic!("the stream ended before {name}");
}

/// With the client's task frozen after login, lone actions still
/// complete, one after another: each caller writes its action and reads
/// its answer itself. Before, every action waited for the task.
#[test]
fn a_lone_send_completes_with_the_clients_task_frozen() {
    let server = server(Faults::default());
    let f = frozen(config(&server, AuthMethod::Plain));
    run(10, async {
        for _ in 0..200 {
            f.client.send(Action::ping()).await.expect("pong");
        }
        let err = f.client.send(Action::new("NoSuchAction")).await;
        assert!(err.is_err(), "a server error is an answer too");
    });
    let stats = f.client.stats();
    assert!(stats.session.actions_sent >= 201, "{stats:?}");
}

/// Events that come before a lone caller's answer are read by that caller
/// and handed to the streams, in order, with the client's task frozen.
/// After its answer reading is the task's again: once it runs, it reads
/// what comes next.
#[test]
fn events_met_by_a_lone_caller_reach_the_streams_and_the_task_reads_after_it() {
    let server = server(Faults::default());
    let Frozen {
        client,
        mut events,
        ex,
    } = frozen(config(&server, AuthMethod::Plain));
    run(10, async {
        // Drain the login's own events, read by the task while it ran.
        while events.try_next().is_some() {}
        server.inject_all(events_text("Before", 3));
        // The server sends them within a loop turn of its own, before or
        // after a Ping's answer: ping until a caller has met them all.
        let mut got = Vec::new();
        for _ in 0..10_000 {
            client.send(Action::ping()).await.expect("pong");
            while let Some(event) = events.try_next() {
                got.push(event.get_str("Seq").map(|s| s.into_owned()));
            }
            if got.len() >= 3 {
                break;
            }
        }
        let want: Vec<_> = (0..3).map(|i| Some(i.to_string())).collect();
        assert_eq!(got, want, "read by the callers, in order");

        // The task runs again: it reads what comes after the caller's answer.
        server.inject_all(events_text("After", 1));
        ex.run(until(&mut events, "After")).await;
    });
}

/// With a live model, the events a lone caller meets feed the model too,
/// in order with the rest; the client's task applies them when it runs.
/// A caller that took an event off the socket without feeding the model
/// would leave the model without it for good.
#[test]
fn events_met_by_a_lone_caller_reach_the_live_model() {
    let server = common::server_with(
        ami_testkit::ServerConfig::asterisk_corpus(),
        Faults::default(),
    );
    let ex = Arc::new(smol::Executor::new());
    let spawner = ex.clone();
    let mut builder = Client::builder(config(&server, AuthMethod::Plain))
        .with_model(ami_smol::state::Limits::default())
        .spawn_with(move |task| spawner.spawn(task).detach());
    let mut events = builder.events();
    let client = smol::block_on(ex.run(builder.connect())).expect("login");
    let model = client.model().expect("built with a model").clone();
    run(10, async {
        assert!(ex.run(model.synced()).await, "listed");
        let mut changes = model.changes();
        while events.try_next().is_some() {}
        // The client's task is frozen from here: only callers read.
        server.publish(
            b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/a-00000001\r\n\
              ChannelState: 4\r\nUniqueid: 1795727786.7\r\nLinkedid: 1795727786.7\r\n\r\n",
        );
        let mut met = false;
        for _ in 0..10_000 {
            client.send(Action::ping()).await.expect("pong");
            if std::iter::from_fn(|| events.try_next()).any(|e| e.is("Newchannel")) {
                met = true;
                break;
            }
        }
        assert!(met, "a caller met the event");
        let added = ex.run(changes.next()).await.expect("a change");
        let uid: &str = "1795727786.7";
        assert_eq!(
            added,
            ami_smol::state::Change::Added(ami_smol::state::Key::Channel(uid.into()))
        );
    });
}

/// Back-pressure while a lone caller reads: the answer is not held back
/// by a full stream (the task is frozen, nobody reads the stream); the
/// stream keeps its bound, and what it could not take is counted, never
/// lost silently: everything is either received or counted as dropped.
#[test]
fn a_full_backpressure_stream_does_not_hold_back_a_lone_callers_answer() {
    let server = server(Faults::default());
    let mut cfg = config(&server, AuthMethod::Plain);
    cfg.proto.event_queue = 2;
    cfg.proto.queue_policy = QueuePolicy::Backpressure;
    let Frozen {
        client,
        mut events,
        ex,
    } = frozen(cfg);
    run(10, async {
        let mut seen = 0u64;
        // The login's events, if the task queued any.
        while let Some(event) = events.try_next() {
            assert!(event.is("FullyBooted") || event.is("SuccessfulAuth"));
        }
        server.inject_all(events_text("Held", 6));
        // Ping until callers have met the events and filled the stream
        // (the server sends them within a loop turn of its own).
        for _ in 0..10_000 {
            client.send(Action::ping()).await.expect("answered");
            if events.len() == 2 && events.dropped() > 0 {
                break;
            }
        }
        assert_eq!(events.len(), 2, "the bound holds");
        assert!(events.dropped() > 0, "dropped while an answer was awaited");
        // Full, and nobody reads it: an answer still comes.
        client.send(Action::ping()).await.expect("answered");
        // Read the rest with the task running; then count.
        server.inject_all(events_text("End", 1));
        ex.run(async {
            while let Some(event) = events.next().await {
                if event.is("End") {
                    break;
                }
                seen += u64::from(event.is("Held"));
            }
        })
        .await;
        assert_eq!(
            seen + events.dropped(),
            6,
            "received or counted: none lost silently"
        );
        assert_eq!(client.stats().events_dropped, events.dropped());
    });
}

/// A caller whose send is dropped while it reads for its answer hands
/// reading back: events keep coming and other sends complete; the dropped
/// action's late answer is absorbed.
#[test]
fn a_send_dropped_while_it_reads_hands_reading_back() {
    let server = common::server_with(never_answers_originate(), Faults::default());
    run(10, async {
        let (client, mut events) = Client::connect_with_events(config(&server, AuthMethod::Plain))
            .await
            .expect("login");
        let mut send = Box::pin(client.send(never_originate()));
        assert!(
            future::poll_once(&mut send).await.is_none(),
            "sent, reading"
        );
        received(&server, "Originate").await;
        drop(send);
        server.inject_all(events_text("Later", 1));
        until(&mut events, "Later").await;
        client.send(Action::ping()).await.expect("pong");
    });
}

/// A task that polls its send once and then waits for something else
/// (here: an event), keeping the send alive but not polling it, must not
/// stall the client: the events it waits for come (the client's task takes
/// reading back after a short hold), and another task's action completes.
/// With reading left to such a caller, both waited forever.
#[test]
fn a_send_held_but_not_polled_holds_up_nothing() {
    let server = common::server_with(never_answers_originate(), Faults::default());
    run(10, async {
        let (client, mut events) = Client::connect_with_events(config(&server, AuthMethod::Plain))
            .await
            .expect("login");
        let c = client.clone();
        let (answered, answer) = smol::channel::bounded(1);
        let holder = smol::spawn(async move {
            let mut send = Box::pin(c.send(never_originate()));
            assert!(future::poll_once(&mut send).await.is_none());
            until(&mut events, "Awaited").await;
            // Still holding the send: another task's action completes.
            answer.recv().await.expect("answered");
            drop(send);
        });
        received(&server, "Originate").await;
        server.inject_all(events_text("Awaited", 1));
        client
            .send(Action::ping())
            .await
            .expect("another caller's answer");
        answered.send(()).await.expect("the holder waits");
        holder.await;
    });
}

/// Many tasks sending at once, one action at a time each, while events
/// flow: every action completes exactly once, with its own answer, and
/// every event arrives once, in one stream, whoever read it.
#[test]
fn many_callers_and_an_event_stream_at_once() {
    let mut faults = Faults::flood(3_000);
    if let Some(flood) = &mut faults.flood {
        flood.rate_per_sec = Some(30_000);
    }
    let server = server(faults);
    let mut cfg = config(&server, AuthMethod::Plain);
    // Room for the whole flood: with answers awaited all the time, a full
    // queue would drop (as documented), and this counts every event.
    cfg.proto.queue_policy = QueuePolicy::Backpressure;
    cfg.proto.event_queue = 4_000;
    run(30, async {
        let (client, mut events) = Client::connect_with_events(cfg).await.expect("login");
        let consumer = smol::spawn(async move {
            let mut flood = 0u64;
            while let Some(event) = events.next().await {
                if event.is("BenchDone") {
                    return (flood, events.dropped());
                }
                let login = event.is("FullyBooted") || event.is("SuccessfulAuth");
                flood += u64::from(!login);
            }
            panic!("the stream ended");
        });
        let callers: Vec<_> = (0..8)
            .map(|t| {
                let client = client.clone();
                smol::spawn(async move {
                    for i in 0..150 {
                        let tag = format!("{t}-{i}");
                        let action = Action::new("Ping").header("Tag", &tag);
                        let pong = client.send(action).await.expect("pong");
                        assert_eq!(pong.response().get_str("Ping").as_deref(), Some("Pong"));
                    }
                })
            })
            .collect();
        for caller in callers {
            caller.await;
        }
        assert_eq!(consumer.await, (3_000, 0), "every event once, none dropped");
        assert_eq!(client.stats().session.pending, 0);
    });
}

/// After each lone caller's round trip reading is the client's task's
/// again, its readiness wait armed: an event the server sends next, with
/// no caller reading, reaches the stream. Repeated, so that some round
/// trips find their answer at the first read and some wait for readiness
/// (spending the socket's one-shot interest, which the hand-back re-arms).
/// Over real sockets end to end; a hand-back that left the wait unarmed
/// would still be caught up by the driver's timer within the hold, so the
/// wake-up itself is checked over a fake socket in `ami-async`
/// (`a_lone_caller_writes_and_reads_its_own_answer`).
#[test]
fn an_event_right_after_a_lone_callers_round_trip_wakes_the_clients_task() {
    let server = server(Faults::default());
    run(20, async {
        let (client, mut events) = Client::connect_with_events(config(&server, AuthMethod::Plain))
            .await
            .expect("login");
        for i in 0..100 {
            client.send(Action::ping()).await.expect("pong");
            server.inject_all(events_text(&format!("After{i}"), 1));
            until(&mut events, &format!("After{i}")).await;
        }
    });
}

/// A lone caller's action that is never answered times out on time while
/// the connection is otherwise idle (no caller reads, nothing arrives),
/// after many quick round trips moved the client's timer; the connection
/// is still usable afterwards.
#[test]
fn a_lone_callers_timeout_fires_on_an_otherwise_idle_connection() {
    let server = common::server_with(never_answers_originate(), Faults::default());
    run(10, async {
        let client = Client::connect(config(&server, AuthMethod::Plain))
            .await
            .expect("login");
        for _ in 0..200 {
            client.send(Action::ping()).await.expect("pong");
        }
        let timeout = Duration::from_millis(200);
        let started = std::time::Instant::now();
        let err = client
            .send(never_originate().with_timeout(timeout))
            .await
            .expect_err("never answered");
        let took = started.elapsed();
        assert_eq!(
            err,
            ami_smol::ClientError::Action(ami_proto::ActionError::Timeout(timeout))
        );
        assert!(
            took >= timeout && took < timeout + Duration::from_secs(2),
            "{took:?}"
        );
        client.send(Action::ping()).await.expect("pong after");
    });
}

/// Over TLS too, a lone caller writes and reads through the session's TLS
/// state itself (the client's task frozen).
#[cfg(feature = "tls")]
#[test]
fn a_lone_send_over_tls_completes_with_the_clients_task_frozen() {
    use ami_smol::TlsConfig;
    use ami_testkit::tls::TestPki;
    use ami_testkit::{ServerConfig, TcpServer};
    let pki = TestPki::new();
    let server = TcpServer::start_tls(
        Arc::new(ServerConfig {
            auth_failure_delay: Duration::ZERO,
            ..ServerConfig::default()
        }),
        Faults::default(),
        pki.localhost().server_config(),
    )
    .expect("starts");
    let mut cfg = config(&server, AuthMethod::Md5);
    cfg.tls = Some(TlsConfig::new().with_ca_pem(pki.ca_pem()));
    let f = frozen(cfg);
    run(10, async {
        server.inject_all(events_text("Sealed", 2));
        for _ in 0..50 {
            f.client.send(Action::ping()).await.expect("pong over TLS");
        }
    });
    let mut events = f.events;
    let sealed = std::iter::from_fn(|| events.try_next())
        .filter(|e| e.is("Sealed"))
        .count();
    assert_eq!(sealed, 2, "events decrypted and handed out by the caller");
}

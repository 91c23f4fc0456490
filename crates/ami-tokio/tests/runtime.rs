//! The tokio binding of the async client over real TCP against the fake
//! Asterisk on 127.0.0.1: connect and login on both runtime flavours, TLS,
//! timers (action timeouts, heartbeats, stream deadlines), spawning outside
//! a runtime, many pings in flight, a live model (`with_model`), and a
//! reconnect on a current-thread runtime. The behaviour they share with `ami-smol` is `ami-async`'s;
//! these check the runtime seam, and the conformance suite
//! (`tests/conformance.rs`, on a multi-thread runtime) the rest.

use std::collections::HashSet;
use std::future::Future;
use std::time::{Duration, Instant};

use ami_testkit::{Faults, ServerConfig, TcpServer};
use ami_tokio::{Action, ActionError, AuthMethod, Client, ClientConfig, ClientError, CloseReason};
use ami_tokio::{Config, ConnState, ConnectError};
use futures_lite::StreamExt;

mod common;

/// Runs `f` on a fresh runtime (one thread, or several), failing the test
/// past `secs`.
fn run<F: Future>(secs: u64, multi_thread: bool, f: F) -> F::Output {
    common::runtime(multi_thread)
        .block_on(async { tokio::time::timeout(Duration::from_secs(secs), f).await })
        .unwrap_or_else(|_| panic!("test exceeded its {secs} s bound"))
}

fn server(faults: Faults) -> TcpServer {
    server_with(ServerConfig::default(), faults)
}

fn server_with(config: ServerConfig, faults: Faults) -> TcpServer {
    let config = ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..config
    };
    TcpServer::start(config, faults).expect("fake server starts")
}

fn config(server: &TcpServer, auth: AuthMethod) -> ClientConfig {
    let mut proto = Config::new("pbx", "admin", "amp111");
    proto.auth = auth;
    let mut config = ClientConfig::new(server.addr().to_string(), proto);
    config.connect_timeout = Duration::from_secs(2);
    config
}

#[test]
fn login_both_ways_then_ping_on_either_runtime_flavour() {
    let server = server(Faults::default());
    for (auth, multi_thread) in [(AuthMethod::Plain, false), (AuthMethod::Md5, true)] {
        run(10, multi_thread, async {
            let client = Client::connect(config(&server, auth)).await.unwrap();
            assert_eq!(client.state(), ConnState::Ready);
            let pong = client.send(Action::ping()).await.unwrap();
            assert_eq!(pong.response().get_str("Ping").as_deref(), Some("Pong"));
            assert_eq!(client.close().await, CloseReason::LoggedOff);
            let err = client.send(Action::ping()).await.unwrap_err();
            assert_eq!(err, ClientError::Closed);
        });
    }
    let actions = server.received_actions();
    assert!(actions.iter().any(|a| a.eq_ignore_ascii_case("challenge")));
}

/// Made outside any runtime, the client cannot spawn its task: `connect`
/// says so and `start` returns a closed client, neither panics. Given a
/// runtime's `Handle` through `spawn_with`, the same builder works.
#[test]
fn outside_a_runtime_a_clear_error_not_a_panic() {
    let server = server(Faults::default());
    let outcome =
        futures_lite::future::block_on(Client::connect(config(&server, AuthMethod::Plain)));
    match outcome {
        Err(ConnectError::Spawn(e)) => assert!(e.to_string().contains("no tokio runtime"), "{e}"),
        other => panic!("{other:?}"),
    }
    let client = Client::builder(config(&server, AuthMethod::Plain))
        .start()
        .unwrap();
    match client.state() {
        ConnState::Closed(CloseReason::Internal(why)) => {
            assert!(why.contains("never ran"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    let err = futures_lite::future::block_on(client.send(Action::ping())).unwrap_err();
    assert_eq!(err, ClientError::Closed);

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let handle = rt.handle().clone();
    let builder = Client::builder(config(&server, AuthMethod::Plain)).spawn_with(move |task| {
        handle.spawn(task);
    });
    rt.block_on(async {
        let client = builder.connect().await.unwrap();
        client.send(Action::ping()).await.unwrap();
        client.close().await;
    });
    // Or named once, for the task, its socket and every timer: usable
    // from outside the runtime, a stream's deadline included.
    let on = ami_tokio::Tokio::new(rt.handle().clone());
    let mut builder = Client::builder_on(on, config(&server, AuthMethod::Plain));
    let mut events = builder.events();
    futures_lite::future::block_on(async {
        let client = builder.connect().await.unwrap();
        let started = Instant::now();
        let none = events.wait_for(|e| e.is("NoSuchEvent"), Duration::from_millis(50));
        assert!(none.await.unwrap().is_none());
        assert!(started.elapsed() >= Duration::from_millis(50));
        client.close().await;
    });
    assert_eq!(
        server.connections(),
        2,
        "only the clients given a runtime connected"
    );
}

/// Tokio's timers drive every deadline: an unanswered action times out on
/// time, a silent server is found dead by the heartbeat and replaced, and
/// an event stream's wait ends at its deadline.
#[test]
fn timers_drive_timeouts_heartbeats_and_stream_deadlines() {
    let never = ServerConfig {
        originate: ami_testkit::OriginateBehavior {
            delay: Duration::from_millis(10),
            outcome: ami_testkit::OriginateOutcome::Never,
        },
        ..ServerConfig::default()
    };
    let server = server_with(
        never,
        Faults {
            silence_after_login: true,
            ..Faults::default()
        },
    );
    run(20, false, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.proto.heartbeat_interval = Some(Duration::from_millis(100));
        cfg.proto.action_timeout = Duration::from_millis(200);
        let (client, mut events) = Client::connect_with_events(cfg).await.unwrap();
        // The login's events, then nothing: the wait ends at its deadline.
        while events.next_timeout(Duration::ZERO).await.unwrap().is_some() {}
        let started = Instant::now();
        assert!(events
            .next_timeout(Duration::from_millis(100))
            .await
            .unwrap()
            .is_none());
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(100) && waited < Duration::from_secs(2));

        let started = Instant::now();
        let err = client.send(Action::ping()).await.unwrap_err();
        assert_eq!(
            err,
            ClientError::Action(ActionError::Timeout(Duration::from_millis(200)))
        );
        let took = started.elapsed();
        assert!(
            took >= Duration::from_millis(200) && took < Duration::from_secs(2),
            "{took:?}"
        );

        let mut changes = client.state_changes();
        while let Some(state) = changes.next().await {
            if state == ConnState::Closed(CloseReason::HeartbeatTimeout) {
                break;
            }
        }
        server.set_faults(Faults::default());
        client.wait_ready(Duration::from_secs(6)).await.unwrap();
        client.send(Action::ping()).await.unwrap();
        let stats = client.stats();
        assert_eq!((stats.sessions, stats.reconnects), (2, 1));
        client.close().await;
    });
}

/// A thousand pings from a thousand tasks: each completes exactly once.
#[test]
fn thousand_concurrent_pings_each_complete_once() {
    let server = server(Faults::default());
    run(30, true, async {
        let client = Client::connect(config(&server, AuthMethod::Plain))
            .await
            .unwrap();
        let tasks: Vec<_> = (0..1000)
            .map(|_| {
                let c = client.clone();
                tokio::spawn(async move { c.send(Action::ping()).await })
            })
            .collect();
        let mut ids = HashSet::new();
        for task in tasks {
            let done = task.await.unwrap().unwrap();
            let id = done.response().action_id().unwrap().to_vec();
            assert!(ids.insert(id), "a completion arrived twice");
        }
        assert_eq!(ids.len(), 1000);
        client.close().await;
    });
}

/// A dropped connection fails what was pending and a new session follows.
#[test]
fn dropped_connection_is_replaced() {
    let server = server(Faults {
        drop_after: Some(Duration::from_millis(300)),
        ..Faults::default()
    });
    run(20, false, async {
        let client = Client::connect(config(&server, AuthMethod::Plain))
            .await
            .unwrap();
        let mut changes = client.state_changes();
        server.set_faults(Faults::default());
        while let Some(state) = changes.next().await {
            if matches!(state, ConnState::Closed(_)) {
                break;
            }
        }
        client.wait_ready(Duration::from_secs(6)).await.unwrap();
        client.send(Action::ping()).await.unwrap();
        assert_eq!(client.stats().reconnects, 1);
        assert_eq!(server.connections(), 2);
        client.close().await;
    });
}

/// TLS through ami-tls's session over tokio's socket: verified with the
/// right CA, a pinned self-signed certificate, and refused with a wrong CA.
#[cfg(feature = "tls")]
#[test]
fn tls_verified_pinned_and_refused() {
    use ami_testkit::tls::{Identity, TestPki};
    use ami_tokio::{TlsConfig, TlsError};
    use std::sync::Arc;
    let start = |identity: &Identity| {
        let config = ServerConfig {
            auth_failure_delay: Duration::ZERO,
            ..ServerConfig::default()
        };
        TcpServer::start_tls(
            Arc::new(config),
            Faults::flood(300),
            identity.server_config(),
        )
        .expect("starts")
    };
    let pki = TestPki::new();
    let verified = start(&pki.localhost());
    let self_signed = Identity::self_signed();
    let pinned = start(&self_signed);
    run(20, true, async {
        let mut cfg = config(&verified, AuthMethod::Md5);
        cfg.tls = Some(TlsConfig::new().with_ca_pem(pki.ca_pem()));
        let (client, mut events) = Client::connect_with_events(cfg).await.expect("TLS login");
        client.send(Action::ping()).await.unwrap();
        let done = events.wait_for(|e| e.is("BenchDone"), Duration::from_secs(10));
        assert!(done.await.unwrap().is_some(), "the flood came through TLS");
        client.close().await;

        let mut cfg = config(&pinned, AuthMethod::Md5);
        let pin = self_signed.fingerprint();
        cfg.tls = Some(TlsConfig::new().danger_accept_pinned_self_signed(pin));
        let client = Client::connect(cfg).await.expect("pinned TLS login");
        client.send(Action::ping()).await.unwrap();
        client.close().await;

        let mut cfg = config(&verified, AuthMethod::Md5);
        cfg.tls = Some(TlsConfig::new().with_ca_pem(TestPki::new().ca_pem()));
        match Client::connect(cfg).await {
            Err(ConnectError::Tls(TlsError::UntrustedCertificate(_))) => {}
            other => panic!("{other:?}"),
        }
    });
}

#[test]
fn a_live_model_is_listed_and_followed_on_either_runtime_flavour() {
    let server = server_with(ServerConfig::asterisk_corpus(), Faults::default());
    for multi_thread in [false, true] {
        run(20, multi_thread, async {
            let client = Client::builder(config(&server, AuthMethod::Plain))
                .with_model(ami_tokio::state::Limits::default())
                .connect()
                .await
                .unwrap();
            let model = client.model().expect("built with a model");
            assert!(model.synced().await);
            assert!(model.read(|m| m.queue("support").is_some()), "listed");
            let mut changes = model.changes();
            server.publish(
                b"Event: Newchannel\r\nPrivilege: call,all\r\nChannel: PJSIP/a-00000001\r\n\
                  ChannelState: 4\r\nUniqueid: 1795727786.7\r\nLinkedid: 1795727786.7\r\n\r\n",
            );
            let added = changes.next().await.expect("a change");
            let uid: &str = "1795727786.7";
            assert_eq!(
                added,
                ami_tokio::state::Change::Added(ami_tokio::state::Key::Channel(uid.into()))
            );
            client.close().await;
        });
    }
}

/// The client's task, counting how often it is polled.
struct Counted(
    ami_tokio::BackgroundTask,
    std::sync::Arc<std::sync::atomic::AtomicUsize>,
);

impl Future for Counted {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        self.1.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.0.as_mut().poll(cx)
    }
}

/// Lone actions, one after another: each caller writes its action and
/// reads its answer on its own task, so the client's task is hardly
/// polled (its timer, now and then). It was polled at least twice per
/// action when it did the I/O, once for the action and once for the
/// answer: two task hops per round trip. Plain TCP and TLS, both runtime
/// flavours.
#[test]
fn lone_sends_leave_the_clients_task_asleep() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let plain = server(Faults::default());
    #[cfg(feature = "tls")]
    let pki = ami_testkit::tls::TestPki::new();
    #[cfg(feature = "tls")]
    let sealed = TcpServer::start_tls(
        Arc::new(ServerConfig {
            auth_failure_delay: Duration::ZERO,
            ..ServerConfig::default()
        }),
        Faults::default(),
        pki.localhost().server_config(),
    )
    .expect("starts");
    let mut configs = vec![config(&plain, AuthMethod::Plain)];
    #[cfg(feature = "tls")]
    configs.push({
        let mut cfg = config(&sealed, AuthMethod::Md5);
        cfg.tls = Some(ami_tokio::TlsConfig::new().with_ca_pem(pki.ca_pem()));
        cfg
    });
    for cfg in configs {
        for multi_thread in [false, true] {
            let cfg = cfg.clone();
            run(20, multi_thread, async {
                let polls = Arc::new(AtomicUsize::new(0));
                let counter = polls.clone();
                let client = Client::builder(cfg)
                    .spawn_with(move |task| drop(tokio::spawn(Counted(task, counter))))
                    .connect()
                    .await
                    .expect("login");
                let before = polls.load(Ordering::SeqCst);
                for _ in 0..200 {
                    client.send(Action::ping()).await.expect("pong");
                }
                let polled = polls.load(Ordering::SeqCst) - before;
                assert!(
                    polled < 50,
                    "the client's task polled {polled} times for 200 actions"
                );
                client.close().await;
            });
        }
    }
}

/// A task that polls its send once and then waits for an event, keeping
/// the send alive but not polling it, holds up neither the event nor
/// another task's action (the client's task takes reading back).
#[test]
fn a_send_held_but_not_polled_holds_up_nothing() {
    use ami_testkit::{OriginateBehavior, OriginateOutcome};
    let server = server_with(
        ServerConfig {
            originate: OriginateBehavior {
                delay: Duration::from_millis(10),
                outcome: OriginateOutcome::Never,
            },
            ..ServerConfig::default()
        },
        Faults::default(),
    );
    for multi_thread in [false, true] {
        run(10, multi_thread, async {
            let (client, mut events) =
                Client::connect_with_events(config(&server, AuthMethod::Plain))
                    .await
                    .expect("login");
            let originate = ami_tokio::Originate::new("PJSIP/100")
                .extension("default", "200", 1)
                .async_(true);
            let c = client.clone();
            let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let answer = answered.clone();
            let holder = tokio::spawn(async move {
                let mut send = Box::pin(c.send(Action::originate(originate)));
                assert!(futures_lite::future::poll_once(&mut send).await.is_none());
                while !events.next().await.expect("events").is("Awaited") {}
                // Still holding the send: another task's action completes.
                while !answer.load(std::sync::atomic::Ordering::SeqCst) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                }
                drop(send);
            });
            while !server.received_actions().iter().any(|a| a == "Originate") {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            server.inject_all("Event: Awaited\r\nPrivilege: user,all\r\n\r\n");
            client
                .send(Action::ping())
                .await
                .expect("another caller's answer");
            answered.store(true, std::sync::atomic::Ordering::SeqCst);
            holder.await.expect("the holder ends");
        });
    }
}

/// The socket binding's reads, as the client uses them: bytes that came
/// since tokio last looked are read at once (tokio's own reads wait for
/// its driver to notice them: a caller looking for its answer right after
/// writing found nothing, and waited in `epoll_wait`); and a read that
/// emptied the socket forgets the readiness tokio remembered, so the next
/// wait registers instead of trying a read that finds nothing.
#[test]
fn reads_find_bytes_tokio_has_not_seen_and_forget_readiness_once_empty() {
    use ami_async::{Runtime, Socket};
    use std::io::{ErrorKind, Write};
    use std::task::{Context, Poll, Waker};
    run(5, false, async {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let tokio = ami_tokio::Tokio::new(tokio::runtime::Handle::current());
        let sock = tokio
            .connect(listener.local_addr().expect("bound"))
            .await
            .expect("connect");
        let (mut server, _) = listener.accept().expect("accept");
        let mut buf = [0u8; 64];
        let nothing = sock.try_read(&mut buf).expect_err("nothing yet");
        assert_eq!(nothing.kind(), ErrorKind::WouldBlock);

        // No await from here: tokio's driver cannot notice the bytes.
        server.write_all(b"hello").expect("write");
        let mut got = Err(ErrorKind::WouldBlock.into());
        for _ in 0..1000 {
            got = sock.try_read(&mut buf);
            if got.is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(got.expect("read at once"), 5);

        // Tokio sees readiness for the next bytes; a short read empties
        // the socket, and the next wait registers rather than being ready.
        server.write_all(b"again").expect("write");
        futures_lite::future::poll_fn(|cx| sock.poll_readable(cx))
            .await
            .expect("readable");
        assert_eq!(sock.try_read(&mut buf).expect("read"), 5);
        let mut cx = Context::from_waker(Waker::noop());
        assert!(matches!(sock.poll_readable(&mut cx), Poll::Pending));
    });
}

/// `Duration::MAX` means "never" on tokio too: the deadlines are the core's
/// `instant_after`, which leaves room past them for tokio's timer to round
/// up to its tick. Covers the connect timeout, a parked action's deadline
/// (sent before login) and `close_within`.
#[test]
fn durations_of_any_size_never_panic_on_tokio() {
    let server = server(Faults {
        accept_delay: Some(Duration::from_millis(200)),
        ..Faults::default()
    });
    run(10, false, async {
        let mut cfg = config(&server, AuthMethod::Plain);
        cfg.connect_timeout = Duration::MAX;
        cfg.resend_on_reconnect = true;
        let client = Client::builder(cfg).start().unwrap();
        let pong = client.send(Action::ping().with_timeout(Duration::MAX));
        assert!(pong.await.is_ok());
        client.close_within(Duration::MAX).await;
        assert_eq!(client.state(), ConnState::Closed(CloseReason::LoggedOff));
    });
}

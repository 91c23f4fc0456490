//! The `Multiplexer` against fake servers over real TCP (127.0.0.1), what is
//! its own: every node driven from the start, handles and callbacks, event
//! handlers, session epochs, shutdown, idle ticks, its configuration. What
//! every adapter does is in the conformance suite (`tests/conformance.rs`).

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ami_blocking::{Multiplexer, MuxConfig, MuxError, NodeClose, NodeState, SubmitError};
use ami_proto::{Action, ActionError, CloseReason, Completion, ConfigError, ConnState, LoginError};
use ami_proto::{Event, QueuePolicy};
use ami_testkit::Faults;
use common::{all_ready, big_user_event, config, server, tick_until, Watchdog};
use common::{never_answers_originate, originate};

#[test]
fn every_node_is_driven_from_the_first_ticks() {
    let _w = Watchdog::new("first ticks", Duration::from_secs(20));
    let servers: Vec<_> = (0..5).map(|_| server(Faults::default())).collect();
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let nodes: Vec<_> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            mux.add_server(s.addr(), config(&format!("pbx{i}")))
                .expect("valid config")
        })
        .collect();
    // PHP pitfall 1: no submit, no lazy creation: ticking alone connects all.
    let first = mux.tick(Duration::ZERO);
    assert_eq!(first.connects_started, 5);
    all_ready(&mut mux, &nodes, Duration::from_secs(5));
    for s in &servers {
        assert_eq!(s.connections(), 1);
    }
}

/// The multiplexer's own ways to complete: a callback runs once, a handle
/// gives its outcome once; and nothing is taken before a session (every
/// completion kind is in the conformance suite).
#[test]
fn actions_complete_through_callbacks_and_handles() {
    let _w = Watchdog::new("actions", Duration::from_secs(20));
    let srv = server(Faults::default());
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let node = mux.add_server(srv.addr(), config("pbx")).expect("config");
    assert_eq!(
        mux.submit_handle(node, Action::ping()).err(),
        Some(SubmitError::NotReady(node)),
        "no session yet"
    );
    all_ready(&mut mux, &[node], Duration::from_secs(5));

    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    mux.submit(node, Action::ping(), move |r| {
        assert!(r.is_ok(), "{r:?}");
        c.fetch_add(1, Ordering::SeqCst);
    })
    .expect("submitted");
    let list = mux
        .submit_handle(node, Action::core_show_channels())
        .expect("list");
    tick_until(&mut mux, Duration::from_secs(5), "completions", |_, _| {
        list.is_done() && calls.load(Ordering::SeqCst) == 1
    });
    match list.try_take().expect("done").expect("ok") {
        Completion::List(list) => assert_eq!(list.items.len(), 4),
        other => panic!("{other:?}"),
    }
    assert!(list.try_take().is_none(), "taken once");
    for _ in 0..5 {
        mux.tick(Duration::from_millis(10));
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "called once");
    let events: Vec<_> = mux
        .events()
        .map(|(n, e)| (n, e.name_str().into_owned()))
        .collect();
    assert!(events.iter().all(|(n, _)| *n == node));
    assert!(events.iter().any(|(_, e)| e == "FullyBooted"), "{events:?}");
    let stats = mux.stats(node).expect("known node");
    assert_eq!(stats.pending, 0);
    assert_eq!(stats.session.actions_ok, 2);
}

#[test]
fn event_handler_receives_events() {
    let _w = Watchdog::new("handler", Duration::from_secs(20));
    let srv = server(Faults::default());
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let node = mux.add_server(srv.addr(), config("pbx")).expect("config");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let s = seen.clone();
    assert!(mux.on_event(node, move |e| s
        .lock()
        .unwrap()
        .push(e.name_str().into_owned())));
    all_ready(&mut mux, &[node], Duration::from_secs(5));
    let h = mux
        .submit_handle(node, Action::user_event("Hello", &[("X", "1")]))
        .expect("submitted");
    tick_until(&mut mux, Duration::from_secs(5), "user event", |_, _| {
        h.is_done() && seen.lock().unwrap().iter().any(|n| n == "UserEvent")
    });
    assert_eq!(mux.events().count(), 0, "the handler took them");
}

/// The events are the caller's once taken: the loop over them may ask the
/// multiplexer (a node's name) and act on it (submit), which a borrowing
/// iterator forbade. One at a time leaves the rest queued.
#[test]
fn events_are_taken_so_the_loop_can_use_the_multiplexer() {
    let _w = Watchdog::new("events loop", Duration::from_secs(20));
    let srv = server(Faults::default());
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let node = mux
        .add_server(srv.addr(), config("pbx-loop"))
        .expect("config");
    all_ready(&mut mux, &[node], Duration::from_secs(5));
    for i in 0..3 {
        let seq = i.to_string();
        let hello = Action::user_event("Hello", &[("Seq", &seq)]);
        mux.submit(node, hello, |r| assert!(r.is_ok()))
            .expect("sent");
    }
    tick_until(&mut mux, Duration::from_secs(5), "three events", |m, _| {
        m.queued_events() >= 5
    });
    // FullyBooted and SuccessfulAuth, then the three UserEvents.
    let (first, _) = mux.next_event().expect("queued");
    assert_eq!(first, node);
    assert_eq!(mux.queued_events(), 4, "the rest stay queued");
    let mut answers = Vec::new();
    for (from, event) in mux.events() {
        assert_eq!(mux.name(from), Some("pbx-loop"));
        if event.is("UserEvent") {
            answers.push(mux.submit_handle(from, Action::ping()).expect("sent"));
        }
    }
    assert_eq!(answers.len(), 3);
    assert_eq!(mux.queued_events(), 0, "taken");
    tick_until(&mut mux, Duration::from_secs(5), "pongs", |_, _| {
        answers.iter().all(|a| a.is_done())
    });
    // The queue's high-water mark: the five it held before they were taken.
    assert_eq!(mux.queue_high_water(), 5);
}

/// The server's name is `Config::server`, given once.
#[test]
fn the_server_is_named_by_its_config() {
    let srv = server(Faults::default());
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let node = mux
        .add_server(srv.addr(), config("pbx-east-1"))
        .expect("config");
    assert_eq!(mux.name(node), Some("pbx-east-1"));
}

/// Why a node's last attempt or session ended: a refused connect, refused
/// credentials, a session the server dropped; nothing before any end.
#[test]
fn last_close_reason_says_why_a_node_is_down() {
    let _w = Watchdog::new("close reasons", Duration::from_secs(20));
    let up = server(Faults::default());
    let refusing = server(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let mut wrong = config("wrong-secret");
    wrong.secret = "nope".into();
    let denied = mux.add_server(up.addr(), wrong).expect("config");
    let closed = mux
        .add_server(refusing.addr(), config("refusing"))
        .expect("config");
    let healthy = mux
        .add_server(up.addr(), config("healthy"))
        .expect("config");
    assert_eq!(mux.last_close_reason(healthy), None, "nothing ended yet");
    tick_until(&mut mux, Duration::from_secs(5), "both failures", |m, _| {
        m.last_close_reason(denied).is_some() && m.last_close_reason(closed).is_some()
    });
    assert!(matches!(
        mux.last_close_reason(denied),
        Some(NodeClose::Session(CloseReason::LoginFailed(
            LoginError::AuthenticationFailed(_)
        )))
    ));
    assert_eq!(
        mux.last_close_reason(closed),
        Some(&NodeClose::Connect(std::io::ErrorKind::ConnectionRefused))
    );
    all_ready(&mut mux, &[healthy], Duration::from_secs(5));
    assert_eq!(mux.last_close_reason(healthy), None);
    up.drop_connections();
    tick_until(&mut mux, Duration::from_secs(5), "the drop", |m, _| {
        m.last_close_reason(healthy).is_some()
    });
    assert_eq!(
        mux.last_close_reason(healthy),
        Some(&NodeClose::Session(CloseReason::Lost))
    );
    // A node of another multiplexer (its fourth) is unknown here.
    let mut other = Multiplexer::new(MuxConfig::default()).expect("poller");
    let unknown = (0..4)
        .map(|_| {
            other
                .add_server(up.addr(), config("other"))
                .expect("config")
        })
        .last()
        .expect("four");
    assert_eq!(mux.last_close_reason(unknown), None);
}

#[test]
fn reconnect_never_sends_the_old_sessions_bytes() {
    let _w = Watchdog::new("epoch", Duration::from_secs(20));
    // The server stops reading after login, then drops the connection.
    let srv = server(Faults {
        stop_reading_after_login: true,
        drop_after: Some(Duration::from_millis(1500)),
        ..Faults::default()
    });
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let mut cfg = config("epoch");
    cfg.heartbeat_interval = None;
    cfg.action_timeout = Duration::from_secs(30);
    let node = mux.add_server(srv.addr(), cfg).expect("config");
    all_ready(&mut mux, &[node], Duration::from_secs(5));
    // Fill the kernel buffers until bytes wait in the core's write buffer.
    let mut handles = Vec::new();
    for _ in 0..500 {
        match mux.submit_handle(node, big_user_event("OldSession")) {
            Ok(h) => handles.push(h),
            Err(e) => panic!("refused before the kernel filled: {e}"),
        }
        mux.tick(Duration::ZERO);
        if mux.stats(node).expect("node").session.write_buffered > 0 {
            break;
        }
    }
    let buffered = mux.stats(node).expect("node").session.write_buffered;
    assert!(buffered > 0, "the kernel never pushed back");
    // The old session dies with bytes still queued; its actions complete as
    // lost (never success), and the new session starts empty.
    srv.set_faults(Faults::default());
    tick_until(
        &mut mux,
        Duration::from_secs(5),
        "old session lost",
        |_, _| handles.iter().all(|h| h.is_done()),
    );
    for h in &handles {
        assert!(matches!(
            h.try_take(),
            Some(Err(ActionError::ConnectionLost))
        ));
    }
    tick_until(&mut mux, Duration::from_secs(5), "new session", |m, _| {
        m.is_ready(node)
    });
    let ping = mux.submit_handle(node, Action::ping()).expect("ping");
    tick_until(&mut mux, Duration::from_secs(5), "ping", |_, _| {
        ping.is_done()
    });
    assert!(matches!(ping.try_take(), Some(Ok(_))));
    let actions = srv.received_actions();
    assert!(
        !actions.iter().any(|a| a == "UserEvent"),
        "the old session's bytes reached the server: {actions:?}"
    );
    assert_eq!(mux.stats(node).expect("node").sessions, 2);
    println!("old session had {buffered} bytes queued in the core when it died");
}

#[test]
fn shutdown_logs_off_and_stays_down() {
    let _w = Watchdog::new("shutdown", Duration::from_secs(20));
    let servers: Vec<_> = (0..4).map(|_| server(Faults::default())).collect();
    // One server never reads after login (so never sees the Logoff); one
    // refuses every connect.
    let silent = server(Faults {
        stop_reading_after_login: true,
        ..Faults::default()
    });
    let refusing = server(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let nodes: Vec<_> = servers
        .iter()
        .chain([&silent])
        .enumerate()
        .map(|(i, s)| {
            mux.add_server(s.addr(), config(&format!("n{i}")))
                .expect("config")
        })
        .collect();
    let down = mux
        .add_server(refusing.addr(), config("down"))
        .expect("config");
    all_ready(&mut mux, &nodes, Duration::from_secs(5));
    let pending: Vec<_> = nodes
        .iter()
        .map(|&n| mux.submit_handle(n, Action::ping()).expect("ping"))
        .collect();
    let started = Instant::now();
    let report = mux.shutdown(Instant::now() + Duration::from_secs(1));
    let took = started.elapsed();
    assert_eq!(report.logged_off, 4, "{report:?}");
    assert_eq!(
        report.forced, 1,
        "the silent node is closed at the deadline"
    );
    assert_eq!(report.idle, 1, "the refusing node had no session");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    // Every action completed exactly once: answered, or lost at the close.
    for p in &pending[..4] {
        assert!(matches!(p.try_take(), Some(Ok(_))));
    }
    assert!(matches!(
        pending[4].try_take(),
        Some(Err(ActionError::ConnectionLost))
    ));
    for s in &servers {
        assert_eq!(
            s.received_actions().last().map(String::as_str),
            Some("Logoff")
        );
    }
    // PHP pitfall 2: shutdown is a state; nothing reconnects afterwards.
    assert!(mux.is_shut_down());
    for _ in 0..10 {
        let summary = mux.tick(Duration::from_millis(20));
        assert!(!summary.progress);
    }
    for (s, &n) in servers.iter().chain([&silent]).zip(&nodes) {
        assert_eq!(s.connections(), 1);
        assert_eq!(mux.node_state(n), Some(NodeState::Stopped));
        assert!(matches!(
            mux.submit_handle(n, Action::ping()),
            Err(SubmitError::NotReady(_))
        ));
    }
    assert_eq!(mux.node_state(down), Some(NodeState::Stopped));
}

#[test]
fn idle_ticks_do_not_spin() {
    let _w = Watchdog::new("idle", Duration::from_secs(20));
    let srv = server(Faults::default());
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let node = mux.add_server(srv.addr(), config("idle")).expect("config");
    all_ready(&mut mux, &[node], Duration::from_secs(5));
    // Let login-time events settle.
    for _ in 0..5 {
        mux.tick(Duration::from_millis(20));
    }
    mux.events().for_each(drop);
    let started = Instant::now();
    let mut ticks = 0;
    while started.elapsed() < Duration::from_millis(500) {
        mux.tick(Duration::from_millis(100));
        ticks += 1;
    }
    // Each idle tick waits its full 100 ms (the heartbeat is 15 s away).
    assert!(ticks <= 7, "{ticks} ticks in 500 ms: spinning");
    assert!(matches!(
        mux.node_state(node),
        Some(NodeState::Session(ConnState::Ready))
    ));
}

#[test]
fn every_bad_mux_config_value_is_refused_at_construction() {
    // Issue 15 item 15: `event_budget: 0` (or any zero budget) stalled every
    // node without a word; each bound is now checked by `Multiplexer::new`.
    type Set = fn(&mut MuxConfig);
    let bad: [(&str, Set); 10] = [
        ("read_budget", |c| c.read_budget = 0),
        ("read_budget", |c| c.read_budget = 511),
        ("frame_budget", |c| c.frame_budget = 0),
        ("event_budget", |c| c.event_budget = 0),
        ("connect_budget", |c| c.connect_budget = 0),
        ("max_tick_ms", |c| c.max_tick = Duration::ZERO),
        ("connect_timeout_ms", |c| c.connect_timeout = Duration::ZERO),
        // Too long to mean anything, and `now + Duration::MAX` panicked.
        ("connect_timeout_ms", |c| c.connect_timeout = Duration::MAX),
        ("max_tick_ms", |c| c.max_tick = Duration::MAX),
        ("event_queue", |c| c.event_queue = 0),
    ];
    for (name, set) in bad {
        let mut config = MuxConfig::default();
        set(&mut config);
        let err = Multiplexer::new(config.clone()).err();
        let err = err.unwrap_or_else(|| panic!("{name}: accepted {config:?}"));
        assert!(
            matches!(&err, MuxError::Config(ConfigError::OutOfRange { name: n, .. }) if *n == name),
            "{name}: {err}"
        );
    }
    assert!(Multiplexer::new(MuxConfig::default()).is_ok());
}

/// A node's reconnect pacing is the caller's to choose, as the async
/// adapters' `reconnect_policy` is: a node given a 20 s backoff waits 20 s
/// after a refused connect, while its neighbour with the default retries
/// within 100 ms. A policy whose values mean nothing is refused, naming the
/// value, and the node keeps the one it had.
#[test]
fn a_nodes_reconnect_policy_is_configurable_and_checked() {
    use ami_proto::{Backoff, CircuitBreaker, ReconnectPolicy};

    let _w = Watchdog::new("reconnect policy", Duration::from_secs(20));
    let refusing = server(Faults {
        refuse_connections: true,
        ..Faults::default()
    });
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let default = mux
        .add_server(refusing.addr(), config("default"))
        .expect("config");
    let patient = mux
        .add_server(refusing.addr(), config("patient"))
        .expect("config");
    let slow = Duration::from_secs(20);
    let backoff = Backoff::new(slow, slow, 1).with_jitter(0);
    let policy = ReconnectPolicy::new(backoff, CircuitBreaker::default());
    assert_eq!(mux.set_reconnect_policy(patient, policy), Ok(true));

    let zero = Backoff::new(Duration::ZERO, slow, 1);
    let hot = ReconnectPolicy::new(zero, CircuitBreaker::default());
    assert!(matches!(
        mux.set_reconnect_policy(default, hot),
        Err(ConfigError::OutOfRange {
            name: "reconnect_base_ms",
            ..
        })
    ));
    let mut other = Multiplexer::new(MuxConfig::default()).expect("poller");
    let unknown = (0..3)
        .map(|_| {
            other
                .add_server(refusing.addr(), config("x"))
                .expect("config")
        })
        .last()
        .expect("three");
    let fine = ReconnectPolicy::with_seed(1);
    assert_eq!(mux.set_reconnect_policy(unknown, fine), Ok(false));

    let start = Instant::now();
    while start.elapsed() < Duration::from_millis(1200) {
        mux.tick(Duration::from_millis(20));
    }
    let attempts = |node| mux.stats(node).expect("known").connect_attempts;
    assert!(attempts(default) >= 3, "{}", attempts(default));
    assert_eq!(attempts(patient), 1);
    match mux.node_state(patient) {
        Some(NodeState::Backoff { retry_at }) => {
            assert!(retry_at >= start + slow - Duration::from_secs(1));
        }
        other => panic!("{other:?}"),
    }
}

/// Back-pressure may slow the reading of events, never an answer
/// (invariant 11). A node floods a consumer that never drains: its core and
/// the multiplexer's queue fill up. A Ping submitted then completes, and an
/// unanswered action times out, both on time (the node used to stop
/// reading, answers included, until `events()` was drained). What no queue
/// could take while they were awaited is dropped and counted; the queue
/// stays within its bound, and once nothing is awaited the node waits for
/// the consumer again, losing nothing.
#[test]
fn backpressure_never_holds_back_answers_or_timeouts() {
    let _w = Watchdog::new("backpressure answers", Duration::from_secs(40));
    // Endless for the test: it goes only as fast as the node reads.
    let srv = never_answers_originate(Faults::flood(10_000_000));
    let mut mc = MuxConfig::default();
    mc.event_queue = 16;
    let mut mux = Multiplexer::new(mc).expect("poller");
    let mut cfg = config("pbx-held");
    cfg.event_queue = 16;
    cfg.queue_policy = QueuePolicy::Backpressure;
    let node = mux.add_server(srv.addr(), cfg).expect("config");
    all_ready(&mut mux, &[node], Duration::from_secs(5));
    let core_depth = |m: &Multiplexer| m.stats(node).expect("node").session.queue_depth;
    tick_until(
        &mut mux,
        Duration::from_secs(5),
        "both queues full",
        |m, _| m.queued_events() == 16 && core_depth(m) == 16,
    );

    let started = Instant::now();
    let ping = mux.submit_handle(node, Action::ping()).expect("sent");
    tick_until(&mut mux, Duration::from_secs(10), "the pong", |_, _| {
        ping.is_done()
    });
    let pong = started.elapsed();
    assert!(ping.try_take().expect("done").is_ok());
    assert!(pong < Duration::from_secs(2), "{pong:?}");

    let timeout = Duration::from_millis(300);
    let started = Instant::now();
    let call = originate().with_timeout(timeout);
    let call = mux.submit_handle(node, call).expect("sent");
    tick_until(&mut mux, Duration::from_secs(10), "the timeout", |_, _| {
        call.is_done()
    });
    let timed_out = started.elapsed();
    assert_eq!(
        call.try_take().expect("done").expect_err("never answered"),
        ActionError::Timeout(timeout)
    );
    let late = timeout + Duration::from_secs(2);
    assert!(timed_out >= timeout && timed_out < late, "{timed_out:?}");

    assert_eq!(mux.queued_events(), 16, "nothing was drained");
    assert_eq!(mux.queue_high_water(), 16);
    let session = mux.stats(node).expect("node").session;
    assert!(session.queue_high_water <= 16);
    assert!(session.events_dropped_full > 0, "{session:?}");
    // No answer awaited: nothing more is dropped.
    let dropped = session.events_dropped_full;
    let end = Instant::now() + Duration::from_millis(300);
    while Instant::now() < end {
        mux.tick(Duration::from_millis(20));
    }
    let session = mux.stats(node).expect("node").session;
    assert_eq!(session.events_dropped_full, dropped);
    assert_eq!(session.queue_depth, 16);
}

/// The queue's bound holds when a session ends: what the core still held
/// and the queue cannot take is dropped and counted (it used to be queued
/// whole), per the node's policy: drop-oldest keeps its newest events, the
/// other policies its oldest. Every event is delivered, still queued or
/// counted as dropped.
#[test]
fn a_closing_session_never_overfills_the_queue() {
    let _w = Watchdog::new("closing session", Duration::from_secs(40));
    // FullyBooted, SuccessfulAuth, the flood and BenchDone.
    const SESSION_EVENTS: u64 = 200 + 3;
    for policy in [
        QueuePolicy::DropOldest,
        QueuePolicy::DropNewest,
        QueuePolicy::Backpressure,
    ] {
        let srv = server(Faults::flood(200));
        let mut mc = MuxConfig::default();
        mc.event_queue = 8;
        let mut mux = Multiplexer::new(mc).expect("poller");
        let mut cfg = config("pbx-ends");
        // The core holds the whole session: nothing is dropped before the end.
        cfg.event_queue = 300;
        cfg.queue_policy = policy;
        let node = mux.add_server(srv.addr(), cfg).expect("config");
        let session = |m: &Multiplexer| m.stats(node).expect("node").session;
        tick_until(&mut mux, Duration::from_secs(10), "the flood", |m, _| {
            session(m).events == SESSION_EVENTS
        });
        assert_eq!(mux.queued_events(), 8, "{policy}");
        // The consumer makes room for three, then the server hangs up.
        let taken: Vec<(_, Event)> = (0..3).filter_map(|_| mux.next_event()).collect();
        assert_eq!(taken.len(), 3);
        srv.drop_connections();
        // Gone before the next tick, which then reads the end first.
        let end = Instant::now() + Duration::from_secs(5);
        while srv.live_connections() > 0 {
            assert!(Instant::now() < end, "the server hangs on");
            std::thread::sleep(Duration::from_millis(1));
        }
        tick_until(
            &mut mux,
            Duration::from_secs(5),
            "the session's end",
            |m, _| !matches!(m.node_state(node), Some(NodeState::Session(_))),
        );

        let left: Vec<Event> = mux.events().map(|(_, e)| e).collect();
        assert_eq!(left.len(), 8, "{policy}");
        assert_eq!(mux.queue_high_water(), 8, "{policy}");
        let stats = session(&mux);
        assert_eq!(
            stats.events_dropped_full,
            SESSION_EVENTS - 3 - 8,
            "{policy}"
        );
        let newest_kept = left.last().is_some_and(|e| e.is("BenchDone"));
        assert_eq!(newest_kept, policy == QueuePolicy::DropOldest, "{policy}");
    }
}

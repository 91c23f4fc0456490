//! Chaos scenarios for the `Multiplexer` over real TCP (127.0.0.1), beyond
//! the conformance suite's: a flood under budgets, a reconnect storm,
//! flapping servers, a server that stops reading, the backoff after
//! refused credentials, the login's own deadline. Each asserts measured
//! outcomes, not hard-coded ones.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ami_blocking::{Multiplexer, MuxConfig, SubmitError};
use ami_proto::{Action, BreakerState, SendError};
use ami_testkit::Faults;
use common::{all_ready, big_user_event, config, server, tick_until, Watchdog};

#[test]
fn flood_is_read_within_budgets_and_nothing_is_lost() {
    let _w = Watchdog::new("flood", Duration::from_secs(40));
    const EVENTS: u64 = 20_000;
    let srv = server(Faults::flood(EVENTS));
    let mut mc = MuxConfig::default();
    mc.read_budget = 16 << 10;
    mc.event_budget = 200;
    let mut mux = Multiplexer::new(mc.clone()).expect("poller");
    let node = mux.add_server(srv.addr(), config("flood")).expect("config");
    let started = Instant::now();
    let mut flood_events = 0u64;
    let mut done = false;
    let mut ticks = 0u64;
    let mut max_read = 0;
    let mut max_events = 0;
    while !done {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "flood took too long"
        );
        let summary = mux.tick(Duration::from_millis(50));
        ticks += 1;
        for work in &summary.nodes {
            assert!(work.bytes_read <= mc.read_budget, "{work:?}");
            assert!(work.events <= mc.event_budget, "{work:?}");
            max_read = max_read.max(work.bytes_read);
            max_events = max_events.max(work.events);
        }
        for (_, event) in mux.events() {
            if event.is("BenchDone") {
                done = true;
            } else if !event.is("FullyBooted") && !event.is("SuccessfulAuth") {
                flood_events += 1;
            }
        }
    }
    let elapsed = started.elapsed();
    let stats = mux.stats(node).expect("node").session;
    println!(
        "flood: {flood_events} events in {elapsed:?} ({:.0}/s), {ticks} ticks, \
         max read/tick {max_read} B, max events/tick {max_events}, queue high water {}",
        flood_events as f64 / elapsed.as_secs_f64(),
        stats.queue_high_water
    );
    assert_eq!(flood_events, EVENTS, "every flood event delivered");
    // Budgets are consistent: reading stops while events wait, so the
    // core's queue never overflows and its backlog stays small by design.
    assert_eq!(stats.events_dropped_full, 0);
    assert!(stats.queue_high_water < 1_000, "{}", stats.queue_high_water);
    assert!(max_read > 0 && max_events > 0);
}

#[test]
fn reconnect_storm_backs_off_and_opens_the_breaker() {
    let _w = Watchdog::new("storm", Duration::from_secs(30));
    // 20 nodes whose servers refuse every connect.
    let (_servers, mut mux, nodes) = mux_over_servers(
        20,
        Faults {
            refuse_connections: true,
            ..Faults::default()
        },
        "s",
    );
    let window = Duration::from_millis(2500);
    let started = Instant::now();
    let mut ticks = 0u64;
    let mut attempt_times: HashMap<usize, Vec<Duration>> = HashMap::new();
    let mut last = vec![0u64; nodes.len()];
    while started.elapsed() < window {
        mux.tick(Duration::from_millis(200));
        ticks += 1;
        for (i, &n) in nodes.iter().enumerate() {
            let a = mux.stats(n).expect("node").connect_attempts;
            if a > last[i] {
                attempt_times.entry(i).or_default().push(started.elapsed());
                last[i] = a;
            }
        }
    }
    let total: u64 = last.iter().sum();
    println!("storm: {total} connect attempts by 20 nodes in {window:?}, {ticks} ticks");
    for (i, &n) in nodes.iter().enumerate() {
        let stats = mux.stats(n).expect("node");
        // Backoff within 100, 200, 400, 800 ms, then 0.8 to 1.6 s apart
        // (the outage floor, equal jitter): at most 7 attempts here. From
        // the 5th failure on, the breaker is open or letting one probe in.
        assert!(
            (2..=7).contains(&stats.connect_attempts),
            "node {i}: {} attempts at {:?}",
            stats.connect_attempts,
            attempt_times.get(&i)
        );
        if stats.connect_attempts >= 5 {
            assert!(
                matches!(
                    stats.breaker,
                    BreakerState::Open { .. } | BreakerState::HalfOpen
                ),
                "{stats:?}"
            );
        }
    }
    // No hot loop: the waits end at reconnect times, not at once.
    assert!(ticks < 400, "{ticks} ticks: spinning");
}

#[test]
fn flapping_servers_reconnect_with_bounded_attempts() {
    let _w = Watchdog::new("flapping", Duration::from_secs(30));
    let flap = Duration::from_millis(150);
    let (servers, mut mux, nodes) = mux_over_servers(
        20,
        Faults {
            drop_after: Some(flap),
            ..Faults::default()
        },
        "f",
    );
    let window = Duration::from_secs(2);
    let started = Instant::now();
    let mut ticks = 0u64;
    while started.elapsed() < window {
        mux.tick(Duration::from_millis(100));
        mux.events().for_each(drop);
        ticks += 1;
    }
    let mut logins = 0;
    for (s, &n) in servers.iter().zip(&nodes) {
        let stats = mux.stats(n).expect("node");
        logins += stats.logins;
        // Each session lives 150 ms: a flap, so it resets nothing and the
        // waits double from 0.8-1.6 s (then 1.6-3.2 s): two logins in 2 s,
        // not one every 250 ms.
        assert!(stats.connect_attempts <= 3, "{stats:?}");
        assert!(stats.logins >= 2, "the node keeps recovering: {stats:?}");
        // The fake server counts accepts; the last connect may still be
        // in its accept queue.
        let accepted = s.connections();
        assert!(
            accepted <= stats.connect_attempts && accepted + 1 >= stats.connect_attempts,
            "{accepted} accepted, {stats:?}"
        );
    }
    println!("flapping: {logins} logins over 20 nodes in {window:?}, {ticks} ticks");
}

#[test]
fn server_that_stops_reading_gives_backpressure_not_a_stall() {
    let _w = Watchdog::new("stops reading", Duration::from_secs(30));
    let stuck = server(Faults {
        stop_reading_after_login: true,
        ..Faults::default()
    });
    let fine = server(Faults::default());
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let mut cfg = config("stuck");
    cfg.max_write_buffer = 256 << 10;
    cfg.heartbeat_interval = None;
    cfg.action_timeout = Duration::from_secs(20);
    let a = mux.add_server(stuck.addr(), cfg).expect("config");
    let b = mux.add_server(fine.addr(), config("fine")).expect("config");
    all_ready(&mut mux, &[a, b], Duration::from_secs(5));
    let mut refused = None;
    let mut submitted = 0;
    let mut max_tick = Duration::ZERO;
    let mut pings = 0;
    for _ in 0..2000 {
        match mux.submit_handle(a, big_user_event("Stuck")) {
            Ok(_) => submitted += 1,
            Err(e) => {
                refused = Some(e);
                break;
            }
        }
        let summary = mux.tick(Duration::ZERO);
        max_tick = max_tick.max(summary.elapsed);
        // The other node keeps working meanwhile.
        if submitted % 10 == 0 {
            let ping = mux.submit_handle(b, Action::ping()).expect("ping b");
            tick_until(&mut mux, Duration::from_secs(2), "ping b", |_, s| {
                max_tick = max_tick.max(s.elapsed);
                ping.is_done()
            });
            assert!(matches!(ping.try_take(), Some(Ok(_))));
            pings += 1;
        }
    }
    let stats = mux.stats(a).expect("node").session;
    println!(
        "stops reading: {submitted} actions ({} KiB) accepted before refusal, \
         {} B buffered in the core; {pings} pings on the other node; longest tick {max_tick:?}",
        stats.bytes_out / 1024,
        stats.write_buffered
    );
    assert!(
        matches!(
            refused,
            Some(SubmitError::Refused(SendError::WriteBufferFull { .. }))
        ),
        "{refused:?}"
    );
    assert!(stats.write_buffered <= 256 << 10);
    assert!(mux.is_ready(a), "back-pressure is not a disconnect");
    assert!(max_tick < Duration::from_millis(500), "{max_tick:?}");
}

#[test]
fn bad_credentials_are_not_retried_in_a_hot_loop() {
    let _w = Watchdog::new("auth loop", Duration::from_secs(20));
    let srv = server(Faults::default());
    let mut cfg = config("wrong");
    cfg.secret = "wrong".into();
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let node = mux.add_server(srv.addr(), cfg).expect("config");
    let started = Instant::now();
    while started.elapsed() < Duration::from_millis(1500) {
        mux.tick(Duration::from_millis(100));
    }
    let stats = mux.stats(node).expect("node");
    // One attempt; the next waits at least the 5 s floor (30 s by default).
    assert_eq!(stats.connect_attempts, 1, "{stats:?}");
    assert_eq!(stats.logins, 0);
    match mux.node_state(node) {
        Some(ami_blocking::NodeState::Backoff { retry_at }) => {
            assert!(retry_at >= started + Duration::from_secs(5), "{retry_at:?}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn login_has_its_own_deadline() {
    let _w = Watchdog::new("login deadline", Duration::from_secs(20));
    // The server accepts, then says nothing for 3 s.
    let srv = server(Faults {
        accept_delay: Some(Duration::from_secs(3)),
        ..Faults::default()
    });
    let mut cfg = config("slow");
    cfg.login_timeout = Duration::from_millis(300);
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let node = mux.add_server(srv.addr(), cfg).expect("config");
    let started = Instant::now();
    tick_until(&mut mux, Duration::from_secs(3), "login timeout", |m, _| {
        matches!(
            m.node_state(node),
            Some(ami_blocking::NodeState::Backoff { .. })
        )
    });
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(300), "{took:?}");
    assert!(took < Duration::from_millis(1500), "{took:?}");
    let stats = mux.stats(node).expect("node");
    assert_eq!(stats.failures, 1);
    assert_eq!(
        stats.session.actions_sent, 0,
        "nothing sent before the banner"
    );
}

/// `n` fake servers with `faults`, each added to a new multiplexer as node
/// `{prefix}{i}` (the servers must outlive the test's use of the nodes).
fn mux_over_servers(
    n: usize,
    faults: Faults,
    prefix: &str,
) -> (
    Vec<ami_testkit::TcpServer>,
    Multiplexer,
    Vec<ami_blocking::NodeId>,
) {
    let servers: Vec<_> = (0..n).map(|_| server(faults.clone())).collect();
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let nodes = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            mux.add_server(s.addr(), config(&format!("{prefix}{i}")))
                .expect("config")
        })
        .collect();
    (servers, mux, nodes)
}

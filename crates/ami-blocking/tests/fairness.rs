//! Fairness: 50 servers on one multiplexer, one of them flooding. The quiet
//! nodes' ping latency must stay bounded (DESIGN invariant 9).

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ami_blocking::{Multiplexer, MuxConfig};
use ami_proto::Action;
use ami_testkit::{Faults, Flood};
use common::{all_ready, config, percentile, server, Watchdog};

#[test]
fn quiet_nodes_stay_responsive_while_one_floods() {
    let _w = Watchdog::new("fairness", Duration::from_secs(50));
    let flooder = server(Faults {
        flood: Some(Flood {
            events: 5_000_000,
            rate_per_sec: None,
            then_done: false,
        }),
        ..Faults::default()
    });
    let quiet: Vec<_> = (0..49).map(|_| server(Faults::default())).collect();
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let mut cfg = config("flood");
    cfg.event_queue = 100_000;
    let noisy = mux.add_server(flooder.addr(), cfg).expect("config");
    let nodes: Vec<_> = quiet
        .iter()
        .enumerate()
        .map(|(i, s)| {
            mux.add_server(s.addr(), config(&format!("q{i}")))
                .expect("config")
        })
        .collect();
    let mut all = nodes.clone();
    all.push(noisy);
    all_ready(&mut mux, &all, Duration::from_secs(15));

    let latencies = Arc::new(Mutex::new(Vec::new()));
    let in_flight = Arc::new(Mutex::new(vec![false; nodes.len()]));
    let started = Instant::now();
    let window = Duration::from_secs(3);
    let mut flood_events = 0u64;
    let mut ticks = 0u64;
    let mut longest_tick = Duration::ZERO;
    while started.elapsed() < window {
        for (i, &n) in nodes.iter().enumerate() {
            if in_flight.lock().unwrap()[i] {
                continue;
            }
            in_flight.lock().unwrap()[i] = true;
            let (lat, busy, sent) = (latencies.clone(), in_flight.clone(), Instant::now());
            mux.submit(n, Action::ping(), move |r| {
                assert!(r.is_ok(), "{r:?}");
                lat.lock().unwrap().push(sent.elapsed());
                busy.lock().unwrap()[i] = false;
            })
            .expect("quiet node takes a ping");
        }
        let summary = mux.tick(Duration::from_millis(20));
        longest_tick = longest_tick.max(summary.elapsed);
        ticks += 1;
        flood_events += mux.events().filter(|(n, _)| *n == noisy).count() as u64;
    }
    let mut samples = std::mem::take(&mut *latencies.lock().unwrap());
    let n = samples.len();
    let p50 = percentile(&mut samples, 50.0);
    let p99 = percentile(&mut samples, 99.0);
    let max = *samples.last().expect("samples");
    let rate = flood_events as f64 / window.as_secs_f64();
    println!(
        "fairness: {n} pings on 49 quiet nodes, p50 {p50:?}, p99 {p99:?}, max {max:?}; \
         flooding node delivered {flood_events} events ({rate:.0}/s); {ticks} ticks, longest {longest_tick:?}"
    );
    assert!(n >= 49 * 5, "too few pings completed: {n}");
    // Generous for a debug build on a shared 2-core machine; the release
    // target (DESIGN: p99 <= 5 ms) is measured by the bench.
    assert!(p99 < Duration::from_millis(250), "p99 {p99:?}");
    assert!(
        flood_events > 10_000,
        "the noisy node is not starved either"
    );
}

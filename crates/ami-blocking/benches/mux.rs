//! Multiplexer benchmark: event throughput and CPU per event at 1, 10 and
//! 100 servers, and quiet nodes' ping latency while one node floods.
//!
//! Run with `cargo bench -p ami-blocking --bench mux` (add `-- --quick` for
//! a shorter run). The fake servers run in this process on 127.0.0.1; the
//! CPU figures are the multiplexer thread's own (`/proc/thread-self/schedstat`
//! on Linux), so the servers' work is not counted; "cpu ns/event" covers
//! the whole row, connecting and logging in every node included ("setup cpu
//! ms" is that part alone). Not a timed test: it prints figures and asserts
//! nothing.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ami_blocking::{Multiplexer, MuxConfig, NodeId};
use ami_proto::{Action, Config};
use ami_testkit::{Faults, Flood, ServerConfig, TcpServer};

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    let total: u64 = if quick { 100_000 } else { 600_000 };
    println!("ami-blocking multiplexer bench ({total} events in total per row)");
    println!(
        "{:>8} {:>10} {:>10} {:>12} {:>14} {:>14} {:>10} {:>12}",
        "servers",
        "events",
        "wall ms",
        "events/s",
        "cpu ns/event",
        "setup cpu ms",
        "ticks",
        "events/tick"
    );
    for servers in [1usize, 10, 100] {
        flood_row(servers, total);
    }
    println!();
    fairness_row(100, if quick { 1 } else { 3 });
}

fn server_config() -> ServerConfig {
    ServerConfig {
        auth_failure_delay: Duration::ZERO,
        ..ServerConfig::default()
    }
}

fn client_config(name: &str, i: usize) -> Config {
    let mut c = Config::new(name, "admin", "amp111");
    c.seed = 0xbe4c_0000 + i as u64;
    c.event_queue = 100_000;
    c
}

fn start(n: usize, faults: impl Fn(usize) -> Faults) -> Vec<TcpServer> {
    (0..n)
        .map(|i| TcpServer::start(server_config(), faults(i)).expect("fake server"))
        .collect()
}

fn connect_all(mux: &mut Multiplexer, servers: &[TcpServer]) -> Vec<NodeId> {
    let nodes: Vec<_> = servers
        .iter()
        .enumerate()
        .map(|(i, s)| {
            mux.add_server(s.addr(), client_config(&format!("b{i}"), i))
                .expect("valid config")
        })
        .collect();
    let end = Instant::now() + Duration::from_secs(30);
    while !nodes.iter().all(|&n| mux.is_ready(n)) {
        assert!(Instant::now() < end, "servers did not all log in");
        mux.tick(Duration::from_millis(10));
    }
    nodes
}

/// `servers` nodes each flood `total / servers` events; the row ends when
/// every node's `BenchDone` arrived.
fn flood_row(servers: usize, total: u64) {
    let per = total / servers as u64;
    // The floods start at login; the clock starts before connecting.
    let fleet = start(servers, |_| Faults::flood(per));
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let cpu0 = thread_cpu();
    let t0 = Instant::now();
    let nodes = connect_all(&mut mux, &fleet);
    let setup = thread_cpu().zip(cpu0).map(|(a, b)| a.saturating_sub(b));
    let mut done = 0;
    let mut events = 0u64;
    let mut ticks = 0u64;
    let end = Instant::now() + Duration::from_secs(120);
    while done < nodes.len() && Instant::now() < end {
        mux.tick(Duration::from_millis(50));
        ticks += 1;
        for (_, event) in mux.events() {
            if event.is("BenchDone") {
                done += 1;
            } else {
                events += 1;
            }
        }
    }
    let wall = t0.elapsed();
    let cpu = thread_cpu().zip(cpu0).map(|(a, b)| a.saturating_sub(b));
    let dropped: u64 = nodes
        .iter()
        .filter_map(|&n| mux.stats(n))
        .map(|s| s.session.events_dropped_full)
        .sum();
    println!(
        "{:>8} {:>10} {:>10.1} {:>12.0} {:>14} {:>14} {:>10} {:>12.1}{}",
        servers,
        events,
        wall.as_secs_f64() * 1e3,
        events as f64 / wall.as_secs_f64(),
        cpu.map_or("n/a".into(), |c| format!(
            "{:.0}",
            c.as_nanos() as f64 / events.max(1) as f64
        )),
        setup.map_or("n/a".into(), |c| format!("{:.1}", c.as_secs_f64() * 1e3)),
        ticks,
        events as f64 / ticks.max(1) as f64,
        if dropped > 0 {
            format!("  ({dropped} dropped)")
        } else {
            String::new()
        }
    );
    mux.shutdown(Instant::now() + Duration::from_secs(2));
}

/// `servers - 1` quiet nodes pinged in a loop while node 0 floods.
fn fairness_row(servers: usize, secs: u64) {
    let fleet = start(servers, |i| {
        if i == 0 {
            Faults {
                flood: Some(Flood {
                    events: u64::MAX / 2,
                    rate_per_sec: None,
                    then_done: false,
                }),
                ..Faults::default()
            }
        } else {
            Faults::default()
        }
    });
    let mut mux = Multiplexer::new(MuxConfig::default()).expect("poller");
    let nodes = connect_all(&mut mux, &fleet);
    let latencies = Arc::new(Mutex::new(Vec::new()));
    let busy = Arc::new(Mutex::new(vec![false; servers]));
    let window = Duration::from_secs(secs);
    let t0 = Instant::now();
    let mut flood = 0u64;
    while t0.elapsed() < window {
        for (i, &n) in nodes.iter().enumerate().skip(1) {
            if busy.lock().expect("lock")[i] {
                continue;
            }
            busy.lock().expect("lock")[i] = true;
            let (lat, b, sent) = (latencies.clone(), busy.clone(), Instant::now());
            let submitted = mux.submit(n, Action::ping(), move |_| {
                lat.lock().expect("lock").push(sent.elapsed());
                b.lock().expect("lock")[i] = false;
            });
            if submitted.is_err() {
                busy.lock().expect("lock")[i] = false;
            }
        }
        mux.tick(Duration::from_millis(20));
        flood += mux.events().count() as u64;
    }
    let mut samples = std::mem::take(&mut *latencies.lock().expect("lock"));
    samples.sort();
    let pct = |p: f64| samples[((samples.len() - 1) as f64 * p) as usize];
    println!(
        "{servers} servers, node 0 flooding: {} pings on {} quiet nodes in {secs} s; \
         ping p50 {:?}, p99 {:?}, max {:?}; flood delivered {flood} events ({:.0}/s)",
        samples.len(),
        servers - 1,
        pct(0.50),
        pct(0.99),
        samples.last().expect("samples"),
        flood as f64 / window.as_secs_f64(),
    );
    mux.shutdown(Instant::now() + Duration::from_secs(2));
}

/// CPU time this thread has used, where the OS tells it without `unsafe`.
fn thread_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    let ns: u64 = stat.split_whitespace().next()?.parse().ok()?;
    Some(Duration::from_nanos(ns))
}

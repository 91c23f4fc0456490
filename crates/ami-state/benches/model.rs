//! The live model's cost per event, beside the plain decode of the same
//! bytes in the same run.
//!
//! `cargo bench -p ami-state --bench model`
//!
//! Two event mixes, each decoded from one buffer:
//! - a call centre: the simulated server of the tests (`tests/support/pbx.rs`):
//!   callers queueing, agents rung (some not answering), connected in
//!   bridges, hanging up or transferred, a dialer originating calls (the
//!   sends are fed to the model where they happened), pauses, hint and
//!   device states, with the noise the model skips (`VarSet`, `Cdr`);
//! - a dialer: `ami-testkit`'s `TrafficSim`, the event flood of the other
//!   benchmarks (17 events per call, no queues).
//!
//! For each: the decoder alone (events/s); the decoder with every event
//! applied to a model and its changes drained (events/s, and the share of
//! the decoder's rate kept); the same two for the plain event flood of a
//! logged-in `Connection` fed 64 KB reads (what an adapter runs, as the
//! core's `decode` bench does); the model alone over events decoded
//! beforehand (ns per event, allocations per event, changes per event).
//! The target: the flood with the model kept current stays at
//! 2 M events/s or more. `AMI_BENCH_MB` shrinks each mix (e.g. to 2 for
//! callgrind, whose instruction counts are steady on a busy machine).
#![allow(unsafe_code)] // The counting allocator only.
#![allow(missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ami_proto::{Action, ActionId, AuthMethod, Config, Connection, Decoder, Event, Frame, Output};
use ami_state::Model;
use ami_testkit::TrafficSim;
use bytes::Bytes;
use support::pbx::{Item, Pbx};

struct Counting;

static ALLOCS: AtomicU64 = AtomicU64::new(0);

// SAFETY: forwards to the system allocator unchanged; only counts calls.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

const RUNS: usize = 5;

/// One mix: the bytes, and the Originates sent, each after the number of
/// events that preceded it.
struct Mix {
    name: &'static str,
    bytes: Bytes,
    sends: Vec<(usize, ActionId, Action)>,
}

fn call_centre(target_bytes: usize) -> Mix {
    let mut pbx = Pbx::new(7);
    let mut bytes = Vec::with_capacity(target_bytes + (1 << 16));
    let mut sends = Vec::new();
    let mut events = 0;
    while bytes.len() < target_bytes {
        for item in pbx.tick() {
            match item {
                Item::Wire(text) => {
                    events += text.matches("\r\n\r\n").count();
                    bytes.extend_from_slice(text.as_bytes());
                }
                Item::Sent(id, action) => sends.push((events, id, action)),
            }
        }
    }
    Mix {
        name: "call centre",
        bytes: bytes.into(),
        sends,
    }
}

fn dialer(target_bytes: usize) -> Mix {
    let mut sim = TrafficSim::new(7);
    let mut bytes = Vec::with_capacity(target_bytes + (1 << 16));
    while bytes.len() < target_bytes {
        bytes.extend_from_slice(&sim.event_bytes(1300));
    }
    Mix {
        name: "dialer",
        bytes: bytes.into(),
        sends: Vec::new(),
    }
}

fn next_event(decoder: &mut Decoder) -> Option<Event> {
    loop {
        match decoder.next_frame()? {
            Ok(Frame::Event(event)) => return Some(event),
            Ok(_) => {}
            Err(e) => panic!("the mix decodes: {e}"),
        }
    }
}

/// A copy of the mix's bytes that the decoder can take over without
/// copying them again (made before the clock starts).
fn fresh(mix: &Mix) -> Option<Bytes> {
    Some(Bytes::from(mix.bytes.to_vec()))
}

/// The decoder alone: events made from the whole buffer.
fn decode_only(bytes: Bytes) -> usize {
    let mut decoder = Decoder::without_banner(4 << 20);
    decoder.push_bytes(bytes);
    let mut n = 0;
    while let Some(event) = next_event(&mut decoder) {
        black_box(&event);
        n += 1;
    }
    n
}

/// The decoder feeding a model, changes drained as they come.
fn decode_and_model(bytes: Bytes, mix: &Mix, model: &mut Model) -> usize {
    let mut decoder = Decoder::without_banner(4 << 20);
    decoder.push_bytes(bytes);
    let mut sends = mix.sends.iter().peekable();
    let mut n = 0;
    while let Some(event) = next_event(&mut decoder) {
        while let Some((_, id, action)) = sends.next_if(|(at, ..)| *at <= n) {
            model.handle_sent(id, action);
        }
        model.handle_event(&event);
        while let Some(change) = model.poll_change() {
            black_box(change);
        }
        n += 1;
    }
    n
}

/// A connection logged in (plain, no heartbeat), ready for the flood.
fn ready_connection() -> Connection {
    let mut config = Config::new("bench", "admin", "secret");
    config.auth = AuthMethod::Plain;
    config.heartbeat_interval = None;
    let now = Instant::now();
    let mut conn = Connection::new(config, now).expect("config");
    conn.handle_input(b"Asterisk Call Manager/11.0.0\r\n", now);
    let login = conn.poll_transmit().expect("the Login").to_vec();
    conn.advance(login.len());
    let login = String::from_utf8(login).expect("ASCII");
    let id = login
        .lines()
        .find_map(|l| l.strip_prefix("ActionID: "))
        .expect("an ActionID");
    conn.handle_input(
        format!("Response: Success\r\nActionID: {id}\r\n\r\n").as_bytes(),
        now,
    );
    while conn.poll_output().is_some() {}
    assert!(conn.is_ready());
    conn
}

/// The plain flood: the mix's bytes fed to a logged-in connection as
/// 64 KB reads, every event taken out; with a model, each applied and the
/// changes drained.
fn flood(conn: &mut Connection, mix: &Mix, mut model: Option<&mut Model>) -> usize {
    let now = Instant::now();
    let mut sends = mix.sends.iter().peekable();
    let mut n = 0;
    for chunk in mix.bytes.chunks(64 << 10) {
        conn.handle_input(chunk, now);
        while let Some(out) = conn.poll_output() {
            let Output::Event(event) = out else {
                continue;
            };
            if let Some(model) = model.as_deref_mut() {
                while let Some((_, id, action)) = sends.next_if(|(at, ..)| *at <= n) {
                    model.handle_sent(id, action);
                }
                model.handle_event(&event);
                while let Some(change) = model.poll_change() {
                    black_box(change);
                }
            }
            black_box(&event);
            n += 1;
        }
    }
    n
}

/// Every header of every event walked once: what any reader of whole
/// events pays before it looks at a value.
fn walk_headers(events: &[Event]) -> usize {
    events.iter().map(|e| e.headers().iter().count()).sum()
}

/// The model alone, over events decoded beforehand; the changes it made.
fn model_only(events: &[Event], mix: &Mix, model: &mut Model) -> usize {
    let mut sends = mix.sends.iter().peekable();
    let mut changes = 0;
    for (n, event) in events.iter().enumerate() {
        while let Some((_, id, action)) = sends.next_if(|(at, ..)| *at <= n) {
            model.handle_sent(id, action);
        }
        model.handle_event(event);
        while model.poll_change().is_some() {
            changes += 1;
        }
    }
    changes
}

/// Best of [`RUNS`] timings of `run`, each on a fresh input from `prepare`
/// (neither building nor dropping it is timed).
fn best<T>(mut prepare: impl FnMut() -> T, mut run: impl FnMut(&mut T)) -> Duration {
    let mut best = Duration::MAX;
    for _ in 0..RUNS {
        let mut input = prepare();
        let start = Instant::now();
        run(&mut input);
        best = best.min(start.elapsed());
        drop(input);
    }
    best
}

fn per_event(d: Duration, events: usize) -> f64 {
    d.as_nanos() as f64 / events as f64
}

fn main() {
    // `AMI_BENCH_MB` shrinks each mix (e.g. for callgrind).
    let mb = std::env::var("AMI_BENCH_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(64);
    println!("ami-state model cost (best of {RUNS} runs)");
    for mix in [call_centre(mb << 20), dialer(mb << 20)] {
        let mut decoder = Decoder::without_banner(4 << 20);
        decoder.push_bytes(mix.bytes.clone());
        let decoded: Vec<Event> = std::iter::from_fn(|| next_event(&mut decoder)).collect();
        let events = decoded.len();
        let decode = best(
            || fresh(&mix),
            |bytes| {
                black_box(decode_only(bytes.take().expect("one run")));
            },
        );
        let with_model = best(
            || (fresh(&mix), Model::default()),
            |(bytes, model)| {
                black_box(decode_and_model(
                    bytes.take().expect("one run"),
                    &mix,
                    model,
                ));
            },
        );
        let plain = best(ready_connection, |conn| {
            black_box(flood(conn, &mix, None));
        });
        let kept = best(
            || (ready_connection(), Model::default()),
            |(conn, model)| {
                black_box(flood(conn, &mix, Some(model)));
            },
        );
        let walk = best(
            || (),
            |_| {
                black_box(walk_headers(&decoded));
            },
        );
        let alone = best(Model::default, |model| {
            black_box(model_only(&decoded, &mix, model));
        });
        let mut model = Model::default();
        let before = ALLOCS.load(Ordering::Relaxed);
        let changes = model_only(&decoded, &mix, &mut model);
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        let stats = model.stats();
        let rate = |d: Duration| events as f64 / d.as_secs_f64();
        println!(
            "\n{} mix: {events} events ({:.1} headers each), {:.1} MB, {} Originates; \
             at the end {} channels, {} bridges, {} call records; {} events unplaced",
            mix.name,
            walk_headers(&decoded) as f64 / events as f64,
            mix.bytes.len() as f64 / 1e6,
            mix.sends.len(),
            model.channels().count(),
            model.bridges().count(),
            model.calls().count(),
            stats.unplaced,
        );
        println!(
            "  decode only                 {:>10.0} events/s",
            rate(decode)
        );
        println!(
            "  decode + model + changes    {:>10.0} events/s  {:.0}% of the decode",
            rate(with_model),
            100.0 * rate(with_model) / rate(decode),
        );
        println!(
            "  model's share of that       {:>10.0} ns/event",
            per_event(with_model.saturating_sub(decode), events),
        );
        println!(
            "  flood (connection, 64 KB)   {:>10.0} events/s",
            rate(plain)
        );
        println!(
            "  flood + model + changes     {:>10.0} events/s  {:.0}% of the flood (target >= 2 M/s: {})",
            rate(kept),
            100.0 * rate(kept) / rate(plain),
            if rate(kept) >= 2e6 { "met" } else { "not met" },
        );
        println!(
            "  model's share of that       {:>10.0} ns/event",
            per_event(kept.saturating_sub(plain), events),
        );
        println!(
            "  model alone                 {:>10.0} ns/event, {:.2} allocations and {:.2} changes per event",
            per_event(alone, events),
            allocs as f64 / events as f64,
            changes as f64 / events as f64,
        );
        println!(
            "  of which walking the headers{:>10.0} ns/event (any reader of whole events pays it)",
            per_event(walk, events),
        );
    }
}

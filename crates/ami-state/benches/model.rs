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
//!   benchmarks (13 events per call, no queues).
//!
//! For each: the decoder alone (events/s); the decoder with every event
//! applied to a model and its changes drained (events/s, and the share of
//! the decoder's rate kept); the model alone over events decoded
//! beforehand (ns per event, allocations per event, changes per event).
//! The target: the flood with the model kept current stays at
//! 2 M events/s or more.
#![allow(unsafe_code)] // The counting allocator only.
#![allow(missing_docs)]

#[path = "../tests/support/mod.rs"]
mod support;

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ami_proto::{Action, ActionId, Decoder, Event, Frame};
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

/// The decoder alone: events made from the whole buffer.
fn decode_only(mix: &Mix) -> usize {
    let mut decoder = Decoder::without_banner(4 << 20);
    decoder.push_bytes(mix.bytes.clone());
    let mut n = 0;
    while let Some(event) = next_event(&mut decoder) {
        black_box(&event);
        n += 1;
    }
    n
}

/// The decoder feeding a model, changes drained as they come.
fn decode_and_model(mix: &Mix, model: &mut Model) -> (usize, usize) {
    let mut decoder = Decoder::without_banner(4 << 20);
    decoder.push_bytes(mix.bytes.clone());
    let mut sends = mix.sends.iter().peekable();
    let (mut n, mut changes) = (0, 0);
    while let Some(event) = next_event(&mut decoder) {
        while let Some((_, id, action)) = sends.next_if(|(at, ..)| *at <= n) {
            model.handle_sent(id, action);
        }
        model.handle_event(&event);
        while model.poll_change().is_some() {
            changes += 1;
        }
        n += 1;
    }
    (n, changes)
}

/// The model alone, over events decoded beforehand.
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

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

fn main() {
    println!("ami-state model cost (best of {RUNS} runs)");
    for mix in [call_centre(64 << 20), dialer(64 << 20)] {
        let events = decode_only(&mix);
        let decode = best(
            || (),
            |_| {
                black_box(decode_only(&mix));
            },
        );
        let with_model = best(Model::default, |model| {
            black_box(decode_and_model(&mix, model));
        });
        let mut decoder = Decoder::without_banner(4 << 20);
        decoder.push_bytes(mix.bytes.clone());
        let decoded: Vec<Event> = std::iter::from_fn(|| next_event(&mut decoder)).collect();
        let alone = best(Model::default, |model| {
            black_box(model_only(&decoded, &mix, model));
        });
        let mut model = Model::default();
        let before = ALLOCS.load(Ordering::Relaxed);
        let changes = model_only(&decoded, &mix, &mut model);
        let allocs = ALLOCS.load(Ordering::Relaxed) - before;
        let stats = model.stats();
        let (decode_rate, model_rate) = (rate(events, decode), rate(events, with_model));
        println!(
            "\n{} mix: {events} events, {:.1} MB, {} Originates; at the end {} channels, {} bridges, {} calls held; {} unplaced",
            mix.name,
            mix.bytes.len() as f64 / 1e6,
            mix.sends.len(),
            model.channels().count(),
            model.bridges().count(),
            model.calls().count(),
            stats.unplaced,
        );
        println!("  decode only                 {decode_rate:>12.0} events/s");
        println!(
            "  decode + model + changes    {model_rate:>12.0} events/s  {:.0}% of the decode  (target >= 2 M/s: {})",
            100.0 * model_rate / decode_rate,
            if model_rate >= 2e6 { "met" } else { "NOT met" },
        );
        println!(
            "  model alone                 {:>12.0} ns/event  {:.2} allocations/event  {:.2} changes/event",
            alone.as_nanos() as f64 / events as f64,
            allocs as f64 / events as f64,
            changes as f64 / events as f64,
        );
        println!(
            "  model share of the flood    {:>12.0} ns/event (decode+model minus decode)",
            (with_model.as_nanos() as f64 - decode.as_nanos() as f64) / events as f64,
        );
    }
}

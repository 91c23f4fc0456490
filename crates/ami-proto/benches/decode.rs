//! Core throughput, each figure beside a baseline measured in the same run.
//!
//! `cargo bench -p ami-proto --bench decode` (or `cargo xtask bench`).
//!
//! - decoder vs. a bare `memchr` split of the same bytes (frames/s);
//! - a logged-in `Connection` turning the same bytes into `Event`s, with the
//!   allocations per event counted by a counting global allocator;
//! - a 100k-item event list, 4 MB of Command output in both styles;
//! - the cost of one action with 10 and with 10,000 others in flight.
#![allow(unsafe_code)] // The counting allocator only.
#![allow(missing_docs)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ami_proto::{Action, AuthMethod, Completion, Config, Connection, Decoder, Output};

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

const READ: usize = 64 << 10;

/// Event frames of the captured originate session (300-900 bytes each).
fn sample_events() -> Vec<Vec<u8>> {
    let raw = include_bytes!("../../../tests/corpus/asterisk-22/09-originate-async.raw");
    let text = std::str::from_utf8(raw).expect("ASCII");
    text.split_inclusive("\r\n\r\n")
        .filter(|f| f.starts_with("Event: ") && !f.contains("ActionID"))
        .map(|f| f.as_bytes().to_vec())
        .collect()
}

fn flood(target_bytes: usize) -> (Vec<u8>, usize) {
    let samples = sample_events();
    let mut out = Vec::with_capacity(target_bytes + 4096);
    let mut n = 0;
    while out.len() < target_bytes {
        out.extend_from_slice(&samples[n % samples.len()]);
        n += 1;
    }
    (out, n)
}

/// Best of `runs` timings of `f`.
fn best(runs: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    best_prepared(runs, || (), |()| f())
}

/// Best of `runs` timings of `run`, each given a fresh input from `prepare`.
/// Neither building the input nor dropping it is timed: they are not the
/// client's work.
fn best_prepared<T>(
    runs: usize,
    mut prepare: impl FnMut() -> T,
    mut run: impl FnMut(&mut T) -> usize,
) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut count = 0;
    for _ in 0..runs {
        let mut input = prepare();
        let start = Instant::now();
        count = run(&mut input);
        best = best.min(start.elapsed());
        drop(input);
    }
    (best, count)
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

/// A row: `n` things in `time`, and that rate's share of the split's.
fn versus_split(label: &str, unit: &str, n: usize, time: Duration, split_rate: f64) -> String {
    let r = rate(n, time);
    format!(
        "{label:<26}{r:>12.0} {unit}/s  {:.0}% of the split",
        100.0 * r / split_rate
    )
}

fn memchr_split(bytes: &[u8]) -> usize {
    memchr::memmem::Finder::new(b"\r\n\r\n")
        .find_iter(bytes)
        .count()
}

/// The bytes copied in as 64 KB reads.
fn decode_reads(bytes: &[u8]) -> usize {
    let mut decoder = Decoder::without_banner(4 << 20);
    let mut frames = 0;
    for chunk in bytes.chunks(READ) {
        decoder.push(chunk);
        frames += drain(&mut decoder);
    }
    frames
}

/// A decoder holding the whole buffer, handed over without a copy.
fn holding(bytes: &[u8]) -> Decoder {
    let mut decoder = Decoder::without_banner(4 << 20);
    decoder.push_bytes(bytes.to_vec().into());
    decoder
}

fn drain(decoder: &mut Decoder) -> usize {
    let mut frames = 0;
    while let Some(frame) = decoder.next_frame() {
        black_box(frame.is_ok());
        frames += 1;
    }
    frames
}

fn ready_connection(configure: impl FnOnce(&mut Config)) -> (Connection, Instant) {
    let mut config = Config::new("bench", "admin", "secret");
    config.auth = AuthMethod::Plain;
    config.heartbeat_interval = None;
    configure(&mut config);
    let now = Instant::now();
    let mut conn = Connection::new(config, now).expect("config");
    conn.handle_input(b"Asterisk Call Manager/11.0.0\r\n", now);
    let id = take_id(&mut conn);
    conn.handle_input(
        format!("Response: Success\r\nActionID: {id}\r\n\r\n").as_bytes(),
        now,
    );
    while conn.poll_output().is_some() {}
    assert!(conn.is_ready());
    (conn, now)
}

fn take_id(conn: &mut Connection) -> String {
    let bytes = conn.poll_transmit().expect("bytes to send").to_vec();
    conn.advance(bytes.len());
    let text = String::from_utf8(bytes).expect("ASCII");
    let id = text
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("ActionID: "))
        .expect("an ActionID");
    id.to_owned()
}

fn connection_events(bytes: &[u8]) -> usize {
    let (mut conn, now) = ready_connection(|_| {});
    let mut events = 0;
    for chunk in bytes.chunks(READ) {
        conn.handle_input(chunk, now);
        while let Some(out) = conn.poll_output() {
            if let Output::Event(e) = out {
                black_box(e.name());
                events += 1;
            }
        }
    }
    events
}

/// A connection awaiting the answer to an action, and the server's reply.
struct Reply {
    conn: Connection,
    now: Instant,
    bytes: String,
}

/// The reply fed as the server's reads; what `take` finds in the completion.
fn feed(reply: &mut Reply, take: impl Fn(Completion) -> usize) -> usize {
    let Reply { conn, now, bytes } = reply;
    let mut got = 0;
    for chunk in bytes.as_bytes().chunks(READ) {
        conn.handle_input(chunk, *now);
        while let Some(out) = conn.poll_output() {
            if let Output::Completion { result: Ok(c), .. } = out {
                got = take(c);
            }
        }
    }
    got
}

fn list_reply(items: usize) -> Reply {
    let (mut conn, now) = ready_connection(|c| c.max_list_items = items + 1);
    conn.send(Action::core_show_channels(), now).expect("send");
    let id = take_id(&mut conn);
    let mut bytes = format!("Response: Success\r\nActionID: {id}\r\nEventList: start\r\n\r\n");
    let item = format!(
        "Event: CoreShowChannel\r\nActionID: {id}\r\nChannel: PJSIP/100-00000001\r\n\
         ChannelState: 6\r\nChannelStateDesc: Up\r\nCallerIDNum: 100\r\nContext: default\r\n\
         Exten: 200\r\nPriority: 1\r\nUniqueid: 1700000000.1\r\nLinkedid: 1700000000.1\r\n\
         Application: Dial\r\nDuration: 00:00:10\r\n\r\n"
    );
    for _ in 0..items {
        bytes += &item;
    }
    bytes += &format!(
        "Event: CoreShowChannelsComplete\r\nActionID: {id}\r\nEventList: Complete\r\nListItems: {items}\r\n\r\n"
    );
    Reply { conn, now, bytes }
}

fn list_items(completion: Completion) -> usize {
    match completion {
        Completion::List(list) => list.items.len(),
        _ => 0,
    }
}

fn command_reply(bytes: usize, legacy: bool) -> (String, usize) {
    let line = "SIP/trunk-0001  (None)  Up  Dial(PJSIP/100)  00:01:02  1700000000.1\n";
    let lines = bytes / line.len();
    let mut body = String::with_capacity(bytes + lines * 10);
    if legacy {
        body += "Response: Follows\r\nPrivilege: Command\r\nActionID: {id}\r\n";
        for _ in 0..lines {
            body += line;
        }
        body += "--END COMMAND--\r\n\r\n";
    } else {
        body += "Response: Success\r\nActionID: {id}\r\nMessage: Command output follows\r\n";
        for _ in 0..lines {
            body += "Output: ";
            body += line.trim_end();
            body += "\r\n";
        }
        body += "\r\n";
    }
    (body, lines)
}

fn command_prepared(template: &str) -> Reply {
    let (mut conn, now) = ready_connection(|_| {});
    conn.send(Action::command("core show channels"), now)
        .expect("send");
    let id = take_id(&mut conn);
    let bytes = template.replacen("{id}", &id, 1);
    Reply { conn, now, bytes }
}

fn command_lines(completion: Completion) -> usize {
    match completion {
        Completion::Command(output) => output.lines.len(),
        _ => 0,
    }
}

/// Time per action (send + response) with `in_flight` others pending.
fn pending_cost(in_flight: usize, rounds: usize) -> Duration {
    let (mut conn, mut now) = ready_connection(|c| c.max_pending = in_flight + 10);
    let mut ids = std::collections::VecDeque::new();
    // Actions go out one virtual microsecond apart, as real ones never share
    // an instant (so deadlines differ, as they would).
    let mut tick = || {
        now += Duration::from_micros(1);
        now
    };
    for _ in 0..in_flight {
        conn.send(Action::ping(), tick()).expect("send");
        ids.push_back(take_id(&mut conn));
    }
    let start = Instant::now();
    for _ in 0..rounds {
        let now = tick();
        conn.send(Action::ping(), now).expect("send");
        ids.push_back(take_id(&mut conn));
        let oldest = ids.pop_front().expect("pending");
        conn.handle_input(
            format!("Response: Success\r\nActionID: {oldest}\r\nPing: Pong\r\n\r\n").as_bytes(),
            now,
        );
        while let Some(out) = conn.poll_output() {
            black_box(&out);
        }
    }
    start.elapsed() / rounds as u32
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return; // `cargo test --benches` asks for a list; there are no tests here.
    }
    // `AMI_BENCH_MB` shrinks the input (e.g. for callgrind); `AMI_BENCH_ONLY`
    // names the parts to run (decoder, events, list, command, pending), e.g.
    // one at a time under a profiler.
    const PARTS: [&str; 5] = ["decoder", "events", "list", "command", "pending"];
    let only = std::env::var("AMI_BENCH_ONLY").unwrap_or_default();
    let only: Vec<&str> = only.split(',').filter(|p| !p.is_empty()).collect();
    if let Some(bad) = only.iter().find(|p| !PARTS.contains(p)) {
        eprintln!("AMI_BENCH_ONLY: unknown part {bad:?}; the parts are {PARTS:?}");
        std::process::exit(2);
    }
    if only.is_empty() {
        // Each part in a process of its own: the allocator's state left by
        // one part (which memory it kept, which it handed back) moved the
        // next part's figures by up to 2x.
        for group in ["decoder,events", "list", "command", "pending"] {
            let status = std::process::Command::new(std::env::current_exe().expect("own path"))
                .env("AMI_BENCH_ONLY", group)
                .status()
                .expect("the bench runs");
            assert!(status.success(), "part {group} failed");
        }
        return;
    }
    let wanted = |part: &str| only.contains(&part);
    let mb = std::env::var("AMI_BENCH_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(64);

    if wanted("decoder") || wanted("events") {
        let (bytes, frames) = flood(mb << 20);
        println!(
            "input: {} MiB, {} event frames ({} B mean)",
            bytes.len() >> 20,
            frames,
            bytes.len() / frames
        );
        let (split_time, split_frames) = best(5, || memchr_split(&bytes));
        assert_eq!(split_frames, frames);
        let split_rate = rate(frames, split_time);
        println!("memchr split (baseline)   {:>12.0} frames/s", split_rate);
        if wanted("decoder") {
            // The split's own terms: the buffer as it lies. Then as a socket
            // client gets it: 64 KB reads, each copied in.
            let whole = best_prepared(5, || holding(&bytes), drain);
            let reads = best(5, || decode_reads(&bytes));
            for (label, (time, decoded)) in [
                ("decoder, same buffer", whole),
                ("decoder, 64 KB reads", reads),
            ] {
                assert_eq!(decoded, frames);
                println!(
                    "{}  {:.0} MB/s",
                    versus_split(label, "frames", frames, time, split_rate),
                    bytes.len() as f64 / time.as_secs_f64() / 1e6
                );
            }
        }
        if wanted("events") {
            let before = ALLOCS.load(Ordering::Relaxed);
            let (event_time, events) = best(1, || connection_events(&bytes));
            let allocs = ALLOCS.load(Ordering::Relaxed) - before;
            assert_eq!(events, frames);
            println!(
                "{}  {:.2} allocations/event",
                versus_split(
                    "connection -> events",
                    "events",
                    events,
                    event_time,
                    split_rate
                ),
                allocs as f64 / events as f64
            );
        }
    }

    if wanted("list") {
        let (list_time, items) = best_prepared(3, || list_reply(100_000), |r| feed(r, list_items));
        assert_eq!(items, 100_000);
        println!(
            "event list, 100k items    {:>12.0} items/s",
            rate(items, list_time)
        );
    }

    if wanted("command") {
        for legacy in [false, true] {
            let (template, lines) = command_reply(4 << 20, legacy);
            let (time, got) = best_prepared(
                5,
                || command_prepared(&template),
                |r| feed(r, command_lines),
            );
            assert_eq!(got, lines);
            println!(
                "Command output 4 MB {:<7}{:>9.0} MB/s",
                if legacy { "legacy" } else { "Output:" },
                template.len() as f64 / time.as_secs_f64() / 1e6
            );
        }
    }

    if wanted("pending") {
        let small = pending_cost(10, 20_000);
        let large = pending_cost(10_000, 20_000);
        println!(
            "per action, 10 in flight  {:>9.2} us; 10,000 in flight {:.2} us (x{:.2})",
            small.as_secs_f64() * 1e6,
            large.as_secs_f64() * 1e6,
            large.as_secs_f64() / small.as_secs_f64()
        );
    }
}

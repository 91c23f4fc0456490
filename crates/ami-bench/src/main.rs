//! End-to-end loopback benchmarks: our clients, the best peer
//! (`asterisk-rs-ami`) and a raw-socket baseline side by side, against the
//! same server in the same run (`cargo xtask bench`, which builds the
//! clients first; `--quick` for short runs).
//!
//! Every client is a program obeying `shared/BENCH-CONTRACT.md`, run in a
//! process of its own against a fresh `server::Server` on 127.0.0.1: the
//! baselines and our in-process variants are built in (`ami-bench client
//! NAME`, see `clients`), `ami-bench-client` (ami-cli) and
//! `peer-asterisk-rs` (`src/bin`) are binaries beside this one. The server
//! times each run, from the start of the work to the client's Logoff, and
//! reads the client's CPU time and peak RSS (`VmHWM`) when it logs off.
//! Each client runs `ROUNDS` times, interleaved with the others, and its
//! fastest run is shown; a client that cannot do a case shows its error.
//!
//! Parts (name some to run only those; the server check always runs first,
//! `check` alone runs nothing else): `flood` (events parsed into event
//! objects), `ping` (one and 64 in flight, and one in flight with the
//! server and the client on one CPU), `list` (100k-item
//! CoreShowChannels), `command` (4 MiB of output, both styles), `cluster`
//! (CPU per event of an `ami-smol` `Cluster` of 1, 10 and 100 flooding
//! connections).
//!
//! The baselines are only worth their name if the server, not the client,
//! is never what limits them. So the bench first measures the raw split
//! reader on a flood and fails (exit 1) if it makes less than
//! `MIN_RAW_EVENTS_PER_SEC`; on a machine known to be slower, say so
//! explicitly with `AMI_BENCH_MIN_RAW=<events per second>`.
//!
//! `ami-bench serve` runs the server alone (answers only: Login, Ping,
//! Logoff; `ami-bench serve list ITEMS` serves CoreShowChannels lists of
//! `ITEMS` items too), printing its address, until its standard input
//! closes: for tracing or profiling one client by hand, e.g. `strace -c -f
//! ami-bench client smol 127.0.0.1 PORT ping 40000 1`, or `perf stat
//! ami-bench client raw-keep 127.0.0.1 PORT list 100000 10`.
//!
//! To profile the clients, name a tool in `AMI_BENCH_WRAP`, e.g.
//! `AMI_BENCH_WRAP='perf record -g -o OUT'` or
//! `AMI_BENCH_WRAP='valgrind --tool=callgrind --callgrind-out-file=OUT'`:
//! each client runs under it, `OUT` naming a file per run in the temp dir.

mod affinity;
mod clients;
mod run;
mod server;
mod usage;

use std::process::ExitCode;

use run::{Case, Client, Outcome, Program};
use server::{Serve, Start, LINE};

/// Runs of each client; the fastest counts (see `run::best`).
const ROUNDS: usize = 3;

/// The least the raw split reader must make on a flood from the bench
/// server for the baselines to be client-bound (DESIGN.md, "Performance
/// targets"); `AMI_BENCH_MIN_RAW` overrides it.
const MIN_RAW_EVENTS_PER_SEC: f64 = 10e6;

const RAW: Client = Client {
    label: "raw socket + memchr (baseline)",
    program: Program::Own("raw"),
    start: Start::Login,
};
/// A floor diagnostic, not a baseline (the list's ratios stay against
/// `RAW`): the raw list reader keeping every byte of each list until it
/// completes, as any collecting client must (`clients::raw_keep_list`).
const RAW_KEEP: Client = Client {
    label: "raw, keeping each list (floor, not base)",
    program: Program::Own("raw-keep"),
    start: Start::Login,
};
const SMOL: Client = Client {
    label: "ami-smol, default bounds",
    program: Program::Own("smol"),
    start: Start::Login,
};
const SMOL_LOCAL: Client = Client {
    label: "ami-smol, default bounds, one thread",
    program: Program::Own("smol-local"),
    start: Start::Login,
};
const TOKIO: Client = Client {
    label: "ami-tokio, default bounds",
    program: Program::Own("tokio"),
    start: Start::Login,
};
const TOKIO_LOCAL: Client = Client {
    label: "ami-tokio, default bounds, one thread",
    program: Program::Own("tokio-local"),
    start: Start::Login,
};
const BENCH_CLIENT: Client = Client {
    label: "ami-smol (ami-bench-client)",
    program: Program::Beside {
        binary: "ami-bench-client",
        build: "cargo build --release -p ami-cli --bin ami-bench-client",
    },
    start: Start::Login,
};
const BLOCKING: Client = Client {
    label: "ami-blocking",
    program: Program::Own("blocking"),
    start: Start::Login,
};
const ASYNC_RAW: Client = Client {
    label: "raw loop over async-io",
    program: Program::Own("async-raw"),
    start: Start::Login,
};
const TOKIO_RAW: Client = Client {
    label: "raw loop over tokio (one thread)",
    program: Program::Own("tokio-raw"),
    start: Start::Login,
};
const ACTOR: Client = Client {
    label: "async I/O task, no protocol",
    program: Program::Own("actor"),
    start: Start::Login,
};
const PEER: Client = Client {
    label: "asterisk-rs-ami",
    program: Program::Beside {
        binary: "peer-asterisk-rs",
        build: "cargo build --release -p ami-bench --bins",
    },
    start: Start::Ping,
};
/// The contract's `probe-flood-at-login`: the peer with the flood right
/// after login, as real Asterisk sends it, shows what it loses.
const PEER_AT_LOGIN: Client = Client {
    label: "asterisk-rs-ami, probe START=login",
    start: Start::Login,
    ..PEER
};
const CLUSTER: Client = Client {
    label: "ami-smol Cluster",
    program: Program::Own("smol-cluster"),
    start: Start::Login,
};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("client") {
        return clients::main(&args[1..]);
    }
    if args.first().map(String::as_str) == Some("serve") {
        return serve_alone(&args[1..]);
    }
    const PARTS: [&str; 6] = ["check", "flood", "ping", "list", "command", "cluster"];
    let quick = args.iter().any(|a| a == "--quick");
    let only: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    if let Some(bad) = only.iter().find(|a| !PARTS.contains(a)) {
        eprintln!("ami-bench: unknown part {bad:?}; the parts are {PARTS:?} (and --quick)");
        return ExitCode::from(2);
    }
    let wanted = |part: &str| only.is_empty() || only.contains(&part);
    let size = if quick { Size::QUICK } else { Size::FULL };
    println!(
        "ami-bench: loopback, each client in its own process, best of {ROUNDS} interleaved runs{}",
        if quick { " (--quick)" } else { "" }
    );
    if let Err(why) = check_server() {
        eprintln!("ami-bench: FAILED: {why}");
        return ExitCode::FAILURE;
    }
    if wanted("flood") {
        flood(size.flood);
    }
    if wanted("ping") {
        ping(size.pings);
    }
    if wanted("list") {
        list(size.list_repeat);
    }
    if wanted("command") {
        command(size.command_repeat);
    }
    if wanted("cluster") {
        cluster(size.flood);
    }
    ExitCode::SUCCESS
}

/// The server alone, answering pings (with `list ITEMS`, serving lists of
/// `ITEMS` items too), until standard input closes.
fn serve_alone(args: &[String]) -> ExitCode {
    let Some(serve) = what_to_serve(args) else {
        eprintln!("usage: ami-bench serve [list ITEMS]");
        return ExitCode::from(2);
    };
    let server = match server::Server::start(serve) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("ami-bench serve: the server did not start: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("listening {}", server.addr());
    let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
    server.finish();
    ExitCode::SUCCESS
}

/// What `ami-bench serve ARGS` serves: answers, or lists too with `list
/// ITEMS`; `None` for anything else.
fn what_to_serve(args: &[String]) -> Option<Serve> {
    match args {
        [] => Some(Serve::Answers),
        [list, items] if list == "list" => Some(Serve::List {
            items: items.parse().ok()?,
        }),
        _ => None,
    }
}

/// How much work each case does.
struct Size {
    flood: u64,
    pings: u64,
    list_repeat: u64,
    command_repeat: u64,
}

impl Size {
    const FULL: Size = Size {
        flood: 2_000_000,
        pings: 40_000,
        list_repeat: 10,
        command_repeat: 20,
    };
    const QUICK: Size = Size {
        flood: 200_000,
        pings: 5_000,
        list_repeat: 2,
        command_repeat: 3,
    };
}

/// Items in the list case (DESIGN.md's target).
const LIST_ITEMS: u64 = 100_000;
/// Output bytes in the Command case.
const COMMAND_BYTES: u64 = 4 << 20;

fn flood_case(events: u64) -> Case {
    Case {
        args: vec!["flood".into(), events.to_string()],
        expect: format!("events={events}"),
        serve: Serve::Flood {
            events,
            start: Start::Login,
        },
    }
}

/// Measures the raw split reader on a flood of `Size::FULL` (with
/// `--quick` too: a shorter one says more about TCP's start than about the
/// server). Below the minimum, the server may be what limits the
/// baselines, and no ratio against them is valid.
fn check_server() -> Result<(), String> {
    let (min, source) = min_raw(std::env::var("AMI_BENCH_MIN_RAW").ok())?;
    let raw = run::best(&[RAW], &flood_case(Size::FULL.flood), ROUNDS).remove(0);
    let (rate, server_busy) = match raw {
        Ok(m) => match &m.mismatch {
            None => (m.rate(), m.server_cpu_ns as f64 / 1e9 / m.secs),
            Some(line) => return Err(format!("the raw reader miscounted the flood: {line}")),
        },
        Err(why) => return Err(format!("the raw reader failed on the flood: {why}")),
    };
    println!(
        "baseline server check: the raw split reader made {}events/s (minimum {}events/s, {source}); \
         the server's thread was on a CPU {:.0}% of that run",
        si(rate),
        si(min),
        100.0 * server_busy
    );
    if rate < min {
        // A server thread that was mostly idle points at a busy machine.
        let why = match server_busy < 0.5 {
            true => "the machine is busy or slow (the server's thread was mostly idle)",
            false => "the baselines may be server-bound",
        };
        return Err(format!(
            "the bench server fed the raw split reader only {}events/s, below the minimum of \
             {}events/s: {why}, so no ratio against the baselines is valid. On a machine known \
             to be slower, set AMI_BENCH_MIN_RAW=<events/s> to say so.",
            si(rate),
            si(min)
        ));
    }
    Ok(())
}

/// The raw reader's minimum in events/s, and where it comes from: the
/// value of `AMI_BENCH_MIN_RAW` if set, else `MIN_RAW_EVENTS_PER_SEC`.
fn min_raw(var: Option<String>) -> Result<(f64, &'static str), String> {
    let Some(var) = var else {
        return Ok((MIN_RAW_EVENTS_PER_SEC, "the default"));
    };
    match var.trim().parse::<f64>() {
        Ok(min) if min >= 0.0 => Ok((min, "AMI_BENCH_MIN_RAW")),
        _ => Err(format!(
            "AMI_BENCH_MIN_RAW={var:?} is not a rate in events/s (e.g. 8000000 or 8e6)"
        )),
    }
}

/// The raw baseline and every library, in the order of the tables: the
/// clients of the flood and of pipelined pings.
const LIBRARIES: [Client; 7] = [
    RAW,
    SMOL,
    SMOL_LOCAL,
    TOKIO,
    TOKIO_LOCAL,
    BENCH_CLIENT,
    PEER,
];

fn flood(events: u64) {
    let title = format!("flood: {events} events, parsed into each library's event objects");
    let case = flood_case(events);
    let baseline = table(&title, &case, &LIBRARIES, Unit::EVENT);
    // Once: it shows what is lost, not how fast.
    let probe = run::once(&PEER_AT_LOGIN, &case);
    println!(
        "{}",
        row(&PEER_AT_LOGIN, &case, &probe, baseline, Unit::EVENT)
    );
}

fn ping(pings: u64) {
    // One action at a time: every client, and the loops that explain the
    // async clients' single-flight figure.
    let single = [
        RAW,
        ASYNC_RAW,
        TOKIO_RAW,
        ACTOR,
        BLOCKING,
        SMOL,
        SMOL_LOCAL,
        TOKIO,
        TOKIO_LOCAL,
        BENCH_CLIENT,
        PEER,
    ];
    let title = format!("ping: {pings} pings, 1 in flight");
    table(&title, &ping_case(pings, 1), &single, Unit::PING);
    // Pipelined runs are quicker: five times the pings for a similar time.
    let title = format!("ping: {} pings, 64 in flight", 5 * pings);
    table(&title, &ping_case(5 * pings, 64), &LIBRARIES, Unit::PING);
    // One action at a time across two CPUs is mostly the time an idle CPU
    // takes to wake up for the other side (on this VM, a multi-thread tokio
    // runtime, whose idle worker keeps a CPU awake, makes three times the
    // raw loop's rate). With the server and the client on one CPU, a round
    // trip is the CPU time both spend: the client-bound comparison.
    let title = format!("ping: {pings} pings, 1 in flight, the server and the client on one CPU");
    let pinned = affinity::on_one_cpu(|| table(&title, &ping_case(pings, 1), &single, Unit::PING));
    if let Err(why) = pinned {
        println!("\nping on one CPU: skipped ({why})");
    }
}

fn ping_case(pings: u64, window: u64) -> Case {
    Case {
        args: vec!["ping".into(), pings.to_string(), window.to_string()],
        expect: format!("pings={pings}"),
        serve: Serve::Answers,
    }
}

fn list(repeat: u64) {
    let case = Case {
        args: vec!["list".into(), LIST_ITEMS.to_string(), repeat.to_string()],
        expect: format!("items={}", LIST_ITEMS * repeat),
        serve: Serve::List { items: LIST_ITEMS },
    };
    let title = format!("list: {repeat} CoreShowChannels of {LIST_ITEMS} items each, in turn");
    let clients = [RAW, RAW_KEEP, BENCH_CLIENT, PEER];
    table(&title, &case, &clients, Unit::ITEM);
}

fn command(repeat: u64) {
    for legacy in [false, true] {
        let mut args = vec![
            "command".into(),
            COMMAND_BYTES.to_string(),
            repeat.to_string(),
        ];
        if legacy {
            args.push("legacy".into());
        }
        let case = Case {
            args,
            expect: format!("lines={}", COMMAND_BYTES.div_ceil(LINE) * repeat),
            serve: Serve::Command {
                bytes: COMMAND_BYTES,
                legacy,
            },
        };
        let style = match legacy {
            true => "Response: Follows (Asterisk 13 and older)",
            false => "Output: headers",
        };
        let title = format!(
            "command: {repeat} Commands of {} MiB of output each, in turn, {style}",
            COMMAND_BYTES >> 20
        );
        table(&title, &case, &[RAW, BENCH_CLIENT, PEER], Unit::MB);
    }
}

/// CPU per event as the number of flooding connections grows.
fn cluster(events: u64) {
    println!("\ncluster: {events} events in all, split between the connections");
    println!("  {:<40}{}", "connections", Unit::EVENT.header());
    for nodes in [1u64, 10, 100] {
        let per_node = events / nodes;
        let case = Case {
            args: vec![
                "flood".into(),
                (per_node * nodes).to_string(),
                nodes.to_string(),
            ],
            expect: format!("events={}", per_node * nodes),
            serve: Serve::Flood {
                events: per_node,
                start: Start::Login,
            },
        };
        let outcome = run::once(&CLUSTER, &case);
        let label = format!("{} of {nodes}", CLUSTER.label);
        println!("  {label:<40}{}", Unit::EVENT.row(&outcome, None));
    }
}

/// Runs `clients` (the first is the baseline), prints their table and
/// returns the baseline's rate.
fn table(title: &str, case: &Case, clients: &[Client], unit: Unit) -> Option<f64> {
    println!("\n{title}");
    println!("  {:<40}{}", "client", unit.header());
    let outcomes = run::best(clients, case, ROUNDS);
    let baseline = outcomes[0].as_ref().ok().map(|m| unit.rate(m));
    for (i, (client, outcome)) in clients.iter().zip(&outcomes).enumerate() {
        let mut line = row(client, case, outcome, baseline, unit);
        if let (0, Ok(raw)) = (i, outcome) {
            // The evidence that the baseline is client-bound.
            let busy = raw.server_cpu_ns as f64 / 1e9 / raw.secs;
            line.push_str(&format!("  server on a CPU {:.0}%", 100.0 * busy));
        }
        println!("{line}");
    }
    baseline
}

/// One client's line of a table.
fn row(
    client: &Client,
    case: &Case,
    outcome: &Outcome,
    baseline: Option<f64>,
    unit: Unit,
) -> String {
    let label = match (case.serve, client.start) {
        (Serve::Flood { .. }, Start::Ping) => format!("{} (START=ping)", client.label),
        _ => client.label.to_owned(),
    };
    format!("  {label:<40}{}", unit.row(outcome, baseline))
}

/// What a table's counts are, and how its figures are shown.
#[derive(Clone, Copy)]
struct Unit {
    /// One of them, for "CPU per ..." ("event", "MB").
    one: &'static str,
    /// Their rate ("events/s").
    rate: &'static str,
    /// Units in one counted thing (an event, a line).
    per_count: f64,
}

impl Unit {
    const EVENT: Unit = Unit {
        one: "event",
        rate: "events/s",
        per_count: 1.0,
    };
    const PING: Unit = Unit {
        one: "ping",
        rate: "pings/s",
        per_count: 1.0,
    };
    const ITEM: Unit = Unit {
        one: "item",
        rate: "items/s",
        per_count: 1.0,
    };
    /// Command output is counted in lines of `LINE` bytes, shown in MB.
    const MB: Unit = Unit {
        one: "MB",
        rate: "MB/s",
        per_count: LINE as f64 / 1e6,
    };

    fn rate(&self, m: &run::Measure) -> f64 {
        m.rate() * self.per_count
    }

    fn header(&self) -> String {
        format!(
            "{:>12}  {:>6}  {:>9}  {:>9}",
            self.rate,
            "of raw",
            format!("CPU/{}", self.one),
            "peak RSS"
        )
    }

    /// The figures of one outcome; `baseline` is the raw rate of the run.
    fn row(&self, outcome: &Outcome, baseline: Option<f64>) -> String {
        let m = match outcome {
            Ok(m) => m,
            Err(why) => return why.clone(),
        };
        let rate = self.rate(m);
        let ratio = baseline.map_or("-".to_owned(), |b| format!("{:.0}%", 100.0 * rate / b));
        let units = m.count as f64 * self.per_count;
        let (cpu, rss) = match m.usage {
            Some(u) => (
                duration(u.cpu_ns as f64 / units),
                format!("{:.1} MiB", u.peak_rss_kb as f64 / 1024.0),
            ),
            None => ("?".to_owned(), "?".to_owned()),
        };
        let mut row = format!("{:>12}  {ratio:>6}  {cpu:>9}  {rss:>9}", si(rate));
        if let Some(line) = &m.mismatch {
            row.push_str(&format!("  mismatch: {line}"));
        }
        row
    }
}

/// `1234567.0` as `1.23 M`.
fn si(v: f64) -> String {
    match v {
        v if v >= 1e6 => format!("{:.2} M", v / 1e6),
        v if v >= 1e3 => format!("{:.1} k", v / 1e3),
        v => format!("{v:.0} "),
    }
}

/// Nanoseconds as ns, µs or ms.
fn duration(ns: f64) -> String {
    match ns {
        ns if ns >= 1e6 => format!("{:.1} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.1} µs", ns / 1e3),
        ns => format!("{ns:.0} ns"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serve_answers_alone_or_lists_of_the_items_named() {
        let args = |line: &str| {
            line.split_whitespace()
                .map(String::from)
                .collect::<Vec<_>>()
        };
        assert!(matches!(what_to_serve(&args("")), Some(Serve::Answers)));
        assert!(matches!(
            what_to_serve(&args("list 100000")),
            Some(Serve::List { items: 100_000 })
        ));
        for bad in ["list", "list many", "list 5 6", "flood 5"] {
            assert!(what_to_serve(&args(bad)).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn the_minimum_is_ten_million_unless_the_environment_says_otherwise() {
        assert_eq!(min_raw(None), Ok((10e6, "the default")));
        assert_eq!(min_raw(Some(" 8e6".into())), Ok((8e6, "AMI_BENCH_MIN_RAW")));
        assert_eq!(min_raw(Some("0".into())), Ok((0.0, "AMI_BENCH_MIN_RAW")));
        for bad in ["", "fast", "-1", "8M"] {
            assert!(min_raw(Some(bad.into())).is_err(), "{bad:?}");
        }
    }
}

//! `ami-bench-client`: the benchmark client of `shared/BENCH-CONTRACT.md`,
//! written against `ami-smol`'s public API the way a user would.
//!
//! ```text
//! cargo build --release -p ami-cli --bin ami-bench-client
//! target/release/ami-bench-client 127.0.0.1 5038 flood 200000
//!
//! ami-bench-client HOST PORT flood N          -> events=N
//! ami-bench-client HOST PORT ping P W         -> pings=P   (W pipelined)
//! ami-bench-client HOST PORT list N R         -> items=N*R
//! ami-bench-client HOST PORT command B R [legacy] -> lines=ceil(B/100)*R
//! ```
//!
//! Events are parsed into `ami_proto::Event`s and counted from an
//! [`ami_smol::EventStream`] subscribed before login, so the flood that
//! starts right after the login response is counted whole (START=`login`).
//! The stream uses back-pressure: a slow consumer slows the reader instead
//! of losing events. Lists and Command output are the library's own
//! completions. One line goes to stdout; everything else to stderr. Exit 0
//! when done, 2 with `unsupported: ...` for an unknown scenario, 1 on error.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ami_proto::{Action, AuthMethod, Completion, Config, QueuePolicy};
use ami_smol::{Client, ClientConfig, EventStream};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(Failure::Unsupported(why)) => {
            println!("unsupported: {why}");
            ExitCode::from(2)
        }
        Err(Failure::Error(msg)) => {
            eprintln!("ami-bench-client: error: {msg}");
            ExitCode::from(1)
        }
    }
}

enum Failure {
    Unsupported(String),
    Error(String),
}

fn err(e: impl std::fmt::Display) -> Failure {
    Failure::Error(e.to_string())
}

const USAGE: &str =
    "usage: ami-bench-client HOST PORT (flood N | ping P W | list N R | command B R [legacy])";

fn num(args: &[String], i: usize, what: &str) -> Result<u64, Failure> {
    let v = args
        .get(i)
        .ok_or_else(|| Failure::Error(format!("missing {what}; {USAGE}")))?;
    v.parse()
        .map_err(|_| Failure::Error(format!("{what} {v:?} is not a number; {USAGE}")))
}

fn run(args: &[String]) -> Result<String, Failure> {
    let [host, port, scenario, ..] = args else {
        return Err(Failure::Error(USAGE.into()));
    };
    let scenario_args = &args[3..];
    let addr = if host.contains(':') && !host.starts_with('[') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut proto = Config::new("bench", "bench", "bench");
    // Loopback benchmark server: a plain login saves the Challenge round trip.
    proto.auth = AuthMethod::Plain;
    proto.action_timeout = Duration::from_secs(120);
    proto.max_command_output = 1 << 30;
    proto.max_list_bytes = 4 << 30;
    proto.max_list_items = 100_000_000;
    proto.max_frame = 64 << 20;
    proto.event_queue = 65_536;
    proto.queue_policy = QueuePolicy::Backpressure;
    let mut config = ClientConfig::new(addr, proto);
    // A lost session is an error here, not something to wait out.
    config.reconnect = false;
    let started = Instant::now();
    let line = match scenario.as_str() {
        "flood" => {
            let n = num(scenario_args, 0, "N")?;
            smol::block_on(flood(config, n))?
        }
        "ping" => {
            let p = num(scenario_args, 0, "P")?;
            let w = num(scenario_args, 1, "W")?.max(1);
            smol::block_on(ping(config, p, w))?
        }
        "list" => {
            let n = num(scenario_args, 0, "N")?;
            let r = num(scenario_args, 1, "R")?;
            smol::block_on(list(config, n, r))?
        }
        "command" => {
            let b = num(scenario_args, 0, "B")?;
            let r = num(scenario_args, 1, "R")?;
            // `legacy` (Response: Follows output) needs nothing different:
            // the core reads either style.
            smol::block_on(command(config, b, r))?
        }
        other => return Err(Failure::Unsupported(format!("unknown scenario {other:?}"))),
    };
    eprintln!("ami-bench-client: {scenario} took {:?}", started.elapsed());
    Ok(line)
}

/// Counts every event but `BenchDone` until `BenchDone`.
async fn flood(config: ClientConfig, expected: u64) -> Result<String, Failure> {
    let mut builder = Client::builder(config);
    // Attached before login: the flood starts right after the login response.
    let mut events: EventStream = builder.events();
    let client = builder.connect().await.map_err(err)?;
    let mut count = 0u64;
    let mut batch = Vec::with_capacity(1024);
    let mut done = false;
    while !done {
        if events.next_batch(&mut batch, 1024).await == 0 {
            break;
        }
        for event in batch.drain(..) {
            if event.is("BenchDone") {
                done = true;
                break;
            }
            count += 1;
        }
    }
    let dropped = events.dropped();
    client.close_within(Duration::from_secs(1)).await;
    if !done {
        return Err(Failure::Error(format!(
            "connection ended before BenchDone after {count} of {expected} events"
        )));
    }
    Ok(format!("events={count} dropped={dropped}"))
}

/// P pings with at most W awaiting a response at any time: W tasks, each
/// sending its next ping when the previous one completes.
async fn ping(config: ClientConfig, p: u64, w: u64) -> Result<String, Failure> {
    let mut config = config;
    let w = w.min(p.max(1));
    config.proto.max_pending = config.proto.max_pending.max(w as usize);
    let client = Client::connect(config).await.map_err(err)?;
    let next = Arc::new(AtomicU64::new(0));
    let workers: Vec<_> = (0..w)
        .map(|_| {
            let (client, next) = (client.clone(), next.clone());
            smol::spawn(async move {
                let mut done = 0u64;
                while next.fetch_add(1, Ordering::Relaxed) < p {
                    client.send(Action::ping()).await.map_err(err)?;
                    done += 1;
                }
                Ok::<u64, Failure>(done)
            })
        })
        .collect();
    let mut total = 0;
    for worker in workers {
        total += worker.await?;
    }
    client.close_within(Duration::from_secs(1)).await;
    Ok(format!("pings={total} window={w}"))
}

/// R CoreShowChannels in sequence, each collected into the library's list
/// and its items handed over one by one.
async fn list(config: ClientConfig, _n: u64, r: u64) -> Result<String, Failure> {
    let client = Client::connect(config).await.map_err(err)?;
    let mut items = 0u64;
    for _ in 0..r {
        match client
            .send(Action::core_show_channels())
            .await
            .map_err(err)?
        {
            // Each item is made as the `Event` a user iterating the list
            // gets (a list keeps its items as runs of bytes until asked),
            // so the count costs what handing them over costs.
            Completion::List(list) => {
                for event in &list.items {
                    std::hint::black_box(&event);
                    items += 1;
                }
            }
            other => {
                return Err(Failure::Error(format!(
                    "CoreShowChannels completed without a list: {:?}",
                    other.response()
                )))
            }
        }
    }
    client.close_within(Duration::from_secs(1)).await;
    Ok(format!("items={items}"))
}

/// R Commands in sequence, counting the output lines the library hands back.
async fn command(config: ClientConfig, _b: u64, r: u64) -> Result<String, Failure> {
    let client = Client::connect(config).await.map_err(err)?;
    let mut lines = 0u64;
    for _ in 0..r {
        match client
            .send(Action::command("core show channels"))
            .await
            .map_err(err)?
        {
            Completion::Command(output) => lines += output.lines.len() as u64,
            other => lines += other.response().output_lines().count() as u64,
        }
    }
    client.close_within(Duration::from_secs(1)).await;
    Ok(format!("lines={lines}"))
}

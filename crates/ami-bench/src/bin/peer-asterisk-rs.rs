//! `peer-asterisk-rs`: the bench client of BENCH-CONTRACT.md for
//! `asterisk-rs-ami`, the strongest existing Rust AMI client, written
//! against its public API the way its README shows, so that `ami-bench`
//! measures it beside ours against the same server in the same run.
//!
//! ```text
//! cargo build --release -p ami-bench --bins
//! peer-asterisk-rs HOST PORT flood N               -> events=N lagged=L
//! peer-asterisk-rs HOST PORT ping P W              -> pings=P   (W pipelined)
//! peer-asterisk-rs HOST PORT list N R              -> items=N*R
//! peer-asterisk-rs HOST PORT command B R [legacy]  -> lines=ceil(B/100)*R
//! ```
//!
//! How it is set up, and why:
//!
//! - a Tokio multi-threaded runtime, as `#[tokio::main]` gives its users;
//! - MD5 challenge login (its default; the bench server answers Challenge);
//! - no reconnection, a 120 s action timeout, as `ami-bench-client` has;
//! - an event capacity of 65,536, the queue `ami-bench-client` has: its
//!   events go through a Tokio broadcast channel that drops the oldest for a
//!   subscriber that falls behind, and the count of those is printed as
//!   `lagged=` (a flood with any is a mismatch: those events are lost);
//! - START=`ping`: it can only subscribe once `build()` has logged in, so it
//!   subscribes, then pings, and the server floods after the Pong;
//! - pings from W tasks sharing the one client: it pipelines (up to 256 in
//!   flight);
//! - lists with `send_collecting`, which stops at 10,000 events or 4 MiB,
//!   and Command with `command`, whose frames stop at 64 KiB: past those it
//!   fails, and the error is what `ami-bench` prints in its row.
//!
//! One line on stdout; errors on stderr with exit 1.

use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use asterisk_rs_ami::action::CoreShowChannelsAction;
use asterisk_rs_ami::{AmiClient, AmiEvent};
use asterisk_rs_core::config::ReconnectPolicy;
use asterisk_rs_core::event::EventReceive;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(format!("no runtime: {e}")),
    };
    match runtime.block_on(run(&args)) {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(Failure::Unsupported(why)) => {
            println!("unsupported: {why}");
            ExitCode::from(2)
        }
        Err(Failure::Error(why)) => fail(why),
    }
}

fn fail(why: String) -> ExitCode {
    eprintln!("peer-asterisk-rs: error: {why}");
    ExitCode::FAILURE
}

enum Failure {
    Unsupported(String),
    Error(String),
}

fn err(e: impl std::fmt::Display) -> Failure {
    Failure::Error(e.to_string())
}

const USAGE: &str =
    "usage: peer-asterisk-rs HOST PORT (flood N | ping P W | list N R | command B R [legacy])";

async fn run(args: &[String]) -> Result<String, Failure> {
    let [host, port, scenario, rest @ ..] = args else {
        return Err(err(USAGE));
    };
    let port: u16 = port.parse().map_err(|_| err(USAGE))?;
    let arg = |i: usize| -> Result<u64, Failure> {
        let value = rest.get(i).ok_or_else(|| err(USAGE))?;
        value
            .parse()
            .map_err(|_| err(format!("{value:?} is not a number; {USAGE}")))
    };
    let client = match scenario.as_str() {
        "flood" | "ping" | "list" | "command" => connect(host, port).await?,
        other => return Err(Failure::Unsupported(format!("no scenario {other:?}"))),
    };
    let result = match scenario.as_str() {
        "flood" => flood(&client).await,
        "ping" => ping(&client, arg(0)?, arg(1)?).await,
        "list" => list(&client, arg(1)?).await,
        _ => command(&client, arg(1)?).await,
    };
    let result = match result {
        Err(Failure::Error(e)) => Err(err(match ended(&client).await {
            Some(cause) => format!("{e} (the connection ended: {cause})"),
            None => e,
        })),
        other => other,
    };
    client.disconnect().await.map_err(err)?;
    result
}

/// Why the connection ended, if it did: a failed session says why only
/// there, and a moment after its actions have failed.
async fn ended(client: &AmiClient) -> Option<String> {
    for _ in 0..100 {
        if let Some(cause) = client.terminal_error() {
            return Some(cause.details);
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    None
}

async fn connect(host: &str, port: u16) -> Result<AmiClient, Failure> {
    AmiClient::builder()
        .host(host)
        .port(port)
        .credentials("bench", "bench")
        .reconnect(ReconnectPolicy::none())
        .timeout(Duration::from_secs(120))
        .event_capacity(65_536)
        .build()
        .await
        .map_err(err)
}

/// Subscribes, pings (START=`ping`), then counts every event but
/// `BenchDone` until `BenchDone`.
async fn flood(client: &AmiClient) -> Result<String, Failure> {
    let mut events = client.subscribe();
    client.ping().await.map_err(err)?;
    let (mut count, mut lagged) = (0u64, 0u64);
    loop {
        match events.recv().await {
            EventReceive::Event(event) if event.event_name() == "BenchDone" => break,
            EventReceive::Event(_) => count += 1,
            EventReceive::Lagged(n) => lagged += n,
            EventReceive::Closed => {
                return Err(err(format!(
                    "the event stream closed before BenchDone, after {count} events"
                )))
            }
        }
    }
    Ok(format!("events={count} lagged={lagged}"))
}

/// `pings` pings from `window` tasks, each sending its next when its last
/// is answered.
async fn ping(client: &AmiClient, pings: u64, window: u64) -> Result<String, Failure> {
    let next = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..window.clamp(1, pings.max(1)))
        .map(|_| {
            let (client, next) = (client.clone(), next.clone());
            tokio::spawn(async move {
                let mut done = 0u64;
                while next.fetch_add(1, Ordering::Relaxed) < pings {
                    client.ping().await.map_err(|e| e.to_string())?;
                    done += 1;
                }
                Ok::<u64, String>(done)
            })
        })
        .collect();
    let mut done = 0;
    for task in tasks {
        done += task.await.map_err(err)?.map_err(err)?;
    }
    Ok(format!("pings={done}"))
}

/// `repeat` CoreShowChannels in turn, each collected by the library.
async fn list(client: &AmiClient, repeat: u64) -> Result<String, Failure> {
    let mut items = 0;
    for _ in 0..repeat {
        let list = client
            .send_collecting(&CoreShowChannelsAction)
            .await
            .map_err(err)?;
        items += list
            .events
            .iter()
            .filter(|e| matches!(e, AmiEvent::CoreShowChannel { .. }))
            .count() as u64;
    }
    Ok(format!("items={items}"))
}

/// `repeat` Commands in turn, counting the output lines the library hands
/// back.
async fn command(client: &AmiClient, repeat: u64) -> Result<String, Failure> {
    let mut lines = 0;
    for _ in 0..repeat {
        let response = client.command("core show channels").await.map_err(err)?;
        lines += response.output.len() as u64;
    }
    Ok(format!("lines={lines}"))
}

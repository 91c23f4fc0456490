//! `ami demo`: a simulated Asterisk in-process, driven as a real client would.
//!
//! The fake server ([`ami_testkit::TcpServer`]) listens on 127.0.0.1 on an
//! ephemeral port and behaves as Asterisk does (see [`stage::stage`]): a dialplan
//! where some destinations answer and others are busy, congested or do not
//! exist, a queue whose agents answer, a limited user, a wrong password
//! answered after a second. A background thread publishes dialer-like calls
//! from [`TrafficSim`] (17 events each) at the requested rate, to the
//! sessions that want them. The client connects over TCP with an MD5
//! challenge login, streams every event, originates calls (async Originate,
//! completed by their `OriginateResponse`), collects `CoreShowChannels`
//! lists and runs a `Command`. A status line goes to stderr about once per
//! second and a summary to stdout at the end.
//!
//! ```text
//! cargo run --release -p ami-cli -- demo
//! ```

use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use ami_proto::{Action, Completion, Originate};
use ami_smol::{Client, ClientConfig};
use ami_testkit::{Faults, TcpServer, TrafficSim};
use smol::Timer;

use crate::cmd::listen::state_word;
use crate::exit::Fail;
use crate::stage::{self, DEMO_SECRET, DEMO_USER};

/// Flags of `ami demo`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// How long to run, in seconds.
    #[arg(long, default_value_t = 10.0, value_name = "N")]
    seconds: f64,
    /// Simulated calls per second injected by the server (17 events each).
    #[arg(long, default_value_t = 20.0, value_name = "R")]
    calls_per_second: f64,
    /// Async Originates per second sent by the client.
    #[arg(long, default_value_t = 4.0, value_name = "R")]
    originates_per_second: f64,
    /// Seed of the simulated traffic (same seed, same calls).
    #[arg(long, default_value_t = 2024)]
    seed: u64,
}

/// What the demo counts, shared by its tasks.
#[derive(Default)]
struct Counters {
    events: AtomicU64,
    hangups: AtomicU64,
    in_flight: AtomicU64,
    originates: AtomicU64,
    answered: AtomicU64,
    not_answered: AtomicU64,
    lists: AtomicU64,
    list_items: AtomicU64,
    commands: AtomicU64,
    command_lines: AtomicU64,
    failures: AtomicU64,
    injected_calls: AtomicU64,
}

/// Runs `ami demo`.
pub(crate) fn run(args: Args) -> Result<ExitCode, Fail> {
    for (flag, v, max) in [
        ("--seconds", args.seconds, 86_400.0),
        ("--calls-per-second", args.calls_per_second, 10_000.0),
        (
            "--originates-per-second",
            args.originates_per_second,
            1_000.0,
        ),
    ] {
        if !(v.is_finite() && (0.0..=max).contains(&v)) {
            return Err(Fail::Usage(format!("{flag} {v}: expected 0..={max}")));
        }
    }
    let server = TcpServer::start(
        stage::starting_now(stage::stage(args.seed)),
        Faults::default(),
    )
    .map_err(|e| Fail::Other(format!("cannot start the simulated server: {e}")))?;
    eprintln!(
        "ami demo: simulated Asterisk on {}; {} calls/s, {} originates/s, {} s",
        server.addr(),
        args.calls_per_second,
        args.originates_per_second,
        args.seconds
    );
    let server = Arc::new(server);
    let counters = Arc::new(Counters::default());
    let result = smol::block_on(drive(&args, server.clone(), counters.clone()));
    match Arc::try_unwrap(server) {
        Ok(server) => server.stop(),
        Err(_) => tracing::warn!("simulated server still shared; it stops on exit"),
    }
    let report = result?;
    let c = &counters;
    let secs = report.elapsed.as_secs_f64().max(1e-3);
    let events = c.events.load(Relaxed);
    let failures = c.failures.load(Relaxed);
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "demo summary: {:.1} s against {}\n\
         \x20 events      {events} received ({:.0}/s), {} hangups, {} dropped\n\
         \x20 traffic     {} simulated calls injected ({} events)\n\
         \x20 originate   {} sent, {} answered, {} not answered\n\
         \x20 lists       {} CoreShowChannels, {} items\n\
         \x20 commands    {} core show channels, {} output lines\n\
         \x20 sessions    {} logged in, {} reconnects, {} failed actions",
        secs,
        report.addr,
        events as f64 / secs,
        c.hangups.load(Relaxed),
        report.dropped,
        c.injected_calls.load(Relaxed),
        c.injected_calls.load(Relaxed) * TrafficSim::events_per_call() as u64,
        c.originates.load(Relaxed),
        c.answered.load(Relaxed),
        c.not_answered.load(Relaxed),
        c.lists.load(Relaxed),
        c.list_items.load(Relaxed),
        c.commands.load(Relaxed),
        c.command_lines.load(Relaxed),
        report.sessions,
        report.reconnects,
        failures,
    );
    if events == 0 && (args.calls_per_second > 0.0 || args.originates_per_second > 0.0) {
        return Err(Fail::Other("demo received no events".into()));
    }
    if failures > 0 {
        return Err(Fail::Other(format!("demo: {failures} actions failed")));
    }
    Ok(ExitCode::SUCCESS)
}

/// What the end of the run knows beyond the counters.
struct Report {
    addr: String,
    elapsed: Duration,
    dropped: u64,
    sessions: u64,
    reconnects: u64,
}

/// Connects, runs the workload for the requested time, closes.
async fn drive(args: &Args, server: Arc<TcpServer>, c: Arc<Counters>) -> Result<Report, Fail> {
    let addr = server.addr().to_string();
    let proto = ami_proto::Config::new("demo", DEMO_USER, DEMO_SECRET);
    let mut builder = Client::builder(ClientConfig::new(addr.clone(), proto));
    // Subscribed before login: nothing sent after the login response is lost.
    let mut events = builder.events();
    let client = builder
        .connect()
        .await
        .map_err(|e| Fail::connect("demo", e))?;
    let started = Instant::now();
    let stop = Arc::new(AtomicBool::new(false));

    let traffic = {
        let (server, stop, c) = (server.clone(), stop.clone(), c.clone());
        let (rate, seed) = (args.calls_per_second, args.seed);
        thread::Builder::new()
            .name("ami-demo-traffic".into())
            .spawn(move || stage::publish_calls(server.pbx(), rate, seed, &stop, &c.injected_calls))
            .map_err(|e| Fail::Other(format!("cannot start the traffic thread: {e}")))?
    };

    let counter = {
        let c = c.clone();
        smol::spawn(async move {
            let mut batch = Vec::with_capacity(512);
            while events.next_batch(&mut batch, 512).await > 0 {
                c.events.fetch_add(batch.len() as u64, Relaxed);
                let hangups = batch.iter().filter(|e| e.is("Hangup")).count();
                c.hangups.fetch_add(hangups as u64, Relaxed);
                batch.clear();
            }
        })
    };

    let mut workers = Vec::new();
    if args.originates_per_second > 0.0 {
        let period = Duration::from_secs_f64(1.0 / args.originates_per_second);
        workers.push(every(period, stop.clone(), {
            let (client, c) = (client.clone(), c.clone());
            move |n| originate(client.clone(), c.clone(), n)
        }));
    }
    workers.push(every(Duration::from_secs(1), stop.clone(), {
        let (client, c) = (client.clone(), c.clone());
        move |_| list(client.clone(), c.clone())
    }));
    workers.push(every(Duration::from_secs(2), stop.clone(), {
        let (client, c) = (client.clone(), c.clone());
        move |_| command(client.clone(), c.clone())
    }));

    // The status line, about once per second, until the time is up.
    let run_for = Duration::from_secs_f64(args.seconds);
    let tty = std::io::stderr().is_terminal();
    let mut last = (Instant::now(), 0u64);
    while started.elapsed() < run_for {
        let left = run_for.saturating_sub(started.elapsed());
        Timer::after(left.min(Duration::from_secs(1))).await;
        let events = c.events.load(Relaxed);
        let rate = (events - last.1) as f64 / last.0.elapsed().as_secs_f64().max(1e-3);
        last = (Instant::now(), events);
        let s = client.stats();
        let line = format!(
            "[{:>5.1}s] {} events/s={rate:.0} events={events} in-flight={} originates={}/{} lists={} commands={} drops={} reconnects={}",
            started.elapsed().as_secs_f64(),
            state_word(&client.state()),
            c.in_flight.load(Relaxed),
            c.answered.load(Relaxed),
            c.originates.load(Relaxed),
            c.lists.load(Relaxed),
            c.commands.load(Relaxed),
            s.events_dropped + s.session.events_dropped_full,
            s.reconnects,
        );
        if tty {
            eprint!("\r\x1b[2K{line}");
        } else {
            eprintln!("{line}");
        }
    }
    if tty {
        eprintln!();
    }

    // Stop sending, let what is in flight complete (bounded), then log off.
    stop.store(true, Relaxed);
    let elapsed = started.elapsed();
    for w in workers {
        w.await;
    }
    let drain_until = Instant::now() + Duration::from_secs(3);
    while c.in_flight.load(Relaxed) > 0 && Instant::now() < drain_until {
        Timer::after(Duration::from_millis(20)).await;
    }
    let _ = traffic.join();
    let s = client.stats();
    client.close_within(Duration::from_secs(2)).await;
    drop(client);
    // The stream ends once the client has finished.
    let _ = smol::future::or(counter, async {
        Timer::after(Duration::from_secs(2)).await;
    })
    .await;
    Ok(Report {
        addr,
        elapsed,
        dropped: s.events_dropped + s.session.events_dropped_full,
        sessions: s.sessions,
        reconnects: s.reconnects,
    })
}

/// Calls `job(n)` every `period` (n = 0, 1, ...) until `stop`; each job runs
/// as its own task, so slow actions overlap as they would in a dialer.
fn every<F, Fut>(period: Duration, stop: Arc<AtomicBool>, job: F) -> smol::Task<()>
where
    F: Fn(u64) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    smol::spawn(async move {
        let start = Instant::now();
        let mut n = 0u64;
        while !stop.load(Relaxed) {
            smol::spawn(job(n)).detach();
            n += 1;
            // Short naps, so that `stop` is seen within 50 ms.
            let next = start + period.mul_f64(n as f64);
            while !stop.load(Relaxed) && Instant::now() < next {
                Timer::at(next.min(Instant::now() + Duration::from_millis(50))).await;
            }
        }
    })
}

/// One async Originate, completed by its `OriginateResponse`.
async fn originate(client: Client, c: Arc<Counters>, n: u64) {
    let action = Action::originate(
        Originate::new(format!("Local/{}@demo-dialer", 1000 + n % 9000))
            .extension("demo", "100", 1)
            .caller_id(format!("\"Campaign\" <555{:04}>", n % 10_000))
            .variable("CAMPAIGN", "demo")
            .timeout_ms(30_000)
            .async_(true),
    );
    c.originates.fetch_add(1, Relaxed);
    let result = tracked(&client, &c, action).await;
    match result {
        Ok(done) if done.originate().is_some_and(|o| o.is_success()) => {
            c.answered.fetch_add(1, Relaxed)
        }
        Ok(_) => c.not_answered.fetch_add(1, Relaxed),
        Err(()) => 0,
    };
}

/// One `CoreShowChannels`, collected into a list.
async fn list(client: Client, c: Arc<Counters>) {
    let done = tracked(&client, &c, Action::core_show_channels()).await;
    if let Some(items) = done.as_ref().ok().and_then(Completion::list_items) {
        c.lists.fetch_add(1, Relaxed);
        c.list_items.fetch_add(items.len() as u64, Relaxed);
    }
}

/// One `Command: core show channels`.
async fn command(client: Client, c: Arc<Counters>) {
    let done = tracked(&client, &c, Action::command("core show channels")).await;
    if let Some(lines) = done.as_ref().ok().and_then(Completion::command_lines) {
        c.commands.fetch_add(1, Relaxed);
        c.command_lines.fetch_add(lines.len() as u64, Relaxed);
    }
}

/// Sends `action`, counting it in flight meanwhile; a failure is logged and
/// counted.
async fn tracked(client: &Client, c: &Counters, action: Action) -> Result<Completion, ()> {
    let name = action.name().to_owned();
    c.in_flight.fetch_add(1, Relaxed);
    let result = client.send(action).await;
    c.in_flight.fetch_sub(1, Relaxed);
    result.map_err(|e| {
        c.failures.fetch_add(1, Relaxed);
        tracing::warn!(action = %name, error = %e, "demo action failed");
    })
}

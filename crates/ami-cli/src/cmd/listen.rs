//! `ami listen`: events from every selected server as JSON lines.
//!
//! Every server is started at once, before the first event is read (PHP
//! pitfall 1: nothing is created lazily). Each must log in once: a refused
//! connection or refused credentials before a server's first login stop the
//! command with exit 4 or 5 (a misconfiguration a service supervisor must
//! see), after logging off the servers already in. Once a server has logged
//! in, it keeps reconnecting with the core's backoff for as long as the
//! command runs. Filters run on the clients' driver tasks, so filtered-out
//! events cost no queue room.
//!
//! SIGINT or SIGTERM starts the shutdown, and shutdown is a state, not a
//! close (PHP pitfall 2): every client is told to log off and is never
//! restarted; events already received are still printed; the command exits 0
//! once every client has finished, within about three seconds. A second
//! signal exits at once with 130.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use ami_proto::{CloseReason, ConnState, Event};
use ami_smol::{Client, ConnectError};
use futures_lite::{future, StreamExt};
use signal_hook::consts::SIGTERM;
use smol::channel::{self, Receiver, Sender};
use smol::Timer;

use crate::cmd::action::parse_header;
use crate::cmd::{servers, signals};
use crate::config::ServerArgs;
use crate::exit::Fail;
use crate::json;
use crate::logging::Logging;

/// How long the clients get to log off after the first signal.
const LOGOFF_WITHIN: Duration = Duration::from_secs(2);
/// How long the whole shutdown may take before the command exits anyway.
const SHUTDOWN_WITHIN: Duration = Duration::from_secs(3);
/// How often dropped events are looked for (and logged).
const DROP_CHECK: Duration = Duration::from_secs(1);

/// Flags of `ami listen`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// Only these events (comma-separated names, case ignored). A name no
    /// Asterisk version from 13 to 23 documents or raises gets a warning.
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    event: Vec<String>,
    /// Only events with this header value (exact; repeat: all must match).
    #[arg(long = "match", value_name = "HEADER=VALUE")]
    matches: Vec<String>,
    /// Print per-server counters on stderr periodically.
    #[arg(long)]
    stats: bool,
    /// Seconds between two --stats lines.
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    stats_interval: f64,
}

/// One event on its way to stdout.
struct Received {
    server: Arc<str>,
    event: Event,
    at: SystemTime,
}

/// How a server's first connect and login ended.
type Started = (Arc<str>, Result<Client, ConnectError>);

/// What woke the main loop.
enum Wake {
    Event(Option<Received>),
    Started(Started),
    Signal(i32),
    Tick,
}

/// Runs `ami listen` until a signal (or a closed stdout), or until a server
/// fails before its first login.
pub(crate) fn run(
    server_args: &ServerArgs,
    args: Args,
    logging: &Logging,
) -> Result<ExitCode, Fail> {
    let names: Vec<String> = args
        .event
        .iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    for name in names.iter().filter(|n| !ami_proto::events::is_known(n)) {
        eprintln!(
            "ami: warning: no Asterisk version from 13 to 23 documents or raises an event \
             named {name:?}; listening for it anyway"
        );
    }
    let mut matches = Vec::new();
    for m in &args.matches {
        let (h, v) = parse_header(m)?;
        matches.push((h.to_owned(), v.to_owned()));
    }
    if !(args.stats_interval.is_finite() && args.stats_interval >= 0.1) {
        return Err(Fail::Usage("--stats-interval must be at least 0.1".into()));
    }
    let servers = servers(server_args)?;
    let filter = Arc::new(move |e: &Event| {
        (names.is_empty() || names.iter().any(|n| e.is(n)))
            && matches
                .iter()
                .all(|(h, v)| e.headers().get_all(h).any(|got| got == v.as_bytes()))
    });

    let (sig_rx, signal_handle) = signals()?;

    let code = smol::block_on(async {
        let (ev_tx, ev_rx) = channel::bounded::<Received>(4096);
        let (started_tx, started_rx) = channel::bounded::<Started>(servers.len());
        // Start every server now; none waits for another (PHP pitfall 1).
        // Each connect reports its first login (or why there was none); the
        // client then reconnects on its own.
        for server in &servers {
            let mut builder = Client::builder(server.client.clone());
            let f = filter.clone();
            let stream = builder.events().filter(move |e| f(e));
            let name: Arc<str> = server.name.as_str().into();
            smol::spawn(forward(name.clone(), stream, ev_tx.clone())).detach();
            let started = started_tx.clone();
            smol::spawn(async move {
                let _ = started.send((name, builder.connect().await)).await;
            })
            .detach();
        }
        drop(ev_tx);
        let names = servers.iter().map(|s| s.name.as_str().into()).collect();
        pump(names, started_rx, ev_rx, sig_rx, &args, logging).await
    });
    signal_handle.close();
    Ok(code)
}

/// Moves events from one client's stream to the printer until it ends.
async fn forward(server: Arc<str>, mut stream: ami_smol::EventStream, tx: Sender<Received>) {
    let mut batch = Vec::with_capacity(256);
    while stream.next_batch(&mut batch, 256).await > 0 {
        let at = SystemTime::now();
        for event in batch.drain(..) {
            let r = Received {
                server: server.clone(),
                event,
                at,
            };
            if tx.send(r).await.is_err() {
                return;
            }
        }
    }
}

/// Logs a server's sessions coming and going.
async fn watch(server: Arc<str>, client: Client) {
    let mut changes = client.state_changes();
    drop(client);
    let mut was_ready = false;
    while let Some(state) = changes.next().await {
        match state {
            ConnState::Ready if !was_ready => {
                was_ready = true;
                tracing::info!(%server, "listening");
            }
            ConnState::Closed(CloseReason::LoggedOff) => {
                tracing::info!(%server, "logged off");
            }
            ConnState::Closed(reason) if was_ready => {
                was_ready = false;
                tracing::warn!(%server, ?reason, "session ended; reconnecting with backoff");
            }
            _ => {}
        }
    }
}

/// Prints events until a signal (or a server's failure before its first
/// login, printed at once), then shuts down; returns the exit code.
async fn pump(
    names: Vec<Arc<str>>,
    started: Receiver<Started>,
    events: Receiver<Received>,
    signals: Receiver<i32>,
    args: &Args,
    logging: &Logging,
) -> ExitCode {
    // Lines are flushed whenever no more events are waiting: one write per
    // burst rather than per event, and never a line held back while idle.
    let mut stdout = std::io::BufWriter::with_capacity(64 << 10, std::io::stdout());
    let mut starting = names.len();
    let mut clients: Vec<(Arc<str>, Client)> = Vec::new();
    // Set by the first server to fail before its first login.
    let mut failed: Option<ExitCode> = None;
    let mut counts: BTreeMap<Arc<str>, u64> = names.into_iter().map(|n| (n, 0)).collect();
    let interval = Duration::from_secs_f64(args.stats_interval);
    let mut next_stats = Instant::now() + interval;
    let mut last = (Instant::now(), counts.clone());
    let mut shutdown: Option<Instant> = None;
    let mut stdout_open = true;
    let mut next_drop_check = Instant::now() + DROP_CHECK;
    let mut dropped_before = 0;
    let mut events_open = true;
    // Until every forwarder has ended (every client has finished and all it
    // received is printed) and every server has reported its first login.
    while events_open || starting > 0 {
        let deadline = match shutdown {
            Some(at) => at,
            None if args.stats => next_stats.min(next_drop_check),
            None => next_drop_check,
        };
        let wake = future::or(
            async {
                match events_open {
                    true => Wake::Event(events.recv().await.ok()),
                    false => future::pending().await,
                }
            },
            future::or(
                async {
                    match started.recv().await {
                        Ok(s) => Wake::Started(s),
                        // Every server has reported: nothing more to wait for.
                        Err(_) => future::pending().await,
                    }
                },
                future::or(
                    async { Wake::Signal(signals.recv().await.unwrap_or(SIGTERM)) },
                    async {
                        Timer::at(deadline).await;
                        Wake::Tick
                    },
                ),
            ),
        )
        .await;
        match wake {
            Wake::Started((name, Ok(client))) => {
                starting -= 1;
                smol::spawn(watch(name.clone(), client.clone())).detach();
                if shutdown.is_some() {
                    // Logged in after the shutdown began: log off at once.
                    log_off(&client);
                }
                clients.push((name, client));
                if starting == 0 && shutdown.is_none() {
                    // Every server is in: from now on the clients' warnings
                    // say why a server is away.
                    logging.show_all_warnings();
                }
            }
            Wake::Started((name, Err(err))) => {
                starting -= 1;
                // Once shutting down (a signal, or a first failure), a first
                // login that fails is no news.
                if shutdown.is_none() {
                    failed = Some(Fail::connect(&name, err).report());
                    shutdown = Some(begin_shutdown(&clients));
                }
            }
            Wake::Event(Some(r)) => {
                *counts.entry(r.server.clone()).or_default() += 1;
                if stdout_open {
                    let line = json::event(&r.server, &r.event, r.at);
                    let written = writeln!(stdout, "{line}");
                    let flushed = match events.is_empty() {
                        true => stdout.flush(),
                        false => Ok(()),
                    };
                    if written.and(flushed).is_err() {
                        // Nobody reads any more (a closed pipe): stop.
                        stdout_open = false;
                        shutdown.get_or_insert_with(|| begin_shutdown(&clients));
                    }
                }
            }
            Wake::Event(None) => events_open = false,
            Wake::Signal(sig) => {
                if shutdown.is_some() {
                    eprintln!("ami: second signal; exiting now");
                    return ExitCode::from(130);
                }
                tracing::info!(signal = sig, "shutting down: logging off every server");
                shutdown = Some(begin_shutdown(&clients));
            }
            Wake::Tick => {
                if shutdown.is_some_and(|at| at <= Instant::now()) {
                    tracing::warn!("shutdown took too long; exiting");
                    break;
                }
                if Instant::now() >= next_drop_check {
                    // Drops are never silent, with or without --stats.
                    let dropped = dropped(&clients);
                    if dropped > dropped_before {
                        tracing::warn!(
                            dropped = dropped - dropped_before,
                            total = dropped,
                            "events dropped: the output is slower than the servers \
                             (see event_queue and queue_policy)"
                        );
                        dropped_before = dropped;
                    }
                    next_drop_check = Instant::now() + DROP_CHECK;
                }
                if args.stats && Instant::now() >= next_stats {
                    print_stats(&clients, &counts, &mut last);
                    next_stats = Instant::now() + interval;
                }
            }
        }
    }
    if args.stats {
        print_stats(&clients, &counts, &mut last);
    }
    let _ = stdout.flush();
    failed.unwrap_or(ExitCode::SUCCESS)
}

/// Events every client's queues dropped so far.
fn dropped(clients: &[(Arc<str>, Client)]) -> u64 {
    clients
        .iter()
        .map(|(_, c)| {
            let s = c.stats();
            s.events_dropped + s.session.events_dropped_full
        })
        .sum()
}

/// Tells every client to log off and finish (never to reconnect); returns
/// the instant by which the command exits even if some client has not.
fn begin_shutdown(clients: &[(Arc<str>, Client)]) -> Instant {
    for (_, client) in clients {
        log_off(client);
    }
    Instant::now() + SHUTDOWN_WITHIN
}

/// Tells one client to log off and finish, in the background.
fn log_off(client: &Client) {
    let client = client.clone();
    smol::spawn(async move { client.close_within(LOGOFF_WITHIN).await }).detach();
}

/// One stderr line per server: state, events printed, rate, drops, reconnects.
fn print_stats(
    clients: &[(Arc<str>, Client)],
    counts: &BTreeMap<Arc<str>, u64>,
    last: &mut (Instant, BTreeMap<Arc<str>, u64>),
) {
    let secs = last.0.elapsed().as_secs_f64().max(1e-3);
    for (name, client) in clients {
        let n = counts.get(name).copied().unwrap_or(0);
        let before = last.1.get(name).copied().unwrap_or(0);
        let s = client.stats();
        eprintln!(
            "stats server={name} state={} events={n} events_per_s={:.1} dropped={} reconnects={} failed_attempts={}",
            state_word(&client.state()),
            (n - before) as f64 / secs,
            s.events_dropped + s.session.events_dropped_full,
            s.reconnects,
            s.failed_attempts,
        );
    }
    *last = (Instant::now(), counts.clone());
}

/// A one-word name of a connection state, for status lines.
pub(crate) fn state_word(state: &ConnState) -> &'static str {
    match state {
        ConnState::LoggingIn => "logging-in",
        ConnState::Ready => "ready",
        ConnState::Degraded { .. } => "degraded",
        ConnState::LoggingOff => "logging-off",
        ConnState::Closed(_) => "disconnected",
        _ => "unknown",
    }
}

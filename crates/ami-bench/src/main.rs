//! End-to-end loopback benchmarks, each beside a baseline measured in the
//! same run (`cargo xtask bench`, or `cargo run --release -p ami-bench`).
//!
//! - event flood: the async clients' event stream (`ami-smol`, `ami-tokio`;
//!   parsed `Event`s, nothing dropped: back-pressure policy) against a raw
//!   socket that only counts frame ends with `memchr`, both reading the same
//!   fake-server flood;
//! - ping with one in flight: the clients (blocking, and async on smol's
//!   global executor or on one thread, on tokio's multi-thread or
//!   current-thread runtime) against a raw socket request/response loop; and
//!   pipelined with 64 in flight. Two more single-flight loops say
//!   where the async client's time goes: the raw loop over async-io's reactor,
//!   and the least an async client shaped like ours can do (callers handing
//!   each action to an I/O task and awaiting a one-shot reply, no protocol);
//! - cost growth: CPU per event of an `ami-smol` `Cluster` of 1, 10 and 100
//!   flooding servers.
//!
//! Each client runs in a child process of this binary, so its peak RSS is its
//! own (`VmHWM`). The fake server (`ami-testkit`) runs in this process. To
//! profile the children, name a tool in `AMI_BENCH_WRAP`, e.g.
//! `AMI_BENCH_WRAP='perf record -g -o OUT'` or
//! `AMI_BENCH_WRAP='valgrind --tool=callgrind --callgrind-out-file=OUT'`:
//! each child runs under it, `OUT` naming a file per child in the temp dir.

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use ami_proto::{Action, AuthMethod, Config, Event, QueuePolicy};
use ami_smol::{Client, ClientBuilder, ClientConfig, Cluster, EventStream};
use ami_testkit::{Faults, ServerConfig, TcpServer};
use futures_lite::{future, AsyncWriteExt, StreamExt};
use smol::Async;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        return child(&args[1..]);
    }
    let quick = args.iter().any(|a| a == "--quick");
    let (flood_events, pings) = if quick {
        (200_000, 5_000)
    } else {
        (2_000_000, 40_000)
    };
    // `flood`, `ping` or `cluster` run that part alone (e.g. under a profiler).
    let only: Vec<&str> = args
        .iter()
        .map(String::as_str)
        .filter(|a| !a.starts_with("--"))
        .collect();
    const PARTS: [&str; 3] = ["flood", "ping", "cluster"];
    if let Some(bad) = only.iter().find(|a| !PARTS.contains(a)) {
        eprintln!("ami-bench: unknown part {bad:?}; the parts are {PARTS:?} (and --quick)");
        std::process::exit(2);
    }
    let wanted = |part: &str| only.is_empty() || only.contains(&part);
    println!("ami-bench: loopback, {flood_events} flood events, {pings} pings per client");
    if wanted("flood") {
        flood(flood_events);
    }
    if wanted("ping") {
        ping(pings);
    }
    if wanted("cluster") {
        cluster(flood_events);
    }
}

/// A measurement printed by a child: `count secs rss_kb`.
struct Run {
    count: u64,
    secs: f64,
    rss_kb: u64,
    cpu_ns: u64,
}

impl Run {
    fn rate(&self) -> f64 {
        self.count as f64 / self.secs
    }
}

fn run_child(args: &[String]) -> Run {
    let out = child_command(&args[0])
        .arg("--child")
        .args(args)
        .output()
        .expect("child runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "child {args:?} failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let field = |name: &str| -> f64 {
        text.split_whitespace()
            .find_map(|t| t.strip_prefix(name))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text:?}"))
    };
    Run {
        count: field("count=") as u64,
        secs: field("secs="),
        rss_kb: field("rss_kb=") as u64,
        cpu_ns: field("cpu_ns=") as u64,
    }
}

/// This binary, or the tool named in `AMI_BENCH_WRAP` running it (see the
/// module docs).
fn child_command(child: &str) -> Command {
    static RUNS: AtomicU32 = AtomicU32::new(0);
    let exe = std::env::current_exe().expect("own path");
    let Ok(wrap) = std::env::var("AMI_BENCH_WRAP") else {
        return Command::new(exe);
    };
    let run = RUNS.fetch_add(1, Ordering::Relaxed);
    let out =
        std::env::temp_dir().join(format!("ami-bench.{}.{run:02}.{child}", std::process::id()));
    let mut words = wrap.split_whitespace().map(|w| match w.contains("OUT") {
        true => w.replace("OUT", &out.to_string_lossy()),
        false => w.to_owned(),
    });
    let mut command = Command::new(words.next().expect("AMI_BENCH_WRAP names a tool"));
    command.args(words).arg(exe);
    command
}

fn flood_server(events: u64) -> TcpServer {
    let config = ServerConfig {
        accept_any_login: true,
        ..ServerConfig::default()
    };
    let faults = Faults::flood(events);
    TcpServer::start(config, faults).expect("server starts")
}

/// Each child of `children` run `ROUNDS` times, interleaved so that every one
/// sees the same spells of a noisy machine; the best run of each is kept.
fn best_runs(children: &[&str], mut run: impl FnMut(&str) -> Run) -> Vec<Run> {
    let mut best: Vec<Option<Run>> = children.iter().map(|_| None).collect();
    for _ in 0..ROUNDS {
        for (child, best) in children.iter().zip(&mut best) {
            let this = run(child);
            if best.as_ref().is_none_or(|b| this.rate() > b.rate()) {
                *best = Some(this);
            }
        }
    }
    best.into_iter().map(|b| b.expect("ROUNDS > 0")).collect()
}

/// Runs of each child; the best counts (see `best_runs`).
const ROUNDS: usize = 3;

fn flood(events: u64) {
    let children = [
        "raw-flood",
        "smol-flood",
        "smol-flood-local",
        "tokio-flood",
        "tokio-flood-local",
    ];
    let runs = best_runs(&children, |child| {
        let server = flood_server(events);
        let run = run_child(&[child.into(), server.addr().to_string()]);
        assert!(
            child == "raw-flood" || run.count == events,
            "{child} lost events"
        );
        run
    });
    let raw = &runs[0];
    let cpu = |run: &Run| run.cpu_ns as f64 / run.count as f64;
    println!(
        "flood, raw memchr split (baseline)  {:>10.0} frames/s  CPU {:>4.0} ns/frame  peak RSS {:>6} KiB",
        raw.rate(),
        cpu(raw),
        raw.rss_kb
    );
    let labels = [
        "ami-smol events             ",
        "ami-smol events, one thread ",
        "ami-tokio events            ",
        "ami-tokio events, one thread",
    ];
    for (smol, label) in runs[1..].iter().zip(labels) {
        println!(
            "flood, {label}{:>10.0} events/s  CPU {:>4.0} ns/event  peak RSS {:>6} KiB  {:.0}% of the baseline, {} lost",
            smol.rate(),
            cpu(smol),
            smol.rss_kb,
            100.0 * smol.rate() / raw.rate(),
            events - smol.count
        );
    }
}

fn ping(pings: u64) {
    let config = ServerConfig {
        accept_any_login: true,
        ..ServerConfig::default()
    };
    let server = TcpServer::start(config, Faults::default()).expect("server");
    let addr = server.addr().to_string();
    let single = [
        ("async-raw-ping", "raw loop over async-io     "),
        ("actor-ping", "async I/O task, no protocol"),
        ("blocking-ping", "ami-blocking Client        "),
        ("smol-ping", "ami-smol                   "),
        ("smol-ping-local", "ami-smol, one thread       "),
        ("tokio-ping", "ami-tokio                  "),
        ("tokio-ping-local", "ami-tokio, one thread      "),
    ];
    for in_flight in ["1", "64"] {
        // The blocking client has one action in flight at a time; the two
        // loops that explain the async client's single-flight figure only
        // matter there.
        let clients: Vec<_> = single
            .iter()
            .filter(|(child, _)| {
                in_flight == "1" || child.starts_with("smol-") || child.starts_with("tokio-")
            })
            .collect();
        let children: Vec<&str> = ["raw-ping"]
            .into_iter()
            .chain(clients.iter().map(|c| c.0))
            .collect();
        // Pipelined runs are quicker: five times the pings for a similar time.
        let n = (pings * if in_flight == "1" { 1 } else { 5 }).to_string();
        let runs = best_runs(&children, |child| {
            run_child(&[child.into(), addr.clone(), n.clone(), in_flight.into()])
        });
        let raw = &runs[0];
        println!(
            "ping, {in_flight:>2} in flight, raw socket loop (baseline) {:>8.0} /s",
            raw.rate()
        );
        for (client, (_, label)) in runs[1..].iter().zip(clients) {
            println!(
                "ping, {in_flight:>2} in flight, {label}{:>8.0} /s  {:.0}% of the baseline",
                client.rate(),
                100.0 * client.rate() / raw.rate()
            );
        }
    }
}

/// CPU per event as the number of flooding servers grows.
fn cluster(events: u64) {
    for nodes in [1u64, 10, 100] {
        let servers: Vec<TcpServer> = (0..nodes).map(|_| flood_server(events / nodes)).collect();
        let addrs: Vec<String> = servers.iter().map(|s| s.addr().to_string()).collect();
        let run = run_child(&["smol-cluster".into(), addrs.join(",")]);
        assert_eq!(run.count, events / nodes * nodes, "the cluster lost events");
        println!(
            "cluster of {nodes:>3} flooding nodes     {:>10.0} events/s  CPU {:>5.0} ns/event  peak RSS {:>6} KiB",
            run.rate(),
            run.cpu_ns as f64 / run.count as f64,
            run.rss_kb
        );
    }
}

fn child(args: &[String]) {
    if args[0] == "smol-cluster" {
        let addrs: Vec<SocketAddr> = args[1]
            .split(',')
            .map(|a| a.parse().expect("address"))
            .collect();
        let (count, secs) = smol_cluster(&addrs);
        println!(
            "count={count} secs={secs} rss_kb={} cpu_ns={}",
            peak_rss_kb(),
            cpu_ns()
        );
        return;
    }
    let addr: SocketAddr = args[1].parse().expect("address");
    let (count, secs) = match args[0].as_str() {
        "raw-flood" => raw_flood(addr),
        "smol-flood" => smol_flood(addr, false),
        "smol-flood-local" => smol_flood(addr, true),
        "raw-ping" => raw_ping(
            addr,
            args[2].parse().expect("count"),
            args[3].parse().expect("in flight"),
        ),
        "async-raw-ping" => async_raw_ping(addr, args[2].parse().expect("count")),
        "actor-ping" => actor_ping(addr, args[2].parse().expect("count")),
        "blocking-ping" => blocking_ping(addr, args[2].parse().expect("count")),
        "smol-ping" | "smol-ping-local" => smol_ping(
            addr,
            args[2].parse().expect("count"),
            args[3].parse().expect("in flight"),
            args[0].ends_with("-local"),
        ),
        "tokio-flood" => tokio_flood(addr, false),
        "tokio-flood-local" => tokio_flood(addr, true),
        "tokio-ping" | "tokio-ping-local" => tokio_ping(
            addr,
            args[2].parse().expect("count"),
            args[3].parse().expect("in flight"),
            args[0].ends_with("-local"),
        ),
        other => panic!("unknown child {other}"),
    };
    println!(
        "count={count} secs={secs} rss_kb={} cpu_ns={}",
        peak_rss_kb(),
        cpu_ns()
    );
}

/// This process's user and system CPU time so far, from `/proc/self/stat`
/// (clock ticks of 10 ms: use runs of a second or more).
fn cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<u64> = rest
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line: 12 and 13 after ')'.
    let ticks = fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0);
    ticks * 10_000_000
}

fn peak_rss_kb() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// Logs in over a plain socket; returns it after the banner and login.
fn raw_login(addr: SocketAddr, events: bool) -> TcpStream {
    let mut sock = TcpStream::connect(addr).expect("connect");
    sock.set_nodelay(true).expect("nodelay");
    let login = format!(
        "Action: Login\r\nActionID: l\r\nUsername: bench\r\nSecret: bench\r\nEvents: {}\r\n\r\n",
        if events { "on" } else { "off" }
    );
    sock.write_all(login.as_bytes()).expect("login");
    sock
}

/// Counts frame ends until `BenchDone`: the fastest any client could go.
fn raw_flood(addr: SocketAddr) -> (u64, f64) {
    let mut sock = raw_login(addr, true);
    let start = Instant::now();
    let finder = memchr::memmem::Finder::new(b"\r\n\r\n");
    let done = memchr::memmem::Finder::new(b"Event: BenchDone");
    let mut buf = vec![0u8; 64 << 10];
    let mut carry = 0;
    let mut frames = 0u64;
    loop {
        let n = sock.read(&mut buf[carry..]).expect("read");
        assert!(n > 0, "server closed before BenchDone");
        let end = carry + n;
        frames += finder.find_iter(&buf[..end]).count() as u64;
        if done.find(&buf[..end]).is_some() {
            break;
        }
        // Keep the last 16 bytes so a marker split across reads is found.
        let keep = end.min(16);
        buf.copy_within(end - keep..end, 0);
        carry = keep;
        frames -= finder.find_iter(&buf[..keep]).count() as u64;
    }
    // The login response, its two events and BenchDone are not flood events.
    (frames.saturating_sub(4), start.elapsed().as_secs_f64())
}

fn proto_config(events: bool) -> Config {
    let mut proto = Config::new("bench", "bench", "bench");
    proto.auth = AuthMethod::Plain;
    proto.events = if events { "on" } else { "off" }.into();
    proto.queue_policy = QueuePolicy::Backpressure;
    proto.heartbeat_interval = None;
    proto.seed = std::process::id() as u64;
    proto
}

/// Runs `body` on an executor driven by this thread. With `local`, the
/// clients' tasks are spawned there too (`ClientBuilder::spawn_with`), so
/// everything runs on this one thread; otherwise on smol's global executor.
fn run_on<F: std::future::Future>(local: bool, body: impl FnOnce(Spawn) -> F) -> F::Output {
    let ex = Arc::new(smol::Executor::new());
    let spawn = Spawn(local.then(|| ex.clone()));
    smol::block_on(ex.run(body(spawn)))
}

/// Where the benchmark spawns its tasks: `None` is smol's global executor.
struct Spawn(Option<Arc<smol::Executor<'static>>>);

impl Spawn {
    fn task<T: Send + 'static>(
        &self,
        future: impl std::future::Future<Output = T> + Send + 'static,
    ) -> smol::Task<T> {
        match &self.0 {
            Some(ex) => ex.spawn(future),
            None => smol::spawn(future),
        }
    }

    fn client(&self, config: ClientConfig) -> ClientBuilder {
        let builder = Client::builder(config);
        match self.0.clone() {
            Some(ex) => builder.spawn_with(move |task| ex.spawn(task).detach()),
            None => builder,
        }
    }
}

fn smol_flood(addr: SocketAddr, local: bool) -> (u64, f64) {
    run_on(local, |spawn| async move {
        let mut builder = spawn.client(ClientConfig::new(addr.to_string(), proto_config(true)));
        let mut events = builder.events();
        let start = Instant::now();
        let client = builder.connect().await.expect("login");
        let count = count_flood(&mut events).await;
        let secs = start.elapsed().as_secs_f64();
        client.close_within(Duration::from_secs(2)).await;
        (count, secs)
    })
}

/// Counts the flood's events until `BenchDone`, in batches.
async fn count_flood(events: &mut EventStream) -> u64 {
    let mut batch = Vec::with_capacity(1024);
    let mut count = 0u64;
    'outer: loop {
        batch.clear();
        if events.next_batch(&mut batch, 1024).await == 0 {
            panic!("event stream ended before BenchDone");
        }
        for event in &batch {
            match kind(event) {
                Kind::Done => break 'outer,
                Kind::Flood => count += 1,
                Kind::Login => {}
            }
        }
    }
    assert_eq!(events.dropped(), 0, "back-pressure never drops");
    count
}

/// What an event is to the counting loops.
enum Kind {
    /// `BenchDone`: the server's flood is over.
    Done,
    /// The login's own events, not part of the flood.
    Login,
    Flood,
}

/// The event's kind, its name read once (as a consumer matching on names
/// would), not once per name compared.
fn kind(event: &Event) -> Kind {
    let name = event.name();
    let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
    if is("BenchDone") {
        Kind::Done
    } else if is("FullyBooted") || is("SuccessfulAuth") {
        Kind::Login
    } else {
        Kind::Flood
    }
}

/// Counts every node's flood through one merged `Cluster` event stream
/// until each node has sent `BenchDone`.
fn smol_cluster(addrs: &[SocketAddr]) -> (u64, f64) {
    smol::block_on(async {
        let nodes = addrs
            .iter()
            .enumerate()
            .map(|(i, a)| {
                (
                    format!("node{i}"),
                    ClientConfig::new(a.to_string(), proto_config(true)),
                )
            })
            .collect();
        let start = Instant::now();
        let (cluster, mut events) = Cluster::with_events(nodes).expect("cluster");
        let (mut count, mut done) = (0u64, 0usize);
        while done < addrs.len() {
            let (_, event) = events.next().await.expect("stream ends only at shutdown");
            match kind(&event) {
                Kind::Done => done += 1,
                Kind::Flood => count += 1,
                Kind::Login => {}
            }
        }
        let secs = start.elapsed().as_secs_f64();
        cluster.shutdown(Duration::from_secs(2)).await;
        (count, secs)
    })
}

/// A socket with a receive buffer, for the raw baselines.
struct Raw<S> {
    sock: S,
    pending: Vec<u8>,
    buf: Vec<u8>,
}

impl<S> Raw<S> {
    fn new(sock: S) -> Self {
        Raw {
            sock,
            pending: Vec::new(),
            buf: vec![0u8; 64 << 10],
        }
    }

    /// Consumes everything up to and including `delimiter`, if buffered.
    fn take_past(&mut self, delimiter: &[u8]) -> bool {
        let Some(end) = memchr::memmem::find(&self.pending, delimiter) else {
            return false;
        };
        self.pending.drain(..end + delimiter.len());
        true
    }

    fn keep(&mut self, n: usize) {
        assert!(n > 0, "server closed");
        self.pending.extend_from_slice(&self.buf[..n]);
    }
}

impl Raw<TcpStream> {
    /// Consumes everything up to and including `delimiter`.
    fn skip_past(&mut self, delimiter: &[u8]) {
        while !self.take_past(delimiter) {
            let n = self.sock.read(&mut self.buf).expect("read");
            self.keep(n);
        }
    }
}

impl Raw<Async<TcpStream>> {
    /// Consumes everything up to and including `delimiter`.
    async fn skip_past(&mut self, delimiter: &[u8]) {
        while !self.take_past(delimiter) {
            self.read().await;
        }
    }

    /// Waits for bytes and reads them, as an async client's reader does.
    async fn read(&mut self) {
        let n = self.sock.read_with(|mut s| s.read(&mut self.buf)).await;
        self.keep(n.expect("read"));
    }
}

fn ping_frame(i: u64) -> String {
    format!("Action: Ping\r\nActionID: p{i}\r\n\r\n")
}

/// Pings with `in_flight` outstanding: a new one written per response read.
fn raw_ping(addr: SocketAddr, pings: u64, in_flight: u64) -> (u64, f64) {
    let mut raw = Raw::new(raw_login(addr, false));
    raw.skip_past(b"\n"); // the banner
    raw.skip_past(b"\r\n\r\n"); // the login response
    let start = Instant::now();
    let first: String = (0..in_flight.min(pings)).map(ping_frame).collect();
    raw.sock.write_all(first.as_bytes()).expect("write");
    for i in in_flight..pings + in_flight {
        raw.skip_past(b"\r\n\r\n");
        if i < pings {
            raw.sock.write_all(ping_frame(i).as_bytes()).expect("write");
        }
    }
    (pings, start.elapsed().as_secs_f64())
}

/// The raw single-flight loop over async-io's reactor: each wait for the
/// reply goes through it, as an async client's must.
fn async_raw_ping(addr: SocketAddr, pings: u64) -> (u64, f64) {
    smol::block_on(async {
        let mut raw = Raw::new(Async::new(raw_login(addr, false)).expect("async"));
        raw.skip_past(b"\n").await; // the banner
        raw.skip_past(b"\r\n\r\n").await; // the login response
        let start = Instant::now();
        for i in 0..pings {
            raw.sock
                .write_all(ping_frame(i).as_bytes())
                .await
                .expect("write");
            raw.skip_past(b"\r\n\r\n").await;
        }
        (pings, start.elapsed().as_secs_f64())
    })
}

/// The least an async client shaped like `ami-smol`'s can do, one action in
/// flight: the caller hands each action to an I/O task over a channel and
/// awaits a one-shot reply; the task writes it, reads, and answers. No
/// protocol work, so what it costs beyond `async_raw_ping` is the two task
/// hops per round trip.
fn actor_ping(addr: SocketAddr, pings: u64) -> (u64, f64) {
    let ex = Arc::new(smol::Executor::new());
    smol::block_on(ex.clone().run(async move {
        let mut raw = Raw::new(Async::new(raw_login(addr, false)).expect("async"));
        raw.skip_past(b"\n").await; // the banner
        raw.skip_past(b"\r\n\r\n").await; // the login response
        let (actions, queue) = smol::channel::bounded::<Reply>(1024);
        // Waits as the client's driver does: the channel polled as a stream
        // and the socket with `poll_readable`, so that neither re-registers
        // after the other ended a wait.
        let mut queue = Box::pin(queue);
        let io = ex.spawn(async move {
            let mut waiting = VecDeque::new();
            for i in 0.. {
                let action = future::or(async { Some(queue.next().await) }, async {
                    let _ = future::poll_fn(|cx| raw.sock.poll_readable(cx)).await;
                    None
                });
                match action.await {
                    Some(Some(reply)) => {
                        raw.sock
                            .write_all(ping_frame(i).as_bytes())
                            .await
                            .expect("write");
                        waiting.push_back(reply);
                    }
                    Some(None) => return,
                    None => {
                        match raw.sock.get_ref().read(&mut raw.buf) {
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                            n => raw.keep(n.expect("read")),
                        }
                        while raw.take_past(b"\r\n\r\n") {
                            waiting.pop_front().expect("a reply awaited").send();
                        }
                    }
                }
            }
        });
        // The caller is a task too, as in `smol_ping`.
        let caller = ex.spawn(async move {
            let start = Instant::now();
            for _ in 0..pings {
                let reply = Reply::default();
                actions.send(reply.clone()).await.expect("I/O task runs");
                reply.wait().await;
            }
            start.elapsed().as_secs_f64()
        });
        let secs = caller.await;
        io.await;
        (pings, secs)
    }))
}

/// A one-shot reply as light as `ami-smol`'s: a flag and a waker.
#[derive(Clone, Default)]
struct Reply(Arc<Mutex<(bool, Option<Waker>)>>);

impl Reply {
    fn send(self) {
        let waker = {
            let mut slot = self.0.lock().expect("not poisoned");
            slot.0 = true;
            slot.1.take()
        };
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    async fn wait(self) {
        future::poll_fn(|cx| {
            let mut slot = self.0.lock().expect("not poisoned");
            match slot.0 {
                true => Poll::Ready(()),
                false => {
                    slot.1 = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        })
        .await
    }
}

fn blocking_ping(addr: SocketAddr, pings: u64) -> (u64, f64) {
    let mut client =
        ami_blocking::Client::connect(addr, Duration::from_secs(5), proto_config(false))
            .expect("login");
    let start = Instant::now();
    for _ in 0..pings {
        client.send(Action::ping()).expect("pong");
    }
    let secs = start.elapsed().as_secs_f64();
    client.close().expect("logoff");
    (pings, secs)
}

fn smol_ping(addr: SocketAddr, pings: u64, in_flight: u64, local: bool) -> (u64, f64) {
    run_on(local, |spawn| async move {
        let config = ClientConfig::new(addr.to_string(), proto_config(false));
        let client = spawn.client(config).connect().await.expect("login");
        let start = Instant::now();
        let per_task = pings / in_flight;
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let client = client.clone();
                spawn.task(async move {
                    for _ in 0..per_task {
                        client.send(Action::ping()).await.expect("pong");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await;
        }
        let secs = start.elapsed().as_secs_f64();
        client.close_within(Duration::from_secs(2)).await;
        (per_task * in_flight, secs)
    })
}

/// A tokio runtime as `#[tokio::main]` makes one (multi-thread, a worker
/// per core), or with `local` the current-thread one.
fn tokio_runtime(local: bool) -> tokio::runtime::Runtime {
    let mut builder = match local {
        true => tokio::runtime::Builder::new_current_thread(),
        false => tokio::runtime::Builder::new_multi_thread(),
    };
    builder.enable_all().build().expect("tokio runtime")
}

fn tokio_flood(addr: SocketAddr, local: bool) -> (u64, f64) {
    tokio_runtime(local).block_on(async {
        let config = ClientConfig::new(addr.to_string(), proto_config(true));
        let mut builder = ami_tokio::Client::builder(config);
        let mut events = builder.events();
        let start = Instant::now();
        let client = builder.connect().await.expect("login");
        let count = count_flood(&mut events).await;
        let secs = start.elapsed().as_secs_f64();
        client.close_within(Duration::from_secs(2)).await;
        (count, secs)
    })
}

fn tokio_ping(addr: SocketAddr, pings: u64, in_flight: u64, local: bool) -> (u64, f64) {
    tokio_runtime(local).block_on(async {
        let config = ClientConfig::new(addr.to_string(), proto_config(false));
        let client = ami_tokio::Client::connect(config).await.expect("login");
        let start = Instant::now();
        let per_task = pings / in_flight;
        let tasks: Vec<_> = (0..in_flight)
            .map(|_| {
                let client = client.clone();
                tokio::spawn(async move {
                    for _ in 0..per_task {
                        client.send(Action::ping()).await.expect("pong");
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.expect("ping task");
        }
        let secs = start.elapsed().as_secs_f64();
        client.close_within(Duration::from_secs(2)).await;
        (per_task * in_flight, secs)
    })
}

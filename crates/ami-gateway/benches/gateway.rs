//! The gateway's throughput: floods from 1 and 10 fake Asterisk nodes
//! through the gateway (the release binary, as a child process) into a
//! file-backed JetStream stream, beside a raw `async-nats` publisher
//! sending the same payloads (read back from the stream) to the same stream
//! in the same run, with the same bound on unacknowledged publishes.
//!
//! Reports events/s end to end (the gateway's start to the last event
//! stored), the gateway's CPU per event and its peak RSS, the raw
//! publisher's rate and CPU per event, and the ratio (target: ≥ 80%).
//!
//! ```text
//! cargo bench -p ami-gateway --bench gateway            # cargo xtask bench runs it
//! cargo bench -p ami-gateway --bench gateway -- --quick
//! ```
//!
//! Needs `nats-server` on `PATH` (Debian's package); without it, it says so
//! and stops. The machine is shared: read the ratio, not the absolutes.

use std::future::IntoFuture;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ami_testkit::{Faults, ServerConfig, TcpServer};
use async_nats::jetstream::{self, consumer, context::PublishAckFuture, message::PublishMessage};
use bytes::Bytes;
use futures_util::stream::{FuturesOrdered, StreamExt};

/// Publishes in flight per node (the gateway's `max_unacked`, and the raw
/// publisher's window).
const WINDOW: usize = 1024;
const STREAM: &str = "AMI_BENCH";

fn main() {
    let quick = std::env::args().any(|a| a == "--quick");
    if Command::new("nats-server")
        .arg("--version")
        .output()
        .is_err()
    {
        println!(
            "gateway bench: nats-server is not installed (apt-get install nats-server): skipped"
        );
        return;
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("ami-gateway-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    let port = free_port();
    let mut nats = Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.join("store"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nats-server");
    let url = format!("nats://127.0.0.1:{port}");
    let listening = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < listening, "nats-server did not start");
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("gateway bench: JetStream file storage, {WINDOW} publishes in flight per node\n");
    println!(
        "{:<28} {:>10} {:>12} {:>14} {:>12} {:>8}",
        "run", "events", "events/s", "CPU ns/event", "peak RSS", "ratio"
    );
    for (nodes, per_node) in [
        (1, if quick { 30_000 } else { 200_000 }),
        (10, if quick { 5_000 } else { 30_000 }),
    ] {
        let row = rt.block_on(run(&dir, &url, nodes, per_node));
        let ratio = row.gateway_rate / row.raw_rate;
        println!(
            "{:<28} {:>10} {:>12.0} {:>14.0} {:>9} MB {:>8}",
            format!("gateway, {nodes} node(s)"),
            row.events,
            row.gateway_rate,
            row.gateway_cpu_ns,
            row.gateway_rss_kb / 1024,
            format!("{:.0}%", ratio * 100.0)
        );
        println!(
            "{:<28} {:>10} {:>12.0} {:>14.0} {:>12} {:>8}",
            format!("raw async-nats, {nodes} pub."),
            row.events,
            row.raw_rate,
            row.raw_cpu_ns,
            "-",
            "100%"
        );
    }
    let _ = nats.kill();
    let _ = nats.wait();
    let _ = std::fs::remove_dir_all(&dir);
}

/// One row's figures.
struct Row {
    events: u64,
    gateway_rate: f64,
    gateway_cpu_ns: f64,
    gateway_rss_kb: u64,
    raw_rate: f64,
    raw_cpu_ns: f64,
}

/// Floods `nodes` fake nodes of `per_node` events each through the
/// gateway, then sends the same payloads with a raw publisher.
async fn run(dir: &Path, url: &str, nodes: usize, per_node: u64) -> Row {
    let client = async_nats::connect(url).await.expect("connect");
    let js = jetstream::new(client.clone());
    let _ = js.delete_stream(STREAM).await;
    let _ = js.delete_key_value("ami_bench_leases").await;
    let servers: Vec<TcpServer> = (0..nodes)
        .map(|_| {
            TcpServer::start(ServerConfig::default(), Faults::flood(per_node)).expect("fake node")
        })
        .collect();
    // The login burst (2 events) and BenchDone come with every flood.
    let expected = nodes as u64 * (per_node + 3);
    let config = gateway_config(url, &servers);
    let path = dir.join(format!("gateway-{nodes}.toml"));
    std::fs::write(&path, config).expect("config");

    eprintln!("{nodes} node(s): gateway");
    let started = Instant::now();
    let mut gateway = start_gateway(&path);
    let cpu_before = process_cpu_ns(gateway.id());
    // Markers (one per node) are stored too.
    wait_stored(&js, expected + nodes as u64).await;
    let took = started.elapsed();
    let cpu = process_cpu_ns(gateway.id()) - cpu_before;
    let rss = peak_rss_kb(gateway.id());
    let _ = gateway.kill();
    let _ = gateway.wait();
    drop(servers);

    eprintln!("{nodes} node(s): reading back");
    let messages = read_back(&js, expected + nodes as u64).await;
    eprintln!("{nodes} node(s): raw publisher");
    js.get_stream(STREAM)
        .await
        .expect("stream")
        .purge()
        .await
        .expect("purge");
    let raw_started = Instant::now();
    let raw_cpu_before = process_cpu_ns(std::process::id());
    // The gateway's publishing context: room for every node's window.
    let raw_js = jetstream::context::ContextBuilder::new()
        .max_ack_inflight(nodes * WINDOW + 64)
        .backpressure_on_inflight(true)
        .build(client.clone());
    raw_publish(&raw_js, messages, nodes).await;
    let raw_took = raw_started.elapsed();
    let raw_cpu = process_cpu_ns(std::process::id()) - raw_cpu_before;
    let events = expected;
    Row {
        events,
        gateway_rate: events as f64 / took.as_secs_f64(),
        gateway_cpu_ns: cpu as f64 / events as f64,
        gateway_rss_kb: rss,
        raw_rate: events as f64 / raw_took.as_secs_f64(),
        raw_cpu_ns: raw_cpu as f64 / events as f64,
    }
}

fn gateway_config(url: &str, servers: &[TcpServer]) -> String {
    let mut text = format!(
        "[gateway]\nnats = [\"{url}\"]\nstream = \"{STREAM}\"\nlease_bucket = \"ami_bench_leases\"\n\
         metrics_addr = \"127.0.0.1:0\"\nmax_unacked = {WINDOW}\n\n\
         [client]\nuser = \"admin\"\nsecret = \"amp111\"\nqueue_policy = \"backpressure\"\n"
    );
    for (i, s) in servers.iter().enumerate() {
        text.push_str(&format!(
            "[servers.pbx{i}]\nhost = \"127.0.0.1\"\nport = {}\n",
            s.port()
        ));
    }
    text
}

/// Starts the release gateway; returns once it is ready.
fn start_gateway(config: &Path) -> Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ami-gateway"))
        .arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start ami-gateway");
    let mut line = String::new();
    let stdout = child.stdout.take().expect("stdout");
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("ready line");
    assert!(line.starts_with("ready"), "gateway: {line}");
    child
}

/// Waits until the stream holds `n` messages.
async fn wait_stored(js: &jetstream::Context, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Ok(mut stream) = js.get_stream(STREAM).await {
            if stream.info().await.is_ok_and(|i| i.state.messages >= n) {
                return;
            }
        }
        assert!(
            Instant::now() < deadline,
            "the gateway never stored {n} events"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The stream's `n` messages: subject and payload.
async fn read_back(js: &jetstream::Context, n: u64) -> Vec<(String, Bytes)> {
    let stream = js.get_stream(STREAM).await.expect("stream");
    let consumer = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: js.client().new_inbox(),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::with_capacity(n as usize);
    while (out.len() as u64) < n {
        let m = messages.next().await.expect("more").expect("message");
        out.push((m.subject.to_string(), m.payload.clone()));
    }
    out
}

/// Publishes `messages` from `publishers` tasks, each with its own window
/// of unacknowledged publishes and a `Nats-Msg-Id` per message, as the
/// gateway does.
async fn raw_publish(js: &jetstream::Context, messages: Vec<(String, Bytes)>, publishers: usize) {
    let mut shares: Vec<Vec<(String, Bytes)>> = vec![Vec::new(); publishers];
    for (i, m) in messages.into_iter().enumerate() {
        shares[i % publishers].push(m);
    }
    let tasks: Vec<_> = shares
        .into_iter()
        .enumerate()
        .map(|(p, share)| {
            let js = js.clone();
            tokio::spawn(async move {
                let mut window: FuturesOrdered<<PublishAckFuture as IntoFuture>::IntoFuture> =
                    FuturesOrdered::new();
                for (i, (subject, payload)) in share.into_iter().enumerate() {
                    if window.len() >= WINDOW {
                        window.next().await.expect("ack").expect("acked");
                    }
                    let publish = PublishMessage::build()
                        .payload(payload)
                        .message_id(format!("raw:{p}:{i}"));
                    let ack: PublishAckFuture =
                        js.send_publish(subject, publish).await.expect("publish");
                    window.push_back(ack.into_future());
                }
                while let Some(ack) = window.next().await {
                    ack.expect("acked");
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("publisher");
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port()
}

/// User plus system CPU time of process `pid`, from `/proc/<pid>/stat`.
fn process_cpu_ns(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces) start at ")".
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15; `rest` starts at field 3.
    (ticks(11) + ticks(12)) * 10_000_000 // 100 ticks per second
}

/// The peak resident set of process `pid` in KiB (`VmHWM`).
fn peak_rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

//! Real servers for the gateway's tests: `nats-server -js` on free loopback
//! ports with its own store directory (one server or a three-server cluster
//! with routes on loopback), the gateway binary as a child process, and the
//! fake Asterisk of `ami-testkit` over TCP. Everything is stopped (killed)
//! on drop.
//!
//! Without `nats-server` on `PATH` a test prints why it skips, unless
//! `CI` is set: then it fails, so CI can never pass by skipping.
#![allow(dead_code, unreachable_pub)]

pub mod schema;

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, consumer, stream};
use futures_util::StreamExt;

/// Whether `nats-server` can be run; prints why not (or panics in CI).
pub fn nats_available() -> bool {
    let found = Command::new("nats-server")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!(
                "nats-server is not installed (apt-get install nats-server); CI runs these tests"
            );
        }
        eprintln!("SKIPPED: nats-server is not on PATH (apt-get install nats-server)");
    }
    found
}

/// A port nobody listens on now (bound, then released).
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    l.local_addr().expect("bound").port()
}

/// A directory of its own under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(what: &str) -> TempDir {
        static N: AtomicU64 = AtomicU64::new(0);
        let dir = std::env::temp_dir().join(format!(
            "ami-gateway-{what}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create a temp dir");
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// One `nats-server -js` process.
pub struct Nats {
    pub port: u16,
    args: Vec<String>,
    store: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Nats {
    /// One server with JetStream on a free port, storing under `dir`.
    pub fn start(dir: &Path) -> Nats {
        Nats::spawn(dir, "n0", free_port(), &[])
    }

    /// Three servers routed to each other, JetStream clustered.
    pub fn cluster(dir: &Path) -> Vec<Nats> {
        let ports: Vec<(u16, u16)> = (0..3).map(|_| (free_port(), free_port())).collect();
        let routes = ports
            .iter()
            .map(|(_, c)| format!("nats://127.0.0.1:{c}"))
            .collect::<Vec<_>>()
            .join(",");
        ports
            .iter()
            .enumerate()
            .map(|(i, (port, cport))| {
                let extra = [
                    "--cluster_name".to_owned(),
                    "amitest".to_owned(),
                    "--cluster".to_owned(),
                    format!("nats://127.0.0.1:{cport}"),
                    "--routes".to_owned(),
                    routes.clone(),
                ];
                Nats::spawn(dir, &format!("n{i}"), *port, &extra)
            })
            .collect()
    }

    fn spawn(dir: &Path, name: &str, port: u16, extra: &[String]) -> Nats {
        let store = dir.join(name);
        std::fs::create_dir_all(&store).expect("store dir");
        let mut args = vec![
            "-js".to_owned(),
            "-a".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            port.to_string(),
            "-n".to_owned(),
            name.to_owned(),
            "-sd".to_owned(),
            store.display().to_string(),
        ];
        args.extend_from_slice(extra);
        let mut nats = Nats {
            port,
            args,
            log: dir.join(format!("{name}.log")),
            store,
            child: None,
        };
        nats.run();
        nats
    }

    fn run(&mut self) {
        let log = std::fs::File::create(&self.log).expect("log file");
        let child = Command::new("nats-server")
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("start nats-server");
        self.child = Some(child);
        wait_listening(self.port, Duration::from_secs(10));
    }

    /// `nats://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// Kills the server (SIGKILL): what it had not written to disk is lost.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port and store.
    pub fn restart(&mut self) {
        self.kill();
        self.run();
    }

    /// The server's log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.store);
    }
}

/// Waits until something accepts TCP connections on `port`.
pub fn wait_listening(port: u16, within: Duration) {
    let deadline = Instant::now() + within;
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    while TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_err() {
        assert!(Instant::now() < deadline, "nothing listens on port {port}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits until JetStream answers on `url` (a cluster elects its leader first).
pub async fn jetstream(url: &str) -> (async_nats::Client, jetstream::Context) {
    let client = async_nats::connect(url).await.expect("connect to NATS");
    let js = jetstream::new(client.clone());
    let deadline = Instant::now() + Duration::from_secs(30);
    // (Not `query_account`: async-nats cannot read a 2.9 server's answer.)
    while !matches!(js.stream_names().next().await, None | Some(Ok(_))) {
        assert!(
            Instant::now() < deadline,
            "JetStream never became ready on {url}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (client, js)
}

/// The gateway binary as a child process.
pub struct Gateway {
    child: Option<Child>,
    pub id: String,
    pub metrics: SocketAddr,
    pub log: PathBuf,
    _config: PathBuf,
}

impl Gateway {
    /// Writes `config` into `dir` and starts the gateway on it; returns once
    /// it printed its `ready` line.
    pub fn start(dir: &Path, name: &str, config: &str) -> Gateway {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, config).expect("write the config");
        let log = dir.join(format!("{name}.log"));
        let mut child = Command::new(env!("CARGO_BIN_EXE_ami-gateway"))
            .arg("--config")
            .arg(&path)
            .env("RUST_LOG", "info,async_nats=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start ami-gateway");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).unwrap_or_default();
        let field = |key: &str| {
            line.split_whitespace()
                .find_map(|w| w.strip_prefix(key))
                .map(str::to_owned)
        };
        let (Some(id), Some(metrics)) = (field("gateway="), field("metrics=")) else {
            let _ = child.kill();
            panic!(
                "the gateway did not start: {line:?}\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
        };
        Gateway {
            child: Some(child),
            id,
            metrics: metrics.parse().expect("metrics address"),
            log,
            _config: path,
        }
    }

    /// SIGKILL: no shutdown, no lease released.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the exit; returns the exit code.
    pub fn terminate(&mut self, within: Duration) -> Option<i32> {
        let mut child = self.child.take()?;
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(child.id().to_string())
            .status();
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.code();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!(
                    "the gateway did not exit within {within:?}:\n{}",
                    self.log_text()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `GET path` on the gateway's HTTP endpoint: (status code, body).
    pub fn get(&self, path: &str) -> (u16, String) {
        use std::io::{Read, Write};
        let mut sock = TcpStream::connect(self.metrics).expect("connect to the metrics port");
        write!(sock, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").expect("write");
        let mut text = String::new();
        sock.read_to_string(&mut text).expect("read");
        let code = text
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = text.split("\r\n\r\n").nth(1).unwrap_or("").to_owned();
        (code, body)
    }

    /// One sample of a metric (`name{server="x"}`), if the gateway serves it.
    pub fn metric(&self, series: &str) -> Option<f64> {
        let (_, body) = self.get("/metrics");
        body.lines()
            .find_map(|l| l.strip_prefix(series)?.trim().parse().ok())
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A gateway configuration: `[gateway]` lines, then one server table per
/// (name, port), user `admin` / `amp111` (the fake Asterisk's).
pub fn config(gateway: &str, nodes: &[(&str, u16)], client: &str) -> String {
    let mut text = format!(
        "[gateway]\nmetrics_addr = \"127.0.0.1:0\"\n{gateway}\n\n[client]\nuser = \"admin\"\nsecret = \"amp111\"\n{client}\n"
    );
    for (name, port) in nodes {
        text.push_str(&format!(
            "\n[servers.{name}]\nhost = \"127.0.0.1\"\nport = {port}\n"
        ));
    }
    text
}

/// One stored message: its subject, its stream sequence, its JSON.
#[derive(Debug, Clone)]
pub struct Stored {
    pub subject: String,
    pub stream_seq: u64,
    pub json: serde_json::Value,
}

/// Reads the stream from its start until `done` says so over what was
/// read, or `within` passes; returns what was read.
pub async fn read_stream(
    js: &jetstream::Context,
    name: &str,
    within: Duration,
    done: impl Fn(&[Stored]) -> bool,
) -> Vec<Stored> {
    let deadline = Instant::now() + within;
    let stream = loop {
        match js.get_stream(name).await {
            Ok(s) => break s,
            Err(e) => {
                assert!(Instant::now() < deadline, "no stream {name}: {e}");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    };
    // A push consumer: the server streams, no pull request per batch.
    let consumer = stream
        .create_consumer(consumer::push::OrderedConfig {
            deliver_subject: js.client().new_inbox(),
            deliver_policy: consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("ordered consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut out = Vec::new();
    // `done` may look at everything read: ask it after a pause in the
    // flow or every 1,024 messages, not after each one.
    let mut ask = true;
    loop {
        if (ask || out.len() % 1024 == 0) && done(&out) {
            break;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        match tokio::time::timeout(left.min(Duration::from_millis(200)), messages.next()).await {
            Ok(Some(Ok(m))) => {
                ask = false;
                let info = m.info().expect("a JetStream message");
                let json = serde_json::from_slice(&m.payload).expect("JSON payload");
                // Every message the gateway stores is as the schema says.
                let def = if m.subject.ends_with(".gateway") {
                    "marker"
                } else {
                    "event"
                };
                schema::assert_valid(def, &json);
                out.push(Stored {
                    subject: m.subject.to_string(),
                    stream_seq: info.stream_sequence,
                    json,
                });
            }
            Ok(Some(Err(e))) => panic!("reading the stream: {e}"),
            Ok(None) => break,
            Err(_) => ask = true,
        }
    }
    out
}

/// The events (not markers) of `server`, in stream order.
pub fn events_of<'a>(stored: &'a [Stored], server: &str) -> Vec<&'a Stored> {
    stored
        .iter()
        .filter(|s| s.json["server"] == server && s.json.get("seq").is_some())
        .collect()
}

/// The stream's configuration, for the tests that make their own.
pub fn stream_config(name: &str) -> stream::Config {
    stream::Config {
        name: name.to_owned(),
        ..Default::default()
    }
}

//! Helpers shared by the integration tests: fake servers on 127.0.0.1,
//! client configs with short timeouts, deadlines and a watchdog.
#![allow(dead_code, unreachable_pub)]

use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use ami_blocking::{Multiplexer, NodeId, TickSummary};
use ami_proto::{AuthMethod, Config};
use ami_testkit::tls::Identity;
use ami_testkit::{Faults, OriginateBehavior, OriginateOutcome, ServerConfig, TcpServer};

/// A fake server with the corpus credentials, no auth-failure delay, a few
/// channels and one scripted command.
pub fn server(faults: Faults) -> TcpServer {
    TcpServer::start(server_config(), faults).expect("fake server starts")
}

/// The same over TLS, with `identity`'s certificate.
pub fn tls_server(identity: &Identity, faults: Faults) -> TcpServer {
    TcpServer::start_tls(Arc::new(server_config()), faults, identity.server_config())
        .expect("fake TLS server starts")
}

/// A fake server that acknowledges an async Originate and never reports
/// its outcome: the action can only time out.
pub fn never_answers_originate(faults: Faults) -> TcpServer {
    let config = ServerConfig {
        originate: OriginateBehavior {
            delay: Duration::from_millis(10),
            outcome: OriginateOutcome::Never,
        },
        ..server_config()
    };
    TcpServer::start(config, faults).expect("fake server starts")
}

/// An async Originate, its outcome reported by an event.
pub fn originate() -> ami_proto::Action {
    let call = ami_proto::Originate::new("PJSIP/100")
        .extension("default", "200", 1)
        .async_(true);
    ami_proto::Action::originate(call)
}

pub fn server_config() -> ServerConfig {
    ServerConfig {
        auth_failure_delay: Duration::ZERO,
        channels: 4,
        ..ServerConfig::default()
    }
    .with_command("sip show peers", &["Name/username  Host", "0 sip peers"])
}

/// A client config for the fake server's `admin` user, with timeouts short
/// enough for tests and a fixed seed.
pub fn config(name: &str) -> Config {
    let mut c = Config::new(name, "admin", "amp111");
    c.auth = AuthMethod::Md5;
    c.action_timeout = Duration::from_secs(5);
    c.login_timeout = Duration::from_secs(5);
    c.seed = 0x5eed_0000 ^ name.len() as u64;
    c
}

/// Aborts the test binary if the guard is not dropped within `limit`: the
/// last line of defence against a hung test.
pub struct Watchdog(Option<mpsc::Sender<()>>);

impl Watchdog {
    pub fn new(name: &'static str, limit: Duration) -> Watchdog {
        let (tx, rx) = mpsc::channel::<()>();
        std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(limit) {
                eprintln!("test {name} exceeded its {limit:?} deadline; aborting");
                std::process::abort();
            }
        });
        Watchdog(Some(tx))
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        if let Some(tx) = self.0.take() {
            let _ = tx.send(());
        }
    }
}

/// Ticks until `done` holds, failing after `limit`. Returns the ticks run.
pub fn tick_until(
    mux: &mut Multiplexer,
    limit: Duration,
    what: &str,
    mut done: impl FnMut(&mut Multiplexer, &TickSummary) -> bool,
) -> u64 {
    let end = Instant::now() + limit;
    let mut ticks = 0;
    loop {
        let summary = mux.tick(Duration::from_millis(20));
        ticks += 1;
        if done(mux, &summary) {
            return ticks;
        }
        assert!(
            Instant::now() < end,
            "timed out after {limit:?} waiting for {what}"
        );
    }
}

/// Ticks until every node in `nodes` is ready.
pub fn all_ready(mux: &mut Multiplexer, nodes: &[NodeId], limit: Duration) -> u64 {
    let nodes = nodes.to_vec();
    tick_until(mux, limit, "all nodes ready", move |m, _| {
        nodes.iter().all(|&n| m.is_ready(n))
    })
}

/// The `p`-th percentile (0..=100) of `samples`.
pub fn percentile(samples: &mut [Duration], p: f64) -> Duration {
    assert!(!samples.is_empty());
    samples.sort();
    let rank = ((p / 100.0) * (samples.len() - 1) as f64).round() as usize;
    samples[rank.min(samples.len() - 1)]
}

/// A UserEvent of about 100 KB (100 lines of 1,000 bytes): fills socket
/// buffers fast while staying within the server's line limits.
pub fn big_user_event(tag: &str) -> ami_proto::Action {
    let filler = "x".repeat(990);
    let headers: Vec<(String, String)> = (0..100)
        .map(|i| (format!("F{i}"), filler.clone()))
        .collect();
    let refs: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    ami_proto::Action::user_event(tag, &refs)
}

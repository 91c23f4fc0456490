//! The consumer examples (Rust, and Python with `nats-py`) replay the
//! stream from their stored position after a restart: every message once,
//! in order, across the two runs.
//!
//! The Python one runs with the interpreter named by `AMI_GATEWAY_PYTHON`
//! (a venv with `nats-py`; `.ci/run` makes it); without it the test says
//! it skips, unless `CI` is set.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use ami_testkit::{Faults, ServerConfig, TcpServer};
use common::{config, events_of, jetstream, read_stream, Gateway, Nats, TempDir};

const FLOOD: u64 = 300;

/// The stream positions a consumer run printed (first field of each line).
fn run(cmd: &mut Command) -> Vec<u64> {
    let out = cmd.output().expect("start the consumer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "consumer failed: {}\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .map(|l| l.split(' ').next().and_then(|p| p.parse().ok()).expect(l))
        .collect()
}

/// Runs a consumer twice on one state file (stopping the first after 100
/// messages) and checks the two runs saw positions 1..=total once, in order.
fn replays_after_restart(consumer: impl Fn(&Path, Option<u64>) -> Command, dir: &Path, total: u64) {
    let state = dir.join("position");
    let first = run(&mut consumer(&state, Some(100)));
    assert_eq!(first.len(), 100, "the first run stops after 100");
    assert_eq!(std::fs::read_to_string(&state).ok().as_deref(), Some("100"));
    let second = run(&mut consumer(&state, None));
    let all: Vec<u64> = first.into_iter().chain(second).collect();
    assert_eq!(
        all,
        (1..=total).collect::<Vec<_>>(),
        "every position once, in order"
    );
}

/// A stream with a whole flood of one node in it; returns its length.
async fn filled_stream(dir: &Path, nats: &Nats, node: &TcpServer) -> (Gateway, u64) {
    let cfg = config(
        &format!("nats = [\"{}\"]", nats.url()),
        &[("pbx1", node.port())],
        "",
    );
    let gw = Gateway::start(dir, "gw", &cfg);
    let (_client, js) = jetstream(&nats.url()).await;
    let stored = read_stream(&js, "AMI_EVENTS", Duration::from_secs(60), |s| {
        events_of(s, "pbx1").len() as u64 > FLOOD
    })
    .await;
    (gw, stored.len() as u64)
}

/// `target/<profile>/examples/<name>`, built by `cargo test` beside us.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps");
    profile.join("examples").join(name)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_consumer_examples_replay_from_their_stored_position() {
    if !common::nats_available() {
        return;
    }
    let dir = TempDir::new("consumers");
    let nats = Nats::start(&dir.0);
    let node = TcpServer::start(ServerConfig::default(), Faults::flood(FLOOD)).expect("node");
    let (_gw, total) = filled_stream(&dir.0, &nats, &node).await;
    let url = nats.url();

    let rust = example("consumer");
    assert!(rust.exists(), "{} not built", rust.display());
    let rust_dir = TempDir::new("consumer-rs");
    replays_after_restart(
        |state, max| {
            let mut cmd = Command::new(&rust);
            cmd.args(["--nats", &url, "--idle-ms", "1500", "--state"])
                .arg(state);
            if let Some(max) = max {
                cmd.args(["--max", &max.to_string()]);
            }
            cmd
        },
        &rust_dir.0,
        total,
    );

    let Some(python) = std::env::var_os("AMI_GATEWAY_PYTHON") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "AMI_GATEWAY_PYTHON is not set: .ci/run makes a venv with nats-py and sets it"
        );
        eprintln!("SKIPPED the Python consumer: set AMI_GATEWAY_PYTHON to a python with nats-py");
        return;
    };
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/consumer.py");
    let py_dir = TempDir::new("consumer-py");
    replays_after_restart(
        |state, max| {
            let mut cmd = Command::new(&python);
            cmd.arg(&script)
                .args(["--nats", &url, "--idle-ms", "1500", "--state"])
                .arg(state);
            if let Some(max) = max {
                cmd.args(["--max", &max.to_string()]);
            }
            cmd
        },
        &py_dir.0,
        total,
    );
}

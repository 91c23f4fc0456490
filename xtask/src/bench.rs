//! `cargo xtask bench [ARGS...]`: every benchmark, each figure beside a
//! baseline measured in the same run.
//!
//! 1. `cargo bench -p ami-proto --bench decode`: the decoder against a bare
//!    memchr split, the connection's events, lists, Command output, pending cost;
//! 2. `cargo bench -p ami-blocking --bench mux`: the multiplexer at 1, 10 and
//!    100 servers (CPU per event), and quiet nodes' ping latency under a flood;
//! 3. `cargo bench -p ami-state --bench model`: the live model's cost per
//!    event beside the plain decode of the same bytes;
//! 4. `ami-bench ARGS`: over loopback, our clients, the best peer
//!    (`asterisk-rs-ami`) and raw-socket baselines against one fast fake
//!    server: floods, pings, lists, Command output (`--quick` for a short
//!    run). It runs the bench clients as programs (BENCH-CONTRACT.md), so
//!    they are built first: `ami-bench-client` (ami-cli) and ami-bench's own
//!    binaries, all in release beside each other;
//! 5. `crates/ami-py/tests/bench.py`: the Python package's asyncio event flood
//!    and pings against pure-Python baselines (and panoramisk), in the virtual
//!    environment `cargo xtask py-test` made; skipped, saying so, without it;
//! 6. `cargo bench -p ami-gateway --bench gateway`: floods from 1 and 10 fake
//!    nodes through the gateway into JetStream beside a raw `async-nats`
//!    publisher of the same payloads (needs `nats-server`; says so without it).

use crate::{cargo, exec, py, Result};

/// Runs the six benchmarks in turn; `args` go to `ami-bench`.
pub(crate) fn run(args: &[String]) -> Result<()> {
    let quick = args.iter().any(|a| a == "--quick");
    exec(&mut cargo([
        "bench",
        "-p",
        "ami-proto",
        "--bench",
        "decode",
    ]))?;
    let mut mux = cargo(["bench", "-p", "ami-blocking", "--bench", "mux"]);
    if quick {
        mux.args(["--", "--quick"]);
    }
    exec(&mut mux)?;
    exec(&mut cargo(["bench", "-p", "ami-state", "--bench", "model"]))?;
    exec(&mut cargo([
        "build",
        "--release",
        "-p",
        "ami-cli",
        "--bin",
        "ami-bench-client",
    ]))?;
    exec(&mut cargo([
        "build",
        "--release",
        "-p",
        "ami-bench",
        "--bins",
    ]))?;
    let mut loopback = cargo([
        "run",
        "--release",
        "-p",
        "ami-bench",
        "--bin",
        "ami-bench",
        "--",
    ]);
    loopback.args(args);
    exec(&mut loopback)?;
    py::bench(quick)?;
    let mut gateway = cargo(["bench", "-p", "ami-gateway", "--bench", "gateway"]);
    if quick {
        gateway.args(["--", "--quick"]);
    }
    exec(&mut gateway)
}

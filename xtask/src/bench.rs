//! `cargo xtask bench [ARGS...]`: every benchmark, each figure beside a
//! baseline measured in the same run.
//!
//! 1. `cargo bench -p ami-proto --bench decode`: the decoder against a bare
//!    memchr split, the connection's events, lists, Command output, pending cost;
//! 2. `cargo bench -p ami-blocking --bench mux`: the multiplexer at 1, 10 and
//!    100 servers (CPU per event), and quiet nodes' ping latency under a flood;
//! 3. `cargo bench -p ami-state --bench model`: the live model's cost per
//!    event beside the plain decode of the same bytes;
//! 4. `cargo run --release -p ami-bench -- ARGS`: the async client's event flood
//!    and pings over loopback against raw-socket baselines (`--quick` for a
//!    short run);
//! 5. `crates/ami-py/tests/bench.py`: the Python package's asyncio event flood
//!    and pings against pure-Python baselines (and panoramisk), in the virtual
//!    environment `cargo xtask py-test` made; skipped, saying so, without it.

use crate::{cargo, exec, py, Result};

/// Runs the five benchmarks in turn; `args` go to `ami-bench`.
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
    let mut loopback = cargo(["run", "--release", "-p", "ami-bench", "--"]);
    loopback.args(args);
    exec(&mut loopback)?;
    py::bench(quick)
}

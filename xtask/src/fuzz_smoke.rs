//! `cargo xtask fuzz-smoke [--seconds N]`: the deterministic fuzz smoke of ami-proto.
//!
//! It runs the `fuzz_smoke` integration test of ami-proto in release mode with the
//! `arbitrary` feature; the test reads its time budget from `AMI_FUZZ_SECONDS`.

use crate::{cargo, exec, Result};

/// The budget when `--seconds` is not given (and the one `cargo xtask ci` uses).
pub(crate) const DEFAULT_SECONDS: u64 = 5;

/// Runs the smoke test with a budget of `seconds`.
pub(crate) fn run(seconds: u64) -> Result<()> {
    println!("fuzz smoke: AMI_FUZZ_SECONDS={seconds}");
    let mut cmd = cargo([
        "test",
        "--release",
        "-p",
        "ami-proto",
        "--features",
        "arbitrary",
        "--test",
        "fuzz_smoke",
    ]);
    cmd.env("AMI_FUZZ_SECONDS", seconds.to_string());
    exec(&mut cmd)
}

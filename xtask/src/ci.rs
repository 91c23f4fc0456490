//! `cargo xtask ci`: every check CI runs, in order, stopping at the first failure.
//!
//! 1. the active `rustc` is at least the workspace's `rust-version` (the
//!    toolchain CI runs), so the minimum `Cargo.toml` states is one CI checks
//! 2. `cargo fmt --all -- --check`
//! 3. `cargo clippy --workspace --all-targets -- -D warnings`
//! 4. `cargo test --workspace` (xtask's tests included: the files generated from
//!    `catalogue/` must be what `cargo xtask codegen` makes)
//! 5. `cargo xtask py-test`: the Python package's wheel and its pytest suite,
//!    in a fresh virtual environment
//! 6. `cargo doc --workspace --no-deps` with `RUSTDOCFLAGS=-D warnings`
//! 7. the fuzz smoke (`cargo xtask fuzz-smoke` with its default budget; it
//!    type-checks the cargo-fuzz targets first)
//! 8. `cargo deny check`, when cargo-deny is installed (without advisories when
//!    the advisory database cannot be fetched)
//!
//! Each step prints a `==> step` header and, when it ends, its duration.

use std::time::{Duration, Instant};

use crate::{cargo, exec, fuzz_smoke, py, rust_version, succeeds, Result};

/// Runs the steps in order and fails with the name of the first one that fails.
pub(crate) fn run() -> Result<()> {
    let started = Instant::now();
    step("rust-version", rust_version::check)?;
    step("fmt", || {
        exec(&mut cargo(["fmt", "--all", "--", "--check"]))
    })?;
    step("clippy", || {
        exec(&mut cargo([
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ]))
    })?;
    step("test", || exec(&mut cargo(["test", "--workspace"])))?;
    step("py-test", py::test)?;
    step("doc", || {
        let mut doc = cargo(["doc", "--workspace", "--no-deps"]);
        doc.env("RUSTDOCFLAGS", "-D warnings");
        exec(&mut doc)
    })?;
    step("fuzz-smoke", || {
        fuzz_smoke::run(fuzz_smoke::DEFAULT_SECONDS)
    })?;
    step("deny", deny)?;
    println!("==> ci passed in {}", seconds(started.elapsed()));
    Ok(())
}

/// Prints the header, runs `body`, prints how long it took, and names the step on failure.
fn step(name: &str, body: impl FnOnce() -> Result<()>) -> Result<()> {
    println!("==> {name}");
    let started = Instant::now();
    let outcome = body();
    let took = seconds(started.elapsed());
    match outcome {
        Ok(()) => {
            println!("==> {name}: ok in {took}");
            Ok(())
        }
        Err(message) => {
            println!("==> {name}: FAILED after {took}");
            Err(format!("ci step `{name}` failed: {message}"))
        }
    }
}

/// `cargo deny check` if cargo-deny is installed, else a note that it was skipped.
///
/// The advisories check needs the RustSec database from github.com; where that
/// cannot be fetched (CI may reach only crates.io), the other checks still run and
/// a warning says that advisories were not checked.
fn deny() -> Result<()> {
    if !succeeds(&mut cargo(["deny", "--version"])) {
        println!("cargo-deny not installed: skipped (cargo install --locked cargo-deny)");
        return Ok(());
    }
    if succeeds(&mut cargo(["deny", "fetch", "db"])) {
        return exec(&mut cargo(["deny", "check"]));
    }
    println!(
        "warning: the RustSec advisory database could not be fetched \
         (`cargo deny fetch db` shows why): advisories not checked"
    );
    exec(&mut cargo(["deny", "check", "bans", "licenses", "sources"]))
}

/// A duration as seconds with one decimal: `12.3s`.
fn seconds(duration: Duration) -> String {
    format!("{:.1}s", duration.as_secs_f64())
}

//! `cargo xtask fuzz-smoke [--seconds N]`: the deterministic fuzz smoke of ami-proto.
//!
//! It type-checks the cargo-fuzz targets of `fuzz/` on stable (without linking
//! libFuzzer: they would otherwise only be compiled with nightly and cargo-fuzz,
//! and go stale unseen), then runs the `fuzz_smoke` integration test of ami-proto
//! in release mode with the `arbitrary` feature; the test reads its time budget
//! from `AMI_FUZZ_SECONDS`.

use crate::{cargo, exec, Result};

/// The budget when `--seconds` is not given (and the one `cargo xtask ci` uses).
pub(crate) const DEFAULT_SECONDS: u64 = 5;

/// Checks the fuzz targets, then runs the smoke test with a budget of `seconds`.
pub(crate) fn run(seconds: u64) -> Result<()> {
    println!("fuzz targets: cargo check on stable, without libFuzzer");
    exec(&mut cargo([
        "check",
        "--manifest-path",
        "fuzz/Cargo.toml",
        "--bins",
        "--no-default-features",
    ]))?;
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

#[cfg(test)]
mod tests {
    use std::fs;

    use crate::project_root;

    /// Every fuzz target is a `[[bin]]` of the fuzz crate (so `run`'s check
    /// builds it) and is described in its README.
    #[test]
    fn every_fuzz_target_is_declared_and_described() {
        let fuzz = project_root().join("fuzz");
        let manifest = fs::read_to_string(fuzz.join("Cargo.toml")).expect("fuzz/Cargo.toml");
        let readme = fs::read_to_string(fuzz.join("README.md")).expect("fuzz/README.md");
        let targets = fs::read_dir(fuzz.join("fuzz_targets")).expect("fuzz/fuzz_targets");
        let mut names = Vec::new();
        for entry in targets {
            let path = entry.expect("a directory entry").path();
            let name = path
                .file_stem()
                .expect("a file")
                .to_string_lossy()
                .into_owned();
            let declared = format!("path = \"fuzz_targets/{name}.rs\"");
            assert!(manifest.contains(&declared), "{name} is not a [[bin]]");
            assert!(
                readme.contains(&format!("- `{name}`:")),
                "{name} is not in the README"
            );
            names.push(name);
        }
        assert!(names.len() >= 3, "{names:?}");
    }
}

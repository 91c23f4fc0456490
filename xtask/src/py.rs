//! `cargo xtask py-test`: the Python package (`crates/ami-py`), built and
//! tested the way a user installs it.
//!
//! 1. a fresh virtual environment, `target/py-venv` (`python3 -m venv`, or
//!    `$PYTHON -m venv`), with the pinned maturin and pytest from PyPI;
//! 2. `maturin build --release` of the wheel into `target/py-wheels`, and
//!    `pip install` of it (so the tests import the wheel, not the sources);
//! 3. `cargo build -p ami-cli`: the fake Asterisk the tests run as a
//!    subprocess (`ami serve`), unless `AMI_BIN` names one already;
//! 4. `pytest` on `crates/ami-py/tests`.
//!
//! `cargo xtask bench` then reuses that environment for the package's
//! benchmark ([`bench()`]).

use std::env;
use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{cargo, exec, project_root, succeeds, Result};

/// Tools from PyPI, pinned.
const MATURIN: &str = "maturin==1.16.0";
const PYTEST: &str = "pytest==9.2.0";
/// The Python AMI client the benchmark measures beside ours.
const PANORAMISK: &str = "panoramisk==1.4";

/// The workspace's target directory.
fn target_dir() -> PathBuf {
    env::var_os("CARGO_TARGET_DIR").map_or_else(|| project_root().join("target"), PathBuf::from)
}

/// Where the virtual environment lives.
fn venv() -> PathBuf {
    target_dir().join("py-venv")
}

/// A program of the virtual environment (`python`, `pip`, `maturin`).
fn bin(name: &str) -> PathBuf {
    venv().join("bin").join(name)
}

fn package() -> PathBuf {
    project_root().join("crates").join("ami-py")
}

/// Runs steps 1 to 4.
pub(crate) fn test() -> Result<()> {
    let venv = venv();
    if venv.exists() {
        fs::remove_dir_all(&venv).map_err(|e| format!("cannot remove {}: {e}", venv.display()))?;
    }
    let python = env::var_os("PYTHON").unwrap_or_else(|| OsString::from("python3"));
    exec(Command::new(&python).arg("-m").arg("venv").arg(&venv)).map_err(|e| {
        format!("{e}\n(the Python tests need CPython 3.9+ with its venv module, e.g. apt install python3-venv)")
    })?;
    pip(&["install", MATURIN, PYTEST])?;

    let wheels = target_dir().join("py-wheels");
    if wheels.exists() {
        fs::remove_dir_all(&wheels)
            .map_err(|e| format!("cannot remove {}: {e}", wheels.display()))?;
    }
    exec(
        Command::new(bin("maturin"))
            .args(["build", "--release", "--manifest-path"])
            .arg(package().join("Cargo.toml"))
            .arg("--interpreter")
            .arg(bin("python"))
            .arg("--out")
            .arg(&wheels)
            .current_dir(project_root()),
    )?;
    let wheel = only_wheel(&wheels)?;
    pip(&[
        "install",
        "--no-deps",
        wheel.to_str().ok_or("wheel path is not UTF-8")?,
    ])?;

    let ami = match env::var_os("AMI_BIN") {
        Some(ami) => PathBuf::from(ami),
        None => {
            exec(&mut cargo(["build", "-p", "ami-cli"]))?;
            target_dir().join("debug").join("ami")
        }
    };
    exec(
        Command::new(bin("python"))
            .args(["-m", "pytest", "-q", "tests"])
            .env("AMI_BIN", ami)
            .current_dir(package()),
    )
}

/// The benchmark of the package (`crates/ami-py/tests/bench.py`, with
/// panoramisk installed beside it when PyPI can be reached), if
/// `cargo xtask py-test` made its environment; else a note that it was
/// skipped.
pub(crate) fn bench(quick: bool) -> Result<()> {
    let python = bin("python");
    if !succeeds(Command::new(&python).args(["-c", "import ami"])) {
        println!(
            "ami-py bench skipped: no virtual environment with the package at {} \
             (`cargo xtask py-test` makes it)",
            venv().display()
        );
        return Ok(());
    }
    if pip(&["install", "--quiet", PANORAMISK]).is_err() {
        println!("panoramisk could not be installed: its row is skipped");
    }
    let mut run = Command::new(python);
    run.arg(package().join("tests").join("bench.py"))
        .arg("--panoramisk")
        .current_dir(project_root());
    if quick {
        run.arg("--quick");
    }
    exec(&mut run)
}

fn pip(args: &[&str]) -> Result<()> {
    exec(
        Command::new(bin("python"))
            .args(["-m", "pip", "--disable-pip-version-check"])
            .args(args),
    )
}

/// The one wheel maturin wrote into `dir`.
fn only_wheel(dir: &Path) -> Result<PathBuf> {
    let entries = fs::read_dir(dir).map_err(|e| format!("cannot read {}: {e}", dir.display()))?;
    let wheels: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    match wheels.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(format!(
            "expected one wheel in {}, found {}",
            dir.display(),
            wheels.len()
        )),
    }
}

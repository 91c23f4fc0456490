//! `cargo xtask codegen [--check]`: Rust generated from the AMI catalogue.
//!
//! `catalogue/ami-catalogue.json` lists Asterisk's manager actions and events
//! (13 to 23). Each generator (one submodule) turns it into one checked-in
//! file under `crates/ami-proto/src/generated/`, formatted by `rustfmt`:
//!
//! - [`lists`]: the actions that answer with an event list;
//! - [`actions`]: a builder per action, and the table of their parameters;
//! - [`events`]: a typed view per event, and the known event names.
//!
//! A generator is a function from the [`Catalogue`] to the file's text; add
//! one by writing the module and listing it in [`generate`]. The test below
//! fails when a checked-in file differs from what its generator makes, so CI
//! catches a hand edit or a forgotten `cargo xtask codegen`.

mod actions;
mod catalogue;
mod events;
mod lists;
mod names;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use self::catalogue::Catalogue;
use crate::{project_root, Result};

/// The catalogue, relative to the workspace root.
const CATALOGUE: &str = "catalogue/ami-catalogue.json";

/// What to do with a generated file that differs from the checked-in one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Write the new text.
    Write,
    /// Fail, naming the file.
    Check,
}

/// Runs every generator; in `Write` mode updates the files that differ.
pub(crate) fn run(mode: Mode) -> Result<()> {
    let root = project_root();
    let catalogue = Catalogue::load(&root.join(CATALOGUE))?;
    let mut stale = Vec::new();
    for (path, text) in generate(&catalogue)? {
        let path = root.join(path);
        if ensure_file_contents(&path, &reformat(text)?, mode)? {
            stale.push(path);
        }
    }
    match (mode, stale.is_empty()) {
        (_, true) => println!("generated files are up to date"),
        (Mode::Write, false) => {
            for path in &stale {
                println!("updated {}", display(&root, path));
            }
        }
        (Mode::Check, false) => {
            let names: Vec<String> = stale.iter().map(|p| display(&root, p)).collect();
            return Err(format!(
                "{} not up to date: run `cargo xtask codegen`",
                names.join(", ")
            ));
        }
    }
    Ok(())
}

/// Every generated file: its path from the workspace root and its text.
fn generate(catalogue: &Catalogue) -> Result<Vec<(&'static str, String)>> {
    Ok(vec![
        (lists::OUTPUT, lists::generate(catalogue)?),
        (actions::OUTPUT, actions::generate(catalogue)?),
        (events::OUTPUT, events::generate(catalogue)?),
    ])
}

/// Makes `path` hold `contents` (in `Write` mode) and says whether it did not
/// already: line ends are compared as `\n`, so a checkout with CRLF is not stale.
fn ensure_file_contents(path: &Path, contents: &str, mode: Mode) -> Result<bool> {
    let old = fs::read_to_string(path).unwrap_or_default();
    if old.replace("\r\n", "\n") == contents {
        return Ok(false);
    }
    if mode == Mode::Write {
        if let Some(dir) = path.parent() {
            fs::create_dir_all(dir)
                .map_err(|err| format!("cannot create {}: {err}", dir.display()))?;
        }
        fs::write(path, contents)
            .map_err(|err| format!("cannot write {}: {err}", path.display()))?;
    }
    Ok(true)
}

/// `text` as `cargo fmt` leaves it, so that the formatting check agrees. Run
/// from the workspace root, so that a `rustfmt.toml` there applies.
fn reformat(text: String) -> Result<String> {
    let mut rustfmt = Command::new(rustfmt_program())
        .args(["--edition", "2021", "--emit", "stdout"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .current_dir(project_root())
        .spawn()
        .map_err(|err| format!("cannot start rustfmt (rustup component add rustfmt): {err}"))?;
    rustfmt
        .stdin
        .take()
        .expect("stdin is piped")
        .write_all(text.as_bytes())
        .map_err(|err| format!("cannot write to rustfmt: {err}"))?;
    let output = rustfmt
        .wait_with_output()
        .map_err(|err| format!("rustfmt failed: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "rustfmt refused the generated code: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    String::from_utf8(output.stdout).map_err(|err| format!("rustfmt wrote non-UTF-8: {err}"))
}

/// `$RUSTFMT`, else `rustfmt` on `PATH` (rustup's proxy, which picks the
/// toolchain `cargo fmt` uses).
fn rustfmt_program() -> PathBuf {
    std::env::var_os("RUSTFMT")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("rustfmt"))
}

/// `path` relative to the workspace root, for messages.
fn display(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .display()
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::{run, Mode};

    /// The checked-in generated files are what the generators make from the
    /// checked-in catalogue. On failure: `cargo xtask codegen`, then review the diff.
    #[test]
    fn generated_files_are_fresh() {
        if let Err(message) = run(Mode::Check) {
            panic!("{message}");
        }
    }
}

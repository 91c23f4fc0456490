//! The `rust-version` check of `cargo xtask ci`: the active `rustc` must be
//! at least the workspace's `rust-version`, which is the toolchain CI runs,
//! so that the minimum the manifest states is one CI has built and tested.

use std::cmp::Ordering;
use std::fmt;
use std::process::Command;

use crate::{project_root, Result};

/// A Rust version: major, minor, patch (a missing patch is 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Version(u32, u32, u32);

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.0, self.1, self.2)
    }
}

/// Parses `1.95` or `1.95.0` (a pre-release tail such as `-nightly` is ignored).
fn parse(text: &str) -> Option<Version> {
    let text = text.split('-').next()?;
    let mut parts = text.split('.').map(str::parse::<u32>);
    let major = parts.next()?.ok()?;
    let minor = parts.next()?.ok()?;
    let patch = match parts.next() {
        Some(p) => p.ok()?,
        None => 0,
    };
    parts
        .next()
        .is_none()
        .then_some(Version(major, minor, patch))
}

/// The `rust-version` of the `[workspace.package]` table of a root manifest.
fn manifest_rust_version(manifest: &str) -> Option<Version> {
    let mut in_package = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_package = line == "[workspace.package]";
        } else if in_package {
            if let Some(value) = line.strip_prefix("rust-version") {
                let value = value.trim_start().strip_prefix('=')?.trim();
                return parse(value.trim_matches('"'));
            }
        }
    }
    None
}

/// The version in `rustc --version` output: `rustc 1.95.0 (59807616e 2026-04-14)`.
fn rustc_version(output: &str) -> Option<Version> {
    parse(output.strip_prefix("rustc ")?.split_whitespace().next()?)
}

/// Fails when the active `rustc` is older than the workspace's `rust-version`;
/// says so when it is newer (that run then does not check the stated minimum).
pub(crate) fn check() -> Result<()> {
    let path = project_root().join("Cargo.toml");
    let manifest = std::fs::read_to_string(&path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let wanted = manifest_rust_version(&manifest)
        .ok_or("no `rust-version = \"X.Y\"` in [workspace.package] of Cargo.toml")?;
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let output = Command::new(&rustc)
        .arg("--version")
        .output()
        .map_err(|e| format!("cannot run `rustc --version`: {e}"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    let active =
        rustc_version(&text).ok_or_else(|| format!("unexpected `rustc --version`: {text:?}"))?;
    println!("rust-version {wanted}, active rustc {active}");
    match active.cmp(&wanted) {
        Ordering::Less => Err(format!(
            "rustc {active} is older than rust-version {wanted}: CI must run {wanted}"
        )),
        Ordering::Equal => Ok(()),
        Ordering::Greater => {
            println!(
                "warning: rustc {active} is newer than rust-version {wanted}, which this run \
                 does not check: set rust-version to the toolchain CI runs"
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_and_compare() {
        assert_eq!(parse("1.95"), Some(Version(1, 95, 0)));
        assert_eq!(parse("1.95.1"), Some(Version(1, 95, 1)));
        assert_eq!(parse("1.96.0-nightly"), Some(Version(1, 96, 0)));
        for bad in ["", "1", "1.x", "1.2.3.4", "one.two"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert!(Version(1, 80, 0) < Version(1, 95, 0));
        assert!(Version(1, 95, 0) < Version(1, 95, 1));
    }

    #[test]
    fn the_manifest_and_rustc_say_their_versions() {
        let manifest = "[workspace]\nmembers = []\n\n[workspace.package]\nversion = \"0.1.0\"\n\
                        rust-version = \"1.95\"\n\n[package]\nrust-version = \"1.20\"\n";
        assert_eq!(manifest_rust_version(manifest), Some(Version(1, 95, 0)));
        assert_eq!(
            manifest_rust_version("[package]\nrust-version = \"1.2\"\n"),
            None
        );
        assert_eq!(
            rustc_version("rustc 1.95.0 (59807616e 2026-04-14)\n"),
            Some(Version(1, 95, 0))
        );
        assert_eq!(rustc_version("cargo 1.95.0"), None);
    }

    /// This workspace's own manifest states a version the parser reads.
    #[test]
    fn the_workspace_states_its_rust_version() {
        let manifest = std::fs::read_to_string(project_root().join("Cargo.toml")).expect("read");
        assert!(manifest_rust_version(&manifest).is_some());
    }
}

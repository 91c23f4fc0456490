//! `cargo xtask bench [ARGS...]`: the decoder benchmark, then the loopback client.
//!
//! First `cargo bench -p ami-proto --bench decode` (decoder against a bare memchr
//! split); then, when the workspace has an `ami-bench` package, its release build
//! with `ARGS` (end-to-end rates against a fake server, see BENCH-CONTRACT.md).

use std::process::Stdio;

use crate::{cargo, display, exec, Result};

/// The package that measures end-to-end loopback rates, when it exists.
const LOOPBACK_PACKAGE: &str = "ami-bench";

/// Runs the decoder benchmark, then `ami-bench` with `args` if the package exists.
pub(crate) fn run(args: &[String]) -> Result<()> {
    exec(&mut cargo([
        "bench",
        "-p",
        "ami-proto",
        "--bench",
        "decode",
    ]))?;
    if !workspace_has_package(LOOPBACK_PACKAGE)? {
        println!("note: no `{LOOPBACK_PACKAGE}` package in the workspace; skipped the loopback benchmark");
        if !args.is_empty() {
            println!(
                "note: unused arguments (they were for {LOOPBACK_PACKAGE}): {}",
                args.join(" ")
            );
        }
        return Ok(());
    }
    let mut cmd = cargo(["run", "--release", "-p", LOOPBACK_PACKAGE, "--"]);
    cmd.args(args);
    exec(&mut cmd)
}

/// Whether `cargo metadata` lists a workspace package called `name`.
fn workspace_has_package(name: &str) -> Result<bool> {
    let mut cmd = cargo(["metadata", "--format-version", "1", "--no-deps"]);
    let output = cmd
        .stderr(Stdio::inherit())
        .output()
        .map_err(|err| format!("could not start `{}`: {err}", display(&cmd)))?;
    if !output.status.success() {
        return Err(format!("`{}` failed ({})", display(&cmd), output.status));
    }
    Ok(metadata_names(
        &String::from_utf8_lossy(&output.stdout),
        name,
    ))
}

/// Whether the `cargo metadata` JSON text carries `"name":"<name>"`.
///
/// A text search rather than a JSON parser keeps xtask free of dependencies;
/// cargo prints the JSON compactly, without spaces after the colons.
fn metadata_names(json: &str, name: &str) -> bool {
    json.contains(&format!("\"name\":\"{name}\""))
}

/// The metadata text search.
#[cfg(test)]
mod tests {
    use super::metadata_names;

    /// An exact name matches; a longer name that starts the same does not.
    #[test]
    fn finds_exact_package_name() {
        let json =
            r#"{"packages":[{"name":"ami-bench-client","version":"0.1.0"},{"name":"ami-proto"}]}"#;
        assert!(metadata_names(json, "ami-proto"));
        assert!(!metadata_names(json, "ami-bench"));
        assert!(metadata_names(
            r#"[{"name":"ami-bench","version":"0.1.0"}]"#,
            "ami-bench"
        ));
    }
}

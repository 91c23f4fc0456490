//! `ami actions [NAME]`: what Asterisk's docs say about the actions, from
//! the catalogue compiled into `ami_proto::actions`; no server involved.
//!
//! Without a name, every documented action, one per line. With one (case
//! ignored), its parameters in the docs' order, each `required` or
//! `optional`, with the versions or the reason where they differ: what
//! `ami action` refuses to send without (exit 2).

use std::io::Write;
use std::process::ExitCode;

use ami_proto::actions::{self, ActionInfo};

use crate::exit::Fail;

/// Flags of `ami actions`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// An action's name (case ignored); without one, every action.
    name: Option<String>,
}

/// Runs `ami actions`.
pub(crate) fn run(args: Args) -> Result<ExitCode, Fail> {
    let mut out = std::io::stdout().lock();
    let written = match &args.name {
        None => actions::ACTIONS
            .iter()
            .try_for_each(|info| writeln!(out, "{}", info.name)),
        Some(name) => {
            let info = actions::find(name).ok_or_else(|| {
                Fail::Usage(format!(
                    "no Asterisk version from 13 to 23 documents an action named {name:?} \
                     (`ami actions` lists them)"
                ))
            })?;
            describe(&mut out, info)
        }
    };
    written.map_err(|e| Fail::Other(format!("stdout: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

/// `Name (Asterisk versions)`, then a line per parameter.
fn describe(out: &mut impl Write, info: &ActionInfo) -> std::io::Result<()> {
    writeln!(out, "{} (Asterisk {})", info.name, info.versions)?;
    let width = info.parameters.iter().map(|p| p.name.len()).max();
    for p in info.parameters {
        let need = if p.required { "required" } else { "optional" };
        let line = format!(
            "  {:width$}  {need}  {}",
            p.name,
            p.note,
            width = width.unwrap_or(0)
        );
        writeln!(out, "{}", line.trim_end())?;
    }
    if info.parameters.is_empty() {
        writeln!(out, "  (no parameters)")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_per_parameter_with_its_need_and_note() {
        let mut out = Vec::new();
        describe(&mut out, actions::find("Setvar").expect("documented")).expect("written");
        let text = String::from_utf8(out).expect("UTF-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "Setvar (Asterisk 13.38.3 to 23.4.1)");
        assert_eq!(lines[1], "  Channel   optional");
        assert_eq!(lines[2], "  Variable  required");
        assert!(
            lines[3].starts_with("  Value     optional  docs say required"),
            "{text}"
        );
    }
}

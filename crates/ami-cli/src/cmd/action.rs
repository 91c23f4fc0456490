//! `ami action NAME [Key=Value ...]`: one action, its completion printed.
//!
//! The completion is whatever the action's strategy collects: one response,
//! an event list (`CoreShowChannels`, `Status`, ...), Command output, or the
//! outcome of an async Originate. A `Response: Error` prints the server's
//! message and exits 6; an Originate whose call failed exits 6 as well. An
//! action the catalogue knows that lacks a parameter every Asterisk version
//! requires is refused before connecting, exit 2 (`ami actions NAME` lists
//! its parameters).

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use ami_proto::{Action, Completion, Headers};

use crate::cmd::send_once;
use crate::config::ServerArgs;
use crate::exit::Fail;
use crate::json;

/// Flags of `ami action`.
#[derive(clap::Args, Debug)]
pub(crate) struct Args {
    /// The action's name: Ping, CoreShowChannels, Originate, Hangup, ...
    /// (`ami actions NAME` lists its parameters).
    name: String,
    /// The action's headers, as Key=Value (the value may be empty or hold '=').
    #[arg(value_name = "KEY=VALUE")]
    headers: Vec<String>,
    /// Print the completion as one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Seconds to wait for the completion (default: the configured action timeout).
    #[arg(long, value_name = "SECONDS")]
    timeout: Option<f64>,
}

/// Runs `ami action`.
pub(crate) fn run(server_args: &ServerArgs, args: Args) -> Result<ExitCode, Fail> {
    let mut action = Action::new(&args.name);
    if args.name.is_empty() || args.name.contains([':', '\r', '\n', ' ']) {
        return Err(Fail::Usage(format!("invalid action name {:?}", args.name)));
    }
    for h in &args.headers {
        let (k, v) = parse_header(h)?;
        action = action.header(k, v);
    }
    // Before connecting: the core would refuse it at `send` all the same.
    action.check_required().map_err(|e| {
        Fail::Usage(format!(
            "{e} (`ami actions {}` lists its parameters)",
            args.name
        ))
    })?;
    let (server, completion) = send_once(server_args, action, args.timeout)?;
    let mut out = std::io::stdout().lock();
    let written = if args.json {
        writeln!(
            out,
            "{}",
            json::completion(&server, &args.name, &completion)
        )
    } else {
        write_text(&mut out, &completion)
    };
    written.map_err(|e| Fail::Other(format!("stdout: {e}")))?;
    if let Some(o) = completion.originate() {
        if !o.is_success() {
            let reason = o.reason().map_or("unknown".into(), |r| r.to_string());
            return Err(Fail::Action(format!(
                "{}: originate failed (Reason: {reason})",
                server
            )));
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A duration from a positive number of seconds given on the command line.
pub(crate) fn seconds(secs: f64) -> Result<Duration, Fail> {
    if secs.is_finite() && secs > 0.0 && secs <= 86_400.0 {
        Ok(Duration::from_secs_f64(secs))
    } else {
        Err(Fail::Usage(format!(
            "--timeout {secs}: expected seconds in (0, 86400]"
        )))
    }
}

/// Splits `Key=Value` at its first `=`. The key must be a valid header name.
pub(crate) fn parse_header(arg: &str) -> Result<(&str, &str), Fail> {
    let bad = |why: &str| Fail::Usage(format!("malformed header {arg:?}: {why}"));
    let (key, value) = arg
        .split_once('=')
        .ok_or_else(|| bad("expected Key=Value"))?;
    if key.is_empty() {
        return Err(bad("empty key"));
    }
    if key
        .bytes()
        .any(|b| b == b':' || b.is_ascii_whitespace() || b.is_ascii_control())
    {
        return Err(bad(
            "the key may not contain ':', spaces or control characters",
        ));
    }
    if value.contains(['\r', '\n']) {
        return Err(bad("the value may not contain a line break"));
    }
    Ok((key, value))
}

/// The completion as `Name: value` blocks separated by blank lines (items
/// of a list, the Originate event) and raw lines (Command output).
fn write_text(out: &mut impl Write, c: &Completion) -> std::io::Result<()> {
    fn block(out: &mut impl Write, h: &Headers) -> std::io::Result<()> {
        for (n, v) in h.iter() {
            writeln!(out, "{}: {}", json::text(n), json::text(v))?;
        }
        Ok(())
    }
    block(out, c.response().headers())?;
    let items = c.list_items().into_iter().flatten();
    let events = items
        .chain(c.list_complete().cloned())
        .chain(c.originate().map(|o| o.event.clone()));
    for event in events {
        writeln!(out)?;
        block(out, event.headers())?;
    }
    if let Some(lines) = c.command_lines() {
        writeln!(out)?;
        for line in lines {
            out.write_all(line)?;
            writeln!(out)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_value_arguments() {
        let ok = [
            ("Channel=PJSIP/100", ("Channel", "PJSIP/100")),
            ("Variable=A=1", ("Variable", "A=1")),
            ("Data=", ("Data", "")),
        ];
        for (arg, want) in ok {
            assert_eq!(parse_header(arg).unwrap(), want, "{arg}");
        }
        for bad in [
            "Channel",
            "=x",
            "Chan nel=x",
            "Chan:nel=x",
            "A=b\r\nAction: Hangup",
        ] {
            assert!(matches!(parse_header(bad), Err(Fail::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn timeouts_must_be_positive() {
        assert_eq!(seconds(1.5).unwrap(), Duration::from_millis(1500));
        for bad in [0.0, -1.0, f64::NAN, 1e9] {
            assert!(seconds(bad).is_err());
        }
    }
}

//! `ami`: talk to Asterisk Manager Interface servers from a shell.
//!
//! ```text
//! cargo run --release -p ami-cli -- demo            # a simulated Asterisk, in-process
//! ami listen --config servers.toml --event Hangup   # JSON lines from every server
//! ami action Ping                                   # one action, its completion
//! ami command 'core show channels'                  # CLI output lines
//! ami decode capture.raw                            # a captured byte stream as JSON
//! ```
//!
//! Exit codes are listed in [`exit`]; logs go to stderr (`RUST_LOG`), with
//! secrets redacted by the core's policy.

mod cmd;
mod config;
mod exit;
mod json;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::ServerArgs;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (listen: stopped by SIGINT/SIGTERM)
  1  other failure (unreadable input, failed demo, I/O error)
  2  usage (bad flag, malformed Key=Value, ambiguous server)
  3  configuration (unknown server, bad config file, missing user/secret, limit out of range)
  4  connection (unreachable, refused, timeout, not an AMI server)
  5  authentication refused
  6  the server answered Response: Error
  7  the action did not complete (timeout, connection lost)

Server selection, lowest to highest: defaults (127.0.0.1:5038), AMI_HOST/AMI_PORT/
AMI_USER/AMI_SECRET, the config file's [client] table, its [servers.NAME] table, flags.";

/// The command line.
#[derive(Parser, Debug)]
#[command(name = "ami", version, about = "Asterisk Manager Interface client", after_help = EXIT_CODES)]
struct Cli {
    #[command(flatten)]
    server: ServerArgs,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Run a simulated Asterisk in-process and drive it as a real client would.
    Demo(cmd::demo::Args),
    /// Stream events as JSON lines from one or more servers, reconnecting forever.
    Listen(cmd::listen::Args),
    /// Send one action and print its completion.
    Action(cmd::action::Args),
    /// Run a CLI command and print its output lines.
    Command(cmd::command::Args),
    /// Decode a captured server byte stream into JSON lines, one per frame.
    Decode(cmd::decode::Args),
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        // Help and version exit 0; usage errors exit 2 with clap's message.
        Err(e) => e.exit(),
    };
    // One-shot commands print one error line: the client's own connect
    // warnings would repeat it. `listen` shows them: they say why it waits.
    let default_filter = match cli.cmd {
        Cmd::Listen(_) => "warn",
        _ => "warn,ami_smol=error",
    };
    init_logging(default_filter);
    let result = match cli.cmd {
        Cmd::Demo(args) => cmd::demo::run(args),
        Cmd::Listen(args) => cmd::listen::run(&cli.server, args),
        Cmd::Action(args) => cmd::action::run(&cli.server, args),
        Cmd::Command(args) => cmd::command::run(&cli.server, args),
        Cmd::Decode(args) => cmd::decode::run(args),
    };
    match result {
        Ok(code) => code,
        Err(fail) => fail.report(),
    }
}

/// Logs to stderr, filtered by `RUST_LOG` (else `default`).
fn init_logging(default: &str) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

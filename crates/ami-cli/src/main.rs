//! `ami`: talk to Asterisk Manager Interface servers from a shell.
//!
//! ```text
//! cargo run --release -p ami-cli -- demo            # a simulated Asterisk, in-process
//! ami serve --port 5038 --dest 999=fail             # the simulated Asterisk as a server
//! ami listen --config servers.toml --event Hangup   # JSON lines from every server
//! ami action Ping                                   # one action, its completion
//! ami actions Originate                             # its parameters, which are required
//! ami command 'core show channels'                  # CLI output lines
//! ami decode capture.raw                            # a captured byte stream as JSON
//! ami top                                           # live queues, bridges, channels
//! ami state --json                                  # one snapshot of every server
//! ```
//!
//! Exit codes are listed in [`exit`]; logs go to stderr (`RUST_LOG`), with
//! secrets redacted by the core's policy.

mod cmd;
mod exit;
mod json;
mod logging;
mod stage;
mod view;

/// The server tables and flags, shared with the gateway.
use ami_config as config;

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{ArgMatches, Args, CommandFactory, FromArgMatches, Parser, Subcommand};

use crate::config::ServerArgs;
use crate::logging::Logging;

const EXIT_CODES: &str = "\
Exit codes:
  0  success (listen, serve, top: stopped by SIGINT/SIGTERM)
  1  other failure (unreadable input, failed demo, I/O error)
  2  usage (bad flag, a server flag given to demo, serve, decode or actions,
     malformed Key=Value, an action missing a required parameter, ambiguous
     server)
  3  configuration (unknown server, bad config file, missing user/secret, limit out of range)
  4  connection (unreachable, refused, timeout, not an AMI server; listen, top:
     before the server's first login)
  5  authentication refused (listen, top: before the server's first login)
  6  the server answered Response: Error
  7  the action did not complete (timeout, connection lost; state: the lists did
     not complete within --timeout)

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
    /// Run the simulated Asterisk as a server on 127.0.0.1 until SIGINT or
    /// SIGTERM; prints `listening ADDR user=NAME secret=SECRET` first.
    Serve(cmd::serve::Args),
    /// Stream events as JSON lines from one or more servers: each must log in
    /// once, then is reconnected for as long as the command runs.
    Listen(cmd::listen::Args),
    /// Send one action and print its completion.
    Action(cmd::action::Args),
    /// List the actions Asterisk 13 to 23 documents, or one action's
    /// parameters and which are required (no server involved).
    Actions(cmd::actions::Args),
    /// Run a CLI command and print its output lines.
    Command(cmd::command::Args),
    /// Decode a captured server byte stream into JSON lines, one per frame.
    Decode(cmd::decode::Args),
    /// A live view of every server's queues, bridges and channels, refreshed
    /// in place until SIGINT or SIGTERM.
    Top(cmd::top::Args),
    /// One snapshot of every server's channels, bridges, queues, device and
    /// hint states (text, or one JSON document with --json).
    State(cmd::state::Args),
}

fn main() -> ExitCode {
    // Help and version exit 0; usage errors exit 2 with clap's message.
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(e) = refuse_server_flags(&cli.cmd, &matches) {
        e.exit();
    }
    let logging = Logging::init();
    let result = match cli.cmd {
        Cmd::Demo(args) => cmd::demo::run(args),
        Cmd::Serve(args) => cmd::serve::run(cli.server.port, args),
        Cmd::Listen(args) => cmd::listen::run(&cli.server, args, &logging),
        Cmd::Action(args) => cmd::action::run(&cli.server, args),
        Cmd::Actions(args) => cmd::actions::run(args),
        Cmd::Command(args) => cmd::command::run(&cli.server, args),
        Cmd::Decode(args) => cmd::decode::run(args),
        Cmd::Top(args) => cmd::top::run(&cli.server, args),
        Cmd::State(args) => cmd::state::run(&cli.server, args),
    };
    match result {
        Ok(code) => code,
        Err(fail) => fail.report(),
    }
}

/// `demo`, `serve`, `decode` and `actions` talk to no server: a server flag
/// given to them (the flags are global, so clap accepts them anywhere) would
/// be ignored without a word, so it is a usage error, exit 2. `serve` takes
/// `--port` as the port it listens on.
fn refuse_server_flags(cmd: &Cmd, matches: &ArgMatches) -> Result<(), clap::Error> {
    let (name, allowed) = match cmd {
        Cmd::Demo(_) => ("demo", None),
        Cmd::Serve(_) => ("serve", Some("port")),
        Cmd::Decode(_) => ("decode", None),
        Cmd::Actions(_) => ("actions", None),
        Cmd::Listen(_) | Cmd::Action(_) | Cmd::Command(_) | Cmd::Top(_) | Cmd::State(_) => {
            return Ok(())
        }
    };
    let server_flags = ServerArgs::augment_args(clap::Command::new("server"));
    let given = server_flags.get_arguments().find(|arg| {
        let id = arg.get_id().as_str();
        Some(id) != allowed && matches.value_source(id) == Some(ValueSource::CommandLine)
    });
    let Some(arg) = given else {
        return Ok(());
    };
    let flag = match arg.get_long() {
        Some(long) => format!("--{long}"),
        None => arg.get_id().to_string(),
    };
    let mut cli = Cli::command();
    cli.build();
    let sub = cli
        .find_subcommand_mut(name)
        .expect("every Cmd variant is a subcommand");
    Err(sub.error(
        ErrorKind::ArgumentConflict,
        format!("the argument '{flag}' cannot be used with 'ami {name}': it talks to no server"),
    ))
}

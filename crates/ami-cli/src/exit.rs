//! Exit codes and the one-line error that goes with them.
//!
//! Every failure the user can cause (bad flags, a bad config, an unreachable
//! server, a wrong password, an action the server refused) ends the process
//! with one line on stderr and one of these codes, never with a panic. The
//! one exception to "one line" is a server's output lines (a failed CLI
//! command's `No such command ...`): each keeps a line of its own, as the
//! Asterisk CLI prints them.
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success (and a clean shutdown of `listen`, `serve` or `top` on SIGINT/SIGTERM) |
//! | 1 | anything else: an unreadable input file, a failed demo, an I/O error |
//! | 2 | usage: unknown flag, a server flag given to `demo`, `serve`, `decode` or `actions`, malformed `Key=Value`, an action missing a parameter every Asterisk version requires (any action the core refuses to send), ambiguous server choice |
//! | 3 | configuration: unknown server name, bad config file, missing user or secret, a limit out of range |
//! | 4 | connection: host unreachable, connection refused, connect or login timeout, not an AMI server (`listen`, `top`: before the server's first login) |
//! | 5 | authentication: the server refused the credentials (`listen`, `top`: before the server's first login) |
//! | 6 | the server refused the action: `Response: Error` (or `Failure`, or any status but `Success`) |
//! | 7 | the action did not complete: timeout, connection lost, reply too large (`state`: the lists did not complete within `--timeout`) |

use std::fmt;
use std::process::ExitCode;

use ami_proto::{ActionError, LoginError};
use ami_smol::{ClientError, ConnectError};

/// A failure that ends the command, with the exit code that names its kind.
#[derive(Debug)]
pub(crate) enum Fail {
    /// Exit 1: anything not covered below.
    Other(String),
    /// Exit 2: the command line is wrong.
    Usage(String),
    /// Exit 3: the configuration is wrong.
    Config(String),
    /// Exit 4: no connection (or no AMI server at the other end).
    Connect(String),
    /// Exit 5: the server refused the credentials.
    Auth(String),
    /// Exit 6: the server answered `Response: Error`. The message's lines
    /// are the server's (see [`Fail::action`]), each printed on its own.
    Action(String),
    /// Exit 7: the action ended without an answer.
    Incomplete(String),
}

impl Fail {
    /// The process exit code of this failure.
    pub(crate) fn code(&self) -> u8 {
        match self {
            Fail::Other(_) => 1,
            Fail::Usage(_) => 2,
            Fail::Config(_) => 3,
            Fail::Connect(_) => 4,
            Fail::Auth(_) => 5,
            Fail::Action(_) => 6,
            Fail::Incomplete(_) => 7,
        }
    }

    /// Prints the one-line error on stderr and returns the exit code.
    pub(crate) fn report(&self) -> ExitCode {
        eprintln!("ami: error: {self}");
        ExitCode::from(self.code())
    }

    /// The failure of connecting to server `name`.
    pub(crate) fn connect(name: &str, err: ConnectError) -> Fail {
        match err {
            ConnectError::Login(LoginError::AuthenticationFailed(msg)) => {
                Fail::Auth(format!("{name}: authentication failed: {msg}"))
            }
            ConnectError::Login(e @ (LoginError::Refused(_) | LoginError::Failed { .. })) => {
                Fail::Auth(format!("{name}: {e}"))
            }
            ConnectError::Config(e) => Fail::Config(format!("{name}: {e}")),
            other => Fail::Connect(format!("{name}: {other}")),
        }
    }

    /// The failure of an action sent to server `name`.
    pub(crate) fn action(name: &str, err: ClientError) -> Fail {
        match err {
            ClientError::Action(
                ActionError::Server { message, .. } | ActionError::Failed { message, .. },
            ) => Fail::Action(format!("{name}: {}", as_written(&message))),
            ClientError::Send(e) => Fail::Usage(format!("{name}: action refused: {e}")),
            other => Fail::Incomplete(format!("{name}: {other}")),
        }
    }
}

/// The `Message` of a `Command` response that announces its output lines.
const COMMAND_OUTPUT_FOLLOWS: &str = "Command output follows";

/// A server error's text (its `Message`, then its output lines, one per
/// line) as the server wrote it, without the `Command output follows` that
/// only announces the lines: what the Asterisk CLI would print.
fn as_written(message: &str) -> &str {
    match message.split_once('\n') {
        Some((COMMAND_OUTPUT_FOLLOWS, output)) => output,
        _ => message,
    }
}

/// A configuration the shared config crate refused: exit 3.
impl From<ami_config::Invalid> for Fail {
    fn from(invalid: ami_config::Invalid) -> Fail {
        Fail::Config(invalid.0)
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            // The server's lines, each on its own (never a stray CR).
            Fail::Action(m) => f.write_str(&m.replace('\r', "")),
            Fail::Other(m)
            | Fail::Usage(m)
            | Fail::Config(m)
            | Fail::Connect(m)
            | Fail::Auth(m)
            | Fail::Incomplete(m) => {
                // One line, whatever the message held.
                f.write_str(&m.replace(['\r', '\n'], " "))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_errors_read_as_the_server_wrote_them() {
        assert_eq!(as_written("No such channel"), "No such channel");
        assert_eq!(
            as_written("Command output follows\nNo such command 'x'"),
            "No such command 'x'"
        );
        assert_eq!(
            as_written("Command output follows"),
            "Command output follows"
        );
        assert_eq!(
            as_written("Permission denied\nwhy"),
            "Permission denied\nwhy"
        );
        // The server's lines keep their own lines; any other failure is one.
        assert_eq!(Fail::Action("a\r\nb".into()).to_string(), "a\nb");
        assert_eq!(Fail::Connect("a\r\nb".into()).to_string(), "a  b");
    }

    #[test]
    fn a_refusal_with_any_status_is_the_servers_answer() {
        // `Response: Failure` (or any status but Success) is the server's
        // refusal, as `Error` is: exit 6, not "did not complete".
        let failed = ActionError::Failed {
            status: "Failure".into(),
            message: "Originate failed".into(),
        };
        let fail = Fail::action("pbx1", ClientError::Action(failed));
        assert_eq!(fail.code(), 6, "{fail}");
        assert!(fail.to_string().contains("Originate failed"), "{fail}");
        // A login answered with another status is a refused login: exit 5.
        let login = LoginError::Failed {
            status: "Failure".into(),
            message: "nope".into(),
        };
        assert_eq!(Fail::connect("pbx1", ConnectError::Login(login)).code(), 5);
    }
}

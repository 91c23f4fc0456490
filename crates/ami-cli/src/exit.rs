//! Exit codes and the one-line error that goes with them.
//!
//! Every failure the user can cause (bad flags, a bad config, an unreachable
//! server, a wrong password, an action the server refused) ends the process
//! with one line on stderr and one of these codes, never with a panic:
//!
//! | code | meaning |
//! |------|---------|
//! | 0 | success (and a clean shutdown of `listen` on SIGINT/SIGTERM) |
//! | 1 | anything else: an unreadable input file, a failed demo, an I/O error |
//! | 2 | usage: unknown flag, malformed `Key=Value`, ambiguous server choice |
//! | 3 | configuration: unknown server name, bad config file, missing user or secret, a limit out of range |
//! | 4 | connection: host unreachable, connection refused, connect or login timeout, not an AMI server |
//! | 5 | authentication: the server refused the credentials |
//! | 6 | the server answered the action with `Response: Error` |
//! | 7 | the action did not complete: timeout, connection lost, reply too large |

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
    /// Exit 6: the server answered `Response: Error`.
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
            ConnectError::Login(LoginError::Refused(msg)) => {
                Fail::Auth(format!("{name}: login refused: {msg}"))
            }
            ConnectError::Config(e) => Fail::Config(format!("{name}: {e}")),
            other => Fail::Connect(format!("{name}: {other}")),
        }
    }

    /// The failure of an action sent to server `name`.
    pub(crate) fn action(name: &str, err: ClientError) -> Fail {
        match err {
            ClientError::Action(ActionError::Server { message }) => {
                Fail::Action(format!("{name}: {message}"))
            }
            ClientError::Send(e) => Fail::Usage(format!("{name}: action refused: {e}")),
            other => Fail::Incomplete(format!("{name}: {other}")),
        }
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (Fail::Other(m)
        | Fail::Usage(m)
        | Fail::Config(m)
        | Fail::Connect(m)
        | Fail::Auth(m)
        | Fail::Action(m)
        | Fail::Incomplete(m)) = self;
        // One line, whatever the message held.
        f.write_str(&m.replace(['\r', '\n'], " "))
    }
}

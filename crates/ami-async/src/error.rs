//! The client's errors: why a connect failed, why a send failed.

use std::fmt;
use std::io;

use ami_proto::{ActionError, ConfigError, LoginError, SendError};

use crate::runtime::SpawnError;

/// Why [`ClientBuilder::connect`](crate::ClientBuilder::connect) did not produce a logged-in client.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// DNS or the TCP connect failed (refused, unreachable, ...).
    Connect(io::Error),
    /// DNS, the TCP connect and the TLS handshake took longer than
    /// `connect_timeout`.
    Timeout,
    /// TLS failed: the server's certificate was refused (untrusted,
    /// expired, wrong host name, pin mismatch), the CA file is unusable, or
    /// the handshake failed. Match on the [`TlsError`](ami_tls::TlsError)
    /// to tell which.
    #[cfg(feature = "tls")]
    Tls(ami_tls::TlsError),
    /// The server did not let us log in (bad credentials, no banner, login
    /// timeout, connection closed during login).
    Login(LoginError),
    /// The configuration is invalid; nothing was attempted.
    Config(ConfigError),
    /// The client was closed before it logged in.
    Closed,
    /// The client's task could not be started (tokio: the builder was made
    /// outside a runtime). Nothing was attempted; the client is closed.
    Spawn(SpawnError),
}

/// Why [`Client::send`](crate::Client::send) failed. The variants say whether anything reached
/// the server: `Send` and `Disconnected` mean nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The core refused the action before queueing it (malformed, too many
    /// pending, write buffer full because the server is not reading).
    /// Nothing was sent.
    Send(SendError),
    /// The action was sent and ended badly: server error, timeout, session
    /// lost, reply too large, desync. The server may have carried it out.
    /// [`ActionError::Cancelled`] after [`Cancel::cancel`](crate::Cancel::cancel),
    /// which may also come before it was sent.
    Action(ActionError),
    /// No session ready right now (the supervisor is reconnecting, or a new
    /// session is still logging in). Nothing was sent. Fails at once unless
    /// [`ClientConfig::resend_on_reconnect`](crate::ClientConfig::resend_on_reconnect).
    Disconnected,
    /// The client was closed; no more actions are accepted.
    Closed,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Connect(e) => write!(f, "connect failed: {e}"),
            ConnectError::Timeout => f.write_str("connect timed out"),
            #[cfg(feature = "tls")]
            ConnectError::Tls(e) => write!(f, "TLS: {e}"),
            ConnectError::Login(e) => write!(f, "login failed: {e}"),
            ConnectError::Config(e) => write!(f, "invalid configuration: {e}"),
            ConnectError::Closed => f.write_str("client closed before login"),
            ConnectError::Spawn(e) => write!(f, "could not start the client's task: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Connect(e) => Some(e),
            ConnectError::Login(e) => Some(e),
            ConnectError::Config(e) => Some(e),
            #[cfg(feature = "tls")]
            ConnectError::Tls(e) => Some(e),
            ConnectError::Spawn(e) => Some(e),
            ConnectError::Timeout | ConnectError::Closed => None,
        }
    }
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Send(e) => write!(f, "action refused, nothing sent: {e}"),
            ClientError::Action(e) => write!(f, "action failed: {e}"),
            ClientError::Disconnected => f.write_str("not connected (reconnecting); nothing sent"),
            ClientError::Closed => f.write_str("client closed"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Send(e) => Some(e),
            ClientError::Action(e) => Some(e),
            ClientError::Disconnected | ClientError::Closed => None,
        }
    }
}

impl ClientError {
    /// The action's error, when it was sent and failed.
    pub fn action_error(&self) -> Option<&ActionError> {
        match self {
            ClientError::Action(e) => Some(e),
            _ => None,
        }
    }
}

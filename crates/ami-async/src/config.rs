//! What one client is configured with.

use std::time::Duration;

/// Everything one client needs: where to connect, the core's configuration,
/// and the supervisor's choices.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ClientConfig {
    /// `host:port` of the AMI server. A host name is resolved off the
    /// executor (smol's resolver runs on its blocking pool).
    pub addr: String,
    /// Time allowed for DNS, the TCP connect and the TLS handshake together
    /// (default 5 s). A refused connection fails at once, not after this.
    pub connect_timeout: Duration,
    /// TLS to the server; `None` (the default) is plain TCP. Verification
    /// is on (system roots or the configured CA; SNI and name check from
    /// the host of [`addr`](Self::addr) unless
    /// [`TlsConfig::server_name`](ami_tls::TlsConfig::server_name) is set).
    /// A refused certificate fails [`ClientBuilder::connect`](crate::ClientBuilder::connect) with
    /// [`ConnectError::Tls`](crate::ConnectError::Tls) and, when reconnecting, waits like a refused
    /// login (at least `ReconnectPolicy::AUTH_FAILURE_FLOOR`).
    #[cfg(feature = "tls")]
    pub tls: Option<ami_tls::TlsConfig>,
    /// The protocol core's options: credentials, limits, timeouts, event
    /// queue size and policy (used for every [`EventStream`](crate::EventStream)).
    pub proto: ami_proto::Config,
    /// Whether a lost session is replaced by a new one (default `true`),
    /// paced by the core's backoff with full jitter and circuit breaker.
    pub reconnect: bool,
    /// Whether actions whose session was lost are sent again on the next
    /// one (default `false`). Off, they fail with
    /// [`ActionError::ConnectionLost`](ami_proto::ActionError::ConnectionLost) and sends while disconnected fail at
    /// once with [`ClientError::Disconnected`](crate::ClientError::Disconnected). On, both wait for the next
    /// session, up to their own timeout: the server may already have carried
    /// out a lost action, so enable it only for idempotent actions.
    pub resend_on_reconnect: bool,
    /// The reconnect pacing; `None` (the default) uses the core's
    /// [`ReconnectPolicy::with_seed`](ami_proto::ReconnectPolicy::with_seed),
    /// seeded per client: back within about 2 s of a server that was away
    /// for up to 10 s, within 10% of longer outages (at most 30 s), about one
    /// attempt a second once the first few failed, and healthy only after a
    /// session stays up 10 s (the numbers are in `ami_proto::defaults`).
    pub reconnect_policy: Option<ami_proto::ReconnectPolicy>,
    /// Most bytes read from the socket per wake-up (default 64 KiB), so one
    /// busy server cannot monopolise the executor thread.
    pub read_budget: usize,
}

impl ClientConfig {
    /// A configuration for the server at `addr` (`host:port`) with the
    /// documented defaults.
    pub fn new(addr: impl Into<String>, proto: ami_proto::Config) -> Self {
        ClientConfig {
            addr: addr.into(),
            connect_timeout: Duration::from_secs(5),
            #[cfg(feature = "tls")]
            tls: None,
            proto,
            reconnect: true,
            resend_on_reconnect: false,
            reconnect_policy: None,
            read_budget: 64 << 10,
        }
    }

    /// Checks the core's configuration and the reconnect policy, if one is
    /// given, as the multiplexer checks its nodes': a zero backoff would
    /// retry in a hot loop.
    pub fn validate(&self) -> Result<(), ami_proto::ConfigError> {
        self.proto.validate()?;
        match &self.reconnect_policy {
            Some(policy) => policy.validate(),
            None => Ok(()),
        }
    }
}

//! The public client: configuration, connect, send, events, state, close.

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ami_proto::{
    Action, ActionError, BreakerState, Completion, ConfigError, ConnState, LoginError, SendError,
    Stats,
};
use smol::channel::{self, Sender};
use tracing::Instrument;

use crate::deadline;
use crate::events::EventStream;
use crate::reply::{self, Reply};
use crate::supervisor::{self, Shared, StateChanges};

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
    /// A refused certificate fails [`ClientBuilder::connect`] with
    /// [`ConnectError::Tls`] and, when reconnecting, waits like a refused
    /// login (at least `ReconnectPolicy::AUTH_FAILURE_FLOOR`).
    #[cfg(feature = "tls")]
    pub tls: Option<ami_tls::TlsConfig>,
    /// The protocol core's options: credentials, limits, timeouts, event
    /// queue size and policy (used for every [`EventStream`]).
    pub proto: ami_proto::Config,
    /// Whether a lost session is replaced by a new one (default `true`),
    /// paced by the core's backoff with full jitter and circuit breaker.
    pub reconnect: bool,
    /// Whether actions whose session was lost are sent again on the next
    /// one (default `false`). Off, they fail with
    /// [`ActionError::ConnectionLost`] and sends while disconnected fail at
    /// once with [`ClientError::Disconnected`]. On, both wait for the next
    /// session, up to their own timeout: the server may already have carried
    /// out a lost action, so enable it only for idempotent actions.
    pub resend_on_reconnect: bool,
    /// The reconnect pacing; `None` (the default) uses the core's defaults
    /// (100 ms base, 30 s cap, full jitter; breaker open after 5 failures for
    /// 30 s), seeded per client.
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
}

/// Why [`ClientBuilder::connect`] did not produce a logged-in client.
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
}

/// Why [`Client::send`] failed. The variants say whether anything reached
/// the server: `Send` and `Disconnected` mean nothing was sent.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientError {
    /// The core refused the action before queueing it (malformed, too many
    /// pending, write buffer full because the server is not reading, not
    /// logged in yet). Nothing was sent.
    Send(SendError),
    /// The action was sent and ended badly: server error, timeout, session
    /// lost, reply too large, desync. The server may have carried it out.
    Action(ActionError),
    /// No session right now (the supervisor is reconnecting). Nothing was
    /// sent. Fails at once unless [`ClientConfig::resend_on_reconnect`].
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

/// Counters of a client: the current session's core counters plus what the
/// supervisor and the event streams add.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClientStats {
    /// The current (or last) session's core counters. A new session starts
    /// them from zero.
    pub session: Stats,
    /// Sessions that logged in.
    pub sessions: u64,
    /// Sessions that logged in after the first one.
    pub reconnects: u64,
    /// Attempts that failed before logging in (connect or login).
    pub failed_attempts: u64,
    /// The reconnect circuit breaker, as of the last attempt or failure.
    pub breaker: BreakerState,
    /// Events put into subscriber queues (an event given to two streams
    /// counts twice).
    pub events_delivered: u64,
    /// Events subscriber queues dropped because they were full.
    pub events_dropped: u64,
}

/// A command from a [`Client`] handle to its driver task.
pub(crate) enum Command {
    Send {
        action: Action,
        reply: Reply<Result<Completion, ClientError>>,
    },
    Close {
        deadline: Instant,
        done: Sender<()>,
    },
}

/// Prepares a [`Client`]: subscribe to events first, then connect or start.
///
/// Subscribing here, before login, keeps the burst of events a server sends
/// right after the login response.
pub struct ClientBuilder {
    config: ClientConfig,
    shared: Arc<Shared>,
    spawner: Option<Spawner>,
}

/// The client's background task, for [`ClientBuilder::spawn_with`].
pub type BackgroundTask = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;

type Spawner = Box<dyn FnOnce(BackgroundTask) + Send>;

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl ClientBuilder {
    /// A new event subscription that will receive every event of the
    /// client's sessions, from the first one on.
    pub fn events(&mut self) -> EventStream {
        self.shared.subscribe()
    }

    /// Runs the client's background task through `spawn` rather than on
    /// smol's global executor (the default, which runs it on a thread of its
    /// own). For instance, spawned on the `smol::Executor` that also runs the
    /// code reading the events, the task and its consumer share a thread: no
    /// cross-thread wake-up per batch of events, and one thread less
    /// competing for cores.
    ///
    /// `spawn` must poll the task to completion (detach it, do not drop it):
    /// dropping it stops the client at once, without a Logoff, closed with
    /// [`CloseReason::Internal`](ami_proto::CloseReason::Internal).
    ///
    /// ```no_run
    /// # use std::sync::Arc;
    /// # use ami_smol::{Client, ClientConfig};
    /// # let config: ClientConfig = todo!();
    /// let ex = Arc::new(smol::Executor::new());
    /// smol::block_on(ex.run(async {
    ///     let spawner = ex.clone();
    ///     let mut builder = Client::builder(config).spawn_with(move |task| {
    ///         spawner.spawn(task).detach();
    ///     });
    ///     let mut events = builder.events();
    ///     let client = builder.connect().await.expect("login");
    ///     // ... read `events`, use `client`, on this one thread.
    /// #   drop((events, client));
    /// }));
    /// ```
    pub fn spawn_with(mut self, spawn: impl FnOnce(BackgroundTask) + Send + 'static) -> Self {
        self.spawner = Some(Box::new(spawn));
        self
    }

    /// Connects, logs in and returns the client once it is ready. The
    /// first attempt's failure is returned (no retry); after that, lost
    /// sessions are replaced if [`ClientConfig::reconnect`].
    pub async fn connect(self) -> Result<Client, ConnectError> {
        let (tx, rx) = channel::bounded(1);
        let client = self.spawn(Some(tx)).map_err(ConnectError::Config)?;
        match rx.recv().await {
            Ok(Ok(())) => Ok(client),
            Ok(Err(err)) => Err(err),
            Err(_) => Err(ConnectError::Closed),
        }
    }

    /// Starts the client in the background and returns at once. Every
    /// attempt, the first included, is retried per the reconnect policy
    /// (if [`ClientConfig::reconnect`]); watch [`Client::state_changes`]
    /// to know when it is ready.
    pub fn start(self) -> Result<Client, ConfigError> {
        self.spawn(None)
    }

    fn spawn(self, first: Option<Sender<Result<(), ConnectError>>>) -> Result<Client, ConfigError> {
        self.config.proto.validate()?;
        let (cmds_tx, cmds_rx) = channel::bounded(1024);
        let span = tracing::info_span!("ami", server = %self.config.proto.server);
        let task = supervisor::supervise(self.config, self.shared.clone(), cmds_rx, first);
        let task = Box::pin(task.instrument(span));
        match self.spawner {
            Some(spawn) => spawn(task),
            None => smol::spawn(task).detach(),
        }
        Ok(Client {
            cmds: cmds_tx,
            shared: self.shared,
        })
    }
}

/// A handle to one AMI server's session, kept alive (and reconnected) by a
/// background task. Cheap to clone; use it from any number of tasks.
///
/// When every handle is dropped, the task logs off (within a second) and
/// every [`EventStream`] of the client ends.
#[derive(Clone)]
pub struct Client {
    cmds: Sender<Command>,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("server", &self.shared.name)
            .field("state", &self.state())
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A builder, to subscribe to events before connecting.
    pub fn builder(config: ClientConfig) -> ClientBuilder {
        let shared = Shared::new(&config);
        ClientBuilder {
            config,
            shared,
            spawner: None,
        }
    }

    /// Connects and logs in; see [`ClientBuilder::connect`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// # smol::block_on(async {
    /// let config = ami_smol::ClientConfig::new(
    ///     "127.0.0.1:5038",
    ///     ami_proto::Config::new("pbx1", "admin", "secret"),
    /// );
    /// let client = ami_smol::Client::connect(config).await?;
    /// client.send(ami_proto::Action::ping()).await?;
    /// client.close().await;
    /// # Ok::<_, Box<dyn std::error::Error>>(()) }).unwrap();
    /// ```
    pub async fn connect(config: ClientConfig) -> Result<Client, ConnectError> {
        Client::builder(config).connect().await
    }

    /// Connects, logs in and returns the client with an event stream that
    /// has seen every event since login.
    pub async fn connect_with_events(
        config: ClientConfig,
    ) -> Result<(Client, EventStream), ConnectError> {
        let mut builder = Client::builder(config);
        let events = builder.events();
        Ok((builder.connect().await?, events))
    }

    /// Sends `action` and waits for its completion: one response, an event
    /// list, Command output or an async Originate outcome, per the action's
    /// [`Strategy`](ami_proto::Strategy). It times out after the action's
    /// own timeout ([`Action::with_timeout`]) or `proto.action_timeout`.
    ///
    /// Every action completes exactly once. Dropping the future does not
    /// cancel the action on the server; its completion is then discarded.
    /// Sending `Logoff` yourself ends the client as [`close`](Self::close)
    /// does: a logged-off session is not replaced.
    pub async fn send(&self, action: Action) -> Result<Completion, ClientError> {
        let (reply, waiting) = reply::reply();
        self.cmds
            .send(Command::Send { action, reply })
            .await
            .map_err(|_| ClientError::Closed)?;
        waiting.await.ok_or(ClientError::Closed)?
    }

    /// A new event subscription, receiving events from now on.
    pub fn events(&self) -> EventStream {
        self.shared.subscribe()
    }

    /// The session's state now: `LoggingIn` while connecting and logging in;
    /// between sessions the last session's `Closed(reason)` (`Closed(Lost)`
    /// after a failed connect); after [`close`](Self::close),
    /// `Closed(LoggedOff)` (or how the last session ended); after the
    /// client's task panicked or was dropped, `Closed(Internal(why))`.
    pub fn state(&self) -> ConnState {
        self.shared.state()
    }

    /// Whether actions can be sent now (`Ready` or `Degraded`).
    pub fn is_ready(&self) -> bool {
        matches!(self.state(), ConnState::Ready | ConnState::Degraded { .. })
    }

    /// A stream of state changes: the current state first, then each change.
    /// It ends when the client closes for good.
    pub fn state_changes(&self) -> StateChanges {
        self.shared.watch()
    }

    /// A snapshot of the counters (updated once per driver turn).
    pub fn stats(&self) -> ClientStats {
        self.shared.stats()
    }

    /// The server's name (`proto.server`).
    pub fn name(&self) -> &str {
        &self.shared.name
    }

    /// Logs off and closes, allowing pending actions 5 s to complete; see
    /// [`close_within`](Self::close_within).
    pub async fn close(&self) {
        self.close_within(Duration::from_secs(5)).await;
    }

    /// Logs off, lets pending actions complete until `deadline` passes, then
    /// closes the socket; actions still pending fail with `ConnectionLost`.
    /// No reconnect follows. Returns when the task has finished (every
    /// handle then gets [`ClientError::Closed`]). Calling it again is harmless.
    pub async fn close_within(&self, deadline: Duration) {
        let (done, rx) = channel::bounded(1);
        let deadline = deadline::after(Instant::now(), deadline);
        if self
            .cmds
            .send(Command::Close { deadline, done })
            .await
            .is_ok()
        {
            let _ = rx.recv().await;
        }
    }
}

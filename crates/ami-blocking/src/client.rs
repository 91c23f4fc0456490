//! `Client`: one AMI session on a blocking `std::net::TcpStream`.
//!
//! Every method blocks the calling thread, and every wait is bounded:
//!
//! | wait | bound |
//! |---|---|
//! | TCP connect | `connect_timeout`, per resolved address |
//! | TLS handshake ([`Client::connect_tls`]) | what is left of `connect_timeout` after the TCP connect |
//! | DNS | none of ours: `ToSocketAddrs` blocks as the system resolver does |
//! | login (banner, challenge, login answer) | [`Config::login_timeout`] |
//! | [`Client::send`] | the action's timeout ([`Config::action_timeout`] or [`Action::with_timeout`]) |
//! | each socket write | [`Config::action_timeout`] (a server that stops reading ends the session) |
//! | [`Client::next_event`] | its `timeout` argument |
//! | [`Client::reconnect`] | the reconnect policy's delay, then the connect and login bounds |
//! | [`Client::close`] | the smaller of [`Config::action_timeout`] and 5 s |
//!
//! The socket's read timeout is set from the core's next deadline
//! (`poll_timeout`), so heartbeats, action timeouts and the login deadline
//! fire while a call is blocked reading. Nothing runs between calls: a
//! client left idle sends its heartbeat Ping at the start of the next call.

use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

use ami_proto::{
    instant_after, Action, ActionError, CloseReason, Completion, Config, ConfigError, ConnState,
    Connection, Event, Failure, LoginError, Output, ReconnectPolicy, SendError, Stats,
};
use ami_state::Model;

use crate::model::Tracker;
use crate::session::{connection, flush, in_range, millis, Flush};
use crate::tls::{warn_plaintext_once, Pipe, Tls, TlsSetup};

/// Size of the read buffer: one read takes at most this much.
const READ_CHUNK: usize = 64 << 10;

/// The longest [`Client::close`] waits for `Goodbye`.
const CLOSE_BOUND: Duration = Duration::from_secs(5);

/// Why [`Client::connect`] or [`Client::reconnect`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ConnectError {
    /// The configuration is invalid; fix it (nothing was attempted).
    Config(ConfigError),
    /// The address did not resolve, or resolved to nothing.
    Resolve(io::Error),
    /// No resolved address accepted the TCP connection within the timeout;
    /// this is the last address's error.
    Connect(io::Error),
    /// Connected, but the login did not succeed. `AuthenticationFailed`
    /// will fail again with the same credentials.
    Login(LoginError),
    /// The reconnect policy's circuit breaker refuses attempts for now;
    /// try again later.
    CircuitOpen,
    /// TLS failed: the server's certificate was refused (untrusted,
    /// expired, wrong host name, pin mismatch), the CA is unusable, the
    /// handshake failed or timed out (`TlsError::Io` with `TimedOut`).
    /// Match on the [`TlsError`](ami_tls::TlsError) to tell which;
    /// [`Client::reconnect`] waits after a refused certificate as after
    /// refused credentials.
    #[cfg(feature = "tls")]
    Tls(ami_tls::TlsError),
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectError::Config(e) => write!(f, "invalid configuration: {e}"),
            ConnectError::Resolve(e) => write!(f, "address did not resolve: {e}"),
            ConnectError::Connect(e) => write!(f, "connect failed: {e}"),
            ConnectError::Login(e) => write!(f, "login failed: {e}"),
            ConnectError::CircuitOpen => f.write_str("circuit breaker open; not attempting"),
            #[cfg(feature = "tls")]
            ConnectError::Tls(e) => write!(f, "TLS: {e}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ConnectError::Config(e) => Some(e),
            ConnectError::Resolve(e) | ConnectError::Connect(e) => Some(e),
            ConnectError::Login(e) => Some(e),
            ConnectError::CircuitOpen => None,
            #[cfg(feature = "tls")]
            ConnectError::Tls(e) => Some(e),
        }
    }
}

impl From<ConfigError> for ConnectError {
    fn from(e: ConfigError) -> Self {
        ConnectError::Config(e)
    }
}

/// Why a [`Client::send`] or [`Client::next_event`] call failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum ClientError {
    /// The action was refused before anything was queued (malformed, too
    /// many pending, write buffer full, not logged in). Nothing was sent.
    Send(SendError),
    /// The action completed with an error (server error, timeout,
    /// connection lost, ...). See [`ActionError`] for what may have happened.
    Action(ActionError),
    /// The session is over; call [`Client::reconnect`] for a new one.
    Closed(CloseReason),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Send(e) => write!(f, "action refused: {e}"),
            ClientError::Action(e) => write!(f, "action failed: {e}"),
            ClientError::Closed(r) => write!(f, "session closed: {r:?}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Send(e) => Some(e),
            ClientError::Action(e) => Some(e),
            ClientError::Closed(_) => None,
        }
    }
}

impl From<SendError> for ClientError {
    fn from(e: SendError) -> Self {
        ClientError::Send(e)
    }
}

/// A blocking AMI client: one TCP session, driven by the calling thread.
///
/// Every method blocks, each wait bounded as the [module docs](self) list.
/// Events that arrive while [`send`](Self::send) waits stay in the core's
/// bounded event queue, under its [`QueuePolicy`](ami_proto::QueuePolicy)
/// (under back-pressure the answer never waits behind them: see `send`);
/// read them with [`next_event`](Self::next_event).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use ami_blocking::Client;
/// use ami_proto::{Action, Config};
///
/// let config = Config::new("pbx1", "admin", "secret");
/// let mut client = Client::connect("127.0.0.1:5038", Duration::from_secs(3), config)?;
/// let pong = client.send(Action::ping())?;
/// println!("{:?}", pong.response());
/// while let Some(event) = client.next_event(Duration::from_secs(1))? {
///     println!("{}", event.name_str());
/// }
/// client.close()?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Client {
    addrs: Vec<SocketAddr>,
    connect_timeout: Duration,
    config: Config,
    policy: ReconnectPolicy,
    sessions: u64,
    session: Session,
    /// Whether this session's end was reported to the policy.
    reported: bool,
    /// TLS options of every session (`None`: plain TCP).
    tls: Option<TlsSetup>,
    /// The plaintext-secret warning was logged for this server.
    warned_plaintext: bool,
    /// The live model, once [`track_model`](Client::track_model) was called.
    model: Option<Tracker>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("addrs", &self.addrs)
            .field("sessions", &self.sessions)
            .field("conn", &self.session.conn)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Connects to `addr` and logs in, blocking until ready.
    ///
    /// Each resolved address gets `connect_timeout` for the TCP connect; the
    /// login then has [`Config::login_timeout`]. Nothing is sent before the
    /// server's banner. Config errors, and a `connect_timeout` under 1 ms,
    /// are reported before any I/O ([`ConnectError::Config`]); a huge one
    /// (`Duration::MAX`) leaves the connect to the system's own limits.
    pub fn connect(
        addr: impl ToSocketAddrs,
        connect_timeout: Duration,
        config: Config,
    ) -> Result<Client, ConnectError> {
        Client::connect_with(addr, connect_timeout, config, None)
    }

    /// Like [`connect`](Self::connect), over TLS: `addr` is `host:port`,
    /// and `host` is the SNI name and the name checked against the
    /// certificate unless [`TlsConfig::server_name`](ami_tls::TlsConfig::server_name)
    /// is set. The handshake shares `connect_timeout` with the TCP connect.
    /// A refused certificate fails with [`ConnectError::Tls`].
    ///
    /// # Examples
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use ami_blocking::{Client, TlsConfig};
    /// use ami_proto::Config;
    ///
    /// let tls = TlsConfig::new().with_ca_file("/etc/ami/ca.pem");
    /// let config = Config::new("pbx1", "admin", "secret");
    /// let client = Client::connect_tls("pbx1.example:5039", Duration::from_secs(3), config, tls)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[cfg(feature = "tls")]
    pub fn connect_tls(
        addr: &str,
        connect_timeout: Duration,
        config: Config,
        tls: ami_tls::TlsConfig,
    ) -> Result<Client, ConnectError> {
        validate(&config, connect_timeout)?;
        let setup = TlsSetup::new(tls, ami_tls::host_of(addr), &config.server)
            .map_err(ConnectError::Tls)?;
        Client::connect_with(addr, connect_timeout, config, Some(setup))
    }

    fn connect_with(
        addr: impl ToSocketAddrs,
        connect_timeout: Duration,
        config: Config,
        tls: Option<TlsSetup>,
    ) -> Result<Client, ConnectError> {
        validate(&config, connect_timeout)?;
        let addrs: Vec<SocketAddr> = addr
            .to_socket_addrs()
            .map_err(ConnectError::Resolve)?
            .collect();
        if addrs.is_empty() {
            let e = io::Error::new(io::ErrorKind::NotFound, "no address to connect to");
            return Err(ConnectError::Resolve(e));
        }
        let mut policy = ReconnectPolicy::with_seed(config.session_seed(u64::MAX));
        let mut warned_plaintext = false;
        let session = Session::open(
            &addrs,
            connect_timeout,
            &config,
            0,
            tls.as_ref(),
            &mut warned_plaintext,
        )?;
        policy.on_ready(Instant::now());
        Ok(Client {
            addrs,
            connect_timeout,
            config,
            policy,
            sessions: 1,
            session,
            reported: false,
            tls,
            warned_plaintext,
            model: None,
        })
    }

    /// Sends `action` and blocks until it completes.
    ///
    /// The wait is bounded by the action's timeout (the core's deadline);
    /// heartbeats run meanwhile, and events that arrive stay queued in the
    /// core for [`next_event`](Self::next_event). A closed session fails at
    /// once with [`ClientError::Closed`]; a session that dies during the
    /// wait completes the action with [`ActionError::ConnectionLost`].
    ///
    /// Under [`QueuePolicy::Backpressure`](ami_proto::QueuePolicy) the
    /// answer never waits behind events nobody reads: while the event
    /// queue is full, the wait drops its oldest events to decode what
    /// follows, counted in [`Stats::events_dropped_full`]; the queue stays
    /// within its bound. Read events before a send to lose none.
    pub fn send(&mut self, action: Action) -> Result<Completion, ClientError> {
        if self.session.conn.is_closed() {
            return Err(self.closed_error());
        }
        let followed = self.model.is_some() && Model::follows(&action);
        let followed = followed.then(|| action.clone());
        let id = self.session.conn.send(action, Instant::now())?;
        if let (Some(model), Some(action)) = (&mut self.model, followed) {
            model.sent(&id, &action);
        }
        loop {
            let s = &mut self.session;
            while let Some(out) = s.conn.poll_completion() {
                if let Output::Completion { id: done, result } = out {
                    if done == id {
                        if let Some(model) = &mut self.model {
                            model.completed(&id, &result);
                        }
                        return result.map_err(ClientError::Action);
                    }
                    log!(debug, s.conn, done, "stale completion dropped");
                }
            }
            if s.conn.is_closed() {
                // The close completed every action, ours too: unreachable.
                return Err(self.closed_error());
            }
            if !s.conn.wants_read() {
                // A full back-pressure queue holds input back, our answer
                // perhaps among it: nobody reads events during the wait.
                s.conn.drop_event();
                continue;
            }
            s.step(None);
        }
    }

    /// The next event, waiting at most `timeout` for one (`Ok(None)` when
    /// none came). A zero `timeout` still waits up to 1 ms for bytes, so
    /// polling with it makes progress; `Duration::MAX` waits until an event
    /// comes or the session ends.
    ///
    /// Heartbeats and action deadlines run while it waits. A closed session
    /// gives [`ClientError::Closed`] once its queued events are read.
    pub fn next_event(&mut self, timeout: Duration) -> Result<Option<Event>, ClientError> {
        if self.model.as_ref().is_some_and(|m| m.stale) && self.session.conn.is_ready() {
            self.resync_model()?;
        }
        let deadline = instant_after(Instant::now(), timeout.max(Duration::from_millis(1)));
        loop {
            let s = &mut self.session;
            while let Some(out) = s.conn.poll_output() {
                match out {
                    Output::Event(event) => {
                        if let Some(model) = &mut self.model {
                            model.event(&event, &s.conn.stats());
                        }
                        return Ok(Some(event));
                    }
                    Output::Completion { id, .. } => {
                        log!(debug, s.conn, id, "stale completion dropped");
                    }
                    _ => {}
                }
            }
            if s.conn.is_closed() {
                return Err(self.closed_error());
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            s.step(Some(deadline));
        }
    }

    /// Replaces the session with a new one: a new socket and a new
    /// `Connection`, so nothing queued for the old session is ever sent.
    ///
    /// Blocks first for the reconnect policy's delay (backoff with jitter
    /// after each failure, at least 5 s after bad credentials); fails with
    /// [`ConnectError::CircuitOpen`] while the circuit breaker refuses. A
    /// live session is dropped without `Logoff`. On failure the old, closed
    /// session stays in place and the policy counts the failure, so the next
    /// call waits longer.
    pub fn reconnect(&mut self) -> Result<(), ConnectError> {
        if !self.session.conn.is_closed() {
            self.session.conn.handle_closed(Instant::now());
            self.reported = true;
        } else {
            self.report_close();
        }
        let now = Instant::now();
        std::thread::sleep(self.policy.next_allowed(now).saturating_duration_since(now));
        if !self.policy.may_attempt(Instant::now()) {
            return Err(ConnectError::CircuitOpen);
        }
        self.policy.on_connected();
        let number = self.sessions;
        self.sessions += 1;
        let opened = Session::open(
            &self.addrs,
            self.connect_timeout,
            &self.config,
            number,
            self.tls.as_ref(),
            &mut self.warned_plaintext,
        );
        match opened {
            Ok(session) => {
                self.session = session;
                self.reported = false;
                self.policy.on_ready(Instant::now());
                if let Some(model) = &mut self.model {
                    model.new_session();
                    // Should the lists fail, the next `next_event` tries again.
                    let _ = self.resync_model();
                }
                Ok(())
            }
            Err(err) => {
                let failure = match &err {
                    ConnectError::Login(e) => CloseReason::LoginFailed(e.clone()).failure(),
                    // A refused certificate will not fix itself: no retry storm.
                    #[cfg(feature = "tls")]
                    ConnectError::Tls(e) if e.is_verification_failure() => {
                        Some(Failure::AuthFailed)
                    }
                    _ => None,
                };
                let failure = failure.unwrap_or(Failure::Connect);
                self.policy.on_failure(Instant::now(), failure);
                Err(err)
            }
        }
    }

    /// Keeps a live model of the server from now on, bounded by `limits`:
    /// it sends the five lists a resynchronisation needs
    /// ([`Model::resync_lists`]) now, each bounded by its action timeout,
    /// then applies every event [`next_event`](Self::next_event) hands out,
    /// the completions of lists and Originates, and each Originate sent.
    /// [`reconnect`](Self::reconnect) lists again.
    ///
    /// The model is as current as the events read: read them. Should the
    /// session's event queue overflow (events dropped, counted in
    /// [`Stats`]), the next `next_event` lists again before going on.
    /// Calling it again replaces the model. A list the server refuses (a
    /// user without the class) is logged and leaves its kind as it was;
    /// this fails only when the session is closed, and the next session
    /// lists again.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # let mut client: ami_blocking::Client = todo!();
    /// client.track_model(ami_blocking::state::Limits::default())?;
    /// while let Some(_event) = client.next_event(Duration::from_secs(1))? {
    ///     let model = client.model().expect("tracked");
    ///     if let Some(support) = model.queue("support") {
    ///         println!("support: {} waiting", support.callers.len());
    ///     }
    /// }
    /// # Ok::<(), ami_blocking::ClientError>(())
    /// ```
    pub fn track_model(&mut self, limits: ami_state::Limits) -> Result<(), ClientError> {
        self.model = Some(Tracker::new(limits));
        self.resync_model()
    }

    /// The live model, once [`track_model`](Self::track_model) was called.
    pub fn model(&self) -> Option<&Model> {
        self.model.as_ref().map(|t| &t.model)
    }

    /// The live model, to drain its changes
    /// ([`Model::poll_change`]) or remove finished calls.
    pub fn model_mut(&mut self) -> Option<&mut Model> {
        self.model.as_mut().map(|t| &mut t.model)
    }

    /// Sends the five lists again inside a resynchronisation window (see
    /// [`Model`]): what was held and no list shows is removed. Fails only
    /// when the session closed meanwhile.
    fn resync_model(&mut self) -> Result<(), ClientError> {
        let Some(tracker) = &mut self.model else {
            return Ok(());
        };
        tracker.stale = false;
        tracker.model.begin_resync();
        let mut result = Ok(());
        for list in Model::resync_lists() {
            let name = list.name().to_owned();
            match self.send(list) {
                Ok(_) => {}
                Err(e @ ClientError::Closed(_)) => {
                    result = Err(e);
                    break;
                }
                Err(e) => {
                    log!(warn, self.session.conn, "-", list = %name, error = %e,
                        "live model: a list failed; its kind keeps what the model held");
                }
            }
        }
        if let Some(tracker) = &mut self.model {
            tracker.model.end_resync();
            tracker.stale |= result.is_err();
        }
        result
    }

    /// Logs off and closes, waiting at most the smaller of
    /// [`Config::action_timeout`] and 5 s for the server's `Goodbye`.
    ///
    /// `Ok` when the server said `Goodbye` (now or before);
    /// [`ClientError::Closed`] when the session ended otherwise;
    /// [`ActionError::Timeout`] when the bound passed (the socket is closed
    /// all the same). Queued events are discarded.
    pub fn close(mut self) -> Result<(), ClientError> {
        let bound = self.config.action_timeout.min(CLOSE_BOUND);
        let deadline = Instant::now() + bound;
        let s = &mut self.session;
        if s.conn.is_ready() {
            s.conn.logoff(Instant::now())?;
        } else {
            // Logging in or off: closed at once. Already closed: no-op.
            s.conn.handle_closed(Instant::now());
        }
        while !s.conn.is_closed() && Instant::now() < deadline {
            s.step(Some(deadline));
            while s.conn.poll_output().is_some() {}
        }
        if let Some(tls) = &mut s.tls {
            tls.close(&mut &s.sock);
        }
        let _ = s.sock.shutdown(std::net::Shutdown::Both);
        match s.conn.state() {
            ConnState::Closed(CloseReason::LoggedOff) => Ok(()),
            ConnState::Closed(reason) => Err(ClientError::Closed(reason.clone())),
            _ => Err(ClientError::Action(ActionError::Timeout(bound))),
        }
    }

    /// The session's state.
    pub fn state(&self) -> &ConnState {
        self.session.conn.state()
    }

    /// Whether actions can be sent now.
    pub fn is_ready(&self) -> bool {
        self.session.conn.is_ready()
    }

    /// The current session's counters.
    pub fn stats(&self) -> Stats {
        self.session.conn.stats()
    }

    /// Sessions opened or attempted so far (1 after `connect`).
    pub fn sessions(&self) -> u64 {
        self.sessions
    }

    /// The reconnect policy (failure count, breaker state, next attempt).
    pub fn reconnect_policy(&self) -> &ReconnectPolicy {
        &self.policy
    }

    /// Paces [`reconnect`](Self::reconnect) with `policy` instead of the
    /// default ([`ReconnectPolicy::with_seed`], seeded from the config: back
    /// within about 2 s of a server that was away up to 10 s, healthy after
    /// 10 s up), as the Multiplexer's `set_reconnect_policy` and the async
    /// adapters' `reconnect_policy` option do. The policy starts fresh,
    /// except that the session up now counts from its login.
    ///
    /// Fails when a value is out of range ([`ReconnectPolicy::validate`]),
    /// keeping the policy the client had.
    pub fn set_reconnect_policy(&mut self, mut policy: ReconnectPolicy) -> Result<(), ConfigError> {
        policy.validate()?;
        if let Some(healthy_at) = self.policy.healthy_at() {
            policy.on_ready(healthy_at - self.policy.healthy_after());
        }
        self.policy = policy;
        Ok(())
    }

    /// The peer's address.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.session.sock.peer_addr()
    }

    /// The error for a closed session; reports the end to the policy once.
    fn closed_error(&mut self) -> ClientError {
        self.report_close();
        match self.session.conn.state() {
            ConnState::Closed(reason) => ClientError::Closed(reason.clone()),
            _ => ClientError::Closed(CloseReason::Lost),
        }
    }

    fn report_close(&mut self) {
        if self.reported {
            return;
        }
        if let ConnState::Closed(reason) = self.session.conn.state() {
            self.reported = true;
            if let Some(failure) = reason.failure() {
                self.policy.on_failure(Instant::now(), failure);
            }
        }
    }
}

/// Checks what [`Client::connect`] is given before any I/O: the core's
/// config, and a connect timeout of at least 1 ms (no upper bound: the
/// deadline saturates).
fn validate(config: &Config, connect_timeout: Duration) -> Result<(), ConfigError> {
    config.validate()?;
    in_range("connect_timeout_ms", millis(connect_timeout), 1, u64::MAX)
}

/// One TCP session (TLS or not) and its `Connection`.
struct Session {
    sock: TcpStream,
    tls: Option<Tls>,
    conn: Connection,
    /// The read timeout the socket has now.
    read_timeout: Option<Duration>,
}

impl Session {
    /// Connects to the first address that accepts, then logs in.
    fn open(
        addrs: &[SocketAddr],
        connect_timeout: Duration,
        config: &Config,
        number: u64,
        tls: Option<&TlsSetup>,
        warned_plaintext: &mut bool,
    ) -> Result<Session, ConnectError> {
        let deadline = instant_after(Instant::now(), connect_timeout);
        // `connect` made sure there is an address.
        let mut result = Err(io::ErrorKind::NotFound.into());
        for addr in addrs {
            result = TcpStream::connect_timeout(addr, connect_timeout);
            match &result {
                Ok(_) => break,
                Err(e) => {
                    log!(debug, server = config.server, %addr, error = %e, "connect failed")
                }
            }
        }
        let sock = result.map_err(ConnectError::Connect)?;
        #[cfg(feature = "tls")]
        let tls = match tls {
            Some(setup) => Some(
                setup
                    .handshake_blocking(&sock, deadline)
                    .map_err(ConnectError::Tls)?,
            ),
            None => None,
        };
        #[cfg(not(feature = "tls"))]
        let tls: Option<Tls> = {
            let _ = (tls, deadline);
            None
        };
        warn_plaintext_once(warned_plaintext, config, tls.is_some(), &sock);
        let setup = sock
            .set_nodelay(true)
            .and_then(|()| sock.set_write_timeout(Some(config.action_timeout)));
        setup.map_err(ConnectError::Connect)?;
        let mut session = Session {
            sock,
            tls,
            conn: connection(config, number, Instant::now())?,
            read_timeout: None,
        };
        // The core bounds the login with its own deadline.
        while !session.conn.is_ready() && !session.conn.is_closed() {
            session.step(None);
        }
        // Login outputs are state changes only; leave events queued.
        while session.conn.poll_completion().is_some() {}
        match session.conn.state() {
            ConnState::Closed(CloseReason::LoginFailed(e)) => Err(ConnectError::Login(e.clone())),
            ConnState::Closed(_) => Err(ConnectError::Login(LoginError::ConnectionLost)),
            _ => Ok(session),
        }
    }

    /// One turn of the loop: flush, then block reading until input arrives,
    /// `until` passes or the core's next deadline is due, and feed the core.
    fn step(&mut self, until: Option<Instant>) {
        let mut pipe = Pipe {
            sock: &self.sock,
            tls: self.tls.as_mut(),
        };
        let (_, flushed) = flush(&mut self.conn, &mut pipe);
        // TLS: ciphertext the socket did not take counts as not written.
        let flushed = match flushed {
            Ok(Flush::Done) => pipe.pending().map(|left| match left {
                true => Flush::Blocked,
                false => Flush::Done,
            }),
            other => other,
        };
        match flushed {
            Ok(Flush::Done) => {}
            // On a blocking socket, "blocked" means the write timeout passed:
            // the server stopped reading.
            Ok(Flush::Blocked) => {
                log!(warn, self.conn, "-", "write timed out; closing");
                self.conn.handle_closed(Instant::now());
            }
            Err(e) => {
                log!(debug, self.conn, "-", error = %e, "write failed");
                self.conn.handle_closed(Instant::now());
            }
        }
        if self.conn.is_closed() {
            return;
        }
        let now = Instant::now();
        let wake = self.conn.poll_timeout().into_iter().chain(until).min();
        if wake.is_some_and(|at| at <= now) {
            self.conn.handle_timeout(now);
            return;
        }
        // `Some(ZERO)` is an error for `set_read_timeout`: at least 1 ms.
        let timeout = wake.map(|at| {
            at.saturating_duration_since(now)
                .max(Duration::from_millis(1))
        });
        if timeout_must_change(self.read_timeout, timeout) {
            if let Err(e) = self.sock.set_read_timeout(timeout) {
                log!(debug, self.conn, "-", error = %e, "set_read_timeout failed");
                self.conn.handle_closed(Instant::now());
                return;
            }
            self.read_timeout = timeout;
        }
        let mut pipe = Pipe {
            sock: &self.sock,
            tls: self.tls.as_mut(),
        };
        // Read straight into the core's receive buffer (decoded there).
        match pipe.read_into(&mut self.conn, READ_CHUNK) {
            Ok((0, _)) => self.conn.handle_closed(Instant::now()),
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                self.conn.handle_timeout(Instant::now());
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                log!(debug, self.conn, "-", error = %e, "read failed");
                self.conn.handle_closed(Instant::now());
            }
        }
    }
}

/// Whether a read timeout of `have` must change to `want`: when it would wake
/// up more than [`TIMEOUT_SLACK`] late, or (much shorter) in vain over and
/// over. Saves a syscall per read: each action moves the wanted timeout by
/// microseconds, and a strict "never later" reset it on about every other
/// request/response round trip.
fn timeout_must_change(have: Option<Duration>, want: Option<Duration>) -> bool {
    match (have, want) {
        (Some(have), Some(want)) => have > want + TIMEOUT_SLACK || have < want / 2,
        (None, None) => false,
        _ => true,
    }
}

/// How late a read may wake up for a deadline: the 1 ms floor of socket
/// timeouts already makes deadlines millisecond-precise.
const TIMEOUT_SLACK: Duration = Duration::from_millis(1);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_timeout_changes_only_when_it_would_be_late_or_wasteful() {
        let ms = Duration::from_millis;
        let us = Duration::from_micros;
        // A new action's deadline a few microseconds later: keep.
        assert!(!timeout_must_change(
            Some(ms(10_000)),
            Some(ms(10_000) - us(7))
        ));
        assert!(!timeout_must_change(
            Some(ms(10_000) + us(900)),
            Some(ms(10_000))
        ));
        // More than the slack late: change.
        assert!(timeout_must_change(Some(ms(10_000)), Some(ms(5_000))));
        assert!(timeout_must_change(Some(ms(12)), Some(ms(10))));
        // Much shorter than wanted: change (it would wake in vain).
        assert!(timeout_must_change(Some(ms(1_000)), Some(ms(10_000))));
        // To or from no timeout at all: change.
        assert!(timeout_must_change(None, Some(ms(1))));
        assert!(timeout_must_change(Some(ms(1)), None));
        assert!(!timeout_must_change(None, None));
    }
}

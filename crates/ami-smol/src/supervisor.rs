//! The supervisor: one task per client that connects, runs sessions through
//! the driver, and reconnects per the core's [`ReconnectPolicy`].
//!
//! Between sessions it keeps serving commands: sends fail at once with
//! [`ClientError::Disconnected`] (or wait for the next session, with
//! `resend_on_reconnect`), and a close ends the task without a new attempt.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::net::TcpStream;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ami_proto::{
    Action, ActionError, ActionIdMap, AuthMethod, CloseReason, Completion, ConnState, Connection,
    Failure, LoginError, QueuePolicy, ReconnectPolicy, SendError,
};
use futures_lite::{future, FutureExt, Stream};
use smol::channel::{self, Receiver, Sender};
use smol::{Async, Timer};

use crate::client::{ClientConfig, ClientError, ClientStats, Command, ConnectError};
use crate::deadline;
use crate::driver;
use crate::events::{EventStream, Subscriber};
use crate::reply::Reply;
use crate::transport::Transport;

/// State shared by the handles ([`Client`](crate::Client), streams) and the task.
pub(crate) struct Shared {
    pub(crate) name: Arc<str>,
    subs: Mutex<Subs>,
    status: Mutex<Status>,
    kick: Sender<()>,
    kick_rx: Receiver<()>,
    capacity: usize,
    pub(crate) policy: QueuePolicy,
}

struct Status {
    state: ConnState,
    stats: ClientStats,
    watchers: Vec<Sender<ConnState>>,
    /// The client has ended: a new watcher gets the last state and its end.
    ended: bool,
}

struct Subs {
    live: Vec<Arc<Subscriber>>,
    /// The client has ended: a new stream is born ended.
    ended: bool,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// State changes a watcher may fall behind by before it misses some.
const WATCH_DEPTH: usize = 64;

impl Shared {
    pub(crate) fn new(config: &ClientConfig) -> Arc<Self> {
        let (kick, kick_rx) = channel::bounded(1);
        Arc::new(Shared {
            name: config.proto.server.as_str().into(),
            subs: Mutex::new(Subs {
                live: Vec::new(),
                ended: false,
            }),
            status: Mutex::new(Status {
                // Connecting counts as logging in; a failed connect is `Closed(Lost)`.
                state: ConnState::LoggingIn,
                stats: ClientStats::default(),
                watchers: Vec::new(),
                ended: false,
            }),
            kick,
            kick_rx,
            capacity: config.proto.event_queue,
            policy: config.proto.queue_policy,
        })
    }

    pub(crate) fn subscribe(&self) -> EventStream {
        let sub = Subscriber::new(self.capacity, self.policy, self.kick.clone());
        let mut subs = lock(&self.subs);
        match subs.ended {
            true => sub.close(),
            false => subs.live.push(sub.clone()),
        }
        EventStream::new(sub)
    }

    /// Appends the live subscribers to `out` (each stays in the list while
    /// its [`EventStream`] exists), for use without the list's lock.
    /// `out` must hold none of them already.
    pub(crate) fn subscribers(&self, out: &mut Vec<Arc<Subscriber>>) {
        let mut subs = lock(&self.subs);
        // A stream dropped by its owner leaves only the list's reference.
        subs.live.retain(|s| Arc::strong_count(s) > 1);
        out.extend(subs.live.iter().cloned());
    }

    /// The `queue_depth` of this crate's log events: the events waiting in
    /// the fullest subscriber queue (how far the slowest consumer lags).
    /// Locks; never call it with a subscriber's lock held.
    pub(crate) fn queue_depth(&self) -> usize {
        let subs = lock(&self.subs);
        subs.live.iter().map(|s| s.len()).max().unwrap_or(0)
    }

    pub(crate) fn state(&self) -> ConnState {
        lock(&self.status).state.clone()
    }

    pub(crate) fn set_state(&self, state: ConnState) {
        {
            let mut status = lock(&self.status);
            if status.state == state {
                return;
            }
            status.state = state.clone();
            status
                .watchers
                .retain(|w| !matches!(w.try_send(state.clone()), Err(e) if e.is_closed()));
        }
        log!(debug, self, ?state, "state");
    }

    /// The end of the client: the last state, every watcher and every
    /// stream ended (streams after what they hold).
    fn close(&self, last: ConnState) {
        self.set_state(last);
        {
            let mut status = lock(&self.status);
            status.ended = true;
            status.watchers.clear();
        }
        let mut subs = lock(&self.subs);
        subs.ended = true;
        for sub in subs.live.drain(..) {
            sub.close();
        }
    }

    pub(crate) fn watch(&self) -> StateChanges {
        let (tx, rx) = channel::bounded(WATCH_DEPTH);
        let mut status = lock(&self.status);
        let _ = tx.try_send(status.state.clone());
        if !status.ended {
            status.watchers.push(tx);
        }
        StateChanges(Box::pin(rx))
    }

    pub(crate) fn stats(&self) -> ClientStats {
        lock(&self.status).stats
    }

    pub(crate) fn update_stats(&self, f: impl FnOnce(&mut ClientStats)) {
        f(&mut lock(&self.status).stats);
    }
}

/// A stream of a client's [`ConnState`] changes: the state when it was
/// made, then each change. A consumer more than 64 changes behind misses
/// some (the latest is always [`Client::state`](crate::Client::state)).
/// Ends when the client closes for good.
pub struct StateChanges(Pin<Box<Receiver<ConnState>>>);

impl std::fmt::Debug for StateChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateChanges").finish_non_exhaustive()
    }
}

impl Stream for StateChanges {
    type Item = ConnState;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<ConnState>> {
        self.0.as_mut().poll_next(cx)
    }
}

/// An action the driver sent and awaits; `resend` keeps a copy when it may
/// be re-sent on the next session.
pub(crate) struct Pending {
    pub(crate) reply: Reply<Result<Completion, ClientError>>,
    pub(crate) resend: Option<(Action, Instant)>,
}

/// An action waiting for a session (only with `resend_on_reconnect`).
pub(crate) struct Parked {
    pub(crate) action: Action,
    pub(crate) reply: Reply<Result<Completion, ClientError>>,
    pub(crate) deadline: Instant,
    pub(crate) timeout: Duration,
}

/// Everything the task keeps across sessions.
pub(crate) struct Ctx {
    pub(crate) config: ClientConfig,
    pub(crate) shared: Arc<Shared>,
    /// Pinned so the driver can poll it as a stream, whose listener then
    /// stays registered across waits that something else ended.
    pub(crate) cmds: Pin<Box<Receiver<Command>>>,
    /// False once every [`Client`](crate::Client) handle is gone.
    pub(crate) cmds_open: bool,
    /// Pinned as `cmds` is.
    pub(crate) kick: Pin<Box<Receiver<()>>>,
    pub(crate) pending: ActionIdMap<Pending>,
    pub(crate) parked: VecDeque<Parked>,
    /// Set by a close: the instant by which the socket is closed.
    pub(crate) closing: Option<Instant>,
    pub(crate) close_waiters: Vec<Sender<()>>,
    /// [`ClientBuilder::connect`](crate::ClientBuilder::connect) waits here for the first login.
    pub(crate) first: Option<Sender<Result<(), ConnectError>>>,
    pub(crate) policy: ReconnectPolicy,
    /// The plaintext-secret warning was logged for this server.
    pub(crate) warned_plaintext: bool,
    /// [`finish`](Self::finish) has run.
    finished: bool,
}

impl Ctx {
    fn new(
        mut config: ClientConfig,
        shared: Arc<Shared>,
        cmds: Receiver<Command>,
        first: Option<Sender<Result<(), ConnectError>>>,
    ) -> Ctx {
        if config.proto.seed == 0 {
            // The core cannot draw randomness: give this client its own seed, so
            // ActionIDs differ across processes; sessions derive theirs from it.
            config.proto.seed = RandomState::new().hash_one(Instant::now());
        }
        Ctx {
            kick: Box::pin(shared.kick_rx.clone()),
            policy: config
                .reconnect_policy
                .clone()
                .unwrap_or_else(|| ReconnectPolicy::with_seed(config.proto.session_seed(u64::MAX))),
            config,
            shared,
            cmds: Box::pin(cmds),
            cmds_open: true,
            pending: ActionIdMap::default(),
            parked: VecDeque::new(),
            closing: None,
            close_waiters: Vec::new(),
            first,
            warned_plaintext: false,
            finished: false,
        }
    }

    /// Serves commands with no session until `until` (or forever); returns
    /// false when the client is closing.
    pub(crate) async fn idle(&mut self, until: Option<Instant>) -> bool {
        loop {
            let now = Instant::now();
            self.expire_parked(now);
            if self.closing.is_some() {
                return false;
            }
            if until.is_some_and(|t| t <= now) {
                return true;
            }
            let wake = self.parked.iter().map(|p| p.deadline).min();
            let wake = wake.into_iter().chain(until).min();
            let timer = async {
                sleep_until(wake).await;
                None
            };
            let cmd = if self.cmds_open {
                future::or(async { Some(self.cmds.recv().await) }, timer).await
            } else {
                timer.await
            };
            match cmd {
                Some(Ok(cmd)) => self.command_disconnected(cmd),
                Some(Err(_)) => self.all_handles_dropped(now),
                None => {}
            }
        }
    }

    fn command_disconnected(&mut self, cmd: Command) {
        match cmd {
            Command::Send { action, reply } => self.park(action, reply, None),
            Command::Close { deadline, done } => {
                self.closing = Some(deadline);
                self.close_waiters.push(done);
            }
        }
    }

    /// Every handle is gone: log off promptly and end.
    pub(crate) fn all_handles_dropped(&mut self, now: Instant) {
        self.cmds_open = false;
        self.closing.get_or_insert(now + Duration::from_secs(1));
    }

    /// Keeps an action for the next session, or fails it as disconnected.
    pub(crate) fn park(
        &mut self,
        action: Action,
        reply: Reply<Result<Completion, ClientError>>,
        deadline: Option<Instant>,
    ) {
        let max = self.config.proto.max_pending;
        if !self.config.resend_on_reconnect || self.closing.is_some() {
            reply.send(Err(ClientError::Disconnected));
        } else if self.parked.len() >= max {
            reply.send(Err(ClientError::Send(SendError::TooManyPending { max })));
        } else {
            let timeout = action.timeout().unwrap_or(self.config.proto.action_timeout);
            let deadline = deadline.unwrap_or_else(|| deadline::after(Instant::now(), timeout));
            self.parked.push_back(Parked {
                action,
                reply,
                deadline,
                timeout,
            });
        }
    }

    fn expire_parked(&mut self, now: Instant) {
        let closing = self.closing.is_some();
        let done = |p: &Parked| p.deadline <= now || closing;
        if !self.parked.iter().any(done) {
            return;
        }
        let (done, kept) = std::mem::take(&mut self.parked).into_iter().partition(done);
        self.parked = kept;
        for p in done {
            let err = match p.deadline <= now {
                true => ClientError::Action(ActionError::Timeout(p.timeout)),
                false => ClientError::Closed,
            };
            p.reply.send(Err(err));
        }
    }

    /// The end: fail what is left, end every stream, release `close`
    /// callers. Runs once; `Drop` runs it if nothing else did.
    fn finish(&mut self, last: ConnState) {
        if std::mem::replace(&mut self.finished, true) {
            return;
        }
        self.cmds.close();
        while let Ok(cmd) = self.cmds.try_recv() {
            match cmd {
                Command::Send { reply, .. } => {
                    reply.send(Err(ClientError::Closed));
                }
                Command::Close { done, .. } => self.close_waiters.push(done),
            }
        }
        // Sent and not completed: only after a panic or a dropped task
        // (a session that ends completes its actions itself).
        for (_, p) in self.pending.drain() {
            p.reply
                .send(Err(ClientError::Action(ActionError::ConnectionLost)));
        }
        self.closing.get_or_insert_with(Instant::now);
        self.expire_parked(Instant::now());
        if let Some(first) = self.first.take() {
            let _ = first.try_send(Err(ConnectError::Closed));
        }
        self.shared.close(last);
        for done in self.close_waiters.drain(..) {
            let _ = done.try_send(());
        }
        log!(info, self.shared, state = ?self.shared.state(), "client closed");
    }
}

impl Drop for Ctx {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        let why = "the client's task was dropped before it ended";
        log!(error, self.shared, "{why}: client closed");
        self.finish(ConnState::Closed(CloseReason::Internal(why.to_owned())));
    }
}

/// Sleeps until `at`, or forever for `None`.
pub(crate) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => {
            Timer::at(at).await;
        }
        None => future::pending::<()>().await,
    }
}

/// The client's TLS setup: the options and, once built, the rustls
/// configuration (built at the first attempt, again after a failed build).
#[cfg(feature = "tls")]
struct TlsPrep {
    options: ami_tls::TlsConfig,
    built: Option<Arc<ami_tls::rustls::ClientConfig>>,
}

#[cfg(feature = "tls")]
impl TlsPrep {
    async fn session(&mut self, addr: &str) -> Result<ami_tls::TlsSession, ConnectError> {
        let config = match &self.built {
            Some(c) => c.clone(),
            None => {
                // Reads the CA file or the system trust store: file I/O, so
                // on smol's blocking pool, never on the executor.
                let options = self.options.clone();
                let c = smol::unblock(move || options.client_config())
                    .await
                    .map_err(ConnectError::Tls)?;
                self.built.insert(c).clone()
            }
        };
        ami_tls::TlsSession::new(&self.options, config, ami_tls::host_of(addr))
            .map_err(ConnectError::Tls)
    }
}

#[cfg(not(feature = "tls"))]
struct TlsPrep;

/// DNS, TCP connect and the TLS handshake (if configured), bounded together
/// by `timeout`; refusal is immediate.
async fn connect_tcp(
    addr: &str,
    timeout: Duration,
    tls: Option<&mut TlsPrep>,
) -> Result<Transport, ConnectError> {
    let attempt = async {
        let mut last = None;
        for a in smol::net::resolve(addr)
            .await
            .map_err(ConnectError::Connect)?
        {
            match Async::<TcpStream>::connect(a).await {
                Ok(s) => {
                    let _ = s.get_ref().set_nodelay(true);
                    #[cfg(feature = "tls")]
                    if let Some(prep) = tls {
                        let session = prep.session(addr).await?;
                        return Transport::tls(s, session).await.map_err(ConnectError::Tls);
                    }
                    #[cfg(not(feature = "tls"))]
                    let _ = tls;
                    return Ok(Transport::plain(s));
                }
                Err(e) => last = Some(e),
            }
        }
        let none = || std::io::Error::new(std::io::ErrorKind::NotFound, "no address");
        Err(ConnectError::Connect(last.unwrap_or_else(none)))
    };
    let timer = async {
        Timer::after(timeout).await;
        Err(ConnectError::Timeout)
    };
    future::or(attempt, timer).await
}

/// Whether a plaintext secret sent on this connection would be exposed: no
/// TLS and a peer outside the loopback range (warned once per server).
pub(crate) fn plaintext_secret_exposed(
    plain_auth: bool,
    tls: bool,
    peer: Option<std::net::IpAddr>,
) -> bool {
    plain_auth && !tls && peer.is_some_and(|ip| !ip.is_loopback())
}

/// The client's task: runs the client until it ends, whatever ends it.
///
/// A panic anywhere in the task (the core, the driver, a tracing layer...)
/// is caught here: it is logged, the client closes with
/// [`CloseReason::Internal`], pending actions fail, every stream ends, and
/// the executor that runs the task never sees the panic. A task dropped
/// before its end (by a [`spawn_with`](crate::ClientBuilder::spawn_with)
/// executor) ends the client the same way, from `Ctx`'s `Drop`.
pub(crate) async fn supervise(
    config: ClientConfig,
    shared: Arc<Shared>,
    cmds: Receiver<Command>,
    first: Option<Sender<Result<(), ConnectError>>>,
) {
    let mut ctx = Ctx::new(config, shared, cmds, first);
    let last = match AssertUnwindSafe(run(&mut ctx)).catch_unwind().await {
        Ok(last) => last,
        Err(panic) => {
            let panic = crate::panic::message(&*panic);
            log!(error, ctx.shared, %panic, "the client's task panicked: client closed");
            ConnState::Closed(CloseReason::Internal(format!(
                "the client's task panicked: {panic}"
            )))
        }
    };
    ctx.finish(last);
}

/// Attempts, runs sessions, waits per the policy, again; returns the
/// client's last state once it must end.
async fn run(ctx: &mut Ctx) -> ConnState {
    let mut sessions = 0u64;
    #[cfg(feature = "tls")]
    let mut tls = ctx.config.tls.clone().map(|options| TlsPrep {
        options,
        built: None,
    });
    #[cfg(not(feature = "tls"))]
    let mut tls: Option<TlsPrep> = None;
    let fatal_first = ctx.first.is_some();
    let mut last = ConnState::Closed(CloseReason::Lost);
    loop {
        // Wait until the backoff and the breaker allow an attempt.
        loop {
            let now = Instant::now();
            if ctx.policy.may_attempt(now) {
                break;
            }
            // Never a busy wait, even if the policy answers `now`.
            let until = ctx
                .policy
                .next_allowed(now)
                .max(now + Duration::from_millis(1));
            if !ctx.idle(Some(until)).await {
                return last;
            }
        }
        let (addr, timeout) = (ctx.config.addr.clone(), ctx.config.connect_timeout);
        let tls = tls.as_mut();
        let connected = future::or(
            async { Some(connect_tcp(&addr, timeout, tls).await) },
            async {
                ctx.idle(None).await;
                None
            },
        )
        .await;
        let failure = match connected {
            None => return last,
            Some(Err(err)) => {
                log!(warn, ctx.shared, error = %err, "connect failed");
                ctx.shared.set_state(last.clone());
                if fatal_first && ctx.first.is_some() {
                    let _ = ctx.first.take().map(|f| f.try_send(Err(err)));
                    return last;
                }
                match err {
                    // A refused certificate will not fix itself: no retry storm.
                    #[cfg(feature = "tls")]
                    ConnectError::Tls(e) if e.is_verification_failure() => Failure::AuthFailed,
                    _ => Failure::Connect,
                }
            }
            Some(Ok(sock)) => {
                ctx.policy.on_connected();
                let plain = ctx.config.proto.auth == AuthMethod::Plain;
                if plaintext_secret_exposed(plain, sock.is_tls(), sock.peer_ip())
                    && !std::mem::replace(&mut ctx.warned_plaintext, true)
                {
                    log!(
                        warn,
                        ctx.shared,
                        addr = %ctx.config.addr,
                        "sending the AMI secret in clear text (AuthMethod::Plain) over an \
                         unencrypted connection to a non-loopback address: use TLS or MD5 login"
                    );
                }
                sessions += 1;
                let mut proto = ctx.config.proto.clone();
                proto.seed = ctx.config.proto.session_seed(sessions);
                let conn = match Connection::new(proto, Instant::now()) {
                    Ok(conn) => conn,
                    Err(err) => {
                        let _ = ctx
                            .first
                            .take()
                            .map(|f| f.try_send(Err(ConnectError::Config(err))));
                        return last;
                    }
                };
                let reason = driver::run_session(ctx, sock, conn).await;
                last = ConnState::Closed(reason.clone());
                if ctx.closing.is_some() || reason == CloseReason::LoggedOff {
                    return last;
                }
                if fatal_first && ctx.first.is_some() {
                    let err = match reason {
                        CloseReason::LoginFailed(e) => e,
                        _ => LoginError::ConnectionLost,
                    };
                    let _ = ctx
                        .first
                        .take()
                        .map(|f| f.try_send(Err(ConnectError::Login(err))));
                    return last;
                }
                reason.failure().unwrap_or(Failure::Lost)
            }
        };
        if !matches!(failure, Failure::Lost | Failure::Heartbeat) {
            ctx.shared.update_stats(|s| s.failed_attempts += 1);
        }
        if !ctx.config.reconnect {
            return last;
        }
        let at = ctx.policy.on_failure(Instant::now(), failure);
        let breaker = ctx.policy.breaker_state(Instant::now());
        ctx.shared.update_stats(|s| s.breaker = breaker);
        log!(
            info,
            ctx.shared,
            ?failure,
            retry_in_ms = at.saturating_duration_since(Instant::now()).as_millis() as u64,
            "session ended; reconnecting"
        );
    }
}

//! `Multiplexer`: one thread drives many AMI servers with one readiness
//! wait per tick (the dialer worker loop; PHP's `tickAll`).
//!
//! Each [`tick`](Multiplexer::tick):
//! 1. starts due connects (non-blocking, at most
//!    [`MuxConfig::connect_budget`] per tick);
//! 2. waits **once** for all sockets with `polling`, until the earliest of
//!    `max_wait`, any node's next deadline (the core's `poll_timeout`, a
//!    connect timeout, a reconnect time), or no wait at all when a node has
//!    work left from the previous tick;
//! 3. drives each node, round-robin, within per-node budgets (bytes read,
//!    frames parsed, events delivered) and within [`MuxConfig::max_tick`],
//!    so one noisy node cannot starve the others;
//! 4. returns a [`TickSummary`].
//!
//! Every configured node is driven from the first tick (PHP pitfall 1).
//! Reconnects use each node's [`ReconnectPolicy`] (backoff with jitter and
//! a circuit breaker; [`Multiplexer::set_reconnect_policy`] chooses it) and
//! a new `Connection`, so bytes queued for an old session are never sent on
//! a new one. Nothing here blocks but the wait.
//!
//! A node may keep a live model of its server
//! ([`Multiplexer::track_model`]), fed on the loop's thread as its outputs
//! are delivered.
//!
//! TLS nodes ([`Multiplexer::add_server_tls`]) run a rustls client
//! session on the same non-blocking socket: the handshake is driven by the
//! same readiness wait (`read_tls`/`process_new_packets`/`write_tls`),
//! bounded by [`MuxConfig::connect_timeout`] from the start of the TCP
//! connect, and a refused certificate backs off like refused credentials.

mod connect;
mod handle;
mod report;

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ami_proto::{
    instant_after, Action, ActionError, ActionId, ActionIdMap, CloseReason, Completion, Config,
    ConfigError, ConnState, Connection, Event, Failure, ReconnectPolicy, SendError, Stats,
};
use ami_state::{Limits, Model};
use polling::{Events, Poller};

use self::connect::{connect_nonblocking, connect_result};
pub use self::handle::CompletionHandle;
use self::handle::{answer_held, Handler, Sink, Sinks};
pub use self::report::{
    MuxEvents, NodeClose, NodeState, NodeStats, NodeWork, ShutdownReport, TickSummary,
};
use crate::model::Tracker;
use crate::session::{connection, flush, in_range, millis};
use crate::tls::{warn_plaintext_once, Pipe, Tls, TlsSetup};

/// Budgets and bounds of a [`Multiplexer`]. Start from
/// [`MuxConfig::default`] and adjust fields; [`Multiplexer::new`] checks
/// them ([`MuxConfig::validate`]), since a zero budget would stall every
/// node without a word.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct MuxConfig {
    /// Most bytes read from one node in one tick (default 64 KiB, the
    /// core's read budget; 512 B ..= 64 MiB). The rest waits in the kernel
    /// for the next tick.
    pub read_budget: usize,
    /// Most frames parsed for one node in one tick (default 1,024; 1 ..=
    /// 10,000,000); reading stops once reached. With 64 KiB and ~300-byte
    /// events the byte budget usually binds first.
    pub frame_budget: u64,
    /// Most events delivered from one node in one tick (default 1,024; 1
    /// ..= 10,000,000). Reading stops while undelivered events wait, so a
    /// node's backlog stays in the kernel, not in memory.
    pub event_budget: usize,
    /// Most TCP connects started in one tick (default 16; 1 ..= 100,000): a
    /// restart of 100 nodes does not stall one tick with 100 connects.
    pub connect_budget: usize,
    /// Time after which a tick stops driving further nodes (default 20 ms;
    /// 1 ms ..= 60 s); the rest go first in the next tick, which does not
    /// wait.
    pub max_tick: Duration,
    /// Time a TCP connect (and TLS handshake) may take (default 5 s; 1 ms
    /// ..= 1 h).
    pub connect_timeout: Duration,
    /// Capacity of the queue [`Multiplexer::events`] drains (default
    /// 65,536; 1 ..= 10,000,000), never exceeded. While it is full, events
    /// stay in each node's core queue, under that queue's bound and
    /// policy; but under [`QueuePolicy::Backpressure`](ami_proto::QueuePolicy)
    /// a node with an answer awaited (an action, the heartbeat's Ping, the
    /// Logoff) keeps reading and drops, counted, the events nobody can
    /// take, and a session that ends drops what does not fit (see
    /// [`Multiplexer::events`]).
    pub event_queue: usize,
}

impl MuxConfig {
    /// Checks every field against the range its doc states, as the core's
    /// [`Config::validate`] does: the first field out of range is the error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let size = |n: usize| u64::try_from(n).unwrap_or(u64::MAX);
        in_range("read_budget", size(self.read_budget), 512, 64 << 20)?;
        in_range("frame_budget", self.frame_budget, 1, 10_000_000)?;
        in_range("event_budget", size(self.event_budget), 1, 10_000_000)?;
        in_range("connect_budget", size(self.connect_budget), 1, 100_000)?;
        in_range("max_tick_ms", millis(self.max_tick), 1, 60_000)?;
        in_range(
            "connect_timeout_ms",
            millis(self.connect_timeout),
            1,
            3_600_000,
        )?;
        in_range("event_queue", size(self.event_queue), 1, 10_000_000)
    }
}

/// Why [`Multiplexer::new`] failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum MuxError {
    /// A [`MuxConfig`] field is out of range; fix it (nothing was created).
    Config(ConfigError),
    /// The operating system refused a poller (out of file descriptors?).
    Poller(io::Error),
}

impl fmt::Display for MuxError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MuxError::Config(e) => write!(f, "invalid multiplexer configuration: {e}"),
            MuxError::Poller(e) => write!(f, "cannot create a poller: {e}"),
        }
    }
}

impl std::error::Error for MuxError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MuxError::Config(e) => Some(e),
            MuxError::Poller(e) => Some(e),
        }
    }
}

impl Default for MuxConfig {
    fn default() -> Self {
        MuxConfig {
            read_budget: 64 << 10,
            frame_budget: 1024,
            event_budget: 1024,
            connect_budget: 16,
            max_tick: Duration::from_millis(20),
            connect_timeout: Duration::from_secs(5),
            event_queue: 65_536,
        }
    }
}

/// A server added to a [`Multiplexer`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId(usize);

impl NodeId {
    /// The node's index, in the order servers were added (0, 1, ...).
    pub fn index(self) -> usize {
        self.0
    }
}

/// Why [`Multiplexer::submit`] refused an action. Nothing was queued and
/// the callback was dropped without being called.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SubmitError {
    /// The id does not belong to this multiplexer.
    UnknownNode(NodeId),
    /// The node has no ready session (connecting, backing off, logging in
    /// or shut down); see [`Multiplexer::node_state`].
    NotReady(NodeId),
    /// The core refused the action (malformed, too many pending, write
    /// buffer full: the server is not reading).
    Refused(SendError),
}

impl fmt::Display for SubmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SubmitError::UnknownNode(n) => write!(f, "unknown node {}", n.0),
            SubmitError::NotReady(n) => write!(f, "node {} has no ready session", n.0),
            SubmitError::Refused(e) => write!(f, "action refused: {e}"),
        }
    }
}

impl std::error::Error for SubmitError {}

/// Why [`Multiplexer::add_server_tls`] refused a server.
#[cfg(feature = "tls")]
#[derive(Debug)]
#[non_exhaustive]
pub enum AddServerError {
    /// The AMI configuration is invalid.
    Config(ConfigError),
    /// The TLS configuration is unusable (CA file, server name).
    Tls(ami_tls::TlsError),
}

#[cfg(feature = "tls")]
impl fmt::Display for AddServerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AddServerError::Config(e) => write!(f, "invalid configuration: {e}"),
            AddServerError::Tls(e) => write!(f, "TLS: {e}"),
        }
    }
}

#[cfg(feature = "tls")]
impl std::error::Error for AddServerError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            AddServerError::Config(e) => Some(e),
            AddServerError::Tls(e) => Some(e),
        }
    }
}

enum Link {
    /// No socket; the next connect is not before `at`.
    Waiting {
        at: Instant,
    },
    Connecting {
        sock: TcpStream,
        deadline: Instant,
    },
    /// TCP connected, TLS handshake in progress (still `deadline`-bound).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    Handshaking {
        sock: TcpStream,
        tls: Box<Tls>,
        deadline: Instant,
        /// The handshake waits for readability (else writability).
        want_read: bool,
    },
    Session {
        sock: TcpStream,
        /// The TLS session over `sock`, for a TLS node.
        tls: Option<Box<Tls>>,
        /// Boxed: a `Connection` is far larger than the other variants.
        conn: Box<Connection>,
        /// Whether `on_ready` was reported for this session.
        ready_seen: bool,
    },
    Stopped,
}

struct Node {
    addr: SocketAddr,
    config: Config,
    policy: ReconnectPolicy,
    link: Link,
    pending: ActionIdMap<Sink>,
    handler: Option<Handler>,
    /// Readiness reported by the wait and not yet handled.
    readable: bool,
    writable: bool,
    /// Drive this node next tick even without readiness.
    dirty: bool,
    /// The interest the poller holds for the socket (`None`: none armed).
    armed: Option<(bool, bool)>,
    registered: bool,
    attempts: u64,
    sessions: u64,
    logins: u64,
    last_stats: Stats,
    /// The last session ended with `Goodbye` (for shutdown reports).
    logged_off: bool,
    /// How the last attempt or session ended.
    last_close: Option<NodeClose>,
    /// TLS options (`None`: plain TCP).
    tls: Option<TlsSetup>,
    /// The plaintext-secret warning was logged for this server.
    warned_plaintext: bool,
    /// The live model, once [`Multiplexer::track_model`] was called.
    model: Option<Tracker>,
    /// Why the last TLS handshake failed, if it did.
    #[cfg(feature = "tls")]
    tls_error: Option<ami_tls::TlsError>,
}

impl Node {
    /// Events waiting in the node's core queue (0 without a session).
    fn queue_depth(&self) -> usize {
        match &self.link {
            Link::Session { conn, .. } => conn.queue_depth(),
            _ => 0,
        }
    }
}

/// Many AMI servers on one thread: see the [module docs](self).
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use ami_blocking::{Multiplexer, MuxConfig};
/// use ami_proto::{Action, Config};
///
/// let mut mux = Multiplexer::new(MuxConfig::default())?;
/// let pbx = mux.add_server("127.0.0.1:5038".parse()?, Config::new("pbx1", "admin", "secret"))?;
/// let mut submitted = false;
/// loop {
///     let summary = mux.tick(Duration::from_millis(100));
///     if !submitted && mux.is_ready(pbx) {
///         mux.submit(pbx, Action::ping(), |result| println!("{result:?}"))?;
///         submitted = true;
///     }
///     for (node, event) in mux.events() {
///         println!("{}: {}", mux.name(node).unwrap_or("?"), event.name_str());
///     }
///     # if summary.progress { break; }
/// }
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Multiplexer {
    config: MuxConfig,
    poller: Poller,
    ready: Events,
    nodes: Vec<Node>,
    queue: VecDeque<(NodeId, Event)>,
    queue_high_water: usize,
    /// The most one read takes, read straight into a node's core.
    read_chunk: usize,
    /// Where the next tick starts driving nodes, and starting connects.
    cursor: usize,
    connect_cursor: usize,
    shutting_down: bool,
}

impl fmt::Debug for Multiplexer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Multiplexer")
            .field("nodes", &self.nodes.len())
            .field("queued_events", &self.queue.len())
            .field("shutting_down", &self.shutting_down)
            .finish_non_exhaustive()
    }
}

impl Multiplexer {
    /// An empty multiplexer. Fails when a field of `config` is out of range
    /// ([`MuxConfig::validate`]) or the OS refuses a poller.
    pub fn new(config: MuxConfig) -> Result<Multiplexer, MuxError> {
        config.validate().map_err(MuxError::Config)?;
        Ok(Multiplexer {
            poller: Poller::new().map_err(MuxError::Poller)?,
            ready: Events::new(),
            nodes: Vec::new(),
            queue: VecDeque::new(),
            queue_high_water: 0,
            read_chunk: config.read_budget.clamp(4 << 10, 64 << 10),
            cursor: 0,
            connect_cursor: 0,
            shutting_down: false,
            config,
        })
    }

    /// Adds a server at `addr` (resolve names before: DNS would block the
    /// loop). The next tick starts connecting to it; every added node is
    /// driven from then on. The config is validated here, not at connect.
    ///
    /// The server's name is `config.server`: what [`name`](Self::name)
    /// returns and what every log event of the node carries.
    pub fn add_server(&mut self, addr: SocketAddr, config: Config) -> Result<NodeId, ConfigError> {
        self.add_node(addr, config, None)
    }

    /// Like [`add_server`](Self::add_server), over TLS. The address is
    /// already resolved, so set [`TlsConfig::server_name`](ami_tls::TlsConfig::server_name)
    /// to the host name the certificate is for; without it the IP address
    /// is sent and checked. The CA (or system store) is read here, so a bad
    /// one fails now. A refused certificate is kept for
    /// [`last_tls_error`](Self::last_tls_error) and waits like a refused login.
    #[cfg(feature = "tls")]
    pub fn add_server_tls(
        &mut self,
        addr: SocketAddr,
        config: Config,
        tls: ami_tls::TlsConfig,
    ) -> Result<NodeId, AddServerError> {
        config.validate().map_err(AddServerError::Config)?;
        let setup = TlsSetup::new(tls, &addr.ip().to_string(), &config.server)
            .map_err(AddServerError::Tls)?;
        self.add_node(addr, config, Some(setup))
            .map_err(AddServerError::Config)
    }

    /// Why the node's last TLS handshake failed (cleared by a successful
    /// one); `None` for an unknown node or no failure.
    #[cfg(feature = "tls")]
    pub fn last_tls_error(&self, node: NodeId) -> Option<&ami_tls::TlsError> {
        self.nodes.get(node.0)?.tls_error.as_ref()
    }

    fn add_node(
        &mut self,
        addr: SocketAddr,
        config: Config,
        tls: Option<TlsSetup>,
    ) -> Result<NodeId, ConfigError> {
        config.validate()?;
        let id = NodeId(self.nodes.len());
        let policy = ReconnectPolicy::with_seed(config.session_seed(u64::MAX - id.0 as u64));
        self.nodes.push(Node {
            addr,
            config,
            policy,
            link: Link::Waiting { at: Instant::now() },
            pending: ActionIdMap::default(),
            handler: None,
            readable: false,
            writable: false,
            dirty: false,
            armed: None,
            registered: false,
            attempts: 0,
            sessions: 0,
            logins: 0,
            last_stats: Stats::default(),
            logged_off: false,
            last_close: None,
            tls,
            warned_plaintext: false,
            model: None,
            #[cfg(feature = "tls")]
            tls_error: None,
        });
        Ok(id)
    }

    /// Paces `node`'s reconnects with `policy` instead of the default
    /// ([`ReconnectPolicy::with_seed`], seeded per node: back within about
    /// 2 s of a server that was away up to 10 s, healthy after 10 s up), as
    /// the async adapters' `reconnect_policy` option does. Set it right
    /// after adding the node: it starts fresh, and a wait already under way
    /// keeps its end. Give each node its own seed, or nodes retry in step.
    ///
    /// Fails when a value is out of range ([`ReconnectPolicy::validate`]),
    /// keeping the node's policy; `Ok(false)` for an unknown node.
    pub fn set_reconnect_policy(
        &mut self,
        node: NodeId,
        policy: ReconnectPolicy,
    ) -> Result<bool, ConfigError> {
        policy.validate()?;
        let Some(n) = self.nodes.get_mut(node.0) else {
            return Ok(false);
        };
        n.policy = policy;
        Ok(true)
    }

    /// Keeps a live model of `node`'s server from now on, bounded by
    /// `limits`, as [`Client::track_model`](crate::Client::track_model)
    /// does: each session of the node (the one up now, at the next tick)
    /// sends the five lists a resynchronisation needs
    /// ([`Model::resync_lists`]) without waiting for them, and the model
    /// applies their results, every event the node delivers (to its
    /// handler or to [`events`](Self::events)), each Originate submitted to
    /// it and the completions.
    ///
    /// The model is as current as the events delivered: drain
    /// [`events`](Self::events) (while the queue is full, events wait in
    /// the node's core, and so does the model). Should the node's session
    /// drop events, it lists again. While a list's window is open
    /// ([`Model::is_resyncing`]) the picture is being rebuilt. Calling it
    /// again replaces the model. Returns false for an unknown node.
    pub fn track_model(&mut self, node: NodeId, limits: Limits) -> bool {
        let Some(n) = self.nodes.get_mut(node.0) else {
            return false;
        };
        n.model = Some(Tracker::new(limits));
        n.dirty = true;
        true
    }

    /// The node's live model, once [`track_model`](Self::track_model) was
    /// called for it.
    pub fn model(&self, node: NodeId) -> Option<&Model> {
        Some(&self.nodes.get(node.0)?.model.as_ref()?.model)
    }

    /// The node's live model, to drain its changes ([`Model::poll_change`])
    /// or remove finished calls.
    pub fn model_mut(&mut self, node: NodeId) -> Option<&mut Model> {
        Some(&mut self.nodes.get_mut(node.0)?.model.as_mut()?.model)
    }

    /// Delivers `node`'s events to `handler`, called inside
    /// [`tick`](Self::tick), instead of to [`events`](Self::events).
    /// Returns false for an unknown node.
    pub fn on_event(&mut self, node: NodeId, handler: impl FnMut(Event) + Send + 'static) -> bool {
        match self.nodes.get_mut(node.0) {
            Some(n) => {
                n.handler = Some(Box::new(handler));
                true
            }
            None => false,
        }
    }

    /// Sends `action` to `node`; `callback` runs inside a later
    /// [`tick`](Self::tick) with the outcome, exactly once, unless this
    /// returns an error (then it is dropped uncalled).
    ///
    /// The bytes are written at once when the socket takes them. Only a
    /// ready session takes actions: check [`is_ready`](Self::is_ready).
    pub fn submit<F>(
        &mut self,
        node: NodeId,
        action: Action,
        callback: F,
    ) -> Result<ActionId, SubmitError>
    where
        F: FnOnce(Result<Completion, ActionError>) + Send + 'static,
    {
        self.submit_to(node, action, Sink::Callback(Box::new(callback)))
    }

    /// Like [`submit`](Self::submit), with a handle to poll instead of a
    /// callback.
    pub fn submit_handle(
        &mut self,
        node: NodeId,
        action: Action,
    ) -> Result<CompletionHandle, SubmitError> {
        let handle = CompletionHandle {
            slot: Arc::default(),
        };
        self.submit_to(node, action, Sink::Handle(handle.clone()))?;
        Ok(handle)
    }

    /// Cancels a submitted action: it completes with
    /// [`ActionError::Cancelled`] in the next tick. Returns whether it was
    /// pending.
    pub fn cancel(&mut self, node: NodeId, id: &ActionId) -> bool {
        let Some(n) = self.nodes.get_mut(node.0) else {
            return false;
        };
        let Link::Session { conn, .. } = &mut n.link else {
            return false;
        };
        let cancelled = conn.cancel(id, Instant::now());
        n.dirty |= cancelled;
        cancelled
    }

    /// Takes every event delivered so far by nodes without a handler,
    /// oldest first. They are the caller's from then on, so the loop over
    /// them may use the multiplexer (ask a node's [`name`](Self::name),
    /// [`submit`](Self::submit) an action); dropping the iterator before its
    /// end drops the rest. To take fewer, use
    /// [`next_event`](Self::next_event).
    ///
    /// Drain it after each tick: while the queue is full
    /// ([`MuxConfig::event_queue`]), events wait in the cores, under their
    /// bound and policy. Completions and state changes never wait for it.
    /// Events are dropped, each counted in the node's
    /// [`Stats::events_dropped_full`] (see [`stats`](Self::stats)), where
    /// waiting is not possible:
    /// - under [`QueuePolicy::Backpressure`](ami_proto::QueuePolicy), while
    ///   the node has an answer awaited and its core is full too: the
    ///   core's oldest events make room, so that the answer is read;
    /// - when a session ends with events in its core that do not fit:
    ///   drop-oldest keeps the newest of them, the other policies the
    ///   oldest. A node's events never push out another node's.
    ///
    /// ```no_run
    /// # let mut mux: ami_blocking::Multiplexer = todo!();
    /// mux.tick(std::time::Duration::from_millis(100));
    /// for (node, event) in mux.events() {
    ///     println!("{}: {}", mux.name(node).unwrap_or("?"), event.name_str());
    /// }
    /// ```
    pub fn events(&mut self) -> MuxEvents {
        // The next batch is likely as large as this one: one allocation.
        let fresh = VecDeque::with_capacity(self.queue.len());
        MuxEvents(std::mem::replace(&mut self.queue, fresh).into_iter())
    }

    /// Takes the oldest event delivered by a node without a handler; the
    /// others stay queued.
    pub fn next_event(&mut self) -> Option<(NodeId, Event)> {
        self.queue.pop_front()
    }

    /// Events waiting to be taken ([`events`](Self::events)).
    pub fn queued_events(&self) -> usize {
        self.queue.len()
    }

    /// The most events the queue has held at once: at most
    /// [`MuxConfig::event_queue`].
    pub fn queue_high_water(&self) -> usize {
        self.queue_high_water
    }

    /// The node's state, or `None` for an unknown node.
    pub fn node_state(&self, node: NodeId) -> Option<NodeState> {
        let n = self.nodes.get(node.0)?;
        Some(match &n.link {
            Link::Waiting { at } => NodeState::Backoff { retry_at: *at },
            // The TLS handshake counts as connecting.
            Link::Connecting { .. } | Link::Handshaking { .. } => NodeState::Connecting,
            Link::Session { conn, .. } => NodeState::Session(conn.state().clone()),
            Link::Stopped => NodeState::Stopped,
        })
    }

    /// Whether the node's session takes actions (ready or degraded).
    pub fn is_ready(&self, node: NodeId) -> bool {
        matches!(
            self.nodes.get(node.0).map(|n| &n.link),
            Some(Link::Session { conn, .. }) if conn.is_ready()
        )
    }

    /// The node's counters, or `None` for an unknown node.
    pub fn stats(&self, node: NodeId) -> Option<NodeStats> {
        let n = self.nodes.get(node.0)?;
        let session = match &n.link {
            Link::Session { conn, .. } => conn.stats(),
            _ => n.last_stats,
        };
        Some(NodeStats {
            session,
            connect_attempts: n.attempts,
            sessions: n.sessions,
            logins: n.logins,
            failures: n.policy.failures(),
            breaker: n.policy.breaker_state(Instant::now()),
            pending: n.pending.len(),
        })
    }

    /// The node's server name (its `Config::server`), or `None` for an
    /// unknown node.
    pub fn name(&self, node: NodeId) -> Option<&str> {
        self.nodes.get(node.0).map(|n| n.config.server.as_str())
    }

    /// How the node's last attempt or session ended: a failed connect or
    /// TLS handshake, a refused login, a session lost, timed out by the
    /// heartbeat or logged off. `None` for an unknown node and until
    /// something ended; a session up now does not clear it (it says why
    /// the one before ended).
    pub fn last_close_reason(&self, node: NodeId) -> Option<&NodeClose> {
        self.nodes.get(node.0)?.last_close.as_ref()
    }

    /// The nodes, in the order they were added.
    pub fn nodes(&self) -> impl Iterator<Item = NodeId> + '_ {
        (0..self.nodes.len()).map(NodeId)
    }

    /// Whether [`shutdown`](Self::shutdown) was called: no node reconnects.
    pub fn is_shut_down(&self) -> bool {
        self.shutting_down
    }

    /// One turn of the loop: start due connects, wait once (at most
    /// `max_wait`) for any socket or deadline, drive the nodes, report.
    ///
    /// Blocks at most `max_wait` plus the bounded work of one tick
    /// ([`MuxConfig::max_tick`] and the budgets); does not wait when work was
    /// left from the last tick. After [`shutdown`](Self::shutdown) a tick
    /// only waits `max_wait`: stop ticking once [`is_shut_down`](Self::is_shut_down).
    pub fn tick(&mut self, max_wait: Duration) -> TickSummary {
        let start = Instant::now();
        let mut summary = TickSummary {
            connects_started: self.start_connects(start),
            ..TickSummary::default()
        };
        self.arm_all();
        let timeout = match self.next_wake(start) {
            Some(at) => at.saturating_duration_since(start).min(max_wait),
            None => max_wait,
        };
        self.ready.clear();
        let waited = Instant::now();
        if let Err(e) = self.poller.wait(&mut self.ready, Some(timeout)) {
            log!(warn, server = "-", error = %e, "readiness wait failed");
        }
        summary.waited = waited.elapsed();
        for ev in self.ready.iter() {
            if let Some(node) = self.nodes.get_mut(ev.key) {
                node.readable |= ev.readable;
                node.writable |= ev.writable;
                // Oneshot: the interest is spent until re-armed.
                node.armed = None;
            }
        }
        let count = self.nodes.len();
        let driving = Instant::now();
        let mut driven = 0;
        while driven < count {
            let idx = (self.cursor + driven) % count;
            if driven > 0 && driving.elapsed() > self.config.max_tick {
                summary.deferred = true;
                break;
            }
            let work = self.drive(idx);
            if work.did_work() {
                summary.nodes.push(work);
            }
            driven += 1;
        }
        // The next tick starts where this one stopped, or one node further
        // when all were driven, so no node is always first.
        if count > 0 {
            let step = if summary.deferred { driven } else { 1 };
            self.cursor = (self.cursor + step) % count;
        }
        let now = Instant::now();
        summary.next_deadline = self.next_wake(now);
        summary.progress = summary.connects_started > 0 || !summary.nodes.is_empty();
        summary.elapsed = start.elapsed();
        summary
    }

    /// Logs off every ready node, drains until each session closes or
    /// `deadline` passes, then closes what is left. From then on no node
    /// reconnects and `submit` refuses; pending actions complete (with
    /// `ConnectionLost` if their answer did not come).
    pub fn shutdown(&mut self, deadline: Instant) -> ShutdownReport {
        self.shutting_down = true;
        let now = Instant::now();
        let mut report = ShutdownReport::default();
        let mut had_session = vec![false; self.nodes.len()];
        for (idx, had) in had_session.iter_mut().enumerate() {
            let node = &mut self.nodes[idx];
            node.dirty = true;
            node.logged_off = false;
            *had = matches!(node.link, Link::Session { .. });
            match &mut node.link {
                Link::Session { conn, .. } if conn.is_ready() => {
                    if conn.logoff(now).is_err() {
                        conn.handle_closed(now);
                    }
                }
                Link::Session { conn, .. } => {
                    if !matches!(conn.state(), ConnState::LoggingOff) {
                        conn.handle_closed(now);
                    }
                }
                Link::Connecting { .. } | Link::Handshaking { .. } | Link::Waiting { .. } => {
                    self.drop_socket(idx);
                    self.nodes[idx].link = Link::Stopped;
                }
                Link::Stopped => {}
            }
        }
        while !self.all_stopped() {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            self.tick((deadline - now).min(Duration::from_millis(50)));
        }
        for (idx, &had) in had_session.iter().enumerate() {
            // Still open at the deadline: closed now, `LoggedOff` only if
            // `Goodbye` came.
            if let Link::Session { conn, .. } = &mut self.nodes[idx].link {
                conn.handle_closed(Instant::now());
                self.drive_session(idx, Instant::now(), &mut NodeWork::new(NodeId(idx)));
            }
            match (had, self.nodes[idx].logged_off) {
                (false, _) => report.idle += 1,
                (true, true) => report.logged_off += 1,
                (true, false) => report.forced += 1,
            }
        }
        report
    }

    // ---- internals ----

    fn all_stopped(&self) -> bool {
        self.nodes.iter().all(|n| matches!(n.link, Link::Stopped))
    }

    fn submit_to(
        &mut self,
        node: NodeId,
        action: Action,
        sink: Sink,
    ) -> Result<ActionId, SubmitError> {
        let n = self
            .nodes
            .get_mut(node.0)
            .ok_or(SubmitError::UnknownNode(node))?;
        let Link::Session {
            sock, tls, conn, ..
        } = &mut n.link
        else {
            return Err(SubmitError::NotReady(node));
        };
        if self.shutting_down || !conn.is_ready() {
            return Err(SubmitError::NotReady(node));
        }
        let now = Instant::now();
        let followed = n.model.is_some() && Model::follows(&action);
        let followed = followed.then(|| action.clone());
        let id = conn.send(action, now).map_err(SubmitError::Refused)?;
        if let (Some(model), Some(action)) = (&mut n.model, followed) {
            model.sent(&id, &action);
        }
        n.pending.insert(id.clone(), sink);
        // Write now: an action for a quiet node should not wait for a tick.
        let mut pipe = Pipe {
            sock,
            tls: tls.as_deref_mut(),
        };
        if let (_, Err(e)) = flush(conn, &mut pipe) {
            log!(debug, conn, id, error = %e, "write failed");
            conn.handle_closed(now);
            n.dirty = true;
        }
        Ok(id)
    }

    /// Starts connects for due nodes, round-robin, within the budget.
    fn start_connects(&mut self, now: Instant) -> usize {
        if self.shutting_down {
            return 0;
        }
        let count = self.nodes.len();
        let first = self.connect_cursor;
        let mut started = 0;
        for i in 0..count {
            if started >= self.config.connect_budget {
                break;
            }
            let idx = (first + i) % count;
            let node = &mut self.nodes[idx];
            let Link::Waiting { at } = node.link else {
                continue;
            };
            if at > now {
                continue;
            }
            if !node.policy.may_attempt(now) {
                // The breaker refuses: wait for its reopening.
                node.link = Link::Waiting {
                    at: node.policy.next_allowed(now),
                };
                continue;
            }
            started += 1;
            node.attempts += 1;
            match connect_nonblocking(node.addr) {
                Ok((sock, done)) => {
                    node.writable = done;
                    node.link = Link::Connecting {
                        sock,
                        deadline: instant_after(now, self.config.connect_timeout),
                    };
                    self.register(idx);
                }
                Err(e) => {
                    log!(debug, server = node.config.server, error = %e, "connect failed");
                    self.connect_failed(idx, now, e.kind());
                }
            }
            // The next tick's connects start after the last one started.
            self.connect_cursor = (idx + 1) % count;
        }
        started
    }

    /// When the next tick has work: `Some(now)` for work left over.
    fn next_wake(&mut self, now: Instant) -> Option<Instant> {
        let queue_full = self.queue.len() >= self.config.event_queue;
        let mut next: Option<Instant> = None;
        let mut soonest = |at: Instant| next = Some(next.map_or(at, |n: Instant| n.min(at)));
        for node in &mut self.nodes {
            if node.readable || node.writable || node.dirty {
                return Some(now);
            }
            match &mut node.link {
                Link::Waiting { at } if !self.shutting_down => soonest(*at),
                Link::Connecting { deadline, .. } | Link::Handshaking { deadline, .. } => {
                    soonest(*deadline)
                }
                Link::Session { conn, .. } => {
                    let can_deliver = node.handler.is_some() || !queue_full;
                    if (can_deliver && conn.queue_depth() > 0) || answer_held(conn) {
                        return Some(now);
                    }
                    if let Some(at) = conn.poll_timeout() {
                        soonest(at);
                    }
                }
                _ => {}
            }
        }
        next.map(|at| at.max(now))
    }

    /// Brings the poller's interest in line with what each node wants.
    fn arm_all(&mut self) {
        for idx in 0..self.nodes.len() {
            let node = &mut self.nodes[idx];
            let want = match &node.link {
                Link::Connecting { .. } => (false, true),
                Link::Handshaking { want_read, .. } => (*want_read, !*want_read),
                Link::Session { conn, tls, .. } => (
                    conn.wants_read(),
                    conn.wants_write() || tls.as_ref().is_some_and(|t| t.wants_write()),
                ),
                _ => continue,
            };
            if !node.registered || node.armed == Some(want) {
                continue;
            }
            let sock = match &node.link {
                Link::Connecting { sock, .. }
                | Link::Handshaking { sock, .. }
                | Link::Session { sock, .. } => sock,
                _ => continue,
            };
            let interest = polling::Event::new(idx, want.0, want.1);
            match self.poller.modify(sock, interest) {
                Ok(()) => node.armed = Some(want),
                Err(e) => {
                    let depth = node.queue_depth();
                    let server = &node.config.server;
                    log!(warn, server = server, queue_depth = depth, error = %e,
                        "poller modify failed");
                    node.dirty = true;
                }
            }
        }
    }

    #[allow(unsafe_code)]
    fn register(&mut self, idx: usize) {
        let node = &mut self.nodes[idx];
        let Link::Connecting { sock, .. } = &node.link else {
            return;
        };
        // SAFETY: `polling` requires the socket to be deleted from the
        // poller before it is dropped. Sockets live only in
        // `Link::Connecting` / `Link::Session`, and every path that ends
        // those links goes through `drop_socket`, which deletes first; the
        // `Drop` of `Multiplexer` does the same for the sockets left.
        let added = unsafe { self.poller.add(sock, polling::Event::writable(idx)) };
        match added {
            Ok(()) => {
                node.registered = true;
                node.armed = Some((false, true));
            }
            Err(e) => {
                log!(warn, server = node.config.server, error = %e, "poller add failed");
                self.connect_failed(idx, Instant::now(), e.kind());
            }
        }
    }

    /// Deletes the node's socket from the poller; the caller then replaces
    /// the link, which drops the socket.
    fn drop_socket(&mut self, idx: usize) {
        let node = &mut self.nodes[idx];
        if let Link::Connecting { sock, .. }
        | Link::Handshaking { sock, .. }
        | Link::Session { sock, .. } = &node.link
        {
            if node.registered {
                if let Err(e) = self.poller.delete(sock) {
                    let depth = node.queue_depth();
                    let server = &node.config.server;
                    log!(warn, server = server, queue_depth = depth, error = %e,
                        "poller delete failed");
                }
            }
        }
        node.registered = false;
        node.armed = None;
        node.readable = false;
        node.writable = false;
    }

    /// Drives one node for this tick.
    fn drive(&mut self, idx: usize) -> NodeWork {
        let mut work = NodeWork::new(NodeId(idx));
        let now = Instant::now();
        let node = &mut self.nodes[idx];
        node.dirty = false;
        if let Link::Connecting { sock, deadline } = &node.link {
            let ready = std::mem::take(&mut node.readable) | std::mem::take(&mut node.writable);
            let result = if ready { connect_result(sock) } else { None };
            let error = match result {
                Some(Ok(())) => None,
                Some(Err(e)) => Some(e),
                None if now >= *deadline => Some(io::ErrorKind::TimedOut.into()),
                None => return work,
            };
            work.changed = true;
            if let Some(e) = error {
                log!(debug, server = node.config.server, error = %e, "connect failed");
                self.connect_failed(idx, now, e.kind());
                return work;
            }
            if !self.start_handshake(idx) {
                return work;
            }
        }
        if matches!(self.nodes[idx].link, Link::Handshaking { .. }) && !self.handshake(idx, now) {
            return work;
        }
        if matches!(self.nodes[idx].link, Link::Connecting { .. }) {
            self.open_session(idx, now);
        }
        self.drive_session(idx, now, &mut work);
        work
    }

    /// The TCP connect completed: for a TLS node, start the handshake
    /// (returns true); for a plain one, nothing to do (true as well).
    fn start_handshake(&mut self, idx: usize) -> bool {
        let node = &mut self.nodes[idx];
        let Some(setup) = &node.tls else {
            return true;
        };
        #[cfg(feature = "tls")]
        match setup.session() {
            Ok(tls) => {
                let Link::Connecting { sock, deadline } =
                    std::mem::replace(&mut node.link, Link::Stopped)
                else {
                    unreachable!("start_handshake is called on a connecting node")
                };
                node.link = Link::Handshaking {
                    sock,
                    tls: Box::new(tls),
                    deadline,
                    want_read: false,
                };
                true
            }
            Err(e) => {
                self.tls_failed(idx, Instant::now(), e);
                false
            }
        }
        #[cfg(not(feature = "tls"))]
        match *setup {}
    }

    /// Advances the TLS handshake; true once done (the link is then
    /// `Connecting`-like for [`open_session`](Self::open_session) to take).
    fn handshake(&mut self, idx: usize, now: Instant) -> bool {
        let node = &mut self.nodes[idx];
        let Link::Handshaking {
            sock,
            tls,
            deadline,
            want_read,
        } = &mut node.link
        else {
            return false;
        };
        node.readable = false;
        node.writable = false;
        #[cfg(feature = "tls")]
        {
            use ami_tls::Handshake;
            match tls.handshake(&mut &*sock) {
                Ok(Handshake::Done) => {
                    node.tls_error = None;
                    let Link::Handshaking { sock, tls, .. } =
                        std::mem::replace(&mut node.link, Link::Stopped)
                    else {
                        unreachable!("matched above")
                    };
                    self.open_session_with(idx, now, sock, Some(tls));
                    return true;
                }
                Ok(step) if now >= *deadline => {
                    let _ = step;
                    let e = io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out");
                    self.tls_failed(idx, now, ami_tls::TlsError::Io(e));
                }
                Ok(step) => {
                    *want_read = step == Handshake::WantRead;
                }
                Err(e) => self.tls_failed(idx, now, e),
            }
            false
        }
        #[cfg(not(feature = "tls"))]
        {
            let _ = (sock, deadline, want_read, now);
            match **tls {}
        }
    }

    /// A TLS setup or handshake failed: drop the socket, keep the error,
    /// back off (like refused credentials when the certificate was refused).
    #[cfg(feature = "tls")]
    fn tls_failed(&mut self, idx: usize, now: Instant, e: ami_tls::TlsError) {
        self.drop_socket(idx);
        let node = &mut self.nodes[idx];
        log!(warn, server = node.config.server, error = %e, "TLS failed");
        let failure = match e.is_verification_failure() {
            true => Failure::AuthFailed,
            false => Failure::Connect,
        };
        node.tls_error = Some(e);
        node.last_close = Some(NodeClose::Tls);
        node.link = if self.shutting_down {
            Link::Stopped
        } else {
            Link::Waiting {
                at: node.policy.on_failure(now, failure),
            }
        };
    }

    /// The TCP connect completed: a new `Connection`, a new session epoch.
    fn open_session(&mut self, idx: usize, now: Instant) {
        let node = &mut self.nodes[idx];
        let Link::Connecting { sock, .. } = std::mem::replace(&mut node.link, Link::Stopped) else {
            unreachable!("open_session is called on a connecting node")
        };
        self.open_session_with(idx, now, sock, None);
    }

    /// The transport is up (TCP, and TLS if any): start the session.
    fn open_session_with(
        &mut self,
        idx: usize,
        now: Instant,
        sock: TcpStream,
        tls: Option<Box<Tls>>,
    ) {
        let node = &mut self.nodes[idx];
        node.link = Link::Connecting {
            sock,
            deadline: now,
        };
        let Link::Connecting { sock, .. } = &node.link else {
            unreachable!("just set")
        };
        warn_plaintext_once(
            &mut node.warned_plaintext,
            &node.config,
            tls.is_some(),
            sock,
        );
        node.policy.on_connected();
        node.sessions += 1;
        if let Some(model) = &mut node.model {
            model.new_session();
        }
        let conn = match connection(&node.config, node.sessions, now) {
            Ok(conn) => conn,
            Err(e) => {
                // Validated in `add_server`: cannot happen.
                log!(error, server = node.config.server, error = %e, "invalid config");
                self.drop_socket(idx);
                self.nodes[idx].link = Link::Stopped;
                return;
            }
        };
        let Link::Connecting { sock, .. } = std::mem::replace(&mut node.link, Link::Stopped) else {
            unreachable!("set above")
        };
        node.link = Link::Session {
            sock,
            tls,
            conn: Box::new(conn),
            ready_seen: false,
        };
        // The banner may already be there.
        node.readable = true;
    }

    /// A connect failed (or could not start): drop the socket, back off.
    fn connect_failed(&mut self, idx: usize, now: Instant, kind: io::ErrorKind) {
        self.drop_socket(idx);
        let node = &mut self.nodes[idx];
        node.last_close = Some(NodeClose::Connect(kind));
        node.link = if self.shutting_down {
            Link::Stopped
        } else {
            Link::Waiting {
                at: node.policy.on_failure(now, Failure::Connect),
            }
        };
    }

    fn drive_session(&mut self, idx: usize, now: Instant, work: &mut NodeWork) {
        let node = &mut self.nodes[idx];
        let Link::Session {
            sock,
            tls,
            conn,
            ready_seen,
        } = &mut node.link
        else {
            return;
        };
        let mut pipe = Pipe {
            sock,
            tls: tls.as_deref_mut(),
        };
        let mut sinks = Sinks {
            pending: &mut node.pending,
            handler: &mut node.handler,
            model: &mut node.model,
            queue: &mut self.queue,
            high_water: &mut self.queue_high_water,
            node: NodeId(idx),
            queue_cap: self.config.event_queue,
            event_budget: self.config.event_budget,
        };
        // 1. Read within the budgets, delivering as we go.
        if std::mem::take(&mut node.readable) {
            let frames_before = conn.stats().frames;
            let budget = self.config.read_budget;
            loop {
                if work.bytes_read >= budget || !conn.wants_read() {
                    break;
                }
                if conn.stats().frames - frames_before >= self.config.frame_budget {
                    break;
                }
                if work.events >= sinks.event_budget && conn.queue_depth() > 0 {
                    break;
                }
                let want = self.read_chunk.min(budget - work.bytes_read);
                match pipe.read_into(conn, want) {
                    Ok((0, _)) => {
                        conn.handle_closed(Instant::now());
                        break;
                    }
                    Ok((n, lent)) => {
                        work.bytes_read += n;
                        sinks.deliver(conn, work);
                        if n < lent {
                            break;
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => {
                        log!(debug, conn, "-", error = %e, "read failed");
                        conn.handle_closed(Instant::now());
                        break;
                    }
                }
            }
            // TLS may hold decrypted bytes past the budget: no socket
            // readiness will announce them, so read again next tick.
            if conn.wants_read() && pipe.buffered() {
                node.readable = true;
            }
        }
        // 2. Deadlines: heartbeat, login, action timeouts.
        if conn.poll_timeout().is_some_and(|at| at <= now) {
            conn.handle_timeout(now);
        }
        // 3. Deliver (completions first, events within the budget).
        sinks.deliver(conn, work);
        // The live model lists on a new session, or after events were lost.
        if let Some(model) = sinks.model.as_mut().filter(|m| m.wants_lists()) {
            if conn.is_ready() && !self.shutting_down {
                model.send_lists(conn, now);
            }
        }
        // 4. Write what the core has; a full socket keeps the rest there.
        node.writable = false;
        if conn.wants_write() || pipe.tls.as_ref().is_some_and(|t| t.wants_write()) {
            let (n, result) = flush(conn, &mut pipe);
            // TLS: push out ciphertext queued by this or an earlier write.
            let result = result.and_then(|f| pipe.pending().map(|_| f));
            work.bytes_written += n;
            if let Err(e) = result {
                log!(debug, conn, "-", error = %e, "write failed");
                conn.handle_closed(Instant::now());
            }
        }
        if !*ready_seen && conn.is_ready() {
            *ready_seen = true;
            node.policy.on_ready(now);
            node.logins += 1;
            work.changed = true;
        }
        if conn.is_closed() {
            // What the core still holds (bounded by its queue) goes now,
            // beyond the budget: delivered as far as the queue has room,
            // the rest dropped and counted.
            sinks.event_budget = usize::MAX;
            sinks.deliver(conn, work);
            self.close_session(idx, work);
        }
    }

    /// Tears down a closed session whose outputs were delivered: drops the
    /// socket, schedules the reconnect (or stops, when shutting down).
    fn close_session(&mut self, idx: usize, work: &mut NodeWork) {
        let node = &mut self.nodes[idx];
        let Link::Session { conn, .. } = &node.link else {
            return;
        };
        let reason = match conn.state() {
            ConnState::Closed(reason) => reason.clone(),
            _ => CloseReason::Lost,
        };
        node.last_stats = conn.stats();
        // Every live action completed at close; anything else is a bug.
        for (id, sink) in node.pending.drain() {
            log!(error, conn, id, "action left without completion");
            sink.complete(Err(ActionError::ConnectionLost));
            work.completions += 1;
        }
        node.logged_off = reason == CloseReason::LoggedOff;
        log!(info, conn, "-", ?reason, "session ended");
        node.last_close = Some(NodeClose::Session(reason.clone()));
        if let Link::Session {
            sock,
            tls: Some(tls),
            ..
        } = &mut node.link
        {
            // Best effort, non-blocking.
            tls.close(&mut &*sock);
        }
        self.drop_socket(idx);
        let node = &mut self.nodes[idx];
        let now = Instant::now();
        node.link = if self.shutting_down {
            Link::Stopped
        } else {
            let failure = reason.failure().unwrap_or(Failure::Lost);
            Link::Waiting {
                at: node.policy.on_failure(now, failure),
            }
        };
        work.changed = true;
    }
}

impl Drop for Multiplexer {
    fn drop(&mut self) {
        for idx in 0..self.nodes.len() {
            self.drop_socket(idx);
        }
    }
}
